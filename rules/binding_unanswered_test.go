package rules

import (
	"github.com/callscope/callscope/decode"
	"testing"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

func TestBindingUnanswered(t *testing.T) {
	const b = stun.MethodBinding
	ice := func(tx *diagnose.Transaction) *diagnose.Transaction { tx.Username = "peer:local"; return tx }
	runRuleCases(t, BindingUnanswered{}, []ruleCase{
		{
			name: "STUN server silent",
			a: func() *diagnose.Analysis {
				an := analysis(
					resent(txn(1, b, 1, 0), 2, 0.5, 3, 1.5),
					resent(txn(2, b, 4, 5), 5, 5.5))
				an.Captures = append(an.Captures, capture0(10))
				return an
			}(),
			want:     1,
			contains: []string{"2 Binding requests from 192.0.2.10:50000 to 203.0.113.5:3478 (udp) got no response", "5 sends", "over 5.5 s", "UDP 3478 to 203.0.113.5 is probably blocked"},
			filter:   "stun.id in {a00100000000000000000000, a00200000000000000000000}",
		},
		{
			name: "ICE check to a dead candidate, another pair worked",
			a: analysis(
				ice(resent(from(txn(1, b, 1, 0), "192.0.2.10:50000", "10.9.9.9:40000"), 2, 0.5, 3, 1.5)),
				succeeded(ice(from(txn(2, b, 4, 0.1), "192.0.2.10:50000", "198.51.100.7:40000")), 5, 0.15)),
			want:     1,
			contains: []string{"An ICE connectivity check from", "were answered (1 response, by 198.51.100.7:40000)", "harmless when another pair succeeded"},
		},
		{
			name: "lost once, answered later on the same pair",
			a: analysis(
				resent(txn(1, b, 1, 0), 2, 0.5, 3, 1.5),
				succeeded(txn(2, b, 4, 5), 5, 5.1)),
			want: 0,
		},
		{
			// tshark shows classicstun.id as the cookie field and the 96
			// bits after it (checked on nDPI's zoom.pcap with tshark 4.0.17).
			name: "classic RFC 3489 Binding is filtered by its 128-bit ID",
			a: func() *diagnose.Analysis {
				tx := resent(txn(1, b, 1, 0), 2, 0.5, 3, 1.5)
				tx.Classic, tx.Cookie = true, 0xc15dae63
				an := analysis(tx)
				an.Captures = append(an.Captures, capture0(10))
				an.Stats.ClassicSTUN = 3
				return an
			}(),
			want:   1,
			filter: "classicstun.id == c15dae63a00100000000000000000000",
		},
		{
			name: "many classic Bindings are filtered by flow",
			a: func() *diagnose.Analysis {
				var txs []*diagnose.Transaction
				for i := range 9 {
					tx := txn(byte(i+1), b, uint64(i+1), float64(i))
					tx.Classic, tx.Cookie = true, uint32(i)
					txs = append(txs, tx)
				}
				an := analysis(txs...)
				an.Captures = append(an.Captures, capture0(20))
				return an
			}(),
			want:   1,
			filter: "ip.addr == 192.0.2.10 && ip.addr == 203.0.113.5 && udp.port == 50000 && udp.port == 3478 && (stun || classicstun)",
		},
		{
			name: "exact count from the engine's summary",
			a: func() *diagnose.Analysis {
				an := analysis(resent(txn(1, b, 1, 0), 2, 0.5), txn(2, b, 3, 1))
				an.Captures = append(an.Captures, capture0(10))
				an.Bindings = []*diagnose.BindingSummary{{Client: client, Server: server, Transport: decode.UDP, Requests: 40, Unanswered: 40}}
				return an
			}(),
			want:     1,
			contains: []string{"40 Binding requests from"},
		},
		{
			name: "pair that answered, then a few losses",
			a: func() *diagnose.Analysis {
				an := analysis(succeeded(txn(1, b, 1, 0), 2, 0.1), txn(2, b, 3, 5))
				an.Captures = append(an.Captures, capture0(30))
				an.Bindings = []*diagnose.BindingSummary{{Client: client, Server: server, Transport: decode.UDP, Requests: 30, Answered: 29, Unanswered: 1, Last: diagnose.FrameRef{Frame: 99, Time: at(29)}}}
				return an
			}(),
			want: 0,
		},
		{
			name: "pair that answered, then went silent",
			a: func() *diagnose.Analysis {
				an := analysis(succeeded(txn(1, b, 1, 0), 2, 0.1), txn(2, b, 3, 5), txn(3, b, 4, 10), txn(4, b, 5, 15))
				an.Captures = append(an.Captures, capture0(30))
				an.Bindings = []*diagnose.BindingSummary{{Client: client, Server: server, Transport: decode.UDP, Requests: 4, Answered: 1, Unanswered: 3, Last: diagnose.FrameRef{Frame: 5, Time: at(15)},
					LastAnswered: diagnose.FrameRef{Frame: 2, Time: at(0.1)}, UnansweredSinceAnswer: 3}}
				return an
			}(),
			want:     1,
			contains: []string{"3 Binding requests", "had answered 1 request before it went silent"},
		},
		{name: "answered", a: analysis(succeeded(txn(1, b, 1, 0), 2, 0.1)), want: 0},
		{name: "Allocate is another rule", a: analysis(resent(txn(1, stun.MethodAllocate, 1, 0), 2, 0.5, 3, 1.5)), want: 0},
	})
}
