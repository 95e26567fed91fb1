package rules

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/diagnose"
)

// manyAnsweredCalls is n answered calls, each with an empty SDP offer and
// two streams: one tied through SDP (Call.Streams), one only naming the
// call (Stream.Call), as relinked streams are.
func manyAnsweredCalls(n int) *diagnose.Analysis {
	a := &diagnose.Analysis{}
	for i := range n {
		c := &diagnose.Call{CallID: string(rune('a'+i%26)) + "@x", Outcome: "answered", Offer: &diagnose.SDPSeen{Session: &sdp.Session{}}}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 6000)
		tied := &diagnose.Stream{Src: src, Dst: netip.MustParseAddrPort("203.0.113.20:6000"), Call: c}
		named := &diagnose.Stream{Src: netip.MustParseAddrPort("203.0.113.20:6000"), Dst: src, Call: c}
		c.Streams = []*diagnose.Stream{tied}
		a.Calls = append(a.Calls, c)
		a.Streams = append(a.Streams, tied, named)
	}
	return a
}

// TestCallStreamIndex: a call's streams are those its SDP tied, then those
// naming it in the order of Analysis.Streams, each once.
func TestCallStreamIndex(t *testing.T) {
	a := manyAnsweredCalls(3)
	c := a.Calls[1]
	extra := &diagnose.Stream{Call: c}
	c.Streams = append(c.Streams, nil, a.Streams[3]) // the named stream tied as well
	a.Streams = append(a.Streams, extra, a.Streams[3])
	got := indexCallStreams(a).streams(c)
	want := []*diagnose.Stream{a.Streams[2], a.Streams[3], extra}
	if !slices.Equal(got, want) {
		t.Fatalf("streams of call 1: %v, want %v", got, want)
	}
	if got := indexCallStreams(a).streams(&diagnose.Call{}); len(got) != 0 {
		t.Errorf("a call nothing names has streams %v", got)
	}
}

// withoutMedia adds n answered calls of 10 s whose SDP announced audio
// on 198.51.100.1, port 20000+i, that no stream reached.
func withoutMedia(a *diagnose.Analysis, n int) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		m := sdp.Media{Type: "audio", Port: uint16(20000 + i), Proto: "RTP/AVP", Connection: netip.MustParseAddr("198.51.100.1")}
		c := &diagnose.Call{CallID: "silent@x", Outcome: "answered", Offer: &diagnose.SDPSeen{Session: &sdp.Session{Media: []sdp.Media{m}}}}
		c.Answered = diagnose.FrameRef{Frame: uint64(i + 1), Time: t0}
		c.Ended = diagnose.FrameRef{Frame: uint64(n + i + 1), Time: t0.Add(10 * time.Second)}
		a.Calls = append(a.Calls, c)
	}
}

// TestMediaNoRTPOtherLeg: of the streams on an announced port but another
// address, the finding names the first in the order of Analysis.Streams
// that overlaps the call.
func TestMediaNoRTPOtherLeg(t *testing.T) {
	a := &diagnose.Analysis{}
	withoutMedia(a, 1)
	t0 := a.Calls[0].Answered.Time
	leg := func(src string, from, to time.Duration) *diagnose.Stream {
		return &diagnose.Stream{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort("10.0.0.9:7000"),
			First: diagnose.FrameRef{Frame: 1, Time: t0.Add(from)}, Last: diagnose.FrameRef{Frame: 2, Time: t0.Add(to)}}
	}
	a.Streams = []*diagnose.Stream{
		leg("10.0.0.1:20000", 20*time.Second, 30*time.Second), // after the call
		leg("10.0.0.2:20001", 0, 5*time.Second),               // another port
		leg("10.0.0.3:20000", time.Second, 5*time.Second),     // the one
		leg("10.0.0.4:20000", time.Second, 5*time.Second),
	}
	fs := MediaNoRTP{}.Check(a)
	if len(fs) != 1 || !strings.Contains(fs[0].Detail, "on port 20000, which this call announced, but on another address: 10.0.0.3:20000 ↔ 10.0.0.9:7000") {
		t.Fatalf("findings: %+v", fs)
	}
	a.Streams = append(a.Streams, leg("198.51.100.1:20000", time.Second, 5*time.Second))
	if fs := (MediaNoRTP{}).Check(a); len(fs) != 0 {
		t.Errorf("a stream from the announced address, and still: %+v", fs)
	}
}

// BenchmarkMediaRulesManyCalls runs the rules that look up each call's
// streams on 20 000 answered calls (diagnose.MaxCalls) and 40 000 streams,
// half of them without media: linear work, tens of milliseconds (it took
// seconds when each call scanned every stream).
func BenchmarkMediaRulesManyCalls(b *testing.B) {
	a := manyAnsweredCalls(10_000)
	withoutMedia(a, 10_000)
	for b.Loop() {
		MediaNoRTP{}.Check(a)
		MediaOneWay{}.Check(a)
	}
}
