package decode

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/decode/capture"
)

// TestSIPKeepAliveClassification walks one decoder through a capture: a
// bare CRLF datagram is a keep-alive on port 5060 or on a flow one of
// whose ends carried SIP over UDP, and nothing anywhere else.
func TestSIPKeepAliveClassification(t *testing.T) {
	phone := netipMust("203.0.113.1:38809")
	registrar := netipMust("198.51.100.20:5080") // a registrar off 5060 (FreeSWITCH's external profile)
	register := sipMessage("REGISTER sip:198.51.100.20:5080 SIP/2.0", "ka@phone", "z9hG4bKka1", "1 REGISTER", "")
	ping, pong := []byte("\r\n\r\n"), []byte("\r\n")
	steps := []struct {
		name     string
		src, dst netipAddrPort
		payload  []byte
		after    time.Duration
		want     Kind // 0: nothing emitted
	}{
		{"CRLF before any SIP, off 5060", phone, registrar, ping, 0, 0},
		{"CRLF to 5060 needs no SIP first", netipMust("192.0.2.7:40000"), netipMust("192.0.2.8:5060"), ping, 0, KindSIPKeepAlive},
		{"single CRLF from 5060", netipMust("192.0.2.8:5060"), netipMust("192.0.2.7:40000"), pong, 0, KindSIPKeepAlive},
		{"a DNS query of CRLF", netipMust("192.0.2.7:40001"), netipMust("192.0.2.53:53"), ping, 0, 0},
		{"NTP of CRLF", netipMust("192.0.2.7:123"), netipMust("192.0.2.123:123"), pong, 0, 0},
		{"CRLF between other ports", netipMust("192.0.2.7:40002"), netipMust("192.0.2.9:9999"), ping, 0, 0},
		{"REGISTER", phone, registrar, register, 0, KindSIP},
		{"ping after SIP on the flow", phone, registrar, ping, time.Second, KindSIPKeepAlive},
		{"pong after SIP on the flow", phone, registrar, pong, time.Second, KindSIPKeepAlive},
		{"from a new public port to the registrar", netipMust("203.0.113.1:40123"), registrar, ping, 8 * time.Second, KindSIPKeepAlive},
		{"to DNS from an end that carried SIP", phone, netipMust("192.0.2.53:53"), ping, 0, 0},
		{"three CRLFs", phone, registrar, []byte("\r\n\r\n\r\n"), 0, 0},
		{"CR alone", phone, registrar, []byte("\r"), 0, 0},
		{"CRLFCR", phone, registrar, []byte("\r\n\r"), 0, 0},
		{"LF LF", phone, registrar, []byte("\n\n"), 0, 0},
		{"CRLF and a NUL", phone, registrar, []byte("\r\n\x00"), 0, 0},
		{"still SIP with a leading CRLF", phone, registrar, append([]byte("\r\n"), register...), 0, KindSIP},
		{"the keep-alives renewed the registrar within the TTL", netipMust("203.0.113.1:40124"), registrar, ping, 59 * time.Minute, KindSIPKeepAlive},
		{"after the TTL, off 5060", netipMust("203.0.113.1:40125"), registrar, ping, 61 * time.Minute, 0},
	}
	var r recorder
	var recs []*capture.Record
	ts := t0
	for _, s := range steps {
		ts = ts.Add(s.after + time.Millisecond)
		recs = append(recs, r.at(capture.LinkIPv4, udpIP(t, s.src, s.dst, s.payload, 0), ts))
	}
	got, st := run(t, Options{}, recs...)
	i, keepAlives := 0, uint64(0)
	for n, s := range steps {
		frame := uint64(n + 1)
		var k Kind
		if i < len(got) && got[i].Packet.Frame == frame {
			k = got[i].Kind
			if k == KindSIPKeepAlive {
				keepAlives++
				if got[i].Raw != string(s.payload) || got[i].Packet.Src != s.src || got[i].Packet.Dst != s.dst || got[i].Packet.Transport != UDP {
					t.Errorf("%s: keep-alive %+v", s.name, got[i])
				}
			}
			i++
		}
		if k != s.want {
			t.Errorf("%s: emitted kind %d, want %d", s.name, k, s.want)
		}
	}
	if st.SIPKeepAlives != keepAlives || keepAlives != 6 {
		t.Errorf("stats SIPKeepAlives %d, emitted %d, want 6", st.SIPKeepAlives, keepAlives)
	}
	if st.SIP != 2 {
		t.Errorf("stats SIP %d, want 2: keep-alives are not SIP messages", st.SIP)
	}
}

// TestSIPKeepAliveSmallEndpointSet: the set of SIP endpoints is bounded,
// and what it forgot no longer makes a keep-alive off 5060.
func TestSIPKeepAliveSmallEndpointSet(t *testing.T) {
	var r recorder
	var recs []*capture.Record
	first := netipMust("192.0.2.1:7000")
	recs = append(recs, r.next(capture.LinkIPv4, udpIP(t, first, netipMust("192.0.2.100:7001"),
		sipMessage("OPTIONS sip:x SIP/2.0", "a@b", "z9hG4bK0", "1 OPTIONS", ""), 0)))
	for i := 0; i < 8; i++ { // SIP between other endpoints pushes the first pair out
		src := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.2"), uint16(8000+i))
		recs = append(recs, r.next(capture.LinkIPv4, udpIP(t, src, netipMust("192.0.2.200:8100"),
			sipMessage("OPTIONS sip:x SIP/2.0", "c@d", "z9hG4bK1", "1 OPTIONS", ""), 0)))
	}
	recs = append(recs, r.next(capture.LinkIPv4, udpIP(t, first, netipMust("192.0.2.100:7001"), []byte("\r\n\r\n"), 0)))
	if _, st := run(t, Options{}, recs...); st.SIPKeepAlives != 1 {
		t.Errorf("SIPKeepAlives %d with room for every endpoint, want 1", st.SIPKeepAlives)
	}
	if _, st := run(t, Options{MaxSIPEndpoints: 4}, recs...); st.SIPKeepAlives != 0 {
		t.Errorf("SIPKeepAlives %d: a forgotten endpoint still made a keep-alive", st.SIPKeepAlives)
	}
}

// TestSIPKeepAliveFastPath: ParseUDPRecord and DecodeUDP give what Decode
// gives, and the record is the documented one.
func TestSIPKeepAliveFastPath(t *testing.T) {
	frame := ether(t, udpIP(t, client, netipMust("198.51.100.1:5060"), []byte("\r\n\r\n"), 24<<2))
	rec := &capture.Record{Frame: 7, Time: t0, LinkType: capture.LinkEthernet, Data: frame, OrigLen: len(frame)}
	var ur UDPRecord
	if !ParseUDPRecord(rec, &ur) || ur.IsRTP || ur.MaybeChannelData {
		t.Fatalf("ParseUDPRecord: %+v", ur)
	}
	for _, decodeIt := range []func(*Decoder, func(*Message)){
		func(d *Decoder, emit func(*Message)) { d.Decode(rec, emit) },
		func(d *Decoder, emit func(*Message)) { d.DecodeUDP(&ur, emit) },
	} {
		d := NewDecoder()
		var lines []string
		decodeIt(d, func(m *Message) { lines = append(lines, string(AppendRecord(nil, m))) })
		want := `{"frame":7,"time":"2024-05-01T12:00:00Z","src":"192.0.2.10:50000","dst":"198.51.100.1:5060","transport":"udp","dscp":24,"proto":"sip-keepalive","sip_keepalive":{"length":4}}` + "\n"
		if len(lines) != 1 || lines[0] != want {
			t.Errorf("records %q, want %q", lines, want)
		}
		if st := d.Stats(); st.SIPKeepAlives != 1 || st.UDP != 1 {
			t.Errorf("stats %+v", st)
		}
	}
	if !strings.HasSuffix(string(AppendRecord(nil, &Message{Kind: KindSIPKeepAlive, Payload: []byte("\r\n")})), `"sip_keepalive":{"length":2}}`+"\n") {
		t.Error("a pong's record does not say length 2")
	}
}
