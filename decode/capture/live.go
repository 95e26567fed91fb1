package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"
)

// Defaults for LiveOptions.
const (
	DefaultSnaplen = maxCapLen
	// DefaultRingSize is the kernel ring of each interface: at 1 Gbit/s of
	// full-size frames it holds about 130 ms of traffic, a GC pause or a
	// burst of slow analysis, without pinning much memory per interface
	// when "any" opens dozens.
	DefaultRingSize = 16 << 20
)

// AnyInterface captures on every interface that is up, but those in
// LiveOptions.Exclude: those up when the capture starts and those that
// appear or come up while it runs.
const AnyInterface = "any"

// MaxAnyInterfaces bounds the interfaces AnyInterface captures on, those
// up at the start and those that came later together: each has its own
// kernel ring (DefaultRingSize, 16 MiB), and a container host with
// thousands of veths must not pin gigabytes. 64 rings of the default size
// are 1 GiB. Interfaces past the bound are not captured, with a warning;
// interfaces named in LiveOptions.Interfaces are not bounded.
const MaxAnyInterfaces = 64

// ErrInterfaceDown says an interface went down or was removed while being
// captured on. It comes wrapped with the interface's name.
var ErrInterfaceDown = errors.New("interface went down or was removed")

// FilterCompiler compiles the capture filter for one interface: its link
// type decides where the headers are. The program's accepting returns give
// the number of bytes to keep (the snaplen); a filter that cannot be
// compiled must be an error, never a program that accepts everything.
type FilterCompiler func(link LinkType, snaplen int) ([]bpf.RawInstruction, error)

// LiveOptions configure OpenLive.
type LiveOptions struct {
	// Interfaces to capture on, by name; AnyInterface alone for all that
	// are up. Each interface gets its own socket, so that its link type,
	// drop counters and name survive.
	//
	// With AnyInterface, interfaces that appear or come up while the
	// capture runs (a VPN tunnel, a container's veth, a NIC that flapped)
	// are captured too, found within about a second (watchEvery) by the
	// goroutine calling Next, with the same snaplen, ring size and filter:
	// Record.Interface, Interfaces, Files and Stats grow, Save gets an
	// interface description before the interface's first packet, and
	// Notify is told. An interface that went down and comes up again (same
	// ifindex) is captured again as the same interface, its counters added
	// up; one that was removed and created again (a new ifindex) is a new
	// interface, named with "#2", "#3", ... appended. At most
	// MaxAnyInterfaces are captured. The goroutine calling Next must be in
	// the network namespace OpenLive was called in: otherwise, new
	// interfaces are not followed. Interfaces named explicitly are captured
	// as they were at the start, and never reopened.
	Interfaces []string
	// Exclude names interfaces that AnyInterface leaves out, also those
	// that appear later; an excluded name need not exist.
	Exclude []string
	// Snaplen is the most bytes kept of each packet; 0 means DefaultSnaplen.
	Snaplen int
	// Filter, when not nil, compiles the filter attached in the kernel;
	// nil keeps every packet.
	Filter FilterCompiler
	// Count ends the capture after that many packets; 0 for no limit.
	Count uint64
	// Duration ends the capture that long after it started; 0 for none.
	Duration time.Duration
	// RingSize is the kernel ring of each interface in bytes, rounded down
	// to whole 1 MiB blocks; 0 means DefaultRingSize.
	RingSize int
	// Save, when not nil, receives a pcapng copy of every packet Next
	// returns: one interface description per interface (name, link type,
	// snaplen) and, at Close, each interface's statistics (packets
	// received and dropped by the kernel, start and end times). The
	// caller closes Save after Close.
	Save io.Writer
	// Notify, when not nil, is told what AnyInterface's capture changed
	// ("interface wg0 appeared; capturing it too", an interface that went
	// away): one line, without "callscope:" or a newline. It is called by
	// the goroutine calling Next, while Next waits.
	Notify func(message string)
}

// InterfaceStats counts one interface's packets.
type InterfaceStats struct {
	Name     string   `json:"interface"`
	LinkType LinkType `json:"link_type"`
	// Captured counts the packets Next returned.
	Captured uint64 `json:"captured"`
	// Received counts the packets that passed the filter in the kernel,
	// Dropped included (PACKET_STATISTICS tp_packets, libpcap's ps_recv).
	Received uint64 `json:"received"`
	// Dropped counts packets the kernel had to drop because the ring was
	// full (tp_drops, libpcap's ps_drop): loss at the capture point, not
	// on the network.
	Dropped uint64 `json:"dropped"`
	// RingOverruns counts the times the TPACKET_V3 ring was full and froze
	// (tp_freeze_q_cnt); each froze until callscope caught up.
	RingOverruns uint64 `json:"ring_overruns"`
}

// packetHandle is one interface's socket: afpacket on Linux, a fake in
// tests.
type packetHandle interface {
	// read returns the next packet, valid until the next read, or
	// errReadTimeout when none came within the poll interval.
	read() (data []byte, t time.Time, origLen int, err error)
	// stats returns the kernel's counters, cumulative since the open.
	stats() (received, dropped, overruns uint64, err error)
	close()
}

var errReadTimeout = errors.New("capture: read timeout")

// livePoolSize is how many packets wait between the reading goroutines and
// Next. Past it the readers stop reading and the kernel ring fills, so
// that a consumer too slow shows as kernel drops rather than as memory.
const livePoolSize = 256

type livePacket struct {
	iface   int
	time    time.Time
	origLen int
	data    []byte
}

type liveInterface struct {
	// name is the interface's name as reported: ifName, with "#2" etc.
	// appended when an earlier interface of that name was captured.
	name     string
	ifName   string // the kernel's name, written to Save
	index    int    // ifindex; 0 for a fake
	link     LinkType
	explicit bool // named by the user, not expanded from "any"
	opened   time.Time

	captured atomic.Uint64
	first    time.Time // touched by Next only
	last     time.Time

	mu     sync.Mutex // guards below
	h      packetHandle
	closed bool // h is closed: final holds the last counters
	// wentDown says the reader ended because the interface went down or
	// away: if it comes up again, "any" opens it again.
	wentDown bool
	// base counts what sockets closed before h saw (an interface that
	// went down and came up again).
	base  InterfaceStats
	final InterfaceStats
}

// LiveSource captures packets from network interfaces. Next returns them in
// order of arrival, numbered 1, 2, ... as a capture file's frames. Stop and
// Close may be called from any goroutine; Next, Files and Warnings from one
// at a time.
type LiveSource struct {
	opts    LiveOptions
	snaplen int
	started time.Time

	// ifaces only grows, by Next's goroutine (watch), under ifaceMu: Next
	// reads it without the lock, other goroutines with it.
	ifaces  []*liveInterface
	ifaceMu sync.Mutex

	// watch, for AnyInterface, finds the interfaces that appear.
	watch *liveWatch

	packets chan *livePacket // closed when every reader has ended
	free    chan *livePacket
	cur     *livePacket
	rec     Record
	frame   uint64

	stopOnce  sync.Once
	stopCh    chan struct{} // Stop: readers drain up to stopAt, then end
	stopAt    atomic.Int64  // unix nanoseconds
	doneOnce  sync.Once
	done      chan struct{} // Close: readers end now
	readers   sync.WaitGroup
	timer     *time.Timer
	closed    atomic.Bool
	closeErr  error
	closeOnce sync.Once

	mu         sync.Mutex // guards below
	err        error      // why the capture ended, if not asked to
	warnings   []Warning
	suppressed int

	notices []string // for Notify, from the readers

	save      *PcapngWriter
	saveBuf   *bufio.Writer
	saveErr   error
	described int // interface descriptions written to save
}

// newLiveSource starts a reader per interface. The handles are open, their
// filters attached. watch, when not nil, follows the interfaces that
// appear.
func newLiveSource(opts LiveOptions, snaplen int, ifaces []*liveInterface, watch *liveWatch) (*LiveSource, error) {
	s := &LiveSource{
		opts:    opts,
		snaplen: snaplen,
		ifaces:  ifaces,
		started: time.Now(),
		packets: make(chan *livePacket, livePoolSize),
		free:    make(chan *livePacket, livePoolSize),
		stopCh:  make(chan struct{}),
		done:    make(chan struct{}),
		watch:   watch,
	}
	for _, li := range ifaces {
		li.opened = s.started
	}
	for range livePoolSize {
		s.free <- &livePacket{}
	}
	if opts.Save != nil {
		if err := s.startSave(); err != nil {
			for _, li := range ifaces {
				li.h.close()
			}
			if watch != nil {
				watch.tick.Stop()
			}
			return nil, err
		}
	}
	for i, li := range ifaces {
		s.readers.Add(1)
		go s.read(i, li, li.h, s.started)
	}
	if watch != nil {
		watch.start(&s.readers)
	}
	go func() {
		s.readers.Wait()
		close(s.packets)
	}()
	if opts.Duration > 0 {
		s.timer = time.AfterFunc(opts.Duration, s.Stop)
	}
	return s, nil
}

func (s *LiveSource) startSave() error {
	s.saveBuf = bufio.NewWriterSize(s.opts.Save, 256<<10)
	w, err := NewPcapngWriter(s.saveBuf)
	if err != nil {
		return fmt.Errorf("capture: writing the pcapng copy: %w", err)
	}
	s.save = w
	if err := s.describeInterfaces(s.ifaces); err != nil {
		return err
	}
	// The header is out even if the capture ends before the first packet.
	if err := s.saveBuf.Flush(); err != nil {
		return fmt.Errorf("capture: writing the pcapng copy: %w", err)
	}
	return nil
}

// describeInterfaces writes the interface descriptions of ifaces not yet
// described, in order, so that a record's Interface is its pcapng
// interface ID too.
func (s *LiveSource) describeInterfaces(ifaces []*liveInterface) error {
	for _, li := range ifaces[s.described:] {
		if _, err := s.save.AddInterfaceDescription(InterfaceDescription{Name: li.ifName, LinkType: li.link, Snaplen: s.snaplen, TSResol: 9}); err != nil {
			return fmt.Errorf("capture: writing the pcapng copy: %w", err)
		}
		s.described++
	}
	return nil
}

// read moves one interface's packets from h to Next until the capture
// stops. Packets stamped before armed are skipped.
func (s *LiveSource) read(idx int, li *liveInterface, h packetHandle, armed time.Time) {
	defer s.readers.Done()
	defer s.finalStats(li)
	// The socket saw packets before its filter was attached (afpacket
	// binds it first): those have earlier timestamps, and are skipped until
	// the first packet stamped after the socket was ready. The wall-clock
	// bound keeps a clock stepped back from hiding packets for longer.
	filtering := true
	for {
		select {
		case <-s.done:
			return
		default:
		}
		data, t, origLen, err := h.read()
		stopping := s.stopping()
		if errors.Is(err, errReadTimeout) {
			if stopping {
				return
			}
			continue
		}
		if err != nil {
			s.interfaceFailed(li, err)
			return
		}
		if filtering {
			if t.Before(armed) && time.Since(armed) < 2*time.Second {
				continue
			}
			filtering = false
		}
		if stopping && t.UnixNano() > s.stopAt.Load() {
			return
		}
		var p *livePacket
		select {
		case p = <-s.free:
		case <-s.done:
			return
		}
		if len(data) > s.snaplen {
			data = data[:s.snaplen]
		}
		p.iface, p.time, p.origLen = idx, t, max(origLen, len(data))
		// The pool's buffers grow to the largest packet they held, at
		// most the snaplen: livePoolSize × snaplen bounds their memory.
		p.data = append(p.data[:0], data...)
		s.packets <- p // never blocks: there are as many slots as packets
	}
}

// interfaceFailed ends the capture with err when the user named the
// interface; an interface from "any" going away only costs its packets
// until it comes up again.
func (s *LiveSource) interfaceFailed(li *liveInterface, err error) {
	down := errors.Is(err, ErrInterfaceDown)
	err = fmt.Errorf("capture on %s: %w", li.name, err)
	if !li.explicit {
		li.mu.Lock()
		li.wentDown = down
		li.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if li.explicit {
		if s.err == nil {
			s.err = err
		}
		s.Stop()
		return
	}
	s.warnLocked(0, "%v; capture on it stopped", err)
	if s.opts.Notify != nil && len(s.notices) < maxWarnings {
		s.notices = append(s.notices, fmt.Sprintf("%v; capture on it stopped", err))
	}
}

func (s *LiveSource) warnLocked(frame uint64, format string, args ...any) {
	if len(s.warnings) >= maxWarnings {
		s.suppressed++
		return
	}
	s.warnings = append(s.warnings, Warning{Path: "live", Frame: frame, Message: fmt.Sprintf(format, args...)})
}

func (s *LiveSource) stopping() bool {
	select {
	case <-s.stopCh:
		return true
	default:
		return false
	}
}

// Stop ends the capture: what the kernel delivered until now is still
// returned by Next, then io.EOF (or the error that ended the capture).
func (s *LiveSource) Stop() {
	s.stopOnce.Do(func() {
		s.stopAt.Store(time.Now().UnixNano())
		close(s.stopCh)
		if s.watch != nil {
			s.watch.stop(&s.readers)
		}
	})
}

// Next returns the next packet, waiting for it. After Stop, the end of
// Duration or Count packets it returns io.EOF once the packets captured
// until then are read; when an interface named in Interfaces goes down or
// disappears, the error wraps ErrInterfaceDown and names it. The Record
// and its Data are reused by the next call.
func (s *LiveSource) Next() (*Record, error) { return s.next(nil) }

// next is Next, giving up with ErrIdle when timeout fires first (a nil
// timeout never does).
func (s *LiveSource) next(timeout <-chan time.Time) (*Record, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if s.cur != nil {
		s.free <- s.cur
		s.cur = nil
	}
	if s.saveErr != nil {
		return nil, s.saveErr
	}
	if s.opts.Count > 0 && s.frame >= s.opts.Count {
		s.Stop()
		return nil, io.EOF
	}
	var p *livePacket
	var ok bool
	var watchTick <-chan time.Time // nil, never ready, without a watch
	if s.watch != nil {
		watchTick = s.watch.tick.C
	}
	for {
		select {
		case p, ok = <-s.packets:
		case <-timeout:
			return nil, ErrIdle
		case <-watchTick:
			s.watchInterfaces()
			continue
		}
		break
	}
	if !ok {
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	s.cur = p
	s.frame++
	li := s.ifaces[p.iface]
	li.captured.Add(1)
	if li.first.IsZero() || p.time.Before(li.first) {
		li.first = p.time
	}
	if p.time.After(li.last) {
		li.last = p.time
	}
	s.rec = Record{Frame: s.frame, Time: p.time, LinkType: li.link, Interface: p.iface, Data: p.data, OrigLen: p.origLen}
	if s.save != nil {
		if p.iface >= s.described {
			// An interface "any" found since: its description goes
			// before its first packet.
			if err := s.describeInterfaces(s.ifaces); err != nil {
				s.saveErr = err
				s.Stop()
				return nil, s.saveErr
			}
		}
		if err := s.save.writePacket(p.iface, p.time, p.data, p.origLen); err != nil {
			s.saveErr = fmt.Errorf("capture: writing the pcapng copy: %w", err)
			s.Stop()
			return nil, s.saveErr
		}
	}
	return &s.rec, nil
}

// Interfaces names the interfaces captured on; Record.Interface indexes it.
// With AnyInterface it grows as interfaces appear.
func (s *LiveSource) Interfaces() []string {
	ifaces := s.interfaces()
	names := make([]string, len(ifaces))
	for i, li := range ifaces {
		names[i] = li.name
	}
	return names
}

// interfaces returns the interfaces found so far. Elements before its
// length never change: watch only appends.
func (s *LiveSource) interfaces() []*liveInterface {
	s.ifaceMu.Lock()
	defer s.ifaceMu.Unlock()
	return s.ifaces[:len(s.ifaces):len(s.ifaces)]
}

// Files describes each interface as a capture "file": its name as the
// path, format "live", its link type, the packets returned so far and
// their first and last times.
func (s *LiveSource) Files() []FileInfo {
	ifaces := s.interfaces()
	files := make([]FileInfo, len(ifaces))
	for i, li := range ifaces {
		files[i] = FileInfo{Path: li.name, Format: "live", LinkTypes: []LinkType{li.link},
			Packets: li.captured.Load(), First: li.first, Last: li.last}
	}
	return files
}

// Warnings returns what went wrong without ending the capture: an
// interface of "any" that went away, one that could not be captured.
func (s *LiveSource) Warnings() []Warning {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := slices.Clone(s.warnings)
	if s.suppressed > 0 {
		w = append(w, Warning{Path: "live", Message: fmt.Sprintf("%d more warnings not shown", s.suppressed)})
	}
	return w
}

// Stats returns each interface's counters, read from the kernel now
// (while capturing) or when its capture ended. Safe to call from any
// goroutine, also while Next waits.
func (s *LiveSource) Stats() []InterfaceStats {
	ifaces := s.interfaces()
	out := make([]InterfaceStats, len(ifaces))
	for i, li := range ifaces {
		out[i] = li.stats()
	}
	return out
}

func (li *liveInterface) stats() InterfaceStats {
	li.mu.Lock()
	defer li.mu.Unlock()
	if !li.closed {
		li.refreshLocked()
	}
	st := li.final
	st.Captured = li.captured.Load()
	return st
}

// refreshLocked reads the kernel counters; on failure the last ones stay.
func (li *liveInterface) refreshLocked() {
	li.final.Name, li.final.LinkType = li.name, li.link
	if recv, drop, over, err := li.h.stats(); err == nil {
		li.final.Received = li.base.Received + recv
		li.final.Dropped = li.base.Dropped + drop
		li.final.RingOverruns = li.base.RingOverruns + over
	}
}

// finalStats keeps the counters of an interface whose reader ended, and
// closes its socket so that the kernel stops filling its ring.
func (s *LiveSource) finalStats(li *liveInterface) {
	li.mu.Lock()
	defer li.mu.Unlock()
	if li.closed {
		return
	}
	li.refreshLocked()
	li.closed = true
	li.h.close()
}

// Close ends the capture, releases the sockets and, with Save, writes the
// interface statistics and flushes the copy. Packets not yet returned by
// Next are dropped.
func (s *LiveSource) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.timer != nil {
			s.timer.Stop()
		}
		if s.watch != nil {
			s.watch.tick.Stop()
		}
		s.Stop()
		s.doneOnce.Do(func() { close(s.done) })
		s.readers.Wait()
		if s.save != nil && s.saveErr == nil {
			s.closeErr = s.finishSave()
		}
	})
	return s.closeErr
}

func (s *LiveSource) finishSave() error {
	end := time.Now()
	ifaces := s.interfaces()
	// Interfaces found after the last packet are described too, so that
	// the copy lists every interface captured on, with its counters.
	if err := s.describeInterfaces(ifaces); err != nil {
		return err
	}
	for i, li := range ifaces {
		st := li.stats()
		err := s.save.WriteStatistics(i, InterfaceStatistics{
			Time: end, Start: li.opened, End: end,
			Received: st.Received, Dropped: st.Dropped, Delivered: st.Captured, HasCounters: true,
		})
		if err != nil {
			return fmt.Errorf("capture: writing the pcapng copy: %w", err)
		}
	}
	if err := s.saveBuf.Flush(); err != nil {
		return fmt.Errorf("capture: writing the pcapng copy: %w", err)
	}
	return nil
}
