package rules

import (
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/diagnose"
)

// Builders for SIP and media analyses, the values the correlation fills.

var (
	phone     = netip.MustParseAddrPort("198.51.100.20:5060") // a phone's public (NATed) address
	registrar = netip.MustParseAddrPort("203.0.113.5:5060")
)

func sipRef(frame uint64, sec float64) diagnose.FrameRef {
	return diagnose.FrameRef{Frame: frame, Time: at(sec)}
}

// sipReq is a request sent once from phone to registrar over UDP.
func sipReq(method, callID string, cseq uint32, frame uint64, sec float64) *diagnose.SIPTransaction {
	return &diagnose.SIPTransaction{
		Branch: "z9hG4bK" + callID + method, Method: method, CSeq: cseq, CallID: callID,
		Client: phone, Server: registrar, Transport: decode.UDP,
		Requests: []diagnose.FrameRef{sipRef(frame, sec)}, RequestCount: 1,
		Final: -1, Expires: -1, FromURI: "sip:alice@example.org", ToURI: "sip:alice@example.org",
	}
}

// again adds retransmissions at the given frame, second pairs.
func again(t *diagnose.SIPTransaction, frameSecs ...float64) *diagnose.SIPTransaction {
	for i := 0; i+1 < len(frameSecs); i += 2 {
		t.Requests = append(t.Requests, sipRef(uint64(frameSecs[i]), frameSecs[i+1]))
		t.RequestCount++
	}
	return t
}

func respond(t *diagnose.SIPTransaction, status int, reason string, frame uint64, sec float64) *diagnose.SIPTransaction {
	t.Responses = append(t.Responses, diagnose.SIPResponse{FrameRef: sipRef(frame, sec), Status: status, Reason: reason, From: t.Server})
	if status >= 200 && t.Final < 0 {
		t.Final = len(t.Responses) - 1
	}
	return t
}

func challenged(t *diagnose.SIPTransaction, status int, frame uint64, sec float64, realm, nonce string, stale bool) *diagnose.SIPTransaction {
	reason := "Unauthorized"
	if status == 407 {
		reason = "Proxy Authentication Required"
	}
	respond(t, status, reason, frame, sec)
	t.Responses[len(t.Responses)-1].Challenge = &diagnose.SIPAuth{Realm: realm, Nonce: nonce, Algorithm: "MD5", Stale: stale}
	return t
}

func creds(t *diagnose.SIPTransaction, user, realm, nonce string) *diagnose.SIPTransaction {
	t.Authorization = &diagnose.SIPAuth{Username: user, Realm: realm, Nonce: nonce}
	return t
}

func sipAnalysis(txs ...*diagnose.SIPTransaction) *diagnose.Analysis {
	return &diagnose.Analysis{SIPTransactions: txs}
}

// audioSDP is an SDP with one RTP audio section at conn:port.
func audioSDP(frame uint64, sec float64, from, conn string, port uint16, origin string) *diagnose.SDPSeen {
	addr := netip.MustParseAddr(conn)
	return &diagnose.SDPSeen{
		FrameRef: sipRef(frame, sec), From: netip.MustParseAddrPort(from),
		Session: &sdp.Session{
			Origin:     sdp.Origin{Username: "-", SessionID: "1", Version: "1", AddressType: "IP4", Address: origin},
			Connection: addr,
			Media: []sdp.Media{{Type: "audio", Port: port, Proto: "RTP/AVP", Formats: []string{"0"}, Connection: addr,
				Direction: "sendrecv", RTPMap: map[uint8]sdp.RTPMap{0: {Encoding: "PCMU", ClockRate: 8000}}}},
		},
	}
}

const (
	callerSIP = "198.51.100.20:5060"
	calleeSIP = "203.0.113.7:5060"
)

// answeredCall is a call from callerSIP to calleeSIP answered at 1 s and
// ended at 31 s, with an offer at 192.0.2.10:4000... replaced by offer.
func answeredCall(id string, offer, answer *diagnose.SDPSeen) *diagnose.Call {
	c := &diagnose.Call{
		CallID: id, From: "sip:alice@example.org", To: "sip:bob@example.net",
		Caller: netip.MustParseAddrPort(callerSIP), Callee: netip.MustParseAddrPort(calleeSIP), Transport: decode.UDP,
		Outcome: "answered", FinalStatus: 200, FinalReason: "OK",
		Invite: sipRef(1, 0), Answered: sipRef(3, 1), Ended: sipRef(900, 31),
		Offer: offer, Answer: answer,
	}
	for _, s := range []*diagnose.SDPSeen{offer, answer} {
		if s != nil {
			c.SDPs = append(c.SDPs, s)
		}
	}
	return c
}

// rtpStream is an audio stream of n packets at 20 ms from src to dst,
// starting at sec, from frame first on.
func rtpStream(src, dst string, ssrc uint32, first uint64, sec float64, n int) *diagnose.Stream {
	s := &diagnose.Stream{
		Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), Transport: decode.UDP, SSRC: ssrc,
		PayloadType: 0, Codec: "PCMU", ClockRate: 8000, MediaType: "audio",
		Packets: uint64(n), Bytes: uint64(n) * 160, Expected: uint64(n),
		First: sipRef(first, sec), Last: sipRef(first+uint64(n)-1, sec+float64(n-1)*0.02),
	}
	for i := 0; i < min(n, diagnose.MaxFramesPerFinding); i++ {
		s.FirstFrames = append(s.FirstFrames, first+uint64(i))
	}
	s.DSCP.Add(46, uint64(n))
	s.MaxDelta = 20 * time.Millisecond
	s.Jitter, s.MaxJitter = 2, 4
	return s
}

func tie(c *diagnose.Call, streams ...*diagnose.Stream) *diagnose.Analysis {
	for _, s := range streams {
		s.Call, s.Signalled = c, true
		c.Streams = append(c.Streams, s)
	}
	return &diagnose.Analysis{Calls: []*diagnose.Call{c}, Streams: streams}
}

// captureInfo describes a file that ends at sec.
func captureInfo(sec float64) capture.FileInfo {
	return capture.FileInfo{Path: "test.pcap", Format: "pcap", First: t0, Last: at(sec)}
}

func mustProfile(t *testing.T, name string) *Profile {
	t.Helper()
	p, err := LoadProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
