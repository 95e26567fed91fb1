package sdp

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
)

// corpusSDP returns copies of the SDP bodies in the repository's captures
// (SIP and WebRTC ones), or, when CALLSCOPE_SIP_PCAP names a capture (a
// SIP-dense one such as synthcap's), the bodies of its first
// CALLSCOPE_SIP_MESSAGES SIP messages (default 20,000).
func corpusSDP(tb testing.TB) [][]byte {
	tb.Helper()
	paths, limit := []string{os.Getenv("CALLSCOPE_SIP_PCAP")}, 20_000
	if paths[0] == "" {
		var err error
		paths, err = filepath.Glob("../../pcaps/*.pcap")
		if err != nil || len(paths) == 0 {
			tb.Skip("no captures in pcaps/")
		}
		limit = 1 << 30
	} else if n, err := strconv.Atoi(os.Getenv("CALLSCOPE_SIP_MESSAGES")); err == nil && n > 0 {
		limit = n
	}
	var bodies [][]byte
	for _, p := range paths {
		r, err := capture.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		d := decode.NewDecoder()
		seen := 0
		emit := func(m *decode.Message) {
			if m.Kind != decode.KindSIP || seen >= limit {
				return
			}
			seen++
			if body := m.SIP.SDP(); body != nil {
				bodies = append(bodies, append([]byte(nil), body...))
			}
		}
		for seen < limit {
			rec, err := r.Next()
			if err != nil {
				break
			}
			d.Decode(rec, emit)
		}
		r.Close()
	}
	if len(bodies) == 0 {
		tb.Skip("no SDP bodies")
	}
	return bodies
}

// BenchmarkParseCorpus parses real SDP bodies, one per op.
func BenchmarkParseCorpus(b *testing.B) {
	bodies := corpusSDP(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = Parse(bodies[i])
		if i++; i == len(bodies) {
			i = 0
		}
	}
}

// BenchmarkParseCorpusRetained parses real SDP bodies and keeps every
// Session, as a call keeps its offer and answer: the bytes it reports per
// op are what a kept Session costs.
func BenchmarkParseCorpusRetained(b *testing.B) {
	bodies := corpusSDP(b)
	kept := make([]*Session, len(bodies))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		kept[i], _ = Parse(bodies[i])
		if i++; i == len(bodies) {
			i = 0
		}
	}
}

// BenchmarkSessionRetained reports what a kept Session costs the live heap
// (retained-B/session), measured after a GC with every body's Session held.
func BenchmarkSessionRetained(b *testing.B) {
	bodies := corpusSDP(b)
	kept := make([]*Session, len(bodies))
	var perSession float64
	for b.Loop() {
		clear(kept)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i, body := range bodies {
			kept[i], _ = Parse(body)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSession = float64(after.HeapAlloc-before.HeapAlloc) / float64(len(bodies))
	}
	runtime.KeepAlive(kept)
	b.ReportMetric(perSession, "retained-B/session")
}
