package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// MediaUnreachable finds RTP streams whose packets (or their RTCP) drew
// ICMP or ICMPv6 destination-unreachable errors while the call was up:
// media sent to a port nobody listens on, or refused by a firewall.
type MediaUnreachable struct{}

func (MediaUnreachable) ID() string                      { return "media.unreachable" }
func (MediaUnreachable) Severity() diagnose.Severity     { return diagnose.Error }
func (MediaUnreachable) Severities() []diagnose.Severity { return warningOrError() }
func (MediaUnreachable) Title() string                   { return "Media answered by ICMP unreachable" }

func (MediaUnreachable) Explain() string {
	return "Checks RTP streams whose packets, or their RTCP, drew ICMP or ICMPv6 destination-unreachable errors " +
		"(the errors quote the packet, so they are tied to the stream by its 5-tuple and SSRC). " +
		"\"Communication administratively prohibited\" (ICMP type 3 code 9, 10 or 13; ICMPv6 type 1 code 1) means " +
		"a firewall or router ACL refuses the media: an error. A port unreachable from the destination itself means " +
		"the host is up but nothing listens on that port: the far end hung up or moved its media, or its SDP " +
		"announced a port it never opened; an error when the errors run from the start of the stream to its end or " +
		"quote nearly all of its packets (ICMP is rate-limited, so fewer errors than packets is usual), else a " +
		"warning. Errors that start within a second of the call's BYE (or its final response) after media flowed " +
		"are the BYE crossing the last packets and are not reported; neither are errors in the last second of a " +
		"stream no signalling ties to a call. The filter selects exactly the ICMP packets counted."
}

// icmpCallEndSlack is how long before a call's end (its BYE) errors may
// start and still be the hang-up: a phone may close its media port a
// moment before its BYE leaves, and packets in flight reach the closed
// port after.
const icmpCallEndSlack = time.Second

// icmpSpanSlack is how close to a stream's first and last packets its
// errors must start and end for the whole stream to count as refused.
const icmpSpanSlack = 2 * time.Second

func (r MediaUnreachable) Check(a *diagnose.Analysis) []diagnose.Finding {
	var out []diagnose.Finding
	for _, s := range a.Streams {
		if s == nil || s.ICMP == nil || s.ICMP.Errors == 0 || endOfMedia(s) {
			continue
		}
		out = append(out, r.finding(s))
	}
	return out
}

// callEnd is when a call ended, and how: its BYE, or the final response
// of a call that failed or was cancelled; zero while it goes on.
func callEnd(c *diagnose.Call) (diagnose.FrameRef, string) {
	if c.Ended.Frame != 0 {
		return c.Ended, "BYE"
	}
	if c.Outcome != "failed" && c.Outcome != "cancelled" {
		return diagnose.FrameRef{}, ""
	}
	for i := len(c.Transactions) - 1; i >= 0; i-- {
		t := c.Transactions[i]
		if t != nil && t.Method == "INVITE" && t.Final >= 0 && t.Final < len(t.Responses) {
			f := t.Responses[t.Final]
			return f.FrameRef, fmt.Sprintf("final response (%d)", f.Status)
		}
	}
	return diagnose.FrameRef{}, ""
}

// endOfMedia tells errors that are how media ends, not a problem: they
// start within icmpCallEndSlack of the call's end (the BYE crossing the
// last packets: the side that hung up closed its port while the other's
// packets were on their way), or, for a stream no call explains, in its
// last second; in both cases after media flowed for a while without
// errors, so that a short call whose media was refused from the start is
// still reported.
func endOfMedia(s *diagnose.Stream) bool {
	first := s.ICMP.First.Time
	if first.IsZero() {
		return false
	}
	var end time.Time
	if s.Call != nil {
		ref, _ := callEnd(s.Call)
		end = ref.Time
	} else {
		end = s.Last.Time
	}
	if end.IsZero() {
		return false
	}
	start := end.Add(-icmpCallEndSlack)
	return !first.Before(start) && s.First.Time.Before(start)
}

// refusedThroughout tells a stream whose errors ran from its start to
// its end or quote nearly all of its RTP packets: none of its media got
// through.
func refusedThroughout(s *diagnose.Stream) bool {
	r := s.ICMP
	if rtp := r.Errors - r.RTCP; s.Packets > 0 && rtp*10 >= s.Packets*9 {
		return true
	}
	return r.First.Time.Sub(s.First.Time) <= icmpSpanSlack && s.Last.Time.Sub(r.Last.Time) <= icmpSpanSlack
}

func (r MediaUnreachable) finding(s *diagnose.Stream) diagnose.Finding {
	ic := s.ICMP
	var ev evidence
	for _, f := range ic.Frames {
		ev.addFrame(diagnose.FrameRef{Frame: f})
	}
	ev.addFrame(ic.First)
	ev.addFrame(ic.Last)
	ev.addEndpoint(s.Src)
	ev.addEndpoint(s.Dst)

	from := ic.From.Unmap()
	dst := s.Dst.Addr().Unmap()
	fromDst := from == dst
	prohibited := ic.Prohibited > 0
	throughout := refusedThroughout(s)

	var d strings.Builder
	what := "RTP"
	if s.Codec != "" {
		what = s.Codec + " RTP"
	}
	fmt.Fprintf(&d, "%s from %s to %s (SSRC 0x%08x", what, endpointString(s.Src), endpointString(s.Dst), s.SSRC)
	if s.Call != nil {
		fmt.Fprintf(&d, ", call %s", quoted(s.Call.CallID))
	}
	fmt.Fprintf(&d, ") drew %s", plural(int(ic.Errors), "ICMP error", "ICMP errors"))
	if ic.RTCP > 0 {
		fmt.Fprintf(&d, " (%d of them about its RTCP)", ic.RTCP)
	}
	fmt.Fprintf(&d, ": %s (%s type %d code %d)", quoted(ic.Description), icmpName(ic.V6), ic.Type, ic.Code)
	if ic.OtherCodes > 0 {
		fmt.Fprintf(&d, " and %d of other codes", ic.OtherCodes)
	}
	fmt.Fprintf(&d, ", from %s", from)
	if fromDst {
		d.WriteString(", the destination itself")
	} else {
		d.WriteString(", a router or firewall on the way, not the destination")
	}
	if ic.OtherSenders > 0 {
		fmt.Fprintf(&d, " (%d from other addresses)", ic.OtherSenders)
	}
	d.WriteString(". ")
	port := fmt.Sprintf("%s port %d", strings.ToUpper(transportName(s.Transport)), s.Dst.Port())
	switch {
	case prohibited && fromDst:
		fmt.Fprintf(&d, "The host's own firewall refuses %s: it is up, but its rules do not let this media in.", port)
	case prohibited:
		fmt.Fprintf(&d, "That is a firewall or router ACL saying no: a rule on the path refuses %s to %s, so this media does not get through.", port, dst)
	case ic.PortUnreachable > 0 && fromDst:
		fmt.Fprintf(&d, "The host is up but nothing listens on %s (or, if %s is a NAT, it has no mapping for that port): the far end closed it (hung up, crashed, or moved its media with a re-INVITE), its SDP announced a port it never opened, or its own firewall rejects with port unreachable.", port, dst)
	case ic.PortUnreachable > 0:
		fmt.Fprintf(&d, "Port unreachable from an address other than the destination's: a NAT with no mapping for %s (its binding expired or was never made) or a firewall that rejects with port unreachable.", port)
	default:
		fmt.Fprintf(&d, "A router on the way cannot deliver to %s: no route to it, or the host does not answer ARP/neighbour discovery (it is down, or the SDP address is wrong).", dst)
	}
	fmt.Fprintf(&d, " The errors came from frame %d (%s) to frame %d (%s); the stream sent %s packets from frame %d (%s) to frame %d (%s)",
		ic.First.Frame, clock(ic.First.Time), ic.Last.Frame, clock(ic.Last.Time),
		thousands(s.Packets), s.First.Frame, clock(s.First.Time), s.Last.Frame, clock(s.Last.Time))
	if s.Call != nil {
		if ref, how := callEnd(s.Call); ref.Frame != 0 {
			fmt.Fprintf(&d, ", and the call's %s came at frame %d (%s), after the errors began", how, ref.Frame, clock(ref.Time))
		}
	}
	d.WriteString(".")
	if throughout {
		d.WriteString(" The errors span the whole stream: none of its media got through.")
		if rtp := ic.Errors - ic.RTCP; rtp*2 < s.Packets {
			d.WriteString(" Routers and hosts rate-limit ICMP errors, so fewer errors than packets does not mean the others arrived.")
		}
	}
	switch {
	case prohibited:
		fmt.Fprintf(&d, " Allow UDP from %s to %s (the media port range) in that firewall, or send the media through an SBC or TURN server it allows.", endpointString(s.Src), endpointString(s.Dst))
	case ic.PortUnreachable > 0 && fromDst && !throughout:
		d.WriteString(" Errors in the middle of a call mean the far end stopped listening before the call ended: check its logs for a crash or a re-INVITE the sender missed.")
	case ic.PortUnreachable > 0 && fromDst:
		d.WriteString(" Compare the port in the far end's SDP with the one it listens on (an SBC or ALG rewriting the SDP, or a device announcing the wrong port).")
	}

	title := fmt.Sprintf("Media to %s refused: %s", endpointString(s.Dst), ic.Description)
	if s.Call != nil {
		title += fmt.Sprintf(" (call %s)", quoted(s.Call.CallID))
	}
	f := ev.finding(r, title, d.String(), streamICMPFilter(s))
	if !prohibited && !throughout {
		f.Severity = diagnose.Warning
	}
	return f
}

func icmpName(v6 bool) string {
	if v6 {
		return "ICMPv6"
	}
	return "ICMP"
}

// streamICMPFilter selects the ICMP errors counted on s. Wireshark
// dissects the quoted IP and UDP headers with the same fields as the
// outer ones, so ip.src matches the error's sender or the quoted
// source, and ip.dst the quoted destination or the error's destination
// (the stream's source): together with the sender, the quoted source,
// destination and ports they pin the stream's datagrams.
func streamICMPFilter(s *diagnose.Stream) string {
	ic := s.ICMP
	var f strings.Builder
	typeField, codeField := "icmp.type", "icmp.code"
	unreachable := 3
	if ic.V6 {
		typeField, codeField, unreachable = "icmpv6.type", "icmpv6.code", 1
	}
	if ic.OtherCodes == 0 {
		fmt.Fprintf(&f, "%s == %d && %s == %d", typeField, ic.Type, codeField, ic.Code)
	} else {
		fmt.Fprintf(&f, "%s == %d", typeField, unreachable)
		if !ic.V6 {
			f.WriteString(" && icmp.code != 4") // fragmentation needed is not counted
		}
	}
	if ic.OtherSenders == 0 {
		f.WriteString(" && " + addrFilter("src", ic.From))
	}
	fmt.Fprintf(&f, " && %s && %s && ", addrFilter("src", s.Src.Addr()), addrFilter("dst", s.Dst.Addr()))
	ports := func(src, dst uint16) string {
		return fmt.Sprintf("udp.srcport == %d && udp.dstport == %d", src, dst)
	}
	if ic.RTCP == 0 {
		f.WriteString(ports(s.Src.Port(), s.Dst.Port()))
	} else {
		fmt.Fprintf(&f, "((%s) || (%s))", ports(s.Src.Port(), s.Dst.Port()), ports(s.Src.Port()+1, s.Dst.Port()+1))
	}
	return f.String()
}
