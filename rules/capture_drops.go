package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// CaptureDrops reports packets the capture point itself lost: a live
// capture's kernel drops (its ring was full because callscope fell
// behind). They never reached the analysis, so what they carried is
// missing from every other finding.
type CaptureDrops struct{}

func (CaptureDrops) ID() string                  { return "capture.drops" }
func (CaptureDrops) Severity() diagnose.Severity { return diagnose.Warning }
func (CaptureDrops) Title() string               { return "Capture dropped packets" }

func (CaptureDrops) Explain() string {
	return "Reads the kernel's counters of a live capture (PACKET_STATISTICS: packets dropped because " +
		"callscope's ring buffer was full, and how often the ring filled up) and says how many packets were " +
		"lost at the capture point, on which interface and when. Those packets were never analyzed: loss, " +
		"one-way media or an unanswered request at the same time may be the capture's doing, not the " +
		"network's (media.loss says so when the windows overlap). Usual causes: a capture filter wider than " +
		"needed (narrow it with --filter to the TURN, SIP and media ports), a busy or slow machine, or bursts " +
		"of traffic larger than the ring. Files carry no such counters."
}

func (r CaptureDrops) Check(a *diagnose.Analysis) []diagnose.Finding {
	var out []diagnose.Finding
	for _, d := range a.CaptureDrops {
		if d.Dropped == 0 {
			continue
		}
		out = append(out, r.finding(d))
	}
	return out
}

func (r CaptureDrops) finding(d diagnose.InterfaceDrops) diagnose.Finding {
	var first, last time.Time
	for _, s := range d.Samples {
		if first.IsZero() || s.Time.Before(first) {
			first = s.Time
		}
		if s.Time.After(last) {
			last = s.Time
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "The kernel dropped %s on %s", counted(int64(d.Dropped), "packet", "packets"), d.Interface)
	if d.Received > 0 {
		fmt.Fprintf(&b, " of the %s that matched the capture filter (%s %%)", thousands(d.Received), percent(100*float64(d.Dropped)/float64(d.Received)))
	}
	b.WriteString(" because callscope's capture ring was full")
	if d.RingOverruns > 0 {
		fmt.Fprintf(&b, " (it filled up %s)", plural(int(d.RingOverruns), "time", "times"))
	}
	switch n := len(d.Samples); {
	case n == 1:
		fmt.Fprintf(&b, ", at %s", clock(first))
	case n > 1:
		fmt.Fprintf(&b, ", in %s between %s and %s", plural(n, "burst", "bursts"), clock(first), clock(last))
	}
	b.WriteString(". These packets were never analyzed: loss, one-way media or unanswered requests at that time may be the capture point's, not the network's. Narrow --filter to the traffic that matters, or capture on a less busy machine.")
	filter := ""
	if !first.IsZero() {
		// The sample after the drops is up to a Streamer interval late.
		from := first.Add(-diagnose.DefaultStreamInterval)
		filter = fmt.Sprintf("frame.time_epoch >= %s && frame.time_epoch <= %s", epoch(from), epoch(last))
	}
	return diagnose.Finding{
		Rule:      r.ID(),
		Severity:  r.Severity(),
		Title:     fmt.Sprintf("Capture dropped %s on %s", counted(int64(d.Dropped), "packet", "packets"), d.Interface),
		Detail:    b.String(),
		Frames:    []uint64{},
		First:     first,
		Last:      last,
		Endpoints: []string{},
		Filter:    filter,
		// One finding per interface, however many drops come later.
		Key: r.ID() + "|" + d.Interface,
	}
}

// epoch prints a time as Wireshark's frame.time_epoch, to the millisecond.
func epoch(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// captureDropsDuring counts the packets the capture point dropped between
// from and to (give or take the sampling interval).
func captureDropsDuring(a *diagnose.Analysis, from, to time.Time) uint64 {
	var n uint64
	for _, d := range a.CaptureDrops {
		if len(d.Samples) == 0 {
			// Counters without times: the drops may have been any time.
			n += d.Dropped
			continue
		}
		for _, s := range d.Samples {
			if !s.Time.Before(from) && !s.Time.After(to.Add(time.Second)) {
				n += s.Dropped
			}
		}
	}
	return n
}
