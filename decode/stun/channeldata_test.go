package stun

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func hmacSHA256(key, msg []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(msg)
	return mac.Sum(nil)
}

func TestParseChannelData(t *testing.T) {
	tests := []struct {
		name    string
		msg     []byte
		overTCP bool
		ok      bool
		number  uint16
		payload []byte
	}{
		{"UDP unpadded", mustHex("400100056162636465"), false, true, 0x4001, []byte("abcde")},
		{"UDP padded", mustHex("4001000561626364650000 00"[:22] + "00"), false, true, 0x4001, []byte("abcde")},
		{"UDP aligned", mustHex("4FFF000461626364"), false, true, 0x4FFF, []byte("abcd")},
		{"UDP empty", mustHex("40000000"), false, true, 0x4000, []byte{}},
		{"UDP one byte of padding only", mustHex("40010005616263646500"), false, false, 0, nil},
		{"UDP a byte past the padding", mustHex("40010004616263640000"), false, false, 0, nil},
		{"UDP length overruns", mustHex("4001000861626364"), false, false, 0, nil},
		{"UDP short header", mustHex("400100"), false, false, 0, nil},
		{"first byte 0x3F", mustHex("3F01000461626364"), false, false, 0, nil},
		{"RFC 5766 range: 0x5A8A as coturn binds", mustHex("5A8A000461626364"), false, true, 0x5A8A, []byte("abcd")},
		{"first byte 0x80 (RTP)", mustHex("8001000461626364"), false, false, 0, nil},
		{"STUN header", rfc5769Request, false, false, 0, nil},
		{"TCP padded", mustHex("4001000561626364 65000000"[:16] + "65000000"), true, true, 0x4001, []byte("abcde")},
		{"TCP padded, next frame follows", mustHex("400100016100000040020000"), true, true, 0x4001, []byte("a")},
		{"TCP missing padding", mustHex("400100056162636465"), true, false, 0, nil},
	}
	for _, tt := range tests {
		number, length, payload, ok := ParseChannelData(tt.msg, tt.overTCP)
		if ok != tt.ok || number != tt.number || !bytes.Equal(payload, tt.payload) {
			t.Errorf("%s: ParseChannelData = %#x, %d, %q, %v; want %#x, %q, %v",
				tt.name, number, length, payload, ok, tt.number, tt.payload, tt.ok)
		}
		if ok && int(length) != len(payload) {
			t.Errorf("%s: length %d, payload %d bytes", tt.name, length, len(payload))
		}
	}
}

func TestChannelDataFrameLength(t *testing.T) {
	tests := []struct {
		msg []byte
		n   int
		ok  bool
	}{
		{mustHex("40010005"), 12, true},
		{mustHex("40010004"), 8, true},
		{mustHex("40010000"), 4, true},
		{mustHex("4FFFFFFF"), 65540, true},
		{mustHex("400100"), 0, false},
		{mustHex("00010004"), 0, false},
		{mustHex("80010004"), 0, false},
	}
	for _, tt := range tests {
		if n, ok := ChannelDataFrameLength(tt.msg); n != tt.n || ok != tt.ok {
			t.Errorf("ChannelDataFrameLength(%x) = %d, %v; want %d, %v", tt.msg, n, ok, tt.n, tt.ok)
		}
	}
}

func TestMessageLength(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		n    int
		ok   bool
	}{
		{"header only", rfc5769Request[:20], 108, true},
		{"first 8 bytes", rfc5769Request[:8], 108, true},
		{"7 bytes", rfc5769Request[:7], 0, false},
		{"classic", classicRequest, 0, false},
		{"ChannelData", mustHex("4001000561626364"), 0, false},
		{"unaligned length", mustHex("000100062112a442"), 0, false},
	}
	for _, tt := range tests {
		if n, ok := MessageLength(tt.msg); n != tt.n || ok != tt.ok {
			t.Errorf("%s: MessageLength = %d, %v; want %d, %v", tt.name, n, ok, tt.n, tt.ok)
		}
	}
}

func TestIsSTUN(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want bool
	}{
		{"RFC 5769 request", rfc5769Request, true},
		{"with trailing bytes", append(bytes.Clone(rfc5769Request), 0, 0, 0, 0), true},
		{"truncated", rfc5769Request[:len(rfc5769Request)-4], false},
		{"header only, length 0", mustHex("000100002112a442000000000000000000000000"), true},
		{"first byte 4", mustHex("040100002112a442000000000000000000000000"), false},
		{"bad cookie", mustHex("000100002112a443000000000000000000000000"), false},
		{"classic", classicRequest, false},
		{"short", rfc5769Request[:19], false},
	}
	for _, tt := range tests {
		if got := IsSTUN(tt.msg); got != tt.want {
			t.Errorf("IsSTUN(%s) = %v", tt.name, got)
		}
	}
}
