package diagnose

import (
	"net/netip"
	"strings"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

// Limits on ICE reconstruction, so that memory follows the active sessions
// and not the capture's length or a hostile stream of made-up ufrags.
const (
	// MaxICESessions bounds Analysis.ICESessions; checks of later sessions
	// are counted in Analysis.DroppedICESessions.
	MaxICESessions = 5_000
	// MaxPairsPerSession bounds ICESession.Pairs: a WebRTC agent forms at
	// most a few dozen pairs (RFC 8445 §6.1.2.5 prunes the rest);
	// checks on further pairs are counted in ICESession.DroppedPairs.
	MaxPairsPerSession = 50
	// MaxCandidatesPerSession bounds ICESession.Candidates.
	MaxCandidatesPerSession = 64
	// ICECheckingGrace is how recent the last check must be, at the end of
	// the capture, for a session without a successful pair to count as
	// still "checking" rather than "failed": RFC 8489 §6.2.1 spaces
	// retransmissions up to 8 s apart before the last 16 s wait.
	ICECheckingGrace = 10 * time.Second
	// ICEConsentAnswerWait is how long before the end of the capture a
	// consent check must have been sent to count as unanswered: an answer
	// may just not have made it into the capture.
	ICEConsentAnswerWait = 2 * time.Second

	// maxOpenICEChecks bounds the checks waiting for (or lingering after)
	// their answer.
	maxOpenICEChecks = 50_000
	// maxUfragBytes is RFC 8839 §5.4's ice-char limit for ufrags (256).
	maxUfragBytes = 256
)

// iceState is the engine's ICE correlation state.
type iceState struct {
	sessions map[ufragPair]*iceSession
	list     []*iceSession

	// Checks are matched to their answers by transaction ID and the exact
	// pair of addresses: RFC 8445 §7.2.5.2.1 fails a check whose answer
	// comes from elsewhere, so there is no by-ID fallback as for TURN.
	checks map[iceCheckKey]*iceCheck
	// checkOrder queues each check's key with the time it was sent.
	checkOrder lingerQueue[iceCheckKey]

	// relayed decodes STUN carried in TURN ChannelData or Send/Data
	// indications (checks on a relay candidate).
	relayed stun.Message

	passwordKeys [][]byte // ShortTermKey of each Options.ICEPasswords
	dropped      int
}

// ufragPair is a session's key: the two ufrags, lo < hi, so that checks in
// both directions ("b:a" from a, "a:b" from b) find the same session.
type ufragPair struct{ lo, hi string }

// iceSession is an ICESession's correlation state. Sides are numbered by
// ufrag: 0 the lo one, 1 the hi one; the record's Local side is decided
// at the end (see lead).
type iceSession struct {
	s     *ICESession
	key   ufragPair
	pairs map[icePairKey]*icePair
	order []*icePair

	// lead is the side whose ufrag becomes LocalUfrag: the side seen
	// sending ICE-CONTROLLING, else the side the controlled one names,
	// else the first check's sender. leadStrength says which.
	lead, leadStrength int

	learned    map[netip.AddrPort]*learnedCandidate
	learnOrder []netip.AddrPort

	// nominated is the latest pair whose USE-CANDIDATE check succeeded.
	nominated *icePair
	lastCheck time.Time

	// Integrity with Options.ICEPasswords: a check sent to side i is keyed
	// with side i's ice-pwd (RFC 8445 §7.2.2).
	password        [2]int // index+1 of the password that verified checks to that side; 0 none
	integrityOK     int
	integrityFailed int
}

// learnedCandidate is a transport address seen in checks.
type learnedCandidate struct {
	side      int
	transport decode.Transport
	priority  uint32 // PRIORITY of a check it sent (RFC 8445 §7.1.1); 0 when it sent none
	relayedBy *Allocation
}

// icePairKey is a pair by its two addresses, each on its side.
type icePairKey struct {
	lo, hi    netip.AddrPort // the addresses of side 0 and side 1
	transport decode.Transport
}

type icePair struct {
	p   *CandidatePair
	key icePairKey

	successes   int
	successesBy [2]int // by the side that sent the check
	lastSuccess time.Time
	nominatedAt time.Time
	// consent counts, per sending side, the checks after the pair was
	// nominated (RFC 7675 §5.1).
	consent [2]consentTrack
}

// consentTrack follows one side's consent checks on one pair: sequence
// numbers from 1, the highest answered, and the first check sent after
// it (the start of the final silence, if nothing answers again).
type consentTrack struct {
	sent, answered int
	firstAfter     FrameRef
	recent         [2]consentSent // the latest two checks, to find firstAfter when an answer is late
}

type consentSent struct {
	seq int
	ref FrameRef
}

type iceCheckKey struct {
	id        stun.TransactionID
	src, dst  netip.AddrPort
	transport decode.Transport
}

// iceCheck is one check transaction in flight or lingering.
type iceCheck struct {
	sess         *iceSession
	pair         *icePair
	side         int // the sender's
	sent         time.Time
	useCandidate bool
	consent      int // sequence number among the pair's consent checks of side; 0 when not one
	answered     bool
}

func newICEState(passwords []string) iceState {
	st := iceState{}
	for _, p := range passwords {
		st.passwordKeys = append(st.passwordKeys, stun.ShortTermKey(p))
	}
	return st
}

// observeICE follows a Binding message that may be an ICE connectivity
// check or its answer. src and dst are the addresses the check travelled
// between: the packet's, or for a check relayed through TURN the relayed
// address and the peer (via is then the allocation).
func (e *Engine) observeICE(pkt *decode.Packet, s *stun.Message, src, dst netip.AddrPort, transport decode.Transport, via *Allocation) {
	if s.Method != stun.MethodBinding || s.Classic {
		return
	}
	ic := &e.ice
	ic.expire(pkt.Time)
	switch s.Class {
	case stun.ClassRequest:
		e.iceRequest(pkt, s, src, dst, transport, via)
	case stun.ClassSuccess, stun.ClassError:
		ic.response(pkt, s, src, dst, transport)
	}
}

// iceRequest accounts a check: a Binding request with USERNAME
// "rfrag:lfrag" (RFC 8445 §7.2.2) and an ICE attribute (PRIORITY is
// mandatory in checks, §7.1.1), which tells it from a plain STUN Binding
// to a server or a TURN server's keepalive.
func (e *Engine) iceRequest(pkt *decode.Packet, s *stun.Message, src, dst netip.AddrPort, transport decode.Transport, via *Allocation) {
	ic := &e.ice
	rfrag, lfrag, ok := strings.Cut(s.Username, ":")
	if !ok || rfrag == "" || lfrag == "" || len(rfrag) > maxUfragBytes || len(lfrag) > maxUfragBytes ||
		!(s.HasPriority || s.IceControlling || s.IceControlled) {
		return
	}
	ref := FrameRef{Frame: pkt.Frame, Time: pkt.Time}
	key := iceCheckKey{id: s.Transaction, src: src, dst: dst, transport: transport}
	if ck := ic.checks[key]; ck != nil {
		// A retransmission (RFC 8489 §6.2.1), or the same check seen again
		// on the other side of a TURN server.
		ck.pair.touch(ref)
		ck.pair.p.Checks++
		return
	}
	sess := ic.session(lfrag, rfrag, ref)
	if sess == nil {
		return
	}
	side := 0
	if lfrag != sess.key.lo {
		side = 1
	}
	s2 := sess.s
	s2.Last = ref
	sess.lastCheck = pkt.Time
	switch {
	case s.IceControlling:
		s2.ControllingSeen = true
		sess.setLead(side, 2)
	case s.IceControlled:
		s2.ControlledSeen = true
		sess.setLead(1-side, 1)
	default:
		sess.setLead(side, 0)
	}

	pk := icePairKey{lo: src, hi: dst, transport: transport}
	if side == 1 {
		pk.lo, pk.hi = dst, src
	}
	pair := sess.pair(pk, ref)
	if pair == nil {
		return
	}
	if via != nil && pair.p.Allocation == nil {
		pair.p.Allocation = via
	}
	pair.touch(ref)
	pair.p.Checks++
	sess.learn(src, side, transport, s.Priority, via)
	sess.learn(dst, 1-side, transport, 0, nil)

	ck := &iceCheck{sess: sess, pair: pair, side: side, sent: pkt.Time, useCandidate: s.UseCandidate}
	if !pair.nominatedAt.IsZero() && pkt.Time.After(pair.nominatedAt) {
		ck.consent = pair.consent[side].sentCheck(ref)
	}
	if len(ic.passwordKeys) > 0 && (s.HasIntegrity || s.HasIntegritySHA256) {
		ic.verify(sess, s, 1-side)
	}
	ic.open(key, ck)
}

// session finds or starts the session of a check from lfrag to rfrag.
func (ic *iceState) session(lfrag, rfrag string, ref FrameRef) *iceSession {
	k := ufragPair{lo: lfrag, hi: rfrag}
	if k.hi < k.lo {
		k.lo, k.hi = k.hi, k.lo
	}
	if sess := ic.sessions[k]; sess != nil {
		return sess
	}
	if len(ic.list) >= MaxICESessions {
		ic.dropped++
		return nil
	}
	if ic.sessions == nil {
		ic.sessions = make(map[ufragPair]*iceSession)
	}
	// The decoder's strings are fresh copies (see keptText): keeping a cut
	// of the USERNAME would pin nothing larger than maxTextBytes.
	k.lo, k.hi = strings.Clone(k.lo), strings.Clone(k.hi)
	sess := &iceSession{
		s:            &ICESession{First: ref, Last: ref},
		key:          k,
		pairs:        make(map[icePairKey]*icePair),
		learned:      make(map[netip.AddrPort]*learnedCandidate),
		leadStrength: -1,
	}
	ic.sessions[k] = sess
	ic.list = append(ic.list, sess)
	return sess
}

func (sess *iceSession) setLead(side, strength int) {
	if strength > sess.leadStrength {
		sess.lead, sess.leadStrength = side, strength
	}
}

func (sess *iceSession) pair(k icePairKey, ref FrameRef) *icePair {
	if p := sess.pairs[k]; p != nil {
		return p
	}
	if len(sess.order) >= MaxPairsPerSession {
		sess.s.DroppedPairs++
		return nil
	}
	p := &icePair{key: k, p: &CandidatePair{Transport: k.transport, State: "unanswered", First: ref, Last: ref}}
	sess.pairs[k] = p
	sess.order = append(sess.order, p)
	return p
}

func (p *icePair) touch(ref FrameRef) {
	p.p.Last = ref
	if len(p.p.Frames) < MaxFramesPerFinding {
		p.p.Frames = append(p.p.Frames, ref.Frame)
	}
}

// learn records an address seen in a check as a candidate of side.
func (sess *iceSession) learn(addr netip.AddrPort, side int, transport decode.Transport, priority uint32, via *Allocation) {
	if lc := sess.learned[addr]; lc != nil {
		if lc.priority == 0 {
			lc.priority = priority
		}
		if lc.relayedBy == nil {
			lc.relayedBy = via
		}
		return
	}
	if len(sess.learnOrder) >= MaxCandidatesPerSession {
		return
	}
	sess.learned[addr] = &learnedCandidate{side: side, transport: transport, priority: priority, relayedBy: via}
	sess.learnOrder = append(sess.learnOrder, addr)
}

// sentCheck numbers a consent check.
func (c *consentTrack) sentCheck(ref FrameRef) int {
	c.sent++
	if c.sent == c.answered+1 {
		c.firstAfter = ref
	}
	c.recent[0], c.recent[1] = c.recent[1], consentSent{seq: c.sent, ref: ref}
	return c.sent
}

// answeredCheck records the success answer to consent check seq: the
// silence, if any, now starts after it.
func (c *consentTrack) answeredCheck(seq int) {
	if seq <= c.answered {
		return
	}
	c.answered = seq
	c.firstAfter = FrameRef{}
	for _, r := range c.recent {
		if r.seq == seq+1 {
			c.firstAfter = r.ref
		}
	}
}

func (ic *iceState) open(key iceCheckKey, ck *iceCheck) {
	if ic.checks == nil {
		ic.checks = make(map[iceCheckKey]*iceCheck)
	}
	ic.checks[key] = ck
	ic.checkOrder.push(key, ck.sent)
	for len(ic.checks) > maxOpenICEChecks && !ic.checkOrder.empty() {
		ic.pop()
	}
}

// expire forgets checks sent TransactionLinger ago: their retransmissions
// and answers are over (RFC 8489 §6.2.1).
func (ic *iceState) expire(now time.Time) {
	for !ic.checkOrder.empty() && now.Sub(ic.checkOrder.peek().since) >= TransactionLinger {
		ic.pop()
	}
}

func (ic *iceState) pop() {
	q := ic.checkOrder.pop()
	if ck := ic.checks[q.item]; ck != nil && ck.sent.Equal(q.since) {
		delete(ic.checks, q.item)
	}
}

// response accounts the answer to a check; src and dst are the answer's.
func (ic *iceState) response(pkt *decode.Packet, s *stun.Message, src, dst netip.AddrPort, transport decode.Transport) {
	ck := ic.checks[iceCheckKey{id: s.Transaction, src: dst, dst: src, transport: transport}]
	if ck == nil || ck.answered {
		// Not a check we saw, or a retransmitted answer: the first stands.
		return
	}
	ck.answered = true
	ref := FrameRef{Frame: pkt.Frame, Time: pkt.Time}
	pair, sess := ck.pair, ck.sess
	p := pair.p
	p.Answered++
	p.Last = ref
	sess.s.Last = ref
	if s.Class == stun.ClassError {
		p.Errors++
		if s.ErrorCode == 487 && len(sess.s.RoleConflicts) < MaxFramesPerFinding {
			sess.s.RoleConflicts = append(sess.s.RoleConflicts, ref)
		}
		return
	}
	if pair.successes == 0 {
		if rtt := pkt.Time.Sub(ck.sent); rtt > 0 {
			p.RTT = rtt
		}
	}
	pair.successes++
	pair.successesBy[ck.side]++
	pair.lastSuccess = pkt.Time
	if ck.consent > 0 {
		pair.consent[ck.side].answeredCheck(ck.consent)
	}
	// Only the controlling agent sends USE-CANDIDATE (RFC 8445 §8.1.1);
	// its success nominates the pair, and a later nomination of another
	// pair (renomination) moves the selection.
	if ck.useCandidate && sess.nominated != pair {
		p.Nominated = true
		sess.nominated = pair
		pair.nominatedAt = pkt.Time
		pair.consent = [2]consentTrack{}
	}
}

// verify checks a check's MESSAGE-INTEGRITY against the given passwords
// (short-term credentials, RFC 8489 §9.1.1): the one that verified checks
// to this side before is tried first.
func (ic *iceState) verify(sess *iceSession, s *stun.Message, toSide int) {
	if i := sess.password[toSide]; i > 0 {
		if checked, ok := s.CheckIntegrity(ic.passwordKeys[i-1]); checked && ok {
			sess.integrityOK++
			return
		}
	}
	checkedAny := false
	for i, key := range ic.passwordKeys {
		checked, ok := s.CheckIntegrity(key)
		checkedAny = checkedAny || checked
		if checked && ok {
			sess.password[toSide] = i + 1
			sess.integrityOK++
			return
		}
	}
	if checkedAny {
		sess.integrityFailed++
	}
}
