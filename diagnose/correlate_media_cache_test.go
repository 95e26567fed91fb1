package diagnose

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
)

// TestStreamCacheCollisions interleaves more streams than the lookup
// cache has slots, so that slots are shared and overwritten: every packet
// must still reach its own stream. Each group of streams shares an SSRC:
// IPv4 ones differing in a port or the transport, one on the same
// addresses written as IPv4-mapped IPv6 (another key, though its ports,
// SSRC and low address bits are the same), and two IPv6 ones whose cache
// digests are equal (addresses differing only in their upper halves).
func TestStreamCacheCollisions(t *testing.T) {
	e := NewEngine(Options{})
	const perGroup, packets = 6, 6
	// More streams than slots, fewer than a generation of candidates.
	const groups = (streamCacheSize + streamCacheSize/8) / perGroup
	const streams = groups * perGroup
	base := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	server4 := netip.AddrFrom4([4]byte{172, 16, 0, 1})
	server6 := netip.MustParseAddr("2001:db8::1")
	for n := range packets {
		for i := range streams {
			g, way := i/perGroup, i%perGroup
			client4 := netip.AddrFrom4([4]byte{10, 0, byte(g >> 8), byte(g)})
			client6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(g >> 8), 15: byte(g)})
			src, dst, port, transport := client4, server4, uint16(20000), decode.UDP
			switch way {
			case 1:
				port++
			case 2:
				src, dst = netip.AddrFrom16(client4.As16()), netip.AddrFrom16(server4.As16())
			case 3:
				src, dst = client6, server6
			case 4:
				b := client6.As16()
				b[3]++ // 2001:db9::, the same lower half
				src, dst = netip.AddrFrom16(b), server6
			case 5:
				transport = decode.TCP
			}
			p := decode.Packet{
				Frame:     uint64(n*streams + i + 1),
				Time:      base.Add(time.Duration(n)*20*time.Millisecond + time.Duration(i)),
				Src:       netip.AddrPortFrom(src, port),
				Dst:       netip.AddrPortFrom(dst, 30000),
				Transport: transport,
			}
			h := rtp.Header{Version: 2, PayloadType: 0, Sequence: uint16(100 + n), Timestamp: uint32(160 * n), SSRC: uint32(g), PayloadLen: 160}
			e.observeRTPHeader(&p, &h, nil)
		}
	}
	e.syncRTPWorkers() // the records up to date
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
	p := decode.Packet{Src: st.key.src, Dst: st.key.dst, Transport: st.key.transport}
	if got := e.media.lookup(&p, st.key.ssrc); got != nil {
		t.Error("a forgotten stream was found")
	}
}

// TestAllocFlowCache checks Engine.allocationOnFlow against the map it
// caches, on flows in both directions, without allocation, on IPv4,
// IPv4-mapped and IPv6 addresses (some whose digests are equal), UDP and
// TCP, while allocations come and go and the generation wraps.
func TestAllocFlowCache(t *testing.T) {
	e := NewEngine(Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	server4 := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, 1}), 3478)
	server6 := netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), 3478)
	var clients []netip.AddrPort
	for i := range 3000 {
		v4 := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		var b [16]byte
		b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8+byte(i%2) // pairs with equal lower halves
		b[14], b[15] = byte(i>>9), byte(i>>1)
		port := uint16(40000 + i/2%7)
		clients = append(clients,
			netip.AddrPortFrom(v4, port),
			netip.AddrPortFrom(netip.AddrFrom16(v4.As16()), port),
			netip.AddrPortFrom(netip.AddrFrom16(b), port))
	}
	flow := func(i int) flowKey {
		c := clients[i%len(clients)]
		f := flowKey{client: c, server: server4, transport: decode.UDP}
		if !c.Addr().Is4() {
			f.server = server6
		}
		if i >= len(clients) {
			f.transport = decode.TCP
		}
		return f
	}
	check := func(step int) {
		for range 300 {
			f := flow(rng.IntN(len(clients) * 2))
			m := decode.Message{Packet: decode.Packet{Src: f.client, Dst: f.server, Transport: f.transport}}
			if rng.IntN(2) == 0 {
				m.Src, m.Dst = m.Dst, m.Src
			}
			wantSent := true
			want := e.allocations[flowKey{client: m.Src, server: m.Dst, transport: m.Transport}]
			if want == nil {
				wantSent = false
				want = e.allocations[flowKey{client: m.Dst, server: m.Src, transport: m.Transport}]
			}
			for range 2 { // a miss, then likely a hit
				got, sent := e.allocationOnFlow(&m)
				if got != want || (want != nil && sent != wantSent) {
					t.Fatalf("step %d: %v→%v %v: got %p sent %v, want %p sent %v", step, m.Src, m.Dst, m.Transport, got, sent, want, wantSent)
				}
			}
		}
	}
	for step := range 12 {
		if step == 6 {
			e.allocFlows.gen = math.MaxUint32 - 3
		}
		for range 50 {
			f := flow(rng.IntN(len(clients) * 2))
			if e.allocations[f] != nil {
				delete(e.allocations, f)
			} else {
				e.allocations[f] = &allocState{a: &Allocation{Client: f.client, Server: f.server, Transport: f.transport}}
			}
			e.allocFlows.changed()
			check(step)
		}
	}
}

// TestAllocFlowCacheWrap: when the generation wraps, answers remembered
// in a generation of the previous round are not taken for current ones.
func TestAllocFlowCacheWrap(t *testing.T) {
	e := NewEngine(Options{})
	f := flowKey{client: simClientAddr, server: simServerAddr, transport: decode.UDP}
	m := decode.Message{Packet: decode.Packet{Src: f.client, Dst: f.server, Transport: f.transport}}
	if as, _ := e.allocationOnFlow(&m); as != nil {
		t.Fatal("an allocation where there is none")
	}
	first := e.allocFlows.gen
	as := &allocState{a: &Allocation{Client: f.client, Server: f.server, Transport: f.transport}}
	e.allocations[f] = as
	e.allocFlows.gen = math.MaxUint32
	for range first + 1 {
		e.allocFlows.changed()
	}
	if got, sent := e.allocationOnFlow(&m); got != as || !sent {
		t.Errorf("got %p sent %v after the generation wrapped, want %p sent", got, sent, as)
	}
}

// TestStreamStateLayout: what the accounting of a packet touches in a
// streamState fills its first three cache lines, and streamStates start
// on a line.
func TestStreamStateLayout(t *testing.T) {
	if strconv.IntSize == 32 {
		t.Skip("skipped: the layout is laid out for 64-bit pointers and words")
	}
	var st streamState
	if got := unsafe.Sizeof(st); got != streamStateSize || streamStateSize%64 != 0 {
		t.Errorf("streamState takes %d bytes, want streamStateSize %d, a multiple of 64", got, streamStateSize)
	}
	if used := unsafe.Offsetof(st.nextSSRC) + unsafe.Sizeof(st.nextSSRC); used != streamStateUsed {
		t.Errorf("streamState's fields take %d bytes, want streamStateUsed %d", used, streamStateUsed)
	}
	if end := unsafe.Offsetof(st.seq) + unsafe.Offsetof(st.seq.run) + unsafe.Sizeof(st.seq.run); end > 3*64 {
		t.Errorf("the per-packet fields end at byte %d, beyond three cache lines", end)
	}
	var heap []*streamState // on the heap, as the engine's
	for range 100 {
		heap = append(heap, new(streamState))
	}
	for _, st := range heap {
		if p := uintptr(unsafe.Pointer(st)); p%64 != 0 {
			t.Fatalf("a streamState at %#x, not on a cache line", p)
		}
	}
}
