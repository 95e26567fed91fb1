package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// expectedKeepAliveFlow is one flow of a capture's sip_keepalives block in
// expected.json: the frames tshark selects with its tshark_filter (bare
// CRLF payloads: tshark shows them as TCP or UDP data, never as SIP),
// split into double-CRLF pings and single-CRLF pongs, and the line the
// text report gives the flow.
type expectedKeepAliveFlow struct {
	Src        string   `json:"src"`
	Dst        string   `json:"dst"`
	Transport  string   `json:"transport"`
	Pings      []uint64 `json:"pings"`
	Pongs      []uint64 `json:"pongs"`
	IntervalS  float64  `json:"interval_s"`
	NoPongBack bool     `json:"no_pong_back"`
	Text       string   `json:"text"`
}

// expectedKeepAlives reads the sip_keepalives blocks of expected.json, by
// capture. golden_test.go's expectedCapture leaves them out: they describe
// captures whatever rule fires.
func expectedKeepAlives(t *testing.T) map[string][]expectedKeepAliveFlow {
	flows, _ := expectedKeepAlivesFiltered(t)
	return flows
}

// expectedKeepAlivesFiltered is expectedKeepAlives with each capture's
// tshark_filter.
func expectedKeepAlivesFiltered(t *testing.T) (map[string][]expectedKeepAliveFlow, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pcapsDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Captures map[string]struct {
			SIPKeepAlives *struct {
				Flows        []expectedKeepAliveFlow `json:"flows"`
				TsharkFilter string                  `json:"tshark_filter"`
			} `json:"sip_keepalives"`
		} `json:"captures"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	out, filters := map[string][]expectedKeepAliveFlow{}, map[string]string{}
	for name, c := range e.Captures {
		if c.SIPKeepAlives == nil {
			continue
		}
		if len(c.SIPKeepAlives.Flows) == 0 || c.SIPKeepAlives.TsharkFilter == "" {
			t.Errorf("expected.json: %s: sip_keepalives without flows or tshark_filter", name)
		}
		out[name], filters[name] = c.SIPKeepAlives.Flows, c.SIPKeepAlives.TsharkFilter
	}
	return out, filters
}

// TestSIPKeepAliveFlowsMatchTshark: the keep-alives `callscope decode`
// lists in a capture with a sip_keepalives block are the frames tshark's
// filter selects, each a ping (length 4) or pong (length 2) of its flow
// and transport; stats.sip_keepalives counts them; the text report gives
// each flow its line. sip-tcp-keepalive.pcap holds a phone's pings on its
// TCP connection to SIPp as registrar (RFC 5626 §4.4.1), which sends no
// pong, between two REGISTERs framed as they are without them. With
// tshark installed, its filter is checked to select those frames.
func TestSIPKeepAliveFlowsMatchTshark(t *testing.T) {
	all, filters := expectedKeepAlivesFiltered(t)
	tshark, _ := exec.LookPath("tshark")
	tcp := 0
	for _, name := range sortedNames(all) {
		flows := all[name]
		t.Run(name, func(t *testing.T) {
			type flowKey struct{ src, dst, transport string }
			type frames struct{ pings, pongs []uint64 }
			got := map[flowKey]*frames{}
			var keepAlives uint64
			for _, r := range decodeRecords(t, pcapPath(name)) {
				if r.Proto != "sip-keepalive" {
					continue
				}
				keepAlives++
				k := flowKey{r.Src, r.Dst, r.Transport}
				if got[k] == nil {
					got[k] = &frames{}
				}
				switch r.SIPKeepAlive.Length {
				case 4:
					got[k].pings = append(got[k].pings, r.Frame)
				case 2:
					got[k].pongs = append(got[k].pongs, r.Frame)
				default:
					t.Errorf("frame %d: keep-alive of length %d", r.Frame, r.SIPKeepAlive.Length)
				}
			}
			var want uint64
			for _, f := range flows {
				k := flowKey{f.Src, f.Dst, f.Transport}
				g := got[k]
				if g == nil {
					g = &frames{}
				}
				if !slices.Equal(g.pings, f.Pings) || !slices.Equal(g.pongs, f.Pongs) {
					t.Errorf("%s → %s %s: pings in frames %v, pongs %v; tshark's are %v and %v", f.Src, f.Dst, f.Transport, g.pings, g.pongs, f.Pings, f.Pongs)
				}
				delete(got, k)
				want += uint64(len(f.Pings) + len(f.Pongs))
				if f.Transport == "tcp" {
					tcp++
				}
			}
			for k, g := range got {
				t.Errorf("keep-alives on %v, a flow expected.json does not list: %+v", k, *g)
			}
			if tshark != "" {
				var listed []uint64
				for _, f := range flows {
					listed = append(listed, f.Pings...)
					listed = append(listed, f.Pongs...)
				}
				slices.Sort(listed)
				if selected, err := tsharkFrames(tshark, t.TempDir(), pcapPath(name), filters[name]); err != nil || !slices.Equal(selected, listed) {
					t.Errorf("tshark -Y %q selects frames %v (%v); expected.json lists %v", filters[name], selected, err, listed)
				}
			}
			if r, _ := analyzeJSON(t, exitOK, pcapPath(name)); r.Stats.SIPKeepAlives != want || keepAlives != want {
				t.Errorf("stats.sip_keepalives %d and %d records, want %d", r.Stats.SIPKeepAlives, keepAlives, want)
			}
			res := runCLI(t, "analyze", "--color=never", pcapPath(name))
			for _, f := range flows {
				if !strings.Contains(res.stdout, "\n  "+f.Text+"\n") {
					t.Errorf("the text report has no line %q:\n%s", f.Text, res.stdout)
				}
				// The line says what the block says.
				every := " every " + diagnose.FormatSeconds(time.Duration(f.IntervalS*float64(time.Second))) + " s"
				if strings.Contains(f.Text, every) != (f.IntervalS > 0) || strings.HasSuffix(f.Text, " · no pong back") != f.NoPongBack {
					t.Errorf("expected.json: line %q for interval_s %v, no_pong_back %v", f.Text, f.IntervalS, f.NoPongBack)
				}
			}
		})
	}
	if tcp == 0 {
		t.Error("no reference capture with keep-alives over TCP: sip-tcp-keepalive.pcap is missing from expected.json")
	}
}
