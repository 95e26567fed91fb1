package rules

import (
	"testing"

	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/diagnose"
)

func TestTLSSelfSigned(t *testing.T) {
	edge := selfSigned(cert("CN=edge01.local,O=Vendor", "edge01.local"))
	public := cert("CN=join.example.com", "join.example.com")
	webrtc := selfSigned(cert("CN=WebRTC"))
	refused := alert(tlsConn(10, 1, "join.example.com", edge), 12, 1.05, false, 48)
	runRuleCases(t, TLSSelfSigned{}, []ruleCase{
		{name: "CA-issued", a: tlsAnalysis(tlsConn(1, 0, "join.example.com", public)), want: 0},
		{name: "TLS 1.3, no certificate visible", a: tlsAnalysis(tlsConn(1, 0, "join.example.com")), want: 0},
		{name: "DTLS is self-signed by design", a: tlsAnalysis(dtlsConn(1, 0, webrtc, webrtc)), want: 0},
		{
			name: "edge box default certificate",
			a:    tlsAnalysis(tlsConn(1, 0, "join.example.com", edge), tlsConn(5, 0.5, "join.example.com", edge)),
			want: 1,
			contains: []string{"2 TLS connections from 192.0.2.10:51000 to 203.0.113.20:443 were shown a self-signed certificate",
				`subject "CN=edge01.local,O=Vendor"`, "valid for edge01.local", "SHA-256 ", "(frame 2)", `The client asked for "join.example.com"`,
				"went on with the connection"},
			frames: []uint64{1, 2, 5, 6},
			filter: "ip.addr == 203.0.113.20 && tcp.port == 443 && tls.handshake.type == 11",
		},
		{
			name:     "client refuses it",
			a:        tlsAnalysis(refused),
			want:     1,
			contains: []string{"refused it with the fatal alert unknown_ca (frame 12)"},
			excludes: []string{"went on with the connection"},
		},
		{
			name: "another server's certificate is another finding",
			a: func() *diagnose.Analysis {
				other := tlsConn(20, 2, "", selfSigned(cert("CN=turn.local")))
				other.Server = webBridge
				other.Certificates = []tls.Certificate{selfSigned(cert("CN=turn.local"))}
				return tlsAnalysis(tlsConn(1, 0, "", edge), other)
			}(),
			want: 2,
		},
	})
}
