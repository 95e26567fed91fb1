package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// SIPAuthFailure finds SIP requests rejected with 401 or 407 although they
// carried credentials. The first 401/407 to a request without credentials
// is the digest challenge (RFC 3261 §22.2) and never a finding.
type SIPAuthFailure struct{}

func (SIPAuthFailure) ID() string                  { return "sip.auth-failure" }
func (SIPAuthFailure) Severity() diagnose.Severity { return diagnose.Error }
func (SIPAuthFailure) Title() string               { return "SIP credentials rejected" }

func (SIPAuthFailure) Explain() string {
	return "Checks SIP requests (REGISTER, INVITE and others) that answered a digest challenge with an " +
		"Authorization or Proxy-Authorization header and were rejected with 401 Unauthorized or 407 Proxy " +
		"Authentication Required again. The first 401/407 to a request without credentials is the normal " +
		"challenge that hands the client a realm and nonce. A second one means the registrar or proxy did not " +
		"accept the credentials: a wrong password, an authentication ID (often not the same as the phone " +
		"number) or realm the server does not know, or an account locked after too many attempts. When the " +
		"rejection says stale=true, the password was right and only the nonce had expired (RFC 7616 §3.3): " +
		"the client should retry at once with the new nonce, and if it keeps failing, look at the client's " +
		"nonce handling or at registrars in a cluster that do not share nonces, not at the password."
}

type sipAuthKey struct {
	method         string
	client, server netip.AddrPort
	transport      decode.Transport
	scope          string // the AOR for REGISTER, the Call-ID otherwise
}

func (r SIPAuthFailure) Check(a *diagnose.Analysis) []diagnose.Finding {
	index := map[sipAuthKey]int{}
	var groups [][]*diagnose.SIPTransaction
	for _, t := range a.SIPTransactions {
		if t == nil || t.RequestCount == 0 && len(t.Requests) == 0 || t.Method == "ACK" || t.Method == "CANCEL" {
			continue
		}
		k := sipAuthKey{method: t.Method, client: t.Client, server: t.Server, transport: t.Transport, scope: t.CallID}
		if t.Method == "REGISTER" {
			k.scope = t.ToURI
		}
		i, ok := index[k]
		if !ok {
			i = len(groups)
			index[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], t)
	}
	var out []diagnose.Finding
	for _, txs := range groups {
		var failed []*diagnose.SIPTransaction
		for _, t := range txs {
			if isSIPAuthFailure(t) {
				failed = append(failed, t)
			}
		}
		if len(failed) == 0 || sipRecovered(txs, failed[len(failed)-1]) {
			continue
		}
		out = append(out, r.finding(txs, failed))
	}
	return out
}

func isSIPAuthFailure(t *diagnose.SIPTransaction) bool {
	f := finalResponse(t)
	return t.Authorization != nil && f != nil && (f.Status == 401 || f.Status == 407)
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

func (r SIPAuthFailure) finding(all, failed []*diagnose.SIPTransaction) diagnose.Finding {
	first := failed[0]
	// The challenge before the first failure shows where the nonce came from.
	var challenge *diagnose.SIPTransaction
	for _, t := range all {
		if t == first {
			break
		}
		if f := finalResponse(t); t.Authorization == nil && f != nil && (f.Status == 401 || f.Status == 407) {
			challenge = t
		}
	}
	cited := failed
	if challenge != nil {
		cited = append([]*diagnose.SIPTransaction{challenge}, failed...)
	}
	var ev evidence
	for _, t := range cited {
		ev.addSIPTransaction(t)
	}

	user, realm := first.Authorization.Username, first.Authorization.Realm
	codes := map[int]int{}
	var stale, same, changed int
	var realmMismatch string
	for _, t := range failed {
		f := finalResponse(t)
		codes[f.Status]++
		ch := f.Challenge
		switch {
		case ch == nil:
		case ch.Stale:
			stale++
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

	var d strings.Builder
	what := first.Method + " request with credentials"
	fmt.Fprintf(&d, "%s from %s to %s (%s) for %s %s rejected with ",
		sentence(len(failed), what, first.Method+" requests with credentials"),
		endpointString(first.Client), endpointString(first.Server), first.Transport, userRealm(user, realm), wasWere(len(failed)))
	var parts []string
	for _, c := range []int{401, 407} {
		if n := codes[c]; n > 0 {
			name := "401 Unauthorized"
			if c == 407 {
				name = "407 Proxy Authentication Required"
			}
			parts = append(parts, fmt.Sprintf("%s (%s)", name, plural(n, "time", "times")))
		}
	}
	d.WriteString(strings.Join(parts, " and "))
	if challenge != nil {
		fmt.Fprintf(&d, ", after the normal challenge in frame %d", finalResponse(challenge).Frame)
	}
	if first.Method == "REGISTER" && first.ToURI != "" {
		fmt.Fprintf(&d, ". The address of record %s stays unregistered, so calls to it fail", quoted(first.ToURI))
	}
	d.WriteString(".")
	switch {
	case stale == len(failed):
		d.WriteString(" Every rejection said stale=true: the server accepted the password but the nonce had expired, so this is not a password problem. The client should retry at once with the new nonce; look at how it caches nonces, or at registrars in a cluster that do not share nonce state.")
	case stale > 0:
		fmt.Fprintf(&d, " %s said stale=true (only the nonce had expired); the others rejected the credentials themselves.", sentence(stale, "rejection", "rejections"))
	case same > 0 && changed == 0:
		d.WriteString(" The nonce was unchanged and stale=true was absent: the server accepted the nonce and rejected the credentials themselves (wrong password, or an authentication ID or realm the server does not know).")
	case changed > 0:
		d.WriteString(" The server sent a new nonce without stale=true: it rejected the credentials, not the nonce (a server that only wants a fresh nonce says stale=true).")
	}
	d.WriteString(realmMismatch)
	if codes[407] > 0 {
		d.WriteString(" 407 comes from a proxy (an SBC or outbound proxy), not the registrar: the proxy's credentials are the ones to check.")
	}
	title := fmt.Sprintf("SIP %s credentials rejected for %s", first.Method, userRealm(user, realm))
	return ev.finding(r, title, d.String(), sipTxsFilter(cited, ev.frames))
}
