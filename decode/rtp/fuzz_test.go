package rtp

import (
	"testing"

	pionrtcp "github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
)

// FuzzParseHeader checks ParseHeader against pion/rtp: whatever pion reads
// as a version 2 packet, ParseHeader reads the same way, and what
// ParseHeader accepts stays inside b.
func FuzzParseHeader(f *testing.F) {
	f.Add(marshalRTP(f, rtpPacket(f, nil)))
	f.Add(marshalRTP(f, rtpPacket(f, func(p *pionrtp.Packet) {
		p.CSRC = []uint32{7}
		p.Padding, p.PaddingSize = true, 3
		p.Extension, p.ExtensionProfile = true, pionrtp.ExtensionProfileTwoByte
		_ = p.SetExtension(9, []byte{1, 2, 3})
	})))
	f.Add([]byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Header
		ok := ParseHeader(b, &h)
		if ok {
			if h.Version != 2 || h.HeaderLen < 12 || h.PayloadLen < 0 || h.HeaderLen+h.PayloadLen > len(b) {
				t.Fatalf("accepted with header %d payload %d of %d bytes", h.HeaderLen, h.PayloadLen, len(b))
			}
		}
		var p pionrtp.Packet
		if err := p.Unmarshal(b); err == nil && p.Version == 2 {
			// pion also reads the elements of RFC 8285 extensions and may
			// refuse where callscope skips them; the other way round,
			// pion's acceptance must be callscope's.
			if !ok {
				t.Fatalf("pion reads % x, ParseHeader refuses", b)
			}
			checkHeader(t, &h, &p, len(b))
		}
	})
}

// FuzzParseRTCP checks that ParseRTCP keeps its bounds and never accepts a
// compound whose lengths do not add up.
func FuzzParseRTCP(f *testing.F) {
	f.Add(marshalRTCP(f, senderReport, sdes, bye))
	f.Add(marshalRTCP(f, receiverReport, pli, nack, app, xr))
	f.Add(marshalRTCP(f, pli))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Compound
		if !ParseRTCP(b, &c) {
			return
		}
		if c.N < 1 || c.N > MaxPackets {
			t.Fatalf("accepted with %d packets", c.N)
		}
		total, count := 0, 0
		for rest := b; len(rest) >= 4; count++ {
			n := 4 * (int(rest[2])<<8 | int(rest[3]) + 1)
			total += n
			rest = rest[n:]
		}
		if total > len(b) || len(b)-total >= 4 || min(count, MaxPackets) != c.N {
			t.Fatalf("%d packets over %d bytes of %d, kept %d", count, total, len(b), c.N)
		}
		for i := 0; i < c.N; i++ {
			p := &c.Packets[i]
			if !IsRTCPType(p.Type) || p.NBlock > MaxReportBlocks || p.NBlock > int(p.Count) {
				t.Fatalf("packet %d: %+v", i, *p)
			}
		}
		// pion must at least agree on the first packet's header.
		var ph pionrtcp.Header
		if err := ph.Unmarshal(b); err != nil {
			t.Fatalf("pion refuses the first header: %v", err)
		}
	})
}
