package diagnose

import (
	cryptotls "crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/callscope/callscope/decode/tls"
)

// TLSConnectionReport is one TLS connection or DTLS association in a
// report: who, which name, versions, the certificates shown, alerts and
// how the handshake ended.
type TLSConnectionReport struct {
	Client       string   `json:"client"`
	Server       string   `json:"server"`
	Transport    string   `json:"transport"` // "tcp" for TLS, "udp" for DTLS ("tcp" on an ICE-TCP connection)
	DTLS         bool     `json:"dtls"`
	Allocation   *int     `json:"allocation,omitempty"`  // DTLS relayed through TURN: index into allocations
	ICESession   *int     `json:"ice_session,omitempty"` // DTLS on an ICE session's selected pair: index into ice_sessions
	CallID       string   `json:"call_id,omitempty"`     // DTLS-SRTP tied to a call
	SNI          string   `json:"sni,omitempty"`         // server_name the client asked for
	ALPN         []string `json:"alpn"`                  // protocols the client offered
	ALPNSelected string   `json:"alpn_selected,omitempty"`
	// OfferedVersions are the client's, newest first as it listed them
	// ("TLS 1.3", "TLS 1.2"); Version is the one the server chose, "" when
	// no ServerHello was seen.
	OfferedVersions     []string `json:"offered_versions"`
	Version             string   `json:"version,omitempty"`
	CipherSuitesOffered int      `json:"cipher_suites_offered,omitempty"`
	CipherSuite         string   `json:"cipher_suite,omitempty"` // IANA name, "0x1301"-style when unknown
	SRTPProfilesOffered []string `json:"srtp_profiles_offered,omitempty"`
	SRTPProfile         string   `json:"srtp_profile,omitempty"` // DTLS-SRTP profile chosen (RFC 5764)
	HelloVerify         bool     `json:"hello_verify,omitempty"` // DTLS HelloVerifyRequest seen
	HelloRetry          bool     `json:"hello_retry,omitempty"`  // TLS 1.3 HelloRetryRequest seen
	// BothClientHello: both ends sent a ClientHello (a DTLS role conflict).
	BothClientHello  bool   `json:"both_client_hello,omitempty"`
	ClientHelloFrame uint64 `json:"client_hello_frame,omitempty"`
	ServerHelloFrame uint64 `json:"server_hello_frame,omitempty"`
	CertificateFrame uint64 `json:"certificate_frame,omitempty"`
	// CertificateEncrypted: TLS 1.3 or DTLS 1.3 encrypts the certificates,
	// so none can be shown.
	CertificateEncrypted bool                `json:"certificate_encrypted,omitempty"`
	Certificates         []CertificateReport `json:"certificates"`        // the server's chain, leaf first
	ClientCertificates   []CertificateReport `json:"client_certificates"` // the client's, when it sent one
	// FingerprintCheck is DTLS-SRTP against the SDP's a=fingerprint: "match",
	// "mismatch", or omitted when not checked.
	FingerprintCheck string           `json:"fingerprint_check,omitempty"`
	Alerts           []TLSAlertReport `json:"alerts"`
	// Outcome is "established", "failed" (a fatal alert during the
	// handshake) or "incomplete" (the capture shows no end of handshake).
	Outcome string   `json:"outcome"`
	First   FrameRef `json:"first"`
	Last    FrameRef `json:"last"`
}

// CertificateReport summarizes one X.509 certificate.
type CertificateReport struct {
	Subject    string    `json:"subject"` // RFC 4514 string, "CN=...,O=..."
	Issuer     string    `json:"issuer"`
	DNSNames   []string  `json:"dns_names"` // subject alternative names
	IPs        []string  `json:"ips"`
	NotBefore  time.Time `json:"not_before,omitzero"`
	NotAfter   time.Time `json:"not_after,omitzero"`
	SelfSigned bool      `json:"self_signed"`
	KeyType    string    `json:"key_type,omitempty"` // RSA, ECDSA, Ed25519
	KeyBits    int       `json:"key_bits,omitempty"`
	SHA256     string    `json:"sha256"` // of the DER, "AB:CD:..." as SDP a=fingerprint writes it
	ParseError string    `json:"parse_error,omitempty"`
}

// TLSAlertReport is one alert and who sent it.
type TLSAlertReport struct {
	Frame       uint64    `json:"frame"`
	Time        time.Time `json:"time"`
	From        string    `json:"from"`        // "client" or "server"
	Level       string    `json:"level"`       // "warning" or "fatal"
	Description string    `json:"description"` // RFC 8446 §6 name: "handshake_failure", "unknown_ca"
	Code        uint8     `json:"code"`
}

func newTLSConnectionReport(c *TLSConnection, ix reportIndexes) TLSConnectionReport {
	cr := TLSConnectionReport{
		Client: addrPortString(c.Client), Server: addrPortString(c.Server), Transport: transportString(c.Transport),
		DTLS: c.DTLS, Allocation: indexOf(ix.allocations, c.Allocation), ICESession: indexOf(ix.ice, c.ICE),
		SNI: c.SNI, ALPN: append([]string{}, c.ALPN...), ALPNSelected: c.ALPNSelected,
		OfferedVersions: []string{}, CipherSuitesOffered: c.CipherSuitesOffered,
		HelloVerify: c.HelloVerify, HelloRetry: c.HelloRetry, BothClientHello: c.BothClientHello,
		ClientHelloFrame: c.ClientHello.Frame, ServerHelloFrame: c.ServerHello.Frame, CertificateFrame: c.CertificateFrame.Frame,
		CertificateEncrypted: c.CertificateEncrypted || (len(c.Certificates) == 0 && (c.Version == tls.VersionTLS13 || c.Version == tls.VersionDTLS13)),
		Certificates:         certificateReports(c.Certificates), ClientCertificates: certificateReports(c.ClientCertificates),
		Alerts: []TLSAlertReport{}, Outcome: c.Outcome, First: utcRef(c.First), Last: utcRef(c.Last),
	}
	call := c.Call
	if call == nil && c.ICE != nil {
		call = c.ICE.Call
	}
	if call != nil {
		cr.CallID = call.CallID
	}
	for _, v := range c.OfferedVersions {
		cr.OfferedVersions = append(cr.OfferedVersions, tls.VersionName(v))
	}
	if c.Version != 0 {
		cr.Version = tls.VersionName(c.Version)
		cr.CipherSuite = cryptotls.CipherSuiteName(c.CipherSuite)
	}
	for _, p := range c.OfferedSRTPProfiles {
		cr.SRTPProfilesOffered = append(cr.SRTPProfilesOffered, tls.SRTPProfileName(p))
	}
	if c.SRTPProfile != 0 {
		cr.SRTPProfile = tls.SRTPProfileName(c.SRTPProfile)
	}
	switch {
	case c.FingerprintMismatch:
		cr.FingerprintCheck = "mismatch"
	case c.FingerprintChecked && c.FingerprintMatch:
		cr.FingerprintCheck = "match"
	}
	for _, al := range c.Alerts {
		from := "client"
		if al.FromServer {
			from = "server"
		}
		cr.Alerts = append(cr.Alerts, TLSAlertReport{Frame: al.Frame, Time: utc(al.Time), From: from,
			Level: tls.AlertLevelName(al.Level), Description: tls.AlertName(al.Description), Code: al.Description})
	}
	return cr
}

func certificateReports(chain []tls.Certificate) []CertificateReport {
	out := make([]CertificateReport, 0, len(chain))
	for _, c := range chain {
		out = append(out, CertificateReport{
			Subject: c.Subject, Issuer: c.Issuer, DNSNames: append([]string{}, c.DNSNames...), IPs: append([]string{}, c.IPs...),
			NotBefore: utc(c.NotBefore), NotAfter: utc(c.NotAfter), SelfSigned: c.SelfSigned,
			KeyType: c.KeyType, KeyBits: c.KeyBits, SHA256: colonHex(c.SHA256[:]), ParseError: c.ParseError,
		})
	}
	return out
}

// colonHex prints bytes as SDP a=fingerprint does (RFC 8122 §5):
// upper-case hex pairs joined by colons.
func colonHex(b []byte) string {
	var s strings.Builder
	s.Grow(len(b) * 3)
	for i, x := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		fmt.Fprintf(&s, "%02X", x)
	}
	return s.String()
}
