// Package rtpsource writes the RTP source files that SIPp's
// play_pcap_audio replays in the reference captures (pcaps/sipp/*-source).
// SIPp sends each packet at the time offset of its capture time, from its
// own media address and port to the port in the peer's SDP, and copies the
// RTP bytes unchanged: what a file fixes is the RTP header, the payload and
// the timing, so addresses and ports here are placeholders.
package rtpsource

import (
	"encoding/binary"
	"math"
	"time"
)

// Samples is 20 ms of G.711 at 8 kHz: the payload of one packet, and how
// far its timestamp advances.
const Samples = 160

// Packet is one RTP packet and its send time from the file's start.
type Packet struct {
	At      time.Duration
	SSRC    uint32
	Seq     uint16
	TS      uint32
	PT      uint8
	Marker  bool
	Payload []byte
}

// Placeholder addresses (see the package comment).
var (
	srcIP, dstIP     = [4]byte{10, 0, 1, 10}, [4]byte{203, 0, 113, 20}
	srcPort, dstPort = uint16(6000), uint16(6000)
)

// Pcap is a microsecond pcap of Ethernet frames, one a packet, its
// capture times from 2026-01-01T00:00:00Z.
func Pcap(pkts []Packet) []byte {
	b := make([]byte, 0, 24+len(pkts)*(16+14+20+8+12+Samples))
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4) // microsecond pcap
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1) // Ethernet
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range pkts {
		frame := frame(p)
		t := start.Add(p.At)
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	return b
}

// frame is one Ethernet/IPv4/UDP/RTP packet, marked EF as the captures'
// RTP is.
func frame(p Packet) []byte {
	rtp := make([]byte, 12, 12+len(p.Payload))
	rtp[0] = 0x80
	rtp[1] = p.PT
	if p.Marker {
		rtp[1] |= 0x80
	}
	binary.BigEndian.PutUint16(rtp[2:], p.Seq)
	binary.BigEndian.PutUint32(rtp[4:], p.TS)
	binary.BigEndian.PutUint32(rtp[8:], p.SSRC)
	rtp = append(rtp, p.Payload...)

	udp := make([]byte, 8, 8+len(rtp))
	binary.BigEndian.PutUint16(udp[0:], srcPort)
	binary.BigEndian.PutUint16(udp[2:], dstPort)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(rtp)))
	udp = append(udp, rtp...)
	pseudo := append(append(append([]byte{}, srcIP[:]...), dstIP[:]...), 0, 17, byte(len(udp)>>8), byte(len(udp)))
	sum := ^fold(onesSum(onesSum(0, pseudo), udp))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)

	ip := make([]byte, 20, 20+len(udp))
	ip[0] = 0x45
	ip[1] = 46 << 2
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	ip[8] = 64
	ip[9] = 17
	copy(ip[12:], srcIP[:])
	copy(ip[16:], dstIP[:])
	binary.BigEndian.PutUint16(ip[10:], ^fold(onesSum(0, ip)))
	ip = append(ip, udp...)

	eth := []byte{0x02, 0, 0xcb, 0, 0x71, 0x14, 0x02, 0, 0x0a, 0, 0x01, 0x0a, 0x08, 0x00}
	return append(eth, ip...)
}

// onesSum adds b as big-endian 16-bit words to sum (RFC 1071).
func onesSum(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// Tone is the 20 ms of a sine of hz in G.711 µ-law that packet slot
// carries, continuous from one packet to the next.
func Tone(hz float64, slot int) []byte {
	p := make([]byte, Samples)
	for k := range p {
		n := slot*Samples + k
		p[k] = ulaw(int(12000 * math.Sin(2*math.Pi*hz*float64(n)/8000)))
	}
	return p
}

// ulaw is the G.711 µ-law code of a 16-bit linear sample.
func ulaw(sample int) byte {
	const bias, clip = 0x84, 32635
	sign := 0
	if sample < 0 {
		sign, sample = 0x80, -sample
	}
	sample = min(sample, clip) + bias
	exponent := 7
	for mask := 0x4000; exponent > 0 && sample&mask == 0; mask >>= 1 {
		exponent--
	}
	mantissa := (sample >> (exponent + 3)) & 0x0f
	return ^byte(sign | exponent<<4 | mantissa)
}
