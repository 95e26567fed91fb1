package sip

import "bytes"

// param reads one ";name[=value]" at v[i:], whitespace allowed around ';'
// and '=' (RFC 3261 §25.1 SEMI, EQUAL). found is false when v[i:] does not
// start with ';'. A quoted value is given without its quotes. A parameter
// without a value has an empty, non-nil value (for rport, RFC 3581).
func param(v []byte, i int) (name, value []byte, next int, found bool) {
	i = skipLWS(v, i)
	if i >= len(v) || v[i] != ';' {
		return nil, nil, i, false
	}
	i = skipLWS(v, i+1)
	s := i
	i = skipToken(v, i)
	name = v[s:i]
	j := skipLWS(v, i)
	if j >= len(v) || v[j] != '=' {
		return name, v[i:i], i, true
	}
	j = skipLWS(v, j+1)
	if j < len(v) && v[j] == '"' {
		e, closed := skipQuoted(v, j)
		if !closed {
			return name, v[j+1:], e, true
		}
		return name, v[j+1 : e-1], e, true
	}
	s = j
	// Values are tokens, hosts or IPv6 references ("received=[::1]" is
	// common even though RFC 3261 writes it bare): take all up to a
	// delimiter.
	for j < len(v) && !isLWS(v[j]) && v[j] != ';' && v[j] != ',' {
		j++
	}
	return name, v[s:j], j, true
}

// skipToComma returns the index of the next ',' outside quotes and <...>
// at or after i, or len(v).
func skipToComma(v []byte, i int) int {
	angle := false
	for ; i < len(v); i++ {
		switch v[i] {
		case '"':
			i, _ = skipQuoted(v, i)
			i--
		case '<':
			angle = true
		case '>':
			angle = false
		case ',':
			if !angle {
				return i
			}
		}
	}
	return len(v)
}

// parseVias reads every value of one Via header (RFC 3261 §20.42: values
// may share a header, separated by commas) and reports whether all were
// well formed.
func (m *Message) parseVias(v []byte) bool {
	ok := len(v) > 0
	for i := 0; i < len(v); i++ {
		i = skipLWS(v, i)
		if i >= len(v) {
			break
		}
		var via Via
		var good bool
		i, good = parseVia(&via, v, i)
		ok = ok && good
		m.NumVias++
		if len(m.Vias) < MaxVias {
			m.Vias = append(m.Vias, via) // within m.vias: never allocates
		}
		i = skipToComma(v, i)
	}
	return ok
}

// parseVia reads "SIP / 2.0 / UDP sent-by *(;param)" at v[i:] and returns
// where it stopped.
func parseVia(via *Via, v []byte, i int) (int, bool) {
	// sent-protocol: three tokens separated by '/', LWS allowed around.
	for part := 0; part < 3; part++ {
		if part > 0 {
			i = skipLWS(v, i)
			if i >= len(v) || v[i] != '/' {
				return i, false
			}
			i = skipLWS(v, i+1)
		}
		s := i
		i = skipToken(v, i)
		if i == s {
			return i, false
		}
		if part == 2 {
			via.Transport = v[s:i]
		}
	}
	i = skipLWS(v, i)
	s := i
	if i < len(v) && v[i] == '[' {
		e := bytes.IndexByte(v[i:], ']')
		if e < 0 {
			return len(v), false
		}
		i += e + 1
	}
	for i < len(v) && !isLWS(v[i]) && v[i] != ';' && v[i] != ',' {
		i++
	}
	if i == s {
		return i, false
	}
	via.SentBy = v[s:i]
	for {
		name, value, next, found := param(v, i)
		if !found {
			return next, true
		}
		i = next
		switch {
		case equalFold(name, "branch"):
			via.Branch = value
		case equalFold(name, "received"):
			via.Received = value
		case equalFold(name, "rport"):
			via.RPort = value
		}
	}
}

// parseNameAddr reads a From, To or Contact value (RFC 3261 §20.10):
// name-addr ([display-name] <URI>) or a bare addr-spec, then parameters;
// it stops at a ',' that starts the next Contact. expires, when not nil,
// receives the expires parameter.
func parseNameAddr(na *NameAddr, v []byte, expires *int) bool {
	i := skipLWS(v, 0)
	if i >= len(v) {
		return false
	}
	if v[i] == '"' {
		e, closed := skipQuoted(v, i)
		if !closed {
			return false
		}
		na.Display = v[i+1 : e-1]
		i = skipLWS(v, e)
		if i >= len(v) || v[i] != '<' {
			return false
		}
	}
	lt := -1
	for j := i; j < len(v); j++ {
		if c := v[j]; c == '<' {
			lt = j
			break
		} else if c == ';' || c == ',' {
			break
		} else if c == '"' {
			// A quote inside a token display name is malformed
			// ("f: \"arik\" <sip:...>" is in the wild); take the '<'
			// that follows, if any.
			if k := bytes.IndexByte(v[j:], '<'); k >= 0 {
				lt = j + k
			}
			break
		}
	}
	if lt >= 0 {
		if lt > i {
			na.Display = trimLWS(v[i:lt])
		}
		gt := bytes.IndexByte(v[lt+1:], '>')
		if gt < 0 {
			return false
		}
		na.URI = v[lt+1 : lt+1+gt]
		i = lt + 2 + gt
	} else {
		// An addr-spec cannot hold ',', ';' or '?' (RFC 3261 §20.10): its
		// parameters are the header's.
		s := i
		for i < len(v) && v[i] != ';' && v[i] != ',' && !isLWS(v[i]) {
			i++
		}
		na.URI = v[s:i]
	}
	splitURI(na)
	for {
		name, value, next, found := param(v, i)
		if !found {
			break
		}
		i = next
		switch {
		case equalFold(name, "tag"):
			na.Tag = value
		case expires != nil && equalFold(name, "expires"):
			if n, ok := parseWholeNumber(value); ok {
				*expires = int(n)
			}
		}
	}
	i = skipLWS(v, i)
	return len(na.URI) > 0 && (i == len(v) || v[i] == ',')
}

// splitURI fills User and Host from a sip:, sips: or tel: URI (RFC 3261
// §19.1.1, RFC 3966). A password in the userinfo is dropped.
func splitURI(na *NameAddr) {
	u := na.URI
	switch {
	case hasPrefixFold(u, "sip:"):
		u = u[4:]
	case hasPrefixFold(u, "sips:"):
		u = u[5:]
	case hasPrefixFold(u, "tel:"):
		u = u[4:]
		if semi := bytes.IndexByte(u, ';'); semi >= 0 {
			u = u[:semi]
		}
		na.User = u
		return
	default:
		return
	}
	if q := bytes.IndexByte(u, '?'); q >= 0 {
		u = u[:q]
	}
	// The user part may hold ';' (user-unreserved), so find '@' before
	// cutting the URI parameters.
	if at := bytes.IndexByte(u, '@'); at >= 0 {
		user := u[:at]
		if c := bytes.IndexByte(user, ':'); c >= 0 {
			user = user[:c]
		}
		na.User = user
		u = u[at+1:]
	}
	from := 0
	if len(u) > 0 && u[0] == '[' {
		if e := bytes.IndexByte(u, ']'); e >= 0 {
			from = e
		}
	}
	if semi := bytes.IndexByte(u[from:], ';'); semi >= 0 {
		u = u[:from+semi]
	}
	na.Host = u
}

// parseAuth reads a challenge or credentials (RFC 3261 §25.1, RFC 7616
// §3.3, §3.4): a scheme and comma-separated auth-params. The response and
// cnonce are credentials and are skipped, never stored. It stops at a token
// without '=', where another challenge would start (RFC 7235 §4.1), keeping
// the first.
func parseAuth(a *Auth, v []byte) bool {
	i := skipLWS(v, 0)
	s := i
	i = skipToken(v, i)
	if i == s {
		return false
	}
	a.Scheme = v[s:i]
	ok := true
	for {
		for i < len(v) && (v[i] == ',' || isLWS(v[i])) {
			i++
		}
		if i >= len(v) {
			return ok
		}
		s = i
		i = skipToken(v, i)
		name := v[s:i]
		if len(name) == 0 {
			return false
		}
		j := skipLWS(v, i)
		if j >= len(v) || v[j] != '=' {
			return ok
		}
		j = skipLWS(v, j+1)
		var value []byte
		if j < len(v) && v[j] == '"' {
			e, closed := skipQuoted(v, j)
			if closed {
				value = v[j+1 : e-1]
			} else {
				value, ok = v[j+1:], false
			}
			i = e
		} else {
			s = j
			for j < len(v) && v[j] != ',' && !isLWS(v[j]) {
				j++
			}
			value, i = v[s:j], j
		}
		switch {
		case equalFold(name, "username"):
			a.Username = value
		case equalFold(name, "realm"):
			a.Realm = value
		case equalFold(name, "nonce"):
			a.Nonce = value
		case equalFold(name, "algorithm"):
			a.Algorithm = value
		case equalFold(name, "qop"):
			a.QOP = value
		case equalFold(name, "uri"):
			a.URI = value
		case equalFold(name, "opaque"):
			a.Opaque = true
		case equalFold(name, "stale"):
			a.Stale = equalFold(value, "true")
		}
	}
}

// ReasonParts splits the Reason header (RFC 3326 §2): the protocol ("SIP",
// "Q.850"), the cause (-1 when absent or not a number) and the text.
func (m *Message) ReasonParts() (protocol []byte, cause int, text []byte) {
	v := m.ReasonHeader
	i := skipLWS(v, 0)
	s := i
	i = skipToken(v, i)
	protocol, cause = v[s:i], -1
	for {
		name, value, next, found := param(v, i)
		if !found {
			return protocol, cause, text
		}
		i = next
		switch {
		case equalFold(name, "cause"):
			if n, ok := parseWholeNumber(value); ok {
				cause = int(n)
			}
		case equalFold(name, "text"):
			text = value
		}
	}
}

// HasSDP reports an SDP body, alone or as a part of a multipart body (see
// SDP).
func (m *Message) HasSDP() bool { return m.SDP() != nil }

// SplitHostPort splits a Via sent-by or a URI host ("host", "host:port",
// "[2001:db8::1]:5060") into the host, without brackets, and the port, 0
// when absent. ok is false when the port is not a number from 1 to 65535 or
// a bracket is not closed.
func SplitHostPort(hp []byte) (host []byte, port int, ok bool) {
	hp = trimLWS(hp)
	rest := hp
	if len(hp) > 0 && hp[0] == '[' {
		e := bytes.IndexByte(hp, ']')
		if e < 0 {
			return hp, 0, false
		}
		host, rest = hp[1:e], hp[e+1:]
	} else if c := bytes.IndexByte(hp, ':'); c >= 0 {
		host, rest = hp[:c], hp[c:]
	} else {
		return hp, 0, len(hp) > 0
	}
	if len(rest) == 0 {
		return host, 0, len(host) > 0
	}
	if rest[0] != ':' {
		return host, 0, false
	}
	n, ok := parseWholeNumber(rest[1:])
	if !ok || n < 1 || n > 65535 {
		return host, 0, false
	}
	return host, int(n), len(host) > 0
}

// Branch is the topmost Via's branch parameter, which with the CSeq method
// identifies the transaction (RFC 3261 §17.2.3); nil when absent.
func (m *Message) Branch() []byte {
	if len(m.Vias) == 0 {
		return nil
	}
	return m.Vias[0].Branch
}
