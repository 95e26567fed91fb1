package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// readMode is a way the tests read captures: through the read buffer, or
// memory-mapped (where the system maps files; elsewhere it is the buffer
// again). Every test that reads runs in both.
type readMode struct {
	name string
	mmap bool
}

var readModes = []readMode{{"bufio", false}, {"mmap", true}}

func forEachMode(t *testing.T, f func(t *testing.T, m readMode)) {
	for _, m := range readModes {
		t.Run(m.name, func(t *testing.T) { f(t, m) })
	}
}

// maps says whether plain capture files are mapped in this mode.
func (m readMode) maps() bool { return m.mmap && mmapSupported }

// open is Open reading files m's way.
func (m readMode) open(paths ...string) (*Reader, error) {
	r, err := Open(paths...)
	if r != nil {
		r.noMmap = !m.mmap
	}
	return r, err
}

// reader reads an in-memory capture m's way: as a NewReader stream named
// name, or from a file called name in a temporary directory, mapped. It
// returns the path FileInfo and warnings give.
func (m readMode) reader(t testing.TB, data []byte, name string) (*Reader, string) {
	t.Helper()
	if !m.mmap {
		r, err := NewReader(bytes.NewReader(data), name)
		if err != nil {
			t.Fatal(err)
		}
		return r, name
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := m.open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, path
}

// readAllStable is readAll that also counts the records whose Data the
// Reader calls stable, checking that each of those lies in one of its
// mappings.
func readAllStable(t *testing.T, r *Reader) ([]rec, int) {
	t.Helper()
	var out []rec
	stable := 0
	for i := 0; ; i++ {
		if i > 1e6 {
			t.Fatal("Next never returned io.EOF")
		}
		x, err := r.Next()
		if err == io.EOF {
			return out, stable
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if r.StableData() {
			stable++
			if len(x.Data) > 0 && !inMapping(r, x.Data) {
				t.Fatalf("frame %d: stable Data outside every mapping", x.Frame)
			}
		}
		out = append(out, rec{x.Frame, x.Time, x.LinkType, x.Interface, string(x.Data), x.OrigLen})
	}
}

func inMapping(r *Reader, b []byte) bool {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	for _, m := range r.mappings {
		start := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
		if p >= start && p+uintptr(len(b)) <= start+uintptr(len(m)) {
			return true
		}
	}
	return false
}
