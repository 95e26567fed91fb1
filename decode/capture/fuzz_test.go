package capture

import (
	"bytes"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes as a capture: no panic, no hang, no
// record beyond the limits, frames numbered upwards (with gaps only where
// pcapng event blocks are counted but not returned).
func FuzzReader(f *testing.F) {
	f.Add(pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "0123456789"}))
	f.Add(newNG(be).iface(LinkRaw, 0x80|20).epb(0, t1, "ab", 9).spb(4, "abcd").opb(0, t0, "x", 1).bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		defer r.Close()
		var frame, n uint64
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
		}
		fi := r.Files()
		if len(fi) != 1 || fi[0].Packets < frame || fi[0].Packets < n {
			t.Fatalf("Files() = %+v after %d records, last frame %d", fi, n, frame)
		}
	})
}
