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
	Handshakes    []uint8 // handshake message types in order (RFC 8446 §4, RFC 6347 §4.3.2)
	Encrypted     bool    // handshake records that cannot be read (TLS 1.3 after ServerHello, or after ChangeCipherSpec)

	ClientHello *ClientHello // nil unless this message carried one
	ServerHello *ServerHello
	// Certificates is the chain of a Certificate message, leaf first;
	// empty when none was visible (TLS 1.3 encrypts it).
	Certificates []Certificate
	Alert        *Alert
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
