package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// Helpers shared by the SIP and media rules.

// addSIPTransaction cites a SIP request, its retransmissions, its responses
// and the ACK to a non-2xx final.
func (e *evidence) addSIPTransaction(t *diagnose.SIPTransaction) {
	for _, r := range t.Requests {
		e.addFrame(r)
	}
	for _, r := range t.Responses {
		e.addFrame(r.FrameRef)
	}
	e.addFrame(t.ACK)
	e.addEndpoint(t.Client)
	e.addEndpoint(t.Server)
}

// wiresharkString quotes s as a Wireshark display filter string literal:
// backslash and double quote escaped, other bytes outside printable ASCII
// as \xHH, so a hostile Call-ID cannot break out of the filter.
func wiresharkString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// callIDFilter shows every SIP message of one Call-ID.
func callIDFilter(callID string) string {
	return "sip.Call-ID == " + wiresharkString(callID)
}

// sipFilterable says whether a SIP header value can be matched in a
// Wireshark filter: printable ASCII only (Wireshark shows other bytes of
// a fuzzed or mis-encoded header as replacement characters, and a NUL ends
// its string), and not cut at diagnose.MaxSIPFieldLen.
func sipFilterable(v string) bool {
	if v == "" || len(v) >= diagnose.MaxSIPFieldLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7f {
			return false
		}
	}
	return true
}

// sipDissected says whether Wireshark (tshark 4.0, default settings)
// dissects the SIP between two endpoints as SIP, so that sip.* fields
// match: over UDP its heuristic finds SIP on any port, over TCP only port
// 5060 is SIP's; elsewhere the TCP heuristic misses messages split over
// segments.
func sipDissected(a, b netip.AddrPort, t decode.Transport) bool {
	return t != decode.TCP || a.Port() == 5060 || b.Port() == 5060
}

func sipTxDissected(t *diagnose.SIPTransaction) bool {
	return sipDissected(t.Client, t.Server, t.Transport)
}

// callSIPFilter shows a call's SIP: by its Call-ID when Wireshark can match
// it, else by the frames the finding cites.
func callSIPFilter(c *diagnose.Call, frames []uint64) string {
	ok := sipFilterable(c.CallID) && sipDissected(c.Caller, c.Callee, c.Transport)
	for _, t := range c.Transactions {
		if t != nil && !sipTxDissected(t) {
			ok = false
		}
	}
	if ok || len(frames) == 0 {
		return callIDFilter(c.CallID)
	}
	return diagnose.FilterFrames(sortedFrames(frames))
}

// sortedFrames sorts, deduplicates and caps frames as a finding does.
func sortedFrames(frames []uint64) []uint64 {
	out := slices.Clone(frames)
	slices.Sort(out)
	return diagnose.CapFrames(slices.Compact(out))
}

// sipTxFilter shows a SIP transaction: by Call-ID and CSeq when the Call-ID
// is known, else by the Via branch, else by its frames.
func sipTxFilter(t *diagnose.SIPTransaction, frames []uint64) string {
	if !sipTxDissected(t) || (t.CallID != "" && !sipFilterable(t.CallID)) || (t.CallID == "" && t.Branch != "" && !sipFilterable(t.Branch)) {
		return diagnose.FilterFrames(sortedFrames(frames))
	}
	switch {
	case t.CallID != "" && t.CSeq != 0:
		return fmt.Sprintf("%s && sip.CSeq.seq == %d && sip.CSeq.method == %s", callIDFilter(t.CallID), t.CSeq, wiresharkString(t.Method))
	case t.CallID != "":
		return callIDFilter(t.CallID)
	case t.Branch != "":
		return "sip.Via.branch == " + wiresharkString(t.Branch)
	}
	return diagnose.FilterFrames(frames)
}

// sipTxsFilter shows several transactions: by their Call-IDs when there are
// few, else by the flow they share.
func sipTxsFilter(txs []*diagnose.SIPTransaction, frames []uint64) string {
	if len(txs) == 1 {
		return sipTxFilter(txs[0], frames)
	}
	var ids []string
	for _, t := range txs {
		if !sipTxDissected(t) || (t.CallID != "" && !sipFilterable(t.CallID)) {
			return diagnose.FilterFrames(sortedFrames(frames))
		}
		if t.CallID == "" {
			ids = nil
			break
		}
		q := wiresharkString(t.CallID)
		if !containsString(ids, q) {
			ids = append(ids, q)
		}
	}
	switch {
	case len(ids) == 1:
		return "sip.Call-ID == " + ids[0]
	case len(ids) > 1 && len(ids) <= maxFilterIDs:
		return "sip.Call-ID in {" + strings.Join(ids, ", ") + "}"
	}
	t := txs[0]
	if t.Client.IsValid() && t.Server.IsValid() {
		return diagnose.FilterFlow(t.Client, t.Server, t.Transport) + " && sip"
	}
	return diagnose.FilterFrames(frames)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// directionFilter shows the packets from src to dst over one transport:
// one direction of a flow.
func directionFilter(src, dst netip.AddrPort, t decode.Transport) string {
	tr := transportName(t)
	return fmt.Sprintf("%s && %s.srcport == %d && %s && %s.dstport == %d",
		addrFilter("src", src.Addr()), tr, src.Port(), addrFilter("dst", dst.Addr()), tr, dst.Port())
}

// streamFilter shows one RTP stream: its SSRC on its 5-tuple. Wireshark
// dissects RTP only on the ports an SDP it dissected announced (its RTP
// heuristic is off by default), so a stream found by its headers alone,
// one relayed through TURN, or one whose SDP came over SIP Wireshark does
// not dissect is shown by its 5-tuple only; rtpHeuristicNote says so.
func streamFilter(s *diagnose.Stream) string {
	if !rtpDissected(s) {
		return directionFilter(s.Src, s.Dst, s.Transport)
	}
	return fmt.Sprintf("rtp.ssrc == 0x%08x && %s", s.SSRC, directionFilter(s.Src, s.Dst, s.Transport))
}

func rtpDissected(s *diagnose.Stream) bool {
	if !s.Signalled || s.Allocation != nil || s.Transport != decode.UDP {
		return false
	}
	if c := s.Call; c != nil {
		for _, t := range c.Transactions {
			if t != nil && !sipTxDissected(t) {
				return false
			}
		}
		// After an SDP that moves the port to T.38 (m=image), Wireshark
		// dissects its packets as T.38 whatever comes next.
		for _, sd := range callSDPs(c) {
			for _, m := range sd.Session.Media {
				if m.Type == "image" {
					return false
				}
			}
		}
	}
	return true
}

// rtpHeuristicNote tells how to see a stream that streamFilter shows by
// its 5-tuple as RTP in Wireshark; empty when Wireshark dissects it.
func rtpHeuristicNote(s *diagnose.Stream) string {
	if rtpDissected(s) {
		return ""
	}
	if s.Transport == decode.TCP {
		// ICE-TCP: RTP in RFC 4571 frames, which Wireshark reads only when
		// told (its "rtp" Decode As on a TCP port is RFC 4571 framing).
		port := min(s.Src.Port(), s.Dst.Port())
		return fmt.Sprintf(" The filter shows this stream by its addresses and ports: it runs over TCP in RFC 4571 frames (ICE-TCP), which Wireshark does not look into by itself. To see its RTP fields, use Decode As… TCP port %d → RTP (tshark -d tcp.port==%d,rtp); the connection's STUN and DTLS frames then show as RTP of version 0.", port, port)
	}
	return " The filter shows this stream by its addresses and ports: Wireshark does not dissect it as RTP (no SDP it dissected announced it, or a T.38 renegotiation took the port over). To see its RTP fields, enable RTP's heuristic (Analyze › Enabled Protocols › rtp_udp, or tshark -o rtp.heuristic_rtp:TRUE) or use Decode As… RTP."
}

func addrFilter(dir string, a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		return "ip." + dir + " == " + a.String()
	}
	return "ipv6." + dir + " == " + a.WithZone("").String()
}

// dscpField is the display filter field of the DSCP for an address family.
func dscpField(a netip.Addr) string {
	if a.Unmap().Is4() {
		return "ip.dsfield.dscp"
	}
	return "ipv6.tclass.dscp"
}

func transportName(t decode.Transport) string {
	if t == decode.TCP {
		return "tcp"
	}
	return "udp"
}

// isPrivate says whether an address cannot be reached from the internet:
// RFC 1918, RFC 6598 shared address space (carrier-grade NAT), RFC 4193
// unique local, link-local and loopback.
func isPrivate(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() {
		return false
	}
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return true
	}
	return cgnat.Contains(a)
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// hostAddr reads the address in a host or host:port as written in a Via
// sent-by, a Contact or an SDP line; invalid for a host name.
func hostAddr(host string) netip.Addr {
	host = strings.TrimSpace(host)
	if ap, err := netip.ParseAddrPort(host); err == nil {
		return ap.Addr().Unmap()
	}
	h := host
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if strings.Count(h, ":") == 1 {
		h = h[:strings.IndexByte(h, ':')]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// sipEnd is the time of the last packet seen: the end of the last input
// file, or the latest SIP message or RTP packet when files are not
// described.
func sipEnd(a *diagnose.Analysis) time.Time {
	end := captureEnd(a)
	later := func(t time.Time) {
		if t.After(end) {
			end = t
		}
	}
	for _, t := range a.SIPTransactions {
		if t == nil {
			continue
		}
		if n := len(t.Requests); n > 0 {
			later(t.Requests[n-1].Time)
		}
		for _, r := range t.Responses {
			later(r.Time)
		}
	}
	for _, s := range a.Streams {
		if s != nil {
			later(s.Last.Time)
		}
	}
	return end
}

// finalResponse is a transaction's first final response, nil when none.
func finalResponse(t *diagnose.SIPTransaction) *diagnose.SIPResponse {
	if t == nil || t.Final < 0 || t.Final >= len(t.Responses) {
		return nil
	}
	return &t.Responses[t.Final]
}

func firstRequest(t *diagnose.SIPTransaction) diagnose.FrameRef {
	if len(t.Requests) == 0 {
		return diagnose.FrameRef{}
	}
	return t.Requests[0]
}

func sipSends(t *diagnose.SIPTransaction) int { return max(t.RequestCount, len(t.Requests)) }

// statusText is "486 Busy Here".
func statusText(status int, reason string) string {
	if reason == "" {
		return strconv.Itoa(status)
	}
	return strconv.Itoa(status) + " " + reason
}

// q850Causes are the ITU-T Q.850 cause values a Reason header (RFC 3326)
// carries most often, in the words of the recommendation.
var q850Causes = map[int]string{
	1:   "unallocated (unassigned) number",
	16:  "normal call clearing",
	17:  "user busy",
	18:  "no user responding",
	19:  "no answer from user (user alerted)",
	21:  "call rejected",
	27:  "destination out of order",
	31:  "normal, unspecified",
	34:  "no circuit/channel available",
	38:  "network out of order",
	41:  "temporary failure",
	47:  "resource unavailable, unspecified",
	88:  "incompatible destination",
	102: "recovery on timer expiry",
	127: "interworking, unspecified",
}

// explainReason decodes a Reason header such as `Q.850;cause=16;text="..."`:
// "Q.850 cause 16 (normal call clearing)". Other protocols are given as
// written.
func explainReason(h string) string {
	h = strings.TrimSpace(h)
	if h == "" {
		return ""
	}
	proto, params, _ := strings.Cut(h, ";")
	cause := -1
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "cause") {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				cause = n
			}
		}
	}
	if !strings.EqualFold(strings.TrimSpace(proto), "Q.850") || cause < 0 {
		return quoted(h)
	}
	s := fmt.Sprintf("Q.850 cause %d", cause)
	if name, ok := q850Causes[cause]; ok {
		s += " (" + name + ")"
	}
	return s
}

// q850Cause is the cause number of a Q.850 Reason header, -1 when none.
func q850Cause(h string) int {
	proto, params, _ := strings.Cut(h, ";")
	if !strings.EqualFold(strings.TrimSpace(proto), "Q.850") {
		return -1
	}
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "cause") {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
	}
	return -1
}

// dscpName names a DSCP value the way network engineers say it: "EF 46",
// "AF41 34", "CS3 24", "0 (best effort)".
func dscpName(v int) string {
	switch v {
	case 0:
		return "0 (best effort)"
	case 46:
		return "EF 46"
	case 44:
		return "VOICE-ADMIT 44"
	}
	if v%8 == 0 && v > 0 && v < 64 {
		return fmt.Sprintf("CS%d %d", v/8, v)
	}
	if v >= 10 && v <= 38 && v%2 == 0 {
		class, drop := v/8, (v%8)/2
		if drop >= 1 && drop <= 3 {
			return fmt.Sprintf("AF%d%d %d", class, drop, v)
		}
	}
	return strconv.Itoa(v)
}

// mediaTypeWord is "audio", "video" or "media".
func mediaTypeWord(t string) string {
	if t == "" {
		return "media"
	}
	return t
}

// thousands prints 1234567 as "1,234,567".
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// counted is plural with thousands separators: "1 packet", "2,880 packets".
func counted(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	if n < 0 {
		return "-" + thousands(uint64(-n)) + " " + many
	}
	return thousands(uint64(n)) + " " + many
}
