package rules

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/diagnose"
)

// The INVITE's SDP as the caller wrote it (161 bytes) and after a SIP ALG
// replaced 10.0.1.10 with 203.0.113.1 (165 bytes), as in sip-nat-alg.pcap.
const (
	algPrivateSDP = "v=0\r\no=alice 53655765 2353687637 IN IP4 10.0.1.10\r\ns=callscope\r\nc=IN IP4 10.0.1.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
	algPublicSDP  = "v=0\r\no=alice 53655765 2353687637 IN IP4 203.0.113.1\r\ns=callscope\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
)

// algInvite is an INVITE from the NAT's public address whose headers name
// that address too (so that only the body can give the rewrite away), with
// the given Content-Length and body.
func algInvite(callID string, contentLength int, body string) []byte {
	return []byte("INVITE sip:bob@203.0.113.20:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-1\r\n" +
		"From: <sip:alice@203.0.113.1:5060>;tag=a1\r\nTo: <sip:bob@203.0.113.20:5060>\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@203.0.113.1:5060>\r\n" +
		"Content-Type: application/sdp\r\nContent-Length:   " + strconv.Itoa(contentLength) + "\r\n\r\n" + body)
}

// analyzeDatagrams runs the real scanner and correlation on SIP datagrams
// sent from 203.0.113.1:5060 to 203.0.113.20:5060.
func analyzeDatagrams(t *testing.T, transport decode.Transport, datagrams ...[]byte) *diagnose.Analysis {
	t.Helper()
	e := diagnose.NewEngine(diagnose.Options{})
	var m sip.Message
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, d := range datagrams {
		if err := m.Parse(d); err != nil {
			t.Fatal(err)
		}
		e.Observe(&decode.Message{
			Packet: decode.Packet{Frame: uint64(i + 1), Time: start.Add(time.Duration(i) * time.Millisecond),
				Src: netipAP("203.0.113.1:5060"), Dst: netipAP("203.0.113.20:5060"), Transport: transport},
			Kind: decode.KindSIP, SIP: &m, Payload: d,
		})
	}
	return e.Finish(start.Add(time.Second))
}

// A Content-Length that no longer matches the datagram's body fires
// sip.alg-suspected through the real scanner and correlation; a rewrite
// that fixed Content-Length, or TCP framing, does not.
func TestSIPALGSuspectedContentLength(t *testing.T) {
	// A Call-ID with a host name, so that it tells nothing.
	const callID = "len-1@phone.example"
	runRuleCases(t, SIPALGSuspected{}, []ruleCase{
		{
			name:     "body rewritten, Content-Length left as the caller wrote it",
			a:        analyzeDatagrams(t, decode.UDP, algInvite(callID, len(algPrivateSDP), algPublicSDP)),
			want:     1,
			contains: []string{"A message (INVITE request) had a Content-Length that does not match"},
			frames:   []uint64{1},
			severity: diagnose.Warning,
		},
		{name: "body rewritten and Content-Length fixed", a: analyzeDatagrams(t, decode.UDP, algInvite(callID, len(algPublicSDP), algPublicSDP)), want: 0},
		{name: "untouched", a: analyzeDatagrams(t, decode.UDP, algInvite(callID, len(algPrivateSDP), algPrivateSDP)), want: 0},
		{name: "over TCP", a: analyzeDatagrams(t, decode.TCP, algInvite(callID, len(algPrivateSDP), algPublicSDP)), want: 0},
	})
	if len(algPrivateSDP) != 161 || len(algPublicSDP) != 165 || !strings.Contains(algPublicSDP, "203.0.113.1") {
		t.Fatalf("fixtures: bodies of %d and %d bytes, want sip-nat-alg.pcap's 161 and 165", len(algPrivateSDP), len(algPublicSDP))
	}
}
