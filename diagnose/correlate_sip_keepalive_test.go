package diagnose

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
)

func keepAliveMessage(frame uint64, sec float64, src, dst string) *decode.Message {
	return &decode.Message{
		Packet: decode.Packet{Frame: frame, Time: time.Unix(1_700_000_000, 0).Add(time.Duration(sec * float64(time.Second))),
			Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst), Transport: decode.UDP},
		Kind: decode.KindSIPKeepAlive, Payload: []byte("\r\n\r\n"),
	}
}

// TestSIPKeepAlivesPerFlow: each flow counts its keep-alives and keeps the
// first, the last and the latest few, whose median gap is the interval.
func TestSIPKeepAlivesPerFlow(t *testing.T) {
	const phone, other, registrar = "203.0.113.1:38809", "203.0.113.1:40000", "198.51.100.20:5060"
	e := NewEngine(Options{})
	var frame uint64
	send := func(sec float64, src, dst string) {
		frame++
		e.Observe(keepAliveMessage(frame, sec, src, dst))
	}
	// 12 keep-alives every 30 s from the phone, one of them 15 s late; one
	// from another port; one from the registrar to the phone.
	for i := range 12 {
		sec := float64(i * 30)
		if i == 9 {
			sec += 15
		}
		send(sec, phone, registrar)
		if i == 3 {
			send(100, other, registrar)
			send(101, registrar, phone)
		}
	}
	a := e.Finish(time.Unix(1_700_001_000, 0))
	if len(a.SIPKeepAlives) != 3 {
		t.Fatalf("%d keep-alive flows, want 3", len(a.SIPKeepAlives))
	}
	k := a.SIPKeepAlives[0]
	if k.Src.String() != phone || k.Dst.String() != registrar || k.Count != 12 || k.First.Frame != 1 || k.Last.Frame != frame {
		t.Errorf("phone's flow %+v", *k)
	}
	var frames []uint64
	for _, r := range k.Recent {
		frames = append(frames, r.Frame)
	}
	// Frames 1-4 and 7-14 are the phone's; the last 8 of them.
	if want := []uint64{7, 8, 9, 10, 11, 12, 13, 14}; !slices.Equal(frames, want) {
		t.Errorf("recent frames %v, want %v", frames, want)
	}
	if got := k.Interval(); got != 30*time.Second {
		t.Errorf("interval %v, want 30s: one late keep-alive must not move it", got)
	}
	if k := a.SIPKeepAlives[1]; k.Src.String() != other || k.Count != 1 || k.Interval() != 0 || len(k.Recent) != 1 {
		t.Errorf("other port's flow %+v", *k)
	}
	if k := a.SIPKeepAlives[2]; k.Src.String() != registrar || k.Dst.String() != phone || k.Count != 1 {
		t.Errorf("registrar's flow %+v", *k)
	}
	if a.DroppedSIPKeepAlives != 0 {
		t.Errorf("DroppedSIPKeepAlives %d", a.DroppedSIPKeepAlives)
	}
}

func TestSIPKeepAliveFlowsBounded(t *testing.T) {
	e := NewEngine(Options{})
	base := netip.MustParseAddr("10.0.0.1")
	registrar := netip.MustParseAddrPort("198.51.100.20:5060")
	for i := range MaxSIPKeepAliveFlows + 3 {
		m := keepAliveMessage(uint64(i+1), float64(i)/1000, "10.0.0.1:1", registrar.String())
		m.Src = netip.AddrPortFrom(base, uint16(i%60000+1))
		if i >= 60000 {
			m.Src = netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(i%60000+1))
		}
		e.Observe(m)
	}
	a := e.Finish(time.Unix(1_700_001_000, 0))
	if len(a.SIPKeepAlives) != MaxSIPKeepAliveFlows || a.DroppedSIPKeepAlives != 3 {
		t.Errorf("%d flows kept, %d keep-alives dropped; want %d and 3", len(a.SIPKeepAlives), a.DroppedSIPKeepAlives, MaxSIPKeepAliveFlows)
	}
}

func TestMedianGap(t *testing.T) {
	at := func(secs ...float64) []FrameRef {
		var out []FrameRef
		for i, s := range secs {
			out = append(out, FrameRef{Frame: uint64(i + 1), Time: time.Unix(0, 0).Add(time.Duration(s * float64(time.Second)))})
		}
		return out
	}
	for _, c := range []struct {
		name string
		refs []FrameRef
		want time.Duration
	}{
		{"none", nil, 0},
		{"one", at(5), 0},
		{"two", at(5, 35), 30 * time.Second},
		{"even gaps: the lower middle", at(0, 10, 30, 60), 20 * time.Second},
		{"a lost keep-alive", at(0, 20, 40, 80, 100), 20 * time.Second},
		{"eight", at(0, 1, 2, 3, 4, 5, 6, 7), time.Second},
	} {
		if got := MedianGap(c.refs); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestSIPKeepAlivesPingsAndPongs: a TCP connection's pings and the pongs
// back are two flows of their transport, each counting pings (double CRLF)
// and pongs (single CRLF); a UDP flow between the same addresses is a
// third.
func TestSIPKeepAlivesPingsAndPongs(t *testing.T) {
	const phone, registrar = "203.0.113.1:38809", "198.51.100.20:5060"
	e := NewEngine(Options{})
	var frame uint64
	send := func(sec float64, src, dst string, transport decode.Transport, payload string) {
		frame++
		m := keepAliveMessage(frame, sec, src, dst)
		m.Transport, m.Payload = transport, []byte(payload)
		e.Observe(m)
	}
	for i := range 4 {
		send(float64(5*i), phone, registrar, decode.TCP, "\r\n\r\n")
		if i < 3 { // the last pong lost
			send(float64(5*i)+0.001, registrar, phone, decode.TCP, "\r\n")
		}
	}
	send(30, phone, registrar, decode.UDP, "\r\n")
	a := e.Finish(time.Unix(1_700_001_000, 0))
	type counts struct {
		src                 string
		transport           decode.Transport
		count, pings, pongs int
		interval            time.Duration
	}
	var got []counts
	for _, k := range a.SIPKeepAlives {
		got = append(got, counts{k.Src.String(), k.Transport, k.Count, k.Pings, k.Pongs, k.Interval()})
	}
	want := []counts{
		{phone, decode.TCP, 4, 4, 0, 5 * time.Second},
		{registrar, decode.TCP, 3, 0, 3, 5 * time.Second},
		{phone, decode.UDP, 1, 0, 1, 0},
	}
	if !slices.Equal(got, want) {
		t.Errorf("flows %+v\nwant  %+v", got, want)
	}
}
