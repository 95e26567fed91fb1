package rules

import (
	"fmt"
	"strings"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// ICERoleConflict notes 487 Role Conflict answers in an ICE session (RFC
// 8445 §7.3.1.1): both agents believed they were controlling (or both
// controlled), and one switched.
type ICERoleConflict struct{}

func (ICERoleConflict) ID() string                  { return "ice.role-conflict" }
func (ICERoleConflict) Severity() diagnose.Severity { return diagnose.Info }
func (ICERoleConflict) Title() string               { return "ICE role conflict" }

func (ICERoleConflict) Explain() string {
	return "Notes ICE connectivity checks answered with 487 Role Conflict (RFC 8445 §7.3.1.1): both agents " +
		"started as controlling (or both as controlled), which happens when both think they made the offer, " +
		"with some gateways and ICE-lite mixes, or after an ICE restart. The agent with the lower tie-breaker " +
		"switches role and checks again; it costs a round trip and is harmless. The finding says which agent " +
		"received the 487 and so switched. If conflicts go on and the session fails, one agent ignores the " +
		"487: look at its ICE-CONTROLLING and ICE-CONTROLLED attributes."
}

func (r ICERoleConflict) Check(a *diagnose.Analysis) []diagnose.Finding {
	var found []serverFinding
	bindings := newBindingFrames(a)
	for _, s := range a.ICESessions {
		if s == nil || len(s.RoleConflicts) == 0 {
			continue
		}
		sf := serverFinding{Finding: r.finding(s, bindings)}
		if len(s.Pairs) > 0 && s.Pairs[0] != nil {
			sf.server, sf.transport = s.Pairs[0].Remote, s.Pairs[0].Transport
		}
		found = append(found, sf)
	}
	return capFindings(r, found)
}

func (r ICERoleConflict) finding(s *diagnose.ICESession, bindings *bindingFrames) diagnose.Finding {
	var ev evidence
	var switched []string
	var txs []*diagnose.Transaction
	for _, rc := range s.RoleConflicts {
		ev.addFrame(rc)
		t := bindings.byFrame(rc.Frame, true)
		if t == nil || t.ErrorCode != 487 {
			continue
		}
		txs = append(txs, t)
		ev.addTransaction(t)
		if who := endpointString(t.Client); !containsString(switched, who) {
			switched = append(switched, who)
		}
	}
	// The agents: the selected pair's ends, else the first pair's.
	pairs := s.Pairs
	if s.Selected != nil {
		pairs = []*diagnose.CandidatePair{s.Selected}
	}
	for _, p := range pairs {
		if p != nil && len(ev.endpoints) < 2 {
			ev.addEndpoint(p.Local)
			ev.addEndpoint(p.Remote)
		}
	}
	if len(ev.endpoints) == 0 {
		for _, c := range s.Candidates {
			ev.addEndpoint(c.Addr)
		}
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s had %s answered with 487 Role Conflict (first in frame %d at %s)",
		sessionLabel(s), plural(len(s.RoleConflicts), "check", "checks"), s.RoleConflicts[0].Frame, clock(s.RoleConflicts[0].Time))
	d.WriteString(": both agents started in the same role. RFC 8445 §7.3.1.1 has the agent with the lower tie-breaker switch role and check again.")
	if len(switched) > 0 {
		fmt.Fprintf(&d, " The 487 went to %s, which switched role.", strings.Join(switched, " and "))
	} else {
		d.WriteString(" The agent that received the 487 switched role.")
	}
	switch {
	case s.Outcome == "connected":
		d.WriteString(" The session then connected: harmless, it cost a round trip.")
	case s.Outcome == "failed":
		d.WriteString(" The session then failed (see ice.failed): if the conflicts went on, one agent ignores the 487.")
	}
	filter := "stun.att.error.class == 4 && stun.att.error == 87"
	if len(txs) > 0 {
		ids := make([]stun.TransactionID, 0, len(txs))
		for _, t := range txs {
			ids = append(ids, t.ID)
		}
		filter = diagnose.FilterTransactions(ids)
	} else if direct, _ := iceFlows(s.Pairs); len(direct) > 0 && len(direct) <= maxFilterFlows {
		filter += " && " + orFlows(direct)
	}
	title := "ICE role conflict resolved"
	if s.Outcome != "connected" {
		title = "ICE role conflict"
	}
	if s.Call != nil {
		title += " (call " + quoted(s.Call.CallID) + ")"
	} else {
		title += fmt.Sprintf(" (ufrags %s/%s)", quoted(s.LocalUfrag), quoted(s.RemoteUfrag))
	}
	return ev.finding(r, title, d.String(), filter)
}
