package mix

import (
	"math/bits"
	"testing"
)

// TestMix64Avalanche: flipping one input bit flips about half the output
// bits, which is what makes the caches' indexes spread.
func TestMix64Avalanche(t *testing.T) {
	for _, in := range []uint64{0x0a00000100000001, 0xc0a8010a000013c4, 1} {
		for bit := range 64 {
			d := bits.OnesCount64(Mix64(in) ^ Mix64(in^1<<bit))
			if d < 12 || d > 52 {
				t.Errorf("Mix64(%#x): flipping bit %d flips %d output bits", in, bit, d)
			}
		}
	}
	if Mix64(0) != 0 {
		t.Errorf("Mix64(0) = %#x; MurmurHash3's finalizer maps 0 to 0", Mix64(0))
	}
}
