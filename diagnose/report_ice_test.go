package diagnose_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/tls"
	"github.com/callscope/callscope/diagnose"
)

// addWebRTCAndTLS adds to the edge box capture a browser's WebRTC session
// whose ICE checks (the Binding requests of the edge box) ended on bob's
// TURN relay, with DTLS-SRTP on that pair; the browser's page load from the
// web bridge, which still has its self-signed default certificate; and a
// SIP trunk over TLS 1.3.
func addWebRTCAndTLS(a *diagnose.Analysis) {
	bob := a.Allocations[1] // relayed 203.0.113.5:24012
	relayPair := &diagnose.CandidatePair{Local: bob.Relayed, Remote: ap("198.51.100.7:40000"), Transport: decode.UDP, Allocation: bob,
		Checks: 2, Answered: 2, RTT: 62 * 1e6, Nominated: true, State: "succeeded", First: ref(28, 2.8), Last: ref(29, 2.862), Frames: []uint64{28, 29}}
	pairs := []*diagnose.CandidatePair{
		{Local: ap("192.0.2.10:50006"), Remote: ap("10.9.9.9:40002"), Transport: decode.UDP, Checks: 3, State: "unanswered",
			First: ref(20, 2.3), Last: ref(24, 2.6), Frames: []uint64{20, 22, 24}},
		{Local: ap("192.0.2.10:50006"), Remote: ap("198.51.100.7:40000"), Transport: decode.UDP, Checks: 1, Answered: 1, RTT: 110 * 1e6,
			State: "succeeded", First: ref(21, 2.31), Last: ref(23, 2.42), Frames: []uint64{21, 23}},
		{Local: ap("192.0.2.10:50006"), Remote: ap("203.0.113.5:24999"), Transport: decode.UDP, Checks: 1, State: "unanswered",
			First: ref(25, 2.7), Last: ref(25, 2.7), Frames: []uint64{25}},
		relayPair,
	}
	ice := &diagnose.ICESession{
		LocalUfrag: "lcl", RemoteUfrag: "rmt",
		Candidates: []diagnose.ICECandidate{
			{Addr: ap("192.0.2.10:50006"), Transport: decode.UDP, Type: "host", Priority: 2122260223, Foundation: "1", Component: 1, Side: "local", Learned: true},
			{Addr: bob.Relayed, Transport: decode.UDP, Type: "relay", Priority: 41885439, Side: "local", Allocation: bob, Learned: true},
			{Addr: ap("198.51.100.7:40000"), Transport: decode.UDP, Side: "remote", Learned: true},
			{Addr: ap("10.9.9.9:40002"), Transport: decode.UDP, Side: "remote", Learned: true},
		},
		Pairs: pairs, Selected: relayPair, ControllingSeen: true, ControlledSeen: true,
		RoleConflicts: []diagnose.FrameRef{ref(27, 2.75)},
		Outcome:       "connected", First: ref(20, 2.3), Last: ref(1500, 64),
		ConsentChecks: 12,
	}
	webrtc := tls.Certificate{Subject: "WebRTC", Issuer: "WebRTC", NotBefore: at(-86400), NotAfter: at(30 * 86400),
		SelfSigned: true, KeyType: "ECDSA", KeyBits: 256, SHA256: sha256.Sum256([]byte("browser"))}
	peer := webrtc
	peer.SHA256 = sha256.Sum256([]byte("peer"))
	dtls := &diagnose.TLSConnection{
		Client: bob.Relayed, Server: ap("198.51.100.7:40000"), Transport: decode.UDP, DTLS: true, Allocation: bob,
		OfferedVersions: []uint16{tls.VersionDTLS12, tls.VersionDTLS10}, Version: tls.VersionDTLS12, CipherSuite: 0xc02b,
		SRTPProfile: 1, OfferedSRTPProfiles: []uint16{7, 1}, CipherSuitesOffered: 9,
		ClientHello: ref(32, 2.9), ServerHello: ref(33, 2.95), CertificateFrame: ref(33, 2.95),
		Certificates: []tls.Certificate{peer}, ClientCertificates: []tls.Certificate{webrtc},
		Outcome: "established", Established: ref(35, 3.0), First: ref(32, 2.9), Last: ref(36, 3.01), ICE: ice,
		FingerprintChecked: true, FingerprintMatch: true,
	}
	ice.DTLS = []*diagnose.TLSConnection{dtls}

	edge := tls.Certificate{Subject: "edge01.local", Issuer: "edge01.local", DNSNames: []string{"edge01.local"},
		NotBefore: at(-400 * 86400), NotAfter: at(3250 * 86400), SelfSigned: true, KeyType: "RSA", KeyBits: 2048, SHA256: sha256.Sum256([]byte("edge01"))}
	page := &diagnose.TLSConnection{
		Client: ap("192.0.2.10:51000"), Server: ap("203.0.113.20:443"), Transport: decode.TCP,
		SNI: "join.example.com", ALPN: []string{"h2", "http/1.1"}, OfferedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		Version: tls.VersionTLS12, CipherSuite: 0xc02f, CipherSuitesOffered: 16,
		ClientHello: ref(44, 1.5), ServerHello: ref(45, 1.53), CertificateFrame: ref(45, 1.53), Certificates: []tls.Certificate{edge},
		Alerts:  []diagnose.TLSAlert{{FrameRef: ref(46, 1.54), Level: 2, Description: 48}},
		Outcome: "failed", FailedBy: diagnose.TLSAlert{FrameRef: ref(46, 1.54), Level: 2, Description: 48}, First: ref(44, 1.5), Last: ref(47, 1.541),
	}
	trunk := &diagnose.TLSConnection{
		Client: ap("198.51.100.20:40312"), Server: ap("203.0.113.30:5061"), Transport: decode.TCP,
		SNI: "sip.trunk.example.net", OfferedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}, Version: tls.VersionTLS13, CipherSuite: 0x1301,
		ClientHello: ref(71, 4), ServerHello: ref(72, 4.04), CertificateEncrypted: true,
		Outcome: "established", Established: ref(73, 4.09), First: ref(71, 4), Last: ref(1400, 60),
	}
	a.ICESessions = []*diagnose.ICESession{ice}
	a.TLSConnections = []*diagnose.TLSConnection{page, dtls, trunk}
}

func TestReportICEAndTLSJSON(t *testing.T) {
	a := edgeBox()
	r := diagnose.NewReport(a, check(a), "x")
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ICESessions    []json.RawMessage `json:"ice_sessions"`
		TLSConnections []json.RawMessage `json:"tls_connections"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.ICESessions) != 1 || len(doc.TLSConnections) != 3 {
		t.Fatalf("%d ICE sessions, %d TLS connections", len(doc.ICESessions), len(doc.TLSConnections))
	}
	var ice struct {
		Candidates   []json.RawMessage
		Pairs        []json.RawMessage
		SelectedPair *int `json:"selected_pair"`
		DTLS         []int
	}
	if err := json.Unmarshal(doc.ICESessions[0], &ice); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Certificates []json.RawMessage
		Alerts       []json.RawMessage
	}
	if err := json.Unmarshal(doc.TLSConnections[0], &page); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"ice session": {"local_ufrag", "remote_ufrag", "outcome", "controlling_seen", "controlled_seen", "candidates", "pairs",
			"selected_pair", "role_conflict_frames", "consent_checks", "consent_unanswered", "dtls", "streams", "first", "last"},
		"candidate": {"side", "type", "address", "transport", "priority", "learned", "allocation"},
		"pair":      {"local", "remote", "transport", "allocation", "checks", "answered", "errors", "rtt_ms", "nominated", "state", "first", "last"},
		"tls": {"client", "server", "transport", "dtls", "sni", "alpn", "offered_versions", "version", "cipher_suites_offered", "cipher_suite",
			"client_hello_frame", "server_hello_frame", "certificate_frame", "certificates", "client_certificates", "alerts", "outcome", "first", "last"},
		"dtls": {"client", "server", "transport", "dtls", "allocation", "ice_session", "alpn", "offered_versions", "version", "cipher_suites_offered",
			"cipher_suite", "srtp_profiles_offered", "srtp_profile", "client_hello_frame", "server_hello_frame", "certificate_frame",
			"certificates", "client_certificates", "fingerprint_check", "alerts", "outcome", "first", "last"},
		"certificate": {"subject", "issuer", "dns_names", "ips", "not_before", "not_after", "self_signed", "key_type", "key_bits", "sha256"},
		"alert":       {"frame", "time", "from", "level", "description", "code"},
	}
	got := map[string][]string{
		"ice session": keysInOrder(t, doc.ICESessions[0]),
		"candidate":   keysInOrder(t, ice.Candidates[1]),
		"pair":        keysInOrder(t, ice.Pairs[3]),
		"tls":         keysInOrder(t, doc.TLSConnections[0]),
		"dtls":        keysInOrder(t, doc.TLSConnections[1]),
		"certificate": keysInOrder(t, page.Certificates[0]),
		"alert":       keysInOrder(t, page.Alerts[0]),
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s keys = %v\nwant %v", k, got[k], w)
		}
	}
	if ice.SelectedPair == nil || *ice.SelectedPair != 3 || !slices.Equal(ice.DTLS, []int{1}) {
		t.Errorf("selected_pair = %v, dtls = %v; want 3 and [1]", ice.SelectedPair, ice.DTLS)
	}
	s := b.String()
	for _, frag := range []string{`"allocation": 1`, `"ice_session": 0`, `"version": "DTLS 1.2"`, `"srtp_profile": "SRTP_AES128_CM_HMAC_SHA1_80"`,
		`"cipher_suite": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"`, `"description": "unknown_ca"`, `"from": "client"`, `"level": "fatal"`,
		`"certificate_encrypted": true`, `"fingerprint_check": "match"`, `"rtt_ms": 62`, `"type": "relay"`} {
		if !strings.Contains(s, frag) {
			t.Errorf("JSON lacks %s", frag)
		}
	}
	// A fingerprint in the SDP's form.
	fp := sha256.Sum256([]byte("edge01"))
	if !strings.Contains(s, `"sha256": "`+strings.ToUpper(hexColon(fp[:]))+`"`) {
		t.Errorf("JSON lacks the certificate's SHA-256 in AB:CD form")
	}
}

func hexColon(b []byte) string {
	const digits = "0123456789ABCDEF"
	var s strings.Builder
	for i, x := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteByte(digits[x>>4])
		s.WriteByte(digits[x&15])
	}
	return s.String()
}

// Empty arrays, never null, so scripts can iterate without a check.
func TestReportICEAndTLSEmpty(t *testing.T) {
	r := diagnose.NewReport(&diagnose.Analysis{}, nil, "x")
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"ice_sessions": []`, `"tls_connections": []`} {
		if !strings.Contains(b.String(), frag) {
			t.Errorf("JSON lacks %s", frag)
		}
	}
}

func TestReportICEAndTLSText(t *testing.T) {
	a := edgeBox()
	r := diagnose.NewReport(a, check(a), "x")
	var b bytes.Buffer
	if err := r.WriteText(&b, diagnose.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, frag := range []string{
		"ICE sessions (1)",
		`relay 203.0.113.5:24012  udp prio 41885439 (from checks) → allocation 192.0.2.10:50002 → 203.0.113.5:3478 (allocated)`,
		"* 203.0.113.5:24012 → 198.51.100.7:40000 udp 2/2 answered · RTT 0.062 s · succeeded · nominated · via TURN 203.0.113.5:3478",
		"selected   203.0.113.5:24012 → 198.51.100.7:40000 (relay → ?) · relayed by 203.0.113.5:3478 for 192.0.2.10:50002",
		"1 487 Role Conflict (frames 27)",
		"TLS and DTLS connections (3)",
		`192.0.2.10:51000 → 203.0.113.20:443 TLS · SNI "join.example.com"`,
		"TLS 1.2 (offered TLS 1.3, TLS 1.2) · TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
		"edge01.local · self-signed (frame 45)",
		"fatal unknown_ca from the client (frame 46)",
		"SRTP_AES128_CM_HMAC_SHA1_80 · SDP fingerprint match",
		"not visible (TLS 1.3 encrypts it)",
		"tls.self-signed", "tls.name-mismatch", "tls.handshake-failure", "ice.role-conflict",
	} {
		if !strings.Contains(s, frag) {
			t.Errorf("text lacks %q", frag)
		}
	}
	for _, id := range []string{"ice.failed", "ice.consent-lost", "tls.expired", "tls.legacy-version", "dtls.fingerprint-mismatch"} {
		if strings.Contains(s, id) {
			t.Errorf("%s fired on the edge box", id)
		}
	}
}

// The text shows the first connections; the JSON keeps every one.
func TestReportTLSTextCapped(t *testing.T) {
	a := &diagnose.Analysis{}
	for i := range 60 {
		a.TLSConnections = append(a.TLSConnections, &diagnose.TLSConnection{Client: ap("192.0.2.10:50000"), Server: ap("203.0.113.20:443"),
			Transport: decode.TCP, Outcome: "incomplete", First: ref(uint64(i+1), float64(i)), Last: ref(uint64(i+1), float64(i))})
	}
	r := diagnose.NewReport(a, nil, "x")
	var b bytes.Buffer
	if err := r.WriteText(&b, diagnose.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "192.0.2.10:50000 → 203.0.113.20:443 TLS"); n != 50 {
		t.Errorf("%d connection blocks, want 50", n)
	}
	if !strings.Contains(b.String(), "… and 10 more connections") {
		t.Errorf("no word on the connections left out:\n%s", b.String())
	}
	if len(r.TLSConnections) != 60 {
		t.Errorf("%d connections in the report, want 60", len(r.TLSConnections))
	}
}
