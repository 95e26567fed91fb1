package rules

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/diagnose"
)

// listing makes an SDP's audio section list formats ("0 13 101") with
// the given rtpmaps ("101 telephone-event/8000").
func listing(sd *diagnose.SDPSeen, formats string, rtpmaps ...string) *diagnose.SDPSeen {
	m := &sd.Session.Media[0]
	m.Formats = strings.Fields(formats)
	m.RTPMap = map[uint8]sdp.RTPMap{}
	for _, r := range rtpmaps {
		pt, codec, _ := strings.Cut(r, " ")
		name, rate, _ := strings.Cut(codec, "/")
		n, _ := strconv.Atoi(pt)
		hz, _ := strconv.Atoi(rate)
		m.RTPMap[uint8(n)] = sdp.RTPMap{Encoding: name, ClockRate: uint32(hz), Channels: 1}
	}
	return sd
}

// carrying gives a stream packets of other payload types: pairs of type
// and count, each type's first packet 100 frames after the previous.
func carrying(s *diagnose.Stream, typeCounts ...int) *diagnose.Stream {
	first := s.PayloadTypes
	if first == nil {
		first = []diagnose.PayloadTypeCount{{PayloadType: s.PayloadType, Packets: s.Packets, First: s.First}}
	}
	for i := 0; i+1 < len(typeCounts); i += 2 {
		frame := s.First.Frame + 100*uint64(len(first))
		first[0].Packets -= uint64(typeCounts[i+1])
		first = append(first, diagnose.PayloadTypeCount{PayloadType: uint8(typeCounts[i]), Packets: uint64(typeCounts[i+1]),
			First: sipRef(frame, s.First.Time.Sub(t0).Seconds()+float64(len(first))*2)})
	}
	s.PayloadTypes = first
	return s
}

func TestMediaPayloadTypeMismatch(t *testing.T) {
	const (
		callerMedia = "192.0.2.10:4000"
		calleeMedia = "203.0.113.7:30000"
	)
	// The caller offers telephone-event as 96, the callee answers 101:
	// legal (RFC 3264 §6.1), each side then sends with the other's number.
	offer := func() *diagnose.SDPSeen {
		return listing(audioSDP(1, 0, callerSIP, "192.0.2.10", 4000, "192.0.2.10"), "0 96", "0 PCMU/8000", "96 telephone-event/8000")
	}
	answer := func() *diagnose.SDPSeen {
		return listing(audioSDP(3, 1, calleeSIP, "203.0.113.7", 30000, "203.0.113.7"), "0 101", "0 PCMU/8000", "101 telephone-event/8000")
	}
	dtmfCall := func() *diagnose.Call { return answeredCall("c1", offer(), answer()) }
	out := func() *diagnose.Stream { return rtpStream(callerMedia, calleeMedia, 0x1111, 10, 1.1, 1500) }
	back := func() *diagnose.Stream { return rtpStream(calleeMedia, callerMedia, 0x2222, 11, 1.1, 1500) }

	g729 := out()
	g729.PayloadType, g729.Codec = 18, ""
	g729Call := answeredCall("c1", listing(offer(), "0 18"), listing(answer(), "0"))

	reInvite := answeredCall("c1", offer(), listing(answer(), "0"))
	moved := listing(audioSDP(50, 10, calleeSIP, "203.0.113.7", 30000, "203.0.113.7"), "0 8")
	reInvite.SDPs = append(reInvite.SDPs, moved)

	held := answeredCall("c1", offer(), listing(answer(), "0"))
	held.Answer.Session.Media[0].Direction = "sendonly"

	// The caller behind a NAT announces its private address; its media
	// reaches the callee from, and the callee's goes to, the public one.
	natCall := answeredCall("c1", listing(audioSDP(1, 0, callerSIP, "192.168.1.10", 4000, "192.168.1.10"), "0 96", "96 telephone-event/8000"), answer())
	natBack := func() *diagnose.Stream {
		return rtpStream(calleeMedia, "198.51.100.20:4000", 0x2222, 11, 1.1, 1500)
	}

	untied := carrying(out(), 96, 20)

	// Both SDPs came through one proxy, and the callee's media address
	// is in a re-INVITE's SDP only: whose it is cannot be told.
	proxied := answeredCall("c1", listing(audioSDP(1, 0, calleeSIP, "192.0.2.99", 4000, "192.0.2.99"), "0 96", "96 telephone-event/8000"),
		listing(audioSDP(3, 1, calleeSIP, "203.0.113.99", 30000, "203.0.113.99"), "0 101", "101 telephone-event/8000"))
	proxied.SDPs = append(proxied.SDPs, listing(audioSDP(40, 8, calleeSIP, "203.0.113.7", 30000, "203.0.113.7"), "0 101", "101 telephone-event/8000"))

	runRuleCases(t, MediaPayloadTypeMismatch{}, []ruleCase{
		{name: "voice only", a: tie(dtmfCall(), out(), back()), want: 0},
		{name: "DTMF with the receiver's numbers both ways", a: tie(dtmfCall(), carrying(out(), 101, 24), carrying(back(), 96, 12)), want: 0},
		{
			name: "caller sends DTMF with its own number",
			a:    tie(dtmfCall(), carrying(out(), 96, 24), carrying(back(), 96, 12)),
			want: 1,
			contains: []string{
				"The caller's audio RTP 192.0.2.10:4000 → 203.0.113.7:30000 (SSRC 0x00001111, call \"c1\") carried 1,500 packets: 1,476 of PCMU/8000 (payload type 0) from frame 10 and 24 of payload type 96 from frame 110.",
				"The callee's answer (frame 3) has m=audio 30000 RTP/AVP 0 101, a=rtpmap:0 PCMU/8000, a=rtpmap:101 telephone-event/8000: it accepts payload types 0 and 101 only.",
				"The caller sends telephone-event as payload type 96, the number its own offer (frame 1) gave it, but the callee's answer (frame 3) bound telephone-event to 101.",
				"The callee ignores those packets, so the DTMF tones (RFC 4733) are lost",
				"RFC 3264 §5.1, §6.1, §7",
			},
			frames:   []uint64{1, 3, 110},
			filter:   `(rtp.ssrc == 0x00001111 && rtp.p_type == 96) || sip.Call-ID == "c1"`,
			severity: diagnose.Warning,
		},
		{
			// The same number the other way is right: the offer bound it.
			name: "callee sends DTMF with the offer's number",
			a:    tie(dtmfCall(), carrying(back(), 96, 12), out()),
			want: 0,
		},
		{
			name:     "callee sends DTMF with its own answer's number",
			a:        tie(dtmfCall(), carrying(back(), 101, 12), out()),
			want:     1,
			contains: []string{"The callee sends telephone-event as payload type 101, the number its own answer (frame 3) gave it, but the caller's offer (frame 1) bound telephone-event to 96.", "The caller's offer (frame 1) has m=audio 4000 RTP/AVP 0 96"},
			filter:   `(rtp.ssrc == 0x00002222 && rtp.p_type == 101) || sip.Call-ID == "c1"`,
		},
		{
			name: "a codec the answer did not list, the whole stream",
			a:    tie(g729Call, g729),
			want: 1,
			contains: []string{"1,500 of payload type 18 from frame 10",
				"it accepts payload type 0 only",
				"The caller sends G729 (payload type 18, listed in its own offer, frame 1), which the callee's SDP does not list at all.",
				"The callee cannot decode those packets, most of the stream: it hears nothing from the caller"},
			severity: diagnose.Error,
		},
		{
			name:     "a static codec neither side listed, now and then",
			a:        tie(dtmfCall(), carrying(out(), 8, 100)),
			want:     1,
			contains: []string{"The caller sends PCMA (payload type 8, RFC 3551 static), which the callee's SDP does not list at all.", "silence or noise while they arrive"},
			severity: diagnose.Warning,
		},
		{name: "comfort noise negotiated", a: tie(answeredCall("c1", listing(offer(), "0 13 96"), listing(answer(), "0 13 101")), carrying(out(), 13, 3)), want: 0},
		{
			name:     "comfort noise not negotiated",
			a:        tie(dtmfCall(), carrying(out(), 13, 3)),
			want:     1,
			contains: []string{"The caller sends CN (payload type 13, RFC 3551 static), which the callee's SDP does not list at all.", "ignores those packets (or plays them as noise)"},
			severity: diagnose.Warning,
		},
		{
			name: "a static type listed without an rtpmap",
			a:    tie(answeredCall("c1", offer(), listing(answer(), "0 8")), carrying(out(), 8, 700)),
			want: 0,
		},
		{
			name:     "a dynamic type nobody bound",
			a:        tie(dtmfCall(), carrying(out(), 97, 5)),
			want:     1,
			contains: []string{"Payload type 97 (5 packets, from frame 110) is bound to a codec by neither the callee's SDP nor the caller's, and the callee did not list it."},
		},
		{name: "a re-INVITE's answer added the codec", a: tie(reInvite, carrying(out(), 8, 700)), want: 0},
		{name: "receiver on hold: nothing to judge", a: tie(held, carrying(out(), 96, 24)), want: 0},
		{name: "stream without a call", a: &diagnose.Analysis{Streams: []*diagnose.Stream{untied}}, want: 0},
		{
			name: "call whose SDPs name neither end",
			a: tie(answeredCall("c1", listing(audioSDP(1, 0, callerSIP, "192.0.2.99", 4000, "192.0.2.99"), "0"),
				listing(audioSDP(3, 1, calleeSIP, "203.0.113.99", 30000, "203.0.113.99"), "0")), carrying(out(), 96, 24)),
			want: 0,
		},
		{name: "behind NAT, the offer's number", a: tie(natCall, carrying(natBack(), 96, 12)), want: 0},
		{
			name:     "behind NAT, the answer's own number",
			a:        tie(answeredCall("c1", natCall.Offer, answer()), carrying(natBack(), 101, 12)),
			want:     1,
			contains: []string{"The callee's audio RTP 203.0.113.7:30000 → 198.51.100.20:4000", "but the caller's offer (frame 1) bound telephone-event to 96"},
		},
		{
			name:     "sides unknown",
			a:        tie(proxied, carrying(out(), 96, 24)),
			want:     1,
			contains: []string{"The sender's audio RTP 192.0.2.10:4000 → 203.0.113.7:30000", "The receiver's SDP (frame 40) has m=audio 30000 RTP/AVP 0 101", "Payload type 96 (24 packets, from frame 110) is bound to a codec by neither the receiver's SDP nor the sender's"},
		},
		{name: "what RTCP would read as", a: tie(dtmfCall(), carrying(out(), 72, 5)), want: 0},
	})
}

// TestMediaPayloadTypeMismatchFolds: an SBC that numbers telephone-event
// wrongly does it on every call; beyond maxFindingsPerRule the streams
// are counted in one finding.
func TestMediaPayloadTypeMismatchFolds(t *testing.T) {
	a := &diagnose.Analysis{}
	for i := range maxFindingsPerRule + 5 {
		offer := listing(audioSDP(uint64(10*i+1), float64(i), callerSIP, "192.0.2.10", uint16(4000+2*i), "192.0.2.10"), "0 96", "96 telephone-event/8000")
		answer := listing(audioSDP(uint64(10*i+3), float64(i)+1, calleeSIP, "203.0.113.7", uint16(30000+2*i), "203.0.113.7"), "0 101", "101 telephone-event/8000")
		s := carrying(rtpStream(fmt.Sprintf("192.0.2.10:%d", 4000+2*i), fmt.Sprintf("203.0.113.7:%d", 30000+2*i), uint32(i+1), uint64(10*i+5), float64(i)+1.1, 100), 96, 6)
		one := tie(answeredCall(fmt.Sprintf("c%d", i), offer, answer), s)
		a.Calls = append(a.Calls, one.Calls...)
		a.Streams = append(a.Streams, one.Streams...)
	}
	fs := MediaPayloadTypeMismatch{}.Check(a)
	if len(fs) != maxFindingsPerRule+1 {
		t.Fatalf("%d findings, want %d and a summary", len(fs), maxFindingsPerRule)
	}
	last := fs[maxFindingsPerRule]
	if !strings.Contains(last.Detail, "5 more streams carried payload types") || len(last.Frames) != 5 || last.First.IsZero() {
		t.Errorf("summary: %+v", last)
	}
}
