package rules

import (
	"fmt"
	"hash/maphash"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

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
	return "Looks for the marks a SIP ALG leaves on the messages it rewrites. The plainest is the same request " +
		"captured on both sides of the box (tcpdump -i any on the router, or captures from either side read " +
		"together): same Call-ID and Via branch, but Via, Contact or SDP addresses replaced - a proxy would " +
		"have added a Via of its own, an SBC would have started a new dialog. In an SDP body, the o= line " +
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
	for _, g := range seenRewritten(a) {
		out = append(out, r.rewriteFinding(g))
	}
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
	if s == nil || s.Session == nil || !s.From.IsValid() || isPrivate(s.From.Addr().Unmap()) {
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
		seenPair := map[string]bool{} // an ALG in front of a site rewrites thousands of phones' SDPs
		for _, s := range sdpSeen {
			t := fmt.Sprintf("(sdp.owner.address == %s && sdp.connection_info.address == %s)", wiresharkString(s.origin.String()), wiresharkString(s.conn.String()))
			if !seenPair[t] {
				seenPair[t] = true
				pairs = append(pairs, t)
			}
		}
		terms = append(terms, pairs...)
	}
	if len(lengthSeen) > 0 {
		var what []string
		seenWhat := map[string]bool{}
		for _, s := range lengthSeen {
			if !seenWhat[s.lengthOf] {
				seenWhat[s.lengthOf] = true
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

// rewriteWindow bounds how far apart the two copies of a rewritten request
// may be: a middlebox forwards within milliseconds, and two captures
// merged from taps on either side rarely disagree by more.
const rewriteWindow = 2 * time.Second

// algRewrite is one request the capture holds twice: before a middlebox
// (from the inside address) and after it, rewritten in place.
type algRewrite struct {
	before, after *diagnose.SIPTransaction
	changes       []string // "Via sent-by 10.0.1.10:5060 → 203.0.113.1:5060"
}

// seenRewritten finds requests seen on both sides of a middlebox that
// rewrote them: the same Call-ID, CSeq, method and topmost Via branch
// sent from two addresses within rewriteWindow, with Via sent-by, Contact
// or SDP addresses changed between the two. That is what a capture on the
// NAT box itself (tcpdump -i any) or two captures merged from either side
// show. A proxy on the path would have added a Via of its own with a new
// branch (RFC 3261 §16.6 step 8) and an SBC would have started a new
// dialog, so a request rewritten in place with its branch kept has passed
// an ALG. Only branches with the RFC 3261 magic cookie count: they are
// unique per transaction (§8.1.1.7), older ones may collide. Groups come
// out in the order of the first rewritten request, one per pair of
// addresses.
func seenRewritten(a *diagnose.Analysis) [][]algRewrite {
	copies := findRequestCopies(a.SIPTransactions)
	if len(copies) == 0 {
		return nil
	}
	sdpAt := requestSDPs(a, copies)
	var groups orderedGroups[[2]netip.Addr, algRewrite]
	for _, ts := range copies {
		slices.SortStableFunc(ts, func(x, y *diagnose.SIPTransaction) int { return x.Requests[0].Time.Compare(y.Requests[0].Time) })
		// The first copy is the one before the middlebox: it reaches the
		// capture point first on the box itself.
		before := ts[0]
		for _, after := range ts[1:] {
			if after.Client.Addr() == before.Client.Addr() || after.Requests[0].Time.Sub(before.Requests[0].Time) > rewriteWindow {
				continue
			}
			changes := rewrittenFields(before, after, sdpAt[before.Requests[0].Frame], sdpAt[after.Requests[0].Frame])
			if len(changes) == 0 {
				continue // forwarded untouched: a plain NAT
			}
			groups.add([2]netip.Addr{before.Client.Addr().Unmap(), after.Client.Addr().Unmap()}, algRewrite{before: before, after: after, changes: changes})
			break
		}
	}
	return groups.groups
}

// findRequestCopies lists the requests the capture holds more than once:
// the transactions with the same Call-ID, CSeq, method and magic-cookie
// branch, in the order of the first of each, which comes first in its
// list.
//
// Nearly every request is seen once, and this runs over every SIP
// transaction: they are keyed by a hash of those fields (seeded, so no
// capture can make them collide on purpose) into a presized map of small
// values, and a request's copies are gathered in a slice only when it has
// some.
func findRequestCopies(txs []*diagnose.SIPTransaction) [][]*diagnose.SIPTransaction {
	type request struct {
		first   *diagnose.SIPTransaction
		copies  []*diagnose.SIPTransaction // from the first on, when there is a second
		collide int32                      // the previous request with the same hash, -1 when none
	}
	seed := maphash.MakeSeed()
	heads := make(map[uint64]int32, len(txs))
	requests := make([]request, 0, len(txs))
	var h maphash.Hash
	copied := 0
	for _, t := range txs {
		if t == nil || len(t.Requests) == 0 || !t.Client.IsValid() || !strings.HasPrefix(t.Branch, "z9hG4bK") || t.CallID == "" {
			continue
		}
		h.SetSeed(seed)
		h.WriteString(t.CallID)
		h.WriteByte(0)
		h.WriteString(t.Method)
		h.WriteByte(0)
		h.WriteString(t.Branch)
		h.WriteByte(0)
		h.WriteByte(byte(t.CSeq))
		h.WriteByte(byte(t.CSeq >> 8))
		h.WriteByte(byte(t.CSeq >> 16))
		h.WriteByte(byte(t.CSeq >> 24))
		sum := h.Sum64()
		head, ok := heads[sum]
		i := head
		for ok && i >= 0 && !sameRequest(requests[i].first, t) {
			i = requests[i].collide
		}
		if ok && i >= 0 {
			r := &requests[i]
			if r.copies == nil {
				r.copies = []*diagnose.SIPTransaction{r.first}
				copied++
			}
			r.copies = append(r.copies, t)
			continue
		}
		if !ok {
			head = -1
		}
		heads[sum] = int32(len(requests))
		requests = append(requests, request{first: t, collide: head})
	}
	if copied == 0 {
		return nil
	}
	out := make([][]*diagnose.SIPTransaction, 0, copied)
	for _, r := range requests {
		if r.copies != nil {
			out = append(out, r.copies)
		}
	}
	return out
}

func sameRequest(x, y *diagnose.SIPTransaction) bool {
	return x.CSeq == y.CSeq && x.Branch == y.Branch && x.CallID == y.CallID && x.Method == y.Method
}

// requestSDPs indexes by frame the SDP bodies of the capture that the
// copies' first requests carry.
func requestSDPs(a *diagnose.Analysis, copies [][]*diagnose.SIPTransaction) map[uint64]*diagnose.SDPSeen {
	frames := make(map[uint64]bool)
	for _, ts := range copies {
		for _, t := range ts {
			frames[t.Requests[0].Frame] = true
		}
	}
	out := map[uint64]*diagnose.SDPSeen{}
	for _, c := range a.Calls {
		if c == nil {
			continue
		}
		for _, s := range callSDPs(c) {
			if frames[s.Frame] {
				out[s.Frame] = s
			}
		}
	}
	return out
}

// rewrittenFields lists the addresses that differ between two copies of a
// request: what the middlebox replaced.
func rewrittenFields(before, after *diagnose.SIPTransaction, sdpBefore, sdpAfter *diagnose.SDPSeen) []string {
	var out []string
	changed := func(what, x, y string) {
		if x != "" && y != "" && x != y {
			out = append(out, fmt.Sprintf("%s %s → %s", what, x, y))
		}
	}
	changed("Via sent-by", before.ViaSentBy, after.ViaSentBy)
	changed("Contact", before.ContactHost, after.ContactHost)
	if sdpBefore != nil && sdpAfter != nil && sdpBefore.Session != nil && sdpAfter.Session != nil {
		changed("SDP o=", sdpBefore.Session.Origin.Address, sdpAfter.Session.Origin.Address)
		if x, y := sdpBefore.Session.Connection.Unmap(), sdpAfter.Session.Connection.Unmap(); x.IsValid() && y.IsValid() {
			changed("SDP c=", x.String(), y.String())
		}
		mb, ma := sdpMediaAddrs(sdpBefore), sdpMediaAddrs(sdpAfter)
		for i := range min(len(mb), len(ma)) {
			if mb[i].port != ma[i].port {
				changed("SDP m="+mb[i].media+" port", strconv.Itoa(int(mb[i].port)), strconv.Itoa(int(ma[i].port)))
			}
		}
	}
	return out
}

func (r SIPALGSuspected) rewriteFinding(g []algRewrite) diagnose.Finding {
	var ev evidence
	first := g[0]
	inside, outside := first.before.Client.Addr().Unmap(), first.after.Client.Addr().Unmap()
	var callIDs, methods []string
	// An ALG rewrites every dialog through it: tens of thousands.
	seenCallID, seenMethod := map[string]bool{}, map[string]bool{}
	for _, w := range g {
		ev.addFrame(w.before.Requests[0])
		ev.addFrame(w.after.Requests[0])
		ev.addEndpoint(w.before.Client)
		ev.addEndpoint(w.after.Client)
		if !seenCallID[w.before.CallID] {
			seenCallID[w.before.CallID] = true
			callIDs = append(callIDs, w.before.CallID)
		}
		if !seenMethod[w.before.Method] {
			seenMethod[w.before.Method] = true
			methods = append(methods, w.before.Method)
		}
	}
	var d strings.Builder
	fmt.Fprintf(&d, "The capture holds the same SIP requests on both sides of a middlebox that rewrote them in place. The %s with Call-ID %s and branch %s was sent from %s at frame %d and from %s at frame %d, %s later, with %s.",
		first.before.Method, quoted(first.before.CallID), first.before.Branch,
		endpointString(first.before.Client), first.before.Requests[0].Frame,
		endpointString(first.after.Client), first.after.Requests[0].Frame,
		shortDuration(first.after.Requests[0].Time.Sub(first.before.Requests[0].Time)),
		strings.Join(first.changes, ", "))
	if len(g) > 1 {
		fmt.Fprintf(&d, " %s in all were rewritten this way (%s), in %s.", plural(len(g), "request", "requests"), strings.Join(methods, ", "), plural(len(callIDs), "dialog", "dialogs"))
	}
	d.WriteString(" A proxy would have added a Via of its own with a new branch (RFC 3261 §16.6) and an SBC would have started a new dialog: a request rewritten with its branch and Call-ID kept has passed a SIP ALG (\"SIP fixup\", \"SIP helper\", \"SIP inspection\") on a router or firewall. An ALG that misses a field or a body it cannot parse causes one-way audio, calls dropped after 30 s and failed registrations, and it cannot read SIP over TLS at all; if the phones or an SBC already handle NAT, turn it off.")
	ids := make([]string, 0, len(callIDs))
	for _, id := range callIDs {
		ids = append(ids, wiresharkString(id))
	}
	filter := fmt.Sprintf("sip.Method && (%s || %s)", addrFilter("src", inside), addrFilter("src", outside))
	switch {
	case len(ids) == 1:
		filter = "sip.Call-ID == " + ids[0] + " && " + filter
	case len(ids) <= 8:
		filter = "sip.Call-ID in {" + strings.Join(ids, " ") + "} && " + filter
	}
	return ev.finding(r, fmt.Sprintf("SIP from %s rewritten as %s by a middlebox (SIP ALG)", inside, outside), d.String(), filter)
}
