package diagnose

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/internal/synth"
)

// failingSource ends with err after limit records and reports drops, as a
// live capture whose interface went away does.
type failingSource struct {
	*capture.Reader
	limit uint64
	err   error
}

func (s *failingSource) Next() (*capture.Record, error) {
	rec, err := s.Reader.Next()
	if err == nil && rec.Frame > s.limit {
		return nil, s.err
	}
	return rec, err
}

func (s *failingSource) Stats() []capture.InterfaceStats {
	return []capture.InterfaceStats{{Name: "eth0", LinkType: capture.LinkEthernet, Captured: s.limit, Received: s.limit + 5, Dropped: 5, RingOverruns: 1}}
}

func TestAnalyzeSource(t *testing.T) {
	var buf bytes.Buffer
	cfg := synth.TURNConfigFor(2000, 3)
	if _, err := synth.WriteTURN(&buf, cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "synth.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := []Rule{stubRule{"stub", []Finding{{Rule: "stub", Severity: Info}}}}
	whole, wholeFindings, err := Analyze([]string{path}, Options{}, rules)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("same as Analyze", func(t *testing.T) {
		r, err := capture.NewReader(bytes.NewReader(buf.Bytes()), path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var seen uint64
		a, findings, err := AnalyzeSource(r, Options{}, rules, func(*capture.Record) { seen++ })
		if err != nil {
			t.Fatal(err)
		}
		if seen != whole.Stats.Packets || a.Stats.Packets != whole.Stats.Packets {
			t.Errorf("onRecord saw %d records, analysis %d; Analyze read %d", seen, a.Stats.Packets, whole.Stats.Packets)
		}
		if len(a.Allocations) != len(whole.Allocations) || len(a.Transactions) != len(whole.Transactions) || len(findings) != len(wholeFindings) {
			t.Errorf("AnalyzeSource: %d allocations, %d transactions, %d findings; Analyze: %d, %d, %d",
				len(a.Allocations), len(a.Transactions), len(findings), len(whole.Allocations), len(whole.Transactions), len(wholeFindings))
		}
		if len(a.CaptureDrops) != 0 {
			t.Errorf("capture drops %+v for a file", a.CaptureDrops)
		}
	})

	t.Run("source fails half-way", func(t *testing.T) {
		r, err := capture.NewReader(bytes.NewReader(buf.Bytes()), "eth0")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		gone := errors.New("capture on eth0: interface went down or was removed")
		half := whole.Stats.Packets / 2
		a, findings, err := AnalyzeSource(&failingSource{Reader: r, limit: half, err: gone}, Options{}, rules, nil)
		if err != gone {
			t.Errorf("error %v; want the source's", err)
		}
		if a == nil || a.Stats.Packets != half || len(findings) != 1 {
			t.Fatalf("analysis of what was read: %v packets, %d findings; want %d packets and the rule run", a != nil, len(findings), half)
		}
		want := InterfaceDrops{Interface: "eth0", Received: half + 5, Captured: half, Dropped: 5, RingOverruns: 1}
		if len(a.CaptureDrops) != 1 {
			t.Fatalf("CaptureDrops = %+v; want [%+v]", a.CaptureDrops, want)
		}
		got := a.CaptureDrops[0]
		samples := got.Samples
		got.Samples = nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("CaptureDrops = %+v; want [%+v]", got, want)
		}
		// The counters read 5 drops from the start: one sample, at the
		// first packet.
		if len(samples) != 1 || samples[0].Dropped != 5 || samples[0].Time.IsZero() {
			t.Errorf("drop samples %+v; want one of 5 drops", samples)
		}
	})
}
