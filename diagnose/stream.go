package diagnose

import (
	"net/netip"
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

	PayloadType uint8
	Codec       string      // from a=rtpmap or the RFC 3551 static table; "" when unknown
	ClockRate   uint32      // Hz; 0 when unknown
	MediaType   string      // "audio", "video" or "" (from SDP or the payload type)
	SRTP        bool        // SDP said RTP/SAVP(F) or DTLS-SRTP, so payloads are encrypted
	Signalled   bool        // the endpoints were announced in SDP
	Call        *Call       // the call whose SDP announced it; nil when none
	Allocation  *Allocation // the TURN allocation it was relayed through; nil when none

	Packets     uint64
	Bytes       uint64 // RTP payload bytes
	First       FrameRef
	Last        FrameRef
	FirstFrames []uint64 // the first MaxFramesPerFinding frames, for evidence

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
	DSCP         [64]uint64    // packets per DSCP value
	Marker       uint64        // packets with the marker bit

	// RTCP about this stream from the far end (RR/SR report blocks whose
	// SSRC is this stream's).
	RemoteReports      int
	RemoteFractionLost float64 // the last report's fraction lost, 0-1
	RemoteCumulative   int32
	RemoteJitter       float64       // ms
	RoundTrip          time.Duration // from LSR/DLSR (RFC 3550 §6.4.1); 0 when unknown
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
	DSCP       [64]uint64
	First      FrameRef
	Last       FrameRef
	Frames     []uint64 // the first MaxFramesPerFinding
}
