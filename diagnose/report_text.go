package diagnose

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/callscope/callscope/decode/capture"
	"github.com/fatih/color"
)

// TextOptions configure WriteText.
type TextOptions struct {
	// Color turns on ANSI colors. The caller decides (terminal, --color,
	// NO_COLOR); WriteText never looks at the global color.NoColor.
	Color bool
	// ExpectedDSCP is the mark expected per media class ("audio", "video")
	// for the "(not EF)" notes on stream lines: the profile's. Nil means
	// RFC 4594's EF 46 for audio and AF41 34 for video; -1 turns a class's
	// note off.
	ExpectedDSCP map[string]int
}

// textWidth is where prose wraps: findings are read in a terminal next to
// Wireshark.
const textWidth = 88

// framesShown is how many frames a finding lists before abbreviating.
const framesShown = 12

// endpointsShown is how many endpoints a finding lists before abbreviating:
// a scan or a busy relay can name hundreds.
const endpointsShown = 6

type textStyle struct {
	heading, err, warn, info, ok, dim, label, filter *color.Color
	on                                               bool
}

func newTextStyle(on bool) textStyle {
	mk := func(attrs ...color.Attribute) *color.Color {
		c := color.New(attrs...)
		if on {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c
	}
	return textStyle{
		heading: mk(color.Bold),
		err:     mk(color.FgRed, color.Bold),
		warn:    mk(color.FgYellow, color.Bold),
		info:    mk(color.FgCyan, color.Bold),
		ok:      mk(color.FgGreen, color.Bold),
		dim:     mk(color.Faint),
		label:   mk(color.FgHiBlack),
		filter:  mk(color.FgCyan),
		on:      on,
	}
}

func (s textStyle) severity(sev Severity) *color.Color {
	switch sev {
	case Error:
		return s.err
	case Warning:
		return s.warn
	}
	return s.info
}

// WriteText writes the report for a person: the capture, the TURN
// allocations, the findings with their evidence and a Wireshark filter on a
// line of its own, and a one-line verdict.
func (r *Report) WriteText(w io.Writer, opt TextOptions) error {
	bw := bufio.NewWriter(w)
	tw := &textWriter{w: bw, s: newTextStyle(opt.Color)}
	tw.header(r)
	tw.captures(r)
	tw.allocations(r)
	tw.calls(r, opt)
	tw.registrations(r)
	tw.keepAlives(r)
	tw.otherStreams(r, opt)
	tw.iceSessions(r)
	tw.tlsConnections(r)
	tw.findings(r)
	tw.verdict(r)
	if tw.err != nil {
		return tw.err
	}
	return bw.Flush()
}

type textWriter struct {
	w   *bufio.Writer
	s   textStyle
	err error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

// The lines printed once per call, stream or ladder step are written
// without fmt (what printf would print, byte for byte): on a capture
// with many calls fmt's boxing and parsing were most of the report.

func (t *textWriter) write(s string) {
	if t.err == nil {
		_, t.err = t.w.WriteString(s)
	}
}

const textSpaces = "                                                                "

// pad writes the spaces fmt's width adds to s: fmt counts runes.
func (t *textWriter) pad(s string, width int) {
	for n := width - utf8.RuneCountInString(s); n > 0 && t.err == nil; n -= len(textSpaces) {
		t.write(textSpaces[:min(n, len(textSpaces))])
	}
}

// styled writes c.Sprint(s).
func (t *textWriter) styled(c *color.Color, s string) {
	if t.s.on {
		s = c.Sprint(s)
	}
	t.write(s)
}

// styledPadded writes c.Sprintf("%-*s", width, s), or "%*s" when right.
func (t *textWriter) styledPadded(c *color.Color, s string, width int, right bool) {
	if t.s.on {
		if right {
			t.write(c.Sprintf("%*s", width, s))
		} else {
			t.write(c.Sprintf("%-*s", width, s))
		}
		return
	}
	if right {
		t.pad(s, width)
	}
	t.write(s)
	if !right {
		t.pad(s, width)
	}
}

// field prints an indented "label  value" line.
func (t *textWriter) field(indent, label, value string) {
	t.write(indent)
	t.styledPadded(t.s.label, label, 10, false)
	t.write(" ")
	t.write(value)
	t.write("\n")
}

func (t *textWriter) header(r *Report) {
	name := r.Tool.Name
	if name == "" {
		name = "callscope"
	}
	if r.Tool.Version != "" {
		name += " " + r.Tool.Version
	}
	// Name what the capture held, so a reader knows at once what was
	// looked at: "SIP, media and STUN/TURN analysis".
	var parts []string
	if len(r.Calls) > 0 || len(r.Registrations) > 0 || r.Stats.SIP > 0 {
		parts = append(parts, "SIP")
	}
	if len(r.Streams) > 0 {
		parts = append(parts, "media")
	}
	if len(r.ICESessions) > 0 {
		parts = append(parts, "ICE")
	}
	if len(r.TLSConnections) > 0 {
		parts = append(parts, "TLS")
	}
	if r.Stats.STUN > 0 || r.Stats.ChannelData > 0 || len(r.Allocations) > 0 || len(parts) == 0 {
		parts = append(parts, "STUN/TURN")
	}
	what := parts[0]
	if n := len(parts); n > 1 {
		what = strings.Join(parts[:n-1], ", ") + " and " + parts[n-1]
	}
	t.printf("%s\n\n", t.s.heading.Sprint(name+" · "+what+" analysis"))
}

func (t *textWriter) captures(r *Report) {
	t.printf("%s\n", t.s.heading.Sprint("Capture"))
	for _, c := range r.Captures {
		what := c.Format
		if len(c.LinkTypes) > 0 {
			what += ", " + strings.Join(c.LinkTypes, ", ")
		}
		t.printf("  %s (%s): %s", c.Path, what, count(c.Packets, "packet", "packets"))
		if !c.First.IsZero() {
			t.printf(", %s", span(c.First, c.Last))
		}
		t.printf("\n")
	}
	st := r.Stats
	if len(r.Captures) > 1 {
		t.printf("  %s in all\n", count(st.Packets, "packet", "packets"))
	}
	parts := []string{count(st.STUN, "STUN message", "STUN messages")}
	if st.ClassicSTUN > 0 {
		parts[0] += fmt.Sprintf(" (%s classic RFC 3489)", thousands(st.ClassicSTUN))
	}
	parts = append(parts, thousands(st.ChannelData)+" ChannelData")
	if st.STUN == 0 && st.ChannelData == 0 && len(r.Allocations) == 0 &&
		(st.SIP > 0 || len(r.Streams) > 0 || len(r.TLSConnections) > 0) {
		// A SIP or TLS capture without STUN/TURN: no need to count what is
		// absent.
		parts = parts[:0]
	}
	if st.Transactions > 0 {
		tx := count(uint64(st.Transactions), "transaction", "transactions")
		if st.Unanswered > 0 {
			tx += fmt.Sprintf(" (%s unanswered)", thousands(uint64(st.Unanswered)))
		}
		parts = append(parts, tx)
	}
	if st.SIP > 0 {
		parts = append(parts, count(st.SIP, "SIP message", "SIP messages"))
	}
	if n := len(r.Streams); n > 0 {
		parts = append(parts, count(uint64(n), "RTP stream", "RTP streams"))
	}
	var tlsConns, dtlsConns uint64
	for _, c := range r.TLSConnections {
		if c.DTLS {
			dtlsConns++
		} else {
			tlsConns++
		}
	}
	if tlsConns > 0 {
		parts = append(parts, count(tlsConns, "TLS connection", "TLS connections"))
	}
	if dtlsConns > 0 {
		parts = append(parts, count(dtlsConns, "DTLS association", "DTLS associations"))
	}
	if st.ICMPErrors > 0 {
		parts = append(parts, count(st.ICMPErrors, "ICMP error", "ICMP errors"))
	}
	if len(parts) > 0 {
		t.printf("  %s\n", strings.Join(parts, " · "))
	}
	var odd []string
	if st.Malformed > 0 {
		odd = append(odd, count(st.Malformed, "malformed message", "malformed messages"))
	}
	if st.Truncated > 0 {
		odd = append(odd, count(st.Truncated, "truncated packet", "truncated packets"))
	}
	if st.TCPGaps > 0 {
		odd = append(odd, count(st.TCPGaps, "TCP gap", "TCP gaps"))
	}
	if st.OrphanResponses > 0 {
		odd = append(odd, count(uint64(st.OrphanResponses), "response without its request", "responses without their request"))
	}
	if len(odd) > 0 {
		t.printf("  %s\n", t.s.dim.Sprint(strings.Join(odd, " · ")))
	}
	t.limits(st)
	t.captureDrops(r)
	const maxWarnings = 10
	for i, w := range r.Warnings {
		if i == maxWarnings {
			t.printf("  %s\n", t.s.warn.Sprintf("… and %d more warnings", len(r.Warnings)-maxWarnings))
			break
		}
		where := w.Path
		if w.Frame > 0 {
			where += " frame " + strconv.FormatUint(w.Frame, 10)
		}
		t.printf("  %s %s: %s\n", t.s.warn.Sprint("warning"), where, w.Message)
	}
	t.printf("\n")
}

func (t *textWriter) allocations(r *Report) {
	if len(r.Allocations) == 0 {
		return
	}
	t.printf("%s\n", t.s.heading.Sprintf("TURN allocations (%d)", len(r.Allocations)))
	for _, a := range r.Allocations {
		line := fmt.Sprintf("%s → %s %s", a.Client, a.Server, a.Transport) + credentials(a.Username, a.Realm)
		t.printf("  %s\n", t.s.heading.Sprint(line))
		outcome := a.Outcome
		switch a.Outcome {
		case "allocated", "deleted", "expired":
			outcome = t.s.ok.Sprint(outcome)
		case "rejected", "unanswered":
			outcome = t.s.err.Sprint(outcome)
		case "challenged":
			outcome = t.s.warn.Sprint(outcome) + " (only the 401 challenge was seen)"
		}
		if a.Preexisting {
			outcome += " (made before the capture started)"
		}
		t.field("    ", "outcome", outcome)
		if len(a.AttemptLog) > 0 {
			t.field("    ", "attempts", attemptsLine(a.AttemptLog, a.Attempts, allocateStep))
		}
		var relay []string
		if a.Relayed != "" {
			relay = append(relay, "relayed "+a.Relayed)
		}
		if a.Mapped != "" {
			relay = append(relay, "mapped "+a.Mapped)
		}
		if a.Lifetime > 0 {
			relay = append(relay, "lifetime "+strconv.FormatInt(a.Lifetime, 10)+" s")
		}
		if a.Refreshes > 0 {
			relay = append(relay, count(uint64(a.Refreshes), "refresh", "refreshes"))
		}
		if len(relay) > 0 {
			t.field("    ", "relay", strings.Join(relay, " · "))
		}
		if len(a.Permissions) > 0 || len(a.Channels) > 0 {
			var peers []string
			for _, p := range a.Permissions {
				peers = append(peers, "permission "+p.Peer.String())
			}
			for _, c := range a.Channels {
				peers = append(peers, fmt.Sprintf("channel 0x%04x → %s", c.Number, addrPortString(c.Peer)))
			}
			t.field("    ", "peers", abbreviate(peers, 6))
		}
		if a.Sent.Packets > 0 || a.Received.Packets > 0 {
			t.field("    ", "data", "sent "+relayed(a.Sent)+" · received "+relayed(a.Received))
		}
		t.seen(a.First, a.Last)
	}
	t.printf("\n")
}

// credentials names the user and realm a request authenticated with, when
// known: ` · user "alice" · realm "example.org"`.
func credentials(user, realm string) string {
	var s string
	if user != "" {
		s += " · user " + strconv.Quote(user)
	}
	if realm != "" {
		s += " · realm " + strconv.Quote(realm)
	}
	return s
}

// seen prints the frames and the time a record spans, when it has any.
func (t *textWriter) seen(first, last FrameRef) {
	if first.Frame > 0 {
		t.field("    ", "seen", fmt.Sprintf("frames %d–%d, %s", first.Frame, last.Frame, span(first.Time, last.Time)))
	}
}

// attemptsLine tells the story of a series of attempts, each named by step:
// "401 challenge → 401 (frames 3, 5)".
func attemptsLine(log []AttemptReport, total int, step func(AttemptReport) string) string {
	steps := make([]string, 0, len(log))
	frames := make([]string, 0, len(log))
	for _, at := range log {
		steps = append(steps, step(at))
		frames = append(frames, strconv.FormatUint(at.Frame, 10))
	}
	const shown = 8
	line := abbreviateSteps(steps, shown)
	label := "frames "
	if len(frames) == 1 {
		label = "frame "
	}
	line += " (" + label + abbreviate(frames, shown) + ")"
	if total > len(log) {
		line += fmt.Sprintf(", %d attempts in all", total)
	}
	return line
}

// allocateStep names what came of an Allocate transaction.
func allocateStep(at AttemptReport) string {
	switch {
	case at.challenge:
		return "401 challenge"
	case at.code != 0:
		return strconv.Itoa(at.code)
	case at.Response == "none":
		return noAnswer(at)
	}
	return at.Response
}

// noAnswer names an attempt that got no response: "no answer after 7
// sends".
func noAnswer(at AttemptReport) string {
	if at.Retransmissions > 0 {
		return fmt.Sprintf("no answer after %d sends", at.Retransmissions+1)
	}
	return "no answer"
}

// abbreviateSteps joins steps with arrows, folding runs of the same step
// ("401 ×31") and keeping at most n of what is left.
func abbreviateSteps(all []string, n int) string {
	var steps []string
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j] == all[i] {
			j++
		}
		if j-i > 1 {
			steps = append(steps, fmt.Sprintf("%s ×%d", all[i], j-i))
		} else {
			steps = append(steps, all[i])
		}
		i = j
	}
	if len(steps) <= n {
		return strings.Join(steps, " → ")
	}
	return strings.Join(steps[:n-1], " → ") + fmt.Sprintf(" → … (+%d) → ", len(steps)-n) + steps[len(steps)-1]
}

// abbreviate joins at most n items: "1, 3, 5 … (+40 more)".
func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" … (+%d more)", len(items)-n)
}

func relayed(c RelayCounter) string {
	s := count(c.Packets, "packet", "packets") + ", " + byteSize(c.Bytes)
	if c.ChannelData > 0 && c.ChannelData < c.Packets {
		s += fmt.Sprintf(" (%s as ChannelData)", thousands(c.ChannelData))
	} else if c.ChannelData > 0 {
		s += " (all ChannelData)"
	}
	return s
}

func (t *textWriter) findings(r *Report) {
	if len(r.Findings) == 0 {
		return
	}
	t.printf("%s\n", t.s.heading.Sprintf("Findings (%d)", len(r.Findings)))
	for i, f := range r.Findings {
		if i > 0 {
			t.printf("\n")
		}
		sev := strings.ToUpper(f.Severity.String())
		t.printf("  %s %s\n", t.s.severity(f.Severity).Sprintf("%-7s", sev), t.s.heading.Sprint(f.Title))
		t.printf("          %s\n", t.s.dim.Sprint(f.Rule))
		for _, line := range wrapText(f.Detail, textWidth-4) {
			t.printf("    %s\n", line)
		}
		if len(f.Frames) > 0 {
			fr := make([]string, len(f.Frames))
			for j, n := range f.Frames {
				fr[j] = strconv.FormatUint(n, 10)
			}
			t.field("    ", "frames", abbreviate(fr, framesShown))
		}
		if !f.First.IsZero() {
			t.field("    ", "time", span(f.First, f.Last))
		}
		if len(f.Endpoints) > 0 {
			t.field("    ", "endpoints", abbreviate(f.Endpoints, endpointsShown))
		}
		if f.Filter != "" {
			t.printf("    %s\n", t.s.label.Sprint("Wireshark filter:"))
			t.printf("      %s\n", t.s.filter.Sprint(f.Filter))
		}
	}
	t.printf("\n")
}

func (t *textWriter) verdict(r *Report) {
	n := map[Severity]int{}
	for _, f := range r.Findings {
		n[f.Severity]++
	}
	if len(r.Findings) == 0 {
		if slices.ContainsFunc(r.Warnings, capture.Warning.ReadProblem) {
			// Whatever was past the cut was not looked at; files that
			// only overlap were read in full.
			t.printf("%s\n", t.s.ok.Sprint("No problems found in what could be read (the input was cut short: see the warnings)"))
			return
		}
		t.printf("%s\n", t.s.ok.Sprint("No problems found"))
		return
	}
	var parts []string
	if n[Error] > 0 {
		parts = append(parts, t.s.err.Sprint(count(uint64(n[Error]), "error", "errors")))
	}
	if n[Warning] > 0 {
		parts = append(parts, t.s.warn.Sprint(count(uint64(n[Warning]), "warning", "warnings")))
	}
	if n[Info] > 0 {
		parts = append(parts, t.s.info.Sprint(count(uint64(n[Info]), "note", "notes")))
	}
	t.printf("%s\n", strings.Join(parts, ", "))
}

// span prints a time range: "2025-03-14 09:30:00.000 → 09:31:02.500 UTC
// (62.5 s)", the date only once when both ends share it.
func span(first, last time.Time) string {
	first, last = first.UTC(), last.UTC()
	const day, clock = "2006-01-02 ", "15:04:05.000"
	s := first.Format(day + clock)
	if last.IsZero() || last.Equal(first) {
		return s + " UTC"
	}
	if last.Format(day) == first.Format(day) {
		s += " → " + last.Format(clock)
	} else {
		s += " → " + last.Format(day+clock)
	}
	d := last.Sub(first)
	if d < time.Millisecond {
		return s + " UTC (" + strconv.FormatInt(d.Microseconds(), 10) + " µs)"
	}
	// The times shown are cut to the millisecond, so the duration is taken
	// between them: rounding the exact one could contradict them (.000 →
	// .002 (0.003 s)).
	d = last.Truncate(time.Millisecond).Sub(first.Truncate(time.Millisecond))
	return s + " UTC (" + FormatSeconds(d) + " s)"
}

func count(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// thousands prints 1234567 as "1,234,567".
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func byteSize(n uint64) string {
	switch {
	case n < 1000:
		return strconv.FormatUint(n, 10) + " B"
	case n < 1000_000:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + " kB"
	case n < 1000_000_000:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB"
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', 1, 64) + " GB"
}

// wrapText folds prose at word boundaries into lines of at most width
// runes; a word longer than width gets a line of its own.
func wrapText(text string, width int) []string {
	var lines []string
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		wl := len([]rune(word))
		if n > 0 && n+1+wl > width {
			lines = append(lines, b.String())
			b.Reset()
			n = 0
		}
		if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += wl
	}
	if n > 0 {
		lines = append(lines, b.String())
	}
	return lines
}

// captureDrops prints each live interface's counters, the drops in the
// warning color: loss at the capture point, not on the network.
func (t *textWriter) captureDrops(r *Report) {
	for _, d := range r.CaptureDrops {
		line := fmt.Sprintf("%s: %s received by the filter, %s captured", d.Interface,
			thousands(d.Received), thousands(d.Captured))
		if d.Dropped == 0 {
			t.printf("  %s, none dropped by the kernel\n", line)
			continue
		}
		drops := fmt.Sprintf("%s dropped by the kernel", thousands(d.Dropped))
		if d.RingOverruns > 0 {
			drops += fmt.Sprintf(" (ring full %s)", count(d.RingOverruns, "time", "times"))
		}
		if n := len(d.Samples); n > 0 {
			drops += " at " + d.Samples[0].Time.UTC().Format("15:04:05.000")
			if n > 1 {
				drops += " to " + d.Samples[n-1].Time.UTC().Format("15:04:05.000")
			}
		}
		t.printf("  %s, %s\n", line, t.s.warn.Sprint(drops))
	}
}
