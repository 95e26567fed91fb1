package main

import (
	"strings"
	"testing"
)

// ICE passwords given for integrity checks are secrets like TURN passwords:
// accepted from the flag and the environment, never printed.
func TestICEPasswordNeverPrinted(t *testing.T) {
	const flagPassword, envPassword = "Flag7ICEpwdNeverShown", "Env9ICEpwdNeverShown"
	t.Setenv(icePasswordsEnv, envPassword+"\n")
	for _, format := range []string{"text", "json", "jsonl"} {
		res := runCLI(t, "analyze", "--format", format, "--ice-password", flagPassword, "../../pcaps/turn-udp-ok.pcap")
		if res.code != exitOK {
			t.Fatalf("%s: exit %d, stderr %s", format, res.code, res.stderr)
		}
		for _, secret := range []string{flagPassword, envPassword} {
			if strings.Contains(res.stdout+res.stderr, secret) {
				t.Errorf("%s output contains an ICE password", format)
			}
		}
	}
}

func TestGatherICEPasswords(t *testing.T) {
	got := gatherICEPasswords([]string{"a"}, " b \n\n c\n")
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("gatherICEPasswords = %q, want [a b c]", got)
	}
}
