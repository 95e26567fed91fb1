package sdp

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// maxDefects bounds Session.Defects, so hostile input cannot grow it.
const maxDefects = 16

// maxMedia bounds the m= sections kept; real offers have a handful.
const maxMedia = 64

// maxCandidates bounds the candidates kept per m= section.
const maxCandidates = 64

// ErrNotSDP is Parse's answer for a body whose first line is not "v=".
var ErrNotSDP = errors.New("sdp: the body does not start with a v= line")

// Parse reads a session description (RFC 8866). It is lenient, as
// receivers must be: lines may end in CRLF or LF, unknown lines and
// attributes are ignored, and lines it cannot read are listed in
// Session.Defects. It fails only when the body does not start with "v=".
//
// Keys are never kept: a=crypto (RFC 4568) and a=ice-pwd are recorded as
// present and nothing more.
func Parse(body []byte) (*Session, error) {
	if !startsWithVersion(body) {
		return nil, ErrNotSDP
	}
	return parseText(string(body)), nil
}

// startsWithVersion reports whether body's first non-blank bytes are "v=".
func startsWithVersion(body []byte) bool {
	i := 0
	for i < len(body) && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n') {
		i++
	}
	return len(body)-i >= 2 && body[i] == 'v' && body[i+1] == '='
}

// mediaSpans says where an m= section's formats, candidates and rtpmaps
// are in the parser's slices while the body is read: finish then gives
// each kind one allocation for the whole Session.
type mediaSpans struct {
	formatsStart, candidatesStart, rtpmapsStart int
	formatsEnd, candidatesEnd, rtpmapsEnd       int
}

type rtpmapEntry struct {
	pt uint8
	rm RTPMap
}

// parser reads one body, held as a single string (text): every value it
// finds is a substring of text until finish copies what the Session keeps,
// so a kept Session holds neither text nor the packet it came from, and
// reading costs no allocation per line.
type parser struct {
	s          *Session
	spans      []mediaSpans // one for each of s.Media
	dropped    Media        // m= sections beyond maxMedia: read for their defects only
	formats    []string
	candidates []Candidate
	rtpmaps    []rtpmapEntry
	fields     []string // scratch for splitFields
	keeper     stringKeeper
}

// parsers holds parsers between calls, so their scratch slices grow once.
var parsers = sync.Pool{New: func() any { return new(parser) }}

// parseText is Parse after the v= check; text is a copy of the body.
func parseText(text string) *Session {
	p := parsers.Get().(*parser)
	p.s = new(Session)
	p.read(text)
	s := p.finish()
	// The scratch slices keep their views of text until they are next
	// used: clearing them costs more than the few kilobytes a pooled
	// parser holds on to.
	*p = parser{spans: p.spans[:0], formats: p.formats[:0], candidates: p.candidates[:0], rtpmaps: p.rtpmaps[:0], fields: p.fields[:0],
		keeper: stringKeeper{fields: p.keeper.fields[:0]}}
	parsers.Put(p)
	return s
}

func (p *parser) read(body string) {
	s := p.s
	var media *Media      // the current m= section; nil at session level
	var spans *mediaSpans // its spans; nil for a dropped one
	var sessionConn bool
	lineNo := 0
	for len(body) > 0 {
		var line string
		if i := strings.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, ""
		}
		lineNo++
		for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t' || line[len(line)-1] == '\r') {
			line = line[:len(line)-1]
		}
		if len(line) < 2 || line[1] != '=' {
			continue // blank or not a type=value line: ignored
		}
		value := line[2:]
		switch line[0] {
		case 'o':
			if media == nil && !p.parseOrigin(&s.Origin, value) {
				s.defect(lineNo, "o= does not have six fields")
			}
		case 'c':
			addr, ok := p.parseConnection(value)
			if !ok {
				s.defect(lineNo, "c= address is not an IP address")
				continue
			}
			switch {
			case media != nil:
				if !media.Connection.IsValid() {
					media.Connection = addr
				}
			case !sessionConn:
				s.Connection, sessionConn = addr, true
			}
		case 'm':
			if len(s.Media) == maxMedia {
				s.defect(lineNo, "too many m= sections")
				p.dropped = Media{} // read and dropped
				media, spans = &p.dropped, nil
				continue
			}
			f, c, r := len(p.formats), len(p.candidates), len(p.rtpmaps)
			s.Media = append(s.Media, Media{})
			p.spans = append(p.spans, mediaSpans{
				formatsStart: f, candidatesStart: c, rtpmapsStart: r,
				formatsEnd: f, candidatesEnd: c, rtpmapsEnd: r,
			})
			media, spans = &s.Media[len(s.Media)-1], &p.spans[len(p.spans)-1]
			if reason := p.parseMedia(media, value); reason != "" {
				s.defect(lineNo, reason)
			}
			spans.formatsEnd = len(p.formats)
		case 'a':
			if reason := p.attribute(media, spans, value); reason != "" {
				s.defect(lineNo, reason)
			}
		}
	}
}

func (s *Session) defect(line int, reason string) {
	if len(s.Defects) < maxDefects {
		s.Defects = append(s.Defects, "line "+strconv.Itoa(line)+": "+reason)
	}
}

// splitFields is strings.Fields without its allocation: the fields of v
// in p.fields, valid until the next call.
func (p *parser) splitFields(v string) []string {
	f := p.fields[:0]
	start := -1 // where the current field starts; -1 between fields
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 0x80:
			// Unicode white space separates fields too; rare enough to
			// leave to strings.Fields.
			p.fields = append(f[:0], strings.Fields(v)...)
			return p.fields
		case asciiSpace[c]:
			if start >= 0 {
				f = append(f, v[start:i])
				start = -1
			}
		case start < 0:
			start = i
		}
	}
	if start >= 0 {
		f = append(f, v[start:])
	}
	p.fields = f
	return f
}

// asciiSpace is the ASCII white space strings.Fields splits at.
var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

// parseOrigin reads "o=<username> <sess-id> <sess-version> <nettype>
// <addrtype> <unicast-address>" (RFC 8866 §5.2).
func (p *parser) parseOrigin(o *Origin, v string) bool {
	f := p.splitFields(v)
	if len(f) != 6 {
		return false
	}
	*o = Origin{Username: f[0], SessionID: f[1], Version: f[2], AddressType: f[4], Address: f[5]}
	return true
}

// parseConnection reads "c=IN IP4 <addr>[/<ttl>[/<count>]]" or
// "c=IN IP6 <addr>[/<count>]" (RFC 8866 §5.7). A host name is not an
// address callscope can match packets against, so it reads as not ok.
func (p *parser) parseConnection(v string) (netip.Addr, bool) {
	f := p.splitFields(v)
	if len(f) != 3 {
		return netip.Addr{}, false
	}
	return connectionAddress(f[0], f[2])
}

// connectionAddress reads the nettype and address of a c= line or an
// a=rtcp (RFC 3605).
func connectionAddress(netType, a string) (netip.Addr, bool) {
	if netType != "IN" {
		return netip.Addr{}, false
	}
	if slash := strings.IndexByte(a, '/'); slash >= 0 {
		a = a[:slash]
	}
	addr, err := netip.ParseAddr(a)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// parseMedia reads "m=<media> <port>[/<number of ports>] <proto> <fmt> ..."
// (RFC 8866 §5.14) and returns a reason when it cannot.
func (p *parser) parseMedia(m *Media, v string) string {
	f := p.splitFields(v)
	if len(f) < 3 {
		return "m= has fewer than three fields"
	}
	m.Type, m.Proto, m.NumPorts = f[0], f[2], 1
	port := f[1]
	if slash := strings.IndexByte(port, '/'); slash >= 0 {
		n, err := strconv.ParseUint(port[slash+1:], 10, 16)
		if err != nil || n == 0 {
			return "m= number of ports is not a number"
		}
		m.NumPorts, port = int(n), port[:slash]
	}
	pt, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "m= port is not a number"
	}
	m.Port = uint16(pt)
	p.formats = append(p.formats, f[min(3, len(f)):]...)
	return ""
}

// attribute reads one a= line at session level (m == nil) or in m.
func (p *parser) attribute(m *Media, spans *mediaSpans, v string) string {
	s := p.s
	name, value := v, ""
	if colon := strings.IndexByte(v, ':'); colon >= 0 {
		name, value = v[:colon], v[colon+1:]
	}
	switch name {
	case "sendrecv", "sendonly", "recvonly", "inactive":
		if m != nil {
			m.Direction = name
		} else {
			s.Direction = name
		}
	case "rtpmap":
		if m == nil {
			return ""
		}
		pt, rm, ok := parseRTPMap(value, m.Type == "audio")
		if !ok {
			return "a=rtpmap is not <payload type> <encoding>/<clock rate>[/<channels>]"
		}
		if spans != nil {
			p.rtpmaps = append(p.rtpmaps, rtpmapEntry{pt, rm})
			spans.rtpmapsEnd = len(p.rtpmaps)
		}
	case "rtcp":
		if m == nil {
			return ""
		}
		f := p.splitFields(value)
		if len(f) == 0 {
			return "a=rtcp without a port"
		}
		port, err := strconv.ParseUint(f[0], 10, 16)
		if err != nil {
			return "a=rtcp port is not a number"
		}
		m.RTCPPort = uint16(port)
		if len(f) == 4 {
			if addr, ok := connectionAddress(f[1], f[3]); ok {
				m.RTCPAddr = addr
			}
		}
	case "rtcp-mux":
		if m != nil {
			m.RTCPMux = true
		}
	case "crypto":
		// Presence only: the key parameters are a secret (RFC 4568 §6.1).
		if m != nil {
			m.Crypto = true
		}
	case "ice-ufrag":
		if m != nil {
			m.IceUfrag = value
		} else {
			s.IceUfrag = value
		}
	case "ice-pwd":
		// Presence only: the password keys MESSAGE-INTEGRITY.
		if m != nil {
			m.IcePwdSet = true
		} else {
			s.IcePwdSet = true
		}
	case "fingerprint":
		if m != nil {
			m.Fingerprint = value
		} else {
			s.Fingerprint = value
		}
	case "setup":
		if m != nil {
			m.Setup = value
		} else {
			s.Setup = value
		}
	case "candidate":
		if m == nil {
			return ""
		}
		c, ok := p.parseCandidate(value)
		if !ok {
			return "a=candidate is not an RFC 8839 candidate"
		}
		if spans != nil && spans.candidatesEnd-spans.candidatesStart < maxCandidates {
			p.candidates = append(p.candidates, c)
			spans.candidatesEnd = len(p.candidates)
		}
	}
	return ""
}

// parseRTPMap reads "<payload type> <encoding name>/<clock rate>[/<encoding
// parameters>]" (RFC 8866 §6.6).
func parseRTPMap(v string, audio bool) (uint8, RTPMap, bool) {
	ptText, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, RTPMap{}, false
	}
	pt, err := strconv.ParseUint(ptText, 10, 7)
	if err != nil {
		return 0, RTPMap{}, false
	}
	name, rest, hasClock := strings.Cut(strings.TrimSpace(enc), "/")
	clockText, channelsText, hasChannels := strings.Cut(rest, "/")
	if name == "" || !hasClock || strings.IndexByte(channelsText, '/') >= 0 {
		// No encoding name, or not two or three parts split at '/'.
		return 0, RTPMap{}, false
	}
	clock, err := strconv.ParseUint(clockText, 10, 32)
	if err != nil {
		return 0, RTPMap{}, false
	}
	rm := RTPMap{Encoding: name, ClockRate: uint32(clock)}
	if audio {
		rm.Channels = 1
	}
	if hasChannels {
		ch, err := strconv.ParseUint(channelsText, 10, 8)
		if err != nil {
			return 0, RTPMap{}, false
		}
		rm.Channels = int(ch)
	}
	return uint8(pt), rm, true
}

// parseCandidate reads an ICE candidate (RFC 8839 §5.1):
// "<foundation> <component> <transport> <priority> <address> <port> typ
// <type> [raddr <addr>] [rport <port>] *(<name> <value>)".
func (p *parser) parseCandidate(v string) (Candidate, bool) {
	f := p.splitFields(v)
	if len(f) < 8 || f[6] != "typ" {
		return Candidate{}, false
	}
	comp, err := strconv.ParseUint(f[1], 10, 8)
	if err != nil {
		return Candidate{}, false
	}
	prio, err := strconv.ParseUint(f[3], 10, 32)
	if err != nil {
		return Candidate{}, false
	}
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil {
		return Candidate{}, false
	}
	c := Candidate{Foundation: f[0], Component: int(comp), Transport: f[2], Priority: uint32(prio), Type: f[7]}
	if addr, err := netip.ParseAddr(f[4]); err == nil && addr.Zone() == "" {
		c.Addr = netip.AddrPortFrom(addr.Unmap(), uint16(port))
	} else {
		c.Hostname = f[4]
		c.Addr = netip.AddrPortFrom(netip.Addr{}, uint16(port))
	}
	var raddr netip.Addr
	var rport uint64
	for i := 8; i+1 < len(f); i += 2 {
		switch f[i] {
		case "raddr":
			raddr, _ = netip.ParseAddr(f[i+1])
		case "rport":
			// Out of range, ParseUint gives the largest port with its
			// error: kept, as before.
			rport, _ = strconv.ParseUint(f[i+1], 10, 16)
		case "tcptype":
			c.TCPType = f[i+1]
		}
	}
	if raddr.IsValid() {
		c.Related = netip.AddrPortFrom(raddr.Unmap(), uint16(rport))
	}
	return c, true
}

// finish completes the Session: one allocation for the formats of all its
// media, one for the text of every string kept, and rtpmap tables shared
// with earlier Sessions that had the same rtpmaps.
func (p *parser) finish() *Session {
	s := p.s
	if s.Direction == "" {
		s.Direction = "sendrecv"
	}
	if cap(s.Media) > len(s.Media) {
		// append leaves spare room from three m= sections on; a kept
		// Session should not.
		s.Media = append([]Media(nil), s.Media...)
	}
	var formats []string
	var candidates []Candidate
	if len(p.formats) > 0 {
		formats = append([]string(nil), p.formats...)
	}
	if len(p.candidates) > 0 {
		candidates = append([]Candidate(nil), p.candidates...)
	}
	for i := range s.Media {
		sp := &p.spans[i]
		m := &s.Media[i]
		if !m.Connection.IsValid() {
			m.Connection = s.Connection
		}
		if m.Direction == "" {
			m.Direction = s.Direction
		}
		if sp.formatsEnd > sp.formatsStart {
			m.Formats = formats[sp.formatsStart:sp.formatsEnd:sp.formatsEnd]
		}
		if sp.candidatesEnd > sp.candidatesStart {
			m.Candidates = candidates[sp.candidatesStart:sp.candidatesEnd:sp.candidatesEnd]
		}
		if sp.rtpmapsEnd > sp.rtpmapsStart {
			m.RTPMap = sharedRTPMap(p.rtpmaps[sp.rtpmapsStart:sp.rtpmapsEnd])
		}
	}
	p.keeper.keep(s)
	return s
}
