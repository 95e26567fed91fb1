package decode

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
)

// bigINVITE is a SIP INVITE of about 3000 bytes: three IP fragments at a
// 1500-byte MTU.
func bigINVITE(t *testing.T, callID string) []byte {
	t.Helper()
	body := testSDP
	for len(body) < 2800 {
		body += "a=candidate:1 1 UDP 2130706431 192.0.2.10 40000 typ host\r\n"
	}
	return sipMessage("INVITE sip:bob@example.org SIP/2.0", callID, "z9hG4bK-"+callID, "1 INVITE", body)
}

var (
	sipClient  = netip.MustParseAddrPort("192.0.2.10:5060")
	sipServer  = netip.MustParseAddrPort("198.51.100.1:5060")
	sipClient6 = netip.MustParseAddrPort("[2001:db8::10]:5060")
	sipServer6 = netip.MustParseAddrPort("[2001:db8::1]:5060")
)

// fragmentsOf runs records through a decoder and returns, for each SIP
// message emitted, a copy of its Fragments (nil when it came whole).
func fragmentsOf(t *testing.T, opts Options, recs ...*capture.Record) ([]*Fragments, Stats) {
	t.Helper()
	d := NewDecoderWithOptions(opts)
	var out []*Fragments
	collect := func(m *Message) {
		if m.Kind != KindSIP {
			return
		}
		if m.Fragments == nil {
			out = append(out, nil)
			return
		}
		f := *m.Fragments
		f.Frames = slices.Clone(f.Frames)
		out = append(out, &f)
	}
	for _, r := range recs {
		d.Decode(r, collect)
	}
	d.Flush(collect)
	return out, d.Stats()
}

// A SIP message reassembled from fragments says which frames brought it;
// one that came whole, and the next one after a reassembled one, say
// nothing.
func TestSIPMessageFragments(t *testing.T) {
	invite := bigINVITE(t, "frag@host")
	small := sipMessage("OPTIONS sip:bob@example.org SIP/2.0", "small@host", "z9hG4bKs", "1 OPTIONS", "")
	v4 := udpIP(t, sipClient, sipServer, invite, 0)
	udp6 := udpOnly(t, sipClient6, sipServer6, invite)
	n := len(v4) - 20
	frags := []fragment{{0, 1480, true, 0}, {1480, 2960, true, 0}, {2960, n, false, 0}}
	for _, fam := range []string{"ipv4", "ipv6"} {
		t.Run(fam, func(t *testing.T) {
			pkts, lt := ipv4Fragments(v4, 0x4242, frags), capture.LinkIPv4
			whole := udpIP(t, sipClient, sipServer, small, 0)
			if fam == "ipv6" {
				pkts, lt = ipv6Fragments(sipClient6.Addr(), sipServer6.Addr(), 17, udp6, 0x4242, frags), capture.LinkIPv6
				whole = udpIP(t, sipClient6, sipServer6, small, 0)
			}
			var r recorder
			recs := []*capture.Record{r.next(lt, whole)}
			// Out of order, with an exact duplicate (a fragment seen twice
			// by a capture on both sides of a bridge): 3 fragments.
			for _, i := range []int{1, 1, 0, 2} {
				recs = append(recs, r.next(lt, pkts[i]))
			}
			recs = append(recs, r.next(lt, whole))
			got, st := fragmentsOf(t, Options{}, recs...)
			if len(got) != 3 || got[0] != nil || got[2] != nil {
				t.Fatalf("fragments of the messages %+v, want nil, the INVITE's, nil", got)
			}
			if f := got[1]; f == nil || f.Count != 3 || !slices.Equal(f.Frames, []uint64{2, 4, 5}) {
				t.Errorf("INVITE fragments %+v, want 3 in frames 2, 4, 5", f)
			}
			if len(st.FragmentLoss) != 0 {
				t.Errorf("fragment loss %+v for a datagram that completed", st.FragmentLoss)
			}
		})
	}
	// More fragments than MaxFragmentFrames: the count stays exact.
	var r recorder
	var recs []*capture.Record
	var cuts []fragment
	for off := 0; off < n; off += 64 {
		cuts = append(cuts, fragment{off, min(off+64, n), off+64 < n, 0})
	}
	for _, p := range ipv4Fragments(v4, 7, cuts) {
		recs = append(recs, r.next(capture.LinkIPv4, p))
	}
	got, _ := fragmentsOf(t, Options{}, recs...)
	if len(got) != 1 || got[0] == nil || got[0].Count != len(cuts) || len(got[0].Frames) != MaxFragmentFrames || got[0].Frames[0] != 1 {
		t.Errorf("%d fragments: got %+v", len(cuts), got)
	}
}

// A firewall that drops non-first fragments leaves a capture beside the
// receiver with first fragments only; one that reorders and loses the
// first leaves the rest. Both are counted per flow, with what the first
// fragment shows of the request; datagrams the decoder itself gave up (a
// limit, an overlap) are not.
func TestFragmentLoss(t *testing.T) {
	invite := bigINVITE(t, "lost@host")
	other := bigINVITE(t, "other@host")
	v4 := udpIP(t, sipClient, sipServer, invite, 0)
	v4other := udpIP(t, sipClient, netip.AddrPortFrom(sipServer.Addr(), 5080), other, 0)
	udp6 := udpOnly(t, sipClient6, sipServer6, invite)
	n := len(v4) - 20
	first, middle, last := fragment{0, 1480, true, 0}, fragment{1480, 2960, true, 0}, fragment{2960, n, false, 0}
	v4frag := func(id uint16, f fragment) []byte { return ipv4Fragments(v4, id, []fragment{f})[0] }
	after := func(d time.Duration, p []byte) sentPacket { return sentPacket{d, capture.LinkIPv4, p} }
	tests := []struct {
		name    string
		opts    Options
		packets []sentPacket
		want    []FragmentLoss // Head: only its request line is compared
		dropped uint64
	}{
		{
			name:    "first fragments only, each send timed out",
			packets: []sentPacket{after(0, v4frag(1, first)), after(500*time.Millisecond, v4frag(2, first)), after(31*time.Second, v4frag(3, first))},
			want: []FragmentLoss{{Src: sipClient, Dst: sipServer, Protocol: 17, Datagrams: 3, Fragments: 3, Size: n,
				Head: []byte("INVITE sip:bob@example.org SIP/2.0"), First: t0, Last: t0.Add(31500 * time.Millisecond), Frames: []uint64{1, 2, 3}}},
			dropped: 3,
		},
		{
			name:    "first and middle, never the last",
			packets: []sentPacket{after(0, v4frag(1, first)), after(0, v4frag(1, middle))},
			want: []FragmentLoss{{Src: sipClient, Dst: sipServer, Protocol: 17, Datagrams: 1, Fragments: 2, Size: n,
				Head: []byte("INVITE sip:bob@example.org SIP/2.0"), First: t0, Last: t0, Frames: []uint64{1, 2}}},
			dropped: 1,
		},
		{
			name:    "the rest without the first: no ports, the length from the last",
			packets: []sentPacket{after(0, v4frag(1, last)), after(0, v4frag(1, middle))},
			want: []FragmentLoss{{Src: netip.AddrPortFrom(sipClient.Addr(), 0), Dst: netip.AddrPortFrom(sipServer.Addr(), 0), Protocol: 17,
				WithoutFirst: true, Datagrams: 1, Fragments: 2, Size: n, First: t0, Last: t0, Frames: []uint64{1, 2}}},
			dropped: 1,
		},
		{
			name: "two flows, in the order their datagrams began",
			packets: []sentPacket{
				after(0, v4frag(1, first)),
				after(0, ipv4Fragments(v4other, 2, []fragment{first})[0]),
				after(0, v4frag(3, first)),
			},
			want: []FragmentLoss{
				{Src: sipClient, Dst: sipServer, Protocol: 17, Datagrams: 2, Fragments: 2, Size: n,
					Head: []byte("INVITE sip:bob@example.org SIP/2.0"), First: t0, Last: t0, Frames: []uint64{1, 3}},
				{Src: sipClient, Dst: netip.AddrPortFrom(sipServer.Addr(), 5080), Protocol: 17, Datagrams: 1, Fragments: 1, Size: len(v4other) - 20,
					Head: []byte("INVITE sip:bob@example.org SIP/2.0"), First: t0, Last: t0, Frames: []uint64{2}},
			},
			dropped: 3,
		},
		{
			name:    "IPv6, first fragment only",
			packets: []sentPacket{{0, capture.LinkIPv6, ipv6Fragments(sipClient6.Addr(), sipServer6.Addr(), 17, udp6, 9, []fragment{first})[0]}},
			want: []FragmentLoss{{Src: sipClient6, Dst: sipServer6, Protocol: 17, Datagrams: 1, Fragments: 1, Size: n,
				Head: []byte("INVITE sip:bob@example.org SIP/2.0"), First: t0, Last: t0, Frames: []uint64{1}}},
			dropped: 1,
		},
		{
			name:    "completed: nothing lost",
			packets: []sentPacket{after(0, v4frag(1, middle)), after(0, v4frag(1, first)), after(0, v4frag(1, last))},
		},
		{
			name:    "evicted by the decoder's limit: not the network's loss",
			opts:    Options{MaxFragDatagrams: 1},
			packets: []sentPacket{after(0, v4frag(1, first)), after(0, v4frag(2, first)), after(0, v4frag(2, middle)), after(0, v4frag(2, last))},
			dropped: 1,
		},
		{
			name:    "overlapping fragments discarded: not the network's loss",
			packets: []sentPacket{after(0, v4frag(1, first)), after(0, v4frag(1, fragment{1472, 2960, true, 0}))},
			dropped: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			var recs []*capture.Record
			ts := t0
			for _, p := range tt.packets {
				ts = ts.Add(p.delay)
				recs = append(recs, r.at(p.link, p.data, ts))
			}
			_, st := fragmentsOf(t, tt.opts, recs...)
			if st.FragmentsDropped != tt.dropped {
				t.Errorf("FragmentsDropped = %d, want %d", st.FragmentsDropped, tt.dropped)
			}
			got := st.FragmentLoss
			if len(got) != len(tt.want) {
				t.Fatalf("fragment loss %+v, want %+v", got, tt.want)
			}
			for i, w := range tt.want {
				g := got[i]
				line, _, _ := strings.Cut(string(g.Head), "\r\n")
				if g.Src != w.Src || g.Dst != w.Dst || g.Protocol != w.Protocol || g.WithoutFirst != w.WithoutFirst ||
					g.Datagrams != w.Datagrams || g.Fragments != w.Fragments || g.Size != w.Size || line != string(w.Head) ||
					!g.First.Equal(w.First) || !g.Last.Equal(w.Last) || !slices.Equal(g.Frames, w.Frames) {
					t.Errorf("flow %d:\n got  %+v (head %q)\n want %+v", i, g, line, w)
				}
				if len(g.Head) > MaxFragmentLossHead {
					t.Errorf("head of %d bytes", len(g.Head))
				}
			}
		})
	}
}

type sentPacket struct {
	delay time.Duration
	link  capture.LinkType
	data  []byte
}

// The flows listed are bounded, and Stats hands out copies.
func TestFragmentLossBounded(t *testing.T) {
	invite := bigINVITE(t, "many@host")
	var r recorder
	var recs []*capture.Record
	for i := range MaxFragmentLossFlows + 5 {
		src := netip.AddrPortFrom(sipClient.Addr(), uint16(10000+i))
		recs = append(recs, r.next(capture.LinkIPv4, ipv4Fragments(udpIP(t, src, sipServer, invite, 0), uint16(i), []fragment{{0, 1480, true, 0}})[0]))
	}
	d := NewDecoder()
	for _, rec := range recs {
		d.Decode(rec, func(*Message) {})
	}
	d.Flush(func(*Message) {})
	st := d.Stats()
	if len(st.FragmentLoss) != MaxFragmentLossFlows || st.FragmentsDropped != MaxFragmentLossFlows+5 {
		t.Fatalf("%d flows listed, %d datagrams dropped", len(st.FragmentLoss), st.FragmentsDropped)
	}
	for i, l := range st.FragmentLoss {
		if l.Src.Port() != uint16(10000+i) {
			t.Fatalf("flow %d from port %d: not in capture order", i, l.Src.Port())
		}
	}
	st.FragmentLoss[0].Frames[0] = 999
	st.FragmentLoss[0].Head[0] = 'X'
	if again := d.Stats(); again.FragmentLoss[0].Frames[0] != 1 || again.FragmentLoss[0].Head[0] != 'I' {
		t.Errorf("Stats shares FragmentLoss with the decoder")
	}
	// The UDP length of the first fragment is the datagram's.
	if want := 8 + len(invite); st.FragmentLoss[0].Size != want || binary.BigEndian.Uint16(recs[0].Data[24:]) != uint16(want) {
		t.Errorf("size %d, want %d", st.FragmentLoss[0].Size, want)
	}
}
