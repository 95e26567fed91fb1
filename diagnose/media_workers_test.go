package diagnose_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/internal/synth"
)

// TestWorkersSameReport checks that sharding the RTP accounting over
// workers changes nothing: every capture in pcaps/, a synthetic VoIP
// capture (the benchmark's scenario: SIP, SDP, ICE, TURN, RTP with loss
// and RTCP) and a synthetic TURN one give byte-identical reports with 2
// and 4 workers as with one. CALLSCOPE_WORKERS_PACKETS sets the synthetic
// captures' size (default 200,000 packets, 40,000 with -short).
func TestWorkersSameReport(t *testing.T) {
	paths, _ := filepath.Glob("../pcaps/*.pcap")
	ng, _ := filepath.Glob("../pcaps/*.pcapng")
	paths = append(paths, ng...)
	n := 200_000
	if testing.Short() {
		n = 40_000
	}
	if v, err := strconv.Atoi(os.Getenv("CALLSCOPE_WORKERS_PACKETS")); err == nil && v > 0 {
		n = v
	}
	dir := t.TempDir()
	cfg := synth.DefaultConfig(n, 3)
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	voip := filepath.Join(dir, "synthetic-voip.pcap")
	if err := os.WriteFile(voip, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	tcfg := synth.TURNConfigFor(n, 5)
	if _, err := synth.WriteTURN(&buf, tcfg); err != nil {
		t.Fatal(err)
	}
	turn := filepath.Join(dir, "synthetic-turn.pcap")
	if err := os.WriteFile(turn, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, voip, turn)
	if len(paths) < 3 {
		t.Fatal("no captures in pcaps/")
	}
	creds := []diagnose.Credential{
		{Username: cfg.Username, Password: cfg.Password},
		{Username: tcfg.Username, Password: tcfg.Password},
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			want := analyzeJSON(t, p, true, diagnose.Options{Credentials: creds, Workers: 1})
			if !bytes.Contains(want, []byte(`"ssrc"`)) && filepath.Dir(p) == dir {
				t.Fatal("synthetic capture has no RTP stream: the test would prove nothing")
			}
			for _, w := range []int{2, 4} {
				got := analyzeJSON(t, p, true, diagnose.Options{Credentials: creds, Workers: w})
				if !bytes.Equal(got, want) {
					t.Errorf("%d workers: reports differ:\n%s", w, firstDifference(got, want))
				}
			}
		})
	}
}
