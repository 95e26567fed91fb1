package rules

import (
	"fmt"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// TLSHandshakeFailure finds TLS and DTLS handshakes ended by a fatal alert,
// and says what the alert means and who sent it. A DTLS handshake in which
// both ends sent a ClientHello failed on roles, whatever alert follows:
// both took the active side of the SDP a=setup negotiation.
type TLSHandshakeFailure struct{}

func (TLSHandshakeFailure) ID() string                  { return "tls.handshake-failure" }
func (TLSHandshakeFailure) Severity() diagnose.Severity { return diagnose.Error }
func (TLSHandshakeFailure) Title() string               { return "TLS handshake failed" }

func (TLSHandshakeFailure) Explain() string {
	return "Checks TLS and DTLS handshakes that ended with a fatal alert before they completed, and says which " +
		"side gave up and why, in the alert's words (RFC 8446 §6.2). The common ones: handshake_failure (no " +
		"cipher suite, version or key exchange both sides accept), protocol_version (one side only speaks TLS " +
		"1.0/1.1), unknown_ca or bad_certificate sent by the client (it does not trust the server's " +
		"certificate: self-signed, a private CA, or a missing intermediate, typical of an edge box with its " +
		"default certificate), certificate_expired, unrecognized_name (the server has no certificate for the " +
		"requested name), no_application_protocol (ALPN mismatch), certificate_required (mutual TLS without a " +
		"client certificate). A DTLS handshake where both ends sent a ClientHello is a role conflict: both acted as " +
		"the DTLS client, because the SDP a=setup negotiation (RFC 5763 §5: the offer says actpass, the answer " +
		"active or passive) was mishandled. Alerts after the handshake, and alerts TLS 1.3 encrypts, are not judged."
}

func (r TLSHandshakeFailure) Check(a *diagnose.Analysis) []diagnose.Finding {
	order, groups := groupConnections(a.TLSConnections, func(c *diagnose.TLSConnection) (connectionKey, bool) {
		if roleConflict(c) {
			return connectionKey{server: c.Server, transport: c.Transport, dtls: c.DTLS, detail: "both client"}, true
		}
		al, ok := handshakeAlert(c)
		if !ok {
			return connectionKey{}, false
		}
		return connectionKey{server: c.Server, transport: c.Transport, dtls: c.DTLS,
			detail: fmt.Sprintf("%t/%d", al.FromServer, al.Description)}, true
	})
	var found []serverFinding
	for _, k := range order {
		found = append(found, serverFinding{r.finding(groups[k]), k.server, k.transport})
	}
	return capFindings(r, found)
}

// roleConflict: both ends sent a ClientHello and the handshake did not
// complete.
func roleConflict(c *diagnose.TLSConnection) bool {
	return c.BothClientHello && c.Outcome != "established"
}

// handshakeAlert is the fatal alert that ended a failed handshake.
func handshakeAlert(c *diagnose.TLSConnection) (diagnose.TLSAlert, bool) {
	if c.Outcome != "failed" {
		return diagnose.TLSAlert{}, false
	}
	if c.FailedBy.Level == 2 {
		return c.FailedBy, true
	}
	for _, al := range c.Alerts {
		if al.Level == 2 {
			return al, true
		}
	}
	return diagnose.TLSAlert{}, false
}

func (r TLSHandshakeFailure) finding(conns []*diagnose.TLSConnection) diagnose.Finding {
	c := conns[0]
	if roleConflict(c) {
		return r.roleConflictFinding(conns)
	}
	al, _ := handshakeAlert(c)
	var ev evidence
	for _, x := range conns {
		ev.addConnection(x)
	}
	sender, senderAddr := "client", c.Client
	if al.FromServer {
		sender, senderAddr = "server", c.Server
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s failed: the %s (%s) ended the handshake with the fatal alert %s (%d, frame %d): %s.",
		connectionsPhrase(conns), sender, endpointString(senderAddr), alertName(al.Description), al.Description, al.Frame, alertMeaning(al.Description))
	if len(conns) > 1 {
		fmt.Fprintf(&d, " Each of the %d handshakes ended the same way.", len(conns))
	}
	if s := handshakeContext(c); s != "" {
		d.WriteString(" " + s)
	}
	if s := alertHint(c, al); s != "" {
		d.WriteString(" " + s)
	}
	title := fmt.Sprintf("%s handshake with %s failed: %s from the %s", protocolName(c), endpointString(c.Server), alertName(al.Description), sender)
	return ev.finding(r, title, d.String(), connectionsFilter(conns, fmt.Sprintf("tls.alert_message.desc == %d", al.Description)))
}

func (r TLSHandshakeFailure) roleConflictFinding(conns []*diagnose.TLSConnection) diagnose.Finding {
	c := conns[0]
	var ev evidence
	for _, x := range conns {
		ev.addConnection(x)
		ev.addFrame(x.ServerClientHello)
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s failed: both ends sent a ClientHello, %s in frame %d and %s in frame %d, so both acted as the %s client and neither as the server.",
		connectionsPhrase(conns), endpointString(c.Client), c.ClientHello.Frame, endpointString(c.Server), c.ServerClientHello.Frame, protocolName(c))
	if al, ok := handshakeAlert(c); ok {
		sender := "client"
		if al.FromServer {
			sender = "server"
		}
		fmt.Fprintf(&d, " The %s then gave up with the alert %s (%d, frame %d).", sender, alertName(al.Description), al.Description, al.Frame)
	}
	if len(conns) > 1 {
		fmt.Fprintf(&d, " Each of the %d handshakes ended the same way.", len(conns))
	}
	d.WriteString(" This is a DTLS role conflict: the SDP a=setup negotiation decides who is the DTLS client (RFC 5763 §5: the offerer says actpass, the answerer picks active or passive, and the active side sends the ClientHello). Here both sides took the active role: an answer that said actpass or active back to an active offer, or a gateway that rewrote a=setup on one leg only. Compare the a=setup lines of the offer and the answer.")
	if c.Call != nil {
		fmt.Fprintf(&d, " The call is %s.", quoted(c.Call.CallID))
	}
	filter := connectionsFilter(conns, "tls.handshake.type == 1")
	title := fmt.Sprintf("%s handshake with %s failed: both ends sent a ClientHello (role conflict)", protocolName(c), endpointString(c.Server))
	return ev.finding(r, title, d.String(), filter)
}

// handshakeContext says how far the handshake got: what was offered and
// chosen.
func handshakeContext(c *diagnose.TLSConnection) string {
	var parts []string
	if c.ClientHello.Frame != 0 {
		s := fmt.Sprintf("The client offered up to %s", tlsVersionName(highestOffered(c.OfferedVersions)))
		if highestOffered(c.OfferedVersions) == 0 {
			s = "The client's hello named no version this program knows"
		}
		if c.SNI != "" {
			s += " for " + quoted(c.SNI)
		}
		if len(c.ALPN) > 0 {
			s += " with ALPN " + strings.Join(quoteAll(c.ALPN), ", ")
		}
		parts = append(parts, s+" (frame "+fmt.Sprint(c.ClientHello.Frame)+").")
	}
	if c.ServerHello.Frame != 0 {
		parts = append(parts, fmt.Sprintf("The server chose %s (frame %d).", tlsVersionName(c.Version), c.ServerHello.Frame))
	} else if c.ClientHello.Frame != 0 {
		parts = append(parts, "No ServerHello was seen.")
	}
	return strings.Join(parts, " ")
}

// alertHint ties an alert to what the capture shows of the certificate.
func alertHint(c *diagnose.TLSConnection, al diagnose.TLSAlert) string {
	if al.FromServer || len(c.Certificates) == 0 {
		switch al.Description {
		case 112:
			if c.SNI != "" {
				return fmt.Sprintf("The server has no certificate configured for %s.", quoted(c.SNI))
			}
		case 70:
			if legacyVersion(highestOffered(c.OfferedVersions)) {
				return "The client offered only legacy versions (see tls.legacy-version): update the client or its TLS settings."
			}
			return "The server accepts only versions the client did not offer: check the server's minimum and maximum TLS version."
		}
		return ""
	}
	leaf := &c.Certificates[0]
	switch al.Description {
	case 42, 46, 48:
		if leaf.SelfSigned {
			return fmt.Sprintf("The server's certificate (subject %s) is self-signed: install one from a CA the client trusts, or add it to the client's trust store.", quoted(leaf.Subject))
		}
		if c.SNI != "" && !certCovers(leaf, c.SNI) {
			return fmt.Sprintf("The server's certificate does not cover %s (see tls.name-mismatch).", quoted(c.SNI))
		}
		if len(c.Certificates) == 1 && leaf.Issuer != leaf.Subject {
			return fmt.Sprintf("The server sent its certificate alone, issued by %s: if that CA is an intermediate, the server must send it too.", quoted(leaf.Issuer))
		}
		return fmt.Sprintf("The server's certificate was issued by %s: the client must trust that CA.", quoted(leaf.Issuer))
	case 45:
		return "See tls.expired for the certificate's dates."
	}
	return ""
}
