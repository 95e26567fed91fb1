package diagnose

import (
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

// The SDP of sip-nat-alg.pcap's INVITE as the caller wrote it (161 bytes)
// and as nf_nat_sip rewrote it (165 bytes: two addresses 2 characters
// longer).
const (
	privateSDP = "v=0\r\no=alice 53655765 2353687637 IN IP4 10.0.1.10\r\ns=callscope\r\nc=IN IP4 10.0.1.10\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
	publicSDP  = "v=0\r\no=alice 53655765 2353687637 IN IP4 203.0.113.1\r\ns=callscope\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
)

// sipDatagram is a SIP message with the given Content-Length value and
// body; contentLength < 0 leaves the header out.
func sipDatagram(startLine, branch string, contentLength int, body string) string {
	var b strings.Builder
	b.WriteString(startLine + "\r\n")
	b.WriteString("Via: SIP/2.0/UDP 203.0.113.1:5060;branch=" + branch + "\r\n")
	b.WriteString("From: <sip:alice@callscope.test>;tag=a\r\nTo: <sip:bob@203.0.113.20>\r\n")
	b.WriteString("Call-ID: len-1@10.0.1.10\r\n")
	if strings.HasPrefix(startLine, "SIP/2.0") {
		b.WriteString("CSeq: 1 INVITE\r\n")
	} else {
		b.WriteString("CSeq: 1 " + strings.Fields(startLine)[0] + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	if contentLength >= 0 {
		// Padded as SIPp writes it (EXPECTED.md).
		b.WriteString("Content-Length:   " + strconv.Itoa(contentLength) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

// observeDatagrams parses each datagram with the real scanner and feeds it
// to an Engine, as the decoder does: Payload is the whole datagram.
func observeDatagrams(t *testing.T, transport decode.Transport, datagrams ...string) *Analysis {
	t.Helper()
	e := NewEngine(Options{})
	var m sip.Message
	for i, d := range datagrams {
		if err := m.Parse([]byte(d)); err != nil {
			t.Fatalf("datagram %d: %v", i+1, err)
		}
		src, dst := sipAlice, sipBob
		if !m.IsRequest {
			src, dst = dst, src
		}
		e.Observe(&decode.Message{
			Packet:  decode.Packet{Frame: uint64(i + 1), Time: simAt(float64(i) * 0.1), Src: src, Dst: dst, Transport: transport},
			Kind:    decode.KindSIP,
			SIP:     &m,
			Payload: []byte(d),
		})
	}
	return e.Finish(simAt(10))
}

func TestContentLengthMismatch(t *testing.T) {
	const invite = "INVITE sip:bob@203.0.113.20 SIP/2.0"
	tests := []struct {
		name      string
		transport decode.Transport
		datagrams []string
		request   bool
		responses []bool
	}{
		{
			name:      "body matches",
			transport: decode.UDP,
			datagrams: []string{sipDatagram(invite, "z9hG4bK1", len(privateSDP), privateSDP)},
		},
		{
			name:      "ALG rewrote the SDP and fixed Content-Length (sip-nat-alg.pcap)",
			transport: decode.UDP,
			datagrams: []string{sipDatagram(invite, "z9hG4bK1", len(publicSDP), publicSDP)},
		},
		{
			name:      "ALG lengthened the SDP, Content-Length left at 161",
			transport: decode.UDP,
			datagrams: []string{sipDatagram(invite, "z9hG4bK1", len(privateSDP), publicSDP)},
			request:   true,
		},
		{
			name:      "ALG shortened the SDP, Content-Length left at 165",
			transport: decode.UDP,
			datagrams: []string{sipDatagram(invite, "z9hG4bK1", len(publicSDP), privateSDP)},
			request:   true,
		},
		{
			name:      "snaplen cut the datagram in mid-line: not a rewrite",
			transport: decode.UDP,
			datagrams: []string{sipDatagram(invite, "z9hG4bK1", len(privateSDP), privateSDP[:100])},
		},
		{
			name:      "junk after the empty line: not a rewritten body",
			transport: decode.UDP,
			datagrams: []string{sipDatagram("OPTIONS sip:bob@203.0.113.20 SIP/2.0", "z9hG4bK1", 0, "\xd4")},
		},
		{
			name:      "no Content-Length: the body is the rest of the datagram",
			transport: decode.UDP,
			datagrams: []string{sipDatagram(invite, "z9hG4bK1", -1, publicSDP)},
		},
		{
			name:      "Content-Length 0 and no body",
			transport: decode.UDP,
			datagrams: []string{sipDatagram("OPTIONS sip:bob@203.0.113.20 SIP/2.0", "z9hG4bK1", 0, "")},
		},
		{
			name:      "over TCP, Content-Length is the framing",
			transport: decode.TCP,
			datagrams: []string{sipDatagram(invite, "z9hG4bK1", len(privateSDP), publicSDP)},
		},
		{
			name:      "a retransmission rewritten",
			transport: decode.UDP,
			datagrams: []string{
				sipDatagram(invite, "z9hG4bK1", len(privateSDP), privateSDP),
				sipDatagram(invite, "z9hG4bK1", len(privateSDP), publicSDP),
			},
			request: true,
		},
		{
			name:      "the answer's SDP rewritten",
			transport: decode.UDP,
			datagrams: []string{
				sipDatagram(invite, "z9hG4bK1", len(privateSDP), privateSDP),
				sipDatagram("SIP/2.0 100 Trying", "z9hG4bK1", 0, ""),
				sipDatagram("SIP/2.0 200 OK", "z9hG4bK1", len(privateSDP), publicSDP),
			},
			responses: []bool{false, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := observeDatagrams(t, tt.transport, tt.datagrams...)
			if len(a.SIPTransactions) != 1 {
				t.Fatalf("%d transactions, want 1", len(a.SIPTransactions))
			}
			tx := a.SIPTransactions[0]
			if tx.ContentLengthMismatch != tt.request {
				t.Errorf("request ContentLengthMismatch = %v, want %v", tx.ContentLengthMismatch, tt.request)
			}
			var got []bool
			for _, r := range tx.Responses {
				got = append(got, r.ContentLengthMismatch)
			}
			if len(got) != len(tt.responses) {
				t.Fatalf("%d responses, want %d", len(got), len(tt.responses))
			}
			for i := range got {
				if got[i] != tt.responses[i] {
					t.Errorf("response %d ContentLengthMismatch = %v, want %v", i, got[i], tt.responses[i])
				}
			}
		})
	}
}
