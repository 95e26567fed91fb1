package rules

import (
	"fmt"
	"math"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// MediaJitter reports RTP streams whose interarrival jitter (RFC 3550
// §6.4.1, measured at the capture point) rose above the profile's
// jitter_warning_ms.
type MediaJitter struct {
	Profile *Profile
}

func (MediaJitter) ID() string                  { return "media.jitter" }
func (MediaJitter) Severity() diagnose.Severity { return diagnose.Warning }
func (MediaJitter) Title() string               { return "RTP jitter" }

func (r MediaJitter) Explain() string {
	p := profileOrDefault(r.Profile)
	return fmt.Sprintf("Computes each RTP stream's interarrival jitter as RFC 3550 §6.4.1 defines it (how much "+
		"the spacing of packets at the capture point differs from the spacing of their timestamps, smoothed) "+
		"and warns when its peak or its final value is above %s ms (the profile's jitter_warning_ms). A "+
		"receiver's jitter buffer absorbs some variation; beyond it late packets are dropped and heard as "+
		"loss. The far end's own view from RTCP is given when present. Usual causes: queuing on a congested "+
		"link without QoS (see dscp.missing), Wi-Fi, a VPN, or a sender whose CPU stalls. The largest gap "+
		"between two packets helps tell a steady problem from a single stall. Over TCP (ICE-TCP, RFC 6544) "+
		"loss on the path shows up here rather than as loss: a retransmitted segment holds back every packet "+
		"behind it (head-of-line blocking), and they arrive late and together; the receiver's buffer has to "+
		"absorb that as any other jitter, so the threshold is the same.", formatNumber(p.Thresholds.JitterWarningMS))
}

func (r MediaJitter) Check(a *diagnose.Analysis) []diagnose.Finding {
	p := profileOrDefault(r.Profile)
	limit := p.Thresholds.JitterWarningMS
	var out []diagnose.Finding
	for _, s := range a.Streams {
		if s == nil || s.ClockRate == 0 || math.Max(s.MaxJitter, s.Jitter) <= limit {
			continue
		}
		out = append(out, r.finding(p, s))
	}
	return out
}

func (r MediaJitter) finding(p *Profile, s *diagnose.Stream) diagnose.Finding {
	var ev evidence
	addStreamEvidence(&ev, s)
	peak := math.Max(s.MaxJitter, s.Jitter)
	var d strings.Builder
	fmt.Fprintf(&d, "%s. Its interarrival jitter (RFC 3550) peaked at %s ms and was %s ms at the end, above the %s profile's %s ms.",
		streamName(s), ms(peak), ms(s.Jitter), p.Name, formatNumber(p.Thresholds.JitterWarningMS))
	if s.MaxDelta > 0 {
		fmt.Fprintf(&d, " The largest gap between two packets was %s ms.", ms(float64(s.MaxDelta.Microseconds())/1000))
	}
	if s.RemoteReports > 0 {
		fmt.Fprintf(&d, " The receiver's RTCP reports %s ms.", ms(s.RemoteJitter))
	}
	d.WriteString(" Packets that arrive later than the receiver's jitter buffer allows are dropped and heard as loss; the delay varies between the sender and the capture point.")
	if s.Transport == decode.TCP {
		// TCP delivers in order (RFC 9293): what the path drops is sent
		// again, and everything behind it waits. Jitter is where a TCP
		// stream shows the path's loss; the buffer absorbs it or not
		// whatever its cause, so the threshold is the one for UDP.
		d.WriteString(" This stream runs over TCP, where a segment lost on the way is sent again and holds back every packet behind it (head-of-line blocking): the jitter is likely the path's loss showing as delay.")
	}
	title := fmt.Sprintf("Jitter %s ms on %s from %s to %s", ms(peak), mediaTypeWord(s.MediaType), endpointString(s.Src), endpointString(s.Dst))
	d.WriteString(rtpHeuristicNote(s))
	return ev.finding(r, title, d.String(), streamFilter(s))
}

// ms prints milliseconds with one decimal, rounded as the report's stream
// line rounds them (diagnose.FormatTenths).
func ms(v float64) string { return diagnose.FormatTenths(v) }
