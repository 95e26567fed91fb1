package diagnose

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
)

// withPayloadTypes gives the packets at the given indexes of p another
// payload type.
func withPayloadTypes(p []rtpPkt, pts map[int]uint8) []rtpPkt {
	out := slices.Clone(p)
	for i, pt := range pts {
		out[i].pt = pt
	}
	return out
}

func TestStreamPayloadTypes(t *testing.T) {
	at := func(frame uint64) FrameRef {
		return FrameRef{Frame: frame, Time: simStart.Add(time.Duration(frame-1) * 20 * time.Millisecond)}
	}
	dtmf := map[int]uint8{}
	for i := 40; i < 46; i++ {
		dtmf[i] = 101 // a digit: six event packets in place of the voice
	}
	dtmf[70], dtmf[71] = 13, 101
	tooMany := map[int]uint8{}
	for i := range MaxStreamPayloadTypes + 2 {
		tooMany[10+2*i] = 96 + uint8(i)
		tooMany[11+2*i] = 96 + uint8(i)
	}
	for _, c := range []struct {
		name string
		pts  map[int]uint8
		want []PayloadTypeCount
	}{
		{name: "one type", want: nil},
		{
			name: "telephone-event and comfort noise",
			pts:  dtmf,
			want: []PayloadTypeCount{{0, 92, at(1)}, {101, 7, at(41)}, {13, 1, at(71)}},
		},
		{
			// An announced flow needs no probation: its first packet
			// makes the stream.
			name: "the first packet's type is the stream's",
			pts:  map[int]uint8{0: 101, 1: 101},
			want: []PayloadTypeCount{{101, 2, at(1)}, {0, 98, at(3)}},
		},
		{
			// Beyond the bound a type is counted in Packets only.
			name: "more types than counted",
			pts:  tooMany,
			want: []PayloadTypeCount{{0, 100 - 2*(MaxStreamPayloadTypes+2), at(1)},
				{96, 2, at(11)}, {97, 2, at(13)}, {98, 2, at(15)}, {99, 2, at(17)}, {100, 2, at(19)}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.want) > MaxStreamPayloadTypes {
				t.Fatalf("the case lists %d types, more than the bound %d", len(c.want), MaxStreamPayloadTypes)
			}
			for _, workers := range []int{1, 3} {
				e := NewEngine(Options{})
				e.startRTPWorkers(workers)
				pcmu := map[uint8]sdp.RTPMap{0: {Encoding: "PCMU", ClockRate: 8000}, 101: {Encoding: "telephone-event", ClockRate: 8000}}
				e.announceMedia(&Call{CallID: "c1"}, &SDPSeen{From: mediaCaller, Session: audioSDP(mediaCallee, "RTP/AVP", pcmu)})
				feedRTP(e, withPayloadTypes(voice(100, 0), c.pts))
				a := e.Finish(simStart.Add(time.Hour))
				if len(a.Streams) != 1 {
					t.Fatalf("%d workers: %d streams, want 1", workers, len(a.Streams))
				}
				s := a.Streams[0]
				if !reflect.DeepEqual(s.PayloadTypes, c.want) {
					t.Errorf("%d workers: PayloadTypes = %v, want %v", workers, s.PayloadTypes, c.want)
				}
				if s.Packets != 100 || s.Lost != 0 {
					t.Errorf("%d workers: %d packets, %d lost; want 100, none", workers, s.Packets, s.Lost)
				}
				if len(c.want) > 0 && s.PayloadType != c.want[0].PayloadType {
					t.Errorf("%d workers: PayloadType %d, want the first packet's %d", workers, s.PayloadType, c.want[0].PayloadType)
				}
			}
		})
	}
}

// TestStreamPayloadTypesPublishedAnew: every publication (a snapshot,
// a retirement) gives the counts up to then, voice after the last other
// type included, and counts published earlier (what a snapshot's copy of
// the record holds) do not move when more packets come.
func TestStreamPayloadTypesPublishedAnew(t *testing.T) {
	e := NewEngine(Options{})
	pkts := withPayloadTypes(voice(80, 0), map[int]uint8{10: 101, 40: 101})
	var published [][]PayloadTypeCount
	from := 0
	for _, upTo := range []int{20, 60, 80} {
		feedRTP(e, pkts[from:upTo])
		from = upTo
		e.syncRTPWorkers()
		published = append(published, e.media.list[0].s.PayloadTypes)
	}
	if len(e.media.list) != 1 {
		t.Fatalf("%d streams, want 1", len(e.media.list))
	}
	var voicePackets, events []uint64
	for _, p := range published {
		voicePackets = append(voicePackets, p[0].Packets)
		events = append(events, p[1].Packets)
	}
	if !slices.Equal(voicePackets, []uint64{19, 58, 78}) || !slices.Equal(events, []uint64{1, 2, 2}) {
		t.Errorf("published after 20, 60 and 80 packets: voice %v, events %v; want 19, 58, 78 and 1, 2, 2", voicePackets, events)
	}
}

// TestOtherPayloadTypesDoNotAllocate: once a stream counts its other
// types, telephone-events among the voice allocate nothing.
func TestOtherPayloadTypesDoNotAllocate(t *testing.T) {
	e := NewEngine(Options{})
	pkts := withPayloadTypes(voice(MaxFramesPerFinding+10, 0), map[int]uint8{MaxFramesPerFinding + 5: 101})
	feedRTP(e, pkts)
	var m decode.Message
	pk := pkts[len(pkts)-1]
	allocs := testing.AllocsPerRun(1000, func() {
		pk.seq++
		pk.ts += 160
		pk.at += 20
		pk.pt ^= 101 // 0 and 101 in turn
		setRTP(&m, 1, &pk)
		e.Observe(&m)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per RTP packet, want 0", allocs)
	}
	a := e.Finish(simStart.Add(time.Hour))
	if len(a.Streams) != 1 || len(a.Streams[0].PayloadTypes) != 2 || a.Streams[0].PayloadTypes[1].Packets != 502 {
		t.Errorf("the stream was not accounted: %+v", a.Streams)
	}
}
