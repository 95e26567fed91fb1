package decode

// Stats counts what the decoder saw and what it understood of it.
type Stats struct {
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"` // captured bytes
	UDP         uint64 `json:"udp"`
	TCP         uint64 `json:"tcp"`
	IPv6        uint64 `json:"ipv6"`
	Fragments   uint64 `json:"ip_fragments"`
	Reassembled uint64 `json:"ip_reassembled"`
	// FragmentsDropped counts datagrams given up: timed out, evicted by a
	// limit, overlapping (RFC 5722) or inconsistent, or unfinished at Flush.
	FragmentsDropped uint64 `json:"ip_datagrams_dropped"`
	// FragmentLoss lists, per flow, the datagrams of FragmentsDropped that
	// timed out or were unfinished at Flush: fragments that never reached
	// the capture point. The first MaxFragmentLossFlows flows.
	FragmentLoss     []FragmentLoss    `json:"-"`
	Truncated        uint64            `json:"truncated"` // snaplen-cut or too short for their headers
	NotIP            uint64            `json:"not_ip"`
	UnknownLinkTypes map[uint16]uint64 `json:"unknown_link_types,omitempty"` // LINKTYPE_ value -> packets
	STUN             uint64            `json:"stun_messages"`
	ClassicSTUN      uint64            `json:"classic_stun_messages"`
	ChannelData      uint64            `json:"channel_data"`
	ICMPErrors       uint64            `json:"icmp_errors"`
	SIP              uint64            `json:"sip_messages"`
	// SIPKeepAlives counts KindSIPKeepAlive messages, over UDP and TCP
	// (not in SIP). Zero is
	// left out of the JSON, so reports of captures without any are as
	// they were before it was counted.
	SIPKeepAlives uint64 `json:"sip_keepalives,omitempty"`
	// RTP counts datagrams and ICE-TCP frames that parse as RTP (KindRTP):
	// not a count of media. RTCP counts compound RTCP datagrams and frames.
	RTP  uint64 `json:"rtp_packets"`
	RTCP uint64 `json:"rtcp_packets"`
	// SRTCP counts datagrams and frames shaped like SRTCP (RFC 3711 §3.4): a
	// first RTCP packet in the clear, the rest encrypted (rtp.ParseSRTCP).
	// They are not in RTCP.
	SRTCP uint64 `json:"srtcp_packets"`
	// TLS counts KindTLS messages (TCP segments that completed records
	// worth reading) and TLSRecords the records they held; DTLS and
	// DTLSRecords the same for datagrams. Certificates counts certificates
	// read from Certificate messages of either. An ICE-TCP frame counts
	// as a datagram (RFC 6544 §3).
	TLS          uint64 `json:"tls_messages"`
	TLSRecords   uint64 `json:"tls_records"`
	DTLS         uint64 `json:"dtls_messages"`
	DTLSRecords  uint64 `json:"dtls_records"`
	Certificates uint64 `json:"certificates"`
	Malformed    uint64 `json:"malformed"`
	// MalformedFrames lists the first MaxListedFrames frames that held a
	// message callscope recognized but could not decode.
	MalformedFrames []uint64 `json:"malformed_frames,omitempty"`
	TCPStreams      uint64   `json:"tcp_streams"`
	TCPGaps         uint64   `json:"tcp_gaps"` // missing data skipped in reassembled streams
	// TCPEvicted counts directions of TCP connections that dropped what
	// they had buffered to keep all streams within Options.MaxTCPBytes;
	// each is also a gap.
	TCPEvicted uint64 `json:"tcp_evicted"`
}

// MaxListedFrames bounds frame lists kept in Stats.
const MaxListedFrames = 50
