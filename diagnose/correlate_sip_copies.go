package diagnose

import (
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode"
)

const (
	// SIPCopyGap is how long after a SIP message its copy at another
	// point of the capturing host may be seen. A box forwards a message
	// within a fraction of a millisecond, a busy one within a few; the
	// same bytes sent again by their sender (a retransmission over UDP)
	// come T1 = 500 ms later at the earliest (RFC 3261 §17.1.1.2,
	// §17.2.1), so the two are never mistaken for each other.
	SIPCopyGap = 10 * time.Millisecond
	// MaxPendingSIPCopies bounds the messages waiting for their copy
	// (seen within the last SIPCopyGap): a flood of SIP keeps no more.
	MaxPendingSIPCopies = 4096
	// MaxSIPCopyFlows bounds Analysis.SIPCopies.
	MaxSIPCopyFlows = 10_000
)

// SIPCopies is the SIP messages of one flow that a capture taken on the
// box forwarding them without NAT (tcpdump -i any on a router or
// firewall) shows twice on one 5-tuple: once where they reached the box
// (Before), once where they left it (After), as the Linux cooked headers
// tell (decode.Packet.Direction, Interface). The two copies of a message
// are paired by their bytes: the same payload on the same 5-tuple, seen
// at two points within SIPCopyGap. A box that rewrites SIP (an ALG)
// makes copies that do not pair. The DSCP rules read the marks of each
// side: a box that re-marks signalling shows as the difference.
type SIPCopies struct {
	Src, Dst  netip.AddrPort
	Transport decode.Transport
	// Messages counts the messages seen at both points.
	Messages      uint64
	Before, After SIPCopySide
	// Frames are the first MaxFramesPerFinding frames of both copies.
	Frames []uint64
}

// SIPCopySide is one side's copies of the messages of a SIPCopies.
type SIPCopySide struct {
	Direction   decode.Direction
	Interface   uint32
	DSCP        DSCPCounts
	First, Last FrameRef
}

// CapturePoint says where on the capturing host this side's copies were
// seen, as Stream.CapturePoint words it: "arriving on interface 2".
func (s *SIPCopySide) CapturePoint() string {
	return capturePointString(s.Direction.String(), s.Interface)
}

// sipCopyState pairs the copies of SIP messages seen at two points.
type sipCopyState struct {
	pending map[sipMessageKey]pendingSIPCopy
	// queue is the pending messages in the order seen, so that those
	// whose copy can no longer come are forgotten (expire); queue[head:]
	// is live.
	queue []queuedSIPCopy
	head  int
	flows map[sipCopyFlowKey]*SIPCopies
}

// sipMessageKey identifies a SIP message's bytes on its 5-tuple: their
// length and a 64-bit hash (a false match needs a collision between two
// messages of one 5-tuple within SIPCopyGap, seen at two points).
type sipMessageKey struct {
	src, dst  netip.AddrPort
	transport decode.Transport
	size      int
	sum       uint64
}

type pendingSIPCopy struct {
	frame uint64
	at    time.Time
	point capturePoint
	dscp  uint8
}

type queuedSIPCopy struct {
	key   sipMessageKey
	frame uint64
	at    time.Time
}

type sipCopyFlowKey struct {
	src, dst      netip.AddrPort
	transport     decode.Transport
	before, after capturePoint
}

var sipCopySeed = maphash.MakeSeed()

// pairSIPCopy pairs m with the copy of its bytes seen at another point
// within SIPCopyGap, or keeps it for its copy to come. A capture that
// does not say where packets were seen costs a comparison.
func (e *Engine) pairSIPCopy(m *decode.Message) {
	at := pointOf(&m.Packet)
	if at == (capturePoint{}) || len(m.Payload) == 0 {
		return
	}
	s := &e.sip.copies
	s.expire(m.Time)
	k := sipMessageKey{src: m.Src, dst: m.Dst, transport: m.Transport, size: len(m.Payload), sum: maphash.Bytes(sipCopySeed, m.Payload)}
	if first, ok := s.pending[k]; ok && first.point != at {
		if gap := m.Time.Sub(first.at); gap >= 0 && gap <= SIPCopyGap {
			delete(s.pending, k)
			e.sipCopyPaired(m, k, &first, at)
			return
		}
	}
	// The first copy, or the same bytes again at the same point (a
	// duplicate, or a retransmission long after): the latest waits.
	if s.pending == nil {
		s.pending = make(map[sipMessageKey]pendingSIPCopy)
	}
	if _, ok := s.pending[k]; !ok && len(s.pending) >= MaxPendingSIPCopies {
		return
	}
	s.pending[k] = pendingSIPCopy{frame: m.Frame, at: m.Time, point: at, dscp: m.DSCP & 63}
	s.queue = append(s.queue, queuedSIPCopy{key: k, frame: m.Frame, at: m.Time})
}

// expire forgets the pending messages seen more than SIPCopyGap before
// now, and compacts the queue once half of it is spent.
func (s *sipCopyState) expire(now time.Time) {
	for s.head < len(s.queue) {
		q := &s.queue[s.head]
		if now.Sub(q.at) <= SIPCopyGap && len(s.queue)-s.head <= MaxPendingSIPCopies {
			break
		}
		if p, ok := s.pending[q.key]; ok && p.frame == q.frame {
			delete(s.pending, q.key)
		}
		s.head++
	}
	if s.head > 0 && s.head >= len(s.queue)/2 {
		n := copy(s.queue, s.queue[s.head:])
		s.queue, s.head = s.queue[:n], 0
	}
}

// sipCopyPaired counts a message seen first as first, at another point,
// and again as m, at point at.
func (e *Engine) sipCopyPaired(m *decode.Message, k sipMessageKey, first *pendingSIPCopy, at capturePoint) {
	s := &e.sip.copies
	fk := sipCopyFlowKey{src: k.src, dst: k.dst, transport: k.transport, before: first.point, after: at}
	f := s.flows[fk]
	if f == nil {
		if len(e.analysis.SIPCopies) >= MaxSIPCopyFlows {
			return
		}
		if s.flows == nil {
			s.flows = make(map[sipCopyFlowKey]*SIPCopies)
		}
		f = &SIPCopies{Src: k.src, Dst: k.dst, Transport: k.transport,
			Before: SIPCopySide{Direction: first.point.direction, Interface: first.point.ifindex, First: FrameRef{Frame: first.frame, Time: first.at}},
			After:  SIPCopySide{Direction: at.direction, Interface: at.ifindex, First: frameRef(m)},
		}
		s.flows[fk] = f
		e.analysis.SIPCopies = append(e.analysis.SIPCopies, f)
	}
	f.Messages++
	f.Before.DSCP.Add(int(first.dscp), 1)
	f.After.DSCP.Add(int(m.DSCP&63), 1)
	f.Before.Last = FrameRef{Frame: first.frame, Time: first.at}
	f.After.Last = frameRef(m)
	for _, fr := range [2]uint64{first.frame, m.Frame} {
		if len(f.Frames) < MaxFramesPerFinding {
			f.Frames = append(f.Frames, fr)
		}
	}
}
