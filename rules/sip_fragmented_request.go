package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/diagnose"
)

// SIPFragmentedRequest finds SIP requests over UDP lost because they were
// larger than the path MTU: the sender's kernel cut each send into IP
// fragments, and something on the path (a firewall, NAT or cloud load
// balancer that does not reassemble) dropped some of them, usually all but
// the first, so the request never arrived whole. RFC 3261 §18.1.1 moves
// requests larger than 1300 bytes, or within 200 bytes of the path MTU, to
// a congestion-controlled transport such as TCP for this reason.
//
// It reports, as errors: a request that timed out as
// sip.transaction-timeout defines it and whose sends were fragmented (or
// drew an ICMP "fragmentation needed"/"packet too big"), which
// sip.transaction-timeout then leaves to it, so that one failure is
// reported once; and, in a capture beside the receiver, datagrams whose
// reassembly never completed and whose first fragment holds a SIP request
// that no send brought whole, or a response: the 200 OK to an INVITE whose
// SDP answer outgrew the path MTU, which a capture beside the caller sees
// as first fragments only and no answer at all (a capture beside the
// callee sees it whole, unacknowledged: sip.ack-missing's, which then
// tells it was fragmented). A fragmented request that was answered is
// reported as info: it worked on this path and would not on one that drops
// fragments. A large request that went unfragmented is not reported: the
// packet proves the path carried it, and many deployments send 1300 to
// 1500-byte INVITEs over UDP without harm.
type SIPFragmentedRequest struct {
	Profile *Profile
}

func (SIPFragmentedRequest) ID() string                      { return "sip.fragmented-request" }
func (SIPFragmentedRequest) Severity() diagnose.Severity     { return diagnose.Error }
func (SIPFragmentedRequest) Severities() []diagnose.Severity { return infoOrError() }
func (SIPFragmentedRequest) Title() string                   { return "SIP message lost in IP fragments" }

func (SIPFragmentedRequest) Explain() string {
	return "Finds SIP requests over UDP too large for one packet (an INVITE with a large SDP: many codecs, " +
		"ICE candidates, a multipart body), which the sender's kernel cut into IP fragments. Firewalls, NATs " +
		"and cloud load balancers often drop IP fragments, usually all but the first, and then the request " +
		"never arrives whole and is never answered. An error when such a request timed out (it replaces " +
		"sip.transaction-timeout for it), or when the capture shows datagrams holding a SIP request whose " +
		"fragments never all arrived (a capture beside the receiver sees first fragments only); the finding " +
		"gives the request's size, its fragments per send, whether all of them reached the capture point, and " +
		"any ICMP \"fragment reassembly time exceeded\" (the receiver got the first fragment and gave up " +
		"waiting for the rest) or \"fragmentation needed\"/\"packet too big\" quoting it. The same for a " +
		"response seen only as first fragments, such as a 200 OK whose large SDP answer never reached the " +
		"caller, which then never sends the ACK (the callee's BYE follows after 32 s). Info when a fragmented " +
		"request was answered: it works on this path and fails on one that drops fragments. RFC 3261 §18.1.1 " +
		"requires requests larger than 1300 bytes, or within 200 bytes of the path MTU, to go over TCP: use " +
		"TCP or TLS, trim the body, or let the firewall pass fragments."
}

// sipUDPFlow is a UDP flow from a SIP client to a server.
type sipUDPFlow struct{ client, server netip.AddrPort }

// fragmentClues is what a capture shows about a flow's IP fragments
// besides the requests that arrived whole: datagrams whose fragments did
// not all arrive, and ICMP errors about fragments quoting the flow.
type fragmentClues struct {
	loss []*decode.FragmentLoss // first fragments seen, ports known
	// lossWithoutFirst are the flow's addresses' datagrams whose first
	// fragment never arrived: no ports, so no telling which flow.
	lossWithoutFirst []*decode.FragmentLoss
	icmp             []*diagnose.ICMPEvent
}

// fragmentCluesOf indexes the capture's fragment losses and fragment
// ICMP errors by UDP flow. Losses without a first fragment go to every
// flow between their addresses.
func fragmentCluesOf(a *diagnose.Analysis) map[sipUDPFlow]*fragmentClues {
	m := make(map[sipUDPFlow]*fragmentClues)
	get := func(k sipUDPFlow) *fragmentClues {
		c := m[k]
		if c == nil {
			c = &fragmentClues{}
			m[k] = c
		}
		return c
	}
	var withoutFirst []*decode.FragmentLoss
	for i := range a.Stats.FragmentLoss {
		l := &a.Stats.FragmentLoss[i]
		switch {
		case l.Protocol != 17:
		case l.WithoutFirst:
			withoutFirst = append(withoutFirst, l)
		default:
			c := get(sipUDPFlow{l.Src, l.Dst})
			c.loss = append(c.loss, l)
		}
	}
	for _, e := range a.ICMPErrors {
		if e != nil && e.Transport == decode.UDP && fragmentICMP(e.Description) {
			c := get(sipUDPFlow{e.Flow[0], e.Flow[1]})
			c.icmp = append(c.icmp, e)
		}
	}
	if len(withoutFirst) > 0 {
		for _, t := range a.SIPTransactions {
			if t != nil && t.Transport == decode.UDP {
				get(sipUDPFlow{t.Client, t.Server})
			}
		}
		for k, c := range m {
			for _, l := range withoutFirst {
				if l.Src.Addr() == k.client.Addr() && l.Dst.Addr() == k.server.Addr() {
					c.lossWithoutFirst = append(c.lossWithoutFirst, l)
				}
			}
		}
	}
	return m
}

// fragmentICMP tells the ICMP errors about fragments (decode's
// descriptions): ICMPv4 type 11 code 1 and ICMPv6 type 3 code 1, the
// receiver gave up reassembling; ICMPv4 type 3 code 4 and ICMPv6 type 2,
// a link on the way needs smaller packets.
func fragmentICMP(description string) bool {
	return description == reassemblyTimeExceeded || tooBig(description)
}

const reassemblyTimeExceeded = "fragment reassembly time exceeded"

func tooBig(description string) bool {
	return description == "fragmentation needed" || description == "packet too big"
}

// lostInFragments says whether a request that was never answered is
// sip.fragmented-request's to report rather than
// sip.transaction-timeout's: over UDP, with sends that came in fragments
// or a path that said they were too big.
func lostInFragments(t *diagnose.SIPTransaction, c *fragmentClues) bool {
	if t.Transport != decode.UDP {
		return false
	}
	if t.Fragmented != nil {
		return true
	}
	return c != nil && slices.ContainsFunc(c.icmp, func(e *diagnose.ICMPEvent) bool { return tooBig(e.Description) })
}

func (r SIPFragmentedRequest) Check(a *diagnose.Analysis) []diagnose.Finding {
	if !mayHaveFragments(a) {
		return nil
	}
	p := profileOrDefault(r.Profile)
	timeout := time.Duration(p.Thresholds.SIPTimeoutS * float64(time.Second))
	end := &lazyEnd{a: a, of: sipEnd}
	clues := fragmentCluesOf(a)
	var lost orderedGroups[sipFlowKey, *diagnose.SIPTransaction]
	var worked orderedGroups[sipUDPFlow, *diagnose.SIPTransaction]
	for _, t := range a.SIPTransactions {
		if t == nil || t.Transport != decode.UDP || len(t.Requests) == 0 {
			continue
		}
		flow := sipUDPFlow{t.Client, t.Server}
		switch {
		case sipTimedOut(t, end, timeout):
			if lostInFragments(t, clues[flow]) {
				lost.add(sipFlowKey{t.Client, t.Server, t.Transport, t.Method}, t)
			}
		case t.Fragmented != nil && (finalResponse(t) != nil || t.Method == "INVITE" && len(t.Responses) > 0):
			worked.add(flow, t)
		}
	}
	var out []diagnose.Finding
	answers := newSIPFlowAnswers(a)
	for _, g := range lost.groups {
		out = append(out, r.lostFinding(answers, g, clues[sipUDPFlow{g[0].Client, g[0].Server}], end.get(), timeout))
	}
	for i := range a.Stats.FragmentLoss {
		l := &a.Stats.FragmentLoss[i]
		h, ok := unseenMessage(a, l)
		switch {
		case !ok:
		case h.status != 0:
			out = append(out, r.unseenResponseFinding(a, l, h, clues[sipUDPFlow{l.Src, l.Dst}]))
		default:
			out = append(out, r.unseenFinding(l, h, clues[sipUDPFlow{l.Src, l.Dst}]))
		}
	}
	for _, g := range worked.groups {
		out = append(out, r.workedFinding(g, clues[sipUDPFlow{g[0].Client, g[0].Server}]))
	}
	return out
}

// mayHaveFragments spares captures without fragments the work: nothing
// reassembled, given up or refused as too big.
func mayHaveFragments(a *diagnose.Analysis) bool {
	return a.Stats.Fragments > 0 || slices.ContainsFunc(a.ICMPErrors, func(e *diagnose.ICMPEvent) bool {
		return e != nil && fragmentICMP(e.Description)
	})
}

// sipHead is what the first fragment of a lost datagram tells of the SIP
// message it carried: a request, or a response (status set) to a request
// of method.
type sipHead struct {
	method, callID string
	cseq           uint32
	status         int
	reason         string
}

// unseenMessage reads the SIP message at the head of datagrams that never
// completed, when no send of it arrived whole: then the capture holds no
// SIP message for it at all. One datagram alone is not enough: a client
// retransmits a request over UDP until it is answered (RFC 3261 Timer A),
// and a callee its 2xx until the ACK comes (§13.3.1.4), so a single loss
// either was followed by a send that got through or came at the very end
// of the capture.
func unseenMessage(a *diagnose.Analysis, l *decode.FragmentLoss) (sipHead, bool) {
	if l.WithoutFirst || l.Protocol != 17 || l.Datagrams < 2 || !sip.LooksLikeSIP(l.Head) {
		return sipHead{}, false
	}
	var m sip.Message
	if m.Parse(l.Head) != nil {
		return sipHead{}, false
	}
	if !m.IsRequest {
		return unseenResponse(a, l, &m)
	}
	h := sipHead{method: diagnoseMethod(m.Method), callID: string(m.CallID), cseq: m.CSeq}
	for _, t := range a.SIPTransactions {
		if t != nil && t.Transport == decode.UDP && t.Client == l.Src && t.Server == l.Dst && t.Method == h.method &&
			(h.callID == "" || t.CallID == h.callID) && (h.cseq == 0 || t.CSeq == h.cseq) {
			return sipHead{}, false
		}
	}
	return h, true
}

// unseenResponse is unseenMessage for a response: unseen when no
// response with its status came whole from the same sender to its
// transaction.
func unseenResponse(a *diagnose.Analysis, l *decode.FragmentLoss, m *sip.Message) (sipHead, bool) {
	h := sipHead{method: diagnoseMethod(m.CSeqMeth), callID: string(m.CallID), cseq: m.CSeq, status: m.StatusCode, reason: string(m.Reason)}
	// The finding names the method in its sentences and advice.
	if h.status < 100 || h.status > 699 || !sipFilterable(h.method) {
		return sipHead{}, false
	}
	if t := responseTxOf(a, l, h); t != nil && slices.ContainsFunc(t.Responses, func(r diagnose.SIPResponse) bool {
		return r.Status == h.status && r.From.Addr() == l.Src.Addr()
	}) {
		return sipHead{}, false
	}
	return h, true
}

// responseTxOf finds the transaction a lost response answers: its
// request went the other way between the same addresses (the response
// goes to the Via's port, not always the request's source port).
func responseTxOf(a *diagnose.Analysis, l *decode.FragmentLoss, h sipHead) *diagnose.SIPTransaction {
	for _, t := range a.SIPTransactions {
		if t != nil && t.Transport == decode.UDP && t.Method == h.method && t.CallID == h.callID && t.CSeq == h.cseq &&
			t.Client.Addr() == l.Dst.Addr() && t.Server.Addr() == l.Src.Addr() {
			return t
		}
	}
	return nil
}

// diagnoseMethod names a method as diagnose.SIPTransaction.Method does.
func diagnoseMethod(b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return string(b)
}

// lostFinding reports requests of one method on one flow that timed out
// and travelled in fragments.
func (r SIPFragmentedRequest) lostFinding(answers *sipFlowAnswers, g []*diagnose.SIPTransaction, c *fragmentClues, end time.Time, timeout time.Duration) diagnose.Finding {
	first := g[0]
	var ev evidence
	sends, fragSends, fragCount, perSend := 0, 0, 0, 0
	var frames []uint64
	for _, t := range g {
		ev.addSIPTransaction(t)
		sends += sipSends(t)
		if f := t.Fragmented; f != nil {
			fragSends += f.Sends
			fragCount += f.Count
			perSend = max(perSend, f.Fragments)
			frames = append(frames, f.Frames...)
		}
	}
	for _, fr := range frames {
		ev.addFrame(diagnose.FrameRef{Frame: fr})
	}
	var d strings.Builder
	if len(g) == 1 {
		fmt.Fprintf(&d, "%s from %s to %s (udp) got no final response", sentence(1, first.Method, ""), endpointString(first.Client), endpointString(first.Server))
		if n := sipSends(first); n > 1 {
			fmt.Fprintf(&d, ": sent %d times, at %s", n, schedule(first.Requests, first.RequestCount))
		}
		d.WriteString(". ")
	} else {
		fmt.Fprintf(&d, "%d %s requests from %s to %s (udp) got no final response (%s in all). ", len(g), first.Method,
			endpointString(first.Client), endpointString(first.Server), plural(sends, "send", "sends"))
	}
	switch {
	case fragSends == 0:
		fmt.Fprintf(&d, "At %s %s went out whole.", sizeRange(g), pick(len(g) == 1, "it", "they"))
	case fragSends == sends && sends == 1:
		fmt.Fprintf(&d, "At %s it is larger than one packet on the path: it went out as %s, and all of them reached this capture point", sizeRange(g), plural(perSend, "IP fragment", "IP fragments"))
	case fragSends == sends && fragCount == perSend*sends:
		fmt.Fprintf(&d, "At %s %s larger than one packet on the path: every send went out as %d IP fragments, and all %d of them reached this capture point", sizeRange(g), pick(len(g) == 1, "it is", "they are"), perSend, fragCount)
	default:
		fmt.Fprintf(&d, "At %s %s larger than one packet on the path: %d of the %d sends went out as IP fragments (%s), and all of those reached this capture point", sizeRange(g), pick(len(g) == 1, "it is", "they are"), fragSends, sends, plural(fragCount, "fragment", "fragments"))
	}
	var loss strings.Builder
	lostBefore := lossText(&loss, &ev, c)
	reassembly := hasReassemblyICMP(c)
	switch {
	case fragSends == 0:
	case lostBefore || reassembly:
		d.WriteString(".")
	default:
		d.WriteString(", so they were lost beyond it, or the answer was.")
	}
	d.WriteString(loss.String())
	icmpText(&d, &ev, c, first.Server, "server")
	switch {
	case reassembly:
		d.WriteString(" Something on the path between drops IP fragments after the first: a firewall, NAT or load balancer.")
	case !lostBefore && fragSends > 0:
		d.WriteString(" Nothing in the capture shows where: a firewall, NAT or load balancer that drops IP fragments, most often all but the first, is the usual cause.")
	}
	if end.Sub(firstRequest(g[len(g)-1]).Time) >= timeout {
		fmt.Fprintf(&d, " The client waited past the %s s transaction timeout (64×T1, RFC 3261 Timer %s).", seconds(timeout), timerName(first.Method))
	} else {
		d.WriteString(" " + lastSendText(g, end, timeout) + ".")
	}
	if n := answers.others(first); n > 0 {
		fmt.Fprintf(&d, " %s answered, so the server is reachable: what is lost is the large request.",
			pick(n == 1, "Another request on the same flow was", fmt.Sprintf("%d other requests on the same flow were", n)))
	}
	d.WriteString(" " + fragmentAdvice)
	title := fmt.Sprintf("SIP %s to %s lost in IP fragments", first.Method, endpointString(first.Server))
	return ev.finding(r, title, d.String(), fragmentFilter(first.Client, first.Server, c))
}

// lossEvidence cites datagrams that never arrived whole: the endpoints
// in the order given (the party the finding is about first), the frames
// of their fragments and the time they span.
func lossEvidence(l *decode.FragmentLoss, first, second netip.AddrPort) evidence {
	var ev evidence
	ev.addEndpoint(first)
	ev.addEndpoint(second)
	for _, fr := range l.Frames {
		ev.addFrame(diagnose.FrameRef{Frame: fr})
	}
	addTime(&ev, l.First)
	addTime(&ev, l.Last)
	return ev
}

// unseenFinding reports datagrams holding a SIP request that never
// arrived whole: a capture beside the receiver, downstream of the box that
// drops fragments.
func (r SIPFragmentedRequest) unseenFinding(l *decode.FragmentLoss, req sipHead, c *fragmentClues) diagnose.Finding {
	ev := lossEvidence(l, l.Src, l.Dst)
	var d strings.Builder
	fmt.Fprintf(&d, "%d datagrams from %s to %s (udp), each carrying a SIP %s", l.Datagrams, endpointString(l.Src), endpointString(l.Dst), req.method)
	if req.callID != "" && sipFilterable(req.callID) {
		fmt.Fprintf(&d, " (Call-ID %s", quoted(req.callID))
		if req.cseq != 0 {
			fmt.Fprintf(&d, ", CSeq %d", req.cseq)
		}
		d.WriteString(")")
	}
	if l.Size > 8 {
		fmt.Fprintf(&d, " of %s", counted(int64(l.Size-8), "byte", "bytes"))
	}
	fmt.Fprintf(&d, " and arriving from %s to %s, reached this capture point incomplete: ", clock(l.First), clock(l.Last))
	if l.Fragments == l.Datagrams {
		d.WriteString("only the first fragment of each arrived, never the rest")
	} else {
		fmt.Fprintf(&d, "%s of them arrived, the first of each among them, never all", plural(int(l.Fragments), "fragment", "fragments"))
	}
	fmt.Fprintf(&d, ". The receiver never got the %s whole, so nothing could answer it, and the sender retransmitted it in vain.", req.method)
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
	icmpText(&d, &ev, c, l.Dst, "server")
	d.WriteString(" Something between the sender and this point drops IP fragments after the first. " + fragmentAdvice)
	title := fmt.Sprintf("SIP %s to %s lost in IP fragments", req.method, endpointString(l.Dst))
	return ev.finding(r, title, d.String(), fragmentFilter(l.Src, l.Dst, c))
}

// workedFinding notes fragmented requests that were answered.
func (r SIPFragmentedRequest) workedFinding(g []*diagnose.SIPTransaction, c *fragmentClues) diagnose.Finding {
	first := g[0]
	var ev evidence
	fragSends, perSend := 0, 0
	for _, t := range g {
		ev.addSIPTransaction(t)
		fragSends += t.Fragmented.Sends
		perSend = max(perSend, t.Fragmented.Fragments)
		for _, fr := range t.Fragmented.Frames {
			ev.addFrame(diagnose.FrameRef{Frame: fr})
		}
	}
	var methods []string
	for _, t := range g {
		if !slices.Contains(methods, t.Method) {
			methods = append(methods, t.Method)
		}
	}
	m := strings.Join(methods, "/")
	var d strings.Builder
	if len(g) == 1 {
		fmt.Fprintf(&d, "%s from %s to %s (udp) of %s went out as %d IP fragments and was answered",
			sentence(1, first.Method, ""), endpointString(first.Client), endpointString(first.Server), sizeRange(g), perSend)
		if f := finalResponse(first); f != nil {
			fmt.Fprintf(&d, " (%s)", statusText(f.Status, f.Reason))
		} else if len(first.Responses) > 0 {
			fmt.Fprintf(&d, " (%s)", statusText(first.Responses[0].Status, first.Responses[0].Reason))
		}
	} else {
		fmt.Fprintf(&d, "%d %s requests from %s to %s (udp) of %s went out in IP fragments (up to %d a send, %s in fragments) and were answered",
			len(g), m, endpointString(first.Client), endpointString(first.Server), sizeRange(g), perSend, plural(fragSends, "send", "sends"))
	}
	d.WriteString(": IP fragments get through on this path.")
	lossText(&d, &ev, c)
	icmpText(&d, &ev, c, first.Server, "server")
	d.WriteString(" A firewall, NAT or load balancer that drops IP fragments, on another path or after a change, would lose such a request whole. RFC 3261 §18.1.1 requires requests larger than 1300 bytes, or within 200 bytes of the path MTU, to go over a congestion-controlled transport such as TCP.")
	title := fmt.Sprintf("SIP %s to %s sent in IP fragments", m, endpointString(first.Server))
	f := ev.finding(r, title, d.String(), "("+fragmentFilter(first.Client, first.Server, c)+") || ("+sipTxsFilter(g, ev.frames)+")")
	f.Severity = diagnose.Info
	return f
}

const fragmentAdvice = "RFC 3261 §18.1.1 requires a request larger than 1300 bytes, or within 200 bytes of the path MTU, to go over a congestion-controlled transport such as TCP: configure the client for TCP or TLS, trim the body (codecs, ICE candidates, multipart parts), or let the firewall pass IP fragments."

// lossText tells, as a sentence of its own, the datagrams on the flow
// that reached the capture point incomplete; it reports false when there
// were none.
func lossText(d *strings.Builder, ev *evidence, c *fragmentClues) bool {
	if c == nil {
		return false
	}
	var withFirst, withoutFirst uint64
	for _, l := range c.loss {
		withFirst += l.Datagrams
		citeLoss(ev, l)
	}
	for _, l := range c.lossWithoutFirst {
		withoutFirst += l.Datagrams
		citeLoss(ev, l)
	}
	if withFirst == 0 && withoutFirst == 0 {
		return false
	}
	var parts []string
	if withFirst > 0 {
		parts = append(parts, fmt.Sprintf("%s reached this capture point with the first fragment and without the rest", plural(int(withFirst), "datagram", "datagrams")))
	}
	if withoutFirst > 0 {
		parts = append(parts, fmt.Sprintf("%s without the first fragment", plural(int(withoutFirst), "datagram", "datagrams")))
	}
	fmt.Fprintf(d, " On the same flow %s: IP fragments were lost before this point.", strings.Join(parts, ", and "))
	return true
}

func citeLoss(ev *evidence, l *decode.FragmentLoss) {
	for _, fr := range l.Frames {
		ev.addFrame(diagnose.FrameRef{Frame: fr})
	}
	addTime(ev, l.First)
	addTime(ev, l.Last)
}

// icmpText tells the ICMP errors about the flow's fragments, naming the
// receiver's host by its role ("server", "caller").
func icmpText(d *strings.Builder, ev *evidence, c *fragmentClues, receiver netip.AddrPort, role string) {
	if c == nil || len(c.icmp) == 0 {
		return
	}
	type kind struct {
		description string
		from        netip.Addr
	}
	var kinds orderedGroups[kind, *diagnose.ICMPEvent]
	for _, e := range c.icmp {
		ev.addFrame(e.FrameRef)
		kinds.add(kind{e.Description, e.From.Unmap()}, e)
	}
	for _, g := range kinds.groups {
		e := g[0]
		from := e.From.Unmap()
		who := from.String()
		if from == receiver.Addr().Unmap() {
			who = "The " + role + "'s host " + who
		}
		fmt.Fprintf(d, " %s sent %s %q quoting it (%s)", who, plural(len(g), "ICMP error", "ICMP errors"), e.Description, framesText(g))
		if e.Description == reassemblyTimeExceeded {
			d.WriteString(": it received the first fragment and gave up waiting for the rest.")
		} else {
			d.WriteString(": a link on the path cannot carry the packets at their size.")
		}
	}
}

func hasReassemblyICMP(c *fragmentClues) bool {
	return c != nil && slices.ContainsFunc(c.icmp, func(e *diagnose.ICMPEvent) bool { return e.Description == reassemblyTimeExceeded })
}

// framesText is "frame 7" or "frames 7, 8 and 11", the first few.
func framesText(g []*diagnose.ICMPEvent) string {
	const shown = 8
	var fs []string
	for i, e := range g {
		if i == shown {
			fs = append(fs, "…")
			break
		}
		fs = append(fs, fmt.Sprint(e.Frame))
	}
	if len(fs) == 1 {
		return "frame " + fs[0]
	}
	return "frames " + strings.Join(fs, ", ")
}

// sizeRange is "2,545 bytes", or "2,545–2,551 bytes" for requests of
// several sizes.
func sizeRange(g []*diagnose.SIPTransaction) string {
	lo, hi := g[0].Size, g[0].Size
	for _, t := range g {
		lo, hi = min(lo, t.Size), max(hi, t.Size)
	}
	if lo == hi {
		return counted(int64(lo), "byte", "bytes")
	}
	return thousands(uint64(lo)) + "–" + counted(int64(hi), "byte", "bytes")
}

// fragmentFilter shows the IP fragments from client to server, and the
// ICMP errors quoting them (the quoted IP header matches too), with the
// errors saying the packets were too big, which quote whole packets.
func fragmentFilter(client, server netip.AddrPort, c *fragmentClues) string {
	src, dst := client.Addr().Unmap(), server.Addr().Unmap()
	var f string
	if src.Is4() {
		f = fmt.Sprintf("%s && %s && (ip.flags.mf == 1 || ip.frag_offset > 0)", addrFilter("src", src), addrFilter("dst", dst))
	} else {
		f = fmt.Sprintf("%s && %s && ipv6.fraghdr", addrFilter("src", src), addrFilter("dst", dst))
	}
	if c != nil && slices.ContainsFunc(c.icmp, func(e *diagnose.ICMPEvent) bool { return tooBig(e.Description) }) {
		if src.Is4() {
			f = fmt.Sprintf("(%s) || (icmp.type == 3 && icmp.code == 4 && %s)", f, addrFilter("dst", src))
		} else {
			f = fmt.Sprintf("(%s) || (icmpv6.type == 2 && %s)", f, addrFilter("dst", src))
		}
	}
	return f
}

func addTime(e *evidence, t time.Time) {
	if t.IsZero() {
		return
	}
	if e.first.IsZero() || t.Before(e.first) {
		e.first = t
	}
	if t.After(e.last) {
		e.last = t
	}
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}
