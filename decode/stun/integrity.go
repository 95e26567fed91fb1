package stun

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"  //nolint:gosec // RFC 8489 §9.2.2 defines the MD5 key
	"crypto/sha1" //nolint:gosec // RFC 8489 §14.5 defines HMAC-SHA1
	"crypto/sha256"
	"encoding/binary"
	"hash"
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
	return longTermKey(md5.New(), username, realm, password) //nolint:gosec
}

// LongTermKeySHA256 is LongTermKeyMD5 for PASSWORD-ALGORITHM SHA-256
// (RFC 8489 §9.2.2, §18.5.1.2).
func LongTermKeySHA256(username, realm, password string) []byte {
	return longTermKey(sha256.New(), username, realm, password)
}

func longTermKey(h hash.Hash, username, realm, password string) []byte {
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
// MS-TURN 32-byte MESSAGE-INTEGRITY, or a Message not filled by Decode.
// It reads Raw without changing it, so it must run before the packet
// buffer is reused. Checking again with the same key allocates nothing.
func (m *Message) CheckIntegrity(key []byte) (checked, ok bool) {
	switch {
	case m.Classic:
		return false, false
	case m.HasIntegrity:
		// A 32-byte MESSAGE-INTEGRITY is MS-TURN's HMAC-SHA256, keyed in
		// a way [MS-TURN] defines and this package does not implement.
		return m.checkHMAC(key, m.integrityAt, false, sha1.Size, sha1.Size)
	case m.HasIntegritySHA256:
		// §14.6: the value may be the leading 16 to 32 bytes of the HMAC.
		return m.checkHMAC(key, m.sha256At, true, 16, sha256.Size)
	}
	return false, false
}

// checkHMAC checks the integrity attribute at offset at, whose value must
// be minLen to maxLen bytes, against the HMAC of the bytes before it.
func (m *Message) checkHMAC(key []byte, at int, useSHA256 bool, minLen, maxLen int) (checked, ok bool) {
	raw := m.Raw
	if m.state == nil || at < headerSize || at+attrHeaderSize > len(raw) {
		return false, false
	}
	n := int(binary.BigEndian.Uint16(raw[at+2:]))
	if n < minLen || n > maxLen || at+attrHeaderSize+n > len(raw) {
		return false, false
	}
	sent := raw[at+attrHeaderSize : at+attrHeaderSize+n]

	c := &m.state.mac
	header := c.header[:] // not on the stack: it would escape through hash.Hash
	copy(header, raw[:headerSize])
	binary.BigEndian.PutUint16(header[2:], uint16(at+attrHeaderSize+n-headerSize))
	mac := c.hmac(key, useSHA256)
	mac.Write(header)
	mac.Write(raw[headerSize:at])
	sum := mac.Sum(c.sum[:0])
	return true, hmac.Equal(sum[:n], sent)
}

// macCache keeps the HMAC of the last key used, so that checking message
// after message with the same credentials allocates nothing: hmac.New
// allocates its hashes and pads.
type macCache struct {
	key       []byte
	useSHA256 bool
	h         hash.Hash
	header    [headerSize]byte
	sum       [sha256.Size]byte
}

func (c *macCache) hmac(key []byte, useSHA256 bool) hash.Hash {
	if c.h != nil && c.useSHA256 == useSHA256 && bytes.Equal(c.key, key) {
		c.h.Reset()
		return c.h
	}
	newHash := sha1.New
	if useSHA256 {
		newHash = sha256.New
	}
	c.key = append(c.key[:0], key...)
	c.useSHA256 = useSHA256
	c.h = hmac.New(newHash, c.key)
	return c.h
}
