package diagnose

import (
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
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

// streamKey is an RTP stream's identity: 5-tuple and SSRC (RFC 3550 §3).
type streamKey struct {
	src, dst  netip.AddrPort
	transport decode.Transport
	ssrc      uint32
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
	distinct int // sequence numbers in run
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

	// recent is a direct-mapped cache in front of streams: hashing the
	// map's 72-byte keys (two netip.AddrPorts) was a quarter of the time
	// spent on an RTP packet. A slot holds only a stream that streams
	// holds (see forget).
	recent *[streamCacheSize]*streamState

	announced    map[netip.AddrPort]*announcement
	announceRing []netip.AddrPort // oldest first from announceHead
	announceHead int
	announceGen  uint64 // bumped on every announcement

	senderReports map[uint32]*senderReportLog
	compound      *rtp.Compound // scratch for RTCP carried in TURN

	order          uint64
	droppedStreams uint64
}

// streamState is a stream's accounting beside its record.
type streamState struct {
	s        *Stream
	key      streamKey
	order    uint64
	nextSSRC *streamState
	// announceGen is the mediaState.announceGen this stream last looked
	// its endpoints up at, so that an SDP seen after the media starts still
	// links it, at the cost of one integer compare per packet otherwise.
	announceGen uint64

	seq seqTracker

	// RFC 3550 §6.4.1 / A.8, in timestamp units.
	jitter      float64
	lastArrival time.Time
	lastTS      uint32
	haveTransit bool
	lastTime    time.Time // the previous packet, for MaxDelta
}

// observeRTP accounts a datagram the decoder found to parse as RTP.
func (e *Engine) observeRTP(m *decode.Message) {
	e.observeRTPHeader(&m.Packet, &m.RTP, nil)
}

// observeRTPHeader accounts one RTP packet seen on the 5-tuple of p. as is
// the TURN allocation the packet was relayed through, nil when it was not.
func (e *Engine) observeRTPHeader(p *decode.Packet, h *rtp.Header, as *allocState) {
	ms := &e.media
	key := streamKey{src: p.Src, dst: p.Dst, transport: p.Transport, ssrc: h.SSRC}
	pk := probePacket{
		at: p.Time, frame: p.Frame, ts: h.Timestamp, payload: h.PayloadLen,
		seq: h.Sequence, pt: h.PayloadType, dscp: p.DSCP & 63, marker: h.Marker,
	}
	if st := ms.lookup(&key); st != nil {
		if w := e.rtpWorkers; w != nil {
			w.dispatch(ms, st, &pk)
			return
		}
		ms.account(st, &pk)
		return
	}
	if h.Version != 2 {
		return
	}
	if !e.roomForStream() {
		ms.droppedStreams++
		return
	}
	var relayedBy *Allocation
	if as != nil {
		relayedBy = as.a
	}
	ann := ms.announcedFor(key, relayedBy)
	c := ms.candidate(key)
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

// streamCacheSize is the number of slots of mediaState.recent, a power of
// two well above the streams of a busy capture point's active calls.
const streamCacheSize = 4096

// streamSlot is key's slot in mediaState.recent: a hash of
// the low halves of the addresses, the ports and the SSRC, which tell
// active streams apart.
func streamSlot(key *streamKey) uint32 {
	return uint32(mix64(flowHash(key.src, key.dst)^uint64(key.ssrc))>>40) & (streamCacheSize - 1)
}

// lookup returns the stream with key, nil when there is none.
func (ms *mediaState) lookup(key *streamKey) *streamState {
	if ms.recent == nil {
		return nil
	}
	slot := &ms.recent[streamSlot(key)]
	if st := *slot; st != nil && st.key == *key {
		return st
	}
	st := ms.streams[*key]
	if st != nil {
		*slot = st
	}
	return st
}

// forget removes st from the streams looked up by key, for good.
func (ms *mediaState) forget(st *streamState) {
	if ms.streams[st.key] == st {
		delete(ms.streams, st.key)
	}
	if ms.recent != nil {
		if slot := &ms.recent[streamSlot(&st.key)]; *slot == st {
			*slot = nil
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
	half := MaxStreamCandidates / 2
	if ms.cand == nil {
		ms.cand = make(map[streamKey]*candidate)
	} else if len(ms.cand) >= half {
		ms.candPrev, ms.cand = ms.cand, make(map[streamKey]*candidate)
	}
	ms.cand[key] = c
}

// promote makes a stream of a candidate and accounts its probation packets.
func (ms *mediaState) promote(key streamKey, c *candidate, ann *announcement, as *allocState) *streamState {
	if c.n == 0 {
		return nil
	}
	first := &c.run[0]
	s := &Stream{
		Src: key.src, Dst: key.dst, Transport: key.transport, SSRC: key.ssrc,
		PayloadType: first.pt,
		First:       FrameRef{Frame: first.frame, Time: first.at},
		FirstFrames: make([]uint64, 0, MaxFramesPerFinding),
	}
	if as != nil {
		s.Allocation = as.a
	}
	st := &streamState{s: s, key: key, order: ms.order, announceGen: ms.announceGen}
	ms.order++
	st.seq.init(first.seq)
	st.link(ann)
	if ms.streams == nil {
		ms.streams = make(map[streamKey]*streamState)
		ms.recent = new([streamCacheSize]*streamState)
		ms.bySSRC = make(map[uint32]*streamState)
	}
	ms.streams[key] = st
	ms.list = append(ms.list, st)
	st.nextSSRC = ms.bySSRC[key.ssrc]
	ms.bySSRC[key.ssrc] = st
	// The first packet initialized the sequence; account it without
	// updating the tracker again.
	st.record(first)
	st.updateJitter(first, s.ClockRate)
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
	} else {
		codec, clock, mediaType = staticCodec(s.PayloadType)
	}
	if s.Codec == "" {
		s.Codec = codec
	}
	if s.ClockRate == 0 && clock != 0 {
		s.ClockRate = clock
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
	st.accountPacket(pk, st.s.ClockRate)
}

// relink links a stream not yet tied to a call to an SDP seen since it
// last looked (an SDP that arrives after the media started still links
// it), and reports whether that set its clock rate. It touches only what
// the correlating goroutine owns: the stream's call, codec and clock.
func (ms *mediaState) relink(st *streamState) (clockSet bool) {
	if st.s.Call == nil && st.announceGen != ms.announceGen {
		st.announceGen = ms.announceGen
		if ann := ms.announcedFor(st.key, st.s.Allocation); ann != nil {
			return st.link(ann)
		}
	}
	return false
}

// accountPacket is the per-stream part of account: sequence, counters and
// jitter with the given clock rate, reading and writing only the stream's
// own accounting, so that a worker may run it (media_workers.go).
func (st *streamState) accountPacket(pk *probePacket, clock uint32) {
	verdict := st.seq.update(pk.seq)
	st.record(pk)
	switch verdict {
	case seqRestart:
		// A restarted source starts a new timestamp line too (RFC 3550
		// §5.1: a random initial value): spacing across it means nothing.
		st.haveTransit = false
		fallthrough
	case seqInOrder:
		st.updateJitter(pk, clock)
	}
}

// record updates the counters every packet contributes to.
func (st *streamState) record(pk *probePacket) {
	s := st.s
	s.Packets++
	s.Bytes += uint64(max(pk.payload, 0))
	s.DSCP[pk.dscp&63]++
	if pk.marker {
		s.Marker++
	}
	if len(s.FirstFrames) < MaxFramesPerFinding {
		s.FirstFrames = append(s.FirstFrames, pk.frame)
	}
	if !st.lastTime.IsZero() {
		if d := packettime.Sub(pk.at, st.lastTime); d > s.MaxDelta {
			s.MaxDelta = d
		}
	}
	st.lastTime = pk.at
	s.Last = FrameRef{Frame: pk.frame, Time: pk.at}
}

// updateJitter applies RFC 3550 §6.4.1: D is the difference between two
// packets' spacing at arrival and at the sender, both in timestamp units,
// and J += (|D| - J)/16. Only packets of the stream's first payload type
// count: a telephone-event or comfort-noise packet interleaved with the
// voice holds timestamps of its own meaning. Without a known clock rate
// there is no jitter. clock is the stream's clock rate (Stream.ClockRate,
// passed in because the correlating goroutine owns that field).
func (st *streamState) updateJitter(pk *probePacket, clock uint32) {
	s := st.s
	if clock == 0 || pk.pt != s.PayloadType {
		return
	}
	if st.haveTransit {
		arrival := float64(packettime.Sub(pk.at, st.lastArrival).Nanoseconds()) * float64(clock) / 1e9
		d := arrival - float64(int32(pk.ts-st.lastTS))
		if d < 0 {
			d = -d
		}
		if d > float64(clock)*JitterResync.Seconds() {
			// A new timeline, not delay variation: some gateways restart
			// the timestamp without a new SSRC (after a T.38 switch, say).
			st.lastArrival, st.lastTS = pk.at, pk.ts
			return
		}
		st.jitter += (d - st.jitter) / 16
		s.Jitter = st.jitter * 1000 / float64(clock)
		if s.Jitter > s.MaxJitter {
			s.MaxJitter = s.Jitter
		}
	}
	st.haveTransit = true
	st.lastArrival = pk.at
	st.lastTS = pk.ts
}

// finishMedia closes the streams: final sequence accounting, streams too
// short to be RTP dropped, the rest listed in order of their first packet
// and tied to their calls, and one media Flow per 5-tuple and class.
func (e *Engine) finishMedia() {
	ms := &e.media
	kept := make([]*streamState, 0, len(ms.list))
	for _, st := range ms.list {
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
