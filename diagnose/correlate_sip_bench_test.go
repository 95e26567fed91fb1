//go:build linux

package diagnose

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
)

// BenchmarkObserveSIP decodes and correlates the SIP messages of the
// capture named by CALLSCOPE_BENCH_PCAP (the rest of it left out), the
// records read beforehand: cpu-ns/message is the process's CPU time, the
// collector's included, since SIP correlation allocates records that
// stay, and what they cost the collector is part of their price.
func BenchmarkObserveSIP(b *testing.B) {
	path := os.Getenv("CALLSCOPE_BENCH_PCAP")
	if path == "" {
		b.Skip("CALLSCOPE_BENCH_PCAP names no capture")
	}
	recs := sipRecords(b, path)
	if len(recs) == 0 {
		b.Skip("no SIP in the capture")
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for range b.N {
		t0 := processCPU()
		e := NewEngine(Options{})
		dec := decode.NewDecoder()
		for i := range recs {
			dec.Decode(&recs[i], e.Observe)
		}
		e.Finish(time.Time{})
		cpu += processCPU() - t0
		b.StopTimer()
		e = nil
		runtime.GC()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(len(recs)), "cpu-ns/message")
}

// sipRecords returns copies of the records of path that decode to SIP.
func sipRecords(tb testing.TB, path string) []capture.Record {
	r, err := capture.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	dec := decode.NewDecoder()
	var recs []capture.Record
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		sip := false
		dec.Decode(rec, func(m *decode.Message) { sip = sip || (m != nil && m.Kind == decode.KindSIP) })
		if sip {
			cp := *rec
			cp.Data = append([]byte(nil), rec.Data...)
			recs = append(recs, cp)
		}
	}
	return recs
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
