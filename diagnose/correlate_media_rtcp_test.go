package diagnose

import (
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
)

// TestRoundTripAfterManySources: sender report logs follow the active
// sources. After MaxSenderReportSources sources sent a sender report and
// fell silent for an idle timeout, a new source's round trip is measured
// still (a long capture's last calls used to get none), and the logs of
// the gone sources are dropped. A source that keeps sending RTP keeps its
// log however old its last sender report: a receiver's LSR echoes the last
// one it got (RFC 3550 §6.4.1), whenever that was.
func TestRoundTripAfterManySources(t *testing.T) {
	rtcpCaller := netip.AddrPortFrom(mediaCaller.Addr(), mediaCaller.Port()+1)
	rtcpCallee := netip.AddrPortFrom(mediaCallee.Addr(), mediaCallee.Port()+1)
	const idle = 10 * time.Second
	e := NewEngine(Options{IdleTimeout: idle})
	frame := uint64(0)
	var m decode.Message
	sendRTP := func(pk rtpPkt) {
		frame++
		setRTP(&m, frame, &pk)
		e.Observe(&m)
	}
	// ntpOf is an NTP timestamp whose middle 32 bits (LSR) are distinct per
	// sender report.
	ntpOf := func(ssrc uint32, n uint16) uint64 { return uint64(ssrc)<<16 | uint64(n) }
	sendSR := func(at time.Duration, ssrc uint32, n uint16) {
		frame++
		observeRTCPBytes(t, e, frame, at, rtcpCaller, rtcpCallee, rtcpCompound(rtp.TypeSR, ssrc, ntpOf(ssrc, n), rtp.ReportBlock{SSRC: 0x9999}))
	}
	// echoSR is the callee's report on ssrc, echoing its sender report n
	// after holding it hold.
	echoSR := func(at time.Duration, ssrc uint32, n uint16, hold time.Duration) {
		frame++
		lsr := uint32(ntpOf(ssrc, n) >> 16)
		dlsr := uint32(hold * 65536 / time.Second)
		observeRTCPBytes(t, e, frame, at, rtcpCallee, rtcpCaller, rtcpCompound(rtp.TypeRR, 0x5555, 0, rtp.ReportBlock{SSRC: ssrc, LSR: lsr, DLSR: dlsr}))
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

	// A long-lived source: RTP every 20 ms throughout, one sender report at
	// the start.
	const longLived = 0x7000_0000
	longPkt := func(i int) rtpPkt {
		return rtpPkt{at: 20 * float64(i), src: mediaCaller, dst: mediaCallee, ssrc: longLived,
			seq: uint16(i), ts: 160 * uint32(i), payload: 160}
	}
	next := 0
	longUntil := func(at time.Duration) {
		for ; time.Duration(next)*20*time.Millisecond < at; next++ {
			sendRTP(longPkt(next))
		}
	}
	longUntil(250 * time.Millisecond)
	sendSR(250*time.Millisecond, longLived, 0)

	// MaxSenderReportSources short streams, each with a sender report,
	// within the first second.
	step := time.Second / MaxSenderReportSources
	for i := range MaxSenderReportSources {
		ssrc := uint32(i + 1)
		at := 300*time.Millisecond + time.Duration(i)*step/2
		longUntil(at)
		for j := range StreamMinPackets {
			sendRTP(rtpPkt{at: ms(at) + float64(j)*0.001, src: mediaCaller, dst: mediaCallee, ssrc: ssrc,
				seq: uint16(j), ts: 160 * uint32(j), payload: 160})
		}
		sendSR(at+time.Duration(StreamMinPackets)*time.Microsecond, ssrc, 0)
	}

	// Two idle timeouts later, a new source and its sender report, echoed
	// 300 ms later after a 250 ms hold; and the long-lived source's first
	// sender report echoed after holding it all along. (Holds in whole
	// 1/65536 s, DLSR's unit, so that the round trips are exact.)
	// A source's sender report may come before its stream does: its log
	// is kept as long as an idle timeout.
	const newSource, earlyReport = 0x7000_0001, 0x7000_0002
	start := 2*idle + time.Second
	longUntil(start - 2*time.Second)
	sendSR(start-2*time.Second, earlyReport, 0)
	longUntil(start)
	for i := range 10 {
		sendRTP(rtpPkt{at: ms(start) + 20*float64(i), src: mediaCaller, dst: mediaCallee, ssrc: newSource,
			seq: uint16(i), ts: 160 * uint32(i), payload: 160})
		sendRTP(rtpPkt{at: ms(start) + 20*float64(i) + 1, src: mediaCaller, dst: mediaCallee, ssrc: earlyReport,
			seq: uint16(i), ts: 160 * uint32(i), payload: 160})
	}
	sendSR(start+200*time.Millisecond, newSource, 0)
	echoSR(start+500*time.Millisecond, newSource, 0, 250*time.Millisecond)
	echoSR(start+500*time.Millisecond, earlyReport, 0, 2250*time.Millisecond)
	longUntil(start + 750*time.Millisecond)
	echoSR(start+750*time.Millisecond, longLived, 0, start+250*time.Millisecond)

	if n := len(e.media.senderReports); n > 3 {
		t.Errorf("%d sender report logs kept, want the 3 live sources'", n)
	}
	a := e.Finish(simStart.Add(start + time.Second))
	want := map[uint32]time.Duration{newSource: 50 * time.Millisecond, longLived: 250 * time.Millisecond, earlyReport: 250 * time.Millisecond}
	for _, s := range a.Streams {
		if rtt, ok := want[s.SSRC]; ok {
			if s.RoundTrip != rtt {
				t.Errorf("SSRC %#x: RoundTrip %v, want %v", s.SSRC, s.RoundTrip, rtt)
			}
			delete(want, s.SSRC)
		}
	}
	if len(want) != 0 {
		t.Errorf("no stream of SSRCs %v", want)
	}
}
