package diagnose

// A seeded generator of realistic STUN/TURN captures for end-to-end tests
// and benchmarks. It lives in a _test.go file so that nothing of it ships
// in the binary; the exported names are for package diagnose_test.
//
// What a capture holds, as seen on a TURN server's interface:
//   - healthy TURN allocations over UDP: Allocate challenged with 401, the
//     authenticated Allocate (MESSAGE-INTEGRITY, FINGERPRINT), CreatePermission,
//     ChannelBind, periodic Refresh, and for most of them a final Refresh with
//     LIFETIME 0; ICE checks with the peer through the channel; 172-byte RTP
//     packets (160 bytes of G.711 audio every 20 ms) as ChannelData between
//     client and server and as plain UDP between relayed address and peer;
//   - direct calls: ICE checks (PRIORITY, USE-CANDIDATE, ICE-CONTROLLING/
//     -CONTROLLED) and RTP straight between two endpoints, with consent
//     freshness checks every 5 s (RFC 7675);
//   - two failures: an Allocate to a dead server retransmitted 7 times
//     (RFC 8489 §6.2.1), and a client whose password is wrong (401 again
//     after the challenge, twice);
//   - DSCP EF (46) or AF41 (34) on media, 0 on signalling and on some media;
//     IPv6 for one allocation in five.
//
// Frames are built by hand from per-flow header templates, so generation
// costs a copy and two checksums per media packet (a million packets take a
// second or two); pion/stun builds the few STUN messages.

import (
	"bufio"
	"cmp"
	"container/heap"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
	pionstun "github.com/pion/stun/v3"
)

var (
	synthOut     = flag.String("synth.out", "", "write a synthetic capture to this file (TestWriteSyntheticCapture)")
	synthPackets = flag.Int("synth.packets", 1_000_000, "approximate number of packets of the -synth.out capture")
	synthSeed    = flag.Uint64("synth.seed", 1, "seed of the -synth.out capture")
)

// SyntheticConfig describes a synthetic capture. The same config gives the
// same bytes.
type SyntheticConfig struct {
	Seed         uint64
	Allocations  int           // healthy TURN allocations, each with one call relayed through it
	DirectCalls  int           // calls with media straight between the endpoints
	Media        time.Duration // mean media duration of a call (each lasts 0.5 to 1.5 times it)
	Span         time.Duration // calls start at random within this long
	RefreshEvery time.Duration // Refresh interval of an allocation; 0: only the final one
	// Username, Realm and Password are the TURN server's credentials.
	Username, Realm, Password string
}

// packets per second of one call's media on a relayed call: ChannelData both
// ways between client and server, plain RTP both ways between relayed
// address and peer.
const (
	synthFrameInterval   = 20 * time.Millisecond
	synthAudioBytes      = 160 // G.711 at 8 kHz, 20 ms
	synthRTPBytes        = 12 + synthAudioBytes
	synthConsentInterval = 5 * time.Second // RFC 7675 §5.1: 4 to 6 s
)

// SyntheticConfigFor returns a config whose capture has about n packets:
// three relayed calls (200 packets/s each) to one direct call (100/s).
func SyntheticConfigFor(n int, seed uint64) SyntheticConfig {
	const media = 10 * time.Second
	perCall := 0.75*200*media.Seconds() + 0.25*100*media.Seconds()
	calls := max(4, int(float64(n)/perCall+0.5))
	allocations := (calls*3 + 3) / 4
	return SyntheticConfig{
		Seed:         seed,
		Allocations:  allocations,
		DirectCalls:  calls - allocations,
		Media:        media,
		Span:         60 * time.Second,
		RefreshEvery: 4 * time.Second,
		Username:     "alice",
		Realm:        "example.org",
		Password:     "s3cret",
	}
}

// SyntheticCapture says what a generated capture holds: the ground truth
// the analysis must find.
type SyntheticCapture struct {
	Packets    int
	Bytes      int // captured bytes, link headers included
	Start, End time.Time
	// Allocations are the healthy allocations, in order of creation.
	Allocations []*SyntheticAllocation
	// AuthenticatedRequests counts the requests that carry MESSAGE-INTEGRITY
	// made with the right password (retransmissions not counted).
	AuthenticatedRequests int
	// DirectCalls are the caller/callee pairs of the direct calls.
	DirectCalls [][2]netip.AddrPort
	// UnmarkedAudio are the source and destination of each audio stream
	// sent with a DSCP other than EF (46): AF41 (34) or none.
	UnmarkedAudio [][2]netip.AddrPort
	// UnansweredClient sent an Allocate to UnansweredServer, which never
	// answered; UnansweredSends is how many times.
	UnansweredClient, UnansweredServer netip.AddrPort
	UnansweredSends                    int
	// WrongPasswordClient was rejected twice with 401 after its challenge.
	WrongPasswordClient netip.AddrPort
	Credential          Credential
}

// SyntheticAllocation is one healthy allocation and what it relayed.
type SyntheticAllocation struct {
	Client, Server, Relayed, Peer netip.AddrPort
	Channel                       uint16
	Outcome                       string // "deleted", or "allocated" for a client that left without deleting
	Refreshes                     int    // Refresh requests, the final one included
	Sent, Received                RelayCounter
}

// WriteSyntheticCapture writes a classic pcap (Ethernet, microseconds)
// generated from cfg.
func WriteSyntheticCapture(w io.Writer, cfg SyntheticConfig) (*SyntheticCapture, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	pw, err := capture.NewPcapWriter(bw, capture.LinkEthernet, false)
	if err != nil {
		return nil, err
	}
	g := newSynthGen(cfg, func(at time.Time, _ *synthFlow, frame, _ []byte) error {
		return pw.WritePacket(at, frame, 0)
	})
	g.addAll()
	if err := g.run(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	return g.out, nil
}

// SyntheticRTPBytes is the size of the generator's RTP packets, which end
// the frames that carry them.
const SyntheticRTPBytes = synthRTPBytes

// SyntheticFrame is one generated frame.
type SyntheticFrame struct {
	Time time.Time
	Data []byte
}

// SyntheticRelayFrames returns one healthy allocation's frames up to its
// first media packet (challenge, Allocate, CreatePermission, ChannelBind,
// ICE checks through the channel), then a ChannelData message the client
// sends with an RTP packet in it, and the same RTP packet as the server
// relays it to the peer: plain UDP, not STUN.
func SyntheticRelayFrames() (setup []SyntheticFrame, channelData, rtp SyntheticFrame, err error) {
	cfg := SyntheticConfigFor(0, 1)
	var flows synthAllocationFlows
	// ChannelData carrying an ICE check has a STUN header (first byte 0
	// or 1) where a media packet has RTP's 0x80.
	isRTP := func(b []byte) bool { return len(b) == synthRTPBytes && b[0] == 0x80 }
	g := newSynthGen(cfg, func(at time.Time, f *synthFlow, frame, payload []byte) error {
		data := SyntheticFrame{at, slices.Clone(frame)}
		switch {
		case f == flows.mediaUp && len(payload) > 4 && isRTP(payload[4:]):
			if channelData.Data == nil {
				channelData = data
			}
		case f == flows.toPeer && isRTP(payload):
			if rtp.Data == nil {
				rtp = data
			}
		case channelData.Data == nil:
			setup = append(setup, data)
		}
		if channelData.Data != nil && rtp.Data != nil {
			return errSynthDone
		}
		return nil
	})
	flows = g.addAllocation(0, 0)
	if err := g.run(); err != nil && err != errSynthDone {
		return nil, channelData, rtp, err
	}
	if channelData.Data == nil || rtp.Data == nil {
		return nil, channelData, rtp, fmt.Errorf("synthetic allocation carried no media")
	}
	return setup, channelData, rtp, nil
}

// TestWriteSyntheticCapture writes a capture for manual runs:
//
//	go test ./diagnose -run TestWriteSyntheticCapture -synth.out=/tmp/synth.pcap -synth.packets=1000000
func TestWriteSyntheticCapture(t *testing.T) {
	if *synthOut == "" {
		t.Skip("no -synth.out")
	}
	f, err := os.Create(*synthOut)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sc, err := WriteSyntheticCapture(f, SyntheticConfigFor(*synthPackets, *synthSeed))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d packets, %d bytes, %d allocations, %s of traffic, generated in %s",
		*synthOut, sc.Packets, sc.Bytes, len(sc.Allocations), sc.End.Sub(sc.Start).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// synthSink receives each frame and the UDP payload in it; both are reused
// after the call.
type synthSink func(at time.Time, f *synthFlow, frame, payload []byte) error

// errSynthDone stops a generator early.
var errSynthDone = errors.New("synthetic capture: done")

type synthGen struct {
	cfg   SyntheticConfig
	rng   *rand.Rand
	base  time.Time
	sink  synthSink
	queue synthQueue
	seq   int
	frame []byte
	ipID  uint16
	out   *SyntheticCapture
}

func newSynthGen(cfg SyntheticConfig, sink synthSink) *synthGen {
	return &synthGen{
		cfg:  cfg,
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x63616c6c73636f70)),
		base: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		sink: sink,
		out: &SyntheticCapture{Credential: Credential{Username: cfg.Username, Password: cfg.Password},
			Allocations: make([]*SyntheticAllocation, 0, cfg.Allocations)},
	}
}

// addAll schedules every call and both failures.
func (g *synthGen) addAll() {
	for i := range g.cfg.Allocations {
		g.addAllocation(i, g.startTime())
	}
	for i := range g.cfg.DirectCalls {
		g.addDirectCall(i, g.startTime())
	}
	g.addUnansweredAllocate(200 * time.Millisecond)
	g.addWrongPassword(g.cfg.Span / 2)
}

func (g *synthGen) startTime() time.Duration {
	return time.Duration(g.rng.Int64N(int64(max(g.cfg.Span, time.Millisecond))))
}

// run writes the scheduled streams' packets in time order.
func (g *synthGen) run() error {
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

func (g *synthGen) schedule(s synthStream, at time.Duration) {
	g.seq++
	heap.Push(&g.queue, synthDue{at: at, seq: g.seq, stream: s})
}

// write frames payload on flow f and hands it to the sink.
func (g *synthGen) write(at time.Duration, f *synthFlow, payload []byte) error {
	g.ipID++
	g.frame = f.frame(g.frame[:0], payload, g.ipID)
	if f.tally != nil && len(payload) >= 4 && payload[0]&0xf0 == 0x40 {
		f.tally.Packets++
		f.tally.ChannelData++
		f.tally.Bytes += uint64(binary.BigEndian.Uint16(payload[2:]))
	}
	when := g.base.Add(at)
	if g.out.Packets == 0 {
		g.out.Start = when
	}
	g.out.End = when
	g.out.Packets++
	g.out.Bytes += len(g.frame)
	return g.sink(when, f, g.frame, payload)
}

// synthStream produces packets in time order.
type synthStream interface {
	// emit writes the packet due at at and says when the next one is due.
	emit(g *synthGen, at time.Duration) (next time.Duration, more bool, err error)
}

// synthDue is a stream waiting in the queue; seq breaks ties so that the
// output does not depend on heap order.
type synthDue struct {
	at     time.Duration
	seq    int
	stream synthStream
}

type synthQueue []synthDue

func (q synthQueue) Len() int { return len(q) }
func (q synthQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q synthQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *synthQueue) Push(x any)   { *q = append(*q, x.(synthDue)) }
func (q *synthQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	*q = old[:len(old)-1]
	return d
}

// synthScript is a session's signalling: packets built in advance.
type synthScript struct {
	events []synthEvent
	next   int
}

type synthEvent struct {
	at      time.Duration
	flow    *synthFlow
	payload []byte
}

func (s *synthScript) add(at time.Duration, f *synthFlow, payload []byte) {
	s.events = append(s.events, synthEvent{at, f, payload})
}

func (g *synthGen) scheduleScript(s *synthScript) {
	if len(s.events) == 0 {
		return
	}
	slices.SortStableFunc(s.events, func(a, b synthEvent) int { return cmp.Compare(a.at, b.at) })
	g.schedule(s, s.events[0].at)
}

func (s *synthScript) emit(g *synthGen, at time.Duration) (time.Duration, bool, error) {
	ev := s.events[s.next]
	s.next++
	if err := g.write(ev.at, ev.flow, ev.payload); err != nil {
		return 0, false, err
	}
	if s.next == len(s.events) {
		return 0, false, nil
	}
	return s.events[s.next].at, true, nil
}

// synthMedia is one direction of an audio stream: an RTP packet every
// 20 ms with up to 1 ms of jitter, inside ChannelData when channel is set.
type synthMedia struct {
	flow  *synthFlow
	start time.Duration
	end   time.Duration
	n     int
	buf   []byte // the UDP payload
	rtp   []byte // its RTP header
}

func (g *synthGen) addMedia(f *synthFlow, start, end time.Duration, channel uint16, ssrc uint32, seq uint16) {
	m := &synthMedia{flow: f, start: start, end: end}
	if f.dscp != synthDSCPEF {
		g.out.UnmarkedAudio = append(g.out.UnmarkedAudio, [2]netip.AddrPort{f.src, f.dst})
	}
	off := 0
	if channel != 0 {
		off = 4
		m.buf = binary.BigEndian.AppendUint16(m.buf, channel)
		m.buf = binary.BigEndian.AppendUint16(m.buf, synthRTPBytes)
	}
	m.buf = append(m.buf, 0x80, 0) // V=2, PT 0 (PCMU)
	m.buf = binary.BigEndian.AppendUint16(m.buf, seq)
	m.buf = binary.BigEndian.AppendUint32(m.buf, uint32(seq)*7)
	m.buf = binary.BigEndian.AppendUint32(m.buf, ssrc)
	for range synthAudioBytes {
		m.buf = append(m.buf, 0xd5^byte(g.rng.IntN(16))) // near-silence in µ-law
	}
	m.rtp = m.buf[off : off+12]
	g.schedule(m, start)
}

func (m *synthMedia) emit(g *synthGen, at time.Duration) (time.Duration, bool, error) {
	if err := g.write(at, m.flow, m.buf); err != nil {
		return 0, false, err
	}
	m.n++
	binary.BigEndian.PutUint16(m.rtp[2:], binary.BigEndian.Uint16(m.rtp[2:])+1)
	binary.BigEndian.PutUint32(m.rtp[4:], binary.BigEndian.Uint32(m.rtp[4:])+synthAudioBytes)
	next := m.start + time.Duration(m.n)*synthFrameInterval + time.Duration(g.rng.IntN(1000))*time.Microsecond
	return next, next < m.end, nil
}

// synthAllocationFlows are the flows of one relayed call.
type synthAllocationFlows struct {
	up, down           *synthFlow // signalling between client and server
	mediaUp, mediaDown *synthFlow // ChannelData between client and server
	toPeer, fromPeer   *synthFlow // between relayed address and peer
}

// addAllocation schedules healthy allocation i, starting at start.
func (g *synthGen) addAllocation(i int, start time.Duration) synthAllocationFlows {
	cfg := g.cfg
	n := i + 1
	v6 := i%5 == 4
	var client, server, relayed, peer netip.AddrPort
	relayPort := uint16(49152 + i%16384)
	if v6 {
		client = netip.AddrPortFrom(synthAddr6(0xc, n), uint16(40000+g.rng.IntN(20000)))
		server = netip.MustParseAddrPort("[2001:db8:5e::1]:3478")
		relayed = netip.AddrPortFrom(synthAddr6(0x5e, 1+i/16384), relayPort)
		peer = netip.AddrPortFrom(synthAddr6(0xe, n), uint16(20000+g.rng.IntN(40000)))
	} else {
		client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), uint16(40000+g.rng.IntN(20000)))
		server = netip.MustParseAddrPort("192.0.2.1:3478")
		relayed = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i/16384)}), relayPort)
		peer = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(100 + n/254%2), byte(1 + n%254)}), uint16(20000+g.rng.IntN(40000)))
	}
	channel := uint16(0x4000 + g.rng.IntN(0x100))
	dscp := synthDSCP[g.rng.IntN(len(synthDSCP))]
	rtt := time.Duration(10+g.rng.IntN(70)) * time.Millisecond
	peerRTT := time.Duration(20+g.rng.IntN(100)) * time.Millisecond
	abandon := i%4 == 3

	a := &SyntheticAllocation{Client: client, Server: server, Relayed: relayed, Peer: peer, Channel: channel, Outcome: "deleted"}
	if abandon {
		a.Outcome = "allocated"
	}
	g.out.Allocations = append(g.out.Allocations, a)
	fl := synthAllocationFlows{
		up: newSynthFlow(client, server, 0), down: newSynthFlow(server, client, 0),
		mediaUp: newSynthFlow(client, server, dscp), mediaDown: newSynthFlow(server, client, dscp),
		toPeer: newSynthFlow(relayed, peer, dscp), fromPeer: newSynthFlow(peer, relayed, dscp),
	}
	fl.mediaUp.tally, fl.mediaDown.tally = &a.Sent, &a.Received

	s := &synthScript{}
	nonce := g.nonce()
	auth := func() []pionstun.Setter {
		g.out.AuthenticatedRequests++
		return []pionstun.Setter{pionstun.NewUsername(cfg.Username), pionstun.NewRealm(cfg.Realm), pionstun.NewNonce(nonce),
			pionstun.NewLongTermIntegrity(cfg.Username, cfg.Realm, cfg.Password)}
	}
	respAuth := pionstun.NewLongTermIntegrity(cfg.Username, cfg.Realm, cfg.Password)
	t := start
	exchange := func(req, resp []byte) {
		s.add(t, fl.up, req)
		t += rtt
		s.add(t, fl.down, resp)
		t += 2 * time.Millisecond
	}

	id := g.transactionID()
	exchange(
		g.stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, synthRequestedUDP, synthSoftware),
		g.stunMessage(pionstun.MethodAllocate, pionstun.ClassErrorResponse, id,
			pionstun.ErrorCodeAttribute{Code: 401, Reason: []byte("Unauthorized")},
			pionstun.NewRealm(cfg.Realm), pionstun.NewNonce(nonce), synthSoftware))
	id = g.transactionID()
	exchange(
		g.stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, append([]pionstun.Setter{synthRequestedUDP, synthLifetime(600)}, auth()...)...),
		g.stunMessage(pionstun.MethodAllocate, pionstun.ClassSuccessResponse, id,
			synthXORAddr{pionstun.AttrXORRelayedAddress, relayed}, synthLifetime(600),
			synthXORAddr{pionstun.AttrXORMappedAddress, client}, synthSoftware, respAuth))
	id = g.transactionID()
	exchange(
		g.stunMessage(pionstun.MethodCreatePermission, pionstun.ClassRequest, id, append([]pionstun.Setter{synthXORAddr{pionstun.AttrXORPeerAddress, peer}}, auth()...)...),
		g.stunMessage(pionstun.MethodCreatePermission, pionstun.ClassSuccessResponse, id, respAuth))
	id = g.transactionID()
	exchange(
		g.stunMessage(pionstun.MethodChannelBind, pionstun.ClassRequest, id, append([]pionstun.Setter{
			pionstun.RawAttribute{Type: pionstun.AttrChannelNumber, Value: []byte{byte(channel >> 8), byte(channel), 0, 0}},
			synthXORAddr{pionstun.AttrXORPeerAddress, peer}}, auth()...)...),
		g.stunMessage(pionstun.MethodChannelBind, pionstun.ClassSuccessResponse, id, respAuth))

	// ICE connectivity checks through the channel (RFC 8445 §7.2): the
	// client's with USE-CANDIDATE, then the peer's.
	ice := g.newICE()
	relayCheck := func(at time.Duration, nominate bool) {
		req, resp := ice.check(g, true, nominate, relayed)
		s.add(at, fl.mediaUp, synthChannelData(channel, req))
		s.add(at+300*time.Microsecond, fl.toPeer, req)
		s.add(at+300*time.Microsecond+peerRTT, fl.fromPeer, resp)
		s.add(at+600*time.Microsecond+peerRTT, fl.mediaDown, synthChannelData(channel, resp))
	}
	relayCheck(t, true)
	t += peerRTT + time.Millisecond
	req, resp := ice.check(g, false, false, peer)
	s.add(t, fl.fromPeer, req)
	s.add(t+300*time.Microsecond, fl.mediaDown, synthChannelData(channel, req))
	s.add(t+300*time.Microsecond+rtt, fl.mediaUp, synthChannelData(channel, resp))
	s.add(t+600*time.Microsecond+rtt, fl.toPeer, resp)
	t += rtt + 10*time.Millisecond

	mediaStart := t
	mediaEnd := mediaStart + g.mediaDuration()
	ssrcOut, ssrcIn := g.rng.Uint32(), g.rng.Uint32()
	seqOut, seqIn := uint16(g.rng.Uint32()), uint16(g.rng.Uint32())
	g.addMedia(fl.mediaUp, mediaStart, mediaEnd, channel, ssrcOut, seqOut)
	g.addMedia(fl.toPeer, mediaStart+300*time.Microsecond, mediaEnd, 0, ssrcOut, seqOut)
	g.addMedia(fl.fromPeer, mediaStart+peerRTT/2, mediaEnd, 0, ssrcIn, seqIn)
	g.addMedia(fl.mediaDown, mediaStart+peerRTT/2+300*time.Microsecond, mediaEnd, channel, ssrcIn, seqIn)

	for at := mediaStart + synthConsentInterval; at < mediaEnd; at += synthConsentInterval {
		relayCheck(at, false)
	}
	if cfg.RefreshEvery > 0 {
		for at := mediaStart + cfg.RefreshEvery; at < mediaEnd; at += cfg.RefreshEvery {
			t = at
			id = g.transactionID()
			exchange(
				g.stunMessage(pionstun.MethodRefresh, pionstun.ClassRequest, id, append([]pionstun.Setter{synthLifetime(600)}, auth()...)...),
				g.stunMessage(pionstun.MethodRefresh, pionstun.ClassSuccessResponse, id, synthLifetime(600), respAuth))
			a.Refreshes++
		}
	}
	if !abandon {
		// RFC 8656 §7.2: a Refresh with LIFETIME 0 deletes the allocation.
		t = mediaEnd + 50*time.Millisecond
		id = g.transactionID()
		exchange(
			g.stunMessage(pionstun.MethodRefresh, pionstun.ClassRequest, id, append([]pionstun.Setter{synthLifetime(0)}, auth()...)...),
			g.stunMessage(pionstun.MethodRefresh, pionstun.ClassSuccessResponse, id, synthLifetime(0), respAuth))
		a.Refreshes++
	}
	g.scheduleScript(s)
	return fl
}

// addDirectCall schedules a call whose media goes straight between caller
// and callee after ICE checks both ways.
func (g *synthGen) addDirectCall(i int, start time.Duration) {
	n := i + 1
	caller := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 128 + byte(n>>16), byte(n >> 8), byte(n)}), uint16(40000+g.rng.IntN(20000)))
	callee := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + n%254)}), uint16(20000+g.rng.IntN(40000)))
	g.out.DirectCalls = append(g.out.DirectCalls, [2]netip.AddrPort{caller, callee})
	dscp := synthDSCP[g.rng.IntN(len(synthDSCP))]
	rtt := time.Duration(20+g.rng.IntN(100)) * time.Millisecond
	out, in := newSynthFlow(caller, callee, dscp), newSynthFlow(callee, caller, dscp)
	sigOut, sigIn := newSynthFlow(caller, callee, 0), newSynthFlow(callee, caller, 0)

	s := &synthScript{}
	ice := g.newICE()
	check := func(at time.Duration, fromCaller, nominate bool) {
		if fromCaller {
			req, resp := ice.check(g, true, nominate, caller)
			s.add(at, sigOut, req)
			s.add(at+rtt, sigIn, resp)
		} else {
			req, resp := ice.check(g, false, false, callee)
			s.add(at, sigIn, req)
			s.add(at+rtt, sigOut, resp)
		}
	}
	check(start, true, true)
	check(start+time.Millisecond, false, false)
	mediaStart := start + rtt + 10*time.Millisecond
	mediaEnd := mediaStart + g.mediaDuration()
	g.addMedia(out, mediaStart, mediaEnd, 0, g.rng.Uint32(), uint16(g.rng.Uint32()))
	g.addMedia(in, mediaStart+rtt/2, mediaEnd, 0, g.rng.Uint32(), uint16(g.rng.Uint32()))
	for at := mediaStart + synthConsentInterval; at < mediaEnd; at += synthConsentInterval {
		check(at, true, false)
		check(at+synthConsentInterval/2, false, false)
	}
	g.scheduleScript(s)
}

// addUnansweredAllocate schedules an Allocate to a server that never
// answers, sent 7 times at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s
// (RFC 8489 §6.2.1 with RTO 500 ms).
func (g *synthGen) addUnansweredAllocate(start time.Duration) {
	client := netip.MustParseAddrPort("10.250.0.1:51000")
	server := netip.MustParseAddrPort("192.0.2.99:3478")
	g.out.UnansweredClient, g.out.UnansweredServer = client, server
	f := newSynthFlow(client, server, 0)
	req := g.stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, g.transactionID(), synthRequestedUDP, synthSoftware)
	s := &synthScript{}
	rto := 500 * time.Millisecond
	for at := start; len(s.events) < 7; at += rto {
		s.add(at, f, req)
		if len(s.events) > 1 {
			rto *= 2
		}
	}
	g.out.UnansweredSends = len(s.events)
	g.scheduleScript(s)
}

// addWrongPassword schedules a client that answers the challenge with a
// wrong password: the server says 401 again, with the same nonce, twice.
func (g *synthGen) addWrongPassword(start time.Duration) {
	cfg := g.cfg
	client := netip.MustParseAddrPort("10.250.0.2:52000")
	server := netip.MustParseAddrPort("192.0.2.1:3478")
	g.out.WrongPasswordClient = client
	up, down := newSynthFlow(client, server, 0), newSynthFlow(server, client, 0)
	nonce := g.nonce()
	challenge := func(id [pionstun.TransactionIDSize]byte) []byte {
		return g.stunMessage(pionstun.MethodAllocate, pionstun.ClassErrorResponse, id,
			pionstun.ErrorCodeAttribute{Code: 401, Reason: []byte("Unauthorized")},
			pionstun.NewRealm(cfg.Realm), pionstun.NewNonce(nonce), synthSoftware)
	}
	s := &synthScript{}
	t := start
	id := g.transactionID()
	s.add(t, up, g.stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, synthRequestedUDP, synthSoftware))
	s.add(t+30*time.Millisecond, down, challenge(id))
	for range 2 {
		t += 40 * time.Millisecond
		id = g.transactionID()
		s.add(t, up, g.stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, synthRequestedUDP,
			pionstun.NewUsername(cfg.Username), pionstun.NewRealm(cfg.Realm), pionstun.NewNonce(nonce),
			pionstun.NewLongTermIntegrity(cfg.Username, cfg.Realm, cfg.Password+"-typo")))
		s.add(t+30*time.Millisecond, down, challenge(id))
		t += time.Second
	}
	g.scheduleScript(s)
}

func (g *synthGen) mediaDuration() time.Duration {
	return time.Duration((0.5 + g.rng.Float64()) * float64(g.cfg.Media))
}

func (g *synthGen) transactionID() (id [pionstun.TransactionIDSize]byte) {
	binary.BigEndian.PutUint64(id[:], g.rng.Uint64())
	binary.BigEndian.PutUint32(id[8:], g.rng.Uint32())
	return id
}

func (g *synthGen) nonce() string { return fmt.Sprintf("%016x", g.rng.Uint64()) }

// stunMessage builds a message with pion/stun and appends FINGERPRINT.
func (g *synthGen) stunMessage(method pionstun.Method, class pionstun.MessageClass, id [pionstun.TransactionIDSize]byte, attrs ...pionstun.Setter) []byte {
	setters := make([]pionstun.Setter, 0, len(attrs)+3)
	setters = append(setters, pionstun.NewTransactionIDSetter(id), pionstun.NewType(method, class))
	setters = append(setters, attrs...)
	setters = append(setters, pionstun.Fingerprint)
	m, err := pionstun.Build(setters...)
	if err != nil {
		// Only a programming error in the generator gets here.
		panic(fmt.Sprintf("building %v %v: %v", method, class, err))
	}
	return m.Raw
}

// synthICE is one ICE session's short-term credentials (RFC 8445 §7.2.2):
// a request is signed with the password of the agent it goes to.
type synthICE struct {
	callerUfrag, calleeUfrag string
	callerPwd, calleePwd     string
	tieBreaker               [8]byte
}

func (g *synthGen) newICE() *synthICE {
	ice := &synthICE{
		callerUfrag: fmt.Sprintf("%08x", g.rng.Uint32()),
		calleeUfrag: fmt.Sprintf("%08x", g.rng.Uint32()),
		callerPwd:   fmt.Sprintf("%024x", g.rng.Uint64()),
		calleePwd:   fmt.Sprintf("%024x", g.rng.Uint64()),
	}
	binary.BigEndian.PutUint64(ice.tieBreaker[:], g.rng.Uint64())
	return ice
}

// check builds a connectivity check and its success response; the caller
// is the controlling agent. mapped is the address the checked agent sees
// the request come from.
func (ice *synthICE) check(g *synthGen, fromCaller, nominate bool, mapped netip.AddrPort) (req, resp []byte) {
	id := g.transactionID()
	username, pwd, role := ice.calleeUfrag+":"+ice.callerUfrag, ice.calleePwd, pionstun.AttrICEControlling
	if !fromCaller {
		username, pwd, role = ice.callerUfrag+":"+ice.calleeUfrag, ice.callerPwd, pionstun.AttrICEControlled
	}
	// PRIORITY of a peer-reflexive candidate (RFC 8445 §5.1.2.1).
	priority := binary.BigEndian.AppendUint32(nil, 110<<24|65535<<8|255)
	attrs := []pionstun.Setter{
		pionstun.NewUsername(username),
		pionstun.RawAttribute{Type: pionstun.AttrPriority, Value: priority},
		pionstun.RawAttribute{Type: role, Value: ice.tieBreaker[:]},
	}
	if nominate {
		attrs = append(attrs, pionstun.RawAttribute{Type: pionstun.AttrUseCandidate})
	}
	attrs = append(attrs, pionstun.NewShortTermIntegrity(pwd))
	req = g.stunMessage(pionstun.MethodBinding, pionstun.ClassRequest, id, attrs...)
	resp = g.stunMessage(pionstun.MethodBinding, pionstun.ClassSuccessResponse, id,
		synthXORAddr{pionstun.AttrXORMappedAddress, mapped}, pionstun.NewShortTermIntegrity(pwd))
	return req, resp
}

var (
	synthDSCP         = []uint8{synthDSCPEF, 34, 0} // EF, AF41, best effort
	synthSoftware     = pionstun.NewSoftware("synth-turn 1.0")
	synthRequestedUDP = pionstun.RawAttribute{Type: pionstun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
)

func synthLifetime(s uint32) pionstun.Setter {
	return pionstun.RawAttribute{Type: pionstun.AttrLifetime, Value: binary.BigEndian.AppendUint32(nil, s)}
}

// synthXORAddr adds an XOR-encoded address attribute of any type.
type synthXORAddr struct {
	typ pionstun.AttrType
	ap  netip.AddrPort
}

func (x synthXORAddr) AddTo(m *pionstun.Message) error {
	return pionstun.XORMappedAddress{IP: x.ap.Addr().AsSlice(), Port: int(x.ap.Port())}.AddToAs(m, x.typ)
}

func synthChannelData(channel uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, channel)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func synthAddr6(group uint16, n int) netip.Addr {
	var a [16]byte
	copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8})
	binary.BigEndian.PutUint16(a[4:], group)
	binary.BigEndian.PutUint32(a[12:], uint32(n))
	return netip.AddrFrom16(a)
}

// synthFlow is the Ethernet, IP and UDP headers of one direction of a UDP
// flow; lengths, IPv4 ID and checksums are filled per packet.
type synthFlow struct {
	src, dst netip.AddrPort
	dscp     uint8
	hdr      []byte
	v6       bool
	sum      uint32 // the UDP checksum's sum over addresses, protocol and ports
	// tally counts the ChannelData messages sent on the flow.
	tally *RelayCounter
}

const (
	synthDSCPEF   = 46 // Expedited Forwarding (RFC 3246), what voice should carry
	synthEtherLen = 14
	synthUDPLen   = 8
)

func newSynthFlow(src, dst netip.AddrPort, dscp uint8) *synthFlow {
	f := &synthFlow{src: src, dst: dst, dscp: dscp, v6: src.Addr().Is6()}
	h := make([]byte, 0, synthEtherLen+40+synthUDPLen)
	h = append(h, synthMAC(dst.Addr())...)
	h = append(h, synthMAC(src.Addr())...)
	s, d := src.Addr().AsSlice(), dst.Addr().AsSlice()
	if f.v6 {
		h = append(h, 0x86, 0xdd)
		h = binary.BigEndian.AppendUint32(h, 6<<28|uint32(dscp)<<22)
		h = append(h, 0, 0, 17, 64) // payload length, next header UDP, hop limit
	} else {
		h = append(h, 0x08, 0x00)
		h = append(h, 0x45, dscp<<2, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0) // DF, TTL 64, UDP
	}
	h = append(h, s...)
	h = append(h, d...)
	h = binary.BigEndian.AppendUint16(h, src.Port())
	h = binary.BigEndian.AppendUint16(h, dst.Port())
	h = append(h, 0, 0, 0, 0)
	f.hdr = h
	f.sum = onesSum(onesSum(17+uint32(src.Port())+uint32(dst.Port()), s), d)
	return f
}

// synthMAC is a locally administered MAC derived from an address.
func synthMAC(a netip.Addr) []byte {
	b := a.As16()
	return []byte{0x02, b[11], b[12], b[13], b[14], b[15]}
}

// frame appends the frame carrying payload to b.
func (f *synthFlow) frame(b, payload []byte, ipID uint16) []byte {
	b = append(b, f.hdr...)
	b = append(b, payload...)
	ip := b[synthEtherLen:]
	udpLen := synthUDPLen + len(payload)
	var udp []byte
	if f.v6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(udpLen))
		udp = ip[40:]
	} else {
		binary.BigEndian.PutUint16(ip[2:], uint16(20+udpLen))
		binary.BigEndian.PutUint16(ip[4:], ipID)
		binary.BigEndian.PutUint16(ip[10:], ^fold(onesSum(0, ip[:20])))
		udp = ip[20:]
	}
	binary.BigEndian.PutUint16(udp[4:], uint16(udpLen))
	// RFC 768: pseudo-header, UDP header and data; 0 is sent as 0xffff.
	sum := ^fold(onesSum(f.sum+2*uint32(udpLen), payload))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	return b
}

// onesSum adds b as big-endian 16-bit words to sum (RFC 1071); an odd
// last byte is padded with zero. The caller folds.
func onesSum(sum uint32, b []byte) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

func fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// TestSyntheticCaptureDeterministic checks that a seed gives the same bytes
// and another seed other bytes.
func TestSyntheticCaptureDeterministic(t *testing.T) {
	cfg := smallSyntheticConfig(7)
	gen := func(cfg SyntheticConfig) []byte {
		var b bytesSink
		if _, err := WriteSyntheticCapture(&b, cfg); err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b := gen(cfg), gen(cfg)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different captures")
	}
	cfg.Seed++
	if slices.Equal(a, gen(cfg)) {
		t.Error("another seed gave the same capture")
	}
}

// SmallSyntheticConfig is the config of the tests' capture: a few
// thousand packets.
func SmallSyntheticConfig(seed uint64) SyntheticConfig { return smallSyntheticConfig(seed) }

func smallSyntheticConfig(seed uint64) SyntheticConfig {
	cfg := SyntheticConfigFor(0, seed)
	cfg.Allocations, cfg.DirectCalls = 10, 3
	cfg.Media, cfg.Span, cfg.RefreshEvery = 6*time.Second, 2*time.Second, 2*time.Second
	return cfg
}

type bytesSink []byte

func (b *bytesSink) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}
