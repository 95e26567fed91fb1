package decode

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers the decoder follows.
const (
	protoICMP   = 1
	protoIPIP   = 4
	protoTCP    = 6
	protoUDP    = 17
	protoIPv6   = 41
	protoGRE    = 47
	protoICMPv6 = 58
)

// ipv4 parses an IPv4 header (RFC 791), reassembles fragments and hands the
// payload to its transport.
func (d *Decoder) ipv4(b []byte, depth int, emit func(*Message)) {
	if len(b) < 20 || b[0]>>4 != 4 {
		d.short()
		return
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || len(b) < ihl {
		d.short()
		return
	}
	// A total length of 0 is what TCP segmentation offload leaves in
	// locally captured packets: trust the capture then.
	cut := false
	if total := int(binary.BigEndian.Uint16(b[2:])); total != 0 {
		if total < ihl {
			d.short()
			return
		}
		if total > len(b) {
			d.short()
			d.ipCut, cut = total-len(b), true
		} else {
			b = b[:total] // drop Ethernet padding
		}
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	d.pkt.DSCP = b[1] >> 2
	proto := b[9]
	payload := b[ihl:]

	frag := binary.BigEndian.Uint16(b[6:])
	more := frag&0x2000 != 0
	offset := int(frag&0x1fff) * 8
	if !more && offset == 0 {
		d.transport(proto, src, dst, payload, depth, emit)
		return
	}
	d.stats.Fragments++
	if cut {
		return // a cut fragment would corrupt the datagram it belongs to
	}
	key := fragKey{src: src, dst: dst, id: uint32(binary.BigEndian.Uint16(b[4:])), proto: proto}
	whole, _, ok := d.frags.add(key, offset, more, payload, proto, d.pkt.Time, d.pkt.Frame, &d.stats)
	if !ok {
		return
	}
	d.stats.Reassembled++
	outer := d.reassembled
	d.reassembled = &d.frags.done
	d.transport(proto, src, dst, whole, depth, emit)
	d.reassembled = outer
	d.frags.recycle(whole)
}

// ipv6 parses an IPv6 header and its extension headers (RFC 8200 §4),
// reassembles fragments and hands the payload to its transport.
func (d *Decoder) ipv6(b []byte, depth int, emit func(*Message)) {
	if len(b) < 40 || b[0]>>4 != 6 {
		d.short()
		return
	}
	d.sawIPv6 = true
	// Unmap: an IPv4-mapped address is an IPv4 host.
	src := netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	dst := netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	d.pkt.DSCP = uint8(binary.BigEndian.Uint16(b)>>4) >> 2
	next := b[6]
	payload := b[40:]
	// Payload length 0 means a jumbogram (RFC 2675) or a TSO capture:
	// trust the capture then.
	if plen := int(binary.BigEndian.Uint16(b[4:])); plen != 0 {
		if plen > len(payload) {
			d.short()
			d.ipCut = plen - len(payload)
		} else {
			payload = payload[:plen]
		}
	}

	var reassembled []byte
	if !d.extensionHeaders(&next, &payload, &reassembled, src, dst) {
		return
	}
	if reassembled == nil {
		d.transport(next, src, dst, payload, depth, emit)
		return
	}
	outer := d.reassembled
	d.reassembled = &d.frags.done
	d.transport(next, src, dst, payload, depth, emit)
	d.reassembled = outer
	d.frags.recycle(reassembled)
}

// extensionHeaders skips IPv6 extension headers, reassembling fragments on
// the way. It reports false when there is nothing to hand on; *reassembled
// is set when the payload now lives in a reassembly buffer.
func (d *Decoder) extensionHeaders(nextp *uint8, payloadp *[]byte, reassembled *[]byte, src, dst netip.Addr) bool {
	next, payload := *nextp, *payloadp
	for i := 0; ; i++ {
		if i > 16 {
			return false // more extension headers than any sender needs
		}
		switch next {
		case 0, 43, 60, 135, 139, 140:
			// Hop-by-Hop, Routing, Destination Options, Mobility, HIP,
			// Shim6: length in 8-octet units, not counting the first 8.
			if len(payload) < 8 {
				d.short()
				return false
			}
			n := (int(payload[1]) + 1) * 8
			if len(payload) < n {
				d.short()
				return false
			}
			next, payload = payload[0], payload[n:]
		case 51:
			// Authentication Header: length in 4-octet units, minus 2
			// (RFC 4302 §2.2).
			if len(payload) < 8 {
				d.short()
				return false
			}
			n := (int(payload[1]) + 2) * 4
			if len(payload) < n {
				d.short()
				return false
			}
			next, payload = payload[0], payload[n:]
		case 44:
			if len(payload) < 8 {
				d.short()
				return false
			}
			fragNext := payload[0]
			offFlags := binary.BigEndian.Uint16(payload[2:])
			offset := int(offFlags &^ 7)
			more := offFlags&1 != 0
			id := binary.BigEndian.Uint32(payload[4:])
			payload = payload[8:]
			if offset == 0 && !more {
				// An atomic fragment (RFC 6946 §4) is a whole datagram.
				next = fragNext
				continue
			}
			d.stats.Fragments++
			if d.ipCut > 0 || *reassembled != nil {
				return false
			}
			key := fragKey{src: src, dst: dst, id: id, v6: true}
			whole, proto, ok := d.frags.add(key, offset, more, payload, fragNext, d.pkt.Time, d.pkt.Frame, &d.stats)
			if !ok {
				return false
			}
			d.stats.Reassembled++
			*reassembled = whole
			next, payload = proto, whole
		case 50, 59:
			return false // ESP hides the rest; No Next Header ends it
		default:
			*nextp, *payloadp = next, payload
			return true
		}
	}
}

// transport dispatches an IP payload on its protocol number.
func (d *Decoder) transport(proto uint8, src, dst netip.Addr, b []byte, depth int, emit func(*Message)) {
	switch proto {
	case protoUDP:
		d.udp(src, dst, b, depth, emit)
	case protoTCP:
		d.tcpSegment(src, dst, b, emit)
	case protoICMP:
		d.icmp(false, src, dst, b, emit)
	case protoICMPv6:
		d.icmp(true, src, dst, b, emit)
	case protoIPIP:
		if depth < maxTunnelDepth {
			d.ipv4(b, depth+1, emit)
		}
	case protoIPv6:
		if depth < maxTunnelDepth {
			d.ipv6(b, depth+1, emit)
		}
	case protoGRE:
		if depth < maxTunnelDepth {
			d.gre(b, depth+1, emit)
		}
	}
}

// gre strips a GRE header (RFC 2784, RFC 2890 key and sequence) and, for
// ERSPAN, the mirroring header, then decodes what was carried.
func (d *Decoder) gre(b []byte, depth int, emit func(*Message)) {
	if len(b) < 4 {
		d.short()
		return
	}
	flags := binary.BigEndian.Uint16(b)
	if flags&7 == 1 {
		d.pptpGRE(b, depth, emit)
		return
	}
	if flags&7 != 0 || flags&0x4000 != 0 {
		return // unknown version, or source routing: not followed
	}
	n := 4
	if flags&0x8000 != 0 { // checksum present
		n += 4
	}
	if flags&0x2000 != 0 { // key present
		n += 4
	}
	seq := flags&0x1000 != 0
	if seq {
		n += 4
	}
	if len(b) < n {
		d.short()
		return
	}
	et := binary.BigEndian.Uint16(b[2:])
	b = b[n:]
	switch et {
	case etherBridged:
		d.ethernet(b, depth, emit)
	case etherERSPAN2:
		// ERSPAN type II has an 8-byte header; type I, without a
		// sequence number, has none.
		if seq {
			if len(b) < 8 {
				d.short()
				return
			}
			b = b[8:]
		}
		d.ethernet(b, depth, emit)
	case etherERSPAN3:
		// 12 bytes, plus an 8-byte platform subheader when O is set.
		if len(b) < 12 {
			d.short()
			return
		}
		hl := 12
		if b[11]&1 != 0 {
			hl += 8
		}
		if len(b) < hl {
			d.short()
			return
		}
		d.ethernet(b[hl:], depth, emit)
	default:
		d.etherType(et, b, depth, emit)
	}
}

// pptpGRE strips an enhanced GRE header (version 1, RFC 2637 §4.1), which
// carries PPP, and the PPP header (RFC 1661, address and control fields
// and protocol possibly compressed, RFC 1661 §6.5-6.6).
func (d *Decoder) pptpGRE(b []byte, depth int, emit func(*Message)) {
	flags := binary.BigEndian.Uint16(b)
	if binary.BigEndian.Uint16(b[2:]) != 0x880b {
		return
	}
	n := 8 // the key field (payload length, call ID) is always there
	if flags&0x1000 != 0 {
		n += 4
	}
	if flags&0x0080 != 0 { // acknowledgment number
		n += 4
	}
	if len(b) < n {
		d.short()
		return
	}
	p := b[n:]
	if len(p) >= 2 && p[0] == 0xff && p[1] == 0x03 {
		p = p[2:]
	}
	if len(p) < 1 {
		return
	}
	proto := uint16(p[0])
	if proto&1 == 0 { // two-byte protocol field
		if len(p) < 2 {
			d.short()
			return
		}
		proto, p = binary.BigEndian.Uint16(p), p[2:]
	} else {
		p = p[1:]
	}
	switch proto {
	case 0x21:
		d.ipv4(p, depth, emit)
	case 0x57:
		d.ipv6(p, depth, emit)
	}
}
