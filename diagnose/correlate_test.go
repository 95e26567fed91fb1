package diagnose

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

// TestAllocationLifecycle follows one allocation from its challenge to its
// deletion (RFC 8656 §7-§12).
func TestAllocationLifecycle(t *testing.T) {
	A, R, CP, CB := stun.MethodAllocate, stun.MethodRefresh, stun.MethodCreatePermission, stun.MethodChannelBind
	events := []simEvent{
		fromClient(0, simRequest(A, 1)),                                                                                    // 1
		fromServer(0.010, simFailure(A, 1, 401, withChallenge("example.org", "n1"))),                                       // 2
		fromClient(0.020, simRequest(A, 2, withAuth("alice", "example.org", "n1"))),                                        // 3
		fromServer(0.050, simSuccess(A, 2, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),                   // 4
		fromClient(1, simRequest(CP, 3, withAuth("alice", "example.org", "n1"), withPeers(simPeer1a, simPeer1b))),          // 5
		fromServer(1.01, simSuccess(CP, 3)),                                                                                // 6
		fromClient(2, simRequest(CB, 4, withAuth("alice", "example.org", "n1"), withPeers(simPeer3), withChannel(0x4000))), // 7
		fromServer(2.01, simSuccess(CB, 4)),                                                                                // 8
		simChannelData(3, simClientAddr, simServerAddr, 0x4000, 100),                                                       // 9
		simChannelData(3.1, simServerAddr, simClientAddr, 0x4000, 160),                                                     // 10
		fromClient(4, simIndication(t, stun.MethodSend, 33)),                                                               // 11
		fromServer(4.1, simIndication(t, stun.MethodData, 17)),                                                             // 12
		fromClient(5, simRequest(CP, 5, withAuth("alice", "example.org", "n1"), withPeers(simPeer2))),                      // 13
		fromServer(5.01, simSuccess(CP, 5)),                                                                                // 14
		fromClient(300, simRequest(R, 6, withAuth("alice", "example.org", "n1"), withLifetime(600))),                       // 15
		fromServer(300.01, simSuccess(R, 6, withLifetime(600))),                                                            // 16
		fromClient(400, simRequest(R, 7, withAuth("alice", "example.org", "n1"), withLifetime(0))),                         // 17
		fromServer(400.02, simSuccess(R, 7, withLifetime(0))),                                                              // 18
	}
	a := simulate(t, NewEngine(Options{}), events, 500)

	if len(a.Allocations) != 1 {
		t.Fatalf("got %d allocations, want 1", len(a.Allocations))
	}
	al := a.Allocations[0]
	if al.Outcome != "deleted" {
		t.Errorf("Outcome = %q, want deleted", al.Outcome)
	}
	if al.Client != simClientAddr || al.Server != simServerAddr || al.Transport != decode.UDP {
		t.Errorf("5-tuple = %v %v %v", al.Client, al.Server, al.Transport)
	}
	if al.Username != "alice" || al.Realm != "example.org" {
		t.Errorf("credentials = %q %q, want alice example.org", al.Username, al.Realm)
	}
	if al.Relayed != simRelayAddr || al.Mapped != simMappedAddr || al.Lifetime != 600 {
		t.Errorf("relayed %v mapped %v lifetime %d", al.Relayed, al.Mapped, al.Lifetime)
	}
	if len(al.Attempts) != 2 || al.Attempts[0].ErrorCode != 401 || al.Attempts[1].Class != stun.ClassSuccess {
		t.Errorf("attempts = %+v", al.Attempts)
	}
	var reqMethods []stun.Method
	for _, tx := range al.Requests {
		reqMethods = append(reqMethods, tx.Method)
	}
	if want := []stun.Method{CP, CB, CP, R, R}; !slices.Equal(reqMethods, want) {
		t.Errorf("requests = %v, want %v", reqMethods, want)
	}
	if al.Refreshes != 2 {
		t.Errorf("Refreshes = %d, want 2", al.Refreshes)
	}
	wantPerms := []Permission{
		{Peer: simPeer1a.Addr(), Frame: 6}, // one per IP: simPeer1b shares it (RFC 8656 §9)
		{Peer: simPeer3.Addr(), Frame: 8},  // from the ChannelBind
		{Peer: simPeer2.Addr(), Frame: 14},
	}
	if !slices.Equal(al.Permissions, wantPerms) {
		t.Errorf("permissions = %v, want %v", al.Permissions, wantPerms)
	}
	if want := []ChannelBind{{Number: 0x4000, Peer: simPeer3, Frame: 8}}; !slices.Equal(al.Channels, want) {
		t.Errorf("channels = %v, want %v", al.Channels, want)
	}
	if want := (RelayCounter{Packets: 2, Bytes: 133, ChannelData: 1}); al.Sent != want {
		t.Errorf("Sent = %+v, want %+v", al.Sent, want)
	}
	if want := (RelayCounter{Packets: 2, Bytes: 177, ChannelData: 1}); al.Received != want {
		t.Errorf("Received = %+v, want %+v", al.Received, want)
	}
	if al.First.Frame != 1 || al.Last.Frame != 18 || al.Deleted.Frame != 18 {
		t.Errorf("first %d last %d deleted %d, want 1 18 18", al.First.Frame, al.Last.Frame, al.Deleted.Frame)
	}

	if len(a.Transactions) != 7 {
		t.Fatalf("got %d transactions, want 7", len(a.Transactions))
	}
	for i, tx := range a.Transactions {
		if tx.ID[0] != byte(i+1) {
			t.Errorf("transaction %d has ID %x: not in order of appearance", i, tx.ID)
		}
		if !tx.Answered {
			t.Errorf("transaction %d unanswered", i)
		}
	}
	tx := a.Transactions[1]
	if tx.Username != "alice" || tx.Realm != "example.org" || tx.Nonce != "n1" || !tx.HasIntegrity {
		t.Errorf("request fields not kept intact: %q %q %q %v", tx.Username, tx.Realm, tx.Nonce, tx.HasIntegrity)
	}
	if tx.RTT != 30*time.Millisecond || tx.Lifetime != -1 || tx.GrantedLife != 600 {
		t.Errorf("RTT %v lifetime %d granted %d", tx.RTT, tx.Lifetime, tx.GrantedLife)
	}
	if ch := a.Transactions[0]; ch.ResponseNonce != "n1" || ch.ErrorReason != "reason" {
		t.Errorf("challenge nonce %q reason %q", ch.ResponseNonce, ch.ErrorReason)
	}
	if p := a.Transactions[2].Peers; !slices.Equal(p, []netip.AddrPort{simPeer1a, simPeer1b}) {
		t.Errorf("peers = %v: not copied", p)
	}
	if a.OrphanResponses != 0 || a.UnmatchedChannelData != 0 {
		t.Errorf("orphans %d unmatched %d", a.OrphanResponses, a.UnmatchedChannelData)
	}
}

// TestAllocationOutcomes checks Outcome for the ways an allocation ends.
func TestAllocationOutcomes(t *testing.T) {
	A, R := stun.MethodAllocate, stun.MethodRefresh
	cred := withAuth("alice", "example.org", "n1")
	tests := []struct {
		name     string
		events   []simEvent
		end      float64
		outcome  string
		attempts []int // error code per attempt, 0 success, -1 unanswered
	}{
		{
			name: "wrong password: 401 twice with the same nonce",
			events: []simEvent{
				fromClient(0, simRequest(A, 1)),
				fromServer(0.01, simFailure(A, 1, 401, withChallenge("example.org", "n1"))),
				fromClient(0.02, simRequest(A, 2, cred)),
				fromServer(0.03, simFailure(A, 2, 401, withChallenge("example.org", "n1"))),
			},
			end: 10, outcome: "rejected", attempts: []int{401, 401},
		},
		{
			name: "431 integrity check failure",
			events: []simEvent{
				fromClient(0, simRequest(A, 1)),
				fromServer(0.01, simFailure(A, 1, 401, withChallenge("example.org", "n1"))),
				fromClient(0.02, simRequest(A, 2, cred)),
				fromServer(0.03, simFailure(A, 2, 431)),
			},
			end: 10, outcome: "rejected", attempts: []int{401, 431},
		},
		{
			name: "438 stale nonce loop",
			events: []simEvent{
				fromClient(0, simRequest(A, 1)),
				fromServer(0.01, simFailure(A, 1, 401, withChallenge("example.org", "n1"))),
				fromClient(0.02, simRequest(A, 2, cred)),
				fromServer(0.03, simFailure(A, 2, 438, withChallenge("example.org", "n2"))),
				fromClient(0.04, simRequest(A, 3, withAuth("alice", "example.org", "n2"))),
				fromServer(0.05, simFailure(A, 3, 438, withChallenge("example.org", "n3"))),
				fromClient(0.06, simRequest(A, 4, withAuth("alice", "example.org", "n3"))),
				fromServer(0.07, simFailure(A, 4, 438, withChallenge("example.org", "n4"))),
			},
			end: 10, outcome: "rejected", attempts: []int{401, 438, 438, 438},
		},
		{
			name: "challenged and never retried",
			events: []simEvent{
				fromClient(0, simRequest(A, 1)),
				fromServer(0.01, simFailure(A, 1, 401, withChallenge("example.org", "n1"))),
			},
			end: 10, outcome: "challenged", attempts: []int{401},
		},
		{
			name: "authenticated attempt unanswered after the challenge",
			events: []simEvent{
				fromClient(0, simRequest(A, 1)),
				fromServer(0.01, simFailure(A, 1, 401, withChallenge("example.org", "n1"))),
				fromClient(0.02, simRequest(A, 2, cred)),
			},
			end: 10, outcome: "unanswered", attempts: []int{401, -1},
		},
		{
			name: "allocated and still alive at the end",
			events: []simEvent{
				fromClient(0, simRequest(A, 1, cred)),
				fromServer(0.01, simSuccess(A, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
			},
			end: 599, outcome: "allocated", attempts: []int{0},
		},
		{
			name: "expired without refresh",
			events: []simEvent{
				fromClient(0, simRequest(A, 1, cred)),
				fromServer(0.01, simSuccess(A, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
			},
			end: 700, outcome: "expired", attempts: []int{0},
		},
		{
			name: "refreshed in time",
			events: []simEvent{
				fromClient(0, simRequest(A, 1, cred)),
				fromServer(0.01, simSuccess(A, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
				fromClient(500, simRequest(R, 2, cred, withLifetime(600))),
				fromServer(500.01, simSuccess(R, 2, withLifetime(600))),
			},
			end: 700, outcome: "allocated", attempts: []int{0},
		},
		{
			name: "deletion refused keeps the allocation",
			events: []simEvent{
				fromClient(0, simRequest(A, 1, cred)),
				fromServer(0.01, simSuccess(A, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
				fromClient(5, simRequest(R, 2, cred, withLifetime(0))),
				fromServer(5.01, simFailure(R, 2, 437)),
			},
			end: 10, outcome: "allocated", attempts: []int{0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := simulate(t, NewEngine(Options{}), tt.events, tt.end)
			if len(a.Allocations) != 1 {
				t.Fatalf("got %d allocations, want 1", len(a.Allocations))
			}
			al := a.Allocations[0]
			if al.Outcome != tt.outcome {
				t.Errorf("Outcome = %q, want %q", al.Outcome, tt.outcome)
			}
			var got []int
			for _, tx := range al.Attempts {
				switch {
				case !tx.Answered:
					got = append(got, -1)
				default:
					got = append(got, tx.ErrorCode)
				}
			}
			if !slices.Equal(got, tt.attempts) {
				t.Errorf("attempts = %v, want %v", got, tt.attempts)
			}
		})
	}
}

// TestUnansweredAllocateRetransmissions: RFC 8489 §6.2.1 retransmits with
// the same transaction ID; they are one transaction.
func TestUnansweredAllocateRetransmissions(t *testing.T) {
	var events []simEvent
	for _, s := range []float64{0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5} {
		events = append(events, fromClient(s, simRequest(stun.MethodAllocate, 1)))
	}
	a := simulate(t, NewEngine(Options{}), events, 40)
	if len(a.Transactions) != 1 {
		t.Fatalf("got %d transactions, want 1", len(a.Transactions))
	}
	tx := a.Transactions[0]
	if tx.Answered || tx.RequestCount != 7 {
		t.Errorf("Answered %v RequestCount %d, want false 7", tx.Answered, tx.RequestCount)
	}
	if got := frameNumbers(tx.Requests); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("request frames = %v", got)
	}
	if len(a.Allocations) != 1 || a.Allocations[0].Outcome != "unanswered" {
		t.Errorf("allocations = %+v, want one unanswered", a.Allocations)
	}
}

// TestRetransmissionCapAndLateAnswer: retransmitted requests beyond
// MaxFramesPerFinding are counted, not listed, and a second answer does not
// replace the first.
func TestRetransmissionCapAndLateAnswer(t *testing.T) {
	var events []simEvent
	for i := range MaxFramesPerFinding + 5 {
		events = append(events, fromClient(float64(i)*0.1, simRequest(stun.MethodRefresh, 9)))
	}
	events = append(events,
		fromServer(10, simFailure(stun.MethodRefresh, 9, 438)),
		fromServer(10.5, simSuccess(stun.MethodRefresh, 9)))
	a := simulate(t, NewEngine(Options{}), events, 20)
	tx := a.Transactions[0]
	if tx.RequestCount != MaxFramesPerFinding+5 || len(tx.Requests) != MaxFramesPerFinding {
		t.Errorf("RequestCount %d, %d frames", tx.RequestCount, len(tx.Requests))
	}
	if tx.Class != stun.ClassError || tx.ErrorCode != 438 || tx.Responses != 2 {
		t.Errorf("class %v code %d responses %d: the first answer must stand", tx.Class, tx.ErrorCode, tx.Responses)
	}
	if tx.RTT != 10*time.Second {
		t.Errorf("RTT = %v, want 10s from the first request", tx.RTT)
	}
}

// TestResponseFromOtherAddress: RFC 5780 servers answer from another
// address; the response is matched by ID and the client it goes to, or by
// the ID alone when only one client has it open (an asymmetric capture,
// as nDPI's stun_dtls_rtp_unidir.pcapng).
func TestResponseFromOtherAddress(t *testing.T) {
	B := stun.MethodBinding
	elsewhere := netip.MustParseAddrPort("192.0.2.99:50000")
	events := []simEvent{
		fromClient(0, simRequest(B, 1)),
		{at: 0.02, src: simOtherAddr, dst: simClientAddr, kind: decode.KindSTUN, stun: simSuccess(B, 1, withRelayed(netip.AddrPort{}, simMappedAddr))},
		fromClient(1, simRequest(B, 2)),
		// Same ID, other transport: not this transaction's answer.
		{at: 1.01, src: simServerAddr, dst: simClientAddr, transport: decode.TCP, kind: decode.KindSTUN, stun: simSuccess(B, 2)},
		// Same ID, seen going to another address: the only open
		// transaction with that ID, so its answer.
		{at: 1.02, src: simServerAddr, dst: elsewhere, kind: decode.KindSTUN, stun: simSuccess(B, 2)},
		fromClient(2, simRequest(B, 3)),
		{at: 2.005, src: elsewhere, dst: simServerAddr, kind: decode.KindSTUN, stun: simRequest(B, 3)},
		// ID 3 is open for two clients: only the address decides.
		{at: 2.01, src: simServerAddr, dst: netip.MustParseAddrPort("192.0.2.98:50000"), kind: decode.KindSTUN, stun: simSuccess(B, 3)},
	}
	a := simulate(t, NewEngine(Options{}), events, 2)
	if len(a.Transactions) != 4 {
		t.Fatalf("got %d transactions, want 4", len(a.Transactions))
	}
	tx := a.Transactions[0]
	if !tx.Answered || tx.ResponseFrom != simOtherAddr || tx.Server != simServerAddr || tx.Mapped != simMappedAddr {
		t.Errorf("answered %v from %v server %v mapped %v", tx.Answered, tx.ResponseFrom, tx.Server, tx.Mapped)
	}
	if tx := a.Transactions[1]; !tx.Answered || tx.Response.Frame != 5 {
		t.Errorf("transaction 2: answered %v by frame %d, want frame 5 (unique ID)", tx.Answered, tx.Response.Frame)
	}
	if a.Transactions[2].Answered || a.Transactions[3].Answered {
		t.Error("an ID open for two clients was matched by ID alone")
	}
	if a.OrphanResponses != 2 || !slices.Equal(a.OrphanResponseFrames, []uint64{4, 8}) {
		t.Errorf("orphans %d frames %v, want 2 [4 8]", a.OrphanResponses, a.OrphanResponseFrames)
	}
}

// stunHeader is the first 20 bytes of a request, as an ICMP error quotes it.
func quotedSTUNHeader(method stun.Method, id byte) []byte {
	h := []byte{0, byte(method), 0, 8, 0x21, 0x12, 0xa4, 0x42}
	var tid [12]byte
	tid[0], tid[11] = id, id
	return append(h, tid[:]...)
}

func TestICMPErrors(t *testing.T) {
	A := stun.MethodAllocate
	router := netip.MustParseAddrPort("198.51.100.1:0")
	unreachable := func(sec float64, src, dst netip.AddrPort, payload []byte) simEvent {
		return simEvent{at: sec, src: router, dst: src, kind: decode.KindICMPError, icmp: decode.ICMPError{
			Type: 3, Code: 3, Unreachable: true, Description: "port unreachable",
			QuotedSrc: src, QuotedDst: dst, QuotedTransport: decode.UDP, QuotedPayload: payload,
		}}
	}
	stranger := netip.MustParseAddrPort("192.0.2.50:4000")
	events := []simEvent{
		fromClient(0, simRequest(A, 1)),
		fromClient(0.1, simRequest(A, 2)),                                      // the latest request on the flow
		unreachable(0.2, simClientAddr, simServerAddr, quotedSTUNHeader(A, 1)), // 3: by ID, not the latest
		unreachable(0.3, simClientAddr, simServerAddr, nil),                    // 4: the latest unanswered
		unreachable(0.4, stranger, simServerAddr, quotedSTUNHeader(A, 1)),      // 5: another client's flow
		fromClient(0.5, simRequest(A, 1)),
	}
	a := simulate(t, NewEngine(Options{}), events, 1)
	if a.ICMPErrorCount != 3 || len(a.ICMPErrors) != 3 {
		t.Fatalf("ICMP count %d listed %d, want 3 3", a.ICMPErrorCount, len(a.ICMPErrors))
	}
	tx1, tx2 := a.Transactions[0], a.Transactions[1]
	ev := a.ICMPErrors[0]
	if ev.Transaction != tx1 || tx1.ICMP != ev {
		t.Errorf("ICMP with the quoted header not tied to its transaction by ID")
	}
	if ev.Description != "port unreachable" || ev.From != router.Addr() || ev.Flow != [2]netip.AddrPort{simClientAddr, simServerAddr} {
		t.Errorf("simEvent = %+v", ev)
	}
	if ev.Allocation == nil || ev.Allocation != a.Allocations[0] {
		t.Errorf("ICMP not tied to the allocation")
	}
	if a.ICMPErrors[1].Transaction != tx2 || tx2.ICMP != a.ICMPErrors[1] {
		t.Errorf("ICMP without a header not tied to the latest unanswered request")
	}
	if a.ICMPErrors[2].Transaction != nil || a.ICMPErrors[2].Allocation != nil {
		t.Errorf("ICMP for another flow tied to %+v", a.ICMPErrors[2].Transaction)
	}
	if tx1.RequestCount != 2 {
		t.Errorf("retransmission after ICMP: RequestCount = %d, want 2", tx1.RequestCount)
	}
}

func TestICMPEventCap(t *testing.T) {
	e := NewEngine(Options{})
	e.maxICMP = 2
	var events []simEvent
	for i := range 5 {
		events = append(events, simEvent{at: float64(i), src: simServerAddr, dst: simClientAddr, kind: decode.KindICMPError,
			icmp: decode.ICMPError{QuotedSrc: simClientAddr, QuotedDst: simServerAddr, QuotedTransport: decode.UDP}})
	}
	a := simulate(t, e, events, 5)
	if a.ICMPErrorCount != 5 || len(a.ICMPErrors) != 2 {
		t.Errorf("count %d listed %d, want 5 2", a.ICMPErrorCount, len(a.ICMPErrors))
	}
}

// TestPreexistingAllocation: a capture that starts after the Allocate.
func TestPreexistingAllocation(t *testing.T) {
	R, CP := stun.MethodRefresh, stun.MethodCreatePermission
	cred := withAuth("bob", "example.org", "n9")
	tests := []struct {
		name    string
		events  []simEvent
		outcome string
		user    string
	}{
		{"refreshed", []simEvent{
			fromClient(0, simRequest(R, 1, cred, withLifetime(600))),
			fromServer(0.01, simSuccess(R, 1, withLifetime(600))),
			simChannelData(1, simClientAddr, simServerAddr, 0x4001, 40),
		}, "allocated", "bob"},
		{"permission refused", []simEvent{
			fromClient(0, simRequest(CP, 1, cred, withPeers(simPeer1a))),
			fromServer(0.01, simFailure(CP, 1, 437)),
		}, "rejected", "bob"},
		{"refresh unanswered", []simEvent{
			fromClient(0, simRequest(R, 1, cred, withLifetime(600))),
		}, "unanswered", "bob"},
		// The capture missed the request but the server's answer proves
		// the allocation, and the ChannelData that follows belongs to it.
		{"orphan ChannelBind success", []simEvent{
			fromServer(0, simSuccess(stun.MethodChannelBind, 1)),
			simChannelData(1, simServerAddr, simClientAddr, 0x4001, 40),
		}, "allocated", ""},
		{"orphan deletion", []simEvent{
			fromServer(0, simSuccess(R, 1, withLifetime(0))),
		}, "deleted", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := simulate(t, NewEngine(Options{}), tt.events, 10)
			if len(a.Allocations) != 1 {
				t.Fatalf("got %d allocations", len(a.Allocations))
			}
			al := a.Allocations[0]
			if !al.Preexisting || al.Outcome != tt.outcome || al.Username != tt.user {
				t.Errorf("preexisting %v outcome %q user %q, want true %q %q", al.Preexisting, al.Outcome, al.Username, tt.outcome, tt.user)
			}
			if n := len(tt.events); al.Last.Frame != uint64(n) {
				t.Errorf("Last frame %d, want %d", al.Last.Frame, n)
			}
		})
	}
}

func TestChannelDataWithoutAllocation(t *testing.T) {
	a := simulate(t, NewEngine(Options{}), []simEvent{simChannelData(0, simClientAddr, simServerAddr, 0x4000, 10)}, 1)
	if len(a.Allocations) != 0 || a.UnmatchedChannelData != 1 {
		t.Errorf("allocations %d unmatched %d, want 0 1", len(a.Allocations), a.UnmatchedChannelData)
	}
}

// TestReallocationAfterDelete: the 5-tuple may be reused once the old
// allocation is gone.
func TestReallocationAfterDelete(t *testing.T) {
	A, R := stun.MethodAllocate, stun.MethodRefresh
	cred := withAuth("alice", "example.org", "n1")
	events := []simEvent{
		fromClient(0, simRequest(A, 1, cred)),
		fromServer(0.01, simSuccess(A, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
		fromClient(1, simRequest(R, 2, cred, withLifetime(0))),
		fromServer(1.01, simSuccess(R, 2, withLifetime(0))),
		fromClient(2, simRequest(A, 3, cred)),
		simChannelData(3, simServerAddr, simClientAddr, 0x4000, 10),
	}
	a := simulate(t, NewEngine(Options{}), events, 5)
	if len(a.Allocations) != 2 {
		t.Fatalf("got %d allocations, want 2", len(a.Allocations))
	}
	if a.Allocations[0].Outcome != "deleted" || a.Allocations[1].Outcome != "unanswered" {
		t.Errorf("outcomes %q %q", a.Allocations[0].Outcome, a.Allocations[1].Outcome)
	}
	if a.Allocations[0].Received.Packets != 0 || a.Allocations[1].Received.Packets != 1 {
		t.Error("ChannelData counted on the deleted allocation")
	}
}

// TestBindingMemoryBound: Binding transactions (ICE, keepalives) are
// summarized; only those that matter are kept in full, and the open table
// never outgrows its bound.
func TestBindingMemoryBound(t *testing.T) {
	B := stun.MethodBinding
	e := NewEngine(Options{})
	e.maxOpen = 50
	var dm decode.Message
	var sm stun.Message
	dm.STUN = &sm
	dm.Kind = decode.KindSTUN
	dm.Transport = decode.UDP
	frame := uint64(0)
	send := func(sec float64, src, dst netip.AddrPort, s stun.Message) {
		frame++
		sm = s
		dm.Frame, dm.Time, dm.Src, dm.Dst = frame, simAt(sec), src, dst
		e.Observe(&dm)
		if len(e.open) > e.maxOpen {
			t.Fatalf("frame %d: %d open transactions, bound %d", frame, len(e.open), e.maxOpen)
		}
	}
	const n = 5000
	var unanswered, errors int
	for i := range n {
		var id stun.TransactionID
		id[0], id[1], id[2] = byte(i), byte(i>>8), byte(i>>16)
		s := simRequest(B, 0)
		s.Transaction = id
		sec := float64(i) * 0.02
		send(sec, simClientAddr, simServerAddr, s)
		switch {
		case i%7 == 3:
			unanswered++
		case i%11 == 5:
			errors++
			r := simFailure(B, 0, 487)
			r.Transaction = id
			send(sec+0.01, simServerAddr, simClientAddr, r)
		default:
			r := simSuccess(B, 0)
			r.Transaction = id
			send(sec+0.01, simServerAddr, simClientAddr, r)
		}
	}
	a := e.Finish(simAt(n))
	if len(a.Bindings) != 1 {
		t.Fatalf("got %d binding summaries, want 1", len(a.Bindings))
	}
	b := a.Bindings[0]
	if b.Requests != n || b.Unanswered != unanswered || b.Errors != errors || b.Answered != n-unanswered {
		t.Errorf("summary %+v, want %d requests, %d unanswered, %d errors", b, n, unanswered, errors)
	}
	if b.Client != simClientAddr || b.Server != simServerAddr || b.First.Frame != 1 {
		t.Errorf("summary flow %v %v first %d", b.Client, b.Server, b.First.Frame)
	}
	var kept, keptUnanswered, keptErrors int
	for i, tx := range a.Transactions {
		kept++
		if !tx.Answered {
			keptUnanswered++
		} else if tx.Class == stun.ClassError {
			keptErrors++
		}
		if i > 0 && tx.seq <= a.Transactions[i-1].seq {
			t.Fatal("kept Binding transactions not in order of appearance")
		}
	}
	// The first BindingKeptPerFlow hold 1 unanswered (i=3) and 1 error
	// (i=5); then BindingKeptPerFlow more of each.
	if kept != 3*BindingKeptPerFlow || keptUnanswered != BindingKeptPerFlow+1 || keptErrors != BindingKeptPerFlow+1 {
		t.Errorf("kept %d (%d unanswered, %d errors), want %d (%d, %d)",
			kept, keptUnanswered, keptErrors, 3*BindingKeptPerFlow, BindingKeptPerFlow+1, BindingKeptPerFlow+1)
	}
}

// TestOpenTableExpiry: transactions with no activity for TransactionLinger
// leave the open table even when it is far from full.
func TestOpenTableExpiry(t *testing.T) {
	var events []simEvent
	for i := range 300 {
		events = append(events, fromClient(float64(i), simRequest(stun.MethodAllocate, byte(i))))
	}
	e := NewEngine(Options{})
	var maxOpen int
	var dm decode.Message
	for i, ev := range events {
		sm := ev.stun
		dm = decode.Message{Packet: decode.Packet{Frame: uint64(i + 1), Time: simAt(ev.at), Src: ev.src, Dst: ev.dst, Transport: decode.UDP},
			Kind: decode.KindSTUN, STUN: &sm}
		e.Observe(&dm)
		maxOpen = max(maxOpen, len(e.open))
	}
	if limit := int(TransactionLinger/time.Second) + 2; maxOpen > limit {
		t.Errorf("%d transactions open at once, want at most %d", maxOpen, limit)
	}
	a := e.Finish(simAt(300))
	if len(a.Transactions) != 300 {
		t.Errorf("got %d transactions, want all 300 non-Binding ones", len(a.Transactions))
	}
}

func TestTransactionAndAllocationCaps(t *testing.T) {
	e := NewEngine(Options{})
	e.maxTransactions, e.maxAllocations = 5, 3
	var events []simEvent
	for i := range 10 {
		ev := fromClient(float64(i), simRequest(stun.MethodAllocate, byte(i)))
		ev.src = netip.AddrPortFrom(simClientAddr.Addr(), uint16(1000+i))
		events = append(events, ev)
	}
	a := simulate(t, e, events, 10)
	if len(a.Transactions) != 5 || a.DroppedTransactions != 5 {
		t.Errorf("transactions %d dropped %d, want 5 5", len(a.Transactions), a.DroppedTransactions)
	}
	if len(a.Allocations) != 3 || a.DroppedAllocations != 7 {
		t.Errorf("allocations %d dropped %d, want 3 7", len(a.Allocations), a.DroppedAllocations)
	}
}

func TestFinishIsFinal(t *testing.T) {
	e := NewEngine(Options{})
	a := simulate(t, e, []simEvent{fromClient(0, simRequest(stun.MethodAllocate, 1))}, 1)
	if b := e.Finish(simAt(2)); b != a {
		t.Error("second Finish returned another Analysis")
	}
	sm := simRequest(stun.MethodAllocate, 2)
	e.Observe(&decode.Message{Kind: decode.KindSTUN, STUN: &sm})
	if len(a.Transactions) != 1 {
		t.Error("Observe after Finish changed the Analysis")
	}
}

// TestObserveHostile: messages with missing or inconsistent parts never
// panic.
func TestObserveHostile(t *testing.T) {
	e := NewEngine(Options{Credentials: []Credential{{Username: "u", Password: "p"}}})
	short := simRequest(stun.MethodAllocate, 1, withAuth("u", "r", "n"))
	short.Raw = []byte{0, 3, 0xff, 0xff, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3}
	lying := simRequest(stun.MethodAllocate, 2, withAuth("u", "r", "n"))
	lying.Raw = append(quotedSTUNHeader(stun.MethodAllocate, 2), 0, 8, 0, 20, 1, 2) // MESSAGE-INTEGRITY cut short
	send := simIndication(t, stun.MethodSend, 4)
	send.Raw = send.Raw[:22]
	msgs := []*decode.Message{
		nil,
		{Kind: decode.KindSTUN},
		{Kind: decode.KindSTUN, STUN: &short},
		{Kind: decode.KindSTUN, STUN: &lying},
		{Kind: decode.KindSTUN, STUN: &send},
		{Kind: decode.KindICMPError, ICMP: decode.ICMPError{QuotedPayload: []byte{0, 1, 2}}},
		{Kind: decode.KindICMPError, ICMP: decode.ICMPError{QuotedPayload: make([]byte, 20)}},
		{Kind: 99},
	}
	for _, m := range msgs {
		e.Observe(m)
	}
	a := e.Finish(time.Time{})
	for _, tx := range a.Transactions {
		if tx.Integrity != IntegrityNotChecked {
			t.Errorf("integrity of a broken message judged %v", tx.Integrity)
		}
	}
}

// BenchmarkObserveBinding measures the common case: ICE connectivity
// checks answered at once.
func BenchmarkObserveBinding(b *testing.B) {
	e := NewEngine(Options{})
	var sm stun.Message
	dm := decode.Message{Kind: decode.KindSTUN, STUN: &sm, Packet: decode.Packet{Transport: decode.UDP}}
	b.ReportAllocs()
	for i := range b.N {
		sm = simRequest(stun.MethodBinding, 0)
		sm.Transaction[1], sm.Transaction[2], sm.Transaction[3] = byte(i), byte(i>>8), byte(i>>16)
		dm.Frame, dm.Time, dm.Src, dm.Dst = uint64(2*i+1), simAt(float64(i)*0.001), simClientAddr, simServerAddr
		e.Observe(&dm)
		sm.Class = stun.ClassSuccess
		dm.Frame, dm.Src, dm.Dst = uint64(2*i+2), simServerAddr, simClientAddr
		e.Observe(&dm)
	}
}
