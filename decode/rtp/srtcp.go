package rtp

import "encoding/binary"

// SRTCP (RFC 3711 §3.4) encrypts a compound RTCP datagram but for its
// first 8 bytes, the first packet's header and its sender's SSRC, and
// appends a trailer: a word holding the E flag and the 31-bit SRTCP index,
// an optional MKI, and an authentication tag, which SRTCP requires. Such a
// datagram does not parse as RTCP (ParseRTCP): the packets after the first
// are ciphertext. Without the keys one can read the first packet's header
// and SSRC, and the trailer's word if one knows where it lies. That
// depends on what the endpoints negotiated (SDP a=crypto, RFC 4568, or the
// DTLS-SRTP protection profile, RFC 5764), which the datagram does not
// say:
//
//   - the HMAC-SHA1 profiles (AES_CM_128_HMAC_SHA1_80 and _32, their
//     AES-256 and NULL-cipher variants) put a 10-byte tag after the word:
//     SRTCP's tag is 80 bits with the _32 profiles too, which shorten only
//     SRTP's (RFC 5764 §4.1.2);
//   - AES-GCM (RFC 7714 §9.1) puts its 16-byte tag inside the ciphertext
//     and the word last;
//   - an MKI, of any length and rarely negotiated (never by WebRTC), sits
//     between the word and the tag.
//
// Without an MKI the datagram's length tells the first two apart: the
// ciphers keep the length of what they encrypt (AES-CM, NULL) or add their
// 16-byte tag (AES-GCM), and an RTCP compound is a whole number of 32-bit
// words, so an HMAC-SHA1 profile gives a length of 2 modulo 4 and AES-GCM
// one of 0. ParseSRTCP relies on that and refuses lengths of 1 or 3 modulo
// 4 (an MKI, or a profile of neither kind), whose trailer it cannot
// place: Microsoft Teams' SRTCP in the public corpus looks like it
// carries a 1-byte MKI, and is refused. It cannot tell AES-GCM from HMAC-SHA1 with a 2-byte MKI, nor read
// the latter's index. The E flag and index are read where the length says
// and are right for WebRTC and for SDES-SRTP without an MKI.

// SRTCPLayout is where an SRTCP datagram's trailer word lies, as its
// length says (see the comment above).
type SRTCPLayout uint8

const (
	// SRTCPTagAfter: the word, then the HMAC-SHA1 profiles' 10-byte
	// tag (a length of 2 modulo 4).
	SRTCPTagAfter SRTCPLayout = iota + 1
	// SRTCPTagBefore: AES-GCM's 16-byte tag, then the word (a length of
	// 0 modulo 4).
	SRTCPTagBefore
)

func (l SRTCPLayout) String() string {
	switch l {
	case SRTCPTagAfter:
		return "tag after index"
	case SRTCPTagBefore:
		return "tag before index"
	}
	return "unknown"
}

const (
	// srtcpClearLen is the part of an SRTCP datagram that is never
	// encrypted: the first packet's header and sender SSRC.
	srtcpClearLen = 8
	srtcpWordLen  = 4  // the E flag and the SRTCP index
	hmacSHA1Tag   = 10 // after the word
	aeadTag       = 16 // before it

	// MaxSRTCPIndex bounds the SRTCP index ParseSRTCP believes. The index
	// starts at zero and grows by one per packet of a source (RFC 3711
	// §3.4): 2^26 is over a week of SRTCP at 100 packets a second from one
	// SSRC. A word read where the trailer should be but holding a larger
	// index is most likely not a trailer: of random words, one in 32
	// passes.
	MaxSRTCPIndex = 1 << 26
)

// SRTCP is what an SRTCP datagram shows without its keys.
type SRTCP struct {
	// The first RTCP packet's type, count (RC, SC or FMT), length in
	// bytes (from its length field, padding included) and sender SSRC
	// (for SDES and BYE, the first source's), all sent in the clear. RFC
	// 3711 §3.4 draws an SR or RR first, as RFC 3550 §6.1 wants; with
	// reduced-size RTCP (RFC 5506, SDP a=rtcp-rsize) a compound starts
	// with any packet, and WebRTC sends transport-wide congestion control
	// feedback (205) or picture loss indications (206) alone.
	Type   uint8
	Count  uint8
	Length int
	SSRC   uint32
	// Layout is the trailer layout the datagram's length points to;
	// Encrypted (the E flag) and Index come from the word it places.
	Layout    SRTCPLayout
	Encrypted bool
	Index     uint32
}

// ParseSRTCP reports whether b, a datagram ParseRTCP refused, is shaped
// like SRTCP, and reads into s what that shows (the comment above says what
// can and cannot be known). It requires:
//
//   - a first packet of version 2 and type 200-207 (an SR or RR, or the
//     first packet of reduced-size RTCP, as ParseRTCP accepts), with a
//     count of at least one for SDES and BYE so that the second word is an
//     SSRC, and a length that holds that SSRC and, for an SR or RR, the
//     report blocks its count announces;
//   - a datagram length of 0 or 2 modulo 4, and room after the first packet
//     for the trailer that length points to: the word and the 10-byte tag,
//     or AES-GCM's 16-byte tag and the word;
//   - in that word, an index of at most MaxSRTCPIndex and, when the E flag
//     is clear (unencrypted SRTCP: nothing after the trailer's removal is
//     ciphertext), a compound before the tags and word that parses
//     (ParseRTCP, into c).
//
// Plain RTCP that ParseRTCP refused for another reason (lengths that do not
// add up, bytes after the last packet) has a length of 0 modulo 4: it
// passes only if the first packet is consistent and leaves room for a
// 16-byte tag and the word, and the last word has the E flag set and a
// small index. A datagram the snaplen cut cannot be judged by its length:
// the caller should not ask. c is written only when the E flag is clear,
// and then holds the compound. ParseSRTCP does not allocate.
func ParseSRTCP(b []byte, s *SRTCP, c *Compound) bool {
	n := len(b)
	if n < srtcpClearLen || b[0]>>6 != version || b[1] < TypeSR || b[1] > TypeXR {
		return false
	}
	var layout SRTCPLayout
	var word, tagBefore int // the word's offset from the end; AES-GCM's tag before it
	switch n % 4 {
	case 2:
		layout, word = SRTCPTagAfter, srtcpWordLen+hmacSHA1Tag
	case 0:
		layout, word, tagBefore = SRTCPTagBefore, srtcpWordLen, aeadTag
	default:
		return false
	}
	first := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
	if first < srtcpClearLen || first > n-word-tagBefore {
		return false
	}
	count := b[0] & 0x1f
	if (b[1] == TypeSDES || b[1] == TypeBYE) && count == 0 {
		return false
	}
	// Padding, if any, is encrypted with the rest: the declared length
	// bounds what the packet holds.
	if !rtcpPacketFits(b[:first]) {
		return false
	}
	w := binary.BigEndian.Uint32(b[n-word:])
	encrypted, index := w>>31 != 0, w&0x7fffffff
	if index > MaxSRTCPIndex {
		return false
	}
	if !encrypted && !ParseRTCP(b[:n-word-tagBefore], c) {
		return false
	}
	*s = SRTCP{
		Type: b[1], Count: count, Length: first, SSRC: binary.BigEndian.Uint32(b[4:]),
		Layout: layout, Encrypted: encrypted, Index: index,
	}
	return true
}
