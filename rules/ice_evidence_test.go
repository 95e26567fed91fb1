package rules

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// relayToRelay is a pair between two relayed candidates, as in
// pcaps/webrtc-relay.pcap: each agent has its own allocation on the same
// TURN server, and every check crosses both legs.
func relayToRelay() *diagnose.CandidatePair {
	p := icePair("198.51.100.1:49159", "198.51.100.1:49156", 14, 0.1, 6, 3, 0)
	p.Allocation = &diagnose.Allocation{Client: netip.MustParseAddrPort("192.0.2.10:46696"), Server: netip.MustParseAddrPort("192.0.2.1:3478"),
		Transport: decode.UDP, Relayed: p.Local, Outcome: "allocated"}
	p.RemoteAllocation = &diagnose.Allocation{Client: netip.MustParseAddrPort("192.0.2.10:43914"), Server: netip.MustParseAddrPort("192.0.2.1:3478"),
		Transport: decode.UDP, Relayed: p.Remote, Outcome: "allocated"}
	return p
}

// The filter was checked with tshark on pcaps/webrtc-relay.pcap: each term
// selects one leg's 696 Send/Data indications and ChannelData, together
// 1,391 frames, where the local leg's alone missed half the checks.
const relayToRelayFilter = "(ip.addr == 192.0.2.10 && ip.addr == 192.0.2.1 && udp.port == 46696 && udp.port == 3478 && (stun.type.method in {0x006, 0x007} || stun.channel)) || " +
	"(ip.addr == 192.0.2.10 && ip.addr == 192.0.2.1 && udp.port == 43914 && udp.port == 3478 && (stun.type.method in {0x006, 0x007} || stun.channel))"

func TestICEEvidenceRelayToRelay(t *testing.T) {
	tests := []struct {
		name      string
		pair      func() *diagnose.CandidatePair
		filter    string
		line      string
		endpoints []string
	}{
		{
			name:      "both ends relayed by one server",
			pair:      relayToRelay,
			filter:    relayToRelayFilter,
			line:      "198.51.100.1:49159 → 198.51.100.1:49156 via TURN 192.0.2.1:3478 (both ends relayed): 6 checks, 3 answered, succeeded",
			endpoints: []string{"198.51.100.1:49159", "198.51.100.1:49156", "192.0.2.10:46696", "192.0.2.1:3478", "192.0.2.10:43914"},
		},
		{
			name: "each end by its own server",
			pair: func() *diagnose.CandidatePair {
				p := relayToRelay()
				p.RemoteAllocation.Client, p.RemoteAllocation.Server = netip.MustParseAddrPort(agentB), netip.MustParseAddrPort(turnA)
				return p
			},
			filter: "(ip.addr == 192.0.2.10 && ip.addr == 192.0.2.1 && udp.port == 46696 && udp.port == 3478 && (stun.type.method in {0x006, 0x007} || stun.channel)) || " +
				"(ip.addr == 198.51.100.7 && ip.addr == 203.0.113.5 && udp.port == 40000 && udp.port == 3478 && (stun.type.method in {0x006, 0x007} || stun.channel))",
			line:      "via TURN 192.0.2.1:3478 and 203.0.113.5:3478 (both ends relayed)",
			endpoints: []string{"192.0.2.10:46696", "192.0.2.1:3478", "198.51.100.7:40000", "203.0.113.5:3478"},
		},
		{
			name: "remote leg's client unknown",
			pair: func() *diagnose.CandidatePair {
				p := relayToRelay()
				p.RemoteAllocation.Client = netip.AddrPort{}
				return p
			},
			filter: "ip.addr == 192.0.2.10 && ip.addr == 192.0.2.1 && udp.port == 46696 && udp.port == 3478 && (stun.type.method in {0x006, 0x007} || stun.channel)",
			line:   "via TURN 192.0.2.1:3478 (both ends relayed)",
		},
		{
			name: "only the local end relayed",
			pair: func() *diagnose.CandidatePair {
				p := relayToRelay()
				p.RemoteAllocation = nil
				return p
			},
			filter:    "ip.addr == 192.0.2.10 && ip.addr == 192.0.2.1 && udp.port == 46696 && udp.port == 3478 && (stun.type.method in {0x006, 0x007} || stun.channel)",
			line:      "198.51.100.1:49159 → 198.51.100.1:49156 via TURN 192.0.2.1:3478: 6 checks",
			endpoints: []string{"192.0.2.10:46696", "192.0.2.1:3478"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.pair()
			s := iceSession("failed", p)
			if got := iceChecksFilter(s, []*diagnose.CandidatePair{p}); got != tt.filter {
				t.Errorf("filter\n got %s\nwant %s", got, tt.filter)
			}
			if got := pairLine(p); !strings.Contains(got, tt.line) {
				t.Errorf("pair line %q lacks %q", got, tt.line)
			}
			var ev evidence
			ev.addPair(p)
			for _, e := range tt.endpoints {
				if !slices.Contains(ev.endpoints, e) {
					t.Errorf("endpoints %v lack %s", ev.endpoints, e)
				}
			}
		})
	}
}
