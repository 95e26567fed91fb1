package diagnose

import (
	"iter"
	"slices"
)

// ICESessionReport is one ICE session (RFC 8445) in a report: its
// candidates, the pairs checked, the one selected and consent afterwards.
type ICESessionReport struct {
	LocalUfrag  string `json:"local_ufrag"` // the controlling agent's, as its checks name it
	RemoteUfrag string `json:"remote_ufrag"`
	CallID      string `json:"call_id,omitempty"` // the call whose SDP carried the ufrags
	// Outcome is "connected", "failed" or "checking" (the capture ended
	// while checks went on).
	Outcome         string                `json:"outcome"`
	ControllingSeen bool                  `json:"controlling_seen"`
	ControlledSeen  bool                  `json:"controlled_seen"`
	Candidates      []ICECandidateReport  `json:"candidates"`
	Pairs           []CandidatePairReport `json:"pairs"`
	// SelectedPair indexes Pairs; omitted when no pair was selected.
	// SelectedInferred: no nomination was seen, the pair is the one the
	// controlling agent's checks succeeded on most.
	SelectedPair       *int     `json:"selected_pair,omitempty"`
	SelectedInferred   bool     `json:"selected_inferred,omitempty"`
	RoleConflictFrames []uint64 `json:"role_conflict_frames"` // 487 answers
	// Consent freshness (RFC 7675) on the selected pair: checks after the
	// nomination, how many of the last ones went unanswered, and the first
	// of those.
	ConsentChecks     int    `json:"consent_checks"`
	ConsentUnanswered int    `json:"consent_unanswered"`
	ConsentLostFrame  uint64 `json:"consent_lost_frame,omitempty"`
	// DTLS indexes the report's tls_connections, Streams its streams: what
	// the selected pair carried.
	DTLS    []int `json:"dtls"`
	Streams []int `json:"streams"`
	// With --ice-password: checks whose MESSAGE-INTEGRITY verified, and
	// checks none of the passwords verified.
	IntegrityMatched    int      `json:"integrity_matched,omitempty"`
	IntegrityMismatched int      `json:"integrity_mismatched,omitempty"`
	DroppedPairs        int      `json:"dropped_pairs,omitempty"`
	First               FrameRef `json:"first"`
	Last                FrameRef `json:"last"`
}

// ICECandidateReport is one candidate, from SDP or learned from checks.
type ICECandidateReport struct {
	Side       string `json:"side"` // "local" (the LocalUfrag agent's) or "remote"
	Type       string `json:"type"` // host, srflx, prflx, relay; "" when unknown (no SDP)
	Address    string `json:"address"`
	Transport  string `json:"transport"`
	Priority   uint32 `json:"priority,omitempty"`
	Foundation string `json:"foundation,omitempty"`
	Component  int    `json:"component,omitempty"`
	Learned    bool   `json:"learned,omitempty"` // seen in checks, not in an SDP
	// Allocation indexes the report's allocations: the TURN allocation
	// whose relayed address a relay candidate is.
	Allocation *int `json:"allocation,omitempty"`
}

// CandidatePairReport is the checks between two addresses.
type CandidatePairReport struct {
	Local      string `json:"local"`
	Remote     string `json:"remote"`
	Transport  string `json:"transport"`
	Allocation *int   `json:"allocation,omitempty"` // relayed: index into allocations (the local candidate's when both are relayed)
	// RemoteAllocation: a relay-to-relay pair's remote candidate's
	// allocation, when it is another one than Allocation.
	RemoteAllocation *int     `json:"remote_allocation,omitempty"`
	Checks           int      `json:"checks"` // requests, retransmissions included
	Answered         int      `json:"answered"`
	Errors           int      `json:"errors"`           // of Answered, error responses
	RTTMS            float64  `json:"rtt_ms,omitempty"` // of the first successful check
	Nominated        bool     `json:"nominated"`
	State            string   `json:"state"` // succeeded, failed (error answers only), unanswered
	First            FrameRef `json:"first"`
	Last             FrameRef `json:"last"`
}

// reportIndexes map analysis records to their place in the report's
// arrays, for the cross-references.
type reportIndexes struct {
	allocations map[*Allocation]int
	streams     map[*Stream]int
	tls         map[*TLSConnection]int
	ice         map[*ICESession]int
}

func newReportIndexes(a *Analysis) reportIndexes {
	// The same order, nils skipped, as NewReport and addSIPAndMedia fill
	// allocations and streams.
	return reportIndexes{
		allocations: positions(a.Allocations),
		streams:     positions(a.Streams),
		tls:         positions(a.TLSConnections),
		ice:         positions(a.ICESessions),
	}
}

// countNonNil is how many records of list a report lists: a report's
// slices are made that long at once, not grown a record at a time.
func countNonNil[T any](list []*T) int {
	n := 0
	for _, x := range list {
		if x != nil {
			n++
		}
	}
	return n
}

// positions maps each record of list to its place among the non-nil ones.
func positions[T any](list []*T) map[*T]int {
	m := make(map[*T]int, len(list))
	for _, x := range list {
		if x != nil {
			m[x] = len(m)
		}
	}
	return m
}

func indexOf[K comparable](m map[K]int, k K) *int {
	if i, ok := m[k]; ok {
		return &i
	}
	return nil
}

// addICEAndTLS fills the ICE sessions and TLS connections.
func (r *Report) addICEAndTLS(a *Analysis) {
	ix := newReportIndexes(a)
	r.ICESessions = slices.AppendSeq(make([]ICESessionReport, 0, countNonNil(a.ICESessions)), iceSessionReports(a, ix))
	r.TLSConnections = slices.AppendSeq(make([]TLSConnectionReport, 0, countNonNil(a.TLSConnections)), tlsConnectionReports(a, ix))
}

// iceSessionReports yields the report's ICE sessions in order.
func iceSessionReports(a *Analysis, ix reportIndexes) iter.Seq[ICESessionReport] {
	return func(yield func(ICESessionReport) bool) {
		for _, s := range a.ICESessions {
			if s != nil && !yield(newICESessionReport(s, ix)) {
				return
			}
		}
	}
}

// tlsConnectionReports yields the report's TLS connections in order.
func tlsConnectionReports(a *Analysis, ix reportIndexes) iter.Seq[TLSConnectionReport] {
	return func(yield func(TLSConnectionReport) bool) {
		for _, c := range a.TLSConnections {
			if c != nil && !yield(newTLSConnectionReport(c, ix)) {
				return
			}
		}
	}
}

func newICESessionReport(s *ICESession, ix reportIndexes) ICESessionReport {
	sr := ICESessionReport{
		LocalUfrag: s.LocalUfrag, RemoteUfrag: s.RemoteUfrag, Outcome: s.Outcome,
		ControllingSeen: s.ControllingSeen, ControlledSeen: s.ControlledSeen,
		Candidates: []ICECandidateReport{}, Pairs: []CandidatePairReport{}, SelectedInferred: s.SelectedInferred,
		RoleConflictFrames: []uint64{}, ConsentChecks: s.ConsentChecks, ConsentUnanswered: s.ConsentUnanswered,
		ConsentLostFrame: s.ConsentLost.Frame, DTLS: []int{}, Streams: []int{},
		IntegrityMatched: s.IntegrityMatched, IntegrityMismatched: s.IntegrityMismatched, DroppedPairs: s.DroppedPairs,
		First: utcRef(s.First), Last: utcRef(s.Last),
	}
	if s.Call != nil {
		sr.CallID = s.Call.CallID
	}
	for _, c := range s.Candidates {
		sr.Candidates = append(sr.Candidates, ICECandidateReport{
			Side: c.Side, Type: c.Type, Address: addrPortString(c.Addr), Transport: transportString(c.Transport),
			Priority: c.Priority, Foundation: c.Foundation, Component: c.Component, Learned: c.Learned,
			Allocation: indexOf(ix.allocations, c.Allocation),
		})
	}
	for _, p := range s.Pairs {
		if p == nil {
			continue
		}
		if p == s.Selected {
			i := len(sr.Pairs)
			sr.SelectedPair = &i
		}
		sr.Pairs = append(sr.Pairs, CandidatePairReport{
			Local: addrPortString(p.Local), Remote: addrPortString(p.Remote), Transport: transportString(p.Transport),
			Allocation: indexOf(ix.allocations, p.Allocation), RemoteAllocation: indexOf(ix.allocations, p.RemoteAllocation),
			Checks: p.Checks, Answered: p.Answered, Errors: p.Errors, RTTMS: durationMS(p.RTT),
			Nominated: p.Nominated, State: p.State, First: utcRef(p.First), Last: utcRef(p.Last),
		})
	}
	for _, rc := range s.RoleConflicts {
		sr.RoleConflictFrames = append(sr.RoleConflictFrames, rc.Frame)
	}
	for _, c := range s.DTLS {
		if i := indexOf(ix.tls, c); i != nil {
			sr.DTLS = append(sr.DTLS, *i)
		}
	}
	for _, st := range s.Streams {
		if i := indexOf(ix.streams, st); i != nil {
			sr.Streams = append(sr.Streams, *i)
		}
	}
	return sr
}
