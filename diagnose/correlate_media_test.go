package diagnose

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/decode/stun"
)

var (
	mediaCaller = netip.MustParseAddrPort("192.0.2.20:40000")
	mediaCallee = netip.MustParseAddrPort("198.51.100.30:50000")
)

// rtpPkt is one synthetic RTP packet, at milliseconds after simStart.
type rtpPkt struct {
	at       float64
	src, dst netip.AddrPort
	ssrc     uint32
	seq      uint16
	ts       uint32
	pt       uint8
	marker   bool
	dscp     uint8
	payload  int
}

// voice is n packets of one 20 ms PCMU stream from the caller to the
// callee: sequence numbers from seq0, timestamps 160 apart, EF-marked.
func voice(n int, seq0 uint16) []rtpPkt {
	out := make([]rtpPkt, n)
	for i := range out {
		out[i] = rtpPkt{
			at: 20 * float64(i), src: mediaCaller, dst: mediaCallee, ssrc: 0x1234,
			seq: seq0 + uint16(i), ts: 1000 + 160*uint32(i), pt: 0, dscp: 46, payload: 160,
		}
	}
	return out
}

// without drops the packets at the given indexes.
func without(p []rtpPkt, idx ...int) []rtpPkt {
	var out []rtpPkt
	for i, pk := range p {
		if !slices.Contains(idx, i) {
			out = append(out, pk)
		}
	}
	return out
}

// setRTP fills a reused Message with one RTP packet, as the decoder would.
func setRTP(m *decode.Message, frame uint64, pk *rtpPkt) {
	tr := decode.UDP
	*m = decode.Message{
		Packet: decode.Packet{Frame: frame, Time: simStart.Add(time.Duration(pk.at * float64(time.Millisecond))),
			Src: pk.src, Dst: pk.dst, Transport: tr, DSCP: pk.dscp},
		Kind: decode.KindRTP,
		RTP: rtp.Header{Version: 2, Marker: pk.marker, PayloadType: pk.pt, Sequence: pk.seq,
			Timestamp: pk.ts, SSRC: pk.ssrc, HeaderLen: 12, PayloadLen: pk.payload},
	}
}

// feedRTP observes packets in order, frames numbered from 1, through one
// reused Message.
func feedRTP(e *Engine, pkts []rtpPkt) {
	var m decode.Message
	for i := range pkts {
		setRTP(&m, uint64(i+1), &pkts[i])
		e.Observe(&m)
	}
}

func analyzeRTP(pkts []rtpPkt) *Analysis {
	e := NewEngine(Options{})
	feedRTP(e, pkts)
	return e.Finish(simStart.Add(time.Hour))
}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestStreamAccounting(t *testing.T) {
	reordered := voice(100, 1000)
	reordered[10], reordered[11] = reordered[11], reordered[10]
	dupLate := reordered[30]
	dupLate.at = reordered[35].at + 1
	reordered = slices.Insert(reordered, 36, dupLate)
	dupNow := reordered[20]
	dupNow.at++
	reordered = slices.Insert(reordered, 21, dupNow)

	restart := voice(50, 100)
	for _, pk := range voice(50, 30000) {
		pk.at += 2000
		pk.ts += 0x40000000 // a restarted source picks a new random timestamp
		restart = append(restart, pk)
	}
	stray := voice(60, 500)
	strayPkt := stray[30]
	strayPkt.seq, strayPkt.at = 40000, strayPkt.at+1
	stray = slices.Insert(stray, 31, strayPkt)

	// RFC 3550 §6.4.1 by hand, 8000 Hz: packets 160 units apart sent,
	// arriving at 0, 20, 50 and 60 ms (0, 160, 400, 480 units):
	// D = 0, 80, -80; J = 0, 0+(80-0)/16 = 5, 5+(80-5)/16 = 9.6875 units,
	// 9.6875/8 = 1.2109375 ms.
	jitter := voice(4, 7)
	jitter[2].at, jitter[3].at = 50, 60

	var doubled []rtpPkt
	for _, pk := range voice(50, 0) {
		again := pk
		again.at += 0.5
		doubled = append(doubled, pk, again)
	}
	newTimeline := voice(50, 0)
	for i := 25; i < 50; i++ {
		newTimeline[i].ts = 160 * uint32(i-25) // restarted at 0 after 4000 units
	}
	newTimeline[25].ts = 1 << 30 // and once far off: skipped, not jitter
	newTimeline[26].ts = 1<<30 + 160

	tests := []struct {
		name                  string
		pkts                  []rtpPkt
		packets, expected     uint64
		lost                  int64
		dups, reord           uint64
		bursts, maxBurst      int
		jitterMs, maxJitterMs float64
		maxDelta              time.Duration
	}{
		{name: "in order", pkts: voice(100, 1000), packets: 100, expected: 100, maxDelta: 20 * time.Millisecond},
		{name: "5 of 100 lost, one burst of 3", pkts: without(voice(100, 1000), 10, 50, 51, 52, 80),
			packets: 95, expected: 100, lost: 5, bursts: 3, maxBurst: 3, maxDelta: 80 * time.Millisecond},
		{name: "reordered and duplicated, no loss", pkts: reordered,
			packets: 102, expected: 100, lost: -2, dups: 2, reord: 1, maxDelta: 40 * time.Millisecond},
		{name: "wrap at 65535 with loss across it", pkts: without(voice(100, 65500), 35, 36),
			packets: 98, expected: 100, lost: 2, bursts: 1, maxBurst: 2, maxDelta: 60 * time.Millisecond},
		{name: "loss judged after leaving the window", pkts: without(voice(5000, 0), 3000, 3001),
			packets: 4998, expected: 5000, lost: 2, bursts: 1, maxBurst: 2, maxDelta: 60 * time.Millisecond},
		{name: "source restart confirmed by two packets", pkts: restart,
			packets: 100, expected: 100, maxDelta: 1020 * time.Millisecond},
		{name: "one stray sequence number", pkts: stray,
			packets: 61, expected: 60, lost: 0, maxDelta: 20 * time.Millisecond},
		{name: "every packet captured twice", pkts: doubled,
			packets: 100, expected: 50, lost: -50, dups: 50, maxDelta: 19500 * time.Microsecond},
		{name: "new timeline without a new SSRC", pkts: newTimeline,
			packets: 50, expected: 50, maxDelta: 20 * time.Millisecond},
		{name: "jitter by hand", pkts: jitter, packets: 4, expected: 4,
			jitterMs: 1.2109375, maxJitterMs: 1.2109375, maxDelta: 30 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := analyzeRTP(tt.pkts)
			if len(a.Streams) != 1 {
				t.Fatalf("got %d streams, want 1", len(a.Streams))
			}
			s := a.Streams[0]
			if s.Packets != tt.packets || s.Expected != tt.expected || s.Lost != tt.lost {
				t.Errorf("packets %d expected %d lost %d, want %d %d %d", s.Packets, s.Expected, s.Lost, tt.packets, tt.expected, tt.lost)
			}
			if s.Duplicates != tt.dups || s.Reordered != tt.reord {
				t.Errorf("duplicates %d reordered %d, want %d %d", s.Duplicates, s.Reordered, tt.dups, tt.reord)
			}
			if s.LossBursts != tt.bursts || s.MaxLossBurst != tt.maxBurst {
				t.Errorf("bursts %d longest %d, want %d %d", s.LossBursts, s.MaxLossBurst, tt.bursts, tt.maxBurst)
			}
			if !approx(s.Jitter, tt.jitterMs) || !approx(s.MaxJitter, tt.maxJitterMs) {
				t.Errorf("jitter %v ms max %v, want %v %v", s.Jitter, s.MaxJitter, tt.jitterMs, tt.maxJitterMs)
			}
			if s.MaxDelta != tt.maxDelta {
				t.Errorf("MaxDelta %v, want %v", s.MaxDelta, tt.maxDelta)
			}
			if s.Codec != "PCMU" || s.ClockRate != 8000 || s.MediaType != "audio" || s.Signalled || s.Call != nil {
				t.Errorf("codec %q %d %q signalled %v call %v", s.Codec, s.ClockRate, s.MediaType, s.Signalled, s.Call)
			}
			if s.DSCP.Packets(46) != s.Packets {
				t.Errorf("DSCP[46] = %d, want every packet (%d)", s.DSCP.Packets(46), s.Packets)
			}
			if s.Bytes != 160*s.Packets {
				t.Errorf("Bytes = %d, want %d", s.Bytes, 160*s.Packets)
			}
			if s.First.Frame != 1 || s.Last.Frame != uint64(len(tt.pkts)) {
				t.Errorf("first %d last %d, want 1 %d", s.First.Frame, s.Last.Frame, len(tt.pkts))
			}
			if want := min(len(tt.pkts), MaxFramesPerFinding); len(s.FirstFrames) != want || s.FirstFrames[0] != 1 {
				t.Errorf("FirstFrames = %v, want the first %d", s.FirstFrames, want)
			}
		})
	}
}

// TestStreamsBySSRC: a new SSRC on the same 5-tuple is another stream
// (RFC 3550 §8.2), and streams are listed by first packet.
func TestStreamsBySSRC(t *testing.T) {
	first := voice(50, 100)
	second := voice(50, 9000)
	for i := range second {
		second[i].ssrc = 0xabcd
		second[i].at += 1000
		second[i].marker = i == 0
	}
	back := voice(10, 0) // the callee's stream, starting later
	for i := range back {
		back[i].src, back[i].dst, back[i].ssrc, back[i].pt = mediaCallee, mediaCaller, 0x9999, 8
		back[i].at += 500
	}
	pkts := append(append(append([]rtpPkt{}, first[:10]...), back...), first[10:]...)
	pkts = append(pkts, second...)
	a := analyzeRTP(pkts)
	var got []uint32
	for _, s := range a.Streams {
		got = append(got, s.SSRC)
	}
	if want := []uint32{0x1234, 0x9999, 0xabcd}; !slices.Equal(got, want) {
		t.Fatalf("streams by SSRC %x, want %x", got, want)
	}
	if s := a.Streams[2]; s.Packets != 50 || s.Lost != 0 || s.Marker != 1 || s.First.Frame != 61 {
		t.Errorf("second SSRC: packets %d lost %d marker %d first %d", s.Packets, s.Lost, s.Marker, s.First.Frame)
	}
	if s := a.Streams[1]; s.Codec != "PCMA" || s.Src != mediaCallee {
		t.Errorf("callee stream: codec %q src %v", s.Codec, s.Src)
	}
	// Two media flows: caller to callee (both SSRCs) and back.
	if len(a.Flows) != 2 || a.Flows[0].Packets != 100 || a.Flows[0].Class != "audio" || a.Flows[0].DSCP.Packets(46) != 100 ||
		a.Flows[1].Packets != 10 || len(a.Flows[0].Frames) != MaxFramesPerFinding {
		for _, f := range a.Flows {
			t.Logf("flow %+v", *f)
		}
		t.Errorf("flows not derived from the streams")
	}
}

// TestNotRTP: datagrams whose first bytes pass as RTP but whose sequence
// numbers jump, or whose SSRC changes every packet, never make a stream;
// nor do too few packets, nor RTCP's payload types.
func TestNotRTP(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 200)
	var random, fixedSSRC, rtcpTypes []rtpPkt
	for i := range 5000 {
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		buf[0] = 0x80 // version 2, no padding, extension or CSRC
		var h rtp.Header
		if !rtp.ParseHeader(buf, &h) {
			t.Fatal("ParseHeader rejected a version 2 header")
		}
		at := float64(i)
		random = append(random, rtpPkt{at: at, src: mediaCaller, dst: mediaCallee, ssrc: h.SSRC, seq: h.Sequence, ts: h.Timestamp, pt: h.PayloadType})
		fixedSSRC = append(fixedSSRC, rtpPkt{at: at, src: mediaCaller, dst: mediaCallee, ssrc: 7, seq: h.Sequence, ts: h.Timestamp, pt: 0})
	}
	for i, pk := range voice(100, 0) {
		pk.pt = 72 + uint8(i%5)
		rtcpTypes = append(rtcpTypes, pk)
	}
	for name, pkts := range map[string][]rtpPkt{
		"random bytes":              random,
		"one SSRC, random sequence": fixedSSRC,
		"RTCP payload types":        rtcpTypes,
		"too few packets":           voice(StreamMinPackets-1, 0),
	} {
		if a := analyzeRTP(pkts); len(a.Streams) != 0 || len(a.Flows) != 0 {
			t.Errorf("%s: got %d streams, want none", name, len(a.Streams))
		}
	}
}

func audioSDP(ep netip.AddrPort, proto string, rtpmap map[uint8]sdp.RTPMap) *sdp.Session {
	return &sdp.Session{
		Connection: ep.Addr(),
		Media: []sdp.Media{{Type: "audio", Port: ep.Port(), Proto: proto, Formats: []string{"96"},
			RTPMap: rtpmap, Direction: "sendrecv"}},
	}
}

// TestAnnouncedStream: RTP to an address an SDP announced is a stream of
// the call from its first packet, with the codec of the receiver's rtpmap.
func TestAnnouncedStream(t *testing.T) {
	call := &Call{CallID: "c1"}
	opus := map[uint8]sdp.RTPMap{96: {Encoding: "opus", ClockRate: 48000, Channels: 2}}
	e := NewEngine(Options{})
	e.announceMedia(call, &SDPSeen{From: mediaCaller, Session: audioSDP(mediaCallee, "RTP/SAVP", opus)})

	pkts := voice(6, 0)
	for i := range pkts {
		pkts[i].pt = 96
		pkts[i].ts = 960 * uint32(i)
	}
	// Two packets from the sequence's far side first: an announced flow
	// needs no probation, so they count as well.
	pkts[0].seq, pkts[1].seq = 40000, 40001
	feedRTP(e, pkts)
	a := e.Finish(simStart.Add(time.Minute))
	if len(a.Streams) != 1 {
		t.Fatalf("got %d streams, want 1", len(a.Streams))
	}
	s := a.Streams[0]
	if !s.Signalled || s.Call != call || !s.SRTP || s.Codec != "opus" || s.ClockRate != 48000 || s.MediaType != "audio" {
		t.Errorf("signalled %v call %v srtp %v codec %q %d %q", s.Signalled, s.Call, s.SRTP, s.Codec, s.ClockRate, s.MediaType)
	}
	if s.Packets != 6 || s.First.Frame != 1 {
		t.Errorf("packets %d first frame %d, want 6 from frame 1", s.Packets, s.First.Frame)
	}
	if !slices.Equal(call.Streams, []*Stream{s}) {
		t.Errorf("call.Streams = %v, want the stream", call.Streams)
	}

	// An announced flow with fewer packets than StreamMinPackets is
	// dropped at the end all the same.
	e = NewEngine(Options{})
	call = &Call{CallID: "c2"}
	e.announceMedia(call, &SDPSeen{From: mediaCaller, Session: audioSDP(mediaCallee, "RTP/AVP", opus)})
	feedRTP(e, voice(StreamMinPackets-1, 0))
	if a := e.Finish(simStart.Add(time.Minute)); len(a.Streams) != 0 || len(call.Streams) != 0 {
		t.Errorf("got %d streams from %d packets", len(a.Streams), StreamMinPackets-1)
	}
}

// TestLateAnnouncement: a stream found by the heuristic before its SDP was
// seen is tied to the call once it is, and gets its codec's clock rate.
func TestLateAnnouncement(t *testing.T) {
	e := NewEngine(Options{})
	pkts := voice(20, 0)
	for i := range pkts {
		pkts[i].pt = 111
	}
	var m decode.Message
	for i := range pkts {
		if i == 10 {
			call := &Call{CallID: "late"}
			sess := audioSDP(mediaCaller, "RTP/AVP", map[uint8]sdp.RTPMap{111: {Encoding: "G722", ClockRate: 8000}})
			e.announceMedia(call, &SDPSeen{From: mediaCaller, Session: sess})
		}
		setRTP(&m, uint64(i+1), &pkts[i])
		e.Observe(&m)
	}
	a := e.Finish(simStart.Add(time.Minute))
	if len(a.Streams) != 1 {
		t.Fatalf("got %d streams", len(a.Streams))
	}
	s := a.Streams[0]
	if s.Call == nil || s.Call.CallID != "late" || !s.Signalled || s.Codec != "G722" || s.ClockRate != 8000 {
		t.Errorf("call %v signalled %v codec %q clock %d", s.Call, s.Signalled, s.Codec, s.ClockRate)
	}
}

// TestAnnounceEndpoints checks which addresses an SDP announces.
func TestAnnounceEndpoints(t *testing.T) {
	addr := netip.MustParseAddr("203.0.113.5")
	sess := &sdp.Session{
		Connection: addr,
		Media: []sdp.Media{
			{Type: "audio", Port: 4000, Proto: "RTP/AVP"},                          // RTCP 4001
			{Type: "video", Port: 4002, Proto: "RTP/AVPF", RTCPPort: 4010},         // RTCP 4010
			{Type: "audio", Port: 4004, Proto: "UDP/TLS/RTP/SAVPF", RTCPMux: true}, // no RTCP port
			{Type: "audio", Port: 0, Proto: "RTP/AVP"},                             // rejected
			{Type: "image", Port: 4006, Proto: "udptl"},                            // T.38
			{Type: "audio", Port: 4008, Proto: "RTP/AVP", Connection: netip.IPv4Unspecified()},
		},
	}
	e := NewEngine(Options{})
	e.announceMedia(&Call{}, &SDPSeen{Session: sess})
	want := map[uint16]bool{4000: false, 4001: true, 4002: false, 4010: true, 4004: false}
	got := map[uint16]bool{}
	for ep, ann := range e.media.announced {
		if ep.Addr() != addr {
			t.Errorf("announced %v", ep)
		}
		got[ep.Port()] = ann.rtcp
	}
	if len(got) != len(want) {
		t.Errorf("announced ports %v, want %v", got, want)
	}
	for p, rtcp := range want {
		if r, ok := got[p]; !ok || r != rtcp {
			t.Errorf("port %d: announced %v rtcp %v, want rtcp %v", p, ok, r, rtcp)
		}
	}
	if ann := e.media.announced[netip.AddrPortFrom(addr, 4004)]; ann == nil || !ann.srtp {
		t.Errorf("UDP/TLS/RTP/SAVPF not SRTP")
	}
	if ann := e.media.announced[netip.AddrPortFrom(addr, 4000)]; ann == nil || ann.srtp {
		t.Errorf("RTP/AVP taken for SRTP")
	}
}

// rtcpCompound builds the bytes of one SR or RR (RFC 3550 §6.4) with one
// report block.
func rtcpCompound(typ uint8, sender uint32, ntp uint64, blk rtp.ReportBlock) []byte {
	b := []byte{0x81, typ, 0, 0}
	b = binary.BigEndian.AppendUint32(b, sender)
	if typ == rtp.TypeSR {
		b = binary.BigEndian.AppendUint64(b, ntp)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, 0)
	}
	b = binary.BigEndian.AppendUint32(b, blk.SSRC)
	b = binary.BigEndian.AppendUint32(b, uint32(blk.FractionLost)<<24|uint32(blk.CumulativeLost)&0xffffff)
	b = binary.BigEndian.AppendUint32(b, blk.HighestSeq)
	b = binary.BigEndian.AppendUint32(b, blk.Jitter)
	b = binary.BigEndian.AppendUint32(b, blk.LSR)
	b = binary.BigEndian.AppendUint32(b, blk.DLSR)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)/4-1))
	return b
}

func observeRTCPBytes(t *testing.T, e *Engine, frame uint64, at time.Duration, src, dst netip.AddrPort, b []byte) {
	t.Helper()
	var c rtp.Compound
	if !rtp.ParseRTCP(b, &c) {
		t.Fatalf("test RTCP does not parse: % x", b)
	}
	e.Observe(&decode.Message{
		Packet: decode.Packet{Frame: frame, Time: simStart.Add(at), Src: src, Dst: dst, Transport: decode.UDP},
		Kind:   decode.KindRTCP, RTCP: &c, Payload: b,
	})
}

// TestRTCPReports: a receiver report about a stream gives the far end's
// loss and jitter; one echoing a sender report we saw gives the round trip.
func TestRTCPReports(t *testing.T) {
	e := NewEngine(Options{})
	feedRTP(e, voice(100, 0))
	rtcpCaller := netip.AddrPortFrom(mediaCaller.Addr(), mediaCaller.Port()+1)
	rtcpCallee := netip.AddrPortFrom(mediaCallee.Addr(), mediaCallee.Port()+1)

	// The caller's SR at 2.5 s; NTP 0x0000_1111_2222_0000: middle bits 0x11112222.
	const ntp = 0x0000_1111_2222_0000
	sr := rtcpCompound(rtp.TypeSR, 0x1234, ntp, rtp.ReportBlock{SSRC: 0x9999})
	observeRTCPBytes(t, e, 101, 2500*time.Millisecond, rtcpCaller, rtcpCallee, sr)
	// The callee's RR at 2.8 s after holding the SR 0.25 s: RTT 50 ms.
	// Fraction lost 64/256 = 25%; jitter 80 units at 8000 Hz = 10 ms.
	rr := rtcpCompound(rtp.TypeRR, 0x5555, 0, rtp.ReportBlock{
		SSRC: 0x1234, FractionLost: 64, CumulativeLost: 7, Jitter: 80, LSR: 0x11112222, DLSR: 65536 / 4,
	})
	observeRTCPBytes(t, e, 102, 2800*time.Millisecond, rtcpCallee, rtcpCaller, rr)
	// A report about an SSRC we never saw is ignored.
	observeRTCPBytes(t, e, 103, 2900*time.Millisecond, rtcpCallee, rtcpCaller,
		rtcpCompound(rtp.TypeRR, 0x5555, 0, rtp.ReportBlock{SSRC: 0x4242, FractionLost: 255}))

	a := e.Finish(simStart.Add(time.Minute))
	if len(a.Streams) != 1 {
		t.Fatalf("got %d streams", len(a.Streams))
	}
	s := a.Streams[0]
	if s.RemoteReports != 1 || s.RemoteFractionLost != 0.25 || s.RemoteCumulative != 7 || !approx(s.RemoteJitter, 10) {
		t.Errorf("reports %d fraction %v cumulative %d jitter %v ms", s.RemoteReports, s.RemoteFractionLost, s.RemoteCumulative, s.RemoteJitter)
	}
	if s.RoundTrip != 50*time.Millisecond {
		t.Errorf("RoundTrip = %v, want 50ms", s.RoundTrip)
	}
}

// rtpBytes builds a 12-byte RTP header and payload bytes.
func rtpBytes(pt uint8, seq uint16, ts, ssrc uint32, payload int) []byte {
	b := []byte{0x80, pt, 0, 0}
	binary.BigEndian.PutUint16(b[2:], seq)
	b = binary.BigEndian.AppendUint32(b, ts)
	b = binary.BigEndian.AppendUint32(b, ssrc)
	return append(b, make([]byte, payload)...)
}

// TestRTPInTURN: RTP relayed in ChannelData and Send indications is a
// stream on the client-server 5-tuple with its allocation; RTCP relayed
// the same way reports on it.
func TestRTPInTURN(t *testing.T) {
	A, CB := stun.MethodAllocate, stun.MethodChannelBind
	events := []simEvent{
		fromClient(0, simRequest(A, 1, withAuth("alice", "example.org", "n1"))),
		fromServer(0.01, simSuccess(A, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
		fromClient(0.1, simRequest(CB, 2, withAuth("alice", "example.org", "n1"), withPeers(simPeer3), withChannel(0x4000))),
		fromServer(0.11, simSuccess(CB, 2)),
	}
	for i := range 20 {
		b := rtpBytes(0, uint16(100+i), 160*uint32(i), 0xaaaa, 160)
		ev := simChannelData(1+0.02*float64(i), simClientAddr, simServerAddr, 0x4000, uint16(len(b)))
		ev.channel.Payload = b
		events = append(events, ev)
	}
	for i := range 10 {
		// The peer's stream comes back in Data indications.
		ind := simIndication(t, stun.MethodData, 0)
		ind.Data = rtpBytes(8, uint16(7+i), 160*uint32(i), 0xbbbb, 80)
		events = append(events, fromServer(1.5+0.02*float64(i), ind))
	}
	// STUN relayed in ChannelData (an ICE check) is not RTP.
	stunInChannel := simChannelData(2, simClientAddr, simServerAddr, 0x4000, 20)
	stunInChannel.channel.Payload = make([]byte, 20)
	events = append(events, stunInChannel)
	rr := rtcpCompound(rtp.TypeRR, 0xbbbb, 0, rtp.ReportBlock{SSRC: 0xaaaa, FractionLost: 128, Jitter: 16})
	rtcpEv := simChannelData(2.1, simServerAddr, simClientAddr, 0x4000, uint16(len(rr)))
	rtcpEv.channel.Payload = rr
	events = append(events, rtcpEv)

	a := simulate(t, NewEngine(Options{}), events, 10)
	if len(a.Allocations) != 1 || len(a.Streams) != 2 {
		t.Fatalf("got %d allocations, %d streams; want 1, 2", len(a.Allocations), len(a.Streams))
	}
	up, down := a.Streams[0], a.Streams[1]
	if up.SSRC != 0xaaaa || up.Src != simClientAddr || up.Dst != simServerAddr || up.Allocation != a.Allocations[0] ||
		up.Packets != 20 || up.Lost != 0 || up.Codec != "PCMU" || up.Bytes != 20*160 {
		t.Errorf("ChannelData stream: %+v", *up)
	}
	if up.RemoteReports != 1 || up.RemoteFractionLost != 0.5 || !approx(up.RemoteJitter, 2) {
		t.Errorf("relayed RTCP: reports %d fraction %v jitter %v", up.RemoteReports, up.RemoteFractionLost, up.RemoteJitter)
	}
	if down.SSRC != 0xbbbb || down.Src != simServerAddr || down.Dst != simClientAddr || down.Allocation != a.Allocations[0] ||
		down.Packets != 10 || down.Codec != "PCMA" {
		t.Errorf("Data indication stream: %+v", *down)
	}
	if len(a.Flows) != 2 || a.Flows[0].Allocation != a.Allocations[0] {
		t.Errorf("relayed flows: %d, allocation %v", len(a.Flows), a.Flows)
	}
}

// TestMediaBounds: hostile input (a new SSRC every packet, far more
// streams than allowed) keeps the tables within their limits.
func TestMediaBounds(t *testing.T) {
	e := NewEngine(Options{})
	var m decode.Message
	frame := uint64(0)
	for i := range 3 * MaxStreamCandidates {
		frame++
		pk := rtpPkt{at: float64(i), src: mediaCaller, dst: mediaCallee, ssrc: uint32(i), seq: uint16(i)}
		setRTP(&m, frame, &pk)
		e.Observe(&m)
	}
	if n := len(e.media.cand) + len(e.media.candPrev); n > MaxStreamCandidates {
		t.Errorf("%d candidates kept, limit %d", n, MaxStreamCandidates)
	}
	for i := range MaxStreams + 10 {
		for j := range StreamMinPackets {
			frame++
			pk := rtpPkt{at: float64(frame), src: mediaCaller, dst: mediaCallee, ssrc: 1<<31 | uint32(i), seq: uint16(j)}
			setRTP(&m, frame, &pk)
			e.Observe(&m)
		}
	}
	a := e.Finish(simStart.Add(time.Hour))
	if len(a.Streams) != MaxStreams {
		t.Errorf("%d streams, limit %d", len(a.Streams), MaxStreams)
	}
}

// TestObserveRTPDoesNotAllocate: once a stream is established, accounting
// a packet allocates nothing.
func TestObserveRTPDoesNotAllocate(t *testing.T) {
	e := NewEngine(Options{})
	pkts := voice(MaxFramesPerFinding+10, 0)
	feedRTP(e, pkts)
	var m decode.Message
	pk := pkts[len(pkts)-1]
	allocs := testing.AllocsPerRun(1000, func() {
		pk.seq++
		pk.ts += 160
		pk.at += 20
		setRTP(&m, 1, &pk)
		e.Observe(&m)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per RTP packet, want 0", allocs)
	}
	if a := e.Finish(simStart.Add(time.Hour)); len(a.Streams) != 1 || a.Streams[0].Lost != 0 {
		t.Errorf("the stream was not accounted")
	}
}

func BenchmarkObserveRTP(b *testing.B) {
	e := NewEngine(Options{})
	pkts := voice(MaxFramesPerFinding+10, 0)
	feedRTP(e, pkts)
	var m decode.Message
	pk := pkts[len(pkts)-1]
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		pk.seq++
		pk.ts += 160
		pk.at += 20
		setRTP(&m, 1, &pk)
		e.Observe(&m)
	}
}

// TestSeqTrackerAgainstReference compares the RFC 3550 accounting with a
// direct count on random streams: drops, duplicates and packets displaced
// by up to 40 positions (within A.1's MAX_MISORDER), around wrap-around.
func TestSeqTrackerAgainstReference(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 50 + rng.IntN(3000)
		start := uint16(rng.Uint32())
		var order []int // offsets from start, in arrival order
		for i := range n {
			if rng.IntN(20) == 0 && i != 0 && i != n-1 {
				continue // lost; the first and last arrive so that the range is known
			}
			order = append(order, i)
			if rng.IntN(50) == 0 {
				order = append(order, i) // duplicated
			}
		}
		for range len(order) / 10 {
			i := 1 + rng.IntN(len(order)-1)
			j := min(len(order)-1, i+1+rng.IntN(5))
			if order[j]-order[i] < 40 && order[i] != 0 {
				order[i], order[j] = order[j], order[i]
			}
		}
		seen := make([]bool, n)
		received := 0
		for _, off := range order {
			seen[off] = true
			received++
		}
		var bursts, longest, run int
		for _, ok := range seen {
			if ok {
				if run > 0 {
					bursts++
					longest = max(longest, run)
				}
				run = 0
			} else {
				run++
			}
		}

		var tr seqTracker
		tr.init(start + uint16(order[0]))
		for _, off := range order[1:] {
			tr.update(start + uint16(off))
		}
		var s Stream
		tr.finish(&s)
		if s.Expected != uint64(n) || s.Lost != int64(n-received) || s.LossBursts != bursts || s.MaxLossBurst != longest {
			t.Fatalf("seed %d (n %d from %d): expected %d lost %d bursts %d longest %d; want %d %d %d %d",
				seed, n, start, s.Expected, s.Lost, s.LossBursts, s.MaxLossBurst, n, n-received, bursts, longest)
		}
	}
}

// FuzzSeqTracker feeds arbitrary sequence numbers: nothing panics and the
// totals stay consistent.
func FuzzSeqTracker(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 3, 0xff, 0xff, 0, 0, 0x80, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		var tr seqTracker
		tr.init(binary.BigEndian.Uint16(b))
		packets := uint64(1)
		for b = b[2:]; len(b) >= 2; b = b[2:] {
			tr.update(binary.BigEndian.Uint16(b))
			packets++
		}
		var s Stream
		tr.finish(&s)
		if s.Expected == 0 || uint64(s.MaxLossBurst) > s.Expected || s.Duplicates+s.Reordered > packets ||
			(s.Lost > 0 && uint64(s.Lost) > s.Expected) || (s.LossBursts > 0) != (s.MaxLossBurst > 0) {
			t.Fatalf("inconsistent totals: %+v from %d packets", s, packets)
		}
	})
}

// TestAnnouncementsBounded: beyond MaxAnnouncedEndpoints the oldest
// announcements are forgotten, the latest kept.
func TestAnnouncementsBounded(t *testing.T) {
	e := NewEngine(Options{})
	call := &Call{}
	n := MaxAnnouncedEndpoints + 10
	for i := range n {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		sess := &sdp.Session{Connection: ip, Media: []sdp.Media{{Type: "audio", Port: 4000, Proto: "RTP/AVP", RTCPMux: true}}}
		e.announceMedia(call, &SDPSeen{Session: sess})
	}
	if len(e.media.announced) != MaxAnnouncedEndpoints {
		t.Fatalf("%d endpoints remembered, limit %d", len(e.media.announced), MaxAnnouncedEndpoints)
	}
	first := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 0}), 4000)
	last := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte((n - 1) >> 16), byte((n - 1) >> 8), byte(n - 1)}), 4000)
	if e.media.announced[first] != nil || e.media.announced[last] == nil {
		t.Errorf("the oldest should go, the latest stay")
	}
}
