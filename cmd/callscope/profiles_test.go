package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscope/callscope/rules"
)

func TestProfilesCommand(t *testing.T) {
	res := runCLI(t, "profiles")
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{
		"default\n", "webex-calling\n", "cms-expressway\n",
		"DSCP         audio EF (46) · video AF41 (34) · SIP CS3 (24)",
		"media ports  audio   8500-8599",
		"video   8600-8699", "any     19560-65535",
		"23.89.0.0/16", "199.59.64.0/21",
		"stun    udp/5004", "stun    udp/9000", "sip_tls tcp/5061-5062", "sip_tls tcp/8934",
		"turn    udp/3478", "turn    tcp/3478", "any     24000-29999", "web     tcp/443", "admin   tcp/445",
		"thresholds   loss warning > 1 % · loss error > 5 % · jitter > 30 ms · SIP timeout 32 s",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("profiles output lacks %q", want)
		}
	}

	// JSON is the profile file format: each profile loads back.
	res = runCLI(t, "profiles", "--format", "json")
	if res.code != exitOK {
		t.Fatalf("--format json: exit %d: %s", res.code, res.stderr)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal([]byte(res.stdout), &docs); err != nil || len(docs) != 3 {
		t.Fatalf("--format json: %d profiles, %v", len(docs), err)
	}
	dir := t.TempDir()
	for i, d := range docs {
		path := filepath.Join(dir, "p.json")
		if err := os.WriteFile(path, d, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := rules.LoadProfile(path)
		if err != nil {
			t.Fatalf("profile %d does not load back: %v", i, err)
		}
		if want := rules.Profiles()[i]; p.Name != want.Name || len(p.PeerSubnets) != len(want.PeerSubnets) || len(p.MediaPorts) != len(want.MediaPorts) {
			t.Errorf("profile %d round trip: %+v", i, p)
		}
	}

	// The documented round trip: one NAME prints one object that
	// --profile FILE loads back unchanged, for every built-in profile.
	for _, want := range rules.Profiles() {
		res := runCLI(t, "profiles", "--format", "json", want.Name)
		if res.code != exitOK || !strings.HasPrefix(res.stdout, "{") {
			t.Fatalf("profiles --format json %s: exit %d, not one object:\n%s", want.Name, res.code, res.stdout)
		}
		path := filepath.Join(dir, want.Name+".json")
		if err := os.WriteFile(path, []byte(res.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := rules.LoadProfile(path)
		if err != nil {
			t.Fatalf("%s does not load back: %v", want.Name, err)
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("%s round trip:\n got %s\nwant %s", want.Name, gotJSON, wantJSON)
		}
		if res := runCLI(t, "analyze", "--profile", path, pcapPath("sip-loss.pcap")); res.code == exitUsage {
			t.Errorf("analyze --profile %s: %s", path, res.stderr)
		}
	}

	res = runCLI(t, "profiles", "cms-expressway")
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "cms-expressway\n") || strings.Contains(res.stdout, "webex") {
		t.Errorf("profiles cms-expressway: exit %d\n%s", res.code, res.stdout)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name": "x", "media_ports": [{"class": "audio", "from": 9, "to": 1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res = runCLI(t, "profiles", bad)
	if res.code != exitUsage || !strings.Contains(res.stderr, "media_ports[0]: from 9 is above to 1") {
		t.Errorf("invalid profile file: exit %d, stderr %q", res.code, res.stderr)
	}
	if res := runCLI(t, "profiles", "--format", "yaml"); res.code != exitUsage {
		t.Errorf("--format yaml: exit %d", res.code)
	}
}

func TestAnalyzeProfileFlag(t *testing.T) {
	capture := pcapPath("turn-wrong-password.pcap")
	if _, err := os.Stat(capture); err != nil {
		t.Skip("no reference capture")
	}
	for _, name := range []string{"default", "webex-calling", "cms-expressway"} {
		if res := runCLI(t, "analyze", "--profile", name, capture); res.code != exitOK {
			t.Errorf("--profile %s: exit %d: %s", name, res.code, res.stderr)
		}
	}
	res := runCLI(t, "analyze", "--profile", "webex", capture)
	if res.code != exitUsage || !strings.Contains(res.stderr, "--profile") || !strings.Contains(res.stderr, "default, webex-calling, cms-expressway") {
		t.Errorf("unknown profile: exit %d, stderr %q", res.code, res.stderr)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "site.json")
	if err := os.WriteFile(bad, []byte(`{"name": "site", "peer_subnets": ["10.0.0/8"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	res = runCLI(t, "analyze", "--profile", bad, capture)
	if res.code != exitUsage || !strings.Contains(res.stderr, "peer_subnets[0]") || !strings.Contains(res.stderr, "site.json") {
		t.Errorf("invalid profile file: exit %d, stderr %q", res.code, res.stderr)
	}
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"name": "site", "dscp": {"audio": 46, "video": 34, "signalling": 26},
		"thresholds": {"loss_warning_percent": 2, "loss_error_percent": 10, "jitter_warning_ms": 40, "sip_timeout_s": 32}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := runCLI(t, "analyze", "--profile", good, capture); res.code != exitOK {
		t.Errorf("profile file: exit %d: %s", res.code, res.stderr)
	}
}

// The profile changes what the rules find: a stream on ports outside the
// Webex ranges is a finding with webex-calling only.
func TestAnalyzeProfileChangesFindings(t *testing.T) {
	capture := pcapPath("sip-call-ok.pcap")
	if _, err := os.Stat(capture); err != nil {
		t.Skip("no reference capture")
	}
	def, _ := analyzeJSON(t, exitOK, "--profile", "default", capture)
	webex, _ := analyzeJSON(t, exitOK, "--profile", "webex-calling", capture)
	count := func(fs []string, id string) int {
		n := 0
		for _, f := range fs {
			if f == id {
				n++
			}
		}
		return n
	}
	var defIDs, webexIDs []string
	for _, f := range def.Findings {
		defIDs = append(defIDs, f.Rule)
	}
	for _, f := range webex.Findings {
		webexIDs = append(webexIDs, f.Rule)
	}
	for _, id := range []string{"media.port-outside-range", "media.unexpected-peer"} {
		if count(defIDs, id) != 0 {
			t.Errorf("default profile: %s fired", id)
		}
	}
	if len(webex.Streams) > 0 && count(webexIDs, "media.unexpected-peer") == 0 {
		t.Errorf("webex-calling: streams to lab addresses are not flagged: %v", webexIDs)
	}
}
