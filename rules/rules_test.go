package rules

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

var (
	t0     = time.Date(2025, 3, 14, 9, 30, 0, 0, time.UTC)
	client = netip.MustParseAddrPort("192.0.2.10:50000")
	server = netip.MustParseAddrPort("203.0.113.5:3478")
)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

// txn is a request sent once, from client to server over UDP.
func txn(id byte, m stun.Method, frame uint64, sec float64) *diagnose.Transaction {
	return &diagnose.Transaction{
		ID: stun.TransactionID{0xa0, id}, Method: m,
		Client: client, Server: server, Transport: decode.UDP,
		Requests: []diagnose.FrameRef{{Frame: frame, Time: at(sec)}}, RequestCount: 1,
		Lifetime: -1, GrantedLife: -1,
	}
}

// resent adds retransmissions.
func resent(t *diagnose.Transaction, frameSecs ...float64) *diagnose.Transaction {
	for i := 0; i+1 < len(frameSecs); i += 2 {
		t.Requests = append(t.Requests, diagnose.FrameRef{Frame: uint64(frameSecs[i]), Time: at(frameSecs[i+1])})
		t.RequestCount++
	}
	return t
}

func auth(t *diagnose.Transaction, user, realm, nonce string) *diagnose.Transaction {
	t.HasIntegrity, t.Username, t.Realm, t.Nonce = true, user, realm, nonce
	return t
}

func failed(t *diagnose.Transaction, frame uint64, sec float64, code int, nonce string) *diagnose.Transaction {
	t.Answered, t.Class, t.ErrorCode, t.ErrorReason = true, stun.ClassError, code, diagnose.ErrorCode(code).Name
	t.Response, t.ResponseFrom, t.ResponseNonce = diagnose.FrameRef{Frame: frame, Time: at(sec)}, t.Server, nonce
	t.RTT = at(sec).Sub(t.Requests[0].Time)
	return t
}

func succeeded(t *diagnose.Transaction, frame uint64, sec float64) *diagnose.Transaction {
	t.Answered, t.Class = true, stun.ClassSuccess
	t.Response, t.ResponseFrom = diagnose.FrameRef{Frame: frame, Time: at(sec)}, t.Server
	return t
}

func from(t *diagnose.Transaction, c, s string) *diagnose.Transaction {
	t.Client, t.Server = netip.MustParseAddrPort(c), netip.MustParseAddrPort(s)
	return t
}

func analysis(txs ...*diagnose.Transaction) *diagnose.Analysis {
	return &diagnose.Analysis{Transactions: txs}
}

type ruleCase struct {
	name     string
	a        *diagnose.Analysis
	want     int      // findings
	contains []string // in the first finding's detail
	excludes []string // not in it
	frames   []uint64 // the first finding's frames, when set
	filter   string   // the first finding's filter, when set
	severity diagnose.Severity
	rule     diagnose.Rule // checks instead of runRuleCases' rule when set (another configuration)
}

func runRuleCases(t *testing.T, r diagnose.Rule, cases []ruleCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := r
			if c.rule != nil {
				r = c.rule
			}
			got := r.Check(c.a)
			if len(got) != c.want {
				t.Fatalf("%s: %d findings, want %d: %+v", r.ID(), len(got), c.want, got)
			}
			if c.want == 0 {
				return
			}
			f := got[0]
			if f.Rule != r.ID() {
				t.Errorf("Rule = %q, want %q", f.Rule, r.ID())
			}
			want := c.severity
			if want == 0 {
				want = r.Severity()
			}
			if f.Severity != want {
				t.Errorf("Severity = %v, want %v", f.Severity, want)
			}
			// `callscope rules` lists what a rule can emit: it must be true.
			for _, f := range got {
				if !slices.Contains(Severities(r), f.Severity) {
					t.Errorf("%s emitted a %v finding, outside its declared severities %v", r.ID(), f.Severity, Severities(r))
				}
			}
			for _, s := range c.contains {
				if !strings.Contains(f.Detail, s) {
					t.Errorf("detail lacks %q:\n%s", s, f.Detail)
				}
			}
			for _, s := range c.excludes {
				if strings.Contains(f.Detail, s) {
					t.Errorf("detail has %q:\n%s", s, f.Detail)
				}
			}
			if c.frames != nil && !slices.Equal(f.Frames, c.frames) {
				t.Errorf("Frames = %v, want %v", f.Frames, c.frames)
			}
			if c.filter != "" && f.Filter != c.filter {
				t.Errorf("Filter = %q, want %q", f.Filter, c.filter)
			}
			if f.Title == "" || f.Filter == "" || len(f.Endpoints) == 0 || f.First.IsZero() || f.Last.Before(f.First) {
				t.Errorf("incomplete evidence: %+v", f)
			}
		})
	}
}

func TestAllStable(t *testing.T) {
	seen := map[string]bool{}
	want := []string{"turn.integrity-failure", "turn.allocate-timeout", "turn.server-unreachable",
		"turn.stale-nonce", "turn.request-rejected", "stun.binding-unanswered",
		"sip.auth-failure", "sip.call-failed", "sip.transaction-timeout", "sip.fragmented-request", "sip.ack-missing", "sip.nat-address-mismatch", "sip.alg-suspected",
		"nat.binding-expired",
		"media.one-way", "media.no-rtp", "media.unreachable", "media.loss", "media.jitter", "media.payload-type-mismatch", "dscp.missing",
		"media.port-outside-range", "media.unexpected-peer",
		"ice.failed", "ice.consent-lost", "ice.role-conflict",
		"tls.self-signed", "tls.name-mismatch", "tls.expired", "tls.handshake-failure", "tls.legacy-version",
		"dtls.fingerprint-mismatch", "capture.drops"}
	var got []string
	for _, r := range All() {
		if seen[r.ID()] {
			t.Errorf("duplicate rule ID %q", r.ID())
		}
		seen[r.ID()] = true
		got = append(got, r.ID())
		if r.Title() == "" || len(r.Explain()) < 100 || r.Severity() == 0 {
			t.Errorf("%s: missing title, explanation or severity", r.ID())
		}
		// No rule may panic on an empty or nil-laden analysis.
		if fs := r.Check(&diagnose.Analysis{Transactions: []*diagnose.Transaction{nil}, ICMPErrors: []*diagnose.ICMPEvent{nil}, Allocations: []*diagnose.Allocation{nil},
			SIPTransactions: []*diagnose.SIPTransaction{nil}, Calls: []*diagnose.Call{nil}, Registrations: []*diagnose.Registration{nil},
			Streams: []*diagnose.Stream{nil}, Flows: []*diagnose.Flow{nil},
			ICESessions: []*diagnose.ICESession{nil, {Pairs: []*diagnose.CandidatePair{nil}, Outcome: "failed"}}, TLSConnections: []*diagnose.TLSConnection{nil}}); len(fs) != 0 {
			t.Errorf("%s: findings on an empty analysis: %v", r.ID(), fs)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("All() = %v, want %v", got, want)
	}
}

func TestFramesCapped(t *testing.T) {
	tx := txn(1, stun.MethodAllocate, 1, 0)
	for i := 2; i <= 300; i++ {
		tx = resent(tx, float64(i), float64(i)/10)
	}
	fs := AllocateTimeout{}.Check(analysis(tx))
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	if len(fs[0].Frames) != diagnose.MaxFramesPerFinding {
		t.Errorf("%d frames, want the cap %d", len(fs[0].Frames), diagnose.MaxFramesPerFinding)
	}
	if !strings.Contains(fs[0].Detail, "300 times") {
		t.Errorf("detail does not give the exact count: %s", fs[0].Detail)
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 500 * time.Millisecond: "0.5", 39500 * time.Millisecond: "39.5",
		1234567 * time.Microsecond: "1.235", 3 * time.Second: "3",
	} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%v) = %q, want %q", d, got, want)
		}
	}
}
