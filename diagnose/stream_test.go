package diagnose

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestDSCPCounts checks the compact counts against a plain table of 64,
// with marks added in random orders: inline ones, a table beyond two
// values, values out of range ignored.
func TestDSCPCounts(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 9))
		var d DSCPCounts
		var want [64]uint64
		values := []int{46, 0, 34, 24, 63, 8}[:1+rng.IntN(6)]
		for range rng.IntN(40) {
			v, n := values[rng.IntN(len(values))], uint64(rng.IntN(4))
			if rng.IntN(20) == 0 {
				v = []int{-1, 64, 1000}[rng.IntN(3)]
			}
			d.Add(v, n)
			if v >= 0 && v < 64 {
				want[v] += n
			}
		}
		var total uint64
		wantAll := map[int]uint64{}
		for v, n := range want {
			if d.Packets(v) != n {
				t.Fatalf("seed %d: Packets(%d) = %d, want %d (%v)", seed, v, d.Packets(v), n, d)
			}
			total += n
			if n > 0 {
				wantAll[v] = n
			}
		}
		if d.Total() != total {
			t.Fatalf("seed %d: Total %d, want %d", seed, d.Total(), total)
		}
		var order []int
		got := map[int]uint64{}
		for v, n := range d.All() {
			order = append(order, v)
			got[v] = n
		}
		if !maps.Equal(got, wantAll) || !slices.IsSorted(order) {
			t.Fatalf("seed %d: All gives %v in order %v, want %v", seed, got, order, wantAll)
		}
		// The same counts added in another order are equal, and summing
		// them doubles every one.
		var other DSCPCounts
		for _, v := range slices.Backward(order) {
			other.Add(v, want[v])
		}
		if !d.Equal(&other) || !other.Equal(&d) {
			t.Fatalf("seed %d: %v and %v not equal", seed, d, other)
		}
		other.AddAll(&d)
		for v, n := range want {
			if other.Packets(v) != 2*n {
				t.Fatalf("seed %d: after AddAll, Packets(%d) = %d, want %d", seed, v, other.Packets(v), 2*n)
			}
		}
		if total > 0 && d.Equal(&DSCPCounts{}) {
			t.Fatalf("seed %d: %v equal to no counts", seed, d)
		}
	}
	if (&DSCPCounts{}).Packets(-1) != 0 || (&DSCPCounts{}).Packets(64) != 0 {
		t.Error("Packets out of range")
	}
}

// TestMediaFlowsFrames checks the frames of media flows: a flow of one
// stream shares its frames, a flow of several has theirs sorted, without
// duplicates, cut to MaxFramesPerFinding, and the streams' own are left
// as they were.
func TestMediaFlowsFrames(t *testing.T) {
	frames := func(from, step uint64, n int) []uint64 {
		var fs []uint64
		for i := range n {
			fs = append(fs, from+uint64(i)*step)
		}
		return fs
	}
	stream := func(src string, first []uint64, dscp int) *Stream {
		s := &Stream{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort("203.0.113.7:30000"), MediaType: "audio", Packets: uint64(len(first)),
			First: FrameRef{Frame: first[0]}, Last: FrameRef{Frame: first[len(first)-1]}, FirstFrames: first}
		s.DSCP.Add(dscp, s.Packets)
		return s
	}
	alone := stream("192.0.2.1:4000", frames(1, 2, 50), 46)
	a := stream("192.0.2.2:4000", frames(2, 2, 40), 46)
	b := stream("192.0.2.2:4000", append(frames(2, 4, 20), frames(3, 2, 30)...), 0) // overlaps a, not in order
	c := stream("192.0.2.3:4000", []uint64{9, 7, 5}, 46)                            // not in order
	keep := map[*Stream][]uint64{}
	for _, s := range []*Stream{alone, a, b, c} {
		keep[s] = slices.Clone(s.FirstFrames)
	}
	flows := mediaFlows([]*Stream{alone, a, b, c})
	if len(flows) != 3 {
		t.Fatalf("%d flows, want 3", len(flows))
	}
	if f := flows[0]; &f.Frames[0] != &alone.FirstFrames[0] || len(f.Frames) != 50 || cap(f.Frames) != 50 {
		t.Errorf("a flow of one stream in order does not share its frames")
	}
	merged := slices.Sorted(slices.Values(append(slices.Clone(a.FirstFrames), b.FirstFrames...)))
	merged = slices.Compact(merged)[:MaxFramesPerFinding]
	// Not the backing array of all 90 the streams had.
	if f := flows[1]; !slices.Equal(f.Frames, merged) || cap(f.Frames) >= 90 {
		t.Errorf("merged frames %v (cap %d), want %v", f.Frames, cap(f.Frames), merged)
	}
	if f := flows[1]; f.Packets != 90 || f.DSCP.Packets(46) != 40 || f.DSCP.Packets(0) != 50 || f.First.Frame != 2 || f.Last.Frame != 80 {
		t.Errorf("merged flow: %d packets, DSCP %v, frames %d-%d", f.Packets, f.DSCP, f.First.Frame, f.Last.Frame)
	}
	if f := flows[2]; !slices.Equal(f.Frames, []uint64{5, 7, 9}) {
		t.Errorf("frames of a stream out of order: %v", f.Frames)
	}
	for s, fs := range keep {
		if !slices.Equal(s.FirstFrames, fs) {
			t.Errorf("stream %s: first frames now %v, were %v", s.Src, s.FirstFrames, fs)
		}
	}
}
