package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// RequestRejected finds TURN error responses other than those the
// credential rules explain (401, 431, 438), and the 437s that
// nat.binding-expired explains (a NAT's new public port, turnRebindings):
// one event, one finding.
type RequestRejected struct{}

func (RequestRejected) ID() string                      { return "turn.request-rejected" }
func (RequestRejected) Severity() diagnose.Severity     { return diagnose.Error }
func (RequestRejected) Severities() []diagnose.Severity { return warningOrError() }
func (RequestRejected) Title() string                   { return "TURN request rejected" }

func (RequestRejected) Explain() string {
	return "Checks for TURN requests (Allocate, Refresh, CreatePermission, ChannelBind, Connect) answered " +
		"with an error other than the credential errors 401, 431 and 438, and says what the code means " +
		"(RFC 8656 §19, RFC 8489 §14.8, RFC 6062). The common ones: 403 Forbidden for a permission to a " +
		"peer address the server denies (often private ranges), 437 Allocation Mismatch after an allocation " +
		"expired or a NAT changed the client's port, 486 Allocation Quota Reached when clients leak " +
		"allocations, 508 Insufficient Capacity when the relay port range (e.g. 24000-29999) is exhausted, " +
		"442 when the client asks for a relay transport the server does not offer. A rejection the client " +
		"recovered from (the same request succeeded later on the same 5-tuple) is reported as a warning."
}

func (r RequestRejected) Check(a *diagnose.Analysis) []diagnose.Finding {
	type key struct {
		tuple  fiveTuple
		method stun.Method
		code   int
	}
	groups := groupTransactions(a.Transactions, func(t *diagnose.Transaction) bool {
		if !isTURN(t.Method) || !t.Answered || t.Class != stun.ClassError {
			return false
		}
		switch t.ErrorCode {
		case 401, 431, 438:
			return false
		}
		return true
	}, func(t *diagnose.Transaction) key { return key{tupleOf(t), t.Method, t.ErrorCode} })
	groups = withoutRebindings(a, groups)
	if len(groups) == 0 {
		return capFindings(r, nil)
	}
	tuples := tupleSet(groups)
	succeeded := transactionsByTuple(a, func(t *diagnose.Transaction) bool {
		return isTURN(t.Method) && t.Answered && t.Class == stun.ClassSuccess && tuples[tupleOf(t)]
	})
	var found []serverFinding
	for _, g := range groups {
		f := r.finding(a, g, succeeded[tupleOf(g[0])])
		found = append(found, serverFinding{f, g[0].Server, g[0].Transport})
	}
	return capFindings(r, found)
}

// withoutRebindings drops from the groups the 437s that nat.binding-expired
// reports, and the groups left empty. Only a capture with a 437 to a
// request other than Allocate pays for the search.
func withoutRebindings(a *diagnose.Analysis, groups [][]*diagnose.Transaction) [][]*diagnose.Transaction {
	if !slices.ContainsFunc(groups, func(g []*diagnose.Transaction) bool { return slices.ContainsFunc(g, rebindMismatch) }) {
		return groups
	}
	explained := map[*diagnose.Transaction]bool{}
	for _, tr := range turnRebindings(a) {
		for _, t := range tr.mismatch {
			explained[t] = true
		}
	}
	if len(explained) == 0 {
		return groups
	}
	kept := groups[:0]
	for _, g := range groups {
		g = slices.DeleteFunc(g, func(t *diagnose.Transaction) bool { return explained[t] })
		if len(g) > 0 {
			kept = append(kept, g)
		}
	}
	return kept
}

// finding describes one group of rejections; succeeded lists the
// successful TURN requests on their 5-tuple.
func (r RequestRejected) finding(a *diagnose.Analysis, g []*diagnose.Transaction, succeeded []*diagnose.Transaction) diagnose.Finding {
	first, last := g[0], g[len(g)-1]
	info := diagnose.ErrorCode(first.ErrorCode)
	var ev evidence
	var peers, reasons []string
	morePeers := 0 // beyond the XOR-PEER-ADDRESSes the engine keeps
	for _, t := range g {
		ev.addTransaction(t)
		if extra := t.PeersTotal - len(t.Peers); extra > 0 {
			morePeers += extra
		}
		for _, p := range t.Peers {
			s := endpointString(p)
			if p.Port() == 0 {
				s = p.Addr().Unmap().String() // CreatePermission ignores the port (RFC 8656 §9)
			}
			if !slices.Contains(peers, s) {
				peers = append(peers, s)
			}
		}
		if t.ErrorReason != "" && !strings.EqualFold(t.ErrorReason, info.Name) && !slices.Contains(reasons, t.ErrorReason) {
			reasons = append(reasons, t.ErrorReason)
		}
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s from %s to %s (%s)", sentence(len(g), first.Method.String()+" request", first.Method.String()+" requests"),
		endpointString(first.Client), endpointString(first.Server), first.Transport)
	if first.Username != "" {
		fmt.Fprintf(&d, " for %s", userRealm(first.Username, first.Realm))
	}
	fmt.Fprintf(&d, " %s rejected with %s", wasWere(len(g)), diagnose.ErrorCodeText(first.ErrorCode))
	if len(reasons) > 0 {
		quotedReasons := make([]string, len(reasons))
		for i, s := range reasons {
			quotedReasons[i] = quoted(s)
		}
		fmt.Fprintf(&d, " (the server's reason: %s)", strings.Join(quotedReasons, ", "))
	}
	fmt.Fprintf(&d, ": %s.", info.Meaning)
	if len(peers) > 0 {
		fmt.Fprintf(&d, " Peer %s: %s", pluralWord(len(peers), "address", "addresses"), strings.Join(peers, ", "))
		if morePeers > 0 {
			fmt.Fprintf(&d, " and %d more", morePeers)
		}
		d.WriteString(".")
	}
	if info.Cause != "" {
		fmt.Fprintf(&d, " Usual cause: %s.", info.Cause)
	}
	f := ev.finding(r, fmt.Sprintf("TURN %s rejected: %s", first.Method, diagnose.ErrorCodeText(first.ErrorCode)), "", transactionsFilter(a, g, tupleOf(first)))
	if ok := laterSuccess(succeeded, last); ok != nil {
		fmt.Fprintf(&d, " A later %s on this 5-tuple succeeded (frame %d), so the client recovered.", ok.Method, ok.Response.Frame)
		f.Severity = diagnose.Warning
	}
	f.Detail = d.String()
	return f
}

// laterSuccess finds, among the successful requests on t's 5-tuple, one of
// the same method sent after t.
func laterSuccess(succeeded []*diagnose.Transaction, t *diagnose.Transaction) *diagnose.Transaction {
	for _, o := range succeeded {
		if o.Method == t.Method && firstSend(o).After(firstSend(t)) {
			return o
		}
	}
	return nil
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
