package synth

import (
	"bytes"
	"testing"
)

// TestTURNDeterministic checks that a seed gives the same bytes and
// another seed other bytes.
func TestTURNDeterministic(t *testing.T) {
	cfg := SmallTURNConfig(7)
	gen := func(cfg TURNConfig) []byte {
		var b bytes.Buffer
		if _, err := WriteTURN(&b, cfg); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b := gen(cfg), gen(cfg)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different captures")
	}
	cfg.Seed++
	if bytes.Equal(a, gen(cfg)) {
		t.Error("another seed gave the same capture")
	}
}

// TestRelayFrames checks that the fixture ends with a ChannelData message
// and the same RTP packet relayed as plain UDP.
func TestRelayFrames(t *testing.T) {
	setup, cd, rtp, err := RelayFrames()
	if err != nil {
		t.Fatal(err)
	}
	if len(setup) < 8 {
		t.Errorf("%d setup frames, want the allocation's exchanges and ICE checks", len(setup))
	}
	// Each leg draws its own audio; the RTP headers (sequence number,
	// timestamp, SSRC) are the same.
	inner, relayed := cd.Data[len(cd.Data)-RTPBytes:], rtp.Data[len(rtp.Data)-RTPBytes:]
	if !bytes.Equal(inner[:12], relayed[:12]) {
		t.Errorf("ChannelData carries RTP header % x, the relayed frame % x", inner[:12], relayed[:12])
	}
	if !rtp.Time.After(cd.Time) {
		t.Errorf("relayed at %v, before the ChannelData at %v", rtp.Time, cd.Time)
	}
}
