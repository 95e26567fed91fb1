package rules

import (
	"testing"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

func TestIntegrityFailure(t *testing.T) {
	const a = stun.MethodAllocate
	challenge := func() *diagnose.Transaction { return failed(txn(1, a, 1, 0), 2, 0.02, 401, "n1") }
	withCreds := func(an *diagnose.Analysis) *diagnose.Analysis { an.CredentialsGiven = true; return an }
	verdict := func(v diagnose.IntegrityVerdict, tx *diagnose.Transaction) *diagnose.Transaction {
		tx.Integrity = v
		return tx
	}
	runRuleCases(t, IntegrityFailure{}, []ruleCase{
		{name: "first 401 challenge alone", a: analysis(challenge()), want: 0},
		{name: "challenge then success", a: analysis(challenge(),
			succeeded(auth(txn(2, a, 3, 0.05), "alice", "example.org", "n1"), 4, 0.07)), want: 0},
		{
			name: "401 after integrity, nonce unchanged",
			a: analysis(challenge(),
				failed(auth(txn(2, a, 3, 0.05), "alice", "example.org", "n1"), 4, 0.07, 401, "n1"),
				failed(auth(txn(3, a, 5, 0.10), "alice", "example.org", "n1"), 6, 0.12, 401, "n1")),
			want:     1,
			contains: []string{`2 authenticated Allocate requests`, `user "alice" in realm "example.org"`, "401 Unauthorized (2 times)", "nonce was unchanged", "normal 401 challenge in frame 2", "--turn-credentials"},
			frames:   []uint64{1, 2, 3, 4, 5, 6},
			filter:   "stun.id in {a00100000000000000000000, a00200000000000000000000, a00300000000000000000000}",
		},
		{
			name: "431",
			a: analysis(challenge(),
				failed(auth(txn(2, a, 3, 0.05), "bob", "r", "n1"), 4, 0.07, 431, "")),
			want:     1,
			contains: []string{"An authenticated Allocate request", "431 Integrity Check Failure (1 time)", `user "bob"`, "disagree on the password"},
		},
		{
			name: "401 with a new nonce still fails",
			a: analysis(challenge(),
				failed(auth(txn(2, a, 3, 0.05), "alice", "r", "n1"), 4, 0.07, 401, "n2"),
				failed(auth(txn(3, a, 5, 0.10), "alice", "r", "n1"), 6, 0.12, 401, "n3")),
			want:     1,
			contains: []string{"new nonce with 2 401s", "did not use the new nonce in 1 retry"},
			excludes: []string{"unchanged"},
		},
		{
			name: "recovered after a new nonce",
			a: analysis(challenge(),
				failed(auth(txn(2, a, 3, 0.05), "alice", "r", "n1"), 4, 0.07, 401, "n2"),
				succeeded(auth(txn(3, a, 5, 0.10), "alice", "r", "n2"), 6, 0.12)),
			want: 0,
		},
		{
			name: "supplied password matches: the server differs",
			a: withCreds(analysis(challenge(),
				verdict(diagnose.IntegrityMatch, failed(auth(txn(2, a, 3, 0.05), "alice", "r", "n1"), 4, 0.07, 401, "n1")))),
			want:     1,
			contains: []string{"the client used the supplied password; the server's credentials differ (wrong password on the server, or a realm/time-limited-credential mismatch)"},
		},
		{
			name: "supplied password mismatches: the client differs",
			a: withCreds(analysis(challenge(),
				verdict(diagnose.IntegrityMismatch, failed(auth(txn(2, a, 3, 0.05), "alice", "r", "n1"), 4, 0.07, 401, "n1")))),
			want:     1,
			contains: []string{"the client did not use the supplied password"},
			excludes: []string{"server's credentials differ"},
		},
		{
			name: "ICE Binding 401 is not a TURN credential failure",
			a:    analysis(failed(auth(txn(1, stun.MethodBinding, 1, 0), "a:b", "", ""), 2, 0.01, 401, "")),
			want: 0,
		},
		{
			name: "one finding per user",
			a: analysis(challenge(),
				failed(auth(txn(2, a, 3, 0.05), "alice", "r", "n1"), 4, 0.07, 401, "n1"),
				failed(auth(txn(3, a, 5, 0.10), "mallory", "r", "n1"), 6, 0.12, 401, "n1")),
			want: 2,
		},
	})
}
