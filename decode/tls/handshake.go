package tls

import (
	"bytes"
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// Extension types (IANA TLS ExtensionType registry).
const (
	extServerName        = 0  // RFC 6066 §3
	extUseSRTP           = 14 // RFC 5764 §4.1.1
	extALPN              = 16 // RFC 7301 §3.1
	extSupportedVersions = 43 // RFC 8446 §4.2.1
)

// helloRetryRandom is the Random of a ServerHello that is a
// HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
var helloRetryRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// Errors say which part of a message did not parse; they are static so
// that hostile input costs no allocation.
var (
	errClientHello  = errors.New("tls: ClientHello: truncated or inconsistent before the extensions")
	errServerHello  = errors.New("tls: ServerHello: truncated or inconsistent before the extensions")
	errExtensions   = errors.New("tls: hello extensions: a length runs past the message")
	errHelloVerify  = errors.New("tls: HelloVerifyRequest: truncated")
	errCertificates = errors.New("tls: Certificate: a length runs past the message")
)

// names holds strings callscope keeps seeing: ALPN identifiers, and the
// last server names. Reusing them keeps hello parsing free of allocations
// in steady state without handing out strings that alias the input.
type names struct {
	sni [4]string
	i   int
}

var knownALPN = [...]string{"h2", "http/1.1", "h3", "webrtc", "c-webrtc", "stun.turn", "stun.nat-discovery",
	"sip/2", "http/1.0", "spdy/3.1", "acme-tls/1", "dot", "coap", "xmpp-client", "imap", "pop3", "managesieve", "mqtt"}

func (n *names) alpn(b []byte) string {
	for _, s := range knownALPN {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

func (n *names) serverName(b []byte) string {
	for _, s := range n.sni {
		if s != "" && string(b) == s {
			return s
		}
	}
	s := string(b)
	n.sni[n.i] = s
	n.i = (n.i + 1) % len(n.sni)
	return s
}

// parseClientHello reads a ClientHello body (RFC 8446 §4.1.2; DTLS adds
// the cookie after the session ID, RFC 6347 §4.2.1). The slices of ch are
// reused.
func parseClientHello(body []byte, dtls bool, ch *ClientHello, n *names) error {
	*ch = ClientHello{SupportedVersions: ch.SupportedVersions[:0], ALPN: ch.ALPN[:0], UseSRTP: ch.UseSRTP[:0]}
	s := cryptobyte.String(body)
	var sessionID, cookie, suites, compression cryptobyte.String
	if !s.ReadUint16(&ch.LegacyVersion) || !s.Skip(32) || !s.ReadUint8LengthPrefixed(&sessionID) {
		return errClientHello
	}
	if dtls {
		if !s.ReadUint8LengthPrefixed(&cookie) {
			return errClientHello
		}
		ch.HasCookie = len(cookie) > 0
	}
	if !s.ReadUint16LengthPrefixed(&suites) || len(suites)%2 != 0 || !s.ReadUint8LengthPrefixed(&compression) {
		return errClientHello
	}
	ch.CipherSuites = len(suites) / 2
	if s.Empty() {
		return nil // no extensions (RFC 5246 §7.4.1.2)
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return errExtensions
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return errExtensions
		}
		var err error
		switch typ {
		case extServerName:
			err = readServerName(data, ch, n)
		case extALPN:
			ch.ALPN, err = readALPN(data, ch.ALPN, n)
		case extSupportedVersions:
			var list cryptobyte.String
			if !data.ReadUint8LengthPrefixed(&list) {
				return errExtensions
			}
			for !list.Empty() {
				var v uint16
				if !list.ReadUint16(&v) {
					return errExtensions
				}
				ch.SupportedVersions = append(ch.SupportedVersions, v)
			}
		case extUseSRTP:
			ch.UseSRTP, err = readSRTPProfiles(data, ch.UseSRTP)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readServerName takes the first host_name of a server_name extension
// (RFC 6066 §3: at most one of each type).
func readServerName(data cryptobyte.String, ch *ClientHello, n *names) error {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) {
		return errExtensions
	}
	for !list.Empty() {
		var typ uint8
		var name cryptobyte.String
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&name) {
			return errExtensions
		}
		if typ == 0 && ch.SNI == "" && len(name) > 0 {
			ch.SNI = n.serverName(name)
		}
	}
	return nil
}

func readALPN(data cryptobyte.String, dst []string, n *names) ([]string, error) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) {
		return dst, errExtensions
	}
	for !list.Empty() {
		var proto cryptobyte.String
		if !list.ReadUint8LengthPrefixed(&proto) {
			return dst, errExtensions
		}
		if len(dst) < 16 {
			dst = append(dst, n.alpn(proto))
		}
	}
	return dst, nil
}

// readSRTPProfiles reads UseSRTPData (RFC 5764 §4.1.1): the profiles,
// then srtp_mki, which is not kept.
func readSRTPProfiles(data cryptobyte.String, dst []uint16) ([]uint16, error) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || len(list)%2 != 0 {
		return dst, errExtensions
	}
	for !list.Empty() {
		var p uint16
		list.ReadUint16(&p)
		if len(dst) < 32 {
			dst = append(dst, p)
		}
	}
	return dst, nil
}

// parseServerHello reads a ServerHello body (RFC 8446 §4.1.3, RFC 5246
// §7.4.1.3), which may be a HelloRetryRequest.
func parseServerHello(body []byte, sh *ServerHello, n *names) error {
	*sh = ServerHello{}
	s := cryptobyte.String(body)
	var random []byte
	var sessionID cryptobyte.String
	var compression uint8
	if !s.ReadUint16(&sh.LegacyVersion) || !s.ReadBytes(&random, 32) || !s.ReadUint8LengthPrefixed(&sessionID) ||
		!s.ReadUint16(&sh.CipherSuite) || !s.ReadUint8(&compression) {
		return errServerHello
	}
	sh.Version = sh.LegacyVersion
	sh.HelloRetryRequest = bytes.Equal(random, helloRetryRandom[:])
	if s.Empty() {
		return nil
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) {
		return errExtensions
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return errExtensions
		}
		switch typ {
		case extSupportedVersions:
			if !data.ReadUint16(&sh.Version) {
				return errExtensions
			}
		case extALPN:
			var list, proto cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&list) || !list.ReadUint8LengthPrefixed(&proto) {
				return errExtensions
			}
			sh.ALPN = n.alpn(proto)
		case extUseSRTP:
			var list cryptobyte.String
			if !data.ReadUint16LengthPrefixed(&list) || !list.ReadUint16(&sh.UseSRTP) {
				return errExtensions
			}
		}
	}
	return nil
}

// parseHelloVerifyRequest reads a HelloVerifyRequest (RFC 6347 §4.2.1).
func parseHelloVerifyRequest(body []byte, hv *HelloVerifyRequest) error {
	s := cryptobyte.String(body)
	var cookie cryptobyte.String
	if !s.ReadUint16(&hv.ServerVersion) || !s.ReadUint8LengthPrefixed(&cookie) {
		return errHelloVerify
	}
	hv.CookieLen = len(cookie)
	return nil
}
