// Command callscope analyzes packet captures of WebRTC and SIP calls (STUN and
// TURN, ICE, SIP with SDP, RTP and RTCP media, TLS and DTLS handshakes) and
// says in plain words what went wrong, with the frames that prove it. The command is thin: flags, wiring and output; the work is in
// packages decode, diagnose and rules.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes (README, "`callscope analyze [flags] CAPTURE...`").
const (
	exitOK       = 0
	exitFindings = 1 // a finding at or above --fail-on
	exitUsage    = 2 // bad usage or unreadable input
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	var exit exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &exit):
		return exit.code
	default:
		fmt.Fprintln(stderr, "callscope:", err)
		return exitUsage
	}
}

// exitError carries a non-zero exit code that is not a failure of callscope
// itself (findings at or above --fail-on).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "callscope",
		Short: "Explain failed WebRTC and SIP calls from packet captures",
		Long: `callscope reads packet captures (pcap, pcapng, gzip), or captures live, and
decodes STUN/TURN, SIP with SDP, RTP/RTCP, ICE connectivity checks and
TLS/DTLS handshakes. It correlates STUN transactions, TURN allocations, ICE
sessions, SIP calls and registrations, media streams and TLS connections,
and applies diagnostic rules that say what went wrong, with the frames that
prove it and a Wireshark display filter that shows them.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newAnalyzeCommand(), newDecodeCommand(), newRulesCommand(), newProfilesCommand())
	root.AddCommand(newLiveCommand())
	return root
}
