package rules

import (
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// TestDSCPMissingSIPRemarkedOnBox covers SIP on a capture taken on the
// box that forwards it without NAT (tcpdump -i any on a router): each
// message twice on one 5-tuple, one SIP flow counting both copies, and
// the copies paired by diagnose (Analysis.SIPCopies) with each side's
// marks.
func TestDSCPMissingSIPRemarkedOnBox(t *testing.T) {
	type sipFlow struct {
		src, dst string
		marks    map[int]uint64 // both copies, as the flow counts them
	}
	type pairs struct {
		src, dst              string
		before, after         map[int]uint64
		inIf, outIf           uint32
		beforeFrame, afterSec float64
	}
	analysis := func(flows []sipFlow, copies ...pairs) *diagnose.Analysis {
		a := &diagnose.Analysis{}
		for i, fl := range flows {
			f := &diagnose.Flow{Src: netipAP(fl.src), Dst: netipAP(fl.dst), Transport: decode.UDP, Class: "sip",
				First: sipRef(uint64(1+i), 0), Last: sipRef(uint64(40+i), 3), Frames: []uint64{uint64(1 + i), uint64(2 + i)}}
			for v, n := range fl.marks {
				f.DSCP.Add(v, n)
				f.Packets += n
			}
			a.Flows = append(a.Flows, f)
		}
		for _, p := range copies {
			c := &diagnose.SIPCopies{Src: netipAP(p.src), Dst: netipAP(p.dst), Transport: decode.UDP,
				Before: diagnose.SIPCopySide{Direction: decode.Arriving, Interface: p.inIf,
					First: sipRef(uint64(p.beforeFrame), 0), Last: sipRef(uint64(p.beforeFrame)+38, 3)},
				After: diagnose.SIPCopySide{Direction: decode.Leaving, Interface: p.outIf,
					First: sipRef(uint64(p.beforeFrame)+1, p.afterSec), Last: sipRef(uint64(p.beforeFrame)+39, 3.00002)},
			}
			for v, n := range p.before {
				c.Before.DSCP.Add(v, n)
				c.Messages += n
			}
			for v, n := range p.after {
				c.After.DSCP.Add(v, n)
			}
			a.SIPCopies = append(a.SIPCopies, c)
		}
		return a
	}
	const caller, callee, other = "10.0.1.10:5060", "203.0.113.20:5060", "203.0.113.30:5060"
	cs3, zero := map[int]uint64{24: 4}, map[int]uint64{0: 4}
	remarked := []sipFlow{{caller, callee, map[int]uint64{24: 4, 0: 4}}}
	caller2, callee2 := pairs{caller, callee, cs3, zero, 2, 3, 1, 0.00002}, pairs{callee, caller, cs3, cs3, 3, 2, 3, 0.01}
	onBox := "that box re-marks it between its interfaces"
	flow := "ip.src == 10.0.1.10 && udp.srcport == 5060 && ip.dst == 203.0.113.20 && udp.dstport == 5060"
	cases := []ruleCase{
		{
			name: "re-marked between interfaces 2 and 3",
			a:    analysis(remarked, caller2, callee2),
			want: 1,
			contains: []string{
				"This capture was taken on the box that forwards this SIP signalling (tcpdump -i any: the Linux cooked header says where each packet was seen), and " + onBox,
				"each of 4 SIP messages from 10.0.1.10:5060 to 203.0.113.20:5060 (udp) shows twice, byte for byte: " +
					"arriving on interface 2 marked CS3 24 (CS3 24 ×4) and leaving on interface 3 marked 0 (best effort) (0 (best effort) ×4).",
				"The first is frame 1 arriving on interface 2 and frame 2 leaving on interface 3, 20µs later.",
				"whether interface 2 trusts DSCP, and what re-marks the packets on their way out of interface 3",
				"`ip link`", "The default profile expects CS3 24 for SIP signalling.",
			},
			excludes: []string{"is re-marked:", "of 8", "does not mark its signalling"},
			frames:   []uint64{1, 2, 39, 40},
			filter:   "sip && ((" + flow + " && sll.ifindex == 2 && sll.pkttype <= 3) || (" + flow + " && sll.ifindex == 3 && sll.pkttype == 4))",
		},
		{
			// LINUX_SLL: the direction without the interface.
			name: "no interface index",
			a:    analysis(remarked, pairs{caller, callee, cs3, zero, 0, 0, 1, 0.00002}),
			want: 1,
			contains: []string{onBox, "arriving marked CS3 24 (CS3 24 ×4) and leaving marked 0 (best effort)",
				"whether the interface the packets arrive on trusts DSCP, and what re-marks the packets on their way out"},
			excludes: []string{"interface 0", "`ip link`"},
		},
		{
			// Without paired copies (any capture but a Linux cooked one,
			// or an ALG rewriting each message): the flow as before.
			name: "no copies paired",
			a:    analysis(remarked),
			want: 1, contains: []string{"is re-marked: 4 of 8 packets carry CS3 24"}, excludes: []string{onBox},
		},
		{
			// The sender left one more message unmarked, one the box
			// never forwarded: the box is not the whole story.
			name: "an unmarked message of the sender's own",
			a:    analysis([]sipFlow{{caller, callee, map[int]uint64{24: 4, 0: 5}}}, caller2),
			want: 1, contains: []string{"is re-marked: 4 of 9 packets"}, excludes: []string{onBox},
		},
		{
			name: "arriving unmarked too",
			a: analysis([]sipFlow{{caller, callee, map[int]uint64{24: 3, 0: 5}}},
				pairs{caller, callee, map[int]uint64{24: 3, 0: 1}, zero, 2, 3, 1, 0.00002}),
			want: 1, excludes: []string{onBox},
		},
		{
			// The box adds the mark: not its fault.
			name: "the marked copy leaves",
			a:    analysis([]sipFlow{{caller, callee, map[int]uint64{24: 4, 0: 4}}}, pairs{caller, callee, zero, cs3, 2, 3, 1, 0.00002}),
			want: 1, contains: []string{"is re-marked: 4 of 8 packets"}, excludes: []string{onBox},
		},
	}
	runRuleCases(t, DSCPMissing{}, cases)

	titles := []struct {
		name string
		a    *diagnose.Analysis
		want []string
		// in the first finding's detail
		detail []string
	}{
		{"one flow", analysis(remarked, caller2, callee2), []string{
			"SIP signalling from 10.0.1.10:5060 to 203.0.113.20:5060 not marked CS3 24: re-marked by the capturing box, arriving on interface 2 → leaving on interface 3"}, nil},
		{
			// Two peers' flows re-marked alike: one finding for the
			// sender, naming the box; a third flow its sender left
			// unmarked keeps a finding of its own, blaming the sender.
			"two flows re-marked, one unmarked by its sender",
			analysis([]sipFlow{remarked[0], {caller, other, map[int]uint64{24: 4, 0: 4}}, {caller, "203.0.113.40:5060", zero}},
				caller2, pairs{caller, other, cs3, zero, 2, 3, 5, 0.01}),
			[]string{
				"SIP signalling from 10.0.1.10 (2 flows) not marked CS3 24: re-marked by the capturing box, arriving on interface 2 → leaving on interface 3",
				"SIP signalling from 10.0.1.10:5060 to 203.0.113.40:5060 not marked CS3 24",
			},
			[]string{
				": each of 4 SIP messages from 10.0.1.10:5060 to 203.0.113.20:5060 (udp) shows twice",
				" Likewise, each of 4 SIP messages from 10.0.1.10:5060 to 203.0.113.30:5060 (udp) shows twice",
			},
		},
	}
	for _, tt := range titles {
		fs := DSCPMissing{}.Check(tt.a)
		var got []string
		for _, f := range fs {
			got = append(got, f.Title)
		}
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s: titles\n%s\nwant\n%s", tt.name, strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
		}
		for _, d := range tt.detail {
			if len(fs) == 0 || !strings.Contains(fs[0].Detail, d) {
				t.Errorf("%s: detail lacks %q: %+v", tt.name, d, fs)
			}
		}
	}
}
