package diagnose

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

// txKey identifies a transaction: its ID and the client that sent the
// request (RFC 8489 §6.3: the client matches a response by ID; the server
// may answer from another address, RFC 5780, so the server's address is
// not part of the key). The cookie completes the 128-bit ID of a classic
// RFC 3489 message and is constant otherwise.
type txKey struct {
	id        stun.TransactionID
	cookie    uint32
	client    netip.AddrPort
	transport decode.Transport
}

// openTx is a transaction the engine may still see packets for.
type openTx struct {
	key   txKey
	tx    *Transaction
	last  time.Time // the latest request or response
	alloc *allocState
	// Binding transactions only.
	binding   *bindingFlow
	keepFirst bool // among the first BindingKeptPerFlow of its flow
}

// queuedTx is an entry of Engine.openOrder: since is the activity time the
// entry was queued with.
type queuedTx struct {
	st    *openTx
	since time.Time
}

// bindingFlow is the summary of one flow's Binding transactions and how many
// of its unanswered and error ones are already kept.
type bindingFlow struct {
	summary                  *BindingSummary
	keptUnanswered, keptErrs int
}

func (e *Engine) observeSTUN(m *decode.Message) {
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
	key := txKey{id: s.Transaction, cookie: s.Cookie, client: m.Src, transport: m.Transport}
	if st := e.open[key]; st != nil {
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

	e.seq++
	tx := &Transaction{
		ID:                 s.Transaction,
		Method:             s.Method,
		Client:             m.Src,
		Server:             m.Dst,
		Transport:          m.Transport,
		Requests:           []FrameRef{frameRef(m)},
		RequestCount:       1,
		Username:           strings.Clone(s.Username),
		Realm:              strings.Clone(s.Realm),
		Nonce:              strings.Clone(s.Nonce),
		HasIntegrity:       s.HasIntegrity || s.HasIntegritySHA256,
		Lifetime:           -1,
		GrantedLife:        -1,
		RequestedTransport: s.RequestedTransport,
		Software:           strings.Clone(s.Software),
		seq:                e.seq,
	}
	if s.HasLifetime {
		tx.Lifetime = int64(s.Lifetime)
	}
	if len(s.XORPeerAddresses) > 0 {
		tx.Peers = slices.Clone(s.XORPeerAddresses)
	}
	if s.HasChannelNumber {
		tx.Channel = s.ChannelNumber
	}
	if tx.HasIntegrity {
		tx.Integrity = e.integrity.verdict(s)
	}

	st := &openTx{key: key, tx: tx, last: m.Time}
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
	if _, dup := e.openByID[key.id]; dup {
		e.openByID[key.id] = nil
	} else {
		e.openByID[key.id] = st
	}
	e.openOrder = append(e.openOrder, queuedTx{st: st, since: m.Time})
	e.lastOnFlow[flow] = st
	for len(e.open) > e.maxOpen {
		e.closeOldest()
	}
}

func (e *Engine) observeResponse(m *decode.Message) {
	s := m.STUN
	key := txKey{id: s.Transaction, cookie: s.Cookie, client: m.Dst, transport: m.Transport}
	st := e.open[key]
	if st == nil {
		// 96 random bits make a collision between clients improbable (RFC
		// 8489 §6): an ID open for a single client is that client's, even
		// when the answer is seen going to another address.
		if byID := e.openByID[s.Transaction]; byID != nil && byID.key.cookie == s.Cookie && byID.key.transport == m.Transport && !s.Classic {
			st = byID
		}
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
	tx.ErrorReason = strings.Clone(s.ErrorReason)
	if rtt := m.Time.Sub(tx.Requests[0].Time); rtt > 0 {
		tx.RTT = rtt
	}
	if s.Class == stun.ClassError {
		tx.ResponseNonce = strings.Clone(s.Nonce)
	}
	tx.Relayed = s.XORRelayedAddress
	tx.Mapped = s.XORMappedAddress
	if !tx.Mapped.IsValid() {
		tx.Mapped = s.MappedAddress
	}
	if s.HasLifetime {
		tx.GrantedLife = int64(s.Lifetime)
	}
	tx.ServerSoftware = strings.Clone(s.Software)

	if bf := st.binding; bf != nil {
		bf.summary.Answered++
		if s.Class == stun.ClassError {
			bf.summary.Errors++
		}
		bf.summary.Last = frameRef(m)
	}
	flow := flowKey{client: key.client, server: tx.Server, transport: key.transport}
	if e.lastOnFlow[flow] == st {
		delete(e.lastOnFlow, flow)
	}
	if st.alloc != nil {
		e.allocationResponse(st.alloc, tx, m)
	}
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
func (e *Engine) expire(now time.Time) {
	for e.openHead < len(e.openOrder) {
		q := e.openOrder[e.openHead]
		if e.open[q.st.key] != q.st {
			e.popOpen()
			continue
		}
		if now.Sub(q.since) < TransactionLinger {
			break
		}
		e.popOpen()
		if q.st.last.After(q.since) {
			e.openOrder = append(e.openOrder, queuedTx{st: q.st, since: q.st.last})
			continue
		}
		e.closeTx(q.st)
	}
}

// closeOldest closes the transaction at the head of openOrder, whatever
// its age: the open table is full.
func (e *Engine) closeOldest() {
	for e.openHead < len(e.openOrder) {
		q := e.popOpen()
		if e.open[q.st.key] == q.st {
			e.closeTx(q.st)
			return
		}
	}
}

func (e *Engine) popOpen() queuedTx {
	q := e.openOrder[e.openHead]
	e.openOrder[e.openHead] = queuedTx{}
	e.openHead++
	// Reuse the slice once its dead prefix is the larger part.
	if e.openHead > 1024 && e.openHead*2 > len(e.openOrder) {
		n := copy(e.openOrder, e.openOrder[e.openHead:])
		clear(e.openOrder[n:])
		e.openOrder = e.openOrder[:n]
		e.openHead = 0
	}
	return q
}

// closeTx ends a transaction: nothing more will be matched to it. An
// unanswered one stays unanswered (Answered false).
//
// Binding transactions are kept in full only when they matter: the first
// BindingKeptPerFlow of their flow, and beyond those up to
// BindingKeptPerFlow unanswered ones and as many error ones. The flow's
// BindingSummary counts them all.
func (e *Engine) closeTx(st *openTx) {
	delete(e.open, st.key)
	if other, ok := e.openByID[st.key.id]; ok && (other == st || other == nil) {
		delete(e.openByID, st.key.id)
	}
	tx := st.tx
	flow := flowKey{client: st.key.client, server: tx.Server, transport: st.key.transport}
	if e.lastOnFlow[flow] == st {
		delete(e.lastOnFlow, flow)
	}
	bf := st.binding
	if bf == nil {
		return
	}
	if !tx.Answered {
		bf.summary.Unanswered++
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

// closeAll closes every open transaction in order of first appearance, so
// that which Binding transactions are kept does not depend on map order.
func (e *Engine) closeAll() {
	sts := make([]*openTx, 0, len(e.open))
	for _, st := range e.open {
		sts = append(sts, st)
	}
	slices.SortFunc(sts, func(a, b *openTx) int {
		switch {
		case a.tx.seq < b.tx.seq:
			return -1
		case a.tx.seq > b.tx.seq:
			return 1
		}
		return 0
	})
	for _, st := range sts {
		e.closeTx(st)
	}
}
