package diagnose

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
)

var (
	simRouter   = netip.MustParseAddr("192.0.2.1")
	rtcpCaller  = netip.AddrPortFrom(mediaCaller.Addr(), mediaCaller.Port()+1)
	rtcpCallee  = netip.AddrPortFrom(mediaCallee.Addr(), mediaCallee.Port()+1)
	quotedRTP   = rtpQuote(0x1234)
	quotedRTCP  = rtcpQuote(0x1234)
	quotedOther = rtpQuote(0x9999)
)

// rtpQuote is the start of an RTP packet of that SSRC, as an ICMP error
// quotes it.
func rtpQuote(ssrc uint32) []byte {
	b := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 0, 0xff, 0xff}
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

// rtcpQuote is the start of a receiver report its sender ssrc sent.
func rtcpQuote(ssrc uint32) []byte {
	b := []byte{0x81, 201, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1}
	binary.BigEndian.PutUint32(b[4:], ssrc)
	return b
}

// icmpAbout is an ICMPv4 error from `from` quoting a datagram src -> dst
// that held payload.
func icmpAbout(frame uint64, at time.Duration, from netip.Addr, code uint8, src, dst netip.AddrPort, payload []byte) *decode.Message {
	desc := map[uint8]string{3: "port unreachable", 4: "fragmentation needed", 13: "communication administratively prohibited"}[code]
	return &decode.Message{
		Packet: decode.Packet{Frame: frame, Time: simStart.Add(at), Src: netip.AddrPortFrom(from, 0), Dst: netip.AddrPortFrom(src.Addr(), 0)},
		Kind:   decode.KindICMPError,
		ICMP: decode.ICMPError{Type: 3, Code: code, Unreachable: true, Description: desc,
			QuotedSrc: src, QuotedDst: dst, QuotedTransport: decode.UDP, QuotedPayload: payload},
	}
}

// TestICMPPerStream: unreachable errors count on the stream whose RTP or
// RTCP they quote, from probation on, by SSRC or, for a quote that ends
// after the UDP header, by 5-tuple; errors about other SSRCs, the other
// direction, ChannelData, or that are not about delivery do not count,
// and every error stays in Analysis.ICMPErrors as before.
func TestICMPPerStream(t *testing.T) {
	e := NewEngine(Options{})
	pkts := voice(100, 0)
	var m decode.Message
	frame := uint64(0)
	var want []uint64 // frames of the errors that count
	icmp := func(at time.Duration, from netip.Addr, code uint8, src, dst netip.AddrPort, payload []byte, counts bool) {
		frame++
		e.Observe(icmpAbout(frame, at, from, code, src, dst, payload))
		if counts {
			want = append(want, frame)
		}
	}
	for i := range pkts {
		frame++
		setRTP(&m, frame, &pkts[i])
		e.Observe(&m)
		at := time.Duration(pkts[i].at*float64(time.Millisecond)) + time.Millisecond
		switch i {
		case 0: // a candidate in probation
			icmp(at, simRouter, 13, mediaCaller, mediaCallee, quotedRTP, true)
		case 10:
			icmp(at, simRouter, 13, mediaCaller, mediaCallee, quotedRTP, true)
			icmp(at, simRouter, 13, rtcpCaller, rtcpCallee, quotedRTCP, true)   // RTCP port
			icmp(at, simRouter, 13, mediaCaller, mediaCallee, quotedRTCP, true) // rtcp-mux
			icmp(at, simRouter, 13, mediaCaller, mediaCallee, nil, true)        // an 8-byte quote
			icmp(at, mediaCallee.Addr(), 3, mediaCaller, mediaCallee, quotedRTP[:10], true)
			icmp(at, simRouter, 13, rtcpCaller, rtcpCallee, nil, true)
		case 20:
			icmp(at, simRouter, 13, mediaCaller, mediaCallee, quotedOther, false)     // no such SSRC
			icmp(at, simRouter, 13, mediaCallee, mediaCaller, quotedRTP, false)       // the other way
			icmp(at, simRouter, 13, mediaCaller, mediaCallee, []byte{0x40, 0}, false) // ChannelData
			icmp(at, simRouter, 4, mediaCaller, mediaCallee, quotedRTP, false)        // fragmentation needed
			icmp(at, simRouter, 13, mediaCallee, rtcpCaller, nil, false)              // no stream there
		}
	}
	// The engine keeps no stream for this one: nothing on its 5-tuple.
	icmp(3*time.Second, simRouter, 3, netip.MustParseAddrPort("192.0.2.99:7000"), mediaCallee, nil, false)
	a := e.Finish(simStart.Add(time.Minute))
	if len(a.Streams) != 1 {
		t.Fatalf("%d streams", len(a.Streams))
	}
	if a.ICMPErrorCount != int(frame-100) || len(a.ICMPErrors) != int(frame-100) {
		t.Errorf("ICMPErrorCount %d, ICMPErrors %d; want %d of each", a.ICMPErrorCount, len(a.ICMPErrors), frame-100)
	}
	r := a.Streams[0].ICMP
	if r == nil {
		t.Fatal("no ICMP on the stream")
	}
	if r.Errors != uint64(len(want)) || r.RTCP != 3 || r.Prohibited != 6 || r.PortUnreachable != 1 {
		t.Errorf("errors %d (want %d), RTCP %d (3), prohibited %d (6), port unreachable %d (1)", r.Errors, len(want), r.RTCP, r.Prohibited, r.PortUnreachable)
	}
	if !slices.Equal(r.Frames, want) || r.First.Frame != want[0] || r.Last.Frame != want[len(want)-1] {
		t.Errorf("frames %v first %d last %d, want %v", r.Frames, r.First.Frame, r.Last.Frame, want)
	}
	if r.From != simRouter || r.Type != 3 || r.Code != 13 || r.OtherSenders != 1 || r.OtherCodes != 1 || r.Description != "communication administratively prohibited" {
		t.Errorf("first from %v type %d code %d (%s), %d other senders, %d other codes", r.From, r.Type, r.Code, r.Description, r.OtherSenders, r.OtherCodes)
	}
	sr := newStreamReport(a.Streams[0])
	if sr.ICMP == nil || sr.ICMP.Errors != r.Errors || sr.ICMP.From != "192.0.2.1" || sr.ICMP.FromDestination || sr.ICMP.Protocol != "icmp" {
		t.Errorf("report: %+v", sr.ICMP)
	}
}

// TestICMPAfterRetirement: an error quoting a stream retired an idle
// timeout after its last packet stays in ICMPErrors only; the flow index
// forgets the retired stream and counts on a new stream of the 5-tuple.
func TestICMPAfterRetirement(t *testing.T) {
	e := NewEngine(Options{IdleTimeout: time.Second})
	var m decode.Message
	frame := uint64(0)
	for _, p := range voice(50, 0) {
		frame++
		setRTP(&m, frame, &p)
		e.Observe(&m)
	}
	frame++
	e.Observe(icmpAbout(frame, time.Second, simRouter, 3, mediaCaller, mediaCallee, nil)) // indexes the stream
	later := voice(50, 1000)
	for i := range later {
		later[i].at += 5000
		later[i].ssrc = 0x5678
	}
	frame++
	setRTP(&m, frame, &later[0]) // retires the first stream
	e.Observe(&m)
	frame++
	e.Observe(icmpAbout(frame, 5*time.Second, simRouter, 3, mediaCaller, mediaCallee, quotedRTP)) // retired
	for i := 1; i < len(later); i++ {
		frame++
		setRTP(&m, frame, &later[i])
		e.Observe(&m)
	}
	frame++
	e.Observe(icmpAbout(frame, 6*time.Second, simRouter, 3, mediaCaller, mediaCallee, nil)) // the second stream
	a := e.Finish(simStart.Add(time.Minute))
	if len(a.Streams) != 2 || len(a.ICMPErrors) != 3 {
		t.Fatalf("%d streams, %d ICMP errors", len(a.Streams), len(a.ICMPErrors))
	}
	if r := a.Streams[0].ICMP; r == nil || r.Errors != 1 || r.First.Frame != 51 {
		t.Errorf("first stream: %+v, want the error of frame 51 only", r)
	}
	if r := a.Streams[1].ICMP; r == nil || r.Errors != 1 || r.First.Frame != frame {
		t.Errorf("second stream: %+v, want the error of frame %d only", r, frame)
	}
}

// TestICMPFlowIndexBounded: the index of streams by 5-tuple drops what
// retired streams left once it outgrows the live ones.
func TestICMPFlowIndexBounded(t *testing.T) {
	e := NewEngine(Options{IdleTimeout: time.Second})
	var m decode.Message
	frame := uint64(0)
	for round := range 200 {
		src := netip.AddrPortFrom(mediaCaller.Addr(), uint16(10000+2*round))
		for i, p := range voice(5, 0) {
			p.src, p.at = src, float64(round)*2000+float64(i)*20
			frame++
			setRTP(&m, frame, &p)
			e.Observe(&m)
		}
		frame++
		e.Observe(icmpAbout(frame, time.Duration(round)*2*time.Second+100*time.Millisecond, simRouter, 3, src, mediaCallee, nil))
	}
	if n := len(e.media.icmpFlows.byFlow); n > 2*len(e.media.list)+64 {
		t.Errorf("%d 5-tuples indexed for %d live streams", n, len(e.media.list))
	}
	a := e.Finish(simStart.Add(time.Hour))
	for i, s := range a.Streams {
		if s.ICMP == nil || s.ICMP.Errors != 1 {
			t.Fatalf("stream %d: %+v", i, s.ICMP)
		}
	}
}
