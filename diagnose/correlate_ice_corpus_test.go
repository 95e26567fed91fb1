package diagnose

import (
	"os"
	"path/filepath"
	"testing"
)

// TestICECorpus checks ICE and DTLS reconstruction on public WebRTC
// captures (Chrome against Google Meet's servers, a zeek trace): every
// session connects, and each DTLS association sits on a session's pair.
// It skips when the corpus is absent.
func TestICECorpus(t *testing.T) {
	dir := "../../shared/corpus/public"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("public corpus absent")
	}
	tests := []struct {
		file           string
		sessions, dtls int
		consentAtLeast int // of the first session
	}{
		{"nDPI/stun_dtls_rtp.pcapng", 2, 2, 0},
		{"nDPI/stun_google_meet.pcapng", 2, 2, 1},
		{"zeek/webrtc-stun.pcap", 1, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if _, err := os.Stat(path); err != nil {
				t.Skip(err)
			}
			a, _, err := Analyze([]string{path}, Options{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.ICESessions) != tt.sessions || len(a.TLSConnections) != tt.dtls {
				t.Fatalf("%d sessions, %d TLS, want %d and %d", len(a.ICESessions), len(a.TLSConnections), tt.sessions, tt.dtls)
			}
			for _, s := range a.ICESessions {
				if s.Outcome != "connected" || s.Selected == nil || s.Selected.State != "succeeded" {
					t.Errorf("session %s/%s: outcome %q", s.LocalUfrag, s.RemoteUfrag, s.Outcome)
				}
			}
			if c := a.ICESessions[0].ConsentChecks; c < tt.consentAtLeast || a.ICESessions[0].ConsentUnanswered != 0 {
				t.Errorf("consent checks %d unanswered %d", c, a.ICESessions[0].ConsentUnanswered)
			}
			for _, c := range a.TLSConnections {
				if !c.DTLS || c.Outcome != "established" || c.ICE == nil || len(c.Certificates) == 0 {
					t.Errorf("DTLS %v-%v: dtls %v outcome %q ice %v certificates %d", c.Client, c.Server, c.DTLS, c.Outcome, c.ICE != nil, len(c.Certificates))
				}
			}
		})
	}
}
