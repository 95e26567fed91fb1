package diagnose_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/rules"
)

// pipelineResult is what one analysis gives an embedding program: the
// findings streamed while reading, with their packet times, and the final
// JSON report.
type pipelineResult struct {
	streamed []string
	report   []byte
}

// runPipeline analyzes the capture in path through StreamSource, rules
// being the rule set (shared between goroutines by the caller on purpose).
func runPipeline(path string, rs []diagnose.Rule) (pipelineResult, error) {
	src, err := capture.Open(path)
	if err != nil {
		return pipelineResult{}, err
	}
	defer src.Close()
	var res pipelineResult
	so := diagnose.StreamOptions{OnFinding: func(f diagnose.Finding, at time.Time) {
		res.streamed = append(res.streamed, f.Identity()+" @ "+at.UTC().Format(time.RFC3339Nano))
	}}
	a, findings, err := diagnose.StreamSource(src, diagnose.Options{}, rs, so)
	if err != nil {
		return pipelineResult{}, fmt.Errorf("%s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := diagnose.NewReport(a, findings, "test").WriteJSON(&buf); err != nil {
		return pipelineResult{}, err
	}
	res.report = buf.Bytes()
	return res, nil
}

// TestTwoEnginesConcurrently runs a pipeline (decoder, Engine, Streamer)
// per capture, all at once in one process, sharing one rule set per
// profile, and checks that each gives exactly what it gives alone: no
// state leaks between Engines, through package variables or the rules.
// Run it under the race detector (go test -race -run TwoEngines) to catch
// shared writes that happen not to change the results.
func TestTwoEnginesConcurrently(t *testing.T) {
	paths, _ := filepath.Glob("../pcaps/*.pcap")
	if len(paths) < 2 {
		t.Fatal("fewer than two captures in ../pcaps")
	}
	webex, err := rules.LoadProfile("webex-calling")
	if err != nil {
		t.Fatal(err)
	}
	ruleSets := [][]diagnose.Rule{rules.All(), rules.ForProfile(webex)}

	type job struct {
		path  string
		rules int // index into ruleSets
	}
	var jobs []job
	for _, p := range paths {
		for i := range ruleSets {
			jobs = append(jobs, job{p, i})
		}
	}
	want := make([]pipelineResult, len(jobs))
	for i, j := range jobs {
		if want[i], err = runPipeline(j.path, ruleSets[j.rules]); err != nil {
			t.Fatal(err)
		}
	}
	streamedSome := false
	for _, w := range want {
		streamedSome = streamedSome || len(w.streamed) > 0
	}
	if !streamedSome {
		t.Fatal("no capture streamed a finding: the comparison would not cover the Streamer")
	}

	// Each job runs twice at the same time, so that two Engines analyze the
	// same capture side by side as well as different ones.
	const copies = 2
	got := make([]pipelineResult, copies*len(jobs))
	errs := make([]error, len(got))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range got {
		j := jobs[k%len(jobs)]
		wg.Go(func() {
			<-start
			got[k], errs[k] = runPipeline(j.path, ruleSets[j.rules])
		})
	}
	close(start)
	wg.Wait()

	for k := range got {
		j := jobs[k%len(jobs)]
		name := fmt.Sprintf("%s (rule set %d, copy %d)", filepath.Base(j.path), j.rules, k/len(jobs))
		if errs[k] != nil {
			t.Errorf("%s: %v", name, errs[k])
			continue
		}
		w := want[k%len(jobs)]
		if !bytes.Equal(got[k].report, w.report) {
			t.Errorf("%s: the report differs from the one analyzed alone:\n%s", name, partingAt(got[k].report, w.report))
		}
		if !slices.Equal(got[k].streamed, w.streamed) {
			t.Errorf("%s: streamed %q, alone %q", name, got[k].streamed, w.streamed)
		}
	}
}

// partingAt shows where two reports part, with some context.
func partingAt(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return fmt.Sprintf("at byte %d:\n got: %s\nwant: %s", i, a[from:min(len(a), i+80)], b[from:min(len(b), i+80)])
}
