package rules

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

func TestServerUnreachable(t *testing.T) {
	icmpFor := func(tx *diagnose.Transaction, frame uint64, sender, desc string) *diagnose.ICMPEvent {
		e := &diagnose.ICMPEvent{
			FrameRef: diagnose.FrameRef{Frame: frame, Time: tx.Requests[0].Time.Add(1e6)},
			From:     netip.MustParseAddr(sender), Description: desc,
			Flow: [2]netip.AddrPort{tx.Client, tx.Server}, Transport: tx.Transport, Transaction: tx,
		}
		tx.ICMP = e
		return e
	}
	with := func(txs []*diagnose.Transaction, evs ...*diagnose.ICMPEvent) *diagnose.Analysis {
		an := analysis(txs...)
		an.ICMPErrors = evs
		return an
	}
	std := txn(1, stun.MethodAllocate, 1, 0)
	relay := from(txn(2, stun.MethodBinding, 5, 0), "192.0.2.10:50000", "203.0.113.5:24012")
	odd := from(txn(3, stun.MethodAllocate, 7, 0), "192.0.2.10:50000", "203.0.113.5:3479")
	v6 := from(txn(4, stun.MethodAllocate, 9, 0), "[2001:db8::10]:50000", "[2001:db8::5]:3478")
	noTx := from(txn(5, stun.MethodAllocate, 11, 0), "192.0.2.10:50001", "203.0.113.5:3478")
	unrelated := &diagnose.ICMPEvent{FrameRef: diagnose.FrameRef{Frame: 20, Time: at(1)}, From: netip.MustParseAddr("198.51.100.1"),
		Description: "port unreachable", Flow: [2]netip.AddrPort{client, netip.MustParseAddrPort("198.51.100.1:5004")}, Transport: decode.UDP}
	exceeded := &diagnose.ICMPEvent{FrameRef: diagnose.FrameRef{Frame: 21, Time: at(1)}, From: netip.MustParseAddr("10.0.0.1"),
		Description: "time exceeded in transit", Flow: [2]netip.AddrPort{client, server}, Transport: decode.UDP}
	runRuleCases(t, ServerUnreachable{}, []ruleCase{
		{
			name:     "port unreachable from the server itself",
			a:        with([]*diagnose.Transaction{std}, icmpFor(std, 2, "203.0.113.5", "port unreachable")),
			want:     1,
			contains: []string{"An Allocate request to 203.0.113.5:3478 (udp) from 192.0.2.10:50000 got 1 ICMP error instead of a response", "port unreachable from 203.0.113.5", "nothing listens on UDP port 3478"},
			excludes: []string{"not a standard"},
			frames:   []uint64{1, 2},
			filter:   "ip.addr == 203.0.113.5 && udp.port == 3478 && (stun || classicstun || icmp || icmpv6)",
		},
		{
			name:     "relay port hint for ICE checks",
			a:        with([]*diagnose.Transaction{relay}, icmpFor(relay, 6, "203.0.113.5", "port unreachable")),
			want:     1,
			contains: []string{"Port 24012 is not a standard STUN/TURN port (3478, 5349)", "ICE connectivity checks", "relay port"},
		},
		{
			name:     "non-standard port for an Allocate",
			a:        with([]*diagnose.Transaction{odd}, icmpFor(odd, 8, "198.51.100.254", "administratively prohibited")),
			want:     1,
			contains: []string{"Port 3479 is not a standard", "TURN URL", "firewall or router rejects"},
		},
		{
			name:     "ICMPv6",
			a:        with([]*diagnose.Transaction{v6}, icmpFor(v6, 10, "2001:db8::5", "port unreachable")),
			want:     1,
			contains: []string{"[2001:db8::5]:3478"},
			filter:   "ipv6.addr == 2001:db8::5 && udp.port == 3478 && (stun || classicstun || icmp || icmpv6)",
		},
		{
			name: "quote without a STUN header on a STUN flow",
			a: with([]*diagnose.Transaction{noTx}, &diagnose.ICMPEvent{FrameRef: diagnose.FrameRef{Frame: 12, Time: at(0.1)}, From: netip.MustParseAddr("203.0.113.5"),
				Description: "host unreachable", Flow: [2]netip.AddrPort{noTx.Client, noTx.Server}, Transport: decode.UDP}),
			want:     1,
			contains: []string{"cannot reach"},
			frames:   []uint64{11, 12},
		},
		{
			name: "quoted response: the client's port closed",
			a: func() *diagnose.Analysis {
				tx := succeeded(txn(6, stun.MethodRefresh, 37, 5), 38, 5.001)
				return with([]*diagnose.Transaction{tx}, &diagnose.ICMPEvent{FrameRef: diagnose.FrameRef{Frame: 39, Time: at(5.002)},
					From: client.Addr(), Description: "port unreachable", Flow: [2]netip.AddrPort{server, client}, Transport: decode.UDP, Transaction: tx})
			}(),
			want: 0,
		},
		{
			// nDPI's whatsapp_login_call.pcap: the peer's checks reach a
			// client that closed its socket; the client, not a server, answers.
			name: "ICMP from an ICE agent that sends requests itself",
			a: func() *diagnose.Analysis {
				peerCheck := from(txn(7, stun.MethodBinding, 40, 6), "198.51.100.7:40000", "192.0.2.10:50000")
				own := txn(8, stun.MethodAllocate, 41, 6)
				return with([]*diagnose.Transaction{own, peerCheck}, icmpFor(peerCheck, 42, "192.0.2.10", "port unreachable"))
			}(),
			want: 0,
		},
		{
			// nDPI's stun_signal.pcapng: UDP 443 refused, 3478 on another
			// server worked.
			name: "client fell back to another TURN server",
			a: func() *diagnose.Analysis {
				dead := from(txn(9, stun.MethodAllocate, 50, 7), "192.0.2.10:50002", "203.0.113.9:443")
				an := with([]*diagnose.Transaction{dead}, icmpFor(dead, 51, "203.0.113.9", "port unreachable"))
				an.Allocations = []*diagnose.Allocation{{Client: netip.MustParseAddrPort("192.0.2.10:50003"), Server: server,
					Transport: decode.UDP, Outcome: "allocated", First: diagnose.FrameRef{Frame: 52, Time: at(7.1)}}}
				return an
			}(),
			want:     1,
			severity: diagnose.Warning,
			contains: []string{"did get an allocation from 203.0.113.5:3478 (frame 52)", "fell back"},
		},
		{name: "unrelated flow", a: with([]*diagnose.Transaction{std}, unrelated), want: 0},
		{name: "not an unreachable", a: with([]*diagnose.Transaction{std}, exceeded), want: 0},
	})
}
