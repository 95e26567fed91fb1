package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// What the ice.* rules share: how a session and its pairs are named, and
// the Wireshark filter for its checks.

// sessionLabel names an ICE session: `ICE session "L"/"R" (call "X")`.
func sessionLabel(s *diagnose.ICESession) string {
	l := fmt.Sprintf("ICE session %s/%s", quoted(s.LocalUfrag), quoted(s.RemoteUfrag))
	if s.Call != nil {
		l += " (call " + quoted(s.Call.CallID) + ")"
	}
	return l
}

// pairLine summarizes a pair: "192.0.2.10:50006 → 198.51.100.7:40000 udp:
// 5 checks, 0 answered (unanswered)".
func pairLine(p *diagnose.CandidatePair) string {
	s := fmt.Sprintf("%s → %s", endpointString(p.Local), endpointString(p.Remote))
	s += relayedVia(p)
	s += fmt.Sprintf(": %s, %d answered", plural(p.Checks, "check", "checks"), p.Answered)
	if p.Errors > 0 {
		s += fmt.Sprintf(" (%d with an error)", p.Errors)
	}
	if p.State != "" {
		s += ", " + p.State
	}
	return s
}

// relayedVia names the TURN servers a pair's checks cross: " via TURN S",
// or for a relay-to-relay pair, whose checks cross both ends' allocations
// (RFC 8656 §2), both of them.
func relayedVia(p *diagnose.CandidatePair) string {
	la, ra := p.Allocation, p.RemoteAllocation
	switch {
	case la == nil:
		return ""
	case ra == nil:
		return " via TURN " + endpointString(la.Server)
	case la.Server == ra.Server:
		return " via TURN " + endpointString(la.Server) + " (both ends relayed)"
	}
	return fmt.Sprintf(" via TURN %s and %s (both ends relayed)", endpointString(la.Server), endpointString(ra.Server))
}

// pairAllocations are the allocations a pair's checks cross: none, its
// own, or for a relay-to-relay pair both ends'.
func pairAllocations(p *diagnose.CandidatePair) []*diagnose.Allocation {
	var out []*diagnose.Allocation
	for _, al := range []*diagnose.Allocation{p.Allocation, p.RemoteAllocation} {
		if al != nil && !slices.Contains(out, al) {
			out = append(out, al)
		}
	}
	return out
}

// maxPairsListed bounds the pairs a finding lists.
const maxPairsListed = 6

// pairsSummary lists at most maxPairsListed pairs.
func pairsSummary(pairs []*diagnose.CandidatePair) string {
	var lines []string
	for _, p := range pairs {
		if p == nil {
			continue
		}
		if len(lines) == maxPairsListed {
			lines = append(lines, fmt.Sprintf("and %d more", len(pairs)-maxPairsListed))
			break
		}
		lines = append(lines, pairLine(p))
	}
	return strings.Join(lines, "; ")
}

// maxFilterFlows is how many flows a checks filter lists before it selects
// the checks by USERNAME instead.
const maxFilterFlows = 4

// iceChecksFilter shows the Binding checks (and their answers) of some
// pairs on the pairs' flows. A relayed pair's checks travel to its TURN
// server inside Send/Data indications or ChannelData, which Wireshark 4.0
// does not dissect as STUN, so for those it shows the relayed traffic of
// the allocation. With many flows it selects the requests by their
// USERNAME ("remote:local", RFC 8445 §7.2.2), which answers do not carry.
func iceChecksFilter(s *diagnose.ICESession, pairs []*diagnose.CandidatePair) string {
	const binding = "stun.type.method == 0x001"
	direct, relayed := iceFlows(pairs)
	if n := len(direct) + len(relayed); n > 0 && n <= maxFilterFlows {
		var terms []string
		if len(direct) > 0 {
			terms = append(terms, binding+" && "+orFlows(direct))
		}
		for _, f := range relayed {
			terms = append(terms, f+" && (stun.type.method in {0x006, 0x007} || stun.channel)")
		}
		if len(terms) == 1 {
			return terms[0]
		}
		return "(" + strings.Join(terms, ") || (") + ")"
	}
	if s.LocalUfrag != "" && s.RemoteUfrag != "" {
		return fmt.Sprintf("%s && (stun.att.username == %s || stun.att.username == %s)", binding,
			wiresharkString(s.RemoteUfrag+":"+s.LocalUfrag), wiresharkString(s.LocalUfrag+":"+s.RemoteUfrag))
	}
	return binding
}

// iceFlows lists the flows of some pairs: direct ones between the pair's
// addresses, and the flows to the TURN servers of relayed ones: both
// clients' legs for a relay-to-relay pair, since a check leaves on one
// and arrives on the other and the capture may hold either.
func iceFlows(pairs []*diagnose.CandidatePair) (direct, relayed []string) {
	for _, p := range pairs {
		if p == nil {
			continue
		}
		legs := 0
		for _, al := range pairAllocations(p) {
			if !al.Client.IsValid() {
				continue
			}
			legs++
			if f := diagnose.FilterFlow(al.Client, al.Server, al.Transport); !slices.Contains(relayed, f) {
				relayed = append(relayed, f)
			}
		}
		if legs > 0 {
			continue
		}
		if f := diagnose.FilterFlow(p.Local, p.Remote, p.Transport); !slices.Contains(direct, f) {
			direct = append(direct, f)
		}
	}
	return direct, relayed
}

// orFlows joins flow filters: "a" or "((a) || (b))".
func orFlows(flows []string) string {
	if len(flows) == 1 {
		return flows[0]
	}
	return "((" + strings.Join(flows, ") || (") + "))"
}

// addPair cites a pair's checks, and for a relayed pair the TURN legs
// they travel on (both, when both ends are relayed).
func (e *evidence) addPair(p *diagnose.CandidatePair) {
	e.addFrame(p.First)
	e.addFrame(p.Last)
	for _, f := range p.Frames {
		e.addFrame(diagnose.FrameRef{Frame: f})
	}
	e.addEndpoint(p.Local)
	e.addEndpoint(p.Remote)
	e.addRelayLegs(p)
}

// addRelayLegs cites the client and server of each allocation a pair's
// checks cross: the relayed addresses alone are not on the wire there.
func (e *evidence) addRelayLegs(p *diagnose.CandidatePair) {
	for _, al := range pairAllocations(p) {
		e.addEndpoint(al.Client)
		e.addEndpoint(al.Server)
	}
}

// bindingFrames finds the kept Binding transaction whose request or
// response is a frame: the engine keeps only some Binding transactions,
// so the answer may be nil. A rule builds one per Check, so that each of
// thousands of sessions does not scan every transaction; each map is made
// on its first lookup.
type bindingFrames struct {
	txs                 []*diagnose.Transaction
	requests, responses map[uint64]*diagnose.Transaction
}

func newBindingFrames(a *diagnose.Analysis) *bindingFrames {
	return &bindingFrames{txs: a.Transactions}
}

// byFrame is the first Binding transaction, in the order of
// Analysis.Transactions, whose response (or, unless response, one of whose
// requests) is frame; nil for frame 0.
func (b *bindingFrames) byFrame(frame uint64, response bool) *diagnose.Transaction {
	if frame == 0 {
		return nil
	}
	if response {
		if b.responses == nil {
			b.responses = make(map[uint64]*diagnose.Transaction)
			for _, t := range b.txs {
				if t != nil && t.Method == stun.MethodBinding && t.Answered && t.Response.Frame != 0 && b.responses[t.Response.Frame] == nil {
					b.responses[t.Response.Frame] = t
				}
			}
		}
		return b.responses[frame]
	}
	if b.requests == nil {
		b.requests = make(map[uint64]*diagnose.Transaction)
		for _, t := range b.txs {
			if t == nil || t.Method != stun.MethodBinding {
				continue
			}
			for _, r := range t.Requests {
				if r.Frame != 0 && b.requests[r.Frame] == nil {
					b.requests[r.Frame] = t
				}
			}
		}
	}
	return b.requests[frame]
}

// sessionAddrs are the addresses of a session's agents: its pairs' ends
// and its candidates.
func sessionAddrs(s *diagnose.ICESession) []netip.Addr {
	var out []netip.Addr
	add := func(ap netip.AddrPort) {
		if a := ap.Addr().Unmap(); a.IsValid() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, p := range s.Pairs {
		if p != nil {
			add(p.Local)
			add(p.Remote)
		}
	}
	for _, c := range s.Candidates {
		add(c.Addr)
	}
	return out
}
