package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// SIPTransactionTimeout finds SIP requests that never got a final response:
// retransmitted (over UDP, RFC 3261 §17.1.1.2 Timer A doubles from T1 =
// 500 ms) until the client gives up at Timer B/F = 64*T1, or left waiting
// for longer than the profile's sip_timeout_s. An INVITE that got a
// provisional response is not timing out: the client stops retransmitting
// and waits for the callee (a proxy's Timer C, minutes).
//
// Over UDP the rule is "a request retransmitted with no final response":
// a request sent once and never again got its answer (a client
// retransmits until it does, Timer A), only the capture did not see it -
// one direction captured, or a response on another path. Such requests
// are not reported.
type SIPTransactionTimeout struct {
	Profile *Profile
}

func (SIPTransactionTimeout) ID() string                  { return "sip.transaction-timeout" }
func (SIPTransactionTimeout) Severity() diagnose.Severity { return diagnose.Error }
func (SIPTransactionTimeout) Title() string               { return "SIP request never answered" }

func (SIPTransactionTimeout) Explain() string {
	return "Finds SIP requests that got no final response: retransmitted over UDP (0.5, 1, 2, 4 s apart, " +
		"RFC 3261 Timer A) until the client gives up after 32 s (Timer B for INVITE, Timer F for the " +
		"others; the profile's sip_timeout_s), or sent over TCP/TLS and left unanswered that long. An INVITE " +
		"answered by 100 Trying or 180 Ringing is waiting for the callee and is not a timeout. Usual causes: " +
		"a firewall or NAT that drops SIP on UDP 5060 or TLS/TCP 5061 (or the service's own SIP ports), a " +
		"SIP ALG that swallows what it cannot parse, a large INVITE fragmented over UDP whose fragments a " +
		"firewall drops (RFC 3261 §18.1.1 moves requests above 1300 bytes to TCP), a wrong server address, " +
		"or a server that is down. When other requests on the same flow were answered, the server is alive " +
		"and something dropped this request or its answer. A UDP request sent only once is not reported: its " +
		"client stopped retransmitting, so it got an answer the capture did not see (one direction captured)."
}

type sipFlowKey struct {
	client, server netip.AddrPort
	transport      decode.Transport
	method         string
}

// minTimeoutSends is how many sends prove a timeout in progress when the
// capture ends before Timer B/F: the request went out at 0, 0.5, 1.5 and
// 3.5 s with no answer at all.
const minTimeoutSends = 4

func (r SIPTransactionTimeout) Check(a *diagnose.Analysis) []diagnose.Finding {
	p := profileOrDefault(r.Profile)
	timeout := time.Duration(p.Thresholds.SIPTimeoutS * float64(time.Second))
	end := &lazyEnd{a: a, of: sipEnd}
	var clues map[sipUDPFlow]*fragmentClues
	if mayHaveFragments(a) {
		clues = fragmentCluesOf(a)
	}
	var groups orderedGroups[sipFlowKey, *diagnose.SIPTransaction]
	for _, t := range a.SIPTransactions {
		if !sipTimedOut(t, end, timeout) {
			continue
		}
		// sip.fragmented-request reports it, with the fragments that
		// explain it: one failure, one finding.
		if lostInFragments(t, clues[sipUDPFlow{t.Client, t.Server}]) {
			continue
		}
		groups.add(sipFlowKey{t.Client, t.Server, t.Transport, t.Method}, t)
	}
	var out []diagnose.Finding
	answers := newSIPFlowAnswers(a)
	for _, g := range groups.groups {
		out = append(out, r.finding(answers, p, g, end.get(), timeout))
	}
	return out
}

// sipTimedOut says whether a request never got a final response, as
// SIPTransactionTimeout defines it: retransmitted over UDP (a request sent
// once got an answer the capture missed) or sent over TCP, and unanswered
// for the timeout or through minTimeoutSends sends; an INVITE with a
// provisional response is waiting for the callee, not timing out.
func sipTimedOut(t *diagnose.SIPTransaction, end *lazyEnd, timeout time.Duration) bool {
	if t == nil || len(t.Requests) == 0 || t.Method == "ACK" || finalResponse(t) != nil {
		return false
	}
	if t.Method == "INVITE" && len(t.Responses) > 0 {
		return false
	}
	if t.Transport == decode.UDP && sipSends(t) < 2 {
		return false
	}
	return sipSends(t) >= minTimeoutSends || end.get().Sub(firstRequest(t).Time) >= timeout
}

func (r SIPTransactionTimeout) finding(answers *sipFlowAnswers, p *Profile, g []*diagnose.SIPTransaction, end time.Time, timeout time.Duration) diagnose.Finding {
	first := g[0]
	var ev evidence
	sends := 0
	for _, t := range g {
		ev.addSIPTransaction(t)
		sends += sipSends(t)
	}
	var d strings.Builder
	if len(g) == 1 {
		fmt.Fprintf(&d, "%s from %s to %s (%s) got no final response", sentence(1, first.Method, ""), endpointString(first.Client), endpointString(first.Server), first.Transport)
		if len(first.Responses) > 0 {
			fmt.Fprintf(&d, " (only %s)", statusText(first.Responses[0].Status, first.Responses[0].Reason))
		}
		n := sipSends(first)
		if n > 1 {
			fmt.Fprintf(&d, ": sent %d times, at %s", n, schedule(first.Requests, first.RequestCount))
		}
	} else {
		fmt.Fprintf(&d, "%d %s requests from %s to %s (%s) got no final response (%s in all)", len(g), first.Method,
			endpointString(first.Client), endpointString(first.Server), first.Transport, plural(sends, "send", "sends"))
	}
	last := g[len(g)-1]
	waited := end.Sub(firstRequest(last).Time)
	if waited >= timeout {
		fmt.Fprintf(&d, ". The client waited past the %s s transaction timeout (64×T1, RFC 3261 Timer %s)", seconds(timeout), timerName(first.Method))
	} else {
		d.WriteString(". " + lastSendText(g, end, timeout))
	}
	d.WriteString(".")
	if n := answers.others(first); n > 0 {
		others := "Another request on the same flow was"
		if n > 1 {
			others = fmt.Sprintf("%d other requests on the same flow were", n)
		}
		fmt.Fprintf(&d, " %s answered, so the server is reachable: this request or its answer was dropped on the way.", others)
		if first.Method == "INVITE" && first.HasSDP && first.Transport == decode.UDP {
			d.WriteString(" An INVITE with SDP is the largest SIP message: if it is fragmented over UDP, a firewall that drops fragments loses it.")
		}
	} else {
		switch first.Transport {
		case decode.UDP:
			fmt.Fprintf(&d, " Nothing on this flow was answered: check that a firewall or NAT lets SIP over UDP to port %d through in both directions, that no SIP ALG drops it, and that the server is up at this address.", first.Server.Port())
		default:
			fmt.Fprintf(&d, " The request went over an established %s connection and no answer came back: the server (or an SBC in front of it) accepted the connection but did not process the request, or its answer was sent to another connection.", first.Transport)
		}
	}
	if ports := p.sipPorts(); ports != "" {
		fmt.Fprintf(&d, " The %s profile expects SIP on %s.", p.Name, ports)
	}
	title := fmt.Sprintf("SIP %s to %s never answered", first.Method, endpointString(first.Server))
	return ev.finding(r, title, d.String(), sipTxsFilter(g, ev.frames))
}

// lastSendText says when the last send was, counted from the first, and
// how long the capture goes on after it without an answer, for a capture
// that ends before the transaction timeout.
func lastSendText(g []*diagnose.SIPTransaction, end time.Time, timeout time.Duration) string {
	origin := firstRequest(g[0]).Time
	last := g[len(g)-1]
	lastSend := last.Requests[len(last.Requests)-1].Time
	var which string
	switch {
	case last.RequestCount > len(last.Requests):
		// Only the first sends are kept: the last one kept is all we know.
		which = "The last send on record"
	case len(g) == 1:
		which = fmt.Sprintf("The last of the %d sends", sipSends(last))
	default:
		which = "The last send"
	}
	s := fmt.Sprintf("%s was at %s s", which, seconds(lastSend.Sub(origin)))
	if after := end.Sub(lastSend); after >= time.Millisecond {
		s += fmt.Sprintf("; no response in the %s s the capture goes on after it", seconds(after))
	} else {
		s += ", and the capture ends with it"
	}
	return s + fmt.Sprintf(", before the %s s timeout (Timer %s) would have ended the transaction", seconds(timeout), timerName(g[0].Method))
}

func timerName(method string) string {
	if method == "INVITE" {
		return "B"
	}
	return "F"
}

// sipFlowAnswers counts, per client, server and transport, the SIP
// transactions that got a final response: built once per Check, so that
// each of thousands of findings does not scan every transaction.
type sipFlowAnswers struct {
	txs    []*diagnose.SIPTransaction
	counts map[sipFlow]int // made on the first lookup
}

type sipFlow struct {
	client, server netip.AddrPort
	transport      decode.Transport
}

func newSIPFlowAnswers(a *diagnose.Analysis) *sipFlowAnswers {
	return &sipFlowAnswers{txs: a.SIPTransactions}
}

// others counts requests between the same client and server over the same
// transport, other than like, that got a final response.
func (fa *sipFlowAnswers) others(like *diagnose.SIPTransaction) int {
	if finalResponse(like) != nil {
		// like counts itself, as often as it is listed.
		n := 0
		for _, t := range fa.txs {
			if t != nil && t != like && t.Client == like.Client && t.Server == like.Server && t.Transport == like.Transport && finalResponse(t) != nil {
				n++
			}
		}
		return n
	}
	if fa.counts == nil {
		fa.counts = make(map[sipFlow]int)
		for _, t := range fa.txs {
			if t != nil && finalResponse(t) != nil {
				fa.counts[sipFlow{t.Client, t.Server, t.Transport}]++
			}
		}
	}
	return fa.counts[sipFlow{like.Client, like.Server, like.Transport}]
}
