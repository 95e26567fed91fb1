package diagnose

import (
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
)

// TestStreamCacheCollisions interleaves more streams than the lookup
// cache has slots, so that slots are shared and overwritten: every packet
// must still reach its own stream.
func TestStreamCacheCollisions(t *testing.T) {
	e := NewEngine(Options{})
	const streams, packets = 3 * streamCacheSize / 2, 6
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for n := range packets {
		for i := range streams {
			p := decode.Packet{
				Frame:     uint64(n*streams + i + 1),
				Time:      base.Add(time.Duration(n)*20*time.Millisecond + time.Duration(i)),
				Src:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 9), byte(i >> 1)}), 20000),
				Dst:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 16, 0, 1}), 30000),
				Transport: decode.UDP,
			}
			// Two streams per 5-tuple, told apart by their SSRC.
			ssrc := uint32(i)
			h := rtp.Header{Version: 2, PayloadType: 0, Sequence: uint16(100 + n), Timestamp: uint32(160 * n), SSRC: ssrc, PayloadLen: 160}
			e.observeRTPHeader(&p, &h, nil)
		}
	}
	if got := len(e.media.list); got != streams {
		t.Fatalf("%d streams, want %d", got, streams)
	}
	for _, st := range e.media.list {
		if st.s.Packets != packets {
			t.Fatalf("stream %v→%v SSRC %d: %d packets, want %d", st.key.src, st.key.dst, st.key.ssrc, st.s.Packets, packets)
		}
	}
	// A forgotten stream is not found again, though its slot is intact.
	st := e.media.list[0]
	e.media.forget(st)
	if got := e.media.lookup(&st.key); got != nil {
		t.Error("a forgotten stream was found")
	}
}
