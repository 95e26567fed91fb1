package rules

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/callscope/callscope/diagnose"
)

// MediaLoss reports RTP streams that lost more packets than the profile's
// loss_warning_percent (an error above loss_error_percent): lost on the way
// to the capture point (sequence gaps, RFC 3550 Appendix A.3), or beyond it
// as the receiver's RTCP reports say.
type MediaLoss struct {
	Profile *Profile
}

func (MediaLoss) ID() string                  { return "media.loss" }
func (MediaLoss) Severity() diagnose.Severity { return diagnose.Warning }
func (MediaLoss) Title() string               { return "RTP packet loss" }

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
		"Wi-Fi, a VPN or overloaded firewall, a policer on the carrier's side.",
		formatNumber(p.Thresholds.LossWarningPercent), formatNumber(p.Thresholds.LossErrorPercent))
}

// minLost ignores a single lost packet in a short stream: it is not what
// makes a call sound bad, and a capture that starts mid-burst can fake it.
const minLost = 2

func (r MediaLoss) Check(a *diagnose.Analysis) []diagnose.Finding {
	p := profileOrDefault(r.Profile)
	var out []diagnose.Finding
	for _, s := range a.Streams {
		if s == nil {
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
		if worst > p.Thresholds.LossErrorPercent {
			f.Severity = diagnose.Error
		}
		out = append(out, f)
	}
	return out
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
		d.WriteString(": lost between the sender and the capture point.")
	} else {
		d.WriteString(" Every packet reached the capture point.")
	}
	if s.Reordered > 0 || s.Duplicates > 0 {
		fmt.Fprintf(&d, " %s arrived out of order and %s twice.", counted(int64(s.Reordered), "packet", "packets"), counted(int64(s.Duplicates), "packet", "packets"))
	}
	if s.RemoteReports > 0 {
		fmt.Fprintf(&d, " The receiver's RTCP (%s) reports %s lost in all and %s %% in its last report",
			plural(s.RemoteReports, "report", "reports"), counted(int64(s.RemoteCumulative), "packet", "packets"), percent(100*s.RemoteFractionLost))
		if remote > seen+p.Thresholds.LossWarningPercent {
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
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// formatNumber prints a threshold as written: 1, 2.5.
func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
