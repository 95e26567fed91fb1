package decode

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/callscope/callscope/decode/capture"
)

func TestChannelDataNeedsSTUNEndpoint(t *testing.T) {
	other := netipMust("203.0.113.5:40000")
	cd := channelData(0x4001, []byte("media!"), false)
	steps := []struct {
		name     string
		src, dst string
		payload  []byte
		after    time.Duration
		want     Kind // 0: nothing emitted
	}{
		{"ChannelData before any STUN", "c", "s", cd, 0, 0},
		{"Allocate", "c", "s", stunMessage(typeAllocateRequest, 1, ""), 0, KindSTUN},
		{"ChannelData client to server", "c", "s", cd, 0, KindChannelData},
		{"ChannelData server to client", "s", "c", cd, 0, KindChannelData},
		{"padded to 4 over UDP too", "c", "s", channelData(0x4001, []byte("media!"), true), 0, KindChannelData},
		{"length past the datagram", "c", "s", cd[:len(cd)-1], 0, 0},
		{"unrelated flow", "o", "o2", cd, 0, 0},
		{"a flow sharing the server endpoint", "o", "s", cd, 0, KindChannelData},
		{"RFC 5766 channel 0x5A8A, as coturn binds", "c", "s", append([]byte{0x5a}, cd[1:]...), 0, KindChannelData},
		{"first byte outside 0x40-0x7f", "c", "s", append([]byte{0x80}, cd[1:]...), 0, 0},
		{"after the endpoint's TTL", "c", "s", cd, 16 * time.Minute, 0},
	}
	addr := map[string]netipAddrPort{"c": client, "s": server, "o": other, "o2": netipMust("203.0.113.6:40001")}
	var r recorder
	var recs []*capture.Record
	ts := t0
	for _, s := range steps {
		ts = ts.Add(s.after + time.Millisecond)
		recs = append(recs, r.at(capture.LinkIPv4, udpIP(t, addr[s.src], addr[s.dst], s.payload, 0), ts))
	}
	got, st := run(t, Options{}, recs...)
	i := 0
	for n, s := range steps {
		frame := uint64(n + 1)
		var k Kind
		if i < len(got) && got[i].Packet.Frame == frame {
			k = got[i].Kind
			if k == KindChannelData && (got[i].Channel&0xff != 0x01 || got[i].Payload != "media!") {
				t.Errorf("%s: ChannelData %#x %q", s.name, got[i].Channel, got[i].Payload)
			}
			i++
		}
		if k != s.want {
			t.Errorf("%s: emitted kind %d, want %d", s.name, k, s.want)
		}
	}
	if st.ChannelData != 5 || st.STUN != 1 {
		t.Errorf("stats ChannelData %d STUN %d, want 5 and 1", st.ChannelData, st.STUN)
	}
}

// classicBinding is an RFC 3489 Binding Request: no magic cookie, a
// 128-bit transaction ID.
func classicBinding() []byte {
	b := []byte{0, 1, 0, 0}
	for i := 0; i < 16; i++ {
		b = append(b, byte(0xa0+i))
	}
	return b
}

func TestUDPClassification(t *testing.T) {
	overrun := stunMessage(typeBindingRequest, 6, "")
	binary.BigEndian.PutUint16(overrun[2:], 8)
	overrun = append(overrun, 0x80, 0x22, 0, 100, 'x', 'y', 'z', 0) // SOFTWARE claims 100 bytes, has 4
	tests := []struct {
		name      string
		src, dst  netipAddrPort
		payload   []byte
		kind      Kind
		classic   bool
		malformed uint64
	}{
		{"STUN on any port", netipMust("10.0.0.1:40000"), netipMust("10.0.0.2:40001"), stunMessage(typeBindingRequest, 1, ""), KindSTUN, false, 0},
		{"classic STUN on 3478", client, server, classicBinding(), KindSTUN, true, 0},
		{"classic STUN from 3478", server, client, classicBinding(), KindSTUN, true, 0},
		{"classic STUN on 19302", client, netipMust("74.125.0.1:19302"), classicBinding(), KindSTUN, true, 0},
		{"classic STUN elsewhere is not believed", netipMust("10.0.0.1:40000"), netipMust("10.0.0.2:40001"), classicBinding(), 0, false, 0},
		{"RTP", client, server, append([]byte{0x80, 0x00}, make([]byte, 40)...), KindRTP, false, 0},
		{"DTLS", client, server, append([]byte{0x16, 0xfe, 0xfd}, make([]byte, 40)...), 0, false, 0},
		{"empty", client, server, nil, 0, false, 0},
		{"malformed body, header fine: emitted and counted", client, server, overrun, KindSTUN, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			got, st := run(t, Options{}, r.next(capture.LinkIPv4, udpIP(t, tt.src, tt.dst, tt.payload, 0)))
			if tt.kind == 0 {
				if len(got) != 0 {
					t.Fatalf("emitted %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != tt.kind || got[0].Classic != tt.classic {
				t.Fatalf("got %+v, want kind %d classic %v", got, tt.kind, tt.classic)
			}
			if st.Malformed != tt.malformed || (tt.malformed > 0 && (len(st.MalformedFrames) != 1 || st.MalformedFrames[0] != 1)) {
				t.Errorf("Malformed %d frames %v, want %d", st.Malformed, st.MalformedFrames, tt.malformed)
			}
			if tt.classic && (st.ClassicSTUN != 1 || st.STUN != 0) {
				t.Errorf("ClassicSTUN %d STUN %d", st.ClassicSTUN, st.STUN)
			}
		})
	}
}

func TestICMPErrors(t *testing.T) {
	allocate := stunMessage(typeAllocateRequest, 0x42, "client software")
	orig := udpIP(t, client, server, allocate, 0)
	orig6 := udpIP(t, client6, server6, allocate, 0)
	origTCP := tcpIP(t, client, server, 7, tcpACK|tcpPSH, allocate)
	icmp4 := func(typ, code uint8, quote []byte) []byte {
		ip := ipLayer(server, client, layers.IPProtocolICMPv4, 0)
		return serialize(t, ip.(gopacket.SerializableLayer),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(typ, code)}, gopacket.Payload(quote))
	}
	icmp6 := func(typ, code uint8, quote []byte) []byte {
		ip := ipLayer(server6, client6, layers.IPProtocolICMPv6, 0)
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, code)}
		ic.SetNetworkLayerForChecksum(ip)
		// 4 unused bytes (or the MTU) before the quote, RFC 4443 §3.
		return serialize(t, ip.(gopacket.SerializableLayer), ic, gopacket.Payload(append(make([]byte, 4), quote...)))
	}
	tests := []struct {
		name    string
		lt      capture.LinkType
		pkt     []byte
		emitted bool
		want    ICMPError
	}{
		{"port unreachable quoting a whole Allocate", capture.LinkIPv4, icmp4(3, 3, orig), true,
			ICMPError{Type: 3, Code: 3, Unreachable: true, Description: "port unreachable",
				QuotedSrc: client, QuotedDst: server, QuotedTransport: UDP, QuotedPayload: allocate}},
		{"RFC 792 quote: IP header and 8 bytes", capture.LinkIPv4, icmp4(3, 1, orig[:28]), true,
			ICMPError{Type: 3, Code: 1, Unreachable: true, Description: "host unreachable",
				QuotedSrc: client, QuotedDst: server, QuotedTransport: UDP}},
		{"quote cut inside the STUN header", capture.LinkIPv4, icmp4(3, 13, orig[:40]), true,
			ICMPError{Type: 3, Code: 13, Unreachable: true, Description: "communication administratively prohibited",
				QuotedSrc: client, QuotedDst: server, QuotedTransport: UDP, QuotedPayload: allocate[:12]}},
		{"quote cut after the ports", capture.LinkIPv4, icmp4(11, 0, orig[:24]), true,
			ICMPError{Type: 11, Description: "TTL exceeded in transit",
				QuotedSrc: client, QuotedDst: server, QuotedTransport: UDP}},
		{"quoting TCP", capture.LinkIPv4, icmp4(3, 10, origTCP), true,
			ICMPError{Type: 3, Code: 10, Unreachable: true, Description: "host administratively prohibited",
				QuotedSrc: client, QuotedDst: server, QuotedTransport: TCP, QuotedPayload: allocate}},
		{"ICMPv6 administratively prohibited", capture.LinkIPv6, icmp6(1, 1, orig6), true,
			ICMPError{V6: true, Type: 1, Code: 1, Unreachable: true, Description: "administratively prohibited",
				QuotedSrc: client6, QuotedDst: server6, QuotedTransport: UDP, QuotedPayload: allocate}},
		{"ICMPv6 packet too big", capture.LinkIPv6, icmp6(2, 0, orig6[:48]), true,
			ICMPError{V6: true, Type: 2, Description: "packet too big",
				QuotedSrc: client6, QuotedDst: server6, QuotedTransport: UDP}},
		{"quote too short for ports", capture.LinkIPv4, icmp4(3, 3, orig[:22]), false, ICMPError{}},
		{"echo request is not an error", capture.LinkIPv4, icmp4(8, 0, orig), false, ICMPError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			got, st := run(t, Options{}, r.next(tt.lt, tt.pkt))
			if !tt.emitted {
				if len(got) != 0 || st.ICMPErrors != 0 {
					t.Fatalf("emitted %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Kind != KindICMPError {
				t.Fatalf("got %+v, want one ICMP error and no STUN message for the quote", got)
			}
			e := got[0].ICMP
			if !bytes.Equal(e.QuotedPayload, tt.want.QuotedPayload) {
				t.Errorf("QuotedPayload %x, want %x", e.QuotedPayload, tt.want.QuotedPayload)
			}
			e.QuotedPayload, tt.want.QuotedPayload = nil, nil
			if !reflect.DeepEqual(e, tt.want) {
				t.Errorf("got  %+v\nwant %+v", e, tt.want)
			}
			if st.ICMPErrors != 1 || st.STUN != 0 || st.UDP != 0 {
				t.Errorf("stats ICMPErrors %d STUN %d UDP %d, want 1 0 0", st.ICMPErrors, st.STUN, st.UDP)
			}
			if p := got[0].Packet; p.Src.Addr() != server.Addr() && p.Src.Addr() != server6.Addr() {
				t.Errorf("ICMP error from %v, want the sender of the error", p.Src)
			}
		})
	}
}
