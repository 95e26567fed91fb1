package rules

import (
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestTLSHandshakeFailure(t *testing.T) {
	edge := selfSigned(cert("CN=edge01.local"))
	public := cert("CN=join.example.com", "join.example.com")
	noHello := func() *diagnose.TLSConnection {
		c := tlsConn(1, 0, "join.example.com")
		c.ServerHello, c.Version, c.CertificateFrame = diagnose.FrameRef{}, 0, diagnose.FrameRef{}
		return c
	}
	legacyClient := noHello()
	legacyClient.OfferedVersions = []uint16{0x0301}
	closed := tlsConn(1, 0, "join.example.com", public)
	closed.Alerts = []diagnose.TLSAlert{{FrameRef: ref(9, 3), Level: 1, Description: 0}}
	// nDPI dtls.pcap: ClientHello from both ends (frames 3 and 5).
	bothClients := func() *diagnose.TLSConnection {
		c := dtlsConn(3, 0, public, public)
		c.ServerHello, c.CertificateFrame, c.Certificates, c.ClientCertificates, c.Version = diagnose.FrameRef{}, diagnose.FrameRef{}, nil, nil, 0
		c.BothClientHello, c.ServerClientHello = true, ref(5, 0.01)
		return alert(c, 7, 0.02, true, 10)
	}
	runRuleCases(t, TLSHandshakeFailure{}, []ruleCase{
		{
			name:     "DTLS role conflict: both ends sent a ClientHello",
			a:        tlsAnalysis(bothClients()),
			want:     1,
			contains: []string{"both ends sent a ClientHello, 192.0.2.10:50006 in frame 3 and 198.51.100.7:40000 in frame 5", "DTLS role conflict", "a=setup", "unexpected_message (10, frame 7)"},
			frames:   []uint64{3, 5, 7},
			filter:   "ip.addr == 192.0.2.10 && ip.addr == 198.51.100.7 && udp.port == 50006 && udp.port == 40000 && (dtls.handshake.type == 1 || dtls.alert_message)",
		},
		{name: "established", a: tlsAnalysis(tlsConn(1, 0, "join.example.com", public)), want: 0},
		{name: "close_notify after the handshake", a: tlsAnalysis(closed), want: 0},
		{
			name: "client does not trust a self-signed certificate",
			a:    tlsAnalysis(alert(tlsConn(1, 0, "join.example.com", edge), 3, 0.05, false, 48)),
			want: 1,
			contains: []string{"failed: the client (192.0.2.10:51000) ended the handshake with the fatal alert unknown_ca (48, frame 3)",
				"does not trust the CA", "The client offered up to TLS 1.3 for \"join.example.com\" (frame 1)", "The server chose TLS 1.2 (frame 2)",
				`certificate (subject "CN=edge01.local") is self-signed`},
			frames: []uint64{1, 2, 3},
			filter: "ip.addr == 192.0.2.10 && ip.addr == 203.0.113.20 && tcp.port == 51000 && tcp.port == 443 && (tls.handshake.type in {1, 2, 11} || tls.alert_message.desc == 48)",
		},
		{
			name:     "missing intermediate",
			a:        tlsAnalysis(alert(tlsConn(1, 0, "join.example.com", public), 3, 0.05, false, 48)),
			want:     1,
			contains: []string{`The server sent its certificate alone, issued by "CN=Example Issuing CA,O=Example"`},
		},
		{
			name:     "server: no common cipher",
			a:        tlsAnalysis(alert(noHello(), 2, 0.02, true, 40)),
			want:     1,
			contains: []string{"the server (203.0.113.20:443) ended the handshake with the fatal alert handshake_failure", "no common cipher suite", "No ServerHello was seen."},
		},
		{
			name:     "server: protocol_version to an old client",
			a:        tlsAnalysis(alert(legacyClient, 2, 0.02, true, 70)),
			want:     1,
			contains: []string{"offered up to TLS 1.0", "see tls.legacy-version"},
		},
		{
			name:     "server: unrecognized_name",
			a:        tlsAnalysis(alert(noHello(), 2, 0.02, true, 112)),
			want:     1,
			contains: []string{`no certificate configured for "join.example.com"`},
		},
		{
			name: "retries grouped",
			a: tlsAnalysis(alert(noHello(), 2, 0.02, true, 40), func() *diagnose.TLSConnection {
				c := alert(noHello(), 6, 1.02, true, 40)
				c.ClientHello = ref(5, 1)
				return c
			}()),
			want:     1,
			contains: []string{"2 TLS connections from 192.0.2.10:51000 to 203.0.113.20:443 failed", "Each of the 2 handshakes"},
		},
		{
			name: "DTLS",
			a: func() *diagnose.Analysis {
				w := selfSigned(cert("CN=WebRTC"))
				return tlsAnalysis(alert(dtlsConn(1, 0, w, w), 4, 0.05, true, 42))
			}(),
			want:     1,
			contains: []string{"The DTLS connection from 192.0.2.10:50006 to 198.51.100.7:40000 failed", "bad_certificate"},
			filter:   "ip.addr == 192.0.2.10 && ip.addr == 198.51.100.7 && udp.port == 50006 && udp.port == 40000 && (dtls.handshake.type in {1, 2, 11} || dtls.alert_message.desc == 42)",
		},
	})
}
