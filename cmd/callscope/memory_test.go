package main

import "testing"

func TestGCPercentKeepsHeadroomBounded(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{20 * mb, 100},         // small heaps keep the default
		{heapHeadroomFrom, 50}, // 16 MB of headroom over 32 MB live
		{40 * mb, 40},
		{64 * mb, minGCPercent}, // 16 MB would be 25 %
		{1 << 40, minGCPercent}, // never below the floor
	} {
		if got := gcPercentFor(c.live, heapHeadroom); got != c.want {
			t.Errorf("gcPercentFor(%d MB) = %d, want %d", c.live/mb, got, c.want)
		}
	}
}
