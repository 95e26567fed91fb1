package decode

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/callscope/callscope/decode/capture"
)

// midSeg is a segment of a connection whose SYN the capture missed: off
// is relative to the first byte captured in that direction.
type midSeg struct {
	fromServer bool
	off        int
	data       []byte
	flags      int
}

// midStream builds a connection picked up mid-stream, from frame 1 on.
func midStream(t *testing.T, r *recorder, c, s netip.AddrPort, segs []midSeg) []*capture.Record {
	const clientSeq, serverSeq = 7_000_000, 4_000_000_000 // the latter wraps
	var recs []*capture.Record
	for _, sg := range segs {
		src, dst, seq := c, s, uint32(clientSeq)
		if sg.fromServer {
			src, dst, seq = s, c, serverSeq
		}
		flags := sg.flags
		if flags == 0 {
			flags = tcpACK | tcpPSH
		}
		recs = append(recs, r.next(capture.LinkIPv4, tcpIP(t, src, dst, seq+uint32(sg.off), flags, sg.data)))
	}
	return recs
}

func wantsOf(got []decoded) []want {
	var ws []want
	for _, m := range got {
		w := want{m.Packet.Frame, m.Kind, uint16(m.STUNID)}
		switch m.Kind {
		case KindChannelData:
			w.id = m.Channel
		case KindSIP:
			w.id = uint16(len(m.SIP))
		}
		ws = append(ws, w)
	}
	return ws
}

// A connection captured mid-call is decoded from the first segment that
// starts a message on (review: TestTCPMidStream, where the whole life of
// such a connection was lost).
func TestTCPMidStream(t *testing.T) {
	const typeRefreshRequest, typeRefreshSuccess = 0x0004, 0x0104
	refresh := stunMessage(typeRefreshRequest, 1, "alice")
	refresh2 := stunMessage(typeRefreshRequest, 2, "alice")
	ok := stunMessage(typeRefreshSuccess, 1, "server")
	cd := channelData(0x4001, make([]byte, 8), true)
	rtp := append([]byte{0x80, 0x60}, make([]byte, 30)...)
	invite := sipMessage("INVITE sip:bob@example.org SIP/2.0", "a@h", "z9hG4bKa", "1 INVITE", testSDP)
	bye := sipMessage("BYE sip:bob@example.org SIP/2.0", "b@h", "z9hG4bKb", "2 BYE", "")

	tests := []struct {
		name string
		segs []midSeg
		want []want
	}{
		{name: "ChannelData first, between endpoints not known to speak STUN, then Refresh",
			segs: []midSeg{{data: cd}, {off: 12, data: cd}, {off: 24, data: refresh}, {off: 24 + len(refresh), data: refresh2}},
			want: []want{{3, KindSTUN, 1}, {4, KindSTUN, 2}}},
		{name: "the tail of a message first, then Refresh",
			segs: []midSeg{{data: refresh[10:]}, {off: len(refresh) - 10, data: refresh}, {off: 2*len(refresh) - 10, data: refresh2}},
			want: []want{{2, KindSTUN, 1}, {3, KindSTUN, 2}}},
		{name: "Refresh first, then ChannelData and a split Refresh",
			segs: []midSeg{{data: refresh}, {off: len(refresh), data: cd}, {off: len(refresh) + 12, data: refresh2[:5]},
				{off: len(refresh) + 17, data: refresh2[5:]}},
			want: []want{{1, KindSTUN, 1}, {2, KindChannelData, 0x4001}, {4, KindSTUN, 2}}},
		{name: "each direction hunts on its own",
			segs: []midSeg{{fromServer: true, data: ok[3:]}, {data: refresh[7:]}, {off: len(refresh) - 7, data: refresh2},
				{fromServer: true, off: len(ok) - 3, data: ok}},
			want: []want{{3, KindSTUN, 2}, {4, KindSTUN, 1}}},
		{name: "a message in the middle of a segment is not looked for",
			segs: []midSeg{{data: cat(refresh[10:], refresh)}, {off: 2*len(refresh) - 10, data: refresh2}},
			want: []want{{2, KindSTUN, 2}}},
		{name: "RFC 4571 framing found at a segment start",
			segs: []midSeg{{data: rfc4571(rtp)[5:]}, {off: len(rtp) - 3, data: cat(rfc4571(refresh), rfc4571(rtp))},
				{off: len(rtp) - 3 + len(refresh) + len(rtp) + 4, data: cat(rfc4571(rtp), rfc4571(refresh2))}},
			want: []want{{2, KindSTUN, 1}, {2, KindRTP, 0}, {3, KindRTP, 0}, {3, KindSTUN, 2}}},
		{name: "a segment that starts with bytes already passed over is not a start",
			segs: []midSeg{{data: make([]byte, 40)}, {off: 20, data: cat(make([]byte, 20), refresh)}, {off: 40 + len(refresh), data: refresh2}},
			want: []want{{3, KindSTUN, 2}}},
		{name: "out of order while hunting: each segment is tested as it comes",
			segs: []midSeg{{data: refresh[10:]}, {off: len(refresh) - 10 + len(refresh), data: refresh2}, {off: len(refresh) - 10, data: refresh}},
			want: []want{{2, KindSTUN, 2}}},
		{name: "SIP: the end of a body, then requests",
			segs: []midSeg{{data: invite[len(invite)-40:]}, {off: 40, data: invite}, {off: 40 + len(invite), data: bye}},
			want: []want{{2, KindSIP, uint16(len("INVITE a@h"))}, {3, KindSIP, uint16(len("BYE b@h"))}}},
		{name: "TLS picked up mid-stream yields nothing",
			segs: []midSeg{{data: []byte{0x17, 3, 3, 0, 40, 1, 2, 3}}, {off: 8, data: []byte{0x17, 3, 3, 0, 0x21, 0x12, 0xa4, 0x42, 9, 9}}},
			want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			got, st := run(t, Options{}, midStream(t, &r, client, server, tt.segs)...)
			if g := wantsOf(got); !equalWants(g, tt.want) {
				t.Errorf("got  %v\nwant %v", g, tt.want)
			}
			if st.TCPStreams != 1 {
				t.Errorf("TCPStreams = %d, want 1", st.TCPStreams)
			}
		})
	}
}

// ChannelData at the start of a segment resynchronizes only between
// endpoints that were seen speaking STUN, as on UDP.
func TestTCPMidStreamChannelDataOnSTUNEndpoint(t *testing.T) {
	var r recorder
	cd := channelData(0x4002, []byte("media"), true)
	alloc := stunMessage(typeAllocateRequest, 1, "")
	recs := tcpConnectionAt(t, &r, netipMust("192.0.2.50:40000"), server, []seg{{data: alloc}})
	recs = append(recs, midStream(t, &r, client, server, []midSeg{{data: cd[2:]}, {off: len(cd) - 2, data: cd}})...)
	got, _ := run(t, Options{}, recs...)
	want := []want{{2, KindSTUN, 1}, {4, KindChannelData, 0x4002}}
	if g := wantsOf(got); !equalWants(g, want) {
		t.Errorf("got  %v\nwant %v", g, want)
	}
}

// tcpConnectionAt is tcpConnection between given endpoints, numbering
// frames with r.
func tcpConnectionAt(t *testing.T, r *recorder, c, s netip.AddrPort, segs []seg) []*capture.Record {
	recs := []*capture.Record{r.next(capture.LinkIPv4, tcpIP(t, c, s, clientISN, tcpSYN, nil))}
	for _, sg := range segs {
		src, dst, isn := c, s, uint32(clientISN)
		if sg.fromServer {
			src, dst, isn = s, c, serverISN
		}
		flags := sg.flags
		if flags == 0 {
			flags = tcpACK | tcpPSH
		}
		recs = append(recs, r.next(capture.LinkIPv4, tcpIP(t, src, dst, isn+1+uint32(sg.off), flags, sg.data)))
	}
	return recs
}

// An RFC 6062 data connection carries the peer's bytes after
// ConnectionBind: they are not hunted through, even when they look like
// STUN.
func TestTCPConnectionBindEndsFraming(t *testing.T) {
	const typeConnectionBindRequest, typeConnectionBindSuccess = 0x000b, 0x010b
	bind := stunMessage(typeConnectionBindRequest, 1, "")
	bound := stunMessage(typeConnectionBindSuccess, 1, "")
	peer := stunMessage(typeBindingRequest, 9, "relayed")
	got, _ := run(t, Options{}, tcpConnection(t, []seg{
		{data: bind},
		{fromServer: true, data: cat(bound, peer)},
		{off: len(bind), data: peer},
		{fromServer: true, off: len(bound) + len(peer), data: peer},
	})...)
	want := []want{{2, KindSTUN, 1}, {3, KindSTUN, 1}}
	if g := wantsOf(got); !equalWants(g, want) {
		t.Errorf("got  %v\nwant %v", g, want)
	}
}

// All connections together buffer at most MaxTCPBytes: the idlest give up
// what they hold, count as evicted, and resynchronize on their next
// message; the connection being fed keeps its bytes.
func TestTCPMemoryBudget(t *testing.T) {
	const streams, budget = 200, 16 << 10
	d := NewDecoderWithOptions(Options{MaxTCPBytes: budget, MaxStreamBytes: 4 << 10})
	var r recorder
	var got []want
	collect := func(m *Message) {
		if m.Kind == KindSTUN {
			got = append(got, want{m.Packet.Frame, m.Kind, uint16(m.STUN.Transaction[0])})
		}
	}
	big := stunMessage(typeBindingRequest, 1, string(make([]byte, 3000)))
	next := stunMessage(typeBindingRequest, 2, "next")
	src := func(i int) netip.AddrPort { return netipMust("192.0.2.20:" + strconv.Itoa(10000+i)) }
	check := func() { t.Helper(); checkTCPBudget(t, d) }
	// Every stream holds most of a big message: in order, or behind a hole.
	for i := 0; i < streams; i++ {
		d.Decode(r.next(capture.LinkIPv4, tcpIP(t, src(i), server, clientISN, tcpSYN, nil)), collect)
		if i%2 == 0 {
			d.Decode(r.next(capture.LinkIPv4, tcpIP(t, src(i), server, clientISN+1, tcpACK, big[:2000])), collect)
		} else {
			d.Decode(r.next(capture.LinkIPv4, tcpIP(t, src(i), server, clientISN+1+100, tcpACK, big[100:2000])), collect)
		}
		check()
	}
	st := d.Stats()
	if st.TCPEvicted == 0 || st.TCPGaps < st.TCPEvicted {
		t.Fatalf("TCPEvicted %d, TCPGaps %d: want evictions counted as gaps", st.TCPEvicted, st.TCPGaps)
	}
	// The last stream kept its bytes and completes its message; the first
	// lost them, drops the rest of its message and decodes the next one.
	last, first := streams-1, 0
	if last%2 != 1 {
		t.Fatal("the last stream should be one with a hole")
	}
	d.Decode(r.next(capture.LinkIPv4, tcpIP(t, src(last), server, clientISN+1, tcpACK, big[:100])), collect)
	d.Decode(r.next(capture.LinkIPv4, tcpIP(t, src(last), server, clientISN+1+2000, tcpACK, big[2000:])), collect)
	lastFrame := r.n
	d.Decode(r.next(capture.LinkIPv4, tcpIP(t, src(first), server, clientISN+1+2000, tcpACK, big[2000:])), collect)
	d.Decode(r.next(capture.LinkIPv4, tcpIP(t, src(first), server, clientISN+1+uint32(len(big)), tcpACK, next)), collect)
	check()
	want := []want{{lastFrame, KindSTUN, 1}, {r.n, KindSTUN, 2}}
	if !equalWants(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
