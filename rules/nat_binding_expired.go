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

// NATBindingExpired finds a client behind NAT whose UDP binding the NAT
// dropped while the client was silent: a refresh of the same SIP
// registration (same Call-ID, next CSeq, RFC 3261 §10.2.4) that arrives
// from a new public port of the same address after an idle gap. Until the
// refresh, the registrar's binding points at a public port the NAT no
// longer forwards, so requests to the user (incoming calls, the
// registrar's OPTIONS pings) go unanswered or draw ICMP port unreachable
// from the NAT; those are cited when the capture holds them.
//
// It holds back where a new port has another explanation:
//   - another Call-ID, or a CSeq that did not go up: a restarted phone, or
//     a client that deliberately opened a new flow (RFC 5626 flow
//     recovery registers it anew);
//   - a topmost Via sent-by that changed, or one that names the packets'
//     own source address (a client without NAT, or one whose Via an ALG
//     rewrote): then nothing shows the client kept its socket, and a
//     client may open a new one itself. A Via that names an address other
//     than the source, unchanged across the refresh, does show it: the
//     client still sends from the port it announced, and only a NAT
//     between it and the capture could have changed the public port;
//   - the old port heard from after the new one appeared, or an idle gap
//     under minNATIdleGap: the binding was lost while in use (a NAT
//     reboot or failover), which is not this story;
//   - TCP and TLS: a reconnect gets a new port by design.
type NATBindingExpired struct{}

func (NATBindingExpired) ID() string                  { return "nat.binding-expired" }
func (NATBindingExpired) Severity() diagnose.Severity { return diagnose.Warning }
func (NATBindingExpired) Title() string               { return "NAT binding expired while the client was idle" }

func (NATBindingExpired) Explain() string {
	return "A NAT keeps a UDP binding (inside address and port to a public port) only while packets use it; " +
		"after an idle time (its UDP timeout, often 30-120 s on routers and firewalls) it forgets it, and the next " +
		"packet from the same socket leaves through a new binding, usually with a new public port. This rule sees " +
		"that in SIP over UDP: a refresh of the same registration (same Call-ID, next CSeq, same Via: the client " +
		"kept its socket, RFC 3261 §10.2.4) arriving from a new public port of the same address after an idle gap. " +
		"Between the NAT dropping the old binding and the refresh, the registrar's binding points at a port the NAT " +
		"no longer forwards: incoming calls to the user fail, typically as an INVITE to the old port that is never " +
		"answered or that draws ICMP port unreachable from the NAT; the finding cites such requests when the capture " +
		"holds them. A phone that restarted (new Call-ID), a client that opened a new flow on purpose, a change " +
		"without an idle gap and TCP reconnects are not reported. Fix: keep the binding alive with traffic more often " +
		"than the NAT's timeout - keepalives on the registration's socket (STUN keepalives, RFC 5626 §3.5.2, or the " +
		"CRLF or OPTIONS pings many phones offer), or shorter registration intervals (a registrar or SBC can grant " +
		"clients behind NAT a short Expires) - or raise the UDP timeout on the NAT or firewall (RFC 4787 REQ-5 asks " +
		"for at least 2 minutes)."
}

// minNATIdleGap is the shortest silence before a new port that counts as
// the NAT forgetting an idle binding. NAT UDP timeouts are tens of seconds
// or more (RFC 4787 REQ-5 asks for at least two minutes); a binding lost
// after a few seconds of silence was lost to something else, a NAT reboot
// or a failover, and the fix is not a keepalive.
const minNATIdleGap = 5 * time.Second

// rebinding is one registration refresh that came from a new public port.
type rebinding struct {
	old, now     *diagnose.Registration
	oldTx, nowTx *diagnose.SIPTransaction // the last REGISTER from the old port, the first from the new
	lastOld      diagnose.FrameRef        // the last packet from the old port
	firstNew     diagnose.FrameRef        // the first packet from the new port
	// Requests sent to the old port after the client's last packet there
	// and never answered, and the ICMP errors that packets to it drew.
	unanswered []*diagnose.SIPTransaction
	icmp       []*diagnose.ICMPEvent
}

func (r NATBindingExpired) Check(a *diagnose.Analysis) []diagnose.Finding {
	type clientKey struct {
		aor       string
		registrar netip.AddrPort
		client    netip.Addr
	}
	var groups orderedGroups[clientKey, *diagnose.Registration]
	for _, reg := range a.Registrations {
		if reg == nil || reg.Transport != decode.UDP || !reg.Client.IsValid() || len(reg.Transactions) == 0 {
			continue
		}
		groups.add(clientKey{reg.AOR, reg.Registrar, reg.Client.Addr().Unmap()}, reg)
	}
	var found []rebinding
	var seen *portActivity
	for _, g := range groups.groups {
		if len(g) < 2 {
			continue
		}
		// The registrations each Call-ID was last refreshed in, so that a
		// client with thousands of registrations is not compared with all.
		byCallID := map[string][]*diagnose.Registration{}
		for _, now := range g {
			old := previousBinding(byCallID[firstCallID(now)], now)
			if id := lastCallID(now); id != "" {
				byCallID[id] = append(byCallID[id], now)
			}
			if old == nil {
				continue
			}
			if seen == nil {
				seen = newPortActivity(a)
			}
			rb := rebinding{old: old, now: now, oldTx: lastRegister(old), nowTx: now.Transactions[0]}
			rb.lastOld, rb.firstNew = seen.last(old), seen.first(now)
			if rb.lastOld.Time.IsZero() || rb.firstNew.Time.IsZero() || rb.firstNew.Time.Sub(rb.lastOld.Time) < minNATIdleGap {
				continue
			}
			rb.unanswered, rb.icmp = toStaleBinding(a, old.Client, rb.lastOld.Time)
			found = append(found, rb)
		}
	}
	out := make([]serverFinding, 0, len(found))
	for _, rb := range found {
		out = append(out, serverFinding{Finding: r.finding(rb), server: rb.now.Registrar, transport: decode.UDP})
	}
	return capFindings(r, out)
}

// previousBinding returns the registration, among earlier (those whose
// last REGISTER had now's first one's Call-ID), that now refreshes from a
// new port: the latest one from another port of the same address whose
// last REGISTER had a lower CSeq and the same Via sent-by naming an
// address that is not the packets' source, and was granted a binding.
// Only the last maxRebindLookback are looked at.
func previousBinding(earlier []*diagnose.Registration, now *diagnose.Registration) *diagnose.Registration {
	nowTx := now.Transactions[0]
	if nowTx == nil || nowTx.CallID == "" || len(nowTx.Requests) == 0 || !announcesOtherAddress(nowTx) {
		return nil
	}
	for i := len(earlier) - 1; i >= max(0, len(earlier)-maxRebindLookback); i-- {
		old := earlier[i]
		oldTx := lastRegister(old)
		if old.Client == now.Client || oldTx == nil || len(oldTx.Requests) == 0 {
			continue
		}
		if oldTx.CallID != nowTx.CallID || oldTx.CSeq >= nowTx.CSeq || oldTx.ViaSentBy != nowTx.ViaSentBy ||
			!announcesOtherAddress(oldTx) || !oldTx.Requests[0].Time.Before(nowTx.Requests[0].Time) {
			continue
		}
		if slices.ContainsFunc(old.Transactions, grantedBinding) {
			return old
		}
	}
	return nil
}

// maxRebindLookback bounds the earlier registrations of one Call-ID that a
// refresh is compared with: a client rebinds once per idle gap, and a
// capture that holds a Call-ID on hundreds of ports is not that.
const maxRebindLookback = 16

func firstCallID(reg *diagnose.Registration) string {
	if t := reg.Transactions[0]; t != nil {
		return t.CallID
	}
	return ""
}

func lastCallID(reg *diagnose.Registration) string {
	if t := lastRegister(reg); t != nil {
		return t.CallID
	}
	return ""
}

// announcesOtherAddress says whether a request's topmost Via names an IP
// address other than the one the packet came from: the client does not
// know the public address a NAT gave it, so the public port is the NAT's
// choice, not the client's.
func announcesOtherAddress(t *diagnose.SIPTransaction) bool {
	via := hostAddr(t.ViaSentBy)
	return via.IsValid() && t.Client.IsValid() && via != t.Client.Addr().Unmap()
}

func lastRegister(reg *diagnose.Registration) *diagnose.SIPTransaction {
	return reg.Transactions[len(reg.Transactions)-1]
}

// grantedBinding says whether a REGISTER made or refreshed a binding: a
// 2xx to a REGISTER that did not ask to remove one.
func grantedBinding(t *diagnose.SIPTransaction) bool {
	return t != nil && !t.Deregister && t.Final >= 0 && t.Final < len(t.Responses) &&
		t.Responses[t.Final].Status >= 200 && t.Responses[t.Final].Status < 300
}

// portActivity indexes when each UDP address:port was first and last heard
// from: the SIP flows, the STUN Binding flows (keepalives, RFC 5626
// §3.5.2) and the REGISTERs themselves.
type portActivity struct {
	firstSeen, lastSeen map[netip.AddrPort]diagnose.FrameRef
}

func newPortActivity(a *diagnose.Analysis) *portActivity {
	p := &portActivity{firstSeen: map[netip.AddrPort]diagnose.FrameRef{}, lastSeen: map[netip.AddrPort]diagnose.FrameRef{}}
	for _, f := range a.Flows {
		if f != nil && f.Transport == decode.UDP {
			p.heard(f.Src, f.First)
			p.heard(f.Src, f.Last)
		}
	}
	for _, b := range a.Bindings {
		if b != nil && b.Transport == decode.UDP {
			p.heard(b.Client, b.First)
			p.heard(b.Client, b.Last)
		}
	}
	return p
}

func (p *portActivity) heard(ap netip.AddrPort, r diagnose.FrameRef) {
	if r.Time.IsZero() {
		return
	}
	ap = unmapped(ap)
	if f, ok := p.firstSeen[ap]; !ok || r.Time.Before(f.Time) {
		p.firstSeen[ap] = r
	}
	if l, ok := p.lastSeen[ap]; !ok || r.Time.After(l.Time) {
		p.lastSeen[ap] = r
	}
}

// last is the last packet from reg's client port: its flows, or its
// REGISTERs and their retransmissions when the flows were not kept.
func (p *portActivity) last(reg *diagnose.Registration) diagnose.FrameRef {
	out := p.lastSeen[unmapped(reg.Client)]
	for _, t := range reg.Transactions {
		if t == nil {
			continue
		}
		if n := len(t.Requests); n > 0 && t.Requests[n-1].Time.After(out.Time) {
			out = t.Requests[n-1]
		}
	}
	return out
}

// first is the first packet from reg's client port.
func (p *portActivity) first(reg *diagnose.Registration) diagnose.FrameRef {
	out, ok := p.firstSeen[unmapped(reg.Client)]
	for _, t := range reg.Transactions {
		if t != nil && len(t.Requests) > 0 && (!ok || t.Requests[0].Time.Before(out.Time)) {
			out, ok = t.Requests[0], true
		}
	}
	return out
}

// toStaleBinding lists the SIP requests sent to the old public port after
// the client's last packet from it that nothing answered, and the ICMP
// errors that quote a packet sent to it since.
func toStaleBinding(a *diagnose.Analysis, old netip.AddrPort, since time.Time) ([]*diagnose.SIPTransaction, []*diagnose.ICMPEvent) {
	old = unmapped(old)
	var txs []*diagnose.SIPTransaction
	for _, t := range a.SIPTransactions {
		if t == nil || t.Transport != decode.UDP || unmapped(t.Server) != old || len(t.Requests) == 0 || len(t.Responses) > 0 {
			continue
		}
		if t.Requests[0].Time.After(since) {
			txs = append(txs, t)
		}
	}
	var icmp []*diagnose.ICMPEvent
	for _, e := range a.ICMPErrors {
		if e != nil && e.Transport == decode.UDP && unmapped(e.Flow[1]) == old && e.Time.After(since) {
			icmp = append(icmp, e)
		}
	}
	return txs, icmp
}

func (r NATBindingExpired) finding(rb rebinding) diagnose.Finding {
	var ev evidence
	old, now := endpointString(rb.old.Client), endpointString(rb.now.Client)
	gap := rb.firstNew.Time.Sub(rb.lastOld.Time)
	ev.addEndpoint(rb.old.Client)
	ev.addEndpoint(rb.now.Client)
	ev.addEndpoint(rb.now.Registrar)
	ev.addFrame(rb.oldTx.Requests[0])
	if rb.oldTx.Final >= 0 && rb.oldTx.Final < len(rb.oldTx.Responses) {
		ev.addFrame(rb.oldTx.Responses[rb.oldTx.Final].FrameRef)
	}
	ev.addFrame(rb.lastOld)
	ev.addFrame(rb.firstNew)
	ev.addFrame(rb.nowTx.Requests[0])
	if rb.nowTx.Final >= 0 && rb.nowTx.Final < len(rb.nowTx.Responses) {
		ev.addFrame(rb.nowTx.Responses[rb.nowTx.Final].FrameRef)
	}

	var d strings.Builder
	fmt.Fprintf(&d, "The registration of %s with %s (Call-ID %s) was refreshed from a new public port: the client, which announces %s in its Via, sent its last packet from %s at %s (frame %d), no SIP or STUN came from that port for the next %s, and its refresh (CSeq %d, frame %d at %s) came from %s.",
		quoted(rb.now.AOR), endpointString(rb.now.Registrar), quoted(rb.nowTx.CallID), strings.TrimSpace(rb.nowTx.ViaSentBy),
		old, clock(rb.lastOld.Time), rb.lastOld.Frame, shortDuration(gap),
		rb.nowTx.CSeq, rb.nowTx.Requests[0].Frame, clock(rb.nowTx.Requests[0].Time), now)
	if rb.firstNew.Frame != rb.nowTx.Requests[0].Frame {
		fmt.Fprintf(&d, " The new port was first heard from in frame %d at %s.", rb.firstNew.Frame, clock(rb.firstNew.Time))
	}
	fmt.Fprintf(&d, " Same Call-ID, next CSeq (%d before) and the same Via: the client kept its socket, and a NAT in front of it gave it a new public port because it had dropped the old binding while the client was idle. The NAT's UDP timeout is shorter than %s.",
		rb.oldTx.CSeq, shortDuration(gap))

	fmt.Fprintf(&d, " The REGISTER %s", requestedExpiry(rb.oldTx))
	if rb.old.Expires > 0 {
		fmt.Fprintf(&d, " and the registrar granted %d s", rb.old.Expires)
	}
	fmt.Fprintf(&d, ", so until the refresh the registrar's binding pointed at %s, a port the NAT no longer forwarded: calls and other requests to the user in that time fail.", old)

	if n := len(rb.unanswered); n > 0 {
		var methods []string
		sendCount := 0
		for _, t := range rb.unanswered {
			ev.addSIPTransaction(t)
			sendCount += sipSends(t)
			if !slices.Contains(methods, t.Method) {
				methods = append(methods, t.Method)
			}
		}
		fmt.Fprintf(&d, " %s to %s after the client's last packet there went unanswered (%s, %s, first frame %d at %s, %s after that packet).",
			sentence(n, "request", "requests"), old, strings.Join(methods, ", "), plural(sendCount, "send", "sends"),
			rb.unanswered[0].Requests[0].Frame, clock(rb.unanswered[0].Requests[0].Time), shortDuration(rb.unanswered[0].Requests[0].Time.Sub(rb.lastOld.Time)))
	}
	if n := len(rb.icmp); n > 0 {
		var from []string
		var frames []string
		for _, e := range rb.icmp {
			ev.addFrame(e.FrameRef)
			if f := e.From.Unmap().String(); !slices.Contains(from, f) {
				from = append(from, f)
			}
			if len(frames) < maxFilterIDs {
				frames = append(frames, fmt.Sprint(e.Frame))
			}
		}
		first := rb.icmp[0]
		fmt.Fprintf(&d, " %s to it drew ICMP %s from %s (frames %s",
			sentence(n, "packet", "packets"), first.Description, strings.Join(from, ", "), strings.Join(frames, ", "))
		if n > len(frames) {
			d.WriteString(", …")
		}
		fmt.Fprintf(&d, "), the first %s after the client's last packet", shortDuration(first.Time.Sub(rb.lastOld.Time)))
		if slices.Contains(from, rb.old.Client.Addr().Unmap().String()) {
			fmt.Fprintf(&d, ": the NAT itself no longer knew the port, so its timeout is at most %s.", shortDuration(first.Time.Sub(rb.lastOld.Time)))
		} else {
			d.WriteString(".")
		}
	}
	d.WriteString(" Fix: keep the binding alive with traffic more often than the NAT's UDP timeout - keepalives on the registration's socket (STUN keepalives, RFC 5626 §3.5.2, or the CRLF or OPTIONS pings many phones offer) or a shorter registration interval (a registrar or SBC can grant clients behind NAT a short Expires) - or raise the UDP timeout on the NAT or firewall (RFC 4787 REQ-5 asks for at least 2 minutes; Linux: nf_conntrack_udp_timeout and nf_conntrack_udp_timeout_stream).")

	title := fmt.Sprintf("NAT binding expired: %s re-registered from %s instead of %s after %s idle", quoted(rb.now.AOR), now, old, shortDuration(gap))
	frames := slices.Clone(ev.frames)
	slices.Sort(frames)
	filter := diagnose.FilterFrames(diagnose.CapFrames(slices.Compact(frames)))
	return ev.finding(r, title, d.String(), filter)
}

// requestedExpiry says what expiry a REGISTER asked for.
func requestedExpiry(t *diagnose.SIPTransaction) string {
	if t.Expires < 0 {
		return "had no Expires header"
	}
	return fmt.Sprintf("asked for Expires %d", t.Expires)
}
