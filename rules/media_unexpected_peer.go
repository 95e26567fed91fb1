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
	var groups orderedGroups[pairKey, *diagnose.Stream]
	for _, s := range a.Streams {
		if s == nil {
			continue
		}
		src, dst := s.Src.Addr(), s.Dst.Addr()
		if isPrivate(src) && isPrivate(dst) || p.peerAllowed(src) || p.peerAllowed(dst) {
			continue
		}
		groups.add(unorderedPair(s.Src, s.Dst, s.Transport, ""), s)
	}
	var out []diagnose.Finding
	for _, g := range groups.groups {
		out = append(out, r.finding(p, g))
	}
	return out
}

func (r MediaUnexpectedPeer) finding(p *Profile, g []*diagnose.Stream) diagnose.Finding {
	ev, subject := streamGroup(g)
	s := g[0]
	peer := s.Dst.Addr().Unmap()
	if isPrivate(peer) {
		peer = s.Src.Addr().Unmap()
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s is exchanged with %s, which is in none of the %s profile's %s",
		subject, peer, p.Name, plural(len(p.PeerSubnets), "peer subnet", "peer subnets"))
	const shown = 4
	if len(p.PeerSubnets) <= shown {
		fmt.Fprintf(&d, " (%s).", strings.Join(p.PeerSubnets, ", "))
	} else {
		fmt.Fprintf(&d, " (%s, …).", strings.Join(p.PeerSubnets[:shown], ", "))
	}
	d.WriteString(" Firewall rules written for the service do not allow it, and it shows media that took another path: direct between endpoints, through another relay or TURN server, or to an outdated server address.")
	return ev.finding(r, fmt.Sprintf("Media with %s, outside the %s subnets", peer, p.Name), d.String(), diagnose.FilterFlow(s.Src, s.Dst, s.Transport))
}
