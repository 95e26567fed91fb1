package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Help texts cite README sections by heading; each must exist, and each
// command must describe what callscope reads now, not STUN/TURN alone.
func TestHelpCitesREADMEHeadings(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(b), -1) {
		headings[m[1]] = true
	}
	cite := regexp.MustCompile(`README,\s+"([^"]+)"`)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"SIP", "RTP", "ICE", "TLS/DTLS", "STUN/TURN"}},
		{[]string{"analyze", "--help"}, []string{"SIP", "RTP", "ICE", "TLS/DTLS"}},
		{[]string{"live", "--help"}, []string{"SIP", "ICE", "TLS/DTLS", "VLAN"}},
		{[]string{"decode", "--help"}, []string{"sip", "rtp", "rtcp", "tls, dtls", "Exit status"}},
	} {
		res := runCLI(t, c.args...)
		if res.code != exitOK {
			t.Fatalf("%v: exit %d", c.args, res.code)
		}
		for _, w := range c.want {
			if !strings.Contains(res.stdout, w) {
				t.Errorf("%v: help does not mention %q", c.args, w)
			}
		}
		for _, m := range cite.FindAllStringSubmatch(res.stdout, -1) {
			if !headings[m[1]] {
				t.Errorf("%v: help cites README section %q, which does not exist", c.args, m[1])
			}
		}
	}
}
