package diagnose

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
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

// sipTxKey identifies a SIP transaction (RFC 3261 §17.1.3, §17.2.3): the
// topmost Via branch and the CSeq method, so that a CANCEL and its INVITE
// are two transactions. The client (the previous hop, the request's
// source) is part of the key so that one request seen on both sides of a
// NAT makes two transactions. A branch without the magic cookie comes from
// an RFC 2543 element and need not be unique; the key is then the Call-ID
// and CSeq number.
//
// Responses are not matched on the client: over UDP they go to the Via
// sent-by port, not to the request's source port, unless the client asked
// for rport (§18.2.2, RFC 3581). sipState.byBranch finds them by branch and
// method alone (client zero), and the client only settles between two open
// transactions of one branch.
type sipTxKey struct {
	id        string
	method    string
	client    netip.AddrPort
	transport decode.Transport
}

// openSIPTx is a transaction the engine may still see messages for.
type openSIPTx struct {
	key  sipTxKey
	tx   *SIPTransaction
	last time.Time
	call *callState
	reg  *regState
	// regExpires is the expiry a REGISTER asked for: its Expires header or
	// its Contact's expires parameter; -1 when neither.
	regExpires int
	// regRemoveAll: the REGISTER had "Contact: *" (§10.2.2).
	regRemoveAll bool
	// reqAt and respAt: where on the capturing host the first request
	// and the first response were seen (capturePoint), once reqSeen and
	// respSeen. A capture on a router (tcpdump -i any) shows each message
	// it forwards twice, arriving and leaving, on one 5-tuple when it
	// does no NAT: only a message seen again at the same point is a
	// retransmission (RFC 3261 §17.1.1.2, §17.2.1); seen at another, it
	// is the same message on the box's other side (isCopy).
	reqAt, respAt     capturePoint
	reqSeen, respSeen bool
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

	open map[sipTxKey]*openSIPTx
	// byBranch lists the open transactions of open by their key without
	// the client: nearly always one, two when a request was seen on both
	// sides of a NAT.
	byBranch map[sipTxKey][]*openSIPTx
	// Open transactions in two queues of constant linger: INVITEs in the
	// Proceeding state, and the rest.
	queue, proceeding sipTxQueue

	calls    map[string]*callState
	callList []*callState
	regs     map[regKey]*regState
	regList  []*regState
	flows    map[flowKey]*Flow
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
	s.open = make(map[sipTxKey]*openSIPTx)
	s.byBranch = make(map[sipTxKey][]*openSIPTx)
	s.queue.linger = SIPTransactionLinger
	s.proceeding.linger = SIPProceedingLinger
	s.calls = make(map[string]*callState)
	s.regs = make(map[regKey]*regState)
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
	method := sipMethodName(msg.Method)
	if method == "" {
		return
	}
	id := sipKeyID(msg)
	if method == "ACK" {
		// The ACK to a non-2xx final response belongs to the INVITE
		// transaction and carries its branch (RFC 3261 §17.1.1.3); the ACK
		// to a 2xx is a transaction of its own (§13.2.2.4).
		if st := s.open[sipTxKey{id: id, method: "INVITE", client: m.Src, transport: m.Transport}]; st != nil && st.tx.Final >= 0 && st.tx.Responses[st.tx.Final].Status >= 300 {
			if st.isCopy(m, true) {
				if st.call != nil {
					st.call.step(m, copyLabel("ACK", m))
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
	key := sipTxKey{id: id, method: method, client: m.Src, transport: m.Transport}
	if st := s.open[key]; st != nil {
		if st.isCopy(m, true) {
			if st.call != nil {
				st.call.step(m, copyLabel(requestLabel(method, st.tx.HasSDP), m))
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
			st.call.step(m, requestLabel(method, tx.HasSDP)+" (retransmission)")
		}
		if st.reg != nil {
			st.reg.reg.Last = frameRef(m)
		}
		return
	}

	tx := &SIPTransaction{
		Method:       method,
		CSeq:         msg.CSeq,
		Client:       m.Src,
		Server:       m.Dst,
		Transport:    m.Transport,
		Requests:     []FrameRef{frameRef(m)},
		RequestCount: 1,
		Final:        -1,
		CallID:       s.strs.clip(msg.CallID),
		FromURI:      s.strs.clip(msg.From.URI),
		ToURI:        s.strs.clip(msg.To.URI),
		ToTag:        s.strs.clip(msg.To.Tag),
		Contact:      s.strs.clip(msg.Contact.URI),
		ContactHost:  s.strs.clip(msg.Contact.Host),
		UserAgent:    s.strs.clip(msg.UserAgent),
		Expires:      msg.Expires,
		HasSDP:       hasSDP(msg),
		ReasonHeader: s.strs.clip(msg.ReasonHeader),

		ContentLengthMismatch: contentLengthMismatch(m),
	}
	sipRequestSent(tx, m)
	if len(msg.Vias) > 0 {
		tx.Branch = sameOrClip(id, msg.Vias[0].Branch)
		tx.ViaSentBy = s.strs.clip(msg.Vias[0].SentBy)
	}
	if a := msg.Authorization; a != nil {
		tx.Authorization = s.strs.sipAuth(a)
	}
	st := e.openSIP(key, tx, m.Time)
	st.reqAt, st.reqSeen = pointOf(&m.Packet), true
	if method == "REGISTER" {
		e.registerRequest(st, m)
		return
	}
	e.callRequest(st, m)
}

func (e *Engine) sipResponse(m *decode.Message) {
	s := &e.sip
	msg := m.SIP
	method := sipMethodName(msg.CSeqMeth)
	status := msg.StatusCode
	if method == "" || status < 100 || status > 699 {
		return
	}
	key := sipTxKey{id: sipKeyID(msg), method: method, client: m.Dst, transport: m.Transport}
	st := s.responseTx(key, msg)
	if st == nil {
		st = e.orphanSIPResponse(key, m)
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
					st.call.step(m, copyLabel(responseLabel(r.Status, r.Reason, r.HasSDP), m))
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
				st.call.step(m, responseLabel(r.Status, r.Reason, r.HasSDP)+" (retransmission)")
			}
			return
		}
	}
	if len(tx.Responses) >= MaxSIPResponses {
		return
	}
	tx.Responses = append(tx.Responses, SIPResponse{
		FrameRef:     frameRef(m),
		Status:       status,
		Reason:       s.strs.clip(msg.Reason),
		ReasonHeader: s.strs.clip(msg.ReasonHeader),
		From:         m.Src,
		ToTag:        s.strs.clip(msg.To.Tag),
		Server:       s.strs.clip(msg.UserAgent),
		HasSDP:       hasSDP(msg),
		ContactHost:  s.strs.clip(msg.Contact.Host),

		ContentLengthMismatch: contentLengthMismatch(m),
	})
	if !st.respSeen {
		st.respAt, st.respSeen = pointOf(&m.Packet), true
	}
	idx := len(tx.Responses) - 1
	r := &tx.Responses[idx]
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
func (e *Engine) orphanSIPResponse(key sipTxKey, m *decode.Message) *openSIPTx {
	s := &e.sip
	msg := m.SIP
	e.analysis.OrphanSIPResponses++
	tx := &SIPTransaction{
		Method:    key.method,
		CSeq:      msg.CSeq,
		Client:    m.Dst,
		Server:    m.Src,
		Transport: m.Transport,
		Final:     -1,
		CallID:    s.strs.clip(msg.CallID),
		FromURI:   s.strs.clip(msg.From.URI),
		ToURI:     s.strs.clip(msg.To.URI),
		Expires:   -1,
	}
	if len(msg.Vias) > 0 {
		tx.Branch = clipString(msg.Vias[0].Branch)
	}
	st := e.openSIP(key, tx, m.Time)
	// Tie it to a call already known; a response alone never starts one.
	if cs := s.calls[tx.CallID]; cs != nil {
		st.call = cs
		cs.addTx(tx)
	}
	return st
}

// openSIP keeps tx in the Analysis and opens it under key, closing the
// oldest open transaction when the open table is full.
func (e *Engine) openSIP(key sipTxKey, tx *SIPTransaction, now time.Time) *openSIPTx {
	s := &e.sip
	e.keepSIP(tx)
	st := &openSIPTx{key: key, tx: tx, last: now, regExpires: -1}
	s.add(st)
	s.queue.push(st, now)
	for len(s.open) > s.maxOpen {
		e.closeOldestSIP()
	}
	return st
}

// add opens st. A transaction already open under its key (a request with
// the same branch from the same client that closed and came back) is
// replaced.
func (s *sipState) add(st *openSIPTx) {
	if old := s.open[st.key]; old != nil {
		s.remove(old)
	}
	s.open[st.key] = st
	b := st.key
	b.client = netip.AddrPort{}
	s.byBranch[b] = append(s.byBranch[b], st)
}

func (s *sipState) remove(st *openSIPTx) {
	if s.open[st.key] == st {
		delete(s.open, st.key)
	}
	b := st.key
	b.client = netip.AddrPort{}
	list := s.byBranch[b]
	for i, o := range list {
		if o == st {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byBranch, b)
		return
	}
	s.byBranch[b] = list
}

// responseTx finds the open transaction a response (sent to key.client)
// answers. A server sends a UDP response to the request's source only
// when the client asked for rport; otherwise to the Via sent-by host and
// port, 5060 when none (RFC 3261 §18.2.2, RFC 3581 §4), and over TCP on the
// request's connection. So the branch and method decide, and the
// destination only chooses between clients that used the same branch:
// the request's source, its Via sent-by, or the received/rport the server
// wrote in the response's Via.
func (s *sipState) responseTx(key sipTxKey, msg *sip.Message) *openSIPTx {
	if st := s.open[key]; st != nil {
		return st
	}
	b := key
	b.client = netip.AddrPort{}
	list := s.byBranch[b]
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	dst := key.client
	for _, st := range list {
		if sentBy, ok := viaSentByAddr(st.tx.ViaSentBy); ok && sentBy == dst {
			return st
		}
	}
	if len(msg.Vias) > 0 {
		v := msg.Vias[0]
		if rcv, err := netip.ParseAddr(string(v.Received)); err == nil {
			for _, st := range list {
				if st.key.client.Addr().Unmap() == rcv.Unmap() {
					return st
				}
			}
		}
	}
	for _, st := range list {
		if st.key.client.Addr().Unmap() == dst.Addr().Unmap() {
			return st
		}
	}
	return list[len(list)-1]
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
			if s.open[st.key] != st {
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
	return st.key.method == "INVITE" && st.tx.Final < 0 && len(st.tx.Responses) > 0
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
			if s.open[st.key] == st {
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
	k := flowKey{client: m.Src, server: m.Dst, transport: m.Transport}
	f := s.flows[k]
	if f == nil {
		if len(s.flows) >= s.maxFlows {
			return
		}
		f = &Flow{Src: m.Src, Dst: m.Dst, Transport: m.Transport, Class: "sip", First: frameRef(m)}
		s.flows[k] = f
		e.analysis.Flows = append(e.analysis.Flows, f)
	}
	f.Packets++
	f.DSCP.Add(int(m.DSCP&63), 1)
	f.Last = frameRef(m)
	if len(f.Frames) < MaxFramesPerFinding {
		f.Frames = append(f.Frames, m.Frame)
	}
}

// sipKeyID is the transaction-identifying part of a message: the topmost
// branch when it has the magic cookie, else the Call-ID and CSeq number
// (RFC 2543 matching, §17.1.3 and §17.2.3).
func sipKeyID(msg *sip.Message) string {
	if len(msg.Vias) > 0 {
		if b := msg.Vias[0].Branch; len(b) > len(sipMagicCookie) && bytes.HasPrefix(b, []byte(sipMagicCookie)) {
			return clipString(b)
		}
	}
	var buf [20]byte
	return "\x00" + clipString(msg.CallID) + "\x00" + string(strconv.AppendUint(buf[:0], uint64(msg.CSeq), 10))
}

// sipMethodName returns the method as a string, without allocating for the
// RFC 3261 and common extension methods. Methods are case-sensitive
// (§7.1).
func sipMethodName(b []byte) string {
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
	return string(b)
}

// clipString copies at most MaxSIPFieldLen bytes of b; nil and empty give "".
func clipString(b []byte) string {
	if len(b) > MaxSIPFieldLen {
		b = b[:MaxSIPFieldLen]
	}
	return string(b)
}

// sameOrClip is clipString(b), id itself when that is the same string
// (a transaction's key is usually its branch).
func sameOrClip(id string, b []byte) string {
	if len(b) > MaxSIPFieldLen {
		b = b[:MaxSIPFieldLen]
	}
	if id == string(b) {
		return id
	}
	return string(b)
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
