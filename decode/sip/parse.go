package sip

import "bytes"

// Parse reads one whole message: a UDP datagram or a message framed by
// MessageLength. It resets m first. Leading CRLFs are skipped (RFC 3261
// §7.5), lines may end in CRLF or a bare LF (as Wireshark accepts), and
// only the first MaxMessageSize bytes are read.
//
// Parse fails only when the start line is not a SIP request or status line;
// anything wrong after it is counted in m.Defects and skipped, so a message
// a middlebox or a fuzzer damaged still yields its Call-ID and CSeq.
func (m *Message) Parse(b []byte) error {
	m.reset()
	if len(b) > MaxMessageSize {
		b = b[:MaxMessageSize]
		m.defect(MaxMessageSize, 0, "message longer than 64 KiB; the rest is ignored")
	}
	p := skipBlankLines(b)
	if p == len(b) {
		return &ParseError{Offset: p, Line: 1, Reason: "no start line"}
	}
	lineEnd, next := lineAt(b, p)
	if err := m.parseStartLine(b[p:lineEnd], p); err != nil {
		return err
	}
	m.StartLineOK = true

	s := headerScanner{b: b, p: next, line: 2}
	for {
		h, off, line, ok := s.next()
		if !ok {
			break
		}
		m.parseHeader(h, off, line)
	}
	if !s.ended {
		// Headers with no empty line after them: a datagram cut short or
		// a sender that omits it; there is no body either way.
		m.defect(len(b), s.line, "headers not ended by an empty line")
		m.Raw = b
		return nil
	}
	body := b[s.p:]
	if m.ContentLength >= 0 && m.ContentLength < len(body) {
		body = body[:m.ContentLength]
	}
	m.Body = body
	m.HeaderLen = s.p
	m.Raw = b[:s.p+len(body)]
	return nil
}

// reset is *m = Message{Expires: -1, MaxFwds: -1, ContentLength: -1,
// ContactExpires: -1} with m.Vias = m.vias[:0], but clears only the Via
// and credential storage the previous message used, which is most of a
// Message's two kilobytes: while the GC runs, clearing memory that holds
// pointers costs a write barrier per pointer, on every SIP message.
// TestResetClearsEveryField checks that no field is forgotten.
func (m *Message) reset() {
	clear(m.vias[:min(len(m.Vias), MaxVias)])
	if m.Challenge != nil {
		m.challenge = Auth{}
	}
	if m.Authorization != nil {
		m.authorization = Auth{}
	}
	m.Raw, m.StartLineOK = nil, false
	m.IsRequest, m.Method, m.RequestURI, m.StatusCode, m.Reason = false, nil, nil, 0, nil
	m.CallID, m.CSeq, m.CSeqMeth = nil, 0, nil
	m.From, m.To, m.Contact = NameAddr{}, NameAddr{}, NameAddr{}
	m.Expires, m.MaxFwds, m.UserAgent, m.uaFits = -1, -1, nil, false
	m.ContactStar, m.ContactExpires = false, -1
	m.Vias, m.NumVias = m.vias[:0], 0
	m.RecordRoutes = 0
	m.Challenge, m.Authorization = nil, nil
	m.ContentType, m.ContentLength, m.ReasonHeader, m.Body, m.HeaderLen = nil, -1, nil, nil, 0
	m.Defects, m.Defect = 0, ParseError{}
}

// skipBlankLines skips the CRLFs that may precede a start line (RFC 3261
// §7.5).
func skipBlankLines(b []byte) int {
	p := 0
	for p < len(b) && (b[p] == '\r' || b[p] == '\n') {
		p++
	}
	return p
}

// headerScanner walks the logical header lines after the start line: a
// line starting with SP or HTAB continues the previous header (RFC 3261
// §7.3.1), and the value keeps those line breaks, which the value scanners
// read as whitespace. Parse and MessageLength share it so that they agree
// on where the headers end and what Content-Length says.
type headerScanner struct {
	b     []byte
	p     int  // where the next line starts
	line  int  // that line's number, 1-based
	ended bool // the empty line was reached: p is where the body starts
}

// next returns the next header line, its offset and line number; ok is
// false at the empty line or at the end of b.
func (s *headerScanner) next() (h []byte, off, line int, ok bool) {
	if s.ended || s.p >= len(s.b) {
		return nil, 0, 0, false
	}
	end, next := lineAt(s.b, s.p)
	if end == s.p {
		s.ended, s.p = true, next
		return nil, 0, 0, false
	}
	off, line = s.p, s.line
	for next < len(s.b) && (s.b[next] == ' ' || s.b[next] == '\t') {
		end, next = lineAt(s.b, next)
		s.line++
	}
	s.p = next
	s.line++
	return s.b[off:end], off, line, true
}

// splitHeader splits a header line at its colon; HCOLON allows whitespace
// before it (RFC 3261 §25.1). It returns a reason when the line is not a
// header.
func splitHeader(h []byte) (name, value []byte, reason string) {
	// The usual line is a token, maybe blanks, then the colon, which is
	// then the first one (a token holds none): no search for it.
	i := skipToken(h, 0)
	j := i
	for j < len(h) && (h[j] == ' ' || h[j] == '\t') {
		j++
	}
	if i > 0 && j < len(h) && h[j] == ':' {
		return h[:i], trimLWS(h[j+1:]), ""
	}
	colon := bytes.IndexByte(h, ':')
	if colon < 0 {
		return nil, nil, "header line without a colon"
	}
	name = h[:colon]
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1]
	}
	if len(name) == 0 || skipToken(name, 0) != len(name) {
		return nil, nil, "header name is not a token"
	}
	return name, trimLWS(h[colon+1:]), ""
}

// lineAt finds the line starting at b[p]: end is where its content ends
// (before CRLF or LF) and next where the following line starts. A CR not
// followed by LF also ends a line, as in Wireshark's line finder, so a
// damaged line break does not swallow the next header.
func lineAt(b []byte, p int) (end, next int) {
	end, next = len(b), len(b)
	if i := bytes.IndexByte(b[p:], '\n'); i >= 0 {
		end, next = p+i, p+i+1
	}
	if end > p && b[end-1] == '\r' {
		end--
	}
	if c := bytes.IndexByte(b[p:end], '\r'); c >= 0 {
		return p + c, p + c + 1
	}
	return end, next
}

func (m *Message) defect(offset, line int, reason string) {
	if m.Defects == 0 {
		m.Defect = ParseError{Offset: offset, Line: line, Reason: reason}
	}
	m.Defects++
}

// parseStartLine reads a Request-Line (RFC 3261 §7.1) or Status-Line
// (§7.2). Methods are any token, as tshark counts them, so an extension or
// a damaged method ("REGIStER") still reads.
func (m *Message) parseStartLine(l []byte, off int) error {
	if hasPrefixFold(l, "sip/2.0 ") {
		i := len("SIP/2.0 ")
		code, end, ok := parseNumber(l, i)
		if !ok || end-i != 3 || code < 100 || code > 699 {
			return &ParseError{Offset: off + i, Line: 1, Reason: "status code is not a number from 100 to 699"}
		}
		if end < len(l) && !isLWS(l[end]) {
			return &ParseError{Offset: off + end, Line: 1, Reason: "status code not followed by a space"}
		}
		m.StatusCode = int(code)
		// An empty reason phrase is allowed; keep a non-nil view.
		m.Reason = trimLWS(l[min(end+1, len(l)):])
		return nil
	}
	i := skipToken(l, 0)
	if i == 0 || i == len(l) || l[i] != ' ' {
		return &ParseError{Offset: off + i, Line: 1, Reason: "not a SIP request or status line"}
	}
	uriStart := i + 1
	sp := bytes.LastIndexByte(l, ' ')
	if sp <= uriStart {
		return &ParseError{Offset: off + uriStart, Line: 1, Reason: "request line without a SIP version"}
	}
	if !equalFold(l[sp+1:], "sip/2.0") {
		return &ParseError{Offset: off + sp + 1, Line: 1, Reason: "request line does not end in SIP/2.0"}
	}
	m.IsRequest = true
	m.Method = l[:i]
	m.RequestURI = l[uriStart:sp]
	return nil
}

// parseHeader reads one logical header line h found at offset off.
func (m *Message) parseHeader(h []byte, off, line int) {
	name, v, reason := splitHeader(h)
	if reason != "" {
		m.defect(off, line, reason)
		return
	}
	switch lookupHeader(name) {
	case hdrVia:
		if !m.parseVias(v) {
			m.defect(off, line, "malformed Via")
		}
	case hdrFrom:
		if m.From.URI == nil && !parseNameAddr(&m.From, v, nil) {
			m.defect(off, line, "malformed From")
		}
	case hdrTo:
		if m.To.URI == nil && !parseNameAddr(&m.To, v, nil) {
			m.defect(off, line, "malformed To")
		}
	case hdrContact:
		if m.Contact.URI != nil || m.ContactStar {
			return
		}
		if len(v) == 1 && v[0] == '*' {
			m.ContactStar = true
			return
		}
		if !parseNameAddr(&m.Contact, v, &m.ContactExpires) {
			m.defect(off, line, "malformed Contact")
		}
	case hdrCallID:
		if m.CallID == nil {
			m.CallID = v
		}
	case hdrCSeq:
		if m.CSeqMeth != nil {
			return
		}
		n, end, ok := parseNumber(v, 0)
		meth := trimLWS(v[end:])
		if !ok || end == len(v) || !isLWS(v[end]) || len(meth) == 0 || skipToken(meth, 0) != len(meth) {
			m.defect(off, line, "CSeq is not a number and a method")
			return
		}
		m.CSeq = uint32(n)
		m.CSeqMeth = meth
	case hdrExpires:
		m.Expires = m.number(v, m.Expires, off, line, "Expires is not a number")
	case hdrMaxForwards:
		m.MaxFwds = m.number(v, m.MaxFwds, off, line, "Max-Forwards is not a number")
	case hdrContentLength:
		m.ContentLength = m.number(v, m.ContentLength, off, line, "Content-Length is not a number")
	case hdrRecordRoute:
		m.RecordRoutes += countValues(v)
	case hdrAuthorization, hdrProxyAuthorization:
		if m.Authorization == nil {
			m.Authorization = &m.authorization
			if !parseAuth(&m.authorization, v) {
				m.defect(off, line, "malformed credentials")
			}
			m.authorization.Proxy = len(name) > len("authorization")
		}
	case hdrWWWAuthenticate, hdrProxyAuthenticate:
		if m.Challenge == nil {
			m.Challenge = &m.challenge
			if !parseAuth(&m.challenge, v) {
				m.defect(off, line, "malformed challenge")
			}
			m.challenge.Proxy = len(name) > len("www-authenticate")
		}
	case hdrUserAgent, hdrServer:
		// User-Agent describes a client, Server a server (RFC 3261
		// §20.41, §20.35); keep the one that fits the message, or the
		// other when only it is present.
		fits := m.IsRequest == (len(name) == len("user-agent"))
		if m.UserAgent == nil || fits && !m.uaFits {
			m.UserAgent = v
			m.uaFits = fits
		}
	case hdrContentType:
		if m.ContentType == nil {
			m.ContentType = v
		}
	case hdrReason:
		if m.ReasonHeader == nil {
			m.ReasonHeader = v
		}
	}
}

// number reads a header that is a single number. The first occurrence wins
// (prev >= 0); a bad value is a defect and leaves the field absent.
func (m *Message) number(v []byte, prev, off, line int, reason string) int {
	if prev >= 0 {
		return prev
	}
	n, ok := parseWholeNumber(v)
	if !ok {
		m.defect(off, line, reason)
		return -1
	}
	return int(n)
}

// countValues counts the comma-separated values of a header such as
// Record-Route, ignoring commas inside quotes and <...> (a URI may hold
// them).
func countValues(v []byte) int {
	if len(trimLWS(v)) == 0 {
		return 0
	}
	n := 1
	for i := skipToComma(v, 0); i < len(v); i = skipToComma(v, i+1) {
		n++
	}
	return n
}
