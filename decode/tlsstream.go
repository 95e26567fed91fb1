package decode

import "github.com/callscope/callscope/decode/tls"

// TLS over TCP.
//
// A connection is TLS, on any port, when a direction's first bytes are a
// handshake record that starts with a ClientHello; the other direction is
// then TLS as soon as its first bytes are a record header. Records are
// framed by their header (RFC 8446 §5.1), at most tls.MaxRecordLen long.
// The records a segment completes are read together and emitted as one
// KindTLS message, except application data: only the first record of it
// in each direction is read and emitted (it says the handshake got that
// far); the others are skipped by their header, without being buffered,
// so that an established connection costs one header read per record.

// tcpTLS is the TLS state of one TCP connection.
type tcpTLS struct {
	conn    tls.Conn
	appData [2]bool // the direction sent application data
}

// classifyTLS decides whether a stream starting with a byte of 20-23 is
// TLS: a ClientHello, or any record once the other direction is TLS.
func (d *Decoder) classifyTLS(w []byte) (m halfMode, more bool) {
	if len(w) < tls.RecordHeaderLen {
		return 0, true
	}
	if _, ok := tls.RecordLength(w); !ok {
		return modeIgnored, false
	}
	if c := d.tcpCur; c != nil && c.tls != nil {
		return modeTLS, false
	}
	if len(w) < tls.RecordHeaderLen+4 {
		return 0, true
	}
	if tls.StartsClientHello(w) {
		return modeTLS, false
	}
	return modeIgnored, false
}

// attachTLS gives h the connection's TLS state.
func (d *Decoder) attachTLS(h *tcpHalf) {
	c := d.tcpCur
	if c == nil {
		h.mode = modeIgnored
		return
	}
	if c.tls == nil {
		c.tls = &tcpTLS{}
	}
	h.tls = c.tls
	h.dir = 0
	if h == &c.half[1] {
		h.dir = 1
	}
}

// tlsFrames consumes the complete records of w and returns an incomplete
// tail. Records worth reading that are next to each other are read and
// emitted together.
func (d *Decoder) tlsFrames(h *tcpHalf, w []byte, emit func(*Message)) []byte {
	st, dir := h.tls, int(h.dir)
	i, start := 0, 0 // w[start:i] are records to read
	for len(w)-i >= tls.RecordHeaderLen {
		rest := w[i:]
		n, ok := tls.RecordLength(rest)
		if !ok {
			// Not a record where one should start: the framing is lost,
			// and a TLS connection has nothing else to offer.
			d.emitTLS(st, dir, w[start:i], emit)
			d.malformed()
			h.mode = modeIgnored
			return nil
		}
		if rest[0] == tls.ContentApplicationData && st.appData[dir] {
			d.emitTLS(st, dir, w[start:i], emit)
			if n > len(rest) {
				h.skip = n - len(rest)
				return nil
			}
			i += n
			start = i
			continue
		}
		if n > len(rest) {
			if n > d.tcp.maxBytes {
				// Too big to buffer: skipped, and a handshake message it
				// continued is lost.
				d.emitTLS(st, dir, w[start:i], emit)
				st.conn.Release(dir)
				h.skip = n - len(rest)
				return nil
			}
			break
		}
		if rest[0] == tls.ContentApplicationData {
			st.appData[dir] = true
		}
		i += n
	}
	d.emitTLS(st, dir, w[start:i], emit)
	return w[i:]
}

// emitTLS reads records, whole and back to back, and emits them.
func (d *Decoder) emitTLS(st *tcpTLS, dir int, records []byte, emit func(*Message)) {
	if len(records) == 0 {
		return
	}
	m := &d.tlsMsg
	if err := d.tlsParser.Records(records, &st.conn, dir, m); err != nil {
		d.malformed()
	}
	d.stats.TLS++
	d.stats.TLSRecords += uint64(len(m.ContentTypes))
	d.stats.Certificates += uint64(len(m.Certificates))
	d.msg = Message{Packet: d.pkt, Kind: KindTLS, TLS: m, Payload: records}
	emit(&d.msg)
}
