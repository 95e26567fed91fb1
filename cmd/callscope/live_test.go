//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/capture/bpf"
	"github.com/callscope/callscope/diagnose"
	"github.com/pion/stun/v3"
	xbpf "golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// syncBuffer is a bytes.Buffer the test reads while the command writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: live capture needs root (CI runs these tests as root)")
	}
	skipOn32Bit(t)
}

// skipOn32Bit skips a test of live capture, which is refused on 32-bit
// systems before anything else is checked (capture.OpenLive).
func skipOn32Bit(t *testing.T) {
	t.Helper()
	if strconv.IntSize == 32 {
		t.Skip("skipped: live capture is refused on 32-bit systems")
	}
}

// startLive runs callscope with args in the background once the capture
// is on; wait returns the exit code and output.
func startLive(t *testing.T, args ...string) (wait func() cliResult) {
	t.Helper()
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(args, &stdout, stderr) }()
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(stderr.String(), "capturing on") {
		select {
		case code := <-done:
			t.Fatalf("callscope %s ended (exit %d) before capturing:\n%s", strings.Join(args, " "), code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("callscope %s: capture not started within 3 s:\n%s", strings.Join(args, " "), stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return func() cliResult {
		select {
		case code := <-done:
			return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: code}
		case <-time.After(10 * time.Second):
			t.Fatalf("callscope %s did not end", strings.Join(args, " "))
			return cliResult{}
		}
	}
}

// sendBinding sends a STUN Binding request from a new socket to a closed
// port on 127.0.0.1 and returns the socket's address.
func sendBinding(t *testing.T) string {
	t.Helper()
	closed, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dst := closed.LocalAddr().(*net.UDPAddr)
	closed.Close()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
	if _, err := c.WriteToUDP(m.Raw, dst); err != nil {
		t.Fatal(err)
	}
	return c.LocalAddr().String()
}

func bindingFrom(r *diagnose.Report, client string) *diagnose.BindingReport {
	for i := range r.Bindings {
		if r.Bindings[i].Client == client {
			return &r.Bindings[i]
		}
	}
	return nil
}

func TestLiveCommandReportsTheCapturedTraffic(t *testing.T) {
	requireRoot(t)
	saved := filepath.Join(t.TempDir(), "live.pcapng")
	wait := startLive(t, "live", "-i", "lo", "--duration", "2s", "--format", "json", "--write", saved)
	client := sendBinding(t)
	res := wait()
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	var report diagnose.Report
	if err := json.Unmarshal([]byte(res.stdout), &report); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, res.stdout)
	}
	b := bindingFrom(&report, client)
	if b == nil || b.Requests != 1 || b.Unanswered != 1 || b.Transport != "udp" {
		t.Fatalf("report has no unanswered Binding request from %s: %+v", client, report.Bindings)
	}
	if len(report.Captures) != 1 || report.Captures[0].Path != "lo" || report.Captures[0].Format != "live" ||
		strings.Join(report.Captures[0].LinkTypes, ",") != "ethernet" {
		t.Errorf("captures = %+v; want lo, live, ethernet", report.Captures)
	}
	if !strings.Contains(res.stderr, "callscope: lo: ") || !strings.Contains(res.stderr, "dropped by kernel") {
		t.Errorf("stderr does not count the kernel's drops:\n%s", res.stderr)
	}

	// The copy is a capture analyze reads, with the same Binding request.
	saved1, _ := analyzeJSON(t, 0, saved)
	if b := bindingFrom(saved1, client); b == nil || b.Requests != 1 {
		t.Errorf("analyze of the --write file: no Binding request from %s: %+v", client, saved1.Bindings)
	}
	if saved1.Captures[0].Packets != report.Captures[0].Packets {
		t.Errorf("the --write file holds %d packets; %d were captured", saved1.Captures[0].Packets, report.Captures[0].Packets)
	}
}

func TestLiveCommandTextAndCount(t *testing.T) {
	requireRoot(t)
	start := time.Now()
	wait := startLive(t, "live", "-i", "lo", "--count", "1", "--duration", "5s", "--color", "never")
	sendBinding(t)
	res := wait()
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("--count 1 took %v; want the capture to end at the first packet", took)
	}
	if !strings.Contains(res.stdout, "lo (live, ethernet): 1 packet") {
		t.Errorf("text report does not describe the capture on lo:\n%s", res.stdout)
	}
}

func TestLiveCommandUsageErrors(t *testing.T) {
	skipOn32Bit(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"live"}, `"interface" not set`},
		{[]string{"live", "-i", "lo", "--filter", "udp port"}, "--filter:"},
		{[]string{"live", "-i", "lo", "--format", "xml"}, "--format"},
		{[]string{"live", "-i", "lo", "--snaplen", "0"}, "--snaplen"},
		{[]string{"live", "-i", "callscope-nope0"}, `no interface "callscope-nope0"`},
		{[]string{"live", "-i", "lo", "extra"}, "unknown command"},
	} {
		res := runCLI(t, tc.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("callscope %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tc.args, " "), res.code, res.stderr, exitUsage, tc.want)
		}
	}
}

// Without --filter, live keeps UDP inside an 802.1Q tag on Ethernet (a
// mirror port can deliver the tag in the frame); a filter given is used as
// written.
func TestLiveDefaultFilterKeepsVLANTraffic(t *testing.T) {
	// Ethernet, 802.1Q tag (VLAN 100), IPv4, UDP 5000 -> 3478.
	frame := []byte{
		0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x81, 0x00, 0x00, 100, 0x08, 0x00,
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
		0x13, 0x88, 0x0d, 0x96, 0, 8, 0, 0,
	}
	accepts := func(expr string) bool {
		t.Helper()
		raw, err := bpf.Compile(expr, capture.LinkEthernet, 0)
		if err != nil {
			t.Fatalf("%q: %v", expr, err)
		}
		prog, ok := xbpf.Disassemble(raw)
		if !ok {
			t.Fatalf("%q: program does not disassemble", expr)
		}
		vm, err := xbpf.NewVM(prog)
		if err != nil {
			t.Fatal(err)
		}
		n, err := vm.Run(frame)
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	if expr := liveFilter(bpf.DefaultFilter, false, capture.LinkEthernet); !accepts(expr) {
		t.Errorf("default filter %q drops VLAN-tagged UDP", expr)
	}
	if expr := liveFilter("udp", true, capture.LinkEthernet); expr != "udp" || accepts(expr) {
		t.Errorf("--filter udp became %q, or matched inside the tag as tcpdump's does not", expr)
	}
	if got := liveFilter(bpf.DefaultFilter, false, capture.LinkRaw); got != bpf.DefaultFilter {
		t.Errorf("default filter on a raw IP link: %q", got)
	}
}

// newNetns makes a network namespace with lo up, removed when the test
// ends.
func newNetns(t *testing.T, suffix string) string {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: the ip command (iproute2) is not installed")
	}
	name := fmt.Sprintf("callscope-cli-%d-%s", os.Getpid(), suffix)
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
	return name
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// goInNetns runs fn in a new goroutine whose thread is in the network
// namespace ns; the thread ends with it, never to serve another goroutine.
func goInNetns(ns string, fn func(err error)) {
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		fn(err)
	}()
}

// "any" captures on an interface that appears after the start, says so,
// and reports and saves its packets.
func TestLiveCommandAnyFollowsNewInterfaces(t *testing.T) {
	requireRoot(t)
	ns, peers := newNetns(t, "any"), newNetns(t, "peers")
	saved := filepath.Join(t.TempDir(), "any.pcapng")
	args := []string{"live", "-i", "any", "--filter", "udp port 3478", "--count", "3", "--format", "json", "--write", saved}
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	goInNetns(ns, func(err error) {
		if err != nil {
			fmt.Fprintf(stderr, "entering %s: %v", ns, err)
			done <- -1
			return
		}
		done <- run(args, &stdout, stderr)
	})
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(stderr.String(), "capturing on lo ") {
		select {
		case code := <-done:
			t.Fatalf("callscope ended (exit %d) before capturing:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("capture not started within 5 s:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}

	ipCmd(t, "-n", ns, "link", "add", "csv0", "type", "veth", "peer", "name", "csv0p", "netns", peers)
	ipCmd(t, "-n", peers, "addr", "add", "10.97.0.2/24", "dev", "csv0p")
	ipCmd(t, "-n", peers, "link", "set", "csv0p", "up")
	ipCmd(t, "-n", ns, "addr", "add", "10.97.0.1/24", "dev", "csv0")
	ipCmd(t, "-n", ns, "link", "set", "csv0", "up")
	// Binding requests from one socket until the capture has 3: those
	// sent before csv0 was found are not captured.
	conns := make(chan *net.UDPConn, 1)
	goInNetns(ns, func(err error) {
		if err != nil {
			conns <- nil
			return
		}
		c, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 97, 0, 1)})
		conns <- c
	})
	c := <-conns
	if c == nil {
		t.Fatal("no socket in the namespace")
	}
	defer c.Close()
	var code int
	for sending := true; sending; {
		m := stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint)
		c.WriteToUDP(m.Raw, &net.UDPAddr{IP: net.IPv4(10, 97, 0, 2), Port: 3478})
		select {
		case code = <-done:
			sending = false
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("3 packets not captured within 15 s:\n%s", stderr.String())
		}
	}
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"callscope: interface csv0 appeared; capturing it too\n", "callscope: csv0: 3 packets captured"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
	var report diagnose.Report
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout.String())
	}
	client := c.LocalAddr().String()
	if b := bindingFrom(&report, client); b == nil || b.Requests != 3 {
		t.Errorf("report has no 3 Binding requests from %s: %+v", client, report.Bindings)
	}
	if len(report.Captures) != 2 || report.Captures[1].Path != "csv0" || report.Captures[1].Packets != 3 ||
		strings.Join(report.Captures[1].LinkTypes, ",") != "ethernet" {
		t.Errorf("captures = %+v; want lo, then csv0 with 3 packets", report.Captures)
	}
	fromFile, _ := analyzeJSON(t, 0, saved)
	if b := bindingFrom(fromFile, client); b == nil || b.Requests != 3 {
		t.Errorf("analyze of the --write file: no 3 Binding requests from %s: %+v", client, fromFile.Bindings)
	}
}
