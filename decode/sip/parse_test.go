package sip

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// crlf turns a readable "\n"-separated message into CRLF lines.
func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

// summary is the part of a Message the table tests compare, as strings so
// that failures print readably; "<nil>" stands for an absent field.
type summary struct {
	method, uri, reason     string
	status                  int
	callID                  string
	cseq                    uint32
	cseqMethod              string
	from, fromUser, fromTag string
	to, toTag, toDisplay    string
	contact, contactHost    string
	contactStar             bool
	contactExpires          int
	expires, maxFwds        int
	userAgent               string
	vias                    []string // transport sent-by branch received rport
	numVias                 int
	recordRoutes            int
	contentType             string
	contentLength, bodyLen  int
	reasonHeader            string
	defects                 int
}

func str(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return string(b)
}

func summarize(m *Message) summary {
	s := summary{
		method: str(m.Method), uri: str(m.RequestURI), reason: str(m.Reason), status: m.StatusCode,
		callID: str(m.CallID), cseq: m.CSeq, cseqMethod: str(m.CSeqMeth),
		from: str(m.From.URI), fromUser: str(m.From.User), fromTag: str(m.From.Tag),
		to: str(m.To.URI), toTag: str(m.To.Tag), toDisplay: str(m.To.Display),
		contact: str(m.Contact.URI), contactHost: str(m.Contact.Host), contactStar: m.ContactStar,
		contactExpires: m.ContactExpires, expires: m.Expires, maxFwds: m.MaxFwds,
		userAgent: str(m.UserAgent), numVias: m.NumVias, recordRoutes: m.RecordRoutes,
		contentType: str(m.ContentType), contentLength: m.ContentLength, bodyLen: len(m.Body),
		reasonHeader: str(m.ReasonHeader), defects: m.Defects,
	}
	for _, v := range m.Vias {
		s.vias = append(s.vias, strings.Join([]string{str(v.Transport), str(v.SentBy), str(v.Branch), str(v.Received), str(v.RPort)}, " "))
	}
	return s
}

func equalSummary(a, b summary) bool { return reflect.DeepEqual(a, b) }

// base is a summary with every field absent, for tables to start from.
func base() summary {
	return summary{
		method: "<nil>", uri: "<nil>", reason: "<nil>", callID: "<nil>", cseqMethod: "<nil>",
		from: "<nil>", fromUser: "<nil>", fromTag: "<nil>", to: "<nil>", toTag: "<nil>", toDisplay: "<nil>",
		contact: "<nil>", contactHost: "<nil>", contactExpires: -1, expires: -1, maxFwds: -1,
		userAgent: "<nil>", contentType: "<nil>", contentLength: -1, reasonHeader: "<nil>",
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want func(*summary)
	}{
		{
			name: "INVITE with SDP",
			in:   mustRead(t, "testdata/invite.txt"),
			want: func(s *summary) {
				s.method, s.uri = "INVITE", "sip:bob@biloxi.example.com"
				s.callID, s.cseq, s.cseqMethod = "a84b4c76e66710@pc33.atlanta.example.com", 314159, "INVITE"
				s.from, s.fromUser, s.fromTag = "sip:alice@atlanta.example.com", "alice", "1928301774"
				s.to, s.toDisplay = "sip:bob@biloxi.example.com", "Bob"
				s.contact, s.contactHost = "sip:alice@192.0.2.10:5060;transport=udp", "192.0.2.10:5060"
				s.maxFwds, s.userAgent, s.recordRoutes = 70, "ExamplePhone/4.2.1", 1
				s.vias = []string{"UDP 192.0.2.10:5060 z9hG4bK776asdhds <nil> ", "UDP proxy.atlanta.example.com:5060 z9hG4bK74bf9 198.51.100.3 <nil>"}
				s.numVias = 2
				s.contentType, s.contentLength, s.bodyLen = "application/sdp", 262, 262
			},
		},
		{
			name: "response, compact forms, lower-case names, bare LF",
			in: []byte("SIP/2.0 180 Ringing\n" +
				"v: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKa;received=2001:db8::9;rport=5062\n" +
				"f: <sip:alice@example.com>;tag=88\n" +
				"t: Bob <sip:bob@[2001:db8::2]:5070>;tag=99\n" +
				"i: abc@[2001:db8::1]\n" +
				"cseq: 2 INVITE\n" +
				"m: <sip:bob@[2001:db8::2]:5070;transport=tcp>\n" +
				"SERVER: pbx/1\n" +
				"user-agent: not-me\n" +
				"l: 0\n\n"),
			want: func(s *summary) {
				s.status, s.reason = 180, "Ringing"
				s.callID, s.cseq, s.cseqMethod = "abc@[2001:db8::1]", 2, "INVITE"
				s.from, s.fromUser, s.fromTag = "sip:alice@example.com", "alice", "88"
				s.to, s.toTag, s.toDisplay = "sip:bob@[2001:db8::2]:5070", "99", "Bob"
				s.contact, s.contactHost = "sip:bob@[2001:db8::2]:5070;transport=tcp", "[2001:db8::2]:5070"
				s.userAgent = "pbx/1"
				s.vias = []string{"TCP [2001:db8::1]:5060 z9hG4bKa 2001:db8::9 5062"}
				s.numVias = 1
				s.contentLength = 0
			},
		},
		{
			name: "several Vias in one header and in several headers, spaces in sent-protocol",
			in: crlf("OPTIONS sip:carol@chicago.example.com SIP/2.0\n" +
				"Via: SIP / 2.0 / UDP a.example.com;branch=z9hG4bK1 , SIP/2.0/TCP b.example.com:5080 ;branch=z9hG4bK2;rport\n" +
				"Via: SIP/2.0/TLS c.example.com;branch=\"z9hG4bK3\"\n" +
				"Call-ID: x\nCSeq: 7 OPTIONS\nMax-Forwards: 69\n\n"),
			want: func(s *summary) {
				s.method, s.uri = "OPTIONS", "sip:carol@chicago.example.com"
				s.callID, s.cseq, s.cseqMethod, s.maxFwds = "x", 7, "OPTIONS", 69
				s.vias = []string{"UDP a.example.com z9hG4bK1 <nil> <nil>", "TCP b.example.com:5080 z9hG4bK2 <nil> ", "TLS c.example.com z9hG4bK3 <nil> <nil>"}
				s.numVias = 3
			},
		},
		{
			name: "folded headers",
			in: crlf("REGISTER sip:registrar.example.com SIP/2.0\n" +
				"Via: SIP/2.0/UDP 10.0.0.1:5060\n ;branch=z9hG4bKfold\n" +
				"From: <sip:u@example.com>\n\t;tag=t1\n" +
				"To: <sip:u@example.com>\n" +
				"Call-ID: fold-1\n" +
				"CSeq: 9\n  REGISTER\n" +
				"Contact: <sip:u@10.0.0.1>;expires=600\n" +
				"Expires: 3600\n\n"),
			want: func(s *summary) {
				s.method, s.uri = "REGISTER", "sip:registrar.example.com"
				s.callID, s.cseq, s.cseqMethod = "fold-1", 9, "REGISTER"
				s.from, s.fromUser, s.fromTag = "sip:u@example.com", "u", "t1"
				s.to = "sip:u@example.com"
				s.contact, s.contactHost, s.contactExpires, s.expires = "sip:u@10.0.0.1", "10.0.0.1", 600, 3600
				s.vias = []string{"UDP 10.0.0.1:5060 z9hG4bKfold <nil> <nil>"}
				s.numVias = 1
			},
		},
		{
			name: "addr-spec without brackets, Contact star, Record-Route values",
			in: crlf("REGISTER sip:r.example.com SIP/2.0\n" +
				"From: sip:u:secret@example.com;tag=a1\n" +
				"To: tel:+15551234;phone-context=x\n" +
				"Contact: *\n" +
				"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr;x=\"a,b\">\n" +
				"Record-Route: <sip:p3.example.com,x;lr>\n" +
				"Expires: 0\n\n"),
			want: func(s *summary) {
				s.method, s.uri = "REGISTER", "sip:r.example.com"
				s.from, s.fromUser, s.fromTag = "sip:u:secret@example.com", "u", "a1"
				s.to = "tel:+15551234"
				s.contactStar, s.expires, s.recordRoutes = true, 0, 3
			},
		},
		{
			name: "Reason header, CANCEL, response with empty reason phrase",
			in:   crlf("SIP/2.0 487 \nReason: SIP ;cause=200 ;text=\"Call completed elsewhere\"\nCSeq: 1 INVITE\n\n"),
			want: func(s *summary) {
				s.status, s.reason = 487, ""
				s.cseq, s.cseqMethod = 1, "INVITE"
				s.reasonHeader = "SIP ;cause=200 ;text=\"Call completed elsewhere\""
			},
		},
		{
			name: "Content-Length larger than the body, and one smaller",
			in:   crlf("MESSAGE sip:a@b SIP/2.0\nContent-Type: text/plain\nContent-Length: 100\n\nhello"),
			want: func(s *summary) {
				s.method, s.uri = "MESSAGE", "sip:a@b"
				s.contentType, s.contentLength, s.bodyLen = "text/plain", 100, 5
			},
		},
		{
			name: "extra datagram bytes after Content-Length are discarded",
			in:   crlf("MESSAGE sip:a@b SIP/2.0\nl: 2\n\nhello"),
			want: func(s *summary) {
				s.method, s.uri = "MESSAGE", "sip:a@b"
				s.contentLength, s.bodyLen = 2, 2
			},
		},
		{
			name: "defects: line without colon, bad numbers, overflow, negative",
			in: crlf("INVITE sip:a@b SIP/2.0\n" +
				"this line has no colon\n" +
				"CSeq: 99999999999999999999 INVITE\n" +
				"Content-Length: -5\n" +
				"Max-Forwards: 4294967296\n" +
				"Expires: soon\n" +
				"Bad Name: x\n" +
				"Call-ID: still-here\n\n"),
			want: func(s *summary) {
				s.method, s.uri, s.callID = "INVITE", "sip:a@b", "still-here"
				s.defects = 6
			},
		},
		{
			name: "headers without the empty line, leading CRLFs",
			in:   []byte("\r\n\r\nBYE sip:a@b SIP/2.0\r\nCall-ID: cut\r\nCSeq: 3 BYE"),
			want: func(s *summary) {
				s.method, s.uri, s.callID, s.cseq, s.cseqMethod = "BYE", "sip:a@b", "cut", 3, "BYE"
				s.defects = 1
			},
		},
		{
			name: "more Vias than kept",
			in:   crlf("ACK sip:a@b SIP/2.0\n" + strings.Repeat("Via: SIP/2.0/UDP h;branch=b\n", MaxVias+3) + "\n"),
			want: func(s *summary) {
				s.method, s.uri = "ACK", "sip:a@b"
				for range MaxVias {
					s.vias = append(s.vias, "UDP h b <nil> <nil>")
				}
				s.numVias = MaxVias + 3
			},
		},
		{
			name: "escaped quotes around a display name",
			in:   crlf("INVITE sip:a@b SIP/2.0\nf: \\\"arik\\\" <sip:816666@voip.example.net>;tag=6433ef9\n\n"),
			want: func(s *summary) {
				s.method, s.uri = "INVITE", "sip:a@b"
				s.from, s.fromUser, s.fromTag = "sip:816666@voip.example.net", "816666", "6433ef9"
			},
		},
		{
			name: "malformed Via, From without closing bracket",
			in:   crlf("INFO sip:a@b SIP/2.0\nVia: SIP/2.0 h\nFrom: <sip:a@b\nTo: \"unterminated <sip:x@y>\n\n"),
			want: func(s *summary) {
				s.method, s.uri = "INFO", "sip:a@b"
				s.numVias = 1
				s.vias = []string{"<nil> <nil> <nil> <nil> <nil>"}
				s.from = "<nil>"
				s.defects = 3
			},
		},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Parse(tt.in); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := base()
			tt.want(&want)
			if len(m.Vias) > 0 && string(m.Branch()) != string(m.Vias[0].Branch) {
				t.Errorf("Branch() = %q", m.Branch())
			}
			if got := summarize(&m); !equalSummary(got, want) {
				t.Errorf("got  %+v\nwant %+v\nfirst defect: %v", got, want, &m.Defect)
			}
		})
	}
}

func mustRead(t testing.TB, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseStartLineErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		reason string
	}{
		{"", 0, "no start line"},
		{"\r\n\r\n", 4, "no start line"},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 6, "request line does not end in SIP/2.0"},
		{"SIP/2.0 20 OK\r\n", 8, "status code is not a number from 100 to 699"},
		{"SIP/2.0 700 Nope\r\n", 8, "status code is not a number from 100 to 699"},
		{"SIP/2.0 200OK\r\n", 11, "status code not followed by a space"},
		{"\x00\x01\x02\x03", 0, "not a SIP request or status line"},
		{"INVITE\r\n", 6, "not a SIP request or status line"},
		{"INVITE sip:a@b\r\n", 7, "request line without a SIP version"},
	}
	var m Message
	for _, tt := range tests {
		err := m.Parse([]byte(tt.in))
		pe, ok := err.(*ParseError)
		if !ok {
			t.Errorf("Parse(%q) = %v, want a *ParseError", tt.in, err)
			continue
		}
		if pe.Offset != tt.offset || pe.Reason != tt.reason || pe.Line != 1 {
			t.Errorf("Parse(%q) = %+v, want offset %d reason %q", tt.in, *pe, tt.offset, tt.reason)
		}
		if m.StartLineOK {
			t.Errorf("Parse(%q): StartLineOK with an error", tt.in)
		}
	}
}

func TestDefectPosition(t *testing.T) {
	var m Message
	in := crlf("INVITE sip:a@b SIP/2.0\nCall-ID: 1\nVia: SIP/2.0/UDP a\n ;branch=x\nnocolon\n\n")
	if err := m.Parse(in); err != nil {
		t.Fatal(err)
	}
	want := ParseError{Offset: strings.Index(string(in), "nocolon"), Line: 5, Reason: "header line without a colon"}
	if m.Defects != 1 || m.Defect != want {
		t.Fatalf("defect %+v (%d), want %+v", m.Defect, m.Defects, want)
	}
	if got := m.Defect.Error(); got != "sip: line 5 (offset 68): header line without a colon" {
		t.Errorf("Error() = %q", got)
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		header string
		proxy  bool
		want   Auth
	}{
		{
			name:   "challenge with quoted commas and escapes",
			header: `WWW-Authenticate: Digest realm="a, \"b\" c", nonce="n1,n2", qop="auth,auth-int", algorithm=MD5, opaque="", stale=TRUE`,
			want:   Auth{Realm: []byte(`a, \"b\" c`), Nonce: []byte("n1,n2"), QOP: []byte("auth,auth-int"), Algorithm: []byte("MD5"), Opaque: true, Stale: true},
		},
		{
			name:   "credentials: response and cnonce are dropped",
			header: `Proxy-Authorization: Digest username="bob",realm="r",nonce="n",uri="sip:x@y",response="SECRETRESPONSE",cnonce="SECRETCNONCE",qop=auth,nc=00000001,algorithm=SHA-256`,
			proxy:  true,
			want:   Auth{Username: []byte("bob"), Realm: []byte("r"), Nonce: []byte("n"), URI: []byte("sip:x@y"), QOP: []byte("auth"), Algorithm: []byte("SHA-256")},
		},
		{
			name:   "two challenges in one header keep the first",
			header: `Proxy-Authenticate: Digest realm="one", nonce="1", stale=false, Digest realm="two", nonce="2"`,
			proxy:  true,
			want:   Auth{Realm: []byte("one"), Nonce: []byte("1")},
		},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := "SIP/2.0 401 Unauthorized"
			if strings.Contains(tt.header, "Authorization") {
				start = "INVITE sip:a@b SIP/2.0"
			}
			in := crlf(start + "\n" + tt.header + "\n\n")
			if err := m.Parse(in); err != nil {
				t.Fatal(err)
			}
			a := m.Challenge
			if m.IsRequest {
				a = m.Authorization
				if m.Challenge != nil {
					t.Error("credentials also set Challenge")
				}
			}
			if a == nil {
				t.Fatal("no Auth")
			}
			tt.want.Scheme = []byte("Digest")
			tt.want.Proxy = tt.proxy
			if got, want := authString(a), authString(&tt.want); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
			if m.Defects != 0 {
				t.Errorf("defect %v", &m.Defect)
			}
			if s := authString(a); strings.Contains(s, "SECRET") {
				t.Errorf("credential kept: %s", s)
			}
		})
	}
}

func authString(a *Auth) string {
	return strings.Join([]string{str(a.Scheme), str(a.Username), str(a.Realm), str(a.Nonce), str(a.Algorithm),
		str(a.QOP), str(a.URI), boolString(a.Opaque), boolString(a.Stale), boolString(a.Proxy)}, "|")
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestReasonParts(t *testing.T) {
	var m Message
	if err := m.Parse(crlf("BYE sip:a@b SIP/2.0\nReason: Q.850;cause=16;text=\"Normal call clearing\"\n\n")); err != nil {
		t.Fatal(err)
	}
	if m.Branch() != nil {
		t.Errorf("Branch without a Via: %q", m.Branch())
	}
	proto, cause, text := m.ReasonParts()
	if string(proto) != "Q.850" || cause != 16 || string(text) != "Normal call clearing" {
		t.Errorf("ReasonParts = %q %d %q", proto, cause, text)
	}
	m.Parse(crlf("BYE sip:a@b SIP/2.0\n\n"))
	if proto, cause, text := m.ReasonParts(); len(proto) != 0 || cause != -1 || text != nil {
		t.Errorf("no Reason: %q %d %q", proto, cause, text)
	}
}

func TestHasSDP(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"INVITE sip:a@b SIP/2.0\nContent-Type: Application/SDP ; charset=utf-8\nContent-Length: 4\n\nv=0\n", true},
		{"INVITE sip:a@b SIP/2.0\nc: application/sdp\nl: 0\n\n", false},
		{"INVITE sip:a@b SIP/2.0\nc: application/pidf+xml\n\n<x/>", false},
	}
	var m Message
	for _, tt := range tests {
		m.Parse(crlf(tt.in))
		if got := m.HasSDP(); got != tt.want {
			t.Errorf("HasSDP(%q) = %v", tt.in, got)
		}
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port int
		ok   bool
	}{
		{"192.0.2.1:5060", "192.0.2.1", 5060, true},
		{"example.com", "example.com", 0, true},
		{"[2001:db8::1]:5060", "2001:db8::1", 5060, true},
		{"[2001:db8::1]", "2001:db8::1", 0, true},
		{"[2001:db8::1", "[2001:db8::1", 0, false},
		{"h:0", "h", 0, false},
		{"h:70000", "h", 0, false},
		{"h:x", "h", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		host, port, ok := SplitHostPort([]byte(tt.in))
		if string(host) != tt.host || port != tt.port || ok != tt.ok {
			t.Errorf("SplitHostPort(%q) = %q %d %v", tt.in, host, port, ok)
		}
	}
}

func TestParseCapsSize(t *testing.T) {
	in := append(crlf("MESSAGE sip:a@b SIP/2.0\nContent-Length: 100000\n\n"), make([]byte, 100000)...)
	var m Message
	if err := m.Parse(in); err != nil {
		t.Fatal(err)
	}
	if len(m.Raw) != MaxMessageSize || m.ContentLength != 100000 || m.Defects != 1 {
		t.Errorf("Raw %d bytes, Content-Length %d, %d defects", len(m.Raw), m.ContentLength, m.Defects)
	}
}

func TestParseReset(t *testing.T) {
	var m Message
	if err := m.Parse(mustRead(t, "testdata/invite.txt")); err != nil {
		t.Fatal(err)
	}
	if err := m.Parse(crlf("SIP/2.0 100 Trying\n\n")); err != nil {
		t.Fatal(err)
	}
	want := base()
	want.status, want.reason = 100, "Trying"
	if got := summarize(&m); !equalSummary(got, want) || m.Authorization != nil || m.IsRequest {
		t.Errorf("fields survived the reset: %+v", got)
	}
}

func TestParseAllocations(t *testing.T) {
	in := mustRead(t, "testdata/invite.txt")
	var m Message
	if n := testing.AllocsPerRun(100, func() { m.Parse(in) }); n != 0 {
		t.Errorf("Parse allocates %v times per message", n)
	}
	if n := testing.AllocsPerRun(100, func() { MessageLength(in) }); n != 0 {
		t.Errorf("MessageLength allocates %v times", n)
	}
}

// HeaderLen tells where the body starts in the input, whatever
// Content-Length says: it is how a datagram's real body is measured against
// Content-Length (RFC 3261 §18.3).
func TestHeaderLen(t *testing.T) {
	const head = "INVITE sip:b@h SIP/2.0\r\nContent-Length: 4\r\n\r\n"
	tests := []struct {
		name      string
		in        string
		headerLen int
		body      string
	}{
		{"body as long as Content-Length", head + "v=0\n", len(head), "v=0\n"},
		{"body longer: Body stops at Content-Length", head + "v=0\nextra", len(head), "v=0\n"},
		{"body shorter", head + "v=", len(head), "v="},
		{"no body", head, len(head), ""},
		{"leading CRLFs count", "\r\n\r\n" + head + "v=0\n", 4 + len(head), "v=0\n"},
		{"bare LF line ends", "SIP/2.0 200 OK\nl: 2\n\nab", len("SIP/2.0 200 OK\nl: 2\n\n"), "ab"},
		{"folded header", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n ;branch=z9hG4bKx\r\n\r\nab", len("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n ;branch=z9hG4bKx\r\n\r\n"), "ab"},
		{"headers never end: nothing to measure", "INVITE sip:b@h SIP/2.0\r\nContent-Length: 4\r\n", 0, ""},
	}
	var m Message
	for _, tt := range tests {
		if err := m.Parse([]byte(tt.in)); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if m.HeaderLen != tt.headerLen || string(m.Body) != tt.body {
			t.Errorf("%s: HeaderLen %d, Body %q; want %d, %q", tt.name, m.HeaderLen, m.Body, tt.headerLen, tt.body)
		}
		if m.HeaderLen > 0 && len(tt.in)-m.HeaderLen != len(tt.in)-len(m.Raw)+len(m.Body) {
			t.Errorf("%s: the input after HeaderLen is not Body plus what Content-Length cut", tt.name)
		}
	}
}
