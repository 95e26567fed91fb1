package diagnose

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The text report's WebRTC and TLS sections: a block per ICE session with
// its candidates, pairs and the pair that won (or why none did), and a
// block per TLS connection or DTLS association with its name, versions,
// certificate and outcome.

// Rows shown per ICE session before the rest is left to the JSON.
const (
	maxCandidatesShown = 12
	maxPairsShown      = 12
	maxChainShown      = 3
	// A capture of a whole office's browsing holds thousands of TLS
	// connections: the text shows the first ones, the JSON all.
	maxICESessionsShown    = 50
	maxTLSConnectionsShown = 50
)

func (t *textWriter) iceSessions(r *Report) {
	if len(r.ICESessions) == 0 {
		return
	}
	t.printf("%s\n", t.s.heading.Sprintf("ICE sessions (%d)", len(r.ICESessions)))
	for i, s := range r.ICESessions {
		if i == maxICESessionsShown {
			t.printf("\n  %s\n", t.s.dim.Sprintf("… and %d more ICE sessions (all of them are in --format json)", len(r.ICESessions)-i))
			break
		}
		if i > 0 {
			t.printf("\n")
		}
		head := fmt.Sprintf("ufrags %s/%s", strconv.Quote(s.LocalUfrag), strconv.Quote(s.RemoteUfrag))
		if s.CallID != "" {
			head += " · call " + strconv.Quote(s.CallID)
		}
		t.printf("  %s\n", t.s.heading.Sprint(printable(head)))
		t.field("    ", "outcome", t.iceOutcome(s))
		if len(s.Candidates) > 0 {
			t.printf("    %s\n", t.s.label.Sprint("candidates"))
			t.candidates(r, s)
		}
		if len(s.Pairs) > 0 {
			t.printf("    %s\n", t.s.label.Sprint("pairs"))
			t.pairs(r, s)
		}
		t.field("    ", "selected", t.selectedLine(r, s))
		if len(s.RoleConflictFrames) > 0 {
			fr := make([]string, len(s.RoleConflictFrames))
			for j, f := range s.RoleConflictFrames {
				fr[j] = strconv.FormatUint(f, 10)
			}
			t.field("    ", "roles", fmt.Sprintf("%s (frames %s)", count(uint64(len(fr)), "487 Role Conflict", "487 Role Conflicts"), abbreviate(fr, 6)))
		}
		if s.ConsentChecks > 0 {
			c := fmt.Sprintf("%s after nomination", count(uint64(s.ConsentChecks), "check", "checks"))
			if s.ConsentUnanswered > 0 {
				c += " · " + t.s.warn.Sprintf("last %d unanswered", s.ConsentUnanswered)
				if s.ConsentLostFrame > 0 {
					c += fmt.Sprintf(" from frame %d", s.ConsentLostFrame)
				}
			}
			t.field("    ", "consent", c)
		}
		if s.IntegrityMatched > 0 || s.IntegrityMismatched > 0 {
			t.field("    ", "integrity", fmt.Sprintf("%d checks verified with --ice-password, %d did not", s.IntegrityMatched, s.IntegrityMismatched))
		}
		for _, i := range s.DTLS {
			if i >= 0 && i < len(r.TLSConnections) {
				t.field("    ", "dtls", dtlsSummary(r.TLSConnections[i]))
			}
		}
		if n := len(s.Streams); n > 0 {
			// A relayed stream seen on both allocations (both agents behind
			// the capture point) is two streams with one SSRC.
			ssrcs, srtp := sessionSSRCs(r.Streams, s.Streams)
			media := fmt.Sprintf("%s on the selected pair (SSRC %s)", count(uint64(n), "RTP stream", "RTP streams"), abbreviate(ssrcs, 4))
			if len(ssrcs) < n {
				// Relay to relay with both agents behind the capture point:
				// each SSRC is one stream on the sender's TURN leg and one
				// on the receiver's, not two streams.
				legs := "each seen on both TURN legs"
				if n != 2*len(ssrcs) {
					legs = fmt.Sprintf("%d seen on both TURN legs", n-len(ssrcs))
				}
				media = fmt.Sprintf("%s on the selected pair (SSRC %s), %s (%s)",
					count(uint64(len(ssrcs)), "SSRC", "SSRCs"), abbreviate(ssrcs, 4), legs, count(uint64(n), "RTP stream", "RTP streams"))
			}
			switch {
			case srtp == n:
				media += " · SRTP"
			case srtp > 0:
				media += fmt.Sprintf(" · %d SRTP", srtp)
			}
			t.field("    ", "media", media)
		}
		t.seen(s.First, s.Last)
	}
	t.printf("\n")
}

// sessionSSRCs lists the distinct SSRCs of a session's streams in the
// order they were first listed, and counts its SRTP streams. A session
// holds up to MaxStreams streams, so the SSRCs listed so far are a set.
func sessionSSRCs(streams []StreamReport, session []int) (ssrcs []string, srtp int) {
	listed := map[string]bool{}
	for _, i := range session {
		if i >= 0 && i < len(streams) {
			if ssrc := streams[i].SSRC; !listed[ssrc] {
				listed[ssrc] = true
				ssrcs = append(ssrcs, ssrc)
			}
			if streams[i].SRTP {
				srtp++
			}
		}
	}
	return ssrcs, srtp
}

func (t *textWriter) iceOutcome(s ICESessionReport) string {
	switch s.Outcome {
	case "connected":
		return t.s.ok.Sprint("connected")
	case "failed":
		return t.s.err.Sprint("failed")
	case "checking":
		return t.s.warn.Sprint("checking") + " (the capture ended while checks went on)"
	}
	return printable(s.Outcome)
}

// candidates prints the candidate table: side, type, address, priority
// and, for a relay candidate, the TURN allocation it came from.
func (t *textWriter) candidates(r *Report, s ICESessionReport) {
	shown := s.Candidates
	if len(shown) > maxCandidatesShown {
		shown = shown[:maxCandidatesShown]
	}
	wa := 0
	for _, c := range shown {
		wa = max(wa, len(c.Address))
	}
	for _, c := range shown {
		typ := c.Type
		if typ == "" {
			typ = "?"
		}
		line := fmt.Sprintf("%-6s %-5s %-*s %s", c.Side, printable(typ), wa, c.Address, c.Transport)
		if c.Priority > 0 {
			line += " prio " + strconv.FormatUint(uint64(c.Priority), 10)
		}
		if c.Learned {
			line += " " + t.s.dim.Sprint("(from checks)")
		}
		if c.Allocation != nil && *c.Allocation < len(r.Allocations) {
			al := r.Allocations[*c.Allocation]
			line += fmt.Sprintf(" → allocation %s → %s (%s)", al.Client, al.Server, al.Outcome)
		}
		t.printf("      %s\n", line)
	}
	if n := len(s.Candidates) - len(shown); n > 0 {
		t.printf("      %s\n", t.s.dim.Sprintf("… and %d more candidates", n))
	}
}

// pairs prints the pairs: local → remote, checks answered, RTT, state; a
// star marks the selected pair.
func (t *textWriter) pairs(r *Report, s ICESessionReport) {
	shown := s.Pairs
	if len(shown) > maxPairsShown {
		shown = shown[:maxPairsShown]
	}
	wl, wr := 0, 0
	for _, p := range shown {
		wl, wr = max(wl, len(p.Local)), max(wr, len(p.Remote))
	}
	for i, p := range shown {
		mark := " "
		if s.SelectedPair != nil && *s.SelectedPair == i {
			mark = "*"
		}
		state := p.State
		switch p.State {
		case "succeeded":
			state = t.s.ok.Sprint(state)
		case "failed":
			state = t.s.err.Sprint(state)
		case "unanswered":
			state = t.s.warn.Sprint(state)
		}
		line := fmt.Sprintf("%s %-*s → %-*s %s %d/%d answered", mark, wl, p.Local, wr, p.Remote, p.Transport, p.Answered, p.Checks)
		if p.Errors > 0 {
			line += fmt.Sprintf(" (%d errors)", p.Errors)
		}
		if p.RTTMS > 0 {
			line += " · RTT " + msAsSeconds(p.RTTMS)
		}
		line += " · " + state
		if p.Nominated {
			line += " · nominated"
		}
		if al := reportAllocation(r, p.Allocation); al != nil {
			line += " · via TURN " + al.Server
			if ra := reportAllocation(r, p.RemoteAllocation); ra != nil && ra.Server != al.Server {
				line += " and " + ra.Server
			}
		}
		t.printf("      %s\n", line)
	}
	if n := len(s.Pairs) - len(shown); n > 0 {
		t.printf("      %s\n", t.s.dim.Sprintf("… and %d more pairs", n))
	}
	if s.DroppedPairs > 0 {
		t.printf("      %s\n", t.s.dim.Sprintf("… and checks on %d pairs not kept", s.DroppedPairs))
	}
}

// selectedLine names the pair that won with its candidate types, or says
// why none did.
func (t *textWriter) selectedLine(r *Report, s ICESessionReport) string {
	if s.SelectedPair == nil || *s.SelectedPair >= len(s.Pairs) {
		var checks, answered, errors int
		for _, p := range s.Pairs {
			checks, answered, errors = checks+p.Checks, answered+p.Answered, errors+p.Errors
		}
		why := "no pair succeeded"
		switch {
		case len(s.Pairs) == 0:
			why = "no checks seen"
		case s.Outcome == "checking":
			why = "no pair succeeded before the capture ended"
		case answered == 0:
			why = fmt.Sprintf("no pair succeeded: none of %s was answered", count(uint64(checks), "check", "checks"))
		case errors == answered:
			why = fmt.Sprintf("no pair succeeded: all %d answers were errors", answered)
		}
		return t.s.err.Sprint("none") + " · " + why
	}
	p := s.Pairs[*s.SelectedPair]
	line := fmt.Sprintf("%s → %s", p.Local, p.Remote)
	lt, rt := candidateType(s, "local", p.Local), candidateType(s, "remote", p.Remote)
	if lt != "" || rt != "" {
		line += fmt.Sprintf(" (%s → %s)", orUnknown(lt), orUnknown(rt))
	}
	la, ra := reportAllocation(r, p.Allocation), reportAllocation(r, p.RemoteAllocation)
	switch {
	case la != nil && ra != nil:
		// Relay to relay: each end is its own allocation, and naming
		// only one would pin the other candidate on it.
		line = fmt.Sprintf("relay %s (allocation %s) → relay %s (allocation %s)", p.Local, la.Client, p.Remote, ra.Client)
		if la.Server == ra.Server {
			line += fmt.Sprintf(" · both relayed by %s", la.Server)
		} else {
			line += fmt.Sprintf(" · relayed by %s and %s", la.Server, ra.Server)
		}
	case la != nil:
		line += fmt.Sprintf(" · relayed by %s for %s", la.Server, la.Client)
	}
	if s.SelectedInferred {
		line += " " + t.s.dim.Sprint("(no nomination seen: the pair the checks succeeded on most)")
	}
	return line
}

func candidateType(s ICESessionReport, side, addr string) string {
	for _, c := range s.Candidates {
		if c.Address == addr && c.Side == side {
			return c.Type
		}
	}
	for _, c := range s.Candidates {
		if c.Address == addr {
			return c.Type
		}
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// dtlsSummary is one line about a DTLS association on a selected pair.
func dtlsSummary(c TLSConnectionReport) string {
	parts := []string{fmt.Sprintf("%s → %s", c.Client, c.Server)}
	if c.Version != "" {
		parts = append(parts, c.Version)
	}
	if c.SRTPProfile != "" {
		parts = append(parts, c.SRTPProfile)
	}
	if c.FingerprintCheck != "" {
		parts = append(parts, "fingerprint "+c.FingerprintCheck)
	}
	parts = append(parts, c.Outcome)
	return strings.Join(parts, " · ")
}

func (t *textWriter) tlsConnections(r *Report) {
	if len(r.TLSConnections) == 0 {
		return
	}
	t.printf("%s\n", t.s.heading.Sprintf("TLS and DTLS connections (%d)", len(r.TLSConnections)))
	for i, c := range r.TLSConnections {
		if i == maxTLSConnectionsShown {
			t.printf("\n  %s\n", t.s.dim.Sprintf("… and %d more connections (all of them are in --format json)", len(r.TLSConnections)-i))
			break
		}
		if i > 0 {
			t.printf("\n")
		}
		proto := "TLS"
		if c.DTLS {
			proto = "DTLS"
		}
		head := fmt.Sprintf("%s → %s %s", c.Client, c.Server, proto)
		if c.SNI != "" {
			head += " · SNI " + strconv.Quote(c.SNI)
		}
		if c.CallID != "" {
			head += " · call " + strconv.Quote(c.CallID)
		}
		t.printf("  %s\n", t.s.heading.Sprint(printable(head)))
		t.field("    ", "outcome", t.tlsOutcome(c))
		t.field("    ", "version", versionLine(c))
		if len(c.ALPN) > 0 || c.ALPNSelected != "" {
			alpn := "offered " + printable(strings.Join(c.ALPN, ", "))
			if c.ALPNSelected != "" {
				alpn += " · chose " + printable(c.ALPNSelected)
			}
			t.field("    ", "alpn", alpn)
		}
		if c.SRTPProfile != "" || len(c.SRTPProfilesOffered) > 0 {
			srtp := c.SRTPProfile
			if srtp == "" {
				srtp = "offered " + strings.Join(c.SRTPProfilesOffered, ", ")
			}
			if c.FingerprintCheck != "" {
				srtp += " · SDP fingerprint " + c.FingerprintCheck
			}
			t.field("    ", "srtp", srtp)
		}
		if c.Allocation != nil && *c.Allocation < len(r.Allocations) {
			al := r.Allocations[*c.Allocation]
			t.field("    ", "relay", fmt.Sprintf("through the TURN allocation %s → %s", al.Client, al.Server))
		}
		switch {
		case len(c.Certificates) > 0:
			t.certificate("cert", c.Certificates[0], c.CertificateFrame)
			chain := c.Certificates[1:]
			for j, ca := range chain {
				if j == maxChainShown {
					t.printf("      %s\n", t.s.dim.Sprintf("… and %d more certificates", len(chain)-maxChainShown))
					break
				}
				t.field("    ", "chain", fmt.Sprintf("%s · issued by %s · until %s", printable(ca.Subject), printable(ca.Issuer), certDate(ca.NotAfter)))
			}
		case c.CertificateEncrypted:
			t.field("    ", "cert", t.s.dim.Sprintf("not visible (%s encrypts it)", c.Version))
		}
		if len(c.ClientCertificates) > 0 {
			t.certificate("client", c.ClientCertificates[0], 0)
		}
		for _, al := range c.Alerts {
			line := fmt.Sprintf("%s %s from the %s (frame %d)", al.Level, al.Description, al.From, al.Frame)
			if al.Level == "fatal" {
				line = t.s.err.Sprint(line)
			}
			t.field("    ", "alert", line)
		}
		t.seen(c.First, c.Last)
	}
	t.printf("\n")
}

func (t *textWriter) tlsOutcome(c TLSConnectionReport) string {
	switch c.Outcome {
	case "established":
		return t.s.ok.Sprint("established")
	case "failed":
		return t.s.err.Sprint("failed")
	case "incomplete":
		return t.s.warn.Sprint("incomplete") + " (the capture shows no end of the handshake)"
	}
	return printable(c.Outcome)
}

// versionLine: "TLS 1.2 (offered TLS 1.3, TLS 1.2) · TLS_ECDHE_..._SHA256".
func versionLine(c TLSConnectionReport) string {
	v := c.Version
	if v == "" {
		v = "not negotiated"
	}
	if len(c.OfferedVersions) > 0 {
		v += " (offered " + strings.Join(c.OfferedVersions, ", ") + ")"
	}
	if c.CipherSuite != "" {
		v += " · " + c.CipherSuite
	} else if c.CipherSuitesOffered > 0 {
		v += fmt.Sprintf(" · %d cipher suites offered", c.CipherSuitesOffered)
	}
	if c.HelloVerify {
		v += " · HelloVerifyRequest"
	}
	if c.HelloRetry {
		v += " · HelloRetryRequest"
	}
	return v
}

// certificate prints a certificate's summary on a few lines.
func (t *textWriter) certificate(label string, c CertificateReport, frame uint64) {
	if c.ParseError != "" {
		t.field("    ", label, t.s.warn.Sprint("unreadable: "+printable(c.ParseError)))
		return
	}
	line := printable(c.Subject)
	if label != "cert" {
		line = "certificate " + line
	}
	if c.SelfSigned {
		line += " · " + t.s.warn.Sprint("self-signed")
	} else {
		line += " · issued by " + printable(c.Issuer)
	}
	if frame > 0 {
		line += " " + t.s.dim.Sprintf("(frame %d)", frame)
	}
	t.field("    ", label, line)
	names := append(append([]string{}, c.DNSNames...), c.IPs...)
	if len(names) > 0 {
		t.field("    ", "", "names "+printable(abbreviate(names, 6)))
	}
	var facts []string
	if !c.NotBefore.IsZero() || !c.NotAfter.IsZero() {
		facts = append(facts, "valid "+certDate(c.NotBefore)+" → "+certDate(c.NotAfter))
	}
	if c.KeyType != "" {
		k := c.KeyType
		if c.KeyBits > 0 {
			k += " " + strconv.Itoa(c.KeyBits)
		}
		facts = append(facts, k)
	}
	if len(facts) > 0 {
		t.field("    ", "", strings.Join(facts, " · "))
	}
	t.field("    ", "", "SHA-256 "+c.SHA256)
}

func certDate(d time.Time) string {
	if d.IsZero() {
		return "?"
	}
	return d.UTC().Format("2006-01-02")
}

// reportAllocation is the report's allocation at index i; nil when none.
func reportAllocation(r *Report, i *int) *AllocationReport {
	if i == nil || *i < 0 || *i >= len(r.Allocations) {
		return nil
	}
	return &r.Allocations[*i]
}
