package capture

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"
)

// watchEvery is how often AnyInterface looks for interfaces that appeared
// or came up: the first second or so of a new interface's traffic may be
// missed. Listing the interfaces (one netlink dump) costs far less than
// keeping a socket per interface that might come.
const watchEvery = time.Second

// errOtherNetns says the goroutine calling Next is not in the network
// namespace OpenLive was called in: the interfaces it would list and open
// are not the capture's.
var errOtherNetns = errors.New("Next is called from another network namespace than OpenLive")

// interfaceWatcher lists the capture's interfaces and opens one with the
// capture's snaplen, ring and filter: AF_PACKET on Linux, a fake in tests.
type interfaceWatcher interface {
	interfaces() ([]net.Interface, error)
	open(ifc net.Interface) (*liveInterface, error)
}

// liveWatch follows the interfaces for AnyInterface. Next's goroutine
// alone touches it, but mu and held.
type liveWatch struct {
	w       interfaceWatcher
	exclude []string
	tick    *time.Ticker
	// seen holds the ifindexes of the latest listing: an interface up and
	// not in it appeared, one in it came up. next is the listing being
	// made; both stay as big as the host's interfaces.
	seen, next map[int]bool
	// refused holds the ifindexes of interfaces that could not be opened:
	// not tried again while they exist.
	refused     map[int]bool
	capWarned   bool
	netnsWarned bool

	mu sync.Mutex
	// held says the watch counts as a reader of LiveSource.readers, so
	// that the capture goes on, while interfaces may still come, after
	// every interface captured went away. Stop lets go.
	held bool
}

// newLiveWatch follows the interfaces w lists, every every, but those
// excluded; known are the interfaces that existed at the start.
func newLiveWatch(w interfaceWatcher, exclude []string, known []net.Interface, every time.Duration) *liveWatch {
	lw := &liveWatch{w: w, exclude: exclude, tick: time.NewTicker(every),
		seen: map[int]bool{}, next: map[int]bool{}, refused: map[int]bool{}}
	for _, ifc := range known {
		lw.seen[ifc.Index] = true
	}
	return lw
}

// start holds readers until stop.
func (lw *liveWatch) start(readers *sync.WaitGroup) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.held = true
	readers.Add(1)
}

func (lw *liveWatch) stop(readers *sync.WaitGroup) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.held {
		lw.held = false
		readers.Done()
	}
}

// launch runs startReader, which starts one reader, unless the capture was
// stopped: readers may not grow once their count can have reached zero.
func (lw *liveWatch) launch(readers *sync.WaitGroup, startReader func()) bool {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if !lw.held {
		return false
	}
	readers.Add(1)
	startReader()
	return true
}

// watchInterfaces opens the interfaces that appeared or came up since the
// last time, and tells Notify what changed. Next calls it, every
// watchEvery while it waits.
func (s *LiveSource) watchInterfaces() {
	lw := s.watch
	s.deliverNotices()
	if s.stopping() {
		return
	}
	all, err := lw.w.interfaces()
	if err != nil {
		if errors.Is(err, errOtherNetns) && !lw.netnsWarned {
			lw.netnsWarned = true
			s.notify("not following the interfaces that appear: %v", err)
		}
		return
	}
	clear(lw.next)
	overCap, firstOver := 0, ""
	for _, ifc := range all {
		lw.next[ifc.Index] = true
		if ifc.Flags&net.FlagUp == 0 || slices.Contains(lw.exclude, ifc.Name) || lw.refused[ifc.Index] {
			continue
		}
		if idx, li := s.slotOf(ifc.Index); li != nil {
			li.mu.Lock()
			closed, down := li.closed, li.wentDown
			li.mu.Unlock()
			if !closed {
				continue // captured, perhaps renamed since
			}
			if li.ifName == ifc.Name {
				if down {
					s.reopenInterface(idx, li, ifc)
				}
				continue
			}
			// The ifindex of a removed interface, reused: a new one.
		}
		if len(s.ifaces) >= MaxAnyInterfaces {
			if overCap == 0 {
				firstOver = ifc.Name
			}
			overCap++
			continue
		}
		s.addInterface(ifc, lw.seen[ifc.Index])
	}
	for i := range lw.refused {
		if !lw.next[i] {
			delete(lw.refused, i)
		}
	}
	lw.seen, lw.next = lw.next, lw.seen
	if overCap > 0 && !lw.capWarned {
		lw.capWarned = true
		more := ""
		if overCap > 1 {
			more = fmt.Sprintf(" and %d more", overCap-1)
		}
		s.warnAndNotify("interface %s%s not captured, nor those that come later: %q captures on at most %d interfaces (exclude some, or name those wanted)",
			firstOver, more, AnyInterface, MaxAnyInterfaces)
	}
}

// slotOf returns the latest interface captured with that ifindex.
func (s *LiveSource) slotOf(index int) (int, *liveInterface) {
	for i := len(s.ifaces) - 1; i >= 0; i-- {
		if s.ifaces[i].index == index {
			return i, s.ifaces[i]
		}
	}
	return -1, nil
}

// addInterface captures on ifc from now on, as a new interface.
func (s *LiveSource) addInterface(ifc net.Interface, cameUp bool) {
	li, err := s.watch.w.open(ifc)
	if err != nil {
		s.watch.refused[ifc.Index] = true
		s.warnAndNotify("interface %s appeared but cannot be captured: %v", ifc.Name, err)
		return
	}
	li.ifName, li.index = ifc.Name, ifc.Index
	li.name = s.unusedName(ifc.Name)
	li.opened = time.Now()
	h := li.h
	started := s.watch.launch(&s.readers, func() {
		s.ifaceMu.Lock()
		s.ifaces = append(s.ifaces, li)
		idx := len(s.ifaces) - 1
		s.ifaceMu.Unlock()
		go s.read(idx, li, h, li.opened)
	})
	if !started {
		h.close()
		return
	}
	switch {
	case li.name != ifc.Name:
		s.notify("interface %s appeared again (ifindex %d); capturing it too, as %s", ifc.Name, ifc.Index, li.name)
	case cameUp:
		s.notify("interface %s came up; capturing it too", ifc.Name)
	default:
		s.notify("interface %s appeared; capturing it too", ifc.Name)
	}
}

// unusedName is name, or name#2, name#3, ... when an interface already
// captured has it: reports and drop counts go by name.
func (s *LiveSource) unusedName(name string) string {
	used := func(n string) bool {
		return slices.ContainsFunc(s.ifaces, func(li *liveInterface) bool { return li.name == n })
	}
	if !used(name) {
		return name
	}
	for n := 2; ; n++ {
		if c := fmt.Sprintf("%s#%d", name, n); !used(c) {
			return c
		}
	}
}

// reopenInterface captures again on an interface that went down and came
// up: the same interface, its counters going on from where they were.
func (s *LiveSource) reopenInterface(idx int, li *liveInterface, ifc net.Interface) {
	nl, err := s.watch.w.open(ifc)
	if err != nil {
		li.mu.Lock()
		li.wentDown = false // not tried again
		li.mu.Unlock()
		s.warnAndNotify("interface %s is up again but cannot be captured: %v", li.name, err)
		return
	}
	armed := time.Now()
	li.mu.Lock()
	li.base.Received, li.base.Dropped, li.base.RingOverruns = li.final.Received, li.final.Dropped, li.final.RingOverruns
	li.h, li.closed, li.wentDown = nl.h, false, false
	li.mu.Unlock()
	if !s.watch.launch(&s.readers, func() { go s.read(idx, li, nl.h, armed) }) {
		s.finalStats(li)
		return
	}
	// A warning as the stop was, so that the report bounds the gap.
	s.warnAndNotify("interface %s is up again; capturing it again", li.name)
}

func (s *LiveSource) warnAndNotify(format string, args ...any) {
	s.mu.Lock()
	s.warnLocked(0, format, args...)
	s.mu.Unlock()
	s.notify(format, args...)
}

func (s *LiveSource) notify(format string, args ...any) {
	if s.opts.Notify != nil {
		s.opts.Notify(fmt.Sprintf(format, args...))
	}
}

// deliverNotices passes the readers' notices to Notify.
func (s *LiveSource) deliverNotices() {
	s.mu.Lock()
	notices := s.notices
	s.notices = nil
	s.mu.Unlock()
	for _, n := range notices {
		s.opts.Notify(n)
	}
}
