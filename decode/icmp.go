package decode

import (
	"encoding/binary"
	"net/netip"
)

// icmp decodes an ICMP (RFC 792) or ICMPv6 (RFC 4443) error that quotes a
// UDP or TCP packet. The quoted packet is described in Message.ICMP and
// never decoded as a message of its own (RFC 4443 §2.4(c)): it was sent
// once already and may have been captured then.
func (d *Decoder) icmp(v6 bool, src, dst netip.Addr, b []byte, emit func(*Message)) {
	if len(b) < 8 {
		d.short()
		return
	}
	typ, code := b[0], b[1]
	desc, unreachable, ok := icmpDescription(v6, typ, code)
	if !ok {
		return // an echo, a redirect, a neighbour discovery message...
	}
	e := ICMPError{V6: v6, Type: typ, Code: code, Unreachable: unreachable, Description: desc}
	if !quotedPacket(b[8:], &e) {
		return
	}
	d.stats.ICMPErrors++
	d.pkt.Src, d.pkt.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
	d.pkt.Transport = 0
	d.msg = Message{Packet: d.pkt, Kind: KindICMPError, ICMP: e}
	emit(&d.msg)
}

// quotedPacket reads the IP and UDP/TCP headers an ICMP error quotes.
// Routers quote as little as 8 bytes past the IP header (RFC 792), so
// anything after the ports may be missing. It reports false unless the
// quote shows a UDP or TCP packet with both ports.
func quotedPacket(q []byte, e *ICMPError) bool {
	var src, dst netip.Addr
	var proto uint8
	var payload []byte
	if len(q) < 1 {
		return false
	}
	switch q[0] >> 4 {
	case 4:
		if len(q) < 20 {
			return false
		}
		ihl := int(q[0]&0x0f) * 4
		if ihl < 20 || len(q) < ihl {
			return false
		}
		if binary.BigEndian.Uint16(q[6:])&0x1fff != 0 {
			return false // not the first fragment: no transport header
		}
		src = netip.AddrFrom4([4]byte(q[12:16]))
		dst = netip.AddrFrom4([4]byte(q[16:20]))
		proto = q[9]
		if total := int(binary.BigEndian.Uint16(q[2:])); total >= ihl && total < len(q) {
			q = q[:total] // drop RFC 4884 padding and extensions
		}
		payload = q[ihl:]
	case 6:
		if len(q) < 40 {
			return false
		}
		src = netip.AddrFrom16([16]byte(q[8:24])).Unmap()
		dst = netip.AddrFrom16([16]byte(q[24:40])).Unmap()
		proto = q[6]
		if plen := int(binary.BigEndian.Uint16(q[4:])); plen != 0 && plen < len(q)-40 {
			q = q[:40+plen]
		}
		payload = q[40:]
		for i := 0; ; i++ {
			if i > 8 {
				return false
			}
			switch proto {
			case 0, 43, 60, 44:
				if len(payload) < 8 {
					return false
				}
			}
			switch proto {
			case 0, 43, 60:
				n := (int(payload[1]) + 1) * 8
				if len(payload) < n {
					return false
				}
				proto, payload = payload[0], payload[n:]
				continue
			case 44:
				if binary.BigEndian.Uint16(payload[2:])&^7 != 0 {
					return false // not the first fragment
				}
				proto, payload = payload[0], payload[8:]
				continue
			}
			break
		}
	default:
		return false
	}
	if len(payload) < 4 {
		return false
	}
	sp, dp := binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:])
	switch proto {
	case protoUDP:
		e.QuotedTransport = UDP
		if len(payload) >= 8 {
			p := payload[8:]
			if ulen := int(binary.BigEndian.Uint16(payload[4:])); ulen >= 8 && ulen-8 < len(p) {
				p = p[:ulen-8]
			}
			e.QuotedPayload = p
		}
	case protoTCP:
		e.QuotedTransport = TCP
		if len(payload) >= 13 {
			if hl := int(payload[12]>>4) * 4; hl >= 20 && hl <= len(payload) {
				e.QuotedPayload = payload[hl:]
			}
		}
	default:
		return false
	}
	e.QuotedSrc, e.QuotedDst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return true
}

// icmpDescription names an ICMP error type and code; ok is false for
// messages that are not errors about a packet sent.
func icmpDescription(v6 bool, typ, code uint8) (desc string, unreachable, ok bool) {
	if v6 {
		switch typ {
		case 1: // RFC 4443 §3.1
			d := "destination unreachable"
			switch code {
			case 0:
				d = "no route to destination"
			case 1:
				d = "administratively prohibited"
			case 2:
				d = "beyond scope of source address"
			case 3:
				d = "address unreachable"
			case 4:
				d = "port unreachable"
			case 5:
				d = "source address failed ingress/egress policy"
			case 6:
				d = "reject route to destination"
			case 7:
				d = "error in source routing header"
			}
			return d, true, true
		case 2:
			return "packet too big", false, true
		case 3:
			if code == 1 {
				return "fragment reassembly time exceeded", false, true
			}
			return "hop limit exceeded in transit", false, true
		case 4:
			switch code {
			case 0:
				return "erroneous header field", false, true
			case 1:
				return "unrecognized next header", false, true
			case 2:
				return "unrecognized IPv6 option", false, true
			}
			return "parameter problem", false, true
		}
		return "", false, false
	}
	switch typ {
	case 3: // RFC 792, RFC 1812 §5.2.7.1
		d := "destination unreachable"
		switch code {
		case 0:
			d = "network unreachable"
		case 1:
			d = "host unreachable"
		case 2:
			d = "protocol unreachable"
		case 3:
			d = "port unreachable"
		case 4:
			d = "fragmentation needed"
		case 5:
			d = "source route failed"
		case 6:
			d = "destination network unknown"
		case 7:
			d = "destination host unknown"
		case 8:
			d = "source host isolated"
		case 9:
			d = "network administratively prohibited"
		case 10:
			d = "host administratively prohibited"
		case 11:
			d = "network unreachable for TOS"
		case 12:
			d = "host unreachable for TOS"
		case 13:
			d = "communication administratively prohibited"
		case 14:
			d = "host precedence violation"
		case 15:
			d = "precedence cutoff in effect"
		}
		return d, true, true
	case 11:
		if code == 1 {
			return "fragment reassembly time exceeded", false, true
		}
		return "TTL exceeded in transit", false, true
	case 12:
		return "parameter problem", false, true
	}
	return "", false, false
}
