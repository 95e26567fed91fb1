package stun

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RFC 8489 §9.2.2 defines the MD5 key
	"crypto/sha256"
	"encoding/binary"
	"errors"

	pionstun "github.com/pion/stun/v3"
)

// The key helpers do not apply SASLprep (RFC 4013) or OpaqueString
// (RFC 8265) to their inputs, which RFC 8489 §9.2.2 and §9.1.1 call for:
// credentials given on the command line are used as typed. For ASCII
// passwords without odd spaces or control characters the result is the
// same.

// LongTermKeyMD5 returns the long-term credential key of RFC 8489 §9.2.2
// with the MD5 password algorithm (the only one before RFC 8489):
// MD5(username ":" realm ":" password).
func LongTermKeyMD5(username, realm, password string) []byte {
	h := md5.New() //nolint:gosec
	h.Write([]byte(username))
	h.Write([]byte{':'})
	h.Write([]byte(realm))
	h.Write([]byte{':'})
	h.Write([]byte(password))
	return h.Sum(nil)
}

// LongTermKeySHA256 is LongTermKeyMD5 for PASSWORD-ALGORITHM SHA-256
// (RFC 8489 §9.2.2, §18.5.1.2).
func LongTermKeySHA256(username, realm, password string) []byte {
	h := sha256.New()
	h.Write([]byte(username))
	h.Write([]byte{':'})
	h.Write([]byte(realm))
	h.Write([]byte{':'})
	h.Write([]byte(password))
	return h.Sum(nil)
}

// ShortTermKey returns the short-term credential key of RFC 8489 §9.1.1
// (ICE connectivity checks use it with the peer's ice-pwd): the password
// itself.
func ShortTermKey(password string) []byte { return []byte(password) }

// CheckIntegrity verifies the message's integrity with key (from
// LongTermKeyMD5, LongTermKeySHA256 or ShortTermKey). It checks
// MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) when present, otherwise
// MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, §14.6, possibly truncated). The
// HMAC covers the message up to the integrity attribute with the header
// length counting up to the end of that attribute, so a FINGERPRINT after
// it is left out.
//
// checked is false when there is nothing to check: no integrity
// attribute, a classic RFC 3489 message (whose HMAC rules differ), an
// MS-TURN 32-byte MESSAGE-INTEGRITY, or attributes that could not be
// framed. It works on m.Pion's copy of the message, so it may run after
// the packet buffer was reused, until the next Decode.
func (m *Message) CheckIntegrity(key []byte) (checked, ok bool) {
	switch {
	case m.Classic:
		return false, false
	case m.HasIntegrity:
		// A 32-byte MESSAGE-INTEGRITY is MS-TURN's HMAC-SHA256, keyed in
		// a way [MS-TURN] defines and this package does not implement.
		if m.Pion == nil || binary.BigEndian.Uint16(m.Pion.Raw[m.integrityAt+2:]) != 20 {
			return false, false
		}
		err := pionstun.MessageIntegrity(key).Check(m.Pion)
		if err == nil {
			return true, true
		}
		return errors.Is(err, pionstun.ErrIntegrityMismatch), false
	case m.HasIntegritySHA256:
		return m.checkSHA256(key)
	}
	return false, false
}

func (m *Message) checkSHA256(key []byte) (checked, ok bool) {
	if m.Pion == nil {
		return false, false
	}
	raw, at := m.Pion.Raw, m.sha256At // the copy: the packet may be gone
	if at < headerSize || at+attrHeaderSize > len(raw) {
		return false, false
	}
	n := int(binary.BigEndian.Uint16(raw[at+2:]))
	if at+attrHeaderSize+n > len(raw) {
		return false, false
	}
	sent := raw[at+attrHeaderSize : at+attrHeaderSize+n]

	var header [headerSize]byte
	copy(header[:], raw[:headerSize])
	binary.BigEndian.PutUint16(header[2:], uint16(at+attrHeaderSize+n-headerSize))
	mac := hmac.New(sha256.New, key)
	mac.Write(header[:])
	mac.Write(raw[headerSize:at])
	sum := mac.Sum(nil)
	// §14.6: the value may be the leading 16 to 32 bytes of the HMAC.
	return true, hmac.Equal(sum[:len(sent)], sent)
}
