package diagnose_test

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/diagnose"
)

const (
	phoneSIP   = "198.51.100.20:5060" // a phone behind NAT, seen at its public address
	sbcSIP     = "203.0.113.7:5060"
	phoneMedia = "198.51.100.20:4000"
	sbcMedia   = "203.0.113.7:30000"
	callID     = "a84b4c76e66710@192.168.1.10"
)

func sipTx(method string, cseq uint32, client, server string, sends ...diagnose.FrameRef) *diagnose.SIPTransaction {
	return &diagnose.SIPTransaction{Branch: "z9hG4bK" + method + string(rune('0'+cseq)), Method: method, CSeq: cseq,
		Client: ap(client), Server: ap(server), Transport: decode.UDP, Requests: sends, RequestCount: len(sends),
		Final: -1, Expires: -1, CallID: callID, ViaSentBy: "192.168.1.10:5060", ContactHost: "192.168.1.10:5060"}
}

func reply(t *diagnose.SIPTransaction, status int, reason string, r diagnose.FrameRef) {
	t.Responses = append(t.Responses, diagnose.SIPResponse{FrameRef: r, Status: status, Reason: reason, From: t.Server, Server: "Acme SBC"})
	if status >= 200 && t.Final < 0 {
		t.Final = len(t.Responses) - 1
	}
}

func sdpAt(r diagnose.FrameRef, from, conn string, port uint16, origin string) *diagnose.SDPSeen {
	addr := netip.MustParseAddr(conn)
	return &diagnose.SDPSeen{FrameRef: r, From: ap(from), Session: &sdp.Session{
		Origin: sdp.Origin{Username: "-", SessionID: "1", Version: "1", AddressType: "IP4", Address: origin}, Connection: addr,
		Media: []sdp.Media{{Type: "audio", Port: port, Proto: "RTP/AVP", Formats: []string{"0", "101"}, Connection: addr, Direction: "sendrecv",
			RTPMap: map[uint8]sdp.RTPMap{0: {Encoding: "PCMU", ClockRate: 8000}, 101: {Encoding: "telephone-event", ClockRate: 8000}}}},
	}}
}

func rtp(src, dst string, ssrc uint32, first diagnose.FrameRef, last diagnose.FrameRef, n uint64, dscp int) *diagnose.Stream {
	s := &diagnose.Stream{Src: ap(src), Dst: ap(dst), Transport: decode.UDP, SSRC: ssrc, PayloadType: 0, Codec: "PCMU", ClockRate: 8000,
		MediaType: "audio", Signalled: true, Packets: n, Bytes: n * 160, First: first, Last: last, Expected: n,
		Jitter: 1.9, MaxJitter: 4.25, MaxDelta: 41 * time.Millisecond}
	for i := uint64(0); i < 5; i++ {
		s.FirstFrames = append(s.FirstFrames, first.Frame+2*i)
	}
	s.DSCP.Add(dscp, n)
	return s
}

// addCallsAndMedia adds to the edge box capture what a SIP phone behind NAT
// did at the same time: it registers (challenge, then success), places a
// call through an SBC whose SDP names the phone's private address, sends
// its audio unmarked and receives audio with 2 % loss; and a video stream
// that no SIP call announced.
func addCallsAndMedia(a *diagnose.Analysis) {
	reg1 := sipTx("REGISTER", 1, phoneSIP, sbcSIP, ref(40, 1.0))
	reg1.CallID, reg1.ToURI, reg1.FromURI = "reg-7f3a@192.168.1.10", "sip:alice@example.org", "sip:alice@example.org"
	reply(reg1, 401, "Unauthorized", ref(41, 1.03))
	reg1.Responses[0].Challenge = &diagnose.SIPAuth{Realm: "example.org", Nonce: "r1", Algorithm: "MD5"}
	reg2 := sipTx("REGISTER", 2, phoneSIP, sbcSIP, ref(42, 1.05))
	reg2.CallID, reg2.ToURI, reg2.FromURI = reg1.CallID, reg1.ToURI, reg1.FromURI
	reg2.Authorization = &diagnose.SIPAuth{Username: "alice", Realm: "example.org", Nonce: "r1", Algorithm: "MD5"}
	reply(reg2, 200, "OK", ref(43, 1.08))

	invite := sipTx("INVITE", 1, phoneSIP, sbcSIP, ref(50, 3.0))
	invite.HasSDP, invite.FromURI, invite.ToURI = true, "sip:alice@example.org", "sip:+4930123456@example.net"
	reply(invite, 100, "Trying", ref(51, 3.02))
	reply(invite, 180, "Ringing", ref(52, 3.81))
	reply(invite, 200, "OK", ref(53, 6.1))
	invite.Responses[2].HasSDP = true
	bye := sipTx("BYE", 2, phoneSIP, sbcSIP, ref(1520, 64.0))
	reply(bye, 200, "OK", ref(1521, 64.03))

	offer := sdpAt(ref(50, 3.0), phoneSIP, "192.168.1.10", 4000, "192.168.1.10")
	answer := sdpAt(ref(53, 6.1), sbcSIP, "203.0.113.7", 30000, "203.0.113.7")
	call := &diagnose.Call{CallID: callID, From: "sip:alice@example.org", To: "sip:+4930123456@example.net",
		Caller: ap(phoneSIP), Callee: ap(sbcSIP), Transport: decode.UDP,
		Transactions: []*diagnose.SIPTransaction{invite, bye},
		Ladder: []diagnose.LadderStep{
			{FrameRef: ref(50, 3.0), From: ap(phoneSIP), To: ap(sbcSIP), Label: "INVITE (SDP)"},
			{FrameRef: ref(51, 3.02), From: ap(sbcSIP), To: ap(phoneSIP), Label: "100 Trying"},
			{FrameRef: ref(52, 3.81), From: ap(sbcSIP), To: ap(phoneSIP), Label: "180 Ringing"},
			{FrameRef: ref(53, 6.1), From: ap(sbcSIP), To: ap(phoneSIP), Label: "200 OK (SDP)"},
			{FrameRef: ref(54, 6.12), From: ap(phoneSIP), To: ap(sbcSIP), Label: "ACK"},
			{FrameRef: ref(1520, 64.0), From: ap(phoneSIP), To: ap(sbcSIP), Label: "BYE"},
			{FrameRef: ref(1521, 64.03), From: ap(sbcSIP), To: ap(phoneSIP), Label: "200 OK"},
		},
		Outcome: "answered", FinalStatus: 200, FinalReason: "OK", ReasonHeader: "Q.850;cause=16", AnsweredBy: ap(sbcSIP),
		Invite: ref(50, 3.0), Answered: ref(53, 6.1), Ended: ref(1520, 64.0), EndedBy: ap(phoneSIP),
		PostDialDelay: 810 * time.Millisecond, SetupTime: 3100 * time.Millisecond,
		Offer: offer, Answer: answer, SDPs: []*diagnose.SDPSeen{offer, answer}, ToTags: []string{"as83kd"},
	}
	out := rtp(phoneMedia, sbcMedia, 0x5a3c9e01, ref(60, 6.3), ref(1510, 63.9), 2880, 0)
	back := rtp(sbcMedia, phoneMedia, 0x1f00beef, ref(61, 6.31), ref(1511, 63.91), 2822, 46)
	back.Expected, back.Lost, back.LossBursts, back.MaxLossBurst = 2880, 58, 11, 9
	back.RemoteReports, back.RemoteFractionLost, back.RemoteCumulative, back.RemoteJitter, back.RoundTrip = 11, 0.02, 57, 3.5, 48*time.Millisecond
	for _, s := range []*diagnose.Stream{out, back} {
		s.Call = call
		call.Streams = append(call.Streams, s)
	}
	video := rtp("192.0.2.10:50008", "198.51.100.7:40010", 0x00c0ffee, ref(70, 7.0), ref(1500, 63.0), 1200, 34)
	video.PayloadType, video.Codec, video.ClockRate, video.MediaType, video.Signalled = 96, "", 0, "video", false

	a.SIPTransactions = []*diagnose.SIPTransaction{reg1, reg2, invite, bye}
	a.Calls = []*diagnose.Call{call}
	a.Registrations = []*diagnose.Registration{{AOR: "sip:alice@example.org", Contact: "sip:alice@192.168.1.10:5060",
		Client: ap(phoneSIP), Registrar: ap(sbcSIP), Transport: decode.UDP, Username: "alice", Realm: "example.org",
		Transactions: []*diagnose.SIPTransaction{reg1, reg2}, Outcome: "registered", FinalStatus: 200, Expires: 3600,
		First: ref(40, 1.0), Last: ref(43, 1.08)}}
	a.Streams = []*diagnose.Stream{out, back, video}
	a.Flows = []*diagnose.Flow{
		{Src: ap(phoneSIP), Dst: ap(sbcSIP), Transport: decode.UDP, Class: "sip", Packets: 5, DSCP: dscpOf(24, 5), First: ref(40, 1), Last: ref(1520, 64), Frames: []uint64{40, 42, 50, 54, 1520}},
		{Src: out.Src, Dst: out.Dst, Transport: decode.UDP, Class: "audio", Packets: out.Packets, DSCP: out.DSCP, First: out.First, Last: out.Last, Frames: out.FirstFrames},
		{Src: back.Src, Dst: back.Dst, Transport: decode.UDP, Class: "audio", Packets: back.Packets, DSCP: back.DSCP, First: back.First, Last: back.Last, Frames: back.FirstFrames},
	}
	a.Stats.SIP, a.Stats.RTP = 11, 6902
}

func dscpOf(v int, n uint64) (d diagnose.DSCPCounts) {
	d.Add(v, n)
	return d
}

func TestReportCallsText(t *testing.T) {
	a := edgeBox()
	r := diagnose.NewReport(a, check(a), "x")
	var b bytes.Buffer
	if err := r.WriteText(&b, diagnose.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"SIP, media, ICE, TLS and STUN/TURN analysis",
		"11 SIP messages · 3 RTP streams",
		"Calls (1)",
		"sip:alice@example.org → sip:+4930123456@example.net",
		"call-id    " + callID,
		"outcome    answered (200 OK) · Reason Q.850;cause=16",
		"timing     post-dial delay 0.81 s · setup 3.1 s",
		"offer      audio 192.168.1.10:4000 RTP/AVP PCMU,telephone-event (from 198.51.100.20:5060, frame 50)",
		"      +0  198.51.100.20:5060 → 203.0.113.7:5060  INVITE (SDP) (frame 50)",
		"   +3.1  198.51.100.20:5060 ← 203.0.113.7:5060  200 OK (SDP) (frame 53)",
		"198.51.100.20:4000 → 203.0.113.7:30000  SSRC 0x5a3c9e01 PCMU · 2,880 packets · loss 0.0 % · jitter 1.9 ms (max 4.3) · DSCP 0 ×2,880 (not EF)",
		"203.0.113.7:30000 → 198.51.100.20:4000  SSRC 0x1f00beef PCMU · 2,822 packets · loss 2.0 % (58 lost, bursts up to 9) · jitter 1.9 ms (max 4.3) · RTCP loss 2.0 %, RTT 48.0 ms · DSCP EF 46 ×2,822",
		"Registrations (1)",
		`sip:alice@example.org at 203.0.113.7:5060 udp · from 198.51.100.20:5060 · user "alice" · realm "example.org"`,
		"outcome    registered · expires 3600 s",
		"attempts   401 challenge → 200 (frames 40, 42)",
		"RTP streams not tied to a call (1)",
		"192.0.2.10:50008 → 198.51.100.7:40010  SSRC 0x00c0ffee PT 96 · 1,200 packets · loss 0.0 % · DSCP AF41 34 ×1,200",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q", want)
		}
	}
	// A profile that expects CS5 for audio flags EF instead.
	b.Reset()
	if err := r.WriteText(&b, diagnose.TextOptions{ExpectedDSCP: map[string]int{"audio": 40}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "DSCP EF 46 ×2,822 (not CS5)") || !strings.Contains(b.String(), "DSCP AF41 34 ×1,200\n") {
		t.Errorf("ExpectedDSCP not applied:\n%s", b.String())
	}
	// The SIP and media findings the rules draw from it.
	var rulesFired []string
	for _, f := range r.Findings {
		rulesFired = append(rulesFired, f.Rule)
	}
	for _, id := range []string{"sip.nat-address-mismatch", "media.loss", "dscp.missing"} {
		if !slices.Contains(rulesFired, id) {
			t.Errorf("no %s finding: %v", id, rulesFired)
		}
	}
	for _, id := range []string{"media.one-way", "media.no-rtp", "sip.call-failed", "sip.auth-failure"} {
		if slices.Contains(rulesFired, id) {
			t.Errorf("%s fired on a good call", id)
		}
	}
}

func TestReportCallsJSON(t *testing.T) {
	a := edgeBox()
	r := diagnose.NewReport(a, check(a), "x")
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Calls         []json.RawMessage
		Registrations []json.RawMessage
		Streams       []json.RawMessage
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Calls) != 1 || len(doc.Registrations) != 1 || len(doc.Streams) != 3 {
		t.Fatalf("%d calls, %d registrations, %d streams", len(doc.Calls), len(doc.Registrations), len(doc.Streams))
	}
	var call struct {
		Ladder  []json.RawMessage
		Offer   json.RawMessage
		Streams []int
	}
	if err := json.Unmarshal(doc.Calls[0], &call); err != nil {
		t.Fatal(err)
	}
	var stream struct{ RTCP json.RawMessage }
	if err := json.Unmarshal(doc.Streams[1], &stream); err != nil {
		t.Fatal(err)
	}
	var offer struct{ Media []json.RawMessage }
	if err := json.Unmarshal(call.Offer, &offer); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"call": {"call_id", "from", "to", "caller", "callee", "transport", "outcome", "final_status", "final_reason", "reason_header",
			"answered_by", "post_dial_delay_ms", "setup_time_ms", "invite_frame", "answered_frame", "ended_frame", "ended_by",
			"offer", "answer", "ladder", "streams"},
		"ladder":       {"frame", "time", "from", "to", "label"},
		"offer":        {"frame", "from", "media"},
		"sdp media":    {"type", "address", "proto", "direction", "codecs"},
		"registration": {"aor", "contact", "registrar", "client", "transport", "username", "realm", "outcome", "final_status", "expires", "refreshes", "attempts", "attempt_details", "first", "last"},
		"stream": {"src", "dst", "transport", "ssrc", "pt", "codec", "clock_rate", "media", "srtp", "call_id", "packets", "bytes", "first", "last",
			"expected", "lost", "loss_percent", "duplicates", "reordered", "loss_bursts", "max_loss_burst", "jitter_ms", "max_jitter_ms", "max_delta_ms", "dscp", "rtcp"},
		"rtcp": {"reports", "fraction_lost", "cumulative_lost", "jitter_ms", "rtt_ms"},
	}
	got := map[string][]string{
		"call":         keysInOrder(t, doc.Calls[0]),
		"ladder":       keysInOrder(t, call.Ladder[0]),
		"offer":        keysInOrder(t, call.Offer),
		"sdp media":    keysInOrder(t, offer.Media[0]),
		"registration": keysInOrder(t, doc.Registrations[0]),
		"stream":       keysInOrder(t, doc.Streams[1]),
		"rtcp":         keysInOrder(t, stream.RTCP),
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s keys = %v\nwant %v", k, got[k], w)
		}
	}
	if !slices.Equal(call.Streams, []int{0, 1}) {
		t.Errorf("call streams = %v, want [0 1]", call.Streams)
	}
	s := b.String()
	for _, frag := range []string{`"ssrc": "0x1f00beef"`, `"loss_percent": 2.014`, `"post_dial_delay_ms": 810`, `"dscp": {
        "46": 2822
      }`, `"expires": 3600`, `"response": "401 Unauthorized"`, `"codecs": [
              "PCMU",
              "telephone-event"
            ]`} {
		if !strings.Contains(s, frag) {
			t.Errorf("JSON lacks %s", frag)
		}
	}
}
