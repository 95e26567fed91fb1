package diagnose_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/internal/synth"
	"github.com/callscope/callscope/rules"
)

// documentJSON is the report written whole, as WriteJSONReport must write
// it piece by piece.
func documentJSON(t *testing.T, a *diagnose.Analysis, findings []diagnose.Finding) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := diagnose.NewReport(a, findings, "test").WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func streamedJSON(t *testing.T, a *diagnose.Analysis, findings []diagnose.Finding) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := diagnose.WriteJSONReport(&buf, a, findings, "test"); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteJSONReportSameBytes(t *testing.T) {
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
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			a, findings, err := diagnose.Analyze([]string{p}, diagnose.Options{}, rules.All())
			if err != nil {
				t.Fatal(err)
			}
			want, got := documentJSON(t, a, findings), streamedJSON(t, a, findings)
			if !bytes.Equal(got, want) {
				t.Errorf("streamed report differs:\n%s", firstDifference(got, want))
			}
		})
	}
}

// TestWriteJSONReportFieldsFollowReport holds the streamed fields to
// Report's: a field added to Report must be streamed too, in its place.
func TestWriteJSONReportFieldsFollowReport(t *testing.T) {
	var want []string
	rt := reflect.TypeFor[diagnose.Report]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		want = append(want, name)
	}
	// The omitempty fields present, and a little of everything else.
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	client, server := netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("10.0.0.2:3478")
	stream := &diagnose.Stream{Src: client, Dst: server, SSRC: 7, Packets: 100, First: diagnose.FrameRef{Frame: 3, Time: at}}
	a := &diagnose.Analysis{
		Captures:       []capture.FileInfo{{Path: "x.pcap", Format: "pcap", Packets: 9, First: at, Last: at}},
		Warnings:       []capture.Warning{{Frame: 2, Message: "cut <short>"}},
		CaptureDrops:   []diagnose.InterfaceDrops{{Interface: "eth0"}},
		Bindings:       []*diagnose.BindingSummary{nil, {Client: client, Server: server, Requests: 2}},
		Allocations:    []*diagnose.Allocation{{Client: client, Server: server, Outcome: "allocated"}, nil},
		Calls:          []*diagnose.Call{{CallID: "c1", Invite: diagnose.FrameRef{Frame: 1, Time: at}, Streams: []*diagnose.Stream{stream}}},
		Streams:        []*diagnose.Stream{nil, stream},
		Registrations:  []*diagnose.Registration{{AOR: "sip:a@b", Expires: 60}},
		ICESessions:    []*diagnose.ICESession{{LocalUfrag: "a", RemoteUfrag: "b", Streams: []*diagnose.Stream{stream}}},
		TLSConnections: []*diagnose.TLSConnection{{Client: client, Server: server, SNI: "<x>&"}},
	}
	findings := []diagnose.Finding{{Rule: "r", Severity: diagnose.Warning, Title: "s <b>"}, {Rule: "e", Severity: diagnose.Error}}
	doc := streamedJSON(t, a, findings)
	if want := documentJSON(t, a, findings); !bytes.Equal(doc, want) {
		t.Fatalf("streamed report differs:\n%s", firstDifference(doc, want))
	}
	// Top-level keys are the lines indented once.
	var got []string
	for _, line := range strings.Split(string(doc), "\n") {
		if rest, ok := strings.CutPrefix(line, `  "`); ok {
			key, _, _ := strings.Cut(rest, `"`)
			got = append(got, key)
		}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("streamed fields %q, Report has %q", got, want)
	}
	if len(top) != len(want) {
		t.Errorf("%d fields decoded, want %d", len(top), len(want))
	}
}

func TestWriteJSONReportEmpty(t *testing.T) {
	for _, a := range []*diagnose.Analysis{nil, {}} {
		want, got := documentJSON(t, a, nil), streamedJSON(t, a, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("streamed report differs:\n%s", firstDifference(got, want))
		}
	}
}

type failingWriter struct{ n int }

var errWriteFailed = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errWriteFailed
	}
	return len(p), nil
}

func TestWriteJSONReportWriteError(t *testing.T) {
	a := &diagnose.Analysis{}
	for range 3000 {
		a.Streams = append(a.Streams, &diagnose.Stream{Packets: 1})
	}
	for _, n := range []int{0, 100 << 10} {
		if err := diagnose.WriteJSONReport(&failingWriter{n: n}, a, nil, "test"); !errors.Is(err, errWriteFailed) {
			t.Errorf("writer failing after %d bytes: error %v", n, err)
		}
	}
}
