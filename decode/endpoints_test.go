package decode

import (
	"net/netip"
	"testing"
	"time"
)

func TestEndpointSetBounded(t *testing.T) {
	var s endpointSet
	s.init(8, time.Minute)
	ep := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 3478)
	}
	for i := 0; i < 1000; i++ {
		s.add(ep(i), t0)
		if n := len(s.cur) + len(s.prev); n > 8 {
			t.Fatalf("%d endpoints kept, limit 8", n)
		}
	}
	if !s.has(ep(999), t0) || !s.has(ep(995), t0) {
		t.Error("the most recent endpoints were forgotten")
	}
	if s.has(ep(0), t0) {
		t.Error("the oldest endpoint is still there")
	}
	if s.has(ep(999), t0.Add(2*time.Minute)) {
		t.Error("an endpoint outlived its TTL")
	}
	if s.has(netip.AddrPort{}, t0) {
		t.Error("the zero endpoint is known")
	}
}
