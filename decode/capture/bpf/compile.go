// Package bpf compiles the common subset of tcpdump's filter language
// (pcap-filter(7)) to classic BPF in pure Go, so that a live capture can
// attach the filter in the kernel without libpcap or cgo.
//
// Supported primitives and qualifiers:
//
//	host ADDR, src host ADDR, dst host ADDR     IPv4 or IPv6 literal; "src or dst", "src and dst" too
//	net NET/LEN, net NET mask MASK, net 10.1    with src/dst variants; ip / ip6 qualifiers
//	port N, portrange A-B                       with src/dst and udp/tcp qualifiers
//	ip, ip6, udp, tcp, icmp, icmp6              protocols alone
//	vlan, vlan ID                               802.1Q / 802.1ad tag (Ethernet only)
//	and &&, or ||, not !, ( )                   and/or have equal precedence, left to right
//
// The semantics are tcpdump's, including its less obvious rules:
//   - a bare value after and/or repeats the qualifiers of the value before
//     it: "port 53 or 5060", "host 10.0.0.1 and not 10.0.0.2";
//   - "vlan" moves the offsets of every primitive after it in the filter by
//     the 4 bytes of the tag (so "vlan and udp" looks inside the tag);
//   - a port matches only the first fragment of an IPv4 datagram (later
//     fragments carry no ports), and "port" without udp/tcp also matches
//     SCTP; for IPv6, ports are read right after the fixed header (no
//     extension header walking), while "udp", "tcp" and "icmp6" alone look
//     through one fragment header;
//   - "host" and "net" for IPv4 without "ip" also match the sender and
//     target addresses of ARP and RARP.
//
// Everything outside the subset, including host and service names (there are
// no DNS lookups), is an error naming the offending token and its offset:
// a filter is never replaced by "accept all". So is an empty filter (attach
// none to keep everything), and so are two forms tcpdump accepts but that
// are almost always typos: a number as a host ("host 10.0.0.1 and 53" is
// host 0.0.0.53 to tcpdump) and "vlan (100)".
//
// Only redundant loads are optimized away, so programs are up to about twice
// as long as libpcap's (a few dozen instructions for typical filters; about
// 150 ports in one filter reach the kernel's limit of 4096). Their verdicts
// are tcpdump's: the tests run both on a corpus of packets for every link
// type.
package bpf

import (
	"fmt"

	xbpf "golang.org/x/net/bpf"

	"github.com/callscope/callscope/decode/capture"
)

// DefaultFilter keeps what callscope analyzes when the user gives no filter:
// UDP and TCP on any port (STUN, TURN, SIP, RTP and TLS are recognized by
// content, not by port) and ICMP/ICMPv6 (port unreachable and friends).
// "udp" tests the IPv4 protocol field, which every fragment carries, so later
// IPv4 fragments (which have no ports) are kept for reassembly.
const DefaultFilter = "udp or tcp or icmp or icmp6"

// DefaultFilterFor is DefaultFilter for a link type. On Ethernet it also
// keeps the same traffic inside one 802.1Q tag. On Linux a packet socket
// usually sees a tagged frame with its tag already moved into metadata (by
// the NIC's VLAN offload or by the kernel's receive path), so it looks
// untagged and the first half matches; where the tag stays in the frame,
// as on some mirror (SPAN) port set-ups, the second half keeps it.
func DefaultFilterFor(link capture.LinkType) string {
	if link == capture.LinkEthernet {
		return DefaultFilter + " or (vlan and (" + DefaultFilter + "))"
	}
	return DefaultFilter
}

// MaxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const MaxInstructions = 4096

// DefaultSnaplen is libpcap's default snapshot length, used when Compile is
// given a snaplen of 0 or less.
const DefaultSnaplen = 262144

// Compile compiles a tcpdump-syntax filter for packets of the given link type
// into a classic BPF program that returns snaplen for a packet the filter
// accepts and 0 for one it rejects. The program is what setsockopt
// SO_ATTACH_FILTER expects.
//
// For a live capture, the link type is what the socket delivers: a SOCK_RAW
// packet socket on an Ethernet interface sees Ethernet frames, a SOCK_DGRAM
// one sees the network layer, for which LinkRaw is right. "vlan" tests the
// tag in the frame: when the NIC offloads VLAN receive the kernel has already
// removed it (libpcap then also tests the kernel's VLAN metadata, which this
// compiler does not), so the frame looks untagged to the filter.
func Compile(filter string, link capture.LinkType, snaplen int) ([]xbpf.RawInstruction, error) {
	if snaplen <= 0 {
		snaplen = DefaultSnaplen
	}
	l, err := newLayout(link)
	if err != nil {
		return nil, err
	}
	toks, err := lex(filter)
	if err != nil {
		return nil, err
	}
	p := parser{filter: filter, toks: toks, layout: l}
	x, err := p.parse()
	if err != nil {
		return nil, err
	}
	prog, err := emit(x, uint32(snaplen))
	if err != nil {
		return nil, fmt.Errorf("bpf: filter %q: %w", filter, err)
	}
	return prog, nil
}

// emitter builds a program back to front: every jump is forward, so by the
// time a test is emitted both of its targets exist and their distances are
// known. rev[i] is the instruction i places before the end.
type emitter struct {
	rev []xbpf.RawInstruction
	err error
}

func emit(x *pred, snaplen uint32) ([]xbpf.RawInstruction, error) {
	if isConst(x, true) {
		return []xbpf.RawInstruction{{Op: retOp, K: snaplen}}, nil
	}
	var e emitter
	reject := e.add(xbpf.RetConstant{Val: 0})
	accept := e.add(xbpf.RetConstant{Val: snaplen})
	entry := e.gen(x, accept, reject)
	if e.err != nil {
		return nil, e.err
	}
	// Instructions after the entry point are never reached; dropping them
	// leaves a filter that is constantly false as a single return.
	prog := make([]xbpf.RawInstruction, 0, entry+1)
	for i := entry; i >= 0; i-- {
		prog = append(prog, e.rev[i])
	}
	prog = dropRedundantLoads(prog)
	if len(prog) > MaxInstructions {
		return nil, fmt.Errorf("compiles to %d BPF instructions, more than the kernel's limit of %d", len(prog), MaxInstructions)
	}
	return prog, nil
}

// add appends an instruction before everything emitted so far and returns
// its position.
func (e *emitter) add(ins xbpf.Instruction) int {
	raw, err := ins.Assemble()
	if err != nil && e.err == nil {
		e.err = err
	}
	e.rev = append(e.rev, raw)
	return len(e.rev) - 1
}

// gen emits code that continues at position t when x holds and at f when it
// does not, and returns the position of its first instruction.
func (e *emitter) gen(x *pred, t, f int) int {
	if e.err != nil {
		return t
	}
	if len(e.rev) > 4*MaxInstructions {
		// Far past the limit, even after dropRedundantLoads: stop here
		// rather than spend memory on a program that will be refused.
		e.err = fmt.Errorf("compiles to more than the kernel's limit of %d BPF instructions", MaxInstructions)
		return t
	}
	switch x.op {
	case opTrue:
		return t
	case opFalse:
		return f
	case opNot:
		return e.gen(x.l, f, t)
	case opAnd:
		return e.gen(x.l, e.gen(x.r, t, f), f)
	case opOr:
		return e.gen(x.l, t, e.gen(x.r, t, f))
	}
	return e.test(x.test, t, f)
}

// maxSkip is the reach of a conditional jump's 8-bit offsets.
const maxSkip = 255

func (e *emitter) test(ts test, t, f int) int {
	if t == f {
		// Both outcomes continue at the same place, so the test decides
		// nothing; a load it skips could only have rejected a short packet,
		// which tcpdump's optimizer does not preserve either.
		return t
	}
	t = e.reach(t)
	f = e.reach(f)
	here := len(e.rev)
	skipTrue, skipFalse := uint8(here-t-1), uint8(here-f-1)
	switch ts.cond {
	case condEq:
		e.add(xbpf.JumpIf{Cond: xbpf.JumpEqual, Val: ts.k, SkipTrue: skipTrue, SkipFalse: skipFalse})
	case condGt:
		e.add(xbpf.JumpIf{Cond: xbpf.JumpGreaterThan, Val: ts.k, SkipTrue: skipTrue, SkipFalse: skipFalse})
	case condGe:
		e.add(xbpf.JumpIf{Cond: xbpf.JumpGreaterOrEqual, Val: ts.k, SkipTrue: skipTrue, SkipFalse: skipFalse})
	case condSet:
		e.add(xbpf.JumpIf{Cond: xbpf.JumpBitsSet, Val: ts.k, SkipTrue: skipTrue, SkipFalse: skipFalse})
	}
	if ts.masked {
		e.add(xbpf.ALUOpConstant{Op: xbpf.ALUOpAnd, Val: ts.mask})
	}
	if ts.indirect {
		e.add(xbpf.LoadIndirect{Off: ts.off, Size: ts.size})
		return e.add(xbpf.LoadMemShift{Off: ts.ihl})
	}
	return e.add(xbpf.LoadAbsolute{Off: ts.off, Size: ts.size})
}

// reach returns a position a conditional jump about to be emitted can reach:
// target itself when it is within 255 instructions, otherwise a new
// unconditional jump (or copy of a return) to it.
func (e *emitter) reach(target int) int {
	if len(e.rev)-target-1 <= maxSkip {
		return target
	}
	if r := e.rev[target]; r.Op == retOp {
		return e.add(xbpf.RetConstant{Val: r.K})
	}
	return e.add(xbpf.Jump{Skip: uint32(len(e.rev) - target - 1)})
}

// retOp is BPF_RET|BPF_K.
const retOp = 0x06
