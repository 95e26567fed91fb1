package synth

import (
	"encoding/binary"
	"net/netip"
)

// flow is the Ethernet, IP and UDP headers of one direction of a UDP flow;
// lengths, IPv4 ID and checksums are filled per packet.
type flow struct {
	src, dst netip.AddrPort
	hdr      []byte
	v6       bool
	sum      uint32 // the UDP checksum's sum over addresses, protocol and ports
	dscp     uint8
	// checksum4 fills the UDP checksum of IPv4 datagrams too.
	checksum4 bool
	// tally counts the ChannelData messages sent on the flow.
	tally *RelayCount
}

const (
	etherLen = 14
	udpLen   = 8
	dscpEF   = 46 // Expedited Forwarding (RFC 3246), what voice should carry
	dscpAF41 = 34
	dscpCS3  = 24 // signalling
)

func newFlow(src, dst netip.AddrPort, dscp uint8) *flow {
	f := &flow{src: src, dst: dst, dscp: dscp, v6: src.Addr().Is6()}
	h := make([]byte, 0, etherLen+40+udpLen)
	h = append(h, mac(dst.Addr())...)
	h = append(h, mac(src.Addr())...)
	s, d := src.Addr().AsSlice(), dst.Addr().AsSlice()
	if f.v6 {
		h = append(h, 0x86, 0xdd)
		h = binary.BigEndian.AppendUint32(h, 6<<28|uint32(dscp)<<22)
		h = append(h, 0, 0, 17, 64) // payload length, next header UDP, hop limit
	} else {
		h = append(h, 0x08, 0x00)
		h = append(h, 0x45, dscp<<2, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0) // DF, TTL 64, UDP
	}
	h = append(h, s...)
	h = append(h, d...)
	h = binary.BigEndian.AppendUint16(h, src.Port())
	h = binary.BigEndian.AppendUint16(h, dst.Port())
	h = append(h, 0, 0, 0, 0)
	f.hdr = h
	f.sum = onesSum(onesSum(17+uint32(src.Port())+uint32(dst.Port()), s), d)
	return f
}

// mac is a locally administered MAC derived from an address.
func mac(a netip.Addr) []byte {
	b := a.As16()
	return []byte{0x02, b[11], b[12], b[13], b[14], b[15]}
}

// frame appends the frame carrying payload to b. IPv4 datagrams carry no
// UDP checksum (RFC 768 allows zero), as many media gateways send them,
// unless checksum4 is set; IPv6 ones must (RFC 8200 §8.1).
func (f *flow) frame(b, payload []byte, ipID uint16) []byte {
	b = append(b, f.hdr...)
	b = append(b, payload...)
	ip := b[etherLen:]
	n := udpLen + len(payload)
	var udp []byte
	if f.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(n))
		udp = ip[40:]
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(20+n))
		binary.BigEndian.PutUint16(ip[4:], ipID)
		binary.BigEndian.PutUint16(ip[10:], ^fold(onesSum(0, ip[:20])))
		udp = ip[20:]
	}
	binary.BigEndian.PutUint16(udp[4:], uint16(n))
	if f.v6 || f.checksum4 {
		// 0 is sent as 0xffff (RFC 768).
		sum := ^fold(onesSum(f.sum+2*uint32(n), payload))
		if sum == 0 {
			sum = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:], sum)
	}
	return b
}

// onesSum adds b as big-endian 16-bit words to sum (RFC 1071).
func onesSum(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
