package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// corpusDir is the shared public corpus (README.md, MANIFEST.tsv); it is
// not part of the repository, so the test skips without it.
const corpusDir = "../../../shared/corpus/public"

type corpusEntry struct {
	path    string
	packets uint64
	summary string
}

func readManifest(t *testing.T) []corpusEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var entries []corpusEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var col map[string]int
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = map[string]int{}
			for i, name := range fields {
				col[name] = i
			}
			for _, name := range []string{"path", "packets", "summary"} {
				if _, ok := col[name]; !ok {
					t.Fatalf("MANIFEST.tsv has no %q column", name)
				}
			}
			continue
		}
		if len(fields) < len(col) {
			t.Fatalf("MANIFEST.tsv: short row %q", sc.Text())
		}
		n, err := strconv.ParseUint(fields[col["packets"]], 10, 64)
		if err != nil {
			t.Fatalf("MANIFEST.tsv: %s: packets %q: %v", fields[col["path"]], fields[col["packets"]], err)
		}
		entries = append(entries, corpusEntry{path: fields[col["path"]], packets: n, summary: fields[col["summary"]]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("MANIFEST.tsv lists no captures")
	}
	return entries
}

// TestCorpus runs analyze on every public capture: real traffic from many
// programs, some of it malformed on purpose. Every one must give exit 0, a
// JSON report and the packet count capinfos gives. Error findings are
// logged (go test -v) so that they can be judged by hand: the WebRTC
// captures are mostly healthy calls.
func TestCorpus(t *testing.T) {
	if _, err := os.Stat(filepath.Join(corpusDir, "MANIFEST.tsv")); err != nil {
		t.Skipf("public corpus not available: %v", err)
	}
	for _, e := range readManifest(t) {
		t.Run(e.path, func(t *testing.T) {
			r, _ := analyzeJSON(t, exitOK, filepath.Join(corpusDir, e.path))
			if r.Stats.Packets != e.packets {
				t.Errorf("stats.packets = %d, MANIFEST.tsv says %d", r.Stats.Packets, e.packets)
			}
			if len(r.Captures) != 1 || r.Captures[0].Packets != e.packets {
				t.Errorf("captures = %+v, want one with %d packets", r.Captures, e.packets)
			}
			for _, f := range r.Findings {
				if f.Severity.String() == "error" {
					t.Logf("error finding %s, frames %v: %s\n  capture: %s", f.Rule, f.Frames, f.Title, e.summary)
				}
			}
		})
	}
}
