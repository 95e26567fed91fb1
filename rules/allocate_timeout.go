package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// inconclusiveWait is how long the capture must go on after a request's
// first send before silence counts as no answer: a request sent in the
// capture's last moments may have been answered after it stopped.
const inconclusiveWait = time.Second

// AllocateTimeout finds Allocate requests that were never answered and that
// no ICMP error explains (that is ServerUnreachable).
type AllocateTimeout struct{}

func (AllocateTimeout) ID() string                      { return "turn.allocate-timeout" }
func (AllocateTimeout) Severity() diagnose.Severity     { return diagnose.Error }
func (AllocateTimeout) Severities() []diagnose.Severity { return warningOrError() }
func (AllocateTimeout) Title() string                   { return "TURN Allocate never answered" }

func (AllocateTimeout) Explain() string {
	return "Checks for TURN Allocate requests that got no response at all: the client retransmits the " +
		"same transaction (over UDP at 0, 0.5, 1.5, 3.5 s and so on, RFC 8489 §6.2.1) until it gives up " +
		"or the capture ends. Browsers and softphones then report a relay candidate creation timeout and " +
		"ICE has no relay candidate, so calls through restrictive NATs fail. Usual causes: a firewall " +
		"silently dropping UDP or TCP 3478 (or 5349, or 443 for TURN/TLS) on the way to the edge box, " +
		"the TURN server not running or not listening on that address (listening-ip, a public address " +
		"behind 1:1 NAT without external-ip), or a wrong server address in the client's ICE servers. " +
		"Requests answered with an ICMP unreachable are reported by turn.server-unreachable instead."
}

func (r AllocateTimeout) Check(a *diagnose.Analysis) []diagnose.Finding {
	end := &lazyEnd{a: a, of: captureEnd}
	icmp := icmpFlows(a)
	groups := groupTransactions(a.Transactions, func(t *diagnose.Transaction) bool {
		return t.Method == stun.MethodAllocate && unanswered(t, icmp, end)
	}, tupleOf)
	if len(groups) == 0 {
		return capFindings(r, nil)
	}
	// Only the groups' 5-tuples are looked up.
	tuples := tupleSet(groups)
	allocated := transactionsByTuple(a, func(t *diagnose.Transaction) bool {
		return t.Method == stun.MethodAllocate && t.Answered && t.Class == stun.ClassSuccess && tuples[tupleOf(t)]
	})
	answered := make(map[fiveTuple]int, len(tuples))
	for _, t := range a.Transactions {
		if t != nil && t.Answered && tuples[tupleOf(t)] {
			answered[tupleOf(t)]++
		}
	}
	var found []serverFinding
	for _, g := range groups {
		first := g[0]
		before, after := allocatedAround(allocated[tupleOf(first)], g[len(g)-1])
		if after != nil {
			continue // the client retried and got its allocation
		}
		f := r.finding(a, g, end.get(), answered[tupleOf(first)])
		if before != nil {
			// The 5-tuple already had an allocation: a lost duplicate,
			// not a relay candidate that could not be made.
			f.Severity = diagnose.Warning
			f.Detail += fmt.Sprintf(" An earlier Allocate on this 5-tuple had succeeded (frame %d), so the client had its relay anyway.", before.Response.Frame)
		}
		found = append(found, serverFinding{f, first.Server, first.Transport})
	}
	return capFindings(r, found)
}

// allocatedAround finds, among the successful Allocates on t's 5-tuple,
// those sent before and after it.
func allocatedAround(allocated []*diagnose.Transaction, t *diagnose.Transaction) (before, after *diagnose.Transaction) {
	for _, o := range allocated {
		if o == t {
			continue
		}
		if firstSend(o).After(firstSend(t)) {
			if after == nil {
				after = o
			}
		} else {
			before = o
		}
	}
	return before, after
}

// unanswered tells a request that got no answer, no ICMP error, and was
// sent long enough before the capture ended for the silence to mean
// something.
func unanswered(t *diagnose.Transaction, icmp map[fiveTuple]bool, end *lazyEnd) bool {
	if t.Answered || t.ICMP != nil || len(t.Requests) == 0 || len(icmp) > 0 && icmp[tupleOf(t)] {
		return false
	}
	return end.get().Sub(firstSend(t)) >= inconclusiveWait
}

// icmpFlows lists the flows an ICMP unreachable quoted, whether or not the
// quote held enough of the STUN header to name a transaction.
func icmpFlows(a *diagnose.Analysis) map[fiveTuple]bool {
	flows := make(map[fiveTuple]bool)
	for _, e := range a.ICMPErrors {
		if e != nil && isUnreachable(e.Description) {
			flows[fiveTuple{e.Flow[0], e.Flow[1], e.Transport}] = true
		}
	}
	return flows
}

// finding describes a 5-tuple's unanswered Allocates; answered counts the
// requests the server answered on it.
func (r AllocateTimeout) finding(a *diagnose.Analysis, g []*diagnose.Transaction, end time.Time, answered int) diagnose.Finding {
	first := g[0]
	var ev evidence
	total := 0
	longest := first
	for _, t := range g {
		ev.addTransaction(t)
		total += sends(t)
		if sends(t) > sends(longest) {
			longest = t
		}
	}
	var d strings.Builder
	if len(g) == 1 {
		fmt.Fprintf(&d, "The Allocate request from %s to %s (%s) was never answered", endpointString(first.Client), endpointString(first.Server), first.Transport)
	} else {
		fmt.Fprintf(&d, "%d Allocate requests from %s to %s (%s) were never answered (%s in all, from %s to %s)",
			len(g), endpointString(first.Client), endpointString(first.Server), first.Transport,
			plural(total, "send", "sends"), clock(firstSend(first)), clock(lastSend(g[len(g)-1])))
	}
	if first.Transport == decode.TCP {
		fmt.Fprintf(&d, ". Over TCP STUN does not retransmit (RFC 8489 §6.2.2); the capture goes on %s s after the last request with no answer.", seconds(end.Sub(lastSend(g[len(g)-1]))))
	} else {
		what := "It was"
		if len(g) > 1 {
			what = "The longest-tried one was"
		}
		if sends(longest) == 1 {
			fmt.Fprintf(&d, ". %s sent once and never retransmitted; %s.", what, gaveUp(longest, end))
		} else {
			fmt.Fprintf(&d, ". %s sent %s with the same transaction ID, at %s after the first send; %s.",
				what, plural(sends(longest), "time", "times"), schedule(longest.Requests, longest.RequestCount), gaveUp(longest, end))
		}
	}
	if n := answered; n > 0 {
		fmt.Fprintf(&d, " The server answered %s on this 5-tuple, so the path works: the Allocates were lost or ignored by the server rather than blocked.", plural(n, "other request", "other requests"))
	} else if first.Transport == decode.TCP {
		// The request travelled on an open TCP connection, so something
		// accepted it: a port filter would have stopped the handshake.
		fmt.Fprintf(&d, " Over TCP the request can only be sent once the connection is up, so something on %s accepted the connection but never answered: a TURN server that ignores the request (wrong protocol on that port, overloaded, or TURN over TCP disabled), or a proxy or firewall that terminates TCP 3478 itself.",
			endpointString(first.Server))
	} else {
		fmt.Fprintf(&d, " Nothing came back from %s at all: %s %d is most likely dropped silently by a firewall, or the TURN server is down or not listening on that address.",
			endpointString(first.Server), strings.ToUpper(first.Transport.String()), first.Server.Port())
	}
	return ev.finding(r, "TURN Allocate to "+endpointString(first.Server)+" never answered", d.String(),
		transactionsFilter(a, g, tupleOf(first)))
}

// gaveUp says how the retransmissions ended: the client stopped (RFC 8489
// §6.2.1: Rc = 7 sends by default, browsers give up sooner), or the capture
// stopped while it was still trying.
func gaveUp(t *diagnose.Transaction, end time.Time) string {
	last := lastSend(t)
	after := end.Sub(last)
	// The next retransmission would come after twice the last interval;
	// after the 7th send a client waits 16 RTO (8 s with RTO 500 ms) and
	// then fails the transaction.
	next := 500 * time.Millisecond
	if n := len(t.Requests); n >= 2 {
		next = 2 * t.Requests[n-1].Time.Sub(t.Requests[n-2].Time)
	}
	if t.RequestCount > 7 {
		// Chromium caps its RTO at 8 s and sends 9 times (RFC 8489 §6.2.1
		// leaves Rc and RTO to the implementation).
		if after >= 8*time.Second {
			return fmt.Sprintf("then the client gave up, after more than the 7 sends of RFC 8489 §6.2.1's default (no answer in the %s s the capture goes on)", seconds(after))
		}
		return "that is more than the 7 sends of RFC 8489 §6.2.1's default: this client retransmits on a schedule of its own; " + captureEndsAfter(after, "the last one")
	}
	if t.RequestCount == 7 {
		if after >= 8*time.Second {
			return fmt.Sprintf("then the client gave up, as RFC 8489 §6.2.1 has it do after 7 sends (no answer in the %s s the capture goes on)", seconds(after))
		}
		return "that is as many as RFC 8489 §6.2.1 sends before giving up, and " + captureEndsAfter(after, "the last one")
	}
	if after > next+time.Second {
		return fmt.Sprintf("then the client gave up (the capture goes on %s s after the last send, with no answer)", seconds(after))
	}
	return captureEndsAfter(after, "the last send") + ", so the client may still have been retrying"
}

// captureEndsAfter says how long the capture goes on after what: under a
// millisecond, which seconds() would print as "0 s", it ends with it.
func captureEndsAfter(after time.Duration, what string) string {
	if after < time.Millisecond {
		return "the capture ends with " + what
	}
	return fmt.Sprintf("the capture ends %s s after %s", seconds(after), what)
}

// clock prints a time of day for details, in UTC like the rest of reports.
func clock(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.UTC().Format("15:04:05.000")
}
