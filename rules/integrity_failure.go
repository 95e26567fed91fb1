package rules

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// IntegrityFailure finds authenticated requests the server rejected: 431, or
// 401 to a request that carried MESSAGE-INTEGRITY. The first 401 to a
// request without it is the long-term credential challenge (RFC 8489
// §9.2.4) and never a finding.
type IntegrityFailure struct{}

func (IntegrityFailure) ID() string                  { return "turn.integrity-failure" }
func (IntegrityFailure) Severity() diagnose.Severity { return diagnose.Error }
func (IntegrityFailure) Title() string               { return "TURN credentials rejected" }

func (IntegrityFailure) Explain() string {
	return "Checks TURN requests that carried credentials (MESSAGE-INTEGRITY) and were rejected with " +
		"431 Integrity Check Failure or with 401 Unauthorized again. The first 401 to an Allocate " +
		"without credentials is the normal challenge that hands the client a realm and nonce; a second " +
		"401 after the client answered it means the server did not accept the username, password or realm. " +
		"If the nonce in the rejection is the one the client just used, the nonce was fine and the " +
		"credentials were not. Usual causes: a wrong static password in the client or the server, a " +
		"realm that differs from the one the server computes keys with, time-limited (REST API) " +
		"credentials generated with another shared secret or already expired (check the clock on the " +
		"edge box), or a username with a typo. With --turn-credentials user:password callscope checks " +
		"offline whether the client used that password, which tells the client side from the server side."
}

func (r IntegrityFailure) Check(a *diagnose.Analysis) []diagnose.Finding {
	type key struct {
		tuple fiveTuple
		user  string
	}
	// Only a 5-tuple with a failure can make a finding: the others are
	// left out of the groups.
	failing := make(map[fiveTuple]bool)
	for _, t := range a.Transactions {
		if t != nil && isIntegrityFailure(t) {
			failing[tupleOf(t)] = true
		}
	}
	if len(failing) == 0 {
		return capFindings(r, nil)
	}
	byTuple := groupTransactions(a.Transactions, func(t *diagnose.Transaction) bool { return failing[tupleOf(t)] }, tupleOf)
	var found []serverFinding
	for _, txs := range byTuple {
		failures := groupTransactions(txs, isIntegrityFailure, func(t *diagnose.Transaction) key {
			return key{tupleOf(t), t.Username}
		})
		if len(failures) == 0 {
			continue
		}
		// Each user's failures are looked up in the 5-tuple's
		// transactions: one client trying thousands of usernames must not
		// make that quadratic.
		story := newTupleAuthStory(txs)
		for _, failed := range failures {
			if story.recovered(failed[len(failed)-1]) {
				continue
			}
			found = append(found, serverFinding{r.finding(a, story, failed), failed[0].Server, failed[0].Transport})
		}
	}
	return capFindings(r, found)
}

func isIntegrityFailure(t *diagnose.Transaction) bool {
	return isTURN(t.Method) && t.Answered && t.Class == stun.ClassError && t.HasIntegrity &&
		(t.ErrorCode == 401 || t.ErrorCode == 431)
}

// tupleAuthStory is what a 5-tuple's transactions tell about its
// failures: when an authenticated request last succeeded, and the
// challenges (401 to a request without MESSAGE-INTEGRITY).
type tupleAuthStory struct {
	lastSuccess   time.Time // the latest first send of a success with integrity
	anySuccess    bool
	challenges    []*diagnose.Transaction // in the order of the transactions
	challengesRun bool                    // challenges' first sends never decrease
}

func newTupleAuthStory(txs []*diagnose.Transaction) *tupleAuthStory {
	s := &tupleAuthStory{challengesRun: true}
	for _, t := range txs {
		if t.Answered && t.Class == stun.ClassSuccess && t.HasIntegrity && (!s.anySuccess || firstSend(t).After(s.lastSuccess)) {
			s.lastSuccess, s.anySuccess = firstSend(t), true
		}
		if !t.HasIntegrity && t.Answered && t.Class == stun.ClassError && t.ErrorCode == 401 {
			if n := len(s.challenges); n > 0 && firstSend(t).Before(firstSend(s.challenges[n-1])) {
				s.challengesRun = false
			}
			s.challenges = append(s.challenges, t)
		}
	}
	return s
}

// recovered tells whether an authenticated request sent after the last
// failure succeeded: the client found working credentials (or a fresh
// nonce) by itself.
func (s *tupleAuthStory) recovered(last *diagnose.Transaction) bool {
	return s.anySuccess && s.lastSuccess.After(firstSend(last))
}

// challengeBefore is the last challenge, in the order of the
// transactions, sent no later than t.
func (s *tupleAuthStory) challengeBefore(t *diagnose.Transaction) *diagnose.Transaction {
	sent := firstSend(t)
	if s.challengesRun {
		// The challenges sent by then are a prefix.
		n, _ := slices.BinarySearchFunc(s.challenges, sent, func(c *diagnose.Transaction, at time.Time) int {
			if firstSend(c).After(at) {
				return 1
			}
			return -1
		})
		if n == 0 {
			return nil
		}
		return s.challenges[n-1]
	}
	for i := len(s.challenges) - 1; i >= 0; i-- {
		if !firstSend(s.challenges[i]).After(sent) {
			return s.challenges[i]
		}
	}
	return nil
}

func (r IntegrityFailure) finding(a *diagnose.Analysis, story *tupleAuthStory, failed []*diagnose.Transaction) diagnose.Finding {
	first := failed[0]
	var ev evidence
	cited := failed
	// The challenge that preceded the first failure shows where the nonce
	// came from.
	challenge := story.challengeBefore(first)
	if challenge != nil {
		cited = append([]*diagnose.Transaction{challenge}, failed...)
	}
	for _, t := range cited {
		ev.addTransaction(t)
	}

	var d strings.Builder
	codes := map[int]int{}
	var methods []string
	for _, t := range failed {
		codes[t.ErrorCode]++
		if m := t.Method.String(); !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
	}
	fmt.Fprintf(&d, "%s from %s to %s (%s) for %s %s rejected", sentence(len(failed), "authenticated "+strings.Join(methods, "/")+" request", "authenticated "+strings.Join(methods, "/")+" requests"),
		endpointString(first.Client), endpointString(first.Server), first.Transport, userRealm(first.Username, first.Realm), wasWere(len(failed)))
	var parts []string
	for _, c := range []int{401, 431} {
		if n := codes[c]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s (%s)", diagnose.ErrorCodeText(c), plural(n, "time", "times")))
		}
	}
	fmt.Fprintf(&d, " with %s", strings.Join(parts, " and "))
	if challenge != nil {
		fmt.Fprintf(&d, ", after the normal 401 challenge in frame %d", challenge.Response.Frame)
	}
	d.WriteString(".")
	if codes[431] > 0 {
		d.WriteString(" 431 means the server computed a different MESSAGE-INTEGRITY over the request: the two sides disagree on the password or the realm.")
	}
	if s := nonceVerdict(challenge, failed); s != "" {
		d.WriteString(" " + s)
	}
	d.WriteString(" " + credentialVerdict(a, failed))
	return ev.finding(r, "TURN credentials rejected for "+userRealm(first.Username, first.Realm), d.String(),
		transactionsFilter(a, cited, tupleOf(first)))
}

// nonceVerdict compares the nonce each authenticated attempt used with the
// one its rejection carried. A server signals an expired nonce with 438
// (RFC 8489 §9.2.5), so a 401 that repeats the nonce the client used can
// only mean the credentials themselves failed.
func nonceVerdict(challenge *diagnose.Transaction, failed []*diagnose.Transaction) string {
	var same, changed, ignored int
	var used []string
	for i, t := range failed {
		if t.Nonce != "" && !slices.Contains(used, t.Nonce) {
			used = append(used, t.Nonce)
		}
		if t.ErrorCode != 401 || t.ResponseNonce == "" || t.Nonce == "" {
			continue
		}
		if t.ResponseNonce == t.Nonce {
			same++
			continue
		}
		changed++
		if i+1 < len(failed) && failed[i+1].Nonce != "" && failed[i+1].Nonce != t.ResponseNonce {
			ignored++
		}
	}
	var s []string
	switch {
	case same > 0 && changed == 0:
		if len(used) <= 1 {
			s = append(s, "The nonce was unchanged: every 401 carried the nonce the client had just used, so the server accepted the nonce and rejected the credentials themselves (wrong password, or a username or realm the server does not know).")
		} else {
			s = append(s, fmt.Sprintf("The client used %d different nonces, and each 401 repeated the nonce it rejected (nonce unchanged), so the server rejected the credentials, not the nonce.", len(used)))
		}
	case changed > 0:
		s = append(s, fmt.Sprintf("The server sent a new nonce with %s. A stale nonce is answered with 438, not 401 (RFC 8489 §9.2.5), so the credentials were still rejected.", plural(changed, "401", "401s")))
		if ignored > 0 {
			s = append(s, fmt.Sprintf("The client did not use the new nonce in %s.", plural(ignored, "retry", "retries")))
		}
	}
	if challenge != nil && challenge.ResponseNonce != "" && len(failed) > 0 && failed[0].Nonce != "" && failed[0].Nonce != challenge.ResponseNonce {
		s = append(s, "The first authenticated attempt did not use the nonce from the challenge.")
	}
	return strings.Join(s, " ")
}

// credentialVerdict says which side has the wrong password when
// --turn-credentials let the engine verify MESSAGE-INTEGRITY offline.
func credentialVerdict(a *diagnose.Analysis, failed []*diagnose.Transaction) string {
	if !a.CredentialsGiven {
		return "Give the expected password with --turn-credentials user:password to tell whether the client or the server has the wrong one."
	}
	var match, mismatch int
	for _, t := range failed {
		switch t.Integrity {
		case diagnose.IntegrityMatch:
			match++
		case diagnose.IntegrityMismatch:
			mismatch++
		}
	}
	user := quoted(failed[0].Username)
	switch {
	case match > 0 && mismatch == 0:
		return "With the supplied credentials: the client used the supplied password; the server's credentials differ (wrong password on the server, or a realm/time-limited-credential mismatch)."
	case mismatch > 0 && match == 0:
		return "With the supplied credentials: the client did not use the supplied password for " + user + " (its MESSAGE-INTEGRITY does not verify with it): fix the client's configuration or the password you supplied."
	case match > 0 && mismatch > 0:
		return fmt.Sprintf("With the supplied credentials: %s used the supplied password and %s did not; the client's credentials changed between attempts.",
			plural(match, "attempt", "attempts"), plural(mismatch, "attempt", "attempts"))
	}
	return "No password was supplied for " + user + ", so the client's MESSAGE-INTEGRITY could not be checked."
}

func wasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}
