package diagnose

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sip"
)

var (
	sipAlice = netip.MustParseAddrPort("192.0.2.10:5060")
	sipProxy = netip.MustParseAddrPort("198.51.100.1:5060")
	sipBob   = netip.MustParseAddrPort("203.0.113.5:5062")
)

// sipSpec is one synthetic SIP message.
type sipSpec struct {
	method         string // a request when set
	status         int
	reason         string
	cseqMethod     string
	cseq           uint32
	branch         string
	callID         string
	fromURI        string
	fromTag        string
	toURI          string
	toTag          string
	contact        string
	contactExpires int    // -1: no expires parameter
	extraContact   string // a further Contact value, written before ours
	expires        int    // -1: no Expires header
	ua             string
	reasonHeader   string
	body           string
	challenge      *sip.Auth
	authorization  *sip.Auth
	via            string // the topmost Via sent-by; the source when empty
}

type sipEvent struct {
	at       float64
	src, dst netip.AddrPort
	dscp     uint8
	spec     sipSpec
}

type sipOpt func(*sipSpec)

const testSDP = "v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

func withSDP() sipOpt               { return func(s *sipSpec) { s.body = testSDP } }
func withToTag(tag string) sipOpt   { return func(s *sipSpec) { s.toTag = tag } }
func withCallID(id string) sipOpt   { return func(s *sipSpec) { s.callID = id } }
func withExpires(n int) sipOpt      { return func(s *sipSpec) { s.expires = n } }
func withReasonHdr(r string) sipOpt { return func(s *sipSpec) { s.reasonHeader = r } }
func withVia(sentBy string) sipOpt  { return func(s *sipSpec) { s.via = sentBy } }
func withContactExpires(n int, other string) sipOpt {
	return func(s *sipSpec) { s.contactExpires, s.extraContact = n, other }
}

func withDigest(user, realm, nonce string) sipOpt {
	return func(s *sipSpec) {
		s.authorization = &sip.Auth{Scheme: []byte("Digest"), Username: []byte(user), Realm: []byte(realm),
			Nonce: []byte(nonce), Algorithm: []byte("MD5"), QOP: []byte("auth")}
	}
}

func withDigestChallenge(realm, nonce string, stale bool) sipOpt {
	return func(s *sipSpec) {
		s.challenge = &sip.Auth{Scheme: []byte("Digest"), Realm: []byte(realm), Nonce: []byte(nonce),
			Algorithm: []byte("MD5"), QOP: []byte("auth"), Stale: stale}
	}
}

func baseSpec() sipSpec {
	return sipSpec{
		callID:  "call-1@example.com",
		fromURI: "sip:alice@example.com", fromTag: "a1",
		toURI:          "sip:bob@example.com",
		contact:        "sip:alice@192.0.2.10:5060",
		contactExpires: -1,
		expires:        -1,
	}
}

func sipReq(at float64, src, dst netip.AddrPort, method, branch string, cseq uint32, opts ...sipOpt) sipEvent {
	s := baseSpec()
	s.method, s.cseqMethod, s.branch, s.cseq = method, method, branch, cseq
	s.ua = "alice-phone/1.0"
	for _, o := range opts {
		o(&s)
	}
	return sipEvent{at: at, src: src, dst: dst, spec: s}
}

func sipResp(at float64, src, dst netip.AddrPort, status int, reason, method, branch string, cseq uint32, opts ...sipOpt) sipEvent {
	s := baseSpec()
	s.status, s.reason, s.cseqMethod, s.branch, s.cseq = status, reason, method, branch, cseq
	s.ua = "proxy/2.0"
	for _, o := range opts {
		o(&s)
	}
	return sipEvent{at: at, src: src, dst: dst, spec: s}
}

// render writes the message as text, as it would be on the wire.
func (s *sipSpec) render(src netip.AddrPort) string {
	var b strings.Builder
	if s.method != "" {
		fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", s.method, s.toURI)
	} else {
		fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", s.status, s.reason)
	}
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s\r\n", s.sentBy(src), s.branch)
	fmt.Fprintf(&b, "From: <%s>;tag=%s\r\n", s.fromURI, s.fromTag)
	if s.toTag != "" {
		fmt.Fprintf(&b, "To: <%s>;tag=%s\r\n", s.toURI, s.toTag)
	} else {
		fmt.Fprintf(&b, "To: <%s>\r\n", s.toURI)
	}
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\n", s.callID, s.cseq, s.cseqMethod)
	b.WriteString("Contact: ")
	if s.extraContact != "" {
		b.WriteString(s.extraContact + ", ")
	}
	fmt.Fprintf(&b, "<%s>", s.contact)
	if s.contactExpires >= 0 {
		fmt.Fprintf(&b, ";expires=%d", s.contactExpires)
	}
	b.WriteString("\r\n")
	if s.expires >= 0 {
		fmt.Fprintf(&b, "Expires: %d\r\n", s.expires)
	}
	if s.body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(s.body), s.body)
	return b.String()
}

func (s *sipSpec) sentBy(src netip.AddrPort) string {
	if s.via != "" {
		return s.via
	}
	return src.String()
}

// simulateSIP feeds events to an Engine as the decoder would: one reused
// decode.Message and sip.Message whose byte views point into a buffer that
// is overwritten after each Observe, so that anything kept without copying
// shows up as garbage.
func simulateSIP(t *testing.T, e *Engine, events []sipEvent, end float64) *Analysis {
	t.Helper()
	var dm decode.Message
	var sm sip.Message
	var challenge, authorization sip.Auth
	scratch := make([]byte, 0, 1<<16)
	borrow := func(s string) []byte {
		if s == "" {
			return nil
		}
		start := len(scratch)
		scratch = append(scratch, s...)
		return scratch[start:len(scratch):len(scratch)]
	}
	borrowAuth := func(dst *sip.Auth, src *sip.Auth) *sip.Auth {
		if src == nil {
			return nil
		}
		*dst = sip.Auth{
			Scheme: borrow(string(src.Scheme)), Username: borrow(string(src.Username)),
			Realm: borrow(string(src.Realm)), Nonce: borrow(string(src.Nonce)),
			Algorithm: borrow(string(src.Algorithm)), QOP: borrow(string(src.QOP)), Stale: src.Stale,
		}
		return dst
	}
	for i, ev := range events {
		scratch = scratch[:0]
		s := &ev.spec
		raw := s.render(ev.src)
		sm = sip.Message{
			Raw:            borrow(raw),
			IsRequest:      s.method != "",
			Method:         borrow(s.method),
			StatusCode:     s.status,
			Reason:         borrow(s.reason),
			CallID:         borrow(s.callID),
			CSeq:           s.cseq,
			CSeqMeth:       borrow(s.cseqMethod),
			From:           sip.NameAddr{URI: borrow(s.fromURI), Tag: borrow(s.fromTag)},
			To:             sip.NameAddr{URI: borrow(s.toURI), Tag: borrow(s.toTag)},
			Expires:        s.expires,
			MaxFwds:        70,
			UserAgent:      borrow(s.ua),
			ContactExpires: s.contactExpires,
			ContentLength:  len(s.body),
			ReasonHeader:   borrow(s.reasonHeader),
			Challenge:      borrowAuth(&challenge, s.challenge),
			Authorization:  borrowAuth(&authorization, s.authorization),
		}
		if s.method != "" {
			sm.RequestURI = borrow(s.toURI)
		}
		if s.contact != "" {
			host := strings.TrimPrefix(s.contact, "sip:")
			if at := strings.IndexByte(host, '@'); at >= 0 {
				host = host[at+1:]
			}
			sm.Contact = sip.NameAddr{URI: borrow(s.contact), Host: borrow(host)}
		}
		sm.Vias = []sip.Via{{Transport: borrow("UDP"), SentBy: borrow(s.sentBy(ev.src)), Branch: borrow(s.branch)}}
		sm.NumVias = 1
		if s.body != "" {
			sm.ContentType = borrow("application/sdp")
			sm.Body = borrow(s.body)
		}
		dm = decode.Message{
			Packet: decode.Packet{Frame: uint64(i + 1), Time: simAt(ev.at), Src: ev.src, Dst: ev.dst,
				Transport: decode.UDP, DSCP: ev.dscp},
			Kind:    decode.KindSIP,
			SIP:     &sm,
			Payload: sm.Raw,
		}
		e.Observe(&dm)
		for j := range scratch {
			scratch[j] = 'X'
		}
	}
	return e.Finish(simAt(end))
}

func ladderLabels(c *Call) []string {
	var out []string
	for _, s := range c.Ladder {
		out = append(out, s.Label)
	}
	return out
}

func statuses(tx *SIPTransaction) []int {
	var out []int
	for _, r := range tx.Responses {
		out = append(out, r.Status)
	}
	return out
}
