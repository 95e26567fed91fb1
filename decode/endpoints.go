package decode

import (
	"net/netip"
	"time"
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
	if _, ok := s.cur[ep]; !ok && len(s.cur) >= s.half {
		s.prev, s.cur = s.cur, make(map[netip.AddrPort]time.Time, s.half)
	}
	s.cur[ep] = now
}

// has reports whether ep carried STUN within the TTL before now. Packet
// times may step back a little between interleaved files; that still
// counts as recent.
func (s *endpointSet) has(ep netip.AddrPort, now time.Time) bool {
	t, ok := s.cur[ep]
	if !ok {
		if t, ok = s.prev[ep]; !ok {
			return false
		}
	}
	return now.Sub(t) <= s.ttl
}
