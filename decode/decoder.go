package decode

import (
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/internal/packettime"
)

// Options bounds the state a Decoder keeps. A zero field takes its default.
// Every limit is enforced by evicting the oldest state, never by failing.
type Options struct {
	// IP reassembly (RFC 791 §3.2, RFC 8200 §4.5).
	MaxFragDatagrams int           // datagrams being reassembled at once; default 1024
	MaxFragBytes     int           // bytes buffered for all of them; default 8 MiB
	FragTimeout      time.Duration // since a datagram's first fragment, by packet time; default 30 s

	// TCP reassembly. MaxTCPBytes bounds what all connections buffer
	// together, which MaxTCPStreams × 2 directions × 2 × MaxStreamBytes
	// (frame tail and out-of-order segments) would put at 1 GiB; past it
	// the connections idle longest drop what they hold (Stats.TCPEvicted).
	MaxTCPStreams  int           // connections tracked; default 4096
	MaxStreamBytes int           // bytes buffered per direction; default 64 KiB
	MaxTCPBytes    int           // bytes buffered by all connections; default 32 MiB
	TCPIdleTimeout time.Duration // a connection silent this long is forgotten; default 5 min

	// Classification state: endpoints that carried STUN, which make a
	// ChannelData guess believable on their flows.
	MaxSTUNEndpoints int           // default 8192
	STUNEndpointTTL  time.Duration // default 15 min (TURN channels live 10, RFC 8656 §12)
	// Endpoints that carried SIP over UDP, which make a bare CRLF datagram
	// on their flows a keep-alive (KindSIPKeepAlive) off port 5060. A
	// keep-alive renews its ends, so a phone that keeps its binding open
	// stays known between registrations.
	MaxSIPEndpoints int           // default 8192
	SIPEndpointTTL  time.Duration // default 1 h (RFC 3261 §10.2.1.1's default registration)

	// DTLS associations (UDP 5-tuples and ICE-TCP connections that
	// carried DTLS), kept to reassemble handshake messages fragmented
	// across datagrams; an association silent for TCPIdleTimeout is
	// forgotten.
	MaxDTLSAssociations int // default 1024
	MaxDTLSBytes        int // fragments buffered by all of them; default 8 MiB
}

func (o Options) withDefaults() Options {
	if o.MaxFragDatagrams <= 0 {
		o.MaxFragDatagrams = 1024
	}
	if o.MaxFragBytes <= 0 {
		o.MaxFragBytes = 8 << 20
	}
	if o.FragTimeout <= 0 {
		o.FragTimeout = 30 * time.Second
	}
	if o.MaxTCPStreams <= 0 {
		o.MaxTCPStreams = 4096
	}
	if o.MaxStreamBytes <= 0 {
		o.MaxStreamBytes = 64 << 10
	}
	if o.MaxTCPBytes <= 0 {
		o.MaxTCPBytes = 32 << 20
	}
	if o.TCPIdleTimeout <= 0 {
		o.TCPIdleTimeout = 5 * time.Minute
	}
	if o.MaxSTUNEndpoints <= 0 {
		o.MaxSTUNEndpoints = 8192
	}
	if o.STUNEndpointTTL <= 0 {
		o.STUNEndpointTTL = 15 * time.Minute
	}
	if o.MaxSIPEndpoints <= 0 {
		o.MaxSIPEndpoints = 8192
	}
	if o.SIPEndpointTTL <= 0 {
		o.SIPEndpointTTL = time.Hour
	}
	if o.MaxDTLSAssociations <= 0 {
		o.MaxDTLSAssociations = 1024
	}
	if o.MaxDTLSBytes <= 0 {
		o.MaxDTLSBytes = 8 << 20
	}
	return o
}

// Decoder decodes capture records into Messages. It holds the state that
// reassembly needs (IP fragments, TCP streams) and, as classification state,
// a bounded set of endpoints that carried STUN. A Decoder is not safe for
// concurrent use.
//
// A second such set holds the endpoints that carried SIP over UDP, for
// CRLF keep-alives.
//
// Headers are parsed by hand rather than with gopacket's DecodingLayerParser:
// the same few bounds-checked reads serve the outer packet and the packet an
// ICMP error quotes (cut short on purpose, which layers rejects), truncated
// packets still yield what they hold, and the UDP path allocates nothing.
type Decoder struct {
	opts      Options
	stats     Stats
	frags     defragmenter
	tcp       tcpTable
	endpoints endpointSet
	// sipEndpoints: transport addresses that carried SIP over UDP, or a
	// keep-alive (emitSIPKeepAlive).
	sipEndpoints endpointSet
	// sipPair and sipPairAt: the two ends sipEndpoints last renewed and
	// when. A transaction's or dialog's messages come and go between the
	// same two, and renewing them more often than sipRenewal changes no
	// keep-alive's fate.
	sipPair   [2]netip.AddrPort
	sipPairAt time.Time
	dtls      dtlsTable

	// Per-packet scratch, reset by Decode.
	pkt       Packet
	truncated bool
	ipCut     int // bytes of the IP packet the snaplen cut off
	sawIPv6   bool
	sawUDP    bool
	sawTCP    bool
	msg       Message
	rtpMsg    Message // DecodeMedia's, which holds RTP only
	// channelMsg holds ChannelData only: setting its four fields is
	// cheaper than clearing the 400-odd bytes of msg.
	channelMsg Message
	stunMsg    stun.Message
	sipMsg     sip.Message
	rtcp       rtp.Compound
	srtcp      rtp.SRTCP
	tlsParser  tls.Parser
	tlsMsg     tls.Message
	tcpCur     *tcpConn // the connection of the segment being framed
	// reassembled describes the fragments of the datagram being decoded;
	// nil when it came whole.
	reassembled *Fragments
}

// NewDecoder returns a Decoder with default limits.
func NewDecoder() *Decoder { return NewDecoderWithOptions(Options{}) }

// NewDecoderWithOptions returns a Decoder with the given limits.
func NewDecoderWithOptions(o Options) *Decoder {
	o = o.withDefaults()
	d := &Decoder{opts: o}
	d.frags.init(o)
	d.tcp.init(o)
	d.endpoints.init(o.MaxSTUNEndpoints, o.STUNEndpointTTL)
	d.sipEndpoints.init(o.MaxSIPEndpoints, o.SIPEndpointTTL)
	d.dtls.init(o)
	return d
}

// Decode decodes one record and calls emit for every message it completes:
// none, one, or several (a TCP segment may finish several STUN messages).
// The Message passed to emit is reused after emit returns.
func (d *Decoder) Decode(rec *capture.Record, emit func(*Message)) {
	d.stats.Packets++
	d.stats.Bytes += uint64(len(rec.Data))
	d.pkt = Packet{Frame: rec.Frame, Time: rec.Time}
	d.truncated = rec.OrigLen > len(rec.Data)
	d.ipCut = 0
	d.sawIPv6, d.sawUDP, d.sawTCP = false, false, false

	d.frags.expire(rec.Time, &d.stats)
	d.tcp.expire(rec.Time)
	d.dtls.expire(rec.Time)

	d.link(rec.LinkType, rec.Data, emit)

	if d.truncated {
		d.stats.Truncated++
	}
	if d.sawIPv6 {
		d.stats.IPv6++
	}
	if d.sawUDP {
		d.stats.UDP++
	}
	if d.sawTCP {
		d.stats.TCP++
	}
}

// Flush ends the capture: TCP streams give up what they hold, fragment
// buffers are dropped and counted.
func (d *Decoder) Flush(emit func(*Message)) {
	d.tcp.flush(d, emit)
	d.frags.dropAll(&d.stats)
}

// Stats returns the counters so far. The returned value shares nothing
// with the Decoder.
func (d *Decoder) Stats() Stats {
	s := d.stats
	if s.UnknownLinkTypes != nil {
		s.UnknownLinkTypes = make(map[uint16]uint64, len(d.stats.UnknownLinkTypes))
		for k, v := range d.stats.UnknownLinkTypes {
			s.UnknownLinkTypes[k] = v
		}
	}
	s.MalformedFrames = append([]uint64(nil), d.stats.MalformedFrames...)
	if d.stats.FragmentLoss != nil {
		s.FragmentLoss = make([]FragmentLoss, len(d.stats.FragmentLoss))
		for i, l := range d.stats.FragmentLoss {
			l.Head = append([]byte(nil), l.Head...)
			l.Frames = append([]uint64(nil), l.Frames...)
			s.FragmentLoss[i] = l
		}
	}
	return s
}

// malformed records a message callscope recognized but could not decode.
func (d *Decoder) malformed() {
	d.stats.Malformed++
	if len(d.stats.MalformedFrames) < MaxListedFrames {
		d.stats.MalformedFrames = append(d.stats.MalformedFrames, d.pkt.Frame)
	}
}

// emitSTUN decodes b, which passed a STUN signature check, and emits it.
// A message whose header decoded but whose body did not is still emitted,
// as Wireshark still shows it, and counted as malformed.
func (d *Decoder) emitSTUN(b []byte, emit func(*Message)) {
	m := &d.stunMsg
	if err := m.Decode(b); err != nil {
		d.malformed()
		if !m.HeaderOK {
			return
		}
	}
	if m.Classic {
		d.stats.ClassicSTUN++
	} else {
		d.stats.STUN++
	}
	d.endpoints.addPair(d.pkt.Src, d.pkt.Dst, d.pkt.Time)
	d.msg = Message{Packet: d.pkt, Kind: KindSTUN, STUN: m, Payload: b}
	emit(&d.msg)
}

// emitChannelData emits a ChannelData message (RFC 8656 §12.4) if b holds
// a plausible one.
func (d *Decoder) emitChannelData(b []byte, overTCP bool, emit func(*Message)) bool {
	m := &d.channelMsg
	if !parseChannelData(b, overTCP, &m.Channel) {
		return false
	}
	d.stats.ChannelData++
	m.Packet = d.pkt
	m.Kind = KindChannelData
	m.Payload = b
	emit(m)
	return true
}

// parseChannelData parses a ChannelData message and, when its application
// data is RTP, the RTP header.
func parseChannelData(b []byte, overTCP bool, c *ChannelData) bool {
	number, length, payload, ok := stun.ParseChannelData(b, overTCP)
	if !ok {
		return false
	}
	*c = ChannelData{Number: number, Length: length, Payload: payload}
	// As for a datagram (RFC 7983 §7, RFC 5761 §4): 128-191 and not an
	// RTCP packet type.
	c.IsRTP = len(payload) >= 2 && payload[0]>>6 == 2 && !rtp.IsRTCPType(payload[1]) &&
		rtp.ParseHeader(payload, &c.RTP)
	return true
}

// emitSIP parses b, which passed sip.LooksLikeSIP, and emits it. A message
// whose start line does not parse is counted as malformed and skipped; one
// with defects further on is emitted, as Wireshark still shows it, and
// diagnose can read sip.Message.Defects.
func (d *Decoder) emitSIP(b []byte, emit func(*Message)) {
	m := &d.sipMsg
	if err := m.Parse(b); err != nil {
		d.malformed()
		return
	}
	d.stats.SIP++
	d.msg = Message{Packet: d.pkt, Kind: KindSIP, SIP: m, Payload: b}
	if d.pkt.Transport == UDP {
		d.msg.Fragments = d.reassembled
		d.sipSeen(d.pkt.Src, d.pkt.Dst, d.pkt.Time)
	}
	emit(&d.msg)
}

// sipRenewal is how often sipSeen renews the same two endpoints at most:
// a small part of SIPEndpointTTL's default hour (and a quarter of a
// shorter one).
const sipRenewal = time.Minute

// sipSeen renews src and dst in sipEndpoints, unless they are the pair it
// renewed last, less than sipRenewal ago: two map writes cost a fifth of
// decoding a SIP message.
func (d *Decoder) sipSeen(src, dst netip.AddrPort, now time.Time) {
	p := &d.sipPair
	if p[0] == src && p[1] == dst || p[0] == dst && p[1] == src {
		if since := packettime.Sub(now, d.sipPairAt); since >= 0 && since < min(sipRenewal, d.opts.SIPEndpointTTL/4) {
			return
		}
	}
	d.sipEndpoints.add(src, now)
	d.sipEndpoints.add(dst, now)
	*p, d.sipPairAt = [2]netip.AddrPort{src, dst}, now
}

// sipPort is SIP's registered port (RFC 3261 §18.1.1), where tshark's SIP
// dissector claims UDP by port.
const sipPort = 5060

// emitSIPKeepAlive emits b, a datagram that is exactly a CRLF keep-alive
// (sip.KeepAliveLength), when its flow looks like SIP: port 5060 at either
// end, or an end that carried SIP over UDP within SIPEndpointTTL. On
// other flows two or four bytes of CRLF are nobody's protocol callscope
// knows, and neither end of a well-known non-SIP service (DNS, NTP, ...)
// is believed. tshark 4.0 shows these datagrams as "Data", even on 5060:
// its SIP dissector wants a start line.
func (d *Decoder) emitSIPKeepAlive(b []byte, sp, dp uint16, emit func(*Message)) {
	if isNonMediaPort(sp) || isNonMediaPort(dp) {
		return
	}
	src, dst, now := d.pkt.Src, d.pkt.Dst, d.pkt.Time
	if sp != sipPort && dp != sipPort && !d.sipEndpoints.has(src, now) && !d.sipEndpoints.has(dst, now) {
		return
	}
	d.sipSeen(src, dst, now)
	d.stats.SIPKeepAlives++
	d.msg = Message{Packet: d.pkt, Kind: KindSIPKeepAlive, Payload: b}
	emit(&d.msg)
}

// emitMedia classifies a datagram, or an ICE-TCP frame, whose first byte
// is 128-191 (RFC 7983 §7: RTP or RTCP). A second byte of 192-223 is RTCP
// (RFC 5761 §4): such a datagram is emitted as RTCP when the compound
// parses, or as SRTCP when it is shaped like it, and never as RTP, since
// RTP with the marker bit and a payload type of 64-95 is reserved
// precisely so that the two cannot be confused.
func (d *Decoder) emitMedia(b []byte, emit func(*Message)) {
	if len(b) < 2 {
		return
	}
	if rtp.IsRTCPType(b[1]) {
		if !rtp.ParseRTCP(b, &d.rtcp) {
			d.emitSRTCP(b, emit)
			return
		}
		d.stats.RTCP++
		d.msg = Message{Packet: d.pkt, Kind: KindRTCP, RTCP: &d.rtcp, Payload: b}
		emit(&d.msg)
		return
	}
	d.msg = Message{Packet: d.pkt, Kind: KindRTP, Payload: b}
	if !rtp.ParseHeader(b, &d.msg.RTP) {
		return
	}
	d.stats.RTP++
	emit(&d.msg)
}

// emitSRTCP emits b, an RTCP-range datagram that is not a compound RTCP
// datagram, as SRTCP if it is shaped like it, with what SRTCP leaves in
// the clear. The compound of unencrypted SRTCP (E flag clear), which
// ParseSRTCP checks, is not reported: the flag's place is a guess from the
// length (an MKI moves it), and a wrong guess would make report blocks of
// ciphertext. A datagram the snaplen cut is not judged: SRTCP is
// recognized by its length. An ICE-TCP frame is whole whatever the
// snaplen did to the segment that completed it: a cut makes a hole that
// the frames after it fall into (tcpSegment).
func (d *Decoder) emitSRTCP(b []byte, emit func(*Message)) {
	if d.truncated && d.pkt.Transport != TCP || !rtp.ParseSRTCP(b, &d.srtcp, &d.rtcp) {
		return
	}
	d.stats.SRTCP++
	d.msg = Message{Packet: d.pkt, Kind: KindRTCP, SRTCP: &d.srtcp, Payload: b}
	emit(&d.msg)
}
