package diagnose

import (
	"net/netip"
	"strings"

	"github.com/callscope/callscope/decode/sdp"
)

// announcement is what an SDP said about one media transport address: the
// receiver's codec table (RFC 3264 §5.1: a sender uses the payload type
// numbers of the SDP of the side it sends to), and the call.
type announcement struct {
	call  *Call
	media *sdp.Media // points into the Session, which outlives the packet
	srtp  bool
	rtcp  bool // the address is the media's RTCP port, not its RTP one
}

// codec is what a payload type stands for in this media section: its
// a=rtpmap, else the RFC 3551 static assignment.
func (a *announcement) codec(pt uint8) (codec string, clock uint32, mediaType string) {
	if rm, ok := a.media.Codec(pt); ok {
		codec, clock = rm.Encoding, rm.ClockRate
	}
	switch a.media.Type {
	case "audio", "video":
		mediaType = a.media.Type
	default:
		_, _, mediaType = staticCodec(pt)
	}
	return codec, clock, mediaType
}

// staticCodec is the RFC 3551 static assignment of a payload type.
func staticCodec(pt uint8) (codec string, clock uint32, mediaType string) {
	rm, mediaType, ok := sdp.StaticPayloadType(pt)
	if !ok {
		return "", 0, ""
	}
	return rm.Encoding, rm.ClockRate, mediaType
}

// isSRTP says whether a media section's RTP is encrypted: an SAVP profile
// (RFC 3711, RFC 5124), SDES keys (RFC 4568) or DTLS-SRTP (RFC 5763's
// fingerprint, at media or session level).
func isSRTP(s *sdp.Session, m *sdp.Media) bool {
	return strings.Contains(m.Proto, "SAVP") || m.Crypto || m.Fingerprint != "" || s.Fingerprint != ""
}

// announceMedia remembers the media endpoints of an SDP offer or answer of
// call c: each RTP m= section's c= address and port, its RTCP port (a=rtcp,
// else the port above, RFC 3605 and RFC 3550 §11, unless a=rtcp-mux), and
// its ICE candidates' addresses (RFC 8839), so that RTP reaching any of
// them is a stream of the call from its first packet.
func (e *Engine) announceMedia(c *Call, s *SDPSeen) {
	if s == nil || s.Session == nil {
		return
	}
	ms := &e.media
	sess := s.Session
	for i := range sess.Media {
		m := &sess.Media[i]
		// Port 0 rejects or disables the stream (RFC 3264 §6); non-RTP
		// profiles (udptl for T.38, BFCP, WebRTC data channels) carry no RTP.
		if m.Port == 0 || !strings.Contains(m.Proto, "RTP") {
			continue
		}
		addr := m.Connection
		if !addr.IsValid() {
			addr = sess.Connection
		}
		ann := &announcement{call: c, media: m, srtp: isSRTP(sess, m)}
		rtcpPort := uint16(0)
		if !m.RTCPMux {
			rtcpPort = m.RTCPPort
			if rtcpPort == 0 && m.Port < 65535 {
				rtcpPort = m.Port + 1
			}
		}
		ms.announce(netip.AddrPortFrom(addr, m.Port), ann)
		if rtcpPort != 0 {
			rtcp := *ann
			rtcp.rtcp = true
			ms.announce(netip.AddrPortFrom(addr, rtcpPort), &rtcp)
		}
		for _, cand := range m.Candidates {
			if !receivesMedia(&cand) {
				continue
			}
			switch cand.Component {
			case 1:
				ms.announce(cand.Addr, ann)
			case 2:
				rtcp := *ann
				rtcp.rtcp = true
				ms.announce(cand.Addr, &rtcp)
			}
		}
	}
}

// receivesMedia says whether media can be addressed to a candidate's
// address and port: a UDP candidate's, and a TCP candidate's that accepts
// connections, passive or simultaneous-open (RFC 6544 §4.5); the
// connection's frames then carry the media (§3), both ways. An active
// TCP candidate's port is 9, a placeholder: its connections come from
// ports no SDP names, and the passive end announces them.
func receivesMedia(c *sdp.Candidate) bool {
	switch {
	case strings.EqualFold(c.Transport, "udp"):
		return true
	case strings.EqualFold(c.Transport, "tcp"):
		return strings.EqualFold(c.TCPType, "passive") || strings.EqualFold(c.TCPType, "so")
	}
	return false
}

// announce records one endpoint. A later SDP for the same address (a
// re-INVITE, the answer after the offer, another call reusing the port)
// replaces the earlier one, except that an address a call announced for
// RTP stays RTP when the same call also names it as an RTCP port: an RTCP
// port is most often only implied (the RTP port + 1, RFC 3550 §11, unless
// a=rtcp says otherwise, RFC 3605), or an ICE component 2 candidate,
// while the RTP port is what the m= line or component 1 names, and only
// RTP announcements tie streams to calls (announcedFor). Beyond
// MaxAnnouncedEndpoints the oldest announcement is forgotten.
func (ms *mediaState) announce(ep netip.AddrPort, ann *announcement) {
	ep = netip.AddrPortFrom(ep.Addr().Unmap(), ep.Port())
	// An unspecified address (0.0.0.0, RFC 3264 §8.4's old hold) receives
	// nothing.
	if !ep.Addr().IsValid() || ep.Addr().IsUnspecified() || ep.Port() == 0 {
		return
	}
	if ms.announced == nil {
		ms.announced = make(map[netip.AddrPort]*announcement)
		ms.announcedAt = new([endpointSlots]uint64)
	}
	if prev, ok := ms.announced[ep]; ok {
		// An RTP announcement is not demoted by the same call naming the
		// address as RTCP of another section (m=audio 4001 and m=video 4000,
		// whose implied RTCP port is 4001), in either order.
		if !ann.rtcp || prev.rtcp || prev.call != ann.call {
			ms.announced[ep] = ann
		}
		ms.announceGen++
		ms.announcedAt[endpointSlot(ep)] = ms.announceGen
		return
	}
	if len(ms.announced) >= MaxAnnouncedEndpoints {
		delete(ms.announced, ms.announceRing[ms.announceHead])
		ms.announceRing[ms.announceHead] = ep
		ms.announceHead = (ms.announceHead + 1) % len(ms.announceRing)
	} else {
		ms.announceRing = append(ms.announceRing, ep)
	}
	ms.announced[ep] = ann
	ms.announceGen++
	ms.announcedAt[endpointSlot(ep)] = ms.announceGen
}

// announcedFor is the RTP announcement a stream falls under: its
// destination's (the receiver's codec table), else its source's (symmetric
// RTP, RFC 4961: a side sends from the port it receives on). For media
// relayed through TURN, the allocation's relayed address stands for the
// client, since that is what an ICE agent announces.
func (ms *mediaState) announcedFor(key streamKey, relayedBy *Allocation) *announcement {
	if len(ms.announced) == 0 {
		return nil
	}
	if relayedBy != nil {
		if ann := ms.announced[unmapAddrPort(relayedBy.Relayed)]; ann != nil && !ann.rtcp {
			return ann
		}
		return nil
	}
	if ann := ms.announced[unmapAddrPort(key.dst)]; ann != nil && !ann.rtcp {
		return ann
	}
	if ann := ms.announced[unmapAddrPort(key.src)]; ann != nil && !ann.rtcp {
		return ann
	}
	return nil
}

func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}
