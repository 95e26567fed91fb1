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
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/callscope/callscope/pcaps/sipp/rtpsource"
)

const (
	packets     = 150
	ptime       = 20 * time.Millisecond
	toneHz      = 440
	burstSpread = 100 * time.Microsecond // spacing of packets released together
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

	pkts := make([]rtpsource.Packet, len(arrivals))
	for i, at := range arrivals {
		pkts[i] = rtpsource.Packet{At: at, SSRC: ssrc, Seq: seq + uint16(i), TS: ts + uint32(i*rtpsource.Samples),
			Marker: i == 0, Payload: rtpsource.Tone(toneHz, i)}
	}
	return os.WriteFile(path, rtpsource.Pcap(pkts), 0o644)
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
