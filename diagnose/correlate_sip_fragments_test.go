package diagnose

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
)

// ipv4UDP builds an IPv4 packet with a UDP datagram, or one fragment of
// it: payload[off:end] of the UDP datagram (header included), with the
// given ID and more-fragments flag. Checksums are left zero.
func ipv4UDP(src, dst netip.AddrPort, payload []byte, id uint16, off, end int, more bool) []byte {
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp, src.Port())
	binary.BigEndian.PutUint16(udp[2:], dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	if end < 0 {
		end = len(udp)
	}
	part := udp[off:end]
	ip := make([]byte, 20, 20+len(part))
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(part)))
	binary.BigEndian.PutUint16(ip[4:], id)
	flags := uint16(off / 8)
	if more {
		flags |= 0x2000
	}
	binary.BigEndian.PutUint16(ip[6:], flags)
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	return append(ip, part...)
}

// A request over UDP keeps its size, and the sends that came in IP
// fragments the decoder reassembled: how many, the fragments per send and
// their frames. A send that came whole adds nothing.
func TestSIPRequestFragments(t *testing.T) {
	body := testSDP + strings.Repeat("a=candidate:1 1 UDP 2130706431 192.0.2.10 40000 typ host\r\n", 30)
	invite := baseSpec()
	invite.method, invite.cseqMethod, invite.branch, invite.cseq, invite.body = "INVITE", "INVITE", "z9hG4bK-frag", 1, body
	raw := []byte(invite.render(sipAlice))
	options := baseSpec()
	options.method, options.cseqMethod, options.branch, options.cseq, options.callID = "OPTIONS", "OPTIONS", "z9hG4bK-opt", 1, "opt@example.com"
	small := []byte(options.render(sipAlice))
	if len(raw) < 1500 || len(raw) > 2900 {
		t.Fatalf("INVITE of %d bytes: want two fragments", len(raw))
	}
	var pkts [][]byte
	for id := uint16(1); id <= 3; id++ {
		if id == 2 { // one send whole: a path with a larger MTU
			pkts = append(pkts, ipv4UDP(sipAlice, sipProxy, raw, id, 0, -1, false))
			continue
		}
		// The last fragment first, as Linux sends them on some paths.
		pkts = append(pkts, ipv4UDP(sipAlice, sipProxy, raw, id, 1480, -1, false), ipv4UDP(sipAlice, sipProxy, raw, id, 0, 1480, true))
	}
	pkts = append(pkts, ipv4UDP(sipAlice, sipProxy, small, 9, 0, -1, false))
	a := analyzeIPv4Packets(pkts)
	if len(a.SIPTransactions) != 2 {
		t.Fatalf("%d transactions, want the INVITE and the OPTIONS", len(a.SIPTransactions))
	}
	inv, opt := a.SIPTransactions[0], a.SIPTransactions[1]
	if inv.RequestCount != 3 || !slices.Equal(requestFrames(inv.Requests), []uint64{2, 3, 5}) || inv.Size != len(raw) {
		t.Errorf("INVITE: %d sends in frames %v, %d bytes; want 3 in 2, 3, 5 of %d bytes", inv.RequestCount, requestFrames(inv.Requests), inv.Size, len(raw))
	}
	if f := inv.Fragmented; f == nil || f.Sends != 2 || f.Fragments != 2 || f.Count != 4 || !slices.Equal(f.Frames, []uint64{1, 2, 4, 5}) {
		t.Errorf("INVITE fragments %+v, want 2 sends of 2, frames 1, 2, 4, 5", f)
	}
	if opt.Fragmented != nil || opt.Size != len(small) {
		t.Errorf("OPTIONS: fragments %+v, %d bytes; want none, %d", opt.Fragmented, opt.Size, len(small))
	}
}

func requestFrames(refs []FrameRef) []uint64 {
	var out []uint64
	for _, r := range refs {
		out = append(out, r.Frame)
	}
	return out
}

// analyzeIPv4Packets decodes raw IPv4 packets, frames 1, 2, ... half a
// second apart, through a Decoder (which reassembles fragments) and an
// Engine, and returns the Analysis 10 s after the start.
func analyzeIPv4Packets(pkts [][]byte) *Analysis {
	dec := decode.NewDecoder()
	e := NewEngine(Options{})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, p := range pkts {
		rec := &capture.Record{Frame: uint64(i + 1), Time: t0.Add(time.Duration(i) * 500 * time.Millisecond), LinkType: capture.LinkIPv4, Data: p, OrigLen: len(p)}
		dec.Decode(rec, e.Observe)
	}
	dec.Flush(e.Observe)
	return e.Finish(t0.Add(10 * time.Second))
}
