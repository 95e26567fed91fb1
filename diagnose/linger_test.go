package diagnose

import (
	"testing"
	"time"
)

// TestLingerQueueOrderAcrossCompaction pops past the point where the queue
// moves its live entries to the front of the slice, pushing as it goes:
// order and times must come out as they went in.
func TestLingerQueueOrderAcrossCompaction(t *testing.T) {
	var q lingerQueue[int]
	t0 := time.Unix(0, 0)
	next := 0
	for ; next < 3400; next++ {
		q.push(next, t0.Add(time.Duration(next)))
	}
	for want := range 5000 {
		if q.empty() {
			t.Fatalf("empty before item %d", want)
		}
		if got := q.peek().item; got != want {
			t.Fatalf("peek = %d, want %d", got, want)
		}
		e := q.pop()
		if e.item != want || !e.since.Equal(t0.Add(time.Duration(want))) {
			t.Fatalf("pop = %d at %v, want %d at %v", e.item, e.since, want, t0.Add(time.Duration(want)))
		}
		if want%3 == 0 && next < 5000 {
			q.push(next, t0.Add(time.Duration(next)))
			next++
		}
	}
	if !q.empty() {
		t.Fatalf("not empty after all items: head %d of %d", q.head, len(q.entries))
	}
	if len(q.entries) >= 5000 {
		t.Errorf("slice never compacted: %d entries held", len(q.entries))
	}
}
