package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

func TestSIPTransactionTimeout(t *testing.T) {
	timerB := func() *diagnose.SIPTransaction {
		inv := sipReq("INVITE", "t1", 1, 1, 0)
		inv.HasSDP = true
		return again(inv, 2, 0.5, 3, 1.5, 4, 3.5, 5, 7.5, 6, 15.5, 7, 31.5)
	}
	withEnd := func(a *diagnose.Analysis, sec float64) *diagnose.Analysis {
		a.Captures = append(a.Captures, captureInfo(sec))
		return a
	}
	okOptions := respond(sipReq("OPTIONS", "o1", 1, 10, 0.2), 200, "OK", 11, 0.25)
	tcpInvite := sipReq("INVITE", "tcp1", 1, 1, 0)
	tcpInvite.Transport = decode.TCP
	tcpInvite.Server = netip.MustParseAddrPort("203.0.113.5:5061")
	runRuleCases(t, SIPTransactionTimeout{}, []ruleCase{
		{
			name: "INVITE retransmitted until Timer B",
			a:    withEnd(sipAnalysis(timerB()), 40),
			want: 1,
			contains: []string{"An INVITE from 198.51.100.20:5060 to 203.0.113.5:5060 (udp) got no final response",
				"sent 7 times, at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s", "past the 32 s transaction timeout", "Timer B",
				"SIP over UDP to port 5060", "udp/5060"},
			frames: []uint64{1, 2, 3, 4, 5, 6, 7},
			filter: `sip.Call-ID == "t1" && sip.CSeq.seq == 1 && sip.CSeq.method == "INVITE"`,
		},
		{
			name:     "other requests answered: dropped, fragmentation hint",
			a:        withEnd(sipAnalysis(timerB(), okOptions), 40),
			want:     1,
			contains: []string{"Another request on the same flow was answered", "fragmented"},
		},
		{name: "INVITE with 100 Trying is waiting, not timing out", a: withEnd(sipAnalysis(respond(timerB(), 100, "Trying", 8, 0.1)), 40), want: 0},
		{name: "answered after retransmissions", a: withEnd(sipAnalysis(respond(timerB(), 200, "OK", 8, 31.6)), 40), want: 0},
		{name: "one send, capture ends soon after", a: withEnd(sipAnalysis(sipReq("REGISTER", "r", 1, 1, 0)), 1), want: 0},
		{
			name:     "four sends prove it even when the capture ends early",
			a:        withEnd(sipAnalysis(again(sipReq("REGISTER", "r", 1, 1, 0), 2, 0.5, 3, 1.5, 4, 3.5)), 4),
			want:     1,
			contains: []string{"sent 4 times, at 0, 0.5, 1.5, 3.5 s. The last of the 4 sends was at 3.5 s; no response in the 0.5 s the capture goes on after it, before the 32 s timeout (Timer F)"},
			excludes: []string{"past the", "capture ends with it"},
		},
		{
			// sip-timeout.pcap: the capture's last packet is the 7th send.
			name:     "capture ends with the last send",
			a:        withEnd(sipAnalysis(again(sipReq("INVITE", "t1", 1, 1, 0), 2, 0.503, 3, 1.506, 4, 3.511, 5, 7.515, 6, 15.519, 7, 31.523)), 31.523),
			want:     1,
			contains: []string{"at 0, 0.503, 1.506, 3.511, 7.515, 15.519, 31.523 s. The last of the 7 sends was at 31.523 s, and the capture ends with it, before the 32 s timeout (Timer B)"},
			excludes: []string{"goes on after it"},
		},
		{
			name:     "TCP request unanswered for 32 s",
			a:        withEnd(sipAnalysis(tcpInvite), 33),
			want:     1,
			contains: []string{"(tcp)", "established tcp connection"},
		},
		{
			name: "OPTIONS keepalives grouped per flow",
			a: withEnd(sipAnalysis(
				again(sipReq("OPTIONS", "k1", 1, 1, 0), 2, 0.5, 3, 1.5, 4, 3.5),
				again(sipReq("OPTIONS", "k2", 1, 5, 30), 6, 30.5, 7, 31.5, 8, 33.5)), 70),
			want:     1,
			contains: []string{"2 OPTIONS requests", "8 sends in all"},
			filter:   `sip.Call-ID in {"k1", "k2"}`,
		},
		{
			name: "two requests, capture ends early",
			a: withEnd(sipAnalysis(
				again(sipReq("OPTIONS", "k1", 1, 1, 0), 2, 0.5, 3, 1.5, 4, 3.5),
				again(sipReq("OPTIONS", "k2", 1, 5, 5), 6, 5.5, 7, 6.5, 8, 8.5)), 10),
			want:     1,
			contains: []string{"(8 sends in all). The last send was at 8.5 s; no response in the 1.5 s the capture goes on after it, before the 32 s timeout (Timer F)"},
		},
		{name: "ACK is never answered", a: withEnd(sipAnalysis(sipReq("ACK", "a", 1, 1, 0)), 40), want: 0},
		// heplify sip_ipv6_udp: the INVITE and BYE were sent once over UDP
		// and the capture goes on for minutes: the client had its answer,
		// the capture holds one direction only.
		{name: "UDP request sent once is not a timeout", a: withEnd(sipAnalysis(sipReq("INVITE", "once", 1, 1, 0), sipReq("BYE", "once", 2, 2, 5)), 400), want: 0},
		{name: "UDP request sent twice is", a: withEnd(sipAnalysis(again(sipReq("BYE", "twice", 2, 2, 5), 3, 5.5)), 400), want: 1},
	})
	// A profile with another timeout.
	p := mustProfile(t, "default")
	p.Thresholds.SIPTimeoutS = 5
	fs := SIPTransactionTimeout{Profile: p}.Check(withEnd(sipAnalysis(again(sipReq("REGISTER", "r", 1, 1, 0), 2, 0.5)), 6))
	if len(fs) != 1 || !strings.Contains(fs[0].Detail, "5 s transaction timeout") {
		t.Errorf("profile timeout: %+v", fs)
	}
}
