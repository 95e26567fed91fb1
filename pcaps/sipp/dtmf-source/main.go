// Command dtmf-source writes the RTP streams that SIPp's play_pcap_audio
// replays in sip-payload-type-mismatch.pcap (make-sip-captures.sh): 3 s
// of PCMU (payload type 0, 160 bytes every 20 ms) with RFC 4733
// telephone-events in place of the voice while a key is pressed, and for
// the callee a pause with RFC 3389 comfort noise.
//
// The caller offered telephone-event as 96 and the callee answered 101
// (uac-call-dtmf.xml, uas-call-dtmf.xml). RFC 3264 §6.1 lets the answer
// renumber it, and then each side must send with the other's number: the
// callee's 96 is right, the caller's 96 is the bug the capture shows (a
// phone that sends with the numbers of its own offer).
//
//	caller: digits 1 and 2 as payload type 96, SSRC 0x0a11ce01
//	callee: comfort noise (13) then 180 ms of silence, digit 5 as
//	        payload type 96, SSRC 0x0b0b0002
//
// Each digit is 8 packets of a growing duration and the final one with
// the E bit sent 3 times (RFC 4733 §2.5.1.4), all with the timestamp of
// the event's start and the marker on the first; every packet takes the
// next sequence number. The voice's timestamps advance 160 a packet
// throughout; after the silence the voice restarts with the marker bit
// (RFC 3551 §4.1).
//
// Usage: go run ./pcaps/sipp/dtmf-source -side caller -o caller-dtmf.pcap
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"time"
)

const (
	slots   = 150 // 3 s of 20 ms
	ptime   = 20 * time.Millisecond
	samples = 160 // 8 kHz × 20 ms

	ptPCMU           = 0
	ptCN             = 13
	ptTelephoneEvent = 96 // the offer's number, which the answer changed to 101

	eventUpdates = 8 // packets of a digit before its end
	eventEnds    = 3 // the final packet, sent this many times
	eventVolume  = 10
)

// side is one party's stream.
type side struct {
	ssrc   uint32
	seq    uint16 // the first packet's
	ts     uint32 // the first slot's
	toneHz float64
	digits map[int]byte // event code by the slot it starts in
	// cn is the slot of the comfort noise packet; the silence lasts
	// silence slots after it, and then the voice restarts. 0: none.
	cn, silence int
}

var sides = map[string]side{
	"caller": {ssrc: 0x0a11ce01, seq: 1000, ts: 16000, toneHz: 440, digits: map[int]byte{50: 1, 100: 2}},
	"callee": {ssrc: 0x0b0b0002, seq: 2000, ts: 48000, toneHz: 660, digits: map[int]byte{80: 5}, cn: 40, silence: 9},
}

// Addresses and ports are placeholders: SIPp sends from its own media
// port to the port in the peer's SDP and keeps the RTP bytes.
var (
	srcIP, dstIP     = [4]byte{10, 0, 1, 10}, [4]byte{203, 0, 113, 20}
	srcPort, dstPort = uint16(6000), uint16(6000)
)

func main() {
	name := flag.String("side", "caller", "caller or callee")
	out := flag.String("o", "dtmf-source.pcap", "output pcap")
	flag.Parse()
	sd, ok := sides[*name]
	if !ok {
		fmt.Fprintf(os.Stderr, "dtmf-source: -side %q: caller or callee\n", *name)
		os.Exit(2)
	}
	if err := os.WriteFile(*out, pcapFile(sd.packets()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "dtmf-source:", err)
		os.Exit(1)
	}
}

// packet is one RTP packet and when it is sent.
type packet struct {
	at     time.Duration
	ssrc   uint32
	seq    uint16
	ts     uint32
	pt     uint8
	marker bool
	body   []byte
}

func (sd side) packets() []packet {
	var out []packet
	marker := true // the first packet of a talkspurt
	for slot := 0; slot < slots; slot++ {
		// SIPp 3.6.1 sends the first packet at once and paces the rest
		// from 0: a file starting at 0 would send the first two back to
		// back.
		at := time.Duration(slot+1) * ptime
		ts := sd.ts + uint32(slot*samples)
		if code, ok := sd.digits[slot]; ok {
			for i := range eventUpdates + eventEnds {
				duration := uint16(min(i+1, eventUpdates) * samples)
				out = append(out, packet{at: at + time.Duration(i)*ptime, pt: ptTelephoneEvent, marker: i == 0, ts: ts,
					body: event(code, i >= eventUpdates, duration)})
			}
			slot += eventUpdates + eventEnds - 1
			continue
		}
		if sd.cn != 0 && slot == sd.cn {
			// RFC 3389 §3: one byte, the noise level in -dBov.
			out = append(out, packet{at: at, pt: ptCN, ts: ts, body: []byte{70}})
			slot += sd.silence
			marker = true
			continue
		}
		out = append(out, packet{at: at, pt: ptPCMU, marker: marker, ts: ts, body: tone(sd.toneHz, slot)})
		marker = false
	}
	for i := range out {
		out[i].ssrc, out[i].seq = sd.ssrc, sd.seq+uint16(i)
	}
	return out
}

// event is an RFC 4733 §2.3 payload: event code, end bit, volume,
// duration in timestamp units.
func event(code byte, end bool, duration uint16) []byte {
	b := []byte{code, eventVolume, 0, 0}
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], duration)
	return b
}

func pcapFile(pkts []packet) []byte {
	var b []byte
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
		t := start.Add(p.at)
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	return b
}

// frame is one Ethernet/IPv4/UDP/RTP packet, marked EF as the capture's
// RTP is.
func frame(p packet) []byte {
	rtp := make([]byte, 12, 12+len(p.body))
	rtp[0] = 0x80
	rtp[1] = p.pt
	if p.marker {
		rtp[1] |= 0x80
	}
	binary.BigEndian.PutUint16(rtp[2:], p.seq)
	binary.BigEndian.PutUint32(rtp[4:], p.ts)
	binary.BigEndian.PutUint32(rtp[8:], p.ssrc)
	rtp = append(rtp, p.body...)

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

// tone is slot's 20 ms of a sine in G.711 µ-law.
func tone(hz float64, slot int) []byte {
	p := make([]byte, samples)
	for k := range p {
		n := slot*samples + k
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
