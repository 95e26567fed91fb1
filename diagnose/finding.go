package diagnose

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Severity orders findings: errors explain a failure, warnings a risk,
// info something worth knowing.
type Severity uint8

// The severities, least severe first; the zero Severity is none of them.
const (
	// Info is something worth knowing that explains no failure.
	Info Severity = iota + 1
	// Warning is a risk: a misconfiguration or a degradation.
	Warning
	// Error explains why something failed.
	Error
)

// String returns "info", "warning" or "error", as reports print it.
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "unknown"
}

// ParseSeverity reads "info", "warning" or "error".
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(s) {
	case "info":
		return Info, nil
	case "warning", "warn":
		return Warning, nil
	case "error":
		return Error, nil
	}
	return 0, fmt.Errorf("unknown severity %q (want info, warning or error)", s)
}

// MarshalText writes the severity as String does, so that JSON reports
// say "error" rather than 3.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads what MarshalText writes (and "warn"), as
// ParseSeverity does.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Finding is one diagnosis with the evidence for it. Every finding names the
// frames that prove it and a Wireshark display filter that shows them.
// Its JSON form is part of the report's contract.
type Finding struct {
	// Rule is the ID of the rule that found it ("turn.integrity-failure");
	// rule IDs never change.
	Rule string `json:"rule"`
	// Severity is usually the rule's; a rule may lower or raise it for
	// one finding (a summary takes the most severe of what it folds).
	Severity Severity `json:"severity"`
	// Title is one line naming the problem and who has it.
	Title string `json:"title"`
	// Detail explains the problem, its likely causes and what to check,
	// with exact counts.
	Detail string `json:"detail"`
	// Frames are the evidence: frame numbers as Wireshark numbers them
	// (1-based, across the files of one capture), sorted, at most
	// MaxFramesPerFinding (see CapFrames). Never nil in a Report.
	Frames []uint64 `json:"frames"`
	// First and Last are the packet times of the earliest and latest
	// evidence.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Endpoints are the transport addresses concerned, usually client
	// first: "ip:port", IPv6 as "[ip]:port".
	Endpoints []string `json:"endpoints"`
	// Filter is a Wireshark display filter that shows the evidence.
	Filter string `json:"filter"`
	// Key identifies the finding across the runs of its rule while a
	// capture goes on (see Streamer): the same problem found again with
	// more evidence has the same Key. Rules may set it; when empty,
	// Identity derives it from the rule ID, the first two endpoints and
	// the first frame, which a problem's later evidence does not change.
	Key string `json:"-"`
}

// Identity returns f.Key, or when empty "rule|endpoint|endpoint|first
// frame".
func (f *Finding) Identity() string {
	if f.Key != "" {
		return f.Key
	}
	var b strings.Builder
	b.WriteString(f.Rule)
	for i := range 2 {
		b.WriteByte('|')
		if i < len(f.Endpoints) {
			b.WriteString(f.Endpoints[i])
		}
	}
	b.WriteByte('|')
	if len(f.Frames) > 0 {
		b.WriteString(strconv.FormatUint(slices.Min(f.Frames), 10))
	}
	return b.String()
}

// Rule is one diagnostic rule. A rule reads the correlated Analysis and
// returns its findings; it never sees packets. Package rules holds the
// built-in ones; a program adds its own by passing them along (see the
// custom rule example).
//
// Check must not modify the Analysis, which other rules and the report
// read too, and should keep no state between calls: the same rule value
// may check several Analyses, also at the same time from several
// goroutines, and is run repeatedly on snapshots when it is an EarlyRule.
type Rule interface {
	ID() string // stable, e.g. "turn.integrity-failure"; users filter and script on it
	Severity() Severity
	Title() string   // one line
	Explain() string // a paragraph: what is checked and what usually causes it
	// Check returns the findings on a, in a stable order; nil when none.
	Check(a *Analysis) []Finding
}

// MaxFramesPerFinding caps the frames listed as evidence, so that a capture
// with a million retransmissions still gives a readable finding. The count
// in Detail stays exact.
const MaxFramesPerFinding = 50

// CapFrames keeps at most MaxFramesPerFinding of sorted frames: the first
// and the last half, because how a failure starts and how it ends are both
// evidence (the first rejected attempt, the client giving up).
func CapFrames(frames []uint64) []uint64 {
	if len(frames) <= MaxFramesPerFinding {
		return frames
	}
	head := MaxFramesPerFinding / 2
	tail := MaxFramesPerFinding - head
	return append(frames[:head:head], frames[len(frames)-tail:]...)
}

// FormatTenths prints a measurement with one decimal as the report's
// three-decimal value of it reads: 46.6504 is 46.65 in the JSON report and
// "46.7" here, as a reader rounding the JSON by hand would get, where
// rounding the binary value of 46.65 (46.6499…) would give "46.6". The text
// report and the rules both print this way, so a finding and the stream
// line it explains never disagree in the last digit.
func FormatTenths(v float64) string {
	return strconv.FormatFloat(math.Round(round3(v)*10)/10, 'f', 1, 64)
}

// FormatSeconds prints a duration in seconds to the millisecond, without
// trailing zeros: "31.699", "0.5", "3".
func FormatSeconds(d time.Duration) string {
	s := strconv.FormatFloat(d.Round(time.Millisecond).Seconds(), 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
