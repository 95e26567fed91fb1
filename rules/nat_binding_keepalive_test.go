package rules

import (
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// kaFlow is the engine's record of CRLF keep-alives from the phone's
// public port port to dst, sent at the given frame, second pairs.
func kaFlow(port uint16, dst string, frameSecs ...float64) *diagnose.SIPKeepAlives {
	k := &diagnose.SIPKeepAlives{Src: netipAP("198.51.100.20:" + strconv.Itoa(int(port))), Dst: netipAP(dst)}
	for i := 0; i+1 < len(frameSecs); i += 2 {
		r := sipRef(uint64(frameSecs[i]), frameSecs[i+1])
		if k.Count == 0 {
			k.First = r
		}
		k.Count++
		k.Last = r
		k.Recent = append(k.Recent, r)
		if len(k.Recent) > diagnose.MaxRecentKeepAlives {
			k.Recent = k.Recent[1:]
		}
	}
	return k
}

func TestNATBindingExpiredKeepAlives(t *testing.T) {
	const reg = "203.0.113.5:5060"
	// The phone registers from public port 40000 at 0 s (frames 1, 2) and
	// refreshes at 50 s (frames 10, 11) from 40001, as in
	// TestNATBindingExpired, with keep-alives in between.
	with := func(flows ...*diagnose.SIPKeepAlives) *diagnose.Analysis {
		a := regAnalysis(natReg(natRegister(40000, "reg1", 1, 1, 0)), natReg(natRegister(40001, "reg1", 2, 10, 50)))
		a.SIPKeepAlives = flows
		return a
	}
	// Every 12 s, each from a new public port: the last one's binding
	// carries the refresh.
	tooRare := func() []*diagnose.SIPKeepAlives {
		return []*diagnose.SIPKeepAlives{kaFlow(40010, reg, 3, 12), kaFlow(40011, reg, 4, 24), kaFlow(40012, reg, 5, 36), kaFlow(40001, reg, 6, 48)}
	}
	// Every 2 s from the old port for 40 s, then none: 20 of them.
	var steady []float64
	for i := 1; i <= 20; i++ {
		steady = append(steady, float64(100+i), float64(2*i))
	}
	otherPhone := with(tooRare()...)
	otherPhone.Flows = []*diagnose.Flow{{Src: netipAP("198.51.100.20:40011"), Dst: registrar, Transport: decode.UDP, Class: "sip", Packets: 1, First: sipRef(20, 20), Last: sipRef(20, 20)}}
	shared := with(tooRare()...)
	another := natReg(func() *diagnose.SIPTransaction {
		t := natRegister(41000, "phone2", 7, 30, 1)
		t.ViaSentBy = "192.168.1.11:5060"
		return t
	}())
	shared.Registrations = append(shared.Registrations, another)
	shared.SIPTransactions = append(shared.SIPTransactions, another.Transactions...)

	var many []*diagnose.SIPKeepAlives
	for i := range 1000 {
		many = append(many, kaFlow(uint16(41000+i), reg, float64(1000+i), 1+float64(i)*0.04))
	}

	cases := []struct {
		ruleCase
		title string
	}{
		{ruleCase: ruleCase{
			name: "each keep-alive from a new port: too far apart", a: with(tooRare()...), want: 1,
			contains: []string{
				"last packet from 198.51.100.20:40000 at 09:30:00.000 (frame 1), no SIP, STUN or keep-alive came from that port for the next 48 s",
				"The new port was first heard from in frame 6 at 09:30:48.000.",
				"because it had dropped the old binding. Between the registration and the refresh the client sent 4 CRLF keep-alives to the registrar (RFC 5626 §3.5.1 pings, here over UDP), one every 12 s (frames 3, 4, 5, 6, the last at 09:30:48.000)",
				"each came from a new public port (198.51.100.20:40010, 198.51.100.20:40011, 198.51.100.20:40012, 198.51.100.20:40001): the NAT had forgotten the binding before every one of them",
				"The NAT's UDP timeout is shorter than 12 s, so keep-alives every 12 s cannot keep its binding",
				"more often than the NAT's UDP timeout, under 12 s here",
			},
			excludes: []string{"while the client was idle", "no SIP or STUN came"},
			frames:   []uint64{1, 2, 3, 4, 5, 6, 10, 11},
		}, title: `"sip:alice@example.org" re-registered from 198.51.100.20:40001 instead of 198.51.100.20:40000; its CRLF keep-alives every 12 s were too far apart`},
		{ruleCase: ruleCase{
			name: "the first from the old port, the rest from new ones", a: with(kaFlow(40000, reg, 3, 12), kaFlow(40010, reg, 4, 24), kaFlow(40011, reg, 5, 36), kaFlow(40001, reg, 6, 48)), want: 1,
			contains: []string{
				"last packet from 198.51.100.20:40000 at 09:30:12.000 (frame 3), no SIP, STUN or keep-alive came from that port for the next 36 s",
				"4 CRLF keep-alives", "one every 12 s",
				"1 from 198.51.100.20:40000 and the others from new public ports (198.51.100.20:40010, 198.51.100.20:40011, 198.51.100.20:40001)",
				"shorter than 12 s",
			},
		}, title: "keep-alives every 12 s were too far apart"},
		{ruleCase: ruleCase{
			name: "keep-alives from the old port that stopped", a: with(kaFlow(40000, reg, steady...)), want: 1,
			contains: []string{
				"last packet from 198.51.100.20:40000 at 09:30:40.000 (frame 120), no SIP, STUN or keep-alive came from that port for the next 10 s",
				"sent 20 CRLF keep-alives to the registrar (RFC 5626 §3.5.1 pings, here over UDP), one every 2 s (frames …, 115, 116, 117, 118, 119, 120, the last at 09:30:40.000), all from 198.51.100.20:40000; then they stopped, and after 10 s without any the NAT had forgotten the binding.",
				"The NAT's UDP timeout is shorter than 10 s: keep-alives must come more often than that.",
			},
			excludes: []string{"too far apart", "cannot keep"},
			frames:   []uint64{1, 2, 10, 11, 115, 116, 117, 118, 119, 120},
		}, title: "after 10 s without a keep-alive"},
		{ruleCase: ruleCase{
			name: "a single keep-alive from a new port", a: with(kaFlow(40001, reg, 6, 30)), want: 1,
			contains: []string{"sent a CRLF keep-alive to the registrar", "(frame 6, the last at 09:30:30.000)", "and each came from a new public port (198.51.100.20:40001)", "shorter than 30 s: keep-alives must come more often"},
			excludes: []string{"one every"},
		}, title: "after 30 s without a keep-alive"},
		{ruleCase: ruleCase{
			name: "a port that carried SIP is another phone's", a: otherPhone, want: 1,
			contains: []string{"3 CRLF keep-alives", "(198.51.100.20:40010, 198.51.100.20:40012, 198.51.100.20:40001)"},
			excludes: []string{"40011"},
		}},
		{ruleCase: ruleCase{
			name: "another phone registers from the address: only the old and new ports count", a: shared, want: 1,
			contains: []string{"sent a CRLF keep-alive to the registrar", "(198.51.100.20:40001)"},
			excludes: []string{"40010", "40012"},
		}},
		{ruleCase: ruleCase{
			name: "keep-alives to another server, or from the registrar, are not the client's to it", a: with(kaFlow(40010, "203.0.113.99:5060", 3, 12), func() *diagnose.SIPKeepAlives {
				k := kaFlow(40000, reg, 4, 24)
				k.Src, k.Dst = k.Dst, k.Src
				return k
			}()), want: 1,
			contains: []string{"no SIP or STUN came from that port for the next 50 s", "while the client was idle"},
			excludes: []string{"keep-alive"},
		}},
		{ruleCase: ruleCase{
			name: "keep-alives after the refresh are not in the story", a: with(kaFlow(40001, reg, 12, 55), kaFlow(40001, reg, 13, 60)), want: 1,
			excludes: []string{"keep-alive"},
		}},
		{ruleCase: ruleCase{
			name: "a thousand ports: the latest 32", a: with(many...), want: 1,
			contains: []string{"sent 32 CRLF keep-alives", "(frames …, 1994, 1995, 1996, 1997, 1998, 1999, the last at 09:30:40.960)", "(198.51.100.20:41968, 198.51.100.20:41969, 198.51.100.20:41970, 198.51.100.20:41971, …)"},
		}},
		{ruleCase: ruleCase{name: "keep-alives on the old port until shortly before", a: with(kaFlow(40000, reg, 3, 12, 4, 24, 5, 36, 6, 47)), want: 0}},
		{ruleCase: ruleCase{
			name: "pings on a TCP connection from the old port number keep no UDP binding", a: with(func() *diagnose.SIPKeepAlives {
				k := kaFlow(40000, reg, 3, 12, 4, 24, 5, 36, 6, 47)
				k.Transport = decode.TCP
				return k
			}()), want: 1,
			contains: []string{"no SIP or STUN came from that port for the next 50 s"},
			excludes: []string{"keep-alive"},
		}},
	}
	for _, c := range cases {
		runRuleCases(t, NATBindingExpired{}, []ruleCase{c.ruleCase})
		if c.title == "" {
			continue
		}
		got := (NATBindingExpired{}).Check(c.a)
		if len(got) == 0 || !strings.Contains(got[0].Title, c.title) {
			t.Errorf("%s: titles of %+v lack %q", c.name, got, c.title)
		}
	}
}
