package rules

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// natRegister is a REGISTER from the phone's NAT address at public port
// port, announcing the phone's inside socket in its Via, answered 200 one
// frame later; natReg wraps REGISTERs from one port in the Registration
// the correlation makes of them.
func natRegister(port uint16, callID string, cseq uint32, frame uint64, sec float64) *diagnose.SIPTransaction {
	t := sipReq("REGISTER", callID, cseq, frame, sec)
	t.Branch += string(rune('a' + cseq))
	t.Client = netipAP("198.51.100.20:" + strconv.Itoa(int(port)))
	t.ViaSentBy, t.ContactHost, t.Contact = "192.168.1.10:5060", "192.168.1.10:5060", "sip:alice@192.168.1.10:5060"
	t.Expires = 60
	return respond(t, 200, "OK", frame+1, sec+0.05)
}

func natReg(txs ...*diagnose.SIPTransaction) *diagnose.Registration {
	first, last := txs[0], txs[len(txs)-1]
	return &diagnose.Registration{
		AOR: first.ToURI, Contact: first.Contact, Client: first.Client, Registrar: first.Server, Transport: first.Transport,
		Transactions: txs, Outcome: "registered", FinalStatus: 200, Expires: 60,
		First: first.Requests[0], Last: last.Responses[len(last.Responses)-1].FrameRef,
	}
}

func regAnalysis(regs ...*diagnose.Registration) *diagnose.Analysis {
	a := &diagnose.Analysis{Registrations: regs}
	for _, r := range regs {
		a.SIPTransactions = append(a.SIPTransactions, r.Transactions...)
	}
	return a
}

// toPort is a request from the registrar to the phone's public port port,
// sent at the given frames and seconds and never answered.
func toPort(method string, port uint16, frameSecs ...float64) *diagnose.SIPTransaction {
	t := sipReq(method, "in-"+method, 1, uint64(frameSecs[0]), frameSecs[1])
	t.Client, t.Server = registrar, netipAP("198.51.100.20:"+strconv.Itoa(int(port)))
	return again(t, frameSecs[2:]...)
}

func icmpFromNAT(frame uint64, sec float64, port uint16) *diagnose.ICMPEvent {
	return &diagnose.ICMPEvent{
		FrameRef: sipRef(frame, sec), From: phone.Addr(), Description: "port unreachable",
		Flow: [2]netip.AddrPort{registrar, netipAP("198.51.100.20:" + strconv.Itoa(int(port)))}, Transport: decode.UDP,
	}
}

func TestNATBindingExpired(t *testing.T) {
	// The phone registers from public port 40000 and refreshes 50 s later,
	// silent in between, from 40001.
	rebound := func() *diagnose.Analysis {
		return regAnalysis(natReg(natRegister(40000, "reg1", 1, 1, 0)), natReg(natRegister(40001, "reg1", 2, 10, 50)))
	}
	withFailures := rebound()
	invite := toPort("INVITE", 40000, 5, 40, 6, 40.5, 7, 41.5)
	withFailures.SIPTransactions = append(withFailures.SIPTransactions, invite)
	withFailures.ICMPErrors = []*diagnose.ICMPEvent{icmpFromNAT(8, 40.0001, 40000), icmpFromNAT(9, 40.5001, 40000)}

	changed := func(edit func(old, now *diagnose.SIPTransaction)) *diagnose.Analysis {
		a := rebound()
		edit(a.Registrations[0].Transactions[0], a.Registrations[1].Transactions[0])
		return a
	}
	keepalive := rebound()
	keepalive.Bindings = []*diagnose.BindingSummary{{
		Client: netipAP("198.51.100.20:40000"), Server: registrar, Transport: decode.UDP, Requests: 10, Answered: 10,
		First: sipRef(3, 5), Last: sipRef(4, 48),
	}}
	overlap := rebound()
	overlap.Flows = []*diagnose.Flow{{Src: netipAP("198.51.100.20:40000"), Dst: registrar, Transport: decode.UDP, Class: "sip", Packets: 3, First: sipRef(1, 0), Last: sipRef(12, 51)}}
	tcp := rebound()
	for _, r := range tcp.Registrations {
		r.Transport = decode.TCP
		r.Transactions[0].Transport = decode.TCP
	}
	challengedOnly := rebound()
	challengedOnly.Registrations[0].Transactions[0].Responses[0].Status = 401
	otherAddress := changed(func(old, now *diagnose.SIPTransaction) {})
	otherAddress.Registrations[1].Client = netipAP("198.51.100.21:40001")
	otherAddress.Registrations[1].Transactions[0].Client = otherAddress.Registrations[1].Client
	// Two phones registered as alice behind the same NAT, one of them
	// rebinding: the refresh pairs with its own earlier registration.
	twoPhones := regAnalysis(
		natReg(natRegister(40000, "phone1", 1, 1, 0)),
		natReg(func() *diagnose.SIPTransaction {
			t := natRegister(41000, "phone2", 7, 3, 2)
			t.ViaSentBy = "192.168.1.11:5060"
			return t
		}()),
		natReg(natRegister(40002, "phone1", 2, 10, 50)),
	)

	runRuleCases(t, NATBindingExpired{}, []ruleCase{
		{
			name: "refresh from a new port after an idle gap",
			a:    rebound(),
			want: 1,
			contains: []string{
				`The registration of "sip:alice@example.org" with 203.0.113.5:5060 (Call-ID "reg1") was refreshed from a new public port`,
				"announces 192.168.1.10:5060 in its Via",
				"last packet from 198.51.100.20:40000 at 09:30:00.000 (frame 1)",
				"no SIP or STUN came from that port for the next 50 s",
				"refresh (CSeq 2, frame 10 at 09:30:50.000) came from 198.51.100.20:40001",
				"next CSeq (1 before)",
				"shorter than 50 s",
				"asked for Expires 60 and the registrar granted 60 s",
				"pointed at 198.51.100.20:40000",
				"RFC 5626 §3.5.2", "raise the UDP timeout",
			},
			excludes: []string{"unanswered", "ICMP"},
			frames:   []uint64{1, 2, 10, 11},
			filter:   "frame.number in {1, 2, 10, 11}",
		},
		{
			name: "requests to the old port unanswered, ICMP from the NAT",
			a:    withFailures,
			want: 1,
			contains: []string{
				"A request to 198.51.100.20:40000 after the client's last packet there went unanswered (INVITE, 3 sends, first frame 5 at 09:30:40.000, 40 s after that packet)",
				"2 packets to it drew ICMP port unreachable from 198.51.100.20 (frames 8, 9), the first 40 s after",
				"the NAT itself no longer knew the port, so its timeout is at most 40 s",
			},
			frames: []uint64{1, 2, 5, 6, 7, 8, 9, 10, 11},
			filter: "frame.number in {1, 2, 5, 6, 7, 8, 9, 10, 11}",
		},
		{name: "answered requests to the old port are not failures", a: func() *diagnose.Analysis {
			a := rebound()
			a.SIPTransactions = append(a.SIPTransactions, respond(toPort("OPTIONS", 40000, 5, 20), 200, "OK", 6, 20.01))
			return a
		}(), want: 1, excludes: []string{"unanswered"}},
		{name: "a request before the last packet from the old port is not evidence", a: func() *diagnose.Analysis {
			a := rebound()
			a.SIPTransactions = append(a.SIPTransactions, toPort("INVITE", 40000, 0, 0))
			return a
		}(), want: 1, excludes: []string{"unanswered"}},
		{name: "a restarted phone: new Call-ID", a: changed(func(old, now *diagnose.SIPTransaction) { now.CallID = "reg2" }), want: 0},
		{name: "CSeq did not go up", a: changed(func(old, now *diagnose.SIPTransaction) { now.CSeq = 1 }), want: 0},
		{name: "the client changed its own port (Via)", a: changed(func(old, now *diagnose.SIPTransaction) { now.ViaSentBy = "192.168.1.10:5062" }), want: 0},
		{name: "no NAT: Via names the source", a: changed(func(old, now *diagnose.SIPTransaction) {
			old.ViaSentBy, now.ViaSentBy = "198.51.100.20:5060", "198.51.100.20:5060"
		}), want: 0},
		{name: "Via host name proves nothing", a: changed(func(old, now *diagnose.SIPTransaction) {
			old.ViaSentBy, now.ViaSentBy = "phone.example.org", "phone.example.org"
		}), want: 0},
		{name: "no Call-ID", a: changed(func(old, now *diagnose.SIPTransaction) { old.CallID, now.CallID = "", "" }), want: 0},
		{name: "no idle gap", a: regAnalysis(natReg(natRegister(40000, "reg1", 1, 1, 0)), natReg(natRegister(40001, "reg1", 2, 10, 3))), want: 0},
		{name: "keepalives on the old port until shortly before", a: keepalive, want: 0},
		{name: "old port still heard after the new one appeared", a: overlap, want: 0},
		{name: "SIP over TCP reconnects", a: tcp, want: 0},
		{name: "the old registration never got a binding", a: challengedOnly, want: 0},
		{name: "a deregistration is not a binding", a: changed(func(old, now *diagnose.SIPTransaction) { old.Deregister = true }), want: 0},
		{name: "another public address", a: otherAddress, want: 0},
		{
			name: "the refresh pairs with its own registration", a: twoPhones, want: 1,
			contains: []string{`(Call-ID "phone1")`, "from 198.51.100.20:40000 at", "came from 198.51.100.20:40002"},
			frames:   []uint64{1, 2, 10, 11},
		},
		{name: "nil transactions", a: func() *diagnose.Analysis {
			a := rebound()
			for _, r := range a.Registrations {
				r.Transactions = append([]*diagnose.SIPTransaction{nil}, append(r.Transactions, nil)...)
			}
			return a
		}(), want: 0},
		{name: "a single registration", a: regAnalysis(natReg(natRegister(40000, "reg1", 1, 1, 0), natRegister(40000, "reg1", 2, 10, 50))), want: 0},
	})
}
