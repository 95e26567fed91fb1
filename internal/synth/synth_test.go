package synth

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
)

func TestDeterministic(t *testing.T) {
	gen := func(seed uint64) []byte {
		var b bytes.Buffer
		if _, err := Write(&b, DefaultConfig(5_000, seed)); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b := gen(1), gen(1)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different captures")
	}
	if bytes.Equal(a, gen(2)) {
		t.Error("another seed gave the same capture")
	}
}

// TestContents decodes a capture and checks that it holds what the
// benchmark needs, in the amounts the Summary gives.
func TestContents(t *testing.T) {
	var buf bytes.Buffer
	cfg := DefaultConfig(50_000, 7)
	cfg.Concurrent = 10
	sum, err := Write(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Packets < 40_000 || sum.Packets > 60_000 {
		t.Errorf("%d packets, asked for about 50000", sum.Packets)
	}
	if sum.Relayed == 0 || sum.Relayed >= sum.Calls {
		t.Errorf("%d of %d calls relayed", sum.Relayed, sum.Calls)
	}
	r, err := capture.NewReader(&buf, "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	d := decode.NewDecoder()
	dscp := map[uint8]int{}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		d.Decode(rec, func(m *decode.Message) {
			if m.Kind == decode.KindRTP {
				dscp[m.DSCP]++
			}
		})
	}
	st := d.Stats()
	if st.Packets != uint64(sum.Packets) || st.Bytes != uint64(sum.Bytes) {
		t.Errorf("decoded %d packets, %d bytes; wrote %d, %d", st.Packets, st.Bytes, sum.Packets, sum.Bytes)
	}
	if st.Malformed != 0 || st.Truncated != 0 {
		t.Errorf("%d malformed, %d truncated", st.Malformed, st.Truncated)
	}
	// Each call: INVITE, 100, 180, 200, ACK, BYE, 200.
	if st.SIP != uint64(7*sum.Calls) {
		t.Errorf("%d SIP messages, want %d", st.SIP, 7*sum.Calls)
	}
	if st.STUN == 0 || st.ChannelData == 0 || st.RTCP == 0 || st.RTP < uint64(sum.Packets/2) {
		t.Errorf("STUN %d, ChannelData %d, RTCP %d, RTP %d", st.STUN, st.ChannelData, st.RTCP, st.RTP)
	}
	for _, mark := range []uint8{dscpEF, dscpAF41, 0} {
		if dscp[mark] == 0 {
			t.Errorf("no RTP marked %d: %v", mark, dscp)
		}
	}
}
