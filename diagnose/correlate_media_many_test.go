package diagnose

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
)

// callLeg is the RTP of one short call for the tests of captures dense
// with calls: its own ports, SSRC and frames.
func callLeg(i, n int, at float64) []rtpPkt {
	pkts := make([]rtpPkt, n)
	fillLeg(pkts, i, at)
	return pkts
}

// fillLeg writes callLeg's packets into pkts.
func fillLeg(pkts []rtpPkt, i int, at float64) {
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(20000+2*(i%5000)))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}), uint16(30000+2*(i%5000)))
	for j := range pkts {
		pkts[j] = rtpPkt{
			at: at + 20*float64(j), src: src, dst: dst, ssrc: uint32(0x10000 + i),
			seq: uint16(i*7 + j), ts: 1000 + 160*uint32(j), pt: 0, dscp: 46, payload: 160,
		}
	}
}

// TestLinkedStreamStaysLinked: a stream tied to a call looks no more at
// later SDP, even one announcing its own endpoint for another call (its
// announceGen is above every generation); one tied to none still looks,
// and is tied by the first SDP naming its endpoint, however many SDPs of
// other calls came before.
func TestLinkedStreamStaysLinked(t *testing.T) {
	e := NewEngine(Options{})
	first, second, late := &Call{CallID: "first"}, &Call{CallID: "second"}, &Call{CallID: "late"}
	linked, unlinked := callLeg(1, 40, 0), callLeg(2, 40, 5)
	for i := range unlinked {
		unlinked[i].pt = 8 // PCMA: a clock rate without SDP
	}
	e.announceMedia(first, &SDPSeen{From: linked[0].src, Session: audioSDP(linked[0].dst, "RTP/AVP", nil)})
	var m decode.Message
	for i := range linked {
		switch i {
		case 10:
			e.announceMedia(second, &SDPSeen{From: linked[0].src, Session: audioSDP(linked[0].dst, "RTP/AVP", nil)})
		case 20:
			e.announceMedia(late, &SDPSeen{From: unlinked[0].src, Session: audioSDP(unlinked[0].dst, "RTP/AVP", nil)})
		default:
			other := callLeg(100+i, 1, 0)[0]
			e.announceMedia(&Call{CallID: "other"}, &SDPSeen{From: other.src, Session: audioSDP(other.dst, "RTP/AVP", nil)})
		}
		setRTP(&m, uint64(2*i+1), &linked[i])
		e.Observe(&m)
		setRTP(&m, uint64(2*i+2), &unlinked[i])
		e.Observe(&m)
		if i == 0 {
			if st := e.media.list[0]; st.announceGen != linkedForGood {
				t.Errorf("a stream tied to a call from its first packet has announceGen %d", st.announceGen)
			}
		}
	}
	a := e.Finish(simStart.Add(time.Hour))
	if len(a.Streams) != 2 {
		t.Fatalf("%d streams, want 2", len(a.Streams))
	}
	if s := a.Streams[0]; s.Call != first || s.Packets != 40 {
		t.Errorf("the announced stream: call %v, %d packets; want the first call, 40", s.Call, s.Packets)
	}
	if s := a.Streams[1]; s.Call != late || !s.Signalled || s.Packets != 40 {
		t.Errorf("the stream announced late: call %v, signalled %v, %d packets", s.Call, s.Signalled, s.Packets)
	}
}

// TestUntrackedFlowBecomesStream: past MaxStreams the packets of a new
// flow are left out (the stream cache then remembers that the flow has
// no stream), until a retired stream gives way; the flow is a stream from
// then on, every later packet of it accounted, and the streams tracked
// all along keep every packet of theirs.
func TestUntrackedFlowBecomesStream(t *testing.T) {
	const most = 4
	e := NewEngine(Options{MaxStreams: most, IdleTimeout: 10 * time.Second})
	var m decode.Message
	frame := uint64(0)
	observe := func(pk *rtpPkt) {
		frame++
		setRTP(&m, frame, pk)
		e.Observe(&m)
	}
	// Four streams at once, the first ending after a second.
	legs := make([][]rtpPkt, most)
	for i := range legs {
		legs[i] = callLeg(i, 1000, 0)
		e.announceMedia(&Call{CallID: "c"}, &SDPSeen{From: legs[i][0].src, Session: audioSDP(legs[i][0].dst, "RTP/AVP", nil)})
	}
	extra := callLeg(most, 1000, 0)
	e.announceMedia(&Call{CallID: "extra"}, &SDPSeen{From: extra[0].src, Session: audioSDP(extra[0].dst, "RTP/AVP", nil)})
	for j := range 1000 {
		for i := range legs {
			if i == 0 && j >= 50 {
				continue
			}
			observe(&legs[i][j])
		}
		observe(&extra[j])
	}
	e.syncRTPWorkers()
	if got := e.media.untrackedRTP; got == 0 || got >= 1000 {
		t.Errorf("%d packets of the fifth flow untracked, want some, not all", got)
	}
	var extraStream *Stream
	for _, st := range e.media.list {
		if st.key.ssrc == extra[0].ssrc {
			extraStream = st.s
		}
	}
	if extraStream == nil {
		t.Fatal("the fifth flow never became a stream once the first retired")
	}
	if want := 1000 - e.media.untrackedRTP; extraStream.Packets != want {
		t.Errorf("the fifth stream has %d packets, want the %d after it was tracked", extraStream.Packets, want)
	}
	a := e.Finish(simStart.Add(time.Hour))
	for _, s := range a.Streams {
		if s.SSRC != extra[0].ssrc && s.SSRC != legs[0][0].ssrc && s.Packets != 1000 {
			t.Errorf("stream %x: %d packets, want 1000", s.SSRC, s.Packets)
		}
	}
}

// TestFirstFramesRoom: a short stream's frames take the room probation
// needs, a long one's exactly MaxFramesPerFinding, holding the first
// frames either way.
func TestFirstFramesRoom(t *testing.T) {
	for _, n := range []int{StreamMinPackets, 2 * StreamMinPackets, 2*StreamMinPackets + 1, MaxFramesPerFinding, MaxFramesPerFinding + 7} {
		a := analyzeRTP(voice(n, 0))
		if len(a.Streams) != 1 {
			t.Fatalf("%d packets: %d streams", n, len(a.Streams))
		}
		ff := a.Streams[0].FirstFrames
		want := make([]uint64, min(n, MaxFramesPerFinding))
		for i := range want {
			want[i] = uint64(i + 1)
		}
		if !slices.Equal(ff, want) {
			t.Errorf("%d packets: FirstFrames %v, want %v", n, ff, want)
		}
		room := 2 * StreamMinPackets
		if n > room {
			room = MaxFramesPerFinding
		}
		if cap(ff) != room {
			t.Errorf("%d packets: FirstFrames has room for %d, want %d", n, cap(ff), room)
		}
	}
}

// TestStreamRecordSize: every stream's record stays in the Analysis;
// keep it within the allocator's 448-byte class (bytes together, no
// padding between them).
func TestStreamRecordSize(t *testing.T) {
	if size := unsafe.Sizeof(Stream{}); size > 448 {
		t.Errorf("Stream is %d bytes, more than 448", size)
	}
}

// BenchmarkObserveRTPManyCalls is the RTP of 400 calls at once, short
// ones ending and new ones starting, each with its SDP: on a capture dense
// with calls an SDP comes between most two packets of a stream. In
// "behind-NAT" the SDPs name private addresses the RTP does not come
// from or go to, so that no stream is ever tied to its call.
func BenchmarkObserveRTPManyCalls(b *testing.B) {
	b.Run("signalled", func(b *testing.B) { benchmarkManyCalls(b, false) })
	b.Run("behind-NAT", func(b *testing.B) { benchmarkManyCalls(b, true) })
}

func benchmarkManyCalls(b *testing.B, nat bool) {
	const active, perCall = 400, 100
	e := NewEngine(Options{})
	legs := make([][]rtpPkt, active)
	next := make([]int, active)
	calls := 0
	for i := range legs {
		legs[i] = make([]rtpPkt, perCall)
	}
	start := func(slot int, at float64) {
		fillLeg(legs[slot], calls, at)
		next[slot] = 0
		announced := legs[slot][0].dst
		if nat {
			announced = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, byte(calls >> 8), byte(calls)}), announced.Port())
		}
		e.announceMedia(&Call{CallID: "c"}, &SDPSeen{From: legs[slot][0].src,
			Session: audioSDP(announced, "RTP/AVP", map[uint8]sdp.RTPMap{0: {Encoding: "PCMU", ClockRate: 8000}})})
		calls++
	}
	for i := range legs {
		start(i, 0)
		next[i] = i % perCall // calls ending and starting all the time
	}
	var m decode.Message
	frame := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		slot := i % active
		if next[slot] == perCall {
			start(slot, legs[slot][perCall-1].at)
		}
		frame++
		setRTP(&m, frame, &legs[slot][next[slot]])
		next[slot]++
		e.Observe(&m)
	}
}

// TestRelinkSkipsOnlyUnnamed: a stream tied to no call looks its ends up
// after an SDP only when one may have named them (announcedAt); the
// streams must come out as if every stream looked after every SDP. Random
// RTP and SDPs on more endpoints than announcedAt has slots, so that
// slots are shared: SDPs naming a stream's receiver or sender late, or
// naming it as an RTCP port, others naming addresses no stream uses.
func TestRelinkSkipsOnlyUnnamed(t *testing.T) {
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 11))
		const streams = 1500
		legs := make([][]rtpPkt, streams)
		for i := range legs {
			legs[i] = callLeg(i, 30, float64(rng.IntN(2000)))
			for j := range legs[i] {
				legs[i][j].pt = 8
			}
		}
		type step struct {
			pk  *rtpPkt
			ep  netip.AddrPort
			mux bool
		}
		var steps []step
		for i := range legs {
			for j := range legs[i] {
				steps = append(steps, step{pk: &legs[i][j]})
			}
		}
		for range endpointSlots / 2 {
			i := rng.IntN(streams)
			ep := legs[i][0].dst
			switch rng.IntN(8) {
			case 0:
				ep = legs[i][0].src
			case 1, 2:
				ep = netip.AddrPortFrom(ep.Addr(), ep.Port()-1) // its RTCP port is ep
			case 3, 4, 5:
				ep = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 168, byte(rng.IntN(256)), byte(rng.IntN(256))}), uint16(rng.IntN(65536)))
			}
			steps = append(steps, step{ep: ep, mux: rng.IntN(2) == 0})
		}
		rng.Shuffle(len(steps), func(a, b int) { steps[a], steps[b] = steps[b], steps[a] })
		calls := make(map[netip.AddrPort]*Call)
		run := func(lookAlways bool) []string {
			e := NewEngine(Options{})
			var m decode.Message
			frame := uint64(0)
			for _, s := range steps {
				if s.pk == nil {
					c := calls[s.ep]
					if c == nil {
						c = &Call{CallID: s.ep.String()}
						calls[s.ep] = c
					}
					sess := audioSDP(s.ep, "RTP/AVP", map[uint8]sdp.RTPMap{8: {Encoding: "PCMA", ClockRate: 16000}})
					sess.Media[0].RTCPMux = s.mux
					e.announceMedia(c, &SDPSeen{From: s.ep, Session: sess})
					if lookAlways {
						for i := range e.media.announcedAt {
							e.media.announcedAt[i] = math.MaxUint64
						}
					}
					continue
				}
				frame++
				setRTP(&m, frame, s.pk)
				e.Observe(&m)
			}
			var out []string
			for _, s := range e.Finish(simStart.Add(time.Hour)).Streams {
				id := ""
				if s.Call != nil {
					id = s.Call.CallID
				}
				out = append(out, fmt.Sprintf("%v>%v %q %q %d %v %v", s.Src, s.Dst, id, s.Codec, s.ClockRate, s.Jitter, s.MaxJitter))
			}
			return out
		}
		got, want := run(false), run(true)
		linked := 0
		for _, s := range want {
			if !strings.Contains(s, `"" "PCMA" 8000`) {
				linked++
			}
		}
		if linked == 0 || linked == len(want) {
			t.Fatalf("seed %d: %d of %d streams tied to calls late, want some", seed, linked, len(want))
		}
		if !slices.Equal(got, want) {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("seed %d: stream %d is %s, want %s", seed, i, got[i], want[i])
				}
			}
			t.Fatalf("seed %d: %d streams, want %d", seed, len(got), len(want))
		}
	}
}

// TestEndpointSlotUnmapped: an endpoint's IPv4-mapped form takes the
// slot of its IPv4 one, as announce and announcedFor unmap it; slots
// spread over announcedAt.
func TestEndpointSlotUnmapped(t *testing.T) {
	slots := make(map[int]bool)
	for i := range 4096 {
		v4 := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 10), byte(i >> 4)}), uint16(20000+2*(i%16)))
		mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), v4.Port())
		if endpointSlot(v4) != endpointSlot(mapped) {
			t.Fatalf("%v and %v take slots %d and %d", v4, mapped, endpointSlot(v4), endpointSlot(mapped))
		}
		slots[endpointSlot(v4)] = true
	}
	// 4,096 random picks of 4,096 slots take 2,589 on average.
	if len(slots) < 2400 {
		t.Errorf("4096 endpoints take %d slots", len(slots))
	}
}
