package sdp

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

const webrtcOffer = `v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=ice-ufrag:sessUF
a=ice-pwd:SESSIONPASSWORDSECRET1234
a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2
a=setup:actpass
m=audio 9 UDP/TLS/RTP/SAVPF 111 0
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=candidate:1 1 udp 2122260223 192.168.1.5 54321 typ host generation 0
a=candidate:2 1 udp 1686052607 203.0.113.7 60000 typ srflx raddr 192.168.1.5 rport 54321
a=candidate:3 1 tcp 1518280447 192.168.1.5 9 typ host tcptype active
a=candidate:4 1 udp 2122260223 1b2c3d4e-aaaa-bbbb-cccc-0123456789ab.local 54322 typ host
a=candidate:5 1 udp 41885439 2001:db8::10 3478 typ relay raddr 2001:db8::1 rport 61000
a=ice-ufrag:mediaUF
a=ice-pwd:MEDIAPASSWORDSECRET5678
a=mid:0
a=sendrecv
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=fmtp:111 minptime=10;useinbandfec=1
m=video 9 UDP/TLS/RTP/SAVPF 96
c=IN IP4 0.0.0.0
a=recvonly
a=rtpmap:96 VP8/90000
a=setup:active
`

const sipOffer = `v=0
o=alice 2890844526 2890844527 IN IP4 192.0.2.10
s=call
c=IN IP4 192.0.2.10/127
t=0 0
a=sendonly
m=audio 49170/2 RTP/SAVP 0 8 9 101
a=rtpmap:101 telephone-event/8000
a=rtpmap:8 pcma/8000
a=fmtp:101 0-16
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4
a=rtcp:53020 IN IP6 2001:db8::5
m=video 0 RTP/AVP 31
c=IN IP6 2001:db8::1
a=inactive
m=application 5000 udp t38
this line is not SDP at all
x=unknown type
`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Session
	}{
		{
			name: "WebRTC offer with ICE and DTLS, LF lines",
			in:   []byte(webrtcOffer),
			want: Session{
				Origin:      Origin{Username: "-", SessionID: "4611731400430051336", Version: "2", AddressType: "IP4", Address: "127.0.0.1"},
				IceUfrag:    "sessUF",
				IcePwdSet:   true,
				Fingerprint: "sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04:BB:05:2F:70:9F:04:A9:0E:05:E9:26:33:E8:70:88:A2",
				Setup:       "actpass",
				Direction:   "sendrecv",
				Media: []Media{
					{
						Type: "audio", Port: 9, NumPorts: 1, Proto: "UDP/TLS/RTP/SAVPF", Formats: []string{"111", "0"},
						Connection: netip.MustParseAddr("0.0.0.0"),
						RTPMap:     map[uint8]RTPMap{111: {"opus", 48000, 2}},
						Direction:  "sendrecv", RTCPPort: 9, RTCPAddr: netip.MustParseAddr("0.0.0.0"), RTCPMux: true,
						IceUfrag: "mediaUF", IcePwdSet: true,
						Candidates: []Candidate{
							{Foundation: "1", Component: 1, Transport: "udp", Priority: 2122260223, Addr: netip.MustParseAddrPort("192.168.1.5:54321"), Type: "host"},
							{Foundation: "2", Component: 1, Transport: "udp", Priority: 1686052607, Addr: netip.MustParseAddrPort("203.0.113.7:60000"), Type: "srflx", Related: netip.MustParseAddrPort("192.168.1.5:54321")},
							{Foundation: "3", Component: 1, Transport: "tcp", Priority: 1518280447, Addr: netip.MustParseAddrPort("192.168.1.5:9"), Type: "host", TCPType: "active"},
							{Foundation: "4", Component: 1, Transport: "udp", Priority: 2122260223, Addr: netip.AddrPortFrom(netip.Addr{}, 54322), Type: "host", Hostname: "1b2c3d4e-aaaa-bbbb-cccc-0123456789ab.local"},
							{Foundation: "5", Component: 1, Transport: "udp", Priority: 41885439, Addr: netip.MustParseAddrPort("[2001:db8::10]:3478"), Type: "relay", Related: netip.MustParseAddrPort("[2001:db8::1]:61000")},
						},
					},
					{
						Type: "video", Port: 9, NumPorts: 1, Proto: "UDP/TLS/RTP/SAVPF", Formats: []string{"96"},
						Connection: netip.MustParseAddr("0.0.0.0"),
						RTPMap:     map[uint8]RTPMap{96: {"VP8", 90000, 0}},
						Direction:  "recvonly", Setup: "active",
					},
				},
			},
		},
		{
			name: "SIP offer: session direction inherited, c= with TTL, port count, SDES, rejected stream, CRLF",
			in:   crlf(sipOffer),
			want: Session{
				Origin:     Origin{Username: "alice", SessionID: "2890844526", Version: "2890844527", AddressType: "IP4", Address: "192.0.2.10"},
				Connection: netip.MustParseAddr("192.0.2.10"),
				Direction:  "sendonly",
				Media: []Media{
					{
						Type: "audio", Port: 49170, NumPorts: 2, Proto: "RTP/SAVP", Formats: []string{"0", "8", "9", "101"},
						Connection: netip.MustParseAddr("192.0.2.10"),
						RTPMap:     map[uint8]RTPMap{101: {"telephone-event", 8000, 1}, 8: {"pcma", 8000, 1}},
						Direction:  "sendonly", Crypto: true,
						RTCPPort: 53020, RTCPAddr: netip.MustParseAddr("2001:db8::5"),
					},
					{
						Type: "video", Port: 0, NumPorts: 1, Proto: "RTP/AVP", Formats: []string{"31"},
						Connection: netip.MustParseAddr("2001:db8::1"), Direction: "inactive",
					},
					{
						Type: "application", Port: 5000, NumPorts: 1, Proto: "udp", Formats: []string{"t38"},
						Connection: netip.MustParseAddr("192.0.2.10"), Direction: "sendonly",
					},
				},
			},
		},
		{
			name: "defects are reported by line, never with the line's content",
			in: []byte("v=0\no=only three fields\nc=IN IP4 pbx.example.com\nm=audio x RTP/AVP 0\n" +
				"a=rtpmap:0 PCMU\na=candidate:1 1 udp 1 10.0.0.1 notaport typ host\nm=audio 5004/0 RTP/AVP 0\nm=audio\n"),
			want: Session{
				Direction: "sendrecv",
				Media: []Media{
					{Type: "audio", NumPorts: 1, Proto: "RTP/AVP", Direction: "sendrecv"},
					{Type: "audio", NumPorts: 1, Proto: "RTP/AVP", Direction: "sendrecv"},
					{Direction: "sendrecv"},
				},
				Defects: []string{
					"line 2: o= does not have six fields",
					"line 3: c= address is not an IP address",
					"line 4: m= port is not a number",
					"line 5: a=rtpmap is not <payload type> <encoding>/<clock rate>[/<channels>]",
					"line 6: a=candidate is not an RFC 8839 candidate",
					"line 7: m= number of ports is not a number",
					"line 8: m= has fewer than three fields",
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseNotSDP(t *testing.T) {
	for _, in := range []string{"", "\r\n", "o=x", "<?xml version=\"1.0\"?>", "V=0"} {
		if s, err := Parse([]byte(in)); err != ErrNotSDP || s != nil {
			t.Errorf("Parse(%q) = %v, %v", in, s, err)
		}
	}
	if _, err := Parse([]byte("\r\n v=0")); err != nil {
		t.Errorf("leading whitespace: %v", err)
	}
}

// Keys and passwords must never reach a Session, whatever prints it.
func TestParseKeepsNoSecrets(t *testing.T) {
	for _, in := range []string{webrtcOffer, sipOffer} {
		s, err := Parse(crlf(in))
		if err != nil {
			t.Fatal(err)
		}
		dump := fmt.Sprintf("%+v %#v", *s, *s)
		for _, secret := range []string{"SECRET", "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz", "inline:", "AES_CM"} {
			if strings.Contains(dump, secret) {
				t.Errorf("%q kept in the session: %s", secret, dump)
			}
		}
	}
	// A malformed crypto or ice-pwd line must not leak through Defects.
	s, _ := Parse([]byte("v=0\nm=audio 1 RTP/SAVP 0\na=crypto:SECRETKEY\na=ice-pwd:SECRETPWD\na=candidate:SECRET\n"))
	if dump := fmt.Sprintf("%+v", *s); strings.Contains(dump, "SECRET") {
		t.Errorf("secret in %s", dump)
	}
}

func TestStaticPayloadType(t *testing.T) {
	tests := []struct {
		pt    uint8
		want  RTPMap
		media string
		ok    bool
	}{
		{0, RTPMap{"PCMU", 8000, 1}, "audio", true},
		{3, RTPMap{"GSM", 8000, 1}, "audio", true},
		{6, RTPMap{"DVI4", 16000, 1}, "audio", true},
		{8, RTPMap{"PCMA", 8000, 1}, "audio", true},
		{9, RTPMap{"G722", 8000, 1}, "audio", true}, // 8000, not 16000: RFC 3551 §4.5.2
		{10, RTPMap{"L16", 44100, 2}, "audio", true},
		{13, RTPMap{"CN", 8000, 1}, "audio", true},
		{14, RTPMap{"MPA", 90000, 1}, "audio", true},
		{17, RTPMap{"DVI4", 22050, 1}, "audio", true},
		{18, RTPMap{"G729", 8000, 1}, "audio", true},
		{26, RTPMap{"JPEG", 90000, 0}, "video", true},
		{28, RTPMap{"nv", 90000, 0}, "video", true},
		{34, RTPMap{"H263", 90000, 0}, "video", true},
		{1, RTPMap{}, "", false},  // reserved
		{19, RTPMap{}, "", false}, // reserved
		{27, RTPMap{}, "", false}, // unassigned
		{35, RTPMap{}, "", false},
		{96, RTPMap{}, "", false}, // dynamic
		{255, RTPMap{}, "", false},
	}
	for _, tt := range tests {
		got, media, ok := StaticPayloadType(tt.pt)
		if got != tt.want || media != tt.media || ok != tt.ok {
			t.Errorf("StaticPayloadType(%d) = %+v %q %v", tt.pt, got, media, ok)
		}
	}
}

func TestCodec(t *testing.T) {
	s, err := Parse(crlf(sipOffer))
	if err != nil {
		t.Fatal(err)
	}
	m := &s.Media[0]
	tests := []struct {
		pt   uint8
		want RTPMap
		ok   bool
	}{
		{0, RTPMap{"PCMU", 8000, 1}, true},              // static
		{8, RTPMap{"pcma", 8000, 1}, true},              // rtpmap wins over the table
		{101, RTPMap{"telephone-event", 8000, 1}, true}, // dynamic, from rtpmap
		{102, RTPMap{}, false},
	}
	for _, tt := range tests {
		if got, ok := m.Codec(tt.pt); got != tt.want || ok != tt.ok {
			t.Errorf("Codec(%d) = %+v %v", tt.pt, got, ok)
		}
	}
	var empty Media
	if got, ok := empty.Codec(18); !ok || got.Encoding != "G729" {
		t.Errorf("Codec without rtpmap: %+v %v", got, ok)
	}
}
