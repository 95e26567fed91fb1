package diagnose

import "encoding/binary"

// Attribute types read straight from a message's bytes: the stun package
// does not keep their offsets or the DATA value, and correlation needs
// only their positions and lengths.
const (
	attrMessageIntegrity       = 0x0008
	attrData                   = 0x0013
	attrMessageIntegritySHA256 = 0x001c
	attrPasswordAlgorithm      = 0x001d

	stunHeaderSize = 20
	stunCookie     = 0x2112a442
)

// rawAttributes holds what scanAttributes found. Offsets point at the
// attribute header; -1 when the attribute is absent.
type rawAttributes struct {
	integrity, integrityLen             int
	integritySHA256, integritySHA256Len int
	passwordAlgorithm                   uint16 // 0 when absent
	dataLen                             int    // DATA value length, -1 when absent
}

// scanAttributes walks the attributes of a STUN message (RFC 8489 §14:
// type, length, value padded to 4 bytes). It stops at the first attribute
// that overruns the message, so a cut or hostile message yields what came
// before it.
func scanAttributes(raw []byte) rawAttributes {
	r := rawAttributes{integrity: -1, integritySHA256: -1, dataLen: -1}
	if len(raw) < stunHeaderSize {
		return r
	}
	end := stunHeaderSize + int(binary.BigEndian.Uint16(raw[2:4]))
	if end > len(raw) {
		end = len(raw)
	}
	for off := stunHeaderSize; off+4 <= end; {
		typ := binary.BigEndian.Uint16(raw[off:])
		n := int(binary.BigEndian.Uint16(raw[off+2:]))
		if off+4+n > end {
			break
		}
		switch typ {
		case attrMessageIntegrity:
			if r.integrity < 0 {
				r.integrity, r.integrityLen = off, n
			}
		case attrMessageIntegritySHA256:
			if r.integritySHA256 < 0 {
				r.integritySHA256, r.integritySHA256Len = off, n
			}
		case attrPasswordAlgorithm:
			if n >= 2 && r.passwordAlgorithm == 0 {
				r.passwordAlgorithm = binary.BigEndian.Uint16(raw[off+4:])
			}
		case attrData:
			if r.dataLen < 0 {
				r.dataLen = n
			}
		}
		off += 4 + (n+3)&^3
	}
	return r
}

// dataLength is the length of the DATA attribute of a Send or Data
// indication (RFC 8656 §14.4), 0 when absent.
func dataLength(raw []byte) int {
	if n := scanAttributes(raw).dataLen; n > 0 {
		return n
	}
	return 0
}
