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
	"os"
	"time"

	"github.com/callscope/callscope/pcaps/sipp/rtpsource"
)

const (
	slots = 150 // 3 s of 20 ms
	ptime = 20 * time.Millisecond

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

func main() {
	name := flag.String("side", "caller", "caller or callee")
	out := flag.String("o", "dtmf-source.pcap", "output pcap")
	flag.Parse()
	sd, ok := sides[*name]
	if !ok {
		fmt.Fprintf(os.Stderr, "dtmf-source: -side %q: caller or callee\n", *name)
		os.Exit(2)
	}
	if err := os.WriteFile(*out, rtpsource.Pcap(sd.packets()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "dtmf-source:", err)
		os.Exit(1)
	}
}

func (sd side) packets() []rtpsource.Packet {
	var out []rtpsource.Packet
	marker := true // the first packet of a talkspurt
	for slot := 0; slot < slots; slot++ {
		// SIPp 3.6.1 sends the first packet at once and paces the rest
		// from 0: a file starting at 0 would send the first two back to
		// back.
		at := time.Duration(slot+1) * ptime
		ts := sd.ts + uint32(slot*rtpsource.Samples)
		if code, ok := sd.digits[slot]; ok {
			for i := range eventUpdates + eventEnds {
				duration := uint16(min(i+1, eventUpdates) * rtpsource.Samples)
				out = append(out, rtpsource.Packet{At: at + time.Duration(i)*ptime, PT: ptTelephoneEvent, Marker: i == 0, TS: ts,
					Payload: event(code, i >= eventUpdates, duration)})
			}
			slot += eventUpdates + eventEnds - 1
			continue
		}
		if sd.cn != 0 && slot == sd.cn {
			// RFC 3389 §3: one byte, the noise level in -dBov.
			out = append(out, rtpsource.Packet{At: at, PT: ptCN, TS: ts, Payload: []byte{70}})
			slot += sd.silence
			marker = true
			continue
		}
		out = append(out, rtpsource.Packet{At: at, PT: ptPCMU, Marker: marker, TS: ts, Payload: rtpsource.Tone(sd.toneHz, slot)})
		marker = false
	}
	for i := range out {
		out[i].SSRC, out[i].Seq = sd.ssrc, sd.seq+uint16(i)
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
