package diagnose

import (
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/internal/packettime"
)

// Credential is a TURN long-term credential (RFC 8489 §9.2) given for
// offline integrity checks. It is never printed.
type Credential struct {
	Username string
	Password string
}

// Options configure an Engine, and the one Analyze or StreamSource makes.
// The zero Options are ready to use: no credentials, default limits.
type Options struct {
	// Credentials are the passwords clients are expected to use: each
	// authenticated TURN request of a user listed here is checked against
	// them offline, and Transaction.Integrity says whether the client
	// used the expected password (the CLI's --turn-credentials). Never
	// printed.
	Credentials []Credential
	// ICEPasswords are ice-pwd values (the CLI's --ice-password) to verify
	// ICE checks' short-term MESSAGE-INTEGRITY (RFC 8489 §9.1.1). Never
	// printed.
	ICEPasswords []string

	// Limits on what an Engine keeps, so that memory follows active state
	// rather than the length of the capture or of a live run; zero means
	// the default, the exported constant of the same name.
	MaxOpenTransactions int
	MaxTransactions     int
	MaxAllocations      int
	MaxSIPTransactions  int
	MaxCalls            int
	MaxStreams          int
	// IdleTimeout is how long ended state stays in full before it is
	// summarized and its correlation state dropped: calls after their BYE
	// or final failure, allocations after their deletion or expiry
	// (0: DefaultIdleTimeout).
	IdleTimeout time.Duration
	// StreamIdle is how long an RTP stream without a call must be silent
	// before a Snapshot holds it (0: DefaultStreamIdle).
	StreamIdle time.Duration

	// Workers is how many goroutines account the packets of established
	// RTP streams (media_workers.go) when StreamSource or Analyze read a
	// file with nobody listening for streamed findings; 0 or 1 keeps all
	// the work in the correlating goroutine, as do live captures and
	// streamed findings. The Analysis is the same whatever the number.
	Workers int
}

// limit returns v, or def when v is not positive.
func limit(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Limits that keep an Engine's memory bounded by active state rather than
// by the size of the capture.
const (
	// MaxOpenTransactions bounds transactions waiting for an answer (or
	// lingering after one, to catch retransmissions); beyond it the oldest
	// is closed, as unanswered if it was.
	MaxOpenTransactions = 100_000
	// TransactionLinger is how long a transaction stays open after its last
	// request or response. RFC 8489 §6.2.1 gives up on a request after
	// Ti = 39.5 s; a server caches answers for as long to answer
	// retransmissions (§6.3.1), so nothing belongs to the transaction later.
	TransactionLinger = 60 * time.Second
	// BindingKeptPerFlow is how many Binding transactions of each flow are
	// kept in full, counting from the first, beyond the unanswered and
	// error ones (also up to BindingKeptPerFlow each).
	BindingKeptPerFlow = 10
	// MaxBindingFlows bounds the flows summarized in Analysis.Bindings;
	// later flows are counted in a last summary with zero addresses.
	MaxBindingFlows = 10_000
	// MaxTransactions bounds Analysis.Transactions.
	MaxTransactions = 200_000
	// MaxAllocations bounds Analysis.Allocations.
	MaxAllocations = 50_000
	// MaxAllocationTransactions bounds each allocation's Attempts and
	// Requests; Refreshes still counts every Refresh.
	MaxAllocationTransactions = 1_000
	// MaxICMPEvents bounds Analysis.ICMPErrors; ICMPErrorCount counts all.
	MaxICMPEvents = 1_000
)

// Engine correlates decoded messages into the records of an Analysis:
// STUN transactions and TURN allocations, SIP transactions, calls and
// registrations, RTP streams, ICE sessions and TLS connections. Feed it
// the messages of one capture in order (Observe), then call Finish; in
// between, Snapshot shows what is already certain. Analyze and
// StreamSource drive one for you; drive one yourself when you decode
// packets yourself.
//
// It is driven by packet timestamps only, so files and live capture behave
// the same. An Engine is not safe for concurrent use; two Engines share
// nothing and may run in parallel.
type Engine struct {
	opts     Options
	analysis Analysis
	finished bool

	integrity *integrityChecker
	seq       uint64

	// Transactions in progress or lingering after their answer.
	open map[txKey]*openTx
	// openByID heads the list (openTx.nextSameID) of the open transactions
	// with each ID, for answers from another server address (RFC 5780) or
	// to another client address than the request left from (an asymmetric
	// capture, a NAT rebinding); see openMatching.
	openByID   map[stun.TransactionID]*openTx
	openOrder  lingerQueue[*openTx] // oldest activity first, roughly; see expire
	now        time.Time            // latest packet time seen
	lastOnFlow map[flowKey]*openTx

	bindingFlows    map[flowKey]*bindingFlow
	bindingOverflow *bindingFlow

	allocations map[flowKey]*allocState // the latest allocation on each 5-tuple
	allocList   []*allocState           // all of them, in order
	allocFlows  allocFlowCache          // in front of allocations, for ChannelData

	media      mediaState  // RTP streams, RTCP reports and SDP-announced endpoints
	rtpWorkers *rtpWorkers // sharded stream accounting, nil when none

	sip sipState // SIP transactions, calls, registrations (correlate_sip*.go)
	// sipKeepAlives: the CRLF keep-alives of each UDP or TCP flow
	// (correlate_sip_keepalive.go), made by the first one.
	sipKeepAlives map[flowKey]*SIPKeepAlives

	ice iceState // ICE sessions from Binding checks (correlate_ice*.go)
	tls tlsState // TLS connections and DTLS associations (correlate_tls*.go)

	// Limits, variables so that tests can lower them.
	maxOpen         int
	maxTransactions int
	maxAllocations  int
	maxAllocTx      int
	maxICMP         int
	maxBindingFlows int

	// Retirement of ended state (retire.go).
	nextRetire     time.Time
	retiredStreams []*Stream

	// What the last Snapshot changed (snapshot.go).
	snapCalls   []callSaved
	snapStreams map[*streamState]*Stream

	// A packet time before which expire and maybeRetire have nothing to
	// do, so that most packets skip them with one integer compare (see
	// quietAt): nanoseconds since 1970, like nowNanos, which is e.now's
	// while quietUntil is set. It holds while the head of openOrder and
	// nextRetire stay what they were when it was computed.
	quietUntil  int64 // math.MinInt64: not known
	nowNanos    int64
	quietHead   *openTx // openOrder's head then, nil when it was empty
	quietSince  time.Time
	quietRetire time.Time
}

// NewEngine returns an Engine ready for its first Observe; zero limits in
// opts take their defaults.
func NewEngine(opts Options) *Engine {
	return &Engine{
		opts:            opts,
		integrity:       newIntegrityChecker(opts.Credentials),
		open:            make(map[txKey]*openTx),
		openByID:        make(map[stun.TransactionID]*openTx),
		lastOnFlow:      make(map[flowKey]*openTx),
		bindingFlows:    make(map[flowKey]*bindingFlow),
		allocations:     make(map[flowKey]*allocState),
		ice:             newICEState(opts.ICEPasswords),
		maxOpen:         limit(opts.MaxOpenTransactions, MaxOpenTransactions),
		maxTransactions: limit(opts.MaxTransactions, MaxTransactions),
		maxAllocations:  limit(opts.MaxAllocations, MaxAllocations),
		maxAllocTx:      MaxAllocationTransactions,
		maxICMP:         MaxICMPEvents,
		maxBindingFlows: MaxBindingFlows,
		quietUntil:      math.MinInt64,
	}
}

// flowKey is a client/server/transport triple: a TURN 5-tuple (RFC 8656
// §2) seen from the client.
type flowKey struct {
	client, server netip.AddrPort
	transport      decode.Transport
}

// Observe correlates one message; messages come in capture order, as a
// decode.Decoder emits them. The message is only valid during the call:
// the Engine copies what it keeps. After Finish, Observe does nothing.
func (e *Engine) Observe(m *decode.Message) {
	if e.finished || m == nil {
		return
	}
	if len(e.snapCalls) > 0 {
		e.restoreSnapshot()
	}
	if !e.quietAt(m.Time) {
		if m.Time.After(e.now) {
			e.now = m.Time
		}
		e.expire(e.now)
		e.maybeRetire(e.now)
		e.settleQuiet()
	}
	switch m.Kind {
	case decode.KindSTUN:
		if m.STUN != nil {
			e.observeSTUN(m)
		}
	case decode.KindChannelData:
		e.observeChannelData(m)
	case decode.KindICMPError:
		e.observeICMP(m)
	case decode.KindRTP:
		e.observeRTP(m)
	case decode.KindRTCP:
		e.observeRTCP(m)
	case decode.KindSIP:
		if m.SIP != nil {
			e.observeSIP(m)
		}
	case decode.KindSIPKeepAlive:
		e.observeSIPKeepAlive(m)
	case decode.KindTLS, decode.KindDTLS:
		e.observeTLS(m)
	}
}

// quietAt advances e.now to t, if later, and reports whether expire and
// maybeRetire would then do nothing; when it reports false, e.now is
// unchanged and they must run. Packet times carry no monotonic reading,
// so comparing their nanoseconds is comparing them (time.Time.After,
// packettime.Sub).
func (e *Engine) quietAt(t time.Time) bool {
	tn, ok := packettime.Nanos(t)
	if !ok {
		return false
	}
	now := max(e.nowNanos, tn)
	if now >= e.quietUntil || e.nextRetire != e.quietRetire {
		return false
	}
	if q := &e.openOrder; q.head < len(q.entries) {
		if h := &q.entries[q.head]; h.item != e.quietHead || h.since != e.quietSince {
			return false
		}
	} else if e.quietHead != nil {
		return false
	}
	if tn > e.nowNanos {
		e.now, e.nowNanos = t, tn
	}
	return true
}

// settleQuiet computes quietUntil after expire and maybeRetire ran at
// e.now: until the head of openOrder lingers TransactionLinger
// (expire's test) and until nextRetire (maybeRetire's).
func (e *Engine) settleQuiet() {
	e.quietUntil = math.MinInt64
	now, ok := packettime.Nanos(e.now)
	if !ok || e.nextRetire.IsZero() {
		return
	}
	until, ok := packettime.Nanos(e.nextRetire)
	if !ok {
		return
	}
	e.quietHead, e.quietSince = nil, time.Time{}
	if q := &e.openOrder; q.head < len(q.entries) {
		h := &q.entries[q.head]
		since, ok := packettime.Nanos(h.since)
		if !ok {
			return
		}
		until = min(until, since+int64(TransactionLinger))
		e.quietHead, e.quietSince = h.item, h.since
	}
	e.quietRetire = e.nextRetire
	e.nowNanos = now
	e.quietUntil = until
}

// Finish closes the capture at time end (the last packet's time): open
// transactions become unanswered, allocations get their final outcome.
// Later calls return the same Analysis and Observe does nothing.
func (e *Engine) Finish(end time.Time) *Analysis {
	if e.finished {
		return &e.analysis
	}
	e.stopRTPWorkers()
	e.restoreSnapshot()
	e.snapStreams = nil
	e.finished = true
	e.closeAll()
	e.finishSIP()
	for _, as := range e.allocList {
		e.conclude(as, end)
	}
	// Binding transactions join the list when they close; non-Binding ones
	// when they start. Order them all by first appearance.
	slices.SortStableFunc(e.analysis.Transactions, func(a, b *Transaction) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	e.analysis.CredentialsGiven = len(e.opts.Credentials) > 0
	e.finishRetired()
	// finishMedia drops the media state, its counters with it.
	e.analysis.DroppedStreams = int(e.media.droppedStreams)
	e.analysis.UntrackedRTPPackets = e.media.untrackedRTP
	e.finishMedia()
	e.sortRetired()
	e.finishICE(end)
	e.finishTLS()
	// Drop the correlation state: only the Analysis outlives Finish.
	e.open, e.lastOnFlow, e.bindingFlows, e.allocations, e.allocList = nil, nil, nil, nil, nil
	e.sipKeepAlives = nil
	e.allocFlows = allocFlowCache{}
	e.openOrder = lingerQueue[*openTx]{}
	return &e.analysis
}

func frameRef(m *decode.Message) FrameRef { return FrameRef{Frame: m.Frame, Time: m.Time} }
