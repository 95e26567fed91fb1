package sip

import "testing"

func TestLooksLikeSIP(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"INVITE sip:bob@example.com SIP/2.0\r\nVia: x\r\n", true},
		{"REGISTER sips:example.com SIP/2.0\r\n", true},
		{"INVITE tel:+15551234 SIP/2.0\n", true},
		{"REGIStER sip:x SIP/2.0\r\n", true}, // damaged method: tshark still calls it SIP
		{"DBREGISTER sip:1.1.1.1:5060 SIP/2.0\r\n", true},
		{"\r\n\r\nOPTIONS sip:x sip/2.0\r\n", true},
		{"SIP/2.0 200 OK\r\n", true},
		{"SIP/2.0 100 Trying", true},
		{"SIP/2.0 180\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"GET sip:x HTTP/1.1\r\n", false},
		{"OPTIONS rtsp://example.com/media RTSP/1.0\r\n", false},
		{"HTTP/1.1 200 OK\r\n", false},
		{"SIP/2.0 099 Bad\r\n", false},
		{"SIP/2.0 700 Bad\r\n", false},
		{"SIP/2.0 2x0 Bad\r\n", false},
		{"SIP/2.0 200", false},
		{"INVITE sip:bob@example.com SIP/2.0", false}, // the line end is not in the datagram
		{"INVITE sip:bob @example.com SIP/2.0\r\n", false},
		{"INVITE  sip:bob@example.com SIP/2.0\r\n", false},
		{"INV\x00TE sip:bob@example.com SIP/2.0\r\n", false},
		{"INVITE sip:bob@example.com SIP/3.0\r\n", false},
		{"THISMETHODNAMEISFARTOOLONGTOBEREAL sip:x SIP/2.0\r\n", false},
		{"\x00\x01\x00\x00\x21\x12\xa4\x42", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := LooksLikeSIP([]byte(tt.in)); got != tt.want {
			t.Errorf("LooksLikeSIP(%q) = %v", tt.in, got)
		}
	}
}

// Everything LooksLikeSIP accepts must parse.
func TestLooksLikeSIPParses(t *testing.T) {
	var m Message
	for _, in := range []string{"SIP/2.0 180\r\n", "INVITE tel:+1 SIP/2.0\n", "X sip: SIP/2.0\r\n"} {
		if !LooksLikeSIP([]byte(in)) {
			t.Fatalf("LooksLikeSIP(%q) = false", in)
		}
		if err := m.Parse([]byte(in)); err != nil {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
}
