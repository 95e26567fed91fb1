package decode

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/decode/tls/tlstest"
)

// ICE-TCP (RFC 6544 §3): every frame of an RFC 4571 connection is
// demultiplexed as RFC 7983 §7 demultiplexes datagrams. Media frames come
// out as they would from UDP, over TCP, in the frame whose segment
// completed them.
func TestICETCPMedia(t *testing.T) {
	check := stunMessage(typeBindingRequest, 1, "")
	answer := stunMessage(0x0101, 1, "")
	rtp1, rtp2, rtpBack := pionRTP(t, 111, true, 1), pionRTP(t, 111, false, 2), pionRTP(t, 111, false, 9)
	rtcp := pionRTCP(t, testSR, testSDES)
	srtcp := unhexMedia(t, "8fcd000523ecab961dd4a99f8857ca8a6dc9f0803f6aca5280000001ec8fdc45de936c7966f8")
	chanData := channelData(0x4000, []byte("not on ICE-TCP"), true)
	sctpLike := []byte{0x50, 1, 2, 3, 4, 5, 6, 7}

	first := cat(rfc4571(rtp1), rfc4571(rtcp), rfc4571(rtp2)[:5])
	rest := cat(rfc4571(rtp2)[5:], rfc4571(srtcp), rfc4571(chanData), rfc4571(sctpLike))
	segs := []seg{
		{data: rfc4571(check)},                                           // 2
		{fromServer: true, data: rfc4571(answer)},                        // 3
		{off: len(check) + 2, data: first},                               // 4
		{off: len(check) + 2 + len(first), data: rest},                   // 5
		{fromServer: true, off: len(answer) + 2, data: rfc4571(rtpBack)}, // 6
	}
	got, st := run(t, Options{}, tcpConnection(t, segs)...)
	type seen struct {
		frame uint64
		kind  Kind
		seq   uint16
		rtcp  string
	}
	want := []seen{{2, KindSTUN, 0, ""}, {3, KindSTUN, 0, ""}, {4, KindRTP, 1, ""}, {4, KindRTCP, 0, "[200 202]"},
		{5, KindRTP, 2, ""}, {5, KindRTCP, 0, "srtcp"}, {6, KindRTP, 9, ""}}
	var gotS []seen
	for _, m := range got {
		s := seen{frame: m.Packet.Frame, kind: m.Kind}
		switch m.Kind {
		case KindRTP:
			s.seq = m.RTP.Sequence
		case KindRTCP:
			s.rtcp = fmt.Sprint(m.RTCP)
			if m.SRTCP != nil {
				s.rtcp = "srtcp"
			}
		}
		if m.Packet.Transport != TCP {
			t.Errorf("frame %d: %v over %v", m.Packet.Frame, m.Kind, m.Packet.Transport)
		}
		gotS = append(gotS, s)
	}
	if len(gotS) != len(want) {
		t.Fatalf("got  %v\nwant %v", gotS, want)
	}
	for i := range want {
		if gotS[i] != want[i] {
			t.Errorf("message %d: got %v, want %v", i, gotS[i], want[i])
		}
	}
	if st.RTP != 3 || st.RTCP != 1 || st.SRTCP != 1 || st.STUN != 2 || st.ChannelData != 0 || st.TCPGaps != 0 || st.Malformed != 0 {
		t.Errorf("stats %+v", st)
	}
	// The decode record says where the frame travelled.
	for _, m := range got {
		if m.Kind != KindRTP {
			continue
		}
		msg := Message{Packet: m.Packet, Kind: KindRTP, RTP: m.RTP}
		var rec struct {
			Transport string `json:"transport"`
			Proto     string `json:"proto"`
		}
		if err := json.Unmarshal(AppendRecord(nil, &msg), &rec); err != nil || rec.Transport != "tcp" || rec.Proto != "rtp" {
			t.Errorf("record %+v (%v)", rec, err)
		}
	}
}

// A DTLS handshake over ICE-TCP: each frame is one of the datagrams the
// handshake would have sent over UDP, its certificate fragmented across
// several (RFC 6347 §4.2.3) and the frames across segments. The
// fragments are reassembled per connection, and a UDP flow between the
// same ends is another association.
func TestICETCPDTLS(t *testing.T) {
	chunks, cert := webrtcDTLSHandshake(t)
	// The connection starts with a check each way (RFC 6544 §7.1), then
	// carries the handshake, one frame per datagram, cut into segments of
	// 100 bytes.
	stream := []tlstest.Chunk{{Data: stunMessage(typeBindingRequest, 1, "")}, {FromServer: true, Data: stunMessage(0x0101, 1, "")}}
	stream = append(stream, chunks...)
	var framed []tlstest.Chunk
	for _, c := range stream {
		framed = append(framed, tlstest.Chunk{FromServer: c.FromServer, Data: rfc4571(c.Data)})
	}
	segs := tlsSegments(framed, 100)
	recs := tcpConnection(t, segs)
	// The frame whose segment carries each DTLS frame's last byte.
	var lastFrame []uint64
	var off [2]int
	segEnd := make([][2]int, len(segs)) // per segment: direction, end offset
	for i, s := range segs {
		dir := 0
		if s.fromServer {
			dir = 1
		}
		segEnd[i] = [2]int{dir, s.off + len(s.data)}
	}
	for _, c := range framed {
		dir := 0
		if c.FromServer {
			dir = 1
		}
		off[dir] += len(c.Data)
		if c.Data[2] <= 3 {
			continue // STUN
		}
		for i, e := range segEnd {
			if e[0] == dir && e[1] >= off[dir] {
				lastFrame = append(lastFrame, uint64(i+2))
				break
			}
		}
	}
	// A UDP datagram between the same ends that only a DTLS association
	// would make DTLS: a unified-header record (RFC 9147 §4).
	var r recorder
	r.n = uint64(len(recs))
	recs = append(recs, r.next(capture.LinkIPv4, udpIP(t, client, server, []byte{0x2c, 0, 1, 0, 3, 1, 2, 3}, 0)))

	d := NewDecoder()
	seen := decodeTLS(t, d, recs, server)
	if len(seen) != len(chunks) {
		t.Fatalf("%d DTLS messages for %d frames", len(seen), len(chunks))
	}
	var certs []tls.Certificate
	fragments := 0
	for i, s := range seen {
		if s.kind != KindDTLS || !strings.Contains(s.record, `"transport":"tcp","dscp":0,"proto":"dtls","dtls":{"version":"DTLS`) {
			t.Errorf("frame %d: %v %s", s.frame, s.kind, s.record)
		}
		if s.frame != lastFrame[i] {
			t.Errorf("DTLS message %d in frame %d, want %d (the segment that completed its frame)", i, s.frame, lastFrame[i])
		}
		if s.fromServer {
			certs = append(certs, s.certs...)
			for _, h := range s.msg.Handshakes {
				if h == tls.HandshakeCertificate {
					fragments++
				}
			}
		}
	}
	if fragments < 3 {
		t.Errorf("the server's certificate came in %d fragments: the test does not test reassembly", fragments)
	}
	if len(certs) != 1 || certs[0].SHA256 != sha256.Sum256(cert.DER) || certs[0].KeyBits != 2048 {
		t.Errorf("server certificates %+v", certs)
	}
	if st := d.Stats(); st.DTLS != uint64(len(chunks)) || st.Malformed != 0 || st.Certificates != 1 || st.TCPGaps != 0 {
		t.Errorf("stats %+v", st)
	}
}

// After a hole, an ICE-TCP connection resumes at the first segment that
// is whole frames to its last byte, media or STUN; one that ends inside
// a frame, or whose lengths do not tile it, is passed over.
func TestICETCPResync(t *testing.T) {
	check := stunMessage(typeBindingRequest, 1, "")
	rtp := func(seq uint16) []byte { return rfc4571(pionRTP(t, 111, false, seq)) }
	dtlsRec := rfc4571(append([]byte{23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7, 0, 16}, make([]byte, 16)...))
	off := len(check) + 2
	n := len(rtp(1))
	segs := []seg{
		{data: rfc4571(check)},                                 // 2
		{off: off, data: rtp(1)},                               // 3
		{off: off + 2*n, data: rtp(3)[3:]},                     // 4: after the hole (rtp 2 lost), not a frame start
		{off: off + 3*n + 100, data: cat(rtp(5), rtp(6)[:20])}, // 5: after another hole, ends inside a frame
		{off: off + 4*n + 300, data: cat(rtp(7), dtlsRec)},     // 6: after a third, tiles: resumes here
		{off: off + 5*n + 300 + len(dtlsRec), data: rtp(8)},    // 7
	}
	got, st := run(t, Options{}, tcpConnection(t, segs)...)
	var seqs []uint16
	var frames []uint64
	for _, m := range got {
		if m.Kind == KindRTP {
			seqs = append(seqs, m.RTP.Sequence)
			frames = append(frames, m.Packet.Frame)
		}
	}
	if len(seqs) != 3 || seqs[0] != 1 || seqs[1] != 7 || seqs[2] != 8 || frames[1] != 6 || frames[2] != 7 {
		t.Errorf("RTP %v in frames %v, want 1, 7, 8 in frames 3, 6, 7", seqs, frames)
	}
	if st.TCPGaps == 0 {
		t.Errorf("no gap counted: %+v", st)
	}
	for _, tt := range []struct {
		data []byte
		want bool
	}{
		{rtp(1), true},
		{cat(rtp(1), rfc4571(check), dtlsRec), true},
		{rtp(1)[:20], false},
		{cat(rtp(1), []byte{0}), false},
		{rfc4571([]byte{0x50, 0, 0, 0, 0, 0, 0, 0}), false},              // ChannelData's range
		{rfc4571(append([]byte{0x80, 0x60}, make([]byte, 4)...)), false}, // too short for RTP or RTCP
		{rfc4571(make([]byte, 20)), false},                               // 0-3 but not STUN
		{[]byte{0, 0}, false},
		{nil, false},
	} {
		if got := tilesICETCPFrames(tt.data); got != tt.want {
			t.Errorf("tilesICETCPFrames(% x) = %v, want %v", tt.data[:min(len(tt.data), 12)], got, tt.want)
		}
	}
}

// Media over ICE-TCP costs no allocation per packet once the connection
// is established, as over UDP.
func TestICETCPRTPDoesNotAllocate(t *testing.T) {
	d := NewDecoder()
	var r recorder
	nop := func(*Message) {}
	check := rfc4571(stunMessage(typeBindingRequest, 1, ""))
	d.Decode(r.next(capture.LinkIPv4, tcpIP(t, client, server, 1, tcpSYN, nil)), nop)
	d.Decode(r.next(capture.LinkIPv4, tcpIP(t, client, server, 2, tcpACK, check)), nop)
	seq := uint32(2 + len(check))
	segsOf := make([][]byte, 64)
	for i := range segsOf {
		frame := rfc4571(pionRTP(t, 111, false, uint16(i)))
		segsOf[i] = tcpIP(t, client, server, seq, tcpACK|tcpPSH, frame)
		seq += uint32(len(frame))
	}
	recs := make([]capture.Record, len(segsOf))
	for i, b := range segsOf {
		recs[i] = capture.Record{Frame: uint64(i + 3), Time: t0, LinkType: capture.LinkIPv4, Data: b, OrigLen: len(b)}
	}
	rtpSeen := 0
	count := func(m *Message) {
		if m.Kind == KindRTP {
			rtpSeen++
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(len(recs)-1, func() {
		d.Decode(&recs[i], count)
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per RTP segment", allocs)
	}
	if rtpSeen != len(recs) {
		t.Errorf("%d RTP messages for %d segments", rtpSeen, len(recs))
	}
}
