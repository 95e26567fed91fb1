package sdp

import (
	"encoding/binary"
	"strconv"
	"strings"
	"sync"
)

// A parsed Session's strings are first substrings of the copied body;
// keepStrings gives each one memory of its own, so a Session kept for a
// whole capture (a call's offer and answer) holds only what it reads:
// common tokens are interned (no memory at all), the rest share one
// allocation.

// tokens are values common enough in SDP to share: media types,
// protocols, directions, candidate types, codec names.
var tokens = []string{
	"-", "IN", "IP4", "IP6",
	"audio", "video", "application", "text", "message", "image",
	"RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF",
	"TCP/TLS/RTP/SAVPF", "TCP/RTP/AVP", "UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "DTLS/SCTP",
	"udp", "UDP", "tcp", "TCP", "udptl", "UDPTL", "TCP/MSRP", "TCP/TLS/MSRP",
	"t38", "webrtc-datachannel", "*",
	"sendrecv", "sendonly", "recvonly", "inactive",
	"active", "passive", "actpass", "holdconn", "so",
	"host", "srflx", "prflx", "relay",
	"PCMU", "PCMA", "G722", "G729", "G723", "G726-32", "G7221", "GSM", "iLBC", "speex",
	"opus", "telephone-event", "CN", "AMR", "AMR-WB", "EVS", "L16", "red", "rtx", "ulpfec",
	"flexfec-03", "VP8", "VP9", "H264", "H265", "AV1", "H263", "H263-1998", "H263-2000", "MP4V-ES",
}

// tokenTable finds a token by a hash of its length and three of its
// bytes, which is cheaper than a map's hash of every byte. The hash's
// constants were searched for to give each of tokens its own slot; a token
// added later whose slot is taken goes to tokenOverflow.
var tokenTable, tokenOverflow = func() (t [512]string, overflow map[string]string) {
	overflow = make(map[string]string)
	for _, v := range tokens {
		if h := tokenHash(v); t[h] == "" {
			t[h] = v
		} else {
			overflow[v] = v
		}
	}
	return t, overflow
}()

func tokenHash(v string) int {
	return (len(v)*2 + int(v[0])*2 + int(v[len(v)-1])*63 + int(v[len(v)/2])) & 511
}

// smallNumbers holds the decimal texts of 0-255: payload types, session
// versions, candidate foundations and components.
var smallNumbers = func() (n [256]string) {
	for i := range n {
		n[i] = strconv.Itoa(i)
	}
	return n
}()

// internSmallNumber returns the shared text of v when v is a number from
// 0 to 255 written the usual way (no sign, no leading zero).
func internSmallNumber(v string) (string, bool) {
	if len(v) == 0 || len(v) > 3 || len(v) > 1 && v[0] == '0' {
		return "", false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", false
		}
		n = n*10 + int(v[i]-'0')
	}
	if n > 255 {
		return "", false
	}
	return smallNumbers[n], true
}

func internToken(v string) (string, bool) {
	if w, ok := internSmallNumber(v); ok {
		return w, true
	}
	if w := tokenTable[tokenHash(v)]; w == v {
		return w, true
	}
	if len(tokenOverflow) == 0 {
		return "", false
	}
	w, ok := tokenOverflow[v]
	return w, ok
}

// stringKeeper collects the strings a Session keeps and then copies those
// that are not interned into one allocation.
type stringKeeper struct {
	fields []*string
	size   int
}

// token keeps *v, interned when it is a common token.
func (k *stringKeeper) token(v *string) {
	if *v == "" {
		return
	}
	if w, ok := internToken(*v); ok {
		*v = w
		return
	}
	k.text(v)
}

// text keeps *v, a value seldom shared (an address, an ICE username
// fragment, a fingerprint).
func (k *stringKeeper) text(v *string) {
	if *v == "" {
		return
	}
	k.fields = append(k.fields, v)
	k.size += len(*v)
}

func (k *stringKeeper) copyAll() {
	if len(k.fields) == 0 {
		return
	}
	var b strings.Builder
	b.Grow(k.size)
	for _, v := range k.fields {
		b.WriteString(*v)
	}
	all := b.String()
	for i, v := range k.fields {
		n := len(*v)
		*v, all = all[:n], all[n:]
		k.fields[i] = nil // a pooled parser must not keep the Session alive
	}
}

// keep gives every string of s memory that is not the body's.
func (k *stringKeeper) keep(s *Session) {
	o := &s.Origin
	k.token(&o.Username)
	k.token(&o.SessionID)
	k.token(&o.Version)
	k.token(&o.AddressType)
	k.text(&o.Address)
	k.text(&s.IceUfrag)
	k.text(&s.Fingerprint)
	k.token(&s.Setup)
	k.token(&s.Direction)
	for i := range s.Media {
		m := &s.Media[i]
		k.token(&m.Type)
		k.token(&m.Proto)
		for j := range m.Formats {
			k.token(&m.Formats[j])
		}
		k.token(&m.Direction)
		k.text(&m.IceUfrag)
		k.text(&m.Fingerprint)
		k.token(&m.Setup)
		for j := range m.Candidates {
			c := &m.Candidates[j]
			k.token(&c.Foundation)
			k.token(&c.Transport)
			k.token(&c.Type)
			k.token(&c.TCPType)
			k.text(&c.Hostname)
		}
	}
	k.copyAll()
}

// Sessions with the same rtpmaps share one RTPMap table: a call's offer
// and answer, and every call of a trunk, list the same few codecs, and a
// map costs a few hundred bytes however few it holds.
var rtpmapCache struct {
	sync.Mutex
	tables map[string]map[uint8]RTPMap
}

// Bounds on the shared tables, so that bodies with ever new rtpmaps cost
// a bounded amount: past maxSharedRTPMaps the cache starts over (the
// tables already handed out stay valid), and large tables are not shared.
const (
	maxSharedRTPMaps      = 256
	maxSharedRTPMapKey    = 512
	maxSharedRTPMapLength = 16
)

// sharedRTPMap returns the table of entries, added in order: a shared
// one, or a new one when entries are too many to share.
func sharedRTPMap(entries []rtpmapEntry) map[uint8]RTPMap {
	if len(entries) > maxSharedRTPMapLength {
		return newRTPMap(entries)
	}
	var keyBuf [maxSharedRTPMapKey]byte
	key := keyBuf[:0]
	for _, e := range entries {
		key = append(key, e.pt, byte(e.rm.Channels))
		key = binary.BigEndian.AppendUint32(key, e.rm.ClockRate)
		key = binary.AppendUvarint(key, uint64(len(e.rm.Encoding)))
		key = append(key, e.rm.Encoding...)
	}
	if len(key) > maxSharedRTPMapKey {
		return newRTPMap(entries)
	}
	c := &rtpmapCache
	c.Lock()
	defer c.Unlock()
	if t, ok := c.tables[string(key)]; ok {
		return t
	}
	if c.tables == nil || len(c.tables) >= maxSharedRTPMaps {
		c.tables = make(map[string]map[uint8]RTPMap)
	}
	t := newRTPMap(entries)
	c.tables[string(key)] = t
	return t
}

func newRTPMap(entries []rtpmapEntry) map[uint8]RTPMap {
	t := make(map[uint8]RTPMap, len(entries))
	for _, e := range entries {
		rm := e.rm
		if w, ok := internToken(rm.Encoding); ok {
			rm.Encoding = w
		} else {
			rm.Encoding = strings.Clone(rm.Encoding)
		}
		t[e.pt] = rm
	}
	return t
}
