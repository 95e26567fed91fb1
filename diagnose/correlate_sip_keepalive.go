package diagnose

import (
	"net/netip"
	"slices"
	"time"

	"github.com/callscope/callscope/decode"
)

const (
	// MaxSIPKeepAliveFlows bounds Analysis.SIPKeepAlives.
	MaxSIPKeepAliveFlows = 10_000
	// MaxRecentKeepAlives bounds SIPKeepAlives.Recent: enough to cite the
	// last keep-alives before a NAT forgot a binding and to measure their
	// interval, whatever the flow's length.
	MaxRecentKeepAlives = 8
)

// SIPKeepAlives summarizes the CRLF keep-alives of one flow, from Src to
// Dst: a phone or PBX keeping its NAT binding to its registrar or proxy
// open (RFC 5626 §3.5.1's CRLF pings, sent over UDP), or, over TCP, the
// pings of a client and the pongs of its server on their connection
// (§4.4.1). A keep-alive refreshes the sender's NAT binding as any packet
// does, so rules count a UDP one as activity of its source port, and one
// that came less often than the NAT's UDP timeout explains a binding the
// NAT forgot all the same.
type SIPKeepAlives struct {
	Src, Dst  netip.AddrPort
	Transport decode.Transport
	// Count is Pings (double CRLFs) plus Pongs (single CRLFs: over UDP,
	// what some phones send instead of a ping).
	Count, Pings, Pongs int
	First, Last         FrameRef
	// Recent are the last MaxRecentKeepAlives keep-alives, oldest first
	// (Last is the last of them). When Count is larger, keep-alives
	// between First and Recent[0] are not listed.
	Recent []FrameRef
}

// Interval is the usual time between the flow's keep-alives: the median
// gap between consecutive Recent ones, so that one late or lost
// keep-alive does not move it; zero with fewer than two.
func (k *SIPKeepAlives) Interval() time.Duration {
	return MedianGap(k.Recent)
}

// MedianGap is the median time between consecutive frames of refs, which
// are in time order; zero with fewer than two. With an even number of
// gaps it is the lower middle one: a gap that was seen.
func MedianGap(refs []FrameRef) time.Duration {
	if len(refs) < 2 {
		return 0
	}
	var buf [MaxRecentKeepAlives]time.Duration
	gaps := buf[:0]
	for i := 1; i < len(refs); i++ {
		gaps = append(gaps, refs[i].Time.Sub(refs[i-1].Time))
	}
	slices.Sort(gaps)
	return gaps[(len(gaps)-1)/2]
}

// observeSIPKeepAlive counts a CRLF keep-alive in its flow.
func (e *Engine) observeSIPKeepAlive(m *decode.Message) {
	k := flowKey{client: m.Src, server: m.Dst, transport: m.Transport}
	ka := e.sipKeepAlives[k]
	if ka == nil {
		if len(e.analysis.SIPKeepAlives) >= MaxSIPKeepAliveFlows {
			e.analysis.DroppedSIPKeepAlives++
			return
		}
		if e.sipKeepAlives == nil {
			e.sipKeepAlives = make(map[flowKey]*SIPKeepAlives)
		}
		ka = &SIPKeepAlives{Src: m.Src, Dst: m.Dst, Transport: m.Transport, First: frameRef(m)}
		e.sipKeepAlives[k] = ka
		e.analysis.SIPKeepAlives = append(e.analysis.SIPKeepAlives, ka)
	}
	ka.Count++
	if len(m.Payload) == len("\r\n") {
		ka.Pongs++
	} else {
		ka.Pings++
	}
	ka.Last = frameRef(m)
	if len(ka.Recent) < MaxRecentKeepAlives {
		ka.Recent = append(ka.Recent, ka.Last)
		return
	}
	copy(ka.Recent, ka.Recent[1:])
	ka.Recent[len(ka.Recent)-1] = ka.Last
}
