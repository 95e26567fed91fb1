package diagnose

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	pionstun "github.com/pion/stun/v3"
)

var (
	simStart      = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	simClientAddr = netip.MustParseAddrPort("192.0.2.10:50000")
	simServerAddr = netip.MustParseAddrPort("198.51.100.1:3478")
	simOtherAddr  = netip.MustParseAddrPort("198.51.100.2:3479") // RFC 5780 alternate
	simRelayAddr  = netip.MustParseAddrPort("198.51.100.1:49152")
	simMappedAddr = netip.MustParseAddrPort("203.0.113.7:61000")
	simPeer1a     = netip.MustParseAddrPort("203.0.113.20:1000")
	simPeer1b     = netip.MustParseAddrPort("203.0.113.20:2000")
	simPeer2      = netip.MustParseAddrPort("[2001:db8::2]:3000")
	simPeer3      = netip.MustParseAddrPort("203.0.113.30:5000")
)

// simEvent is one synthetic decoded message, at seconds after simStart.
type simEvent struct {
	at        float64
	src, dst  netip.AddrPort
	transport decode.Transport // UDP when zero
	kind      decode.Kind
	stun      stun.Message
	channel   decode.ChannelData
	icmp      decode.ICMPError
}

func simAt(sec float64) time.Time { return simStart.Add(time.Duration(sec * float64(time.Second))) }

// up is a STUN message from the client to the server, down the reverse.
func fromClient(sec float64, s stun.Message) simEvent {
	return simEvent{at: sec, src: simClientAddr, dst: simServerAddr, kind: decode.KindSTUN, stun: s}
}

func fromServer(sec float64, s stun.Message) simEvent {
	return simEvent{at: sec, src: simServerAddr, dst: simClientAddr, kind: decode.KindSTUN, stun: s}
}

func simChannelData(sec float64, src, dst netip.AddrPort, number, length uint16) simEvent {
	return simEvent{at: sec, src: src, dst: dst, kind: decode.KindChannelData,
		channel: decode.ChannelData{Number: number, Length: length}}
}

type msgFill func(*stun.Message)

func simMsg(method stun.Method, class stun.Class, id byte, fills ...msgFill) stun.Message {
	m := stun.Message{Method: method, Class: class, Cookie: stunCookie}
	m.Transaction[0], m.Transaction[11] = id, id
	for _, f := range fills {
		f(&m)
	}
	return m
}

func simRequest(method stun.Method, id byte, fills ...msgFill) stun.Message {
	return simMsg(method, stun.ClassRequest, id, fills...)
}

func simSuccess(method stun.Method, id byte, fills ...msgFill) stun.Message {
	return simMsg(method, stun.ClassSuccess, id, fills...)
}

func simFailure(method stun.Method, id byte, code int, fills ...msgFill) stun.Message {
	return simMsg(method, stun.ClassError, id, append([]msgFill{func(m *stun.Message) {
		m.ErrorCode = code
		m.ErrorReason = "reason"
	}}, fills...)...)
}

func withAuth(user, realm, nonce string) msgFill {
	return func(m *stun.Message) {
		m.Username, m.Realm, m.Nonce, m.HasIntegrity = user, realm, nonce, true
	}
}

func withChallenge(realm, nonce string) msgFill {
	return func(m *stun.Message) { m.Realm, m.Nonce = realm, nonce }
}

func withLifetime(s uint32) msgFill {
	return func(m *stun.Message) { m.HasLifetime, m.Lifetime = true, s }
}

func withPeers(p ...netip.AddrPort) msgFill {
	return func(m *stun.Message) { m.XORPeerAddresses = p }
}

func withChannel(n uint16) msgFill {
	return func(m *stun.Message) { m.HasChannelNumber, m.ChannelNumber = true, n }
}

func withRelayed(r, mapped netip.AddrPort) msgFill {
	return func(m *stun.Message) { m.XORRelayedAddress, m.XORMappedAddress = r, mapped }
}

// indication builds a real Send or Data indication with pion, so that the
// DATA attribute's length is read from the bytes.
func simIndication(t *testing.T, method stun.Method, dataLen int) stun.Message {
	t.Helper()
	pm, err := pionstun.Build(pionstun.TransactionID,
		pionstun.NewType(pionstun.Method(method), pionstun.ClassIndication),
		pionstun.RawAttribute{Type: pionstun.AttrType(attrData), Value: make([]byte, dataLen)},
		pionstun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return stun.Message{Method: method, Class: stun.ClassIndication, Cookie: stunCookie, Raw: pm.Raw}
}

// run feeds events to an Engine as the decoder would: one reused Message
// whose slices are overwritten after each Observe, so that anything the
// engine kept without copying shows up as garbage. Strings are fresh ones,
// as the decoder's are (decode/stun/strings.go, TestDecoderStringsOutlive);
// the ICMP description is one of the decoder's constants.
func simulate(t *testing.T, e *Engine, events []simEvent, end float64) *Analysis {
	t.Helper()
	var dm decode.Message
	var sm stun.Message
	for i, ev := range events {
		sm = ev.stun
		sm.Username, sm.Realm, sm.Nonce = strings.Clone(sm.Username), strings.Clone(sm.Realm), strings.Clone(sm.Nonce)
		sm.ErrorReason, sm.Software = strings.Clone(sm.ErrorReason), strings.Clone(sm.Software)
		sm.XORPeerAddresses = slices.Clone(sm.XORPeerAddresses)
		tr := ev.transport
		if tr == 0 {
			tr = decode.UDP
		}
		dm = decode.Message{
			Packet: decode.Packet{Frame: uint64(i + 1), Time: simAt(ev.at), Src: ev.src, Dst: ev.dst, Transport: tr},
			Kind:   ev.kind, Channel: ev.channel, ICMP: ev.icmp,
		}
		dm.ICMP.QuotedPayload = slices.Clone(dm.ICMP.QuotedPayload)
		if ev.kind == decode.KindSTUN {
			dm.STUN = &sm
		}
		e.Observe(&dm)
		clear(sm.XORPeerAddresses)
		clear(dm.ICMP.QuotedPayload)
	}
	return e.Finish(simAt(end))
}

func frameNumbers(refs []FrameRef) []uint64 {
	var out []uint64
	for _, r := range refs {
		out = append(out, r.Frame)
	}
	return out
}
