package diagnose

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RFC 8489 §9.2.2 long-term key
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"hash"

	"github.com/callscope/callscope/decode/stun"
)

// PASSWORD-ALGORITHM values (RFC 8489 §18.5).
const passwordAlgorithmSHA256 = 0x0002

// maxIntegrityKeys bounds the key cache: realms come from the capture, so a
// hostile one could name a new realm in every request.
const maxIntegrityKeys = 256

// integrityChecker verifies MESSAGE-INTEGRITY(-SHA256) of requests against
// the long-term credentials given with --turn-credentials. The HMAC is
// computed over the message bytes directly rather than through pion's
// Check, which rewrites the length field in place and appends to the
// buffer past the message: the decoder's buffers may hold more messages.
type integrityChecker struct {
	creds []Credential
	keys  map[integrityKeyID][]byte
}

// integrityKeyID names a cached key by credential index, so the cache holds
// derived keys but never a password.
type integrityKeyID struct {
	cred   int
	realm  string
	sha256 bool
}

func newIntegrityChecker(creds []Credential) *integrityChecker {
	return &integrityChecker{creds: creds, keys: make(map[integrityKeyID][]byte)}
}

// verdict checks a request. Only requests that carry integrity, a USERNAME
// and a REALM (long-term credentials, RFC 8489 §9.2) for a user we have a
// password for are checked; ICE's short-term credentials never are.
func (c *integrityChecker) verdict(m *stun.Message) IntegrityVerdict {
	if len(c.creds) == 0 || !(m.HasIntegrity || m.HasIntegritySHA256) || m.Username == "" || m.Realm == "" {
		return IntegrityNotChecked
	}
	attrs := scanAttributes(m.Raw)
	if attrs.integrity < 0 && attrs.integritySHA256 < 0 {
		return IntegrityNotChecked
	}
	// The key is MD5 or SHA-256 of username:realm:password after OpaqueString
	// (RFC 8489 §9.2.2, RFC 8265 §4.2), SASLprep under RFC 5389 §15.4 (RFC
	// 4013). Neither is implemented here; both are the identity on printable
	// ASCII, so only ASCII credentials are checked: a non-ASCII username,
	// realm or password might be prepared differently by the two ends, and
	// a mismatch would then blame a password that may be right.
	if !printableASCII(m.Username) || !printableASCII(m.Realm) {
		return IntegrityNotChecked
	}
	useSHA256Key := attrs.passwordAlgorithm == passwordAlgorithmSHA256
	checked := false
	for i, cred := range c.creds {
		if cred.Username != m.Username {
			continue
		}
		if !printableASCII(cred.Password) {
			return IntegrityNotChecked
		}
		key := c.key(i, m.Realm, useSHA256Key)
		ok, valid := checkIntegrity(m.Raw, attrs, key)
		if !valid {
			return IntegrityNotChecked
		}
		if ok {
			return IntegrityMatch
		}
		checked = true
	}
	if !checked {
		return IntegrityNotChecked
	}
	return IntegrityMismatch
}

func (c *integrityChecker) key(cred int, realm string, useSHA256 bool) []byte {
	id := integrityKeyID{cred: cred, realm: realm, sha256: useSHA256}
	if k, ok := c.keys[id]; ok {
		return k
	}
	var h hash.Hash
	if useSHA256 {
		h = sha256.New()
	} else {
		h = md5.New() //nolint:gosec
	}
	// Only ASCII credentials get here (see verdict), for which OpaqueString
	// and SASLprep change nothing.
	h.Write([]byte(c.creds[cred].Username))
	h.Write([]byte{':'})
	h.Write([]byte(realm))
	h.Write([]byte{':'})
	h.Write([]byte(c.creds[cred].Password))
	k := h.Sum(nil)
	if len(c.keys) >= maxIntegrityKeys {
		clear(c.keys)
	}
	// The realm needs no copy: the decoder's strings are fresh ones that no
	// later message overwrites (decode/stun/strings.go).
	c.keys[id] = k
	return k
}

// printableASCII tells strings that OpaqueString (RFC 8265 §4.2) and
// SASLprep (RFC 4013) leave unchanged: printable ASCII, space included
// (SASLprep maps only non-ASCII spaces, OpaqueString only those too).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// checkIntegrity computes the HMAC of MESSAGE-INTEGRITY, or when absent of
// MESSAGE-INTEGRITY-SHA256, as RFC 8489 §14.5-14.6 define it: over the
// message up to the attribute, with the header's length field counting
// the message up to and including that attribute. valid is false when the
// attribute's length is not one the RFC allows.
func checkIntegrity(raw []byte, attrs rawAttributes, key []byte) (ok, valid bool) {
	off, n := attrs.integrity, attrs.integrityLen
	newHash := sha1.New
	if off < 0 {
		off, n = attrs.integritySHA256, attrs.integritySHA256Len
		newHash = sha256.New
		if n < 16 || n > 32 || n%4 != 0 {
			return false, false
		}
	} else if n != sha1.Size {
		return false, false
	}
	var header [stunHeaderSize]byte
	copy(header[:], raw[:stunHeaderSize])
	binary.BigEndian.PutUint16(header[2:], uint16(off-stunHeaderSize+4+n))
	mac := hmac.New(newHash, key)
	mac.Write(header[:])
	mac.Write(raw[stunHeaderSize:off])
	sum := mac.Sum(nil)
	return hmac.Equal(sum[:n], raw[off+4:off+4+n]), true
}
