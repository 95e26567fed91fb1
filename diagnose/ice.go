package diagnose

import (
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode"
)

// ICESession is one ICE agent pair's connectivity checking (RFC 8445):
// from SDP (ufrag, candidates) when signalling is visible, and from the
// Binding checks alone otherwise (USERNAME "remote:local", RFC 8445 §7.2.2).
type ICESession struct {
	LocalUfrag, RemoteUfrag string // as the controlling side's checks name them
	Call                    *Call  // the call whose SDP carried the ufrags; nil when none

	Candidates []ICECandidate // from SDP, and peer-reflexive ones learned from checks
	Pairs      []*CandidatePair
	Selected   *CandidatePair // the nominated pair that succeeded; nil when none

	ControllingSeen, ControlledSeen bool
	RoleConflicts                   []FrameRef // 487 Role Conflict answers (RFC 8445 §7.3.1.1)

	// Outcome is "connected" (a pair was nominated and succeeded), "failed"
	// (checks were sent, none succeeded), "checking" (the capture ended
	// while checks went on without success).
	Outcome string
	First   FrameRef
	Last    FrameRef

	// Consent freshness (RFC 7675) on the selected pair after it connected.
	ConsentChecks     int
	ConsentUnanswered int      // checks after the last answered one
	ConsentLost       FrameRef // the first unanswered consent check of the final silence; zero when none

	DTLS []*TLSConnection // DTLS on the selected pair
}

// ICECandidate is a candidate, from SDP or learned (prflx).
type ICECandidate struct {
	Addr       netip.AddrPort
	Transport  decode.Transport
	Type       string // host, srflx, prflx, relay
	Priority   uint32
	Foundation string
	Component  int
	Side       string      // "local" (the offerer's) or "remote"
	Allocation *Allocation // for a relay candidate: the TURN allocation whose XOR-RELAYED-ADDRESS it is
}

// CandidatePair is the checks between two transport addresses (RFC 8445
// §6.1.2). Addresses are as seen on the wire: for a relayed candidate the
// checks travel inside the TURN allocation, and Allocation is set.
type CandidatePair struct {
	Local, Remote netip.AddrPort
	Transport     decode.Transport
	Allocation    *Allocation

	Checks      int // requests, retransmissions included
	Answered    int
	Errors      int
	RTT         time.Duration // of the first successful check
	Nominated   bool          // USE-CANDIDATE seen on a successful check
	State       string        // "succeeded", "failed" (error answers only), "unanswered"
	First, Last FrameRef
	Frames      []uint64 // the first MaxFramesPerFinding
}
