package diagnose

import (
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
)

// SIPTransaction is a SIP request and its responses (RFC 3261 §17): keyed
// by the topmost Via branch and the CSeq method, so that a CANCEL and the
// INVITE it cancels are two transactions, and retransmissions are one.
type SIPTransaction struct {
	Branch string
	Method string         // the request's method; CSeq's for a response seen alone
	Client netip.AddrPort // who sent the request
	Server netip.AddrPort // where it was sent
	// CSeq, Transport and the flags from the request share one word: a
	// capture dense with calls keeps 100,000s of transactions.
	CSeq      uint32
	Transport decode.Transport
	HasSDP    bool // the request carried SDP
	// Deregister: a REGISTER asking to remove bindings (Expires 0, a
	// Contact expires=0, or "Contact: *"; RFC 3261 §10.2.2).
	Deregister bool
	// ContentLengthMismatch: over UDP, the request's Content-Length did not
	// match the body the datagram carried (RFC 3261 §18.3) - a sign of a
	// middlebox that rewrote the body (a SIP ALG) without fixing the header.
	ContentLengthMismatch bool

	Requests     []FrameRef // the request and its retransmissions, the first MaxFramesPerFinding
	RequestCount int

	Responses []SIPResponse // each distinct status in order of arrival (provisional and final)
	Final     int           // index into Responses of the first final (>= 200) response; -1 when none

	// From the request.
	FromURI, ToURI string
	Contact        string
	UserAgent      string
	Expires        int      // Expires header, -1 when absent
	Authorization  *SIPAuth // credentials sent (never the digest)
	// Size is the request's length in bytes: the first send's UDP payload,
	// or the framed message over TCP. Fragmented is set when sends over
	// UDP came in IP fragments (correlate_sip_fragments.go).
	Size       int
	Fragmented *SIPFragments

	// Evidence for NAT/ALG rules: the request's topmost Via sent-by and
	// Contact host as written, and the address the packet came from.
	ViaSentBy   string
	ContactHost string

	CallID       string
	ToTag        string // the request's To tag: set inside a dialog (re-INVITE, BYE)
	ReasonHeader string // the request's Reason header (CANCEL, BYE; RFC 3326)
	// ACK is the first ACK to a non-2xx final response, which belongs to
	// the INVITE transaction (RFC 3261 §17.1.1.3); ACKCount counts them all.
	// An ACK to a 2xx is a transaction of its own that is never answered.
	ACK      FrameRef
	ACKCount int
}

// SIPResponse is one response status seen for a transaction.
type SIPResponse struct {
	FrameRef
	Status          int
	Reason          string // the reason phrase
	ReasonHeader    string // the Reason header (RFC 3326), e.g. `Q.850;cause=16`
	From            netip.AddrPort
	ToTag           string
	Server          string // Server header
	Retransmissions int
	Challenge       *SIPAuth // WWW-/Proxy-Authenticate in a 401/407
	HasSDP          bool
	// ContentLengthMismatch: over UDP, Content-Length did not match the
	// body the datagram carried (see SIPTransaction).
	ContentLengthMismatch bool
	// Resent is the retransmissions, the first MaxFramesPerFinding: a 2xx
	// to an INVITE repeated until its ACK comes (RFC 3261 §13.3.1.4).
	Resent []FrameRef
	// ContactHost is the Contact's host[:port] as written: for a 2xx to an
	// INVITE, where the caller sends its ACK and the dialog's later
	// requests when no Record-Route intervenes (§12.1.2).
	ContactHost string
	// Size and Fragmented are as in SIPTransaction, for the response's
	// sends: a 2xx whose SDP answer outgrew the path MTU is lost whole
	// where IP fragments are dropped, and then no ACK can come.
	Size       int
	Fragmented *SIPFragments
}

// SIPAuth is a digest challenge or the credentials answering it, without
// the response digest (a credential; never kept).
type SIPAuth struct {
	Username  string
	Realm     string
	Nonce     string
	Algorithm string
	QOP       string
	Stale     bool
}

// Call is a dialog started by an INVITE, keyed by Call-ID (RFC 3261 §12):
// from the INVITE through provisional and final responses, ACK, re-INVITEs
// and CANCEL to BYE. Forked responses (several To tags) stay in one Call.
type Call struct {
	CallID    string
	From, To  string         // URIs
	Caller    netip.AddrPort // where the first INVITE came from
	Callee    netip.AddrPort // where it went
	Transport decode.Transport

	Transactions []*SIPTransaction // in order: INVITEs (auth retries, re-INVITEs), CANCEL, BYE, others
	Ladder       []LadderStep      // capped at MaxLadderSteps

	// Outcome is one of "answered" (2xx to the INVITE), "failed" (a final
	// 3xx-6xx other than an answered challenge or 487 after CANCEL),
	// "cancelled", "unanswered" (no final response), "challenged" (a 401/407
	// never answered).
	Outcome      string
	FinalStatus  int
	FinalReason  string
	ReasonHeader string
	AnsweredBy   netip.AddrPort // who sent the final response
	Invite       FrameRef       // the first INVITE
	Answered     FrameRef       // the 2xx; zero when not answered
	Ended        FrameRef       // the BYE; zero when none
	EndedBy      netip.AddrPort
	// PostDialDelay is the first INVITE to the first 18x (RFC 6076 §4.1),
	// SetupTime the first INVITE to the 2xx; zero when not seen.
	PostDialDelay time.Duration
	SetupTime     time.Duration

	Offer   *SDPSeen  // the first SDP offer (INVITE, or 2xx for a late offer)
	Answer  *SDPSeen  // its answer
	Streams []*Stream // RTP streams tied to this call through SDP

	// SDPs is every SDP body of the call in order (offer, answer, early
	// media, re-INVITEs), the first MaxCallSDPs. Session is nil in those
	// that did not parse.
	SDPs []*SDPSeen
	// ToTags are the distinct To tags of the 101-299 responses to the
	// caller's initial INVITEs, the (early) dialogs they made: more than one
	// means the request forked (RFC 3261 §12.1, §16.7).
	ToTags []string
	// Preexisting: the first INVITE seen was inside a dialog (a re-INVITE),
	// so the call was set up before the capture started.
	Preexisting bool
	// LadderDropped and DroppedTransactions count what MaxLadderSteps and
	// MaxCallTransactions left out.
	LadderDropped       int
	DroppedTransactions int
}

// MaxLadderSteps bounds the ladder kept per call.
const MaxLadderSteps = 64

// LadderStep is one SIP message of a call, for the report's ladder.
type LadderStep struct {
	FrameRef
	From, To netip.AddrPort
	Label    string // "INVITE (SDP)", "180 Ringing", "200 OK (SDP)", "ACK", "BYE"
}

// SDPSeen is an SDP body and where it was seen.
type SDPSeen struct {
	FrameRef
	From    netip.AddrPort // the packet's source
	Session *sdp.Session
}

// Registration is a REGISTER binding of one address-of-record at one
// registrar (RFC 3261 §10): challenge, authenticated attempts, success or
// failure, refreshes.
type Registration struct {
	AOR       string // the To URI
	Contact   string
	Client    netip.AddrPort
	Registrar netip.AddrPort
	Transport decode.Transport
	Username  string
	Realm     string

	Transactions []*SIPTransaction // every REGISTER, in order

	// Outcome is one of "registered", "unregistered" (Expires 0 accepted),
	// "failed" (a final error other than an answered challenge), "challenged"
	// (a 401/407 never answered), "unanswered".
	//
	// Outcome judges the REGISTERs that asked for a binding (expires > 0):
	// a later REGISTER that asks to remove it (Expires 0 or "Contact: *")
	// sets Outcome only when the registrar accepts it ("unregistered"), or
	// when no REGISTER asking for a binding was seen. Its failure is in
	// Deregister instead: a binding that was registered stays so until it
	// expires.
	Outcome     string
	FinalStatus int
	// Deregister is the outcome of the last removing REGISTER once no
	// REGISTER asking for a binding came after it: "unregistered",
	// "failed", "challenged", "unanswered"; empty when none.
	// DeregisterStatus is its final status.
	Deregister       string
	DeregisterStatus int
	Expires          int           // granted (the 2xx's Expires or Contact expires), -1 when unknown
	Refreshes        int           // successful re-registrations after the first
	Interval         time.Duration // mean time between successful registrations; 0 when fewer than two
	First, Last      FrameRef
}
