package sip_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/sip"
)

// corpusSIP returns copies of the SIP payloads in the repository's SIP
// captures, or, when CALLSCOPE_SIP_PCAP names a capture (a SIP-dense one
// such as synthcap's), its first CALLSCOPE_SIP_MESSAGES (default 20,000).
func corpusSIP(tb testing.TB) [][]byte {
	tb.Helper()
	paths, limit := []string{os.Getenv("CALLSCOPE_SIP_PCAP")}, 20_000
	if paths[0] == "" {
		var err error
		paths, err = filepath.Glob("../../pcaps/sip-*.pcap")
		if err != nil || len(paths) == 0 {
			tb.Skip("no SIP captures in pcaps/")
		}
		limit = 1 << 30
	} else if n, err := strconv.Atoi(os.Getenv("CALLSCOPE_SIP_MESSAGES")); err == nil && n > 0 {
		limit = n
	}
	var msgs [][]byte
	for _, p := range paths {
		r, err := capture.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		d := decode.NewDecoder()
		emit := func(m *decode.Message) {
			if m.Kind == decode.KindSIP && len(msgs) < limit {
				msgs = append(msgs, append([]byte(nil), m.Payload...))
			}
		}
		for len(msgs) < limit {
			rec, err := r.Next()
			if err != nil {
				break
			}
			d.Decode(rec, emit)
		}
		r.Close()
	}
	if len(msgs) == 0 {
		tb.Skip("no SIP messages")
	}
	return msgs
}

// BenchmarkParseCorpus parses real SIP messages, one per op.
func BenchmarkParseCorpus(b *testing.B) {
	msgs := corpusSIP(b)
	var m sip.Message
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = m.Parse(msgs[i])
		if i++; i == len(msgs) {
			i = 0
		}
	}
}
