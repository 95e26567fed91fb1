package rules_test

import (
	"os"
	"sync"
	"testing"

	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/internal/usage"
	"github.com/callscope/callscope/rules"
)

// captureAnalysis is the Analysis of the capture CALLSCOPE_BENCH_PCAP
// names, analyzed without rules once per test binary: the rules'
// benchmarks time the rules alone.
var captureAnalysis = sync.OnceValues(func() (*diagnose.Analysis, error) {
	a, _, err := diagnose.Analyze([]string{os.Getenv("CALLSCOPE_BENCH_PCAP")}, diagnose.Options{}, nil)
	return a, err
})

// BenchmarkRulesOnCapture runs the rules at the end of an analysis of the
// capture named by CALLSCOPE_BENCH_PCAP (a SIP-dense one such as synthcap
// -call-length 2s -concurrent 200 makes, for profiling with -cpuprofile):
// all of them as RunRules does ("all"), one after the other in one
// goroutine ("sequential", the CPU they take) and each alone.
func BenchmarkRulesOnCapture(b *testing.B) {
	if os.Getenv("CALLSCOPE_BENCH_PCAP") == "" {
		b.Skip("CALLSCOPE_BENCH_PCAP names no capture")
	}
	a, err := captureAnalysis()
	if err != nil {
		b.Fatal(err)
	}
	all := rules.All()
	b.Run("all", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			diagnose.RunRules(a, all)
		}
	})
	b.Run("sequential", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			for _, r := range all {
				r.Check(a)
			}
		}
	})
	for _, r := range all {
		b.Run(r.ID(), func(b *testing.B) {
			defer reportCPU(b)()
			for b.Loop() {
				r.Check(a)
			}
		})
	}
}

// reportCPU reports the process's CPU time per op (the collector's
// included), steadier than wall time on a shared machine.
func reportCPU(b *testing.B) func() {
	cpu0, _, ok := usage.Process()
	return func() {
		if cpu1, _, _ := usage.Process(); ok {
			b.ReportMetric(float64(cpu1-cpu0)/float64(b.N)/1e9, "cpu-s/op")
		}
	}
}
