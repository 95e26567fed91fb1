package rules

import (
	"testing"
	"time"

	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/diagnose"
)

func TestTLSExpired(t *testing.T) {
	leaf := cert("CN=join.example.com", "join.example.com")
	expiredLeaf := leaf
	expiredLeaf.NotAfter = t0.Add(-42 * 24 * time.Hour)
	expiredCA := cert("CN=Example Issuing CA")
	expiredCA.NotAfter = t0.Add(-5 * time.Hour)
	future := leaf
	future.NotBefore = t0.Add(3 * time.Hour)
	justIssued := leaf
	justIssued.NotBefore = t0.Add(time.Minute) // within the clock slack
	webrtc := selfSigned(cert("CN=WebRTC"))
	webrtc.NotAfter = t0.Add(-time.Hour)
	clientExpired := tlsConn(1, 0, "join.example.com", leaf)
	clientExpired.ClientCertificates = []tls.Certificate{expiredLeaf}
	runRuleCases(t, TLSExpired{}, []ruleCase{
		{name: "valid", a: tlsAnalysis(tlsConn(1, 0, "join.example.com", leaf, cert("CN=CA"))), want: 0},
		{name: "issued a minute ahead of the capture's clock", a: tlsAnalysis(tlsConn(1, 0, "", justIssued)), want: 0},
		{name: "capture clock never set", a: func() *diagnose.Analysis {
			c := tlsConn(1, 0, "", future)
			c.ClientHello.Time, c.ServerHello.Time, c.CertificateFrame.Time, c.First.Time = time.Unix(42, 0), time.Unix(42, 0), time.Unix(42, 0), time.Unix(42, 0)
			return tlsAnalysis(c)
		}(), want: 0},
		{name: "WebRTC DTLS is not judged by dates", a: tlsAnalysis(dtlsConn(1, 0, webrtc, webrtc)), want: 0},
		{
			name: "expired leaf",
			a:    tlsAnalysis(tlsConn(1, 0, "join.example.com", expiredLeaf)),
			want: 1,
			contains: []string{"In the TLS connection from 192.0.2.10:51000 to 203.0.113.20:443, the server's certificate",
				"expired on 2025-01-31 09:30:00 UTC, 42 days before the capture saw it (2025-03-14 09:30:00 UTC)", "NET::ERR_CERT_DATE_INVALID"},
			filter: "ip.addr == 192.0.2.10 && ip.addr == 203.0.113.20 && tcp.port == 51000 && tcp.port == 443 && tls.handshake.type in {1, 2, 11}",
		},
		{
			name:     "expired intermediate is a warning",
			a:        tlsAnalysis(tlsConn(1, 0, "join.example.com", leaf, expiredCA)),
			want:     1,
			severity: diagnose.Warning,
			contains: []string{"intermediate certificate 2 of the server's chain", "5 hours before",
				"clients that build another path ignore it (e.g. an expired cross-sign"},
			excludes: []string{"Clients reject it:"},
		},
		{
			name:     "expired leaf and intermediate: the leaf decides",
			a:        tlsAnalysis(tlsConn(1, 0, "join.example.com", expiredLeaf, expiredCA)),
			want:     1,
			severity: diagnose.Error,
			contains: []string{"the server's certificate", "Clients reject it:"},
		},
		{
			name:     "not yet valid",
			a:        tlsAnalysis(tlsConn(1, 0, "join.example.com", future)),
			want:     1,
			contains: []string{"is not valid before 2025-03-14 12:30:00 UTC, 3 hours after", "wrong clock"},
		},
		{name: "client certificate", a: tlsAnalysis(clientExpired), want: 1, contains: []string{"the client's certificate"}},
		{
			name: "one finding for many connections",
			a:    tlsAnalysis(tlsConn(1, 0, "", expiredLeaf), tlsConn(5, 1, "", expiredLeaf), tlsConn(9, 2, "", expiredLeaf)),
			want: 1, contains: []string{"In 3 TLS connections from 192.0.2.10:51000 to 203.0.113.20:443"},
			frames: []uint64{1, 2, 5, 6, 9, 10},
		},
	})
}
