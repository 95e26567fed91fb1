package rules

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/diagnose"
)

// TestTLSFilterShowsCitedFrames: a TLS finding cites the ClientHello,
// ServerHello, Certificate and alerts of its connections, so the filter
// selects all of those handshake types, not only the one the rule is
// about; on a TCP port another dissector owns (nDPI KakaoTalk, 8080 is
// HTTP's) tshark shows no tls.* fields, so the frames are added.
func TestTLSFilterShowsCitedFrames(t *testing.T) {
	c := tlsConn(1, 0, "join.example.com", cert("CN=x"))
	if got, want := tlsFilter(c, "tls.handshake.type == 11"),
		"ip.addr == 192.0.2.10 && ip.addr == 203.0.113.20 && tcp.port == 51000 && tcp.port == 443 && tls.handshake.type in {1, 2, 11}"; got != want {
		t.Errorf("tlsFilter = %s, want %s", got, want)
	}
	noHello := tlsConn(1, 0, "")
	noHello.ClientHello, noHello.ServerHello, noHello.CertificateFrame = diagnose.FrameRef{}, diagnose.FrameRef{}, diagnose.FrameRef{}
	if got, want := tlsFilter(noHello, "tls.handshake.type == 11"),
		"ip.addr == 192.0.2.10 && ip.addr == 203.0.113.20 && tcp.port == 51000 && tcp.port == 443"; got != want {
		t.Errorf("tlsFilter without hellos = %s, want the flow %s", got, want)
	}
	http := tlsConn(36, 0, "", cert("CN=x"))
	http.Server = netip.MustParseAddrPort("110.76.143.50:8080")
	if got, want := tlsFilter(http, "tls.handshake.type == 11"),
		"ip.addr == 192.0.2.10 && ip.addr == 110.76.143.50 && tcp.port == 51000 && tcp.port == 8080 && (tls.handshake.type in {1, 2, 11} || frame.number in {36, 37})"; got != want {
		t.Errorf("tlsFilter on 8080 = %s, want %s", got, want)
	}
	d := dtlsConn(1, 0, cert("CN=a"), cert("CN=b"))
	alert(d, 5, 0.1, true, 42)
	if got, want := connectionsFilter([]*diagnose.TLSConnection{d}, "tls.alert_message.desc == 42"),
		"ip.addr == 192.0.2.10 && ip.addr == 198.51.100.7 && udp.port == 50006 && udp.port == 40000 && (dtls.handshake.type in {1, 2, 11} || dtls.alert_message.desc == 42)"; got != want {
		t.Errorf("DTLS alert filter = %s, want %s", got, want)
	}
}
