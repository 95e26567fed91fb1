package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

// TestCorpusJudgements pins how public captures are judged where an
// earlier version judged them wrongly; it skips without the corpus.
func TestCorpusJudgements(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skip("public corpus not present")
	}
	analyze := func(t *testing.T, rel string) *diagnose.Report {
		t.Helper()
		path := filepath.Join(corpusDir, rel)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s not in the corpus", rel)
		}
		res := runCLI(t, "analyze", "--format", "json", path)
		var r diagnose.Report
		if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
			t.Fatalf("analyze %s: %v\n%s", rel, err, res.stderr)
		}
		return &r
	}
	t.Run("nDPI sip.pcap", func(t *testing.T) {
		r := analyze(t, "nDPI/sip.pcap")
		for _, g := range r.Registrations {
			// Registered at frame 18; the later de-REGISTER got 401.
			if g.AOR == "sip:voi18062@sip.cybercity.dk" && (g.Outcome != "registered" || g.Deregister != "failed") {
				t.Errorf("voi18062: outcome %q deregister %q, want registered and a failed de-REGISTER", g.Outcome, g.Deregister)
			}
		}
		var forbidden bool
		for _, f := range findingsOf(r, "sip.auth-failure") {
			if strings.Contains(f.Title, "voi18062") && f.Severity == diagnose.Error {
				t.Errorf("voi18062 registered later with the same credentials, yet: %s", f.Title)
			}
			if strings.Contains(f.Detail, "403 Wrong password (1 time)") && containsFrame(f.Frames, 5) {
				forbidden = true
			}
		}
		if !forbidden {
			t.Error("the 403 Wrong password after credentials (frame 5) is not reported by sip.auth-failure")
		}
		for _, f := range findingsOf(r, "sip.call-failed") {
			if strings.Contains(f.Detail, "105090259") && (f.Severity != diagnose.Warning || !strings.Contains(f.Detail, "CANCEL")) {
				t.Errorf("408 after the caller's CANCEL: %v %s", f.Severity, f.Detail)
			}
		}
	})
	t.Run("nDPI dtls.pcap", func(t *testing.T) {
		fs := findingsOf(analyze(t, "nDPI/dtls.pcap"), "tls.handshake-failure")
		if len(fs) != 1 || !strings.Contains(fs[0].Title, "both ends sent a ClientHello") || !containsFrame(fs[0].Frames, 3) || !containsFrame(fs[0].Frames, 5) {
			t.Errorf("want one role-conflict finding citing frames 3 and 5, got %+v", fs)
		}
	})
	t.Run("nDPI FAX T.38", func(t *testing.T) {
		for _, f := range findingsOf(analyze(t, "nDPI/FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"), "media.loss") {
			if f.Severity == diagnose.Error || (strings.Contains(f.Title, "91.5") && !strings.Contains(f.Detail, "T.38")) {
				t.Errorf("the T.38 period counted as loss: %v %s", f.Severity, f.Detail)
			}
		}
	})
	t.Run("heplify signalling only", func(t *testing.T) {
		fs := findingsOf(analyze(t, "heplify/sip_ipv4_tcp_fragmented.pcap"), "media.no-rtp")
		if len(fs) != 1 || fs[0].Severity != diagnose.Info {
			t.Errorf("want one info media.no-rtp finding, got %d", len(fs))
		}
	})
	t.Run("heplify UDP requests sent once", func(t *testing.T) {
		if fs := findingsOf(analyze(t, "heplify/sip_ipv6_udp.pcap"), "sip.transaction-timeout"); len(fs) != 0 {
			t.Errorf("requests sent once over UDP reported as timeouts: %s", fs[0].Title)
		}
	})
	t.Run("heplify 1:1 NAT with its public address configured", func(t *testing.T) {
		if fs := findingsOf(analyze(t, "heplify/sip_tcp_websocket.pcap"), "sip.nat-address-mismatch"); len(fs) != 0 {
			t.Errorf("a public Via from a private source reported: %s", fs[0].Title)
		}
	})
	// The phone closed its socket as the call ended and answered the
	// relay's last packets with port unreachable, quoting only their
	// UDP header: counted on the stream, and no finding.
	t.Run("nDPI WhatsApp call ends in port unreachable", func(t *testing.T) {
		r := analyze(t, "nDPI/wa_voice.pcap")
		s := streamOf(r, "91.252.56.51:32704", "192.168.2.12:56328", "")
		switch {
		case s == nil || s.ICMP == nil:
			t.Errorf("no ICMP on the relay's stream: %+v", s)
		case s.ICMP.Errors != 4 || !s.ICMP.FromDestination || s.ICMP.First.Frame != 716:
			t.Errorf("want the phone's 4 port unreachables from frame 716 on the relay's stream: %+v", *s.ICMP)
		}
		if fs := findingsOf(r, "media.unreachable"); len(fs) != 0 {
			t.Errorf("the end of a call reported: %s", fs[0].Title)
		}
	})
}

func containsFrame(frames []uint64, n uint64) bool {
	for _, f := range frames {
		if f == n {
			return true
		}
	}
	return false
}
