package diagnose

import (
	"crypto/sha256"
	gotls "crypto/tls"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/decode/tls/tlstest"
	"github.com/pion/dtls/v3"
	pionstun "github.com/pion/stun/v3"
)

var (
	tlsClient = netip.MustParseAddrPort("192.0.2.10:51000")
	tlsServer = netip.MustParseAddrPort("198.51.100.7:443")
)

// observeTLSChunks parses each write of a recorded handshake as the
// decoder would (one tls.Conn for the connection, direction 0 the
// client's) and observes it, from frame first at one message per 10 ms.
func observeTLSChunks(t *testing.T, e *Engine, chunks []tlstest.Chunk, client, server netip.AddrPort, dtlsOver bool, first uint64) uint64 {
	t.Helper()
	var p tls.Parser
	var msg tls.Message
	conn := tls.Conn{DTLS: dtlsOver}
	kind, transport := decode.KindTLS, decode.TCP
	if dtlsOver {
		kind, transport = decode.KindDTLS, decode.UDP
	}
	frame := first
	for _, c := range chunks {
		src, dst, dir := client, server, 0
		if c.FromServer {
			src, dst, dir = server, client, 1
		}
		if dtlsOver {
			_ = p.Datagram(c.Data, &conn, dir, &msg)
		} else {
			_ = p.Records(c.Data, &conn, dir, &msg)
		}
		e.Observe(&decode.Message{
			Packet: decode.Packet{Frame: frame, Time: simAt(float64(frame) / 100), Src: src, Dst: dst, Transport: transport},
			Kind:   kind, TLS: &msg, Payload: c.Data,
		})
		frame++
	}
	return frame
}

func onlyTLS(t *testing.T, a *Analysis) *TLSConnection {
	t.Helper()
	if len(a.TLSConnections) != 1 {
		t.Fatalf("got %d TLS connections, want 1", len(a.TLSConnections))
	}
	return a.TLSConnections[0]
}

func TestTLSConnections(t *testing.T) {
	cert, err := tlstest.SelfSigned("example.com", []string{"example.com"}, nil, 0, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	server := &gotls.Config{Certificates: []gotls.Certificate{cert.TLS}, NextProtos: []string{"h2"}}
	tests := []struct {
		name    string
		client  *gotls.Config
		server  *gotls.Config
		keep    int // the first chunks only; 0 all
		outcome string
		check   func(t *testing.T, c *TLSConnection)
	}{{
		name: "TLS 1.2 with certificate and SNI",
		client: &gotls.Config{ServerName: "example.com", InsecureSkipVerify: true, MaxVersion: gotls.VersionTLS12,
			NextProtos: []string{"h2", "http/1.1"}},
		outcome: "established",
		check: func(t *testing.T, c *TLSConnection) {
			if c.SNI != "example.com" || !slices.Equal(c.ALPN, []string{"h2", "http/1.1"}) || c.ALPNSelected != "h2" {
				t.Errorf("SNI %q ALPN %q selected %q", c.SNI, c.ALPN, c.ALPNSelected)
			}
			if c.Version != tls.VersionTLS12 || c.CipherSuite == 0 || c.CipherSuitesOffered == 0 || c.CertificateEncrypted {
				t.Errorf("version %#x cipher %#x offered %d encrypted %v", c.Version, c.CipherSuite, c.CipherSuitesOffered, c.CertificateEncrypted)
			}
			if len(c.Certificates) != 1 || c.Certificates[0].SHA256 != sha256.Sum256(cert.DER) ||
				!slices.Equal(c.Certificates[0].DNSNames, []string{"example.com"}) || c.CertificateFrame.Frame != 2 {
				t.Errorf("certificates %+v at frame %d", c.Certificates, c.CertificateFrame.Frame)
			}
			if c.ClientHello.Frame != 1 || c.ServerHello.Frame != 2 || c.Established.Frame == 0 {
				t.Errorf("hello frames %d %d established %d", c.ClientHello.Frame, c.ServerHello.Frame, c.Established.Frame)
			}
		},
	}, {
		name:    "fatal alert: the client rejects the certificate",
		client:  &gotls.Config{ServerName: "example.com", MaxVersion: gotls.VersionTLS12},
		outcome: "failed",
		check: func(t *testing.T, c *TLSConnection) {
			if len(c.Alerts) != 1 || c.Alerts[0].FromServer || c.Alerts[0].Level != 2 || c.FailedBy != c.Alerts[0] {
				t.Errorf("alerts %+v failed by %+v", c.Alerts, c.FailedBy)
			}
			if len(c.Certificates) != 1 {
				t.Errorf("%d certificates", len(c.Certificates))
			}
		},
	}, {
		name:    "TLS 1.3: certificate not visible",
		client:  &gotls.Config{ServerName: "example.com", InsecureSkipVerify: true},
		outcome: "established",
		check: func(t *testing.T, c *TLSConnection) {
			if c.Version != tls.VersionTLS13 || !c.CertificateEncrypted || len(c.Certificates) != 0 {
				t.Errorf("version %#x encrypted %v certificates %d", c.Version, c.CertificateEncrypted, len(c.Certificates))
			}
			if !slices.Contains(c.OfferedVersions, tls.VersionTLS13) {
				t.Errorf("offered %#x", c.OfferedVersions)
			}
		},
	}, {
		name:    "only the ClientHello",
		client:  &gotls.Config{ServerName: "example.com", InsecureSkipVerify: true},
		keep:    1,
		outcome: "incomplete",
		check: func(t *testing.T, c *TLSConnection) {
			if c.Version != 0 || c.ServerHello.Frame != 0 || c.Client != tlsClient {
				t.Errorf("version %#x server hello %d client %v", c.Version, c.ServerHello.Frame, c.Client)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := tt.server
			if srv == nil {
				srv = server
			}
			chunks, _, _ := tlstest.TLS(tt.client, srv)
			if tt.keep > 0 {
				chunks = chunks[:tt.keep]
			}
			e := NewEngine(Options{})
			observeTLSChunks(t, e, chunks, tlsClient, tlsServer, false, 1)
			c := onlyTLS(t, e.Finish(simAt(100)))
			if c.Outcome != tt.outcome || c.DTLS || c.Client != tlsClient || c.Server != tlsServer || c.Transport != decode.TCP {
				t.Errorf("outcome %q (want %q) dtls %v client %v server %v", c.Outcome, tt.outcome, c.DTLS, c.Client, c.Server)
			}
			tt.check(t, c)
		})
	}
}

// TestTLSMidConnection: application data alone (a capture that started
// after the handshake) makes no connection; a ServerHello seen first
// still tells the client.
func TestTLSMidConnection(t *testing.T) {
	e := NewEngine(Options{})
	e.Observe(&decode.Message{Packet: decode.Packet{Frame: 1, Time: simAt(0), Src: tlsClient, Dst: tlsServer, Transport: decode.TCP},
		Kind: decode.KindTLS, TLS: &tls.Message{ContentTypes: []uint8{23}}})
	other := netip.MustParseAddrPort("192.0.2.11:52000")
	e.Observe(&decode.Message{Packet: decode.Packet{Frame: 2, Time: simAt(1), Src: tlsServer, Dst: other, Transport: decode.TCP},
		Kind: decode.KindTLS, TLS: &tls.Message{ContentTypes: []uint8{22}, ServerHello: &tls.ServerHello{Version: tls.VersionTLS12}}})
	c := onlyTLS(t, e.Finish(simAt(2)))
	if c.Client != other || c.Server != tlsServer || c.Version != tls.VersionTLS12 {
		t.Errorf("client %v server %v version %#x", c.Client, c.Server, c.Version)
	}
}

func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	return "sha-256 " + strings.Join(hexes, ":")
}

// TestDTLSFingerprint: DTLS on the ICE selected pair is tied to the
// session and, through it, to the call, whose SDP a=fingerprint values
// are compared with both leaf certificates (RFC 5763 §5).
func TestDTLSFingerprint(t *testing.T) {
	serverCert, err := tlstest.SelfSigned("webrtc", nil, nil, 0, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tlstest.SelfSigned("webrtc", nil, nil, 0, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, err := tlstest.SelfSigned("other", nil, nil, 0, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	profiles := []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80}
	chunks, cerr, serr := tlstest.DTLS(
		&dtls.Config{Certificates: []gotls.Certificate{clientCert.TLS}, InsecureSkipVerify: true, SRTPProtectionProfiles: profiles},
		&dtls.Config{Certificates: []gotls.Certificate{serverCert.TLS}, SRTPProtectionProfiles: profiles,
			ClientAuth: dtls.RequireAnyClientCert, InsecureSkipVerify: true})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v server %v", cerr, serr)
	}
	tests := []struct {
		name                     string
		offerFP, answerFP        string
		match, mismatch, fromSrv bool
	}{
		{"fingerprints match", fingerprintOf(clientCert.DER), fingerprintOf(serverCert.DER), true, false, false},
		{"server certificate not the answer's", fingerprintOf(clientCert.DER), fingerprintOf(other.DER), false, true, true},
		{"lower-case fingerprint still matches", fingerprintOf(clientCert.DER), strings.ToLower(fingerprintOf(serverCert.DER)), true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEngine(Options{})
			feedSim(e, []simEvent{
				checkA(1, 1, iceB, withUseCandidate()), answerTo(1.05, iceB, iceA, 1),
			})
			observeTLSChunks(t, e, chunks, iceA, iceB, true, 2000)
			a := simulateSIP(t, e, sipCallWithSDP(iceSDP("aaaa", iceA, tt.offerFP), iceSDP("bbbb", iceB, tt.answerFP)), 100)
			c := onlyTLS(t, a)
			s := onlySession(t, a)
			call := onlyCall(t, a)
			if !c.DTLS || c.Outcome != "established" || c.Client != iceA || c.Server != iceB || c.SRTPProfile != uint16(profiles[0]) {
				t.Errorf("dtls %v outcome %q client %v server %v srtp %#x", c.DTLS, c.Outcome, c.Client, c.Server, c.SRTPProfile)
			}
			if c.ICE != s || !slices.Equal(s.DTLS, []*TLSConnection{c}) || c.Call != call || s.Call != call {
				t.Errorf("ice %p (want %p) session dtls %v call %p (want %p)", c.ICE, s, s.DTLS, c.Call, call)
			}
			if len(c.Certificates) != 1 || len(c.ClientCertificates) != 1 || c.ClientCertificates[0].SHA256 != sha256.Sum256(clientCert.DER) {
				t.Errorf("certificates %d client %d", len(c.Certificates), len(c.ClientCertificates))
			}
			if !c.FingerprintChecked || c.FingerprintMatch != tt.match || c.FingerprintMismatch != tt.mismatch ||
				c.FingerprintMismatchFromServer != tt.fromSrv || len(c.SDPFingerprints) != 2 {
				t.Errorf("checked %v match %v mismatch %v from server %v sdp %q", c.FingerprintChecked, c.FingerprintMatch,
					c.FingerprintMismatch, c.FingerprintMismatchFromServer, c.SDPFingerprints)
			}
		})
	}
}

// TestRelayedDTLS: DTLS carried in TURN ChannelData, fragmented by a small
// MTU, is reassembled and tied to the allocation and the relayed ICE pair.
func TestRelayedDTLS(t *testing.T) {
	serverCert, err := tlstest.SelfSigned("webrtc", nil, nil, 2048, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := tlstest.SelfSigned("webrtc", nil, nil, 0, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	chunks, cerr, serr := tlstest.DTLS(
		&dtls.Config{Certificates: []gotls.Certificate{clientCert.TLS}, InsecureSkipVerify: true, MTU: 400},
		&dtls.Config{Certificates: []gotls.Certificate{serverCert.TLS}, MTU: 400,
			ClientAuth: dtls.RequireAnyClientCert, InsecureSkipVerify: true})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v server %v", cerr, serr)
	}
	const channel = 0x4002
	id := [12]byte{9}
	events := []simEvent{
		fromClient(0, simRequest(stun.MethodAllocate, 1, withAuth("u", "r", "n"))),
		fromServer(0.01, simSuccess(stun.MethodAllocate, 1, withRelayed(simRelayAddr, simMappedAddr), withLifetime(600))),
		fromClient(0.02, simRequest(stun.MethodChannelBind, 2, withAuth("u", "r", "n"), withChannel(channel), withPeers(iceB))),
		fromServer(0.03, simSuccess(stun.MethodChannelBind, 2)),
	}
	cd := func(at float64, up bool, payload []byte) simEvent {
		src, dst := simClientAddr, simServerAddr
		if !up {
			src, dst = dst, src
		}
		return simEvent{at: at, src: src, dst: dst, kind: decode.KindChannelData,
			channel: decode.ChannelData{Number: channel, Length: uint16(len(payload)), Payload: payload}}
	}
	events = append(events,
		cd(0.1, true, buildICE(t, pionstun.ClassRequest, id, iceUserA, "", true)),
		cd(0.15, false, buildICE(t, pionstun.ClassSuccessResponse, id, "", "", false)))
	for i, c := range chunks {
		events = append(events, cd(1+float64(i)/100, !c.FromServer, c.Data))
	}
	a := simulate(t, NewEngine(Options{}), events, 10)
	c := onlyTLS(t, a)
	s := onlySession(t, a)
	if c.Client != simRelayAddr || c.Server != iceB || c.Allocation != a.Allocations[0] || !c.DTLS {
		t.Errorf("client %v server %v allocation %p dtls %v", c.Client, c.Server, c.Allocation, c.DTLS)
	}
	if c.Outcome != "established" || !c.HelloVerify || c.Version != tls.VersionDTLS12 {
		t.Errorf("outcome %q hello verify %v version %#x", c.Outcome, c.HelloVerify, c.Version)
	}
	// The 2048-bit RSA certificate spans several 400-byte datagrams.
	if len(c.Certificates) != 1 || c.Certificates[0].SHA256 != sha256.Sum256(serverCert.DER) || len(c.ClientCertificates) != 1 {
		t.Errorf("certificates %d client %d", len(c.Certificates), len(c.ClientCertificates))
	}
	if c.ICE != s || s.Selected == nil || s.Selected.Allocation != a.Allocations[0] {
		t.Errorf("ice %p (want %p) selected %+v", c.ICE, s, s.Selected)
	}
}

// TestDTLSBothClientHello: nDPI dtls.pcap frames 3 and 5 - both ends of
// a DTLS-SRTP association sent a ClientHello (both took a=setup:active).
func TestDTLSBothClientHello(t *testing.T) {
	a := netip.MustParseAddrPort("10.191.227.13:54162")
	b := netip.MustParseAddrPort("157.240.16.128:3478")
	e := NewEngine(Options{})
	for i, ev := range []struct {
		src, dst netip.AddrPort
		msg      tls.Message
	}{
		{a, b, tls.Message{DTLS: true, ContentTypes: []uint8{22}, ClientHello: &tls.ClientHello{LegacyVersion: 0xfefd}}},
		{b, a, tls.Message{DTLS: true, ContentTypes: []uint8{22}, ClientHello: &tls.ClientHello{LegacyVersion: 0xfefd}}},
		{b, a, tls.Message{DTLS: true, ContentTypes: []uint8{21}, Alert: &tls.Alert{Level: 2, Description: 10}}},
	} {
		msg := ev.msg
		e.Observe(&decode.Message{
			Packet: decode.Packet{Frame: uint64(3 + 2*i), Time: simAt(float64(i) / 10), Src: ev.src, Dst: ev.dst, Transport: decode.UDP},
			Kind:   decode.KindDTLS, TLS: &msg,
		})
	}
	c := onlyTLS(t, e.Finish(simAt(1)))
	if !c.BothClientHello || c.ClientHello.Frame != 3 || c.ServerClientHello.Frame != 5 || c.Client != a {
		t.Errorf("both %v client hello %d server's %d client %v", c.BothClientHello, c.ClientHello.Frame, c.ServerClientHello.Frame, c.Client)
	}
	if c.Outcome != "failed" {
		t.Errorf("outcome %q, want failed", c.Outcome)
	}
}
