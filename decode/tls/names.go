package tls

import "strconv"

// Record content types (RFC 8446 §5.1, RFC 6520, RFC 9146, RFC 9147 §4).
const (
	ContentChangeCipherSpec = 20
	ContentAlert            = 21
	ContentHandshake        = 22
	ContentApplicationData  = 23
	ContentHeartbeat        = 24
	ContentTLS12CID         = 25
	ContentACK              = 26
)

// Handshake message types (RFC 8446 §4, RFC 6347 §4.3.2, RFC 5246 §7.4).
const (
	HandshakeHelloRequest       = 0
	HandshakeClientHello        = 1
	HandshakeServerHello        = 2
	HandshakeHelloVerifyRequest = 3
	HandshakeNewSessionTicket   = 4
	HandshakeCertificate        = 11
	HandshakeServerKeyExchange  = 12
	HandshakeCertificateRequest = 13
	HandshakeServerHelloDone    = 14
	HandshakeCertificateVerify  = 15
	HandshakeClientKeyExchange  = 16
	HandshakeFinished           = 20
)

// Protocol versions as they appear on the wire.
const (
	VersionSSL30  = 0x0300
	VersionTLS10  = 0x0301
	VersionTLS11  = 0x0302
	VersionTLS12  = 0x0303
	VersionTLS13  = 0x0304
	VersionDTLS10 = 0xfeff
	VersionDTLS12 = 0xfefd
	VersionDTLS13 = 0xfefc
	// VersionDTLSBad is the version OpenSSL before 0.9.8f sent for DTLS 1.0
	// (DTLS1_BAD_VER), still seen from old Cisco AnyConnect gear.
	VersionDTLSBad = 0x0100
)

// Alert levels (RFC 5246 §7.2).
const (
	AlertWarning = 1
	AlertFatal   = 2
)

// VersionName names a protocol version: "TLS 1.2", "DTLS 1.2", "GREASE"
// for the reserved values of RFC 8701, else the hex value.
func VersionName(v uint16) string {
	if s := knownVersionName(v); s != "" {
		return s
	}
	return hex16(v)
}

func knownVersionName(v uint16) string {
	switch v {
	case VersionSSL30:
		return "SSL 3.0"
	case VersionTLS10:
		return "TLS 1.0"
	case VersionTLS11:
		return "TLS 1.1"
	case VersionTLS12:
		return "TLS 1.2"
	case VersionTLS13:
		return "TLS 1.3"
	case VersionDTLS10, VersionDTLSBad:
		return "DTLS 1.0"
	case VersionDTLS12:
		return "DTLS 1.2"
	case VersionDTLS13:
		return "DTLS 1.3"
	}
	if IsGREASE(v) {
		return "GREASE"
	}
	return ""
}

// IsGREASE reports the reserved values of RFC 8701 §2 (0x0A0A, 0x1A1A, …),
// which clients offer so that servers learn to ignore unknown values.
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// Legacy reports versions older than TLS 1.2 / DTLS 1.2 (RFC 8996
// deprecates TLS 1.0, TLS 1.1 and DTLS 1.0).
func Legacy(v uint16) bool {
	switch v {
	case VersionSSL30, VersionTLS10, VersionTLS11, VersionDTLS10, VersionDTLSBad:
		return true
	}
	return false
}

func hex16(v uint16) string {
	const digits = "0123456789abcdef"
	return string([]byte{'0', 'x', digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf]})
}

// AlertName names an alert description with the identifiers of RFC 8446
// §6 (and of RFC 5246 §7.2 for the values TLS 1.3 reserves).
func AlertName(desc uint8) string {
	if s := alertNames[desc]; s != "" {
		return s
	}
	return "alert_" + strconv.Itoa(int(desc))
}

var alertNames = [256]string{
	0:   "close_notify",
	10:  "unexpected_message",
	20:  "bad_record_mac",
	21:  "decryption_failed",
	22:  "record_overflow",
	30:  "decompression_failure",
	40:  "handshake_failure",
	41:  "no_certificate",
	42:  "bad_certificate",
	43:  "unsupported_certificate",
	44:  "certificate_revoked",
	45:  "certificate_expired",
	46:  "certificate_unknown",
	47:  "illegal_parameter",
	48:  "unknown_ca",
	49:  "access_denied",
	50:  "decode_error",
	51:  "decrypt_error",
	60:  "export_restriction",
	70:  "protocol_version",
	71:  "insufficient_security",
	80:  "internal_error",
	86:  "inappropriate_fallback",
	90:  "user_canceled",
	100: "no_renegotiation",
	109: "missing_extension",
	110: "unsupported_extension",
	111: "certificate_unobtainable",
	112: "unrecognized_name",
	113: "bad_certificate_status_response",
	114: "bad_certificate_hash_value",
	115: "unknown_psk_identity",
	116: "certificate_required",
	120: "no_application_protocol",
}

// AlertLevelName names an alert level: "warning", "fatal".
func AlertLevelName(level uint8) string {
	switch level {
	case AlertWarning:
		return "warning"
	case AlertFatal:
		return "fatal"
	}
	return "level_" + strconv.Itoa(int(level))
}

// SRTPProfileName names a DTLS-SRTP protection profile (RFC 5764 §4.1.2,
// RFC 7714 §14.2).
func SRTPProfileName(p uint16) string {
	switch p {
	case 0x0001:
		return "SRTP_AES128_CM_HMAC_SHA1_80"
	case 0x0002:
		return "SRTP_AES128_CM_HMAC_SHA1_32"
	case 0x0005:
		return "SRTP_NULL_HMAC_SHA1_80"
	case 0x0006:
		return "SRTP_NULL_HMAC_SHA1_32"
	case 0x0007:
		return "SRTP_AEAD_AES_128_GCM"
	case 0x0008:
		return "SRTP_AEAD_AES_256_GCM"
	}
	return hex16(p)
}

// AppendVersionName appends VersionName(v) without allocating.
func AppendVersionName(dst []byte, v uint16) []byte {
	if s := knownVersionName(v); s != "" {
		return append(dst, s...)
	}
	const digits = "0123456789abcdef"
	return append(dst, '0', 'x', digits[v>>12], digits[v>>8&0xf], digits[v>>4&0xf], digits[v&0xf])
}

// AppendAlertName appends AlertName(desc) without allocating.
func AppendAlertName(dst []byte, desc uint8) []byte {
	if s := alertNames[desc]; s != "" {
		return append(dst, s...)
	}
	return strconv.AppendUint(append(dst, "alert_"...), uint64(desc), 10)
}
