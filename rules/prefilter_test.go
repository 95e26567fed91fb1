package rules

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/diagnose"
)

// requestCopiesScan is how sip.alg-suspected grouped the copies of a
// request before findRequestCopies: a map keyed on the request's fields.
func requestCopiesScan(txs []*diagnose.SIPTransaction) [][]*diagnose.SIPTransaction {
	type key struct {
		callID, method, branch string
		cseq                   uint32
	}
	copies := map[key][]*diagnose.SIPTransaction{}
	var order []key
	for _, t := range txs {
		if t == nil || len(t.Requests) == 0 || !t.Client.IsValid() || !strings.HasPrefix(t.Branch, "z9hG4bK") || t.CallID == "" {
			continue
		}
		k := key{t.CallID, t.Method, t.Branch, t.CSeq}
		if _, ok := copies[k]; !ok {
			order = append(order, k)
		}
		copies[k] = append(copies[k], t)
	}
	var out [][]*diagnose.SIPTransaction
	for _, k := range order {
		if len(copies[k]) >= 2 {
			out = append(out, copies[k])
		}
	}
	return out
}

func TestRequestCopies(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range indexTrials {
		var txs []*diagnose.SIPTransaction
		for range r.IntN(30) {
			tx := randomSIPTransaction(r)
			if tx != nil {
				tx.CallID = oneOf(r, "", "c1", "c2", "c1@10.0.0.1")
				tx.Branch = oneOf(r, "", "z9hG4bK1", "z9hG4bK2", "old-branch")
				tx.CSeq = uint32(1 + r.IntN(2))
			}
			txs = append(txs, tx)
		}
		got, want := findRequestCopies(txs), requestCopiesScan(txs)
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("trial %d: %d requests with copies, want %d, in order", trial, len(got), len(want))
		}
	}
}

func TestCallHasStreams(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for trial := range indexTrials {
		calls := []*diagnose.Call{{}, {}, {}}
		a := &diagnose.Analysis{Calls: calls}
		for range r.IntN(6) {
			s := &diagnose.Stream{SSRC: r.Uint32()}
			if r.IntN(3) > 0 {
				s.Call = oneOf(r, calls...)
			}
			a.Streams = append(a.Streams, oneOf(r, s, s, nil))
			if c := oneOf(r, calls...); r.IntN(3) == 0 {
				c.Streams = append(c.Streams, oneOf(r, s, nil))
			}
		}
		ix := indexCallStreams(a)
		for i, c := range calls {
			if got, want := ix.hasStreams(c), len(ix.streams(c)) > 0; got != want {
				t.Fatalf("trial %d, call %d: hasStreams %v, streams %d", trial, i, got, len(ix.streams(c)))
			}
		}
	}
}

// callSDPs may hand out the call's own slice: an append to what it
// returns must not write into the Analysis.
func TestCallSDPsAppendLeavesCall(t *testing.T) {
	offer := &diagnose.SDPSeen{Session: &sdp.Session{Connection: netip.MustParseAddr("10.0.0.1")}}
	answer := &diagnose.SDPSeen{Session: &sdp.Session{Connection: netip.MustParseAddr("10.0.0.2")}}
	c := &diagnose.Call{SDPs: make([]*diagnose.SDPSeen, 2, 4)}
	c.SDPs[0], c.SDPs[1] = offer, answer
	got := callSDPs(c)
	if !slices.Equal(got, c.SDPs) {
		t.Fatalf("callSDPs: %v, want the call's SDPs", got)
	}
	grown := append(got, &diagnose.SDPSeen{})
	if all := c.SDPs[:cap(c.SDPs)]; all[2] == grown[2] {
		t.Fatal("an append to callSDPs' result wrote into the call's SDPs")
	}
	c.SDPs = append(c.SDPs, &diagnose.SDPSeen{}) // no session: left out
	if got := callSDPs(c); !slices.Equal(got, []*diagnose.SDPSeen{offer, answer}) {
		t.Fatalf("callSDPs with a sessionless SDP: %d SDPs, want 2", len(got))
	}
}
