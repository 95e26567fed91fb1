package diagnose

import (
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/sdp"
)

// TestRTPAnnouncementNotDemoted: where a call's SDP names one address both
// as a section's RTP port and as another section's RTCP port (implied, RFC
// 3550 §11; a=rtcp, RFC 3605; an ICE component 2 candidate), RTP to it is
// the RTP section's stream, whichever section comes first. Another call's
// later SDP replaces the address's announcement either way.
func TestRTPAnnouncementNotDemoted(t *testing.T) {
	callee := mediaCallee.Addr()
	port := mediaCallee.Port() // where voice sends its PCMU
	audio := func(p uint16) sdp.Media {
		return sdp.Media{Type: "audio", Port: p, Proto: "RTP/AVP", Formats: []string{"0"}, Direction: "sendrecv"}
	}
	video := func(p uint16) sdp.Media {
		return sdp.Media{Type: "video", Port: p, Proto: "RTP/AVP", Formats: []string{"96"},
			RTPMap: map[uint8]sdp.RTPMap{96: {Encoding: "H264", ClockRate: 90000}}, Direction: "sendrecv"}
	}
	withRTCP := func(m sdp.Media, p uint16) sdp.Media { m.RTCPPort = p; return m }
	withRTCPCandidate := func(m sdp.Media, p uint16) sdp.Media {
		m.RTCPMux = true
		m.Candidates = []sdp.Candidate{{Foundation: "1", Component: 2, Transport: "UDP", Type: "host",
			Addr: netip.AddrPortFrom(callee, p)}}
		return m
	}
	session := func(media ...sdp.Media) *sdp.Session {
		return &sdp.Session{Connection: callee, Media: media}
	}

	for _, tc := range []struct {
		name  string
		sdps  []*sdp.Session // the first of call A, the second (if any) of call B
		want  int            // index into sdps of the call the stream is tied to, -1 for none
		media string
	}{
		{"implied RTCP of a later section", []*sdp.Session{session(audio(port), video(port-1))}, 0, "audio"},
		{"implied RTCP of an earlier section", []*sdp.Session{session(video(port-1), audio(port))}, 0, "audio"},
		{"a=rtcp of a later section", []*sdp.Session{session(audio(port), withRTCP(video(port+2), port))}, 0, "audio"},
		{"a=rtcp of an earlier section", []*sdp.Session{session(withRTCP(video(port+2), port), audio(port))}, 0, "audio"},
		{"ICE component 2 of a later section", []*sdp.Session{session(audio(port), withRTCPCandidate(video(port+2), port))}, 0, "audio"},
		{"another call's RTP after an RTCP port", []*sdp.Session{session(audio(port - 1)), session(audio(port))}, 1, "audio"},
		{"another call's RTCP port after an RTP one", []*sdp.Session{session(audio(port)), session(audio(port - 1))}, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := NewEngine(Options{})
			calls := make([]*Call, len(tc.sdps))
			for i, s := range tc.sdps {
				calls[i] = &Call{CallID: tc.name + string(rune('A'+i))}
				e.announceMedia(calls[i], &SDPSeen{From: mediaCaller, Session: s})
			}
			feedRTP(e, voice(StreamMinPackets+2, 0))
			a := e.Finish(simStart.Add(time.Minute))
			if len(a.Streams) != 1 {
				t.Fatalf("got %d streams, want 1", len(a.Streams))
			}
			s := a.Streams[0]
			var want *Call
			if tc.want >= 0 {
				want = calls[tc.want]
			}
			if s.Call != want || s.Signalled != (want != nil) {
				t.Errorf("stream of call %q (signalled %v), want %q", callID(s.Call), s.Signalled, callID(want))
			}
			if want != nil && s.MediaType != tc.media {
				t.Errorf("media type %q, want %q", s.MediaType, tc.media)
			}
		})
	}
}

func callID(c *Call) string {
	if c == nil {
		return "none"
	}
	return c.CallID
}
