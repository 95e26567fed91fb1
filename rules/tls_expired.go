package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/diagnose"
)

// TLSExpired finds certificates in a server's chain (or a client's) that
// had expired, or were not valid yet, when the capture saw them. The leaf
// is an error; an intermediate or root in the sent chain is a warning:
// clients build their own path from their trust store (RFC 4158) and one
// that finds another path ignores it (e.g. an expired cross-sign such as
// Let's Encrypt's DST Root CA X3 in 2021).
type TLSExpired struct{}

func (TLSExpired) ID() string                      { return "tls.expired" }
func (TLSExpired) Severity() diagnose.Severity     { return diagnose.Error }
func (TLSExpired) Severities() []diagnose.Severity { return warningOrError() }
func (TLSExpired) Title() string                   { return "TLS certificate expired or not yet valid" }

func (TLSExpired) Explain() string {
	return "Checks every certificate of the chains visible in the capture (TLS 1.2 and earlier, DTLS 1.2) against " +
		"the time of the packet that carried it: a certificate past its notAfter date, or before its notBefore " +
		"date, in the server's chain or the client's. An expired leaf is an error: clients reject it (alert " +
		"certificate_expired, browsers show NET::ERR_CERT_DATE_INVALID). An expired intermediate or root in " +
		"the chain the server sends is a warning: clients that build another path ignore it (e.g. an expired " +
		"cross-sign), while those that follow the chain as sent fail. A certificate that is not valid yet " +
		"usually means a wrong clock, on the box that generated it or on the one that captured (the capture's " +
		"timestamps come from the capturing machine); captures stamped before 2000 come from a machine whose " +
		"clock was never set and are not judged. DTLS-SRTP certificates of WebRTC and SIP calls are not " +
		"checked: peers authenticate them by the SDP fingerprint only."
}

// plausibleClock is the earliest capture time validity is judged at: a
// capture stamped before it came from a machine whose clock was never set
// (1970, the epoch), and its times say nothing about certificates.
var plausibleClock = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// notYetValidSlack absorbs clock differences between the capturing machine
// and the issuer: a certificate issued a minute ago is not an error.
const notYetValidSlack = 5 * time.Minute

func (r TLSExpired) Check(a *diagnose.Analysis) []diagnose.Finding {
	type problem struct {
		cert     *tls.Certificate
		position string // "server certificate", "intermediate certificate 2", "client certificate"
		when     time.Time
		leaf     bool
	}
	problems := map[connectionKey]problem{}
	order, groups := groupConnections(a.TLSConnections, func(c *diagnose.TLSConnection) (connectionKey, bool) {
		when := chainTime(c)
		if when.Before(plausibleClock) || webRTCDTLS(c) {
			return connectionKey{}, false
		}
		for _, chain := range []struct {
			certs  []tls.Certificate
			client bool
		}{{c.Certificates, false}, {c.ClientCertificates, true}} {
			for i := range chain.certs {
				cert := &chain.certs[i]
				if cert.ParseError != "" || cert.NotAfter.IsZero() {
					continue
				}
				if !when.After(cert.NotAfter) && !cert.NotBefore.After(when.Add(notYetValidSlack)) {
					continue
				}
				k := connectionKey{server: c.Server, transport: c.Transport, dtls: c.DTLS, cert: cert.SHA256}
				if _, ok := problems[k]; !ok {
					problems[k] = problem{cert, chainPosition(i, len(chain.certs), chain.client), when, i == 0}
				}
				return k, true
			}
		}
		return connectionKey{}, false
	})
	var found []serverFinding
	for _, k := range order {
		p := problems[k]
		f := r.finding(groups[k], p.cert, p.position, p.when, p.leaf)
		if !p.leaf {
			f.Severity = diagnose.Warning
		}
		found = append(found, serverFinding{f, k.server, k.transport})
	}
	return capFindings(r, found)
}

func chainPosition(i, n int, client bool) string {
	who := "server"
	if client {
		who = "client"
	}
	switch {
	case i == 0:
		return "the " + who + "'s certificate"
	case i == n-1 && n > 2:
		return fmt.Sprintf("the last certificate of the %s's chain (number %d)", who, i+1)
	}
	return fmt.Sprintf("intermediate certificate %d of the %s's chain", i+1, who)
}

func (r TLSExpired) finding(conns []*diagnose.TLSConnection, cert *tls.Certificate, position string, when time.Time, leaf bool) diagnose.Finding {
	c := conns[0]
	var ev evidence
	for _, x := range conns {
		ev.addConnection(x)
	}
	var d strings.Builder
	expired := when.After(cert.NotAfter)
	fmt.Fprintf(&d, "In %s, %s (subject %s, issued by %s, SHA-256 %s, frame %d)",
		lowerFirst(connectionsPhrase(conns)), position, quoted(cert.Subject), quoted(cert.Issuer),
		certFingerprint(cert.SHA256), c.CertificateFrame.Frame)
	var title string
	switch {
	case expired && !leaf:
		fmt.Fprintf(&d, " expired on %s, %s before the capture saw it (%s).", dateTime(cert.NotAfter), humanDuration(when.Sub(cert.NotAfter)), dateTime(when))
		d.WriteString(" It is not the leaf: clients that build another path ignore it (e.g. an expired cross-sign, when their trust store holds a newer root for the same issuer), while clients that follow the chain as sent, often older phones and embedded stacks, reject it. Remove it from the chain the server sends, or replace it with the current intermediate.")
		title = fmt.Sprintf("Expired certificate in the chain of %s (%s)", endpointString(c.Server), certSubject(cert))
	case expired:
		fmt.Fprintf(&d, " expired on %s, %s before the capture saw it (%s).", dateTime(cert.NotAfter), humanDuration(when.Sub(cert.NotAfter)), dateTime(when))
		d.WriteString(" Clients reject it: browsers show NET::ERR_CERT_DATE_INVALID, phones and SIP trunks end the handshake with certificate_expired. Renew the certificate and install it with its chain; check that automatic renewal (e.g. ACME) reaches this box.")
		title = fmt.Sprintf("Expired certificate on %s (%s)", endpointString(c.Server), certSubject(cert))
	default:
		fmt.Fprintf(&d, " is not valid before %s, %s after the capture saw it (%s).", dateTime(cert.NotBefore), humanDuration(cert.NotBefore.Sub(when)), dateTime(when))
		d.WriteString(" Clients reject it until then. A certificate from the future usually means a wrong clock: on the machine that issued it, or on the one that captured (check NTP on both).")
		title = fmt.Sprintf("Certificate on %s not valid yet (%s)", endpointString(c.Server), certSubject(cert))
	}
	if rejected := rejectingAlert(conns); rejected != "" {
		d.WriteString(" " + rejected)
	}
	return ev.finding(r, title, d.String(), connectionsFilter(conns, "tls.handshake.type == 11"))
}

// lowerFirst lowers a sentence's first letter to use it inside another.
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
