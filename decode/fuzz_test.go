package decode

import (
	"bytes"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/tls"
)

// fuzzRecordSeparator splits a fuzz input into several records, so that
// state carried between packets (fragments, TCP streams, STUN endpoints)
// is fuzzed too.
var fuzzRecordSeparator = []byte("\xde\xad\xbe\xef")

// FuzzDecoder feeds arbitrary records of any link type to a Decoder with
// small limits. Nothing may panic, hang, or break the decoder's bounds.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{}, uint16(capture.LinkEthernet))
	// SIP over UDP with CRLF keep-alives on its flow and to port 5060,
	// RTP, RTCP and SRTCP, and a SIP stream over TCP in two segments and
	// a ping with the next message (RFC 5626 §4.4.1).
	invite := sipMessage("INVITE sip:bob@example.org SIP/2.0", "fuzz@host", "z9hG4bKf", "1 INVITE", testSDP)
	f.Add(bytes.Join([][]byte{
		udpIP(f, client, server, invite, 0),
		udpIP(f, client, server, []byte("\r\n\r\n"), 0),
		udpIP(f, server, netipMust("198.51.100.7:5060"), []byte("\r\n"), 0),
		udpIP(f, client, server, pionRTP(f, 0, false, 1), 0),
		udpIP(f, client, server, pionRTCP(f, testSR, testSDES), 0),
		udpIP(f, client, server, unhexMedia(f, "8fcd000523ecab961dd4a99f8857ca8a6dc9f0803f6aca5280000001ec8fdc45de936c7966f8"), 0), // SRTCP
		tcpIP(f, client, server, 1, tcpSYN, nil),
		tcpIP(f, client, server, 2, tcpACK, cat([]byte("\r\n\r\n"), invite[:100])),
		tcpIP(f, client, server, 106, tcpACK, cat(invite[100:], invite)),
		tcpIP(f, client, server, uint32(6+2*len(invite)), tcpACK, cat([]byte("\r\n\r\n"), invite)),
	}, fuzzRecordSeparator), uint16(capture.LinkIPv4))
	// TCP picked up mid-stream (no SYN): a partial message, then messages
	// at segment starts, and ChannelData once the endpoints spoke STUN.
	refresh := stunMessage(0x0004, 1, "mid")
	f.Add(bytes.Join([][]byte{
		tcpIP(f, client, server, 500, tcpACK, refresh[9:]),
		tcpIP(f, client, server, 500+uint32(len(refresh)-9), tcpACK, cat(refresh, refresh[:3])),
		tcpIP(f, client, server, 500+uint32(2*len(refresh)-6), tcpACK, channelData(0x4000, []byte("x"), true)),
		tcpIP(f, server, client, 9, tcpACK, cat(rfc4571(refresh), rfc4571(refresh))),
	}, fuzzRecordSeparator), uint16(capture.LinkIPv4))
	// A TLS ClientHello over TCP split mid-record, a reply, and DTLS
	// datagrams: a whole ClientHello and the first fragment of a
	// certificate.
	tlsHello := []byte{22, 3, 1, 0, 42, 1, 0, 0, 38, 3, 3}
	tlsHello = append(tlsHello, make([]byte, 36)...)
	dtlsHello := []byte{22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12 + 39, 1, 0, 0, 39, 0, 0, 0, 0, 0, 0, 0, 39, 0xfe, 0xfd}
	dtlsHello = append(dtlsHello, make([]byte, 37)...)
	dtlsCert := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 12 + 4, 11, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0, 0, 0xfc, 0}
	f.Add(bytes.Join([][]byte{
		tcpIP(f, client, server, 1, tcpSYN, nil),
		tcpIP(f, client, server, 2, tcpACK, tlsHello[:20]),
		tcpIP(f, client, server, 22, tcpACK, cat(tlsHello[20:], []byte{23, 3, 3, 0, 2, 0, 0, 21, 3, 3})),
		tcpIP(f, server, client, 1, tcpACK, []byte{21, 3, 3, 0, 2, 2, 40, 23, 3, 3, 0, 1, 0}),
		udpIP(f, client, server, dtlsHello, 0),
		udpIP(f, server, client, dtlsCert, 0),
		udpIP(f, server, client, []byte{0x2c, 0, 1, 0, 3, 1, 2, 3}, 0),
	}, fuzzRecordSeparator), uint16(capture.LinkIPv4))
	// ICE-TCP (RFC 6544): an RFC 4571 stream that starts with a check and
	// carries RTP, RTCP, SRTCP and DTLS frames, split across segments, and
	// the answer's direction with a DTLS fragment.
	check := stunMessage(typeBindingRequest, 7, "")
	iceTCP := cat(rfc4571(check), rfc4571(pionRTP(f, 111, true, 1)), rfc4571(pionRTCP(f, testSR)),
		rfc4571(unhexMedia(f, "8fcd000523ecab961dd4a99f8857ca8a6dc9f0803f6aca5280000001ec8fdc45de936c7966f8")),
		rfc4571(dtlsHello), rfc4571([]byte{0x2c, 0, 1, 0, 3, 1, 2, 3}))
	f.Add(bytes.Join([][]byte{
		tcpIP(f, client, server, 1, tcpSYN, nil),
		tcpIP(f, client, server, 2, tcpACK, iceTCP[:len(check)+30]),
		tcpIP(f, client, server, 2+uint32(len(check))+30, tcpACK, iceTCP[len(check)+30:]),
		tcpIP(f, server, client, 5, tcpSYN|tcpACK, nil),
		tcpIP(f, server, client, 6, tcpACK, cat(rfc4571(stunMessage(0x0101, 7, "")), rfc4571(dtlsCert), rfc4571(pionRTP(f, 111, false, 2)))),
	}, fuzzRecordSeparator), uint16(capture.LinkIPv4))
	f.Fuzz(func(t *testing.T, data []byte, link uint16) {
		opts := Options{MaxFragDatagrams: 4, MaxFragBytes: 4096, MaxTCPStreams: 4,
			MaxStreamBytes: 512, MaxTCPBytes: 1500, MaxSTUNEndpoints: 4, MaxSIPEndpoints: 4}
		d := NewDecoderWithOptions(opts)
		check := func(m *Message) {
			switch m.Kind {
			case KindSTUN:
				if m.STUN == nil || !m.STUN.HeaderOK {
					t.Fatalf("STUN message without a header: %+v", m)
				}
			case KindChannelData:
				if int(m.Channel.Length) != len(m.Channel.Payload) {
					t.Fatalf("ChannelData length %d, payload %d bytes", m.Channel.Length, len(m.Channel.Payload))
				}
			case KindSIP:
				if m.SIP == nil || !m.SIP.StartLineOK || len(m.Payload) == 0 {
					t.Fatalf("SIP message without a start line: %+v", m)
				}
			case KindRTP:
				if m.RTP.Version != 2 || m.RTP.HeaderLen+m.RTP.PayloadLen > len(m.Payload) {
					t.Fatalf("RTP header %+v in %d bytes", m.RTP, len(m.Payload))
				}
			case KindRTCP:
				if m.SRTCP != nil {
					if m.RTCP != nil || m.SRTCP.Length > len(m.Payload) {
						t.Fatalf("SRTCP %+v (RTCP %v) in %d bytes over %v", *m.SRTCP, m.RTCP, len(m.Payload), m.Transport)
					}
					break
				}
				if m.RTCP == nil || m.RTCP.N == 0 {
					t.Fatalf("RTCP %+v over %v", m.RTCP, m.Transport)
				}
			case KindTLS, KindDTLS:
				if m.TLS == nil || m.Kind == KindTLS && m.Transport != TCP || len(m.TLS.ContentTypes)+m.TLS.Ciphertexts == 0 {
					t.Fatalf("%v message over %v: %+v", m.Kind, m.Transport, m.TLS)
				}
				if len(m.TLS.Certificates) > tls.MaxChain {
					t.Fatalf("%d certificates", len(m.TLS.Certificates))
				}
			case KindSIPKeepAlive:
				if m.Transport != UDP && m.Transport != TCP || string(m.Payload) != "\r\n\r\n" && string(m.Payload) != "\r\n" {
					t.Fatalf("keep-alive %q over %v", m.Payload, m.Transport)
				}
			case KindICMPError:
				if !m.ICMP.QuotedSrc.IsValid() || m.ICMP.QuotedTransport == 0 {
					t.Fatalf("ICMP error without a quoted flow: %+v", m.ICMP)
				}
			default:
				t.Fatalf("message of kind %d", m.Kind)
			}
			// Over TCP, media and DTLS come only from RFC 4571 frames,
			// demultiplexed by their first byte (RFC 7983 §7).
			if m.Transport == TCP && len(m.Payload) > 0 {
				switch b0 := m.Payload[0]; m.Kind {
				case KindRTP, KindRTCP:
					if b0 < 128 || b0 > 191 {
						t.Fatalf("%v over TCP starting with %d", m.Kind, b0)
					}
				case KindDTLS:
					if b0 < 20 || b0 > 63 {
						t.Fatalf("DTLS over TCP starting with %d", b0)
					}
				}
			}
		}
		recs := bytes.Split(data, fuzzRecordSeparator)
		if len(recs) > 64 {
			recs = recs[:64]
		}
		for i, b := range recs {
			orig := len(b)
			if i%3 == 2 {
				orig += 100 // sometimes snaplen-cut
			}
			d.Decode(&capture.Record{Frame: uint64(i + 1), Time: t0.Add(time.Duration(i) * 7 * time.Second),
				LinkType: capture.LinkType(link), Data: b, OrigLen: orig}, check)
			checkTCPBudget(t, d)
		}
		d.Flush(check)
		st := d.Stats()
		if st.Packets != uint64(len(recs)) {
			t.Fatalf("Packets = %d for %d records", st.Packets, len(recs))
		}
		if len(d.frags.datagrams) != 0 || len(d.tcp.conns) != 0 || d.tcp.used != 0 {
			t.Fatalf("state left after Flush: %d datagrams, %d connections", len(d.frags.datagrams), len(d.tcp.conns))
		}
		if len(st.MalformedFrames) > MaxListedFrames {
			t.Fatalf("%d malformed frames listed", len(st.MalformedFrames))
		}
	})
}

// checkTCPBudget checks that every direction's buffers are accounted for
// and that all of them stay within MaxTCPBytes.
func checkTCPBudget(t *testing.T, d *Decoder) {
	t.Helper()
	sum := 0
	for _, c := range d.tcp.conns {
		for i := range c.half {
			h := &c.half[i]
			n := cap(h.buf) + cap(h.head) + h.pendingBytes
			if h.tls != nil {
				n += h.tls.conn.Held(int(h.dir))
			}
			if n != h.held {
				t.Fatalf("half holds %d bytes, accounted %d", n, h.held)
			}
			sum += h.held
		}
	}
	if sum != d.tcp.used || d.tcp.used > d.tcp.maxTotal {
		t.Fatalf("TCP buffers: used %d, sum of halves %d, budget %d", d.tcp.used, sum, d.tcp.maxTotal)
	}
}
