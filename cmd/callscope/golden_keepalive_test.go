package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestSIPKeepAlivesMatchTshark: the CRLF keep-alives `callscope decode`
// lists in each reference SIP capture are the datagrams tshark selects
// with `udp.payload == 0d:0a:0d:0a || udp.payload == 0d:0a` (it shows
// them as "Data", even on port 5060), which expected.json lists as the
// keepalive_frames of the nat.binding-expired evidence; a capture without
// that list holds none. stats.sip_keepalives counts them. Captures with a
// sip_keepalives block are TestSIPKeepAliveFlowsMatchTshark's.
func TestSIPKeepAlivesMatchTshark(t *testing.T) {
	exp := loadExpectations(t)
	flows := expectedKeepAlives(t)
	checked := 0
	for _, name := range sortedNames(exp.Captures) {
		if !strings.HasPrefix(name, "sip-") || flows[name] != nil {
			continue
		}
		want := exp.Captures[name]
		t.Run(name, func(t *testing.T) {
			var ev struct {
				KeepAliveFrames []uint64 `json:"keepalive_frames"`
			}
			if raw, ok := want.Evidence["nat.binding-expired"]; ok {
				if err := json.Unmarshal(raw, &ev); err != nil {
					t.Fatal(err)
				}
			}
			var frames []uint64
			for _, r := range decodeRecords(t, pcapPath(name)) {
				if r.Proto != "sip-keepalive" {
					continue
				}
				frames = append(frames, r.Frame)
				if r.Transport != "udp" || r.SIPKeepAlive == nil || r.SIPKeepAlive.Length != 4 && r.SIPKeepAlive.Length != 2 {
					t.Errorf("frame %d: keep-alive record %+v", r.Frame, r)
				}
			}
			if !slices.Equal(frames, ev.KeepAliveFrames) {
				t.Errorf("keep-alives in frames %v, tshark's CRLF datagrams are frames %v", frames, ev.KeepAliveFrames)
			}
			r, _ := analyzeJSON(t, exitOK, pcapPath(name))
			if r.Stats.SIPKeepAlives != uint64(len(ev.KeepAliveFrames)) {
				t.Errorf("stats.sip_keepalives = %d, want %d", r.Stats.SIPKeepAlives, len(ev.KeepAliveFrames))
			}
			if len(ev.KeepAliveFrames) > 0 {
				checked++
			}
		})
	}
	if checked == 0 {
		t.Error("no reference capture with keep-alives: sip-nat-binding-expired-keepalive.pcap is missing from expected.json")
	}
}
