// Command sip-keepalive-phone is the phone of
// sip-nat-binding-expired-keepalive.pcap (make-sip-captures.sh
// nat-binding-expired-keepalive): a SIP client over UDP that registers,
// keeps its NAT binding open with CRLF keep-alives ("\r\n\r\n", RFC 5626
// §3.5.1's ping, sent over UDP as many phones and PBXs do) every
// -keepalive, and refreshes the registration after -refresh (same Call-ID,
// CSeq + 1, same Via and Contact, RFC 3261 §10.2.4). SIPp cannot send a
// datagram that is not a SIP message (its scenarios need a start line),
// hence this program.
//
// Everything goes out of one UDP socket bound to -local, so that a NAT in
// front of the phone sees one inside address and port. When the keep-alive
// interval is longer than the NAT's UDP timeout, each keep-alive, and the
// refresh, leaves through a new binding, usually with a new public port.
//
// A REGISTER is retransmitted on RFC 3261 §17.1.2.2's schedule (Timer E
// from T1 = 500 ms, doubling up to T2 = 4 s) until a 200 answers it or
// Timer F (64*T1) fires. Every message received is logged; requests sent
// to the phone are not answered (a NAT that forgot the binding delivers
// none here).
//
// With -tcp it does the same over one TCP connection from -local (port 0:
// any) to the registrar, as RFC 5626 §4.4.1 has a client keep a
// connection-oriented flow alive: each keep-alive is a double-CRLF ping
// written on its own, and the single-CRLF pongs a server sends back
// (§5.4) are logged. A REGISTER is sent once (Timer E is for unreliable
// transports, RFC 3261 §17.1.2.2) and waited for until Timer F; responses
// are framed by Content-Length (RFC 3261 §18.3). The phone closes the
// connection after the refresh's 200. This is pcaps/sip-tcp-keepalive.pcap's
// phone (make-sip-captures.sh tcp-keepalive).
//
// Usage: go run ./pcaps/sip-keepalive-phone -local 10.0.1.10:5060 -registrar 203.0.113.20:5060 -keepalive 6s -refresh 19s
//
//	go run ./pcaps/sip-keepalive-phone -tcp -local 10.0.1.10:0 -registrar 203.0.113.20:5060 -keepalive 5s -refresh 21s
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// RFC 3261 §17.1.1.1 timers.
const (
	t1 = 500 * time.Millisecond
	t2 = 4 * time.Second
)

type phone struct {
	conn      *net.UDPConn
	registrar *net.UDPAddr
	local     net.Addr
	user      string
	domain    string
	callID    string
	fromTag   string
	expires   int
	cseq      int

	// With -tcp: the connection to the registrar (conn and registrar
	// unused) and the bytes read from it not framed yet.
	stream   *net.TCPConn
	received []byte
}

// transport names the phone's transport in Via and Contact.
func (p *phone) transport() (via, param string) {
	if p.stream != nil {
		return "TCP", "tcp"
	}
	return "UDP", "udp"
}

// send writes b to the registrar: one datagram, or onto the connection.
func (p *phone) send(b []byte) error {
	if p.stream != nil {
		_, err := p.stream.Write(b)
		return err
	}
	_, err := p.conn.WriteToUDP(b, p.registrar)
	return err
}

func main() {
	local := flag.String("local", "10.0.1.10:5060", "local address:port of the phone's one socket")
	registrar := flag.String("registrar", "203.0.113.20:5060", "registrar address:port (UDP)")
	user := flag.String("user", "alice", "user part of the address-of-record")
	domain := flag.String("domain", "callscope.test", "domain of the address-of-record")
	expires := flag.Int("expires", 20, "Expires asked for")
	keepalive := flag.Duration("keepalive", 6*time.Second, "interval of the CRLF keep-alives after the registration")
	refresh := flag.Duration("refresh", 19*time.Second, "time from the registration's 200 to the refresh")
	tcp := flag.Bool("tcp", false, "register and send double-CRLF pings over one TCP connection (RFC 5626 §4.4.1) instead of UDP")
	flag.Parse()
	start := run
	if *tcp {
		start = runTCP
	}
	if err := start(*local, *registrar, *user, *domain, *expires, *keepalive, *refresh); err != nil {
		fmt.Fprintln(os.Stderr, "sip-keepalive-phone:", err)
		os.Exit(1)
	}
}

func run(localAddr, registrarAddr, user, domain string, expires int, keepalive, refresh time.Duration) error {
	local, err := net.ResolveUDPAddr("udp", localAddr)
	if err != nil {
		return err
	}
	registrar, err := net.ResolveUDPAddr("udp", registrarAddr)
	if err != nil {
		return err
	}
	conn, err := net.ListenUDP("udp", local)
	if err != nil {
		return err
	}
	defer conn.Close()
	pid := os.Getpid()
	p := &phone{
		conn: conn, registrar: registrar, local: local, user: user, domain: domain, expires: expires,
		callID:  fmt.Sprintf("%d-keepalive@%s", pid, local.IP),
		fromTag: fmt.Sprintf("%dka", pid),
	}
	return p.keepRegistered(keepalive, refresh)
}

// runTCP is run over one TCP connection from localAddr to the registrar.
func runTCP(localAddr, registrarAddr, user, domain string, expires int, keepalive, refresh time.Duration) error {
	local, err := net.ResolveTCPAddr("tcp", localAddr)
	if err != nil {
		return err
	}
	registrar, err := net.ResolveTCPAddr("tcp", registrarAddr)
	if err != nil {
		return err
	}
	conn, err := net.DialTCP("tcp", local, registrar)
	if err != nil {
		return err
	}
	defer conn.Close()
	pid := os.Getpid()
	p := &phone{
		stream: conn, local: conn.LocalAddr(), user: user, domain: domain, expires: expires,
		callID:  fmt.Sprintf("%d-keepalive@%s", pid, local.IP),
		fromTag: fmt.Sprintf("%dka", pid),
	}
	return p.keepRegistered(keepalive, refresh)
}

// keepRegistered registers, sends a CRLF keep-alive every keepalive and
// refreshes the registration refresh after its 200.
func (p *phone) keepRegistered(keepalive, refresh time.Duration) error {
	if err := p.register(); err != nil {
		return err
	}
	registered := time.Now()
	for n := 1; ; n++ {
		next := registered.Add(time.Duration(n) * keepalive)
		if next.After(registered.Add(refresh)) {
			break
		}
		p.listenUntil(next)
		if err := p.send([]byte("\r\n\r\n")); err != nil {
			return err
		}
		logf("sent CRLF keep-alive %d", n)
	}
	p.listenUntil(registered.Add(refresh))
	return p.register()
}

// register sends a REGISTER and waits for its 200, retransmitting it.
func (p *phone) register() error {
	p.cseq++
	branch := fmt.Sprintf("z9hG4bK-ka-%s-%d", p.fromTag, p.cseq)
	via, param := p.transport()
	registrarIP := p.registrarIP()
	req := strings.Join([]string{
		fmt.Sprintf("REGISTER sip:%s SIP/2.0", registrarIP),
		fmt.Sprintf("Via: SIP/2.0/%s %s;branch=%s;rport", via, p.local, branch),
		"Max-Forwards: 70",
		fmt.Sprintf("From: <sip:%s@%s>;tag=%s", p.user, p.domain, p.fromTag),
		fmt.Sprintf("To: <sip:%s@%s>", p.user, p.domain),
		"Call-ID: " + p.callID,
		fmt.Sprintf("CSeq: %d REGISTER", p.cseq),
		fmt.Sprintf("Contact: <sip:%s@%s;transport=%s>", p.user, p.local, param),
		fmt.Sprintf("Expires: %d", p.expires),
		"User-Agent: callscope sip-keepalive-phone",
		"Content-Length: 0",
		"", "",
	}, "\r\n")
	timerF := time.Now().Add(64 * t1)
	for interval := t1; time.Now().Before(timerF); interval = min(2*interval, t2) {
		if err := p.send([]byte(req)); err != nil {
			return err
		}
		logf("sent REGISTER CSeq %d", p.cseq)
		if p.stream != nil {
			// A reliable transport: no retransmission, Timer F only.
			if p.listenUntil(timerF) {
				return nil
			}
			break
		}
		wait := time.Now().Add(interval)
		if wait.After(timerF) {
			wait = timerF
		}
		if p.listenUntil(wait) {
			return nil
		}
	}
	return errors.New("no 200 to the REGISTER (Timer F)")
}

// listenUntil logs what arrives until deadline and reports whether a 200
// to the current REGISTER did, which ends the wait.
func (p *phone) listenUntil(deadline time.Time) bool {
	if p.stream != nil {
		return p.listenStreamUntil(deadline)
	}
	buf := make([]byte, 65535)
	want := fmt.Appendf(nil, "CSeq: %d REGISTER", p.cseq)
	for {
		if err := p.conn.SetReadDeadline(deadline); err != nil {
			return false
		}
		n, from, err := p.conn.ReadFromUDP(buf)
		if err != nil {
			return false // the deadline, or a closed socket
		}
		msg := buf[:n]
		line, _, _ := bytes.Cut(msg, []byte("\r\n"))
		logf("received %q from %s", line, from)
		if bytes.HasPrefix(msg, []byte("SIP/2.0 200 ")) && bytes.Contains(msg, want) {
			return true
		}
	}
}

// registrarIP is the registrar's address for the Request-URI.
func (p *phone) registrarIP() net.IP {
	if p.stream != nil {
		return p.stream.RemoteAddr().(*net.TCPAddr).IP
	}
	return p.registrar.IP
}

// maxStreamBuffer bounds what the phone buffers from the connection: a
// SIP message larger than this (RFC 3261 §18.1.1's limit is for UDP, but
// a registrar's answer is far smaller) ends the wait.
const maxStreamBuffer = 64 << 10

// listenStreamUntil is listenUntil on the TCP connection: it frames what
// arrives (CRLFs between messages are pongs or RFC 3261 §7.5 padding, a
// message ends Content-Length bytes after its empty line) and logs each
// message's start line and each CRLF.
func (p *phone) listenStreamUntil(deadline time.Time) bool {
	want := fmt.Appendf(nil, "CSeq: %d REGISTER", p.cseq)
	from := p.stream.RemoteAddr()
	buf := make([]byte, 4096)
	for {
		for {
			if bytes.HasPrefix(p.received, []byte("\r\n")) {
				p.received = p.received[2:]
				logf("received CRLF pong from %s", from)
				continue
			}
			msg, ok := frameMessage(p.received)
			if !ok {
				break
			}
			p.received = p.received[len(msg):]
			line, _, _ := bytes.Cut(msg, []byte("\r\n"))
			logf("received %q from %s", line, from)
			if bytes.HasPrefix(msg, []byte("SIP/2.0 200 ")) && bytes.Contains(msg, want) {
				return true
			}
		}
		if len(p.received) > maxStreamBuffer {
			logf("%d bytes without a whole SIP message from %s", len(p.received), from)
			return false
		}
		if err := p.stream.SetReadDeadline(deadline); err != nil {
			return false
		}
		n, err := p.stream.Read(buf)
		if err != nil {
			return false // the deadline, or the connection closed
		}
		p.received = append(p.received, buf[:n]...)
	}
}

// frameMessage returns the SIP message b starts with, when b holds all of
// it: the headers to the empty line and Content-Length bytes of body (the
// long or compact form, RFC 3261 §20.14; none means no body).
func frameMessage(b []byte) ([]byte, bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, false
	}
	headers, length := b[:end+2], 0
	for _, line := range bytes.Split(headers, []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		if name := strings.ToLower(strings.TrimSpace(string(name))); name == "content-length" || name == "l" {
			length, _ = strconv.Atoi(strings.TrimSpace(string(value)))
		}
	}
	n := end + 4 + max(length, 0)
	if len(b) < n {
		return nil, false
	}
	return b[:n], true
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
