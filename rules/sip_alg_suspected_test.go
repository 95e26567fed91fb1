package rules

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func netipAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestSIPALGSuspected(t *testing.T) {
	call := func(origin, conn string) *diagnose.Analysis {
		offer := audioSDP(1, 0, callerSIP, conn, 4000, origin)
		return &diagnose.Analysis{Calls: []*diagnose.Call{answeredCall("c1", offer, nil)}}
	}
	lengthTx := sipReq("INVITE", "c2", 1, 7, 0)
	lengthTx.ContentLengthMismatch = true
	respTx := respond(sipReq("INVITE", "c3", 1, 8, 0), 200, "OK", 9, 1)
	respTx.Responses[0].ContentLengthMismatch = true
	callIDTx := func(callID, via, contact string) *diagnose.Analysis {
		tx := sipReq("INVITE", callID, 1, 5, 0)
		tx.ViaSentBy, tx.ContactHost = via, contact
		return sipAnalysis(tx)
	}
	runRuleCases(t, SIPALGSuspected{}, []ruleCase{
		// The Call-ID is opaque (RFC 3261 §8.1.1.4): a private address in
		// it proves nothing alone (suricata sip_compact_form, heplify erspan).
		{name: "private Call-ID alone is not evidence", a: callIDTx("1-3387@10.0.1.10", "198.51.100.20:5060", "198.51.100.20:5060"), want: 0},
		{
			name: "private Call-ID supports a Content-Length mismatch",
			a: func() *diagnose.Analysis {
				a := callIDTx("1-3387@10.0.1.10", "198.51.100.20:5060", "198.51.100.20:5060")
				a.SIPTransactions[0].ContentLengthMismatch = true
				return a
			}(),
			want:     1,
			contains: []string{"Content-Length that does not match", `In support: the Call-ID "1-3387@10.0.1.10" names the private address 10.0.1.10`},
			frames:   []uint64{5},
			filter:   "frame.number == 5",
		},
		{name: "Call-ID private, Via private too: plain NAT", a: callIDTx("1-3387@10.0.1.10", "10.0.1.10:5060", "198.51.100.20:5060"), want: 0},
		{name: "Call-ID with a host name", a: callIDTx("abc@phone.local", "198.51.100.20:5060", "198.51.100.20:5060"), want: 0},
		{name: "Call-ID public", a: callIDTx("abc@198.51.100.20", "198.51.100.20:5060", "198.51.100.20:5060"), want: 0},
		{name: "consistent private", a: call("192.168.1.10", "192.168.1.10"), want: 0},
		{name: "consistent public", a: call("198.51.100.20", "198.51.100.20"), want: 0},
		{
			name:     "c= rewritten to the source, o= left private",
			a:        call("192.168.1.10", "198.51.100.20"),
			want:     1,
			contains: []string{"o= (origin) 192.168.1.10 but c= (media) 198.51.100.20", "c= was replaced", "SIP ALG"},
			frames:   []uint64{1},
			filter:   `ip.src == 198.51.100.20 && (sdp.owner.address == "192.168.1.10" && sdp.connection_info.address == "198.51.100.20")`,
		},
		{
			name:     "o= rewritten, c= left private",
			a:        call("198.51.100.20", "192.168.1.10"),
			want:     1,
			contains: []string{"o= was replaced", "send media to 192.168.1.10"},
		},
		{name: "c= public but not the source (a media server)", a: call("192.168.1.10", "203.0.113.50"), want: 0},
		{name: "o= a host name", a: call("phone.local", "198.51.100.20"), want: 0},
		{
			name:     "Content-Length mismatch in a request",
			a:        sipAnalysis(lengthTx),
			want:     1,
			contains: []string{"A message (INVITE request) had a Content-Length that does not match"},
			filter:   "frame.number == 7",
		},
		{
			name:     "Content-Length mismatch in a response",
			a:        sipAnalysis(respTx),
			want:     1,
			contains: []string{"(200 response)"},
			filter:   "frame.number == 9",
		},
	})
}

// TestSIPALGSeenOnBothSides: a request captured before and after a
// middlebox (tcpdump -i any on the NAT box, or two taps merged), same
// Call-ID, CSeq and branch, from two addresses.
func TestSIPALGSeenOnBothSides(t *testing.T) {
	inside, outside := netipAP("10.0.1.10:5060"), netipAP("203.0.113.1:5060")
	copyOf := func(from netip.AddrPort, frame uint64, sec float64, via, contact string) *diagnose.SIPTransaction {
		tx := sipReq("INVITE", "1-29266@10.0.1.10", 1, frame, sec)
		tx.Client, tx.ViaSentBy, tx.ContactHost = from, via, contact
		return tx
	}
	rewritten := func() (*diagnose.SIPTransaction, *diagnose.SIPTransaction) {
		return copyOf(inside, 1, 0, "10.0.1.10:5060", "10.0.1.10:5060"),
			copyOf(outside, 2, 0.0001, "203.0.113.1:5060", "203.0.113.1:5060")
	}
	withSDP := func(before, after *diagnose.SIPTransaction, beforeConn, afterConn string, afterPort uint16) *diagnose.Analysis {
		a := sipAnalysis(before, after)
		c := answeredCall(before.CallID, audioSDP(1, 0, "10.0.1.10:5060", beforeConn, 6000, beforeConn), nil)
		c.SDPs = append(c.SDPs, audioSDP(2, 0.0001, "203.0.113.1:5060", afterConn, afterPort, afterConn))
		a.Calls = []*diagnose.Call{c}
		return a
	}
	runRuleCases(t, SIPALGSuspected{}, []ruleCase{
		{
			name: "Via and Contact rewritten, branch kept",
			a:    sipAnalysis(rewritten()),
			want: 1,
			contains: []string{
				"sent from 10.0.1.10:5060 at frame 1 and from 203.0.113.1:5060 at frame 2, 0.1 ms later",
				"Via sent-by 10.0.1.10:5060 → 203.0.113.1:5060, Contact 10.0.1.10:5060 → 203.0.113.1:5060.",
			},
			excludes: []string{"SDP"},
			frames:   []uint64{1, 2},
			filter:   `sip.Call-ID == "1-29266@10.0.1.10" && sip.Method && (ip.src == 10.0.1.10 || ip.src == 203.0.113.1)`,
		},
		{
			name:     "SDP addresses and port rewritten too",
			a:        func() *diagnose.Analysis { b, a := rewritten(); return withSDP(b, a, "10.0.1.10", "203.0.113.1", 7000) }(),
			want:     1,
			contains: []string{"SDP o= 10.0.1.10 → 203.0.113.1, SDP c= 10.0.1.10 → 203.0.113.1, SDP m=audio port 6000 → 7000"},
		},
		{
			name: "only the SDP rewritten",
			a: func() *diagnose.Analysis {
				b := copyOf(inside, 1, 0, "198.51.100.20:5060", "198.51.100.20:5060")
				a := copyOf(outside, 2, 0.0001, "198.51.100.20:5060", "198.51.100.20:5060")
				return withSDP(b, a, "10.0.1.10", "203.0.113.1", 6000)
			}(),
			want:     1,
			contains: []string{"with SDP o= 10.0.1.10 → 203.0.113.1, SDP c= 10.0.1.10 → 203.0.113.1."},
		},
		{
			name: "forwarded untouched by a plain NAT",
			a: sipAnalysis(copyOf(inside, 1, 0, "10.0.1.10:5060", "10.0.1.10:5060"),
				copyOf(outside, 2, 0.0001, "10.0.1.10:5060", "10.0.1.10:5060")),
			want: 0,
		},
		{
			name: "a proxy's copy has a branch of its own",
			a: func() *diagnose.Analysis {
				b, a := rewritten()
				a.Branch = "z9hG4bK-proxy-1"
				return sipAnalysis(b, a)
			}(),
			want: 0,
		},
		{
			name: "a branch without the RFC 3261 cookie may collide",
			a: func() *diagnose.Analysis {
				b, a := rewritten()
				b.Branch, a.Branch = "1", "1"
				return sipAnalysis(b, a)
			}(),
			want: 0,
		},
		{
			name: "copies too far apart",
			a: func() *diagnose.Analysis {
				b, a := rewritten()
				a.Requests[0] = sipRef(2, 5)
				return sipAnalysis(b, a)
			}(),
			want: 0,
		},
		{
			name: "a retransmission from the same address",
			a: func() *diagnose.Analysis {
				b, a := rewritten()
				a.Client = inside
				return sipAnalysis(b, a)
			}(),
			want: 0,
		},
		{
			name: "two dialogs, three requests",
			a: func() *diagnose.Analysis {
				b1, a1 := rewritten()
				b2 := copyOf(inside, 9, 0.5, "10.0.1.10:5060", "10.0.1.10:5060")
				a2 := copyOf(outside, 10, 0.5001, "203.0.113.1:5060", "203.0.113.1:5060")
				b2.Method, a2.Method = "ACK", "ACK"
				b3, a3 := rewritten()
				b3.CallID, a3.CallID = "other@10.0.1.10", "other@10.0.1.10"
				b3.Requests[0], a3.Requests[0] = sipRef(20, 1), sipRef(21, 1.0001)
				return sipAnalysis(b1, a1, b2, a2, b3, a3)
			}(),
			want:     1,
			contains: []string{"3 requests in all were rewritten this way (INVITE, ACK), in 2 dialogs."},
			frames:   []uint64{1, 2, 9, 10, 20, 21},
			filter:   `sip.Call-ID in {"1-29266@10.0.1.10" "other@10.0.1.10"} && sip.Method && (ip.src == 10.0.1.10 || ip.src == 203.0.113.1)`,
		},
	})
}
