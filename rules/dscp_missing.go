package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// DSCPMissing reports media and SIP flows whose packets do not carry the
// DSCP mark the profile expects for their class (RFC 4594: EF for voice,
// AF41 for interactive video, CS3 for call signalling): one finding per
// media flow and direction, and one per address sending SIP, with the
// count of packets per DSCP value.
type DSCPMissing struct {
	Profile *Profile
}

func (DSCPMissing) ID() string                  { return "dscp.missing" }
func (DSCPMissing) Severity() diagnose.Severity { return diagnose.Warning }
func (DSCPMissing) Title() string               { return "Traffic not marked with the expected DSCP" }

func (r DSCPMissing) Explain() string {
	p := profileOrDefault(r.Profile)
	return fmt.Sprintf("Checks the DSCP (the Differentiated Services field of the IP header, RFC 2474) of "+
		"every media and SIP flow against the profile: audio %s, video %s, SIP signalling %s in the %s "+
		"profile. One finding per media flow and direction, and one per address sending SIP (listing its flows), "+
		"with how many packets carried each value. A flow "+
		"marked 0 throughout was either never marked by its sender or re-marked to 0 by a switch, router, "+
		"Wi-Fi access point or VPN between the sender and the capture point (untrusted ports re-mark by "+
		"default on many switches). A flow where some packets carry the mark and others do not was "+
		"re-marked on part of the path or by a policer. Without the mark, voice waits in the same queues as "+
		"bulk traffic: jitter and loss under load. The capture shows the mark where it was taken: capture "+
		"next to the sender to tell its fault from the network's. A capture that holds both sides of a box "+
		"(tcpdump -i any on a router or firewall, or one tap on each side) shows each RTP packet twice: "+
		"when the copy that reached the box carries the mark and the copy leaving it does not, the finding "+
		"says that box re-marks them. Taken on a router or firewall that forwards without NAT (tcpdump -i any), "+
		"both copies share one 5-tuple: the Linux cooked header tells them apart (arriving or leaving, and the "+
		"interface index with LINUX_SLL2), each copy is counted on its own, and the finding names the interfaces "+
		"between which the box re-marks. SIP likewise: the two copies of each SIP message, the same bytes seen at two "+
		"points of the box, are paired, and when every one lacking the mark is a copy leaving the box of one that "+
		"arrived marked, the finding names the box instead of the sender.",
		dscpSetting(p.DSCP.Audio), dscpSetting(p.DSCP.Video), dscpSetting(p.DSCP.Signalling), p.Name)
}

func dscpSetting(v int) string {
	if v < 0 {
		return "not checked"
	}
	return dscpName(v)
}

// signallingGroup is the SIP flows one address sends unmarked: a user
// agent or proxy marks (or fails to mark) all its signalling alike, so a
// busy one would otherwise fill the report with one finding per peer.
// The flows a capturing box re-marks between the same two of its points
// (sipCopyIndex) make a group of their own: box names the points, and
// copies holds each flow's copies, as flows does the flows.
type signallingGroup struct {
	src    netip.Addr
	class  string
	flows  []*diagnose.Flow
	box    string
	copies [][]*diagnose.SIPCopies
}

func (r DSCPMissing) Check(a *diagnose.Analysis) []diagnose.Finding {
	p := profileOrDefault(r.Profile)
	var out []diagnose.Finding
	// Media stays one finding per stream direction: each is its own
	// sender's and its own path's. SIP is grouped by sender address,
	// placed where its first flow would have been.
	type slot struct {
		finding int // index into out when group is nil
		group   *signallingGroup
	}
	var order []slot
	type groupKey struct {
		src   netip.Addr
		class string
		box   string
	}
	groups := map[groupKey]*signallingGroup{}
	var tw *twinIndex   // built when the first media flow fails
	var sc sipCopyIndex // built when the first SIP flow fails, if the capture paired SIP copies
	for _, f := range a.Flows {
		if f == nil {
			continue
		}
		want, ok := p.dscpFor(f.Class)
		if !ok {
			continue
		}
		total := flowPackets(f)
		if total == 0 || f.DSCP.Packets(want) == total {
			continue
		}
		if f.Class != "sip" {
			order = append(order, slot{finding: len(out)})
			if tw == nil {
				tw = newTwinIndex(a.Streams)
			}
			if legs := tw.remarked(f, want); len(legs) > 0 {
				out = append(out, r.remarkedFinding(p, f, want, total, legs))
			} else {
				out = append(out, r.finding(p, f, want, total))
			}
			continue
		}
		var copies []*diagnose.SIPCopies
		if len(a.SIPCopies) > 0 {
			if sc == nil {
				sc = newSIPCopyIndex(a.SIPCopies)
			}
			copies = sc.remarked(f, want)
		}
		k := groupKey{src: f.Src.Addr().Unmap(), class: f.Class}
		if len(copies) > 0 {
			k.box = copies[0].Before.CapturePoint() + " → " + copies[0].After.CapturePoint()
		}
		g := groups[k]
		if g == nil {
			g = &signallingGroup{src: k.src, class: k.class, box: k.box}
			groups[k] = g
			order = append(order, slot{group: g})
		}
		g.flows = append(g.flows, f)
		g.copies = append(g.copies, copies)
	}
	if len(groups) == 0 {
		return out
	}
	merged := make([]diagnose.Finding, 0, len(order))
	for _, sl := range order {
		switch g := sl.group; {
		case g == nil:
			merged = append(merged, out[sl.finding])
		case g.box != "":
			merged = append(merged, r.routedSignallingFinding(p, g))
		case len(g.flows) == 1:
			f := g.flows[0]
			want, _ := p.dscpFor(f.Class)
			merged = append(merged, r.finding(p, f, want, flowPackets(f)))
		default:
			merged = append(merged, r.groupFinding(p, g))
		}
	}
	return merged
}

func flowPackets(f *diagnose.Flow) uint64 {
	return f.DSCP.Total()
}

// maxGroupFlowsListed is how many of a group's flows the detail spells
// out; the rest are counted.
const maxGroupFlowsListed = 8

// groupFinding is one finding for the SIP flows one address sent without
// the expected mark: each flow with its counts per DSCP value.
func (r DSCPMissing) groupFinding(p *Profile, g *signallingGroup) diagnose.Finding {
	want, _ := p.dscpFor(g.class)
	var ev evidence
	var total, marked uint64
	dissected := true
	var lines, filters []string
	for i, f := range g.flows {
		ev.addFlow(f)
		n := flowPackets(f)
		total += n
		marked += f.DSCP.Packets(want)
		if !sipDissected(f.Src, f.Dst, f.Transport) {
			dissected = false
		}
		filters = append(filters, "("+directionFilter(f.Src, f.Dst, f.Transport)+")")
		if i < maxGroupFlowsListed {
			var counts []string
			for v, c := range f.DSCP.All() {
				counts = append(counts, fmt.Sprintf("%s ×%s", dscpName(v), thousands(c)))
			}
			lines = append(lines, fmt.Sprintf("%s to %s (%s): %s", endpointString(f.Src), endpointString(f.Dst), f.Transport, strings.Join(counts, ", ")))
		}
	}
	if more := len(g.flows) - len(lines); more > 0 {
		lines = append(lines, "and "+counted(int64(more), "more flow", "more flows"))
	}
	src := g.src.String()
	var d strings.Builder
	fmt.Fprintf(&d, "SIP signalling from %s is not marked %s on %s: %s of %s carry it (%s).",
		src, dscpName(want), counted(int64(len(g.flows)), "flow", "flows"), thousands(marked), counted(int64(total), "packet", "packets"), strings.Join(lines, "; "))
	if marked == 0 {
		d.WriteString(" The SIP user agent or proxy does not mark its signalling, or a switch or router between it and the capture point re-marks it.")
	} else {
		d.WriteString(" Something on the path re-marks part of the signalling, or the sender marks only some of its flows.")
	}
	fmt.Fprintf(&d, " The %s profile expects %s for SIP signalling.", p.Name, dscpName(want))
	filter := fmt.Sprintf("%s != %d && %s", dscpField(g.src), want, addrFilter("src", g.src))
	switch {
	case dissected:
		filter += " && sip"
	case len(filters) <= maxFilterIDs:
		filter += " && (" + strings.Join(filters, " || ") + ")"
	}
	title := fmt.Sprintf("SIP signalling from %s not marked %s (%s)", src, dscpName(want), counted(int64(len(g.flows)), "flow", "flows"))
	return ev.finding(r, title, d.String(), filter)
}

func (r DSCPMissing) finding(p *Profile, f *diagnose.Flow, want int, total uint64) diagnose.Finding {
	var ev evidence
	ev.addFlow(f)
	what := f.Class
	if what == "sip" {
		what = "SIP signalling"
	}
	counts := dscpCounts(&f.DSCP)
	others := map[int]bool{}
	for v := range f.DSCP.All() {
		if v != want {
			others[v] = true
		}
	}
	marked := f.DSCP.Packets(want)
	var d strings.Builder
	where := fmt.Sprintf("%s from %s to %s (%s)", what, endpointString(f.Src), endpointString(f.Dst), f.Transport)
	if f.Allocation != nil {
		where += fmt.Sprintf(", relayed through the TURN server %s", endpointString(f.Allocation.Server))
	}
	switch {
	case marked == 0 && len(others) == 1:
		var v int
		for k := range others {
			v = k
		}
		fmt.Fprintf(&d, "%s is marked %s instead of %s on all %s.", capitalize(where), dscpName(v), dscpName(want), counted(int64(total), "packet", "packets"))
	case marked == 0:
		fmt.Fprintf(&d, "%s never carries %s: %s.", capitalize(where), dscpName(want), strings.Join(counts, ", "))
	default:
		fmt.Fprintf(&d, "%s is re-marked: %s of %s carry %s and the rest do not (%s). Something on the path re-marks part of the traffic, or a policer demotes what exceeds its rate.",
			capitalize(where), thousands(marked), counted(int64(total), "packet", "packets"), dscpName(want), strings.Join(counts, ", "))
	}
	if marked == 0 {
		if f.Class == "sip" {
			d.WriteString(" The SIP user agent or proxy does not mark its signalling, or a switch or router between it and the capture point re-marks it.")
		} else {
			d.WriteString(" A switch or router between the sender and the capture point re-marks it, or the endpoint does not mark it (check its QoS settings and whether the switch port trusts DSCP).")
		}
	}
	fmt.Fprintf(&d, " The %s profile expects %s for %s.", p.Name, dscpName(want), what)
	filter := fmt.Sprintf("%s != %d && %s", dscpField(f.Src.Addr()), want, directionFilter(f.Src, f.Dst, f.Transport))
	if f.Class == "sip" && sipDissected(f.Src, f.Dst, f.Transport) {
		filter += " && sip"
	}
	title := fmt.Sprintf("%s from %s to %s not marked %s", capitalize(what), endpointString(f.Src), endpointString(f.Dst), dscpName(want))
	return ev.finding(r, title, d.String(), filter)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// maxTwinGap is how far apart the first packets of two copies of one RTP
// stream may be: a box forwards a packet within a fraction of a
// millisecond, a busy one within a few.
const maxTwinGap = 10 * time.Millisecond

// remarkedLeg is one stream of a flow failing its mark, and the copy of
// the same packets seen before the box that changed the mark.
type remarkedLeg struct {
	outside, inside *diagnose.Stream
}

// twinIndex finds a media flow's streams and the other copies of each.
type twinIndex struct {
	byFlow map[twinFlowKey][]*diagnose.Stream
	// copies holds the streams that carried one mark on every packet, by
	// what a copy of a stream shares with it and that mark, each list in
	// order of first packet: SIPp plays one RTP capture in every call, so
	// up to MaxStreams streams share an SSRC, sequence numbers and
	// timestamps, and only those starting within maxTwinGap of a stream
	// can be its copy.
	copies map[twinCopyKey][]twinCandidate
}

// twinCopyKey is what a stream and its copy share: the first packet's RTP
// header, and the mark the copy carried on every packet.
type twinCopyKey struct {
	ssrc           uint32
	payloadType    uint8
	firstSeq       uint16
	firstTimestamp uint32
	mark           int
}

// twinCandidate is a stream and its place in Analysis.Streams, which
// decides among copies as the streams' order did.
type twinCandidate struct {
	s     *diagnose.Stream
	order int
}

// twinFlowKey is the key diagnose groups streams into media flows by.
type twinFlowKey struct {
	src, dst   netip.AddrPort
	transport  decode.Transport
	class      string
	allocation *diagnose.Allocation
}

func newTwinIndex(streams []*diagnose.Stream) *twinIndex {
	// Sized for a stream each: nearly every stream is a flow of its own
	// and marked alike throughout.
	tw := &twinIndex{byFlow: make(map[twinFlowKey][]*diagnose.Stream, len(streams)), copies: make(map[twinCopyKey][]twinCandidate, len(streams))}
	for order, s := range streams {
		if s == nil {
			continue
		}
		k := twinFlowKey{src: s.Src, dst: s.Dst, transport: s.Transport, class: s.MediaType, allocation: s.Allocation}
		tw.byFlow[k] = append(tw.byFlow[k], s)
		n := s.DSCP.Total()
		if n == 0 {
			continue
		}
		for mark, packets := range s.DSCP.All() {
			if packets == n {
				ck := twinCopyKey{ssrc: s.SSRC, payloadType: s.PayloadType, firstSeq: s.FirstSeq, firstTimestamp: s.FirstTimestamp, mark: mark}
				tw.copies[ck] = append(tw.copies[ck], twinCandidate{s: s, order: order})
			}
		}
	}
	for _, list := range tw.copies {
		slices.SortStableFunc(list, func(x, y twinCandidate) int { return x.s.First.Time.Compare(y.s.First.Time) })
	}
	return tw
}

// remarked pairs each of f's streams that fails want with a copy of the
// same packets that carried want on every packet and was seen first: the
// same SSRC, payload type, first sequence number and timestamp (a box
// forwarding RTP keeps them; two directions of one call may share an
// SSRC, as SIPp's do, but not the timestamp line), on another 5-tuple
// (a NAT's other side) or on the same one at another point of the
// capturing host (a router captured with tcpdump -i any, forwarding
// without NAT: arriving on one interface, leaving on another), first seen
// at most maxTwinGap earlier. A copy seen later than the unmarked one is
// not claimed: that box would be adding the mark, and the sender's
// packets are unmarked up to it.
func (tw *twinIndex) remarked(f *diagnose.Flow, want int) []remarkedLeg {
	var legs []remarkedLeg
	k := twinFlowKey{src: f.Src, dst: f.Dst, transport: f.Transport, class: f.Class, allocation: f.Allocation}
	for _, s := range tw.byFlow[k] {
		if n := s.DSCP.Total(); n == 0 || s.DSCP.Packets(want) == n {
			continue
		}
		if in := tw.twin(s, want); in != nil {
			legs = append(legs, remarkedLeg{outside: s, inside: in})
		}
	}
	return legs
}

// twin is the copy of s that carried want on every packet and was first
// seen at most maxTwinGap before it, the first of them in
// Analysis.Streams.
func (tw *twinIndex) twin(s *diagnose.Stream, want int) *diagnose.Stream {
	list := tw.copies[twinCopyKey{ssrc: s.SSRC, payloadType: s.PayloadType, firstSeq: s.FirstSeq, firstTimestamp: s.FirstTimestamp, mark: want}]
	from := s.First.Time.Add(-maxTwinGap)
	i, _ := slices.BinarySearchFunc(list, from, func(c twinCandidate, t time.Time) int { return c.s.First.Time.Compare(t) })
	var best twinCandidate
	for ; i < len(list) && !list[i].s.First.Time.After(s.First.Time); i++ {
		c := list[i]
		if best.s != nil && c.order >= best.order {
			continue
		}
		t := c.s
		switch {
		case t == s, t.Src == s.Src && t.Dst == s.Dst && t.Transport == s.Transport && !seenApart(t, s),
			t.Src == s.Dst && t.Dst == s.Src: // the other direction
			continue
		}
		gap := s.First.Time.Sub(t.First.Time)
		if gap < 0 || gap > maxTwinGap || (gap == 0 && t.First.Frame > s.First.Frame) {
			continue
		}
		if n := t.DSCP.Total(); n == 0 || t.DSCP.Packets(want) != n {
			continue
		}
		best = c
	}
	return best.s
}

// seenApart says whether two streams of one 5-tuple and SSRC are two
// copies of the same packets seen at two known points of the capturing
// host (Stream.Direction, Stream.Interface), not one stream split.
func seenApart(a, b *diagnose.Stream) bool {
	known := func(s *diagnose.Stream) bool { return s.Direction != decode.DirectionUnknown || s.Interface != 0 }
	return known(a) && known(b) && (a.Direction != b.Direction || a.Interface != b.Interface)
}

// remarkedFinding is the finding for a flow the capture saw on both sides
// of the box that re-marks it: the sender is cleared, the box is named.
func (r DSCPMissing) remarkedFinding(p *Profile, f *diagnose.Flow, want int, total uint64, legs []remarkedLeg) diagnose.Finding {
	if routed(legs) {
		return r.routedFinding(p, f, want, legs)
	}
	var ev evidence
	ev.addFlow(f)
	counts := dscpCounts(&f.DSCP)
	what := f.Class
	var d strings.Builder
	var filters []string
	for i, leg := range legs {
		in, out := leg.inside, leg.outside
		for _, fr := range in.FirstFrames {
			ev.addFrame(diagnose.FrameRef{Frame: fr})
		}
		ev.addFrame(in.First)
		ev.addFrame(in.Last)
		ev.addEndpoint(in.Src)
		ev.addEndpoint(in.Dst)
		outCounts := dscpCounts(&out.DSCP)
		outMarks := strings.Join(outCounts, ", ")
		if len(outCounts) == 1 {
			for v := range out.DSCP.All() {
				outMarks = dscpName(v)
			}
		}
		if i > 0 {
			d.WriteByte(' ')
		}
		fmt.Fprintf(&d, "The same packets carried %s at %s → %s (%s, %s before the box) and %s at %s → %s (%s after it): the box between re-marks them.",
			dscpName(want), endpointString(in.Src), endpointString(in.Dst), in.Transport,
			counted(int64(in.Packets), "packet", "packets"),
			outMarks, endpointString(out.Src), endpointString(out.Dst),
			counted(int64(out.Packets), "packet", "packets"))
		fmt.Fprintf(&d, " Both are RTP stream SSRC 0x%08x, payload type %d, from sequence number %d and timestamp %d; its first packet is frame %d before the box and frame %d after it, %s later.",
			out.SSRC, out.PayloadType, out.FirstSeq, out.FirstTimestamp, in.First.Frame, out.First.Frame,
			out.First.Time.Sub(in.First.Time))
		filters = append(filters, "("+streamFilter(in)+")", "("+streamFilter(out)+")")
	}
	marked := f.DSCP.Packets(want)
	fmt.Fprintf(&d, " %s from %s to %s (%s): %s of %s marked %s (%s).",
		capitalize(what), endpointString(f.Src), endpointString(f.Dst), f.Transport, thousands(marked),
		counted(int64(total), "packet", "packets"), dscpName(want), strings.Join(counts, ", "))
	d.WriteString(" The sender marks its " + what + "; check the box's QoS policy: whether the interface the packets arrive on trusts DSCP, and what it re-marks on the way out.")
	fmt.Fprintf(&d, " The %s profile expects %s for %s.", p.Name, dscpName(want), what)
	title := fmt.Sprintf("%s from %s to %s not marked %s: re-marked by the box between", capitalize(what), endpointString(f.Src), endpointString(f.Dst), dscpName(want))
	return ev.finding(r, title, d.String(), strings.Join(filters, " || "))
}

// routed says whether every leg is a copy of its stream's packets on the
// same 5-tuple: a capture taken on the box itself, which forwards them
// without NAT.
func routed(legs []remarkedLeg) bool {
	for _, leg := range legs {
		in, out := leg.inside, leg.outside
		if in.Src != out.Src || in.Dst != out.Dst || in.Transport != out.Transport {
			return false
		}
	}
	return true
}

// routedFinding is remarkedFinding for a capture taken on the box that
// re-marks the flow, forwarding it without NAT: each packet shows twice
// on one 5-tuple, and the link layer says where (Linux cooked headers:
// the direction, and with LINUX_SLL2 the interface index). The copies are
// told apart by where they were seen, so the counts are each copy's,
// never the two added up.
func (r DSCPMissing) routedFinding(p *Profile, f *diagnose.Flow, want int, legs []remarkedLeg) diagnose.Finding {
	var ev evidence
	ev.addFlow(f)
	what := f.Class
	var d strings.Builder
	var filters []string
	first := legs[0]
	fmt.Fprintf(&d, "This capture was taken on the box that forwards this %s (tcpdump -i any: the Linux cooked header says where each packet was seen), and that box re-marks it between its interfaces:", what)
	for i, leg := range legs {
		in, out := leg.inside, leg.outside
		ev.addFrame(in.First)
		ev.addFrame(in.Last)
		ev.addFrame(out.First)
		ev.addFrame(out.Last)
		if i > 0 {
			d.WriteString(" Likewise,")
		}
		fmt.Fprintf(&d, " each packet of RTP stream SSRC 0x%08x (payload type %d, from sequence number %d and timestamp %d) shows twice on %s → %s (%s): %s %s (%s) and %s %s (%s).",
			out.SSRC, out.PayloadType, out.FirstSeq, out.FirstTimestamp,
			endpointString(out.Src), endpointString(out.Dst), out.Transport,
			in.CapturePoint(), markedAs(&in.DSCP), strings.Join(dscpCounts(&in.DSCP), ", "),
			out.CapturePoint(), markedAs(&out.DSCP), strings.Join(dscpCounts(&out.DSCP), ", "))
		fmt.Fprintf(&d, " Its first packet is frame %d %s and frame %d %s, %s later.",
			in.First.Frame, in.CapturePoint(), out.First.Frame, out.CapturePoint(), out.First.Time.Sub(in.First.Time))
		filters = append(filters, "("+streamFilter(in)+pointFilter(in)+")", "("+streamFilter(out)+pointFilter(out)+")")
	}
	writeBoxAdvice(&d, p, what, want, first.inside.Interface, first.outside.Interface)
	title := fmt.Sprintf("%s from %s to %s not marked %s: re-marked by the capturing box, %s → %s",
		capitalize(what), endpointString(f.Src), endpointString(f.Dst), dscpName(want), first.inside.CapturePoint(), first.outside.CapturePoint())
	return ev.finding(r, title, d.String(), strings.Join(filters, " || "))
}

// writeBoxAdvice ends a finding about a capturing box that re-marks what
// it forwards, between the interfaces inIf and outIf (0 when the capture
// does not tell, LINUX_SLL).
func writeBoxAdvice(d *strings.Builder, p *Profile, what string, want int, inIf, outIf uint32) {
	inWhere, outWhere := "the interface the packets arrive on", "on their way out"
	if inIf != 0 {
		inWhere = fmt.Sprintf("interface %d", inIf)
	}
	if outIf != 0 {
		outWhere = fmt.Sprintf("on their way out of interface %d", outIf)
	}
	fmt.Fprintf(d, " The sender marks its %s; check the box's QoS policy: whether %s trusts DSCP, and what re-marks the packets %s (on Linux: DSCP or TOS rules in iptables' or nftables' mangle tables, tc).", what, inWhere, outWhere)
	if inIf != 0 || outIf != 0 {
		d.WriteString(" Interfaces are numbered as `ip link` on the box lists them.")
	}
	fmt.Fprintf(d, " The %s profile expects %s for %s.", p.Name, dscpName(want), what)
}

// sipCopyIndex finds the paired copies of a SIP flow's messages
// (diagnose.SIPCopies) by 5-tuple.
type sipCopyIndex map[sipFlowTuple][]*diagnose.SIPCopies

type sipFlowTuple struct {
	src, dst  netip.AddrPort
	transport decode.Transport
}

func newSIPCopyIndex(copies []*diagnose.SIPCopies) sipCopyIndex {
	sc := sipCopyIndex{}
	for _, c := range copies {
		if c == nil {
			continue
		}
		k := sipFlowTuple{src: c.Src, dst: c.Dst, transport: c.Transport}
		sc[k] = append(sc[k], c)
	}
	return sc
}

// remarked is the copies of f's messages that show the capturing box
// re-marking them: every copy seen first (on the way in) carries want,
// some seen again (on the way out) do not. They are returned only when
// they account for every packet of f without want, so that the box is
// named only when it is the whole story: a message its sender left
// unmarked, or one whose copy the capture lacks, leaves the finding to
// the sender's flow as before.
func (sc sipCopyIndex) remarked(f *diagnose.Flow, want int) []*diagnose.SIPCopies {
	var out []*diagnose.SIPCopies
	var unmarkedLeaving uint64
	for _, c := range sc[sipFlowTuple{src: f.Src, dst: f.Dst, transport: f.Transport}] {
		before, after := c.Before.DSCP.Total(), c.After.DSCP.Total()
		if before == 0 || c.Before.DSCP.Packets(want) != before || c.After.DSCP.Packets(want) == after {
			continue
		}
		out = append(out, c)
		unmarkedLeaving += after - c.After.DSCP.Packets(want)
	}
	if unmarkedLeaving != flowPackets(f)-f.DSCP.Packets(want) {
		return nil
	}
	return out
}

// routedSignallingFinding is the finding for SIP flows from one address
// that the capturing box forwards without NAT and re-marks between two
// of its points (signallingGroup.box): each message shows twice on its
// 5-tuple, byte for byte, marked on the way in and not on the way out.
// Counts are each copy's, never the two added up.
func (r DSCPMissing) routedSignallingFinding(p *Profile, g *signallingGroup) diagnose.Finding {
	want, _ := p.dscpFor(g.class)
	const what = "SIP signalling"
	var ev evidence
	var d strings.Builder
	var filters []string
	dissected := true
	first := g.copies[0][0]
	fmt.Fprintf(&d, "This capture was taken on the box that forwards this %s (tcpdump -i any: the Linux cooked header says where each packet was seen), and that box re-marks it between its interfaces:", what)
	listed := 0
	for i, f := range g.flows {
		ev.addFlow(f)
		if !sipDissected(f.Src, f.Dst, f.Transport) {
			dissected = false
		}
		for _, c := range g.copies[i] {
			ev.addFrame(c.Before.First)
			ev.addFrame(c.Before.Last)
			ev.addFrame(c.After.First)
			ev.addFrame(c.After.Last)
			flow := directionFilter(c.Src, c.Dst, c.Transport)
			filters = append(filters, "("+flow+pointFilterAt(c.Before.Direction, c.Before.Interface)+")",
				"("+flow+pointFilterAt(c.After.Direction, c.After.Interface)+")")
			if listed == maxGroupFlowsListed {
				continue
			}
			if listed > 0 {
				d.WriteString(" Likewise,")
			}
			listed++
			fmt.Fprintf(&d, " each of %s from %s to %s (%s) shows twice, byte for byte: %s %s (%s) and %s %s (%s).",
				counted(int64(c.Messages), "SIP message", "SIP messages"), endpointString(c.Src), endpointString(c.Dst), c.Transport,
				c.Before.CapturePoint(), markedAs(&c.Before.DSCP), strings.Join(dscpCounts(&c.Before.DSCP), ", "),
				c.After.CapturePoint(), markedAs(&c.After.DSCP), strings.Join(dscpCounts(&c.After.DSCP), ", "))
			fmt.Fprintf(&d, " The first is frame %d %s and frame %d %s, %s later.",
				c.Before.First.Frame, c.Before.CapturePoint(), c.After.First.Frame, c.After.CapturePoint(), c.After.First.Time.Sub(c.Before.First.Time))
		}
	}
	if more := len(filters)/2 - listed; more > 0 {
		fmt.Fprintf(&d, " Likewise %s.", counted(int64(more), "more flow", "more flows"))
	}
	writeBoxAdvice(&d, p, what, want, first.Before.Interface, first.After.Interface)
	filter := ""
	if len(filters) <= 2*maxFilterIDs {
		filter = strings.Join(filters, " || ")
		if dissected {
			filter = "sip && (" + filter + ")"
		}
	} else {
		filter = fmt.Sprintf("%s != %d && %s", dscpField(g.src), want, addrFilter("src", g.src)) + pointFilterAt(first.After.Direction, first.After.Interface)
		if dissected {
			filter += " && sip"
		}
	}
	from := endpointString(g.flows[0].Src) + " to " + endpointString(g.flows[0].Dst)
	if len(g.flows) > 1 {
		from = fmt.Sprintf("%s (%s)", g.src, counted(int64(len(g.flows)), "flow", "flows"))
	}
	title := fmt.Sprintf("%s from %s not marked %s: re-marked by the capturing box, %s", capitalize(what), from, dscpName(want), g.box)
	return ev.finding(r, title, d.String(), filter)
}

// markedAs words a copy's marks: "marked EF 46" when it carried one,
// "marked" alone before the list of several.
func markedAs(c *diagnose.DSCPCounts) string {
	var marks []int
	for v := range c.All() {
		marks = append(marks, v)
	}
	if len(marks) == 1 {
		return "marked " + dscpName(marks[0])
	}
	return "marked"
}

// pointFilter narrows a stream's display filter to the copy seen at its
// point of the capturing host: Wireshark's sll.ifindex (LINUX_SLL2 only)
// and sll.pkttype (PACKET_OUTGOING 4 leaving, 0-3 arriving), as
// decode.Packet reads them.
func pointFilter(s *diagnose.Stream) string { return pointFilterAt(s.Direction, s.Interface) }

func pointFilterAt(direction decode.Direction, ifindex uint32) string {
	var f string
	if ifindex != 0 {
		f += fmt.Sprintf(" && sll.ifindex == %d", ifindex)
	}
	switch direction {
	case decode.Arriving:
		f += " && sll.pkttype <= 3"
	case decode.Leaving:
		f += " && sll.pkttype == 4"
	}
	return f
}

// dscpCounts lists the marks seen and how often: "EF 46 ×150".
func dscpCounts(c *diagnose.DSCPCounts) []string {
	var out []string
	for v, n := range c.All() {
		out = append(out, fmt.Sprintf("%s ×%s", dscpName(v), thousands(n)))
	}
	return out
}

// addFlow cites a flow: its first frames, its first and last packet and
// its two ends.
func (e *evidence) addFlow(f *diagnose.Flow) {
	for _, fr := range f.Frames {
		e.addFrame(diagnose.FrameRef{Frame: fr})
	}
	e.addFrame(f.First)
	e.addFrame(f.Last)
	e.addEndpoint(f.Src)
	e.addEndpoint(f.Dst)
}
