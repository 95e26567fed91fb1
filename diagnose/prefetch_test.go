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

// analyzeJSON analyzes the capture in path, reading ahead or not, and
// returns the JSON report.
func analyzeJSON(t *testing.T, path string, ahead bool, opts diagnose.Options) []byte {
	return analyzeJSONFrom(t, path, ahead, false, opts)
}

// reusingSource hides a Reader's StableData, as a reader of gzip or a
// pipe would: each record must then be copied before the next is read.
type reusingSource struct{ diagnose.Source }

// analyzeJSONFrom is analyzeJSON, reading records in place from the
// mapped file or, with copied, as from a reader that reuses its buffer.
func analyzeJSONFrom(t *testing.T, path string, ahead, copied bool, opts diagnose.Options) []byte {
	t.Helper()
	defer diagnose.SetReadAhead(ahead)()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var src diagnose.Source = r
	if copied {
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

// TestReadAheadSameReport checks that reading ahead in another goroutine,
// with plain RTP parsed there, changes nothing, whether records stay in
// the mapped file or are copied into batches: every capture in pcaps/ and
// a synthetic one with SIP, TURN and RTCP give byte-identical reports
// either way.
func TestReadAheadSameReport(t *testing.T) {
	paths, _ := filepath.Glob("../pcaps/*.pcap")
	ng, _ := filepath.Glob("../pcaps/*.pcapng")
	paths = append(paths, ng...)
	dir := t.TempDir()
	synthPath := filepath.Join(dir, "synthetic.pcap")
	var buf bytes.Buffer
	cfg := synth.DefaultConfig(60_000, 2)
	cfg.Concurrent = 20
	if _, err := synth.Write(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(synthPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, synthPath)
	if len(paths) < 2 {
		t.Fatal("no captures in pcaps/")
	}
	opts := diagnose.Options{Credentials: []diagnose.Credential{{Username: cfg.Username, Password: cfg.Password}}}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			want := analyzeJSON(t, p, false, opts)
			if got := analyzeJSON(t, p, true, opts); !bytes.Equal(got, want) {
				t.Errorf("reports differ reading ahead:\n%s", firstDifference(got, want))
			}
			if got := analyzeJSONFrom(t, p, true, true, opts); !bytes.Equal(got, want) {
				t.Errorf("reports differ reading ahead, records copied:\n%s", firstDifference(got, want))
			}
		})
	}
}

func firstDifference(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-200)
	return "got  …" + string(a[from:min(len(a), i+200)]) + "\nwant …" + string(b[from:min(len(b), i+200)])
}
