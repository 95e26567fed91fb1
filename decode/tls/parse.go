package tls

import (
	"errors"
)

// MaxHandshakeBuffer bounds the bytes a direction buffers for handshake
// messages that span records (TLS) or arrive in fragments (DTLS). A
// message larger than that is counted in Message.Handshakes but not read.
const MaxHandshakeBuffer = 64 << 10

// maxFragMessages bounds the DTLS handshake messages a direction
// reassembles at once: a flight rarely has more than one fragmented
// message in flight, two when datagrams are reordered.
const maxFragMessages = 4

// maxSpans bounds the distinct byte ranges tracked per message being
// reassembled; fragments past that give the message up.
const maxSpans = 16

var (
	errRecord    = errors.New("tls: record header invalid or its length runs past the data")
	errHandshake = errors.New("tls: handshake message header truncated")
)

// Conn is what reading one TLS connection or DTLS association needs to
// remember across records: per direction, whether it changed cipher, the
// unfinished handshake message (TLS) or fragments (DTLS). Direction 0 and
// 1 are the caller's, usually by address order. The zero Conn is ready;
// set DTLS for a DTLS association.
type Conn struct {
	DTLS bool
	// Version is the version a ServerHello negotiated (supported_versions
	// first), 0 until one was seen.
	Version uint16
	half    [2]connHalf
}

type connHalf struct {
	ccs  bool   // sent ChangeCipherSpec: later handshake and alert records are encrypted
	buf  []byte // TLS: the start of a handshake message continued in later records
	skip int    // TLS: bytes of a message too large to buffer, still to pass over
	frag [maxFragMessages]fragMessage
}

// fragMessage is a DTLS handshake message being reassembled (RFC 6347
// §4.2.3).
type fragMessage struct {
	used   bool
	typ    uint8
	seq    uint16
	data   []byte // the whole message body, length bytes
	spans  [maxSpans][2]int32
	nspans int
	age    uint32
}

// Held reports the bytes c buffers for direction dir, for a caller that
// bounds several connections.
func (c *Conn) Held(dir int) int {
	h := &c.half[dir&1]
	n := cap(h.buf)
	for j := range h.frag {
		n += cap(h.frag[j].data)
	}
	return n
}

// Release drops what c buffers for direction dir, as when bytes were lost:
// the rest of a message given up is passed over.
func (c *Conn) Release(dir int) {
	h := &c.half[dir&1]
	h.buf, h.skip = nil, 0
	h.frag = [maxFragMessages]fragMessage{}
}

// Parser holds the storage Messages point into. It is reused from one
// message to the next, so parsing allocates nothing in steady state apart
// from certificates. A Parser is not safe for concurrent use.
type Parser struct {
	contentTypes []uint8
	handshakes   []uint8
	certs        []Certificate
	ch           ClientHello
	sh           ServerHello
	hv           HelloVerifyRequest
	alert        Alert
	names        names
	scratch      Conn
	age          uint32
	err          error
}

// Parse reads the records of b, a DTLS datagram or TLS records back to
// back, without state: a handshake message split over records or
// datagrams is named in Handshakes but not read. For TURN-carried DTLS the
// analyzer can keep a Conn per association and use Parser.Datagram.
func Parse(b []byte, dtls bool, m *Message) error {
	var p Parser
	if dtls {
		return p.Datagram(b, nil, 0, m)
	}
	return p.Records(b, nil, 0, m)
}

func (p *Parser) begin(c *Conn, dtls bool, m *Message) *Conn {
	if c == nil {
		p.scratch = Conn{}
		c = &p.scratch
	}
	p.err = nil
	for i := range p.certs {
		p.certs[i] = Certificate{} // let the GC have the last chain
	}
	*m = Message{DTLS: dtls, ContentTypes: p.contentTypes[:0], Handshakes: p.handshakes[:0], Certificates: p.certs[:0]}
	return c
}

func (p *Parser) end(m *Message) error {
	p.contentTypes, p.handshakes, p.certs = m.ContentTypes, m.Handshakes, m.Certificates
	return p.err
}

func (p *Parser) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// Records reads TLS records back to back in b, as the TCP framer hands
// them over, sent in direction dir of c (nil: no state). The error is the
// first thing that did not parse; m holds what did.
func (p *Parser) Records(b []byte, c *Conn, dir int, m *Message) error {
	c = p.begin(c, false, m)
	h := &c.half[dir&1]
	var r Record
	for len(b) > 0 {
		n, ok := ReadRecord(b, &r)
		if !ok {
			p.fail(errRecord)
			break
		}
		b = b[n:]
		if len(m.ContentTypes) == 0 {
			m.RecordVersion = r.Version
		}
		m.ContentTypes = append(m.ContentTypes, r.Type)
		switch r.Type {
		case ContentChangeCipherSpec:
			h.ccs = true
		case ContentApplicationData:
			// TLS 1.3 sends the rest of the handshake, and alerts, as
			// application data (RFC 8446 §5.2).
			if c.Version == VersionTLS13 {
				m.Encrypted = true
			}
		case ContentAlert:
			p.alertRecord(r.Fragment, h.ccs, m)
		case ContentHandshake:
			if h.ccs {
				m.Encrypted = true
				continue
			}
			p.tlsHandshake(c, h, r.Fragment, m)
		}
	}
	return p.end(m)
}

// alertRecord reads an alert. A plaintext alert is exactly two bytes
// (RFC 8446 §6); a protected one is longer, or follows ChangeCipherSpec.
func (p *Parser) alertRecord(b []byte, encrypted bool, m *Message) {
	if encrypted || len(b) != 2 {
		m.Encrypted = true
		return
	}
	p.alert = Alert{Level: b[0], Description: b[1]}
	m.Alert = &p.alert
}

// tlsHandshake reads the handshake messages of one record, with what
// earlier records left unfinished (RFC 8446 §5.1: messages may span
// records and records may hold several).
func (p *Parser) tlsHandshake(c *Conn, h *connHalf, b []byte, m *Message) {
	if h.skip > 0 {
		n := min(h.skip, len(b))
		h.skip -= n
		b = b[n:]
	}
	if len(h.buf) > 0 {
		h.buf = append(h.buf, b...)
		rest := p.tlsMessages(c, h, h.buf, m)
		h.buf = h.buf[:copy(h.buf, rest)]
		if len(h.buf) == 0 && cap(h.buf) > 4<<10 {
			h.buf = nil // a large message is done: do not hold its buffer
		}
		return
	}
	if rest := p.tlsMessages(c, h, b, m); len(rest) > 0 {
		h.buf = append(h.buf[:0], rest...)
	}
}

// tlsMessages reads complete handshake messages from w and returns an
// unfinished tail.
func (p *Parser) tlsMessages(c *Conn, h *connHalf, w []byte, m *Message) []byte {
	for len(w) > 0 {
		if len(w) < 4 {
			return w
		}
		n := 4 + (int(w[1])<<16 | int(w[2])<<8 | int(w[3]))
		if n > len(w) {
			if n > MaxHandshakeBuffer {
				m.Handshakes = append(m.Handshakes, w[0])
				h.skip = n - len(w)
				return nil
			}
			return w
		}
		m.Handshakes = append(m.Handshakes, w[0])
		p.handshakeMessage(c, w[0], w[4:n], m)
		w = w[n:]
	}
	return nil
}

// handshakeMessage reads one complete handshake message body.
func (p *Parser) handshakeMessage(c *Conn, typ uint8, body []byte, m *Message) {
	var err error
	switch typ {
	case HandshakeClientHello:
		if err = parseClientHello(body, c.DTLS, &p.ch, &p.names); err == nil {
			m.ClientHello = &p.ch
		}
	case HandshakeServerHello:
		if err = parseServerHello(body, &p.sh, &p.names); err == nil {
			m.ServerHello = &p.sh
			if !p.sh.HelloRetryRequest {
				c.Version = p.sh.Version
			}
		}
	case HandshakeHelloVerifyRequest:
		if c.DTLS {
			if err = parseHelloVerifyRequest(body, &p.hv); err == nil {
				m.HelloVerify = &p.hv
			}
		}
	case HandshakeCertificate:
		tls13 := c.Version == VersionTLS13 || c.Version == VersionDTLS13
		m.Certificates, err = parseCertificates(body, tls13, m.Certificates, m)
	}
	if err != nil {
		p.fail(err)
	}
}

// Datagram reads the DTLS records of one datagram sent in direction dir of
// c (nil: no state, fragments not reassembled).
func (p *Parser) Datagram(b []byte, c *Conn, dir int, m *Message) error {
	stateful := c != nil
	c = p.begin(c, true, m)
	c.DTLS = true
	h := &c.half[dir&1]
	var r Record
	for len(b) > 0 {
		n, ok := ReadDTLSRecord(b, &r)
		if !ok {
			p.fail(errRecord)
			break
		}
		b = b[n:]
		if r.Unified {
			m.Ciphertexts++
			m.Encrypted = true
			continue
		}
		if len(m.ContentTypes) == 0 {
			m.RecordVersion = r.Version
		}
		m.ContentTypes = append(m.ContentTypes, r.Type)
		// RFC 6347 §4.1: epoch 0 is the null cipher; any later epoch is
		// protected.
		switch r.Type {
		case ContentAlert:
			p.alertRecord(r.Fragment, r.Epoch > 0, m)
		case ContentHandshake:
			if r.Epoch > 0 {
				m.Encrypted = true
				continue
			}
			p.dtlsHandshake(c, h, r.Fragment, stateful, m)
		}
	}
	return p.end(m)
}

// dtlsHandshake reads the handshake fragments of one record: each has a
// 12-byte header with message_seq, fragment_offset and fragment_length
// (RFC 6347 §4.2.2). A message in one fragment is read in place; others
// are reassembled when a Conn is kept.
func (p *Parser) dtlsHandshake(c *Conn, h *connHalf, b []byte, stateful bool, m *Message) {
	for len(b) > 0 {
		if len(b) < 12 {
			p.fail(errHandshake)
			return
		}
		typ := b[0]
		length := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		seq := uint16(b[4])<<8 | uint16(b[5])
		off := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
		flen := int(b[9])<<16 | int(b[10])<<8 | int(b[11])
		if 12+flen > len(b) {
			p.fail(errHandshake)
			return
		}
		frag := b[12 : 12+flen]
		b = b[12+flen:]
		m.Handshakes = append(m.Handshakes, typ)
		switch {
		case off == 0 && flen == length:
			p.handshakeMessage(c, typ, frag, m)
		case off+flen > length:
			p.fail(errHandshake)
		case stateful && length <= MaxHandshakeBuffer:
			if body := p.reassemble(h, typ, seq, length, off, frag); body != nil {
				p.handshakeMessage(c, typ, body, m)
			}
		}
	}
}

// reassemble adds a fragment to its message and returns the whole body
// once every byte arrived. The body stays valid until the next call.
func (p *Parser) reassemble(h *connHalf, typ uint8, seq uint16, length, off int, frag []byte) []byte {
	p.age++
	var f *fragMessage
	held := 0
	for i := range h.frag {
		g := &h.frag[i]
		if g.used && g.seq == seq && g.typ == typ && len(g.data) == length {
			f = g
		}
		if g.used {
			held += len(g.data)
		}
	}
	if f == nil {
		// A free slot, else the one untouched longest.
		for i := range h.frag {
			g := &h.frag[i]
			if f == nil || !g.used && f.used || g.used == f.used && g.age < f.age {
				f = g
			}
		}
		if f.used {
			held -= len(f.data)
		}
		if held+length > MaxHandshakeBuffer {
			return nil
		}
		data := f.data[:0]
		if cap(data) < length {
			data = make([]byte, length)
		}
		*f = fragMessage{used: true, typ: typ, seq: seq, data: data[:length]}
	}
	f.age = p.age
	copy(f.data[off:], frag)
	if !f.addSpan(int32(off), int32(off+len(frag))) {
		*f = fragMessage{}
		return nil
	}
	if f.nspans == 1 && f.spans[0] == [2]int32{0, int32(len(f.data))} {
		body := f.data
		*f = fragMessage{} // done: later retransmissions start over
		return body
	}
	return nil
}

// addSpan merges [lo, hi) into the sorted, disjoint spans received. It
// reports false when the spans would exceed maxSpans.
func (f *fragMessage) addSpan(lo, hi int32) bool {
	if lo >= hi {
		return true
	}
	var out [maxSpans + 1][2]int32
	n, placed := 0, false
	for _, s := range f.spans[:f.nspans] {
		switch {
		case s[1] < lo:
			out[n] = s
		case hi < s[0]:
			if !placed {
				out[n] = [2]int32{lo, hi}
				n++
				placed = true
			}
			out[n] = s
		default:
			lo, hi = min(lo, s[0]), max(hi, s[1])
			continue
		}
		n++
	}
	if !placed {
		out[n] = [2]int32{lo, hi}
		n++
	}
	if n > maxSpans {
		return false
	}
	copy(f.spans[:], out[:n])
	f.nspans = n
	return true
}
