package sip

// Byte-level helpers shared by the start-line, header and value scanners.
// Values of folded headers still hold their CRLF and leading whitespace
// (joining them would mean copying), so every value scanner treats CR and
// LF as linear whitespace (RFC 3261 §25.1 LWS).

// isLWS reports linear whitespace inside a header value.
func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// tokenChars marks RFC 3261 §25.1 token characters:
// alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()

func isToken(c byte) bool { return tokenChars[c] }

func trimLWS(b []byte) []byte {
	for len(b) > 0 && isLWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isLWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func skipLWS(b []byte, i int) int {
	for i < len(b) && isLWS(b[i]) {
		i++
	}
	return i
}

func skipToken(b []byte, i int) int {
	for i < len(b) && isToken(b[i]) {
		i++
	}
	return i
}

// lower folds an ASCII letter to lower case.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares b with s, which must be lower case ASCII.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether b starts with s, which must be lower case.
func hasPrefixFold(b []byte, s string) bool {
	return len(b) >= len(s) && equalFold(b[:len(s)], s)
}

// skipQuoted returns the index just past the quoted-string starting at
// b[i] == '"' (RFC 3261 §25.1: quoted-pair is a backslash and any byte), and
// whether the closing quote was found; unterminated, it returns len(b).
func skipQuoted(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return len(b), false
}

// maxNumber bounds the numbers Parse accepts: a CSeq is below 2^31
// (RFC 3261 §8.1.1.5), and it keeps every value an int on 32-bit platforms.
// Larger values are defects, not silently wrapped.
const maxNumber = 1<<31 - 1

// parseNumber reads the decimal digits at b[i:] and returns the value, the
// index after the digits and whether there was at least one digit and the
// value stayed within maxNumber.
func parseNumber(b []byte, i int) (n int64, end int, ok bool) {
	start := i
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if n <= maxNumber {
			n = n*10 + int64(b[i]-'0')
		}
	}
	return n, i, i > start && n <= maxNumber
}

// parseWholeNumber reads b, LWS around it allowed, as a decimal number.
func parseWholeNumber(b []byte) (int64, bool) {
	b = trimLWS(b)
	n, end, ok := parseNumber(b, 0)
	return n, ok && end == len(b)
}
