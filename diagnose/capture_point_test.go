package diagnose

import (
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
)

// copyOf is a stream's packets as a capture on the box forwarding them
// shows them a second time: at another point, later, with another mark.
func copyOf(pkts []rtpPkt, dscp uint8, after time.Duration) []rtpPkt {
	out := make([]rtpPkt, len(pkts))
	for i, pk := range pkts {
		pk.dscp = dscp
		pk.at += float64(after) / float64(time.Millisecond)
		out[i] = pk
	}
	return out
}

// feedAt observes each packet of the streams in turn, every stream's
// i-th packet at its own capture point, frames numbered from 1.
func feedAt(e *Engine, points []capturePoint, streams ...[]rtpPkt) {
	var m decode.Message
	frame := uint64(0)
	for i := range streams[0] {
		for j, s := range streams {
			if i >= len(s) {
				continue
			}
			frame++
			setRTP(&m, frame, &s[i])
			m.Direction, m.Interface = points[j].direction, points[j].ifindex
			e.Observe(&m)
		}
	}
}

// TestStreamCopiesAtTwoPoints: a capture taken on a router that forwards
// without NAT (tcpdump -i any) holds each packet twice on one 5-tuple, at
// two points of the capturing host. Each copy is a stream of its own,
// counted as a capture at that point alone would count it: no duplicates,
// its own DSCP marks, and loss where the box lost packets.
func TestStreamCopiesAtTwoPoints(t *testing.T) {
	arriving := capturePoint{direction: decode.Arriving, ifindex: 2}
	leaving := capturePoint{direction: decode.Leaving, ifindex: 3}
	sent := voice(150, 0)
	tests := []struct {
		name     string
		points   []capturePoint
		copies   [][]rtpPkt
		streams  int
		packets  []uint64
		lost     []int64
		dups     []uint64
		dscp     []string
		where    []string
		jitterMS float64 // at most, every stream
	}{
		{
			name:    "re-marked between interfaces",
			points:  []capturePoint{arriving, leaving},
			copies:  [][]rtpPkt{sent, copyOf(sent, 0, 13*time.Microsecond)},
			streams: 2, packets: []uint64{150, 150}, lost: []int64{0, 0}, dups: []uint64{0, 0},
			dscp: []string{"46:150", "0:150"}, where: []string{"arriving on interface 2", "leaving on interface 3"},
			jitterMS: 0.001,
		},
		{
			name:    "the box drops 3 packets",
			points:  []capturePoint{arriving, leaving},
			copies:  [][]rtpPkt{sent, without(copyOf(sent, 46, 13*time.Microsecond), 40, 41, 90)},
			streams: 2, packets: []uint64{150, 147}, lost: []int64{0, 3}, dups: []uint64{0, 0},
			dscp: []string{"46:150", "46:147"}, where: []string{"arriving on interface 2", "leaving on interface 3"},
			jitterMS: 1.5,
		},
		{
			// LINUX_SLL: the direction alone.
			name:    "no interface index",
			points:  []capturePoint{{direction: decode.Arriving}, {direction: decode.Leaving}},
			copies:  [][]rtpPkt{sent, copyOf(sent, 0, 13*time.Microsecond)},
			streams: 2, packets: []uint64{150, 150}, lost: []int64{0, 0}, dups: []uint64{0, 0},
			dscp: []string{"46:150", "0:150"}, where: []string{"arriving", "leaving"},
			jitterMS: 0.001,
		},
		{
			// Interface indexes too large for the stream cache's tag,
			// equal in their low 20 bits: still two streams.
			name:    "large interface indexes",
			points:  []capturePoint{{direction: decode.Leaving, ifindex: 2}, {direction: decode.Leaving, ifindex: 1<<20 | 2}},
			copies:  [][]rtpPkt{sent, copyOf(sent, 0, 13*time.Microsecond)},
			streams: 2, packets: []uint64{150, 150}, lost: []int64{0, 0}, dups: []uint64{0, 0},
			dscp: []string{"46:150", "0:150"}, where: []string{"leaving on interface 2", "leaving on interface 1048578"},
			jitterMS: 0.001,
		},
		{
			// Without a capture point (two taps merged, a SPAN of both
			// ports) the copies are duplicates of one stream, as before.
			name:    "no capture point",
			points:  []capturePoint{{}, {}},
			copies:  [][]rtpPkt{sent, copyOf(sent, 0, 13*time.Microsecond)},
			streams: 1, packets: []uint64{300}, lost: []int64{-150}, dups: []uint64{150},
			dscp: []string{"0:150 46:150"}, where: []string{""},
			jitterMS: 0.01,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(Options{})
			feedAt(e, tt.points, tt.copies...)
			a := e.Finish(simStart.Add(time.Hour))
			if len(a.Streams) != tt.streams {
				t.Fatalf("%d streams, want %d", len(a.Streams), tt.streams)
			}
			for i, s := range a.Streams {
				if s.Packets != tt.packets[i] || s.Lost != tt.lost[i] || s.Duplicates != tt.dups[i] || s.DSCP.String() != tt.dscp[i] || s.CapturePoint() != tt.where[i] {
					t.Errorf("stream %d: %d packets, %d lost, %d duplicates, DSCP %s, seen %q; want %d, %d, %d, %s, %q",
						i, s.Packets, s.Lost, s.Duplicates, s.DSCP.String(), s.CapturePoint(), tt.packets[i], tt.lost[i], tt.dups[i], tt.dscp[i], tt.where[i])
				}
				if s.MaxJitter > tt.jitterMS {
					t.Errorf("stream %d: jitter up to %.3f ms, want at most %.3f", i, s.MaxJitter, tt.jitterMS)
				}
			}
		})
	}
}

// TestICMPCopiesAtTwoPoints: on a router captured with tcpdump -i any, an
// ICMP error about a forwarded stream is seen twice too: arriving from
// the far side, where the stream's copy left, and leaving toward the
// sender, where its copy arrived. Each counts for the copy on its side.
func TestICMPCopiesAtTwoPoints(t *testing.T) {
	arriving := capturePoint{direction: decode.Arriving, ifindex: 2}
	leaving := capturePoint{direction: decode.Leaving, ifindex: 3}
	e := NewEngine(Options{})
	sent := voice(20, 0)
	feedAt(e, []capturePoint{arriving, leaving}, sent, copyOf(sent, 46, 13*time.Microsecond))
	at := time.Second
	in := icmpAbout(100, at, mediaCallee.Addr(), 3, mediaCaller, mediaCallee, quotedRTP)
	in.Direction, in.Interface = decode.Arriving, 3
	e.Observe(in)
	out := icmpAbout(101, at+20*time.Microsecond, mediaCallee.Addr(), 3, mediaCaller, mediaCallee, quotedRTP)
	out.Direction, out.Interface = decode.Leaving, 2
	e.Observe(out)
	a := e.Finish(simStart.Add(time.Hour))
	if len(a.Streams) != 2 {
		t.Fatalf("%d streams, want 2", len(a.Streams))
	}
	for _, s := range a.Streams {
		want := map[string]uint64{"arriving on interface 2": 101, "leaving on interface 3": 100}[s.CapturePoint()]
		if s.ICMP == nil || s.ICMP.Errors != 1 || s.ICMP.First.Frame != want {
			t.Errorf("stream %s: ICMP %+v, want one error, frame %d", s.CapturePoint(), s.ICMP, want)
		}
	}
}

// TestRoutedCapture reads a SIPp call captured on the router forwarding it
// without NAT, which re-marks the caller's audio (make-sip-captures.sh
// dscp-remarked-routed): every packet twice, arriving on one interface
// and leaving on the other.
func TestRoutedCapture(t *testing.T) {
	a, _, err := Analyze([]string{"../pcaps/sip-dscp-remarked-routed.pcap"}, Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		src, where, dscp string
		first            uint64
	}{
		{"10.0.1.10:6000", "arriving on interface 2", "46:150", 11},
		{"10.0.1.10:6000", "leaving on interface 3", "0:150", 12},
		{"203.0.113.20:6000", "arriving on interface 3", "46:150", 13},
		{"203.0.113.20:6000", "leaving on interface 2", "46:150", 14},
	}
	if len(a.Streams) != len(want) {
		t.Fatalf("%d streams, want %d", len(a.Streams), len(want))
	}
	for i, s := range a.Streams {
		w := want[i]
		if s.Src.String() != w.src || s.CapturePoint() != w.where || s.DSCP.String() != w.dscp || s.First.Frame != w.first ||
			s.Packets != 150 || s.Expected != 150 || s.Lost != 0 || s.Duplicates != 0 || s.MaxLossBurst != 0 {
			t.Errorf("stream %d: %s %s DSCP %s from frame %d, %d packets of %d, %d lost, %d duplicates; want %s %s DSCP %s from frame %d, 150 of 150",
				i, s.Src, s.CapturePoint(), s.DSCP.String(), s.First.Frame, s.Packets, s.Expected, s.Lost, s.Duplicates, w.src, w.where, w.dscp, w.first)
		}
	}
	// SIP: each message twice, never a retransmission.
	if len(a.Calls) != 1 {
		t.Fatalf("%d calls, want 1", len(a.Calls))
	}
	c := a.Calls[0]
	for _, tx := range c.Transactions {
		if tx.RequestCount != 1 || len(tx.Requests) != 1 {
			t.Errorf("%s: sent %d times (%d frames), want once", tx.Method, tx.RequestCount, len(tx.Requests))
		}
		for _, r := range tx.Responses {
			if r.Retransmissions != 0 {
				t.Errorf("%s %d: %d retransmissions, want none", tx.Method, r.Status, r.Retransmissions)
			}
		}
	}
	copies := 0
	for _, st := range c.Ladder {
		if strings.Contains(st.Label, "retransmission") {
			t.Errorf("ladder frame %d: %q", st.Frame, st.Label)
		}
		if strings.Contains(st.Label, "(copy leaving on interface") {
			copies++
		}
	}
	if len(c.Ladder) != 14 || copies != 7 {
		t.Errorf("%d ladder steps, %d of them copies; want 14 and 7", len(c.Ladder), copies)
	}
}
