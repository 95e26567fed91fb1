package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// SIPALGSuspected looks for the marks a SIP ALG (or another middlebox that
// rewrites SIP) leaves: an SDP whose o= and c= addresses disagree in the
// way only a partial rewrite explains, and a Content-Length that no longer
// matches the body. It says "suspected": an SBC rewrites SIP on purpose,
// and a user agent that learnt its public address with STUN may write it
// in c= only.
//
// A private address in the Call-ID is never evidence on its own: the
// Call-ID is an opaque identifier (RFC 3261 §8.1.1.4) that many user
// agents build from a local address, and nothing needs to rewrite it. It
// only supports an o=/c= disagreement or a Content-Length mismatch from
// the same source.
type SIPALGSuspected struct{}

func (SIPALGSuspected) ID() string                  { return "sip.alg-suspected" }
func (SIPALGSuspected) Severity() diagnose.Severity { return diagnose.Warning }
func (SIPALGSuspected) Title() string               { return "SIP rewritten by a middlebox (SIP ALG?)" }

func (SIPALGSuspected) Explain() string {
	return "Looks for the marks a SIP ALG leaves on the messages it rewrites. In an SDP body, the o= line " +
		"(who created the session) and the c= line (where to send media) normally name the same host; when " +
		"one of them is a private address and the other is the public address the packet came from, " +
		"something between the phone and the capture point replaced one but not the other - typically a " +
		"router or firewall with SIP ALG (\"SIP fixup\", \"SIP helper\", \"SIP inspection\") enabled. A " +
		"Content-Length that does not match the body of a UDP message means a body was rewritten without " +
		"fixing its length, which makes the far end misread or reject the message. ALGs are a common cause " +
		"of one-way audio, calls dropping after 30 s, failed registrations and broken TLS/SRTP (which they " +
		"cannot read at all). Turn SIP ALG off on routers and firewalls on the path when the phones or an " +
		"SBC already handle NAT. An SBC or a user agent using STUN can produce the same SDP on purpose: " +
		"check what is on the path before changing it."
}

type algSighting struct {
	frame    diagnose.FrameRef
	src      netip.AddrPort
	origin   netip.Addr // SDP evidence: o= and c=
	conn     netip.Addr
	callID   string
	lengthOf string // Content-Length evidence: "INVITE request", "200 response"
	callIDOf string // Call-ID evidence: the private address in the Call-ID
}

func (r SIPALGSuspected) Check(a *diagnose.Analysis) []diagnose.Finding {
	var groups orderedGroups[netip.Addr, algSighting]
	add := func(s algSighting) { groups.add(s.src.Addr().Unmap(), s) }
	for _, c := range a.Calls {
		if c == nil {
			continue
		}
		for _, s := range callSDPs(c) {
			if o, conn, ok := partialRewrite(s); ok {
				add(algSighting{frame: s.FrameRef, src: s.From, origin: o, conn: conn, callID: c.CallID})
			}
		}
	}
	callIDs := map[string]bool{}
	for _, t := range a.SIPTransactions {
		if t == nil {
			continue
		}
		if addr, ok := privateCallIDHost(t); ok && !callIDs[t.CallID] {
			callIDs[t.CallID] = true
			add(algSighting{frame: t.Requests[0], src: t.Client, callID: t.CallID, callIDOf: addr.String()})
		}
		if t.ContentLengthMismatch && len(t.Requests) > 0 {
			add(algSighting{frame: t.Requests[0], src: t.Client, callID: t.CallID, lengthOf: t.Method + " request"})
		}
		for _, resp := range t.Responses {
			if resp.ContentLengthMismatch {
				add(algSighting{frame: resp.FrameRef, src: resp.From, callID: t.CallID, lengthOf: fmt.Sprintf("%d response", resp.Status)})
			}
		}
	}
	var out []diagnose.Finding
	for _, g := range groups.groups {
		if g[0].src.IsValid() && slices.ContainsFunc(g, func(s algSighting) bool { return s.callIDOf == "" }) {
			out = append(out, r.finding(g))
		}
	}
	return out
}

// privateCallIDHost reports a request whose Call-ID ends in a private
// address (as many user agents write it: "1-2038@10.0.1.10") while its Via
// sent-by and Contact both name the public address the packet came from: a
// user agent behind NAT whose addresses were rewritten on the way, and the
// Call-ID, which no one rewrites, still tells where it really is.
func privateCallIDHost(t *diagnose.SIPTransaction) (netip.Addr, bool) {
	if len(t.Requests) == 0 || !t.Client.IsValid() || t.ToTag != "" {
		return netip.Addr{}, false
	}
	src := t.Client.Addr().Unmap()
	at := strings.LastIndexByte(t.CallID, '@')
	if at < 0 || isPrivate(src) {
		return netip.Addr{}, false
	}
	host := hostAddr(t.CallID[at+1:])
	if !host.IsValid() || !isPrivate(host) || hostAddr(t.ViaSentBy) != src || hostAddr(t.ContactHost) != src {
		return netip.Addr{}, false
	}
	return host, true
}

// partialRewrite reports an SDP whose o= and c= addresses disagree with one
// of them private and the other the packet's (public) source: a rewrite of
// one line but not the other.
func partialRewrite(s *diagnose.SDPSeen) (origin, conn netip.Addr, ok bool) {
	if s == nil || s.Session == nil || !s.From.IsValid() {
		return origin, conn, false
	}
	origin = hostAddr(s.Session.Origin.Address)
	conn = s.Session.Connection.Unmap()
	if !conn.IsValid() {
		for _, m := range sdpMediaAddrs(s) {
			conn = m.addr
			break
		}
	}
	src := s.From.Addr().Unmap()
	if !origin.IsValid() || !conn.IsValid() || origin == conn || origin.IsUnspecified() || conn.IsUnspecified() || isPrivate(src) {
		return origin, conn, false
	}
	switch {
	case isPrivate(origin) && !isPrivate(conn) && conn == src:
		return origin, conn, true
	case isPrivate(conn) && !isPrivate(origin) && origin == src:
		return origin, conn, true
	}
	return origin, conn, false
}

func (r SIPALGSuspected) finding(g []algSighting) diagnose.Finding {
	var ev evidence
	src := g[0].src.Addr().Unmap()
	var sdpSeen, lengthSeen, callIDSeen []algSighting
	for _, s := range g {
		ev.addFrame(s.frame)
		ev.addEndpoint(s.src)
		switch {
		case s.lengthOf != "":
			lengthSeen = append(lengthSeen, s)
		case s.callIDOf != "":
			callIDSeen = append(callIDSeen, s)
		default:
			sdpSeen = append(sdpSeen, s)
		}
	}
	var d strings.Builder
	fmt.Fprintf(&d, "SIP from %s shows signs of rewriting on the way.", src)
	var terms []string
	if len(sdpSeen) > 0 {
		s := sdpSeen[0]
		fmt.Fprintf(&d, " %s o= (origin) %s but c= (media) %s", sentence(len(sdpSeen), "SDP body has", "SDP bodies have"), s.origin, s.conn)
		if len(sdpSeen) > 1 {
			d.WriteString(" or similar")
		}
		if isPrivate(s.origin) {
			fmt.Fprintf(&d, ": c= was replaced by the public address %s the packet came from, o= was left private.", s.conn)
		} else {
			fmt.Fprintf(&d, ": o= was replaced by the public address %s the packet came from, c= was left private - the far end will send media to %s, which it cannot reach.", s.origin, s.conn)
		}
		var pairs []string
		for _, s := range sdpSeen {
			t := fmt.Sprintf("(sdp.owner.address == %s && sdp.connection_info.address == %s)", wiresharkString(s.origin.String()), wiresharkString(s.conn.String()))
			if !slices.Contains(pairs, t) {
				pairs = append(pairs, t)
			}
		}
		terms = append(terms, pairs...)
	}
	if len(lengthSeen) > 0 {
		var what []string
		for _, s := range lengthSeen {
			if !slices.Contains(what, s.lengthOf) {
				what = append(what, s.lengthOf)
			}
		}
		fmt.Fprintf(&d, " %s (%s) had a Content-Length that does not match the body it carried: the body was changed without fixing the header, and the far end may misread or reject the message.",
			sentence(len(lengthSeen), "message", "messages"), strings.Join(what, ", "))
	}
	if len(callIDSeen) > 0 {
		c := callIDSeen[0]
		fmt.Fprintf(&d, " In support: the Call-ID %s names the private address %s, while Via and Contact name the public address %s the packets came from, so the user agent likely sits behind NAT at %s (the Call-ID is opaque, RFC 3261 §8.1.1.4: on its own this proves nothing, and a user agent that learnt its public address with STUN looks the same).",
			quoted(c.callID), c.callIDOf, src, c.callIDOf)
		if len(callIDSeen) > 1 {
			fmt.Fprintf(&d, " %d Call-IDs show this.", len(callIDSeen))
		}
	}
	d.WriteString(" This is what a SIP ALG (\"SIP fixup\", \"SIP helper\", \"SIP inspection\") on a router or firewall does; an SBC may do the same on purpose, and a phone that learnt its public address with STUN may write it in c= only. If no SBC is on the path, turn the ALG off.")
	filter := ""
	switch {
	case len(lengthSeen) == 0 && len(callIDSeen) == 0 && len(terms) > 0:
		filter = addrFilter("src", src) + " && " + strings.Join(terms, " || ")
		if len(terms) > 1 {
			filter = addrFilter("src", src) + " && (" + strings.Join(terms, " || ") + ")"
		}
	default:
		frames := slices.Clone(ev.frames)
		slices.Sort(frames)
		filter = diagnose.FilterFrames(diagnose.CapFrames(slices.Compact(frames)))
	}
	return ev.finding(r, fmt.Sprintf("SIP from %s rewritten by a middlebox (SIP ALG suspected)", src), d.String(), filter)
}
