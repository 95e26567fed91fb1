package rules

import (
	"fmt"
	"net/netip"
	"strings"

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
		"next to the sender to tell its fault from the network's.",
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
type signallingGroup struct {
	src   netip.Addr
	class string
	flows []*diagnose.Flow
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
	}
	groups := map[groupKey]*signallingGroup{}
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
			out = append(out, r.finding(p, f, want, total))
			continue
		}
		k := groupKey{src: f.Src.Addr().Unmap(), class: f.Class}
		g := groups[k]
		if g == nil {
			g = &signallingGroup{src: k.src, class: k.class}
			groups[k] = g
			order = append(order, slot{group: g})
		}
		g.flows = append(g.flows, f)
	}
	if len(groups) == 0 {
		return out
	}
	merged := make([]diagnose.Finding, 0, len(order))
	for _, sl := range order {
		switch g := sl.group; {
		case g == nil:
			merged = append(merged, out[sl.finding])
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
		for _, fr := range f.Frames {
			ev.addFrame(diagnose.FrameRef{Frame: fr})
		}
		ev.addFrame(f.First)
		ev.addFrame(f.Last)
		ev.addEndpoint(f.Src)
		ev.addEndpoint(f.Dst)
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
	for _, fr := range f.Frames {
		ev.addFrame(diagnose.FrameRef{Frame: fr})
	}
	ev.addFrame(f.First)
	ev.addFrame(f.Last)
	ev.addEndpoint(f.Src)
	ev.addEndpoint(f.Dst)
	what := f.Class
	if what == "sip" {
		what = "SIP signalling"
	}
	var counts []string
	others := map[int]bool{}
	for v, n := range f.DSCP.All() {
		counts = append(counts, fmt.Sprintf("%s ×%s", dscpName(v), thousands(n)))
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
