package main

import (
	"math"
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
// heapHeadroom bytes, never under minGCPercent.
//
// The collector then runs more often. For a given allocation rate its
// CPU cost goes as 1/percent (each cycle marks the live heap; a cycle
// comes every percent × live bytes allocated), so where little is
// allocated (RTP costs no allocation) a small headroom is nearly free,
// but a capture dense with SIP allocates with every message: 11,250 calls
// in 3.5 M packets spent half again as much CPU at 25 % as at 100 %. So
// the percent is also raised to what would keep the collector's share of
// the CPU used near gcShareLimit. The share is averaged over the last
// gcShareWindow of CPU time: the end of an analysis (rules and the
// report) allocates densely but briefly, and raising the percent for it
// would only raise the peak of memory (PERFORMANCE.md, "Memory").
const (
	heapHeadroomFrom = 32 << 20
	heapHeadroom     = 16 << 20
	minGCPercent     = 25
	gcShareLimit     = 0.10
	gcShareWindow    = 4.0 // seconds of CPU
)

// boundHeapHeadroom adjusts the GC percent after every collection until
// the process ends. It does nothing when GOGC is set, which stays the
// user's choice.
func boundHeapHeadroom() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	headroomOnce.Do(func() {
		t := &gcTuner{percent: 100, headroom: heapHeadroom, sample: []metrics.Sample{
			{Name: "/gc/heap/live:bytes"},
			{Name: "/cpu/classes/gc/total:cpu-seconds"},
			{Name: "/cpu/classes/total:cpu-seconds"},
			{Name: "/cpu/classes/idle:cpu-seconds"},
		}}
		t.arm()
	})
}

var headroomOnce sync.Once

type gcTuner struct {
	percent  int
	headroom uint64
	sample   []metrics.Sample
	// The collector's and all busy CPU time at the previous collection,
	// and the collector's share of the CPU, averaged.
	gcCPU, busyCPU, share float64
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
	if t.sample[0].Value.Kind() == metrics.KindUint64 && t.sample[1].Value.Kind() == metrics.KindFloat64 &&
		t.sample[2].Value.Kind() == metrics.KindFloat64 && t.sample[3].Value.Kind() == metrics.KindFloat64 {
		gc, busy := t.sample[1].Value.Float64(), t.sample[2].Value.Float64()-t.sample[3].Value.Float64()
		t.share = averageShare(t.share, gc-t.gcCPU, busy-t.busyCPU)
		t.gcCPU, t.busyCPU = gc, busy
		if p := gcPercentFor(t.sample[0].Value.Uint64(), t.headroom, t.percent, t.share); p != t.percent {
			t.percent = p
			debug.SetGCPercent(p)
		}
	}
	t.arm()
}

// averageShare adds a cycle in which the collector used gc of busy
// seconds of CPU to the average share: an exponential average over
// gcShareWindow seconds of CPU, each cycle weighed by its length.
func averageShare(share, gc, busy float64) float64 {
	if busy <= 0 {
		return share
	}
	w := 1 - math.Exp(-busy/gcShareWindow)
	return share + w*(gc/busy-share)
}

// gcPercentFor is the GC percent that gives a live heap of live bytes a
// headroom of about headroom bytes, within [minGCPercent, 100], but never
// under the percent that would have put the collector's share of the CPU
// at gcShareLimit, given its share over its last cycle at the current
// percent: that one both raises the percent of a collector that costs too
// much and keeps it from falling back to where it would cost too much
// again.
func gcPercentFor(live, headroom uint64, current int, share float64) int {
	if live < heapHeadroomFrom {
		return 100
	}
	p := int(max(minGCPercent, min(100, headroom*100/live)))
	return max(p, min(100, int(float64(current)*share/gcShareLimit+0.5)))
}
