package diagnose

import (
	"cmp"
	"fmt"
	"math"
	"slices"

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
func RunRules(a *Analysis, rules []Rule) []Finding {
	var findings []Finding
	for _, rule := range rules {
		findings = append(findings, rule.Check(a)...)
	}
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
