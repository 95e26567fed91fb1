package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// MediaOneWay finds answered calls whose RTP of one media type flowed in
// one direction only, although both SDPs asked for both directions.
type MediaOneWay struct{}

func (MediaOneWay) ID() string                  { return "media.one-way" }
func (MediaOneWay) Severity() diagnose.Severity { return diagnose.Error }
func (MediaOneWay) Title() string               { return "One-way media" }

func (MediaOneWay) Explain() string {
	return "Checks answered calls whose SDP offer and answer both asked to send and receive a media type " +
		"(sendrecv): RTP seen in one direction but none in the other is one-way audio (or video). The " +
		"finding names the silent side and the address its media should have reached according to the " +
		"other side's SDP. Usual causes: an SDP that announces a private address behind NAT (see " +
		"sip.nat-address-mismatch), a firewall or NAT pinhole open in one direction only (media ports not " +
		"allowed inbound, or a pinhole that timed out), a SIP ALG that rewrote the SDP wrongly, asymmetric " +
		"routing that sends the return media another way (then a capture point on one path sees only one " +
		"direction), or a phone whose microphone is muted at the RTP level. A call put on hold (sendonly, " +
		"inactive) is not one-way media."
}

// minOneWaySpan is how long media must flow one way before the other
// direction's silence means something: a capture that ends a moment after
// the answer proves nothing.
const minOneWaySpan = time.Second

func (r MediaOneWay) Check(a *diagnose.Analysis) []diagnose.Finding {
	var out []diagnose.Finding
	callStreams := indexCallStreams(a)
	for _, c := range a.Calls {
		if c == nil || c.Outcome != "answered" || c.Offer == nil || c.Offer.Session == nil {
			continue
		}
		streams := callStreams.streams(c)
		if len(streams) == 0 {
			continue // media.no-rtp
		}
		offerer, answerer := callSides(c)
		var done []string // media types: a call has one or two
		for i, m := range c.Offer.Session.Media {
			if m.Port == 0 || !strings.Contains(m.Proto, "RTP") || slices.Contains(done, m.Type) {
				continue
			}
			offerDir, answerDir := mediaDirection(m.Direction), "sendrecv"
			if c.Answer != nil && c.Answer.Session != nil && i < len(c.Answer.Session.Media) {
				am := c.Answer.Session.Media[i]
				if am.Port == 0 {
					continue // rejected (RFC 3264 §6)
				}
				answerDir = mediaDirection(am.Direction)
			}
			// Both directions expected: the offerer sends and the answerer
			// receives, and the other way round.
			if !dirSends(offerDir) || !dirReceives(offerDir) || !dirSends(answerDir) || !dirReceives(answerDir) {
				continue
			}
			done = append(done, m.Type)
			var toOfferer, toAnswerer []*diagnose.Stream
			for _, s := range streams {
				if s.MediaType != "" && s.MediaType != m.Type {
					continue
				}
				switch streamToward(s, offerer, answerer) {
				case 1:
					toOfferer = append(toOfferer, s)
				case 2:
					toAnswerer = append(toAnswerer, s)
				}
			}
			switch {
			case len(toOfferer) > 0 && len(toAnswerer) == 0 && lasted(toOfferer):
				out = append(out, r.finding(c, m.Type, toOfferer, answerer, offerer))
			case len(toAnswerer) > 0 && len(toOfferer) == 0 && lasted(toAnswerer):
				out = append(out, r.finding(c, m.Type, toAnswerer, offerer, answerer))
			}
		}
	}
	return out
}

func lasted(streams []*diagnose.Stream) bool {
	var first, last time.Time
	for _, s := range streams {
		if first.IsZero() || s.First.Time.Before(first) {
			first = s.First.Time
		}
		if s.Last.Time.After(last) {
			last = s.Last.Time
		}
	}
	return last.Sub(first) >= minOneWaySpan
}

// finding: active streams flowed from the sending side to the receiving
// side; nothing came back from the receiving side.
func (r MediaOneWay) finding(c *diagnose.Call, media string, active []*diagnose.Stream, sender, silent *callSide) diagnose.Finding {
	var ev evidence
	ev.addFrame(c.Invite)
	ev.addFrame(c.Answered)
	var packets uint64
	var ssrcs []string
	for _, s := range active {
		addStreamEvidence(&ev, s)
		packets += s.Packets
		ssrcs = append(ssrcs, fmt.Sprintf("0x%08x", s.SSRC))
	}
	s0 := active[0]
	var d strings.Builder
	fmt.Fprintf(&d, "The call from %s to %s (Call-ID %s) was answered, but its %s flowed one way only: %s RTP packets from the %s (%s → %s, SSRC %s) and none from the %s.",
		quoted(c.From), quoted(c.To), quoted(c.CallID), media, thousands(packets), silent.other(), endpointString(s0.Src), endpointString(s0.Dst),
		strings.Join(ssrcs, ", "), silent.role)
	// Where the silent side should have sent: the sender's SDP.
	var target netip.AddrPort
	if sender.sdp != nil {
		for _, m := range sdpMediaAddrs(sender.sdp) {
			if m.media == media {
				target = netip.AddrPortFrom(m.addr, m.port)
				break
			}
		}
	}
	if target.IsValid() {
		fmt.Fprintf(&d, " The %s's %s should have reached %s, the address the %s's SDP announced (frame %d).", silent.role, media, target, sender.role, sender.sdp.Frame)
		ev.addEndpoint(target)
		if public, how := behindNAT(target.Addr(), sender, active); public.IsValid() {
			fmt.Fprintf(&d, " That address is private, but the %s's %s came from the public address %s: the %s is behind NAT and nothing fixed its SDP, so the %s's %s cannot reach it (see sip.nat-address-mismatch).",
				sender.role, how, public, sender.role, silent.role, media)
		} else if isPrivate(target.Addr()) && sender.sdp.From.Addr().Unmap() == target.Addr() {
			fmt.Fprintf(&d, " That address is private, and the %s's SIP came from it too: nothing in the capture shows a NAT between the two sides.", sender.role)
		}
	}
	if silent.sdp != nil {
		fmt.Fprintf(&d, " The %s's SDP came from %s.", silent.role, endpointString(silent.sdp.From))
	}
	fmt.Fprintf(&d, " Usual causes: a firewall or pinhole that lets media through in one direction only, an SDP address the %s cannot reach, a SIP ALG that rewrote the SDP wrongly, asymmetric routing that sends the return media past the capture point, or a %s that never sent (muted at the RTP level, or its media never started).",
		silent.role, silent.role)
	sipFrames := []uint64{c.Invite.Frame, c.Answered.Frame}
	// Built, not concatenated: a call whose SSRC kept changing has
	// thousands of streams, and each += would copy the filter so far.
	var filter strings.Builder
	filter.WriteString(callSIPFilter(c, slices.DeleteFunc(sipFrames, func(f uint64) bool { return f == 0 })))
	for i, s := range ssrcs {
		if rtpDissected(active[i]) {
			filter.WriteString(" || rtp.ssrc == " + s)
		} else {
			filter.WriteString(" || (" + streamFilter(active[i]) + ")")
		}
	}
	if target.IsValid() {
		fmt.Fprintf(&filter, " || (%s && %s.port == %d)", addrFilter("addr", target.Addr()), transportName(s0.Transport), target.Port())
	}
	title := fmt.Sprintf("One-way %s: nothing from the %s (call %s)", media, silent.role, quoted(c.CallID))
	return ev.finding(r, title, d.String(), filter.String())
}

// behindNAT finds evidence that the sender's announced media address
// (private) sits behind NAT, as sip.nat-address-mismatch does: its SDP, or
// the media it sent, came from a public address. It returns that address
// and what came from it; an invalid address when there is no such evidence,
// for a private address proves nothing by itself (a routed network, a
// capture inside the LAN).
func behindNAT(target netip.Addr, sender *callSide, active []*diagnose.Stream) (netip.Addr, string) {
	target = target.Unmap()
	if !isPrivate(target) {
		return netip.Addr{}, ""
	}
	if sender.sdp != nil {
		if from := sender.sdp.From.Addr().Unmap(); from.IsValid() && from != target && !isPrivate(from) {
			return from, "SIP"
		}
	}
	for _, s := range active {
		if s.Allocation != nil {
			continue // the outer source is the TURN server's
		}
		if src := s.Src.Addr().Unmap(); src.IsValid() && src != target && !isPrivate(src) {
			return src, "media"
		}
	}
	return netip.Addr{}, ""
}

func (cs *callSide) other() string {
	if cs.role == "caller" {
		return "callee"
	}
	return "caller"
}
