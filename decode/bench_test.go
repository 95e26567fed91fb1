package decode

import (
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
)

// BenchmarkDecodeUDP measures the UDP path, which must not allocate: it is
// every RTP packet of a call.
func BenchmarkDecodeUDP(b *testing.B) {
	rtp := pionRTP(b, 0, false, 0x1234)
	rtcp := pionRTCP(b, testSR, testSDES)
	invite := sipMessage("INVITE sip:bob@example.org SIP/2.0", "bench@host", "z9hG4bKbench", "1 INVITE", testSDP)
	cases := []struct {
		name  string
		frame []byte
		kind  Kind
	}{
		{"RTP", ether(b, udpIP(b, client, server, rtp, 46<<2)), KindRTP},
		{"RTP, VLAN, IPv6", ether(b, udpIP(b, client6, server6, rtp, 46<<2), [2]uint16{0x8100, 7}), KindRTP},
		{"RTCP SR+SDES", ether(b, udpIP(b, client, server, rtcp, 46<<2)), KindRTCP},
		{"ChannelData", ether(b, udpIP(b, client, server, channelData(0x4000, rtp, false), 0)), KindChannelData},
		{"DTLS", ether(b, udpIP(b, client, server, append([]byte{0x17, 0xfe, 0xfd}, rtp...), 0)), 0},
		{"SIP INVITE", ether(b, udpIP(b, client, server, invite, 24<<2)), KindSIP},
		{"SIP CRLF keep-alive", ether(b, udpIP(b, client, netipMust("198.51.100.1:5060"), []byte("\r\n\r\n"), 24<<2)), KindSIPKeepAlive},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			d := NewDecoder()
			// The Allocate that makes ChannelData on this flow believable.
			d.Decode(&capture.Record{Frame: 1, Time: t0, LinkType: capture.LinkEthernet,
				Data: ether(b, udpIP(b, client, server, stunMessage(typeAllocateRequest, 1, ""), 0))}, func(*Message) {})
			var n int
			emit := func(m *Message) {
				if m.Kind == c.kind {
					n++
				}
			}
			rec := &capture.Record{Frame: 2, Time: t0.Add(time.Second), LinkType: capture.LinkEthernet, Data: c.frame, OrigLen: len(c.frame)}
			b.ReportAllocs()
			b.SetBytes(int64(len(c.frame)))
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				rec.Frame++
				d.Decode(rec, emit)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "packets/s")
			if want := b.N; c.kind == 0 {
				if n != 0 {
					b.Fatalf("%d messages from %d packets", n, b.N)
				}
			} else if n != want {
				b.Fatalf("%d messages of kind %d for %d packets", n, c.kind, b.N)
			}
		})
	}
}

func TestDecodeUDPDoesNotAllocate(t *testing.T) {
	rtp := pionRTP(t, 0, false, 0x1234)
	rtcp := pionRTCP(t, testSR, testSDES)
	invite := sipMessage("INVITE sip:bob@example.org SIP/2.0", "alloc@host", "z9hG4bKalloc", "1 INVITE", testSDP)
	d := NewDecoder()
	d.Decode(&capture.Record{Frame: 1, Time: t0, LinkType: capture.LinkEthernet,
		Data: ether(t, udpIP(t, client, server, stunMessage(typeAllocateRequest, 1, ""), 0))}, func(*Message) {})
	for _, c := range []struct {
		kind  Kind
		frame []byte
	}{
		{KindRTP, ether(t, udpIP(t, client, server, rtp, 0))},
		{KindRTP, ether(t, udpIP(t, client6, server6, rtp, 0), [2]uint16{0x88a8, 1}, [2]uint16{0x8100, 2})},
		{KindRTCP, ether(t, udpIP(t, client, server, rtcp, 0))},
		// SRTCP: Chromium's transport-cc feedback (pcaps/webrtc-relay.pcap frame 55).
		{KindRTCP, ether(t, udpIP(t, client, server, unhexMedia(t, "8fcd000523ecab961dd4a99f8857ca8a6dc9f0803f6aca5280000001ec8fdc45de936c7966f8"), 0))},
		{KindChannelData, ether(t, udpIP(t, client, server, channelData(0x4000, rtp, false), 0))},
		{KindSIP, ether(t, udpIP(t, client, server, invite, 0))},
		// A CRLF keep-alive on the flow the INVITE made a SIP one.
		{KindSIPKeepAlive, ether(t, udpIP(t, client, server, []byte("\r\n\r\n"), 0))},
		// A DTLS application data record (a WebRTC data channel).
		{KindDTLS, ether(t, udpIP(t, client, server, append([]byte{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 40}, make([]byte, 40)...), 0))},
	} {
		rec := &capture.Record{Frame: 2, Time: t0, LinkType: capture.LinkEthernet, Data: c.frame, OrigLen: len(c.frame)}
		var got Kind
		emit := func(m *Message) { got = m.Kind }
		if n := testing.AllocsPerRun(100, func() { d.Decode(rec, emit) }); n != 0 {
			t.Errorf("kind %d: %d allocations per UDP packet", c.kind, int(n))
		}
		if got != c.kind {
			t.Errorf("decoded kind %d, want %d", got, c.kind)
		}
	}
}
