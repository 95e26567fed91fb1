package decode

import (
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
)

// seg is one TCP segment of a test connection: its direction, its offset
// in that direction's byte stream, and its data. Frame 1 is always the
// client's SYN; segments are frames 2, 3, ...
type seg struct {
	fromServer bool
	off        int
	data       []byte
	flags      int
}

// want is an expected message: the frame it is attributed to, its kind and
// its transaction ID byte or channel number.
type want struct {
	frame uint64
	kind  Kind
	id    uint16
}

const clientISN, serverISN = 1000, 90000

func tcpConnection(t *testing.T, segs []seg) []*capture.Record {
	var r recorder
	recs := []*capture.Record{r.next(capture.LinkIPv4, tcpIP(t, client, server, clientISN, tcpSYN, nil))}
	for _, s := range segs {
		src, dst, isn := client, server, uint32(clientISN)
		if s.fromServer {
			src, dst, isn = server, client, serverISN
		}
		flags := s.flags
		if flags == 0 {
			flags = tcpACK | tcpPSH
		}
		recs = append(recs, r.next(capture.LinkIPv4, tcpIP(t, src, dst, isn+1+uint32(s.off), flags, s.data)))
	}
	return recs
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// rfc4571 prefixes a frame with its 2-byte length (RFC 4571 §2).
func rfc4571(b []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
}

func TestTCPFraming(t *testing.T) {
	a := stunMessage(typeAllocateRequest, 1, "first message")
	b := stunMessage(typeAllocateRequest, 2, "second message, longer")
	c := stunMessage(typeAllocateRequest, 3, "third")
	resp := stunMessage(typeAllocateSuccess, 1, "server")
	ab, abc := cat(a, b), cat(a, b, c)
	cd1 := channelData(0x4000, []byte("hello"), true) // 5 bytes, padded to 8
	cd2 := channelData(0x4001, []byte("1234"), true)
	big := stunMessage(typeBindingRequest, 4, string(make([]byte, 200)))
	rtp := append([]byte{0x80, 0x60}, make([]byte, 30)...)

	tests := []struct {
		name  string
		opts  Options
		segs  []seg
		want  []want
		gaps  uint64
		check func(t *testing.T, st Stats)
	}{
		{name: "one message per segment",
			segs: []seg{{data: a}, {off: len(a), data: b}},
			want: []want{{2, KindSTUN, 1}, {3, KindSTUN, 2}}},
		{name: "split across three segments",
			segs: []seg{{data: a[:7]}, {off: 7, data: a[7:25]}, {off: 25, data: a[25:]}},
			want: []want{{4, KindSTUN, 1}}},
		{name: "header split before its length field",
			segs: []seg{{data: a[:1]}, {off: 1, data: a[1:]}},
			want: []want{{3, KindSTUN, 1}}},
		{name: "three messages in one segment",
			segs: []seg{{data: abc}},
			want: []want{{2, KindSTUN, 1}, {2, KindSTUN, 2}, {2, KindSTUN, 3}}},
		{name: "a message and a half, then the rest and another",
			segs: []seg{{data: abc[:len(a)+10]}, {off: len(a) + 10, data: abc[len(a)+10:]}},
			want: []want{{2, KindSTUN, 1}, {3, KindSTUN, 2}, {3, KindSTUN, 3}}},
		{name: "out of order: completed by the segment that fills the hole",
			segs: []seg{{off: len(a), data: b}, {data: a}},
			want: []want{{3, KindSTUN, 1}, {3, KindSTUN, 2}}},
		{name: "overlapping retransmission",
			segs: []seg{{data: a[:30]}, {off: 20, data: a[20:]}, {data: a}},
			want: []want{{3, KindSTUN, 1}}},
		{name: "both directions",
			segs: []seg{{data: a[:10]}, {fromServer: true, data: resp}, {off: 10, data: a[10:]}},
			want: []want{{3, KindSTUN, 1}, {4, KindSTUN, 1}}},
		{name: "not STUN: ignored, even if STUN follows",
			segs: []seg{{data: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}, {off: 27, data: a}},
			want: nil},
		{name: "RFC 4571 framing with media frames between",
			segs: []seg{{data: cat(rfc4571(a), rfc4571(rtp))}, {off: len(a) + len(rtp) + 4, data: rfc4571(b)}},
			want: []want{{2, KindSTUN, 1}, {2, KindRTP, 0}, {3, KindSTUN, 2}}},
		{name: "RFC 4571 split inside the length prefix",
			segs: []seg{{data: rfc4571(a)[:1]}, {off: 1, data: rfc4571(a)[1:]}},
			want: []want{{3, KindSTUN, 1}}},
		{name: "ChannelData padded to 4 (RFC 8656 §12.5)",
			segs: []seg{{data: a}, {off: len(a), data: cat(cd1, cd2[:3])}, {off: len(a) + len(cd1) + 3, data: cd2[3:]}},
			want: []want{{2, KindSTUN, 1}, {3, KindChannelData, 0x4000}, {4, KindChannelData, 0x4001}}},
		{name: "hole never filled: skipped at Flush, message in its own frame",
			segs: []seg{{data: a}, {off: len(ab), data: c}},
			want: []want{{2, KindSTUN, 1}, {3, KindSTUN, 3}}, gaps: 1},
		{name: "hole skipped when the buffer limit is reached",
			opts: Options{MaxStreamBytes: 64},
			segs: []seg{{data: a}, {off: len(a) + len(b), data: c}, {off: len(ab) + len(c), data: cat(a, a)}},
			want: []want{{2, KindSTUN, 1}, {4, KindSTUN, 3}, {4, KindSTUN, 1}, {4, KindSTUN, 1}}, gaps: 1},
		{name: "after a hole, a segment that does not start a message is dropped",
			segs: []seg{{data: a}, {off: len(a) + 5, data: b[5:]}, {off: len(ab), data: c}},
			want: []want{{2, KindSTUN, 1}, {4, KindSTUN, 3}}, gaps: 1},
		{name: "message larger than the stream buffer is skipped, framing kept",
			opts: Options{MaxStreamBytes: 128},
			segs: []seg{{data: a}, {off: len(a), data: big[:100]}, {off: len(a) + 100, data: cat(big[100:], c)}},
			want: []want{{2, KindSTUN, 1}, {4, KindSTUN, 3}}},
		{name: "framing lost: found again where a segment starts a message",
			segs: []seg{{data: cat(a, []byte{0xff, 0, 0, 0})}, {off: len(a) + 4, data: b[:8]}, {off: len(a) + 12, data: b[8:]},
				{off: len(ab) + 4, data: c}},
			want: []want{{2, KindSTUN, 1}, {4, KindSTUN, 2}, {5, KindSTUN, 3}}},
		{name: "framing lost inside a segment: the rest of it is passed over",
			segs: []seg{{data: cat(a, []byte{0xff, 0, 0, 0}, b)}, {off: len(ab) + 4, data: c}},
			want: []want{{2, KindSTUN, 1}, {3, KindSTUN, 3}}},
		{name: "framing lost with a segment held out of order: the held one is hunted",
			segs: []seg{{data: a}, {off: len(ab) + 4, data: c}, {off: len(a), data: cat([]byte{0xff, 0, 0, 0}, b)}},
			want: []want{{2, KindSTUN, 1}, {4, KindSTUN, 3}}},
		{name: "not STUN from the SYN: ignored even when a segment starts a message",
			segs: []seg{{data: []byte{0x16, 3, 1, 0, 4, 1, 0, 0, 0}}, {off: 9, data: a}},
			want: nil},
		{name: "FIN ends the direction",
			segs: []seg{{data: a, flags: tcpACK | tcpFIN}, {off: len(a) + 1, data: b}},
			want: []want{{2, KindSTUN, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := run(t, tt.opts, tcpConnection(t, tt.segs)...)
			var gotW []want
			for _, m := range got {
				w := want{m.Packet.Frame, m.Kind, uint16(m.STUNID)}
				if m.Kind == KindChannelData {
					w.id = m.Channel
				}
				if m.Packet.Transport != TCP {
					t.Errorf("message %+v not marked TCP", m)
				}
				gotW = append(gotW, w)
			}
			if !equalWants(gotW, tt.want) {
				t.Errorf("got  %v\nwant %v", gotW, tt.want)
			}
			if st.TCPGaps != tt.gaps {
				t.Errorf("TCPGaps = %d, want %d", st.TCPGaps, tt.gaps)
			}
			if st.TCPStreams != 1 {
				t.Errorf("TCPStreams = %d, want 1", st.TCPStreams)
			}
		})
	}
}

func equalWants(a, b []want) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The per-direction buffer never grows past its limit, however a stream
// misbehaves, and streams beyond the limit evict the oldest.
func TestTCPBounds(t *testing.T) {
	d := NewDecoderWithOptions(Options{MaxStreamBytes: 256, MaxTCPStreams: 4})
	var r recorder
	nop := func(*Message) {}
	msg := stunMessage(typeBindingRequest, 1, string(make([]byte, 2000)))
	// Holes everywhere: out-of-order segments 3 bytes apart.
	d.Decode(r.next(capture.LinkIPv4, tcpIP(t, client, server, 0, tcpACK, msg[:20])), nop)
	for i := 1; i < 200; i++ {
		d.Decode(r.next(capture.LinkIPv4, tcpIP(t, client, server, uint32(i*30), tcpACK, msg[:20])), nop)
	}
	for _, c := range d.tcp.conns {
		for _, h := range c.half {
			if cap(h.buf) > 2*256 || h.pendingBytes > 256 || len(h.pending) > maxPendingPerHalf {
				t.Errorf("half holds buf %d, pending %d bytes in %d segments", cap(h.buf), h.pendingBytes, len(h.pending))
			}
		}
	}
	for port := 1; port <= 10; port++ {
		src := netipMust("192.0.2.20:" + strconv.Itoa(port))
		d.Decode(r.next(capture.LinkIPv4, tcpIP(t, src, server, 1, tcpSYN, nil)), nop)
	}
	if n := len(d.tcp.conns); n > 4 {
		t.Errorf("%d connections tracked, limit 4", n)
	}
	if st := d.Stats(); st.TCPStreams != 11 {
		t.Errorf("TCPStreams = %d, want 11", st.TCPStreams)
	}
}

// A connection silent longer than TCPIdleTimeout is forgotten: the rest of
// a message that arrives after that is mid-stream noise, not a message.
func TestTCPIdleTimeout(t *testing.T) {
	a := stunMessage(typeAllocateRequest, 1, "idle")
	var r recorder
	recs := []*capture.Record{
		r.at(capture.LinkIPv4, tcpIP(t, client, server, clientISN, tcpSYN, nil), t0),
		r.at(capture.LinkIPv4, tcpIP(t, client, server, clientISN+1, tcpACK, a[:10]), t0),
		r.at(capture.LinkIPv4, tcpIP(t, netipMust("192.0.2.99:1"), server, 5, tcpSYN, nil), t0.Add(6*time.Minute)),
		r.at(capture.LinkIPv4, tcpIP(t, client, server, clientISN+11, tcpACK, a[10:]), t0.Add(6*time.Minute)),
	}
	got, st := run(t, Options{TCPIdleTimeout: 5 * time.Minute}, recs...)
	if len(got) != 0 {
		t.Errorf("emitted %+v from a forgotten stream", got)
	}
	if st.TCPStreams != 3 {
		t.Errorf("TCPStreams = %d, want 3 (the idle one came back as new)", st.TCPStreams)
	}
	got, _ = run(t, Options{TCPIdleTimeout: 10 * time.Minute}, recs...)
	if len(got) != 1 || got[0].Packet.Frame != 4 {
		t.Errorf("within the timeout: got %+v, want the message in frame 4", got)
	}
}
