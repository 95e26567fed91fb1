package diagnose

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	pionstun "github.com/pion/stun/v3"
)

var (
	iceA     = netip.MustParseAddrPort("192.0.2.10:50000")   // controlling agent, ufrag "aaaa"
	iceB     = netip.MustParseAddrPort("203.0.113.20:1000")  // controlled agent, ufrag "bbbb"
	iceBAlt  = netip.MustParseAddrPort("203.0.113.20:1001")  // another candidate of B
	iceBNAT  = netip.MustParseAddrPort("203.0.113.99:40000") // B as seen behind a NAT: peer-reflexive
	icePrio  = uint32(1853817087)
	iceUserA = "bbbb:aaaa" // A's checks name B's ufrag first (RFC 8445 §7.2.2)
	iceUserB = "aaaa:bbbb"
)

func withICE(user string, controlling bool) msgFill {
	return func(m *stun.Message) {
		m.Username, m.HasPriority, m.Priority, m.HasIntegrity = user, true, icePrio, true
		m.IceControlling, m.IceControlled = controlling, !controlling
	}
}

func withUseCandidate() msgFill { return func(m *stun.Message) { m.UseCandidate = true } }

func iceMsg(at float64, src, dst netip.AddrPort, s stun.Message) simEvent {
	return simEvent{at: at, src: src, dst: dst, kind: decode.KindSTUN, stun: s}
}

// checkA is a check from A (controlling) to dst; answerB its success.
func checkA(at float64, id byte, dst netip.AddrPort, fills ...msgFill) simEvent {
	return iceMsg(at, iceA, dst, simRequest(stun.MethodBinding, id, append([]msgFill{withICE(iceUserA, true)}, fills...)...))
}

func answerTo(at float64, from, to netip.AddrPort, id byte) simEvent {
	return iceMsg(at, from, to, simSuccess(stun.MethodBinding, id, func(m *stun.Message) { m.XORMappedAddress = to }))
}

func checkB(at float64, id byte, src, dst netip.AddrPort, fills ...msgFill) simEvent {
	return iceMsg(at, src, dst, simRequest(stun.MethodBinding, id, append([]msgFill{withICE(iceUserB, false)}, fills...)...))
}

func onlySession(t *testing.T, a *Analysis) *ICESession {
	t.Helper()
	if len(a.ICESessions) != 1 {
		t.Fatalf("got %d ICE sessions, want 1", len(a.ICESessions))
	}
	return a.ICESessions[0]
}

func pairBetween(s *ICESession, local, remote netip.AddrPort) *CandidatePair {
	for _, p := range s.Pairs {
		if p.Local == local && p.Remote == remote {
			return p
		}
	}
	return nil
}

func TestICESessions(t *testing.T) {
	// A regular nomination: A checks, B's triggered check, A nominates;
	// then consent checks every 5 s (RFC 7675).
	connected := []simEvent{
		checkA(0, 1, iceB),            // 1
		checkA(0.5, 1, iceB),          // 2 retransmission
		answerTo(0.55, iceB, iceA, 1), // 3
		checkB(0.6, 2, iceB, iceA),    // 4 triggered check
		answerTo(0.62, iceA, iceB, 2), // 5
		checkA(0.7, 3, iceB, withUseCandidate()),
		answerTo(0.75, iceB, iceA, 3), // 7: nominated
		checkA(1, 4, iceBAlt),         // 8: another pair, never answered
	}
	consent := func(answered, unanswered int) []simEvent {
		var evs []simEvent
		at := 5.0
		for i := range answered + unanswered {
			id := byte(10 + i)
			evs = append(evs, checkA(at, id, iceB, withUseCandidate()))
			if i < answered {
				evs = append(evs, answerTo(at+0.05, iceB, iceA, id))
			}
			at += 5
		}
		return evs
	}

	tests := []struct {
		name   string
		events []simEvent
		end    float64
		check  func(t *testing.T, s *ICESession)
	}{{
		name: "connected with consent kept", events: append(slices.Clone(connected), consent(4, 0)...), end: 30,
		check: func(t *testing.T, s *ICESession) {
			if s.LocalUfrag != "aaaa" || s.RemoteUfrag != "bbbb" || !s.ControllingSeen || !s.ControlledSeen {
				t.Errorf("ufrags %q/%q controlling %v controlled %v", s.LocalUfrag, s.RemoteUfrag, s.ControllingSeen, s.ControlledSeen)
			}
			if s.Outcome != "connected" || s.SelectedInferred {
				t.Errorf("outcome %q inferred %v, want connected by nomination", s.Outcome, s.SelectedInferred)
			}
			p := pairBetween(s, iceA, iceB)
			if p == nil || s.Selected != p {
				t.Fatalf("selected %+v, want the A-B pair", s.Selected)
			}
			// Checks in both directions count on the one pair.
			if p.Checks != 4+4 || p.Answered != 3+4 || p.Errors != 0 || !p.Nominated || p.State != "succeeded" {
				t.Errorf("pair checks %d answered %d errors %d nominated %v state %q", p.Checks, p.Answered, p.Errors, p.Nominated, p.State)
			}
			if p.RTT != 550*time.Millisecond {
				t.Errorf("RTT %v, want 550ms (from the first transmission)", p.RTT)
			}
			if p.First.Frame != 1 || !slices.Equal(p.Frames[:3], []uint64{1, 2, 4}) {
				t.Errorf("first %d frames %v", p.First.Frame, p.Frames)
			}
			if other := pairBetween(s, iceA, iceBAlt); other == nil || other.State != "unanswered" || other.Checks != 1 {
				t.Errorf("other pair %+v, want one unanswered check", other)
			}
			if s.ConsentChecks != 4 || s.ConsentUnanswered != 0 || s.ConsentLost.Frame != 0 {
				t.Errorf("consent %d unanswered %d lost %d", s.ConsentChecks, s.ConsentUnanswered, s.ConsentLost.Frame)
			}
			// No SDP: candidates come from checks, types unknown.
			if len(s.Candidates) != 3 {
				t.Fatalf("candidates %+v", s.Candidates)
			}
			for _, c := range s.Candidates {
				if !c.Learned || c.Type != "" {
					t.Errorf("candidate %+v, want learned with unknown type", c)
				}
				if c.Addr == iceA && (c.Side != "local" || c.Priority != icePrio) {
					t.Errorf("A's candidate %+v", c)
				}
			}
		},
	}, {
		name: "consent lost after connected", events: append(slices.Clone(connected), consent(2, 3)...), end: 40,
		check: func(t *testing.T, s *ICESession) {
			if s.Outcome != "connected" || s.ConsentChecks != 5 || s.ConsentUnanswered != 3 {
				t.Errorf("outcome %q consent %d unanswered %d, want connected 5 3", s.Outcome, s.ConsentChecks, s.ConsentUnanswered)
			}
			// Frames: 8 of setup, then 2 answered checks (4 frames): the
			// first silent check is frame 13, at 15 s.
			if s.ConsentLost.Frame != 13 || !s.ConsentLost.Time.Equal(simAt(15)) {
				t.Errorf("consent lost at frame %d %v, want 13", s.ConsentLost.Frame, s.ConsentLost.Time)
			}
		},
	}, {
		name: "a consent check just before the end is not lost", events: append(slices.Clone(connected), consent(2, 1)...), end: 15.5,
		check: func(t *testing.T, s *ICESession) {
			if s.ConsentUnanswered != 0 || s.ConsentLost.Frame != 0 {
				t.Errorf("consent unanswered %d lost %d, want none", s.ConsentUnanswered, s.ConsentLost.Frame)
			}
		},
	}, {
		name: "all checks unanswered: failed",
		events: []simEvent{
			checkA(0, 1, iceB), checkA(0.5, 1, iceB), checkA(1.5, 1, iceB),
			checkA(0.1, 2, iceBAlt), checkB(0.2, 3, iceB, iceA),
		},
		end: 60,
		check: func(t *testing.T, s *ICESession) {
			if s.Outcome != "failed" || s.Selected != nil {
				t.Errorf("outcome %q selected %v, want failed", s.Outcome, s.Selected)
			}
			for _, p := range s.Pairs {
				if p.State != "unanswered" || p.Answered != 0 {
					t.Errorf("pair %v-%v state %q answered %d", p.Local, p.Remote, p.State, p.Answered)
				}
			}
			if p := pairBetween(s, iceA, iceB); p == nil || p.Checks != 4 {
				t.Errorf("A-B pair %+v, want 4 checks (3 transmissions and B's)", p)
			}
		},
	}, {
		name:   "capture ends while checking",
		events: []simEvent{checkA(0, 1, iceB), checkA(0.5, 1, iceB)},
		end:    3,
		check: func(t *testing.T, s *ICESession) {
			if s.Outcome != "checking" {
				t.Errorf("outcome %q, want checking", s.Outcome)
			}
		},
	}, {
		name: "role conflict",
		events: []simEvent{
			checkA(0, 1, iceB),
			iceMsg(0.05, iceB, iceA, simFailure(stun.MethodBinding, 1, 487)),
		},
		end: 60,
		check: func(t *testing.T, s *ICESession) {
			if len(s.RoleConflicts) != 1 || s.RoleConflicts[0].Frame != 2 {
				t.Errorf("role conflicts %+v, want frame 2", s.RoleConflicts)
			}
			p := s.Pairs[0]
			if p.Errors != 1 || p.Answered != 1 || p.State != "failed" || s.Outcome != "failed" {
				t.Errorf("pair errors %d answered %d state %q outcome %q", p.Errors, p.Answered, p.State, s.Outcome)
			}
		},
	}, {
		name: "controlled side seen first: the controlling one is still Local",
		events: []simEvent{
			checkB(0, 1, iceB, iceA), answerTo(0.05, iceA, iceB, 1),
			checkA(0.1, 2, iceB, withUseCandidate()), answerTo(0.15, iceB, iceA, 2),
		},
		end: 10,
		check: func(t *testing.T, s *ICESession) {
			if s.LocalUfrag != "aaaa" || s.Selected == nil || s.Selected.Local != iceA || s.Selected.Remote != iceB {
				t.Errorf("local ufrag %q selected %+v", s.LocalUfrag, s.Selected)
			}
		},
	}, {
		name: "no USE-CANDIDATE seen: selection inferred",
		events: []simEvent{
			checkA(0, 1, iceB), answerTo(0.05, iceB, iceA, 1),
			checkA(0.1, 2, iceBAlt), answerTo(0.15, iceBAlt, iceA, 2),
			checkA(0.2, 3, iceB), answerTo(0.25, iceB, iceA, 3),
		},
		end: 10,
		check: func(t *testing.T, s *ICESession) {
			if s.Outcome != "connected" || !s.SelectedInferred || s.Selected != pairBetween(s, iceA, iceB) {
				t.Errorf("outcome %q inferred %v selected %+v", s.Outcome, s.SelectedInferred, s.Selected)
			}
		},
	}, {
		name: "a non-symmetric answer does not count (RFC 8445 §7.2.5.2.1)",
		events: []simEvent{
			checkA(0, 1, iceB), answerTo(0.05, iceBAlt, iceA, 1),
		},
		end: 60,
		check: func(t *testing.T, s *ICESession) {
			if s.Pairs[0].Answered != 0 || s.Outcome != "failed" {
				t.Errorf("answered %d outcome %q", s.Pairs[0].Answered, s.Outcome)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := simulate(t, NewEngine(Options{}), tt.events, tt.end)
			tt.check(t, onlySession(t, a))
		})
	}
}

// TestICENotChecks: Binding requests that are no ICE checks make no
// session: a STUN server query, a keepalive without PRIORITY, a USERNAME
// without the colon.
func TestICENotChecks(t *testing.T) {
	events := []simEvent{
		iceMsg(0, iceA, iceB, simRequest(stun.MethodBinding, 1)),
		iceMsg(0.1, iceB, iceA, simSuccess(stun.MethodBinding, 1)),
		iceMsg(1, iceA, iceB, simRequest(stun.MethodBinding, 2, func(m *stun.Message) { m.Username = "bbbb:aaaa" })),
		iceMsg(2, iceA, iceB, simRequest(stun.MethodBinding, 3, func(m *stun.Message) {
			m.Username, m.HasPriority = "bbbbaaaa", true
		})),
		iceMsg(3, iceA, iceB, simRequest(stun.MethodAllocate, 4, withICE(iceUserA, true))),
	}
	if a := simulate(t, NewEngine(Options{}), events, 10); len(a.ICESessions) != 0 {
		t.Errorf("got %d ICE sessions from non-checks", len(a.ICESessions))
	}
}

// feedSim observes events without finishing, for tests that add SIP.
func feedSim(e *Engine, events []simEvent) {
	var dm decode.Message
	for i, ev := range events {
		sm := ev.stun
		tr := ev.transport
		if tr == 0 {
			tr = decode.UDP
		}
		dm = decode.Message{
			Packet: decode.Packet{Frame: uint64(1000 + i), Time: simAt(ev.at), Src: ev.src, Dst: ev.dst, Transport: tr},
			Kind:   ev.kind, Channel: ev.channel,
		}
		if ev.kind == decode.KindSTUN {
			dm.STUN = &sm
		}
		e.Observe(&dm)
	}
}

// iceSDP is an SDP with ICE for side ufrag at addr, and more candidates.
func iceSDP(ufrag string, addr netip.AddrPort, fingerprint string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n", addr.Addr(), addr.Addr())
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:secretsecretsecretsecret\r\n", ufrag)
	if fingerprint != "" {
		fmt.Fprintf(&b, "a=fingerprint:%s\r\n", fingerprint)
	}
	fmt.Fprintf(&b, "m=audio %d UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-mux\r\n", addr.Port())
	fmt.Fprintf(&b, "a=candidate:1 1 udp 2130706431 %s %d typ host\r\n", addr.Addr(), addr.Port())
	for _, c := range extra {
		b.WriteString("a=candidate:" + c + "\r\n")
	}
	return b.String()
}

func sipCallWithSDP(offer, answer string) []sipEvent {
	body := func(s string) sipOpt { return func(sp *sipSpec) { sp.body = s } }
	return []sipEvent{
		sipReq(0, sipAlice, sipProxy, "INVITE", "z9hG4bK-1", 1, body(offer)),
		sipResp(0.5, sipProxy, sipAlice, 200, "OK", "INVITE", "z9hG4bK-1", 1, withToTag("b1"), body(answer)),
		sipReq(0.51, sipAlice, sipProxy, "ACK", "z9hG4bK-2", 1, withToTag("b1")),
	}
}

// TestICEWithSDP: the session is tied to the call whose SDPs carried its
// ufrags, SDP candidates keep their types, an address only the checks
// showed is peer-reflexive, and a relay candidate is tied to the TURN
// allocation whose relayed address it is.
func TestICEWithSDP(t *testing.T) {
	e := NewEngine(Options{})
	// The TURN allocation of A's relay candidate.
	feedSim(e, []simEvent{
		fromClient(0, simRequest(stun.MethodAllocate, 0x61, withAuth("u", "r", "n"))),
		fromServer(0.01, simSuccess(stun.MethodAllocate, 0x61, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
		checkA(1, 1, iceBNAT), answerTo(1.05, iceBNAT, iceA, 1),
		checkA(1.1, 2, iceBNAT, withUseCandidate()), answerTo(1.15, iceBNAT, iceA, 2),
	})
	relay := fmt.Sprintf("2 1 udp 16777215 %s %d typ relay raddr 0.0.0.0 rport 0", simRelayAddr.Addr(), simRelayAddr.Port())
	srflx := fmt.Sprintf("3 1 udp 1694498815 %s %d typ srflx raddr %s rport %d", simMappedAddr.Addr(), simMappedAddr.Port(), iceA.Addr(), iceA.Port())
	a := simulateSIP(t, e, sipCallWithSDP(iceSDP("aaaa", iceA, "", relay, srflx), iceSDP("bbbb", iceB, "")), 20)
	s := onlySession(t, a)
	call := onlyCall(t, a)
	if s.Call != call || s.Outcome != "connected" {
		t.Errorf("call %p (want %p) outcome %q", s.Call, call, s.Outcome)
	}
	byAddr := map[netip.AddrPort]ICECandidate{}
	for _, c := range s.Candidates {
		byAddr[c.Addr] = c
	}
	want := []struct {
		addr        netip.AddrPort
		typ, side   string
		learned     bool
		toAlloc     bool
		wantPresent bool
	}{
		{iceA, "host", "local", false, false, true},
		{simRelayAddr, "relay", "local", false, true, true},
		{simMappedAddr, "srflx", "local", false, false, true},
		{iceB, "host", "remote", false, false, true},
		{iceBNAT, "prflx", "remote", true, false, true},
	}
	for _, w := range want {
		c, ok := byAddr[w.addr]
		if !ok {
			t.Errorf("no candidate %v in %+v", w.addr, s.Candidates)
			continue
		}
		if c.Type != w.typ || c.Side != w.side || c.Learned != w.learned || (c.Allocation != nil) != w.toAlloc {
			t.Errorf("candidate %v: type %q side %q learned %v allocation %v", w.addr, c.Type, c.Side, c.Learned, c.Allocation)
		}
		if w.toAlloc && c.Allocation != a.Allocations[0] {
			t.Errorf("relay candidate tied to %p, want the allocation", c.Allocation)
		}
	}
	if len(s.Candidates) != len(want) {
		t.Errorf("%d candidates, want %d: %+v", len(s.Candidates), len(want), s.Candidates)
	}
}

// buildICE builds a real ICE check or answer, signed with password when
// it is not empty.
func buildICE(t *testing.T, class pionstun.MessageClass, id [12]byte, user, password string, useCandidate bool) []byte {
	t.Helper()
	setters := []pionstun.Setter{pionstun.NewTransactionIDSetter(id), pionstun.NewType(pionstun.MethodBinding, class)}
	if class == pionstun.ClassRequest {
		prio := make([]byte, 4)
		prio[0] = 0x6e
		setters = append(setters, pionstun.NewUsername(user),
			pionstun.RawAttribute{Type: pionstun.AttrPriority, Value: prio},
			pionstun.RawAttribute{Type: pionstun.AttrICEControlling, Value: make([]byte, 8)})
		if useCandidate {
			setters = append(setters, pionstun.RawAttribute{Type: pionstun.AttrUseCandidate})
		}
	}
	if password != "" {
		setters = append(setters, pionstun.NewShortTermIntegrity(password))
	}
	setters = append(setters, pionstun.Fingerprint)
	m, err := pionstun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// observeSTUNBytes decodes b as the decoder would and observes it.
func observeSTUNBytes(t *testing.T, e *Engine, frame uint64, at float64, src, dst netip.AddrPort, b []byte) {
	t.Helper()
	var sm stun.Message
	if err := sm.Decode(b); err != nil {
		t.Fatal(err)
	}
	e.Observe(&decode.Message{
		Packet: decode.Packet{Frame: frame, Time: simAt(at), Src: src, Dst: dst, Transport: decode.UDP},
		Kind:   decode.KindSTUN, STUN: &sm, Payload: b,
	})
}

// TestICEPasswords: --ice-password verifies checks' short-term
// MESSAGE-INTEGRITY with the receiver's ice-pwd (RFC 8489 §9.1.1).
func TestICEPasswords(t *testing.T) {
	tests := []struct {
		name                     string
		passwords                []string
		matched, mismatched      int
		localPassword, remotePwd int
	}{
		{"no passwords", nil, 0, 0, -1, -1},
		{"the second password is B's", []string{"wrong", "pwdB"}, 2, 0, -1, 1},
		{"none fits", []string{"wrong"}, 0, 2, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(Options{ICEPasswords: tt.passwords})
			id1, id2 := [12]byte{1}, [12]byte{2}
			observeSTUNBytes(t, e, 1, 0, iceA, iceB, buildICE(t, pionstun.ClassRequest, id1, iceUserA, "pwdB", false))
			observeSTUNBytes(t, e, 2, 0.05, iceB, iceA, buildICE(t, pionstun.ClassSuccessResponse, id1, "", "pwdB", false))
			observeSTUNBytes(t, e, 3, 0.1, iceA, iceB, buildICE(t, pionstun.ClassRequest, id2, iceUserA, "pwdB", true))
			observeSTUNBytes(t, e, 4, 0.15, iceB, iceA, buildICE(t, pionstun.ClassSuccessResponse, id2, "", "pwdB", false))
			s := onlySession(t, e.Finish(simAt(10)))
			if s.IntegrityMatched != tt.matched || s.IntegrityMismatched != tt.mismatched ||
				s.LocalPassword != tt.localPassword || s.RemotePassword != tt.remotePwd {
				t.Errorf("matched %d mismatched %d local %d remote %d, want %d %d %d %d", s.IntegrityMatched, s.IntegrityMismatched,
					s.LocalPassword, s.RemotePassword, tt.matched, tt.mismatched, tt.localPassword, tt.remotePwd)
			}
			if s.Outcome != "connected" || s.Selected == nil || !s.Selected.Nominated {
				t.Errorf("outcome %q selected %+v", s.Outcome, s.Selected)
			}
		})
	}
}

// TestICERelayPair: checks relayed through TURN ChannelData make a pair
// between the relayed address and the peer, tied to the allocation; the
// relay candidate is too.
func TestICERelayPair(t *testing.T) {
	const channel = 0x4001
	id1, id2 := [12]byte{7, 1}, [12]byte{7, 2}
	req := buildICE(t, pionstun.ClassRequest, id1, iceUserA, "", false)
	nom := buildICE(t, pionstun.ClassRequest, id2, iceUserA, "", true)
	resp1 := buildICE(t, pionstun.ClassSuccessResponse, id1, "", "", false)
	resp2 := buildICE(t, pionstun.ClassSuccessResponse, id2, "", "", false)
	cd := func(at float64, up bool, payload []byte) simEvent {
		src, dst := simClientAddr, simServerAddr
		if !up {
			src, dst = dst, src
		}
		return simEvent{at: at, src: src, dst: dst, kind: decode.KindChannelData,
			channel: decode.ChannelData{Number: channel, Length: uint16(len(payload)), Payload: payload}}
	}
	events := []simEvent{
		fromClient(0, simRequest(stun.MethodAllocate, 1, withAuth("u", "r", "n"))),
		fromServer(0.01, simSuccess(stun.MethodAllocate, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
		fromClient(0.02, simRequest(stun.MethodChannelBind, 2, withAuth("u", "r", "n"), withChannel(channel), withPeers(iceB))),
		fromServer(0.03, simSuccess(stun.MethodChannelBind, 2)),
		cd(0.1, true, req),
		cd(0.15, false, resp1),
		cd(0.2, true, nom),
		cd(0.25, false, resp2),
	}
	a := simulate(t, NewEngine(Options{}), events, 10)
	s := onlySession(t, a)
	p := s.Selected
	if p == nil || p.Local != simRelayAddr || p.Remote != iceB || p.Allocation != a.Allocations[0] {
		t.Fatalf("selected %+v, want relayed %v to %v through the allocation", p, simRelayAddr, iceB)
	}
	if p.Checks != 2 || p.Answered != 2 || !p.Nominated || p.RTT != 50*time.Millisecond {
		t.Errorf("checks %d answered %d nominated %v RTT %v", p.Checks, p.Answered, p.Nominated, p.RTT)
	}
	var relay *ICECandidate
	for i := range s.Candidates {
		if s.Candidates[i].Addr == simRelayAddr {
			relay = &s.Candidates[i]
		}
	}
	if relay == nil || relay.Type != "relay" || relay.Allocation != a.Allocations[0] || relay.Side != "local" {
		t.Errorf("relay candidate %+v", relay)
	}
	// ChannelData still counts as relayed data.
	if al := a.Allocations[0]; al.Sent.ChannelData != 2 || al.Received.ChannelData != 2 {
		t.Errorf("allocation sent %+v received %+v", al.Sent, al.Received)
	}
}

// TestICELimits: sessions beyond MaxICESessions and pairs beyond
// MaxPairsPerSession are counted, not kept.
func TestICELimits(t *testing.T) {
	e := NewEngine(Options{})
	var dm decode.Message
	var sm stun.Message
	frame := uint64(0)
	observe := func(src, dst netip.AddrPort, user string, id uint32) {
		frame++
		sm = simRequest(stun.MethodBinding, 0, withICE(user, true))
		sm.Transaction[4], sm.Transaction[5], sm.Transaction[6] = byte(id), byte(id>>8), byte(id>>16)
		dm = decode.Message{Packet: decode.Packet{Frame: frame, Time: simAt(float64(frame) / 1000), Src: src, Dst: dst, Transport: decode.UDP},
			Kind: decode.KindSTUN, STUN: &sm}
		e.Observe(&dm)
	}
	for i := range MaxICESessions + 7 {
		observe(iceA, iceB, fmt.Sprintf("r%d:l%d", i, i), uint32(i))
	}
	for i := range MaxPairsPerSession + 5 {
		observe(iceA, netip.AddrPortFrom(iceB.Addr(), uint16(2000+i)), "r0:l0", uint32(1<<20+i))
	}
	a := e.Finish(simAt(1000))
	if len(a.ICESessions) != MaxICESessions || a.DroppedICESessions != 7 {
		t.Errorf("%d sessions, %d dropped", len(a.ICESessions), a.DroppedICESessions)
	}
	if s := a.ICESessions[0]; len(s.Pairs) != MaxPairsPerSession || s.DroppedPairs != 5+1 {
		t.Errorf("%d pairs, %d dropped", len(s.Pairs), s.DroppedPairs)
	}
}

// TestICERelayToRelayAllocations: with both agents behind TURN the checks
// cross two allocations, and the first one they are seen in says nothing
// about which end is whose. Each candidate is its own allocation's
// relayed address (webrtc-relay.pcap once named the remote's for both).
func TestICERelayToRelayAllocations(t *testing.T) {
	server := netip.MustParseAddrPort("192.0.2.1:3478")
	local := &Allocation{Client: netip.MustParseAddrPort("192.0.2.10:46696"), Server: server, Relayed: netip.MustParseAddrPort("198.51.100.1:49159")}
	remote := &Allocation{Client: netip.MustParseAddrPort("192.0.2.10:43914"), Server: server, Relayed: netip.MustParseAddrPort("198.51.100.1:49156")}
	for _, c := range []struct {
		name     string
		firstVia *Allocation
	}{
		{"first seen in the remote's allocation", remote},
		{"first seen in the local's allocation", local},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := NewEngine(Options{})
			e.analysis.Allocations = []*Allocation{local, remote}
			at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, via := range []*Allocation{c.firstVia, local, remote} {
				m := &stun.Message{Method: stun.MethodBinding, Class: stun.ClassRequest, Username: "rZHR:jciM",
					HasPriority: true, IceControlling: true, UseCandidate: true, Transaction: [12]byte{byte(i + 1)}}
				pkt := &decode.Packet{Frame: uint64(i + 1), Time: at.Add(time.Duration(i) * time.Millisecond)}
				e.iceRequest(pkt, m, local.Relayed, remote.Relayed, decode.UDP, via)
			}
			e.finishICE(at.Add(time.Minute))
			s := onlySession(t, &e.analysis)
			if len(s.Pairs) != 1 {
				t.Fatalf("%d pairs, want 1", len(s.Pairs))
			}
			for _, c := range s.Candidates {
				if want := map[netip.AddrPort]*Allocation{local.Relayed: local, remote.Relayed: remote}[c.Addr]; c.Allocation != want || c.Type != "relay" {
					t.Errorf("%s candidate %v: %s, allocation %v, want relay of %v", c.Side, c.Addr, c.Type, c.Allocation, want)
				}
			}
			p := s.Pairs[0]
			if p.Local != local.Relayed || p.Allocation != local || p.RemoteAllocation != remote {
				t.Errorf("pair %v → %v: allocation %v, remote allocation %v; want the local's (%v) and the remote's (%v)",
					p.Local, p.Remote, p.Allocation, p.RemoteAllocation, local.Client, remote.Client)
			}
		})
	}
}
