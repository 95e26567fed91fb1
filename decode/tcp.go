package decode

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sort"
	"time"

	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/decode/tls"
)

// TCP reassembly.
//
// gopacket's reassembly package is not used. It delivers data through a
// Stream interface with its own page pool and, for out-of-order data, hands
// several segments' bytes over at once, so telling which frame carried a
// message's last byte means walking its ScatterGather capture infos; its
// bounds are in pages, global, and it flushes by wall-clock calls. What
// callscope needs is much smaller: per direction, bytes in sequence order,
// a framer that consumes whole STUN/ChannelData frames, RFC 4571 frames
// (ICE-TCP: checks, DTLS, RTP and RTCP, each handled as a datagram) or SIP
// messages as soon as they are complete, and nothing buffered for streams
// that are neither. So
// this file keeps, per direction, the next expected sequence number, the
// tail of an incomplete frame (at most MaxStreamBytes) and a few
// out-of-order segments (at most MaxStreamBytes in all). All streams
// together hold at most MaxTCPBytes: past that the idlest give theirs up.
//
// A direction whose start was not seen (no SYN: the capture began
// mid-connection, or the connection was forgotten while idle) or whose
// framing was lost hunts: it buffers nothing and tests the start of each
// new segment for the start of a frame, since senders usually begin a
// segment with a message. Long-lived TURN and SIP connections picked up
// mid-call are thus decoded from their next message on. Only segment
// starts are tested, so hunting costs one check per segment.
//
// A message belongs to the frame whose segment completed it in sequence
// order: the one carrying its last byte, or, when that byte came early, the
// one that filled the hole before it.

const (
	stunMagicCookie   = 0x2112a442
	maxPendingPerHalf = 32 // out-of-order segments held per direction
)

// halfMode says how a direction of a connection is framed.
type halfMode uint8

const (
	modeNew     halfMode = iota // no data classified yet
	modeSTUN                    // STUN and ChannelData back to back (RFC 8489 §6.2.2, RFC 8656 §12.5)
	modeClassic                 // as modeSTUN, RFC 3489 messages without the magic cookie
	modeRFC4571                 // 2-byte length before every frame (RFC 4571, ICE-TCP RFC 6544 §3)
	modeSIP                     // SIP messages framed by Content-Length, CRLF keep-alives between (RFC 3261 §18.3, RFC 5626 §3.5.1)
	modeTLS                     // TLS records framed by their header (RFC 8446 §5.1), see tlsstream.go
	modeHunting                 // start not seen or framing lost: each segment's start is tested for a frame; nothing is buffered
	modeIgnored                 // began as something else, ended, or carries RFC 6062 data: nothing is buffered any more
)

type tcpKey struct{ a, b netip.AddrPort } // a sorts before b

type tcpSegment struct {
	seq  uint32
	data []byte
	pkt  Packet
}

type tcpHalf struct {
	mode     halfMode
	seqKnown bool
	next     uint32 // next sequence number expected
	buf      []byte // an incomplete frame, or bytes not yet classified
	skip     int    // bytes of a frame too big to buffer, still to discard
	resync   bool   // after a gap: wait for a segment that starts a frame
	// sipLeading: the next SIP message starts at a boundary that was
	// guessed (a direction's first message, hunting, after a hole), so
	// the CRLFs before it are no keep-alives (sip_stream_keepalive.go).
	sipLeading bool
	// head is the start of a SIP message too big to buffer, emitted when
	// the last of its skipped bytes goes by (see sip.ErrTooLarge).
	head         []byte
	pending      []tcpSegment
	pendingBytes int
	held         int // bytes of buffers counted against MaxTCPBytes
	// tls is the connection's TLS state, shared by both directions once
	// either is modeTLS; dir is this direction's index in it.
	tls *tcpTLS
	dir uint8
}

type tcpConn struct {
	key  tcpKey
	last time.Time
	half [2]tcpHalf // [0]: a to b, [1]: b to a
	tls  *tcpTLS    // set when a direction began with a TLS ClientHello
}

type tcpTable struct {
	maxStreams, maxBytes int
	maxTotal             int // MaxTCPBytes
	used                 int // sum of every half's held
	idle                 time.Duration
	conns                map[tcpKey]*tcpConn
	nextSweep            time.Time
}

func (t *tcpTable) init(o Options) {
	t.maxStreams, t.maxBytes, t.maxTotal, t.idle = o.MaxTCPStreams, o.MaxStreamBytes, o.MaxTCPBytes, o.TCPIdleTimeout
	t.conns = make(map[tcpKey]*tcpConn)
}

// remove forgets a connection and the bytes it held.
func (t *tcpTable) remove(c *tcpConn) {
	t.used -= c.half[0].held + c.half[1].held
	delete(t.conns, c.key)
}

// account brings h's share of the global budget up to date.
func (t *tcpTable) account(h *tcpHalf) {
	n := cap(h.buf) + cap(h.head) + h.pendingBytes
	if h.tls != nil {
		n += h.tls.conn.Held(int(h.dir))
	}
	t.used += n - h.held
	h.held = n
}

// expire forgets connections idle longer than the timeout, by packet time.
func (t *tcpTable) expire(now time.Time) {
	if len(t.conns) == 0 || now.Before(t.nextSweep) {
		return
	}
	t.nextSweep = now.Add(t.idle / 8)
	for _, c := range t.conns {
		if now.Sub(c.last) > t.idle {
			t.remove(c)
		}
	}
}

func (t *tcpTable) create(key tcpKey, now time.Time) *tcpConn {
	if len(t.conns) >= t.maxStreams {
		t.nextSweep = time.Time{}
		t.expire(now)
	}
	if len(t.conns) >= t.maxStreams {
		var old *tcpConn
		for _, c := range t.conns {
			if old == nil || c.last.Before(old.last) {
				old = c
			}
		}
		t.remove(old)
	}
	c := &tcpConn{key: key, last: now}
	t.conns[key] = c
	return c
}

// tcpSegment parses a TCP header (RFC 9293 §3.1) and feeds the segment's
// data to its direction of the connection.
func (d *Decoder) tcpSegment(src, dst netip.Addr, b []byte, emit func(*Message)) {
	if len(b) < 20 {
		d.short()
		return
	}
	hl := int(b[12]>>4) * 4
	if hl < 20 || hl > len(b) {
		d.short()
		return
	}
	d.sawTCP = true
	sp, dp := binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:])
	seq := binary.BigEndian.Uint32(b[4:])
	flags := b[13]
	syn, fin, rst := flags&0x02 != 0, flags&0x01 != 0, flags&0x04 != 0
	payload := b[hl:]

	d.pkt.Src, d.pkt.Dst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	d.pkt.Transport = TCP
	key, dir := tcpKey{d.pkt.Src, d.pkt.Dst}, 0
	if key.b.Compare(key.a) < 0 {
		key, dir = tcpKey{key.b, key.a}, 1
	}
	c := d.tcp.conns[key]
	if rst {
		if c != nil {
			d.tcp.remove(c)
		}
		return
	}
	if c == nil {
		if !syn && len(payload) == 0 {
			return // a bare ACK says nothing worth a stream
		}
		c = d.tcp.create(key, d.pkt.Time)
		d.stats.TCPStreams++
	}
	c.last = d.pkt.Time
	d.tcpCur = c
	h := &c.half[dir]
	if syn {
		if h.seqKnown && h.next != seq+1 {
			h.reset() // the ports were reused for a new connection
		}
		h.seqKnown, h.next = true, seq+1
		seq++ // data in a SYN (RFC 7413) follows the SYN's number
	}
	if len(payload) > 0 {
		d.tcpData(h, seq, payload, emit)
		if d.ipCut > 0 && h.seqKnown && h.next == seq+uint32(len(payload)) {
			// The snaplen cut this segment: the rest of it is a hole.
			d.gap(h, h.next+uint32(d.ipCut), emit)
		}
	}
	if fin && h.seqKnown && h.next == seq+uint32(len(payload)) && len(h.pending) == 0 {
		h.mode = modeIgnored
		h.release()
	}
	d.tcp.account(h)
	if d.tcp.used > d.tcp.maxTotal {
		d.evictBuffers()
	}
}

// evictBuffers enforces MaxTCPBytes: the connections idle longest give up
// what they hold until all of them hold at most 7/8 of the budget, so
// that a flood of buffering streams costs one sort per eighth of the
// budget rather than one per segment.
func (d *Decoder) evictBuffers() {
	t := &d.tcp
	var holders []*tcpConn
	for _, c := range t.conns {
		if c.half[0].held+c.half[1].held > 0 {
			holders = append(holders, c)
		}
	}
	sort.Slice(holders, func(i, j int) bool { return holders[i].last.Before(holders[j].last) })
	target := t.maxTotal - t.maxTotal/8
	for _, c := range holders {
		if t.used <= target {
			break
		}
		for i := range c.half {
			if h := &c.half[i]; h.held > 0 {
				d.evictHalf(h)
			}
		}
	}
}

// evictHalf drops what a direction holds, as if its bytes up to the end of
// the last segment held had been lost: a hole (counted in TCPGaps) after
// which the framer waits for a segment that starts a frame.
func (d *Decoder) evictHalf(h *tcpHalf) {
	d.stats.TCPGaps++
	d.stats.TCPEvicted++
	end := h.next
	for _, s := range h.pending {
		if e := s.seq + uint32(len(s.data)); int32(e-end) > 0 {
			end = e
		}
	}
	h.next = end
	h.release()
	switch h.mode {
	case modeNew:
		h.mode = modeHunting
	case modeSTUN, modeClassic, modeRFC4571, modeSIP, modeTLS:
		h.resync = true
	}
	d.tcp.account(h)
}

func (h *tcpHalf) reset() {
	buf, held := h.buf[:0], h.held
	*h = tcpHalf{buf: buf, held: held}
}

func (h *tcpHalf) release() {
	h.buf, h.pending, h.pendingBytes, h.skip, h.head = nil, nil, 0, 0, nil
	if h.tls != nil {
		h.tls.conn.Release(int(h.dir))
	}
}

// tcpData places one segment's data in sequence order.
func (d *Decoder) tcpData(h *tcpHalf, seq uint32, data []byte, emit func(*Message)) {
	if h.mode == modeIgnored {
		return
	}
	if !h.seqKnown {
		// Picked up mid-stream: these bytes need not start anything.
		h.seqKnown, h.next = true, seq
		if h.mode == modeNew {
			h.mode = modeHunting
		}
	}
	if h.mode == modeHunting {
		if !d.hunt(h, seq, data) {
			return
		}
	}
	switch diff := int32(seq - h.next); {
	case diff < 0:
		// Negated in 64 bits: a segment half the sequence space away has
		// diff -2^31, whose negation overflows int32.
		if -int64(diff) >= int64(len(data)) {
			return // a retransmission of what we have
		}
		data = data[-int64(diff):]
	case diff > 0:
		if len(h.pending) < maxPendingPerHalf && h.pendingBytes+len(data) <= d.tcp.maxBytes {
			h.pending = append(h.pending, tcpSegment{seq: seq, data: append([]byte(nil), data...), pkt: d.pkt})
			h.pendingBytes += len(data)
			return
		}
		// No room to wait for the hole to fill: skip over it.
		d.gap(h, h.lowestPending(seq), emit)
		d.tcpData(h, seq, data, emit)
		return
	}
	d.frame(h, data, emit)
	h.next += uint32(len(data))
	d.drainPending(h, emit)
}

// hunt tests a segment of a hunting direction for the start of a frame.
// It reports true, with the direction framed from seq on, when the segment
// starts one; otherwise the segment is passed over. A segment that begins
// before the data already passed over is not a fresh start (a
// retransmission, or a resegmented one) and is passed over too.
func (d *Decoder) hunt(h *tcpHalf, seq uint32, data []byte) bool {
	end := seq + uint32(len(data))
	if int32(seq-h.next) < 0 {
		if int32(end-h.next) > 0 {
			h.next = end
		}
		return false
	}
	m := d.huntFrame(data)
	if m == modeHunting {
		h.next = end
		return false
	}
	h.mode, h.next, h.resync = m, seq, false
	h.sipLeading = m == modeSIP
	if m == modeTLS {
		d.attachTLS(h)
	}
	h.buf, h.skip, h.head = h.buf[:0], 0, h.head[:0]
	return true
}

// huntFrame says how a stream is framed if data, a segment's first bytes,
// starts a frame, or modeHunting. The tests are those of classifyTCP and
// startsFrame, made strict enough for bytes that were not a stream's
// first: a STUN header with the magic cookie and a length that frames
// (RFC 8489 §6.2.2), the same behind an RFC 4571 length, a whole SIP start
// line, ChannelData only between endpoints that spoke STUN, and a whole
// classic message only on a classic STUN port; a TLS ClientHello, and any
// TLS record on a connection whose other direction is TLS.
func (d *Decoder) huntFrame(data []byte) halfMode {
	if len(data) == 0 {
		return modeHunting
	}
	if data[0] > 3 && sip.LooksLikeSIP(data) { // before ChannelData: 'A'-'Z' are 0x41-0x5A
		return modeSIP
	}
	if tls.StartsClientHello(data) {
		return modeTLS
	}
	if c := d.tcpCur; c != nil && c.tls != nil {
		if _, ok := tls.RecordLength(data); ok {
			return modeTLS
		}
	}
	switch b0 := data[0]; {
	case b0 <= 3:
		if n, ok := stun.MessageLength(data); ok && n > 0 {
			return modeSTUN
		}
		if n, ok := stun.MessageLength(data[min(2, len(data)):]); ok && n == int(binary.BigEndian.Uint16(data)) {
			return modeRFC4571 // the prefix frames exactly one STUN message
		}
		if stun.IsClassicSTUNPort(d.pkt.Src.Port()) || stun.IsClassicSTUNPort(d.pkt.Dst.Port()) {
			if n, ok := classicLength(data); ok && n <= len(data) && stun.IsClassicSTUN(data[:n]) {
				return modeClassic
			}
		}
	case stun.IsChannelDataFirstByte(b0):
		if _, ok := stun.ChannelDataFrameLength(data); ok &&
			(d.endpoints.has(d.pkt.Src, d.pkt.Time) || d.endpoints.has(d.pkt.Dst, d.pkt.Time)) {
			return modeSTUN
		}
	}
	return modeHunting
}

// lowestPending returns the lowest sequence number held or seq.
func (h *tcpHalf) lowestPending(seq uint32) uint32 {
	low := seq
	for _, s := range h.pending {
		if int32(s.seq-low) < 0 {
			low = s.seq
		}
	}
	return low
}

// drainPending feeds the held segments that are now in sequence. When the
// framing is lost on the way, the rest are hunted through in sequence
// order.
func (d *Decoder) drainPending(h *tcpHalf, emit func(*Message)) {
	for h.mode != modeIgnored && len(h.pending) > 0 {
		i := -1
		for j, s := range h.pending {
			diff := int32(s.seq - h.next)
			if h.mode == modeHunting {
				if i < 0 || diff < int32(h.pending[i].seq-h.next) {
					i = j
				}
			} else if diff <= 0 {
				i = j
				break
			}
		}
		if i < 0 {
			break
		}
		s := h.pending[i]
		h.pending = append(h.pending[:i], h.pending[i+1:]...)
		h.pendingBytes -= len(s.data)
		if h.mode == modeHunting {
			if d.hunt(h, s.seq, s.data) {
				d.frame(h, s.data, emit)
				h.next += uint32(len(s.data))
			}
			continue
		}
		if diff := int32(s.seq - h.next); -int64(diff) < int64(len(s.data)) {
			data := s.data[-int64(diff):]
			d.frame(h, data, emit)
			h.next += uint32(len(data))
		}
	}
	if h.mode == modeIgnored || h.mode == modeHunting {
		h.release()
	}
}

// gap gives up on the bytes before next and feeds what was held behind
// them.
func (d *Decoder) gap(h *tcpHalf, next uint32, emit func(*Message)) {
	d.skipTo(h, next)
	d.drainPending(h, emit)
}

// skipTo gives up on the bytes before next: whatever frame was in progress
// is lost, and the framer waits for a segment that starts a new one. An
// unclassified stream no longer has its first bytes: it hunts.
func (d *Decoder) skipTo(h *tcpHalf, next uint32) {
	d.stats.TCPGaps++
	h.next = next
	h.buf = h.buf[:0]
	h.skip, h.head = 0, h.head[:0]
	switch h.mode {
	case modeNew:
		h.mode = modeHunting
	case modeSTUN, modeClassic, modeRFC4571, modeSIP:
		h.resync = true
	case modeTLS:
		h.resync = true
		h.tls.conn.Release(int(h.dir)) // a handshake message in progress is lost
	}
}

// frame runs the framer over in-order data, one segment's, emitting every
// message it completes, and keeps an incomplete tail.
func (d *Decoder) frame(h *tcpHalf, data []byte, emit func(*Message)) {
	if h.mode == modeIgnored || h.mode == modeHunting {
		return
	}
	segment := len(data)
	if h.skip > 0 {
		data = data[d.skipFrame(h, len(data), emit):]
	}
	if len(data) == 0 {
		return
	}
	if h.resync && len(h.buf) == 0 {
		if !d.startsFrame(h.mode, data) {
			return
		}
		h.resync = false
		h.sipLeading = h.mode == modeSIP
	}
	w, fromBuf := data, len(h.buf) > 0
	if fromBuf {
		h.buf = append(h.buf, data...)
		w = h.buf
	}
	w = d.frames(h, w, segment, emit)
	switch {
	case h.mode == modeIgnored:
		h.release()
	case h.mode == modeHunting:
		// Segments held out of order are hunted through by drainPending.
		h.buf, h.skip, h.head = nil, 0, nil
	case len(w) == 0:
		h.buf = h.buf[:0]
	case fromBuf:
		h.buf = h.buf[:copy(h.buf, w)]
	default:
		h.buf = append(h.buf[:0], w...)
	}
	if h.mode == modeTLS && len(h.buf) == 0 && cap(h.buf) > 4<<10 {
		// A handshake flight or the first application data record
		// needed room; what follows is skipped record by record.
		h.buf = nil
	}
}

// frames consumes complete frames from w and returns what is left. The
// last segment bytes of w came in the current segment (the rest were
// buffered before it).
func (d *Decoder) frames(h *tcpHalf, w []byte, segment int, emit func(*Message)) []byte {
	for len(w) > 0 {
		if h.skip > 0 {
			w = w[d.skipFrame(h, len(w), emit):]
			continue
		}
		var n, hdr int
		switch h.mode {
		case modeNew:
			m, more := d.classifyTCP(w)
			if more {
				return w
			}
			h.mode = m
			h.sipLeading = m == modeSIP
			if m == modeIgnored {
				return nil
			}
			if m == modeTLS {
				d.attachTLS(h)
			}
			continue
		case modeSTUN, modeClassic:
			var ok bool
			switch b0 := w[0]; {
			case b0 <= 3:
				if len(w) < 20 {
					return w
				}
				n, ok = stun.MessageLength(w)
				if !ok && h.mode == modeClassic {
					n, ok = classicLength(w)
				}
			case stun.IsChannelDataFirstByte(b0):
				if len(w) < 4 {
					return w
				}
				n, ok = stun.ChannelDataFrameLength(w)
			}
			if !ok || n <= 0 {
				// Framing lost: bytes went missing without a hole to show
				// for it (a snaplen cut the capture did not record), or
				// not STUN after all.
				h.mode = modeHunting
				return nil
			}
		case modeTLS:
			return d.tlsFrames(h, w, emit)
		case modeRFC4571:
			if len(w) < 2 {
				return w
			}
			n, hdr = 2+int(binary.BigEndian.Uint16(w)), 2
		case modeSIP:
			if w[0] == '\r' {
				rest, wait := d.sipBoundaryCRLFs(h, w, segment, emit)
				if wait {
					return rest
				}
				if w = rest; len(w) == 0 {
					continue
				}
			}
			var err error
			n, _, err = sip.MessageLength(w)
			switch {
			case err == sip.ErrTooLarge:
				// Skipped below like any frame over maxBytes: framing kept.
			case err != nil:
				// No Content-Length, or not SIP after all: the framing is
				// lost (RFC 3261 §18.3), as it is for STUN.
				d.malformed()
				h.mode = modeHunting
				return nil
			case n == 0:
				// The headers are not all in yet. MessageLength gives up
				// at sip.MaxMessageSize; a smaller MaxStreamBytes is
				// enforced here.
				if len(w) >= d.tcp.maxBytes {
					h.mode = modeHunting
					return nil
				}
				return w
			}
			// A message starts here: the boundary after it is known.
			h.sipLeading = false
		default:
			return nil
		}
		if n > len(w) {
			if n > d.tcp.maxBytes {
				h.skip = n - len(w) // too big to buffer: drop it, keep framing
				if h.mode == modeSIP {
					// Its headers are in: keep them and what body fits,
					// and emit that when the message ends.
					h.head = append(h.head[:0], w[:min(len(w), d.tcp.maxBytes, sip.MaxMessageSize)]...)
				}
				return nil
			}
			return w
		}
		f := w[hdr:n]
		w = w[n:]
		switch {
		case h.mode == modeSIP:
			d.emitSIP(f[:min(len(f), sip.MaxMessageSize)], emit)
		case len(f) == 0:
		case f[0] <= 3:
			if h.mode != modeRFC4571 || stun.IsSTUN(f) {
				d.emitSTUN(f, emit)
				if m := &d.stunMsg; m.HeaderOK && !m.Classic && m.Method == stun.MethodConnectionBind &&
					(m.Class == stun.ClassRequest || m.Class == stun.ClassSuccess) {
					// RFC 6062 §4.3, §5.3: after ConnectionBind (the
					// client waits for the success response) the
					// connection carries the peer's data, which is
					// neither framed nor worth hunting through.
					h.mode = modeIgnored
					return nil
				}
			}
		case h.mode == modeRFC4571:
			d.emitICETCPFrame(f, emit)
		case stun.IsChannelDataFirstByte(f[0]):
			d.emitChannelData(f, true, emit)
		}
	}
	return w
}

// emitICETCPFrame emits an RFC 4571 frame other than STUN: on an ICE-TCP
// connection (RFC 6544 §3) each frame is what a UDP datagram would carry
// on a UDP candidate pair, demultiplexed by its first byte as RFC 7983 §7
// does: 20-63 DTLS, 128-191 RTP or RTCP. Nothing else is defined there
// (ChannelData, 64-79, needs a TURN server, which is not the other end of
// an ICE-TCP connection). The message belongs to the segment that
// completed the frame, as every reassembled message does.
func (d *Decoder) emitICETCPFrame(f []byte, emit func(*Message)) {
	switch b0 := f[0]; {
	case b0 >= 20 && b0 <= 63:
		d.emitDTLS(f, emit)
	case b0 >= 128 && b0 <= 191:
		d.emitMedia(f, emit)
	}
}

// skipFrame discards up to avail bytes of a frame being skipped and returns
// how many. A SIP message whose head was kept is emitted when its last byte
// goes by, in that byte's frame like any other message.
func (d *Decoder) skipFrame(h *tcpHalf, avail int, emit func(*Message)) int {
	n := min(h.skip, avail)
	h.skip -= n
	if h.skip == 0 && len(h.head) > 0 {
		d.emitSIP(h.head, emit)
		h.head = h.head[:0]
	}
	return n
}

// classifyTCP decides from a stream's first bytes how it is framed. It
// reports more=true while it needs more bytes to decide.
func (d *Decoder) classifyTCP(w []byte) (m halfMode, more bool) {
	if sip.LooksLikeSIP(w) {
		return modeSIP, false
	}
	if text, more := d.maybeSIP(w); more {
		return 0, true
	} else if text {
		return modeIgnored, false
	}
	switch b0 := w[0]; {
	case b0 >= tls.ContentChangeCipherSpec && b0 <= tls.ContentApplicationData:
		return d.classifyTLS(w)
	case b0 <= 3:
		if len(w) < 8 {
			return 0, true
		}
		if binary.BigEndian.Uint32(w[4:]) == stunMagicCookie {
			return modeSTUN, false
		}
		if len(w) < 10 {
			return 0, true
		}
		if w[2] <= 3 && binary.BigEndian.Uint32(w[6:]) == stunMagicCookie && binary.BigEndian.Uint16(w) >= 20 {
			return modeRFC4571, false
		}
		if !stun.IsClassicSTUNPort(d.pkt.Src.Port()) && !stun.IsClassicSTUNPort(d.pkt.Dst.Port()) {
			return modeIgnored, false
		}
		// A classic RFC 3489 message has no cookie: judge the whole of it.
		if len(w) < 20 {
			return 0, true
		}
		n, ok := classicLength(w)
		if !ok || n > d.tcp.maxBytes {
			return modeIgnored, false
		}
		if n > len(w) {
			return 0, true
		}
		if stun.IsClassicSTUN(w[:n]) {
			return modeClassic, false
		}
	case stun.IsChannelDataFirstByte(b0):
		// ChannelData first: only on a flow whose ends spoke STUN, as on UDP.
		if d.endpoints.has(d.pkt.Src, d.pkt.Time) || d.endpoints.has(d.pkt.Dst, d.pkt.Time) {
			return modeSTUN, false
		}
	}
	return modeIgnored, false
}

// maybeSIPStartLen bounds how much of a stream's first line is awaited
// before deciding it is not SIP: a request line with a long Request-URI
// still fits.
const maybeSIPStartLen = 1024

// maybeSIP judges the first bytes of a stream that LooksLikeSIP refused:
// text=true when they are CRLF keep-alives or text that starts a line
// (they are then SIP or nothing), and more=true when SIP can still follow:
// only keep-alives so far (RFC 5626 §3.5.1), or a start line not complete
// yet, e.g. a request line split across segments.
func (d *Decoder) maybeSIP(w []byte) (text, more bool) {
	i := 0
	for i < len(w) && (w[i] == '\r' || w[i] == '\n') {
		i++
	}
	rest := w[i:]
	if len(rest) == 0 {
		return true, len(w) < d.tcp.maxBytes
	}
	if i == 0 && !isTokenStart(rest[0]) {
		return false, false
	}
	if bytes.IndexByte(rest, '\n') >= 0 || len(rest) >= maybeSIPStartLen || len(w) >= d.tcp.maxBytes {
		// A whole first line that is not SIP; CRLFs before anything but
		// SIP mean nothing either.
		return i > 0, false
	}
	// A partial line can still become "SIP/2.0 200 OK" or "INVITE sip:...".
	for _, c := range rest {
		if c < 0x20 && c != '\t' && c != '\r' || c >= 0x7f {
			return i > 0, false
		}
	}
	return true, true
}

// isTokenStart reports whether c can start a SIP method or "SIP/2.0".
func isTokenStart(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

// startsFrame reports whether data, the first bytes after a gap, can start
// a frame of a stream framed by m.
func (d *Decoder) startsFrame(m halfMode, data []byte) bool {
	switch m {
	case modeClassic:
		return len(data) >= 20 && data[0] <= 1
	case modeSTUN:
		if len(data) >= 8 && data[0] <= 3 && binary.BigEndian.Uint32(data[4:]) == stunMagicCookie {
			return true
		}
		if len(data) >= 4 && stun.IsChannelDataFirstByte(data[0]) {
			_, ok := stun.ChannelDataFrameLength(data)
			return ok
		}
	case modeRFC4571:
		return len(data) >= 10 && binary.BigEndian.Uint32(data[6:]) == stunMagicCookie || tilesICETCPFrames(data)
	case modeSIP:
		return sip.LooksLikeSIP(data)
	case modeTLS:
		_, ok := tls.RecordLength(data)
		return ok
	default:
		return true
	}
	return false
}

// tilesICETCPFrames reports whether data, a segment of an ICE-TCP
// connection after a hole, is whole RFC 4571 frames to its last byte, each
// one something RFC 7983 §7 sends on a candidate pair: a STUN message, a
// DTLS record, an RTP or RTCP packet. Senders write one frame at a time,
// so a segment usually starts with one, and media flows between the
// consent checks (RFC 7675: one every 5 s or so) that a STUN-only test
// would wait for. Every length has to land exactly where the next frame
// starts, and the last exactly at the segment's end, which random bytes
// almost never do; a segment that ends inside a frame is left for the
// next one.
func tilesICETCPFrames(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	for len(data) > 0 {
		if len(data) < 2 {
			return false
		}
		n := int(binary.BigEndian.Uint16(data))
		if n+2 > len(data) {
			return false
		}
		f := data[2 : 2+n]
		switch {
		case n == 0:
			return false
		case f[0] <= 3:
			if !stun.IsSTUN(f) {
				return false
			}
		case f[0] >= 20 && f[0] <= 63:
			if n < 13 && f[0] < 32 { // a DTLS 1.2 record header (RFC 6347 §4.1)
				return false
			}
		case f[0] >= 128 && f[0] <= 191:
			if n < 8 { // an RTCP header and SSRC (RFC 3550 §6.4); RTP needs 12
				return false
			}
		default:
			return false
		}
		data = data[2+n:]
	}
	return true
}

// flush skips every hole still open, in each direction, so that segments
// held behind one yield their messages, attributed to their own frames.
func (t *tcpTable) flush(d *Decoder, emit func(*Message)) {
	var halves []*tcpHalf
	conns := make(map[*tcpHalf]*tcpConn)
	for _, c := range t.conns {
		for i := range c.half {
			if len(c.half[i].pending) > 0 && c.half[i].mode != modeIgnored {
				halves = append(halves, &c.half[i])
				conns[&c.half[i]] = c
			}
		}
	}
	// Deterministic order: by the first frame held.
	first := func(h *tcpHalf) uint64 {
		f := h.pending[0].pkt.Frame
		for _, s := range h.pending {
			f = min(f, s.pkt.Frame)
		}
		return f
	}
	sort.Slice(halves, func(i, j int) bool { return first(halves[i]) < first(halves[j]) })
	for _, h := range halves {
		d.tcpCur = conns[h]
		for len(h.pending) > 0 && h.mode != modeIgnored {
			sort.Slice(h.pending, func(i, j int) bool { return int32(h.pending[i].seq-h.pending[j].seq) < 0 })
			s := h.pending[0]
			h.pending = h.pending[1:]
			h.pendingBytes -= len(s.data)
			d.pkt = s.pkt
			if diff := int32(s.seq - h.next); diff > 0 && h.mode != modeHunting {
				d.skipTo(h, s.seq)
			}
			if h.mode == modeHunting && !d.hunt(h, s.seq, s.data) {
				continue
			}
			diff := int32(s.seq - h.next)
			if -int64(diff) >= int64(len(s.data)) {
				continue
			}
			s.data = s.data[-int64(diff):]
			d.frame(h, s.data, emit)
			h.next += uint32(len(s.data))
		}
	}
	t.conns = make(map[tcpKey]*tcpConn)
	t.used = 0
	d.tcpCur = nil
}

// classicLength frames an RFC 3489 message, which stun.MessageLength
// refuses for lack of the magic cookie: 20 + the length field.
func classicLength(b []byte) (int, bool) {
	if len(b) < 4 || b[0] > 3 {
		return 0, false
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	return 20 + n, n%4 == 0
}
