package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// ServerUnreachable finds STUN/TURN requests answered by an ICMP or ICMPv6
// destination unreachable instead of a response.
type ServerUnreachable struct{}

func (ServerUnreachable) ID() string                      { return "turn.server-unreachable" }
func (ServerUnreachable) Severity() diagnose.Severity     { return diagnose.Error }
func (ServerUnreachable) Severities() []diagnose.Severity { return warningOrError() }
func (ServerUnreachable) Title() string                   { return "TURN/STUN server unreachable (ICMP)" }

func (ServerUnreachable) Explain() string {
	return "Checks for ICMP or ICMPv6 destination-unreachable errors that quote a STUN or TURN request " +
		"(or any packet on a client-server flow that carries STUN). A port unreachable from the server's own " +
		"address means the host is up but nothing listens on that port: the TURN server is stopped, " +
		"listens on another port or address, or the client was given the wrong port. Administratively " +
		"prohibited means a firewall rejects the traffic actively; host or network unreachable means a " +
		"router cannot reach the address at all. The standard ports are 3478 (UDP/TCP) and 5349 (TLS), " +
		"often 443 for TURN/TLS; an error for a port in a relay range (e.g. 24000-29999 or 49152-65535) " +
		"usually means ICE checks went to a relayed candidate whose allocation is gone. Errors sent by a host " +
		"that itself sends STUN requests (an ICE agent closing its socket at the end of a call) are not " +
		"counted, and when the client got an allocation from another server the finding is a warning."
}

func (r ServerUnreachable) Check(a *diagnose.Analysis) []diagnose.Finding {
	// Few captures hold ICMP errors, and those few: the transactions are
	// indexed only for the flows and senders the errors name.
	var errs []*diagnose.ICMPEvent
	flows := make(map[fiveTuple]bool)
	senders := make(map[netip.Addr]bool)
	for _, e := range a.ICMPErrors {
		if e == nil || !isUnreachable(e.Description) {
			continue
		}
		// Only packets from a client to a server count: an error quoting a
		// response means the client's port was gone (it closed its socket
		// after deleting the allocation, say), not the server.
		if tx := e.Transaction; tx != nil && (tx.Client != e.Flow[0] || tx.Server != e.Flow[1]) {
			continue
		}
		errs = append(errs, e)
		flows[fiveTuple{e.Flow[0], e.Flow[1], e.Transport}] = true
		senders[e.From.Unmap()] = true
	}
	if len(errs) == 0 {
		return capFindings(r, nil)
	}
	stunFlows := make(map[fiveTuple][]*diagnose.Transaction)
	// Hosts that sent STUN requests themselves are ICE agents or TURN
	// clients, not servers: their port unreachable means they closed a
	// socket (the call ended, a candidate was pruned), which is ICE's story,
	// not a dead TURN server.
	agents := make(map[netip.Addr]bool)
	for _, t := range a.Transactions {
		if t == nil {
			continue
		}
		if k := tupleOf(t); flows[k] {
			stunFlows[k] = append(stunFlows[k], t)
		}
		if c := t.Client.Addr().Unmap(); senders[c] {
			agents[c] = true
		}
	}
	for _, al := range a.Allocations {
		if al != nil {
			k := fiveTuple{al.Client, al.Server, al.Transport}
			if _, ok := stunFlows[k]; !ok && flows[k] {
				stunFlows[k] = nil
			}
		}
	}
	for _, b := range a.Bindings {
		if b != nil && senders[b.Client.Addr().Unmap()] {
			agents[b.Client.Addr().Unmap()] = true
		}
	}
	type key struct {
		server    netip.AddrPort
		transport decode.Transport
	}
	var groups orderedGroups[key, *diagnose.ICMPEvent]
	for _, e := range errs {
		if agents[e.From.Unmap()] {
			continue
		}
		if _, ok := stunFlows[fiveTuple{e.Flow[0], e.Flow[1], e.Transport}]; !ok && e.Transaction == nil {
			continue
		}
		groups.add(key{e.Flow[1], e.Transport}, e)
	}
	if len(groups.groups) == 0 {
		return capFindings(r, nil)
	}
	answers := newAnsweredBindings(a)
	working := &workingTURNServers{allocs: a.Allocations}
	var found []serverFinding
	for _, g := range groups.groups {
		found = append(found, serverFinding{r.finding(g, stunFlows, answers, working), g[0].Flow[1], g[0].Transport})
	}
	return capFindings(r, found)
}

func (r ServerUnreachable) finding(g []*diagnose.ICMPEvent, flows map[fiveTuple][]*diagnose.Transaction, answers *answeredBindings, working *workingTURNServers) diagnose.Finding {
	first := g[0]
	server, transport := first.Flow[1], first.Transport
	var ev evidence
	var clients, senders, descriptions, methods []string
	seenTx := make(map[*diagnose.Transaction]bool)
	addTx := func(t *diagnose.Transaction) {
		if t == nil || seenTx[t] {
			return
		}
		seenTx[t] = true
		ev.addTransaction(t)
		if m := t.Method.String(); !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	flowCited := make(map[fiveTuple]bool)
	for _, e := range g {
		ev.addFrame(e.FrameRef)
		ev.addEndpoint(e.Flow[0])
		ev.addEndpoint(e.Flow[1])
		if c := endpointString(e.Flow[0]); !slices.Contains(clients, c) {
			clients = append(clients, c)
		}
		if s := e.From.Unmap().String(); !slices.Contains(senders, s) {
			senders = append(senders, s)
		}
		if !slices.Contains(descriptions, e.Description) {
			descriptions = append(descriptions, e.Description)
		}
		addTx(e.Transaction)
		// A flow's transactions are cited at its first error: hundreds of
		// errors may quote one flow of thousands of requests.
		flow := fiveTuple{e.Flow[0], e.Flow[1], e.Transport}
		if flowCited[flow] {
			continue
		}
		flowCited[flow] = true
		for _, t := range flows[flow] {
			if !t.Answered {
				addTx(t)
			}
		}
	}

	var d strings.Builder
	what := "STUN/TURN traffic"
	if len(methods) > 0 {
		m := strings.Join(methods, "/")
		what = sentence(len(seenTx), m+" request", m+" requests")
	}
	fmt.Fprintf(&d, "%s to %s (%s) from %s got %s instead of a response: %s from %s.",
		what, endpointString(server), transport, strings.Join(clients, ", "),
		plural(len(g), "ICMP error", "ICMP errors"), strings.Join(descriptions, ", "), strings.Join(senders, ", "))
	fromServer := len(senders) == 1 && senders[0] == server.Addr().Unmap().String()
	standard := server.Port() == 3478 || server.Port() == 5349 || server.Port() == 443
	switch desc := strings.Join(descriptions, " "); {
	case strings.Contains(desc, "port unreachable"):
		if fromServer && standard {
			fmt.Fprintf(&d, " The host itself answered, so it is up but nothing listens on %s port %d: the TURN server is stopped or listens elsewhere.", strings.ToUpper(transport.String()), server.Port())
		} else {
			fmt.Fprintf(&d, " Nothing listens on %s port %d (or a firewall in front of it rejects the packets with port unreachable).", strings.ToUpper(transport.String()), server.Port())
		}
	case strings.Contains(desc, "prohibited") || strings.Contains(desc, "policy") || strings.Contains(desc, "reject"):
		fmt.Fprintf(&d, " A firewall or router rejects %s to port %d: open it towards the STUN/TURN server.", strings.ToUpper(transport.String()), server.Port())
	default:
		d.WriteString(" A router cannot reach the server's address: check the address the client was given and the routing to the edge box.")
	}
	if hint := portHint(server.Port(), transport, methods); hint != "" {
		d.WriteString(" " + hint)
	}
	f := ev.finding(r, fmt.Sprintf("%s unreachable (%s)", endpointString(server), strings.Join(descriptions, ", ")), "",
		diagnose.FilterEndpoint(server, transport)+" && (stun || classicstun || icmp || icmpv6)")
	// ICE checks to one dead candidate are harmless when another pair
	// answered: a warning, not the error a dead TURN server is.
	if len(methods) == 1 && methods[0] == stun.MethodBinding.String() {
		if n, servers := answers.from(fiveTuple{first.Flow[0], first.Flow[1], first.Transport}); n > 0 {
			fmt.Fprintf(&d, " Other Binding requests from %s were answered (by %s), so ICE had other candidate pairs to use.", first.Flow[0].Addr().Unmap(), strings.Join(servers, ", "))
			f.Severity = diagnose.Warning
		}
	}
	if f.Severity == diagnose.Error {
		if other := working.from(first.Flow[0].Addr(), server); other != nil {
			fmt.Fprintf(&d, " The same client did get an allocation from %s (frame %d), so it fell back to another server or port: fix or remove the unreachable one from its ICE server list to save the delay.",
				endpointString(other.Server), other.First.Frame)
			f.Severity = diagnose.Warning
		}
	}
	f.Detail = d.String()
	return f
}

// workingTURNServers finds the allocation a client got from another
// server, for each finding: with up to diagnose.MaxICMPEvents findings,
// each scanning every allocation was quadratic.
type workingTURNServers struct {
	allocs []*diagnose.Allocation
	// Per client address, the first working allocation and the first
	// after it from another server: whatever the unreachable server, one
	// of the two is the first working one from elsewhere. Made on the
	// first lookup.
	byClient map[netip.Addr][2]*diagnose.Allocation
}

// from finds an allocation the client got from a server other than
// unreachable: the first in the order of Analysis.Allocations.
func (w *workingTURNServers) from(client netip.Addr, unreachable netip.AddrPort) *diagnose.Allocation {
	if w.byClient == nil {
		w.byClient = make(map[netip.Addr][2]*diagnose.Allocation)
		for _, al := range w.allocs {
			if al == nil {
				continue
			}
			switch al.Outcome {
			case "allocated", "deleted", "expired":
			default:
				continue
			}
			c := al.Client.Addr().Unmap()
			two := w.byClient[c]
			switch {
			case two[0] == nil:
				two[0] = al
			case two[1] == nil && al.Server != two[0].Server:
				two[1] = al
			default:
				continue
			}
			w.byClient[c] = two
		}
	}
	two := w.byClient[client.Unmap()]
	if two[0] != nil && two[0].Server != unreachable {
		return two[0]
	}
	return two[1]
}

// portHint explains a destination port that is not a TURN listening port.
func portHint(port uint16, transport decode.Transport, methods []string) string {
	switch port {
	case 3478, 5349:
		return ""
	case 443:
		if transport == decode.UDP {
			return "UDP port 443 is unusual for TURN: TURN/TLS on 443 runs over TCP, so check the client's TURN URL (turns:host:443?transport=tcp)."
		}
		return ""
	}
	if len(methods) == 1 && methods[0] == stun.MethodBinding.String() && port >= 1024 {
		return fmt.Sprintf("Port %d is not a standard STUN/TURN port (3478, 5349): Binding requests to it look like ICE connectivity checks to a candidate on a relay port (ranges such as 24000-29999 or 49152-65535), whose allocation may have expired or never existed.", port)
	}
	return fmt.Sprintf("Port %d is not a standard STUN/TURN port (3478, 5349): if it is in the server's relay range (e.g. 24000-29999) the client is talking to a relayed address instead of the server; otherwise check the port in the client's TURN URL and the server's listening-port.", port)
}

// isUnreachable tells destination-unreachable errors from other ICMP errors
// (time exceeded, packet too big) by the decoder's description, which follows
// the RFC 792 and RFC 4443 §3.1 code names.
func isUnreachable(desc string) bool {
	d := strings.ToLower(desc)
	if strings.Contains(d, "fragmentation") || strings.Contains(d, "too big") {
		return false
	}
	for _, s := range []string{"unreachable", "prohibited", "no route", "unknown", "isolated", "reject", "policy", "beyond scope", "precedence"} {
		if strings.Contains(d, s) {
			return true
		}
	}
	return false
}
