package rules

import (
	"fmt"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// SIPCallFailed reports calls whose INVITE got a final 3xx-6xx: the
// correlation's Outcome "failed", which already leaves out a 401/407
// challenge that was answered and a 487 after the caller's own CANCEL.
//
// Severity: error, except when the callee's side said no on purpose:
// 486 Busy Here, 600 Busy Everywhere, 603 Decline, or a Q.850 cause 17
// (user busy) or 21 (call rejected); and 3xx redirections, which the
// caller is expected to follow. Those are warnings: worth seeing, rarely a
// fault of the network. So is a final response other than 487 after the
// caller's own CANCEL (a 408 when the CANCEL was not answered): the caller
// gave up, and what is left to see is the CANCEL nobody answered.
//
// A 401/407/403 to an INVITE that carried credentials is also reported by
// sip.auth-failure, from the credentials' side; each finding names the
// other.
type SIPCallFailed struct{}

func (SIPCallFailed) ID() string                      { return "sip.call-failed" }
func (SIPCallFailed) Severity() diagnose.Severity     { return diagnose.Error }
func (SIPCallFailed) Severities() []diagnose.Severity { return warningOrError() }
func (SIPCallFailed) Title() string                   { return "SIP call failed" }

func (SIPCallFailed) Explain() string {
	return "Reports calls whose INVITE was answered with a final 3xx, 4xx, 5xx or 6xx response (not the " +
		"401/407 digest challenge the caller answers, and not 487 Request Terminated after the caller's own " +
		"CANCEL), with the status, the reason phrase, the Reason header (Q.850 cause numbers decoded) and who " +
		"sent the response (its address and Server header): the far phone, a proxy, an SBC or a gateway. " +
		"Busy and decline (486, 600, 603, Q.850 causes 17 and 21) and redirections (3xx) are warnings, since " +
		"a person or a routing rule chose them; everything else is an error. Typical causes: 404/484 a number " +
		"the dial plan does not know, 403 a call not allowed for that user or trunk, 408/480 the callee not " +
		"registered or not answering, 488/415 no common codec or SRTP policy, 500/503 a server or trunk out of " +
		"service, 502/504 a next hop that did not answer."
}

func (r SIPCallFailed) Check(a *diagnose.Analysis) []diagnose.Finding {
	var out []diagnose.Finding
	for _, c := range a.Calls {
		if c == nil || c.Outcome != "failed" {
			continue
		}
		out = append(out, r.finding(c))
	}
	return out
}

// callFailureIsChoice tells a refusal by the callee (or a redirection)
// from a failure.
func callFailureIsChoice(c *diagnose.Call) bool {
	switch c.FinalStatus {
	case 486, 600, 603:
		return true
	}
	if c.FinalStatus >= 300 && c.FinalStatus < 400 {
		return true
	}
	switch q850Cause(c.ReasonHeader) {
	case 17, 21:
		return true
	}
	return false
}

func (r SIPCallFailed) finding(c *diagnose.Call) diagnose.Finding {
	var ev evidence
	var final *diagnose.SIPResponse
	var finalTx, cancel *diagnose.SIPTransaction
	for _, t := range c.Transactions {
		if t == nil {
			continue
		}
		if t.Method == "CANCEL" && t.Client == c.Caller && cancel == nil {
			cancel = t
		}
		if t.Method != "INVITE" {
			continue
		}
		ev.addSIPTransaction(t)
		if f := finalResponse(t); f != nil && f.Status == c.FinalStatus {
			final, finalTx = f, t
		}
	}
	// A CANCEL counts when the caller sent it before the final response.
	if cancel != nil && (final == nil || len(cancel.Requests) == 0 || cancel.Requests[0].Time.After(final.Time)) {
		cancel = nil
	}
	if cancel != nil {
		ev.addSIPTransaction(cancel)
	}
	ev.addFrame(c.Invite)
	ev.addEndpoint(c.Caller)
	ev.addEndpoint(c.Callee)
	ev.addEndpoint(c.AnsweredBy)

	status := statusText(c.FinalStatus, c.FinalReason)
	var d strings.Builder
	fmt.Fprintf(&d, "The call from %s to %s (Call-ID %s) was refused with %s", quoted(c.From), quoted(c.To), quoted(c.CallID), status)
	if final != nil && final.Frame != 0 {
		fmt.Fprintf(&d, " in frame %d", final.Frame)
	}
	if c.AnsweredBy.IsValid() {
		fmt.Fprintf(&d, ", sent by %s", endpointString(c.AnsweredBy))
		if c.AnsweredBy.Addr() != c.Callee.Addr() && c.Callee.IsValid() {
			fmt.Fprintf(&d, " (the INVITE went to %s)", endpointString(c.Callee))
		}
	}
	if final != nil && final.Server != "" {
		fmt.Fprintf(&d, ", Server %s", quoted(final.Server))
	}
	d.WriteString(".")
	if c.ReasonHeader != "" {
		fmt.Fprintf(&d, " Reason header: %s.", explainReason(c.ReasonHeader))
	}
	title := fmt.Sprintf("Call to %s failed: %s", quoted(c.To), status)
	authorized := finalTx != nil && finalTx.Authorization != nil
	switch {
	case cancel != nil:
		// RFC 3261 §9.2: the CANCEL gets its own 200 and the INVITE a 487.
		fmt.Fprintf(&d, " The caller had given up: it sent a CANCEL in frame %d", cancel.Requests[0].Frame)
		if n := sipSends(cancel); n > 1 {
			fmt.Fprintf(&d, " (sent %d times)", n)
		}
		cf := finalResponse(cancel)
		switch {
		case cf == nil:
			d.WriteString(" that was never answered")
		case cf.Status >= 300:
			fmt.Fprintf(&d, " that was answered only with %s in frame %d", statusText(cf.Status, cf.Reason), cf.Frame)
		default:
			fmt.Fprintf(&d, " answered with %s in frame %d", statusText(cf.Status, cf.Reason), cf.Frame)
		}
		d.WriteString(", and the INVITE ended with this instead of 487 Request Terminated (RFC 3261 §9.2). The caller gave up and the CANCEL was not handled: look at the proxy that should have answered it, not at the callee.")
		title = fmt.Sprintf("Call to %s cancelled, CANCEL not answered: %s", quoted(c.To), status)
	case authorized && (c.FinalStatus == 403 || c.FinalStatus == 401 || c.FinalStatus == 407):
		fmt.Fprintf(&d, " The INVITE carried credentials (%s) answering the server's challenge, so this is an authorization failure: ", userRealm(finalTx.Authorization.Username, finalTx.Authorization.Realm))
		if c.FinalStatus == 403 {
			d.WriteString("the server checked the credentials and refused the call, either the password or this user's right to place it (a calling permission, or a domain the account does not belong to).")
		} else {
			d.WriteString("the server did not accept the credentials.")
		}
		d.WriteString(" See sip.auth-failure for the credentials.")
		title = fmt.Sprintf("Call to %s refused after authentication: %s", quoted(c.To), status)
	default:
		if hint := statusHint(c.FinalStatus); hint != "" {
			d.WriteString(" " + hint)
		}
	}
	f := ev.finding(r, title, d.String(), callSIPFilter(c, ev.frames))
	if callFailureIsChoice(c) || cancel != nil {
		f.Severity = diagnose.Warning
	}
	return f
}

// statusHint says in a sentence what a final status usually means on a
// call path of phones, proxies, SBCs and trunks.
func statusHint(status int) string {
	switch status {
	case 401, 407:
		return "The INVITE carried credentials and was challenged again: see sip.auth-failure."
	case 403:
		return "403: the server understood the request and will not place it: a calling permission, a trunk or IP not trusted by the SBC, or a blocked number."
	case 404, 484:
		return "The dial plan did not find the number: check the digits, the prefix and the routing rules."
	case 408, 480:
		return "The callee did not answer or is not registered (a phone offline, its registration lost behind NAT, or a next hop that timed out)."
	case 486, 600:
		return "The callee was busy: a choice of the callee's side, not a network fault."
	case 603:
		return "The callee declined the call: a choice of the callee's side, not a network fault."
	case 415, 488, 606:
		return "No acceptable media: no codec in common, or an SRTP/RTP or ICE policy mismatch between the offer and what the far end accepts."
	case 500, 503:
		return "A server or trunk on the path is failing or out of service (or has no route for the call)."
	case 502, 504:
		return "A proxy or gateway did not get a good answer from its next hop: look one hop further."
	}
	if status >= 300 && status < 400 {
		return "A redirection: the caller is expected to retry at the Contact the response gave."
	}
	return ""
}
