package rules

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
)

// ackCase is a call from callerSIP to calleeSIP answered by a 200 OK at
// 1 s (frame 3), with the 200's retransmissions, the caller's ACKs and
// BYEs at the given seconds.
type ackCase struct {
	name      string
	resends   []float64 // the 200 OK again
	acks      []float64 // one ACK transaction, sent at these times
	ackTo     string    // where the ACKs went; calleeSIP when empty
	ackTCP    bool
	ackToTag  string // "b1" when empty
	contact   string // the 200's Contact host; calleeSIP when empty
	calleeBye float64
	callerBye float64
	reInvite  bool
	end       float64 // the capture's end
	snapshot  bool

	want    diagnose.Severity // 0: no finding
	says    []string
	notSays []string
}

func (tc ackCase) analysis() *diagnose.Analysis {
	caller, callee := netip.MustParseAddrPort(callerSIP), netip.MustParseAddrPort(calleeSIP)
	inv := &diagnose.SIPTransaction{
		Branch: "z9hG4bKinv", Method: "INVITE", CSeq: 1, CallID: "ack@example.org",
		Client: caller, Server: callee, Transport: decode.UDP,
		Requests: []diagnose.FrameRef{sipRef(1, 0)}, RequestCount: 1, Final: -1, Expires: -1,
	}
	if tc.reInvite {
		inv.CSeq, inv.ToTag = 2, "b1"
	}
	respond(inv, 100, "Trying", 2, 0.01)
	respond(inv, 200, "OK", 3, 1)
	ok := &inv.Responses[1]
	ok.ToTag, ok.ContactHost = "b1", calleeSIP
	if tc.contact != "" {
		ok.ContactHost = tc.contact
	}
	for i, s := range tc.resends {
		ok.Resent = append(ok.Resent, sipRef(uint64(10+i), s))
		ok.Retransmissions++
	}
	txs := []*diagnose.SIPTransaction{inv}
	if len(tc.acks) > 0 {
		ack := &diagnose.SIPTransaction{
			Branch: "z9hG4bKack", Method: "ACK", CSeq: inv.CSeq, CallID: inv.CallID, ToTag: "b1",
			Client: caller, Server: callee, Transport: decode.UDP, Final: -1, Expires: -1,
		}
		if tc.ackTo != "" {
			ack.Server = netip.MustParseAddrPort(tc.ackTo)
		}
		if tc.ackTCP {
			ack.Transport = decode.TCP
		}
		if tc.ackToTag != "" {
			ack.ToTag = tc.ackToTag
		}
		for i, s := range tc.acks {
			ack.Requests = append(ack.Requests, sipRef(uint64(100+i), s))
			ack.RequestCount++
		}
		txs = append(txs, ack)
	}
	c := &diagnose.Call{
		CallID: inv.CallID, From: "sip:alice@example.org", To: "sip:bob@example.net",
		Caller: caller, Callee: callee, Transport: decode.UDP,
		Outcome: "answered", FinalStatus: 200, FinalReason: "OK", AnsweredBy: callee,
		Invite: sipRef(1, 0), Answered: ok.FrameRef,
	}
	for _, b := range []struct {
		at       float64
		from, to netip.AddrPort
	}{{tc.calleeBye, callee, caller}, {tc.callerBye, caller, callee}} {
		if b.at == 0 {
			continue
		}
		bye := &diagnose.SIPTransaction{
			Branch: "z9hG4bKbye" + b.from.String(), Method: "BYE", CSeq: 7, CallID: inv.CallID, ToTag: "x",
			Client: b.from, Server: b.to, Transport: decode.UDP,
			Requests: []diagnose.FrameRef{sipRef(500, b.at)}, RequestCount: 1, Final: -1, Expires: -1,
		}
		respond(bye, 200, "OK", 501, b.at+0.01)
		txs = append(txs, bye)
		if c.Ended.Frame == 0 {
			c.Ended, c.EndedBy = bye.Requests[0], b.from
		}
	}
	c.Transactions = txs
	return &diagnose.Analysis{
		SIPTransactions: txs, Calls: []*diagnose.Call{c},
		Captures: []capture.FileInfo{captureInfo(tc.end)}, Snapshot: tc.snapshot,
	}
}

// rfcResends are the 2xx retransmissions of RFC 3261 §13.3.1.4 for a 200
// at 1 s: T1 doubling up to T2, the last before 64*T1.
var rfcResends = []float64{1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5}

// ackEach is an ACK right after the 200 and after each of its copies.
func ackEach(resends []float64) []float64 {
	out := []float64{1.001}
	for _, s := range resends {
		out = append(out, s+0.001)
	}
	return out
}

func TestSIPACKMissing(t *testing.T) {
	cases := []ackCase{{
		name: "ACK to a private Contact, BYE at 32 s", resends: rfcResends, acks: ackEach(rfcResends),
		ackTo: "10.0.1.10:5060", contact: "10.0.1.10:5060", calleeBye: 33, end: 34,
		want: diagnose.Error,
		says: []string{"the callee answered the INVITE (200 OK in frame 3 at " + clock(at(1)) + ", from 203.0.113.7:5060) but never got an ACK",
			"repeated the 200 OK 10 times over 31.5 s", "BYE in frame 500, 32 s after answering", "64×T1",
			"did send its ACK, 11 times (frames 100, 101, 102, …, 110",
			"but to 10.0.1.10:5060, the address in the 200 OK's Contact, not to 203.0.113.7:5060, where the INVITE went and the answer came from",
			"10.0.1.10 is a private address"},
	}, {
		name: "no ACK in a capture at the callee, private Contact", resends: rfcResends,
		contact: "192.168.1.20:5060", calleeBye: 33, end: 34,
		want: diagnose.Error,
		says: []string{"never got an ACK", "No ACK for it appears in the capture (CSeq 1 ACK", `Contact names "192.168.1.20:5060", a private address, though it came from 203.0.113.7:5060`},
	}, {
		name: "no ACK, public Contact", resends: rfcResends, calleeBye: 33, end: 34,
		want:    diagnose.Error,
		says:    []string{"No ACK for it appears", "Either the caller never sent one"},
		notSays: []string{"private"},
	}, {
		name: "ACK sent where the INVITE went, lost on the way, the call goes silent", resends: rfcResends[:9], acks: ackEach(rfcResends[:9]), end: 60,
		want: diagnose.Error,
		says: []string{"got no ACK", "to 203.0.113.7:5060, where the INVITE went, yet the callee kept repeating its answer: the ACKs are lost between the capture point and the callee",
			"the call just stops: nothing after the last retransmission on record (27.5 s after answering) in the 31.5 s the capture goes on, not even a BYE"},
		notSays: []string{"never got"},
	}, {
		name: "ACK over TCP, INVITE over UDP", resends: rfcResends, acks: ackEach(rfcResends), ackTCP: true, calleeBye: 33, end: 34,
		want: diagnose.Error,
		says: []string{"but to 203.0.113.7:5060 over TCP, where the INVITE went over UDP"},
	}, {
		name: "the ACK crossed the first retransmission", resends: []float64{1.5}, acks: []float64{1.49}, callerBye: 20, end: 21,
	}, {
		name: "an ACK lost twice, the third arrives", resends: []float64{1.5, 2.5}, acks: []float64{1.001, 1.501, 2.501}, callerBye: 20, end: 21,
	}, {
		name: "two copies before the capture ends", resends: []float64{1.5, 2.5}, end: 3,
	}, {
		name: "answered once, no ACK seen (one direction captured)", end: 40,
	}, {
		name: "ACK only after four retransmissions", resends: []float64{1.5, 2.5, 4.5, 8.5}, acks: []float64{9}, callerBye: 20, end: 21,
		want:    diagnose.Warning,
		says:    []string{"acknowledged only after 4 retransmissions", "got its ACK only late: it repeated the 200 OK 4 times before the first ACK in frame 100, 8 s after answering"},
		notSays: []string{"never got"},
	}, {
		name: "late ACK to another address: it arrived", resends: []float64{1.5, 2.5, 4.5}, acks: []float64{5}, ackTo: "198.51.100.99:5060", callerBye: 20, end: 21,
		want:    diagnose.Warning,
		says:    []string{"The call survived", "ACKs were lost before the capture point"},
		notSays: []string{"not to 203.0.113.7:5060", "ACK sent to"},
	}, {
		name: "capture ends before the timeout", resends: []float64{1.5, 2.5, 4.5}, end: 5,
		want: diagnose.Warning,
		says: []string{"The capture ends 4 s after the answer, before the 32 s a callee waits for the ACK"},
	}, {
		name: "seven copies prove it without the BYE", resends: rfcResends[:7], end: 21,
		want: diagnose.Error,
		says: []string{"repeated the 200 OK 7 times over 19.5 s"},
	}, {
		name: "the caller hung up first", resends: []float64{1.5, 2.5, 4.5, 8.5}, callerBye: 9, end: 10,
		want: diagnose.Warning,
		says: []string{"The caller ended the call first, with a BYE in frame 500, 8 s after the answer"},
	}, {
		name: "the callee's BYE long before the ACK timeout", resends: []float64{1.5, 2.5, 4.5, 8.5}, calleeBye: 10, end: 11,
		want:    diagnose.Warning,
		says:    []string{"ended the call with a BYE in frame 500, 9 s after answering."},
		notSays: []string{"64×T1"},
	}, {
		name: "an ACK for another fork does not count", resends: rfcResends, acks: ackEach(rfcResends), ackToTag: "other", calleeBye: 33, end: 34,
		want: diagnose.Error,
		says: []string{"No ACK for it appears"},
	}, {
		name: "re-INVITE", resends: rfcResends, reInvite: true, calleeBye: 33, end: 34,
		want: diagnose.Error,
		says: []string{"answered the re-INVITE", "CSeq 2 ACK"},
	}, {
		name: "snapshot of a call that goes on", resends: rfcResends[:8], end: 25, snapshot: true,
	}, {
		name: "snapshot of a call that ended", resends: rfcResends, calleeBye: 33, end: 36, snapshot: true,
		want: diagnose.Error,
		says: []string{"never got an ACK"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := SIPACKMissing{}.Check(tc.analysis())
			if tc.want == 0 {
				if len(fs) != 0 {
					t.Fatalf("unexpected finding: %s\n%s", fs[0].Title, fs[0].Detail)
				}
				return
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings, want 1", len(fs))
			}
			f := fs[0]
			text := f.Title + "\n" + f.Detail
			if f.Severity != tc.want {
				t.Errorf("severity %s, want %s:\n%s", f.Severity, tc.want, text)
			}
			for _, s := range tc.says {
				if !strings.Contains(text, s) {
					t.Errorf("lacks %q:\n%s", s, text)
				}
			}
			for _, s := range tc.notSays {
				if strings.Contains(text, s) {
					t.Errorf("says %q:\n%s", s, text)
				}
			}
			// The evidence: the INVITE, the 200 and its copies, every ACK
			// and BYE, and a filter showing the whole call.
			want := []uint64{1, 3}
			for i := range tc.resends {
				want = append(want, uint64(10+i))
			}
			if tc.ackToTag == "" {
				for i := range tc.acks {
					want = append(want, uint64(100+i))
				}
			}
			if tc.calleeBye != 0 || tc.callerBye != 0 {
				want = append(want, 500, 501)
			}
			if !slices.Equal(f.Frames, want) {
				t.Errorf("frames %v, want %v", f.Frames, want)
			}
			if f.Filter != `sip.Call-ID == "ack@example.org"` {
				t.Errorf("filter %q", f.Filter)
			}
			if len(f.Endpoints) < 2 || f.Endpoints[0] != callerSIP || f.Endpoints[1] != calleeSIP {
				t.Errorf("endpoints %v, want the caller and the callee first", f.Endpoints)
			}
			if tc.ackTo != "" && !slices.Contains(f.Endpoints, tc.ackTo) {
				t.Errorf("endpoints %v lack the ACK's destination %s", f.Endpoints, tc.ackTo)
			}
			if f.First.IsZero() || f.Last.Before(f.First) {
				t.Errorf("time span %v – %v", f.First, f.Last)
			}
		})
	}
}

// TestSIPACKMissingLegs checks a capture of both sides of a NAT: one
// INVITE seen twice, each leg answered; only the outside leg's 200 is
// repeated, and the ACK the caller sent inside does not count for it.
func TestSIPACKMissingLegs(t *testing.T) {
	tc := ackCase{resends: rfcResends, calleeBye: 33, end: 34}
	a := tc.analysis()
	c := a.Calls[0]
	inside := netip.MustParseAddrPort("10.0.1.10:5060")
	leg := &diagnose.SIPTransaction{
		Branch: "z9hG4bKinv", Method: "INVITE", CSeq: 1, CallID: c.CallID,
		Client: inside, Server: c.Callee, Transport: decode.UDP,
		Requests: []diagnose.FrameRef{sipRef(2, 0)}, RequestCount: 1, Final: -1, Expires: -1,
	}
	respond(leg, 200, "OK", 4, 1)
	leg.Responses[0].ToTag = "b1"
	ack := &diagnose.SIPTransaction{
		Branch: "z9hG4bKack", Method: "ACK", CSeq: 1, CallID: c.CallID, ToTag: "b1",
		Client: inside, Server: c.Callee, Transport: decode.UDP,
		Requests: []diagnose.FrameRef{sipRef(5, 1.001)}, RequestCount: 1, Final: -1, Expires: -1,
	}
	c.Transactions = append(c.Transactions, leg, ack)
	a.SIPTransactions = c.Transactions
	fs := SIPACKMissing{}.Check(a)
	if len(fs) != 1 || !strings.Contains(fs[0].Detail, "No ACK for it appears") || slices.Contains(fs[0].Frames, 5) {
		t.Fatalf("want one finding without the inside leg's ACK (frame 5), got %+v", fs)
	}
}
