package tls

import (
	"bytes"
	"testing"
)

// Seeds: a TLS ClientHello with SNI, ALPN, supported_versions and
// use_srtp; a DTLS ClientHello with a cookie; a ServerHello that is a
// HelloRetryRequest.
func seedClientHello(dtls bool) []byte {
	b := []byte{0x03, 0x03}
	if dtls {
		b = []byte{0xfe, 0xfd}
	}
	b = append(b, make([]byte, 32)...)
	b = append(b, 0) // session ID
	if dtls {
		b = append(b, 4, 1, 2, 3, 4) // cookie
	}
	b = append(b, 0, 4, 0x13, 0x01, 0xc0, 0x2b, 1, 0)
	ext := []byte{
		0, 0, 0, 14, 0, 12, 0, 0, 9, 'a', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
		0, 16, 0, 9, 0, 7, 2, 'h', '2', 3, 'a', 'b', 'c',
		0, 43, 0, 5, 4, 0x03, 0x04, 0x03, 0x03,
		0, 14, 0, 5, 0, 2, 0, 1, 0,
	}
	b = append(b, byte(len(ext)>>8), byte(len(ext)))
	return append(b, ext...)
}

func seedServerHello() []byte {
	b := []byte{0x03, 0x03}
	b = append(b, helloRetryRandom[:]...)
	b = append(b, 0, 0x13, 0x01, 0)
	ext := []byte{0, 43, 0, 2, 0x03, 0x04, 0, 16, 0, 5, 0, 3, 2, 'h', '2', 0, 14, 0, 5, 0, 2, 0, 7, 0}
	b = append(b, byte(len(ext)>>8), byte(len(ext)))
	return append(b, ext...)
}

func FuzzHandshake(f *testing.F) {
	f.Add(uint8(1), false, seedClientHello(false))
	f.Add(uint8(1), true, seedClientHello(true))
	f.Add(uint8(2), false, seedServerHello())
	f.Add(uint8(3), true, []byte{0xfe, 0xff, 3, 1, 2, 3})
	f.Add(uint8(11), false, []byte{0, 0, 7, 0, 0, 4, 0x30, 0x02, 0x05, 0x00})
	f.Add(uint8(11), true, []byte{0, 0, 0, 9, 0, 0, 4, 0x30, 0x02, 0x05, 0x00, 0, 0})
	f.Fuzz(func(t *testing.T, typ uint8, dtls bool, body []byte) {
		var p Parser
		var m Message
		c := &Conn{DTLS: dtls}
		if typ == 11 && dtls {
			c.Version = VersionTLS13 // the TLS 1.3 Certificate format
		}
		m.ContentTypes = m.ContentTypes[:0]
		p.handshakeMessage(c, typ, body, &m)
		if m.ClientHello != nil {
			ch := m.ClientHello
			if ch.CipherSuites*2 > len(body) || len(ch.SNI) > len(body) || len(ch.SupportedVersions)*2 > len(body) {
				t.Fatalf("ClientHello %+v from %d bytes", ch, len(body))
			}
		}
		if len(m.Certificates) > MaxChain {
			t.Fatalf("%d certificates", len(m.Certificates))
		}
	})
}

func FuzzRecords(f *testing.F) {
	ch := seedClientHello(false)
	rec := append([]byte{22, 3, 1, 0, byte(len(ch) + 4), 1, 0, 0, byte(len(ch))}, ch...)
	f.Add(rec, 7, false)
	f.Add(append(rec, 20, 3, 3, 0, 1, 1, 22, 3, 3, 0, 3, 1, 2, 3, 21, 3, 3, 0, 2, 2, 40), 30, false)
	dch := seedClientHello(true)
	dtlsRec := []byte{22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(dch) + 12), 1, 0, 0, byte(len(dch)), 0, 0, 0, 0, 0, 0, 0, byte(len(dch))}
	f.Add(append(dtlsRec, dch...), 0, true)
	// A certificate in two fragments, then a unified-header record.
	f.Add([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 14, 11, 0, 0, 8, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0,
		22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 2, 0, 18, 11, 0, 0, 8, 0, 1, 0, 0, 2, 0, 0, 6, 5, 0, 0, 2, 0x30, 0,
		0x2c, 0, 9, 0, 2, 1, 2}, 27, true)
	f.Fuzz(func(t *testing.T, b []byte, cut int, dtls bool) {
		var p Parser
		var m Message
		c := &Conn{DTLS: dtls}
		if cut < 0 || cut > len(b) {
			cut = len(b) / 2
		}
		for i, part := range [][]byte{b[:cut], b[cut:], b} {
			var err error
			if dtls {
				err = p.Datagram(part, c, i&1, &m)
			} else {
				err = p.Records(part, c, i&1, &m)
			}
			if len(m.ContentTypes) > len(part)/RecordHeaderLen {
				t.Fatalf("%d records in %d bytes", len(m.ContentTypes), len(part))
			}
			if err == nil && !dtls && len(part) > 0 && len(m.ContentTypes) == 0 {
				t.Fatalf("no error and no record in %x", part)
			}
			if h := c.Held(0) + c.Held(1); h > 2*(MaxHandshakeBuffer+maxFragMessages*4<<10) {
				t.Fatalf("%d bytes held", h)
			}
		}
		// The stateless parse must not panic either.
		var m2 Message
		Parse(b, dtls, &m2)
	})
}

func FuzzCertificate(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Add(bytes.Repeat([]byte{0x30, 0x82}, 10))
	f.Fuzz(func(t *testing.T, der []byte) {
		c := SummarizeCertificate(der)
		if c.ParseError == "" && c.KeyType == "" {
			t.Fatalf("parsed without a key type: %+v", c)
		}
	})
}
