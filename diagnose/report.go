package diagnose

import (
	"iter"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/stun"
)

// Report is what callscope prints: the capture summary, the TURN
// allocations and the findings, ready for WriteText or WriteJSON. Its JSON
// field names are a contract with scripts that read them. Passwords never
// reach a Report: only usernames and realms do.
type Report struct {
	Tool     ToolInfo          `json:"tool"`
	Captures []CaptureReport   `json:"captures"`
	Warnings []capture.Warning `json:"warnings"`
	// CaptureDrops is a live capture's counters per interface: packets
	// the capture point lost (absent for files).
	CaptureDrops []InterfaceDrops   `json:"capture_drops,omitempty"`
	Stats        StatsReport        `json:"stats"`
	Allocations  []AllocationReport `json:"allocations"`
	Bindings     []BindingReport    `json:"bindings,omitempty"`
	// SIP and media (report_calls.go): calls by Call-ID, REGISTER
	// bindings, and every RTP stream; calls[].streams index streams.
	Calls         []CallReport         `json:"calls"`
	Registrations []RegistrationReport `json:"registrations"`
	Streams       []StreamReport       `json:"streams"`
	// WebRTC and TLS (report_ice.go, report_tls.go): ICE sessions, and
	// TLS connections and DTLS associations; they index each other,
	// allocations and streams.
	ICESessions    []ICESessionReport    `json:"ice_sessions"`
	TLSConnections []TLSConnectionReport `json:"tls_connections"`
	Findings       []Finding             `json:"findings"` // errors first, then warnings, then info
}

// ToolInfo names the program that wrote a report.
type ToolInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// CaptureReport describes one input file.
type CaptureReport struct {
	Path      string    `json:"path"`
	Format    string    `json:"format"`
	LinkTypes []string  `json:"link_types"` // "ethernet", "linux-sll", ...; "linktype-N" when unnamed
	Packets   uint64    `json:"packets"`
	First     time.Time `json:"first,omitzero"`
	Last      time.Time `json:"last,omitzero"`
}

// StatsReport is the decoder's counters and the correlation's.
type StatsReport struct {
	decode.Stats
	Transactions         int    `json:"transactions"`            // STUN transactions kept (Binding ones summarized per flow)
	Unanswered           int    `json:"unanswered_transactions"` // all of them, Binding ones summarized per flow included
	OrphanResponses      int    `json:"orphan_responses"`
	UnmatchedChannelData uint64 `json:"unmatched_channel_data"`
	// Records left out at the analysis's limits (Analysis's Dropped
	// fields): a report with any of them is partial.
	DroppedTransactions    int    `json:"dropped_transactions,omitempty"`
	DroppedAllocations     int    `json:"dropped_allocations,omitempty"`
	DroppedSIPTransactions int    `json:"dropped_sip_transactions,omitempty"`
	DroppedCalls           int    `json:"dropped_calls,omitempty"`
	DroppedRegistrations   int    `json:"dropped_registrations,omitempty"`
	DroppedStreams         int    `json:"dropped_streams,omitempty"`
	UntrackedRTPPackets    uint64 `json:"untracked_rtp_packets,omitempty"`
	DroppedICESessions     int    `json:"dropped_ice_sessions,omitempty"`
	DroppedTLSConnections  int    `json:"dropped_tls_connections,omitempty"`
	// KeepAlives is the CRLF keep-alives per flow, for the text report;
	// the JSON report has their total, sip_keepalives.
	KeepAlives SIPKeepAliveSummary `json:"-"`
}

// AllocationReport is one TURN allocation attempt and its life.
type AllocationReport struct {
	Client      string          `json:"client"`
	Server      string          `json:"server"`
	Transport   string          `json:"transport"` // "udp" or "tcp": client to server
	Username    string          `json:"username,omitempty"`
	Realm       string          `json:"realm,omitempty"`
	Outcome     string          `json:"outcome"`
	Preexisting bool            `json:"preexisting,omitempty"`
	Relayed     string          `json:"relayed,omitempty"`
	Mapped      string          `json:"mapped,omitempty"`
	Lifetime    int64           `json:"lifetime_s,omitempty"`
	Expires     time.Time       `json:"expires,omitzero"` // when the last granted lifetime runs out
	Attempts    int             `json:"attempts"`
	AttemptLog  []AttemptReport `json:"attempt_details"`
	Refreshes   int             `json:"refreshes"`
	Permissions []Permission    `json:"permissions"`
	Channels    []ChannelBind   `json:"channels"`
	Sent        RelayCounter    `json:"sent"`
	Received    RelayCounter    `json:"received"`
	First       FrameRef        `json:"first"`
	Last        FrameRef        `json:"last"`
}

// AttemptReport is one Allocate transaction of an allocation.
type AttemptReport struct {
	Frame           uint64    `json:"frame"` // the first request
	Time            time.Time `json:"time"`
	Authenticated   bool      `json:"authenticated"` // carried MESSAGE-INTEGRITY
	Response        string    `json:"response"`      // "success", "401 Unauthorized", "none", "ICMP port unreachable"
	ResponseFrame   uint64    `json:"response_frame,omitempty"`
	Retransmissions int       `json:"retransmissions"`

	code      int  // error code, for the text report's attempts line
	challenge bool // an unauthenticated 401: the normal challenge
}

// BindingReport counts one flow's Binding transactions.
type BindingReport struct {
	Client     string   `json:"client"`
	Server     string   `json:"server"`
	Transport  string   `json:"transport"`
	Requests   int      `json:"requests"`
	Answered   int      `json:"answered"`
	Errors     int      `json:"errors"`
	Unanswered int      `json:"unanswered"`
	First      FrameRef `json:"first"`
	Last       FrameRef `json:"last"`
}

// NewReport builds a report from an analysis and the findings of the rules
// run on it. Times are given in UTC; findings are ordered by severity,
// most severe first, keeping the rules' order within a severity.
func NewReport(a *Analysis, findings []Finding, version string) *Report {
	if a == nil {
		a = &Analysis{}
	}
	r := newReportHead(a, findings, version)
	// The calls, most of a report with many calls, are built on another
	// goroutine meanwhile: building only reads the Analysis.
	var calls []CallReport
	var wg sync.WaitGroup
	wg.Go(func() { calls = newCallReports(a) })
	r.Allocations = slices.AppendSeq(make([]AllocationReport, 0, countNonNil(a.Allocations)), allocationReports(a))
	r.Bindings = slices.AppendSeq(r.Bindings, bindingReports(a))
	r.addStreamsAndRegistrations(a)
	r.addICEAndTLS(a)
	wg.Wait()
	r.setCalls(calls)
	return r
}

// newReportHead is a Report without its per-record arrays (allocations,
// bindings, calls, registrations, streams, ICE sessions, TLS
// connections): what is small whatever the length of the capture.
func newReportHead(a *Analysis, findings []Finding, version string) *Report {
	r := &Report{
		Tool:        ToolInfo{Name: "callscope", Version: version},
		Captures:    []CaptureReport{},
		Warnings:    slices.Clone(a.Warnings),
		Allocations: []AllocationReport{},
		Findings:    []Finding{},
	}
	if r.Warnings == nil {
		r.Warnings = []capture.Warning{}
	}
	for _, d := range a.CaptureDrops {
		d.Samples = slices.Clone(d.Samples)
		for i := range d.Samples {
			d.Samples[i].Time = utc(d.Samples[i].Time)
		}
		r.CaptureDrops = append(r.CaptureDrops, d)
	}
	for _, c := range a.Captures {
		cr := CaptureReport{Path: c.Path, Format: c.Format, LinkTypes: []string{}, Packets: c.Packets, First: utc(c.First), Last: utc(c.Last)}
		for _, lt := range c.LinkTypes {
			cr.LinkTypes = append(cr.LinkTypes, LinkTypeName(lt))
		}
		r.Captures = append(r.Captures, cr)
	}
	r.Stats = StatsReport{
		Stats:                  a.Stats,
		Transactions:           len(a.Transactions),
		OrphanResponses:        a.OrphanResponses,
		UnmatchedChannelData:   a.UnmatchedChannelData,
		DroppedTransactions:    a.DroppedTransactions,
		DroppedAllocations:     a.DroppedAllocations,
		DroppedSIPTransactions: a.DroppedSIPTransactions,
		DroppedCalls:           a.DroppedCalls,
		DroppedRegistrations:   a.DroppedRegistrations,
		DroppedStreams:         a.DroppedStreams,
		UntrackedRTPPackets:    a.UntrackedRTPPackets,
		DroppedICESessions:     a.DroppedICESessions,
		DroppedTLSConnections:  a.DroppedTLSConnections,
		KeepAlives:             sipKeepAliveSummary(a),
	}
	// The per-flow summaries count every Binding transaction, the kept ones
	// too; the engine makes one for each Binding it sees.
	summarized := false
	for _, b := range a.Bindings {
		if b != nil {
			r.Stats.Unanswered += b.Unanswered
			summarized = true
		}
	}
	for _, t := range a.Transactions {
		if t != nil && !t.Answered && !(summarized && t.Method == stun.MethodBinding) {
			r.Stats.Unanswered++
		}
	}
	for _, f := range findings {
		f.First, f.Last = utc(f.First), utc(f.Last)
		if f.Frames == nil {
			f.Frames = []uint64{}
		}
		if f.Endpoints == nil {
			f.Endpoints = []string{}
		}
		r.Findings = append(r.Findings, f)
	}
	slices.SortStableFunc(r.Findings, func(x, y Finding) int { return int(y.Severity) - int(x.Severity) })
	return r
}

// allocationReports yields the report's allocations in order.
func allocationReports(a *Analysis) iter.Seq[AllocationReport] {
	return func(yield func(AllocationReport) bool) {
		for _, al := range a.Allocations {
			if al != nil && !yield(newAllocationReport(al)) {
				return
			}
		}
	}
}

// bindingReports yields the report's binding flows in order.
func bindingReports(a *Analysis) iter.Seq[BindingReport] {
	return func(yield func(BindingReport) bool) {
		for _, b := range a.Bindings {
			if b == nil {
				continue
			}
			if !yield(BindingReport{
				Client: addrPortString(b.Client), Server: addrPortString(b.Server), Transport: transportString(b.Transport),
				Requests: b.Requests, Answered: b.Answered, Errors: b.Errors, Unanswered: b.Unanswered,
				First: utcRef(b.First), Last: utcRef(b.Last),
			}) {
				return
			}
		}
	}
}

func newAllocationReport(al *Allocation) AllocationReport {
	ar := AllocationReport{
		Client:      addrPortString(al.Client),
		Server:      addrPortString(al.Server),
		Transport:   transportString(al.Transport),
		Username:    al.Username,
		Realm:       al.Realm,
		Outcome:     al.Outcome,
		Preexisting: al.Preexisting,
		Relayed:     addrPortString(al.Relayed),
		Mapped:      addrPortString(al.Mapped),
		Lifetime:    al.Lifetime,
		Expires:     utc(al.Expires),
		Attempts:    len(al.Attempts),
		AttemptLog:  []AttemptReport{},
		Refreshes:   al.Refreshes,
		Permissions: []Permission{},
		Channels:    []ChannelBind{},
		Sent:        al.Sent,
		Received:    al.Received,
		First:       utcRef(al.First),
		Last:        utcRef(al.Last),
	}
	for _, t := range al.Attempts {
		if t != nil {
			ar.AttemptLog = append(ar.AttemptLog, newAttemptReport(t))
		}
	}
	for _, p := range al.Permissions {
		p.Peer = p.Peer.Unmap()
		ar.Permissions = append(ar.Permissions, p)
	}
	for _, c := range al.Channels {
		c.Peer = netip.AddrPortFrom(c.Peer.Addr().Unmap(), c.Peer.Port())
		ar.Channels = append(ar.Channels, c)
	}
	return ar
}

func newAttemptReport(t *Transaction) AttemptReport {
	at := AttemptReport{Authenticated: t.HasIntegrity, Response: "none", Retransmissions: max(t.RequestCount, len(t.Requests), 1) - 1}
	if len(t.Requests) > 0 {
		at.Frame, at.Time = t.Requests[0].Frame, utc(t.Requests[0].Time)
	}
	switch {
	case t.Answered && t.Class == stun.ClassSuccess:
		at.Response, at.ResponseFrame = "success", t.Response.Frame
	case t.Answered:
		at.Response, at.ResponseFrame, at.code = ErrorCodeText(t.ErrorCode), t.Response.Frame, t.ErrorCode
		at.challenge = t.ErrorCode == 401 && !t.HasIntegrity
	case t.ICMP != nil:
		at.Response, at.ResponseFrame = "ICMP "+t.ICMP.Description, t.ICMP.Frame
	}
	return at
}

// MaxSeverity is the most severe finding's severity, 0 when there is none:
// what --fail-on compares against.
func (r *Report) MaxSeverity() Severity {
	var s Severity
	for _, f := range r.Findings {
		s = max(s, f.Severity)
	}
	return s
}

// LinkTypeName names a LINKTYPE_ value the way reports print it.
func LinkTypeName(lt capture.LinkType) string {
	switch lt {
	case capture.LinkNull:
		return "null"
	case capture.LinkEthernet:
		return "ethernet"
	case capture.LinkRaw:
		return "raw"
	case capture.LinkLoop:
		return "loop"
	case capture.LinkLinuxSLL:
		return "linux-sll"
	case capture.LinkIPv4:
		return "ipv4"
	case capture.LinkIPv6:
		return "ipv6"
	case capture.LinkSLL2:
		return "linux-sll2"
	}
	return "linktype-" + strconv.Itoa(int(lt))
}

// addrPortString prints "ip:port" ("[ip]:port" for IPv6), an IPv4-mapped
// address as IPv4, and "" for the zero value.
func addrPortString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

func transportString(t decode.Transport) string {
	if t == 0 {
		return ""
	}
	return t.String()
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func utcRef(r FrameRef) FrameRef { return FrameRef{Frame: r.Frame, Time: utc(r.Time)} }
