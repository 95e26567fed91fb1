package diagnose

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonAppender writes the report's most numerous records (calls,
// streams, allocations, binding flows, ICE sessions, findings) as
// encoding/json writes them, byte for byte, without its reflection and,
// for the indented report, without its second pass re-indenting every
// record: on a capture dense with calls these records are ~100 MB of
// JSON, which encoding/json took 1.4 CPU-s to write and these appenders
// take 0.4 (records built included).
// TestJSONAppendersMatchEncodingJSON holds each appender to encoding/json
// on random records, every field filled, so a field added to a record
// type and not here fails it.
type jsonAppender struct {
	b []byte
	// indent: as json.Encoder with SetIndent(prefix, "  ") where prefix is
	// depth indents at the start; else compact, as json.Marshal.
	indent bool
	depth  int
	// first: nothing written yet in the innermost object or array. One
	// flag is enough: closing a value leaves its parent non-empty.
	first bool
	// failed: a value encoding/json rejects (NaN, a year past 9999); the
	// caller encodes that record with encoding/json instead, which says why.
	failed bool
}

func (e *jsonAppender) reset(indent bool, depth int) {
	e.b, e.indent, e.depth, e.first, e.failed = e.b[:0], indent, depth, true, false
}

const jsonNewlineIndents = "\n                                                                "

func (e *jsonAppender) newline() {
	if !e.indent {
		return
	}
	if n := 1 + 2*e.depth; n <= len(jsonNewlineIndents) {
		e.b = append(e.b, jsonNewlineIndents[:n]...)
		return
	}
	e.b = append(e.b, '\n')
	for range e.depth {
		e.b = append(e.b, jsonIndent...)
	}
}

func (e *jsonAppender) open(c byte) {
	e.b = append(e.b, c)
	e.depth++
	e.first = true
}

// close ends an object or array; an empty one stays "{}" or "[]".
func (e *jsonAppender) close(c byte) {
	e.depth--
	if !e.first {
		e.newline()
	}
	e.b = append(e.b, c)
	e.first = false
}

// key starts a field; name needs no escaping (the report's field names).
func (e *jsonAppender) key(name string) {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.newline()
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	if e.indent {
		e.b = append(e.b, '"', ':', ' ')
	} else {
		e.b = append(e.b, '"', ':')
	}
}

// elem starts an array element.
func (e *jsonAppender) elem() {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.newline()
}

func (e *jsonAppender) null() { e.b = append(e.b, "null"...) }

func (e *jsonAppender) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

func (e *jsonAppender) uint(v uint64) { e.b = strconv.AppendUint(e.b, v, 10) }

func (e *jsonAppender) int(v int64) { e.b = strconv.AppendInt(e.b, v, 10) }

// float64 is encoding/json's floatEncoder for 64 bits.
func (e *jsonAppender) float64(f float64) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		e.failed = true
		e.b = append(e.b, '0')
		return
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		// e-09 to e-9, as encoding/json.
		n := len(e.b)
		if n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

// time is time.Time.MarshalJSON: RFC 3339 with nanoseconds, refused
// (failed) where it refuses.
func (e *jsonAppender) time(t time.Time) {
	e.b = append(e.b, '"')
	n0 := len(e.b)
	e.b = t.AppendFormat(e.b, time.RFC3339Nano)
	b := e.b
	switch {
	case len(b) < n0+5 || b[n0+4] != '-':
		e.failed = true
	case b[len(b)-1] != 'Z':
		c := b[len(b)-len("Z07:00")]
		hour := 10*int(b[len(b)-5]-'0') + int(b[len(b)-4]-'0')
		if ('0' <= c && c <= '9') || hour >= 24 {
			e.failed = true
		}
	}
	e.b = append(e.b, '"')
}

const jsonHex = "0123456789abcdef"

// str is encoding/json's appendString with HTML escaping.
func (e *jsonAppender) str(s string) {
	dst := append(e.b, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonHTMLSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', jsonHex[b>>4], jsonHex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	e.b = append(dst, '"')
}

// jsonHTMLSafe is encoding/json's htmlSafeSet: the ASCII bytes written
// as they are.
var jsonHTMLSafe = func() (set [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		set[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return set
}()

// addr and addrPort are their MarshalText, as a string (which cannot fail).
func (e *jsonAppender) addr(a netip.Addr) {
	var scratch [64]byte
	t, _ := a.AppendText(scratch[:0])
	e.str(string(t))
}

func (e *jsonAppender) addrPort(a netip.AddrPort) {
	var scratch [72]byte
	t, _ := a.AppendText(scratch[:0])
	e.str(string(t))
}

func (e *jsonAppender) strField(name, v string) { e.key(name); e.str(v) }

func (e *jsonAppender) uintField(name string, v uint64) { e.key(name); e.uint(v) }

func (e *jsonAppender) intField(name string, v int64) { e.key(name); e.int(v) }

func (e *jsonAppender) boolField(name string, v bool) { e.key(name); e.bool(v) }

func (e *jsonAppender) floatField(name string, v float64) { e.key(name); e.float64(v) }

func (e *jsonAppender) timeField(name string, v time.Time) { e.key(name); e.time(v) }

// The opt writers are encoding/json's omitempty: the field only when v is
// not its type's zero.
func (e *jsonAppender) optStr(name, v string) {
	if v != "" {
		e.strField(name, v)
	}
}

func (e *jsonAppender) optUint(name string, v uint64) {
	if v != 0 {
		e.uintField(name, v)
	}
}

func (e *jsonAppender) optInt(name string, v int64) {
	if v != 0 {
		e.intField(name, v)
	}
}

func (e *jsonAppender) optFloat(name string, v float64) {
	if v != 0 {
		e.floatField(name, v)
	}
}

func (e *jsonAppender) optTrue(name string, v bool) {
	if v {
		e.boolField(name, true)
	}
}

// array writes v as encoding/json writes a slice: null when nil, else
// each element by write.
func array[T any](e *jsonAppender, v []T, write func(*T)) {
	if v == nil {
		e.null()
		return
	}
	e.open('[')
	for i := range v {
		e.elem()
		write(&v[i])
	}
	e.close(']')
}

func (e *jsonAppender) uints(v []uint64) { array(e, v, func(n *uint64) { e.uint(*n) }) }

func (e *jsonAppender) ints(v []int) { array(e, v, func(n *int) { e.int(int64(*n)) }) }

func (e *jsonAppender) strs(v []string) { array(e, v, func(s *string) { e.str(*s) }) }

func (e *jsonAppender) frameRef(r *FrameRef) {
	e.open('{')
	e.uintField("frame", r.Frame)
	e.timeField("time", r.Time)
	e.close('}')
}

func (e *jsonAppender) frameRefField(name string, r *FrameRef) {
	e.key(name)
	e.frameRef(r)
}

func (e *jsonAppender) callReport(c *CallReport) {
	e.open('{')
	e.strField("call_id", c.CallID)
	e.strField("from", c.From)
	e.strField("to", c.To)
	e.strField("caller", c.Caller)
	e.strField("callee", c.Callee)
	e.strField("transport", c.Transport)
	e.strField("outcome", c.Outcome)
	e.optInt("final_status", int64(c.FinalStatus))
	e.optStr("final_reason", c.FinalReason)
	e.optStr("reason_header", c.ReasonHeader)
	e.optStr("answered_by", c.AnsweredBy)
	e.optFloat("post_dial_delay_ms", c.PostDialDelayMS)
	e.optFloat("setup_time_ms", c.SetupTimeMS)
	e.uintField("invite_frame", c.InviteFrame)
	e.optUint("answered_frame", c.AnsweredFrame)
	e.optUint("ended_frame", c.EndedFrame)
	e.optStr("ended_by", c.EndedBy)
	e.optTrue("preexisting", c.Preexisting)
	e.optTrue("forked", c.Forked)
	if c.Offer != nil {
		e.key("offer")
		e.sdpReport(c.Offer)
	}
	if c.Answer != nil {
		e.key("answer")
		e.sdpReport(c.Answer)
	}
	e.key("ladder")
	array(e, c.Ladder, func(st *LadderStepReport) {
		e.open('{')
		e.uintField("frame", st.Frame)
		e.timeField("time", st.Time)
		e.strField("from", st.From)
		e.strField("to", st.To)
		e.strField("label", st.Label)
		e.close('}')
	})
	e.optInt("ladder_dropped", int64(c.LadderDropped))
	e.key("streams")
	e.ints(c.Streams)
	e.close('}')
}

func (e *jsonAppender) sdpReport(s *SDPReport) {
	e.open('{')
	e.uintField("frame", s.Frame)
	e.strField("from", s.From)
	e.key("media")
	array(e, s.Media, func(m *SDPMediaReport) {
		e.open('{')
		e.strField("type", m.Type)
		e.strField("address", m.Address)
		e.strField("proto", m.Proto)
		e.strField("direction", m.Direction)
		e.key("codecs")
		e.strs(m.Codecs)
		e.optInt("ice_candidates", int64(m.ICE))
		e.close('}')
	})
	e.close('}')
}

func (e *jsonAppender) streamReport(s *StreamReport) {
	e.open('{')
	e.strField("src", s.Src)
	e.strField("dst", s.Dst)
	e.strField("transport", s.Transport)
	e.strField("ssrc", s.SSRC)
	e.uintField("pt", uint64(s.PT))
	e.optStr("codec", s.Codec)
	e.optUint("clock_rate", uint64(s.ClockRate))
	e.optStr("media", s.Media)
	e.boolField("srtp", s.SRTP)
	e.optStr("call_id", s.CallID)
	e.optTrue("via_turn", s.ViaTURN)
	e.optStr("turn_server", s.TURNServer)
	e.optStr("direction", s.Direction)
	e.optUint("interface", uint64(s.Interface))
	e.uintField("packets", s.Packets)
	e.uintField("bytes", s.Bytes)
	e.frameRefField("first", &s.First)
	e.frameRefField("last", &s.Last)
	e.uintField("expected", s.Expected)
	e.intField("lost", s.Lost)
	e.floatField("loss_percent", s.LossPercent)
	e.uintField("duplicates", s.Duplicates)
	e.uintField("reordered", s.Reordered)
	e.intField("loss_bursts", int64(s.LossBursts))
	e.intField("max_loss_burst", int64(s.MaxLossBurst))
	e.floatField("jitter_ms", s.JitterMS)
	e.floatField("max_jitter_ms", s.MaxJitterMS)
	e.floatField("max_delta_ms", s.MaxDeltaMS)
	e.key("dscp")
	e.countsByName(s.DSCP)
	if len(s.PayloadTypes) > 0 {
		e.key("payload_types")
		e.open('[')
		for i := range s.PayloadTypes {
			p := &s.PayloadTypes[i]
			e.elem()
			e.open('{')
			e.uintField("pt", uint64(p.PT))
			e.uintField("packets", p.Packets)
			e.frameRefField("first", &p.First)
			e.close('}')
		}
		e.close(']')
	}
	if r := s.RTCP; r != nil {
		e.key("rtcp")
		e.open('{')
		e.intField("reports", int64(r.Reports))
		e.floatField("fraction_lost", r.FractionLost)
		e.intField("cumulative_lost", int64(r.CumulativeLost))
		e.floatField("jitter_ms", r.JitterMS)
		e.optFloat("rtt_ms", r.RTTMS)
		e.close('}')
	}
	e.optUint("srtcp_packets", s.SRTCPPackets)
	if r := s.ICMP; r != nil {
		e.key("icmp")
		e.streamICMPReport(r)
	}
	e.close('}')
}

// countsByName is a map as encoding/json writes it: keys sorted.
func (e *jsonAppender) countsByName(m map[string]uint64) {
	if m == nil {
		e.null()
		return
	}
	var scratch [16]string
	keys := scratch[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.open('{')
	for _, k := range keys {
		if !e.first {
			e.b = append(e.b, ',')
		}
		e.first = false
		e.newline()
		e.str(k)
		if e.indent {
			e.b = append(e.b, ':', ' ')
		} else {
			e.b = append(e.b, ':')
		}
		e.uint(m[k])
	}
	e.close('}')
}

func (e *jsonAppender) streamICMPReport(r *StreamICMPReport) {
	e.open('{')
	e.uintField("errors", r.Errors)
	e.optUint("rtcp", r.RTCP)
	e.uintField("port_unreachable", r.PortUnreachable)
	e.uintField("prohibited", r.Prohibited)
	e.strField("from", r.From)
	e.boolField("from_destination", r.FromDestination)
	e.optUint("other_senders", r.OtherSenders)
	e.strField("protocol", r.Protocol)
	e.uintField("type", uint64(r.Type))
	e.uintField("code", uint64(r.Code))
	e.strField("description", r.Description)
	e.optUint("other_codes", r.OtherCodes)
	e.frameRefField("first", &r.First)
	e.frameRefField("last", &r.Last)
	e.key("frames")
	e.uints(r.Frames)
	e.close('}')
}

func (e *jsonAppender) allocationReport(a *AllocationReport) {
	e.open('{')
	e.strField("client", a.Client)
	e.strField("server", a.Server)
	e.strField("transport", a.Transport)
	e.optStr("username", a.Username)
	e.optStr("realm", a.Realm)
	e.strField("outcome", a.Outcome)
	e.optTrue("preexisting", a.Preexisting)
	e.optStr("relayed", a.Relayed)
	e.optStr("mapped", a.Mapped)
	e.optInt("lifetime_s", a.Lifetime)
	if !a.Expires.IsZero() {
		e.timeField("expires", a.Expires)
	}
	e.intField("attempts", int64(a.Attempts))
	e.key("attempt_details")
	e.attemptReports(a.AttemptLog)
	e.intField("refreshes", int64(a.Refreshes))
	e.key("permissions")
	array(e, a.Permissions, func(p *Permission) {
		e.open('{')
		e.key("peer")
		e.addr(p.Peer)
		e.uintField("frame", p.Frame)
		e.close('}')
	})
	e.key("channels")
	array(e, a.Channels, func(c *ChannelBind) {
		e.open('{')
		e.uintField("number", uint64(c.Number))
		e.key("peer")
		e.addrPort(c.Peer)
		e.uintField("frame", c.Frame)
		e.close('}')
	})
	e.key("sent")
	e.relayCounter(&a.Sent)
	e.key("received")
	e.relayCounter(&a.Received)
	e.frameRefField("first", &a.First)
	e.frameRefField("last", &a.Last)
	e.close('}')
}

func (e *jsonAppender) attemptReports(v []AttemptReport) {
	array(e, v, func(at *AttemptReport) {
		e.open('{')
		e.uintField("frame", at.Frame)
		e.timeField("time", at.Time)
		e.boolField("authenticated", at.Authenticated)
		e.strField("response", at.Response)
		e.optUint("response_frame", at.ResponseFrame)
		e.intField("retransmissions", int64(at.Retransmissions))
		e.close('}')
	})
}

func (e *jsonAppender) relayCounter(c *RelayCounter) {
	e.open('{')
	e.uintField("packets", c.Packets)
	e.uintField("bytes", c.Bytes)
	e.uintField("channel_data", c.ChannelData)
	e.close('}')
}

func (e *jsonAppender) bindingReport(b *BindingReport) {
	e.open('{')
	e.strField("client", b.Client)
	e.strField("server", b.Server)
	e.strField("transport", b.Transport)
	e.intField("requests", int64(b.Requests))
	e.intField("answered", int64(b.Answered))
	e.intField("errors", int64(b.Errors))
	e.intField("unanswered", int64(b.Unanswered))
	e.frameRefField("first", &b.First)
	e.frameRefField("last", &b.Last)
	e.close('}')
}

func (e *jsonAppender) finding(f *Finding) {
	e.open('{')
	e.strField("rule", f.Rule)
	e.strField("severity", f.Severity.String())
	e.strField("title", f.Title)
	e.strField("detail", f.Detail)
	e.key("frames")
	e.uints(f.Frames)
	e.timeField("first", f.First)
	e.timeField("last", f.Last)
	e.key("endpoints")
	e.strs(f.Endpoints)
	e.strField("filter", f.Filter)
	e.close('}')
}

func (e *jsonAppender) iceSessionReport(s *ICESessionReport) {
	e.open('{')
	e.strField("local_ufrag", s.LocalUfrag)
	e.strField("remote_ufrag", s.RemoteUfrag)
	e.optStr("call_id", s.CallID)
	e.strField("outcome", s.Outcome)
	e.boolField("controlling_seen", s.ControllingSeen)
	e.boolField("controlled_seen", s.ControlledSeen)
	e.key("candidates")
	array(e, s.Candidates, func(c *ICECandidateReport) {
		e.open('{')
		e.strField("side", c.Side)
		e.strField("type", c.Type)
		e.strField("address", c.Address)
		e.strField("transport", c.Transport)
		e.optUint("priority", uint64(c.Priority))
		e.optStr("foundation", c.Foundation)
		e.optInt("component", int64(c.Component))
		e.optTrue("learned", c.Learned)
		if c.Allocation != nil {
			e.intField("allocation", int64(*c.Allocation))
		}
		e.close('}')
	})
	e.key("pairs")
	array(e, s.Pairs, func(p *CandidatePairReport) {
		e.open('{')
		e.strField("local", p.Local)
		e.strField("remote", p.Remote)
		e.strField("transport", p.Transport)
		if p.Allocation != nil {
			e.intField("allocation", int64(*p.Allocation))
		}
		if p.RemoteAllocation != nil {
			e.intField("remote_allocation", int64(*p.RemoteAllocation))
		}
		e.intField("checks", int64(p.Checks))
		e.intField("answered", int64(p.Answered))
		e.intField("errors", int64(p.Errors))
		e.optFloat("rtt_ms", p.RTTMS)
		e.boolField("nominated", p.Nominated)
		e.strField("state", p.State)
		e.frameRefField("first", &p.First)
		e.frameRefField("last", &p.Last)
		e.close('}')
	})
	if s.SelectedPair != nil {
		e.intField("selected_pair", int64(*s.SelectedPair))
	}
	e.optTrue("selected_inferred", s.SelectedInferred)
	e.key("role_conflict_frames")
	e.uints(s.RoleConflictFrames)
	e.intField("consent_checks", int64(s.ConsentChecks))
	e.intField("consent_unanswered", int64(s.ConsentUnanswered))
	e.optUint("consent_lost_frame", s.ConsentLostFrame)
	e.key("dtls")
	e.ints(s.DTLS)
	e.key("streams")
	e.ints(s.Streams)
	e.optInt("integrity_matched", int64(s.IntegrityMatched))
	e.optInt("integrity_mismatched", int64(s.IntegrityMismatched))
	e.optInt("dropped_pairs", int64(s.DroppedPairs))
	e.frameRefField("first", &s.First)
	e.frameRefField("last", &s.Last)
	e.close('}')
}

// appendRecord appends v as encoding/json does: compact, or indented with
// its first line at depth (the caller places the first line). Records
// without an appender, and those an appender could not write, go through
// encoding/json.
func (e *jsonAppender) appendRecord(v any, indent bool, depth int) error {
	e.reset(indent, depth)
	switch r := v.(type) {
	case *CallReport:
		e.callReport(r)
	case *StreamReport:
		e.streamReport(r)
	case *AllocationReport:
		e.allocationReport(r)
	case *BindingReport:
		e.bindingReport(r)
	case *Finding:
		e.finding(r)
	case *ICESessionReport:
		e.iceSessionReport(r)
	default:
		e.failed = true
	}
	if !e.failed {
		return nil
	}
	return e.appendWithEncodingJSON(v, indent, depth)
}

func (e *jsonAppender) appendWithEncodingJSON(v any, indent bool, depth int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.b = e.b[:0]
	if !indent {
		e.b = append(e.b, b...)
		return nil
	}
	return e.indentJSON(b, depth)
}

// indentJSON appends src, compact JSON as json.Marshal writes it, as
// json.Indent with a prefix of depth indents would, in one pass without
// json's scanner.
func (e *jsonAppender) indentJSON(src []byte, depth int) error {
	e.indent, e.depth = true, depth
	for i := 0; i < len(src); {
		switch c := src[i]; c {
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return errUnterminatedJSON
			}
			e.b = append(e.b, src[i:j+1]...)
			i = j + 1
		case '{', '[':
			e.b = append(e.b, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				e.b = append(e.b, src[i+1])
				i += 2
				continue
			}
			e.depth++
			e.newline()
			i++
		case '}', ']':
			e.depth--
			e.newline()
			e.b = append(e.b, c)
			i++
		case ',':
			e.b = append(e.b, ',')
			e.newline()
			i++
		case ':':
			e.b = append(e.b, ':', ' ')
			i++
		default:
			j := i + 1
			for j < len(src) && !jsonStructural[src[j]] {
				j++
			}
			e.b = append(e.b, src[i:j]...)
			i = j
		}
	}
	return nil
}

var errUnterminatedJSON = errors.New("json: unterminated string")

var jsonStructural = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true, ',': true, ':': true}

// RecordEncoder writes report records as json.Marshal does, the numerous
// ones (calls, streams, allocations, binding flows, ICE sessions,
// findings) without encoding/json: what --format jsonl writes a line of
// per record.
type RecordEncoder struct{ e jsonAppender }

// Marshal returns json.Marshal(v)'s bytes, in a buffer the next call
// reuses. Records are best given by pointer (*CallReport...): a value is
// encoded by encoding/json.
func (enc *RecordEncoder) Marshal(v any) ([]byte, error) {
	err := enc.e.appendRecord(v, false, 0)
	return enc.e.b, err
}
