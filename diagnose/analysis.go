package diagnose

import (
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/stun"
)

// Analysis is everything correlated from one capture: what rules read and
// what reports print. Slices are in order of first appearance. Records
// point at each other (a Stream at its Call and Allocation, a Transaction
// at its ICMP error), never at the packets: an Analysis holds no capture
// buffers. Each slice is capped (see Options and the Max constants); what
// a cap left out is counted in a Dropped field.
type Analysis struct {
	// Captures describes what was read: the files, or the interfaces of a
	// live capture, with packet counts and first and last packet times.
	Captures []capture.FileInfo `json:"captures"`
	// Warnings are problems in the input that did not stop the analysis:
	// truncated or malformed records, unknown link types.
	Warnings []capture.Warning `json:"warnings,omitempty"`
	// CaptureDrops counts, per interface of a live capture, the packets
	// lost at the capture point (empty for files).
	CaptureDrops []InterfaceDrops `json:"capture_drops,omitempty"`
	// Stats are the decoder's counters: packets, bytes, messages per
	// protocol, what could not be decoded.
	Stats        decode.Stats   `json:"stats"`
	Transactions []*Transaction `json:"-"` // every STUN/TURN transaction, allocations' included
	Allocations  []*Allocation  `json:"allocations"`
	// ICMPErrors are the ICMP errors that quote a packet of the capture,
	// tied to its transaction or allocation.
	ICMPErrors []*ICMPEvent `json:"-"`
	// SIP and media (filled when the capture holds them).
	SIPTransactions []*SIPTransaction `json:"-"`
	Calls           []*Call           `json:"-"`
	Registrations   []*Registration   `json:"-"`
	Streams         []*Stream         `json:"-"`
	Flows           []*Flow           `json:"-"`
	// SIPKeepAlives summarizes the CRLF keep-alives over UDP and TCP
	// (decode.KindSIPKeepAlive) per flow, in order of the first; beyond
	// MaxSIPKeepAliveFlows flows they are counted in
	// DroppedSIPKeepAlives.
	SIPKeepAlives []*SIPKeepAlives `json:"-"`
	// SIPCopies pairs the SIP messages a capture taken on a box forwarding
	// them without NAT (tcpdump -i any) shows twice on one 5-tuple, per
	// flow and pair of capture points, in order of the first pair; beyond
	// MaxSIPCopyFlows they are left out.
	SIPCopies []*SIPCopies `json:"-"`
	// WebRTC and TLS.
	ICESessions    []*ICESession    `json:"-"`
	TLSConnections []*TLSConnection `json:"-"`
	// Sessions and connections left out beyond MaxICESessions and
	// MaxTLSConnections.
	DroppedICESessions    int `json:"dropped_ice_sessions,omitempty"`
	DroppedTLSConnections int `json:"dropped_tls_connections,omitempty"`
	// DroppedStreams counts RTP streams left out at MaxStreams: retired
	// ones that gave way to new streams. UntrackedRTPPackets counts the
	// packets of new streams that could not be tracked because none had
	// retired.
	DroppedStreams      int    `json:"dropped_streams,omitempty"`
	UntrackedRTPPackets uint64 `json:"untracked_rtp_packets,omitempty"`
	// CredentialsGiven: Options.Credentials were given (the CLI's
	// --turn-credentials), so integrity verdicts in Transaction.Integrity
	// are meaningful.
	CredentialsGiven bool `json:"-"`
	// Snapshot: this is Engine.Snapshot's view of a capture that goes on
	// (a live capture's streamed findings). What has not happened yet may
	// still happen, so a rule must not conclude from an absence near its
	// end: a retry, an answer, a BYE.
	Snapshot bool `json:"-"`

	// Bindings summarizes Binding transactions (ICE checks, keepalives) per
	// client/server/transport flow. Only some Binding transactions are kept
	// in Transactions; these counts cover all of them.
	Bindings []*BindingSummary `json:"bindings,omitempty"`

	// OrphanResponses counts responses whose request was not seen: a capture
	// that starts mid-session, or a request lost before the capture point.
	OrphanResponses      int      `json:"orphan_responses"`
	OrphanResponseFrames []uint64 `json:"-"` // the first MaxFramesPerFinding
	// ICMPErrorCount counts every ICMP error seen; ICMPErrors holds the first
	// MaxICMPEvents of them.
	ICMPErrorCount int `json:"icmp_errors"`
	// UnmatchedChannelData counts ChannelData messages on a 5-tuple where no
	// TURN allocation was seen.
	UnmatchedChannelData uint64 `json:"unmatched_channel_data,omitempty"`
	// DroppedTransactions and DroppedAllocations count records left out once
	// MaxTransactions or MaxAllocations were reached (hostile or huge input).
	DroppedTransactions int `json:"dropped_transactions,omitempty"`
	DroppedAllocations  int `json:"dropped_allocations,omitempty"`
	// OrphanSIPResponses counts SIP responses whose request was not seen;
	// each still makes a SIPTransaction (RequestCount 0).
	OrphanSIPResponses int `json:"orphan_sip_responses,omitempty"`
	// Records left out once MaxSIPTransactions, MaxCalls or
	// MaxRegistrations were reached.
	DroppedSIPTransactions int `json:"dropped_sip_transactions,omitempty"`
	DroppedCalls           int `json:"dropped_calls,omitempty"`
	DroppedRegistrations   int `json:"dropped_registrations,omitempty"`
	// DroppedSIPKeepAlives counts the keep-alives of the flows
	// SIPKeepAlives left out.
	DroppedSIPKeepAlives int `json:"dropped_sip_keepalives,omitempty"`
}

// BindingSummary counts the Binding transactions of one flow: client,
// server and transport.
type BindingSummary struct {
	Client     netip.AddrPort   `json:"client"`
	Server     netip.AddrPort   `json:"server"`
	Transport  decode.Transport `json:"-"`
	Requests   int              `json:"requests"` // transactions, not counting retransmissions
	Answered   int              `json:"answered"`
	Errors     int              `json:"errors"` // of Answered, how many with an error response
	Unanswered int              `json:"unanswered"`
	First      FrameRef         `json:"first"`
	Last       FrameRef         `json:"last"`
	// LastAnswered is the response to the latest-sent Binding request of
	// the flow that was answered (zero when none was). UnansweredSinceAnswer
	// counts the unanswered requests sent after that one: an answer resets
	// it, so a few checks lost mid-call leave it at zero while a path that
	// died keeps counting (consent freshness, RFC 7675 §5.1). Unlike the
	// transactions kept, these cover every request of the flow.
	LastAnswered          FrameRef `json:"last_answered,omitzero"`
	UnansweredSinceAnswer int      `json:"unanswered_since_answer"`
}

// FrameRef points at one frame.
type FrameRef struct {
	Frame uint64    `json:"frame"`
	Time  time.Time `json:"time"`
}

// IntegrityVerdict says whether a request's MESSAGE-INTEGRITY matched the
// credentials given with --turn-credentials.
type IntegrityVerdict uint8

const (
	IntegrityNotChecked IntegrityVerdict = iota // no integrity, or no credentials for that user
	IntegrityMatch                              // computed with a supplied password: the client used it
	IntegrityMismatch                           // the client used another password (or realm)
)

// Transaction is a STUN request and what answered it (RFC 8489 §6.3):
// retransmissions share the transaction ID; the answer may come from another
// address (RFC 5780), so an answer is matched by ID and client address when
// it does not come from the address the request went to.
//
// Text attributes are kept up to the 763 bytes RFC 8489 §14 has receivers
// accept, cut on a UTF-8 boundary beyond.
type Transaction struct {
	ID        stun.TransactionID
	Method    stun.Method
	Transport decode.Transport
	// Classic is an RFC 3489 transaction: its ID is 128 bits, Cookie then
	// holding the first 32 (RFC 8489 §5 has the magic cookie there).
	Classic bool
	Cookie  uint32
	// Narrow fields of the request, here so as not to pad the struct (an
	// Analysis holds one per transaction): CHANNEL-NUMBER, the
	// REQUESTED-TRANSPORT protocol number (17 UDP, 6 TCP, 0 when
	// absent), and whether it had a MESSAGE-INTEGRITY.
	Channel            uint16
	RequestedTransport uint8
	HasIntegrity       bool
	Client             netip.AddrPort // who sent the request
	Server             netip.AddrPort // where it was sent

	Requests     []FrameRef // the request and its retransmissions, the first MaxFramesPerFinding
	RequestCount int        // all of them

	Answered  bool
	Class     stun.Class       // ClassSuccess or ClassError when Answered
	Integrity IntegrityVerdict // of the request's MESSAGE-INTEGRITY, when HasIntegrity
	// seq orders transactions by first appearance; Engine.nextTxSeq
	// renumbers them rather than let it wrap.
	seq          uint32
	Response     FrameRef       // the first response
	ResponseFrom netip.AddrPort // where it came from
	ErrorCode    int
	ErrorReason  string
	RTT          time.Duration // first request to first response

	// From the request.
	Username   string
	Realm      string
	Nonce      string
	Lifetime   int64            // LIFETIME in the request, -1 when absent
	Peers      []netip.AddrPort // XOR-PEER-ADDRESS, the first MaxPeersPerTransaction
	PeersTotal int              // XOR-PEER-ADDRESS attributes in the request, all of them
	Software   string           // SOFTWARE in the request

	// From the response.
	ResponseNonce string // NONCE in an error response (a new challenge)
	Relayed       netip.AddrPort
	Mapped        netip.AddrPort
	GrantedLife   int64 // LIFETIME in a success response, -1 when absent
	// ServerSoftware is SOFTWARE in the response.
	ServerSoftware string
	// Responses counts every response, retransmitted answers included.
	Responses int

	ICMP *ICMPEvent // an ICMP error that quoted one of the requests
}

// Allocation is a TURN allocation attempt and its life (RFC 8656 §7): keyed
// by the client's 5-tuple (client address, server address, transport).
type Allocation struct {
	Client    netip.AddrPort   `json:"client"`
	Server    netip.AddrPort   `json:"server"`
	Transport decode.Transport `json:"-"`
	Username  string           `json:"username,omitempty"`
	Realm     string           `json:"realm,omitempty"`

	// Outcome is one of "allocated", "deleted", "expired", "rejected",
	// "unanswered", "challenged" (only the 401 challenge seen).
	Outcome string         `json:"outcome"`
	Relayed netip.AddrPort `json:"relayed,omitzero"` // XOR-RELAYED-ADDRESS of the success response
	Mapped  netip.AddrPort `json:"mapped,omitzero"`  // XOR-MAPPED-ADDRESS: the client as the server saw it
	// Lifetime is the last nonzero lifetime granted, in seconds, by the
	// success response to the Allocate or a later Refresh (RFC 8656 §7.2):
	// its LIFETIME, else the one requested, else the 600 s default; 0
	// when no success response was seen.
	Lifetime int64 `json:"lifetime_s,omitempty"`

	Attempts    []*Transaction `json:"-"` // the Allocate transactions
	Requests    []*Transaction `json:"-"` // Refresh, CreatePermission, ChannelBind on this 5-tuple
	Refreshes   int            `json:"refreshes"`
	Permissions []Permission   `json:"permissions,omitempty"`
	Channels    []ChannelBind  `json:"channels,omitempty"`
	Sent        RelayCounter   `json:"sent"`     // client to peers: Send indications and ChannelData
	Received    RelayCounter   `json:"received"` // peers to client: Data indications and ChannelData

	First FrameRef `json:"first"`
	Last  FrameRef `json:"last"`

	// Preexisting: no Allocate was seen, the allocation is known from
	// Refresh, CreatePermission, ChannelBind or Send/Data indications on its
	// 5-tuple (the capture started after it was made).
	Preexisting bool `json:"preexisting,omitempty"`
	// Expires is when the last granted lifetime runs out; zero when no
	// lifetime was granted or the allocation was deleted.
	Expires time.Time `json:"expires,omitzero"`
	// Deleted is the success response to the Refresh with LIFETIME 0
	// (RFC 8656 §7.2); zero unless Outcome is "deleted".
	Deleted FrameRef `json:"deleted,omitzero"`
}

// Permission is a peer address the client installed a permission for.
type Permission struct {
	Peer  netip.Addr `json:"peer"`
	Frame uint64     `json:"frame"`
}

// ChannelBind is a channel number bound to a peer (RFC 8656 §11).
type ChannelBind struct {
	Number uint16         `json:"number"`
	Peer   netip.AddrPort `json:"peer"`
	Frame  uint64         `json:"frame"`
}

// RelayCounter counts application data relayed through an allocation.
type RelayCounter struct {
	Packets     uint64 `json:"packets"`
	Bytes       uint64 `json:"bytes"`
	ChannelData uint64 `json:"channel_data"` // of Packets, how many as ChannelData
}

// ICMPEvent is an ICMP/ICMPv6 error tied to the flow whose packet it quotes.
type ICMPEvent struct {
	FrameRef
	From        netip.Addr        // who sent the error
	Description string            // "port unreachable", ...
	Flow        [2]netip.AddrPort // the quoted packet's source and destination
	Transport   decode.Transport
	// Transaction is the STUN transaction it quoted: by transaction ID when
	// the quote held a STUN header, else the latest unanswered request on the
	// quoted flow.
	Transaction *Transaction
	// Allocation is the TURN allocation whose 5-tuple the quoted packet
	// travelled on, in either direction.
	Allocation *Allocation
}
