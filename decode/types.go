// Package decode turns capture records into typed messages: link, IP and
// transport headers, IP defragmentation, TCP reassembly and the application
// protocols callscope understands: STUN/TURN and TURN ChannelData, SIP with
// its SDP bodies, RTP and RTCP, TLS and DTLS handshakes, and the ICMP
// errors that quote any of them.
//
// A Decoder reads one capture: give it the records in order (Decode), and
// it calls back with each Message it completes; Flush at the end gives up
// what reassembly still holds. A Decoder is used from one goroutine; two
// Decoders share nothing.
//
// decode keeps no cross-packet state beyond what reassembly needs: it says
// what a packet is, never what it means for a call or an allocation (that is
// package diagnose).
package decode

import (
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/decode/tls"
)

// Transport is the layer-4 protocol a message travelled on.
type Transport uint8

const (
	UDP Transport = iota + 1
	TCP
)

func (t Transport) String() string {
	switch t {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	}
	return "unknown"
}

// Packet says where and when a message was seen. For a message carried over
// TCP it is the frame in which the message became complete, as Wireshark
// attributes reassembled PDUs.
type Packet struct {
	Frame     uint64 // 1-based record number across all input files, as Wireshark numbers frames
	Time      time.Time
	Src, Dst  netip.AddrPort
	Transport Transport
	DSCP      uint8 // from the innermost IP header
	// Direction and Interface say where on the capturing host the packet
	// was seen, when the link layer tells: the Linux cooked headers of
	// `tcpdump -i any` (LINUX_SLL gives the direction, LINUX_SLL2 also
	// the interface index). A router or firewall captured that way shows
	// each packet it forwards twice, arriving on one interface and leaving
	// on another, on the same 5-tuple when it does no NAT: the two are one
	// packet seen at two points, not a duplicate its sender sent. Zero
	// when unknown. Placed here, they fit in what was padding: Packet is
	// no larger for them.
	Direction Direction
	Interface uint32 // the interface index (ifindex) on the capturing host; 0 when unknown
}

// Direction is which way a packet crossed the interface it was captured
// on, as the capturing host saw it.
type Direction uint8

const (
	DirectionUnknown Direction = iota
	// Arriving: received on the interface (Linux packet types
	// PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST and
	// PACKET_OTHERHOST), including what the host forwards.
	Arriving
	// Leaving: sent on the interface (PACKET_OUTGOING), whether the host
	// made it or forwards it.
	Leaving
)

func (d Direction) String() string {
	switch d {
	case Arriving:
		return "arriving"
	case Leaving:
		return "leaving"
	}
	return ""
}

// directionOfPacketType maps a Linux cooked header's packet type
// (linux/if_packet.h; the same values in LINUX_SLL and LINUX_SLL2) to a
// Direction.
func directionOfPacketType(t uint16) Direction {
	switch {
	case t <= 3: // PACKET_HOST, _BROADCAST, _MULTICAST, _OTHERHOST
		return Arriving
	case t == 4: // PACKET_OUTGOING
		return Leaving
	}
	return DirectionUnknown // PACKET_LOOPBACK, _USER, _KERNEL: not a crossing of the wire
}

// Kind tells which of Message's payload fields is set.
type Kind uint8

const (
	KindSTUN        Kind = iota + 1 // Message.STUN
	KindChannelData                 // Message.Channel
	KindICMPError                   // Message.ICMP
	KindSIP                         // Message.SIP
	// KindRTP is a UDP datagram whose bytes parse as an RTP header (RFC 3550
	// §5.1) and that RFC 7983 / RFC 5761 §4 demultiplexing leaves to RTP, or
	// such an RFC 4571 frame of an ICE-TCP connection (RFC 6544 §3, one that
	// began with a STUN check), then with Transport TCP. Whether the flow
	// really carries a stream is decided in diagnose, over several packets
	// or from SDP.
	KindRTP // Message.RTP
	// KindRTCP is a compound RTCP datagram that parsed cleanly
	// (Message.RTCP), or SRTCP (RFC 3711 §3.4), whose packets after the
	// first are encrypted: Message.SRTCP is then set instead, with what
	// the clear header and the trailer show (rtp.ParseSRTCP).
	KindRTCP
	// KindTLS is TLS over TCP (any port, recognized by the record header)
	// and KindDTLS DTLS over UDP (RFC 7983 first byte 20-63), or in an RFC
	// 4571 frame of an ICE-TCP connection, one frame being one datagram. TLS
	// application data is emitted only for the first record of each
	// direction of a connection (enough to tell the handshake completed);
	// every DTLS datagram or frame is emitted.
	KindTLS  // Message.TLS
	KindDTLS // Message.TLS
	// KindSIPKeepAlive is a UDP datagram that is exactly a CRLF keep-alive,
	// "\r\n\r\n" or "\r\n" (RFC 5626 §3.5.1 defines them for
	// connection-oriented transports; phones and PBXs send them over UDP
	// too, to keep a NAT binding open), on a flow that looks like SIP: port
	// 5060 at either end, or an end that carried SIP over UDP recently (see
	// Options.MaxSIPEndpoints). No payload field is set; Payload holds the
	// CRLFs. Over TCP it is a double-CRLF ping or a single-CRLF pong
	// between SIP messages (RFC 5626 §4.4.1), told from the CRLFs RFC 3261
	// §7.5 lets precede a message as sip_stream_keepalive.go says, with the
	// frame of the segment that completed it.
	KindSIPKeepAlive
)

// Message is one decoded protocol message. Decoder reuses Message and the
// buffers it points to: a consumer that keeps anything must copy it before
// the emit callback returns.
type Message struct {
	Packet
	Kind    Kind
	STUN    *stun.Message
	Channel ChannelData
	ICMP    ICMPError
	SIP     *sip.Message
	RTP     rtp.Header
	RTCP    *rtp.Compound
	SRTCP   *rtp.SRTCP
	TLS     *tls.Message
	// Fragments is set on a SIP message over UDP whose datagram was
	// reassembled from IP fragments (RFC 791 §3.2, RFC 8200 §4.5), nil
	// when it came whole; other kinds leave it nil.
	Fragments *Fragments
	// Payload is the transport payload of the datagram (UDP) or the framed
	// message (TCP: without its RFC 4571 length) the message came from.
	Payload []byte
}

// Fragments describes the IP fragments a reassembled datagram came in.
type Fragments struct {
	Count  int      // fragments that made the datagram, exact duplicates left out
	Frames []uint64 // their frames in arrival order, the first MaxFragmentFrames
}

// FragmentLoss counts the IP datagrams of one flow whose reassembly never
// completed: some of their fragments did not reach the capture point. A
// firewall, NAT or load balancer that drops IP fragments usually drops
// those after the first, so a capture beside the receiver shows first
// fragments only.
type FragmentLoss struct {
	// The ports are the first fragment's UDP or TCP header's; zero for
	// datagrams whose first fragment never arrived (WithoutFirst), which
	// are counted apart.
	Src, Dst     netip.AddrPort
	Protocol     uint8 // the IP protocol of the payload: 17 for UDP
	WithoutFirst bool
	Datagrams    uint64 // given up
	Fragments    uint64 // the fragments they had
	// Size is the first datagram's length, transport header included, as
	// its UDP header or its last fragment tells it; 0 when neither came.
	Size int
	// Head is the start of the first datagram's UDP payload, at most
	// MaxFragmentLossHead bytes of its first fragment: a SIP request line
	// and headers, usually.
	Head []byte
	// When the first fragment to arrive of the first and of the last of
	// the datagrams did.
	First, Last time.Time
	// Frames are the fragments' frames, the first MaxListedFrames.
	Frames []uint64
}

// ChannelData is a TURN ChannelData message (RFC 8656 §12.4).
type ChannelData struct {
	Number  uint16
	Length  uint16 // the Length field: application data only, without padding
	Payload []byte // the application data, Length bytes
	// IsRTP says that Payload is RTP (first byte 128-191, second byte
	// not an RTCP packet type, RFC 7983 §7 and RFC 5761 §4), with RTP
	// its header.
	IsRTP bool
	RTP   rtp.Header
}

// ICMPError is an ICMP or ICMPv6 error that quotes a UDP or TCP packet we
// may have seen. The quoted packet is not a message of its own (RFC 792,
// RFC 4443 §2.4(c)): it is described here and never emitted separately.
type ICMPError struct {
	V6          bool
	Type, Code  uint8
	Unreachable bool   // destination unreachable (any code)
	Description string // e.g. "port unreachable", "administratively prohibited"
	// The quoted packet's header fields: the flow the error belongs to.
	QuotedSrc, QuotedDst netip.AddrPort
	QuotedTransport      Transport
	// QuotedPayload is as much of the quoted transport payload as the error
	// carried; often enough to hold a STUN header and its transaction ID.
	QuotedPayload []byte
}
