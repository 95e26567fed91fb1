package stun

import "encoding/binary"

// ChannelData (RFC 8656 §12.4) starts with a channel number in
// 0x4000-0x4FFF, which RFC 7983 §7 keeps apart from STUN (0-3), DTLS
// (20-63) and RTP/RTCP (128-191) by the first byte: 64-79.
const (
	channelDataHeaderSize = 4
	channelFirstByteMin   = 0x40
	channelFirstByteMax   = 0x4F
)

// ParseChannelData parses b as one TURN ChannelData message.
//
// Over UDP, b is the datagram: RFC 8656 §12.5 lets the sender pad the
// application data to a multiple of 4 or not, so b must be exactly 4+length
// bytes or exactly that rounded up to a multiple of 4. Anything else
// (stray bytes, a length that overruns) is not ChannelData; the strictness
// keeps random payloads that happen to start with 0x40-0x4F out.
//
// Over TCP, b is a frame as ChannelDataFrameLength cut it: the message must
// be padded to a multiple of 4 (RFC 8656 §12.5), and bytes after the frame
// are not looked at.
//
// payload points into b.
func ParseChannelData(b []byte, overTCP bool) (number, length uint16, payload []byte, ok bool) {
	if len(b) < channelDataHeaderSize || b[0] < channelFirstByteMin || b[0] > channelFirstByteMax {
		return 0, 0, nil, false
	}
	number = binary.BigEndian.Uint16(b[0:2])
	length = binary.BigEndian.Uint16(b[2:4])
	end := channelDataHeaderSize + int(length)
	padded := (end + 3) &^ 3
	if overTCP {
		if len(b) < padded {
			return 0, 0, nil, false
		}
	} else if len(b) != end && len(b) != padded {
		return 0, 0, nil, false
	}
	return number, length, b[channelDataHeaderSize:end], true
}

// ChannelDataFrameLength returns the size of the ChannelData frame whose
// header starts b on a TCP stream: 4 + length, rounded up to a multiple of
// 4 (RFC 8656 §12.5). It needs the 4-byte header and reports false when b
// is shorter or does not start with a channel number.
func ChannelDataFrameLength(b []byte) (int, bool) {
	if len(b) < channelDataHeaderSize || b[0] < channelFirstByteMin || b[0] > channelFirstByteMax {
		return 0, false
	}
	return (channelDataHeaderSize + int(binary.BigEndian.Uint16(b[2:4])) + 3) &^ 3, true
}
