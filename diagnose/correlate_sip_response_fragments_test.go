package diagnose

import (
	"slices"
	"strings"
	"testing"
)

// A response over UDP keeps its size and the sends that came in IP
// fragments, as a request does: a 200 OK whose SDP answer outgrew the
// path MTU, repeated because no ACK came. Responses that came whole add
// nothing.
func TestSIPResponseFragments(t *testing.T) {
	answer := testSDP + strings.Repeat("a=candidate:1 1 UDP 2130706431 192.0.2.20 40000 typ host\r\n", 30)
	invite := baseSpec()
	invite.method, invite.cseqMethod, invite.branch, invite.cseq = "INVITE", "INVITE", "z9hG4bK-ans", 1
	response := func(status int, reason, body string) []byte {
		s := baseSpec()
		s.status, s.reason, s.cseqMethod, s.branch, s.cseq, s.toTag, s.body = status, reason, "INVITE", "z9hG4bK-ans", 1, "b1", body
		s.via = sipAlice.String()
		return []byte(s.render(sipProxy))
	}
	ok, ringing := response(200, "OK", answer), response(180, "Ringing", "")
	if len(ok) < 1500 || len(ok) > 2900 {
		t.Fatalf("200 OK of %d bytes: want two fragments", len(ok))
	}
	pkts := [][]byte{
		ipv4UDP(sipAlice, sipProxy, []byte(invite.render(sipAlice)), 1, 0, -1, false),
		ipv4UDP(sipProxy, sipAlice, ringing, 2, 0, -1, false),
	}
	for id := uint16(3); id <= 5; id++ {
		if id == 4 { // one copy whole: a path with a larger MTU
			pkts = append(pkts, ipv4UDP(sipProxy, sipAlice, ok, id, 0, -1, false))
			continue
		}
		pkts = append(pkts, ipv4UDP(sipProxy, sipAlice, ok, id, 0, 1480, true), ipv4UDP(sipProxy, sipAlice, ok, id, 1480, -1, false))
	}
	a := analyzeIPv4Packets(pkts)
	if len(a.SIPTransactions) != 1 || len(a.SIPTransactions[0].Responses) != 2 {
		t.Fatalf("%d transactions, want the INVITE with a 180 and a 200", len(a.SIPTransactions))
	}
	inv := a.SIPTransactions[0]
	if inv.Fragmented != nil {
		t.Errorf("INVITE fragments %+v, want none", inv.Fragmented)
	}
	r180, r200 := inv.Responses[0], inv.Responses[1]
	if r180.Fragmented != nil || r180.Size != len(ringing) {
		t.Errorf("180: fragments %+v, %d bytes; want none, %d", r180.Fragmented, r180.Size, len(ringing))
	}
	if r200.Status != 200 || r200.Retransmissions != 2 || r200.Size != len(ok) {
		t.Errorf("200: status %d, %d retransmissions, %d bytes; want 200, 2, %d", r200.Status, r200.Retransmissions, r200.Size, len(ok))
	}
	if f := r200.Fragmented; f == nil || f.Sends != 2 || f.Fragments != 2 || f.Count != 4 || !slices.Equal(f.Frames, []uint64{3, 4, 6, 7}) {
		t.Errorf("200 fragments %+v, want 2 sends of 2, frames 3, 4, 6, 7", f)
	}
}
