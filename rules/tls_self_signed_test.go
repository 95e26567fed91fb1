package rules

import (
	"net/netip"
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
		{name: "DTLS-SRTP is self-signed by design", a: tlsAnalysis(dtlsConn(1, 0, webrtc, webrtc)), want: 0},
		{
			// DTLS 1.3 hides the choice (EncryptedExtensions): the offer
			// alone says DTLS-SRTP.
			name: "DTLS offering use_srtp",
			a: tlsAnalysis(func() *diagnose.TLSConnection {
				c := turnDTLS(edge)
				c.OfferedSRTPProfiles = []uint16{1}
				return c
			}()),
			want: 0,
		},
		{
			name: "DTLS on an ICE pair",
			a: tlsAnalysis(func() *diagnose.TLSConnection {
				c := turnDTLS(edge)
				c.ICE = &diagnose.ICESession{}
				return c
			}()),
			want: 0,
		},
		{
			name: "DTLS tied to a call",
			a: tlsAnalysis(func() *diagnose.TLSConnection {
				c := turnDTLS(edge)
				c.Call = &diagnose.Call{}
				return c
			}()),
			want: 0,
		},
		{
			name: "TURN over DTLS is a server certificate",
			a:    tlsAnalysis(turnDTLS(edge), turnDTLS(edge)),
			want: 1,
			contains: []string{"2 DTLS connections from 192.0.2.10:50006 to 192.0.2.1:5349 were shown a self-signed certificate", `subject "CN=edge01.local,O=Vendor"`,
				"TURN-over-DTLS clients cannot allocate"},
			filter: "ip.addr == 192.0.2.1 && udp.port == 5349 && dtls.handshake.type in {1, 2, 11}",
		},
		{
			name: "edge box default certificate",
			a:    tlsAnalysis(tlsConn(1, 0, "join.example.com", edge), tlsConn(5, 0.5, "join.example.com", edge)),
			want: 1,
			contains: []string{"2 TLS connections from 192.0.2.10:51000 to 203.0.113.20:443 were shown a self-signed certificate",
				`subject "CN=edge01.local,O=Vendor"`, "valid for edge01.local", "SHA-256 ", "(frame 2)", `The client asked for "join.example.com"`,
				"went on with the connection"},
			frames: []uint64{1, 2, 5, 6},
			filter: "ip.addr == 203.0.113.20 && tcp.port == 443 && tls.handshake.type in {1, 2, 11}",
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

// turnDTLS is TURN over DTLS (RFC 7350) to coturn on 5349: DTLS 1.2
// without use_srtp, tied to no ICE session or call.
func turnDTLS(server tls.Certificate) *diagnose.TLSConnection {
	c := dtlsConn(1, 0, server, tls.Certificate{})
	c.Server, c.SRTPProfile, c.ClientCertificates = netip.MustParseAddrPort("192.0.2.1:5349"), 0, nil
	return c
}
