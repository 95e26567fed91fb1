package rules

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/diagnose"
)

// DTLSFingerprintMismatch finds DTLS-SRTP handshakes whose certificate is
// not the one the call's SDP announced with a=fingerprint (RFC 8122 §5).
type DTLSFingerprintMismatch struct{}

func (DTLSFingerprintMismatch) ID() string                  { return "dtls.fingerprint-mismatch" }
func (DTLSFingerprintMismatch) Severity() diagnose.Severity { return diagnose.Error }
func (DTLSFingerprintMismatch) Title() string {
	return "DTLS certificate does not match the SDP fingerprint"
}

func (DTLSFingerprintMismatch) Explain() string {
	return "Checks DTLS-SRTP handshakes tied to a call (through its SDP, or the ICE session its SDP set up): " +
		"the SHA-256 of each certificate the DTLS client and server presented must equal an a=fingerprint:sha-256 " +
		"of the call's SDP offer or answer. WebRTC and DTLS-SRTP endpoints authenticate the self-signed DTLS " +
		"certificate only this way (RFC 5763 §5, RFC 8827 §6.5) and must abort the handshake on a mismatch, so " +
		"the call connects but media never flows. Usual causes: a middlebox that intercepts DTLS (a firewall " +
		"with TLS inspection, an SBC or media gateway that terminates DTLS without rewriting the SDP), or " +
		"signalling and media from different sessions (an SDP from an earlier attempt, or two calls mixed up " +
		"behind the same addresses). Fingerprints with other hash functions than SHA-256 are not compared."
}

// sdpFingerprint is one a=fingerprint:sha-256 of a call's SDPs and where it was.
type sdpFingerprint struct {
	sum [32]byte
	sdp diagnose.FrameRef
}

func (r DTLSFingerprintMismatch) Check(a *diagnose.Analysis) []diagnose.Finding {
	type tied struct {
		conn *diagnose.TLSConnection
		call *diagnose.Call
	}
	var list []tied
	seen := map[*diagnose.TLSConnection]bool{}
	add := func(c *diagnose.TLSConnection, call *diagnose.Call) {
		if c == nil || call == nil || !c.DTLS || seen[c] {
			return
		}
		seen[c] = true
		list = append(list, tied{c, call})
	}
	for _, s := range a.ICESessions {
		if s == nil {
			continue
		}
		for _, c := range s.DTLS {
			add(c, s.Call)
		}
	}
	for _, c := range a.TLSConnections {
		if c != nil {
			add(c, c.Call)
		}
	}
	for _, c := range a.TLSConnections {
		// Checked by the correlator, which knows each side's own SDP.
		if c != nil && c.FingerprintChecked && c.ICE != nil {
			add(c, c.ICE.Call)
		}
	}
	var found []serverFinding
	for _, t := range list {
		fps := callFingerprints(t.call)
		if len(fps) == 0 {
			continue
		}
		if t.conn.FingerprintChecked {
			who, certs := "client", t.conn.ClientCertificates
			if t.conn.FingerprintMismatchFromServer {
				who, certs = "server", t.conn.Certificates
			}
			if t.conn.FingerprintMismatch && len(certs) > 0 {
				found = append(found, serverFinding{r.finding(t.conn, t.call, fps, []string{who}), t.conn.Server, t.conn.Transport})
			}
			continue
		}
		var wrong []string
		for _, side := range []struct {
			who   string
			certs []tls.Certificate
		}{{"server", t.conn.Certificates}, {"client", t.conn.ClientCertificates}} {
			if len(side.certs) == 0 || side.certs[0].ParseError != "" {
				continue
			}
			if !matchesFingerprint(side.certs[0].SHA256, fps) {
				wrong = append(wrong, side.who)
			}
		}
		if len(wrong) > 0 {
			found = append(found, serverFinding{r.finding(t.conn, t.call, fps, wrong), t.conn.Server, t.conn.Transport})
		}
	}
	return capFindings(r, found)
}

// callFingerprints collects the SHA-256 fingerprints of a call's SDPs.
func callFingerprints(c *diagnose.Call) []sdpFingerprint {
	sdps := c.SDPs
	if len(sdps) == 0 {
		sdps = []*diagnose.SDPSeen{c.Offer, c.Answer}
	}
	var out []sdpFingerprint
	add := func(v string, sdp diagnose.FrameRef) {
		sum, ok := parseSHA256Fingerprint(v)
		if !ok {
			return
		}
		for _, f := range out {
			if f.sum == sum {
				return
			}
		}
		out = append(out, sdpFingerprint{sum, sdp})
	}
	for _, s := range sdps {
		if s == nil || s.Session == nil {
			continue
		}
		add(s.Session.Fingerprint, s.FrameRef)
		for _, m := range s.Session.Media {
			add(m.Fingerprint, s.FrameRef)
		}
	}
	return out
}

// parseSHA256Fingerprint reads "sha-256 AB:CD:..." (RFC 8122 §5: the hash
// function's name is case-insensitive, the hex upper case, but lower case
// is seen in the wild).
func parseSHA256Fingerprint(v string) ([32]byte, bool) {
	var sum [32]byte
	algo, hexs, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(algo, "sha-256") {
		return sum, false
	}
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(hexs), ":", ""))
	if err != nil || len(b) != len(sum) {
		return sum, false
	}
	copy(sum[:], b)
	return sum, true
}

func matchesFingerprint(sum [32]byte, fps []sdpFingerprint) bool {
	for _, f := range fps {
		if f.sum == sum {
			return true
		}
	}
	return false
}

func (r DTLSFingerprintMismatch) finding(c *diagnose.TLSConnection, call *diagnose.Call, fps []sdpFingerprint, wrong []string) diagnose.Finding {
	var ev evidence
	ev.addConnection(c)
	for _, f := range fps {
		ev.addFrame(f.sdp)
	}
	var d strings.Builder
	fmt.Fprintf(&d, "%s belongs to the call %s (Call-ID %s), but", connectionsPhrase([]*diagnose.TLSConnection{c}), quoted(call.From+" → "+call.To), quoted(call.CallID))
	for i, who := range wrong {
		certs := c.Certificates
		addr := c.Server
		if who == "client" {
			certs, addr = c.ClientCertificates, c.Client
		}
		if i > 0 {
			d.WriteString(" and")
		}
		fmt.Fprintf(&d, " the DTLS %s %s presented a certificate with SHA-256 %s", who, endpointString(addr), certFingerprint(certs[0].SHA256))
	}
	if c.CertificateFrame.Frame != 0 {
		fmt.Fprintf(&d, " (frame %d)", c.CertificateFrame.Frame)
	}
	d.WriteString(", not the one the call's SDP announced for it. The SDP announced ")
	var list []string
	for _, f := range fps {
		list = append(list, fmt.Sprintf("sha-256 %s (frame %d)", certFingerprint(f.sum), f.sdp.Frame))
	}
	d.WriteString(strings.Join(list, " and "))
	d.WriteString(". The endpoints must abort such a handshake (RFC 8122 §5, RFC 5763 §5), so media cannot flow although the call was set up.")
	d.WriteString(" Usual causes: a middlebox intercepting DTLS (a firewall with TLS inspection, an SBC or media gateway terminating DTLS without rewriting the SDP), or signalling and media from different sessions (an SDP from an earlier attempt).")
	if len(c.Alerts) > 0 {
		al := c.Alerts[0]
		who := "client"
		if al.FromServer {
			who = "server"
		}
		fmt.Fprintf(&d, " The %s sent the alert %s (frame %d).", who, alertName(al.Description), al.Frame)
	}
	filter := "(" + tlsFilter(c, "tls.handshake.type == 11") + ") || " + callSIPFilter(call, nil)
	title := fmt.Sprintf("DTLS certificate of the %s does not match the SDP fingerprint (call %s)", strings.Join(wrong, " and "), quoted(call.CallID))
	return ev.finding(r, title, d.String(), filter)
}
