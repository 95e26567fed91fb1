package decode

import (
	"encoding/binary"
	"net/netip"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/stun"
)

// UDPRecord is a capture record that ParseUDPRecord found to hold one
// plain UDP datagram, and when it is RTP (the bulk of a VoIP capture) its
// RTP header. Parsing it needs no Decoder state, so a pipeline can parse
// records in parallel and decode them in order with DecodeUDP, which gives
// exactly what Decode would.
type UDPRecord struct {
	Packet
	// IsRTP says that Payload is what Decode would emit as KindRTP, with
	// RTP its header; otherwise DecodeUDP classifies Payload as Decode does.
	IsRTP bool
	RTP   rtp.Header
	// MaybeChannelData says that Payload is what Decode would emit as
	// KindChannelData if an end of the flow spoke STUN (the one thing
	// DecodeUDP has to decide): Channel is its parse, relayed RTP
	// included. DecodeUDP then does not read Payload again, which the
	// goroutine that parsed it has just had in its cache.
	MaybeChannelData bool
	Channel          ChannelData
	// Payload is the UDP payload, within the record's data.
	Payload  []byte
	Captured int // len(Record.Data), for Stats.Bytes
	IPv6     bool
}

// ParseUDPRecord reports whether rec is an untruncated Ethernet (at most
// one VLAN tag) or raw IP frame carrying one unfragmented UDP datagram
// with sound headers, and if so fills out. Anything else (TCP, ICMP,
// tunnels, fragments, IPv6 extension headers, cut or malformed headers) is
// left to Decode: false means "not sure", never "not UDP". It keeps no
// state and is safe for concurrent use.
func ParseUDPRecord(rec *capture.Record, out *UDPRecord) bool {
	b := rec.Data
	if rec.OrigLen > len(b) {
		return false
	}
	var et uint16
	switch rec.LinkType {
	case capture.LinkEthernet:
		if len(b) < 14 {
			return false
		}
		et, b = binary.BigEndian.Uint16(b[12:]), b[14:]
		if et == etherVLAN {
			if len(b) < 4 {
				return false
			}
			et, b = binary.BigEndian.Uint16(b[2:]), b[4:]
		}
	case capture.LinkRaw:
		if len(b) == 0 {
			return false
		}
		switch b[0] >> 4 {
		case 4:
			et = etherIPv4
		case 6:
			et = etherIPv6
		}
	default:
		return false
	}
	var src, dst netip.Addr
	var dscp uint8
	v6 := false
	switch et {
	case etherIPv4:
		if len(b) < 20 || b[0]>>4 != 4 {
			return false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl || b[9] != protoUDP {
			return false
		}
		if total := int(binary.BigEndian.Uint16(b[2:])); total != 0 {
			if total < ihl || total > len(b) {
				return false
			}
			b = b[:total]
		}
		if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 {
			return false // a fragment: reassembly is the Decoder's
		}
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		dscp = b[1] >> 2
		b = b[ihl:]
	case etherIPv6:
		if len(b) < 40 || b[0]>>4 != 6 || b[6] != protoUDP {
			return false
		}
		src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
		dscp = uint8(binary.BigEndian.Uint16(b)>>4) >> 2
		p := b[40:]
		if plen := int(binary.BigEndian.Uint16(b[4:])); plen != 0 {
			if plen > len(p) {
				return false
			}
			p = p[:plen]
		}
		b, v6 = p, true
	default:
		return false
	}
	// UDP (RFC 768), as Decoder.udp reads it.
	if len(b) < 8 {
		return false
	}
	sp, dp := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	p := b[8:]
	if ulen := int(binary.BigEndian.Uint16(b[4:])); ulen != 0 {
		if ulen < 8 || ulen-8 > len(p) {
			return false
		}
		p = p[:ulen-8]
	}
	if sp == gtpUPort && dp == gtpUPort {
		return false
	}
	// Decoder.udpPayload and emitMedia: first byte 128-191 on a media
	// port, second byte not an RTCP packet type, and a header that parses.
	out.IsRTP = len(p) >= 2 && p[0] >= 128 && p[0] <= 191 && !isNonMediaPort(sp) && !isNonMediaPort(dp) &&
		!rtp.IsRTCPType(p[1]) && rtp.ParseHeader(p, &out.RTP)
	// Decoder.udpPayload: a ChannelData first byte, not SIP's text.
	out.MaybeChannelData = !out.IsRTP && len(p) > 0 && stun.IsChannelDataFirstByte(p[0]) &&
		!sip.LooksLikeSIP(p) && parseChannelData(p, false, &out.Channel)
	out.Packet = Packet{
		Frame: rec.Frame, Time: rec.Time,
		Src: netip.AddrPortFrom(src, sp), Dst: netip.AddrPortFrom(dst, dp),
		Transport: UDP, DSCP: dscp,
	}
	out.Payload = p
	out.Captured = len(rec.Data)
	out.IPv6 = v6
	return true
}

// DecodeUDP decodes a record that ParseUDPRecord accepted: the same
// statistics, expiry and messages as Decode(rec, emit), without parsing
// the headers again. Records must come in capture order, interleaved with
// Decode calls for the others.
func (d *Decoder) DecodeUDP(ur *UDPRecord, emit func(*Message)) {
	d.stats.Packets++
	d.stats.Bytes += uint64(ur.Captured)
	d.pkt = ur.Packet
	d.truncated, d.ipCut = false, 0
	d.frags.expire(ur.Time, &d.stats)
	d.tcp.expire(ur.Time)
	d.dtls.expire(ur.Time)
	if ur.MaybeChannelData {
		if d.endpoints.hasEither(ur.Src, ur.Dst, ur.Time) {
			d.stats.ChannelData++
			m := &d.channelMsg
			m.Packet = ur.Packet
			m.Kind = KindChannelData
			m.Channel = ur.Channel
			m.Payload = ur.Payload
			emit(m)
		}
	} else if ur.IsRTP {
		d.stats.RTP++
		// A Message of its own, which only ever holds RTP: setting four
		// fields is cheaper than clearing the 300-odd bytes of d.msg.
		m := &d.rtpMsg
		m.Packet = ur.Packet
		m.Kind = KindRTP
		m.RTP = ur.RTP
		m.Payload = ur.Payload
		emit(m)
	} else {
		d.udpPayload(ur.Payload, ur.Src.Port(), ur.Dst.Port(), emit)
	}
	if d.truncated {
		d.stats.Truncated++
	}
	if ur.IPv6 {
		d.stats.IPv6++
	}
	d.stats.UDP++
}
