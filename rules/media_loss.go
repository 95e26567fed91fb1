package rules

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/diagnose"
)

// MediaLoss reports RTP streams that lost more packets than the profile's
// loss_warning_percent (an error above loss_error_percent): lost on the way
// to the capture point (sequence gaps, RFC 3550 Appendix A.3), or beyond it
// as the receiver's RTCP reports say.
type MediaLoss struct {
	Profile *Profile
}

func (MediaLoss) ID() string                      { return "media.loss" }
func (MediaLoss) Severity() diagnose.Severity     { return diagnose.Warning }
func (MediaLoss) Severities() []diagnose.Severity { return warningOrError() }
func (MediaLoss) Title() string                   { return "RTP packet loss" }

func (r MediaLoss) Explain() string {
	p := profileOrDefault(r.Profile)
	return fmt.Sprintf("Counts lost RTP packets per stream from the gaps in its sequence numbers (RFC 3550 "+
		"Appendix A.3: expected minus received, with reordering and duplicates told apart), and reads the "+
		"receiver's own count from RTCP receiver reports when they are present. Above %s %% (the profile's "+
		"loss_warning_percent) it is a warning, above %s %% (loss_error_percent) an error: speech breaks up "+
		"and video freezes. Loss counted in the capture happened between the sender and the capture point; "+
		"loss only the RTCP reports show happened beyond it, towards the receiver. Bursts (several packets "+
		"in a row) point at congestion or a flapping link, single losses at a noisy one (Wi-Fi, DSL). Usual "+
		"causes: an uplink without QoS that queues and drops voice behind bulk traffic (see dscp.missing), "+
		"Wi-Fi, a VPN or overloaded firewall, a policer on the carrier's side. Over TCP (ICE-TCP, RFC 6544, "+
		"when UDP is blocked) the network loses nothing, since TCP retransmits: a gap there means the sender "+
		"skipped packets (a sender on a congested connection drops media rather than queue it) or the capture "+
		"missed TCP segments, and the receiver hears it all the same, so the thresholds are the same.",
		formatNumber(p.Thresholds.LossWarningPercent), formatNumber(p.Thresholds.LossErrorPercent))
}

// minLost ignores a single lost packet in a short stream: it is not what
// makes a call sound bad, and a capture that starts mid-burst can fake it.
const minLost = 2

// A stream shorter than minLossErrorSpan or minLossErrorPackets is a burst
// (a probe, early media cut short, the capture's edge): a few packets lost
// there make a large percentage that says little, so its loss is a warning
// at most. Constants rather than profile thresholds: they say when a
// percentage means anything, not how much loss a network may have.
const (
	minLossErrorSpan    = 2 * time.Second
	minLossErrorPackets = 100
)

// minMediaChangeGap is the silence in a stream long enough to be a pause
// in sending rather than loss, when the call renegotiated its media then.
const minMediaChangeGap = time.Second

func (r MediaLoss) Check(a *diagnose.Analysis) []diagnose.Finding {
	p := profileOrDefault(r.Profile)
	var out []diagnose.Finding
	for _, s := range a.Streams {
		if s == nil {
			continue
		}
		span := s.Last.Time.Sub(s.First.Time)
		if s.SSRC == 0 && span < minLossErrorSpan {
			// SSRC 0 bursts are bandwidth probes (WebRTC's padding-only
			// probes, RFC 8888 era congestion control), not media.
			continue
		}
		seen := s.LossPercent()
		remote := remoteLossPercent(s)
		worst := math.Max(seen, remote)
		if worst <= p.Thresholds.LossWarningPercent {
			continue
		}
		if !(seen > p.Thresholds.LossWarningPercent && s.Lost >= minLost) && !(remote > p.Thresholds.LossWarningPercent && s.RemoteCumulative >= minLost) {
			continue
		}
		f := r.finding(p, s, seen, remote)
		if s.Transport == decode.TCP && s.Lost > 0 && a.Stats.TCPGaps > 0 {
			f.Detail += fmt.Sprintf(" The capture itself missed data in TCP streams (%s it could not reassemble): part of this gap may be segments the capture point never saw.",
				counted(int64(a.Stats.TCPGaps), "hole", "holes"))
		}
		if n := captureDropsDuring(a, s.First.Time, s.Last.Time); n > 0 && s.Lost > 0 {
			f.Detail += fmt.Sprintf(" The capture point itself dropped %s during this stream: part of this loss may be the capture's, not the network's (see capture.drops).",
				counted(int64(n), "packet", "packets"))
		}
		short := span < minLossErrorSpan || s.Packets < minLossErrorPackets
		change := mediaChangeDuring(s)
		if change != "" {
			f.Detail += " " + change
		} else if short && worst > p.Thresholds.LossErrorPercent {
			f.Detail += fmt.Sprintf(" The stream lasted %s s with %s: too short for the percentage to mean much, so this is a warning, not an error.",
				seconds(span), counted(int64(s.Packets), "packet", "packets"))
		}
		if worst > p.Thresholds.LossErrorPercent && !short && change == "" {
			f.Severity = diagnose.Error
		}
		out = append(out, f)
	}
	return out
}

// mediaChangeDuring explains a long silence in a stream by the call's
// re-INVITE that changed its media meanwhile (a T.38 fax switch, hold):
// the sender paused, its sequence numbers jumped (or a gateway kept
// counting), and the gap is not loss. Empty when there is none.
func mediaChangeDuring(s *diagnose.Stream) string {
	if s.Call == nil || s.MaxDelta < minMediaChangeGap {
		return ""
	}
	sdps := callSDPs(s.Call)
	found, foundFrame := "", uint64(0)
	for i, cur := range sdps {
		if i == 0 || !cur.Time.After(s.First.Time) || cur.Time.After(s.Last.Time) {
			continue
		}
		var prev *diagnose.SDPSeen
		for j := i - 1; j >= 0; j-- {
			if sdps[j].From == cur.From {
				prev = sdps[j]
				break
			}
		}
		if prev == nil {
			continue // the first SDP of its sender: an answer, not a change
		}
		what := sdpMediaChange(prev.Session, cur.Session)
		// A fax switch or a hold explains a silence best; a codec list
		// trimmed by a re-INVITE only when nothing else does.
		if what != "" && (found == "" || found == "new payload types" && what != found) {
			found, foundFrame = what, cur.Frame
		}
	}
	if found == "" {
		return ""
	}
	return fmt.Sprintf("The longest silence in the stream, %s s with no packets, falls within the call's renegotiation of its media (%s, frame %d): the sender paused this RTP while the media was changed, so the sequence gap is not network loss, and this is a warning, not an error.",
		seconds(s.MaxDelta), found, foundFrame)
}

// sdpMediaChange says how b changes the media of a: "a switch to T.38 fax
// (m=image)", "hold (a=sendonly)", "new payload types"; empty when it does
// not.
func sdpMediaChange(a, b *sdp.Session) string {
	if a == nil || b == nil {
		return ""
	}
	for i, m := range b.Media {
		if m.Type == "image" || strings.Contains(strings.ToLower(m.Proto), "udptl") {
			return "a switch to T.38 fax (m=image)"
		}
		if d := mediaDirection(m.Direction); d != "sendrecv" {
			return fmt.Sprintf("hold or pause (a=%s)", d)
		}
		if m.Port == 0 {
			return "media disabled (port 0)"
		}
		if i >= len(a.Media) {
			return "a new media section"
		}
		o := a.Media[i]
		switch {
		case o.Type != m.Type || o.Proto != m.Proto:
			return fmt.Sprintf("m=%s %s instead of m=%s %s", m.Type, m.Proto, o.Type, o.Proto)
		case o.Port != m.Port || o.Connection != m.Connection:
			return "a new media address"
		case !slices.Equal(o.Formats, m.Formats):
			return "new payload types"
		}
	}
	if len(b.Media) < len(a.Media) {
		return "a media section removed"
	}
	return ""
}

// remoteLossPercent is the receiver's cumulative loss (RTCP) as a share of
// what the stream sent, or its last report's fraction when higher.
func remoteLossPercent(s *diagnose.Stream) float64 {
	if s.RemoteReports == 0 {
		return 0
	}
	pct := 100 * s.RemoteFractionLost
	if n := max(s.Expected, s.Packets); n > 0 && s.RemoteCumulative > 0 {
		pct = math.Max(pct, 100*float64(s.RemoteCumulative)/float64(n))
	}
	return pct
}

func (r MediaLoss) finding(p *Profile, s *diagnose.Stream, seen, remote float64) diagnose.Finding {
	var ev evidence
	addStreamEvidence(&ev, s)
	var d strings.Builder
	fmt.Fprintf(&d, "%s.", streamName(s))
	if s.Lost > 0 {
		fmt.Fprintf(&d, " The capture is missing %s of %s expected packets (%s %%)", thousands(uint64(s.Lost)), thousands(s.Expected), percent(seen))
		if s.LossBursts > 0 {
			fmt.Fprintf(&d, " in %s, the longest %s in a row", plural(s.LossBursts, "gap", "gaps"), plural(s.MaxLossBurst, "packet", "packets"))
		}
		if s.Transport == decode.TCP {
			// TCP retransmits what the network drops (RFC 9293 §3.8.1):
			// an RTP sequence gap on a TCP connection is the sender's.
			d.WriteString(": over TCP the network loses nothing (TCP retransmits), so these packets were never sent: the sender dropped them, as senders do with media a congested connection cannot carry.")
		} else {
			d.WriteString(": lost between the sender and the capture point.")
		}
	} else {
		d.WriteString(" Every packet reached the capture point.")
	}
	if s.Reordered > 0 || s.Duplicates > 0 {
		fmt.Fprintf(&d, " %s arrived out of order and %s twice.", counted(int64(s.Reordered), "packet", "packets"), counted(int64(s.Duplicates), "packet", "packets"))
	}
	if s.RemoteReports > 0 {
		fmt.Fprintf(&d, " The receiver's RTCP (%s) reports %s lost in all and %s %% in its last report",
			plural(s.RemoteReports, "report", "reports"), counted(int64(s.RemoteCumulative), "packet", "packets"), percent(100*s.RemoteFractionLost))
		switch {
		case remote <= seen+p.Thresholds.LossWarningPercent:
		case s.Transport == decode.TCP:
			d.WriteString(": more than the capture shows, so packets went missing after the capture point, where TCP does not lose them: in a relay or the receiver's own stack")
		default:
			d.WriteString(": more than the capture shows, so packets were also lost after the capture point, on the way to the receiver")
		}
		d.WriteString(".")
	}
	worst := math.Max(seen, remote)
	if worst > p.Thresholds.LossErrorPercent {
		fmt.Fprintf(&d, " That is above the %s profile's error threshold of %s %%: speech breaks up.", p.Name, formatNumber(p.Thresholds.LossErrorPercent))
	} else {
		fmt.Fprintf(&d, " That is above the %s profile's warning threshold of %s %%: audible as clicks and gaps.", p.Name, formatNumber(p.Thresholds.LossWarningPercent))
	}
	title := fmt.Sprintf("%s %% loss on %s from %s to %s", percent(worst), mediaTypeWord(s.MediaType), endpointString(s.Src), endpointString(s.Dst))
	d.WriteString(rtpHeuristicNote(s))
	return ev.finding(r, title, d.String(), streamFilter(s))
}

// streamName describes a stream in a sentence: "Audio RTP (PCMU, SSRC
// 0x1234abcd) from A to B over udp, 1,500 packets".
func streamName(s *diagnose.Stream) string {
	kind := "RTP"
	if s.MediaType != "" {
		kind = strings.ToUpper(s.MediaType[:1]) + s.MediaType[1:] + " RTP"
	}
	if s.SRTP {
		kind = strings.Replace(kind, "RTP", "SRTP", 1)
	}
	var attrs []string
	if s.Codec != "" {
		attrs = append(attrs, s.Codec)
	}
	attrs = append(attrs, fmt.Sprintf("SSRC 0x%08x", s.SSRC))
	out := fmt.Sprintf("%s (%s) from %s to %s over %s, %s", kind, strings.Join(attrs, ", "), endpointString(s.Src), endpointString(s.Dst), s.Transport, counted(int64(s.Packets), "packet", "packets"))
	if s.Allocation != nil {
		out += fmt.Sprintf(", relayed through the TURN server %s", endpointString(s.Allocation.Server))
	}
	if s.Call != nil {
		out += ", call " + quoted(s.Call.CallID)
	}
	return out
}

// percent prints a percentage with one decimal, or two below 1.
func percent(v float64) string {
	if v < 1 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return diagnose.FormatTenths(v)
}

// formatNumber prints a threshold as written: 1, 2.5.
func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
