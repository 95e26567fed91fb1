package diagnose_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/internal/synth"
	"github.com/callscope/callscope/rules"
)

// TestReportSaysItIsPartial analyzes a capture of many calls with limits
// far below what it holds: the report must say what it left out, in the
// text and in the JSON stats, and say nothing of the kind without limits.
func TestReportSaysItIsPartial(t *testing.T) {
	cfg := synth.DefaultConfig(40_000, 7)
	cfg.Concurrent = 30
	cfg.CallLength = 2 * time.Second
	var buf bytes.Buffer
	sum, err := synth.Write(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "calls.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if sum.Calls < 10 {
		t.Fatalf("the capture holds %d calls; the test needs more than its limit of 3", sum.Calls)
	}

	report := func(opts diagnose.Options) (string, diagnose.StatsReport) {
		t.Helper()
		a, findings, err := diagnose.Analyze([]string{path}, opts, rules.All())
		if err != nil {
			t.Fatal(err)
		}
		r := diagnose.NewReport(a, findings, "test")
		var text bytes.Buffer
		if err := r.WriteText(&text, diagnose.TextOptions{}); err != nil {
			t.Fatal(err)
		}
		var js bytes.Buffer
		if err := diagnose.WriteJSONReport(&js, a, findings, "test"); err != nil {
			t.Fatal(err)
		}
		var parsed struct {
			Stats diagnose.StatsReport `json:"stats"`
		}
		if err := json.Unmarshal(js.Bytes(), &parsed); err != nil {
			t.Fatal(err)
		}
		return text.String(), parsed.Stats
	}

	text, st := report(diagnose.Options{})
	if strings.Contains(text, "partial report") || st.DroppedCalls != 0 || st.DroppedStreams != 0 || st.UntrackedRTPPackets != 0 {
		t.Errorf("without limits: dropped calls %d, streams %d, untracked RTP %d; text:\n%s",
			st.DroppedCalls, st.DroppedStreams, st.UntrackedRTPPackets, firstLines(text, 8))
	}

	text, st = report(diagnose.Options{MaxCalls: 3, MaxStreams: 4})
	if st.DroppedCalls == 0 || st.DroppedStreams+int(st.UntrackedRTPPackets) == 0 {
		t.Errorf("limits of 3 calls and 4 streams on %d calls: dropped calls %d, streams %d, untracked RTP packets %d",
			sum.Calls, st.DroppedCalls, st.DroppedStreams, st.UntrackedRTPPackets)
	}
	header := firstLines(text, 12)
	if !strings.Contains(header, "partial report,") || !strings.Contains(header, " calls") {
		t.Errorf("the text report's header does not say what the limits left out:\n%s", header)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}
