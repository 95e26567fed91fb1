package diagnose

import (
	"errors"
	"io"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
)

// Source is where packet records come from: capture files
// (*capture.Reader) or a live capture (*capture.LiveSource). One pipeline
// serves both.
type Source interface {
	// Next returns the next record, io.EOF at the end. The record is
	// valid until the following call.
	Next() (*capture.Record, error)
	// Files describes what was read: the files, or the interfaces of a
	// live capture.
	Files() []capture.FileInfo
	// Warnings are problems that did not stop reading.
	Warnings() []capture.Warning
	Close() error
}

// StatsSource is a Source that counts packets lost where they were
// captured: a live capture's kernel drops and ring overruns.
type StatsSource interface {
	Source
	Stats() []capture.InterfaceStats
}

// InterfaceDrops is one capture interface's counters: packets dropped here
// were never seen, so their loss is the capture's, not the network's.
type InterfaceDrops struct {
	Interface string `json:"interface"`
	// Received counts the packets that passed the capture filter,
	// Dropped included; Captured those analyzed.
	Received uint64 `json:"received"`
	Captured uint64 `json:"captured"`
	// Dropped counts packets the kernel dropped because callscope's ring
	// was full.
	Dropped uint64 `json:"dropped"`
	// RingOverruns counts the times the ring filled up and froze.
	RingOverruns uint64 `json:"ring_overruns"`
}

var _ = []Source{(*capture.Reader)(nil), (*capture.LiveSource)(nil)}

// AnalyzeSource reads src to its end, decodes and correlates the records,
// and runs the rules, as Analyze does for files. onRecord, when not nil,
// sees each record before it is decoded (progress, a copy to disk); it
// must not keep it.
//
// An error from src other than io.EOF ends the reading (a live capture's
// interface that went down, for instance); what was read until then is
// still analyzed, and returned with the error. src is not closed.
func AnalyzeSource(src Source, opts Options, rules []Rule, onRecord func(*capture.Record)) (*Analysis, []Finding, error) {
	dec := decode.NewDecoder()
	eng := NewEngine(opts)
	var end time.Time
	var readErr error
	for {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if rec.Time.After(end) {
			end = rec.Time
		}
		if onRecord != nil {
			onRecord(rec)
		}
		dec.Decode(rec, eng.Observe)
	}
	dec.Flush(eng.Observe)

	a := eng.Finish(end)
	a.Captures = src.Files()
	a.Warnings = src.Warnings()
	a.Stats = dec.Stats()
	if ss, ok := src.(StatsSource); ok {
		for _, st := range ss.Stats() {
			a.CaptureDrops = append(a.CaptureDrops, InterfaceDrops{
				Interface: st.Name, Received: st.Received, Captured: st.Captured,
				Dropped: st.Dropped, RingOverruns: st.RingOverruns,
			})
		}
	}
	return a, RunRules(a, rules), readErr
}
