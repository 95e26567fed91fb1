package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// NATBindingExpired finds a client behind NAT whose UDP binding the NAT
// dropped while the client was silent: a refresh of the same SIP
// registration (same Call-ID, next CSeq, RFC 3261 §10.2.4) that arrives
// from a new public port of the same address after an idle gap. Until the
// refresh, the registrar's binding points at a public port the NAT no
// longer forwards, so requests to the user (incoming calls, the
// registrar's OPTIONS pings) go unanswered or draw ICMP port unreachable
// from the NAT; those are cited when the capture holds them. CRLF
// keep-alives to the registrar are traffic on the binding too: a client
// that sent them further apart than the NAT's timeout has each leave from
// a new public port, and the finding tells their interval instead of an
// idle client (keepAliveStory).
//
// The same happens to a TURN client (turnRebindings): its Refresh,
// CreatePermission or ChannelBind comes from a new public port after the
// allocation's 5-tuple was idle, and the server, which knows allocations
// by their 5-tuple only, answers 437 Allocation Mismatch. That finding is
// an error unless the client made a new allocation afterwards, as
// turn.request-rejected grades the 437 it then leaves to this rule.
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
//   - TCP and TLS: a reconnect gets a new port by design;
//   - for TURN: another user or realm, an allocation that was deleted or
//     had expired, an Allocate from the new port before the 437 (a client
//     that opened a new socket and allocated anew on purpose), and an
//     Allocate answered 437 (RFC 8656 §7.2: the 5-tuple already has an
//     allocation, nothing to do with a NAT). Traffic on the old 5-tuple
//     in either direction counts against the idle gap: many NATs keep a
//     binding alive with inbound packets too.
type NATBindingExpired struct{}

func (NATBindingExpired) ID() string                      { return "nat.binding-expired" }
func (NATBindingExpired) Severity() diagnose.Severity     { return diagnose.Warning }
func (NATBindingExpired) Severities() []diagnose.Severity { return warningOrError() }
func (NATBindingExpired) Title() string                   { return "NAT binding expired while the client was idle" }

func (NATBindingExpired) Explain() string {
	return "A NAT keeps a UDP binding (inside address and port to a public port) only while packets use it; " +
		"after an idle time (its UDP timeout, often 30-120 s on routers and firewalls) it forgets it, and the next " +
		"packet from the same socket leaves through a new binding, usually with a new public port. This rule sees " +
		"that in SIP over UDP: a refresh of the same registration (same Call-ID, next CSeq, same Via: the client " +
		"kept its socket, RFC 3261 §10.2.4) arriving from a new public port of the same address after an idle gap. " +
		"Between the NAT dropping the old binding and the refresh, the registrar's binding points at a port the NAT " +
		"no longer forwards: incoming calls to the user fail, typically as an INVITE to the old port that is never " +
		"answered or that draws ICMP port unreachable from the NAT; the finding cites such requests when the capture " +
		"holds them. CRLF keep-alives (RFC 5626 §3.5.1 pings, which many phones and PBXs send over UDP) count as " +
		"traffic: when the client sent them, but further apart than the NAT's timeout (each then leaves from a new " +
		"public port) or not at all for longer than that, the finding gives their interval, their ports and the " +
		"last ones. A phone that restarted (new Call-ID), a client that opened a new flow on purpose, a change " +
		"without an idle gap and TCP reconnects are not reported. The same happens to a TURN client over UDP (WebRTC " +
		"behind NAT): after its allocation's 5-tuple was idle, its Refresh, CreatePermission or ChannelBind arrives " +
		"from a new public port of the same address with the same credentials, and the server, which knows an " +
		"allocation only by its 5-tuple (RFC 8656 §6), answers 437 Allocation Mismatch and drops ChannelData from " +
		"that port: the allocation, its relayed address, permissions and channels are lost to the client. That is an " +
		"error unless the client allocated anew afterwards (then a warning: its peers need the new relayed address); " +
		"a 437 after the client allocated from a new socket on purpose is not reported. Fix: keep the binding alive " +
		"with traffic more often than the NAT's timeout - for TURN, ChannelData, Refresh or STUN Binding keepalives " +
		"to the server on the allocation's socket (ICE keepalives and consent checks, RFC 8445 §11 and RFC 7675) - " +
		"for SIP, keepalives on the registration's socket (STUN keepalives, RFC 5626 §3.5.2, or the CRLF or OPTIONS " +
		"pings many phones offer) or shorter registration intervals (a registrar or SBC can grant clients behind NAT " +
		"a short Expires) - or raise the UDP timeout on the NAT or firewall (RFC 4787 REQ-5 asks for at least 2 " +
		"minutes)."
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
	// keepAlives are the client's CRLF keep-alives to the registrar in
	// between, nil when it sent none.
	keepAlives *keepAliveStory
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
	var keepAlives *keepAliveIndex
	var stale *staleBindingIndex
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
			if stale == nil {
				stale = newStaleBindingIndex(a)
			}
			rb.unanswered, rb.icmp = stale.toStaleBinding(old.Client, rb.lastOld.Time)
			if len(a.SIPKeepAlives) > 0 {
				if keepAlives == nil {
					keepAlives = newKeepAliveIndex(a)
				}
				rb.keepAlives = keepAlives.story(&rb)
			}
			found = append(found, rb)
		}
	}
	turn := turnRebindings(a)
	out := make([]serverFinding, 0, len(found)+len(turn))
	for _, rb := range found {
		out = append(out, serverFinding{Finding: r.finding(rb), server: rb.now.Registrar, transport: decode.UDP})
	}
	for _, tr := range turn {
		out = append(out, serverFinding{Finding: r.turnFinding(tr), server: tr.old.Server, transport: decode.UDP})
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
// §3.5.2), the CRLF keep-alives (§3.5.1) and the REGISTERs themselves.
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
	for _, k := range a.SIPKeepAlives {
		if k != nil && k.Transport != decode.TCP { // UDP ports only, as above
			p.heard(k.Src, k.First)
			p.heard(k.Src, k.Last)
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

// staleBindingIndex holds, per UDP destination, the SIP requests sent to
// it that nothing answered and the ICMP errors that quote a packet sent to
// it, in Analysis order: a capture holds up to MaxSIPTransactions
// transactions and a registrar thousands of rebindings, too many to scan
// all for each.
type staleBindingIndex struct {
	unanswered map[netip.AddrPort][]*diagnose.SIPTransaction
	icmp       map[netip.AddrPort][]*diagnose.ICMPEvent
}

func newStaleBindingIndex(a *diagnose.Analysis) *staleBindingIndex {
	ix := &staleBindingIndex{unanswered: map[netip.AddrPort][]*diagnose.SIPTransaction{}, icmp: map[netip.AddrPort][]*diagnose.ICMPEvent{}}
	for _, t := range a.SIPTransactions {
		if t != nil && t.Transport == decode.UDP && len(t.Requests) > 0 && len(t.Responses) == 0 {
			server := unmapped(t.Server)
			ix.unanswered[server] = append(ix.unanswered[server], t)
		}
	}
	for _, e := range a.ICMPErrors {
		if e != nil && e.Transport == decode.UDP {
			dst := unmapped(e.Flow[1])
			ix.icmp[dst] = append(ix.icmp[dst], e)
		}
	}
	return ix
}

// toStaleBinding lists the SIP requests sent to the old public port after
// the client's last packet from it that nothing answered, and the ICMP
// errors that quote a packet sent to it since.
func (ix *staleBindingIndex) toStaleBinding(old netip.AddrPort, since time.Time) ([]*diagnose.SIPTransaction, []*diagnose.ICMPEvent) {
	old = unmapped(old)
	var txs []*diagnose.SIPTransaction
	for _, t := range ix.unanswered[old] {
		if t.Requests[0].Time.After(since) {
			txs = append(txs, t)
		}
	}
	var icmp []*diagnose.ICMPEvent
	for _, e := range ix.icmp[old] {
		if e.Time.After(since) {
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
	silent := "no SIP or STUN"
	if rb.keepAlives != nil {
		silent = "no SIP, STUN or keep-alive"
	}
	fmt.Fprintf(&d, "The registration of %s with %s (Call-ID %s) was refreshed from a new public port: the client, which announces %s in its Via, sent its last packet from %s at %s (frame %d), %s came from that port for the next %s, and its refresh (CSeq %d, frame %d at %s) came from %s.",
		quoted(rb.now.AOR), endpointString(rb.now.Registrar), quoted(rb.nowTx.CallID), strings.TrimSpace(rb.nowTx.ViaSentBy),
		old, clock(rb.lastOld.Time), rb.lastOld.Frame, silent, shortDuration(gap),
		rb.nowTx.CSeq, rb.nowTx.Requests[0].Frame, clock(rb.nowTx.Requests[0].Time), now)
	if rb.firstNew.Frame != rb.nowTx.Requests[0].Frame {
		fmt.Fprintf(&d, " The new port was first heard from in frame %d at %s.", rb.firstNew.Frame, clock(rb.firstNew.Time))
	}
	if ka := rb.keepAlives; ka != nil {
		fmt.Fprintf(&d, " Same Call-ID, next CSeq (%d before) and the same Via: the client kept its socket, and a NAT in front of it gave it a new public port because it had dropped the old binding.",
			rb.oldTx.CSeq)
		ka.describe(&d, &ev, &rb)
	} else {
		fmt.Fprintf(&d, " Same Call-ID, next CSeq (%d before) and the same Via: the client kept its socket, and a NAT in front of it gave it a new public port because it had dropped the old binding while the client was idle. The NAT's UDP timeout is shorter than %s.",
			rb.oldTx.CSeq, shortDuration(gap))
	}

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
	title := fmt.Sprintf("NAT binding expired: %s re-registered from %s instead of %s after %s idle", quoted(rb.now.AOR), now, old, shortDuration(gap))
	if ka := rb.keepAlives; ka != nil {
		fmt.Fprintf(&d, " Fix: have the client send its keep-alives more often than the NAT's UDP timeout, under %s here (a phone's NAT keep-alive interval; STUN keepalives, RFC 5626 §3.5.2, need the same rate), or raise the UDP timeout on the NAT or firewall (RFC 4787 REQ-5 asks for at least 2 minutes; Linux: nf_conntrack_udp_timeout and nf_conntrack_udp_timeout_stream).",
			shortDuration(ka.natUnder))
		if ka.tooRare() {
			title = fmt.Sprintf("NAT binding expired: %s re-registered from %s instead of %s; its CRLF keep-alives every %s were too far apart", quoted(rb.now.AOR), now, old, roughDuration(ka.interval))
		} else {
			title = fmt.Sprintf("NAT binding expired: %s re-registered from %s instead of %s after %s without a keep-alive", quoted(rb.now.AOR), now, old, shortDuration(ka.natUnder))
		}
	} else {
		d.WriteString(" Fix: keep the binding alive with traffic more often than the NAT's UDP timeout - keepalives on the registration's socket (STUN keepalives, RFC 5626 §3.5.2, or the CRLF or OPTIONS pings many phones offer) or a shorter registration interval (a registrar or SBC can grant clients behind NAT a short Expires) - or raise the UDP timeout on the NAT or firewall (RFC 4787 REQ-5 asks for at least 2 minutes; Linux: nf_conntrack_udp_timeout and nf_conntrack_udp_timeout_stream).")
	}
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

// turnRebinding is a TURN client whose requests came from a new public
// port, after its allocation's 5-tuple had been idle, and were answered
// 437 Allocation Mismatch.
type turnRebinding struct {
	old      *diagnose.Allocation
	now      netip.AddrPort    // the client's new public address:port
	lastOld  diagnose.FrameRef // the last packet on the old 5-tuple, or from the old port
	firstNew diagnose.FrameRef // the first packet from the new port
	// mismatch are the requests from the new port answered 437; before,
	// the ones from it answered with another error first (coturn ties
	// its nonces to a 5-tuple, so the first draws 438 Stale Nonce).
	mismatch, before []*diagnose.Transaction
	// onNew is the engine's record of the new 5-tuple, which counts the
	// ChannelData sent on it; recovered is a successful Allocate of the
	// same user after the first 437.
	onNew     *diagnose.Allocation
	recovered *diagnose.Transaction
}

// rebindMismatch says whether t is a request that needs an existing
// allocation, sent over UDP and answered 437. An Allocate answered 437
// means the opposite, an allocation already on the 5-tuple (RFC 8656
// §7.2).
func rebindMismatch(t *diagnose.Transaction) bool {
	if t == nil || t.Transport != decode.UDP || !t.Answered || t.Class != stun.ClassError || t.ErrorCode != 437 || len(t.Requests) == 0 {
		return false
	}
	switch t.Method {
	case stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind:
		return true
	}
	return false
}

// maxRebindSteps bounds the requests from the new port a finding tells one
// by one; the others are counted.
const maxRebindSteps = 4

// turnRebindings finds the 437s that a NAT's new public port explains:
// a request answered 437 from a client port, with the same USERNAME and
// REALM as an allocation the server granted to another port of the same
// address, whose 5-tuple then fell silent for minNATIdleGap or more before
// the new port was first heard from and stayed silent to the end, and with
// no Allocate from the new port before the 437. turn.request-rejected
// leaves these 437s to this rule.
func turnRebindings(a *diagnose.Analysis) []*turnRebinding {
	var mismatches []*diagnose.Transaction
	for _, t := range a.Transactions {
		if rebindMismatch(t) && t.Username != "" {
			mismatches = append(mismatches, t)
		}
	}
	if len(mismatches) == 0 {
		return nil
	}
	type userKey struct {
		client      netip.Addr
		server      netip.AddrPort
		user, realm string
	}
	type tupleKey struct{ client, server netip.AddrPort }
	byUser := map[userKey][]*diagnose.Allocation{}
	byTuple := map[tupleKey][]*diagnose.Allocation{}
	for _, al := range a.Allocations {
		if al == nil || al.Transport != decode.UDP {
			continue
		}
		k := tupleKey{unmapped(al.Client), unmapped(al.Server)}
		byTuple[k] = append(byTuple[k], al)
		if al.Username != "" && granted(al) {
			u := userKey{k.client.Addr(), k.server, al.Username, al.Realm}
			byUser[u] = append(byUser[u], al)
		}
	}
	seen := newPortActivity(a)
	type groupKey struct {
		old *diagnose.Allocation
		now netip.AddrPort
	}
	index := map[groupKey]*turnRebinding{}
	var out []*turnRebinding
	for _, t := range mismatches {
		now, server := unmapped(t.Client), unmapped(t.Server)
		sent := firstSend(t)
		onNew := byTuple[tupleKey{now, server}]
		if allocatedBefore(onNew, sent) {
			continue
		}
		firstNew := t.Requests[0]
		if f, ok := seen.firstSeen[now]; ok && f.Time.Before(firstNew.Time) {
			firstNew = f
		}
		for _, al := range onNew {
			if !al.First.Time.IsZero() && al.First.Time.Before(firstNew.Time) {
				firstNew = al.First
			}
		}
		var old *diagnose.Allocation
		var lastOld diagnose.FrameRef
		candidates := byUser[userKey{now.Addr(), server, t.Username, t.Realm}]
		for i := len(candidates) - 1; i >= max(0, len(candidates)-maxRebindLookback); i-- {
			al := candidates[i]
			if unmapped(al.Client) == now || al.Deleted.Frame != 0 || (!al.Expires.IsZero() && !al.Expires.After(sent)) {
				continue
			}
			last := lastOnAllocation(al, seen)
			if last.Time.IsZero() || firstNew.Time.Sub(last.Time) < minNATIdleGap {
				continue
			}
			if old == nil || last.Time.After(lastOld.Time) {
				old, lastOld = al, last
			}
		}
		if old == nil {
			continue
		}
		k := groupKey{old, now}
		if tr := index[k]; tr != nil {
			tr.mismatch = append(tr.mismatch, t)
			continue
		}
		tr := &turnRebinding{old: old, now: now, lastOld: lastOld, firstNew: firstNew, mismatch: []*diagnose.Transaction{t}}
		for _, al := range onNew {
			if slices.Contains(al.Requests, t) {
				tr.onNew = al
			}
		}
		index[k] = tr
		out = append(out, tr)
	}
	for _, tr := range out {
		first := firstSend(tr.mismatch[0])
		if tr.onNew != nil {
			for _, o := range tr.onNew.Requests {
				// Sent before the first 437 of the group, so none of them.
				if o != nil && o.Answered && o.Class == stun.ClassError &&
					len(o.Requests) > 0 && o.Requests[0].Time.Before(first) && len(tr.before) < maxRebindSteps {
					tr.before = append(tr.before, o)
				}
			}
		}
		for _, al := range byUser[userKey{tr.now.Addr(), unmapped(tr.old.Server), tr.old.Username, tr.old.Realm}] {
			for _, at := range al.Attempts {
				if successful(at) && firstSend(at).After(first) && (tr.recovered == nil || firstSend(at).Before(firstSend(tr.recovered))) {
					tr.recovered = at
				}
			}
		}
	}
	return out
}

// granted says whether the server granted the allocation: an Allocate, or
// for one made before the capture another request on it, succeeded.
func granted(al *diagnose.Allocation) bool {
	return al.Relayed.IsValid() || slices.ContainsFunc(al.Attempts, successful) || slices.ContainsFunc(al.Requests, successful)
}

func successful(t *diagnose.Transaction) bool {
	return t != nil && t.Answered && t.Class == stun.ClassSuccess
}

// allocatedBefore says whether an Allocate was sent on one of the
// allocations before the given time: a client that allocated from the new
// port on purpose.
func allocatedBefore(allocs []*diagnose.Allocation, before time.Time) bool {
	for _, al := range allocs {
		for _, at := range al.Attempts {
			if at != nil && len(at.Requests) > 0 && at.Requests[0].Time.Before(before) {
				return true
			}
		}
	}
	return false
}

// lastOnAllocation is the last packet on the allocation's 5-tuple, in
// either direction, or from its client port to anywhere.
func lastOnAllocation(al *diagnose.Allocation, seen *portActivity) diagnose.FrameRef {
	out := al.Last
	if l, ok := seen.lastSeen[unmapped(al.Client)]; ok && l.Time.After(out.Time) {
		out = l
	}
	for _, txs := range [][]*diagnose.Transaction{al.Attempts, al.Requests} {
		for _, t := range txs {
			if t == nil {
				continue
			}
			if n := len(t.Requests); n > 0 && t.Requests[n-1].Time.After(out.Time) {
				out = t.Requests[n-1]
			}
			if t.Answered && t.Response.Time.After(out.Time) {
				out = t.Response
			}
		}
	}
	return out
}

// droppedChannelData is how many ChannelData the client sent from the new
// port and the frame of the last one, when nothing else it sent there
// could be that frame: the record of the new 5-tuple counts only
// ChannelData as sent, and got no allocation.
func (tr *turnRebinding) droppedChannelData() (uint64, diagnose.FrameRef) {
	n := tr.onNew
	if n == nil || n.Sent.ChannelData == 0 || n.Sent.Packets != n.Sent.ChannelData || n.Received.Packets != 0 || granted(n) {
		return 0, diagnose.FrameRef{}
	}
	for _, t := range n.Requests {
		if t == nil || slices.ContainsFunc(t.Requests, func(r diagnose.FrameRef) bool { return r.Frame == n.Last.Frame }) {
			return n.Sent.ChannelData, diagnose.FrameRef{}
		}
	}
	for _, t := range tr.mismatch {
		if t.Response.Frame >= n.Last.Frame {
			return n.Sent.ChannelData, diagnose.FrameRef{}
		}
	}
	return n.Sent.ChannelData, n.Last
}

func (r NATBindingExpired) turnFinding(tr *turnRebinding) diagnose.Finding {
	var ev evidence
	old := tr.old
	oldClient, now, server := endpointString(old.Client), endpointString(tr.now), endpointString(old.Server)
	gap := tr.firstNew.Time.Sub(tr.lastOld.Time)
	ev.addEndpoint(old.Client)
	ev.addEndpoint(tr.now)
	ev.addEndpoint(old.Server)

	var d strings.Builder
	fmt.Fprintf(&d, "The TURN allocation of %s on %s → %s (udp)", userRealm(old.Username, old.Realm), oldClient, server)
	var grants []string
	if old.Relayed.IsValid() {
		grants = append(grants, "relayed address "+endpointString(old.Relayed))
	}
	if old.Lifetime > 0 {
		grants = append(grants, fmt.Sprintf("lifetime %d s", old.Lifetime))
	}
	if len(grants) > 0 {
		d.WriteString(", " + strings.Join(grants, " and "))
	}
	if i := slices.IndexFunc(old.Attempts, successful); i >= 0 {
		at := old.Attempts[i]
		ev.addFrame(at.Requests[0])
		ev.addFrame(at.Response)
		fmt.Fprintf(&d, " (Allocate success in frame %d)", at.Response.Frame)
	}
	ev.addFrame(tr.lastOld)
	fmt.Fprintf(&d, ", saw its last packet in frame %d at %s: nothing travelled on that 5-tuple, or came from %s, for the next %s, nor after.",
		tr.lastOld.Frame, clock(tr.lastOld.Time), oldClient, shortDuration(gap))

	first := tr.mismatch[0]
	fmt.Fprintf(&d, " Then the client's requests came from a new public port, %s", now)
	if tr.firstNew.Frame != first.Requests[0].Frame && (len(tr.before) == 0 || tr.firstNew.Frame != tr.before[0].Requests[0].Frame) {
		ev.addFrame(tr.firstNew)
		fmt.Fprintf(&d, " (first heard from in frame %d at %s)", tr.firstNew.Frame, clock(tr.firstNew.Time))
	}
	d.WriteString(":")
	told := append(slices.Clone(tr.before), tr.mismatch[:min(len(tr.mismatch), maxRebindSteps)]...)
	steps := make([]string, 0, len(told))
	for _, t := range told {
		ev.addTransaction(t)
		steps = append(steps, fmt.Sprintf("%s (frame %d at %s) drew %s (frame %d)", t.Method, t.Requests[0].Frame, clock(t.Requests[0].Time),
			diagnose.ErrorCodeText(t.ErrorCode), t.Response.Frame))
	}
	d.WriteString(" " + strings.Join(steps, ", then "))
	if more := len(tr.mismatch) - maxRebindSteps; more > 0 {
		fmt.Fprintf(&d, ", and %s from it drew 437 too, the last in frame %d", plural(more, "more request", "more requests"), tr.mismatch[len(tr.mismatch)-1].Response.Frame)
		ev.addTransaction(tr.mismatch[len(tr.mismatch)-1])
	}
	d.WriteString(".")
	if slices.ContainsFunc(tr.before, func(t *diagnose.Transaction) bool { return t.ErrorCode == 438 }) {
		d.WriteString(" The 438 refused the nonce the client had been given on the old 5-tuple (a server may tie its nonces to a 5-tuple, as coturn does); with the fresh one the request found no allocation.")
	}
	fmt.Fprintf(&d, " Same address, same server, same credentials and no new Allocate: the client kept its socket, and a NAT in front of it gave it a new public port because it had dropped the old binding while the client was idle. The NAT's UDP timeout is shorter than %s.",
		shortDuration(gap))

	fmt.Fprintf(&d, " A TURN server knows an allocation only by its 5-tuple (RFC 8656 §6), so for it %s has none: the allocation on %s", now, oldClient)
	var held []string
	if old.Relayed.IsValid() {
		held = append(held, "its relayed address "+endpointString(old.Relayed))
	}
	if n := len(old.Permissions); n > 0 {
		held = append(held, plural(n, "permission", "permissions"))
	}
	if n := len(old.Channels); n > 0 {
		held = append(held, plural(n, "channel binding", "channel bindings"))
	}
	if len(held) > 0 {
		fmt.Fprintf(&d, " (%s)", strings.Join(held, ", "))
	}
	d.WriteString(" can no longer be refreshed or used by the client and lives on until its lifetime runs out, while its peers' data goes to a port the NAT no longer forwards.")
	if n, last := tr.droppedChannelData(); n > 0 {
		fmt.Fprintf(&d, " %s from %s", sentence(int(n), "ChannelData message", "ChannelData messages"), now)
		if last.Frame != 0 {
			ev.addFrame(last)
			fmt.Fprintf(&d, " (the last in frame %d)", last.Frame)
		}
		fmt.Fprintf(&d, " went nowhere: the server has no allocation on that 5-tuple to relay %s through.", pluralWord(int(n), "it", "them"))
	}

	severity := diagnose.Error
	if rec := tr.recovered; rec != nil {
		severity = diagnose.Warning
		ev.addTransaction(rec)
		fmt.Fprintf(&d, " The client recovered with a new Allocate from %s (success in frame %d", endpointString(rec.Client), rec.Response.Frame)
		if rec.Relayed.IsValid() {
			fmt.Fprintf(&d, ", relayed address %s", endpointString(rec.Relayed))
		}
		d.WriteString("); its peers need the new relayed address (for WebRTC, an ICE restart).")
	} else {
		d.WriteString(" Nothing in the capture shows the client recovering: it needs a new Allocate, and its peers the new relayed address (for WebRTC, an ICE restart).")
	}
	d.WriteString(" Fix: keep the binding alive with traffic more often than the NAT's UDP timeout - ChannelData, a Refresh (RFC 8656 §8) or STUN Binding keepalives to the TURN server on the allocation's socket (ICE keepalives and consent checks, RFC 8445 §11 and RFC 7675) - or raise the UDP timeout on the NAT or firewall (RFC 4787 REQ-5 asks for at least 2 minutes; Linux: nf_conntrack_udp_timeout and nf_conntrack_udp_timeout_stream).")

	title := fmt.Sprintf("NAT binding expired: TURN %s from %s instead of %s after %s idle got %s",
		first.Method, now, oldClient, shortDuration(gap), diagnose.ErrorCodeText(first.ErrorCode))
	frames := slices.Clone(ev.frames)
	slices.Sort(frames)
	filter := diagnose.FilterFrames(diagnose.CapFrames(slices.Compact(frames)))
	f := ev.finding(r, title, d.String(), filter)
	f.Severity = severity
	return f
}
