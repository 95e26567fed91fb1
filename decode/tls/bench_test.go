package tls_test

import (
	gotls "crypto/tls"
	"testing"

	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/decode/tls/tlstest"
)

// goClientHello returns the first record crypto/tls's client sends: a
// ClientHello with SNI, ALPN, supported_versions, key shares.
func goClientHello(tb testing.TB) []byte {
	tb.Helper()
	chunks, _, _ := tlstest.TLS(&gotls.Config{ServerName: "bridge.example.test", NextProtos: []string{"h2", "http/1.1"}},
		&gotls.Config{})
	if len(chunks) == 0 || chunks[0].FromServer {
		tb.Fatal("no ClientHello recorded")
	}
	b := chunks[0].Data
	n, ok := tls.RecordLength(b)
	if !ok || n > len(b) {
		tb.Fatalf("first write is not a whole record: %x", b[:min(len(b), 16)])
	}
	return b[:n]
}

func TestClientHelloDoesNotAllocate(t *testing.T) {
	rec := goClientHello(t)
	var p tls.Parser
	var c tls.Conn
	var m tls.Message
	if err := p.Records(rec, &c, 0, &m); err != nil || m.ClientHello == nil || m.ClientHello.SNI != "bridge.example.test" {
		t.Fatalf("err %v, ClientHello %+v", err, m.ClientHello)
	}
	if n := testing.AllocsPerRun(100, func() { p.Records(rec, &c, 0, &m) }); n != 0 {
		t.Errorf("%v allocations per ClientHello", n)
	}
}

func BenchmarkClientHello(b *testing.B) {
	rec := goClientHello(b)
	var p tls.Parser
	var c tls.Conn
	var m tls.Message
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Records(rec, &c, 0, &m); err != nil || m.ClientHello == nil {
			b.Fatal(err)
		}
	}
}
