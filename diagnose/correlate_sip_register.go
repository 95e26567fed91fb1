package diagnose

import (
	"bytes"
	"math"
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode"
)

// regKey identifies a registration: the address-of-record, the registrar
// and the client's address (RFC 3261 §10.2).
type regKey struct {
	aor               string
	registrar, client netip.AddrPort
	transport         decode.Transport
}

type regState struct {
	reg                       *Registration
	successes                 int // 2xx that registered (Expires > 0)
	firstSuccess, lastSuccess time.Time
	// binding: a REGISTER asking for a binding (expires > 0, or no expiry
	// given) was seen, so removals no longer decide Outcome.
	binding bool
}

// removes says whether the REGISTER asks to remove bindings rather than
// make or refresh one (RFC 3261 §10.2.2).
func (st *openSIPTx) removes() bool { return st.regExpires == 0 || st.regRemoveAll }

func (e *Engine) registerRequest(st *openSIPTx, m *decode.Message) {
	s := &e.sip
	tx := st.tx
	st.regExpires = tx.Expires
	if v := m.SIP.ContactExpires; v >= 0 {
		// A Contact's expires parameter overrides the Expires header
		// (§10.2.1.1).
		st.regExpires = v
	}
	st.regRemoveAll = m.SIP.ContactStar
	tx.Deregister = st.removes()
	k := regKey{aor: tx.ToURI, registrar: m.Dst, client: m.Src, transport: m.Transport}
	rs := s.regs[k]
	if rs == nil {
		if len(s.regList) >= s.maxRegistrations {
			e.analysis.DroppedRegistrations++
			return
		}
		rs = &regState{reg: &Registration{
			AOR:       tx.ToURI,
			Client:    m.Src,
			Registrar: m.Dst,
			Transport: m.Transport,
			Expires:   -1,
			First:     frameRef(m),
		}}
		s.regs[k] = rs
		s.regList = append(s.regList, rs)
		e.analysis.Registrations = append(e.analysis.Registrations, rs.reg)
	}
	st.reg = rs
	r := rs.reg
	r.Last = frameRef(m)
	if st.removes() {
		r.Deregister, r.DeregisterStatus = "unanswered", 0
	} else {
		rs.binding = true
		r.Deregister, r.DeregisterStatus = "", 0
	}
	if r.Contact == "" {
		r.Contact = tx.Contact
	}
	if a := tx.Authorization; a != nil {
		r.Username, r.Realm = a.Username, a.Realm
	}
	if len(r.Transactions) < MaxRegistrationTransactions {
		r.Transactions = append(r.Transactions, tx)
	}
}

// registerResponse applies the first final response of a REGISTER: the
// latest final response decides the registration's outcome.
func (e *Engine) registerResponse(st *openSIPTx, resp *SIPResponse, m *decode.Message) {
	rs, tx := st.reg, st.tx
	r := rs.reg
	if st.removes() {
		r.DeregisterStatus = resp.Status
		switch {
		case resp.Status < 300:
			r.Deregister = "unregistered"
		case (resp.Status == 401 || resp.Status == 407) && tx.Authorization == nil:
			r.Deregister = "challenged"
		default:
			r.Deregister = "failed"
		}
		if rs.binding && resp.Status >= 300 {
			// A refused removal leaves the binding as the last
			// registering REGISTER made it.
			return
		}
	}
	r.FinalStatus = resp.Status
	switch {
	case resp.Status < 300:
		// The registrar grants an expiry per binding in the 2xx's Contact,
		// or in its Expires header (§10.2.4, §10.3 step 8).
		// The 2xx lists every binding of the AOR; ours is the one with the
		// request's Contact URI.
		granted := contactExpires(m.SIP.Raw, []byte(tx.Contact))
		if granted < 0 {
			granted = m.SIP.Expires
		}
		if granted == 0 || (granted < 0 && st.regExpires == 0) || st.regRemoveAll {
			r.Outcome = "unregistered"
			r.Expires = 0
			return
		}
		r.Outcome = "registered"
		r.Expires = granted
		rs.successes++
		if rs.successes == 1 {
			rs.firstSuccess = resp.Time
		}
		rs.lastSuccess = resp.Time
		r.Refreshes = rs.successes - 1
		if rs.successes > 1 {
			r.Interval = rs.lastSuccess.Sub(rs.firstSuccess) / time.Duration(rs.successes-1)
		}
	case (resp.Status == 401 || resp.Status == 407) && tx.Authorization == nil:
		// The normal first step (§22.2): the client retries with
		// credentials, and a later response overrides this one.
		r.Outcome = "challenged"
	default:
		r.Outcome = "failed"
	}
}

func (rs *regState) conclude() {
	if rs.reg.Outcome == "" {
		rs.reg.Outcome = "unanswered"
	}
}

// contactExpires returns the expires parameter of the Contact whose URI is
// uri (any Contact when uri is empty) in a message's headers, -1 when
// there is none. Folded lines are not followed: a Contact is short.
func contactExpires(raw, uri []byte) int {
	headers := raw
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		headers = raw[:i]
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		headers = raw[:i]
	}
	first := -1
	for n := 0; len(headers) > 0; n++ {
		line := headers
		if i := bytes.IndexByte(headers, '\n'); i >= 0 {
			line, headers = headers[:i], headers[i+1:]
		} else {
			headers = nil
		}
		if n == 0 {
			continue // the start line
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		name := bytes.TrimSpace(line[:colon])
		if !bytes.EqualFold(name, []byte("contact")) && !bytes.EqualFold(name, []byte("m")) {
			continue
		}
		for value := bytes.TrimSpace(line[colon+1:]); len(value) > 0; {
			var one []byte
			one, value = nextContact(value)
			u, v := contactURIAndExpires(one)
			if v < 0 {
				continue
			}
			if len(uri) == 0 || bytes.Equal(u, uri) {
				return v
			}
			if first < 0 {
				first = v
			}
		}
	}
	return first
}

// nextContact splits the first contact off a comma-separated Contact value;
// commas inside <...> or a quoted display name do not separate.
func nextContact(v []byte) (one, rest []byte) {
	inAngle, inQuote := false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case c == '"':
			inQuote = true
		case c == '<':
			inAngle = true
		case c == '>':
			inAngle = false
		case c == ',' && !inAngle:
			return v[:i], v[i+1:]
		}
	}
	return v, nil
}

// contactURIAndExpires reads one contact-param: the URI and its expires
// header parameter (RFC 3261 §20.10: without angle brackets, parameters
// after the URI are header parameters).
func contactURIAndExpires(c []byte) (uri []byte, expires int) {
	c = bytes.TrimSpace(c)
	var params []byte
	if lt := bytes.IndexByte(c, '<'); lt >= 0 {
		gt := bytes.IndexByte(c[lt:], '>')
		if gt < 0 {
			return nil, -1
		}
		uri, params = c[lt+1:lt+gt], c[lt+gt+1:]
	} else if semi := bytes.IndexByte(c, ';'); semi >= 0 {
		uri, params = c[:semi], c[semi:]
	} else {
		uri = c
	}
	expires = -1
	for len(params) > 0 {
		var p []byte
		if i := bytes.IndexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, nil
		}
		eq := bytes.IndexByte(p, '=')
		if eq < 0 || !bytes.EqualFold(bytes.TrimSpace(p[:eq]), []byte("expires")) {
			continue
		}
		expires = parseDeltaSeconds(bytes.TrimSpace(bytes.Trim(bytes.TrimSpace(p[eq+1:]), `"`)))
	}
	return bytes.TrimSpace(uri), expires
}

// maxDeltaSeconds is the largest delta-seconds: 2^32-1 (RFC 3261 §20.19
// says so for Expires), or math.MaxInt32 where int is 32 bits (386, arm:
// capture boxes), which is 68 years and means the same to every rule.
const maxDeltaSeconds = min(1<<32-1, math.MaxInt)

// parseDeltaSeconds reads delta-seconds (§25.1); a value too large is
// maxDeltaSeconds, junk is -1.
func parseDeltaSeconds(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		if v > (maxDeltaSeconds-int(c-'0'))/10 {
			v = maxDeltaSeconds
			continue
		}
		v = v*10 + int(c-'0')
	}
	return v
}
