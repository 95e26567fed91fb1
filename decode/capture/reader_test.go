package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// rec is a Record with its data copied, for comparing.
type rec struct {
	Frame   uint64
	Time    time.Time
	Link    LinkType
	Iface   int
	Data    string
	OrigLen int
}

func (r rec) String() string {
	return fmt.Sprintf("#%d %s link=%d if=%d data=%q orig=%d", r.Frame, r.Time.UTC().Format(time.RFC3339Nano), r.Link, r.Iface, r.Data, r.OrigLen)
}

func readAll(t *testing.T, r *Reader) []rec {
	t.Helper()
	out, _ := readAllStable(t, r)
	return out
}

var (
	t0 = time.Unix(1700000000, 123456789)
	t1 = time.Unix(1700000001, 500000000)
	t2 = time.Unix(1700000002, 250000000)
)

func us(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func pcapFile(order byteOrder, nanos bool, link LinkType, pkts ...rec) []byte {
	var b bytes.Buffer
	w := must(newPcapWriter(&b, link, nanos, order))
	for _, p := range pkts {
		must(0, w.WritePacket(p.Time, []byte(p.Data), p.OrigLen))
	}
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// ng builds pcapng files block by block, including blocks the writer's
// public API does not make.
type ng struct {
	b bytes.Buffer
	w *PcapngWriter
}

func newNG(order byteOrder) *ng {
	n := &ng{}
	n.w = must(newPcapngWriter(&n.b, order))
	return n
}

// section starts a new section in order.
func (n *ng) section(order byteOrder) *ng {
	n.w = must(newPcapngWriter(&n.b, order))
	return n
}

func (n *ng) iface(link LinkType, tsresol uint8) *ng {
	must(n.w.AddInterface(link, tsresol))
	return n
}

// ifaceRaw writes an IDB with the given snaplen and options (code, value).
func (n *ng) ifaceRaw(link LinkType, snaplen uint32, opts ...any) *ng {
	o := n.w.order
	body := o.AppendUint16(nil, uint16(link))
	body = append(body, 0, 0)
	body = o.AppendUint32(body, snaplen)
	for i := 0; i+1 < len(opts); i += 2 {
		val := opts[i+1].([]byte)
		body = o.AppendUint16(body, uint16(opts[i].(int)))
		body = o.AppendUint16(body, uint16(len(val)))
		body = append(body, val...)
		body = append(body, make([]byte, (4-len(val)%4)%4)...)
	}
	body = append(body, 0, 0, 0, 0)
	must(0, n.w.writeBlock(blockIDB, body))
	return n
}

func (n *ng) epb(iface int, t time.Time, data string, orig int) *ng {
	if iface >= len(n.w.ifaces) {
		// Interfaces added with ifaceRaw: microseconds are fine here.
		n.w.ifaces = append(n.w.ifaces, make([]ngInterface, iface+1-len(n.w.ifaces))...)
		n.w.ifaces[iface].exp = 6
	}
	must(0, n.w.WriteEPB(iface, t, []byte(data), orig))
	return n
}

func (n *ng) spb(orig int, data string) *ng {
	body := n.w.order.AppendUint32(nil, uint32(orig))
	must(0, n.w.writeBlock(blockSPB, append(body, data...)))
	return n
}

// opb writes an obsolete packet block with microsecond units.
func (n *ng) opb(iface uint16, t time.Time, data string, orig int) *ng {
	o := n.w.order
	ts := uint64(t.UnixMicro())
	body := o.AppendUint16(nil, iface)
	body = o.AppendUint16(body, 7) // drops
	body = o.AppendUint32(body, uint32(ts>>32))
	body = o.AppendUint32(body, uint32(ts))
	body = o.AppendUint32(body, uint32(len(data)))
	body = o.AppendUint32(body, uint32(orig))
	must(0, n.w.writeBlock(blockOPB, append(body, data...)))
	return n
}

func (n *ng) block(typ uint32, body []byte) *ng {
	must(0, n.w.writeBlock(typ, body))
	return n
}

func (n *ng) bytes() []byte { return n.b.Bytes() }

var (
	le = binary.LittleEndian
	be = binary.BigEndian
)

func TestFormats(t *testing.T) {
	three := []rec{
		{Time: t0, Data: "first", OrigLen: 5},
		{Time: t1, Data: "second!", OrigLen: 1500}, // cut by the snaplen
		{Time: t2, Data: "", OrigLen: 0},
	}
	// want returns three as read back, with resolution and link applied.
	want := func(link LinkType, res func(time.Time) time.Time) []rec {
		var out []rec
		for i, p := range three {
			p.Frame = uint64(i + 1)
			p.Time = res(p.Time)
			p.Link = link
			out = append(out, p)
		}
		return out
	}
	exact := func(t time.Time) time.Time { return t }
	ngThree := func(order byteOrder, link LinkType, tsresol uint8) []byte {
		n := newNG(order).iface(link, tsresol)
		for _, p := range three {
			n.epb(0, p.Time, p.Data, p.OrigLen)
		}
		return n.bytes()
	}

	tests := []struct {
		name    string
		file    []byte
		format  string
		links   []LinkType
		want    []rec
		packets int // records other than packets included; len(want) if 0
	}{
		{"pcap little-endian µs", pcapFile(le, false, LinkEthernet, three...), "pcap", []LinkType{LinkEthernet}, want(LinkEthernet, us), 0},
		{"pcap big-endian µs", pcapFile(be, false, LinkRaw, three...), "pcap", []LinkType{LinkRaw}, want(LinkRaw, us), 0},
		{"pcap little-endian ns", pcapFile(le, true, LinkLinuxSLL, three...), "pcap-ns", []LinkType{LinkLinuxSLL}, want(LinkLinuxSLL, exact), 0},
		{"pcap big-endian ns", pcapFile(be, true, LinkNull, three...), "pcap-ns", []LinkType{LinkNull}, want(LinkNull, exact), 0},
		{"pcap gzip", gzipped(pcapFile(le, true, LinkEthernet, three...)), "pcap-ns+gzip", []LinkType{LinkEthernet}, want(LinkEthernet, exact), 0},
		{"pcapng little-endian", ngThree(le, LinkEthernet, 6), "pcapng", []LinkType{LinkEthernet}, want(LinkEthernet, us), 0},
		{"pcapng big-endian ns", ngThree(be, LinkIPv4, 9), "pcapng", []LinkType{LinkIPv4}, want(LinkIPv4, exact), 0},
		{"pcapng gzip", gzipped(ngThree(le, LinkSLL2, 9)), "pcapng+gzip", []LinkType{LinkSLL2}, want(LinkSLL2, exact), 0},
		{
			name: "pcapng interfaces with different link types and resolutions",
			file: newNG(le).
				iface(LinkEthernet, 6).
				iface(LinkRaw, 9).
				iface(LinkLinuxSLL, 0x80|20). // 2^-20 s
				iface(LinkEthernet, 3).       // a second Ethernet interface
				epb(2, t1, "sll", 60).
				epb(0, t0, "eth", 60).
				epb(3, t0, "ms", 1).
				epb(1, t0, "raw", 3).
				bytes(),
			format: "pcapng",
			links:  []LinkType{LinkEthernet, LinkRaw, LinkLinuxSLL},
			want: []rec{
				{1, t1, LinkLinuxSLL, 2, "sll", 60}, // .5 s is exact in 2^-20 units
				{2, us(t0), LinkEthernet, 0, "eth", 60},
				{3, t0.Truncate(time.Millisecond), LinkEthernet, 3, "ms", 2},
				{4, t0, LinkRaw, 1, "raw", 3},
			},
		},
		{
			name: "pcapng if_tsoffset and a resolution in powers of two",
			file: newNG(le).
				ifaceRaw(LinkEthernet, 0, optTSOffset, le.AppendUint64(nil, 1000)).
				ifaceRaw(LinkRaw, 0, optTSResol, []byte{0x80 | 1}, optTSOffset, le.AppendUint64(nil, uint64(1<<64-1))).
				block(blockEPB, func() []byte { // iface 1: 3 halves of a second = 1.5 s, minus 1 s of offset
					b := le.AppendUint32(nil, 1)
					b = le.AppendUint32(b, 0)
					b = le.AppendUint32(b, 3)
					b = le.AppendUint32(b, 1)
					b = le.AppendUint32(b, 1)
					return append(b, 'x')
				}()).
				epb(0, t0, "a", 1).
				bytes(),
			format: "pcapng",
			links:  []LinkType{LinkEthernet, LinkRaw},
			want: []rec{
				{1, time.Unix(0, 5e8), LinkRaw, 1, "x", 1},
				{2, us(t0).Add(1000 * time.Second), LinkEthernet, 0, "a", 1},
			},
		},
		{
			name: "pcapng simple packet blocks cut by interface 0 snaplen",
			file: newNG(le).
				ifaceRaw(LinkEthernet, 6).
				ifaceRaw(LinkRaw, 0).
				spb(10, "abcdef"). // cut by the snaplen on capture
				spb(3, "xyz").     // padded to 4 bytes in the block
				spb(50, "abcd").   // the block holds less than the snaplen
				bytes(),
			format: "pcapng",
			links:  []LinkType{LinkEthernet, LinkRaw},
			want: []rec{
				{1, time.Time{}, LinkEthernet, 0, "abcdef", 10},
				{2, time.Time{}, LinkEthernet, 0, "xyz", 3},
				{3, time.Time{}, LinkEthernet, 0, "abcd", 50},
			},
		},
		{
			name: "pcapng obsolete packet blocks",
			file: newNG(be).
				iface(LinkEthernet, 6).
				iface(LinkRaw, 6).
				opb(1, t0, "opb1", 4).
				opb(0, t1, "opb0", 9).
				bytes(),
			format: "pcapng",
			links:  []LinkType{LinkEthernet, LinkRaw},
			want: []rec{
				{1, us(t0), LinkRaw, 1, "opb1", 4},
				{2, t1, LinkEthernet, 0, "opb0", 9},
			},
		},
		{
			name: "pcapng sections in both byte orders, interfaces per section",
			file: newNG(le).
				iface(LinkEthernet, 6).
				iface(LinkRaw, 9).
				epb(1, t0, "le", 2).
				section(be).
				iface(LinkLinuxSLL, 9).
				epb(0, t0, "be", 2).
				section(le).
				iface(LinkIPv6, 6).
				epb(0, t1, "le2", 3).
				bytes(),
			format: "pcapng",
			links:  []LinkType{LinkEthernet, LinkRaw, LinkLinuxSLL, LinkIPv6},
			want: []rec{
				{1, t0, LinkRaw, 1, "le", 2},
				{2, t0, LinkLinuxSLL, 0, "be", 2},
				{3, t1, LinkIPv6, 0, "le2", 3},
			},
		},
		{
			name: "pcapng blocks other than packets are skipped",
			file: newNG(le).
				block(4, make([]byte, 40)). // name resolution, before any interface
				iface(LinkEthernet, 6).
				block(5, make([]byte, 20)). // interface statistics
				epb(0, t0, "p", 1).
				block(0x40000BAD, []byte("custom")).
				block(0x0000000A, make([]byte, 100)). // decryption secrets
				epb(0, t1, "q", 1).
				bytes(),
			format: "pcapng",
			links:  []LinkType{LinkEthernet},
			want: []rec{
				{1, us(t0), LinkEthernet, 0, "p", 1},
				{2, t1, LinkEthernet, 0, "q", 1},
			},
		},
		{
			name: "pcapng event and journal blocks count as frames",
			file: newNG(le).
				iface(LinkEthernet, 9).
				block(blockJournal, []byte("__REALTIME_TIMESTAMP=1\n")).
				epb(0, t0, "p", 1).
				block(blockSysdigEventV2, make([]byte, 24)).
				block(blockSysdigEvent, make([]byte, 24)).
				epb(0, t1, "q", 1).
				bytes(),
			format: "pcapng",
			links:  []LinkType{LinkEthernet},
			want: []rec{
				{2, t0, LinkEthernet, 0, "p", 1},
				{5, t1, LinkEthernet, 0, "q", 1},
			},
			packets: 5,
		},
		{
			name:   "pcapng without packets",
			file:   newNG(le).iface(LinkEthernet, 6).bytes(),
			format: "pcapng",
			links:  []LinkType{LinkEthernet},
		},
		{
			name:   "pcap without packets",
			file:   pcapFile(le, false, LinkEthernet),
			format: "pcap",
			links:  []LinkType{LinkEthernet},
		},
	}
	forEachMode(t, func(t *testing.T, m readMode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r, path := m.reader(t, tt.file, "test.cap")
				got, stable := readAllStable(t, r)
				if !slices.EqualFunc(got, tt.want, func(a, b rec) bool { return a.Time.Equal(b.Time) && a.String() == b.String() }) {
					t.Errorf("records:\n got %v\nwant %v", got, tt.want)
				}
				// Compressed files are read through the buffer.
				if wantStable := map[bool]int{true: len(got)}[m.maps() && !strings.HasSuffix(tt.format, "+gzip")]; stable != wantStable {
					t.Errorf("%d of %d records stable, want %d", stable, len(got), wantStable)
				}
				if w := r.Warnings(); len(w) != 0 {
					t.Errorf("warnings: %v", w)
				}
				files := r.Files()
				if len(files) != 1 {
					t.Fatalf("Files() = %+v", files)
				}
				fi := files[0]
				if tt.packets == 0 {
					tt.packets = len(tt.want)
				}
				if fi.Path != path || fi.Format != tt.format || !slices.Equal(fi.LinkTypes, tt.links) || fi.Packets != uint64(tt.packets) {
					t.Errorf("FileInfo = %+v, want format %q links %v packets %d", fi, tt.format, tt.links, tt.packets)
				}
				first, last := time.Time{}, time.Time{}
				for _, p := range tt.want {
					if p.Time.IsZero() {
						continue
					}
					if first.IsZero() || p.Time.Before(first) {
						first = p.Time
					}
					if last.IsZero() || p.Time.After(last) {
						last = p.Time
					}
				}
				if !fi.First.Equal(first) || !fi.Last.Equal(last) {
					t.Errorf("First, Last = %v, %v; want %v, %v", fi.First, fi.Last, first, last)
				}
			})
		}
	})
}

func TestInterfaceTime(t *testing.T) {
	tests := []struct {
		ifc  ngInterface
		ts   uint64
		want time.Time
	}{
		{ngInterface{exp: 6}, 1_700_000_000_123_456, time.Unix(1700000000, 123456000)},
		{ngInterface{exp: 9}, 1_700_000_000_123_456_789, time.Unix(1700000000, 123456789)},
		{ngInterface{exp: 0}, 42, time.Unix(42, 0)},
		{ngInterface{exp: 12}, 1_000_000_000_001_999, time.Unix(1000, 1)},
		{ngInterface{exp: 19}, 15_000_000_000_000_000_000, time.Unix(1, 5e8)},
		{ngInterface{exp: 25}, 1 << 63, time.Unix(0, 922)}, // 9.2e18 units of 1e-25 s
		{ngInterface{exp: 127}, 1<<64 - 1, time.Unix(0, 0)},
		{ngInterface{pow2: true, exp: 0}, 7, time.Unix(7, 0)},
		{ngInterface{pow2: true, exp: 1}, 3, time.Unix(1, 5e8)},
		{ngInterface{pow2: true, exp: 30}, 5<<30 | 1<<28, time.Unix(5, 25e7)},
		{ngInterface{pow2: true, exp: 64}, 1 << 62, time.Unix(0, 25e7)},
		{ngInterface{pow2: true, exp: 127}, 1<<64 - 1, time.Unix(0, 0)},
		{ngInterface{exp: 6, offset: -10}, 11_000_000, time.Unix(1, 0)},
	}
	for _, tt := range tests {
		if got := tt.ifc.time(tt.ts); !got.Equal(tt.want) {
			t.Errorf("%+v.time(%d) = %v, want %v", tt.ifc, tt.ts, got, tt.want)
		}
	}
}

// writeFiles writes each capture into a temporary directory and returns
// the paths.
func writeFiles(t *testing.T, files ...[]byte) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for i, b := range files {
		p := filepath.Join(dir, fmt.Sprintf("f%d.cap", i))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestOpenContinuesFrameNumbers(t *testing.T) {
	paths := writeFiles(t,
		pcapFile(le, false, LinkEthernet, rec{Time: t1, Data: "a"}, rec{Time: t0, Data: "b"}),
		gzipped(newNG(le).iface(LinkRaw, 9).epb(0, t2, "c", 0).epb(0, t0, "d", 0).epb(0, t1, "e", 0).bytes()),
		pcapFile(be, true, LinkLinuxSLL, rec{Time: t2, Data: "f"}),
	)
	forEachMode(t, func(t *testing.T, m readMode) {
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if fi := r.Files(); len(fi) != 0 {
			t.Errorf("Files() before reading = %+v", fi)
		}
		first, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if fi := r.Files(); len(fi) != 1 || fi[0].Packets != 1 {
			t.Errorf("Files() after one record = %+v", fi)
		}
		got := []string{fmt.Sprint(first.Frame, string(first.Data))}
		for _, x := range readAll(t, r) {
			got = append(got, fmt.Sprint(x.Frame, x.Data))
		}
		// Merged by time, each file's records in their order: f (t2) and c
		// (t2) tie, and a tie goes to the file given later, as in mergecap.
		if want := []string{"1a", "2b", "3f", "4c", "5d", "6e"}; !slices.Equal(got, want) {
			t.Errorf("frames %v, want %v", got, want)
		}
		files := r.Files()
		want := []FileInfo{
			{paths[0], "pcap", []LinkType{LinkEthernet}, 2, us(t0), us(t1)},
			{paths[1], "pcapng+gzip", []LinkType{LinkRaw}, 3, t0, t2},
			{paths[2], "pcap-ns", []LinkType{LinkLinuxSLL}, 1, t2, t2},
		}
		if fmt.Sprint(files) != fmt.Sprint(want) {
			t.Errorf("Files():\n got %+v\nwant %+v", files, want)
		}
		// Files that overlap in time are merged: nothing to warn of.
		if w := r.Warnings(); len(w) != 0 {
			t.Errorf("warnings: %+v, want none", w)
		}
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := r.Next(); !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
	})
}

// TestRepeatedFiles: files that overlap in time are merged without a
// warning, but one with the same records as a file given before it is
// warned of, once it has been read, with a warning that is not a read
// problem (every record was read; each counts twice).
func TestRepeatedFiles(t *testing.T) {
	a := pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "a"}, rec{Time: t1, Data: "b"})
	b := pcapFile(le, false, LinkEthernet, rec{Time: t2, Data: "c"})
	mid := pcapFile(le, false, LinkEthernet, rec{Time: t0.Add(time.Second), Data: "m"})
	sameTimes := pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "x"}, rec{Time: t1, Data: "y"})
	aNanos := pcapFile(le, true, LinkEthernet, rec{Time: us(t0), Data: "a"}, rec{Time: us(t1), Data: "b"})
	empty := pcapFile(le, false, LinkEthernet)
	for _, c := range []struct {
		name  string
		files [][]byte
		same  []int    // files given by the path of the one at this index instead
		want  []string // "file index: message"
	}{
		{"in time order", [][]byte{a, b}, nil, nil},
		{"an empty file between", [][]byte{a, empty, b}, nil, nil},
		{"reverse order", [][]byte{b, a}, nil, nil},
		{"inside an earlier file's time span", [][]byte{a, empty, mid}, nil, nil},
		{"the same times, other data", [][]byte{a, sameTimes}, nil, nil},
		{"the same records, another file", [][]byte{a, a}, nil, []string{
			"1: repeats FILE0 (the same 2 packets): each is analyzed twice"}},
		{"the same records in another format", [][]byte{a, gzipped(aNanos)}, nil, []string{
			"1: repeats FILE0 (the same 2 packets): each is analyzed twice"}},
		{"the same file twice", [][]byte{a, nil}, []int{1: 0}, []string{
			"0: given twice: each of its 2 packets is analyzed twice"}},
		{"three copies", [][]byte{a, b, a, a}, nil, []string{
			"2: repeats FILE0 (the same 2 packets): each is analyzed twice",
			"3: repeats FILE0 (the same 2 packets): each is analyzed twice"}},
	} {
		forEachMode(t, func(t *testing.T, m readMode) {
			t.Run(c.name, func(t *testing.T) {
				paths := writeFiles(t, c.files...)
				for i, j := range c.same {
					if i != j {
						paths[i] = paths[j]
					}
				}
				r, err := m.open(paths...)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				n := len(readAll(t, r))
				wantN := 0
				for _, fi := range r.Files() {
					wantN += int(fi.Packets)
				}
				if n != wantN || n == 0 || len(r.Files()) != len(paths) {
					t.Errorf("read %d records, files hold %d; Files() %+v", n, wantN, r.Files())
				}
				var got []string
				for _, w := range r.Warnings() {
					if w.Kind != WarningOverlap || w.ReadProblem() || w.Frame != 0 {
						t.Errorf("warning %+v: want an overlap, not a read problem, about no frame", w)
					}
					i := slices.Index(paths, w.Path)
					got = append(got, fmt.Sprintf("%d: %s", i, strings.ReplaceAll(w.Message, paths[0], "FILE0")))
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("warnings\n got %q\nwant %q", got, c.want)
				}
			})
		})
	}
}

func TestStdin(t *testing.T) {
	paths := writeFiles(t,
		gzipped(pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "in"})),
		pcapFile(le, false, LinkEthernet, rec{Time: t1, Data: "file"}),
	)
	forEachMode(t, func(t *testing.T, m readMode) {
		f, err := os.Open(paths[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		saved := os.Stdin
		os.Stdin = f
		defer func() { os.Stdin = saved }()

		r, err := m.open(paths[1], "-")
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, stable := readAllStable(t, r)
		// Merged by time: stdin's record (t0) comes before the file's (t1).
		if len(got) != 2 || got[0].Data != "in" || got[1].Data != "file" || got[1].Frame != 2 {
			t.Errorf("records %v", got)
		}
		if want := map[bool]int{true: 1}[m.maps()]; stable != want {
			t.Errorf("%d stable records, want %d (the file's, not stdin's)", stable, want)
		}
		if fi := r.Files(); len(fi) != 2 || fi[1].Path != "-" || fi[1].Format != "pcap+gzip" {
			t.Errorf("Files() = %+v", fi)
		}
	})
	if _, err := Open("-", "-"); err == nil {
		t.Error("Open(-, -) succeeded")
	}
}

func TestOpenErrors(t *testing.T) {
	good := pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "x"})
	paths := writeFiles(t,
		good,
		nil,
		[]byte{0xa1, 0xb2},
		[]byte("GET / HTTP/1.1\r\n"),
		gzipped([]byte("plain text, gzipped")),
		[]byte{0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0},
		gzipped([]byte{0xd4}),
	)
	tests := []struct {
		path string
		want string
	}{
		{filepath.Join(t.TempDir(), "missing.pcap"), "missing.pcap: no such file"},
		{paths[1], "f1.cap: empty file"},
		{paths[2], "f2.cap: 2 bytes, too short"},
		{paths[3], "f3.cap: not a pcap or pcapng file (magic 47 45 54 20 at offset 0)"},
		{paths[4], "f4.cap: not a pcap or pcapng file (magic 70 6c 61 69 at offset 0 after gunzip)"},
		{paths[5], "f5.cap: gzip"},
		{paths[6], "f6.cap: gzip content is 1 bytes"},
	}
	for _, tt := range tests {
		_, err := Open(paths[0], tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%s): %v, want an error containing %q", filepath.Base(tt.path), err, tt.want)
		}
	}
	if _, err := Open(); err == nil {
		t.Error("Open() succeeded")
	}
	if _, err := NewReader(strings.NewReader("nonsense"), "stream"); err == nil || !strings.Contains(err.Error(), "stream: not a pcap") {
		t.Errorf("NewReader: %v", err)
	}
}

// TestDamagedFiles cuts and corrupts files: each damaged file ends with a
// warning, the records before the damage are returned, and the next file
// is read with frame numbers continuing.
func TestDamagedFiles(t *testing.T) {
	twoPcap := pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "0123456789"}, rec{Time: t1, Data: "abcdefghij"})
	// 24-byte header, records of 16+10 bytes.
	twoNG := newNG(le).iface(LinkEthernet, 6).epb(0, t0, "0123456789", 0).epb(0, t1, "abcdefghij", 0).bytes()
	// SHB 28, IDB 20, EPBs 32+12 = 44 bytes each.
	patch := func(b []byte, off int, v uint32) []byte {
		b = slices.Clone(b)
		le.PutUint32(b[off:], v)
		return b
	}
	gzCut := gzipped(twoPcap)
	gzCut = gzCut[:len(gzCut)-8] // the CRC and length

	tests := []struct {
		name    string
		file    []byte
		packets int
		warning string
		frame   uint64
	}{
		{"pcap cut in the file header", twoPcap[:10], 0, "truncated: file header cut after 10 of 24 bytes (offset 0)", 0},
		{"pcap cut in a record header", twoPcap[:24+26+5], 1, "truncated: record 2 cut after 5 of 16 bytes (offset 50)", 2},
		{"pcap cut in record data", twoPcap[:24+26+20], 1, "truncated: record 2 cut after 20 of 26 bytes (offset 50)", 2},
		{"pcap caplen of 4 GB", patch(twoPcap, 24+26+8, 0xffffffff), 1, "corrupted at offset 50: record 2 claims 4294967295 captured bytes (limit 262144); rest of file skipped", 2},
		{"pcap caplen just over the limit", patch(twoPcap, 24+8, maxCapLen+1), 0, "record 1 claims 262145 captured bytes", 1},
		{"gzip trailer missing", gzCut, 2, "truncated: stream ends early, before record 3 (offset 76)", 3},
		{"pcapng cut in the section header", twoNG[:20], 0, "truncated: section header block cut after 20 of 28 bytes", 0},
		{"pcapng cut in the interface block", twoNG[:28+10], 0, "truncated: block header cut after 10 of 12 bytes (offset 28)", 0},
		{"pcapng cut in the interface options", twoNG[:28+16], 0, "truncated: interface description block cut after 16 of 20 bytes (offset 28)", 0},
		{"pcapng cut in a packet block", twoNG[:28+20+44+30], 1, "truncated: record 2 cut after 30 of 44 bytes (offset 92)", 2},
		{"pcapng cut before a trailer", twoNG[:len(twoNG)-2], 1, "truncated: record 2 cut after 42 of 44 bytes", 2},
		{"pcapng caplen of 4 GB", patch(twoNG, 28+20+20, 0xffffffff), 0, "corrupted at offset 48: record 1 claims 4294967295 captured bytes (limit 262144)", 1},
		{"pcapng caplen beyond the block", patch(twoNG, 28+20+44+20, 13), 1, "record 2 claims 13 captured bytes in a 44-byte block", 2},
		{"pcapng block length of 4 GB", patch(twoNG, 28+20+44+4, 0xfffffffc), 1, "corrupted at offset 92: packet block of 4294967292 bytes", 2},
		{"pcapng block length not a multiple of 4", patch(twoNG, 28+20+4, 45), 0, "block type 0x6 has total length 45", 0},
		{"pcapng block length below the minimum", patch(twoNG, 28+20+4, 8), 0, "block type 0x6 has total length 8", 0},
		{"pcapng trailer mismatch", patch(twoNG, 28+20+40, 48), 0, "block total length 44 but trailing length 48", 0},
		{"pcapng unknown interface", patch(twoNG, 28+20+44+8, 1), 1, "record 2 is on interface 1 but 1 interfaces are described", 2},
		{"pcapng bad byte-order magic", patch(twoNG, 8, 0x12345678), 0, "section header has byte-order magic 78 56 34 12", 0},
		{"pcapng version 2", patch(twoNG, 12, 2), 0, "pcapng major version 2", 0},
		{"pcapng huge unknown block", slices.Concat(twoNG[:28+20+44], patch(patch(twoNG[28+20+44:], 0, 0x99), 4, 0x7ffffff0)), 1, "truncated: block cut after 44 of 2147483632 bytes (offset 92)", 0},
		{"pcapng packet before any interface", slices.Concat(twoNG[:28], twoNG[28+20:]), 0, "record 1 is on interface 0 but 0 interfaces are described", 1},
		{"pcapng simple packet block before any interface", newNG(le).spb(3, "abc").bytes(), 0, "record 1 is on interface 0 but 0 interfaces are described", 1},
	}
	after := pcapFile(le, false, LinkRaw, rec{Time: t2, Data: "next"})
	forEachMode(t, func(t *testing.T, m readMode) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				paths := writeFiles(t, tt.file, after)
				r, err := m.open(paths...)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				got, stable := readAllStable(t, r)
				if len(got) != tt.packets+1 || got[len(got)-1].Data != "next" || got[len(got)-1].Frame != uint64(tt.packets+1) {
					t.Fatalf("records %v, want %d then next", got, tt.packets)
				}
				wantStable := 0
				if m.maps() {
					wantStable = len(got)
					if strings.Contains(tt.name, "gzip") {
						wantStable = 1
					}
				}
				if stable != wantStable {
					t.Errorf("%d records stable, want %d", stable, wantStable)
				}
				for i, x := range got[:tt.packets] {
					if want := []string{"0123456789", "abcdefghij"}[i]; x.Data != want {
						t.Errorf("record %d: %q, want %q", i+1, x.Data, want)
					}
				}
				w := r.Warnings()
				if len(w) != 1 || w[0].Path != paths[0] || w[0].Frame != tt.frame || !strings.Contains(w[0].Message, tt.warning) {
					t.Fatalf("warnings %+v, want one for %s frame %d containing %q", w, paths[0], tt.frame, tt.warning)
				}
				if fi := r.Files(); len(fi) != 2 || fi[0].Packets != uint64(tt.packets) || fi[1].Packets != 1 {
					t.Errorf("Files() = %+v", fi)
				}
			})
		}
	})
}

// TestGzipCut cuts a compressed file in the middle of its deflate data.
func TestGzipCut(t *testing.T) {
	var pkts []rec
	state := uint32(1)
	for i := range 20 {
		data := make([]byte, 500)
		for j := range data {
			state = state*1664525 + 1013904223 // incompressible enough
			data[j] = byte(state >> 24)
		}
		pkts = append(pkts, rec{Time: t0.Add(time.Duration(i) * time.Second), Data: string(data)})
	}
	gz := gzipped(pcapFile(le, false, LinkEthernet, pkts...))
	forEachMode(t, func(t *testing.T, m readMode) {
		r, _ := m.reader(t, gz[:len(gz)/2], "cut.pcap.gz")
		got, stable := readAllStable(t, r)
		if stable != 0 {
			t.Errorf("%d records of a gzip file stable", stable)
		}
		if len(got) < 5 || len(got) > 15 {
			t.Fatalf("%d records from half the file", len(got))
		}
		for i, x := range got {
			if x.Data != pkts[i].Data {
				t.Fatalf("record %d differs", i+1)
			}
		}
		w := r.Warnings()
		want := fmt.Sprintf("truncated: record %d cut after ", len(got)+1)
		if len(w) != 1 || !strings.Contains(w[0].Message, want) {
			t.Errorf("warnings %+v, want %q", w, want)
		}
	})
}

func TestWarningsBounded(t *testing.T) {
	cut := pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "x"})
	paths := writeFiles(t, cut[:len(cut)-1])
	many := make([]string, 150)
	for i := range many {
		many[i] = paths[0]
	}
	forEachMode(t, func(t *testing.T, m readMode) {
		r, err := m.open(many...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if n := len(readAll(t, r)); n != 0 {
			t.Errorf("%d records from cut files", n)
		}
		w := r.Warnings()
		if len(w) != maxWarnings+1 || w[maxWarnings].Message != "50 more warnings not shown" {
			t.Errorf("%d warnings, last %+v", len(w), w[len(w)-1])
		}
		if len(r.Files()) != 150 {
			t.Errorf("%d files", len(r.Files()))
		}
	})
}

// TestFileChangedAfterOpen: a file that vanished between Open and its turn
// is a warning, not the end of the capture.
func TestFileChangedAfterOpen(t *testing.T) {
	one := pcapFile(le, false, LinkEthernet, rec{Time: t0, Data: "x"})
	forEachMode(t, func(t *testing.T, m readMode) {
		paths := writeFiles(t, one, one, one, one)
		r, err := m.open(paths...)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		os.Remove(paths[1])
		os.WriteFile(paths[2], []byte("garbage!"), 0o644)
		os.WriteFile(paths[3], nil, 0o644)
		if got := readAll(t, r); len(got) != 1 {
			t.Errorf("records %v", got)
		}
		w := r.Warnings()
		if len(w) != 3 || !strings.Contains(w[0].Message, "cannot open") || !strings.Contains(w[1].Message, "not a pcap") || !strings.Contains(w[2].Message, "f3.cap: empty file") {
			t.Errorf("warnings %+v", w)
		}
	})
}

// manyPackets is an in-memory pcap of n 200-byte packets.
func manyPackets(n int) []byte {
	var b bytes.Buffer
	w := must(NewPcapWriter(&b, LinkEthernet, false))
	data := bytes.Repeat([]byte{0x5a}, 200)
	for i := range n {
		must(0, w.WritePacket(t0.Add(time.Duration(i)*time.Millisecond), data, 0))
	}
	return b.Bytes()
}

func TestNextDoesNotAllocate(t *testing.T) {
	for _, tt := range []struct {
		name string
		file []byte
	}{
		{"pcap", manyPackets(3000)},
		{"pcapng", func() []byte {
			n := newNG(le).iface(LinkEthernet, 9).iface(LinkRaw, 0x80|20)
			for i := range 3000 {
				n.epb(i%2, t0, "0123456789abcdef0123456789abcdef", 100)
			}
			return n.bytes()
		}()},
	} {
		forEachMode(t, func(t *testing.T, m readMode) {
			t.Run(tt.name, func(t *testing.T) {
				r, _ := m.reader(t, tt.file, "mem")
				r.Next() // the first call sets up the buffer or the mapping
				allocs := testing.AllocsPerRun(2000, func() {
					if _, err := r.Next(); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Errorf("Next allocates %.2f times per record", allocs)
				}
				if r.StableData() != m.maps() {
					t.Errorf("StableData() = %v", r.StableData())
				}
			})
		})
	}
}

// endlessPcap serves a pcap file header and then its records over and over.
type endlessPcap struct {
	file []byte
	pos  int
}

func (e *endlessPcap) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if e.pos == len(e.file) {
			e.pos = pcapFileHeaderLen
		}
		c := copy(p[n:], e.file[e.pos:])
		e.pos += c
		n += c
	}
	return n, nil
}

func BenchmarkReaderNext(b *testing.B) {
	const n = 1000
	file := manyPackets(n)
	r, err := NewReader(&endlessPcap{file: file}, "mem")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.Next(); err != nil { // allocates the read buffer
		b.Fatal(err)
	}
	b.SetBytes(int64((len(file) - pcapFileHeaderLen) / n))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
