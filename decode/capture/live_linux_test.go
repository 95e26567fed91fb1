//go:build linux

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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: live capture needs root (CI runs these tests as root)")
	}
	skipOn32Bit(t)
}

// skipOn32Bit skips a test of live capture, which OpenLive refuses on
// 32-bit systems before checking anything else (TestOpenLiveRefuses32Bit).
func skipOn32Bit(t *testing.T) {
	t.Helper()
	if strconv.IntSize == 32 {
		t.Skip("skipped: live capture is refused on 32-bit systems")
	}
}

// TestOpenLiveRefuses32Bit: on 32-bit Linux OpenLive says why it cannot
// capture instead of panicking on the first poll; elsewhere it goes on
// to open the interface (and fails here only for want of privileges).
func TestOpenLiveRefuses32Bit(t *testing.T) {
	src, err := OpenLive(LiveOptions{Interfaces: []string{"lo"}})
	if err == nil {
		src.Close()
	}
	if strconv.IntSize == 32 {
		if !errors.Is(err, errLive32Bit) {
			t.Fatalf("OpenLive on a 32-bit system: err = %v, want %v", err, errLive32Bit)
		}
		return
	}
	if errors.Is(err, errLive32Bit) {
		t.Fatalf("OpenLive on a %d-bit system refused as 32-bit", strconv.IntSize)
	}
}

// udpPorts returns the ports of an Ethernet-framed IPv4 or IPv6 UDP
// packet; ok is false for anything else (ICMP errors quoting one included).
func udpPorts(frame []byte) (src, dst uint16, payload []byte, ok bool) {
	if len(frame) < 14 {
		return 0, 0, nil, false
	}
	ip := frame[14:]
	var udp []byte
	switch binary.BigEndian.Uint16(frame[12:]) {
	case 0x0800:
		if len(ip) < 20 || ip[9] != 17 {
			return 0, 0, nil, false
		}
		udp = ip[int(ip[0]&0xf)*4:]
	case 0x86dd:
		if len(ip) < 40 || ip[6] != 17 {
			return 0, 0, nil, false
		}
		udp = ip[40:]
	default:
		return 0, 0, nil, false
	}
	if len(udp) < 8 {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint16(udp), binary.BigEndian.Uint16(udp[2:]), udp[8:], true
}

// closedPort returns a UDP port on addr that nothing listens on.
func closedPort(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return port
}

// sendTraffic sends a STUN Binding request and plain datagrams from one
// socket to a closed port and returns the socket's port and the STUN
// transaction ID.
func sendTraffic(t *testing.T, addr string, plain int) (int, [stun.TransactionIDSize]byte) {
	t.Helper()
	dst := &net.UDPAddr{IP: net.ParseIP(addr), Port: closedPort(t, addr)}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(addr)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.WriteToUDP(m.Raw, dst); err != nil {
		t.Fatal(err)
	}
	for i := range plain {
		if _, err := c.WriteToUDP([]byte(fmt.Sprintf("datagram %d", i)), dst); err != nil {
			t.Fatal(err)
		}
	}
	return c.LocalAddr().(*net.UDPAddr).Port, m.TransactionID
}

// collect reads until want packets from port arrived (or 3 s passed), stops
// and reads the rest. It returns every record from port, copied.
func collect(t *testing.T, s *LiveSource, port uint16, want int) []Record {
	t.Helper()
	var got []Record
	stopped := false
	timeout := time.AfterFunc(3*time.Second, s.Stop)
	defer timeout.Stop()
	var lastFrame uint64
	for {
		rec, err := s.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if rec.Frame != lastFrame+1 {
			t.Errorf("frame %d after frame %d", rec.Frame, lastFrame)
		}
		lastFrame = rec.Frame
		if src, _, _, ok := udpPorts(rec.Data); ok && src == port {
			r := *rec
			r.Data = bytes.Clone(rec.Data)
			got = append(got, r)
		}
		if len(got) >= want && !stopped {
			// Wait a little for a duplicate to show, then stop.
			time.AfterFunc(200*time.Millisecond, s.Stop)
			stopped = true
		}
	}
}

func TestLiveLoopbackCapturesEachPacketOnce(t *testing.T) {
	requireRoot(t)
	s, err := OpenLive(LiveOptions{Interfaces: []string{"lo"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	port, id := sendTraffic(t, "127.0.0.1", 3)
	got := collect(t, s, uint16(port), 4)
	if len(got) != 4 {
		t.Fatalf("captured %d packets from port %d; want 4, each once (the outgoing loopback copy suppressed)", len(got), port)
	}
	for _, r := range got {
		if r.LinkType != LinkEthernet || r.Interface != 0 || r.Time.IsZero() {
			t.Errorf("frame %d: link type %d interface %d time %v; want Ethernet, 0, set", r.Frame, r.LinkType, r.Interface, r.Time)
		}
	}
	_, _, payload, _ := udpPorts(got[0].Data)
	var m stun.Message
	if err := stun.Decode(payload, &m); err != nil || m.Type != stun.BindingRequest || m.TransactionID != id {
		t.Errorf("first packet is not the Binding request sent: %v %v", m, err)
	}
	if s.Interfaces()[0] != "lo" {
		t.Errorf("Interfaces() = %v", s.Interfaces())
	}
	st := s.Stats()
	if len(st) != 1 || st[0].Name != "lo" || st[0].Received < 4 || st[0].Captured < 4 || st[0].LinkType != LinkEthernet {
		t.Errorf("Stats() = %+v; want lo with at least 4 received and captured", st)
	}
}

func TestLiveLoopbackIPv6(t *testing.T) {
	requireRoot(t)
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("skipped: no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	s, err := OpenLive(LiveOptions{Interfaces: []string{"lo"}, Snaplen: 70})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	port, _ := sendTraffic(t, "::1", 2)
	got := collect(t, s, uint16(port), 3)
	if len(got) != 3 {
		t.Fatalf("captured %d packets from [::1]:%d; want 3", len(got), port)
	}
	for _, r := range got {
		if len(r.Data) != 70 || r.OrigLen <= 70 {
			t.Errorf("frame %d: %d of %d bytes; want cut to the 70-byte snaplen", r.Frame, len(r.Data), r.OrigLen)
		}
	}
}

func TestLiveWriteIsReadable(t *testing.T) {
	requireRoot(t)
	path := filepath.Join(t.TempDir(), "live.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := OpenLive(LiveOptions{Interfaces: []string{"lo"}, Save: f})
	if err != nil {
		t.Fatal(err)
	}
	port, _ := sendTraffic(t, "127.0.0.1", 2)
	got := collect(t, s, uint16(port), 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	captured := s.Stats()[0].Captured

	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var fromPort []Record
	var n uint64
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if src, _, _, ok := udpPorts(rec.Data); ok && src == uint16(port) {
			c := *rec
			c.Data = bytes.Clone(rec.Data)
			fromPort = append(fromPort, c)
		}
	}
	if n != captured {
		t.Errorf("the file holds %d packets; %d were captured", n, captured)
	}
	if len(fromPort) != len(got) {
		t.Fatalf("the file holds %d packets from port %d; %d were captured", len(fromPort), port, len(got))
	}
	for i := range got {
		if !bytes.Equal(fromPort[i].Data, got[i].Data) || !fromPort[i].Time.Equal(got[i].Time) || fromPort[i].LinkType != LinkEthernet {
			t.Errorf("packet %d differs in the file", i+1)
		}
	}
	if w := r.Warnings(); len(w) != 0 {
		t.Errorf("reading the file: %v", w)
	}

	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark not installed: the file is not checked with it")
		return
	}
	out, err := exec.Command("tshark", "-r", path, "-Y", fmt.Sprintf("udp.srcport == %d && !icmp", port), "-T", "fields", "-e", "frame.interface_name", "-e", "stun.type").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(got) || !strings.HasPrefix(lines[0], "lo\t0x0001") {
		t.Errorf("tshark shows %d packets from port %d (%q); want %d, the first a Binding request on lo", len(lines), port, lines, len(got))
	}
	if _, err := exec.LookPath("capinfos"); err != nil {
		return
	}
	out, err = exec.Command("capinfos", path).CombinedOutput()
	if err != nil {
		t.Fatalf("capinfos: %v\n%s", err, out)
	}
	for _, want := range []string{"Name = lo", "Number of stat entries = 1", fmt.Sprintf("Number of packets = %d", captured)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("capinfos does not say %q:\n%s", want, out)
		}
	}
}

func TestLiveOpenErrors(t *testing.T) {
	skipOn32Bit(t)
	for _, tc := range []struct {
		opts LiveOptions
		want string
	}{
		{LiveOptions{}, "no interface"},
		{LiveOptions{Interfaces: []string{"callscope-nope0"}}, `no interface "callscope-nope0"`},
		{LiveOptions{Interfaces: []string{"lo", "lo"}}, "given twice"},
		{LiveOptions{Interfaces: []string{"any", "lo"}}, "cannot be combined"},
		{LiveOptions{Interfaces: []string{"lo"}, Snaplen: -1}, "snaplen"},
		{LiveOptions{Interfaces: []string{"lo"}, RingSize: 4096}, "ring size"},
		{LiveOptions{Interfaces: []string{"lo"}, Filter: func(LinkType, int) ([]bpf.RawInstruction, error) {
			return nil, errors.New("syntax error at \"prot\"")
		}}, `filter for lo: syntax error at "prot"`},
	} {
		s, err := OpenLive(tc.opts)
		if err == nil {
			s.Close()
			if os.Geteuid() != 0 {
				continue
			}
			t.Errorf("OpenLive(%+v) succeeded; want an error with %q", tc.opts, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenLive(%+v) = %v; want %q", tc.opts.Interfaces, err, tc.want)
		}
	}
}

func TestLiveNeedsPrivilege(t *testing.T) {
	skipOn32Bit(t)
	if os.Geteuid() == 0 {
		// Run this test again as nobody, from a copy of the test binary
		// that nobody may execute.
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("skipped: as root this test needs setpriv (util-linux) to run as nobody")
		}
		dir := t.TempDir()
		bin := filepath.Join(dir, "capture.test")
		b, err := os.ReadFile(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
			bin, "-test.run=^TestLiveNeedsPrivilege$", "-test.v").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestLiveNeedsPrivilege") {
			t.Errorf("as nobody: %v\n%s", err, out)
		}
		return
	}
	_, err := OpenLive(LiveOptions{Interfaces: []string{"lo"}})
	if err == nil || !strings.Contains(err.Error(), "CAP_NET_RAW") {
		t.Errorf("OpenLive as a user = %v; want an error that names CAP_NET_RAW", err)
	}
}

// inNetns runs fn on a thread in the network namespace name: sockets fn
// opens stay in it.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer unix.Close(orig)
	ns, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer unix.Close(ns)
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		// A thread that cannot go back stays locked and dies with the
		// goroutine rather than serve others in the wrong namespace.
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	fn()
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newBareNetns makes a network namespace with lo up, removed when the test
// ends.
func newBareNetns(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: the ip command (iproute2) is not installed")
	}
	name := fmt.Sprintf("callscope-test-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	ip(t, "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ip(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// newNetns makes a network namespace with lo up and a veth pair cs0/cs1,
// both up, removed when the test ends.
func newNetns(t *testing.T) string {
	t.Helper()
	name := newBareNetns(t)
	ip(t, "-n", name, "link", "add", "cs0", "type", "veth", "peer", "name", "cs1")
	ip(t, "-n", name, "link", "set", "cs0", "up")
	ip(t, "-n", name, "link", "set", "cs1", "up")
	return name
}

func TestLiveInterfaceGoesAway(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name   string
		action []string
		want   string
	}{
		{"down", []string{"link", "set", "cs0", "down"}, "cs0: interface went down or was removed: it is down"},
		// Deleting a veth takes it down first, and the reason may not be
		// readable any more by the time the reader asks: any of the three
		// answers is right.
		{"removed", []string{"link", "del", "cs0"}, "cs0: interface went down or was removed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNetns(t)
			var s *LiveSource
			var err error
			inNetns(t, ns, func() { s, err = OpenLive(LiveOptions{Interfaces: []string{"cs0", "lo"}}) })
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Files(); got[0].LinkTypes[0] != LinkEthernet {
				t.Errorf("veth link type %v; want Ethernet", got[0].LinkTypes)
			}
			ip(t, append([]string{"-n", ns}, tc.action...)...)
			done := make(chan error, 1)
			go func() {
				for {
					if _, err := s.Next(); err != nil {
						done <- err
						return
					}
				}
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrInterfaceDown) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Next = %v; want %q", err, tc.want)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the capture did not end within 3 s of the interface going away")
			}
		})
	}
}

func TestLiveAnyInterface(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t)
	var s *LiveSource
	var err error
	inNetns(t, ns, func() {
		s, err = OpenLive(LiveOptions{Interfaces: []string{AnyInterface}, Exclude: []string{"cs1"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := strings.Join(s.Interfaces(), ","); got != "lo,cs0" {
		t.Fatalf("any captures on %s; want lo,cs0 (cs1 excluded)", got)
	}
	var port int
	inNetns(t, ns, func() { port, _ = sendTraffic(t, "127.0.0.1", 1) })

	// An interface of "any" that goes away costs its packets, not the
	// capture.
	ip(t, "-n", ns, "link", "del", "cs0")
	deadline := time.Now().Add(3 * time.Second)
	for len(s.Warnings()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := collect(t, s, uint16(port), 2)
	if len(got) != 2 {
		t.Fatalf("captured %d packets from port %d; want 2, once each", len(got), port)
	}
	for _, r := range got {
		if r.Interface != 0 {
			t.Errorf("frame %d on interface %d; want 0 (lo)", r.Frame, r.Interface)
		}
	}
	w := s.Warnings()
	if len(w) != 1 || !strings.Contains(w[0].Message, "cs0") || !strings.Contains(w[0].Message, "removed") {
		t.Errorf("Warnings() = %+v; want one saying cs0 was removed", w)
	}
}

// addVeth creates a veth name in ns with address addr/24, its peer in
// peerNS with the next address, both up: a container's link, as seen from
// the host.
func addVeth(t *testing.T, ns, name, addr, peerNS string) {
	t.Helper()
	peer := net.ParseIP(addr).To4()
	peer = append(net.IP(nil), peer...)
	peer[3]++
	ip(t, "-n", ns, "link", "add", name, "type", "veth", "peer", "name", name+"p", "netns", peerNS)
	ip(t, "-n", peerNS, "addr", "add", peer.String()+"/24", "dev", name+"p")
	ip(t, "-n", peerNS, "link", "set", name+"p", "up")
	ip(t, "-n", ns, "addr", "add", addr+"/24", "dev", name)
	ip(t, "-n", ns, "link", "set", name, "up")
}

// udpSender sends datagrams from a socket on addr (opened in ns) to port 9
// of the next address of its subnet, every 20 ms, until the test ends; it
// returns the socket's port. Send errors (the interface is down) are
// ignored: the sending goes on.
func udpSender(t *testing.T, ns, addr string) int {
	t.Helper()
	var c *net.UDPConn
	var err error
	inNetns(t, ns, func() { c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr)}) })
	if err != nil {
		t.Fatal(err)
	}
	dst := &net.UDPAddr{IP: net.ParseIP(addr).To4(), Port: 9}
	dst.IP = append(net.IP(nil), dst.IP...)
	dst.IP[3]++
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			c.WriteToUDP([]byte(fmt.Sprintf("datagram %d", i)), dst)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		<-finished
		c.Close()
	})
	return c.LocalAddr().(*net.UDPAddr).Port
}

// liveWatcher reads a live capture in its network namespace, as the
// watch for "any" needs, recording the packets from some ports and the
// notices.
type liveWatcher struct {
	t       *testing.T
	s       *LiveSource
	ports   map[uint16]bool
	got     []Record // from ports, copied
	notices []string
}

// until reads until cond holds, failing the test after 10 s.
func (lw *liveWatcher) until(what string, cond func() bool) {
	lw.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			lw.t.Fatalf("still waiting after 10 s for %s; captured on %v, notices %q", what, lw.s.Interfaces(), lw.notices)
		}
		if !lw.read() {
			lw.t.Fatalf("the capture ended while waiting for %s", what)
		}
	}
}

// read reads one packet or waits 50 ms; it tells whether the capture
// goes on.
func (lw *liveWatcher) read() bool {
	lw.t.Helper()
	rec, err := lw.s.NextWithin(50 * time.Millisecond)
	switch {
	case err == ErrIdle:
		return true
	case err == io.EOF:
		return false
	case err != nil:
		lw.t.Fatalf("Next: %v", err)
	}
	if src, _, _, ok := udpPorts(rec.Data); ok && lw.ports[src] {
		r := *rec
		r.Data = bytes.Clone(rec.Data)
		lw.got = append(lw.got, r)
	}
	return true
}

// from counts the packets captured from port on the interface named name.
func (lw *liveWatcher) from(port int, name string) int {
	names := lw.s.Interfaces()
	n := 0
	for _, r := range lw.got {
		if src, _, _, _ := udpPorts(r.Data); int(src) == port && names[r.Interface] == name {
			n++
		}
	}
	return n
}

func (lw *liveWatcher) noticed(msg string) bool { return slices.Contains(lw.notices, msg) }

// TestLiveAnyFollowsNewInterfaces starts "any" in a namespace with lo only
// and creates an interface after the start; it goes down and up again,
// then is removed and created again.
func TestLiveAnyFollowsNewInterfaces(t *testing.T) {
	requireRoot(t)
	ns, peers := newBareNetns(t), newBareNetns(t)
	path := filepath.Join(t.TempDir(), "any.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lw := &liveWatcher{t: t, ports: map[uint16]bool{}}
	opts := LiveOptions{Interfaces: []string{AnyInterface}, Save: f, Notify: func(m string) { lw.notices = append(lw.notices, m) }}
	inNetns(t, ns, func() {
		lw.s, err = OpenLive(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer lw.s.Close()
		if got := strings.Join(lw.s.Interfaces(), ","); got != "lo" {
			t.Fatalf("any captures on %s; want lo", got)
		}

		addVeth(t, ns, "csd0", "10.99.0.1", peers)
		port := udpSender(t, ns, "10.99.0.1")
		lw.ports[uint16(port)] = true
		lw.until("3 packets on csd0", func() bool { return lw.from(port, "csd0") >= 3 })
		if !lw.noticed("interface csd0 appeared; capturing it too") {
			t.Errorf("notices %q; want csd0's", lw.notices)
		}

		// Down and up again: the same interface.
		ip(t, "-n", ns, "link", "set", "csd0", "down")
		lw.until("the capture on csd0 to stop", func() bool { return len(lw.s.Warnings()) > 0 })
		ip(t, "-n", ns, "link", "set", "csd0", "up")
		// Packets the ring held when csd0 went down may still come after
		// the warning: count from the notice that the capture reopened.
		lw.until("csd0 captured again", func() bool { return lw.noticed("interface csd0 is up again; capturing it again") })
		again := lw.from(port, "csd0")
		lw.until("more packets on csd0", func() bool { return lw.from(port, "csd0") >= again+3 })
		if w := lw.s.Warnings(); len(w) != 2 || !strings.Contains(w[0].Message, "csd0: interface went down") || !strings.Contains(w[1].Message, "csd0 is up again") {
			t.Errorf("Warnings() = %+v; want csd0's capture stopped, then again", w)
		}

		// Removed and created again: a new ifindex, a new interface.
		ip(t, "-n", ns, "link", "del", "csd0")
		addVeth(t, ns, "csd0", "10.99.1.1", peers)
		port2 := udpSender(t, ns, "10.99.1.1")
		lw.ports[uint16(port2)] = true
		lw.until("3 packets on csd0#2", func() bool { return lw.from(port2, "csd0#2") >= 3 })
		lw.s.Stop()
		for lw.read() {
		}
	})
	s := lw.s
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Interfaces(), ","); got != "lo,csd0,csd0#2" {
		t.Errorf("Interfaces() = %s; want lo,csd0,csd0#2", got)
	}
	for _, r := range lw.got {
		if r.LinkType != LinkEthernet {
			t.Errorf("frame %d: link type %v; want Ethernet", r.Frame, r.LinkType)
		}
	}
	st := s.Stats()
	var captured uint64
	for _, x := range st {
		captured += x.Captured
	}
	if len(st) != 3 || st[1].Name != "csd0" || st[1].Captured < 6 || st[1].Received < st[1].Captured || st[2].Name != "csd0#2" || st[2].Captured < 3 {
		t.Errorf("Stats() = %+v; want csd0 with 6 packets or more over both sockets, csd0#2 with 3 or more", st)
	}
	if files := s.Files(); len(files) != 3 || files[2].Path != "csd0#2" || files[2].LinkTypes[0] != LinkEthernet {
		t.Errorf("Files() = %+v", files)
	}

	// The copy: every packet, on its interface, the new ones described.
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var n uint64
	var fromPorts []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if src, _, _, ok := udpPorts(rec.Data); ok && lw.ports[src] {
			fromPorts = append(fromPorts, Record{Interface: rec.Interface, Data: bytes.Clone(rec.Data), Time: rec.Time})
		}
	}
	if n != captured {
		t.Errorf("the file holds %d packets; %d were captured", n, captured)
	}
	if len(fromPorts) != len(lw.got) {
		t.Fatalf("the file holds %d packets from the senders; %d were captured", len(fromPorts), len(lw.got))
	}
	for i := range lw.got {
		if fromPorts[i].Interface != lw.got[i].Interface || !bytes.Equal(fromPorts[i].Data, lw.got[i].Data) || !fromPorts[i].Time.Equal(lw.got[i].Time) {
			t.Errorf("packet %d differs in the file (interface %d, captured on %d)", i+1, fromPorts[i].Interface, lw.got[i].Interface)
		}
	}
	if w := r.Warnings(); len(w) != 0 {
		t.Errorf("reading the file: %v", w)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	idbs := pcapngBlocks(t, b, blockIDB)
	if len(idbs) != 3 || !bytes.Contains(idbs[0], []byte("lo")) || !bytes.Contains(idbs[1], []byte("csd0")) || !bytes.Contains(idbs[2], []byte("csd0")) {
		t.Errorf("interface descriptions %q; want lo, csd0, csd0", idbs)
	}

	if _, err := exec.LookPath("tshark"); err != nil {
		t.Log("tshark not installed: the file is not checked with it")
		return
	}
	out, err := exec.Command("tshark", "-r", path, "-Y", "udp.dstport == 9 && !icmp", "-T", "fields", "-e", "udp.srcport", "-e", "frame.interface_id", "-e", "frame.interface_name").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	// The same datagrams as fromPorts: those of the senders whose ports
	// the test learnt (a sender may have sent before its port was noted),
	// and not the ICMP port unreachable that quotes one of them (tshark's
	// udp fields match the quoted header too).
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		port, rest, _ := strings.Cut(line, "\t")
		if p, err := strconv.Atoi(port); err == nil && lw.ports[uint16(p)] {
			got = append(got, rest)
		}
	}
	var tsharkSays []string
	for _, r := range fromPorts {
		tsharkSays = append(tsharkSays, fmt.Sprintf("%d\tcsd0", r.Interface))
	}
	if !slices.Equal(got, tsharkSays) {
		t.Errorf("tshark shows the datagrams on %q; want %q", got, tsharkSays)
	}
}

// TestLiveAnyExcludesLateInterfaces: --exclude applies to interfaces that
// appear after the start, and may name one that does not exist yet.
func TestLiveAnyExcludesLateInterfaces(t *testing.T) {
	requireRoot(t)
	ns, peers := newBareNetns(t), newBareNetns(t)
	lw := &liveWatcher{t: t, ports: map[uint16]bool{}}
	opts := LiveOptions{Interfaces: []string{AnyInterface}, Exclude: []string{"csx1"}, Notify: func(m string) { lw.notices = append(lw.notices, m) }}
	var err error
	inNetns(t, ns, func() {
		lw.s, err = OpenLive(opts)
		if err != nil {
			t.Fatal(err)
		}
		defer lw.s.Close()
		// csx1 is up before csx0: the listing that finds csx0 has it.
		addVeth(t, ns, "csx1", "10.98.1.1", peers)
		excluded := udpSender(t, ns, "10.98.1.1")
		addVeth(t, ns, "csx0", "10.98.0.1", peers)
		port := udpSender(t, ns, "10.98.0.1")
		lw.ports[uint16(port)], lw.ports[uint16(excluded)] = true, true
		lw.until("3 packets on csx0", func() bool { return lw.from(port, "csx0") >= 3 })
		lw.s.Stop()
		for lw.read() {
		}
		if got := strings.Join(lw.s.Interfaces(), ","); got != "lo,csx0" {
			t.Errorf("captured on %s; want lo,csx0 (csx1 excluded)", got)
		}
		for _, r := range lw.got {
			if src, _, _, _ := udpPorts(r.Data); int(src) == excluded {
				t.Errorf("frame %d from csx1, excluded, captured on %s", r.Frame, lw.s.Interfaces()[r.Interface])
			}
		}
		if want := []string{"interface csx0 appeared; capturing it too"}; !slices.Equal(lw.notices, want) {
			t.Errorf("notices %q; want %q", lw.notices, want)
		}
	})
}
