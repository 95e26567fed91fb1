package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

// TestPayloadTypeMismatchCapture: in sip-payload-type-mismatch.pcap the
// caller offered telephone-event as 96 and the callee answered 101; the
// callee sends its digit as 96 (right) with comfort noise before it, the
// caller sends its two digits as 96 too (wrong: the answer said 101).
// The report counts each stream's payload types as the decode records
// do, and the one finding is about the caller's digits.
func TestPayloadTypeMismatchCapture(t *testing.T) {
	const name = "sip-payload-type-mismatch.pcap"
	r, _ := analyzeJSON(t, exitOK, pcapPath(name))

	// What the report counts per stream and type is what the decode
	// records hold: packets and the first frame of each type.
	type typeKey struct {
		ssrc uint32
		pt   uint8
	}
	packets, first := map[typeKey]uint64{}, map[typeKey]uint64{}
	for _, rec := range decodeRecords(t, pcapPath(name)) {
		if rec.RTP == nil {
			continue
		}
		k := typeKey{rec.RTP.SSRC, rec.RTP.PT}
		if packets[k] == 0 {
			first[k] = rec.Frame
		}
		packets[k]++
	}
	for _, w := range []struct {
		src, dst, ssrc string
		types          []uint8 // in order of first appearance
		typePackets    []uint64
	}{
		{"10.0.1.10:6000", "203.0.113.20:6000", "0x0a11ce01", []uint8{0, 96}, []uint64{128, 22}},
		{"203.0.113.20:6000", "10.0.1.10:6000", "0x0b0b0002", []uint8{0, 13, 96}, []uint64{129, 1, 11}},
	} {
		s := streamOf(r, w.src, w.dst, w.ssrc)
		if s == nil {
			t.Fatalf("no stream %s → %s SSRC %s", w.src, w.dst, w.ssrc)
		}
		var ssrc uint32
		fmt.Sscanf(w.ssrc, "0x%x", &ssrc)
		if len(s.PayloadTypes) != len(w.types) {
			t.Errorf("stream %s: payload_types %+v, want types %v", w.ssrc, s.PayloadTypes, w.types)
			continue
		}
		for i, p := range s.PayloadTypes {
			k := typeKey{ssrc, w.types[i]}
			if p.PT != w.types[i] || p.Packets != w.typePackets[i] || p.Packets != packets[k] || p.First.Frame != first[k] {
				t.Errorf("stream %s type %d: %d packets from frame %d; want %d of type %d, the records %d from frame %d",
					w.ssrc, p.PT, p.Packets, p.First.Frame, w.typePackets[i], w.types[i], packets[k], first[k])
			}
		}
	}

	fs := findingsOf(r, "media.payload-type-mismatch")
	if len(fs) != 1 {
		t.Fatalf("%d media.payload-type-mismatch findings, want 1: %+v", len(fs), fs)
	}
	f := fs[0]
	text := oneLine(f.Title + " " + f.Detail)
	for _, s := range []string{
		"Caller sends payload type 96 (telephone-event) that the callee did not agree to",
		"10.0.1.10:6000 → 203.0.113.20:6000 (SSRC 0x0a11ce01",
		"128 of PCMU/8000 (payload type 0) from frame 7 and 22 of payload type 96 from frame 98",
		"The callee's answer (frame 4) has m=audio 6000 RTP/AVP 0 13 101, a=rtpmap:0 PCMU/8000, a=rtpmap:13 CN/8000, a=rtpmap:101 telephone-event/8000: it accepts payload types 0, 13 and 101 only.",
		"The caller sends telephone-event as payload type 96, the number its own offer (frame 1) gave it, but the callee's answer (frame 4) bound telephone-event to 101.",
		"DTMF tones (RFC 4733) are lost",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("finding does not say %q: %s", s, text)
		}
	}
	if f.Severity != diagnose.Warning || !slices.Equal(f.Frames, []uint64{1, 4, 98}) {
		t.Errorf("finding: %s, frames %v; want a warning citing the offer, the answer and the first packet of type 96", f.Severity, f.Frames)
	}
	if want := `(rtp.ssrc == 0x0a11ce01 && rtp.p_type == 96) || sip.Call-ID == "` + r.Calls[0].CallID + `"`; f.Filter != want {
		t.Errorf("filter %q, want %q", f.Filter, want)
	}
}
