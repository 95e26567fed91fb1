package diagnose

import "github.com/callscope/callscope/decode"

// maxKeepAliveFlowsShown bounds the keep-alive flows a report carries: a
// line each in the text report, which a capture of a whole PBX should not
// flood. The JSON report has only their total (stats.sip_keepalives).
const maxKeepAliveFlowsShown = 20

// SIPKeepAliveSummary is what the text report shows of
// Analysis.SIPKeepAlives.
type SIPKeepAliveSummary struct {
	// Flows are the first flows, in order of their first keep-alive; More
	// counts the flows after them, Dropped the keep-alives of flows the
	// analysis did not keep (Analysis.DroppedSIPKeepAlives).
	Flows         []SIPKeepAliveReport
	More, Dropped int
}

// SIPKeepAliveReport is the CRLF keep-alives of one flow (SIPKeepAlives).
type SIPKeepAliveReport struct {
	Src, Dst     string
	Transport    string // "udp" or "tcp"
	Pings, Pongs int
	// IntervalS is the median time between its latest keep-alives
	// (SIPKeepAlives.Interval), 0 with fewer than two.
	IntervalS   float64
	First, Last FrameRef
	// NoPongBack: pings over TCP whose connection carried no pong the
	// other way (RFC 5626 §4.4.1 has the server answer each one, §5.4):
	// a server that does not implement RFC 5626, or pongs lost.
	NoPongBack bool
}

// sipKeepAliveSummary summarizes a's keep-alive flows for the report.
func sipKeepAliveSummary(a *Analysis) SIPKeepAliveSummary {
	s := SIPKeepAliveSummary{Dropped: a.DroppedSIPKeepAlives}
	var pongs map[flowKey]int // by the flow the pongs answered
	for _, k := range a.SIPKeepAlives {
		if k != nil && k.Transport == decode.TCP && k.Pongs > 0 {
			if pongs == nil {
				pongs = map[flowKey]int{}
			}
			pongs[flowKey{client: k.Dst, server: k.Src, transport: k.Transport}] += k.Pongs
		}
	}
	for _, k := range a.SIPKeepAlives {
		if k == nil {
			continue
		}
		if len(s.Flows) == maxKeepAliveFlowsShown {
			s.More++
			continue
		}
		s.Flows = append(s.Flows, SIPKeepAliveReport{
			Src: addrPortString(k.Src), Dst: addrPortString(k.Dst), Transport: transportString(k.Transport),
			Pings: k.Pings, Pongs: k.Pongs, IntervalS: round3(k.Interval().Seconds()),
			First: utcRef(k.First), Last: utcRef(k.Last),
			NoPongBack: k.Transport == decode.TCP && k.Pings > 0 &&
				pongs[flowKey{client: k.Src, server: k.Dst, transport: k.Transport}] == 0,
		})
	}
	return s
}
