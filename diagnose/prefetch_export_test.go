package diagnose

// SetReadAhead turns reading ahead (prefetch.go) on or off for a test and
// returns what restores it.
func SetReadAhead(on bool) (restore func()) {
	was := readAhead
	readAhead = on
	return func() { readAhead = was }
}
