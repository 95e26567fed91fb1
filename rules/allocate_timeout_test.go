package rules

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

func TestAllocateTimeout(t *testing.T) {
	const a = stun.MethodAllocate
	// The RFC 8489 §6.2.1 schedule with RTO 500 ms.
	full := func() *diagnose.Transaction {
		return resent(txn(1, a, 1, 0), 2, 0.5, 3, 1.5, 4, 3.5, 5, 7.5, 6, 15.5, 7, 31.5)
	}
	withEnd := func(an *diagnose.Analysis, sec float64) *diagnose.Analysis {
		an.Captures = append(an.Captures, capture0(sec))
		return an
	}
	icmp := func(tx *diagnose.Transaction) *diagnose.Transaction {
		tx.ICMP = &diagnose.ICMPEvent{FrameRef: diagnose.FrameRef{Frame: 9, Time: at(0.01)}, Description: "port unreachable"}
		return tx
	}
	tcp := txn(1, a, 1, 0)
	tcp.Transport = decode.TCP
	runRuleCases(t, AllocateTimeout{}, []ruleCase{
		{
			name:     "seven sends, client gave up",
			a:        withEnd(analysis(full()), 60),
			want:     1,
			contains: []string{"was never answered", "sent 7 times", "0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s", "gave up", "UDP 3478", "firewall"},
			frames:   []uint64{1, 2, 3, 4, 5, 6, 7},
			filter:   "stun.id == a00100000000000000000000",
		},
		{
			// Chromium: RTO 250 ms doubling, capped at 8 s, 9 sends.
			name:     "nine sends on the client's own schedule",
			a:        analysis(resent(txn(1, a, 1, 0), 2, 0.265, 3, 0.781, 4, 1.796, 5, 3.812, 6, 7.828, 7, 15.843, 8, 23.859, 9, 31.874)),
			want:     1,
			contains: []string{"sent 9 times", "more than the 7 sends of RFC 8489 §6.2.1's default", "schedule of its own; the capture ends with the last one"},
			excludes: []string{"as many as", "0 s after"},
		},
		{
			name:     "capture ends while retrying",
			a:        analysis(resent(txn(1, a, 1, 0), 2, 0.5, 3, 1.5, 4, 3.5)),
			want:     1,
			contains: []string{"0, 0.5, 1.5, 3.5 s", "the capture ends with the last send, so", "may still have been retrying"},
			excludes: []string{"0 s after"},
		},
		{
			name:     "capture ends soon after the last send",
			a:        withEnd(analysis(resent(txn(1, a, 1, 0), 2, 0.5, 3, 1.5, 4, 3.5)), 4),
			want:     1,
			contains: []string{"the capture ends 0.5 s after the last send", "may still have been retrying"},
		},
		{
			name:     "browser gave up early",
			a:        withEnd(analysis(resent(txn(1, a, 1, 0), 2, 0.5, 3, 1.5)), 20),
			want:     1,
			contains: []string{"the client gave up"},
		},
		{
			name: "retried with a new transaction and allocated",
			a:    withEnd(analysis(resent(txn(1, a, 1, 0), 2, 0.5, 3, 1.5), succeeded(txn(2, a, 4, 4), 5, 4.1)), 30),
			want: 0,
		},
		{
			name:     "lost duplicate after the allocation was made",
			a:        withEnd(analysis(succeeded(txn(2, a, 1, 0), 2, 0.1), txn(1, a, 3, 1)), 30),
			want:     1,
			severity: diagnose.Warning,
			contains: []string{"sent once and never retransmitted", "earlier Allocate on this 5-tuple had succeeded (frame 2)"},
		},
		{name: "answered", a: analysis(succeeded(full(), 8, 32)), want: 0},
		{name: "answered by ICMP", a: analysis(icmp(full())), want: 0},
		{
			name: "ICMP quoted the flow without the STUN header",
			a: func() *diagnose.Analysis {
				an := analysis(full())
				an.ICMPErrors = []*diagnose.ICMPEvent{{Description: "port unreachable", Flow: [2]netip.AddrPort{client, server}, Transport: decode.UDP}}
				return an
			}(),
			want: 0,
		},
		{name: "too close to the end of the capture", a: analysis(txn(1, a, 1, 0)), want: 0},
		{name: "Binding is another rule", a: withEnd(analysis(resent(txn(1, stun.MethodBinding, 1, 0), 2, 0.5)), 10), want: 0},
		{
			name:     "TCP has no retransmissions",
			a:        withEnd(analysis(tcp), 40),
			want:     1,
			contains: []string{"(tcp)", "does not retransmit", "accepted the connection but never answered"},
			excludes: []string{"dropped silently"},
		},
		{
			name:     "server answered others on the 5-tuple",
			a:        withEnd(analysis(succeeded(txn(2, stun.MethodBinding, 1, 0), 2, 0.01), resent(txn(1, a, 3, 1), 4, 1.5)), 30),
			want:     1,
			contains: []string{"answered 1 other request", "path works"},
		},
	})
}

func capture0(lastSec float64) capture.FileInfo {
	return capture.FileInfo{Path: "x.pcap", Format: "pcap", Packets: 10, First: at(0), Last: at(lastSec)}
}
