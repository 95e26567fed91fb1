package diagnose

import (
	"math/rand/v2"
	"testing"
)

// TestSeqTrackerSteadyPath compares update, with its shortcut for the
// next sequence number, with the general updateAny, state and verdict
// after every packet: runs in order long enough to fill the window,
// losses, duplicates, late packets, jumps and restarts, wrap-arounds.
func TestSeqTrackerSteadyPath(t *testing.T) {
	shortcuts := 0
	for seed := range uint64(100) {
		rng := rand.New(rand.NewPCG(seed, 9))
		seq := uint16(rng.Uint32())
		var fast, slow seqTracker
		fast.init(seq)
		slow.init(seq)
		for i := range 5000 {
			switch r := rng.IntN(1000); {
			case r < 900:
				seq++
			case r < 930:
				seq += uint16(2 + rng.IntN(20)) // lost
			case r < 960:
				// a duplicate
			case r < 990:
				seq -= uint16(1 + rng.IntN(200)) // late, or too late
			case r < 995:
				seq += uint16(rng.Uint32()) // a jump
			default:
				seq += uint16(StreamSeqWindow - 1 + rng.IntN(3))
			}
			if seq == fast.maxSeq+1 && fast.flushed+StreamSeqWindow == fast.maxExt()+1 {
				shortcuts++
			}
			vf, vs := fast.update(seq), slow.updateAny(seq)
			if vf != vs || fast != slow {
				t.Fatalf("seed %d packet %d (seq %d): verdict %d, want %d; state\n%+v, want\n%+v", seed, i, seq, vf, vs, fast, slow)
			}
		}
	}
	if shortcuts == 0 {
		t.Fatal("the shortcut was never taken")
	}
}
