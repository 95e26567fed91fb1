package diagnose

import (
	"net/netip"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/tls"
)

// TLSConnection is one TLS connection (over TCP) or DTLS association (over
// UDP, possibly inside TURN) and what its handshake showed.
type TLSConnection struct {
	Client, Server netip.AddrPort
	Transport      decode.Transport
	DTLS           bool
	Allocation     *Allocation // DTLS relayed through TURN

	SNI             string
	ALPN            []string
	OfferedVersions []uint16 // the ClientHello's supported_versions, or its legacy version
	Version         uint16   // negotiated; 0 when no ServerHello was seen
	CipherSuite     uint16
	SRTPProfile     uint16 // DTLS-SRTP (RFC 5764); 0 when none

	ClientHello FrameRef
	ServerHello FrameRef
	// Certificates are the server's chain, leaf first (TLS <= 1.2 and DTLS
	// 1.2 only: TLS 1.3 encrypts them). ClientCertificates likewise.
	Certificates       []tls.Certificate
	ClientCertificates []tls.Certificate
	CertificateFrame   FrameRef

	Alerts []TLSAlert

	// Outcome is "established" (application data after the handshake, or
	// Finished seen), "failed" (a fatal alert during the handshake),
	// "incomplete" (the capture shows no end of handshake).
	Outcome string
	First   FrameRef
	Last    FrameRef
	Call    *Call // DTLS-SRTP tied to a call through SDP a=fingerprint
}

// TLSAlert is an alert and who sent it.
type TLSAlert struct {
	FrameRef
	FromServer  bool
	Level       uint8
	Description uint8
}
