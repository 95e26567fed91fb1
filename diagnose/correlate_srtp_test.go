package diagnose

import (
	"net/netip"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/tls"
)

// A relay-to-relay pair with both agents behind the capture point
// (webrtc-relay.pcap): each stream shows on both allocations, and all of
// them belong to the selected pair, which DTLS-SRTP keyed.
func TestRelayPairStreamsAndSRTP(t *testing.T) {
	server := netip.MustParseAddrPort("192.0.2.1:3478")
	allocA := &Allocation{Client: netip.MustParseAddrPort("192.0.2.10:46696"), Server: server, Relayed: netip.MustParseAddrPort("198.51.100.1:49159")}
	allocB := &Allocation{Client: netip.MustParseAddrPort("192.0.2.10:43914"), Server: server, Relayed: netip.MustParseAddrPort("198.51.100.1:49156")}
	other := &Allocation{Client: netip.MustParseAddrPort("192.0.2.10:40000"), Server: server, Relayed: netip.MustParseAddrPort("198.51.100.1:49000")}
	relayed := func(a *Allocation, out bool) *Stream {
		s := &Stream{Src: a.Client, Dst: a.Server, Transport: decode.UDP, Allocation: a}
		if !out {
			s.Src, s.Dst = s.Dst, s.Src
		}
		return s
	}
	streams := []*Stream{relayed(allocA, true), relayed(allocA, false), relayed(allocB, true), relayed(allocB, false), relayed(other, true)}

	newSession := func() *ICESession {
		pair := &CandidatePair{Local: allocA.Relayed, Remote: allocB.Relayed, Transport: decode.UDP, Allocation: allocB, State: "succeeded", Nominated: true}
		return &ICESession{
			Candidates: []ICECandidate{
				{Addr: allocA.Relayed, Type: "relay", Side: "local", Allocation: allocA},
				{Addr: allocB.Relayed, Type: "relay", Side: "remote", Allocation: allocB},
			},
			Pairs: []*CandidatePair{pair}, Selected: pair, Outcome: "connected",
		}
	}
	for _, c := range []struct {
		name     string
		dtls     TLSConnection
		wantSRTP bool
	}{
		{"DTLS 1.2 chose a profile", TLSConnection{Version: tls.VersionDTLS12, SRTPProfile: 1, OfferedSRTPProfiles: []uint16{1}, Outcome: "established"}, true},
		{"DTLS 1.3 hides the choice: the offer stands for it", TLSConnection{Version: tls.VersionDTLS13, OfferedSRTPProfiles: []uint16{1, 7}, Outcome: "established"}, true},
		{"DTLS 1.2 server declined use_srtp", TLSConnection{Version: tls.VersionDTLS12, OfferedSRTPProfiles: []uint16{1}, Outcome: "established"}, false},
		{"no use_srtp offered", TLSConnection{Version: tls.VersionDTLS13, Outcome: "established"}, false},
		{"handshake failed", TLSConnection{Version: tls.VersionDTLS12, SRTPProfile: 1, Outcome: "failed"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, st := range streams {
				st.SRTP = false
			}
			s := newSession()
			linkICEStreams([]*ICESession{s}, streams)
			if len(s.Streams) != 4 {
				t.Fatalf("%d streams on the selected pair, want the 4 through its two allocations", len(s.Streams))
			}
			for _, st := range s.Streams {
				if st.Allocation == other {
					t.Fatalf("a stream of another allocation is on the selected pair")
				}
			}
			dtls := c.dtls
			dtls.DTLS, dtls.Client, dtls.Server, dtls.Transport, dtls.ICE = true, allocB.Relayed, allocA.Relayed, decode.UDP, s
			markSRTP(&dtls, nil)
			for i, st := range streams {
				want := c.wantSRTP && st.Allocation != other
				if st.SRTP != want {
					t.Errorf("stream %d (%s → %s): SRTP %v, want %v", i, st.Src, st.Dst, st.SRTP, want)
				}
			}
		})
	}

	t.Run("DTLS-SRTP without ICE keys its own 5-tuple", func(t *testing.T) {
		a, b := netip.MustParseAddrPort("10.0.0.1:5004"), netip.MustParseAddrPort("10.0.0.2:6004")
		on := []*Stream{{Src: a, Dst: b, Transport: decode.UDP}, {Src: b, Dst: a, Transport: decode.UDP}}
		off := &Stream{Src: a, Dst: netip.MustParseAddrPort("10.0.0.3:6004"), Transport: decode.UDP}
		byEnds := map[[2]netip.AddrPort][]*Stream{{a, b}: {on[0]}, {b, a}: {on[1]}, {off.Src, off.Dst}: {off}}
		dtls := &TLSConnection{DTLS: true, Client: a, Server: b, Transport: decode.UDP, Version: tls.VersionDTLS12, SRTPProfile: 1, Outcome: "established"}
		markSRTP(dtls, byEnds)
		if !on[0].SRTP || !on[1].SRTP || off.SRTP {
			t.Errorf("SRTP %v %v on the DTLS 5-tuple, %v off it; want true true false", on[0].SRTP, on[1].SRTP, off.SRTP)
		}
	})
}
