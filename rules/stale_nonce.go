package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// staleRun is how many 438 answers in a row make a finding: one 438 is
// how a server rotates nonces (RFC 8489 §9.2.5) and costs one round trip.
const staleRun = 2

// StaleNonce finds allocations whose requests kept being answered 438 Stale
// Nonce and never succeeded afterwards, or whose last request got a 438 the
// client never retried.
type StaleNonce struct{}

func (StaleNonce) ID() string                  { return "turn.stale-nonce" }
func (StaleNonce) Severity() diagnose.Severity { return diagnose.Warning }
func (StaleNonce) Title() string               { return "TURN nonce keeps going stale" }

func (StaleNonce) Explain() string {
	return "Checks for TURN requests on one allocation answered with 438 Stale Nonce two or more times " +
		"in a row, with no successful request afterwards. A single 438 is normal: the server rotates its " +
		"nonce and the client retries with the new one from the response. Repeated 438s mean the client " +
		"keeps sending an old nonce (a client bug), or the server rejects nonces it just issued: several " +
		"TURN servers behind one load-balanced address that do not share nonce state, a nonce lifetime " +
		"that is too short, or a clock jump on the server. Refreshes that keep failing this way let the " +
		"allocation expire and drop the call's relayed media after its lifetime (600 s by default). " +
		"A 438 that ends the conversation (the client never retried with the new nonce, RFC 8489 §9.2.5) " +
		"is reported too: a deleting Refresh lost this way leaves the relay allocated on the server until " +
		"its lifetime runs out."
}

func (r StaleNonce) Check(a *diagnose.Analysis) []diagnose.Finding {
	// Only a 5-tuple with a 438 can make a finding: the others are left
	// out of the groups.
	stale := make(map[fiveTuple]bool)
	for _, t := range a.Transactions {
		if t != nil && t.Answered && t.Class == stun.ClassError && t.ErrorCode == 438 && isTURN(t.Method) {
			stale[tupleOf(t)] = true
		}
	}
	if len(stale) == 0 {
		return capFindings(r, nil)
	}
	groups := groupTransactions(a.Transactions, func(t *diagnose.Transaction) bool {
		return isTURN(t.Method) && t.Answered && stale[tupleOf(t)]
	}, tupleOf)
	end := &lazyEnd{a: a, of: captureEnd}
	var out []serverFinding
	for _, g := range groups {
		g = slices.Clone(g)
		slices.SortStableFunc(g, byFirstSend)
		// Only what follows the last success counts: earlier runs recovered.
		start := 0
		for i, t := range g {
			if t.Class == stun.ClassSuccess {
				start = i + 1
			}
		}
		var run, longest []*diagnose.Transaction
		for _, t := range g[start:] {
			if t.Class == stun.ClassError && t.ErrorCode == 438 {
				run = append(run, t)
				if len(run) > len(longest) {
					longest = run
				}
				continue
			}
			run = nil
		}
		switch {
		case len(longest) >= staleRun:
			out = append(out, serverFinding{r.finding(a, longest, false, end.get()), longest[0].Server, longest[0].Transport})
		case len(run) > 0 && !retryPending(a, run[len(run)-1], end.get()):
			// The last request was answered 438 and never retried.
			out = append(out, serverFinding{r.finding(a, run, true, end.get()), run[0].Server, run[0].Transport})
		}
	}
	return capFindings(r, out)
}

// retryWait is how long the capture must go on after a 438 for the lack of
// a retry to be the client's doing: a client retries at once with the new
// nonce (RFC 8489 §9.2.5), a round trip later at most.
const retryWait = time.Second

// retryPending says whether a snapshot of a capture that goes on
// (Analysis.Snapshot, a live capture's streamed findings) ends within
// retryWait of the 438 t got: the client may still retry, so that its not
// having done so yet is no verdict to stream. At the end of a capture
// nothing more will come, and the finding says how long it went on after
// the 438.
func retryPending(a *diagnose.Analysis, t *diagnose.Transaction, end time.Time) bool {
	return a.Snapshot && end.Sub(t.Response.Time) < retryWait
}

// finding describes a run of 438s; abandoned says the last one was never
// retried, end is when the capture ends.
func (r StaleNonce) finding(a *diagnose.Analysis, run []*diagnose.Transaction, abandoned bool, end time.Time) diagnose.Finding {
	first := run[0]
	var ev evidence
	var methods []string
	reused, fresh := 0, 0
	for i, t := range run {
		ev.addTransaction(t)
		if m := t.Method.String(); !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
		if i == 0 || run[i-1].ResponseNonce == "" || t.Nonce == "" {
			continue
		}
		if t.Nonce == run[i-1].ResponseNonce {
			fresh++
		} else {
			reused++
		}
	}
	var d strings.Builder
	if abandoned {
		last := run[len(run)-1]
		fmt.Fprintf(&d, "The last %s request from %s to %s (%s) for %s was answered 438 Stale Nonce in frame %d",
			last.Method, endpointString(last.Client), endpointString(last.Server), last.Transport, userRealm(last.Username, last.Realm), last.Response.Frame)
		if after := end.Sub(last.Response.Time); after.Round(100*time.Microsecond) == 0 {
			// shortDuration would say "0 ms".
			d.WriteString(", and the capture ends with it: the capture may have been stopped before the client could retry with the fresh nonce the 438 carried (RFC 8489 §9.2.5).")
		} else if after < retryWait {
			fmt.Fprintf(&d, ", with no retry in the %s the capture goes on after it: the capture may have been stopped before the client could retry with the fresh nonce the 438 carried (RFC 8489 §9.2.5).", shortDuration(after))
		} else {
			fmt.Fprintf(&d, " and the client never retried with the fresh nonce the 438 carried (RFC 8489 §9.2.5) in the %s the capture goes on after it.", shortDuration(after))
		}
		if last.Method == stun.MethodRefresh && last.Lifetime == 0 {
			d.WriteString(" It was the Refresh with LIFETIME 0 that deletes the allocation: the relay stays allocated on the server until its lifetime runs out.")
		} else if last.Method == stun.MethodRefresh {
			d.WriteString(" The allocation was not extended and expires at the end of its lifetime, cutting relayed media.")
		}
		return ev.finding(r, "TURN "+last.Method.String()+" dropped after 438 Stale Nonce on "+endpointString(last.Client)+" → "+endpointString(last.Server),
			d.String(), transactionsFilter(a, run, tupleOf(first)))
	}
	fmt.Fprintf(&d, "%d %s requests in a row from %s to %s (%s) for %s were answered 438 Stale Nonce, and none succeeded afterwards.",
		len(run), strings.Join(methods, "/"), endpointString(first.Client), endpointString(first.Server), first.Transport, userRealm(first.Username, first.Realm))
	switch {
	case reused > 0 && fresh == 0:
		d.WriteString(" The client kept sending the old nonce instead of the one each 438 carried: a client bug.")
	case fresh > 0 && reused == 0:
		d.WriteString(" The client did retry with the nonce from each 438 and the server rejected it again: the server does not recognize nonces it issued (servers behind one address without shared state, a very short nonce lifetime, or a clock jump).")
	case fresh > 0:
		fmt.Fprintf(&d, " The client used the new nonce in %s and an old one in %s.", plural(fresh, "retry", "retries"), plural(reused, "retry", "retries"))
	}
	if slices.Contains(methods, stun.MethodRefresh.String()) {
		d.WriteString(" While Refresh fails the allocation is not extended and expires at the end of its lifetime, cutting relayed media.")
	}
	return ev.finding(r, "TURN nonce stale "+plural(len(run), "time", "times")+" in a row on "+endpointString(first.Client)+" → "+endpointString(first.Server),
		d.String(), transactionsFilter(a, run, tupleOf(first)))
}

// shortDuration prints a duration for people: "0.2 ms" below a second,
// "12.5 s" above.
func shortDuration(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatFloat(float64(d.Round(100*time.Microsecond))/float64(time.Millisecond), 'f', -1, 64) + " ms"
	}
	return seconds(d) + " s"
}
