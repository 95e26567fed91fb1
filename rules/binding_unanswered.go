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
	end := &lazyEnd{a: a, of: captureEnd}
	icmp := icmpFlows(a)
	groups := groupTransactions(a.Transactions, func(t *diagnose.Transaction) bool {
		return t.Method == stun.MethodBinding && unanswered(t, icmp, end)
	}, tupleOf)
	if len(groups) == 0 {
		return capFindings(r, nil)
	}
	summaries := bindingSummaries(a)
	answers := newAnsweredBindings(a)
	// When each kept Binding request that was answered was first sent, per
	// pair, for the groups' pairs.
	pairs := tupleSet(groups)
	lastAnswered := make(map[fiveTuple]time.Time, len(pairs))
	for _, t := range a.Transactions {
		if t != nil && t.Method == stun.MethodBinding && t.Answered && pairs[tupleOf(t)] && firstSend(t).After(lastAnswered[tupleOf(t)]) {
			lastAnswered[tupleOf(t)] = firstSend(t)
		}
	}
	var found []serverFinding
	for _, g := range groups {
		pair := tupleOf(g[0])
		s := summaries[pair]
		if !pathDead(g, s, lastAnswered[pair]) {
			continue
		}
		found = append(found, serverFinding{r.finding(a, g, s, answers), pair.server, pair.transport})
	}
	return capFindings(r, found)
}

// deadAfter is how many unanswered Binding requests, after the last
// answered one on a pair that did work, mean the path died rather than a
// packet or two were lost (consent freshness, RFC 7675 §5.1, gives up
// after 30 s of checks every 5 s or so).
const deadAfter = 3

// pathDead tells whether a pair's unanswered Binding requests mean
// something: the pair never answered, or it stopped answering for good.
// The engine keeps only some Binding transactions per flow, so a pair it
// summarized is judged by the summary's counts, which cover every request:
// a few requests lost mid-call and followed by answers are not a dead
// path. lastAnswered is when the latest answered request among the kept
// ones was sent, for a pair without a summary.
func pathDead(g []*diagnose.Transaction, s *diagnose.BindingSummary, lastAnswered time.Time) bool {
	if s == nil {
		return !lastAnswered.After(firstSend(g[len(g)-1]))
	}
	if s.Answered == 0 {
		return true
	}
	return s.UnansweredSinceAnswer >= deadAfter
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

func (r BindingUnanswered) finding(a *diagnose.Analysis, g []*diagnose.Transaction, s *diagnose.BindingSummary, answers *answeredBindings) diagnose.Finding {
	died := s != nil && s.Answered > 0
	if died {
		// Cite the requests after the last answer when some were kept:
		// earlier ones were losses the pair recovered from.
		var after []*diagnose.Transaction
		for _, t := range g {
			if firstSend(t).After(s.LastAnswered.Time) {
				after = append(after, t)
			}
		}
		if len(after) > 0 {
			g = after
		}
	}
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
	switch {
	case died:
		count = max(s.UnansweredSinceAnswer, 1) // the engine kept only some of them
	case s != nil && s.Unanswered > count:
		count = s.Unanswered
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s from %s to %s (%s) got no response", sentence(count, one, many),
		endpointString(first.Client), endpointString(first.Server), first.Transport)
	if total > len(g) && count == len(g) {
		fmt.Fprintf(&d, " (%d sends with retransmissions)", total)
	}
	if span := lastSend(last).Sub(firstSend(first)); span > 0 && count == len(g) {
		fmt.Fprintf(&d, " over %s s", seconds(span))
	}
	d.WriteString(".")
	if died {
		fmt.Fprintf(&d, " The pair had answered %s before it went silent", plural(s.Answered, "request", "requests"))
		if s.LastAnswered.Frame != 0 {
			fmt.Fprintf(&d, " (the last answer in frame %d, at %s)", s.LastAnswered.Frame, clock(s.LastAnswered.Time))
		}
		d.WriteString(": NAT or firewall state for it expired, or the other side went away.")
	}

	pair := tupleOf(first)
	answered, servers := answers.from(pair)
	if answered > 0 {
		fmt.Fprintf(&d, " Other Binding requests from %s were answered (%s, by %s), so this is most likely a check to a candidate that never worked, which is harmless when another pair succeeded.",
			first.Client.Addr().Unmap(), plural(answered, "response", "responses"), strings.Join(servers, ", "))
	} else if ice {
		fmt.Fprintf(&d, " No Binding request from this client %s was answered: if no other candidate pair worked, the media path is blocked (a firewall dropping the peer's or the relay's ports); a TURN relay over an allowed port avoids it.", elsewhere(died))
	} else {
		fmt.Fprintf(&d, " No Binding request from this client %s was answered: %s %d to %s is probably blocked, or the STUN server is down, so the client gets no server-reflexive candidate.",
			elsewhere(died), strings.ToUpper(first.Transport.String()), first.Server.Port(), first.Server.Addr().Unmap())
	}
	return ev.finding(r, strings.ToUpper(many[:1])+many[1:]+" to "+endpointString(first.Server)+" unanswered",
		d.String(), transactionsFilter(a, g, pair))
}

// elsewhere qualifies "no Binding request from this client was answered":
// a pair that answered before it died is left out of the count.
func elsewhere(died bool) string {
	if died {
		return "on another pair"
	}
	return "at all"
}

// answeredBindings counts the answered Binding requests of each client
// host, built once per Check: from the engine's exact per-flow summaries
// when it made them, else from the transactions kept.
type answeredBindings struct {
	hosts map[netip.Addr]*hostAnswers
	pairs map[fiveTuple]int
}

// hostAnswers is one client host's count and the first servers that
// answered it (maxNamedServers+1, so that as many are left to name once
// the pair in question is left out).
type hostAnswers struct {
	total   int
	servers []serverAnswers
}

type serverAnswers struct {
	server netip.AddrPort
	n      int
}

// maxNamedServers is how many servers a finding names as having answered.
const maxNamedServers = 3

func newAnsweredBindings(a *diagnose.Analysis) *answeredBindings {
	ab := &answeredBindings{hosts: make(map[netip.Addr]*hostAnswers), pairs: make(map[fiveTuple]int)}
	add := func(pair fiveTuple, n int) {
		if n <= 0 {
			return
		}
		ab.pairs[pair] += n
		h := ab.hosts[pair.client.Addr()]
		if h == nil {
			h = &hostAnswers{}
			ab.hosts[pair.client.Addr()] = h
		}
		h.total += n
		if i := slices.IndexFunc(h.servers, func(s serverAnswers) bool { return s.server == pair.server }); i >= 0 {
			h.servers[i].n += n
		} else if len(h.servers) <= maxNamedServers {
			h.servers = append(h.servers, serverAnswers{pair.server, n})
		}
	}
	if len(a.Bindings) > 0 {
		for _, s := range a.Bindings {
			if s != nil && s.Client.IsValid() {
				add(fiveTuple{s.Client, s.Server, s.Transport}, s.Answered-s.Errors)
			}
		}
		return ab
	}
	for _, t := range a.Transactions {
		if t != nil && t.Method == stun.MethodBinding && t.Answered && t.Class == stun.ClassSuccess {
			add(tupleOf(t), 1)
		}
	}
	return ab
}

// from counts the successful answers to Binding requests from the pair's
// client host on other pairs, and names up to maxNamedServers of the
// servers that gave them.
func (ab *answeredBindings) from(pair fiveTuple) (int, []string) {
	h := ab.hosts[pair.client.Addr()]
	if h == nil {
		return 0, nil
	}
	own := ab.pairs[pair]
	var servers []string
	for _, s := range h.servers {
		n := s.n
		if s.server == pair.server {
			n -= own
		}
		if n > 0 && len(servers) < maxNamedServers {
			if name := endpointString(s.server); !slices.Contains(servers, name) {
				servers = append(servers, name)
			}
		}
	}
	return h.total - own, servers
}
