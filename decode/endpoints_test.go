package decode

import (
	"math/rand/v2"
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

// TestEndpointSetHasEither checks the flow cache against the maps over a
// seeded random run: rotations of a small set, times that step back, TTL
// expiry, flows that collide in the cache.
func TestEndpointSetHasEither(t *testing.T) {
	var s endpointSet
	s.init(6, 10*time.Second)
	ep := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), uint16(3478+i%3))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := t0
	hits := 0
	for i := 0; i < 200_000; i++ {
		now = now.Add(time.Duration(rng.IntN(600)-100) * time.Millisecond)
		if rng.IntN(50) == 0 {
			now = now.Add(-8 * time.Second) // interleaved files
		}
		a, b := ep(rng.IntN(12)), ep(rng.IntN(12))
		if rng.IntN(8) == 0 {
			s.add(a, now)
			continue
		}
		want := s.has(a, now) || s.has(b, now)
		if got := s.hasEither(a, b, now); got != want {
			t.Fatalf("step %d: hasEither(%v, %v) = %v, has gives %v", i, a, b, got, want)
		}
		if want {
			hits++
		}
	}
	if hits == 0 {
		t.Fatal("no flow ever had a STUN end: the test checks nothing")
	}
}

// TestEndpointSetHasEitherTimeStepsBack: an end that spoke STUN again at
// an earlier packet time (files interleaved) must not stay believed on the
// strength of the later time a flow remembered.
func TestEndpointSetHasEitherTimeStepsBack(t *testing.T) {
	var s endpointSet
	s.init(100, 10*time.Second)
	a := netip.MustParseAddrPort("10.0.0.1:3478")
	b := netip.MustParseAddrPort("10.0.0.2:50000")
	s.add(a, t0.Add(20*time.Second))
	if !s.hasEither(a, b, t0.Add(25*time.Second)) {
		t.Fatal("a spoke STUN 5 s ago and is not believed")
	}
	s.add(a, t0.Add(time.Second))
	if got, want := s.hasEither(a, b, t0.Add(15*time.Second)), s.has(a, t0.Add(15*time.Second)); got != want {
		t.Errorf("after a step back: hasEither = %v, has = %v", got, want)
	}
}
