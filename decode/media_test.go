package decode

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	pionrtcp "github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/sip"
)

func pionRTP(t testing.TB, pt uint8, marker bool, seq uint16) []byte {
	b, err := (&pionrtp.Packet{Header: pionrtp.Header{Version: 2, PayloadType: pt, Marker: marker,
		SequenceNumber: seq, Timestamp: 160 * uint32(seq), SSRC: 0x5eed}, Payload: make([]byte, 160)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pionRTCP(t testing.TB, ps ...pionrtcp.Packet) []byte {
	b, err := pionrtcp.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	testSR   = &pionrtcp.SenderReport{SSRC: 0x5eed, NTPTime: 1 << 32, RTPTime: 160, PacketCount: 1, OctetCount: 160}
	testSDES = &pionrtcp.SourceDescription{Chunks: []pionrtcp.SourceDescriptionChunk{{Source: 0x5eed,
		Items: []pionrtcp.SourceDescriptionItem{{Type: pionrtcp.SDESCNAME, Text: "a@b"}}}}}
)

// TestUDPMediaAndSIP follows RFC 7983 §7's first-byte ranges and RFC 5761
// §4's RTP/RTCP split, and recognizes SIP by its start line on any port.
func TestUDPMediaAndSIP(t *testing.T) {
	invite := sipMessage("INVITE sip:bob@example.org SIP/2.0", "call-1@host", "z9hG4bK1", "1 INVITE", testSDP)
	ok := sipMessage("SIP/2.0 200 OK", "call-1@host", "z9hG4bK1", "1 INVITE", testSDP)
	srSDES := pionRTCP(t, testSR, testSDES)
	brokenRTCP := append([]byte(nil), srSDES...)
	brokenRTCP[3]++ // the SR's length now overruns into the SDES
	srtcpLike := append(append([]byte(nil), srSDES[:28]...), 0x99, 0x42, 0xa7, 0x13, 0x80, 0, 0, 1)
	// Real SRTCP (decode/rtp's tests have more): Chromium's transport-cc
	// feedback, AES_CM_128_HMAC_SHA1_80 (pcaps/webrtc-relay.pcap frame
	// 55), and Signal's RR, AES-GCM (nDPI/stun_signal.pcapng frame 131).
	chromiumSRTCP := unhexMedia(t, "8fcd000523ecab961dd4a99f8857ca8a6dc9f0803f6aca5280000001ec8fdc45de936c7966f8")
	signalSRTCP := unhexMedia(t, "80c90001000003eb388191ccdece7f76537eaa2db7449849b35356cb56d9edf5948131489bc9877a0a0a0a9836720941e1eae14f80000001")
	dtls := append([]byte{0x16, 0xfe, 0xfd}, make([]byte, 40)...)
	media := netipMust("203.0.113.7:16384")
	peer := netipMust("198.51.100.9:40002")
	tests := []struct {
		name     string
		payload  []byte
		kind     Kind
		describe string // SIP: "METHOD call-id"; RTCP: types
		stats    func(Stats) uint64
	}{
		{"RTP PCMU", pionRTP(t, 0, false, 7), KindRTP, "", func(s Stats) uint64 { return s.RTP }},
		{"RTP, marker, dynamic type 111", pionRTP(t, 111, true, 8), KindRTP, "", func(s Stats) uint64 { return s.RTP }},
		{"RTP payload type 63 with marker (second byte 191)", pionRTP(t, 63, true, 9), KindRTP, "", func(s Stats) uint64 { return s.RTP }},
		{"RTP payload type 96 with marker (second byte 224)", pionRTP(t, 96, true, 9), KindRTP, "", func(s Stats) uint64 { return s.RTP }},
		{"RTCP SR+SDES", srSDES, KindRTCP, "[200 202]", func(s Stats) uint64 { return s.RTCP }},
		{"RTCP reduced-size PLI", pionRTCP(t, &pionrtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 2}), KindRTCP, "[206]", func(s Stats) uint64 { return s.RTCP }},
		{"RTCP range, lengths do not add up: neither RTCP nor RTP", brokenRTCP, 0, "", nil},
		{"SRTCP-like trailer: neither", srtcpLike, 0, "", nil},
		{"SRTCP, HMAC-SHA1 tag after the index", chromiumSRTCP, KindRTCP, "SRTCP 205 0x23ecab96 E index 1", func(s Stats) uint64 { return s.SRTCP }},
		{"SRTCP, AES-GCM tag before the index", signalSRTCP, KindRTCP, "SRTCP 201 0x000003eb E index 1", func(s Stats) uint64 { return s.SRTCP }},
		{"RTP too short", pionRTP(t, 0, false, 1)[:11], 0, "", nil},
		{"version 3 in the RTP range", append([]byte{0xc0}, pionRTP(t, 0, false, 1)[1:]...), 0, "", nil},
		{"DTLS is left alone", dtls, 0, "", nil},
		{"SIP request on a media port", invite, KindSIP, "INVITE call-1@host", func(s Stats) uint64 { return s.SIP }},
		{"SIP response", ok, KindSIP, "200 call-1@host", func(s Stats) uint64 { return s.SIP }},
		{"HTTP is not SIP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, "", nil},
		{"RTSP is not SIP", []byte("OPTIONS rtsp://x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n"), 0, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			got, st := run(t, Options{}, r.next(capture.LinkIPv4, udpIP(t, media, peer, tt.payload, 46<<2)))
			if tt.kind == 0 {
				if len(got) != 0 || st.RTP+st.RTCP+st.SRTCP+st.SIP != 0 {
					t.Fatalf("emitted %+v, stats %+v", got, st)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != tt.kind {
				t.Fatalf("got %+v, want one of kind %d", got, tt.kind)
			}
			m := got[0]
			if m.Raw != string(tt.payload) {
				t.Errorf("Payload is not the datagram: %q", m.Raw)
			}
			if m.Packet.DSCP != 46 || m.Packet.Src != media || m.Packet.Transport != UDP {
				t.Errorf("packet %+v", m.Packet)
			}
			if n := tt.stats(st); n != 1 {
				t.Errorf("counted %d times", n)
			}
			switch tt.kind {
			case KindRTP:
				var want pionrtp.Packet
				if err := want.Unmarshal(tt.payload); err != nil {
					t.Fatal(err)
				}
				if m.RTP.SSRC != want.SSRC || m.RTP.Sequence != want.SequenceNumber || m.RTP.PayloadType != want.PayloadType ||
					m.RTP.Marker != want.Marker || m.RTP.PayloadLen != len(want.Payload) {
					t.Errorf("RTP %+v, pion %+v", m.RTP, want.Header)
				}
			case KindRTCP:
				d := fmtTypes(m.RTCP)
				if s := m.SRTCP; s != nil {
					d = fmt.Sprintf("SRTCP %d 0x%08x E index %d", s.Type, s.SSRC, s.Index)
					if !s.Encrypted {
						d = strings.Replace(d, " E ", " ", 1)
					}
				}
				if d != tt.describe {
					t.Errorf("RTCP %s, want %s", d, tt.describe)
				}
				if m.SRTCP != nil && st.RTCP != 0 {
					t.Errorf("SRTCP counted as RTCP too")
				}
			case KindSIP:
				if m.SIP != tt.describe {
					t.Errorf("SIP %q, want %q", m.SIP, tt.describe)
				}
			}
		})
	}
}

func unhexMedia(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSRTCPCutBySnaplen: SRTCP is recognized by its length, so a datagram
// the snaplen cut is not judged, even when what is left would pass.
func TestSRTCPCutBySnaplen(t *testing.T) {
	srtcp := unhexMedia(t, "8fcd000523ecab961dd4a99f8857ca8a6dc9f0803f6aca5280000001ec8fdc45de936c7966f8")
	frame := udpIP(t, netipMust("203.0.113.7:16384"), netipMust("198.51.100.9:40002"), append(srtcp, 1, 2, 3, 4), 0)
	var r recorder
	whole := r.next(capture.LinkIPv4, frame[:len(frame)-4])
	whole.OrigLen = len(frame)
	if got, st := run(t, Options{}, whole); len(got) != 0 || st.SRTCP != 0 {
		t.Errorf("a cut datagram taken for SRTCP: %+v", got)
	}
	// The same bytes, whole: the test would pass for a wrong reason if
	// they were not SRTCP.
	if got, st := run(t, Options{}, r.next(capture.LinkIPv4, udpIP(t, netipMust("203.0.113.7:16384"), netipMust("198.51.100.9:40002"), srtcp, 0))); len(got) != 1 || st.SRTCP != 1 {
		t.Errorf("whole: %+v", got)
	}
}

func fmtTypes(ts []uint8) string {
	s := "["
	for i, t := range ts {
		if i > 0 {
			s += " "
		}
		s += itoa(int(t))
	}
	return s + "]"
}

// SIP on a flow whose ends spoke STUN (RFC 5626 keep-alives on the SIP
// port) is still SIP, not a ChannelData guess.
func TestSIPOnSTUNEndpoint(t *testing.T) {
	sipA, sipB := netipMust("192.0.2.10:5060"), netipMust("198.51.100.1:5060")
	var r recorder
	got, _ := run(t, Options{},
		r.next(capture.LinkIPv4, udpIP(t, sipA, sipB, stunMessage(typeBindingRequest, 1, ""), 0)),
		r.next(capture.LinkIPv4, udpIP(t, sipA, sipB, sipMessage("REGISTER sip:example.org SIP/2.0", "r@h", "z9hG4bK2", "2 REGISTER", ""), 0)))
	if k := kinds(got); !slices.Equal(k, []Kind{KindSTUN, KindSIP}) {
		t.Errorf("kinds %v, want STUN then SIP", k)
	}
}

// A message that reached emitSIP but whose start line does not parse is
// counted as malformed and not emitted. sip.LooksLikeSIP checks the start
// line as Parse reads it, so over the wire this takes a disagreement
// between the two; emitSIP is called directly.
func TestMalformedSIP(t *testing.T) {
	bad := []byte("SIP/2.0 2000 OK\r\nCall-ID: x\r\n\r\n") // a four-digit status code
	var probe sip.Message
	if probe.Parse(bad) == nil {
		t.Fatalf("sip.Parse accepts %q", bad)
	}
	d := NewDecoder()
	d.pkt = Packet{Frame: 9, Src: client, Dst: server, Transport: UDP}
	var n int
	d.emitSIP(bad, func(*Message) { n++ })
	st := d.Stats()
	if n != 0 || st.Malformed != 1 || len(st.MalformedFrames) != 1 || st.MalformedFrames[0] != 9 || st.SIP != 0 {
		t.Errorf("%d emitted, Malformed %d %v, SIP %d", n, st.Malformed, st.MalformedFrames, st.SIP)
	}
}

// A 3000-byte INVITE crosses the MTU: IPv4 and IPv6 fragments of it are
// reassembled (RFC 791 §3.2, RFC 8200 §4.5) and the INVITE emitted in the
// frame of the last fragment.
func TestFragmentedINVITE(t *testing.T) {
	body := testSDP
	for len(body) < 2800 {
		body += "a=candidate:1 1 UDP 2130706431 192.0.2.10 40000 typ host\r\n"
	}
	invite := sipMessage("INVITE sip:bob@example.org SIP/2.0", "big@host", "z9hG4bK3", "1 INVITE", body)
	if len(invite) < 3000 {
		t.Fatalf("INVITE of %d bytes", len(invite))
	}
	v4 := udpIP(t, client, server, invite, 0)
	udp6 := udpOnly(t, client6, server6, invite)
	n := len(v4) - 20
	frags := []fragment{{0, 1480, true, 0}, {1480, 2960, true, 0}, {2960, n, false, 0}}
	for _, fam := range []string{"ipv4", "ipv6"} {
		t.Run(fam, func(t *testing.T) {
			pkts := ipv4Fragments(v4, 0x4242, frags)
			lt := capture.LinkIPv4
			if fam == "ipv6" {
				pkts, lt = ipv6Fragments(client6.Addr(), server6.Addr(), 17, udp6, 0x4242, frags), capture.LinkIPv6
			}
			var r recorder
			var recs []*capture.Record
			// Out of order, as fragments often arrive.
			for _, i := range []int{1, 0, 2} {
				recs = append(recs, r.next(lt, pkts[i]))
			}
			got, st := run(t, Options{}, recs...)
			if len(got) != 1 || got[0].Kind != KindSIP || got[0].SIP != "INVITE big@host" {
				t.Fatalf("got %+v", got)
			}
			if got[0].Packet.Frame != 3 || got[0].Raw != string(invite) || st.Reassembled != 1 || st.SIP != 1 {
				t.Errorf("frame %d, %d bytes, reassembled %d", got[0].Packet.Frame, len(got[0].Raw), st.Reassembled)
			}
		})
	}
}

// TestTCPSIPFraming: SIP over TCP framed by Content-Length (RFC 3261
// §18.3), CRLF keep-alives between messages (RFC 5626 §4.4.1) framed apart
// (TestSIPStreamKeepAlives checks them), each message in the frame that
// carried its last byte.
func TestTCPSIPFraming(t *testing.T) {
	a := sipMessage("INVITE sip:bob@example.org SIP/2.0", "a@h", "z9hG4bKa", "1 INVITE", testSDP)
	b := sipMessage("BYE sip:bob@example.org SIP/2.0", "b@h", "z9hG4bKb", "2 BYE", "")
	c := sipMessage("OPTIONS sip:bob@example.org SIP/2.0", "c@h", "z9hG4bKc", "3 OPTIONS", "")
	resp := sipMessage("SIP/2.0 180 Ringing", "a@h", "z9hG4bKa", "1 INVITE", "")
	big := sipMessage("INVITE sip:bob@example.org SIP/2.0", "big@h", "z9hG4bKbig", "1 INVITE", testSDP+string(make([]byte, 600)))
	noLength := []byte("MESSAGE sip:bob@example.org SIP/2.0\r\nCall-ID: n@h\r\nCSeq: 1 MESSAGE\r\n\r\nhello")
	ping, pong := []byte("\r\n\r\n"), []byte("\r\n")
	ab, abc := cat(a, b), cat(a, b, c)
	framed := map[string]bool{string(a): true, string(b): true, string(c): true, string(resp): true, string(big[:400]): true}
	type w struct {
		frame uint64
		sip   string
	}
	tests := []struct {
		name      string
		opts      Options
		segs      []seg
		want      []w
		malformed uint64
	}{
		{name: "one message per segment",
			segs: []seg{{data: a}, {off: len(a), data: b}},
			want: []w{{2, "INVITE a@h"}, {3, "BYE b@h"}}},
		{name: "three messages in one segment",
			segs: []seg{{data: abc}},
			want: []w{{2, "INVITE a@h"}, {2, "BYE b@h"}, {2, "OPTIONS c@h"}}},
		{name: "a message across three segments, body split",
			segs: []seg{{data: a[:20]}, {off: 20, data: a[20 : len(a)-30]}, {off: len(a) - 30, data: a[len(a)-30:]}},
			want: []w{{4, "INVITE a@h"}}},
		{name: "request line split before its end",
			segs: []seg{{data: a[:10]}, {off: 10, data: a[10:]}},
			want: []w{{3, "INVITE a@h"}}},
		{name: "a message and a half, then the rest and another",
			segs: []seg{{data: abc[:len(a)+10]}, {off: len(a) + 10, data: abc[len(a)+10:]}},
			want: []w{{2, "INVITE a@h"}, {3, "BYE b@h"}, {3, "OPTIONS c@h"}}},
		{name: "keep-alives before and between messages",
			segs: []seg{{data: ping}, {off: 4, data: cat(ping, a, pong)}, {off: 8 + len(a) + 2, data: cat(b, ping[:3])}, {off: 8 + len(ab) + 5, data: cat(ping[3:], c)}},
			want: []w{{3, "INVITE a@h"}, {4, "BYE b@h"}, {5, "OPTIONS c@h"}}},
		{name: "both directions, the response stream starting with a pong",
			segs: []seg{{data: a[:50]}, {fromServer: true, data: cat(pong, resp)}, {off: 50, data: a[50:]}},
			want: []w{{3, "180 a@h"}, {4, "INVITE a@h"}}},
		{name: "out of order: completed by the segment that fills the hole",
			segs: []seg{{off: len(a), data: b}, {data: a}},
			want: []w{{3, "INVITE a@h"}, {3, "BYE b@h"}}},
		{name: "message larger than the stream buffer: its head emitted where it ends, framing kept",
			opts: Options{MaxStreamBytes: 512},
			segs: []seg{{data: a}, {off: len(a), data: big[:400]}, {off: len(a) + 400, data: big[400:700]}, {off: len(a) + 700, data: cat(big[700:], c)}},
			want: []w{{2, "INVITE a@h"}, {5, "INVITE big@h"}, {5, "OPTIONS c@h"}}},
		{name: "no Content-Length on a stream: framing lost, found again at a segment's start line",
			segs:      []seg{{data: cat(a, noLength)}, {off: len(a) + len(noLength), data: b}},
			want:      []w{{2, "INVITE a@h"}, {3, "BYE b@h"}},
			malformed: 1},
		{name: "after a hole, resynchronized on the next start line",
			segs: []seg{{data: a}, {off: len(a) + 5, data: b[5:]}, {off: len(ab), data: c}},
			want: []w{{2, "INVITE a@h"}, {4, "OPTIONS c@h"}}},
		{name: "text that is not SIP: ignored, even if SIP follows",
			segs: []seg{{data: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}, {off: 27, data: a}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := run(t, tt.opts, tcpConnection(t, tt.segs)...)
			var gotW []w
			for _, m := range got {
				if m.Kind == KindSIPKeepAlive {
					continue
				}
				if m.Kind != KindSIP || m.Packet.Transport != TCP {
					t.Errorf("message %+v", m)
					continue
				}
				if !framed[m.Raw] {
					t.Errorf("Payload %q is not the framed message", m.Raw)
				}
				gotW = append(gotW, w{m.Packet.Frame, m.SIP})
			}
			if !slices.Equal(gotW, tt.want) {
				t.Errorf("got  %v\nwant %v", gotW, tt.want)
			}
			if st.Malformed != tt.malformed {
				t.Errorf("Malformed = %d, want %d", st.Malformed, tt.malformed)
			}
		})
	}
}

// A DNS or NetBIOS transaction ID of 0x80-0xBF makes a datagram parse as
// RTP; on those services' ports it is never taken for RTP.
func TestNoRTPOnNonMediaPorts(t *testing.T) {
	rtpb := pionRTP(t, 0, false, 1)
	for _, tt := range []struct {
		src, dst string
		want     int
	}{
		{"192.0.2.1:40000", "192.0.2.2:53", 0},
		{"192.0.2.2:53", "192.0.2.1:40000", 0},
		{"192.0.2.1:137", "192.0.2.2:137", 0},
		{"192.0.2.1:40000", "192.0.2.2:5353", 0},
		{"192.0.2.1:40000", "192.0.2.2:40002", 1},
		{"192.0.2.1:54", "192.0.2.2:40002", 1},
	} {
		var r recorder
		got, _ := run(t, Options{}, r.next(capture.LinkIPv4, udpIP(t, netipMust(tt.src), netipMust(tt.dst), rtpb, 0)))
		if len(got) != tt.want {
			t.Errorf("%s -> %s: %d messages, want %d", tt.src, tt.dst, len(got), tt.want)
		}
	}
}
