// Command ice-tcp-peer is the far end of pcaps/webrtc-ice-tcp.pcap: a
// WebRTC peer built on Pion (github.com/pion/webrtc) that answers one
// offer, gathers a passive ICE-TCP host candidate (RFC 6544 §4.5) beside
// its UDP one, and sends back the audio it receives.
//
// Chromium gathers active TCP candidates only (its renderer cannot open a
// listening socket: blink's IpcPacketSocketFactory::CreateServerTcpSocket
// is NOTREACHED), so two Chromium peers never meet over TCP; a media
// server or a peer like this one offers the passive end that Chromium's
// active candidate connects to, as Pion's own ice-tcp example does.
//
// make-webrtc-captures.sh builds and runs it in the server namespace; the
// page (webrtc/ice-tcp-call.html) posts its offer to -http and gets the
// answer back. The program serves one call and exits when the
// PeerConnection closes or fails, or after -timeout.
//
// It is a module of its own so that callscope does not depend on
// pion/webrtc.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

func main() {
	httpAddr := flag.String("http", "192.0.2.1:8080", "signalling: POST /offer with the offer SDP, the answer SDP comes back")
	tcpAddr := flag.String("ice-tcp", "192.0.2.1:8443", "the passive ICE-TCP candidate's address")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	log.SetFlags(log.Lmicroseconds)

	tcpListener, err := net.Listen("tcp4", *tcpAddr)
	if err != nil {
		log.Fatal(err)
	}
	host, _, err := net.SplitHostPort(*tcpAddr)
	if err != nil {
		log.Fatal(err)
	}
	only := net.ParseIP(host)

	var se webrtc.SettingEngine
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeTCP4})
	se.SetICETCPMux(webrtc.NewICETCPMux(nil, tcpListener, 64))
	// One address, no mDNS: the capture shows only the candidates the
	// scenario needs and no multicast chatter.
	se.SetIPFilter(func(ip net.IP) bool { return ip.Equal(only) })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))

	done := make(chan string, 1)
	http.HandleFunc("/offer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		answer, err := answerCall(api, string(body), done)
		if err != nil {
			log.Printf("offer: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/sdp")
		fmt.Fprint(w, answer)
	})
	go func() { log.Fatal(http.ListenAndServe(*httpAddr, nil)) }()
	log.Printf("listening: signalling http://%s/offer, ICE-TCP %s", *httpAddr, tcpListener.Addr())

	select {
	case why := <-done:
		log.Printf("done: %s", why)
		time.Sleep(500 * time.Millisecond) // let the close's packets go out
	case <-time.After(*timeout):
		log.Printf("done: timeout")
		os.Exit(1)
	}
}

// answerCall answers offer with all candidates gathered (no trickle: the
// page posts once) and reflects the caller's audio back on a track of
// its own, so that media flows both ways.
func answerCall(api *webrtc.API, offer string, done chan<- string) (string, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	out, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "ice-tcp-peer")
	if err != nil {
		return "", err
	}
	sender, err := pc.AddTrack(out)
	if err != nil {
		return "", err
	}
	go func() {
		// Reading lets the interceptors handle the caller's RTCP.
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		log.Printf("track: %s, SSRC %d", track.Codec().MimeType, track.SSRC())
		for {
			p, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			if err := out.WriteRTP(p); err != nil {
				return
			}
		}
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) { log.Printf("ice: %s", s) })
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		log.Printf("connection: %s", s)
		switch s {
		case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed:
			select {
			case done <- s.String():
			default:
			}
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", err
	}
	<-gathered
	return pc.LocalDescription().SDP, nil
}
