package decode

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/rtp"
)

// Test packets are built with gopacket's layers, so that the hand-written
// parsers are checked against an independent encoder.

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

var (
	client  = netip.MustParseAddrPort("192.0.2.10:50000")
	server  = netip.MustParseAddrPort("198.51.100.1:3478")
	client6 = netip.MustParseAddrPort("[2001:db8::10]:50000")
	server6 = netip.MustParseAddrPort("[2001:db8::1]:3478")
)

// stunMessage builds a STUN message with the given type and transaction
// ID byte and, when software is set, one SOFTWARE attribute (RFC 8489 §14.14).
func stunMessage(typ uint16, id byte, software string) []byte {
	var attrs []byte
	if software != "" {
		attrs = binary.BigEndian.AppendUint16(attrs, 0x8022)
		attrs = binary.BigEndian.AppendUint16(attrs, uint16(len(software)))
		attrs = append(attrs, software...)
		for len(attrs)%4 != 0 {
			attrs = append(attrs, 0)
		}
	}
	b := binary.BigEndian.AppendUint16(nil, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(attrs)))
	b = binary.BigEndian.AppendUint32(b, stunMagicCookie)
	for i := 0; i < 12; i++ {
		b = append(b, id)
	}
	return append(b, attrs...)
}

const (
	typeBindingRequest  = 0x0001
	typeAllocateRequest = 0x0003
	typeAllocateSuccess = 0x0103
)

// channelData builds a ChannelData message; over TCP it is padded to 4.
func channelData(number uint16, data []byte, padded bool) []byte {
	b := binary.BigEndian.AppendUint16(nil, number)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	b = append(b, data...)
	for padded && len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ipLayer returns the IP layer from src to dst, v4 or v6 by address.
func ipLayer(src, dst netip.AddrPort, proto layers.IPProtocol, tos uint8) gopacket.NetworkLayer {
	if src.Addr().Is4() {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, TOS: tos, Protocol: proto,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, TrafficClass: tos, NextHeader: proto,
		SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
}

// udpIP builds an IP packet carrying a UDP datagram.
func udpIP(t testing.TB, src, dst netip.AddrPort, payload []byte, tos uint8) []byte {
	ip := ipLayer(src, dst, layers.IPProtocolUDP, tos)
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	udp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip.(gopacket.SerializableLayer), udp, gopacket.Payload(payload))
}

// udpOnly builds a UDP header and payload, for hand-made IP headers.
func udpOnly(t testing.TB, src, dst netip.AddrPort, payload []byte) []byte {
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, udp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

const (
	tcpSYN = 1 << iota
	tcpACK
	tcpFIN
	tcpRST
	tcpPSH
)

// tcpIP builds an IP packet carrying a TCP segment.
func tcpIP(t testing.TB, src, dst netip.AddrPort, seq uint32, flags int, payload []byte) []byte {
	ip := ipLayer(src, dst, layers.IPProtocolTCP, 0)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Window: 65535, DataOffset: 5,
		SYN: flags&tcpSYN != 0, ACK: flags&tcpACK != 0, FIN: flags&tcpFIN != 0, RST: flags&tcpRST != 0, PSH: flags&tcpPSH != 0}
	tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(payload))
}

var macA, macB = net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}

// ether wraps an IP packet in Ethernet, with VLAN tags given as
// (TPID, VLAN ID) pairs, outermost first.
func ether(t testing.TB, ip []byte, tags ...[2]uint16) []byte {
	et := layers.EthernetTypeIPv4
	if ip[0]>>4 == 6 {
		et = layers.EthernetTypeIPv6
	}
	ls := []gopacket.SerializableLayer{}
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
	if len(tags) > 0 {
		eth.EthernetType = layers.EthernetType(tags[0][0])
	}
	ls = append(ls, eth)
	for i, tag := range tags {
		q := &layers.Dot1Q{VLANIdentifier: tag[1], Type: et}
		if i+1 < len(tags) {
			q.Type = layers.EthernetType(tags[i+1][0])
		}
		ls = append(ls, q)
	}
	ls = append(ls, gopacket.Payload(ip))
	return serialize(t, ls...)
}

// decoded runs records through a fresh decoder (with opts) and returns
// copies of the messages emitted, Flush's included.
type decoded struct {
	Kind     Kind
	Packet   Packet
	STUNType uint16
	STUNID   byte
	Classic  bool
	Channel  uint16
	Payload  string
	ICMP     ICMPError
	RTP      rtp.Header
	RTCP     []uint8 // packet types; of SRTCP, the first packet's only
	SRTCP    *rtp.SRTCP
	SIP      string // method or status code, then Call-ID: "INVITE abc@host", "200 abc@host"
	Raw      string // Message.Payload
}

func run(t testing.TB, opts Options, recs ...*capture.Record) ([]decoded, Stats) {
	t.Helper()
	d := NewDecoderWithOptions(opts)
	var out []decoded
	collect := func(m *Message) {
		c := decoded{Kind: m.Kind, Packet: m.Packet}
		switch m.Kind {
		case KindSTUN:
			c.STUNType, c.STUNID, c.Classic = m.STUN.Type, m.STUN.Transaction[0], m.STUN.Classic
		case KindChannelData:
			c.Channel, c.Payload = m.Channel.Number, string(m.Channel.Payload)
		case KindICMPError:
			c.ICMP = m.ICMP
			c.ICMP.QuotedPayload = append([]byte(nil), m.ICMP.QuotedPayload...)
		case KindRTP:
			c.RTP = m.RTP
		case KindRTCP:
			if m.SRTCP != nil {
				s := *m.SRTCP
				c.SRTCP, c.RTCP = &s, []uint8{s.Type}
				break
			}
			for i := 0; i < m.RTCP.N; i++ {
				c.RTCP = append(c.RTCP, m.RTCP.Packets[i].Type)
			}
		case KindSIP:
			if m.SIP.IsRequest {
				c.SIP = string(m.SIP.Method)
			} else {
				c.SIP = strconv.Itoa(m.SIP.StatusCode)
			}
			c.SIP += " " + string(m.SIP.CallID)
		}
		c.Raw = string(m.Payload)
		out = append(out, c)
	}
	for _, r := range recs {
		d.Decode(r, collect)
	}
	d.Flush(collect)
	return out, d.Stats()
}

// record numbers records from 1 as they are built, a millisecond apart.
type recorder struct{ n uint64 }

func (r *recorder) at(lt capture.LinkType, data []byte, ts time.Time) *capture.Record {
	r.n++
	return &capture.Record{Frame: r.n, Time: ts, LinkType: lt, Data: data, OrigLen: len(data)}
}

// next is at, a millisecond after the previous record.
func (r *recorder) next(lt capture.LinkType, data []byte) *capture.Record {
	return r.at(lt, data, t0.Add(time.Duration(r.n)*time.Millisecond))
}

func kinds(ms []decoded) []Kind {
	var k []Kind
	for _, m := range ms {
		k = append(k, m.Kind)
	}
	return k
}

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

type netipAddrPort = netip.AddrPort
