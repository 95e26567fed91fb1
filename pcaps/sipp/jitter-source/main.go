// Command jitter-source writes the RTP stream that SIPp's
// play_pcap_audio replays in sip-jitter.pcap (make-sip-captures.sh):
// 3 s of a 440 Hz tone as PCMU, 150 packets of 160 bytes, timestamps
// advancing 160 a packet, whose capture times are not the sender's 20 ms
// grid but what a stalling link delivers. SIPp sends each packet at the
// time offset of its capture time and copies the RTP bytes unchanged, so
// the jitter is in the recorded capture while sequence numbers and
// timestamps stay those of a clean sender.
//
// The link alternates between passing packets as they come (for 0-40 ms)
// and stalling (for 150-350 ms), when it queues them and then releases
// them back to back, the way a congested or Wi-Fi hop does. Delivery
// stays in order, since SIPp sends in file order; independent per-packet
// delays (say ±15-40 ms) would then bunch into an RFC 3550 jitter near
// 20 ms, under the default profile's 30 ms. In order, a 20 ms packet
// arrives at most 20 ms early relative to the one before it, and
// lateness must be made up by earliness, so the jitter averages at most
// 40 ms: only stalls and bursts keep it clearly above 30 ms.
//
// Usage: go run ./pcaps/sipp/jitter-source -seed 1 -o jitter-source.pcap
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"
)

const (
	packets     = 150
	ptime       = 20 * time.Millisecond
	samples     = 160 // 8 kHz × 20 ms
	toneHz      = 440
	burstSpread = 100 * time.Microsecond // spacing of packets released together
)

// Addresses and ports are placeholders: SIPp sends from its own media
// address and port to the peer's SDP, keeping only the destination port's
// offset from the lowest one in the file (all the same here).
var (
	srcIP, dstIP     = [4]byte{10, 0, 1, 10}, [4]byte{203, 0, 113, 20}
	srcPort, dstPort = uint16(6000), uint16(6000)
)

func main() {
	seed := flag.Uint64("seed", 1, "seed of the link's stalls and the stream's SSRC, sequence and timestamp origin")
	out := flag.String("o", "jitter-source.pcap", "output pcap")
	flag.Parse()
	if err := write(*out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "jitter-source:", err)
		os.Exit(1)
	}
}

func write(path string, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x6a17))
	ssrc, seq, ts := rng.Uint32(), uint16(rng.Uint32()), rng.Uint32()
	arrivals := stallingLink(rng)

	b := make([]byte, 0, 24+packets*(16+14+20+8+12+samples))
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4) // microsecond pcap
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1) // Ethernet
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, at := range arrivals {
		frame := frame(ssrc, seq+uint16(i), ts+uint32(i*samples), i == 0, tone(i))
		t := start.Add(at)
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	return os.WriteFile(path, b, 0o644)
}

// stallingLink gives each packet's arrival: its send time (i × 20 ms)
// while the link passes traffic, the end of the stall it was caught in
// otherwise, never before the packet ahead of it.
func stallingLink(rng *rand.Rand) []time.Duration {
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo)+1)) }
	stallStart := between(0, 40*time.Millisecond)
	stallEnd := stallStart + between(150*time.Millisecond, 350*time.Millisecond)
	arrivals := make([]time.Duration, packets)
	for i := range arrivals {
		sent := time.Duration(i) * ptime
		for sent >= stallEnd {
			stallStart = stallEnd + between(0, 40*time.Millisecond)
			stallEnd = stallStart + between(150*time.Millisecond, 350*time.Millisecond)
		}
		at := sent
		if sent >= stallStart {
			at = stallEnd
		}
		if i > 0 {
			at = max(at, arrivals[i-1]+burstSpread)
		}
		arrivals[i] = at
	}
	return arrivals
}

// frame is one Ethernet/IPv4/UDP/RTP packet (PCMU, payload type 0).
func frame(ssrc uint32, seq uint16, ts uint32, marker bool, payload []byte) []byte {
	rtp := make([]byte, 12, 12+len(payload))
	rtp[0] = 0x80
	if marker { // the first packet of a talkspurt (RFC 3551 §4.1)
		rtp[1] = 0x80
	}
	binary.BigEndian.PutUint16(rtp[2:], seq)
	binary.BigEndian.PutUint32(rtp[4:], ts)
	binary.BigEndian.PutUint32(rtp[8:], ssrc)
	rtp = append(rtp, payload...)

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
	ip[1] = 46 << 2 // EF, as the capture marks it
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

// tone is packet i's 20 ms of a 440 Hz sine in G.711 µ-law.
func tone(i int) []byte {
	p := make([]byte, samples)
	for k := range p {
		n := i*samples + k
		p[k] = ulaw(int(12000 * math.Sin(2*math.Pi*toneHz*float64(n)/8000)))
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
