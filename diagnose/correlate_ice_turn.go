package diagnose

import (
	"net/netip"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

// observeRelayedICE follows ICE checks and DTLS that a TURN client
// exchanges with a peer through allocation as (RFC 8656 §12.4 ChannelData,
// §10 Send and Data indications). Inside the allocation the two ends are
// the relayed address and the peer, which is what the ICE agents and the
// DTLS association see (RFC 8445 §7.2.5.1 makes the relay candidate the
// local end of the pair), so both are keyed by those and not by the outer
// 5-tuple.
func (e *Engine) observeRelayedICE(m *decode.Message, payload []byte, as *allocState) {
	if as == nil || len(payload) == 0 {
		return
	}
	// RFC 7983 §7: 0-3 STUN, 20-63 DTLS.
	b := payload[0]
	isSTUN := b <= 3
	if !isSTUN && (b < 20 || b > 63) {
		return
	}
	a := as.a
	relayed := a.Relayed
	if !relayed.IsValid() {
		return
	}
	var peer netip.AddrPort
	switch m.Kind {
	case decode.KindChannelData:
		i, ok := as.channels[m.Channel.Number]
		if !ok || i >= len(a.Channels) {
			return
		}
		peer = a.Channels[i].Peer
	case decode.KindSTUN:
		if m.STUN == nil || len(m.STUN.XORPeerAddresses) == 0 {
			return
		}
		peer = m.STUN.XORPeerAddresses[0]
	default:
		return
	}
	src, dst := relayed, peer
	if m.Src != a.Client {
		src, dst = peer, relayed
	}
	if !isSTUN {
		e.observeRelayedDTLS(&m.Packet, payload, src, dst, a)
		return
	}
	if !stun.IsSTUN(payload) {
		return
	}
	msg := &e.ice.relayed
	if err := msg.Decode(payload); err != nil && !msg.HeaderOK {
		return
	}
	// The peer leg of a UDP allocation (REQUESTED-TRANSPORT 17, the only
	// one RFC 8656 defines) is UDP whatever the client's transport.
	e.observeICE(&m.Packet, msg, src, dst, decode.UDP, a)
}
