package tls

import "encoding/binary"

// Record layer limits.
const (
	RecordHeaderLen     = 5  // type, version, length (RFC 8446 §5.1)
	DTLSRecordHeaderLen = 13 // type, version, epoch, sequence_number, length (RFC 6347 §4.1)
	// MaxRecordLen bounds a record's fragment: 2^14 plus the expansion
	// RFC 5246 §6.2.3 allows a TLSCiphertext (RFC 8446 §5.2 allows 256).
	MaxRecordLen = 1<<14 + 2048
)

// Record is one record's header and fragment. Fragment aliases the input.
type Record struct {
	Type    uint8
	Version uint16
	Epoch   uint16 // DTLS
	Seq     uint64 // DTLS: 48 bits in DTLS 1.0/1.2, the low 8 or 16 in a unified header
	// Unified is a DTLS 1.3 record with the unified header (RFC 9147 §4):
	// its content type is encrypted, so Type is 0.
	Unified  bool
	Fragment []byte
}

// validTLSVersion accepts SSL 3.0 to TLS 1.3 in a record header. TLS 1.3
// records say 0x0303 and a first ClientHello often 0x0301 (RFC 8446
// §5.1), so every minor version up to 4 is plausible.
func validTLSVersion(v uint16) bool { return v>>8 == 3 && v&0xff <= 4 }

// validDTLSVersion accepts DTLS 1.0, 1.2, 1.3 (which keeps 1.2's value in
// the record header, RFC 9147 §4) and OpenSSL's pre-standard DTLS 1.0.
func validDTLSVersion(v uint16) bool {
	switch v {
	case VersionDTLS10, VersionDTLS12, VersionDTLS13, VersionDTLSBad:
		return true
	}
	return false
}

func validContentType(t uint8) bool { return t >= ContentChangeCipherSpec && t <= ContentACK }

// RecordLength reports the size, header included, of the TLS record that
// b starts with, when b starts with a plausible record header (content
// type 20-26, version SSL 3.0 to TLS 1.3, length at most MaxRecordLen). b
// needs only the 5 header bytes. It is the TCP framer's test.
func RecordLength(b []byte) (n int, ok bool) {
	if len(b) < RecordHeaderLen || !validContentType(b[0]) || !validTLSVersion(binary.BigEndian.Uint16(b[1:])) {
		return 0, false
	}
	l := int(binary.BigEndian.Uint16(b[3:]))
	if l > MaxRecordLen {
		return 0, false
	}
	return RecordHeaderLen + l, true
}

// StartsClientHello reports whether b, the first bytes of a TCP stream,
// start a TLS handshake record that begins with a ClientHello: content
// type 22, record version 0x0300-0x0304, handshake type 1 and a handshake
// length that can hold one (RFC 8446 §4.1.2). b needs 9 bytes.
func StartsClientHello(b []byte) bool {
	if len(b) < RecordHeaderLen+4 || b[0] != ContentHandshake || b[5] != HandshakeClientHello {
		return false
	}
	n, ok := RecordLength(b)
	if !ok || n < RecordHeaderLen+4+2+32 { // a ClientHello has at least version and random
		return false
	}
	// The message may continue in the next record, but a ClientHello of
	// 128 KiB is not one.
	hl := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
	return hl >= 2+32+1 && hl <= 1<<17
}

// ReadRecord parses the TLS record at the start of b and returns its size.
func ReadRecord(b []byte, r *Record) (n int, ok bool) {
	n, ok = RecordLength(b)
	if !ok || n > len(b) {
		return 0, false
	}
	*r = Record{Type: b[0], Version: binary.BigEndian.Uint16(b[1:]), Fragment: b[RecordHeaderLen:n]}
	return n, true
}

// IsDTLSRecord reports whether a datagram starts with a DTLS 1.0/1.2
// record header (RFC 6347 §4.1) whose length fits the datagram: content
// type 20-26, a DTLS version. RFC 7983 §7 gives DTLS the first bytes 20-63;
// the unified header's (32-63) carries too little to be recognized alone,
// see ReadDTLSRecord.
func IsDTLSRecord(b []byte) bool {
	if len(b) < DTLSRecordHeaderLen || !validContentType(b[0]) || b[0] == ContentTLS12CID {
		return false
	}
	if !validDTLSVersion(binary.BigEndian.Uint16(b[1:])) {
		return false
	}
	return DTLSRecordHeaderLen+int(binary.BigEndian.Uint16(b[11:])) <= len(b)
}

// IsDTLSDatagram reports whether a whole datagram is DTLS records: it
// starts with a DTLS record header (IsDTLSRecord) and the records that
// follow, with classic or unified headers, end exactly at its end. It is
// the test for a flow not known to carry DTLS, as Wireshark's heuristic
// dissector makes it.
func IsDTLSDatagram(b []byte) bool {
	if !IsDTLSRecord(b) {
		return false
	}
	var r Record
	for len(b) > 0 {
		n, ok := ReadDTLSRecord(b, &r)
		if !ok {
			return false
		}
		b = b[n:]
	}
	return true
}

// ReadDTLSRecord parses the DTLS record at the start of b, a datagram or
// what is left of it, and returns its size. A unified header (RFC 9147
// §4) with a connection ID, whose length only the handshake told, or
// without a length field extends to the end of the datagram.
func ReadDTLSRecord(b []byte, r *Record) (n int, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	if b[0]&0xe0 == 0x20 {
		return readUnified(b, r)
	}
	if len(b) < DTLSRecordHeaderLen || !validContentType(b[0]) || !validDTLSVersion(binary.BigEndian.Uint16(b[1:])) {
		return 0, false
	}
	if b[0] == ContentTLS12CID {
		// RFC 9146 §4: the connection ID sits between the sequence number
		// and the length, and only the handshake told its length. Such
		// records are always protected: take the rest of the datagram.
		*r = Record{Type: b[0], Version: binary.BigEndian.Uint16(b[1:]), Epoch: binary.BigEndian.Uint16(b[3:]),
			Seq: uint64(binary.BigEndian.Uint16(b[5:]))<<32 | uint64(binary.BigEndian.Uint32(b[7:])), Fragment: b[11:]}
		return len(b), true
	}
	n = DTLSRecordHeaderLen + int(binary.BigEndian.Uint16(b[11:]))
	if n > len(b) {
		return 0, false
	}
	*r = Record{
		Type:     b[0],
		Version:  binary.BigEndian.Uint16(b[1:]),
		Epoch:    binary.BigEndian.Uint16(b[3:]),
		Seq:      uint64(binary.BigEndian.Uint16(b[5:]))<<32 | uint64(binary.BigEndian.Uint32(b[7:])),
		Fragment: b[DTLSRecordHeaderLen:n],
	}
	return n, true
}

// readUnified parses a DTLS 1.3 unified header: 001CSLEE, then the
// connection ID (C), an 8- or 16-bit sequence number (S), a 16-bit length
// (L). EE are the low bits of the epoch.
func readUnified(b []byte, r *Record) (int, bool) {
	flags := b[0]
	*r = Record{Unified: true, Epoch: uint16(flags & 3)}
	if flags&0x10 != 0 {
		r.Fragment = b[1:]
		return len(b), true
	}
	i := 1
	if flags&0x08 != 0 {
		if len(b) < i+2 {
			return 0, false
		}
		r.Seq = uint64(binary.BigEndian.Uint16(b[i:]))
		i += 2
	} else {
		if len(b) < i+1 {
			return 0, false
		}
		r.Seq = uint64(b[i])
		i++
	}
	if flags&0x04 == 0 {
		r.Fragment = b[i:]
		return len(b), true
	}
	if len(b) < i+2 {
		return 0, false
	}
	n := i + 2 + int(binary.BigEndian.Uint16(b[i:]))
	if n > len(b) {
		return 0, false
	}
	r.Fragment = b[i+2 : n]
	return n, true
}
