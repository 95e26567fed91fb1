package stun

import (
	"encoding/hex"
	"testing"
)

func TestIsClassicBinding(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want bool
	}{
		// RFC 3489 Binding Request with CHANGE-REQUEST, as nDPI's stun_classic.pcap frame 1.
		{"request with CHANGE-REQUEST", "00010008" + "0123456789abcdef0123456789abcdef" + "0003000400000000", true},
		{"response with MAPPED-ADDRESS", "0101000c" + "0123456789abcdef0123456789abcdef" + "000100080001c35ac0000201", true},
		{"bare header: too weak off the STUN ports", "00010000" + "0123456789abcdef0123456789abcdef", false},
		{"CHANGE-REQUEST of the wrong length", "0001000c" + "0123456789abcdef0123456789abcdef" + "000300080000000000000000", false},
		{"unknown attribute type", "00010008" + "0123456789abcdef0123456789abcdef" + "7777000400000000", false},
		{"not Binding", "01150008" + "0123456789abcdef0123456789abcdef" + "0003000400000000", false},
		{"magic cookie: not classic", "00010008" + "2112a4420123456789abcdef01234567" + "0003000400000000", false},
		{"length disagrees with datagram", "0001000c" + "0123456789abcdef0123456789abcdef" + "0003000400000000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			if got := IsClassicBinding(b); got != tt.want {
				t.Errorf("IsClassicBinding = %v, want %v", got, tt.want)
			}
		})
	}
}
