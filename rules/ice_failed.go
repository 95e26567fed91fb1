package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// ICEFailed finds ICE sessions in which no candidate pair succeeded, and
// says why: every check unanswered, no relay because the TURN allocation
// failed, or only host candidates.
type ICEFailed struct{}

func (ICEFailed) ID() string                  { return "ice.failed" }
func (ICEFailed) Severity() diagnose.Severity { return diagnose.Error }
func (ICEFailed) Title() string               { return "ICE failed: no candidate pair connected" }

func (ICEFailed) Explain() string {
	return "Checks ICE sessions (WebRTC, or SIP with ICE) whose connectivity checks went on with no candidate " +
		"pair succeeding until they stopped: the user sees \"connecting…\" and the call gets no media. The " +
		"finding lists the pairs with their checks and answers and says why. When not one check was answered, " +
		"the path is blocked: a firewall dropping UDP to the media ports or to the TURN relay range (e.g. " +
		"24000-29999), or NATs on both sides with no relay. When no relay candidate took part because the " +
		"agent's TURN allocation failed, it names the turn.* finding that explains that failure. When only " +
		"host candidates were offered, no STUN or TURN server is configured (iceServers empty), so agents on " +
		"different networks cannot reach each other. A session whose checks were still going on when the " +
		"capture ended, or of which the capture shows only a moment of single checks, is not judged."
}

// allocationWindow is how long before an ICE session's first check a
// failed Allocate can belong to it: candidates are gathered just before
// the checks start.
const allocationWindow = 2 * time.Minute

func (r ICEFailed) Check(a *diagnose.Analysis) []diagnose.Finding {
	var found []serverFinding
	var failedAllocs *failedAllocationIndex // made for the first failed session
	for _, s := range a.ICESessions {
		if s == nil || s.Outcome != "failed" || s.Selected != nil {
			continue
		}
		i := slices.IndexFunc(s.Pairs, func(p *diagnose.CandidatePair) bool { return p != nil })
		if i < 0 {
			continue
		}
		if slices.ContainsFunc(s.Pairs, func(p *diagnose.CandidatePair) bool { return p != nil && p.State == "succeeded" }) {
			continue
		}
		if !iceGaveUp(s) {
			continue
		}
		if failedAllocs == nil {
			failedAllocs = indexFailedAllocations(a)
		}
		found = append(found, serverFinding{r.finding(s, failedAllocs), s.Pairs[i].Remote, s.Pairs[i].Transport})
	}
	return capFindings(r, found)
}

func (r ICEFailed) finding(s *diagnose.ICESession, failedAllocs *failedAllocationIndex) diagnose.Finding {
	var ev evidence
	ev.addFrame(s.First)
	ev.addFrame(s.Last)
	checks, answered, errors := 0, 0, 0
	var relayPairs []*diagnose.CandidatePair
	for _, p := range s.Pairs {
		if p == nil {
			continue
		}
		ev.addPair(p)
		checks += p.Checks
		answered += p.Answered
		errors += p.Errors
		if p.Allocation != nil {
			relayPairs = append(relayPairs, p)
		}
	}
	hasRelay := len(relayPairs) > 0
	var sdpCandidates, hostOnly int
	for _, c := range s.Candidates {
		if c.Type == "relay" || c.Allocation != nil {
			hasRelay = true
		}
		if !c.Learned {
			sdpCandidates++
			if c.Type == "host" {
				hostOnly++
			}
		}
	}

	var d strings.Builder
	fmt.Fprintf(&d, "%s failed: none of its %s succeeded. %s %s sent", sessionLabel(s), plural(len(s.Pairs), "candidate pair", "candidate pairs"), plural(checks, "check", "checks"), wasWere(checks))
	if !s.First.Time.IsZero() {
		fmt.Fprintf(&d, " from %s to %s", clock(s.First.Time), clock(s.Last.Time))
	}
	fmt.Fprintf(&d, ", %d answered. Pairs: %s.", answered, pairsSummary(s.Pairs))
	var filterPairs = slices.Clone(s.Pairs)
	var extraFilter []string

	switch {
	case answered == 0:
		d.WriteString(" Not one check was answered: the path between the candidates is blocked, most often by a firewall dropping UDP to the media ports or to the TURN relay range (e.g. 24000-29999), or by NATs on both sides with no relay to fall back on.")
	case errors == answered:
		fmt.Fprintf(&d, " The %d answers were all errors: the agents do not accept each other's checks (a wrong ice-pwd, often signalling from an earlier session, or 487 role conflicts never resolved).", answered)
	}

	failedAlloc := failedAllocs.forSession(s)
	switch {
	case !hasRelay && failedAlloc != nil:
		rule, why := allocationFailure(failedAlloc)
		fmt.Fprintf(&d, " No relay candidate took part because the TURN allocation from %s to %s failed (%s): %s",
			endpointString(failedAlloc.Client), endpointString(failedAlloc.Server), attemptFrames(failedAlloc), why)
		if rule != "" {
			fmt.Fprintf(&d, "; see the %s finding", rule)
		}
		d.WriteString(". Without a relay, ICE can only connect when the agents reach each other directly.")
		for _, t := range failedAlloc.Attempts {
			if t != nil {
				ev.addTransaction(t)
			}
		}
		extraFilter = append(extraFilter, diagnose.FilterFlow(failedAlloc.Client, failedAlloc.Server, failedAlloc.Transport)+" && stun.type.method == 0x003")
	case hasRelay && len(relayPairs) > 0:
		al := relayPairs[0].Allocation
		fmt.Fprintf(&d, " A relay candidate took part (TURN allocation from %s to %s, relayed address %s), but its checks did not succeed either: check that the TURN server can reach the peer (permissions, its own firewall toward the peer) and that the peer's firewall lets the relay's address in.",
			endpointString(al.Client), endpointString(al.Server), endpointString(al.Relayed))
	case !hasRelay && sdpCandidates > 0 && hostOnly == sdpCandidates:
		fmt.Fprintf(&d, " Only host candidates were offered (%d in the SDP, no server-reflexive or relay candidate): no STUN or TURN server is configured, so agents behind different NATs or firewalls cannot reach each other. Configure a TURN server (iceServers) on the clients.", sdpCandidates)
	case !hasRelay:
		d.WriteString(" No relay candidate took part: configure a TURN server (with TURN over TCP or TLS on 443 for restrictive networks) so ICE has a path that works through firewalls.")
	}
	filter := iceChecksFilter(s, filterPairs)
	for _, x := range extraFilter {
		filter = "(" + filter + ") || (" + x + ")"
	}
	title := "ICE failed: no candidate pair connected"
	if s.Call != nil {
		title += " (call " + quoted(s.Call.CallID) + ")"
	} else {
		title += fmt.Sprintf(" (ufrags %s/%s)", quoted(s.LocalUfrag), quoted(s.RemoteUfrag))
	}
	return ev.finding(r, title, d.String(), filter)
}

// minICEFailSpan and minChecksPerPair tell an agent that gave up from a
// capture that caught a fraction of a second of checks: agents retransmit
// a check several times over seconds before a pair fails (RFC 8445
// §14.3, RFC 8489 §6.2.1), so a few single checks in a moment prove
// nothing.
const (
	minICEFailSpan   = 5 * time.Second
	minChecksPerPair = 3
)

func iceGaveUp(s *diagnose.ICESession) bool {
	if s.Last.Time.Sub(s.First.Time) >= minICEFailSpan {
		return true
	}
	for _, p := range s.Pairs {
		if p != nil && (p.Checks >= minChecksPerPair || p.Errors > 0) {
			return true
		}
	}
	return false
}

// failedAllocationIndex lists the failed allocations per client address,
// for the sessions' lookups: scanning every allocation for each failed
// session is 5,000 sessions × 50,000 allocations at the caps.
type failedAllocationIndex struct {
	allocs   []*diagnose.Allocation
	byClient map[netip.Addr][]int // indexes into allocs, ascending
}

func indexFailedAllocations(a *diagnose.Analysis) *failedAllocationIndex {
	ix := &failedAllocationIndex{allocs: a.Allocations, byClient: make(map[netip.Addr][]int)}
	for i, al := range a.Allocations {
		if al != nil && allocationFailed(al) {
			c := al.Client.Addr().Unmap()
			ix.byClient[c] = append(ix.byClient[c], i)
		}
	}
	return ix
}

// forSession finds a TURN allocation that failed for one of the
// session's agents: made from one of its addresses, shortly before or
// during its checks (the latest such in the order of
// Analysis.Allocations). An agent behind NAT allocates from its host
// address, which is also its host candidate; seen from outside, from its
// server-reflexive one, which is where its checks come from.
func (ix *failedAllocationIndex) forSession(s *diagnose.ICESession) *diagnose.Allocation {
	best := -1
	for _, addr := range sessionAddrs(s) {
		list := ix.byClient[addr]
		// From the last back: the first that fits is this address's latest.
		for k := len(list) - 1; k >= 0 && list[k] > best; k-- {
			al := ix.allocs[list[k]]
			if !s.First.Time.IsZero() && !al.First.Time.IsZero() {
				if al.First.Time.After(s.Last.Time) || al.Last.Time.Before(s.First.Time.Add(-allocationWindow)) {
					continue
				}
			}
			best = list[k]
			break
		}
	}
	if best < 0 {
		return nil
	}
	return ix.allocs[best]
}

func allocationFailed(al *diagnose.Allocation) bool {
	switch al.Outcome {
	case "rejected", "unanswered", "challenged":
		return true
	}
	return false
}

// allocationFailure names the turn.* rule that reports an allocation's
// failure, and says in a few words what happened.
func allocationFailure(al *diagnose.Allocation) (rule, why string) {
	var last *diagnose.Transaction
	for _, t := range al.Attempts {
		if t != nil {
			last = t
		}
	}
	switch al.Outcome {
	case "challenged":
		return "", "the client never answered the server's 401 challenge (no TURN credentials configured?)"
	case "unanswered":
		for _, t := range al.Attempts {
			if t != nil && t.ICMP != nil {
				return "turn.server-unreachable", "the TURN server was unreachable (ICMP " + t.ICMP.Description + ")"
			}
		}
		n := 0
		for _, t := range al.Attempts {
			if t != nil {
				n += sends(t)
			}
		}
		return "turn.allocate-timeout", fmt.Sprintf("%s got no answer", plural(n, "Allocate request", "Allocate requests"))
	}
	if last == nil || !last.Answered || last.Class != stun.ClassError {
		return "", "the allocation was " + al.Outcome
	}
	code := diagnose.ErrorCodeText(last.ErrorCode)
	switch {
	case (last.ErrorCode == 401 && last.HasIntegrity) || last.ErrorCode == 431:
		return "turn.integrity-failure", "the server rejected the credentials (" + code + ")"
	case last.ErrorCode == 438:
		return "turn.stale-nonce", "the server kept rejecting the nonce (" + code + ")"
	}
	return "turn.request-rejected", "the server answered " + code
}

// attemptFrames cites an allocation's Allocate requests: "Allocate in
// frame 3", "Allocates in frames 3, 5, 7".
func attemptFrames(al *diagnose.Allocation) string {
	var fr []string
	for _, t := range al.Attempts {
		if t != nil && len(t.Requests) > 0 {
			fr = append(fr, fmt.Sprint(t.Requests[0].Frame))
		}
	}
	if len(fr) == 1 {
		return "Allocate in frame " + fr[0]
	}
	if len(fr) > 8 {
		fr = append(fr[:7], "…", fr[len(fr)-1])
	}
	return "Allocates in frames " + strings.Join(fr, ", ")
}
