package diagnose

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/callscope/callscope/decode"
)

// Timing of the snapshot's certainty, in packet time.
const (
	// STUNGiveUp is how long after its first send a request is given up
	// on: RFC 8489 §6.2.1's Ti = 39.5 s (Rc = 7 sends with RTO 500 ms, then
	// 16 RTO of waiting), which also bounds reliable transports (§6.2.2).
	STUNGiveUp = 39500 * time.Millisecond
	// STUNFirstRetransmit is the longest a client is assumed to wait before
	// its first retransmission: RFC 8489 §6.2.1 has RTO "greater than
	// 500 ms", configurable, and some clients use RFC 3489's 3 s. A client
	// silent for longer than that (plus a second) after a single send gave
	// up, or does not retransmit at all.
	STUNFirstRetransmit = 3 * time.Second
	// CallMediaTail is how long after a BYE media is still accounted to
	// the call before its media findings are certain: RTP in flight and
	// the far end's last packets.
	CallMediaTail = 2 * time.Second
	// DefaultStreamIdle is how long an RTP stream without a call must be
	// silent before its media findings are reported while capturing.
	DefaultStreamIdle = 5 * time.Second
)

// callSaved is what conclude writes into a live Call, restored after a
// snapshot so that the correlation never sees provisional outcomes.
type callSaved struct {
	call                     *Call
	outcome, reason, rheader string
	status                   int
	answeredBy               netip.AddrPort
}

// Snapshot returns a view of what the engine has correlated until now
// (packet time), restricted to what packets after now cannot change in a
// way that matters to findings: answered transactions, and unanswered ones
// whose client has given up (STUNGiveUp, or visibly stopped
// retransmitting); SIP transactions with a final response or closed; calls
// that failed, were cancelled, or ended (BYE) CallMediaTail ago, with
// their outcomes; RTP streams of those calls and streams without a call
// silent for the stream idle time, with their loss accounting to now.
// ICE sessions, TLS connections, registrations and flows are concluded
// only by Finish and are absent.
//
// The view shares the engine's records (nothing per packet is copied:
// only stream summaries, whose accounting is finished on a copy) and is
// valid until the next call to Observe, Snapshot or Finish; rules read
// it, nothing may modify it. Run the rules on it to learn findings early
// (see Streamer); the Analysis from Finish is the complete one.
func (e *Engine) Snapshot(now time.Time) *Analysis {
	e.syncRTPWorkers()
	e.restoreSnapshot()
	if e.finished {
		return &e.analysis
	}
	src := &e.analysis
	a := &Analysis{
		Stats:                src.Stats,
		Allocations:          src.Allocations,
		ICMPErrors:           src.ICMPErrors,
		ICMPErrorCount:       src.ICMPErrorCount,
		Bindings:             src.Bindings,
		OrphanResponses:      src.OrphanResponses,
		OrphanResponseFrames: src.OrphanResponseFrames,
		UnmatchedChannelData: src.UnmatchedChannelData,
		CredentialsGiven:     len(e.opts.Credentials) > 0,
		OrphanSIPResponses:   src.OrphanSIPResponses,
		Snapshot:             true,
	}
	a.Transactions = e.settledTransactions(now)
	a.SIPTransactions = e.settledSIPTransactions()
	a.Calls = e.settledCalls(now)
	a.Streams = e.settledStreams(now, a.Calls)
	return a
}

// settledTransactions is the kept STUN transactions but the open
// unanswered ones whose client may still be waiting for an answer.
func (e *Engine) settledTransactions(now time.Time) []*Transaction {
	waiting := make(map[*Transaction]bool)
	for _, st := range e.open {
		tx := st.tx
		if tx.Answered || tx.ICMP != nil || len(tx.Requests) == 0 {
			continue
		}
		if now.Before(giveUpTime(tx, st.last)) {
			waiting[tx] = true
		}
	}
	return excluding(e.analysis.Transactions, waiting)
}

// excluding is all but the elements in drop; all itself when drop is empty.
func excluding[T comparable](all []T, drop map[T]bool) []T {
	if len(drop) == 0 {
		return all
	}
	out := make([]T, 0, len(all))
	for _, x := range all {
		if !drop[x] {
			out = append(out, x)
		}
	}
	return out
}

// giveUpTime is when a client stops waiting for the answer to tx, whose
// latest send was at last: Ti after the first send (RFC 8489 §6.2.1), or
// earlier over UDP when the next retransmission is overdue - the interval
// doubles at each send, so silence for twice the last interval and a
// second more means the client stopped.
func giveUpTime(tx *Transaction, last time.Time) time.Time {
	first := tx.Requests[0].Time
	giveUp := first.Add(STUNGiveUp)
	if tx.Transport == decode.TCP {
		return giveUp
	}
	gap := STUNFirstRetransmit
	if n := len(tx.Requests); n >= 2 && n == tx.RequestCount {
		gap = 2 * tx.Requests[n-1].Time.Sub(tx.Requests[n-2].Time)
	}
	if quiet := last.Add(gap + time.Second); quiet.Before(giveUp) {
		return quiet
	}
	return giveUp
}

// settledSIPTransactions is the SIP transactions with a final response,
// and those closed (their linger passed: the unanswered ones).
func (e *Engine) settledSIPTransactions() []*SIPTransaction {
	open := make(map[*SIPTransaction]bool)
	for st := range e.sip.openTransactions() {
		if st.tx.Final < 0 {
			open[st.tx] = true
		}
	}
	return excluding(e.analysis.SIPTransactions, open)
}

// settledCalls concludes, provisionally, the calls whose outcome is
// known: a final response other than a challenge the caller will answer,
// or a BYE CallMediaTail ago. The live Calls are written and restored by
// the next engine call (restoreSnapshot).
func (e *Engine) settledCalls(now time.Time) []*Call {
	var out []*Call
	for _, cs := range e.sip.callList {
		if !cs.settled(now) {
			continue
		}
		c := cs.call
		e.snapCalls = append(e.snapCalls, callSaved{call: c, outcome: c.Outcome, reason: c.FinalReason,
			rheader: c.ReasonHeader, status: c.FinalStatus, answeredBy: c.AnsweredBy})
		cs.conclude()
		out = append(out, c)
	}
	return out
}

func (cs *callState) settled(now time.Time) bool {
	c := cs.call
	if !c.Ended.Time.IsZero() && !now.Before(c.Ended.Time.Add(CallMediaTail)) {
		return true
	}
	tx := cs.lastInitial
	if cs.answered || tx == nil || tx.Final < 0 {
		return false
	}
	r := tx.Responses[tx.Final]
	// An unanswered challenge is normally answered within milliseconds
	// with credentials: not an outcome yet.
	return !((r.Status == 401 || r.Status == 407) && tx.Authorization == nil)
}

// restoreSnapshot undoes the provisional outcomes of the last snapshot.
func (e *Engine) restoreSnapshot() {
	for _, s := range e.snapCalls {
		c := s.call
		c.Outcome, c.FinalReason, c.ReasonHeader, c.FinalStatus, c.AnsweredBy = s.outcome, s.reason, s.rheader, s.status, s.answeredBy
	}
	clear(e.snapCalls)
	e.snapCalls = e.snapCalls[:0]
}

// settledStreams is the streams of the settled calls and the streams
// without a call silent for the idle time, as copies whose sequence
// accounting is finished to now (the live trackers go on).
func (e *Engine) settledStreams(now time.Time, calls []*Call) []*Stream {
	idle := e.opts.StreamIdle
	if idle <= 0 {
		idle = DefaultStreamIdle
	}
	// Each stream looks its call up among the settled ones: thousands of
	// streams and calls at every snapshot.
	settled := make(map[*Call]bool, len(calls))
	for _, c := range calls {
		settled[c] = true
	}
	var sts []*streamState
	for _, st := range e.media.list {
		s := st.s
		if s.Packets < StreamMinPackets {
			continue
		}
		if s.Call != nil && !settled[s.Call] {
			continue
		}
		if s.Call == nil && now.Sub(s.Last.Time) < idle {
			continue
		}
		sts = append(sts, st)
	}
	slices.SortStableFunc(sts, func(a, b *streamState) int {
		if c := cmp.Compare(a.s.First.Frame, b.s.First.Frame); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
	if e.snapStreams == nil {
		e.snapStreams = make(map[*streamState]*Stream)
	}
	out := make([]*Stream, 0, len(sts))
	// Retired streams are finished already.
	for _, s := range e.retiredStreams {
		if s.Call == nil || settled[s.Call] {
			out = append(out, s)
		}
	}
	for _, st := range sts {
		// A copy is made again only when packets came since the last one.
		cp := e.snapStreams[st]
		if cp == nil || cp.Packets != st.s.Packets || cp.RemoteReports != st.s.RemoteReports || cp.SRTCPPackets != st.s.SRTCPPackets || cp.ICMP != st.s.ICMP {
			cp = new(Stream)
			*cp = *st.s
			seq := st.seq
			seq.finish(cp)
			e.snapStreams[st] = cp
		}
		out = append(out, cp)
	}
	if len(e.retiredStreams) > 0 {
		slices.SortStableFunc(out, func(a, b *Stream) int { return cmp.Compare(a.First.Frame, b.First.Frame) })
	}
	return out
}
