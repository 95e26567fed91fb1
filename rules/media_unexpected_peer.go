package rules

import (
	"fmt"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// MediaUnexpectedPeer reports media streams between addresses of which
// neither lies in the profile's peer subnets. Media between two private
// addresses stays on the local network and is not checked. A profile
// without subnets checks nothing.
type MediaUnexpectedPeer struct {
	Profile *Profile
}

func (MediaUnexpectedPeer) ID() string                  { return "media.unexpected-peer" }
func (MediaUnexpectedPeer) Severity() diagnose.Severity { return diagnose.Warning }
func (MediaUnexpectedPeer) Title() string               { return "Media with a peer outside the profile's subnets" }

func (r MediaUnexpectedPeer) Explain() string {
	p := profileOrDefault(r.Profile)
	subnets := "none (the check is off)"
	if len(p.PeerSubnets) > 0 {
		subnets = plural(len(p.PeerSubnets), "subnet", "subnets")
	}
	return "Checks the addresses of every RTP stream against the profile's peer subnets (in the " + p.Name +
		" profile: " + subnets + "): media is expected to be exchanged with the service's media servers. A " +
		"stream neither end of which is in those subnets goes somewhere the firewall rules written for the " +
		"service do not allow (and is dropped where they are enforced), or shows media that took another " +
		"path: direct between endpoints across the internet, through another relay or TURN server, or to an " +
		"outdated server address. Media between two private addresses stays on the local network and is not " +
		"checked."
}

func (r MediaUnexpectedPeer) Check(a *diagnose.Analysis) []diagnose.Finding {
	p := profileOrDefault(r.Profile)
	if len(p.peers) == 0 {
		return nil
	}
	index := map[pairKey]int{}
	var groups [][]*diagnose.Stream
	for _, s := range a.Streams {
		if s == nil {
			continue
		}
		src, dst := s.Src.Addr(), s.Dst.Addr()
		if isPrivate(src) && isPrivate(dst) || p.peerAllowed(src) || p.peerAllowed(dst) {
			continue
		}
		k := unorderedPair(s.Src, s.Dst, s.Transport, "")
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], s)
	}
	var out []diagnose.Finding
	for _, g := range groups {
		out = append(out, r.finding(p, g))
	}
	return out
}

func (r MediaUnexpectedPeer) finding(p *Profile, g []*diagnose.Stream) diagnose.Finding {
	var ev evidence
	var packets uint64
	for _, s := range g {
		addStreamEvidence(&ev, s)
		packets += s.Packets
	}
	s := g[0]
	peer := s.Dst.Addr().Unmap()
	if isPrivate(peer) {
		peer = s.Src.Addr().Unmap()
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s between %s and %s (%s, %s in %s) is exchanged with %s, which is in none of the %s profile's %s",
		capitalize(mediaTypeWord(s.MediaType)), endpointString(s.Src), endpointString(s.Dst), s.Transport,
		counted(int64(packets), "packet", "packets"), plural(len(g), "stream", "streams"), peer, p.Name, plural(len(p.PeerSubnets), "peer subnet", "peer subnets"))
	const shown = 4
	if len(p.PeerSubnets) <= shown {
		fmt.Fprintf(&d, " (%s).", strings.Join(p.PeerSubnets, ", "))
	} else {
		fmt.Fprintf(&d, " (%s, …).", strings.Join(p.PeerSubnets[:shown], ", "))
	}
	d.WriteString(" Firewall rules written for the service do not allow it, and it shows media that took another path: direct between endpoints, through another relay or TURN server, or to an outdated server address.")
	return ev.finding(r, fmt.Sprintf("Media with %s, outside the %s subnets", peer, p.Name), d.String(), diagnose.FilterFlow(s.Src, s.Dst, s.Transport))
}
