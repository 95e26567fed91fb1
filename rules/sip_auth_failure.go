package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// SIPAuthFailure finds SIP requests rejected with 401, 407 or 403
// although they carried credentials. The first 401/407 to a request
// without credentials is the digest challenge (RFC 3261 §22.2) and never a
// finding.
//
// A de-REGISTER (Expires 0) is judged apart from the REGISTERs that ask
// for a binding: its failure leaves the binding in place, it does not undo
// the registration. A failure followed by a success of the same user and
// realm (any request) is a warning: the credentials work.
type SIPAuthFailure struct{}

func (SIPAuthFailure) ID() string                      { return "sip.auth-failure" }
func (SIPAuthFailure) Severity() diagnose.Severity     { return diagnose.Error }
func (SIPAuthFailure) Severities() []diagnose.Severity { return warningOrError() }
func (SIPAuthFailure) Title() string                   { return "SIP credentials rejected" }

func (SIPAuthFailure) Explain() string {
	return "Checks SIP requests (REGISTER, INVITE and others) that answered a digest challenge with an " +
		"Authorization or Proxy-Authorization header and were rejected with 401 Unauthorized or 407 Proxy " +
		"Authentication Required again, or with 403 Forbidden. The first 401/407 to a request without credentials is the normal " +
		"challenge that hands the client a realm and nonce. A second one means the registrar or proxy did not " +
		"accept the credentials: a wrong password, an authentication ID (often not the same as the phone " +
		"number) or realm the server does not know, or an account locked after too many attempts. A 403 after " +
		"credentials is a wrong password on some servers, or an authenticated user not allowed to make that " +
		"request (a calling permission, a domain). When the " +
		"rejection says stale=true, the password was right and only the nonce had expired (RFC 7616 §3.3): " +
		"the client should retry at once with the new nonce, and if it keeps failing, look at the client's " +
		"nonce handling or at registrars in a cluster that do not share nonces, not at the password. A refused " +
		"de-REGISTER (Expires 0) is reported on its own: the binding stays until it expires. When a later " +
		"request of the same user and realm succeeded, the finding is a warning: the credentials work."
}

type sipAuthKey struct {
	method         string
	client, server netip.AddrPort
	transport      decode.Transport
	scope          string // the AOR for REGISTER, the Call-ID otherwise
	deregister     bool
}

func (r SIPAuthFailure) Check(a *diagnose.Analysis) []diagnose.Finding {
	// Only the groups with a failure can make a finding, and failures are
	// rare: the transactions are grouped once their keys are known to
	// have one, in the same order.
	failing := make(map[sipAuthKey]bool)
	for _, t := range a.SIPTransactions {
		if sipAuthCounts(t) && isSIPAuthFailure(t) {
			failing[sipAuthKeyOf(t)] = true
		}
	}
	if len(failing) == 0 {
		return nil
	}
	var groups orderedGroups[sipAuthKey, *diagnose.SIPTransaction]
	for _, t := range a.SIPTransactions {
		if !sipAuthCounts(t) {
			continue
		}
		if k := sipAuthKeyOf(t); failing[k] {
			groups.add(k, t)
		}
	}
	var out []diagnose.Finding
	var successes sipSuccesses // made for the first failure
	for _, txs := range groups.groups {
		var failed []*diagnose.SIPTransaction
		for _, t := range txs {
			if isSIPAuthFailure(t) {
				failed = append(failed, t)
			}
		}
		if len(failed) == 0 || sipRecovered(txs, failed[len(failed)-1]) {
			continue
		}
		if successes == nil {
			successes = indexSIPSuccesses(a)
		}
		out = append(out, r.finding(txs, failed, successes.laterThan(failed[len(failed)-1])))
	}
	return out
}

// sipAuthCounts tells the transactions the rule groups.
func sipAuthCounts(t *diagnose.SIPTransaction) bool {
	return t != nil && !(t.RequestCount == 0 && len(t.Requests) == 0) && t.Method != "ACK" && t.Method != "CANCEL"
}

func sipAuthKeyOf(t *diagnose.SIPTransaction) sipAuthKey {
	k := sipAuthKey{method: t.Method, client: t.Client, server: t.Server, transport: t.Transport, scope: t.CallID}
	if t.Method == "REGISTER" {
		k.scope, k.deregister = t.ToURI, t.Deregister
	}
	return k
}

func isSIPAuthFailure(t *diagnose.SIPTransaction) bool {
	f := finalResponse(t)
	return t.Authorization != nil && f != nil && (f.Status == 401 || f.Status == 407 || f.Status == 403)
}

// sipSuccesses lists, per user and realm, the requests with credentials
// that got a 2xx, by the time they were first sent (stable: in the order
// of Analysis.SIPTransactions among equal times). Built once per Check:
// with thousands of phones failing to register, scanning every
// transaction for each of them is quadratic.
type sipSuccesses map[sipUserRealm][]sentAt

type sipUserRealm struct{ user, realm string }

type sentAt struct {
	t    *diagnose.SIPTransaction
	sent time.Time
}

func indexSIPSuccesses(a *diagnose.Analysis) sipSuccesses {
	ix := sipSuccesses{}
	for _, t := range a.SIPTransactions {
		if t == nil || t.Authorization == nil {
			continue
		}
		if f := finalResponse(t); f != nil && f.Status >= 200 && f.Status < 300 {
			k := sipUserRealm{t.Authorization.Username, t.Authorization.Realm}
			ix[k] = append(ix[k], sentAt{t, firstRequest(t).Time})
		}
	}
	for _, list := range ix {
		slices.SortStableFunc(list, func(x, y sentAt) int { return x.sent.Compare(y.sent) })
	}
	return ix
}

// laterThan is the first request sent after last with credentials of the
// same user and realm that got a 2xx, whatever its method, address of
// record or Call-ID (the first listed of those sent at the same time); nil
// when none.
func (ix sipSuccesses) laterThan(last *diagnose.SIPTransaction) *diagnose.SIPTransaction {
	list := ix[sipUserRealm{last.Authorization.Username, last.Authorization.Realm}]
	after := firstRequest(last).Time
	i, _ := slices.BinarySearchFunc(list, after, func(x sentAt, t time.Time) int {
		if x.sent.After(t) {
			return 1
		}
		return -1
	})
	for ; i < len(list); i++ {
		if list[i].t != last {
			return list[i].t
		}
	}
	return nil
}

// sipRecovered tells whether a request with credentials sent after the
// last failure succeeded.
func sipRecovered(txs []*diagnose.SIPTransaction, last *diagnose.SIPTransaction) bool {
	after := false
	for _, t := range txs {
		if t == last {
			after = true
			continue
		}
		if f := finalResponse(t); after && f != nil && f.Status >= 200 && f.Status < 300 {
			return true
		}
	}
	return false
}

func (r SIPAuthFailure) finding(all, failed []*diagnose.SIPTransaction, later *diagnose.SIPTransaction) diagnose.Finding {
	first := failed[0]
	// The challenge before each failure shows where its nonce came from.
	var cited []*diagnose.SIPTransaction
	var challenge, firstChallenge *diagnose.SIPTransaction
	isFailed := make(map[*diagnose.SIPTransaction]bool, len(failed)) // a password scan fails thousands of times
	for _, t := range failed {
		isFailed[t] = true
	}
	for _, t := range all {
		if f := finalResponse(t); t.Authorization == nil && f != nil && (f.Status == 401 || f.Status == 407) {
			challenge = t
			continue
		}
		if !isFailed[t] {
			continue
		}
		if challenge != nil {
			cited = append(cited, challenge)
			if firstChallenge == nil && t == first {
				firstChallenge = challenge
			}
			challenge = nil
		}
		cited = append(cited, t)
	}
	if later != nil {
		cited = append(cited, later)
	}
	var ev evidence
	for _, t := range cited {
		ev.addSIPTransaction(t)
	}

	user, realm := first.Authorization.Username, first.Authorization.Realm
	codes := map[int]int{}
	var stale, same, changed, nonceReason int
	var forbidden, nonceWords string
	var realmMismatch string
	for _, t := range failed {
		f := finalResponse(t)
		codes[f.Status]++
		if f.Status == 403 && forbidden == "" {
			forbidden = f.Reason
		}
		ch := f.Challenge
		switch {
		case ch == nil:
		case ch.Stale:
			stale++
		case strings.Contains(strings.ToLower(f.Reason), "nonce"):
			// "401 nonce has changed": the server says in words what
			// stale=true would have said.
			nonceReason++
			nonceWords = f.Reason
		case ch.Nonce != "" && ch.Nonce == t.Authorization.Nonce:
			same++
		case ch.Nonce != "":
			changed++
		}
		if ch != nil && ch.Realm != "" && t.Authorization.Realm != "" && ch.Realm != t.Authorization.Realm && realmMismatch == "" {
			realmMismatch = fmt.Sprintf(" The client answered for realm %s but the server challenges for realm %s: the client is configured with the wrong realm or domain.",
				quoted(t.Authorization.Realm), quoted(ch.Realm))
		}
	}
	challenges := len(failed) - codes[403]

	var d strings.Builder
	method := first.Method
	if first.Deregister {
		method = "de-REGISTER"
	}
	what := method + " request with credentials"
	fmt.Fprintf(&d, "%s from %s to %s (%s) for %s %s rejected with ",
		sentence(len(failed), what, method+" requests with credentials"),
		endpointString(first.Client), endpointString(first.Server), first.Transport, userRealm(user, realm), wasWere(len(failed)))
	var parts []string
	for _, c := range []int{401, 407, 403} {
		n := codes[c]
		if n == 0 {
			continue
		}
		name := "401 Unauthorized"
		switch c {
		case 407:
			name = "407 Proxy Authentication Required"
		case 403:
			name = statusText(403, forbidden)
			if forbidden == "" {
				name = "403 Forbidden"
			}
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", name, plural(n, "time", "times")))
	}
	d.WriteString(strings.Join(parts, " and "))
	if firstChallenge != nil {
		fmt.Fprintf(&d, ", after the normal challenge in frame %d", finalResponse(firstChallenge).Frame)
	}
	switch {
	case first.Deregister:
		d.WriteString(". This was a de-REGISTER (Expires 0), not a registration")
		if first.ToURI != "" {
			fmt.Fprintf(&d, ": the registrar keeps the binding of %s until it expires, so calls may still be sent to the contact being removed", quoted(first.ToURI))
		}
	case first.Method == "REGISTER" && first.ToURI != "" && later == nil:
		fmt.Fprintf(&d, ". The address of record %s stays unregistered, so calls to it fail", quoted(first.ToURI))
	}
	d.WriteString(".")
	switch {
	case challenges == 0:
	case stale == challenges:
		d.WriteString(" Every rejection said stale=true: the server accepted the password but the nonce had expired, so this is not a password problem. The client should retry at once with the new nonce; look at how it caches nonces, or at registrars in a cluster that do not share nonce state.")
	case stale > 0:
		fmt.Fprintf(&d, " %s said stale=true (only the nonce had expired); the others rejected the credentials themselves.", sentence(stale, "rejection", "rejections"))
	case nonceReason == challenges:
		fmt.Fprintf(&d, " The server said %s without stale=true: it rejected the nonce the client used, not necessarily the password (RFC 7616 §3.3 has it say stale=true so the client retries with the new nonce). Look at how the client reuses nonces, or at registrars that do not share nonce state.", quoted(nonceWords))
	case same > 0 && changed == 0 && nonceReason == 0:
		d.WriteString(" The nonce was unchanged and stale=true was absent: the server accepted the nonce and rejected the credentials themselves (wrong password, or an authentication ID or realm the server does not know).")
	case changed > 0:
		d.WriteString(" The server sent a new nonce without stale=true: it rejected the credentials, not the nonce (a server that only wants a fresh nonce says stale=true).")
	}
	if codes[403] > 0 {
		d.WriteString(" 403 after credentials: the server checked them and refused, either the password (some servers answer 403 instead of a new challenge) or this user's right to make the request (a calling permission, or a domain the account does not belong to).")
	}
	d.WriteString(realmMismatch)
	if codes[407] > 0 {
		d.WriteString(" 407 comes from a proxy (an SBC or outbound proxy), not the registrar: the proxy's credentials are the ones to check.")
	}
	if first.Method == "INVITE" {
		d.WriteString(" The call failed because of it (see sip.call-failed).")
	}
	if later != nil {
		lf := finalResponse(later)
		lm := later.Method
		if later.Deregister {
			lm = "de-REGISTER"
		}
		d.WriteString(" ")
		if lm == method {
			d.WriteString("It recovered: a")
		} else {
			d.WriteString("A")
		}
		fmt.Fprintf(&d, " later %s with the same user and realm succeeded (%s in frame %d), so the credentials work", lm, statusText(lf.Status, lf.Reason), lf.Frame)
		if codes[403] > 0 {
			d.WriteString(" and the 403 refused this request for this user (a permission or a domain), not the password")
		}
		d.WriteString(".")
	}
	title := fmt.Sprintf("SIP %s credentials rejected for %s", method, userRealm(user, realm))
	if later != nil {
		title += " (accepted later)"
	}
	f := ev.finding(r, title, d.String(), sipTxsFilter(cited, ev.frames))
	if later != nil {
		f.Severity = diagnose.Warning
	}
	return f
}
