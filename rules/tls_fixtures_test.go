package rules

import (
	"crypto/sha256"
	"net/netip"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/diagnose"
)

var (
	webClient = netip.MustParseAddrPort("192.0.2.10:51000")
	webBridge = netip.MustParseAddrPort("203.0.113.20:443")
)

func ref(frame uint64, sec float64) diagnose.FrameRef {
	return diagnose.FrameRef{Frame: frame, Time: at(sec)}
}

// cert is a certificate valid for a year around t0, issued by a CA.
func cert(subject string, dns ...string) tls.Certificate {
	return tls.Certificate{
		Subject: subject, Issuer: "CN=Example Issuing CA,O=Example", DNSNames: dns,
		NotBefore: t0.AddDate(0, -6, 0), NotAfter: t0.AddDate(0, 6, 0),
		KeyType: "ECDSA", KeyBits: 256, SHA256: sha256.Sum256([]byte(subject)),
	}
}

func selfSigned(c tls.Certificate) tls.Certificate {
	c.Issuer, c.SelfSigned = c.Subject, true
	return c
}

// tlsConn is an established TLS 1.2 connection from webClient to
// webBridge with frames base..base+3, at sec.
func tlsConn(base uint64, sec float64, sni string, chain ...tls.Certificate) *diagnose.TLSConnection {
	return &diagnose.TLSConnection{
		Client: webClient, Server: webBridge, Transport: decode.TCP,
		SNI: sni, OfferedVersions: []uint16{0x0304, 0x0303}, Version: 0x0303, CipherSuite: 0xc02f,
		ClientHello: ref(base, sec), ServerHello: ref(base+1, sec+0.03), CertificateFrame: ref(base+1, sec+0.03),
		Certificates: chain, Outcome: "established", First: ref(base, sec), Last: ref(base+3, sec+0.1),
	}
}

// dtlsConn is a DTLS 1.2 association keying SRTP.
func dtlsConn(base uint64, sec float64, server, client tls.Certificate) *diagnose.TLSConnection {
	return &diagnose.TLSConnection{
		Client: netip.MustParseAddrPort("192.0.2.10:50006"), Server: netip.MustParseAddrPort("198.51.100.7:40000"),
		Transport: decode.UDP, DTLS: true, OfferedVersions: []uint16{0xfefd, 0xfeff}, Version: 0xfefd, SRTPProfile: 1,
		ClientHello: ref(base, sec), ServerHello: ref(base+1, sec+0.02), CertificateFrame: ref(base+1, sec+0.02),
		Certificates: []tls.Certificate{server}, ClientCertificates: []tls.Certificate{client},
		Outcome: "established", First: ref(base, sec), Last: ref(base+4, sec+0.1),
	}
}

func alert(c *diagnose.TLSConnection, frame uint64, sec float64, fromServer bool, desc uint8) *diagnose.TLSConnection {
	c.Alerts = append(c.Alerts, diagnose.TLSAlert{FrameRef: ref(frame, sec), FromServer: fromServer, Level: 2, Description: desc})
	c.Outcome, c.Last = "failed", ref(frame, sec)
	return c
}

func tlsAnalysis(conns ...*diagnose.TLSConnection) *diagnose.Analysis {
	return &diagnose.Analysis{TLSConnections: conns}
}

func TestDNSNameMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"join.example.com", "join.example.com", true},
		{"JOIN.Example.com", "join.example.COM", true},
		{"join.example.com.", "join.example.com", true},
		{"*.example.com", "join.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.com", "example.com", false},
		{"w*.example.com", "www.example.com", false},
		{"*.example.com", ".example.com", false},
		{"", "", false},
		{"example.com", "example.org", false},
	} {
		if got := dnsNameMatches(c.pattern, c.host); got != c.want {
			t.Errorf("dnsNameMatches(%q, %q) = %v, want %v", c.pattern, c.host, got, c.want)
		}
	}
}

func TestCertCovers(t *testing.T) {
	sans := cert("CN=edge01.example.com", "join.example.com", "*.meet.example.com")
	sans.IPs = []string{"203.0.113.20"}
	cnOnly := cert("CN=join.example.com,O=Example\\, Inc.")
	bareCN := cert("join.example.com") // as decode/tls summarizes a subject with a CN
	for _, c := range []struct {
		cert tls.Certificate
		host string
		want bool
	}{
		{sans, "join.example.com", true},
		{sans, "a.meet.example.com", true},
		{sans, "edge01.example.com", false}, // the CN does not count next to SANs
		{sans, "203.0.113.20", true},
		{sans, "203.0.113.21", false},
		{cnOnly, "join.example.com", true},
		{cnOnly, "other.example.com", false},
		{bareCN, "join.example.com", true},
		{bareCN, "other.example.com", false},
	} {
		if got := certCovers(&c.cert, c.host); got != c.want {
			t.Errorf("certCovers(%v, %q) = %v, want %v", c.cert.DNSNames, c.host, got, c.want)
		}
	}
}

func TestCommonName(t *testing.T) {
	for dn, want := range map[string]string{
		"CN=join.example.com,O=Example,C=US": "join.example.com",
		"O=Example\\, Inc.,CN=a\\,b":         "a,b",
		"O=Example":                          "",
		"":                                   "",
		"cn=lower":                           "lower",
		"join.example.com":                   "join.example.com", // decode/tls gives the CN alone
	} {
		if got := commonName(dn); got != want {
			t.Errorf("commonName(%q) = %q, want %q", dn, got, want)
		}
	}
}

func TestVersionRanking(t *testing.T) {
	if v := highestOffered([]uint16{0x0a0a, 0x0303, 0x0304, 0x0302}); v != 0x0304 {
		t.Errorf("highest of TLS offers = %#x, want 0x0304", v)
	}
	if v := highestOffered([]uint16{0xfeff, 0xfefd}); v != 0xfefd {
		t.Errorf("highest of DTLS offers = %#x, want 0xfefd (DTLS counts down)", v)
	}
	if v := highestOffered([]uint16{0x1a1a}); v != 0 {
		t.Errorf("GREASE only = %#x, want 0", v)
	}
	for v, want := range map[uint16]bool{0x0300: true, 0x0301: true, 0x0302: true, 0x0303: false, 0x0304: false, 0xfeff: true, 0xfefd: false, 0x0a0a: false} {
		if legacyVersion(v) != want {
			t.Errorf("legacyVersion(%#x) = %v", v, !want)
		}
	}
}

func TestCertFingerprint(t *testing.T) {
	var sum [32]byte
	sum[0], sum[1], sum[31] = 0xab, 0x0c, 0xff
	got := certFingerprint(sum)
	if len(got) != 32*3-1 || got[:6] != "AB:0C:" || got[len(got)-3:] != ":FF" {
		t.Errorf("certFingerprint = %q", got)
	}
	back, ok := parseSHA256Fingerprint("SHA-256 " + got)
	if !ok || back != sum {
		t.Errorf("parseSHA256Fingerprint did not round-trip %q", got)
	}
	for _, bad := range []string{"sha-1 AB:CD", "sha-256 AB:CD", "sha-256", "sha-256 zz" + got[2:], ""} {
		if _, ok := parseSHA256Fingerprint(bad); ok {
			t.Errorf("parseSHA256Fingerprint(%q) accepted", bad)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * 24 * time.Hour: "42 days", 5 * time.Hour: "5 hours", 90 * time.Minute: "90 minutes",
		12 * time.Second: "12 s", -3 * 24 * time.Hour: "3 days",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
