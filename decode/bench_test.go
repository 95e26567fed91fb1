package decode

import (
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
)

// BenchmarkDecodeUDP measures the UDP path, which must not allocate: it is
// every RTP packet of a call.
func BenchmarkDecodeUDP(b *testing.B) {
	rtp := append([]byte{0x80, 0x00, 0x12, 0x34}, make([]byte, 160)...)
	cases := []struct {
		name  string
		frame []byte
	}{
		{"not STUN", ether(b, udpIP(b, client, server, rtp, 46<<2))},
		{"not STUN, VLAN, IPv6", ether(b, udpIP(b, client6, server6, rtp, 46<<2), [2]uint16{0x8100, 7})},
		{"ChannelData", ether(b, udpIP(b, client, server, channelData(0x4000, rtp, false), 0))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			d := NewDecoder()
			// The Allocate that makes ChannelData on this flow believable.
			d.Decode(&capture.Record{Frame: 1, Time: t0, LinkType: capture.LinkEthernet,
				Data: ether(b, udpIP(b, client, server, stunMessage(typeAllocateRequest, 1, ""), 0))}, func(*Message) {})
			var n int
			emit := func(*Message) { n++ }
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
			if c.name == "ChannelData" && n != b.N {
				b.Fatalf("%d ChannelData messages for %d packets", n, b.N)
			}
		})
	}
}

func TestDecodeUDPDoesNotAllocate(t *testing.T) {
	rtp := append([]byte{0x80, 0x00, 0x12, 0x34}, make([]byte, 160)...)
	d := NewDecoder()
	d.Decode(&capture.Record{Frame: 1, Time: t0, LinkType: capture.LinkEthernet,
		Data: ether(t, udpIP(t, client, server, stunMessage(typeAllocateRequest, 1, ""), 0))}, func(*Message) {})
	for _, frame := range [][]byte{
		ether(t, udpIP(t, client, server, rtp, 0)),
		ether(t, udpIP(t, client6, server6, rtp, 0), [2]uint16{0x88a8, 1}, [2]uint16{0x8100, 2}),
		ether(t, udpIP(t, client, server, channelData(0x4000, rtp, false), 0)),
	} {
		rec := &capture.Record{Frame: 2, Time: t0, LinkType: capture.LinkEthernet, Data: frame, OrigLen: len(frame)}
		emit := func(*Message) {}
		if n := testing.AllocsPerRun(100, func() { d.Decode(rec, emit) }); n != 0 {
			t.Errorf("%d allocations per UDP packet", int(n))
		}
	}
}
