package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// The sip-*.pcap entries of pcaps/expected.json: calls, registrations and
// RTP streams in the JSON report, the evidence blocks of must_fire rules,
// and the decode records against tshark's SIP and RTP counts.

type expectedCall struct {
	Caller    string `json:"caller"`
	Callee    string `json:"callee"`
	Transport string `json:"transport"`
	Outcome   string `json:"outcome"`
	CallerSDP string `json:"caller_sdp"` // the offer's m= address
	CalleeSDP string `json:"callee_sdp"` // the answer's, when there is one
	Codec     string `json:"codec"`      // "PCMU/8000 (payload type 0)"
}

type expectedRegistration struct {
	Client    string `json:"client"`
	Registrar string `json:"registrar"`
	Transport string `json:"transport"`
	AOR       string `json:"aor"`
	User      string `json:"user"`
	Realm     string `json:"realm"`
	Outcome   string `json:"outcome"`
	Expires   *int   `json:"expires"`
}

// callOutcomes maps expected.json's wording to the report's outcome
// values (diagnose.Call.Outcome, a contract): expected.json says "no
// answer" where the report says "unanswered".
var callOutcomes = map[string]string{"no answer": "unanswered"}

// sipEvidence is the evidence block: one entry per must_fire rule, with
// the details golden_test.go's mustFire does not hold. Unknown rules or
// fields make the test fail, so that evidence added to expected.json is not
// silently left unchecked.
type sipEvidence struct {
	OneWay *struct {
		SilentSide        string `json:"silent_side"`
		SilentParty       string `json:"silent_party"`
		ShouldHaveReached string `json:"should_have_reached"`
		SDPFrame          uint64 `json:"sdp_frame"`
		Flowing           struct {
			Src     string `json:"src"`
			Dst     string `json:"dst"`
			Packets int    `json:"packets"`
		} `json:"flowing"`
	} `json:"media.one-way"`
	DSCP *struct {
		Findings     int            `json:"findings"`
		Flow         string         `json:"flow"` // "src -> dst"
		Class        string         `json:"class"`
		ExpectedDSCP int            `json:"expected_dscp"`
		DSCPCounts   map[string]int `json:"dscp_counts"`
		Remarking    bool           `json:"remarking"`
		// RemarkedBetween: the capture holds both sides of the box that
		// re-marks the flow, and the finding must say so; nil: it must not.
		RemarkedBetween *struct {
			Inside string   `json:"inside"` // "src -> dst": the same packets before the box, marked expected_dscp
			Frames []uint64 `json:"frames"` // one packet before the box and after it
		} `json:"remarked_between"`
		// RemarkedOnBox: the capture was taken on the box that re-marks
		// the flow (tcpdump -i any), which forwards it without NAT: its
		// packets twice on the flow's 5-tuple, marked expected_dscp
		// where they arrive and dscp_counts where they leave, and the
		// finding must say so; nil: it must not.
		RemarkedOnBox *struct {
			Arriving string   `json:"arriving"` // where the marked copy was seen: "arriving on interface 2"
			Leaving  string   `json:"leaving"`  // and the re-marked one
			Frames   []uint64 `json:"frames"`   // the first packet arriving and leaving
		} `json:"remarked_on_box"`
	} `json:"dscp.missing"`
	Auth *struct {
		User         string   `json:"user"`
		Realm        string   `json:"realm"`
		NonceChanged bool     `json:"nonce_changed"`
		Stale        bool     `json:"stale"`
		Nonces       []string `json:"nonces"` // the challenge's, then each rejection's
	} `json:"sip.auth-failure"`
	NAT *struct {
		Source               string   `json:"source"`
		ViaSentBy            string   `json:"via_sent_by"`
		Contact              string   `json:"contact"`
		SDPC                 string   `json:"sdp_c"`
		MediaSentTo          string   `json:"media_sent_to"` // "src -> dst"
		FramesWithPrivateVia []uint64 `json:"frames_with_private_via"`
	} `json:"sip.nat-address-mismatch"`
	Loss *struct {
		Stream       string   `json:"stream"` // "src -> dst"
		SSRC         string   `json:"ssrc"`
		Expected     uint64   `json:"expected"`
		Received     uint64   `json:"received"`
		Lost         int64    `json:"lost"`
		LossPercent  float64  `json:"loss_percent"`
		Gaps         int      `json:"gaps"`
		LongestBurst int      `json:"longest_burst"`
		LostSeq      []uint16 `json:"lost_seq"`
		RouterDrops  int64    `json:"router_drops"`
	} `json:"media.loss"`
	BindingExpired *struct {
		OldPublic         string   `json:"old_public"`
		NewPublic         string   `json:"new_public"`
		Inside            string   `json:"inside"` // the Via sent-by the client announces
		LastFromOldFrame  uint64   `json:"last_from_old_frame"`
		FirstFromNewFrame uint64   `json:"first_from_new_frame"`
		IdleGapS          float64  `json:"idle_gap_s"`
		CallID            string   `json:"call_id"`
		AOR               string   `json:"aor"`
		Expires           int      `json:"expires"`
		UnansweredFrames  []uint64 `json:"unanswered_frames"` // requests to the old port
		ICMPFrames        []uint64 `json:"icmp_frames"`
		// The client's CRLF keep-alives (tshark: udp.payload ==
		// 0d:0a:0d:0a; golden_keepalive_test.go holds the decode records
		// to them), the public ports they came from, their interval and
		// the shortest silence before a new port.
		KeepAliveFrames    []uint64 `json:"keepalive_frames"`
		KeepAlivePorts     []string `json:"keepalive_ports"`
		KeepAliveIntervalS float64  `json:"keepalive_interval_s"`
		NATTimeoutUnderS   float64  `json:"nat_timeout_under_s"`
	} `json:"nat.binding-expired"`
	Jitter *struct {
		Stream string `json:"stream"` // "src -> dst"
		SSRC   string `json:"ssrc"`
		// tshark's rtp,streams: Max Jitter, Mean Jitter (the mean of J
		// over the packets after the first) and Max Delta.
		MaxJitterMS  float64 `json:"max_jitter_ms"`
		MeanJitterMS float64 `json:"mean_jitter_ms"`
		MaxDeltaMS   float64 `json:"max_delta_ms"`
		// J after the last packet, which rtp,streams does not print:
		// RFC 3550 §6.4.1 over tshark's frame times and RTP timestamps.
		FinalJitterMS float64 `json:"final_jitter_ms"`
	} `json:"media.jitter"`
	ALG *struct {
		Inside    string   `json:"inside"`    // the request's source before the ALG
		Outside   string   `json:"outside"`   // and after it
		Rewritten []string `json:"rewritten"` // "Via sent-by a → b", as the finding says
		Requests  int      `json:"requests"`  // requests seen on both sides
	} `json:"sip.alg-suspected"`
	Unreachable *struct {
		Stream          string `json:"stream"` // "src -> dst"
		SSRC            string `json:"ssrc"`
		CallID          string `json:"call_id"`
		ICMP            string `json:"icmp"` // the errors' description
		ICMPFrom        string `json:"icmp_from"`
		FromDestination bool   `json:"from_destination"`
		Type            uint8  `json:"type"`
		Code            uint8  `json:"code"`
		// Every ICMP error of the capture, all quoting the stream:
		// `tshark -Y Filter` selects exactly these.
		ICMPFrames []uint64 `json:"icmp_frames"`
		Filter     string   `json:"filter"`
	} `json:"media.unreachable"`
	ACKMissing *struct {
		OKFrame      uint64   `json:"ok_200_frame"`
		Resent       []uint64 `json:"resent_frames"` // the 200 OK again
		ACKFrames    []uint64 `json:"ack_frames"`
		ACKSentTo    string   `json:"ack_sent_to"` // the 200's Contact
		InviteSentTo string   `json:"invite_sent_to"`
		ByeFrame     uint64   `json:"bye_frame"`
		ByeAfterS    float64  `json:"bye_after_s"` // after the 200 OK
	} `json:"sip.ack-missing"`
}

// moreEvidence is what EXPECTED.md states about a must_fire finding that
// expected.json does not hold yet.
var moreEvidence = map[string]struct {
	rule         string
	reasonHeader string   // the call's Reason header (RFC 3326)
	mentions     []string // in the finding's title or detail
}{
	"sip-call-failed.pcap":              {rule: "sip.call-failed", reasonHeader: `Q.850;cause=17;text="User busy"`, mentions: []string{"Q.850 cause 17", "user busy"}},
	"sip-fragmented-invite.pcap":        {rule: "sip.fragmented-request", mentions: []string{"At 2,542 bytes", "every send went out as 2 IP fragments, and all 14 of them reached this capture point", "sent 7 ICMP errors"}},
	"sip-fragmented-invite-callee.pcap": {rule: "sip.fragmented-request", mentions: []string{"7 datagrams", `Call-ID "1-6296@10.0.1.10", CSeq 1`, "of 2,542 bytes", "only the first fragment of each arrived, never the rest"}},
	// The answer lost in IP fragments, from each side (one finding each).
	"sip-fragmented-200ok.pcap": {rule: "sip.ack-missing", mentions: []string{"dropped after 31.54 s: 200 OK lost in IP fragments",
		"200 OK in frame 5", "repeated the 200 OK 9 times", "BYE in frame 34, 31.54 s after answering",
		"at 2,628 bytes it is larger than one packet on the path, and every copy went out as 2 IP fragments, all 20 of which reached this capture point",
		`The caller's host 10.0.1.10 sent 10 ICMP errors "fragment reassembly time exceeded" quoting it`, "the caller never got the 200 OK whole",
		"Have the caller send its INVITE over TCP or TLS"}},
	"sip-fragmented-200ok-caller.pcap": {rule: "sip.fragmented-request", mentions: []string{`Call to "sip:bob@203.0.113.20:5060": 200 OK lost in IP fragments`,
		"10 datagrams from 203.0.113.20:5060 to 10.0.1.10:5060", `2,628-byte SIP 200 OK to an INVITE (Call-ID "1-19025@10.0.1.10", CSeq 1)`,
		"only the first fragment of each arrived, never the rest", "it never sent the ACK", "its INVITE (frame 1) got only 100 Trying and 180 Ringing through",
		"a BYE in frame 24, 31.541 s after the first copy", `The caller's host 10.0.1.10 sent 10 ICMP errors "fragment reassembly time exceeded" quoting it`,
		"Have the caller send its INVITE over TCP or TLS"}},
}

// findingText is a finding's title and detail on one line, as checkEvidence
// searches them.
func findingText(f diagnose.Finding) string { return oneLine(f.Title + " " + f.Detail) }

// word says whether n appears in s as a number of its own.
func word(s string, n int) bool {
	return regexp.MustCompile(`(^|[^\d.])` + strconv.Itoa(n) + `($|[^\d]|\.[^\d])`).MatchString(s)
}

// arrow splits "a -> b".
func arrow(t *testing.T, s string) (string, string) {
	t.Helper()
	a, b, ok := strings.Cut(s, " -> ")
	if !ok {
		t.Fatalf("expected.json: %q is not \"src -> dst\"", s)
	}
	return a, b
}

func host(ap string) string {
	if i := strings.LastIndexByte(ap, ':'); i > 0 {
		return ap[:i]
	}
	return ap
}

func streamOf(r *diagnose.Report, src, dst, ssrc string) *diagnose.StreamReport {
	for i := range r.Streams {
		s := &r.Streams[i]
		if s.Src == src && s.Dst == dst && (ssrc == "" || s.SSRC == ssrc) {
			return s
		}
	}
	return nil
}

// streamAt is streamOf for the copy seen where the text report says:
// "arriving on interface 2" (a stream's capture point, tcpdump -i any).
func streamAt(r *diagnose.Report, src, dst, where string) *diagnose.StreamReport {
	for i := range r.Streams {
		s := &r.Streams[i]
		if s.Src == src && s.Dst == dst && capturePoint(s) == where {
			return s
		}
	}
	return nil
}

func capturePoint(s *diagnose.StreamReport) string {
	where := s.Direction
	if s.Interface != 0 {
		where = strings.TrimSpace(where + " on interface " + strconv.FormatUint(uint64(s.Interface), 10))
	}
	return where
}

func keyFrames(t *testing.T, want expectedCapture, key string) []uint64 {
	t.Helper()
	raw, ok := want.KeyFrames[key]
	if !ok {
		return nil
	}
	var one uint64
	if json.Unmarshal(raw, &one) == nil {
		return []uint64{one}
	}
	var many []uint64
	if err := json.Unmarshal(raw, &many); err != nil {
		t.Fatalf("expected.json key_frames %s: %v", key, err)
	}
	return many
}

// checkSIPCapture compares the JSON report of a sip-*.pcap with its entry.
func checkSIPCapture(t *testing.T, name string, want expectedCapture, r *diagnose.Report, recs []decodeRecord) {
	t.Helper()
	if want.Tshark.SIPRequests == nil {
		t.Fatalf("expected.json: a SIP capture without tshark.sip_requests")
	}
	if got, w := r.Stats.SIP, uint64(sum(want.Tshark.SIPRequests)+sum(want.Tshark.SIPResponses)); got != w {
		t.Errorf("stats.sip_messages = %d, tshark counts %d SIP messages", got, w)
	}
	if got, w := r.Stats.RTP, uint64(want.Tshark.RTPPackets); got != w {
		t.Errorf("stats.rtp_packets = %d, tshark counts %d RTP packets", got, w)
	}
	checkCalls(t, want, r)
	checkRegistrations(t, want, r)
	checkStreams(t, want, r)
	checkSIPEvidence(t, name, want, r, recs)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

var codecSpec = regexp.MustCompile(`^(\S+)/(\d+) \(payload type (\d+)\)$`)

func checkCalls(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	if len(r.Calls) != len(want.Calls) {
		t.Fatalf("%d calls, want %d", len(r.Calls), len(want.Calls))
	}
	for i, w := range want.Calls {
		got := r.Calls[i]
		outcome := w.Outcome
		if o, ok := callOutcomes[outcome]; ok {
			outcome = o
		}
		if got.Caller != w.Caller || got.Callee != w.Callee || got.Transport != w.Transport || got.Outcome != outcome {
			t.Errorf("call %d: %s → %s %s %s, want %s → %s %s %s", i+1,
				got.Caller, got.Callee, got.Transport, got.Outcome, w.Caller, w.Callee, w.Transport, outcome)
		}
		// The final status: 200 for an answered call, the must_fire
		// sip.call-failed code for a failed one, none when unanswered.
		var wantStatus int
		switch outcome {
		case "answered":
			wantStatus = 200
		case "failed":
			var ev mustFire
			if err := json.Unmarshal(want.MustFire["sip.call-failed"], &ev); err != nil || ev.ErrorCode == 0 {
				t.Fatalf("expected.json: a failed call without a sip.call-failed error_code (%v)", err)
			}
			wantStatus = ev.ErrorCode
		}
		if got.FinalStatus != wantStatus {
			t.Errorf("call %d: final_status %d, want %d", i+1, got.FinalStatus, wantStatus)
		}
		if outcome == "answered" && got.AnsweredBy != w.Callee {
			t.Errorf("call %d: answered_by %q, want the callee %s", i+1, got.AnsweredBy, w.Callee)
		}

		// Frames: the call's INVITE, 2xx and BYE are the key frames.
		for _, kf := range []struct {
			key string
			got uint64
		}{{"invite", got.InviteFrame}, {"ok_200", got.AnsweredFrame}, {"bye", got.EndedFrame}} {
			if fs := keyFrames(t, want, kf.key); len(fs) == 1 && kf.got != fs[0] {
				t.Errorf("call %d: %s frame %d, want %d", i+1, kf.key, kf.got, fs[0])
			}
		}
		if fs := keyFrames(t, want, "invite_sends"); len(fs) > 0 && got.InviteFrame != fs[0] {
			t.Errorf("call %d: invite_frame %d, want the first send %d", i+1, got.InviteFrame, fs[0])
		}

		// SDP: where each side asked for media.
		if got.Offer == nil || len(got.Offer.Media) != 1 {
			t.Errorf("call %d: offer %+v, want one m= line at %s", i+1, got.Offer, w.CallerSDP)
		} else if got.Offer.Media[0].Address != w.CallerSDP || got.Offer.From != w.Caller {
			t.Errorf("call %d: offer from %s asks for media at %s, want from %s at %s", i+1, got.Offer.From, got.Offer.Media[0].Address, w.Caller, w.CallerSDP)
		}
		// The callee's SDP comes only with an answer; a call that failed or
		// timed out has none, whatever the callee would have offered.
		switch {
		case got.Answer != nil && (len(got.Answer.Media) != 1 || got.Answer.Media[0].Address != w.CalleeSDP):
			t.Errorf("call %d: answer %+v, want one m= line at %s", i+1, got.Answer, w.CalleeSDP)
		case got.Answer == nil && outcome == "answered":
			t.Errorf("call %d: answered without an SDP answer", i+1)
		case got.Answer != nil && outcome != "answered":
			t.Errorf("call %d: an SDP answer for a call that is %s", i+1, outcome)
		}

		m := codecSpec.FindStringSubmatch(w.Codec)
		if m == nil {
			t.Fatalf("expected.json: codec %q is not \"NAME/RATE (payload type N)\"", w.Codec)
		}
		if got.Offer != nil && len(got.Offer.Media) == 1 && !slices.Contains(got.Offer.Media[0].Codecs, m[1]) {
			t.Errorf("call %d: offer codecs %v, want %s", i+1, got.Offer.Media[0].Codecs, m[1])
		}
		// Every RTP stream of these captures belongs to the call: each
		// copy at its capture point too (checkStreams), which tshark
		// counts as one.
		type streamKey struct{ src, dst, ssrc string }
		distinct := map[streamKey]bool{}
		for _, si := range got.Streams {
			if si < 0 || si >= len(r.Streams) {
				t.Errorf("call %d: stream index %d of %d streams", i+1, si, len(r.Streams))
				continue
			}
			s := r.Streams[si]
			distinct[streamKey{s.Src, s.Dst, s.SSRC}] = true
			if s.CallID != got.CallID {
				t.Errorf("call %d: stream %s → %s has call_id %q, want %q", i+1, s.Src, s.Dst, s.CallID, got.CallID)
			}
			if s.Codec != m[1] || strconv.Itoa(int(s.ClockRate)) != m[2] || strconv.Itoa(int(s.PT)) != m[3] || s.Media != "audio" {
				t.Errorf("call %d: stream %s → %s is %s %s/%d pt %d, want audio %s", i+1, s.Src, s.Dst, s.Media, s.Codec, s.ClockRate, s.PT, w.Codec)
			}
		}
		if len(distinct) != len(want.Tshark.Streams) || len(got.Streams) != len(r.Streams) {
			t.Errorf("call %d: %d streams (%d by 5-tuple and SSRC) of %d, tshark finds %d", i+1, len(got.Streams), len(distinct), len(r.Streams), len(want.Tshark.Streams))
		}
	}
}

func checkRegistrations(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	if len(r.Registrations) != len(want.Registrations) {
		t.Fatalf("%d registrations, want %d", len(r.Registrations), len(want.Registrations))
	}
	attempts := 0
	for i, w := range want.Registrations {
		got := r.Registrations[i]
		if got.Client != w.Client || got.Registrar != w.Registrar || got.Transport != w.Transport || got.Outcome != w.Outcome {
			t.Errorf("registration %d: %s → %s %s %s, want %s → %s %s %s", i+1,
				got.Client, got.Registrar, got.Transport, got.Outcome, w.Client, w.Registrar, w.Transport, w.Outcome)
		}
		if got.AOR != w.AOR || got.Username != w.User || got.Realm != w.Realm {
			t.Errorf("registration %d: %s user %q realm %q, want %s user %q realm %q", i+1, got.AOR, got.Username, got.Realm, w.AOR, w.User, w.Realm)
		}
		if (got.Expires == nil) != (w.Expires == nil) || got.Expires != nil && *got.Expires != *w.Expires {
			t.Errorf("registration %d: expires %v, want %v", i+1, derefInt(got.Expires), derefInt(w.Expires))
		}
		// One attempt per REGISTER, each answered by the response tshark
		// counts; a client that changed public port has a registration
		// per port.
		attempts += got.Attempts
		if len(got.AttemptLog) != got.Attempts {
			t.Errorf("registration %d: %d attempts (%d detailed)", i+1, got.Attempts, len(got.AttemptLog))
		}
		for j, a := range got.AttemptLog {
			// A registrar without authentication (user "") sees none.
			if a.Authenticated != (j > 0 && w.User != "") {
				t.Errorf("registration %d attempt %d: authenticated %v; only the first REGISTER is sent without credentials, all of them without a user", i+1, j+1, a.Authenticated)
			}
		}
	}
	if n := want.Tshark.SIPRequests["REGISTER"]; len(want.Registrations) > 0 && attempts != n {
		t.Errorf("%d attempts in all, tshark counts %d REGISTERs", attempts, n)
	}
}

func derefInt(p *int) string {
	if p == nil {
		return "none"
	}
	return strconv.Itoa(*p)
}

// checkStreams compares the report's RTP streams with tshark's rtp,streams.
//
// tshark keys a stream by 5-tuple and SSRC alone. A router captured with
// tcpdump -i any (sip-dscp-remarked-routed) shows each packet it forwards
// without NAT twice on one 5-tuple: one stream to tshark, every packet
// counted twice (lost goes negative by the number of copies), and one per
// capture point in the report, each complete. So the report's streams of
// one 5-tuple and SSRC are compared together: at distinct points, each
// expecting what tshark expects (packets + lost), their packets and DSCP
// marks adding up to tshark's.
func checkStreams(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	type streamKey struct{ src, dst, ssrc string }
	copies := map[streamKey][]*diagnose.StreamReport{}
	for i := range r.Streams {
		s := &r.Streams[i]
		k := streamKey{s.Src, s.Dst, s.SSRC}
		copies[k] = append(copies[k], s)
	}
	if len(copies) != want.Tshark.RTPStreams || len(want.Tshark.Streams) != want.Tshark.RTPStreams {
		t.Errorf("%d streams (5-tuple and SSRC), tshark finds %d (%d listed)", len(copies), want.Tshark.RTPStreams, len(want.Tshark.Streams))
	}
	for _, w := range want.Tshark.Streams {
		list := copies[streamKey{w.Src, w.Dst, w.SSRC}]
		if len(list) == 0 {
			t.Errorf("no stream %s → %s SSRC %s", w.Src, w.Dst, w.SSRC)
			continue
		}
		if len(list) == 1 {
			got := list[0]
			if got.Packets != w.Packets || got.Lost != w.Lost || got.Expected != w.Packets+uint64(w.Lost) || got.Transport != "udp" {
				t.Errorf("stream %s → %s: %d packets of %d expected, %d lost over %s; tshark: %d packets, %d lost over udp",
					w.Src, w.Dst, got.Packets, got.Expected, got.Lost, got.Transport, w.Packets, w.Lost)
			}
			if !dscpEqual(got.DSCP, w.DSCP) {
				t.Errorf("stream %s → %s: DSCP %v, tshark %v", w.Src, w.Dst, got.DSCP, w.DSCP)
			}
			continue
		}
		var packets uint64
		dscp := map[string]uint64{}
		points := map[string]bool{}
		for _, got := range list {
			where := capturePoint(got)
			if where == "" || points[where] {
				t.Errorf("stream %s → %s SSRC %s: %d copies, one seen at %q", w.Src, w.Dst, w.SSRC, len(list), where)
			}
			points[where] = true
			if got.Expected != w.Packets+uint64(w.Lost) || got.Lost != int64(got.Expected)-int64(got.Packets) || got.Duplicates != 0 || got.Transport != "udp" {
				t.Errorf("stream %s → %s %s: %d packets of %d expected, %d lost, %d duplicates over %s; tshark expects %d over udp",
					w.Src, w.Dst, where, got.Packets, got.Expected, got.Lost, got.Duplicates, got.Transport, w.Packets+uint64(w.Lost))
			}
			packets += got.Packets
			for v, n := range got.DSCP {
				dscp[v] += n
			}
		}
		if packets != w.Packets || !dscpEqual(dscp, w.DSCP) {
			t.Errorf("stream %s → %s: %d copies of %d packets, DSCP %v in all; tshark %d, %v", w.Src, w.Dst, len(list), packets, dscp, w.Packets, w.DSCP)
		}
	}
}

// dscpLabel is how findings name a DSCP value (rules' dscpName) for the
// values expected.json uses.
func dscpLabel(v int) string {
	switch v {
	case 0:
		return "0 (best effort)"
	case 46:
		return "EF 46"
	case 34:
		return "AF41 34"
	case 24:
		return "CS3 24"
	}
	return strconv.Itoa(v)
}

func dscpEqual(got map[string]uint64, want map[string]int) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != uint64(v) {
			return false
		}
	}
	return true
}

// decodeEvidence reads a capture's evidence block into ev, refusing keys
// the test does not know (so expected.json cannot promise what nothing
// checks), and requires every rule it names to be in must_fire.
func decodeEvidence(t *testing.T, want expectedCapture, ev any, checker string) {
	t.Helper()
	for rule := range want.Evidence {
		if _, ok := want.MustFire[rule]; !ok {
			t.Errorf("expected.json: evidence for %s, which is not in must_fire", rule)
		}
	}
	raw, err := json.Marshal(want.Evidence)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ev); err != nil {
		t.Fatalf("expected.json evidence: %v (teach %s the new evidence)", err, checker)
	}
}

// checkSIPEvidence checks the evidence block against the findings of
// must_fire rules, and what EXPECTED.md adds (moreEvidence).
func checkSIPEvidence(t *testing.T, name string, want expectedCapture, r *diagnose.Report, recs []decodeRecord) {
	t.Helper()
	var ev sipEvidence
	decodeEvidence(t, want, &ev, "golden_sip_test.go")
	// The finding of a rule, which the must_fire check has required to be
	// exactly one.
	finding := func(rule string) (diagnose.Finding, string, bool) {
		fs := findingsOf(r, rule)
		if len(fs) == 0 {
			return diagnose.Finding{}, "", false
		}
		return fs[0], findingText(fs[0]), true
	}
	mention := func(rule, text, what, s string) {
		t.Helper()
		if !strings.Contains(text, s) {
			t.Errorf("%s: %s %q not in title or detail: %s", rule, what, s, text)
		}
	}
	number := func(rule, text, what string, n int) {
		t.Helper()
		if !word(text, n) {
			t.Errorf("%s: %s %d not in title or detail: %s", rule, what, n, text)
		}
	}
	cite := func(rule string, f diagnose.Finding, what string, frames ...uint64) {
		t.Helper()
		for _, fr := range frames {
			if !slices.Contains(f.Frames, fr) {
				t.Errorf("%s: %s frame %d not among the frames cited %v", rule, what, fr, f.Frames)
			}
		}
	}

	if e := ev.OneWay; e != nil {
		const rule = "media.one-way"
		if f, text, ok := finding(rule); ok {
			mention(rule, text, "silent side", "nothing from the "+e.SilentSide)
			if !slices.Contains(f.Endpoints, e.SilentParty) {
				t.Errorf("%s: silent party %s not in the endpoints %v", rule, e.SilentParty, f.Endpoints)
			}
			mention(rule, text, "where the silent side's media should have gone", "should have reached "+e.ShouldHaveReached)
			mention(rule, text, "SDP frame", fmt.Sprintf("(frame %d)", e.SDPFrame))
			cite(rule, f, "SDP", e.SDPFrame)
			mention(rule, text, "flowing direction", e.Flowing.Src+" → "+e.Flowing.Dst)
			number(rule, text, "packets flowing", e.Flowing.Packets)
			if s := streamOf(r, e.Flowing.Src, e.Flowing.Dst, ""); s == nil || s.Packets != uint64(e.Flowing.Packets) {
				t.Errorf("%s: no stream of %d packets %s → %s", rule, e.Flowing.Packets, e.Flowing.Src, e.Flowing.Dst)
			}
			if s := streamOf(r, e.SilentParty, e.Flowing.Src, ""); s != nil {
				t.Errorf("%s: the silent side sent %d packets", rule, s.Packets)
			}
			// NAT is claimed only with evidence of it: not when
			// sip.nat-address-mismatch is to stay silent.
			if slices.Contains(want.MustNotFire, "sip.nat-address-mismatch") && (strings.Contains(text, "behind NAT") || strings.Contains(text, "NAT sits")) {
				t.Errorf("%s: claims NAT on a capture without any: %s", rule, text)
			}
		}
	}
	if e := ev.DSCP; e != nil {
		const rule = "dscp.missing"
		if n := len(findingsOf(r, rule)); n != e.Findings {
			t.Errorf("%s: %d findings, want %d", rule, n, e.Findings)
		}
		if f, text, ok := finding(rule); ok {
			src, dst := arrow(t, e.Flow)
			mention(rule, text, "flow", "from "+src+" to "+dst)
			for _, ep := range []string{src, dst} {
				if !slices.Contains(f.Endpoints, ep) {
					t.Errorf("%s: %s not in the endpoints %v", rule, ep, f.Endpoints)
				}
			}
			mention(rule, strings.ToLower(text), "class", e.Class)
			number(rule, text, "expected DSCP", e.ExpectedDSCP)
			for _, v := range slices.Sorted(maps.Keys(e.DSCPCounts)) {
				d, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("expected.json: DSCP %q", v)
				}
				number(rule, text, "DSCP value", d)
				number(rule, text, "packets with DSCP "+v, e.DSCPCounts[v])
			}
			// SIP has no stream in the report: the finding's counts are
			// checked above, the copies' below.
			s := streamOf(r, src, dst, "")
			if rb := e.RemarkedOnBox; rb != nil {
				s = streamAt(r, src, dst, rb.Leaving)
			}
			switch {
			case e.Class == "sip":
			case s == nil:
				t.Errorf("%s: no stream %s → %s", rule, src, dst)
			case !dscpEqual(s.DSCP, e.DSCPCounts):
				t.Errorf("%s: stream %s → %s DSCP %v, want %v", rule, src, dst, s.DSCP, e.DSCPCounts)
			}
			if got := strings.Contains(text, "is re-marked:"); got != e.Remarking {
				t.Errorf("%s: says partial re-marking %v, want %v: %s", rule, got, e.Remarking, text)
			}
			const boxClaim = "the box between re-marks them"
			if rb := e.RemarkedBetween; rb == nil {
				if strings.Contains(text, boxClaim) {
					t.Errorf("%s: blames a box the capture did not see both sides of: %s", rule, text)
				}
			} else {
				mention(rule, text, "box", boxClaim)
				in, out := arrow(t, rb.Inside)
				mention(rule, text, "inside leg", in+" → "+out)
				for _, ep := range []string{in, out} {
					if !slices.Contains(f.Endpoints, ep) {
						t.Errorf("%s: inside leg's %s not in the endpoints %v", rule, ep, f.Endpoints)
					}
				}
				cite(rule, f, "packet on each side", rb.Frames...)
				for _, fr := range rb.Frames {
					number(rule, text, "frame", int(fr))
				}
				if s := streamOf(r, in, out, ""); s == nil {
					t.Errorf("%s: no stream %s → %s", rule, in, out)
				} else if !dscpEqual(s.DSCP, map[string]int{strconv.Itoa(e.ExpectedDSCP): int(s.Packets)}) {
					t.Errorf("%s: inside leg %s → %s DSCP %v, want all %d", rule, in, out, s.DSCP, e.ExpectedDSCP)
				}
				for _, ep := range []string{in, src} {
					host, _, _ := strings.Cut(ep, ":")
					mention(rule, f.Filter, "filter", "ip.src == "+host)
				}
			}
			const onBoxClaim = "re-marks it between its interfaces"
			if rb := e.RemarkedOnBox; rb == nil {
				if strings.Contains(text, onBoxClaim) {
					t.Errorf("%s: blames the capturing box, which the capture does not show forwarding the flow: %s", rule, text)
				}
			} else {
				mention(rule, text, "box", onBoxClaim)
				// Each copy's counts, not the two added up.
				in := streamAt(r, src, dst, rb.Arriving)
				if e.Class == "sip" {
					// The SIP messages paired: as many arrived marked as
					// left with dscp_counts.
					var n uint64
					for _, c := range e.DSCPCounts {
						n += uint64(c)
					}
					in = &diagnose.StreamReport{Packets: n}
					mention(rule, text, "marked copy", fmt.Sprintf("%s marked %s (%s ×%d)", rb.Arriving, dscpLabel(e.ExpectedDSCP), dscpLabel(e.ExpectedDSCP), n))
				} else if in == nil {
					t.Errorf("%s: no stream %s → %s %s", rule, src, dst, rb.Arriving)
				} else if !dscpEqual(in.DSCP, map[string]int{strconv.Itoa(e.ExpectedDSCP): int(in.Packets)}) {
					t.Errorf("%s: the copy %s DSCP %v, want all %d", rule, rb.Arriving, in.DSCP, e.ExpectedDSCP)
				} else {
					mention(rule, text, "marked copy", fmt.Sprintf("%s marked %s (%s ×%d)", rb.Arriving, dscpLabel(e.ExpectedDSCP), dscpLabel(e.ExpectedDSCP), in.Packets))
				}
				mention(rule, text, "re-marked copy", rb.Leaving+" marked")
				if in != nil && strings.Contains(text, "of "+strconv.Itoa(int(2*in.Packets))) {
					t.Errorf("%s: counts the two copies together: %s", rule, text)
				}
				cite(rule, f, "first packet arriving and leaving", rb.Frames...)
				for _, fr := range rb.Frames {
					number(rule, text, "frame", int(fr))
				}
				// The filter selects each copy where it was seen.
				for _, where := range []string{rb.Arriving, rb.Leaving} {
					_, ifindex, _ := strings.Cut(where, "on interface ")
					mention(rule, f.Filter, "filter", "sll.ifindex == "+ifindex)
				}
				host, _, _ := strings.Cut(src, ":")
				mention(rule, f.Filter, "filter", "ip.src == "+host)
			}
		}
	}
	if e := ev.Auth; e != nil {
		const rule = "sip.auth-failure"
		if f, text, ok := finding(rule); ok {
			mention(rule, text, "user", strconv.Quote(e.User))
			mention(rule, text, "realm", strconv.Quote(e.Realm))
			if e.NonceChanged {
				mention(rule, text, "nonce", "new nonce")
			} else {
				mention(rule, text, "nonce", "nonce was unchanged")
			}
			if !e.Stale && strings.Contains(text, "said stale=true") {
				t.Errorf("%s: says stale=true, which no challenge had: %s", rule, text)
			}
			// The nonces are in the frames cited: the challenge's, then
			// one per rejection.
			var mf mustFire
			json.Unmarshal(want.MustFire[rule], &mf)
			rejections := keyFrames(t, want, "rejections_401")
			if len(e.Nonces) != mf.Attempts+1 || len(rejections) != mf.Attempts {
				t.Fatalf("expected.json: %d nonces and %d rejections for %d attempts", len(e.Nonces), len(rejections), mf.Attempts)
			}
			cite(rule, f, "challenge (first nonce)", keyFrames(t, want, "challenge_401")...)
			cite(rule, f, "rejection (later nonces)", rejections...)
			if distinct := len(slices.Compact(slices.Sorted(slices.Values(e.Nonces)))); (distinct > 1) != e.NonceChanged {
				t.Fatalf("expected.json: nonces %v with nonce_changed %v", e.Nonces, e.NonceChanged)
			}
		}
	}
	if e := ev.NAT; e != nil {
		const rule = "sip.nat-address-mismatch"
		if f, text, ok := finding(rule); ok {
			if !slices.Contains(f.Endpoints, e.Source) {
				t.Errorf("%s: source %s not in the endpoints %v", rule, e.Source, f.Endpoints)
			}
			mention(rule, text, "source", "SIP from "+host(e.Source))
			mention(rule, text, "Via sent-by", host(e.ViaSentBy))
			mention(rule, text, "where", "Via")
			mention(rule, text, "Contact", host(e.Contact))
			mention(rule, text, "where", "Contact")
			mention(rule, text, "SDP c=", "SDP c=")
			mention(rule, text, "SDP c= address", e.SDPC)
			from, to := arrow(t, e.MediaSentTo)
			mention(rule, text, "where the far end sends media", "audio to "+to)
			if s := streamOf(r, from, to, ""); s == nil {
				t.Errorf("%s: no stream %s → %s", rule, from, to)
			}
			cite(rule, f, "private Via", e.FramesWithPrivateVia...)
			mention(rule, text, "Via count", fmt.Sprintf("in the Via of %d messages", len(e.FramesWithPrivateVia)))
		}
	}
	if e := ev.Loss; e != nil {
		const rule = "media.loss"
		if f, text, ok := finding(rule); ok {
			src, dst := arrow(t, e.Stream)
			mention(rule, text, "stream", "from "+src+" to "+dst)
			mention(rule, text, "SSRC", e.SSRC)
			mention(rule, text, "lost of expected", fmt.Sprintf("%d of %d", e.Lost, e.Expected))
			mention(rule, text, "loss", strconv.FormatFloat(e.LossPercent, 'f', 1, 64)+" %")
			number(rule, text, "packets received", int(e.Received))
			mention(rule, text, "gaps", fmt.Sprintf("%d gaps", e.Gaps))
			number(rule, text, "longest burst", e.LongestBurst)
			for _, ep := range []string{src, dst} {
				if !slices.Contains(f.Endpoints, ep) {
					t.Errorf("%s: %s not in the endpoints %v", rule, ep, f.Endpoints)
				}
			}
			s := streamOf(r, src, dst, e.SSRC)
			switch {
			case s == nil:
				t.Errorf("%s: no stream %s", rule, e.Stream)
			case s.Expected != e.Expected || s.Packets != e.Received || s.Lost != e.Lost || s.LossBursts != e.Gaps || s.MaxLossBurst != e.LongestBurst ||
				math.Abs(s.LossPercent-e.LossPercent) >= 0.05:
				t.Errorf("%s: stream %s: %d of %d received, %d lost (%.3f %%) in %d gaps, longest %d; want %d of %d, %d (%.1f %%) in %d, longest %d",
					rule, e.Stream, s.Packets, s.Expected, s.Lost, s.LossPercent, s.LossBursts, s.MaxLossBurst,
					e.Received, e.Expected, e.Lost, e.LossPercent, e.Gaps, e.LongestBurst)
			}
			if e.RouterDrops != e.Lost {
				t.Errorf("expected.json: router dropped %d, tshark lost %d", e.RouterDrops, e.Lost)
			}
			// The lost sequence numbers: the holes in the decode records.
			seen := map[uint16]bool{}
			var lo, hi uint16 = math.MaxUint16, 0
			for _, rec := range recs {
				if rec.RTP != nil && rec.Src == src && rec.Dst == dst && fmt.Sprintf("0x%08x", rec.RTP.SSRC) == e.SSRC {
					seen[rec.RTP.Seq] = true
					lo, hi = min(lo, rec.RTP.Seq), max(hi, rec.RTP.Seq)
				}
			}
			var missing []uint16
			for q := int(lo); q <= int(hi); q++ {
				if !seen[uint16(q)] {
					missing = append(missing, uint16(q))
				}
			}
			if !slices.Equal(missing, e.LostSeq) {
				t.Errorf("%s: decode records miss sequence numbers %v, want %v", rule, missing, e.LostSeq)
			}
		}
	}

	if e := ev.Jitter; e != nil {
		const rule = "media.jitter"
		if f, text, ok := finding(rule); ok {
			src, dst := arrow(t, e.Stream)
			mention(rule, text, "stream", "from "+src+" to "+dst)
			mention(rule, text, "SSRC", e.SSRC)
			// tshark's three decimals, rounded to one as the report
			// rounds its own three (diagnose.FormatTenths).
			mention(rule, text, "peak", "peaked at "+diagnose.FormatTenths(e.MaxJitterMS)+" ms")
			mention(rule, text, "final jitter", "was "+diagnose.FormatTenths(e.FinalJitterMS)+" ms at the end")
			mention(rule, text, "largest gap", "largest gap between two packets was "+diagnose.FormatTenths(e.MaxDeltaMS)+" ms")
			for _, ep := range []string{src, dst} {
				if !slices.Contains(f.Endpoints, ep) {
					t.Errorf("%s: %s not in the endpoints %v", rule, ep, f.Endpoints)
				}
			}
			if want := "rtp.ssrc == " + e.SSRC + " && ip.src == " + host(src); !strings.HasPrefix(f.Filter, want) {
				t.Errorf("%s: filter %q does not start with %q", rule, f.Filter, want)
			}
			// The report's stream and tshark follow the same formula over
			// the same microsecond times.
			const tolerance = 0.001 // ms: the report rounds to three decimals
			s := streamOf(r, src, dst, e.SSRC)
			if s == nil || s.ClockRate == 0 {
				t.Fatalf("%s: no stream %s with a clock rate: %+v", rule, e.Stream, s)
			}
			if math.Abs(s.MaxJitterMS-e.MaxJitterMS) > tolerance || math.Abs(s.JitterMS-e.FinalJitterMS) > tolerance || math.Abs(s.MaxDeltaMS-e.MaxDeltaMS) > tolerance {
				t.Errorf("%s: stream %s: jitter %.3f ms (max %.3f), max delta %.3f ms; tshark: %.3f (max %.3f), %.3f",
					rule, e.Stream, s.JitterMS, s.MaxJitterMS, s.MaxDeltaMS, e.FinalJitterMS, e.MaxJitterMS, e.MaxDeltaMS)
			}
			cite(rule, f, "the stream's first and last packet", s.First.Frame, s.Last.Frame)

			// The decode records' times and timestamps give tshark's
			// numbers too, its mean included.
			var js []float64
			var j float64
			var prevAt time.Time
			var prevTS uint32
			for _, rec := range recs {
				if rec.RTP == nil || rec.Src != src || rec.Dst != dst || fmt.Sprintf("0x%08x", rec.RTP.SSRC) != e.SSRC {
					continue
				}
				at, err := time.Parse(time.RFC3339Nano, rec.Time)
				if err != nil {
					t.Fatalf("frame %d: time %q: %v", rec.Frame, rec.Time, err)
				}
				if !prevAt.IsZero() {
					spacing := float64(at.Sub(prevAt).Microseconds()) / 1000
					sent := float64(int32(rec.RTP.Timestamp-prevTS)) * 1000 / float64(s.ClockRate)
					j += (math.Abs(spacing-sent) - j) / 16
					js = append(js, j)
				}
				prevAt, prevTS = at, rec.RTP.Timestamp
			}
			if len(js) == 0 {
				t.Fatalf("%s: no rtp records %s SSRC %s", rule, e.Stream, e.SSRC)
			}
			var total float64
			for _, v := range js {
				total += v
			}
			if peak, mean, final := slices.Max(js), total/float64(len(js)), js[len(js)-1]; math.Abs(peak-e.MaxJitterMS) > tolerance ||
				math.Abs(mean-e.MeanJitterMS) > tolerance || math.Abs(final-e.FinalJitterMS) > tolerance {
				t.Errorf("%s: RFC 3550 over the decode records: max %.3f ms, mean %.3f, final %.3f; tshark: %.3f, %.3f, %.3f",
					rule, peak, mean, final, e.MaxJitterMS, e.MeanJitterMS, e.FinalJitterMS)
			}
		}
	}

	if e := ev.ALG; e != nil {
		const rule = "sip.alg-suspected"
		if f, text, ok := finding(rule); ok {
			mention(rule, text, "inside source", "from "+e.Inside+" at frame")
			mention(rule, text, "outside source", "from "+e.Outside+" at frame")
			for _, w := range e.Rewritten {
				mention(rule, text, "rewrite", w)
			}
			if e.Requests > 1 {
				number(rule, text, "requests seen on both sides", e.Requests)
			}
			for _, ep := range []string{e.Inside, e.Outside} {
				if !slices.Contains(f.Endpoints, ep) {
					t.Errorf("%s: %s not in the endpoints %v", rule, ep, f.Endpoints)
				}
			}
			// The filter selects both copies of each request, and nothing
			// else, by what the finding quotes.
			for _, h := range []string{host(e.Inside), host(e.Outside)} {
				if !strings.Contains(f.Filter, "ip.src == "+h) {
					t.Errorf("%s: filter %q does not select source %s", rule, f.Filter, h)
				}
			}
		}
	}

	if e := ev.BindingExpired; e != nil {
		const rule = "nat.binding-expired"
		if f, text, ok := finding(rule); ok {
			for _, ep := range []string{e.OldPublic, e.NewPublic} {
				if !slices.Contains(f.Endpoints, ep) {
					t.Errorf("%s: %s not in the endpoints %v", rule, ep, f.Endpoints)
				}
			}
			mention(rule, text, "old public port", fmt.Sprintf("last packet from %s at", e.OldPublic))
			mention(rule, text, "last frame from the old port", fmt.Sprintf("(frame %d)", e.LastFromOldFrame))
			mention(rule, text, "new public port", "came from "+e.NewPublic)
			mention(rule, text, "first frame from the new port", fmt.Sprintf("frame %d at", e.FirstFromNewFrame))
			silent := "no SIP or STUN"
			if n := len(e.KeepAliveFrames); n > 0 {
				silent = "no SIP, STUN or keep-alive"
				mention(rule, text, "keep-alives", fmt.Sprintf("sent %d CRLF keep-alives to the registrar", n))
				mention(rule, text, "keep-alive interval", "one every "+strconv.FormatFloat(e.KeepAliveIntervalS, 'f', -1, 64)+" s")
				mention(rule, text, "keep-alive ports", "("+strings.Join(e.KeepAlivePorts, ", ")+")")
				mention(rule, text, "NAT timeout", "shorter than "+strconv.FormatFloat(e.NATTimeoutUnderS, 'f', -1, 64)+" s")
				cite(rule, f, "keep-alive", e.KeepAliveFrames...)
			}
			mention(rule, text, "idle gap", silent+" came from that port for the next "+strconv.FormatFloat(e.IdleGapS, 'f', -1, 64)+" s")
			mention(rule, text, "inside socket", "announces "+e.Inside+" in its Via")
			mention(rule, text, "Call-ID", strconv.Quote(e.CallID))
			mention(rule, text, "AOR", strconv.Quote(e.AOR))
			mention(rule, text, "Expires", fmt.Sprintf("asked for Expires %d", e.Expires))
			cite(rule, f, "last from the old port", e.LastFromOldFrame)
			cite(rule, f, "first from the new port", e.FirstFromNewFrame)
			cite(rule, f, "unanswered request to the old port", e.UnansweredFrames...)
			cite(rule, f, "ICMP", e.ICMPFrames...)
			icmp := make([]string, len(e.ICMPFrames))
			for i, fr := range e.ICMPFrames {
				icmp[i] = strconv.FormatUint(fr, 10)
			}
			mention(rule, text, "ICMP frames", "(frames "+strings.Join(icmp, ", ")+")")
			mention(rule, text, "unanswered sends", fmt.Sprintf("%d sends, first frame %d", len(e.UnansweredFrames), e.UnansweredFrames[0]))
			if want := diagnose.FilterFrames(f.Frames); f.Filter != want {
				t.Errorf("%s: filter %q, want the frames cited: %q", rule, f.Filter, want)
			}
		}
	}

	if e := ev.Unreachable; e != nil {
		const rule = "media.unreachable"
		if f, text, ok := finding(rule); ok {
			src, dst := arrow(t, e.Stream)
			mention(rule, text, "stream", "from "+src+" to "+dst+" (SSRC "+e.SSRC+", call "+strconv.Quote(e.CallID)+")")
			mention(rule, text, "errors", fmt.Sprintf("drew %d ICMP errors: %q (ICMP type %d code %d), from %s", len(e.ICMPFrames), e.ICMP, e.Type, e.Code, e.ICMPFrom))
			if got := strings.Contains(text, "the destination itself"); got != e.FromDestination {
				t.Errorf("%s: says the destination sent the errors %v, want %v: %s", rule, got, e.FromDestination, text)
			}
			if !slices.Equal(f.Frames, e.ICMPFrames) || f.Filter != e.Filter {
				t.Errorf("%s: frames %v, filter %q; want %v, %q", rule, f.Frames, f.Filter, e.ICMPFrames, e.Filter)
			}
			for _, s := range r.Streams {
				switch ic := s.ICMP; {
				case s.Src != src || s.Dst != dst || s.SSRC != e.SSRC:
					if ic != nil {
						t.Errorf("stream %s → %s: %d ICMP errors, want none", s.Src, s.Dst, ic.Errors)
					}
				case ic == nil || ic.Errors != uint64(len(e.ICMPFrames)) || !slices.Equal(ic.Frames, e.ICMPFrames) || ic.From != e.ICMPFrom ||
					ic.FromDestination != e.FromDestination || ic.Type != e.Type || ic.Code != e.Code || ic.Description != e.ICMP:
					t.Errorf("stream %s: icmp %+v, want %+v", e.Stream, ic, *e)
				}
			}
		}
	}

	if e := ev.ACKMissing; e != nil {
		const rule = "sip.ack-missing"
		if f, text, ok := finding(rule); ok {
			mention(rule, text, "the answer", fmt.Sprintf("200 OK in frame %d", e.OKFrame))
			mention(rule, text, "its copies", fmt.Sprintf("repeated the 200 OK %d times", len(e.Resent)))
			mention(rule, text, "the callee's BYE", fmt.Sprintf("BYE in frame %d, %s s after answering", e.ByeFrame, strconv.FormatFloat(e.ByeAfterS, 'f', -1, 64)))
			mention(rule, text, "the ACKs", fmt.Sprintf("did send its ACK, %d times", len(e.ACKFrames)))
			mention(rule, text, "where they went", "but to "+e.ACKSentTo+", the address in the 200 OK's Contact, not to "+e.InviteSentTo)
			cite(rule, f, "200 OK", e.OKFrame)
			cite(rule, f, "200 OK again", e.Resent...)
			cite(rule, f, "ACK", e.ACKFrames...)
			cite(rule, f, "BYE", e.ByeFrame)
			for _, ep := range []string{e.ACKSentTo, e.InviteSentTo} {
				if !slices.Contains(f.Endpoints, ep) {
					t.Errorf("%s: %s not in the endpoints %v", rule, ep, f.Endpoints)
				}
			}
		}
	}

	if more, ok := moreEvidence[name]; ok {
		_, text, ok := finding(more.rule)
		if !ok {
			t.Fatalf("moreEvidence names %s, which did not fire", more.rule)
		}
		for _, s := range more.mentions {
			mention(more.rule, text, "EXPECTED.md evidence", s)
		}
		if more.reasonHeader != "" {
			if len(r.Calls) != 1 || r.Calls[0].ReasonHeader != more.reasonHeader {
				t.Errorf("calls: %+v, want one with reason_header %q", r.Calls, more.reasonHeader)
			}
		}
	}
}

// sipKeyFrames says what the decode record of each SIP key frame of
// expected.json is: a request method or a response status.
var sipKeyFrames = map[string]string{
	"invite": "INVITE", "invite_sends": "INVITE", "invite_rewritten": "INVITE", "ack": "ACK", "bye": "BYE",
	"register": "REGISTER", "register_with_credentials": "REGISTER", "attempts": "REGISTER",
	"trying_100": "100", "ringing_180": "180", "ok_200": "200", "bye_200": "200", "busy_486": "486",
	"challenge_401": "401", "rejections_401": "401",
	// TCP segments without SIP: no record.
	"tcp_syn": "", "fin": "",
}

// checkSIPDecode compares the decode records of a sip-*.pcap with tshark's
// counts: SIP requests by method and responses by status, retransmissions,
// RTP packets (all, and those at SDP endpoints) and RTP streams.
func checkSIPDecode(t *testing.T, want expectedCapture, recs []decodeRecord) {
	t.Helper()
	requests, responses := map[string]int{}, map[string]int{}
	seen := map[string]bool{}
	retransmissions := 0
	byFrame := map[uint64][]decodeRecord{}
	type streamKey struct{ src, dst, ssrc string }
	rtpPackets := map[streamKey]int{}
	rtpDSCP := map[streamKey]map[string]uint64{}
	var rtpAll, rtpAtSDP int
	sdpEndpoints := map[string]bool{}
	for _, c := range want.Calls {
		sdpEndpoints[c.CallerSDP], sdpEndpoints[c.CalleeSDP] = true, true
	}
	var transports []string
	for _, r := range recs {
		byFrame[r.Frame] = append(byFrame[r.Frame], r)
		switch {
		case r.SIP != nil:
			what := r.SIP.Method
			if what != "" {
				requests[what]++
			} else {
				what = strconv.Itoa(r.SIP.Status)
				responses[what]++
			}
			// A retransmission repeats the message of its transaction
			// (RFC 3261 §17): same branch, CSeq and method or status, on
			// the same path (a copy seen on the far side of a NAT, as in
			// sip-nat-alg-both-sides, is not one).
			// tshark does not flag a repeated ACK (sip-ack-missing: one
			// for each copy of the 200 OK, RFC 3261 §13.2.2.4).
			// A copy seen at another point of the capturing host (a
			// router captured with tcpdump -i any forwarding without NAT,
			// sip-dscp-remarked-routed) is not one either.
			key := fmt.Sprint(r.SIP.CallID, r.SIP.Branch, r.SIP.CSeq.Number, r.SIP.CSeq.Method, what, r.Src, r.Dst, r.Direction, r.Interface)
			if seen[key] && what != "ACK" {
				retransmissions++
			}
			seen[key] = true
			if !slices.Contains(transports, r.Transport) {
				transports = append(transports, r.Transport)
			}
		case r.RTP != nil:
			rtpAll++
			if sdpEndpoints[r.Src] || sdpEndpoints[r.Dst] {
				rtpAtSDP++
			}
			k := streamKey{r.Src, r.Dst, fmt.Sprintf("0x%08x", r.RTP.SSRC)}
			rtpPackets[k]++
			if rtpDSCP[k] == nil {
				rtpDSCP[k] = map[string]uint64{}
			}
			rtpDSCP[k][strconv.Itoa(int(r.DSCP))]++
		case r.STUN != nil || r.Channel != nil || r.RTCP != nil:
			t.Errorf("frame %d: a %s record in a capture of SIP and RTP only", r.Frame, r.Proto)
		}
	}
	if !mapsEqual(requests, want.Tshark.SIPRequests) {
		t.Errorf("SIP requests by method:\n got  %v\n want %v", requests, want.Tshark.SIPRequests)
	}
	if !mapsEqual(responses, want.Tshark.SIPResponses) {
		t.Errorf("SIP responses by status:\n got  %v\n want %v", responses, want.Tshark.SIPResponses)
	}
	if retransmissions != want.Tshark.SIPRetransmissions {
		t.Errorf("%d SIP retransmissions in the records, tshark flags %d", retransmissions, want.Tshark.SIPRetransmissions)
	}
	if len(want.Calls) > 0 && !slices.Equal(transports, []string{want.Calls[0].Transport}) {
		t.Errorf("SIP over %v, want %s", transports, want.Calls[0].Transport)
	}

	if rtpAll != want.Tshark.RTPPackets {
		t.Errorf("%d rtp records, tshark finds %d RTP packets with its heuristic", rtpAll, want.Tshark.RTPPackets)
	}
	if rtpAtSDP != want.Tshark.RTPFromSDP {
		t.Errorf("%d rtp records to or from an SDP endpoint %v, tshark finds %d from the SDP alone", rtpAtSDP, slices.Sorted(maps.Keys(sdpEndpoints)), want.Tshark.RTPFromSDP)
	}
	if len(rtpPackets) != want.Tshark.RTPStreams {
		t.Errorf("rtp records in %d streams (5-tuple and SSRC), tshark finds %d", len(rtpPackets), want.Tshark.RTPStreams)
	}
	for _, w := range want.Tshark.Streams {
		k := streamKey{w.Src, w.Dst, w.SSRC}
		if uint64(rtpPackets[k]) != w.Packets || !dscpEqual(rtpDSCP[k], w.DSCP) {
			t.Errorf("rtp records %s → %s SSRC %s: %d packets, DSCP %v; tshark %d, %v", w.Src, w.Dst, w.SSRC, rtpPackets[k], rtpDSCP[k], w.Packets, w.DSCP)
		}
	}

	for _, key := range slices.Sorted(maps.Keys(want.KeyFrames)) {
		what, ok := sipKeyFrames[key]
		if !ok {
			t.Errorf("expected.json: key frame %q unknown to golden_sip_test.go", key)
			continue
		}
		if what == "" {
			continue
		}
		for _, fr := range keyFrames(t, want, key) {
			rs := byFrame[fr]
			if len(rs) != 1 || rs[0].SIP == nil {
				t.Errorf("key frame %s (%d): %d records, want one SIP %s", key, fr, len(rs), what)
				continue
			}
			got := rs[0].SIP.Method
			if got == "" {
				got = strconv.Itoa(rs[0].SIP.Status)
			}
			if got != what {
				t.Errorf("key frame %s (%d) is SIP %s, want %s", key, fr, got, what)
			}
			// The offer rides on the INVITE in every call here.
			if (key == "invite" || key == "invite_sends") && !rs[0].SIP.SDP {
				t.Errorf("key frame %s (%d): INVITE without SDP", key, fr)
			}
		}
	}
}
