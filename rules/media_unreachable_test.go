package rules

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

const (
	refusedSrc = "198.51.100.20:6000"
	refusedDst = "203.0.113.7:6000"
	pathRouter = "198.51.100.1"
	calleeHost = "203.0.113.7"
)

// unreachable gives s n ICMPv4 type 3 errors of one code from `from`,
// one every step seconds from sec on, frames from first on; rtcp of them
// quote its RTCP.
func unreachable(s *diagnose.Stream, from string, code uint8, first uint64, sec, step float64, n, rtcp int) *diagnose.Stream {
	desc := map[uint8]string{1: "host unreachable", 3: "port unreachable", 13: "communication administratively prohibited"}[code]
	ic := &diagnose.StreamICMP{From: netip.MustParseAddr(from), Type: 3, Code: code, Description: desc, RTCP: uint64(rtcp)}
	for i := range n {
		ref := sipRef(first+uint64(i)*50, sec+float64(i)*step)
		if i == 0 {
			ic.First = ref
		}
		ic.Last = ref
		ic.Errors++
		if len(ic.Frames) < diagnose.MaxFramesPerFinding {
			ic.Frames = append(ic.Frames, ref.Frame)
		}
		switch code {
		case 3:
			ic.PortUnreachable++
		case 9, 10, 13:
			ic.Prohibited++
		}
	}
	s.ICMP = ic
	return s
}

// callMedia is the caller's audio of answeredCall: 1 s to 31 s (the BYE)
// unless cut short.
func callMedia(seconds float64) *diagnose.Stream {
	return rtpStream(refusedSrc, refusedDst, 0xca11, 10, 1, int(seconds*50))
}

func inCall(s *diagnose.Stream) *diagnose.Analysis {
	return tie(answeredCall("c1@example.org", nil, nil), s)
}

func noCall(s *diagnose.Stream) *diagnose.Analysis {
	return &diagnose.Analysis{Streams: []*diagnose.Stream{s}}
}

func TestMediaUnreachable(t *testing.T) {
	v6 := func() *diagnose.Analysis {
		s := rtpStream("[2001:db8::10]:6000", "[2001:db8:1::20]:6000", 0xca11, 10, 1, 1500)
		unreachable(s, "2001:db8::1", 1, 12, 1.01, 1, 30, 0)
		s.ICMP.V6, s.ICMP.Type, s.ICMP.Code, s.ICMP.Description, s.ICMP.Prohibited = true, 1, 1, "administratively prohibited", 30
		return inCall(s)
	}
	mixed := func() *diagnose.Analysis {
		s := unreachable(callMedia(30), calleeHost, 3, 500, 10, 1, 5, 0)
		s.ICMP.OtherSenders, s.ICMP.OtherCodes, s.ICMP.Prohibited = 2, 2, 2
		return inCall(s)
	}
	failed := func() *diagnose.Analysis {
		// Early media refused when the callee gave up on the call: the
		// final 486 ends it.
		c := answeredCall("c2@example.org", nil, nil)
		c.Outcome, c.Ended, c.Answered = "failed", diagnose.FrameRef{}, diagnose.FrameRef{}
		inv := respond(sipReq("INVITE", "c2@example.org", 1, 1, 0), 486, "Busy Here", 600, 12)
		c.Transactions = append(c.Transactions, inv)
		s := rtpStream(refusedSrc, refusedDst, 0xca11, 10, 1, 560)
		unreachable(s, calleeHost, 3, 601, 12.01, 0.02, 3, 0)
		return tie(c, s)
	}
	runRuleCases(t, MediaUnreachable{}, []ruleCase{
		{
			name: "a firewall refuses the media all call long",
			a:    inCall(unreachable(callMedia(30), pathRouter, 13, 12, 1.01, 1, 30, 0)),
			want: 1, severity: diagnose.Error,
			contains: []string{`PCMU RTP from 198.51.100.20:6000 to 203.0.113.7:6000 (SSRC 0x0000ca11, call "c1@example.org") drew 30 ICMP errors`,
				`"communication administratively prohibited" (ICMP type 3 code 13), from 198.51.100.1, a router or firewall on the way, not the destination`,
				"That is a firewall or router ACL saying no: a rule on the path refuses UDP port 6000 to 203.0.113.7",
				"The errors came from frame 12 (09:30:01.010) to frame 1462 (09:30:30.010); the stream sent 1,500 packets from frame 10 (09:30:01.000) to frame 1509 (09:30:30.980), and the call's BYE came at frame 900 (09:30:31.000)",
				"none of its media got through", "rate-limit ICMP errors", "Allow UDP from 198.51.100.20:6000 to 203.0.113.7:6000"},
			filter: "icmp.type == 3 && icmp.code == 13 && ip.src == 198.51.100.1 && ip.src == 198.51.100.20 && ip.dst == 203.0.113.7 && udp.srcport == 6000 && udp.dstport == 6000",
		},
		{
			name: "nothing listens on the port the SDP announced",
			a:    inCall(unreachable(callMedia(30), calleeHost, 3, 11, 1.001, 1, 30, 0)),
			want: 1, severity: diagnose.Error,
			contains: []string{"from 203.0.113.7, the destination itself", "The host is up but nothing listens on UDP port 6000",
				"Compare the port in the far end's SDP"},
		},
		{
			name: "the far end stops listening in the middle of the call",
			a:    inCall(unreachable(callMedia(30), calleeHost, 3, 700, 15, 1, 16, 0)),
			want: 1, severity: diagnose.Warning,
			contains: []string{"stopped listening before the call ended"}, excludes: []string{"none of its media got through"},
		},
		{
			name: "the errors are cited, first and last",
			a:    inCall(unreachable(callMedia(30), pathRouter, 13, 12, 1.01, 0.5, 60, 0)),
			want: 1,
			// The first 50 errors are kept and the last: CapFrames cites
			// the first 25 and the last 25 of those 51.
			frames: append(append(framesOf(12, 50, 0, 25), framesOf(12, 50, 26, 50)...), 12+59*50),
		},
		// The BYE crosses the last packets: the side that hung up closed
		// its port a moment before its BYE left, or after.
		{name: "errors after the BYE", a: inCall(unreachable(callMedia(30.05), calleeHost, 3, 1505, 31.01, 0.02, 3, 0)), want: 0},
		{name: "errors just before the BYE", a: inCall(unreachable(callMedia(30.05), calleeHost, 3, 1490, 30.5, 0.02, 20, 0)), want: 0},
		{
			name: "a short call refused from its start is no BYE crossing",
			a: func() *diagnose.Analysis {
				c := answeredCall("c1@example.org", nil, nil)
				c.Ended = sipRef(40, 1.5)
				return tie(c, unreachable(rtpStream(refusedSrc, refusedDst, 0xca11, 10, 1, 25), pathRouter, 13, 11, 1.001, 0.1, 5, 0))
			}(),
			want: 1, severity: diagnose.Error,
		},
		{name: "the final response of a failed call ends it", a: failed(), want: 0},
		{name: "no call: errors in the stream's last second", a: noCall(unreachable(callMedia(30), calleeHost, 3, 1500, 30.5, 0.02, 10, 0)), want: 0},
		{
			name: "no call: errors in the middle",
			a:    noCall(unreachable(callMedia(30), calleeHost, 3, 700, 15, 1, 3, 0)),
			want: 1, severity: diagnose.Warning,
			contains: []string{"PCMU RTP from 198.51.100.20:6000 to 203.0.113.7:6000 (SSRC 0x0000ca11) drew 3 ICMP errors"},
		},
		{
			name: "no route to the host",
			a:    inCall(unreachable(callMedia(30), pathRouter, 1, 700, 15, 1, 3, 0)),
			want: 1, severity: diagnose.Warning,
			contains: []string{"A router on the way cannot deliver to 203.0.113.7"},
		},
		{
			name: "RTCP errors widen the filter to its ports",
			a:    inCall(unreachable(callMedia(30), pathRouter, 13, 12, 1.01, 1, 30, 4)),
			want: 1, contains: []string{"drew 30 ICMP errors (4 of them about its RTCP)"},
			filter: "icmp.type == 3 && icmp.code == 13 && ip.src == 198.51.100.1 && ip.src == 198.51.100.20 && ip.dst == 203.0.113.7 && ((udp.srcport == 6000 && udp.dstport == 6000) || (udp.srcport == 6001 && udp.dstport == 6001))",
		},
		{
			name: "errors of several senders and codes",
			a:    mixed(), want: 1, severity: diagnose.Error,
			contains: []string{"and 2 of other codes", "(2 from other addresses)"},
			filter:   "icmp.type == 3 && icmp.code != 4 && ip.src == 198.51.100.20 && ip.dst == 203.0.113.7 && udp.srcport == 6000 && udp.dstport == 6000",
		},
		{
			name: "ICMPv6", a: v6(), want: 1, severity: diagnose.Error,
			contains: []string{`"administratively prohibited" (ICMPv6 type 1 code 1), from 2001:db8::1`},
			filter:   "icmpv6.type == 1 && icmpv6.code == 1 && ipv6.src == 2001:db8::1 && ipv6.src == 2001:db8::10 && ipv6.dst == 2001:db8:1::20 && udp.srcport == 6000 && udp.dstport == 6000",
		},
		{name: "no ICMP", a: inCall(callMedia(30)), want: 0},
	})
}

// framesOf is the frames first + step*k for k from `from` up to `to`.
func framesOf(first, step uint64, from, to int) []uint64 {
	var out []uint64
	for k := from; k < to; k++ {
		out = append(out, first+step*uint64(k))
	}
	return out
}
