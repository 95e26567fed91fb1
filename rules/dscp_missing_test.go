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
