package diagnose

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/internal/packettime"
)

// TestQuietPrologue compares an Engine that skips expire and maybeRetire
// while quietAt says they have nothing to do with one that runs them on
// every message, on random mixes of STUN transactions (lingering and
// expiring), RTP and ChannelData, with packet time stepping back and
// jumping ahead by more than the linger and idle times.
func TestQuietPrologue(t *testing.T) {
	for seed := range uint64(30) {
		rng := rand.New(rand.NewPCG(seed, 6))
		quiet := NewEngine(Options{IdleTimeout: 90 * time.Second})
		full := NewEngine(Options{IdleTimeout: 90 * time.Second})
		at := simStart
		var m decode.Message
		var sm stun.Message
		skipped := 0
		for frame := uint64(1); frame <= 20_000; frame++ {
			switch r := rng.IntN(1000); {
			case r < 2:
				at = at.Add(time.Duration(30+rng.IntN(100)) * time.Second)
			case r < 20:
				at = at.Add(-time.Duration(rng.IntN(3000)) * time.Millisecond)
			case r < 25:
				at = at.Add(TransactionLinger - time.Duration(rng.IntN(3)))
			case r < 30 && !quiet.openOrder.empty():
				// Just at or before expire's and maybeRetire's boundaries.
				at = quiet.openOrder.peek().since.Add(TransactionLinger - time.Duration(rng.IntN(2)))
			case r < 35 && !quiet.nextRetire.IsZero():
				at = quiet.nextRetire.Add(-time.Duration(rng.IntN(2)))
			default:
				at = at.Add(time.Duration(rng.IntN(20)) * time.Millisecond)
			}
			client := netip.AddrPortFrom(simClientAddr.Addr(), uint16(5000+rng.IntN(4)))
			m = decode.Message{Packet: decode.Packet{Frame: frame, Time: at, Src: client, Dst: simServerAddr, Transport: decode.UDP}}
			switch r := rng.IntN(100); {
			case r < 10:
				sm = simRequest([]stun.Method{stun.MethodAllocate, stun.MethodBinding, stun.MethodRefresh}[rng.IntN(3)], byte(rng.IntN(40)))
				m.Kind, m.STUN = decode.KindSTUN, &sm
			case r < 15:
				sm = simSuccess([]stun.Method{stun.MethodAllocate, stun.MethodBinding}[rng.IntN(2)], byte(rng.IntN(40)))
				m.Src, m.Dst = m.Dst, m.Src
				m.Kind, m.STUN = decode.KindSTUN, &sm
			case r < 20:
				m.Kind, m.Channel = decode.KindChannelData, decode.ChannelData{Number: 0x4000, Length: 4, Payload: []byte{1, 2, 3, 4}}
			default:
				ssrc := uint32(rng.IntN(3))
				m.Kind = decode.KindRTP
				m.Src = netip.AddrPortFrom(client.Addr(), uint16(20000+ssrc))
				m.RTP = rtp.Header{Version: 2, PayloadType: 0, Sequence: uint16(frame), Timestamp: uint32(frame) * 160, SSRC: ssrc, PayloadLen: 160}
			}
			if tn, ok := packettime.Nanos(at); ok && max(tn, quiet.nowNanos) < quiet.quietUntil {
				skipped++
			}
			quiet.Observe(&m)
			full.quietUntil = math.MinInt64
			full.Observe(&m)
			if quiet.now != full.now || len(quiet.open) != len(full.open) || quiet.nextRetire != full.nextRetire {
				t.Fatalf("seed %d frame %d: now %v/%v, %d/%d open, next retirement %v/%v",
					seed, frame, quiet.now, full.now, len(quiet.open), len(full.open), quiet.nextRetire, full.nextRetire)
			}
		}
		a, b := quiet.Finish(at), full.Finish(at)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: the analyses differ", seed)
		}
		if skipped == 0 {
			t.Fatalf("seed %d: the prologue was never skipped", seed)
		}
	}
}
