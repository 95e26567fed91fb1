// Package rules holds callscope's diagnostic rules, one file per rule. A
// rule reads the correlated diagnose.Analysis and returns findings with the
// evidence for them; it never sees packets.
//
// All returns every rule, checking against the default profile; pass it to
// diagnose.Analyze or diagnose.StreamSource, with rules of your own
// appended if you like. The SIP, media and DSCP rules check against a
// Profile (expected DSCP marks, media ports and peer subnets, loss and
// jitter thresholds): LoadProfile reads a built-in one by name or a JSON
// file, and ForProfile returns the rules bound to it. Rules hold no state,
// so one rule set may serve several analyses at once. The rules whose
// verdict on a partial capture is final implement diagnose.EarlyRule and
// report while a capture goes on.
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

// All returns every rule in a stable order, checking against the default
// profile: the order reports list them in when severities tie, and the
// order of `callscope rules`. All() is ForProfile of the default profile.
func All() []diagnose.Rule { return ForProfile(nil) }

// SeverityRange is implemented by a rule whose findings can take more than
// the one severity Severity gives (its usual one): a lost duplicate Allocate
// is a warning where an unanswered one is an error, for instance.
type SeverityRange interface {
	Severities() []diagnose.Severity
}

// Severities returns every severity r's findings can have, least severe
// first: Severities() when r implements SeverityRange, else Severity().
func Severities(r diagnose.Rule) []diagnose.Severity {
	if sr, ok := r.(SeverityRange); ok {
		s := slices.Clone(sr.Severities())
		slices.Sort(s)
		return slices.Compact(s)
	}
	return []diagnose.Severity{r.Severity()}
}

func warningOrError() []diagnose.Severity {
	return []diagnose.Severity{diagnose.Warning, diagnose.Error}
}

func infoOrError() []diagnose.Severity {
	return []diagnose.Severity{diagnose.Info, diagnose.Error}
}

// ForProfile returns every rule, in the order of All, with the SIP, media
// and DSCP rules checking against profile p (nil: the default profile),
// and tls.name-mismatch against its ExpectNames. The rules keep p: change
// it only before they run. With a nil p they get a copy of the default
// profile of their own, so that a caller changing it changes nobody
// else's rules.
func ForProfile(p *Profile) []diagnose.Rule {
	if p == nil {
		p = newDefaultProfile()
	}
	return []diagnose.Rule{
		IntegrityFailure{},
		AllocateTimeout{},
		ServerUnreachable{},
		StaleNonce{},
		RequestRejected{},
		BindingUnanswered{},
		SIPAuthFailure{},
		SIPCallFailed{},
		SIPTransactionTimeout{Profile: p},
		SIPFragmentedRequest{Profile: p},
		SIPACKMissing{},
		SIPNATAddressMismatch{},
		SIPALGSuspected{},
		NATBindingExpired{},
		MediaOneWay{},
		MediaNoRTP{},
		MediaUnreachable{},
		MediaLoss{Profile: p},
		MediaJitter{Profile: p},
		MediaPayloadTypeMismatch{},
		DSCPMissing{Profile: p},
		MediaPortOutsideRange{Profile: p},
		MediaUnexpectedPeer{Profile: p},
		ICEFailed{},
		ICEConsentLost{},
		ICERoleConflict{},
		TLSSelfSigned{},
		TLSNameMismatch{Profile: p},
		TLSExpired{},
		TLSHandshakeFailure{},
		TLSLegacyVersion{},
		DTLSFingerprintMismatch{},
		CaptureDrops{},
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
	var g orderedGroups[K, *diagnose.Transaction]
	for _, t := range txs {
		if t != nil && keep(t) {
			g.add(key(t), t)
		}
	}
	return g.groups
}

// orderedGroups collects values by key, groups and their members in order
// of first appearance, so findings come out in a stable order. The zero
// value is ready to use.
type orderedGroups[K comparable, V any] struct {
	index  map[K]int
	groups [][]V
}

func (g *orderedGroups[K, V]) add(k K, v V) {
	i, ok := g.index[k]
	if !ok {
		if g.index == nil {
			g.index = make(map[K]int)
		}
		i = len(g.groups)
		g.index[k] = i
		g.groups = append(g.groups, nil)
	}
	g.groups[i] = append(g.groups[i], v)
}

// evidence accumulates what a finding cites.
type evidence struct {
	frames      []uint64
	first, last time.Time
	endpoints   []string
	// endpointSet holds endpoints[:indexed] once there are endpointSetMin
	// of them: a finding about a server's 20,000 clients must not compare
	// each new one with all the others (quadratic).
	endpointSet map[string]struct{}
	indexed     int
}

// endpointSetMin is how many endpoints evidence looks through one by one
// before it indexes them.
const endpointSetMin = 16

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
	if len(e.endpoints) < endpointSetMin {
		if !slices.Contains(e.endpoints, s) {
			e.endpoints = append(e.endpoints, s)
		}
		return
	}
	if e.endpointSet == nil || e.indexed > len(e.endpoints) {
		e.endpointSet, e.indexed = make(map[string]struct{}, 2*len(e.endpoints)), 0
	}
	// Endpoints appended other than through addEndpoint join the set here.
	for ; e.indexed < len(e.endpoints); e.indexed++ {
		e.endpointSet[e.endpoints[e.indexed]] = struct{}{}
	}
	if _, ok := e.endpointSet[s]; !ok {
		e.endpointSet[s] = struct{}{}
		e.endpoints = append(e.endpoints, s)
		e.indexed++
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
// (TURN over TCP on 80 or 443 needs Decode As). RFC 3489 messages are
// "classicstun", whose classicstun.id is the whole 128-bit ID: the cookie
// field and the 96 bits after it (tshark 4.0).
func transactionsFilter(a *diagnose.Analysis, txs []*diagnose.Transaction, flow fiveTuple) string {
	if flow.transport == decode.TCP && flow.server.Port() != 3478 {
		return diagnose.FilterFlow(flow.client, flow.server, flow.transport) + " && tcp.len > 0"
	}
	classic := slices.ContainsFunc(txs, func(t *diagnose.Transaction) bool { return t.Classic })
	if len(txs) > maxFilterIDs && classic {
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
	var ids []stun.TransactionID
	var classicIDs []string
	for _, t := range txs {
		if !t.Classic {
			ids = append(ids, t.ID)
			continue
		}
		id := fmt.Sprintf("%08x%x", t.Cookie, t.ID[:])
		if !slices.Contains(classicIDs, id) {
			classicIDs = append(classicIDs, id)
		}
	}
	var parts []string
	if len(ids) > 0 {
		parts = append(parts, diagnose.FilterTransactions(ids))
	}
	switch len(classicIDs) {
	case 0:
	case 1:
		parts = append(parts, "classicstun.id == "+classicIDs[0])
	default:
		parts = append(parts, "classicstun.id in {"+strings.Join(classicIDs, ", ")+"}")
	}
	return strings.Join(parts, " || ")
}

// transactionsByTuple indexes the transactions that pass keep by 5-tuple,
// in order of first appearance: built once per Check, it spares rules a
// scan of every transaction for each finding.
func transactionsByTuple(a *diagnose.Analysis, keep func(*diagnose.Transaction) bool) map[fiveTuple][]*diagnose.Transaction {
	m := make(map[fiveTuple][]*diagnose.Transaction)
	for _, t := range a.Transactions {
		if t != nil && keep(t) {
			m[tupleOf(t)] = append(m[tupleOf(t)], t)
		}
	}
	return m
}

// maxFindingsPerRule bounds the findings a rule reports one by one: a
// capture of 40 000 clients failing the same way needs a count, not 40 000
// paragraphs. The rest are summarized per server, for at most
// maxSummaryServers servers and one last summary for the others.
const (
	maxFindingsPerRule = 100
	maxSummaryServers  = 10
)

// serverFinding is a finding and the server it is about, for capFindings.
type serverFinding struct {
	diagnose.Finding
	server    netip.AddrPort
	transport decode.Transport
}

// capFindings keeps a rule's first maxFindingsPerRule findings and folds
// the rest into one finding per server: their count, time span, the most
// severe of their severities, a sample of their frames and the first one's
// detail as an example.
func capFindings(r diagnose.Rule, found []serverFinding) []diagnose.Finding {
	out := make([]diagnose.Finding, 0, min(len(found), maxFindingsPerRule+maxSummaryServers+1))
	for i := range min(len(found), maxFindingsPerRule) {
		out = append(out, found[i].Finding)
	}
	if len(found) <= maxFindingsPerRule {
		return out
	}
	type key struct {
		server    netip.AddrPort
		transport decode.Transport
	}
	index := make(map[key]int)
	var groups [][]serverFinding
	for _, f := range found[maxFindingsPerRule:] {
		k := key{f.server, f.transport}
		i, ok := index[k]
		if !ok {
			if len(groups) >= maxSummaryServers {
				i, ok = maxSummaryServers, true // the others
			} else {
				i = len(groups)
				index[k] = i
			}
		}
		if i == len(groups) {
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], f)
	}
	for i, g := range groups {
		out = append(out, summarizeFindings(r, g, i == maxSummaryServers))
	}
	return out
}

// summarizeFindings folds findings about one server (or, when others is
// set, about several) into one.
func summarizeFindings(r diagnose.Rule, g []serverFinding, others bool) diagnose.Finding {
	var frames []uint64
	var endpoints []string
	servers := make(map[netip.AddrPort]bool) // the others' summary may hold thousands
	first, last := g[0].First, g[0].Last
	sev := g[0].Severity
	bySeverity := map[diagnose.Severity]int{}
	for _, f := range g {
		if len(f.Frames) > 0 {
			frames = append(frames, f.Frames[0])
		}
		for _, e := range f.Endpoints {
			if len(endpoints) < maxSummaryEndpoints && !slices.Contains(endpoints, e) {
				endpoints = append(endpoints, e)
			}
		}
		servers[f.server] = true
		if !f.First.IsZero() && (first.IsZero() || f.First.Before(first)) {
			first = f.First
		}
		if f.Last.After(last) {
			last = f.Last
		}
		sev = max(sev, f.Severity)
		bySeverity[f.Severity]++
	}
	slices.Sort(frames)
	frames = diagnose.CapFrames(slices.Compact(frames))
	about := endpointString(g[0].server) + " (" + g[0].transport.String() + ")"
	filter := diagnose.FilterEndpoint(g[0].server, g[0].transport) + " && (stun || classicstun)"
	if others {
		about = strconv.Itoa(len(servers)) + " other servers"
		filter = "stun || classicstun"
	}
	var counts []string
	for _, s := range []diagnose.Severity{diagnose.Error, diagnose.Warning, diagnose.Info} {
		if n := bySeverity[s]; n > 0 {
			counts = append(counts, plural(n, s.String(), s.String()+"s"))
		}
	}
	detail := fmt.Sprintf("Beyond the first %d findings of this rule, %s concern %s (%s), from %s to %s; the evidence lists the first frame of some of them. The first of them: %s",
		maxFindingsPerRule, plural(len(g), "more", "more"), about, strings.Join(counts, ", "), clock(first), clock(last), g[0].Detail)
	if frames == nil {
		frames = []uint64{}
	}
	return diagnose.Finding{
		Rule:      r.ID(),
		Severity:  sev,
		Title:     fmt.Sprintf("%s: %s more for %s", r.Title(), strconv.Itoa(len(g)), about),
		Detail:    detail,
		Frames:    frames,
		First:     first,
		Last:      last,
		Endpoints: endpoints,
		Filter:    filter,
	}
}

// maxSummaryEndpoints bounds the endpoints a summary finding lists.
const maxSummaryEndpoints = 10

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

// lazyEnd is the end of the capture (captureEnd or sipEnd) found on first
// use: a scan of every record, which the Checks of a capture without the
// trouble they look for mostly do not need.
type lazyEnd struct {
	a    *diagnose.Analysis
	of   func(*diagnose.Analysis) time.Time
	end  time.Time
	done bool
}

func (e *lazyEnd) get() time.Time {
	if !e.done {
		e.end, e.done = e.of(e.a), true
	}
	return e.end
}

// tupleSet is the 5-tuples of groups of transactions: the ones a rule
// indexes the capture's other transactions for.
func tupleSet(groups [][]*diagnose.Transaction) map[fiveTuple]bool {
	set := make(map[fiveTuple]bool, len(groups))
	for _, g := range groups {
		set[tupleOf(g[0])] = true
	}
	return set
}

// seconds prints a duration in seconds with at most millisecond precision
// and no trailing zeros: "0", "0.5", "39.5".
func seconds(d time.Duration) string { return diagnose.FormatSeconds(d) }

// schedule prints when a request was sent, as offsets from its first send:
// "0, 0.5, 1.5, 3.5 s". Only the sends kept in requests are listed; count
// is all of them.
func schedule(requests []diagnose.FrameRef, count int) string {
	if len(requests) == 0 {
		return ""
	}
	parts := make([]string, 0, len(requests)+1)
	first := requests[0].Time
	for _, r := range requests {
		parts = append(parts, seconds(r.Time.Sub(first)))
	}
	s := strings.Join(parts, ", ")
	if count > len(requests) {
		s += ", … (" + strconv.Itoa(count-len(requests)) + " more)"
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
