package rules

import (
	"testing"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

func TestICEConsentLost(t *testing.T) {
	lost := func(unanswered int) *diagnose.ICESession {
		s := iceSession("connected", icePair(agentA, agentB, 10, 1, 12, 6, 0))
		s.ConsentChecks, s.ConsentUnanswered, s.ConsentLost = 10, unanswered, ref(500, 40)
		s.Last = ref(700, 60)
		return s
	}
	withMedia := lost(4)
	withMedia.Streams = []*diagnose.Stream{rtpStream(agentA, agentB, 0x1234, 100, 12, 1500)}
	stoppedBefore := lost(4)
	stoppedBefore.Streams = []*diagnose.Stream{rtpStream(agentA, agentB, 0x1234, 100, 2, 1500)}
	closed := lost(4)
	closed.DTLS = []*diagnose.TLSConnection{{DTLS: true, Alerts: []diagnose.TLSAlert{{FrameRef: ref(480, 39), Level: 1, Description: 0}}}}
	relayed := lost(4)
	relayed.Selected.Allocation = &diagnose.Allocation{Server: server, Outcome: "expired", Last: ref(490, 39.5)}
	bothRelayed := iceSession("connected", relayToRelay())
	bothRelayed.ConsentChecks, bothRelayed.ConsentUnanswered, bothRelayed.ConsentLost = 10, 4, ref(500, 40)
	bothRelayed.Last = ref(700, 60)
	bothRelayed.Selected.RemoteAllocation.Outcome, bothRelayed.Selected.RemoteAllocation.Last = "deleted", ref(495, 39.8)
	check := from(txn(9, stun.MethodBinding, 500, 40), agentA, agentB)
	sender := iceAnalysis(lost(3))
	sender.Transactions = []*diagnose.Transaction{check}
	sender.Captures = append(sender.Captures, captureInfo(50))
	runRuleCases(t, ICEConsentLost{}, []ruleCase{
		{name: "consent kept", a: iceAnalysis(iceSession("connected", icePair(agentA, agentB, 10, 1, 12, 12, 0))), want: 0},
		{name: "one check lost", a: iceAnalysis(lost(1)), want: 0},
		{name: "peer closed DTLS first", a: iceAnalysis(closed), want: 0},
		{
			name: "path died",
			a:    iceAnalysis(withMedia),
			want: 1,
			contains: []string{`ICE session "lcl"/"rmt" connected on 192.0.2.10:50006 → 198.51.100.7:40000, then its consent checks stopped being answered: from frame 500 at 09:30:40.000 on, 4 consent checks of 10 went unanswered.`,
				"Media on this pair stopped at 09:30:41.980 (frame 1599), 1.98 s after the first unanswered check."},
			frames: []uint64{10, 500, 700, 1599},
			filter: "stun.type.method == 0x001 && ip.addr == 192.0.2.10 && ip.addr == 198.51.100.7 && udp.port == 50006 && udp.port == 40000",
		},
		{name: "media stopped first", a: iceAnalysis(stoppedBefore), want: 1, contains: []string{"Media on this pair had already stopped at 09:30:31.980 (frame 1599), 8.02 s before."}},
		{name: "TURN allocation expired", a: iceAnalysis(relayed), want: 1, contains: []string{"The TURN allocation under the pair expired (last seen at 09:30:39.500, frame 490)", "(relayed by the TURN server 203.0.113.5:3478)"}},
		{
			name: "both ends relayed, the remote allocation deleted",
			a:    iceAnalysis(bothRelayed),
			want: 1,
			contains: []string{"connected on 198.51.100.1:49159 → 198.51.100.1:49156 (both ends relayed by the TURN server 192.0.2.1:3478)",
				"The TURN allocation of the remote end (192.0.2.10:43914 → 192.0.2.1:3478) deleted (last seen at 09:30:39.800, frame 495)"},
			excludes: []string{"of the local end"},
			frames:   []uint64{14, 495, 500, 700},
			filter:   relayToRelayFilter,
		},
		{
			name:     "who sent them, capture ends early",
			a:        sender,
			want:     1,
			contains: []string{"(sent by 192.0.2.10:50006 to 198.51.100.7:40000)", "The capture ended 10 s later, before consent would expire"},
		},
	})
}
