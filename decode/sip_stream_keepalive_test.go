package decode

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestSIPStreamKeepAlives: on a SIP stream, a double CRLF between messages
// is a ping and a single CRLF written on its own a pong (RFC 5626 §4.4.1),
// each emitted as KindSIPKeepAlive in the frame of the segment that
// completed it; CRLFs that share a segment with a message (RFC 3261 §7.5),
// that belong to a message's headers or body, or that come before a
// direction's first message or after a hole, are none. The SIP messages
// around them are framed as without them.
func TestSIPStreamKeepAlives(t *testing.T) {
	reg := sipMessage("REGISTER sip:registrar.example.org SIP/2.0", "reg@h", "z9hG4bKr1", "1 REGISTER", "")
	ok := sipMessage("SIP/2.0 200 OK", "reg@h", "z9hG4bKr1", "1 REGISTER", "")
	refresh := sipMessage("REGISTER sip:registrar.example.org SIP/2.0", "reg@h", "z9hG4bKr2", "2 REGISTER", "")
	invite := sipMessage("INVITE sip:bob@example.org SIP/2.0", "inv@h", "z9hG4bKi", "1 INVITE", testSDP)
	ping, pong := []byte("\r\n\r\n"), []byte("\r\n")
	framed := map[string]bool{string(reg): true, string(ok): true, string(refresh): true, string(invite): true}
	// A body line end alone in a segment: "c=IN IP4 192.0.2.10" | "\r\n" | "t=0 0...".
	crlfInBody := bytes.Index(invite, []byte("192.0.2.10\r\nt=0")) + len("192.0.2.10")
	n, r := len(reg), len(reg)+len(refresh)

	tests := []struct {
		name      string
		segs      []seg
		want      []string // "2 REGISTER reg@h", "4 client ping", "5 server pong"
		gaps      uint64
		malformed uint64
	}{
		{name: "ping alone",
			segs: []seg{{data: reg}, {fromServer: true, data: ok}, {off: n, data: ping}},
			want: []string{"2 REGISTER reg@h", "3 200 reg@h", "4 client ping"}},
		{name: "pong alone, answering the ping",
			segs: []seg{{data: reg}, {fromServer: true, data: ok}, {off: n, data: ping}, {fromServer: true, off: len(ok), data: pong}},
			want: []string{"2 REGISTER reg@h", "3 200 reg@h", "4 client ping", "5 server pong"}},
		{name: "ping then a message in one segment",
			segs: []seg{{data: reg}, {off: n, data: cat(ping, refresh)}},
			want: []string{"2 REGISTER reg@h", "3 client ping", "3 REGISTER reg@h"}},
		{name: "a message then a ping in one segment",
			segs: []seg{{data: cat(reg, ping)}},
			want: []string{"2 REGISTER reg@h", "2 client ping"}},
		{name: "two pings in one segment",
			segs: []seg{{data: reg}, {off: n, data: cat(ping, ping)}},
			want: []string{"2 REGISTER reg@h", "3 client ping", "3 client ping"}},
		{name: "a CRLF before a message in its segment: RFC 3261 §7.5, no pong",
			segs: []seg{{data: reg}, {off: n, data: cat(pong, refresh)}},
			want: []string{"2 REGISTER reg@h", "3 REGISTER reg@h"}},
		{name: "a CRLF after a message in its segment: no pong",
			segs: []seg{{data: reg}, {fromServer: true, data: cat(ok, pong)}, {off: n, data: refresh}},
			want: []string{"2 REGISTER reg@h", "3 200 reg@h", "4 REGISTER reg@h"}},
		{name: "a third CRLF after a ping: no pong",
			segs: []seg{{data: reg}, {off: n, data: cat(ping, pong)}},
			want: []string{"2 REGISTER reg@h", "3 client ping"}},
		{name: "ping split inside its second CRLF: the segment completing it",
			segs: []seg{{data: reg}, {off: n, data: ping[:3]}, {off: n + 3, data: cat(ping[3:], refresh)}},
			want: []string{"2 REGISTER reg@h", "4 client ping", "4 REGISTER reg@h"}},
		{name: "ping split after its first CRLF: two pongs (senders write it whole)",
			segs: []seg{{data: reg}, {off: n, data: pong}, {off: n + 2, data: pong}},
			want: []string{"2 REGISTER reg@h", "3 client pong", "4 client pong"}},
		{name: "pings between messages across segments",
			segs: []seg{{data: reg}, {off: n, data: ping}, {off: n + 4, data: refresh}, {off: r + 4, data: ping}},
			want: []string{"2 REGISTER reg@h", "3 client ping", "4 REGISTER reg@h", "5 client ping"}},
		{name: "a message split across segments at its empty line: no keep-alive",
			segs: []seg{{data: reg[:n-4]}, {off: n - 4, data: reg[n-4:]}, {off: n, data: refresh[:len(refresh)-2]}, {off: r - 2, data: refresh[len(refresh)-2:]}},
			want: []string{"3 REGISTER reg@h", "5 REGISTER reg@h"}},
		{name: "a body's line end alone in a segment: no pong",
			segs: []seg{{data: invite[:crlfInBody]}, {off: crlfInBody, data: invite[crlfInBody : crlfInBody+2]}, {off: crlfInBody + 2, data: invite[crlfInBody+2:]}},
			want: []string{"4 INVITE inv@h"}},
		{name: "CRLFs before a direction's first message: no keep-alive",
			segs: []seg{{data: ping}, {off: 4, data: cat(ping, reg)}, {fromServer: true, data: pong}, {fromServer: true, off: 2, data: ok}},
			want: []string{"3 REGISTER reg@h", "5 200 reg@h"}},
		{name: "CRLFs before the message framing resumes at after a hole: no keep-alive",
			segs: []seg{{data: reg}, {off: n + 50, data: cat(ping, refresh)}},
			want: []string{"2 REGISTER reg@h", "3 REGISTER reg@h"}, gaps: 1},
		{name: "garbage after a CRLF: framing lost, no keep-alive",
			segs: []seg{{data: reg}, {off: n, data: []byte("\r\n\rgarbage\r\n")}, {off: n + 12, data: refresh}},
			want: []string{"2 REGISTER reg@h", "4 REGISTER reg@h"}, malformed: 1},
		{name: "bare LFs and CRs: no keep-alive",
			segs: []seg{{data: reg}, {off: n, data: []byte("\n\n")}, {off: n + 2, data: []byte("\r\r\n")}, {off: n + 5, data: refresh}},
			want: []string{"2 REGISTER reg@h", "5 REGISTER reg@h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, st := run(t, Options{}, tcpConnection(t, tt.segs)...)
			var gotW []string
			keepAlives := uint64(0)
			for _, m := range got {
				if m.Packet.Transport != TCP {
					t.Errorf("message %+v not over TCP", m)
				}
				switch m.Kind {
				case KindSIP:
					// Bare LFs and CRs before a start line stay in the
					// message, as Parse skips them.
					if !framed[strings.TrimLeft(m.Raw, "\r\n")] {
						t.Errorf("frame %d: Payload %q is not the message sent", m.Packet.Frame, m.Raw)
					}
					gotW = append(gotW, itoa(int(m.Packet.Frame))+" "+m.SIP)
				case KindSIPKeepAlive:
					keepAlives++
					what := map[string]string{"\r\n\r\n": "ping", "\r\n": "pong"}[m.Raw]
					if what == "" {
						t.Errorf("frame %d: keep-alive Payload %q", m.Packet.Frame, m.Raw)
					}
					from := map[bool]string{true: "client", false: "server"}[m.Packet.Src == client]
					gotW = append(gotW, itoa(int(m.Packet.Frame))+" "+from+" "+what)
				default:
					t.Errorf("message %+v", m)
				}
			}
			if !slices.Equal(gotW, tt.want) {
				t.Errorf("got  %q\nwant %q", gotW, tt.want)
			}
			if st.SIPKeepAlives != keepAlives {
				t.Errorf("SIPKeepAlives = %d, %d emitted", st.SIPKeepAlives, keepAlives)
			}
			if st.TCPGaps != tt.gaps || st.Malformed != tt.malformed {
				t.Errorf("TCPGaps %d, Malformed %d; want %d, %d", st.TCPGaps, st.Malformed, tt.gaps, tt.malformed)
			}
		})
	}
}

// TestSIPStreamKeepAliveAddresses: a ping carries the client's addresses,
// its pong the server's, and the records say tcp with their lengths.
func TestSIPStreamKeepAliveAddresses(t *testing.T) {
	reg := sipMessage("REGISTER sip:registrar.example.org SIP/2.0", "reg@h", "z9hG4bKr1", "1 REGISTER", "")
	ok := sipMessage("SIP/2.0 200 OK", "reg@h", "z9hG4bKr1", "1 REGISTER", "")
	d := NewDecoder()
	var lines []string
	for _, rec := range tcpConnection(t, []seg{{data: reg}, {fromServer: true, data: ok},
		{off: len(reg), data: []byte("\r\n\r\n")}, {fromServer: true, off: len(ok), data: []byte("\r\n")}}) {
		d.Decode(rec, func(m *Message) {
			if m.Kind == KindSIPKeepAlive {
				lines = append(lines, string(AppendRecord(nil, m)))
			}
		})
	}
	want := []string{
		`{"frame":4,"time":"2024-05-01T12:00:00.003Z","src":"192.0.2.10:50000","dst":"198.51.100.1:3478","transport":"tcp","dscp":0,"proto":"sip-keepalive","sip_keepalive":{"length":4}}` + "\n",
		`{"frame":5,"time":"2024-05-01T12:00:00.004Z","src":"198.51.100.1:3478","dst":"192.0.2.10:50000","transport":"tcp","dscp":0,"proto":"sip-keepalive","sip_keepalive":{"length":2}}` + "\n",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("records\n%q\nwant\n%q", lines, want)
	}
}

// FuzzSIPStreamKeepAlives cuts a SIP stream (data, after a REGISTER so
// that the direction is SIP) into segments where cuts says and checks
// that nothing panics, that keep-alives are whole CRLF pings and pongs,
// no more than the stream's CRLF pairs, that the buffer stays within
// MaxStreamBytes, and that as long as the framing holds (no malformed
// message) the SIP messages are those of the same stream in one segment:
// keep-alives never change how messages are framed.
func FuzzSIPStreamKeepAlives(f *testing.F) {
	reg := sipMessage("REGISTER sip:registrar.example.org SIP/2.0", "reg@h", "z9hG4bKr1", "1 REGISTER", "")
	refresh := sipMessage("REGISTER sip:registrar.example.org SIP/2.0", "reg@h", "z9hG4bKr2", "2 REGISTER", "")
	invite := sipMessage("INVITE sip:bob@example.org SIP/2.0", "inv@h", "z9hG4bKi", "1 INVITE", testSDP)
	f.Add(cat([]byte("\r\n\r\n"), refresh, []byte("\r\n\r\n\r\n")), []byte{4, 9, 200})
	f.Add(cat([]byte("\r\n\r"), []byte("\n"), invite, []byte("\r\n")), []byte{3, 1, 40, 2})
	f.Add(cat(refresh[:len(refresh)-2], []byte("\r\n\r\n\r\n"), invite), []byte{1, 1, 1, 1, 1, 1})
	f.Add([]byte("\r\n\rgarbage\r\n\r\n\r\n"), []byte{2, 2, 2})
	const maxStream = 1 << 16 // MaxStreamBytes default: no message is cut short
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) > 4096 || len(cuts) > 64 {
			return
		}
		stream := cat(reg, data)
		decodeCut := func(cuts []byte) (sips []string, keepAlives int, st Stats) {
			segs := []seg{{data: reg}}
			off := len(reg)
			for _, c := range cuts {
				if off >= len(stream) {
					break
				}
				end := min(len(stream), off+1+int(c))
				segs = append(segs, seg{off: off, data: stream[off:end]})
				off = end
			}
			if off < len(stream) {
				segs = append(segs, seg{off: off, data: stream[off:]})
			}
			d := NewDecoderWithOptions(Options{MaxStreamBytes: maxStream})
			emit := func(m *Message) {
				switch m.Kind {
				case KindSIP:
					sips = append(sips, string(m.Payload))
				case KindSIPKeepAlive:
					keepAlives++
					if m.Transport != TCP || string(m.Payload) != "\r\n\r\n" && string(m.Payload) != "\r\n" {
						t.Fatalf("keep-alive %q over %v", m.Payload, m.Transport)
					}
				}
			}
			for _, rec := range tcpConnection(t, segs) {
				d.Decode(rec, emit)
				for _, c := range d.tcp.conns {
					for i := range c.half {
						if len(c.half[i].buf) > maxStream+1500 {
							t.Fatalf("%d bytes buffered", len(c.half[i].buf))
						}
					}
				}
			}
			d.Flush(emit)
			return sips, keepAlives, d.Stats()
		}
		sips, keepAlives, st := decodeCut(cuts)
		if pairs := bytes.Count(data, []byte("\r\n")); keepAlives > pairs {
			t.Fatalf("%d keep-alives from %d CRLFs", keepAlives, pairs)
		}
		whole, _, wholeSt := decodeCut(nil)
		if st.Malformed == 0 && wholeSt.Malformed == 0 && st.TCPGaps == 0 && wholeSt.TCPGaps == 0 && !slices.Equal(sips, whole) {
			t.Fatalf("segmented %q\nwhole     %q", sips, whole)
		}
	})
}
