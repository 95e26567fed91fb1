package diagnose

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type stubRule struct {
	id       string
	findings []Finding
}

func (r stubRule) ID() string                  { return r.id }
func (r stubRule) Severity() Severity          { return Info }
func (r stubRule) Title() string               { return r.id }
func (r stubRule) Explain() string             { return r.id }
func (r stubRule) Check(a *Analysis) []Finding { return r.findings }

func TestRunRulesOrder(t *testing.T) {
	rules := []Rule{
		stubRule{"b", []Finding{
			{Rule: "b", Severity: Warning, Frames: []uint64{7}},
			{Rule: "b", Severity: Error, Frames: []uint64{40, 9}},
		}},
		stubRule{"a", []Finding{
			{Rule: "a", Severity: Error, Frames: []uint64{9}},
			{Rule: "a", Severity: Error},
			{Rule: "a", Severity: Info, Frames: []uint64{1}},
			{Rule: "a", Severity: Error, Frames: []uint64{3}},
		}},
	}
	got := RunRules(&Analysis{}, rules)
	var order []string
	for _, f := range got {
		first := "-"
		if len(f.Frames) > 0 {
			first = string(rune('0' + slices.Min(f.Frames)))
		}
		order = append(order, f.Severity.String()+"/"+f.Rule+"/"+first)
	}
	want := []string{"error/a/3", "error/a/9", "error/b/9", "error/a/-", "warning/b/7", "info/a/1"}
	if !slices.Equal(order, want) {
		t.Errorf("order = %v\nwant    %v", order, want)
	}
}

func TestAnalyzeMissingFile(t *testing.T) {
	if _, _, err := Analyze([]string{filepath.Join(t.TempDir(), "absent.pcap")}, Options{}, nil); err == nil {
		t.Error("no error for a missing file")
	}
}

// TestAnalyzeCorpus runs the pipeline on a public WebRTC-over-TURN/TCP
// capture: Allocate challenged then accepted, CreatePermission,
// ChannelBind, Send and Data indications.
func TestAnalyzeCorpus(t *testing.T) {
	path := "/work/shared/corpus/public/nDPI/stun_dtls_rtp.pcapng"
	if _, err := os.Stat(path); err != nil {
		t.Skip("public corpus not available")
	}
	a, _, err := Analyze([]string{path}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Stats.STUN == 0 {
		t.Skip("decoder emitted no STUN messages")
	}
	if len(a.Captures) != 1 || a.Captures[0].Packets != 102 {
		t.Errorf("captures = %+v", a.Captures)
	}
	var allocated *Allocation
	for _, al := range a.Allocations {
		if len(al.Attempts) > 0 && al.Relayed.IsValid() {
			allocated = al
		}
	}
	if allocated == nil {
		t.Fatalf("no successful allocation among %d", len(a.Allocations))
	}
	if allocated.Attempts[0].ErrorCode != 401 || allocated.Username == "" {
		t.Errorf("attempts start with %d, username %q", allocated.Attempts[0].ErrorCode, allocated.Username)
	}
	if allocated.Sent.Packets == 0 || allocated.Received.Packets == 0 || len(allocated.Permissions) == 0 {
		t.Errorf("relayed data sent %+v received %+v, %d permissions", allocated.Sent, allocated.Received, len(allocated.Permissions))
	}
}

// TestAnalyzeCoturn runs the pipeline on captures of coturn's
// turnutils_uclient against a turnserver with user alice, password s3cret,
// realm example.org: three allocations with the right password, then one
// client retrying with a wrong one until it gives up.
func TestAnalyzeCoturn(t *testing.T) {
	opts := Options{Credentials: []Credential{{Username: "alice", Password: "s3cret"}}}
	tests := []struct {
		file        string
		allocations int
		outcome     string
		match, miss int
	}{
		{"coturn-allocate.pcap", 3, "allocated", 7, 0},
		{"coturn-wrong-password.pcap", 1, "rejected", 0, 31},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			a, _, err := Analyze([]string{filepath.Join("testdata", tt.file)}, opts, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Allocations) != tt.allocations {
				t.Fatalf("got %d allocations, want %d", len(a.Allocations), tt.allocations)
			}
			for _, al := range a.Allocations {
				if al.Outcome != tt.outcome || al.Username != "alice" || al.Realm != "example.org" {
					t.Errorf("allocation %v: %q %q %q", al.Client, al.Outcome, al.Username, al.Realm)
				}
				if al.Attempts[0].ErrorCode != 401 || al.Attempts[0].Username != "" {
					t.Errorf("allocation %v does not start with a challenge", al.Client)
				}
			}
			var match, miss int
			for _, tx := range a.Transactions {
				switch tx.Integrity {
				case IntegrityMatch:
					match++
				case IntegrityMismatch:
					miss++
				}
			}
			if match != tt.match || miss != tt.miss {
				t.Errorf("integrity match %d mismatch %d, want %d %d", match, miss, tt.match, tt.miss)
			}
			if !a.CredentialsGiven {
				t.Error("CredentialsGiven not set")
			}
		})
	}
}

// TestAnalyzeCorpusSampler checks, on nDPI's STUN/TURN sampler, the frames
// tshark identifies: 199 and 201 are responses without a request
// (no stun.response-to); frame 24 is the client's port unreachable for the
// server's answer (frame 23) to the Refresh that deleted the allocation.
func TestAnalyzeCorpusSampler(t *testing.T) {
	path := "/work/shared/corpus/public/nDPI/stun.pcap"
	if _, err := os.Stat(path); err != nil {
		t.Skip("public corpus not available")
	}
	a, _, err := Analyze([]string{path}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.OrphanResponseFrames, []uint64{199, 201}) {
		t.Errorf("orphan responses in frames %v, want [199 201]", a.OrphanResponseFrames)
	}
	if len(a.ICMPErrors) != 1 || a.ICMPErrors[0].Frame != 24 {
		t.Fatalf("ICMP errors %v, want one in frame 24", a.ICMPErrors)
	}
	ev := a.ICMPErrors[0]
	if tx := ev.Transaction; tx == nil || tx.Method.String() != "Refresh" || tx.Response.Frame != 23 || tx.ICMP != ev {
		t.Errorf("ICMP error not tied to the Refresh answered in frame 23: %+v", tx)
	}
	if al := ev.Allocation; al == nil || al.Outcome != "deleted" || al.Last.Frame != 24 {
		t.Errorf("ICMP error not tied to the deleted allocation: %+v", al)
	}
	// Frame 199, a ChannelBind success, proves an allocation the capture
	// missed the start of; the ChannelData in frame 200 belongs to it.
	if a.UnmatchedChannelData != 0 {
		t.Errorf("%d ChannelData messages on no allocation", a.UnmatchedChannelData)
	}
}
