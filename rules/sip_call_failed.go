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
// fault of the network.
type SIPCallFailed struct{}

func (SIPCallFailed) ID() string                  { return "sip.call-failed" }
func (SIPCallFailed) Severity() diagnose.Severity { return diagnose.Error }
func (SIPCallFailed) Title() string               { return "SIP call failed" }

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
	for _, t := range c.Transactions {
		if t == nil || t.Method != "INVITE" {
			continue
		}
		ev.addSIPTransaction(t)
		if f := finalResponse(t); f != nil && f.Status == c.FinalStatus {
			final = f
		}
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
	if hint := statusHint(c.FinalStatus); hint != "" {
		d.WriteString(" " + hint)
	}
	f := ev.finding(r, fmt.Sprintf("Call to %s failed: %s", quoted(c.To), status), d.String(), callIDFilter(c.CallID))
	if callFailureIsChoice(c) {
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
