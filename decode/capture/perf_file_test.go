package capture

import (
	"io"
	"os"
	"testing"

	"github.com/callscope/callscope/internal/usage"
)

// BenchmarkReadFile reads the capture named by CALLSCOPE_BENCH_PCAP (make
// bench's, e.g. /tmp/bench/synth-2000000-1.pcap) from start to end,
// touching the first 64 bytes of every record, where a decoder finds the
// link, IP, UDP and RTP headers, through the buffer and mapped. Besides
// wall time it reports the process's CPU time per record, the steadier
// measure on a shared machine.
func BenchmarkReadFile(b *testing.B) {
	path := os.Getenv("CALLSCOPE_BENCH_PCAP")
	if path == "" {
		b.Skip("CALLSCOPE_BENCH_PCAP names no capture")
	}
	b.Run("bufio", func(b *testing.B) { readFile(b, path, false) })
	b.Run("mmap", func(b *testing.B) { readFile(b, path, true) })
}

func readFile(b *testing.B, path string, mmap bool) {
	fi, err := os.Stat(path)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(fi.Size())
	var records int64
	var sum byte
	cpu0, faults0, ok := usage.Process()
	for b.Loop() {
		r, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r.noMmap = !mmap
		records = 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			records++
			if records == 1 && r.StableData() != (mmap && mmapSupported) {
				b.Fatalf("StableData() = %v", r.StableData())
			}
			if n := min(len(rec.Data), 64); n > 0 {
				sum += rec.Data[0] + rec.Data[n-1]
			}
		}
		r.Close()
	}
	cpu1, faults1, _ := usage.Process()
	_ = sum
	if records == 0 {
		return
	}
	total := float64(records) * float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/record")
	if ok {
		b.ReportMetric(float64(cpu1-cpu0)/total, "cpu-ns/record")
		b.ReportMetric(float64(faults1-faults0)/float64(b.N), "minflt/op")
	}
}
