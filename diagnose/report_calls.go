package diagnose

import (
	"iter"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CallReport is one call (a dialog by Call-ID) in a report.
type CallReport struct {
	CallID       string `json:"call_id"`
	From         string `json:"from"` // From URI
	To           string `json:"to"`   // To URI
	Caller       string `json:"caller"`
	Callee       string `json:"callee"`
	Transport    string `json:"transport"`
	Outcome      string `json:"outcome"` // answered, failed, cancelled, unanswered, challenged
	FinalStatus  int    `json:"final_status,omitempty"`
	FinalReason  string `json:"final_reason,omitempty"`
	ReasonHeader string `json:"reason_header,omitempty"`
	AnsweredBy   string `json:"answered_by,omitempty"`
	// PostDialDelayMS is the first INVITE to the first 18x (RFC 6076
	// §4.1), SetupTimeMS the first INVITE to the 2xx; omitted when not seen.
	PostDialDelayMS float64            `json:"post_dial_delay_ms,omitempty"`
	SetupTimeMS     float64            `json:"setup_time_ms,omitempty"`
	InviteFrame     uint64             `json:"invite_frame"`
	AnsweredFrame   uint64             `json:"answered_frame,omitempty"`
	EndedFrame      uint64             `json:"ended_frame,omitempty"`
	EndedBy         string             `json:"ended_by,omitempty"`
	Preexisting     bool               `json:"preexisting,omitempty"` // set up before the capture started
	Forked          bool               `json:"forked,omitempty"`      // several To tags answered the INVITE
	Offer           *SDPReport         `json:"offer,omitempty"`
	Answer          *SDPReport         `json:"answer,omitempty"`
	Ladder          []LadderStepReport `json:"ladder"`
	LadderDropped   int                `json:"ladder_dropped,omitempty"`
	Streams         []int              `json:"streams"` // indexes into the report's streams
}

// LadderStepReport is one SIP message of a call.
type LadderStepReport struct {
	Frame uint64    `json:"frame"`
	Time  time.Time `json:"time"`
	From  string    `json:"from"`
	To    string    `json:"to"`
	Label string    `json:"label"`
}

// SDPReport summarizes an SDP offer or answer: where media should go.
type SDPReport struct {
	Frame uint64           `json:"frame"`
	From  string           `json:"from"` // the packet's source
	Media []SDPMediaReport `json:"media"`
}

// SDPMediaReport is one m= section.
type SDPMediaReport struct {
	Type      string   `json:"type"`
	Address   string   `json:"address"` // c= address and m= port; port 0 rejects the stream
	Proto     string   `json:"proto"`
	Direction string   `json:"direction"`
	Codecs    []string `json:"codecs"` // rtpmap encodings, else the payload types
	ICE       int      `json:"ice_candidates,omitempty"`
}

// RegistrationReport is one REGISTER binding (AOR at a registrar).
type RegistrationReport struct {
	AOR         string `json:"aor"`
	Contact     string `json:"contact,omitempty"`
	Registrar   string `json:"registrar"`
	Client      string `json:"client"`
	Transport   string `json:"transport"`
	Username    string `json:"username,omitempty"`
	Realm       string `json:"realm,omitempty"`
	Outcome     string `json:"outcome"` // registered, unregistered, failed, challenged, unanswered
	FinalStatus int    `json:"final_status,omitempty"`
	// Deregister is the last removing REGISTER's (Expires 0) outcome when
	// it did not change Outcome; see Registration.Deregister.
	Deregister       string  `json:"deregister,omitempty"`
	DeregisterStatus int     `json:"deregister_status,omitempty"`
	Expires          *int    `json:"expires,omitempty"` // granted seconds; omitted when unknown
	Refreshes        int     `json:"refreshes"`
	IntervalS        float64 `json:"interval_s,omitempty"` // mean time between successful registrations
	Attempts         int     `json:"attempts"`             // REGISTER transactions
	// AttemptLog is each REGISTER: Response is "200 OK", "401 Unauthorized",
	// "none"; Authenticated says it carried credentials.
	AttemptLog []AttemptReport `json:"attempt_details"`
	First      FrameRef        `json:"first"`
	Last       FrameRef        `json:"last"`
}

// StreamReport is one RTP stream (5-tuple and SSRC).
type StreamReport struct {
	Src       string `json:"src"`
	Dst       string `json:"dst"`
	Transport string `json:"transport"`
	SSRC      string `json:"ssrc"` // "0x1234abcd", as Wireshark's rtp.ssrc
	PT        uint8  `json:"pt"`
	Codec     string `json:"codec,omitempty"`
	ClockRate uint32 `json:"clock_rate,omitempty"`
	Media     string `json:"media,omitempty"` // audio, video
	SRTP      bool   `json:"srtp"`
	CallID    string `json:"call_id,omitempty"`
	// ViaTURN: relayed through a TURN allocation; Src and Dst are then the
	// TURN client and TURN server.
	ViaTURN      bool              `json:"via_turn,omitempty"`
	TURNServer   string            `json:"turn_server,omitempty"`
	Direction    string            `json:"direction,omitempty"` // "arriving", "leaving": where the capturing host saw it (Stream.Direction)
	Interface    uint32            `json:"interface,omitempty"` // the index of the interface it saw it on
	Packets      uint64            `json:"packets"`
	Bytes        uint64            `json:"bytes"`
	First        FrameRef          `json:"first"`
	Last         FrameRef          `json:"last"`
	Expected     uint64            `json:"expected"`
	Lost         int64             `json:"lost"` // negative with duplicates
	LossPercent  float64           `json:"loss_percent"`
	Duplicates   uint64            `json:"duplicates"`
	Reordered    uint64            `json:"reordered"`
	LossBursts   int               `json:"loss_bursts"`
	MaxLossBurst int               `json:"max_loss_burst"`
	JitterMS     float64           `json:"jitter_ms"`
	MaxJitterMS  float64           `json:"max_jitter_ms"`
	MaxDeltaMS   float64           `json:"max_delta_ms"`
	DSCP         map[string]uint64 `json:"dscp"` // DSCP value -> packets
	// PayloadTypes: packets per payload type, pt's first, when the
	// stream carried more than one (telephone-event, comfort noise, a
	// codec switch; Stream.PayloadTypes).
	PayloadTypes []PayloadTypeReport `json:"payload_types,omitempty"`
	RTCP         *RTCPReport         `json:"rtcp,omitempty"`
	// SRTCPPackets: SRTCP datagrams the stream's source sent (its SSRC
	// in their clear header), whose reports are encrypted.
	SRTCPPackets uint64 `json:"srtcp_packets,omitempty"`
	// ICMP: the ICMP unreachable errors its packets drew.
	ICMP *StreamICMPReport `json:"icmp,omitempty"`

	inCall bool
}

// PayloadTypeReport is how many packets of a stream carried one payload
// type, and the first of them.
type PayloadTypeReport struct {
	PT      uint8    `json:"pt"`
	Packets uint64   `json:"packets"`
	First   FrameRef `json:"first"`
}

// RTCPReport is what the receiver said about a stream in RTCP report
// blocks (RFC 3550 §6.4).
type RTCPReport struct {
	Reports        int     `json:"reports"`
	FractionLost   float64 `json:"fraction_lost"` // the last report's, 0-1
	CumulativeLost int32   `json:"cumulative_lost"`
	JitterMS       float64 `json:"jitter_ms"`
	RTTMS          float64 `json:"rtt_ms,omitempty"` // from LSR/DLSR; omitted when unknown
}

// newCallReports is the report's calls.
func newCallReports(a *Analysis) []CallReport {
	return slices.AppendSeq(make([]CallReport, 0, countNonNil(a.Calls)), callReports(a, streamPositions(a)))
}

// addStreamsAndRegistrations fills the streams and registrations.
func (r *Report) addStreamsAndRegistrations(a *Analysis) {
	r.Streams = slices.AppendSeq(make([]StreamReport, 0, countNonNil(a.Streams)), streamReports(a))
	r.Registrations = slices.AppendSeq(make([]RegistrationReport, 0, countNonNil(a.Registrations)), registrationReports(a))
}

// setCalls sets the calls, once the streams are there: the text report
// lists apart the streams no call claimed.
func (r *Report) setCalls(calls []CallReport) {
	for _, cr := range calls {
		for _, i := range cr.Streams {
			r.Streams[i].inCall = true
		}
	}
	r.Calls = calls
}

// streamPositions maps each stream to its index in the report's streams.
func streamPositions(a *Analysis) map[*Stream]int { return positions(a.Streams) }

// streamReports yields the report's streams in order.
func streamReports(a *Analysis) iter.Seq[StreamReport] {
	return func(yield func(StreamReport) bool) {
		for _, s := range a.Streams {
			if s != nil && !yield(newStreamReport(s)) {
				return
			}
		}
	}
}

// callReports yields the report's calls in order, their streams given as
// indexes by streamIndex.
func callReports(a *Analysis, streamIndex map[*Stream]int) iter.Seq[CallReport] {
	return func(yield func(CallReport) bool) {
		for _, c := range a.Calls {
			if c == nil {
				continue
			}
			cr := newCallReport(c)
			for _, s := range c.Streams {
				if i, ok := streamIndex[s]; ok {
					cr.Streams = append(cr.Streams, i)
				}
			}
			if !yield(cr) {
				return
			}
		}
	}
}

// registrationReports yields the report's registrations in order.
func registrationReports(a *Analysis) iter.Seq[RegistrationReport] {
	return func(yield func(RegistrationReport) bool) {
		for _, reg := range a.Registrations {
			if reg != nil && !yield(newRegistrationReport(reg)) {
				return
			}
		}
	}
}

func newCallReport(c *Call) CallReport {
	// A call's messages go between a few addresses: printed once each.
	var addrs addrPortStrings
	cr := CallReport{
		CallID: c.CallID, From: c.From, To: c.To,
		Caller: addrs.get(c.Caller), Callee: addrs.get(c.Callee), Transport: transportString(c.Transport),
		Outcome: c.Outcome, FinalStatus: c.FinalStatus, FinalReason: c.FinalReason, ReasonHeader: c.ReasonHeader,
		AnsweredBy:      addrs.get(c.AnsweredBy),
		PostDialDelayMS: durationMS(c.PostDialDelay), SetupTimeMS: durationMS(c.SetupTime),
		InviteFrame: c.Invite.Frame, AnsweredFrame: c.Answered.Frame, EndedFrame: c.Ended.Frame,
		EndedBy: addrs.get(c.EndedBy), Preexisting: c.Preexisting, Forked: len(c.ToTags) > 1,
		Offer: newSDPReport(c.Offer, &addrs), Answer: newSDPReport(c.Answer, &addrs),
		Ladder: make([]LadderStepReport, 0, len(c.Ladder)), LadderDropped: c.LadderDropped, Streams: make([]int, 0, len(c.Streams)),
	}
	for _, st := range c.Ladder {
		cr.Ladder = append(cr.Ladder, LadderStepReport{Frame: st.Frame, Time: utc(st.Time),
			From: addrs.get(st.From), To: addrs.get(st.To), Label: st.Label})
	}
	return cr
}

// addrPortStrings is addrPortString remembering the last few addresses
// it printed.
type addrPortStrings struct {
	addrs [6]netip.AddrPort
	strs  [6]string
	next  int
}

func (m *addrPortStrings) get(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	for i := range m.addrs {
		if m.addrs[i] == ap {
			return m.strs[i]
		}
	}
	s := addrPortString(ap)
	m.addrs[m.next], m.strs[m.next] = ap, s
	m.next = (m.next + 1) % len(m.addrs)
	return s
}

func newSDPReport(s *SDPSeen, addrs *addrPortStrings) *SDPReport {
	if s == nil || s.Session == nil {
		return nil
	}
	sr := &SDPReport{Frame: s.Frame, From: addrs.get(s.From), Media: make([]SDPMediaReport, 0, len(s.Session.Media))}
	for _, m := range s.Session.Media {
		addr := m.Connection
		if !addr.IsValid() {
			addr = s.Session.Connection
		}
		mr := SDPMediaReport{Type: m.Type, Proto: m.Proto, Direction: m.Direction, Codecs: make([]string, 0, len(m.Formats)), ICE: len(m.Candidates)}
		if mr.Direction == "" {
			mr.Direction = "sendrecv"
		}
		if addr.IsValid() {
			mr.Address = addrPortString(netip.AddrPortFrom(addr, m.Port))
		} else {
			mr.Address = ":" + strconv.Itoa(int(m.Port))
		}
		for _, f := range m.Formats {
			name := f
			if pt, err := strconv.ParseUint(f, 10, 8); err == nil {
				if rm, ok := m.RTPMap[uint8(pt)]; ok && rm.Encoding != "" {
					name = rm.Encoding
				}
			}
			mr.Codecs = append(mr.Codecs, name)
		}
		sr.Media = append(sr.Media, mr)
	}
	return sr
}

func newRegistrationReport(reg *Registration) RegistrationReport {
	rr := RegistrationReport{
		AOR: reg.AOR, Contact: reg.Contact, Registrar: addrPortString(reg.Registrar), Client: addrPortString(reg.Client),
		Transport: transportString(reg.Transport), Username: reg.Username, Realm: reg.Realm,
		Outcome: reg.Outcome, FinalStatus: reg.FinalStatus, Refreshes: reg.Refreshes,
		Deregister: reg.Deregister, DeregisterStatus: reg.DeregisterStatus,
		IntervalS: round3(reg.Interval.Seconds()), Attempts: len(reg.Transactions), AttemptLog: []AttemptReport{},
		First: utcRef(reg.First), Last: utcRef(reg.Last),
	}
	if reg.Expires >= 0 {
		e := reg.Expires
		rr.Expires = &e
	}
	for _, t := range reg.Transactions {
		if t != nil {
			rr.AttemptLog = append(rr.AttemptLog, newSIPAttemptReport(t))
		}
	}
	return rr
}

func newSIPAttemptReport(t *SIPTransaction) AttemptReport {
	at := AttemptReport{Authenticated: t.Authorization != nil, Response: "none",
		Retransmissions: max(t.RequestCount, len(t.Requests), 1) - 1}
	if len(t.Requests) > 0 {
		at.Frame, at.Time = t.Requests[0].Frame, utc(t.Requests[0].Time)
	}
	if t.Final >= 0 && t.Final < len(t.Responses) {
		f := t.Responses[t.Final]
		at.Response, at.ResponseFrame, at.code = strings.TrimSpace(strconv.Itoa(f.Status)+" "+f.Reason), f.Frame, f.Status
		at.challenge = (f.Status == 401 || f.Status == 407) && t.Authorization == nil
	}
	return at
}

func newStreamReport(s *Stream) StreamReport {
	sr := StreamReport{
		Src: addrPortString(s.Src), Dst: addrPortString(s.Dst), Transport: transportString(s.Transport),
		SSRC: ssrcString(s.SSRC), PT: s.PayloadType, Codec: s.Codec, ClockRate: s.ClockRate,
		Media: s.MediaType, SRTP: s.SRTP, Direction: s.Direction.String(), Interface: s.Interface,
		Packets: s.Packets, Bytes: s.Bytes, First: utcRef(s.First), Last: utcRef(s.Last),
		Expected: s.Expected, Lost: s.Lost, LossPercent: round3(s.LossPercent()),
		Duplicates: s.Duplicates, Reordered: s.Reordered, LossBursts: s.LossBursts, MaxLossBurst: s.MaxLossBurst,
		JitterMS: round3(s.Jitter), MaxJitterMS: round3(s.MaxJitter), MaxDeltaMS: durationMS(s.MaxDelta),
		DSCP: map[string]uint64{},
	}
	if s.Call != nil {
		sr.CallID = s.Call.CallID
	}
	if s.Allocation != nil {
		sr.ViaTURN, sr.TURNServer = true, addrPortString(s.Allocation.Server)
	}
	for v, n := range s.DSCP.All() {
		sr.DSCP[strconv.Itoa(v)] = n
	}
	for _, p := range s.PayloadTypes {
		sr.PayloadTypes = append(sr.PayloadTypes, PayloadTypeReport{PT: p.PayloadType, Packets: p.Packets, First: utcRef(p.First)})
	}
	sr.SRTCPPackets = s.SRTCPPackets
	sr.ICMP = newStreamICMPReport(s)
	if s.RemoteReports > 0 {
		sr.RTCP = &RTCPReport{Reports: s.RemoteReports, FractionLost: round3(s.RemoteFractionLost), CumulativeLost: s.RemoteCumulative,
			JitterMS: round3(s.RemoteJitter), RTTMS: durationMS(s.RoundTrip)}
	}
	return sr
}

// ssrcString is fmt.Sprintf("0x%08x", ssrc).
func ssrcString(ssrc uint32) string {
	b := []byte("0x00000000")
	for i := len(b) - 1; ssrc != 0; i-- {
		b[i] = jsonHex[ssrc&0xf]
		ssrc >>= 4
	}
	return string(b)
}

// round3 keeps three decimals, so JSON numbers stay short and stable.
func round3(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

func durationMS(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
