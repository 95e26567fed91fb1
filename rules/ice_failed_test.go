package rules

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestICEFailed(t *testing.T) {
	dead := func() *diagnose.ICESession {
		return iceSession("failed", icePair(agentA, agentB, 10, 1, 7, 0, 0), icePair(agentA, "10.9.9.9:40002", 20, 1.05, 7, 0, 0))
	}
	withAlloc := func(al *diagnose.Allocation) *diagnose.Analysis {
		a := iceAnalysis(dead())
		a.Allocations = []*diagnose.Allocation{al}
		a.Transactions = al.Attempts
		return a
	}
	hostOnly := dead()
	hostOnly.Candidates = []diagnose.ICECandidate{
		{Addr: netip.MustParseAddrPort(agentA), Type: "host", Side: "local"},
		{Addr: netip.MustParseAddrPort(agentB), Type: "host", Side: "remote"},
		{Addr: netip.MustParseAddrPort("192.0.2.10:50099"), Type: "prflx", Side: "local", Learned: true},
	}
	relayed := dead()
	relayed.Pairs[1].Allocation = &diagnose.Allocation{Client: netip.MustParseAddrPort(agentA), Server: netip.MustParseAddrPort(turnA),
		Relayed: netip.MustParseAddrPort("203.0.113.5:24012"), Outcome: "allocated"}
	rejectedAll := iceSession("failed", icePair(agentA, agentB, 10, 1, 3, 3, 3))
	checking := dead()
	checking.Outcome = "checking"
	runRuleCases(t, ICEFailed{}, []ruleCase{
		{name: "connected", a: iceAnalysis(iceSession("connected", icePair(agentA, agentB, 10, 1, 2, 1, 0))), want: 0},
		{name: "still checking when the capture ended", a: iceAnalysis(checking), want: 0},
		{name: "a moment of single checks", a: iceAnalysis(iceSession("failed", icePair(agentA, agentB, 10, 1, 1, 0, 0), icePair(agentA, "10.9.9.9:40002", 20, 1.05, 2, 0, 0))), want: 0},
		{name: "single checks over seconds", a: iceAnalysis(iceSession("failed", icePair(agentA, agentB, 10, 1, 1, 0, 0), icePair(agentA, "10.9.9.9:40002", 20, 7, 1, 0, 0))), want: 1},
		{
			name: "all unanswered",
			a:    iceAnalysis(dead()),
			want: 1,
			contains: []string{`ICE session "lcl"/"rmt" failed: none of its 2 candidate pairs succeeded. 14 checks were sent from 09:30:01.000 to 09:30:01.650, 0 answered.`,
				"192.0.2.10:50006 → 198.51.100.7:40000: 7 checks, 0 answered, unanswered",
				"Not one check was answered", "configure a TURN server"},
			filter: "stun.type.method == 0x001 && ((ip.addr == 192.0.2.10 && ip.addr == 198.51.100.7 && udp.port == 50006 && udp.port == 40000) || (ip.addr == 192.0.2.10 && ip.addr == 10.9.9.9 && udp.port == 50006 && udp.port == 40002))",
		},
		{
			name:     "relay missing: Allocate unanswered",
			a:        withAlloc(failedAllocation("unanswered", nil)),
			want:     1,
			contains: []string{"No relay candidate took part because the TURN allocation from 192.0.2.10:50006 to 203.0.113.5:3478 failed (Allocate in frame 1): 3 Allocate requests got no answer; see the turn.allocate-timeout finding"},
			excludes: []string{"configure a TURN server"},
		},
		{
			name: "relay missing: credentials rejected",
			a: withAlloc(failedAllocation("rejected", func(t *diagnose.Transaction) *diagnose.Transaction {
				return failed(auth(t, "alice", "example.org", "n1"), 4, 1.6, 401, "n1")
			})),
			want:     1,
			contains: []string{"the server rejected the credentials (401 Unauthorized); see the turn.integrity-failure finding"},
			frames:   []uint64{1, 2, 3, 4, 10, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 26},
		},
		{
			name: "relay missing: quota",
			a: withAlloc(failedAllocation("rejected", func(t *diagnose.Transaction) *diagnose.Transaction {
				return failed(auth(t, "alice", "example.org", "n1"), 4, 1.6, 486, "")
			})),
			want:     1,
			contains: []string{"see the turn.request-rejected finding"},
		},
		{
			name: "an allocation long before is another story",
			a: func() *diagnose.Analysis {
				al := failedAllocation("unanswered", nil)
				s := dead()
				for _, p := range s.Pairs {
					p.First.Time, p.Last.Time = p.First.Time.Add(3600e9), p.Last.Time.Add(3600e9)
				}
				s.First.Time, s.Last.Time = s.First.Time.Add(3600e9), s.Last.Time.Add(3600e9)
				return &diagnose.Analysis{ICESessions: []*diagnose.ICESession{s}, Allocations: []*diagnose.Allocation{al}}
			}(),
			want:     1,
			excludes: []string{"turn.allocate-timeout"},
		},
		{name: "only host candidates", a: iceAnalysis(hostOnly), want: 1, contains: []string{"Only host candidates were offered (2 in the SDP"}},
		{name: "relay tried", a: iceAnalysis(relayed), want: 1, contains: []string{"A relay candidate took part (TURN allocation from 192.0.2.10:50006 to 203.0.113.5:3478, relayed address 203.0.113.5:24012)", "via TURN 203.0.113.5:3478"},
			filter: "(stun.type.method == 0x001 && ip.addr == 192.0.2.10 && ip.addr == 198.51.100.7 && udp.port == 50006 && udp.port == 40000) || (ip.addr == 192.0.2.10 && ip.addr == 203.0.113.5 && udp.port == 50006 && udp.port == 3478 && (stun.type.method in {0x006, 0x007} || stun.channel))"},
		{name: "errors only", a: iceAnalysis(rejectedAll), want: 1, contains: []string{"The 3 answers were all errors"}},
		{
			name: "with a call",
			a: func() *diagnose.Analysis {
				s := dead()
				s.Call = &diagnose.Call{CallID: "c-1"}
				return iceAnalysis(s)
			}(),
			want: 1, contains: []string{`ICE session "lcl"/"rmt" (call "c-1") failed`},
		},
	})
}
