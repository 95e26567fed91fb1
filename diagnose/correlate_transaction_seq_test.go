package diagnose

import (
	"math"
	"slices"
	"testing"

	"github.com/callscope/callscope/decode/stun"
)

// TestTransactionSeqRenumbered runs the same transactions with the
// sequence numbers running out midway: renumbering must leave the kept
// transactions in order of first appearance, as without it.
func TestTransactionSeqRenumbered(t *testing.T) {
	var events []simEvent
	for i := range 600 {
		var id stun.TransactionID
		id[0], id[1], id[2] = byte(i), byte(i>>8), 0x5a
		method := stun.MethodBinding
		if i%5 == 0 {
			method = stun.MethodAllocate
		}
		req := simRequest(method, 0)
		req.Transaction = id
		sec := float64(i) * 0.01
		events = append(events, fromClient(sec, req))
		switch {
		case i%7 == 3: // unanswered: stays open, closed later
		case i%11 == 5:
			r := simFailure(method, 0, 487)
			r.Transaction = id
			// Answered after later requests, so that transactions close
			// out of order.
			events = append(events, fromServer(sec+0.035, r))
		default:
			r := simSuccess(method, 0)
			r.Transaction = id
			events = append(events, fromServer(sec+0.005, r))
		}
	}
	slices.SortStableFunc(events, func(a, b simEvent) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
	firsts := func(a *Analysis) []uint64 {
		var out []uint64
		for _, tx := range a.Transactions {
			out = append(out, tx.Requests[0].Frame)
		}
		return out
	}
	want := firsts(simulate(t, NewEngine(Options{}), events, 100))
	if len(want) < 100 || !slices.IsSorted(want) {
		t.Fatalf("%d transactions kept, in order %v", len(want), want)
	}
	for _, before := range []uint64{1, 50, 300, 599} {
		e := NewEngine(Options{})
		e.seq = math.MaxUint32 - before
		if got := firsts(simulate(t, e, events, 100)); !slices.Equal(got, want) {
			t.Errorf("renumbered after %d: transactions %v, want %v", before, got, want)
		}
		if e.seq >= 700 {
			t.Errorf("renumbered after %d: next number %d, want the count kept or open", before, e.seq)
		}
	}
}
