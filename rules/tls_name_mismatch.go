package rules

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// TLSNameMismatch finds server certificates that do not cover the name the
// client asked for (SNI), or, for clients that sent no SNI, none of the
// names given with --expect-name (Profile.ExpectNames).
type TLSNameMismatch struct {
	Profile *Profile
}

func (TLSNameMismatch) ID() string                  { return "tls.name-mismatch" }
func (TLSNameMismatch) Severity() diagnose.Severity { return diagnose.Error }
func (TLSNameMismatch) Title() string               { return "TLS certificate does not match the server name" }

func (TLSNameMismatch) Explain() string {
	return "Checks that the server certificate (visible in TLS 1.2 and earlier and in DTLS 1.2) is valid for the " +
		"name the client asked for in its server_name extension (SNI). For clients that connect by IP address " +
		"and send no SNI, give the name they should reach with --expect-name, such as the web bridge's external " +
		"FQDN; with several --expect-name, any one of them suffices. An IP address sent as SNI (which RFC 6066 " +
		"forbids) counts as no SNI. Names are compared with the certificate's " +
		"DNS subject alternative names, with RFC 6125 wildcards (\"*.example.com\" covers exactly one label: " +
		"\"a.example.com\", not \"example.com\" nor \"a.b.example.com\"); the subject CN only counts when the " +
		"certificate has no subject alternative names, and browsers ignore it altogether. A mismatch makes " +
		"browsers refuse the page (NET::ERR_CERT_COMMON_NAME_INVALID) and phones or SIP trunks drop the " +
		"connection. Usual causes: the edge box still has its internal or default certificate, a certificate " +
		"made for another host of a cluster, or a DNS name that points at the wrong box. WebRTC DTLS is not " +
		"checked: its certificates carry no names and are authenticated by the SDP fingerprint."
}

func (r TLSNameMismatch) Check(a *diagnose.Analysis) []diagnose.Finding {
	var expected []string
	if r.Profile != nil {
		for _, n := range r.Profile.ExpectNames {
			if n = strings.TrimSpace(n); n != "" {
				expected = append(expected, n)
			}
		}
	}
	order, groups := groupConnections(a.TLSConnections, func(c *diagnose.TLSConnection) (connectionKey, bool) {
		if len(c.Certificates) == 0 || webRTCDTLS(c) {
			return connectionKey{}, false
		}
		leaf := &c.Certificates[0]
		k := connectionKey{server: c.Server, transport: c.Transport, dtls: c.DTLS, cert: leaf.SHA256}
		switch {
		case c.SNI != "" && !sniIsAddress(c.SNI):
			if certCovers(leaf, c.SNI) {
				return k, false
			}
			k.detail = strings.ToLower(c.SNI)
		case len(expected) > 0 && !c.DTLS:
			// No SNI, or an address as SNI: the client reached the
			// server by address.
			for _, n := range expected {
				if certCovers(leaf, n) {
					return k, false
				}
			}
			k.detail = "" // the expected names
		default:
			return k, false
		}
		return k, true
	})
	var found []serverFinding
	for _, k := range order {
		found = append(found, serverFinding{r.finding(groups[k], expected), k.server, k.transport})
	}
	return capFindings(r, found)
}

func (r TLSNameMismatch) finding(conns []*diagnose.TLSConnection, expected []string) diagnose.Finding {
	c := conns[0]
	leaf := &c.Certificates[0]
	var ev evidence
	for _, x := range conns {
		ev.addConnection(x)
	}
	var d strings.Builder
	var wanted []string
	var expectedNote string
	if c.SNI != "" && !sniIsAddress(c.SNI) {
		wanted = []string{c.SNI}
		fmt.Fprintf(&d, "%s asked for %s (server name indication, frame %d), but the certificate the server sent", connectionsPhrase(conns), quoted(c.SNI), c.ClientHello.Frame)
	} else {
		wanted = expected
		names := make([]string, len(expected))
		for i, n := range expected {
			names[i] = quoted(n)
		}
		if c.SNI != "" {
			fmt.Fprintf(&d, "%s carried the address %s as its server name (SNI), which RFC 6066 §3 does not allow: the client connected by address. The certificate the server sent", connectionsPhrase(conns), quoted(c.SNI))
		} else {
			fmt.Fprintf(&d, "%s carried no server name (SNI): the client connected by address. The certificate the server sent", connectionsPhrase(conns))
		}
		expectedNote = fmt.Sprintf(" It is not valid for %s, given with --expect-name.", orList(names))
	}
	fmt.Fprintf(&d, " (frame %d, subject %s, issued by %s)", c.CertificateFrame.Frame, quoted(leaf.Subject), quoted(leaf.Issuer))
	names := certNames(leaf)
	switch {
	case len(names) == 0:
		d.WriteString(" names no host at all.")
	case len(leaf.DNSNames) == 0 && len(leaf.IPs) == 0:
		fmt.Fprintf(&d, " has no subject alternative names, only the CN %s, which browsers ignore (they require a subject alternative name).", quoted(names[0]))
	default:
		fmt.Fprintf(&d, " covers only %s.", strings.Join(quoteAll(names), ", "))
	}
	d.WriteString(expectedNote)
	for _, w := range wanted {
		if hint := wildcardHint(leaf.DNSNames, w); hint != "" {
			d.WriteString(" " + hint)
			break
		}
	}
	if len(wanted) == 1 && wanted[0] == c.SNI {
		d.WriteString(" Browsers refuse such a certificate (NET::ERR_CERT_COMMON_NAME_INVALID) and phones or SIP trunks drop the connection.")
	}
	if rejected := rejectingAlert(conns); rejected != "" {
		d.WriteString(" " + rejected)
	}
	d.WriteString(" Install a certificate whose subject alternative names include the name clients use, or point that name at the box that has one.")
	about := c.SNI
	if len(wanted) == 0 || wanted[0] != c.SNI {
		about = strings.Join(expected, ", ")
	}
	title := fmt.Sprintf("Certificate of %s is not valid for %s", endpointString(c.Server), quoted(about))
	return ev.finding(r, title, d.String(), connectionsFilter(conns, "tls.handshake.type in {1, 11}"))
}

// wildcardHint explains a near miss: a wildcard one label short or long.
func wildcardHint(dnsNames []string, host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range dnsNames {
		rest, ok := strings.CutPrefix(strings.ToLower(p), "*.")
		if !ok {
			continue
		}
		switch {
		case host == rest:
			return fmt.Sprintf("The wildcard %s does not cover %s itself (RFC 6125 §6.4.3): add the bare name as a SAN.", quoted(p), quoted(host))
		case strings.HasSuffix(host, "."+rest):
			return fmt.Sprintf("The wildcard %s covers a single label only (RFC 6125 §6.4.3), not %s.", quoted(p), quoted(host))
		}
	}
	return ""
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quoted(s)
	}
	return out
}

// orList joins "a", "a or b", "a, b or c".
func orList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// sniIsAddress tells an IP address sent as SNI, which RFC 6066 §3 forbids:
// such a client connected by address and checks no name through SNI.
func sniIsAddress(sni string) bool {
	_, err := netip.ParseAddr(strings.Trim(sni, "[]"))
	return err == nil
}
