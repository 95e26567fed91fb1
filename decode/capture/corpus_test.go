package capture

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const corpusDir = "/work/shared/corpus/public"

// TestCorpusPacketCounts reads every public capture and compares the
// number of records with capinfos (MANIFEST.tsv) and tshark
// (tshark-truth.jsonl).
func TestCorpusPacketCounts(t *testing.T) {
	manifest, err := os.Open(filepath.Join(corpusDir, "MANIFEST.tsv"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s absent", corpusDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer manifest.Close()

	truth := map[string]uint64{}
	if f, err := os.Open(filepath.Join(corpusDir, "tshark-truth.jsonl")); err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var row struct {
				Path    string `json:"path"`
				Packets uint64 `json:"packets"`
			}
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatalf("tshark-truth.jsonl: %v", err)
			}
			truth[row.Path] = row.Packets
		}
		f.Close()
	}

	sc := bufio.NewScanner(manifest)
	var col map[string]int
	files := 0
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if col == nil {
			col = map[string]int{}
			for i, name := range fields {
				col[name] = i
			}
			if _, ok := col["packets"]; !ok {
				t.Fatal("MANIFEST.tsv has no packets column")
			}
			continue
		}
		path := fields[col["path"]]
		want, err := strconv.ParseUint(fields[col["packets"]], 10, 64)
		if err != nil {
			t.Fatalf("%s: packets %q: %v", path, fields[col["packets"]], err)
		}
		files++
		forEachMode(t, func(t *testing.T, m readMode) {
			t.Run(path, func(t *testing.T) {
				if tw, ok := truth[path]; ok && tw != want {
					t.Fatalf("corpus disagrees with itself: capinfos %d, tshark %d", want, tw)
				}
				r, err := m.open(filepath.Join(corpusDir, path))
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var n, prev uint64
				for {
					rec, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if rec.Frame != prev+1 {
						t.Fatalf("frame %d after %d", rec.Frame, prev)
					}
					prev = rec.Frame
					if rec.OrigLen < len(rec.Data) {
						t.Fatalf("frame %d: OrigLen %d < %d captured", rec.Frame, rec.OrigLen, len(rec.Data))
					}
					n++
				}
				if n != want {
					t.Errorf("read %d packets, capinfos says %d; warnings %v", n, want, r.Warnings())
				}
				fi := r.Files()
				if len(fi) != 1 || fi[0].Packets != n || len(fi[0].LinkTypes) == 0 {
					t.Errorf("Files() = %+v", fi)
				}
				if w := r.Warnings(); len(w) > 0 {
					t.Logf("warnings: %v", w)
				}
			})
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("MANIFEST.tsv lists no captures")
	}
}

// TestCorpusTimestampsMatchTshark compares frame times on the pcapng files
// with several interfaces, where per-interface resolution matters.
func TestCorpusTimestampsMatchTshark(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("%s absent", corpusDir)
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	for _, path := range []string{"nDPI/stun.pcap", "nDPI/gre_sip.pcapng", "nDPI/stun_dtls_rtp.pcapng", "nDPI/stun_classic.pcap"} {
		forEachMode(t, func(t *testing.T, m readMode) {
			t.Run(path, func(t *testing.T) {
				file := filepath.Join(corpusDir, path)
				out, err := exec.Command(tshark, "-r", file, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len").Output()
				if err != nil {
					t.Skipf("tshark: %v", err)
				}
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				r, err := m.open(file)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				for i, line := range lines {
					rec, err := r.Next()
					if err != nil {
						t.Fatalf("frame %d: %v", i+1, err)
					}
					f := strings.Split(line, "\t")
					got := fmt.Sprintf("%d.%09d\t%d\t%d", rec.Time.Unix(), rec.Time.Nanosecond(), rec.OrigLen, len(rec.Data))
					if got != strings.Join(f, "\t") {
						t.Fatalf("frame %d: got %q, tshark %q", rec.Frame, got, line)
					}
				}
				if _, err := r.Next(); err != io.EOF {
					t.Fatalf("more records than tshark's %d", len(lines))
				}
			})
		})
	}
}
