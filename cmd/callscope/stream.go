package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/diagnose"
	"github.com/fatih/color"
)

// findingStream writes findings as they are streamed: one line each in
// text, one "finding" record each with --format jsonl. It remembers what
// it wrote, so that the jsonl end writes the rest (see writeJSONLines).
type findingStream struct {
	w        io.Writer
	format   string
	useColor bool
	written  map[string]bool
	err      error
}

func newFindingStream(w io.Writer, format string, useColor bool) *findingStream {
	return &findingStream{w: w, format: format, useColor: useColor, written: make(map[string]bool)}
}

// findingRecord is a jsonl "finding" record: the finding's JSON fields,
// its identity and the packet time it became certain.
type findingRecord struct {
	Type string    `json:"type"`
	At   time.Time `json:"at"`
	Key  string    `json:"key"`
	*diagnose.Finding
}

// write reports one finding as it becomes certain.
func (s *findingStream) write(f diagnose.Finding, at time.Time) {
	if s.err != nil {
		return
	}
	s.written[f.Identity()] = true
	switch s.format {
	case "jsonl":
		s.err = writeFindingRecord(s.w, f, at)
	case "text":
		_, s.err = fmt.Fprintln(s.w, findingLine(f, at, s.useColor))
	}
}

func writeFindingRecord(w io.Writer, f diagnose.Finding, at time.Time) error {
	f.First, f.Last = f.First.UTC(), f.Last.UTC()
	if f.Frames == nil {
		f.Frames = []uint64{}
	}
	if f.Endpoints == nil {
		f.Endpoints = []string{}
	}
	return json.NewEncoder(w).Encode(findingRecord{Type: "finding", At: at.UTC(), Key: f.Identity(), Finding: &f})
}

// findingLine is a finding on one line, for a person watching a capture:
// "12:00:03.512 ERROR turn.integrity-failure TURN credentials rejected
// for user "alice" (frames 3-64)".
func findingLine(f diagnose.Finding, at time.Time, useColor bool) string {
	sev := strings.ToUpper(f.Severity.String())
	if useColor {
		c := color.New(color.FgCyan)
		switch f.Severity {
		case diagnose.Error:
			c = color.New(color.FgRed, color.Bold)
		case diagnose.Warning:
			c = color.New(color.FgYellow)
		}
		c.EnableColor()
		sev = c.Sprint(sev)
	}
	line := fmt.Sprintf("%s %s %s %s", at.UTC().Format("15:04:05.000"), sev, f.Rule, f.Title)
	switch n := len(f.Frames); {
	case n == 1:
		line += fmt.Sprintf(" (frame %d)", f.Frames[0])
	case n > 1:
		line += fmt.Sprintf(" (frames %d-%d)", slices.Min(f.Frames), slices.Max(f.Frames))
	}
	return line
}

// writeJSONLines ends a jsonl stream: the findings not streamed yet (those
// only the end of the capture made certain, at the time of its last
// packet), one record per allocation, binding flow, call, registration,
// RTP stream, ICE session and TLS connection, then the summary. Record
// types are documented in the README ("`--format jsonl`").
func writeJSONLines(w io.Writer, report *diagnose.ReportParts, streamed *findingStream) error {
	head := report.Head
	var end time.Time
	for _, c := range head.Captures {
		if c.Last.After(end) {
			end = c.Last
		}
	}
	// Records are small and many: one write each would be a system call
	// each on a terminal or pipe.
	bw := bufio.NewWriterSize(w, 64<<10)
	for i := range head.Findings {
		f := head.Findings[i]
		if streamed != nil && streamed.written[f.Identity()] {
			continue
		}
		if err := writeFindingRecord(bw, f, end); err != nil {
			return err
		}
	}
	var enc diagnose.RecordEncoder
	write := func(typ string, v any) error {
		// The record is the summary's own JSON object with "type" first.
		b, err := enc.Marshal(v)
		if err != nil {
			return err
		}
		if len(b) < 2 || b[0] != '{' {
			return fmt.Errorf("jsonl: %s record is not an object", typ)
		}
		bw.WriteString(`{"type":`)
		bw.Write(mustJSON(typ))
		if len(b) > 2 {
			bw.WriteByte(',')
		}
		bw.Write(b[1:])
		return bw.WriteByte('\n')
	}
	if err := writeRecords(report.Allocations(), "allocation", write); err != nil {
		return err
	}
	if err := writeRecords(report.Bindings(), "binding", write); err != nil {
		return err
	}
	if err := writeRecords(report.Calls(), "call", write); err != nil {
		return err
	}
	if err := writeRecords(report.Registrations(), "registration", write); err != nil {
		return err
	}
	if err := writeRecords(report.Streams(), "stream", write); err != nil {
		return err
	}
	if err := writeRecords(report.ICESessions(), "ice_session", write); err != nil {
		return err
	}
	if err := writeRecords(report.TLSConnections(), "tls_connection", write); err != nil {
		return err
	}
	counts := map[string]int{"error": 0, "warning": 0, "info": 0}
	for _, f := range head.Findings {
		counts[f.Severity.String()]++
	}
	if err := write("summary", struct {
		Tool         diagnose.ToolInfo         `json:"tool"`
		Captures     []diagnose.CaptureReport  `json:"captures"`
		Warnings     any                       `json:"warnings"`
		CaptureDrops []diagnose.InterfaceDrops `json:"capture_drops,omitempty"`
		Stats        diagnose.StatsReport      `json:"stats"`
		Findings     map[string]int            `json:"findings"`
	}{head.Tool, head.Captures, head.Warnings, head.CaptureDrops, head.Stats, counts}); err != nil {
		return err
	}
	return bw.Flush()
}

// writeRecords writes each record of seq as a jsonl line of type typ.
func writeRecords[T any](seq iter.Seq[T], typ string, write func(typ string, v any) error) error {
	for batch := range diagnose.BuildAhead(seq) {
		for i := range batch {
			// By pointer: RecordEncoder's fast path.
			if err := write(typ, &batch[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
