package rules

import (
	"strings"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestCaptureDrops(t *testing.T) {
	drops := func(d ...diagnose.InterfaceDrops) *diagnose.Analysis { return &diagnose.Analysis{CaptureDrops: d} }
	eth0 := diagnose.InterfaceDrops{Interface: "eth0", Received: 10_000, Captured: 9_700, Dropped: 300, RingOverruns: 2,
		Samples: []diagnose.DropSample{{Time: at(3), Dropped: 120}, {Time: at(7.25), Dropped: 180}}}
	clean := diagnose.InterfaceDrops{Interface: "lo", Received: 500, Captured: 500}

	if fs := (CaptureDrops{}).Check(drops(clean)); len(fs) != 0 {
		t.Errorf("findings without drops: %+v", fs)
	}
	if fs := (CaptureDrops{}).Check(&diagnose.Analysis{}); len(fs) != 0 {
		t.Errorf("findings for a file: %+v", fs)
	}

	fs := (CaptureDrops{}).Check(drops(clean, eth0))
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1 (eth0): %+v", len(fs), fs)
	}
	f := fs[0]
	if f.Rule != "capture.drops" || f.Severity != diagnose.Warning {
		t.Errorf("rule %s severity %v; want capture.drops warning", f.Rule, f.Severity)
	}
	for _, want := range []string{"dropped 300 packets on eth0", "of the 10,000 that matched the capture filter (3.0 %)",
		"filled up 2 times", "in 2 bursts between " + clock(at(3)) + " and " + clock(at(7.25)), "not the network's"} {
		if !strings.Contains(f.Detail, want) {
			t.Errorf("detail lacks %q:\n%s", want, f.Detail)
		}
	}
	if !f.First.Equal(at(3)) || !f.Last.Equal(at(7.25)) {
		t.Errorf("First %v Last %v; want the samples' times", f.First, f.Last)
	}
	if !strings.HasPrefix(f.Filter, "frame.time_epoch >= ") || !strings.Contains(f.Filter, epoch(at(7.25))) {
		t.Errorf("filter %q does not select the drop window", f.Filter)
	}
	// One identity per interface: more drops later are the same finding.
	more := eth0
	more.Dropped, more.Samples = 400, append(eth0.Samples[:2:2], diagnose.DropSample{Time: at(9), Dropped: 100})
	if g := (CaptureDrops{}).Check(drops(more)); len(g) != 1 || g[0].Identity() != f.Identity() {
		t.Errorf("identity changed with more drops: %v", g)
	}

	// Counters without samples (read only at the end).
	untimed := diagnose.InterfaceDrops{Interface: "eth1", Received: 100, Dropped: 1}
	fs = (CaptureDrops{}).Check(drops(untimed))
	if len(fs) != 1 || !strings.Contains(fs[0].Detail, "dropped 1 packet on eth1") || fs[0].Filter != "" {
		t.Errorf("untimed drops: %+v", fs)
	}
}

func TestMediaLossCaptureDrops(t *testing.T) {
	s := rtpStream("192.0.2.10:4000", "203.0.113.7:30000", 0xabcd, 10, 1, 960)
	s.Expected, s.Lost, s.LossBursts, s.MaxLossBurst = 1000, 40, 3, 20
	// The stream runs from 1 s to about 20 s.
	during := diagnose.InterfaceDrops{Interface: "eth0", Dropped: 40, Samples: []diagnose.DropSample{{Time: at(5), Dropped: 40}}}
	after := diagnose.InterfaceDrops{Interface: "eth0", Dropped: 40, Samples: []diagnose.DropSample{{Time: at(60), Dropped: 40}}}
	const says = "The capture point itself dropped 40 packets during this stream"
	runRuleCases(t, MediaLoss{}, []ruleCase{
		{name: "drops in the stream's window", a: &diagnose.Analysis{Streams: []*diagnose.Stream{s}, CaptureDrops: []diagnose.InterfaceDrops{during}},
			want: 1, severity: diagnose.Warning, contains: []string{says, "capture.drops"}},
		{name: "drops at another time", a: &diagnose.Analysis{Streams: []*diagnose.Stream{s}, CaptureDrops: []diagnose.InterfaceDrops{after}},
			want: 1, severity: diagnose.Warning, excludes: []string{"capture point itself"}},
		{name: "no drops", a: &diagnose.Analysis{Streams: []*diagnose.Stream{s}}, want: 1, severity: diagnose.Warning, excludes: []string{"capture point itself"}},
	})
}
