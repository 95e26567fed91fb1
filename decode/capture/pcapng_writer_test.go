package capture

import (
	"bytes"
	"io"
	"testing"
	"time"
)

func TestWritePacketMatchesWriteEPB(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	for n := range 9 {
		data := bytes.Repeat([]byte{0xab}, n)
		var a, b bytes.Buffer
		wa, _ := NewPcapngWriter(&a)
		wb, _ := NewPcapngWriter(&b)
		for _, w := range []*PcapngWriter{wa, wb} {
			if _, err := w.AddInterfaceDescription(InterfaceDescription{Name: "eth0", LinkType: LinkEthernet, Snaplen: 100, TSResol: 9}); err != nil {
				t.Fatal(err)
			}
		}
		if err := wa.WriteEPB(0, at, data, n+4); err != nil {
			t.Fatal(err)
		}
		if err := wb.writePacket(0, at, data, n+4); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Errorf("%d-byte packet: writePacket wrote\n% x\nWriteEPB\n% x", n, b.Bytes(), a.Bytes())
		}
	}
	var buf bytes.Buffer
	w, _ := NewPcapngWriter(&buf)
	w.AddInterfaceDescription(InterfaceDescription{LinkType: LinkEthernet})
	data := make([]byte, 1500)
	if allocs := testing.AllocsPerRun(100, func() { w.writePacket(0, at, data, 1500) }); allocs != 0 {
		t.Errorf("writePacket allocates %.1f times per packet", allocs)
	}
	if err := w.writePacket(1, at, data, 0); err == nil {
		t.Error("no error for an interface not added")
	}
}

func TestInterfaceDescriptionRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewPcapngWriter(&buf)
	at := time.Unix(1700000000, 987654321)
	descs := []InterfaceDescription{
		{Name: "lo", LinkType: LinkEthernet, Snaplen: 96, TSResol: 9},
		{Name: "wg0-with-a-longer-name", LinkType: LinkRaw},
		{LinkType: LinkSLL2, TSResol: 0x80 | 20},
	}
	for i, d := range descs {
		if idx, err := w.AddInterfaceDescription(d); err != nil || idx != i {
			t.Fatalf("interface %d: index %d, %v", i, idx, err)
		}
		if err := w.WriteEPB(i, at, []byte{1, 2, 3}, 3); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteStatistics(i, InterfaceStatistics{Time: at, Start: at, End: at, HasCounters: true, Received: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.AddInterfaceDescription(InterfaceDescription{Snaplen: maxCapLen + 1}); err == nil {
		t.Error("no error for a snaplen above 262144")
	}
	if err := w.WriteStatistics(7, InterfaceStatistics{Time: at}); err == nil {
		t.Error("no error for statistics of an interface not added")
	}
	r, err := NewReader(&buf, "written")
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range descs {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		want := at
		if d.TSResol == 0 {
			want = at.Truncate(time.Microsecond)
		}
		if rec.Interface != i || rec.LinkType != d.LinkType || rec.Time.Sub(want).Abs() > time.Microsecond {
			t.Errorf("record %d: interface %d link %d time %v; want %d, %d, %v", i+1, rec.Interface, rec.LinkType, rec.Time, i, d.LinkType, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the records: %v", err)
	}
	if w := r.Warnings(); len(w) != 0 {
		t.Errorf("warnings: %v", w)
	}
}
