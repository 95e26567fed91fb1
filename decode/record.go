package decode

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"

	"github.com/callscope/callscope/decode/stun"
)

// AppendRecord appends m as one line of `callscope decode` output: a JSON
// object and a newline. The record is a stable contract that scripts and the
// conformance tests compare with tshark frame by frame (README, "decode
// records"):
//
//	{"frame":3,"time":"2026-11-21T06:13:54.123456789Z","src":"10.0.0.1:50000",
//	 "dst":"10.0.0.2:3478","transport":"udp","dscp":0,"proto":"stun",
//	 "stun":{"method":"Allocate","class":"request","transaction":"…",
//	         "error_code":0,"attributes":["REQUESTED-TRANSPORT","FINGERPRINT"]}}
//
// ChannelData gives "proto":"turn-channel" and "channel":{"number","length"}.
// ICMP errors are not decode records: they are not messages of their own.
// It is written by hand rather than with encoding/json because it runs once
// per message and must not allocate.
func AppendRecord(dst []byte, m *Message) []byte {
	if m.Kind != KindSTUN && m.Kind != KindChannelData {
		return dst
	}
	dst = append(dst, `{"frame":`...)
	dst = strconv.AppendUint(dst, m.Frame, 10)
	dst = append(dst, `,"time":"`...)
	dst = m.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","src":"`...)
	dst = appendAddrPort(dst, m.Src)
	dst = append(dst, `","dst":"`...)
	dst = appendAddrPort(dst, m.Dst)
	dst = append(dst, `","transport":"`...)
	dst = append(dst, m.Transport.String()...)
	dst = append(dst, `","dscp":`...)
	dst = strconv.AppendUint(dst, uint64(m.DSCP), 10)
	switch m.Kind {
	case KindSTUN:
		s := m.STUN
		dst = append(dst, `,"proto":"stun","stun":{"method":"`...)
		dst = append(dst, s.Method.String()...)
		dst = append(dst, `","class":"`...)
		dst = append(dst, s.Class.String()...)
		dst = append(dst, `","transaction":"`...)
		if s.Classic {
			// RFC 3489 §11.1: a 128-bit ID, of which Cookie holds the first 32 bits.
			var c [4]byte
			c[0], c[1], c[2], c[3] = byte(s.Cookie>>24), byte(s.Cookie>>16), byte(s.Cookie>>8), byte(s.Cookie)
			dst = hex.AppendEncode(dst, c[:])
		}
		dst = hex.AppendEncode(dst, s.Transaction[:])
		dst = append(dst, `","error_code":`...)
		dst = strconv.AppendInt(dst, int64(s.ErrorCode), 10)
		dst = append(dst, `,"attributes":[`...)
		for i, t := range s.Attributes {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = append(dst, stun.AttrName(t)...)
			dst = append(dst, '"')
		}
		dst = append(dst, ']')
		if s.Classic {
			dst = append(dst, `,"classic":true`...)
		}
		dst = append(dst, '}')
	case KindChannelData:
		dst = append(dst, `,"proto":"turn-channel","channel":{"number":`...)
		dst = strconv.AppendUint(dst, uint64(m.Channel.Number), 10)
		dst = append(dst, `,"length":`...)
		dst = strconv.AppendUint(dst, uint64(m.Channel.Length), 10)
		dst = append(dst, '}')
	}
	return append(dst, "}\n"...)
}

// appendAddrPort writes ip:port, IPv6 as [ip]:port (netip's form, which
// never needs JSON escaping).
func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	return ap.AppendTo(dst)
}
