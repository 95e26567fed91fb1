package diagnose_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/rules"
)

// fuzzSeedMax bounds the reference captures taken as seeds: the fuzzer
// mutates a whole file each run, and small ones keep runs fast.
const fuzzSeedMax = 16 << 10

// FuzzAnalyzeCapture runs capture files through everything a user's file
// meets: the reader, the decoder, the Engine, every built-in rule, and the
// JSON, JSON-lines and text reports. The decoders have fuzz targets of
// their own; this one finds what hostile input does further on, where
// rules index records the Engine built from it (a 2xx resent without its
// request, a fragment of a SIP message, an allocation without an answer).
// Whatever the bytes, the answer is an error or a report, never a panic.
// The seeds are the small reference captures of pcaps/, each a real
// exchange recorded by real programs, so mutations start from meaningful
// STUN, SIP, SDP, RTP and TLS.
func FuzzAnalyzeCapture(f *testing.F) {
	paths, err := filepath.Glob("../pcaps/*.pcap")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || fi.Size() > fuzzSeedMax {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	all := rules.All()
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := capture.NewReader(bytes.NewReader(b), "fuzz.pcap")
		if err != nil {
			return // not a capture: a clear error is the right answer
		}
		defer rd.Close()
		a, findings, err := diagnose.AnalyzeSource(rd, diagnose.Options{}, all, nil)
		if err != nil {
			return
		}
		if err := diagnose.WriteJSONReport(io.Discard, a, findings, "fuzz"); err != nil {
			t.Fatalf("WriteJSONReport: %v", err)
		}
		r := diagnose.NewReport(a, findings, "fuzz")
		if err := r.WriteText(io.Discard, diagnose.TextOptions{}); err != nil {
			t.Fatalf("WriteText: %v", err)
		}
	})
}
