package rules

import (
	"fmt"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// TLSSelfSigned finds TLS servers that present a self-signed certificate,
// and DTLS servers that are servers in the TLS sense: TURN over DTLS
// (RFC 7350), whose certificate the client checks as a TLS client would.
// DTLS-SRTP is left out: WebRTC and SIP DTLS-SRTP certificates are
// self-signed by design and authenticated by the SDP fingerprint (RFC 8827
// §6.5, RFC 5763 §5). DTLS is taken for DTLS-SRTP when use_srtp was offered
// or chosen (RFC 5764 §4.1), or when it runs on an ICE pair or belongs to a
// call.
type TLSSelfSigned struct{}

func (TLSSelfSigned) ID() string                  { return "tls.self-signed" }
func (TLSSelfSigned) Severity() diagnose.Severity { return diagnose.Warning }
func (TLSSelfSigned) Title() string               { return "Self-signed TLS certificate" }

func (TLSSelfSigned) Explain() string {
	return "Checks the certificate TLS servers present (visible in TLS 1.2 and earlier; TLS 1.3 encrypts it) " +
		"and reports a server certificate that is self-signed: its issuer is its own subject and it " +
		"verifies with its own key. No client trusts it unless told to: browsers show \"not secure\" or refuse " +
		"the page of a web bridge, SIP phones and trunks to a cloud reject the TLS connection (often with an " +
		"unknown_ca or bad_certificate alert), TURN-over-TLS and TURN-over-DTLS clients fail to allocate. It is " +
		"typical of an edge box or TURN server still running with the certificate it generated at installation. " +
		"Install a certificate from a public CA (or from the private CA the clients trust) with the full chain. " +
		"DTLS-SRTP certificates are not checked (DTLS offering use_srtp, on an ICE pair or tied to a call): " +
		"WebRTC and DTLS-SRTP use self-signed certificates by design and authenticate them with the SDP " +
		"fingerprint (see dtls.fingerprint-mismatch)."
}

func (r TLSSelfSigned) Check(a *diagnose.Analysis) []diagnose.Finding {
	order, groups := groupConnections(a.TLSConnections, func(c *diagnose.TLSConnection) (connectionKey, bool) {
		if dtlsSRTP(c) || len(c.Certificates) == 0 || !c.Certificates[0].SelfSigned {
			return connectionKey{}, false
		}
		return connectionKey{server: c.Server, transport: c.Transport, cert: c.Certificates[0].SHA256}, true
	})
	var found []serverFinding
	for _, k := range order {
		conns := groups[k]
		found = append(found, serverFinding{r.finding(conns), k.server, k.transport})
	}
	return capFindings(r, found)
}

func (r TLSSelfSigned) finding(conns []*diagnose.TLSConnection) diagnose.Finding {
	c := conns[0]
	cert := &c.Certificates[0]
	var ev evidence
	for _, x := range conns {
		ev.addConnection(x)
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s %s a self-signed certificate: subject %s", connectionsPhrase(conns), gotVerb(len(conns)), quoted(cert.Subject))
	if names := certNames(cert); len(names) > 0 {
		fmt.Fprintf(&d, ", valid for %s", strings.Join(names, ", "))
	}
	fmt.Fprintf(&d, ", SHA-256 %s (frame %d).", certFingerprint(cert.SHA256), c.CertificateFrame.Frame)
	if len(c.Certificates) > 1 {
		fmt.Fprintf(&d, " The server sent %d certificates, but the first, its own, signs itself.", len(c.Certificates))
	}
	if c.SNI != "" {
		fmt.Fprintf(&d, " The client asked for %s.", quoted(c.SNI))
	}
	fmt.Fprintf(&d, " No client trusts such a certificate unless it was installed on it: browsers show \"not secure\" or refuse the page, phones and SIP trunks reject the connection, TURN-over-%s clients cannot allocate.", protocolName(c))
	if rejected := rejectingAlert(conns); rejected != "" {
		d.WriteString(" " + rejected)
	} else if c.Outcome == "established" {
		d.WriteString(" This client went on with the connection: it was told to trust the certificate, or does not check.")
	}
	d.WriteString(" Install a certificate from a CA the clients trust, with its intermediate certificates.")
	title := fmt.Sprintf("Self-signed certificate on %s (%s)", endpointString(c.Server), certSubject(cert))
	return ev.finding(r, title, d.String(), connectionsFilter(conns, "tls.handshake.type == 11"))
}

// dtlsSRTP says whether a DTLS association keys SRTP, or at least belongs
// to media: its certificates are then self-signed by design.
func dtlsSRTP(c *diagnose.TLSConnection) bool {
	return c.DTLS && (len(c.OfferedSRTPProfiles) > 0 || c.SRTPProfile != 0 || c.ICE != nil || c.Call != nil)
}

// rejectingAlert says when a client refused the certificate with an alert.
func rejectingAlert(conns []*diagnose.TLSConnection) string {
	for _, c := range conns {
		for _, al := range c.Alerts {
			if !al.FromServer && al.Level == 2 {
				return fmt.Sprintf("The client %s refused it with the fatal alert %s (frame %d).", endpointString(c.Client), alertName(al.Description), al.Frame)
			}
		}
	}
	return ""
}

func gotVerb(n int) string {
	if n == 1 {
		return "was shown"
	}
	return "were shown"
}
