package diagnose_test

import (
	"io"
	"os"
	"testing"

	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/internal/usage"
	"github.com/callscope/callscope/rules"
)

// BenchmarkWriteReportFile analyzes the capture named by
// CALLSCOPE_BENCH_PCAP once, then times only writing its reports to
// io.Discard: what the CLI spends after the analysis, which on a capture
// dense with calls is a large share of the run.
func BenchmarkWriteReportFile(b *testing.B) {
	path := os.Getenv("CALLSCOPE_BENCH_PCAP")
	if path == "" {
		b.Skip("CALLSCOPE_BENCH_PCAP names no capture")
	}
	a, findings, err := diagnose.Analyze([]string{path}, diagnose.Options{}, rules.All())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("json", func(b *testing.B) {
		timeWrite(b, func(w io.Writer) error { return diagnose.WriteJSONReport(w, a, findings, "bench") })
	})
	b.Run("text", func(b *testing.B) {
		timeWrite(b, func(w io.Writer) error {
			return diagnose.NewReport(a, findings, "bench").WriteText(w, diagnose.TextOptions{})
		})
	})
}

func timeWrite(b *testing.B, write func(io.Writer) error) {
	var n countingWriter
	cpu0, _, cpuOK := usage.Process()
	for b.Loop() {
		n = 0
		if err := write(&n); err != nil {
			b.Fatal(err)
		}
	}
	cpu1, _, _ := usage.Process()
	b.SetBytes(int64(n))
	if cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/1e9, "cpu-s/op")
	}
}

// countingWriter is io.Discard that counts, and is not an io.StringWriter
// or io.ReaderFrom, so that writers see what a file would show them.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
