package stun

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/callscope/callscope/decode/capture"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// corpusDir holds the public captures with tshark ground truth; the test
// skips when it is absent.
const corpusDir = "/work/shared/corpus/public"

// corpusCounts is what tshark 4.0 reports for the UDP STUN traffic of a
// capture (display filter "stun && udp && !icmp").
type corpusCounts struct {
	stun, channelData, fingerprintOK, priority int
	errors                                     map[int]int
}

func TestCorpus(t *testing.T) {
	if _, err := os.Stat(corpusDir); err != nil {
		t.Skipf("corpus not available: %v", err)
	}
	tests := map[string]corpusCounts{
		"zeek-spicy-stun/stun-ice-testcall.pcap": {stun: 108, fingerprintOK: 100, priority: 49, errors: map[int]int{401: 5, 500: 2}},
		"nfstream/stun_facebook.pcapng":          {stun: 57, channelData: 18, errors: map[int]int{401: 1, 403: 2}},
		"nDPI/stun_google_meet.pcapng":           {stun: 87, fingerprintOK: 63, priority: 32, errors: map[int]int{}},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			var got corpusCounts
			got.errors = map[int]int{}
			var m Message
			forEachUDPPayload(t, filepath.Join(corpusDir, name), func(payload []byte) {
				switch {
				case IsSTUN(payload):
					got.stun++
					if err := m.Decode(payload); err != nil {
						t.Errorf("Decode: %v", err)
					}
					if m.FingerprintValid() {
						got.fingerprintOK++
					}
					if m.HasPriority {
						got.priority++
					}
					if m.ErrorCode != 0 {
						got.errors[m.ErrorCode]++
					}
				default:
					if _, _, _, ok := ParseChannelData(payload, false); ok {
						got.channelData++
					}
				}
			})
			if got.stun != want.stun || got.channelData != want.channelData ||
				got.fingerprintOK != want.fingerprintOK || got.priority != want.priority {
				t.Errorf("got %+v, want %+v", got, want)
			}
			for code, n := range want.errors {
				if got.errors[code] != n {
					t.Errorf("error %d: %d, want %d", code, got.errors[code], n)
				}
			}
			if len(got.errors) != len(want.errors) {
				t.Errorf("error codes %v, want %v", got.errors, want.errors)
			}
		})
	}
}

// forEachUDPPayload calls fn with the payload of every UDP datagram that
// is not quoted inside an ICMP error.
func forEachUDPPayload(t *testing.T, path string, fn func([]byte)) {
	t.Helper()
	r, err := capture.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(rec.Data, layers.LinkType(rec.LinkType), gopacket.Default)
		if p.Layer(layers.LayerTypeICMPv4) != nil || p.Layer(layers.LayerTypeICMPv6) != nil {
			continue
		}
		if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			fn(udp.Payload)
		}
	}
}
