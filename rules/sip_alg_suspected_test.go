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
