package diagnose

import (
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
)

// observeRTCPAt is observeRTCPBytes for a packet seen at a capture point.
func observeRTCPAt(t *testing.T, e *Engine, frame uint64, at time.Duration, cp capturePoint, src, dst netip.AddrPort, b []byte) {
	t.Helper()
	var c rtp.Compound
	if !rtp.ParseRTCP(b, &c) {
		t.Fatalf("test RTCP does not parse: % x", b)
	}
	m := &decode.Message{
		Packet: decode.Packet{Frame: frame, Time: simStart.Add(at), Src: src, Dst: dst, Transport: decode.UDP},
		Kind:   decode.KindRTCP, RTCP: &c, Payload: b,
	}
	m.Direction, m.Interface = cp.direction, cp.ifindex
	e.Observe(m)
}

// TestRTCPCopiesAtTwoPoints: on a router captured with tcpdump -i any,
// forwarding without NAT, the caller's sender report and the callee's
// receiver report about the caller's stream show twice, like the stream
// itself: the SR arriving on the caller's side and leaving on the
// callee's, the RR arriving on the callee's side and leaving on the
// caller's. Each copy of the stream gets the report once, the copy that
// crossed the interface the report crossed, with the round trip measured
// from that interface. Without capture points the copies are one stream
// that gets both, as it always did.
func TestRTCPCopiesAtTwoPoints(t *testing.T) {
	rtcpCaller := netip.AddrPortFrom(mediaCaller.Addr(), mediaCaller.Port()+1)
	rtcpCallee := netip.AddrPortFrom(mediaCallee.Addr(), mediaCallee.Port()+1)
	const (
		ntp     = 0x0000_1111_2222_0000 // middle bits 0x11112222
		forward = 13 * time.Microsecond // the box's forwarding delay
		srAt    = 2500 * time.Millisecond
		rrAt    = 2800 * time.Millisecond // the callee held the SR 250 ms
	)
	// The RR as the callee sent it: 25 % lost, 7 in all, jitter 10 ms.
	rr := rtcpCompound(rtp.TypeRR, 0x5555, 0, rtp.ReportBlock{
		SSRC: 0x1234, FractionLost: 64, CumulativeLost: 7, Jitter: 80, LSR: 0x11112222, DLSR: 65536 / 4,
	})
	sr := rtcpCompound(rtp.TypeSR, 0x1234, ntp, rtp.ReportBlock{SSRC: 0x9999})
	type want struct {
		where   string
		reports int
		rtt     time.Duration
	}
	tests := []struct {
		name string
		// Where the caller's stream was seen (the SR too) and where the
		// callee's RR was, in order.
		stream, report []capturePoint
		want           []want
	}{
		{
			name:   "router, interfaces 2 and 3",
			stream: []capturePoint{{direction: decode.Arriving, ifindex: 2}, {direction: decode.Leaving, ifindex: 3}},
			report: []capturePoint{{direction: decode.Arriving, ifindex: 3}, {direction: decode.Leaving, ifindex: 2}},
			want: []want{
				// Caller side: SR in at 2.5 s, RR out at 2.8 s + 13 µs.
				{"arriving on interface 2", 1, 50*time.Millisecond + forward},
				// Callee side: SR out at 2.5 s + 13 µs, RR in at 2.8 s.
				{"leaving on interface 3", 1, 50*time.Millisecond - forward},
			},
		},
		{
			// LINUX_SLL: the direction alone.
			name:   "no interface index",
			stream: []capturePoint{{direction: decode.Arriving, ifindex: 0}, {direction: decode.Leaving, ifindex: 0}},
			report: []capturePoint{{direction: decode.Arriving, ifindex: 0}, {direction: decode.Leaving, ifindex: 0}},
			want: []want{
				{"arriving", 1, 50*time.Millisecond + forward},
				{"leaving", 1, 50*time.Millisecond - forward},
			},
		},
		{
			// A report seen where no copy of its stream was (its way back
			// crosses interface 4, the stream's did not): nothing to
			// apply it to, as at that interface alone.
			name:   "report crosses another interface",
			stream: []capturePoint{{direction: decode.Arriving, ifindex: 2}, {direction: decode.Leaving, ifindex: 3}},
			report: []capturePoint{{direction: decode.Arriving, ifindex: 4}, {direction: decode.Leaving, ifindex: 2}},
			want: []want{
				{"arriving on interface 2", 1, 50*time.Millisecond + forward},
				{"leaving on interface 3", 0, 0},
			},
		},
		{
			// Two taps merged, a SPAN of both ports: the copies are one
			// stream (with duplicates), which gets both copies of the
			// report, and the round trip from the last of them against
			// the first SR copy its LSR matches.
			name:   "no capture point",
			stream: []capturePoint{{}, {}},
			report: []capturePoint{{}, {}},
			want:   []want{{"", 2, 50*time.Millisecond + forward}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(Options{})
			sent := voice(150, 0)
			feedAt(e, tt.stream, sent, copyOf(sent, 46, forward))
			observeRTCPAt(t, e, 1001, srAt, tt.stream[0], rtcpCaller, rtcpCallee, sr)
			observeRTCPAt(t, e, 1002, srAt+forward, tt.stream[1], rtcpCaller, rtcpCallee, sr)
			observeRTCPAt(t, e, 1003, rrAt, tt.report[0], rtcpCallee, rtcpCaller, rr)
			observeRTCPAt(t, e, 1004, rrAt+forward, tt.report[1], rtcpCallee, rtcpCaller, rr)
			a := e.Finish(simStart.Add(time.Hour))
			if len(a.Streams) != len(tt.want) {
				t.Fatalf("%d streams, want %d", len(a.Streams), len(tt.want))
			}
			for i, s := range a.Streams {
				w := tt.want[i]
				if s.CapturePoint() != w.where || s.RemoteReports != w.reports || s.RoundTrip != w.rtt {
					t.Errorf("stream %d %q: %d reports, round trip %v; want %q, %d, %v", i, s.CapturePoint(), s.RemoteReports, s.RoundTrip, w.where, w.reports, w.rtt)
				}
				if w.reports > 0 && (s.RemoteFractionLost != 0.25 || s.RemoteCumulative != 7 || !approx(s.RemoteJitter, 10)) {
					t.Errorf("stream %d: fraction %v cumulative %d jitter %v ms; want the receiver's 0.25, 7, 10", i, s.RemoteFractionLost, s.RemoteCumulative, s.RemoteJitter)
				}
			}
		})
	}
}

// TestSRTCPCopiesAtTwoPoints: SRTCP on ports of its own, on a router
// captured with tcpdump -i any, counts for the copy of its sender's
// stream seen at the same point, once per copy.
func TestSRTCPCopiesAtTwoPoints(t *testing.T) {
	arriving := capturePoint{ifindex: 2, direction: decode.Arriving}
	leaving := capturePoint{ifindex: 3, direction: decode.Leaving}
	rtcpCaller := netip.AddrPortFrom(mediaCaller.Addr(), mediaCaller.Port()+1)
	rtcpCallee := netip.AddrPortFrom(mediaCallee.Addr(), mediaCallee.Port()+1)
	e := NewEngine(Options{})
	sent := voice(50, 0)
	feedAt(e, []capturePoint{arriving, leaving}, sent, copyOf(sent, 46, 13*time.Microsecond))
	for i, cp := range []capturePoint{arriving, leaving, arriving, leaving} {
		m := &decode.Message{
			Packet: decode.Packet{Frame: uint64(1001 + i), Time: simStart.Add(time.Second + time.Duration(i)*time.Millisecond),
				Src: rtcpCaller, Dst: rtcpCallee, Transport: decode.UDP, Direction: cp.direction, Interface: cp.ifindex},
			Kind: decode.KindRTCP, SRTCP: &rtp.SRTCP{Type: rtp.TypeSR, Length: 8, SSRC: 0x1234, Encrypted: true, Index: uint32(i / 2)},
		}
		e.Observe(m)
	}
	a := e.Finish(simStart.Add(time.Hour))
	if len(a.Streams) != 2 {
		t.Fatalf("%d streams, want 2", len(a.Streams))
	}
	for _, s := range a.Streams {
		if s.SRTCPPackets != 2 {
			t.Errorf("stream %s: %d SRTCP packets, want 2", s.CapturePoint(), s.SRTCPPackets)
		}
	}
}
