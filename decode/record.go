package decode

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/decode/tls"
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
// A capture that says where on the capturing host each packet was seen
// (the Linux cooked headers of tcpdump -i any) adds "direction"
// ("arriving" or "leaving") and, with LINUX_SLL2, "interface" (the
// interface index) after "dscp"; other records have neither.
//
// ChannelData gives "proto":"turn-channel" and "channel":{"number","length"}.
// SIP gives "proto":"sip" and "sip":{"method"} for a request or
// {"status","reason"} for a response, then "call_id", "cseq":{"number",
// "method"}, "branch" (the topmost Via's) and "sdp" (an SDP body is
// present, alone or as a part of a multipart body). RTP gives "proto":"rtp" and "rtp":{"ssrc","seq",
// "timestamp","pt","marker"}; RTCP "proto":"rtcp" and "rtcp":{"types"}, the
// packet types of the compound in order. SRTCP is "rtcp" too, with the
// first packet's type alone and "srtcp":{"ssrc","encrypted","index"} (the
// sender's SSRC, the E flag and the SRTCP index, rtp.ParseSRTCP).
//
// TLS gives "proto":"tls" and DTLS "proto":"dtls", with "tls" or "dtls":
// {"version" (the first record's version field: "TLS 1.2", "DTLS 1.2", or
// hex), "content_types" and "handshake" (numbers, per record and per
// handshake message or DTLS fragment), then "sni" when a ClientHello
// named a server, "alert":{"level","description"} when an alert was
// readable and "encrypted":true when records could not be read}.
//
// An "rtp" record says only that a datagram parses as RTP where RFC 7983
// leaves the first byte to RTP, on any port: unsignalled UDP of other
// protocols passes that test too. The analyzer's streams are stricter
// (SDP-announced endpoints, or SSRC and sequence consistent over several
// packets). On an ICE-TCP connection (RFC 6544: RFC 4571 frames that began
// with a STUN check) each frame is classified as a datagram would be, and
// its "rtp", "rtcp" and "dtls" records have "transport":"tcp" and the
// frame of the segment that completed it.
//
// A CRLF keep-alive (KindSIPKeepAlive) gives "proto":"sip-keepalive" and
// "sip_keepalive":{"length"}: 4 for "\r\n\r\n" (a ping), 2 for "\r\n" (a
// pong); "transport":"tcp" for one between messages on a SIP stream. tshark
// shows the datagrams as "Data", the TCP ones as bare TCP payload.
//
// ICMP errors are not decode records: they are not messages of their own.
// It is written by hand rather than with encoding/json because it runs once
// per message and must not allocate. SIP fields come from the wire and are
// escaped by appendJSONString.
func AppendRecord(dst []byte, m *Message) []byte {
	switch m.Kind {
	case KindSTUN, KindChannelData, KindSIP, KindRTP, KindRTCP, KindTLS, KindDTLS, KindSIPKeepAlive:
	default:
		return dst
	}
	if (m.Kind == KindTLS || m.Kind == KindDTLS) && m.TLS == nil || m.Kind == KindSIP && m.SIP == nil || m.Kind == KindRTCP && m.RTCP == nil && m.SRTCP == nil || m.Kind == KindSTUN && m.STUN == nil {
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
	if m.Direction != DirectionUnknown {
		dst = append(dst, `,"direction":"`...)
		dst = append(dst, m.Direction.String()...)
		dst = append(dst, '"')
	}
	if m.Interface != 0 {
		dst = append(dst, `,"interface":`...)
		dst = strconv.AppendUint(dst, uint64(m.Interface), 10)
	}
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
	case KindSIP:
		dst = appendSIPRecord(dst, m.SIP)
	case KindSIPKeepAlive:
		dst = append(dst, `,"proto":"sip-keepalive","sip_keepalive":{"length":`...)
		dst = strconv.AppendUint(dst, uint64(len(m.Payload)), 10)
		dst = append(dst, '}')
	case KindRTP:
		h := &m.RTP
		dst = append(dst, `,"proto":"rtp","rtp":{"ssrc":`...)
		dst = strconv.AppendUint(dst, uint64(h.SSRC), 10)
		dst = append(dst, `,"seq":`...)
		dst = strconv.AppendUint(dst, uint64(h.Sequence), 10)
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendUint(dst, uint64(h.Timestamp), 10)
		dst = append(dst, `,"pt":`...)
		dst = strconv.AppendUint(dst, uint64(h.PayloadType), 10)
		dst = append(dst, `,"marker":`...)
		dst = strconv.AppendBool(dst, h.Marker)
		dst = append(dst, '}')
	case KindRTCP:
		if m.SRTCP != nil {
			dst = appendSRTCPRecord(dst, m.SRTCP)
			break
		}
		dst = append(dst, `,"proto":"rtcp","rtcp":{"types":[`...)
		for i := 0; i < m.RTCP.N; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendUint(dst, uint64(m.RTCP.Packets[i].Type), 10)
		}
		dst = append(dst, "]}"...)
	case KindTLS:
		dst = appendTLSRecord(dst, `,"proto":"tls","tls":{"version":"`, m.TLS)
	case KindDTLS:
		dst = appendTLSRecord(dst, `,"proto":"dtls","dtls":{"version":"`, m.TLS)
	}
	return append(dst, "}\n"...)
}

// appendSRTCPRecord: SRTCP is RTCP to tshark, which dissects its first
// packet; "types" holds that packet's type only, the others being
// encrypted, and "srtcp" what the clear header and the trailer say.
func appendSRTCPRecord(dst []byte, s *rtp.SRTCP) []byte {
	dst = append(dst, `,"proto":"rtcp","rtcp":{"types":[`...)
	dst = strconv.AppendUint(dst, uint64(s.Type), 10)
	dst = append(dst, `],"srtcp":{"ssrc":`...)
	dst = strconv.AppendUint(dst, uint64(s.SSRC), 10)
	dst = append(dst, `,"encrypted":`...)
	dst = strconv.AppendBool(dst, s.Encrypted)
	dst = append(dst, `,"index":`...)
	dst = strconv.AppendUint(dst, uint64(s.Index), 10)
	return append(dst, "}}"...)
}

func appendTLSRecord(dst []byte, head string, t *tls.Message) []byte {
	dst = append(dst, head...)
	dst = tls.AppendVersionName(dst, t.RecordVersion)
	dst = append(dst, `","content_types":[`...)
	for i, c := range t.ContentTypes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(c), 10)
	}
	dst = append(dst, `],"handshake":[`...)
	for i, h := range t.Handshakes {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(h), 10)
	}
	dst = append(dst, ']')
	if ch := t.ClientHello; ch != nil && ch.SNI != "" {
		dst = append(dst, `,"sni":`...)
		dst = appendJSONString(dst, ch.SNI)
	}
	if a := t.Alert; a != nil {
		dst = append(dst, `,"alert":{"level":"`...)
		switch a.Level {
		case tls.AlertWarning, tls.AlertFatal:
			dst = append(dst, tls.AlertLevelName(a.Level)...)
		default:
			dst = strconv.AppendUint(dst, uint64(a.Level), 10)
		}
		dst = append(dst, `","description":"`...)
		dst = tls.AppendAlertName(dst, a.Description)
		dst = append(dst, `"}`...)
	}
	if t.Encrypted {
		dst = append(dst, `,"encrypted":true`...)
	}
	return append(dst, '}')
}

// appendAddrPort writes ip:port, IPv6 as [ip]:port (netip's form, which
// never needs JSON escaping).
func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	return ap.AppendTo(dst)
}

func appendSIPRecord(dst []byte, s *sip.Message) []byte {
	dst = append(dst, `,"proto":"sip","sip":{`...)
	if s.IsRequest {
		dst = append(dst, `"method":`...)
		dst = appendJSONString(dst, s.Method)
	} else {
		dst = append(dst, `"status":`...)
		dst = strconv.AppendInt(dst, int64(s.StatusCode), 10)
		dst = append(dst, `,"reason":`...)
		dst = appendJSONString(dst, s.Reason)
	}
	dst = append(dst, `,"call_id":`...)
	dst = appendJSONString(dst, s.CallID)
	dst = append(dst, `,"cseq":{"number":`...)
	dst = strconv.AppendUint(dst, uint64(s.CSeq), 10)
	dst = append(dst, `,"method":`...)
	dst = appendJSONString(dst, s.CSeqMeth)
	dst = append(dst, `},"branch":`...)
	var branch []byte
	if len(s.Vias) > 0 {
		branch = s.Vias[0].Branch
	}
	dst = appendJSONString(dst, branch)
	dst = append(dst, `,"sdp":`...)
	dst = strconv.AppendBool(dst, hasSDP(s))
	return append(dst, '}')
}

// hasSDP reports an SDP body, alone or in a multipart body (sip.SDPBody).
func hasSDP(s *sip.Message) bool { return s.SDP() != nil }

// appendJSONString appends b as a JSON string (RFC 8259 §7). b comes from
// the wire: quotes, backslashes and control bytes are escaped, and each
// byte that is not part of valid UTF-8 becomes U+FFFD, as encoding/json
// does, so that every record stays valid JSON. U+2028 and U+2029 are
// escaped too, for consumers that embed the records in JavaScript.
func appendJSONString[T ~string | ~[]byte](dst []byte, b T) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, b[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, b[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, b[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, b[start:]...)
	return append(dst, '"')
}

// decodeRune is utf8.DecodeRune for a string or a byte slice, without
// converting (and copying) either.
func decodeRune[T ~string | ~[]byte](b T) (rune, int) {
	var buf [utf8.UTFMax]byte
	return utf8.DecodeRune(buf[:copy(buf[:], b)])
}
