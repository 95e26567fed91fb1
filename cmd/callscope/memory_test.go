package main

import "testing"

func TestGCPercentKeepsHeadroomBounded(t *testing.T) {
	const mb = 1 << 20
	for _, c := range []struct {
		live    uint64
		current int
		share   float64 // the collector's share of the CPU over its last cycle
		want    int
	}{
		{0, 100, 0, 100},
		{20 * mb, 100, 0.5, 100},        // small heaps keep the default
		{heapHeadroomFrom, 100, 0, 50},  // 16 MB of headroom over 32 MB live
		{40 * mb, 50, 0.02, 40},         // a collector that costs little
		{64 * mb, 40, 0, minGCPercent},  // 16 MB would be 25 %
		{1 << 40, 25, 0, minGCPercent},  // never below the floor
		{1 << 40, 25, gcShareLimit, 25}, // at the limit: stays
		{200 * mb, 25, 0.2, 50},         // twice the limit: twice the percent
		{200 * mb, 50, 0.6, 100},        // never above the default
		{200 * mb, 100, 0.05, 50},       // half the limit at 100: 50 keeps it there
		{200 * mb, 100, 0.01, minGCPercent},
	} {
		if got := gcPercentFor(c.live, heapHeadroom, c.current, c.share); got != c.want {
			t.Errorf("gcPercentFor(%d MB, at %d %%, share %.2f) = %d, want %d", c.live/mb, c.current, c.share, got, c.want)
		}
	}
}

// TestAverageShare: a brief burst of collections hardly moves the average
// share; a long one brings it to the burst's share.
func TestAverageShare(t *testing.T) {
	low := 0.02
	if got := averageShare(low, 0.25, 0.5); got >= gcShareLimit {
		t.Errorf("after 0.5 s at 50 %%: %.3f, want under the limit", got)
	}
	share := low
	for range 200 {
		share = averageShare(share, 0.05, 0.1) // 20 s at 50 %
	}
	if share < 0.49 || share > 0.5 {
		t.Errorf("after 20 s at 50 %%: %.3f", share)
	}
	if got := averageShare(0.3, 0, 0); got != 0.3 {
		t.Errorf("a cycle with no CPU time moved the share to %.3f", got)
	}
}
