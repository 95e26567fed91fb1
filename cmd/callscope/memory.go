package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Heap headroom: with GOGC=100 the collector lets the heap grow to twice
// what was live after the previous cycle. An analysis's live heap is
// mostly the records of ended calls, streams and transactions, which grow
// with the capture and are never garbage, so that doubling is the
// largest part of a long capture's peak RSS. Above heapHeadroomFrom of
// live heap, the GC percent is lowered so the headroom stays near
// heapHeadroom bytes, never under minGCPercent: the collector then runs
// more often, but its work is what is allocated, which little is (RTP
// costs no allocation), so the cost stays small (PERFORMANCE.md,
// "Memory").
const (
	heapHeadroomFrom = 32 << 20
	heapHeadroom     = 16 << 20
	minGCPercent     = 25
)

// boundHeapHeadroom adjusts the GC percent after every collection until
// the process ends. It does nothing when GOGC is set, which stays the
// user's choice.
func boundHeapHeadroom() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	headroomOnce.Do(func() {
		t := &gcTuner{percent: 100, headroom: heapHeadroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
		t.arm()
	})
}

var headroomOnce sync.Once

type gcTuner struct {
	percent  int
	headroom uint64
	sample   []metrics.Sample
}

// arm sets a sentinel whose finalizer runs after the next collection.
func (t *gcTuner) arm() {
	runtime.SetFinalizer(&gcSentinel{t}, func(s *gcSentinel) { s.t.collected() })
}

// gcSentinel is garbage as soon as it is made; it must not be a
// zero-size or tiny allocation, which finalizers may not see freed.
type gcSentinel struct{ t *gcTuner }

func (t *gcTuner) collected() {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		if p := gcPercentFor(t.sample[0].Value.Uint64(), t.headroom); p != t.percent {
			t.percent = p
			debug.SetGCPercent(p)
		}
	}
	t.arm()
}

// gcPercentFor is the GC percent that gives a live heap of live bytes a
// headroom of about headroom bytes, within [minGCPercent, 100].
func gcPercentFor(live, headroom uint64) int {
	if live < heapHeadroomFrom {
		return 100
	}
	return int(max(minGCPercent, min(100, headroom*100/live)))
}
