package rtp

import (
	"encoding/binary"
	"encoding/hex"
	"testing"

	pionrtcp "github.com/pion/rtcp"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Real SRTCP datagrams: the UDP payload (inside TURN ChannelData for
// webrtc-relay.pcap) of the frames named, from pcaps/ and from the public
// corpus (../shared/corpus/public).
var realSRTCP = []struct {
	name string
	hex  string
	want SRTCP
}{
	{"Chromium transport-cc feedback alone (RFC 5506), AES_CM_128_HMAC_SHA1_80: pcaps/webrtc-relay.pcap frame 55",
		"8fcd000523ecab961dd4a99f8857ca8a6dc9f0803f6aca5280000001ec8fdc45de936c7966f8",
		SRTCP{Type: TypeRTPFB, Count: 15, Length: 24, SSRC: 0x23ecab96, Layout: SRTCPTagAfter, Encrypted: true, Index: 1}},
	{"the same with the padding bit (encrypted padding): frame 78",
		"afcd000623ecab96358d1e515cb0eaf1da95e1d3f524c0e049be448580000002620ed3f244b22076de1c",
		SRTCP{Type: TypeRTPFB, Count: 15, Length: 28, SSRC: 0x23ecab96, Layout: SRTCPTagAfter, Encrypted: true, Index: 2}},
	{"Chromium SR: frame 687",
		"80c8000623ecab96eee17d3f536c51ab0c358424ad613c9d65d4e16d3f36732ad531e69646db146a3fdb832be57af60cb3cdceaf5139523c80000027407602f4b742999bd1ee",
		SRTCP{Type: TypeSR, Count: 0, Length: 28, SSRC: 0x23ecab96, Layout: SRTCPTagAfter, Encrypted: true, Index: 39}},
	{"Chromium RR with one block: frame 688",
		"81c90007814f8438dccfdd9179de38717b7fbf38a355e075f3d0243df2ac309e8efcfd0a70c183c6895b2886b81419c3b6ea30d580000026a4470ab9313540fbe5dc",
		SRTCP{Type: TypeRR, Count: 1, Length: 32, SSRC: 0x814f8438, Layout: SRTCPTagAfter, Encrypted: true, Index: 38}},
	{"receive-only RR of SSRC 1, nothing encrypted but the word and tag: nDPI/stun.pcap frame 113",
		"80c9000100000001800000031ff01345009e4583923d",
		SRTCP{Type: TypeRR, Count: 0, Length: 8, SSRC: 1, Layout: SRTCPTagAfter, Encrypted: true, Index: 3}},
	{"AES-GCM (RFC 7714), RR and more: nDPI/stun_signal.pcapng frame 131",
		"80c90001000003eb388191ccdece7f76537eaa2db7449849b35356cb56d9edf5948131489bc9877a0a0a0a9836720941e1eae14f80000001",
		SRTCP{Type: TypeRR, Count: 0, Length: 8, SSRC: 0x3eb, Layout: SRTCPTagBefore, Encrypted: true, Index: 1}},
	{"AES-GCM, a lone RR: the tag and the word only: frame 132",
		"80c90001000003eb107a8469497d41507324573fe831bd7880000002",
		SRTCP{Type: TypeRR, Count: 0, Length: 8, SSRC: 0x3eb, Layout: SRTCPTagBefore, Encrypted: true, Index: 2}},
	{"AES-GCM, XR first: nDPI/stun_google_meet.pcapng frame 52",
		"80cf0004d2b3ec9fce65be7c390a06124a55f091d340f80aca7403d7b5a2132964bc878080000001",
		SRTCP{Type: TypeXR, Count: 0, Length: 20, SSRC: 0xd2b3ec9f, Layout: SRTCPTagBefore, Encrypted: true, Index: 1}},
	{"AES-GCM, APP first: frame 153",
		"8dcc0004d2b3ec9f360e0dd519a8e700712f8d52b5365490d97b98067f71560f8b051903541489f736a996948eddbc117a555e83a8f9032112a8d65a8000000a",
		SRTCP{Type: TypeAPP, Count: 13, Length: 20, SSRC: 0xd2b3ec9f, Layout: SRTCPTagBefore, Encrypted: true, Index: 10}},
}

func TestParseSRTCPReal(t *testing.T) {
	for _, tt := range realSRTCP {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, tt.hex)
			var c Compound
			if ParseRTCP(b, &c) {
				t.Fatal("ParseRTCP accepts it: not a case for ParseSRTCP")
			}
			var s SRTCP
			if !ParseSRTCP(b, &s, &c) {
				t.Fatalf("refused % x", b)
			}
			if s != tt.want {
				t.Errorf("got  %+v\nwant %+v", s, tt.want)
			}
		})
	}
}

func TestParseSRTCPRefuses(t *testing.T) {
	plain := marshalRTCP(t, receiverReport, bye) // RR 32 bytes, BYE 24 bytes
	edit := func(b []byte, f func(b []byte)) []byte {
		b = append([]byte(nil), b...)
		f(b)
		return b
	}
	chromium := unhex(t, realSRTCP[0].hex)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"shorter than the clear header", chromium[:7]},
		// Real datagrams of the corpus that look like SRTCP at first sight.
		{"Discord's encrypted RTCP, a nonce where SRTCP's word would be (index 421986432): nDPI/discord.pcap frame 146",
			unhex(t, "80c800060000ace33b8256eab7614f05ed35d35c376318215d55027ca374b92ad27b52886e766b47033ed7f95801594d262bb5873e6b1f8799270080")},
		{"WhatsApp's type 208 first: nDPI/wa_voice.pcap frame 466",
			unhex(t, "81d0000287fab2d7ca6c437980000002ce8ba969f2f3d16b4d27")},
		{"an SR announcing 17 report blocks in 76 bytes: nDPI/stun_wa_call.pcapng frame 505",
			unhex(t, "91c800125c27258f98338718bfc2704716c40b004a30e70db0fd4192f8509caff824c81c30829e1a99f77450799a00a592dd57ea141cdf68f514ebe83e80a40e8477f118924b827c9e148d9508f7d10c1d4d6138eaff207687775abe355231ad74270bf4027f02f792a78ad780000001c902e04d8f694ec34ca2")},
		{"a 1-byte MKI (length 3 modulo 4, trailer not placed): nDPI/stun_msteams_unidir.pcapng frame 2",
			unhex(t, "80c90005000003e85445413b6f681514fa9c98c95d7a5cf38000a15e01e3e4b990e8e3fcd2e170")},
		{"index 1899299200: nDPI/rtp.pcapng frame 65",
			unhex(t, "8fcd0006001a7e73bc3f151c878fb0485cf9c7035ed55b3f29ac45e2f68e9c536e6d1b45ca54343d3793e334f1350180")},
		// Plain RTCP that ParseRTCP refuses.
		{"SR and 8 bytes that look like a word and a 4-byte tag (decode's media test)",
			append(append(marshalRTCP(t, &pionrtcp.SenderReport{SSRC: 0x5eed}), 0x99, 0x42, 0xa7, 0x13), 0x80, 0, 0, 1)},
		{"first length one word long (the compound before the last word parses, its index is text)",
			edit(plain, func(b []byte) { b[3]++ })},
		{"first length one word short", edit(plain, func(b []byte) { b[3]-- })},
		{"four trailing zero bytes", append(append([]byte(nil), plain...), 0, 0, 0, 0)},
		// The clear header and the trailer's place.
		// Only one packet's worth of ciphertext would be taken for its
		// unencrypted body: an SR followed by more.
		{"E flag cleared: the ciphertext after the first packet does not parse",
			edit(unhex(t, realSRTCP[2].hex), func(b []byte) { b[len(b)-14] &= 0x7f })},
		{"index above MaxSRTCPIndex", edit(chromium, func(b []byte) {
			binary.BigEndian.PutUint32(b[len(b)-14:], 1<<31|(MaxSRTCPIndex+1))
		})},
		{"version 1", edit(chromium, func(b []byte) { b[0] = b[0]&0x3f | 0x40 })},
		{"type 192", edit(chromium, func(b []byte) { b[1] = 192 })},
		{"type 208", edit(chromium, func(b []byte) { b[1] = 208 })},
		{"length 1 modulo 4", append(append([]byte(nil), chromium...), 0xaa, 0xbb, 0xcc)},
		{"length 3 modulo 4", append(append([]byte(nil), chromium...), 0xaa)},
		{"first packet of 4 bytes: no sender SSRC", edit(chromium, func(b []byte) { b[2], b[3] = 0, 0 })},
		{"first packet overlapping the word", edit(chromium, func(b []byte) { b[3]++ })},
		{"SDES of no chunk first", edit(chromium, func(b []byte) { b[0], b[1] = 0x80, TypeSDES })},
		{"BYE of no source first", edit(chromium, func(b []byte) { b[0], b[1] = 0x80, TypeBYE })},
		{"RR announcing a block in 24 bytes", edit(chromium, func(b []byte) { b[0], b[1] = 0x81, TypeRR })},
	}
	for _, tt := range tests {
		var s SRTCP
		var c Compound
		if ParseSRTCP(tt.b, &s, &c) {
			t.Errorf("%s: accepted % x as %+v", tt.name, tt.b, s)
		}
	}
	var s SRTCP
	var c Compound
	if !ParseSRTCP(chromium, &s, &c) {
		t.Fatal("the unedited datagram was refused")
	}
}

// Unencrypted SRTCP (the E flag clear) leaves the compound readable; it is
// SRTCP only if the compound parses.
func TestParseSRTCPUnencrypted(t *testing.T) {
	compound := marshalRTCP(t, senderReport, sdes)
	word := func(w uint32) []byte { return binary.BigEndian.AppendUint32(nil, w) }
	tag := func(n int) []byte { return make([]byte, n) }
	tests := []struct {
		name   string
		b      []byte
		layout SRTCPLayout
	}{
		{"HMAC-SHA1: the word, then the tag", append(append(append([]byte(nil), compound...), word(7)...), tag(10)...), SRTCPTagAfter},
		{"AES-GCM: the tag, then the word", append(append(append([]byte(nil), compound...), tag(16)...), word(7)...), SRTCPTagBefore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s SRTCP
			var c Compound
			if !ParseSRTCP(tt.b, &s, &c) {
				t.Fatalf("refused % x", tt.b)
			}
			want := SRTCP{Type: TypeSR, Count: 2, Length: 76, SSRC: senderReport.SSRC, Layout: tt.layout, Encrypted: false, Index: 7}
			if s != want {
				t.Errorf("got  %+v\nwant %+v", s, want)
			}
			if c.N != 2 || c.Packets[1].Type != TypeSDES {
				t.Errorf("compound %d packets", c.N)
			}
		})
	}
}

// FuzzParseSRTCP checks that what ParseSRTCP accepts is what its comment
// promises, read from the bytes independently.
func FuzzParseSRTCP(f *testing.F) {
	for _, r := range realSRTCP {
		f.Add(unhex(f, r.hex))
	}
	f.Add(append(append(marshalRTCP(f, senderReport, sdes), 0, 0, 0, 7), make([]byte, 10)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s SRTCP
		var c Compound
		if !ParseSRTCP(b, &s, &c) {
			return
		}
		n := len(b)
		var word, before int
		switch n % 4 {
		case 2:
			word = 14
		case 0:
			word, before = 4, 16
		default:
			t.Fatalf("accepted a length of %d", n)
		}
		first := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		w := binary.BigEndian.Uint32(b[n-word:])
		switch {
		case b[0]>>6 != 2 || b[1] < TypeSR || b[1] > TypeXR:
			t.Fatalf("first header % x", b[:2])
		case s.Type != b[1] || s.Count != b[0]&0x1f || s.SSRC != binary.BigEndian.Uint32(b[4:]) || s.Length != first:
			t.Fatalf("clear fields %+v of % x", s, b[:8])
		case first < 8 || first+word+before > n:
			t.Fatalf("first packet of %d bytes in %d", first, n)
		case s.Encrypted != (w>>31 == 1) || s.Index != w&0x7fffffff || s.Index > MaxSRTCPIndex:
			t.Fatalf("trailer %+v, word %08x", s, w)
		}
		if !s.Encrypted {
			var c2 Compound
			if !ParseRTCP(b[:n-word-before], &c2) || c2.N != c.N {
				t.Fatalf("unencrypted, but the compound does not parse")
			}
		}
	})
}

func TestParseSRTCPDoesNotAllocate(t *testing.T) {
	b := unhex(t, realSRTCP[3].hex)
	var s SRTCP
	var c Compound
	if n := testing.AllocsPerRun(100, func() { ParseSRTCP(b, &s, &c) }); n != 0 {
		t.Errorf("ParseSRTCP: %v allocations", n)
	}
}

func BenchmarkParseSRTCP(b *testing.B) {
	p := unhex(b, realSRTCP[3].hex)
	var s SRTCP
	var c Compound
	b.ReportAllocs()
	for b.Loop() {
		if !ParseSRTCP(p, &s, &c) {
			b.Fatal("refused")
		}
	}
}
