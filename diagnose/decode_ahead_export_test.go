package diagnose

// SetDecodeAhead turns decoding ahead (decode_ahead.go) on or off for a
// test and returns what restores it. With it off, reading ahead
// (prefetch.go) serves files.
func SetDecodeAhead(on bool) (restore func()) {
	was := decodeAheadOn
	decodeAheadOn = on
	return func() { decodeAheadOn = was }
}
