package stun

import "encoding/binary"

// IsSTUN is a cheap check that b holds an RFC 5389/8489 message: the first
// byte is 0..3 (RFC 7983 §7), the magic cookie is there and the length
// field fits in b. Trailing bytes are allowed (Decode ignores them) when
// the length is a multiple of 4, as RFC 8489 §5 requires. A length that is
// not is accepted only when the message fills b exactly: WhatsApp and
// MS-TURN send such messages with an unpadded last attribute, and tshark
// counts them as STUN.
func IsSTUN(b []byte) bool {
	if len(b) < headerSize || b[0] > 3 || binary.BigEndian.Uint32(b[4:8]) != magicCookie {
		return false
	}
	end := headerSize + int(binary.BigEndian.Uint16(b[2:4]))
	if end%4 != 0 {
		return end == len(b)
	}
	return end <= len(b)
}

// IsClassicSTUN says whether b is exactly one RFC 3489 message (no magic
// cookie): a message type tshark's classicstun dissector knows (RFC 3489
// Binding and Shared Secret, the pre-RFC 5766 TURN drafts and MS-TURN's
// Allocate, Send, Data Indication and Set Active Destination), a length
// that is a multiple of 4 and accounts for every byte of b, and attributes
// that tile the body exactly.
//
// Without the cookie this is a weak signature that random data passes
// more often than anyone would like, so callers only try it on the ports
// IsClassicSTUNPort names, and only after IsSTUN said no.
func IsClassicSTUN(b []byte) bool {
	if len(b) < headerSize {
		return false
	}
	switch binary.BigEndian.Uint16(b[0:2]) {
	case 0x0001, 0x0101, 0x0111, // Binding
		0x0002, 0x0102, 0x0112, 0x1112, // Shared Secret (0x1112 as tshark has it)
		0x0003, 0x0103, 0x0113, // Allocate (TURN drafts, MS-TURN)
		0x0004, 0x0104, 0x0114, // Send
		0x0115,                 // Data Indication
		0x0006, 0x0106, 0x0116: // Set Active Destination
	default:
		return false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n%4 != 0 || headerSize+n != len(b) || binary.BigEndian.Uint32(b[4:8]) == magicCookie {
		return false
	}
	off := headerSize
	for off < len(b) {
		if len(b)-off < attrHeaderSize {
			return false
		}
		off += attrHeaderSize + (int(binary.BigEndian.Uint16(b[off+2:]))+3)&^3
	}
	return off == len(b)
}

// IsClassicSTUNPort reports whether port is one where callscope looks for
// classic RFC 3489 messages: 3478 and 3479 (STUN, and the alternate port
// of RFC 3489 §9.3 / RFC 5780), 3480 and 3481 (used by Microsoft Teams and
// Skype for Business media relays), 5349 and 5350 (STUN over TLS/DTLS and
// its alternate) and 19302 to 19309 (Google's public STUN servers).
// Classic STUN on other ports (peer-to-peer media ports) is missed on
// purpose: the signature is too weak to test every UDP payload against.
func IsClassicSTUNPort(port uint16) bool {
	switch {
	case port >= 3478 && port <= 3481, port == 5349, port == 5350:
		return true
	case port >= 19302 && port <= 19309:
		return true
	}
	return false
}

// MessageLength returns the length of the whole STUN message (20 + the
// header's length field) whose header starts b, for framing STUN over
// TCP (RFC 8489 §6.2.2). It needs the first 8 bytes (type, length, magic
// cookie) and reports false when b has fewer or they are not a STUN
// header; a caller that has fewer than 8 bytes should wait for more.
func MessageLength(b []byte) (int, bool) {
	if len(b) < 8 || b[0] > 3 {
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n%4 != 0 || binary.BigEndian.Uint32(b[4:8]) != magicCookie {
		return 0, false
	}
	return headerSize + n, true
}

// IsClassicBinding reports whether b is a classic RFC 3489 Binding message
// strict enough to be trusted on any UDP port, as peer-to-peer clients (Zoom,
// old softphones) send them between media ports. On top of IsClassicSTUN it
// wants a Binding type, at least one attribute, and only attributes of RFC
// 3489 §11.2 (plus the pre-RFC XOR-MAPPED-ADDRESS 0x8020 and SERVER 0x8022)
// with the lengths that section gives them. A bare 20-byte header would
// match too much unrelated traffic, hence the attribute requirement.
func IsClassicBinding(b []byte) bool {
	if len(b) <= headerSize || !IsClassicSTUN(b) {
		return false
	}
	switch binary.BigEndian.Uint16(b[0:2]) {
	case 0x0001, 0x0101, 0x0111:
	default:
		return false
	}
	for off := headerSize; off < len(b); {
		t := binary.BigEndian.Uint16(b[off:])
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if !classicAttrLengthOK(t, n) {
			return false
		}
		off += attrHeaderSize + (n+3)&^3
	}
	return true
}

// classicAttrLengthOK checks an attribute's length against RFC 3489 §11.2.
func classicAttrLengthOK(t uint16, n int) bool {
	switch t {
	case 0x0001, 0x0002, 0x0004, 0x0005, 0x000b, 0x8020: // addresses: IPv4 only in RFC 3489
		return n == 8
	case 0x0003: // CHANGE-REQUEST
		return n == 4
	case 0x0006, 0x0007: // USERNAME, PASSWORD: multiples of 4 (§11.2.6, §11.2.7)
		return n > 0 && n%4 == 0
	case 0x0008: // MESSAGE-INTEGRITY: HMAC-SHA1
		return n == 20
	case 0x0009: // ERROR-CODE
		return n >= 4
	case 0x000a: // UNKNOWN-ATTRIBUTES
		return n > 0 && n%2 == 0
	case 0x8022: // SERVER (draft rfc3489bis)
		return true
	}
	return false
}
