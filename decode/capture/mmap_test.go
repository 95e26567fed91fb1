package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// numbered is a pcap of n records whose data tells them apart: the record
// number then a byte pattern that depends on it, lengths varying.
func numbered(first, n int) ([]byte, []string) {
	var pkts []rec
	var data []string
	for i := first; i < first+n; i++ {
		b := binary.BigEndian.AppendUint64(nil, uint64(i))
		for j := range 100 + i%150 {
			b = append(b, byte(i*7+j))
		}
		pkts = append(pkts, rec{Time: t0.Add(time.Duration(i) * time.Millisecond), Data: string(b)})
		data = append(data, string(b))
	}
	return pcapFile(le, false, LinkEthernet, pkts...), data
}

// releasedBehind is how far r has given back the pages of the file it
// reads, or of the files a merge has open.
func releasedBehind(r *Reader) int64 {
	if r.merge == nil {
		return r.released
	}
	var n int64
	for _, in := range r.merge.inputs {
		if in.sub != nil {
			n = max(n, in.sub.released)
		}
	}
	return n
}

// TestMappedDataStaysValidUntilClose keeps the Data of every record the
// Reader calls stable, without copying, across a capture of several files
// merged (mapped, compressed, pcapng inside the first file's time span, and
// the compressed file's records again, uncompressed, at the same times) and
// a first file large enough for its pages to be given back behind the
// reader, and checks them all at the end.
func TestMappedDataStaysValidUntilClose(t *testing.T) {
	big, bigData := numbered(0, 40000) // ~8 MB: pages are released behind the reader
	small, smallData := numbered(40000, 3)
	ng := newNG(be).iface(LinkRaw, 9).epb(0, t2, "pcapng one", 0).epb(0, t2, "pcapng two", 0).bytes()
	paths := writeFiles(t, big, gzipped(small), ng, small)
	// t2 falls between the big file's records 2127 and 2128 (one a
	// millisecond from t0); each tie between the two small files goes to
	// the one given later.
	within := int(t2.Sub(t0)/time.Millisecond) + 1
	want := append(append(append([]string{}, bigData[:within]...), "pcapng one", "pcapng two"), bigData[within:]...)
	for _, d := range smallData {
		want = append(want, d, d)
	}
	forEachMode(t, func(t *testing.T, m readMode) {
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if r.StableData() {
			t.Error("StableData() before the first record")
		}
		var kept [][]byte
		var keptFrames []int
		var released, stable int64
		for {
			x, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(x.Data); got != want[x.Frame-1] {
				t.Fatalf("frame %d: %q", x.Frame, got)
			}
			if r.StableData() {
				stable++
				kept = append(kept, x.Data)
				keptFrames = append(keptFrames, int(x.Frame))
			}
			released = max(released, releasedBehind(r))
		}
		if len(want) != 40000+3+2+3 {
			t.Fatalf("test broken: %d records", len(want))
		}
		if m.maps() {
			if stable != int64(len(want)-3) {
				t.Errorf("%d records stable, want all but the compressed file's", stable)
			}
			if released == 0 {
				t.Error("no pages released behind the reader")
			}
		} else if stable != 0 {
			t.Errorf("%d records stable", stable)
		}
		for i, d := range kept {
			if string(d) != want[keptFrames[i]-1] {
				t.Fatalf("frame %d changed after reading on: %q", keptFrames[i], d)
			}
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if r.StableData() || len(r.mappings) != 0 {
			t.Errorf("after Close: StableData() %v, %d mappings", r.StableData(), len(r.mappings))
		}
	})
}

// TestFileGrowsWhileRead: a capture still being written is read to
// wherever it ends when reading gets there, mapped or not; the part
// appended after the file was mapped is read through the buffer.
func TestFileGrowsWhileRead(t *testing.T) {
	whole, data := numbered(0, 4)
	third := pcapFileHeaderLen + 16 + len(data[0]) + 16 + len(data[1])
	cut := third + 20 // in the third record
	forEachMode(t, func(t *testing.T, m readMode) {
		paths := writeFiles(t, whole[:cut])
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		x, err := r.Next()
		if err != nil || string(x.Data) != data[0] {
			t.Fatalf("first record: %v, %v", x, err)
		}
		firstData := x.Data
		f, err := os.OpenFile(paths[0], os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(whole[cut:]); err != nil {
			t.Fatal(err)
		}
		f.Close()
		var stable []bool
		for i := 1; i < 4; i++ {
			x, err := r.Next()
			if err != nil || string(x.Data) != data[i] {
				t.Fatalf("record %d: %v, %v", i+1, x, err)
			}
			stable = append(stable, r.StableData())
		}
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("after the last record: %v", err)
		}
		if w := r.Warnings(); len(w) != 0 {
			t.Errorf("warnings %v", w)
		}
		if want := fmt.Sprint([]bool{m.maps(), false, false}); fmt.Sprint(stable) != want {
			t.Errorf("records 2 to 4 stable: %v, want %s", stable, want)
		}
		if m.maps() && string(firstData) != data[0] {
			t.Errorf("first record's data changed: %q", firstData)
		}
		if fi := r.Files(); len(fi) != 1 || fi[0].Packets != 4 {
			t.Errorf("Files() = %+v", fi)
		}
	})
}

// TestMappedCutFile: a mapped file that ends in the middle of a record is
// the same truncation warning as through the buffer, with the records
// before it stable.
func TestMappedCutFile(t *testing.T) {
	whole, data := numbered(0, 3)
	cut := len(whole) - 7
	forEachMode(t, func(t *testing.T, m readMode) {
		paths := writeFiles(t, whole[:cut])
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, stable := readAllStable(t, r)
		if len(got) != 2 || got[0].Data != data[0] || got[1].Data != data[1] {
			t.Fatalf("records %v", got)
		}
		if want := map[bool]int{true: 2}[m.maps()]; stable != want {
			t.Errorf("%d records stable, want %d", stable, want)
		}
		want := fmt.Sprintf("truncated: record 3 cut after %d of %d bytes (offset %d)", 16+len(data[2])-7, 16+len(data[2]), len(whole)-16-len(data[2]))
		if w := r.Warnings(); len(w) != 1 || w[0].Message != want || w[0].Frame != 3 {
			t.Errorf("warnings %+v, want %q", w, want)
		}
	})
}

// TestEmptyFileInTurn: a file emptied between Open and its turn cannot be
// mapped; it is the buffered path's warning, and reading goes on.
func TestEmptyFileInTurn(t *testing.T) {
	one, data := numbered(0, 1)
	forEachMode(t, func(t *testing.T, m readMode) {
		paths := writeFiles(t, one, one, one)
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := os.Truncate(paths[1], 0); err != nil {
			t.Fatal(err)
		}
		got, stable := readAllStable(t, r)
		if len(got) != 2 || got[1].Data != data[0] || got[1].Frame != 2 {
			t.Fatalf("records %v", got)
		}
		if want := map[bool]int{true: 2}[m.maps()]; stable != want {
			t.Errorf("%d records stable, want %d", stable, want)
		}
		// The other two files are the same: that is said once they end.
		if w := r.Warnings(); len(w) != 2 || w[0].Path != paths[1] || !strings.HasSuffix(w[0].Message, "f1.cap: empty file") ||
			w[1].Path != paths[2] || w[1].Kind != WarningOverlap {
			t.Errorf("warnings %+v", w)
		}
	})
}
