// Package rtp reads RTP and RTCP headers (RFC 3550) without allocating. It
// says whether bytes can be RTP; whether a flow really carries an RTP stream
// is decided over several packets by package diagnose.
package rtp

// Header is the fixed RTP header and where the payload lies.
type Header struct {
	Version     uint8
	Padding     bool
	Extension   bool
	Marker      bool
	CSRCCount   uint8
	PayloadType uint8
	Sequence    uint16
	Timestamp   uint32
	SSRC        uint32
	// HeaderLen is the length of the header with CSRCs and extension;
	// PayloadLen the payload without padding.
	HeaderLen  int
	PayloadLen int
}

// MaxReportBlocks bounds the report blocks kept per RTCP packet (RFC 3550
// allows 31).
const MaxReportBlocks = 31

// MaxPackets bounds the RTCP packets kept from one compound datagram.
const MaxPackets = 16

// ReportBlock is an RTCP reception report block (RFC 3550 §6.4.1).
type ReportBlock struct {
	SSRC           uint32
	FractionLost   uint8
	CumulativeLost int32 // 24-bit signed
	HighestSeq     uint32
	Jitter         uint32 // in RTP timestamp units
	LSR            uint32
	DLSR           uint32
}

// Packet is one RTCP packet of a compound datagram.
type Packet struct {
	Type   uint8 // 200 SR, 201 RR, 202 SDES, 203 BYE, 204 APP, 205 RTPFB, 206 PSFB, 207 XR
	Count  uint8 // RC/SC/FMT
	SSRC   uint32
	NTP    uint64 // SR: NTP timestamp
	RTPTs  uint32 // SR
	SentPk uint32 // SR: sender's packet count
	SentOc uint32 // SR: sender's octet count
	Blocks [MaxReportBlocks]ReportBlock
	NBlock int
}

// Compound is an RTCP compound datagram.
type Compound struct {
	Packets [MaxPackets]Packet
	N       int
}
