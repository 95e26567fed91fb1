package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
		ifaces = append(ifaces, &liveInterface{name: fmt.Sprintf("fake%d", i), ifName: fmt.Sprintf("fake%d", i), link: LinkEthernet + LinkType(i*100), explicit: explicit, h: h})
	}
	s, err := newLiveSource(opts, 64, ifaces, nil)
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

// fakeWatcher is the host's interfaces as the test sets them; open gives
// each a fakeHandle.
type fakeWatcher struct {
	mu      sync.Mutex
	ifaces  []net.Interface
	handles map[int][]*fakeHandle // by ifindex, in the order opened
	err     error                 // interfaces fails with it
	openErr map[string]error      // open fails for these names
}

func newFakeWatcher(ifaces ...net.Interface) *fakeWatcher {
	return &fakeWatcher{ifaces: ifaces, handles: map[int][]*fakeHandle{}, openErr: map[string]error{}}
}

func up(index int, name string) net.Interface {
	return net.Interface{Index: index, Name: name, Flags: net.FlagUp}
}

func (w *fakeWatcher) set(ifaces ...net.Interface) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ifaces = ifaces
}

func (w *fakeWatcher) interfaces() ([]net.Interface, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ifaces), w.err
}

func (w *fakeWatcher) open(ifc net.Interface) (*liveInterface, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.openErr[ifc.Name]; err != nil {
		return nil, err
	}
	h := newFakeHandle()
	w.handles[ifc.Index] = append(w.handles[ifc.Index], h)
	return &liveInterface{name: ifc.Name, ifName: ifc.Name, index: ifc.Index, link: LinkRaw, h: h}, nil
}

// opened returns the handles opened for an ifindex.
func (w *fakeWatcher) opened(index int) []*fakeHandle {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.handles[index])
}

// watchedSource is an "any" capture of fake0 (ifindex 1), following w's
// interfaces every millisecond; notices collects what Notify was told.
func watchedSource(t *testing.T, opts LiveOptions, w *fakeWatcher) (s *LiveSource, first *fakeHandle, notices *[]string) {
	t.Helper()
	notices = new([]string)
	opts.Notify = func(m string) { *notices = append(*notices, m) }
	first = newFakeHandle()
	li := &liveInterface{name: "fake0", ifName: "fake0", index: 1, link: LinkEthernet, h: first}
	known, _ := w.interfaces()
	s, err := newLiveSource(opts, 64, []*liveInterface{li}, newLiveWatch(w, opts.Exclude, known, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, first, notices
}

// drive calls Next, which follows the interfaces, until cond holds; it
// fails the test after 5 s. Packets returned on the way fail it too.
func drive(t *testing.T, s *LiveSource, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after 5 s for %s", what)
		}
		if rec, err := s.NextWithin(2 * time.Millisecond); err != ErrIdle {
			t.Fatalf("waiting for %s: Next = %v, %v; want no packet", what, rec, err)
		}
	}
}

func TestLiveSourceAnyFollowsNewInterfaces(t *testing.T) {
	w := newFakeWatcher(up(1, "fake0"), net.Interface{Index: 2, Name: "down0"})
	var buf bytes.Buffer
	s, first, notices := watchedSource(t, LiveOptions{Save: &buf}, w)
	first.send("before")
	if rec, err := nextWithin(t, s, time.Second); err != nil || string(rec.Data) != "before" {
		t.Fatalf("Next = %v, %v", rec, err)
	}

	w.set(up(1, "fake0"), up(2, "down0"), up(3, "wg0"))
	drive(t, s, "wg0 and down0 to be opened", func() bool { return len(w.opened(3)) == 1 && len(w.opened(2)) == 1 })
	if got := strings.Join(s.Interfaces(), ","); got != "fake0,down0,wg0" {
		t.Errorf("Interfaces() = %s; want fake0,down0,wg0", got)
	}
	want := []string{"interface down0 came up; capturing it too", "interface wg0 appeared; capturing it too"}
	if !slices.Equal(*notices, want) {
		t.Errorf("notices %q; want %q", *notices, want)
	}
	w.opened(3)[0].send("on wg0")
	rec, err := nextWithin(t, s, time.Second)
	if err != nil || string(rec.Data) != "on wg0" || rec.Interface != 2 || rec.LinkType != LinkRaw || rec.Frame != 2 {
		t.Fatalf("Next = %+v, %v; want frame 2 on interface 2 (wg0), raw IP", rec, err)
	}
	first.send("after")
	if rec, err := nextWithin(t, s, time.Second); err != nil || rec.Interface != 0 {
		t.Fatalf("Next = %+v, %v; want the packet on fake0", rec, err)
	}
	st := s.Stats()
	if len(st) != 3 || st[2].Name != "wg0" || st[2].Captured != 1 || st[2].Received != 1 {
		t.Errorf("Stats() = %+v; want wg0 third, 1 captured", st)
	}
	files := s.Files()
	if len(files) != 3 || files[2].Path != "wg0" || files[2].Packets != 1 || files[1].Packets != 0 {
		t.Errorf("Files() = %+v", files)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The copy describes wg0 before its packet, and down0, which had
	// none, before the statistics.
	r, err := NewReader(bytes.NewReader(buf.Bytes()), "saved")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		data  string
		iface int
	}{{"before", 0}, {"on wg0", 2}, {"after", 0}} {
		rec, err := r.Next()
		if err != nil || string(rec.Data) != want.data || rec.Interface != want.iface {
			t.Fatalf("record %d: %+v, %v; want %q on interface %d", i+1, rec, err, want.data, want.iface)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the packets: %v", err)
	}
	if w := r.Warnings(); len(w) != 0 {
		t.Errorf("reading the copy: %v", w)
	}
	idbs := pcapngBlocks(t, buf.Bytes(), blockIDB)
	if len(idbs) != 3 || !bytes.Contains(idbs[1], []byte("down0")) || !bytes.Contains(idbs[2], []byte("wg0")) {
		t.Errorf("interface descriptions %q; want fake0, down0, wg0", idbs)
	}
	if n := len(pcapngBlocks(t, buf.Bytes(), blockISB)); n != 3 {
		t.Errorf("%d interface statistics blocks; want 3", n)
	}
}

func TestLiveSourceAnyExcludesLateInterfaces(t *testing.T) {
	w := newFakeWatcher(up(1, "fake0"))
	s, _, notices := watchedSource(t, LiveOptions{Exclude: []string{"vpn0"}}, w)
	// One listing has both: vpn0 would be opened with tun0.
	w.set(up(1, "fake0"), up(2, "vpn0"), up(3, "tun0"))
	drive(t, s, "tun0 to be opened", func() bool { return len(w.opened(3)) == 1 })
	if len(w.opened(2)) != 0 || strings.Join(s.Interfaces(), ",") != "fake0,tun0" {
		t.Errorf("captures on %v; want fake0,tun0 (vpn0 excluded)", s.Interfaces())
	}
	if len(*notices) != 1 || strings.Contains((*notices)[0], "vpn0") {
		t.Errorf("notices %q; want tun0's only", *notices)
	}
}

func TestLiveSourceAnyInterfaceComesBack(t *testing.T) {
	w := newFakeWatcher(up(1, "fake0"))
	s, _, notices := watchedSource(t, LiveOptions{}, w)
	w.set(up(1, "fake0"), up(5, "wg0"), up(6, "eth1"))
	drive(t, s, "wg0 and eth1 to be opened", func() bool { return len(w.opened(5)) == 1 && len(w.opened(6)) == 1 })

	// eth1 flaps: down, then up with the same ifindex. It is the same
	// interface, captured again, its counters going on.
	eth1 := w.opened(6)[0]
	eth1.send("one")
	if rec, err := nextWithin(t, s, time.Second); err != nil || rec.Interface != 2 {
		t.Fatalf("Next = %+v, %v", rec, err)
	}
	eth1.drops.Store(2)
	eth1.pkts <- fakePacket{err: fmt.Errorf("%w: it is down", ErrInterfaceDown)}
	drive(t, s, "eth1 to be opened again", func() bool { return len(w.opened(6)) == 2 })
	w.opened(6)[1].send("two")
	if rec, err := nextWithin(t, s, time.Second); err != nil || rec.Interface != 2 || string(rec.Data) != "two" {
		t.Fatalf("Next = %+v, %v; want eth1's packet on interface 2 still", rec, err)
	}
	if st := s.Stats(); len(st) != 3 || st[2].Name != "eth1" || st[2].Captured != 2 || st[2].Received != 4 || st[2].Dropped != 2 {
		t.Errorf("Stats() = %+v; want eth1 with 2 captured, 4 received, 2 dropped over both sockets", st)
	}

	// wg0 is removed and created again: a new ifindex, a new interface.
	w.set(up(1, "fake0"), up(6, "eth1"))
	w.opened(5)[0].pkts <- fakePacket{err: fmt.Errorf("%w: it was removed", ErrInterfaceDown)}
	drive(t, s, "wg0's capture to end", func() bool { return len(s.Warnings()) == 3 })
	drive(t, s, "a listing without wg0", func() bool { return !s.watch.seen[5] })
	if len(w.opened(5)) != 1 {
		t.Errorf("wg0 removed was opened again")
	}
	w.set(up(1, "fake0"), up(6, "eth1"), up(9, "wg0"))
	drive(t, s, "the new wg0 to be opened", func() bool { return len(w.opened(9)) == 1 })
	if got := strings.Join(s.Interfaces(), ","); got != "fake0,wg0,eth1,wg0#2" {
		t.Errorf("Interfaces() = %s; want fake0,wg0,eth1,wg0#2", got)
	}
	w.opened(9)[0].send("new wg0")
	if rec, err := nextWithin(t, s, time.Second); err != nil || rec.Interface != 3 {
		t.Fatalf("Next = %+v, %v; want the packet on interface 3 (wg0#2)", rec, err)
	}
	want := []string{
		"interface wg0 appeared; capturing it too",
		"interface eth1 appeared; capturing it too",
		"capture on eth1: interface went down or was removed: it is down; capture on it stopped",
		"interface eth1 is up again; capturing it again",
		"capture on wg0: interface went down or was removed: it was removed; capture on it stopped",
		"interface wg0 appeared again (ifindex 9); capturing it too, as wg0#2",
	}
	drive(t, s, "the notices", func() bool { return len(*notices) >= len(want) })
	if !slices.Equal(*notices, want) {
		t.Errorf("notices:\n%s\nwant:\n%s", strings.Join(*notices, "\n"), strings.Join(want, "\n"))
	}
	// The report bounds eth1's gap; what appeared is in its captures.
	var warns []string
	for _, w := range s.Warnings() {
		warns = append(warns, w.Message)
	}
	if !slices.Equal(warns, want[2:5]) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(warns, "\n"), strings.Join(want[2:5], "\n"))
	}
}

// When every interface went away, "any" waits for more, until stopped.
func TestLiveSourceAnyOutlivesItsInterfaces(t *testing.T) {
	w := newFakeWatcher(up(1, "fake0"))
	s, first, _ := watchedSource(t, LiveOptions{}, w)
	first.pkts <- fakePacket{err: fmt.Errorf("%w: it was removed", ErrInterfaceDown)}
	w.set()
	drive(t, s, "fake0's capture to end", func() bool { return first.closed.Load() })
	w.set(up(2, "tun0"))
	drive(t, s, "tun0 to be opened", func() bool { return len(w.opened(2)) == 1 })
	w.opened(2)[0].send("x")
	if rec, err := nextWithin(t, s, time.Second); err != nil || rec.Interface != 1 {
		t.Fatalf("Next = %+v, %v; want tun0's packet", rec, err)
	}
	s.Stop()
	if _, err := nextWithin(t, s, time.Second); err != io.EOF {
		t.Errorf("Next after Stop = %v; want io.EOF", err)
	}
	if !w.opened(2)[0].closed.Load() {
		t.Error("tun0's handle is still open after the capture ended")
	}
}

func TestLiveSourceAnyBound(t *testing.T) {
	ifaces := []net.Interface{up(1, "fake0")}
	for i := 2; i <= MaxAnyInterfaces; i++ {
		ifaces = append(ifaces, up(i, fmt.Sprintf("veth%d", i)))
	}
	w := newFakeWatcher(ifaces[0])
	s, _, notices := watchedSource(t, LiveOptions{}, w)
	w.set(ifaces...)
	drive(t, s, "the veths to be opened", func() bool { return len(s.Interfaces()) == MaxAnyInterfaces })
	w.set(append(ifaces, up(1000, "veth1000"), up(1001, "veth1001"))...)
	drive(t, s, "a warning", func() bool { return len(s.Warnings()) > 0 })
	w.set(append(ifaces, up(1000, "veth1000"), up(1001, "veth1001"), up(1002, "veth1002"))...)
	drive(t, s, "another listing", func() bool { return s.watch.seen[1002] })
	if len(w.opened(1000))+len(w.opened(1001))+len(w.opened(1002)) != 0 || len(s.Interfaces()) != MaxAnyInterfaces {
		t.Errorf("%d interfaces captured; want %d", len(s.Interfaces()), MaxAnyInterfaces)
	}
	warns := s.Warnings()
	wantMsg := fmt.Sprintf(`interface veth1000 and 1 more not captured, nor those that come later: "any" captures on at most %d interfaces`, MaxAnyInterfaces)
	if len(warns) != 1 || !strings.HasPrefix(warns[0].Message, wantMsg) {
		t.Errorf("Warnings() = %+v; want one: %s", warns, wantMsg)
	}
	if last := (*notices)[len(*notices)-1]; !strings.HasPrefix(last, wantMsg) {
		t.Errorf("last notice %q; want the warning", last)
	}
}

func TestLiveSourceAnyOpenFails(t *testing.T) {
	w := newFakeWatcher(up(1, "fake0"))
	w.openErr["odd0"] = errors.New("filter for odd0: no")
	s, _, notices := watchedSource(t, LiveOptions{}, w)
	w.set(up(1, "fake0"), up(2, "odd0"))
	drive(t, s, "a warning", func() bool { return len(s.Warnings()) > 0 })
	w.set(up(1, "fake0"), up(2, "odd0"), up(3, "tun0"))
	drive(t, s, "tun0 to be opened", func() bool { return len(w.opened(3)) == 1 })
	want := []string{"interface odd0 appeared but cannot be captured: filter for odd0: no", "interface tun0 appeared; capturing it too"}
	if !slices.Equal(*notices, want) {
		t.Errorf("notices %q; want %q (odd0 tried once)", *notices, want)
	}
	if got := s.Warnings(); len(got) != 1 || got[0].Message != want[0] {
		t.Errorf("Warnings() = %+v", got)
	}
}

func TestLiveSourceAnyOtherNetns(t *testing.T) {
	w := newFakeWatcher(up(1, "fake0"))
	w.err = errOtherNetns
	s, _, notices := watchedSource(t, LiveOptions{}, w)
	drive(t, s, "a notice", func() bool { return len(*notices) > 0 })
	drive(t, s, "more listings", func() bool { return true })
	if len(*notices) != 1 || !strings.Contains((*notices)[0], "namespace") || len(s.Warnings()) != 0 {
		t.Errorf("notices %q, warnings %v; want one notice about the namespace", *notices, s.Warnings())
	}
}
