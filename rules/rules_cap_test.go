package rules

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
	pionstun "github.com/pion/stun/v3"
)

// stunRules are the STUN/TURN rules, the ones these tests are about.
func stunRules() []diagnose.Rule {
	return []diagnose.Rule{IntegrityFailure{}, AllocateTimeout{}, ServerUnreachable{}, StaleNonce{}, RequestRejected{}, BindingUnanswered{}}
}

// manyAllocates is n unanswered Allocates from n clients to one server,
// one every millisecond, in a capture that goes on 10 s after the last.
func manyAllocates(n int) *diagnose.Analysis {
	a := &diagnose.Analysis{Transactions: make([]*diagnose.Transaction, 0, n)}
	for i := range n {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
		a.Transactions = append(a.Transactions, &diagnose.Transaction{
			ID: stun.TransactionID{byte(i >> 16), byte(i >> 8), byte(i)}, Method: stun.MethodAllocate, Cookie: 0x2112a442,
			Client: c, Server: server, Transport: decode.UDP, RequestCount: 1,
			Requests: []diagnose.FrameRef{{Frame: uint64(i + 1), Time: at(float64(i) / 1000)}},
			Lifetime: -1, GrantedLife: -1,
		})
	}
	a.Captures = []capture.FileInfo{capture0(float64(n)/1000 + 10)}
	return a
}

// TestManyAllocatesCapped: 40 000 clients failing alike make 100 findings
// and one summary for their server, not 40 000 findings.
func TestManyAllocatesCapped(t *testing.T) {
	a := manyAllocates(40_000)
	fs := AllocateTimeout{}.Check(a)
	if len(fs) > maxFindingsPerRule+1 {
		t.Fatalf("%d findings, want at most %d", len(fs), maxFindingsPerRule+1)
	}
	if len(fs) != maxFindingsPerRule+1 {
		t.Fatalf("%d findings, want %d and a summary", len(fs), maxFindingsPerRule)
	}
	sum := fs[len(fs)-1]
	for _, want := range []string{"39900 more concern 203.0.113.5:3478 (udp)", "39900 errors", "The first of them: The Allocate request from 10.0.0.100:40000"} {
		if !strings.Contains(sum.Detail, want) {
			t.Errorf("summary lacks %q: %s", want, sum.Detail)
		}
	}
	if sum.Rule != "turn.allocate-timeout" || sum.Severity != diagnose.Error || len(sum.Frames) != diagnose.MaxFramesPerFinding ||
		sum.Frames[0] != 101 || sum.First != at(0.1) || sum.Last != at(39.999) || !strings.HasPrefix(sum.Filter, "ip.addr == 203.0.113.5 && udp.port == 3478") {
		t.Errorf("summary evidence: %+v", sum)
	}
	if len(sum.Endpoints) > maxSummaryEndpoints {
		t.Errorf("%d endpoints in the summary", len(sum.Endpoints))
	}
}

// TestManyRejectionsCapped: the same for request-rejected, whose recovery
// check must not scan every transaction for every group.
func TestManyRejectionsCapped(t *testing.T) {
	a := manyAllocates(20_000)
	for i, tx := range a.Transactions {
		failed(tx, uint64(100_000+i), 0, 486, "")
	}
	fs := RequestRejected{}.Check(a)
	if len(fs) != maxFindingsPerRule+1 || !strings.Contains(fs[len(fs)-1].Detail, "19900 more") {
		t.Fatalf("%d findings, last %+v", len(fs), fs[len(fs)-1])
	}
}

// TestCapFindingsPerServer: the summaries go per server, up to
// maxSummaryServers of them and one for the rest.
func TestCapFindingsPerServer(t *testing.T) {
	var found []serverFinding
	for i := range maxFindingsPerRule + 40 {
		s := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 20)}), 3478)
		sev := diagnose.Warning
		if (i/20)%2 == 0 {
			sev = diagnose.Error
		}
		found = append(found, serverFinding{diagnose.Finding{Rule: "x", Severity: sev, Detail: fmt.Sprint(i), Frames: []uint64{uint64(i + 1)}, First: at(float64(i)), Last: at(float64(i))}, s, decode.UDP})
	}
	fs := capFindings(AllocateTimeout{}, found)
	if len(fs) != maxFindingsPerRule+maxSummaryServers+1 {
		t.Fatalf("%d findings, want %d", len(fs), maxFindingsPerRule+maxSummaryServers+1)
	}
	first := fs[maxFindingsPerRule]
	if !strings.Contains(first.Title, "2 more for 198.51.100.0:3478 (udp)") || first.Severity != diagnose.Error || !strings.Contains(first.Detail, "1 error, 1 warning") {
		t.Errorf("first summary: %s / %s", first.Title, first.Detail)
	}
	rest := fs[len(fs)-1]
	if !strings.Contains(rest.Title, "20 more for 10 other servers") || rest.Filter != "stun || classicstun" {
		t.Errorf("last summary: %s / %s", rest.Title, rest.Filter)
	}
	if fs := capFindings(AllocateTimeout{}, found[:maxFindingsPerRule]); len(fs) != maxFindingsPerRule {
		t.Errorf("%d findings when none exceed the cap", len(fs))
	}
}

// BenchmarkRulesManyAllocates runs the STUN/TURN rules on 40 000 unanswered
// Allocates on distinct 5-tuples: linear work, well under a second (it
// took 3 minutes when each group scanned every transaction).
func BenchmarkRulesManyAllocates(b *testing.B) {
	a := manyAllocates(40_000)
	b.ResetTimer()
	for range b.N {
		for _, r := range stunRules() {
			r.Check(a)
		}
	}
}

// bindingFeed drives a diagnose.Engine with real Binding messages between
// one client and one ICE peer, a check every 5 s.
type bindingFeed struct {
	e     *diagnose.Engine
	frame uint64
	at    time.Time
	id    byte
}

var (
	iceClient = netip.MustParseAddrPort("10.0.0.1:50000")
	icePeer   = netip.MustParseAddrPort("198.51.100.7:40000")
)

func (f *bindingFeed) send(src, dst netip.AddrPort, at time.Time, typ pionstun.MessageType, id byte) {
	pm, err := pionstun.Build(pionstun.NewTransactionIDSetter([12]byte{id, 0x5a}), typ, pionstun.NewUsername("peer:local"))
	if err != nil {
		panic(err)
	}
	var sm stun.Message
	if err := sm.Decode(pm.Raw); err != nil {
		panic(err)
	}
	f.frame++
	f.e.Observe(&decode.Message{Packet: decode.Packet{Frame: f.frame, Time: at, Src: src, Dst: dst, Transport: decode.UDP}, Kind: decode.KindSTUN, STUN: &sm})
}

// checks sends one check per character of pattern: 'o' answered, 'x' not.
func (f *bindingFeed) checks(pattern string) {
	for _, c := range pattern {
		f.id++
		f.send(iceClient, icePeer, f.at, pionstun.BindingRequest, f.id)
		if c == 'o' {
			f.send(icePeer, iceClient, f.at.Add(20*time.Millisecond), pionstun.BindingSuccess, f.id)
		}
		f.at = f.at.Add(5 * time.Second)
	}
}

func bindingFindings(t *testing.T, pattern string) []diagnose.Finding {
	t.Helper()
	f := &bindingFeed{e: diagnose.NewEngine(diagnose.Options{}), at: t0}
	f.checks(pattern)
	a := f.e.Finish(f.at)
	a.Captures = []capture.FileInfo{{Path: "x.pcap", First: t0, Last: f.at}}
	return BindingUnanswered{}.Check(a)
}

// TestBindingDeadPathAfterAnswers: a pair that answered 12 consent checks
// and then none of 15 died, although the engine kept only 10 of them.
func TestBindingDeadPathAfterAnswers(t *testing.T) {
	fs := bindingFindings(t, strings.Repeat("o", 12)+strings.Repeat("x", 15))
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1", len(fs))
	}
	d := fs[0].Detail
	for _, want := range []string{"15 ICE connectivity checks from 10.0.0.1:50000 to 198.51.100.7:40000", "had answered 12 requests before it went silent", "the last answer in frame 24"} {
		if !strings.Contains(d, want) {
			t.Errorf("detail lacks %q: %s", want, d)
		}
	}
	// Its own answers are not "other Binding requests".
	if strings.Contains(d, "Other Binding requests") || !strings.Contains(d, "on another pair was answered") {
		t.Errorf("the pair's own answers were counted as another pair's: %s", d)
	}
}

// TestBindingLossMidCall: three checks lost mid-call and answers after them
// are no dead path.
func TestBindingLossMidCall(t *testing.T) {
	if fs := bindingFindings(t, strings.Repeat("o", 12)+"xxx"+strings.Repeat("o", 9)); len(fs) != 0 {
		t.Errorf("%d findings, want none: %s", len(fs), fs[0].Detail)
	}
	// More than BindingKeptPerFlow answered after the loss: the answers the
	// engine did not keep count too.
	if fs := bindingFindings(t, "xxxx"+strings.Repeat("o", 30)); len(fs) != 0 {
		t.Errorf("%d findings, want none: %s", len(fs), fs[0].Detail)
	}
}
