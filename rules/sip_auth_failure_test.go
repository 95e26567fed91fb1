package rules

import (
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestSIPAuthFailure(t *testing.T) {
	reg := func(cseq uint32, frame uint64, sec float64) *diagnose.SIPTransaction {
		return sipReq("REGISTER", "reg1", cseq, frame, sec)
	}
	first := func() *diagnose.SIPTransaction {
		return challenged(reg(1, 1, 0), 401, 2, 0.03, "example.org", "n1", false)
	}
	runRuleCases(t, SIPAuthFailure{}, []ruleCase{
		{name: "first challenge alone", a: sipAnalysis(first()), want: 0},
		{name: "challenge then 200", a: sipAnalysis(first(),
			respond(creds(reg(2, 3, 0.05), "alice", "example.org", "n1"), 200, "OK", 4, 0.08)), want: 0},
		{
			name: "401 again, nonce unchanged",
			a: sipAnalysis(first(),
				challenged(creds(reg(2, 3, 0.05), "alice", "example.org", "n1"), 401, 4, 0.08, "example.org", "n1", false),
				challenged(creds(reg(3, 5, 1.05), "alice", "example.org", "n1"), 401, 6, 1.08, "example.org", "n1", false)),
			want: 1,
			contains: []string{"2 REGISTER requests with credentials", `user "alice" in realm "example.org"`,
				"401 Unauthorized (2 times)", "normal challenge in frame 2", "nonce was unchanged", `"sip:alice@example.org" stays unregistered`},
			frames: []uint64{1, 2, 3, 4, 5, 6},
			filter: `sip.Call-ID == "reg1"`,
		},
		{
			name: "stale nonce is not a password problem",
			a: sipAnalysis(first(),
				challenged(creds(reg(2, 3, 0.05), "alice", "example.org", "n0"), 401, 4, 0.08, "example.org", "n2", true)),
			want:     1,
			contains: []string{"stale=true", "not a password problem"},
			excludes: []string{"unchanged"},
		},
		{
			name: "new nonce without stale",
			a: sipAnalysis(first(),
				challenged(creds(reg(2, 3, 0.05), "alice", "example.org", "n1"), 401, 4, 0.08, "example.org", "n2", false)),
			want:     1,
			contains: []string{"new nonce without stale=true"},
		},
		{
			name: "wrong realm",
			a: sipAnalysis(first(),
				challenged(creds(reg(2, 3, 0.05), "alice", "example.com", "n1"), 401, 4, 0.08, "example.org", "n1", false)),
			want:     1,
			contains: []string{`realm "example.com" but the server challenges for realm "example.org"`},
		},
		{
			name: "recovered with the stale nonce's successor",
			a: sipAnalysis(first(),
				challenged(creds(reg(2, 3, 0.05), "alice", "example.org", "n0"), 401, 4, 0.08, "example.org", "n2", true),
				respond(creds(reg(3, 5, 0.1), "alice", "example.org", "n2"), 200, "OK", 6, 0.12)),
			want: 0,
		},
		{
			name: "INVITE 407 after proxy credentials",
			a: sipAnalysis(
				challenged(sipReq("INVITE", "call1", 1, 1, 0), 407, 2, 0.02, "sbc", "p1", false),
				challenged(creds(sipReq("INVITE", "call1", 2, 3, 0.05), "alice", "sbc", "p1"), 407, 4, 0.07, "sbc", "p1", false)),
			want:     1,
			contains: []string{"An INVITE request with credentials", "407 Proxy Authentication Required (1 time)", "comes from a proxy"},
			filter:   `sip.Call-ID == "call1"`,
		},
		{
			name: "a failure after an earlier success still counts",
			a: sipAnalysis(first(),
				respond(creds(reg(2, 3, 0.05), "alice", "example.org", "n1"), 200, "OK", 4, 0.08),
				challenged(creds(reg(3, 5, 600), "alice", "example.org", "n1"), 401, 6, 600.1, "example.org", "n1", false)),
			want: 1,
		},
		{
			// nDPI sip.pcap frames 3-5: "403 Wrong password" after credentials.
			name: "403 after credentials",
			a: sipAnalysis(first(),
				respond(creds(reg(2, 3, 0.05), "alice", "example.org", "n1"), 403, "Wrong password", 5, 0.08)),
			want:     1,
			contains: []string{`403 Wrong password (1 time)`, "normal challenge in frame 2", "403 after credentials", "stays unregistered"},
			frames:   []uint64{1, 2, 3, 5},
			severity: diagnose.Error,
		},
		{
			// nDPI sip.pcap frames 61-64: the de-REGISTER after a
			// registration is refused; the registration itself stands.
			name: "refused de-REGISTER is reported as such",
			a: sipAnalysis(first(),
				respond(creds(reg(2, 3, 0.05), "alice", "example.org", "n1"), 200, "OK", 4, 0.08),
				deregister(challenged(reg(3, 5, 600), 401, 6, 600.1, "example.org", "n2", false)),
				deregister(challenged(creds(reg(4, 7, 600.2), "alice", "example.org", "n2"), 401, 8, 600.3, "example.org", "n3", false))),
			want: 1,
			contains: []string{"A de-REGISTER request with credentials", "This was a de-REGISTER (Expires 0), not a registration",
				`keeps the binding of "sip:alice@example.org" until it expires`},
			excludes: []string{"stays unregistered"},
			frames:   []uint64{5, 6, 7, 8},
			severity: diagnose.Error,
		},
		{
			name: "nonce named in the reason phrase",
			a: sipAnalysis(first(),
				reason(challenged(creds(reg(2, 3, 0.05), "alice", "example.org", "n1"), 401, 4, 0.08, "example.org", "n2", false), "nonce has changed")),
			want:     1,
			contains: []string{`said "nonce has changed" without stale=true`},
			excludes: []string{"rejected the credentials, not the nonce"},
		},
		{
			// nDPI sip.pcap: the same user registers another AOR later.
			name: "later success of the same user and realm makes a warning",
			a: sipAnalysis(first(),
				challenged(creds(reg(2, 3, 0.05), "alice", "example.org", "n1"), 401, 4, 0.08, "example.org", "n2", false),
				aor(respond(creds(reg(1, 9, 10), "alice", "example.org", "n2"), 200, "OK", 10, 10.1), "sip:bob@example.org")),
			want:     1,
			severity: diagnose.Warning,
			contains: []string{"It recovered: a later REGISTER with the same user and realm succeeded (200 OK in frame 10)"},
			excludes: []string{"stays unregistered"},
		},
	})
}

func deregister(t *diagnose.SIPTransaction) *diagnose.SIPTransaction {
	t.Deregister, t.Expires = true, 0
	return t
}

func reason(t *diagnose.SIPTransaction, phrase string) *diagnose.SIPTransaction {
	t.Responses[len(t.Responses)-1].Reason = phrase
	return t
}

func aor(t *diagnose.SIPTransaction, uri string) *diagnose.SIPTransaction {
	t.ToURI, t.CallID = uri, "reg2"
	return t
}
