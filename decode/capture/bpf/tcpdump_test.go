package bpf

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	xbpf "golang.org/x/net/bpf"

	"github.com/callscope/callscope/decode/capture"
)

// comparedFilters are checked against tcpdump on every link type: each
// construct alone and in combination. Where tcpdump refuses a filter for a
// link type (vlan on Linux cooked capture), Compile must refuse it too.
var comparedFilters = []string{
	// protocols
	"ip", "ip6", "udp", "tcp", "icmp", "icmp6", "not ip", "ip or ip6",
	DefaultFilter, DefaultFilterFor(capture.LinkEthernet),
	// hosts
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "host 1.2.3.4",
	"ip host 10.0.0.1", "ip src host 192.168.1.10", "src 10.0.0.1", "dst 8.8.8.8",
	"src or dst host 1.2.3.4", "src and dst host ::1", "dst or src 10.0.0.2",
	"host 2001:db8::1", "src host fe80::1", "dst host ff02::1", "ip6 host ::1", "host ::ffff:1.2.3.4",
	"host 10.1", "host not 10.0.0.1",
	// networks
	"net 10.0.0.0/8", "src net 192.168.0.0/16", "dst net 172.16.0.0/12", "net 10.0.0.0 mask 255.0.0.0",
	"net 10.0.0.0 mask 255.0.255.0", "net 10", "net 172.16", "net 0.0.0.0/0", "ip net 192.0.2.0/24",
	"net 2001:db8::/32", "src net fe80::/10", "ip6 dst net ff00::/8", "net ::/0", "net 2001:db8:c::/48",
	"net 10.0.0.1/32",
	// ports
	"port 53", "src port 53", "dst port 53", "udp port 53", "tcp port 443", "udp dst port 3478",
	"tcp src port 443", "port 5060", "src or dst port 5060", "src and dst port 5060", "port 0", "port 0x35",
	"port 053", "tcp src portrange 443-443", "net 10.0.0.0/8 and not 10.1.2.3", "udp port 65535",
	"portrange 10000-20000", "udp portrange 40000-65535", "src portrange 0-100",
	"portrange 20000-10000", "portrange 80",
	// id lists inherit the qualifiers before them
	"port 53 or 5060", "udp port 53 or 3478", "src port 53 or 40000", "host 10.0.0.1 or 192.168.1.10",
	"port 53 or not 5060", "port (53 or 5060)", "port 53 and (33000 or 40000)",
	"port 53 or (host 1.2.3.4) or 80", "portrange 1-100 or 5000-6000", "src 10.0.0.1 or 1.2.3.4",
	"net 10.0.0.0/8 or 192.168.0.0/16", "tcp dst port 443 or 80 or 20001",
	// combinations
	"host 10.0.0.1 and port 53", "udp and not port 53", "not (udp or tcp)", "!udp && !icmp",
	"ip and (port 53 || port 5060)", "(host 10.0.0.1 or host 2001:db8::1) and udp",
	"tcp or icmp and host 10.0.0.1", "not not port 53", "not port 53 and not port 5060",
	"udp port 3478 and host 192.0.2.1", "ip6 and udp and dst port 53", "icmp or icmp6 or port 5060",
	"(udp or tcp) and (src port 53 or dst portrange 5000-6000)",
	// vlan
	"vlan", "vlan 100", "vlan 0", "vlan and udp", "vlan 100 and port 53", "vlan and vlan", "vlan and vlan 100",
	"vlan 300 and vlan 100 and udp", "udp or vlan and udp", "vlan and ip6", "not vlan", "vlan and host 10.0.0.1",
	"vlan or ip6",
	// long enough that jumps need more than the 255 instructions a
	// conditional jump reaches
	longFilter(80),
}

// longFilter is "(port 53 or port 5000 or port 5001 ...)" with n ports, plus a test
// after them that every jump to the accept must reach past.
func longFilter(n int) string {
	var b strings.Builder
	b.WriteString("(port 53")
	for i := range n {
		fmt.Fprintf(&b, " or port %d", 5000+i)
	}
	b.WriteString(") and not host 10.1.2.3")
	return b.String()
}

// rejectedFilters must fail to compile, as they do in tcpdump.
var rejectedFilters = []string{
	"1.2.3.4", "53", "udp or 53", "(53)", "port 53 and (udp or 54)", "ip port 53", "ip6 port 53",
	"icmp host 1.2.3.4", "udp host 1.2.3.4", "ip6 host 1.2.3.4", "ip host ::1", "net 10.0.0.1/8",
	"host 10.0.0.0/8", "src 10.0.0.0/8", "HOST 1.2.3.4", "vlan 100 or 200", "vlan 5000", "port 70000",
	"net ::1 mask ffff::", "host fe80::1%eth0", "ip6 net fe80::1/10", "net 10/8", "portrange 1 - 2",
	"host 1.2.3.4/32", "net 1.2.3.4/33", "net 10.0.0.1 mask 255.0.0.0", "port", "host", "(", "udp)",
	"port 53 or", "not", "and", "udp udp", "port 53 53",
	"src port 53 and dst", "net 2001:db8::/129", "host 256.1.1.1", "host 1.2.3.4.5", "vlan 100 200",
}

// notRejectedByTcpdump are refused here although tcpdump accepts them: they
// are outside the subset, need name lookups, or are tcpdump's rarely meant
// readings of a typo.
var notRejectedByTcpdump = []string{
	"ip[9] = 17", "len > 100", "tcp[tcpflags] & tcp-syn != 0", "ether host 00:11:22:33:44:55",
	"arp", "sctp", "ip proto 17", "greater 100", "vlan (100)", "ip6 protochain 6", "udp port 53 and inbound",
	"host localhost", "port domain", "udp port sip", "net loopback", "portrange http-https",
	"host 1.2.3.4 and 53", // tcpdump: host 0.0.0.53
	"src 53",
}

var hasTcpdump = sync.OnceValue(func() bool {
	_, err := exec.LookPath("tcpdump")
	return err == nil
})

// tcpdumpProgram compiles filter with tcpdump -dd. A filter tcpdump's
// optimizer proves false ("expression rejects all packets") is the program
// that rejects everything; any other complaint is returned as an error.
func tcpdumpProgram(filter string, link capture.LinkType, snaplen int) ([]xbpf.RawInstruction, error) {
	cmd := exec.Command("tcpdump", "-y", linkNames[link], "-s", strconv.Itoa(snaplen), "-dd", filter)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "expression rejects all packets") {
			return []xbpf.RawInstruction{{Op: retOp, K: 0}}, nil
		}
		return nil, fmt.Errorf("tcpdump: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parseDD(stdout.String())
}

var ddLine = regexp.MustCompile(`^\{\s*(0x[0-9a-f]+),\s*(\d+),\s*(\d+),\s*(0x[0-9a-f]+)\s*\},?$`)

// parseDD reads tcpdump -dd output: one C initializer per instruction.
func parseDD(out string) ([]xbpf.RawInstruction, error) {
	var prog []xbpf.RawInstruction
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		m := ddLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			return nil, fmt.Errorf("unexpected tcpdump -dd line %q", line)
		}
		op, _ := strconv.ParseUint(m[1], 0, 16)
		jt, _ := strconv.ParseUint(m[2], 10, 8)
		jf, _ := strconv.ParseUint(m[3], 10, 8)
		k, _ := strconv.ParseUint(m[4], 0, 32)
		prog = append(prog, xbpf.RawInstruction{Op: uint16(op), Jt: uint8(jt), Jf: uint8(jf), K: uint32(k)})
	}
	return prog, nil
}

func newVM(t testing.TB, prog []xbpf.RawInstruction) *xbpf.VM {
	t.Helper()
	ins, ok := xbpf.Disassemble(prog)
	if !ok {
		t.Fatalf("program does not disassemble: %v", prog)
	}
	vm, err := xbpf.NewVM(ins)
	if err != nil {
		t.Fatalf("program refused by the VM: %v", err)
	}
	return vm
}

func run(t testing.TB, vm *xbpf.VM, data []byte) int {
	t.Helper()
	n, err := vm.Run(data)
	if err != nil {
		t.Fatalf("VM: %v", err)
	}
	return n
}

func TestMatchesTcpdump(t *testing.T) {
	if !hasTcpdump() {
		t.Skip("tcpdump is not installed (Debian: apt-get install -y tcpdump); skipping the comparison with tcpdump -dd")
	}
	const snaplen = 65535
	for _, link := range []capture.LinkType{
		capture.LinkEthernet, capture.LinkLinuxSLL, capture.LinkSLL2, capture.LinkRaw,
		capture.LinkNull, capture.LinkLoop, capture.LinkIPv4, capture.LinkIPv6,
	} {
		t.Run(linkNames[link], func(t *testing.T) {
			t.Parallel()
			pkts := corpus(t, link)
			for _, filter := range comparedFilters {
				want, tdErr := tcpdumpProgram(filter, link, snaplen)
				got, err := Compile(filter, link, snaplen)
				if (err != nil) != (tdErr != nil) {
					t.Errorf("%q: Compile error %v, tcpdump error %v", filter, err, tdErr)
					continue
				}
				if err != nil {
					continue
				}
				ours, theirs := newVM(t, got), newVM(t, want)
				matched := 0
				for _, p := range pkts {
					g, w := run(t, ours, p.frame), run(t, theirs, p.frame)
					if g != w {
						t.Errorf("%q on %s: we return %d, tcpdump %d", filter, p.name, g, w)
					}
					if w != 0 {
						matched++
					}
				}
				t.Logf("%-60q %3d/%d packets, %d instructions (tcpdump %d)", filter, matched, len(pkts), len(got), len(want))
			}
		})
	}
}

func TestRejectsWhatTcpdumpRejects(t *testing.T) {
	for _, filter := range rejectedFilters {
		if _, err := Compile(filter, capture.LinkEthernet, 0); err == nil {
			t.Errorf("%q compiled; want an error", filter)
		} else {
			t.Logf("%-32q %v", filter, err)
		}
		if hasTcpdump() {
			if _, err := tcpdumpProgram(filter, capture.LinkEthernet, 65535); err == nil {
				t.Errorf("%q: tcpdump accepts it; move it to notRejectedByTcpdump", filter)
			}
		}
	}
	for _, filter := range notRejectedByTcpdump {
		if _, err := Compile(filter, capture.LinkEthernet, 0); err == nil {
			t.Errorf("%q compiled; want an error", filter)
		} else {
			t.Logf("%-32q %v", filter, err)
		}
		if hasTcpdump() {
			if _, err := tcpdumpProgram(filter, capture.LinkEthernet, 65535); err != nil {
				t.Errorf("%q: tcpdump refuses it too (%v); move it to rejectedFilters", filter, err)
			}
		}
	}
}
