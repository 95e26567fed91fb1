package diagnose

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/tls"
)

// TestDecodeAheadHandOffKeepsRecord drives the decoding side by hand: a
// record copied into a batch's arena emits a TLS handshake (handed off,
// so its batch goes to the correlating side mid-record) and then more
// messages pointing into the record, while the correlating side lags.
// Those messages must still see the record's bytes when they are
// correlated, however many batches the decoding side fills meanwhile.
func TestDecodeAheadHandOffKeepsRecord(t *testing.T) {
	const records, perRecord = 40, 300
	var handedOff int
	p := &decodeAhead{
		full:      make(chan *messageBatch, aheadBatches),
		free:      make(chan *messageBatch, aheadBatches),
		handedOff: make(chan struct{}),
		done:      make(chan struct{}),
		observe:   func(*decode.Message) { handedOff++ },
	}
	for range aheadBatches {
		p.free <- &messageBatch{}
	}
	go func() {
		if !p.take() {
			return
		}
		reused := make([]byte, 1000) // a reader's buffer, overwritten record after record
		for r := range records {
			for i := range reused {
				reused[i] = byte(r)
			}
			data := p.beginRecord(reused, false)
			if r == 0 {
				p.emit(&decode.Message{Kind: decode.KindTLS, TLS: &tls.Message{ClientHello: &tls.ClientHello{}}})
			}
			for j := range perRecord {
				p.emit(&decode.Message{Kind: decode.KindRTP, Packet: decode.Packet{Frame: uint64(r)}, Payload: data[j : j+2]})
			}
			if !p.endRecord() {
				return
			}
		}
		p.cur.err = io.EOF
		p.send()
	}()
	seen := 0
	for {
		m, err := p.next()
		if err != nil {
			break
		}
		if seen == 0 {
			// Lag behind: the decoding side fills every batch it can.
			time.Sleep(50 * time.Millisecond)
		}
		seen++
		if want := []byte{byte(m.Frame), byte(m.Frame)}; !bytes.Equal(m.Payload, want) {
			t.Fatalf("message %d of record %d points at %v, want %v", seen, m.Frame, m.Payload, want)
		}
	}
	p.stop()
	if handedOff != 1 || seen != records*perRecord {
		t.Fatalf("handed off %d, correlated %d in batches; want 1 and %d", handedOff, seen, records*perRecord)
	}
}
