package tls_test

import (
	"crypto/sha256"
	gotls "crypto/tls"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/pion/dtls/v3"

	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/decode/tls/tlstest"
)

// conversation collects what the parser shows for each write of a
// recorded exchange. TLS writes are cut into whole records first, as the
// TCP framer does; a write may end in the middle of one.
type conversation struct {
	messages []tls.Message // copies, with ClientHello etc. copied too
	dirs     []bool        // FromServer of each message
	errs     []error
}

func parseChunks(t *testing.T, chunks []tlstest.Chunk, dtlsMode bool) *conversation {
	t.Helper()
	var p tls.Parser
	c := &tls.Conn{DTLS: dtlsMode}
	var pending [2][]byte
	conv := &conversation{}
	for _, ch := range chunks {
		dir := 0
		if ch.FromServer {
			dir = 1
		}
		var m tls.Message
		var err error
		if dtlsMode {
			err = p.Datagram(ch.Data, c, dir, &m)
		} else {
			w := append(pending[dir], ch.Data...)
			end := 0
			for {
				n, ok := tls.RecordLength(w[end:])
				if !ok || end+n > len(w) {
					break
				}
				end += n
			}
			pending[dir] = append([]byte(nil), w[end:]...)
			if end == 0 {
				continue
			}
			err = p.Records(w[:end], c, dir, &m)
		}
		conv.messages = append(conv.messages, copyMessage(m))
		conv.dirs = append(conv.dirs, ch.FromServer)
		conv.errs = append(conv.errs, err)
		if err != nil {
			t.Errorf("write %d: %v", len(conv.errs), err)
		}
	}
	return conv
}

func copyMessage(m tls.Message) tls.Message {
	m.ContentTypes = slices.Clone(m.ContentTypes)
	m.Handshakes = slices.Clone(m.Handshakes)
	m.Certificates = slices.Clone(m.Certificates)
	if m.ClientHello != nil {
		ch := *m.ClientHello
		ch.SupportedVersions, ch.ALPN, ch.UseSRTP = slices.Clone(ch.SupportedVersions), slices.Clone(ch.ALPN), slices.Clone(ch.UseSRTP)
		m.ClientHello = &ch
	}
	if m.ServerHello != nil {
		sh := *m.ServerHello
		m.ServerHello = &sh
	}
	if m.Alert != nil {
		a := *m.Alert
		m.Alert = &a
	}
	if m.HelloVerify != nil {
		hv := *m.HelloVerify
		m.HelloVerify = &hv
	}
	return m
}

func (c *conversation) clientHellos() []*tls.ClientHello {
	var out []*tls.ClientHello
	for _, m := range c.messages {
		if m.ClientHello != nil {
			out = append(out, m.ClientHello)
		}
	}
	return out
}

func (c *conversation) serverHello() *tls.ServerHello {
	var sh *tls.ServerHello
	for _, m := range c.messages {
		if m.ServerHello != nil {
			sh = m.ServerHello
		}
	}
	return sh
}

func (c *conversation) certificates() []tls.Certificate {
	var out []tls.Certificate
	for _, m := range c.messages {
		out = append(out, m.Certificates...)
	}
	return out
}

func (c *conversation) alerts(fromServer bool) []tls.Alert {
	var out []tls.Alert
	for i, m := range c.messages {
		if m.Alert != nil && c.dirs[i] == fromServer {
			out = append(out, *m.Alert)
		}
	}
	return out
}

func (c *conversation) handshakes() []uint8 {
	var out []uint8
	for _, m := range c.messages {
		out = append(out, m.Handshakes...)
	}
	return out
}

func (c *conversation) encrypted() bool {
	for _, m := range c.messages {
		if m.Encrypted {
			return true
		}
	}
	return false
}

func newCert(t testing.TB) tlstest.Certificate {
	t.Helper()
	cert, err := tlstest.SelfSigned("bridge.example.test", []string{"bridge.example.test", "alt.example.test"},
		[]net.IP{net.IPv4(192, 0, 2, 10)}, 0, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestTLS12Handshake(t *testing.T) {
	cert := newCert(t)
	chunks, cerr, serr := tlstest.TLS(
		&gotls.Config{ServerName: "bridge.example.test", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}},
		&gotls.Config{Certificates: []gotls.Certificate{cert.TLS}, MaxVersion: gotls.VersionTLS12, NextProtos: []string{"h2"}})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	conv := parseChunks(t, chunks, false)
	chs := conv.clientHellos()
	if len(chs) != 1 {
		t.Fatalf("%d ClientHellos, want 1", len(chs))
	}
	ch := chs[0]
	if ch.SNI != "bridge.example.test" {
		t.Errorf("SNI %q", ch.SNI)
	}
	if !slices.Equal(ch.ALPN, []string{"h2", "http/1.1"}) {
		t.Errorf("ALPN %q", ch.ALPN)
	}
	if ch.LegacyVersion != tls.VersionTLS12 || !slices.Contains(ch.SupportedVersions, tls.VersionTLS13) ||
		!slices.Contains(ch.SupportedVersions, tls.VersionTLS12) {
		t.Errorf("legacy version %#x, supported_versions %#x", ch.LegacyVersion, ch.SupportedVersions)
	}
	if ch.CipherSuites < 5 {
		t.Errorf("%d cipher suites offered", ch.CipherSuites)
	}
	sh := conv.serverHello()
	if sh == nil || sh.Version != tls.VersionTLS12 || sh.ALPN != "h2" || sh.CipherSuite == 0 || sh.CertificateEncrypted() {
		t.Fatalf("ServerHello %+v", sh)
	}
	certs := conv.certificates()
	if len(certs) != 1 {
		t.Fatalf("%d certificates, want 1", len(certs))
	}
	c := certs[0]
	if c.ParseError != "" || c.Subject != "bridge.example.test" || c.Issuer != "bridge.example.test" || !c.SelfSigned {
		t.Errorf("certificate %+v", c)
	}
	if !slices.Equal(c.DNSNames, []string{"bridge.example.test", "alt.example.test"}) || !slices.Equal(c.IPs, []string{"192.0.2.10"}) {
		t.Errorf("SANs %q %q", c.DNSNames, c.IPs)
	}
	if c.KeyType != "ECDSA" || c.KeyBits != 256 || c.SHA256 != sha256.Sum256(cert.DER) {
		t.Errorf("key %s %d, fingerprint %x", c.KeyType, c.KeyBits, c.SHA256)
	}
	if c.NotAfter.Sub(c.NotBefore) != 24*time.Hour {
		t.Errorf("validity %v - %v", c.NotBefore, c.NotAfter)
	}
	want := []uint8{tls.HandshakeClientHello, tls.HandshakeServerHello, tls.HandshakeCertificate,
		tls.HandshakeServerKeyExchange, tls.HandshakeServerHelloDone, tls.HandshakeClientKeyExchange}
	if got := conv.handshakes(); !slices.Equal(got, want) {
		t.Errorf("handshakes %v, want %v (Finished is encrypted)", got, want)
	}
	if !conv.encrypted() {
		t.Error("the Finished messages were not marked encrypted")
	}
}

func TestTLS13CertificateNotVisible(t *testing.T) {
	cert := newCert(t)
	chunks, cerr, serr := tlstest.TLS(
		&gotls.Config{ServerName: "bridge.example.test", InsecureSkipVerify: true},
		&gotls.Config{Certificates: []gotls.Certificate{cert.TLS}})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	conv := parseChunks(t, chunks, false)
	sh := conv.serverHello()
	if sh == nil || sh.Version != tls.VersionTLS13 || sh.LegacyVersion != tls.VersionTLS12 || !sh.CertificateEncrypted() {
		t.Fatalf("ServerHello %+v", sh)
	}
	if certs := conv.certificates(); len(certs) != 0 {
		t.Errorf("%d certificates visible in TLS 1.3", len(certs))
	}
	if got := conv.handshakes(); !slices.Equal(got, []uint8{1, 2}) {
		t.Errorf("handshakes %v, want [1 2]", got)
	}
}

func TestTLS12ClientRejectsCertificate(t *testing.T) {
	cert := newCert(t)
	chunks, cerr, _ := tlstest.TLS(
		&gotls.Config{ServerName: "bridge.example.test", MaxVersion: gotls.VersionTLS12},
		&gotls.Config{Certificates: []gotls.Certificate{cert.TLS}})
	if cerr == nil {
		t.Fatal("the client accepted a self-signed certificate")
	}
	conv := parseChunks(t, chunks, false)
	alerts := conv.alerts(false)
	if len(alerts) != 1 {
		t.Fatalf("client alerts %v, want 1", alerts)
	}
	a := alerts[0]
	if a.Level != tls.AlertFatal || (a.Description != 42 && a.Description != 48) {
		t.Errorf("alert %s %s, want fatal bad_certificate or unknown_ca", tls.AlertLevelName(a.Level), tls.AlertName(a.Description))
	}
}

func TestTLS13ServerAlertAfterHelloIsEncrypted(t *testing.T) {
	// The server wants a client certificate the client does not have: in
	// TLS 1.3 its alert follows the ServerHello and is encrypted.
	cert := newCert(t)
	chunks, _, serr := tlstest.TLS(
		&gotls.Config{ServerName: "bridge.example.test", InsecureSkipVerify: true},
		&gotls.Config{Certificates: []gotls.Certificate{cert.TLS}, ClientAuth: gotls.RequireAnyClientCert})
	if serr == nil {
		t.Fatal("the server accepted a client without a certificate")
	}
	conv := parseChunks(t, chunks, false)
	if a := conv.alerts(true); len(a) != 0 {
		t.Errorf("an encrypted alert was read: %v", a)
	}
	if !conv.encrypted() {
		t.Error("nothing marked encrypted")
	}
}

func TestDTLSHandshakeFragmented(t *testing.T) {
	cert, err := tlstest.SelfSigned("webrtc", nil, nil, 2048, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clientCert := newCert(t)
	profiles := []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80}
	chunks, cerr, serr := tlstest.DTLS(
		&dtls.Config{Certificates: []gotls.Certificate{clientCert.TLS}, InsecureSkipVerify: true, SRTPProtectionProfiles: profiles, MTU: 400},
		&dtls.Config{Certificates: []gotls.Certificate{cert.TLS}, SRTPProtectionProfiles: profiles[1:], MTU: 400,
			ClientAuth: dtls.RequireAnyClientCert, InsecureSkipVerify: true})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	conv := parseChunks(t, chunks, true)
	chs := conv.clientHellos()
	if len(chs) < 2 {
		t.Fatalf("%d ClientHellos, want 2 (before and after HelloVerifyRequest)", len(chs))
	}
	if chs[0].HasCookie || !chs[len(chs)-1].HasCookie {
		t.Errorf("cookies: first %v, last %v", chs[0].HasCookie, chs[len(chs)-1].HasCookie)
	}
	if want := []uint16{7, 1}; !slices.Equal(chs[0].UseSRTP, want) {
		t.Errorf("use_srtp offered %v, want %v", chs[0].UseSRTP, want)
	}
	var hv bool
	for _, m := range conv.messages {
		hv = hv || m.HelloVerify != nil
	}
	if !hv {
		t.Error("no HelloVerifyRequest")
	}
	sh := conv.serverHello()
	if sh == nil || sh.Version != tls.VersionDTLS12 || sh.UseSRTP != 1 {
		t.Fatalf("ServerHello %+v", sh)
	}
	var server, client []tls.Certificate
	serverFragments := 0
	for i, m := range conv.messages {
		if conv.dirs[i] {
			server = append(server, m.Certificates...)
			for _, h := range m.Handshakes {
				if h == tls.HandshakeCertificate {
					serverFragments++
				}
			}
		} else {
			client = append(client, m.Certificates...)
		}
	}
	if serverFragments < 2 {
		t.Error("certificate not fragmented at MTU 400: the test does not test reassembly")
	}
	if len(server) != 1 || server[0].SHA256 != sha256.Sum256(cert.DER) || server[0].KeyType != "RSA" || server[0].KeyBits != 2048 {
		t.Errorf("server certificates %+v", server)
	}
	if len(client) != 1 || client[0].SHA256 != sha256.Sum256(clientCert.DER) || !client[0].SelfSigned {
		t.Errorf("client certificates %+v", client)
	}
	if !conv.encrypted() {
		t.Error("the Finished messages (epoch 1) were not marked encrypted")
	}
}

func TestDTLSStatelessParse(t *testing.T) {
	var m tls.Message
	// A record header whose length runs past the datagram.
	b := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 40, 1}
	if err := tls.Parse(b, true, &m); err == nil {
		t.Error("no error for a record past the datagram's end")
	}
	if len(m.ContentTypes) != 0 {
		t.Errorf("content types %v", m.ContentTypes)
	}
}
