package decode

import (
	"encoding/binary"
	"net/netip"

	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/stun"
)

const gtpUPort = 2152 // GTP-U (3GPP TS 29.281)

// udp parses a UDP header (RFC 768) and classifies the payload.
func (d *Decoder) udp(src, dst netip.Addr, b []byte, depth int, emit func(*Message)) {
	if len(b) < 8 {
		d.short()
		return
	}
	d.sawUDP = true
	sp, dp := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	p := b[8:]
	// Length 0 is legal only in an IPv6 jumbogram (RFC 2675); otherwise
	// the field bounds the payload (IP may carry padding after it).
	if ulen := int(binary.BigEndian.Uint16(b[4:])); ulen != 0 {
		switch {
		case ulen < 8:
			d.short()
			return
		case ulen-8 > len(p):
			d.short()
		default:
			p = p[:ulen-8]
		}
	}
	d.pkt.Src, d.pkt.Dst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	d.pkt.Transport = UDP
	if sp == gtpUPort && dp == gtpUPort && depth < maxTunnelDepth {
		if d.gtpU(p, depth+1, emit) {
			return
		}
	}
	d.udpPayload(p, sp, dp, emit)
}

// udpPayload classifies one datagram by its first byte, in the order of
// RFC 7983 §7: 0-3 STUN, 20-63 DTLS, 64-79 TURN ChannelData, 128-191 RTP or
// RTCP. STUN and ChannelData need more evidence than that byte, see
// stun.IsSTUN and endpointSet. SIP is text and is recognized by its start
// line on any port, before ChannelData, whose first-byte range (extended to
// 0x40-0x7F by RFC 5766 channel numbers) covers the ASCII letters; a CRLF
// keep-alive (CR, 13, a byte no other protocol here starts with) by its
// flow, see emitSIPKeepAlive.
func (d *Decoder) udpPayload(p []byte, sp, dp uint16, emit func(*Message)) {
	if len(p) == 0 {
		return
	}
	switch b0 := p[0]; {
	case b0 <= 3:
		// Classic RFC 3489 STUN has no magic cookie: any classic type on
		// the ports package stun names, elsewhere only a strictly formed
		// Binding; and only when the cookie check failed.
		if stun.IsSTUN(p) {
			d.emitSTUN(p, emit)
		} else if (stun.IsClassicSTUNPort(sp) || stun.IsClassicSTUNPort(dp)) && stun.IsClassicSTUN(p) {
			d.emitSTUN(p, emit)
		} else if stun.IsClassicBinding(p) {
			d.emitSTUN(p, emit)
		}
	case b0 >= 20 && b0 <= 63:
		d.emitDTLS(p, emit)
	case b0 >= 128 && b0 <= 191:
		if !isNonMediaPort(sp) && !isNonMediaPort(dp) {
			d.emitMedia(p, emit)
		}
	case b0 == '\r' && sip.KeepAliveLength(p) == len(p):
		// Bare CRLF, which no start line is: after RTP's range, so media
		// never pays for the test.
		d.emitSIPKeepAlive(p, sp, dp, emit)
	case sip.LooksLikeSIP(p):
		d.emitSIP(p, emit)
	case stun.IsChannelDataFirstByte(b0):
		if d.endpoints.hasEither(d.pkt.Src, d.pkt.Dst, d.pkt.Time) {
			d.emitChannelData(p, false, emit)
		}
	}
}

// isNonMediaPort reports the ports of UDP services whose datagrams often
// start with a byte of 128-191 (a DNS or NetBIOS transaction ID, an NTP
// header with the alarm bits set) and that never carry RTP. RFC 7983 leaves
// that first byte to RTP only on a port that media uses; tshark likewise
// tries its RTP heuristic only where no port-based dissector claimed the
// datagram.
func isNonMediaPort(port uint16) bool {
	switch port {
	case 53, // DNS
		67, 68, // DHCP
		123,      // NTP
		137, 138, // NetBIOS name and datagram services
		161, 162, // SNMP
		1900, // SSDP
		5353, // mDNS
		5355: // LLMNR
		return true
	}
	return false
}

// gtpU strips a GTP-U header and decodes the user packet of a G-PDU. It
// reports false when p is not one, so the datagram is classified as is.
func (d *Decoder) gtpU(p []byte, depth int, emit func(*Message)) bool {
	// Version 1, protocol type GTP, message type 255 (G-PDU).
	if len(p) < 8 || p[0]>>5 != 1 || p[0]&0x10 == 0 || p[1] != 0xff {
		return false
	}
	n := 8
	if p[0]&0x07 != 0 {
		// Sequence number, N-PDU number and next extension type come
		// together when any of E, S, PN is set.
		n = 12
		if len(p) < n {
			d.short()
			return true
		}
		for next := p[11]; next != 0; {
			if len(p) < n+1 || p[n] == 0 {
				d.short()
				return true
			}
			l := int(p[n]) * 4
			if len(p) < n+l {
				d.short()
				return true
			}
			next = p[n+l-1]
			n += l
		}
	}
	d.ipByVersion(p[n:], depth, emit)
	return true
}
