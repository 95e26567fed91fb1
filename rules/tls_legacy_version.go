package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// TLSLegacyVersion finds handshakes that negotiated, or could at best
// negotiate, SSL, TLS 1.0, TLS 1.1 or DTLS 1.0 (deprecated by RFC 8996).
type TLSLegacyVersion struct{}

func (TLSLegacyVersion) ID() string                  { return "tls.legacy-version" }
func (TLSLegacyVersion) Severity() diagnose.Severity { return diagnose.Warning }
func (TLSLegacyVersion) Title() string               { return "Deprecated TLS or DTLS version" }

func (TLSLegacyVersion) Explain() string {
	return "Checks the protocol version of TLS and DTLS handshakes: a client whose newest offered version is " +
		"SSL 3.0, TLS 1.0, TLS 1.1 or DTLS 1.0, or a server that chose one of them. RFC 8996 deprecates these " +
		"versions; browsers, cloud SIP trunks and current TURN servers refuse them, so the handshake fails " +
		"(often with a protocol_version alert) or will fail after the next update. When the client offered " +
		"TLS 1.2 or later and the server still chose an old version, the server's configuration is at fault " +
		"(or a middlebox interfered); when the client offers nothing newer, it is an old phone, gateway or " +
		"library that needs an update or a configuration change."
}

func (r TLSLegacyVersion) Check(a *diagnose.Analysis) []diagnose.Finding {
	order, groups := groupConnections(a.TLSConnections, func(c *diagnose.TLSConnection) (connectionKey, bool) {
		offered := highestOffered(c.OfferedVersions)
		switch {
		case offered != 0 && legacyVersion(offered):
			// The client can do no better: one finding per client and
			// version, however many servers it reached.
			return connectionKey{server: netip.AddrPortFrom(c.Client.Addr().Unmap(), 0), transport: c.Transport, dtls: c.DTLS,
				detail: fmt.Sprintf("client offered %04x", offered)}, true
		case c.Version != 0 && legacyVersion(c.Version):
			return connectionKey{server: c.Server, transport: c.Transport, dtls: c.DTLS,
				detail: fmt.Sprintf("server chose %04x", c.Version)}, true
		}
		return connectionKey{}, false
	})
	var found []serverFinding
	for _, k := range order {
		found = append(found, serverFinding{r.finding(groups[k]), k.server, k.transport})
	}
	return capFindings(r, found)
}

func (r TLSLegacyVersion) finding(conns []*diagnose.TLSConnection) diagnose.Finding {
	c := conns[0]
	var ev evidence
	for _, x := range conns {
		ev.addConnection(x)
	}
	offered := highestOffered(c.OfferedVersions)
	var d strings.Builder
	var title, filter string
	if offered == 0 || !legacyVersion(offered) {
		fmt.Fprintf(&d, "%s used %s: the client offered up to %s (frame %d), yet the server chose %s (frame %d).",
			connectionsPhrase(conns), tlsVersionName(c.Version), tlsVersionName(offered), c.ClientHello.Frame, tlsVersionName(c.Version), c.ServerHello.Frame)
		d.WriteString(" The server is configured to prefer or allow only deprecated versions (or a middlebox downgraded the handshake): enable TLS 1.2 and 1.3 on it.")
		title = fmt.Sprintf("%s server %s chose %s", protocolName(c), endpointString(c.Server), tlsVersionName(c.Version))
		return ev.finding(r, title, d.String(), connectionsFilter(conns, "tls.handshake.type == 2"))
	}
	client := c.Client.Addr().Unmap().String()
	fmt.Fprintf(&d, "The %s client %s offered at most %s (client hello in frame %d)", protocolName(c), client, tlsVersionName(offered), c.ClientHello.Frame)
	if servers := serversOf(conns, 4); len(conns) > 1 {
		fmt.Fprintf(&d, " in %d connections to %s", len(conns), servers)
	} else {
		fmt.Fprintf(&d, " to %s", servers)
	}
	var accepted, failed int
	for _, x := range conns {
		switch {
		case x.Version != 0 && legacyVersion(x.Version):
			accepted++
		case x.Outcome == "failed":
			failed++
		}
	}
	switch {
	case accepted == len(conns) && accepted == 1:
		fmt.Fprintf(&d, ", and the server accepted %s (frame %d): both ends still speak a deprecated version.", tlsVersionName(c.Version), c.ServerHello.Frame)
	case accepted == len(conns):
		d.WriteString(", and the servers accepted it: both ends still speak a deprecated version.")
	case accepted > 0:
		fmt.Fprintf(&d, "; %d of them were accepted with a deprecated version.", accepted)
	case failed > 0:
		fmt.Fprintf(&d, "; %s failed.", plural(failed, "handshake", "handshakes"))
	default:
		d.WriteString("; no server hello was seen.")
	}
	d.WriteString(" The client is an old phone, gateway or library: servers that follow RFC 8996 refuse it. Update it or enable TLS 1.2 in its settings; disable the old versions on the servers once clients are updated.")
	title = fmt.Sprintf("%s client %s offers at most %s", protocolName(c), client, tlsVersionName(offered))
	filter = tlsFilter(c, "tls.handshake.type == 1")
	if len(conns) > 1 {
		// The client's address, not only as the source: the finding also
		// cites the servers' hellos and certificates.
		field := citedField(conns, "tls.handshake.type == 1")
		if c.DTLS {
			field = strings.ReplaceAll(field, "tls.", "dtls.")
		}
		filter = addrFilter("addr", c.Client.Addr())
		if field != "" {
			filter += " && " + orCitedFrames(conns, field)
		}
	}
	return ev.finding(r, title, d.String(), filter)
}

// serversOf lists the distinct servers of some connections, at most n:
// "203.0.113.20:443" or "3 servers (a, b, c)".
func serversOf(conns []*diagnose.TLSConnection, n int) string {
	var list []string
	total := 0
	seen := map[string]bool{}
	for _, c := range conns {
		s := endpointString(c.Server)
		if seen[s] {
			continue
		}
		seen[s] = true
		total++
		if len(list) < n {
			list = append(list, s)
		}
	}
	if total == 1 {
		return list[0]
	}
	s := strings.Join(list, ", ")
	if total > n {
		s += fmt.Sprintf(" and %d more", total-n)
	}
	return fmt.Sprintf("%d servers (%s)", total, s)
}
