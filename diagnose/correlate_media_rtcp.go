package diagnose

import (
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/internal/packettime"
)

// senderReportLog is the latest SenderReportsKept sender reports of one
// SSRC: the middle 32 bits of their NTP timestamps, which a receiver echoes
// as LSR (RFC 3550 §6.4.1), and when and where on the capturing host we
// saw them. On a router captured with tcpdump -i any each sender report
// shows twice, arriving and leaving, microseconds apart: a round trip is
// measured from the copy seen at the point the echoing report's copy
// faces (applyReport), never from whichever copy comes first in the log.
//
// The times are packettime.Stamps, 16 bytes rather than time.Time's 24,
// with the same differences: a log is kept per source while the source is
// active (forgetSenderReports), up to MaxSenderReportSources of them.
type senderReportLog struct {
	ntp   [SenderReportsKept]uint32
	at    [SenderReportsKept]packettime.Stamp
	point [SenderReportsKept]capturePoint
	next  int
}

func (e *Engine) observeRTCP(m *decode.Message) {
	switch {
	case m.RTCP != nil:
		e.media.observeCompound(&m.Packet, m.RTCP)
	case m.SRTCP != nil:
		e.media.observeSRTCP(&m.Packet, m.SRTCP.SSRC)
	}
}

// observeRelayedSRTCP counts b, RTCP-range data relayed through TURN that
// is no RTCP compound, if it is SRTCP. The decoder judges datagrams; what
// TURN relays is judged here.
func (ms *mediaState) observeRelayedSRTCP(p *decode.Packet, b []byte) {
	var s rtp.SRTCP
	if rtp.ParseSRTCP(b, &s, ms.compound) {
		ms.observeSRTCP(p, s.SSRC)
	}
}

// observeSRTCP counts an SRTCP datagram for the stream of its sender:
// the stream with the sender's SSRC on the same 5-tuple (rtcp-mux, RFC
// 5761, and TURN, whose streams are keyed by the outer 5-tuple), else one
// between the same addresses (RTCP on ports of its own). A flow in
// probation keeps the count for its stream, as it keeps its packets
// (WebRTC's first transport-cc feedback comes before the fourth RTP
// packet). Senders of no stream or candidate (a receive-only endpoint
// reporting under an SSRC that sends no RTP) are left out: only the
// decoder's statistics count their SRTCP.
func (ms *mediaState) observeSRTCP(p *decode.Packet, ssrc uint32) {
	st := ms.lookup(p, ssrc)
	// The sender's SRTCP travels with its RTP, so on a router captured
	// with tcpdump -i any each copy counts for the stream's copy seen at
	// the same point (capturePoint), as lookup does on the same 5-tuple.
	at := pointOf(p)
	for c := ms.bySSRC[ssrc]; st == nil && c != nil; c = c.nextSSRC {
		if c.key.src.Addr() == p.Src.Addr() && c.key.dst.Addr() == p.Dst.Addr() && c.key.transport == p.Transport && c.key.point == at {
			st = c
		}
	}
	if st != nil {
		st.s.SRTCPPackets++
		return
	}
	key := streamKey{src: p.Src, dst: p.Dst, transport: p.Transport, ssrc: ssrc, point: pointOf(p)}
	c := ms.cand[key]
	if c == nil {
		c = ms.candPrev[key]
	}
	if c != nil {
		c.srtcp++
	}
}

// observeCompound takes what a compound RTCP datagram says about the
// streams: sender reports for round-trip times, report blocks for the far
// end's view of loss and jitter.
//
// Where the capture says where on the capturing host each packet was seen
// (tcpdump -i any: decode.Packet.Direction and Interface), a router or
// firewall forwarding without NAT shows every RTCP packet twice, as it
// shows every RTP packet twice (capturePoint), and the streams are
// counted per copy. Each copy of a report then applies to one copy of
// the stream it reports on, so that every copy of the stream gets each
// report once, as a capture taken at that point alone would give it:
// see reportedStream for which copy, and senderReportLog.
func (ms *mediaState) observeCompound(p *decode.Packet, c *rtp.Compound) {
	n := min(c.N, len(c.Packets))
	for i := range n {
		pk := &c.Packets[i]
		switch pk.Type {
		case rtp.TypeSR:
			ms.rememberSenderReport(pk.SSRC, pk.NTP, p.Time, pointOf(p))
		case rtp.TypeRR:
		default:
			continue
		}
		for j := range min(pk.NBlock, len(pk.Blocks)) {
			ms.applyReport(p, &pk.Blocks[j])
		}
	}
}

func (ms *mediaState) rememberSenderReport(ssrc uint32, ntp uint64, at time.Time, seen capturePoint) {
	log := ms.senderReports[ssrc]
	if log == nil {
		if len(ms.senderReports) >= MaxSenderReportSources {
			return
		}
		if ms.senderReports == nil {
			ms.senderReports = make(map[uint32]*senderReportLog)
		}
		log = &senderReportLog{}
		ms.senderReports[ssrc] = log
	}
	log.ntp[log.next] = uint32(ntp >> 16)
	log.at[log.next] = packettime.Of(at)
	log.point[log.next] = seen
	log.next = (log.next + 1) % SenderReportsKept
}

// forgetSenderReports drops the logs of sources that neither sent a
// sender report since before nor have a stream any more. A report block's
// LSR echoes the last sender report from its source (RFC 3550 §6.4.1),
// and only about a stream of that SSRC (reportedStream): a log whose
// source's streams are all retired, silent for an idle timeout, could only
// serve a later stream of the same SSRC before its first sender report,
// whose receivers will by then have timed the source out (§6.3.5) and
// report LSR 0 until that report. Kept, such logs filled
// MaxSenderReportSources in a long capture and left every later source
// without a round-trip time.
func (ms *mediaState) forgetSenderReports(before time.Time) {
	if len(ms.senderReports) == 0 {
		return
	}
	cutoff := packettime.Of(before)
	for ssrc, log := range ms.senderReports {
		if ms.bySSRC[ssrc] != nil || log.sentSince(cutoff) {
			continue
		}
		delete(ms.senderReports, ssrc)
	}
}

// sentSince tells whether a sender report of the log was seen at t or
// later. Every entry is looked at: merged captures of several points need
// not hold a source's reports in order of time.
func (log *senderReportLog) sentSince(t packettime.Stamp) bool {
	for _, at := range log.at {
		if !at.IsZero() && at.Sub(t) >= 0 {
			return true
		}
	}
	return false
}

// applyReport records a reception report block about one of our streams.
func (ms *mediaState) applyReport(p *decode.Packet, b *rtp.ReportBlock) {
	facing := pointOf(p).facing()
	st := ms.reportedStream(p, b.SSRC, facing)
	if st == nil {
		return
	}
	s := st.s
	s.RemoteReports++
	s.RemoteFractionLost = float64(b.FractionLost) / 256
	s.RemoteCumulative = b.CumulativeLost
	if s.ClockRate != 0 {
		s.RemoteJitter = float64(b.Jitter) * 1000 / float64(s.ClockRate)
	}
	if rtt, ok := ms.roundTrip(p.Time, b, facing); ok {
		s.RoundTrip = rtt
	}
}

// roundTrip is RFC 3550 §6.4.1's A - LSR - DLSR seen from the capture
// point: A is when we saw this report, LSR is replaced by when we saw the
// sender report it echoes (found by the NTP middle bits), and DLSR is the
// receiver's hold time. Captured at the sender, that is the sender's
// round-trip time; elsewhere, the round trip from the capture point to the
// receiver and back. The sender report must have been seen at srAt, the
// point the report's copy faces (reportedStream): on a router captured
// with tcpdump -i any, both then crossed the same interface, and the
// round trip is the one from that interface.
func (ms *mediaState) roundTrip(at time.Time, b *rtp.ReportBlock, srAt capturePoint) (time.Duration, bool) {
	if b.LSR == 0 {
		return 0, false // no sender report received yet (§6.4.1)
	}
	log := ms.senderReports[b.SSRC]
	if log == nil {
		return 0, false
	}
	for i := range log.ntp {
		if log.ntp[i] != b.LSR || log.at[i].IsZero() || log.point[i] != srAt {
			continue
		}
		dlsr := time.Duration(uint64(b.DLSR) * uint64(time.Second) / 65536)
		rtt := packettime.Of(at).Sub(log.at[i]) - dlsr
		if rtt < 0 {
			return 0, false
		}
		return rtt, true
	}
	return 0, false
}

// reportedStream is the stream a report block about ssrc describes, in a
// report seen at the capture point facing the point at. The report comes
// from the stream's receiver, so a stream whose destination is the
// report's source (by address: RTCP often uses another port) is
// preferred; then one sharing either address; then any with that SSRC.
//
// Only a copy of the stream seen at the point at counts (capturePoint):
// the one that crossed the interface the report crossed, the other way
// (facing: a report arriving on interface 3 is about the copy leaving on
// interface 3, one leaving on interface 2 about the copy arriving on 2).
// That is the copy a capture taken on that interface's wire alone would
// hold, so each copy of a forwarded stream gets each report once, not
// twice. The numbers in a report block are the same in either copy: they
// are the receiver's count of what reached it (RFC 3550 §6.4.1), so the
// copy nearest the receiver (leaving toward it) is the one whose own loss
// and jitter they describe; the other copy's RemoteReports compare the
// receiver's view with what the box was given to forward. The round trip
// differs per copy, each measured from its interface (roundTrip). A
// report seen where the capture holds no copy of its stream (say, the
// report's way back crosses an interface the stream did not) applies to
// none, as a capture at that point alone would have no stream to apply
// it to. Where the capture does not say where packets were seen, every
// packet and stream is at the zero point, which faces itself: all
// streams are candidates, as without capture points.
func (ms *mediaState) reportedStream(p *decode.Packet, ssrc uint32, at capturePoint) *streamState {
	var sharing, other *streamState
	for st := ms.bySSRC[ssrc]; st != nil; st = st.nextSSRC {
		if st.key.point != at {
			continue
		}
		src, dst := st.key.src.Addr(), st.key.dst.Addr()
		switch {
		case dst == p.Src.Addr() && src == p.Dst.Addr():
			return st
		case sharing == nil && (dst == p.Src.Addr() || src == p.Dst.Addr()):
			sharing = st
		case other == nil:
			other = st
		}
	}
	if sharing != nil {
		return sharing
	}
	return other
}
