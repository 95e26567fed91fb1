package rules

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestSIPCallFailed(t *testing.T) {
	failedCall := func(status int, reason, reasonHdr string) *diagnose.Analysis {
		inv := respond(sipReq("INVITE", "c1", 1, 1, 0), 100, "Trying", 2, 0.01)
		respond(inv, status, reason, 3, 2.5)
		inv.Responses[1].Server = "Acme SBC 1.0"
		inv.Responses[1].ReasonHeader = reasonHdr
		c := &diagnose.Call{CallID: "c1", From: "sip:alice@example.org", To: "sip:+4930123@example.net",
			Caller: phone, Callee: registrar, Outcome: "failed", FinalStatus: status, FinalReason: reason, ReasonHeader: reasonHdr,
			AnsweredBy: netip.MustParseAddrPort("203.0.113.9:5060"), Invite: sipRef(1, 0),
			Transactions: []*diagnose.SIPTransaction{inv}}
		return &diagnose.Analysis{Calls: []*diagnose.Call{c}, SIPTransactions: []*diagnose.SIPTransaction{inv}}
	}
	answered := failedCall(200, "OK", "")
	answered.Calls[0].Outcome = "answered"
	cancelled := failedCall(487, "Request Terminated", "")
	cancelled.Calls[0].Outcome = "cancelled"
	// nDPI sip.pcap Call-ID 105090259: CANCEL sent, answered with 408
	// after the INVITE got its 408.
	cancelledTimeout := failedCall(408, "Request Timeout", "")
	cancelTx := again(sipReq("CANCEL", "c1", 1, 4, 1), 5, 1.5)
	respond(cancelTx, 408, "Request Timeout", 6, 40)
	cancelledTimeout.Calls[0].Transactions = append(cancelledTimeout.Calls[0].Transactions, cancelTx)
	cancelledTimeout.SIPTransactions = append(cancelledTimeout.SIPTransactions, cancelTx)
	// nDPI sip.pcap Call-ID 85216695: 403 to the INVITE with credentials.
	forbidden := failedCall(403, "Wrong password or domain", "")
	creds(forbidden.Calls[0].Transactions[0], "voi18062", "sip.cybercity.dk", "n1")
	runRuleCases(t, SIPCallFailed{}, []ruleCase{
		{name: "408 after the caller's CANCEL", a: cancelledTimeout, want: 1, severity: diagnose.Warning,
			contains: []string{"The caller had given up: it sent a CANCEL in frame 4 (sent 2 times)",
				"answered only with 408 Request Timeout in frame 6", "CANCEL was not handled"},
			excludes: []string{"did not answer or is not registered"},
			frames:   []uint64{1, 2, 3, 4, 5, 6}},
		{name: "403 after credentials is an authorization failure", a: forbidden, want: 1, severity: diagnose.Error,
			contains: []string{`carried credentials (user "voi18062" in realm "sip.cybercity.dk")`, "authorization failure", "See sip.auth-failure"},
			excludes: []string{"blocked number"}},
		{name: "answered", a: answered, want: 0},
		{name: "cancelled by the caller", a: cancelled, want: 0},
		{
			name: "503 with Q.850 cause",
			a:    failedCall(503, "Service Unavailable", `Q.850;cause=38;text="Network out of order"`),
			want: 1,
			contains: []string{`refused with 503 Service Unavailable in frame 3`, "sent by 203.0.113.9:5060 (the INVITE went to 203.0.113.5:5060)",
				`Server "Acme SBC 1.0"`, "Q.850 cause 38 (network out of order)", "out of service"},
			frames: []uint64{1, 2, 3},
			filter: `sip.Call-ID == "c1"`,
		},
		{name: "404", a: failedCall(404, "Not Found", ""), want: 1, contains: []string{"dial plan"}},
		{name: "486 busy is a warning", a: failedCall(486, "Busy Here", ""), want: 1, severity: diagnose.Warning, contains: []string{"busy"}},
		{name: "603 decline is a warning", a: failedCall(603, "Decline", ""), want: 1, severity: diagnose.Warning},
		{name: "480 with cause 17 user busy is a warning", a: failedCall(480, "Temporarily Unavailable", "Q.850;cause=17"), want: 1,
			severity: diagnose.Warning, contains: []string{"Q.850 cause 17 (user busy)"}},
		{name: "unknown cause kept as number", a: failedCall(500, "Server Internal Error", "Q.850;cause=99"), want: 1,
			contains: []string{"Q.850 cause 99."}},
		{name: "other Reason protocols quoted", a: failedCall(500, "Server Internal Error", `SIP;cause=500;text="x"`), want: 1,
			contains: []string{`"SIP;cause=500;text=\"x\""`}},
	})
}

func TestExplainReason(t *testing.T) {
	for in, want := range map[string]string{
		"Q.850;cause=16":                     "Q.850 cause 16 (normal call clearing)",
		`Q.850 ; cause = 102 ; text="timer"`: "Q.850 cause 102 (recovery on timer expiry)",
		"q.850;cause=127":                    "Q.850 cause 127 (interworking, unspecified)",
		"":                                   "",
		"Q.850;cause=abc":                    `"Q.850;cause=abc"`,
		`SIP;cause=200;text="Call completed elsewhere"`: `"SIP;cause=200;text=\"Call completed elsewhere\""`,
	} {
		if got := explainReason(in); got != want {
			t.Errorf("explainReason(%q) = %q, want %q", in, got, want)
		}
	}
}
