package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// A response lost in IP fragments: most often the 200 OK to an INVITE,
// whose SDP answer (codecs, ICE candidates) or Record-Route set outgrew the
// path MTU. The caller never gets it, so it never sends the ACK, and the
// callee repeats the 200 until it gives up with a BYE 32 s later. Seen
// from the callee's side the 200 arrives whole and unacknowledged:
// sip.ack-missing reports it and tells it was fragmented
// (fragmentedAnswerText). Seen from the caller's side no response comes
// at all, only first fragments: sip.fragmented-request reports it
// (unseenResponseFinding). One failure, one finding either way.

// responseFragmentAdvice is the fix for a response too large for one
// packet. A response goes back over the transport of its request (RFC
// 3261 §18.2.2), so only the client can move it to TCP; §18.1.1 keeps
// requests 200 bytes below the path MTU so that their responses, which can
// be larger, still fit.
func responseFragmentAdvice(role, method string) string {
	return fmt.Sprintf("Have the %s send its %s over TCP or TLS (a response goes back over the transport its request came on, RFC 3261 §18.2.2, so the sender cannot move it to TCP by itself; §18.1.1 wants TCP for a request larger than 1300 bytes or within 200 bytes of the path MTU, leaving room for a larger response), trim the response (codecs and ICE candidates in the SDP, headers such as Record-Route), or let the firewall pass IP fragments.", role, method)
}

// clientRole names the client of a method in a sentence.
func clientRole(method string) string {
	if method == "INVITE" {
		return "caller"
	}
	return "client"
}

// unseenResponseFinding reports datagrams holding a SIP response that
// never arrived whole: a capture beside the client, downstream of the box
// that drops fragments, sees the request leave and no answer come back.
func (r SIPFragmentedRequest) unseenResponseFinding(a *diagnose.Analysis, l *decode.FragmentLoss, h sipHead, c *fragmentClues) diagnose.Finding {
	ev := lossEvidence(l, l.Dst, l.Src)
	status := statusText(h.status, printableOnly(h.reason))
	role := clientRole(h.method)
	answer := h.method == "INVITE" && h.status >= 200 && h.status < 300
	tx := responseTxOf(a, l, h)
	var call *diagnose.Call
	for _, cl := range a.Calls {
		if cl != nil && h.callID != "" && cl.CallID == h.callID {
			call = cl
			break
		}
	}

	var d strings.Builder
	fmt.Fprintf(&d, "%d datagrams from %s to %s (udp), each carrying a ", l.Datagrams, endpointString(l.Src), endpointString(l.Dst))
	if l.Size > 8 {
		fmt.Fprintf(&d, "%s-byte ", thousands(uint64(l.Size-8)))
	}
	fmt.Fprintf(&d, "SIP %s to %s %s", status, article(h.method), h.method)
	if h.callID != "" && sipFilterable(h.callID) {
		fmt.Fprintf(&d, " (Call-ID %s", quoted(h.callID))
		if h.cseq != 0 {
			fmt.Fprintf(&d, ", CSeq %d", h.cseq)
		}
		d.WriteString(")")
	}
	fmt.Fprintf(&d, " and arriving from %s to %s, reached this capture point incomplete: ", clock(l.First), clock(l.Last))
	if l.Fragments == l.Datagrams {
		d.WriteString("only the first fragment of each arrived, never the rest.")
	} else {
		fmt.Fprintf(&d, "%s of them arrived, the first of each among them, never all.", plural(int(l.Fragments), "fragment", "fragments"))
	}
	fmt.Fprintf(&d, " The %s never got the %s whole", role, status)
	if answer {
		d.WriteString(", so it never sent the ACK a 2xx asks for (RFC 3261 §13.2.2.4)")
	}
	if tx != nil {
		ev.addSIPTransaction(tx)
		fmt.Fprintf(&d, ": its %s (", tx.Method)
		if n := sipSends(tx); n > 1 {
			fmt.Fprintf(&d, "sent %d times, %s", n, ackFramesText(requestFrames(tx)))
		} else {
			fmt.Fprintf(&d, "frame %d", firstRequest(tx).Frame)
		}
		d.WriteString(") got " + throughText(tx, h.status))
	}
	d.WriteString(".")
	if answer {
		d.WriteString(" The callee repeated its " + status + ", as a callee does until the ACK comes (RFC 3261 §13.3.1.4: T1 doubling up to T2)")
		if bye := calleeBye(call, l); bye != nil {
			ev.addSIPTransaction(bye)
			after := bye.Requests[0].Time.Sub(l.First)
			fmt.Fprintf(&d, ", and ended the call with a BYE in frame %d, %s s after the first copy", bye.Requests[0].Frame, seconds(after))
			if ackTimedOut(after) {
				fmt.Fprintf(&d, ": the %s s (64×T1) a callee waits for the ACK before it gives up", seconds(diagnose.SIPTransactionTimeout))
			}
		}
		d.WriteString(".")
	}
	if c != nil {
		var n uint64
		for _, o := range c.lossWithoutFirst {
			n += o.Datagrams
			citeLoss(&ev, o)
		}
		if n > 0 {
			fmt.Fprintf(&d, " Between the same addresses %s arrived without the first fragment.", plural(int(n), "datagram", "datagrams"))
		}
	}
	icmpText(&d, &ev, c, l.Dst, role)
	d.WriteString(" Something between the sender and this point drops IP fragments after the first. " + responseFragmentAdvice(role, h.method))

	title := fmt.Sprintf("SIP %s from %s lost in IP fragments", status, endpointString(l.Src))
	filter := fragmentFilter(l.Src, l.Dst, c)
	if call != nil {
		title = fmt.Sprintf("Call to %s: %s lost in IP fragments", quoted(call.To), status)
		if sipFilterable(call.CallID) {
			filter = "(" + filter + ") || " + callIDFilter(call.CallID)
		}
	}
	return ev.finding(r, title, d.String(), filter)
}

// article is "an" before a vowel, "a" otherwise.
func article(word string) string {
	if word != "" && strings.ContainsRune("AEIOUaeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func requestFrames(t *diagnose.SIPTransaction) []uint64 {
	out := make([]uint64, 0, len(t.Requests))
	for _, rq := range t.Requests {
		out = append(out, rq.Frame)
	}
	return out
}

// throughText tells what the responses of a transaction that did arrive
// were, but the lost one: "only 100 Trying and 180 Ringing through".
func throughText(t *diagnose.SIPTransaction, lost int) string {
	var got []string
	for _, rs := range t.Responses {
		if rs.Status != lost {
			got = append(got, statusText(rs.Status, rs.Reason))
		}
	}
	switch len(got) {
	case 0:
		return "no response through"
	case 1:
		return "only " + got[0] + " through"
	}
	return "only " + strings.Join(got[:len(got)-1], ", ") + " and " + got[len(got)-1] + " through"
}

// calleeBye is the first BYE of the call from the sender of the lost
// answer after its first copy.
func calleeBye(c *diagnose.Call, l *decode.FragmentLoss) *diagnose.SIPTransaction {
	if c == nil {
		return nil
	}
	for _, t := range c.Transactions {
		if t != nil && t.Method == "BYE" && len(t.Requests) > 0 && t.Client.Addr() == l.Src.Addr() && !t.Requests[0].Time.Before(l.First) {
			return t
		}
	}
	return nil
}

// ackTimedOut says whether a callee's BYE this long after its 2xx came
// when a UAS stops waiting for the ACK, 64*T1, within a retransmission
// interval.
func ackTimedOut(after time.Duration) bool {
	return after >= diagnose.SIPTransactionTimeout-sipT2 && after <= diagnose.SIPTransactionTimeout+2*sipT2
}

// printableOnly keeps a header value read from a lost datagram only when
// it is short printable ASCII: it goes into the finding's text as is.
func printableOnly(s string) string {
	if len(s) > 64 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return ""
		}
	}
	return s
}

// fragmentedAnswerText explains an unacknowledged 2xx that went out in IP
// fragments, for sip.ack-missing: the caller never got it whole, so no
// ACK could come. It reports whether the capture proves the loss (the
// caller's host gave up reassembling it, or fragments of the flow went
// missing before the capture point).
func fragmentedAnswerText(d *strings.Builder, ev *evidence, s *ackStory) bool {
	ok, f, c := s.ok, s.ok.Fragmented, s.frag
	okText := statusText(ok.Status, ok.Reason)
	for _, fr := range f.Frames {
		ev.addFrame(diagnose.FrameRef{Frame: fr})
	}
	sends := ok.Retransmissions + 1
	fmt.Fprintf(d, " No ACK for it appears in the capture, and the %s itself is why: at %s it is larger than one packet on the path", okText, counted(int64(ok.Size), "byte", "bytes"))
	if f.Sends == sends && f.Count == f.Fragments*sends {
		fmt.Fprintf(d, ", and every copy went out as %d IP fragments, all %d of which reached this capture point.", f.Fragments, f.Count)
	} else {
		fmt.Fprintf(d, ", and %d of its %d copies went out as IP fragments (%s).", f.Sends, sends, plural(f.Count, "fragment", "fragments"))
	}
	lossBefore := lossText(d, ev, c)
	icmpText(d, ev, c, s.invite.Client, "caller")
	proven := lossBefore || hasReassemblyICMP(c)
	if proven {
		fmt.Fprintf(d, " So the caller never got the %s whole, and a caller acknowledges only the 2xx it receives (RFC 3261 §13.2.2.4): something on the path drops IP fragments after the first (a firewall, NAT or load balancer).", okText)
	} else {
		fmt.Fprintf(d, " Nothing in the capture shows where they were lost, but a caller acknowledges only the 2xx it receives (RFC 3261 §13.2.2.4), and a firewall, NAT or load balancer that drops IP fragments, most often all but the first, loses a fragmented %s whole.", okText)
	}
	d.WriteString(" " + responseFragmentAdvice("caller", "INVITE"))
	return proven
}
