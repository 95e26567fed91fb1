package rules

import (
	"testing"

	"github.com/callscope/callscope/diagnose"
)

func TestDTLSFingerprintMismatch(t *testing.T) {
	offerCert := selfSigned(cert("CN=offerer"))
	answerCert := selfSigned(cert("CN=answerer"))
	mitm := selfSigned(cert("CN=middlebox"))
	// withFingerprints is a call whose offer and answer announce the two
	// endpoints' certificates.
	withFingerprints := func() *diagnose.Call {
		offer := audioSDP(1, 0, callerSIP, "192.0.2.10", 50006, "192.0.2.10")
		answer := audioSDP(3, 1, calleeSIP, "198.51.100.7", 40000, "198.51.100.7")
		offer.Session.Media[0].Fingerprint = "sha-256 " + certFingerprint(offerCert.SHA256)
		answer.Session.Fingerprint = "SHA-256 " + certFingerprint(answerCert.SHA256)
		return answeredCall("webrtc-1", offer, answer)
	}
	viaCall := func(c *diagnose.TLSConnection) *diagnose.Analysis {
		c.Call = withFingerprints()
		return tlsAnalysis(c)
	}
	viaICE := func(c *diagnose.TLSConnection) *diagnose.Analysis {
		s := &diagnose.ICESession{LocalUfrag: "a", RemoteUfrag: "b", Call: withFingerprints(), DTLS: []*diagnose.TLSConnection{c}}
		return &diagnose.Analysis{ICESessions: []*diagnose.ICESession{s}, TLSConnections: []*diagnose.TLSConnection{c}}
	}
	noSHA256 := withFingerprints()
	noSHA256.Offer.Session.Media[0].Fingerprint = "sha-1 AB:CD"
	noSHA256.Answer.Session.Fingerprint = ""
	unknownAlgo := dtlsConn(10, 2, mitm, mitm)
	unknownAlgo.Call = noSHA256
	// The correlator compared each side's certificate with its own SDP:
	// here the client presented the answerer's certificate.
	swapped := dtlsConn(10, 2, answerCert, answerCert)
	swapped.FingerprintChecked, swapped.FingerprintMismatch = true, true
	swapped.ICE = &diagnose.ICESession{Call: withFingerprints()}
	checkedOK := dtlsConn(10, 2, mitm, mitm)
	checkedOK.FingerprintChecked, checkedOK.FingerprintMatch = true, true
	checkedOK.ICE = &diagnose.ICESession{Call: withFingerprints()}
	runRuleCases(t, DTLSFingerprintMismatch{}, []ruleCase{
		{name: "correlator: mismatch of the client", a: tlsAnalysis(swapped), want: 1,
			contains: []string{"the DTLS client 192.0.2.10:50006 presented a certificate with SHA-256 " + certFingerprint(answerCert.SHA256)},
			excludes: []string{"DTLS server 198.51.100.7:40000 presented"}},
		{name: "correlator: match is trusted", a: tlsAnalysis(checkedOK), want: 0},
		{name: "correlator: mismatch without the certificate", a: func() *diagnose.Analysis {
			c := dtlsConn(10, 2, answerCert, answerCert)
			c.ClientCertificates = nil
			c.FingerprintChecked, c.FingerprintMismatch = true, true
			c.ICE = &diagnose.ICESession{Call: withFingerprints()}
			return tlsAnalysis(c)
		}(), want: 0},
		{name: "both match", a: viaCall(dtlsConn(10, 2, answerCert, offerCert)), want: 0},
		{name: "roles the other way round", a: viaICE(dtlsConn(10, 2, offerCert, answerCert)), want: 0},
		{name: "no call", a: tlsAnalysis(dtlsConn(10, 2, mitm, mitm)), want: 0},
		{name: "only a sha-1 fingerprint", a: tlsAnalysis(unknownAlgo), want: 0},
		{
			name: "middlebox answers for the server",
			a:    viaICE(dtlsConn(10, 2, mitm, offerCert)),
			want: 1,
			contains: []string{`belongs to the call "sip:alice@example.org → sip:bob@example.net" (Call-ID "webrtc-1")`,
				"the DTLS server 198.51.100.7:40000 presented a certificate with SHA-256 " + certFingerprint(mitm.SHA256) + " (frame 11)",
				"sha-256 " + certFingerprint(offerCert.SHA256) + " (frame 1) and sha-256 " + certFingerprint(answerCert.SHA256) + " (frame 3)",
				"must abort such a handshake"},
			frames: []uint64{1, 3, 10, 11},
			filter: `(ip.addr == 192.0.2.10 && ip.addr == 198.51.100.7 && udp.port == 50006 && udp.port == 40000 && dtls.handshake.type in {1, 2, 11}) || sip.Call-ID == "webrtc-1"`,
		},
		{
			name:     "both certificates foreign",
			a:        viaCall(alert(dtlsConn(10, 2, mitm, mitm), 14, 2.1, true, 42)),
			want:     1,
			contains: []string{"the DTLS server 198.51.100.7:40000 presented", "and the DTLS client 192.0.2.10:50006 presented", "The server sent the alert bad_certificate (frame 14)"},
		},
	})
}
