package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

func TestSIPFragmentedRequest(t *testing.T) {
	const size = 2545
	// An INVITE retransmitted until Timer B, each send in two fragments
	// seen at the capture point: frames 2k-1 and 2k for send k.
	timedOut := func(fragmented bool) *diagnose.SIPTransaction {
		inv := sipReq("INVITE", "c1", 1, 2, 0)
		inv.HasSDP, inv.Size = true, size
		again(inv, 4, 0.5, 6, 1.5, 8, 3.5, 10, 7.5, 12, 15.5, 14, 31.5)
		if fragmented {
			inv.Fragmented = &diagnose.SIPFragments{Sends: 7, Fragments: 2, Count: 14, Frames: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}}
		}
		return inv
	}
	reassemblyICMP := func(frame uint64, sec float64) *diagnose.ICMPEvent {
		return &diagnose.ICMPEvent{FrameRef: sipRef(frame, sec), From: registrar.Addr(), Description: "fragment reassembly time exceeded",
			Flow: [2]netip.AddrPort{phone, registrar}, Transport: decode.UDP}
	}
	with := func(a *diagnose.Analysis, end float64, icmp ...*diagnose.ICMPEvent) *diagnose.Analysis {
		a.Captures = append(a.Captures, captureInfo(end))
		a.ICMPErrors = append(a.ICMPErrors, icmp...)
		for _, t := range a.SIPTransactions {
			if t.Fragmented != nil {
				a.Stats.Fragments += uint64(t.Fragmented.Count)
			}
		}
		return a
	}
	head := "INVITE sip:bob@203.0.113.5 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKc1INVITE\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 2100\r\n\r\nv=0\r\n"
	// What a capture beside the receiver keeps of the sends: their first
	// fragments.
	firstOnly := func(n uint64, h string) decode.FragmentLoss {
		l := decode.FragmentLoss{Src: phone, Dst: registrar, Protocol: 17, Datagrams: n, Fragments: n, Size: 8 + size, Head: []byte(h), First: at(0), Last: at(31.5)}
		for i := range n {
			l.Frames = append(l.Frames, 100+i)
		}
		return l
	}
	receiving := func(l ...decode.FragmentLoss) *diagnose.Analysis {
		a := &diagnose.Analysis{}
		a.Stats.FragmentLoss = l
		for _, x := range l {
			a.Stats.Fragments += x.Fragments
		}
		return a
	}
	answered := func(fragmented bool) *diagnose.SIPTransaction {
		inv := sipReq("INVITE", "ok", 1, 2, 0)
		inv.HasSDP, inv.Size = true, size
		if fragmented {
			inv.Fragmented = &diagnose.SIPFragments{Sends: 1, Fragments: 2, Count: 2, Frames: []uint64{1, 2}}
		}
		return respond(respond(inv, 100, "Trying", 3, 0.01), 200, "OK", 4, 1)
	}
	okOptions := respond(sipReq("OPTIONS", "o1", 1, 50, 0.2), 200, "OK", 51, 0.25)
	v6 := timedOut(true)
	v6.Client, v6.Server = netip.MustParseAddrPort("[2001:db8::20]:5060"), netip.MustParseAddrPort("[2001:db8::5]:5060")
	tooBigICMP := &diagnose.ICMPEvent{FrameRef: sipRef(3, 0.01), From: netip.MustParseAddr("198.51.100.1"), Description: "fragmentation needed",
		Flow: [2]netip.AddrPort{phone, registrar}, Transport: decode.UDP}
	withoutFirst := decode.FragmentLoss{Src: netip.AddrPortFrom(phone.Addr(), 0), Dst: netip.AddrPortFrom(registrar.Addr(), 0), Protocol: 17,
		WithoutFirst: true, Datagrams: 2, Fragments: 2, Size: 8 + size, First: at(0.4), Last: at(1.4), Frames: []uint64{30, 31}}

	runRuleCases(t, SIPFragmentedRequest{}, []ruleCase{
		{
			name: "sent whole, lost beyond the capture point, the receiver's ICMP says how",
			a:    with(sipAnalysis(timedOut(true), okOptions), 40, reassemblyICMP(21, 2), reassemblyICMP(22, 2.5)),
			want: 1,
			contains: []string{
				"An INVITE from 198.51.100.20:5060 to 203.0.113.5:5060 (udp) got no final response: sent 7 times, at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.",
				"At 2,545 bytes it is larger than one packet on the path: every send went out as 2 IP fragments, and all 14 of them reached this capture point.",
				`The server's host 203.0.113.5 sent 2 ICMP errors "fragment reassembly time exceeded" quoting it (frames 21, 22): it received the first fragment and gave up waiting for the rest.`,
				"drops IP fragments after the first", "past the 32 s transaction timeout", "Timer B",
				"Another request on the same flow was answered", "RFC 3261 §18.1.1", "TCP",
			},
			excludes: []string{"or the answer was", "Nothing in the capture shows where"},
			frames:   []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 21, 22},
			filter:   "ip.src == 198.51.100.20 && ip.dst == 203.0.113.5 && (ip.flags.mf == 1 || ip.frag_offset > 0)",
		},
		{
			name:     "sent whole, no clue where it was lost",
			a:        with(sipAnalysis(timedOut(true)), 40),
			want:     1,
			contains: []string{"all 14 of them reached this capture point, so they were lost beyond it, or the answer was.", "Nothing in the capture shows where"},
		},
		{
			name: "receiving side: first fragments only, no message at all",
			a:    with(receiving(firstOnly(7, head)), 40, reassemblyICMP(121, 2)),
			want: 1,
			contains: []string{
				`7 datagrams from 198.51.100.20:5060 to 203.0.113.5:5060 (udp), each carrying a SIP INVITE (Call-ID "c1", CSeq 1) of 2,545 bytes`,
				"reached this capture point incomplete: only the first fragment of each arrived, never the rest.",
				"never got the INVITE whole", `sent 1 ICMP error "fragment reassembly time exceeded"`, "RFC 3261 §18.1.1",
			},
			frames: []uint64{100, 101, 102, 103, 104, 105, 106, 121},
			filter: "ip.src == 198.51.100.20 && ip.dst == 203.0.113.5 && (ip.flags.mf == 1 || ip.frag_offset > 0)",
		},
		{
			name:     "receiving side: more fragments of each than the first, never all",
			a:        with(receiving(func() decode.FragmentLoss { l := firstOnly(3, head); l.Fragments = 6; return l }()), 40),
			want:     1,
			contains: []string{"6 fragments of them arrived, the first of each among them, never all"},
		},
		{name: "receiving side: one datagram lost, the capture ends", a: with(receiving(firstOnly(1, head)), 40), want: 0},
		{name: "receiving side: not SIP", a: with(receiving(firstOnly(5, "\x16\xfe\xfd\x00\x00")), 40), want: 0},
		{
			name: "receiving side: a SIP response, lost the same way (sip_fragmented_response_test.go)",
			a:    with(receiving(firstOnly(5, "SIP/2.0 200 OK\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\r\n")), 40),
			want: 1, contains: []string{"5 datagrams from 198.51.100.20:5060 to 203.0.113.5:5060 (udp), each carrying a 2,545-byte SIP 200 OK to an INVITE"},
		},
		{
			name: "receiving side: a later send got through and was answered",
			a: func() *diagnose.Analysis {
				a := receiving(firstOnly(2, head))
				inv := respond(sipReq("INVITE", "c1", 1, 120, 3.5), 200, "OK", 121, 3.6)
				inv.Size, inv.Fragmented = size, &diagnose.SIPFragments{Sends: 1, Fragments: 2, Count: 2, Frames: []uint64{119, 120}}
				a.SIPTransactions = append(a.SIPTransactions, inv)
				return with(a, 40)
			}(),
			want:     1,
			severity: diagnose.Info,
			contains: []string{"went out as 2 IP fragments and was answered (200 OK)",
				"On the same flow 2 datagrams reached this capture point with the first fragment and without the rest: IP fragments were lost before this point."},
		},
		{
			name:     "answered: it works on this path",
			a:        with(sipAnalysis(answered(true)), 40),
			want:     1,
			severity: diagnose.Info,
			contains: []string{"An INVITE from 198.51.100.20:5060 to 203.0.113.5:5060 (udp) of 2,545 bytes went out as 2 IP fragments and was answered (200 OK): IP fragments get through on this path.",
				"RFC 3261 §18.1.1"},
			frames: []uint64{1, 2, 3, 4},
			filter: `(ip.src == 198.51.100.20 && ip.dst == 203.0.113.5 && (ip.flags.mf == 1 || ip.frag_offset > 0)) || (sip.Call-ID == "ok" && sip.CSeq.seq == 1 && sip.CSeq.method == "INVITE")`,
		},
		{name: "large, answered, never fragmented: no finding", a: with(sipAnalysis(answered(false)), 40), want: 0},
		{name: "timed out, never fragmented: sip.transaction-timeout's", a: with(sipAnalysis(timedOut(false)), 40), want: 0},
		{
			name: "a fragmented request still waiting when the capture ends",
			a: with(sipAnalysis(func() *diagnose.SIPTransaction {
				inv := sipReq("INVITE", "w", 1, 2, 0)
				inv.Fragmented = &diagnose.SIPFragments{Sends: 1, Fragments: 2, Count: 2, Frames: []uint64{1, 2}}
				return inv
			}()), 1),
			want: 0,
		},
		{
			name:     "a link too small, the request sent whole: fragmentation needed",
			a:        with(sipAnalysis(timedOut(false)), 40, tooBigICMP),
			want:     1,
			contains: []string{"At 2,545 bytes it went out whole.", `198.51.100.1 sent 1 ICMP error "fragmentation needed" quoting it (frame 3): a link on the path cannot carry the packets at their size.`},
			filter:   "(ip.src == 198.51.100.20 && ip.dst == 203.0.113.5 && (ip.flags.mf == 1 || ip.frag_offset > 0)) || (icmp.type == 3 && icmp.code == 4 && ip.dst == 198.51.100.20)",
		},
		{
			name: "fragments lost before the capture point, without their first",
			a: func() *diagnose.Analysis {
				a := with(sipAnalysis(timedOut(true)), 40)
				a.Stats.FragmentLoss = []decode.FragmentLoss{withoutFirst}
				return a
			}(),
			want:     1,
			contains: []string{"all 14 of them reached this capture point. On the same flow 2 datagrams without the first fragment: IP fragments were lost before this point."},
			excludes: []string{"or the answer was"},
		},
		{
			name:   "IPv6",
			a:      with(sipAnalysis(v6), 40),
			want:   1,
			filter: "ipv6.src == 2001:db8::20 && ipv6.dst == 2001:db8::5 && ipv6.fraghdr",
		},
	})
}

// One failure, one finding: a request lost in fragments is
// sip.fragmented-request's, and sip.transaction-timeout leaves it out.
func TestFragmentedTimeoutReportedOnce(t *testing.T) {
	mk := func(fragmented bool) *diagnose.Analysis {
		inv := again(sipReq("INVITE", "c1", 1, 2, 0), 4, 0.5, 6, 1.5, 8, 3.5)
		other := again(sipReq("OPTIONS", "o1", 1, 20, 0), 21, 0.5, 22, 1.5, 23, 3.5)
		a := sipAnalysis(inv, other)
		if fragmented {
			inv.Fragmented = &diagnose.SIPFragments{Sends: 4, Fragments: 2, Count: 8, Frames: []uint64{1, 2, 3, 4, 5, 6, 7, 8}}
			a.Stats.Fragments = 8
		}
		a.Captures = append(a.Captures, captureInfo(40))
		return a
	}
	for _, fragmented := range []bool{false, true} {
		a := mk(fragmented)
		var byRule []string
		for _, r := range []diagnose.Rule{SIPTransactionTimeout{}, SIPFragmentedRequest{}} {
			for _, f := range r.Check(a) {
				byRule = append(byRule, r.ID()+" "+strings.Fields(f.Title)[1])
			}
		}
		want := "sip.transaction-timeout INVITE,sip.transaction-timeout OPTIONS"
		if fragmented {
			want = "sip.transaction-timeout OPTIONS,sip.fragmented-request INVITE"
		}
		if got := strings.Join(byRule, ","); got != want {
			t.Errorf("fragmented %v: %s, want %s", fragmented, got, want)
		}
	}
}
