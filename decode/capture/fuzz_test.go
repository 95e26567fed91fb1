package capture

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzReader feeds arbitrary bytes as a capture: no panic, no hang, no
// record beyond the limits, frames numbered upwards (with gaps only where
// pcapng event blocks are counted but not returned). The same bytes read
// from a file, mapped, give the same records, files and warnings.
func FuzzReader(f *testing.F) {
	f.Add(pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "0123456789"}))
	f.Add(newNG(be).iface(LinkRaw, 0x80|20).epb(0, t1, "ab", 9).spb(4, "abcd").opb(0, t0, "x", 1).bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz")
		r, err := NewReader(bytes.NewReader(data), path)
		if err != nil {
			return
		}
		defer r.Close()
		var frame, n uint64
		var got []string
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			n++
			if rec.Frame <= frame {
				t.Fatalf("frame %d after %d", rec.Frame, frame)
			}
			frame = rec.Frame
			if len(rec.Data) > maxCapLen || rec.OrigLen < len(rec.Data) {
				t.Fatalf("frame %d: %d bytes captured, OrigLen %d", frame, len(rec.Data), rec.OrigLen)
			}
			if frame > uint64(len(data)) {
				t.Fatalf("%d records from %d bytes", frame, len(data))
			}
			got = append(got, fmt.Sprintf("%+v", *rec))
		}
		fi := r.Files()
		if len(fi) != 1 || fi[0].Packets < frame || fi[0].Packets < n {
			t.Fatalf("Files() = %+v after %d records, last frame %d", fi, n, frame)
		}

		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := Open(path)
		if err != nil {
			t.Fatalf("Open: %v, but NewReader read it", err)
		}
		defer m.Close()
		var mapped []string
		for {
			rec, err := m.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next, mapped: %v", err)
			}
			mapped = append(mapped, fmt.Sprintf("%+v", *rec))
		}
		if !slices.Equal(got, mapped) {
			t.Fatalf("records differ:\n buffered %q\n mapped   %q", got, mapped)
		}
		if a, b := fmt.Sprintf("%+v %+v", r.Files(), r.Warnings()), fmt.Sprintf("%+v %+v", m.Files(), m.Warnings()); a != b {
			t.Fatalf("files and warnings differ:\n buffered %s\n mapped   %s", a, b)
		}
	})
}
