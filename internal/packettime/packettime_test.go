package packettime

import (
	"math"
	"testing"
	"time"
)

func TestSubMatchesTimeSub(t *testing.T) {
	base := time.Date(2026, 11, 21, 7, 41, 0, 123456789, time.UTC)
	times := []time.Time{
		{},
		base,
		base.Add(1),
		base.Add(-1),
		base.Add(20 * time.Millisecond),
		base.Add(-999999999),
		base.Add(365 * 24 * time.Hour),
		time.Unix(0, 0),
		time.Unix(-1, 999999999),
		time.Unix(1<<33, 5),
		time.Unix(1<<33-1, 999999999),
		time.Unix(-1<<33, 999999999),
		time.Unix(-1<<33+1, 0),
		time.Unix(math.MaxInt64/2, 0),
		time.Unix(math.MinInt64/2, 0),
		time.Unix(-unixToYear1, 1),                // just after the zero time
		time.Unix(math.MaxInt64-unixToYear1+5, 7), // wraps when counted from year 1
		time.Unix(math.MinInt64+3, 0),
		base.In(time.FixedZone("x", 3600)),
		time.Now().Round(0),
	}
	for _, a := range times {
		if got, want := Of(a).IsZero(), a.IsZero(); got != want {
			t.Errorf("%v: Stamp.IsZero %v, IsZero %v", a, got, want)
		}
		for _, b := range times {
			want := a.Sub(b)
			if got := Sub(a, b); got != want {
				t.Errorf("Sub(%v, %v) = %v, time.Time.Sub gives %v", a, b, got, want)
			}
			if got := Of(a).Sub(Of(b)); got != want {
				t.Errorf("Stamp %v - %v = %v, time.Time.Sub gives %v", a, b, got, want)
			}
			na, okA := Nanos(a)
			nb, okB := Nanos(b)
			if okA && okB && (na < nb) != a.Before(b) {
				t.Errorf("Nanos(%v) = %d, Nanos(%v) = %d: not in the times' order", a, na, b, nb)
			}
		}
	}
}

func BenchmarkSub(b *testing.B) {
	t0 := time.Unix(1_700_000_000, 5)
	t1 := t0.Add(20 * time.Millisecond)
	var d time.Duration
	b.Run("packettime", func(b *testing.B) {
		for b.Loop() {
			d += Sub(t1, t0)
		}
	})
	b.Run("time", func(b *testing.B) {
		for b.Loop() {
			d += t1.Sub(t0)
		}
	})
	_ = d
}
