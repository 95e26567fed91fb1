package diagnose_test

import (
	"fmt"
	"log"
	"time"

	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/rules"
)

// ShortLifetime is a rule of your own: it flags TURN allocations granted a
// lifetime shorter than Min, a deployment's policy (a client then has to
// refresh more often than its keepalives plan for). It is not an
// EarlyRule: a later Refresh may change the lifetime, so it reports when
// the capture ends.
type ShortLifetime struct {
	Min time.Duration
}

func (ShortLifetime) ID() string                  { return "example.short-lifetime" }
func (ShortLifetime) Severity() diagnose.Severity { return diagnose.Info }
func (ShortLifetime) Title() string               { return "TURN allocation with a short lifetime" }
func (r ShortLifetime) Explain() string {
	return "Flags allocations whose last granted LIFETIME (RFC 8656 §7.2) is shorter than " + r.Min.String() + "."
}

func (r ShortLifetime) Check(a *diagnose.Analysis) []diagnose.Finding {
	var out []diagnose.Finding
	for _, al := range a.Allocations {
		granted := time.Duration(al.Lifetime) * time.Second
		if al.Lifetime <= 0 || granted >= r.Min {
			continue
		}
		out = append(out, diagnose.Finding{
			Rule:      r.ID(),
			Severity:  r.Severity(),
			Title:     fmt.Sprintf("Allocation of %s granted %s", al.Client, granted),
			Detail:    fmt.Sprintf("The server granted %s, below the %s the policy asks for.", granted, r.Min),
			Frames:    []uint64{al.First.Frame, al.Last.Frame},
			First:     al.First.Time,
			Last:      al.Last.Time,
			Endpoints: []string{al.Client.String(), al.Server.String()},
			// The display filter shows the evidence in Wireshark.
			Filter: diagnose.FilterFlow(al.Client, al.Server, al.Transport),
		})
	}
	return out
}

// Run the built-in rules and one of your own. A rule reads the correlated
// Analysis, never packets.
func Example_customRule() {
	rs := append(rules.All(), ShortLifetime{Min: 15 * time.Minute})
	_, findings, err := diagnose.Analyze([]string{"../pcaps/turn-udp-ok.pcap"}, diagnose.Options{}, rs)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range findings {
		fmt.Printf("%s %s: %s (frames %v)\n", f.Severity, f.Rule, f.Title, f.Frames)
	}
	// Output:
	// info example.short-lifetime: Allocation of 192.0.2.10:46727 granted 12m57s (frames [1 6])
	// info example.short-lifetime: Allocation of 192.0.2.10:37963 granted 10m0s (frames [7 39])
}
