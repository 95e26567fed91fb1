package sip

import "bytes"

// maxMultipartDepth bounds how deeply multipart bodies may nest before
// SDPBody stops looking: RFC 5621 allows nesting, real trunks send one
// level (SDP beside ISUP, PIDF-LO or SIPREC metadata), and the bound keeps
// a crafted body from costing more than a few passes over its bytes.
const maxMultipartDepth = 3

// maxBoundaryLen is RFC 2046 §5.1.1's limit: a boundary is 1 to 70
// characters.
const maxBoundaryLen = 70

// SDP returns the message's SDP body, a view into Body; nil when there is
// none. See SDPBody.
func (m *Message) SDP() []byte { return SDPBody(m.ContentType, m.Body) }

// SDPBody returns the SDP in a SIP body of the given Content-Type: the
// whole body when it is application/sdp (RFC 3261 §20.15; media types are
// case-insensitive, RFC 2045 §5.1, and may carry parameters), or the first
// application/sdp part of a multipart body (RFC 5621), nested up to
// maxMultipartDepth levels. The result is a sub-slice of body, nil when
// there is no non-empty SDP. It allocates nothing, and malformed bodies
// (no boundary, parts that never end) give nil.
//
// body is taken as it is: Parse has already cut it to Content-Length.
func SDPBody(contentType, body []byte) []byte {
	return sdpBody(contentType, body, maxMultipartDepth)
}

func sdpBody(contentType, body []byte, depth int) []byte {
	if len(body) == 0 {
		return nil
	}
	mediaType, params := contentType, len(contentType)
	if semi := bytes.IndexByte(contentType, ';'); semi >= 0 {
		mediaType, params = contentType[:semi], semi
	}
	mediaType = trimLWS(mediaType)
	switch {
	case equalFold(mediaType, "application/sdp"):
		return body
	case depth > 0 && hasPrefixFold(mediaType, "multipart/"):
		// Every multipart subtype is split the same way: RFC 2046 §5.1.7
		// says unknown subtypes are treated as multipart/mixed, and
		// alternative (§5.1.4), related (RFC 2387) and signed (RFC 1847,
		// S/MIME in RFC 3261 §23) differ only in what the parts mean.
		boundary := boundaryParam(contentType, params)
		if boundary == nil {
			return nil
		}
		return multipartSDP(body, boundary, depth-1)
	}
	return nil
}

// boundaryParam returns the boundary parameter of a Content-Type whose
// parameters start at contentType[i], without quotes (RFC 2046 §5.1.1
// allows a token or a quoted-string); nil when absent, empty or longer
// than RFC 2046 allows.
func boundaryParam(contentType []byte, i int) []byte {
	for {
		name, value, next, found := param(contentType, i)
		if !found {
			return nil
		}
		i = next
		if equalFold(name, "boundary") {
			if len(value) == 0 || len(value) > maxBoundaryLen {
				return nil
			}
			return value
		}
	}
}

// multipartSDP walks the body parts between boundary delimiter lines
// (RFC 2046 §5.1.1) and returns the SDP of the first part that has one.
// The preamble before the first delimiter and the epilogue after the
// close delimiter are ignored. A part counts only when a delimiter ends
// it: the bytes after the last delimiter of a body without its close
// delimiter may be cut short.
func multipartSDP(body, boundary []byte, depth int) []byte {
	_, p, last, found := nextDelimiter(body, 0, boundary)
	if !found || last {
		return nil
	}
	for {
		start := p
		end, next, last, found := nextDelimiter(body, start, boundary)
		if !found {
			return nil
		}
		// The line break before a delimiter belongs to the delimiter, not
		// to the part (RFC 2046 §5.1.1), so a part need not end in CRLF.
		if end > start && body[end-1] == '\n' {
			end--
			if end > start && body[end-1] == '\r' {
				end--
			}
		}
		if sdp := partSDP(body[start:end], depth); sdp != nil {
			return sdp
		}
		if last {
			return nil
		}
		p = next
	}
}

// nextDelimiter finds the first boundary delimiter line at or after
// body[from], which must start a line: the line's start, where the line
// after it starts, and whether it is the close delimiter ("--boundary--").
// Lines end in CRLF or a bare LF.
//
// A line is a delimiter when it starts with "--" and the boundary: RFC
// 2046 §5.1.1 says matching the start of the line is enough, whatever
// follows (transport padding, in practice).
func nextDelimiter(body []byte, from int, boundary []byte) (lineStart, next int, last, found bool) {
	for p := from; p < len(body); {
		rest := body[p:]
		if len(rest) >= 2+len(boundary) && rest[0] == '-' && rest[1] == '-' && bytes.Equal(rest[2:2+len(boundary)], boundary) {
			afterBoundary := p + 2 + len(boundary)
			after := body[afterBoundary:]
			last = len(after) >= 2 && after[0] == '-' && after[1] == '-'
			next = len(body)
			if nl := bytes.IndexByte(after, '\n'); nl >= 0 {
				next = afterBoundary + nl + 1
			}
			return p, next, last, true
		}
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			break
		}
		p += nl + 1
	}
	return 0, 0, false, false
}

// partSDP reads one body part: its headers up to the empty line, then its
// body (RFC 2046 §5.1.1 body-part). A part with no headers starts with the
// empty line, and a part without Content-Type is text/plain (RFC 2046
// §5.1), so neither is SDP; nor is a part that never reaches its empty
// line.
func partSDP(part []byte, depth int) []byte {
	s := headerScanner{b: part, line: 1}
	var contentType []byte
	for {
		h, _, _, ok := s.next()
		if !ok {
			break
		}
		name, value, reason := splitHeader(h)
		if reason != "" {
			continue
		}
		switch {
		case lookupHeader(name) == hdrContentType:
			// The compact form "c" too, as SIP allows and Wireshark's
			// multipart dissector accepts in parts.
			if contentType == nil {
				contentType = value
			}
		case equalFold(name, "content-transfer-encoding"):
			// base64 or quoted-printable bytes are not SDP until decoded,
			// which would mean copying; SIP sends binary parts (RFC 5621
			// §3.2), so this is rare.
			if !identityEncoding(value) {
				return nil
			}
		}
	}
	if !s.ended {
		return nil
	}
	return sdpBody(contentType, part[s.p:], depth)
}

// identityEncoding reports a Content-Transfer-Encoding that leaves the
// bytes as they are (RFC 2045 §6.2: 7bit, 8bit, binary).
func identityEncoding(v []byte) bool {
	return equalFold(v, "7bit") || equalFold(v, "8bit") || equalFold(v, "binary")
}
