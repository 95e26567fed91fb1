package rules

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

// The indexes the rules build once per Check must answer exactly what the
// scans they replace answered, in every order, with duplicates and nil
// entries. Each test compares an index with that scan (kept here as the
// reference) on small random analyses whose few addresses, frames and
// times collide often.

const indexTrials = 2000

func oneOf[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// few is one of a handful of addresses, so that lookups hit and miss.
func few(r *rand.Rand, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + r.IntN(4))}), port+uint16(r.IntN(2)))
}

// sometime is one of a few times, zero among them.
func sometime(r *rand.Rand) time.Time {
	if r.IntN(8) == 0 {
		return time.Time{}
	}
	return at(float64(r.IntN(6)))
}

func randomTransaction(r *rand.Rand) *diagnose.Transaction {
	if r.IntN(10) == 0 {
		return nil
	}
	t := &diagnose.Transaction{
		Method: oneOf(r, stun.MethodBinding, stun.MethodBinding, stun.MethodAllocate, stun.MethodRefresh),
		Client: few(r, 50000), Server: few(r, 3478), Transport: decode.UDP, HasIntegrity: r.IntN(2) == 0,
		Username: oneOf(r, "", "alice", "bob"),
	}
	for range r.IntN(3) {
		t.Requests = append(t.Requests, diagnose.FrameRef{Frame: uint64(r.IntN(8)), Time: sometime(r)})
	}
	if r.IntN(3) > 0 {
		t.Answered = true
		t.Class = oneOf(r, stun.ClassSuccess, stun.ClassError)
		t.ErrorCode = oneOf(r, 0, 401, 487)
		t.Response = diagnose.FrameRef{Frame: uint64(r.IntN(8)), Time: sometime(r)}
	}
	return t
}

// bindingByFrameScan is what ice.consent-lost and ice.role-conflict did
// for each session.
func bindingByFrameScan(a *diagnose.Analysis, frame uint64, response bool) *diagnose.Transaction {
	if frame == 0 {
		return nil
	}
	for _, t := range a.Transactions {
		if t == nil || t.Method != stun.MethodBinding {
			continue
		}
		if response && t.Answered && t.Response.Frame == frame {
			return t
		}
		if !response && slices.ContainsFunc(t.Requests, func(r diagnose.FrameRef) bool { return r.Frame == frame }) {
			return t
		}
	}
	return nil
}

func TestBindingFramesIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range indexTrials {
		a := &diagnose.Analysis{}
		for range r.IntN(12) {
			a.Transactions = append(a.Transactions, randomTransaction(r))
		}
		ix := newBindingFrames(a)
		for frame := range uint64(9) {
			for _, response := range []bool{true, false} {
				if got, want := ix.byFrame(frame, response), bindingByFrameScan(a, frame, response); got != want {
					t.Fatalf("trial %d: frame %d response %t: index %p, scan %p", trial, frame, response, got, want)
				}
			}
		}
	}
}

// failedAllocationScan is what ice.failed did for each failed session.
func failedAllocationScan(a *diagnose.Analysis, s *diagnose.ICESession) *diagnose.Allocation {
	addrs := sessionAddrs(s)
	var best *diagnose.Allocation
	for _, al := range a.Allocations {
		if al == nil || !allocationFailed(al) || !slices.Contains(addrs, al.Client.Addr().Unmap()) {
			continue
		}
		if !s.First.Time.IsZero() && !al.First.Time.IsZero() {
			if al.First.Time.After(s.Last.Time) || al.Last.Time.Before(s.First.Time.Add(-allocationWindow)) {
				continue
			}
		}
		best = al
	}
	return best
}

func TestFailedAllocationIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	timeOf := func() time.Time {
		if r.IntN(6) == 0 {
			return time.Time{}
		}
		return at(float64(r.IntN(400)))
	}
	for trial := range indexTrials {
		a := &diagnose.Analysis{}
		for range r.IntN(12) {
			if r.IntN(8) == 0 {
				a.Allocations = append(a.Allocations, nil)
				continue
			}
			al := &diagnose.Allocation{Client: few(r, 40000), Outcome: oneOf(r, "unanswered", "rejected", "challenged", "allocated", "expired")}
			if r.IntN(4) == 0 {
				al.Client = netip.AddrPortFrom(netip.AddrFrom16(al.Client.Addr().As16()), al.Client.Port()) // IPv4-mapped
			}
			al.First.Time, al.Last.Time = timeOf(), timeOf()
			a.Allocations = append(a.Allocations, al)
		}
		if r.IntN(5) == 0 && len(a.Allocations) > 0 {
			a.Allocations = append(a.Allocations, a.Allocations[r.IntN(len(a.Allocations))]) // listed twice
		}
		ix := indexFailedAllocations(a)
		for range 4 {
			s := &diagnose.ICESession{}
			for range r.IntN(3) {
				s.Pairs = append(s.Pairs, &diagnose.CandidatePair{Local: few(r, 1), Remote: few(r, 2)})
			}
			for range r.IntN(3) {
				s.Candidates = append(s.Candidates, diagnose.ICECandidate{Addr: few(r, 3)})
			}
			s.First.Time, s.Last.Time = timeOf(), timeOf()
			if got, want := ix.forSession(s), failedAllocationScan(a, s); got != want {
				t.Fatalf("trial %d: index %+v, scan %+v", trial, got, want)
			}
		}
	}
}

func randomSIPTransaction(r *rand.Rand) *diagnose.SIPTransaction {
	if r.IntN(10) == 0 {
		return nil
	}
	t := &diagnose.SIPTransaction{Method: oneOf(r, "REGISTER", "INVITE", "OPTIONS"), Client: few(r, 5060), Server: few(r, 5070),
		Transport: oneOf(r, decode.UDP, decode.TCP), Final: -1}
	if r.IntN(4) > 0 {
		t.Requests = []diagnose.FrameRef{{Frame: uint64(1 + r.IntN(50)), Time: sometime(r)}}
	}
	if r.IntN(3) > 0 {
		t.Authorization = &diagnose.SIPAuth{Username: oneOf(r, "alice", "bob"), Realm: oneOf(r, "a.org", "b.org")}
	}
	switch r.IntN(4) {
	case 0:
	case 1:
		t.Responses = []diagnose.SIPResponse{{Status: 180}}
	default:
		t.Responses = []diagnose.SIPResponse{{Status: oneOf(r, 200, 202, 401, 403)}}
		t.Final = 0
	}
	return t
}

// answeredOnSIPFlowScan is what sip.transaction-timeout and
// sip.fragmented-request did for each finding.
func answeredOnSIPFlowScan(a *diagnose.Analysis, like *diagnose.SIPTransaction) int {
	n := 0
	for _, t := range a.SIPTransactions {
		if t != nil && t != like && t.Client == like.Client && t.Server == like.Server && t.Transport == like.Transport && finalResponse(t) != nil {
			n++
		}
	}
	return n
}

// laterSIPSuccessScan is what sip.auth-failure did for each failure.
func laterSIPSuccessScan(all []*diagnose.SIPTransaction, last *diagnose.SIPTransaction) *diagnose.SIPTransaction {
	user, realm := last.Authorization.Username, last.Authorization.Realm
	after := firstRequest(last).Time
	var best *diagnose.SIPTransaction
	for _, t := range all {
		if t == nil || t == last || t.Authorization == nil || t.Authorization.Username != user || t.Authorization.Realm != realm {
			continue
		}
		f := finalResponse(t)
		sent := firstRequest(t).Time
		if f == nil || f.Status < 200 || f.Status >= 300 || !sent.After(after) {
			continue
		}
		if best == nil || sent.Before(firstRequest(best).Time) {
			best = t
		}
	}
	return best
}

func TestSIPIndexes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range indexTrials {
		a := &diagnose.Analysis{}
		for range r.IntN(16) {
			a.SIPTransactions = append(a.SIPTransactions, randomSIPTransaction(r))
		}
		if r.IntN(4) == 0 && len(a.SIPTransactions) > 0 {
			a.SIPTransactions = append(a.SIPTransactions, a.SIPTransactions[r.IntN(len(a.SIPTransactions))]) // listed twice
		}
		answers, successes := newSIPFlowAnswers(a), indexSIPSuccesses(a)
		for i, like := range a.SIPTransactions {
			if like == nil {
				continue
			}
			if got, want := answers.others(like), answeredOnSIPFlowScan(a, like); got != want {
				t.Fatalf("trial %d, transaction %d: %d others answered on its flow, the scan says %d", trial, i, got, want)
			}
			if like.Authorization == nil {
				continue
			}
			if got, want := successes.laterThan(like), laterSIPSuccessScan(a.SIPTransactions, like); got != want {
				t.Fatalf("trial %d, transaction %d: later success %+v, the scan says %+v", trial, i, got, want)
			}
		}
	}
}

// TestSIPSuccessTies: of the successes sent at the same time, the first
// listed is the one named, however many there are.
func TestSIPSuccessTies(t *testing.T) {
	a := &diagnose.Analysis{}
	for i := range 200 {
		tx := creds(respond(sipAt("REGISTER", "ok"+strconv.Itoa(i), phone, registrar, uint64(i+2), float64(5-i%3)), 200, "OK", 0, 0), "alice", "a.org", "")
		a.SIPTransactions = append(a.SIPTransactions, tx)
	}
	last := creds(sipAt("REGISTER", "bad", phone, registrar, 1, 1), "alice", "a.org", "")
	if got, want := indexSIPSuccesses(a).laterThan(last), laterSIPSuccessScan(a.SIPTransactions, last); got != want || got != a.SIPTransactions[2] {
		t.Fatalf("later success %s, the scan says %s", got.CallID, want.CallID)
	}
}

// workingTURNServerScan is what turn.server-unreachable did for each
// finding.
func workingTURNServerScan(a *diagnose.Analysis, client netip.Addr, unreachable netip.AddrPort) *diagnose.Allocation {
	for _, al := range a.Allocations {
		if al == nil || al.Client.Addr().Unmap() != client.Unmap() || al.Server == unreachable {
			continue
		}
		switch al.Outcome {
		case "allocated", "deleted", "expired":
			return al
		}
	}
	return nil
}

func TestWorkingTURNServers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range indexTrials {
		a := &diagnose.Analysis{}
		for range r.IntN(10) {
			if r.IntN(8) == 0 {
				a.Allocations = append(a.Allocations, nil)
				continue
			}
			a.Allocations = append(a.Allocations, &diagnose.Allocation{Client: few(r, 40000), Server: few(r, 3478),
				Outcome: oneOf(r, "allocated", "deleted", "expired", "unanswered", "rejected")})
		}
		w := &workingTURNServers{allocs: a.Allocations}
		for range 6 {
			c, s := few(r, 0).Addr(), few(r, 3478)
			if got, want := w.from(c, s), workingTURNServerScan(a, c, s); got != want {
				t.Fatalf("trial %d: client %s not via %s: index %+v, scan %+v", trial, c, s, got, want)
			}
		}
	}
}

// recoveredScan and challengeScan are what turn.integrity-failure did for
// each user's failures.
func recoveredScan(txs []*diagnose.Transaction, last *diagnose.Transaction) bool {
	for _, t := range txs {
		if t.Answered && t.Class == stun.ClassSuccess && t.HasIntegrity && firstSend(t).After(firstSend(last)) {
			return true
		}
	}
	return false
}

func challengeScan(all []*diagnose.Transaction, first *diagnose.Transaction) *diagnose.Transaction {
	var challenge *diagnose.Transaction
	for _, t := range all {
		if !t.HasIntegrity && t.Answered && t.Class == stun.ClassError && t.ErrorCode == 401 && !firstSend(t).After(firstSend(first)) {
			challenge = t
		}
	}
	return challenge
}

func TestTupleAuthStory(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for trial := range indexTrials {
		var txs []*diagnose.Transaction
		for range r.IntN(12) {
			if tx := randomTransaction(r); tx != nil {
				txs = append(txs, tx)
			}
		}
		if trial%2 == 0 {
			// Most captures list transactions in the order they began.
			slices.SortStableFunc(txs, func(x, y *diagnose.Transaction) int { return firstSend(x).Compare(firstSend(y)) })
		}
		s := newTupleAuthStory(txs)
		for i, last := range txs {
			if got, want := s.recovered(last), recoveredScan(txs, last); got != want {
				t.Fatalf("trial %d, transaction %d: recovered %t, the scan says %t", trial, i, got, want)
			}
			if got, want := s.challengeBefore(last), challengeScan(txs, last); got != want {
				t.Fatalf("trial %d, transaction %d: challenge %+v, the scan says %+v", trial, i, got, want)
			}
		}
	}
}

// TestEvidenceEndpointsIndexed: past endpointSetMin endpoints the set
// keeps the list in order and free of repeats, endpoints appended
// directly included.
func TestEvidenceEndpointsIndexed(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var ev evidence
	var want []string
	for i := range 400 {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(r.IntN(60))}), 5000)
		if i%50 == 49 {
			// As foldFindings and signallingOnly fill it.
			s := "[2001:db8::" + strconv.Itoa(i) + "]:1"
			ev.endpoints = append(ev.endpoints, s)
			want = append(want, s)
			continue
		}
		ev.addEndpoint(ap)
		if s := endpointString(ap); !slices.Contains(want, s) {
			want = append(want, s)
		}
	}
	ev.addEndpoint(netip.MustParseAddrPort("[2001:db8::99]:1")) // appended directly above
	if !slices.Equal(ev.endpoints, want) {
		t.Fatalf("endpoints %v, want %v", ev.endpoints, want)
	}
}

// TestCallStreamIndexLongCall: a call with more streams than
// streamSetMin gets them as a short one does: its SDP's first, repeats
// there kept, then the others naming it once each in the order of
// Analysis.Streams.
func TestCallStreamIndexLongCall(t *testing.T) {
	a := oneCallManyStreams()
	a.Streams = a.Streams[:3*streamSetMin]
	c := a.Calls[0]
	c.Streams = nil
	for i, s := range a.Streams {
		s.Call = c
		if i%3 == 0 {
			c.Streams = append(c.Streams, s)
		}
	}
	c.Streams = append(c.Streams, nil, c.Streams[0]) // a repeat stays, a nil goes
	a.Streams = append(a.Streams, a.Streams[1], nil) // a repeat goes
	var want []*diagnose.Stream
	for _, s := range c.Streams {
		if s != nil {
			want = append(want, s)
		}
	}
	for _, s := range a.Streams {
		if s != nil && !slices.Contains(want, s) {
			want = append(want, s)
		}
	}
	if got := indexCallStreams(a).streams(c); !slices.Equal(got, want) {
		t.Fatalf("streams: %d, want %d in order", len(got), len(want))
	}
}

// otherLegScan is what media.no-rtp did for each call without media.
func otherLegScan(a *diagnose.Analysis, announced []netip.AddrPort, from, to time.Time) (netip.AddrPort, *diagnose.Stream) {
	for _, s := range a.Streams {
		if s == nil || s.First.Time.After(to) || s.Last.Time.Before(from) {
			continue
		}
		if !slices.ContainsFunc(announced, func(x netip.AddrPort) bool {
			return x.Port() == unmapped(s.Src).Port() || x.Port() == unmapped(s.Dst).Port()
		}) {
			continue
		}
		for _, ep := range []netip.AddrPort{unmapped(s.Src), unmapped(s.Dst)} {
			if ep.Port() == 0 || slices.Contains(announced, ep) {
				continue
			}
			if slices.ContainsFunc(announced, func(x netip.AddrPort) bool { return x.Port() == ep.Port() }) {
				return ep, s
			}
		}
	}
	return netip.AddrPort{}, nil
}

func TestStreamsOnPortIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	port := func() uint16 { return oneOf[uint16](r, 0, 16384, 16386, 20000) }
	for trial := range indexTrials {
		a := &diagnose.Analysis{}
		for range r.IntN(40) {
			if r.IntN(10) == 0 {
				a.Streams = append(a.Streams, nil)
				continue
			}
			s := &diagnose.Stream{Src: netip.AddrPortFrom(few(r, 0).Addr(), port()), Dst: netip.AddrPortFrom(few(r, 0).Addr(), port())}
			first := r.IntN(100)
			s.First.Time, s.Last.Time = at(float64(first)), at(float64(first+r.IntN(30)-5)) // sometimes ending before it began
			a.Streams = append(a.Streams, s)
		}
		if r.IntN(4) == 0 && len(a.Streams) > 0 {
			a.Streams = append(a.Streams, a.Streams[r.IntN(len(a.Streams))]) // listed twice
		}
		ix := indexStreamEndpoints(a)
		for range 8 {
			var announced []netip.AddrPort
			for range 1 + r.IntN(3) {
				announced = append(announced, netip.AddrPortFrom(few(r, 0).Addr(), port()))
			}
			from := at(float64(r.IntN(120)))
			to := from.Add(time.Duration(r.IntN(40)) * time.Second)
			gotEP, got := ix.otherLeg(announced, from, to)
			wantEP, want := otherLegScan(a, announced, from, to)
			if got != want || gotEP != wantEP {
				t.Fatalf("trial %d: announced %v from %s to %s: index %v %p, scan %v %p", trial, announced, from, to, gotEP, got, wantEP, want)
			}
		}
	}
}

// ackStoryScan is what sip.ack-missing did for each repeated 2xx: look
// through all of the call's transactions.
func ackStoryScan(c *diagnose.Call, invite *diagnose.SIPTransaction, ok *diagnose.SIPResponse) *ackStory {
	s := &ackStory{call: c, invite: invite, ok: ok}
	legs := 0
	for _, t := range c.Transactions {
		if t != nil && t.Method == "INVITE" && t.CSeq == invite.CSeq {
			legs++
		}
	}
	for _, t := range c.Transactions {
		if t == nil || t.Method != "ACK" || t.CSeq != invite.CSeq || len(t.Requests) == 0 {
			continue
		}
		if t.ToTag != "" && ok.ToTag != "" && t.ToTag != ok.ToTag {
			continue
		}
		if legs > 1 && t.Client.Addr() != invite.Client.Addr() {
			continue
		}
		s.acks = append(s.acks, t)
		if first := t.Requests[0]; s.firstACK.Frame == 0 || first.Time.Before(s.firstACK.Time) {
			s.firstACK = first
		}
	}
	for _, rr := range ok.Resent {
		if s.firstACK.Frame != 0 && !rr.Time.Before(s.firstACK.Time) {
			s.after++
		} else {
			s.before++
		}
	}
	if extra := ok.Retransmissions - len(ok.Resent); extra > 0 {
		if s.after > 0 {
			s.after += extra
		} else {
			s.before += extra
		}
	}
	for _, t := range c.Transactions {
		if t == nil || t.Method != "BYE" || len(t.Requests) == 0 || t.Requests[0].Time.Before(ok.Time) {
			continue
		}
		switch from := t.Client.Addr(); {
		case from == ok.From.Addr() && s.bye == nil:
			s.bye = t
		case from == invite.Client.Addr() && s.callerBye == nil:
			s.callerBye = t
		}
	}
	return s
}

func TestCallRequestsIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for trial := range indexTrials {
		c := &diagnose.Call{}
		for range r.IntN(14) {
			tx := randomSIPTransaction(r)
			if tx != nil {
				tx.Method, tx.CSeq, tx.ToTag = oneOf(r, "INVITE", "ACK", "ACK", "BYE", "OPTIONS"), uint32(1+r.IntN(2)), oneOf(r, "", "a", "b")
			}
			c.Transactions = append(c.Transactions, tx)
		}
		dialog := newCallRequests(c)
		for _, inv := range c.Transactions {
			if inv == nil || inv.Method != "INVITE" {
				continue
			}
			ok := &diagnose.SIPResponse{FrameRef: diagnose.FrameRef{Frame: 1, Time: sometime(r)}, Status: 200, From: few(r, 5070),
				ToTag: oneOf(r, "", "a"), Retransmissions: r.IntN(4), Resent: []diagnose.FrameRef{{Frame: 2, Time: sometime(r)}}}
			got, want := newACKStory(dialog, c, inv, ok), ackStoryScan(c, inv, ok)
			if !slices.Equal(got.acks, want.acks) || got.firstACK != want.firstACK || got.before != want.before || got.after != want.after ||
				got.bye != want.bye || got.callerBye != want.callerBye {
				t.Fatalf("trial %d: story %+v, the scan's %+v", trial, got, want)
			}
		}
	}
}
