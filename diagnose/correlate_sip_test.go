package diagnose

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestSIPCalls follows calls from their INVITE to their end (RFC 3261
// §13-§15, §17) through the situations the rules must tell apart.
func TestSIPCalls(t *testing.T) {
	A, P := sipAlice, sipProxy
	tests := []struct {
		name   string
		events []sipEvent
		check  func(t *testing.T, a *Analysis)
	}{{
		name: "normal call",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),                                      // 1
			sipResp(0.010, P, A, 100, "Trying", "INVITE", "z9hG4bK-1", 1),                             // 2
			sipResp(1.000, P, A, 180, "Ringing", "INVITE", "z9hG4bK-1", 1, withToTag("b1")),           // 3
			sipResp(3.000, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withSDP()),     // 4
			sipReq(3.010, A, P, "ACK", "z9hG4bK-2", 1, withToTag("b1")),                               // 5
			sipReq(10, P, A, "BYE", "z9hG4bK-3", 7, withToTag("b1"), withReasonHdr("Q.850;cause=16")), // 6
			sipResp(10.01, A, P, 200, "OK", "BYE", "z9hG4bK-3", 7, withToTag("b1")),                   // 7
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Outcome != "answered" || c.FinalStatus != 200 || c.FinalReason != "OK" || c.AnsweredBy != P {
				t.Errorf("outcome %q %d %q by %v", c.Outcome, c.FinalStatus, c.FinalReason, c.AnsweredBy)
			}
			if c.PostDialDelay != time.Second || c.SetupTime != 3*time.Second {
				t.Errorf("PDD %v setup %v, want 1s 3s", c.PostDialDelay, c.SetupTime)
			}
			if c.CallID != "call-1@example.com" || c.From != "sip:alice@example.com" || c.To != "sip:bob@example.com" {
				t.Errorf("call %q from %q to %q", c.CallID, c.From, c.To)
			}
			if c.Caller != A || c.Callee != P || c.Invite.Frame != 1 || c.Answered.Frame != 4 {
				t.Errorf("caller %v callee %v invite %d answered %d", c.Caller, c.Callee, c.Invite.Frame, c.Answered.Frame)
			}
			if c.Ended.Frame != 6 || c.EndedBy != P || c.ReasonHeader != "Q.850;cause=16" {
				t.Errorf("ended %d by %v reason %q", c.Ended.Frame, c.EndedBy, c.ReasonHeader)
			}
			want := []string{"INVITE (SDP)", "100 Trying", "180 Ringing", "200 OK (SDP)", "ACK", "BYE", "200 OK"}
			if got := ladderLabels(c); !slices.Equal(got, want) {
				t.Errorf("ladder %q, want %q", got, want)
			}
			if s := c.Ladder[3]; s.From != P || s.To != A || s.Frame != 4 {
				t.Errorf("ladder step 4 = %+v", s)
			}
			if c.Offer == nil || c.Offer.Frame != 1 || c.Offer.From != A || c.Offer.Session == nil {
				t.Errorf("offer %+v", c.Offer)
			}
			if c.Answer == nil || c.Answer.Frame != 4 || c.Answer.From != P {
				t.Errorf("answer %+v", c.Answer)
			}
			if len(c.SDPs) != 2 {
				t.Errorf("%d SDPs, want 2", len(c.SDPs))
			}
			if len(a.SIPTransactions) != 3 || len(c.Transactions) != 3 {
				t.Fatalf("%d transactions, %d in the call; want 3", len(a.SIPTransactions), len(c.Transactions))
			}
			inv := a.SIPTransactions[0]
			if inv.Method != "INVITE" || inv.Branch != "z9hG4bK-1" || inv.CSeq != 1 || inv.Final != 2 ||
				!slices.Equal(statuses(inv), []int{100, 180, 200}) || !inv.HasSDP {
				t.Errorf("INVITE transaction %+v", inv)
			}
			if inv.UserAgent != "alice-phone/1.0" || inv.Responses[2].Server != "proxy/2.0" || inv.Responses[2].ToTag != "b1" {
				t.Errorf("UA %q server %q", inv.UserAgent, inv.Responses[2].Server)
			}
			if inv.ViaSentBy != A.String() || inv.ContactHost != "192.0.2.10:5060" || inv.Expires != -1 {
				t.Errorf("via %q contact host %q expires %d", inv.ViaSentBy, inv.ContactHost, inv.Expires)
			}
			if ack := a.SIPTransactions[1]; ack.Method != "ACK" || ack.Final != -1 || ack.RequestCount != 1 {
				t.Errorf("ACK transaction %+v", ack)
			}
			if bye := a.SIPTransactions[2]; bye.Method != "BYE" || bye.Client != P || bye.Final != 0 {
				t.Errorf("BYE transaction %+v", bye)
			}
			if len(a.Flows) != 2 || a.Flows[0].Class != "sip" || a.Flows[0].Src != A || a.Flows[0].Packets != 3 ||
				a.Flows[0].DSCP.Packets(24) != 3 || a.Flows[1].Packets != 4 || a.Flows[1].DSCP.Packets(0) != 4 ||
				!slices.Equal(a.Flows[0].Frames, []uint64{1, 5, 7}) {
				t.Errorf("flows %+v", a.Flows)
			}
		},
	}, {
		name: "proxy challenge answered",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()), // 1
			sipResp(0.01, P, A, 407, "Proxy Authentication Required", "INVITE", "z9hG4bK-1", 1,
				withToTag("p1"), withDigestChallenge("example.com", "n1", false)), // 2
			sipReq(0.02, A, P, "ACK", "z9hG4bK-1", 1, withToTag("p1")),                                        // 3
			sipReq(0.03, A, P, "INVITE", "z9hG4bK-2", 2, withSDP(), withDigest("alice", "example.com", "n1")), // 4
			sipResp(0.04, P, A, 100, "Trying", "INVITE", "z9hG4bK-2", 2),                                      // 5
			sipResp(2, P, A, 200, "OK", "INVITE", "z9hG4bK-2", 2, withToTag("b1"), withSDP()),                 // 6
			sipReq(2.01, A, P, "ACK", "z9hG4bK-3", 2, withToTag("b1")),                                        // 7
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Outcome != "answered" || c.FinalStatus != 200 || c.SetupTime != 2*time.Second {
				t.Errorf("outcome %q %d setup %v", c.Outcome, c.FinalStatus, c.SetupTime)
			}
			if len(a.SIPTransactions) != 3 {
				t.Fatalf("%d transactions, want 3 (the first ACK is part of the INVITE's)", len(a.SIPTransactions))
			}
			first, second := a.SIPTransactions[0], a.SIPTransactions[1]
			if first.ACKCount != 1 || first.ACK.Frame != 3 || first.Final != 0 {
				t.Errorf("first INVITE: ACK %d frame %d final %d", first.ACKCount, first.ACK.Frame, first.Final)
			}
			ch := first.Responses[0].Challenge
			if ch == nil || ch.Realm != "example.com" || ch.Nonce != "n1" || ch.Algorithm != "MD5" {
				t.Errorf("challenge %+v", ch)
			}
			au := second.Authorization
			if au == nil || au.Username != "alice" || au.Realm != "example.com" || au.Nonce != "n1" || au.QOP != "auth" {
				t.Errorf("authorization %+v", au)
			}
			if first.Authorization != nil {
				t.Errorf("first INVITE has credentials %+v", first.Authorization)
			}
			// The offer is the retried INVITE's: the challenged one's was void.
			if c.Offer == nil || c.Offer.Frame != 4 || c.Answer == nil || c.Answer.Frame != 6 {
				t.Errorf("offer %+v answer %+v", c.Offer, c.Answer)
			}
			want := []string{"INVITE (SDP)", "407 Proxy Authentication Required", "ACK", "INVITE (SDP)", "100 Trying", "200 OK (SDP)", "ACK"}
			if got := ladderLabels(c); !slices.Equal(got, want) {
				t.Errorf("ladder %q, want %q", got, want)
			}
		},
	}, {
		name: "busy",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
			sipResp(0.01, P, A, 100, "Trying", "INVITE", "z9hG4bK-1", 1),
			sipResp(0.5, P, A, 486, "Busy Here", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withReasonHdr("Q.850;cause=17")),
			sipReq(0.51, A, P, "ACK", "z9hG4bK-1", 1, withToTag("b1")),
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Outcome != "failed" || c.FinalStatus != 486 || c.FinalReason != "Busy Here" ||
				c.ReasonHeader != "Q.850;cause=17" || c.AnsweredBy != P {
				t.Errorf("outcome %q %d %q %q by %v", c.Outcome, c.FinalStatus, c.FinalReason, c.ReasonHeader, c.AnsweredBy)
			}
			if c.Answered.Frame != 0 || c.SetupTime != 0 || c.PostDialDelay != 0 {
				t.Errorf("answered %d setup %v pdd %v", c.Answered.Frame, c.SetupTime, c.PostDialDelay)
			}
			if len(a.SIPTransactions) != 1 || a.SIPTransactions[0].ACKCount != 1 {
				t.Errorf("transactions %+v", a.SIPTransactions)
			}
		},
	}, {
		name: "cancelled",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
			sipResp(0.5, P, A, 180, "Ringing", "INVITE", "z9hG4bK-1", 1, withToTag("b1")),
			sipReq(4, A, P, "CANCEL", "z9hG4bK-1", 1, withReasonHdr(`SIP;cause=487;text="ORIGINATOR_CANCEL"`)),
			sipResp(4.01, P, A, 200, "OK", "CANCEL", "z9hG4bK-1", 1),
			sipResp(4.02, P, A, 487, "Request Terminated", "INVITE", "z9hG4bK-1", 1, withToTag("b1")),
			sipReq(4.03, A, P, "ACK", "z9hG4bK-1", 1, withToTag("b1")),
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Outcome != "cancelled" || c.FinalStatus != 487 || c.PostDialDelay != 500*time.Millisecond {
				t.Errorf("outcome %q %d pdd %v", c.Outcome, c.FinalStatus, c.PostDialDelay)
			}
			if len(a.SIPTransactions) != 2 {
				t.Fatalf("%d transactions, want INVITE and CANCEL", len(a.SIPTransactions))
			}
			if cancel := a.SIPTransactions[1]; cancel.Method != "CANCEL" || cancel.Final != 0 || cancel.Responses[0].Status != 200 {
				t.Errorf("CANCEL transaction %+v", cancel)
			}
			if inv := a.SIPTransactions[0]; !slices.Equal(statuses(inv), []int{180, 487}) || inv.ACKCount != 1 {
				t.Errorf("INVITE transaction %+v", inv)
			}
			want := []string{"INVITE (SDP)", "180 Ringing", "CANCEL", "200 OK", "487 Request Terminated", "ACK"}
			if got := ladderLabels(c); !slices.Equal(got, want) {
				t.Errorf("ladder %q, want %q", got, want)
			}
		},
	}, {
		name: "487 without the caller's CANCEL",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1),
			sipResp(0.5, P, A, 487, "Request Terminated", "INVITE", "z9hG4bK-1", 1, withToTag("b1")),
		},
		check: func(t *testing.T, a *Analysis) {
			if c := onlyCall(t, a); c.Outcome != "failed" || c.FinalStatus != 487 {
				t.Errorf("outcome %q %d, want failed 487", c.Outcome, c.FinalStatus)
			}
		},
	}, {
		name: "INVITE retransmitted, never answered",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
			sipReq(0.5, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
			sipReq(1.5, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
			sipReq(3.5, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
			sipReq(7.5, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
			sipReq(15.5, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
			sipReq(31.5, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Outcome != "unanswered" || c.FinalStatus != 0 {
				t.Errorf("outcome %q %d", c.Outcome, c.FinalStatus)
			}
			if len(a.SIPTransactions) != 1 {
				t.Fatalf("%d transactions, want 1", len(a.SIPTransactions))
			}
			tx := a.SIPTransactions[0]
			if tx.RequestCount != 7 || tx.Final != -1 || !slices.Equal(frameNumbers(tx.Requests), []uint64{1, 2, 3, 4, 5, 6, 7}) {
				t.Errorf("RequestCount %d final %d requests %v", tx.RequestCount, tx.Final, frameNumbers(tx.Requests))
			}
			if len(c.Ladder) != 7 || c.Ladder[1].Label != "INVITE (SDP) (retransmission)" {
				t.Errorf("ladder %q", ladderLabels(c))
			}
			if len(c.SDPs) != 1 {
				t.Errorf("%d SDPs, want 1: retransmissions are not new offers", len(c.SDPs))
			}
		},
	}, {
		name: "forked",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),                                 // 1
			sipResp(0.2, P, A, 180, "Ringing", "INVITE", "z9hG4bK-1", 1, withToTag("fork1")),     // 2
			sipResp(0.3, P, A, 180, "Ringing", "INVITE", "z9hG4bK-1", 1, withToTag("fork2")),     // 3
			sipResp(0.4, P, A, 180, "Ringing", "INVITE", "z9hG4bK-1", 1, withToTag("fork1")),     // 4: retransmission
			sipResp(2, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("fork2"), withSDP()), // 5
			sipReq(2.1, A, P, "ACK", "z9hG4bK-2", 1, withToTag("fork2")),                         // 6
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if !slices.Equal(c.ToTags, []string{"fork1", "fork2"}) {
				t.Errorf("ToTags %q", c.ToTags)
			}
			if c.Outcome != "answered" || c.Answered.Frame != 5 || c.PostDialDelay != 200*time.Millisecond {
				t.Errorf("outcome %q answered %d pdd %v", c.Outcome, c.Answered.Frame, c.PostDialDelay)
			}
			inv := a.SIPTransactions[0]
			if !slices.Equal(statuses(inv), []int{180, 180, 200}) || inv.Responses[0].Retransmissions != 1 ||
				inv.Responses[1].Retransmissions != 0 || inv.Responses[1].ToTag != "fork2" || inv.Final != 2 {
				t.Errorf("responses %+v", inv.Responses)
			}
		},
	}, {
		name: "late offer",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1),                                         // 1
			sipResp(1, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withSDP()), // 2
			sipReq(1.1, A, P, "ACK", "z9hG4bK-2", 1, withToTag("b1"), withSDP()),              // 3
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Offer == nil || c.Offer.Frame != 2 || c.Offer.From != P {
				t.Errorf("offer %+v, want frame 2 from the callee", c.Offer)
			}
			if c.Answer == nil || c.Answer.Frame != 3 || c.Answer.From != A {
				t.Errorf("answer %+v, want the ACK's", c.Answer)
			}
			if got := ladderLabels(c); !slices.Equal(got, []string{"INVITE", "200 OK (SDP)", "ACK (SDP)"}) {
				t.Errorf("ladder %q", got)
			}
		},
	}, {
		name: "re-INVITE",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1, withSDP()),                              // 1
			sipResp(1, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withSDP()), // 2
			sipReq(1.1, A, P, "ACK", "z9hG4bK-2", 1, withToTag("b1")),                         // 3
			sipReq(60, A, P, "INVITE", "z9hG4bK-4", 2, withToTag("b1"), withSDP()),            // 4: hold
			sipResp(60.1, P, A, 200, "OK", "INVITE", "z9hG4bK-4", 2, withToTag("b1"), withSDP()),
			sipReq(60.2, A, P, "ACK", "z9hG4bK-5", 2, withToTag("b1")),
			sipReq(90, A, P, "BYE", "z9hG4bK-6", 3, withToTag("b1")), // 7
			sipResp(90.1, P, A, 200, "OK", "BYE", "z9hG4bK-6", 3, withToTag("b1")),
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Outcome != "answered" || c.Answered.Frame != 2 || c.SetupTime != time.Second || c.Ended.Frame != 7 || c.EndedBy != A {
				t.Errorf("outcome %q answered %d setup %v ended %d", c.Outcome, c.Answered.Frame, c.SetupTime, c.Ended.Frame)
			}
			var methods []string
			for _, tx := range c.Transactions {
				methods = append(methods, tx.Method)
			}
			if want := []string{"INVITE", "ACK", "INVITE", "ACK", "BYE"}; !slices.Equal(methods, want) {
				t.Errorf("transactions %q, want %q", methods, want)
			}
			if c.Offer.Frame != 1 || c.Answer.Frame != 2 || len(c.SDPs) != 4 || c.SDPs[2].Frame != 4 {
				t.Errorf("offer %d answer %d, %d SDPs", c.Offer.Frame, c.Answer.Frame, len(c.SDPs))
			}
			if c.Preexisting {
				t.Error("Preexisting set")
			}
		},
	}, {
		name: "capture starts mid-call",
		events: []sipEvent{
			sipResp(0, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withSDP()), // 1: no request
			sipResp(0.5, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withSDP()),
			sipReq(0.6, A, P, "ACK", "z9hG4bK-2", 1, withToTag("b1")),
			sipReq(5, A, P, "BYE", "z9hG4bK-3", 2, withToTag("b1")),
			sipResp(5.1, P, A, 200, "OK", "BYE", "z9hG4bK-3", 2, withToTag("b1")),
		},
		check: func(t *testing.T, a *Analysis) {
			if len(a.Calls) != 0 {
				t.Errorf("%d calls from a response alone", len(a.Calls))
			}
			if a.OrphanSIPResponses != 1 || len(a.SIPTransactions) != 3 {
				t.Fatalf("orphans %d, %d transactions", a.OrphanSIPResponses, len(a.SIPTransactions))
			}
			o := a.SIPTransactions[0]
			if o.Method != "INVITE" || o.RequestCount != 0 || o.Client != A || o.Server != P || o.Final != 0 ||
				o.Responses[0].Retransmissions != 1 || o.CallID != "call-1@example.com" {
				t.Errorf("orphan transaction %+v", o)
			}
		},
	}, {
		name: "re-INVITE first: the call predates the capture",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-4", 2, withToTag("b1"), withSDP()),
			sipResp(0.1, P, A, 200, "OK", "INVITE", "z9hG4bK-4", 2, withToTag("b1"), withSDP()),
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if !c.Preexisting || c.Outcome != "answered" || c.Answered.Frame != 0 || c.SetupTime != 0 {
				t.Errorf("preexisting %v outcome %q answered %d setup %v", c.Preexisting, c.Outcome, c.Answered.Frame, c.SetupTime)
			}
		},
	}, {
		name: "RFC 2543 branch",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "", 1),
			sipResp(0.1, P, A, 100, "Trying", "INVITE", "", 1),
			sipResp(0.2, P, A, 404, "Not Found", "INVITE", "", 1, withToTag("x")),
			sipReq(0.3, A, P, "ACK", "", 1, withToTag("x")),
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Outcome != "failed" || c.FinalStatus != 404 {
				t.Errorf("outcome %q %d", c.Outcome, c.FinalStatus)
			}
			if len(a.SIPTransactions) != 1 || a.SIPTransactions[0].ACKCount != 1 || a.OrphanSIPResponses != 0 {
				t.Errorf("%d transactions, orphans %d", len(a.SIPTransactions), a.OrphanSIPResponses)
			}
		},
	}, {
		name: "challenge never answered",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1),
			sipResp(0.01, P, A, 401, "Unauthorized", "INVITE", "z9hG4bK-1", 1, withToTag("p1"), withDigestChallenge("r", "n1", false)),
			sipReq(0.02, A, P, "ACK", "z9hG4bK-1", 1, withToTag("p1")),
		},
		check: func(t *testing.T, a *Analysis) {
			if c := onlyCall(t, a); c.Outcome != "challenged" || c.FinalStatus != 401 {
				t.Errorf("outcome %q %d", c.Outcome, c.FinalStatus)
			}
		},
	}, {
		name: "credentials rejected",
		events: []sipEvent{
			sipReq(0, A, P, "INVITE", "z9hG4bK-1", 1),
			sipResp(0.01, P, A, 407, "Proxy Authentication Required", "INVITE", "z9hG4bK-1", 1, withToTag("p1"), withDigestChallenge("r", "n1", false)),
			sipReq(0.02, A, P, "ACK", "z9hG4bK-1", 1, withToTag("p1")),
			sipReq(0.03, A, P, "INVITE", "z9hG4bK-2", 2, withDigest("alice", "r", "n1")),
			sipResp(0.04, P, A, 407, "Proxy Authentication Required", "INVITE", "z9hG4bK-2", 2, withToTag("p2"), withDigestChallenge("r", "n2", false)),
		},
		check: func(t *testing.T, a *Analysis) {
			if c := onlyCall(t, a); c.Outcome != "failed" || c.FinalStatus != 407 {
				t.Errorf("outcome %q %d, want failed 407", c.Outcome, c.FinalStatus)
			}
		},
	}, {
		// Without rport a UDP response goes to the Via sent-by port, not
		// to the request's source port (RFC 3261 §18.2.2).
		name: "responses to the Via sent-by port",
		events: []sipEvent{
			sipReq(0, viaClient, P, "INVITE", "z9hG4bK-1", 1, withSDP(), withVia(A.String())),
			sipResp(0.01, P, A, 100, "Trying", "INVITE", "z9hG4bK-1", 1, withVia(A.String())),
			sipResp(0.1, P, A, 180, "Ringing", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withVia(A.String())),
			sipResp(1, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), withSDP(), withVia(A.String())),
			sipReq(1.01, viaClient, P, "ACK", "z9hG4bK-2", 1, withToTag("b1"), withVia(A.String())),
			sipReq(6, viaClient, P, "BYE", "z9hG4bK-3", 2, withToTag("b1"), withVia(A.String())),
			sipResp(6.01, P, A, 200, "OK", "BYE", "z9hG4bK-3", 2, withToTag("b1"), withVia(A.String())),
		},
		check: func(t *testing.T, a *Analysis) {
			c := onlyCall(t, a)
			if c.Outcome != "answered" || c.Ended.Frame != 6 {
				t.Errorf("outcome %q ended %d, want answered and ended at 6", c.Outcome, c.Ended.Frame)
			}
			if a.OrphanSIPResponses != 0 || len(a.SIPTransactions) != 3 {
				t.Errorf("%d orphan responses, %d transactions; want 0 and 3", a.OrphanSIPResponses, len(a.SIPTransactions))
			}
			if inv := a.SIPTransactions[0]; !slices.Equal(statuses(inv), []int{100, 180, 200}) || inv.Client != viaClient {
				t.Errorf("INVITE from %v got %v", inv.Client, statuses(inv))
			}
		},
	}, {
		// Two clients reusing one branch: the response's destination, the
		// Via sent-by of one request, tells them apart.
		name: "one branch open for two clients",
		events: []sipEvent{
			sipReq(0, natInside1, P, "OPTIONS", "z9hG4bK-same", 1, withCallID("x1"), withVia("10.0.0.5")),
			sipReq(0.01, natInside2, P, "OPTIONS", "z9hG4bK-same", 1, withCallID("x2"), withVia("10.0.0.6:5070")),
			sipResp(0.02, P, netip.MustParseAddrPort("10.0.0.6:5070"), 200, "OK", "OPTIONS", "z9hG4bK-same", 1, withCallID("x2"), withVia("10.0.0.6:5070")),
			sipResp(0.03, P, netip.MustParseAddrPort("10.0.0.5:5060"), 404, "Not Found", "OPTIONS", "z9hG4bK-same", 1, withCallID("x1"), withVia("10.0.0.5")),
		},
		check: func(t *testing.T, a *Analysis) {
			if len(a.SIPTransactions) != 2 || a.OrphanSIPResponses != 0 {
				t.Fatalf("%d transactions, %d orphans; want 2 and 0", len(a.SIPTransactions), a.OrphanSIPResponses)
			}
			one, two := a.SIPTransactions[0], a.SIPTransactions[1]
			if !slices.Equal(statuses(one), []int{404}) || !slices.Equal(statuses(two), []int{200}) {
				t.Errorf("first client got %v, second %v; want [404] and [200]", statuses(one), statuses(two))
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := tt.events
			if tt.name == "normal call" {
				for i := range events {
					if events[i].src == A {
						events[i].dscp = 24
					}
				}
			}
			tt.check(t, simulateSIP(t, NewEngine(Options{}), events, 100))
		})
	}
}

var (
	viaClient  = netip.MustParseAddrPort("192.0.2.10:40000")
	natInside1 = netip.MustParseAddrPort("10.0.0.5:40001")
	natInside2 = netip.MustParseAddrPort("10.0.0.6:40002")
)

func onlyCall(t *testing.T, a *Analysis) *Call {
	t.Helper()
	if len(a.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(a.Calls))
	}
	return a.Calls[0]
}

// TestSIPRegistrations follows REGISTER through its challenge to success
// or failure (RFC 3261 §10, §22).
func TestSIPRegistrations(t *testing.T) {
	A, R := sipAlice, sipProxy
	reg := func(at float64, branch string, cseq uint32, opts ...sipOpt) sipEvent {
		e := sipReq(at, A, R, "REGISTER", branch, cseq, append([]sipOpt{withCallID("reg-1"), withExpires(3600)}, opts...)...)
		e.spec.toURI = "sip:alice@example.com"
		return e
	}
	resp := func(at float64, status int, reason, branch string, cseq uint32, opts ...sipOpt) sipEvent {
		e := sipResp(at, R, A, status, reason, "REGISTER", branch, cseq, append([]sipOpt{withCallID("reg-1"), withToTag("r")}, opts...)...)
		e.spec.toURI = "sip:alice@example.com"
		return e
	}
	challenge := func(nonce string) sipOpt { return withDigestChallenge("example.com", nonce, false) }
	creds := func(nonce string) sipOpt { return withDigest("alice", "example.com", nonce) }
	tests := []struct {
		name        string
		events      []sipEvent
		outcome     string
		status      int
		expires     int
		refreshes   int
		interval    time.Duration
		nonces      []string // of the challenges, in order
		transaction int
		deregister  string
	}{{
		name: "challenge then registered",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1),
			resp(0.01, 401, "Unauthorized", "z9hG4bK-1", 1, challenge("n1")),
			reg(0.02, "z9hG4bK-2", 2, creds("n1")),
			// The registrar lists another binding of the AOR first.
			resp(0.03, 200, "OK", "z9hG4bK-2", 2, withContactExpires(3600, "<sip:alice@198.51.100.77>;expires=120"), withExpires(7200)),
		},
		outcome: "registered", status: 200, expires: 3600, nonces: []string{"n1"}, transaction: 2,
	}, {
		name: "refreshed",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1, creds("n1")),
			resp(0.01, 200, "OK", "z9hG4bK-1", 1, withExpires(600)),
			reg(300, "z9hG4bK-2", 2, creds("n1")),
			resp(300.01, 200, "OK", "z9hG4bK-2", 2, withExpires(600)),
			reg(600, "z9hG4bK-3", 3, creds("n1")),
			resp(600.01, 200, "OK", "z9hG4bK-3", 3, withExpires(600)),
		},
		outcome: "registered", status: 200, expires: 600, refreshes: 2, interval: 300 * time.Second, transaction: 3,
	}, {
		name: "rejected, new nonce each time",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1),
			resp(0.01, 401, "Unauthorized", "z9hG4bK-1", 1, challenge("n1")),
			reg(0.02, "z9hG4bK-2", 2, creds("n1")),
			resp(0.03, 401, "Unauthorized", "z9hG4bK-2", 2, challenge("n2")),
			reg(0.04, "z9hG4bK-3", 3, creds("n2")),
			resp(0.05, 401, "Unauthorized", "z9hG4bK-3", 3, challenge("n3")),
		},
		outcome: "failed", status: 401, expires: -1, nonces: []string{"n1", "n2", "n3"}, transaction: 3,
	}, {
		name: "rejected, same nonce",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1),
			resp(0.01, 401, "Unauthorized", "z9hG4bK-1", 1, challenge("n1")),
			reg(0.02, "z9hG4bK-2", 2, creds("n1")),
			resp(0.03, 401, "Unauthorized", "z9hG4bK-2", 2, challenge("n1")),
			reg(0.04, "z9hG4bK-3", 3, creds("n1")),
			resp(0.05, 401, "Unauthorized", "z9hG4bK-3", 3, challenge("n1")),
		},
		outcome: "failed", status: 401, expires: -1, nonces: []string{"n1", "n1", "n1"}, transaction: 3,
	}, {
		name: "challenged only",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1),
			resp(0.01, 401, "Unauthorized", "z9hG4bK-1", 1, challenge("n1")),
		},
		outcome: "challenged", status: 401, expires: -1, nonces: []string{"n1"}, transaction: 1,
	}, {
		name: "unregistered",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1, creds("n1"), withExpires(0)),
			resp(0.01, 200, "OK", "z9hG4bK-1", 1),
		},
		outcome: "unregistered", status: 200, expires: 0, transaction: 1, deregister: "unregistered",
	}, {
		name: "forbidden",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1),
			resp(0.01, 403, "Forbidden", "z9hG4bK-1", 1),
		},
		outcome: "failed", status: 403, expires: -1, transaction: 1,
	}, {
		name: "unanswered",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1),
			reg(0.5, "z9hG4bK-1", 1),
			reg(1.5, "z9hG4bK-1", 1),
		},
		outcome: "unanswered", expires: -1, transaction: 1,
	}, {
		// nDPI sip.pcap: registered, then the de-REGISTER (Expires 0) is
		// refused; the binding stays until it expires.
		name: "de-REGISTER refused after registration",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1, creds("n1"), withExpires(1200)),
			resp(0.01, 200, "OK", "z9hG4bK-1", 1, withExpires(1200)),
			reg(500, "z9hG4bK-2", 2, withExpires(0)),
			resp(500.01, 401, "Unauthorized", "z9hG4bK-2", 2, challenge("n2")),
			reg(500.02, "z9hG4bK-3", 3, creds("n2"), withExpires(0)),
			resp(500.03, 401, "nonce has changed", "z9hG4bK-3", 3, challenge("n3")),
		},
		outcome: "registered", status: 200, expires: 1200, nonces: []string{"n2", "n3"}, transaction: 3, deregister: "failed",
	}, {
		name: "registration after a refused de-REGISTER",
		events: []sipEvent{
			reg(0, "z9hG4bK-1", 1, creds("n1"), withExpires(0)),
			resp(0.01, 403, "Forbidden", "z9hG4bK-1", 1),
			reg(1, "z9hG4bK-2", 2, creds("n1"), withExpires(60)),
			resp(1.01, 200, "OK", "z9hG4bK-2", 2, withExpires(60)),
		},
		outcome: "registered", status: 200, expires: 60, transaction: 2,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := simulateSIP(t, NewEngine(Options{}), tt.events, 1000)
			if len(a.Calls) != 0 {
				t.Errorf("%d calls from REGISTER", len(a.Calls))
			}
			if len(a.Registrations) != 1 {
				t.Fatalf("%d registrations, want 1", len(a.Registrations))
			}
			r := a.Registrations[0]
			if r.Outcome != tt.outcome || r.FinalStatus != tt.status || r.Expires != tt.expires {
				t.Errorf("outcome %q status %d expires %d, want %q %d %d", r.Outcome, r.FinalStatus, r.Expires, tt.outcome, tt.status, tt.expires)
			}
			if r.Deregister != tt.deregister {
				t.Errorf("deregister %q, want %q", r.Deregister, tt.deregister)
			}
			if r.Refreshes != tt.refreshes || r.Interval != tt.interval {
				t.Errorf("refreshes %d interval %v, want %d %v", r.Refreshes, r.Interval, tt.refreshes, tt.interval)
			}
			if len(r.Transactions) != tt.transaction {
				t.Errorf("%d transactions, want %d", len(r.Transactions), tt.transaction)
			}
			var nonces []string
			for _, tx := range r.Transactions {
				if tx.Final >= 0 && tx.Responses[tx.Final].Challenge != nil {
					nonces = append(nonces, tx.Responses[tx.Final].Challenge.Nonce)
				}
			}
			if !slices.Equal(nonces, tt.nonces) {
				t.Errorf("challenge nonces %q, want %q", nonces, tt.nonces)
			}
			if r.AOR != "sip:alice@example.com" || r.Client != A || r.Registrar != R || r.Contact != "sip:alice@192.0.2.10:5060" {
				t.Errorf("AOR %q client %v registrar %v contact %q", r.AOR, r.Client, r.Registrar, r.Contact)
			}
			if r.First.Frame != 1 || r.Last.Frame != uint64(len(tt.events)) {
				t.Errorf("first %d last %d", r.First.Frame, r.Last.Frame)
			}
			authed := false
			for _, ev := range tt.events {
				authed = authed || ev.spec.authorization != nil
			}
			if authed && (r.Username != "alice" || r.Realm != "example.com") {
				t.Errorf("username %q realm %q", r.Username, r.Realm)
			}
		})
	}
}

// TestSIPTransactionTimers checks that transactions close after their
// linger time, and that a ringing INVITE stays open past Timer B.
func TestSIPTransactionTimers(t *testing.T) {
	A, P := sipAlice, sipProxy
	events := []sipEvent{
		sipReq(0, A, P, "OPTIONS", "z9hG4bK-o", 1, withCallID("opt")),
		// Past SIPTransactionLinger: the OPTIONS is closed, this is an orphan.
		sipResp(50, P, A, 200, "OK", "OPTIONS", "z9hG4bK-o", 1, withCallID("opt")),
		sipReq(60, A, P, "INVITE", "z9hG4bK-1", 1),
		sipResp(60.1, P, A, 180, "Ringing", "INVITE", "z9hG4bK-1", 1, withToTag("b")),
		// Ringing for 2 minutes: still the same transaction.
		sipResp(180, P, A, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b")),
	}
	a := simulateSIP(t, NewEngine(Options{}), events, 200)
	if a.OrphanSIPResponses != 1 || len(a.SIPTransactions) != 3 {
		t.Fatalf("orphans %d, %d transactions; want 1, 3", a.OrphanSIPResponses, len(a.SIPTransactions))
	}
	if opt := a.SIPTransactions[0]; opt.Final != -1 {
		t.Errorf("OPTIONS final %d, want unanswered", opt.Final)
	}
	c := onlyCall(t, a)
	if c.Outcome != "answered" || c.SetupTime != 120*time.Second {
		t.Errorf("outcome %q setup %v", c.Outcome, c.SetupTime)
	}
}

// TestSIPLimits checks the caps that bound memory on hostile input.
func TestSIPLimits(t *testing.T) {
	A, P := sipAlice, sipProxy
	var events []sipEvent
	for i := range MaxLadderSteps + 6 {
		events = append(events, sipReq(float64(i)*0.1, A, P, "INVITE", "z9hG4bK-1", 1))
	}
	events = append(events,
		sipReq(10, A, P, "INVITE", "z9hG4bK-2", 1, withCallID("second")),
		sipReq(10.1, A, P, "OPTIONS", "z9hG4bK-3", 1, withCallID("third")),
		sipReq(10.2, A, P, "OPTIONS", "z9hG4bK-4", 1, withCallID("fourth")),
	)
	e := NewEngine(Options{})
	e.sip.init(&e.opts)
	e.sip.maxCalls = 1
	e.sip.maxOpen = 2
	e.sip.maxTransactions = 3
	e.sip.maxFlows = 0
	a := simulateSIP(t, e, events, 20)
	c := onlyCall(t, a)
	if len(c.Ladder) != MaxLadderSteps || c.LadderDropped != 6 {
		t.Errorf("ladder %d dropped %d", len(c.Ladder), c.LadderDropped)
	}
	if a.DroppedCalls != 1 || len(a.SIPTransactions) != 3 || a.DroppedSIPTransactions != 1 || len(a.Flows) != 0 {
		t.Errorf("dropped calls %d, %d transactions, dropped %d, %d flows",
			a.DroppedCalls, len(a.SIPTransactions), a.DroppedSIPTransactions, len(a.Flows))
	}
	if tx := a.SIPTransactions[0]; tx.RequestCount != MaxLadderSteps+6 || len(tx.Requests) != MaxFramesPerFinding {
		t.Errorf("RequestCount %d, %d frames", tx.RequestCount, len(tx.Requests))
	}
}

func TestContactExpires(t *testing.T) {
	tests := []struct {
		raw, uri string
		want     int
	}{
		{"SIP/2.0 200 OK\r\nContact: <sip:a@h>;expires=60\r\n\r\n", "", 60},
		{"SIP/2.0 200 OK\r\nContact: <sip:b@h>;expires=10, <sip:a@h>;q=0.5;EXPIRES=3600\r\n\r\n", "sip:a@h", 3600},
		{"SIP/2.0 200 OK\r\nm: \"x, y\" <sip:b@h>;expires=10\r\nContact: <sip:a@h;expires=5>\r\n\r\n", "sip:a@h;expires=5", 10},
		{"SIP/2.0 200 OK\r\nContact: sip:a@h;expires=70\r\n\r\n", "sip:a@h", 70},
		{"SIP/2.0 200 OK\r\nContact: <sip:a@h>\r\nExpires: 60\r\n\r\n", "", -1},
		{"SIP/2.0 200 OK\r\nContact: <sip:a@h>;expires=abc\r\n\r\n", "", -1},
		{"SIP/2.0 200 OK\r\nContact: <sip:a@h;expires=99999999999999999999\r\n\r\n", "", -1},
		{"SIP/2.0 200 OK\r\nContact: <sip:a@h>;expires=99999999999999999999\r\n\r\n", "", maxDeltaSeconds},
		{"SIP/2.0 200 OK\r\n\r\nContact: <sip:a@h>;expires=60", "", -1}, // in the body
		{"", "", -1},
	}
	for _, tt := range tests {
		if got := contactExpires([]byte(tt.raw), []byte(tt.uri)); got != tt.want {
			t.Errorf("contactExpires(%q, %q) = %d, want %d", tt.raw, tt.uri, got, tt.want)
		}
	}
}

func FuzzContactExpires(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\nContact: <sip:b@h>;expires=10, \"a,<b\" <sip:a@h>;expires=3600\r\n\r\n"), []byte("sip:a@h"))
	f.Fuzz(func(t *testing.T, raw, uri []byte) {
		if v := contactExpires(raw, uri); v < -1 || v > maxDeltaSeconds {
			t.Fatalf("contactExpires = %d", v)
		}
	})
}
