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

	DTLS []*TLSConnection // DTLS on the selected pair (or an earlier nominated or succeeded one)

	// SelectedInferred: no nomination was seen (USE-CANDIDATE, RFC 8445
	// §8.1.1), and Selected is the pair with the most checks from the
	// controlling side answered with success.
	SelectedInferred bool
	// DroppedPairs counts new pairs' checks beyond MaxPairsPerSession.
	DroppedPairs int
	// Streams are the RTP streams on the selected pair: its two addresses,
	// or its TURN allocation.
	Streams []*Stream

	// With --ice-password (Options.ICEPasswords): checks whose
	// MESSAGE-INTEGRITY one of the passwords verified (RFC 8489 §9.1.1),
	// and checks none did. Both zero when no password was given or no
	// check carried MESSAGE-INTEGRITY.
	IntegrityMatched, IntegrityMismatched int
	// LocalPassword and RemotePassword are the index in
	// Options.ICEPasswords of the password that verified the checks sent
	// to that side (its ice-pwd, RFC 8445 §7.2.2); -1 when none did.
	LocalPassword, RemotePassword int
}

// ICECandidate is a candidate, from SDP or learned (prflx).
type ICECandidate struct {
	Addr       netip.AddrPort
	Transport  decode.Transport
	Type       string // host, srflx, prflx, relay
	Priority   uint32
	Foundation string
	Component  int
	Side       string      // "local" (the LocalUfrag side's, usually the offerer's) or "remote"
	Allocation *Allocation // for a relay candidate: the TURN allocation whose XOR-RELAYED-ADDRESS it is
	// Learned: the address was seen in checks, not in an SDP. Its Type is
	// "prflx" when that side's SDP was seen without it, "relay" or "srflx"
	// when it is an allocation's relayed or mapped address, and "" when
	// unknown (no SDP: signalling was not visible).
	Learned bool
}

// CandidatePair is the checks between two transport addresses (RFC 8445
// §6.1.2). Addresses are as seen on the wire: for a relayed candidate the
// checks travel inside the TURN allocation, and Allocation is set.
type CandidatePair struct {
	Local, Remote netip.AddrPort
	Transport     decode.Transport
	// Allocation is the TURN allocation the checks travel through: the
	// local candidate's when it is relayed, else the remote one's.
	Allocation *Allocation
	// RemoteAllocation is set only for a relay-to-relay pair (both agents
	// behind TURN, RFC 8656 §2) whose remote candidate is another
	// allocation's relayed address: each end then has its own allocation,
	// and the checks cross both.
	RemoteAllocation *Allocation

	Checks      int // requests, retransmissions included
	Answered    int
	Errors      int
	RTT         time.Duration // of the first successful check
	Nominated   bool          // USE-CANDIDATE seen on a successful check
	State       string        // "succeeded", "failed" (error answers only), "unanswered"
	First, Last FrameRef
	Frames      []uint64 // the first MaxFramesPerFinding
}
