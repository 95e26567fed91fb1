// Package rules holds callscope's diagnostic rules, one file per rule. A
// rule reads the correlated diagnose.Analysis and returns findings with the
// evidence for them; it never sees packets.
//
// Rule IDs are a contract with users (--fail-on, JSON consumers, docs):
// never rename one.
package rules

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// All returns every rule in a stable order: the order reports list them in
// when severities tie, and the order of `callscope rules`.
func All() []diagnose.Rule {
	return []diagnose.Rule{
		IntegrityFailure{},
		AllocateTimeout{},
		ServerUnreachable{},
		StaleNonce{},
		RequestRejected{},
		BindingUnanswered{},
	}
}

// fiveTuple identifies a TURN allocation (RFC 8656 §2: client address,
// server address, transport) and, for plain STUN, a client-server pair.
type fiveTuple struct {
	client, server netip.AddrPort
	transport      decode.Transport
}

func tupleOf(t *diagnose.Transaction) fiveTuple {
	return fiveTuple{t.Client, t.Server, t.Transport}
}

// groupTransactions groups the transactions that pass keep by key, groups
// and their members in order of first appearance, so findings come out in a
// stable order.
func groupTransactions[K comparable](txs []*diagnose.Transaction, keep func(*diagnose.Transaction) bool, key func(*diagnose.Transaction) K) [][]*diagnose.Transaction {
	index := make(map[K]int)
	var groups [][]*diagnose.Transaction
	for _, t := range txs {
		if t == nil || !keep(t) {
			continue
		}
		k := key(t)
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], t)
	}
	return groups
}

// evidence accumulates what a finding cites.
type evidence struct {
	frames      []uint64
	first, last time.Time
	endpoints   []string
}

func (e *evidence) addFrame(r diagnose.FrameRef) {
	if r.Frame == 0 {
		return
	}
	e.frames = append(e.frames, r.Frame)
	if !r.Time.IsZero() {
		if e.first.IsZero() || r.Time.Before(e.first) {
			e.first = r.Time
		}
		if r.Time.After(e.last) {
			e.last = r.Time
		}
	}
}

// addTransaction cites a request, its retransmissions and its response.
func (e *evidence) addTransaction(t *diagnose.Transaction) {
	for _, r := range t.Requests {
		e.addFrame(r)
	}
	if t.Answered {
		e.addFrame(t.Response)
	}
	e.addEndpoint(t.Client)
	e.addEndpoint(t.Server)
}

func (e *evidence) addEndpoint(ap netip.AddrPort) {
	if !ap.IsValid() {
		return
	}
	s := endpointString(ap)
	if !slices.Contains(e.endpoints, s) {
		e.endpoints = append(e.endpoints, s)
	}
}

// finding fills a finding's evidence fields: frames sorted, deduplicated
// and capped (diagnose.CapFrames keeps both ends of a long story).
func (e *evidence) finding(r diagnose.Rule, title, detail, filter string) diagnose.Finding {
	frames := slices.Clone(e.frames)
	slices.Sort(frames)
	frames = slices.Compact(frames)
	frames = diagnose.CapFrames(frames)
	if frames == nil {
		frames = []uint64{}
	}
	return diagnose.Finding{
		Rule:      r.ID(),
		Severity:  r.Severity(),
		Title:     title,
		Detail:    detail,
		Frames:    frames,
		First:     e.first,
		Last:      e.last,
		Endpoints: slices.Clone(e.endpoints),
		Filter:    filter,
	}
}

// endpointString prints "ip:port", "[ip]:port" for IPv6; an IPv4-mapped
// IPv6 address is printed as the IPv4 address it is.
func endpointString(ap netip.AddrPort) string {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

// maxFilterIDs is how many transaction IDs a filter lists before it
// selects by flow and method instead: a filter must fit in Wireshark's
// filter bar and in a person's head.
const maxFilterIDs = 8

// transactionsFilter shows the given transactions by ID when there are few
// enough to list, and otherwise the STUN messages of their methods on the
// flow they share. Where Wireshark would not dissect the messages as STUN
// it selects the flow instead: it dissects STUN over TCP on port 3478 only
// (TURN over TCP on 80 or 443 needs Decode As), and RFC 3489 messages are
// "classicstun", whose 128-bit ID callscope does not keep whole.
func transactionsFilter(a *diagnose.Analysis, txs []*diagnose.Transaction, flow fiveTuple) string {
	if flow.transport == decode.TCP && flow.server.Port() != 3478 {
		return diagnose.FilterFlow(flow.client, flow.server, flow.transport) + " && tcp.len > 0"
	}
	if a.Stats.ClassicSTUN > 0 && !slices.ContainsFunc(txs, func(t *diagnose.Transaction) bool { return t.Method != stun.MethodBinding }) {
		return diagnose.FilterFlow(flow.client, flow.server, flow.transport) + " && (stun || classicstun)"
	}
	if len(txs) > maxFilterIDs {
		var methods []string
		for _, t := range txs {
			m := fmt.Sprintf("0x%03x", uint16(t.Method))
			if !slices.Contains(methods, m) {
				methods = append(methods, m)
			}
		}
		f := diagnose.FilterFlow(flow.client, flow.server, flow.transport)
		if len(methods) == 1 {
			return f + " && stun.type.method == " + methods[0]
		}
		return f + " && stun.type.method in {" + strings.Join(methods, ", ") + "}"
	}
	ids := make([]stun.TransactionID, 0, len(txs))
	for _, t := range txs {
		ids = append(ids, t.ID)
	}
	return diagnose.FilterTransactions(ids)
}

// captureEnd is the time of the last packet seen: the end of the last
// input file, or of the latest transaction when files are not described.
func captureEnd(a *diagnose.Analysis) time.Time {
	var end time.Time
	for _, c := range a.Captures {
		if c.Last.After(end) {
			end = c.Last
		}
	}
	for _, t := range a.Transactions {
		if t == nil {
			continue
		}
		if n := len(t.Requests); n > 0 && t.Requests[n-1].Time.After(end) {
			end = t.Requests[n-1].Time
		}
		if t.Answered && t.Response.Time.After(end) {
			end = t.Response.Time
		}
	}
	return end
}

// seconds prints a duration in seconds with at most millisecond precision
// and no trailing zeros: "0", "0.5", "39.5".
func seconds(d time.Duration) string { return diagnose.FormatSeconds(d) }

// schedule prints when a request was sent, as offsets from its first send:
// "0, 0.5, 1.5, 3.5 s". Only the sends kept in Requests are listed.
func schedule(t *diagnose.Transaction) string {
	if len(t.Requests) == 0 {
		return ""
	}
	parts := make([]string, 0, len(t.Requests)+1)
	first := t.Requests[0].Time
	for _, r := range t.Requests {
		parts = append(parts, seconds(r.Time.Sub(first)))
	}
	s := strings.Join(parts, ", ")
	if t.RequestCount > len(t.Requests) {
		s += ", … (" + strconv.Itoa(t.RequestCount-len(t.Requests)) + " more)"
	}
	return s + " s"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// sentence starts a sentence with a count: "3 requests", but "A request"
// or "An Allocate request" for one.
func sentence(n int, one, many string) string {
	if n != 1 {
		return plural(n, one, many)
	}
	if one != "" && strings.ContainsRune("AEIOUaeiou", rune(one[0])) {
		return "An " + one
	}
	return "A " + one
}

// sends counts a transaction's requests, retransmissions included.
func sends(t *diagnose.Transaction) int {
	return max(t.RequestCount, len(t.Requests), 1)
}

func firstSend(t *diagnose.Transaction) time.Time {
	if len(t.Requests) == 0 {
		return time.Time{}
	}
	return t.Requests[0].Time
}

func lastSend(t *diagnose.Transaction) time.Time {
	if len(t.Requests) == 0 {
		return time.Time{}
	}
	return t.Requests[len(t.Requests)-1].Time
}

// byFirstSend orders transactions by their first request.
func byFirstSend(a, b *diagnose.Transaction) int {
	if c := firstSend(a).Compare(firstSend(b)); c != 0 {
		return c
	}
	return cmp.Compare(firstFrame(a), firstFrame(b))
}

func firstFrame(t *diagnose.Transaction) uint64 {
	if len(t.Requests) == 0 {
		return 0
	}
	return t.Requests[0].Frame
}

// isTURN tells TURN methods (RFC 8656, RFC 6062) from Binding and the
// RFC 3489 Shared Secret.
func isTURN(m stun.Method) bool {
	return m != stun.MethodBinding && m != stun.MethodSharedSecret
}

// quoted puts a user-supplied string in double quotes with Go escaping, so
// control characters in a hostile USERNAME cannot garble a report.
func quoted(s string) string { return strconv.Quote(s) }

// userRealm names who authenticated: `user "alice" in realm "example.org"`.
func userRealm(user, realm string) string {
	var s string
	if user != "" {
		s = "user " + quoted(user)
	} else {
		s = "no USERNAME"
	}
	if realm != "" {
		s += " in realm " + quoted(realm)
	}
	return s
}
