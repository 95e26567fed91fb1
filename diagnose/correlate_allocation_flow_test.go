package diagnose

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/callscope/callscope/decode"
)

// TestAllocationOnFlowMatchesMap checks the flow cache against the map it
// stands in front of, over a seeded random run: more flows than slots (so
// sets collide), allocations created and retired on 5-tuples that were
// looked up before, both directions, and a 5-tuple with an allocation
// each way (the client-to-server reading wins).
func TestAllocationOnFlowMatchesMap(t *testing.T) {
	e := NewEngine(Options{})
	server := netip.MustParseAddrPort("198.51.100.1:3478")
	clients := make([]netip.AddrPort, 3*allocFlowSlots)
	for i := range clients {
		clients[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(50000+i%7))
	}
	clients[0] = server // an allocation from the server's address to itself: both readings
	rng := rand.New(rand.NewPCG(6, 7))
	var found, sentFound int
	for step := 0; step < 300_000; step++ {
		c := clients[rng.IntN(len(clients))]
		if rng.IntN(100) == 0 {
			flow := flowKey{client: c, server: server, transport: decode.UDP}
			if rng.IntN(3) == 0 {
				flow.client, flow.server = server, c
			}
			if as := e.allocations[flow]; as != nil {
				delete(e.allocations, flow)
				e.allocFlows.changed()
			} else {
				e.allocations[flow] = &allocState{a: &Allocation{Client: flow.client, Server: flow.server}}
				e.allocFlows.changed()
			}
			continue
		}
		m := &decode.Message{Packet: decode.Packet{Src: c, Dst: server, Transport: decode.UDP}}
		if rng.IntN(2) == 0 {
			m.Src, m.Dst = m.Dst, m.Src
		}
		wantSent := true
		want := e.allocations[flowKey{client: m.Src, server: m.Dst, transport: m.Transport}]
		if want == nil {
			want, wantSent = e.allocations[flowKey{client: m.Dst, server: m.Src, transport: m.Transport}], false
		}
		got, sent := e.allocationOnFlow(m)
		if got != want || (want != nil && sent != wantSent) {
			t.Fatalf("step %d, %v -> %v: allocationOnFlow = %p sent %v, the map gives %p sent %v",
				step, m.Src, m.Dst, got, sent, want, wantSent)
		}
		if want != nil {
			found++
			if sent {
				sentFound++
			}
		}
	}
	if found == 0 || sentFound == 0 || sentFound == found {
		t.Fatalf("%d lookups found an allocation, %d client to server: the run tests too little", found, sentFound)
	}
}
