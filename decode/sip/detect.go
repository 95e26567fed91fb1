package sip

import "bytes"

// maxMethodLen bounds the method LooksLikeSIP accepts; the longest
// registered method (SUBSCRIBE, UNSUBSCRIBE-like extensions) is far shorter.
const maxMethodLen = 32

// LooksLikeSIP is a cheap start-line check, meant for payloads on any port:
// a status line "SIP/2.0 NNN " or a request line "METHOD sip:..." (or sips:,
// tel:) ending in " SIP/2.0". HTTP, RTSP and other text protocols fail it
// (their URIs and versions differ). Leading CRLFs are skipped as Parse
// skips them.
func LooksLikeSIP(b []byte) bool {
	for len(b) > 0 && (b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	if hasPrefixFold(b, "sip/2.0 ") {
		if len(b) < 12 || b[8] < '1' || b[8] > '6' || !isDigit(b[9]) || !isDigit(b[10]) {
			return false
		}
		c := b[11]
		return c == ' ' || c == '\t' || c == '\r' || c == '\n'
	}
	i := skipToken(b, 0)
	if i == 0 || i > maxMethodLen || i >= len(b) || b[i] != ' ' {
		return false
	}
	uri := b[i+1:]
	if !hasPrefixFold(uri, "sip:") && !hasPrefixFold(uri, "sips:") && !hasPrefixFold(uri, "tel:") {
		return false
	}
	// The line ends at LF, CRLF or a lone CR, as Parse reads it.
	lf := bytes.IndexByte(uri, '\n')
	if lf < 0 {
		return false
	}
	line := uri[:lf]
	if cr := bytes.IndexByte(line, '\r'); cr >= 0 {
		line = line[:cr]
	}
	const version = " sip/2.0"
	if len(line) < len(version) || !equalFold(line[len(line)-len(version):], version) {
		return false
	}
	// The Request-URI holds no whitespace (RFC 3261 §7.1).
	return bytes.IndexByte(line[:len(line)-len(version)], ' ') < 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
