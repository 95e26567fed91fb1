package diagnose

import (
	"encoding/binary"
	"net/netip"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

// observeICMP ties an ICMP error to the transaction and allocation of the
// packet it quotes (RFC 792, RFC 4443 §2.4(c): the quote holds the IP and
// transport headers and as much payload as fits, usually a STUN header).
func (e *Engine) observeICMP(m *decode.Message) {
	e.analysis.ICMPErrorCount++
	q := &m.ICMP
	ev := &ICMPEvent{
		FrameRef:    frameRef(m),
		From:        m.Src.Addr(),
		Description: q.Description, // one of the decoder's constant strings
		Flow:        [2]netip.AddrPort{q.QuotedSrc, q.QuotedDst},
		Transport:   q.QuotedTransport,
	}
	if st := e.quotedTransaction(q); st != nil {
		ev.Transaction = st.tx
		if st.tx.ICMP == nil {
			st.tx.ICMP = ev
		}
		if st.alloc != nil {
			ev.Allocation = st.alloc.a
		}
	}
	if ev.Allocation == nil {
		as := e.allocations[flowKey{client: q.QuotedSrc, server: q.QuotedDst, transport: q.QuotedTransport}]
		if as == nil {
			as = e.allocations[flowKey{client: q.QuotedDst, server: q.QuotedSrc, transport: q.QuotedTransport}]
		}
		if as != nil {
			ev.Allocation = as.a
		}
	}
	if ev.Allocation != nil {
		ev.Allocation.Last = ev.FrameRef
	}
	if len(e.analysis.ICMPErrors) < e.maxICMP {
		e.analysis.ICMPErrors = append(e.analysis.ICMPErrors, ev)
	}
	e.observeMediaICMP(m)
}

// quotedTransaction finds the open transaction a quoted packet belongs to:
// by transaction ID when the quote holds a STUN header (a request from the
// client, or a response to it), else the latest unanswered request on the
// quoted flow.
func (e *Engine) quotedTransaction(q *decode.ICMPError) *openTx {
	if p := q.QuotedPayload; len(p) >= stunHeaderSize && p[0]&0xc0 == 0 {
		typ := binary.BigEndian.Uint16(p)
		class := stun.Class((typ>>7)&2 | (typ>>4)&1)
		key := txKey{cookie: binary.BigEndian.Uint32(p[4:]), client: q.QuotedSrc, server: q.QuotedDst, transport: q.QuotedTransport}
		copy(key.id[:], p[8:stunHeaderSize])
		response := class == stun.ClassSuccess || class == stun.ClassError
		if response {
			key.client, key.server = q.QuotedDst, q.QuotedSrc
		}
		if st := e.open[key]; st != nil {
			return st
		}
		// A response sent from another address of the server (RFC 5780).
		if response {
			if st := e.openMatching(key.id, key.cookie, key.client, key.transport); st != nil {
				return st
			}
		}
	}
	st := e.lastOnFlow[flowKey{client: q.QuotedSrc, server: q.QuotedDst, transport: q.QuotedTransport}]
	if st != nil && !st.tx.Answered {
		return st
	}
	return nil
}

// StreamICMP is what the ICMP and ICMPv6 destination-unreachable errors
// quoting a stream's packets said: media sent to a port nobody listens on
// (the far end hung up, or its SDP named the wrong port) or refused by a
// firewall. A stream gets one on its first such error only.
type StreamICMP struct {
	Errors          uint64 // quoting the stream's RTP or its RTCP
	RTCP            uint64 // of Errors, those quoting its RTCP or SRTCP
	PortUnreachable uint64 // ICMPv4 type 3 code 3, ICMPv6 type 1 code 4
	Prohibited      uint64 // administratively prohibited: ICMPv4 type 3 code 9, 10 or 13, ICMPv6 type 1 code 1
	First, Last     FrameRef
	Frames          []uint64 // the first MaxFramesPerFinding errors'
	// The first error's sender, protocol, type, code and description,
	// and how many errors came from another sender or with another type
	// or code.
	From                     netip.Addr
	V6                       bool
	Type, Code               uint8
	Description              string
	OtherSenders, OtherCodes uint64
}

func (r *StreamICMP) add(at FrameRef, from netip.Addr, q *decode.ICMPError, rtcp bool) {
	if r.Errors == 0 {
		r.First, r.From, r.V6, r.Type, r.Code, r.Description = at, from, q.V6, q.Type, q.Code, q.Description
	}
	r.Errors++
	if rtcp {
		r.RTCP++
	}
	switch {
	case portUnreachable(q):
		r.PortUnreachable++
	case adminProhibited(q):
		r.Prohibited++
	}
	if from != r.From {
		r.OtherSenders++
	}
	if q.V6 != r.V6 || q.Type != r.Type || q.Code != r.Code {
		r.OtherCodes++
	}
	r.Last = at
	if len(r.Frames) < MaxFramesPerFinding {
		r.Frames = append(r.Frames, at.Frame)
	}
}

func portUnreachable(q *decode.ICMPError) bool {
	if q.V6 {
		return q.Type == 1 && q.Code == 4 // RFC 4443 §3.1
	}
	return q.Type == 3 && q.Code == 3 // RFC 792
}

func adminProhibited(q *decode.ICMPError) bool {
	if q.V6 {
		return q.Type == 1 && q.Code == 1
	}
	// RFC 1122 §3.2.2.1 (9, 10) and RFC 1812 §5.2.7.1 (13, what a
	// filtering router sends).
	return q.Type == 3 && (q.Code == 9 || q.Code == 10 || q.Code == 13)
}

// unreachableMedia tells the errors that say a datagram was not
// delivered: destination unreachable, but for ICMPv4's "fragmentation
// needed", which asks for smaller packets (path MTU discovery).
func unreachableMedia(q *decode.ICMPError) bool {
	return q.Unreachable && q.QuotedTransport == decode.UDP && (q.V6 || q.Code != 4)
}

// observeMediaICMP counts an ICMP error on the stream whose packet it
// quotes. A stream retired before the error came (an idle timeout after
// its last packet: only a capture merged out of order gets there) or a
// flow that never became a stream leaves the error in
// Analysis.ICMPErrors only. ChannelData and STUN quoted to a TURN server
// are the allocation's (observeICMP).
func (e *Engine) observeMediaICMP(m *decode.Message) {
	q := &m.ICMP
	if !unreachableMedia(q) {
		return
	}
	rec, rtcp := e.media.quotedStream(q, pointOf(&m.Packet).facing())
	if rec == nil {
		return
	}
	if *rec == nil {
		*rec = new(StreamICMP)
	}
	(*rec).add(frameRef(m), m.Src.Addr(), q, rtcp)
}

// rtpVersion2 tells a byte that starts an RTP or RTCP header (RFC 3550 §5.1).
func rtpVersion2(b byte) bool { return b>>6 == 2 }

// quotedStream finds where to count an error about the datagram q quotes:
// the StreamICMP field of the stream (or candidate in probation) it
// belongs to, and whether the datagram was its RTCP. RTP names its
// stream by SSRC; RTCP (packet types 192-223, RFC 5761 §4) by its
// sender's SSRC, on the RTP ports with rtcp-mux or one port above them
// (RFC 3550 §11). A quote that ends before the SSRC (RFC 792 asks for
// only the first 8 bytes of the datagram, the UDP header, and some
// routers and hosts send no more) is matched by its 5-tuple alone.
//
// at is where on the capturing host the quoted datagram was seen, when
// the capture tells (capturePoint.facing): on a router captured with
// tcpdump -i any, each copy of an error counts for the copy of the
// stream on its side.
func (ms *mediaState) quotedStream(q *decode.ICMPError, at capturePoint) (rec **StreamICMP, rtcp bool) {
	src, dst, tr := q.QuotedSrc, q.QuotedDst, q.QuotedTransport
	p := q.QuotedPayload
	if len(p) > 0 && !rtpVersion2(p[0]) {
		return nil, false
	}
	if len(p) >= 8 && p[1] >= 192 && p[1] <= 223 {
		ssrc := binary.BigEndian.Uint32(p[4:])
		if r := ms.ssrcRecord(src, dst, tr, ssrc, at); r != nil {
			return r, true
		}
		if s, d, ok := portsBelow(src, dst); ok {
			if r := ms.ssrcRecord(s, d, tr, ssrc, at); r != nil {
				return r, true
			}
		}
		if len(p) < 12 {
			return nil, false
		}
		// Else perhaps RTP with the marker bit and a payload type of
		// 64-95, which RFC 5761 §4 only discourages.
	}
	if len(p) >= 12 {
		return ms.ssrcRecord(src, dst, tr, binary.BigEndian.Uint32(p[8:]), at), false
	}
	if st := ms.streamOnFlow(src, dst, tr); st != nil {
		return &st.s.ICMP, false
	}
	if s, d, ok := portsBelow(src, dst); ok {
		if st := ms.streamOnFlow(s, d, tr); st != nil {
			return &st.s.ICMP, true
		}
	}
	return nil, false
}

// portsBelow is the RTP 5-tuple of RTCP sent between src and dst without
// rtcp-mux.
func portsBelow(src, dst netip.AddrPort) (netip.AddrPort, netip.AddrPort, bool) {
	if src.Port() < 2 || dst.Port() < 2 {
		return src, dst, false
	}
	return netip.AddrPortFrom(src.Addr(), src.Port()-1), netip.AddrPortFrom(dst.Addr(), dst.Port()-1), true
}

// ssrcRecord is the StreamICMP field of the stream, or candidate, with
// that key, seen at that point or, for a stream, any other; nil when
// there is none.
func (ms *mediaState) ssrcRecord(src, dst netip.AddrPort, tr decode.Transport, ssrc uint32, at capturePoint) **StreamICMP {
	key := streamKey{src: src, dst: dst, transport: tr, ssrc: ssrc, point: at}
	if st := ms.streams[key]; st != nil {
		return &st.s.ICMP
	}
	for st := ms.bySSRC[ssrc]; st != nil; st = st.nextSSRC {
		if k := &st.key; k.src == src && k.dst == dst && k.transport == tr && ms.streams[*k] == st {
			return &st.s.ICMP
		}
	}
	c := ms.cand[key]
	if c == nil {
		c = ms.candPrev[key]
	}
	if c != nil {
		return &c.icmp
	}
	return nil
}

// datagramFlow is a UDP or TCP 5-tuple in one direction.
type datagramFlow struct {
	src, dst  netip.AddrPort
	transport decode.Transport
}

// icmpFlowIndex finds streams by 5-tuple, for the ICMP errors whose
// quote names no SSRC. It is made on the first such error and extended
// on the next ones with the streams promoted since (the end of
// mediaState.list), so that nothing is kept for captures without such
// errors and each stream is indexed once; the entries of retired
// streams go when the index has grown to twice the live streams.
type icmpFlowIndex struct {
	byFlow map[datagramFlow]*streamState // the latest stream promoted on each
	next   uint64                        // mediaState.order of the first stream not indexed
}

// streamOnFlow returns the latest stream on a 5-tuple, nil when none is
// live. Streams relayed through TURN are left out: their 5-tuple is the
// client's with the TURN server, whose errors are the allocation's.
func (ms *mediaState) streamOnFlow(src, dst netip.AddrPort, tr decode.Transport) *streamState {
	ix := ms.icmpFlows
	if ix == nil {
		ix = &icmpFlowIndex{byFlow: make(map[datagramFlow]*streamState)}
		ms.icmpFlows = ix
	}
	if len(ix.byFlow) > 2*len(ms.list)+64 {
		clear(ix.byFlow)
		ix.next = 0
	}
	i := len(ms.list)
	for i > 0 && ms.list[i-1].order >= ix.next {
		i--
	}
	for _, st := range ms.list[i:] {
		if st.s.Allocation == nil {
			ix.byFlow[datagramFlow{st.key.src, st.key.dst, st.key.transport}] = st
		}
	}
	ix.next = ms.order
	k := datagramFlow{src, dst, tr}
	st := ix.byFlow[k]
	if st != nil && ms.streams[st.key] != st {
		delete(ix.byFlow, k) // retired
		return nil
	}
	return st
}
