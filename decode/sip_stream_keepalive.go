package decode

// CRLF keep-alives on a SIP stream (TCP): RFC 5626 §4.4.1 has a client keep
// a connection-oriented flow alive with a double CRLF, the ping, which the
// server answers with a single CRLF, the pong (§5.4); RFC 3261 §7.5 has a
// receiver ignore CRLFs before a start line. Both are CRLFs between
// messages, so which ones are keep-alives is decided here, at a message
// boundary the framer reached by framing the message before (a known
// boundary), by these rules:
//
//   - Each "\r\n\r\n" is a ping, whatever follows it in its segment: a
//     double CRLF has no other use between messages, and an RFC 5626
//     server pongs it even when a message follows.
//   - A single "\r\n" is a pong only when it is all its segment carried
//     (the end of one that began in the segment before counts): pongs are
//     written on their own, at once. One that shares its segment with a
//     message, before its start line or after its end, is RFC 3261 §7.5
//     padding and is skipped, as is a third CRLF after a ping.
//   - CRLFs before the first message of a direction, or before the message
//     framing resumed at after a hole or while hunting, are skipped: that
//     boundary was guessed from the start line after them, and the CRLFs
//     may end the headers of a message whose start was not seen.
//
// A keep-alive is emitted in the frame of the segment that completed it,
// as every reassembled message is. A ping split across two segments reads
// as a pong and a skipped CRLF, or two pongs: senders write it whole.
// Nothing is buffered beyond the three bytes of a ping in progress
// ("\r\n\r").

var (
	sipPing = []byte("\r\n\r\n")
	sipPong = []byte("\r\n")
)

// sipBoundaryCRLFs consumes the CRLFs at the start of w, a SIP direction's
// bytes from a message boundary to the end of the current segment, of
// which the last fresh bytes came in that segment. It emits the pings and
// the pong among them (see above) and returns the rest of w; wait says
// that w is a partial CRLF which more bytes may make a ping.
func (d *Decoder) sipBoundaryCRLFs(h *tcpHalf, w []byte, fresh int, emit func(*Message)) (rest []byte, wait bool) {
	for len(w) >= 4 && string(w[:4]) == "\r\n\r\n" {
		if !h.sipLeading {
			d.emitStreamKeepAlive(sipPing, emit)
		}
		w = w[4:]
	}
	switch {
	case string(w) == "\r" || string(w) == "\r\n\r":
		return w, true
	case len(w) >= 2 && w[0] == '\r' && w[1] == '\n':
		// A whole segment of "\r\n", or its end: nothing of this segment
		// came before it (len(w) >= fresh) and nothing follows.
		if len(w) == 2 && fresh <= 2 && !h.sipLeading {
			d.emitStreamKeepAlive(sipPong, emit)
		}
		w = w[2:]
	}
	return w, false
}

// emitStreamKeepAlive emits a ping or pong of a SIP stream, with the
// segment's addresses, frame and time.
func (d *Decoder) emitStreamKeepAlive(b []byte, emit func(*Message)) {
	d.stats.SIPKeepAlives++
	d.msg = Message{Packet: d.pkt, Kind: KindSIPKeepAlive, Payload: b}
	emit(&d.msg)
}
