package diagnose

import (
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

// defaultLifetime is the allocation lifetime a server grants when the
// response omits LIFETIME (RFC 8656 §7.2: 10 minutes by default).
const defaultLifetime = 600

// allocState is an allocation's correlation state beside its record.
type allocState struct {
	a           *Allocation
	lastAttempt *Transaction
	credentials bool // some Allocate attempt carried USERNAME
	confirmed   bool // some request on it succeeded: the server has it
	rejected    bool // preexisting: some request on it got an error
	deleted     bool
	expires     time.Time // zero: no lifetime known
	permissions map[netip.Addr]struct{}
	channels    map[uint16]int // channel number -> index in a.Channels
}

func (as *allocState) touch(m *decode.Message) { as.a.Last = frameRef(m) }

// allocation returns the allocation on a 5-tuple, creating a preexisting
// one when create is set and there is none. It returns nil when there is
// none, or when MaxAllocations is reached.
func (e *Engine) allocation(flow flowKey, m *decode.Message, create bool) *allocState {
	if as := e.allocations[flow]; as != nil {
		return as
	}
	if !create {
		return nil
	}
	return e.newAllocation(flow, m, true)
}

func (e *Engine) newAllocation(flow flowKey, m *decode.Message, preexisting bool) *allocState {
	if len(e.analysis.Allocations) >= e.maxAllocations {
		e.analysis.DroppedAllocations++
		return nil
	}
	as := &allocState{a: &Allocation{
		Client:      flow.client,
		Server:      flow.server,
		Transport:   flow.transport,
		Preexisting: preexisting,
		First:       frameRef(m),
		Last:        frameRef(m),
	}}
	e.allocations[flow] = as
	e.allocFlows.changed()
	e.analysis.Allocations = append(e.analysis.Allocations, as.a)
	e.allocList = append(e.allocList, as)
	return as
}

// allocationRequest attaches a new non-Binding request to the allocation on
// its 5-tuple.
func (e *Engine) allocationRequest(st *openTx, flow flowKey, m *decode.Message) {
	tx := st.tx
	var as *allocState
	switch tx.Method {
	case stun.MethodAllocate:
		as = e.allocations[flow]
		// A new Allocate after the allocation on this 5-tuple is gone starts
		// another one (RFC 8656 §7.2 allows reusing the 5-tuple once the
		// old allocation is deleted or expired). Otherwise it is one more
		// attempt: after a challenge, or a client that lost the answer.
		if as == nil || as.deleted || (as.confirmed && !as.expires.IsZero() && m.Time.After(as.expires)) {
			as = e.newAllocation(flow, m, false)
		}
		if as == nil {
			return
		}
		if len(as.a.Attempts) < e.maxAllocTx {
			as.a.Attempts = append(as.a.Attempts, tx)
		}
		as.lastAttempt = tx
		if tx.Username != "" {
			as.credentials = true
			as.a.Username, as.a.Realm = tx.Username, tx.Realm
		}
	case stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind, stun.MethodConnect:
		as = e.allocation(flow, m, true)
		if as == nil {
			return
		}
		if len(as.a.Requests) < e.maxAllocTx {
			as.a.Requests = append(as.a.Requests, tx)
		}
		if tx.Method == stun.MethodRefresh {
			as.a.Refreshes++
		}
		if as.a.Preexisting && as.a.Username == "" && tx.Username != "" {
			as.a.Username, as.a.Realm = tx.Username, tx.Realm
		}
	default:
		return
	}
	as.touch(m)
	st.alloc = as
}

// allocationResponse updates an allocation from the first answer to one of
// its transactions.
func (e *Engine) allocationResponse(as *allocState, tx *Transaction, m *decode.Message) {
	a := as.a
	if tx.Class == stun.ClassError {
		as.rejected = true
		return
	}
	as.confirmed = true
	switch tx.Method {
	case stun.MethodAllocate:
		a.Relayed, a.Mapped = tx.Relayed, tx.Mapped
		as.setLifetime(tx, m.Time)
	case stun.MethodRefresh:
		if tx.Lifetime == 0 || tx.GrantedLife == 0 {
			// A Refresh with LIFETIME 0 deletes the allocation, and a
			// success response granting 0 says it is gone (RFC 8656 §8),
			// as orphanResponse reads it too.
			as.markDeleted(m)
			return
		}
		as.setLifetime(tx, m.Time)
	case stun.MethodCreatePermission:
		// RFC 8656 §9: a permission is per IP address, ports are ignored.
		for _, p := range tx.Peers {
			as.addPermission(p.Addr(), m.Frame)
		}
	case stun.MethodChannelBind:
		if len(tx.Peers) == 0 {
			return
		}
		peer := tx.Peers[0]
		if as.channels == nil {
			as.channels = make(map[uint16]int)
		}
		if i, ok := as.channels[tx.Channel]; ok {
			// A refresh of the binding, or a rebinding once it expired.
			a.Channels[i].Peer = peer
		} else if len(a.Channels) < e.maxAllocTx {
			as.channels[tx.Channel] = len(a.Channels)
			a.Channels = append(a.Channels, ChannelBind{Number: tx.Channel, Peer: peer, Frame: m.Frame})
		}
		// RFC 8656 §11.2: binding a channel installs a permission too.
		as.addPermission(peer.Addr(), m.Frame)
	}
}

// setLifetime records the lifetime a success response granted: its
// LIFETIME, else the one requested, else the default.
func (as *allocState) setLifetime(tx *Transaction, at time.Time) {
	life := tx.GrantedLife
	if life < 0 {
		life = tx.Lifetime
	}
	as.grant(life, at)
}

func (as *allocState) grant(life int64, at time.Time) {
	if life < 0 {
		life = defaultLifetime
	}
	as.a.Lifetime = life
	as.expires = at.Add(time.Duration(life) * time.Second)
}

func (as *allocState) markDeleted(m *decode.Message) {
	as.deleted = true
	as.a.Deleted = frameRef(m)
	as.expires = time.Time{}
}

// orphanResponse learns what it can from a success response whose request
// was not seen: the server answering Allocate, Refresh, CreatePermission or
// ChannelBind proves an allocation on the 5-tuple it went to.
func (e *Engine) orphanResponse(m *decode.Message) {
	s := m.STUN
	if s.Class != stun.ClassSuccess {
		return
	}
	switch s.Method {
	case stun.MethodAllocate, stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind:
	default:
		return
	}
	as := e.allocation(flowKey{client: m.Dst, server: m.Src, transport: m.Transport}, m, true)
	if as == nil {
		return
	}
	as.touch(m)
	as.confirmed = true
	life := int64(-1)
	if s.HasLifetime {
		life = int64(s.Lifetime)
	}
	switch s.Method {
	case stun.MethodAllocate:
		as.a.Relayed, as.a.Mapped = s.XORRelayedAddress, s.XORMappedAddress
		as.grant(life, m.Time)
	case stun.MethodRefresh:
		if life == 0 {
			as.markDeleted(m)
		} else if life > 0 {
			as.grant(life, m.Time)
		}
	}
}

func (as *allocState) addPermission(ip netip.Addr, frame uint64) {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return
	}
	if as.permissions == nil {
		as.permissions = make(map[netip.Addr]struct{})
	}
	if _, ok := as.permissions[ip]; ok || len(as.permissions) >= MaxAllocationTransactions {
		return
	}
	as.permissions[ip] = struct{}{}
	as.a.Permissions = append(as.a.Permissions, Permission{Peer: ip, Frame: frame})
}

// observeIndication counts relayed data: Send indications go from the
// client to the server, Data indications the other way (RFC 8656 §10).
func (e *Engine) observeIndication(m *decode.Message) {
	s := m.STUN
	var as *allocState
	var c *RelayCounter
	switch s.Method {
	case stun.MethodSend:
		as = e.allocation(flowKey{client: m.Src, server: m.Dst, transport: m.Transport}, m, true)
		if as != nil {
			c = &as.a.Sent
		}
	case stun.MethodData:
		as = e.allocation(flowKey{client: m.Dst, server: m.Src, transport: m.Transport}, m, true)
		if as != nil {
			c = &as.a.Received
		}
	default:
		return
	}
	if as == nil {
		return
	}
	c.Packets++
	c.Bytes += uint64(dataLength(s.Raw))
	as.touch(m)
	e.observeRelayedMedia(m, s.Data, as)
}

// observeChannelData counts ChannelData (RFC 8656 §12.4) on a known
// allocation's 5-tuple. ChannelData alone does not make an allocation: its
// framing is too weak a signal on an arbitrary flow.
func (e *Engine) observeChannelData(m *decode.Message) {
	as, sent := e.allocationOnFlow(m)
	if as == nil {
		e.analysis.UnmatchedChannelData++
		return
	}
	c := &as.a.Received
	if sent {
		c = &as.a.Sent
	}
	c.Packets++
	c.ChannelData++
	c.Bytes += uint64(m.Channel.Length)
	as.touch(m)
	if m.Channel.IsRTP {
		// What observeRelayedMedia would parse, parsed by the decoder.
		e.observeRTPHeader(&m.Packet, &m.Channel.RTP, as)
		return
	}
	e.observeRelayedMedia(m, m.Channel.Payload, as)
}

// conclude sets an allocation's Outcome at the end of the capture.
func (e *Engine) conclude(as *allocState, end time.Time) {
	a := as.a
	if !as.expires.IsZero() {
		a.Expires = as.expires
	}
	switch {
	case as.deleted:
		a.Outcome = "deleted"
	case as.confirmed:
		a.Outcome = "allocated"
		if !as.expires.IsZero() && as.expires.Before(end) {
			a.Outcome = "expired"
		}
	case a.Preexisting:
		a.Outcome = "unanswered"
		if as.rejected {
			a.Outcome = "rejected"
		}
	default:
		last := as.lastAttempt
		switch {
		case last == nil || !last.Answered:
			a.Outcome = "unanswered"
		case last.ErrorCode == 401 && last.Username == "" && !as.credentials:
			a.Outcome = "challenged"
		default:
			a.Outcome = "rejected"
		}
	}
}
