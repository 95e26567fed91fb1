package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/decode/capture"
)

// packet is one test input: an Ethernet frame and a name saying what it is.
type packet struct {
	name  string
	frame []byte
}

var be = binary.BigEndian

func ether(etherType uint16, payload []byte) []byte {
	f := []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0x66, 0x77, 0x88, 0x99, 0xaa, 0, 0}
	be.PutUint16(f[12:], etherType)
	return append(f, payload...)
}

// tagged inserts an 802.1Q-style tag (tpid, tci) after the MAC addresses.
func tagged(frame []byte, tpid, tci uint16) []byte {
	out := append([]byte{}, frame[:12]...)
	out = be.AppendUint16(out, tpid)
	out = be.AppendUint16(out, tci)
	return append(out, frame[12:]...)
}

// ipv4Opts describes the less common IPv4 header fields a test varies.
type ipv4Opts struct {
	options    int    // bytes of options (multiple of 4)
	fragOffset uint16 // in 8-byte units
	moreFrags  bool
}

func ipv4(src, dst string, proto byte, o ipv4Opts, payload []byte) []byte {
	hl := 20 + o.options
	h := make([]byte, hl)
	h[0] = 0x40 | byte(hl/4)
	be.PutUint16(h[2:], uint16(hl+len(payload)))
	frag := o.fragOffset & 0x1fff
	if o.moreFrags {
		frag |= 0x2000
	}
	be.PutUint16(h[6:], frag)
	h[8] = 64
	h[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	for i := 20; i < hl; i++ {
		h[i] = 1 // NOP options
	}
	return append(h, payload...)
}

func ipv6(src, dst string, nextHeader byte, payload []byte) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	be.PutUint16(h[4:], uint16(len(payload)))
	h[6] = nextHeader
	h[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return append(h, payload...)
}

// fragment6 is an IPv6 fragment header (RFC 8200 section 4.5) before payload.
func fragment6(nextHeader byte, offset uint16, more bool, payload []byte) []byte {
	h := make([]byte, 8)
	h[0] = nextHeader
	v := offset << 3
	if more {
		v |= 1
	}
	be.PutUint16(h[2:], v)
	return append(h, payload...)
}

// ports is a UDP, TCP or SCTP header start: the ports come first in all.
func ports(proto byte, sport, dport uint16) []byte {
	n := map[byte]int{protoUDP: 8, protoTCP: 20, protoSCTP: 12}[proto]
	h := make([]byte, n+4)
	be.PutUint16(h, sport)
	be.PutUint16(h[2:], dport)
	if proto == protoTCP {
		h[12] = 5 << 4
	}
	return h
}

func icmpEcho() []byte { return []byte{8, 0, 0, 0, 0, 1, 0, 1} }

func arpPacket(op uint16, spa, tpa string) []byte {
	h := make([]byte, 28)
	be.PutUint16(h, 1)
	be.PutUint16(h[2:], etherIPv4)
	h[4], h[5] = 6, 4
	be.PutUint16(h[6:], op)
	s, t := netip.MustParseAddr(spa).As4(), netip.MustParseAddr(tpa).As4()
	copy(h[14:], s[:])
	copy(h[24:], t[:])
	return h
}

// synthesized returns the packets the filters are tried on: every protocol,
// address and port the filter table mentions, hits and near misses, plus
// fragments, IPv4 options, VLAN tags and truncated frames.
func synthesized() []packet {
	var pkts []packet
	add := func(name string, frame []byte) { pkts = append(pkts, packet{name, frame}) }

	v4pairs := [][2]string{
		{"10.0.0.1", "10.0.0.2"}, {"192.168.1.10", "8.8.8.8"}, {"1.2.3.4", "172.16.5.4"},
		{"203.0.113.7", "10.1.2.3"}, {"172.31.255.255", "1.2.3.5"}, {"192.0.2.1", "192.0.2.10"},
	}
	v6pairs := [][2]string{
		{"2001:db8::1", "2001:db8::2"}, {"fe80::1", "ff02::1"}, {"::1", "::1"},
		{"2001:db8:c::10", "2001:db8:c::1"}, {"::ffff:1.2.3.4", "2001:db9::5"},
	}
	portPairs := [][2]uint16{{53, 33000}, {40000, 53}, {5060, 5060}, {3478, 50000}, {443, 10000}, {20000, 20001}, {0, 80}, {65535, 43}}
	transports := []byte{protoUDP, protoTCP, protoSCTP}

	for _, a := range v4pairs {
		for _, proto := range transports {
			for _, pp := range portPairs {
				add(fmt.Sprintf("ipv4 %s %s->%s %d->%d", protoName(proto), a[0], a[1], pp[0], pp[1]),
					ether(etherIPv4, ipv4(a[0], a[1], proto, ipv4Opts{}, ports(proto, pp[0], pp[1]))))
			}
		}
		add("ipv4 icmp "+a[0], ether(etherIPv4, ipv4(a[0], a[1], protoICMP, ipv4Opts{}, icmpEcho())))
		add("ipv4 igmp "+a[0], ether(etherIPv4, ipv4(a[0], a[1], 2, ipv4Opts{}, make([]byte, 8))))
		add("arp "+a[0], ether(etherARP, arpPacket(1, a[0], a[1])))
		add("rarp "+a[0], ether(etherRARP, arpPacket(3, a[1], a[0])))
	}
	for _, a := range v6pairs {
		for _, proto := range transports {
			for _, pp := range portPairs {
				add(fmt.Sprintf("ipv6 %s %s->%s %d->%d", protoName(proto), a[0], a[1], pp[0], pp[1]),
					ether(etherIPv6, ipv6(a[0], a[1], proto, ports(proto, pp[0], pp[1]))))
			}
		}
		add("ipv6 icmp6 "+a[0], ether(etherIPv6, ipv6(a[0], a[1], protoICMPv6, []byte{128, 0, 0, 0, 0, 1, 0, 1})))
		add("ipv6 icmp(v4) in ipv6 "+a[0], ether(etherIPv6, ipv6(a[0], a[1], protoICMP, icmpEcho())))
	}

	// IPv4 options move the transport header; fragments after the first
	// have no transport header at all, and the bytes where ports would be
	// are payload (here made to look like port 53).
	for _, proto := range []byte{protoUDP, protoTCP} {
		n := protoName(proto)
		add("ipv4 "+n+" options 53", ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", proto, ipv4Opts{options: 8}, ports(proto, 1234, 53))))
		add("ipv4 "+n+" first fragment 53", ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", proto, ipv4Opts{moreFrags: true}, ports(proto, 53, 1234))))
		add("ipv4 "+n+" later fragment", ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", proto, ipv4Opts{fragOffset: 185}, ports(proto, 53, 53))))
		add("ipv4 "+n+" middle fragment", ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", proto, ipv4Opts{fragOffset: 1, moreFrags: true}, ports(proto, 53, 53))))
		add("ipv6 "+n+" first fragment 53", ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", protoFragment, fragment6(proto, 0, true, ports(proto, 53, 1234)))))
		add("ipv6 "+n+" later fragment", ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", protoFragment, fragment6(proto, 100, false, ports(proto, 53, 53)))))
		add("ipv6 "+n+" after hop-by-hop", ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", 0, append([]byte{proto, 0, 1, 4, 0, 0, 0, 0}, ports(proto, 53, 53)...))))
	}
	add("ipv6 icmp6 fragment", ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", protoFragment, fragment6(protoICMPv6, 0, true, []byte{1, 4, 0, 0, 0, 0, 0, 0}))))

	// VLAN tags, single and stacked, with each TPID tcpdump knows.
	inner := []packet{
		{"udp 53", ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoUDP, ipv4Opts{}, ports(protoUDP, 33000, 53)))},
		{"tcp 443", ether(etherIPv4, ipv4("192.168.1.10", "1.2.3.4", protoTCP, ipv4Opts{}, ports(protoTCP, 443, 40000)))},
		{"ipv6 udp 5060", ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", protoUDP, ports(protoUDP, 5060, 5060)))},
		{"icmp", ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoICMP, ipv4Opts{}, icmpEcho()))},
		{"arp", ether(etherARP, arpPacket(1, "10.0.0.1", "10.0.0.2"))},
	}
	for _, in := range inner {
		for _, tag := range []struct {
			tpid uint16
			vid  uint16
		}{{0x8100, 100}, {0x8100, 200}, {0x88a8, 100}, {0x9100, 7}, {0x8100, 0}} {
			f := tagged(in.frame, tag.tpid, 0xe000|tag.vid) // priority bits set: the VID test must mask them
			add(fmt.Sprintf("vlan %#x/%d %s", tag.tpid, tag.vid, in.name), f)
			add(fmt.Sprintf("qinq 0x88a8/300 vlan %#x/%d %s", tag.tpid, tag.vid, in.name), tagged(f, 0x88a8, 300))
		}
	}

	add("lldp", ether(0x88cc, make([]byte, 40)))
	add("ipv4 version mismatch", ether(etherIPv6, ipv4("10.0.0.1", "10.0.0.2", protoUDP, ipv4Opts{}, ports(protoUDP, 53, 53))))

	// Truncations: a filter that would read past the end rejects the packet.
	full := ether(etherIPv4, ipv4("10.0.0.1", "10.0.0.2", protoUDP, ipv4Opts{}, ports(protoUDP, 53, 5060)))
	full6 := ether(etherIPv6, ipv6("2001:db8::1", "2001:db8::2", protoUDP, ports(protoUDP, 53, 5060)))
	for _, n := range []int{0, 1, 13, 14, 20, 24, 30, 33, 34, 36, 38, 40} {
		add(fmt.Sprintf("ipv4 udp cut at %d", n), full[:n])
	}
	for _, n := range []int{21, 30, 54, 56, 58} {
		add(fmt.Sprintf("ipv6 udp cut at %d", n), full6[:n])
	}
	return pkts
}

func protoName(p byte) string {
	return map[byte]string{protoUDP: "udp", protoTCP: "tcp", protoSCTP: "sctp"}[p]
}

// onLink rewrites an Ethernet frame for another link type. ok is false when
// the link cannot carry it (a VLAN tag or a non-IP payload on raw IP).
func onLink(frame []byte, link capture.LinkType) (data []byte, ok bool) {
	if link == capture.LinkEthernet {
		return frame, true
	}
	if len(frame) < 14 {
		return nil, false
	}
	etherType, payload := be.Uint16(frame[12:]), frame[14:]
	switch etherType {
	case 0x8100, 0x88a8, 0x9100:
		return nil, false
	}
	switch link {
	case capture.LinkLinuxSLL:
		h := make([]byte, 16)
		be.PutUint16(h[2:], 1) // ARPHRD_ETHER
		be.PutUint16(h[4:], 6)
		copy(h[6:], frame[6:12])
		be.PutUint16(h[14:], etherType)
		return append(h, payload...), true
	case capture.LinkSLL2:
		h := make([]byte, 20)
		be.PutUint16(h, etherType)
		be.PutUint32(h[4:], 2) // ifindex
		be.PutUint16(h[8:], 1)
		h[11] = 6
		copy(h[12:], frame[6:12])
		return append(h, payload...), true
	}
	var af uint32
	switch etherType {
	case etherIPv4:
		af = afInet
	case etherIPv6:
		af = afInet6
	default:
		return nil, false
	}
	switch link {
	case capture.LinkNull:
		return append(binary.NativeEndian.AppendUint32(nil, af), payload...), true
	case capture.LinkLoop:
		return append(be.AppendUint32(nil, af), payload...), true
	case capture.LinkRaw, capture.LinkIPv4, capture.LinkIPv6:
		return payload, true
	}
	return nil, false
}

// linkNames are tcpdump's -y names for the link types.
var linkNames = map[capture.LinkType]string{
	capture.LinkEthernet: "EN10MB",
	capture.LinkLinuxSLL: "LINUX_SLL",
	capture.LinkSLL2:     "LINUX_SLL2",
	capture.LinkRaw:      "RAW",
	capture.LinkNull:     "NULL",
	capture.LinkLoop:     "LOOP",
	capture.LinkIPv4:     "IPV4",
	capture.LinkIPv6:     "IPV6",
}

// corpus returns the packets for a link type: the synthesized ones, the
// project's sample captures (Ethernet, rewritten for other links), and a
// few oddities the rewriting cannot produce (a BSD AF_INET6 on null).
func corpus(t testing.TB, link capture.LinkType) []packet {
	var out []packet
	for _, p := range append(synthesized(), sampleCaptures(t)...) {
		if data, ok := onLink(p.frame, link); ok {
			out = append(out, packet{p.name, data})
		}
	}
	udp6 := ipv6("2001:db8::1", "2001:db8::2", protoUDP, ports(protoUDP, 53, 53))
	switch link {
	case capture.LinkNull:
		out = append(out,
			packet{"null AF_INET6 FreeBSD", append(binary.NativeEndian.AppendUint32(nil, 28), udp6...)},
			packet{"null AF_INET foreign order", append(swapped(afInet), ipv4("10.0.0.1", "10.0.0.2", protoUDP, ipv4Opts{}, ports(protoUDP, 53, 53))...)})
	case capture.LinkLoop:
		out = append(out, packet{"loop AF_INET6 Darwin", append(be.AppendUint32(nil, 30), udp6...)})
	case capture.LinkRaw:
		out = append(out, packet{"raw version 5", append([]byte{0x50}, make([]byte, 40)...)})
	}
	return out
}

func swapped(v uint32) []byte {
	b := binary.NativeEndian.AppendUint32(nil, v)
	return []byte{b[3], b[2], b[1], b[0]}
}

// sampleCaptures reads the frames of the project's sample captures.
func sampleCaptures(t testing.TB) []packet {
	paths, err := filepath.Glob("../../../pcaps/*.pcap")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no sample captures in ../../../pcaps")
	}
	var out []packet
	for _, path := range paths {
		r, err := capture.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.LinkType != capture.LinkEthernet {
				continue
			}
			out = append(out, packet{fmt.Sprintf("%s #%d", filepath.Base(path), rec.Frame), append([]byte{}, rec.Data...)})
		}
		r.Close()
	}
	return out
}
