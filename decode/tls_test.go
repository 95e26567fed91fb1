package decode

import (
	"crypto/sha256"
	gotls "crypto/tls"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/dtls/v3"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/decode/tls/tlstest"
)

// tlsSeen is a copy of what one KindTLS or KindDTLS message showed.
type tlsSeen struct {
	frame      uint64
	fromServer bool
	kind       Kind
	msg        tls.Message
	sni        string
	certs      []tls.Certificate
	alert      *tls.Alert
	record     string
}

func decodeTLS(t *testing.T, d *Decoder, recs []*capture.Record, serverAddr netip.AddrPort) []tlsSeen {
	t.Helper()
	var out []tlsSeen
	emit := func(m *Message) {
		if m.Kind != KindTLS && m.Kind != KindDTLS {
			return
		}
		s := tlsSeen{frame: m.Frame, fromServer: m.Src == serverAddr, kind: m.Kind, msg: *m.TLS,
			certs: slices.Clone(m.TLS.Certificates), record: string(AppendRecord(nil, m))}
		s.msg.ContentTypes, s.msg.Handshakes = slices.Clone(m.TLS.ContentTypes), slices.Clone(m.TLS.Handshakes)
		if m.TLS.ClientHello != nil {
			s.sni = m.TLS.ClientHello.SNI
		}
		if m.TLS.Alert != nil {
			a := *m.TLS.Alert
			s.alert = &a
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(s.record), &v); err != nil {
			t.Errorf("frame %d: record is not JSON: %v\n%s", m.Frame, err, s.record)
		}
		out = append(out, s)
	}
	for _, r := range recs {
		d.Decode(r, emit)
		checkTCPBudget(t, d)
	}
	d.Flush(emit)
	return out
}

// tlsSegments cuts each write of a recorded exchange into TCP segments of
// at most mss bytes, so that records span segments.
func tlsSegments(chunks []tlstest.Chunk, mss int) []seg {
	var segs []seg
	var off [2]int
	for _, c := range chunks {
		dir := 0
		if c.FromServer {
			dir = 1
		}
		for b := c.Data; len(b) > 0; {
			n := min(len(b), mss)
			segs = append(segs, seg{fromServer: c.FromServer, off: off[dir], data: b[:n]})
			off[dir] += n
			b = b[n:]
		}
	}
	return segs
}

func testCert(t *testing.T) tlstest.Certificate {
	t.Helper()
	cert, err := tlstest.SelfSigned("bridge.example.test", []string{"bridge.example.test"},
		[]net.IP{net.IPv4(192, 0, 2, 10)}, 0, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestTLSOverTCP(t *testing.T) {
	cert := testCert(t)
	chunks, cerr, serr := tlstest.TLS(
		&gotls.Config{ServerName: "bridge.example.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}},
		&gotls.Config{Certificates: []gotls.Certificate{cert.TLS}, MaxVersion: gotls.VersionTLS12})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	// After the exchange, the client sends 200 KiB of application data
	// in full-size records, then an encrypted alert.
	var tail []byte
	for i := 0; i < 12; i++ {
		tail = append(tail, 23, 3, 3, 0x40, 0x00)
		tail = append(tail, make([]byte, 0x4000)...)
	}
	tail = append(tail, 21, 3, 3, 0, 26)
	tail = append(tail, make([]byte, 26)...)
	chunks = append(chunks, tlstest.Chunk{Data: tail})

	for _, mss := range []int{1460, 100, 7} {
		d := NewDecoder()
		seen := decodeTLS(t, d, tcpConnection(t, tlsSegments(chunks, mss)), server)
		if len(seen) == 0 {
			t.Fatalf("mss %d: no TLS messages", mss)
		}
		if seen[0].fromServer || seen[0].sni != "bridge.example.test" || seen[0].msg.Handshakes[0] != tls.HandshakeClientHello {
			t.Errorf("mss %d: first message %+v", mss, seen[0])
		}
		if !strings.Contains(seen[0].record, `"proto":"tls","tls":{"version":"TLS 1.0","content_types":[22],"handshake":[1],"sni":"bridge.example.test"}`) &&
			!strings.Contains(seen[0].record, `"proto":"tls","tls":{"version":"TLS 1.2","content_types":[22],"handshake":[1],"sni":"bridge.example.test"}`) {
			t.Errorf("mss %d: record %s", mss, seen[0].record)
		}
		var certs []tls.Certificate
		appData := [2]int{}
		for _, s := range seen {
			certs = append(certs, s.certs...)
			if slices.Contains(s.msg.ContentTypes, tls.ContentApplicationData) {
				appData[b2i(s.fromServer)]++
			}
		}
		if len(certs) != 1 || certs[0].SHA256 != sha256.Sum256(cert.DER) || !certs[0].SelfSigned {
			t.Errorf("mss %d: certificates %+v", mss, certs)
		}
		if appData != [2]int{1, 1} {
			t.Errorf("mss %d: application data emitted %v times per direction, want once each", mss, appData)
		}
		last := seen[len(seen)-1]
		if last.fromServer || !slices.Equal(last.msg.ContentTypes, []uint8{tls.ContentAlert}) || !last.msg.Encrypted || last.alert != nil {
			t.Errorf("mss %d: last message %+v, want the client's encrypted alert", mss, last.msg)
		}
		st := d.Stats()
		if st.TLS != uint64(len(seen)) || st.Certificates != 1 || st.Malformed != 0 {
			t.Errorf("mss %d: stats %+v", mss, st)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestTLSAppDataNotBuffered checks that application data records after
// the first are skipped by their header: nothing of them is held.
func TestTLSAppDataNotBuffered(t *testing.T) {
	// A ClientHello: version, random, empty session ID, cipher suites
	// and compression methods.
	hello := []byte{22, 3, 1, 0, 42, 1, 0, 0, 38, 3, 3}
	hello = append(hello, make([]byte, 32+1+2+1)...)
	segs := []seg{{data: hello}}
	off := len(hello)
	for i := 0; i < 40; i++ {
		rec := append([]byte{23, 3, 3, 0x40, 0}, make([]byte, 0x4000)...)
		for b := rec; len(b) > 0; {
			n := min(len(b), 1000)
			segs = append(segs, seg{off: off, data: b[:n]})
			off += n
			b = b[n:]
		}
	}
	d := NewDecoder()
	recs := tcpConnection(t, segs)
	var n int
	for _, r := range recs {
		d.Decode(r, func(m *Message) {
			if m.Kind == KindTLS {
				n++
			}
		})
		if d.tcp.used > 64<<10 {
			t.Fatalf("frame %d: %d bytes buffered", r.Frame, d.tcp.used)
		}
	}
	if n != 2 { // the ClientHello, the first application data
		t.Errorf("%d TLS messages, want 2", n)
	}
	if used := d.tcp.used; used > 1<<10 {
		t.Errorf("%d bytes held after skipping application data", used)
	}
}

// webrtcDTLSHandshake runs a real DTLS handshake as WebRTC endpoints do
// (self-signed certificates, DTLS-SRTP, a small MTU so that the
// certificate is fragmented, RFC 6347 §4.2.3) and returns its datagrams
// and the server's certificate.
func webrtcDTLSHandshake(t *testing.T) ([]tlstest.Chunk, tlstest.Certificate) {
	t.Helper()
	cert, err := tlstest.SelfSigned("webrtc", nil, nil, 2048, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	profiles := []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80}
	chunks, cerr, serr := tlstest.DTLS(
		&dtls.Config{Certificates: []gotls.Certificate{testCert(t).TLS}, InsecureSkipVerify: true, SRTPProtectionProfiles: profiles, MTU: 300},
		&dtls.Config{Certificates: []gotls.Certificate{cert.TLS}, SRTPProtectionProfiles: profiles, MTU: 300})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v, server %v", cerr, serr)
	}
	return chunks, cert
}

func TestDTLSOverUDP(t *testing.T) {
	chunks, cert := webrtcDTLSHandshake(t)
	clientAP := netip.MustParseAddrPort(tlstest.ClientAddr.String())
	serverAP := netip.MustParseAddrPort(tlstest.ServerAddr.String())
	var r recorder
	var recs []*capture.Record
	for _, c := range chunks {
		src, dst := clientAP, serverAP
		if c.FromServer {
			src, dst = serverAP, clientAP
		}
		recs = append(recs, r.next(capture.LinkIPv4, udpIP(t, src, dst, c.Data, 0)))
	}
	d := NewDecoder()
	seen := decodeTLS(t, d, recs, serverAP)
	if len(seen) != len(chunks) {
		t.Errorf("%d DTLS messages for %d datagrams", len(seen), len(chunks))
	}
	var certs []tls.Certificate
	fragments := 0
	for _, s := range seen {
		if s.kind != KindDTLS || !strings.Contains(s.record, `"proto":"dtls","dtls":{"version":"DTLS`) {
			t.Errorf("frame %d: %v %s", s.frame, s.kind, s.record)
		}
		if s.fromServer {
			certs = append(certs, s.certs...)
			for _, h := range s.msg.Handshakes {
				if h == tls.HandshakeCertificate {
					fragments++
				}
			}
		}
	}
	if fragments < 3 {
		t.Errorf("the server's certificate came in %d fragments: the test does not test reassembly", fragments)
	}
	if len(certs) != 1 || certs[0].SHA256 != sha256.Sum256(cert.DER) || certs[0].KeyBits != 2048 || !certs[0].SelfSigned {
		t.Errorf("server certificates %+v", certs)
	}
	if st := d.Stats(); st.DTLS != uint64(len(chunks)) || st.Malformed != 0 || st.Certificates != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDTLSFragmentsBounded(t *testing.T) {
	d := NewDecoderWithOptions(Options{MaxDTLSAssociations: 8, MaxDTLSBytes: 100 << 10})
	var r recorder
	// 50 flows each start a 60 KiB certificate and never finish it.
	for i := 0; i < 50; i++ {
		frag := make([]byte, 200)
		hs := []byte{11, 0, 0xf0, 0, 0, 1, 0, 0, 0, 0, 0, byte(len(frag))}
		rec := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1}
		rec = binary.BigEndian.AppendUint16(rec, uint16(len(hs)+len(frag)))
		dgram := append(append(rec, hs...), frag...)
		src := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(1000+i))
		d.Decode(r.next(capture.LinkIPv4, udpIP(t, src, server, dgram, 0)), func(*Message) {})
		if len(d.dtls.assocs) > 8 || d.dtls.used > 100<<10 {
			t.Fatalf("after %d flows: %d associations, %d bytes", i+1, len(d.dtls.assocs), d.dtls.used)
		}
	}
	if st := d.Stats(); st.DTLS != 50 {
		t.Errorf("%d DTLS messages, want 50", st.DTLS)
	}
}

func TestAppendRecordTLSDoesNotAllocate(t *testing.T) {
	ch := &tls.ClientHello{SNI: "bridge.example.test"}
	m := &Message{Packet: Packet{Frame: 1, Src: client, Dst: server, Transport: TCP}, Kind: KindTLS,
		TLS: &tls.Message{RecordVersion: tls.VersionTLS12, ContentTypes: []uint8{22, 21}, Handshakes: []uint8{1},
			ClientHello: ch, Alert: &tls.Alert{Level: 2, Description: 113}}}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendRecord(buf[:0], m) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
	want := `"proto":"tls","tls":{"version":"TLS 1.2","content_types":[22,21],"handshake":[1],"sni":"bridge.example.test","alert":{"level":"fatal","description":"bad_certificate_status_response"}}}`
	if !strings.HasSuffix(strings.TrimSpace(string(buf)), want) {
		t.Errorf("record %s", buf)
	}
}
