package rules

import (
	"slices"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/diagnose"
)

// TestTLSFilterICETCP: DTLS in ICE-TCP's RFC 4571 frames is not dissected
// by Wireshark 4.0 (its "rtp" Decode As takes every frame for RTP), so the
// filter names the frames the finding cites, as for DTLS relayed in TURN.
func TestTLSFilterICETCP(t *testing.T) {
	d := dtlsConn(1, 0, cert("CN=a"), cert("CN=b"))
	d.Transport = decode.TCP
	var frames []uint64
	for _, f := range []diagnose.FrameRef{d.ClientHello, d.ServerHello, d.CertificateFrame, d.First} {
		if f.Frame != 0 {
			frames = append(frames, f.Frame)
		}
	}
	slices.Sort(frames)
	want := diagnose.FilterFrames(slices.Compact(frames))
	if got := tlsFilter(d, "tls.handshake.type == 11"); got != want || len(frames) < 2 {
		t.Errorf("tlsFilter for DTLS over ICE-TCP = %s, want %s", got, want)
	}
}
