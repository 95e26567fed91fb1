package diagnose

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/callscope/callscope/decode/capture"
)

// Analyze reads the capture files as one capture (merged by packet time:
// capture.Open), decodes and correlates
// them, and runs the rules. Findings come most severe first, then in order
// of their first frame. Problems inside the files are Warnings in the
// Analysis, not errors; the error is for files that cannot be read at all.
func Analyze(paths []string, opts Options, rules []Rule) (*Analysis, []Finding, error) {
	r, err := capture.Open(paths...)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	a, findings, err := AnalyzeSource(r, opts, rules, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("reading capture: %w", err)
	}
	return a, findings, nil
}

// RunRules runs each rule on the Analysis and orders the findings: most
// severe first, then by first frame (findings without frames last), then by
// rule ID, so that output is the same from run to run.
//
// The rules run side by side, as many at once as GOMAXPROCS: by Rule's
// contract Check only reads the Analysis, and at the end of an analysis
// nothing else uses the other cores. Their findings are put together in
// the order of rules before sorting, so the result is the same as one
// rule after the other.
func RunRules(a *Analysis, rules []Rule) []Finding {
	byRule := make([][]Finding, len(rules))
	if workers := min(runtime.GOMAXPROCS(0), len(rules)); workers > 1 {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := int(next.Add(1) - 1); i < len(rules); i = int(next.Add(1) - 1) {
					byRule[i] = rules[i].Check(a)
				}
			})
		}
		wg.Wait()
	} else {
		for i, rule := range rules {
			byRule[i] = rule.Check(a)
		}
	}
	findings := slices.Concat(byRule...)
	sortFindings(findings)
	return findings
}

// sortFindings orders findings as RunRules returns them.
func sortFindings(findings []Finding) {
	firstFrame := func(f *Finding) uint64 {
		if len(f.Frames) == 0 {
			return math.MaxUint64
		}
		return slices.Min(f.Frames)
	}
	slices.SortStableFunc(findings, func(x, y Finding) int {
		if c := cmp.Compare(y.Severity, x.Severity); c != 0 {
			return c
		}
		if c := cmp.Compare(firstFrame(&x), firstFrame(&y)); c != 0 {
			return c
		}
		return cmp.Compare(x.Rule, y.Rule)
	})
}
