package decode

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/decode/sip"
)

// hostileStrings are values an attacker controls in a SIP message.
var hostileStrings = []string{
	"",
	"plain@example.org",
	`quote " and backslash \ and \"escaped\"`,
	"controls \x00\x01\x07\x08\x0b\x0c\x1b\x1f end",
	"\t\r\n tab CR LF",
	"invalid \xff\xfe UTF-8 \xc3 cut \xe2\x82 short \xed\xa0\x80 surrogate",
	"valid é 中文 🎉 and DEL \x7f",
	"line separators \u2028 \u2029",
	`</script><script>alert(1)</script>`,
	"\\u0000 literal",
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range hostileStrings {
		got := appendJSONString([]byte("x"), []byte(s))
		if got[0] != 'x' {
			t.Fatalf("%q: prefix lost", s)
		}
		got = got[1:]
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s is not a JSON string: %v", s, got, err)
			continue
		}
		// encoding/json decodes each invalid byte to U+FFFD, as
		// appendJSONString encodes it.
		want := ""
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			want += string(r)
			i += n
		}
		if back != want {
			t.Errorf("%q: round trip gives %q, want %q", s, back, want)
		}
		for _, c := range got {
			if c < 0x20 {
				t.Errorf("%q: raw control byte %#x in %s", s, c, got)
			}
		}
		if strings.ContainsRune(string(got), '\u2028') || strings.ContainsRune(string(got), '\u2029') {
			t.Errorf("%q: raw line separator in %s", s, got)
		}
	}
}

// sipMessage builds a SIP message; body, when set, is SDP.
func sipMessage(startLine, callID, branch string, cseq string, body string) []byte {
	var b strings.Builder
	b.WriteString(startLine + "\r\n")
	b.WriteString("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=" + branch + ";rport\r\n")
	b.WriteString("Via: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKlower\r\n")
	b.WriteString("From: <sip:alice@example.org>;tag=1\r\n")
	b.WriteString("To: <sip:bob@example.org>\r\n")
	b.WriteString("Call-ID: " + callID + "\r\n")
	b.WriteString("CSeq: " + cseq + "\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	b.WriteString("Content-Length: " + itoa(len(body)) + "\r\n\r\n")
	b.WriteString(body)
	return []byte(b.String())
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}

const testSDP = "v=0\r\no=alice 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// record decodes one record through AppendRecord back into a map.
func record(t *testing.T, m *Message) map[string]any {
	t.Helper()
	line := AppendRecord(nil, m)
	if len(line) == 0 || line[len(line)-1] != '\n' || strings.Count(string(line), "\n") != 1 {
		t.Fatalf("not one line: %q", line)
	}
	var out map[string]any
	if err := json.Unmarshal(line, &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	return out
}

func TestAppendRecordSIP(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want string // the "sip" object as written
	}{
		{"INVITE with SDP",
			sipMessage("INVITE sip:bob@example.org SIP/2.0", "abc@192.0.2.10", "z9hG4bK776", "1 INVITE", testSDP),
			`{"method":"INVITE","call_id":"abc@192.0.2.10","cseq":{"number":1,"method":"INVITE"},"branch":"z9hG4bK776","sdp":true}`},
		{"response without body",
			sipMessage("SIP/2.0 486 Busy Here", "abc@192.0.2.10", "z9hG4bK776", "1 INVITE", ""),
			`{"status":486,"reason":"Busy Here","call_id":"abc@192.0.2.10","cseq":{"number":1,"method":"INVITE"},"branch":"z9hG4bK776","sdp":false}`},
		{"hostile Call-ID, branch and reason",
			sipMessage("SIP/2.0 200 O\"K\\ \xff", "\"},\"x\":{\"y\":\"\x01\xfe", "z9hG4bK\"\\", "2147483647 BYE", ""),
			`{"status":200,"reason":"O\"K\\ \ufffd","call_id":"\"},\"x\":{\"y\":\"\u0001\ufffd","cseq":{"number":2147483647,"method":"BYE"},"branch":"z9hG4bK\"\\","sdp":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s sip.Message
			if err := s.Parse(tt.msg); err != nil {
				t.Fatalf("sip.Parse: %v", err)
			}
			m := &Message{Packet: Packet{Frame: 7, Time: t0, Src: client, Dst: server, Transport: UDP, DSCP: 24}, Kind: KindSIP, SIP: &s}
			rec := record(t, m)
			if rec["proto"] != "sip" || rec["frame"] != 7.0 || rec["dscp"] != 24.0 {
				t.Errorf("record %v", rec)
			}
			line := string(AppendRecord(nil, m))
			_, got, _ := strings.Cut(line, `"sip":`)
			got = strings.TrimSuffix(got, "}\n")
			if got != tt.want {
				t.Errorf("sip\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestHasSDP(t *testing.T) {
	for _, tt := range []struct {
		contentType, body string
		want              bool
	}{
		{"application/sdp", "v=0", true},
		{"Application/SDP", "v=0", true},
		{"application/sdp; charset=utf-8", "v=0", true},
		{"application/sdp", "", false},
		{"application/sdpx", "v=0", false},
		{"multipart/mixed;boundary=x", "v=0", false},
		{"", "v=0", false},
	} {
		s := &sip.Message{ContentType: []byte(tt.contentType), Body: []byte(tt.body)}
		if tt.contentType == "" {
			s.ContentType = nil
		}
		if got := hasSDP(s); got != tt.want {
			t.Errorf("Content-Type %q body %q: %v, want %v", tt.contentType, tt.body, got, tt.want)
		}
	}
}

func TestAppendRecordRTPAndRTCP(t *testing.T) {
	m := &Message{Packet: Packet{Frame: 1, Time: t0, Src: client, Dst: server, Transport: UDP, DSCP: 46}, Kind: KindRTP,
		RTP: rtp.Header{Version: 2, Marker: true, PayloadType: 111, Sequence: 65535, Timestamp: 4294967295, SSRC: 0xdeadbeef}}
	got, _ := json.Marshal(record(t, m)["rtp"])
	if want := `{"marker":true,"pt":111,"seq":65535,"ssrc":3735928559,"timestamp":4294967295}`; string(got) != want {
		t.Errorf("rtp %s, want %s", got, want)
	}
	var c rtp.Compound
	c.Packets[0].Type, c.Packets[1].Type, c.N = 200, 202, 2
	m = &Message{Packet: m.Packet, Kind: KindRTCP, RTCP: &c}
	rec := record(t, m)
	got, _ = json.Marshal(rec["rtcp"])
	if want := `{"types":[200,202]}`; string(got) != want || rec["proto"] != "rtcp" {
		t.Errorf("rtcp %s (proto %v), want %s", got, rec["proto"], want)
	}
	m = &Message{Packet: m.Packet, Kind: KindRTCP, SRTCP: &rtp.SRTCP{Type: 205, Count: 15, Length: 24, SSRC: 0x814f8438, Encrypted: true, Index: 38}}
	rec = record(t, m)
	got, _ = json.Marshal(rec["rtcp"])
	if want := `{"srtcp":{"encrypted":true,"index":38,"ssrc":2169472056},"types":[205]}`; string(got) != want || rec["proto"] != "rtcp" {
		t.Errorf("srtcp %s (proto %v), want %s", got, rec["proto"], want)
	}
}

func TestAppendRecordDoesNotAllocate(t *testing.T) {
	var s sip.Message
	if err := s.Parse(sipMessage("INVITE sip:bob@example.org SIP/2.0", "a\"b\xff@host", "z9hG4bK1", "1 INVITE", testSDP)); err != nil {
		t.Fatal(err)
	}
	var c rtp.Compound
	c.N = 3
	msgs := []*Message{
		{Packet: Packet{Src: client, Dst: server, Transport: UDP}, Kind: KindSIP, SIP: &s},
		{Packet: Packet{Src: client6, Dst: server6, Transport: UDP}, Kind: KindRTP, RTP: rtp.Header{Version: 2, SSRC: 1}},
		{Packet: Packet{Src: client, Dst: server, Transport: UDP}, Kind: KindRTCP, RTCP: &c},
		{Packet: Packet{Src: client, Dst: server, Transport: UDP}, Kind: KindRTCP, SRTCP: &rtp.SRTCP{Type: 200, SSRC: 1, Encrypted: true, Index: 1}},
	}
	buf := make([]byte, 0, 4096)
	for _, m := range msgs {
		if n := testing.AllocsPerRun(100, func() { buf = AppendRecord(buf[:0], m) }); n != 0 {
			t.Errorf("kind %d: %v allocations per record", m.Kind, n)
		}
	}
}
