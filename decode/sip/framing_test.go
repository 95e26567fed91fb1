package sip

import (
	"errors"
	"strings"
	"testing"
)

func TestMessageLength(t *testing.T) {
	invite := "INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nContent-Length: 5\r\n\r\nhello"
	tests := []struct {
		name     string
		in       string
		n        int
		complete bool
		err      string // "" for none, ErrTooLarge's text, or a ParseError reason
	}{
		{"whole message", invite, len(invite), true, ""},
		{"two messages back to back", invite + invite, len(invite), true, ""},
		{"body not all in", invite[:len(invite)-2], len(invite), false, ""},
		{"headers not all in", invite[:30], 0, false, ""},
		{"start line not all in", "INVI", 0, false, ""},
		{"empty", "", 0, false, ""},
		{"compact l and bare LF", "SIP/2.0 200 OK\nl: 3\n\nabcXYZ", 24, true, ""},
		{"zero length", "SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\nSIP/2.0", 41, true, ""},
		{"ping", "\r\n\r\nINVITE", 4, true, ""},
		{"pong", "\r\nINVITE", 2, true, ""},
		{"lone pong", "\r\n", 2, true, ""},
		{"partial ping", "\r\n\r", 0, false, ""},
		{"a CR", "\r", 0, false, ""},
		{"no Content-Length", "SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", 0, false, "no Content-Length on a stream (RFC 3261 §18.3)"},
		{"bad Content-Length", "SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n", 0, false, "Content-Length is not a number"},
		{"overflowing Content-Length", "SIP/2.0 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0, false, "Content-Length is not a number"},
		{"HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0, false, "not a SIP start line"},
		{"too large", "SIP/2.0 200 OK\r\nContent-Length: 70000\r\n\r\n", 41 + 70000, false, ErrTooLarge.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, complete, err := MessageLength([]byte(tt.in))
			var reason string
			var pe *ParseError
			switch {
			case errors.As(err, &pe):
				reason = pe.Reason
			case err != nil:
				reason = err.Error()
			}
			if n != tt.n || complete != tt.complete || reason != tt.err {
				t.Errorf("MessageLength = %d, %v, %v; want %d, %v, %q", n, complete, err, tt.n, tt.complete, tt.err)
			}
		})
	}
}

func TestMessageLengthLimits(t *testing.T) {
	junk := strings.Repeat("x", MaxMessageSize+10)
	if _, _, err := MessageLength([]byte(junk)); err == nil {
		t.Error("64 KiB without a line end: no error")
	}
	long := "SIP/2.0 200 OK\r\n" + strings.Repeat("X-Pad: 0123456789\r\n", MaxMessageSize/19+1)
	if _, _, err := MessageLength([]byte(long)); err == nil {
		t.Error("headers over 64 KiB: no error")
	}
	if _, _, err := MessageLength([]byte(long[:1000])); err != nil {
		t.Errorf("incomplete headers: %v", err)
	}
}

// A stream cut at every offset frames the same messages once the bytes
// are all in, and never reports a frame beyond what it was given.
func TestMessageLengthStream(t *testing.T) {
	stream := "\r\n\r\n" + string(mustRead(t, "testdata/invite.txt")) + "\r\n" +
		"SIP/2.0 100 Trying\r\nl: 0\r\n\r\n"
	want := []int{4, 1241, 2, 28}
	var got []int
	for b := []byte(stream); len(b) > 0; {
		for cut := 0; cut < len(b); cut++ {
			n, complete, err := MessageLength(b[:cut])
			if err != nil || complete && n > cut {
				t.Fatalf("at %d of %q: %d %v %v", cut, b[:min(cut, 20)], n, complete, err)
			}
		}
		n, complete, err := MessageLength(b)
		if err != nil || !complete {
			t.Fatalf("%d %v %v", n, complete, err)
		}
		got = append(got, n)
		b = b[n:]
	}
	if len(got) != len(want) {
		t.Fatalf("frames %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("frames %v, want %v", got, want)
		}
	}
}
