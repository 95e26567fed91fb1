package diagnose

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// keepAlives prints a line per flow that carried CRLF keep-alives: its
// pings and pongs, how often they came and their frames. Nothing when
// there were none.
func (t *textWriter) keepAlives(r *Report) {
	ka := r.Stats.KeepAlives
	if len(ka.Flows) == 0 && ka.Dropped == 0 {
		return
	}
	t.printf("%s\n", t.s.heading.Sprintf("SIP keep-alive flows (%d)", len(ka.Flows)+ka.More))
	for _, f := range ka.Flows {
		t.printf("  %s\n", keepAliveLine(f))
	}
	if ka.More > 0 {
		t.printf("  %s\n", t.s.dim.Sprintf("… and %s", count(uint64(ka.More), "more flow", "more flows")))
	}
	if ka.Dropped > 0 {
		t.printf("  %s\n", t.s.dim.Sprintf("%s on flows beyond the %s summarized", count(uint64(ka.Dropped), "keep-alive", "keep-alives"), thousands(MaxSIPKeepAliveFlows)))
	}
	t.printf("\n")
}

// keepAliveLine: "10.0.1.10:58993 → 203.0.113.20:5060 tcp · 4 pings every
// 5 s · frames 8–14 · no pong back".
func keepAliveLine(f SIPKeepAliveReport) string {
	var what []string
	if f.Pings > 0 {
		what = append(what, count(uint64(f.Pings), "ping", "pings"))
	}
	if f.Pongs > 0 {
		what = append(what, count(uint64(f.Pongs), "pong", "pongs"))
	}
	if len(what) == 0 {
		what = append(what, "keep-alives") // an Analysis made without Pings and Pongs
	}
	parts := []string{fmt.Sprintf("%s → %s %s", f.Src, f.Dst, f.Transport), strings.Join(what, " and ")}
	if f.IntervalS > 0 {
		parts[1] += " every " + FormatSeconds(time.Duration(f.IntervalS*float64(time.Second))) + " s"
	}
	frames := "frame " + strconv.FormatUint(f.First.Frame, 10)
	if f.Last.Frame != f.First.Frame {
		frames = fmt.Sprintf("frames %d–%d", f.First.Frame, f.Last.Frame)
	}
	parts = append(parts, frames)
	if f.NoPongBack {
		parts = append(parts, "no pong back")
	}
	return strings.Join(parts, " · ")
}
