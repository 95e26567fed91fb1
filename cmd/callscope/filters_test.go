package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

// TestFindingFiltersShowCitedFrames checks every finding's Wireshark
// filter against tshark on the reference captures: the filter must show
// each frame the finding cites, or the person who pastes it into Wireshark
// does not see the evidence. tshark runs with default preferences (an
// empty home), as a user's Wireshark would; the test skips without it.
func TestFindingFiltersShowCitedFrames(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	paths, err := filepath.Glob(filepath.Join(pcapsDir, "*.pcap"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no captures in %s: %v", pcapsDir, err)
	}
	home := t.TempDir()
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			res := runCLI(t, "analyze", "--format", "json", path)
			var r diagnose.Report
			if err := json.Unmarshal([]byte(res.stdout), &r); err != nil {
				t.Fatalf("analyze %s (exit %d): not a JSON report: %v\n%s", path, res.code, err, res.stderr)
			}
			shown := map[string][]uint64{}
			for _, f := range r.Findings {
				if f.Filter == "" || len(f.Frames) == 0 {
					continue
				}
				frames, ok := shown[f.Filter]
				if !ok {
					var err error // not the enclosing test's: subtests run in parallel
					frames, err = tsharkFrames(tshark, home, path, f.Filter)
					if err != nil {
						t.Errorf("%s %q: filter %q: %v", f.Rule, f.Title, f.Filter, err)
						continue
					}
					shown[f.Filter] = frames
				}
				var missing []uint64
				for _, n := range f.Frames {
					if _, found := slices.BinarySearch(frames, n); !found {
						missing = append(missing, n)
					}
				}
				if len(missing) > 0 {
					t.Errorf("%s %q cites frames %v that its filter does not show:\n\t%s", f.Rule, f.Title, missing, f.Filter)
				}
			}
		})
	}
}

// tsharkFrames lists, sorted, the frames of path that a display filter
// shows.
func tsharkFrames(tshark, home, path, filter string) ([]uint64, error) {
	cmd := exec.Command(tshark, "-n", "-r", path, "-Y", filter, "-T", "fields", "-e", "frame.number")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var frames []uint64
	for _, line := range strings.Fields(string(out)) {
		n, err := strconv.ParseUint(line, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("tshark printed %q", line)
		}
		frames = append(frames, n)
	}
	slices.Sort(frames)
	return frames, nil
}
