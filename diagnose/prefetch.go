package diagnose

import (
	"io"
	"sync"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
)

// Reading ahead: one goroutine reads the capture, copies records out of
// the reader's buffer in batches and parses the plain RTP among them
// (decode.ParseUDPRecord, which needs no state), while the caller's
// goroutine decodes and correlates them in capture order. Batches are
// recycled, so steady state allocates nothing; a batch per channel
// operation keeps the synchronization cost off the per-packet path.
// readAhead turns reading ahead on; tests turn it off to compare.
var readAhead = true

const (
	prefetchBatch   = 256 // records per batch
	prefetchBatches = 4   // batches in flight: reading runs this far ahead
)

// recordBatch is a run of records copied out of a Source, with what the
// fast path made of each.
type recordBatch struct {
	recs    []capture.Record
	udp     []decode.UDPRecord
	isUDP   []bool
	arena   []byte
	offsets []int
	err     error // what ended reading after these records (io.EOF at the end)
}

func (b *recordBatch) reset() {
	b.recs, b.isUDP, b.arena, b.offsets, b.err = b.recs[:0], b.isUDP[:0], b.arena[:0], b.offsets[:0], nil
}

// add copies rec into the batch; its Data is pointed into the arena by
// seal, once the arena stops growing.
func (b *recordBatch) add(rec *capture.Record) {
	b.offsets = append(b.offsets, len(b.arena))
	b.arena = append(b.arena, rec.Data...)
	b.recs = append(b.recs, *rec)
}

func (b *recordBatch) seal() {
	if cap(b.udp) < len(b.recs) {
		b.udp = make([]decode.UDPRecord, len(b.recs))
	}
	b.udp = b.udp[:len(b.recs)]
	for i := range b.recs {
		r := &b.recs[i]
		end := b.offsets[i] + len(r.Data)
		r.Data = b.arena[b.offsets[i]:end:end]
		b.isUDP = append(b.isUDP, decode.ParseUDPRecord(r, &b.udp[i]))
	}
}

// prefetcher reads a Source ahead in a goroutine of its own. The Source
// is the goroutine's until next has returned an error or stop returned.
type prefetcher struct {
	src        Source
	full, free chan *recordBatch
	done       chan struct{}
	wg         sync.WaitGroup
	stopOnce   sync.Once

	cur *recordBatch
	i   int
}

func newPrefetcher(src Source) *prefetcher {
	p := &prefetcher{
		src:  src,
		full: make(chan *recordBatch, prefetchBatches),
		free: make(chan *recordBatch, prefetchBatches),
		done: make(chan struct{}),
	}
	for range prefetchBatches {
		p.free <- &recordBatch{}
	}
	p.wg.Add(1)
	go p.read()
	return p
}

func (p *prefetcher) read() {
	defer p.wg.Done()
	for {
		var b *recordBatch
		select {
		case b = <-p.free:
		case <-p.done:
			return
		}
		b.reset()
		for len(b.recs) < prefetchBatch {
			rec, err := p.src.Next()
			if err != nil {
				b.err = err
				break
			}
			b.add(rec)
		}
		b.seal()
		select {
		case p.full <- b:
		case <-p.done:
			return
		}
		if b.err != nil {
			return
		}
	}
}

// next returns the next record, and its parse when it is plain RTP (nil
// otherwise); both are valid until the following call.
func (p *prefetcher) next() (*capture.Record, *decode.UDPRecord, error) {
	for p.cur == nil || p.i >= len(p.cur.recs) {
		if p.cur != nil {
			if p.cur.err != nil {
				return nil, nil, p.cur.err
			}
			p.free <- p.cur
			p.cur = nil
		}
		b, ok := <-p.full
		if !ok {
			return nil, nil, io.EOF
		}
		p.cur, p.i = b, 0
	}
	i := p.i
	p.i++
	if p.cur.isUDP[i] {
		return &p.cur.recs[i], &p.cur.udp[i], nil
	}
	return &p.cur.recs[i], nil, nil
}

// stop ends the reading goroutine and waits for it: the Source is the
// caller's again.
func (p *prefetcher) stop() {
	p.stopOnce.Do(func() { close(p.done) })
	p.wg.Wait()
}
