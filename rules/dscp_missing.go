package rules

import (
	"fmt"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// DSCPMissing reports media and SIP flows whose packets do not carry the
// DSCP mark the profile expects for their class (RFC 4594: EF for voice,
// AF41 for interactive video, CS3 for call signalling): one finding per
// flow and direction, with the count of packets per DSCP value.
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
		"profile. One finding per flow and direction, with how many packets carried each value. A flow "+
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

func (r DSCPMissing) Check(a *diagnose.Analysis) []diagnose.Finding {
	p := profileOrDefault(r.Profile)
	var out []diagnose.Finding
	for _, f := range a.Flows {
		if f == nil {
			continue
		}
		want, ok := p.dscpFor(f.Class)
		if !ok {
			continue
		}
		var total uint64
		for _, n := range f.DSCP {
			total += n
		}
		if total == 0 || f.DSCP[want] == total {
			continue
		}
		out = append(out, r.finding(p, f, want, total))
	}
	return out
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
	for v, n := range f.DSCP {
		if n == 0 {
			continue
		}
		counts = append(counts, fmt.Sprintf("%s ×%s", dscpName(v), thousands(n)))
		if v != want {
			others[v] = true
		}
	}
	marked := f.DSCP[want]
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
