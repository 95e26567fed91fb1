package decode_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/stun"
)

// corpusDir holds public captures with tshark's counts
// (../shared/corpus/public/README.md). The conformance test runs only when
// it is present; the project's own tests do not need it.
const corpusDir = "../../shared/corpus/public"

// truthRecord is the part of tshark-truth.jsonl this test compares.
type truthRecord struct {
	Path    string `json:"path"`
	Packets uint64 `json:"packets"`
	STUN    struct {
		Messages       int            `json:"messages"`
		ByMethodClass  map[string]int `json:"by_method_class"`
		ErrorCodes     map[string]int `json:"error_codes"`
		ChannelData    int            `json:"channeldata"`
		MessagesOverTC int            `json:"messages_over_tcp"`
		MessagesOverV6 int            `json:"messages_over_ipv6"`
	} `json:"stun"`
	ClassicSTUN struct {
		Messages int            `json:"messages"`
		ByType   map[string]int `json:"by_type"`
	} `json:"classicstun"`
	SIP struct {
		Messages       int            `json:"messages"`
		Requests       map[string]int `json:"requests"`
		Responses      map[string]int `json:"responses"`
		ByTransport    map[string]int `json:"by_transport"`
		MessagesOverV6 int            `json:"messages_over_ipv6"`
	} `json:"sip"`
	RTPHeur struct {
		Packets int `json:"packets"`
	} `json:"rtp_heur"`
	RTCP struct {
		Frames int `json:"frames"`
	} `json:"rtcp"`
	DTLS struct {
		Frames         int            `json:"frames"`
		ByContentType  map[string]int `json:"records_by_content_type"`
		HandshakeTypes map[string]int `json:"handshake_types"`
	} `json:"dtls"`
	TLS struct {
		Frames       int            `json:"frames"`
		ClientHellos int            `json:"client_hellos"`
		SNI          map[string]int `json:"sni"`
	} `json:"tls"`
}

// stunCounts is what both sides are reduced to before comparing.
type stunCounts struct {
	Packets       uint64
	Messages      int // STUN with cookie plus ChannelData, as tshark's stun.messages
	ByMethodClass map[string]int
	ErrorCodes    map[string]int
	ChannelData   int
	OverTCP       int
	OverIPv6      int
	Classic       int
	ClassicByType map[string]int
}

// conformanceExceptions are files where callscope and tshark 4.0.17 disagree
// on purpose. Each says why; any other difference fails the test.
var conformanceExceptions = map[string]string{
	// Two datagrams start with 0xFF10, which tshark reads as ChannelData on
	// "channel" 0xFF10. RFC 8656 §12 allows channels 0x4000-0x4FFF and RFC
	// 7983 §7 reserves first bytes 64-79 for them: this is Microsoft's
	// proprietary MS-TURN multiplexing, not TURN ChannelData.
	"nDPI/teams.pcap": "0xFF10 is MS-TURN multiplexing, not RFC 8656 ChannelData",
}

func TestConformanceSTUNWithTshark(t *testing.T) {
	truth := readTruth(t)
	for _, want := range truth {
		t.Run(want.Path, func(t *testing.T) {
			got := decodeCounts(t, filepath.Join(corpusDir, want.Path))
			diffs := compareCounts(got, want)
			if len(diffs) == 0 {
				if reason, ok := conformanceExceptions[want.Path]; ok {
					t.Errorf("listed as an exception (%s) but now agrees with tshark: remove the exception", reason)
				}
				return
			}
			if reason, ok := conformanceExceptions[want.Path]; ok {
				t.Logf("known difference (%s):\n%s", reason, strings.Join(diffs, "\n"))
				return
			}
			t.Errorf("differs from tshark:\n%s", strings.Join(diffs, "\n"))
		})
	}
}

func readTruth(t *testing.T) []truthRecord {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "tshark-truth.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("%s is not present: conformance with tshark not checked", corpusDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []truthRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r truthRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("tshark-truth.jsonl: %v", err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// decodeCounts runs the decoder over a file the way `callscope decode` does.
func decodeCounts(t *testing.T, path string) stunCounts {
	c, _ := decodeAllCounts(t, path)
	return c
}

// decodeAllCounts is decodeCounts with the SIP and RTP counts too.
func decodeAllCounts(t *testing.T, path string) (stunCounts, sipRTPCounts) {
	t.Helper()
	c := stunCounts{ByMethodClass: map[string]int{}, ErrorCodes: map[string]int{}, ClassicByType: map[string]int{}}
	sc := sipRTPCounts{Requests: map[string]int{}, Responses: map[string]int{}, ByTransport: map[string]int{}}
	r, err := capture.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	d := decode.NewDecoder()
	emit := func(m *decode.Message) {
		sc.add(m)
		switch m.Kind {
		case decode.KindSTUN:
			s := m.STUN
			if s.Classic {
				c.Classic++
				c.ClassicByType[fmt.Sprintf("0x%04x", s.Type)]++
				return
			}
			c.Messages++
			c.ByMethodClass[s.Method.String()+"/"+tsharkClass(s.Class)]++
			if s.ErrorCode != 0 {
				c.ErrorCodes[fmt.Sprint(s.ErrorCode)]++
			}
		case decode.KindChannelData:
			c.Messages++
			c.ChannelData++
		default:
			return
		}
		if m.Transport == decode.TCP {
			c.OverTCP++
		}
		if m.Src.Addr().Is6() {
			c.OverIPv6++
		}
	}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Logf("read stopped: %v", err)
			break
		}
		d.Decode(rec, emit)
	}
	d.Flush(emit)
	c.Packets = d.Stats().Packets
	return c, sc
}

func tsharkClass(c stun.Class) string {
	switch c {
	case stun.ClassRequest:
		return "Request"
	case stun.ClassIndication:
		return "Indication"
	case stun.ClassSuccess:
		return "SuccessResponse"
	}
	return "ErrorResponse"
}

func compareCounts(got stunCounts, want truthRecord) []string {
	var diffs []string
	check := func(what string, g, w int) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("  %s: callscope %d, tshark %d", what, g, w))
		}
	}
	if got.Packets != want.Packets {
		diffs = append(diffs, fmt.Sprintf("  packets: callscope %d, tshark %d", got.Packets, want.Packets))
	}
	check("stun messages", got.Messages, want.STUN.Messages)
	check("channeldata", got.ChannelData, want.STUN.ChannelData)
	check("messages over tcp", got.OverTCP, want.STUN.MessagesOverTC)
	check("messages over ipv6", got.OverIPv6, want.STUN.MessagesOverV6)
	check("classic stun messages", got.Classic, want.ClassicSTUN.Messages)
	diffs = append(diffs, compareMaps("method/class", got.ByMethodClass, want.STUN.ByMethodClass)...)
	diffs = append(diffs, compareMaps("error code", got.ErrorCodes, want.STUN.ErrorCodes)...)
	diffs = append(diffs, compareMaps("classic type", got.ClassicByType, want.ClassicSTUN.ByType)...)
	return diffs
}

func compareMaps(what string, got, want map[string]int) []string {
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var diffs []string
	for _, k := range sorted {
		if got[k] != want[k] {
			diffs = append(diffs, fmt.Sprintf("  %s %s: callscope %d, tshark %d", what, k, got[k], want[k]))
		}
	}
	return diffs
}

// sipRTPCounts is what SIP and RTP are reduced to before comparing with
// tshark-truth.jsonl's "sip" and "rtp_heur".
type sipRTPCounts struct {
	Messages    int
	Requests    map[string]int // by method, as tshark's sip.Method
	Responses   map[string]int // by status code
	ByTransport map[string]int
	OverIPv6    int
	RTPPackets  int
	RTCP, SRTCP int // datagrams
}

func (c *sipRTPCounts) add(m *decode.Message) {
	switch m.Kind {
	case decode.KindSIP:
		c.Messages++
		if m.SIP.IsRequest {
			c.Requests[string(m.SIP.Method)]++
		} else {
			c.Responses[fmt.Sprint(m.SIP.StatusCode)]++
		}
		c.ByTransport[m.Transport.String()]++
		if m.Src.Addr().Is6() {
			c.OverIPv6++
		}
	case decode.KindRTP:
		c.RTPPackets++
	case decode.KindRTCP:
		if m.SRTCP != nil {
			c.SRTCP++
		} else {
			c.RTCP++
		}
	}
}

// sipConformanceExceptions are files where callscope's SIP counts differ
// from tshark 4.0.17's on purpose. Each says why; any other difference
// fails the test.
var sipConformanceExceptions = map[string]string{
	"heplify/sip_sctp.pcap": "SIP over SCTP: callscope decodes UDP and TCP only",
	// The other 28 messages agree by method and status.
	"heplify/sip_tcp_websocket.pcap": "11 SIP messages in WebSocket frames (RFC 7118) are not decoded yet",
	// Wireshark fuzzer output. tshark counts 3 start lines whose URI scheme
	// was damaged (frames 107 "REGIStER pip:", 264 "CANCEL qip:", 578
	// "INVITE six:"), which sip.LooksLikeSIP refuses (sip:, sips: or tel:
	// only, since it judges any port). tshark refuses 4 start lines with a
	// NUL byte in them (frames 108, 154, 346, 348: "Unauthori%s\x00"),
	// which callscope accepts.
	"nDPI/fuzz-2006-06-26-2594.pcap": "fuzzed start lines: damaged URI schemes tshark accepts, NUL bytes it refuses",
}

// rtpConformanceExceptions are files whose RTP packet count differs from
// tshark's rtp_udp heuristic (rtp_heur.packets). callscope's decode-level
// RTP is "parses as RTP where RFC 7983 leaves the datagram to RTP"; tshark's
// heuristic differs in its own ways. Each entry says why, after checking
// the difference with tshark.
var rtpConformanceExceptions = map[string]string{
	// Frames 1436-1488 (even): PCMA (payload type 8) sent to a port that
	// a re-INVITE had just moved to T.38 (m=image). tshark follows the SDP
	// and dissects them as T.38; the bytes are RTP.
	"nDPI/FAX-Call-t38-CA-TDM-SIP-FB-1.pcap": "27 RTP packets on a port SDP switched to T.38: tshark says T.38",
	// tshark's rtp_stun heuristic reads RTP inside TURN messages. decode
	// emits the ChannelData or Data indication; the RTP inside is for the
	// analyzer's streams, not a decode record of its own.
	"nDPI/adult_content.pcap":          "4 RTP packets inside TURN ChannelData (tshark's rtp_stun heuristic)",
	"nDPI/stun_dtls_rtp.pcapng":        "11 RTP packets inside TURN Data indications over TCP (tshark's rtp_stun heuristic)",
	"nDPI/stun_dtls_rtp_unidir.pcapng": "8 RTP packets inside TURN Send/Data indications (tshark's rtp_stun heuristic)",
	// Frame 630 (Wireshark fuzzer output) is in a flow tshark already took
	// for RTP; its padding count (0xaa) reaches past the datagram, which
	// tshark flags and callscope refuses (RFC 3550 §5.1).
	"nDPI/fuzz-2006-06-26-2594.pcap": "one fuzzed packet with a padding count past its end",
}

func TestConformanceSIPWithTshark(t *testing.T) {
	for _, want := range readTruth(t) {
		t.Run(want.Path, func(t *testing.T) {
			_, got := decodeAllCounts(t, filepath.Join(corpusDir, want.Path))
			var diffs []string
			check := func(what string, g, w int) {
				if g != w {
					diffs = append(diffs, fmt.Sprintf("  %s: callscope %d, tshark %d", what, g, w))
				}
			}
			check("sip messages", got.Messages, want.SIP.Messages)
			check("sip messages over ipv6", got.OverIPv6, want.SIP.MessagesOverV6)
			diffs = append(diffs, compareMaps("request", got.Requests, want.SIP.Requests)...)
			diffs = append(diffs, compareMaps("response", got.Responses, want.SIP.Responses)...)
			diffs = append(diffs, compareMaps("transport", got.ByTransport, want.SIP.ByTransport)...)
			reportConformance(t, diffs, sipConformanceExceptions[want.Path])
		})
	}
}

func TestConformanceRTPWithTshark(t *testing.T) {
	for _, want := range readTruth(t) {
		if want.RTPHeur.Packets == 0 {
			// Where tshark's heuristic finds no RTP, datagrams that merely
			// parse as RTP are expected and not compared.
			continue
		}
		t.Run(want.Path, func(t *testing.T) {
			_, got := decodeAllCounts(t, filepath.Join(corpusDir, want.Path))
			var diffs []string
			if got.RTPPackets != want.RTPHeur.Packets {
				diffs = append(diffs, fmt.Sprintf("  rtp packets: callscope %d, tshark (rtp_udp heuristic) %d", got.RTPPackets, want.RTPHeur.Packets))
			}
			reportConformance(t, diffs, rtpConformanceExceptions[want.Path])
		})
	}
}

// rtcpConformanceExceptions are files where callscope recognizes fewer
// RTCP datagrams, plain or SRTCP, than tshark dissects as RTCP. Each entry
// says why, after checking the frames with tshark.
var rtcpConformanceExceptions = map[string]string{
	// Discord encrypts RTCP its own way: the first packet's header in the
	// clear, then ciphertext, a 16-byte tag and a 4-byte nonce, the layout
	// of AES-GCM SRTCP. The nonce is no SRTCP word: an E flag with an
	// index in the hundreds of millions, or none with ciphertext before
	// it. tshark, which follows the rtcp-mux flow, dissects the header.
	"nDPI/discord.pcap":          "16 RTCP headers over Discord's own encryption, not SRTCP",
	"nDPI/discord_mid_flow.pcap": "30 RTCP headers over Discord's own encryption, not SRTCP",
}

// TestConformanceRTCPWithTshark compares the RTCP datagrams callscope
// recognizes, compounds that parse and SRTCP (rtp.ParseSRTCP), with the
// frames tshark dissects as RTCP. tshark needs a reason to try RTCP:
// SDP, an RTP flow that also carries RTCP (rtcp-mux), or an odd port; and
// its RTCP-over-STUN heuristic wants a length that is a multiple of 4,
// which SRTCP with an HMAC-SHA1 tag never has. It dissects SRTCP's clear
// first packet and stops at the ciphertext (it has no keys), so its frame
// count includes SRTCP. callscope judges every datagram by its shape, so
// its count is at least tshark's: frame by frame, every frame tshark
// dissects as RTCP in the corpus is one callscope recognizes, but for the
// exceptions. Where tshark saw no RTCP there is nothing to compare.
func TestConformanceRTCPWithTshark(t *testing.T) {
	for _, want := range readTruth(t) {
		if want.RTCP.Frames == 0 {
			continue
		}
		t.Run(want.Path, func(t *testing.T) {
			_, got := decodeAllCounts(t, filepath.Join(corpusDir, want.Path))
			var diffs []string
			if got.RTCP+got.SRTCP < want.RTCP.Frames {
				diffs = append(diffs, fmt.Sprintf("  rtcp frames: callscope %d (%d RTCP, %d SRTCP), fewer than tshark's %d",
					got.RTCP+got.SRTCP, got.RTCP, got.SRTCP, want.RTCP.Frames))
			}
			t.Logf("callscope %d RTCP and %d SRTCP datagrams, tshark %d RTCP frames", got.RTCP, got.SRTCP, want.RTCP.Frames)
			reportConformance(t, diffs, rtcpConformanceExceptions[want.Path])
		})
	}
}

// reportConformance fails on differences that no exception explains, and
// on an exception that no longer has a difference to explain.
func reportConformance(t *testing.T, diffs []string, reason string) {
	t.Helper()
	switch {
	case len(diffs) == 0 && reason != "":
		t.Errorf("listed as an exception (%s) but now agrees with tshark: remove the exception", reason)
	case len(diffs) == 0:
	case reason != "":
		t.Logf("known difference (%s):\n%s", reason, strings.Join(diffs, "\n"))
	default:
		t.Errorf("differs from tshark:\n%s", strings.Join(diffs, "\n"))
	}
}

// tlsCounts is what TLS and DTLS are reduced to before comparing with
// tshark-truth.jsonl's "dtls" and "tls".
type tlsCounts struct {
	DTLSFrames     int
	DTLSByType     map[string]int
	DTLSHandshakes map[string]int
	ClientHellos   int
	SNI            map[string]int
}

func decodeTLSCounts(t *testing.T, path string) tlsCounts {
	t.Helper()
	c := tlsCounts{DTLSByType: map[string]int{}, DTLSHandshakes: map[string]int{}, SNI: map[string]int{}}
	r, err := capture.Open(path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer r.Close()
	d := decode.NewDecoder()
	emit := func(m *decode.Message) {
		switch m.Kind {
		case decode.KindDTLS:
			// tshark 4.0 does not dissect DTLS 1.3 unified headers: a
			// datagram of those alone is not a "dtls" frame for it.
			if len(m.TLS.ContentTypes) == 0 {
				return
			}
			c.DTLSFrames++
			for _, ct := range m.TLS.ContentTypes {
				c.DTLSByType[fmt.Sprint(ct)]++
			}
			for _, h := range m.TLS.Handshakes {
				c.DTLSHandshakes[fmt.Sprint(h)]++
			}
		case decode.KindTLS:
			for _, h := range m.TLS.Handshakes {
				if h == 1 {
					c.ClientHellos++
				}
			}
			if ch := m.TLS.ClientHello; ch != nil && ch.SNI != "" {
				c.SNI[ch.SNI]++
			}
		}
	}
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			break
		}
		d.Decode(rec, emit)
	}
	d.Flush(emit)
	return c
}

// tlsConformanceExceptions are files whose TLS or DTLS counts differ from
// tshark 4.0.17's on purpose, each checked with tshark. tshark's "tls"
// frames are not compared: callscope emits application data only once per
// direction (see KindTLS).
var tlsConformanceExceptions = map[string]string{
	// Frame 36 is a TLS 1.0 ClientHello to port 8080, which tshark
	// dissects as HTTP and never tries as TLS (with -d tcp.port==8080,tls
	// it counts it). callscope recognizes TLS on any port.
	"nDPI/KakaoTalk_talk.pcap": "a ClientHello on port 8080, which tshark leaves to HTTP",
}

func TestConformanceTLSWithTshark(t *testing.T) {
	for _, want := range readTruth(t) {
		if want.DTLS.Frames == 0 && want.TLS.Frames == 0 {
			continue
		}
		t.Run(want.Path, func(t *testing.T) {
			got := decodeTLSCounts(t, filepath.Join(corpusDir, want.Path))
			var diffs []string
			check := func(what string, g, w int) {
				if g != w {
					diffs = append(diffs, fmt.Sprintf("  %s: callscope %d, tshark %d", what, g, w))
				}
			}
			check("dtls frames", got.DTLSFrames, want.DTLS.Frames)
			diffs = append(diffs, compareMaps("dtls content type", got.DTLSByType, want.DTLS.ByContentType)...)
			diffs = append(diffs, compareMaps("dtls handshake type", got.DTLSHandshakes, want.DTLS.HandshakeTypes)...)
			check("tls client hellos", got.ClientHellos, want.TLS.ClientHellos)
			diffs = append(diffs, compareMaps("sni", got.SNI, want.TLS.SNI)...)
			reportConformance(t, diffs, tlsConformanceExceptions[want.Path])
		})
	}
}
