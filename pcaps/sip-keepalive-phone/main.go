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
// Usage: go run ./pcaps/sip-keepalive-phone -local 10.0.1.10:5060 -registrar 203.0.113.20:5060 -keepalive 6s -refresh 19s
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
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
	local     *net.UDPAddr
	user      string
	domain    string
	callID    string
	fromTag   string
	expires   int
	cseq      int
}

func main() {
	local := flag.String("local", "10.0.1.10:5060", "local address:port of the phone's one socket")
	registrar := flag.String("registrar", "203.0.113.20:5060", "registrar address:port (UDP)")
	user := flag.String("user", "alice", "user part of the address-of-record")
	domain := flag.String("domain", "callscope.test", "domain of the address-of-record")
	expires := flag.Int("expires", 20, "Expires asked for")
	keepalive := flag.Duration("keepalive", 6*time.Second, "interval of the CRLF keep-alives after the registration")
	refresh := flag.Duration("refresh", 19*time.Second, "time from the registration's 200 to the refresh")
	flag.Parse()
	if err := run(*local, *registrar, *user, *domain, *expires, *keepalive, *refresh); err != nil {
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
		if _, err := conn.WriteToUDP([]byte("\r\n\r\n"), registrar); err != nil {
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
	req := strings.Join([]string{
		fmt.Sprintf("REGISTER sip:%s SIP/2.0", p.registrar.IP),
		fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=%s;rport", p.local, branch),
		"Max-Forwards: 70",
		fmt.Sprintf("From: <sip:%s@%s>;tag=%s", p.user, p.domain, p.fromTag),
		fmt.Sprintf("To: <sip:%s@%s>", p.user, p.domain),
		"Call-ID: " + p.callID,
		fmt.Sprintf("CSeq: %d REGISTER", p.cseq),
		fmt.Sprintf("Contact: <sip:%s@%s;transport=udp>", p.user, p.local),
		fmt.Sprintf("Expires: %d", p.expires),
		"User-Agent: callscope sip-keepalive-phone",
		"Content-Length: 0",
		"", "",
	}, "\r\n")
	timerF := time.Now().Add(64 * t1)
	for interval := t1; time.Now().Before(timerF); interval = min(2*interval, t2) {
		if _, err := p.conn.WriteToUDP([]byte(req), p.registrar); err != nil {
			return err
		}
		logf("sent REGISTER CSeq %d", p.cseq)
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

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
