package stun

import "encoding/binary"

// ChannelData (RFC 8656 §12.4) starts with a channel number. RFC 8656 §12
// narrowed the range to 0x4000-0x4FFF so that RFC 7983 §7 can tell it from
// STUN (0-3), DTLS (20-63) and RTP/RTCP (128-191) by a first byte of 64-79;
// but RFC 5766 §11 allowed 0x4000-0x7FFF and coturn still hands out
// channels such as 0x5A8A. First bytes 80-127 are unassigned in RFC 7983, so
// accepting the old range costs nothing there.
const (
	channelDataHeaderSize = 4
	channelFirstByteMin   = 0x40
	channelFirstByteMax   = 0x7F
)

// IsChannelDataFirstByte reports whether b can start a ChannelData message:
// a channel number 0x4000-0x7FFF.
func IsChannelDataFirstByte(b byte) bool {
	return b >= channelFirstByteMin && b <= channelFirstByteMax
}

// ParseChannelData parses b as one TURN ChannelData message.
//
// Over UDP, b is the datagram: RFC 8656 §12.5 lets the sender pad the
// application data to a multiple of 4 or not, so b must be exactly 4+length
// bytes or exactly that rounded up to a multiple of 4. Anything else
// (stray bytes, a length that overruns) is not ChannelData; the strictness
// keeps random payloads that happen to start with 0x40-0x7F out.
//
// Over TCP, b is a frame as ChannelDataFrameLength cut it: the message must
// be padded to a multiple of 4 (RFC 8656 §12.5), and bytes after the frame
// are not looked at.
//
// payload points into b.
func ParseChannelData(b []byte, overTCP bool) (number, length uint16, payload []byte, ok bool) {
	if len(b) < channelDataHeaderSize || !IsChannelDataFirstByte(b[0]) {
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
	if len(b) < channelDataHeaderSize || !IsChannelDataFirstByte(b[0]) {
		return 0, false
	}
	return (channelDataHeaderSize + int(binary.BigEndian.Uint16(b[2:4])) + 3) &^ 3, true
}
