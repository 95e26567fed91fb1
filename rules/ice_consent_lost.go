package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// ICEConsentLost finds connected ICE sessions whose consent checks on the
// selected pair stopped being answered (RFC 7675).
type ICEConsentLost struct{}

func (ICEConsentLost) ID() string                  { return "ice.consent-lost" }
func (ICEConsentLost) Severity() diagnose.Severity { return diagnose.Warning }
func (ICEConsentLost) Title() string               { return "ICE consent lost during the call" }

func (ICEConsentLost) Explain() string {
	return "Checks the consent freshness checks (RFC 7675) that WebRTC agents send on the selected candidate " +
		"pair every few seconds once connected: when they stop being answered, consent expires 30 s after the " +
		"last answer and the agent must stop sending media, so the call freezes or drops mid-way. Usual " +
		"causes: a NAT binding or firewall pinhole that timed out or was reset, a network change (Wi-Fi to " +
		"mobile) without an ICE restart, a TURN allocation that expired or was deleted under the pair, or a " +
		"peer that crashed or left without closing. A peer that closed DTLS (close_notify) before the checks " +
		"went unanswered left normally and is not reported; checks sent too close to the end of the capture " +
		"to have their answer in it do not count."
}

// consentExpiry is RFC 7675 §5.1's consent timeout.
const consentExpiry = 30 * time.Second

// minConsentUnanswered is how many consent checks must go unanswered: one
// lost check is noise, consent checks come every 4-6 s (RFC 7675 §5.1).
const minConsentUnanswered = 2

func (r ICEConsentLost) Check(a *diagnose.Analysis) []diagnose.Finding {
	var found []serverFinding
	bindings := newBindingFrames(a)
	var end time.Time
	endKnown := false
	for _, s := range a.ICESessions {
		if s == nil || s.Selected == nil || s.ConsentLost.Frame == 0 || s.ConsentUnanswered < minConsentUnanswered {
			continue
		}
		if closedBefore(s, s.ConsentLost) {
			continue
		}
		if !endKnown {
			end, endKnown = captureEnd(a), true
		}
		found = append(found, serverFinding{r.finding(s, bindings, end), s.Selected.Remote, s.Selected.Transport})
	}
	return capFindings(r, found)
}

// closedBefore tells a session whose DTLS was closed (close_notify, RFC
// 8446 §6.1) before its consent checks went unanswered: the peer left.
func closedBefore(s *diagnose.ICESession, lost diagnose.FrameRef) bool {
	for _, c := range s.DTLS {
		if c == nil {
			continue
		}
		for _, al := range c.Alerts {
			if al.Description == 0 && (al.Frame <= lost.Frame || !al.Time.After(lost.Time)) {
				return true
			}
		}
	}
	return false
}

// finding tells of s; end is captureEnd(a), found once per Check.
func (r ICEConsentLost) finding(s *diagnose.ICESession, bindings *bindingFrames, end time.Time) diagnose.Finding {
	p := s.Selected
	var ev evidence
	ev.addFrame(p.First)
	ev.addFrame(s.ConsentLost)
	ev.addFrame(s.Last)
	ev.addEndpoint(p.Local)
	ev.addEndpoint(p.Remote)
	ev.addRelayLegs(p)
	lost := s.ConsentLost
	var d strings.Builder
	fmt.Fprintf(&d, "%s connected on %s → %s", sessionLabel(s), endpointString(p.Local), endpointString(p.Remote))
	switch la, ra := p.Allocation, p.RemoteAllocation; {
	case la != nil && ra != nil && la.Server == ra.Server:
		fmt.Fprintf(&d, " (both ends relayed by the TURN server %s)", endpointString(la.Server))
	case la != nil && ra != nil:
		fmt.Fprintf(&d, " (both ends relayed: by the TURN server %s locally, %s remotely)", endpointString(la.Server), endpointString(ra.Server))
	case la != nil:
		fmt.Fprintf(&d, " (relayed by the TURN server %s)", endpointString(la.Server))
	}
	fmt.Fprintf(&d, ", then its consent checks stopped being answered: from frame %d at %s on, %s of %d went unanswered",
		lost.Frame, clock(lost.Time), plural(s.ConsentUnanswered, "consent check", "consent checks"), s.ConsentChecks)
	if t := bindings.byFrame(lost.Frame, false); t != nil {
		fmt.Fprintf(&d, " (sent by %s to %s)", endpointString(t.Client), endpointString(t.Server))
		ev.addTransaction(t)
	}
	d.WriteString(".")
	expires := lost.Time.Add(consentExpiry)
	switch {
	case end.IsZero():
	case end.Before(expires):
		fmt.Fprintf(&d, " The capture ended %s s later, before consent would expire (30 s after the last answer, RFC 7675 §5.1).", seconds(end.Sub(lost.Time)))
	default:
		d.WriteString(" Consent expires 30 s after the last answered check (RFC 7675 §5.1): by then the agent must stop sending media.")
	}
	if last, ok := lastMedia(s); ok {
		ev.addFrame(last)
		switch gap := last.Time.Sub(lost.Time); {
		case gap < 0:
			fmt.Fprintf(&d, " Media on this pair had already stopped at %s (frame %d), %s s before.", clock(last.Time), last.Frame, seconds(-gap))
		default:
			fmt.Fprintf(&d, " Media on this pair stopped at %s (frame %d), %s s after the first unanswered check.", clock(last.Time), last.Frame, seconds(gap))
		}
	}
	// A relay-to-relay pair dies with either end's allocation.
	allocs := pairAllocations(p)
	for _, al := range allocs {
		switch al.Outcome {
		case "expired", "deleted":
			which := "under the pair"
			if len(allocs) > 1 {
				end := "remote"
				if al == p.Allocation {
					end = "local"
				}
				which = fmt.Sprintf("of the %s end (%s → %s)", end, endpointString(al.Client), endpointString(al.Server))
			}
			fmt.Fprintf(&d, " The TURN allocation %s %s", which, al.Outcome)
			if !al.Last.Time.IsZero() {
				fmt.Fprintf(&d, " (last seen at %s, frame %d)", clock(al.Last.Time), al.Last.Frame)
			}
			d.WriteString(": relayed checks and media died with it.")
			ev.addFrame(al.Last)
		}
	}
	d.WriteString(" Usual causes: a NAT binding or firewall pinhole that timed out or was reset, a network change without an ICE restart, a TURN allocation that expired, or a peer that crashed or left without closing.")
	title := fmt.Sprintf("ICE consent lost on %s → %s", endpointString(p.Local), endpointString(p.Remote))
	return ev.finding(r, title, d.String(), iceChecksFilter(s, []*diagnose.CandidatePair{p}))
}

// lastMedia is the last RTP packet on the session's selected pair.
func lastMedia(s *diagnose.ICESession) (diagnose.FrameRef, bool) {
	var last diagnose.FrameRef
	for _, st := range s.Streams {
		if st != nil && st.Last.Time.After(last.Time) {
			last = st.Last
		}
	}
	return last, last.Frame != 0
}
