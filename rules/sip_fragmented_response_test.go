package rules

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

const answerSize = 2628 // a 200 OK with a large SDP answer: two fragments at a 1500-byte MTU

// fragmentedAnswer makes the 200 OK of an ackCase's call a large one whose
// copies (fragmented of them) came in two IP fragments each, frames
// 300 on; icmp are the frames of the caller's host's reassembly errors,
// and lost the datagrams of the flow that reached the capture point
// incomplete.
func fragmentedAnswer(tc ackCase, fragmented int, icmp []uint64, lost uint64) *diagnose.Analysis {
	a := tc.analysis()
	ok := &a.Calls[0].Transactions[0].Responses[1]
	ok.Size = answerSize
	f := &diagnose.SIPFragments{Sends: fragmented, Fragments: 2, Count: 2 * fragmented}
	for i := range f.Count {
		f.Frames = append(f.Frames, uint64(300+i))
	}
	ok.Fragmented = f
	a.Stats.Fragments = uint64(f.Count)
	caller, callee := netip.MustParseAddrPort(callerSIP), netip.MustParseAddrPort(calleeSIP)
	for i, fr := range icmp {
		a.ICMPErrors = append(a.ICMPErrors, &diagnose.ICMPEvent{FrameRef: sipRef(fr, 3+float64(i)), From: caller.Addr(),
			Description: reassemblyTimeExceeded, Flow: [2]netip.AddrPort{callee, caller}, Transport: decode.UDP})
	}
	if lost > 0 {
		a.Stats.FragmentLoss = []decode.FragmentLoss{{Src: callee, Dst: caller, Protocol: 17, Datagrams: lost, Fragments: lost,
			Size: 8 + answerSize, First: at(20.5), Last: at(32.5), Frames: []uint64{600, 601}}}
	}
	return a
}

// A callee's capture of an answer lost in IP fragments: sip.ack-missing
// says the 200 OK itself is the loss, with its fragments and the
// caller's ICMP errors, instead of guessing at the ACK.
func TestSIPACKMissingFragmentedAnswer(t *testing.T) {
	dropped := ackCase{resends: rfcResends, calleeBye: 33, end: 34}
	all := len(rfcResends) + 1
	runRuleCases(t, SIPACKMissing{}, []ruleCase{
		{
			name:     "the caller's host gave up reassembling every copy",
			a:        fragmentedAnswer(dropped, all, []uint64{400, 401, 402}, 0),
			want:     1,
			severity: diagnose.Error,
			contains: []string{
				"but never got an ACK: it repeated the 200 OK 10 times over 31.5 s",
				"BYE in frame 500, 32 s after answering",
				"No ACK for it appears in the capture, and the 200 OK itself is why: at 2,628 bytes it is larger than one packet on the path, and every copy went out as 2 IP fragments, all 22 of which reached this capture point.",
				`The caller's host 198.51.100.20 sent 3 ICMP errors "fragment reassembly time exceeded" quoting it (frames 400, 401, 402): it received the first fragment and gave up waiting for the rest.`,
				"So the caller never got the 200 OK whole, and a caller acknowledges only the 2xx it receives (RFC 3261 §13.2.2.4)",
				"Have the caller send its INVITE over TCP or TLS", "§18.2.2", "let the firewall pass IP fragments",
			},
			excludes: []string{"Either the caller never sent one", "Nothing in the capture shows where"},
			frames: append(append([]uint64{1, 3, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19},
				seq(300, 22)...), 400, 401, 402, 500, 501),
			filter: `(sip.Call-ID == "ack@example.org") || (ip.src == 203.0.113.7 && ip.dst == 198.51.100.20 && (ip.flags.mf == 1 || ip.frag_offset > 0))`,
		},
		{
			name:     "fragmented, nothing shows where it was lost",
			a:        fragmentedAnswer(dropped, all, nil, 0),
			want:     1,
			severity: diagnose.Error,
			contains: []string{"every copy went out as 2 IP fragments, all 22 of which reached this capture point. Nothing in the capture shows where they were lost",
				"Have the caller send its INVITE over TCP or TLS"},
			excludes: []string{"ICMP", "So the caller never got"},
		},
		{
			name:     "a capture on the path: some copies arrived incomplete",
			a:        fragmentedAnswer(dropped, 6, nil, 5),
			want:     1,
			contains: []string{"and 6 of its 11 copies went out as IP fragments (12 fragments).", "On the same flow 5 datagrams reached this capture point with the first fragment and without the rest: IP fragments were lost before this point.", "So the caller never got the 200 OK whole"},
		},
		{
			name: "the ACK came back: the answer got through, fragments or not",
			a:    fragmentedAnswer(ackCase{resends: rfcResends, acks: ackEach(rfcResends), ackTo: "10.0.1.10:5060", contact: "10.0.1.10:5060", calleeBye: 33, end: 34}, all, nil, 0),
			want: 1, contains: []string{"did send its ACK"}, excludes: []string{"IP fragments"},
		},
		{name: "one copy only, the ACK maybe in flight", a: fragmentedAnswer(ackCase{end: 40}, 1, []uint64{400}, 0), want: 0},
	})
	// The titles a user reads first.
	for _, c := range []struct {
		a    *diagnose.Analysis
		want string
	}{
		{fragmentedAnswer(dropped, all, []uint64{400}, 0), `Call to "sip:bob@example.net" dropped after 32 s: 200 OK lost in IP fragments`},
		{fragmentedAnswer(dropped, all, nil, 0), `Call to "sip:bob@example.net" dropped after 32 s: 200 OK, sent in IP fragments, never acknowledged`},
		{fragmentedAnswer(ackCase{resends: rfcResends[:7], end: 21}, 8, []uint64{400}, 0), `Call to "sip:bob@example.net": 200 OK lost in IP fragments, repeated 7 times without an ACK`},
		{fragmentedAnswer(ackCase{resends: rfcResends[:7], end: 21}, 8, nil, 0), `Call to "sip:bob@example.net": 200 OK, sent in IP fragments, repeated 7 times without an ACK`},
	} {
		if fs := (SIPACKMissing{}).Check(c.a); len(fs) != 1 || fs[0].Title != c.want {
			t.Errorf("findings %+v, want one titled %q", fs, c.want)
		}
	}
}

func seq(from uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = from + uint64(i)
	}
	return out
}

// A caller's capture of an answer lost in IP fragments: no response but
// the provisional ones, and the first fragments of each copy of the 200.
func TestSIPFragmentedResponse(t *testing.T) {
	caller, callee := netip.MustParseAddrPort(callerSIP), netip.MustParseAddrPort(calleeSIP)
	okHead := "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bKinv\r\nTo: <sip:bob@example.net>;tag=b1\r\nCall-ID: lost@example.org\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 2200\r\n\r\nv=0\r\n"
	firstOnly := func(n uint64, head string, src, dst netip.AddrPort) decode.FragmentLoss {
		l := decode.FragmentLoss{Src: src, Dst: dst, Protocol: 17, Datagrams: n, Fragments: n, Size: 8 + answerSize, Head: []byte(head), First: at(1), Last: at(28.5)}
		for i := range n {
			l.Frames = append(l.Frames, 300+i)
		}
		return l
	}
	invite := func(sends int, statuses ...int) *diagnose.SIPTransaction {
		inv := &diagnose.SIPTransaction{
			Branch: "z9hG4bKinv", Method: "INVITE", CSeq: 1, CallID: "lost@example.org",
			Client: caller, Server: callee, Transport: decode.UDP,
			Requests: []diagnose.FrameRef{sipRef(1, 0)}, RequestCount: 1, Final: -1, Expires: -1,
		}
		for i := 1; i < sends; i++ {
			again(inv, float64(10+i), 0.5*float64(i))
		}
		reasons := map[int]string{100: "Trying", 180: "Ringing", 183: "Session Progress"}
		for i, s := range statuses {
			respond(inv, s, reasons[s], uint64(2+i), 0.01*float64(i+1))
		}
		return inv
	}
	// The call as the caller sees it, with the callee's BYE at byeAt.
	lostAnswer := func(inv *diagnose.SIPTransaction, byeAt float64, icmp []uint64, losses ...decode.FragmentLoss) *diagnose.Analysis {
		txs := []*diagnose.SIPTransaction{inv}
		if byeAt > 0 {
			bye := &diagnose.SIPTransaction{Branch: "z9hG4bKbye", Method: "BYE", CSeq: 1, CallID: inv.CallID, Client: callee, Server: caller,
				Transport: decode.UDP, Requests: []diagnose.FrameRef{sipRef(500, byeAt)}, RequestCount: 1, Final: -1, Expires: -1}
			respond(bye, 200, "OK", 501, byeAt+0.001)
			txs = append(txs, bye)
		}
		c := &diagnose.Call{CallID: inv.CallID, From: "sip:alice@example.org", To: "sip:bob@example.net", Caller: caller, Callee: callee,
			Transport: decode.UDP, Outcome: "unanswered", Invite: sipRef(1, 0), Transactions: txs}
		a := &diagnose.Analysis{SIPTransactions: txs, Calls: []*diagnose.Call{c}}
		a.Captures = append(a.Captures, captureInfo(byeAt+1))
		a.Stats.FragmentLoss = losses
		for _, l := range losses {
			a.Stats.Fragments += l.Fragments
		}
		for i, fr := range icmp {
			a.ICMPErrors = append(a.ICMPErrors, &diagnose.ICMPEvent{FrameRef: sipRef(fr, 3+float64(i)), From: caller.Addr(),
				Description: reassemblyTimeExceeded, Flow: [2]netip.AddrPort{callee, caller}, Transport: decode.UDP})
		}
		return a
	}
	regHead := "SIP/2.0 401 Unauthorized\r\nCall-ID: reg@example.org\r\nCSeq: 2 REGISTER\r\nWWW-Authenticate: Digest realm=\"x\"\r\n\r\n"
	register := again(sipReq("REGISTER", "reg@example.org", 2, 1, 0), 2, 0.5, 3, 1.5)

	runRuleCases(t, SIPFragmentedRequest{}, []ruleCase{
		{
			name:     "the 200 OK to an INVITE: first fragments only, the callee's BYE at 32 s",
			a:        lostAnswer(invite(1, 100, 180), 32.5, []uint64{400, 401}, firstOnly(10, okHead, callee, caller)),
			want:     1,
			severity: diagnose.Error,
			contains: []string{
				`10 datagrams from 203.0.113.7:5060 to 198.51.100.20:5060 (udp), each carrying a 2,628-byte SIP 200 OK to an INVITE (Call-ID "lost@example.org", CSeq 1) and arriving from ` + clock(at(1)) + " to " + clock(at(28.5)) + ", reached this capture point incomplete: only the first fragment of each arrived, never the rest.",
				"The caller never got the 200 OK whole, so it never sent the ACK a 2xx asks for (RFC 3261 §13.2.2.4): its INVITE (frame 1) got only 100 Trying and 180 Ringing through.",
				"The callee repeated its 200 OK, as a callee does until the ACK comes (RFC 3261 §13.3.1.4: T1 doubling up to T2), and ended the call with a BYE in frame 500, 31.5 s after the first copy: the 32 s (64×T1) a callee waits for the ACK before it gives up.",
				`The caller's host 198.51.100.20 sent 2 ICMP errors "fragment reassembly time exceeded" quoting it (frames 400, 401)`,
				"drops IP fragments after the first", "Have the caller send its INVITE over TCP or TLS",
			},
			frames: append(append([]uint64{1, 2, 3}, seq(300, 10)...), 400, 401, 500, 501),
			filter: `(ip.src == 203.0.113.7 && ip.dst == 198.51.100.20 && (ip.flags.mf == 1 || ip.frag_offset > 0)) || sip.Call-ID == "lost@example.org"`,
		},
		{
			name:     "the INVITE retransmitted, nothing through, no BYE yet",
			a:        lostAnswer(invite(3), 0, nil, firstOnly(4, okHead, callee, caller)),
			want:     1,
			contains: []string{"its INVITE (sent 3 times, frames 1, 11, 12) got no response through.", "The callee repeated its 200 OK, as a callee does until the ACK comes (RFC 3261 §13.3.1.4: T1 doubling up to T2)."},
			excludes: []string{"BYE", "ICMP"},
		},
		{
			name: "the BYE long before the ACK timeout: no 64×T1",
			a:    lostAnswer(invite(1, 100), 10, nil, firstOnly(4, okHead, callee, caller)),
			want: 1, contains: []string{"a BYE in frame 500, 9 s after the first copy."}, excludes: []string{"64×T1"},
		},
		{
			name: "no request, no call: the response alone",
			a: func() *diagnose.Analysis {
				a := &diagnose.Analysis{}
				a.Stats.FragmentLoss = []decode.FragmentLoss{firstOnly(3, okHead, callee, caller)}
				a.Stats.Fragments = 3
				return a
			}(),
			want:     1,
			contains: []string{"each carrying a 2,628-byte SIP 200 OK to an INVITE", "The caller never got the 200 OK whole, so it never sent the ACK a 2xx asks for (RFC 3261 §13.2.2.4). The callee repeated"},
			excludes: []string{"its INVITE ("},
			filter:   "ip.src == 203.0.113.7 && ip.dst == 198.51.100.20 && (ip.flags.mf == 1 || ip.frag_offset > 0)",
		},
		{
			name: "a challenge to a REGISTER",
			a: func() *diagnose.Analysis {
				a := lostAnswer(invite(1, 100, 180), 0, nil)
				a.SIPTransactions = append(a.SIPTransactions, register)
				a.Stats.FragmentLoss = []decode.FragmentLoss{firstOnly(3, regHead, registrar, phone)}
				a.Stats.Fragments = 3
				return a
			}(),
			want:     1,
			contains: []string{"each carrying a 2,628-byte SIP 401 Unauthorized to a REGISTER", "The client never got the 401 Unauthorized whole: its REGISTER (sent 3 times, frames 1, 2, 3) got no response through.", "Have the client send its REGISTER over TCP or TLS"},
			excludes: []string{"ACK", "callee"},
		},
		{
			name: "an unprintable reason phrase is left out",
			a:    lostAnswer(invite(1), 0, nil, firstOnly(2, strings.Replace(okHead, "200 OK", "200 O\x01K", 1), callee, caller)),
			want: 1, contains: []string{"a 2,628-byte SIP 200 to an INVITE"},
		},
		{
			name: "a copy got through whole: sip.ack-missing's",
			a: func() *diagnose.Analysis {
				inv := invite(1, 100, 200)
				return lostAnswer(inv, 32.5, nil, firstOnly(9, okHead, callee, caller))
			}(),
			want: 0,
		},
		{name: "one datagram lost, the capture ends", a: lostAnswer(invite(1, 100), 0, nil, firstOnly(1, okHead, callee, caller)), want: 0},
		{name: "not a status line", a: lostAnswer(invite(1, 100), 0, nil, firstOnly(3, "SIP/2.0 2000 Huge\r\nCSeq: 1 INVITE\r\n\r\n", callee, caller)), want: 0},
	})
}

// One failure, one finding, from either side: the callee's capture is
// sip.ack-missing's, the caller's sip.fragmented-request's.
func TestFragmentedAnswerReportedOnce(t *testing.T) {
	callee := fragmentedAnswer(ackCase{resends: rfcResends, calleeBye: 33, end: 34}, len(rfcResends)+1, []uint64{400}, 0)
	callerSide := fragmentedAnswer(ackCase{end: 34}, 0, []uint64{400}, 0)
	inv := callerSide.Calls[0].Transactions[0]
	inv.Responses = inv.Responses[:1] // the 200 never arrived: 100 Trying only
	inv.Final = -1
	l := decode.FragmentLoss{Src: netip.MustParseAddrPort(calleeSIP), Dst: netip.MustParseAddrPort(callerSIP), Protocol: 17, Datagrams: 10, Fragments: 10,
		Size: 8 + answerSize, First: at(1), Last: at(28.5), Frames: []uint64{300, 301},
		Head: []byte("SIP/2.0 200 OK\r\nCall-ID: ack@example.org\r\nCSeq: 1 INVITE\r\n\r\n")}
	callerSide.Stats.FragmentLoss = []decode.FragmentLoss{l}
	for _, c := range []struct {
		name string
		a    *diagnose.Analysis
		want string
	}{{"callee's side", callee, "sip.ack-missing"}, {"caller's side", callerSide, "sip.fragmented-request"}} {
		var got []string
		for _, r := range []diagnose.Rule{SIPACKMissing{}, SIPFragmentedRequest{}, SIPTransactionTimeout{}, SIPCallFailed{}} {
			for range r.Check(c.a) {
				got = append(got, r.ID())
			}
		}
		if !slices.Equal(got, []string{c.want}) {
			t.Errorf("%s: findings of %v, want one of %s", c.name, got, c.want)
		}
	}
}
