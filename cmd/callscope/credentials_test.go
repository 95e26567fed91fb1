package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

// A bad credentials entry is named by where it came from, never echoed:
// an entry without a colon may well be a bare password.
func TestCredentialsErrorsNameTheSource(t *testing.T) {
	file := filepath.Join(t.TempDir(), "creds.txt")
	if err := os.WriteFile(file, []byte("# c\nalice:ok\nSeCrEtPw123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name        string
		flags       []string
		file, env   string
		want        string
		leakedWords []string
	}{
		{name: "flag", flags: []string{"SeCrEtPw123"}, want: "--turn-credentials: TURN credentials must be user:password (this entry has no colon)"},
		{name: "second flag", flags: []string{"a:b", ":SeCrEtPw123"}, want: "--turn-credentials (value 2 of 2): TURN credentials must be user:password (this entry's username is empty)"},
		{name: "file", file: file, want: file + ":3: TURN credentials must be user:password (this entry has no colon)"},
		{name: "env", env: "a:b\n\n:SeCrEtPw123", want: "CALLSCOPE_TURN_CREDENTIALS line 3: TURN credentials must be user:password (this entry's username is empty)"},
	} {
		_, err := gatherCredentials(c.flags, c.file, c.env)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "SeCrEtPw123") {
			t.Errorf("%s: error echoes the password: %v", c.name, err)
		}
	}
	creds, err := gatherCredentials([]string{"1700000000:alice:pw"}, "", "bob:x\r\n")
	if err != nil || len(creds) != 3 || creds[0].Username != "1700000000" || creds[1].Username != "1700000000:alice" || creds[2] != (diagnose.Credential{Username: "bob", Password: "x"}) {
		t.Errorf("good entries: %+v, %v", creds, err)
	}
	res := runCLI(t, "analyze", "--turn-credentials", "SeCrEtPw123", pcapPath("turn-udp-ok.pcap"))
	if res.code != exitUsage || strings.Contains(res.stderr+res.stdout, "SeCrEtPw123") || !strings.Contains(res.stderr, "--turn-credentials:") {
		t.Errorf("analyze with a bad entry: exit %d, stderr %q", res.code, res.stderr)
	}
}
