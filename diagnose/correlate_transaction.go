package diagnose

import (
	"cmp"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/internal/packettime"
)

// txKey identifies a transaction: its ID, the client that sent the
// request and the server it went to. A client may send one ID to several
// servers (RFC 3489 §10.1 NAT discovery sends the same request to the
// alternate address); each is its own transaction. The server may answer
// from another address (RFC 5780 §4.2), so an answer that matches no key
// is looked up by ID and client (openMatching). The cookie completes the
// 128-bit ID of a classic RFC 3489 message and is constant otherwise.
type txKey struct {
	id        stun.TransactionID
	cookie    uint32
	client    netip.AddrPort
	server    netip.AddrPort
	transport decode.Transport
}

// maxSameID bounds the open transactions with one ID that a lookup by ID
// walks: beyond it the ID counts as ambiguous and only exact keys match,
// so a capture reusing one ID everywhere cannot make lookups quadratic.
const maxSameID = 8

// MaxPeersPerTransaction bounds Transaction.Peers: a CreatePermission may
// carry any number of XOR-PEER-ADDRESS attributes (RFC 8656 §10);
// Transaction.PeersTotal counts them all.
const MaxPeersPerTransaction = 16

// maxTextBytes is the longest text attribute value kept: RFC 8489 §14.3
// and §14.8-§14.14 have receivers accept USERNAME, REALM, NONCE, SOFTWARE
// and the reason phrase up to 763 bytes (128 characters of up to 6 bytes
// in the RFC 2279 UTF-8 that RFC 5389 referenced). Longer is broken or
// hostile, and would let every transaction hold 64 KiB.
const maxTextBytes = 763

// keptText returns s cut to at most maxTextBytes on a UTF-8 boundary. The
// decoder's strings are fresh copies that later messages never overwrite
// (decode/stun/strings.go makes them with string(b), and may hand the same
// one to later messages, which is safe for an immutable string), so s is
// kept as it is; only a cut one is copied, so as not to pin the original.
func keptText(s string) string {
	if len(s) <= maxTextBytes {
		return s
	}
	i := maxTextBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return strings.Clone(s[:i])
}

// openTx is a transaction the engine may still see packets for. Its key
// is not kept beside tx, which holds every part of it: openTx is half the
// size without it, and it is made for every request.
type openTx struct {
	tx    *Transaction
	last  time.Time // the latest request or response
	alloc *allocState
	// Binding transactions only.
	binding   *bindingFlow
	keepFirst bool // among the first BindingKeptPerFlow of its flow
	// closed: no longer in Engine.open, so that a queued entry of
	// openOrder is told from a live one without a map lookup.
	closed bool
	// The other open transactions with the same ID, a list that
	// Engine.openByID heads.
	prevSameID, nextSameID *openTx
}

func (st *openTx) key() txKey {
	tx := st.tx
	return txKey{id: tx.ID, cookie: tx.Cookie, client: tx.Client, server: tx.Server, transport: tx.Transport}
}

// bindingFlow is the summary of one flow's Binding transactions and how many
// of its unanswered and error ones are already kept.
type bindingFlow struct {
	summary                  *BindingSummary
	keptUnanswered, keptErrs int
	// lastAnsweredSent is when the latest-sent answered request was first
	// sent: unanswered requests sent later count in UnansweredSinceAnswer.
	lastAnsweredSent time.Time
}

func (e *Engine) observeSTUN(m *decode.Message) {
	e.observeICE(&m.Packet, m.STUN, m.Src, m.Dst, m.Transport, nil)
	switch m.STUN.Class {
	case stun.ClassRequest:
		e.observeRequest(m)
	case stun.ClassSuccess, stun.ClassError:
		e.observeResponse(m)
	case stun.ClassIndication:
		e.observeIndication(m)
	}
}

func (e *Engine) observeRequest(m *decode.Message) {
	s := m.STUN
	key := txKey{id: s.Transaction, cookie: s.Cookie, client: m.Src, server: m.Dst, transport: m.Transport}
	sameID := e.openByID[key.id]
	if st := e.openWithKey(sameID, key); st != nil {
		// A retransmission (RFC 8489 §6.2.1), possibly after the answer was
		// lost on its way back.
		tx := st.tx
		tx.RequestCount++
		if len(tx.Requests) < MaxFramesPerFinding {
			tx.Requests = append(tx.Requests, frameRef(m))
		}
		st.last = m.Time
		if st.alloc != nil {
			st.alloc.touch(m)
		}
		return
	}

	box := &txBox{}
	box.first[0] = frameRef(m)
	tx := &box.tx
	*tx = Transaction{
		ID:                 s.Transaction,
		Method:             s.Method,
		Client:             m.Src,
		Server:             m.Dst,
		Transport:          m.Transport,
		Classic:            s.Classic,
		Cookie:             s.Cookie,
		Requests:           box.first[:],
		RequestCount:       1,
		Username:           keptText(s.Username),
		Realm:              keptText(s.Realm),
		Nonce:              keptText(s.Nonce),
		HasIntegrity:       s.HasIntegrity || s.HasIntegritySHA256,
		Lifetime:           -1,
		GrantedLife:        -1,
		RequestedTransport: s.RequestedTransport,
		Software:           keptText(s.Software),
		seq:                e.nextTxSeq(),
	}
	if s.HasLifetime {
		tx.Lifetime = int64(s.Lifetime)
	}
	if n := len(s.XORPeerAddresses); n > 0 {
		// The decoder reuses the slice for the next message: copy.
		tx.Peers = slices.Clone(s.XORPeerAddresses[:min(n, MaxPeersPerTransaction)])
		tx.PeersTotal = n
	}
	if s.HasChannelNumber {
		tx.Channel = s.ChannelNumber
	}
	if tx.HasIntegrity {
		tx.Integrity = e.integrity.verdict(s)
	}

	st := &openTx{tx: tx, last: m.Time}
	flow := flowKey{client: m.Src, server: m.Dst, transport: m.Transport}
	if s.Method == stun.MethodBinding {
		// Binding transactions join Analysis.Transactions when they close,
		// and only if they matter (see closeTx).
		bf := e.bindingFlow(flow, m)
		bf.summary.Requests++
		st.binding = bf
		st.keepFirst = bf.summary.Requests <= BindingKeptPerFlow
	} else {
		e.keep(tx)
		e.allocationRequest(st, flow, m)
	}

	e.open[key] = st
	if sameID != nil {
		sameID.prevSameID = st
		st.nextSameID = sameID
	}
	e.openByID[key.id] = st
	e.openOrder.push(st, m.Time)
	e.lastOnFlow[flow] = st
	for len(e.open) > e.maxOpen {
		e.closeOldest()
	}
}

func (e *Engine) observeResponse(m *decode.Message) {
	s := m.STUN
	st := e.open[txKey{id: s.Transaction, cookie: s.Cookie, client: m.Dst, server: m.Src, transport: m.Transport}]
	if st == nil {
		// An answer from another address of the server (RFC 5780 §4.2,
		// RFC 3489 §10.1 CHANGE-REQUEST): the client matches it by ID.
		st = e.openMatching(s.Transaction, s.Cookie, m.Dst, m.Transport)
	}
	if st == nil && !s.Classic {
		// 96 random bits make a collision between clients improbable (RFC
		// 8489 §6): an ID open for a single client is that client's, even
		// when the answer is seen going to another address.
		st = e.openMatching(s.Transaction, s.Cookie, netip.AddrPort{}, m.Transport)
	}
	if st == nil {
		e.analysis.OrphanResponses++
		if len(e.analysis.OrphanResponseFrames) < MaxFramesPerFinding {
			e.analysis.OrphanResponseFrames = append(e.analysis.OrphanResponseFrames, m.Frame)
		}
		e.orphanResponse(m)
		return
	}
	st.last = m.Time
	tx := st.tx
	tx.Responses++
	if st.alloc != nil {
		st.alloc.touch(m)
	}
	if tx.Answered {
		// The server answered a retransmission again (RFC 8489 §6.3.1):
		// the first answer stands.
		return
	}
	tx.Answered = true
	tx.Response = frameRef(m)
	tx.ResponseFrom = m.Src
	tx.Class = s.Class
	tx.ErrorCode = s.ErrorCode
	tx.ErrorReason = keptText(s.ErrorReason)
	if rtt := m.Time.Sub(tx.Requests[0].Time); rtt > 0 {
		tx.RTT = rtt
	}
	if s.Class == stun.ClassError {
		tx.ResponseNonce = keptText(s.Nonce)
	}
	tx.Relayed = s.XORRelayedAddress
	tx.Mapped = s.XORMappedAddress
	if !tx.Mapped.IsValid() {
		tx.Mapped = s.MappedAddress
	}
	if s.HasLifetime {
		tx.GrantedLife = int64(s.Lifetime)
	}
	tx.ServerSoftware = keptText(s.Software)

	if bf := st.binding; bf != nil {
		bf.summary.Answered++
		if s.Class == stun.ClassError {
			bf.summary.Errors++
		}
		bf.summary.Last = frameRef(m)
		if sent := tx.Requests[0].Time; !sent.Before(bf.lastAnsweredSent) {
			bf.lastAnsweredSent = sent
			bf.summary.LastAnswered = frameRef(m)
			bf.summary.UnansweredSinceAnswer = 0
		}
	}
	flow := flowKey{client: tx.Client, server: tx.Server, transport: tx.Transport}
	if e.lastOnFlow[flow] == st {
		delete(e.lastOnFlow, flow)
	}
	if st.alloc != nil {
		e.allocationResponse(st.alloc, tx, m)
	}
}

// openWithKey finds the open transaction with key on the list of those
// with its ID that head starts: a new transaction needs that list's head
// anyway, and walking it (usually empty) saves a lookup in open, a map
// whose keys are 88 bytes. A list longer than maxSameID (one ID reused
// everywhere) is left to open.
func (e *Engine) openWithKey(head *openTx, key txKey) *openTx {
	n := 0
	for st := head; st != nil; st = st.nextSameID {
		if n++; n > maxSameID {
			return e.open[key]
		}
		if tx := st.tx; tx.ID == key.id && tx.Cookie == key.cookie && tx.Client == key.client &&
			tx.Server == key.server && tx.Transport == key.transport {
			return st
		}
	}
	return nil
}

// txBox holds a Transaction and room for its first request, so that the
// two are one allocation: most transactions are never retransmitted.
type txBox struct {
	tx    Transaction
	first [1]FrameRef
}

// openMatching finds the one open transaction with this ID whose cookie
// and transport match, and whose client does when client is valid: nil
// when there is none, or several (or more than maxSameID with the ID).
func (e *Engine) openMatching(id stun.TransactionID, cookie uint32, client netip.AddrPort, transport decode.Transport) *openTx {
	var found *openTx
	n := 0
	for st := e.openByID[id]; st != nil; st = st.nextSameID {
		if n++; n > maxSameID {
			return nil
		}
		if tx := st.tx; tx.Cookie != cookie || tx.Transport != transport || (client.IsValid() && tx.Client != client) {
			continue
		}
		if found != nil {
			return nil
		}
		found = st
	}
	return found
}

// unlinkSameID takes a closing transaction off its ID's list.
func (e *Engine) unlinkSameID(st *openTx) {
	switch {
	case st.prevSameID != nil:
		st.prevSameID.nextSameID = st.nextSameID
	case e.openByID[st.tx.ID] == st:
		if st.nextSameID != nil {
			e.openByID[st.tx.ID] = st.nextSameID
		} else {
			delete(e.openByID, st.tx.ID)
		}
	}
	if st.nextSameID != nil {
		st.nextSameID.prevSameID = st.prevSameID
	}
	st.prevSameID, st.nextSameID = nil, nil
}

// keep adds a transaction record to the Analysis, within MaxTransactions.
func (e *Engine) keep(tx *Transaction) {
	if len(e.analysis.Transactions) >= e.maxTransactions {
		e.analysis.DroppedTransactions++
		return
	}
	e.analysis.Transactions = append(e.analysis.Transactions, tx)
}

func (e *Engine) bindingFlow(flow flowKey, m *decode.Message) *bindingFlow {
	bf := e.bindingFlows[flow]
	if bf == nil {
		if len(e.bindingFlows) >= e.maxBindingFlows {
			if e.bindingOverflow == nil {
				e.bindingOverflow = &bindingFlow{summary: &BindingSummary{First: frameRef(m)}}
				e.analysis.Bindings = append(e.analysis.Bindings, e.bindingOverflow.summary)
			}
			bf = e.bindingOverflow
		} else {
			bf = &bindingFlow{summary: &BindingSummary{
				Client: flow.client, Server: flow.server, Transport: flow.transport,
				First: frameRef(m),
			}}
			e.bindingFlows[flow] = bf
			e.analysis.Bindings = append(e.analysis.Bindings, bf.summary)
		}
	}
	bf.summary.Last = frameRef(m)
	return bf
}

// expire closes transactions with no activity for TransactionLinger.
// openOrder is in order of queueing, which follows packet time; an entry
// whose transaction saw activity since it was queued goes back to the end
// with its new time, so the head is always the oldest activity (give or
// take out-of-order timestamps, which only delay closing).
//
// The age is tested before the map lookup that tells a live entry from
// one closed meanwhile: expire runs for every message, and a closed entry
// can as well wait at the head until it is old.
func (e *Engine) expire(now time.Time) {
	for !e.openOrder.empty() {
		q := e.openOrder.peek()
		if packettime.Sub(now, q.since) < TransactionLinger {
			break
		}
		e.openOrder.pop()
		st := q.item
		if st.closed {
			continue
		}
		if st.last.After(q.since) {
			e.openOrder.push(st, st.last)
			continue
		}
		e.closeTx(st)
	}
}

// closeOldest closes the transaction at the head of openOrder, whatever
// its age: the open table is full.
func (e *Engine) closeOldest() {
	for !e.openOrder.empty() {
		st := e.openOrder.pop().item
		if !st.closed {
			e.closeTx(st)
			return
		}
	}
}

// closeTx ends a transaction: nothing more will be matched to it. An
// unanswered one stays unanswered (Answered false).
//
// Binding transactions are kept in full only when they matter: the first
// BindingKeptPerFlow of their flow, and beyond those up to
// BindingKeptPerFlow unanswered ones and as many error ones. The flow's
// BindingSummary counts them all.
func (e *Engine) closeTx(st *openTx) {
	delete(e.open, st.key())
	st.closed = true
	e.unlinkSameID(st)
	tx := st.tx
	flow := flowKey{client: tx.Client, server: tx.Server, transport: tx.Transport}
	if e.lastOnFlow[flow] == st {
		delete(e.lastOnFlow, flow)
	}
	e.keepClosed(st)
}

// keepClosed accounts a closed Binding transaction in its flow's summary
// and keeps it if it matters (see closeTx).
func (e *Engine) keepClosed(st *openTx) {
	bf := st.binding
	if bf == nil {
		return
	}
	tx := st.tx
	if !tx.Answered {
		bf.summary.Unanswered++
		if tx.Requests[0].Time.After(bf.lastAnsweredSent) {
			bf.summary.UnansweredSinceAnswer++
		}
	}
	keep := st.keepFirst
	switch {
	case keep:
	case !tx.Answered && bf.keptUnanswered < BindingKeptPerFlow:
		bf.keptUnanswered++
		keep = true
	case tx.Answered && tx.Class == stun.ClassError && bf.keptErrs < BindingKeptPerFlow:
		bf.keptErrs++
		keep = true
	}
	if keep {
		e.keep(tx)
	}
}

// nextTxSeq numbers a new transaction after every earlier one. Only the
// order of the transactions kept or still open matters, so when the
// numbers run out they are renumbered 1, 2, ... in the same order, and
// Transaction.seq stays 32 bits for the millions an Analysis may keep.
func (e *Engine) nextTxSeq() uint32 {
	if e.seq >= math.MaxUint32 {
		e.renumberTransactions()
	}
	e.seq++
	return uint32(e.seq)
}

// renumberTransactions gives the kept and open transactions the numbers
// from 1 up in their order, and sets e.seq to the last one.
func (e *Engine) renumberTransactions() {
	seen := make(map[*Transaction]bool, len(e.analysis.Transactions)+len(e.open))
	txs := make([]*Transaction, 0, len(e.analysis.Transactions)+len(e.open))
	for _, tx := range e.analysis.Transactions {
		if !seen[tx] {
			seen[tx] = true
			txs = append(txs, tx)
		}
	}
	for _, st := range e.open {
		if !seen[st.tx] {
			seen[st.tx] = true
			txs = append(txs, st.tx)
		}
	}
	slices.SortFunc(txs, func(a, b *Transaction) int { return cmp.Compare(a.seq, b.seq) })
	for i, tx := range txs {
		tx.seq = uint32(i + 1)
	}
	e.seq = uint64(len(txs))
}

// closeAll closes every open transaction in order of first appearance, so
// that which Binding transactions are kept does not depend on map order.
// Nothing is matched after it (Finish), so the tables are emptied at once
// rather than entry by entry, and openByID, which Finish does not drop,
// is let go.
func (e *Engine) closeAll() {
	// The sequence numbers sit beside the pointers: a comparison that
	// followed two pointers would miss the cache twice, up to
	// MaxOpenTransactions log2 of them times.
	type bySeq struct {
		seq uint32
		st  *openTx
	}
	sts := make([]bySeq, 0, len(e.open))
	for _, st := range e.open {
		sts = append(sts, bySeq{st.tx.seq, st})
	}
	slices.SortFunc(sts, func(a, b bySeq) int { return cmp.Compare(a.seq, b.seq) })
	clear(e.open)
	clear(e.lastOnFlow)
	e.openByID = nil
	for _, s := range sts {
		e.keepClosed(s.st)
	}
}
