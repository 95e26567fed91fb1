package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// BindingUnanswered finds client-server pairs whose Binding requests never
// got a response.
type BindingUnanswered struct{}

func (BindingUnanswered) ID() string                  { return "stun.binding-unanswered" }
func (BindingUnanswered) Severity() diagnose.Severity { return diagnose.Warning }
func (BindingUnanswered) Title() string               { return "STUN Binding requests unanswered" }

func (BindingUnanswered) Explain() string {
	return "Checks for STUN Binding requests that got no response, per client and server address pair. " +
		"To a STUN server (port 3478 or e.g. 19302) this means the client learns no server-reflexive " +
		"candidate: UDP to the server is blocked or the server is down. Between ICE agents the Binding " +
		"requests are connectivity checks, and checks to a candidate that never answers (a private " +
		"address of the other side, an IPv6 address without a route, a port the firewall drops) are " +
		"common and harmless when another candidate pair succeeded; the finding says so when other " +
		"Binding requests from the same client were answered. If no pair ever answers, the media path is " +
		"blocked: open the relay ports (e.g. 24000-29999) and media ports on the firewall, or use TURN."
}

func (r BindingUnanswered) Check(a *diagnose.Analysis) []diagnose.Finding {
	end := captureEnd(a)
	icmp := icmpFlows(a)
	summaries := bindingSummaries(a)
	groups := groupTransactions(a.Transactions, func(t *diagnose.Transaction) bool {
		return t.Method == stun.MethodBinding && unanswered(t, icmp, end)
	}, tupleOf)
	var out []diagnose.Finding
	for _, g := range groups {
		s := summaries[tupleOf(g[0])]
		if !pathDead(a, g, s) {
			continue
		}
		out = append(out, r.finding(a, g, s))
	}
	return out
}

// deadAfter is how many unanswered Binding requests, after the last
// answered one on a pair that did work, mean the path died rather than a
// packet or two were lost (consent freshness, RFC 7675 §5.1, gives up
// after 30 s of checks every 5 s or so).
const deadAfter = 3

// pathDead tells whether a pair's unanswered Binding requests mean
// something: the pair never answered, or it stopped answering for good.
// The engine keeps only some Binding transactions per flow, so a pair that
// answered at all needs its summary's exact counts to be judged.
func pathDead(a *diagnose.Analysis, g []*diagnose.Transaction, s *diagnose.BindingSummary) bool {
	last := g[len(g)-1]
	if answeredAfter(a, last) {
		return false // the pair worked again later: a few lost packets
	}
	if s == nil {
		return true
	}
	if s.Answered == 0 {
		return true
	}
	// The pair answered some: all its unanswered requests must be known
	// (kept) and come after every answer, and be enough of them.
	return s.Unanswered == len(g) && len(g) >= deadAfter && !s.Last.Time.After(lastSend(last).Add(time.Minute))
}

// bindingSummaries indexes the engine's exact per-flow Binding counts.
func bindingSummaries(a *diagnose.Analysis) map[fiveTuple]*diagnose.BindingSummary {
	m := make(map[fiveTuple]*diagnose.BindingSummary, len(a.Bindings))
	for _, s := range a.Bindings {
		if s != nil && s.Client.IsValid() {
			m[fiveTuple{s.Client, s.Server, s.Transport}] = s
		}
	}
	return m
}

func (r BindingUnanswered) finding(a *diagnose.Analysis, g []*diagnose.Transaction, s *diagnose.BindingSummary) diagnose.Finding {
	first, last := g[0], g[len(g)-1]
	var ev evidence
	total := 0
	ice := false
	for _, t := range g {
		ev.addTransaction(t)
		total += sends(t)
		// ICE checks carry USERNAME "remote-ufrag:local-ufrag" (RFC 8445 §7.2.2).
		ice = ice || strings.Contains(t.Username, ":")
	}
	one, many := "Binding request", "Binding requests"
	if ice {
		one, many = "ICE connectivity check", "ICE connectivity checks"
	}
	count := len(g)
	if s != nil && s.Unanswered > count {
		count = s.Unanswered // the engine kept only some of them
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s from %s to %s (%s) got no response", sentence(count, one, many),
		endpointString(first.Client), endpointString(first.Server), first.Transport)
	if total > len(g) && count == len(g) {
		fmt.Fprintf(&d, " (%d sends with retransmissions)", total)
	}
	if span := lastSend(last).Sub(firstSend(first)); span > 0 {
		fmt.Fprintf(&d, " over %s s", seconds(span))
	}
	d.WriteString(".")
	if s != nil && s.Answered > 0 {
		fmt.Fprintf(&d, " The pair had answered %s before it went silent: NAT or firewall state for it expired, or the other side went away.", plural(s.Answered, "request", "requests"))
	}

	answered, servers := answeredFromClient(a, first, first.Client)
	if answered > 0 {
		fmt.Fprintf(&d, " Other Binding requests from %s were answered (%s, by %s), so this is most likely a check to a candidate that never worked, which is harmless when another pair succeeded.",
			first.Client.Addr().Unmap(), plural(answered, "response", "responses"), strings.Join(servers, ", "))
	} else if ice {
		d.WriteString(" No Binding request from this client was answered at all: if no other candidate pair worked, the media path is blocked (a firewall dropping the peer's or the relay's ports); a TURN relay over an allowed port avoids it.")
	} else {
		fmt.Fprintf(&d, " No Binding request from this client was answered at all: %s %d to %s is probably blocked, or the STUN server is down, so the client gets no server-reflexive candidate.",
			strings.ToUpper(first.Transport.String()), first.Server.Port(), first.Server.Addr().Unmap())
	}
	return ev.finding(r, strings.ToUpper(many[:1])+many[1:]+" to "+endpointString(first.Server)+" unanswered",
		d.String(), transactionsFilter(a, g, tupleOf(first)))
}

// answeredFromClient counts the Binding requests from the same client host
// that were answered, and by whom: from the engine's exact per-flow
// summaries when it made them, else from the transactions.
func answeredFromClient(a *diagnose.Analysis, except *diagnose.Transaction, client netip.AddrPort) (int, []string) {
	n := 0
	var servers []string
	add := func(answered int, server netip.AddrPort) {
		if answered <= 0 {
			return
		}
		n += answered
		if s := endpointString(server); !slices.Contains(servers, s) && len(servers) < 3 {
			servers = append(servers, s)
		}
	}
	if len(a.Bindings) > 0 {
		for _, s := range a.Bindings {
			if s != nil && s.Client.Addr() == client.Addr() {
				add(s.Answered-s.Errors, s.Server)
			}
		}
		return n, servers
	}
	for _, o := range a.Transactions {
		if o != nil && o.Method == stun.MethodBinding && o.Answered && o.Class == stun.ClassSuccess && o != except && o.Client.Addr() == client.Addr() {
			add(1, o.Server)
		}
	}
	return n, servers
}

// answeredAfter tells whether a Binding on the same pair sent after t was
// answered.
func answeredAfter(a *diagnose.Analysis, t *diagnose.Transaction) bool {
	for _, o := range a.Transactions {
		if o != nil && o.Method == stun.MethodBinding && o.Answered && tupleOf(o) == tupleOf(t) && firstSend(o).After(firstSend(t)) {
			return true
		}
	}
	return false
}
