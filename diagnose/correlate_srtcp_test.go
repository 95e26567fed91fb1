package diagnose

import (
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
)

func observeSRTCP(e *Engine, frame uint64, at time.Duration, src, dst netip.AddrPort, ssrc uint32) {
	e.Observe(&decode.Message{
		Packet: decode.Packet{Frame: frame, Time: simStart.Add(at), Src: src, Dst: dst, Transport: decode.UDP},
		Kind:   decode.KindRTCP, SRTCP: &rtp.SRTCP{Type: rtp.TypeRR, Length: 8, SSRC: ssrc, Encrypted: true, Index: uint32(frame)},
	})
}

// TestSRTCPPerStream: SRTCP counts for the stream whose SSRC sent it, on
// its 5-tuple (rtcp-mux) or between its addresses (RTCP on its own
// ports), from probation on; no report blocks are read from it.
func TestSRTCPPerStream(t *testing.T) {
	e := NewEngine(Options{})
	pkts := voice(100, 0)
	var m decode.Message
	frame := uint64(0)
	rtcpCaller := netip.AddrPortFrom(mediaCaller.Addr(), mediaCaller.Port()+1)
	rtcpCallee := netip.AddrPortFrom(mediaCallee.Addr(), mediaCallee.Port()+1)
	for i := range pkts {
		frame++
		setRTP(&m, frame, &pkts[i])
		e.Observe(&m)
		at := time.Duration(pkts[i].at * float64(time.Millisecond))
		switch i {
		case 0:
			// In probation: a candidate, not a stream yet.
			frame++
			observeSRTCP(e, frame, at, mediaCaller, mediaCallee, 0x1234)
		case 50:
			frame++
			observeSRTCP(e, frame, at, mediaCaller, mediaCallee, 0x1234) // rtcp-mux
			frame++
			observeSRTCP(e, frame, at, rtcpCaller, rtcpCallee, 0x1234) // RTCP port
			// Not counted: another SSRC (a receive-only end's), the
			// stream's SSRC the other way, and from another address.
			frame++
			observeSRTCP(e, frame, at, mediaCallee, mediaCaller, 0x5555)
			frame++
			observeSRTCP(e, frame, at, mediaCallee, mediaCaller, 0x1234)
			frame++
			observeSRTCP(e, frame, at, netip.MustParseAddrPort("203.0.113.9:40000"), mediaCallee, 0x1234)
		}
	}
	srtcp := &decode.Message{
		Packet: decode.Packet{Frame: frame + 1, Time: simStart.Add(3 * time.Second), Src: mediaCaller, Dst: mediaCallee, Transport: decode.UDP},
		Kind:   decode.KindRTCP, SRTCP: &rtp.SRTCP{Type: rtp.TypeRTPFB, Count: 15, Length: 24, SSRC: 0x1234, Encrypted: true, Index: 9},
	}
	if n := testing.AllocsPerRun(100, func() { e.Observe(srtcp) }); n != 0 {
		t.Errorf("%v allocations per SRTCP datagram", n)
	}
	a := e.Finish(simStart.Add(time.Minute))
	if len(a.Streams) != 1 {
		t.Fatalf("%d streams", len(a.Streams))
	}
	s := a.Streams[0]
	// 3, and the 101 AllocsPerRun observed.
	if s.SRTCPPackets != 104 || s.RemoteReports != 0 {
		t.Errorf("SRTCP %d, remote reports %d; want 104 and 0", s.SRTCPPackets, s.RemoteReports)
	}
	if sr := newStreamReport(s); sr.SRTCPPackets != 104 || sr.RTCP != nil {
		t.Errorf("report: srtcp_packets %d, rtcp %+v", sr.SRTCPPackets, sr.RTCP)
	}
}
