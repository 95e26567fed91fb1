package tls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
)

// Certificate chain limits: a chain longer than MaxChain or a certificate
// larger than MaxCertificateDER is not parsed beyond them.
const (
	MaxChain          = 10
	MaxCertificateDER = 64 << 10
)

// parseCertificates reads a Certificate message (RFC 5246 §7.4.2; RFC 8446
// §4.4.2 adds a request context and per-entry extensions) into dst.
func parseCertificates(body []byte, tls13 bool, dst []Certificate, m *Message) ([]Certificate, error) {
	s := cryptobyte.String(body)
	if tls13 {
		var context cryptobyte.String
		if !s.ReadUint8LengthPrefixed(&context) {
			return dst, errCertificates
		}
	}
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) {
		return dst, errCertificates
	}
	for !list.Empty() {
		var der cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&der) {
			return dst, errCertificates
		}
		if tls13 {
			var exts cryptobyte.String
			if !list.ReadUint16LengthPrefixed(&exts) {
				return dst, errCertificates
			}
		}
		if len(dst) >= MaxChain {
			m.CertificatesDropped++
			continue
		}
		dst = append(dst, SummarizeCertificate(der))
	}
	return dst, nil
}

// SummarizeCertificate describes a DER certificate. The SHA-256 of the DER
// is computed even when it does not parse, since it is what SDP's
// a=fingerprint compares (RFC 8122 §5).
func SummarizeCertificate(der []byte) Certificate {
	c := Certificate{SHA256: sha256.Sum256(der)}
	if len(der) > MaxCertificateDER {
		c.ParseError = "DER of " + strconv.Itoa(len(der)) + " bytes exceeds " + strconv.Itoa(MaxCertificateDER)
		return c
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		c.ParseError = err.Error()
		return c
	}
	c.Subject = distinguishedName(x.Subject.CommonName, x.Subject.String())
	c.Issuer = distinguishedName(x.Issuer.CommonName, x.Issuer.String())
	c.DNSNames = x.DNSNames
	for _, ip := range x.IPAddresses {
		c.IPs = append(c.IPs, ip.String())
	}
	c.NotBefore, c.NotAfter = x.NotBefore, x.NotAfter
	c.SelfSigned = selfSigned(x)
	switch k := x.PublicKey.(type) {
	case *rsa.PublicKey:
		c.KeyType, c.KeyBits = "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		c.KeyType, c.KeyBits = "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		c.KeyType, c.KeyBits = "Ed25519", 256
	default:
		c.KeyType = x.PublicKeyAlgorithm.String()
	}
	return c
}

func distinguishedName(cn, dn string) string {
	if cn != "" {
		return cn
	}
	return dn
}

// selfSigned reports a certificate whose issuer is its subject and whose
// signature verifies with its own key. CheckSignatureFrom is not used: it
// also demands a CA certificate, which WebRTC's self-signed certificates
// are not. A SHA-1 signature, which crypto/x509 refuses to verify, counts
// when the names match and no authority key ID points elsewhere.
func selfSigned(x *x509.Certificate) bool {
	if !bytes.Equal(x.RawIssuer, x.RawSubject) {
		return false
	}
	err := x.CheckSignature(x.SignatureAlgorithm, x.RawTBSCertificate, x.Signature)
	if err == nil {
		return true
	}
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) {
		return len(x.AuthorityKeyId) == 0 || bytes.Equal(x.AuthorityKeyId, x.SubjectKeyId)
	}
	return false
}
