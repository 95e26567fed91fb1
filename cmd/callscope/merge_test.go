package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode/capture"
)

// splitByInterface writes the records of a Linux "any" capture (SLL2) to
// one pcap per interface, in the order of the interfaces' first records,
// as two taps would have captured them.
func splitByInterface(t *testing.T, path string) []string {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	var paths []string
	var files []*os.File
	writers := map[uint32]*capture.PcapWriter{}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.LinkType != capture.LinkSLL2 || len(rec.Data) < 8 {
			t.Fatalf("frame %d is not SLL2", rec.Frame)
		}
		ifindex := binary.BigEndian.Uint32(rec.Data[4:]) // SLL2: protocol, reserved, interface index
		w := writers[ifindex]
		if w == nil {
			f, err := os.Create(filepath.Join(dir, []string{"inside.pcap", "outside.pcap"}[min(len(paths), 1)]))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
			paths = append(paths, f.Name())
			if w, err = capture.NewPcapWriter(f, capture.LinkSLL2, false); err != nil {
				t.Fatal(err)
			}
			writers[ifindex] = w
		}
		if err := w.WritePacket(rec.Time, rec.Data, rec.OrigLen); err != nil {
			t.Fatal(err)
		}
	}
	if w := r.Warnings(); len(w) != 0 || len(paths) != 2 {
		t.Fatalf("%d interfaces, warnings %+v", len(paths), w)
	}
	for _, f := range files {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return paths
}

// TestAnalyzeMergesTaps: the two sides of a NAT captured apart (here
// sip-nat-alg-both-sides.pcap split by interface) and given as two files
// make the report of the capture of both: the files are merged by time,
// so calls, streams and findings are the same, frame numbers included.
// This is exact because the original's times strictly increase: no tie
// between the two sides leaves the order to the merge's rule. Given one
// after the other, the inside's responses came after the outside's BYE
// and the call ladder lost them.
func TestAnalyzeMergesTaps(t *testing.T) {
	original := pcapPath("sip-nat-alg-both-sides.pcap")
	sides := splitByInterface(t, original)
	want, _ := analyzeJSON(t, exitOK, original)
	for _, order := range [][]string{sides, {sides[1], sides[0]}} {
		got, res := analyzeJSON(t, exitOK, order...)
		if res.stderr != "" {
			t.Errorf("stderr: %s", res.stderr)
		}
		if len(got.Captures) != 2 || got.Captures[0].Path != order[0] || got.Captures[0].Packets+got.Captures[1].Packets != 614 {
			t.Errorf("captures %+v", got.Captures)
		}
		got.Captures, got.Tool = want.Captures, want.Tool
		if len(got.Calls) != 1 || len(got.Streams) != 4 {
			t.Errorf("%d calls, %d streams, want 1 and 4", len(got.Calls), len(got.Streams))
		}
		for _, part := range []struct {
			name      string
			got, want any
		}{
			{"calls", got.Calls, want.Calls},
			{"streams", got.Streams, want.Streams},
			{"findings", got.Findings, want.Findings},
			{"report", got, want},
		} {
			g, _ := json.MarshalIndent(part.got, "", " ")
			w, _ := json.MarshalIndent(part.want, "", " ")
			if string(g) != string(w) {
				t.Errorf("analyze %s: %s differ from the capture of both sides:\n%s", strings.Join(order, " "), part.name, firstDifference(string(g), string(w)))
			}
		}
	}

	// The text report's call ladder, frame for frame.
	text := func(args ...string) string {
		res := runCLI(t, append([]string{"analyze", "--color=never"}, args...)...)
		_, after, _ := strings.Cut(res.stdout, "\nCalls (")
		return after
	}
	if got, want := text(sides...), text(original); got != want || !strings.Contains(want, "10.0.1.10:5060    ← 203.0.113.20:5060  200 OK (frame 614)") {
		t.Errorf("text report differs:\n%s", firstDifference(got, want))
	}
}

// firstDifference shows where two long texts part.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1,
		strings.Join(g[i:min(i+5, len(g))], "\n     "), strings.Join(w[i:min(i+5, len(w))], "\n     "))
}
