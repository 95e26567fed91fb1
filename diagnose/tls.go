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

	// From the ClientHello: how many cipher suites, and the DTLS-SRTP
	// profiles offered (RFC 5764 §4.1.1). GREASE values (RFC 8701) are left
	// out of OfferedVersions.
	CipherSuitesOffered int
	OfferedSRTPProfiles []uint16
	// ALPNSelected is the protocol the ServerHello chose ("" when none).
	ALPNSelected string
	// HelloVerify: a DTLS HelloVerifyRequest (RFC 6347 §4.2.1) was seen;
	// HelloRetry: a TLS 1.3 HelloRetryRequest (RFC 8446 §4.1.4).
	HelloVerify, HelloRetry bool
	// BothClientHello: both ends sent a ClientHello, so both acted as the
	// client - a DTLS-SRTP role conflict (the SDP a=setup negotiation of
	// RFC 5763 §5 / RFC 4145 left both sides active). ServerClientHello is
	// the Server's first ClientHello.
	BothClientHello   bool
	ServerClientHello FrameRef
	// CertificateEncrypted: the negotiated version (TLS 1.3, DTLS 1.3)
	// encrypts the certificates, so Certificates is empty by design.
	CertificateEncrypted bool
	// Established is the message that proved the handshake over; zero
	// unless Outcome is "established".
	Established FrameRef
	// FailedBy is the fatal alert that failed the handshake; zero unless
	// Outcome is "failed".
	FailedBy TLSAlert

	// ICE is the session whose selected pair carried this DTLS (the same
	// two addresses), else an earlier nominated or succeeded pair of it
	// (renomination); nil when none.
	ICE *ICESession
	// DTLS-SRTP against the call's SDP a=fingerprint (RFC 8122 §5, RFC 5763
	// §5): each side's leaf certificate must hash to a sha-256 fingerprint
	// its SDP announced. FingerprintChecked: a Call with sha-256
	// fingerprints and a leaf certificate were both seen. Then
	// FingerprintMatch (every leaf seen matched) or FingerprintMismatch
	// (some leaf matched none; FingerprintMismatchFromServer says whose).
	// SDPFingerprints are the call's sha-256 fingerprints as written
	// (upper-case hex with colons), the first MaxFramesPerFinding.
	FingerprintChecked            bool
	FingerprintMatch              bool
	FingerprintMismatch           bool
	FingerprintMismatchFromServer bool
	SDPFingerprints               []string
}

// TLSAlert is an alert and who sent it.
type TLSAlert struct {
	FrameRef
	FromServer  bool
	Level       uint8
	Description uint8
}
