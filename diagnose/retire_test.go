package diagnose

import (
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
)

// TestRetireIdleStreams: a stream silent for the idle timeout leaves the
// correlation state but not the Analysis, with its accounting finished.
func TestRetireIdleStreams(t *testing.T) {
	e := NewEngine(Options{IdleTimeout: 10 * time.Second})
	var m decode.Message
	frame := uint64(0)
	send := func(ssrc uint32, startMs float64, n int, skip uint16) {
		for i := range n {
			frame++
			seq := uint16(i)
			if seq >= skip {
				seq++ // one packet lost
			}
			pk := rtpPkt{at: startMs + float64(i)*20, src: mediaCaller, dst: mediaCallee, ssrc: ssrc, seq: seq, ts: uint32(seq) * 160}
			setRTP(&m, frame, &pk)
			e.Observe(&m)
		}
	}
	send(0xa, 0, 50, 10)
	send(0xb, 100_000, 50, 1000)
	if len(e.media.list) != 1 || len(e.retiredStreams) != 1 || len(e.media.streams) != 1 {
		t.Fatalf("after 100 s: %d streams tracked (%d in the map), %d retired; want 1, 1, 1",
			len(e.media.list), len(e.media.streams), len(e.retiredStreams))
	}
	if _, ok := e.media.bySSRC[0xa]; ok {
		t.Errorf("retired stream still in the SSRC index")
	}
	a := e.Finish(simStart.Add(200 * time.Second))
	if len(a.Streams) != 2 {
		t.Fatalf("%d streams in the Analysis; want 2", len(a.Streams))
	}
	old := a.Streams[0]
	if old.SSRC != 0xa || old.Packets != 50 || old.Lost != 1 || old.Expected != 51 {
		t.Errorf("retired stream: SSRC %#x, %d packets, %d lost of %d; want 0xa, 50, 1 of 51", old.SSRC, old.Packets, old.Lost, old.Expected)
	}
	if a.Streams[1].SSRC != 0xb || a.Streams[1].Lost != 0 {
		t.Errorf("second stream %+v", a.Streams[1])
	}
	if len(a.Flows) != 1 || a.Flows[0].Packets != 100 {
		t.Errorf("flows %+v; want one of 100 packets", a.Flows)
	}
}

// TestRetireKeepsActiveStreams: a stream that keeps sending is never
// retired, whatever the length of the run.
func TestRetireKeepsActiveStreams(t *testing.T) {
	e := NewEngine(Options{IdleTimeout: time.Second})
	var m decode.Message
	for i := range 1000 {
		pk := rtpPkt{at: float64(i) * 100, src: mediaCaller, dst: mediaCallee, ssrc: 7, seq: uint16(i), ts: uint32(i) * 800}
		setRTP(&m, uint64(i+1), &pk)
		e.Observe(&m)
	}
	if len(e.retiredStreams) != 0 || len(e.media.list) != 1 {
		t.Fatalf("%d retired, %d tracked; want 0, 1", len(e.retiredStreams), len(e.media.list))
	}
	a := e.Finish(simStart.Add(time.Hour))
	if len(a.Streams) != 1 || a.Streams[0].Packets != 1000 || a.Streams[0].Lost != 0 {
		t.Errorf("streams %+v", a.Streams)
	}
}
