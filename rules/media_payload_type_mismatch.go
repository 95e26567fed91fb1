package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/diagnose"
)

// MediaPayloadTypeMismatch finds RTP sent with a payload type the
// receiver's SDP did not list for that stream.
type MediaPayloadTypeMismatch struct{}

func (MediaPayloadTypeMismatch) ID() string                  { return "media.payload-type-mismatch" }
func (MediaPayloadTypeMismatch) Severity() diagnose.Severity { return diagnose.Warning }
func (MediaPayloadTypeMismatch) Severities() []diagnose.Severity {
	// warning: telephone-event, comfort noise or a minority of the
	// packets; error: most of the stream is a codec the receiver refused.
	return warningOrError()
}
func (MediaPayloadTypeMismatch) Title() string {
	return "RTP payload type the receiver did not agree to"
}

func (MediaPayloadTypeMismatch) Explain() string {
	return "Checks every RTP stream tied to a call through SDP against the SDP of the side receiving it: the " +
		"payload type numbers an SDP lists on its m= line are the ones its author expects to receive (RFC 3264 " +
		"§5.1), and the other side must send with those numbers, even where its own SDP numbered the same codec " +
		"differently (§6.1, §7). Dynamic types (96-127) mean only what that SDP's a=rtpmap binds them to; static " +
		"ones (RFC 3551 §6) need no a=rtpmap but must still be listed. A receiver discards or misdecodes packets " +
		"of a type it did not list: telephone-event (RFC 4733) sent with the sender's own number instead of the " +
		"receiver's (96 where the answer said 101) is the classic cause of \"DTMF does not work\", and a codec the " +
		"answer did not accept (an SBC or transcoder sending G.729 to a phone that answered PCMU) of no audio at " +
		"all. The finding names the stream, each payload type sent with its packet count and first frame, and " +
		"what the receiver's SDP listed (its m= line and rtpmaps, and the frame); an error when most of the stream " +
		"is a codec the receiver did not list, else a warning. Comfort noise (13) and telephone-event are judged " +
		"like any other type: RFC 3264 makes no exception for them. Every SDP the receiver sent during the call " +
		"counts (offer or answer, early media, re-INVITEs), so a codec changed by a re-INVITE is not a finding; " +
		"streams whose receiver's SDP the capture does not hold are not judged."
}

func (r MediaPayloadTypeMismatch) Check(a *diagnose.Analysis) []diagnose.Finding {
	var out []diagnose.Finding
	sides := callSidesMemo(make(map[*diagnose.Call]*[2]callSide, len(a.Calls)))
	for _, s := range a.Streams {
		if s == nil || s.Call == nil || s.Packets == 0 {
			continue
		}
		recv, send := streamSDPSides(s, sides)
		if !recv.receives() {
			continue // unknown, or on hold: nothing says what it accepts
		}
		var refused []diagnose.PayloadTypeCount
		for _, p := range sentPayloadTypes(s) {
			if plausibleRTPPayloadType(p.PayloadType) && !recv.accepts(p.PayloadType) {
				refused = append(refused, p)
			}
		}
		if len(refused) > 0 {
			out = append(out, r.finding(s, recv, send, refused))
		}
	}
	return foldFindings(r, out)
}

// sentPayloadTypes is what a stream carried, per payload type.
func sentPayloadTypes(s *diagnose.Stream) []diagnose.PayloadTypeCount {
	if len(s.PayloadTypes) > 0 {
		return s.PayloadTypes
	}
	return []diagnose.PayloadTypeCount{{PayloadType: s.PayloadType, Packets: s.Packets, First: s.First}}
}

// plausibleRTPPayloadType leaves out what RTCP multiplexed on the port
// would read as (RFC 5761 §4: 72-76 are SR, RR, SDES, BYE, APP).
func plausibleRTPPayloadType(pt uint8) bool { return pt < 72 || pt > 76 }

// sdpSection is one m= section of an SDP of the call.
type sdpSection struct {
	seen  *diagnose.SDPSeen
	media *sdp.Media
}

// streamSDPSide is what one side of a stream (its sender or its
// receiver) said in SDP about the stream's media.
type streamSDPSide struct {
	role     string // "caller" or "callee"; "" when not known
	sections []sdpSection
}

// streamSDPSides finds the receiver's SDP sections for a stream: those
// announcing its destination, else the SDPs of the side streamToward
// says it went to (behind a NAT, through TURN); the sender's likewise.
func streamSDPSides(s *diagnose.Stream, sides callSidesMemo) (recv, send streamSDPSide) {
	c := s.Call
	sdps := callSDPs(c)
	offerer, answerer := sides.of(c)
	if s.Allocation == nil {
		recv = sectionsAnnouncing(c, sdps, offerer, answerer, s.Dst)
		send = sectionsAnnouncing(c, sdps, offerer, answerer, s.Src)
	}
	if len(recv.sections) > 0 {
		switch {
		case send.role == "" && recv.role != "":
			send.role = otherRole(recv.role)
		case recv.role == "" && send.role != "":
			recv.role = otherRole(send.role)
		}
		return recv, send
	}
	var to, from *callSide
	switch streamToward(s, offerer, answerer) {
	case 1:
		to, from = offerer, answerer
	case 2:
		to, from = answerer, offerer
	default:
		return streamSDPSide{}, streamSDPSide{}
	}
	recv = sideSections(sdps, to, from, s.MediaType)
	if len(send.sections) == 0 {
		send = sideSections(sdps, from, to, s.MediaType)
	}
	send.role = from.role
	return recv, send
}

// sectionsAnnouncing is the enabled RTP sections of the call's SDPs that
// ask to receive media at ep: their c= address and port, or an ICE
// candidate of their RTP component.
func sectionsAnnouncing(c *diagnose.Call, sdps []*diagnose.SDPSeen, offerer, answerer *callSide, ep netip.AddrPort) streamSDPSide {
	var out streamSDPSide
	ep = unmapped(ep)
	for _, sd := range sdps {
		for i := range sd.Session.Media {
			m := &sd.Session.Media[i]
			if !rtpSection(m) || !announces(sd.Session, m, ep) {
				continue
			}
			out.sections = append(out.sections, sdpSection{sd, m})
			if out.role == "" {
				out.role = sdpRole(c, sd, offerer, answerer)
			}
		}
	}
	return out
}

func rtpSection(m *sdp.Media) bool { return m.Port != 0 && strings.Contains(m.Proto, "RTP") }

func announces(sess *sdp.Session, m *sdp.Media, ep netip.AddrPort) bool {
	addr := m.Connection
	if !addr.IsValid() {
		addr = sess.Connection
	}
	if netip.AddrPortFrom(addr.Unmap(), m.Port) == ep {
		return true
	}
	return slices.ContainsFunc(m.Candidates, func(cand sdp.Candidate) bool {
		return cand.Component == 1 && cand.Addr.IsValid() && unmapped(cand.Addr) == ep
	})
}

// sdpRole says whose an SDP of the call is: the offerer's or the
// answerer's, told by where it came from; "" when that does not tell.
func sdpRole(c *diagnose.Call, sd *diagnose.SDPSeen, offerer, answerer *callSide) string {
	switch sd {
	case c.Offer:
		return offerer.role
	case c.Answer:
		return answerer.role
	}
	if offerer.sdp == nil || answerer.sdp == nil || offerer.sdp.From == answerer.sdp.From {
		return ""
	}
	switch sd.From {
	case offerer.sdp.From:
		return offerer.role
	case answerer.sdp.From:
		return answerer.role
	}
	return ""
}

// sideSections is the enabled RTP sections of a media type (any, when
// unknown) in the SDPs of one side: its offer or answer, and the call's
// other SDPs sent from where that one came from, when the other side's
// came from elsewhere.
func sideSections(sdps []*diagnose.SDPSeen, side, other *callSide, mediaType string) streamSDPSide {
	out := streamSDPSide{role: side.role}
	if side.sdp == nil {
		return out
	}
	for _, sd := range sdps {
		mine := sd == side.sdp || sd.From == side.sdp.From && (other.sdp == nil || other.sdp.From != sd.From)
		if !mine {
			continue
		}
		for i := range sd.Session.Media {
			m := &sd.Session.Media[i]
			if rtpSection(m) && (mediaType == "" || m.Type == mediaType) {
				out.sections = append(out.sections, sdpSection{sd, m})
			}
		}
	}
	return out
}

func otherRole(role string) string {
	switch role {
	case "caller":
		return "callee"
	case "callee":
		return "caller"
	}
	return ""
}

// receives says whether any of the side's sections asks to receive
// media (sendrecv or recvonly).
func (sd *streamSDPSide) receives() bool {
	return slices.ContainsFunc(sd.sections, func(s sdpSection) bool { return dirReceives(mediaDirection(s.media.Direction)) })
}

// accepts says whether a section that receives lists payload type pt.
func (sd *streamSDPSide) accepts(pt uint8) bool {
	for _, s := range sd.sections {
		if dirReceives(mediaDirection(s.media.Direction)) && slices.Contains(formatTypes(s.media), pt) {
			return true
		}
	}
	return false
}

// formatTypes is an m= line's payload types; formats that are not
// numbers (not RTP's) are left out.
func formatTypes(m *sdp.Media) []uint8 {
	var out []uint8
	for _, f := range m.Formats {
		if pt, err := strconv.ParseUint(f, 10, 7); err == nil && !slices.Contains(out, uint8(pt)) {
			out = append(out, uint8(pt))
		}
	}
	return out
}

// binding is what a section's SDP makes of payload type pt when its m=
// line lists it: its a=rtpmap, else the RFC 3551 static assignment.
func binding(m *sdp.Media, pt uint8) (sdp.RTPMap, bool) {
	if !slices.Contains(formatTypes(m), pt) {
		return sdp.RTPMap{}, false
	}
	rm, ok := m.Codec(pt)
	return rm, ok && rm.Encoding != ""
}

func sameCodec(a, b sdp.RTPMap) bool {
	return strings.EqualFold(a.Encoding, b.Encoding) && (a.ClockRate == 0 || b.ClockRate == 0 || a.ClockRate == b.ClockRate)
}

// codecName is "telephone-event/8000", printable whatever the SDP held.
func codecName(rm sdp.RTPMap) string {
	name := sdpToken(rm.Encoding)
	if rm.ClockRate != 0 {
		name += "/" + strconv.FormatUint(uint64(rm.ClockRate), 10)
	}
	return name
}

// sdpToken prints a token from an SDP as written when it is plain ASCII,
// quoted otherwise, so a hostile SDP cannot garble a report.
func sdpToken(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' {
			return quoted(s)
		}
	}
	return s
}

// sectionLine is a section's m= line and rtpmaps as the SDP had them:
// "m=audio 6000 RTP/AVP 0 101, a=rtpmap:101 telephone-event/8000".
func sectionLine(m *sdp.Media) string {
	pts := formatTypes(m)
	var b strings.Builder
	fmt.Fprintf(&b, "m=%s %d %s", sdpToken(m.Type), m.Port, sdpToken(m.Proto))
	for _, pt := range pts {
		fmt.Fprintf(&b, " %d", pt)
	}
	for _, pt := range pts {
		if rm, ok := m.RTPMap[pt]; ok {
			fmt.Fprintf(&b, ", a=rtpmap:%d %s", pt, codecName(rm))
		}
	}
	return b.String()
}

// refusedType is what is known of a payload type a stream sent and its
// receiver did not list.
type refusedType struct {
	diagnose.PayloadTypeCount
	codec     sdp.RTPMap        // what the sender meant by it; Encoding "" when unknown
	boundBy   *diagnose.SDPSeen // the sender's SDP that bound it; nil for a static type it did not list
	receivers []uint8           // the types the receiver bound that codec to
	rebound   *diagnose.SDPSeen // the receiver's first SDP that did
}

func (r MediaPayloadTypeMismatch) finding(s *diagnose.Stream, recv, send streamSDPSide, refused []diagnose.PayloadTypeCount) diagnose.Finding {
	c := s.Call
	sender, receiver := send.role, recv.role
	if sender == "" {
		sender = "sender"
	}
	if receiver == "" {
		receiver = "receiver"
	}
	// The frames cited are the SDPs and each refused type's first packet:
	// what the filter shows.
	var ev evidence
	ev.addEndpoint(s.Src)
	ev.addEndpoint(s.Dst)
	var sdpFrames []uint64
	for _, side := range []streamSDPSide{recv, send} {
		for _, sec := range side.sections {
			ev.addFrame(sec.seen.FrameRef)
			if !slices.Contains(sdpFrames, sec.seen.Frame) {
				sdpFrames = append(sdpFrames, sec.seen.Frame)
			}
		}
	}

	types := make([]refusedType, len(refused))
	var refusedPackets uint64
	voice := false // a refused type is a codec, not telephone-event or comfort noise
	for i, p := range refused {
		ev.addFrame(p.First)
		refusedPackets += p.Packets
		t := refusedType{PayloadTypeCount: p}
		for _, sec := range send.sections {
			if rm, ok := binding(sec.media, p.PayloadType); ok {
				t.codec, t.boundBy = rm, sec.seen
				break
			}
		}
		if t.codec.Encoding == "" {
			if rm, _, ok := sdp.StaticPayloadType(p.PayloadType); ok {
				t.codec = rm
			}
		}
		if t.codec.Encoding != "" {
			for _, sec := range recv.sections {
				if !dirReceives(mediaDirection(sec.media.Direction)) {
					continue
				}
				for _, pt := range formatTypes(sec.media) {
					if rm, ok := binding(sec.media, pt); ok && sameCodec(rm, t.codec) && !slices.Contains(t.receivers, pt) {
						t.receivers = append(t.receivers, pt)
						if t.rebound == nil {
							t.rebound = sec.seen
						}
					}
				}
			}
		}
		if kind := eventKind(t.codec); kind == "" {
			voice = true
		}
		types[i] = t
	}

	var d strings.Builder
	fmt.Fprintf(&d, "The %s's %s RTP %s → %s (SSRC 0x%08x, call %s) carried %s: %s.",
		sender, mediaTypeWord(s.MediaType), endpointString(s.Src), endpointString(s.Dst), s.SSRC, quoted(c.CallID),
		counted(int64(s.Packets), "packet", "packets"), payloadTypeCounts(s, recv))
	fmt.Fprintf(&d, " The %s's %s: %s.", receiver, receiverSDPs(c, recv), acceptedTypes(recv))
	for _, t := range types {
		d.WriteString(" ")
		d.WriteString(refusedSentence(c, t, sender, receiver, s))
	}
	d.WriteString(" The payload types an SDP lists are the ones its author expects to receive: the other side must send with those numbers, even where its own SDP numbered the same codec differently (RFC 3264 §5.1, §6.1, §7).")
	d.WriteString(rtpHeuristicNote(s))

	var nums []string
	for _, t := range types {
		nums = append(nums, strconv.Itoa(int(t.PayloadType)))
	}
	rtpFilter := streamFilter(s)
	if rtpDissected(s) {
		rtpFilter = fmt.Sprintf("rtp.ssrc == 0x%08x && rtp.p_type == %s", s.SSRC, nums[0])
		if len(nums) > 1 {
			rtpFilter = fmt.Sprintf("rtp.ssrc == 0x%08x && rtp.p_type in {%s}", s.SSRC, strings.Join(nums, ", "))
		}
	}
	filter := "(" + rtpFilter + ") || " + callSIPFilter(c, sdpFrames)

	what := "payload type " + nums[0]
	if len(nums) > 1 {
		what = "payload types " + strings.Join(nums, ", ")
	}
	if len(types) == 1 && types[0].codec.Encoding != "" {
		what += " (" + sdpToken(types[0].codec.Encoding) + ")"
	}
	title := fmt.Sprintf("%s sends %s that the %s did not agree to (call %s)", capitalize(sender), what, receiver, quoted(c.CallID))
	if send.role == "" {
		title = fmt.Sprintf("RTP from %s to %s carries %s that the receiver did not agree to (call %s)", endpointString(s.Src), endpointString(s.Dst), what, quoted(c.CallID))
	}
	f := ev.finding(r, title, d.String(), filter)
	if voice && 2*refusedPackets > s.Packets {
		f.Severity = diagnose.Error
	}
	return f
}

// payloadTypeCounts lists what a stream carried per type: "1,203 of
// PCMU/8000 (payload type 0) from frame 6 and 26 of payload type 96 from
// frame 56". A type the receiver accepts is named by its binding.
func payloadTypeCounts(s *diagnose.Stream, recv streamSDPSide) string {
	var parts []string
	var listed uint64
	for _, p := range sentPayloadTypes(s) {
		listed += p.Packets
		name := fmt.Sprintf("payload type %d", p.PayloadType)
		for _, sec := range recv.sections {
			if rm, ok := binding(sec.media, p.PayloadType); ok && recv.accepts(p.PayloadType) {
				name = fmt.Sprintf("%s (payload type %d)", codecName(rm), p.PayloadType)
				break
			}
		}
		parts = append(parts, fmt.Sprintf("%s of %s from frame %d", thousands(p.Packets), name, p.First.Frame))
	}
	if listed < s.Packets {
		parts = append(parts, fmt.Sprintf("%s of other types", thousands(s.Packets-listed)))
	}
	return joinAnd(parts)
}

// receiverSDPs names the receiver's SDPs and their sections: "answer
// (frame 4) has m=audio 6000 RTP/AVP 0 101, a=rtpmap:101
// telephone-event/8000".
func receiverSDPs(c *diagnose.Call, recv streamSDPSide) string {
	const maxShown = 3
	var parts []string
	for i, sec := range recv.sections {
		if i == maxShown {
			parts = append(parts, fmt.Sprintf("and %s more", plural(len(recv.sections)-maxShown, "section", "sections")))
			break
		}
		part := fmt.Sprintf("%s (frame %d) has %s", sdpKind(c, sec.seen), sec.seen.Frame, sectionLine(sec.media))
		if dir := mediaDirection(sec.media.Direction); !dirReceives(dir) {
			part += " (" + dir + ": it receives nothing)"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ")
}

// sdpKind is "offer", "answer" or, for the SDPs of early media and
// re-INVITEs, "SDP".
func sdpKind(c *diagnose.Call, sd *diagnose.SDPSeen) string {
	switch sd {
	case c.Offer:
		return "offer"
	case c.Answer:
		return "answer"
	}
	return "SDP"
}

// acceptedTypes is "it accepts payload types 0 and 101".
func acceptedTypes(recv streamSDPSide) string {
	var pts []string
	for _, sec := range recv.sections {
		if !dirReceives(mediaDirection(sec.media.Direction)) {
			continue
		}
		for _, pt := range formatTypes(sec.media) {
			if s := strconv.Itoa(int(pt)); !slices.Contains(pts, s) {
				pts = append(pts, s)
			}
		}
	}
	switch len(pts) {
	case 0:
		return "it lists no payload type"
	case 1:
		return "it accepts payload type " + pts[0] + " only"
	}
	return "it accepts payload types " + joinAnd(pts) + " only"
}

// eventKind is "telephone-event" or "comfort noise" for the types that
// are not a voice or video codec, "" otherwise.
func eventKind(rm sdp.RTPMap) string {
	switch {
	case strings.EqualFold(rm.Encoding, "telephone-event"):
		return "telephone-event"
	case strings.EqualFold(rm.Encoding, "CN"):
		return "comfort noise"
	}
	return ""
}

// refusedSentence says what went wrong with one type and what the
// receiver makes of it.
func refusedSentence(c *diagnose.Call, t refusedType, sender, receiver string, s *diagnose.Stream) string {
	var b strings.Builder
	pt := t.PayloadType
	codec := sdpToken(t.codec.Encoding)
	switch {
	case t.codec.Encoding == "":
		fmt.Fprintf(&b, "Payload type %d (%s, from frame %d) is bound to a codec by neither the %s's SDP nor the %s's, and the %s did not list it.",
			pt, counted(int64(t.Packets), "packet", "packets"), t.First.Frame, receiver, sender, receiver)
	case len(t.receivers) > 0:
		fmt.Fprintf(&b, "The %s sends %s as payload type %d", sender, codec, pt)
		if t.boundBy != nil {
			fmt.Fprintf(&b, ", the number its own %s (frame %d) gave it,", sdpKind(c, t.boundBy), t.boundBy.Frame)
		}
		nums := make([]string, len(t.receivers))
		for i, r := range t.receivers {
			nums[i] = strconv.Itoa(int(r))
		}
		fmt.Fprintf(&b, " but the %s's %s (frame %d) bound %s to %s.", receiver, sdpKind(c, t.rebound), t.rebound.Frame, codec, joinOr(nums))
	default:
		fmt.Fprintf(&b, "The %s sends %s (payload type %d", sender, codec, pt)
		if t.boundBy != nil {
			fmt.Fprintf(&b, ", listed in its own %s, frame %d", sdpKind(c, t.boundBy), t.boundBy.Frame)
		} else {
			b.WriteString(", RFC 3551 static")
		}
		fmt.Fprintf(&b, "), which the %s's SDP does not list at all.", receiver)
	}
	switch eventKind(t.codec) {
	case "telephone-event":
		fmt.Fprintf(&b, " The %s ignores those packets, so the DTMF tones (RFC 4733) are lost: IVR menus, PINs and keypad transfers do not work.", receiver)
	case "comfort noise":
		fmt.Fprintf(&b, " The %s ignores those packets (or plays them as noise): harmless in itself, but a sign that the %s does not follow the SDP.", receiver, sender)
	default:
		if 2*t.Packets > s.Packets {
			fmt.Fprintf(&b, " The %s cannot decode those packets, most of the stream: it hears nothing from the %s (no audio, or noise).", receiver, sender)
		} else {
			fmt.Fprintf(&b, " The %s cannot decode those packets: silence or noise while they arrive.", receiver)
		}
	}
	return b.String()
}

// joinAnd is "a", "a and b", "a, b and c".
func joinAnd(parts []string) string { return joinList(parts, " and ") }

// joinOr is "a", "a or b", "a, b or c".
func joinOr(parts []string) string { return joinList(parts, " or ") }

func joinList(parts []string, last string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + last + parts[len(parts)-1]
}

// foldFindings keeps a rule's first maxFindingsPerRule findings and
// folds the rest into one that counts them: an SBC that numbers
// telephone-event wrongly does so on every call.
func foldFindings(r diagnose.Rule, found []diagnose.Finding) []diagnose.Finding {
	if len(found) <= maxFindingsPerRule {
		return found
	}
	rest := found[maxFindingsPerRule:]
	var ev evidence
	sev := rest[0].Severity
	for _, f := range rest {
		if len(f.Frames) > 0 {
			ev.frames = append(ev.frames, f.Frames[0])
		}
		if !f.First.IsZero() && (ev.first.IsZero() || f.First.Before(ev.first)) {
			ev.first = f.First
		}
		if f.Last.After(ev.last) {
			ev.last = f.Last
		}
		for _, e := range f.Endpoints {
			if len(ev.endpoints) < maxSummaryEndpoints && !slices.Contains(ev.endpoints, e) {
				ev.endpoints = append(ev.endpoints, e)
			}
		}
		sev = max(sev, f.Severity)
	}
	detail := fmt.Sprintf("Beyond the first %d findings of this rule, %s carried payload types their receivers did not agree to; the evidence lists the first frame each cites. The first of them: %s",
		maxFindingsPerRule, plural(len(rest), "more stream", "more streams"), rest[0].Detail)
	f := ev.finding(r, fmt.Sprintf("%s: %s", r.Title(), plural(len(rest), "more stream", "more streams")), detail, diagnose.FilterFrames(sortedFrames(ev.frames)))
	f.Severity = sev
	return append(found[:maxFindingsPerRule:maxFindingsPerRule], f)
}
