package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHandle is an interface whose packets the test hands over one by one.
type fakeHandle struct {
	pkts             chan fakePacket
	received, drops  atomic.Uint64
	closed           atomic.Bool
	readAfterClosing atomic.Bool
}

type fakePacket struct {
	data []byte
	t    time.Time
	err  error
}

func newFakeHandle() *fakeHandle { return &fakeHandle{pkts: make(chan fakePacket, 64)} }

func (h *fakeHandle) read() ([]byte, time.Time, int, error) {
	if h.closed.Load() {
		h.readAfterClosing.Store(true)
	}
	select {
	case p := <-h.pkts:
		if p.err != nil {
			return nil, time.Time{}, 0, p.err
		}
		h.received.Add(1)
		return p.data, p.t, len(p.data) + 10, nil
	case <-time.After(5 * time.Millisecond):
		return nil, time.Time{}, 0, errReadTimeout
	}
}

func (h *fakeHandle) stats() (uint64, uint64, uint64, error) {
	return h.received.Load() + h.drops.Load(), h.drops.Load(), 0, nil
}

func (h *fakeHandle) close() { h.closed.Store(true) }

func (h *fakeHandle) send(data string) {
	h.pkts <- fakePacket{data: []byte(data), t: time.Now()}
}

func fakeSource(t *testing.T, opts LiveOptions, explicit bool, handles ...*fakeHandle) *LiveSource {
	t.Helper()
	var ifaces []*liveInterface
	for i, h := range handles {
		ifaces = append(ifaces, &liveInterface{name: fmt.Sprintf("fake%d", i), link: LinkEthernet + LinkType(i*100), explicit: explicit, h: h})
	}
	s, err := newLiveSource(opts, 64, ifaces)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// nextWithin calls Next, failing the test if it does not return in time.
func nextWithin(t *testing.T, s *LiveSource, d time.Duration) (*Record, error) {
	t.Helper()
	type result struct {
		rec *Record
		err error
	}
	ch := make(chan result, 1)
	go func() {
		rec, err := s.Next()
		ch <- result{rec, err}
	}()
	select {
	case r := <-ch:
		return r.rec, r.err
	case <-time.After(d):
		t.Fatalf("Next did not return within %v", d)
		return nil, nil
	}
}

func TestLiveSourceNumbersFramesInArrivalOrder(t *testing.T) {
	a, b := newFakeHandle(), newFakeHandle()
	s := fakeSource(t, LiveOptions{}, true, a, b)
	want := []struct {
		h     *fakeHandle
		iface int
		data  string
	}{{a, 0, "one"}, {b, 1, "two"}, {a, 0, "three"}, {b, 1, "four"}}
	for i, w := range want {
		w.h.send(w.data)
		rec, err := nextWithin(t, s, time.Second)
		if err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
		if rec.Frame != uint64(i+1) || rec.Interface != w.iface || string(rec.Data) != w.data ||
			rec.LinkType != LinkEthernet+LinkType(w.iface*100) || rec.OrigLen != len(w.data)+10 {
			t.Errorf("packet %d: frame %d interface %d link %d data %q origlen %d; want frame %d interface %d data %q",
				i+1, rec.Frame, rec.Interface, rec.LinkType, rec.Data, rec.OrigLen, i+1, w.iface, w.data)
		}
	}
	files := s.Files()
	if len(files) != 2 || files[0].Path != "fake0" || files[0].Packets != 2 || files[1].Packets != 2 || files[0].Format != "live" {
		t.Errorf("Files() = %+v", files)
	}
}

func TestLiveSourceCutsToSnaplen(t *testing.T) {
	a := newFakeHandle()
	s := fakeSource(t, LiveOptions{}, true, a)
	a.send(strings.Repeat("x", 100)) // the source's snaplen is 64
	rec, err := nextWithin(t, s, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Data) != 64 || rec.OrigLen != 110 {
		t.Errorf("captured %d of %d bytes; want 64 of 110", len(rec.Data), rec.OrigLen)
	}
}

func TestLiveSourceSkipsPacketsQueuedBeforeTheFilter(t *testing.T) {
	a := newFakeHandle()
	s := fakeSource(t, LiveOptions{}, true, a)
	a.pkts <- fakePacket{data: []byte("before"), t: s.started.Add(-time.Millisecond)}
	a.send("after")
	rec, err := nextWithin(t, s, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(rec.Data) != "after" || rec.Frame != 1 {
		t.Errorf("first packet %q frame %d; want \"after\" frame 1", rec.Data, rec.Frame)
	}
}

func TestLiveSourceStopReturnsWhatWasCaptured(t *testing.T) {
	a := newFakeHandle()
	s := fakeSource(t, LiveOptions{}, true, a)
	for _, d := range []string{"a", "b", "c"} {
		a.send(d)
	}
	// Let the reader take them off the handle before the stop.
	deadline := time.Now().Add(time.Second)
	for len(a.pkts) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s.Stop()
	var got []string
	for {
		rec, err := nextWithin(t, s, time.Second)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(rec.Data))
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("after Stop got %q; want a,b,c", got)
	}
	if !a.closed.Load() {
		t.Error("the handle is still open after the capture ended")
	}
}

func TestLiveSourceCount(t *testing.T) {
	a := newFakeHandle()
	s := fakeSource(t, LiveOptions{Count: 2}, true, a)
	for _, d := range []string{"a", "b", "c"} {
		a.send(d)
	}
	for i := range 2 {
		if _, err := nextWithin(t, s, time.Second); err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
	}
	if rec, err := nextWithin(t, s, time.Second); err != io.EOF {
		t.Fatalf("third Next = %v, %v; want io.EOF", rec, err)
	}
}

func TestLiveSourceDuration(t *testing.T) {
	a := newFakeHandle()
	s := fakeSource(t, LiveOptions{Duration: 50 * time.Millisecond}, true, a)
	if _, err := nextWithin(t, s, 2*time.Second); err != io.EOF {
		t.Fatalf("Next = %v; want io.EOF after the duration", err)
	}
}

func TestLiveSourceInterfaceGone(t *testing.T) {
	gone := fmt.Errorf("%w: it was removed", ErrInterfaceDown)
	t.Run("named", func(t *testing.T) {
		a, b := newFakeHandle(), newFakeHandle()
		s := fakeSource(t, LiveOptions{}, true, a, b)
		a.send("kept")
		a.pkts <- fakePacket{err: gone}
		rec, err := nextWithin(t, s, time.Second)
		if err != nil || string(rec.Data) != "kept" {
			t.Fatalf("first Next = %v, %v; want the packet captured before the interface went", rec, err)
		}
		_, err = nextWithin(t, s, 2*time.Second)
		if !errors.Is(err, ErrInterfaceDown) || !strings.Contains(err.Error(), "fake0") {
			t.Fatalf("Next = %v; want ErrInterfaceDown naming fake0", err)
		}
	})
	t.Run("any", func(t *testing.T) {
		a, b := newFakeHandle(), newFakeHandle()
		s := fakeSource(t, LiveOptions{}, false, a, b)
		a.pkts <- fakePacket{err: gone}
		b.send("still here")
		rec, err := nextWithin(t, s, time.Second)
		if err != nil || string(rec.Data) != "still here" {
			t.Fatalf("Next = %v, %v; want the other interface's packet", rec, err)
		}
		deadline := time.Now().Add(time.Second)
		for len(s.Warnings()) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		w := s.Warnings()
		if len(w) != 1 || !strings.Contains(w[0].Message, "fake0") || !strings.Contains(w[0].Message, "removed") {
			t.Errorf("Warnings() = %+v; want one naming fake0", w)
		}
		s.Stop()
		if _, err := nextWithin(t, s, time.Second); err != io.EOF {
			t.Errorf("Next after Stop = %v; want io.EOF", err)
		}
	})
}

func TestLiveSourceStats(t *testing.T) {
	a := newFakeHandle()
	a.drops.Store(7)
	s := fakeSource(t, LiveOptions{}, true, a)
	a.send("x")
	if _, err := nextWithin(t, s, time.Second); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if len(st) != 1 || st[0].Name != "fake0" || st[0].Captured != 1 || st[0].Received != 8 || st[0].Dropped != 7 {
		t.Errorf("Stats() = %+v; want fake0 captured 1 received 8 dropped 7", st)
	}
	s.Close()
	if st := s.Stats(); st[0].Dropped != 7 || st[0].Received != 8 {
		t.Errorf("Stats() after Close = %+v; want the final counters kept", st)
	}
	if _, err := s.Next(); err != ErrClosed {
		t.Errorf("Next after Close = %v; want ErrClosed", err)
	}
}

func TestLiveSourceSave(t *testing.T) {
	a, b := newFakeHandle(), newFakeHandle()
	a.drops.Store(3)
	var buf bytes.Buffer
	s := fakeSource(t, LiveOptions{Save: &buf}, true, a, b)
	var want []string
	for i, h := range []*fakeHandle{a, b, a} {
		d := fmt.Sprintf("packet %d", i)
		h.send(d)
		if _, err := nextWithin(t, s, time.Second); err != nil {
			t.Fatal(err)
		}
		want = append(want, d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()), "saved")
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		rec, err := r.Next()
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		if string(rec.Data) != w || rec.Interface != i%2 || rec.LinkType != LinkEthernet+LinkType(i%2*100) || rec.OrigLen != len(w)+10 {
			t.Errorf("record %d: %q interface %d link %d origlen %d", i+1, rec.Data, rec.Interface, rec.LinkType, rec.OrigLen)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the packets: %v; want io.EOF", err)
	}
	if w := r.Warnings(); len(w) != 0 {
		t.Errorf("reading the copy: %v", w)
	}
	idbs := pcapngBlocks(t, buf.Bytes(), blockIDB)
	if len(idbs) != 2 || !bytes.Contains(idbs[0], []byte("fake0")) || !bytes.Contains(idbs[1], []byte("fake1")) {
		t.Errorf("interface descriptions do not name the interfaces: %q", idbs)
	}
	isbs := pcapngBlocks(t, buf.Bytes(), blockISB)
	if len(isbs) != 2 {
		t.Fatalf("%d interface statistics blocks; want 2", len(isbs))
	}
	opts := isbOptions(isbs[0])
	if got := binary.LittleEndian.Uint64(opts[optISBIfDrop]); got != 3 {
		t.Errorf("isb_ifdrop = %d; want 3", got)
	}
	if got := binary.LittleEndian.Uint64(opts[optISBIfRecv]); got != 5 {
		t.Errorf("isb_ifrecv = %d; want 5 (2 received + 3 dropped)", got)
	}
	if got := binary.LittleEndian.Uint64(opts[optISBUsrDeliv]); got != 2 {
		t.Errorf("isb_usrdeliv = %d; want 2", got)
	}
	if len(opts[optISBStartTime]) != 8 || len(opts[optISBEndTime]) != 8 {
		t.Errorf("isb_starttime/isb_endtime missing: %v", opts)
	}

	if _, err := exec.LookPath("capinfos"); err != nil {
		t.Log("capinfos not installed: the copy is not checked with it")
		return
	}
	path := filepath.Join(t.TempDir(), "saved.pcapng")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("capinfos", path).CombinedOutput()
	if err != nil {
		t.Fatalf("capinfos: %v\n%s", err, out)
	}
	for _, want := range []string{"Number of packets:   3", "Number of interfaces in file: 2", "Name = fake0", "Name = fake1",
		"Capture length = 64", "Time precision = nanoseconds (9)", "Number of stat entries = 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("capinfos does not say %q:\n%s", want, out)
		}
	}
}

// pcapngBlocks returns the bodies of a little-endian pcapng file's blocks
// of type typ.
func pcapngBlocks(t *testing.T, b []byte, typ uint32) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) >= blockOverhead {
		n := int(binary.LittleEndian.Uint32(b[4:]))
		if n < blockOverhead || n > len(b) {
			t.Fatalf("bad block length %d", n)
		}
		if binary.LittleEndian.Uint32(b) == typ {
			out = append(out, b[8:n-4])
		}
		b = b[n:]
	}
	return out
}

// isbOptions maps an ISB body's option codes to their values.
func isbOptions(body []byte) map[uint16][]byte {
	opts := map[uint16][]byte{}
	for o := body[12:]; len(o) >= 4; {
		code, n := binary.LittleEndian.Uint16(o), int(binary.LittleEndian.Uint16(o[2:]))
		if code == 0 || 4+n > len(o) {
			break
		}
		opts[code] = o[4 : 4+n]
		o = o[4+(n+3)&^3:]
	}
	return opts
}
