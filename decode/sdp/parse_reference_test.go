package sdp

// The parser as it was before it stopped copying every line into a
// string: the tests check that Parse reads every input into the Session
// this one does.

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
)

// referenceParse reads a session description (RFC 8866). It is lenient, as
// receivers must be: lines may end in CRLF or LF, unknown lines and
// attributes are ignored, and lines it cannot read are listed in
// Session.Defects. It fails only when the body does not start with "v=".
//
// Keys are never kept: a=crypto (RFC 4568) and a=ice-pwd are recorded as
// present and nothing more.
func referenceParse(body []byte) (*Session, error) {
	rest := bytes.TrimLeft(body, " \t\r\n")
	if !bytes.HasPrefix(rest, []byte("v=")) {
		return nil, ErrNotSDP
	}
	s := &Session{}
	var media *Media // the current m= section; nil at session level
	var sessionConn bool
	lineNo := 0
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		lineNo++
		line = bytes.TrimRight(line, " \t\r")
		if len(line) < 2 || line[1] != '=' {
			continue // blank or not a type=value line: ignored
		}
		value := string(line[2:])
		switch line[0] {
		case 'o':
			if media == nil && !refParseOrigin(&s.Origin, value) {
				refDefect(s, lineNo, "o= does not have six fields")
			}
		case 'c':
			addr, ok := refParseConnection(value)
			if !ok {
				refDefect(s, lineNo, "c= address is not an IP address")
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
				refDefect(s, lineNo, "too many m= sections")
				media = &Media{} // read and dropped
				continue
			}
			s.Media = append(s.Media, Media{})
			media = &s.Media[len(s.Media)-1]
			if reason := refParseMedia(media, value); reason != "" {
				refDefect(s, lineNo, reason)
			}
		case 'a':
			if reason := refAttribute(s, media, value); reason != "" {
				refDefect(s, lineNo, reason)
			}
		}
	}
	if s.Direction == "" {
		s.Direction = "sendrecv"
	}
	for i := range s.Media {
		m := &s.Media[i]
		if !m.Connection.IsValid() {
			m.Connection = s.Connection
		}
		if m.Direction == "" {
			m.Direction = s.Direction
		}
	}
	return s, nil
}

func refDefect(s *Session, line int, reason string) {
	if len(s.Defects) < maxDefects {
		s.Defects = append(s.Defects, "line "+strconv.Itoa(line)+": "+reason)
	}
}

// parseOrigin reads "o=<username> <sess-id> <sess-version> <nettype>
// <addrtype> <unicast-address>" (RFC 8866 §5.2).
func refParseOrigin(o *Origin, v string) bool {
	f := strings.Fields(v)
	if len(f) != 6 {
		return false
	}
	*o = Origin{Username: f[0], SessionID: f[1], Version: f[2], AddressType: f[4], Address: f[5]}
	return true
}

// parseConnection reads "c=IN IP4 <addr>[/<ttl>[/<count>]]" or
// "c=IN IP6 <addr>[/<count>]" (RFC 8866 §5.7). A host name is not an
// address callscope can match packets against, so it reads as not ok.
func refParseConnection(v string) (netip.Addr, bool) {
	f := strings.Fields(v)
	if len(f) != 3 || f[0] != "IN" {
		return netip.Addr{}, false
	}
	a := f[2]
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
func refParseMedia(m *Media, v string) string {
	f := strings.Fields(v)
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
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "m= port is not a number"
	}
	m.Port = uint16(p)
	if len(f) > 3 {
		m.Formats = f[3:]
	}
	return ""
}

// attribute reads one a= line at session level (m == nil) or in m.
func refAttribute(s *Session, m *Media, v string) string {
	name, value, _ := strings.Cut(v, ":")
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
		pt, rm, ok := refParseRTPMap(value, m.Type == "audio")
		if !ok {
			return "a=rtpmap is not <payload type> <encoding>/<clock rate>[/<channels>]"
		}
		if m.RTPMap == nil {
			m.RTPMap = make(map[uint8]RTPMap)
		}
		m.RTPMap[pt] = rm
	case "rtcp":
		if m == nil {
			return ""
		}
		f := strings.Fields(value)
		if len(f) == 0 {
			return "a=rtcp without a port"
		}
		p, err := strconv.ParseUint(f[0], 10, 16)
		if err != nil {
			return "a=rtcp port is not a number"
		}
		m.RTCPPort = uint16(p)
		if len(f) == 4 {
			if addr, ok := refParseConnection(strings.Join(f[1:], " ")); ok {
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
		c, ok := refParseCandidate(value)
		if !ok {
			return "a=candidate is not an RFC 8839 candidate"
		}
		if len(m.Candidates) < maxCandidates {
			m.Candidates = append(m.Candidates, c)
		}
	}
	return ""
}

// parseRTPMap reads "<payload type> <encoding name>/<clock rate>[/<encoding
// parameters>]" (RFC 8866 §6.6).
func refParseRTPMap(v string, audio bool) (uint8, RTPMap, bool) {
	ptText, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return 0, RTPMap{}, false
	}
	pt, err := strconv.ParseUint(ptText, 10, 7)
	if err != nil {
		return 0, RTPMap{}, false
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return 0, RTPMap{}, false
	}
	clock, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return 0, RTPMap{}, false
	}
	rm := RTPMap{Encoding: parts[0], ClockRate: uint32(clock)}
	if audio {
		rm.Channels = 1
	}
	if len(parts) == 3 {
		ch, err := strconv.ParseUint(parts[2], 10, 8)
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
func refParseCandidate(v string) (Candidate, bool) {
	f := strings.Fields(v)
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
