package decode

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/callscope/callscope/internal/mix"
	"github.com/callscope/callscope/internal/packettime"
)

// endpointSet remembers the transport addresses (ip:port) that carried a
// STUN message recently. It is classification state, not analysis: TURN
// ChannelData (RFC 8656 §12.4) has a 1-byte signature that random UDP
// payloads match one time in sixteen, so a ChannelData guess is believed
// only on a flow one of whose ends has spoken STUN (an Allocate, a
// ChannelBind) within the TTL.
//
// Two generations of maps give an approximate LRU in O(1) with no list to
// maintain: adds go to cur; when cur is full it becomes prev and a fresh cur
// starts, so at most 2*half endpoints are kept and the least recently added
// are the ones forgotten.
type endpointSet struct {
	half      int
	ttl       time.Duration
	cur, prev map[netip.AddrPort]time.Time

	// flows remembers, per flow, the time of an end found to have spoken
	// STUN, so that ChannelData (every relayed media packet) costs one
	// compare instead of two map lookups. An entry is good while gen is the
	// set's: what add and the rotation do keeps the remembered time at or
	// before what the maps hold for that end, or starts a new generation.
	gen   uint64
	flows *[endpointFlowSlots]endpointFlow
}

// endpointFlowSlots is the size of endpointSet's flow cache, a power of
// two above the relayed flows of a busy TURN server's active calls.
const endpointFlowSlots = 1024

type endpointFlow struct {
	src, dst netip.AddrPort
	gen      uint64
	spoke    time.Time // when src or dst carried STUN
}

func (s *endpointSet) init(max int, ttl time.Duration) {
	s.half = max / 2
	if s.half < 1 {
		s.half = 1
	}
	s.ttl = ttl
	s.cur = make(map[netip.AddrPort]time.Time)
}

func (s *endpointSet) add(ep netip.AddrPort, now time.Time) {
	if !ep.IsValid() {
		return
	}
	t, ok := s.cur[ep]
	if !ok {
		if len(s.cur) >= s.half {
			// The endpoints of prev are forgotten.
			s.gen++
			s.prev, s.cur = s.cur, make(map[netip.AddrPort]time.Time, s.half)
		} else {
			t, ok = s.prev[ep]
		}
	}
	if ok && now.Before(t) {
		// Time stepped back: has will see an earlier time than a flow
		// may remember.
		s.gen++
	}
	s.cur[ep] = now
}

// hasEither reports has(src, now) || has(dst, now), remembering the
// answer for the flow.
func (s *endpointSet) hasEither(src, dst netip.AddrPort, now time.Time) bool {
	if s.flows == nil {
		s.flows = new([endpointFlowSlots]endpointFlow)
		s.gen++ // the zero generation is that of empty slots
	}
	f := &s.flows[endpointSlot(src, dst)]
	if f.gen == s.gen && f.src == src && f.dst == dst && packettime.Sub(now, f.spoke) <= s.ttl {
		return true
	}
	t, ok := s.lookup(src)
	if !ok || packettime.Sub(now, t) > s.ttl {
		if t, ok = s.lookup(dst); !ok || packettime.Sub(now, t) > s.ttl {
			return false
		}
	}
	*f = endpointFlow{src: src, dst: dst, gen: s.gen, spoke: t}
	return true
}

func (s *endpointSet) lookup(ep netip.AddrPort) (time.Time, bool) {
	t, ok := s.cur[ep]
	if !ok {
		t, ok = s.prev[ep]
	}
	return t, ok
}

func endpointSlot(src, dst netip.AddrPort) uint32 {
	// MurmurHash3's finalizer over the low halves of the addresses and the
	// ports: a multiplication alone carries only upwards, and would leave
	// the high bits the slot is taken from blind to the ports.
	a, b := src.Addr().As16(), dst.Addr().As16()
	h := mix.Mix64(binary.LittleEndian.Uint64(a[8:])) ^ binary.LittleEndian.Uint64(b[8:])
	return uint32(mix.Mix64(h^uint64(src.Port())<<16^uint64(dst.Port()))>>40) & (endpointFlowSlots - 1)
}

// has reports whether ep carried STUN within the TTL before now. Packet
// times may step back a little between interleaved files; that still
// counts as recent.
func (s *endpointSet) has(ep netip.AddrPort, now time.Time) bool {
	t, ok := s.lookup(ep)
	return ok && packettime.Sub(now, t) <= s.ttl
}
