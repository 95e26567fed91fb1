package bpf

import (
	"errors"
	"strings"
	"testing"

	xbpf "golang.org/x/net/bpf"

	"github.com/callscope/callscope/decode/capture"
)

// Hand-checked packets for the expectations below (no tcpdump needed).
var (
	udpDNS      = ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoUDP, ipv4Opts{}, ports(protoUDP, 33000, 53)))
	udpDNSOpts  = ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoUDP, ipv4Opts{options: 12}, ports(protoUDP, 33000, 53)))
	udpSIP      = ether(etherIPv4, ipv4("192.168.1.10", "203.0.113.7", protoUDP, ipv4Opts{}, ports(protoUDP, 5060, 5060)))
	tcpTLS      = ether(etherIPv4, ipv4("192.168.1.10", "1.2.3.4", protoTCP, ipv4Opts{}, ports(protoTCP, 40000, 443)))
	sctpDNS     = ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoSCTP, ipv4Opts{}, ports(protoSCTP, 33000, 53)))
	icmpEchoV4  = ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoICMP, ipv4Opts{}, icmpEcho()))
	laterFrag   = ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoUDP, ipv4Opts{fragOffset: 185}, ports(protoUDP, 53, 53)))
	firstFrag   = ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoUDP, ipv4Opts{moreFrags: true}, ports(protoUDP, 33000, 53)))
	udp6STUN    = ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", protoUDP, ports(protoUDP, 50000, 3478)))
	tcp6        = ether(etherIPv6, ipv6("fe80::1", "2001:db8::2", protoTCP, ports(protoTCP, 443, 50000)))
	icmp6Echo   = ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", protoICMPv6, []byte{128, 0, 0, 0, 0, 1, 0, 1}))
	udp6Frag    = ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", protoFragment, fragment6(protoUDP, 0, true, ports(protoUDP, 50000, 3478))))
	arpRequest  = ether(etherARP, arpPacket(1, "10.0.0.1", "10.0.0.2"))
	vlan100DNS  = tagged(udpDNS, 0x8100, 0x2000|100)
	vlan200SIP  = tagged(udpSIP, 0x8100, 200)
	qinqDNS     = tagged(vlan100DNS, 0x88a8, 300)
	lldpFrame   = ether(0x88cc, make([]byte, 40))
	shortUDPDNS = udpDNS[:36] // cut inside the UDP header, before the destination port
)

func TestCompileHandChecked(t *testing.T) {
	type verdict struct {
		name  string
		frame []byte
		want  bool
	}
	tests := []struct {
		filter string
		cases  []verdict
	}{
		{"udp", []verdict{{"udp", udpDNS, true}, {"tcp", tcpTLS, false}, {"udp6", udp6STUN, true}, {"udp6 behind a fragment header", udp6Frag, true}, {"later fragment", laterFrag, true}, {"icmp", icmpEchoV4, false}, {"vlan-tagged udp", vlan100DNS, false}}},
		{"tcp", []verdict{{"tcp", tcpTLS, true}, {"tcp6", tcp6, true}, {"udp", udpDNS, false}}},
		{"icmp", []verdict{{"icmp", icmpEchoV4, true}, {"icmp6", icmp6Echo, false}}},
		{"icmp6", []verdict{{"icmp6", icmp6Echo, true}, {"icmp", icmpEchoV4, false}}},
		{"ip", []verdict{{"udp", udpDNS, true}, {"udp6", udp6STUN, false}, {"arp", arpRequest, false}}},
		{"ip6", []verdict{{"udp6", udp6STUN, true}, {"udp", udpDNS, false}}},
		{DefaultFilter, []verdict{{"udp", udpDNS, true}, {"tcp", tcpTLS, true}, {"icmp", icmpEchoV4, true}, {"icmp6", icmp6Echo, true}, {"later fragment", laterFrag, true}, {"arp", arpRequest, false}, {"lldp", lldpFrame, false}, {"sctp", sctpDNS, false}}},
		{"port 53", []verdict{{"dst 53", udpDNS, true}, {"with IP options", udpDNSOpts, true}, {"sctp", sctpDNS, true}, {"first fragment", firstFrag, true}, {"later fragment", laterFrag, false}, {"5060", udpSIP, false}, {"cut short", shortUDPDNS, false}}},
		{"udp port 53", []verdict{{"udp", udpDNS, true}, {"sctp", sctpDNS, false}}},
		{"src port 53", []verdict{{"dst 53", udpDNS, false}}},
		{"dst port 53", []verdict{{"dst 53", udpDNS, true}}},
		{"src and dst port 5060", []verdict{{"5060 both", udpSIP, true}, {"53", udpDNS, false}}},
		{"tcp dst port 443", []verdict{{"tls", tcpTLS, true}, {"tls6 src 443", tcp6, false}}},
		{"udp port 3478", []verdict{{"stun6", udp6STUN, true}, {"stun6 behind a fragment header", udp6Frag, false}}},
		{"portrange 3000-4000", []verdict{{"3478", udp6STUN, true}, {"53", udpDNS, false}}},
		{"portrange 5060", []verdict{{"5060", udpSIP, true}}},
		{"port 53 or 5060", []verdict{{"53", udpDNS, true}, {"5060", udpSIP, true}, {"443", tcpTLS, false}}},
		{"port 53 and not 33000", []verdict{{"33000->53", udpDNS, false}, {"sctp 33000->53", sctpDNS, false}}},
		{"host 10.0.0.1", []verdict{{"src", udpDNS, true}, {"arp sender", arpRequest, true}, {"other", udpSIP, false}}},
		{"ip host 10.0.0.1", []verdict{{"src", udpDNS, true}, {"arp sender", arpRequest, false}}},
		{"dst host 10.0.0.1", []verdict{{"src", udpDNS, false}}},
		{"host 10.0.0.1 or 1.2.3.4", []verdict{{"10.0.0.1", udpDNS, true}, {"1.2.3.4", tcpTLS, true}, {"neither", udpSIP, false}}},
		{"host 2001:db8::2", []verdict{{"dst", udp6STUN, true}, {"v4", udpDNS, false}}},
		{"src host 2001:db8::2", []verdict{{"dst", udp6STUN, false}}},
		{"net 192.168.0.0/16", []verdict{{"192.168.1.10", udpSIP, true}, {"10.0.0.1", udpDNS, false}}},
		{"net 192.168.0.0 mask 255.255.0.0", []verdict{{"192.168.1.10", udpSIP, true}, {"10.0.0.1", udpDNS, false}}},
		{"net 10", []verdict{{"10.0.0.1", udpDNS, true}, {"192.168.1.10", udpSIP, false}}},
		{"net 2001:db8::/32", []verdict{{"2001:db8::", udp6STUN, true}, {"fe80::1 to 2001:db8::2", tcp6, true}}},
		{"src net 2001:db8::/32", []verdict{{"fe80::1 to 2001:db8::2", tcp6, false}}},
		{"vlan", []verdict{{"tagged", vlan100DNS, true}, {"untagged", udpDNS, false}}},
		{"vlan 100", []verdict{{"vid 100 with priority bits", vlan100DNS, true}, {"vid 200", vlan200SIP, false}}},
		{"vlan and port 53", []verdict{{"tagged dns", vlan100DNS, true}, {"tagged sip", vlan200SIP, false}, {"untagged dns", udpDNS, false}}},
		{"vlan 300 and vlan 100 and udp", []verdict{{"qinq", qinqDNS, true}, {"single tag", vlan100DNS, false}}},
		{"not vlan and udp", []verdict{{"untagged udp is looked at 4 bytes late, as tcpdump does", udpDNS, false}}},
		{"not udp", []verdict{{"udp", udpDNS, false}, {"arp", arpRequest, true}}},
		{"! (udp || tcp) && !icmp6", []verdict{{"icmp", icmpEchoV4, true}, {"icmp6", icmp6Echo, false}, {"tcp", tcpTLS, false}}},
		{"udp and (port 53 or port 3478)", []verdict{{"dns", udpDNS, true}, {"stun6", udp6STUN, true}, {"sip", udpSIP, false}}},
		{"host 192.168.1.10 and port 5060 or icmp", []verdict{{"sip", udpSIP, true}, {"icmp", icmpEchoV4, true}, {"tls", tcpTLS, false}}},
		{"port 53 or (host 1.2.3.4) or 443", []verdict{{"443 inherits port", tcpTLS, true}}},
	}
	for _, tt := range tests {
		prog, err := Compile(tt.filter, capture.LinkEthernet, 1500)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.filter, err)
			continue
		}
		vm := newVM(t, prog)
		for _, c := range tt.cases {
			got := run(t, vm, c.frame)
			want := 0
			if c.want {
				want = 1500
			}
			if got != want {
				t.Errorf("%q on %s: returned %d, want %d", tt.filter, c.name, got, want)
			}
		}
	}
}

// TestCompileLinkTypes checks the link-layer framing of each link type on
// packets built for it.
func TestCompileLinkTypes(t *testing.T) {
	for _, link := range []capture.LinkType{
		capture.LinkEthernet, capture.LinkLinuxSLL, capture.LinkSLL2, capture.LinkRaw,
		capture.LinkNull, capture.LinkLoop, capture.LinkIPv4, capture.LinkIPv6,
	} {
		for _, tt := range []struct {
			filter string
			frame  []byte
			want   bool
		}{
			{"udp port 53", udpDNS, link != capture.LinkIPv6},
			{"udp port 3478", udp6STUN, link != capture.LinkIPv4},
			{"ip6 and udp", udp6STUN, link != capture.LinkIPv4},
			{"ip", udp6STUN, link == capture.LinkIPv4}, // a DLT_IPV4 link carries only IPv4
			{"host 10.0.0.2", udpDNS, link != capture.LinkIPv6},
			{"host 10.0.0.2", arpRequest, link == capture.LinkEthernet || link == capture.LinkLinuxSLL || link == capture.LinkSLL2},
		} {
			data, ok := onLink(tt.frame, link)
			if !ok {
				continue
			}
			prog, err := Compile(tt.filter, link, 100)
			if err != nil {
				t.Fatalf("%s: Compile(%q): %v", linkNames[link], tt.filter, err)
			}
			if got := run(t, newVM(t, prog), data) != 0; got != tt.want {
				t.Errorf("%s: %q accepts = %v, want %v", linkNames[link], tt.filter, got, tt.want)
			}
		}
	}
	if _, err := Compile("udp", capture.LinkType(127), 0); err == nil {
		t.Error("an unsupported link type compiled")
	}
	if _, err := Compile("vlan", capture.LinkLinuxSLL, 0); err == nil {
		t.Error("vlan compiled for Linux cooked capture; tcpdump refuses it")
	}
}

func TestCompileErrorsNameTokenAndOffset(t *testing.T) {
	for _, tt := range []struct {
		filter string
		token  string
		pos    int
	}{
		{"host example.com", "example.com", 5},
		{"udp and port http", "http", 13},
		{"port 53 or 70000", "70000", 11},
		{"udp and ether host 1:2:3:4:5:6", "ether", 8},
		{"ip[9] == 17", "[", 2},
		{"(udp or tcp", "", 11},
		{"udp or 53", "53", 7},
		{"vlan 4096", "4096", 5},
		{"", "", 0},
	} {
		_, err := Compile(tt.filter, capture.LinkEthernet, 0)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q) = %v, want a *SyntaxError", tt.filter, err)
			continue
		}
		if se.Token != tt.token || se.Pos != tt.pos {
			t.Errorf("Compile(%q): error at %q offset %d, want %q offset %d (%v)", tt.filter, se.Token, se.Pos, tt.token, tt.pos, err)
		}
		if !strings.Contains(err.Error(), tt.filter) {
			t.Errorf("Compile(%q): error %q does not quote the filter", tt.filter, err)
		}
	}
}

func TestCompileSnaplen(t *testing.T) {
	for _, tt := range []struct{ snaplen, want int }{{96, 96}, {0, DefaultSnaplen}, {-1, DefaultSnaplen}} {
		prog, err := Compile("udp", capture.LinkEthernet, tt.snaplen)
		if err != nil {
			t.Fatal(err)
		}
		if got := run(t, newVM(t, prog), udpDNS); got != tt.want {
			t.Errorf("snaplen %d: accept returned %d, want %d", tt.snaplen, got, tt.want)
		}
	}
}

// TestCompileFarJumps checks filters long enough that jumps exceed the 255
// instructions a conditional jump can skip, and that a filter beyond the
// kernel's instruction limit is refused rather than cut.
func TestCompileFarJumps(t *testing.T) {
	filter := longFilter(80)
	prog, err := Compile(filter, capture.LinkEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) < 600 {
		t.Fatalf("only %d instructions; the test needs far jumps", len(prog))
	}
	vm := newVM(t, prog)
	sip := ether(etherIPv4, ipv4("192.168.1.10", "203.0.113.7", protoUDP, ipv4Opts{}, ports(protoUDP, 40000, 5079)))
	excluded := ether(etherIPv4, ipv4("10.1.2.3", "203.0.113.7", protoUDP, ipv4Opts{}, ports(protoUDP, 40000, 5079)))
	for _, c := range []struct {
		name  string
		frame []byte
		want  bool
	}{{"first port", udpDNS, true}, {"last port", sip, true}, {"excluded host", excluded, false}, {"other port", tcpTLS, false}} {
		if got := run(t, vm, c.frame) != 0; got != c.want {
			t.Errorf("%s: accepted = %v, want %v", c.name, got, c.want)
		}
	}

	_, err = Compile(longFilter(400), capture.LinkEthernet, 0)
	if err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("a filter of 400 ports: error %v, want one about the 4096-instruction limit", err)
	}
}

func TestDropRedundantLoads(t *testing.T) {
	// ldh [12]; jeq #0x800 jt 0 jf 3; ldh [12] (redundant on every path);
	// jeq #0x800 jt 0 jf 1; ret #1; ret #0
	prog := []xbpf.RawInstruction{
		{Op: 0x28, K: 12},
		{Op: 0x15, Jt: 0, Jf: 3, K: 0x800},
		{Op: 0x28, K: 12},
		{Op: 0x15, Jt: 0, Jf: 1, K: 0x800},
		{Op: 0x06, K: 1},
		{Op: 0x06, K: 0},
	}
	got := dropRedundantLoads(prog)
	if len(got) != 5 || got[1].Jf != 2 {
		t.Fatalf("got %v, want the second load dropped and the jump shortened", got)
	}
	// A load reached from a path where A holds something else stays.
	prog[1] = xbpf.RawInstruction{Op: 0x15, Jt: 0, Jf: 0, K: 0x800}
	prog = append(prog[:1], append([]xbpf.RawInstruction{{Op: 0x15, Jt: 1, Jf: 0, K: 1}, {Op: 0x28, K: 14}}, prog[1:]...)...)
	if got := dropRedundantLoads(prog); len(got) != len(prog) {
		t.Errorf("dropped a load that is needed on one path: %v", got)
	}
}

func TestDefaultFilterFor(t *testing.T) {
	for link := range linkNames {
		f := DefaultFilterFor(link)
		prog, err := Compile(f, link, 0)
		if err != nil {
			t.Fatalf("%s: %v", linkNames[link], err)
		}
		vm := newVM(t, prog)
		for _, c := range []struct {
			name  string
			frame []byte
			want  bool
		}{{"udp", udpDNS, true}, {"icmp6", icmp6Echo, true}, {"tagged udp", vlan100DNS, link == capture.LinkEthernet}, {"arp", arpRequest, false}} {
			data, ok := onLink(c.frame, link)
			if !ok || link == capture.LinkIPv4 && data[0]>>4 != 4 || link == capture.LinkIPv6 && data[0]>>4 != 6 {
				continue // a link type that cannot carry the packet
			}
			if got := run(t, vm, data) != 0; got != c.want {
				t.Errorf("%s: %s accepted = %v, want %v", linkNames[link], c.name, got, c.want)
			}
		}
	}
}
