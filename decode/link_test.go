package decode

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/callscope/callscope/decode/capture"
)

func TestLinkTypes(t *testing.T) {
	req := stunMessage(typeBindingRequest, 7, "")
	v4 := udpIP(t, client, server, req, 46<<2) // DSCP EF
	v6 := udpIP(t, client6, server6, req, 34<<2)
	sll := func(ip []byte, et uint16) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], 4) // sent by us
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], et)
		return append(h, ip...)
	}
	sll2 := func(ip []byte, et uint16) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], et)
		binary.BigEndian.PutUint32(h[4:], 2) // interface index
		binary.BigEndian.PutUint16(h[8:], 1)
		h[11] = 6
		return append(h, ip...)
	}
	null := func(ip []byte, family uint32, big bool) []byte {
		h := make([]byte, 4)
		if big {
			binary.BigEndian.PutUint32(h, family)
		} else {
			binary.LittleEndian.PutUint32(h, family)
		}
		return append(h, ip...)
	}
	pppoe := func(ip []byte) []byte {
		h := []byte{0x11, 0, 0x12, 0x34, 0, 0, 0, 0x21}
		binary.BigEndian.PutUint16(h[4:], uint16(len(ip)+2))
		eth := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0x64}, h...)
		return append(eth, ip...)
	}

	tests := []struct {
		name string
		lt   capture.LinkType
		data []byte
		v6   bool
	}{
		{"ethernet/ipv4", capture.LinkEthernet, ether(t, v4), false},
		{"ethernet/ipv6", capture.LinkEthernet, ether(t, v6), true},
		{"802.1Q", capture.LinkEthernet, ether(t, v4, [2]uint16{0x8100, 100}), false},
		{"802.1ad QinQ", capture.LinkEthernet, ether(t, v6, [2]uint16{0x88a8, 10}, [2]uint16{0x8100, 20}), true},
		{"old QinQ 0x9100", capture.LinkEthernet, ether(t, v4, [2]uint16{0x9100, 10}, [2]uint16{0x8100, 20}), false},
		{"PPPoE", capture.LinkEthernet, pppoe(v4), false},
		{"SLL ipv4", capture.LinkLinuxSLL, sll(v4, 0x0800), false},
		{"SLL ipv6", capture.LinkLinuxSLL, sll(v6, 0x86dd), true},
		{"SLL2 ipv4", capture.LinkSLL2, sll2(v4, 0x0800), false},
		{"SLL2 ipv6", capture.LinkSLL2, sll2(v6, 0x86dd), true},
		{"raw 101 ipv4", capture.LinkRaw, v4, false},
		{"raw 101 ipv6", capture.LinkRaw, v6, true},
		{"raw ipv4 228", capture.LinkIPv4, v4, false},
		{"raw ipv6 229", capture.LinkIPv6, v6, true},
		{"null little-endian AF_INET", capture.LinkNull, null(v4, 2, false), false},
		{"null big-endian AF_INET", capture.LinkNull, null(v4, 2, true), false},
		{"null linux AF_INET6", capture.LinkNull, null(v6, 10, false), true},
		{"null BSD AF_INET6", capture.LinkNull, null(v6, 24, false), true},
		{"null FreeBSD AF_INET6", capture.LinkNull, null(v6, 28, true), true},
		{"null darwin AF_INET6", capture.LinkNull, null(v6, 30, false), true},
		{"loop 108 AF_INET", capture.LinkLoop, null(v4, 2, true), false},
		{"loop 108 AF_INET6", capture.LinkLoop, null(v6, 24, true), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			got, st := run(t, Options{}, r.at(tt.lt, tt.data, t0))
			if len(got) != 1 || got[0].Kind != KindSTUN || got[0].STUNID != 7 {
				t.Fatalf("got %+v, want one STUN message", got)
			}
			p := got[0].Packet
			wantSrc, wantDst, wantDSCP := client, server, uint8(46)
			if tt.v6 {
				wantSrc, wantDst, wantDSCP = client6, server6, 34
			}
			if p.Src != wantSrc || p.Dst != wantDst || p.Transport != UDP || p.DSCP != wantDSCP || p.Frame != 1 || !p.Time.Equal(t0) {
				t.Errorf("packet %+v, want %v -> %v udp DSCP %d frame 1", p, wantSrc, wantDst, wantDSCP)
			}
			wantV6 := uint64(0)
			if tt.v6 {
				wantV6 = 1
			}
			if st.Packets != 1 || st.UDP != 1 || st.STUN != 1 || st.IPv6 != wantV6 || st.NotIP != 0 || st.Truncated != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestLinkNotUnderstood(t *testing.T) {
	arp := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06}, make([]byte, 28)...)
	tests := []struct {
		name      string
		lt        capture.LinkType
		data      []byte
		unknown   uint16
		notIP     uint64
		truncated uint64
	}{
		{"unknown link type", 147, []byte{1, 2, 3}, 147, 0, 0},
		{"ARP", capture.LinkEthernet, arp, 0, 1, 0},
		{"null AF_UNSPEC", capture.LinkNull, []byte{0, 0, 0, 0, 0x45}, 0, 1, 0},
		{"raw, version 5", capture.LinkRaw, []byte{0x50, 0, 0, 0}, 0, 1, 0},
		{"short Ethernet", capture.LinkEthernet, []byte{1, 2, 3}, 0, 0, 1},
		{"short SLL2", capture.LinkSLL2, make([]byte, 19), 0, 0, 1},
		{"VLAN tag cut", capture.LinkEthernet, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0}, 0, 0, 1},
		{"IPv4 header cut", capture.LinkIPv4, []byte{0x45, 0, 0, 40, 0, 0}, 0, 0, 1},
		{"IPv4 IHL past the data", capture.LinkIPv4, append([]byte{0x4f}, make([]byte, 30)...), 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			got, st := run(t, Options{}, r.at(tt.lt, tt.data, t0))
			if len(got) != 0 {
				t.Errorf("emitted %+v", got)
			}
			if tt.unknown != 0 && st.UnknownLinkTypes[tt.unknown] != 1 {
				t.Errorf("UnknownLinkTypes = %v, want %d counted", st.UnknownLinkTypes, tt.unknown)
			}
			if st.NotIP != tt.notIP || st.Truncated != tt.truncated {
				t.Errorf("NotIP %d Truncated %d, want %d %d", st.NotIP, st.Truncated, tt.notIP, tt.truncated)
			}
		})
	}
}

func TestSnaplenCut(t *testing.T) {
	ip := udpIP(t, client, server, stunMessage(typeBindingRequest, 1, "callscope test software"), 0)
	frame := ether(t, ip)
	rec := &capture.Record{Frame: 1, Time: t0, LinkType: capture.LinkEthernet, Data: frame[:60], OrigLen: len(frame)}
	got, st := run(t, Options{}, rec)
	if len(got) != 0 {
		t.Errorf("a cut STUN message was emitted: %+v", got)
	}
	if st.Truncated != 1 || st.UDP != 1 {
		t.Errorf("Truncated %d UDP %d, want 1 1", st.Truncated, st.UDP)
	}
}

// An IPv4-mapped IPv6 address is an IPv4 host (netip Unmap).
func TestIPv4MappedUnmapped(t *testing.T) {
	src := netipMust("[::ffff:192.0.2.10]:50000")
	ip := udpIP(t, src, server6, stunMessage(typeBindingRequest, 1, ""), 0)
	var r recorder
	got, _ := run(t, Options{}, r.at(capture.LinkIPv6, ip, t0))
	if len(got) != 1 || got[0].Packet.Src != client {
		t.Fatalf("got %+v, want source %v", got, client)
	}
}

func TestTunnels(t *testing.T) {
	inner := udpIP(t, client, server, stunMessage(typeBindingRequest, 8, ""), 46<<2)
	outerA, outerB := netipMust("10.1.0.1:2152"), netipMust("10.1.0.2:2152")
	outer := func(proto layers.IPProtocol, payload []byte) []byte {
		ip := ipLayer(outerA, outerB, proto, 0)
		return serialize(t, ip.(gopacket.SerializableLayer), gopacket.Payload(payload))
	}
	gtp := append([]byte{0x30, 0xff, 0, byte(len(inner)), 0, 0, 0, 1}, inner...)
	gtpExt := append([]byte{0x34, 0xff, 0, byte(len(inner) + 8), 0, 0, 0, 1, 0, 0, 0, 0x85, 1, 0x10, 0x09, 0}, inner...)
	pptp := append([]byte{0x30, 0x01, 0x88, 0x0b, 0, byte(len(inner) + 4), 0, 1, 0, 0, 0, 1, 0xff, 0x03, 0x00, 0x21}, inner...)
	tests := []struct {
		name string
		ip   []byte
	}{
		{"IP in IP", outer(layers.IPProtocolIPv4, inner)},
		{"GRE", outer(layers.IPProtocolGRE, append([]byte{0, 0, 0x08, 0}, inner...))},
		{"GRE with key and sequence", outer(layers.IPProtocolGRE, append([]byte{0x30, 0, 0x08, 0, 0, 0, 0, 7, 0, 0, 0, 1}, inner...))},
		{"PPTP enhanced GRE", outer(layers.IPProtocolGRE, pptp)},
		{"GTP-U", udpIP(t, outerA, outerB, gtp, 0)},
		{"GTP-U with an extension header", udpIP(t, outerA, outerB, gtpExt, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			got, st := run(t, Options{}, r.next(capture.LinkIPv4, tt.ip))
			if len(got) != 1 || got[0].STUNID != 8 || got[0].Packet.Src != client || got[0].Packet.DSCP != 46 {
				t.Fatalf("got %+v, want the inner STUN message from %v, DSCP 46 of the inner header", got, client)
			}
			if st.UDP != 1 {
				t.Errorf("UDP = %d, want 1 per packet", st.UDP)
			}
		})
	}
}

// TestLinkCapturePoint checks the direction and interface the Linux
// cooked headers give (tcpdump -i any), and that other link types leave
// them unknown.
func TestLinkCapturePoint(t *testing.T) {
	req := stunMessage(typeBindingRequest, 7, "")
	v4 := udpIP(t, client, server, req, 46<<2)
	sll := func(pkttype uint16) []byte {
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:], pkttype)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		binary.BigEndian.PutUint16(h[14:], 0x0800)
		return append(h, v4...)
	}
	sll2 := func(pkttype uint8, ifindex uint32) []byte {
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], 0x0800)
		binary.BigEndian.PutUint32(h[4:], ifindex)
		binary.BigEndian.PutUint16(h[8:], 1)
		h[10] = pkttype
		h[11] = 6
		return append(h, v4...)
	}
	tests := []struct {
		name      string
		lt        capture.LinkType
		data      []byte
		direction Direction
		ifindex   uint32
	}{
		{"SLL to us", capture.LinkLinuxSLL, sll(0), Arriving, 0},
		{"SLL broadcast", capture.LinkLinuxSLL, sll(1), Arriving, 0},
		{"SLL multicast", capture.LinkLinuxSLL, sll(2), Arriving, 0},
		{"SLL to another host", capture.LinkLinuxSLL, sll(3), Arriving, 0},
		{"SLL outgoing", capture.LinkLinuxSLL, sll(4), Leaving, 0},
		{"SLL loopback", capture.LinkLinuxSLL, sll(5), DirectionUnknown, 0},
		{"SLL2 to us on 2", capture.LinkSLL2, sll2(0, 2), Arriving, 2},
		{"SLL2 outgoing on 3", capture.LinkSLL2, sll2(4, 3), Leaving, 3},
		{"SLL2 large ifindex", capture.LinkSLL2, sll2(4, 0xfffffffe), Leaving, 0xfffffffe},
		{"SLL2 unknown type", capture.LinkSLL2, sll2(7, 9), DirectionUnknown, 9},
		{"ethernet", capture.LinkEthernet, ether(t, v4), DirectionUnknown, 0},
		{"raw", capture.LinkRaw, v4, DirectionUnknown, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			got, _ := run(t, Options{}, r.at(tt.lt, tt.data, t0))
			if len(got) != 1 {
				t.Fatalf("got %d messages, want 1", len(got))
			}
			if p := got[0].Packet; p.Direction != tt.direction || p.Interface != tt.ifindex {
				t.Errorf("direction %v interface %d, want %v %d", p.Direction, p.Interface, tt.direction, tt.ifindex)
			}
		})
	}
}

// TestLinkCapturePointRouted reads the router's own capture of a call it
// forwards without NAT (tcpdump -i any, LINUX_SLL2): the first RTP packet
// of the caller's audio arrives on interface 2 (frame 11) and leaves on 3
// (frame 12), as tshark's sll.pkttype and sll.ifindex say, and the copy
// that leaves carries another DSCP on the same 5-tuple.
func TestLinkCapturePointRouted(t *testing.T) {
	r, err := capture.Open("../pcaps/sip-dscp-remarked-routed.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d := NewDecoder()
	got := map[uint64]Packet{}
	eachRecord(t, r, func(rec *capture.Record) {
		d.Decode(rec, func(m *Message) {
			if rec.Frame <= 14 {
				got[m.Frame] = m.Packet
			}
		})
	})
	in, out := got[11], got[12]
	if in.Direction != Arriving || in.Interface != 2 || in.DSCP != 46 {
		t.Errorf("frame 11: %v on %d DSCP %d, want arriving on 2 DSCP 46", in.Direction, in.Interface, in.DSCP)
	}
	if out.Direction != Leaving || out.Interface != 3 || out.DSCP != 0 {
		t.Errorf("frame 12: %v on %d DSCP %d, want leaving on 3 DSCP 0", out.Direction, out.Interface, out.DSCP)
	}
	if in.Src != out.Src || in.Dst != out.Dst {
		t.Errorf("frames 11 and 12 on %v → %v and %v → %v, want one 5-tuple", in.Src, in.Dst, out.Src, out.Dst)
	}
}
