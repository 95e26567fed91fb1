package diagnose_test

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/rules"
)

// TestHeapAfterAnalyze writes the live heap, the Analysis held, to
// CALLSCOPE_HEAP_PROFILE after analyzing CALLSCOPE_BENCH_PCAP.
func TestHeapAfterAnalyze(t *testing.T) {
	path, out := os.Getenv("CALLSCOPE_BENCH_PCAP"), os.Getenv("CALLSCOPE_HEAP_PROFILE")
	if path == "" || out == "" {
		t.Skip("CALLSCOPE_BENCH_PCAP and CALLSCOPE_HEAP_PROFILE not set")
	}
	a, findings, err := diagnose.Analyze([]string{path}, diagnose.Options{}, rules.All())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap in use %d MB; %d streams, %d transactions, %d calls, %d findings", ms.HeapInuse>>20,
		len(a.Streams), len(a.Transactions), len(a.Calls), len(findings))
	runtime.KeepAlive(a)
}
