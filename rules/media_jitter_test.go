package rules

import (
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

func TestMediaJitter(t *testing.T) {
	jittery := func(final, peak float64) *diagnose.Stream {
		s := rtpStream("192.0.2.10:4000", "203.0.113.7:30000", 0xabcd, 10, 1, 500)
		s.Jitter, s.MaxJitter, s.MaxDelta = final, peak, 180*time.Millisecond
		return s
	}
	noClock := jittery(50, 80)
	noClock.ClockRate = 0
	withRTCP := jittery(10, 45)
	withRTCP.RemoteReports, withRTCP.RemoteJitter = 3, 38.25
	runRuleCases(t, MediaJitter{}, []ruleCase{
		{name: "smooth", a: &diagnose.Analysis{Streams: []*diagnose.Stream{jittery(3, 12)}}, want: 0},
		{
			name:     "peak above 30 ms",
			a:        &diagnose.Analysis{Streams: []*diagnose.Stream{withRTCP}},
			want:     1,
			contains: []string{"peaked at 45.0 ms and was 10.0 ms at the end, above the default profile's 30 ms", "largest gap between two packets was 180.0 ms", "RTCP reports 38.3 ms"},
			filter:   "ip.src == 192.0.2.10 && udp.srcport == 4000 && ip.dst == 203.0.113.7 && udp.dstport == 30000",
		},
		{
			name: "over TCP: head-of-line blocking",
			a: func() *diagnose.Analysis {
				s := jittery(35, 60)
				s.Transport = decode.TCP
				return &diagnose.Analysis{Streams: []*diagnose.Stream{s}}
			}(),
			want:     1,
			contains: []string{"peaked at 60.0 ms", "runs over TCP", "head-of-line blocking"},
			filter:   "ip.src == 192.0.2.10 && tcp.srcport == 4000 && ip.dst == 203.0.113.7 && tcp.dstport == 30000",
		},
		{name: "over UDP no word of TCP", a: &diagnose.Analysis{Streams: []*diagnose.Stream{jittery(35, 60)}}, want: 1, excludes: []string{"TCP"}},
		{name: "unknown clock rate: no jitter", a: &diagnose.Analysis{Streams: []*diagnose.Stream{noClock}}, want: 0},
	})
}
