package rules

import (
	"net/netip"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/diagnose"
)

const (
	agentA = "192.0.2.10:50006"   // the controlling agent's host candidate
	agentB = "198.51.100.7:40000" // the controlled agent's
	turnA  = "203.0.113.5:3478"
)

// icePair is a pair whose checks were sent at frames first, first+1, ...
// from sec on, 0.1 s apart; answered of them were answered, errors of
// those with an error.
func icePair(local, remote string, first uint64, sec float64, checks, answered, errors int) *diagnose.CandidatePair {
	p := &diagnose.CandidatePair{
		Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote), Transport: decode.UDP,
		Checks: checks, Answered: answered, Errors: errors,
		First: ref(first, sec), Last: ref(first+uint64(checks)-1, sec+0.1*float64(checks-1)),
	}
	for i := range checks {
		p.Frames = append(p.Frames, first+uint64(i))
	}
	switch {
	case answered > errors:
		p.State = "succeeded"
	case errors > 0:
		p.State = "failed"
	default:
		p.State = "unanswered"
	}
	return p
}

// iceSession is a session of the given pairs; outcome "connected" selects
// the first succeeded pair.
func iceSession(outcome string, pairs ...*diagnose.CandidatePair) *diagnose.ICESession {
	s := &diagnose.ICESession{LocalUfrag: "lcl", RemoteUfrag: "rmt", Pairs: pairs, Outcome: outcome, ControllingSeen: true, ControlledSeen: true}
	for _, p := range pairs {
		if s.First.Frame == 0 || p.First.Time.Before(s.First.Time) {
			s.First = p.First
		}
		if p.Last.Time.After(s.Last.Time) {
			s.Last = p.Last
		}
		if outcome == "connected" && s.Selected == nil && p.State == "succeeded" {
			p.Nominated, s.Selected = true, p
		}
	}
	return s
}

func iceAnalysis(sessions ...*diagnose.ICESession) *diagnose.Analysis {
	return &diagnose.Analysis{ICESessions: sessions}
}

// failedAllocation is an allocation from agentA to turnA whose Allocate
// (frames 1-3) got no answer, or the answer given by answer.
func failedAllocation(outcome string, answer func(*diagnose.Transaction) *diagnose.Transaction) *diagnose.Allocation {
	t := from(resent(txn(1, stun.MethodAllocate, 1, 0), 2, 0.5, 3, 1.5), agentA, turnA)
	if answer != nil {
		t = answer(t)
	}
	return &diagnose.Allocation{Client: t.Client, Server: t.Server, Transport: decode.UDP, Outcome: outcome,
		Attempts: []*diagnose.Transaction{t}, First: t.Requests[0], Last: t.Requests[len(t.Requests)-1]}
}
