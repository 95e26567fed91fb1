package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/diagnose"
)

// What the tls.* and dtls.* rules share: names for versions and alerts,
// certificate name matching (RFC 6125) and Wireshark filters.

// tlsVersionName names a protocol version: "TLS 1.2", "DTLS 1.0".
func tlsVersionName(v uint16) string { return tls.VersionName(v) }

// versionRank orders versions oldest first, DTLS by the TLS version it is
// based on (DTLS 1.0 on TLS 1.1, DTLS 1.2 on TLS 1.2): DTLS numbers count
// down. 0 for values that are no version (GREASE, RFC 8701, or unknown).
func versionRank(v uint16) int {
	switch v {
	case 0x0002:
		return 1
	case 0x0300:
		return 2
	case 0x0301:
		return 3
	case 0x0302, 0xfeff, tls.VersionDTLSBad:
		return 4
	case 0x0303, 0xfefd:
		return 5
	case 0x0304, 0xfefc:
		return 6
	}
	return 0
}

// legacyVersion tells SSL, TLS 1.0 and 1.1 and DTLS 1.0 (based on TLS
// 1.1), which RFC 8996 deprecates.
func legacyVersion(v uint16) bool { return tls.Legacy(v) }

// highestOffered is the newest version a client offered; 0 when none is
// known.
func highestOffered(vs []uint16) uint16 {
	var best uint16
	for _, v := range vs {
		if versionRank(v) > versionRank(best) {
			best = v
		}
	}
	return best
}

// alertMeanings say what an alert (RFC 8446 §6, RFC 5246 §7.2) means to
// someone debugging a deployment.
var alertMeanings = map[uint8]string{
	0:   "the sender closed the connection",
	10:  "a message arrived out of order: an implementation bug, or a middlebox that altered the handshake",
	20:  "a record did not authenticate: corrupted in transit, or the two sides derived different keys",
	21:  "a record could not be decrypted",
	22:  "a record was longer than allowed",
	30:  "a record did not decompress",
	40:  "the two sides found no set of parameters both accept: no common cipher suite, version, group or signature algorithm (or the server requires a client certificate the client does not have)",
	41:  "the client has no certificate to send (SSL 3.0)",
	42:  "the sender does not accept the certificate it was sent: it is corrupt, its signature does not verify, or it is self-signed or from a private CA the sender does not trust",
	43:  "the certificate is of a type the sender does not support (key type or size)",
	44:  "the certificate was revoked by its issuer",
	45:  "the certificate has expired or is not yet valid (check the certificate, and the clock of the side that sent the alert)",
	46:  "the sender rejected the certificate for another reason, most often a name that does not match or an untrusted issuer",
	47:  "a handshake field held a value that is not allowed",
	48:  "the sender does not trust the CA that issued the certificate: a self-signed certificate or a private CA, typical of an edge box installed with its default certificate, or a missing intermediate certificate",
	49:  "the sender refused the handshake by its access policy",
	50:  "a handshake message could not be parsed",
	51:  "a signature or Finished check failed: a wrong key, or a middlebox in the path",
	60:  "an export-grade parameter was refused",
	70:  "the sender does not support the protocol version offered: one side only speaks TLS 1.0/1.1 while the other requires TLS 1.2 or later, or the other way round",
	71:  "the cipher suites offered are weaker than the sender requires",
	80:  "the sender hit an error of its own, unrelated to the peer (out of memory, a broken configuration such as an unreadable key file)",
	86:  "the client retried with a lower version although the server supports a higher one (RFC 7507): something broke the first attempt",
	90:  "the handshake was cancelled",
	100: "renegotiation was refused",
	109: "a required extension was missing",
	110: "an extension appeared that was not offered",
	111: "a certificate could not be fetched",
	112: "the server has no certificate for the name the client asked for (SNI): a virtual host or SNI mapping is missing on the server",
	113: "the OCSP response stapled by the server was invalid",
	115: "the pre-shared key identity is unknown",
	116: "the server requires a client certificate and none was sent (mutual TLS)",
	120: "no application protocol (ALPN) offered by the client is supported by the server, e.g. a TURN server asked for \"h2\" or a web server for \"stun.turn\"",
}

func alertName(d uint8) string { return tls.AlertName(d) }

func alertMeaning(d uint8) string {
	if m, ok := alertMeanings[d]; ok {
		return m
	}
	return "an alert this program does not know"
}

// protocolName is "TLS" or "DTLS".
func protocolName(c *diagnose.TLSConnection) string {
	if c.DTLS {
		return "DTLS"
	}
	return "TLS"
}

// certFingerprint prints a SHA-256 the way SDP a=fingerprint does
// (RFC 8122 §5): "AB:CD:...".
func certFingerprint(sum [32]byte) string {
	var b strings.Builder
	b.Grow(len(sum) * 3)
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// commonName finds the CN of a certificate's subject. decode/tls gives
// the CN alone when there is one, else the distinguished name as
// crypto/x509 prints it ("O=Example,C=US", RFC 4514 escaping); a full
// "CN=example.com,O=Example" is read as well. "" when there is no CN.
func commonName(dn string) string {
	if dn != "" && !strings.Contains(dn, "=") {
		return dn
	}
	for _, rdn := range splitDN(dn) {
		k, v, ok := strings.Cut(rdn, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "CN") {
			return v
		}
	}
	return ""
}

// splitDN splits at unescaped commas and plus signs and removes the
// escapes (RFC 4514 §3).
func splitDN(dn string) []string {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == '\\' && i+1 < len(dn):
			i++
			b.WriteByte(dn[i])
		case c == ',' || c == '+':
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(parts, b.String())
}

// certSubject is the shortest name a person recognizes a certificate by:
// its CN, else the whole subject.
func certSubject(c *tls.Certificate) string {
	if cn := commonName(c.Subject); cn != "" {
		return quoted(cn)
	}
	if c.Subject == "" {
		return "(empty subject)"
	}
	return quoted(c.Subject)
}

// certNames lists what a certificate is valid for: its DNS and IP subject
// alternative names, or its CN when it has none (RFC 6125 §6.4.4).
func certNames(c *tls.Certificate) []string {
	names := make([]string, 0, len(c.DNSNames)+len(c.IPs))
	names = append(names, c.DNSNames...)
	names = append(names, c.IPs...)
	if len(names) == 0 {
		if cn := commonName(c.Subject); cn != "" {
			names = append(names, cn)
		}
	}
	return names
}

// certCovers says whether a certificate is valid for a host name or IP
// address: IP addresses against IP SANs only; names against DNS SANs with
// RFC 6125 §6.4.3 wildcards, against the CN only when there are no SANs
// at all (RFC 6125 §6.4.4; browsers ignore the CN since 2017).
func certCovers(c *tls.Certificate, host string) bool {
	host = strings.TrimSuffix(strings.TrimSpace(host), ".")
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		for _, s := range c.IPs {
			if sip, err := netip.ParseAddr(s); err == nil && sip.Unmap() == ip.Unmap() {
				return true
			}
		}
		return false
	}
	if len(c.DNSNames) == 0 && len(c.IPs) == 0 {
		cn := commonName(c.Subject)
		return cn != "" && dnsNameMatches(cn, host)
	}
	for _, p := range c.DNSNames {
		if dnsNameMatches(p, host) {
			return true
		}
	}
	return false
}

// dnsNameMatches compares a certificate's DNS name with a host name, case
// insensitively. A wildcard is only a whole left-most label and matches
// exactly one label: "*.example.com" covers "a.example.com" but neither
// "example.com" nor "a.b.example.com" (RFC 6125 §6.4.3, as browsers apply
// it; partial-label wildcards such as "w*.example.com" are not honoured).
func dnsNameMatches(pattern, host string) bool {
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
	host = strings.ToLower(host)
	if pattern == "" || host == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		label, hostRest, found := strings.Cut(host, ".")
		// The rest must itself be a name with a dot: "*.com" covers nothing.
		return found && label != "" && strings.Contains(rest, ".") && hostRest == rest
	}
	return pattern == host
}

// chainTime is the moment a connection's certificates were shown: what
// validity is judged against.
func chainTime(c *diagnose.TLSConnection) time.Time {
	for _, r := range []diagnose.FrameRef{c.CertificateFrame, c.ServerHello, c.ClientHello, c.First} {
		if !r.Time.IsZero() {
			return r.Time
		}
	}
	return time.Time{}
}

// tlsFilter shows one connection's handshake messages of interest: field is
// a condition in the "tls." namespace ("tls.handshake.type == 11"), turned
// into "dtls." for DTLS. Wireshark 4.0 tries TLS heuristically on any TCP
// port and DTLS on any UDP port, so the fields work off the usual ports too;
// relayed DTLS is shown by its frames.
func tlsFilter(c *diagnose.TLSConnection, field string) string {
	if c.Allocation != nil || c.DTLS && c.Transport == decode.TCP {
		// Wireshark 4.0 does not dissect DTLS inside TURN Send/Data
		// indications, nor in ICE-TCP's RFC 4571 frames, so the fields
		// would match nothing there.
		var frames []uint64
		for _, r := range []diagnose.FrameRef{c.ClientHello, c.ServerHello, c.CertificateFrame, c.First} {
			if r.Frame != 0 {
				frames = append(frames, r.Frame)
			}
		}
		for _, al := range c.Alerts {
			frames = append(frames, al.Frame)
		}
		slices.Sort(frames)
		if frames = slices.Compact(frames); len(frames) > 0 {
			return diagnose.FilterFrames(frames)
		}
	}
	flow := connectionFlow(c)
	if field == "" {
		return flow
	}
	field = citedField([]*diagnose.TLSConnection{c}, field)
	if field == "" {
		return flow
	}
	if c.DTLS {
		field = strings.ReplaceAll(field, "tls.", "dtls.")
	}
	return flow + " && " + orCitedFrames([]*diagnose.TLSConnection{c}, field)
}

// tlsPorts are the TCP ports tshark 4.0 hands to TLS by default ("tshark
// -G decodes"). On others its TLS heuristic finds TLS too, unless another
// dissector owns the port (8080 is HTTP's): then tls.* fields match
// nothing, and only the frame numbers show the evidence.
var tlsPorts = []uint16{443, 465, 636, 853, 993, 995, 2443, 5061, 5349, 5671, 8883}

// orCitedFrames adds the cited frames to field for TLS over TCP on ports
// tshark does not give to TLS.
func orCitedFrames(conns []*diagnose.TLSConnection, field string) string {
	c := conns[0]
	if c.DTLS || c.Transport != decode.TCP || slices.Contains(tlsPorts, c.Server.Port()) || slices.Contains(tlsPorts, c.Client.Port()) {
		return field
	}
	var ev evidence
	for _, x := range conns {
		ev.addConnection(x)
	}
	return "(" + field + " || " + diagnose.FilterFrames(sortedFrames(ev.frames)) + ")"
}

// citedField widens field (a condition in the "tls." namespace) to every
// handshake message and alert that addConnection cites for conns, so that
// the filter shows each frame the finding lists: a finding about the
// certificate still cites the ClientHello and ServerHello around it.
// Empty when a connection is cited by its first frame only (no hello, no
// certificate): then only the flow shows it.
func citedField(conns []*diagnose.TLSConnection, field string) string {
	var types []int
	alertTerm := ""
	switch {
	case strings.HasPrefix(field, "tls.handshake.type == "):
		if n, err := strconv.Atoi(strings.TrimPrefix(field, "tls.handshake.type == ")); err == nil {
			types = append(types, n)
		}
	case strings.HasPrefix(field, "tls.handshake.type in {"):
		for _, f := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(field, "tls.handshake.type in {"), "}"), ",") {
			if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil {
				types = append(types, n)
			}
		}
	case strings.HasPrefix(field, "tls.alert_message"):
		alertTerm = field
	default:
		return field
	}
	for _, c := range conns {
		if c.ClientHello.Frame == 0 && c.ServerHello.Frame == 0 && c.CertificateFrame.Frame == 0 {
			return ""
		}
		if c.ClientHello.Frame != 0 || c.ServerClientHello.Frame != 0 {
			types = append(types, 1)
		}
		if c.ServerHello.Frame != 0 {
			types = append(types, 2)
		}
		if c.CertificateFrame.Frame != 0 {
			types = append(types, 11)
		}
		if len(c.Alerts) > 0 && alertTerm == "" {
			alertTerm = "tls.alert_message"
		}
	}
	slices.Sort(types)
	types = slices.Compact(types)
	var terms []string
	switch len(types) {
	case 0:
	case 1:
		terms = append(terms, "tls.handshake.type == "+strconv.Itoa(types[0]))
	default:
		list := make([]string, len(types))
		for i, t := range types {
			list[i] = strconv.Itoa(t)
		}
		terms = append(terms, "tls.handshake.type in {"+strings.Join(list, ", ")+"}")
	}
	if alertTerm != "" {
		terms = append(terms, alertTerm)
	}
	if len(terms) == 1 {
		return terms[0]
	}
	return "(" + strings.Join(terms, " || ") + ")"
}

// connectionsFilter is tlsFilter for a group of connections to one
// server: the server's endpoint instead of one client's flow when there
// are several.
func connectionsFilter(conns []*diagnose.TLSConnection, field string) string {
	c := conns[0]
	if len(conns) == 1 || c.Allocation != nil {
		return tlsFilter(c, field)
	}
	for _, x := range conns[1:] {
		if x.Server != c.Server || x.Transport != c.Transport {
			return tlsFilter(c, field)
		}
	}
	field = citedField(conns, field)
	if field == "" {
		return diagnose.FilterEndpoint(c.Server, c.Transport)
	}
	if c.DTLS {
		field = strings.ReplaceAll(field, "tls.", "dtls.")
	}
	return diagnose.FilterEndpoint(c.Server, c.Transport) + " && " + orCitedFrames(conns, field)
}

// connectionFlow is the connection's flow as Wireshark sees it: for DTLS
// relayed through TURN, the TURN client and server.
func connectionFlow(c *diagnose.TLSConnection) string {
	if c.Allocation != nil && c.Allocation.Client.IsValid() {
		return diagnose.FilterFlow(c.Allocation.Client, c.Allocation.Server, c.Allocation.Transport)
	}
	return diagnose.FilterFlow(c.Client, c.Server, c.Transport)
}

// addConnection cites a connection's handshake frames and endpoints.
func (e *evidence) addConnection(c *diagnose.TLSConnection) {
	e.addFrame(c.ClientHello)
	e.addFrame(c.ServerHello)
	e.addFrame(c.CertificateFrame)
	for _, al := range c.Alerts {
		e.addFrame(al.FrameRef)
	}
	if c.ClientHello.Frame == 0 && c.ServerHello.Frame == 0 {
		e.addFrame(c.First)
	}
	e.addEndpoint(c.Client)
	e.addEndpoint(c.Server)
}

// connectionLabel describes a connection: "TLS from 192.0.2.10:50000 to
// 203.0.113.5:443", with the TURN server for relayed DTLS.
func connectionLabel(c *diagnose.TLSConnection) string {
	s := fmt.Sprintf("%s from %s to %s", protocolName(c), endpointString(c.Client), endpointString(c.Server))
	if c.Transport != decode.TCP && !c.DTLS {
		s += " (" + c.Transport.String() + ")"
	}
	if c.Allocation != nil {
		s += " relayed through the TURN server " + endpointString(c.Allocation.Server)
	}
	return s
}

// webRTCDTLS tells DTLS that keys SRTP for WebRTC or a SIP call (RFC 5763,
// RFC 8827): its certificates are self-signed by design and authenticated
// by the fingerprint in the SDP, never by a CA, a name or a validity period.
func webRTCDTLS(c *diagnose.TLSConnection) bool {
	return c.DTLS && (c.SRTPProfile != 0 || c.Call != nil)
}

// connectionKey groups findings per server and certificate.
type connectionKey struct {
	server    netip.AddrPort
	transport decode.Transport
	dtls      bool
	cert      [32]byte
	detail    string
}

// groupConnections groups connections by key in order of first appearance.
func groupConnections(conns []*diagnose.TLSConnection, key func(*diagnose.TLSConnection) (connectionKey, bool)) ([]connectionKey, map[connectionKey][]*diagnose.TLSConnection) {
	var order []connectionKey
	m := make(map[connectionKey][]*diagnose.TLSConnection)
	for _, c := range conns {
		if c == nil {
			continue
		}
		k, ok := key(c)
		if !ok {
			continue
		}
		if _, seen := m[k]; !seen {
			order = append(order, k)
		}
		m[k] = append(m[k], c)
	}
	return order, m
}

// clientsOf lists the distinct clients of some connections, at most n.
func clientsOf(conns []*diagnose.TLSConnection, n int) string {
	var list []string
	more := 0
	seen := map[string]bool{}
	for _, c := range conns {
		s := endpointString(c.Client)
		if seen[s] {
			continue
		}
		seen[s] = true
		if len(list) < n {
			list = append(list, s)
		} else {
			more++
		}
	}
	s := strings.Join(list, ", ")
	if more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

// connectionsPhrase: "A TLS connection from X to Y" or "5 TLS connections
// from 3 clients (A, B, C) to Y".
func connectionsPhrase(conns []*diagnose.TLSConnection) string {
	c := conns[0]
	if len(conns) == 1 {
		return "The " + strings.Replace(connectionLabel(c), " from ", " connection from ", 1)
	}
	return fmt.Sprintf("%d %s connections from %s to %s", len(conns), protocolName(c), clientsOf(conns, 4), endpointString(c.Server))
}

// humanDuration says how long: "3 days", "5 hours", "42 minutes", "12 s".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int(d.Round(24*time.Hour)/(24*time.Hour)), "day", "days")
	case d >= 2*time.Hour:
		return plural(int(d.Round(time.Hour)/time.Hour), "hour", "hours")
	case d >= 2*time.Minute:
		return plural(int(d.Round(time.Minute)/time.Minute), "minute", "minutes")
	}
	return seconds(d.Round(time.Second)) + " s"
}

// dateTime prints a certificate date: "2025-01-31 23:59:59 UTC".
func dateTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
