package decode

import "github.com/callscope/callscope/decode/capture"

// Decoder decodes capture records into Messages. It holds the state that
// reassembly needs (IP fragments, TCP streams) and nothing more. A Decoder is
// not safe for concurrent use.
type Decoder struct {
	stats Stats
}

// NewDecoder returns a Decoder with default limits.
func NewDecoder() *Decoder { return &Decoder{} }

// Decode decodes one record and calls emit for every message it completes:
// none, one, or several (a TCP segment may finish several STUN messages).
// The Message passed to emit is reused after emit returns.
func (d *Decoder) Decode(rec *capture.Record, emit func(*Message)) {
	d.stats.Packets++
	d.stats.Bytes += uint64(len(rec.Data))
	// TODO(helper): implemented by the link/IP/transport work.
}

// Flush ends the capture: TCP streams give up what they hold, fragment
// buffers are dropped and counted.
func (d *Decoder) Flush(emit func(*Message)) {}

// Stats returns the counters so far.
func (d *Decoder) Stats() Stats { return d.stats }
