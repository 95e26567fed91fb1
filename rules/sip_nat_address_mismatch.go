package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// SIPNATAddressMismatch finds SIP messages that announce an address other
// than the one they came from: a Via sent-by that is not the packet's
// source, or a Contact or SDP c= address that is private while the packet
// came from a public address. That is a user agent behind NAT whose SIP
// nothing rewrote, and the far end will send to the announced address.
//
// Contact and c= are only compared when the announced address is private:
// a proxy forwards requests with the caller's Contact, and media servers
// are often not the signalling host, so a public address that differs from
// the source is normal. The topmost Via is always written by the sender of
// the packet, but only a private (RFC 1918, RFC 6598, ULA, link-local) or
// loopback sent-by is a problem: a host behind a 1:1 NAT configured with
// its external address announces that public address from its private
// one, and responses reach it there.
type SIPNATAddressMismatch struct{}

func (SIPNATAddressMismatch) ID() string                  { return "sip.nat-address-mismatch" }
func (SIPNATAddressMismatch) Severity() diagnose.Severity { return diagnose.Warning }
func (SIPNATAddressMismatch) Title() string               { return "SIP announces an address behind NAT" }

func (SIPNATAddressMismatch) Explain() string {
	return "Compares the addresses a SIP message announces with the address its packet came from: the " +
		"topmost Via sent-by (where responses go), the Contact (where requests to the user agent go) and " +
		"the SDP c= address (where the far end sends media). When the packet came from a public address " +
		"and the message names a private one (RFC 1918, 100.64.0.0/10 carrier-grade NAT, IPv6 ULA), the " +
		"user agent is behind NAT and nothing on the path fixed its SIP. The far end then sends media to " +
		"an address it cannot reach: one-way or no audio, unless it latches on to where media really comes " +
		"from (symmetric RTP, RFC 4961), both sides use ICE, or an SBC relays the media. Responses reach " +
		"the client only if it asks for rport (RFC 3581) or the server fills in received; incoming calls " +
		"reach it only through the registration's flow (RFC 5626 outbound, or the SBC's NAT traversal). " +
		"Fix it at the edge: an SBC or Expressway that anchors media, ICE/STUN on the clients, or the " +
		"phone's NAT settings - not a SIP ALG, which usually makes things worse."
}

// natSighting is one announced address that does not match the source.
type natSighting struct {
	where     string // "Via", "Contact", "SDP c="
	announced netip.Addr
	port      uint16 // the SDP media port, 0 otherwise
	media     string // the SDP media type
	frame     diagnose.FrameRef
	src       netip.AddrPort
	what      string // "REGISTER", "INVITE", "SDP"
}

func (r SIPNATAddressMismatch) Check(a *diagnose.Analysis) []diagnose.Finding {
	var groups orderedGroups[netip.Addr, natSighting]
	add := func(s natSighting) { groups.add(s.src.Addr().Unmap(), s) }
	for _, t := range a.SIPTransactions {
		if t == nil || len(t.Requests) == 0 || !t.Client.IsValid() {
			continue
		}
		src := t.Client.Addr().Unmap()
		if via := hostAddr(t.ViaSentBy); via.IsValid() && via != src && isPrivate(via) {
			add(natSighting{where: "Via", announced: via, frame: t.Requests[0], src: t.Client, what: t.Method})
		}
		if c := hostAddr(t.ContactHost); c.IsValid() && c != src && isPrivate(c) && !isPrivate(src) {
			add(natSighting{where: "Contact", announced: c, frame: t.Requests[0], src: t.Client, what: t.Method})
		}
	}
	for _, c := range a.Calls {
		if c == nil {
			continue
		}
		for _, s := range callSDPs(c) {
			src := s.From.Addr().Unmap()
			if !s.From.IsValid() || isPrivate(src) {
				continue
			}
			for _, m := range sdpMediaAddrs(s) {
				if m.addr != src && isPrivate(m.addr) {
					add(natSighting{where: "SDP c=", announced: m.addr, port: m.port, media: m.media, frame: s.FrameRef, src: s.From, what: "SDP"})
				}
			}
		}
	}
	var out []diagnose.Finding
	for _, g := range groups.groups {
		out = append(out, r.finding(g))
	}
	return out
}

// callSDPs is every SDP of a call: SDPs, or the offer and answer when the
// correlation kept only those.
func callSDPs(c *diagnose.Call) []*diagnose.SDPSeen {
	// Most calls' SDPs all have a session: the rules, which only read
	// what this returns, then read them in place (capped, so an append
	// cannot write into the Analysis) instead of a copy per call.
	if !slices.ContainsFunc(c.SDPs, func(s *diagnose.SDPSeen) bool { return s == nil || s.Session == nil }) && len(c.SDPs) > 0 {
		return c.SDPs[:len(c.SDPs):len(c.SDPs)]
	}
	var out []*diagnose.SDPSeen
	for _, s := range c.SDPs {
		if s != nil && s.Session != nil {
			out = append(out, s)
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, s := range []*diagnose.SDPSeen{c.Offer, c.Answer} {
		if s != nil && s.Session != nil {
			out = append(out, s)
		}
	}
	return out
}

type sdpMediaAddr struct {
	addr  netip.Addr
	port  uint16
	media string
}

// sdpMediaAddrs lists where an SDP asks to receive media: each enabled m=
// section's c= address (media level, else session level) and port.
func sdpMediaAddrs(s *diagnose.SDPSeen) []sdpMediaAddr {
	if s == nil || s.Session == nil {
		return nil
	}
	out := make([]sdpMediaAddr, 0, len(s.Session.Media))
	for _, m := range s.Session.Media {
		if m.Port == 0 {
			continue
		}
		addr := m.Connection
		if !addr.IsValid() {
			addr = s.Session.Connection
		}
		addr = addr.Unmap()
		if !addr.IsValid() || addr.IsUnspecified() {
			continue
		}
		out = append(out, sdpMediaAddr{addr, m.Port, m.Type})
	}
	return out
}

func (r SIPNATAddressMismatch) finding(g []natSighting) diagnose.Finding {
	var ev evidence
	src := g[0].src.Addr().Unmap()
	// In order of first sighting; a NAT in front of a whole site makes
	// tens of thousands of sightings, hence the sets.
	var announced, methods, media []string
	seenAnnounced, seenMethod, seenMedia := map[string]bool{}, map[string]bool{}, map[string]bool{}
	count := map[string]int{}
	for _, s := range g {
		ev.addFrame(s.frame)
		ev.addEndpoint(s.src)
		if a := s.announced.String(); !seenAnnounced[a] {
			seenAnnounced[a] = true
			announced = append(announced, a)
		}
		count[s.where]++
		if s.what != "SDP" && !seenMethod[s.what] {
			seenMethod[s.what] = true
			methods = append(methods, s.what)
		}
		if s.port != 0 {
			m := fmt.Sprintf("%s to %s", mediaTypeWord(s.media), netip.AddrPortFrom(s.announced, s.port))
			if !seenMedia[m] {
				seenMedia[m] = true
				media = append(media, m)
			}
		}
	}
	var d strings.Builder
	fmt.Fprintf(&d, "SIP from %s announces %s", src, strings.Join(announced, ", "))
	var where []string
	for _, w := range []string{"Via", "Contact"} {
		if n := count[w]; n > 0 {
			where = append(where, fmt.Sprintf("in the %s of %s", w, plural(n, "message", "messages")))
		}
	}
	// The methods name the messages of the Via and Contact sightings,
	// so they follow those and not the SDP bodies (which a 200 OK may
	// carry while the Contact was a BYE's).
	if len(where) > 0 && len(methods) > 0 {
		where[len(where)-1] += " (" + strings.Join(methods, ", ") + ")"
	}
	if n := count["SDP c="]; n > 0 {
		where = append(where, "in the SDP c= of "+plural(n, "SDP body", "SDP bodies"))
	}
	d.WriteString(" " + strings.Join(where, ", "))
	fmt.Fprintf(&d, ", not the address its packets came from.")
	anyPrivate := slices.ContainsFunc(g, func(s natSighting) bool { return isPrivate(s.announced) })
	if anyPrivate && !isPrivate(src) {
		d.WriteString(" The sender is behind NAT and nothing on the path rewrote its SIP.")
	} else {
		d.WriteString(" The sender is behind NAT, or sends from another interface than the one it announces.")
	}
	if len(media) > 0 {
		fmt.Fprintf(&d, " The far end will send its media (%s) to an address it cannot reach: expect one-way or no audio unless it latches on to where the media really comes from (symmetric RTP), both sides use ICE, or an SBC relays the media.", strings.Join(media, ", "))
	}
	if count["Via"] > 0 {
		d.WriteString(" Responses follow the Via: they reach the client only if it asks for rport (RFC 3581) or the server answers to the received address.")
	}
	if count["Contact"] > 0 {
		d.WriteString(" Requests to this user agent (incoming calls, re-INVITEs, BYE) go to its Contact: they reach it only through the flow it registered on (RFC 5626 outbound, or an SBC's NAT traversal).")
	}
	var terms []string
	for _, a := range announced {
		terms = append(terms, "sip.Via.sent-by.address == "+wiresharkString(a), "sip.contact.host == "+wiresharkString(a), "sdp.connection_info.address == "+wiresharkString(a))
	}
	// Only the terms for the kinds seen, to keep the filter short.
	terms = slices.DeleteFunc(terms, func(t string) bool {
		return strings.HasPrefix(t, "sip.Via") && count["Via"] == 0 ||
			strings.HasPrefix(t, "sip.contact") && count["Contact"] == 0 ||
			strings.HasPrefix(t, "sdp.") && count["SDP c="] == 0
	})
	filter := addrFilter("src", src) + " && sip && (" + strings.Join(terms, " || ") + ")"
	title := fmt.Sprintf("SIP from %s announces %s (NAT)", src, strings.Join(announced, ", "))
	return ev.finding(r, title, d.String(), filter)
}
