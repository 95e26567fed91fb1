package capture

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// mfile is a capture file for the merge tests.
type mfile struct {
	format string // pcap, pcap-ns or pcapng, +gzip for compressed
	recs   []rec  // a zero Time is a pcapng simple packet block
	cut    int    // bytes cut off the end (before compression)
}

func (f mfile) bytes() []byte {
	base, gz := strings.CutSuffix(f.format, "+gzip")
	var b []byte
	switch base {
	case "pcap":
		b = pcapFile(le, false, LinkEthernet, f.recs...)
	case "pcap-ns":
		b = pcapFile(be, true, LinkEthernet, f.recs...)
	case "pcapng":
		n := newNG(le).iface(LinkEthernet, 9)
		for _, r := range f.recs {
			if r.Time.IsZero() {
				n.spb(len(r.Data), r.Data)
			} else {
				n.epb(0, r.Time, r.Data, 0)
			}
		}
		b = n.bytes()
	default:
		panic("format " + f.format)
	}
	b = b[:len(b)-f.cut]
	if gz {
		b = gzipped(b)
	}
	return b
}

// at is a time n milliseconds into the test captures: every format holds
// it exactly.
func at(ms int) time.Time { return time.Unix(1700000000, 0).Add(time.Duration(ms) * time.Millisecond) }

// recs makes records named by their data, at the given milliseconds
// (-1: no time).
func recs(spec ...any) []rec {
	var out []rec
	for i := 0; i < len(spec); i += 2 {
		r := rec{Data: spec[i].(string)}
		if ms := spec[i+1].(int); ms >= 0 {
			r.Time = at(ms)
		}
		out = append(out, r)
	}
	return out
}

// mergecapOrder is mergecap's merge (wiretap/merge.c, merge_read_packet)
// written as plainly as it is there: at each step, scan the files in the
// order given for the next record with the earliest time, keeping a later
// file's when the times are equal, and take a record without a time at
// once. The Reader's heap must agree with it.
func mergecapOrder(files [][]rec) []rec {
	pos := make([]int, len(files))
	var out []rec
	for {
		ei := -1
		for i, f := range files {
			if pos[i] == len(f) {
				continue
			}
			head := f[pos[i]]
			if head.Time.IsZero() {
				ei = i
				break
			}
			if ei < 0 || !head.Time.After(files[ei][pos[ei]].Time) {
				ei = i
			}
		}
		if ei < 0 {
			return out
		}
		out = append(out, files[ei][pos[ei]])
		pos[ei]++
	}
}

func dataOf(rs []rec) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Data)
	}
	return out
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name  string
		files []mfile
		want  []string // the records' data in merged order
		// warnings: "file index, frame: start of the message"
		warnings []string
		packets  []uint64 // per file when not all records are read
	}{
		{
			name: "interleaved",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 3, "a3", 5)},
				{format: "pcap", recs: recs("b1", 2, "b2", 4, "b3", 6)},
			},
			want: []string{"a1", "b1", "a2", "b2", "a3", "b3"},
		},
		{
			// mergecap gives a tie to the file given later.
			name: "identical timestamps across files",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 2)},
				{format: "pcap-ns", recs: recs("b1", 1, "b2", 2)},
				{format: "pcapng", recs: recs("c1", 2)},
			},
			want: []string{"b1", "a1", "c1", "b2", "a2"},
		},
		{
			name: "one file inside another's time span",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 10)},
				{format: "pcapng", recs: recs("b1", 4, "b2", 5)},
			},
			want: []string{"a1", "b1", "b2", "a2"},
		},
		{
			name: "given in reverse time order",
			files: []mfile{
				{format: "pcap", recs: recs("late", 50)},
				{format: "pcap", recs: recs("early1", 1, "early2", 2)},
			},
			want: []string{"early1", "early2", "late"},
		},
		{
			name: "in time order: concatenated",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 2)},
				{format: "pcap", recs: recs("b1", 3)},
				{format: "pcapng", recs: recs("c1", 4, "c2", 5)},
			},
			want: []string{"a1", "a2", "b1", "c1", "c2"},
		},
		{
			// The damaged record would have been the next frame, 3,
			// when the file was read on.
			name: "a truncated file in the middle",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 3, "a3", 5)},
				{format: "pcap", recs: recs("b1", 2, "b2", 4), cut: 1},
				{format: "pcap", recs: recs("c1", 6)},
			},
			want:     []string{"a1", "b1", "a2", "a3", "c1"},
			warnings: []string{"1, 3: truncated: record 3 cut after 17 of 18 bytes"},
			packets:  []uint64{3, 1, 1},
		},
		{
			name: "a truncated gzip pcapng in the middle",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 3, "a3", 5)},
				{format: "pcapng+gzip", recs: recs("b1", 2, "b2", 4), cut: 3},
			},
			want:     []string{"a1", "b1", "a2", "a3"},
			warnings: []string{"1, 3: truncated: record 3 cut after"},
			packets:  []uint64{3, 1},
		},
		{
			// Where reading one file after the other would have come to
			// it: once the files given before it are done.
			name: "a file cut before its first record",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 3)},
				{format: "pcap", recs: recs("lost", 2), cut: 10},
				{format: "pcap", recs: recs("c1", 2)},
			},
			want:     []string{"a1", "c1", "a2"},
			warnings: []string{"1, 4: truncated: record 4 cut after 10 of 16 bytes (offset 24)"},
			packets:  []uint64{2, 0, 1},
		},
		{
			name: "records without a time come first, as in mergecap",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 3)},
				{format: "pcapng", recs: recs("untimed", -1, "b1", 2)},
			},
			want: []string{"untimed", "a1", "b1", "a2"},
		},
		{
			name: "records out of order inside a file keep that order",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 5, "a2", 1)},
				{format: "pcap", recs: recs("b1", 3)},
			},
			want: []string{"b1", "a1", "a2"},
		},
		{
			name: "gzip, pcapng and mapped pcap mixed",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1, "a2", 4)},
				{format: "pcapng+gzip", recs: recs("b1", 2, "b2", 5)},
				{format: "pcap+gzip", recs: recs("c1", 3)},
			},
			want: []string{"a1", "b1", "c1", "a2", "b2"},
		},
		{
			name: "an empty file",
			files: []mfile{
				{format: "pcap", recs: recs("a1", 1)},
				{format: "pcapng"},
				{format: "pcap", recs: recs("c1", 0)},
			},
			want: []string{"c1", "a1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachMode(t, func(t *testing.T, m readMode) {
				var data [][]byte
				for _, f := range tt.files {
					data = append(data, f.bytes())
				}
				paths := writeFiles(t, data...)
				r, err := m.open(paths...)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				var got []string
				stable := map[string]bool{}
				for i := 1; ; i++ {
					x, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if x.Frame != uint64(i) {
						t.Errorf("record %d is frame %d", i, x.Frame)
					}
					got = append(got, string(x.Data))
					stable[string(x.Data)] = r.StableData()
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("merged\n got %q\nwant %q", got, tt.want)
				}

				// Each file as if read alone.
				files := r.Files()
				if len(files) != len(paths) {
					t.Fatalf("Files() = %+v", files)
				}
				for i, f := range tt.files {
					fi := files[i]
					var want FileInfo
					want.Path = paths[i]
					for j, x := range f.recs {
						if tt.packets != nil && j >= int(tt.packets[i]) {
							break
						}
						want.Packets++
						if x.Time.IsZero() {
							continue
						}
						if want.First.IsZero() || x.Time.Before(want.First) {
							want.First = x.Time
						}
						if x.Time.After(want.Last) {
							want.Last = x.Time
						}
					}
					if fi.Path != want.Path || fi.Packets != want.Packets || !fi.First.Equal(want.First) || !fi.Last.Equal(want.Last) {
						t.Errorf("file %d: %+v, want %d packets from %v to %v", i, fi, want.Packets, want.First, want.Last)
					}
					for _, x := range f.recs {
						mapped := m.maps() && !strings.HasSuffix(f.format, "+gzip")
						if s, ok := stable[x.Data]; ok && s != mapped {
							t.Errorf("%s: StableData() %v", x.Data, s)
						}
					}
				}

				var warnings []string
				for _, w := range r.Warnings() {
					warnings = append(warnings, fmt.Sprintf("%d, %d: %s", slices.Index(paths, w.Path), w.Frame, w.Message))
					if !w.ReadProblem() {
						t.Errorf("warning %+v is not a read problem", w)
					}
				}
				if len(warnings) != len(tt.warnings) {
					t.Fatalf("warnings %q, want %q", warnings, tt.warnings)
				}
				for i, w := range warnings {
					if !strings.HasPrefix(w, tt.warnings[i]) {
						t.Errorf("warning %q, want %q...", w, tt.warnings[i])
					}
				}
			})
		})
	}
}

// TestMergeOpensFilesInTurn: files that follow each other in time (a
// ring buffer) are read however many there are with at most two open at a
// time, each opened when the merge reaches it and closed at its end.
func TestMergeOpensFilesInTurn(t *testing.T) {
	const files, each = 120, 3
	var data [][]byte
	var want []string
	for i := range files {
		var f mfile
		f.format = []string{"pcap", "pcapng", "pcap+gzip"}[i%3]
		for j := range each {
			name := fmt.Sprintf("%d.%d", i, j)
			f.recs = append(f.recs, rec{Time: at(i*each + j), Data: name})
			want = append(want, name)
		}
		data = append(data, f.bytes())
	}
	paths := writeFiles(t, data...)
	forEachMode(t, func(t *testing.T, m readMode) {
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		r.maxOpen = 2
		fds := openFiles(t)
		var got []string
		maxOpen, maxFDs := 0, 0
		for {
			x, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(x.Data))
			maxOpen = max(maxOpen, r.merge.open)
			maxFDs = max(maxFDs, openFiles(t)-fds)
		}
		if !slices.Equal(got, want) {
			t.Errorf("merged %q", got)
		}
		if maxOpen != 1 || maxFDs > 2 {
			t.Errorf("up to %d files open (%d descriptors), want 1 at a time", maxOpen, maxFDs)
		}
		if len(r.Files()) != files || len(r.Warnings()) != 0 {
			t.Errorf("%d files, warnings %+v", len(r.Files()), r.Warnings())
		}
	})
}

// openFiles counts the process's open descriptors, where the system says.
func openFiles(t *testing.T) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(fds)
}

// TestMergeTooManyOverlapping: more files overlapping in time than may be
// open together end the capture with an error that says so, after the
// records before it.
func TestMergeTooManyOverlapping(t *testing.T) {
	var data [][]byte
	for i := range 4 {
		data = append(data, mfile{format: "pcap", recs: recs(fmt.Sprint(i), i, "end", 100+i)}.bytes())
	}
	paths := writeFiles(t, data...)
	forEachMode(t, func(t *testing.T, m readMode) {
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		r.maxOpen = 3
		var got []string
		for {
			x, err := r.Next()
			if err != nil {
				want := fmt.Sprintf("capture: %s starts at 2023-11-14 22:13:20.003000 UTC, while 3 other files being merged are still open: at most 3 files that overlap in time can be merged", paths[3])
				if err == io.EOF || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("after %q: %v, want %q", got, err, want)
				}
				break
			}
			got = append(got, string(x.Data))
		}
		if !slices.Equal(got, []string{"0", "1", "2"}) {
			t.Errorf("records %q before the error", got)
		}
		if _, again := r.Next(); again == nil || again == io.EOF {
			t.Errorf("Next after the error: %v", again)
		}
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
}

// TestMergeEventBlocks: pcapng blocks that Wireshark shows as frames but
// that are not packets keep their frame numbers in the merge, just before
// the packet that follows them in their file.
func TestMergeEventBlocks(t *testing.T) {
	ng := newNG(le).iface(LinkEthernet, 9).epb(0, at(1), "a1", 0).block(blockJournal, []byte("__REALTIME_TIMESTAMP=1\n")).epb(0, at(3), "a2", 0).bytes()
	paths := writeFiles(t, ng, mfile{format: "pcap", recs: recs("b1", 2)}.bytes())
	forEachMode(t, func(t *testing.T, m readMode) {
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var got []string
		for _, x := range readAll(t, r) {
			got = append(got, fmt.Sprint(x.Frame, x.Data))
		}
		if want := []string{"1a1", "2b1", "4a2"}; !slices.Equal(got, want) {
			t.Errorf("frames %q, want %q", got, want)
		}
	})
}

func TestMergeNextDoesNotAllocate(t *testing.T) {
	var a, b mfile
	a.format, b.format = "pcap", "pcapng"
	for i := range 3000 {
		a.recs = append(a.recs, rec{Time: at(2 * i), Data: "0123456789abcdef"})
		b.recs = append(b.recs, rec{Time: at(2*i + 1), Data: "fedcba9876543210"})
	}
	// Both files' first records tie with a third's, so records are hashed
	// too.
	c := mfile{format: "pcap", recs: recs("c", 0)}
	paths := writeFiles(t, a.bytes(), b.bytes(), c.bytes())
	forEachMode(t, func(t *testing.T, m readMode) {
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for range 10 {
			r.Next()
		}
		if !r.merge.inputs[0].digest {
			t.Error("records not hashed")
		}
		allocs := testing.AllocsPerRun(2000, func() {
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Next allocates %.2f times per record", allocs)
		}
	})
}

// TestMergeProperty merges random files, with many equal times, records
// out of order and records without a time, and checks the result against
// mergecap's algorithm; when each file is in time order, the merge is too.
// Either way it is a permutation of the files' records that keeps each
// file's order.
func TestMergeProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	formats := []string{"pcap", "pcap-ns", "pcapng", "pcap+gzip", "pcapng+gzip"}
	for round := range 60 {
		sorted := round%2 == 0
		files := make([][]rec, 1+rng.IntN(6))
		var data [][]byte
		for i := range files {
			f := mfile{format: formats[rng.IntN(len(formats))]}
			ms := rng.IntN(20)
			for j := range rng.IntN(12) {
				if sorted {
					ms += rng.IntN(3) // ties within and across files
				} else {
					ms = rng.IntN(30)
				}
				r := rec{Time: at(ms), Data: fmt.Sprintf("%d.%d", i, j)}
				if !sorted && strings.HasPrefix(f.format, "pcapng") && rng.IntN(8) == 0 {
					r.Time = time.Time{}
				}
				f.recs = append(f.recs, r)
			}
			files[i] = f.recs
			data = append(data, f.bytes())
		}
		paths := writeFiles(t, data...)
		m := readModes[round%2]
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, r)
		r.Close()

		want := mergecapOrder(files)
		if !slices.Equal(dataOf(got), dataOf(want)) {
			t.Fatalf("round %d (%s): merged\n got %q\nwant %q", round, m.name, dataOf(got), dataOf(want))
		}
		next := make([]int, len(files))
		for i, x := range got {
			var f, j int
			fmt.Sscanf(x.Data, "%d.%d", &f, &j)
			if j != next[f] {
				t.Fatalf("round %d: %s out of its file's order", round, x.Data)
			}
			next[f]++
			if x.Frame != uint64(i+1) || !x.Time.Equal(files[f][j].Time) {
				t.Fatalf("round %d: %v", round, x)
			}
			if sorted && i > 0 && x.Time.Before(got[i-1].Time) {
				t.Fatalf("round %d: %s before %s", round, x.Data, got[i-1].Data)
			}
		}
		for f, n := range next {
			if n != len(files[f]) {
				t.Fatalf("round %d: file %d gave %d of %d records", round, f, n, len(files[f]))
			}
		}
	}
}

// TestMergeMatchesMergecap merges files with mergecap, where it is
// installed, and checks that Wireshark's frames of the merged file are
// the Reader's, record for record; tshark, where installed, numbers them.
func TestMergeMatchesMergecap(t *testing.T) {
	mergecap, err := exec.LookPath("mergecap")
	if err != nil {
		t.Skip("mergecap not installed")
	}
	files := []mfile{
		{format: "pcap", recs: recs("a1", 1, "a2", 2, "a3", 2, "a4", 9, "a5", 3)},
		{format: "pcap-ns", recs: recs("b1", 1, "b2", 2, "b3", 5)},
		{format: "pcapng+gzip", recs: recs("c1", 2, "c2", 4, "c3", 9)},
		{format: "pcap", recs: recs("d1", 20, "d2", 21)},
		{format: "pcap+gzip", recs: recs("e1", 0, "e2", 2, "e3", 30)},
		{format: "pcapng", recs: recs("f1", 3, "untimed", -1, "f3", 4)},
	}
	var data [][]byte
	for _, f := range files {
		data = append(data, f.bytes())
	}
	paths := writeFiles(t, data...)
	merged := filepath.Join(t.TempDir(), "merged.pcapng")
	if out, err := exec.Command(mergecap, append([]string{"-w", merged}, paths...)...).CombinedOutput(); err != nil {
		t.Fatalf("mergecap: %v\n%s", err, out)
	}
	mr, err := Open(merged)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	theirs := readAll(t, mr)

	forEachMode(t, func(t *testing.T, m readMode) {
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ours := readAll(t, r)
		if len(ours) != len(theirs) {
			t.Fatalf("%d records, mergecap %d", len(ours), len(theirs))
		}
		for i := range ours {
			o, w := ours[i], theirs[i]
			// mergecap writes a record without a time at time 0.
			if o.Frame != w.Frame || o.Data != w.Data || !o.Time.IsZero() && !o.Time.Equal(w.Time) {
				t.Errorf("frame %d: %v, mergecap's %v", i+1, o, w)
			}
		}
	})

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		return
	}
	out, err := exec.Command(tshark, "-r", merged, "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.cap_len").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var want bytes.Buffer
	for _, x := range theirs {
		fmt.Fprintf(&want, "%d\t%d.%09d\t%d\n", x.Frame, x.Time.Unix(), x.Time.Nanosecond(), len(x.Data))
	}
	if string(out) != want.String() {
		t.Errorf("tshark's frames:\n%s\nthe Reader's:\n%s", out, want.String())
	}
}
