package decode

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
)

// ipv6Header builds an IPv6 header by hand, for extension header tests.
func ipv6Header(src, dst netip.Addr, next uint8, payloadLen int, tc uint8) []byte {
	h := make([]byte, 40)
	binary.BigEndian.PutUint32(h, 6<<28|uint32(tc)<<20)
	binary.BigEndian.PutUint16(h[4:], uint16(payloadLen))
	h[6], h[7] = next, 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return h
}

// extHeader builds a generic extension header of n*8 bytes.
func extHeader(next uint8, n int) []byte {
	h := make([]byte, n*8)
	h[0], h[1] = next, uint8(n-1)
	if n*8 > 2 {
		h[2], h[3] = 1, uint8(n*8-4) // a PadN option filling the rest
	}
	return h
}

func TestIPv6ExtensionHeaders(t *testing.T) {
	udp := udpOnly(t, client6, server6, stunMessage(typeBindingRequest, 9, "ext"))
	routing := extHeader(60, 3)
	routing[2], routing[3] = 0, 0 // type 0, segments left 0
	ah := make([]byte, 16)
	ah[0], ah[1] = 17, 2 // (2+2)*4 = 16 bytes
	tests := []struct {
		name    string
		next    uint8
		chain   []byte
		emitted bool
	}{
		{"none", 17, nil, true},
		{"hop-by-hop", 0, extHeader(17, 1), true},
		{"hop-by-hop, routing, destination", 0, chain(extHeader(43, 1), routing, extHeader(17, 2)), true},
		{"authentication header", 51, ah, true},
		{"atomic fragment", 44, []byte{17, 0, 0, 0, 0, 0, 0, 1}, true},
		{"ESP hides the rest", 50, make([]byte, 16), false},
		{"no next header", 59, nil, false},
		{"extension header cut", 0, []byte{17, 4, 0, 0, 0, 0, 0, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := append(append([]byte(nil), tt.chain...), udp...)
			ip := append(ipv6Header(client6.Addr(), server6.Addr(), tt.next, len(payload), 0xb8), payload...)
			var r recorder
			got, st := run(t, Options{}, r.at(capture.LinkIPv6, ip, t0))
			if !tt.emitted {
				if len(got) != 0 {
					t.Fatalf("emitted %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].STUNID != 9 || got[0].Packet.Src != client6 || got[0].Packet.DSCP != 46 {
				t.Fatalf("got %+v, want the STUN message from %v with DSCP 46", got, client6)
			}
			if st.IPv6 != 1 || st.UDP != 1 || st.Fragments != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func chain(hs ...[]byte) []byte {
	var b []byte
	for _, h := range hs {
		b = append(b, h...)
	}
	return b
}

// fragment is one IP fragment to send: its offset, whether more follow,
// and its bytes, with a delay after the previous one.
type fragment struct {
	off, end int
	more     bool
	delay    time.Duration
}

// ipv4Fragments cuts the IPv4 packet ip into the given fragments.
func ipv4Fragments(ip []byte, id uint16, frags []fragment) [][]byte {
	hdr, body := ip[:20], ip[20:]
	var out [][]byte
	for _, f := range frags {
		end := min(f.end, len(body))
		h := append([]byte(nil), hdr...)
		binary.BigEndian.PutUint16(h[2:], uint16(20+end-f.off))
		binary.BigEndian.PutUint16(h[4:], id)
		v := uint16(f.off / 8)
		if f.more {
			v |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], v)
		h[10], h[11] = 0, 0
		out = append(out, append(h, body[f.off:end]...))
	}
	return out
}

// ipv6Fragments cuts the transport payload into IPv6 fragments.
func ipv6Fragments(src, dst netip.Addr, next uint8, body []byte, id uint32, frags []fragment) [][]byte {
	var out [][]byte
	for _, f := range frags {
		end := min(f.end, len(body))
		fh := make([]byte, 8)
		fh[0] = next
		v := uint16(f.off)
		if f.more {
			v |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], v)
		binary.BigEndian.PutUint32(fh[4:], id)
		p := append(fh, body[f.off:end]...)
		out = append(out, append(ipv6Header(src, dst, 44, len(p), 0), p...))
	}
	return out
}

func TestFragments(t *testing.T) {
	msg := stunMessage(typeAllocateRequest, 3, "a software name long enough to need three fragments of 64 bytes, and a bit over: lorem ipsum dolor sit amet, consectetur adipiscing elit")
	v4 := udpIP(t, client, server, msg, 0)
	udp6 := udpOnly(t, client6, server6, msg)
	n := len(v4) - 20 // the same length in both: UDP header + msg
	inOrder := []fragment{{0, 64, true, 0}, {64, 128, true, 0}, {128, n, false, 0}}
	tests := []struct {
		name      string
		frags     []fragment
		opts      Options
		completes int    // index of the fragment that completes the datagram, -1 for none
		dropped   uint64 // datagrams given up, those still open at Flush included
	}{
		{"in order", inOrder, Options{}, 2, 0},
		{"reversed", []fragment{inOrder[2], inOrder[1], inOrder[0]}, Options{}, 2, 0},
		{"last first", []fragment{inOrder[2], inOrder[0], inOrder[1]}, Options{}, 2, 0},
		{"exact duplicate ignored", []fragment{inOrder[0], inOrder[0], inOrder[1], inOrder[2]}, Options{}, 3, 0},
		{"overlap discards the datagram (RFC 5722)", []fragment{inOrder[0], {56, 128, true, 0}, inOrder[2]}, Options{}, -1, 2},
		{"two different last fragments", []fragment{{128, n, false, 0}, {128, n - 1, false, 0}, inOrder[0], inOrder[1]}, Options{}, -1, 2},
		{"non-last fragment not a multiple of 8", []fragment{{0, 60, true, 0}, {60, 128, true, 0}, inOrder[2]}, Options{}, -1, 3},
		{"timeout", []fragment{inOrder[0], inOrder[1], {128, n, false, 31 * time.Second}}, Options{}, -1, 2},
		{"within the timeout", []fragment{inOrder[0], inOrder[1], {128, n, false, 29 * time.Second}}, Options{}, 2, 0},
		{"byte limit", inOrder, Options{MaxFragBytes: 100}, -1, 2},
		// Bytes counted past the end the last fragment sets would let a
		// hole at offset 0 pass for a whole datagram (stale buffer bytes).
		{"last fragment ends before stored data", []fragment{{64, 72, true, 0}, {8, 64, false, 0}}, Options{}, -1, 1},
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		for _, tt := range tests {
			t.Run(fam+"/"+tt.name, func(t *testing.T) {
				var pkts [][]byte
				lt := capture.LinkIPv4
				if fam == "ipv4" {
					pkts = ipv4Fragments(v4, 0x1234, tt.frags)
				} else {
					lt = capture.LinkIPv6
					pkts = ipv6Fragments(client6.Addr(), server6.Addr(), 17, udp6, 0xabcdef, tt.frags)
				}
				var r recorder
				var recs []*capture.Record
				ts := t0
				for i, p := range pkts {
					ts = ts.Add(tt.frags[i].delay + time.Millisecond)
					recs = append(recs, r.at(lt, p, ts))
				}
				got, st := run(t, tt.opts, recs...)
				if st.Fragments != uint64(len(pkts)) {
					t.Errorf("Fragments = %d, want %d", st.Fragments, len(pkts))
				}
				if st.FragmentsDropped != tt.dropped {
					t.Errorf("FragmentsDropped = %d, want %d", st.FragmentsDropped, tt.dropped)
				}
				if tt.completes < 0 {
					if len(got) != 0 || st.Reassembled != 0 {
						t.Fatalf("reassembled %d, emitted %+v", st.Reassembled, got)
					}
					return
				}
				if len(got) != 1 || got[0].STUNID != 3 || st.Reassembled != 1 || st.UDP != 1 {
					t.Fatalf("got %+v, stats %+v; want the Allocate once", got, st)
				}
				if want := uint64(tt.completes + 1); got[0].Packet.Frame != want {
					t.Errorf("message in frame %d, want %d (the one that completed it)", got[0].Packet.Frame, want)
				}
			})
		}
	}
}

func TestFragmentLimits(t *testing.T) {
	// More datagrams in progress than allowed: the oldest is evicted and
	// the newest still completes.
	var r recorder
	var recs []*capture.Record
	msg := stunMessage(typeBindingRequest, 5, "sixteen bytes!!!")
	ip := udpIP(t, client, server, msg, 0)
	n := len(ip) - 20
	for id := uint16(1); id <= 3; id++ {
		recs = append(recs, r.next(capture.LinkIPv4, ipv4Fragments(ip, id, []fragment{{0, 16, true, 0}})[0]))
	}
	recs = append(recs, r.next(capture.LinkIPv4, ipv4Fragments(ip, 1, []fragment{{16, n, false, 0}})[0])) // evicted
	recs = append(recs, r.next(capture.LinkIPv4, ipv4Fragments(ip, 3, []fragment{{16, n, false, 0}})[0]))
	got, st := run(t, Options{MaxFragDatagrams: 2}, recs...)
	if len(got) != 1 || got[0].Packet.Frame != 5 {
		t.Fatalf("got %+v, want one message in frame 5", got)
	}
	// id 1 evicted by id 3; its last fragment then starts a datagram that
	// evicts id 2; that one is dropped at Flush.
	if st.FragmentsDropped != 3 || st.Reassembled != 1 {
		t.Errorf("dropped %d reassembled %d, want 3 and 1", st.FragmentsDropped, st.Reassembled)
	}

	// A fragment reaching past 65535 bytes is refused.
	h := ipv4Fragments(ip, 9, []fragment{{0, 16, true, 0}})[0]
	binary.BigEndian.PutUint16(h[6:], 0x2000|8189)
	got, st = run(t, Options{}, r.at(capture.LinkIPv4, h, t0))
	if len(got) != 0 || st.FragmentsDropped != 1 {
		t.Errorf("hostile offset: got %+v, dropped %d", got, st.FragmentsDropped)
	}
}
