package rules

import (
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

func TestMediaLoss(t *testing.T) {
	lossy := func(expected uint64, lost int64, bursts, maxBurst int) *diagnose.Stream {
		s := rtpStream("192.0.2.10:4000", "203.0.113.7:30000", 0xabcd, 10, 1, int(expected)-int(lost))
		s.Expected, s.Lost, s.LossBursts, s.MaxLossBurst = expected, lost, bursts, maxBurst
		return s
	}
	streams := func(s ...*diagnose.Stream) *diagnose.Analysis { return &diagnose.Analysis{Streams: s} }
	reported := func(s *diagnose.Stream, cumulative int32, fraction float64) *diagnose.Stream {
		s.RemoteReports, s.RemoteCumulative, s.RemoteFractionLost = 5, cumulative, fraction
		return s
	}
	reordered := lossy(1000, 20, 4, 9)
	reordered.Reordered, reordered.Duplicates = 3, 1
	runRuleCases(t, MediaLoss{}, []ruleCase{
		{name: "no loss", a: streams(lossy(1000, 0, 0, 0)), want: 0},
		{name: "1 % is not above 1 %", a: streams(lossy(1000, 10, 10, 1)), want: 0},
		{name: "one lost packet in a short stream", a: streams(lossy(50, 1, 1, 1)), want: 0},
		{name: "duplicates make Lost negative", a: streams(lossy(1000, -3, 0, 0)), want: 0},
		{
			name: "2 % is a warning",
			a:    streams(reordered),
			want: 1,
			contains: []string{"Audio RTP (PCMU, SSRC 0x0000abcd) from 192.0.2.10:4000 to 203.0.113.7:30000 over udp, 980 packets",
				"missing 20 of 1,000 expected packets (2.0 %) in 4 gaps, the longest 9 packets in a row",
				"3 packets arrived out of order and 1 packet twice", "warning threshold of 1 %", "rtp.heuristic_rtp:TRUE"},
			// Found by its headers alone: Wireshark needs its RTP heuristic.
			filter: "ip.src == 192.0.2.10 && udp.srcport == 4000 && ip.dst == 203.0.113.7 && udp.dstport == 30000",
		},
		{
			name:     "a stream announced in SDP is filtered by SSRC",
			a:        tie(answeredCall("c1", nil, nil), lossy(1000, 20, 4, 9)),
			want:     1,
			excludes: []string{"heuristic"},
			filter:   "rtp.ssrc == 0x0000abcd && ip.src == 192.0.2.10 && udp.srcport == 4000 && ip.dst == 203.0.113.7 && udp.dstport == 30000",
		},
		{
			name: "over TCP the sender skipped the packets",
			a: func() *diagnose.Analysis {
				s := lossy(1000, 20, 4, 9)
				s.Transport = decode.TCP
				a := streams(s)
				a.Stats.TCPGaps = 2
				return a
			}(),
			want: 1,
			contains: []string{"over tcp, 980 packets", "over TCP the network loses nothing (TCP retransmits), so these packets were never sent: the sender dropped them",
				"The capture itself missed data in TCP streams (2 holes", "Decode As… TCP port 4000 → RTP (tshark -d tcp.port==4000,rtp)"},
			excludes: []string{"lost between the sender and the capture point", "rtp_udp"},
			filter:   "ip.src == 192.0.2.10 && tcp.srcport == 4000 && ip.dst == 203.0.113.7 && tcp.dstport == 30000",
		},
		{name: "8 % is an error", a: streams(lossy(1000, 80, 30, 5)), want: 1, severity: diagnose.Error, contains: []string{"error threshold of 5 %"}},
		{
			name:     "loss only RTCP sees: after the capture point",
			a:        streams(reported(lossy(1000, 0, 0, 0), 30, 0.04)),
			want:     1,
			contains: []string{"Every packet reached the capture point", "RTCP (5 reports) reports 30 packets lost in all and 4.0 % in its last report", "after the capture point"},
		},
		{name: "RTCP agrees there is no loss", a: streams(reported(lossy(1000, 0, 0, 0), 0, 0)), want: 0},
		// peafowl hangout: 11.8 % of a burst shorter than 2 s.
		{name: "short burst: a warning at most", a: streams(lossy(60, 10, 3, 4)), want: 1, severity: diagnose.Warning,
			contains: []string{"too short for the percentage to mean much"}},
		{name: "SSRC 0 burst under 2 s is a bandwidth probe", a: streams(func() *diagnose.Stream {
			s := lossy(60, 10, 3, 4)
			s.SSRC = 0
			return s
		}()), want: 0},
		{name: "SSRC 0 stream of minutes is judged", a: streams(func() *diagnose.Stream {
			s := lossy(10000, 900, 30, 40)
			s.SSRC = 0
			return s
		}()), want: 1, severity: diagnose.Error},
		// nDPI FAX-Call-t38: the 34 s gap is the T.38 period after the
		// re-INVITE, not loss.
		{name: "gap across a re-INVITE to T.38", a: faxSwitch(lossy(1871, 1712, 1, 1712)), want: 1, severity: diagnose.Warning,
			contains: []string{"34 s with no packets", "a switch to T.38 fax (m=image), frame 50", "not network loss"}},
	})
	p := mustProfile(t, "default")
	p.Thresholds.LossWarningPercent, p.Thresholds.LossErrorPercent = 3, 10
	if fs := (MediaLoss{Profile: p}).Check(streams(reordered)); len(fs) != 0 {
		t.Errorf("2 %% loss under a 3 %% threshold: %v", fs)
	}
}

// faxSwitch ties s to a call whose caller re-INVITEd to T.38 in the
// middle of it, and gives s the 34 s silence that left.
func faxSwitch(s *diagnose.Stream) *diagnose.Analysis {
	offer := audioSDP(1, 0, callerSIP, "192.0.2.10", 4000, "192.0.2.10")
	answer := audioSDP(3, 0.5, calleeSIP, "203.0.113.7", 30000, "203.0.113.7")
	fax := audioSDP(50, 10, callerSIP, "192.0.2.10", 4000, "192.0.2.10")
	fax.Session.Media[0].Type, fax.Session.Media[0].Proto, fax.Session.Media[0].Formats = "image", "udptl", []string{"t38"}
	c := answeredCall("fax1", offer, answer)
	c.SDPs = append(c.SDPs, fax)
	s.MaxDelta = 34 * time.Second
	s.Last = sipRef(s.Last.Frame, 45)
	return tie(c, s)
}
