// Command turn-idle-client is the TURN client of
// turn-nat-binding-expired.pcap (make-captures.sh nat-binding-expired): a
// client that sets up an allocation, relays a little data, goes silent
// for longer than its NAT's UDP timeout and then refreshes from the same
// socket. turnutils_uclient cannot be told to idle, hence this program.
//
// On one UDP socket, in this order: Allocate, answered 401; Allocate with
// long-term credentials (RFC 8489 §9.2); CreatePermission and ChannelBind
// to the peer; a few ChannelData to the peer, whose echoes come back; then
// nothing at all for -idle; then a Refresh and one more ChannelData. Each
// request waits for its answer (retransmitted on RFC 8489 §6.2.1's
// schedule, 3 sends at most; sent anew once with the new NONCE after a
// 438), and every answer is logged. The client never
// sends a keepalive, so a NAT in front of it with a UDP timeout shorter
// than -idle forgets the binding and the Refresh leaves from a new public
// port, where the server knows no allocation.
//
// Usage: go run ./pcaps/turn-idle-client -server 192.0.2.1:3478 -peer 198.51.100.20:3480 -idle 8s
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/pion/stun/v3"
)

type client struct {
	conn                  *net.UDPConn
	server                *net.UDPAddr
	user, password, realm string
	nonce                 string
}

func main() {
	server := flag.String("server", "192.0.2.1:3478", "TURN server address:port (UDP)")
	peer := flag.String("peer", "198.51.100.20:3480", "peer address:port, reached through the relay")
	user := flag.String("user", "alice", "long-term credential username")
	password := flag.String("password", "correct-horse", "long-term credential password")
	idle := flag.Duration("idle", 8*time.Second, "silence between the last ChannelData and the Refresh")
	channel := flag.Uint("channel", 0x4000, "channel number to bind (0x4000-0x4FFF)")
	count := flag.Int("n", 3, "ChannelData messages to send before the silence")
	flag.Parse()
	if err := run(*server, *peer, *user, *password, *idle, uint16(*channel), *count); err != nil {
		fmt.Fprintln(os.Stderr, "turn-idle-client:", err)
		os.Exit(1)
	}
}

func run(serverAddr, peerAddr, user, password string, idle time.Duration, channel uint16, count int) error {
	server, err := net.ResolveUDPAddr("udp", serverAddr)
	if err != nil {
		return err
	}
	peer, err := net.ResolveUDPAddr("udp", peerAddr)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := &client{conn: conn, server: server, user: user, password: password}
	logf("socket %s, server %s", conn.LocalAddr(), server)

	requestedUDP := stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}} // RFC 8656 §18.8
	lifetime := stun.RawAttribute{Type: stun.AttrLifetime, Value: []byte{0, 0, 0x02, 0x58}}          // 600 s
	// The first Allocate carries no credentials: the 401 brings REALM and
	// NONCE (RFC 8489 §9.2.2).
	res, err := c.request(stun.MethodAllocate, false, requestedUDP, lifetime)
	if err != nil {
		return err
	}
	if code := errorCode(res); code != 401 {
		return fmt.Errorf("first Allocate: want a 401 challenge, got %s", describe(res))
	}
	var realm stun.Realm
	var nonce stun.Nonce
	if err := realm.GetFrom(res); err != nil {
		return fmt.Errorf("401 without REALM: %w", err)
	}
	if err := nonce.GetFrom(res); err != nil {
		return fmt.Errorf("401 without NONCE: %w", err)
	}
	c.realm, c.nonce = realm.String(), nonce.String()

	if res, err = c.request(stun.MethodAllocate, true, requestedUDP, lifetime); err != nil {
		return err
	}
	if res.Type.Class != stun.ClassSuccessResponse {
		return fmt.Errorf("authenticated Allocate: %s", describe(res))
	}

	var peerAddress stun.XORMappedAddress
	peerAddress.IP, peerAddress.Port = peer.IP, peer.Port
	peerSetter := setterFunc(func(m *stun.Message) error { return peerAddress.AddToAs(m, stun.AttrXORPeerAddress) })
	if res, err = c.request(stun.MethodCreatePermission, true, peerSetter); err != nil {
		return err
	}
	if res.Type.Class != stun.ClassSuccessResponse {
		return fmt.Errorf("CreatePermission: %s", describe(res))
	}
	channelNumber := stun.RawAttribute{Type: stun.AttrChannelNumber, Value: []byte{byte(channel >> 8), byte(channel), 0, 0}}
	if res, err = c.request(stun.MethodChannelBind, true, channelNumber, peerSetter); err != nil {
		return err
	}
	if res.Type.Class != stun.ClassSuccessResponse {
		return fmt.Errorf("ChannelBind: %s", describe(res))
	}

	for i := 1; i <= count; i++ {
		if err := c.channelData(channel, i); err != nil {
			return err
		}
		c.drain(100 * time.Millisecond)
	}

	logf("silent for %s", idle)
	time.Sleep(idle)

	// The Refresh goes first: it is what a client does when its
	// allocation is due (RFC 8656 §8), and the NAT's new binding is made
	// by it rather than by data.
	if res, err = c.request(stun.MethodRefresh, true, lifetime); err != nil {
		logf("Refresh: %v", err)
	}
	if err := c.channelData(channel, count+1); err != nil {
		return err
	}
	c.drain(time.Second)
	logf("done")
	return nil
}

type setterFunc func(*stun.Message) error

func (f setterFunc) AddTo(m *stun.Message) error { return f(m) }

// request sends a request, with the credentials when authenticated, and
// returns the first response that carries its transaction ID. A 438 Stale
// Nonce is answered as RFC 8489 §9.2.5 says: once more, as a new
// transaction, with the NONCE the 438 brought (coturn's nonces belong to
// a 5-tuple, so a request from a new public port draws one).
func (c *client) request(method stun.Method, authenticated bool, attrs ...stun.Setter) (*stun.Message, error) {
	res, err := c.send(method, authenticated, attrs...)
	if err != nil || !authenticated || errorCode(res) != 438 {
		return res, err
	}
	var nonce stun.Nonce
	if err := nonce.GetFrom(res); err != nil {
		return res, nil
	}
	c.nonce = nonce.String()
	return c.send(method, authenticated, attrs...)
}

func (c *client) send(method stun.Method, authenticated bool, attrs ...stun.Setter) (*stun.Message, error) {
	setters := []stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}
	setters = append(setters, attrs...)
	if authenticated {
		setters = append(setters, stun.NewUsername(c.user), stun.NewRealm(c.realm), stun.NewNonce(c.nonce),
			stun.NewLongTermIntegrity(c.user, c.realm, c.password))
	}
	setters = append(setters, stun.Fingerprint)
	req, err := stun.Build(setters...)
	if err != nil {
		return nil, err
	}
	rto := 500 * time.Millisecond
	for send := 1; send <= 3; send++ {
		if _, err := c.conn.WriteToUDP(req.Raw, c.server); err != nil {
			return nil, err
		}
		logf("-> %s request (send %d)", method, send)
		deadline := time.Now().Add(rto)
		for {
			m, err := c.read(deadline)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return nil, err
			}
			if m != nil && m.TransactionID == req.TransactionID {
				logf("<- %s", describe(m))
				return m, nil
			}
		}
		rto *= 2
	}
	return nil, fmt.Errorf("%s: no answer", method)
}

// read returns the next STUN message from the server, logging ChannelData
// and anything else; nil for what is not a STUN message.
func (c *client) read(deadline time.Time) (*stun.Message, error) {
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	n, from, err := c.conn.ReadFromUDP(buf)
	if err != nil {
		return nil, err
	}
	b := buf[:n]
	switch {
	case stun.IsMessage(b):
		m := &stun.Message{Raw: b}
		if err := m.Decode(); err != nil {
			logf("<- undecodable STUN from %s: %v", from, err)
			return nil, nil
		}
		return m, nil
	case n >= 4 && b[0]&0xC0 == 0x40:
		logf("<- ChannelData on 0x%02x%02x: %q", b[0], b[1], b[4:])
	default:
		logf("<- %d bytes from %s", n, from)
	}
	return nil, nil
}

// drain logs whatever arrives within d.
func (c *client) drain(d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		m, err := c.read(deadline)
		if err != nil {
			return
		}
		if m != nil {
			logf("<- %s", describe(m))
		}
	}
}

// channelData sends "ping N" on channel (RFC 8656 §12.4), padded to a
// multiple of 4 bytes. The payload starts with neither a STUN, DTLS nor
// RTP byte (RFC 7983), so nothing reads it as media.
func (c *client) channelData(channel uint16, i int) error {
	payload := fmt.Appendf(nil, "ping %d", i)
	for len(payload)%4 != 0 {
		payload = append(payload, ' ')
	}
	msg := append([]byte{byte(channel >> 8), byte(channel), byte(len(payload) >> 8), byte(len(payload))}, payload...)
	if _, err := c.conn.WriteToUDP(msg, c.server); err != nil {
		return err
	}
	logf("-> ChannelData on 0x%04x: %q", channel, payload)
	return nil
}

func errorCode(m *stun.Message) int {
	var ec stun.ErrorCodeAttribute
	if m.Type.Class != stun.ClassErrorResponse || ec.GetFrom(m) != nil {
		return 0
	}
	return int(ec.Code)
}

func describe(m *stun.Message) string {
	s := m.Type.String()
	var ec stun.ErrorCodeAttribute
	if ec.GetFrom(m) == nil {
		s += fmt.Sprintf(" %d %s", ec.Code, ec.Reason)
	}
	var mapped, relayed stun.XORMappedAddress
	if mapped.GetFrom(m) == nil {
		s += " mapped " + mapped.String()
	}
	if relayed.GetFromAs(m, stun.AttrXORRelayedAddress) == nil {
		s += " relayed " + relayed.String()
	}
	if v, err := m.Get(stun.AttrLifetime); err == nil && len(v) == 4 {
		s += fmt.Sprintf(" lifetime %d s", uint32(v[0])<<24|uint32(v[1])<<16|uint32(v[2])<<8|uint32(v[3]))
	}
	return s
}

func logf(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}
