package rules

import (
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestMediaOneWay(t *testing.T) {
	const (
		callerMedia = "192.0.2.10:4000"
		calleeMedia = "203.0.113.7:30000"
	)
	newCall := func() *diagnose.Call {
		return answeredCall("c1", audioSDP(1, 0, callerSIP, "192.0.2.10", 4000, "192.0.2.10"),
			audioSDP(3, 1, calleeSIP, "203.0.113.7", 30000, "203.0.113.7"))
	}
	out := func() *diagnose.Stream { return rtpStream(callerMedia, calleeMedia, 0x1111, 10, 1.1, 1500) }
	back := func() *diagnose.Stream { return rtpStream(calleeMedia, callerMedia, 0x2222, 11, 1.1, 1500) }
	natCall := func() *diagnose.Call {
		return answeredCall("c1", audioSDP(1, 0, callerSIP, "192.168.1.10", 4000, "192.168.1.10"),
			audioSDP(3, 1, calleeSIP, "203.0.113.7", 30000, "203.0.113.7"))
	}
	held := newCall()
	held.Answer.Session.Media[0].Direction = "recvonly"
	notAnswered := newCall()
	notAnswered.Outcome = "cancelled"
	lateOffer := answeredCall("c1", audioSDP(3, 1, calleeSIP, "203.0.113.7", 30000, "203.0.113.7"), nil)
	runRuleCases(t, MediaOneWay{}, []ruleCase{
		{name: "two-way", a: tie(newCall(), out(), back()), want: 0},
		{
			name: "callee silent",
			a:    tie(newCall(), out()),
			want: 1,
			contains: []string{"1,500 RTP packets from the caller (192.0.2.10:4000 → 203.0.113.7:30000, SSRC 0x00001111) and none from the callee",
				"The callee's audio should have reached 192.0.2.10:4000, the address the caller's SDP announced (frame 1)",
				"The callee's SDP came from 203.0.113.7:5060"},
			filter: `sip.Call-ID == "c1" || rtp.ssrc == 0x00001111 || (ip.addr == 192.0.2.10 && udp.port == 4000)`,
		},
		{
			name:     "caller silent",
			a:        tie(newCall(), back()),
			want:     1,
			contains: []string{"from the callee (203.0.113.7:30000 → 192.0.2.10:4000", "none from the caller", "should have reached 203.0.113.7:30000"},
		},
		{
			name: "caller's SDP behind NAT: media to the NAT's public port only one way",
			a:    tie(natCall(), rtpStream("198.51.100.20:4000", calleeMedia, 0x1111, 10, 1.1, 1500)),
			want: 1,
			contains: []string{"should have reached 192.168.1.10:4000",
				"That address is private, but the caller's SIP came from the public address 198.51.100.20: the caller is behind NAT and nothing fixed its SDP, so the callee's audio cannot reach it (see sip.nat-address-mismatch)"},
		},
		{
			// sip-one-way-audio.pcap: a private address, routed, no NAT.
			name: "private SDP address without NAT: no NAT claimed",
			a: tie(answeredCall("c1", audioSDP(1, 0, "10.0.1.10:5060", "10.0.1.10", 6000, "10.0.1.10"),
				audioSDP(4, 0.5, "203.0.113.20:5060", "203.0.113.20", 6000, "203.0.113.20")),
				rtpStream("10.0.1.10:6000", "203.0.113.20:6000", 0xca110000, 6, 1, 150)),
			want: 1,
			contains: []string{"should have reached 10.0.1.10:6000", "That address is private, and the caller's SIP came from it too: nothing in the capture shows a NAT",
				"Usual causes: a firewall or pinhole that lets media through in one direction only, an SDP address the callee cannot reach",
				"a callee that never sent"},
			excludes: []string{"behind NAT", "public address", "if a NAT"},
		},
		{
			// The SIP came through a proxy on the LAN, the media from the NAT.
			name: "media from a public address the SDP does not name",
			a: tie(answeredCall("c1", audioSDP(1, 0, "192.168.1.10:5060", "192.168.1.10", 4000, "192.168.1.10"),
				audioSDP(3, 1, calleeSIP, "203.0.113.7", 30000, "203.0.113.7")),
				rtpStream("198.51.100.20:4000", calleeMedia, 0x1111, 10, 1.1, 1500)),
			want:     1,
			contains: []string{"but the caller's media came from the public address 198.51.100.20: the caller is behind NAT"},
		},
		{
			name:     "public SDP address: nothing said about NAT",
			a:        tie(newCall(), out()),
			want:     1,
			excludes: []string{"NAT", "private"},
		},
		{name: "hold: recvonly answer", a: tie(held, out()), want: 0},
		{name: "not answered", a: tie(notAnswered, out()), want: 0},
		{name: "no streams is media.no-rtp's", a: tie(newCall()), want: 0},
		{name: "too short to tell", a: tie(newCall(), rtpStream(callerMedia, calleeMedia, 1, 10, 1.1, 20)), want: 0},
		{
			name:     "late offer in the 2xx, only the offerer (callee) heard",
			a:        tie(lateOffer, rtpStream(callerMedia, calleeMedia, 0x1111, 10, 1.1, 1500)),
			want:     1,
			contains: []string{"none from the callee"},
		},
	})
}

func TestStreamTowardTURN(t *testing.T) {
	c := answeredCall("c1", audioSDP(1, 0, callerSIP, "203.0.113.5", 24012, "192.0.2.10"),
		audioSDP(3, 1, calleeSIP, "203.0.113.7", 30000, "203.0.113.7"))
	al := &diagnose.Allocation{Client: netipAP("192.0.2.10:50000"), Server: netipAP("203.0.113.5:3478"), Relayed: netipAP("203.0.113.5:24012")}
	off, ans := callSides(c)
	up := rtpStream("192.0.2.10:50000", "203.0.113.5:3478", 1, 10, 1, 100)
	up.Allocation = al
	down := rtpStream("203.0.113.5:3478", "192.0.2.10:50000", 2, 11, 1, 100)
	down.Allocation = al
	if got := streamToward(up, off, ans); got != 2 {
		t.Errorf("client to TURN server: toward %d, want the answerer (2)", got)
	}
	if got := streamToward(down, off, ans); got != 1 {
		t.Errorf("TURN server to client: toward %d, want the offerer (1)", got)
	}
}
