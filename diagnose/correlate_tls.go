package diagnose

import (
	"net/netip"
	"slices"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/tls"
)

const (
	// MaxTLSConnections bounds Analysis.TLSConnections; later ones are
	// counted in Analysis.DroppedTLSConnections.
	MaxTLSConnections = 20_000
	// MaxAlertsPerConnection bounds TLSConnection.Alerts.
	MaxAlertsPerConnection = 16
	// maxCertificatesKept bounds each chain kept (the decoder has its own
	// bound; this one keeps the Analysis small whatever it is).
	maxCertificatesKept = 8
	// maxRelayedDTLSState bounds the TURN-carried DTLS associations whose
	// fragmented handshake messages are reassembled (tls.Conn buffers up
	// to tls.MaxHandshakeBuffer per direction); beyond it their datagrams
	// are read one at a time.
	maxRelayedDTLSState = 256
)

// tlsState is the engine's TLS and DTLS correlation state.
type tlsState struct {
	conns map[tlsKey]*tlsConn
	list  []*tlsConn

	// Reading TURN-carried DTLS, which the decoder does not see.
	parser      tls.Parser
	msg         tls.Message
	scratch     tls.Conn
	parserConns int

	dropped int
}

// tlsKey is a connection's two ends in address order, so that both
// directions find it.
type tlsKey struct {
	a, b      netip.AddrPort
	transport decode.Transport
}

func tlsKeyOf(src, dst netip.AddrPort, transport decode.Transport) tlsKey {
	if src.Compare(dst) > 0 {
		src, dst = dst, src
	}
	return tlsKey{a: src, b: dst, transport: transport}
}

// tlsConn is a TLSConnection's correlation state. Sides: 0 the client,
// 1 the server.
type tlsConn struct {
	c *TLSConnection
	// known: the client is the ClientHello's sender (or the ServerHello's
	// receiver); until then it is a guess that a hello can overturn.
	known bool
	hello bool // a ClientHello or ServerHello was seen

	ccs, finished, appData [2]bool
	established, failed    bool

	parser *tls.Conn // TURN-carried DTLS only
}

// observeTLS follows a TLS or DTLS message the decoder emitted.
func (e *Engine) observeTLS(m *decode.Message) {
	if m.TLS == nil {
		return
	}
	e.observeTLSMessage(&m.Packet, m.TLS, m.Src, m.Dst, m.Transport, nil)
}

// observeRelayedDTLS reads a DTLS datagram carried through TURN between
// src and dst (the relayed address and the peer) and follows it.
func (e *Engine) observeRelayedDTLS(pkt *decode.Packet, payload []byte, src, dst netip.AddrPort, via *Allocation) {
	st := &e.tls
	tc := st.conns[tlsKeyOf(src, dst, decode.UDP)]
	pc := &st.scratch
	if tc != nil && tc.parser != nil {
		pc = tc.parser
	} else {
		st.scratch = tls.Conn{DTLS: true}
	}
	dir := 0
	if src.Compare(dst) > 0 {
		dir = 1
	}
	// An error still leaves in msg what parsed before it.
	_ = st.parser.Datagram(payload, pc, dir, &st.msg)
	if len(st.msg.ContentTypes) == 0 && st.msg.Ciphertexts == 0 {
		return
	}
	tc = e.observeTLSMessage(pkt, &st.msg, src, dst, decode.UDP, via)
	if tc != nil && tc.parser == nil && pc == &st.scratch && !tc.established && !tc.failed &&
		st.parserConns < maxRelayedDTLSState {
		tc.parser = new(tls.Conn)
		*tc.parser = st.scratch
		st.scratch = tls.Conn{}
		st.parserConns++
	}
}

// observeTLSMessage follows one message of the connection between src
// and dst, starting it when the message shows a handshake or an alert:
// application data alone (a capture that began mid-connection) says
// nothing worth a record.
func (e *Engine) observeTLSMessage(pkt *decode.Packet, t *tls.Message, src, dst netip.AddrPort, transport decode.Transport, via *Allocation) *tlsConn {
	st := &e.tls
	key := tlsKeyOf(src, dst, transport)
	ref := FrameRef{Frame: pkt.Frame, Time: pkt.Time}
	tc := st.conns[key]
	if tc == nil {
		if !slices.Contains(t.ContentTypes, tls.ContentHandshake) && t.Alert == nil {
			return nil
		}
		if len(st.list) >= MaxTLSConnections {
			st.dropped++
			return nil
		}
		// Before a hello says who is who, the sender of a certificate is
		// most likely the server; of anything else, the client.
		client, server := src, dst
		if t.ClientHello == nil && (t.ServerHello != nil || t.HelloVerify != nil || len(t.Certificates) > 0) {
			client, server = dst, src
		}
		tc = &tlsConn{c: &TLSConnection{
			Client: client, Server: server, Transport: transport, DTLS: t.DTLS || transport == decode.UDP,
			Allocation: via, First: ref,
		}}
		if st.conns == nil {
			st.conns = make(map[tlsKey]*tlsConn)
		}
		st.conns[key] = tc
		st.list = append(st.list, tc)
	}
	c := tc.c
	c.Last = ref
	side := 0
	if src != c.Client {
		side = 1
	}
	if !tc.known && (t.ClientHello != nil && side == 1 || (t.ServerHello != nil || t.HelloVerify != nil) && side == 0) {
		c.Client, c.Server = c.Server, c.Client
		tc.ccs[0], tc.ccs[1] = tc.ccs[1], tc.ccs[0]
		tc.finished[0], tc.finished[1] = tc.finished[1], tc.finished[0]
		tc.appData[0], tc.appData[1] = tc.appData[1], tc.appData[0]
		c.Certificates, c.ClientCertificates = c.ClientCertificates, c.Certificates
		for i := range c.Alerts {
			c.Alerts[i].FromServer = !c.Alerts[i].FromServer
		}
		c.FailedBy.FromServer = !c.FailedBy.FromServer
		side = 1 - side
	}
	if t.ClientHello != nil || t.ServerHello != nil || t.HelloVerify != nil {
		tc.known = true
	}

	if ch := t.ClientHello; ch != nil && side == 1 {
		// The other end sent one too: both act as the client.
		tc.hello = true
		if !c.BothClientHello {
			c.BothClientHello = true
			c.ServerClientHello = ref
		}
	} else if ch != nil {
		tc.hello = true
		if c.ClientHello.Frame == 0 {
			c.ClientHello = ref
			c.SNI = keptText(ch.SNI)
			c.ALPN = slices.Clone(ch.ALPN)
			c.CipherSuitesOffered = ch.CipherSuites
			c.OfferedSRTPProfiles = slices.Clone(ch.UseSRTP)
			for _, v := range ch.SupportedVersions {
				if !tls.IsGREASE(v) {
					c.OfferedVersions = append(c.OfferedVersions, v)
				}
			}
			if len(c.OfferedVersions) == 0 {
				c.OfferedVersions = []uint16{ch.LegacyVersion}
			}
		}
	}
	if t.HelloVerify != nil {
		c.HelloVerify = true
	}
	if sh := t.ServerHello; sh != nil {
		tc.hello = true
		switch {
		case sh.HelloRetryRequest:
			// RFC 8446 §4.1.4: nothing is negotiated yet.
			c.HelloRetry = true
		case c.ServerHello.Frame == 0:
			c.ServerHello = ref
			c.Version, c.CipherSuite, c.SRTPProfile, c.ALPNSelected = sh.Version, sh.CipherSuite, sh.UseSRTP, sh.ALPN
			c.CertificateEncrypted = sh.CertificateEncrypted()
		}
	}
	if len(t.Certificates) > 0 {
		if side == 1 && c.Certificates == nil {
			c.Certificates = keptCertificates(t.Certificates)
			c.CertificateFrame = ref
		} else if side == 0 && c.ClientCertificates == nil {
			c.ClientCertificates = keptCertificates(t.Certificates)
		}
	}
	if a := t.Alert; a != nil {
		if len(c.Alerts) < MaxAlertsPerConnection {
			c.Alerts = append(c.Alerts, TLSAlert{FrameRef: ref, FromServer: side == 1, Level: a.Level, Description: a.Description})
		}
		// RFC 8446 §6.2: a fatal alert ends the connection; during the
		// handshake it means the handshake failed.
		if a.Level == 2 && !tc.established && !tc.failed {
			tc.failed = true
			c.FailedBy = TLSAlert{FrameRef: ref, FromServer: side == 1, Level: a.Level, Description: a.Description}
		}
	}
	for _, ct := range t.ContentTypes {
		switch ct {
		case tls.ContentChangeCipherSpec:
			tc.ccs[side] = true
		case tls.ContentHandshake:
			// A handshake record after ChangeCipherSpec is the encrypted
			// Finished (RFC 5246 §7.4.9).
			if tc.ccs[side] {
				tc.finished[side] = true
			}
		case tls.ContentApplicationData:
			tc.appData[side] = true
		}
	}
	if t.Encrypted || t.Ciphertexts > 0 {
		tc.finished[side] = true
	}
	if !tc.established && !tc.failed && tc.handshakeDone() {
		tc.established = true
		c.Established = ref
		if tc.parser != nil {
			// Nothing more to reassemble: let the buffers go.
			tc.parser = nil
			st.parserConns--
		}
	}
	return tc
}

// handshakeDone says whether what was seen proves the handshake over. In
// TLS 1.3 everything after the ServerHello, the client's Finished
// included, travels as application_data records (RFC 8446 §5.2), so both
// sides must have sent protected records; in earlier versions both
// Finished after ChangeCipherSpec, or application data after the hellos.
func (tc *tlsConn) handshakeDone() bool {
	if !tc.hello {
		return false
	}
	switch tc.c.Version {
	case tls.VersionTLS13, tls.VersionDTLS13:
		return (tc.appData[0] || tc.finished[0]) && (tc.appData[1] || tc.finished[1])
	}
	return tc.finished[0] && tc.finished[1] || tc.appData[0] || tc.appData[1]
}

// keptCertificates copies a chain out of the decoder's reused storage.
func keptCertificates(certs []tls.Certificate) []tls.Certificate {
	out := slices.Clone(certs[:min(len(certs), maxCertificatesKept)])
	for i := range out {
		out[i].DNSNames = slices.Clone(out[i].DNSNames)
		out[i].IPs = slices.Clone(out[i].IPs)
	}
	return out
}
