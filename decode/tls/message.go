// Package tls reads the clear-text parts of TLS (RFC 5246, RFC 8446) and
// DTLS (RFC 6347, RFC 9147) handshakes: hellos, certificates (TLS 1.2 and
// earlier, and DTLS 1.2), alerts. It never decrypts anything.
package tls

import "time"

// Message is what one TLS or DTLS datagram, or one run of TLS records
// completed by a TCP segment, shows. Slices are reused by the decoder and
// valid only until the next message; strings are copies.
type Message struct {
	DTLS          bool
	RecordVersion uint16  // the record layer's version field of the first record
	ContentTypes  []uint8 // per record: 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data
	// Handshakes lists handshake message types in order (RFC 8446 §4,
	// RFC 6347 §4.3.2): in TLS one per message, in the message whose
	// record completed it; in DTLS one per fragment, as on the wire (and
	// as Wireshark counts them).
	Handshakes []uint8
	// Encrypted: records that cannot be read: handshake or alert records
	// after the sender's ChangeCipherSpec or in a DTLS epoch above 0,
	// alerts longer than 2 bytes, TLS 1.3 records after the ServerHello,
	// DTLS 1.3 unified-header records.
	Encrypted bool

	ClientHello *ClientHello // nil unless this message carried one
	ServerHello *ServerHello
	// Certificates is the chain of a Certificate message, leaf first;
	// empty when none was visible (TLS 1.3 encrypts it).
	Certificates []Certificate
	Alert        *Alert

	// HelloVerify is a DTLS HelloVerifyRequest (RFC 6347 §4.2.1): the
	// server asks the client to repeat its ClientHello with the cookie.
	HelloVerify *HelloVerifyRequest
	// Ciphertexts counts DTLS 1.3 records with the unified header (RFC
	// 9147 §4), whose content type is encrypted and so not in
	// ContentTypes.
	Ciphertexts int
	// CertificatesDropped counts certificates of a chain past MaxChain.
	CertificatesDropped int
}

// HelloVerifyRequest is a DTLS server's stateless cookie exchange.
type HelloVerifyRequest struct {
	ServerVersion uint16
	CookieLen     int
}

// ClientHello is what the client offered (RFC 8446 §4.1.2).
type ClientHello struct {
	LegacyVersion     uint16
	SupportedVersions []uint16 // supported_versions extension (RFC 8446 §4.2.1)
	SNI               string   // server_name (RFC 6066 §3), host_name only
	ALPN              []string // RFC 7301
	CipherSuites      int      // how many were offered
	UseSRTP           []uint16 // DTLS-SRTP protection profiles (RFC 5764 §4.1.1)
	HasCookie         bool     // DTLS: a cookie from a HelloVerifyRequest
}

// ServerHello is what the server chose.
type ServerHello struct {
	LegacyVersion uint16
	Version       uint16 // negotiated: supported_versions when present, else LegacyVersion
	CipherSuite   uint16
	UseSRTP       uint16 // the chosen DTLS-SRTP profile; 0 when none
	ALPN          string
	// HelloRetryRequest is a ServerHello whose Random is the special value
	// of RFC 8446 §4.1.3: the server asks for another ClientHello, and
	// nothing is negotiated yet.
	HelloRetryRequest bool
}

// CertificateEncrypted reports whether the server's certificate travels
// encrypted, as in TLS 1.3 and DTLS 1.3 (RFC 8446 §4.4.2): a capture
// cannot show it.
func (s *ServerHello) CertificateEncrypted() bool {
	return s.Version == VersionTLS13 || s.Version == VersionDTLS13
}

// Certificate summarizes one X.509 certificate (crypto/x509).
type Certificate struct {
	Subject    string
	Issuer     string
	DNSNames   []string
	IPs        []string
	NotBefore  time.Time
	NotAfter   time.Time
	SelfSigned bool   // issuer == subject and the signature verifies with its own key
	KeyType    string // "RSA", "ECDSA", "Ed25519"
	KeyBits    int
	SHA256     [32]byte // of the DER, as SDP a=fingerprint:sha-256 (RFC 8122)
	ParseError string   // when the DER did not parse: what was wrong
}

// Alert is a TLS alert (RFC 8446 §6).
type Alert struct {
	Level       uint8 // 1 warning, 2 fatal
	Description uint8
}
