package diagnose

import (
	"cmp"
	"slices"
	"time"
)

// DefaultIdleTimeout is Options.IdleTimeout's default: a minute after a
// call ended, an allocation was deleted or expired, or an RTP stream fell
// silent, its correlation state is dropped and only its record remains.
const DefaultIdleTimeout = 60 * time.Second

func (e *Engine) idleTimeout() time.Duration {
	if e.opts.IdleTimeout > 0 {
		return e.opts.IdleTimeout
	}
	return DefaultIdleTimeout
}

// maybeRetire runs retire every quarter of the idle timeout of packet
// time, so that its cost is spread thin whatever the packet rate.
func (e *Engine) maybeRetire(now time.Time) {
	if e.nextRetire.IsZero() {
		e.nextRetire = now.Add(e.idleTimeout() / 4)
		return
	}
	if now.Before(e.nextRetire) {
		return
	}
	e.nextRetire = now.Add(e.idleTimeout() / 4)
	e.retire(now)
}

// retire concludes what ended an idle timeout ago and drops its
// correlation state, keeping the records in the Analysis: allocations
// deleted or expired, calls that ended or failed, RTP streams silent that
// long (a stream that resumes later is a new record), and the sender
// reports of sources gone with them. Memory then follows the active state
// in a long live run; what Finish would conclude is concluded the same
// way here, a packet time earlier.
func (e *Engine) retire(now time.Time) {
	e.syncRTPWorkers() // retiring reads the streams' accounting
	idle := e.idleTimeout()
	before := now.Add(-idle)

	kept := e.allocList[:0]
	for _, as := range e.allocList {
		ended := as.deleted || (!as.expires.IsZero() && as.expires.Before(before))
		if !ended || as.a.Last.Time.After(before) {
			kept = append(kept, as)
			continue
		}
		e.conclude(as, now)
		flow := flowKey{client: as.a.Client, server: as.a.Server, transport: as.a.Transport}
		if e.allocations[flow] == as {
			delete(e.allocations, flow)
			e.allocFlows.changed()
		}
	}
	clear(e.allocList[len(kept):])
	e.allocList = kept

	if s := &e.sip; s.ready {
		calls := s.callList[:0]
		for _, cs := range s.callList {
			if !cs.endedBefore(before) {
				calls = append(calls, cs)
				continue
			}
			cs.conclude()
			if s.calls[cs.call.CallID] == cs {
				delete(s.calls, cs.call.CallID)
			}
		}
		clear(s.callList[len(calls):])
		s.callList = calls
	}

	e.retireStreams(before)
	e.media.forgetSenderReports(before)
}

// endedBefore tells a call whose BYE, or whose failure (a final response
// other than a challenge to answer), came before t.
func (cs *callState) endedBefore(t time.Time) bool {
	c := cs.call
	if !c.Ended.Time.IsZero() {
		return c.Ended.Time.Before(t)
	}
	tx := cs.lastInitial
	if cs.answered || tx == nil || tx.Final < 0 {
		return false
	}
	r := tx.Responses[tx.Final]
	if (r.Status == 401 || r.Status == 407) && tx.Authorization == nil {
		return false
	}
	return r.Time.Before(t)
}

// retireStreams finishes the accounting of streams silent since before,
// keeps their records in retiredStreams and forgets their state.
func (e *Engine) retireStreams(before time.Time) {
	ms := &e.media
	if len(ms.list) == 0 {
		return
	}
	list := ms.list[:0]
	for _, st := range ms.list {
		if !st.s.Last.Time.Before(before) {
			list = append(list, st)
			continue
		}
		ms.forget(st)
		e.unlinkSSRC(st)
		delete(e.snapStreams, st)
		st.seq.finish(st.s)
		if st.s.Packets < StreamMinPackets {
			continue // never a stream, as finishMedia decides
		}
		e.retiredStreams = append(e.retiredStreams, st.s)
	}
	clear(ms.list[len(list):])
	ms.list = list
}

// unlinkSSRC takes st out of its SSRC chain (mediaState.bySSRC).
func (e *Engine) unlinkSSRC(st *streamState) {
	ms := &e.media
	head := ms.bySSRC[st.key.ssrc]
	switch {
	case head == nil:
		return
	case head == st:
		if st.nextSSRC != nil {
			ms.bySSRC[st.key.ssrc] = st.nextSSRC
		} else {
			delete(ms.bySSRC, st.key.ssrc)
		}
	default:
		for p := head; p.nextSSRC != nil; p = p.nextSSRC {
			if p.nextSSRC == st {
				p.nextSSRC = st.nextSSRC
				break
			}
		}
	}
	st.nextSSRC = nil
}

// finishRetired adds the retired streams to the Analysis before
// finishMedia lists the others (so that media flows count them), and
// ties them to their calls.
func (e *Engine) finishRetired() {
	for _, s := range e.retiredStreams {
		e.analysis.Streams = append(e.analysis.Streams, s)
		if c := s.Call; c != nil {
			c.Streams = append(c.Streams, s)
		}
	}
}

// sortRetired puts the Analysis's streams back in order of their first
// frame when retired ones were listed first.
func (e *Engine) sortRetired() {
	if len(e.retiredStreams) == 0 {
		return
	}
	byFirst := func(a, b *Stream) int { return cmp.Compare(a.First.Frame, b.First.Frame) }
	slices.SortStableFunc(e.analysis.Streams, byFirst)
	for _, c := range e.analysis.Calls {
		if c != nil {
			slices.SortStableFunc(c.Streams, byFirst)
		}
	}
	e.retiredStreams = nil
}

// roomForStream tells whether a new stream may be tracked: streams
// tracked and retired stay within MaxStreams, the oldest retired record
// giving way to a new stream, so that a long live run goes on analyzing
// new calls.
func (e *Engine) roomForStream() bool {
	if len(e.media.list)+len(e.retiredStreams) < limit(e.opts.MaxStreams, MaxStreams) {
		return true
	}
	if len(e.retiredStreams) == 0 {
		return false
	}
	e.retiredStreams[0] = nil
	e.retiredStreams = e.retiredStreams[1:]
	e.media.droppedStreams++
	return true
}
