package diagnose

import "github.com/callscope/callscope/decode"

// allocFlowSlots is the number of slots of allocFlowCache, a power of two
// well above the relayed flows a busy TURN server's active calls have.
const allocFlowSlots = 2048

// allocFlowCache is a two-way set-associative cache in front of
// Engine.allocations for ChannelData, which looks the allocation up by
// its outer 5-tuple in either direction: two lookups of a 72-byte key per
// relayed packet, the second one on every server-to-client packet. A slot
// remembers the answer, nil included, for one generation of the map:
// every change to Engine.allocations starts a new one (changed), and
// allocations change per call, not per packet. Flows are keyed as
// streamCache keys streams (cacheKey, SSRC 0): an IPv4 flow by two
// integers; any other by a digest, confirmed against the allocation's
// own 5-tuple, so that only found allocations are remembered for them.
type allocFlowCache struct {
	gen   uint32 // the current generation; slots of another one are stale
	slots *[allocFlowSlots / 2][2]allocFlowSlot
}

type allocFlowSlot struct {
	a, b uint64
	as   *allocState
	gen  uint32
	tag  uint32 // cacheKey's, with allocFlowSent when src is the client
}

const allocFlowSent = 1 << 16

// changed invalidates every slot: Engine.allocations gained or lost an
// entry.
func (c *allocFlowCache) changed() {
	c.gen++
	if c.gen == 0 && c.slots != nil {
		// Wrapped: slots of the generation starting again would match.
		clear(c.slots[:])
		c.gen = 1
	}
}

// allocationOnFlow returns the allocation whose 5-tuple m travelled on,
// with sent set when m went from its client to its server, and nil when
// there is none. The client-to-server reading wins when both directions
// name an allocation.
func (e *Engine) allocationOnFlow(m *decode.Message) (as *allocState, sent bool) {
	c := &e.allocFlows
	if c.slots == nil {
		c.slots = new([allocFlowSlots / 2][2]allocFlowSlot)
		c.gen++ // the zero generation is that of empty slots
	}
	a, b, tag := cacheKey(m.Src, m.Dst, m.Transport, 0)
	// Two ways: the most recently used first, so that two busy flows
	// whose hashes collide do not evict each other on every packet.
	set := &c.slots[(a*0x9e3779b97f4a7c15+b*0xc2b2ae3d27d4eb4f)>>(64-allocFlowSetBits)]
	for w := range set {
		if s := &set[w]; s.a == a && s.b == b && s.gen == c.gen && s.tag&^allocFlowSent == tag &&
			(tag&streamKeyWhole != 0 || s.as.on(m, s.tag&allocFlowSent != 0)) {
			if w == 1 {
				set[0], set[1] = set[1], set[0]
			}
			return set[0].as, set[0].tag&allocFlowSent != 0
		}
	}
	if as = e.allocations[flowKey{client: m.Src, server: m.Dst, transport: m.Transport}]; as != nil {
		sent = true
		tag |= allocFlowSent
	} else {
		as = e.allocations[flowKey{client: m.Dst, server: m.Src, transport: m.Transport}]
	}
	if as == nil && tag&streamKeyWhole == 0 {
		return nil, false // a digest's nil could not be confirmed
	}
	if set[0].gen == c.gen {
		set[1] = set[0]
	}
	set[0] = allocFlowSlot{a: a, b: b, as: as, gen: c.gen, tag: tag}
	return as, sent
}

// on says whether m travelled on as's 5-tuple, from its client when sent.
func (as *allocState) on(m *decode.Message, sent bool) bool {
	if as == nil {
		return false
	}
	a := as.a
	client, server := m.Src, m.Dst
	if !sent {
		client, server = server, client
	}
	return a.Client == client && a.Server == server && a.Transport == m.Transport
}

// allocFlowSetBits is log2 of the sets of allocFlowCache.
const allocFlowSetBits = 10
