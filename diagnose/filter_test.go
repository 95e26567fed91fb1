package diagnose

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

func TestDisplayFilters(t *testing.T) {
	v4a, v4b := netip.MustParseAddrPort("192.0.2.10:50000"), netip.MustParseAddrPort("203.0.113.5:3478")
	mapped := netip.MustParseAddrPort("[::ffff:192.0.2.10]:50000")
	v6 := netip.MustParseAddrPort("[2001:db8::5%eth0]:3478")
	id1 := stun.TransactionID{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c}
	id2 := stun.TransactionID{0xff}
	for _, c := range []struct{ name, got, want string }{
		{"one frame", FilterFrames([]uint64{7}), "frame.number == 7"},
		{"frames", FilterFrames([]uint64{1, 5, 9}), "frame.number in {1, 5, 9}"},
		{"one id", FilterTransactions([]stun.TransactionID{id1}), "stun.id == 0102030405060708090a0b0c"},
		{"ids deduplicated", FilterTransactions([]stun.TransactionID{id1, id2, id1}), "stun.id in {0102030405060708090a0b0c, ff0000000000000000000000}"},
		{"no ids", FilterTransactions(nil), ""},
		{"endpoint udp", FilterEndpoint(v4b, decode.UDP), "ip.addr == 203.0.113.5 && udp.port == 3478"},
		{"endpoint mapped tcp", FilterEndpoint(mapped, decode.TCP), "ip.addr == 192.0.2.10 && tcp.port == 50000"},
		{"endpoint v6 zone dropped", FilterEndpoint(v6, decode.UDP), "ipv6.addr == 2001:db8::5 && udp.port == 3478"},
		{"flow", FilterFlow(v4a, v4b, decode.UDP), "ip.addr == 192.0.2.10 && ip.addr == 203.0.113.5 && udp.port == 50000 && udp.port == 3478"},
		{"flow same port", FilterFlow(netip.MustParseAddrPort("192.0.2.10:3478"), v4b, decode.UDP), "ip.addr == 192.0.2.10 && ip.addr == 203.0.113.5 && udp.port == 3478"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestFilterFindings(t *testing.T) {
	fs := []Finding{{Rule: "a", Severity: Info}, {Rule: "b", Severity: Error}, {Rule: "c", Severity: Warning}}
	var got []string
	for _, f := range FilterFindings(fs, Warning) {
		got = append(got, f.Rule)
	}
	if !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("FilterFindings(warning) = %v, want [b c]", got)
	}
	if n := len(FilterFindings(fs, Info)); n != 3 {
		t.Errorf("FilterFindings(info) kept %d, want 3", n)
	}
}

func TestErrorCodes(t *testing.T) {
	for code, name := range map[int]string{
		300: "Try Alternate", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 420: "Unknown Attribute",
		431: "Integrity Check Failure", 437: "Allocation Mismatch", 438: "Stale Nonce", 440: "Address Family not Supported",
		441: "Wrong Credentials", 442: "Unsupported Transport Protocol", 443: "Peer Address Family Mismatch",
		446: "Connection Already Exists", 447: "Connection Timeout or Failure", 486: "Allocation Quota Reached",
		487: "Role Conflict", 500: "Server Error", 508: "Insufficient Capacity",
	} {
		info := ErrorCode(code)
		if info.Name != name || info.Meaning == "" {
			t.Errorf("ErrorCode(%d) = %+v, want name %q and a meaning", code, info, name)
		}
	}
	if got := ErrorCodeText(403); got != "403 Forbidden" {
		t.Errorf("ErrorCodeText(403) = %q", got)
	}
	for _, code := range []int{0, 299, 499, 599, 700, -1} {
		info := ErrorCode(code)
		if info.Name == "" || info.Meaning == "" {
			t.Errorf("ErrorCode(%d) = %+v: unregistered codes need a name and meaning", code, info)
		}
	}
	if s := ErrorCodeText(0); !strings.Contains(s, "without ERROR-CODE") {
		t.Errorf("ErrorCodeText(0) = %q", s)
	}
}
