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
	half int
	ttl  time.Duration
	// cur and prev map an endpoint to its index in curAt and prevAt, when
	// it last carried STUN: an endpoint already in cur (most of them: the
	// same ends keep talking) is renewed with one map lookup instead of a
	// lookup and an assignment, and the times hold no pointer.
	cur, prev     map[netip.AddrPort]int
	curAt, prevAt []packettime.Stamp

	// flows remembers, per flow, the time of an end found to have spoken
	// STUN, so that ChannelData (every relayed media packet) costs one
	// compare instead of two map lookups. An entry is good while gen is the
	// set's: what add and the rotation do keeps the remembered time at or
	// before what the maps hold for that end, or starts a new generation.
	gen   uint64
	flows *[endpointFlowSlots]endpointFlow

	// pairs remembers, per pair of ends, where addPair put them in curAt,
	// so that a request and its answer, or the next message between the
	// same two ends, renew them with no map lookup. An entry is good while
	// rotations is the set's: until cur is replaced, an index in it stays
	// its endpoint's.
	rotations uint64
	pairs     *[endpointFlowSlots]endpointPair
}

type endpointPair struct {
	a, b       netip.AddrPort
	rotations  uint64
	aIdx, bIdx int
}

// endpointFlowSlots is the size of endpointSet's flow cache, a power of
// two above the relayed flows of a busy TURN server's active calls.
const endpointFlowSlots = 1024

type endpointFlow struct {
	src, dst netip.AddrPort
	gen      uint64
	spoke    packettime.Stamp // when src or dst carried STUN
}

func (s *endpointSet) init(max int, ttl time.Duration) {
	s.half = max / 2
	if s.half < 1 {
		s.half = 1
	}
	s.ttl = ttl
	s.cur = make(map[netip.AddrPort]int)
}

func (s *endpointSet) add(ep netip.AddrPort, now time.Time) {
	if ep.IsValid() {
		s.addAt(ep, packettime.Of(now))
	}
}

// addPair is add(a, now) then add(b, now).
func (s *endpointSet) addPair(a, b netip.AddrPort, now time.Time) {
	at := packettime.Of(now)
	if !a.IsValid() || !b.IsValid() {
		if a.IsValid() {
			s.addAt(a, at)
		}
		if b.IsValid() {
			s.addAt(b, at)
		}
		return
	}
	if s.pairs == nil {
		s.pairs = new([endpointFlowSlots]endpointPair)
	}
	p := &s.pairs[endpointPairSlot(a, b)]
	if p.rotations == s.rotations && (p.a == a && p.b == b || p.a == b && p.b == a) {
		// Both ends take the same time: which index is whose does not
		// matter.
		s.renew(p.aIdx, at)
		s.renew(p.bIdx, at)
		return
	}
	ai := s.addAt(a, at)
	rotations := s.rotations
	bi := s.addAt(b, at)
	if s.rotations == rotations {
		*p = endpointPair{a: a, b: b, rotations: rotations, aIdx: ai, bIdx: bi}
	}
}

// endpointPairSlot is the same for (a, b) and (b, a): an answer finds the
// entry of its request.
func endpointPairSlot(a, b netip.AddrPort) uint32 {
	return uint32((endpointHash(a)+endpointHash(b))>>40) & (endpointFlowSlots - 1)
}

func endpointHash(ep netip.AddrPort) uint64 {
	b := ep.Addr().As16()
	return mix.Mix64(binary.LittleEndian.Uint64(b[8:]) ^ uint64(ep.Port())<<48)
}

// renew sets the time of the endpoint at i in curAt.
func (s *endpointSet) renew(i int, at packettime.Stamp) {
	if at.Sub(s.curAt[i]) < 0 {
		// Time stepped back: has will see an earlier time than a flow may
		// remember.
		s.gen++
	}
	s.curAt[i] = at
}

// addAt adds the valid ep and returns its index in curAt.
func (s *endpointSet) addAt(ep netip.AddrPort, at packettime.Stamp) int {
	if i, ok := s.cur[ep]; ok {
		s.renew(i, at)
		return i
	}
	if len(s.cur) >= s.half {
		// The endpoints of prev are forgotten; its map and times, cleared,
		// hold the next generation rather than become garbage.
		s.gen++
		s.rotations++
		prev, prevAt := s.prev, s.prevAt
		s.prev, s.prevAt = s.cur, s.curAt
		if prev == nil {
			prev = make(map[netip.AddrPort]int, s.half)
		}
		clear(prev)
		s.cur, s.curAt = prev, prevAt[:0]
	} else if i, ok := s.prev[ep]; ok && at.Sub(s.prevAt[i]) < 0 {
		s.gen++ // time stepped back, as above
	}
	i := len(s.curAt)
	s.cur[ep] = i
	s.curAt = append(s.curAt, at)
	return i
}

// hasEither reports has(src, now) || has(dst, now), remembering the
// answer for the flow.
func (s *endpointSet) hasEither(src, dst netip.AddrPort, now time.Time) bool {
	if s.flows == nil {
		s.flows = new([endpointFlowSlots]endpointFlow)
		s.gen++ // the zero generation is that of empty slots
	}
	at := packettime.Of(now)
	f := &s.flows[endpointSlot(src, dst)]
	if f.gen == s.gen && f.src == src && f.dst == dst && at.Sub(f.spoke) <= s.ttl {
		return true
	}
	t, ok := s.lookup(src)
	if !ok || at.Sub(t) > s.ttl {
		if t, ok = s.lookup(dst); !ok || at.Sub(t) > s.ttl {
			return false
		}
	}
	*f = endpointFlow{src: src, dst: dst, gen: s.gen, spoke: t}
	return true
}

func (s *endpointSet) lookup(ep netip.AddrPort) (packettime.Stamp, bool) {
	if i, ok := s.cur[ep]; ok {
		return s.curAt[i], true
	}
	if i, ok := s.prev[ep]; ok {
		return s.prevAt[i], true
	}
	return packettime.Stamp{}, false
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
	return ok && packettime.Of(now).Sub(t) <= s.ttl
}
