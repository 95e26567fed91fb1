//go:build linux

package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// errLive32Bit refuses live capture on 32-bit Linux (386, arm: small
// capture boxes): gopacket's TPacket keeps 64-bit counters that it updates
// atomically at a 4-byte offset, which panics there on the first poll
// (github.com/gopacket/gopacket/issues/133, unfixed in v1.7.7). Files
// captured by tcpdump are analyzed the same on every platform.
var errLive32Bit = errors.New("capture: live capture is not supported on 32-bit systems (gopacket issue 133); capture with tcpdump -i IFACE -w FILE and run callscope analyze FILE")

const (
	// ringBlockSize holds a packet of the largest snaplen many times over:
	// TPACKET_V3 cuts a packet to a block.
	ringBlockSize = 1 << 20
	// ringBlockTimeout is how long the kernel fills a block before handing
	// it over anyway: the latency of a quiet interface.
	ringBlockTimeout = 20 * time.Millisecond
	// pollTimeout bounds how long a reader waits before it looks whether
	// the capture was stopped.
	pollTimeout = 100 * time.Millisecond
)

// ARPHRD_ values (include/uapi/linux/if_arp.h) of the interfaces whose
// frames a SOCK_RAW packet socket returns with an Ethernet header.
const (
	arphrdEther    = 1
	arphrdLoopback = 772 // 14-byte Ethernet header of zero addresses
)

// OpenLive starts capturing on the interfaces with AF_PACKET sockets and
// TPACKET_V3 rings, one per interface, with the filter attached in the
// kernel. It needs root or CAP_NET_RAW.
//
// With AnyInterface it captures on up to MaxAnyInterfaces interfaces that
// are up, and on those that appear or come up later (see
// LiveOptions.Interfaces), each announced to LiveOptions.Notify.
//
// Ethernet and loopback interfaces give LinkEthernet records; others
// (tun, WireGuard, PPP, GRE) give LinkRaw records of the IP packet, the
// link header removed by the kernel (SOCK_DGRAM). On loopback every packet
// passes the capture twice, leaving and arriving; the copy leaving
// (PACKET_OUTGOING) is dropped in the kernel, so each packet is captured
// once, as tcpdump -i lo shows it.
func OpenLive(opts LiveOptions) (*LiveSource, error) {
	if strconv.IntSize == 32 {
		return nil, errLive32Bit
	}
	snaplen := opts.Snaplen
	if snaplen == 0 {
		snaplen = DefaultSnaplen
	}
	if snaplen < 0 || snaplen > maxCapLen {
		return nil, fmt.Errorf("capture: snaplen %d: want 1 to %d", opts.Snaplen, maxCapLen)
	}
	ring := opts.RingSize
	if ring == 0 {
		ring = DefaultRingSize
	}
	if ring < ringBlockSize {
		return nil, fmt.Errorf("capture: ring size %d: want at least %d bytes", opts.RingSize, ringBlockSize)
	}
	targets, known, err := liveTargets(opts.Interfaces, opts.Exclude)
	if err != nil {
		return nil, err
	}
	var opened []*liveInterface
	fail := func(err error) (*LiveSource, error) {
		for _, li := range opened {
			li.h.close()
		}
		return nil, err
	}
	for _, t := range targets {
		li, err := openInterface(t, snaplen, ring/ringBlockSize, opts.Filter)
		if err != nil {
			return fail(err)
		}
		opened = append(opened, li)
	}
	var watch *liveWatch
	if known != nil {
		w := &afpacketWatcher{snaplen: snaplen, blocks: ring / ringBlockSize, filter: opts.Filter}
		w.netns, _ = threadNetns()
		watch = newLiveWatch(w, opts.Exclude, known, watchEvery)
	}
	return newLiveSource(opts, snaplen, opened, watch)
}

// afpacketWatcher lists and opens interfaces for AnyInterface.
type afpacketWatcher struct {
	snaplen, blocks int
	filter          FilterCompiler
	netns           netnsID // the capture's; zero when unknown
}

// netnsID names a network namespace: its nsfs inode.
type netnsID struct{ dev, ino uint64 }

// threadNetns returns the calling thread's network namespace.
func threadNetns() (netnsID, bool) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return netnsID{}, false
	}
	return netnsID{uint64(st.Dev), st.Ino}, true
}

// interfaces lists the interfaces with a netlink socket of the calling
// thread, as an AF_PACKET socket opened by it would see them: so the
// thread must be in the capture's namespace (a process entered another
// one with a locked thread, or another goroutine did).
func (w *afpacketWatcher) interfaces() ([]net.Interface, error) {
	if w.netns != (netnsID{}) {
		if ns, ok := threadNetns(); ok && ns != w.netns {
			return nil, errOtherNetns
		}
	}
	return net.Interfaces()
}

func (w *afpacketWatcher) open(ifc net.Interface) (*liveInterface, error) {
	return openInterface(liveTarget{ifc: ifc}, w.snaplen, w.blocks, w.filter)
}

type liveTarget struct {
	ifc      net.Interface
	explicit bool
}

// liveTargets resolves the interface names. For AnyInterface, known lists
// every interface (down ones included), for the watch to tell the new
// ones; it is nil otherwise.
func liveTargets(names, exclude []string) (targets []liveTarget, known []net.Interface, err error) {
	if len(names) == 0 {
		return nil, nil, errors.New("capture: no interface given")
	}
	if slices.Contains(names, AnyInterface) {
		if len(names) > 1 {
			return nil, nil, fmt.Errorf("capture: interface %q captures on all interfaces and cannot be combined with others", AnyInterface)
		}
		all, err := net.Interfaces()
		if err != nil {
			return nil, nil, fmt.Errorf("capture: listing interfaces: %w", err)
		}
		// An excluded name need not exist: it may be an interface to
		// come (a VPN tunnel).
		for _, ifc := range all {
			if ifc.Flags&net.FlagUp != 0 && !slices.Contains(exclude, ifc.Name) {
				targets = append(targets, liveTarget{ifc: ifc})
			}
		}
		if len(targets) == 0 {
			return nil, nil, errors.New("capture: no interface is up (but those excluded)")
		}
		// Those past the bound are warned about by the watch, which
		// finds them up and not captured.
		targets = targets[:min(len(targets), MaxAnyInterfaces)]
		return targets, all, nil
	}
	for i, name := range names {
		if slices.Contains(names[:i], name) {
			return nil, nil, fmt.Errorf("capture: interface %q given twice", name)
		}
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			all, _ := net.Interfaces()
			return nil, nil, fmt.Errorf("capture: no interface %q (have %s)", name, interfaceNames(all))
		}
		if ifc.Flags&net.FlagUp == 0 {
			return nil, nil, fmt.Errorf("capture: interface %s is down", name)
		}
		targets = append(targets, liveTarget{ifc: *ifc, explicit: true})
	}
	return targets, nil, nil
}

func interfaceNames(all []net.Interface) string {
	if len(all) == 0 {
		return "none"
	}
	names := make([]string, len(all))
	for i, ifc := range all {
		names[i] = ifc.Name
	}
	return strings.Join(names, ", ")
}

// linkOf decides how an interface's packets are read. The ARPHRD type in
// sysfs is trusted only when sysfs describes the same interface (another
// network namespace may have mounted it); failing that, a 6-byte hardware
// address means Ethernet.
func linkOf(ifc net.Interface) (link LinkType, sock afpacket.OptSocketType, loopback bool) {
	hatype := -1
	dir := "/sys/class/net/" + ifc.Name + "/"
	if idx, err := os.ReadFile(dir + "ifindex"); err == nil && strings.TrimSpace(string(idx)) == strconv.Itoa(ifc.Index) {
		if b, err := os.ReadFile(dir + "type"); err == nil {
			if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				hatype = n
			}
		}
	}
	loopback = ifc.Flags&net.FlagLoopback != 0
	ether := hatype == arphrdEther || hatype == arphrdLoopback ||
		(hatype < 0 && (loopback || len(ifc.HardwareAddr) == 6))
	if ether {
		return LinkEthernet, afpacket.SocketRaw, loopback
	}
	return LinkRaw, afpacket.SocketDgram, loopback
}

func openInterface(t liveTarget, snaplen, blocks int, filter FilterCompiler) (*liveInterface, error) {
	name := t.ifc.Name
	link, sock, loopback := linkOf(t.ifc)
	prog := []bpf.RawInstruction{{Op: unix.BPF_RET | unix.BPF_K, K: uint32(snaplen)}}
	if filter != nil {
		p, err := filter(link, snaplen)
		if err != nil {
			return nil, fmt.Errorf("capture: filter for %s: %w", name, err)
		}
		if len(p) == 0 {
			return nil, fmt.Errorf("capture: filter for %s compiled to an empty program", name)
		}
		prog = p
	}
	if loopback {
		prog = append(skipOutgoing(), prog...)
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(name),
		afpacket.TPacketVersion3,
		sock,
		afpacket.OptBlockSize(ringBlockSize),
		afpacket.OptNumBlocks(blocks),
		afpacket.OptBlockTimeout(ringBlockTimeout),
		afpacket.OptPollTimeout(pollTimeout),
		afpacket.OptAddVLANHeader(sock == afpacket.SocketRaw),
	)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("capture on %s: %w: live capture needs root or the CAP_NET_RAW capability (sudo setcap cap_net_raw+ep callscope)", name, err)
		}
		return nil, fmt.Errorf("capture on %s: %w", name, err)
	}
	if err := tp.SetBPF(prog); err != nil {
		tp.Close()
		return nil, fmt.Errorf("capture on %s: attaching the filter: %w", name, err)
	}
	// Any socket answers interface ioctls for its network namespace
	// (net/socket.c sock_do_ioctl); AF_UNIX exists even without IPv4.
	ctl, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		ctl = -1
	}
	return &liveInterface{
		name:     name,
		ifName:   name,
		index:    t.ifc.Index,
		link:     link,
		explicit: t.explicit,
		h:        &afpacketHandle{tp: tp, name: name, index: t.ifc.Index, ctl: ctl},
	}, nil
}

// skipOutgoing is the program prefix that rejects the packets a loopback
// interface shows leaving: each comes back arriving (PACKET_HOST), and
// that copy is kept. The jump offsets of the program after it are
// relative, so it prefixes any program unchanged.
func skipOutgoing() []bpf.RawInstruction {
	raw, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		panic("capture: assembling the loopback prefix: " + err.Error()) // constant program
	}
	return raw
}

// afpacketHandle reads one interface's TPACKET_V3 ring.
type afpacketHandle struct {
	tp    *afpacket.TPacket
	name  string
	index int
	ctl   int // AF_UNIX socket for interface ioctls; -1 when none
}

func (h *afpacketHandle) read() ([]byte, time.Time, int, error) {
	data, ci, err := h.tp.ZeroCopyReadPacketData()
	switch {
	case err == nil:
		return data, ci.Timestamp, ci.Length, nil
	case errors.Is(err, afpacket.ErrTimeout):
		return nil, time.Time{}, 0, errReadTimeout
	case errors.Is(err, unix.EINTR):
		return nil, time.Time{}, 0, errReadTimeout
	case errors.Is(err, afpacket.ErrPoll):
		// The kernel raises an error on a bound packet socket only when
		// its interface goes down or is unregistered (ENETDOWN,
		// net/packet/af_packet.c packet_notifier).
		return nil, time.Time{}, 0, h.whyDown()
	}
	return nil, time.Time{}, 0, err
}

// whyDown tells a removed interface from one that went down. It asks
// through a socket opened with the capture's, so that the answer comes from
// the capture's network namespace even when the calling thread is in
// another.
func (h *afpacketHandle) whyDown() error {
	if h.ctl < 0 {
		return ErrInterfaceDown
	}
	ifr, err := unix.NewIfreq(h.name)
	if err != nil {
		return ErrInterfaceDown
	}
	if err := unix.IoctlIfreq(h.ctl, unix.SIOCGIFINDEX, ifr); err != nil || int(ifr.Uint32()) != h.index {
		return fmt.Errorf("%w: it was removed", ErrInterfaceDown)
	}
	if err := unix.IoctlIfreq(h.ctl, unix.SIOCGIFFLAGS, ifr); err == nil && ifr.Uint16()&unix.IFF_UP == 0 {
		return fmt.Errorf("%w: it is down", ErrInterfaceDown)
	}
	return ErrInterfaceDown
}

func (h *afpacketHandle) stats() (received, dropped, overruns uint64, err error) {
	_, v3, err := h.tp.SocketStats()
	if err != nil {
		return 0, 0, 0, err
	}
	return uint64(v3.Packets()), uint64(v3.Drops()), uint64(v3.QueueFreezes()), nil
}

func (h *afpacketHandle) close() {
	h.tp.Close()
	if h.ctl >= 0 {
		unix.Close(h.ctl)
		h.ctl = -1
	}
}
