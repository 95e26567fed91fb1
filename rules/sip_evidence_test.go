package rules

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// TestSIPFilterFallbacks: a SIP filter must show the frames a finding
// cites in tshark 4.0. It cannot on SIP over TCP off port 5060 (heplify
// sip_ipv4_tcp_fragmented on 6060: not dissected) or with a Call-ID that
// holds bytes Wireshark does not keep (fuzzed captures), so those fall
// back to the frames.
func TestSIPFilterFallbacks(t *testing.T) {
	tx := func(callID string, transport decode.Transport, port uint16) *diagnose.SIPTransaction {
		t := sipReq("INVITE", callID, 7, 3, 0)
		t.Transport = transport
		t.Client = netip.AddrPortFrom(t.Client.Addr(), 37398)
		t.Server = netip.AddrPortFrom(t.Server.Addr(), port)
		return t
	}
	frames := []uint64{9, 3, 3}
	for _, c := range []struct {
		name string
		tx   *diagnose.SIPTransaction
		want string
	}{
		{"UDP on 5060", tx("a@b", decode.UDP, 5060), `sip.Call-ID == "a@b" && sip.CSeq.seq == 7 && sip.CSeq.method == "INVITE"`},
		{"UDP elsewhere: Wireshark's heuristic finds it", tx("a@b", decode.UDP, 5080), `sip.Call-ID == "a@b" && sip.CSeq.seq == 7 && sip.CSeq.method == "INVITE"`},
		{"TCP on 5060", tx("a@b", decode.TCP, 5060), `sip.Call-ID == "a@b" && sip.CSeq.seq == 7 && sip.CSeq.method == "INVITE"`},
		{"TCP on 6060", tx("a@b", decode.TCP, 6060), "frame.number in {3, 9}"},
		{"quote and backslash escaped", tx(`a"\b`, decode.UDP, 5060), `sip.Call-ID == "a\"\\b" && sip.CSeq.seq == 7 && sip.CSeq.method == "INVITE"`},
		{"non-ASCII byte", tx("578222729-m665d775\xa3578222732", decode.UDP, 5060), "frame.number in {3, 9}"},
		{"NUL byte", tx("105090259@192.168.%s\x00", decode.UDP, 5060), "frame.number in {3, 9}"},
		{"cut at the field limit", tx(strings.Repeat("x", diagnose.MaxSIPFieldLen), decode.UDP, 5060), "frame.number in {3, 9}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sipTxFilter(c.tx, frames); got != c.want {
				t.Errorf("sipTxFilter = %s, want %s", got, c.want)
			}
			if got := sipTxsFilter([]*diagnose.SIPTransaction{c.tx, c.tx}, frames); strings.HasPrefix(c.want, "frame") && got != c.want {
				t.Errorf("sipTxsFilter = %s, want %s", got, c.want)
			}
			for i := 0; i < len(c.want); i++ {
				if c.want[i] < 0x20 || c.want[i] >= 0x7f {
					t.Fatalf("raw byte %#x in the filter %q", c.want[i], c.want)
				}
			}
		})
	}
	call := &diagnose.Call{CallID: "c6060", Caller: netipAP("10.186.207.1:37398"), Callee: netipAP("10.186.205.131:6060"), Transport: decode.TCP}
	if got := callSIPFilter(call, []uint64{5, 2}); got != "frame.number in {2, 5}" {
		t.Errorf("callSIPFilter on TCP 6060 = %s", got)
	}
	call.Callee = netipAP("10.186.205.131:5060")
	if got := callSIPFilter(call, []uint64{5, 2}); got != `sip.Call-ID == "c6060"` {
		t.Errorf("callSIPFilter on TCP 5060 = %s", got)
	}
}
