package diagnose

import (
	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/rtp"
)

// observeRelayedMedia accounts RTP or RTCP carried in TURN ChannelData or
// in a Send/Data indication's DATA (RFC 8656 §12.4, §10) on allocation as.
// The stream is keyed by the outer 5-tuple, client to server or back, so
// that it is told apart from the same SSRC seen on the peer side.
func (e *Engine) observeRelayedMedia(m *decode.Message, payload []byte, as *allocState) {
	if as == nil || len(payload) == 0 {
		return
	}
	// RFC 7983 §7: first bytes 0-3 are STUN (ICE checks through the
	// relay), 20-63 DTLS, 128-191 RTP or RTCP.
	if payload[0] < 64 {
		e.observeRelayedICE(m, payload, as)
		return
	}
	if len(payload) < 2 || payload[0]>>6 != 2 {
		return
	}
	if rtp.IsRTCPType(payload[1]) {
		ms := &e.media
		if ms.compound == nil {
			ms.compound = new(rtp.Compound)
		}
		if rtp.ParseRTCP(payload, ms.compound) {
			ms.observeCompound(&m.Packet, ms.compound)
		} else {
			ms.observeRelayedSRTCP(&m.Packet, payload)
		}
		return
	}
	var h rtp.Header
	if rtp.ParseHeader(payload, &h) {
		e.observeRTPHeader(&m.Packet, &h, as)
	}
}
