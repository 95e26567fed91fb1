package stun

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	pionstun "github.com/pion/stun/v3"
)

var testTxID = [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// build encodes a message with pion's builders and returns its bytes.
func build(t testing.TB, setters ...pionstun.Setter) []byte {
	t.Helper()
	all := append([]pionstun.Setter{pionstun.NewTransactionIDSetter(testTxID)}, setters...)
	m, err := pionstun.Build(all...)
	if err != nil {
		t.Fatalf("building test message: %v", err)
	}
	return slices.Clone(m.Raw)
}

func raw(t pionstun.AttrType, v []byte) pionstun.Setter {
	return pionstun.RawAttribute{Type: t, Value: v}
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func xorAddr(t pionstun.AttrType, ip string, port int) pionstun.Setter {
	return setterFunc(func(m *pionstun.Message) error {
		return pionstun.XORMappedAddress{IP: net.ParseIP(ip), Port: port}.AddToAs(m, t)
	})
}

func plainAddr(t pionstun.AttrType, ip string, port int) pionstun.Setter {
	return setterFunc(func(m *pionstun.Message) error {
		a := pionstun.MappedAddress{IP: net.ParseIP(ip), Port: port}
		return a.AddToAs(m, t)
	})
}

type setterFunc func(*pionstun.Message) error

func (f setterFunc) AddTo(m *pionstun.Message) error { return f(m) }

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestDecodeBuilt(t *testing.T) {
	allocate := func(c pionstun.MessageClass) pionstun.Setter {
		return pionstun.NewType(pionstun.MethodAllocate, c)
	}
	tests := []struct {
		name  string
		msg   []byte
		check func(t *testing.T, m *Message)
	}{
		{
			name: "ICE binding request",
			msg: build(t, pionstun.BindingRequest,
				pionstun.NewUsername("abcd:efgh"),
				raw(pionstun.AttrPriority, u32(0x6e0001ff)),
				raw(pionstun.AttrICEControlling, u64(0x0102030405060708)),
				raw(pionstun.AttrUseCandidate, nil),
				pionstun.NewShortTermIntegrity("secret"),
				pionstun.Fingerprint),
			check: func(t *testing.T, m *Message) {
				want := []pionstun.AttrType{pionstun.AttrUsername, pionstun.AttrPriority,
					pionstun.AttrICEControlling, pionstun.AttrUseCandidate,
					pionstun.AttrMessageIntegrity, pionstun.AttrFingerprint}
				if !slices.Equal(m.Attributes, want) {
					t.Errorf("Attributes = %v, want %v", m.Attributes, want)
				}
				if m.Method != MethodBinding || m.Class != ClassRequest || m.Classic {
					t.Errorf("method/class/classic = %v/%v/%v", m.Method, m.Class, m.Classic)
				}
				if m.Username != "abcd:efgh" {
					t.Errorf("Username = %q", m.Username)
				}
				if !m.HasPriority || m.Priority != 0x6e0001ff {
					t.Errorf("Priority = %v %#x", m.HasPriority, m.Priority)
				}
				if !m.IceControlling || m.IceControlled || m.IceTieBreaker != 0x0102030405060708 {
					t.Errorf("ICE role = %v/%v %#x", m.IceControlling, m.IceControlled, m.IceTieBreaker)
				}
				if !m.UseCandidate || !m.HasIntegrity || !m.HasFingerprint || !m.FingerprintValid() {
					t.Errorf("UseCandidate/HasIntegrity/HasFingerprint/FingerprintValid = %v/%v/%v/%v",
						m.UseCandidate, m.HasIntegrity, m.HasFingerprint, m.FingerprintValid())
				}
				if checked, ok := m.CheckIntegrity(ShortTermKey("secret")); !checked || !ok {
					t.Errorf("CheckIntegrity(right key) = %v, %v", checked, ok)
				}
				if checked, ok := m.CheckIntegrity(ShortTermKey("Secret")); !checked || ok {
					t.Errorf("CheckIntegrity(wrong key) = %v, %v", checked, ok)
				}
			},
		},
		{
			name: "ICE binding success, controlled",
			msg: build(t, pionstun.BindingSuccess,
				xorAddr(pionstun.AttrXORMappedAddress, "192.0.2.7", 40000),
				raw(pionstun.AttrICEControlled, u64(7))),
			check: func(t *testing.T, m *Message) {
				if m.Class != ClassSuccess || m.XORMappedAddress != ap("192.0.2.7:40000") {
					t.Errorf("class %v, XOR-MAPPED-ADDRESS %v", m.Class, m.XORMappedAddress)
				}
				if !m.IceControlled || m.IceControlling || m.IceTieBreaker != 7 {
					t.Errorf("ICE role = %v/%v %d", m.IceControlling, m.IceControlled, m.IceTieBreaker)
				}
				if m.HasFingerprint || m.FingerprintValid() || m.HasIntegrity {
					t.Error("fingerprint/integrity reported on a message without them")
				}
				if checked, _ := m.CheckIntegrity([]byte("k")); checked {
					t.Error("CheckIntegrity checked a message without integrity")
				}
			},
		},
		{
			name: "Allocate 401",
			msg: build(t, allocate(pionstun.ClassErrorResponse),
				pionstun.ErrorCodeAttribute{Code: 401, Reason: []byte("Unauthorized")},
				pionstun.NewRealm("example.org"),
				pionstun.NewNonce("f//499k954d6OL34oL9FSTvy64sA"),
				pionstun.NewSoftware("coturn"),
				pionstun.Fingerprint),
			check: func(t *testing.T, m *Message) {
				if m.Method != MethodAllocate || m.Class != ClassError {
					t.Errorf("method/class = %v/%v", m.Method, m.Class)
				}
				if m.ErrorCode != 401 || m.ErrorReason != "Unauthorized" {
					t.Errorf("error = %d %q", m.ErrorCode, m.ErrorReason)
				}
				if m.Realm != "example.org" || m.Nonce != "f//499k954d6OL34oL9FSTvy64sA" || m.Software != "coturn" {
					t.Errorf("realm/nonce/software = %q/%q/%q", m.Realm, m.Nonce, m.Software)
				}
				if !m.FingerprintValid() {
					t.Error("FingerprintValid = false")
				}
			},
		},
		{
			name: "Allocate request",
			msg: build(t, allocate(pionstun.ClassRequest),
				raw(pionstun.AttrRequestedTransport, []byte{17, 0, 0, 0}),
				raw(pionstun.AttrLifetime, u32(3600)),
				pionstun.NewUsername("user"), pionstun.NewRealm("r"), pionstun.NewNonce("n"),
				pionstun.NewLongTermIntegrity("user", "r", "pass")),
			check: func(t *testing.T, m *Message) {
				if m.RequestedTransport != 17 || !m.HasLifetime || m.Lifetime != 3600 {
					t.Errorf("transport %d lifetime %v %d", m.RequestedTransport, m.HasLifetime, m.Lifetime)
				}
				if checked, ok := m.CheckIntegrity(LongTermKeyMD5("user", "r", "pass")); !checked || !ok {
					t.Errorf("CheckIntegrity(long-term) = %v, %v", checked, ok)
				}
				if _, ok := m.CheckIntegrity(LongTermKeyMD5("user", "r", "wrong")); ok {
					t.Error("CheckIntegrity accepted a wrong password")
				}
			},
		},
		{
			name: "Allocate success",
			msg: build(t, allocate(pionstun.ClassSuccessResponse),
				xorAddr(pionstun.AttrXORRelayedAddress, "203.0.113.5", 49152),
				xorAddr(pionstun.AttrXORMappedAddress, "2001:db8::1", 5000),
				raw(pionstun.AttrLifetime, u32(600)),
				plainAddr(pionstun.AttrResponseOrigin, "198.51.100.1", 3478),
				plainAddr(pionstun.AttrOtherAddress, "198.51.100.2", 3479),
				plainAddr(pionstun.AttrMappedAddress, "192.0.2.9", 1234),
				pionstun.NewSoftware("x")),
			check: func(t *testing.T, m *Message) {
				if m.XORRelayedAddress != ap("203.0.113.5:49152") {
					t.Errorf("XOR-RELAYED-ADDRESS = %v", m.XORRelayedAddress)
				}
				if m.XORMappedAddress != ap("[2001:db8::1]:5000") {
					t.Errorf("XOR-MAPPED-ADDRESS = %v", m.XORMappedAddress)
				}
				if m.ResponseOrigin != ap("198.51.100.1:3478") || m.OtherAddress != ap("198.51.100.2:3479") {
					t.Errorf("RESPONSE-ORIGIN %v OTHER-ADDRESS %v", m.ResponseOrigin, m.OtherAddress)
				}
				if m.MappedAddress != ap("192.0.2.9:1234") || m.Lifetime != 600 {
					t.Errorf("MAPPED-ADDRESS %v lifetime %d", m.MappedAddress, m.Lifetime)
				}
			},
		},
		{
			name: "CreatePermission with two peers",
			msg: build(t, pionstun.NewType(pionstun.MethodCreatePermission, pionstun.ClassRequest),
				xorAddr(pionstun.AttrXORPeerAddress, "192.0.2.1", 1),
				xorAddr(pionstun.AttrXORPeerAddress, "2001:db8::2", 2)),
			check: func(t *testing.T, m *Message) {
				want := []netip.AddrPort{ap("192.0.2.1:1"), ap("[2001:db8::2]:2")}
				if !slices.Equal(m.XORPeerAddresses, want) || m.Method != MethodCreatePermission {
					t.Errorf("peers %v method %v", m.XORPeerAddresses, m.Method)
				}
			},
		},
		{
			name: "ChannelBind",
			msg: build(t, pionstun.NewType(pionstun.MethodChannelBind, pionstun.ClassRequest),
				raw(pionstun.AttrChannelNumber, []byte{0x40, 0x01, 0, 0}),
				xorAddr(pionstun.AttrXORPeerAddress, "192.0.2.1", 9)),
			check: func(t *testing.T, m *Message) {
				if !m.HasChannelNumber || m.ChannelNumber != 0x4001 || m.Method != MethodChannelBind {
					t.Errorf("channel %v %#x method %v", m.HasChannelNumber, m.ChannelNumber, m.Method)
				}
			},
		},
		{
			name: "Send indication",
			msg: build(t, pionstun.NewType(pionstun.MethodSend, pionstun.ClassIndication),
				xorAddr(pionstun.AttrXORPeerAddress, "192.0.2.1", 9),
				raw(pionstun.AttrData, []byte("hello"))),
			check: func(t *testing.T, m *Message) {
				if m.Class != ClassIndication || m.Method != MethodSend || string(m.Data) != "hello" {
					t.Errorf("class %v method %v data %q", m.Class, m.Method, m.Data)
				}
			},
		},
		{
			name: "first of a repeated attribute wins",
			msg:  build(t, pionstun.BindingRequest, pionstun.NewUsername("first"), pionstun.NewUsername("second")),
			check: func(t *testing.T, m *Message) {
				if m.Username != "first" || len(m.Attributes) != 2 {
					t.Errorf("Username %q, %d attributes", m.Username, len(m.Attributes))
				}
			},
		},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !IsSTUN(tt.msg) {
				t.Fatal("IsSTUN = false")
			}
			if n, ok := MessageLength(tt.msg); !ok || n != len(tt.msg) {
				t.Errorf("MessageLength = %d, %v; want %d", n, ok, len(tt.msg))
			}
			if err := m.Decode(tt.msg); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !m.HeaderOK || m.Transaction != testTxID || m.Cookie != magicCookie {
				t.Errorf("HeaderOK %v transaction %x cookie %#x", m.HeaderOK, m.Transaction, m.Cookie)
			}
			if len(m.Raw) != len(tt.msg) || m.Type != binary.BigEndian.Uint16(tt.msg) {
				t.Errorf("Raw %d bytes, Type %#x", len(m.Raw), m.Type)
			}
			tt.check(t, &m)
		})
	}
}

// RFC 5769 test vectors (§2.1 to §2.4).
var (
	rfc5769Request = mustHex("000100582112a442b7e7a701bc34d686fa87dfae" +
		"802200105354554e207465737420636c69656e74" +
		"002400046e0001ff" +
		"80290008932ff9b151263b36" +
		"000600096576746a3a68367659202020" +
		"000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2" +
		"80280004e57a3bcf")
	rfc5769ResponseV4 = mustHex("0101003c2112a442b7e7a701bc34d686fa87dfae" +
		"8022000b7465737420766563746f7220" +
		"002000080001a147e112a643" +
		"000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7" +
		"80280004c07d4c96")
	rfc5769ResponseV6 = mustHex("010100482112a442b7e7a701bc34d686fa87dfae" +
		"8022000b7465737420766563746f7220" +
		"002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9" +
		"00080014a382954e4be67bf11784c97c8292c275bfe3ed41" +
		"80280004c8fb0b4c")
	rfc5769LongTerm = mustHex("000100602112a44278ad3433c6ad72c029da412e" +
		"00060012e3839ee38388e383aae38383e382afe382b90000" +
		"0015001c662f2f3439396b39353464364f4c33346f4c394653547679363473410014000b6578616d706c652e6f726700" +
		"00080014f67024656dd64a3e02b8e0712e85c9a28ca89666")
)

const rfc5769Password = "VOkJxbRl1RmTxUk/WvJxBt"

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestRFC5769(t *testing.T) {
	tests := []struct {
		name      string
		msg       []byte
		key, bad  []byte
		software  string
		xorMapped netip.AddrPort
	}{
		{"2.1 request", rfc5769Request, ShortTermKey(rfc5769Password), ShortTermKey("VOkJxbRl1RmTxUk/WvJxBT"), "STUN test client", netip.AddrPort{}},
		{"2.2 IPv4 response", rfc5769ResponseV4, ShortTermKey(rfc5769Password), ShortTermKey("wrong"), "test vector", ap("192.0.2.1:32853")},
		{"2.3 IPv6 response", rfc5769ResponseV6, ShortTermKey(rfc5769Password), ShortTermKey("wrong"), "test vector", ap("[2001:db8:1234:5678:11:2233:4455:6677]:32853")},
		{"2.4 long-term request", rfc5769LongTerm, LongTermKeyMD5("マトリックス", "example.org", "TheMatrIX"),
			LongTermKeyMD5("マトリックス", "example.org", "TheMatrix"), "", netip.AddrPort{}},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Decode(tt.msg); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Software != tt.software || m.XORMappedAddress != tt.xorMapped {
				t.Errorf("software %q xor-mapped %v", m.Software, m.XORMappedAddress)
			}
			if m.HasFingerprint != !strings.Contains(tt.name, "long-term") || m.HasFingerprint != m.FingerprintValid() {
				t.Errorf("HasFingerprint %v FingerprintValid %v", m.HasFingerprint, m.FingerprintValid())
			}
			if checked, ok := m.CheckIntegrity(tt.key); !checked || !ok {
				t.Errorf("CheckIntegrity(right key) = %v, %v", checked, ok)
			}
			if checked, ok := m.CheckIntegrity(tt.bad); !checked || ok {
				t.Errorf("CheckIntegrity(wrong key) = %v, %v", checked, ok)
			}
		})
	}
	if err := m.Decode(rfc5769LongTerm); err != nil {
		t.Fatal(err)
	}
	if m.Username != "マトリックス" || m.Realm != "example.org" || m.Nonce != "f//499k954d6OL34oL9FSTvy64sA" {
		t.Errorf("long-term username/realm/nonce = %q/%q/%q", m.Username, m.Realm, m.Nonce)
	}
	if err := m.Decode(rfc5769Request); err != nil {
		t.Fatal(err)
	}
	if m.Username != "evtj:h6vY" || m.Priority != 0x6e0001ff || !m.IceControlled || m.IceTieBreaker != 0x932ff9b151263b36 {
		t.Errorf("request username %q priority %#x controlled %v tie-breaker %#x",
			m.Username, m.Priority, m.IceControlled, m.IceTieBreaker)
	}
}

// CheckIntegrity reads the packet's bytes in place: it must leave them as
// they were (the header length is rewritten in a copy), give the same
// answer every time, and allocate nothing once the key is cached.
func TestCheckIntegrityInPlace(t *testing.T) {
	buf := slices.Clone(rfc5769Request)
	var m Message
	if err := m.Decode(buf); err != nil {
		t.Fatal(err)
	}
	key, wrong := ShortTermKey(rfc5769Password), ShortTermKey("wrong")
	for i := range 3 {
		if checked, ok := m.CheckIntegrity(key); !checked || !ok {
			t.Errorf("check %d: CheckIntegrity = %v, %v", i, checked, ok)
		}
		if checked, ok := m.CheckIntegrity(wrong); !checked || ok {
			t.Errorf("check %d: CheckIntegrity(wrong key) = %v, %v", i, checked, ok)
		}
	}
	if !slices.Equal(buf, rfc5769Request) {
		t.Error("CheckIntegrity changed the message bytes")
	}
	// A copy of the Message shares the key cache; answers stay right.
	c := m
	if _, ok := c.CheckIntegrity(wrong); ok {
		t.Error("copy accepted the wrong key")
	}
	if _, ok := m.CheckIntegrity(key); !ok {
		t.Error("original refused the right key after the copy rekeyed")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := m.CheckIntegrity(key); !ok {
			t.Fatal("refused")
		}
	})
	if allocs != 0 {
		t.Errorf("CheckIntegrity allocates %.1f times per check with a cached key", allocs)
	}
	// A message built by hand, without offsets from Decode, is not checked.
	hand := Message{Raw: rfc5769Request, HasIntegrity: true}
	if checked, _ := hand.CheckIntegrity(key); checked {
		t.Error("checked a Message that Decode did not fill")
	}
}

// FingerprintValid matches pion's check on the RFC 5769 vectors.
func TestFingerprintValidAgainstPion(t *testing.T) {
	for _, msg := range [][]byte{rfc5769Request, rfc5769ResponseV4, rfc5769LongTerm} {
		pm := &pionstun.Message{Raw: slices.Clone(msg)}
		if err := pm.Decode(); err != nil {
			t.Fatal(err)
		}
		_, has := pm.Attributes.Get(pionstun.AttrFingerprint)
		want := has && pionstun.Fingerprint.Check(pm) == nil
		var m Message
		if err := m.Decode(msg); err != nil {
			t.Fatal(err)
		}
		if m.FingerprintValid() != want || m.HasFingerprint != has {
			t.Errorf("%x: FingerprintValid %v HasFingerprint %v, pion %v %v", msg[:8], m.FingerprintValid(), m.HasFingerprint, want, has)
		}
	}
}

// appendSHA256Integrity adds MESSAGE-INTEGRITY-SHA256 truncated to n bytes,
// computed here independently of the package (RFC 8489 §14.6).
func appendSHA256Integrity(msg, key []byte, n int) []byte {
	out := slices.Clone(msg)
	binary.BigEndian.PutUint16(out[2:], uint16(len(out)-20+4+n))
	sum := hmacSHA256(key, out)
	out = binary.BigEndian.AppendUint16(out, 0x001C)
	out = binary.BigEndian.AppendUint16(out, uint16(n))
	return append(out, sum[:n]...)
}

func TestCheckIntegritySHA256(t *testing.T) {
	base := build(t, pionstun.NewType(pionstun.MethodAllocate, pionstun.ClassRequest),
		pionstun.NewUsername("user"), pionstun.NewRealm("realm"),
		raw(pionstun.AttrPasswordAlgorithm, []byte{0, 2, 0, 0}))
	key := LongTermKeySHA256("user", "realm", "pass")
	for _, n := range []int{32, 16} {
		msg := appendSHA256Integrity(base, key, n)
		var m Message
		if err := m.Decode(msg); err != nil {
			t.Fatalf("%d bytes: Decode: %v", n, err)
		}
		if !m.HasIntegritySHA256 || m.HasIntegrity || m.PasswordAlgorithm != 2 {
			t.Errorf("%d bytes: HasIntegritySHA256 %v HasIntegrity %v algorithm %d", n, m.HasIntegritySHA256, m.HasIntegrity, m.PasswordAlgorithm)
		}
		if checked, ok := m.CheckIntegrity(key); !checked || !ok {
			t.Errorf("%d bytes: CheckIntegrity(right key) = %v, %v", n, checked, ok)
		}
		if checked, ok := m.CheckIntegrity(LongTermKeySHA256("user", "realm", "Pass")); !checked || ok {
			t.Errorf("%d bytes: CheckIntegrity(wrong key) = %v, %v", n, checked, ok)
		}
		// A FINGERPRINT after the integrity attribute is left out of the HMAC.
		pm := &pionstun.Message{Raw: slices.Clone(msg)}
		if err := pm.Decode(); err != nil {
			t.Fatal(err)
		}
		if err := pionstun.Fingerprint.AddTo(pm); err != nil {
			t.Fatal(err)
		}
		if err := m.Decode(pm.Raw); err != nil {
			t.Fatal(err)
		}
		if checked, ok := m.CheckIntegrity(key); !checked || !ok || !m.FingerprintValid() {
			t.Errorf("%d bytes with FINGERPRINT: CheckIntegrity = %v, %v; FingerprintValid %v", n, checked, ok, m.FingerprintValid())
		}
	}
}

func TestFingerprint(t *testing.T) {
	good := build(t, pionstun.BindingRequest, pionstun.NewSoftware("abc"), pionstun.Fingerprint)
	badCRC := slices.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	badBody := slices.Clone(good)
	badBody[len(badBody)-10] ^= 1 // inside SOFTWARE
	notLast := build(t, pionstun.BindingRequest, raw(pionstun.AttrFingerprint, good[len(good)-4:]), pionstun.NewSoftware("abc"))
	tests := []struct {
		name string
		msg  []byte
		ok   bool
	}{
		{"good", good, true},
		{"CRC flipped", badCRC, false},
		{"body flipped", badBody, false},
		{"not last", notLast, false},
	}
	var m Message
	for _, tt := range tests {
		if err := m.Decode(tt.msg); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !m.HasFingerprint || m.FingerprintValid() != tt.ok {
			t.Errorf("%s: HasFingerprint %v FingerprintValid %v, want ok %v", tt.name, m.HasFingerprint, m.FingerprintValid(), tt.ok)
		}
	}
}

// Classic RFC 3489 Binding request (CHANGE-REQUEST) and response
// (MAPPED-ADDRESS), as in nDPI's stun_classic.pcap.
var (
	classicRequest  = mustHex("000100089429ef88294dd52632c72931cb8dbb4c0003000400000000")
	classicResponse = mustHex("0101000c9429ef88294dd52632c72931cb8dbb4c000100080001d70aac103fe0")
)

func TestClassic(t *testing.T) {
	var m Message
	for _, msg := range [][]byte{classicRequest, classicResponse} {
		if IsSTUN(msg) || !IsClassicSTUN(msg) {
			t.Errorf("%x: IsSTUN %v IsClassicSTUN %v", msg, IsSTUN(msg), IsClassicSTUN(msg))
		}
		if _, ok := MessageLength(msg); ok {
			t.Errorf("MessageLength accepted a classic header")
		}
	}
	if err := m.Decode(classicRequest); err != nil {
		t.Fatal(err)
	}
	if !m.Classic || m.Cookie != 0x9429ef88 || m.Method != MethodBinding || m.Class != ClassRequest {
		t.Errorf("request: classic %v cookie %#x %v/%v", m.Classic, m.Cookie, m.Method, m.Class)
	}
	if !slices.Equal(m.Attributes, []pionstun.AttrType{pionstun.AttrChangeRequest}) {
		t.Errorf("request attributes %v", m.Attributes)
	}
	wantTx := TransactionID(mustHex("294dd52632c72931cb8dbb4c"))
	if m.Transaction != wantTx {
		t.Errorf("transaction %x", m.Transaction)
	}
	if err := m.Decode(classicResponse); err != nil {
		t.Fatal(err)
	}
	if m.Class != ClassSuccess || m.MappedAddress != ap("172.16.63.224:55050") {
		t.Errorf("response: class %v MAPPED-ADDRESS %v", m.Class, m.MappedAddress)
	}
	if checked, _ := m.CheckIntegrity([]byte("x")); checked {
		t.Error("CheckIntegrity checked a classic message")
	}

	// MS-TURN Data Indication, classic type 0x0115.
	msData := mustHex("011500089429ef88294dd52632c72931cb8dbb4c000f000472c64bc6")
	if !IsClassicSTUN(msData) {
		t.Error("IsClassicSTUN(MS-TURN Data Indication) = false")
	}
	if err := m.Decode(msData); err != nil || m.Method != MethodData || m.Class != ClassIndication {
		t.Errorf("MS-TURN Data Indication: %v %v/%v", err, m.Method, m.Class)
	}

	notClassic := []struct {
		name string
		msg  []byte
	}{
		{"unknown type", mustHex("000900089429ef88294dd52632c72931cb8dbb4c0003000400000000")},
		{"trailing byte", append(slices.Clone(classicRequest), 0)},
		{"short body", classicRequest[:len(classicRequest)-4]},
		{"length not multiple of 4", mustHex("000100069429ef88294dd52632c72931cb8dbb4c000300020000")},
		{"attribute overrun", mustHex("000100089429ef88294dd52632c72931cb8dbb4c0003000800000000")},
		{"magic cookie", mustHex("000100082112a442294dd52632c72931cb8dbb4c0003000400000000")},
		{"short", classicRequest[:19]},
	}
	for _, tt := range notClassic {
		if IsClassicSTUN(tt.msg) {
			t.Errorf("IsClassicSTUN(%s) = true", tt.name)
		}
	}
	for _, p := range []uint16{3478, 3479, 5349, 19302} {
		if !IsClassicSTUNPort(p) {
			t.Errorf("IsClassicSTUNPort(%d) = false", p)
		}
	}
	for _, p := range []uint16{0, 53, 3477, 5060, 13958, 19310} {
		if IsClassicSTUNPort(p) {
			t.Errorf("IsClassicSTUNPort(%d) = true", p)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	binding := build(t, pionstun.BindingRequest, pionstun.NewUsername("ab"))
	overrun := slices.Clone(binding)
	binary.BigEndian.PutUint16(overrun[22:], 9) // USERNAME claims 9 bytes, 4 follow
	badFamily := build(t, pionstun.BindingSuccess, raw(pionstun.AttrXORMappedAddress, []byte{0, 3, 0, 1, 1, 2, 3, 4}),
		pionstun.NewSoftware("s"))
	shortLifetime := build(t, pionstun.NewType(pionstun.MethodRefresh, pionstun.ClassRequest), raw(pionstun.AttrLifetime, []byte{0, 0}))

	tests := []struct {
		name     string
		msg      []byte
		headerOK bool
		inAttr   bool
		attr     pionstun.AttrType
		offset   int
		contains string
	}{
		{"empty", nil, false, false, 0, 0, "shorter than the 20-byte header"},
		{"short header", binding[:12], false, false, 0, 0, "12 bytes"},
		{"leading bits", append([]byte{0x40, 0x01}, binding[2:]...), false, false, 0, 0, "leading bit"},
		{"length overruns", binding[:24], true, false, 0, 2, "overruns"},
		{"attribute overrun", overrun, true, true, pionstun.AttrUsername, 20, "length 9 overruns"},
		// zeek-spicy-stun stun-attribute-length-ffff.pcap, frame 2
		{"0xFFFF attribute length", mustHex("0101000c2112a442534f70436969354a6663317a0001ffff000111fc46c7802e"),
			true, true, pionstun.AttrMappedAddress, 20, "length 65535"},
		// zeek-spicy-stun stun-malformed-error.pcap, frame 2
		{"3-byte ERROR-CODE", mustHex("011100342112a442e7f02b9c4f87d5596104a2fc0009000300000500534552564552204552524f5200080014f7f544c1694a3e93f8db145a1b6a889ef488cc6d80280004b7586f5e"),
			true, true, pionstun.AttrErrorCode, 20, "want at least 4"},
		{"unknown address family", badFamily, true, true, pionstun.AttrXORMappedAddress, 20, "family 0x03"},
		{"short LIFETIME", shortLifetime, true, true, pionstun.AttrLifetime, 20, "want 4"},
	}
	var m Message
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Decode(tt.msg)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode error = %v, want *Error", err)
			}
			if e.InAttr != tt.inAttr || e.Attr != tt.attr || e.Offset != tt.offset || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q: InAttr %v Attr %#x Offset %d; want %v %#x %d containing %q",
					err, e.InAttr, uint16(e.Attr), e.Offset, tt.inAttr, uint16(tt.attr), tt.offset, tt.contains)
			}
			if m.HeaderOK != tt.headerOK {
				t.Errorf("HeaderOK = %v", m.HeaderOK)
			}
			if m.HeaderOK && (m.Type != binary.BigEndian.Uint16(tt.msg) || m.Method == 0) {
				t.Errorf("header not filled: type %#x method %v", m.Type, m.Method)
			}
		})
	}
	// A bad value does not stop the walk: the attributes after it are decoded.
	if err := m.Decode(badFamily); err == nil || m.Software != "s" {
		t.Errorf("after a bad XOR-MAPPED-ADDRESS: err %v, Software %q", err, m.Software)
	}
}

// WhatsApp sends Allocate requests whose length is not a multiple of 4 and
// whose last attribute is unpadded; tshark decodes them and flags them.
func TestLengthNotMultipleOf4(t *testing.T) {
	msg := mustHex("000300062112a442a6674f75f0ad2c001315b34a" + "0006000261620000")[:26]
	binary.BigEndian.PutUint16(msg[2:], 6)
	if !IsSTUN(msg) {
		t.Error("IsSTUN = false for a message that fills the datagram")
	}
	if IsSTUN(append(slices.Clone(msg), 0, 0)) {
		t.Error("IsSTUN = true with bytes after an unaligned message")
	}
	if _, ok := MessageLength(msg); ok {
		t.Error("MessageLength framed an unaligned length")
	}
	var m Message
	err := m.Decode(msg)
	if err == nil || !strings.Contains(err.Error(), "not a multiple of 4") {
		t.Errorf("Decode error = %v", err)
	}
	if !m.HeaderOK || m.Method != MethodAllocate || m.Username != "ab" {
		t.Errorf("HeaderOK %v method %v username %q", m.HeaderOK, m.Method, m.Username)
	}
}

// MS-TURN does not pad attribute values; its messages start with the
// MAGIC-COOKIE attribute.
func TestMSTURNUnpadded(t *testing.T) {
	body := mustHex("000f000472c64bc6" + "00140003616263" + "000600027576" + "00150001" + "6e")
	msg := append(mustHex("000300002112a442010203040506070809101112"), body...)
	binary.BigEndian.PutUint16(msg[2:], uint16(len(body)))
	var m Message
	if err := m.Decode(msg); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if m.Realm != "abc" || m.Username != "uv" || m.Nonce != "n" || len(m.Attributes) != 4 {
		t.Errorf("realm %q username %q nonce %q attributes %v", m.Realm, m.Username, m.Nonce, m.Attributes)
	}
}

func TestDecodeResets(t *testing.T) {
	var m Message
	full := build(t, pionstun.NewType(pionstun.MethodCreatePermission, pionstun.ClassRequest),
		xorAddr(pionstun.AttrXORPeerAddress, "192.0.2.1", 1), pionstun.NewUsername("u"),
		pionstun.ErrorCodeAttribute{Code: 438, Reason: []byte("Stale Nonce")}, raw(pionstun.AttrData, []byte{1}),
		pionstun.Fingerprint)
	if err := m.Decode(full); err != nil {
		t.Fatal(err)
	}
	if err := m.Decode(rfc5769ResponseV4); err != nil {
		t.Fatal(err)
	}
	if len(m.XORPeerAddresses) != 0 || m.Username != "" || m.ErrorCode != 0 || m.ErrorReason != "" || m.Data != nil {
		t.Errorf("state left over: peers %v username %q error %d %q data %v",
			m.XORPeerAddresses, m.Username, m.ErrorCode, m.ErrorReason, m.Data)
	}
	if err := m.Decode([]byte{1}); err == nil || m.HeaderOK || m.HasFingerprint || m.FingerprintValid() || m.Software != "" {
		t.Errorf("after a bad message: err %v HeaderOK %v fingerprint %v", err, m.HeaderOK, m.HasFingerprint)
	}
}

func TestAttrName(t *testing.T) {
	tests := map[pionstun.AttrType]string{
		0x0006: "USERNAME",
		0x0020: "XOR-MAPPED-ADDRESS",
		0x8020: "XOR-MAPPED-ADDRESS",
		0x001C: "MESSAGE-INTEGRITY-SHA256",
		0x802A: "ICE-CONTROLLING",
		0x0004: "SOURCE-ADDRESS",
		0x0003: "CHANGE-REQUEST",
		0x8022: "SOFTWARE",
		0x0019: "REQUESTED-TRANSPORT",
		0x002A: "CONNECTION-ID",
		0x802C: "OTHER-ADDRESS",
		0xC057: "GOOG-NETWORK-INFO",
		0xABCD: "0xABCD",
		0x0000: "0x0000",
	}
	for at, want := range tests {
		if got := AttrName(at); got != want {
			t.Errorf("AttrName(%#04x) = %q, want %q", uint16(at), got, want)
		}
	}
	if got := ClassicAttrName(0x0012); got != "REMOTE-ADDRESS" {
		t.Errorf("ClassicAttrName(0x0012) = %q", got)
	}
	if got := ClassicAttrName(0x0006); got != "USERNAME" {
		t.Errorf("ClassicAttrName(0x0006) = %q", got)
	}
}

func TestDecodeBindingDoesNotAllocate(t *testing.T) {
	req := rfc5769Request
	resp := rfc5769ResponseV4
	var m Message
	allocs := testing.AllocsPerRun(100, func() {
		_ = m.Decode(req)
		_ = m.Decode(resp)
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %.1f times per request/response pair in steady state", allocs)
	}
}

func BenchmarkDecodeBinding(b *testing.B) {
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(rfc5769Request)))
	for b.Loop() {
		if err := m.Decode(rfc5769Request); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBindingResponse(b *testing.B) {
	var m Message
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Decode(rfc5769ResponseV4); err != nil {
			b.Fatal(err)
		}
	}
}
