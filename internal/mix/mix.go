// Package mix holds the hash finalizer the decoder's and the Engine's
// set-associative caches share.
package mix

// Mix64 is MurmurHash3's 64-bit finalizer: each input bit flips about half
// of the output bits, so the low or high bits of a mixed address or port
// index a cache evenly.
func Mix64(z uint64) uint64 {
	z ^= z >> 33
	z *= 0xff51afd7ed558ccd
	z ^= z >> 33
	z *= 0xc4ceb9fe1a85ec53
	z ^= z >> 33
	return z
}
