package decode

import (
	"net/netip"
	"time"

	"github.com/callscope/callscope/decode/tls"
)

// DTLS over UDP, and over ICE-TCP.
//
// Every datagram whose first record header is DTLS (RFC 7983 §7 first byte
// 20-63, a DTLS version, a length that fits) is a KindDTLS message. So is
// every RFC 4571 frame of an ICE-TCP connection that passes the same test:
// each frame carries what a datagram would (RFC 6544 §3, RFC 4571 §2),
// so DTLS keeps its datagram semantics there, fragmented handshake
// messages included. The table below keeps a tls.Conn per 5-tuple, UDP
// or TCP, so that handshake messages fragmented across datagrams
// (certificates, mostly: RFC 6347 §4.2.3) are reassembled. It is bounded
// in associations and in bytes; eviction only costs the reassembly of a
// message in progress. DTLS that travels inside TURN (Send/Data
// indications, ChannelData) is not decoded here: the analyzer, which
// knows the allocation and peer, reads it with its own tls.Parser and a
// tls.Conn per association.

// dtlsKey is a 5-tuple: a UDP flow and a TCP connection between the
// same ends are two associations.
type dtlsKey struct {
	a, b      netip.AddrPort // a sorts before b
	transport Transport
}

type dtlsAssoc struct {
	key  dtlsKey
	conn tls.Conn
	last time.Time
	held int
}

type dtlsTable struct {
	max, maxBytes int
	used          int
	idle          time.Duration
	assocs        map[dtlsKey]*dtlsAssoc
	nextSweep     time.Time
}

func (t *dtlsTable) init(o Options) {
	t.max, t.maxBytes, t.idle = o.MaxDTLSAssociations, o.MaxDTLSBytes, o.TCPIdleTimeout
	t.assocs = make(map[dtlsKey]*dtlsAssoc)
}

func (t *dtlsTable) remove(a *dtlsAssoc) {
	t.used -= a.held
	delete(t.assocs, a.key)
}

func (t *dtlsTable) expire(now time.Time) {
	if len(t.assocs) == 0 || now.Before(t.nextSweep) {
		return
	}
	t.nextSweep = now.Add(t.idle / 8)
	for _, a := range t.assocs {
		if now.Sub(a.last) > t.idle {
			t.remove(a)
		}
	}
}

// oldest returns the association silent longest, among those holding
// bytes when holding is set.
func (t *dtlsTable) oldest(holding bool) *dtlsAssoc {
	var old *dtlsAssoc
	for _, a := range t.assocs {
		if holding && a.held == 0 {
			continue
		}
		if old == nil || a.last.Before(old.last) {
			old = a
		}
	}
	return old
}

func (t *dtlsTable) get(key dtlsKey, now time.Time, create bool) *dtlsAssoc {
	if a := t.assocs[key]; a != nil || !create {
		return a
	}
	t.expire(now)
	if len(t.assocs) >= t.max {
		t.remove(t.oldest(false))
	}
	a := &dtlsAssoc{key: key, conn: tls.Conn{DTLS: true}}
	t.assocs[key] = a
	return a
}

// account brings a's share of MaxDTLSBytes up to date and evicts the
// fragments of the associations silent longest past it.
func (t *dtlsTable) account(a *dtlsAssoc) {
	n := a.conn.Held(0) + a.conn.Held(1)
	t.used += n - a.held
	a.held = n
	for t.used > t.maxBytes {
		old := t.oldest(true)
		if old == nil {
			break
		}
		old.conn.Release(0)
		old.conn.Release(1)
		t.used -= old.held
		old.held = 0
	}
}

// emitDTLS decodes a datagram, or an ICE-TCP frame, whose first byte is
// 20-63 as DTLS and emits it. A flow's first DTLS datagram must hold
// nothing but records; later ones need a plausible first record. A
// unified-header record (RFC 9147 §4, first byte 32-63) carries too little
// to be recognized alone: it is DTLS only on a 5-tuple that already
// carried DTLS records.
func (d *Decoder) emitDTLS(p []byte, emit func(*Message)) {
	key, dir := dtlsKey{d.pkt.Src, d.pkt.Dst, d.pkt.Transport}, 0
	if key.b.Compare(key.a) < 0 {
		key.a, key.b, dir = key.b, key.a, 1
	}
	// A flow that carried DTLS needs only a record header; any other
	// datagram must be DTLS records to its last byte.
	a := d.dtls.get(key, d.pkt.Time, false)
	switch {
	case a != nil:
		if !tls.IsDTLSRecord(p) && p[0] < 32 {
			return
		}
	case tls.IsDTLSDatagram(p):
		a = d.dtls.get(key, d.pkt.Time, true)
	default:
		return
	}
	a.last = d.pkt.Time
	m := &d.tlsMsg
	err := d.tlsParser.Datagram(p, &a.conn, dir, m)
	d.dtls.account(a)
	if len(m.ContentTypes) == 0 && m.Ciphertexts == 0 {
		d.malformed()
		return
	}
	if err != nil {
		d.malformed()
	}
	d.stats.DTLS++
	d.stats.DTLSRecords += uint64(len(m.ContentTypes) + m.Ciphertexts)
	d.stats.Certificates += uint64(len(m.Certificates))
	d.msg = Message{Packet: d.pkt, Kind: KindDTLS, TLS: m, Payload: p}
	emit(&d.msg)
}
