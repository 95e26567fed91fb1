package diagnose

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

// Wireshark display filters for findings. The syntax is the one tshark 4.0
// accepts and later versions keep: set members separated by commas
// ("frame.number in {1, 5, 9}"), byte strings as bare hex.

// FilterFrames shows exactly the listed frames.
func FilterFrames(frames []uint64) string {
	if len(frames) == 1 {
		return "frame.number == " + strconv.FormatUint(frames[0], 10)
	}
	var b strings.Builder
	b.WriteString("frame.number in {")
	for i, f := range frames {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatUint(f, 10))
	}
	b.WriteByte('}')
	return b.String()
}

// FilterTransactions shows the requests, retransmissions and responses of
// the given STUN transactions (stun.id is the 96-bit transaction ID; for a
// classic RFC 3489 message Wireshark shows 128 bits, so classic transactions
// are not matched). Duplicates are dropped.
func FilterTransactions(ids []stun.TransactionID) string {
	seen := make(map[stun.TransactionID]bool, len(ids))
	var uniq []string
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		uniq = append(uniq, hex.EncodeToString(id[:]))
	}
	switch len(uniq) {
	case 0:
		return ""
	case 1:
		return "stun.id == " + uniq[0]
	}
	return "stun.id in {" + strings.Join(uniq, ", ") + "}"
}

// FilterEndpoint shows the packets to or from one address and port over one
// transport. ICMP errors that quote such a packet match as well, since
// Wireshark dissects the quoted headers with the same field names.
func FilterEndpoint(ap netip.AddrPort, t decode.Transport) string {
	return filterAddr(ap.Addr()) + " && " + transportName(t) + ".port == " + strconv.Itoa(int(ap.Port()))
}

// FilterFlow shows the packets between two endpoints over one transport, in
// both directions.
func FilterFlow(a, b netip.AddrPort, t decode.Transport) string {
	s := filterAddr(a.Addr()) + " && " + filterAddr(b.Addr())
	tr := transportName(t)
	if a.Port() == b.Port() {
		return s + " && " + tr + ".port == " + strconv.Itoa(int(a.Port()))
	}
	return s + " && " + tr + ".port == " + strconv.Itoa(int(a.Port())) + " && " + tr + ".port == " + strconv.Itoa(int(b.Port()))
}

func filterAddr(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		return "ip.addr == " + a.String()
	}
	return "ipv6.addr == " + a.WithZone("").String()
}

func transportName(t decode.Transport) string {
	if t == decode.TCP {
		return "tcp"
	}
	return "udp"
}

// FilterFindings keeps the findings at or above min severity, in order.
func FilterFindings(findings []Finding, min Severity) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Severity >= min {
			out = append(out, f)
		}
	}
	return out
}
