package diagnose_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/internal/synth"
	"github.com/callscope/callscope/rules"
)

// reusingSource hides a Reader's StableData, as a reader of gzip or a
// pipe would: each record must then be copied before the next is read.
type reusingSource struct{ diagnose.Source }

// analyzeMode analyzes path in one of the pipeline's modes and returns
// the JSON report.
func analyzeMode(t *testing.T, path, mode string, opts diagnose.Options) []byte {
	t.Helper()
	switch mode {
	case "one-goroutine":
		defer diagnose.SetReadAhead(false)()
	case "read-ahead":
		defer diagnose.SetReadAhead(true)()
		defer diagnose.SetDecodeAhead(false)()
	case "decode-ahead", "decode-ahead-copying":
		defer diagnose.SetReadAhead(true)()
		defer diagnose.SetDecodeAhead(true)()
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var src diagnose.Source = r
	if mode == "decode-ahead-copying" {
		src = reusingSource{r}
	}
	a, findings, err := diagnose.AnalyzeSource(src, opts, rules.All(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(diagnose.NewReport(a, findings, "test"), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecodeAheadSameReport checks that decoding in another goroutine
// changes nothing: every capture in pcaps/ (SIP over UDP and TLS, TURN
// over UDP, TCP and TLS, DTLS, ICMP errors) and a synthetic one give
// byte-identical reports in one goroutine, reading ahead, and decoding
// ahead, with records read in place or copied.
func TestDecodeAheadSameReport(t *testing.T) {
	paths, _ := filepath.Glob("../pcaps/*.pcap")
	ng, _ := filepath.Glob("../pcaps/*.pcapng")
	paths = append(paths, ng...)
	if len(paths) < 2 {
		t.Fatal("no captures in pcaps/")
	}
	var buf bytes.Buffer
	cfg := synth.DefaultConfig(60_000, 3)
	cfg.Concurrent = 20
	if _, err := synth.Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	synthPath := filepath.Join(t.TempDir(), "synthetic.pcap")
	if err := os.WriteFile(synthPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, synthPath)
	opts := diagnose.Options{Credentials: []diagnose.Credential{{Username: cfg.Username, Password: cfg.Password}}}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			want := analyzeMode(t, p, "one-goroutine", opts)
			for _, mode := range []string{"read-ahead", "decode-ahead", "decode-ahead-copying"} {
				if got := analyzeMode(t, p, mode, opts); !bytes.Equal(got, want) {
					t.Errorf("%s: report differs from one goroutine's:\n%s", mode, firstDifference(got, want))
				}
			}
		})
	}
}
