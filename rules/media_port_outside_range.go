package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// MediaPortOutsideRange reports media streams that use none of the
// profile's media port ranges: neither end's port lies in a range for the
// stream's class. Media relayed through TURN reaches the server on its
// STUN/TURN port, which counts. A profile without ranges checks nothing.
type MediaPortOutsideRange struct {
	Profile *Profile
}

func (MediaPortOutsideRange) ID() string                  { return "media.port-outside-range" }
func (MediaPortOutsideRange) Severity() diagnose.Severity { return diagnose.Warning }
func (MediaPortOutsideRange) Title() string               { return "Media outside the profile's port ranges" }

func (r MediaPortOutsideRange) Explain() string {
	p := profileOrDefault(r.Profile)
	ranges := "none (the check is off)"
	if len(p.MediaPorts) > 0 {
		var s []string
		for _, m := range p.MediaPorts {
			s = append(s, m.Class+" "+portSpan(m.From, m.To))
		}
		ranges = strings.Join(s, ", ")
	}
	return "Checks the ports of every RTP stream against the profile's media port ranges (in the " + p.Name +
		" profile: " + ranges + "). A stream is in policy when the port at either end lies in a range for its " +
		"class (audio, video or any); media relayed through a TURN server on its STUN/TURN port is too. A " +
		"stream outside every range is what a firewall opened only for those ranges drops, and it shows a " +
		"device or app that is not configured as the service expects (a phone with a custom RTP port range, " +
		"an app that fell back to other ports, media that bypassed the SBC or relay)."
}

type pairKey struct {
	a, b      netip.AddrPort
	transport decode.Transport
	class     string
}

// unorderedPair keys both directions of a media exchange alike.
func unorderedPair(src, dst netip.AddrPort, t decode.Transport, class string) pairKey {
	src, dst = unmapped(src), unmapped(dst)
	if dst.Compare(src) < 0 {
		src, dst = dst, src
	}
	return pairKey{src, dst, t, class}
}

func (r MediaPortOutsideRange) Check(a *diagnose.Analysis) []diagnose.Finding {
	p := profileOrDefault(r.Profile)
	if len(p.MediaPorts) == 0 {
		return nil
	}
	var groups orderedGroups[pairKey, *diagnose.Stream]
	for _, s := range a.Streams {
		if s == nil {
			continue
		}
		if p.mediaPortAllowed(s.MediaType, s.Src.Port()) || p.mediaPortAllowed(s.MediaType, s.Dst.Port()) {
			continue
		}
		if s.Allocation != nil && (p.relayPort(s.Src.Port()) || p.relayPort(s.Dst.Port())) {
			continue
		}
		groups.add(unorderedPair(s.Src, s.Dst, s.Transport, s.MediaType), s)
	}
	var out []diagnose.Finding
	for _, g := range groups.groups {
		out = append(out, r.finding(p, g))
	}
	return out
}

func (r MediaPortOutsideRange) finding(p *Profile, g []*diagnose.Stream) diagnose.Finding {
	ev, subject := streamGroup(g)
	s := g[0]
	media := mediaTypeWord(s.MediaType)
	var d strings.Builder
	fmt.Fprintf(&d, "%s uses ports %d and %d, outside the %s profile's media ports for %s (%s).",
		subject, s.Src.Port(), s.Dst.Port(), p.Name, media, p.rangesFor(s.MediaType))
	d.WriteString(" A firewall opened only for those ranges drops this media; the device or app sending it is not configured with the service's port range, or the media bypassed the relay or SBC the profile expects.")
	return ev.finding(r, fmt.Sprintf("%s on ports %d/%d outside the %s port ranges", capitalize(media), s.Src.Port(), s.Dst.Port(), p.Name),
		d.String(), diagnose.FilterFlow(s.Src, s.Dst, s.Transport))
}

// streamGroup cites every stream of g, the streams of one exchange, and
// names the exchange: "Audio between A and B (UDP, 812 packets in 2
// streams)".
func streamGroup(g []*diagnose.Stream) (ev evidence, subject string) {
	var packets uint64
	for _, s := range g {
		addStreamEvidence(&ev, s)
		packets += s.Packets
	}
	s := g[0]
	subject = fmt.Sprintf("%s between %s and %s (%s, %s in %s)",
		capitalize(mediaTypeWord(s.MediaType)), endpointString(s.Src), endpointString(s.Dst), s.Transport,
		counted(int64(packets), "packet", "packets"), plural(len(g), "stream", "streams"))
	return ev, subject
}

// addStreamEvidence cites a stream's first packets and its last.
func addStreamEvidence(ev *evidence, s *diagnose.Stream) {
	for _, f := range s.FirstFrames {
		ev.addFrame(diagnose.FrameRef{Frame: f})
	}
	ev.addFrame(s.First)
	ev.addFrame(s.Last)
	ev.addEndpoint(s.Src)
	ev.addEndpoint(s.Dst)
}
