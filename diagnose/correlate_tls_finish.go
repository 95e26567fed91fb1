package diagnose

import (
	"encoding/hex"
	"net/netip"
	"strings"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/tls"
)

// finishTLS concludes the connections into Analysis.TLSConnections and
// ties DTLS to the ICE selected pair it ran on and to the call whose SDP
// announced it. It runs after finishICE.
func (e *Engine) finishTLS() {
	st := &e.tls
	e.analysis.DroppedTLSConnections = st.dropped
	if len(st.list) == 0 {
		e.tls = tlsState{}
		return
	}
	// DTLS runs on the pair ICE selected; an agent that nominates again
	// later (Google Meet moves to another server port) may have started
	// it on an earlier nominated pair, or on a succeeded one before
	// nominating (RFC 8445 §12.1: media may flow on a valid pair). On a
	// TCP pair (RFC 6544) it runs on the connection the checks used, in
	// RFC 4571 frames: the pair's ends and transport are the
	// association's.
	type ends struct {
		a, b      netip.AddrPort
		transport decode.Transport
	}
	onPair := make(map[ends]*ICESession)
	for rank := range 3 {
		for _, s := range e.analysis.ICESessions {
			for _, p := range s.Pairs {
				ok := p.State == "succeeded"
				switch rank {
				case 1:
					ok = ok && p.Nominated
				case 2:
					ok = ok && p == s.Selected
				}
				if ok {
					l, r := unmapAddrPort(p.Local), unmapAddrPort(p.Remote)
					onPair[ends{l, r, p.Transport}], onPair[ends{r, l, p.Transport}] = s, s
				}
			}
		}
	}
	calls := newCallFingerprints(e.analysis.Calls)
	// Streams by their addresses, for DTLS-SRTP without ICE.
	streams := make(map[[2]netip.AddrPort][]*Stream)
	for _, st := range e.analysis.Streams {
		if st != nil && st.Allocation == nil {
			k := [2]netip.AddrPort{unmapAddrPort(st.Src), unmapAddrPort(st.Dst)}
			streams[k] = append(streams[k], st)
		}
	}
	for _, tc := range st.list {
		c := tc.c
		switch {
		case tc.failed:
			c.Outcome = "failed"
		case tc.established:
			c.Outcome = "established"
		default:
			c.Outcome = "incomplete"
		}
		e.analysis.TLSConnections = append(e.analysis.TLSConnections, c)
		if !c.DTLS {
			continue
		}
		if s := onPair[ends{unmapAddrPort(c.Client), unmapAddrPort(c.Server), c.Transport}]; s != nil {
			c.ICE = s
			s.DTLS = append(s.DTLS, c)
			c.Call = s.Call
		}
		calls.check(c)
		markSRTP(c, streams)
	}
	e.tls = tlsState{}
}

// markSRTP marks the RTP streams a DTLS-SRTP association keyed as SRTP:
// those of its ICE session's selected pair, or on its own 5-tuple.
func markSRTP(c *TLSConnection, streams map[[2]netip.AddrPort][]*Stream) {
	if !keysSRTP(c) {
		return
	}
	if c.ICE != nil {
		for _, st := range c.ICE.Streams {
			st.SRTP = true
		}
	}
	a, b := unmapAddrPort(c.Client), unmapAddrPort(c.Server)
	for _, k := range [][2]netip.AddrPort{{a, b}, {b, a}} {
		for _, st := range streams[k] {
			if st.Transport == c.Transport {
				st.SRTP = true
			}
		}
	}
}

// keysSRTP says whether DTLS negotiated use_srtp (RFC 5764 §4.1), after
// which RTP on the same transport is SRTP (§4.1.2). DTLS 1.3 carries the
// server's choice in EncryptedExtensions (RFC 9147 §5, RFC 8446 §4.3.1),
// out of sight: there the client's offer and an established handshake
// stand for it. A DTLS 1.2 server that answered without use_srtp declined.
func keysSRTP(c *TLSConnection) bool {
	if !c.DTLS || c.Outcome != "established" {
		return false
	}
	if c.SRTPProfile != 0 {
		return true
	}
	return len(c.OfferedSRTPProfiles) > 0 && c.Version == tls.VersionDTLS13
}

// callFingerprints indexes the calls' SDPs for DTLS-SRTP: by sha-256
// fingerprint, and by the media addresses they announced (c=/m= and ICE
// candidates), for a DTLS association without an ICE session.
type callFingerprints struct {
	byHash map[[32]byte]*Call
	byAddr map[netip.AddrPort]*Call
	hashes map[*Call][]sdpFingerprint
}

type sdpFingerprint struct {
	sum     [32]byte
	written string
}

func newCallFingerprints(calls []*Call) *callFingerprints {
	cf := &callFingerprints{
		byHash: make(map[[32]byte]*Call),
		byAddr: make(map[netip.AddrPort]*Call),
		hashes: make(map[*Call][]sdpFingerprint),
	}
	for _, c := range calls {
		for _, seen := range c.SDPs {
			if seen == nil || seen.Session == nil {
				continue
			}
			sess := seen.Session
			cf.addFingerprint(c, sess.Fingerprint)
			for i := range sess.Media {
				m := &sess.Media[i]
				cf.addFingerprint(c, m.Fingerprint)
				addr := m.Connection
				if !addr.IsValid() {
					addr = sess.Connection
				}
				if addr.IsValid() && m.Port != 0 {
					cf.byAddr[unmapAddrPort(netip.AddrPortFrom(addr, m.Port))] = c
				}
				for _, cand := range m.Candidates {
					cf.byAddr[unmapAddrPort(cand.Addr)] = c
				}
			}
		}
	}
	return cf
}

func (cf *callFingerprints) addFingerprint(c *Call, v string) {
	sum, ok := parseSHA256Fingerprint(v)
	if !ok {
		return
	}
	for _, f := range cf.hashes[c] {
		if f.sum == sum {
			return
		}
	}
	if len(cf.hashes[c]) >= MaxFramesPerFinding {
		return
	}
	cf.hashes[c] = append(cf.hashes[c], sdpFingerprint{sum: sum, written: strings.TrimSpace(v)})
	if cf.byHash[sum] == nil {
		cf.byHash[sum] = c
	}
}

// check ties a DTLS association to its call (through ICE already, else a
// leaf certificate's fingerprint, else an announced address) and compares
// the leaf certificates with the call's fingerprints.
func (cf *callFingerprints) check(c *TLSConnection) {
	if c.Call == nil {
		for _, chain := range [][]tls.Certificate{c.Certificates, c.ClientCertificates} {
			if len(chain) > 0 && c.Call == nil {
				c.Call = cf.byHash[chain[0].SHA256]
			}
		}
	}
	if c.Call == nil {
		c.Call = cf.byAddr[unmapAddrPort(c.Server)]
	}
	if c.Call == nil {
		c.Call = cf.byAddr[unmapAddrPort(c.Client)]
	}
	if c.Call == nil {
		return
	}
	known := cf.hashes[c.Call]
	if len(known) == 0 {
		return
	}
	for _, f := range known {
		c.SDPFingerprints = append(c.SDPFingerprints, f.written)
	}
	matched := 0
	for i, chain := range [][]tls.Certificate{c.ClientCertificates, c.Certificates} {
		if len(chain) == 0 || chain[0].ParseError != "" && chain[0].SHA256 == [32]byte{} {
			continue
		}
		c.FingerprintChecked = true
		found := false
		for _, f := range known {
			if f.sum == chain[0].SHA256 {
				found = true
				break
			}
		}
		if found {
			matched++
		} else if !c.FingerprintMismatch {
			c.FingerprintMismatch = true
			c.FingerprintMismatchFromServer = i == 1
		}
	}
	c.FingerprintMatch = c.FingerprintChecked && !c.FingerprintMismatch && matched > 0
}

// parseSHA256Fingerprint reads an a=fingerprint value (RFC 8122 §5:
// hash-func SP fingerprint, upper-case hex pairs joined by colons, though
// some agents write lower case). Only sha-256, what WebRTC uses (RFC 8827
// §6.5), is compared.
func parseSHA256Fingerprint(v string) (sum [32]byte, ok bool) {
	name, fp, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(name, "sha-256") {
		return sum, false
	}
	fp = strings.TrimSpace(fp)
	if len(fp) != 32*3-1 {
		return sum, false
	}
	for i := range sum {
		if i > 0 && fp[3*i-1] != ':' {
			return sum, false
		}
		if _, err := hex.Decode(sum[i:i+1], []byte(fp[3*i:3*i+2])); err != nil {
			return sum, false
		}
	}
	return sum, true
}
