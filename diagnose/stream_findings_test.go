package diagnose_test

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/rules"
)

type streamedFinding struct {
	f  diagnose.Finding
	at time.Time
	// frames is how many records had been read when it was streamed.
	frames uint64
}

// streamFile runs a capture file through the streaming pipeline.
func streamFile(t *testing.T, path string) (streamed []streamedFinding, a *diagnose.Analysis, final []diagnose.Finding) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var read uint64
	a, final, err = diagnose.StreamSource(r, diagnose.Options{}, rules.All(), diagnose.StreamOptions{
		OnRecord:  func(rec *capture.Record) { read = rec.Frame },
		OnFinding: func(f diagnose.Finding, at time.Time) { streamed = append(streamed, streamedFinding{f, at, read}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return streamed, a, final
}

// TestStreamedFindingsAreFinal checks, on every reference capture, that
// what is streamed while reading is never contradicted: each streamed
// finding is in the final report (by identity), none twice, and the final
// rules find every one of them again (the report need not keep one the
// final run dropped), and that findings stream in packet-time order.
func TestStreamedFindingsAreFinal(t *testing.T) {
	paths, _ := filepath.Glob("../pcaps/*.pcap")
	if len(paths) == 0 {
		t.Skip("no pcaps/*.pcap")
	}
	total := 0
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			streamed, a, final := streamFile(t, path)
			plain := diagnose.RunRules(a, rules.All())
			inFinal := map[string]bool{}
			for _, f := range plain {
				inFinal[f.Identity()] = true
			}
			if len(final) != len(plain) {
				t.Errorf("final report has %d findings, the final rules %d: a streamed finding was dropped by the final run", len(final), len(plain))
			}
			seen := map[string]bool{}
			var last time.Time
			for _, s := range streamed {
				k := s.f.Identity()
				if seen[k] {
					t.Errorf("streamed twice: %s", k)
				}
				seen[k] = true
				if !inFinal[k] {
					t.Errorf("streamed %s (%s) is not in the final report", k, s.f.Title)
				}
				if s.at.Before(last) {
					t.Errorf("%s streamed at %v, before the previous one at %v", k, s.at, last)
				}
				last = s.at
			}
			total += len(streamed)
		})
	}
	if total == 0 {
		t.Error("no finding streamed from any reference capture")
	}
}

// TestStreamedEarly checks when the reference failures are reported.
func TestStreamedEarly(t *testing.T) {
	t.Run("integrity failure at the second rejection", func(t *testing.T) {
		path := "../pcaps/turn-wrong-password.pcap"
		streamed, a, _ := streamFile(t, path)
		i := slices.IndexFunc(streamed, func(s streamedFinding) bool { return s.f.Rule == "turn.integrity-failure" })
		if i < 0 {
			t.Fatalf("turn.integrity-failure not streamed: %+v", streamed)
		}
		// The challenge is the first rejection; the rejection of the
		// authenticated attempt that answers it makes the finding.
		var rejections []diagnose.FrameRef
		for _, tx := range a.Transactions {
			if tx.Method == stun.MethodAllocate && tx.Answered && tx.Class == stun.ClassError {
				rejections = append(rejections, tx.Response)
			}
		}
		if len(rejections) < 2 {
			t.Fatalf("%d rejected Allocates in %s; want 2 or more", len(rejections), path)
		}
		s := streamed[i]
		if s.frames != rejections[1].Frame || !s.at.Equal(rejections[1].Time) {
			t.Errorf("streamed after frame %d at %v; want at the second rejection, frame %d at %v",
				s.frames, s.at, rejections[1].Frame, rejections[1].Time)
		}
	})
	t.Run("allocate timeout when the client gave up", func(t *testing.T) {
		// turn-port-dropped ends 0.1 s after the 7th send: the client may
		// still be waiting, so the timeout is certain only at the end.
		dropped := "../pcaps/turn-port-dropped.pcap"
		streamed, _, final := streamFile(t, dropped)
		if slices.ContainsFunc(streamed, func(s streamedFinding) bool { return s.f.Rule == "turn.allocate-timeout" }) {
			t.Errorf("allocate timeout streamed before the client's Ti ran out")
		}
		if !slices.ContainsFunc(final, func(f diagnose.Finding) bool { return f.Rule == "turn.allocate-timeout" }) {
			t.Fatalf("no allocate timeout in %s", dropped)
		}
		// With traffic going on afterwards (another client's exchange 60 s
		// after the first send), it streams once Ti has run out.
		path := appendCapture(t, dropped, "../pcaps/turn-wrong-password.pcap", 60*time.Second)
		streamed, a, _ := streamFile(t, path)
		i := slices.IndexFunc(streamed, func(s streamedFinding) bool { return s.f.Rule == "turn.allocate-timeout" })
		if i < 0 {
			t.Fatalf("turn.allocate-timeout not streamed: %+v", streamed)
		}
		var first time.Time
		for _, tx := range a.Transactions {
			if tx.Method == stun.MethodAllocate && !tx.Answered {
				first = tx.Requests[0].Time
				break
			}
		}
		// Packet time jumps from 31.7 s to 60 s: the first packet after
		// Ti (39.5 s) reports it.
		if s := streamed[i]; s.frames != 8 || !s.at.Equal(first.Add(60*time.Second)) {
			t.Errorf("streamed after frame %d at %v; want at frame 8, 60 s after the first send", s.frames, s.at)
		}
	})
	t.Run("call failed at the final response", func(t *testing.T) {
		streamed, a, _ := streamFile(t, "../pcaps/sip-call-failed.pcap")
		i := slices.IndexFunc(streamed, func(s streamedFinding) bool { return s.f.Rule == "sip.call-failed" })
		if i < 0 {
			t.Fatalf("sip.call-failed not streamed: %+v", streamed)
		}
		c := a.Calls[0]
		var final diagnose.FrameRef
		for _, tx := range c.Transactions {
			if tx.Method == "INVITE" && tx.Final >= 0 {
				final = tx.Responses[tx.Final].FrameRef
			}
		}
		if streamed[i].frames != final.Frame {
			t.Errorf("streamed after frame %d; want at the final response, frame %d", streamed[i].frames, final.Frame)
		}
	})
}

// appendCapture writes a pcap of the records of a, then those of b
// shifted to start at after past a's first record.
func appendCapture(t *testing.T, a, b string, after time.Duration) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "joined.pcap")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w *capture.PcapWriter
	var start time.Time
	for i, path := range []string{a, b} {
		r, err := capture.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var shift time.Duration
		for first := true; ; first = false {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if w == nil {
				if w, err = capture.NewPcapWriter(f, rec.LinkType, true); err != nil {
					t.Fatal(err)
				}
				start = rec.Time
			}
			if first && i == 1 {
				shift = start.Add(after).Sub(rec.Time)
			}
			if err := w.WritePacket(rec.Time.Add(shift), rec.Data, rec.OrigLen); err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
	}
	return out
}
