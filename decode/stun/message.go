// Package stun decodes STUN and TURN messages (RFC 8489, RFC 8656, RFC 6062,
// RFC 8445's ICE attributes) and classic RFC 3489 messages, on top of
// github.com/pion/stun/v3.
//
// One Message is reused for every packet: Decode resets it, and its slices
// and strings point into the packet's bytes or into buffers owned by the
// Message, valid until the next Decode.
package stun

import (
	"net/netip"

	pionstun "github.com/pion/stun/v3"
)

// Method is a STUN method number (RFC 8489 §5, IANA "STUN Methods").
type Method uint16

const (
	MethodBinding           Method = 0x001
	MethodSharedSecret      Method = 0x002 // RFC 3489 only
	MethodAllocate          Method = 0x003
	MethodRefresh           Method = 0x004
	MethodSend              Method = 0x006
	MethodData              Method = 0x007
	MethodCreatePermission  Method = 0x008
	MethodChannelBind       Method = 0x009
	MethodConnect           Method = 0x00a // RFC 6062
	MethodConnectionBind    Method = 0x00b // RFC 6062
	MethodConnectionAttempt Method = 0x00c // RFC 6062
)

// Class is a STUN message class (RFC 8489 §5).
type Class uint8

const (
	ClassRequest Class = iota
	ClassIndication
	ClassSuccess
	ClassError
)

// String gives the names used in callscope's JSON: request, indication,
// success, error.
func (c Class) String() string {
	switch c {
	case ClassRequest:
		return "request"
	case ClassIndication:
		return "indication"
	case ClassSuccess:
		return "success"
	}
	return "error"
}

// TransactionID is the 96-bit transaction ID of RFC 8489, or, for a classic
// RFC 3489 message, the last 96 bits of its 128-bit ID (the first 32 bits
// stand where the magic cookie would be and are kept in Message.Cookie).
type TransactionID [12]byte

// Message is a decoded STUN message.
//
// Fields for attributes that may appear more than once (except
// XOR-PEER-ADDRESS) hold the first occurrence, as RFC 8489 §14 receivers
// use it.
type Message struct {
	// HeaderOK says the 20-byte header was readable: Type, Method, Class,
	// Classic, Cookie, Length and Transaction are valid even when Decode
	// returned an error about the attributes.
	HeaderOK bool

	Raw         []byte // the whole message, header included
	Type        uint16 // the raw message type field
	Method      Method
	Class       Class
	Classic     bool   // RFC 3489: no magic cookie
	Cookie      uint32 // the magic cookie, or the first 32 bits of a classic transaction ID
	Transaction TransactionID
	Length      uint16 // the header's length field: attribute bytes after the header

	// Attributes lists every attribute type in order of appearance, as
	// sent (0x8020 stays 0x8020). An attribute whose length overruns the
	// message is listed too: it is the one the error names.
	Attributes []pionstun.AttrType

	ErrorCode   int    // 0 when there is no ERROR-CODE attribute
	ErrorReason string // the reason phrase, as sent

	Username string
	Realm    string
	Nonce    string
	Software string

	MappedAddress      netip.AddrPort // MAPPED-ADDRESS
	XORMappedAddress   netip.AddrPort // XOR-MAPPED-ADDRESS
	XORRelayedAddress  netip.AddrPort // XOR-RELAYED-ADDRESS
	XORPeerAddresses   []netip.AddrPort
	ResponseOrigin     netip.AddrPort
	OtherAddress       netip.AddrPort
	HasLifetime        bool
	Lifetime           uint32 // seconds
	RequestedTransport uint8  // protocol number, 17 for UDP; 0 when absent
	HasChannelNumber   bool
	ChannelNumber      uint16
	AlternateServer    netip.AddrPort // ALTERNATE-SERVER (RFC 8489 §14.15), with 300 Try Alternate
	PasswordAlgorithm  uint16         // PASSWORD-ALGORITHM (RFC 8489 §14.12): 1 MD5, 2 SHA-256; 0 when absent

	// Data is the DATA attribute's value (Send and Data indications,
	// RFC 8656 §14.4), nil when absent. It points into Raw.
	Data []byte

	HasIntegrity       bool // MESSAGE-INTEGRITY
	HasIntegritySHA256 bool // MESSAGE-INTEGRITY-SHA256
	HasFingerprint     bool
	// ICE (RFC 8445 §16.1)
	HasPriority    bool
	Priority       uint32
	UseCandidate   bool
	IceControlling bool
	IceControlled  bool
	IceTieBreaker  uint64

	integrityAt   int // offset of MESSAGE-INTEGRITY, 0 when absent
	sha256At      int // offset of MESSAGE-INTEGRITY-SHA256, 0 when absent
	fingerprintAt int // offset of the first FINGERPRINT, 0 when absent

	// state outlives reset: it is shared by copies of the Message, so that
	// resetting costs a clear of the fields above, not a copy of caches.
	state *messageState
}

// messageState is what a Message keeps from one Decode to the next.
type messageState struct {
	strings recentStrings
	mac     macCache
}

// String returns the RFC name of a method ("Binding", "Allocate",
// "CreatePermission", ...), or "0x%03x" for one without a name.
func (m Method) String() string {
	switch m {
	case MethodBinding:
		return "Binding"
	case MethodSharedSecret:
		return "SharedSecret"
	case MethodAllocate:
		return "Allocate"
	case MethodRefresh:
		return "Refresh"
	case MethodSend:
		return "Send"
	case MethodData:
		return "Data"
	case MethodCreatePermission:
		return "CreatePermission"
	case MethodChannelBind:
		return "ChannelBind"
	case MethodConnect:
		return "Connect"
	case MethodConnectionBind:
		return "ConnectionBind"
	case MethodConnectionAttempt:
		return "ConnectionAttempt"
	}
	const hex = "0123456789abcdef"
	return string([]byte{'0', 'x', hex[m>>8&0xf], hex[m>>4&0xf], hex[m&0xf]})
}
