package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// keepAliveStory is what a client's CRLF keep-alives to its registrar
// (diagnose.SIPKeepAlives) show between its registration from the old
// public port and the refresh from the new one. A NAT renews a binding
// with every outbound packet, keep-alives included, so keep-alives that
// came from new public ports one after the other, or that stopped, tell
// how the binding was lost while the client was not idle at all.
type keepAliveStory struct {
	// refs are the keep-alives the records list in that time, in time
	// order (a long flow lists its first and its last ones only).
	refs []keepAliveRef
	// count is how many there were; atLeast, that flows which began
	// before or went on after hold more than the ones counted.
	count   int
	atLeast bool
	// interval is the median time between consecutive keep-alives, zero
	// when no two listed ones are known to be consecutive.
	interval time.Duration
	// fromOld counts the keep-alives from the old public port; newPorts
	// are the other ports they came from, in order of first use.
	fromOld  int
	newPorts []netip.AddrPort
	// natUnder is the shortest silence of the client after which its next
	// packet came from another public port: the NAT's UDP timeout is
	// shorter.
	natUnder time.Duration
}

type keepAliveRef struct {
	diagnose.FrameRef
	flow *diagnose.SIPKeepAlives
	// afterUnlisted: keep-alives of the flow that are not listed came
	// right before this one.
	afterUnlisted bool
}

// maxKeepAliveFlowsPerRebinding bounds the keep-alive flows one finding
// looks at: a client's keep-alives come from a few public ports between
// two registrations, and a capture holding thousands is not that story.
const maxKeepAliveFlowsPerRebinding = 32

// maxKeepAliveFlowsScanned bounds the flows one finding looks through to
// find them.
const maxKeepAliveFlowsScanned = 512

// maxKeepAliveFramesCited bounds the keep-alives a finding lists and
// cites: the last ones before the refresh.
const maxKeepAliveFramesCited = 6

// keepAliveIndex finds the keep-alive flows of a client address to a
// registrar, and the public ports that carried SIP (another phone behind
// the same NAT, whose keep-alives are not this client's).
type keepAliveIndex struct {
	flows    map[keepAliveKey][]*diagnose.SIPKeepAlives
	sipPorts map[netip.AddrPort]bool
	// clients maps a client address and registrar to the first Call-ID
	// registered from it, or "" once a second one was: keep-alives from a
	// port that registered nothing are then nobody's in particular.
	clients map[keepAliveKey]string
	shared  map[keepAliveKey]bool
}

type keepAliveKey struct {
	client    netip.Addr
	registrar netip.AddrPort
}

func newKeepAliveIndex(a *diagnose.Analysis) *keepAliveIndex {
	x := &keepAliveIndex{
		flows:    map[keepAliveKey][]*diagnose.SIPKeepAlives{},
		sipPorts: map[netip.AddrPort]bool{},
		clients:  map[keepAliveKey]string{},
		shared:   map[keepAliveKey]bool{},
	}
	for _, k := range a.SIPKeepAlives {
		// A ping on a TCP connection keeps that connection's binding, not
		// the UDP one a registration expired on.
		if k != nil && k.Count > 0 && k.Transport != decode.TCP {
			key := keepAliveKey{k.Src.Addr().Unmap(), unmapped(k.Dst)}
			x.flows[key] = append(x.flows[key], k)
		}
	}
	for _, f := range a.Flows {
		if f != nil && f.Class == "sip" && f.Transport == decode.UDP {
			x.sipPorts[unmapped(f.Src)] = true
		}
	}
	for _, reg := range a.Registrations {
		if reg == nil || reg.Transport != decode.UDP || len(reg.Transactions) == 0 {
			continue
		}
		key := keepAliveKey{reg.Client.Addr().Unmap(), unmapped(reg.Registrar)}
		id := firstCallID(reg)
		if prev, ok := x.clients[key]; !ok {
			x.clients[key] = id
		} else if prev != id {
			x.shared[key] = true
		}
	}
	return x
}

// story gathers the keep-alives the client of rb sent to its registrar
// from the registration on the old port to the refresh: those from the old
// and the new port, and those from ports that carried no SIP unless
// another registration shares the client's address. Nil when there were
// none.
func (x *keepAliveIndex) story(rb *rebinding) *keepAliveStory {
	old, now := unmapped(rb.old.Client), unmapped(rb.now.Client)
	key := keepAliveKey{old.Addr(), unmapped(rb.now.Registrar)}
	start, end := rb.old.First.Time, rb.nowTx.Requests[0].Time
	// The flows are in order of their first keep-alive: the latest ones
	// that began by the refresh, looked at from the last back, a bounded
	// number of them (a client registered from thousands of ports is
	// not this story).
	all := x.flows[key]
	last, _ := slices.BinarySearchFunc(all, end, func(k *diagnose.SIPKeepAlives, t time.Time) int {
		if k.First.Time.After(t) {
			return 1
		}
		return -1
	})
	var flows []*diagnose.SIPKeepAlives
	for i := last - 1; i >= max(0, last-maxKeepAliveFlowsScanned) && len(flows) < maxKeepAliveFlowsPerRebinding; i-- {
		k := all[i]
		src := unmapped(k.Src)
		if k.Last.Time.Before(start) || k.First.Time.After(end) {
			continue
		}
		if src != old && src != now && (x.sipPorts[src] || x.shared[key]) {
			continue
		}
		flows = append(flows, k)
	}
	slices.Reverse(flows)
	s := &keepAliveStory{}
	inWindow := func(t time.Time) bool { return !t.Before(start) && !t.After(end) }
	for _, k := range flows {
		listed := k.Recent
		if len(listed) == 0 || listed[0].Frame != k.First.Frame {
			listed = append([]diagnose.FrameRef{k.First}, listed...)
		}
		n := 0
		for i, r := range listed {
			if !inWindow(r.Time) {
				continue
			}
			n++
			s.refs = append(s.refs, keepAliveRef{FrameRef: r, flow: k, afterUnlisted: i == 1 && k.Count > len(listed)})
		}
		if n == 0 {
			continue
		}
		if inWindow(k.First.Time) && inWindow(k.Last.Time) {
			n = k.Count
		} else if k.Count > len(listed) {
			s.atLeast = true
		}
		s.count += n
		if src := unmapped(k.Src); src == old {
			s.fromOld += n
		} else if !slices.Contains(s.newPorts, src) {
			s.newPorts = append(s.newPorts, src)
		}
	}
	if len(s.refs) == 0 {
		return nil
	}
	slices.SortStableFunc(s.refs, func(a, b keepAliveRef) int { return a.Time.Compare(b.Time) })
	s.interval = s.medianInterval()
	s.natUnder = s.shortestLostSilence(rb, flows)
	return s
}

// medianInterval is the median gap between consecutive keep-alives: the
// next listed one of the same flow with none unlisted before it, or the
// first of another flow after the last of one.
func (s *keepAliveStory) medianInterval() time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(s.refs); i++ {
		a, b := s.refs[i-1], s.refs[i]
		if b.afterUnlisted {
			continue
		}
		if a.flow == b.flow || a.Frame == a.flow.Last.Frame && b.Frame == b.flow.First.Frame {
			gaps = append(gaps, b.Time.Sub(a.Time))
		}
	}
	if len(gaps) == 0 {
		return 0
	}
	slices.Sort(gaps)
	return gaps[(len(gaps)-1)/2]
}

// shortestLostSilence is the shortest silence after which the client's
// next packet came from another public port: between its last packet
// from the old port and the next keep-alive from elsewhere, between the
// last keep-alive of one port and the first of the next, and before the
// first packet from the new port. A silence that another flow's
// keep-alives may have broken (their spans overlap it) is not one.
func (s *keepAliveStory) shortestLostSilence(rb *rebinding, flows []*diagnose.SIPKeepAlives) time.Duration {
	type event struct {
		at   time.Time
		port netip.AddrPort
	}
	events := []event{{rb.lastOld.Time, unmapped(rb.old.Client)}, {rb.firstNew.Time, unmapped(rb.now.Client)}}
	for _, r := range s.refs {
		events = append(events, event{r.Time, unmapped(r.flow.Src)})
	}
	slices.SortStableFunc(events, func(a, b event) int { return a.at.Compare(b.at) })
	shortest := rb.firstNew.Time.Sub(rb.lastOld.Time)
	for i := 1; i < len(events); i++ {
		a, b := events[i-1], events[i]
		if a.port == b.port || !b.at.After(a.at) {
			continue
		}
		broken := slices.ContainsFunc(flows, func(k *diagnose.SIPKeepAlives) bool {
			return k.First.Time.Before(b.at) && k.Last.Time.After(a.at) && unmapped(k.Src) != a.port && unmapped(k.Src) != b.port
		})
		if gap := b.at.Sub(a.at); !broken && gap < shortest {
			shortest = gap
		}
	}
	return shortest
}

// tooRare says whether the keep-alives' usual interval was about as long
// as a silence the NAT did not survive, or longer: they were too far
// apart, rather than stopped.
func (s *keepAliveStory) tooRare() bool {
	return s.interval > 0 && s.interval*10 >= s.natUnder*9
}

// roughDuration prints an interval the way a phone's settings give it:
// whole seconds from 10 s, tenths below.
func roughDuration(d time.Duration) string {
	if d >= 10*time.Second {
		return shortDuration(d.Round(time.Second))
	}
	if d >= time.Second {
		return shortDuration(d.Round(100 * time.Millisecond))
	}
	return shortDuration(d)
}

// describe writes the keep-alive sentences of a finding and cites the
// last keep-alives.
func (s *keepAliveStory) describe(d *strings.Builder, ev *evidence, rb *rebinding) {
	count := plural(s.count, "CRLF keep-alive", "CRLF keep-alives")
	switch {
	case s.atLeast:
		count = "at least " + count
	case s.count == 1:
		count = "a CRLF keep-alive"
	}
	fmt.Fprintf(d, " Between the registration and the refresh the client sent %s to the registrar (RFC 5626 §3.5.1 pings, here over UDP)", count)
	if s.interval > 0 {
		fmt.Fprintf(d, ", one every %s", roughDuration(s.interval))
	}
	cited := s.refs[max(0, len(s.refs)-maxKeepAliveFramesCited):]
	frames := make([]string, 0, len(cited)+1)
	if len(cited) < s.count {
		frames = append(frames, "…")
	}
	for _, r := range cited {
		ev.addFrame(r.FrameRef)
		frames = append(frames, fmt.Sprint(r.Frame))
	}
	last := s.refs[len(s.refs)-1]
	word := "frames"
	if len(frames) == 1 {
		word = "frame"
	}
	fmt.Fprintf(d, " (%s %s, the last at %s)", word, strings.Join(frames, ", "), clock(last.Time))
	old := endpointString(rb.old.Client)
	ports := make([]string, 0, min(len(s.newPorts), 4)+1)
	for i, p := range s.newPorts {
		if i == 4 {
			ports = append(ports, "…")
			break
		}
		ports = append(ports, endpointString(p))
		ev.addEndpoint(p)
	}
	switch {
	case len(s.newPorts) == 0:
		fmt.Fprintf(d, ", all from %s", old)
		if !s.tooRare() && s.interval > 0 {
			fmt.Fprintf(d, "; then they stopped, and after %s without any the NAT had forgotten the binding.", shortDuration(s.natUnder))
		} else {
			d.WriteString(", and the NAT forgot the binding after the last one.")
		}
	case s.fromOld == 0 && !s.atLeast && len(s.newPorts) == s.count:
		fmt.Fprintf(d, ", and each came from a new public port (%s): the NAT had forgotten the binding before every one of them.", strings.Join(ports, ", "))
	case s.fromOld == 0:
		fmt.Fprintf(d, ", from new public ports (%s): the NAT forgot the binding between them.", strings.Join(ports, ", "))
	default:
		fmt.Fprintf(d, ", %d from %s and the others from new public ports (%s): the NAT forgot the binding between them.", s.fromOld, old, strings.Join(ports, ", "))
	}
	if s.tooRare() {
		fmt.Fprintf(d, " The NAT's UDP timeout is shorter than %s, so keep-alives every %s cannot keep its binding: they must come more often than its timeout.",
			shortDuration(s.natUnder), roughDuration(s.interval))
	} else {
		fmt.Fprintf(d, " The NAT's UDP timeout is shorter than %s: keep-alives must come more often than that.", shortDuration(s.natUnder))
	}
}
