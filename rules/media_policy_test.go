package rules

import (
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestMediaPortOutsideRange(t *testing.T) {
	webex := mustProfile(t, "webex-calling")
	cms := mustProfile(t, "cms-expressway")
	streams := func(s ...*diagnose.Stream) *diagnose.Analysis { return &diagnose.Analysis{Streams: s} }
	video := rtpStream("192.0.2.10:8500", "170.72.1.1:5004", 7, 10, 1, 100)
	video.MediaType = "video"
	relayed := rtpStream("192.0.2.10:50000", "203.0.113.5:3478", 8, 10, 1, 100)
	relayed.Allocation = &diagnose.Allocation{Client: relayed.Src, Server: relayed.Dst}
	runRuleCases(t, MediaPortOutsideRange{}, []ruleCase{
		{name: "default profile never fires", a: streams(rtpStream("192.0.2.10:1234", "203.0.113.7:4321", 1, 10, 1, 100)), want: 0},
	})
	runRuleCases(t, MediaPortOutsideRange{Profile: webex}, []ruleCase{
		{name: "app audio to a media node", a: streams(rtpStream("192.0.2.10:8500", "170.72.1.1:5004", 1, 10, 1, 100)), want: 0},
		{name: "the media node's answer", a: streams(rtpStream("170.72.1.1:5004", "192.0.2.10:8500", 1, 10, 1, 100)), want: 0},
		{name: "a device port", a: streams(rtpStream("192.0.2.10:20000", "170.72.1.1:5004", 1, 10, 1, 100)), want: 0},
		{
			name: "a phone on port 10000, both directions in one finding",
			a: streams(rtpStream("192.0.2.10:10000", "170.72.1.1:5004", 1, 10, 1, 100),
				rtpStream("170.72.1.1:5004", "192.0.2.10:10000", 2, 11, 1, 100)),
			want: 1,
			contains: []string{"Audio between 192.0.2.10:10000 and 170.72.1.1:5004 (udp, 200 packets in 2 streams) uses ports 10000 and 5004",
				"webex-calling profile's media ports for audio (8500-8599, 19560-65535)"},
			filter: "ip.addr == 192.0.2.10 && ip.addr == 170.72.1.1 && udp.port == 10000 && udp.port == 5004",
		},
		{name: "video on the audio range", a: streams(func() *diagnose.Stream {
			s := rtpStream("192.0.2.10:8600", "170.72.1.1:5004", 1, 10, 1, 100)
			s.MediaType = "video"
			return s
		}()), want: 0},
		{name: "audio on the video range", a: streams(rtpStream("192.0.2.10:8600", "170.72.1.1:5004", 1, 10, 1, 100)), want: 1},
		{name: "video on the app audio range", a: streams(video), want: 1, contains: []string{"for video (8600-8699, 19560-65535)"}},
	})
	runRuleCases(t, MediaPortOutsideRange{Profile: cms}, []ruleCase{
		{name: "relay port", a: streams(rtpStream("198.51.100.7:50000", "203.0.113.5:24012", 1, 10, 1, 100)), want: 0},
		{name: "relayed through TURN on 3478", a: streams(relayed), want: 0},
		{name: "direct media", a: streams(rtpStream("198.51.100.7:50000", "203.0.113.5:40000", 1, 10, 1, 100)), want: 1},
	})
}

func TestMediaUnexpectedPeer(t *testing.T) {
	webex := mustProfile(t, "webex-calling")
	streams := func(s ...*diagnose.Stream) *diagnose.Analysis { return &diagnose.Analysis{Streams: s} }
	runRuleCases(t, MediaUnexpectedPeer{}, []ruleCase{
		{name: "default profile never fires", a: streams(rtpStream("192.0.2.10:8500", "198.51.100.99:5004", 1, 10, 1, 100)), want: 0},
	})
	runRuleCases(t, MediaUnexpectedPeer{Profile: webex}, []ruleCase{
		{name: "a Webex media node", a: streams(rtpStream("192.168.1.10:8500", "170.72.1.1:5004", 1, 10, 1, 100)), want: 0},
		{name: "from a Webex media node", a: streams(rtpStream("144.196.9.9:5004", "192.168.1.10:8500", 1, 10, 1, 100)), want: 0},
		{name: "LAN media", a: streams(rtpStream("192.168.1.10:20000", "192.168.1.11:20002", 1, 10, 1, 100)), want: 0},
		{
			name: "another server",
			a: streams(rtpStream("192.168.1.10:8500", "198.51.100.99:5004", 1, 10, 1, 100),
				rtpStream("198.51.100.99:5004", "192.168.1.10:8500", 2, 11, 1, 100)),
			want:     1,
			contains: []string{"is exchanged with 198.51.100.99, which is in none of the webex-calling profile's 16 peer subnets (23.89.0.0/16, 85.119.56.0/23, 128.177.14.0/24, 128.177.36.0/24, …)"},
			filter:   "ip.addr == 192.168.1.10 && ip.addr == 198.51.100.99 && udp.port == 8500 && udp.port == 5004",
		},
	})
}
