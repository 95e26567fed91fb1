package decode

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// TestEndpointSetAddPair checks addPair against add, add over a seeded
// random run: rotations of a small set, times that step back, invalid
// ends, a pair whose ends are the same, pairs that collide in the cache.
func TestEndpointSetAddPair(t *testing.T) {
	var pair, single endpointSet
	pair.init(10, 10*time.Second)
	single.init(10, 10*time.Second)
	ep := func(i int) netip.AddrPort {
		if i == 0 {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), uint16(3478+i%3))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	now := t0
	hits := 0
	for i := 0; i < 50_000; i++ {
		now = now.Add(time.Duration(rng.IntN(600)-100) * time.Millisecond)
		if rng.IntN(50) == 0 {
			now = now.Add(-8 * time.Second)
		}
		a, b := ep(rng.IntN(14)), ep(rng.IntN(14))
		if p := pair.pairs; p != nil {
			e := &p[endpointPairSlot(a, b)]
			if e.rotations == pair.rotations && (e.a == a && e.b == b || e.a == b && e.b == a) {
				hits++
			}
		}
		pair.addPair(a, b, now)
		single.add(a, now)
		single.add(b, now)
		if pair.gen != single.gen {
			t.Fatalf("step %d: generation %d, add gives %d", i, pair.gen, single.gen)
		}
		for j := range 14 {
			e := ep(j)
			pt, pok := pair.lookup(e)
			st, sok := single.lookup(e)
			if pt != st || pok != sok {
				t.Fatalf("step %d: %v at %v %v, add gives %v %v", i, e, pt, pok, st, sok)
			}
		}
	}
	if hits == 0 {
		t.Fatal("the pair cache never hit: the test checks nothing")
	}
}
