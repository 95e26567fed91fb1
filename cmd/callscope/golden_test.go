package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

var update = flag.Bool("update", false, "rewrite the text goldens in testdata/")

// expectations is pcaps/expected.json.
type expectations struct {
	Schema   int                        `json:"schema"`
	Captures map[string]expectedCapture `json:"captures"`
}

// expectedCapture is one capture's entry.
type expectedCapture struct {
	MustFire    map[string]json.RawMessage `json:"must_fire"`
	MayFire     []string                   `json:"may_fire"`
	MaxSeverity diagnose.Severity          `json:"max_severity"`
	MustNotFire []string                   `json:"must_not_fire"`
	Allocations []struct {
		Client    string `json:"client"`
		Server    string `json:"server"`
		Transport string `json:"transport"`
		Outcome   string `json:"outcome"`
	} `json:"allocations"`
	KeyFrames         map[string]json.RawMessage `json:"key_frames"`
	Tshark            tsharkCounts               `json:"tshark"`
	ChanneldataNumber string                     `json:"channeldata_channel"`
	// SIP captures (golden_sip_test.go).
	Calls         []expectedCall             `json:"calls"`
	Registrations []expectedRegistration     `json:"registrations"`
	Evidence      map[string]json.RawMessage `json:"evidence"`
	// TLS, DTLS and WebRTC captures (golden_webrtc_test.go).
	TLSConnections []expectedTLSConnection `json:"tls_connections"`
	ICESessions    []expectedICESession    `json:"ice_sessions"`
}

type tsharkCounts struct {
	Frames              uint64         `json:"frames"`
	STUN                map[string]int `json:"stun"`
	ChannelData         int            `json:"channel_data"`
	ErrorCodes          map[string]int `json:"error_codes"`
	ICMPPortUnreachable uint64         `json:"icmp_port_unreachable"`

	// SIP captures (make-sip-captures.sh --summary).
	SIPRequests        map[string]int `json:"sip_requests"`  // by method
	SIPResponses       map[string]int `json:"sip_responses"` // by status
	SIPRetransmissions int            `json:"sip_retransmissions"`
	RTPPackets         int            `json:"rtp_packets"` // tshark's RTP heuristic on
	RTPStreams         int            `json:"rtp_streams"`
	// RTPFromSDP is what tshark finds without its heuristic, from the
	// SDP alone.
	RTPFromSDP int            `json:"rtp_packets_without_heuristic"`
	Streams    []tsharkStream `json:"streams"`

	// TLS, DTLS and WebRTC captures (make-webrtc-captures.sh --summary,
	// with tshark's TURN payload heuristics).
	TLS        *tsharkTLS     `json:"tls"`
	DTLS       *tsharkTLS     `json:"dtls"`
	STUNInTURN map[string]int `json:"stun_in_turn"`
	RTPInTURN  int            `json:"rtp_in_turn"`
	RTPSSRCs   int            `json:"rtp_ssrcs"`
}

// tsharkStream is one RTP stream as tshark's rtp,streams lists it.
type tsharkStream struct {
	Src     string         `json:"src"`
	Dst     string         `json:"dst"`
	SSRC    string         `json:"ssrc"`
	Packets uint64         `json:"packets"`
	Lost    int64          `json:"lost"`
	DSCP    map[string]int `json:"dscp"`
}

// mustFire is the evidence a must_fire entry asks for. Unknown fields make
// the test fail, so that evidence added to expected.json is not silently
// left unchecked.
type mustFire struct {
	Severity           diagnose.Severity `json:"severity"`
	Attempts           int               `json:"attempts"`
	Sends              int               `json:"sends"`
	ErrorCode          int               `json:"error_code"`
	Method             string            `json:"method"`
	Reason             string            `json:"reason"`
	Client             string            `json:"client"`
	Server             string            `json:"server"`
	Peer               string            `json:"peer"`
	TransactionID      string            `json:"transaction_id"`
	ChallengeFrame     uint64            `json:"challenge_frame"`
	FirstAttemptFrames []uint64          `json:"first_attempt_frames"`
	LastAttemptFrames  []uint64          `json:"last_attempt_frames"`
	NonceUnchanged     bool              `json:"nonce_unchanged"`
	// Nonce is read but not required in the finding: the nonce value
	// is in the frames the finding cites, and the detail says whether
	// it changed (NonceUnchanged).
	Nonce        string    `json:"nonce"`
	SendOffsets  []float64 `json:"send_offsets_s"`
	ICMP         string    `json:"icmp"`
	ICMPFrom     string    `json:"icmp_from"`
	RequestFrame uint64    `json:"request_frame"`
	ICMPFrame    uint64    `json:"icmp_frame"`
	Frames       []uint64  `json:"frames"`
	// Count is how many findings the rule must give; 0 means exactly 1. A
	// per-allocation rule gives one per allocation (webrtc-turn-blocked:
	// two peers, two allocations), and each must carry the evidence.
	Count int `json:"count"`
}

func loadExpectations(t *testing.T) *expectations {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pcapsDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expectations
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if e.Schema != 1 || len(e.Captures) == 0 {
		t.Fatalf("expected.json: schema %d with %d captures; this test reads schema 1", e.Schema, len(e.Captures))
	}
	return &e
}

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// TestGoldenCaptures checks the JSON report of every reference capture
// against pcaps/expected.json.
func TestGoldenCaptures(t *testing.T) {
	exp := loadExpectations(t)
	for _, name := range sortedNames(exp.Captures) {
		want := exp.Captures[name]
		t.Run(name, func(t *testing.T) {
			r, _ := analyzeJSON(t, exitOK, pcapPath(name))
			transactionFrames := map[string][]uint64{}
			recs := decodeRecords(t, pcapPath(name))
			for _, rec := range recs {
				if rec.STUN != nil {
					transactionFrames[rec.STUN.Transaction] = append(transactionFrames[rec.STUN.Transaction], rec.Frame)
				}
			}

			if r.Stats.Packets != want.Tshark.Frames {
				t.Errorf("stats.packets = %d, tshark counts %d frames", r.Stats.Packets, want.Tshark.Frames)
			}
			if r.Stats.ICMPErrors != want.Tshark.ICMPPortUnreachable {
				t.Errorf("stats.icmp_errors = %d, tshark counts %d ICMP port unreachable", r.Stats.ICMPErrors, want.Tshark.ICMPPortUnreachable)
			}
			if len(r.Warnings) != 0 {
				t.Errorf("warnings on a reference capture: %+v", r.Warnings)
			}

			for _, rule := range sortedNames(want.MustFire) {
				var ev mustFire
				dec := json.NewDecoder(bytes.NewReader(want.MustFire[rule]))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&ev); err != nil {
					t.Fatalf("expected.json %s must_fire %s: %v (teach golden_test.go the new evidence)", name, rule, err)
				}
				fs := findingsOf(r, rule)
				count := max(ev.Count, 1)
				if len(fs) != count {
					t.Errorf("%s: %d findings, want exactly %d", rule, len(fs), count)
					continue
				}
				for _, f := range fs {
					checkEvidence(t, rule, f, ev, transactionFrames)
				}
			}
			if strings.HasPrefix(name, "sip-") {
				checkSIPCapture(t, name, want, r, recs)
			}
			if isWebRTCCapture(want) {
				checkWebRTCCapture(t, want, r)
			} else if !strings.HasPrefix(name, "sip-") {
				checkTURNEvidence(t, want, r)
			}
			for _, rule := range want.MustNotFire {
				for _, f := range findingsOf(r, rule) {
					t.Errorf("%s must not fire, but did: %s (frames %v)", rule, f.Title, f.Frames)
				}
			}
			for _, f := range r.Findings {
				if _, ok := want.MustFire[f.Rule]; ok {
					continue
				}
				if f.Severity > want.MaxSeverity {
					t.Errorf("%s at %s is above the %s allowed for findings not in must_fire: %s", f.Rule, f.Severity, want.MaxSeverity, f.Title)
				}
			}

			if len(r.Allocations) != len(want.Allocations) {
				t.Errorf("%d allocations, want %d", len(r.Allocations), len(want.Allocations))
			}
			for i := range min(len(r.Allocations), len(want.Allocations)) {
				got, w := r.Allocations[i], want.Allocations[i]
				if got.Client != w.Client || got.Server != w.Server || got.Transport != w.Transport || got.Outcome != w.Outcome {
					t.Errorf("allocation %d: %s → %s %s %s, want %s → %s %s %s", i+1,
						got.Client, got.Server, got.Transport, got.Outcome, w.Client, w.Server, w.Transport, w.Outcome)
				}
			}
		})
	}
}

func checkEvidence(t *testing.T, rule string, f diagnose.Finding, ev mustFire, transactionFrames map[string][]uint64) {
	t.Helper()
	detail := oneLine(f.Detail)
	text := oneLine(f.Title + " " + f.Detail)
	mention := func(what, s string) {
		t.Helper()
		if s != "" && !strings.Contains(text, s) {
			t.Errorf("%s: %s %q not in title or detail: %s", rule, what, s, text)
		}
	}
	cite := func(what string, frames ...uint64) {
		t.Helper()
		for _, fr := range frames {
			if fr != 0 && !slices.Contains(f.Frames, fr) {
				t.Errorf("%s: %s frame %d not among the frames cited %v", rule, what, fr, f.Frames)
			}
		}
	}
	number := func(what string, n int) {
		t.Helper()
		if n != 0 && !regexp.MustCompile(`\b`+strconv.Itoa(n)+`\b`).MatchString(detail) {
			t.Errorf("%s: %s %d not in detail: %s", rule, what, n, detail)
		}
	}

	if f.Severity != ev.Severity {
		t.Errorf("%s: severity %s, want %s", rule, f.Severity, ev.Severity)
	}
	for _, ep := range []string{ev.Client, ev.Server} {
		if ep != "" && !slices.Contains(f.Endpoints, ep) {
			t.Errorf("%s: endpoint %s not in %v", rule, ep, f.Endpoints)
		}
		mention("endpoint", ep)
	}
	mention("method", ev.Method)
	mention("reason", ev.Reason)
	mention("peer", ev.Peer)
	mention("ICMP error", ev.ICMP)
	mention("ICMP source", ev.ICMPFrom)
	number("error code", ev.ErrorCode)
	number("attempts", ev.Attempts)
	number("sends", ev.Sends)
	if ev.TransactionID != "" {
		// The transaction is cited when a frame of it is: its ID is
		// then one click away, whatever the filter selects by.
		frames := transactionFrames[ev.TransactionID]
		if len(frames) == 0 {
			t.Errorf("%s: transaction %s is in no decode record", rule, ev.TransactionID)
		}
		if !slices.ContainsFunc(frames, func(fr uint64) bool { return slices.Contains(f.Frames, fr) }) {
			t.Errorf("%s: no frame of transaction %s (%v) among the frames cited %v", rule, ev.TransactionID, frames, f.Frames)
		}
	}
	if ev.ChallengeFrame != 0 {
		cite("challenge", ev.ChallengeFrame)
		mention("challenge frame", "frame "+strconv.FormatUint(ev.ChallengeFrame, 10))
	}
	cite("first attempt", ev.FirstAttemptFrames...)
	cite("last attempt", ev.LastAttemptFrames...)
	cite("request", ev.RequestFrame)
	cite("ICMP", ev.ICMPFrame)
	if ev.NonceUnchanged && !strings.Contains(strings.ToLower(detail), "nonce was unchanged") {
		t.Errorf("%s: detail does not say the nonce was unchanged: %s", rule, detail)
	}
	if ev.Sends != 0 && len(f.Frames) != ev.Sends {
		t.Errorf("%s: %d frames cited, want the %d sends", rule, len(f.Frames), ev.Sends)
	}
	if len(ev.SendOffsets) > 0 {
		parts := make([]string, len(ev.SendOffsets))
		for i, s := range ev.SendOffsets {
			parts[i] = strconv.FormatFloat(s, 'f', -1, 64)
		}
		mention("send schedule", strings.Join(parts, ", ")+" s")
	}
	if ev.Frames != nil && !slices.Equal(f.Frames, ev.Frames) {
		t.Errorf("%s: frames %v, want %v", rule, f.Frames, ev.Frames)
	}
	if f.Filter == "" {
		t.Errorf("%s: no Wireshark filter", rule)
	}
}

// turnEvidence is the evidence block of the turn-* captures of
// make-captures.sh. Unknown rules or fields make the test fail, so that
// evidence added to expected.json is not silently left unchecked.
type turnEvidence struct {
	BindingExpired *struct {
		OldClient string `json:"old_client"`
		NewClient string `json:"new_client"`
		Relayed   string `json:"relayed"`
		User      string `json:"user"`
		Realm     string `json:"realm"`
		// The Allocate success, the last packet on the old 5-tuple, the
		// request and answer from the new port refused for the old
		// nonce (438), the 437, and the ChannelData from the new port.
		AllocateFrame    uint64   `json:"allocate_frame"`
		LastOnOldFrame   uint64   `json:"last_on_old_frame"`
		IdleGapS         float64  `json:"idle_gap_s"`
		StaleNonceFrames []uint64 `json:"stale_nonce_frames"`
		MismatchFrames   []uint64 `json:"mismatch_frames"`
		ChannelDataFrame uint64   `json:"channeldata_from_new_frame"`
		Recovered        bool     `json:"recovered"`
		Filter           string   `json:"filter"`
	} `json:"nat.binding-expired"`
}

// checkTURNEvidence checks the evidence block of a turn-* capture against
// the finding that the must_fire check has required to be exactly one.
func checkTURNEvidence(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	if len(want.Evidence) == 0 {
		return
	}
	var ev turnEvidence
	decodeEvidence(t, want, &ev, "golden_test.go")
	if e := ev.BindingExpired; e != nil {
		const rule = "nat.binding-expired"
		fs := findingsOf(r, rule)
		if len(fs) != 1 {
			return
		}
		f, text := fs[0], findingText(fs[0])
		says := []string{
			fmt.Sprintf("user %q in realm %q on %s →", e.User, e.Realm, e.OldClient),
			"relayed address " + e.Relayed,
			fmt.Sprintf("Allocate success in frame %d", e.AllocateFrame),
			fmt.Sprintf("last packet in frame %d", e.LastOnOldFrame),
			"for the next " + strconv.FormatFloat(e.IdleGapS, 'f', -1, 64) + " s",
			"from " + e.NewClient + " instead of " + e.OldClient,
			fmt.Sprintf("Refresh (frame %d at", e.StaleNonceFrames[0]),
			fmt.Sprintf("drew 438 Stale Nonce (frame %d)", e.StaleNonceFrames[1]),
			fmt.Sprintf("Refresh (frame %d at", e.MismatchFrames[0]),
			fmt.Sprintf("drew 437 Allocation Mismatch (frame %d)", e.MismatchFrames[1]),
			fmt.Sprintf("from %s (the last in frame %d) went nowhere", e.NewClient, e.ChannelDataFrame),
		}
		if e.Recovered {
			says = append(says, "The client recovered")
		} else {
			says = append(says, "Nothing in the capture shows the client recovering")
		}
		for _, s := range says {
			if !strings.Contains(text, s) {
				t.Errorf("%s: %q not in title or detail: %s", rule, s, text)
			}
		}
		for _, ep := range []string{e.OldClient, e.NewClient} {
			if !slices.Contains(f.Endpoints, ep) {
				t.Errorf("%s: %s not in the endpoints %v", rule, ep, f.Endpoints)
			}
		}
		cited := append([]uint64{e.AllocateFrame, e.LastOnOldFrame, e.ChannelDataFrame}, e.StaleNonceFrames...)
		for _, fr := range append(cited, e.MismatchFrames...) {
			if !slices.Contains(f.Frames, fr) {
				t.Errorf("%s: frame %d not among the frames cited %v", rule, fr, f.Frames)
			}
		}
		if f.Filter != e.Filter || f.Filter != diagnose.FilterFrames(f.Frames) {
			t.Errorf("%s: filter %q, want %q, the frames cited", rule, f.Filter, e.Filter)
		}
	}
}

// TestDecodeMatchesTshark counts `callscope decode` records by "Method
// class", ChannelData and error codes, as make-captures.sh --summary counts
// tshark's, and compares with expected.json.
func TestDecodeMatchesTshark(t *testing.T) {
	exp := loadExpectations(t)
	for _, name := range sortedNames(exp.Captures) {
		want := exp.Captures[name]
		t.Run(name, func(t *testing.T) {
			stunCounts := map[string]int{}
			errorCodes := map[string]int{}
			var channelData int
			channels := map[uint16]bool{}
			var cdFrames []uint64
			recs := decodeRecords(t, pcapPath(name))
			for _, r := range recs {
				switch {
				case r.STUN != nil:
					stunCounts[r.STUN.Method+" "+r.STUN.Class]++
					if r.STUN.Class == "error" {
						errorCodes[strconv.Itoa(r.STUN.ErrorCode)]++
					}
				case r.Channel != nil:
					channelData++
					channels[r.Channel.Number] = true
					cdFrames = append(cdFrames, r.Frame)
				}
			}
			if !mapsEqual(stunCounts, want.Tshark.STUN) {
				t.Errorf("STUN messages by method and class:\n got  %v\n want %v", stunCounts, want.Tshark.STUN)
			}
			if channelData != want.Tshark.ChannelData {
				t.Errorf("%d ChannelData, tshark counts %d", channelData, want.Tshark.ChannelData)
			}
			if !mapsEqual(errorCodes, want.Tshark.ErrorCodes) {
				t.Errorf("error codes:\n got  %v\n want %v", errorCodes, want.Tshark.ErrorCodes)
			}
			if raw, ok := want.KeyFrames["channeldata"]; ok {
				var frames []uint64
				if err := json.Unmarshal(raw, &frames); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(slices.Compact(cdFrames), frames) {
					t.Errorf("ChannelData in frames %v, want %v", cdFrames, frames)
				}
			}
			if strings.HasPrefix(name, "sip-") {
				checkSIPDecode(t, want, recs)
			}
			checkTLSDecode(t, want, recs)
			if want.ChanneldataNumber != "" {
				n, err := strconv.ParseUint(strings.TrimPrefix(want.ChanneldataNumber, "0x"), 16, 16)
				if err != nil {
					t.Fatal(err)
				}
				if len(channels) != 1 || !channels[uint16(n)] {
					t.Errorf("ChannelData on channels %v, want only %s", channels, want.ChanneldataNumber)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTextGolden compares the text report with testdata/*.txt; go test
// -update rewrites them. The path is the relative one given to analyze, so
// the goldens do not depend on where the checkout lives.
func TestTextGolden(t *testing.T) {
	for _, name := range []string{"turn-wrong-password.pcap", "turn-port-dropped.pcap"} {
		t.Run(name, func(t *testing.T) {
			res := runCLI(t, "analyze", "--color=never", pcapPath(name))
			if res.code != exitOK {
				t.Fatalf("exit %d: %s", res.code, res.stderr)
			}
			if strings.Contains(res.stdout, "\x1b[") {
				t.Errorf("--color=never output has ANSI escapes")
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(name, ".pcap")+".txt")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(res.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./cmd/callscope -update writes it)", err)
			}
			if res.stdout != string(want) {
				t.Errorf("text report differs from %s (go test ./cmd/callscope -update rewrites it):\n%s", golden, lineDiff(string(want), res.stdout))
			}
		})
	}
}

// lineDiff shows the first lines that differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 10; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}

// Durations in the text report are for people: at most millisecond
// precision, never a float artifact such as "2.8120000000000003 s".
func TestTextDurations(t *testing.T) {
	exp := loadExpectations(t)
	duration := regexp.MustCompile(`\(([^()]*) s\)`)
	wellFormed := regexp.MustCompile(`^\d+(\.\d{1,3})?$`)
	for _, name := range sortedNames(exp.Captures) {
		res := runCLI(t, "analyze", "--color=never", pcapPath(name))
		for _, m := range duration.FindAllStringSubmatch(res.stdout, -1) {
			if !wellFormed.MatchString(m[1]) {
				t.Errorf("%s: duration %q is not seconds with at most 3 decimals", name, m[0])
			}
		}
	}
}
