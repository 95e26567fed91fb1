package rules

import (
	"net/netip"
	"slices"
	"testing"

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

// BenchmarkMediaRulesManyCalls runs the rules that look up each call's
// streams on 20 000 answered calls (diagnose.MaxCalls) and 40 000 streams:
// linear work, milliseconds (it took seconds when each call scanned every
// stream).
func BenchmarkMediaRulesManyCalls(b *testing.B) {
	a := manyAnsweredCalls(20_000)
	for b.Loop() {
		MediaNoRTP{}.Check(a)
		MediaOneWay{}.Check(a)
	}
}
