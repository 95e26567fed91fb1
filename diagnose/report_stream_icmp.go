package diagnose

import (
	"fmt"
	"slices"
)

// StreamICMPReport is what ICMP unreachable errors quoting a stream's
// RTP or RTCP said (Stream.ICMP).
type StreamICMPReport struct {
	Errors          uint64 `json:"errors"`
	RTCP            uint64 `json:"rtcp,omitempty"` // of errors, those quoting its RTCP
	PortUnreachable uint64 `json:"port_unreachable"`
	Prohibited      uint64 `json:"prohibited"` // administratively prohibited
	// From sent the first error; FromDestination says it is the
	// stream's destination address (the host, or a NAT in front of it)
	// rather than a router or firewall on the way.
	From            string `json:"from"`
	FromDestination bool   `json:"from_destination"`
	OtherSenders    uint64 `json:"other_senders,omitempty"`
	// The first error's protocol ("icmp", "icmpv6"), type, code and
	// their meaning; OtherCodes counts errors of another type or code.
	Protocol    string   `json:"protocol"`
	Type        uint8    `json:"type"`
	Code        uint8    `json:"code"`
	Description string   `json:"description"`
	OtherCodes  uint64   `json:"other_codes,omitempty"`
	First       FrameRef `json:"first"`
	Last        FrameRef `json:"last"`
	Frames      []uint64 `json:"frames"` // the first 50
}

func newStreamICMPReport(s *Stream) *StreamICMPReport {
	r := s.ICMP
	if r == nil {
		return nil
	}
	protocol := "icmp"
	if r.V6 {
		protocol = "icmpv6"
	}
	frames := slices.Clone(r.Frames)
	if frames == nil {
		frames = []uint64{}
	}
	return &StreamICMPReport{
		Errors: r.Errors, RTCP: r.RTCP, PortUnreachable: r.PortUnreachable, Prohibited: r.Prohibited,
		From: r.From.Unmap().String(), FromDestination: r.From.Unmap() == s.Dst.Addr().Unmap(), OtherSenders: r.OtherSenders,
		Protocol: protocol, Type: r.Type, Code: r.Code, Description: r.Description, OtherCodes: r.OtherCodes,
		First: utcRef(r.First), Last: utcRef(r.Last), Frames: frames,
	}
}

// icmpSummary is the stream line's mention of its ICMP errors:
// "150 ICMP errors (communication administratively prohibited from 10.0.1.1)".
func icmpSummary(r *StreamICMPReport) string {
	what := r.Description
	if r.OtherCodes > 0 {
		what += " and others"
	}
	from := r.From
	if r.OtherSenders > 0 {
		from += " and others"
	}
	return fmt.Sprintf("%s (%s from %s)", count(r.Errors, "ICMP error", "ICMP errors"), what, from)
}
