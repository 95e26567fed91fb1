package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/rules"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// credentialsEnv holds TURN credentials, one user:password a line, so that
// passwords stay out of shell history and process listings.
const credentialsEnv = "CALLSCOPE_TURN_CREDENTIALS"

// icePasswordsEnv holds ICE passwords, one a line, for the same reason.
const icePasswordsEnv = "CALLSCOPE_ICE_PASSWORDS"

type analyzeFlags struct {
	format          string
	color           string
	failOn          string
	credentials     []string
	credentialsFile string
	profile         string
	expectNames     []string
	icePasswords    []string
	workers         int // analyze only: Options.Workers
}

func newAnalyzeCommand() *cobra.Command {
	var f analyzeFlags
	cmd := &cobra.Command{
		Use:   "analyze [flags] CAPTURE...",
		Short: "Diagnose the STUN/TURN, ICE, SIP, media and TLS/DTLS traffic in one capture (several files merged by time)",
		Long: `analyze reads the capture, correlates STUN transactions, TURN allocations, ICE
sessions, SIP calls and registrations, RTP streams and TLS/DTLS connections,
applies every rule (see "callscope rules") and writes a report: text by
default, one JSON document with --format json (README, "JSON report"), or with
--format jsonl one JSON object a line: each finding as soon as the capture
makes it certain ({"type":"finding",...}), then one record per allocation,
binding flow, call, registration, RTP stream, ICE session and TLS connection,
and a last {"type":"summary",...} (README, "` + "`--format jsonl`" + `").

Several files are merged into one capture by packet time, as mergecap merges
them by default: captures of the same moments from several taps (inside and
outside a NAT, the phone and the SBC) interleave as the packets were seen, and
frames are numbered as Wireshark numbers those of
"mergecap -w merged.pcapng CAPTURE...". Files that follow each other in time
(a tcpdump -C/-W or dumpcap ring buffer) come out one after the other and are
opened one at a time; more than 32 files overlapping in time at once is an
error. "-" reads standard input.

Exit status: 0, or 1 when a finding at or above --fail-on exists, or 2 for bad
usage or unreadable input. A file cut short or corrupted half-way is analyzed
as far as it can be read: the report is written, the warnings go to standard
error, and the exit status is 2. A file given twice, or with the same packets
as a file given before it, is analyzed twice with a warning that does not
change the exit status.

The SIP, media and DSCP rules check against a profile (--profile): the DSCP
marks expected for audio, video and SIP, the media port ranges and peer
subnets allowed, and the loss, jitter and SIP timeout thresholds. Built in:
default, webex-calling, cms-expressway ("callscope profiles" prints them); or
give the path of a JSON profile file.

tls.name-mismatch checks that server certificates cover the name the client
asked for (SNI); clients that connect by IP address send none, so give the
name they should reach with --expect-name, such as the web bridge's external
FQDN.

TURN credentials for the offline MESSAGE-INTEGRITY check come from
--turn-credentials, --turn-credentials-file (one user:password a line) and the
environment variable ` + credentialsEnv + ` (the same format). Passwords are
never printed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			return analyze(cmd, f, paths)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().IntVar(&f.workers, "workers", 1, "goroutines accounting RTP streams (the report is the same whatever the number; 1 keeps it all in one, see PERFORMANCE.md; --format jsonl uses one)")
	return cmd
}

// register adds the report flags, which analyze and live share.
func (f *analyzeFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.format, "format", "text", "report format: text, json, or jsonl (one JSON object a line: each finding as it becomes certain, then one record per allocation, call, stream... and a summary)")
	fl.StringVar(&f.color, "color", "auto", "color the text report: auto, always or never (NO_COLOR is honoured)")
	fl.StringVar(&f.failOn, "fail-on", "none", "exit 1 when a finding at or above this severity exists: info, warning, error or none")
	fl.StringArrayVar(&f.credentials, "turn-credentials", nil, "TURN long-term credentials user:password for the integrity check (repeatable)")
	fl.StringVar(&f.credentialsFile, "turn-credentials-file", "", "file of TURN credentials, one user:password a line")
	fl.StringVar(&f.profile, "profile", rules.DefaultProfile, `what the SIP, media and DSCP rules check against: a built-in profile name (see "callscope profiles") or a JSON profile file`)
	fl.StringArrayVar(&f.icePasswords, "ice-password", nil, "ICE password (SDP a=ice-pwd) to verify the short-term MESSAGE-INTEGRITY of connectivity checks (repeatable; also "+icePasswordsEnv+", one a line)")
	fl.StringArrayVar(&f.expectNames, "expect-name", nil, "host name the certificate of TLS servers reached without SNI must cover, such as the web bridge's external FQDN (repeatable: any one suffices)")
}

// reportSetup is what the report flags resolve to.
type reportSetup struct {
	format   string
	failOn   diagnose.Severity
	useColor bool
	options  diagnose.Options
	profile  *rules.Profile
	rules    []diagnose.Rule
	// stream is where findings were streamed while reading, if they were.
	stream *findingStream
}

// resolve checks the report flags and loads what they name.
func (f *analyzeFlags) resolve() (*reportSetup, error) {
	if f.format != "text" && f.format != "json" && f.format != "jsonl" {
		return nil, fmt.Errorf("--format %q: want text, json or jsonl", f.format)
	}
	rs := &reportSetup{format: f.format}
	if f.failOn != "none" {
		s, err := diagnose.ParseSeverity(f.failOn)
		if err != nil {
			return nil, fmt.Errorf("--fail-on: %w", err)
		}
		rs.failOn = s
	}
	useColor, err := colorWanted(f.color)
	if err != nil {
		return nil, err
	}
	rs.useColor = useColor
	creds, err := gatherCredentials(f.credentials, f.credentialsFile, os.Getenv(credentialsEnv))
	if err != nil {
		return nil, err
	}
	rs.options = diagnose.Options{Credentials: creds, ICEPasswords: gatherICEPasswords(f.icePasswords, os.Getenv(icePasswordsEnv))}
	profile, err := rules.LoadProfile(f.profile)
	if err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	for _, n := range f.expectNames {
		if err := checkExpectName(n); err != nil {
			return nil, err
		}
	}
	profile.ExpectNames = f.expectNames
	rs.profile = profile
	rs.rules = rules.ForProfile(profile)
	return rs, nil
}

func analyze(cmd *cobra.Command, f analyzeFlags, paths []string) error {
	if f.workers < 1 {
		return fmt.Errorf("--workers %d: want 1 or more", f.workers)
	}
	rs, err := f.resolve()
	if err != nil {
		return err
	}
	rs.options.Workers = f.workers
	boundHeapHeadroom()
	if rs.format != "jsonl" {
		analysis, findings, readErr := diagnose.Analyze(paths, rs.options, rs.rules)
		return rs.write(cmd, analysis, findings, readErr)
	}
	// jsonl streams findings as the capture is read, as live does.
	r, err := capture.Open(paths...)
	if err != nil {
		return err
	}
	defer r.Close()
	rs.stream = newFindingStream(cmd.OutOrStdout(), rs.format, false)
	analysis, findings, readErr := diagnose.StreamSource(r, rs.options, rs.rules, diagnose.StreamOptions{OnFinding: rs.stream.write})
	if readErr != nil {
		readErr = fmt.Errorf("reading capture: %w", readErr)
	}
	if rs.stream.err != nil {
		return rs.stream.err
	}
	return rs.write(cmd, analysis, findings, readErr)
}

// write prints the report and turns what happened into the exit status:
// readErr, when the input could not be read to its end, is returned after
// the report of what was read.
func (rs *reportSetup) write(cmd *cobra.Command, analysis *diagnose.Analysis, findings []diagnose.Finding, readErr error) error {
	if analysis == nil {
		return readErr
	}
	out := cmd.OutOrStdout()
	var err error
	switch rs.format {
	case "json":
		// Written as it is built: a long capture's Report and document
		// would otherwise be the peak of memory.
		err = diagnose.WriteJSONReport(out, analysis, findings, version)
	case "jsonl":
		err = writeJSONLines(out, diagnose.NewReportParts(analysis, findings, version), rs.stream)
	default:
		err = diagnose.NewReport(analysis, findings, version).WriteText(out, diagnose.TextOptions{Color: rs.useColor, ExpectedDSCP: map[string]int{
			"audio": rs.profile.DSCP.Audio, "video": rs.profile.DSCP.Video}})
	}
	if err != nil {
		return err
	}
	if readErr != nil {
		return readErr
	}
	// A capture cut short or corrupted was still analyzed as far as it
	// could be read; say so where scripts look, and exit as for unreadable
	// input (as tshark does), so a partial report is never taken for a
	// complete one.
	// A repeated file was read in full: it is worth a warning, not a
	// partial-input exit status.
	if len(analysis.Warnings) > 0 {
		reportWarnings(cmd.ErrOrStderr(), analysis.Warnings)
		if hasReadProblem(analysis.Warnings) {
			return exitError{exitUsage}
		}
	}
	if rs.failOn != 0 && maxSeverity(findings) >= rs.failOn {
		return exitError{exitFindings}
	}
	return nil
}

// maxSeverity is Report.MaxSeverity without building the Report.
func maxSeverity(findings []diagnose.Finding) diagnose.Severity {
	var s diagnose.Severity
	for _, f := range findings {
		s = max(s, f.Severity)
	}
	return s
}

func colorWanted(mode string) (bool, error) {
	switch mode {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto":
		// https://no-color.org: any non-empty NO_COLOR disables color.
		if os.Getenv("NO_COLOR") != "" {
			return false, nil
		}
		return isatty.IsTerminal(os.Stdout.Fd()), nil
	}
	return false, fmt.Errorf("--color %q: want auto, always or never", mode)
}

// gatherCredentials reads credentials from the flags, the file and the
// environment. Usernames may contain colons (TURN REST API usernames are
// "expiry:user") and so may passwords, so "a:b:c" cannot be split with
// certainty: every split is offered, and the engine uses only those whose
// username appears in a request's USERNAME attribute.
func gatherCredentials(flags []string, file, env string) ([]diagnose.Credential, error) {
	// An entry and where it came from, for errors: the entry itself is
	// never echoed, since a malformed one may be a bare password.
	type entry struct{ line, source string }
	var entries []entry
	for i, v := range flags {
		source := "--turn-credentials"
		if len(flags) > 1 {
			source += fmt.Sprintf(" (value %d of %d)", i+1, len(flags))
		}
		entries = append(entries, entry{v, source})
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--turn-credentials-file: %w", err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			entries = append(entries, entry{line, fmt.Sprintf("%s:%d", file, i+1)})
		}
	}
	for i, line := range strings.Split(env, "\n") {
		entries = append(entries, entry{line, fmt.Sprintf("%s line %d", credentialsEnv, i+1)})
	}
	var creds []diagnose.Credential
	for _, e := range entries {
		line := strings.TrimRight(e.line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, ":") {
			return nil, fmt.Errorf("%s: TURN credentials must be user:password (this entry has no colon)", e.source)
		}
		if strings.HasPrefix(line, ":") {
			return nil, fmt.Errorf("%s: TURN credentials must be user:password (this entry's username is empty)", e.source)
		}
		for i := 0; i < len(line); i++ {
			if line[i] == ':' {
				creds = append(creds, diagnose.Credential{Username: line[:i], Password: line[i+1:]})
			}
		}
	}
	return creds, nil
}

// gatherICEPasswords joins the flags and the environment's lines. ICE
// passwords (RFC 8839 §5.4) are ice-chars only, so no splitting is needed.
func gatherICEPasswords(flags []string, env string) []string {
	out := append([]string(nil), flags...)
	for _, line := range strings.Split(env, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// checkExpectName accepts a host name or an IP address: what a certificate
// can be valid for.
func checkExpectName(n string) error {
	switch {
	case strings.TrimSpace(n) == "":
		return fmt.Errorf("--expect-name: empty name")
	case strings.Contains(n, "://") || strings.ContainsAny(n, "/ \t@"):
		return fmt.Errorf("--expect-name %q: give a host name such as join.example.com, not a URL", n)
	case strings.Contains(n, ":") && net.ParseIP(strings.Trim(n, "[]")) == nil:
		return fmt.Errorf("--expect-name %q: give the host name without a port", n)
	}
	return nil
}
