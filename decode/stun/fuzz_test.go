package stun

import (
	"encoding/binary"
	"testing"
)

func FuzzDecode(f *testing.F) {
	for _, seed := range [][]byte{rfc5769Request, rfc5769ResponseV4, rfc5769ResponseV6, rfc5769LongTerm,
		classicRequest, classicResponse, {}, make([]byte, 20)} {
		f.Add(seed)
	}
	var m Message
	f.Fuzz(func(t *testing.T, b []byte) {
		err := m.Decode(b)
		if m.HeaderOK {
			if m.Type != binary.BigEndian.Uint16(b) || m.Type&0xC000 != 0 {
				t.Fatalf("Type %#x from header %x", m.Type, b[:2])
			}
			if m.Method > 0xFFF || m.Class > ClassError {
				t.Fatalf("method %#x class %d", m.Method, m.Class)
			}
		} else if err == nil {
			t.Fatal("no error and no header")
		}
		if err == nil {
			if len(m.Raw) != headerSize+int(m.Length) || len(m.Raw) > len(b) {
				t.Fatalf("Raw is %d bytes for length %d, input %d", len(m.Raw), m.Length, len(b))
			}
			// Decode takes any type with the two leading bits clear;
			// IsSTUN also wants RFC 7983's first byte 0..3.
			// Trailing bytes after an unaligned (MS-TURN) message are
			// ignored by Decode but refused by IsSTUN.
			aligned := m.Length%4 == 0 || len(b) == len(m.Raw)
			if !m.Classic && b[0] <= 3 && aligned && !IsSTUN(b) {
				t.Fatalf("decoded without error but IsSTUN is false: %x", b)
			}
		}
		if len(m.Attributes) > len(b)/4 {
			t.Fatalf("%d attributes in %d bytes", len(m.Attributes), len(b))
		}
		if m.FingerprintValid() && !m.HasFingerprint {
			t.Fatal("FingerprintValid without FINGERPRINT")
		}
		// Must not panic, whatever the message.
		m.CheckIntegrity([]byte("key"))
		if IsClassicSTUN(b) && (IsSTUN(b) || err != nil && !m.HeaderOK) {
			t.Fatalf("IsClassicSTUN accepted %x (IsSTUN %v, err %v)", b, IsSTUN(b), err)
		}
		if n, ok := MessageLength(b); ok && (n < headerSize || n%4 != 0) {
			t.Fatalf("MessageLength = %d", n)
		}
		for _, a := range m.Attributes {
			if AttrName(a) == "" || ClassicAttrName(a) == "" {
				t.Fatalf("no name for %#x", uint16(a))
			}
		}
	})
}

func FuzzChannelData(f *testing.F) {
	f.Add(mustHex("400100056162636465"), false)
	f.Add(mustHex("40010005616263646500000040020000"), true)
	f.Add(mustHex("40000000"), false)
	f.Add(rfc5769Request, false)
	f.Fuzz(func(t *testing.T, b []byte, overTCP bool) {
		number, length, payload, ok := ParseChannelData(b, overTCP)
		frame, framed := ChannelDataFrameLength(b)
		if !ok {
			if number != 0 || length != 0 || payload != nil {
				t.Fatal("values returned with ok = false")
			}
			return
		}
		if number < 0x4000 || number > 0x7FFF { // RFC 5766 §11 range, as coturn uses it
			t.Fatalf("channel number %#x", number)
		}
		if int(length) != len(payload) || len(payload) > len(b)-4 {
			t.Fatalf("length %d, payload %d bytes, input %d", length, len(payload), len(b))
		}
		if !framed || frame%4 != 0 || frame < 4+len(payload) || frame > 4+len(payload)+3 {
			t.Fatalf("frame length %d, %v for payload %d", frame, framed, len(payload))
		}
		if overTCP && frame > len(b) {
			t.Fatalf("TCP frame %d bytes, input %d", frame, len(b))
		}
		if !overTCP && len(b) != 4+len(payload) && len(b) != frame {
			t.Fatalf("UDP datagram %d bytes for payload %d", len(b), len(payload))
		}
		if IsSTUN(b) {
			t.Fatal("ChannelData and STUN at once")
		}
	})
}
