package decode

import (
	"encoding/binary"

	"github.com/callscope/callscope/decode/capture"
)

// EtherTypes the decoder follows.
const (
	etherIPv4     = 0x0800
	etherIPv6     = 0x86dd
	etherVLAN     = 0x8100 // IEEE 802.1Q
	etherQinQ     = 0x88a8 // IEEE 802.1ad service tag
	etherQinQOld  = 0x9100 // pre-standard QinQ
	etherPPPoE    = 0x8864 // PPPoE session stage (RFC 2516)
	etherMPLS     = 0x8847
	etherMPLSMult = 0x8848
	etherBridged  = 0x6558 // transparent Ethernet bridging (GRE, RFC 1701)
	etherERSPAN2  = 0x88be
	etherERSPAN3  = 0x22eb
)

// maxTunnelDepth bounds link/IP nesting (VLAN stacks, IP-in-IP, GRE, GTP)
// so hostile input cannot recurse without end.
const maxTunnelDepth = 8

// link strips the link-layer header of one record and hands its network
// layer on.
func (d *Decoder) link(lt capture.LinkType, b []byte, emit func(*Message)) {
	switch lt {
	case capture.LinkEthernet:
		d.ethernet(b, 0, emit)
	case capture.LinkLinuxSLL:
		// 16-byte cooked header: packet type first, protocol (an
		// EtherType) last; no interface.
		if len(b) < 16 {
			d.short()
			return
		}
		d.pkt.Direction = directionOfPacketType(binary.BigEndian.Uint16(b))
		d.etherType(binary.BigEndian.Uint16(b[14:]), b[16:], 0, emit)
	case capture.LinkSLL2:
		// 20-byte cooked header v2: protocol first, then 2 reserved
		// bytes, the interface index, the ARPHRD type and the packet type.
		if len(b) < 20 {
			d.short()
			return
		}
		d.pkt.Interface = binary.BigEndian.Uint32(b[4:])
		d.pkt.Direction = directionOfPacketType(uint16(b[10]))
		d.etherType(binary.BigEndian.Uint16(b), b[20:], 0, emit)
	case capture.LinkRaw:
		d.ipByVersion(b, 0, emit)
	case capture.LinkIPv4:
		d.ipv4(b, 0, emit)
	case capture.LinkIPv6:
		d.ipv6(b, 0, emit)
	case capture.LinkNull, capture.LinkLoop:
		if len(b) < 4 {
			d.short()
			return
		}
		var family uint32
		if lt == capture.LinkLoop {
			family = binary.BigEndian.Uint32(b)
		} else {
			// Host byte order of the machine that wrote the file, which
			// we do not know; AF values are small, so the order that
			// gives a small number is the right one.
			family = binary.LittleEndian.Uint32(b)
			if family > 0xffff {
				family = binary.BigEndian.Uint32(b)
			}
		}
		switch family {
		case 2: // AF_INET everywhere
			d.ipv4(b[4:], 0, emit)
		case 10, 24, 28, 30: // AF_INET6: Linux, OpenBSD/NetBSD, FreeBSD, Darwin
			d.ipv6(b[4:], 0, emit)
		default:
			d.stats.NotIP++
		}
	default:
		if d.stats.UnknownLinkTypes == nil {
			d.stats.UnknownLinkTypes = make(map[uint16]uint64)
		}
		d.stats.UnknownLinkTypes[uint16(lt)]++
	}
}

// short notes a packet too short for a header it claims to have.
func (d *Decoder) short() { d.truncated = true }

func (d *Decoder) ethernet(b []byte, depth int, emit func(*Message)) {
	if len(b) < 14 {
		d.short()
		return
	}
	d.etherType(binary.BigEndian.Uint16(b[12:]), b[14:], depth, emit)
}

// etherType follows an EtherType through VLAN tags, PPPoE and MPLS to IP.
func (d *Decoder) etherType(et uint16, b []byte, depth int, emit func(*Message)) {
	for i := 0; ; i++ {
		if i > maxTunnelDepth {
			d.stats.NotIP++
			return
		}
		switch et {
		case etherIPv4:
			d.ipv4(b, depth, emit)
			return
		case etherIPv6:
			d.ipv6(b, depth, emit)
			return
		case etherVLAN, etherQinQ, etherQinQOld:
			// 2 bytes of tag control, then the next EtherType.
			if len(b) < 4 {
				d.short()
				return
			}
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		case etherPPPoE:
			// 6-byte PPPoE header, then the 2-byte PPP protocol.
			if len(b) < 8 {
				d.short()
				return
			}
			switch binary.BigEndian.Uint16(b[6:]) {
			case 0x0021:
				d.ipv4(b[8:], depth, emit)
			case 0x0057:
				d.ipv6(b[8:], depth, emit)
			default:
				d.stats.NotIP++
			}
			return
		case etherMPLS, etherMPLSMult:
			// Label stack entries until the bottom-of-stack bit; what
			// follows has no type field, so guess IP by its version.
			for {
				if len(b) < 4 {
					d.short()
					return
				}
				bottom := b[2]&1 == 1
				b = b[4:]
				if bottom {
					break
				}
			}
			d.ipByVersion(b, depth, emit)
			return
		default:
			d.stats.NotIP++
			return
		}
	}
}

// ipByVersion dispatches on the IP version nibble.
func (d *Decoder) ipByVersion(b []byte, depth int, emit func(*Message)) {
	if len(b) == 0 {
		d.short()
		return
	}
	switch b[0] >> 4 {
	case 4:
		d.ipv4(b, depth, emit)
	case 6:
		d.ipv6(b, depth, emit)
	default:
		d.stats.NotIP++
	}
}
