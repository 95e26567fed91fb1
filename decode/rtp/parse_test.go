package rtp

import (
	"encoding/binary"
	"testing"

	pionrtcp "github.com/pion/rtcp"
	pionrtp "github.com/pion/rtp"
)

// Test packets are built with pion/rtp and pion/rtcp, so that the
// hand-written parsers are checked against an independent encoder.

func marshalRTP(t testing.TB, p *pionrtp.Packet) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rtpPacket(t testing.TB, edit func(*pionrtp.Packet)) *pionrtp.Packet {
	t.Helper()
	p := &pionrtp.Packet{
		Header: pionrtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 0xfedc,
			Timestamp: 0x12345678, SSRC: 0xdeadbeef},
		Payload: make([]byte, 160),
	}
	for i := range p.Payload {
		p.Payload[i] = byte(i)
	}
	if edit != nil {
		edit(p)
	}
	return p
}

func TestParseHeaderAgainstPion(t *testing.T) {
	tests := []struct {
		name string
		edit func(*pionrtp.Packet)
	}{
		{"PCMU", nil},
		{"marker, dynamic payload type", func(p *pionrtp.Packet) { p.Marker, p.PayloadType = true, 111 }},
		{"CSRCs", func(p *pionrtp.Packet) { p.CSRC = []uint32{1, 2, 3} }},
		{"fifteen CSRCs", func(p *pionrtp.Packet) { p.CSRC = make([]uint32, 15) }},
		{"RFC 8285 one-byte extensions", func(p *pionrtp.Packet) {
			p.Extension, p.ExtensionProfile = true, pionrtp.ExtensionProfileOneByte
			if err := p.SetExtension(1, []byte{0xaa}); err != nil {
				t.Fatal(err)
			}
			if err := p.SetExtension(3, []byte{1, 2, 3, 4, 5}); err != nil {
				t.Fatal(err)
			}
		}},
		{"RFC 8285 two-byte extension", func(p *pionrtp.Packet) {
			p.Extension, p.ExtensionProfile = true, pionrtp.ExtensionProfileTwoByte
			if err := p.SetExtension(200, make([]byte, 20)); err != nil {
				t.Fatal(err)
			}
		}},
		{"RFC 3550 extension with its own profile", func(p *pionrtp.Packet) {
			p.Extension, p.ExtensionProfile = true, 0x1234
			if err := p.SetExtension(0, make([]byte, 12)); err != nil {
				t.Fatal(err)
			}
		}},
		{"padding", func(p *pionrtp.Packet) { p.Padding, p.PaddingSize = true, 4 }},
		{"padding, CSRCs and extension", func(p *pionrtp.Packet) {
			p.Padding, p.PaddingSize, p.CSRC = true, 7, []uint32{9}
			p.Extension, p.ExtensionProfile = true, pionrtp.ExtensionProfileOneByte
			if err := p.SetExtension(5, []byte{1, 2}); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty payload", func(p *pionrtp.Packet) { p.Payload = nil }},
		{"padding only", func(p *pionrtp.Packet) { p.Payload, p.Padding, p.PaddingSize = nil, true, 4 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := marshalRTP(t, rtpPacket(t, tt.edit))
			var want pionrtp.Packet
			if err := want.Unmarshal(b); err != nil {
				t.Fatalf("pion cannot read its own packet: %v", err)
			}
			var h Header
			if !ParseHeader(b, &h) {
				t.Fatalf("ParseHeader refused % x", b)
			}
			checkHeader(t, &h, &want, len(b))
		})
	}
}

// checkHeader compares h with what pion/rtp read from a packet of n bytes.
func checkHeader(t testing.TB, h *Header, want *pionrtp.Packet, n int) {
	t.Helper()
	if h.Version != want.Version || h.Padding != want.Padding || h.Extension != want.Extension ||
		h.Marker != want.Marker || int(h.CSRCCount) != len(want.CSRC) || h.PayloadType != want.PayloadType ||
		h.Sequence != want.SequenceNumber || h.Timestamp != want.Timestamp || h.SSRC != want.SSRC {
		t.Fatalf("header %+v, pion %+v", *h, want.Header)
	}
	if h.PayloadLen != len(want.Payload) {
		t.Fatalf("payload %d bytes, pion %d", h.PayloadLen, len(want.Payload))
	}
	if h.HeaderLen+h.PayloadLen+int(want.PaddingSize) != n {
		t.Fatalf("header %d + payload %d + padding %d != %d bytes", h.HeaderLen, h.PayloadLen, want.PaddingSize, n)
	}
}

func TestParseHeaderRejects(t *testing.T) {
	good := marshalRTP(t, rtpPacket(t, func(p *pionrtp.Packet) {
		p.CSRC = []uint32{1}
		p.Extension, p.ExtensionProfile = true, pionrtp.ExtensionProfileOneByte
		if err := p.SetExtension(1, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		p.Payload = p.Payload[:8]
		p.Padding, p.PaddingSize = true, 4
	}))
	// good: 12 fixed + 4 CSRC + 4 extension header + 4 extension = 24,
	// then 8 payload and 4 padding.
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"eleven bytes", good[:11]},
		{"version 0", edit(func(b []byte) []byte { b[0] &^= 0xc0; return b })},
		{"version 1", edit(func(b []byte) []byte { b[0] = b[0]&^0xc0 | 0x40; return b })},
		{"version 3", edit(func(b []byte) []byte { b[0] |= 0xc0; return b })},
		{"CSRC count past the end", edit(func(b []byte) []byte { b[0] |= 0x0f; return b })},
		{"extension header cut", good[:18]},
		{"extension length past the end", edit(func(b []byte) []byte { binary.BigEndian.PutUint16(b[18:], 100); return b })},
		{"padding count 0", edit(func(b []byte) []byte { b[len(b)-1] = 0; return b })},
		{"padding into the header", edit(func(b []byte) []byte { b[len(b)-1] = 13; return b })},
		{"padding bit, header only", edit(func(b []byte) []byte { return b[:24] })},
	}
	for _, tt := range tests {
		var h Header
		if ParseHeader(tt.b, &h) {
			t.Errorf("%s: accepted % x as %+v", tt.name, tt.b, h)
		}
	}
	var h Header
	if !ParseHeader(good, &h) || h.HeaderLen != 24 || h.PayloadLen != 8 {
		t.Fatalf("the unedited packet: %+v", h)
	}
	// Padding that exactly fills the payload is consistent.
	if b := edit(func(b []byte) []byte { b[len(b)-1] = 12; return b }); !ParseHeader(b, &h) || h.PayloadLen != 0 {
		t.Errorf("padding filling the payload: ok=%v %+v", ParseHeader(b, &h), h)
	}
}

func TestIsRTCPType(t *testing.T) {
	for b := 0; b < 256; b++ {
		want := b >= 192 && b <= 223 // RFC 5761 §4
		if IsRTCPType(byte(b)) != want {
			t.Errorf("IsRTCPType(%d) = %v", b, !want)
		}
	}
}

func marshalRTCP(t testing.TB, ps ...pionrtcp.Packet) []byte {
	t.Helper()
	b, err := pionrtcp.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	senderReport = &pionrtcp.SenderReport{
		SSRC: 0x11111111, NTPTime: 0xe2c1a6e8_4189374b, RTPTime: 160000, PacketCount: 1000, OctetCount: 160000,
		Reports: []pionrtcp.ReceptionReport{
			{SSRC: 0x22222222, FractionLost: 25, TotalLost: 0x7fffff, LastSequenceNumber: 0x1fffe, Jitter: 77, LastSenderReport: 0xabcd1234, Delay: 65536},
			{SSRC: 0x33333333, FractionLost: 0, TotalLost: 3, LastSequenceNumber: 17, Jitter: 1, LastSenderReport: 0, Delay: 0},
		},
	}
	receiverReport = &pionrtcp.ReceiverReport{SSRC: 0x22222222,
		Reports: []pionrtcp.ReceptionReport{{SSRC: 0x11111111, FractionLost: 255, TotalLost: 0xffffff, LastSequenceNumber: 5, Jitter: 2}}}
	sdes = &pionrtcp.SourceDescription{Chunks: []pionrtcp.SourceDescriptionChunk{{Source: 0x11111111,
		Items: []pionrtcp.SourceDescriptionItem{{Type: pionrtcp.SDESCNAME, Text: "user@example.org"}}}}}
	bye  = &pionrtcp.Goodbye{Sources: []uint32{0x11111111}, Reason: "call ended"}
	pli  = &pionrtcp.PictureLossIndication{SenderSSRC: 0x11111111, MediaSSRC: 0x22222222}
	nack = &pionrtcp.TransportLayerNack{SenderSSRC: 0x11111111, MediaSSRC: 0x22222222,
		Nacks: []pionrtcp.NackPair{{PacketID: 100, LostPackets: 0x5}}}
	app = &pionrtcp.ApplicationDefined{SubType: 3, SSRC: 0x11111111, Name: "TEST", Data: []byte{1, 2, 3, 4}}
	xr  = &pionrtcp.ExtendedReport{SenderSSRC: 0x11111111, Reports: []pionrtcp.ReportBlock{
		&pionrtcp.ReceiverReferenceTimeReportBlock{NTPTimestamp: 42}}}
)

func TestParseRTCPAgainstPion(t *testing.T) {
	tests := []struct {
		name  string
		ps    []pionrtcp.Packet
		types []uint8
	}{
		{"SR", []pionrtcp.Packet{senderReport}, []uint8{200}},
		{"SR SDES", []pionrtcp.Packet{senderReport, sdes}, []uint8{200, 202}},
		{"RR SDES BYE", []pionrtcp.Packet{receiverReport, sdes, bye}, []uint8{201, 202, 203}},
		{"RR PLI NACK APP XR", []pionrtcp.Packet{receiverReport, pli, nack, app, xr}, []uint8{201, 206, 205, 204, 207}},
		{"reduced-size PLI (RFC 5506)", []pionrtcp.Packet{pli}, []uint8{206}},
		{"reduced-size XR", []pionrtcp.Packet{xr}, []uint8{207}},
		{"RR without blocks", []pionrtcp.Packet{&pionrtcp.ReceiverReport{SSRC: 5}}, []uint8{201}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := marshalRTCP(t, tt.ps...)
			if _, err := pionrtcp.Unmarshal(b); err != nil {
				t.Fatalf("pion cannot read its own compound: %v", err)
			}
			var c Compound
			if !ParseRTCP(b, &c) {
				t.Fatalf("ParseRTCP refused % x", b)
			}
			if c.N != len(tt.types) {
				t.Fatalf("%d packets, want %d", c.N, len(tt.types))
			}
			for i, typ := range tt.types {
				if c.Packets[i].Type != typ {
					t.Errorf("packet %d type %d, want %d", i, c.Packets[i].Type, typ)
				}
				if c.Packets[i].SSRC == 0 {
					t.Errorf("packet %d (type %d) without its SSRC", i, typ)
				}
			}
		})
	}
}

func TestParseRTCPReports(t *testing.T) {
	var c Compound
	if !ParseRTCP(marshalRTCP(t, senderReport, receiverReport), &c) || c.N != 2 {
		t.Fatalf("refused: %+v", c)
	}
	sr := &c.Packets[0]
	if sr.Type != TypeSR || sr.SSRC != senderReport.SSRC || sr.NTP != senderReport.NTPTime ||
		sr.RTPTs != senderReport.RTPTime || sr.SentPk != senderReport.PacketCount ||
		sr.SentOc != senderReport.OctetCount || sr.NBlock != 2 || sr.Count != 2 {
		t.Fatalf("SR %+v", *sr)
	}
	for i, want := range senderReport.Reports {
		got := sr.Blocks[i]
		if got.SSRC != want.SSRC || got.FractionLost != want.FractionLost || got.CumulativeLost != int32(want.TotalLost) ||
			got.HighestSeq != want.LastSequenceNumber || got.Jitter != want.Jitter ||
			got.LSR != want.LastSenderReport || got.DLSR != want.Delay {
			t.Errorf("SR block %d: %+v, want %+v", i, got, want)
		}
	}
	rr := &c.Packets[1]
	// Cumulative loss is a signed 24-bit field (RFC 3550 §6.4.1): 0xffffff is -1.
	if rr.Type != TypeRR || rr.NBlock != 1 || rr.Blocks[0].CumulativeLost != -1 || rr.Blocks[0].FractionLost != 255 {
		t.Errorf("RR %+v", rr.Blocks[0])
	}
}

func TestParseRTCPOnlyWholeCompounds(t *testing.T) {
	// Every prefix of a compound must be refused unless it ends exactly at
	// a packet boundary, where it is a shorter valid compound.
	ps := []pionrtcp.Packet{senderReport, sdes, bye, xr}
	b := marshalRTCP(t, ps...)
	bounds := map[int]bool{}
	n := 0
	for _, p := range ps {
		m, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		n += len(m)
		bounds[n] = true
	}
	if n != len(b) {
		t.Fatalf("packets add up to %d bytes, compound is %d", n, len(b))
	}
	for k := 0; k <= len(b); k++ {
		var c Compound
		if got := ParseRTCP(b[:k], &c); got != bounds[k] {
			t.Errorf("prefix of %d bytes: ParseRTCP = %v", k, got)
		}
	}
}

func TestParseRTCPRejects(t *testing.T) {
	good := marshalRTCP(t, receiverReport, bye) // RR 32 bytes, BYE 24 bytes
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"RTP PCMU", marshalRTP(t, rtpPacket(t, nil))},
		{"first packet type 192 (not 200-207)", edit(func(b []byte) []byte { b[1] = 192; return b })},
		{"first packet type 208", edit(func(b []byte) []byte { b[1] = 208; return b })},
		{"second packet outside the RTCP range", edit(func(b []byte) []byte { b[33] = 100; return b })},
		{"version 1", edit(func(b []byte) []byte { b[0] = b[0]&0x3f | 0x40; return b })},
		{"second packet version 0", edit(func(b []byte) []byte { b[32] &= 0x3f; return b })},
		{"length one word short", edit(func(b []byte) []byte { b[3]--; return b })},
		{"length one word long", edit(func(b []byte) []byte { b[3]++; return b })},
		{"four trailing zero bytes", append(append([]byte(nil), good...), 0, 0, 0, 0)},
		{"a trailing byte that is not zero", append(append([]byte(nil), good...), 0, 1)},
		{"report count past the packet", edit(func(b []byte) []byte { b[0] = b[0]&0xe0 | 2; return b })},
		{"padding on the first of two", edit(func(b []byte) []byte { b[0] |= 0x20; return b })},
		{"padding count 0 on the last", edit(func(b []byte) []byte { b[32] |= 0x20; b[len(b)-1] = 0; return b })},
		{"padding count past the last", edit(func(b []byte) []byte { b[32] |= 0x20; b[len(b)-1] = 40; return b })},
		{"BYE count past the packet", edit(func(b []byte) []byte { b[32] = b[32]&0xe0 | 9; return b })},
		{"PLI without media SSRC", func() []byte {
			b := marshalRTCP(t, pli)
			b[3]-- // 8 bytes: header and sender SSRC only
			return b[:8]
		}()},
	}
	for _, tt := range tests {
		var c Compound
		if ParseRTCP(tt.b, &c) {
			t.Errorf("%s: accepted % x", tt.name, tt.b)
		}
	}
	var c Compound
	if !ParseRTCP(good, &c) {
		t.Fatal("the unedited compound was refused")
	}
	// Two zero bytes after the compound, as a real SR+RR+SDES carried
	// (heplify/rtp_rtcp_sip_ipv4_udp.pcap frame 529), are tolerated.
	if !ParseRTCP(append(append([]byte(nil), good...), 0, 0), &c) || c.N != 2 {
		t.Error("two trailing zero bytes refused")
	}
	// Padding on the last packet that fits is fine: BYE's reason ends in
	// zero-filled padding already, and 4 more bytes count as RTP padding.
	padded := edit(func(b []byte) []byte {
		b[32] |= 0x20
		b[35]++ // one more word
		return append(b, 0, 0, 0, 4)
	})
	if !ParseRTCP(padded, &c) || c.N != 2 {
		t.Errorf("padded last packet refused")
	}
}

func TestParseRTCPKeepsAtMostMaxPackets(t *testing.T) {
	ps := []pionrtcp.Packet{receiverReport}
	for i := 0; i < MaxPackets+4; i++ {
		ps = append(ps, pli)
	}
	var c Compound
	if !ParseRTCP(marshalRTCP(t, ps...), &c) || c.N != MaxPackets {
		t.Fatalf("N = %d, want %d", c.N, MaxPackets)
	}
	// A bad packet after the kept ones still spoils the compound.
	b := marshalRTCP(t, ps...)
	b[len(b)-11] = 100 // the last PLI's type byte
	if ParseRTCP(b, &c) {
		t.Error("a bad packet beyond MaxPackets was not noticed")
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	rtpb := marshalRTP(t, rtpPacket(t, func(p *pionrtp.Packet) { p.CSRC = []uint32{1, 2} }))
	rtcpb := marshalRTCP(t, senderReport, sdes, bye)
	var h Header
	var c Compound
	if n := testing.AllocsPerRun(100, func() { ParseHeader(rtpb, &h) }); n != 0 {
		t.Errorf("ParseHeader: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { ParseRTCP(rtcpb, &c) }); n != 0 {
		t.Errorf("ParseRTCP: %v allocations", n)
	}
}

func BenchmarkParseHeader(b *testing.B) {
	pkt := marshalRTP(b, rtpPacket(b, func(p *pionrtp.Packet) {
		p.Extension, p.ExtensionProfile = true, pionrtp.ExtensionProfileOneByte
		if err := p.SetExtension(1, []byte{0x90}); err != nil { // audio level, as WebRTC sends it
			b.Fatal(err)
		}
	}))
	b.Run("callscope", func(b *testing.B) {
		var h Header
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for i := 0; i < b.N; i++ {
			if !ParseHeader(pkt, &h) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("pion-rtp-Header.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for i := 0; i < b.N; i++ {
			// A fresh Header per packet, as a decoder that hands headers
			// on must have; reusing one lets pion keep its slices.
			var h pionrtp.Header
			if _, err := h.Unmarshal(pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkParseRTCP(b *testing.B) {
	pkt := marshalRTCP(b, senderReport, sdes)
	b.Run("callscope", func(b *testing.B) {
		var c Compound
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for i := 0; i < b.N; i++ {
			if !ParseRTCP(pkt, &c) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("pion-rtcp.Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for i := 0; i < b.N; i++ {
			if _, err := pionrtcp.Unmarshal(pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
}
