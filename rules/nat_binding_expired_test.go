package rules

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
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

var (
	natOldPort = netip.MustParseAddrPort("192.0.2.10:40000")
	natNewPort = netip.MustParseAddrPort("192.0.2.10:40001")
	natRelay   = netip.MustParseAddrPort("198.51.100.1:49152")
)

// turnIdle is a TURN client behind a NAT, as in
// turn-nat-binding-expired.pcap: from public port 40000 it allocates (401
// in frames 1/2, success 3/4), binds a channel (5/6) and relays data, the
// last of it frame 8 at 0.2 s; then it is silent, and at 8.3 s its
// Refresh comes from port 40001: 438 for the old 5-tuple's nonce (9/10),
// then 437 (11/12), then one ChannelData (13) the server drops.
func turnIdle() *diagnose.Analysis {
	onOld := func(t *diagnose.Transaction) *diagnose.Transaction {
		t.Client = natOldPort
		return t
	}
	onNew := func(t *diagnose.Transaction) *diagnose.Transaction {
		t.Client = natNewPort
		return t
	}
	challenge := onOld(failed(txn(1, stun.MethodAllocate, 1, 0), 2, 0.001, 401, "n1"))
	allocate := onOld(succeeded(auth(txn(2, stun.MethodAllocate, 3, 0.002), "alice", "example.org", "n1"), 4, 0.003))
	allocate.Relayed, allocate.Mapped, allocate.GrantedLife = natRelay, natOldPort, 600
	bind := onOld(succeeded(auth(txn(3, stun.MethodChannelBind, 5, 0.004), "alice", "example.org", "n1"), 6, 0.005))
	bind.Channel, bind.Peers = 0x4000, []netip.AddrPort{netipAP("198.51.100.20:3480")}
	stale := onNew(failed(auth(txn(4, stun.MethodRefresh, 9, 8.3), "alice", "example.org", "n1"), 10, 8.301, 438, "n2"))
	mismatch := onNew(failed(auth(txn(5, stun.MethodRefresh, 11, 8.302), "alice", "example.org", "n2"), 12, 8.303, 437, ""))
	old := &diagnose.Allocation{
		Client: natOldPort, Server: server, Transport: decode.UDP, Username: "alice", Realm: "example.org",
		Outcome: "allocated", Relayed: natRelay, Mapped: natOldPort, Lifetime: 600,
		Attempts: []*diagnose.Transaction{challenge, allocate}, Requests: []*diagnose.Transaction{bind},
		Permissions: []diagnose.Permission{{Peer: netip.MustParseAddr("198.51.100.20"), Frame: 6}},
		Channels:    []diagnose.ChannelBind{{Number: 0x4000, Peer: netipAP("198.51.100.20:3480"), Frame: 6}},
		Sent:        diagnose.RelayCounter{Packets: 1, Bytes: 8, ChannelData: 1},
		Received:    diagnose.RelayCounter{Packets: 1, Bytes: 8, ChannelData: 1},
		First:       diagnose.FrameRef{Frame: 1, Time: at(0)}, Last: diagnose.FrameRef{Frame: 8, Time: at(0.2)},
		Expires: at(600.003),
	}
	now := &diagnose.Allocation{
		Client: natNewPort, Server: server, Transport: decode.UDP, Username: "alice", Realm: "example.org",
		Outcome: "rejected", Preexisting: true, Requests: []*diagnose.Transaction{stale, mismatch}, Refreshes: 2,
		Sent:  diagnose.RelayCounter{Packets: 1, Bytes: 8, ChannelData: 1},
		First: diagnose.FrameRef{Frame: 9, Time: at(8.3)}, Last: diagnose.FrameRef{Frame: 13, Time: at(8.304)},
	}
	return &diagnose.Analysis{
		Transactions: []*diagnose.Transaction{challenge, allocate, bind, stale, mismatch},
		Allocations:  []*diagnose.Allocation{old, now},
	}
}

// newPortAllocate adds an Allocate from the new port, challenged and then
// granted, sent at sec, to the record of the new 5-tuple as the engine
// does (an Allocate on a 5-tuple whose allocation is not granted is one
// more attempt on it).
func newPortAllocate(a *diagnose.Analysis, frame uint64, sec float64) {
	challenge := failed(txn(byte(frame), stun.MethodAllocate, frame, sec), frame+1, sec+0.001, 401, "n3")
	allocate := succeeded(auth(txn(byte(frame+2), stun.MethodAllocate, frame+2, sec+0.002), "alice", "example.org", "n3"), frame+3, sec+0.003)
	challenge.Client, allocate.Client = natNewPort, natNewPort
	allocate.Relayed = netipAP("198.51.100.1:49153")
	now := a.Allocations[1]
	now.Attempts = append(now.Attempts, challenge, allocate)
	now.Relayed = allocate.Relayed
	a.Transactions = append(a.Transactions, challenge, allocate)
}

func TestNATBindingExpiredTURN(t *testing.T) {
	edit := func(change func(a *diagnose.Analysis, old, now *diagnose.Allocation)) *diagnose.Analysis {
		a := turnIdle()
		change(a, a.Allocations[0], a.Allocations[1])
		return a
	}
	runRuleCases(t, NATBindingExpired{}, []ruleCase{
		{
			name:     "Refresh from a new port after an idle gap, answered 437",
			a:        turnIdle(),
			want:     1,
			severity: diagnose.Error,
			contains: []string{
				`The TURN allocation of user "alice" in realm "example.org" on 192.0.2.10:40000 → 203.0.113.5:3478 (udp), relayed address 198.51.100.1:49152 and lifetime 600 s (Allocate success in frame 4)`,
				"saw its last packet in frame 8 at 09:30:00.200",
				"or came from 192.0.2.10:40000, for the next 8.1 s, nor after",
				"new public port, 192.0.2.10:40001: Refresh (frame 9 at 09:30:08.300) drew 438 Stale Nonce (frame 10), then Refresh (frame 11 at 09:30:08.302) drew 437 Allocation Mismatch (frame 12)",
				"the nonce the client had been given on the old 5-tuple",
				"same credentials and no new Allocate",
				"shorter than 8.1 s",
				"RFC 8656 §6",
				"(its relayed address 198.51.100.1:49152, 1 permission, 1 channel binding)",
				"A ChannelData message from 192.0.2.10:40001 (the last in frame 13) went nowhere",
				"Nothing in the capture shows the client recovering",
				"RFC 8445 §11", "RFC 4787 REQ-5",
			},
			excludes: []string{"first heard from"},
			frames:   []uint64{3, 4, 8, 9, 10, 11, 12, 13},
			filter:   "frame.number in {3, 4, 8, 9, 10, 11, 12, 13}",
		},
		{
			name: "the client allocated anew after the 437: a warning",
			a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
				newPortAllocate(a, 14, 8.4)
			}),
			want:     1,
			severity: diagnose.Warning,
			contains: []string{"The client recovered with a new Allocate from 192.0.2.10:40001 (success in frame 17, relayed address 198.51.100.1:49153)"},
			excludes: []string{"went nowhere", "Nothing in the capture"},
			frames:   []uint64{3, 4, 8, 9, 10, 11, 12, 16, 17},
		},
		{
			name: "the new port was heard from before its first request",
			a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
				a.Bindings = []*diagnose.BindingSummary{{Client: natNewPort, Server: server, Transport: decode.UDP, Requests: 1, Answered: 1,
					First: diagnose.FrameRef{Frame: 9, Time: at(8.25)}, Last: diagnose.FrameRef{Frame: 9, Time: at(8.25)}}}
				for _, t := range now.Requests {
					t.Requests[0].Frame++
					t.Response.Frame++
				}
			}),
			want:     1,
			severity: diagnose.Error,
			contains: []string{"192.0.2.10:40001 (first heard from in frame 9 at 09:30:08.250)", "for the next 8.05 s,"},
		},
		{
			name: "an allocation made before the capture",
			a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
				refresh := succeeded(auth(txn(6, stun.MethodRefresh, 3, 0.002), "alice", "example.org", "n1"), 4, 0.003)
				refresh.Client = natOldPort
				old.Attempts, old.Relayed, old.Preexisting = nil, netip.AddrPort{}, true
				old.Requests = append(old.Requests, refresh)
			}),
			want:     1,
			severity: diagnose.Error,
			contains: []string{`in realm "example.org" on 192.0.2.10:40000 → 203.0.113.5:3478 (udp), lifetime 600 s, saw its last packet`},
			excludes: []string{"Allocate success", "relayed address 198.51.100.1:49152"},
		},
		{
			name: "a CreatePermission answered 437 too: one finding",
			a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
				perm := failed(auth(txn(7, stun.MethodCreatePermission, 14, 8.31), "alice", "example.org", "n2"), 15, 8.311, 437, "")
				perm.Client = natNewPort
				now.Requests = append(now.Requests, perm)
				now.Last = diagnose.FrameRef{Frame: 16, Time: at(8.32)}
				a.Transactions = append(a.Transactions, perm)
			}),
			want:     1,
			severity: diagnose.Error,
			contains: []string{"then CreatePermission (frame 14 at 09:30:08.310) drew 437 Allocation Mismatch (frame 15)", "(the last in frame 16)"},
			frames:   []uint64{3, 4, 8, 9, 10, 11, 12, 14, 15, 16},
		},
		{
			name: "a client that keeps trying: the first requests told, the others counted",
			a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
				for i := range 10 {
					frame, sec := uint64(20+2*i), 9+float64(i)
					retry := failed(auth(txn(byte(20+i), stun.MethodRefresh, frame, sec), "alice", "example.org", "n2"), frame+1, sec+0.001, 437, "")
					retry.Client = natNewPort
					now.Requests = append(now.Requests, retry)
					a.Transactions = append(a.Transactions, retry)
				}
			}),
			want:     1,
			severity: diagnose.Error,
			contains: []string{"then Refresh (frame 24 at 09:30:11.000) drew 437 Allocation Mismatch (frame 25), and 7 more requests from it drew 437 too, the last in frame 39."},
			frames:   []uint64{3, 4, 8, 9, 10, 11, 12, 20, 21, 22, 23, 24, 25, 38, 39},
		},
		{name: "a new Allocate from the new port first: a new socket on purpose", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			newPortAllocate(a, 20, 8.25)
		}), want: 0},
		{name: "no earlier allocation", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			a.Allocations = a.Allocations[1:]
		}), want: 0},
		{name: "another user", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) { old.Username = "bob" }), want: 0},
		{name: "another realm", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) { old.Realm = "other.org" }), want: 0},
		{name: "an unauthenticated request", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			now.Requests[1].Username, now.Requests[1].Realm = "", ""
		}), want: 0},
		{name: "another server", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			old.Server = netipAP("203.0.113.6:3478")
		}), want: 0},
		{name: "another client address", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			old.Client = netipAP("192.0.2.11:40000")
		}), want: 0},
		{name: "no idle gap", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			old.Last = diagnose.FrameRef{Frame: 8, Time: at(4)}
		}), want: 0},
		{name: "data from the peer until shortly before", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			old.Received.Packets += 20
			old.Last = diagnose.FrameRef{Frame: 8, Time: at(7.9)}
		}), want: 0},
		{name: "Binding keepalives on the old port until shortly before", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			a.Bindings = []*diagnose.BindingSummary{{Client: natOldPort, Server: server, Transport: decode.UDP, Requests: 5, Answered: 5,
				First: diagnose.FrameRef{Frame: 7, Time: at(1)}, Last: diagnose.FrameRef{Frame: 8, Time: at(7)}}}
		}), want: 0},
		{name: "the old port heard from after the new one", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			old.Last = diagnose.FrameRef{Frame: 14, Time: at(9)}
		}), want: 0},
		{name: "the old allocation was deleted", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			old.Outcome, old.Deleted, old.Expires = "deleted", diagnose.FrameRef{Frame: 8, Time: at(0.2)}, time.Time{}
		}), want: 0},
		{name: "the old allocation had expired", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			old.Outcome, old.Expires = "expired", at(5)
		}), want: 0},
		{name: "the old allocation was never granted", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			old.Attempts, old.Requests, old.Relayed = old.Attempts[:1], nil, netip.AddrPort{}
		}), want: 0},
		{name: "an Allocate answered 437 is not a lost allocation", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			now.Requests[1].Method = stun.MethodAllocate
		}), want: 0},
		{name: "TURN over TCP", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			for _, t := range a.Transactions {
				t.Transport = decode.TCP
			}
			old.Transport, now.Transport = decode.TCP, decode.TCP
		}), want: 0},
		{name: "nil records", a: edit(func(a *diagnose.Analysis, old, now *diagnose.Allocation) {
			a.Transactions = append(a.Transactions, nil)
			a.Allocations = append(a.Allocations, nil)
			old.Attempts = append(old.Attempts, nil)
			now.Requests = append(now.Requests, nil)
		}), want: 1, severity: diagnose.Error},
	})
}

// turn.request-rejected leaves the 437s nat.binding-expired reports to it,
// and only those.
func TestRequestRejectedLeavesRebindings(t *testing.T) {
	withoutOld := turnIdle()
	withoutOld.Allocations = withoutOld.Allocations[1:]
	bob := turnIdle()
	bob.Allocations[0].Username = "bob"
	forbidden := turnIdle()
	perm := failed(auth(txn(7, stun.MethodCreatePermission, 14, 8.31), "alice", "example.org", "n2"), 15, 8.311, 403, "")
	perm.Client = natNewPort
	forbidden.Transactions = append(forbidden.Transactions, perm)
	runRuleCases(t, RequestRejected{}, []ruleCase{
		{name: "the NAT explains the 437", a: turnIdle(), want: 0},
		{name: "no earlier allocation", a: withoutOld, want: 1, contains: []string{"rejected with 437 Allocation Mismatch"}},
		{name: "another user's allocation", a: bob, want: 1, contains: []string{"rejected with 437 Allocation Mismatch"}},
		{name: "other errors from the new port stay", a: forbidden, want: 1, contains: []string{"rejected with 403 Forbidden"}},
	})
	for _, r := range []diagnose.Rule{NATBindingExpired{}, RequestRejected{}} {
		if n := len(r.Check(turnIdle())) + len(r.Check(withoutOld)); n != 1 {
			t.Errorf("%s: %d findings over both analyses, want 1 (one event, one finding)", r.ID(), n)
		}
	}
}
