// Package tlstest records real TLS and DTLS handshakes in process, for
// tests of the parsers: crypto/tls over net.Pipe and pion/dtls over an
// in-memory packet connection. Every write each side makes is kept, in
// order, as the bytes a capture would show.
package tlstest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
)

// Chunk is one write: a TCP segment's payload or a datagram.
type Chunk struct {
	FromServer bool
	Data       []byte
}

// Recorder keeps the writes of both sides in the order they happened.
type Recorder struct {
	mu     sync.Mutex
	Chunks []Chunk
}

func (r *Recorder) add(fromServer bool, b []byte) {
	r.mu.Lock()
	r.Chunks = append(r.Chunks, Chunk{fromServer, append([]byte(nil), b...)})
	r.mu.Unlock()
}

// Certificate is a generated certificate: the tls.Certificate to serve and
// its DER.
type Certificate struct {
	TLS gotls.Certificate
	DER []byte
}

// SelfSigned makes a self-signed certificate for cn with the given SANs,
// valid from notBefore for a day; rsaBits 0 means ECDSA P-256.
func SelfSigned(cn string, dnsNames []string, ips []net.IP, rsaBits int, notBefore time.Time) (Certificate, error) {
	var key crypto.Signer
	var err error
	if rsaBits > 0 {
		key, err = rsa.GenerateKey(rand.Reader, rsaBits)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"callscope test"}},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return Certificate{}, err
	}
	return Certificate{TLS: gotls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, DER: der}, nil
}

type tappedConn struct {
	net.Conn
	rec        *Recorder
	fromServer bool
}

func (c tappedConn) Write(b []byte) (int, error) {
	c.rec.add(c.fromServer, b)
	return c.Conn.Write(b)
}

// TLS runs a handshake between a crypto/tls client and server over
// net.Pipe, then the client sends "ping" and the server answers "pong"
// when the handshake succeeded. It returns every write and each side's
// handshake error.
func TLS(client, server *gotls.Config) (chunks []Chunk, clientErr, serverErr error) {
	rec := &Recorder{}
	cp, sp := net.Pipe()
	deadline := time.Now().Add(10 * time.Second)
	cp.SetDeadline(deadline)
	sp.SetDeadline(deadline)
	cc := gotls.Client(tappedConn{cp, rec, false}, client)
	sc := gotls.Server(tappedConn{sp, rec, true}, server)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if serverErr = sc.Handshake(); serverErr != nil {
			return
		}
		buf := make([]byte, 4)
		if _, err := sc.Read(buf); err != nil {
			return
		}
		sc.Write([]byte("pong"))
	}()
	clientErr = cc.Handshake()
	if clientErr == nil {
		// Write and read at once: a TLS 1.3 server that rejects the
		// client only after the client's handshake returned writes its
		// alert instead of reading, and net.Pipe does not buffer.
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc.Write([]byte("ping"))
		}()
		buf := make([]byte, 4)
		cc.Read(buf)
	}
	// No close_notify: over net.Pipe both sides would write theirs at once
	// and wait for each other. Closing the pipe unblocks a server still
	// waiting on a client that gave up.
	cp.Close()
	sp.Close()
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.Chunks, clientErr, serverErr
}

// packetConn is one end of an in-memory datagram link.
type packetConn struct {
	rec        *Recorder
	fromServer bool
	in, out    chan []byte
	local      net.Addr
	remote     net.Addr
	done       chan struct{}
	closeOnce  *sync.Once
	mu         sync.Mutex
	deadline   time.Time
}

func (c *packetConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.mu.Lock()
	d := c.deadline
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !d.IsZero() {
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case p := <-c.in:
		return copy(b, p), c.remote, nil
	case <-c.done:
		return 0, nil, net.ErrClosed
	case <-timeout:
		return 0, nil, os.ErrDeadlineExceeded
	}
}

func (c *packetConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.rec.add(c.fromServer, b)
	select {
	case c.out <- append([]byte(nil), b...):
		return len(b), nil
	case <-c.done:
		return 0, net.ErrClosed
	}
}

func (c *packetConn) Close() error                  { c.closeOnce.Do(func() { close(c.done) }); return nil }
func (c *packetConn) LocalAddr() net.Addr           { return c.local }
func (c *packetConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }
func (c *packetConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return nil
}
func (c *packetConn) SetWriteDeadline(time.Time) error { return nil }

// ClientAddr and ServerAddr are the addresses of the in-memory DTLS link.
var (
	ClientAddr = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 50000}
	ServerAddr = &net.UDPAddr{IP: net.IPv4(192, 0, 2, 2), Port: 50001}
)

// DTLS runs a pion/dtls handshake between client and server over an
// in-memory datagram link, then the client sends "ping". It returns every
// datagram and each side's handshake error.
func DTLS(client, server *dtls.Config) (chunks []Chunk, clientErr, serverErr error) {
	rec := &Recorder{}
	a, b := make(chan []byte, 64), make(chan []byte, 64)
	done, once := make(chan struct{}), &sync.Once{}
	cpc := &packetConn{rec: rec, in: b, out: a, local: ClientAddr, remote: ServerAddr, done: done, closeOnce: once}
	spc := &packetConn{rec: rec, fromServer: true, in: a, out: b, local: ServerAddr, remote: ClientAddr, done: done, closeOnce: once}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc, err := dtls.Server(spc, ClientAddr, server)
		if err != nil {
			serverErr = err
			return
		}
		serverErr = sc.HandshakeContext(ctx)
		if serverErr == nil {
			buf := make([]byte, 16)
			sc.Read(buf)
		}
	}()
	cc, err := dtls.Client(cpc, ServerAddr, client)
	if err != nil {
		clientErr = err
	} else if clientErr = cc.HandshakeContext(ctx); clientErr == nil {
		cc.Write([]byte("ping"))
	}
	if clientErr != nil {
		cpc.Close() // the server would wait for a flight that never comes
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
	}
	cpc.Close()
	wg.Wait()
	if clientErr == nil && serverErr == nil && len(rec.Chunks) == 0 {
		clientErr = errors.New("tlstest: no datagrams")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.Chunks, clientErr, serverErr
}
