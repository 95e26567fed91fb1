// Package sdp reads session descriptions (RFC 8866) carried in SIP bodies:
// what callscope needs to find and judge media, never keys.
package sdp

import "net/netip"

// Session is a parsed SDP body. Strings are copies: a Session outlives the
// packet it came from.
type Session struct {
	Origin     Origin
	Connection netip.Addr // session-level c=; invalid when absent
	Media      []Media
	// ICE and DTLS at session level (RFC 8839, RFC 8122); media level
	// values, when present, are in Media.
	IceUfrag    string
	IcePwdSet   bool // a=ice-pwd present; the password itself is never kept
	Fingerprint string
	Setup       string
	Direction   string // sendrecv (default), sendonly, recvonly, inactive
}

// Origin is the o= line.
type Origin struct {
	Username    string
	SessionID   string
	Version     string
	AddressType string // IP4 or IP6
	Address     string // as written: an address or a host name
}

// Media is one m= section.
type Media struct {
	Type        string // audio, video, application, ...
	Port        uint16
	Proto       string // RTP/AVP, RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF, ...
	Formats     []string
	Connection  netip.Addr // media-level c=, or the session's
	RTPMap      map[uint8]RTPMap
	Direction   string // the media's, or the session's, or "sendrecv"
	RTCPPort    uint16 // a=rtcp; 0 when absent
	RTCPMux     bool
	Crypto      bool // a=crypto present (SDES-SRTP); keys are never kept
	IceUfrag    string
	IcePwdSet   bool
	Candidates  []Candidate
	Fingerprint string
	Setup       string
}

// RTPMap is an a=rtpmap value.
type RTPMap struct {
	Encoding  string
	ClockRate uint32
	Channels  int
}

// Candidate is an a=candidate (RFC 8839 §5.1).
type Candidate struct {
	Foundation string
	Component  int
	Transport  string
	Priority   uint32
	Addr       netip.AddrPort
	Type       string // host, srflx, prflx, relay
	Related    netip.AddrPort
}
