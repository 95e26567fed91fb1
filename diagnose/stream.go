package diagnose

import (
	"fmt"
	"iter"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
)

// Stream is one RTP stream: a 5-tuple and an SSRC (RFC 3550 §3), as
// Wireshark's RTP Streams. RTP relayed through TURN is a stream of its own
// whose addresses are the outer (client-to-server) ones, with Allocation set.
type Stream struct {
	Src, Dst  netip.AddrPort
	Transport decode.Transport
	SSRC      uint32
	// Direction and Interface say where on the capturing host the
	// stream's packets were seen, when the capture tells (decode.Packet:
	// tcpdump -i any); zero otherwise. They are part of the stream's
	// identity: a capture on a router that forwards without NAT shows one
	// stream twice on one 5-tuple and SSRC, arriving on one interface and
	// leaving on another, and each copy is a Stream of its own.
	Direction decode.Direction
	Interface uint32

	// The bytes together, so that a Stream fits a smaller size class of
	// the allocator (448 bytes, not 480): an Analysis keeps every stream.
	PayloadType uint8
	SRTP        bool        // SDP said RTP/SAVP(F) or DTLS-SRTP, so payloads are encrypted
	Signalled   bool        // the endpoints were announced in SDP
	Codec       string      // from a=rtpmap or the RFC 3551 static table; "" when unknown
	ClockRate   uint32      // Hz; 0 when unknown
	MediaType   string      // "audio", "video" or "" (from SDP or the payload type)
	Call        *Call       // the call whose SDP announced it; nil when none
	Allocation  *Allocation // the TURN allocation it was relayed through; nil when none

	Packets     uint64
	Bytes       uint64 // RTP payload bytes
	First       FrameRef
	Last        FrameRef
	FirstFrames []uint64 // the first MaxFramesPerFinding frames, for evidence
	// FirstSeq and FirstTimestamp are the RTP sequence number and
	// timestamp of the First packet. Together with the SSRC they identify
	// the same packets seen at two points of one capture (both sides of a
	// NAT or router): a box forwarding RTP does not change them.
	FirstSeq       uint16
	FirstTimestamp uint32

	// RFC 3550 Appendix A.1/A.3 accounting.
	Expected     uint64 // extended highest sequence - base + 1
	Lost         int64  // Expected - received; negative with duplicates
	Duplicates   uint64
	Reordered    uint64 // packets older than the highest seen
	LossBursts   int    // runs of consecutive lost packets
	MaxLossBurst int
	Jitter       float64       // RFC 3550 §6.4.1 interarrival jitter at the end, ms
	MaxJitter    float64       // ms
	MaxDelta     time.Duration // largest gap between consecutive packets
	DSCP         DSCPCounts    // packets per DSCP value
	Marker       uint64        // packets with the marker bit

	// PayloadTypes counts the stream's packets per payload type when it
	// carried more than one (RFC 4733 telephone-event, RFC 3389 comfort
	// noise, a codec switch): PayloadType first, then the others in the
	// order they first appeared, at most MaxStreamPayloadTypes of them
	// (packets of any further type are in Packets only). Nil when every
	// packet carried PayloadType.
	PayloadTypes []PayloadTypeCount

	// RTCP about this stream from the far end (RR/SR report blocks whose
	// SSRC is this stream's).
	RemoteReports      int
	RemoteFractionLost float64 // the last report's fraction lost, 0-1
	RemoteCumulative   int32
	RemoteJitter       float64       // ms
	RoundTrip          time.Duration // from LSR/DLSR (RFC 3550 §6.4.1); 0 when unknown

	// SRTCPPackets counts the SRTCP datagrams (RFC 3711 §3.4) this
	// stream's source sent: their clear header names the stream's SSRC as
	// the sender, and they went its way (correlate_media_rtcp.go). What
	// they report is encrypted.
	SRTCPPackets uint64

	// ICMP counts the ICMP unreachable errors its packets drew
	// (correlate_icmp.go); nil when none did.
	ICMP *StreamICMP
}

// MaxStreamPayloadTypes bounds the payload types a stream counts
// separately (Stream.PayloadTypes).
const MaxStreamPayloadTypes = 6

// PayloadTypeCount is how many packets of a stream carried one payload
// type, and the first of them.
type PayloadTypeCount struct {
	PayloadType uint8
	Packets     uint64
	First       FrameRef
}

// CapturePoint says where on the capturing host the stream was seen, as
// reports word it: "arriving on interface 2", "leaving on interface 3",
// "arriving" when the capture gives no interface; "" when it tells
// nothing (any capture but a Linux cooked one).
func (s *Stream) CapturePoint() string { return capturePointString(s.Direction.String(), s.Interface) }

func capturePointString(direction string, ifindex uint32) string {
	where := direction
	if ifindex != 0 {
		if where != "" {
			where += " "
		}
		where += "on interface " + strconv.FormatUint(uint64(ifindex), 10)
	}
	return where
}

// LossPercent is the share of expected packets that never arrived.
func (s *Stream) LossPercent() float64 {
	if s.Expected == 0 || s.Lost <= 0 {
		return 0
	}
	return 100 * float64(s.Lost) / float64(s.Expected)
}

// Flow is a signalling or media 5-tuple with its DSCP marks, for the DSCP
// and port-policy rules: SIP flows, and media flows (RTP streams are
// summarized per Stream as well).
type Flow struct {
	Src, Dst  netip.AddrPort
	Transport decode.Transport
	Class     string // "sip", "audio", "video", "stun"
	// Allocation is the TURN allocation the flow's media was relayed
	// through: Src and Dst are then the client and the TURN server.
	Allocation *Allocation
	Packets    uint64
	DSCP       DSCPCounts
	First      FrameRef
	Last       FrameRef
	Frames     []uint64 // the first MaxFramesPerFinding
}

// DSCPCounts counts packets per DSCP value (0-63). An Analysis keeps a
// Flow or Stream for every one the capture held, and nearly all of them
// carry one or two marks: those are counted inline, and only a third
// value costs a table of all 64. The zero value counts nothing. Copies
// share that table: add to one copy only.
type DSCPCounts struct {
	values  [2]uint8
	packets [2]uint64   // 0 for a slot not taken yet
	more    *[64]uint64 // values beyond the two inline ones
}

// Add counts n more packets marked v; a v outside 0-63 is ignored.
func (d *DSCPCounts) Add(v int, n uint64) {
	if n == 0 || uint(v) > 63 {
		return
	}
	for i := range d.values {
		if d.packets[i] == 0 {
			d.values[i], d.packets[i] = uint8(v), n
			return
		}
		if int(d.values[i]) == v {
			d.packets[i] += n
			return
		}
	}
	if d.more == nil {
		d.more = new([64]uint64)
	}
	d.more[v] += n
}

// AddAll adds o's counts to d's.
func (d *DSCPCounts) AddAll(o *DSCPCounts) {
	for v, n := range o.All() {
		d.Add(v, n)
	}
}

// Packets is the count of packets marked v.
func (d *DSCPCounts) Packets(v int) uint64 {
	if uint(v) > 63 {
		return 0
	}
	for i := range d.values {
		if d.packets[i] != 0 && int(d.values[i]) == v {
			return d.packets[i]
		}
	}
	if d.more != nil {
		return d.more[v]
	}
	return 0
}

// Total is the count of packets of every value.
func (d *DSCPCounts) Total() uint64 {
	total := d.packets[0] + d.packets[1]
	if d.more != nil {
		for _, n := range d.more {
			total += n
		}
	}
	return total
}

// All yields each value marking some packets and its count, in ascending
// order of value.
func (d *DSCPCounts) All() iter.Seq2[int, uint64] {
	return func(yield func(int, uint64) bool) {
		if d.more != nil {
			for v := range 64 {
				if n := d.Packets(v); n > 0 && !yield(v, n) {
					return
				}
			}
			return
		}
		a, b := 0, 1
		if d.packets[1] != 0 && d.values[1] < d.values[0] {
			a, b = 1, 0
		}
		for _, i := range [2]int{a, b} {
			if d.packets[i] != 0 && !yield(int(d.values[i]), d.packets[i]) {
				return
			}
		}
	}
}

// Equal says whether d and o count the same packets per value, however
// they were added.
func (d *DSCPCounts) Equal(o *DSCPCounts) bool {
	for v := range 64 {
		if d.Packets(v) != o.Packets(v) {
			return false
		}
	}
	return true
}

// String lists the counts as "46:150 0:3", in ascending order of value.
func (d DSCPCounts) String() string {
	var b strings.Builder
	for v, n := range d.All() {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%d", v, n)
	}
	return b.String()
}
