package diagnose

import (
	"net/netip"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
)

// iceSDPSide is what the latest SDP with one ice-ufrag said (RFC 8839
// §5.4: the ufrag is per media section, or for the session).
type iceSDPSide struct {
	call       *Call
	candidates []sdp.Candidate
}

// iceSDPIndex maps each ice-ufrag of the calls' SDPs to its call and
// candidates. A later SDP with the same ufrag (an answer repeated in a
// 200 after a 183, a re-INVITE without an ICE restart) replaces the
// earlier one's candidates.
func iceSDPIndex(calls []*Call) map[string]*iceSDPSide {
	var idx map[string]*iceSDPSide
	for _, c := range calls {
		for _, seen := range c.SDPs {
			if seen == nil || seen.Session == nil {
				continue
			}
			sess := seen.Session
			fresh := map[string]*iceSDPSide{}
			for i := range sess.Media {
				m := &sess.Media[i]
				ufrag := m.IceUfrag
				if ufrag == "" {
					ufrag = sess.IceUfrag
				}
				if ufrag == "" {
					continue
				}
				side := fresh[ufrag]
				if side == nil {
					side = &iceSDPSide{call: c}
					fresh[ufrag] = side
				}
				for _, cand := range m.Candidates {
					if len(side.candidates) < MaxCandidatesPerSession {
						side.candidates = append(side.candidates, cand)
					}
				}
			}
			if sess.IceUfrag != "" && fresh[sess.IceUfrag] == nil {
				fresh[sess.IceUfrag] = &iceSDPSide{call: c}
			}
			if idx == nil && len(fresh) > 0 {
				idx = make(map[string]*iceSDPSide)
			}
			for u, side := range fresh {
				idx[u] = side
			}
		}
	}
	return idx
}

// finishICE turns the sessions' state into Analysis.ICESessions: sides
// oriented with the controlling agent as Local, candidates from SDP and
// checks, the selected pair, consent and outcome. It runs after the
// allocations are concluded and the streams are final.
func (e *Engine) finishICE(end time.Time) {
	ic := &e.ice
	e.analysis.DroppedICESessions = ic.dropped
	if len(ic.list) == 0 {
		e.ice = iceState{}
		return
	}
	relayed := make(map[netip.AddrPort]*Allocation)
	mapped := make(map[netip.AddrPort]*Allocation)
	for _, a := range e.analysis.Allocations {
		if a.Relayed.IsValid() {
			relayed[unmapAddrPort(a.Relayed)] = a
		}
		if a.Mapped.IsValid() {
			mapped[unmapAddrPort(a.Mapped)] = a
		}
	}
	sdps := iceSDPIndex(e.analysis.Calls)
	for _, sess := range ic.list {
		sess.conclude(end, relayed, mapped, sdps)
		e.analysis.ICESessions = append(e.analysis.ICESessions, sess.s)
	}
	linkICEStreams(e.analysis.ICESessions, e.analysis.Streams)
	e.ice = iceState{}
}

func (sess *iceSession) conclude(end time.Time, relayed, mapped map[netip.AddrPort]*Allocation, sdps map[string]*iceSDPSide) {
	s := sess.s
	lead := max(sess.lead, 0)
	ufrags := [2]string{sess.key.lo, sess.key.hi}
	s.LocalUfrag, s.RemoteUfrag = ufrags[lead], ufrags[1-lead]
	sideName := func(side int) string {
		if side == lead {
			return "local"
		}
		return "remote"
	}

	// Candidates: each side's SDP, then what checks showed beyond it.
	var inSDP [2]map[netip.AddrPort]bool
	for side, ufrag := range ufrags {
		sd := sdps[ufrag]
		if sd == nil {
			continue
		}
		if s.Call == nil || side == lead {
			s.Call = sd.call
		}
		inSDP[side] = make(map[netip.AddrPort]bool)
		for _, c := range sd.candidates {
			addr := unmapAddrPort(c.Addr)
			inSDP[side][addr] = true
			if len(s.Candidates) >= MaxCandidatesPerSession {
				continue
			}
			ec := ICECandidate{
				Addr: addr, Transport: sdpTransport(c.Transport), Type: c.Type, Priority: c.Priority,
				Foundation: c.Foundation, Component: c.Component, Side: sideName(side),
			}
			if c.Type == "relay" {
				ec.Allocation = relayed[addr]
			}
			s.Candidates = append(s.Candidates, ec)
		}
	}
	for _, addr := range sess.learnOrder {
		lc := sess.learned[addr]
		a := unmapAddrPort(addr)
		if inSDP[lc.side][a] || len(s.Candidates) >= MaxCandidatesPerSession {
			continue
		}
		ec := ICECandidate{Addr: a, Transport: lc.transport, Priority: lc.priority, Side: sideName(lc.side), Learned: true}
		switch alloc := lc.relayedBy; {
		case alloc != nil || relayed[a] != nil:
			// The allocation whose relayed address it is: a check between
			// two relayed candidates is seen first in either one.
			if r := relayed[a]; r != nil {
				alloc = r
			}
			ec.Type, ec.Allocation = "relay", alloc
		case mapped[a] != nil:
			ec.Type = "srflx"
		case inSDP[lc.side] != nil:
			// RFC 8445 §7.3.1.3: an address the peer's SDP did not list.
			ec.Type = "prflx"
		}
		s.Candidates = append(s.Candidates, ec)
	}

	// Pairs, oriented Local = the lead side.
	var best *icePair
	for _, p := range sess.order {
		cp := p.p
		cp.Local, cp.Remote = p.key.lo, p.key.hi
		if lead == 1 {
			cp.Local, cp.Remote = cp.Remote, cp.Local
		}
		// A check relayed through TURN names the allocation it was seen
		// in first, which for a relay-to-relay pair may be either end's:
		// each candidate belongs to the allocation whose relayed address
		// it is.
		la, ra := candidateAllocation(s.Candidates, "local", cp.Local), candidateAllocation(s.Candidates, "remote", cp.Remote)
		if la != nil {
			cp.Allocation = la
		}
		if la != nil && ra != nil && ra != la {
			cp.RemoteAllocation = ra
		}
		if cp.Allocation == nil {
			if a := relayed[unmapAddrPort(cp.Local)]; a != nil {
				cp.Allocation = a
			} else if a := relayed[unmapAddrPort(cp.Remote)]; a != nil {
				cp.Allocation = a
			}
		}
		switch {
		case p.successes > 0:
			cp.State = "succeeded"
		case cp.Errors > 0:
			cp.State = "failed"
		default:
			cp.State = "unanswered"
		}
		s.Pairs = append(s.Pairs, cp)
		if n := p.successesBy[lead]; n > 0 && (best == nil || n > best.successesBy[lead] ||
			n == best.successesBy[lead] && p.lastSuccess.After(best.lastSuccess)) {
			best = p
		}
	}
	switch {
	case sess.nominated != nil:
		s.Selected = sess.nominated.p
		sess.concludeConsent(sess.nominated, end)
	case best != nil:
		s.Selected, s.SelectedInferred = best.p, true
	}
	switch {
	case s.Selected != nil:
		s.Outcome = "connected"
	case end.Sub(sess.lastCheck) < ICECheckingGrace:
		s.Outcome = "checking"
	default:
		s.Outcome = "failed"
	}

	s.IntegrityMatched, s.IntegrityMismatched = sess.integrityOK, sess.integrityFailed
	s.LocalPassword, s.RemotePassword = sess.password[lead]-1, sess.password[1-lead]-1
}

// candidateAllocation is the allocation whose relayed address addr is,
// among side's candidates; nil when it is not a relay candidate.
func candidateAllocation(cands []ICECandidate, side string, addr netip.AddrPort) *Allocation {
	addr = unmapAddrPort(addr)
	for i := range cands {
		if c := &cands[i]; c.Side == side && c.Addr == addr && c.Allocation != nil {
			return c.Allocation
		}
	}
	return nil
}

// concludeConsent sets the consent fields from the selected pair's
// checks after its nomination (RFC 7675 §5.1): the side whose checks
// went unanswered the longest at the end is the one reported.
func (sess *iceSession) concludeConsent(p *icePair, end time.Time) {
	s := sess.s
	for side := range p.consent {
		c := &p.consent[side]
		s.ConsentChecks += c.sent
		trailing := c.sent - c.answered
		for _, r := range c.recent {
			// Sent too close to the end for its answer to be in the capture.
			if r.seq > c.answered && end.Sub(r.ref.Time) < ICEConsentAnswerWait {
				trailing--
			}
		}
		if trailing > s.ConsentUnanswered {
			s.ConsentUnanswered = trailing
			s.ConsentLost = c.firstAfter
		}
	}
}

// linkICEStreams ties each selected pair to the RTP streams between its
// two addresses, or relayed through its allocations: a relay-to-relay pair
// (both agents behind TURN, RFC 8656 §2) has one at each end, and a capture
// that holds both agents sees each stream on both, once sent by one agent
// to its server and once delivered by the other's server.
func linkICEStreams(sessions []*ICESession, streams []*Stream) {
	if len(streams) == 0 {
		return
	}
	type ends struct{ a, b netip.AddrPort }
	byEnds := make(map[ends]*ICESession)
	byAlloc := make(map[*Allocation]*ICESession)
	for _, s := range sessions {
		p := s.Selected
		if p == nil {
			continue
		}
		l, r := unmapAddrPort(p.Local), unmapAddrPort(p.Remote)
		byEnds[ends{l, r}], byEnds[ends{r, l}] = s, s
		if p.Allocation != nil {
			byAlloc[p.Allocation] = s
		}
		if p.RemoteAllocation != nil {
			byAlloc[p.RemoteAllocation] = s
		}
		for _, c := range s.Candidates {
			if c.Allocation == nil {
				continue
			}
			if c.Addr == l || c.Addr == r {
				byAlloc[c.Allocation] = s
			}
		}
	}
	for _, st := range streams {
		s := byEnds[ends{unmapAddrPort(st.Src), unmapAddrPort(st.Dst)}]
		if s != nil && s.Selected.Transport != st.Transport {
			s = nil
		}
		if s == nil && st.Allocation != nil {
			// Keyed by the outer 5-tuple, which may be TCP to the server.
			s = byAlloc[st.Allocation]
		}
		if s != nil {
			s.Streams = append(s.Streams, st)
		}
	}
}

func sdpTransport(t string) decode.Transport {
	if strings.EqualFold(t, "tcp") {
		return decode.TCP
	}
	return decode.UDP
}
