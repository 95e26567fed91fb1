package rules

import (
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestSIPNATAddressMismatch(t *testing.T) {
	natted := func(via, contact string) *diagnose.SIPTransaction {
		tx := sipReq("REGISTER", "r1", 1, 1, 0)
		tx.ViaSentBy, tx.ContactHost = via, contact
		return tx
	}
	natCall := func(conn string, from string) *diagnose.Analysis {
		offer := audioSDP(1, 0, from, conn, 4000, conn)
		answer := audioSDP(3, 1, calleeSIP, "203.0.113.7", 30000, "203.0.113.7")
		return &diagnose.Analysis{Calls: []*diagnose.Call{answeredCall("c1", offer, answer)}}
	}
	both := natCall("192.168.1.10", callerSIP)
	both.SIPTransactions = []*diagnose.SIPTransaction{natted("192.168.1.10:5060", "192.168.1.10:5060")}
	runRuleCases(t, SIPNATAddressMismatch{}, []ruleCase{
		{name: "addresses match", a: sipAnalysis(natted("198.51.100.20:5060", "198.51.100.20")), want: 0},
		{name: "host names are not compared", a: sipAnalysis(natted("phone.example.org", "phone.example.org")), want: 0},
		{
			name: "private Via and Contact from a public address",
			a:    sipAnalysis(natted("192.168.1.10:5060", "192.168.1.10:5060")),
			want: 1,
			contains: []string{"SIP from 198.51.100.20 announces 192.168.1.10 in the Via of 1 message, in the Contact of 1 message (REGISTER)",
				"behind NAT and nothing on the path rewrote", "rport (RFC 3581)", "RFC 5626"},
			frames: []uint64{1},
			filter: `ip.src == 198.51.100.20 && sip && (sip.Via.sent-by.address == "192.168.1.10" || sip.contact.host == "192.168.1.10")`,
		},
		// heplify sip_tcp_websocket: a host behind 1:1 NAT configured with
		// its external address announces it from its private source.
		{name: "public Via from a private source is a configured NAT", a: sipAnalysis(func() *diagnose.SIPTransaction {
			tx := natted("198.51.100.99:5060", "198.51.100.99:5060")
			tx.Client = netipAP("10.0.0.5:5060")
			return tx
		}()), want: 0},
		{name: "a public Contact of another host is a proxy's business", a: sipAnalysis(natted("198.51.100.20", "203.0.113.99")), want: 0},
		{name: "captured inside the NAT", a: sipAnalysis(func() *diagnose.SIPTransaction {
			tx := natted("192.168.1.10", "192.168.1.10")
			tx.Client = netipAP("192.168.1.10:5060")
			return tx
		}()), want: 0},
		{
			name:     "SDP c= private",
			a:        natCall("10.1.2.3", callerSIP),
			want:     1,
			contains: []string{"announces 10.1.2.3 in the SDP c= of 1 SDP body", "media (audio to 10.1.2.3:4000)", "symmetric RTP"},
			filter:   `ip.src == 198.51.100.20 && sip && (sdp.connection_info.address == "10.1.2.3")`,
		},
		{name: "CGNAT addresses are private too", a: natCall("100.64.3.4", callerSIP), want: 1},
		{name: "SDP public c= of a media server", a: natCall("203.0.113.50", callerSIP), want: 0},
		{name: "one finding per source", a: both, want: 1, contains: []string{"Via of 1 message", "SDP c= of 1 SDP body"}},
	})
}
