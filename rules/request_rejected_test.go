package rules

import (
	"github.com/callscope/callscope/decode"
	"net/netip"
	"testing"

	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

func TestRequestRejected(t *testing.T) {
	perm := func(id byte, frame uint64, sec float64, peer string) *diagnose.Transaction {
		tx := auth(txn(id, stun.MethodCreatePermission, frame, sec), "alice", "example.org", "n1")
		tx.Peers = []netip.AddrPort{netip.MustParseAddrPort(peer)}
		return tx
	}
	custom := failed(auth(txn(1, stun.MethodAllocate, 1, 0), "alice", "r", "n1"), 2, 0.1, 486, "")
	custom.ErrorReason = "Allocation Quota Reached: too many"
	runRuleCases(t, RequestRejected{}, []ruleCase{
		{
			name: "403 on CreatePermission",
			a: analysis(
				failed(perm(1, 10, 1, "10.1.2.3:0"), 11, 1.1, 403, ""),
				failed(perm(2, 12, 2, "10.1.2.4:0"), 13, 2.1, 403, "")),
			want: 1,
			contains: []string{"2 CreatePermission requests", "rejected with 403 Forbidden", "refuses", "denied-peer-ip",
				"Peer addresses: 10.1.2.3, 10.1.2.4"},
			frames: []uint64{10, 11, 12, 13},
		},
		{
			name:     "the server's own reason phrase is quoted",
			a:        analysis(custom),
			want:     1,
			contains: []string{"486 Allocation Quota Reached", `the server's reason: "Allocation Quota Reached: too many"`, "user-quota"},
		},
		{
			name: "437 recovered is a warning",
			a: analysis(
				failed(auth(txn(1, stun.MethodAllocate, 1, 0), "alice", "r", "n1"), 2, 0.1, 437, ""),
				succeeded(auth(txn(2, stun.MethodAllocate, 3, 0.2), "alice", "r", "n1"), 4, 0.3)),
			want:     1,
			severity: diagnose.Warning,
			contains: []string{"437 Allocation Mismatch", "client recovered"},
		},
		{
			name:     "unregistered code",
			a:        analysis(failed(txn(1, stun.MethodRefresh, 1, 0), 2, 0.1, 499, "")),
			want:     1,
			contains: []string{"499 Error 499"},
		},
		{
			name: "error without ERROR-CODE over TCP port 80",
			a: func() *diagnose.Analysis {
				tx := failed(perm(1, 11, 1, "192.168.1.1:43499"), 14, 1.001, 0, "")
				tx.Transport, tx.Server = decode.TCP, netip.MustParseAddrPort("141.101.90.1:80")
				return analysis(tx)
			}(),
			want:     1,
			contains: []string{"rejected with an error without ERROR-CODE", "did not say why"},
			// Wireshark does not dissect STUN on TCP port 80 by itself.
			filter: "ip.addr == 192.0.2.10 && ip.addr == 141.101.90.1 && tcp.port == 50000 && tcp.port == 80 && tcp.len > 0",
		},
		{name: "401 challenge", a: analysis(failed(txn(1, stun.MethodAllocate, 1, 0), 2, 0.1, 401, "n")), want: 0},
		{name: "431 is integrity-failure", a: analysis(failed(auth(txn(1, stun.MethodAllocate, 1, 0), "a", "r", "n"), 2, 0.1, 431, "")), want: 0},
		{name: "438 is stale-nonce", a: analysis(failed(auth(txn(1, stun.MethodRefresh, 1, 0), "a", "r", "n"), 2, 0.1, 438, "n2")), want: 0},
		{name: "ICE role conflict", a: analysis(failed(txn(1, stun.MethodBinding, 1, 0), 2, 0.1, 487, "")), want: 0},
		{
			name: "one finding per method and code",
			a: analysis(
				failed(perm(1, 10, 1, "10.1.2.3:0"), 11, 1.1, 403, ""),
				failed(auth(txn(2, stun.MethodChannelBind, 12, 2), "alice", "r", "n1"), 13, 2.1, 403, ""),
				failed(perm(3, 14, 3, "10.1.2.3:0"), 15, 3.1, 508, "")),
			want: 3,
		},
	})
}
