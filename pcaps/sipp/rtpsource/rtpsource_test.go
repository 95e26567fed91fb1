package rtpsource

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
)

// TestPcap: the file reads back as the packets given, at their times,
// with IPv4 and UDP checksums a receiver's stack accepts (SIPp replays
// the bytes, and tshark flags bad checksums in the captures made of them).
func TestPcap(t *testing.T) {
	pkts := []Packet{
		{At: 20 * time.Millisecond, SSRC: 0x0a11ce01, Seq: 1000, TS: 16000, PT: 0, Marker: true, Payload: Tone(440, 0)},
		{At: 40 * time.Millisecond, SSRC: 0x0a11ce01, Seq: 1001, TS: 16000, PT: 96, Payload: []byte{1, 10, 0, 160}},
		{At: 60 * time.Millisecond, SSRC: 0x0a11ce01, Seq: 1002, TS: 16320, PT: 13, Payload: []byte{70}}, // odd length
	}
	rd, err := capture.NewReader(bytes.NewReader(Pcap(pkts)), "source.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	dec := decode.NewDecoder()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for {
		rec, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ip := rec.Data[14:]
		if sum := fold(onesSum(0, ip[:20])); sum != 0xffff {
			t.Errorf("packet %d: IPv4 header checksum does not verify (%#04x)", i, sum)
		}
		udp := ip[20:]
		pseudo := append(append(append([]byte{}, ip[12:20]...), 0, 17), byte(len(udp)>>8), byte(len(udp)))
		if sum := fold(onesSum(onesSum(0, pseudo), udp)); sum != 0xffff {
			t.Errorf("packet %d: UDP checksum does not verify (%#04x)", i, sum)
		}
		dec.Decode(rec, func(m *decode.Message) {
			if m.Kind != decode.KindRTP {
				t.Errorf("packet %d decoded as %v, want RTP", i, m.Kind)
				return
			}
			p, h := pkts[i], m.RTP
			if h.SSRC != p.SSRC || h.Sequence != p.Seq || h.Timestamp != p.TS || h.PayloadType != p.PT || h.Marker != p.Marker || h.PayloadLen != len(p.Payload) {
				t.Errorf("packet %d: got %+v, want %+v", i, h, p)
			}
			if want := start.Add(p.At); !m.Time.Equal(want) {
				t.Errorf("packet %d at %v, want %v", i, m.Time, want)
			}
		})
		i++
	}
	if i != len(pkts) {
		t.Errorf("%d packets read, want %d", i, len(pkts))
	}
}
