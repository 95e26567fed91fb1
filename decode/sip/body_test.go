package sip

import (
	"strings"
	"testing"
)

// sdpBodyTests are bodies written with "\n" line ends; crlf turns them
// into CRLF unless bareLF is set. want is the SDP expected, "" for none.
var sdpBodyTests = []struct {
	name        string
	contentType string
	body        string
	bareLF      bool
	want        string
}{
	{name: "plain", contentType: "application/sdp", body: "v=0\no=- 1 1 IN IP4 192.0.2.1\n", want: "v=0\no=- 1 1 IN IP4 192.0.2.1\n"},
	{name: "plain, case and parameters", contentType: "Application/SDP ; charset=utf-8", body: "v=0\n", want: "v=0\n"},
	{name: "plain, empty body", contentType: "application/sdp", body: ""},
	{name: "plain, no Content-Type", contentType: "", body: "v=0\n"},
	{name: "other type", contentType: "application/sdpx", body: "v=0\n"},
	{name: "text/plain", contentType: "text/plain", body: "v=0\n"},

	// RFC 5621 §4 style: SDP beside ISUP (SIP-I, ITU-T Q.1912.5).
	{
		name:        "mixed, SDP then ISUP",
		contentType: "multipart/mixed;boundary=unique-boundary-1",
		body: "--unique-boundary-1\nContent-Type: application/sdp\n\nv=0\nm=audio 6000 RTP/AVP 0\n" +
			"--unique-boundary-1\nContent-Type: application/isup;version=itu-t92+\nContent-Disposition: signal;handling=optional\n\n\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\n" +
			"--unique-boundary-1--\n",
		want: "v=0\nm=audio 6000 RTP/AVP 0",
	},
	{
		name:        "mixed, PIDF-LO first, quoted boundary, preamble and epilogue",
		contentType: `Multipart/Mixed; BOUNDARY="boundary1'()+_,-./:=? x"`,
		body: "This is a preamble.\n--boundary1'()+_,-./:=? x\nContent-Type: application/pidf+xml\nContent-ID: <target123@atlanta.example.com>\n\n<presence/>\n" +
			"--boundary1'()+_,-./:=? x\nContent-Type: application/sdp\n\nv=0\n\n" +
			"--boundary1'()+_,-./:=? x--\nv=0 in the epilogue\n",
		want: "v=0\n",
	},
	{
		name:        "bare LF",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b\nContent-Type: application/sdp\n\nv=0\nm=audio 6000 RTP/AVP 0\n--b--\n",
		bareLF:      true,
		want:        "v=0\nm=audio 6000 RTP/AVP 0",
	},
	{
		name:        "transport padding and text after the boundary",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b \t\nContent-Type: application/sdp\n\nv=0\n--b-- \t\n",
		want:        "v=0",
	},
	{
		name:        "compact Content-Type, folded",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b\nc:\n application/sdp\n\nv=0\n--b--",
		want:        "v=0",
	},
	{
		name:        "alternative",
		contentType: "multipart/alternative; boundary=alt",
		body:        "--alt\nContent-Type: application/sdp\n\nv=0\n--alt\nContent-Type: application/sdp\n\nv=1\n--alt--\n",
		want:        "v=0",
	},
	{
		name:        "related",
		contentType: `multipart/related;type="application/rs-metadata+xml";boundary=rel`,
		body:        "--rel\nContent-Type: application/rs-metadata+xml\n\n<recording/>\n--rel\nContent-Type: application/sdp\n\nv=0\n--rel--\n",
		want:        "v=0",
	},
	{
		name:        "an unknown subtype is treated as mixed (RFC 2046 §5.1.7)",
		contentType: `multipart/signed;protocol="application/pkcs7-signature";boundary=s`,
		body:        "--s\nContent-Type: application/sdp\n\nv=0\n--s\nContent-Type: application/pkcs7-signature\n\nxxxx\n--s--\n",
		want:        "v=0",
	},
	{
		name:        "nested",
		contentType: "multipart/mixed;boundary=outer",
		body: "--outer\nContent-Type: application/isup\n\n\x01\x02\n" +
			"--outer\nContent-Type: multipart/alternative;\n boundary=\"inner\"\n\n" +
			"--inner\nContent-Type: text/plain\n\nhello\n--inner\nContent-Type: application/sdp\n\nv=0\n--inner--\n" +
			"--outer--\n",
		want: "v=0",
	},
	{
		name:        "nested three deep",
		contentType: "multipart/mixed;boundary=a",
		body:        "--a\nContent-Type: multipart/mixed;boundary=b\n\n--b\nContent-Type: multipart/mixed;boundary=c\n\n--c\nContent-Type: application/sdp\n\nv=0\n--c--\n--b--\n--a--\n",
		want:        "v=0",
	},
	{
		name:        "nested four deep",
		contentType: "multipart/mixed;boundary=a",
		body:        "--a\nContent-Type: multipart/mixed;boundary=b\n\n--b\nContent-Type: multipart/mixed;boundary=c\n\n--c\nContent-Type: multipart/mixed;boundary=d\n\n--d\nContent-Type: application/sdp\n\nv=0\n--d--\n--c--\n--b--\n--a--\n",
	},
	{
		name:        "a part without Content-Type is text/plain (RFC 2046 §5.1)",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b\nContent-ID: <x>\n\nv=0\n--b\n\nv=1\n--b\nContent-Type: application/sdp\n\nv=2\n--b--\n",
		want:        "v=2",
	},
	{
		name:        "an empty SDP part is skipped",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b\nContent-Type: application/sdp\n\n\n--b\nContent-Type: application/sdp\n\nv=0\n--b--\n",
		want:        "v=0",
	},
	{
		name:        "base64 is not SDP until decoded",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b\nContent-Type: application/sdp\nContent-Transfer-Encoding: base64\n\ndj0w\n--b\nContent-Type: application/sdp\nContent-Transfer-Encoding: Binary\n\nv=0\n--b--\n",
		want:        "v=0",
	},
	{
		name:        "the last part ends at a delimiter even without the close delimiter",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b\nContent-Type: application/sdp\n\nv=0\n--b\nContent-Type: application/isup\n\n\x01",
		want:        "v=0",
	},
	{
		name:        "70-character boundary",
		contentType: "multipart/mixed;boundary=" + strings.Repeat("x", 70),
		body:        "--" + strings.Repeat("x", 70) + "\nContent-Type: application/sdp\n\nv=0\n--" + strings.Repeat("x", 70) + "--\n",
		want:        "v=0",
	},

	// Malformed: nothing, and no panic.
	{
		name:        "71-character boundary",
		contentType: "multipart/mixed;boundary=" + strings.Repeat("x", 71),
		body:        "--" + strings.Repeat("x", 71) + "\nContent-Type: application/sdp\n\nv=0\n--" + strings.Repeat("x", 71) + "--\n",
	},
	{name: "no boundary", contentType: "multipart/mixed", body: "--b\nContent-Type: application/sdp\n\nv=0\n--b--\n"},
	{name: "empty boundary", contentType: `multipart/mixed;boundary=""`, body: "--\nContent-Type: application/sdp\n\nv=0\n----\n"},
	{name: "no delimiter", contentType: "multipart/mixed;boundary=b", body: "v=0\n"},
	{name: "close delimiter first", contentType: "multipart/mixed;boundary=b", body: "--b--\nContent-Type: application/sdp\n\nv=0\n--b--\n"},
	{
		name:        "unterminated SDP part",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b\nContent-Type: application/isup\n\n\x01\n--b\nContent-Type: application/sdp\n\nv=0\n",
	},
	{
		name:        "part headers without an empty line",
		contentType: "multipart/mixed;boundary=b",
		body:        "--b\nContent-Type: application/sdp\nv=0\n--b--\n",
	},
	{
		name:        "the boundary only inside a line",
		contentType: "multipart/mixed;boundary=b",
		body:        "x--b\nContent-Type: application/sdp\n\nv=0\nx--b--\n",
	},
	{
		name:        "boundaries are case-sensitive",
		contentType: "multipart/mixed;boundary=B",
		body:        "--b\nContent-Type: application/sdp\n\nv=0\n--b--\n",
	},
	{name: "delimiter at the very end", contentType: "multipart/mixed;boundary=b", body: "--b"},
}

func sdpTestBody(bareLF bool, s string) []byte {
	if bareLF {
		return []byte(s)
	}
	return crlf(s)
}

func TestSDPBody(t *testing.T) {
	for _, tt := range sdpBodyTests {
		t.Run(tt.name, func(t *testing.T) {
			body := sdpTestBody(tt.bareLF, tt.body)
			got := SDPBody([]byte(tt.contentType), body)
			want := string(sdpTestBody(tt.bareLF, tt.want))
			if string(got) != want || (got == nil) != (want == "") {
				t.Errorf("SDPBody = %q, want %q", got, want)
			}
			if !within(body, got) {
				t.Errorf("SDPBody = %q is not a view into the body", got)
			}
		})
	}
}

// TestMessageSDP goes through Parse: Body stops at Content-Length, so an
// SDP part that Content-Length cuts off has no delimiter after it.
func TestMessageSDP(t *testing.T) {
	head := "INVITE sip:bob@203.0.113.20 SIP/2.0\nContent-Type: multipart/mixed;boundary=b\n"
	body := "--b\nContent-Type: application/sdp\n\nv=0\n--b--\n"
	var m Message
	m.Parse(crlf(head + "\n" + body))
	if got := string(m.SDP()); got != "v=0" || !m.HasSDP() {
		t.Errorf("SDP() = %q, HasSDP %v; want \"v=0\"", got, m.HasSDP())
	}
	m.Parse(crlf(head + "Content-Length: 43\n\n" + body))
	if got := m.SDP(); got != nil || m.HasSDP() {
		t.Errorf("cut by Content-Length: SDP() = %q, HasSDP %v; want none", got, m.HasSDP())
	}
}

func TestSDPBodyAllocs(t *testing.T) {
	for _, tt := range sdpBodyTests {
		ct, body := []byte(tt.contentType), sdpTestBody(tt.bareLF, tt.body)
		if n := testing.AllocsPerRun(10, func() { SDPBody(ct, body) }); n != 0 {
			t.Errorf("%s: %v allocations", tt.name, n)
		}
	}
}

func FuzzSDPBody(f *testing.F) {
	for _, tt := range sdpBodyTests {
		f.Add([]byte(tt.contentType), sdpTestBody(tt.bareLF, tt.body))
	}
	f.Fuzz(func(t *testing.T, contentType, body []byte) {
		got := SDPBody(contentType, body)
		if got != nil && len(got) == 0 {
			t.Fatal("empty, non-nil SDP")
		}
		if !within(body, got) {
			t.Fatalf("SDPBody = %q is not a view into the body", got)
		}
	})
}

func BenchmarkSDPBody(b *testing.B) {
	for _, name := range []string{"plain", "mixed, SDP then ISUP", "mixed, PIDF-LO first, quoted boundary, preamble and epilogue", "nested"} {
		i := 0
		for i < len(sdpBodyTests) && sdpBodyTests[i].name != name {
			i++
		}
		tt := sdpBodyTests[i]
		ct, body := []byte(tt.contentType), sdpTestBody(tt.bareLF, tt.body)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if SDPBody(ct, body) == nil {
					b.Fatal("no SDP")
				}
			}
		})
	}
}
