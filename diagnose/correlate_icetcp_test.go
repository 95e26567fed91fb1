package diagnose

import (
	gotls "crypto/tls"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/dtls/v3"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/sdp"
	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/decode/tls/tlstest"
)

// TestICETCPStreams: RTP over an ICE-TCP connection (decode emits its RFC
// 4571 frames with Transport TCP) is a stream of its own beside UDP RTP
// with the same addresses, ports and SSRC, through probation, the RTP
// workers, a snapshot and idle retirement, and the report says "tcp".
func TestICETCPStreams(t *testing.T) {
	run := func(t *testing.T, workers int) *Analysis {
		e := NewEngine(Options{IdleTimeout: 2 * time.Second})
		e.startRTPWorkers(workers)
		udp, tcp := voice(300, 0), voice(150, 5000)
		var m decode.Message
		frame := uint64(0)
		for i := range udp {
			frame++
			setRTP(&m, frame, &udp[i])
			e.Observe(&m)
			if i < len(tcp) && i != 40 { // one packet the sender skipped
				frame++
				setRTP(&m, frame, &tcp[i])
				m.Transport = decode.TCP
				e.Observe(&m)
			}
			if i == 100 {
				// Settled as of an hour later: both streams in the view.
				snap := e.Snapshot(m.Time.Add(time.Hour))
				if n := transports(snap.Streams); n[decode.TCP] != 1 || n[decode.UDP] != 1 {
					t.Errorf("snapshot: streams by transport %v, want one of each", n)
				}
			}
		}
		// The TCP stream fell silent at 3 s, the UDP one went on to 6 s:
		// the idle one has been retired meanwhile.
		if workers == 0 && (len(e.retiredStreams) != 1 || e.retiredStreams[0].Transport != decode.TCP) {
			t.Errorf("retired %+v, want the TCP stream", e.retiredStreams)
		}
		return e.Finish(simStart.Add(time.Hour))
	}
	for _, workers := range []int{0, 2} {
		a := run(t, workers)
		if len(a.Streams) != 2 {
			t.Fatalf("workers %d: %d streams, want 2", workers, len(a.Streams))
		}
		for _, s := range a.Streams {
			switch s.Transport {
			case decode.TCP:
				if s.Packets != 149 || s.Lost != 1 || s.SSRC != 0x1234 || s.DSCP.Packets(46) != 149 {
					t.Errorf("workers %d: TCP stream %d packets, %d lost, SSRC %#x, DSCP %v", workers, s.Packets, s.Lost, s.SSRC, s.DSCP)
				}
			case decode.UDP:
				if s.Packets != 300 || s.Lost != 0 {
					t.Errorf("workers %d: UDP stream %d packets, %d lost", workers, s.Packets, s.Lost)
				}
			default:
				t.Errorf("stream over %v", s.Transport)
			}
		}
		b, err := json.Marshal(NewReport(a, nil, "test"))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Streams []struct {
				Transport string `json:"transport"`
				Packets   uint64 `json:"packets"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		got := map[string]uint64{}
		for _, s := range r.Streams {
			got[s.Transport] = s.Packets
		}
		if len(got) != 2 || got["tcp"] != 149 || got["udp"] != 300 {
			t.Errorf("workers %d: report streams %+v", workers, r.Streams)
		}
	}
}

func transports(ss []*Stream) map[decode.Transport]int {
	n := map[decode.Transport]int{}
	for _, s := range ss {
		if s != nil {
			n[s.Transport]++
		}
	}
	return n
}

// TestDTLSOnICETCPPair: DTLS in the RFC 4571 frames of the connection
// whose checks succeeded is the ICE session's, and the RTP streams on that
// connection are its SRTP. DTLS over UDP between the same addresses and
// ports is not on that pair.
func TestDTLSOnICETCPPair(t *testing.T) {
	profiles := []dtls.SRTPProtectionProfile{dtls.SRTP_AES128_CM_HMAC_SHA1_80}
	cert, err := tlstest.SelfSigned("webrtc", nil, nil, 0, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	chunks, cerr, serr := tlstest.DTLS(
		&dtls.Config{Certificates: []gotls.Certificate{cert.TLS}, InsecureSkipVerify: true, SRTPProtectionProfiles: profiles},
		&dtls.Config{Certificates: []gotls.Certificate{cert.TLS}, SRTPProtectionProfiles: profiles})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client %v server %v", cerr, serr)
	}
	for _, dtlsOver := range []decode.Transport{decode.TCP, decode.UDP} {
		e := NewEngine(Options{})
		check, answer := checkA(1, 1, iceB, withUseCandidate()), answerTo(1.05, iceB, iceA, 1)
		check.transport, answer.transport = decode.TCP, decode.TCP
		feedSim(e, []simEvent{check, answer})
		var p tls.Parser
		var msg tls.Message
		conn := tls.Conn{DTLS: true}
		frame := uint64(2000)
		for _, c := range chunks {
			src, dst, dir := iceA, iceB, 0
			if c.FromServer {
				src, dst, dir = iceB, iceA, 1
			}
			_ = p.Datagram(c.Data, &conn, dir, &msg)
			e.Observe(&decode.Message{
				Packet: decode.Packet{Frame: frame, Time: simAt(2 + float64(frame-2000)/100), Src: src, Dst: dst, Transport: dtlsOver},
				Kind:   decode.KindDTLS, TLS: &msg, Payload: c.Data,
			})
			frame++
		}
		var m decode.Message
		pkts := voice(50, 0)
		for i := range pkts {
			pkts[i].at += 3000
			pkts[i].src, pkts[i].dst = iceA, iceB
			setRTP(&m, frame, &pkts[i])
			m.Transport = decode.TCP
			e.Observe(&m)
			frame++
		}
		a := e.Finish(simAt(60))
		s, c := onlySession(t, a), onlyTLS(t, a)
		if s.Selected == nil || s.Selected.Transport != decode.TCP || len(s.Streams) != 1 || s.Streams[0].Transport != decode.TCP {
			t.Fatalf("DTLS over %v: selected %+v, streams %v", dtlsOver, s.Selected, s.Streams)
		}
		onPair := dtlsOver == decode.TCP
		if !c.DTLS || c.Transport != dtlsOver || c.Outcome != "established" || (c.ICE == s) != onPair || (len(s.DTLS) == 1) != onPair {
			t.Errorf("DTLS over %v: dtls %v transport %v outcome %s, tied to the session %v (%d in it); want tied %v",
				dtlsOver, c.DTLS, c.Transport, c.Outcome, c.ICE == s, len(s.DTLS), onPair)
		}
		if s.Streams[0].SRTP != onPair {
			t.Errorf("DTLS over %v: the TCP stream's SRTP %v, want %v", dtlsOver, s.Streams[0].SRTP, onPair)
		}
	}
}

// TestAnnouncedICETCPCandidate: a passive TCP candidate in a call's SDP
// announces media as a UDP one does, so RTP over the connection made to
// it belongs to the call from its first packet, both ways; an active
// candidate's placeholder port 9 announces nothing.
func TestAnnouncedICETCPCandidate(t *testing.T) {
	passive := netip.MustParseAddrPort("198.51.100.20:8443")
	active := netip.MustParseAddrPort("192.0.2.10:9")
	ephemeral := netip.MustParseAddrPort("192.0.2.10:40622")
	call := &Call{CallID: "ice-tcp"}
	opus := map[uint8]sdp.RTPMap{96: {Encoding: "opus", ClockRate: 48000, Channels: 2}}
	answer := audioSDP(netip.MustParseAddrPort("198.51.100.20:50000"), "UDP/TLS/RTP/SAVPF", opus)
	answer.Media[0].Candidates = []sdp.Candidate{
		{Component: 1, Transport: "TCP", Addr: passive, Type: "host", TCPType: "passive"},
	}
	offer := audioSDP(netip.MustParseAddrPort("192.0.2.10:50002"), "UDP/TLS/RTP/SAVPF", opus)
	offer.Media[0].Candidates = []sdp.Candidate{
		{Component: 1, Transport: "tcp", Addr: active, Type: "host", TCPType: "active"},
	}
	e := NewEngine(Options{})
	e.announceMedia(call, &SDPSeen{From: ephemeral, Session: offer})
	e.announceMedia(call, &SDPSeen{From: passive, Session: answer})
	if e.media.announced[active] != nil {
		t.Errorf("the active candidate's port 9 announced media")
	}
	var m decode.Message
	frame := uint64(0)
	for _, dir := range [][2]netip.AddrPort{{ephemeral, passive}, {passive, ephemeral}} {
		pkts := voice(6, 0)
		for i := range pkts {
			pkts[i].src, pkts[i].dst, pkts[i].pt = dir[0], dir[1], 96
			frame++
			setRTP(&m, frame, &pkts[i])
			m.Transport = decode.TCP
			e.Observe(&m)
		}
	}
	e.Finish(simStart.Add(time.Hour))
	if len(call.Streams) != 2 {
		t.Fatalf("the call has %d streams, want both directions of the TCP connection", len(call.Streams))
	}
	for _, s := range call.Streams {
		if s.Transport != decode.TCP || s.Call != call || !s.Signalled || s.ClockRate != 48000 || s.Packets != 6 {
			t.Errorf("stream %v → %v over %v: call %v, signalled %v, clock %d", s.Src, s.Dst, s.Transport, s.Call != nil, s.Signalled, s.ClockRate)
		}
	}
}
