package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/diagnose"
)

// The end-to-end tests drive run() exactly as main does, on the reference
// captures in pcaps/ (see pcaps/EXPECTED.md for what each one holds).

const pcapsDir = "../../pcaps"

func pcapPath(name string) string { return filepath.Join(pcapsDir, name) }

type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the command line and turns a panic into a test failure that
// names the arguments: a panic is never an acceptable answer to any input.
func runCLI(t *testing.T, args ...string) (res cliResult) {
	t.Helper()
	var out, errOut bytes.Buffer
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("callscope %s panicked: %v", strings.Join(args, " "), p)
		}
	}()
	code := run(args, &out, &errOut)
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// analyzeJSON runs analyze --format json and parses the report; it fails
// the test unless the exit code is want.
func analyzeJSON(t *testing.T, want int, args ...string) (*diagnose.Report, cliResult) {
	t.Helper()
	res := runCLI(t, append([]string{"analyze", "--format", "json"}, args...)...)
	if res.code != want {
		t.Fatalf("analyze --format json %s: exit %d, want %d; stderr:\n%s", strings.Join(args, " "), res.code, want, res.stderr)
	}
	var r diagnose.Report
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("analyze --format json %s: stdout is not a JSON report: %v\n%s", strings.Join(args, " "), err, res.stdout)
	}
	if dec.More() {
		t.Fatalf("analyze --format json %s: more than one JSON document on stdout", strings.Join(args, " "))
	}
	return &r, res
}

// oneLine collapses runs of white space so that wrapped prose can be
// searched for a phrase.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func findingsOf(r *diagnose.Report, rule string) []diagnose.Finding {
	var fs []diagnose.Finding
	for _, f := range r.Findings {
		if f.Rule == rule {
			fs = append(fs, f)
		}
	}
	return fs
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notCapture, []byte("this is not a packet capture, just text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pcap")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such.pcap")
	wrong, ok := pcapPath("turn-wrong-password.pcap"), pcapPath("turn-udp-ok.pcap")

	tests := []struct {
		name   string
		args   []string
		want   int
		stderr string // a substring stderr must hold, when not ""
	}{
		{"analyze ok", []string{"analyze", "--color=never", ok}, exitOK, ""},
		{"analyze errors without --fail-on", []string{"analyze", "--color=never", wrong}, exitOK, ""},
		{"fail-on error with an error finding", []string{"analyze", "--fail-on", "error", wrong}, exitFindings, ""},
		{"fail-on error json", []string{"analyze", "--format", "json", "--fail-on", "error", wrong}, exitFindings, ""},
		{"fail-on warning with an error finding", []string{"analyze", "--fail-on", "warning", wrong}, exitFindings, ""},
		{"fail-on error on a healthy capture", []string{"analyze", "--fail-on", "error", ok}, exitOK, ""},
		{"fail-on none", []string{"analyze", "--fail-on", "none", wrong}, exitOK, ""},
		{"missing file", []string{"analyze", missing}, exitUsage, "no-such.pcap"},
		{"missing file among good ones", []string{"analyze", ok, missing}, exitUsage, "no-such.pcap"},
		{"unknown format", []string{"analyze", "--format", "xml", ok}, exitUsage, "xml"},
		{"bad fail-on", []string{"analyze", "--fail-on", "fatal", ok}, exitUsage, "fatal"},
		{"bad color", []string{"analyze", "--color", "sometimes", ok}, exitUsage, "sometimes"},
		{"expect-name", []string{"analyze", "--expect-name", "join.example.com", "--expect-name", "2001:db8::1", ok}, exitOK, ""},
		{"expect-name as a URL", []string{"analyze", "--expect-name", "https://join.example.com/", ok}, exitUsage, "not a URL"},
		{"expect-name with a port", []string{"analyze", "--expect-name", "join.example.com:443", ok}, exitUsage, "without a port"},
		{"unknown flag", []string{"analyze", "--no-such-flag", ok}, exitUsage, "no-such-flag"},
		{"analyze without files", []string{"analyze"}, exitUsage, ""},
		{"decode without files", []string{"decode"}, exitUsage, ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, "frobnicate"},
		{"not a capture", []string{"analyze", notCapture}, exitUsage, "notes.txt"},
		{"decode not a capture", []string{"decode", notCapture}, exitUsage, "notes.txt"},
		{"empty file", []string{"analyze", empty}, exitUsage, "empty.pcap"},
		{"rules", []string{"rules"}, exitOK, ""},
		{"rules with an argument", []string{"rules", "extra"}, exitUsage, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runCLI(t, tc.args...)
			if res.code != tc.want {
				t.Fatalf("callscope %s: exit %d, want %d\nstderr: %s", strings.Join(tc.args, " "), res.code, tc.want, res.stderr)
			}
			if tc.want == exitUsage && strings.TrimSpace(res.stderr) == "" {
				t.Errorf("exit 2 without a word on stderr")
			}
			if tc.stderr != "" && !strings.Contains(res.stderr, tc.stderr) {
				t.Errorf("stderr does not name %q:\n%s", tc.stderr, res.stderr)
			}
			if tc.want != exitUsage && res.stdout == "" {
				t.Errorf("nothing on stdout")
			}
		})
	}
}

// A capture cut in the middle of a record is the commonest bad input
// (tcpdump killed, a file copied while still being written). The product
// rule: a clear error and a partial report, never a panic. analyze's own
// help says the exit status is 2 for unreadable input and that "a partial
// report is still written when reading fails half-way"; tshark also exits
// 2 on such a file. So: the report of what could be read on stdout, the
// warning on stderr (where a script that redirects stdout to a file still
// sees it), exit 2.
func TestTruncatedCapture(t *testing.T) {
	data, err := os.ReadFile(pcapPath("turn-udp-ok.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	// 3000 bytes end inside record 19 (records 1-18 are whole).
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, data[:3000], 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("json", func(t *testing.T) {
		res := runCLI(t, "analyze", "--format", "json", cut)
		if res.code != exitUsage {
			t.Errorf("exit %d, want %d (unreadable input, partial report)", res.code, exitUsage)
		}
		var r diagnose.Report
		if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
			t.Fatalf("no partial JSON report on stdout: %v\n%s", err, res.stdout)
		}
		if r.Stats.Packets != 18 {
			t.Errorf("partial report has %d packets, want the 18 whole records", r.Stats.Packets)
		}
		if len(r.Allocations) != 2 {
			t.Errorf("partial report has %d allocations, want the 2 begun before the cut", len(r.Allocations))
		}
		if len(r.Warnings) != 1 || r.Warnings[0].Frame != 19 || !strings.Contains(r.Warnings[0].Message, "truncated") {
			t.Errorf("report warnings = %+v, want one about record 19 being truncated", r.Warnings)
		}
		if !strings.Contains(res.stderr, "cut.pcap") || !strings.Contains(res.stderr, "truncated") {
			t.Errorf("stderr does not warn that cut.pcap is truncated:\n%q", res.stderr)
		}
	})
	t.Run("text", func(t *testing.T) {
		res := runCLI(t, "analyze", "--color=never", cut)
		if res.code != exitUsage {
			t.Errorf("exit %d, want %d (unreadable input, partial report)", res.code, exitUsage)
		}
		if !strings.Contains(res.stdout, "18 packets") || !strings.Contains(res.stdout, "TURN allocations (2)") {
			t.Errorf("no partial report on stdout:\n%s", res.stdout)
		}
		if !strings.Contains(res.stderr, "cut.pcap") || !strings.Contains(res.stderr, "truncated") {
			t.Errorf("stderr does not warn that cut.pcap is truncated:\n%q", res.stderr)
		}
	})
	t.Run("decode", func(t *testing.T) {
		res := runCLI(t, "decode", cut)
		if res.code != exitUsage {
			t.Errorf("exit %d, want %d as analyze (unreadable input, partial records)", res.code, exitUsage)
		}
		if n := strings.Count(res.stdout, "\n"); n != 18 {
			t.Errorf("decode wrote %d records before the cut, want 18", n)
		}
		if !strings.Contains(res.stderr, "cut.pcap") || !strings.Contains(res.stderr, "frame 19") {
			t.Errorf("stderr does not warn about frame 19 of cut.pcap:\n%q", res.stderr)
		}
	})
	t.Run("every cut", func(t *testing.T) {
		// No length of prefix may panic or lose the report.
		for n := 0; n < len(data); n += 97 {
			p := filepath.Join(t.TempDir(), "prefix.pcap")
			if err := os.WriteFile(p, data[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			res := runCLI(t, "analyze", "--format", "json", p)
			if res.code != exitOK && res.code != exitUsage {
				t.Fatalf("prefix of %d bytes: exit %d", n, res.code)
			}
			if n >= 24 && !json.Valid([]byte(res.stdout)) {
				t.Fatalf("prefix of %d bytes (a whole file header): no JSON report; exit %d, stderr %s", n, res.code, res.stderr)
			}
		}
	})
}

// splitCapture writes the frames of a capture before frame `at` to one
// pcap and the rest to another.
func splitCapture(t *testing.T, path string, at uint64) (string, string) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	names := [2]string{filepath.Join(dir, "part1.pcap"), filepath.Join(dir, "part2.pcap")}
	var bufs [2]bytes.Buffer
	var writers [2]*capture.PcapWriter
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		if rec.Frame >= at {
			i = 1
		}
		if writers[i] == nil {
			if writers[i], err = capture.NewPcapWriter(&bufs[i], rec.LinkType, true); err != nil {
				t.Fatal(err)
			}
		}
		if err := writers[i].WritePacket(rec.Time, rec.Data, rec.OrigLen); err != nil {
			t.Fatal(err)
		}
	}
	for i := range names {
		if err := os.WriteFile(names[i], bufs[i].Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return names[0], names[1]
}

// Several files are one capture: splitting a capture in two must not change
// the diagnosis.
func TestSeveralFilesAreOneCapture(t *testing.T) {
	for _, name := range []string{"turn-udp-ok.pcap", "turn-tcp-ok.pcap", "turn-stale-nonce.pcap"} {
		t.Run(name, func(t *testing.T) {
			whole, _ := analyzeJSON(t, exitOK, pcapPath(name))
			a, b := splitCapture(t, pcapPath(name), 20)
			split, _ := analyzeJSON(t, exitOK, a, b)

			if len(split.Captures) != 2 || split.Captures[0].Packets != 19 || split.Captures[1].Packets != whole.Stats.Packets-19 {
				t.Errorf("captures = %+v, want part1 with 19 packets and part2 with the other %d", split.Captures, whole.Stats.Packets-19)
			}
			if !jsonEqual(t, split.Stats, whole.Stats) {
				t.Errorf("stats differ from the whole file's")
			}
			if !jsonEqual(t, split.Allocations, whole.Allocations) {
				t.Errorf("allocations differ from the whole file's")
			}
			if !jsonEqual(t, split.Findings, whole.Findings) {
				t.Errorf("findings differ from the whole file's")
			}
		})
	}

	t.Run("same file twice", func(t *testing.T) {
		path := pcapPath("turn-udp-ok.pcap")
		once := decodeRecords(t, path)
		twice := decodeRecords(t, path, path)
		if len(twice) != 2*len(once) {
			t.Fatalf("decode of the file twice gave %d records, want %d", len(twice), 2*len(once))
		}
		// Merged by time, the copies interleave: the file's times all
		// differ, and each tie goes to the file given later (as in
		// mergecap), so its frame F is frames 2F-1 (the second copy) and
		// 2F.
		byFrame := map[uint64][]decodeRecord{}
		for _, rec := range twice {
			byFrame[rec.Frame] = append(byFrame[rec.Frame], rec)
		}
		for _, rec := range once {
			for _, f := range []uint64{2*rec.Frame - 1, 2 * rec.Frame} {
				copies := byFrame[f]
				if !slices.ContainsFunc(copies, func(c decodeRecord) bool {
					c.Frame = rec.Frame
					x, _ := json.Marshal(c)
					y, _ := json.Marshal(rec)
					return bytes.Equal(x, y)
				}) {
					t.Fatalf("frame %d is not a copy of frame %d: %+v", f, rec.Frame, copies)
				}
			}
		}
		r, _ := analyzeJSON(t, exitOK, path, path)
		if r.Stats.Packets != 78 || len(r.Captures) != 2 {
			t.Errorf("stats.packets = %d with %d captures, want 78 and 2", r.Stats.Packets, len(r.Captures))
		}
		if r.Stats.STUN != 56 || r.Stats.ChannelData != 20 {
			t.Errorf("stun_messages = %d, channel_data = %d, want 56 and 20", r.Stats.STUN, r.Stats.ChannelData)
		}
	})
}

func jsonEqual(t *testing.T, a, b any) bool {
	t.Helper()
	x, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Logf("got  %s\nwant %s", x, y)
		return false
	}
	return true
}

// Standard input is os.Stdin inside decode/capture; the variable can be
// replaced for the test without touching the command.
func TestStdin(t *testing.T) {
	withStdin := func(t *testing.T, path string) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		saved := os.Stdin
		os.Stdin = f
		t.Cleanup(func() { os.Stdin = saved; f.Close() })
	}

	t.Run("analyze", func(t *testing.T) {
		withStdin(t, pcapPath("turn-wrong-password.pcap"))
		r, _ := analyzeJSON(t, exitOK, "-")
		if len(r.Captures) != 1 || r.Captures[0].Path != "-" || r.Stats.Packets != 64 {
			t.Errorf("captures = %+v, packets %d; want one capture named - with 64 packets", r.Captures, r.Stats.Packets)
		}
		if len(findingsOf(r, "turn.integrity-failure")) != 1 {
			t.Errorf("no turn.integrity-failure from stdin")
		}
	})
	t.Run("decode", func(t *testing.T) {
		withStdin(t, pcapPath("turn-udp-ok.pcap"))
		got := decodeRecords(t, "-")
		want := decodeRecords(t, pcapPath("turn-udp-ok.pcap"))
		if !jsonEqual(t, got, want) {
			t.Errorf("decode - differs from decode of the file")
		}
	})
	t.Run("stdin twice", func(t *testing.T) {
		res := runCLI(t, "analyze", "-", "-")
		if res.code != exitUsage {
			t.Errorf("analyze - -: exit %d, want %d", res.code, exitUsage)
		}
	})
}

func TestGzipInput(t *testing.T) {
	for _, name := range []string{"turn-udp-ok.pcap", "turn-wrong-password.pcap"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(pcapPath(name))
			if err != nil {
				t.Fatal(err)
			}
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(data)
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			// The name says nothing: the magic number decides.
			gz := filepath.Join(t.TempDir(), "capture.bin")
			if err := os.WriteFile(gz, z.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			plain, _ := analyzeJSON(t, exitOK, pcapPath(name))
			zipped, _ := analyzeJSON(t, exitOK, gz)
			if len(zipped.Captures) != 1 || zipped.Captures[0].Format != "pcap+gzip" {
				t.Errorf("captures = %+v, want one of format pcap+gzip", zipped.Captures)
			}
			if !jsonEqual(t, zipped.Stats, plain.Stats) {
				t.Errorf("gzip input changes the stats")
			}
			if !jsonEqual(t, zipped.Allocations, plain.Allocations) || !jsonEqual(t, zipped.Findings, plain.Findings) {
				t.Errorf("gzip input changes the diagnosis")
			}
		})
	}
}

// Passwords must never be printed, whichever way they are given and
// whatever the format; the integrity verdict must still say whether the
// client used the supplied password (it used "wrong-password").
func TestCredentialsNeverPrinted(t *testing.T) {
	// The capture's own name contains "wrong-password": copy it to a
	// neutral name so that the password can be searched for in the output.
	data, err := os.ReadFile(pcapPath("turn-wrong-password.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	capturePath := filepath.Join(dir, "capture.pcap")
	if err := os.WriteFile(capturePath, data, 0o644); err != nil {
		t.Fatal(err)
	}

	const (
		didNotUse = "the client did not use the supplied password"
		used      = "the client used the supplied password"
	)
	for _, cred := range []struct{ password, verdict, notVerdict string }{
		{"correct-horse", didNotUse, used},
		{"wrong-password", used, didNotUse},
	} {
		line := "alice:" + cred.password
		credFile := filepath.Join(dir, "creds-"+cred.password)
		if err := os.WriteFile(credFile, []byte("# TURN users\nbob:s3cret-bob\n"+line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, how := range []string{"flag", "env", "file"} {
			for _, format := range []string{"text", "json"} {
				t.Run(cred.password+"/"+how+"/"+format, func(t *testing.T) {
					args := []string{"analyze", "--format", format, "--color=never"}
					switch how {
					case "flag":
						args = append(args, "--turn-credentials", line)
						t.Setenv(credentialsEnv, "")
					case "env":
						t.Setenv(credentialsEnv, line)
					case "file":
						args = append(args, "--turn-credentials-file", credFile)
						t.Setenv(credentialsEnv, "")
					}
					res := runCLI(t, append(args, capturePath)...)
					if res.code != exitOK {
						t.Fatalf("exit %d; stderr %s", res.code, res.stderr)
					}
					all := res.stdout + res.stderr
					for _, secret := range []string{cred.password, "s3cret-bob"} {
						if strings.Contains(all, secret) {
							t.Errorf("output contains the password %q", secret)
						}
					}
					text := oneLine(res.stdout)
					if format == "json" {
						var r diagnose.Report
						if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
							t.Fatal(err)
						}
						fs := findingsOf(&r, "turn.integrity-failure")
						if len(fs) != 1 {
							t.Fatalf("%d turn.integrity-failure findings, want 1", len(fs))
						}
						text = oneLine(fs[0].Detail)
					}
					if !strings.Contains(text, cred.verdict) {
						t.Errorf("with %s the report does not say %q:\n%s", "alice:<"+cred.password+">", cred.verdict, text)
					}
					if strings.Contains(text, cred.notVerdict) {
						t.Errorf("with %s the report says %q", "alice:<"+cred.password+">", cred.notVerdict)
					}
				})
			}
		}
	}

	t.Run("malformed entry is not echoed", func(t *testing.T) {
		t.Setenv(credentialsEnv, "")
		res := runCLI(t, "analyze", "--turn-credentials", "correct-horse", capturePath)
		if res.code != exitUsage {
			t.Errorf("exit %d, want %d for a credential without a colon", res.code, exitUsage)
		}
		if strings.Contains(res.stdout+res.stderr, "correct-horse") {
			t.Errorf("the malformed entry is echoed: %s", res.stderr)
		}
	})
	t.Run("missing credentials file", func(t *testing.T) {
		t.Setenv(credentialsEnv, "")
		res := runCLI(t, "analyze", "--turn-credentials-file", filepath.Join(dir, "absent"), capturePath)
		if res.code != exitUsage || !strings.Contains(res.stderr, "absent") {
			t.Errorf("exit %d, stderr %q; want 2 naming the file", res.code, res.stderr)
		}
	})
}

func TestRulesCommand(t *testing.T) {
	res := runCLI(t, "rules")
	if res.code != exitOK {
		t.Fatalf("exit %d", res.code)
	}
	heading := regexp.MustCompile(`(?m)^(\S+) \((?:info|warning|error)(?:, warning)?(?: or (?:warning|error))?\)$`)
	// A rule that grades its findings lists every severity it can give.
	for _, want := range []string{"\nmedia.loss (warning or error)\n", "\nturn.allocate-timeout (warning or error)\n",
		"\nmedia.no-rtp (info, warning or error)\n", "\nsip.call-failed (warning or error)\n", "\nsip.transaction-timeout (error)\n"} {
		if !strings.Contains("\n"+res.stdout, want) {
			t.Errorf("rules output lacks %q", strings.TrimSpace(want))
		}
	}
	var ids []string
	for _, m := range heading.FindAllStringSubmatch(res.stdout, -1) {
		ids = append(ids, m[1])
	}
	want := []string{
		"turn.integrity-failure",
		"turn.allocate-timeout",
		"turn.server-unreachable",
		"turn.stale-nonce",
		"turn.request-rejected",
		"stun.binding-unanswered",
		"sip.auth-failure",
		"sip.call-failed",
		"sip.transaction-timeout",
		"sip.fragmented-request",
		"sip.ack-missing",
		"sip.nat-address-mismatch",
		"sip.alg-suspected",
		"nat.binding-expired",
		"media.one-way",
		"media.no-rtp",
		"media.unreachable",
		"media.loss",
		"media.jitter",
		"media.payload-type-mismatch",
		"dscp.missing",
		"media.port-outside-range",
		"media.unexpected-peer",
		"ice.failed",
		"ice.consent-lost",
		"ice.role-conflict",
		"tls.self-signed",
		"tls.name-mismatch",
		"tls.expired",
		"tls.handshake-failure",
		"tls.legacy-version",
		"dtls.fingerprint-mismatch", "capture.drops",
	}
	if !slices.Equal(ids, want) {
		t.Errorf("rules lists %q, want %q", ids, want)
	}
}

// decodeRecord is one line of `callscope decode`.
type decodeRecord struct {
	Frame     uint64 `json:"frame"`
	Time      string `json:"time"`
	Src       string `json:"src"`
	Dst       string `json:"dst"`
	Transport string `json:"transport"`
	DSCP      uint8  `json:"dscp"`
	Direction string `json:"direction"` // where the capturing host saw it (tcpdump -i any); "" when the capture does not say
	Interface uint32 `json:"interface"`
	Proto     string `json:"proto"`
	STUN      *struct {
		Method      string   `json:"method"`
		Class       string   `json:"class"`
		Transaction string   `json:"transaction"`
		ErrorCode   int      `json:"error_code"`
		Attributes  []string `json:"attributes"`
	} `json:"stun,omitempty"`
	Channel *struct {
		Number uint16 `json:"number"`
		Length uint16 `json:"length"`
	} `json:"channel,omitempty"`
	SIP *struct {
		Method string `json:"method"`
		Status int    `json:"status"`
		Reason string `json:"reason"`
		CallID string `json:"call_id"`
		CSeq   struct {
			Number uint32 `json:"number"`
			Method string `json:"method"`
		} `json:"cseq"`
		Branch string `json:"branch"`
		SDP    bool   `json:"sdp"`
	} `json:"sip,omitempty"`
	RTP *struct {
		SSRC      uint32 `json:"ssrc"`
		Seq       uint16 `json:"seq"`
		Timestamp uint32 `json:"timestamp"`
		PT        uint8  `json:"pt"`
		Marker    bool   `json:"marker"`
	} `json:"rtp,omitempty"`
	RTCP *struct {
		Types []uint8 `json:"types"`
		SRTCP *struct {
			SSRC      uint32 `json:"ssrc"`
			Encrypted bool   `json:"encrypted"`
			Index     uint32 `json:"index"`
		} `json:"srtcp"`
	} `json:"rtcp,omitempty"`
	TLS          *tlsRecord `json:"tls,omitempty"`
	DTLS         *tlsRecord `json:"dtls,omitempty"`
	SIPKeepAlive *struct {
		Length int `json:"length"`
	} `json:"sip_keepalive,omitempty"`
}

// tlsRecord is the "tls" or "dtls" object of a decode record
// (decode.AppendRecord): content types per record, handshake types per
// message or DTLS fragment.
type tlsRecord struct {
	Version      string  `json:"version"`
	ContentTypes []uint8 `json:"content_types"`
	Handshake    []uint8 `json:"handshake"`
	SNI          string  `json:"sni"`
	Alert        *struct {
		Level       string `json:"level"`
		Description string `json:"description"`
	} `json:"alert"`
	Encrypted bool `json:"encrypted"`
}

func decodeRecords(t *testing.T, paths ...string) []decodeRecord {
	t.Helper()
	res := runCLI(t, append([]string{"decode"}, paths...)...)
	if res.code != exitOK {
		t.Fatalf("decode %s: exit %d; stderr %s", strings.Join(paths, " "), res.code, res.stderr)
	}
	var recs []decodeRecord
	for i, line := range strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n") {
		if line == "" {
			continue
		}
		var rec decodeRecord
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("decode %s: line %d is not a decode record: %v\n%s", strings.Join(paths, " "), i+1, err, line)
		}
		recs = append(recs, rec)
	}
	return recs
}

// keysOf returns the keys of a JSON object, sorted.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, raw)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Every decode record has exactly the documented keys (decode.AppendRecord).
func TestDecodeRecordKeys(t *testing.T) {
	res := runCLI(t, "decode", pcapPath("turn-udp-ok.pcap"))
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) != 38 {
		t.Fatalf("%d records, want 38 (28 STUN + 10 ChannelData; the ICMP error is not a record)", len(lines))
	}
	common := []string{"dscp", "dst", "frame", "proto", "src", "time", "transport"}
	var lastFrame uint64
	for i, line := range lines {
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &top); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i+1, err, line)
		}
		var rec decodeRecord
		json.Unmarshal([]byte(line), &rec)
		want := slices.Clone(common)
		switch rec.Proto {
		case "stun":
			want = append(want, "stun")
			if got, w := keysOf(t, top["stun"]), []string{"attributes", "class", "error_code", "method", "transaction"}; !slices.Equal(got, w) {
				t.Errorf("line %d: stun keys %q, want %q", i+1, got, w)
			}
			if len(rec.STUN.Transaction) != 24 {
				t.Errorf("line %d: transaction %q is not 96 bits in hex", i+1, rec.STUN.Transaction)
			}
		case "turn-channel":
			want = append(want, "channel")
			if got, w := keysOf(t, top["channel"]), []string{"length", "number"}; !slices.Equal(got, w) {
				t.Errorf("line %d: channel keys %q, want %q", i+1, got, w)
			}
		default:
			t.Errorf("line %d: proto %q, want stun or turn-channel", i+1, rec.Proto)
		}
		slices.Sort(want)
		if got := keysOf(t, []byte(line)); !slices.Equal(got, want) {
			t.Errorf("line %d: keys %q, want %q", i+1, got, want)
		}
		ts, err := time.Parse(time.RFC3339Nano, rec.Time)
		if err != nil || !strings.HasSuffix(rec.Time, "Z") {
			t.Errorf("line %d: time %q is not RFC 3339 in UTC: %v", i+1, rec.Time, err)
		} else if ts.Year() != 2026 {
			t.Errorf("line %d: time %q, the captures start on 2026-01-01", i+1, rec.Time)
		}
		if _, frac, ok := strings.Cut(strings.TrimSuffix(rec.Time, "Z"), "."); ok && len(frac) > 9 {
			t.Errorf("line %d: time %q has more than nanosecond digits", i+1, rec.Time)
		}
		for _, ap := range []string{rec.Src, rec.Dst} {
			if _, err := netip.ParseAddrPort(ap); err != nil {
				t.Errorf("line %d: %q is not ip:port: %v", i+1, ap, err)
			}
		}
		if rec.Transport != "udp" {
			t.Errorf("line %d: transport %q, want udp", i+1, rec.Transport)
		}
		// RFC 2474 DSCP: uclient marks CS1 (8), coturn sends 0 (EXPECTED.md).
		wantDSCP := uint8(0)
		if strings.HasPrefix(rec.Src, "192.0.2.10:") {
			wantDSCP = 8
		}
		if rec.DSCP != wantDSCP {
			t.Errorf("line %d: dscp %d from %s, want %d", i+1, rec.DSCP, rec.Src, wantDSCP)
		}
		if rec.Frame <= lastFrame {
			t.Errorf("line %d: frame %d after frame %d", i+1, rec.Frame, lastFrame)
		}
		lastFrame = rec.Frame
	}
}

func TestDecodeTCPAndIPv6(t *testing.T) {
	t.Run("tcp", func(t *testing.T) {
		recs := decodeRecords(t, pcapPath("turn-tcp-ok.pcap"))
		perFrame := map[uint64]int{}
		for _, r := range recs {
			if r.Transport != "tcp" {
				t.Errorf("frame %d: transport %q, want tcp", r.Frame, r.Transport)
			}
			perFrame[r.Frame]++
		}
		// EXPECTED.md: frames 35 and 36 each carry CreatePermission + ChannelBind.
		for _, f := range []uint64{35, 36} {
			if perFrame[f] != 2 {
				t.Errorf("frame %d gives %d records, want 2", f, perFrame[f])
			}
		}
	})
	t.Run("ipv6", func(t *testing.T) {
		recs := decodeRecords(t, pcapPath("turn-ipv6-ok.pcap"))
		if len(recs) != 38 {
			t.Errorf("%d records, want 38", len(recs))
		}
		for _, r := range recs {
			for _, s := range []string{r.Src, r.Dst} {
				ap, err := netip.ParseAddrPort(s)
				if err != nil || !strings.HasPrefix(s, "[") || !ap.Addr().Is6() {
					t.Errorf("frame %d: address %q is not [ipv6]:port", r.Frame, s)
				}
			}
		}
	})
}

// Files that overlap in time are merged and need no warning, but a file
// given twice (or a copy of one given before it) is read in full and
// counts every packet twice: a warning where the others go, in the report
// and on stderr, but not the exit status 2 of a partial report. A cut file
// among them still exits 2.
func TestRepeatedCaptures(t *testing.T) {
	ok := pcapPath("turn-udp-ok.pcap")
	const twice = ": given twice: each of its 39 packets is analyzed twice"
	for _, args := range [][]string{
		{"analyze", "--color=never", ok, ok},
		{"analyze", "--format", "json", ok, ok},
		{"decode", ok, ok},
	} {
		res := runCLI(t, args...)
		if res.code != exitOK {
			t.Errorf("callscope %s: exit %d, want %d", strings.Join(args, " "), res.code, exitOK)
		}
		if !strings.Contains(res.stderr, "callscope: warning: "+ok+twice) {
			t.Errorf("callscope %s: stderr does not warn of the repeat:\n%s", strings.Join(args, " "), res.stderr)
		}
		switch args[1] {
		case "--color=never":
			if !strings.Contains(res.stdout, "  warning "+ok+twice) || !strings.Contains(res.stdout, "\nNo problems found\n") {
				t.Errorf("text report lacks the warning or says the input was cut:\n%s", res.stdout)
			}
		case "--format":
			var r diagnose.Report
			if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Warnings) != 1 || r.Warnings[0].Kind != "overlap" || !strings.Contains(r.Warnings[0].Message, twice[2:]) {
				t.Errorf("report warnings %+v, want one overlap", r.Warnings)
			}
		}
	}

	data, err := os.ReadFile(ok)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cut, copied := filepath.Join(dir, "cut.pcap"), filepath.Join(dir, "copy.pcap")
	if err := os.WriteFile(cut, data[:3000], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copied, data, 0o644); err != nil {
		t.Fatal(err)
	}
	repeats := "callscope: warning: " + copied + ": repeats " + ok + " (the same 39 packets): each is analyzed twice"
	if res := runCLI(t, "analyze", "--color=never", ok, copied); res.code != exitOK || !strings.Contains(res.stderr, repeats) {
		t.Errorf("a copy: exit %d, want %d with the repeat:\n%s", res.code, exitOK, res.stderr)
	}
	if res := runCLI(t, "analyze", "--color=never", ok, cut, copied); res.code != exitUsage || !strings.Contains(res.stderr, "truncated") || !strings.Contains(res.stderr, repeats) {
		t.Errorf("repeated and cut: exit %d, want %d with both warnings:\n%s", res.code, exitUsage, res.stderr)
	}
}
