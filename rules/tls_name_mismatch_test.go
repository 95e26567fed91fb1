package rules

import (
	"testing"
)

func TestTLSNameMismatch(t *testing.T) {
	internal := cert("CN=edge01.corp.local", "edge01.corp.local")
	internal.IPs = []string{"10.0.0.5"}
	wild := cert("CN=*.example.com", "*.example.com")
	cnOnly := cert("CN=join.example.com")
	expect := &Profile{ExpectNames: []string{"join.example.com"}}
	webrtc := selfSigned(cert("CN=WebRTC"))
	turnDTLS := dtlsConn(1, 0, internal, internal)
	turnDTLS.SNI, turnDTLS.SRTPProfile = "turn.example.com", 0
	runRuleCases(t, TLSNameMismatch{}, []ruleCase{
		{name: "matches", a: tlsAnalysis(tlsConn(1, 0, "join.example.com", cert("CN=x", "join.example.com"))), want: 0},
		{name: "wildcard matches one label", a: tlsAnalysis(tlsConn(1, 0, "join.example.com", wild)), want: 0},
		{name: "no SNI and no expected name", a: tlsAnalysis(tlsConn(1, 0, "", internal)), want: 0},
		{name: "TLS 1.3 hides the certificate", a: tlsAnalysis(tlsConn(1, 0, "join.example.com")), want: 0},
		{name: "WebRTC DTLS carries no names", a: tlsAnalysis(dtlsConn(1, 0, webrtc, webrtc)), want: 0},
		{
			name: "internal certificate on the edge",
			a:    tlsAnalysis(tlsConn(1, 0, "join.example.com", internal)),
			want: 1,
			contains: []string{`asked for "join.example.com" (server name indication, frame 1)`,
				`subject "CN=edge01.corp.local"`, `covers only "edge01.corp.local", "10.0.0.5".`, "NET::ERR_CERT_COMMON_NAME_INVALID"},
			filter: "ip.addr == 192.0.2.10 && ip.addr == 203.0.113.20 && tcp.port == 51000 && tcp.port == 443 && tls.handshake.type in {1, 2, 11}",
		},
		{
			name:     "wildcard one label short",
			a:        tlsAnalysis(tlsConn(1, 0, "example.com", wild)),
			want:     1,
			contains: []string{`The wildcard "*.example.com" does not cover "example.com" itself`},
		},
		{
			name:     "wildcard one label long",
			a:        tlsAnalysis(tlsConn(1, 0, "a.join.example.com", wild)),
			want:     1,
			contains: []string{`covers a single label only (RFC 6125 §6.4.3), not "a.join.example.com"`},
		},
		{
			name:     "CN only",
			a:        tlsAnalysis(tlsConn(1, 0, "meet.example.com", cnOnly)),
			want:     1,
			contains: []string{`has no subject alternative names, only the CN "join.example.com"`},
		},
		{
			name: "expected name, client without SNI",
			rule: TLSNameMismatch{Profile: expect},
			a:    tlsAnalysis(tlsConn(1, 0, "", internal)),
			want: 1,
			contains: []string{"carried no server name (SNI): the client connected by address",
				`It is not valid for "join.example.com", given with --expect-name.`},
		},
		{name: "an address as SNI is not a name", a: tlsAnalysis(tlsConn(1, 0, "203.0.113.20", internal)), want: 0},
		{
			name: "an address as SNI, expected name",
			rule: TLSNameMismatch{Profile: expect},
			a:    tlsAnalysis(tlsConn(1, 0, "203.0.113.20", internal)),
			want: 1,
			contains: []string{`carried the address "203.0.113.20" as its server name (SNI), which RFC 6066 §3 does not allow`,
				`It is not valid for "join.example.com", given with --expect-name.`},
		},
		{name: "expected name covered", rule: TLSNameMismatch{Profile: expect}, a: tlsAnalysis(tlsConn(1, 0, "", wild)), want: 0},
		{
			name:     "client ends the handshake",
			a:        tlsAnalysis(alert(tlsConn(1, 0, "join.example.com", internal), 3, 0.05, false, 46)),
			want:     1,
			contains: []string{"refused it with the fatal alert certificate_unknown (frame 3)"},
		},
		{name: "TURN over DTLS with SNI", a: tlsAnalysis(turnDTLS), want: 1, contains: []string{"The DTLS connection from"}},
	})
}
