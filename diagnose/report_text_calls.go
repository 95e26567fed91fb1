package diagnose

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/callscope/callscope/decode/sdp"
)

// The text report's SIP and media sections: a block per call with its
// ladder and streams, a block per registration, and the streams no call
// claimed.

// maxLadderShown is how many ladder steps a call block prints before
// eliding the middle: a long call's re-INVITE storm is in the JSON.
const maxLadderShown = 24

func (t *textWriter) calls(r *Report, opt TextOptions) {
	if len(r.Calls) == 0 {
		return
	}
	t.printf("%s\n", t.s.heading.Sprintf("Calls (%d)", len(r.Calls)))
	for i, c := range r.Calls {
		if i > 0 {
			t.write("\n")
		}
		t.write("  ")
		t.styled(t.s.heading, printable(c.From)+" → "+printable(c.To))
		t.write("\n")
		t.field("    ", "call-id", printable(c.CallID))
		t.field("    ", "outcome", t.callOutcome(c))
		var timing []string
		if c.PostDialDelayMS > 0 {
			timing = append(timing, "post-dial delay "+msAsSeconds(c.PostDialDelayMS))
		}
		if c.SetupTimeMS > 0 {
			timing = append(timing, "setup "+msAsSeconds(c.SetupTimeMS))
		}
		if len(timing) > 0 {
			t.field("    ", "timing", strings.Join(timing, " · "))
		}
		for _, sdp := range []struct {
			label string
			s     *SDPReport
		}{{"offer", c.Offer}, {"answer", c.Answer}} {
			if sdp.s != nil {
				t.field("    ", sdp.label, sdpLine(sdp.s))
			}
		}
		if len(c.Ladder) > 0 {
			t.write("    ")
			t.styled(t.s.label, "ladder")
			t.write("\n")
			t.ladder(c)
		}
		if len(c.Streams) > 0 {
			t.write("    ")
			t.styled(t.s.label, "streams")
			t.write("\n")
			for _, i := range c.Streams {
				if i >= 0 && i < len(r.Streams) {
					t.write("      ")
					t.write(t.streamLine(r.Streams[i], opt))
					t.write("\n")
				}
			}
		} else if c.Outcome == "answered" {
			t.field("    ", "streams", t.s.warn.Sprint("no RTP seen"))
		}
	}
	t.printf("\n")
}

func (t *textWriter) callOutcome(c CallReport) string {
	out := c.Outcome
	status := ""
	if c.FinalStatus != 0 {
		status = strings.TrimSpace(strconv.Itoa(c.FinalStatus) + " " + printable(c.FinalReason))
	}
	switch c.Outcome {
	case "answered":
		out = t.s.ok.Sprint(out)
	case "failed", "unanswered":
		out = t.s.err.Sprint(out)
	case "challenged", "cancelled":
		out = t.s.warn.Sprint(out)
	}
	if status != "" {
		out += " (" + status + ")"
	}
	if c.ReasonHeader != "" {
		out += " · Reason " + printable(c.ReasonHeader)
	}
	if c.AnsweredBy != "" && c.Outcome != "answered" {
		out += " · from " + c.AnsweredBy
	}
	if c.Preexisting {
		out += " (set up before the capture started)"
	}
	if c.Forked {
		out += " · forked"
	}
	return out
}

// ladder prints the call's messages: offset from the first, the two
// endpoints with an arrow, the label and the frame. The caller stays on
// the left, so the arrows show the direction.
func (t *textWriter) ladder(c CallReport) {
	steps := c.Ladder
	if len(steps) > maxLadderShown {
		steps = slices.Concat(steps[:maxLadderShown-4], steps[len(steps)-4:])
	}
	type row struct{ a, arrow, b string }
	rows := make([]row, len(steps))
	wa, wb := 0, 0
	for i, st := range steps {
		rows[i] = row{st.From, "→", st.To}
		if st.To == c.Caller && st.From != c.Caller {
			rows[i] = row{st.To, "←", st.From}
		}
		wa, wb = max(wa, len(rows[i].a)), max(wb, len(rows[i].b))
	}
	first := c.Ladder[0].Time
	for i, st := range steps {
		if i == maxLadderShown-4 && len(c.Ladder) > maxLadderShown {
			t.printf("      %s\n", t.s.dim.Sprintf("… %d more messages", len(c.Ladder)-maxLadderShown))
		}
		// t.printf("      %s  %-*s %s %-*s  %s %s\n", t.s.label.Sprintf("%8s", offset),
		// wa, a, arrow, wb, b, printable(label), t.s.dim.Sprintf("(frame %d)", frame))
		t.write("      ")
		t.styledPadded(t.s.label, "+"+FormatSeconds(st.Time.Sub(first)), 8, true)
		t.write("  ")
		t.write(rows[i].a)
		t.pad(rows[i].a, wa)
		t.write(" ")
		t.write(rows[i].arrow)
		t.write(" ")
		t.write(rows[i].b)
		t.pad(rows[i].b, wb)
		t.write("  ")
		t.write(printable(st.Label))
		t.write(" ")
		t.styled(t.s.dim, "(frame "+strconv.FormatUint(st.Frame, 10)+")")
		t.write("\n")
	}
	if c.LadderDropped > 0 {
		t.printf("      %s\n", t.s.dim.Sprintf("… and %d messages not kept", c.LadderDropped))
	}
}

// sdpLine summarizes an SDP: "audio 192.0.2.10:4000 RTP/AVP PCMU, telephone-event sendrecv (frame 1)".
func sdpLine(s *SDPReport) string {
	var b strings.Builder
	for i, m := range s.Media {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(printable(m.Type))
		b.WriteByte(' ')
		b.WriteString(m.Address)
		b.WriteByte(' ')
		b.WriteString(printable(m.Proto))
		if len(m.Codecs) > 0 {
			const shown = 4
			codecs := m.Codecs
			if len(codecs) > shown {
				codecs = append(slices.Clone(codecs[:shown]), "…")
			}
			b.WriteByte(' ')
			b.WriteString(printable(strings.Join(codecs, ",")))
		}
		if m.Direction != "sendrecv" {
			b.WriteByte(' ')
			b.WriteString(printable(m.Direction))
		}
		if m.ICE > 0 {
			b.WriteString(" +")
			b.WriteString(strconv.Itoa(m.ICE))
			b.WriteString(" ICE")
		}
	}
	if len(s.Media) == 0 {
		b.WriteString("no media")
	}
	b.WriteString(" (from ")
	b.WriteString(s.From)
	b.WriteString(", frame ")
	b.WriteString(strconv.FormatUint(s.Frame, 10))
	b.WriteString(")")
	return b.String()
}

// streamLine prints one stream: "192.0.2.10:4000 → 203.0.113.7:30000
// SSRC 0x00001111 PCMU · 1,500 pkts · loss 0.0 % · jitter 2.0 ms · DSCP EF 46 ×1,500".
func (t *textWriter) streamLine(s StreamReport, opt TextOptions) string {
	codec := s.Codec
	if codec == "" {
		codec = "PT " + strconv.Itoa(int(s.PT))
	}
	if s.SRTP {
		codec += " (SRTP)"
	}
	line := fmt.Sprintf("%s → %s  SSRC %s %s · %s", s.Src, s.Dst, s.SSRC, printable(codec), count(s.Packets, "packet", "packets"))
	if others := otherPayloadTypes(s); others != "" {
		line += " (" + others + ")"
	}
	if s.ViaTURN {
		line += " · via TURN " + s.TURNServer
	}
	if where := capturePointString(s.Direction, s.Interface); where != "" {
		line += " · " + where
	}
	loss := fmt.Sprintf("loss %s %%", FormatTenths(s.LossPercent))
	if s.Lost > 0 {
		loss += fmt.Sprintf(" (%s lost", thousands(uint64(s.Lost)))
		if s.MaxLossBurst > 1 {
			loss += fmt.Sprintf(", bursts up to %d", s.MaxLossBurst)
		}
		loss += ")"
	}
	if s.LossPercent >= 1 {
		loss = t.s.warn.Sprint(loss)
	}
	line += " · " + loss
	if s.ClockRate > 0 {
		line += fmt.Sprintf(" · jitter %s ms (max %s)", FormatTenths(s.JitterMS), FormatTenths(s.MaxJitterMS))
	}
	if s.RTCP != nil {
		line += fmt.Sprintf(" · RTCP loss %s %%", FormatTenths(100*s.RTCP.FractionLost))
		if s.RTCP.RTTMS > 0 {
			line += fmt.Sprintf(", RTT %s ms", FormatTenths(s.RTCP.RTTMS))
		}
	}
	if s.SRTCPPackets > 0 {
		line += " · " + count(s.SRTCPPackets, "SRTCP packet", "SRTCP packets")
	}
	if d := t.dscpSummary(s, opt); d != "" {
		line += " · DSCP " + d
	}
	if s.ICMP != nil {
		line += " · " + t.s.warn.Sprint(icmpSummary(s.ICMP))
	}
	return line
}

// otherPayloadTypes lists the packets of a stream that carried more than
// one payload type, its first type first: "PCMU ×128, PT 96 ×22". A
// telephone-event or comfort-noise type beside the codec is normal; which
// ones the receiver agreed to is media.payload-type-mismatch's to judge.
// Static types are named (RFC 3551 §6); dynamic ones are named by the SDP
// only, which the stream's codec already reflects for its first type.
func otherPayloadTypes(s StreamReport) string {
	if len(s.PayloadTypes) < 2 {
		return ""
	}
	parts := make([]string, 0, len(s.PayloadTypes))
	for i, p := range s.PayloadTypes {
		name := "PT " + strconv.Itoa(int(p.PT))
		if i == 0 && s.Codec != "" {
			name = printable(s.Codec)
		} else if m, _, ok := sdp.StaticPayloadType(p.PT); ok {
			name = m.Encoding
		}
		parts = append(parts, name+" ×"+thousands(p.Packets))
	}
	return strings.Join(parts, ", ")
}

// dscpSummary lists the marks by count: "EF 46 ×150", "0 ×150 (not EF)".
func (t *textWriter) dscpSummary(s StreamReport, opt TextOptions) string {
	type mark struct {
		v int
		n uint64
	}
	var marks []mark
	for k, n := range s.DSCP {
		if v, err := strconv.Atoi(k); err == nil && n > 0 {
			marks = append(marks, mark{v, n})
		}
	}
	slices.SortFunc(marks, func(a, b mark) int {
		if a.n != b.n {
			if a.n > b.n {
				return -1
			}
			return 1
		}
		return a.v - b.v
	})
	want := -1
	switch s.Media {
	case "audio":
		want = 46
	case "video":
		want = 34
	}
	if opt.ExpectedDSCP != nil {
		if v, ok := opt.ExpectedDSCP[s.Media]; ok {
			want = v
		} else {
			want = -1
		}
	}
	var parts []string
	for _, m := range marks {
		p := dscpLabel(m.v) + " ×" + thousands(m.n)
		if want >= 0 && m.v != want {
			p = t.s.warn.Sprint(p + " (not " + dscpShort(want) + ")")
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// dscpLabel names a DSCP value: "EF 46", "AF41 34", "CS3 24", "0".
func dscpLabel(v int) string {
	if s := dscpShort(v); s != strconv.Itoa(v) {
		return s + " " + strconv.Itoa(v)
	}
	return strconv.Itoa(v)
}

// dscpShort is a DSCP value's name alone: "EF", "AF41", "CS3"; the number
// when it has none.
func dscpShort(v int) string {
	switch {
	case v == 46:
		return "EF"
	case v == 44:
		return "VOICE-ADMIT"
	case v > 0 && v < 64 && v%8 == 0:
		return "CS" + strconv.Itoa(v/8)
	case v >= 10 && v <= 38 && v%2 == 0 && (v%8)/2 >= 1 && (v%8)/2 <= 3:
		return fmt.Sprintf("AF%d%d", v/8, (v%8)/2)
	}
	return strconv.Itoa(v)
}

func (t *textWriter) registrations(r *Report) {
	if len(r.Registrations) == 0 {
		return
	}
	t.printf("%s\n", t.s.heading.Sprintf("Registrations (%d)", len(r.Registrations)))
	for _, g := range r.Registrations {
		line := fmt.Sprintf("%s at %s %s · from %s", printable(g.AOR), g.Registrar, g.Transport, g.Client) + credentials(g.Username, g.Realm)
		t.printf("  %s\n", t.s.heading.Sprint(line))
		out := g.Outcome
		switch g.Outcome {
		case "registered", "unregistered":
			out = t.s.ok.Sprint(out)
		case "failed", "unanswered":
			out = t.s.err.Sprint(out)
		case "challenged":
			out = t.s.warn.Sprint(out) + " (only the challenge was seen)"
		}
		if g.FinalStatus != 0 && g.Outcome == "failed" {
			out += fmt.Sprintf(" (%d)", g.FinalStatus)
		}
		if g.Expires != nil {
			out += fmt.Sprintf(" · expires %d s", *g.Expires)
		}
		if g.Refreshes > 0 {
			out += " · " + count(uint64(g.Refreshes), "refresh", "refreshes")
			if g.IntervalS > 0 {
				out += " every " + strconv.FormatFloat(g.IntervalS, 'f', -1, 64) + " s"
			}
		}
		t.field("    ", "outcome", out)
		if g.Deregister != "" && g.Deregister != "unregistered" {
			d := t.s.warn.Sprint(g.Deregister)
			if g.DeregisterStatus != 0 && g.Deregister == "failed" {
				d += fmt.Sprintf(" (%d)", g.DeregisterStatus)
			}
			t.field("    ", "de-register", d+": the binding stays until it expires")
		}
		if len(g.AttemptLog) > 0 {
			t.field("    ", "attempts", attemptsLine(g.AttemptLog, g.Attempts, registerStep))
		}
		t.seen(g.First, g.Last)
	}
	t.printf("\n")
}

// registerStep names what came of a REGISTER transaction, for
// attemptsLine: "401 challenge → 200 (frames 1, 3)".
func registerStep(at AttemptReport) string {
	switch {
	case at.challenge:
		return strconv.Itoa(at.code) + " challenge"
	case at.code != 0:
		return strconv.Itoa(at.code)
	}
	return noAnswer(at)
}

func (t *textWriter) otherStreams(r *Report, opt TextOptions) {
	var other []StreamReport
	for _, s := range r.Streams {
		if !s.inCall {
			other = append(other, s)
		}
	}
	if len(other) == 0 {
		return
	}
	title := "RTP streams"
	if len(r.Calls) > 0 {
		title = "RTP streams not tied to a call"
	}
	t.printf("%s\n", t.s.heading.Sprintf("%s (%d)", title, len(other)))
	const maxShown = 50
	for i, s := range other {
		if i == maxShown {
			t.printf("  %s\n", t.s.dim.Sprintf("… and %d more (see --format json)", len(other)-maxShown))
			break
		}
		t.printf("  %s\n", t.streamLine(s, opt))
	}
	t.printf("\n")
}

// msAsSeconds prints milliseconds as seconds: "0.812 s".
func msAsSeconds(ms float64) string {
	return FormatSeconds(msDuration(ms)) + " s"
}

// printable replaces control characters so a hostile URI or Call-ID cannot
// move the cursor or clear the terminal.
func printable(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return '�'
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
