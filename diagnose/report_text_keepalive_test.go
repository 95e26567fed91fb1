package diagnose

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
)

// TestTextReportKeepAlives: a line per keep-alive flow, pings, pongs, how
// often and their frames, "no pong back" for TCP pings nobody answered;
// no section at all without keep-alives.
func TestTextReportKeepAlives(t *testing.T) {
	at := func(frame uint64, sec float64) FrameRef {
		return FrameRef{Frame: frame, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(sec * float64(time.Second)))}
	}
	ap := netip.MustParseAddrPort
	phone, registrar, other := ap("10.0.1.10:58993"), ap("203.0.113.20:5060"), ap("10.0.1.11:40000")
	a := &Analysis{SIPKeepAlives: []*SIPKeepAlives{
		{Src: phone, Dst: registrar, Transport: decode.TCP, Count: 4, Pings: 4, First: at(8, 5), Last: at(14, 20),
			Recent: []FrameRef{at(8, 5), at(10, 10.0002), at(12, 15), at(14, 20.0003)}},
		{Src: registrar, Dst: phone, Transport: decode.TCP, Count: 2, Pongs: 2, First: at(9, 5), Last: at(11, 10),
			Recent: []FrameRef{at(9, 5), at(11, 10)}},
		{Src: other, Dst: registrar, Transport: decode.TCP, Count: 1, Pings: 1, First: at(20, 21), Last: at(20, 21),
			Recent: []FrameRef{at(20, 21)}},
		{Src: other, Dst: registrar, Transport: decode.UDP, Count: 3, Pings: 2, Pongs: 1, First: at(30, 22), Last: at(40, 34),
			Recent: []FrameRef{at(30, 22), at(35, 28), at(40, 34)}},
	}}
	out := writeTextReport(t, NewReport(a, nil, ""))
	want := `SIP keep-alive flows (4)
  10.0.1.10:58993 → 203.0.113.20:5060 tcp · 4 pings every 5 s · frames 8–14
  203.0.113.20:5060 → 10.0.1.10:58993 tcp · 2 pongs every 5 s · frames 9–11
  10.0.1.11:40000 → 203.0.113.20:5060 tcp · 1 ping · frame 20 · no pong back
  10.0.1.11:40000 → 203.0.113.20:5060 udp · 2 pings and 1 pong every 6 s · frames 30–40

`
	if !strings.Contains(out, want) {
		t.Errorf("report:\n%s\nwant the section:\n%s", out, want)
	}
	if out := writeTextReport(t, NewReport(&Analysis{}, nil, "")); strings.Contains(out, "keep-alive") {
		t.Errorf("a report without keep-alives mentions them:\n%s", out)
	}

	many := &Analysis{DroppedSIPKeepAlives: 7}
	for i := range maxKeepAliveFlowsShown + 2 {
		src := netip.AddrPortFrom(phone.Addr(), uint16(30000+i))
		many.SIPKeepAlives = append(many.SIPKeepAlives, &SIPKeepAlives{Src: src, Dst: registrar, Transport: decode.UDP,
			Count: 1, Pings: 1, First: at(uint64(i+1), float64(i)), Last: at(uint64(i+1), float64(i))})
	}
	out = writeTextReport(t, NewReport(many, nil, ""))
	if n := strings.Count(out, " udp · 1 ping · frame "); n != maxKeepAliveFlowsShown {
		t.Errorf("%d flow lines, want %d:\n%s", n, maxKeepAliveFlowsShown, out)
	}
	for _, line := range []string{"SIP keep-alive flows (22)\n", "  … and 2 more flows\n", "  7 keep-alives on flows beyond the 10,000 summarized\n"} {
		if !strings.Contains(out, line) {
			t.Errorf("no %q in:\n%s", line, out)
		}
	}
}
