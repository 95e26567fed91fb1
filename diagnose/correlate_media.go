package diagnose

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/internal/mix"
	"github.com/callscope/callscope/internal/packettime"
)

// Limits of the media correlation: memory is bounded by these, whatever
// the capture holds.
const (
	// StreamMinPackets is how many packets make a stream. A flow not
	// announced in SDP is a candidate until that many packets in a row share
	// its SSRC and payload type with small forward sequence steps (RFC 3550
	// Appendix A.1's probation, stricter than its MIN_SEQUENTIAL of 2: a
	// decode-level KindRTP only means "the first bytes could be RTP").
	// Streams with fewer packets at the end of the capture, announced or
	// not, are dropped.
	StreamMinPackets = 4
	// StreamProbationMaxStep is the largest sequence step between
	// consecutive candidate packets that still counts as progression, so
	// that a lost packet during probation does not restart it.
	StreamProbationMaxStep = 3
	// MaxStreams bounds the streams tracked; later ones are ignored.
	MaxStreams = 20_000
	// MaxStreamCandidates bounds the flows in probation; beyond it the
	// least recently started are forgotten.
	MaxStreamCandidates = 20_000
	// MaxAnnouncedEndpoints bounds the SDP media endpoints remembered;
	// beyond it the oldest announcements are forgotten.
	MaxAnnouncedEndpoints = 50_000
	// MaxSenderReportSources bounds the SSRCs whose RTCP sender reports are
	// remembered for round-trip times; SenderReportsKept is how many of each
	// source's latest reports are.
	MaxSenderReportSources = 20_000
	SenderReportsKept      = 8
	// StreamSeqWindow is how many of the latest sequence numbers each
	// stream remembers to tell a duplicate from a late packet and to
	// measure loss bursts exactly despite reordering.
	StreamSeqWindow = 1024
	// JitterResync is how far a packet's timestamp may disagree with its
	// arrival before it counts as a new timeline rather than jitter: the
	// spacing is skipped and measuring resumes from that packet.
	JitterResync = 5 * time.Second
)

// streamKey is an RTP stream's identity: 5-tuple and SSRC (RFC 3550 §3),
// and where on the capturing host its packets were seen.
type streamKey struct {
	src, dst  netip.AddrPort
	transport decode.Transport
	ssrc      uint32
	point     capturePoint
}

// capturePoint is where on the capturing host a packet was seen: the
// direction and interface the Linux cooked headers of `tcpdump -i any`
// give (decode.Packet), zero elsewhere.
//
// It is part of a stream's key. A capture taken on a router or firewall
// that forwards without NAT holds every packet twice on one 5-tuple,
// arriving on one interface and leaving on another; keyed by 5-tuple and
// SSRC alone, the two copies would make one stream whose every packet
// looks duplicated (RFC 3550 A.3: lost goes negative), whose jitter
// mixes the spacing of both and whose DSCP counts mix the mark each copy
// carried. Keyed by where they were seen, each copy is a stream of its
// own, exactly as a capture at that point alone would show it: its own
// sequence accounting, jitter and DSCP counts; a box that re-marks (or
// drops) shows as the difference between its arriving and its leaving
// stream, which the rules compare (Stream.Direction, Stream.Interface).
// The cost is per stream, not per packet: 8 bytes more of key, hashed
// only when streamCache misses, and a few bits of the cache's tag.
type capturePoint struct {
	ifindex   uint32
	direction decode.Direction
}

func pointOf(p *decode.Packet) capturePoint {
	return capturePoint{ifindex: p.Interface, direction: p.Direction}
}

// facing is the point that sees the packets an ICMP error seen at cp is
// about: an error arriving on an interface answers a packet that left on
// it, and one leaving answers a packet that arrived.
func (cp capturePoint) facing() capturePoint {
	switch cp.direction {
	case decode.Arriving:
		cp.direction = decode.Leaving
	case decode.Leaving:
		cp.direction = decode.Arriving
	}
	return cp
}

// probePacket is what the accounting needs of one RTP packet: small, kept
// by value, so that a candidate can replay its packets on promotion.
type probePacket struct {
	at      time.Time
	frame   uint64
	ts      uint32
	payload int
	seq     uint16
	pt      uint8
	dscp    uint8
	marker  bool
}

// candidate is a flow in probation: the latest run of packets that look
// like one stream, room left for a duplicate of each.
type candidate struct {
	run      [2 * StreamMinPackets]probePacket
	n        int
	distinct int    // sequence numbers in run
	srtcp    uint64 // SRTCP its sender sent meanwhile (observeSRTCP)

	icmp *StreamICMP // ICMP errors its packets drew meanwhile
}

// mediaState is the Engine's RTP/RTCP and SDP state. Its maps are made on
// first use, so an Engine that never sees media pays nothing.
type mediaState struct {
	streams map[streamKey]*streamState
	list    []*streamState          // in order of promotion
	bySSRC  map[uint32]*streamState // chained through streamState.nextSSRC

	// Two generations of candidates: an approximate LRU with no list to
	// maintain (see decode's endpointSet).
	cand, candPrev map[streamKey]*candidate

	// recent is a cache in front of streams (streamCache); it holds only
	// streams that streams holds (see forget).
	recent *streamCache

	announced    map[netip.AddrPort]*announcement
	announceRing []netip.AddrPort // oldest first from announceHead
	announceHead int
	announceGen  uint64 // bumped on every announcement
	// announcedAt is the announceGen of the latest announcement of any
	// endpoint hashed to each slot (endpointSlot), so that a stream tied
	// to no call tells in two loads that no SDP since it last looked named
	// its ends, instead of looking both up (relinkAnew).
	announcedAt *[endpointSlots]uint64

	senderReports map[uint32]*senderReportLog
	compound      *rtp.Compound // scratch for RTCP carried in TURN

	order uint64
	// droppedStreams counts retired streams that gave way to new ones at
	// MaxStreams; untrackedRTP the packets of new streams not tracked
	// because none had retired.
	droppedStreams uint64
	untrackedRTP   uint64

	icmpFlows *icmpFlowIndex // made by the first ICMP error that needs it
}

// streamState is a stream's accounting beside its record.
//
// What every packet reads or writes comes first, with the sequence
// tracker's (seqTracker), in three cache lines: the size
// (streamStateSize) makes the allocator place it on a line boundary. The
// record's counters, Last, FirstFrames, DSCP marks, Jitter, MaxJitter
// and MaxDelta are kept here and written to it by publish, so that most
// packets touch none of the record's cache lines (spread over its 448
// bytes) and divide once less.
type streamState struct {
	// RFC 3550 §6.4.1 / A.8, in timestamp units.
	lastTS uint32
	// announceGen is the mediaState.announceGen this stream last looked
	// its endpoints up at, so that an SDP seen after the media starts still
	// links it, at the cost of one integer compare per packet otherwise;
	// linkedForGood once it is tied to a call, which no later SDP undoes.
	announceGen uint64
	packets     uint64
	bytes       uint64
	jitter      float64
	maxJitter   float64 // the largest jitter, in timestamp units
	maxDelta    time.Duration
	lastArrival packettime.Stamp
	lastTime    packettime.Stamp // the previous packet, for MaxDelta
	clock       uint32           // s.ClockRate, which only link sets
	pt          uint8            // s.PayloadType
	dscp        uint8            // of the latest packets
	haveTransit bool
	jittered    bool      // jitter was measured
	dscpRun     uint64    // the latest packets marked dscp, not yet in s.DSCP
	lastFrame   uint64    // the previous packet's, for s.Last
	lastAt      time.Time // the previous packet's time as captured, for s.Last

	seq seqTracker

	pts *payloadTypeCounts // made by the first packet not of type pt

	s     *Stream
	key   streamKey
	order uint64

	// firstFrames is s.FirstFrames until publish: the first packets of a
	// stream, most of a short call's, then touch no line of the record.
	firstFrames []uint64

	nextSSRC *streamState

	_ [streamStateSize - streamStateUsed]byte
}

// streamStateSize is a multiple of the cache line and one of the Go
// allocator's size classes, so that every streamState starts a line;
// streamStateUsed is what its fields take (TestStreamStateLayout).
const (
	streamStateSize = 512
	streamStateUsed = 504
)

// payloadTypeCounts is what a stream counts of the packets whose payload
// type is not its first (Stream.PayloadTypes): most streams never need it.
type payloadTypeCounts struct {
	others  [MaxStreamPayloadTypes - 1]PayloadTypeCount // in order of first appearance
	n       int                                         // of others in use
	packets uint64                                      // every packet not of the first type, listed or not
	changed bool                                        // since publish last wrote Stream.PayloadTypes
}

// observeRTP accounts a datagram the decoder found to parse as RTP.
func (e *Engine) observeRTP(m *decode.Message) {
	e.observeRTPHeader(&m.Packet, &m.RTP, nil)
}

// observeRTPHeader accounts one RTP packet seen on the 5-tuple of p. as is
// the TURN allocation the packet was relayed through, nil when it was not.
func (e *Engine) observeRTPHeader(p *decode.Packet, h *rtp.Header, as *allocState) {
	ms := &e.media
	st := ms.lookup(p, h.SSRC)
	if st == nil {
		e.observeNewRTP(p, h, as)
		return
	}
	// Field by field: a composite literal is built aside and copied,
	// reading back as wide words what was just written as bytes, which
	// the processor cannot forward from its store buffer.
	var pk probePacket
	pk.at, pk.frame = p.Time, p.Frame
	pk.ts, pk.payload, pk.seq, pk.pt, pk.marker = h.Timestamp, h.PayloadLen, h.Sequence, h.PayloadType, h.Marker
	pk.dscp = p.DSCP & 63
	if w := e.rtpWorkers; w != nil {
		w.dispatch(ms, st, &pk)
		return
	}
	ms.account(st, &pk)
}

// probe is what the accounting needs of the RTP packet with header h on p.
func probe(p *decode.Packet, h *rtp.Header) probePacket {
	return probePacket{
		at: p.Time, frame: p.Frame, ts: h.Timestamp, payload: h.PayloadLen,
		seq: h.Sequence, pt: h.PayloadType, dscp: p.DSCP & 63, marker: h.Marker,
	}
}

// observeNewRTP is observeRTPHeader for a packet of no stream yet: a
// candidate's, or one that makes a stream.
func (e *Engine) observeNewRTP(p *decode.Packet, h *rtp.Header, as *allocState) {
	ms := &e.media
	if h.Version != 2 {
		return
	}
	if !e.roomForStream() {
		ms.untrackedRTP++
		return
	}
	var relayedBy *Allocation
	if as != nil {
		relayedBy = as.a
	}
	pk := probe(p, h)
	key := streamKey{src: p.Src, dst: p.Dst, transport: p.Transport, ssrc: h.SSRC, point: pointOf(p)}
	ann := ms.announcedFor(key, relayedBy)
	c := ms.candidate(key)
	if c == nil && ann != nil && plausiblePayloadType(pk.pt) {
		// An announced flow is a stream from its first packet: a
		// candidate of that one packet, never stored, would be deleted
		// at once. The generations turn as storing it would have turned
		// them, so that the same candidates are forgotten.
		ms.turnCandidates()
		var first candidate
		first.push(&pk)
		ms.promote(key, &first, ann, as)
		return
	}
	if c == nil {
		if ann == nil && !plausiblePayloadType(pk.pt) {
			return
		}
		c = ms.newCandidate(key)
	}
	c.push(&pk)
	if ann == nil && c.distinct < StreamMinPackets {
		return
	}
	st := ms.promote(key, c, ann, as)
	if st != nil {
		delete(ms.cand, key)
		delete(ms.candPrev, key)
	}
}

// streamCacheSize is the number of slots of mediaState.recent, two ways
// per set, a power of two well above the streams of a busy capture
// point's active calls.
const streamCacheSize = 2 << streamCacheSetBits

// streamCache is a two-way set-associative cache in front of
// mediaState.streams. Its keys are two integers: the whole stream key
// for IPv4 (addresses in one, ports and SSRC in the other), compared as
// such, and a digest for anything else, confirmed against the stream's
// own key. Hashing and comparing the map's 72-byte keys (two
// netip.AddrPorts) was most of the cost of finding a stream; a
// direct-mapped cache also missed on a tenth of the packets of a capture
// with a few hundred streams, whose slots collided pairwise.
type streamCache [streamCacheSize / 2][2]streamCacheSlot

// streamCacheSlot holds a stream that mediaState.streams holds (see
// forget); tag is zero when it holds none. A slot with a tag but no
// stream says that the map holds no stream of that key (only for whole
// keys, which need no stream to confirm them; promote fills it in): the
// packets of flows the engine does not track, past MaxStreams or in
// probation, would otherwise miss in the map on every packet. A set of
// two fills a cache line.
type streamCacheSlot struct {
	a, b uint64
	st   *streamState
	tag  uint32
}

// A key's tag: its transport, and whether the integers are the key or a
// digest of it; a stream's also its capture point (withPoint).
const (
	streamKeyWhole  = 1 << 8
	streamKeyDigest = 1 << 9 // st.key tells
)

// withPoint adds a stream key's capture point to its cacheKey tag: the
// direction in bits 10-11, the interface index above, whole when it fits
// in the 20 bits left; a larger one makes the tag a digest's, confirmed
// against the stream's key.
func withPoint(tag uint32, cp capturePoint) uint32 {
	tag |= uint32(cp.direction&3)<<10 | cp.ifindex<<12
	if cp.ifindex >= 1<<20 && tag&streamKeyWhole != 0 {
		tag ^= streamKeyWhole | streamKeyDigest
	}
	return tag
}

// cacheKey packs a stream's key into the integers of a streamCacheSlot.
func cacheKey(src, dst netip.AddrPort, transport decode.Transport, ssrc uint32) (a, b uint64, tag uint32) {
	sa, da := src.Addr(), dst.Addr()
	b = uint64(src.Port())<<48 | uint64(dst.Port())<<32 | uint64(ssrc)
	if sa.Is4() && da.Is4() {
		s4, d4 := sa.As4(), da.As4()
		a = uint64(binary.BigEndian.Uint32(s4[:]))<<32 | uint64(binary.BigEndian.Uint32(d4[:]))
		return a, b, uint32(transport) | streamKeyWhole
	}
	s16, d16 := sa.As16(), da.As16()
	a = binary.LittleEndian.Uint64(s16[8:]) ^ mix.Mix64(binary.LittleEndian.Uint64(d16[8:]))
	return a, b, uint32(transport) | streamKeyDigest
}

// set returns the two ways a key packed as a, b may be cached in.
// Multiplying carries every input bit into the top bits, which pick
// the set.
func (c *streamCache) set(a, b uint64) *[2]streamCacheSlot {
	h := a*0x9e3779b97f4a7c15 + b*0xc2b2ae3d27d4eb4f
	return &c[h>>(64-streamCacheSetBits)]
}

// streamCacheSetBits is log2 of the number of sets.
const streamCacheSetBits = 12

func (sl *streamCacheSlot) holds(a, b uint64, tag uint32, src, dst netip.AddrPort, ssrc uint32, cp capturePoint) bool {
	if sl.a != a || sl.b != b || sl.tag != tag {
		return false
	}
	if tag&streamKeyWhole != 0 {
		return true
	}
	k := &sl.st.key
	return k.src == src && k.dst == dst && k.ssrc == ssrc && k.point == cp
}

// lookup returns the stream of RTP packets with SSRC ssrc on the 5-tuple
// of p, nil when there is none.
func (ms *mediaState) lookup(p *decode.Packet, ssrc uint32) *streamState {
	if ms.recent == nil {
		return nil
	}
	a, b, tag := cacheKey(p.Src, p.Dst, p.Transport, ssrc)
	cp := pointOf(p)
	tag = withPoint(tag, cp)
	set := ms.recent.set(a, b)
	if set[0].holds(a, b, tag, p.Src, p.Dst, ssrc, cp) {
		return set[0].st
	}
	if set[1].holds(a, b, tag, p.Src, p.Dst, ssrc, cp) {
		// The most recently used first, so that two busy streams
		// sharing a set both stay.
		set[0], set[1] = set[1], set[0]
		return set[0].st
	}
	st := ms.streams[streamKey{src: p.Src, dst: p.Dst, transport: p.Transport, ssrc: ssrc, point: cp}]
	if st != nil || tag&streamKeyWhole != 0 {
		set[1] = set[0]
		set[0] = streamCacheSlot{a: a, b: b, st: st, tag: tag}
	}
	return st
}

// cached puts a new stream into the slot that says its key has none, if
// a slot does.
func (ms *mediaState) cached(st *streamState) {
	k := &st.key
	a, b, tag := cacheKey(k.src, k.dst, k.transport, k.ssrc)
	tag = withPoint(tag, k.point)
	if tag&streamKeyWhole == 0 {
		return
	}
	set := ms.recent.set(a, b)
	for w := range set {
		if sl := &set[w]; sl.a == a && sl.b == b && sl.tag == tag {
			sl.st = st
		}
	}
}

// forget removes st from the streams looked up by key, for good.
func (ms *mediaState) forget(st *streamState) {
	if ms.streams[st.key] == st {
		delete(ms.streams, st.key)
	}
	if ms.recent != nil {
		k := &st.key
		a, b, _ := cacheKey(k.src, k.dst, k.transport, k.ssrc)
		set := ms.recent.set(a, b)
		for w := range set {
			if set[w].st == st {
				set[w] = streamCacheSlot{}
			}
		}
	}
}

// plausiblePayloadType rejects the payload types RTCP packet types would
// show as when read as RTP (RFC 5761 §4: 72-76 are SR, RR, SDES, BYE, APP).
func plausiblePayloadType(pt uint8) bool { return pt < 72 || pt > 76 }

// push adds a packet to a candidate's run, or starts a new run with it when
// it does not continue the current one. A repeated sequence number neither
// continues nor breaks the run: a capture taken at two points of a path
// (a SPAN of both a switch's ports) shows every packet twice.
func (c *candidate) push(pk *probePacket) {
	if !plausiblePayloadType(pk.pt) {
		c.n, c.distinct = 0, 0
		return
	}
	if c.n > 0 {
		last := &c.run[c.n-1]
		step := pk.seq - last.seq
		switch {
		case pk.pt != last.pt || step > StreamProbationMaxStep:
			c.n, c.distinct = 0, 0
		case step == 0:
			if c.n < len(c.run) {
				c.run[c.n] = *pk
				c.n++
			}
			return
		}
	}
	if c.n == len(c.run) {
		// Only an announced flow's leftovers get here; keep the latest.
		copy(c.run[:], c.run[1:])
		c.n--
	}
	c.run[c.n] = *pk
	c.n++
	c.distinct++
}

func (ms *mediaState) candidate(key streamKey) *candidate {
	if c := ms.cand[key]; c != nil {
		return c
	}
	if c := ms.candPrev[key]; c != nil {
		// Move it to the current generation so that an active candidate
		// survives the next rotation.
		delete(ms.candPrev, key)
		ms.storeCandidate(key, c)
		return c
	}
	return nil
}

func (ms *mediaState) newCandidate(key streamKey) *candidate {
	c := &candidate{}
	ms.storeCandidate(key, c)
	return c
}

func (ms *mediaState) storeCandidate(key streamKey, c *candidate) {
	if ms.cand == nil {
		ms.cand = make(map[streamKey]*candidate)
	}
	ms.turnCandidates()
	ms.cand[key] = c
}

// turnCandidates starts a new generation of candidates when the current
// one holds half of MaxStreamCandidates.
func (ms *mediaState) turnCandidates() {
	if len(ms.cand) >= MaxStreamCandidates/2 {
		ms.candPrev, ms.cand = ms.cand, make(map[streamKey]*candidate)
	}
}

// promote makes a stream of a candidate and accounts its probation packets.
func (ms *mediaState) promote(key streamKey, c *candidate, ann *announcement, as *allocState) *streamState {
	if c.n == 0 {
		return nil
	}
	first := &c.run[0]
	s := &Stream{
		Src: key.src, Dst: key.dst, Transport: key.transport, SSRC: key.ssrc,
		Direction: key.point.direction, Interface: key.point.ifindex,
		PayloadType: first.pt,
		First:       FrameRef{Frame: first.frame, Time: first.at},
		FirstSeq:    first.seq, FirstTimestamp: first.ts,
		SRTCPPackets: c.srtcp,
		ICMP:         c.icmp,
	}
	if as != nil {
		s.Allocation = as.a
	}
	st := &streamState{s: s, key: key, order: ms.order, announceGen: ms.announceGen, pt: first.pt,
		firstFrames: make([]uint64, 0, len(c.run))}
	ms.order++
	st.seq.init(first.seq)
	st.link(ann)
	if ms.streams == nil {
		ms.streams = make(map[streamKey]*streamState)
		ms.recent = new(streamCache)
		ms.bySSRC = make(map[uint32]*streamState)
	}
	ms.streams[key] = st
	ms.cached(st)
	ms.list = append(ms.list, st)
	st.nextSSRC = ms.bySSRC[key.ssrc]
	ms.bySSRC[key.ssrc] = st
	// The first packet initialized the sequence; account it without
	// updating the tracker again.
	at := packettime.Of(first.at)
	st.record(first, at)
	st.updateJitter(first, at, st.clock)
	for i := 1; i < c.n; i++ {
		ms.account(st, &c.run[i])
	}
	return st
}

// link ties a stream to the SDP that announced one of its ends: the call,
// whether it is SRTP, and the codec its payload type stands for. It
// reports whether it set the clock rate, after which jitter starts from
// the next packet; the caller resets the spacing (haveTransit), since with
// sharded accounting that state belongs to a worker (media_workers.go).
func (st *streamState) link(ann *announcement) (clockSet bool) {
	s := st.s
	var codec string
	var clock uint32
	var mediaType string
	if ann != nil {
		codec, clock, mediaType = ann.codec(s.PayloadType)
		s.Signalled = true
		s.Call = ann.call
		s.SRTP = s.SRTP || ann.srtp
		if s.Call != nil {
			st.announceGen = linkedForGood
		}
	} else {
		codec, clock, mediaType = staticCodec(s.PayloadType)
	}
	if s.Codec == "" {
		s.Codec = codec
	}
	if s.ClockRate == 0 && clock != 0 {
		s.ClockRate = clock
		st.clock = clock
		clockSet = true
	}
	if s.MediaType == "" {
		s.MediaType = mediaType
	}
	return clockSet
}

// account adds one packet to an established stream. It must not allocate:
// it runs for every RTP packet of the capture.
func (ms *mediaState) account(st *streamState, pk *probePacket) {
	if ms.relink(st) {
		st.haveTransit = false // jitter starts from the next packet
	}
	st.accountPacket(pk, st.clock)
}

// relink links a stream not yet tied to a call to an SDP seen since it
// last looked (an SDP that arrives after the media started still links
// it), and reports whether that set its clock rate. It touches only what
// the correlating goroutine owns: the stream's call, codec and clock.
//
// A stream tied to a call stays tied, and need not look again: its
// announceGen is linkedForGood, above any generation. On a capture dense
// with calls an SDP comes between most two packets of a stream, and
// telling that from its record (Call) read a cache line of it per packet.
func (ms *mediaState) relink(st *streamState) (clockSet bool) {
	return st.announceGen < ms.announceGen && ms.relinkAnew(st)
}

// linkedForGood is streamState.announceGen of a stream tied to a call.
const linkedForGood = ^uint64(0)

// relinkAnew is relink once an SDP came since st last looked.
//
// Its ends' announcements then found nothing to tie it to, and only an
// announcement of one of them since can (one forgotten at
// MaxAnnouncedEndpoints only takes away), so a stream whose ends' slots
// of announcedAt are no newer looks no further: with many calls behind
// NAT, their SDPs naming addresses their RTP does not use, an SDP comes
// between most two packets of a stream, and each would look both ends up.
// A relayed stream's end is its allocation's relayed address, which an
// allocation may learn late: it always looks.
//
// Kept out of line: it runs for few packets, and inlined into every
// packet's path (observeRTPHeader) it left that too big for the
// profile-guided inlining of the path into its callers.
//
//go:noinline
func (ms *mediaState) relinkAnew(st *streamState) (clockSet bool) {
	since := st.announceGen
	st.announceGen = ms.announceGen
	s := st.s
	if s.Call != nil {
		st.announceGen = linkedForGood
		return false
	}
	if s.Allocation == nil && !ms.announcedSince(since, st.key.dst) && !ms.announcedSince(since, st.key.src) {
		return false
	}
	if ann := ms.announcedFor(st.key, s.Allocation); ann != nil {
		return st.link(ann)
	}
	return false
}

// endpointSlots is the size of mediaState.announcedAt.
const (
	endpointSlotBits = 12
	endpointSlots    = 1 << endpointSlotBits
)

// endpointSlot hashes a media endpoint to its slot of
// mediaState.announcedAt. An IPv4 address and its IPv4-mapped form (which
// announce and announcedFor unmap) take the same slot: As16 is the same.
// The port goes where an IPv4-mapped address has zeros.
func endpointSlot(ep netip.AddrPort) int {
	a := ep.Addr().As16()
	h := mix.Mix64(binary.LittleEndian.Uint64(a[:8])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(a[8:]) ^ uint64(ep.Port()))
	return int(h >> (64 - endpointSlotBits))
}

// announcedSince tells whether an announcement since generation gen may
// have named ep.
func (ms *mediaState) announcedSince(gen uint64, ep netip.AddrPort) bool {
	return ms.announcedAt == nil || ms.announcedAt[endpointSlot(ep)] > gen
}

// accountPacket is the per-stream part of account: sequence, counters and
// jitter with the given clock rate, reading and writing only the stream's
// own accounting, so that a worker may run it (media_workers.go).
func (st *streamState) accountPacket(pk *probePacket, clock uint32) {
	verdict := st.seq.update(pk.seq)
	at := packettime.Of(pk.at)
	st.record(pk, at)
	switch verdict {
	case seqRestart:
		// A restarted source starts a new timestamp line too (RFC 3550
		// §5.1: a random initial value): spacing across it means nothing.
		st.haveTransit = false
		fallthrough
	case seqInOrder:
		st.updateJitter(pk, at, clock)
	}
}

// record updates the counters every packet contributes to; at is pk.at.
// Most packets touch only st: its record (st.s) for its first frames, a
// marker or a change of DSCP.
func (st *streamState) record(pk *probePacket, at packettime.Stamp) {
	// FirstFrames gains a frame per packet until full.
	if st.packets < MaxFramesPerFinding {
		st.addFirstFrame(pk.frame)
	}
	st.packets++
	st.bytes += uint64(max(pk.payload, 0))
	if dscp := pk.dscp & 63; dscp == st.dscp {
		st.dscpRun++
	} else {
		st.s.DSCP.Add(int(st.dscp), st.dscpRun)
		st.dscp, st.dscpRun = dscp, 1
	}
	if pk.marker {
		st.s.Marker++
	}
	if pk.pt != st.pt {
		st.countOtherPayloadType(pk)
	}
	if !st.lastTime.IsZero() {
		if d := at.Sub(st.lastTime); d > st.maxDelta {
			st.maxDelta = d
		}
	}
	st.lastTime = at
	st.lastFrame, st.lastAt = pk.frame, pk.at
}

// addFirstFrame appends to Stream.FirstFrames. Its room starts at what
// probation may bring (promote) and, once a stream outgrows that, becomes
// all of MaxFramesPerFinding: on captures dense with short calls most
// streams never need more, and every stream's frames stay in the
// Analysis.
func (st *streamState) addFirstFrame(frame uint64) {
	n := len(st.firstFrames)
	if n == cap(st.firstFrames) {
		st.growFirstFrames()
	}
	st.firstFrames = st.firstFrames[:n+1]
	st.firstFrames[n] = frame
}

// growFirstFrames is addFirstFrame's once a stream: out of line, so that
// every packet's accounting stays small enough to inline.
//
//go:noinline
func (st *streamState) growFirstFrames() {
	ff := st.firstFrames
	st.firstFrames = append(make([]uint64, 0, max(MaxFramesPerFinding, len(ff)+1)), ff...)
}

// countOtherPayloadType counts a packet whose payload type is not the
// stream's first: a telephone-event, comfort noise, another codec. Kept
// out of line: inlined, it made every packet's accounting slower.
//
//go:noinline
func (st *streamState) countOtherPayloadType(pk *probePacket) {
	c := st.pts
	if c == nil {
		c = new(payloadTypeCounts)
		st.pts = c
	}
	c.packets++
	c.changed = true
	for i := range c.n {
		if c.others[i].PayloadType == pk.pt {
			c.others[i].Packets++
			return
		}
	}
	if c.n < len(c.others) {
		c.others[c.n] = PayloadTypeCount{PayloadType: pk.pt, Packets: 1, First: FrameRef{Frame: pk.frame, Time: pk.at}}
		c.n++
	}
}

// updateJitter applies RFC 3550 §6.4.1: D is the difference between two
// packets' spacing at arrival and at the sender, both in timestamp units,
// and J += (|D| - J)/16. Only packets of the stream's first payload type
// count: a telephone-event or comfort-noise packet interleaved with the
// voice holds timestamps of its own meaning. Without a known clock rate
// there is no jitter. clock is the stream's clock rate (Stream.ClockRate,
// passed in because the correlating goroutine owns that field).
func (st *streamState) updateJitter(pk *probePacket, at packettime.Stamp, clock uint32) {
	if clock == 0 || pk.pt != st.pt {
		return
	}
	if st.haveTransit {
		arrival := float64(at.Sub(st.lastArrival).Nanoseconds()) * float64(clock) / 1e9
		d := arrival - float64(int32(pk.ts-st.lastTS))
		if d < 0 {
			d = -d
		}
		if d > float64(clock)*JitterResync.Seconds() {
			// A new timeline, not delay variation: some gateways restart
			// the timestamp without a new SSRC (after a T.38 switch, say).
			st.lastArrival, st.lastTS = at, pk.ts
			return
		}
		st.jitter += (d - st.jitter) / 16
		st.jittered = true
		if st.jitter > st.maxJitter {
			st.maxJitter = st.jitter
		}
	}
	st.haveTransit = true
	st.lastArrival = at
	st.lastTS = pk.ts
}

// publish writes the accounting kept in st into its record: call it
// before reading Packets, Bytes, Last, FirstFrames, DSCP, Jitter,
// MaxJitter, MaxDelta or PayloadTypes (Engine.syncRTPWorkers does, for
// every stream). The jitter in milliseconds is the one in
// timestamp units times 1000 over the clock rate, which only link sets,
// once; a larger one in units is never a smaller one in milliseconds (the
// rounded product and quotient are monotonic), so MaxJitter comes out as
// if it were the largest Jitter so far.
func (st *streamState) publish() {
	s := st.s
	s.Packets, s.Bytes = st.packets, st.bytes
	s.FirstFrames = st.firstFrames
	if st.packets > 0 {
		s.Last = FrameRef{Frame: st.lastFrame, Time: st.lastAt}
	}
	s.DSCP.Add(int(st.dscp), st.dscpRun)
	st.dscpRun = 0
	s.MaxDelta = st.maxDelta
	if c := st.pts; c != nil && (c.changed || len(s.PayloadTypes) == 0 || s.PayloadTypes[0].Packets != st.packets-c.packets) {
		// A new slice, not the old one rewritten: a snapshot's copy of
		// the record keeps the counts it was taken with.
		pts := make([]PayloadTypeCount, 0, 1+c.n)
		pts = append(pts, PayloadTypeCount{PayloadType: st.pt, Packets: st.packets - c.packets, First: s.First})
		s.PayloadTypes = append(pts, c.others[:c.n]...)
		c.changed = false
	}
	if st.jittered {
		s.Jitter = st.jitter * 1000 / float64(st.clock)
		s.MaxJitter = st.maxJitter * 1000 / float64(st.clock)
	}
}

// finishMedia closes the streams: final sequence accounting, streams too
// short to be RTP dropped, the rest listed in order of their first packet
// and tied to their calls, and one media Flow per 5-tuple and class.
func (e *Engine) finishMedia() {
	ms := &e.media
	kept := make([]*streamState, 0, len(ms.list))
	for _, st := range ms.list {
		st.publish()
		st.seq.finish(st.s)
		if st.s.Packets < StreamMinPackets {
			continue
		}
		kept = append(kept, st)
	}
	sortStreams(kept)
	for _, st := range kept {
		e.analysis.Streams = append(e.analysis.Streams, st.s)
		if c := st.s.Call; c != nil {
			c.Streams = append(c.Streams, st.s)
		}
	}
	e.analysis.Flows = append(e.analysis.Flows, mediaFlows(e.analysis.Streams)...)
	e.media = mediaState{}
}
