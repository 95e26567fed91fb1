package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// MediaNoRTP finds answered calls with no RTP to or from any address their
// SDP announced. A capture with no RTP at all was taken off the media path
// (on a SIP proxy, or filtered to the SIP port): one capture-level info
// finding says so instead of an error per call. RTP at the same time on an
// announced port but another address is a warning: the capture likely sees
// the other leg of a B2BUA or SBC.
type MediaNoRTP struct{}

func (MediaNoRTP) ID() string                  { return "media.no-rtp" }
func (MediaNoRTP) Severity() diagnose.Severity { return diagnose.Error }
func (MediaNoRTP) Severities() []diagnose.Severity {
	// info: signalling-only capture; warning: the other leg of a B2BUA.
	return []diagnose.Severity{diagnose.Info, diagnose.Warning, diagnose.Error}
}

func (MediaNoRTP) Title() string { return "Answered call without media" }

func (MediaNoRTP) Explain() string {
	return "Checks answered calls for RTP to or from the addresses and ports their SDP offer and answer " +
		"announced (and their ICE candidates). An answered call with none in either direction is a call " +
		"with no audio at all. Usual causes: a firewall that blocks the media ports in both directions, both " +
		"sides behind NAT with private addresses in their SDP and no ICE or media relay, an SBC or media " +
		"gateway that failed to anchor the media, or SRTP/DTLS that never completed. The capture may also " +
		"simply not be on the media path: a capture taken on a SIP proxy or filtered to the SIP port sees " +
		"the call but never its media. With ICE, media may have used a candidate pair the SDP did not list " +
		"first (a TURN relay, a peer-reflexive address); check the TURN allocations in the report. When the " +
		"capture holds RTP at the same time on a port the call announced but on another address, the capture " +
		"point likely sees only the other leg of a B2BUA or SBC that owns that port (its inside address, NATed " +
		"to the announced one): that is a warning to check at the other side, not a call without media. Calls " +
		"that lasted less than 2 s in the capture, and media put on hold (inactive), are not checked."
}

// minNoRTPSpan is how long an answered call must last in the capture
// before the absence of media means something.
const minNoRTPSpan = 2 * time.Second

func (r MediaNoRTP) Check(a *diagnose.Analysis) []diagnose.Finding {
	var out []diagnose.Finding
	callStreams := indexCallStreams(a)
	var endpoints *streamEndpointIndex // made for the first call without streams
	end := &lazyEnd{a: a, of: sipEnd}
	for _, c := range a.Calls {
		if c == nil || c.Outcome != "answered" || callStreams.hasStreams(c) {
			continue
		}
		sdps := callSDPs(c)
		var announced []netip.AddrPort
		// The words for the m= lines' endpoints, made into text only for
		// a finding: most calls checked here have media elsewhere.
		var mediaWords []string
		var mediaEndpoints []netip.AddrPort
		ice := 0
		for _, s := range sdps {
			for _, m := range s.Session.Media {
				if m.Port == 0 || !strings.Contains(m.Proto, "RTP") || mediaDirection(m.Direction) == "inactive" {
					continue
				}
				addr := m.Connection
				if !addr.IsValid() {
					addr = s.Session.Connection
				}
				addr = addr.Unmap()
				if addr.IsValid() && !addr.IsUnspecified() {
					ep := netip.AddrPortFrom(addr, m.Port)
					if !slices.Contains(announced, ep) {
						announced = append(announced, ep)
						mediaWords = append(mediaWords, mediaTypeWord(m.Type))
						mediaEndpoints = append(mediaEndpoints, ep)
					}
				}
				ice += len(m.Candidates)
				for _, cand := range m.Candidates {
					if ep := unmapped(cand.Addr); cand.Addr.IsValid() && !slices.Contains(announced, ep) {
						announced = append(announced, ep)
					}
				}
			}
		}
		if len(announced) == 0 {
			continue // no SDP seen, or no media offered: nothing to look for
		}
		var sipLast time.Time // only a call that did not end needs it
		if c.Ended.Time.IsZero() {
			sipLast = end.get()
		}
		from, to := mediaWindow(c, sipLast)
		if to.Sub(from) < minNoRTPSpan {
			continue
		}
		if endpoints == nil {
			endpoints = indexStreamEndpoints(a)
		}
		if slices.ContainsFunc(announced, endpoints.carriesRTP) {
			continue
		}
		var media []string
		for i, w := range mediaWords {
			media = append(media, w+" "+mediaEndpoints[i].String())
		}
		out = append(out, r.finding(a, c, endpoints, sdps, announced, media, ice, from, to))
	}
	if len(out) > 0 && len(a.Streams) == 0 && a.Stats.RTP == 0 {
		return []diagnose.Finding{r.signallingOnly(a, out)}
	}
	return out
}

// signallingOnly is the one finding for a capture without any RTP: the
// calls' findings would each blame the network for what is the capture
// point's view.
func (r MediaNoRTP) signallingOnly(a *diagnose.Analysis, calls []diagnose.Finding) diagnose.Finding {
	var ev evidence
	var eps []string
	for _, f := range calls {
		ev.frames = append(ev.frames, f.Frames...)
		for _, t := range []time.Time{f.First, f.Last} {
			if t.IsZero() {
				continue
			}
			if ev.first.IsZero() || t.Before(ev.first) {
				ev.first = t
			}
			if t.After(ev.last) {
				ev.last = t
			}
		}
		for _, e := range f.Endpoints {
			if !slices.Contains(eps, e) && len(eps) < 16 {
				eps = append(eps, e)
			}
		}
	}
	ev.endpoints = eps
	d := fmt.Sprintf("The capture holds signalling only: no media to judge. %s answered with SDP, but the capture holds no RTP at all, "+
		"so it was most likely taken where media does not pass (on a SIP proxy or SBC, or filtered to the SIP port), "+
		"and the absence of media says nothing about the calls. Capture on the media path (the phones, the media "+
		"relay or the SBC's media interface) to judge the audio.", sentence(len(calls), "call was", "calls were"))
	f := ev.finding(r, "The capture holds signalling only: no media to judge", d, diagnose.FilterFrames(sortedUnique(ev.frames)))
	f.Severity = diagnose.Info
	return f
}

func sortedUnique(frames []uint64) []uint64 {
	out := diagnose.CapFrames(slices.Compact(slices.Sorted(slices.Values(frames))))
	return out
}

// streamEndpointIndex is where the capture's streams went, for the
// checks of calls without streams, so that each looks up its announced
// endpoints instead of scanning every stream (quadratic with thousands of
// calls).
type streamEndpointIndex struct {
	streams []*diagnose.Stream
	onEnd   map[netip.AddrPort]bool   // unmapped source and destination of every stream
	onPort  map[uint16]*streamsOnPort // those with an end on the port
}

func indexStreamEndpoints(a *diagnose.Analysis) *streamEndpointIndex {
	ix := &streamEndpointIndex{streams: a.Streams, onEnd: make(map[netip.AddrPort]bool), onPort: make(map[uint16]*streamsOnPort)}
	add := func(port uint16, i int) {
		p := ix.onPort[port]
		if p == nil {
			p = &streamsOnPort{}
			ix.onPort[port] = p
		}
		p.idx = append(p.idx, i)
	}
	for i, s := range a.Streams {
		if s == nil {
			continue
		}
		src, dst := unmapped(s.Src), unmapped(s.Dst)
		ix.onEnd[src], ix.onEnd[dst] = true, true
		add(src.Port(), i)
		if dst.Port() != src.Port() {
			add(dst.Port(), i)
		}
	}
	return ix
}

// carriesRTP says whether some stream came from or went to ep.
func (ix *streamEndpointIndex) carriesRTP(ep netip.AddrPort) bool { return ix.onEnd[ep] }

// otherLeg finds RTP seen while the call lasted on a port the call
// announced, but on another address: a B2BUA or SBC allocates one media
// port and announces it on its outside (often NATed) address to one leg
// while the other leg's media reaches it on its inside address, so a
// capture point on the inside sees the port but never the announced
// address. It returns the inside endpoint and its stream, the first in
// the order of Analysis.Streams.
func (ix *streamEndpointIndex) otherLeg(announced []netip.AddrPort, from, to time.Time) (netip.AddrPort, *diagnose.Stream) {
	leg := func(i int) (netip.AddrPort, bool) {
		s := ix.streams[i]
		for _, ep := range []netip.AddrPort{unmapped(s.Src), unmapped(s.Dst)} {
			if ep.Port() == 0 || slices.Contains(announced, ep) {
				continue
			}
			if slices.ContainsFunc(announced, func(x netip.AddrPort) bool { return x.Port() == ep.Port() }) {
				return ep, true
			}
		}
		return netip.AddrPort{}, false
	}
	best, bestEP := -1, netip.AddrPort{}
	for k, ep := range announced {
		if slices.ContainsFunc(announced[:k], func(x netip.AddrPort) bool { return x.Port() == ep.Port() }) {
			continue // that port's streams are looked at already
		}
		p := ix.onPort[ep.Port()]
		if p == nil {
			continue
		}
		if i, ep, ok := p.first(ix.streams, from, to, best, leg); ok {
			best, bestEP = i, ep
		}
	}
	if best < 0 {
		return netip.AddrPort{}, nil
	}
	return bestEP, ix.streams[best]
}

// streamsOnPort lists the streams with an end on one port, and finds the
// first of them that ran at a given time. A tree of their time spans,
// made on the first lookup, spares each call without media a walk through
// every stream on a port thousands of phones use (16384 is common).
type streamsOnPort struct {
	idx []int // into Analysis.Streams, ascending
	// Per node of a complete binary tree over idx (the root 1, the leaves
	// from size on): the earliest First and the latest Last below it, and
	// whether any stream is below it at all.
	size             int
	earliest, latest []time.Time
	used             []bool
}

func (p *streamsOnPort) build(streams []*diagnose.Stream) {
	p.size = 1
	for p.size < len(p.idx) {
		p.size *= 2
	}
	p.earliest, p.latest, p.used = make([]time.Time, 2*p.size), make([]time.Time, 2*p.size), make([]bool, 2*p.size)
	for j, i := range p.idx {
		s := streams[i]
		p.earliest[p.size+j], p.latest[p.size+j], p.used[p.size+j] = s.First.Time, s.Last.Time, true
	}
	for n := p.size - 1; n >= 1; n-- {
		l, r := 2*n, 2*n+1
		if !p.used[l] {
			continue // then neither is r: the leaves are filled from the left
		}
		p.earliest[n], p.latest[n], p.used[n] = p.earliest[l], p.latest[l], true
		if p.used[r] && p.earliest[r].Before(p.earliest[n]) {
			p.earliest[n] = p.earliest[r]
		}
		if p.used[r] && p.latest[r].After(p.latest[n]) {
			p.latest[n] = p.latest[r]
		}
	}
}

// first is the first stream on the port, of those listed before before
// (any when before < 0), that ran at some time from from to to and for
// which leg finds an end: its index in streams and that end.
func (p *streamsOnPort) first(streams []*diagnose.Stream, from, to time.Time, before int, leg func(int) (netip.AddrPort, bool)) (int, netip.AddrPort, bool) {
	if p.used == nil {
		p.build(streams)
	}
	var walk func(n int) (int, netip.AddrPort, bool)
	walk = func(n int) (int, netip.AddrPort, bool) {
		switch {
		case !p.used[n], p.earliest[n].After(to), p.latest[n].Before(from):
			// None below n ran then: all began after to, or ended before from.
			return 0, netip.AddrPort{}, false
		case before >= 0 && p.leftmost(n) >= before:
			return 0, netip.AddrPort{}, false
		case n >= p.size:
			i := p.idx[n-p.size]
			ep, ok := leg(i)
			return i, ep, ok
		}
		if i, ep, ok := walk(2 * n); ok {
			return i, ep, ok
		}
		return walk(2*n + 1)
	}
	return walk(1)
}

// leftmost is the stream index of the first stream below node n, which
// is in use.
func (p *streamsOnPort) leftmost(n int) int {
	for n < p.size {
		n *= 2
	}
	return p.idx[n-p.size]
}

func (r MediaNoRTP) finding(a *diagnose.Analysis, c *diagnose.Call, endpoints *streamEndpointIndex, sdps []*diagnose.SDPSeen, announced []netip.AddrPort, media []string, ice int, from, to time.Time) diagnose.Finding {
	span := to.Sub(from)
	var ev evidence
	ev.addFrame(c.Invite)
	ev.addFrame(c.Answered)
	ev.addFrame(c.Ended)
	for _, s := range sdps {
		ev.addFrame(s.FrameRef)
	}
	ev.addEndpoint(c.Caller)
	ev.addEndpoint(c.Callee)
	for _, ep := range announced {
		ev.addEndpoint(ep)
	}
	var d strings.Builder
	fmt.Fprintf(&d, "The call from %s to %s (Call-ID %s) was answered", quoted(c.From), quoted(c.To), quoted(c.CallID))
	if c.Answered.Frame != 0 {
		fmt.Fprintf(&d, " in frame %d", c.Answered.Frame)
	}
	fmt.Fprintf(&d, " and lasted %s s in the capture", seconds(span))
	if c.Ended.Frame != 0 {
		fmt.Fprintf(&d, " (BYE in frame %d)", c.Ended.Frame)
	}
	fmt.Fprintf(&d, ", but no RTP went to or from the addresses its SDP announced: %s.", strings.Join(media, ", "))
	if ice > 0 {
		fmt.Fprintf(&d, " The SDP lists %s: media may have used another candidate pair (a TURN relay or a peer-reflexive address) - look at the TURN allocations and ChannelData in this report.", plural(ice, "ICE candidate", "ICE candidates"))
	}
	inside, leg := endpoints.otherLeg(announced, from, to)
	switch {
	case leg != nil:
		fmt.Fprintf(&d, " The capture does hold RTP at the same time on port %d, which this call announced, but on another address: %s ↔ %s",
			inside.Port(), endpointString(leg.Src), endpointString(leg.Dst))
		if leg.Call != nil && leg.Call != c {
			fmt.Fprintf(&d, " (call %s)", quoted(leg.Call.CallID))
		}
		fmt.Fprintf(&d, ", frames %d-%d. The capture point likely sees only the other leg of a B2BUA/SBC that owns that port (its inside address %s carries media): check at the other side.",
			leg.First.Frame, leg.Last.Frame, endpointString(inside))
		ev.addFrame(leg.First)
		ev.addEndpoint(inside)
	case len(a.Streams) == 0:
		d.WriteString(" The capture holds no RTP at all: if it was taken where media does not pass (on a SIP proxy, or filtered to the SIP port), this is expected - capture on the media path.")
	default:
		d.WriteString(" Other RTP was captured, so the capture point does see media.")
	}
	if leg == nil {
		d.WriteString(" Usual causes: a firewall blocking the media ports both ways, both sides announcing private addresses behind NAT without ICE or a media relay, or an SBC or gateway that failed to anchor the media.")
	}
	filter := callSIPFilter(c, ev.frames)
	const maxTerms = 6
	for i, ep := range announced {
		if i == maxTerms {
			break
		}
		filter += fmt.Sprintf(" || (%s && udp.port == %d)", addrFilter("addr", ep.Addr()), ep.Port())
	}
	if leg != nil {
		filter += fmt.Sprintf(" || (%s && udp.port == %d)", addrFilter("addr", inside.Addr()), inside.Port())
	}
	f := ev.finding(r, fmt.Sprintf("Answered call without media (call %s)", quoted(c.CallID)), d.String(), filter)
	if leg != nil {
		f.Severity = diagnose.Warning
		f.Title = fmt.Sprintf("No media on the captured leg of call %s: likely the other leg of a B2BUA/SBC", quoted(c.CallID))
	}
	return f
}
