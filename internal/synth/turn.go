package synth

// The TURN scenario: STUN/TURN-heavy captures with ground truth, for the
// analysis' end-to-end tests and benchmarks.
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

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/callscope/callscope/decode/capture"
	pionstun "github.com/pion/stun/v3"
)

// TURNConfig describes a TURN-scenario capture. The same config gives the
// same bytes.
type TURNConfig struct {
	Seed         uint64
	Allocations  int           // healthy TURN allocations, each with one call relayed through it
	DirectCalls  int           // calls with media straight between the endpoints
	Media        time.Duration // mean media duration of a call (each lasts 0.5 to 1.5 times it)
	Span         time.Duration // calls start at random within this long
	RefreshEvery time.Duration // Refresh interval of an allocation; 0: only the final one
	// Username, Realm and Password are the TURN server's credentials.
	Username, Realm, Password string
}

// rtpBytes is the size of an RTP packet of the TURN scenario.
const rtpBytes = 12 + audioBytes

// TURNConfigFor returns a config whose capture has about n packets:
// three relayed calls (200 packets/s each) to one direct call (100/s).
func TURNConfigFor(n int, seed uint64) TURNConfig {
	const media = 10 * time.Second
	perCall := 0.75*200*media.Seconds() + 0.25*100*media.Seconds()
	calls := max(4, int(float64(n)/perCall+0.5))
	allocations := (calls*3 + 3) / 4
	return TURNConfig{
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

// Expected says what a generated capture holds: the ground truth
// the analysis must find.
type Expected struct {
	Packets    int
	Bytes      int // captured bytes, link headers included
	Start, End time.Time
	// Allocations are the healthy allocations, in order of creation.
	Allocations []*Allocation
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
}

// Allocation is one healthy allocation and what it relayed.
type Allocation struct {
	Client, Server, Relayed, Peer netip.AddrPort
	Channel                       uint16
	Outcome                       string // "deleted", or "allocated" for a client that left without deleting
	Refreshes                     int    // Refresh requests, the final one included
	Sent, Received                RelayCount
}

// WriteTURN writes a classic pcap (Ethernet, microseconds) of the TURN
// scenario generated from cfg, and says what it holds.
func WriteTURN(w io.Writer, cfg TURNConfig) (*Expected, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	pw, err := capture.NewPcapWriter(bw, capture.LinkEthernet, false)
	if err != nil {
		return nil, err
	}
	g := newTURNGen(cfg, func(at time.Time, _ *flow, frame, _ []byte) error {
		return pw.WritePacket(at, frame, 0)
	})
	g.addAll()
	if err := g.run(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	g.exp.Packets, g.exp.Bytes, g.exp.Start, g.exp.End = g.sum.Packets, g.sum.Bytes, g.sum.Start, g.sum.End
	return g.exp, nil
}

// RTPBytes is the size of the generator's RTP packets, which end
// the frames that carry them.
const RTPBytes = rtpBytes

// Frame is one generated frame.
type Frame struct {
	Time time.Time
	Data []byte
}

// RelayFrames returns one healthy allocation's frames up to its
// first media packet (challenge, Allocate, CreatePermission, ChannelBind,
// ICE checks through the channel), then a ChannelData message the client
// sends with an RTP packet in it, and the same RTP packet as the server
// relays it to the peer: plain UDP, not STUN.
func RelayFrames() (setup []Frame, channelData, rtp Frame, err error) {
	cfg := TURNConfigFor(0, 1)
	var flows allocationFlows
	// ChannelData carrying an ICE check has a STUN header (first byte 0
	// or 1) where a media packet has RTP's 0x80.
	isRTP := func(b []byte) bool { return len(b) == rtpBytes && b[0] == 0x80 }
	g := newTURNGen(cfg, func(at time.Time, f *flow, frame, payload []byte) error {
		data := Frame{at, slices.Clone(frame)}
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
			return errDone
		}
		return nil
	})
	flows = g.addAllocation(0, 0)
	if err := g.run(); err != nil && err != errDone {
		return nil, channelData, rtp, err
	}
	if channelData.Data == nil || rtp.Data == nil {
		return nil, channelData, rtp, fmt.Errorf("synthetic allocation carried no media")
	}
	return setup, channelData, rtp, nil
}

type turnMedia struct {
	flow  *flow
	start time.Duration
	end   time.Duration
	n     int
	buf   []byte // the UDP payload
	rtp   []byte // its RTP header
}

func (g *gen) addMedia(f *flow, start, end time.Duration, channel uint16, ssrc uint32, seq uint16) {
	m := &turnMedia{flow: f, start: start, end: end}
	if f.dscp != dscpEF {
		g.exp.UnmarkedAudio = append(g.exp.UnmarkedAudio, [2]netip.AddrPort{f.src, f.dst})
	}
	off := 0
	if channel != 0 {
		off = 4
		m.buf = binary.BigEndian.AppendUint16(m.buf, channel)
		m.buf = binary.BigEndian.AppendUint16(m.buf, rtpBytes)
	}
	m.buf = append(m.buf, 0x80, 0) // V=2, PT 0 (PCMU)
	m.buf = binary.BigEndian.AppendUint16(m.buf, seq)
	m.buf = binary.BigEndian.AppendUint32(m.buf, uint32(seq)*7)
	m.buf = binary.BigEndian.AppendUint32(m.buf, ssrc)
	for range audioBytes {
		m.buf = append(m.buf, 0xd5^byte(g.rng.IntN(16))) // near-silence in µ-law
	}
	m.rtp = m.buf[off : off+12]
	g.schedule(m, start)
}

func (m *turnMedia) emit(g *gen, at time.Duration) (time.Duration, bool, error) {
	if err := g.write(at, m.flow, m.buf); err != nil {
		return 0, false, err
	}
	m.n++
	binary.BigEndian.PutUint16(m.rtp[2:], binary.BigEndian.Uint16(m.rtp[2:])+1)
	binary.BigEndian.PutUint32(m.rtp[4:], binary.BigEndian.Uint32(m.rtp[4:])+audioBytes)
	next := m.start + time.Duration(m.n)*frameInterval + time.Duration(g.rng.IntN(1000))*time.Microsecond
	return next, next < m.end, nil
}

// allocationFlows are the flows of one relayed call.
type allocationFlows struct {
	up, down           *flow // signalling between client and server
	mediaUp, mediaDown *flow // ChannelData between client and server
	toPeer, fromPeer   *flow // between relayed address and peer
}

// addAllocation schedules healthy allocation i, starting at start.
func (g *gen) addAllocation(i int, start time.Duration) allocationFlows {
	cfg := g.turn
	n := i + 1
	v6 := i%5 == 4
	var client, server, relayed, peer netip.AddrPort
	relayPort := uint16(49152 + i%16384)
	if v6 {
		client = netip.AddrPortFrom(addr6(0xc, n), uint16(40000+g.rng.IntN(20000)))
		server = netip.MustParseAddrPort("[2001:db8:5e::1]:3478")
		relayed = netip.AddrPortFrom(addr6(0x5e, 1+i/16384), relayPort)
		peer = netip.AddrPortFrom(addr6(0xe, n), uint16(20000+g.rng.IntN(40000)))
	} else {
		client = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)}), uint16(40000+g.rng.IntN(20000)))
		server = netip.MustParseAddrPort("192.0.2.1:3478")
		relayed = netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i/16384)}), relayPort)
		peer = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(100 + n/254%2), byte(1 + n%254)}), uint16(20000+g.rng.IntN(40000)))
	}
	channel := uint16(0x4000 + g.rng.IntN(0x100))
	dscp := turnDSCP[g.rng.IntN(len(turnDSCP))]
	rtt := time.Duration(10+g.rng.IntN(70)) * time.Millisecond
	peerRTT := time.Duration(20+g.rng.IntN(100)) * time.Millisecond
	abandon := i%4 == 3

	a := &Allocation{Client: client, Server: server, Relayed: relayed, Peer: peer, Channel: channel, Outcome: "deleted"}
	if abandon {
		a.Outcome = "allocated"
	}
	g.exp.Allocations = append(g.exp.Allocations, a)
	fl := allocationFlows{
		up: newTURNFlow(client, server, 0), down: newTURNFlow(server, client, 0),
		mediaUp: newTURNFlow(client, server, dscp), mediaDown: newTURNFlow(server, client, dscp),
		toPeer: newTURNFlow(relayed, peer, dscp), fromPeer: newTURNFlow(peer, relayed, dscp),
	}
	fl.mediaUp.tally, fl.mediaDown.tally = &a.Sent, &a.Received

	s := &script{}
	nonce := g.nonce()
	auth := func() []pionstun.Setter {
		g.exp.AuthenticatedRequests++
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
		stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, requestedUDP, software),
		stunMessage(pionstun.MethodAllocate, pionstun.ClassErrorResponse, id,
			pionstun.ErrorCodeAttribute{Code: 401, Reason: []byte("Unauthorized")},
			pionstun.NewRealm(cfg.Realm), pionstun.NewNonce(nonce), software))
	id = g.transactionID()
	exchange(
		stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, append([]pionstun.Setter{requestedUDP, lifetime(600)}, auth()...)...),
		stunMessage(pionstun.MethodAllocate, pionstun.ClassSuccessResponse, id,
			xorAddr{pionstun.AttrXORRelayedAddress, relayed}, lifetime(600),
			xorAddr{pionstun.AttrXORMappedAddress, client}, software, respAuth))
	id = g.transactionID()
	exchange(
		stunMessage(pionstun.MethodCreatePermission, pionstun.ClassRequest, id, append([]pionstun.Setter{xorAddr{pionstun.AttrXORPeerAddress, peer}}, auth()...)...),
		stunMessage(pionstun.MethodCreatePermission, pionstun.ClassSuccessResponse, id, respAuth))
	id = g.transactionID()
	exchange(
		stunMessage(pionstun.MethodChannelBind, pionstun.ClassRequest, id, append([]pionstun.Setter{
			pionstun.RawAttribute{Type: pionstun.AttrChannelNumber, Value: []byte{byte(channel >> 8), byte(channel), 0, 0}},
			xorAddr{pionstun.AttrXORPeerAddress, peer}}, auth()...)...),
		stunMessage(pionstun.MethodChannelBind, pionstun.ClassSuccessResponse, id, respAuth))

	// ICE connectivity checks through the channel (RFC 8445 §7.2): the
	// client's with USE-CANDIDATE, then the peer's.
	ice := g.newICE()
	relayCheck := func(at time.Duration, nominate bool) {
		req, resp := ice.check(g, true, nominate, relayed)
		s.add(at, fl.mediaUp, channelData(channel, req))
		s.add(at+300*time.Microsecond, fl.toPeer, req)
		s.add(at+300*time.Microsecond+peerRTT, fl.fromPeer, resp)
		s.add(at+600*time.Microsecond+peerRTT, fl.mediaDown, channelData(channel, resp))
	}
	relayCheck(t, true)
	t += peerRTT + time.Millisecond
	req, resp := ice.check(g, false, false, peer)
	s.add(t, fl.fromPeer, req)
	s.add(t+300*time.Microsecond, fl.mediaDown, channelData(channel, req))
	s.add(t+300*time.Microsecond+rtt, fl.mediaUp, channelData(channel, resp))
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

	for at := mediaStart + consentInterval; at < mediaEnd; at += consentInterval {
		relayCheck(at, false)
	}
	if cfg.RefreshEvery > 0 {
		for at := mediaStart + cfg.RefreshEvery; at < mediaEnd; at += cfg.RefreshEvery {
			t = at
			id = g.transactionID()
			exchange(
				stunMessage(pionstun.MethodRefresh, pionstun.ClassRequest, id, append([]pionstun.Setter{lifetime(600)}, auth()...)...),
				stunMessage(pionstun.MethodRefresh, pionstun.ClassSuccessResponse, id, lifetime(600), respAuth))
			a.Refreshes++
		}
	}
	if !abandon {
		// RFC 8656 §7.2: a Refresh with LIFETIME 0 deletes the allocation.
		t = mediaEnd + 50*time.Millisecond
		id = g.transactionID()
		exchange(
			stunMessage(pionstun.MethodRefresh, pionstun.ClassRequest, id, append([]pionstun.Setter{lifetime(0)}, auth()...)...),
			stunMessage(pionstun.MethodRefresh, pionstun.ClassSuccessResponse, id, lifetime(0), respAuth))
		a.Refreshes++
	}
	g.scheduleSorted(s)
	return fl
}

// addDirectCall schedules a call whose media goes straight between caller
// and callee after ICE checks both ways.
func (g *gen) addDirectCall(i int, start time.Duration) {
	n := i + 1
	caller := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 128 + byte(n>>16), byte(n >> 8), byte(n)}), uint16(40000+g.rng.IntN(20000)))
	callee := netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + n%254)}), uint16(20000+g.rng.IntN(40000)))
	g.exp.DirectCalls = append(g.exp.DirectCalls, [2]netip.AddrPort{caller, callee})
	dscp := turnDSCP[g.rng.IntN(len(turnDSCP))]
	rtt := time.Duration(20+g.rng.IntN(100)) * time.Millisecond
	out, in := newTURNFlow(caller, callee, dscp), newTURNFlow(callee, caller, dscp)
	sigOut, sigIn := newTURNFlow(caller, callee, 0), newTURNFlow(callee, caller, 0)

	s := &script{}
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
	for at := mediaStart + consentInterval; at < mediaEnd; at += consentInterval {
		check(at, true, false)
		check(at+consentInterval/2, false, false)
	}
	g.scheduleSorted(s)
}

// addUnansweredAllocate schedules an Allocate to a server that never
// answers, sent 7 times at 0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s
// (RFC 8489 §6.2.1 with RTO 500 ms).
func (g *gen) addUnansweredAllocate(start time.Duration) {
	client := netip.MustParseAddrPort("10.250.0.1:51000")
	server := netip.MustParseAddrPort("192.0.2.99:3478")
	g.exp.UnansweredClient, g.exp.UnansweredServer = client, server
	f := newTURNFlow(client, server, 0)
	req := stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, g.transactionID(), requestedUDP, software)
	s := &script{}
	rto := 500 * time.Millisecond
	for at := start; len(s.steps) < 7; at += rto {
		s.add(at, f, req)
		if len(s.steps) > 1 {
			rto *= 2
		}
	}
	g.exp.UnansweredSends = len(s.steps)
	g.scheduleSorted(s)
}

// addWrongPassword schedules a client that answers the challenge with a
// wrong password: the server says 401 again, with the same nonce, twice.
func (g *gen) addWrongPassword(start time.Duration) {
	cfg := g.turn
	client := netip.MustParseAddrPort("10.250.0.2:52000")
	server := netip.MustParseAddrPort("192.0.2.1:3478")
	g.exp.WrongPasswordClient = client
	up, down := newTURNFlow(client, server, 0), newTURNFlow(server, client, 0)
	nonce := g.nonce()
	challenge := func(id [pionstun.TransactionIDSize]byte) []byte {
		return stunMessage(pionstun.MethodAllocate, pionstun.ClassErrorResponse, id,
			pionstun.ErrorCodeAttribute{Code: 401, Reason: []byte("Unauthorized")},
			pionstun.NewRealm(cfg.Realm), pionstun.NewNonce(nonce), software)
	}
	s := &script{}
	t := start
	id := g.transactionID()
	s.add(t, up, stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, requestedUDP, software))
	s.add(t+30*time.Millisecond, down, challenge(id))
	for range 2 {
		t += 40 * time.Millisecond
		id = g.transactionID()
		s.add(t, up, stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, requestedUDP,
			pionstun.NewUsername(cfg.Username), pionstun.NewRealm(cfg.Realm), pionstun.NewNonce(nonce),
			pionstun.NewLongTermIntegrity(cfg.Username, cfg.Realm, cfg.Password+"-typo")))
		s.add(t+30*time.Millisecond, down, challenge(id))
		t += time.Second
	}
	g.scheduleSorted(s)
}

func (g *gen) mediaDuration() time.Duration {
	return time.Duration((0.5 + g.rng.Float64()) * float64(g.turn.Media))
}

func (g *gen) nonce() string { return fmt.Sprintf("%016x", g.rng.Uint64()) }

// newICE draws a direct or relayed call's ICE credentials; A is the
// caller, the controlling agent.
func (g *gen) newICE() *iceSession {
	ice := &iceSession{
		ufragA: fmt.Sprintf("%08x", g.rng.Uint32()),
		ufragB: fmt.Sprintf("%08x", g.rng.Uint32()),
		pwdA:   fmt.Sprintf("%024x", g.rng.Uint64()),
		pwdB:   fmt.Sprintf("%024x", g.rng.Uint64()),
	}
	binary.BigEndian.PutUint64(ice.tieBreaker[:], g.rng.Uint64())
	return ice
}

var (
	turnDSCP     = []uint8{dscpEF, 34, 0} // EF, AF41, best effort
	software     = pionstun.NewSoftware("synth-turn 1.0")
	requestedUDP = pionstun.RawAttribute{Type: pionstun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
)

func addr6(group uint16, n int) netip.Addr {
	var a [16]byte
	copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8})
	binary.BigEndian.PutUint16(a[4:], group)
	binary.BigEndian.PutUint32(a[12:], uint32(n))
	return netip.AddrFrom16(a)
}

// flow is the Ethernet, IP and UDP headers of one direction of a UDP

// RelayCount counts what one side of an allocation relayed; it converts
// to diagnose.RelayCounter.
type RelayCount struct {
	Packets     uint64
	Bytes       uint64
	ChannelData uint64 // of Packets, how many as ChannelData
}

// SmallTURNConfig is the config of the tests' capture: a few thousand
// packets.
func SmallTURNConfig(seed uint64) TURNConfig {
	cfg := TURNConfigFor(0, seed)
	cfg.Allocations, cfg.DirectCalls = 10, 3
	cfg.Media, cfg.Span, cfg.RefreshEvery = 6*time.Second, 2*time.Second, 2*time.Second
	return cfg
}

// errDone stops a generator early.
var errDone = errors.New("synth: done")

func newTURNGen(cfg TURNConfig, sink sink) *gen {
	return &gen{
		turn: cfg,
		rng:  rand.New(rand.NewPCG(cfg.Seed, 0x63616c6c73636f70)),
		base: captureStart,
		sink: sink,
		exp:  &Expected{Allocations: make([]*Allocation, 0, cfg.Allocations)},
	}
}

// newTURNFlow is a flow whose IPv4 datagrams carry a UDP checksum too.
func newTURNFlow(src, dst netip.AddrPort, dscp uint8) *flow {
	f := newFlow(src, dst, dscp)
	f.checksum4 = true
	return f
}

// addAll schedules every call and both failures.
func (g *gen) addAll() {
	for i := range g.turn.Allocations {
		g.addAllocation(i, g.startTime())
	}
	for i := range g.turn.DirectCalls {
		g.addDirectCall(i, g.startTime())
	}
	g.addUnansweredAllocate(200 * time.Millisecond)
	g.addWrongPassword(g.turn.Span / 2)
}

func (g *gen) startTime() time.Duration {
	return time.Duration(g.rng.Int64N(int64(max(g.turn.Span, time.Millisecond))))
}
