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
	// Samples says when the drops happened: the packets dropped since the
	// previous reading of the counters, read every Streamer interval of
	// packet time (at most maxDropSamples; later drops count in the last).
	Samples []DropSample `json:"samples,omitempty"`
}

// DropSample is a reading of an interface's drop counter: Dropped packets
// were dropped since the previous reading, which was at most a Streamer
// interval before Time.
type DropSample struct {
	Time    time.Time `json:"time"`
	Dropped uint64    `json:"dropped"`
}

var _ = []Source{(*capture.Reader)(nil), (*capture.LiveSource)(nil)}

// IdleSource is a Source that can wait for a record a limited time: a
// live capture (capture.LiveSource.NextWithin). While the network is
// quiet, packet time then goes on with the wall clock, so that timeouts
// are reported without waiting for the next packet.
type IdleSource interface {
	Source
	// NextWithin is Next waiting at most d: capture.ErrIdle when no
	// record came.
	NextWithin(d time.Duration) (*capture.Record, error)
}

// AnalyzeSource reads src to its end, decodes and correlates the records,
// and runs the rules, as Analyze does for files. onRecord, when not nil,
// sees each record before it is decoded (progress, a copy to disk); it
// must not keep it.
//
// An error from src other than io.EOF ends the reading (a live capture's
// interface that went down, for instance); what was read until then is
// still analyzed, and returned with the error. src is not closed.
func AnalyzeSource(src Source, opts Options, rules []Rule, onRecord func(*capture.Record)) (*Analysis, []Finding, error) {
	return StreamSource(src, opts, rules, StreamOptions{OnRecord: onRecord})
}

// StreamOptions are what StreamSource reports along the way.
type StreamOptions struct {
	// OnRecord, when not nil, sees each record before it is decoded; it
	// must not keep it.
	OnRecord func(*capture.Record)
	// OnFinding, when not nil, gets each finding as soon as it is certain
	// (see Streamer), with the packet time it became so.
	OnFinding func(f Finding, at time.Time)
	// Interval is the Streamer's; 0 means DefaultStreamInterval.
	Interval time.Duration
}

// StreamSource is AnalyzeSource reporting findings while it reads: files
// and live captures go through this one pipeline, driven by packet
// timestamps. The findings returned at the end include every finding
// streamed (Streamer.Final). When src is an IdleSource, packet time goes
// on with the wall clock while no packet comes; when it is a StatsSource,
// its drop counters are sampled into Analysis.CaptureDrops.
func StreamSource(src Source, opts Options, rules []Rule, so StreamOptions) (*Analysis, []Finding, error) {
	dec := decode.NewDecoder()
	eng := NewEngine(opts)
	st := NewStreamer(eng, rules, so.OnFinding)
	if so.OnFinding == nil && !hasLiveParts(src) {
		// A file analyzed whole with nobody listening: running the rules
		// on snapshots would only cost time (half of it on a VoIP
		// capture), since the final run has every finding.
		st.early = nil
		// Nothing reads the streams while reading but idle retirement,
		// which waits for the workers: the accounting may be sharded.
		eng.startRTPWorkers(opts.Workers)
		defer eng.stopRTPWorkers()
	}
	// Without early rules nor drop counters, Advance has nothing to do.
	advance := len(st.early) > 0 || hasLiveParts(src)
	st.Interval = so.Interval
	ss, hasStats := src.(StatsSource)
	if hasStats {
		st.WatchDrops(ss.Stats)
	}
	idle, canIdle := src.(IdleSource)
	// A file is read ahead in another goroutine (prefetch.go); a live
	// capture, which waits for packets, is read here.
	var ahead *prefetcher
	if !canIdle && readAhead {
		ahead = newPrefetcher(src)
		defer ahead.stop()
	}
	var end time.Time
	var lastWall time.Time // when the latest record arrived, wall clock
	var readErr error
	for {
		var rec *capture.Record
		var udp *decode.UDPRecord
		var err error
		if ahead != nil {
			rec, udp, err = ahead.next()
		} else if canIdle {
			rec, err = idle.NextWithin(st.interval())
		} else {
			rec, err = src.Next()
		}
		if err != nil {
			if errors.Is(err, capture.ErrIdle) {
				// Quiet network: packet time is the last packet's plus
				// the wall time since it arrived.
				now := time.Now()
				if !end.IsZero() {
					now = end.Add(now.Sub(lastWall))
				}
				st.Advance(now)
				continue
			}
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if ahead == nil && rec.Time.After(end) {
			end = rec.Time // the reading goroutine keeps it otherwise
		}
		if canIdle {
			lastWall = time.Now()
		}
		if so.OnRecord != nil {
			so.OnRecord(rec)
		}
		if udp != nil {
			dec.DecodeUDP(udp, st.Observe)
		} else {
			dec.Decode(rec, st.Observe)
		}
		if advance {
			st.Advance(rec.Time)
		}
	}
	dec.Flush(st.Observe)
	if ahead != nil {
		end = ahead.end
	}

	a := eng.Finish(end)
	a.Captures = src.Files()
	a.Warnings = src.Warnings()
	a.Stats = dec.Stats()
	if hasStats {
		a.CaptureDrops = st.CaptureDrops(end)
	}
	return a, st.Final(a), readErr
}

// hasLiveParts says whether src is a live capture, whose drop counters or
// idle time the Streamer follows even when no finding is streamed.
func hasLiveParts(src Source) bool {
	_, stats := src.(StatsSource)
	_, idle := src.(IdleSource)
	return stats || idle
}
