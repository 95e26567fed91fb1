package diagnose

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sessionSSRCsScan is what the text report did for each ICE session:
// look each stream's SSRC up among those listed so far.
func sessionSSRCsScan(streams []StreamReport, session []int) ([]string, int) {
	var ssrcs []string
	srtp := 0
	for _, i := range session {
		if i >= 0 && i < len(streams) {
			if !slices.Contains(ssrcs, streams[i].SSRC) {
				ssrcs = append(ssrcs, streams[i].SSRC)
			}
			if streams[i].SRTP {
				srtp++
			}
		}
	}
	return ssrcs, srtp
}

// TestSessionSSRCs compares the set with the scan on random sessions whose
// few SSRCs repeat, with indexes out of range and streams listed twice.
func TestSessionSSRCs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 2000 {
		var streams []StreamReport
		for range r.IntN(10) {
			streams = append(streams, StreamReport{SSRC: fmt.Sprintf("0x%08x", r.IntN(4)), SRTP: r.IntN(2) == 0})
		}
		var session []int
		for range r.IntN(12) {
			session = append(session, r.IntN(len(streams)+3)-1) // -1 and past the end too
		}
		gotSSRCs, gotSRTP := sessionSSRCs(streams, session)
		wantSSRCs, wantSRTP := sessionSSRCsScan(streams, session)
		if !slices.Equal(gotSSRCs, wantSSRCs) || gotSRTP != wantSRTP {
			t.Fatalf("trial %d: %v, %d SRTP; the scan says %v, %d SRTP", trial, gotSSRCs, gotSRTP, wantSSRCs, wantSRTP)
		}
	}
}

// oneSessionManyStreams is a report with one ICE session whose selected
// pair carried MaxStreams streams, each SSRC on both TURN legs.
func oneSessionManyStreams() *Report {
	r := &Report{}
	s := ICESessionReport{}
	for i := range MaxStreams {
		r.Streams = append(r.Streams, StreamReport{SSRC: fmt.Sprintf("0x%08x", i/2), Packets: 100})
		s.Streams = append(s.Streams, i)
	}
	r.ICESessions = []ICESessionReport{s}
	return r
}

// BenchmarkTextOneSessionManyStreams: 0.63-0.9 s when each stream's SSRC
// was looked up among those listed so far, now 30-55 ms.
func BenchmarkTextOneSessionManyStreams(b *testing.B) {
	r := oneSessionManyStreams()
	for b.Loop() {
		if err := r.WriteText(io.Discard, TextOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestTextOneSessionManyStreams(t *testing.T) {
	var out strings.Builder
	if err := oneSessionManyStreams().WriteText(&out, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "10,000 SSRCs on the selected pair (SSRC 0x00000000, 0x00000001, 0x00000002, 0x00000003 … (+9996 more)), each seen on both TURN legs (20,000 RTP streams)"; !strings.Contains(out.String(), want) {
		t.Fatalf("no %q in\n%s", want, out.String())
	}
}
