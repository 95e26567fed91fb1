package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/internal/synth"
)

// decoders are a Decoder fed whole records and one fed what
// ParseUDPRecord made of them, side by side.
type decoders struct {
	full, fast *Decoder
}

func newDecoders() *decoders { return &decoders{NewDecoder(), NewDecoder()} }

// check decodes rec both ways and asserts the same messages and stats. It
// reports whether rec took the fast path, and as RTP.
func (ds *decoders) check(t *testing.T, rec *capture.Record) (udp, isRTP bool) {
	t.Helper()
	var ur UDPRecord
	var want, got []string
	ds.full.Decode(rec, func(m *Message) { want = append(want, describe(m)) })
	if ParseUDPRecord(rec, &ur) {
		ds.fast.DecodeUDP(&ur, func(m *Message) { got = append(got, describe(m)) })
	} else {
		ds.fast.Decode(rec, func(m *Message) { got = append(got, describe(m)) })
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("frame %d: Decode emitted %v, DecodeUDP %v", rec.Frame, want, got)
	}
	if !reflect.DeepEqual(ds.full.Stats(), ds.fast.Stats()) {
		t.Fatalf("frame %d: stats %+v, with DecodeUDP %+v", rec.Frame, ds.full.Stats(), ds.fast.Stats())
	}
	return ParseUDPRecord(rec, &ur), ur.IsRTP
}

// describe renders a message with what its pointers point to (JSON
// follows them), so that two Decoders' messages compare by value.
func describe(m *Message) string {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprintf("%+v: %v", *m, err)
	}
	return string(b)
}

func checkMediaRecord(t *testing.T, rec *capture.Record) bool {
	t.Helper()
	_, isRTP := newDecoders().check(t, rec)
	return isRTP
}

func eachRecord(t *testing.T, r *capture.Reader, f func(*capture.Record)) {
	t.Helper()
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		f(rec)
	}
}

// TestParseUDPRecordMatchesDecode runs the fast path against Decode on
// every record of the reference captures and of a synthetic one.
func TestParseUDPRecordMatchesDecode(t *testing.T) {
	paths, _ := filepath.Glob("../pcaps/*.pcap")
	accepted := 0
	for _, p := range paths {
		r, err := capture.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		ds := newDecoders()
		eachRecord(t, r, func(rec *capture.Record) {
			if udp, _ := ds.check(t, rec); udp {
				accepted++
			}
		})
		ds.full.Flush(func(*Message) {})
		r.Close()
	}
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.DefaultConfig(20_000, 3)); err != nil {
		t.Fatal(err)
	}
	r, err := capture.NewReader(&buf, "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	synthetic := 0
	ds := newDecoders()
	eachRecord(t, r, func(rec *capture.Record) {
		if _, isRTP := ds.check(t, rec); isRTP {
			synthetic++
		}
	})
	// Most of a VoIP capture is plain RTP: the fast path must take it.
	if synthetic < 10_000 {
		t.Errorf("fast path took %d of the synthetic capture's ~20000 records", synthetic)
	}
	t.Logf("fast path: %d records of pcaps/, %d synthetic", accepted, synthetic)
}

// TestParseUDPRecordNotRTP checks records that are not plain RTP.
func TestParseUDPRecordNotRTP(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.DefaultConfig(2_000, 5)); err != nil {
		t.Fatal(err)
	}
	r, err := capture.NewReader(&buf, "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	var rtpFrame []byte
	eachRecord(t, r, func(rec *capture.Record) {
		var ur UDPRecord
		if rtpFrame == nil && ParseUDPRecord(rec, &ur) && ur.IsRTP {
			rtpFrame = bytes.Clone(rec.Data)
		}
	})
	if rtpFrame == nil {
		t.Fatal("no RTP frame in the synthetic capture")
	}
	mutate := func(f func(b []byte) []byte) *capture.Record {
		b := f(bytes.Clone(rtpFrame))
		return &capture.Record{Frame: 1, LinkType: capture.LinkEthernet, Data: b, OrigLen: len(b)}
	}
	cases := map[string]*capture.Record{
		"snaplen cut": {Frame: 1, LinkType: capture.LinkEthernet, Data: rtpFrame[:60], OrigLen: len(rtpFrame)},
		"fragment":    mutate(func(b []byte) []byte { b[14+6] |= 0x20; return b }),
		"RTCP type":   mutate(func(b []byte) []byte { b[14+20+8+1] = 200; return b }),
		"DNS port":    mutate(func(b []byte) []byte { b[14+20] = 0; b[14+20+1] = 53; return b }),
		"short UDP":   mutate(func(b []byte) []byte { b[14+20+4], b[14+20+5] = 0xff, 0xff; return b }),
		"TCP":         mutate(func(b []byte) []byte { b[14+9] = 6; return b }),
		"empty":       {Frame: 1, LinkType: capture.LinkEthernet, Data: nil},
		"other link":  {Frame: 1, LinkType: capture.LinkLinuxSLL, Data: rtpFrame, OrigLen: len(rtpFrame)},
	}
	for name, rec := range cases {
		var ur UDPRecord
		if ParseUDPRecord(rec, &ur) && ur.IsRTP {
			t.Errorf("%s: taken as RTP", name)
		}
		checkMediaRecord(t, rec)
	}
	if !checkMediaRecord(t, mutate(func(b []byte) []byte { return b })) {
		t.Error("the unmodified frame was rejected")
	}
}

func FuzzParseUDPRecord(f *testing.F) {
	if b, err := os.ReadFile("../pcaps/sip-loss.pcap"); err == nil && len(b) > 200 {
		f.Add(b[40:200])
	}
	f.Add(ether(f, udpIP(f, client, server, channelData(0x4000, []byte{0x80, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}, false), 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lt := range []capture.LinkType{capture.LinkEthernet, capture.LinkRaw} {
			rec := &capture.Record{Frame: 2, LinkType: lt, Data: data, OrigLen: len(data)}
			checkMediaRecord(t, rec)
			// Again after the flow's ends spoke STUN, which makes a
			// ChannelData guess believable: DecodeUDP then emits it from
			// what ParseUDPRecord parsed.
			var ur UDPRecord
			if !ParseUDPRecord(rec, &ur) || !ur.Src.Addr().Is4() || !ur.Dst.Addr().Is4() {
				continue
			}
			ds := newDecoders()
			stunRec := &capture.Record{Frame: 1, LinkType: capture.LinkEthernet,
				Data: ether(t, udpIP(t, ur.Src, ur.Dst, stunMessage(typeBindingRequest, 1, ""), 0))}
			stunRec.OrigLen = len(stunRec.Data)
			ds.check(t, stunRec)
			ds.check(t, rec)
		}
	})
}

// syntheticRTPRecord returns a plain RTP record of the synthetic capture.
func syntheticRTPRecord(tb testing.TB) *capture.Record {
	var buf bytes.Buffer
	if _, err := synth.Write(&buf, synth.DefaultConfig(2_000, 5)); err != nil {
		tb.Fatal(err)
	}
	r, err := capture.NewReader(&buf, "synthetic")
	if err != nil {
		tb.Fatal(err)
	}
	for {
		rec, err := r.Next()
		if err != nil {
			tb.Fatal("no RTP record in the synthetic capture")
		}
		var ur UDPRecord
		if ParseUDPRecord(rec, &ur) && ur.IsRTP {
			c := *rec
			c.Data = bytes.Clone(rec.Data)
			return &c
		}
	}
}

// BenchmarkParseUDPRecord is the reading goroutine's share of an RTP
// packet; BenchmarkDecodeUDPRecord the decoding goroutine's.
func BenchmarkParseUDPRecord(b *testing.B) {
	rec := syntheticRTPRecord(b)
	var ur UDPRecord
	b.SetBytes(int64(len(rec.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if !ParseUDPRecord(rec, &ur) {
			b.Fatal("not parsed")
		}
	}
}

func BenchmarkDecodeUDPRecord(b *testing.B) {
	rec := syntheticRTPRecord(b)
	var ur UDPRecord
	ParseUDPRecord(rec, &ur)
	d := NewDecoder()
	n := 0
	emit := func(*Message) { n++ }
	b.SetBytes(int64(len(rec.Data)))
	b.ReportAllocs()
	for b.Loop() {
		d.DecodeUDP(&ur, emit)
	}
	if n == 0 {
		b.Fatal("nothing emitted")
	}
}
