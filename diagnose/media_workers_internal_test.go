package diagnose

import (
	"reflect"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
)

// TestRTPWorkersDoNotAllocate checks the sharded path's steady state:
// nothing allocated per RTP packet, in the correlating goroutine or the
// workers (AllocsPerRun counts every goroutine's), across batch handoffs.
func TestRTPWorkersDoNotAllocate(t *testing.T) {
	e := NewEngine(Options{})
	e.startRTPWorkers(2)
	pkts := voice(MaxFramesPerFinding+10, 0)
	feedRTP(e, pkts)
	e.syncRTPWorkers()
	var m decode.Message
	pk := pkts[len(pkts)-1]
	allocs := testing.AllocsPerRun(4*rtpJobBatch, func() {
		pk.seq++
		pk.ts += 160
		pk.at += 20
		setRTP(&m, 1, &pk)
		e.Observe(&m)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per RTP packet with workers, want 0", allocs)
	}
	a := e.Finish(simStart.Add(time.Hour))
	if len(a.Streams) != 1 || a.Streams[0].Lost != 0 || a.Streams[0].Packets < 4*rtpJobBatch {
		t.Errorf("the stream was not accounted: %+v", a.Streams)
	}
	if e.rtpWorkers != nil {
		t.Error("Finish left the workers running")
	}
}

// TestRTPWorkersLateAnnouncement checks the ordering the workers must
// keep: an SDP seen after the media started gives the stream its clock
// rate at that packet, jitter is measured from the next one, and idle
// retirement in between reads finished accounting; the results equal the
// single goroutine's.
func TestRTPWorkersLateAnnouncement(t *testing.T) {
	run := func(workers int) []*Stream {
		e := NewEngine(Options{IdleTimeout: 2 * time.Second})
		e.startRTPWorkers(workers)
		pkts := voice(3*rtpJobBatch, 0)
		for i := range pkts {
			pkts[i].pt = 111
			pkts[i].at += float64(i%7) * 1.5 // arrival jitter
		}
		// A second stream that falls silent and is retired half way.
		other := voice(rtpJobBatch/2, 100)
		for i := range other {
			other[i].src, other[i].ssrc = mediaCallee, 0x5678
			other[i].dst = mediaCaller
		}
		var m decode.Message
		frame := uint64(0)
		for i := range pkts {
			if i == len(pkts)-5 {
				call := &Call{CallID: "late"}
				sess := audioSDP(mediaCaller, "RTP/AVP", map[uint8]sdp.RTPMap{111: {Encoding: "opus", ClockRate: 48000}})
				e.announceMedia(call, &SDPSeen{From: mediaCaller, Session: sess})
			}
			frame++
			setRTP(&m, frame, &pkts[i])
			e.Observe(&m)
			if i < len(other) {
				frame++
				setRTP(&m, frame, &other[i])
				e.Observe(&m)
			}
		}
		return e.Finish(simStart.Add(time.Hour)).Streams
	}
	want, got := run(1), run(3)
	if len(want) != 2 || want[0].ClockRate != 48000 || want[0].Jitter == 0 {
		t.Fatalf("single goroutine: the scenario went wrong: %+v", want)
	}
	if len(got) != len(want) {
		t.Fatalf("%d streams with workers, %d without", len(got), len(want))
	}
	for i := range want {
		w, g := *want[i], *got[i]
		if w.Call != nil && g.Call != nil && w.Call.CallID == g.Call.CallID {
			w.Call, g.Call = nil, nil
		}
		if !reflect.DeepEqual(w, g) {
			t.Errorf("stream %d differs with workers:\n got %+v\nwant %+v", i, g, w)
		}
	}
}
