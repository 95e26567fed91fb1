package rules

import (
	"testing"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

func TestICERoleConflict(t *testing.T) {
	conflict := func(outcome string) *diagnose.ICESession {
		s := iceSession(outcome, icePair(agentA, agentB, 10, 1, 4, 2, 1))
		s.RoleConflicts = []diagnose.FrameRef{ref(11, 1.05)}
		return s
	}
	tx := failed(from(txn(7, stun.MethodBinding, 10, 1), agentB, agentA), 11, 1.05, 487, "")
	found := iceAnalysis(conflict("connected"))
	found.Transactions = []*diagnose.Transaction{tx}
	runRuleCases(t, ICERoleConflict{}, []ruleCase{
		{name: "no conflict", a: iceAnalysis(iceSession("connected", icePair(agentA, agentB, 10, 1, 2, 1, 0))), want: 0},
		{
			name: "resolved, switcher known",
			a:    found,
			want: 1,
			contains: []string{`ICE session "lcl"/"rmt" had 1 check answered with 487 Role Conflict (first in frame 11 at 09:30:01.050)`,
				"The 487 went to 198.51.100.7:40000, which switched role.", "harmless"},
			filter: "stun.id == a00700000000000000000000",
		},
		{
			name:     "switcher unknown, session failed",
			a:        iceAnalysis(conflict("failed")),
			want:     1,
			contains: []string{"The agent that received the 487 switched role.", "see ice.failed"},
			filter:   "stun.att.error.class == 4 && stun.att.error == 87 && ip.addr == 192.0.2.10 && ip.addr == 198.51.100.7 && udp.port == 50006 && udp.port == 40000",
		},
	})
}
