package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/capture/bpf"
	"github.com/callscope/callscope/diagnose"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
	xbpf "golang.org/x/net/bpf"
)

type liveFlags struct {
	analyzeFlags
	interfaces []string
	exclude    []string
	filter     string
	duration   time.Duration
	count      uint64
	snaplen    int
	write      string

	// Engine limits (diagnose.Options), for long runs.
	idleTimeout     time.Duration
	maxStreams      int
	maxCalls        int
	maxTransactions int
	maxAllocations  int
}

// heartbeatEvery is how often a terminal is told the capture is alive.
const heartbeatEvery = 2 * time.Second

func newLiveCommand() *cobra.Command {
	var f liveFlags
	cmd := &cobra.Command{
		Use:   "live -i IFACE [flags]",
		Short: "Capture on network interfaces and diagnose the STUN/TURN, ICE, SIP, media and TLS/DTLS traffic",
		Long: `live captures on the interfaces given with -i (repeatable; "any" for every
interface that is up, less those given with --exclude) until Ctrl-C (SIGINT),
SIGTERM, --duration or --count, and diagnoses the STUN/TURN, ICE, SIP, RTP
media and TLS/DTLS traffic as analyze does: each finding is printed as soon
as it is certain, and the same report as analyze's follows at the end.

With "any", interfaces that appear or come up later (a VPN tunnel, a
container's veth, a NIC that flapped) are captured too, within about a
second, each announced on standard error; --exclude leaves those out too (the
name need not exist yet). "any" takes at most ` + strconv.Itoa(capture.MaxAnyInterfaces) + ` interfaces (a 16 MiB
kernel ring each); past that, a warning.

The capture filter (--filter) uses tcpdump's syntax for host, net, port,
portrange, src/dst, udp/tcp/icmp/icmp6, ip/ip6, vlan, and/or/not and
parentheses; it runs in the kernel. Without it, callscope keeps
"` + bpf.DefaultFilter + `", on Ethernet also inside an 802.1Q VLAN tag.
On loopback each packet is captured once (the copy the kernel shows leaving
is dropped). --write saves what was captured as pcapng, with the interface
names and the kernel's drop counts; "callscope analyze" and Wireshark read it.

Live capture needs root or the CAP_NET_RAW capability
(sudo setcap cap_net_raw+ep $(command -v callscope)). The report and exit
status are analyze's (see "callscope analyze --help"); packets the kernel
dropped because callscope fell behind are counted on standard error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return live(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.interfaces, "interface", "i", nil, `interface to capture on (repeatable); "any" for all that are up, and those that come up later`)
	fl.StringArrayVar(&f.exclude, "exclude", nil, `interface that "any" leaves out, now or when it appears (repeatable)`)
	fl.StringVar(&f.filter, "filter", bpf.DefaultFilter, "capture filter, tcpdump syntax")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (e.g. 30s, 5m); 0 until interrupted")
	fl.Uint64Var(&f.count, "count", 0, "stop after this many packets; 0 for no limit")
	fl.IntVar(&f.snaplen, "snaplen", capture.DefaultSnaplen, "bytes kept of each packet")
	fl.StringVar(&f.write, "write", "", "save the captured packets to this pcapng file")
	fl.DurationVar(&f.idleTimeout, "idle-timeout", diagnose.DefaultIdleTimeout, "summarize and forget calls, allocations and RTP streams ended or idle this long")
	fl.IntVar(&f.maxStreams, "max-streams", diagnose.MaxStreams, "most RTP streams tracked; later ones are counted, not analyzed")
	fl.IntVar(&f.maxCalls, "max-calls", diagnose.MaxCalls, "most SIP calls kept")
	fl.IntVar(&f.maxTransactions, "max-transactions", diagnose.MaxTransactions, "most STUN transactions kept")
	fl.IntVar(&f.maxAllocations, "max-allocations", diagnose.MaxAllocations, "most TURN allocations kept")
	f.register(fl)
	cmd.MarkFlagRequired("interface")
	return cmd
}

// liveFilter is the capture filter for an interface of that link type: the
// one given with --filter as written, or else the default for the link,
// which on Ethernet also keeps the traffic inside an 802.1Q tag (see
// bpf.DefaultFilterFor).
func liveFilter(expr string, given bool, link capture.LinkType) string {
	if given {
		return expr
	}
	return bpf.DefaultFilterFor(link)
}

func live(cmd *cobra.Command, f *liveFlags) error {
	rs, err := f.resolve()
	if err != nil {
		return err
	}
	if f.duration < 0 {
		return fmt.Errorf("--duration %v: want a positive duration", f.duration)
	}
	if f.snaplen < 1 || f.snaplen > capture.DefaultSnaplen {
		return fmt.Errorf("--snaplen %d: want 1 to %d", f.snaplen, capture.DefaultSnaplen)
	}
	if f.idleTimeout <= 0 {
		return fmt.Errorf("--idle-timeout %v: want a positive duration", f.idleTimeout)
	}
	for _, l := range []struct {
		name string
		v    int
	}{{"--max-streams", f.maxStreams}, {"--max-calls", f.maxCalls}, {"--max-transactions", f.maxTransactions}, {"--max-allocations", f.maxAllocations}} {
		if l.v < 1 {
			return fmt.Errorf("%s %d: want 1 or more", l.name, l.v)
		}
	}
	rs.options.IdleTimeout = f.idleTimeout
	rs.options.MaxStreams = f.maxStreams
	rs.options.MaxCalls = f.maxCalls
	rs.options.MaxTransactions = f.maxTransactions
	rs.options.MaxAllocations = f.maxAllocations
	expr := f.filter
	filterGiven := cmd.Flags().Changed("filter")
	// Check the filter once before opening anything, so that a typo is
	// one message rather than one per interface.
	if _, err := bpf.Compile(expr, capture.LinkEthernet, f.snaplen); err != nil {
		return fmt.Errorf("--filter: %w", err)
	}
	opts := capture.LiveOptions{
		Interfaces: f.interfaces,
		Exclude:    f.exclude,
		Snaplen:    f.snaplen,
		Count:      f.count,
		Duration:   f.duration,
		Filter: func(link capture.LinkType, snaplen int) ([]xbpf.RawInstruction, error) {
			return bpf.Compile(liveFilter(expr, filterGiven, link), link, snaplen)
		},
	}
	stderr := cmd.ErrOrStderr()
	// Interfaces that "any" finds later are told about between packets,
	// on their own line even while the heartbeat rewrites its line.
	notices := &heartbeatSafe{w: stderr, clear: isTerminal(stderr)}
	opts.Notify = func(msg string) { fmt.Fprintf(notices, "callscope: %s\n", msg) }
	var save *os.File
	if f.write != "" {
		save, err = os.Create(f.write)
		if err != nil {
			return fmt.Errorf("--write: %w", err)
		}
		opts.Save = save
	}
	src, err := capture.OpenLive(opts)
	if err != nil {
		if save != nil {
			save.Close()
			os.Remove(f.write)
		}
		return err
	}

	// The first SIGINT or SIGTERM ends the capture and prints the report;
	// a second one, with the default handling restored, kills.
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	go func() {
		<-ctx.Done()
		stopSignals()
		src.Stop()
	}()

	var packets atomic.Uint64
	if isTerminal(stderr) {
		stopBeat := heartbeat(stderr, src, &packets)
		defer stopBeat()
	}
	if filterGiven {
		fmt.Fprintf(stderr, "callscope: capturing on %s (filter %q)\n", strings.Join(src.Interfaces(), ", "), expr)
	} else {
		fmt.Fprintf(stderr, "callscope: capturing on %s (filter %q, on Ethernet also inside a VLAN tag)\n", strings.Join(src.Interfaces(), ", "), expr)
	}
	// Findings go out as they become certain (text lines or jsonl
	// records); the report follows at the end.
	so := diagnose.StreamOptions{OnRecord: func(*capture.Record) { packets.Add(1) }}
	if rs.format != "json" {
		rs.stream = newFindingStream(&heartbeatSafe{w: cmd.OutOrStdout(), clear: isTerminal(stderr) && sameTerminal(cmd.OutOrStdout(), stderr)}, rs.format, rs.useColor)
		so.OnFinding = rs.stream.write
	}
	analysis, findings, readErr := diagnose.StreamSource(src, rs.options, rs.rules, so)
	stopSignals()
	closeErr := src.Close()
	if save != nil {
		if err := save.Close(); err != nil && closeErr == nil {
			closeErr = fmt.Errorf("--write: %w", err)
		}
	}
	printDrops(stderr, src.Stats())
	if readErr == nil {
		readErr = closeErr
	}
	if rs.format == "text" && len(rs.stream.written) > 0 {
		fmt.Fprintln(cmd.OutOrStdout())
	}
	return rs.write(cmd, analysis, findings, readErr)
}

// heartbeat rewrites one status line on the terminal until stopped.
func heartbeat(w io.Writer, src *capture.LiveSource, packets *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				var dropped uint64
				for _, st := range src.Stats() {
					dropped += st.Dropped
				}
				fmt.Fprintf(w, "\r\033[Kcapturing for %s: %d packets, %d dropped by the kernel (Ctrl-C for the report)",
					now.Sub(start).Round(time.Second), packets.Load(), dropped)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// printDrops says, as tcpdump does at the end, what each interface
// captured and what the kernel dropped: loss that happened here, not on
// the network.
func printDrops(w io.Writer, stats []capture.InterfaceStats) {
	for _, st := range stats {
		msg := fmt.Sprintf("callscope: %s: %d packets captured, %d received by filter, %d dropped by kernel", st.Name, st.Captured, st.Received, st.Dropped)
		if st.RingOverruns > 0 {
			msg += fmt.Sprintf(" (ring full %d times)", st.RingOverruns)
		}
		fmt.Fprintln(w, msg)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// heartbeatSafe writes finding lines where the heartbeat rewrites its
// status line: on a shared terminal the line is cleared first, so that a
// finding never lands after the status text.
type heartbeatSafe struct {
	w     io.Writer
	clear bool
}

func (h *heartbeatSafe) Write(p []byte) (int, error) {
	if h.clear {
		if _, err := io.WriteString(h.w, "\r\033[K"); err != nil {
			return 0, err
		}
	}
	return h.w.Write(p)
}

// sameTerminal tells whether two writers are files on one terminal.
func sameTerminal(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	return ok1 && ok2 && isatty.IsTerminal(fa.Fd()) && isatty.IsTerminal(fb.Fd())
}
