package diagnose

import (
	"sync"
	"time"
	"unsafe"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/decode/sip"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/decode/tls"
)

// Decoding ahead: a file analyzed whole with nobody listening (no streamed
// findings, no live capture, no record callback) is read and decoded in a
// goroutine of its own, and the caller's goroutine only correlates. The
// split falls between decode and diagnose because data flows one way
// there: the Decoder reads nothing the Engine writes, so each side sees
// exactly the sequence it would see in a single goroutine, and the reports
// are the same byte for byte (TestDecodeAheadSameReport).
//
// A Message is valid only while the Decoder's emit callback runs: the
// Decoder reuses it, the parsed structures it points to, and its
// reassembly buffers. The decoding goroutine therefore copies each message
// into a batch: its bytes stay where they are when they lie in the record
// being decoded (a read-only mapping of the file, or the batch's own copy
// of the record), and are copied otherwise; STUN, SIP and RTCP are parsed
// again into structures the batch owns. A TLS message carrying a handshake
// (certificates, hellos, alerts: a few per connection) is not copied: the
// decoding goroutine waits until everything before it is correlated and
// hands it to the Engine itself, in order.

const (
	aheadMessages = 256       // messages per batch
	aheadRecords  = 1024      // records per batch, however few messages they make
	aheadBytes    = 512 << 10 // bytes copied into a batch before it is sent
	aheadBatches  = 4         // batches in flight
)

// messageBatch is a run of decoded messages and what they point to.
type messageBatch struct {
	msgs  []decode.Message
	arena []byte // record bytes copied out of a reusing reader; message bytes copied out of the Decoder

	// Parsed structures the messages point to, reused from batch to batch.
	stun                     []*stun.Message
	sip                      []*sip.Message
	rtcp                     []*rtp.Compound
	tls                      []*tls.Message
	nSTUN, nSIP, nRTCP, nTLS int

	records int
	// handOff: the decoding goroutine waits until this batch is
	// correlated, then passes a message of its own to the Engine.
	handOff bool
	// pinned: the arena holds the record the decoding goroutine is still
	// decoding, so that goroutine, not the correlating one, recycles the
	// batch once the record is done.
	pinned bool
	err    error // what ended reading after this batch (io.EOF at the end)
}

func (b *messageBatch) reset() {
	clear(b.msgs) // drop what the previous messages pointed to
	b.msgs, b.arena = b.msgs[:0], b.arena[:0]
	b.nSTUN, b.nSIP, b.nRTCP, b.nTLS = 0, 0, 0, 0
	b.records, b.handOff, b.pinned, b.err = 0, false, false, nil
}

func (b *messageBatch) full() bool {
	return len(b.msgs) >= aheadMessages || b.records >= aheadRecords || len(b.arena) >= aheadBytes
}

// within says whether p lies inside region, comparing addresses only.
func within(p, region []byte) bool {
	if len(p) == 0 {
		return true
	}
	if len(region) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(region)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return at >= start && at+uintptr(len(p)) <= start+uintptr(len(region))
}

// keep returns p, or a copy of it in the arena when it does not lie in
// stable, the bytes that outlive the batch's use of them. A copy may move
// the arena; slices into its earlier array stay valid, since nothing
// writes there again before the batch is reset.
func (b *messageBatch) keep(p, stable []byte) []byte {
	if p == nil || within(p, stable) {
		return p
	}
	at := len(b.arena)
	b.arena = append(b.arena, p...)
	return b.arena[at:len(b.arena):len(b.arena)]
}

// add copies m into the batch and reports whether it could: false for a
// message that must be correlated while the Decoder's emit runs.
func (b *messageBatch) add(m *decode.Message, stable []byte) bool {
	switch m.Kind {
	case decode.KindRTP:
		b.msgs = append(b.msgs, decode.Message{Packet: m.Packet, Kind: m.Kind, RTP: m.RTP,
			Payload: b.keep(m.Payload, stable)})
	case decode.KindChannelData:
		payload := b.keep(m.Payload, stable)
		ch := m.Channel
		ch.Payload = rebase(ch.Payload, m.Payload, payload)
		b.msgs = append(b.msgs, decode.Message{Packet: m.Packet, Kind: m.Kind, Channel: ch, Payload: payload})
	case decode.KindRTCP:
		c := pooled(&b.rtcp, &b.nRTCP)
		c.N = m.RTCP.N
		copy(c.Packets[:c.N], m.RTCP.Packets[:c.N])
		b.msgs = append(b.msgs, decode.Message{Packet: m.Packet, Kind: m.Kind, RTCP: c,
			Payload: b.keep(m.Payload, stable)})
	case decode.KindSTUN:
		// Decoding the same bytes again gives the same Message; the
		// Decoder's own shares caches with it that the Engine's use would
		// race with.
		raw := b.keep(m.Payload, stable)
		s := pooled(&b.stun, &b.nSTUN)
		_ = s.Decode(raw) // as the Decoder found it: any error was counted there
		b.msgs = append(b.msgs, decode.Message{Packet: m.Packet, Kind: m.Kind, STUN: s, Payload: raw})
	case decode.KindSIP:
		raw := b.keep(m.Payload, stable)
		s := pooled(&b.sip, &b.nSIP)
		_ = s.Parse(raw)
		b.msgs = append(b.msgs, decode.Message{Packet: m.Packet, Kind: m.Kind, SIP: s, Payload: raw})
	case decode.KindICMPError:
		icmp := m.ICMP
		icmp.QuotedPayload = b.keep(icmp.QuotedPayload, stable)
		b.msgs = append(b.msgs, decode.Message{Packet: m.Packet, Kind: m.Kind, ICMP: icmp,
			Payload: b.keep(m.Payload, stable)})
	case decode.KindTLS, decode.KindDTLS:
		t := m.TLS
		if t == nil || t.ClientHello != nil || t.ServerHello != nil || len(t.Certificates) > 0 ||
			t.Alert != nil || t.HelloVerify != nil {
			return false
		}
		// Records without a handshake to show (application data,
		// encrypted records): the common case of a DTLS association.
		c := pooled(&b.tls, &b.nTLS)
		contentTypes, handshakes := c.ContentTypes[:0], c.Handshakes[:0]
		*c = *t
		c.ContentTypes = append(contentTypes, t.ContentTypes...)
		c.Handshakes = append(handshakes, t.Handshakes...)
		b.msgs = append(b.msgs, decode.Message{Packet: m.Packet, Kind: m.Kind, TLS: c,
			Payload: b.keep(m.Payload, stable)})
	default:
		return false
	}
	return true
}

// rebase points sub, a slice of from, at the same bytes of to.
func rebase(sub, from, to []byte) []byte {
	if sub == nil || len(from) == 0 || unsafe.SliceData(from) == unsafe.SliceData(to) {
		return sub
	}
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(sub))) - uintptr(unsafe.Pointer(unsafe.SliceData(from))))
	return to[off : off+len(sub) : off+len(sub)]
}

// pooled returns the next of a batch's reusable structures, making one
// when the pool runs short.
func pooled[T any](pool *[]*T, n *int) *T {
	if *n == len(*pool) {
		*pool = append(*pool, new(T))
	}
	v := (*pool)[*n]
	*n++
	return v
}

// stableSource is a Source whose records stay valid until it is closed
// (a memory-mapped file), which then need no copy.
type stableSource interface {
	StableData() bool
}

// decodeAhead reads and decodes a Source in a goroutine of its own. The
// Source and the Decoder are the goroutine's until next has returned an
// error or stop returned.
type decodeAhead struct {
	src        Source
	dec        *decode.Decoder
	full, free chan *messageBatch
	handedOff  chan struct{} // the correlating side finished a handOff batch
	done       chan struct{}
	wg         sync.WaitGroup
	stopOnce   sync.Once

	// The decoding goroutine's.
	cur     *messageBatch
	stable  []byte        // the record being decoded, where its messages may point
	pinned  *messageBatch // the batch whose arena holds that record, after a hand-off
	observe func(*decode.Message)
	end     time.Time // the latest record's time, for Finish
	stopped bool

	// The correlating goroutine's.
	in *messageBatch
	i  int
}

func newDecodeAhead(src Source, dec *decode.Decoder, observe func(*decode.Message)) *decodeAhead {
	p := &decodeAhead{
		src: src, dec: dec, observe: observe,
		full:      make(chan *messageBatch, aheadBatches),
		free:      make(chan *messageBatch, aheadBatches),
		handedOff: make(chan struct{}),
		done:      make(chan struct{}),
	}
	for range aheadBatches {
		p.free <- &messageBatch{}
	}
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *decodeAhead) run() {
	defer p.wg.Done()
	if !p.take() {
		return
	}
	emit := p.emit
	ss, mapped := p.src.(stableSource)
	var ur decode.UDPRecord
	for {
		rec, err := p.src.Next()
		if err != nil {
			p.stable = nil
			p.dec.Flush(emit)
			if !p.stopped {
				p.cur.err = err
				p.send()
			}
			return
		}
		stable := mapped && ss.StableData()
		if rec.Time.After(p.end) {
			p.end = rec.Time
		}
		r := *rec
		r.Data = p.beginRecord(rec.Data, stable)
		if decode.ParseUDPRecord(&r, &ur) {
			p.dec.DecodeUDP(&ur, emit)
		} else {
			p.dec.Decode(&r, emit)
		}
		if !p.endRecord() {
			return
		}
	}
}

// beginRecord returns the bytes to decode a record from: data itself when
// it stays valid, or the batch's copy of it.
func (p *decodeAhead) beginRecord(data []byte, stable bool) []byte {
	if !stable {
		at := len(p.cur.arena)
		p.cur.arena = append(p.cur.arena, data...)
		data = p.cur.arena[at:len(p.cur.arena):len(p.cur.arena)]
	}
	p.stable = data
	return data
}

// endRecord closes a decoded record, sending the batch when it is full;
// false when stopped.
func (p *decodeAhead) endRecord() bool {
	if p.stopped {
		return false
	}
	if b := p.pinned; b != nil {
		p.pinned = nil
		p.free <- b // never blocks: there are as many slots as batches
	}
	p.cur.records++
	return !p.cur.full() || p.sendAndTake()
}

// emit is the Decoder's callback in the decoding goroutine.
func (p *decodeAhead) emit(m *decode.Message) {
	if p.stopped || p.cur.add(m, p.stable) {
		return
	}
	// Correlate m here, after everything before it: the correlating
	// goroutine is then waiting for the next batch.
	p.cur.handOff = true
	if p.stable != nil && within(p.stable, p.cur.arena) {
		// The rest of the record is decoded from this batch's arena:
		// keep the batch out of circulation until then, and copy what
		// the record's later messages point to.
		p.cur.pinned = true
		p.pinned = p.cur
		p.stable = nil
	}
	if !p.send() {
		return
	}
	select {
	case <-p.handedOff:
	case <-p.done:
		p.stopped = true
		return
	}
	p.observe(m)
	p.take()
}

// take starts a new batch; false when stopped.
func (p *decodeAhead) take() bool {
	select {
	case b := <-p.free:
		b.reset()
		p.cur = b
		return true
	case <-p.done:
		p.stopped = true
		return false
	}
}

// send hands the current batch over; false when stopped.
func (p *decodeAhead) send() bool {
	b := p.cur
	p.cur = nil
	select {
	case p.full <- b:
		return true
	case <-p.done:
		p.stopped = true
		return false
	}
}

func (p *decodeAhead) sendAndTake() bool {
	return p.send() && p.take()
}

// next returns the next decoded message, valid until the following call;
// nil and the error that ended reading at the end.
func (p *decodeAhead) next() (*decode.Message, error) {
	for p.in == nil || p.i >= len(p.in.msgs) {
		if p.in != nil {
			b := p.in
			p.in = nil
			// Once handed off, a pinned batch is the decoding
			// goroutine's to recycle: read it before.
			err, pinned := b.err, b.pinned
			if b.handOff {
				// The decoding goroutine correlates one message of its
				// own now; wait for the batch after it.
				p.handedOff <- struct{}{}
			}
			if err != nil {
				return nil, err
			}
			if !pinned {
				p.free <- b
			}
		}
		p.in, p.i = <-p.full, 0
	}
	m := &p.in.msgs[p.i]
	p.i++
	return m, nil
}

// stop ends the decoding goroutine and waits for it: the Source and the
// Decoder are the caller's again, and so is the last record's time.
func (p *decodeAhead) stop() {
	p.stopOnce.Do(func() { close(p.done) })
	p.wg.Wait()
}
