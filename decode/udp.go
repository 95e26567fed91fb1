package decode

import (
	"encoding/binary"
	"net/netip"

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

// udpPayload classifies one datagram. RFC 7983 §7 tells STUN (first byte
// 0-3) from ChannelData (64-79) by the first byte; both need more evidence
// than that, see stun.IsSTUN and endpointSet.
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
	case stun.IsChannelDataFirstByte(b0):
		if d.endpoints.has(d.pkt.Src, d.pkt.Time) || d.endpoints.has(d.pkt.Dst, d.pkt.Time) {
			d.emitChannelData(p, false, emit)
		}
	}
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
