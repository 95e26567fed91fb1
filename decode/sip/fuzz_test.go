package sip

import (
	"bytes"
	"testing"
	"unsafe"
)

// within reports whether field is nil or a slice of raw's bytes.
func within(raw, field []byte) bool {
	if field == nil {
		return true
	}
	if len(raw) == 0 {
		return len(field) == 0
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(field)))
	return p >= start && p+uintptr(len(field)) <= start+uintptr(len(raw))
}

func fuzzSeeds(f *testing.F) {
	f.Add(mustRead(f, "testdata/invite.txt"))
	for _, s := range []string{
		"SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"a\\\"b\", nonce=\"x,y\", qop=\"auth\"\r\nl: 0\r\n\r\n",
		"REGISTER sip:x SIP/2.0\nv: SIP/2.0/UDP [::1]:5060;rport;branch=z\n ;received=1.2.3.4\nm: *\n\n",
		"\r\n\r\n",
		"\r\n",
		"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"SIP/2.0 200 OK\r\nContent-Length: 5\r\n\r\nhelloSIP/2.0 100 Trying\r\nl: 0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
}

func FuzzParse(f *testing.F) {
	fuzzSeeds(f)
	var m Message
	f.Fuzz(func(t *testing.T, b []byte) {
		err := m.Parse(b)
		if (err == nil) != m.StartLineOK {
			t.Fatalf("err %v, StartLineOK %v", err, m.StartLineOK)
		}
		if LooksLikeSIP(b) && len(b) <= MaxMessageSize && err != nil {
			t.Fatalf("LooksLikeSIP but Parse: %v", err)
		}
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, m.Raw) || !within(b, m.Raw) {
			t.Fatal("Raw is not a prefix of the input")
		}
		if !bytes.HasSuffix(m.Raw, m.Body) || len(m.Raw) > MaxMessageSize {
			t.Fatalf("Body is not the end of Raw (%d bytes)", len(m.Raw))
		}
		if m.HeaderLen != 0 && (m.HeaderLen != len(m.Raw)-len(m.Body) || m.HeaderLen > len(b)) {
			t.Fatalf("HeaderLen %d, Raw %d bytes with a body of %d, input %d", m.HeaderLen, len(m.Raw), len(m.Body), len(b))
		}
		if m.ContentLength >= 0 && len(m.Body) > m.ContentLength {
			t.Fatalf("Body %d bytes for Content-Length %d", len(m.Body), m.ContentLength)
		}
		if m.IsRequest == (m.StatusCode != 0) || !m.IsRequest && (m.StatusCode < 100 || m.StatusCode > 699) {
			t.Fatalf("IsRequest %v, status %d", m.IsRequest, m.StatusCode)
		}
		if len(m.Vias) != min(m.NumVias, MaxVias) {
			t.Fatalf("%d Vias kept of %d", len(m.Vias), m.NumVias)
		}
		views := [][]byte{m.Method, m.RequestURI, m.Reason, m.CallID, m.CSeqMeth, m.UserAgent,
			m.ContentType, m.ReasonHeader, m.Body,
			m.From.URI, m.From.Tag, m.From.User, m.From.Host, m.From.Display,
			m.To.URI, m.To.Tag, m.Contact.URI, m.Contact.Host, m.Contact.User}
		for _, v := range m.Vias {
			views = append(views, v.Transport, v.SentBy, v.Branch, v.Received, v.RPort)
		}
		for _, a := range []*Auth{m.Challenge, m.Authorization} {
			if a != nil {
				views = append(views, a.Scheme, a.Username, a.Realm, a.Nonce, a.Algorithm, a.QOP, a.URI)
			}
		}
		for i, v := range views {
			if !within(m.Raw, v) && !within(b, v) {
				t.Fatalf("view %d (%q) is outside the message", i, v)
			}
		}
		if (m.Defects == 0) != (m.Defect.Reason == "") {
			t.Fatalf("%d defects, first %q", m.Defects, m.Defect.Reason)
		}
		m.ReasonParts()
		m.HasSDP()
		for _, v := range m.Vias {
			SplitHostPort(v.SentBy)
		}
	})
}

func FuzzMessageLength(f *testing.F) {
	fuzzSeeds(f)
	var m Message
	f.Fuzz(func(t *testing.T, b []byte) {
		n, complete, err := MessageLength(b)
		if complete && (n <= 0 || n > len(b)) {
			t.Fatalf("complete frame of %d bytes in %d", n, len(b))
		}
		if err == nil && !complete && n != 0 && n <= len(b) {
			t.Fatalf("incomplete, but %d bytes of %d", n, len(b))
		}
		if err != nil && err != ErrTooLarge && (n != 0 || complete) {
			t.Fatalf("error %v with n %d complete %v", err, n, complete)
		}
		if !complete || err != nil {
			return
		}
		frame := b[:n]
		if k := KeepAliveLength(frame); k == n {
			return
		} else if k != 0 {
			t.Fatalf("frame of %d starts with a keep-alive of %d", n, k)
		}
		if perr := m.Parse(frame); perr != nil {
			t.Fatalf("framed %q but Parse: %v", frame, perr)
		}
		if m.ContentLength < 0 || len(m.Body) != m.ContentLength || len(m.Raw) != n {
			t.Fatalf("frame %d bytes: Parse sees Content-Length %d, body %d, Raw %d", n, m.ContentLength, len(m.Body), len(m.Raw))
		}
	})
}
