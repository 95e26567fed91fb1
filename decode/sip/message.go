// Package sip scans SIP messages (RFC 3261) without allocating: every field
// of Message is a slice of the message's own bytes, valid until the next
// Parse. Header names are matched case-insensitively, compact forms
// (RFC 3261 §7.3.3) included, and folded header lines are joined logically.
package sip

// Message is one SIP request or response. Fields are views into Raw; a
// field that is absent is nil. Parse resets every field.
//
// Vias, Challenge and Authorization point into storage inside the Message
// itself, so Parse allocates nothing: copy a Message by value only to read
// it, never to keep it across the next Parse of the original.
type Message struct {
	// Raw is the message: start line, headers and the body as far as
	// Content-Length (RFC 3261 §18.3: extra datagram bytes are discarded),
	// or as much of the body as the input holds.
	Raw []byte

	// StartLineOK says the start line parsed, so IsRequest, Method,
	// RequestURI, StatusCode and Reason are valid; Parse returns an error
	// exactly when it is false.
	StartLineOK bool

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
	UserAgent []byte   // User-Agent (requests) or Server (responses); the other one when the preferred is absent
	uaFits    bool     // UserAgent came from the header that fits the message

	// ContactStar is a "Contact: *" (RFC 3261 §10.2.2: remove all bindings).
	ContactStar bool
	// ContactExpires is the first Contact's expires parameter, which
	// overrides the Expires header for that binding (RFC 3261 §10.2.1.1);
	// -1 when absent.
	ContactExpires int

	// Vias in order; the first is the topmost (the last hop's). At most
	// MaxVias are kept; NumVias counts them all.
	Vias    []Via
	NumVias int
	vias    [MaxVias]Via

	RecordRoutes int // how many Record-Route header values

	// Authentication: WWW-Authenticate/Proxy-Authenticate in 401/407
	// responses, Authorization/Proxy-Authorization in requests. The response
	// digest is never kept (it is a credential).
	// Only the first of each is kept.
	Challenge     *Auth // nil when absent; points into the Message
	Authorization *Auth
	challenge     Auth
	authorization Auth

	ContentType   []byte
	ContentLength int    // -1 when absent
	ReasonHeader  []byte // the Reason header's value (RFC 3326); see ReasonParts
	Body          []byte // what follows the blank line, as much as the message holds
	// HeaderLen is where the body starts in the bytes given to Parse:
	// leading CRLFs, start line, headers and the empty line. A datagram's
	// real body is therefore everything after HeaderLen, however long
	// Content-Length says it is (Body stops at Content-Length). It is 0
	// when the headers did not end, so there is no body to measure.
	HeaderLen int

	// Defects counts what Parse skipped or could not read after the start
	// line (a header line without a colon, a CSeq that is not a number, ...)
	// and Defect describes the first; Defect.Reason is empty when there is
	// none. A message with defects is still usable, as Wireshark shows it.
	Defects int
	Defect  ParseError
}

// MaxVias is how many Via values a Message keeps.
const MaxVias = 8

// NameAddr is a From/To/Contact value.
type NameAddr struct {
	URI  []byte // inside <...>, or the bare addr-spec
	User []byte // the user part of the URI
	Host []byte // host[:port] of the URI
	Tag  []byte // the tag parameter

	// Display is the display name, without quotes when it was quoted
	// (backslash escapes are left as they are).
	Display []byte
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
// without the response digest and cnonce. Quoted values are given without
// their quotes, backslash escapes left as they are.
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

	// Proxy says the header was Proxy-Authenticate or Proxy-Authorization
	// (a 407 challenge, RFC 3261 §22.3), not WWW-Authenticate or
	// Authorization.
	Proxy bool
}
