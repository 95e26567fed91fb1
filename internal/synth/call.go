package synth

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	pionstun "github.com/pion/stun/v3"
)

var turnServer = netip.AddrFrom4([4]byte{192, 0, 2, 1})

// endpoints of call i: the caller in 10/8, the callee in 172.16/12, both
// with SIP on 5060 and media on even ports.
func callerAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func calleeAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{172, 16 + byte(i>>16)&15, byte(i >> 8), byte(i)})
}

// addCall schedules call i: for a relayed call first the TURN allocation
// (Allocate challenged with 401, authenticated Allocate), then the SIP
// INVITE with its SDP offer, 100, 180, 200 with the answer, ACK; for a
// relayed call CreatePermission and ChannelBind; ICE checks; media both
// ways; BYE and its 200; for a relayed call the final Refresh.
func (g *gen) addCall(i int, start time.Duration, relayed bool) {
	length := time.Duration((0.5 + g.rng.Float64()) * float64(g.cfg.CallLength))
	caller, callee := callerAddr(i), calleeAddr(i)
	callerSIP, calleeSIP := netip.AddrPortFrom(caller, sipPort), netip.AddrPortFrom(callee, sipPort)
	callerMedia := netip.AddrPortFrom(caller, 20000+2*uint16(i%20000))
	calleeMedia := netip.AddrPortFrom(callee, 30000+2*uint16(i%15000))
	server := netip.AddrPortFrom(turnServer, turnPort)
	relayAddr := netip.AddrPortFrom(turnServer, 49152+2*uint16(i%8000))

	sig := &script{}
	upSIP, downSIP := newFlow(callerSIP, calleeSIP, dscpCS3), newFlow(calleeSIP, callerSIP, dscpCS3)
	at := start

	var toServer, fromServer, relayToPeer, peerToRelay *flow
	var channel uint16
	turnAttrs := func(nonce string) []pionstun.Setter {
		return []pionstun.Setter{pionstun.NewUsername(g.cfg.Username), pionstun.NewRealm(g.cfg.Realm), pionstun.NewNonce(nonce)}
	}
	integrity := pionstun.NewLongTermIntegrity(g.cfg.Username, g.cfg.Realm, g.cfg.Password)
	var nonce string
	if relayed {
		g.sum.Relayed++
		toServer, fromServer = newFlow(callerMedia, server, 0), newFlow(server, callerMedia, 0)
		relayToPeer, peerToRelay = newFlow(relayAddr, calleeMedia, 0), newFlow(calleeMedia, relayAddr, 0)
		channel = 0x4000 + uint16(i%0x3000)
		nonce = fmt.Sprintf("%016x", g.rng.Uint64())
		requested := pionstun.RawAttribute{Type: pionstun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}}
		id := g.transactionID()
		sig.add(at, toServer, stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, requested))
		sig.add(at+2*time.Millisecond, fromServer, stunMessage(pionstun.MethodAllocate, pionstun.ClassErrorResponse, id,
			pionstun.ErrorCodeAttribute{Code: 401, Reason: []byte("Unauthorized")}, pionstun.NewRealm(g.cfg.Realm), pionstun.NewNonce(nonce)))
		id = g.transactionID()
		attrs := append(turnAttrs(nonce), requested, integrity)
		sig.add(at+5*time.Millisecond, toServer, stunMessage(pionstun.MethodAllocate, pionstun.ClassRequest, id, attrs...))
		sig.add(at+7*time.Millisecond, fromServer, stunMessage(pionstun.MethodAllocate, pionstun.ClassSuccessResponse, id,
			xorAddr{pionstun.AttrXORRelayedAddress, relayAddr}, xorAddr{pionstun.AttrXORMappedAddress, callerMedia},
			lifetime(600), integrity))
		at += 20 * time.Millisecond
	}

	// SIP offer and answer. A relayed caller offers its relayed address
	// as the default candidate, with rtcp-mux since a channel carries both.
	ufragA, pwdA := fmt.Sprintf("%08x", g.rng.Uint32()), fmt.Sprintf("%024x", g.rng.Uint64())
	ufragB, pwdB := fmt.Sprintf("%08x", g.rng.Uint32()), fmt.Sprintf("%024x", g.rng.Uint64())
	offerAddr := callerMedia
	if relayed {
		offerAddr = relayAddr
	}
	offer := sdpBody(uint64(i)*2+1, caller, offerAddr, callerMedia, relayed, ufragA, pwdA)
	answer := sdpBody(uint64(i)*2+2, callee, calleeMedia, calleeMedia, relayed, ufragB, pwdB)
	d := sipDialog{
		callID:  fmt.Sprintf("%016x@%s", g.rng.Uint64(), caller),
		fromTag: fmt.Sprintf("%08x", g.rng.Uint32()),
		toTag:   fmt.Sprintf("%08x", g.rng.Uint32()),
		caller:  callerSIP, callee: calleeSIP, user: i,
	}
	branch := fmt.Sprintf("z9hG4bK%08x", g.rng.Uint32())
	sig.add(at, upSIP, d.request("INVITE", 1, branch, false, offer))
	sig.add(at+3*time.Millisecond, downSIP, d.response(100, "Trying", "INVITE", 1, branch, false, ""))
	sig.add(at+40*time.Millisecond, downSIP, d.response(180, "Ringing", "INVITE", 1, branch, true, ""))
	at += 40*time.Millisecond + time.Duration(g.rng.Int64N(int64(2*time.Second)))
	sig.add(at, downSIP, d.response(200, "OK", "INVITE", 1, branch, true, answer))
	sig.add(at+2*time.Millisecond, upSIP, d.request("ACK", 1, fmt.Sprintf("z9hG4bK%08x", g.rng.Uint32()), true, ""))
	at += 5 * time.Millisecond

	peerAttr := xorAddr{pionstun.AttrXORPeerAddress, calleeMedia}
	if relayed {
		for _, method := range []pionstun.Method{pionstun.MethodCreatePermission, pionstun.MethodChannelBind} {
			id := g.transactionID()
			attrs := []pionstun.Setter{peerAttr}
			if method == pionstun.MethodChannelBind {
				attrs = append(attrs, pionstun.RawAttribute{Type: pionstun.AttrChannelNumber,
					Value: binary.BigEndian.AppendUint32(nil, uint32(channel)<<16)})
			}
			attrs = append(append(attrs, turnAttrs(nonce)...), integrity)
			sig.add(at, toServer, stunMessage(method, pionstun.ClassRequest, id, attrs...))
			sig.add(at+2*time.Millisecond, fromServer, stunMessage(method, pionstun.ClassSuccessResponse, id, integrity))
			at += 5 * time.Millisecond
		}
	}

	// ICE: the caller (controlling) nominates the pair; consent checks
	// every 5 s after (RFC 7675).
	ice := iceSession{ufragA: ufragA, ufragB: ufragB, pwdA: pwdA, pwdB: pwdB}
	binary.BigEndian.PutUint64(ice.tieBreaker[:], g.rng.Uint64())
	mediaStart := at + 10*time.Millisecond
	end := mediaStart + length
	checks := &script{}
	for t, first := mediaStart-5*time.Millisecond, true; t < end; t, first = t+consentInterval, false {
		req, resp := ice.check(g, true, first, callerMedia)
		if relayed {
			checks.add(t, toServer, channelData(channel, req))
			checks.add(t+time.Millisecond, relayToPeer, req)
			checks.add(t+2*time.Millisecond, peerToRelay, resp)
			checks.add(t+3*time.Millisecond, fromServer, channelData(channel, resp))
		} else {
			up, down := newFlow(callerMedia, calleeMedia, 0), newFlow(calleeMedia, callerMedia, 0)
			checks.add(t, up, req)
			checks.add(t+time.Millisecond, down, resp)
		}
	}
	g.scheduleScript(checks)

	// Media both ways.
	pair := &mediaPair{}
	up := g.newMedia(pair, 0, end)
	down := g.newMedia(pair, 1, end)
	if relayed {
		up.legs = [2]*flow{toServer, relayToPeer}
		up.channel = [2]uint16{channel, 0}
		down.legs = [2]*flow{peerToRelay, fromServer}
		down.channel = [2]uint16{0, channel}
		up.rtcpLegs, down.rtcpLegs = up.legs, down.legs
	} else {
		up.legs[0] = newFlow(callerMedia, calleeMedia, up.dscp)
		down.legs[0] = newFlow(calleeMedia, callerMedia, down.dscp)
		up.rtcpLegs[0] = newFlow(next(callerMedia), next(calleeMedia), up.dscp)
		down.rtcpLegs[0] = newFlow(next(calleeMedia), next(callerMedia), down.dscp)
	}
	if relayed {
		// The TURN legs keep the media's mark: a relay copies DSCP.
		for _, m := range []*media{up, down} {
			for k, f := range m.legs {
				m.legs[k] = newFlow(f.src, f.dst, m.dscp)
				m.rtcpLegs[k] = m.legs[k]
			}
		}
	}
	g.schedule(up, mediaStart)
	g.schedule(down, mediaStart+time.Duration(g.rng.Int64N(int64(frameInterval))))

	// Hang up.
	at = end + 20*time.Millisecond
	byeBranch := fmt.Sprintf("z9hG4bK%08x", g.rng.Uint32())
	sig.add(at, upSIP, d.request("BYE", 2, byeBranch, true, ""))
	sig.add(at+3*time.Millisecond, downSIP, d.response(200, "OK", "BYE", 2, byeBranch, true, ""))
	if relayed {
		id := g.transactionID()
		attrs := append([]pionstun.Setter{lifetime(0)}, turnAttrs(nonce)...)
		attrs = append(attrs, integrity)
		sig.add(at+10*time.Millisecond, toServer, stunMessage(pionstun.MethodRefresh, pionstun.ClassRequest, id, attrs...))
		sig.add(at+12*time.Millisecond, fromServer, stunMessage(pionstun.MethodRefresh, pionstun.ClassSuccessResponse, id, lifetime(0), integrity))
	}
	g.scheduleScript(sig)
}

func next(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr(), ap.Port()+1) }

type sipDialog struct {
	callID, fromTag, toTag string
	caller, callee         netip.AddrPort
	user                   int
}

func (d *sipDialog) headers(b *strings.Builder, branch, method string, cseq int, withToTag bool) {
	fmt.Fprintf(b, "Via: SIP/2.0/UDP %s;branch=%s\r\n", d.caller, branch)
	fmt.Fprintf(b, "From: <sip:alice%d@%s>;tag=%s\r\n", d.user, d.caller.Addr(), d.fromTag)
	if withToTag {
		fmt.Fprintf(b, "To: <sip:bob%d@%s>;tag=%s\r\n", d.user, d.callee.Addr(), d.toTag)
	} else {
		fmt.Fprintf(b, "To: <sip:bob%d@%s>\r\n", d.user, d.callee.Addr())
	}
	fmt.Fprintf(b, "Call-ID: %s\r\nCSeq: %d %s\r\n", d.callID, cseq, method)
}

func (d *sipDialog) body(b *strings.Builder, contact netip.AddrPort, user string, sdp string) []byte {
	fmt.Fprintf(b, "Contact: <sip:%s@%s>\r\nUser-Agent: synth/1.0\r\n", user, contact)
	if sdp != "" {
		fmt.Fprintf(b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp)
	} else {
		b.WriteString("Content-Length: 0\r\n\r\n")
	}
	return []byte(b.String())
}

func (d *sipDialog) request(method string, cseq int, branch string, withToTag bool, sdp string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:bob%d@%s SIP/2.0\r\n", method, d.user, d.callee)
	d.headers(&b, branch, method, cseq, withToTag)
	b.WriteString("Max-Forwards: 70\r\n")
	return d.body(&b, d.caller, fmt.Sprintf("alice%d", d.user), sdp)
}

func (d *sipDialog) response(code int, reason, method string, cseq int, branch string, withToTag bool, sdp string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	d.headers(&b, branch, method, cseq, withToTag)
	return d.body(&b, d.callee, fmt.Sprintf("bob%d", d.user), sdp)
}

// sdpBody is an offer or answer for one audio stream: G.711 µ-law and
// telephone events, ICE credentials and candidates.
func sdpBody(id uint64, host netip.Addr, conn, hostMedia netip.AddrPort, mux bool, ufrag, pwd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- %d 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n", id, host, conn.Addr())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP 0 101\r\n", conn.Port())
	b.WriteString("a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n")
	if mux {
		b.WriteString("a=rtcp-mux\r\n")
	}
	fmt.Fprintf(&b, "a=ice-ufrag:%s\r\na=ice-pwd:%s\r\n", ufrag, pwd)
	fmt.Fprintf(&b, "a=candidate:1 1 udp 2130706431 %s %d typ host\r\n", hostMedia.Addr(), hostMedia.Port())
	if conn != hostMedia {
		fmt.Fprintf(&b, "a=candidate:2 1 udp 16777215 %s %d typ relay raddr %s rport %d\r\n",
			conn.Addr(), conn.Port(), hostMedia.Addr(), hostMedia.Port())
	}
	b.WriteString("a=sendrecv\r\n")
	return b.String()
}

// iceSession is one ICE session's short-term credentials (RFC 8445 §7.2.2):
// a request is signed with the password of the agent it goes to.
type iceSession struct {
	ufragA, ufragB, pwdA, pwdB string
	tieBreaker                 [8]byte
}

// check builds a connectivity check and its success response; the caller
// (A) is the controlling agent. mapped is the address the checked agent
// sees the request come from.
func (ice *iceSession) check(g *gen, fromCaller, nominate bool, mapped netip.AddrPort) (req, resp []byte) {
	id := g.transactionID()
	username, pwd, role := ice.ufragB+":"+ice.ufragA, ice.pwdB, pionstun.AttrICEControlling
	if !fromCaller {
		username, pwd, role = ice.ufragA+":"+ice.ufragB, ice.pwdA, pionstun.AttrICEControlled
	}
	// PRIORITY of a peer-reflexive candidate (RFC 8445 §5.1.2.1).
	priority := binary.BigEndian.AppendUint32(nil, 110<<24|65535<<8|255)
	attrs := []pionstun.Setter{
		pionstun.NewUsername(username),
		pionstun.RawAttribute{Type: pionstun.AttrPriority, Value: priority},
		pionstun.RawAttribute{Type: role, Value: ice.tieBreaker[:]},
	}
	if nominate {
		attrs = append(attrs, pionstun.RawAttribute{Type: pionstun.AttrUseCandidate})
	}
	attrs = append(attrs, pionstun.NewShortTermIntegrity(pwd))
	req = stunMessage(pionstun.MethodBinding, pionstun.ClassRequest, id, attrs...)
	resp = stunMessage(pionstun.MethodBinding, pionstun.ClassSuccessResponse, id,
		xorAddr{pionstun.AttrXORMappedAddress, mapped}, pionstun.NewShortTermIntegrity(pwd))
	return req, resp
}
