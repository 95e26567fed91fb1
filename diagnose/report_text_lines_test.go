package diagnose

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
)

func TestSpanDurationMatchesShownTimes(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		first, last time.Duration
		want        string
	}{
		// Exactly 2.5 ms apart, shown .000 → .002: the duration is the
		// 2 ms between the shown times, not 2.5 ms rounded up to 3.
		{400 * time.Microsecond, 2900 * time.Microsecond, "2026-01-01 00:00:00.000 → 00:00:00.002 UTC (0.002 s)"},
		{999 * time.Microsecond, 3 * time.Millisecond, "2026-01-01 00:00:00.000 → 00:00:00.003 UTC (0.003 s)"},
		{0, 62500 * time.Millisecond, "2026-01-01 00:00:00.000 → 00:01:02.500 UTC (62.5 s)"},
		{100 * time.Microsecond, 400 * time.Microsecond, "2026-01-01 00:00:00.000 → 00:00:00.000 UTC (300 µs)"},
		{0, 0, "2026-01-01 00:00:00.000 UTC"},
	} {
		if got := span(base.Add(c.first), base.Add(c.last)); got != c.want {
			t.Errorf("span(+%v, +%v) = %q, want %q", c.first, c.last, got, c.want)
		}
	}
}

func writeTextReport(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCaptureCountsLineNamesWhatIsThere(t *testing.T) {
	tlsOnly := NewReport(&Analysis{}, nil, "")
	tlsOnly.TLSConnections = []TLSConnectionReport{{Transport: "tcp"}, {Transport: "udp", DTLS: true}, {Transport: "tcp"}}
	out := writeTextReport(t, tlsOnly)
	if strings.Contains(out, "STUN messages") || strings.Contains(out, "ChannelData") {
		t.Errorf("a TLS/DTLS-only report counts absent STUN/TURN:\n%s", out)
	}
	if !strings.Contains(out, "  2 TLS connections · 1 DTLS association\n") {
		t.Errorf("no TLS/DTLS count line:\n%s", out)
	}

	stun := NewReport(&Analysis{}, nil, "")
	stun.Stats.STUN = 4
	out = writeTextReport(t, stun)
	if !strings.Contains(out, "  4 STUN messages · 0 ChannelData\n") || strings.Contains(out, "TLS connection") {
		t.Errorf("STUN counts:\n%s", out)
	}
}

func TestFindingEndpointsAbbreviated(t *testing.T) {
	var endpoints []string
	for i := range 40 {
		endpoints = append(endpoints, fmt.Sprintf("192.0.2.%d:5000", i))
	}
	r := NewReport(&Analysis{}, []Finding{{Rule: "x", Severity: Warning, Title: "t", Endpoints: endpoints}}, "")
	out := writeTextReport(t, r)
	var line string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.Contains(l, "endpoints") {
			line = l
		}
	}
	want := fmt.Sprintf("192.0.2.%d:5000 … (+%d more)", endpointsShown-1, 40-endpointsShown)
	if !strings.HasSuffix(line, want) || strings.Contains(line, "192.0.2.39") {
		t.Errorf("endpoints line %q, want it to end %q", line, want)
	}
}

func TestNoProblemsInPartialInput(t *testing.T) {
	r := NewReport(&Analysis{Warnings: []capture.Warning{{Path: "cut.pcap", Frame: 19, Message: "truncated"}}}, nil, "")
	out := writeTextReport(t, r)
	if !strings.HasSuffix(out, "No problems found in what could be read (the input was cut short: see the warnings)\n") {
		t.Errorf("a partial capture's verdict claims too much:\n%s", out)
	}
}

func TestOtherPayloadTypes(t *testing.T) {
	pts := func(p ...PayloadTypeReport) []PayloadTypeReport { return p }
	for _, c := range []struct {
		s    StreamReport
		want string
	}{
		{StreamReport{Codec: "PCMU", PayloadTypes: nil}, ""},
		{StreamReport{Codec: "PCMU", PayloadTypes: pts(PayloadTypeReport{PT: 0, Packets: 150})}, ""},
		// The first type by the stream's codec, static ones by RFC 3551,
		// dynamic ones by number.
		{StreamReport{Codec: "opus", PayloadTypes: pts(PayloadTypeReport{PT: 111, Packets: 1500}, PayloadTypeReport{PT: 13, Packets: 2}, PayloadTypeReport{PT: 101, Packets: 22})},
			"opus ×1,500, CN ×2, PT 101 ×22"},
		{StreamReport{PayloadTypes: pts(PayloadTypeReport{PT: 96, Packets: 10}, PayloadTypeReport{PT: 8, Packets: 1})}, "PT 96 ×10, PCMA ×1"},
	} {
		if got := otherPayloadTypes(c.s); got != c.want {
			t.Errorf("otherPayloadTypes(%+v) = %q, want %q", c.s.PayloadTypes, got, c.want)
		}
	}
}
