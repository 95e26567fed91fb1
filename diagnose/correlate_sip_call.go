package diagnose

import (
	"slices"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
)

// callState is a Call being correlated.
type callState struct {
	call *Call
	// lastInitial is the latest INVITE from the caller outside the dialog
	// (no To tag): the first one or its retries after a challenge. Its final
	// response decides the outcome unless an earlier one was answered.
	lastInitial *SIPTransaction
	answered    bool
	ringing     bool // an 18x to an initial INVITE was seen
	// cancelled: the caller sent a CANCEL (RFC 3261 §9.1); the 487 that
	// follows is then the expected end, not a failure.
	cancelled    bool
	cancelReason string // the CANCEL's Reason header
	byeReason    string // the BYE's Reason header
	// offerInRequest: the offer came in a request (INVITE), so its answer
	// comes in a response; else (a late offer in the 2xx, §13.2.1) the
	// answer comes in the ACK.
	offerInRequest bool
}

// callRequest ties a new request transaction to its call, cs, the call of
// its Call-ID when known: an INVITE with a new Call-ID starts one; other
// requests join a known call only.
func (e *Engine) callRequest(st *openSIPTx, m *decode.Message, cs *callState) {
	s := &e.sip
	tx := st.tx
	if cs == nil {
		if tx.Method != "INVITE" || tx.CallID == "" {
			return
		}
		if len(s.callList) >= s.maxCalls {
			e.analysis.DroppedCalls++
			return
		}
		cs = &callState{call: &Call{
			CallID:    tx.CallID,
			From:      tx.FromURI,
			To:        tx.ToURI,
			Caller:    m.Src,
			Callee:    m.Dst,
			Transport: m.Transport,
			Invite:    frameRef(m),
			// An INVITE with a To tag is inside a dialog (§12.2.1.1): the
			// call was set up before the capture started.
			Preexisting: tx.ToTag != "",
			// Room for the usual dialog: INVITE, 100, 180, 200, ACK, BYE
			// and its 200 are three transactions and seven steps.
			Transactions: make([]*SIPTransaction, 0, 4),
		}}
		s.calls[tx.CallID] = cs
		s.callList = append(s.callList, cs)
		e.analysis.Calls = append(e.analysis.Calls, cs.call)
	}
	st.call = cs
	cs.addTx(tx)
	c := cs.call
	initial := false
	switch tx.Method {
	case "INVITE":
		if tx.ToTag == "" && tx.Client == c.Caller {
			cs.lastInitial = tx
			initial = true
		}
	case "CANCEL":
		if tx.Client == c.Caller {
			cs.cancelled = true
			cs.cancelReason = tx.ReasonHeader
		}
	case "BYE":
		if c.Ended.Frame == 0 {
			c.Ended = frameRef(m)
			c.EndedBy = m.Src
			cs.byeReason = tx.ReasonHeader
		}
	}
	cs.step(m, s.strs.label(tx.Method, 0, "", tx.HasSDP, ""))
	if tx.HasSDP {
		e.callSDP(cs, m, true, initial)
	}
}

// callResponse records a new response (not a retransmission) of one of the
// call's transactions.
func (e *Engine) callResponse(st *openSIPTx, r *SIPResponse, m *decode.Message) {
	cs, tx := st.call, st.tx
	c := cs.call
	cs.step(m, e.sip.strs.label("", r.Status, r.Reason, r.HasSDP, ""))
	// Responses to the caller's INVITEs outside the dialog. A response
	// whose request was not captured counts too: before the call is
	// answered, an INVITE to the caller can only be an initial one.
	if tx.Method == "INVITE" && tx.ToTag == "" && tx.Client == c.Caller {
		// Only 101-299 responses make (early) dialogs (§12.1): the To tag
		// of a challenge or a rejection is no fork.
		if r.Status > 100 && r.Status < 300 && r.ToTag != "" && len(c.ToTags) < MaxCallForks && !slices.Contains(c.ToTags, r.ToTag) {
			c.ToTags = append(c.ToTags, r.ToTag)
		}
		switch {
		case r.Status >= 180 && r.Status < 190 && !cs.ringing:
			// RFC 6076 §4.1: post-dial delay ends with the first 18x.
			cs.ringing = true
			if d := r.Time.Sub(c.Invite.Time); d > 0 {
				c.PostDialDelay = d
			}
		case r.Status >= 200 && r.Status < 300 && !cs.answered:
			cs.answered = true
			c.Answered = r.FrameRef
			c.AnsweredBy = r.From
			c.FinalStatus, c.FinalReason, c.ReasonHeader = r.Status, r.Reason, r.ReasonHeader
			if d := r.Time.Sub(c.Invite.Time); d > 0 {
				c.SetupTime = d
			}
		}
	}
	if r.HasSDP && tx.Method != "CANCEL" && tx.Method != "BYE" {
		e.callSDP(cs, m, false, false)
	}
}

// callSDP records an SDP body of the call (RFC 3264): the first one is the
// offer, the first sent back to the offerer in the other half of the
// exchange (a response to an offer in a request, else a request) its
// answer; an
// INVITE retried after a challenge carries the offer again and replaces
// the unanswered one. Every SDP is kept in Call.SDPs (within
// MaxCallSDPs) and announced to media correlation.
func (e *Engine) callSDP(cs *callState, m *decode.Message, isRequest, initialInvite bool) {
	c := cs.call
	body := sdpBody(m.SIP)
	if body == nil {
		return
	}
	seen := &SDPSeen{FrameRef: frameRef(m), From: m.Src}
	if sess, err := sdp.Parse(body); err == nil {
		seen.Session = sess
	}
	switch {
	case c.Offer == nil:
		c.Offer = seen
		cs.offerInRequest = isRequest
	case c.Answer == nil && isRequest != cs.offerInRequest && m.Dst == c.Offer.From:
		// Sent back to the offerer: where a capture sees several legs of
		// one Call-ID (a B2BUA keeping it), another leg's SDP is no answer.
		c.Answer = seen
	case c.Answer == nil && initialInvite && cs.offerInRequest:
		c.Offer = seen
	}
	if len(c.SDPs) < MaxCallSDPs {
		c.SDPs = append(c.SDPs, seen)
	}
	if seen.Session != nil {
		e.announceMedia(c, seen)
	}
}

// sameString returns the call's copy of string(b): its URIs and To tags,
// and the hosts and user agents of its first transaction and of the
// responses to it, which the later ones of both sides repeat.
func (cs *callState) sameString(b []byte) (string, bool) {
	c := cs.call
	if c.From == string(b) {
		return c.From, true
	}
	if c.To == string(b) {
		return c.To, true
	}
	for _, v := range c.ToTags {
		if v == string(b) {
			return v, true
		}
	}
	if len(c.Transactions) == 0 {
		return "", false
	}
	first := c.Transactions[0]
	switch string(b) {
	case first.ViaSentBy:
		return first.ViaSentBy, true
	case first.Contact:
		return first.Contact, true
	case first.ContactHost:
		return first.ContactHost, true
	case first.UserAgent:
		return first.UserAgent, true
	}
	for i := range first.Responses {
		r := &first.Responses[i]
		if r.ContactHost == string(b) {
			return r.ContactHost, true
		}
		if r.Server == string(b) {
			return r.Server, true
		}
	}
	return "", false
}

func (cs *callState) addTx(tx *SIPTransaction) {
	c := cs.call
	if len(c.Transactions) >= MaxCallTransactions {
		c.DroppedTransactions++
		return
	}
	c.Transactions = append(c.Transactions, tx)
}

// step adds a message to the call's ladder; label is shared
// (stringTable.label) or a constant.
func (cs *callState) step(m *decode.Message, label string) {
	c := cs.call
	if len(c.Ladder) >= MaxLadderSteps {
		c.LadderDropped++
		return
	}
	if c.Ladder == nil {
		// Half the usual dialog (see callRequest): append doubles it once.
		c.Ladder = make([]LadderStep, 0, 4)
	}
	c.Ladder = append(c.Ladder, LadderStep{FrameRef: frameRef(m), From: m.Src, To: m.Dst, Label: label})
}

// conclude sets the call's outcome at the end of the capture.
func (cs *callState) conclude() {
	c := cs.call
	switch {
	case cs.answered:
		c.Outcome = "answered"
		if c.ReasonHeader == "" {
			c.ReasonHeader = cs.byeReason
		}
		return
	case cs.lastInitial == nil:
		// Only in-dialog INVITEs: the call was answered before the capture.
		c.Outcome = "answered"
		c.ReasonHeader = cs.byeReason
		return
	}
	tx := cs.lastInitial
	if tx.Final < 0 {
		c.Outcome = "unanswered"
		if cs.cancelled {
			c.Outcome = "cancelled"
			c.ReasonHeader = cs.cancelReason
		}
		return
	}
	r := &tx.Responses[tx.Final]
	c.FinalStatus, c.FinalReason, c.ReasonHeader, c.AnsweredBy = r.Status, r.Reason, r.ReasonHeader, r.From
	switch {
	case r.Status == 487 && cs.cancelled:
		c.Outcome = "cancelled"
		if c.ReasonHeader == "" {
			c.ReasonHeader = cs.cancelReason
		}
	case (r.Status == 401 || r.Status == 407) && tx.Authorization == nil:
		// The challenge was never answered with credentials. A challenge
		// to an INVITE that carried them is a rejection: "failed".
		c.Outcome = "challenged"
	default:
		c.Outcome = "failed"
	}
}
