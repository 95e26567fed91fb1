package diagnose

import (
	"encoding/binary"
	"net/netip"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/stun"
)

// observeICMP ties an ICMP error to the transaction and allocation of the
// packet it quotes (RFC 792, RFC 4443 §2.4(c): the quote holds the IP and
// transport headers and as much payload as fits, usually a STUN header).
func (e *Engine) observeICMP(m *decode.Message) {
	e.analysis.ICMPErrorCount++
	q := &m.ICMP
	ev := &ICMPEvent{
		FrameRef:    frameRef(m),
		From:        m.Src.Addr(),
		Description: q.Description, // one of the decoder's constant strings
		Flow:        [2]netip.AddrPort{q.QuotedSrc, q.QuotedDst},
		Transport:   q.QuotedTransport,
	}
	if st := e.quotedTransaction(q); st != nil {
		ev.Transaction = st.tx
		if st.tx.ICMP == nil {
			st.tx.ICMP = ev
		}
		if st.alloc != nil {
			ev.Allocation = st.alloc.a
		}
	}
	if ev.Allocation == nil {
		as := e.allocations[flowKey{client: q.QuotedSrc, server: q.QuotedDst, transport: q.QuotedTransport}]
		if as == nil {
			as = e.allocations[flowKey{client: q.QuotedDst, server: q.QuotedSrc, transport: q.QuotedTransport}]
		}
		if as != nil {
			ev.Allocation = as.a
		}
	}
	if ev.Allocation != nil {
		ev.Allocation.Last = ev.FrameRef
	}
	if len(e.analysis.ICMPErrors) < e.maxICMP {
		e.analysis.ICMPErrors = append(e.analysis.ICMPErrors, ev)
	}
}

// quotedTransaction finds the open transaction a quoted packet belongs to:
// by transaction ID when the quote holds a STUN header (a request from the
// client, or a response to it), else the latest unanswered request on the
// quoted flow.
func (e *Engine) quotedTransaction(q *decode.ICMPError) *openTx {
	if p := q.QuotedPayload; len(p) >= stunHeaderSize && p[0]&0xc0 == 0 {
		typ := binary.BigEndian.Uint16(p)
		class := stun.Class((typ>>7)&2 | (typ>>4)&1)
		key := txKey{cookie: binary.BigEndian.Uint32(p[4:]), client: q.QuotedSrc, server: q.QuotedDst, transport: q.QuotedTransport}
		copy(key.id[:], p[8:stunHeaderSize])
		response := class == stun.ClassSuccess || class == stun.ClassError
		if response {
			key.client, key.server = q.QuotedDst, q.QuotedSrc
		}
		if st := e.open[key]; st != nil {
			return st
		}
		// A response sent from another address of the server (RFC 5780).
		if response {
			if st := e.openMatching(key.id, key.cookie, key.client, key.transport); st != nil {
				return st
			}
		}
	}
	st := e.lastOnFlow[flowKey{client: q.QuotedSrc, server: q.QuotedDst, transport: q.QuotedTransport}]
	if st != nil && !st.tx.Answered {
		return st
	}
	return nil
}
