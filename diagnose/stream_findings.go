package diagnose

import (
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/stun"
)

// EarlyRule is a Rule whose findings on an Engine.Snapshot may be reported
// while the capture goes on: what it reads in a snapshot (answered or
// given-up transactions, concluded calls, idle streams, capture drops)
// does not change its verdict later. Other rules report at the end only.
type EarlyRule interface {
	Rule
	Early() bool
}

// DefaultStreamInterval is how much packet time passes between two runs
// of the rules on a snapshot, when no event asks for one sooner.
const DefaultStreamInterval = 250 * time.Millisecond

// streamCostUnit is how many records a snapshot may hold before the
// interval between runs grows with it: the cost of the runs per second
// of packet time then stays bounded, whatever the size of the state.
const streamCostUnit = 4096

// maxDropSamples bounds each interface's InterfaceDrops.Samples; later
// drops are added to the last sample.
const maxDropSamples = 1024

// Streamer reports findings as soon as they are certain, from the packet
// times it is driven by, so that files and live captures stream alike.
// Feed it the decoded messages (Observe) and the passing of packet time
// (Advance, also while no packet comes); it runs the rules on an
// Engine.Snapshot every Interval of packet time, and at once after a
// message that can complete a finding (an error response, a final SIP
// response, a BYE, an ICMP error). Only EarlyRules are run on snapshots;
// each finding is reported once, keyed by Finding.Identity.
//
// After Engine.Finish, Final returns every finding: those of all the rules
// on the final Analysis, and those streamed earlier that the final run no
// longer finds (a client that recovered after its credentials were
// rejected twice), so the final report never contradicts what was
// streamed. A Streamer is not safe for concurrent use.
type Streamer struct {
	// Interval is the packet time between runs; 0 means
	// DefaultStreamInterval. Set it before the first Observe.
	Interval time.Duration

	eng       *Engine
	rules     []Rule
	early     []Rule
	onFinding func(Finding, time.Time)

	emitted  map[string]bool
	streamed []Finding
	now      time.Time
	lastRun  time.Time
	ran      bool
	pending  bool

	stats      func() []capture.InterfaceStats
	drops      []InterfaceDrops
	lastSample time.Time
}

// NewStreamer returns a Streamer feeding eng and running rules;
// onFinding, when not nil, gets each finding when it becomes certain and
// the packet time it did.
func NewStreamer(eng *Engine, rules []Rule, onFinding func(f Finding, at time.Time)) *Streamer {
	s := &Streamer{eng: eng, rules: rules, onFinding: onFinding, emitted: make(map[string]bool)}
	for _, r := range rules {
		if er, ok := r.(EarlyRule); ok && er.Early() {
			s.early = append(s.early, r)
		}
	}
	return s
}

// WatchDrops has the Streamer sample a live capture's counters (see
// capture.LiveSource.Stats) every Interval, so that Analysis.CaptureDrops
// says when the capture point dropped packets.
func (s *Streamer) WatchDrops(stats func() []capture.InterfaceStats) { s.stats = stats }

// Observe correlates one message in the engine, and notes whether it can
// complete a finding.
func (s *Streamer) Observe(m *decode.Message) {
	s.eng.Observe(m)
	if m == nil {
		return
	}
	switch m.Kind {
	case decode.KindSTUN:
		if m.STUN != nil && m.STUN.Class == stun.ClassError {
			s.pending = true
		}
	case decode.KindICMPError:
		s.pending = true
	case decode.KindSIP:
		if m.SIP != nil && completesSIP(m.SIP) {
			s.pending = true
		}
	}
}

func completesSIP(m *sip.Message) bool {
	if m.IsRequest {
		return string(m.Method) == "BYE"
	}
	return m.StatusCode >= 300
}

// Advance tells the Streamer that packet time now has come (a packet, or
// the wall clock while the network is quiet), and runs the rules when
// due.
func (s *Streamer) Advance(now time.Time) {
	if now.After(s.now) {
		s.now = now
	}
	interval := s.interval()
	if s.stats != nil && (s.lastSample.IsZero() || s.now.Sub(s.lastSample) >= interval) {
		if s.sampleDrops(s.now) {
			s.pending = true
		}
	}
	e := s.eng
	// What a snapshot and the rules walk.
	size := len(e.analysis.Transactions) + len(e.open) + len(e.analysis.SIPTransactions) + e.sip.openTxs +
		len(e.sip.callList) + len(e.media.list) + len(e.retiredStreams)
	gap := interval * time.Duration(1+size/streamCostUnit)
	since := s.now.Sub(s.lastRun)
	if s.ran && since < gap && !(s.pending && since >= gap-interval) {
		return
	}
	s.run()
}

func (s *Streamer) interval() time.Duration {
	if s.Interval > 0 {
		return s.Interval
	}
	return DefaultStreamInterval
}

func (s *Streamer) run() {
	s.ran, s.pending, s.lastRun = true, false, s.now
	if len(s.early) == 0 {
		return
	}
	a := s.eng.Snapshot(s.now)
	// The rules measure silence up to the end of the capture: here, now.
	a.Captures = []capture.FileInfo{{Path: "snapshot", Format: "live", Last: s.now}}
	a.CaptureDrops = s.drops
	for _, f := range RunRules(a, s.early) {
		k := f.Identity()
		if s.emitted[k] {
			continue
		}
		s.emitted[k] = true
		s.streamed = append(s.streamed, f)
		if s.onFinding != nil {
			s.onFinding(f, s.now)
		}
	}
	s.eng.restoreSnapshot()
}

// CaptureDrops returns the counters sampled so far, reading them once more
// at packet time now: what Analysis.CaptureDrops should hold at the end.
func (s *Streamer) CaptureDrops(now time.Time) []InterfaceDrops {
	if s.stats != nil {
		if now.Before(s.now) {
			now = s.now
		}
		s.sampleDrops(now)
	}
	return s.drops
}

// sampleDrops reads the capture counters and records, per interface, the
// drops since the last reading at time now; it tells whether there were.
func (s *Streamer) sampleDrops(now time.Time) bool {
	s.lastSample = now
	grew := false
	for _, st := range s.stats() {
		i := 0
		for i < len(s.drops) && s.drops[i].Interface != st.Name {
			i++
		}
		if i == len(s.drops) {
			s.drops = append(s.drops, InterfaceDrops{Interface: st.Name})
		}
		d := &s.drops[i]
		if st.Dropped > d.Dropped {
			delta := st.Dropped - d.Dropped
			grew = true
			if n := len(d.Samples); n >= maxDropSamples {
				d.Samples[n-1].Dropped += delta
			} else {
				d.Samples = append(d.Samples, DropSample{Time: now, Dropped: delta})
			}
		}
		d.Received, d.Captured, d.Dropped, d.RingOverruns = st.Received, st.Captured, st.Dropped, st.RingOverruns
	}
	return grew
}

// Final returns the findings on the final Analysis (from Engine.Finish,
// with its Captures and CaptureDrops filled in): every rule's, and the
// streamed ones the final run no longer finds, ordered as RunRules orders
// them. A finding found both ways is given in its final form, which has
// the whole evidence.
func (s *Streamer) Final(a *Analysis) []Finding {
	final := RunRules(a, s.rules)
	if len(s.streamed) == 0 {
		return final
	}
	found := make(map[string]bool, len(final))
	for i := range final {
		found[final[i].Identity()] = true
	}
	kept := len(final)
	for _, f := range s.streamed {
		if !found[f.Identity()] {
			final = append(final, f)
		}
	}
	if len(final) > kept {
		sortFindings(final)
	}
	return final
}
