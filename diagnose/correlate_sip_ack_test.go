package diagnose

import (
	"slices"
	"testing"
)

// TestSIP2xxRetransmissions checks what sip.ack-missing reads: the
// callee's copies of its 200 OK (RFC 3261 §13.3.1.4) with their frames
// and times, the 200's Contact, and the ACK, a transaction of its own
// with the INVITE's CSeq number (§13.2.2.4) sent to that Contact.
func TestSIP2xxRetransmissions(t *testing.T) {
	A, P := sipAlice, sipProxy
	inside := "sip:bob@10.0.0.5:5060"
	withContact := func(c string) sipOpt { return func(s *sipSpec) { s.contact = c } }
	ok := func(at float64) sipEvent {
		return sipResp(at, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withSDP(), withContact(inside))
	}
	events := []sipEvent{
		sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()), // 1
		ok(1), // 2
		sipReq(1.01, A, sipBob, "ACK", "z9hG4bK-2", 1, withToTag("b1")), // 3: to the Contact, not where the INVITE went
		ok(1.5), // 4
		sipReq(1.51, A, sipBob, "ACK", "z9hG4bK-2", 1, withToTag("b1")), // 5: the same ACK again
		ok(2.5), // 6
		ok(4.5), // 7
	}
	a := simulateSIP(t, NewEngine(Options{}), events, 10)
	inv := a.SIPTransactions[0]
	if inv.Method != "INVITE" || len(inv.Responses) != 1 {
		t.Fatalf("INVITE transaction %+v", inv)
	}
	r := inv.Responses[0]
	if r.Frame != 2 || r.Retransmissions != 3 {
		t.Errorf("200 in frame %d with %d retransmissions, want frame 2 and 3", r.Frame, r.Retransmissions)
	}
	var frames []uint64
	for _, f := range r.Resent {
		frames = append(frames, f.Frame)
	}
	if !slices.Equal(frames, []uint64{4, 6, 7}) || r.Resent[2].Time != simAt(4.5) {
		t.Errorf("resent %+v, want frames 4, 6, 7, the last at 4.5 s", r.Resent)
	}
	if r.ContactHost != "10.0.0.5:5060" {
		t.Errorf("200's Contact host %q, want 10.0.0.5:5060", r.ContactHost)
	}
	if inv.ContactHost != "192.0.2.10:5060" {
		t.Errorf("INVITE's Contact host %q: the 200's must not overwrite it", inv.ContactHost)
	}
	ack := a.SIPTransactions[1]
	if ack.Method != "ACK" || ack.CSeq != 1 || ack.ToTag != "b1" || ack.Server != sipBob || ack.RequestCount != 2 {
		t.Errorf("ACK transaction %+v", ack)
	}
	if c := onlyCall(t, a); !slices.Contains(c.Transactions, ack) {
		t.Errorf("the ACK is not among the call's transactions")
	}
}
