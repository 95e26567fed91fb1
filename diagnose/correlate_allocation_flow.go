package diagnose

import (
	"encoding/binary"
	"net/netip"

	"github.com/callscope/callscope/decode"
)

// allocFlowSlots is the number of slots of allocFlowCache, a power of two
// well above the relayed flows a busy TURN server's active calls have.
const allocFlowSlots = 2048

// allocFlowCache is a direct-mapped cache in front of Engine.allocations
// for ChannelData, which looks the allocation up by its outer 5-tuple in
// either direction: two lookups of a 72-byte key per relayed packet, the
// second one on every server-to-client packet. A slot remembers the
// answer, nil included, for one generation of the map: every change to
// Engine.allocations starts a new one (changed), and allocations change
// per call, not per packet.
type allocFlowCache struct {
	gen   uint64 // the current generation; slots of another one are stale
	slots *[allocFlowSlots]allocFlowSlot
}

type allocFlowSlot struct {
	src, dst  netip.AddrPort
	transport decode.Transport
	sent      bool // src is the allocation's client
	gen       uint64
	as        *allocState
}

// changed invalidates every slot: Engine.allocations gained or lost an
// entry.
func (c *allocFlowCache) changed() { c.gen++ }

// allocationOnFlow returns the allocation whose 5-tuple m travelled on,
// with sent set when m went from its client to its server, and nil when
// there is none. The client-to-server reading wins when both directions
// name an allocation.
func (e *Engine) allocationOnFlow(m *decode.Message) (as *allocState, sent bool) {
	c := &e.allocFlows
	if c.slots == nil {
		c.slots = new([allocFlowSlots]allocFlowSlot)
		c.gen++ // the zero generation is that of empty slots
	}
	// Two ways: a set is an even slot and the next, the most recently
	// used first, so that two busy flows whose hashes collide do not
	// evict each other on every packet.
	i := flowSlot(m.Src, m.Dst) &^ 1
	set := (*[2]allocFlowSlot)(c.slots[i : i+2])
	for w := range set {
		if s := &set[w]; s.gen == c.gen && s.src == m.Src && s.dst == m.Dst && s.transport == m.Transport {
			if w == 1 {
				set[0], set[1] = set[1], set[0]
			}
			return set[0].as, set[0].sent
		}
	}
	if as = e.allocations[flowKey{client: m.Src, server: m.Dst, transport: m.Transport}]; as != nil {
		sent = true
	} else {
		as = e.allocations[flowKey{client: m.Dst, server: m.Src, transport: m.Transport}]
	}
	if set[0].gen == c.gen {
		set[1] = set[0]
	}
	set[0] = allocFlowSlot{src: m.Src, dst: m.Dst, transport: m.Transport, sent: sent, gen: c.gen, as: as}
	return as, sent
}

// flowSlot hashes the low halves of two addresses and their ports, which
// tell active flows apart, into a slot of allocFlowCache.
func flowSlot(src, dst netip.AddrPort) uint32 {
	return uint32(flowHash(src, dst)>>40) & (allocFlowSlots - 1)
}

// flowHash mixes what tells active flows apart: the low 64 bits of both
// addresses (all of an IPv4 one) and the ports. Every input bit reaches
// the high bits that slots are taken from: a multiplication alone carries
// only upwards, and left the client's port of a client-to-server flow
// out of the slot, so that all of them shared one.
func flowHash(src, dst netip.AddrPort) uint64 {
	s, d := src.Addr().As16(), dst.Addr().As16()
	h := mix64(binary.LittleEndian.Uint64(s[8:])) ^ binary.LittleEndian.Uint64(d[8:])
	return mix64(h ^ uint64(src.Port())<<16 ^ uint64(dst.Port()))
}

// mix64 is MurmurHash3's 64-bit finalizer: each input bit flips about
// half of the output bits.
func mix64(z uint64) uint64 {
	z ^= z >> 33
	z *= 0xff51afd7ed558ccd
	z ^= z >> 33
	z *= 0xc4ceb9fe1a85ec53
	z ^= z >> 33
	return z
}
