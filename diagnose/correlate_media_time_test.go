package diagnose

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
)

// TestPublishedAccounting: the counters, DSCP marks, Last, Jitter,
// MaxJitter and MaxDelta a stream's record shows once published are those
// of updating the record on every packet (the previous way): the latest
// jitter in milliseconds, the largest of them all, the largest gap.
func TestPublishedAccounting(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 3))
		e := NewEngine(Options{})
		var m decode.Message
		var jitter, wantJitter, wantMax float64
		var want Stream
		var wantDelta, at time.Duration
		var last time.Duration
		for i := range 3000 {
			gap := 20*time.Millisecond + time.Duration(rng.NormFloat64()*float64(time.Duration(1+seed)*time.Millisecond))
			if rng.IntN(200) == 0 {
				gap = time.Duration(rng.IntN(3000)) * time.Millisecond
			}
			at += gap
			pk := rtpPkt{at: float64(at) / float64(time.Millisecond), src: mediaCaller, dst: mediaCallee, ssrc: 7,
				seq: uint16(i), ts: 160 * uint32(i), payload: 100 + rng.IntN(100),
				dscp: []uint8{46, 46, 46, 46, 0, 34, 46 + 64}[rng.IntN(7)], marker: rng.IntN(9) == 0}
			setRTP(&m, uint64(i+1), &pk)
			e.Observe(&m)
			want.Packets++
			want.Bytes += uint64(pk.payload)
			want.DSCP.Add(int(pk.dscp&63), 1)
			if pk.marker {
				want.Marker++
			}
			want.Last = FrameRef{Frame: m.Frame, Time: m.Time}
			now := m.Time.Sub(simStart)
			if i > 0 {
				wantDelta = max(wantDelta, now-last)
			}
			// RFC 3550 §6.4.1 in timestamp units, as updateJitter does
			// it, then in milliseconds on every packet.
			if i > 0 {
				arrival := float64((now - last).Nanoseconds()) * 8000 / 1e9
				if d := math.Abs(arrival - 160); d <= 8000*JitterResync.Seconds() {
					jitter += (d - jitter) / 16
					wantJitter = jitter * 1000 / 8000
					if wantJitter > wantMax {
						wantMax = wantJitter
					}
				}
			}
			last = now
			if len(e.media.list) == 0 {
				continue
			}
			st := e.media.list[0]
			if rng.IntN(10) == 0 || i == 2999 {
				e.syncRTPWorkers()
				s := st.s
				if s.Jitter != wantJitter || s.MaxJitter != wantMax || s.MaxDelta != wantDelta {
					t.Fatalf("seed %d packet %d: jitter %v max %v gap %v, want %v %v %v",
						seed, i, s.Jitter, s.MaxJitter, s.MaxDelta, wantJitter, wantMax, wantDelta)
				}
				if s.Packets != want.Packets || s.Bytes != want.Bytes || !s.DSCP.Equal(&want.DSCP) || s.Marker != want.Marker || s.Last != want.Last {
					t.Fatalf("seed %d packet %d: %d packets %d bytes %d marked, DSCP %v, last %v; want %d %d %d %v %v",
						seed, i, s.Packets, s.Bytes, s.Marker, s.DSCP, s.Last, want.Packets, want.Bytes, want.Marker, want.DSCP, want.Last)
				}
				if len(s.FirstFrames) != min(i+1, MaxFramesPerFinding) || s.FirstFrames[len(s.FirstFrames)-1] != uint64(len(s.FirstFrames)) {
					t.Fatalf("seed %d packet %d: first frames %v", seed, i, s.FirstFrames)
				}
			}
		}
		if wantMax == 0 {
			t.Fatalf("seed %d: no jitter measured", seed)
		}
	}
}
