package diagnose

// RFC 3550 Appendix A.1's limits: a forward jump under maxDropout is loss,
// a backward step within maxMisorder is a late packet; anything else is a
// jump that only counts once confirmed by the next packet (a restarted
// source).
const (
	seqMod      = 1 << 16
	maxDropout  = 3000
	maxMisorder = 100
	noBadSeq    = seqMod + 1

	seqWindowWords = StreamSeqWindow / 64
)

// seqTracker is RFC 3550 Appendix A.1's sequence state with a window of
// the latest StreamSeqWindow extended sequence numbers seen, for duplicates
// and for loss bursts: a position is judged lost only once it leaves the
// window, so a packet that arrives late within it is neither loss nor the
// end of a burst. Fixed size: nothing is allocated per packet.
//
// The fields every packet uses come first (streamState's layout).
type seqTracker struct {
	maxSeq   uint16
	badSeq   uint32 // the sequence number after a suspected jump; noBadSeq when none
	cycles   uint64 // starts at seqMod so that late packets before the first never underflow
	base     uint64 // extended sequence of the epoch's first packet
	received uint64 // accounted in this epoch, duplicates included (A.3)
	flushed  uint64 // the oldest extended sequence not yet judged lost or received
	run      uint64 // lost positions in a row up to flushed

	priorExpected uint64 // of earlier epochs (before a confirmed restart)
	priorReceived uint64
	strays        uint64 // unconfirmed jumps: received, outside any epoch

	duplicates, reordered uint64
	bursts                int
	maxBurst              uint64

	window [seqWindowWords]uint64
}

func (t *seqTracker) maxExt() uint64 { return t.cycles + uint64(t.maxSeq) }

func (t *seqTracker) init(seq uint16) {
	*t = seqTracker{
		maxSeq: seq, cycles: seqMod, badSeq: noBadSeq,
		priorExpected: t.priorExpected, priorReceived: t.priorReceived, strays: t.strays,
		duplicates: t.duplicates, reordered: t.reordered, bursts: t.bursts, maxBurst: t.maxBurst,
	}
	t.base = t.maxExt()
	t.flushed = t.base
	t.set(t.base)
	t.received = 1
}

func (t *seqTracker) bit(ext uint64) bool {
	i := ext % StreamSeqWindow
	return t.window[i/64]&(1<<(i%64)) != 0
}

func (t *seqTracker) set(ext uint64) {
	i := ext % StreamSeqWindow
	t.window[i/64] |= 1 << (i % 64)
}

func (t *seqTracker) unset(ext uint64) {
	i := ext % StreamSeqWindow
	t.window[i/64] &^= 1 << (i % 64)
}

// seqVerdict is what update made of a packet.
type seqVerdict uint8

const (
	seqInOrder   seqVerdict = iota // new, the highest or a late one
	seqDuplicate                   // seen already
	seqStray                       // a jump not (yet) confirmed
	seqRestart                     // the packet that confirmed a jump: a new epoch
)

// update accounts a packet's sequence number.
func (t *seqTracker) update(seq uint16) seqVerdict {
	// The steady state: the next sequence number, with the window full,
	// so that advance judges exactly the position the packet's takes
	// over in the window (both are the same bit).
	if next := t.maxExt() + 1; seq == t.maxSeq+1 && t.flushed+StreamSeqWindow == next {
		w, bit := &t.window[next%StreamSeqWindow/64], uint64(1)<<(next%64)
		if *w&bit != 0 {
			t.endRun()
		} else {
			t.run++
		}
		*w |= bit
		t.flushed++
		if seq == 0 {
			t.cycles += seqMod
		}
		t.maxSeq = seq
		t.badSeq = noBadSeq
		t.received++
		return seqInOrder
	}
	return t.updateAny(seq)
}

// updateAny is update for any sequence number.
func (t *seqTracker) updateAny(seq uint16) seqVerdict {
	udelta := seq - t.maxSeq
	top := t.maxExt()
	switch {
	case udelta == 0:
		t.duplicates++
		t.received++
		return seqDuplicate
	case udelta < maxDropout:
		t.advance(top, top+uint64(udelta))
		if seq < t.maxSeq {
			t.cycles += seqMod
		}
		t.maxSeq = seq
		t.badSeq = noBadSeq
		t.received++
	case uint32(udelta) <= seqMod-maxMisorder:
		if uint32(seq) == t.badSeq {
			// Two packets in sequence after the jump: the source restarted
			// (A.1). Close this epoch and start one at the packet before,
			// which was counted as a stray.
			t.finishEpoch()
			t.strays--
			t.init(seq - 1)
			t.update(seq)
			return seqRestart
		}
		t.badSeq = uint32(seq + 1)
		t.strays++
		return seqStray
	default:
		back := uint64(t.maxSeq - seq)
		ext := top - back
		t.received++
		switch {
		case ext >= t.flushed:
			if t.bit(ext) {
				t.duplicates++
				return seqDuplicate
			}
			t.set(ext)
			t.reordered++
		case ext < t.base && t.flushed == t.base && top-ext < StreamSeqWindow:
			// Earlier than the first packet but still in the window: the
			// stream started with a reordering. Move the base back.
			t.base, t.flushed = ext, ext
			t.set(ext)
			t.reordered++
		default:
			// Too late to tell a duplicate; counted as received (A.3), the
			// loss burst it belonged to was already judged.
			t.reordered++
		}
	}
	return seqInOrder
}

// advance moves the highest sequence from top to next: positions leaving
// the window are judged, positions entering it start unseen.
func (t *seqTracker) advance(top, next uint64) {
	if next >= StreamSeqWindow && next-StreamSeqWindow >= t.flushed {
		t.judge(next - StreamSeqWindow)
	}
	if next-top >= StreamSeqWindow {
		clear(t.window[:])
	} else {
		for p := top + 1; p <= next; p++ {
			t.unset(p)
		}
	}
	t.set(next)
}

// judge settles positions flushed..limit: seen ones end a loss run, unseen
// ones extend it. Positions above the highest sequence were never seen.
func (t *seqTracker) judge(limit uint64) {
	top := t.maxExt()
	for p := t.flushed; p <= limit && p <= top; p++ {
		if t.bit(p) {
			t.endRun()
		} else {
			t.run++
		}
	}
	if limit > top {
		t.run += limit - max(top, t.flushed-1)
	}
	t.flushed = limit + 1
}

func (t *seqTracker) endRun() {
	if t.run > 0 {
		t.bursts++
		t.maxBurst = max(t.maxBurst, t.run)
		t.run = 0
	}
}

// finishEpoch judges every remaining position and adds the epoch to the
// totals.
func (t *seqTracker) finishEpoch() {
	top := t.maxExt()
	if top >= t.flushed {
		t.judge(top)
	}
	t.endRun()
	t.priorExpected += top - t.base + 1
	t.priorReceived += t.received
	t.received = 0
	t.base = top + 1
	t.flushed = t.base
}

// finish writes the totals into the stream (RFC 3550 A.3: lost is expected
// minus received, so duplicates make it smaller and may make it negative).
func (t *seqTracker) finish(s *Stream) {
	t.finishEpoch()
	s.Expected = t.priorExpected
	s.Lost = int64(t.priorExpected) - int64(t.priorReceived)
	s.Duplicates = t.duplicates
	s.Reordered = t.reordered
	s.LossBursts = t.bursts
	s.MaxLossBurst = int(t.maxBurst)
}
