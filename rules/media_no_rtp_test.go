package rules

import (
	"testing"

	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/diagnose"
)

func TestMediaNoRTP(t *testing.T) {
	newCall := func() *diagnose.Call {
		return answeredCall("c1", audioSDP(1, 0, callerSIP, "192.0.2.10", 4000, "192.0.2.10"),
			audioSDP(3, 1, calleeSIP, "203.0.113.7", 30000, "203.0.113.7"))
	}
	alone := func(c *diagnose.Call, streams ...*diagnose.Stream) *diagnose.Analysis {
		return &diagnose.Analysis{Calls: []*diagnose.Call{c}, Streams: streams}
	}
	short := newCall()
	short.Ended = sipRef(5, 1.5)
	withICE := newCall()
	withICE.Offer.Session.Media[0].Candidates = []sdp.Candidate{{Foundation: "1", Component: 1, Transport: "UDP", Addr: netipAP("192.0.2.10:4000"), Type: "host"},
		{Foundation: "2", Component: 1, Transport: "UDP", Addr: netipAP("203.0.113.5:24012"), Type: "relay"}}
	inactive := newCall()
	inactive.Offer.Session.Media[0].Direction = "inactive"
	inactive.Answer.Session.Media[0].Direction = "inactive"
	noSDP := newCall()
	noSDP.Offer, noSDP.Answer, noSDP.SDPs = nil, nil, nil
	failed := newCall()
	failed.Outcome = "failed"
	runRuleCases(t, MediaNoRTP{}, []ruleCase{
		{name: "media flows", a: tie(newCall(), rtpStream("192.0.2.10:4000", "203.0.113.7:30000", 1, 10, 1.1, 100)), want: 0},
		{
			// The capture point saw RTP (counted in Stats) though none
			// belongs to a stream the analysis kept.
			name: "no stream, RTP elsewhere",
			a:    withRTPStat(alone(newCall())),
			want: 1,
			contains: []string{"was answered in frame 3 and lasted 30 s in the capture (BYE in frame 900)",
				"audio 192.0.2.10:4000, audio 203.0.113.7:30000", "The capture holds no RTP at all"},
			frames: []uint64{1, 3, 900},
			filter: `sip.Call-ID == "c1" || (ip.addr == 192.0.2.10 && udp.port == 4000) || (ip.addr == 203.0.113.7 && udp.port == 30000)`,
		},
		{
			// 37 errors across the public corpus before: captures taken
			// on a SIP proxy.
			name:     "signalling-only capture: one info finding",
			a:        &diagnose.Analysis{Calls: []*diagnose.Call{newCall(), secondCall(newCall())}},
			want:     1,
			severity: diagnose.Info,
			contains: []string{"The capture holds signalling only: no media to judge.", "2 calls were answered"},
			frames:   []uint64{1, 3, 900},
			filter:   "frame.number in {1, 3, 900}",
		},
		{
			name:     "other RTP in the capture",
			a:        alone(newCall(), rtpStream("192.0.2.99:5000", "203.0.113.99:6000", 1, 10, 1.1, 100)),
			want:     1,
			contains: []string{"Other RTP was captured"},
		},
		{
			// nDPI/FAX-Call-t38-CA-TDM-SIP-FB-1.pcap: the SBC announces
			// 138.132.169.101:15580 to this leg; its inside address
			// 10.35.60.100:15580 carries the other leg's media.
			name: "another leg of a B2BUA on an announced port",
			a: func() *diagnose.Analysis {
				inside := secondCall(newCall())
				return &diagnose.Analysis{Calls: []*diagnose.Call{newCall(), inside},
					Streams: []*diagnose.Stream{tie(inside, rtpStream("10.0.0.7:30000", "192.0.2.99:5000", 1, 40, 2, 100)).Streams[0]}}
			}(),
			want:     1,
			severity: diagnose.Warning,
			contains: []string{"The capture does hold RTP at the same time on port 30000, which this call announced, but on another address: 10.0.0.7:30000 ↔ 192.0.2.99:5000 (call \"c2\"), frames 40-139.",
				"The capture point likely sees only the other leg of a B2BUA/SBC that owns that port (its inside address 10.0.0.7:30000 carries media): check at the other side."},
			excludes: []string{"Usual causes", "Other RTP was captured"},
			frames:   []uint64{1, 3, 40, 900},
			filter:   `sip.Call-ID == "c1" || (ip.addr == 192.0.2.10 && udp.port == 4000) || (ip.addr == 203.0.113.7 && udp.port == 30000) || (ip.addr == 10.0.0.7 && udp.port == 30000)`,
		},
		{
			name:     "an announced port reused after the call",
			a:        alone(newCall(), rtpStream("10.0.0.7:30000", "192.0.2.99:5000", 1, 40, 60, 100)),
			want:     1,
			contains: []string{"Other RTP was captured", "Usual causes"},
			excludes: []string{"B2BUA"},
		},
		{name: "an unlinked stream to an announced address counts", a: alone(newCall(), rtpStream("198.51.100.20:4000", "203.0.113.7:30000", 1, 10, 1.1, 100)), want: 0},
		{name: "ICE mentioned", a: withRTPStat(alone(withICE)), want: 1, contains: []string{"2 ICE candidates", "another candidate pair"}},
		{name: "ended after 0.5 s", a: alone(short), want: 0},
		{name: "inactive media", a: alone(inactive), want: 0},
		{name: "no SDP seen", a: alone(noSDP), want: 0},
		{name: "not answered", a: alone(failed), want: 0},
	})
}

func withRTPStat(a *diagnose.Analysis) *diagnose.Analysis {
	a.Stats.RTP = 10
	return a
}

func secondCall(c *diagnose.Call) *diagnose.Call {
	c.CallID = "c2"
	return c
}
