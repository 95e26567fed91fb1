package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// SIPACKMissing reports calls whose callee answered and did not get the
// ACK for its answer: the "calls drop after 32 seconds" of SIP support.
// A UAS retransmits the 2xx to an INVITE from T1 doubling up to T2 until
// the ACK comes, whatever the transport (the 2xx belongs to the UAS core,
// not to the INVITE transaction, which ends with it: RFC 3261 §13.3.1.4,
// §17.2.1), and after 64*T1 = 32 s without one it ends the session with a
// BYE. So every copy of a 2xx in a capture is the callee saying it has no
// ACK yet.
//
// The ACK of a 2xx is a transaction of its own with a branch of its own
// (§13.2.2.4, §17.1.1.3): it is found by Call-ID (the call), CSeq number
// and To tag, not by Via branch. It goes to the 2xx's Contact, the remote
// target (§12.1.2), or to the first Record-Route: not necessarily where
// the INVITE went. A Contact the caller cannot reach (a private address
// that a NAT without a working SIP ALG left in it) loses the ACK while
// the INVITE and its responses pass.
//
// A 2xx retransmitted once or twice is normal: the ACK crossing the first
// retransmission on the wire, or one ACK lost and sent again for the
// retransmitted 2xx (the caller acknowledges each copy, §13.2.2.4). The
// rule wants minUnackedResends retransmissions that no ACK explains: with
// none seen, all of them; with one seen, those after it. Error when the
// callee's BYE about 64*T1 after its answer, or provenUnackedResends
// retransmissions, prove the loss; warning otherwise: a capture that ends
// before the timeout, or an ACK that came late and saved the call.
//
// A 2xx that went out in IP fragments, with no ACK at all, is itself the
// likely loss: a large SDP answer that a firewall dropping fragments kept
// from the caller, who acknowledges only what it receives. The finding
// then says so, with the fragments and any ICMP reassembly error from the
// caller's host (sip_fragmented_response.go).
type SIPACKMissing struct{}

func (SIPACKMissing) ID() string                      { return "sip.ack-missing" }
func (SIPACKMissing) Severity() diagnose.Severity     { return diagnose.Error }
func (SIPACKMissing) Severities() []diagnose.Severity { return warningOrError() }
func (SIPACKMissing) Title() string                   { return "SIP 200 OK never acknowledged" }

func (SIPACKMissing) Explain() string {
	return "Finds calls whose callee answered but did not get the caller's ACK: the callee repeats its 200 OK " +
		"(0.5, 1, 2, then every 4 s; RFC 3261 §13.3.1.4) and after 32 s gives up and ends the call with a BYE, " +
		"the classic \"calls drop after 32 seconds\". The finding says how often the 200 OK was repeated, " +
		"whether the capture shows an ACK and where it went, and how the call ended. The commonest cause is an " +
		"ACK sent to the 200 OK's Contact (or Record-Route) address, which the caller cannot reach: a private " +
		"address left in the Contact by a callee or PBX behind a NAT without a correct SIP ALG, or rewritten " +
		"wrongly by one. Others: a firewall that drops the ACK, an ACK sent over another transport or port " +
		"than the callee listens on, a proxy that does not forward it. One or two repetitions are normal (an " +
		"ACK crossing a repeated 200 OK); an ACK that comes only after several is a warning. A 200 OK too large " +
		"for one packet over UDP (a big SDP answer) that went out in IP fragments is named as the loss itself: " +
		"the caller never got it whole, often proven by its host's ICMP \"fragment reassembly time exceeded\" " +
		"quoting it, and so never sent the ACK."
}

const (
	// minUnackedResends is how many retransmissions of a 2xx with no ACK
	// to stop them make a finding: 0.5, 1.5 and 3.5 s after the answer,
	// longer than any round trip.
	minUnackedResends = 3
	// provenUnackedResends proves the loss without the BYE: 19.5 s of a
	// callee asking for its ACK.
	provenUnackedResends = 7
	// sipT2 caps the interval between retransmissions of a 2xx
	// (RFC 3261 §13.3.1.4, §17.1.2.2).
	sipT2 = 4 * time.Second
)

// ackStory is a retransmitted 2xx to an INVITE and the ACKs seen for it.
type ackStory struct {
	call   *diagnose.Call
	invite *diagnose.SIPTransaction
	ok     *diagnose.SIPResponse
	acks   []*diagnose.SIPTransaction
	// firstACK is the earliest ACK; zero when none was seen.
	firstACK diagnose.FrameRef
	// before and after count the 2xx retransmissions before the first
	// ACK and from it on; all are before when no ACK was seen.
	before, after int
	// bye is the callee's side ending the dialog after the 2xx, callerBye
	// the caller's; nil when not seen.
	bye, callerBye *diagnose.SIPTransaction
	// frag is what the capture shows of the 2xx's flow's fragments, for
	// a 2xx that came in them.
	frag *fragmentClues
}

func (r SIPACKMissing) Check(a *diagnose.Analysis) []diagnose.Finding {
	var out []diagnose.Finding
	end := &lazyEnd{a: a, of: sipEnd}
	var clues map[sipUDPFlow]*fragmentClues // made for the first fragmented 2xx
	for _, c := range a.Calls {
		if c == nil {
			continue
		}
		// A snapshot holds an answered call once it has ended; before
		// that its ACK may still come.
		if a.Snapshot && c.Ended.Frame == 0 {
			continue
		}
		var dialog *callRequests // made for the call's first repeated 2xx
		for _, t := range c.Transactions {
			if t == nil || t.Method != "INVITE" || len(t.Requests) == 0 {
				continue
			}
			// Each fork's 2xx needs its own ACK (§13.2.2.4).
			for i := range t.Responses {
				ok := &t.Responses[i]
				if ok.Status < 200 || ok.Status >= 300 || ok.Retransmissions == 0 {
					continue
				}
				if dialog == nil {
					dialog = newCallRequests(c)
				}
				s := newACKStory(dialog, c, t, ok)
				if ok.Fragmented != nil {
					if clues == nil {
						clues = fragmentCluesOf(a)
					}
					s.frag = clues[sipUDPFlow{ok.From, t.Client}]
				}
				if f, found := r.finding(s, end.get(), a.Snapshot); found {
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// callRequests sorts a call's transactions for its ACK stories: a call
// may hold diagnose.MaxCallTransactions of them (a long call refreshed by
// re-INVITEs), and each repeated 2xx looking through all of them is
// quadratic.
type callRequests struct {
	invites map[uint32]int                        // INVITE transactions per CSeq
	acks    map[uint32][]*diagnose.SIPTransaction // ACKs sent, per CSeq, in order
	byes    []*diagnose.SIPTransaction            // BYEs sent, in order
}

func newCallRequests(c *diagnose.Call) *callRequests {
	cr := &callRequests{invites: map[uint32]int{}, acks: map[uint32][]*diagnose.SIPTransaction{}}
	for _, t := range c.Transactions {
		switch {
		case t == nil:
		case t.Method == "INVITE":
			cr.invites[t.CSeq]++
		case len(t.Requests) == 0:
		case t.Method == "ACK":
			cr.acks[t.CSeq] = append(cr.acks[t.CSeq], t)
		case t.Method == "BYE":
			cr.byes = append(cr.byes, t)
		}
	}
	return cr
}

func newACKStory(dialog *callRequests, c *diagnose.Call, invite *diagnose.SIPTransaction, ok *diagnose.SIPResponse) *ackStory {
	s := &ackStory{call: c, invite: invite, ok: ok}
	// One INVITE seen on several legs (both sides of a NAT, a B2BUA that
	// keeps the Call-ID) makes one call: each leg's ACK comes from that
	// leg's caller.
	legs := dialog.invites[invite.CSeq]
	for _, t := range dialog.acks[invite.CSeq] {
		if t.ToTag != "" && ok.ToTag != "" && t.ToTag != ok.ToTag {
			continue
		}
		if legs > 1 && t.Client.Addr() != invite.Client.Addr() {
			continue
		}
		s.acks = append(s.acks, t)
		if first := t.Requests[0]; s.firstACK.Frame == 0 || first.Time.Before(s.firstACK.Time) {
			s.firstACK = first
		}
	}
	for _, rr := range ok.Resent {
		if s.firstACK.Frame != 0 && !rr.Time.Before(s.firstACK.Time) {
			s.after++
		} else {
			s.before++
		}
	}
	// Beyond the kept ones only the count is known: they came later
	// still, after the ACK if some kept one already did.
	if extra := ok.Retransmissions - len(ok.Resent); extra > 0 {
		if s.after > 0 {
			s.after += extra
		} else {
			s.before += extra
		}
	}
	for _, t := range dialog.byes {
		if t.Requests[0].Time.Before(ok.Time) {
			continue
		}
		switch from := t.Client.Addr(); {
		case from == ok.From.Addr() && s.bye == nil:
			s.bye = t
		case from == invite.Client.Addr() && s.callerBye == nil:
			s.callerBye = t
		}
	}
	return s
}

// ackVerdict is what the retransmissions and ACKs of a 2xx say.
type ackVerdict int

const (
	ackFine ackVerdict = iota
	ackNoneSeen
	ackLost // ACKs seen, the retransmissions went on
	ackLate // the retransmissions stopped only after a late ACK
)

// verdict also returns how many retransmissions it rests on.
func (s *ackStory) verdict() (ackVerdict, int) {
	switch {
	case len(s.acks) == 0 && s.before >= minUnackedResends:
		return ackNoneSeen, s.before
	case len(s.acks) > 0 && s.after >= minUnackedResends:
		return ackLost, s.after
	case len(s.acks) > 0 && s.before >= minUnackedResends:
		return ackLate, s.before
	}
	return ackFine, 0
}

// gaveUp says whether the callee's BYE came when a UAS stops waiting for
// the ACK, 64*T1 after its 2xx, within a retransmission interval.
func (s *ackStory) gaveUp() bool {
	return s.bye != nil && ackTimedOut(s.bye.Requests[0].Time.Sub(s.ok.Time))
}

func (r SIPACKMissing) finding(s *ackStory, end time.Time, snapshot bool) (diagnose.Finding, bool) {
	v, n := s.verdict()
	if v == ackFine {
		return diagnose.Finding{}, false
	}
	c, t, ok := s.call, s.invite, s.ok
	var ev evidence
	ev.addEndpoint(t.Client)
	ev.addEndpoint(t.Server)
	ev.addEndpoint(ok.From)
	ev.addFrame(firstRequest(t))
	ev.addFrame(ok.FrameRef)
	for _, rr := range ok.Resent {
		ev.addFrame(rr)
	}
	for _, a := range s.acks {
		ev.addEndpoint(a.Server)
		for _, rq := range a.Requests {
			ev.addFrame(rq)
		}
	}
	for _, b := range []*diagnose.SIPTransaction{s.bye, s.callerBye} {
		if b != nil {
			ev.addSIPTransaction(b)
		}
	}

	invite := "INVITE"
	if t.ToTag != "" {
		invite = "re-INVITE" // inside the dialog (§12.2.1.1)
	}
	okText := statusText(ok.Status, ok.Reason)
	var d strings.Builder
	fmt.Fprintf(&d, "The call from %s to %s (Call-ID %s): the callee answered the %s (%s in frame %d at %s, from %s)",
		quoted(c.From), quoted(c.To), quoted(c.CallID), invite, okText, ok.Frame, clock(ok.Time), endpointString(ok.From))
	resends := resendText(ok)
	switch v {
	case ackLate:
		fmt.Fprintf(&d, " and got its ACK only late: it repeated the %s %s before the first ACK in frame %d, %s s after answering, and then stopped.",
			okText, plural(s.before, "time", "times"), s.firstACK.Frame, seconds(s.firstACK.Time.Sub(ok.Time)))
		fmt.Fprintf(&d, " The call survived, but either the caller was slow to acknowledge or its first ACKs were lost before the capture point (a caller acknowledges each copy of the %s, RFC 3261 §13.2.2.4); a callee still without an ACK %s s after answering ends the call.",
			okText, seconds(diagnose.SIPTransactionTimeout))
	default:
		got := "got no ACK"
		if s.gaveUp() {
			got = "never got an ACK"
		}
		fmt.Fprintf(&d, " but %s: it repeated the %s %s", got, okText, resends)
		d.WriteString(", as a callee does until the ACK comes (RFC 3261 §13.3.1.4: T1 doubling up to T2)")
		d.WriteString(endText(s, end, snapshot))
	}
	var misdirected netip.AddrPort
	fragmented, lostInFragments := false, false
	switch {
	case v == ackLost:
		misdirected = s.ackDestinations(&d)
	case v == ackNoneSeen && ok.Fragmented != nil:
		fragmented = true
		lostInFragments = fragmentedAnswerText(&d, &ev, s)
	case v == ackNoneSeen:
		d.WriteString(noACKText(s))
	}

	to := quoted(c.To)
	var title string
	switch {
	case v == ackLate:
		title = fmt.Sprintf("Call to %s: %s acknowledged only after %s", to, okText, plural(s.before, "retransmission", "retransmissions"))
	case s.bye != nil && lostInFragments:
		title = fmt.Sprintf("Call to %s dropped after %s s: %s lost in IP fragments", to, seconds(s.bye.Requests[0].Time.Sub(ok.Time)), okText)
	case s.bye != nil && fragmented:
		title = fmt.Sprintf("Call to %s dropped after %s s: %s, sent in IP fragments, never acknowledged", to, seconds(s.bye.Requests[0].Time.Sub(ok.Time)), okText)
	case s.bye != nil:
		title = fmt.Sprintf("Call to %s dropped after %s s: %s never acknowledged", to, seconds(s.bye.Requests[0].Time.Sub(ok.Time)), okText)
	case lostInFragments:
		title = fmt.Sprintf("Call to %s: %s lost in IP fragments, repeated %s without an ACK", to, okText, plural(ok.Retransmissions, "time", "times"))
	case fragmented:
		title = fmt.Sprintf("Call to %s: %s, sent in IP fragments, repeated %s without an ACK", to, okText, plural(ok.Retransmissions, "time", "times"))
	default:
		title = fmt.Sprintf("Call to %s: %s repeated %s without an ACK", to, okText, plural(ok.Retransmissions, "time", "times"))
	}
	if misdirected.IsValid() {
		title += ", ACK sent to " + endpointString(misdirected)
	}
	filter := callSIPFilter(c, ev.frames)
	if fragmented {
		// The fragments that do not complete a datagram, and the ICMP
		// errors quoting them, carry no Call-ID Wireshark can match.
		filter = "(" + filter + ") || (" + fragmentFilter(ok.From, t.Client, s.frag) + ")"
	}
	f := ev.finding(r, title, d.String(), filter)
	f.Severity = diagnose.Warning
	if v != ackLate && (n >= provenUnackedResends || (s.gaveUp() && n >= minUnackedResends)) {
		f.Severity = diagnose.Error
	}
	return f, true
}

// resendText is "9 times over 27.5 s", counting every retransmission and
// timing the kept ones.
func resendText(ok *diagnose.SIPResponse) string {
	s := plural(ok.Retransmissions, "time", "times")
	if n := len(ok.Resent); n > 0 {
		span := seconds(ok.Resent[n-1].Time.Sub(ok.Time))
		if ok.Retransmissions > n {
			return s + " over at least " + span + " s"
		}
		return s + " over " + span + " s"
	}
	return s
}

// endText tells how the call ended after the unacknowledged 2xx: the
// callee's BYE at the ACK timeout, another BYE, silence, or the end of the
// capture. It starts a clause of the opening sentence and ends it.
func endText(s *ackStory, end time.Time, snapshot bool) string {
	ok := s.ok
	switch {
	case s.bye != nil:
		at := s.bye.Requests[0].Time.Sub(ok.Time)
		out := fmt.Sprintf(", and then ended the call with a BYE in frame %d, %s s after answering", s.bye.Requests[0].Frame, seconds(at))
		if s.gaveUp() {
			out += fmt.Sprintf(": the %s s (64×T1) a callee waits for the ACK before it gives up", seconds(diagnose.SIPTransactionTimeout))
		}
		return out + "."
	case s.callerBye != nil:
		return fmt.Sprintf(". The caller ended the call first, with a BYE in frame %d, %s s after the answer.",
			s.callerBye.Requests[0].Frame, seconds(s.callerBye.Requests[0].Time.Sub(ok.Time)))
	case snapshot:
		return "."
	}
	last := ok.FrameRef
	if n := len(ok.Resent); n > 0 {
		last = ok.Resent[n-1]
	}
	if end.Sub(ok.Time) >= diagnose.SIPTransactionTimeout+sipT2 {
		return fmt.Sprintf(", and then the call just stops: nothing after the last retransmission on record (%s s after answering) in the %s s the capture goes on, not even a BYE.",
			seconds(last.Time.Sub(ok.Time)), seconds(end.Sub(last.Time)))
	}
	return fmt.Sprintf(". The capture ends %s s after the answer, before the %s s a callee waits for the ACK before it ends the call.",
		seconds(end.Sub(ok.Time)), seconds(diagnose.SIPTransactionTimeout))
}

// ackDestinations says where the ACKs that did not stop the
// retransmissions went, and returns the address they went to when it is
// not where the INVITE went (invalid otherwise).
func (s *ackStory) ackDestinations(d *strings.Builder) netip.AddrPort {
	t, ok := s.invite, s.ok
	sends := 0
	var frames []uint64
	var elsewhere netip.AddrPort
	otherTransport := false
	for _, a := range s.acks {
		sends += sipSends(a)
		for _, rq := range a.Requests {
			frames = append(frames, rq.Frame)
		}
		if a.Server != t.Server && a.Server != ok.From && !elsewhere.IsValid() {
			elsewhere = a.Server
		}
		otherTransport = otherTransport || a.Transport != t.Transport
	}
	fmt.Fprintf(d, " The caller did send its ACK, %s (%s; a caller acknowledges each copy of the %s, RFC 3261 §13.2.2.4),",
		plural(sends, "time", "times"), ackFramesText(frames), statusText(ok.Status, ok.Reason))
	if elsewhere.IsValid() || otherTransport {
		d.WriteString(" but")
	}
	switch {
	case elsewhere.IsValid():
		fmt.Fprintf(d, " to %s", endpointString(elsewhere))
		if contact := hostAddr(ok.ContactHost); contact.IsValid() && contact == elsewhere.Addr().Unmap() {
			d.WriteString(", the address in the 200 OK's Contact")
		}
		fmt.Fprintf(d, ", not to %s, where the INVITE went", endpointString(t.Server))
		if ok.From == t.Server {
			d.WriteString(" and the answer came from")
		}
		if otherTransport {
			fmt.Fprintf(d, ", and over %s where the INVITE went over %s", transportWord(s.acks[0].Transport), transportWord(t.Transport))
		}
		d.WriteString(".")
		if isPrivate(elsewhere.Addr()) && !isPrivate(t.Server.Addr()) {
			fmt.Fprintf(d, " %s is a private address, which the caller cannot reach: the callee (or its PBX) is behind a NAT and announces its inside address in the Contact, and nothing on the path (a SIP ALG, an SBC) rewrote it correctly. Fix it on the callee's side: its public (external) address setting, an SBC in front of it, or the NAT's SIP ALG; on the caller's side, a proxy or SBC that replaces a NATed Contact with the address the answer came from works around it.",
				elsewhere.Addr().Unmap())
		} else {
			d.WriteString(" The ACK does not reach the callee there: check that this address is the callee's and is reachable from the caller (a wrong Contact, a firewall in between, or a Record-Route to a proxy that does not forward the ACK).")
		}
		return elsewhere
	case otherTransport:
		fmt.Fprintf(d, " to %s over %s, where the INVITE went over %s: check that the callee listens there for %s.",
			endpointString(s.acks[0].Server), transportWord(s.acks[0].Transport), transportWord(t.Transport), transportWord(s.acks[0].Transport))
	default:
		fmt.Fprintf(d, " to %s, where the INVITE went, yet the callee kept repeating its answer: the ACKs are lost between the capture point and the callee (a firewall or NAT dropping them, or a proxy that does not forward them).",
			endpointString(s.acks[0].Server))
	}
	return netip.AddrPort{}
}

// transportWord names a transport in a sentence: "UDP", "TCP".
func transportWord(t decode.Transport) string { return strings.ToUpper(t.String()) }

// noACKText explains an ACK the capture does not show.
func noACKText(s *ackStory) string {
	ok := s.ok
	out := fmt.Sprintf(" No ACK for it appears in the capture (CSeq %d ACK with this Call-ID, RFC 3261 §13.2.2.4).", s.invite.CSeq)
	if contact := hostAddr(ok.ContactHost); contact.IsValid() && isPrivate(contact) && !isPrivate(ok.From.Addr()) {
		return out + fmt.Sprintf(" The %s's Contact names %s, a private address, though it came from %s: a caller sends its ACK to the Contact (RFC 3261 §12.1.2), where it cannot arrive. The callee (or its PBX) is behind a NAT that left its inside address in the Contact: set its public (external) address, put an SBC in front of it, or fix the NAT's SIP ALG.",
			statusText(ok.Status, ok.Reason), quoted(ok.ContactHost), endpointString(ok.From))
	}
	return out + " Either the caller never sent one (check that the 200 OK reaches it) or the ACK was lost before the capture point: a firewall or NAT dropping it, or an ACK sent to another address or over another transport than the INVITE."
}

// ackFramesText lists frames: "frame 5", "frames 5, 7, 9", "frames 5, 7, …, 23".
func ackFramesText(frames []uint64) string {
	frames = sortedFrames(frames)
	if len(frames) == 1 {
		return fmt.Sprintf("frame %d", frames[0])
	}
	parts := make([]string, 0, len(frames))
	for _, f := range frames {
		parts = append(parts, fmt.Sprint(f))
	}
	if len(parts) > 6 {
		parts = append(parts[:3], "…", parts[len(parts)-1])
	}
	return "frames " + strings.Join(parts, ", ")
}
