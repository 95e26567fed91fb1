package bpf

import (
	"encoding/binary"
	"fmt"

	"github.com/callscope/callscope/decode/capture"
)

// EtherTypes and IP protocol numbers the primitives test for.
const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherARP  = 0x0806
	etherRARP = 0x8035

	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoFragment = 44 // IPv6 fragment header (RFC 8200 section 4.5)
	protoICMPv6   = 58
	protoSCTP     = 132

	// Address families in a loopback header. libpcap uses the compiling
	// host's AF_INET6, which is 10 on Linux, the only place this runs live.
	afInet  = 2
	afInet6 = 10
)

// layout knows where a link type puts its headers. vlan is the number of
// bytes of 802.1Q tags the filter has stepped over so far: as in tcpdump,
// "vlan" moves every later primitive of the expression 4 bytes further.
type layout struct {
	link capture.LinkType
	vlan uint32
}

func newLayout(link capture.LinkType) (layout, error) {
	switch link {
	case capture.LinkEthernet, capture.LinkLinuxSLL, capture.LinkSLL2, capture.LinkRaw,
		capture.LinkNull, capture.LinkLoop, capture.LinkIPv4, capture.LinkIPv6:
		return layout{link: link}, nil
	}
	return layout{}, fmt.Errorf("bpf: link type %d is not supported (Ethernet, Linux cooked v1/v2, raw IP, IPv4, IPv6, null and loop are)", link)
}

// nl is the offset of the network-layer header.
func (l layout) nl() uint32 {
	switch l.link {
	case capture.LinkEthernet:
		return 14 + l.vlan
	case capture.LinkLinuxSLL:
		return 16
	case capture.LinkSLL2:
		return 20
	case capture.LinkNull, capture.LinkLoop:
		return 4
	}
	return 0
}

// linkProto tests that the link layer carries the given EtherType.
func (l layout) linkProto(etherType uint16) *pred {
	switch l.link {
	case capture.LinkEthernet:
		return cmp(12+l.vlan, 2, uint32(etherType))
	case capture.LinkLinuxSLL:
		return cmp(14, 2, uint32(etherType))
	case capture.LinkSLL2:
		return cmp(0, 2, uint32(etherType))
	case capture.LinkRaw:
		// No link header: the IP version nibble says which it is.
		switch etherType {
		case etherIPv4:
			return cmpMasked(0, 1, 0xf0, 0x40)
		case etherIPv6:
			return cmpMasked(0, 1, 0xf0, 0x60)
		}
	case capture.LinkIPv4:
		if etherType == etherIPv4 {
			return predTrue
		}
	case capture.LinkIPv6:
		if etherType == etherIPv6 {
			return predTrue
		}
	case capture.LinkNull, capture.LinkLoop:
		af := uint32(afInet)
		switch etherType {
		case etherIPv4:
		case etherIPv6:
			af = afInet6
		default:
			return predFalse
		}
		if l.link == capture.LinkNull {
			// The family is in the byte order of the host that wrote it;
			// libpcap assumes this host. The load is big-endian.
			af = binary.BigEndian.Uint32(binary.NativeEndian.AppendUint32(nil, af))
		}
		return cmp(0, 4, af)
	}
	return predFalse
}

func (l layout) ipv4() *pred { return l.linkProto(etherIPv4) }
func (l layout) ipv6() *pred { return l.linkProto(etherIPv6) }

// ipv4Proto tests the IPv4 protocol field; like tcpdump's "ip proto" it
// matches every fragment.
func (l layout) ipv4Proto(proto uint32) *pred {
	return and(l.ipv4(), cmp(l.nl()+9, 1, proto))
}

// ipv6Proto tests the IPv6 next header, looking through one fragment header
// as tcpdump's "ip6 proto" does (no other extension headers).
func (l layout) ipv6Proto(proto uint32) *pred {
	nh := l.nl() + 6
	return and(l.ipv6(), or(
		cmp(nh, 1, proto),
		and(cmp(nh, 1, protoFragment), cmp(l.nl()+40, 1, proto)),
	))
}

// transport is "udp", "tcp", "icmp" or "icmp6" used alone.
func (l layout) transport(proto uint32) *pred {
	switch proto {
	case protoICMP:
		return l.ipv4Proto(proto)
	case protoICMPv6:
		return l.ipv6Proto(proto)
	}
	return or(l.ipv4Proto(proto), l.ipv6Proto(proto))
}

// direction combines a source and a destination test per the src/dst
// qualifier.
func direction(d dirQual, src, dst func() *pred) *pred {
	switch d {
	case dirSrc:
		return src()
	case dirDst:
		return dst()
	case dirAnd:
		return and(src(), dst())
	}
	return or(src(), dst())
}

// host4 matches an IPv4 address (mask all ones) or network. With no protocol
// qualifier tcpdump also looks at the sender and target of ARP and RARP.
func (l layout) host4(addr, mask uint32, d dirQual, withARP bool) *pred {
	at := func(off uint32) func() *pred {
		return func() *pred { return cmpMasked(off, 4, mask, addr&mask) }
	}
	nl := l.nl()
	p := and(l.ipv4(), direction(d, at(nl+12), at(nl+16)))
	if withARP {
		arp := direction(d, at(nl+14), at(nl+24))
		p = or(p, and(or(l.linkProto(etherARP), l.linkProto(etherRARP)), arp))
	}
	return p
}

// host6 matches an IPv6 address or network, word by word.
func (l layout) host6(addr, mask [16]byte, d dirQual) *pred {
	at := func(off uint32) func() *pred {
		return func() *pred {
			p := predTrue
			for w := range uint32(4) {
				m := binary.BigEndian.Uint32(mask[4*w:])
				a := binary.BigEndian.Uint32(addr[4*w:])
				p = and(p, cmpMasked(off+4*w, 4, m, a&m))
			}
			return p
		}
	}
	nl := l.nl()
	return and(l.ipv6(), direction(d, at(nl+8), at(nl+24)))
}

// portRange matches a transport port in [lo, hi] (a single port when they
// are equal). protos are the IP protocols the port belongs to. For IPv4 only
// the first fragment has ports, so tcpdump requires a zero fragment offset;
// for IPv6 the ports are taken right after the fixed header.
func (l layout) portRange(lo, hi uint32, d dirQual, protos []uint32) *pred {
	in := func(p *pred) *pred {
		if lo == hi {
			return p
		}
		ge := withCond(p, condGe)
		gt := *ge
		gt.test.cond = condGt
		gt.test.k = hi
		return and(ge, not(&gt))
	}
	nl := l.nl()
	proto := func(off uint32) *pred {
		p := predFalse
		for _, pr := range protos {
			p = or(p, cmp(off, 1, pr))
		}
		return p
	}
	v6port := func(off uint32) func() *pred {
		return func() *pred { return in(cmp(nl+40+off, 2, lo)) }
	}
	v4port := func(off uint32) func() *pred {
		return func() *pred {
			p := cmp(nl+off, 2, lo)
			p.test.indirect, p.test.ihl = true, nl
			return in(p)
		}
	}
	v6 := and(l.ipv6(), proto(nl+6), direction(d, v6port(0), v6port(2)))
	firstFragment := not(withCond(cmp(nl+6, 2, 0x1fff), condSet))
	v4 := and(l.ipv4(), proto(nl+9), firstFragment, direction(d, v4port(0), v4port(2)))
	return or(v6, v4)
}

// vlanTag matches an 802.1Q (or 802.1ad / old QinQ) tag, with the given VLAN
// ID when id >= 0, and moves the rest of the expression past it.
func (l *layout) vlanTag(id int) (*pred, error) {
	if l.link != capture.LinkEthernet {
		return nil, fmt.Errorf("vlan is only supported on Ethernet (link type %d)", l.link)
	}
	tpid := or(cmp(12+l.vlan, 2, 0x8100), cmp(12+l.vlan, 2, 0x88a8), cmp(12+l.vlan, 2, 0x9100))
	if id >= 0 {
		tpid = and(tpid, cmpMasked(14+l.vlan, 2, 0x0fff, uint32(id)))
	}
	l.vlan += 4
	return tpid, nil
}
