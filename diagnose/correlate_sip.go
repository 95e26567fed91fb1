package diagnose

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/internal/mix"
)

// Limits and timers of SIP correlation. Memory is bounded by active state:
// open transactions expire, and what the Analysis keeps is capped.
const (
	// SIPT1 is the RFC 3261 §17.1.1.1 round-trip estimate.
	SIPT1 = 500 * time.Millisecond
	// SIPTransactionTimeout is 64*T1: Timer B (INVITE) and Timer F
	// (non-INVITE) give up on a request after it, and Timer J/H keep a
	// completed server transaction as long to absorb retransmissions
	// (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.2).
	SIPTransactionTimeout = 64 * SIPT1
	// SIPTransactionLinger is how long a transaction stays open after its
	// last request or response: the timeout plus T4 (5 s), the longest a
	// message may stay in the network (§17.1.2.2).
	SIPTransactionLinger = SIPTransactionTimeout + 5*time.Second
	// SIPProceedingLinger is how long an INVITE transaction that got a
	// provisional response but no final one stays open with no traffic:
	// Timer B no longer runs in the Proceeding state, ringing can last,
	// and proxies give up after Timer C, more than 3 minutes (§16.6).
	SIPProceedingLinger = 3*time.Minute + SIPTransactionLinger
	// MaxOpenSIPTransactions bounds transactions waiting for an answer or
	// lingering after one; beyond it the oldest is closed.
	MaxOpenSIPTransactions = 100_000
	// MaxSIPTransactions bounds Analysis.SIPTransactions.
	MaxSIPTransactions = 200_000
	// MaxSIPResponses bounds the distinct responses kept per transaction.
	MaxSIPResponses = 32
	// MaxCalls bounds Analysis.Calls.
	MaxCalls = 20_000
	// MaxCallTransactions bounds Call.Transactions.
	MaxCallTransactions = 1_000
	// MaxCallSDPs bounds Call.SDPs.
	MaxCallSDPs = 16
	// MaxCallForks bounds Call.ToTags.
	MaxCallForks = 16
	// MaxRegistrations bounds Analysis.Registrations.
	MaxRegistrations = 10_000
	// MaxRegistrationTransactions bounds Registration.Transactions; Refreshes
	// still counts every success.
	MaxRegistrationTransactions = 1_000
	// MaxSIPFlows bounds the "sip" flows in Analysis.Flows.
	MaxSIPFlows = 10_000
	// MaxSIPFieldLen is the longest header value kept as a string: a hostile
	// message cannot make the engine hold its whole length per transaction.
	MaxSIPFieldLen = 256
)

// sipMagicCookie starts every branch made by an RFC 3261 element (§8.1.1.7).
const sipMagicCookie = "z9hG4bK"

// sipTxKey identifies the SIP transaction of a message (RFC 3261
// §17.1.3, §17.2.3): the topmost Via branch and the CSeq method, so that a
// CANCEL and its INVITE are two transactions. The client (the previous
// hop, the request's source) is part of a transaction's identity too, so
// that one request seen on both sides of a NAT makes two transactions. A
// branch without the magic cookie comes from an RFC 2543 element and need
// not be unique; the id is then the Call-ID and CSeq number.
//
// Responses are not matched on the client: over UDP they go to the Via
// sent-by port, not to the request's source port, unless the client asked
// for rport (§18.2.2, RFC 3581). sipState.txs finds the open transactions
// by branch and method alone, and the client only settles between two
// open transactions of one branch (responseTx).
//
// The key points into the message and is compared with the identity of
// each open transaction's record (SIPTransaction.Branch, or CallID and
// CSeq; Method, Transport, Client), so that looking a message up
// allocates nothing.
type sipTxKey struct {
	method    string
	transport decode.Transport
	// cookie: the id is branch; else callID and cseq. Both are clipped as
	// the record's strings are (clipString).
	cookie bool
	branch []byte
	callID []byte
	cseq   uint32
	// idSum hashes the id; sum the whole key, the index in sipState.txs.
	idSum, sum uint64
}

var sipTxSeed = maphash.MakeSeed()

func makeSIPTxKey(msg *sip.Message, method string, transport decode.Transport) sipTxKey {
	k := sipTxKey{transport: transport}
	if len(msg.Vias) > 0 {
		if b := msg.Vias[0].Branch; len(b) > len(sipMagicCookie) && bytes.HasPrefix(b, []byte(sipMagicCookie)) {
			k.cookie, k.branch = true, clipBytes(b)
		}
	}
	if k.cookie {
		k.idSum = maphash.Bytes(sipTxSeed, k.branch)
	} else {
		k.callID, k.cseq = clipBytes(msg.CallID), msg.CSeq
		k.idSum = maphash.Bytes(sipTxSeed, k.callID) ^ mix.Mix64(uint64(k.cseq)+1)
	}
	k.setMethod(method)
	return k
}

func (k *sipTxKey) setMethod(method string) {
	k.method = method
	k.sum = k.idSum ^ maphash.String(sipTxSeed, method) ^ uint64(k.transport)
}

// sameID says whether tx is of the key's branch (or Call-ID and CSeq),
// method and transport, whatever its client.
func (k *sipTxKey) sameID(tx *SIPTransaction) bool {
	if tx.Method != k.method || tx.Transport != k.transport {
		return false
	}
	if k.cookie {
		// Only a branch with the cookie can be equal.
		return tx.Branch == string(k.branch)
	}
	return tx.CSeq == k.cseq && tx.CallID == string(k.callID) && !hasSIPCookie(tx.Branch)
}

func hasSIPCookie(branch string) bool {
	return len(branch) > len(sipMagicCookie) && strings.HasPrefix(branch, sipMagicCookie)
}

// openSIPTx is a transaction the engine may still see messages for. Its
// identity (sipTxKey) is its record's: Branch or CallID and CSeq, Method,
// Transport and Client.
type openSIPTx struct {
	tx   *SIPTransaction
	call *callState
	reg  *regState
	// next is the following open transaction under the same sum in
	// sipState.txs, in the order they were opened.
	next *openSIPTx
	// spare is room allocated with the record for its first response.
	spare *[1]SIPResponse
	sum   uint64
	last  time.Time
	// regExpires is the expiry a REGISTER asked for: its Expires header or
	// its Contact's expires parameter; -1 when neither.
	regExpires int
	// reqAt and respAt: where on the capturing host the first request
	// and the first response were seen (capturePoint), once reqSeen and
	// respSeen. A capture on a router (tcpdump -i any) shows each message
	// it forwards twice, arriving and leaving, on one 5-tuple when it
	// does no NAT: only a message seen again at the same point is a
	// retransmission (RFC 3261 §17.1.1.2, §17.2.1); seen at another, it
	// is the same message on the box's other side (isCopy).
	reqAt, respAt     capturePoint
	reqSeen, respSeen bool
	// regRemoveAll: the REGISTER had "Contact: *" (§10.2.2).
	regRemoveAll bool
	// open: st is in sipState.txs; queue entries of closed ones are stale.
	open bool
}

// isCopy says whether m, a request (or else a response) of st's
// transaction it already has, is the one seen at another point of the
// capturing host rather than sent again. Where the capture does not tell
// (any capture but a Linux cooked one) every point is the same.
func (st *openSIPTx) isCopy(m *decode.Message, request bool) bool {
	if request {
		return st.reqSeen && pointOf(&m.Packet) != st.reqAt
	}
	return st.respSeen && pointOf(&m.Packet) != st.respAt
}

// copyLabel is a ladder label for a copy (isCopy): "INVITE (SDP) (copy
// leaving on interface 3)".
func copyLabel(label string, m *decode.Message) string {
	return label + " (copy " + capturePointString(m.Direction.String(), m.Interface) + ")"
}

// sipTxQueue holds open transactions in order of activity for one linger
// time, so that its head always expires first (see expireSIP).
type sipTxQueue struct {
	lingerQueue[*openSIPTx]
	linger time.Duration
}

// sipState is the Engine's SIP correlation state. It is set up on the first
// SIP message, so that captures without SIP pay nothing.
type sipState struct {
	ready bool

	// txs indexes the open transactions by sipTxKey.sum: each entry is a
	// list (openSIPTx.next), nearly always of one, of two when a request
	// was seen on both sides of a NAT, more only when sums collide.
	txs     map[uint64]*openSIPTx
	openTxs int
	// Open transactions in two queues of constant linger: INVITEs in the
	// Proceeding state, and the rest.
	queue, proceeding sipTxQueue

	calls    map[string]*callState
	callList []*callState
	regs     map[regKey]*regState
	regList  []*regState
	// flows4 holds the flows between IPv4 addresses under a compact key
	// (hashed and compared in a fraction of flowKey's time: every SIP
	// message looks its flow up), flows the others.
	flows4 map[sipFlowKey4]*Flow
	flows  map[flowKey]*Flow
	// strs shares the header values records keep (intern.go).
	strs stringTable
	// copies pairs the two copies of each message a router captured with
	// tcpdump -i any shows (correlate_sip_copies.go).
	copies sipCopyState

	// Limits, variables so that tests can lower them.
	maxOpen, maxTransactions, maxCalls, maxRegistrations, maxFlows int
}

func (s *sipState) init(opts *Options) {
	s.ready = true
	s.txs = make(map[uint64]*openSIPTx)
	s.queue.linger = SIPTransactionLinger
	s.proceeding.linger = SIPProceedingLinger
	s.calls = make(map[string]*callState)
	s.regs = make(map[regKey]*regState)
	s.flows4 = make(map[sipFlowKey4]*Flow)
	s.flows = make(map[flowKey]*Flow)
	s.maxOpen = MaxOpenSIPTransactions
	s.maxTransactions = limit(opts.MaxSIPTransactions, MaxSIPTransactions)
	s.maxCalls = limit(opts.MaxCalls, MaxCalls)
	s.maxRegistrations = MaxRegistrations
	s.maxFlows = MaxSIPFlows
}

func (e *Engine) observeSIP(m *decode.Message) {
	s := &e.sip
	if !s.ready {
		s.init(&e.opts)
	}
	e.expireSIP(e.now)
	e.sipFlow(m)
	e.pairSIPCopy(m)
	if m.SIP.IsRequest {
		e.sipRequest(m)
	} else {
		e.sipResponse(m)
	}
}

func (e *Engine) sipRequest(m *decode.Message) {
	s := &e.sip
	msg := m.SIP
	method := s.strs.methodName(msg.Method)
	if method == "" {
		return
	}
	key := makeSIPTxKey(msg, method, m.Transport)
	if method == "ACK" {
		// The ACK to a non-2xx final response belongs to the INVITE
		// transaction and carries its branch (RFC 3261 §17.1.1.3); the ACK
		// to a 2xx is a transaction of its own (§13.2.2.4).
		invite := key
		invite.setMethod("INVITE")
		if st := s.find(&invite, m.Src); st != nil && st.tx.Final >= 0 && st.tx.Responses[st.tx.Final].Status >= 300 {
			if st.isCopy(m, true) {
				if st.call != nil {
					st.call.step(m, s.strs.share(copyLabel("ACK", m)))
				}
				return
			}
			tx := st.tx
			tx.ACKCount++
			if tx.ACKCount == 1 {
				tx.ACK = frameRef(m)
			}
			st.last = m.Time
			if st.call != nil {
				st.call.step(m, "ACK")
			}
			return
		}
	}
	if st := s.find(&key, m.Src); st != nil {
		if st.isCopy(m, true) {
			if st.call != nil {
				st.call.step(m, s.strs.share(copyLabel(requestLabel(method, st.tx.HasSDP), m)))
			}
			return
		}
		// A retransmission (§17.1.1.2, §17.1.2.2).
		tx := st.tx
		tx.RequestCount++
		tx.ContentLengthMismatch = tx.ContentLengthMismatch || contentLengthMismatch(m)
		sipRequestSent(tx, m)
		if len(tx.Requests) < MaxFramesPerFinding {
			tx.Requests = append(tx.Requests, frameRef(m))
		}
		st.last = m.Time
		if st.call != nil {
			st.call.step(m, s.strs.label(method, 0, "", tx.HasSDP, " (retransmission)"))
		}
		if st.reg != nil {
			st.reg.reg.Last = frameRef(m)
		}
		return
	}

	// The call the request belongs to, looked up before the record is made
	// so that the record shares the call's strings.
	var cs *callState
	if method != "REGISTER" {
		if id := clipBytes(msg.CallID); len(id) > 0 {
			cs = s.calls[string(id)]
		}
	}
	tx, spare := newSIPTransaction(method, frameRef(m))
	*tx = SIPTransaction{
		Method:       method,
		CSeq:         msg.CSeq,
		Client:       m.Src,
		Server:       m.Dst,
		Transport:    m.Transport,
		Requests:     tx.Requests,
		RequestCount: 1,
		Final:        -1,
		FromURI:      s.clipFor(cs, msg.From.URI),
		ToURI:        s.clipFor(cs, msg.To.URI),
		ToTag:        s.clipFor(cs, msg.To.Tag),
		Contact:      s.clipFor(cs, msg.Contact.URI),
		ContactHost:  s.clipFor(cs, msg.Contact.Host),
		UserAgent:    s.clipFor(cs, msg.UserAgent),
		Expires:      msg.Expires,
		HasSDP:       hasSDP(msg),
		ReasonHeader: s.strs.clip(msg.ReasonHeader),

		ContentLengthMismatch: contentLengthMismatch(m),
	}
	if cs != nil {
		tx.CallID = cs.call.CallID
	} else {
		tx.CallID = s.strs.clip(msg.CallID)
	}
	sipRequestSent(tx, m)
	if len(msg.Vias) > 0 {
		tx.ViaSentBy = s.clipFor(cs, msg.Vias[0].SentBy)
		if key.cookie {
			// Unique to the transaction: not worth a place in the table.
			tx.Branch = string(key.branch)
		} else {
			tx.Branch = clipString(msg.Vias[0].Branch)
		}
	}
	if a := msg.Authorization; a != nil {
		tx.Authorization = s.strs.sipAuth(a)
	}
	st := e.openSIP(&key, tx, m.Time)
	st.spare = spare
	st.reqAt, st.reqSeen = pointOf(&m.Packet), true
	if method == "REGISTER" {
		e.registerRequest(st, m)
		return
	}
	e.callRequest(st, m, cs)
}

// sipTxRecord is a transaction's record allocated with room for its first
// request frame, and sipTxRecordAnswered with room for its first response
// too: the usual shape of a non-INVITE transaction.
type sipTxRecord struct {
	tx  SIPTransaction
	req [1]FrameRef
}

type sipTxRecordAnswered struct {
	sipTxRecord
	resp [1]SIPResponse
}

// newSIPTransaction allocates the record of a new request's transaction,
// with Requests holding first, and the room for its first response when
// one is expected: not for an ACK (never answered) nor an INVITE, whose
// several responses grow Responses (addResponse).
func newSIPTransaction(method string, first FrameRef) (*SIPTransaction, *[1]SIPResponse) {
	var rec *sipTxRecord
	var spare *[1]SIPResponse
	if method == "INVITE" || method == "ACK" {
		rec = &sipTxRecord{}
	} else {
		ra := &sipTxRecordAnswered{}
		rec, spare = &ra.sipTxRecord, &ra.resp
	}
	rec.req[0] = first
	rec.tx.Requests = rec.req[:1:1]
	return &rec.tx, spare
}

// addResponse appends a zero response to tx.Responses and returns it. The
// first goes in the room allocated with the record when there is one;
// the next few grow the slice by one, as a transaction rarely has more
// than three and each response is 216 bytes.
func (st *openSIPTx) addResponse() *SIPResponse {
	tx := st.tx
	n := len(tx.Responses)
	switch {
	case n < cap(tx.Responses):
	case n == 0 && st.spare != nil:
		tx.Responses = st.spare[:0:1]
	case n < 4:
		grown := make([]SIPResponse, n, n+1)
		copy(grown, tx.Responses)
		tx.Responses = grown
	default:
		tx.Responses = slices.Grow(tx.Responses, 1)
	}
	st.spare = nil
	tx.Responses = tx.Responses[:n+1]
	return &tx.Responses[n]
}

// clipFor is strs.clip, with the call's own copy when the call has one:
// a dialog's later messages repeat its URIs, tags, hosts and user agents,
// often after the table has let them go (a busy capture starts thousands
// of calls a second, each with values of its own).
func (s *sipState) clipFor(cs *callState, b []byte) string {
	if cs != nil && len(b) > 0 {
		if v, ok := cs.sameString(clipBytes(b)); ok {
			return v
		}
	}
	return s.strs.clip(b)
}

func (e *Engine) sipResponse(m *decode.Message) {
	s := &e.sip
	msg := m.SIP
	method := s.strs.methodName(msg.CSeqMeth)
	status := msg.StatusCode
	if method == "" || status < 100 || status > 699 {
		return
	}
	key := makeSIPTxKey(msg, method, m.Transport)
	st := s.responseTx(&key, m.Dst, msg)
	if st == nil {
		st = e.orphanSIPResponse(&key, m)
	}
	st.last = m.Time
	if st.reg != nil {
		st.reg.reg.Last = frameRef(m)
	}
	tx := st.tx
	for i := range tx.Responses {
		r := &tx.Responses[i]
		// A response with the same status from the same fork is a
		// retransmission (§17.2.1); another To tag is another fork (§16.7).
		if r.Status == status && r.ToTag == string(msg.To.Tag) {
			if st.isCopy(m, false) {
				if st.call != nil {
					st.call.step(m, s.strs.share(copyLabel(responseLabel(r.Status, r.Reason, r.HasSDP), m)))
				}
				return
			}
			r.Retransmissions++
			if len(r.Resent) < MaxFramesPerFinding {
				r.Resent = append(r.Resent, frameRef(m))
			}
			r.ContentLengthMismatch = r.ContentLengthMismatch || contentLengthMismatch(m)
			sipResponseSent(r, m)
			if st.call != nil {
				st.call.step(m, s.strs.label("", r.Status, r.Reason, r.HasSDP, " (retransmission)"))
			}
			return
		}
	}
	if len(tx.Responses) >= MaxSIPResponses {
		return
	}
	r := st.addResponse()
	*r = SIPResponse{
		FrameRef:     frameRef(m),
		Status:       status,
		Reason:       s.strs.clip(msg.Reason),
		ReasonHeader: s.strs.clip(msg.ReasonHeader),
		From:         m.Src,
		ToTag:        s.clipFor(st.call, msg.To.Tag),
		Server:       s.clipFor(st.call, msg.UserAgent),
		HasSDP:       hasSDP(msg),
		ContactHost:  s.clipFor(st.call, msg.Contact.Host),

		ContentLengthMismatch: contentLengthMismatch(m),
	}
	if !st.respSeen {
		st.respAt, st.respSeen = pointOf(&m.Packet), true
	}
	idx := len(tx.Responses) - 1
	sipResponseSent(r, m)
	if c := msg.Challenge; c != nil && (status == 401 || status == 407) {
		r.Challenge = s.strs.sipAuth(c)
	}
	if status >= 200 && tx.Final < 0 {
		tx.Final = idx
	}
	if st.call != nil {
		e.callResponse(st, r, m)
	}
	if st.reg != nil && idx == tx.Final {
		e.registerResponse(st, r, m)
	}
}

// orphanSIPResponse opens a transaction for a response whose request was
// not seen (the capture started after it, or it was lost before the capture
// point), so that its retransmissions are counted once.
func (e *Engine) orphanSIPResponse(key *sipTxKey, m *decode.Message) *openSIPTx {
	s := &e.sip
	msg := m.SIP
	e.analysis.OrphanSIPResponses++
	var cs *callState
	if id := clipBytes(msg.CallID); len(id) > 0 {
		cs = s.calls[string(id)]
	}
	tx := &SIPTransaction{
		Method:    key.method,
		CSeq:      msg.CSeq,
		Client:    m.Dst,
		Server:    m.Src,
		Transport: m.Transport,
		Final:     -1,
		FromURI:   s.clipFor(cs, msg.From.URI),
		ToURI:     s.clipFor(cs, msg.To.URI),
		Expires:   -1,
	}
	if cs != nil {
		tx.CallID = cs.call.CallID
	} else {
		tx.CallID = s.strs.clip(msg.CallID)
	}
	if len(msg.Vias) > 0 {
		tx.Branch = clipString(msg.Vias[0].Branch)
	}
	st := e.openSIP(key, tx, m.Time)
	// Tie it to a call already known; a response alone never starts one.
	if cs != nil {
		st.call = cs
		cs.addTx(tx)
	}
	return st
}

// openSIP keeps tx in the Analysis and opens it under key, closing the
// oldest open transaction when the open table is full.
func (e *Engine) openSIP(key *sipTxKey, tx *SIPTransaction, now time.Time) *openSIPTx {
	s := &e.sip
	e.keepSIP(tx)
	st := &openSIPTx{tx: tx, last: now, regExpires: -1, sum: key.sum}
	s.add(key, st)
	s.queue.push(st, now)
	for s.openTxs > s.maxOpen {
		e.closeOldestSIP()
	}
	return st
}

// find returns the open transaction of key and client, nil when none.
func (s *sipState) find(key *sipTxKey, client netip.AddrPort) *openSIPTx {
	for st := s.txs[key.sum]; st != nil; st = st.next {
		if st.tx.Client == client && key.sameID(st.tx) {
			return st
		}
	}
	return nil
}

// add opens st, whose record is of key. A transaction already open under
// the same key and client (a request with the same branch from the same
// client that closed and came back) is replaced.
func (s *sipState) add(key *sipTxKey, st *openSIPTx) {
	if old := s.find(key, st.tx.Client); old != nil {
		s.remove(old)
	}
	st.open = true
	s.openTxs++
	head := s.txs[st.sum]
	if head == nil {
		s.txs[st.sum] = st
		return
	}
	for head.next != nil {
		head = head.next
	}
	head.next = st
}

func (s *sipState) remove(st *openSIPTx) {
	if !st.open {
		return
	}
	st.open = false
	s.openTxs--
	head := s.txs[st.sum]
	if head == st {
		if st.next == nil {
			delete(s.txs, st.sum)
		} else {
			s.txs[st.sum] = st.next
		}
		st.next = nil
		return
	}
	for prev := head; prev != nil; prev = prev.next {
		if prev.next == st {
			prev.next = st.next
			break
		}
	}
	st.next = nil
}

// openTransactions yields every open transaction.
func (s *sipState) openTransactions() iter.Seq[*openSIPTx] {
	return func(yield func(*openSIPTx) bool) {
		for _, head := range s.txs {
			for st := head; st != nil; st = st.next {
				if !yield(st) {
					return
				}
			}
		}
	}
}

// responseTx finds the open transaction a response (sent to dst) answers.
// A server sends a UDP response to the request's source only when the
// client asked for rport; otherwise to the Via sent-by host and port, 5060
// when none (RFC 3261 §18.2.2, RFC 3581 §4), and over TCP on the request's
// connection. So the branch and method decide, and the destination only
// chooses between clients that used the same branch: the request's source,
// its Via sent-by, or the received/rport the server wrote in the
// response's Via.
func (s *sipState) responseTx(key *sipTxKey, dst netip.AddrPort, msg *sip.Message) *openSIPTx {
	head := s.txs[key.sum]
	var last *openSIPTx
	n := 0
	for st := head; st != nil; st = st.next {
		if !key.sameID(st.tx) {
			continue
		}
		if st.tx.Client == dst {
			return st
		}
		last = st
		n++
	}
	if n <= 1 {
		return last
	}
	for st := head; st != nil; st = st.next {
		if !key.sameID(st.tx) {
			continue
		}
		if sentBy, ok := viaSentByAddr(st.tx.ViaSentBy); ok && sentBy == dst {
			return st
		}
	}
	if len(msg.Vias) > 0 {
		v := msg.Vias[0]
		if rcv, err := netip.ParseAddr(string(v.Received)); err == nil {
			for st := head; st != nil; st = st.next {
				if key.sameID(st.tx) && st.tx.Client.Addr().Unmap() == rcv.Unmap() {
					return st
				}
			}
		}
	}
	for st := head; st != nil; st = st.next {
		if key.sameID(st.tx) && st.tx.Client.Addr().Unmap() == dst.Addr().Unmap() {
			return st
		}
	}
	return last
}

// viaSentByAddr reads a Via sent-by written as an IP address, with port
// 5060 when it has none (RFC 3261 §18.2.2, §19.1.2; SIP over TLS is not
// decoded). A host name cannot be compared with an address and gives false.
func viaSentByAddr(sentBy string) (netip.AddrPort, bool) {
	if sentBy == "" {
		return netip.AddrPort{}, false
	}
	if ap, err := netip.ParseAddrPort(sentBy); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	host := strings.TrimSuffix(strings.TrimPrefix(sentBy, "["), "]")
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a.Unmap(), 5060), true
}

func (e *Engine) keepSIP(tx *SIPTransaction) {
	if len(e.analysis.SIPTransactions) >= e.sip.maxTransactions {
		e.analysis.DroppedSIPTransactions++
		return
	}
	e.analysis.SIPTransactions = append(e.analysis.SIPTransactions, tx)
}

// expireSIP closes transactions idle for their queue's linger. An entry
// whose transaction saw activity since it was queued goes back, with its
// new time, to the queue its state now calls for.
func (e *Engine) expireSIP(now time.Time) {
	s := &e.sip
	for _, q := range []*sipTxQueue{&s.queue, &s.proceeding} {
		for !q.empty() {
			head := q.peek()
			st := head.item
			if !st.open {
				q.pop()
				continue
			}
			if now.Sub(head.since) < q.linger {
				break
			}
			q.pop()
			if st.last.After(head.since) || (q == &s.queue && st.proceeding()) {
				s.requeue(st)
				continue
			}
			s.remove(st)
		}
	}
}

// proceeding says whether an INVITE transaction had a provisional response
// and no final one yet: RFC 3261 §17.1.1.2 stops Timer B then.
func (st *openSIPTx) proceeding() bool {
	return st.tx.Method == "INVITE" && st.tx.Final < 0 && len(st.tx.Responses) > 0
}

func (s *sipState) requeue(st *openSIPTx) {
	if st.proceeding() {
		s.proceeding.push(st, st.last)
		return
	}
	s.queue.push(st, st.last)
}

// closeOldestSIP closes the transaction queued longest ago: the open table
// is full.
func (e *Engine) closeOldestSIP() {
	s := &e.sip
	for _, q := range []*sipTxQueue{&s.queue, &s.proceeding} {
		for !q.empty() {
			st := q.pop().item
			if st.open {
				s.remove(st)
				return
			}
		}
	}
}

// finishSIP concludes calls and registrations at the end of the capture and
// drops the SIP correlation state. Transactions still open stay as they
// are: those with no final response are the unanswered ones.
func (e *Engine) finishSIP() {
	s := &e.sip
	for _, cs := range s.callList {
		cs.conclude()
	}
	for _, rs := range s.regList {
		rs.conclude()
	}
	*s = sipState{}
}

// sipFlow counts a SIP message in its flow, for the DSCP rules.
func (e *Engine) sipFlow(m *decode.Message) {
	s := &e.sip
	k4, v4 := makeSIPFlowKey4(m)
	var f *Flow
	if v4 {
		f = s.flows4[k4]
	} else {
		f = s.flows[flowKey{client: m.Src, server: m.Dst, transport: m.Transport}]
	}
	if f == nil {
		if len(s.flows4)+len(s.flows) >= s.maxFlows {
			return
		}
		f = &Flow{Src: m.Src, Dst: m.Dst, Transport: m.Transport, Class: "sip", First: frameRef(m)}
		if v4 {
			s.flows4[k4] = f
		} else {
			s.flows[flowKey{client: m.Src, server: m.Dst, transport: m.Transport}] = f
		}
		e.analysis.Flows = append(e.analysis.Flows, f)
	}
	f.Packets++
	f.DSCP.Add(int(m.DSCP&63), 1)
	f.Last = frameRef(m)
	if len(f.Frames) < MaxFramesPerFinding {
		f.Frames = append(f.Frames, m.Frame)
	}
}

// sipFlowKey4 is a flow between IPv4 addresses: each end's address and
// port in the low 48 bits, the transport above the source's.
type sipFlowKey4 [2]uint64

// makeSIPFlowKey4 returns m's flow key when both its addresses are IPv4
// (not IPv4-mapped IPv6, which flowKey tells apart).
func makeSIPFlowKey4(m *decode.Message) (sipFlowKey4, bool) {
	src, dst := m.Src.Addr(), m.Dst.Addr()
	if !src.Is4() || !dst.Is4() {
		return sipFlowKey4{}, false
	}
	s4, d4 := src.As4(), dst.As4()
	return sipFlowKey4{
		uint64(m.Transport)<<48 | uint64(binary.BigEndian.Uint32(s4[:]))<<16 | uint64(m.Src.Port()),
		uint64(binary.BigEndian.Uint32(d4[:]))<<16 | uint64(m.Dst.Port()),
	}, true
}

// methodName returns the method as a string, without allocating for the
// RFC 3261 and common extension methods, and shared for others. Methods
// are case-sensitive (§7.1).
func (t *stringTable) methodName(b []byte) string {
	switch string(b) {
	case "INVITE":
		return "INVITE"
	case "ACK":
		return "ACK"
	case "BYE":
		return "BYE"
	case "CANCEL":
		return "CANCEL"
	case "REGISTER":
		return "REGISTER"
	case "OPTIONS":
		return "OPTIONS"
	case "PRACK":
		return "PRACK"
	case "UPDATE":
		return "UPDATE"
	case "INFO":
		return "INFO"
	case "SUBSCRIBE":
		return "SUBSCRIBE"
	case "NOTIFY":
		return "NOTIFY"
	case "REFER":
		return "REFER"
	case "MESSAGE":
		return "MESSAGE"
	case "PUBLISH":
		return "PUBLISH"
	}
	if len(b) > 32 {
		b = b[:32]
	}
	return t.shareBytes(b)
}

// clipString copies at most MaxSIPFieldLen bytes of b; nil and empty give "".
func clipString(b []byte) string {
	if len(b) > MaxSIPFieldLen {
		b = b[:MaxSIPFieldLen]
	}
	return string(b)
}

// clipBytes is b cut as clipString cuts it.
func clipBytes(b []byte) []byte {
	if len(b) > MaxSIPFieldLen {
		return b[:MaxSIPFieldLen]
	}
	return b
}

func (t *stringTable) sipAuth(a *sip.Auth) *SIPAuth {
	return &SIPAuth{
		Username:  t.clip(a.Username),
		Realm:     t.clip(a.Realm),
		Nonce:     t.clip(a.Nonce),
		Algorithm: t.clip(a.Algorithm),
		QOP:       t.clip(a.QOP),
		Stale:     a.Stale,
	}
}

// sdpBody returns the message's SDP body: an application/sdp body or the
// first application/sdp part of a multipart one (sip.SDPBody); nil when
// none.
func sdpBody(msg *sip.Message) []byte { return msg.SDP() }

func hasSDP(msg *sip.Message) bool { return msg.SDP() != nil }

// contentLengthMismatch says whether a SIP message over UDP carried a body
// of another length than its Content-Length (RFC 3261 §18.3): the sender
// wrote both, so a difference means something on the way rewrote the body
// (a SIP ALG putting its public address in the SDP) without fixing the
// header. Over TCP, Content-Length is the framing itself and cannot
// disagree. Parse cuts Body to Content-Length, so the datagram's real body
// is measured from sip.Message.HeaderLen on.
//
// The body must end a line, as a rewritten SDP still does: a datagram the
// capture's snaplen cut off ends anywhere, and so does stray junk after
// the empty line (seen in fuzzed captures).
func contentLengthMismatch(m *decode.Message) bool {
	msg := m.SIP
	if m.Transport != decode.UDP || msg == nil || msg.ContentLength < 0 || msg.HeaderLen <= 0 || msg.HeaderLen > len(m.Payload) {
		return false
	}
	body := m.Payload[msg.HeaderLen:]
	return len(body) != msg.ContentLength && len(body) > 0 && body[len(body)-1] == '\n'
}

func requestLabel(method string, sdp bool) string {
	if sdp {
		return method + " (SDP)"
	}
	return method
}

func responseLabel(status int, reason string, sdp bool) string {
	l := strconv.Itoa(status)
	if reason != "" {
		l += " " + reason
	}
	if sdp {
		l += " (SDP)"
	}
	return l
}

// label is requestLabel(method, sdp) when method is set, else
// responseLabel(status, reason, sdp), followed by suffix: shared, and
// made without allocating once the table has it. A call's ladder repeats
// a handful of labels.
func (t *stringTable) label(method string, status int, reason string, sdp bool, suffix string) string {
	if method != "" && suffix == "" {
		switch {
		case !sdp:
			return method
		case method == "INVITE":
			return "INVITE (SDP)"
		}
	}
	var buf [64]byte
	var b []byte
	if method != "" {
		b = append(buf[:0], method...)
	} else {
		b = strconv.AppendInt(buf[:0], int64(status), 10)
		if reason != "" {
			b = append(b, ' ')
			b = append(b, reason...)
		}
	}
	if sdp {
		b = append(b, " (SDP)"...)
	}
	b = append(b, suffix...)
	return t.shareBytes(b)
}
