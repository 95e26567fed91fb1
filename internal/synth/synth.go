// Package synth generates seeded, realistic VoIP captures for benchmarks
// and end-to-end tests: SIP calls with SDP offers and answers, ICE Binding
// checks, TURN allocations relaying media as ChannelData, and RTP with RTCP
// both ways, with some loss and a mix of DSCP marks.
//
// It is internal and not imported by the product packages: the callscope
// binary carries none of it. cmd/synthcap writes its captures to disk (make
// bench); tests import it directly.
//
// The capture is what a tap beside the TURN server sees: SIP between the two
// user agents, and for a relayed call both legs of the relay (ChannelData
// between client and server, plain UDP between relayed address and peer).
// Frames are built from per-flow header templates, so a media packet costs a
// copy and an IPv4 header checksum; generation runs at several million
// packets a second and uses memory bounded by the calls in progress.
package synth

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/callscope/callscope/decode/capture"
	pionstun "github.com/pion/stun/v3"
)

// Config describes a capture. The same Config gives the same bytes.
type Config struct {
	Seed uint64
	// Packets is the approximate number of packets to write.
	Packets int
	// Concurrent is how many calls are in progress at once, in steady
	// state: it sets the packet rate (about 130 packets/s a call) and with
	// it the capture's duration, not its size.
	Concurrent int
	// CallLength is the mean call duration; calls last 0.5 to 1.5 times it.
	CallLength time.Duration
	// RelayedEvery: every RelayedEvery-th call is relayed through TURN.
	RelayedEvery int
	// Username, Realm and Password are the TURN server's credentials.
	Username, Realm, Password string
}

// DefaultConfig returns the benchmark's config for about n packets.
func DefaultConfig(n int, seed uint64) Config {
	return Config{
		Seed:         seed,
		Packets:      n,
		Concurrent:   300,
		CallLength:   60 * time.Second,
		RelayedEvery: 3,
		Username:     "alice",
		Realm:        "example.org",
		Password:     "s3cret",
	}
}

// Summary says what a capture holds.
type Summary struct {
	Packets, Bytes int // Bytes: captured bytes, link headers included
	Calls, Relayed int
	RTP, RTCP      int // plain and inside ChannelData
	Lost           int // RTP packets the senders sent that the capture lacks
	Start, End     time.Time
}

const (
	frameInterval   = 20 * time.Millisecond
	audioBytes      = 160 // G.711 at 8 kHz, 20 ms
	rtcpInterval    = 5 * time.Second
	consentInterval = 5 * time.Second // RFC 7675 §5.1
	turnPort        = 3478
	sipPort         = 5060
)

// Write writes a classic pcap (Ethernet, microseconds) generated from cfg.
func Write(w io.Writer, cfg Config) (*Summary, error) {
	if cfg.Concurrent <= 0 || cfg.CallLength <= 0 {
		return nil, fmt.Errorf("synth: Concurrent %d and CallLength %v must be positive", cfg.Concurrent, cfg.CallLength)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	pw, err := capture.NewPcapWriter(bw, capture.LinkEthernet, false)
	if err != nil {
		return nil, err
	}
	g := &gen{
		cfg:  cfg,
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x73796e7468)),
		base: captureStart,
		sink: func(at time.Time, _ *flow, frame, _ []byte) error { return pw.WritePacket(at, frame, 0) },
	}
	g.plan()
	if err := g.run(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return &g.sum, nil
}

// captureStart is when every capture begins.
var captureStart = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// sink receives each frame and the UDP payload in it; both are reused
// after the call.
type sink func(at time.Time, f *flow, frame, payload []byte) error

// gen is the scheduler both scenarios share: streams of packets merged in
// time order into one sink.
type gen struct {
	cfg   Config     // the SIP scenario's
	turn  TURNConfig // the TURN scenario's
	rng   *rand.Rand
	base  time.Time
	sink  sink
	queue queue
	seq   int
	ipID  uint16
	frame []byte
	sum   Summary
	exp   *Expected // the TURN scenario's ground truth
}

// packetsPerCall estimates a call's packets: 50 RTP packets a second each
// way, twice that for a relayed call (both legs of the relay).
func (g *gen) packetsPerCall() float64 {
	relayedShare := 0.0
	if g.cfg.RelayedEvery > 0 {
		relayedShare = 1 / float64(g.cfg.RelayedEvery)
	}
	pps := 100 * (1 + relayedShare)
	return pps * g.cfg.CallLength.Seconds()
}

// plan schedules every call: starts spread evenly (with jitter) so that
// about Concurrent calls are up at any time.
func (g *gen) plan() {
	calls := max(1, int(float64(g.cfg.Packets)/g.packetsPerCall()+0.5))
	spacing := g.cfg.CallLength / time.Duration(g.cfg.Concurrent)
	for i := range calls {
		start := time.Duration(i)*spacing + time.Duration(g.rng.Int64N(int64(spacing)+1))
		relayed := g.cfg.RelayedEvery > 0 && i%g.cfg.RelayedEvery == g.cfg.RelayedEvery-1
		g.addCall(i, start, relayed)
	}
	g.sum.Calls = calls
}

func (g *gen) run() error {
	for g.queue.Len() > 0 {
		d := &g.queue[0]
		next, more, err := d.stream.emit(g, d.at)
		if err != nil {
			return err
		}
		if more {
			d.at = next
			heap.Fix(&g.queue, 0)
		} else {
			heap.Pop(&g.queue)
		}
	}
	return nil
}

func (g *gen) schedule(s stream, at time.Duration) {
	g.seq++
	heap.Push(&g.queue, due{at: at, seq: g.seq, stream: s})
}

// write frames payload on flow f and hands it to the sink.
func (g *gen) write(at time.Duration, f *flow, payload []byte) error {
	g.ipID++
	g.frame = f.frame(g.frame[:0], payload, g.ipID)
	if f.tally != nil && len(payload) >= 4 && payload[0]&0xf0 == 0x40 {
		f.tally.Packets++
		f.tally.ChannelData++
		f.tally.Bytes += uint64(binary.BigEndian.Uint16(payload[2:]))
	}
	when := g.base.Add(at)
	if g.sum.Packets == 0 {
		g.sum.Start = when
	}
	g.sum.End = when
	g.sum.Packets++
	g.sum.Bytes += len(g.frame)
	return g.sink(when, f, g.frame, g.frame[len(g.frame)-len(payload):])
}

// stream produces packets in time order.
type stream interface {
	emit(g *gen, at time.Duration) (next time.Duration, more bool, err error)
}

type due struct {
	at     time.Duration
	seq    int // breaks ties, so that output does not depend on heap order
	stream stream
}

type queue []due

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(due)) }
func (q *queue) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}

// script is a fixed list of packets (signalling), emitted in order.
type script struct {
	steps []step
	next  int
}

type step struct {
	at      time.Duration
	f       *flow
	payload []byte
}

func (s *script) add(at time.Duration, f *flow, payload []byte) {
	s.steps = append(s.steps, step{at, f, payload})
}

func (s *script) emit(g *gen, at time.Duration) (time.Duration, bool, error) {
	st := s.steps[s.next]
	s.steps[s.next].payload = nil // written once; let it go
	if err := g.write(at, st.f, st.payload); err != nil {
		return 0, false, err
	}
	s.next++
	if s.next == len(s.steps) {
		return 0, false, nil
	}
	return s.steps[s.next].at, true, nil
}

// scheduleSorted schedules a script whose steps were added out of time
// order; steps at the same time keep the order they were added in.
func (g *gen) scheduleSorted(s *script) {
	slices.SortStableFunc(s.steps, func(a, b step) int { return cmp.Compare(a.at, b.at) })
	g.scheduleScript(s)
}

func (g *gen) scheduleScript(s *script) {
	if len(s.steps) == 0 {
		return
	}
	// Steps are added in time order per call; keep them so.
	for i := 1; i < len(s.steps); i++ {
		if s.steps[i].at < s.steps[i-1].at {
			s.steps[i].at = s.steps[i-1].at
		}
	}
	g.schedule(s, s.steps[0].at)
}

func (g *gen) transactionID() (id [pionstun.TransactionIDSize]byte) {
	binary.BigEndian.PutUint64(id[:], g.rng.Uint64())
	binary.BigEndian.PutUint32(id[8:], g.rng.Uint32())
	return id
}

// stunMessage builds a message with pion/stun and appends FINGERPRINT.
func stunMessage(method pionstun.Method, class pionstun.MessageClass, id [pionstun.TransactionIDSize]byte, attrs ...pionstun.Setter) []byte {
	setters := make([]pionstun.Setter, 0, len(attrs)+3)
	setters = append(setters, pionstun.NewTransactionIDSetter(id), pionstun.NewType(method, class))
	setters = append(setters, attrs...)
	setters = append(setters, pionstun.Fingerprint)
	m, err := pionstun.Build(setters...)
	if err != nil {
		panic(fmt.Sprintf("synth: building %v %v: %v", method, class, err)) // a generator bug
	}
	return m.Raw
}

// xorAddr adds an XOR-encoded address attribute of any type.
type xorAddr struct {
	typ pionstun.AttrType
	ap  netip.AddrPort
}

func (x xorAddr) AddTo(m *pionstun.Message) error {
	return pionstun.XORMappedAddress{IP: x.ap.Addr().AsSlice(), Port: int(x.ap.Port())}.AddToAs(m, x.typ)
}

func lifetime(s uint32) pionstun.Setter {
	return pionstun.RawAttribute{Type: pionstun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, s)}
}

func channelData(channel uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload)+3)
	binary.BigEndian.PutUint16(b, channel)
	binary.BigEndian.PutUint16(b[2:], uint16(len(payload)))
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
