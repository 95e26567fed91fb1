package diagnose

import "sync"

// Sharded RTP accounting (Options.Workers): the correlating goroutine
// still decodes every packet, looks each RTP packet's stream up, runs
// probation and promotion and links streams to SDP, all in capture order;
// only the accounting of packets of established streams (sequence, loss
// window, counters, jitter: streamState.accountPacket) moves to workers,
// each stream to one worker, so that a stream's packets are accounted in
// the order they were captured. What decides how a packet is accounted
// and is not the stream's own state travels with the packet: the clock
// rate in effect, and whether an SDP just set it (RFC 3550 §6.4.1's
// spacing restarts). Everything that reads the accounting while the
// capture is read (idle retirement, Snapshot) and Finish first waits for
// the workers to drain (sync), so the results are those of one goroutine.
// RTCP needs no wait: it writes only the Remote* fields and reads the
// clock rate, both the correlating goroutine's.

const (
	rtpJobBatch   = 512 // packets per batch handed to a worker
	rtpJobBatches = 4   // batches per worker in flight
)

// rtpJob is one packet of an established stream for a worker.
type rtpJob struct {
	st     *streamState
	pk     probePacket
	clock  uint32
	resync bool // an SDP set the clock rate before this packet
}

// rtpWorkers are the workers of one Engine.
type rtpWorkers struct {
	shards []rtpShard
	wg     sync.WaitGroup
}

// rtpShard is one worker: batches go to it on full and come back on
// free; a nil batch asks it to report on drained once it has accounted
// everything before.
type rtpShard struct {
	cur     []rtpJob
	full    chan []rtpJob
	free    chan []rtpJob
	drained chan struct{}
}

func newRTPWorkers(n int) *rtpWorkers {
	w := &rtpWorkers{shards: make([]rtpShard, n)}
	for i := range w.shards {
		sh := &w.shards[i]
		sh.full = make(chan []rtpJob, rtpJobBatches+1)
		sh.free = make(chan []rtpJob, rtpJobBatches)
		sh.drained = make(chan struct{})
		for range rtpJobBatches - 1 {
			sh.free <- make([]rtpJob, 0, rtpJobBatch)
		}
		sh.cur = make([]rtpJob, 0, rtpJobBatch)
		w.wg.Add(1)
		go sh.run(&w.wg)
	}
	return w
}

func (sh *rtpShard) run(wg *sync.WaitGroup) {
	defer wg.Done()
	for b := range sh.full {
		if b == nil {
			sh.drained <- struct{}{}
			continue
		}
		for i := range b {
			j := &b[i]
			if j.resync {
				j.st.haveTransit = false
			}
			j.st.accountPacket(&j.pk, j.clock)
			j.st = nil // let retired streams be collected
		}
		sh.free <- b[:0]
	}
}

// dispatch hands one packet of st to its worker. It must not allocate.
func (w *rtpWorkers) dispatch(ms *mediaState, st *streamState, pk *probePacket) {
	resync := ms.relink(st)
	sh := &w.shards[st.order%uint64(len(w.shards))]
	sh.cur = append(sh.cur, rtpJob{st: st, pk: *pk, clock: st.clock, resync: resync})
	if len(sh.cur) == cap(sh.cur) {
		sh.full <- sh.cur
		sh.cur = <-sh.free
	}
}

// sync returns once every packet dispatched so far is accounted: the
// streams' state is then the correlating goroutine's until the next
// dispatch (the channel operations order the memory accesses).
func (w *rtpWorkers) sync() {
	for i := range w.shards {
		sh := &w.shards[i]
		if len(sh.cur) > 0 {
			sh.full <- sh.cur
			sh.cur = <-sh.free
		}
		sh.full <- nil
	}
	for i := range w.shards {
		<-w.shards[i].drained
	}
}

// stop drains the workers and ends them.
func (w *rtpWorkers) stop() {
	w.sync()
	for i := range w.shards {
		close(w.shards[i].full)
	}
	w.wg.Wait()
}

// startRTPWorkers shards the accounting of established RTP streams over n
// workers (n < 2: none). Finish stops them; so does stopRTPWorkers.
func (e *Engine) startRTPWorkers(n int) {
	if n < 2 || e.rtpWorkers != nil || e.finished {
		return
	}
	e.rtpWorkers = newRTPWorkers(n)
}

// syncRTPWorkers waits for the workers, if any, to account every packet
// dispatched, and brings the streams' records up to date
// (streamState.publish): call it before reading any stream's accounting.
func (e *Engine) syncRTPWorkers() {
	if e.rtpWorkers != nil {
		e.rtpWorkers.sync()
	}
	for _, st := range e.media.list {
		st.publish()
	}
}

// stopRTPWorkers ends the workers, if any; accounting goes on in the
// calling goroutine.
func (e *Engine) stopRTPWorkers() {
	if e.rtpWorkers != nil {
		e.rtpWorkers.stop()
		e.rtpWorkers = nil
	}
}
