package diagnose

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	pionstun "github.com/pion/stun/v3"
)

// TestSameIDToTwoServers: RFC 3489 §10.1 NAT discovery sends one
// transaction ID to several server addresses; each is a transaction of its
// own, not a retransmission of the first.
func TestSameIDToTwoServers(t *testing.T) {
	other := netip.MustParseAddrPort("198.51.100.9:3478")
	toOther := func(sec float64, s stun.Message) simEvent {
		return simEvent{at: sec, src: simClientAddr, dst: other, kind: decode.KindSTUN, stun: s}
	}
	req := simRequest(stun.MethodBinding, 1)
	a := simulate(t, NewEngine(Options{}), []simEvent{
		fromClient(0, req), fromClient(0.01, req), fromClient(0.02, req),
		toOther(0.03, req), toOther(0.04, req), toOther(0.05, req),
		fromServer(0.1, simSuccess(stun.MethodBinding, 1)),
	}, 10)
	if len(a.Transactions) != 2 {
		t.Fatalf("%d transactions, want 2", len(a.Transactions))
	}
	first, second := a.Transactions[0], a.Transactions[1]
	if first.Server != simServerAddr || first.RequestCount != 3 || !first.Answered || first.Response.Frame != 7 {
		t.Errorf("first: server %v, %d sends, answered %v in frame %d; want %v, 3, in frame 7", first.Server, first.RequestCount, first.Answered, first.Response.Frame, simServerAddr)
	}
	if second.Server != other || second.RequestCount != 3 || second.Answered {
		t.Errorf("second: server %v, %d sends, answered %v; want %v, 3, unanswered", second.Server, second.RequestCount, second.Answered, other)
	}
	if len(a.Bindings) != 2 || a.Bindings[0].Unanswered+a.Bindings[1].Unanswered != 1 {
		t.Errorf("binding summaries %+v", a.Bindings)
	}
}

// TestAnswerFromAlternateAddress: an answer from another server address
// (RFC 5780) matches by ID and client when one transaction has them, is an
// orphan when two do, and matches again once one of the two has closed.
func TestAnswerFromAlternateAddress(t *testing.T) {
	other := netip.MustParseAddrPort("198.51.100.9:3478")
	ev := func(sec float64, src, dst netip.AddrPort, s stun.Message) simEvent {
		return simEvent{at: sec, src: src, dst: dst, kind: decode.KindSTUN, stun: s}
	}
	alloc := func(id byte) stun.Message { return simRequest(stun.MethodAllocate, id) }
	t.Run("unique", func(t *testing.T) {
		a := simulate(t, NewEngine(Options{}), []simEvent{
			ev(0, simClientAddr, simServerAddr, alloc(1)),
			ev(0.1, simOtherAddr, simClientAddr, simSuccess(stun.MethodAllocate, 1)),
		}, 10)
		if tx := a.Transactions[0]; !tx.Answered || tx.ResponseFrom != simOtherAddr || a.OrphanResponses != 0 {
			t.Errorf("answered %v from %v, %d orphans", tx.Answered, tx.ResponseFrom, a.OrphanResponses)
		}
	})
	t.Run("ambiguous", func(t *testing.T) {
		a := simulate(t, NewEngine(Options{}), []simEvent{
			ev(0, simClientAddr, simServerAddr, alloc(1)),
			ev(0, simClientAddr, other, alloc(1)),
			ev(0.1, simOtherAddr, simClientAddr, simSuccess(stun.MethodAllocate, 1)),
		}, 10)
		if a.Transactions[0].Answered || a.Transactions[1].Answered || a.OrphanResponses != 1 {
			t.Errorf("an answer from a third address matched one of two transactions: %d orphans", a.OrphanResponses)
		}
	})
	t.Run("one of two closed", func(t *testing.T) {
		// The first closes after TransactionLinger; the second, sent later
		// and retransmitted, stays open and is then the only one.
		linger := TransactionLinger.Seconds()
		a := simulate(t, NewEngine(Options{}), []simEvent{
			ev(0, simClientAddr, simServerAddr, alloc(1)),
			ev(linger-1, simClientAddr, other, alloc(1)),
			ev(linger+1, simClientAddr, other, alloc(1)),
			ev(linger+1.1, simOtherAddr, simClientAddr, simSuccess(stun.MethodAllocate, 1)),
		}, 200)
		if a.Transactions[0].Answered || !a.Transactions[1].Answered {
			t.Errorf("answered: first %v, second %v; want the open one only", a.Transactions[0].Answered, a.Transactions[1].Answered)
		}
	})
}

// TestZoomClassicNATDiscovery: in nDPI's zoom.pcap the client sends one
// classic transaction ID to 162.255.37.14:3478 (frames 34, 36, 44), to
// 162.255.38.14:3478 (46-48) and to 162.255.38.14:3479 (49-51). tshark
// shows the three sets with the one classicstun.id; none is answered
// (frame 60 is a Shared Secret request of type 0x0002 from the server).
func TestZoomClassicNATDiscovery(t *testing.T) {
	path := "/work/shared/corpus/public/nDPI/zoom.pcap"
	if _, err := os.Stat(path); err != nil {
		t.Skip("public corpus not available")
	}
	a, _, err := Analyze([]string{path}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	byServer := map[string]*Transaction{}
	for _, tx := range a.Transactions {
		if len(tx.Requests) > 0 && tx.Requests[0].Frame >= 34 && tx.Requests[0].Frame <= 51 {
			byServer[tx.Server.String()] = tx
		}
	}
	for server, want := range map[string][]uint64{
		"162.255.37.14:3478": {34, 36, 44},
		"162.255.38.14:3478": {46, 47, 48},
		"162.255.38.14:3479": {49, 50, 51},
	} {
		tx := byServer[server]
		if tx == nil {
			t.Errorf("no transaction to %s", server)
			continue
		}
		if got := frameNumbers(tx.Requests); !equalFrames(got, want) {
			t.Errorf("to %s: requests in frames %v, want %v", server, got, want)
		}
		if !tx.Classic || tx.Cookie != 0xc15dae63 {
			t.Errorf("to %s: classic %v cookie %08x, want classic c15dae63", server, tx.Classic, tx.Cookie)
		}
		if tx.Answered || tx.RequestCount != 3 {
			t.Errorf("to %s: answered %v, %d sends; want unanswered, 3", server, tx.Answered, tx.RequestCount)
		}
	}
}

func equalFrames(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBindingSummarySinceAnswer: the summary counts the unanswered
// requests after the last answered one, over every Binding of the flow and
// not only those kept.
func TestBindingSummarySinceAnswer(t *testing.T) {
	run := func(pattern string) *BindingSummary {
		var events []simEvent
		sec := 0.0
		for i, c := range pattern {
			id := byte(i + 1)
			events = append(events, fromClient(sec, simRequest(stun.MethodBinding, id)))
			if c == 'o' {
				events = append(events, fromServer(sec+0.02, simSuccess(stun.MethodBinding, id)))
			}
			sec += 5
		}
		a := simulate(t, NewEngine(Options{}), events, sec+60)
		if len(a.Bindings) != 1 {
			t.Fatalf("%d binding summaries", len(a.Bindings))
		}
		return a.Bindings[0]
	}
	dead := run(strings.Repeat("o", 12) + strings.Repeat("x", 15))
	if dead.UnansweredSinceAnswer != 15 || dead.Unanswered != 15 || dead.LastAnswered.Frame != 24 {
		t.Errorf("dead path: %d since answer, %d unanswered, last answer in frame %d; want 15, 15, 24", dead.UnansweredSinceAnswer, dead.Unanswered, dead.LastAnswered.Frame)
	}
	blip := run(strings.Repeat("o", 12) + "xxx" + strings.Repeat("o", 9))
	if blip.UnansweredSinceAnswer != 0 || blip.Unanswered != 3 {
		t.Errorf("loss mid-call: %d since answer, %d unanswered; want 0, 3", blip.UnansweredSinceAnswer, blip.Unanswered)
	}
	never := run("xxxx")
	if never.UnansweredSinceAnswer != 4 || never.LastAnswered.Frame != 0 {
		t.Errorf("never answered: %d since answer, last answer %d; want 4, 0", never.UnansweredSinceAnswer, never.LastAnswered.Frame)
	}
}

// TestKeptTextAndPeersBounded: a hostile request with 60 KB attributes and
// many peers costs a bounded record.
func TestKeptTextAndPeersBounded(t *testing.T) {
	long := strings.Repeat("é", 30000) // 2 bytes each: a cut must not split one
	var peers []netip.AddrPort
	for i := range 40 {
		peers = append(peers, netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 1000))
	}
	req := simRequest(stun.MethodCreatePermission, 1, func(m *stun.Message) {
		m.Username, m.Realm, m.Nonce, m.Software = long, long, long, long
		m.XORPeerAddresses = peers
	})
	resp := simFailure(stun.MethodCreatePermission, 1, 403, func(m *stun.Message) {
		m.ErrorReason, m.Nonce, m.Software = long, long, long
	})
	a := simulate(t, NewEngine(Options{}), []simEvent{fromClient(0, req), fromServer(0.1, resp)}, 10)
	tx := a.Transactions[0]
	for name, s := range map[string]string{"username": tx.Username, "realm": tx.Realm, "nonce": tx.Nonce, "software": tx.Software,
		"reason": tx.ErrorReason, "response nonce": tx.ResponseNonce, "server software": tx.ServerSoftware} {
		if len(s) > 763 || len(s) < 760 || !utf8.ValidString(s) || !strings.HasPrefix(long, s) {
			t.Errorf("%s kept as %d bytes (valid UTF-8 %v), want a prefix of at most 763 bytes", name, len(s), utf8.ValidString(s))
		}
		if unsafe.StringData(s) == unsafe.StringData(long) {
			t.Errorf("%s still points into the 60 KB original", name)
		}
	}
	if len(tx.Peers) != MaxPeersPerTransaction || tx.PeersTotal != 40 || tx.Peers[15] != peers[15] {
		t.Errorf("%d peers kept of %d, want %d of 40", len(tx.Peers), tx.PeersTotal, MaxPeersPerTransaction)
	}

	short := simRequest(stun.MethodAllocate, 2, withAuth("alice", "example.org", "n"))
	a = simulate(t, NewEngine(Options{}), []simEvent{fromClient(0, short)}, 10)
	if tx := a.Transactions[0]; tx.Username != "alice" || tx.Realm != "example.org" || tx.Nonce != "n" || tx.PeersTotal != 0 || tx.Peers != nil {
		t.Errorf("short values changed: %q %q %q, peers %v/%d", tx.Username, tx.Realm, tx.Nonce, tx.Peers, tx.PeersTotal)
	}
}

// TestDecoderStringsOutlive checks what the engine relies on to keep the
// decoder's strings without copying them: they stay intact after the
// Message and the packet bytes are reused for another message.
func TestDecoderStringsOutlive(t *testing.T) {
	build := func(user, realm, nonce, software string) []byte {
		pm, err := pionstun.Build(pionstun.TransactionID, pionstun.NewType(pionstun.MethodAllocate, pionstun.ClassRequest),
			pionstun.NewUsername(user), pionstun.NewRealm(realm), pionstun.NewNonce(nonce), pionstun.NewSoftware(software))
		if err != nil {
			t.Fatal(err)
		}
		return pm.Raw
	}
	first := build("alice", "example.org", "nonce-1", "client 1")
	buf := make([]byte, len(first))
	copy(buf, first)
	var m stun.Message
	if err := m.Decode(buf); err != nil {
		t.Fatal(err)
	}
	user, realm, nonce, software := m.Username, m.Realm, m.Nonce, m.Software
	second := build("mallo", "elsewhere.x", "nonce-2", "client 2")
	if len(second) != len(first) {
		t.Fatalf("test messages differ in length: %d, %d", len(first), len(second))
	}
	copy(buf, second)
	if err := m.Decode(buf); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	if user != "alice" || realm != "example.org" || nonce != "nonce-1" || software != "client 1" {
		t.Errorf("strings from the first message changed to %q %q %q %q: the engine must copy them (correlate_transaction.go keptText)", user, realm, nonce, software)
	}
}

// TestRefreshGrantedZero: a Refresh without LIFETIME whose success response
// grants 0 deleted the allocation (RFC 8656 §8).
func TestRefreshGrantedZero(t *testing.T) {
	a := simulate(t, NewEngine(Options{}), []simEvent{
		fromClient(0, simRequest(stun.MethodAllocate, 1)),
		fromServer(0.1, simSuccess(stun.MethodAllocate, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
		fromClient(1, simRequest(stun.MethodRefresh, 2)),
		fromServer(1.1, simSuccess(stun.MethodRefresh, 2, withLifetime(0))),
	}, 1000)
	al := a.Allocations[0]
	if al.Outcome != "deleted" || al.Deleted.Frame != 4 || !al.Expires.IsZero() {
		t.Errorf("outcome %q deleted in frame %d expires %v; want deleted in frame 4, no expiry", al.Outcome, al.Deleted.Frame, al.Expires)
	}
}

// TestClassicTransactionRecorded: a classic RFC 3489 request keeps its
// flag and the first 32 bits of its 128-bit ID.
func TestClassicTransactionRecorded(t *testing.T) {
	req := simRequest(stun.MethodBinding, 1, func(m *stun.Message) { m.Classic, m.Cookie = true, 0xc15dae63 })
	a := simulate(t, NewEngine(Options{}), []simEvent{fromClient(0, req)}, 10)
	if tx := a.Transactions[0]; !tx.Classic || tx.Cookie != 0xc15dae63 {
		t.Errorf("classic %v cookie %08x", tx.Classic, tx.Cookie)
	}
	a = simulate(t, NewEngine(Options{}), []simEvent{fromClient(0, simRequest(stun.MethodBinding, 1))}, 10)
	if tx := a.Transactions[0]; tx.Classic || tx.Cookie != stunCookie {
		t.Errorf("modern: classic %v cookie %08x", tx.Classic, tx.Cookie)
	}
}

// TestIntegrityNonASCIINotChecked: without OpaqueString/SASLprep the key of
// non-ASCII credentials may differ from the one the ends computed, so no
// verdict is given rather than a false mismatch.
func TestIntegrityNonASCIINotChecked(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cred   Credential
		signed [3]string
	}{
		{"non-ASCII username", Credential{"jürgen", "s3cret"}, [3]string{"jürgen", "example.org", "s3cret"}},
		{"non-ASCII username, other password", Credential{"jürgen", "s3cret"}, [3]string{"jürgen", "example.org", "guess"}},
		{"non-ASCII realm", Credential{"alice", "s3cret"}, [3]string{"alice", "exämple.org", "guess"}},
		{"non-ASCII password", Credential{"alice", "sécret"}, [3]string{"alice", "example.org", "s\u00e9cret"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := signedAllocate(t, tt.signed[0], tt.signed[1], tt.signed[2])
			a := simulate(t, NewEngine(Options{Credentials: []Credential{tt.cred}}), []simEvent{fromClient(0, s)}, 2)
			if got := a.Transactions[0].Integrity; got != IntegrityNotChecked {
				t.Errorf("Integrity = %v, want IntegrityNotChecked", got)
			}
		})
	}
	// ASCII credentials are still checked.
	s := signedAllocate(t, "alice", "example.org", "guess")
	a := simulate(t, NewEngine(Options{Credentials: []Credential{{"alice", "s3cret"}}}), []simEvent{fromClient(0, s)}, 2)
	if got := a.Transactions[0].Integrity; got != IntegrityMismatch {
		t.Errorf("ASCII: Integrity = %v, want IntegrityMismatch", got)
	}
}

// TestReportCountsSummarizedUnanswered: unanswered_transactions counts the
// Binding transactions the engine only summarized.
func TestReportCountsSummarizedUnanswered(t *testing.T) {
	var events []simEvent
	for i := range 30 {
		events = append(events, fromClient(float64(i), simRequest(stun.MethodBinding, byte(i+1))))
	}
	events = append(events, fromClient(40, simRequest(stun.MethodAllocate, 100)))
	a := simulate(t, NewEngine(Options{}), events, 200)
	if len(a.Transactions) >= 31 {
		t.Fatalf("the engine kept all %d transactions; the test needs some summarized", len(a.Transactions))
	}
	if got := NewReport(a, nil, "test").Stats.Unanswered; got != 31 {
		t.Errorf("unanswered_transactions = %d, want 31 (30 Binding, 1 Allocate)", got)
	}
	// An analysis without summaries counts its transactions.
	b := &Analysis{Transactions: []*Transaction{{Method: stun.MethodBinding}, {Method: stun.MethodAllocate}, {Method: stun.MethodAllocate, Answered: true}}}
	if got := NewReport(b, nil, "test").Stats.Unanswered; got != 2 {
		t.Errorf("without summaries: unanswered_transactions = %d, want 2", got)
	}
}

// TestErrorCodeCitations: 431 comes from RFC 3489, 405 is RFC 8016's.
func TestErrorCodeCitations(t *testing.T) {
	if m := ErrorCode(431).Meaning; !strings.Contains(m, "RFC 3489 §11.2.9") || strings.Contains(m, "8656") {
		t.Errorf("431: %s", m)
	}
	if info := ErrorCode(405); info.Name != "Mobility Forbidden" || !strings.Contains(info.Meaning, "RFC 8016 §3.4") {
		t.Errorf("405: %+v", info)
	}
}
