package main

import (
	"os"
	"strings"
	"testing"
)

// The README shows real reports; they must stay what callscope prints, or
// the README's main command is no longer true as written.
func TestREADMEReportsAreCurrent(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, capture := range []string{"pcaps/turn-wrong-password.pcap", "pcaps/sip-loss.pcap"} {
		res := runCLI(t, "analyze", "--color=never", "../../"+capture)
		// The CLI prints the path as given; the README's commands run from
		// the top of the clone.
		report := strings.ReplaceAll(res.stdout, "../../"+capture, capture)
		if !strings.Contains(readme, "```\n"+report+"```\n") {
			t.Errorf("README.md does not show the current report of %s; it is now:\n%s", capture, report)
		}
	}
}
