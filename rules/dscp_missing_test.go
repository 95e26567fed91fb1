package rules

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

func TestDSCPMissing(t *testing.T) {
	flow := func(class, src, dst string, marks map[int]uint64) *diagnose.Flow {
		f := &diagnose.Flow{Src: netipAP(src), Dst: netipAP(dst), Transport: decode.UDP, Class: class,
			First: sipRef(10, 1), Last: sipRef(500, 10), Frames: []uint64{10, 12, 14}}
		for v, n := range marks {
			f.DSCP.Add(v, n)
			f.Packets += n
		}
		return f
	}
	flows := func(f ...*diagnose.Flow) *diagnose.Analysis { return &diagnose.Analysis{Flows: f} }
	runRuleCases(t, DSCPMissing{}, []ruleCase{
		{name: "audio EF", a: flows(flow("audio", "192.0.2.10:4000", "203.0.113.7:30000", map[int]uint64{46: 150})), want: 0},
		{name: "video AF41", a: flows(flow("video", "192.0.2.10:4002", "203.0.113.7:30002", map[int]uint64{34: 300})), want: 0},
		{name: "SIP CS3", a: flows(flow("sip", "192.0.2.10:5060", "203.0.113.5:5060", map[int]uint64{24: 12})), want: 0},
		{name: "unknown class", a: flows(flow("", "192.0.2.10:4000", "203.0.113.7:30000", map[int]uint64{0: 150})), want: 0},
		{name: "stun", a: flows(flow("stun", "192.0.2.10:4000", "203.0.113.7:3478", map[int]uint64{0: 150})), want: 0},
		{
			name: "audio marked 0",
			a:    flows(flow("audio", "192.0.2.10:4000", "203.0.113.7:30000", map[int]uint64{0: 150})),
			want: 1,
			contains: []string{"Audio from 192.0.2.10:4000 to 203.0.113.7:30000 (udp) is marked 0 (best effort) instead of EF 46 on all 150 packets",
				"A switch or router between the sender and the capture point re-marks it, or the endpoint does not mark it"},
			frames: []uint64{10, 12, 14, 500},
			filter: "ip.dsfield.dscp != 46 && ip.src == 192.0.2.10 && udp.srcport == 4000 && ip.dst == 203.0.113.7 && udp.dstport == 30000",
		},
		{
			name:     "re-marked part of the way",
			a:        flows(flow("audio", "192.0.2.10:4000", "203.0.113.7:30000", map[int]uint64{46: 100, 0: 50})),
			want:     1,
			contains: []string{"is re-marked: 100 of 150 packets carry EF 46", "0 (best effort) ×50, EF 46 ×100"},
		},
		{
			name:     "SIP marked AF31",
			a:        flows(flow("sip", "[2001:db8::10]:5060", "[2001:db8::5]:5060", map[int]uint64{26: 12})),
			want:     1,
			contains: []string{"SIP signalling from [2001:db8::10]:5060 to [2001:db8::5]:5060 (udp) is marked AF31 26 instead of CS3 24", "does not mark its signalling"},
			filter:   "ipv6.tclass.dscp != 24 && ipv6.src == 2001:db8::10 && udp.srcport == 5060 && ipv6.dst == 2001:db8::5 && udp.dstport == 5060 && sip",
		},
		{
			name: "SIP grouped by sender address",
			a: flows(
				flow("sip", "192.0.2.10:5060", "203.0.113.5:5060", map[int]uint64{0: 12}),
				flow("audio", "192.0.2.10:4000", "203.0.113.7:30000", map[int]uint64{0: 150}),
				flow("sip", "192.0.2.10:5060", "203.0.113.6:5060", map[int]uint64{0: 3, 24: 1}),
				flow("sip", "203.0.113.5:5060", "192.0.2.10:5060", map[int]uint64{0: 9}),
				flow("sip", "192.0.2.10:5062", "203.0.113.5:5060", map[int]uint64{24: 5})),
			want: 3,
			contains: []string{
				"SIP signalling from 192.0.2.10 is not marked CS3 24 on 2 flows: 1 of 16 packets carry it (192.0.2.10:5060 to 203.0.113.5:5060 (udp): 0 (best effort) ×12; 192.0.2.10:5060 to 203.0.113.6:5060 (udp): 0 (best effort) ×3, CS3 24 ×1)",
			},
		},
		{name: "one finding per flow", a: flows(
			flow("audio", "192.0.2.10:4000", "203.0.113.7:30000", map[int]uint64{0: 150}),
			flow("audio", "203.0.113.7:30000", "192.0.2.10:4000", map[int]uint64{0: 150})), want: 2},
	})
	// A group's finding: its title, filter and order among the others.
	fs := DSCPMissing{}.Check(flows(
		flow("audio", "192.0.2.10:4000", "203.0.113.7:30000", map[int]uint64{0: 150}),
		flow("sip", "192.0.2.10:5060", "203.0.113.5:5060", map[int]uint64{0: 12}),
		flow("sip", "192.0.2.10:5060", "203.0.113.6:5060", map[int]uint64{0: 3})))
	if len(fs) != 2 {
		t.Fatalf("%d findings, want the audio one and one for the SIP sender", len(fs))
	}
	if g := fs[1]; g.Title != "SIP signalling from 192.0.2.10 not marked CS3 24 (2 flows)" ||
		g.Filter != "ip.dsfield.dscp != 24 && ip.src == 192.0.2.10 && sip" ||
		!slices.Equal(g.Endpoints, []string{"192.0.2.10:5060", "203.0.113.5:5060", "203.0.113.6:5060"}) {
		t.Errorf("grouped finding: title %q filter %q endpoints %v", g.Title, g.Filter, g.Endpoints)
	}
	if !strings.HasPrefix(fs[0].Title, "Audio from") {
		t.Errorf("first finding %q, want the audio flow's, in flow order", fs[0].Title)
	}
	// Many flows: the detail lists the first few and counts the rest.
	var many []*diagnose.Flow
	for i := range maxGroupFlowsListed + 3 {
		many = append(many, flow("sip", "192.0.2.10:5060", fmt.Sprintf("203.0.113.%d:5060", i+1), map[int]uint64{0: 2}))
	}
	if fs := (DSCPMissing{}).Check(flows(many...)); len(fs) != 1 || !strings.Contains(fs[0].Detail, "; and 3 more flows)") {
		t.Errorf("many SIP flows: %d findings %v", len(fs), fs)
	}

	p := mustProfile(t, "default")
	p.DSCP.Audio = -1
	if fs := (DSCPMissing{Profile: p}).Check(flows(flow("audio", "192.0.2.10:4000", "203.0.113.7:30000", map[int]uint64{0: 150}))); len(fs) != 0 {
		t.Errorf("audio check off: %v", fs)
	}
}

func TestDSCPName(t *testing.T) {
	for v, want := range map[int]string{0: "0 (best effort)", 46: "EF 46", 34: "AF41 34", 24: "CS3 24", 26: "AF31 26", 10: "AF11 10", 8: "CS1 8", 48: "CS6 48", 45: "45", 44: "VOICE-ADMIT 44"} {
		if got := dscpName(v); got != want {
			t.Errorf("dscpName(%d) = %q, want %q", v, got, want)
		}
	}
}

// TestDSCPMissingRemarkedBetween covers captures holding both sides of a
// box: the same RTP packets as two streams, one per side.
func TestDSCPMissingRemarkedBetween(t *testing.T) {
	type leg struct {
		src, dst string
		ssrc     uint32
		ts       uint32
		frame    uint64
		sec      float64
		marks    map[int]uint64
	}
	stream := func(l leg) *diagnose.Stream {
		s := &diagnose.Stream{Src: netipAP(l.src), Dst: netipAP(l.dst), Transport: decode.UDP, SSRC: l.ssrc,
			PayloadType: 0, MediaType: "audio", First: sipRef(l.frame, l.sec), Last: sipRef(l.frame+600, l.sec+3),
			FirstFrames: []uint64{l.frame, l.frame + 4, l.frame + 8}, FirstSeq: 100, FirstTimestamp: l.ts}
		for v, n := range l.marks {
			s.DSCP.Add(v, n)
			s.Packets += n
		}
		return s
	}
	// analysis holds the streams and a flow per stream, as diagnose
	// derives them.
	analysis := func(legs ...leg) *diagnose.Analysis {
		a := &diagnose.Analysis{}
		for _, l := range legs {
			s := stream(l)
			a.Streams = append(a.Streams, s)
			f := &diagnose.Flow{Src: s.Src, Dst: s.Dst, Transport: s.Transport, Class: s.MediaType,
				Packets: s.Packets, First: s.First, Last: s.Last, Frames: s.FirstFrames}
			f.DSCP.AddAll(&s.DSCP)
			a.Flows = append(a.Flows, f)
		}
		return a
	}
	const ssrc = 0xca110000
	ef, zero := map[int]uint64{46: 150}, map[int]uint64{0: 150}
	inside := leg{src: "10.0.1.10:6000", dst: "203.0.113.20:6000", ssrc: ssrc, ts: 4896, frame: 11, sec: 1, marks: ef}
	outside := leg{src: "203.0.113.1:6000", dst: "203.0.113.20:6000", ssrc: ssrc, ts: 4896, frame: 12, sec: 1.00008, marks: zero}
	with := func(l leg, change func(*leg)) leg { change(&l); return l }
	plain := "A switch or router between the sender and the capture point re-marks it, or the endpoint does not mark it"
	box := "the box between re-marks them"
	runRuleCases(t, DSCPMissing{}, []ruleCase{
		{
			name: "twin found",
			a:    analysis(inside, outside),
			want: 1,
			contains: []string{
				"The same packets carried EF 46 at 10.0.1.10:6000 → 203.0.113.20:6000 (udp, 150 packets before the box) and 0 (best effort) at 203.0.113.1:6000 → 203.0.113.20:6000 (150 packets after it): the box between re-marks them.",
				"SSRC 0xca110000, payload type 0, from sequence number 100 and timestamp 4896; its first packet is frame 11 before the box and frame 12 after it, 80µs later.",
				"Audio from 203.0.113.1:6000 to 203.0.113.20:6000 (udp): 0 of 150 packets marked EF 46 (0 (best effort) ×150).",
			},
			excludes: []string{plain},
			frames:   []uint64{11, 12, 15, 16, 19, 20, 611, 612},
			filter: "(ip.src == 10.0.1.10 && udp.srcport == 6000 && ip.dst == 203.0.113.20 && udp.dstport == 6000) || " +
				"(ip.src == 203.0.113.1 && udp.srcport == 6000 && ip.dst == 203.0.113.20 && udp.dstport == 6000)",
		},
		{
			name: "twin first in the list or last: the same",
			a:    analysis(outside, inside),
			want: 1, contains: []string{box},
		},
		{
			name: "twin also unmarked", a: analysis(with(inside, func(l *leg) { l.marks = zero }), outside),
			want: 2, contains: []string{"Audio from 10.0.1.10:6000 to 203.0.113.20:6000 (udp) is marked 0 (best effort)", plain}, excludes: []string{box},
		},
		{
			name: "twin partly marked", a: analysis(with(inside, func(l *leg) { l.marks = map[int]uint64{46: 149, 0: 1} }), outside),
			want: 2, excludes: []string{box},
		},
		{
			name: "twin with another SSRC", a: analysis(with(inside, func(l *leg) { l.ssrc = 0x1234 }), outside),
			want: 1, contains: []string{plain}, excludes: []string{box},
		},
		{
			name: "twin far apart in time", a: analysis(with(inside, func(l *leg) { l.sec = 0.5 }), outside),
			want: 1, contains: []string{plain}, excludes: []string{box},
		},
		{
			// Two directions of a SIPp call share the SSRC and start
			// within milliseconds; their timestamps tell them apart.
			name: "same SSRC, another timestamp line", a: analysis(with(inside, func(l *leg) { l.ts = 5888 }), outside),
			want: 1, contains: []string{plain}, excludes: []string{box},
		},
		{
			name: "the marked copy comes after the box", a: analysis(with(inside, func(l *leg) { l.sec, l.frame = 1.0001, 13 }), outside),
			want: 1, contains: []string{plain}, excludes: []string{box},
		},
		{
			name: "the other direction", a: analysis(with(inside, func(l *leg) { l.src, l.dst = outside.dst, outside.src }), outside),
			want: 1, contains: []string{plain}, excludes: []string{box},
		},
	})
}

// TestDSCPMissingRemarkedOnBox covers a capture taken on the box that
// re-marks the flow, forwarding it without NAT (tcpdump -i any on a
// router): the same packets as two streams of one 5-tuple, told apart by
// where the capturing host saw them, and one media flow holding both, as
// diagnose derives it.
func TestDSCPMissingRemarkedOnBox(t *testing.T) {
	type copyAt struct {
		dir     decode.Direction
		ifindex uint32
		frame   uint64
		sec     float64
		marks   map[int]uint64
	}
	const ssrc = 0xca110000
	src, dst := netipAP("10.0.1.10:6000"), netipAP("203.0.113.20:6000")
	analysis := func(copies ...copyAt) *diagnose.Analysis {
		a := &diagnose.Analysis{}
		f := &diagnose.Flow{Src: src, Dst: dst, Transport: decode.UDP, Class: "audio"}
		for _, c := range copies {
			s := &diagnose.Stream{Src: src, Dst: dst, Transport: decode.UDP, SSRC: ssrc, Direction: c.dir, Interface: c.ifindex,
				PayloadType: 0, MediaType: "audio", First: sipRef(c.frame, c.sec), Last: sipRef(c.frame+596, c.sec+3),
				FirstFrames: []uint64{c.frame, c.frame + 4, c.frame + 8}, FirstSeq: 0, FirstTimestamp: 4896}
			for v, n := range c.marks {
				s.DSCP.Add(v, n)
				s.Packets += n
			}
			a.Streams = append(a.Streams, s)
			f.Packets += s.Packets
			f.DSCP.AddAll(&s.DSCP)
			f.Frames = append(f.Frames, s.FirstFrames...)
			if f.First.Frame == 0 || s.First.Frame < f.First.Frame {
				f.First = s.First
			}
			if s.Last.Frame > f.Last.Frame {
				f.Last = s.Last
			}
		}
		slices.Sort(f.Frames)
		a.Flows = append(a.Flows, f)
		return a
	}
	ef, zero := map[int]uint64{46: 150}, map[int]uint64{0: 150}
	arriving := copyAt{dir: decode.Arriving, ifindex: 2, frame: 11, sec: 1, marks: ef}
	leaving := copyAt{dir: decode.Leaving, ifindex: 3, frame: 12, sec: 1.000013, marks: zero}
	with := func(c copyAt, change func(*copyAt)) copyAt { change(&c); return c }
	onBox := "that box re-marks it between its interfaces"
	// Not signalled in SDP here: Wireshark would not dissect it as RTP.
	stream := "ip.src == 10.0.1.10 && udp.srcport == 6000 && ip.dst == 203.0.113.20 && udp.dstport == 6000"
	runRuleCases(t, DSCPMissing{}, []ruleCase{
		{
			name: "re-marked between interfaces 2 and 3",
			a:    analysis(arriving, leaving),
			want: 1,
			contains: []string{
				"This capture was taken on the box that forwards this audio (tcpdump -i any: the Linux cooked header says where each packet was seen), and " + onBox,
				"each packet of RTP stream SSRC 0xca110000 (payload type 0, from sequence number 0 and timestamp 4896) shows twice on 10.0.1.10:6000 → 203.0.113.20:6000 (udp): " +
					"arriving on interface 2 marked EF 46 (EF 46 ×150) and leaving on interface 3 marked 0 (best effort) (0 (best effort) ×150).",
				"Its first packet is frame 11 arriving on interface 2 and frame 12 leaving on interface 3, 13µs later.",
				"whether interface 2 trusts DSCP, and what re-marks the packets on their way out of interface 3",
				"`ip link`",
			},
			// Neither the partial re-marking of a flow counted as one,
			// nor the sender's fault, nor a NAT's two 5-tuples.
			excludes: []string{"is re-marked:", "of 300", "or the endpoint does not mark it", "the box between re-marks them"},
			frames:   []uint64{11, 12, 15, 16, 19, 20, 607, 608},
			filter:   "(" + stream + " && sll.ifindex == 2 && sll.pkttype <= 3) || (" + stream + " && sll.ifindex == 3 && sll.pkttype == 4)",
		},
		{
			name: "listed leaving first: the same",
			a:    analysis(leaving, arriving),
			want: 1, contains: []string{onBox, "frame 11 arriving on interface 2 and frame 12 leaving on interface 3"},
		},
		{
			// LINUX_SLL: the direction without the interface.
			name: "no interface index",
			a:    analysis(with(arriving, func(c *copyAt) { c.ifindex = 0 }), with(leaving, func(c *copyAt) { c.ifindex = 0 })),
			want: 1,
			contains: []string{onBox, "arriving marked EF 46 (EF 46 ×150) and leaving marked 0 (best effort) (0 (best effort) ×150)",
				"whether the interface the packets arrive on trusts DSCP, and what re-marks the packets on their way out"},
			excludes: []string{"interface 0", "`ip link`"},
			filter:   "(" + stream + " && sll.pkttype <= 3) || (" + stream + " && sll.pkttype == 4)",
		},
		{
			// A policer on the way out demotes part of the stream.
			name:     "partly re-marked leaving",
			a:        analysis(arriving, with(leaving, func(c *copyAt) { c.marks = map[int]uint64{46: 100, 0: 50} })),
			want:     1,
			contains: []string{onBox, "arriving on interface 2 marked EF 46 (EF 46 ×150) and leaving on interface 3 marked (0 (best effort) ×50, EF 46 ×100)"},
		},
		{
			name: "unmarked on both interfaces: the sender's",
			a:    analysis(with(arriving, func(c *copyAt) { c.marks = zero }), leaving),
			want: 1, contains: []string{"is marked 0 (best effort) instead of EF 46 on all 300 packets"}, excludes: []string{onBox},
		},
		{
			// The box adds the mark: the sender's packets are unmarked up
			// to it, which the box is not to blame for.
			name: "the marked copy leaves",
			a:    analysis(with(arriving, func(c *copyAt) { c.marks = zero }), with(leaving, func(c *copyAt) { c.marks = ef })),
			want: 1, excludes: []string{onBox},
		},
		{
			// Two files, one capture saying where, one not: no box is
			// known to have seen both.
			name: "one copy without a capture point",
			a:    analysis(arriving, with(leaving, func(c *copyAt) { c.dir, c.ifindex = decode.DirectionUnknown, 0 })),
			want: 1, contains: []string{"is re-marked:"}, excludes: []string{onBox},
		},
	})
}
