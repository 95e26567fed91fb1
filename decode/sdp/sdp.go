// Package sdp reads session descriptions (RFC 8866) carried in SIP bodies:
// what callscope needs to find and judge media, never keys.
package sdp

import "net/netip"

// Session is a parsed SDP body. Strings are copies: a Session outlives the
// packet it came from. Sessions whose m= sections list the same rtpmaps
// share one Media.RTPMap table, so read it and never write it.
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

	// Defects says which lines Parse skipped and why ("line 7: m= port is
	// not a number"); at most maxDefects, never a line's content.
	Defects []string
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
	Port        uint16 // 0: the stream is rejected or disabled (RFC 3264 §6)
	NumPorts    int    // m=<media> <port>/<number of ports>; 1 when not given
	Proto       string // RTP/AVP, RTP/SAVP, RTP/SAVPF, UDP/TLS/RTP/SAVPF, ...
	Formats     []string
	Connection  netip.Addr       // media-level c=, or the session's
	RTPMap      map[uint8]RTPMap // shared with other Sessions: read-only
	Direction   string           // the media's, or the session's, or "sendrecv"
	RTCPPort    uint16           // a=rtcp; 0 when absent
	RTCPAddr    netip.Addr       // a=rtcp's address (RFC 3605); invalid when absent
	RTCPMux     bool
	Crypto      bool // a=crypto present (SDES-SRTP); keys are never kept
	IceUfrag    string
	IcePwdSet   bool
	Candidates  []Candidate
	Fingerprint string
	Setup       string
}

// RTPMap is an a=rtpmap value (RFC 8866 §6.6).
type RTPMap struct {
	Encoding  string
	ClockRate uint32
	Channels  int // audio: 1 when not given (RFC 8866 §6.6); 0 for other media
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
	TCPType    string // active, passive, so (RFC 6544); empty for UDP
	// Hostname is the connection address when it is not an IP address,
	// such as an mDNS ".local" name (RFC 8839 §5.1 allows an FQDN); Addr
	// then holds only the port.
	Hostname string
}
