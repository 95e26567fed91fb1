package rules

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestTLSLegacyVersion(t *testing.T) {
	c := cert("CN=sbc.example.com", "sbc.example.com")
	downgraded := tlsConn(1, 0, "sbc.example.com", c)
	downgraded.Version = 0x0301
	oldBoth := tlsConn(1, 0, "", c)
	oldBoth.OfferedVersions, oldBoth.Version = []uint16{0x0302}, 0x0302
	oldClient := alert(tlsConn(1, 0, "", c), 2, 0.01, true, 70)
	oldClient.OfferedVersions, oldClient.Version, oldClient.ServerHello = []uint16{0x0301}, 0, diagnose.FrameRef{}
	dtls10 := dtlsConn(1, 0, c, c)
	dtls10.OfferedVersions, dtls10.Version = []uint16{0xfeff}, 0xfeff
	grease := tlsConn(1, 0, "", c)
	grease.OfferedVersions = []uint16{0x2a2a, 0x0304, 0x0303, 0x0302, 0x0301}
	runRuleCases(t, TLSLegacyVersion{}, []ruleCase{
		{name: "TLS 1.2", a: tlsAnalysis(tlsConn(1, 0, "", c)), want: 0},
		{name: "old versions offered besides new ones", a: tlsAnalysis(grease), want: 0},
		{name: "DTLS 1.2", a: tlsAnalysis(dtlsConn(1, 0, c, c)), want: 0},
		{
			name:     "server chose TLS 1.0",
			a:        tlsAnalysis(downgraded),
			want:     1,
			contains: []string{"used TLS 1.0: the client offered up to TLS 1.3 (frame 1), yet the server chose TLS 1.0 (frame 2)", "enable TLS 1.2 and 1.3"},
			filter:   "ip.addr == 192.0.2.10 && ip.addr == 203.0.113.20 && tcp.port == 51000 && tcp.port == 443 && tls.handshake.type in {1, 2, 11}",
		},
		{name: "both ends at TLS 1.1", a: tlsAnalysis(oldBoth), want: 1, contains: []string{"The TLS client 192.0.2.10 offered at most TLS 1.1 (client hello in frame 1) to 203.0.113.20:443, and the server accepted TLS 1.1 (frame 2)"}},
		{
			name:     "client offers TLS 1.0 only",
			a:        tlsAnalysis(oldClient),
			want:     1,
			contains: []string{"The TLS client 192.0.2.10 offered at most TLS 1.0 (client hello in frame 1) to 203.0.113.20:443; 1 handshake failed."},
			filter:   "ip.addr == 192.0.2.10 && ip.addr == 203.0.113.20 && tcp.port == 51000 && tcp.port == 443 && (tls.handshake.type in {1, 11} || tls.alert_message)",
		},
		{
			name: "one old client, many servers",
			a: func() *diagnose.Analysis {
				var conns []*diagnose.TLSConnection
				for i, srv := range []string{"203.0.113.20:443", "203.0.113.21:443", "203.0.113.20:443"} {
					x := tlsConn(uint64(10*i+1), float64(i), "", c)
					x.Server = netip.MustParseAddrPort(srv)
					x.OfferedVersions, x.Version = []uint16{0x0301}, 0x0301
					conns = append(conns, x)
				}
				return tlsAnalysis(conns...)
			}(),
			want:     1,
			contains: []string{"offered at most TLS 1.0 (client hello in frame 1) in 3 connections to 2 servers (203.0.113.20:443, 203.0.113.21:443), and the servers accepted it"},
			filter:   "ip.addr == 192.0.2.10 && tls.handshake.type in {1, 2, 11}",
		},
		{name: "DTLS 1.0", a: tlsAnalysis(dtls10), want: 1, contains: []string{"The DTLS client 192.0.2.10 offered at most DTLS 1.0"}},
	})
}
