package rules

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// callSide is one party of a call's offer/answer (RFC 3264): where its SDP
// came from and where it asked to receive media.
type callSide struct {
	role      string // "caller" or "callee"
	sdp       *diagnose.SDPSeen
	endpoints []netip.AddrPort // m= c=:port, and ICE candidates
	addrs     []netip.Addr     // c= addresses
}

// callSides returns the offerer's and the answerer's side; a side whose
// SDP was not seen has no endpoints.
func callSides(c *diagnose.Call) (offerer, answerer *callSide) {
	sides := callSidePair(c)
	return &sides[0], &sides[1]
}

// callSidePair is callSides in one allocation, the offerer first: the
// media rules make them for every call.
func callSidePair(c *diagnose.Call) *[2]callSide {
	sides := &[2]callSide{{role: "caller"}, {role: "callee"}}
	offerer, answerer := &sides[0], &sides[1]
	if c.Offer != nil && c.Answer == nil && c.Offer.From.IsValid() && c.Callee.IsValid() && c.Offer.From == c.Callee {
		// A late offer, in the 2xx (RFC 3261 §13.2.1).
		offerer.role, answerer.role = "callee", "caller"
	}
	if c.Offer != nil && c.Answer != nil && c.Answer.From.IsValid() && c.Answer.From == c.Caller {
		offerer.role, answerer.role = "callee", "caller"
	}
	offerer.fill(c.Offer)
	answerer.fill(c.Answer)
	return sides
}

// callSidesMemo keeps the sides of the calls seen so far, for a rule that
// looks at each of a call's streams: callSides reads the call's SDPs anew.
// The sides are only read.
type callSidesMemo map[*diagnose.Call]*[2]callSide

func (m callSidesMemo) of(c *diagnose.Call) (offerer, answerer *callSide) {
	sides, ok := m[c]
	if !ok {
		sides = callSidePair(c)
		m[c] = sides
	}
	return &sides[0], &sides[1]
}

func (cs *callSide) fill(s *diagnose.SDPSeen) {
	if s == nil || s.Session == nil {
		return
	}
	cs.sdp = s
	n := 0
	for _, m := range s.Session.Media {
		n += 1 + len(m.Candidates)
	}
	cs.endpoints = make([]netip.AddrPort, 0, n)
	// sdpMediaAddrs, without a slice of its own.
	for _, m := range s.Session.Media {
		if m.Port == 0 {
			continue
		}
		addr := m.Connection
		if !addr.IsValid() {
			addr = s.Session.Connection
		}
		addr = addr.Unmap()
		if !addr.IsValid() || addr.IsUnspecified() {
			continue
		}
		cs.endpoints = append(cs.endpoints, netip.AddrPortFrom(addr, m.Port))
		if !slices.Contains(cs.addrs, addr) {
			cs.addrs = append(cs.addrs, addr)
		}
	}
	for _, m := range s.Session.Media {
		for _, cand := range m.Candidates {
			if cand.Addr.IsValid() {
				cs.endpoints = append(cs.endpoints, unmapped(cand.Addr))
			}
		}
	}
}

func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// receives says whether ap is one of the side's media endpoints, or an
// address it announced (media may reach another port when a NAT or an SBC
// rewrote it).
func (cs *callSide) receives(ap netip.AddrPort, exact bool) bool {
	ap = unmapped(ap)
	if slices.Contains(cs.endpoints, ap) {
		return true
	}
	return !exact && slices.Contains(cs.addrs, ap.Addr())
}

// streamToward says which side a stream of the call was sent to: 1 the
// offerer, 2 the answerer, 0 when it cannot be told.
func streamToward(s *diagnose.Stream, offerer, answerer *callSide) int {
	src, dst := s.Src, s.Dst
	if al := s.Allocation; al != nil && al.Relayed.IsValid() {
		// The outer addresses are the TURN client's and the server's; the
		// client announced its relayed address (an ICE relay candidate).
		relayed := unmapped(al.Relayed)
		var client *callSide
		switch {
		case offerer.receives(relayed, true) && !answerer.receives(relayed, true):
			client = offerer
		case answerer.receives(relayed, true) && !offerer.receives(relayed, true):
			client = answerer
		default:
			return 0
		}
		toClient := unmapped(dst) == unmapped(al.Client)
		if (client == offerer) == toClient {
			return 1
		}
		return 2
	}
	for _, exact := range []bool{true, false} {
		toA, toB := offerer.receives(dst, exact), answerer.receives(dst, exact)
		switch {
		case toA && !toB:
			return 1
		case toB && !toA:
			return 2
		}
		fromA, fromB := offerer.receives(src, exact), answerer.receives(src, exact)
		switch {
		case fromA && !fromB:
			return 2
		case fromB && !fromA:
			return 1
		}
	}
	return 0
}

// callStreamIndex finds every stream tied to a call: those its SDP tied
// (Call.Streams) and those that name it (Stream.Call). Built once per
// Check, it keeps the lookup linear in the capture; scanning all streams
// for each call made the media rules quadratic (2,500 calls and 6,666
// streams: 17 M comparisons per rule).
type callStreamIndex map[*diagnose.Call][]*diagnose.Stream

func indexCallStreams(a *diagnose.Analysis) callStreamIndex {
	ix := make(callStreamIndex, min(len(a.Calls), len(a.Streams)))
	for _, s := range a.Streams {
		if s != nil && s.Call != nil {
			ix[s.Call] = append(ix[s.Call], s)
		}
	}
	return ix
}

// hasStreams says whether some stream is tied to c, without listing them.
func (ix callStreamIndex) hasStreams(c *diagnose.Call) bool {
	return len(ix[c]) > 0 || slices.ContainsFunc(c.Streams, func(s *diagnose.Stream) bool { return s != nil })
}

// streams is every stream tied to c: Call.Streams first, then the others
// that name c, in the order of Analysis.Streams.
func (ix callStreamIndex) streams(c *diagnose.Call) []*diagnose.Stream {
	var out []*diagnose.Stream
	for _, s := range c.Streams {
		if s != nil {
			out = append(out, s)
		}
	}
	named := ix[c]
	if len(out)+len(named) <= streamSetMin {
		for _, s := range named {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return out
	}
	// A long call whose SSRC kept changing has thousands of streams.
	listed := make(map[*diagnose.Stream]bool, len(out)+len(named))
	for _, s := range out {
		listed[s] = true
	}
	for _, s := range named {
		if !listed[s] {
			listed[s] = true
			out = append(out, s)
		}
	}
	return out
}

// streamSetMin is how many streams a call's lookup compares one by one
// before it makes a set of them.
const streamSetMin = 32

// mediaDirection is an SDP direction attribute, sendrecv when absent.
func mediaDirection(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	if d == "" {
		return "sendrecv"
	}
	return d
}

func dirSends(dir string) bool    { return dir == "sendrecv" || dir == "sendonly" }
func dirReceives(dir string) bool { return dir == "sendrecv" || dir == "recvonly" }

// mediaWindow is how long the call had media in the capture: from the
// answer (or the INVITE) to the BYE or, without one, sipLast (sipEnd).
func mediaWindow(c *diagnose.Call, sipLast time.Time) (from, to time.Time) {
	from = c.Answered.Time
	if from.IsZero() {
		from = c.Invite.Time
	}
	if from.IsZero() && len(c.Ladder) > 0 {
		from = c.Ladder[0].Time
	}
	if !c.Ended.Time.IsZero() {
		return from, c.Ended.Time
	}
	to = sipLast
	if n := len(c.Ladder); n > 0 && c.Ladder[n-1].Time.After(to) {
		to = c.Ladder[n-1].Time
	}
	return from, to
}
