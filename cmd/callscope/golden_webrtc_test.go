package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callscope/callscope/diagnose"
)

// The tls-*, turn-tls, turn-dtls and webrtc-* entries of
// pcaps/expected.json: TLS connections and ICE sessions in the JSON report,
// the decode records against tshark's TLS, DTLS and STUN counts, key frames,
// and the evidence block of turn.allocate-timeout.

type expectedTLSConnection struct {
	Client      string  `json:"client"`
	Server      string  `json:"server"`
	Transport   string  `json:"transport"`
	DTLS        bool    `json:"dtls"`
	SNI         *string `json:"sni"`
	Version     *string `json:"version"` // null when no ServerHello
	Outcome     string  `json:"outcome"`
	CipherSuite string  `json:"cipher_suite"`
	// Certificate is an object, or the string "not visible" (TLS 1.3).
	Certificate json.RawMessage `json:"certificate"`
	Alert       *struct {
		Level       string `json:"level"`
		Description string `json:"description"` // "handshake_failure (40)"
		SentBy      string `json:"sent_by"`
		Frame       uint64 `json:"frame"`
	} `json:"alert"`
}

type expectedCertificate struct {
	Subject   string    `json:"subject"`
	SAN       []string  `json:"san"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Key       string    `json:"key"` // "RSA 2048"
	SHA256    string    `json:"sha256"`
}

type expectedICESession struct {
	Ufrags       []string `json:"ufrags"`
	Outcome      string   `json:"outcome"`
	Transport    string   `json:"transport"` // the selected pair's; udp when absent
	SelectedPair struct {
		// "198.51.100.1:49159 (relay)"; "(learned)" for an address only
		// the checks showed, with no SDP to give its type.
		Local  string `json:"local"`
		Remote string `json:"remote"` // the controlling agent's is local
	} `json:"selected_pair"`
	Candidates string `json:"candidates"` // prose
}

// tsharkTLS is one protocol's block (tls or dtls) of make-webrtc-captures.sh
// --summary: a fragmented DTLS handshake message counts once.
type tsharkTLS struct {
	Handshake          map[string]int `json:"handshake"`
	ClientHello        int            `json:"client_hello"`
	ClientHelloVersion map[string]int `json:"client_hello_version"` // the newest each offers
	SNI                map[string]int `json:"sni"`
	ServerHelloVersion map[string]int `json:"server_hello_version"`
	Alerts             map[string]int `json:"alerts"` // clear-text: "fatal handshake_failure"
	Records            map[string]int `json:"records"`
}

// webrtcEvidence is the evidence block of these captures. Unknown rules or
// fields make the test fail, so that evidence added to expected.json is not
// silently left unchecked.
type webrtcEvidence struct {
	AllocateTimeout *struct {
		Findings int `json:"findings"`
		// SendOffsets: per client port, when each send of the
		// unanswered Allocate left, from the first (seconds).
		SendOffsets map[string][]float64 `json:"send_offsets_s"`
	} `json:"turn.allocate-timeout"`
}

// isWebRTCCapture: the entry describes TLS, DTLS or ICE, as the captures of
// make-webrtc-captures.sh do (their tshark blocks have tls and dtls).
func isWebRTCCapture(want expectedCapture) bool {
	return want.Tshark.TLS != nil || want.Tshark.DTLS != nil || want.TLSConnections != nil || want.ICESessions != nil
}

// relayedPayloads: tshark counted messages inside TURN (its heuristics on),
// which decode records, one per top-level message, do not show.
func relayedPayloads(want expectedCapture) bool {
	return len(want.Tshark.STUNInTURN) > 0 || want.Tshark.RTPInTURN > 0
}

var handshakeNames = map[uint8]string{
	0: "hello_request", 1: "client_hello", 2: "server_hello", 3: "hello_verify_request",
	4: "new_session_ticket", 5: "end_of_early_data", 6: "hello_retry_request", 8: "encrypted_extensions",
	11: "certificate", 12: "server_key_exchange", 13: "certificate_request", 14: "server_hello_done",
	15: "certificate_verify", 16: "client_key_exchange", 20: "finished", 24: "key_update",
}

var contentTypeNames = map[uint8]string{20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data", 24: "heartbeat", 25: "tls12_cid", 26: "ack"}

func withoutAppData(m map[string]int) map[string]int {
	m = maps.Clone(m)
	delete(m, "application_data")
	return m
}

func handshakeName(ty uint8) string {
	if n, ok := handshakeNames[ty]; ok {
		return n
	}
	return "type " + strconv.Itoa(int(ty))
}

// tlsDecodeCounts counts decode records as the tshark block counts
// messages. A DTLS message split into fragments (RFC 6347 §4.2.3) gives one
// "handshake" entry per fragment; the fragments of one message follow each
// other from one side, so a type repeated by the same side of the same
// association, with nothing from the other side in between, is the same
// message. (A ClientHello repeated after a HelloVerifyRequest is not.)
func tlsDecodeCounts(recs []decodeRecord, dtls bool) tsharkTLS {
	c := tsharkTLS{Handshake: map[string]int{}, SNI: map[string]int{}, Alerts: map[string]int{}, Records: map[string]int{},
		ClientHelloVersion: map[string]int{}, ServerHelloVersion: map[string]int{}}
	type last struct {
		from string
		ty   uint8
		ok   bool
	}
	lastOf := map[string]*last{} // by association: both ends, sorted
	for _, r := range recs {
		tr := r.TLS
		if dtls {
			tr = r.DTLS
		}
		if tr == nil {
			continue
		}
		assoc := strings.Join(slices.Sorted(slices.Values([]string{r.Src, r.Dst})), " ")
		l := lastOf[assoc]
		if l == nil {
			l = &last{}
			lastOf[assoc] = l
		}
		if l.from != r.Src {
			l.ok = false
		}
		l.from = r.Src
		for _, ct := range tr.ContentTypes {
			name, ok := contentTypeNames[ct]
			if !ok {
				name = "type " + strconv.Itoa(int(ct))
			}
			c.Records[name]++
		}
		for _, ty := range tr.Handshake {
			if dtls && l.ok && l.ty == ty {
				continue
			}
			l.ty, l.ok = ty, true
			c.Handshake[handshakeName(ty)]++
			if ty == 1 {
				c.ClientHello++
				if tr.SNI != "" {
					c.SNI[tr.SNI]++
				}
			}
		}
		if a := tr.Alert; a != nil {
			c.Alerts[a.Level+" "+a.Description]++
		}
	}
	return c
}

// checkTLSDecode compares the tls and dtls decode records with tshark's
// counts: handshake messages by type, ClientHellos, SNI, clear-text alerts
// and records by content type. Captures without a tls or dtls block have
// no such records. The versions are the report's (checkWebRTCCapture): a
// decode record holds the record layer's version, not the hellos'.
func checkTLSDecode(t *testing.T, want expectedCapture, recs []decodeRecord) {
	t.Helper()
	for _, p := range []struct {
		name string
		dtls bool
		want *tsharkTLS
	}{{"tls", false, want.Tshark.TLS}, {"dtls", true, want.Tshark.DTLS}} {
		got := tlsDecodeCounts(recs, p.dtls)
		w := p.want
		if w == nil || p.dtls && relayedPayloads(want) {
			// Not a TLS capture, or DTLS relayed inside TURN, which tshark's
			// heuristics count and decode records do not show: it is
			// compared in the report instead (checkWebRTCCapture).
			w = &tsharkTLS{}
		}
		for _, m := range []struct {
			what      string
			got, want map[string]int
		}{
			{"handshake messages by type", got.Handshake, w.Handshake},
			{"SNI values", got.SNI, w.SNI},
			{"clear-text alerts", got.Alerts, w.Alerts},
			{"records by content type", withoutAppData(got.Records), withoutAppData(w.Records)},
		} {
			if !mapsEqual(m.got, m.want) {
				t.Errorf("%s %s:\n got  %v\n want %v", p.name, m.what, m.got, m.want)
			}
		}
		if got.ClientHello != w.ClientHello {
			t.Errorf("%s: %d ClientHellos in the records, tshark counts %d", p.name, got.ClientHello, w.ClientHello)
		}
		// Over TCP, decode emits the first application data record of
		// each direction and skips the others by their header
		// (decode/tlsstream.go); tshark 4.0 calls TLS 1.3's outer type
		// opaque_type and does not count it as application data.
		gotAD, wantAD := got.Records["application_data"], w.Records["application_data"]
		switch {
		case p.dtls && gotAD != wantAD:
			t.Errorf("%s: %d application data records, tshark counts %d", p.name, gotAD, wantAD)
		case !p.dtls && wantAD > 0 && (gotAD == 0 || gotAD > wantAD):
			t.Errorf("%s: %d application data records, want 1 to %d (the first of each direction of the %d tshark counts)", p.name, gotAD, wantAD, wantAD)
		case !p.dtls && wantAD == 0 && gotAD > 2*w.ServerHelloVersion["TLS 1.3"]:
			t.Errorf("%s: %d application data records where tshark counts none and %d TLS 1.3 connections", p.name, gotAD, w.ServerHelloVersion["TLS 1.3"])
		}
	}
	if isWebRTCCapture(want) {
		checkTLSKeyFrames(t, want, recs)
	}
}

// tlsKeyFrames says what the decode records of each key frame of the
// TLS, DTLS and WebRTC entries must hold. nil: the frame has no record
// (ICMP).
var tlsKeyFrames = map[string]func(rs []decodeRecord) bool{
	"client_hello":                handshakeIn(1),
	"server_hello":                handshakeIn(2),
	"server_hello_certificate":    handshakeIn(2, 11),
	"hello_verify_request":        handshakeIn(3),
	"certificate_fragments":       handshakeIn(11),
	"client_key_exchange":         handshakeIn(16),
	"new_session_ticket_finished": handshakeIn(4),
	"application_data":            contentTypeIn(23),
	"encrypted_close_notify": func(rs []decodeRecord) bool {
		tr := tlsOf(rs)
		return tr != nil && tr.Encrypted && slices.Equal(tr.ContentTypes, []uint8{21}) && tr.Alert == nil
	},
	"fatal_alert": func(rs []decodeRecord) bool {
		tr := tlsOf(rs)
		return tr != nil && tr.Alert != nil && tr.Alert.Level == "fatal"
	},
	"binding_to_server":                 stunIs("Binding", "request"),
	"binding_sends":                     stunIs("Binding", "request"),
	"allocate_sends":                    stunIs("Allocate", "request"),
	"allocate_401":                      stunIs("Allocate", "error"),
	"allocate_success":                  stunIs("Allocate", "success"),
	"create_permission":                 stunIs("CreatePermission", "request"),
	"channel_bind_success":              stunIs("ChannelBind", "success"),
	"refresh_lifetime_0":                stunIs("Refresh", "request"),
	"icmp_port_unreachable_from_client": nil,
}

func tlsOf(rs []decodeRecord) *tlsRecord {
	if len(rs) != 1 {
		return nil
	}
	if rs[0].TLS != nil {
		return rs[0].TLS
	}
	return rs[0].DTLS
}

func handshakeIn(types ...uint8) func([]decodeRecord) bool {
	return func(rs []decodeRecord) bool {
		tr := tlsOf(rs)
		if tr == nil {
			return false
		}
		for _, ty := range types {
			if !slices.Contains(tr.Handshake, ty) {
				return false
			}
		}
		return true
	}
}

func contentTypeIn(ct uint8) func([]decodeRecord) bool {
	return func(rs []decodeRecord) bool {
		tr := tlsOf(rs)
		return tr != nil && slices.Contains(tr.ContentTypes, ct)
	}
}

func stunIs(method, class string) func([]decodeRecord) bool {
	return func(rs []decodeRecord) bool {
		return len(rs) == 1 && rs[0].STUN != nil && rs[0].STUN.Method == method && rs[0].STUN.Class == class
	}
}

// allKeyFrames reads a key_frames value: a frame, a list, a list of lists
// or an object of lists by client port (whose records must come from that
// port).
func allKeyFrames(t *testing.T, key string, raw json.RawMessage) (frames []uint64, port map[uint64]string) {
	t.Helper()
	var one uint64
	if json.Unmarshal(raw, &one) == nil {
		return []uint64{one}, nil
	}
	var many []uint64
	if json.Unmarshal(raw, &many) == nil {
		return many, nil
	}
	var nested [][]uint64
	if json.Unmarshal(raw, &nested) == nil {
		return slices.Concat(nested...), nil
	}
	var byPort map[string][]uint64
	if err := json.Unmarshal(raw, &byPort); err != nil {
		t.Fatalf("expected.json key_frames %s: %v", key, err)
	}
	port = map[uint64]string{}
	for p, fs := range byPort {
		for _, f := range fs {
			port[f] = p
		}
		frames = append(frames, fs...)
	}
	slices.Sort(frames)
	return frames, port
}

func checkTLSKeyFrames(t *testing.T, want expectedCapture, recs []decodeRecord) {
	t.Helper()
	byFrame := map[uint64][]decodeRecord{}
	for _, r := range recs {
		byFrame[r.Frame] = append(byFrame[r.Frame], r)
	}
	for _, key := range slices.Sorted(maps.Keys(want.KeyFrames)) {
		is, ok := tlsKeyFrames[key]
		if !ok {
			t.Errorf("expected.json: key frame %q unknown to golden_webrtc_test.go", key)
			continue
		}
		frames, ports := allKeyFrames(t, key, want.KeyFrames[key])
		for _, fr := range frames {
			rs := byFrame[fr]
			if is == nil {
				if len(rs) != 0 {
					t.Errorf("key frame %s (%d): %d records, want none", key, fr, len(rs))
				}
				continue
			}
			if !is(rs) {
				t.Errorf("key frame %s (%d): records %+v do not hold it", key, fr, rs)
			}
			if p := ports[fr]; p != "" && (len(rs) != 1 || !strings.HasSuffix(rs[0].Src, ":"+p)) {
				t.Errorf("key frame %s (%d) is not from port %s: %+v", key, fr, p, rs)
			}
		}
	}
}

// checkWebRTCCapture compares the JSON report of a TLS, DTLS or WebRTC
// capture with its entry: TLS connections, ICE sessions, relayed DTLS and
// RTP against tshark's heuristic counts, and the evidence block.
func checkWebRTCCapture(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	if len(r.Captures) != 1 || r.Captures[0].First.IsZero() {
		t.Fatalf("captures %+v, want one with its first packet's time", r.Captures)
	}
	captured := r.Captures[0].First
	checkTLSConnections(t, want, r, captured)
	checkICESessions(t, want, r)
	checkTLSVersions(t, want, r)
	checkRelayed(t, want, r)
	checkWebRTCEvidence(t, want, r)
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func tlsConnectionOf(r *diagnose.Report, client, server string) *diagnose.TLSConnectionReport {
	for i := range r.TLSConnections {
		if c := &r.TLSConnections[i]; c.Client == client && c.Server == server {
			return c
		}
	}
	return nil
}

// commonNameOf reads "CN=x" as x: decode/tls gives a subject's CN alone
// when it has one, and the whole distinguished name otherwise.
func commonNameOf(dn string) string {
	if cn, ok := strings.CutPrefix(dn, "CN="); ok && !strings.Contains(cn, ",") {
		return cn
	}
	return dn
}

func checkTLSConnections(t *testing.T, want expectedCapture, r *diagnose.Report, captured time.Time) {
	t.Helper()
	// An entry without tls_connections describes its DTLS through its ICE
	// sessions (checkICESessions, checkRelayed).
	if (want.TLSConnections != nil || want.Tshark.DTLS == nil || want.Tshark.DTLS.ClientHello == 0) &&
		len(r.TLSConnections) != len(want.TLSConnections) {
		t.Errorf("%d tls_connections, want %d", len(r.TLSConnections), len(want.TLSConnections))
	}
	selfSigned, expired := false, false
	for _, w := range want.TLSConnections {
		got := tlsConnectionOf(r, w.Client, w.Server)
		if got == nil {
			t.Errorf("no TLS connection %s → %s", w.Client, w.Server)
			continue
		}
		id := w.Client + " → " + w.Server
		if got.Transport != w.Transport || got.DTLS != w.DTLS || got.SNI != derefString(w.SNI) ||
			got.Version != derefString(w.Version) || got.Outcome != w.Outcome || got.CipherSuite != w.CipherSuite {
			t.Errorf("%s: %s dtls %v SNI %q version %q %s cipher %q; want %s dtls %v SNI %q version %q %s cipher %q", id,
				got.Transport, got.DTLS, got.SNI, got.Version, got.Outcome, got.CipherSuite,
				w.Transport, w.DTLS, derefString(w.SNI), derefString(w.Version), w.Outcome, w.CipherSuite)
		}

		var visibility string
		var cert *expectedCertificate
		switch {
		case len(w.Certificate) == 0 || string(w.Certificate) == "null":
		case json.Unmarshal(w.Certificate, &visibility) == nil:
			if visibility != "not visible" {
				t.Fatalf("expected.json %s: certificate %q", id, visibility)
			}
			if !got.CertificateEncrypted || len(got.Certificates) != 0 {
				t.Errorf("%s: certificate_encrypted %v with %d certificates, want not visible", id, got.CertificateEncrypted, len(got.Certificates))
			}
		default:
			dec := json.NewDecoder(bytes.NewReader(w.Certificate))
			dec.DisallowUnknownFields()
			cert = new(expectedCertificate)
			if err := dec.Decode(cert); err != nil {
				t.Fatalf("expected.json %s certificate: %v (teach golden_webrtc_test.go the new field)", id, err)
			}
		}
		if cert == nil && visibility == "" && len(got.Certificates) != 0 {
			t.Errorf("%s: %d certificates where the capture shows none", id, len(got.Certificates))
		}
		if cert != nil {
			if len(got.Certificates) == 0 {
				t.Errorf("%s: no certificate, want %s (SHA-256 %s)", id, cert.Subject, cert.SHA256)
				continue
			}
			leaf := got.Certificates[0]
			key := leaf.KeyType + " " + strconv.Itoa(leaf.KeyBits)
			if commonNameOf(leaf.Subject) != commonNameOf(cert.Subject) || commonNameOf(leaf.Issuer) != commonNameOf(cert.Issuer) ||
				!slices.Equal(leaf.DNSNames, cert.SAN) || !leaf.NotBefore.Equal(cert.NotBefore) || !leaf.NotAfter.Equal(cert.NotAfter) ||
				key != cert.Key || leaf.SHA256 != cert.SHA256 {
				t.Errorf("%s: certificate\n got  %q issuer %q SAN %v %s – %s %s %s\n want %q issuer %q SAN %v %s – %s %s %s", id,
					leaf.Subject, leaf.Issuer, leaf.DNSNames, leaf.NotBefore, leaf.NotAfter, key, leaf.SHA256,
					cert.Subject, cert.Issuer, cert.SAN, cert.NotBefore, cert.NotAfter, cert.Key, cert.SHA256)
			}
			if want := cert.Issuer == cert.Subject; leaf.SelfSigned != want {
				t.Errorf("%s: self_signed %v, want %v (issuer %q, subject %q)", id, leaf.SelfSigned, want, cert.Issuer, cert.Subject)
			}
			selfSigned = selfSigned || cert.Issuer == cert.Subject
			expired = expired || captured.After(cert.NotAfter)
		}

		var fatal []diagnose.TLSAlertReport
		for _, al := range got.Alerts {
			if al.Level == "fatal" {
				fatal = append(fatal, al)
			}
		}
		if a := w.Alert; a != nil {
			desc := fmt.Sprintf("%s (%d)", fatalName(fatal), fatalCode(fatal))
			if len(fatal) != 1 || fatal[0].Level != a.Level || desc != a.Description || fatal[0].From != a.SentBy || fatal[0].Frame != a.Frame {
				t.Errorf("%s: fatal alerts %+v, want one %s %s from the %s in frame %d", id, fatal, a.Level, a.Description, a.SentBy, a.Frame)
			}
		} else if len(fatal) != 0 {
			t.Errorf("%s: fatal alerts %+v where the capture has none in clear", id, fatal)
		}
	}
	// The certificates and the rules agree.
	if selfSigned != (want.MustFire["tls.self-signed"] != nil) {
		t.Errorf("expected.json: a self-signed certificate %v, tls.self-signed in must_fire %v", selfSigned, want.MustFire["tls.self-signed"] != nil)
	}
	if expired != (want.MustFire["tls.expired"] != nil) {
		t.Errorf("expected.json: an expired certificate %v, tls.expired in must_fire %v", expired, want.MustFire["tls.expired"] != nil)
	}
}

func fatalName(as []diagnose.TLSAlertReport) string {
	if len(as) == 0 {
		return ""
	}
	return as[0].Description
}

func fatalCode(as []diagnose.TLSAlertReport) uint8 {
	if len(as) == 0 {
		return 0
	}
	return as[0].Code
}

// checkTLSVersions: the versions tshark saw offered (the newest of each
// ClientHello) and chosen are those of the report's connections.
func checkTLSVersions(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	for _, p := range []struct {
		name string
		dtls bool
		want *tsharkTLS
	}{{"tls", false, want.Tshark.TLS}, {"dtls", true, want.Tshark.DTLS}} {
		offered, chosen := map[string]bool{}, map[string]bool{}
		for _, c := range r.TLSConnections {
			if c.DTLS != p.dtls {
				continue
			}
			if len(c.OfferedVersions) > 0 {
				offered[newestVersion(c.OfferedVersions)] = true
			}
			if c.Version != "" {
				chosen[c.Version] = true
			}
		}
		w := p.want
		if w == nil {
			w = &tsharkTLS{}
		}
		if got, w := slices.Sorted(maps.Keys(offered)), slices.Sorted(maps.Keys(w.ClientHelloVersion)); !slices.Equal(got, w) {
			t.Errorf("%s: newest versions offered %v, tshark %v", p.name, got, w)
		}
		if got, w := slices.Sorted(maps.Keys(chosen)), slices.Sorted(maps.Keys(w.ServerHelloVersion)); !slices.Equal(got, w) {
			t.Errorf("%s: versions chosen %v, tshark %v", p.name, got, w)
		}
	}
}

// newestVersion picks the newest of "TLS 1.2", "TLS 1.3", "DTLS 1.2"…
// by name: within one protocol the names sort by version.
func newestVersion(vs []string) string {
	return slices.Max(vs)
}

// checkRelayed compares what tshark's TURN heuristics found inside TURN
// with the report: relayed DTLS associations (each message crosses the
// capture point once per leg), the ICE checks relayed, and the RTP.
func checkRelayed(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	if !relayedPayloads(want) {
		return
	}
	if w := want.Tshark.DTLS; w != nil && w.ClientHello > 0 {
		for _, c := range r.TLSConnections {
			if !c.DTLS {
				continue
			}
			if c.Allocation == nil {
				t.Errorf("DTLS %s → %s: not tied to the allocation that relayed it", c.Client, c.Server)
			}
			for ty := range w.Handshake {
				switch ty {
				case "client_hello":
					if c.ClientHelloFrame == 0 {
						t.Errorf("DTLS %s → %s: no ClientHello frame; tshark sees %d", c.Client, c.Server, w.Handshake[ty])
					}
				case "server_hello":
					if c.ServerHelloFrame == 0 {
						t.Errorf("DTLS %s → %s: no ServerHello frame; tshark sees %d", c.Client, c.Server, w.Handshake[ty])
					}
				}
			}
		}
		if len(r.TLSConnections) == 0 {
			t.Errorf("no DTLS association; tshark sees %d ClientHellos inside TURN", w.ClientHello)
		}
	}
	// Checks are counted per copy (retransmissions and both legs of the
	// relay), as tshark counts them; answers per check.
	checks, answered := 0, 0
	for _, s := range r.ICESessions {
		for _, p := range s.Pairs {
			checks += p.Checks
			answered += p.Answered
		}
	}
	if w := want.Tshark.STUNInTURN["Binding request"]; checks != w {
		t.Errorf("%d ICE checks in the pairs, tshark counts %d Binding requests inside TURN", checks, w)
	}
	if w := want.Tshark.STUNInTURN["Binding success"]; answered == 0 && w > 0 || answered > w {
		t.Errorf("%d ICE checks answered, tshark counts %d Binding successes inside TURN", answered, w)
	}
	var rtp uint64
	ssrcs := map[string]bool{}
	for _, s := range r.Streams {
		if !s.ViaTURN {
			t.Errorf("stream %s → %s SSRC %s is not via TURN", s.Src, s.Dst, s.SSRC)
		}
		rtp += s.Packets
		ssrcs[s.SSRC] = true
	}
	if rtp != uint64(want.Tshark.RTPInTURN) || len(ssrcs) != want.Tshark.RTPSSRCs {
		t.Errorf("%d RTP packets in %d SSRCs, tshark finds %d in %d inside TURN", rtp, len(ssrcs), want.Tshark.RTPInTURN, want.Tshark.RTPSSRCs)
	}
}

// checkICESessions: the outcome, the selected pair and its candidate
// types, relay candidates tied to the allocation whose relayed address
// they are, DTLS and streams on the selected pair, SRTP when DTLS-SRTP
// keyed them.
func checkICESessions(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	if len(r.ICESessions) != len(want.ICESessions) {
		t.Errorf("%d ice_sessions, want %d", len(r.ICESessions), len(want.ICESessions))
	}
	for i, w := range want.ICESessions {
		if i >= len(r.ICESessions) {
			break
		}
		s := r.ICESessions[i]
		if got := []string{s.LocalUfrag, s.RemoteUfrag}; !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(w.Ufrags))) {
			t.Errorf("ICE session %d: ufrags %v, want %v", i, got, w.Ufrags)
		}
		if s.Outcome != w.Outcome {
			t.Errorf("ICE session %d: outcome %s, want %s", i, s.Outcome, w.Outcome)
		}
		for _, c := range s.Candidates {
			if c.Type != "relay" {
				continue
			}
			if c.Allocation == nil || *c.Allocation >= len(r.Allocations) {
				t.Errorf("ICE session %d: relay candidate %s tied to no allocation", i, c.Address)
			} else if a := r.Allocations[*c.Allocation]; a.Relayed != c.Address {
				t.Errorf("ICE session %d: relay candidate %s tied to the allocation relaying %s", i, c.Address, a.Relayed)
			}
		}
		if w.SelectedPair.Local == "" {
			if s.SelectedPair != nil {
				t.Errorf("ICE session %d: a selected pair where none was expected", i)
			}
			continue
		}
		if s.SelectedPair == nil {
			t.Errorf("ICE session %d: no selected pair, want %s → %s", i, w.SelectedPair.Local, w.SelectedPair.Remote)
			continue
		}
		p := s.Pairs[*s.SelectedPair]
		candidateType := func(addr string) string {
			for _, c := range s.Candidates {
				if c.Address == addr {
					if c.Type == "" && c.Learned {
						return "learned"
					}
					return c.Type
				}
			}
			return "?"
		}
		local := fmt.Sprintf("%s (%s)", p.Local, candidateType(p.Local))
		remote := fmt.Sprintf("%s (%s)", p.Remote, candidateType(p.Remote))
		// Each relayed end is its own allocation's relayed address: the
		// pair's allocation is the local one's, remote_allocation the
		// remote one's when both are relayed.
		relayedBy := func(ix *int) string {
			if ix == nil || *ix >= len(r.Allocations) {
				return ""
			}
			return r.Allocations[*ix].Relayed
		}
		switch lt, rt := candidateType(p.Local), candidateType(p.Remote); {
		case lt == "relay" && rt == "relay":
			if relayedBy(p.Allocation) != p.Local || relayedBy(p.RemoteAllocation) != p.Remote {
				t.Errorf("ICE session %d: relay → relay pair %s → %s tied to the allocations relaying %q and %q", i, p.Local, p.Remote, relayedBy(p.Allocation), relayedBy(p.RemoteAllocation))
			}
		case lt == "relay":
			if relayedBy(p.Allocation) != p.Local || p.RemoteAllocation != nil {
				t.Errorf("ICE session %d: pair %s → %s tied to the allocation relaying %q (remote %v), want the local one's", i, p.Local, p.Remote, relayedBy(p.Allocation), p.RemoteAllocation)
			}
		}
		if local != w.SelectedPair.Local || remote != w.SelectedPair.Remote || p.State != "succeeded" {
			t.Errorf("ICE session %d: selected %s → %s %s, want %s → %s succeeded", i, local, remote, p.State, w.SelectedPair.Local, w.SelectedPair.Remote)
		}
		if want := cmp.Or(w.Transport, "udp"); p.Transport != want {
			t.Errorf("ICE session %d: selected pair over %s, want %s", i, p.Transport, want)
		}

		// The story: DTLS on the selected pair, and the streams it keyed.
		var dtls []*diagnose.TLSConnectionReport
		for _, di := range s.DTLS {
			c := &r.TLSConnections[di]
			dtls = append(dtls, c)
			if c.ICESession == nil || *c.ICESession != i {
				t.Errorf("ICE session %d lists DTLS %s → %s, which points to ICE session %v", i, c.Client, c.Server, c.ICESession)
			}
			if ends := []string{c.Client, c.Server}; !slices.Contains(ends, p.Local) || !slices.Contains(ends, p.Remote) {
				t.Errorf("ICE session %d: DTLS %s → %s is not on the selected pair", i, c.Client, c.Server)
			}
		}
		if want.Tshark.DTLS != nil && want.Tshark.DTLS.ClientHello > 0 && len(dtls) == 0 {
			t.Errorf("ICE session %d: no DTLS on the selected pair", i)
		}
		srtp := false
		for _, c := range dtls {
			srtp = srtp || c.Outcome == "established" && (c.SRTPProfile != "" || c.CertificateEncrypted && len(c.SRTPProfilesOffered) > 0)
		}
		if len(s.Streams) != len(r.Streams) {
			t.Errorf("ICE session %d: streams %v, want all %d streams of the capture on its selected pair", i, s.Streams, len(r.Streams))
		}
		for _, si := range s.Streams {
			st := r.Streams[si]
			if st.SRTP != srtp {
				t.Errorf("ICE session %d: stream %s → %s SSRC %s srtp %v, want %v (DTLS-SRTP on the selected pair)", i, st.Src, st.Dst, st.SSRC, st.SRTP, srtp)
			}
			// A stream on a relayed pair travels to and from the TURN
			// server; on a direct one, over the pair's transport.
			if !st.ViaTURN && st.Transport != p.Transport {
				t.Errorf("ICE session %d: stream %s → %s SSRC %s over %s on a %s pair", i, st.Src, st.Dst, st.SSRC, st.Transport, p.Transport)
			}
		}
		for _, c := range dtls {
			if c.Allocation == nil && c.Transport != p.Transport {
				t.Errorf("ICE session %d: DTLS %s → %s over %s on a %s pair", i, c.Client, c.Server, c.Transport, p.Transport)
			}
		}
	}
}

// checkWebRTCEvidence checks the evidence block.
func checkWebRTCEvidence(t *testing.T, want expectedCapture, r *diagnose.Report) {
	t.Helper()
	if len(want.Evidence) == 0 {
		return
	}
	var ev webrtcEvidence
	decodeEvidence(t, want, &ev, "golden_webrtc_test.go")
	if e := ev.AllocateTimeout; e != nil {
		const rule = "turn.allocate-timeout"
		fs := findingsOf(r, rule)
		if len(fs) != e.Findings {
			t.Errorf("%s: %d findings, want %d", rule, len(fs), e.Findings)
		}
		var mf mustFire
		if err := json.Unmarshal(want.MustFire[rule], &mf); err != nil || max(mf.Count, 1) != e.Findings {
			t.Errorf("expected.json: %s must_fire count %d, evidence findings %d (%v)", rule, mf.Count, e.Findings, err)
		}
		for _, port := range slices.Sorted(maps.Keys(e.SendOffsets)) {
			offsets := e.SendOffsets[port]
			i := slices.IndexFunc(fs, func(f diagnose.Finding) bool {
				return slices.ContainsFunc(f.Endpoints, func(ep string) bool { return strings.HasSuffix(ep, ":"+port) })
			})
			if i < 0 {
				t.Errorf("%s: no finding for client port %s", rule, port)
				continue
			}
			parts := make([]string, len(offsets))
			for j, s := range offsets {
				parts[j] = strconv.FormatFloat(s, 'f', -1, 64)
			}
			if text, sched := findingText(fs[i]), strings.Join(parts, ", ")+" s"; !strings.Contains(text, sched) {
				t.Errorf("%s: port %s's send schedule %q not in: %s", rule, port, sched, text)
			}
			if len(fs[i].Frames) != len(offsets) {
				t.Errorf("%s: port %s: %d frames cited, want its %d sends", rule, port, len(fs[i].Frames), len(offsets))
			}
		}
	}
}

// TestWebRTCTextStory: the text report of the relay-only call tells one
// story, allocation → relay candidate → selected pair → DTLS → SRTP
// streams; a TLS capture has no SRTP to show.
func TestWebRTCTextStory(t *testing.T) {
	res := runCLI(t, "analyze", "--color=never", pcapPath("webrtc-relay.pcap"))
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	out := res.stdout
	for _, s := range []string{
		"local  relay 198.51.100.1:49159 udp",
		"→ allocation 192.0.2.10:46696 → 192.0.2.1:3478 (deleted)",
		"→ allocation 192.0.2.10:43914 → 192.0.2.1:3478 (deleted)",
		"selected   relay 198.51.100.1:49159 (allocation 192.0.2.10:46696) → relay 198.51.100.1:49156 (allocation 192.0.2.10:43914) · both relayed by 192.0.2.1:3478\n",
		"dtls       198.51.100.1:49156 → 198.51.100.1:49159 · DTLS 1.3 · established",
		"media      2 SSRCs on the selected pair (SSRC 0x814f8438, 0x23ecab96), each seen on both TURN legs (4 RTP streams) · SRTP\n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("text report lacks %q:\n%s", s, out)
		}
	}
	streams := 0
	for line := range strings.Lines(out) {
		if strings.Contains(line, " SSRC 0x") && strings.Contains(line, " · via TURN ") {
			streams++
			if !strings.Contains(line, " PT 111 (SRTP) · ") {
				t.Errorf("stream line without SRTP: %s", line)
			}
		}
	}
	if streams != 4 {
		t.Errorf("%d stream lines, want 4", streams)
	}
	if res := runCLI(t, "analyze", "--color=never", pcapPath("tls12-selfsigned.pcap")); strings.Contains(res.stdout, "SRTP") {
		t.Errorf("a TLS capture mentions SRTP:\n%s", res.stdout)
	}
}

// TestWebRTCSRTCPPerStream: Chromium's SRTCP (AES_CM_128_HMAC_SHA1_80,
// transport-cc feedback alone or SR/RR compounds, all relayed through
// TURN) counts for the stream of the SSRC that sent it, on each TURN leg.
// tshark leaves it undissected (its rtcp_stun heuristic wants a length
// that is a multiple of 4; with a 10-byte tag SRTCP's is 2 modulo 4), so
// the counts are those of the ChannelData whose data starts like RTCP,
// grouped by direction and the sender SSRC (bytes 4-7):
//
//	tshark -r pcaps/webrtc-relay.pcap -T fields -e ip.src -e udp.srcport \
//	  -e ip.dst -e udp.dstport -e data.data -Y 'stun.channel &&
//	  data.data[0] >= 80 && data.data[0] <= bf && data.data[1] >= c8 && data.data[1] <= cf'
//
// gives 82 datagrams for each of the four streams.
func TestWebRTCSRTCPPerStream(t *testing.T) {
	want := map[string]uint64{ // src → dst SSRC
		"192.0.2.10:43914 → 192.0.2.1:3478 0x814f8438": 82,
		"192.0.2.10:46696 → 192.0.2.1:3478 0x23ecab96": 82,
		"192.0.2.1:3478 → 192.0.2.10:43914 0x23ecab96": 82,
		"192.0.2.1:3478 → 192.0.2.10:46696 0x814f8438": 82,
	}
	r, _ := analyzeJSON(t, exitOK, pcapPath("webrtc-relay.pcap"))
	got := map[string]uint64{}
	for _, s := range r.Streams {
		got[s.Src+" → "+s.Dst+" "+s.SSRC] = s.SRTCPPackets
		if s.RTCP != nil {
			t.Errorf("stream %s → %s: RTCP reports %+v read from encrypted RTCP", s.Src, s.Dst, s.RTCP)
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("SRTCP per stream %v, want %v", got, want)
	}
	// SRTCP in TURN is the analyzer's: the decoder's count is of datagrams.
	if r.Stats.SRTCP != 0 || r.Stats.RTCP != 0 {
		t.Errorf("stats: srtcp_packets %d, rtcp_packets %d; want 0 (all relayed)", r.Stats.SRTCP, r.Stats.RTCP)
	}
	res := runCLI(t, "analyze", "--color=never", pcapPath("webrtc-relay.pcap"))
	if n := strings.Count(res.stdout, " · 82 SRTCP packets · "); n != 4 {
		t.Errorf("%d stream lines with 82 SRTCP packets, want 4:\n%s", n, res.stdout)
	}
}

// TestWebRTCICETCP: Chromium's call to a Pion peer over ICE-TCP (UDP
// dropped, pcaps/webrtc-ice-tcp.pcap) is one story as a UDP call is: the
// selected pair is TCP, its RTP streams both ways carry the packets
// tshark's RFC 4571 framing counts, the DTLS handshake in its frames is
// decoded, tied to the session and keyed the streams, and each side's
// certificate is the one its SDP fingerprint names (the saved signalling,
// checked by hand). The decode records account for every frame tshark
// finds on the connection.
func TestWebRTCICETCP(t *testing.T) {
	const name = "webrtc-ice-tcp.pcap"
	var exp struct {
		Captures map[string]struct {
			Signalling struct {
				OfferFingerprint  string `json:"offer_fingerprint"`
				AnswerFingerprint string `json:"answer_fingerprint"`
			} `json:"signalling"`
			Tshark struct {
				ICETCPFrames struct {
					Frames int `json:"frames"`
					RTCP   int `json:"rtcp"`
					NotRTP int `json:"not_rtp"`
				} `json:"ice_tcp_frames"`
				RTPPackets int            `json:"rtp_packets"`
				Streams    []tsharkStream `json:"streams"`
				DTLS       tsharkTLS      `json:"dtls"`
			} `json:"tshark"`
		} `json:"captures"`
	}
	b, err := os.ReadFile(filepath.Join(pcapsDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	want, ok := exp.Captures[name]
	if !ok || want.Tshark.ICETCPFrames.Frames == 0 || len(want.Tshark.Streams) != 2 {
		t.Fatalf("expected.json: %s has no ICE-TCP counts", name)
	}
	r, _ := analyzeJSON(t, exitOK, pcapPath(name))

	if len(r.ICESessions) != 1 || r.ICESessions[0].SelectedPair == nil {
		t.Fatalf("ICE sessions %+v, want one with a selected pair", r.ICESessions)
	}
	s := r.ICESessions[0]
	pair := s.Pairs[*s.SelectedPair]
	if pair.Transport != "tcp" || pair.State != "succeeded" || !pair.Nominated {
		t.Errorf("selected pair %s → %s over %s, %s, nominated %v; want a nominated TCP pair that succeeded",
			pair.Local, pair.Remote, pair.Transport, pair.State, pair.Nominated)
	}

	// Both directions, as tshark's rtp,streams lists them through
	// -d tcp.port==8443,rtp, and all on the selected pair.
	if len(r.Streams) != len(want.Tshark.Streams) || len(s.Streams) != len(r.Streams) {
		t.Errorf("%d streams, %d on the selected pair; tshark finds %d", len(r.Streams), len(s.Streams), len(want.Tshark.Streams))
	}
	var packets uint64
	for _, w := range want.Tshark.Streams {
		got := streamOf(r, w.Src, w.Dst, w.SSRC)
		if got == nil {
			t.Errorf("no stream %s → %s SSRC %s", w.Src, w.Dst, w.SSRC)
			continue
		}
		packets += got.Packets
		if got.Transport != "tcp" || got.Packets != w.Packets || got.Lost != w.Lost || got.Expected != w.Packets+uint64(w.Lost) || !got.SRTP {
			t.Errorf("stream %s → %s: %d packets of %d expected, %d lost over %s, SRTP %v; tshark: %d packets, %d lost, over tcp, SRTP",
				w.Src, w.Dst, got.Packets, got.Expected, got.Lost, got.Transport, got.SRTP, w.Packets, w.Lost)
		}
		if !dscpEqual(got.DSCP, w.DSCP) {
			t.Errorf("stream %s → %s: DSCP %v, tshark %v", w.Src, w.Dst, got.DSCP, w.DSCP)
		}
		if got.SRTCPPackets == 0 {
			t.Errorf("stream %s → %s: no SRTCP counted from its sender", w.Src, w.Dst)
		}
		if pair.Local != w.Src && pair.Local != w.Dst || pair.Remote != w.Src && pair.Remote != w.Dst {
			t.Errorf("stream %s → %s is not on the selected pair %s → %s", w.Src, w.Dst, pair.Local, pair.Remote)
		}
	}
	if packets != uint64(want.Tshark.RTPPackets) {
		t.Errorf("%d RTP packets in the streams, tshark finds %d", packets, want.Tshark.RTPPackets)
	}

	// DTLS over the connection, on the session, with each side's
	// certificate the one its SDP promised.
	if len(s.DTLS) != 1 || len(r.TLSConnections) != 1 {
		t.Fatalf("%d DTLS associations on the session, %d TLS connections; want 1 and 1", len(s.DTLS), len(r.TLSConnections))
	}
	c := r.TLSConnections[s.DTLS[0]]
	if !c.DTLS || c.Transport != "tcp" || c.Outcome != "established" || c.Version != "DTLS 1.2" || c.SRTPProfile == "" ||
		c.ICESession == nil || *c.ICESession != 0 {
		t.Errorf("DTLS %s → %s: dtls %v over %s, %s, %s, SRTP %q, ICE session %v", c.Client, c.Server, c.DTLS, c.Transport,
			c.Outcome, c.Version, c.SRTPProfile, c.ICESession)
	}
	fingerprint := func(cs []diagnose.CertificateReport) string {
		if len(cs) == 0 {
			return ""
		}
		return "sha-256 " + cs[0].SHA256
	}
	// The offerer (Chromium, a=setup:actpass) is the DTLS server here, the
	// answerer (Pion, a=setup:active) the client.
	if got := fingerprint(c.Certificates); got != want.Signalling.OfferFingerprint {
		t.Errorf("server certificate %q, the offer's fingerprint %q", got, want.Signalling.OfferFingerprint)
	}
	if got := fingerprint(c.ClientCertificates); got != want.Signalling.AnswerFingerprint {
		t.Errorf("client certificate %q, the answer's fingerprint %q", got, want.Signalling.AnswerFingerprint)
	}
	for _, rule := range []string{"media.no-rtp", "media.one-way", "media.loss", "ice.failed", "dtls.fingerprint-mismatch"} {
		if fs := findingsOf(r, rule); len(fs) != 0 {
			t.Errorf("%s: %s", rule, fs[0].Title)
		}
	}

	// Every frame tshark's RFC 4571 framing finds on the connection is a
	// record: RTP, RTCP (here all SRTCP), and STUN or DTLS where tshark
	// sees RTP of version 0.
	counts := map[string]int{}
	for _, rec := range decodeRecords(t, pcapPath(name)) {
		if rec.Transport == "tcp" {
			counts[rec.Proto]++
		}
	}
	f := want.Tshark.ICETCPFrames
	if counts["rtp"] != want.Tshark.RTPPackets || counts["rtcp"] != f.RTCP || counts["stun"]+counts["dtls"] != f.NotRTP ||
		counts["rtp"]+counts["rtcp"]+counts["stun"]+counts["dtls"] != f.Frames || len(counts) != 4 {
		t.Errorf("records over TCP %v; tshark: %d frames, %d RTP, %d RTCP, %d neither", counts, f.Frames, want.Tshark.RTPPackets, f.RTCP, f.NotRTP)
	}
	if r.Stats.RTP != uint64(want.Tshark.RTPPackets) || r.Stats.SRTCP != uint64(f.RTCP) || r.Stats.DTLS != uint64(counts["dtls"]) {
		t.Errorf("stats: rtp_packets %d, srtcp_packets %d, dtls_messages %d", r.Stats.RTP, r.Stats.SRTCP, r.Stats.DTLS)
	}

	res := runCLI(t, "analyze", "--color=never", pcapPath(name))
	for _, line := range []string{
		"* 192.0.2.10:40622 → 192.0.2.1:8443  tcp 10/10 answered",
		"dtls       192.0.2.1:8443 → 192.0.2.10:40622 · DTLS 1.2 · SRTP_AES128_CM_HMAC_SHA1_80 · established",
		"media      2 RTP streams on the selected pair (SSRC 0x770cd667, 0x120656f0) · SRTP",
	} {
		if !strings.Contains(res.stdout, line) {
			t.Errorf("text report lacks %q:\n%s", line, res.stdout)
		}
	}
}
