package rules

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// Analyses built by hand at the engine's caps, in the shapes that make a
// rule's work grow faster than the capture: many records that each look
// something up in a list as long as the capture. BenchmarkRulesAtCaps
// runs one rule on each; linear work takes milliseconds to a second.

// hostAt is a distinct address for each i: 10.x.y.z.
func hostAt(i int, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), port)
}

// publicAt is a distinct public address for each i: 100.128+x.y.z.
func publicAt(i int, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{100, 128 + byte(i>>16), byte(i >> 8), byte(i)}), port)
}

// bindingAt is an answered Binding request from hostAt(i) at frame.
func bindingAt(i int, frame uint64, sec float64) *diagnose.Transaction {
	return &diagnose.Transaction{
		ID: stun.TransactionID{byte(i >> 16), byte(i >> 8), byte(i), 0xb1}, Method: stun.MethodBinding,
		Client: hostAt(i, 50000), Server: publicAt(i, 40000), Transport: decode.UDP,
		Requests: []diagnose.FrameRef{{Frame: frame, Time: at(sec)}}, RequestCount: 1,
		Answered: true, Class: stun.ClassSuccess, Response: diagnose.FrameRef{Frame: frame + 1, Time: at(sec + 0.01)},
		Lifetime: -1, GrantedLife: -1,
	}
}

// iceSessionsAtCap is diagnose.MaxICESessions connected sessions whose
// consent checks went unanswered and which each had conflicts 487 Role
// Conflict answers, among diagnose.MaxTransactions Binding transactions:
// the sessions' own (the lost consent check, the 487s) come last.
func iceSessionsAtCap(conflicts int) *diagnose.Analysis {
	n := diagnose.MaxICESessions
	a := &diagnose.Analysis{}
	filler := diagnose.MaxTransactions - n*(1+conflicts)
	frame := uint64(1)
	for i := range filler {
		a.Transactions = append(a.Transactions, bindingAt(i, frame, float64(i)/1000))
		frame += 2
	}
	for i := range n {
		local, remote := hostAt(i, 50006), publicAt(i, 40000)
		p := &diagnose.CandidatePair{Local: local, Remote: remote, Transport: decode.UDP, Checks: 10, Answered: 8,
			State: "succeeded", Nominated: true, First: ref(frame, 1), Last: ref(frame+1, 2)}
		s := &diagnose.ICESession{LocalUfrag: "l" + strconv.Itoa(i), RemoteUfrag: "r" + strconv.Itoa(i), Pairs: []*diagnose.CandidatePair{p},
			Selected: p, Outcome: "connected", First: p.First, Last: ref(frame+2, 300),
			ConsentChecks: 20, ConsentUnanswered: 3, ConsentLost: ref(frame+2, 250)}
		lost := bindingAt(i, frame+2, 250)
		lost.Client, lost.Server, lost.Answered = local, remote, false
		a.Transactions = append(a.Transactions, lost)
		frame += 4
		for range conflicts {
			t := bindingAt(i, frame, 1)
			t.Client, t.Server, t.Class, t.ErrorCode = local, remote, stun.ClassError, 487
			s.RoleConflicts = append(s.RoleConflicts, t.Response)
			a.Transactions = append(a.Transactions, t)
			frame += 2
		}
		a.ICESessions = append(a.ICESessions, s)
	}
	a.Captures = []capture.FileInfo{capture0(400)}
	return a
}

// failedICEAtCap is diagnose.MaxICESessions failed sessions with 64
// candidates each, and diagnose.MaxAllocations failed allocations: one
// from each session's first host, the others from clients no session
// names.
func failedICEAtCap() *diagnose.Analysis {
	n := diagnose.MaxICESessions
	a := &diagnose.Analysis{}
	for i := range diagnose.MaxAllocations - n {
		c := publicAt(i, 40000)
		a.Allocations = append(a.Allocations, &diagnose.Allocation{Client: c, Server: server, Transport: decode.UDP,
			Outcome: "unanswered", First: ref(uint64(i+1), 0), Last: ref(uint64(i+1), 1)})
	}
	for i := range n {
		local := hostAt(i, 50006)
		p := &diagnose.CandidatePair{Local: local, Remote: publicAt(i, 9), Transport: decode.UDP, Checks: 5,
			State: "unanswered", First: ref(1, 10), Last: ref(2, 20)}
		s := &diagnose.ICESession{LocalUfrag: "l" + strconv.Itoa(i), RemoteUfrag: "r", Pairs: []*diagnose.CandidatePair{p},
			Outcome: "failed", First: p.First, Last: p.Last}
		for j := range diagnose.MaxCandidatesPerSession {
			s.Candidates = append(s.Candidates, diagnose.ICECandidate{Addr: hostAt(n*(j+1)+i, 9), Type: "host", Side: "remote"})
		}
		a.ICESessions = append(a.ICESessions, s)
		t := &diagnose.Transaction{ID: stun.TransactionID{byte(i >> 8), byte(i), 0xa1}, Method: stun.MethodAllocate,
			Client: local, Server: server, Transport: decode.UDP, Requests: []diagnose.FrameRef{ref(uint64(i+1), 5)}, RequestCount: 3}
		a.Allocations = append(a.Allocations, &diagnose.Allocation{Client: local, Server: server, Transport: decode.UDP,
			Outcome: "unanswered", Attempts: []*diagnose.Transaction{t}, First: ref(uint64(i+1), 5), Last: ref(uint64(i+1), 8)})
	}
	return a
}

// sipAt is a request of method from client to server, sent once at frame.
func sipAt(method, callID string, client, server netip.AddrPort, frame uint64, sec float64) *diagnose.SIPTransaction {
	return &diagnose.SIPTransaction{
		Branch: "z9hG4bK" + callID + method, Method: method, CSeq: 1, CallID: callID,
		Client: client, Server: server, Transport: decode.UDP,
		Requests: []diagnose.FrameRef{sipRef(frame, sec)}, RequestCount: 1,
		Final: -1, Expires: -1, FromURI: "sip:sbc@example.org", ToURI: "sip:" + callID,
	}
}

// sipTimeoutsAtCap is an SBC pinging 10,000 phones with OPTIONS that no
// phone answers (sent 4 times each), among diagnose.MaxSIPTransactions
// transactions: the others answered, each on a flow of its own.
func sipTimeoutsAtCap() *diagnose.Analysis {
	const silent = 10_000
	sbc := netip.MustParseAddrPort("203.0.113.5:5060")
	a := &diagnose.Analysis{Captures: []capture.FileInfo{capture0(3600)}}
	frame := uint64(1)
	for i := range diagnose.MaxSIPTransactions - silent {
		t := sipAt("OPTIONS", "ok"+strconv.Itoa(i), sbc, publicAt(i, 5060), frame, float64(i)/100)
		respond(t, 200, "OK", frame+1, float64(i)/100+0.01)
		a.SIPTransactions = append(a.SIPTransactions, t)
		frame += 2
	}
	for i := range silent {
		t := sipAt("OPTIONS", "silent"+strconv.Itoa(i), sbc, hostAt(i, 5060), frame, 100)
		again(t, float64(frame+1), 100.5, float64(frame+2), 101.5, float64(frame+3), 103.5)
		a.SIPTransactions = append(a.SIPTransactions, t)
		frame += 4
	}
	return a
}

// sipAuthFailuresAtCap is 10,000 phones whose REGISTER with credentials
// was refused (each its own address of record), among
// diagnose.MaxSIPTransactions transactions: the others registrations of
// other users that succeeded.
func sipAuthFailuresAtCap() *diagnose.Analysis {
	const refused = 10_000
	a := &diagnose.Analysis{}
	frame := uint64(1)
	for i := range diagnose.MaxSIPTransactions - refused {
		t := sipAt("REGISTER", "reg"+strconv.Itoa(i), publicAt(i, 5060), registrar, frame, float64(i)/100)
		creds(t, "user"+strconv.Itoa(i%50_000), "example.org", "n")
		respond(t, 200, "OK", frame+1, float64(i)/100+0.01)
		a.SIPTransactions = append(a.SIPTransactions, t)
		frame += 2
	}
	for i := range refused {
		t := sipAt("REGISTER", "bad"+strconv.Itoa(i), hostAt(i, 5060), registrar, frame, 2000)
		creds(t, "nobody"+strconv.Itoa(i), "example.org", "n")
		respond(t, 403, "Forbidden", frame+1, 2000.01)
		a.SIPTransactions = append(a.SIPTransactions, t)
		frame += 2
	}
	return a
}

// sipBruteForce is one client trying passwords for one address of record:
// 100,000 REGISTERs with credentials, all refused.
func sipBruteForce() *diagnose.Analysis {
	a := &diagnose.Analysis{}
	for i := range 100_000 {
		t := sipAt("REGISTER", "scan", phone, registrar, uint64(2*i+1), float64(i)/100)
		t.CSeq = uint32(i + 1)
		creds(t, "alice", "example.org", "n"+strconv.Itoa(i))
		challenged(t, 401, uint64(2*i+2), float64(i)/100+0.01, "example.org", "n"+strconv.Itoa(i+1), false)
		a.SIPTransactions = append(a.SIPTransactions, t)
	}
	return a
}

// selfSignedAtCap is diagnose.MaxTLSConnections connections from distinct
// clients to one server showing one self-signed certificate.
func selfSignedAtCap() *diagnose.Analysis {
	crt := selfSigned(cert("CN=edge.example.org", "edge.example.org"))
	a := &diagnose.Analysis{}
	for i := range diagnose.MaxTLSConnections {
		c := tlsConn(uint64(4*i+1), float64(i)/100, "edge.example.org", crt)
		c.Client = hostAt(i, 51000)
		a.TLSConnections = append(a.TLSConnections, c)
	}
	return a
}

// behindOneNAT is a site whose phones sit behind one NAT that does not fix
// their SIP: diagnose.MaxCalls calls from its public address, each with a
// phone's private address in Via and in the SDP c=, on a port of its own.
func behindOneNAT() *diagnose.Analysis {
	a := &diagnose.Analysis{}
	for i := range diagnose.MaxCalls {
		src := netip.AddrPortFrom(netip.MustParseAddr("198.51.100.20"), uint16(1024+i%60000))
		inside := hostAt(i, 5060)
		t := sipAt("INVITE", "call"+strconv.Itoa(i), src, registrar, uint64(4*i+1), float64(i)/10)
		t.ViaSentBy, t.ContactHost = inside.String(), inside.String()
		a.SIPTransactions = append(a.SIPTransactions, t)
		offer := audioSDP(uint64(4*i+1), float64(i)/10, src.String(), inside.Addr().String(), uint16(20000+i%40000), inside.Addr().String())
		a.Calls = append(a.Calls, &diagnose.Call{CallID: t.CallID, Caller: src, Callee: registrar, Transport: decode.UDP,
			Outcome: "unanswered", Invite: t.Requests[0], Offer: offer, SDPs: []*diagnose.SDPSeen{offer},
			Transactions: []*diagnose.SIPTransaction{t}})
	}
	return a
}

// rewrittenByALG is a capture on both sides of a SIP ALG: each of 50,000
// dialogs' INVITE seen from the phone, then rewritten from the NAT's
// public address, and each call's SDP with a private o= and a public c=.
func rewrittenByALG() *diagnose.Analysis {
	const dialogs = 50_000
	inside, outside := netip.MustParseAddrPort("10.0.0.5:5060"), netip.MustParseAddrPort("203.0.113.9:5060")
	a := &diagnose.Analysis{}
	for i := range dialogs {
		id := "dlg" + strconv.Itoa(i)
		before := sipAt("INVITE", id, inside, registrar, uint64(2*i+1), float64(i)/10)
		after := sipAt("INVITE", id, outside, registrar, uint64(2*i+2), float64(i)/10+0.001)
		before.ViaSentBy, after.ViaSentBy = inside.String(), outside.String()
		a.SIPTransactions = append(a.SIPTransactions, before, after)
		if i < diagnose.MaxCalls {
			sd := audioSDP(uint64(2*i+2), float64(i)/10, outside.String(), outside.Addr().String(), 30000, hostAt(i, 0).Addr().String())
			a.Calls = append(a.Calls, &diagnose.Call{CallID: id, Caller: outside, Callee: registrar, Outcome: "unanswered",
				Offer: sd, SDPs: []*diagnose.SDPSeen{sd}})
		}
	}
	return a
}

// unansweredToManyServers is diagnose.MaxTransactions ICE checks, each to
// a candidate of its own that never answered: one finding each, all but
// the first ones folded into summaries.
func unansweredToManyServers() *diagnose.Analysis {
	a := &diagnose.Analysis{Captures: []capture.FileInfo{capture0(1000)}}
	for i := range diagnose.MaxTransactions {
		t := bindingAt(i, uint64(i+1), float64(i)/1000)
		t.Client, t.Answered = client, false
		t.Username = "r:l"
		a.Transactions = append(a.Transactions, t)
	}
	return a
}

// unreachableFlows is 1,000 ICMP errors (diagnose.MaxICMPEvents) from a
// router: half quoting one client-server flow that holds 100,000
// unanswered Allocates, half each quoting a server of its own; with
// diagnose.MaxAllocations allocations of other clients.
func unreachableFlows() *diagnose.Analysis {
	a := &diagnose.Analysis{}
	router := netip.MustParseAddr("192.0.2.254")
	for i := range 100_000 {
		t := txn(0, stun.MethodAllocate, uint64(i+1), float64(i)/1000)
		t.ID = stun.TransactionID{byte(i >> 16), byte(i >> 8), byte(i), 0xc1}
		a.Transactions = append(a.Transactions, t)
	}
	for i := range diagnose.MaxICMPEvents {
		flow := [2]netip.AddrPort{client, server}
		if i%2 == 1 {
			flow[1] = publicAt(i, 3478)
		}
		a.ICMPErrors = append(a.ICMPErrors, &diagnose.ICMPEvent{FrameRef: ref(uint64(200_000+i), 100+float64(i)/100), From: router,
			Description: "host unreachable", Flow: flow, Transport: decode.UDP})
	}
	for i := range diagnose.MaxAllocations {
		a.Allocations = append(a.Allocations, &diagnose.Allocation{Client: hostAt(i, 40000), Server: server, Transport: decode.UDP,
			Outcome: "allocated", First: ref(uint64(i+1), 0)})
	}
	return a
}

// integrityFailuresOnOneTuple is one client socket trying 20,000
// usernames on a TURN server: each Allocate challenged, then refused with
// 401 although it carried MESSAGE-INTEGRITY.
func integrityFailuresOnOneTuple() *diagnose.Analysis {
	a := &diagnose.Analysis{}
	for i := range 20_000 {
		sec := float64(i) / 100
		challenge := failed(txn(0, stun.MethodAllocate, uint64(4*i+1), sec), uint64(4*i+2), sec+0.01, 401, "n"+strconv.Itoa(i))
		challenge.ID = stun.TransactionID{byte(i >> 16), byte(i >> 8), byte(i), 1}
		refused := failed(auth(txn(0, stun.MethodAllocate, uint64(4*i+3), sec+0.02), "user"+strconv.Itoa(i), "example.org", "n"+strconv.Itoa(i)), uint64(4*i+4), sec+0.03, 401, "m"+strconv.Itoa(i))
		refused.ID = stun.TransactionID{byte(i >> 16), byte(i >> 8), byte(i), 2}
		a.Transactions = append(a.Transactions, challenge, refused)
	}
	return a
}

// oneCallManyStreams is an answered call with diagnose.MaxStreams streams
// (a long call whose SSRCs kept changing), half tied through its SDP and
// half only naming it.
func oneCallManyStreams() *diagnose.Analysis {
	offer := audioSDP(1, 0, "192.0.2.10:5060", "192.0.2.10", 6000, "192.0.2.10")
	answer := audioSDP(2, 0.1, "198.51.100.7:5060", "198.51.100.7", 7000, "198.51.100.7")
	c := answeredCall("long@x", offer, answer)
	a := &diagnose.Analysis{Calls: []*diagnose.Call{c}}
	for i := range diagnose.MaxStreams {
		s := rtpStream("192.0.2.10:6000", "198.51.100.7:7000", uint32(i+1), uint64(10+i), float64(i)/10, 100)
		s.Call = c
		if i%2 == 0 {
			c.Streams = append(c.Streams, s)
		}
		a.Streams = append(a.Streams, s)
	}
	return a
}

// manyReInvites is 200 calls of diagnose.MaxCallTransactions transactions
// each: re-INVITEs whose 200 OK was repeated, each acknowledged.
func manyReInvites() *diagnose.Analysis {
	a := &diagnose.Analysis{Captures: []capture.FileInfo{capture0(10_000)}}
	caller, callee := netip.MustParseAddrPort("192.0.2.10:5060"), netip.MustParseAddrPort("198.51.100.7:5060")
	frame := uint64(1)
	for ci := range 200 {
		id := "re" + strconv.Itoa(ci)
		c := &diagnose.Call{CallID: id, Caller: caller, Callee: callee, Transport: decode.UDP, Outcome: "answered"}
		for k := range diagnose.MaxCallTransactions / 2 {
			sec := float64(ci) + float64(k)/1000
			inv := sipAt("INVITE", id, caller, callee, frame, sec)
			inv.CSeq = uint32(k + 1)
			respond(inv, 200, "OK", frame+1, sec+0.0001)
			inv.Responses[0].Retransmissions = 1
			inv.Responses[0].Resent = []diagnose.FrameRef{sipRef(frame+2, sec+0.0002)}
			ack := sipAt("ACK", id, caller, callee, frame+3, sec+0.0003)
			ack.CSeq = inv.CSeq
			c.Transactions = append(c.Transactions, inv, ack)
			a.SIPTransactions = append(a.SIPTransactions, inv, ack)
			frame += 4
		}
		a.Calls = append(a.Calls, c)
	}
	return a
}

// noMediaOnOnePort is 10,000 answered calls without media that announced
// port 16384, as many phones do, in a capture with 10,000 streams on that
// port between other addresses, all before the calls.
func noMediaOnOnePort() *diagnose.Analysis {
	a := &diagnose.Analysis{}
	for i := range 10_000 {
		s := rtpStream(hostAt(i, 16384).String(), publicAt(i, 16384).String(), uint32(i+1), uint64(i+1), float64(i)/1000, 100)
		s.Last = ref(uint64(i+1), float64(i)/1000+1)
		a.Streams = append(a.Streams, s)
	}
	for i := range 10_000 {
		offer := audioSDP(uint64(100_000+i), 100+float64(i), "192.0.2.10:5060", hostAt(1_000_000+i, 0).Addr().String(), 16384, "192.0.2.10")
		c := answeredCall("quiet"+strconv.Itoa(i), offer, nil)
		c.Answered, c.Ended = ref(uint64(100_000+i), 100+float64(i)), ref(uint64(200_000+i), 110+float64(i))
		a.Calls = append(a.Calls, c)
	}
	return a
}

// scaleCase names each benchmark's Analysis and rule.
type scaleCase struct {
	name  string
	a     func() *diagnose.Analysis
	rules []diagnose.Rule
}

// The time each took (2-core VM, 2026-11-21) when each record scanned a
// whole list, and what scanned, then with an index built once per Check.
var scaleCases = []scaleCase{
	// Every Binding transaction (bindingByFrame) and captureEnd per session: 99 s of CPU, now 0.15 s.
	{"ice-consent-lost", func() *diagnose.Analysis { return iceSessionsAtCap(0) }, []diagnose.Rule{ICEConsentLost{}}},
	// Every Binding transaction per 487: over 7 minutes (stopped), now 0.25 s.
	{"ice-role-conflict", func() *diagnose.Analysis { return iceSessionsAtCap(19) }, []diagnose.Rule{ICERoleConflict{}}},
	// The same, one 487 a session: 44 s, now 0.11 s.
	{"ice-role-conflict-1", func() *diagnose.Analysis { return iceSessionsAtCap(1) }, []diagnose.Rule{ICERoleConflict{}}},
	// The 5-tuple's transactions per username (recovered, the challenge): 37 s, now 0.36 s.
	{"turn-integrity-failure-one-tuple", integrityFailuresOnOneTuple, []diagnose.Rule{IntegrityFailure{}}},
	// Every allocation per failed session (failedAllocationFor): 39 s, now 0.2 s.
	{"ice-failed", failedICEAtCap, []diagnose.Rule{ICEFailed{}}},
	// Every SIP transaction per finding (answeredOnSIPFlow): 89 s, now 0.3 s.
	{"sip-transaction-timeout", sipTimeoutsAtCap, []diagnose.Rule{SIPTransactionTimeout{}}},
	// Every SIP transaction per failure (laterSIPSuccess): 80 s, now 0.6 s.
	{"sip-auth-failure", sipAuthFailuresAtCap, []diagnose.Rule{SIPAuthFailure{}}},
	// The failures per transaction of the group (containsTx): 11.8 s, now 0.2 s.
	{"sip-auth-brute-force", sipBruteForce, []diagnose.Rule{SIPAuthFailure{}}},
	// The endpoints cited so far per connection (evidence.addEndpoint): 0.72 s, now 0.045 s.
	{"tls-self-signed", selfSignedAtCap, []diagnose.Rule{TLSSelfSigned{}}},
	// The addresses, media and endpoints listed so far per sighting: 6.1 s, now 0.16 s.
	{"sip-nat-address-mismatch", behindOneNAT, []diagnose.Rule{SIPNATAddressMismatch{}}},
	// The Call-IDs and SDP pairs listed so far per rewrite: 7.9 s, now 0.41 s.
	{"sip-alg-suspected", rewrittenByALG, []diagnose.Rule{SIPALGSuspected{}}},
	// The servers counted so far per folded finding (summarizeFindings): 56 s, now 1.8 s.
	{"binding-unanswered-summaries", unansweredToManyServers, []diagnose.Rule{BindingUnanswered{}}},
	// The flow's transactions per ICMP error, every allocation per finding: 7.2 s, now 0.24 s.
	{"server-unreachable", unreachableFlows, []diagnose.Rule{ServerUnreachable{}}},
	// The call's streams per stream, and a filter grown by += per stream: 9.4 s, now 0.18 s.
	{"media-one-call-many-streams", oneCallManyStreams, []diagnose.Rule{MediaOneWay{}, MediaNoRTP{}}},
	// The call's transactions three times per repeated 2xx (newACKStory): 0.74 s, now 0.13 s.
	{"sip-ack-missing-reinvites", manyReInvites, []diagnose.Rule{SIPACKMissing{}}},
	// Every stream on the announced port per call (otherLeg): 3.0 s, now 0.12 s.
	{"media-no-rtp-shared-port", noMediaOnOnePort, []diagnose.Rule{MediaNoRTP{}}},
}

// BenchmarkRulesAtCaps runs each rule on its worst shape at the caps.
func BenchmarkRulesAtCaps(b *testing.B) {
	for _, sc := range scaleCases {
		b.Run(sc.name, func(b *testing.B) {
			a := sc.a()
			b.ResetTimer()
			n := 0
			for range b.N {
				for _, r := range sc.rules {
					n += len(r.Check(a))
				}
			}
			b.ReportMetric(float64(n)/float64(b.N), "findings/op")
		})
	}
}
