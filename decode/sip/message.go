// Package sip scans SIP messages (RFC 3261) without allocating: every field
// of Message is a slice of the message's own bytes, valid until the next
// Parse. Header names are matched case-insensitively, compact forms
// (RFC 3261 §7.3.3) included, and folded header lines are joined logically.
package sip

// Message is one SIP request or response. Fields are views into Raw; a
// field that is absent is nil. Parse resets every field.
type Message struct {
	Raw []byte // the whole message: start line, headers and body

	IsRequest  bool
	Method     []byte // requests: "INVITE", "REGISTER", ...
	RequestURI []byte
	StatusCode int    // responses: 100-699
	Reason     []byte // responses: the reason phrase

	CallID    []byte
	CSeq      uint32
	CSeqMeth  []byte // the CSeq header's method
	From      NameAddr
	To        NameAddr
	Contact   NameAddr // the first Contact
	Expires   int      // the Expires header; -1 when absent
	MaxFwds   int      // -1 when absent
	UserAgent []byte   // User-Agent (requests) or Server (responses)

	// Vias in order; the first is the topmost (the last hop's).
	Vias    []Via
	NumVias int

	RecordRoutes int // how many Record-Route header values

	// Authentication: WWW-Authenticate/Proxy-Authenticate in 401/407
	// responses, Authorization/Proxy-Authorization in requests. The response
	// digest is never kept (it is a credential).
	Challenge     *Auth // nil when absent; points into the Message
	Authorization *Auth

	ContentType   []byte
	ContentLength int // -1 when absent
	ReasonHeader  []byte
	Body          []byte // what follows the blank line, as much as the message holds
}

// NameAddr is a From/To/Contact value.
type NameAddr struct {
	URI  []byte // inside <...>, or the bare addr-spec
	User []byte // the user part of the URI
	Host []byte // host[:port] of the URI
	Tag  []byte // the tag parameter
}

// Via is one Via header value (RFC 3261 §20.42, RFC 3581 rport).
type Via struct {
	Transport []byte // "UDP", "TCP", "TLS", "WS", ...
	SentBy    []byte // host[:port]
	Branch    []byte
	Received  []byte
	RPort     []byte // the rport value; empty slice (not nil) when rport has no value
}

// Auth is a digest challenge or credentials (RFC 3261 §22, RFC 7616),
// without the response digest.
type Auth struct {
	Scheme    []byte // "Digest"
	Username  []byte
	Realm     []byte
	Nonce     []byte
	Algorithm []byte
	QOP       []byte
	Opaque    bool
	Stale     bool
	URI       []byte
}
