package stun

import (
	"encoding/binary"
	"net/netip"

	pionstun "github.com/pion/stun/v3"
)

const (
	headerSize     = 20
	attrHeaderSize = 4
	magicCookie    = 0x2112A442
)

// Decode parses b as a STUN message (RFC 8489 §5, or RFC 3489 when there is
// no magic cookie), resetting m. b is one whole message: a UDP payload or a
// message framed out of a TCP stream. Bytes after the length the header
// announces are ignored.
//
// The error is an *Error that says what was wrong and where. After a
// non-nil error, Type, Method, Class, Classic, Cookie, Length and
// Transaction are valid if m.HeaderOK is true, so the caller can still
// count the message by method and class as tshark does. When the error is
// about one attribute's value (a short ERROR-CODE, an unknown address
// family), the other attributes are still decoded; when an attribute's
// length overruns the message, decoding stops there (Attributes ends with
// that attribute).
//
// Two deviations from RFC 8489 that real clients send are decoded rather
// than refused: a length that is not a multiple of 4 with an unpadded last
// attribute (WhatsApp; decoded, and reported as an error as tshark flags
// it) and MS-TURN's unpadded attributes (recognised by its MAGIC-COOKIE
// attribute; no error).
//
// m keeps pointers into b (Raw, Data); strings are copies.
func (m *Message) Decode(b []byte) error {
	m.reset()
	if len(b) < headerSize {
		return headerError(0, "message is "+itoa(len(b))+" bytes, shorter than the 20-byte header")
	}
	t := binary.BigEndian.Uint16(b[0:2])
	if t&0xC000 != 0 {
		// RFC 8489 §6 and RFC 7983: the two leading bits of every STUN
		// message are zero.
		return headerError(0, "type 0x"+hex16(t)+" has a leading bit set: not a STUN message")
	}
	m.Type = t
	m.Length = binary.BigEndian.Uint16(b[2:4])
	m.Cookie = binary.BigEndian.Uint32(b[4:8])
	m.Classic = m.Cookie != magicCookie
	copy(m.Transaction[:], b[8:headerSize])
	m.Method, m.Class = splitType(t, m.Classic)
	m.HeaderOK = true

	end := headerSize + int(m.Length)
	if end > len(b) {
		m.Raw = b
		return headerError(2, "length "+itoa(int(m.Length))+" overruns the "+itoa(len(b)-headerSize)+
			" bytes that follow the header")
	}
	m.Raw = b[:end]

	firstErr, framed := m.walk(true)
	unpadded := false
	if !framed && m.isMSTURN() {
		// MS-TURN ([MS-TURN] §2.2.2) does not pad attribute values; tshark
		// gives up on such messages, but they frame cleanly unpadded.
		m.resetAttributes()
		if err, ok := m.walk(false); ok {
			firstErr, framed, unpadded = err, ok, true
		} else {
			m.resetAttributes()
			firstErr, _ = m.walk(true)
		}
	}
	if m.Length%4 != 0 && !unpadded {
		// RFC 8489 §5 requires a multiple of 4, yet WhatsApp and MS-TURN
		// clients send messages whose last attribute is unpadded. tshark
		// decodes them and flags them malformed; so do we, with every
		// attribute decoded and the error to say so.
		return orFirst(firstErr, headerError(2, "length "+itoa(int(m.Length))+" is not a multiple of 4"))
	}
	return firstErr
}

// reset clears m for the next message, keeping its buffers. Zeroing the
// struct in place and then restoring what is kept is a single memclr;
// building the value in a composite literal costs a zeroing and a copy of
// the whole struct.
func (m *Message) reset() {
	attrs, peers, st := m.Attributes[:0], m.XORPeerAddresses[:0], m.state
	if st == nil {
		st = new(messageState)
	}
	*m = Message{}
	m.Attributes, m.XORPeerAddresses, m.state = attrs, peers, st
}

// splitType undoes RFC 8489 §5's interleaving of method and class bits.
// Classic messages share the layout for Binding and Shared Secret, but
// some types of the pre-RFC 5766 TURN drafts that MS-TURN still sends do
// not fit it: 0x0115 is a Data Indication and 0x0004/0x0104/0x0114 are Send
// (not Refresh). Set Active Destination (0x0006...) has no modern method
// and keeps the number the layout gives.
func splitType(t uint16, classic bool) (Method, Class) {
	if classic {
		switch t {
		case 0x0115:
			return MethodData, ClassIndication
		case 0x0004:
			return MethodSend, ClassRequest
		case 0x0104:
			return MethodSend, ClassSuccess
		case 0x0114:
			return MethodSend, ClassError
		case 0x1112: // tshark's value for the Shared Secret Error Response
			return MethodSharedSecret, ClassError
		}
	}
	method := t&0x000F | t&0x00E0>>1 | t&0x3E00>>2
	class := t>>4&1 | t>>7&2
	return Method(method), Class(class)
}

// msTURNCookie is the value of MS-TURN's MAGIC-COOKIE attribute, which
// MS-TURN puts first in every message ([MS-TURN] §2.2.2.6).
const msTURNCookie = 0x72C64BC6

func (m *Message) isMSTURN() bool {
	b := m.Raw
	return len(b) >= headerSize+8 && binary.BigEndian.Uint32(b[headerSize:]) == 0x000F0004 &&
		binary.BigEndian.Uint32(b[headerSize+4:]) == msTURNCookie
}

// resetAttributes undoes a walk, so the message can be walked again.
func (m *Message) resetAttributes() {
	keep := *m
	m.reset()
	m.HeaderOK, m.Raw, m.Type, m.Length = keep.HeaderOK, keep.Raw, keep.Type, keep.Length
	m.Method, m.Class, m.Classic, m.Cookie, m.Transaction = keep.Method, keep.Class, keep.Classic, keep.Cookie, keep.Transaction
}

// walk frames the attributes and decodes the ones callscope uses. framed
// is false when an attribute's length overran the message. padded is
// false only for MS-TURN.
func (m *Message) walk(padded bool) (firstErr error, framed bool) {
	b := m.Raw
	var seen seenSet
	for off := headerSize; off < len(b); {
		if len(b)-off < attrHeaderSize {
			return orFirst(firstErr, headerError(off, "attribute header cut short: "+itoa(len(b)-off)+" bytes left")), false
		}
		at := pionstun.AttrType(binary.BigEndian.Uint16(b[off:]))
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		m.Attributes = append(m.Attributes, at)
		start := off + attrHeaderSize
		next := start + (n+3)&^3
		if !padded {
			next = start + n
		}
		if next > len(b) && start+n == len(b) && len(b)%4 != 0 {
			next = len(b) // an unpadded last attribute; Decode reports the length
		}
		if next > len(b) {
			return orFirst(firstErr, attrError(at, off, "length "+itoa(n)+" overruns the message ("+
				itoa(len(b)-start)+" bytes left)")), false
		}
		v := b[start : start+n]
		var err error
		if m.Classic {
			err = m.classicAttr(at, v, off, &seen)
		} else {
			err = m.attr(at, v, off, &seen)
		}
		firstErr = orFirst(firstErr, err)
		off = next
	}
	return firstErr, true
}

func orFirst(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// seenSet remembers which single-valued attributes were already taken, so
// the first occurrence wins.
type seenSet uint64

func (s *seenSet) first(bit uint) bool {
	if *s&(1<<bit) != 0 {
		return false
	}
	*s |= 1 << bit
	return true
}

const (
	seenUsername = iota
	seenRealm
	seenNonce
	seenSoftware
	seenErrorCode
	seenMapped
	seenXORMapped
	seenXORRelayed
	seenResponseOrigin
	seenOtherAddress
	seenAlternate
	seenLifetime
	seenTransport
	seenChannel
	seenIntegrity
	seenIntegritySHA256
	seenFingerprint
	seenPriority
	seenIce
	seenData
	seenPasswordAlgorithm
)

// Attribute types callscope decodes that pion/stun has no constant for.
const (
	attrXORMappedAddressMS pionstun.AttrType = 0x8020 // draft rfc3489bis-02, MS-TURN
)

func (m *Message) attr(t pionstun.AttrType, v []byte, off int, seen *seenSet) error {
	switch t {
	case pionstun.AttrUsername:
		if seen.first(seenUsername) {
			m.Username = m.state.strings.get(slotUsername, v)
		}
	case pionstun.AttrRealm:
		if seen.first(seenRealm) {
			m.Realm = m.state.strings.get(slotRealm, v)
		}
	case pionstun.AttrNonce:
		if seen.first(seenNonce) {
			m.Nonce = m.state.strings.get(slotNonce, v)
		}
	case pionstun.AttrSoftware:
		if seen.first(seenSoftware) {
			m.Software = m.state.strings.get(slotSoftware, v)
		}
	case pionstun.AttrErrorCode:
		if seen.first(seenErrorCode) {
			return m.errorCode(v, off)
		}
	case pionstun.AttrMappedAddress:
		if seen.first(seenMapped) {
			return m.address(t, v, off, false, &m.MappedAddress)
		}
	case pionstun.AttrXORMappedAddress, attrXORMappedAddressMS:
		if seen.first(seenXORMapped) {
			return m.address(t, v, off, true, &m.XORMappedAddress)
		}
	case pionstun.AttrXORRelayedAddress:
		// RFC 8656 §7.2 allows a second one for a dual-stack allocation;
		// the first is the one a single-family client asked for.
		if seen.first(seenXORRelayed) {
			return m.address(t, v, off, true, &m.XORRelayedAddress)
		}
	case pionstun.AttrXORPeerAddress:
		var a netip.AddrPort
		if err := m.address(t, v, off, true, &a); err != nil {
			return err
		}
		m.XORPeerAddresses = append(m.XORPeerAddresses, a)
	case pionstun.AttrResponseOrigin:
		if seen.first(seenResponseOrigin) {
			return m.address(t, v, off, false, &m.ResponseOrigin)
		}
	case pionstun.AttrOtherAddress:
		if seen.first(seenOtherAddress) {
			return m.address(t, v, off, false, &m.OtherAddress)
		}
	case pionstun.AttrAlternateServer:
		if seen.first(seenAlternate) {
			return m.address(t, v, off, false, &m.AlternateServer)
		}
	case pionstun.AttrLifetime:
		if seen.first(seenLifetime) {
			if len(v) != 4 {
				return sizeError(t, off, len(v), 4)
			}
			m.HasLifetime, m.Lifetime = true, binary.BigEndian.Uint32(v)
		}
	case pionstun.AttrRequestedTransport:
		if seen.first(seenTransport) {
			if len(v) != 4 {
				return sizeError(t, off, len(v), 4)
			}
			m.RequestedTransport = v[0]
		}
	case pionstun.AttrChannelNumber:
		if seen.first(seenChannel) {
			if len(v) != 4 {
				return sizeError(t, off, len(v), 4)
			}
			m.HasChannelNumber, m.ChannelNumber = true, binary.BigEndian.Uint16(v)
		}
	case pionstun.AttrMessageIntegrity:
		if seen.first(seenIntegrity) {
			// MS-TURN version 3 and later sends a 32-byte HMAC-SHA256 here.
			if len(v) != 20 && len(v) != 32 {
				return attrError(t, off, "value is "+itoa(len(v))+" bytes, want 20 (or 32 for MS-TURN)")
			}
			m.HasIntegrity, m.integrityAt = true, off
		}
	case pionstun.AttrMessageIntegritySHA256:
		if seen.first(seenIntegritySHA256) {
			// RFC 8489 §14.6: 16 to 32 bytes, a multiple of 4.
			if len(v) < 16 || len(v) > 32 || len(v)%4 != 0 {
				return attrError(t, off, "value is "+itoa(len(v))+" bytes, want 16 to 32 in steps of 4")
			}
			m.HasIntegritySHA256, m.sha256At = true, off
		}
	case pionstun.AttrFingerprint:
		if seen.first(seenFingerprint) {
			if len(v) != 4 {
				return sizeError(t, off, len(v), 4)
			}
			// Verified on demand by FingerprintValid: the CRC over the
			// whole message is a tenth of Decode's work, and few callers
			// look at the answer.
			m.HasFingerprint, m.fingerprintAt = true, off
		}
	case pionstun.AttrPriority:
		if seen.first(seenPriority) {
			if len(v) != 4 {
				return sizeError(t, off, len(v), 4)
			}
			m.HasPriority, m.Priority = true, binary.BigEndian.Uint32(v)
		}
	case pionstun.AttrUseCandidate:
		if len(v) != 0 {
			return sizeError(t, off, len(v), 0)
		}
		m.UseCandidate = true
	case pionstun.AttrICEControlling, pionstun.AttrICEControlled:
		if len(v) != 8 {
			return sizeError(t, off, len(v), 8)
		}
		if seen.first(seenIce) {
			m.IceTieBreaker = binary.BigEndian.Uint64(v)
		}
		if t == pionstun.AttrICEControlling {
			m.IceControlling = true
		} else {
			m.IceControlled = true
		}
	case pionstun.AttrData:
		if seen.first(seenData) {
			m.Data = v
		}
	case pionstun.AttrPasswordAlgorithm:
		if seen.first(seenPasswordAlgorithm) {
			if len(v) < 4 {
				return attrError(t, off, "value is "+itoa(len(v))+" bytes, want at least 4")
			}
			m.PasswordAlgorithm = binary.BigEndian.Uint16(v)
		}
	}
	return nil
}

// classicAttr decodes the RFC 3489 attributes whose meaning did not
// change. Others (0x0012-0x0015 meant REMOTE-ADDRESS, DATA, NONCE and REALM
// in the MS-TURN and TURN-08 era, in a different order) are only listed.
func (m *Message) classicAttr(t pionstun.AttrType, v []byte, off int, seen *seenSet) error {
	switch t {
	case pionstun.AttrMappedAddress:
		if seen.first(seenMapped) {
			return m.address(t, v, off, false, &m.MappedAddress)
		}
	case attrXORMappedAddressMS:
		if seen.first(seenXORMapped) {
			return m.address(t, v, off, true, &m.XORMappedAddress)
		}
	case pionstun.AttrUsername:
		if seen.first(seenUsername) {
			m.Username = m.state.strings.get(slotUsername, v)
		}
	case pionstun.AttrSoftware: // SERVER in RFC 3489
		if seen.first(seenSoftware) {
			m.Software = m.state.strings.get(slotSoftware, v)
		}
	case pionstun.AttrErrorCode:
		if seen.first(seenErrorCode) {
			return m.errorCode(v, off)
		}
	case pionstun.AttrMessageIntegrity:
		if seen.first(seenIntegrity) {
			if len(v) != 20 {
				return sizeError(t, off, len(v), 20)
			}
			m.HasIntegrity, m.integrityAt = true, off
		}
	case pionstun.AttrLifetime:
		if seen.first(seenLifetime) {
			if len(v) != 4 {
				return sizeError(t, off, len(v), 4)
			}
			m.HasLifetime, m.Lifetime = true, binary.BigEndian.Uint32(v)
		}
	}
	return nil
}

func sizeError(t pionstun.AttrType, off, got, want int) error {
	return attrError(t, off, "value is "+itoa(got)+" bytes, want "+itoa(want))
}

// errorCode decodes ERROR-CODE (RFC 8489 §14.8). Classes outside 3..6 are
// kept: MS-ICE2 sends 274 and 275.
func (m *Message) errorCode(v []byte, off int) error {
	if len(v) < 4 {
		return attrError(pionstun.AttrErrorCode, off, "value is "+itoa(len(v))+
			" bytes, want at least 4 (reserved, class, number)")
	}
	class, number := int(v[2]&0x7), int(v[3])
	if number > 99 {
		return attrError(pionstun.AttrErrorCode, off, "number "+itoa(number)+" is above 99")
	}
	m.ErrorCode = class*100 + number
	m.ErrorReason = m.state.strings.get(slotReason, v[4:])
	return nil
}

// address decodes the MAPPED-ADDRESS layout (RFC 8489 §14.1) or, with
// xor, the XOR-MAPPED-ADDRESS one (§14.2): port and IPv4 address XORed
// with the magic cookie, IPv6 with the cookie and transaction ID. For a
// classic message bytes 4..20 are its transaction ID, which is what the
// pre-RFC 5389 drafts XORed with.
func (m *Message) address(t pionstun.AttrType, v []byte, off int, xor bool, dst *netip.AddrPort) error {
	if len(v) < 4 {
		return attrError(t, off, "value is "+itoa(len(v))+" bytes, too short for an address")
	}
	port := binary.BigEndian.Uint16(v[2:4])
	if xor {
		port ^= binary.BigEndian.Uint16(m.Raw[4:6])
	}
	var n int
	switch v[1] {
	case 0x01:
		n = 4
	case 0x02:
		n = 16
	default:
		return attrError(t, off, "unknown address family 0x"+hex8(v[1]))
	}
	if len(v) != 4+n {
		return attrError(t, off, familyName[n]+" value is "+itoa(len(v))+" bytes, want "+itoa(4+n))
	}
	// Bytes 4..20 of the header are the cookie and the transaction ID: an
	// IPv4 address is XORed with the first 4 of them, IPv6 with all 16.
	var a [16]byte
	copy(a[:n], v[4:])
	if xor {
		for i := range n {
			a[i] ^= m.Raw[4+i]
		}
	}
	ip := netip.AddrFrom16(a)
	if n == 4 {
		ip = netip.AddrFrom4([4]byte(a[:4]))
	}
	*dst = netip.AddrPortFrom(ip, port)
	return nil
}

var familyName = [17]string{4: "IPv4", 16: "IPv6"}

// FingerprintValid reports whether the message has a FINGERPRINT whose
// CRC matches (RFC 8489 §14.7). A FINGERPRINT that is not the last
// attribute does not verify. It reads Raw, so it must run before the
// packet buffer is reused.
func (m *Message) FingerprintValid() bool {
	at := m.fingerprintAt
	if !m.HasFingerprint || at < headerSize || at+8 != len(m.Raw) {
		return false
	}
	// FINGERPRINT is last, so the header length already covers it as
	// §14.7 requires.
	return binary.BigEndian.Uint32(m.Raw[at+attrHeaderSize:]) == pionstun.FingerprintValue(m.Raw[:at])
}

func hex16(v uint16) string { return string(appendHex16(nil, v)[2:]) }

func hex8(v byte) string {
	const hex = "0123456789ABCDEF"
	return string([]byte{hex[v>>4], hex[v&0xf]})
}
