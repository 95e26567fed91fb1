package diagnose_test

import (
	"os"
	"testing"

	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/internal/usage"
	"github.com/callscope/callscope/rules"
)

// BenchmarkAnalyzeFile analyzes the capture named by CALLSCOPE_BENCH_PCAP
// (make bench's captures, for profiling: -cpuprofile, -memprofile), read
// ahead in another goroutine as the CLI does, and all in one goroutine.
// Besides wall time it reports the process's CPU time (all goroutines,
// the collector included), the steadier measure on a shared machine.
func BenchmarkAnalyzeFile(b *testing.B) {
	path := os.Getenv("CALLSCOPE_BENCH_PCAP")
	if path == "" {
		b.Skip("CALLSCOPE_BENCH_PCAP names no capture")
	}
	b.Run("read-ahead", func(b *testing.B) { analyzeFile(b, path, 1) })
	b.Run("one-goroutine", func(b *testing.B) {
		defer diagnose.SetReadAhead(false)()
		analyzeFile(b, path, 1)
	})
	// Options.Workers: the RTP accounting sharded (media_workers.go).
	b.Run("workers-2", func(b *testing.B) { analyzeFile(b, path, 2) })
}

func analyzeFile(b *testing.B, path string, workers int) {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	var packets uint64
	cpu0, _, cpuOK := usage.Process()
	for b.Loop() {
		a, _, err := diagnose.Analyze([]string{path}, diagnose.Options{Workers: workers}, rules.All())
		if err != nil {
			b.Fatal(err)
		}
		packets = a.Stats.Packets
	}
	cpu1, _, _ := usage.Process()
	b.ReportMetric(float64(packets)*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	if cpuOK && packets > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/1e9, "cpu-s/op")
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/float64(packets), "cpu-ns/packet")
	}
}
