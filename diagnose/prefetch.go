package diagnose

import (
	"io"
	"sync"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
)

// Reading ahead: one goroutine reads the capture into batches of records
// (copied out of the reader's buffer unless they stay valid, from a
// mapped file) and parses their headers (decode.ParseUDPRecord, which
// needs no state), while the caller's goroutine decodes and correlates
// them in capture order. Batches are
// recycled, so steady state allocates nothing; a batch per channel
// operation keeps the synchronization cost off the per-packet path.
// readAhead turns reading ahead on; tests turn it off to compare.
var readAhead = true

// A batch wakes the other goroutine once: batches of a few hundred
// records spent a tenth of the correlating goroutine's time waking the
// reading one. What is in flight (each batch may overshoot its bytes by
// one record of at most 256 KiB) stays under the distance behind which
// a mapped file's pages are released, so that records are not faulted
// back in and kept resident.
const (
	prefetchBatch      = 2048 // records per batch
	prefetchBatches    = 3    // batches in flight: reading runs this far ahead
	prefetchBatchBytes = capture.MappedReadBehind / (2 * prefetchBatches)
)

// stableSource is a Source whose records stay valid until it is closed
// (capture.Reader on a memory-mapped file): those need no copy.
type stableSource interface {
	StableData() bool
}

// recordBatch is a run of records read from a Source, with what the fast
// path made of each.
type recordBatch struct {
	recs    []capture.Record
	bytes   int // of record data
	udp     []decode.UDPRecord
	isUDP   []bool
	arena   []byte
	offsets []int
	err     error     // what ended reading after these records (io.EOF at the end)
	end     time.Time // the latest record time so far, set on the last batch
}

func (b *recordBatch) reset() {
	b.recs, b.isUDP, b.arena, b.offsets, b.err = b.recs[:0], b.isUDP[:0], b.arena[:0], b.offsets[:0], nil
	b.bytes, b.end = 0, time.Time{}
}

// add puts rec in the batch. Data that stays valid (a mapped file) is
// kept where it is; other Data is copied into the arena, and pointed there
// by seal once the arena stops growing.
func (b *recordBatch) add(rec *capture.Record, stable bool) {
	if stable {
		b.offsets = append(b.offsets, -1)
	} else {
		b.offsets = append(b.offsets, len(b.arena))
		b.arena = append(b.arena, rec.Data...)
	}
	b.recs = append(b.recs, *rec)
	b.bytes += len(rec.Data)
}

func (b *recordBatch) seal() {
	if cap(b.udp) < len(b.recs) {
		// A full batch's worth at once: batches end on a byte bound, so
		// their record counts creep up, and sizing to each new maximum
		// reallocated half a megabyte dozens of times a capture.
		b.udp = make([]decode.UDPRecord, len(b.recs), max(len(b.recs), prefetchBatch))
	}
	b.udp = b.udp[:len(b.recs)]
	for i := range b.recs {
		r := &b.recs[i]
		if at := b.offsets[i]; at >= 0 {
			end := at + len(r.Data)
			r.Data = b.arena[at:end:end]
		}
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
	// end is the latest time of the records delivered, once next has
	// returned an error: the reading goroutine's, handed over with the
	// last batch.
	end time.Time
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
	stable, mapped := p.src.(stableSource)
	var end time.Time
	for {
		var b *recordBatch
		select {
		case b = <-p.free:
		case <-p.done:
			return
		}
		b.reset()
		for len(b.recs) < prefetchBatch && b.bytes < prefetchBatchBytes {
			rec, err := p.src.Next()
			if err != nil {
				b.err = err
				break
			}
			if rec.Time.After(end) {
				end = rec.Time
			}
			b.add(rec, mapped && stable.StableData())
		}
		if b.err != nil {
			b.end = end
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
				p.end = p.cur.end
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
