package sip

import "bytes"

// KeepAliveLength reports a CRLF keep-alive at the start of a stream
// (RFC 5626 §3.5.1): 4 for a "\r\n\r\n" ping, 2 for a "\r\n" pong, 0 when b
// does not start with one or might still become a ping ("\r\n\r"). A ping
// split across segments therefore reads as two pongs; both are keep-alives.
//
// A frame from MessageLength is a keep-alive exactly when
// KeepAliveLength(frame) == len(frame).
func KeepAliveLength(b []byte) int {
	if len(b) < 2 || b[0] != '\r' || b[1] != '\n' {
		return 0
	}
	if len(b) >= 4 && b[2] == '\r' && b[3] == '\n' {
		return 4
	}
	if len(b) == 3 && b[2] == '\r' {
		return 0
	}
	return 2
}

// MessageLength frames SIP on a stream (RFC 3261 §18.3): the headers up to
// the empty line plus Content-Length bytes of body. b starts at a message
// or keep-alive boundary. Lines are read as Parse reads them.
//
//   - complete: b holds the whole frame, the first n bytes (a keep-alive is
//     a frame of its own; see KeepAliveLength).
//   - !complete, err == nil: more bytes are needed; n is the frame's length
//     when the headers are already in, 0 otherwise.
//   - err == ErrTooLarge: the frame is n bytes, more than MaxMessageSize;
//     complete says whether b holds it all.
//   - any other error: the framing is lost (not a SIP start line, no
//     Content-Length, headers longer than MaxMessageSize); the stream
//     cannot be read further as SIP.
func MessageLength(b []byte) (n int, complete bool, err error) {
	if k := KeepAliveLength(b); k > 0 {
		return k, true, nil
	}
	if len(b) == 0 || len(b) < 4 && string(b) == "\r\n\r"[:len(b)] {
		return 0, false, nil // nothing yet, or the start of a ping
	}
	full := len(b) >= MaxMessageSize // nothing more may help
	limit := b[:min(len(b), MaxMessageSize)]
	start := skipBlankLines(limit)
	if bytes.IndexByte(limit[start:], '\n') < 0 {
		if full {
			return 0, false, &ParseError{Offset: start, Line: 1, Reason: "no end of the start line in 64 KiB"}
		}
		return 0, false, nil
	}
	if !LooksLikeSIP(limit[start:]) {
		return 0, false, &ParseError{Offset: start, Line: 1, Reason: "not a SIP start line"}
	}
	_, first := lineAt(limit, start)

	// Find the empty line; a line counts only once its terminator is in:
	// a trailing CR may still become CRLF.
	headersEnd := -1
	line := 2
	for p := first; p < len(limit); line++ {
		end, next := lineAt(limit, p)
		if next == len(limit) && limit[next-1] != '\n' {
			break
		}
		if end == p {
			headersEnd = next
			break
		}
		p = next
	}
	if headersEnd < 0 {
		if full {
			return 0, false, &ParseError{Offset: len(limit), Line: line, Reason: "headers longer than 64 KiB"}
		}
		return 0, false, nil
	}

	contentLength := -1
	s := headerScanner{b: limit[:headersEnd], p: first, line: 2}
	for contentLength < 0 {
		h, off, line, ok := s.next()
		if !ok {
			return 0, false, &ParseError{Offset: headersEnd, Line: s.line, Reason: "no Content-Length on a stream (RFC 3261 §18.3)"}
		}
		name, value, reason := splitHeader(h)
		if reason != "" || lookupHeader(name) != hdrContentLength {
			continue
		}
		v, ok := parseWholeNumber(value)
		if !ok {
			return 0, false, &ParseError{Offset: off, Line: line, Reason: "Content-Length is not a number"}
		}
		contentLength = int(v)
	}
	n = headersEnd + contentLength
	if n > MaxMessageSize {
		return n, len(b) >= n, ErrTooLarge
	}
	return n, len(b) >= n, nil
}
