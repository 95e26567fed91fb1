package diagnose

import (
	"bytes"
	"testing"

	"github.com/callscope/callscope/decode/stun"
	pionstun "github.com/pion/stun/v3"
)

// signedAllocate builds a real Allocate request signed with the long-term
// key of user:realm:password, as a TURN client would send it.
func signedAllocate(t *testing.T, user, realm, password string) stun.Message {
	t.Helper()
	pm, err := pionstun.Build(pionstun.TransactionID,
		pionstun.NewType(pionstun.MethodAllocate, pionstun.ClassRequest),
		pionstun.NewUsername(user), pionstun.NewRealm(realm), pionstun.NewNonce("nonce-1"),
		pionstun.NewLongTermIntegrity(user, realm, password),
		pionstun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	m := stun.Message{
		Raw: pm.Raw, Method: stun.MethodAllocate, Class: stun.ClassRequest, Cookie: stunCookie,
		Username: user, Realm: realm, Nonce: "nonce-1", HasIntegrity: true, HasFingerprint: true,
	}
	copy(m.Transaction[:], pm.TransactionID[:])
	return m
}

func TestIntegrity(t *testing.T) {
	tests := []struct {
		name   string
		creds  []Credential
		signed [3]string // user, realm, password the client used
		want   IntegrityVerdict
	}{
		{"match", []Credential{{"alice", "s3cret"}}, [3]string{"alice", "example.org", "s3cret"}, IntegrityMatch},
		{"wrong password", []Credential{{"alice", "s3cret"}}, [3]string{"alice", "example.org", "guess"}, IntegrityMismatch},
		{"second password for the user matches", []Credential{{"alice", "old"}, {"alice", "s3cret"}},
			[3]string{"alice", "example.org", "s3cret"}, IntegrityMatch},
		{"no credential for the user", []Credential{{"bob", "s3cret"}}, [3]string{"alice", "example.org", "s3cret"}, IntegrityNotChecked},
		{"no credentials", nil, [3]string{"alice", "example.org", "s3cret"}, IntegrityNotChecked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := signedAllocate(t, tt.signed[0], tt.signed[1], tt.signed[2])
			before := bytes.Clone(s.Raw)
			e := NewEngine(Options{Credentials: tt.creds})
			a := simulate(t, e, []simEvent{fromClient(0, s), fromClient(1, s)}, 2)
			if len(a.Transactions) != 1 {
				t.Fatalf("got %d transactions", len(a.Transactions))
			}
			if got := a.Transactions[0].Integrity; got != tt.want {
				t.Errorf("Integrity = %v, want %v", got, tt.want)
			}
			if !bytes.Equal(s.Raw, before) {
				t.Error("the integrity check changed the message bytes")
			}
			if a.CredentialsGiven != (len(tt.creds) > 0) {
				t.Errorf("CredentialsGiven = %v", a.CredentialsGiven)
			}
		})
	}
}

// TestIntegrityKeyCache: keys are derived once per credential and realm.
func TestIntegrityKeyCache(t *testing.T) {
	c := newIntegrityChecker([]Credential{{"alice", "s3cret"}})
	for range 3 {
		for _, realm := range []string{"a.example", "b.example"} {
			s := signedAllocate(t, "alice", realm, "s3cret")
			if v := c.verdict(&s); v != IntegrityMatch {
				t.Fatalf("realm %s: %v", realm, v)
			}
		}
	}
	if len(c.keys) != 2 {
		t.Errorf("%d cached keys, want 2", len(c.keys))
	}
}

func TestScanAttributes(t *testing.T) {
	s := signedAllocate(t, "alice", "example.org", "pw")
	r := scanAttributes(s.Raw)
	if r.integrity < stunHeaderSize || r.integrityLen != 20 || r.integritySHA256 != -1 || r.dataLen != -1 {
		t.Errorf("scan = %+v", r)
	}
	// The FINGERPRINT (8 bytes) follows MESSAGE-INTEGRITY (24).
	if r.integrity+24+8 != len(s.Raw) {
		t.Errorf("MESSAGE-INTEGRITY at %d of %d bytes", r.integrity, len(s.Raw))
	}
	for _, n := range []int{0, 1, 19, 20, 23, 25} {
		if n > len(s.Raw) {
			continue
		}
		scanAttributes(s.Raw[:n]) // must not panic
	}
	ind := simIndication(t, stun.MethodData, 7)
	if got := dataLength(ind.Raw); got != 7 {
		t.Errorf("dataLength = %d, want 7", got)
	}
}

func FuzzScanAttributes(f *testing.F) {
	f.Add([]byte{0, 1, 0, 8, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0x13, 0, 3, 1, 2, 3, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := scanAttributes(b)
		if r.integrity >= 0 && r.integrity+4+r.integrityLen > len(b) {
			t.Fatalf("MESSAGE-INTEGRITY at %d+%d past %d bytes", r.integrity, r.integrityLen, len(b))
		}
		key := []byte("k")
		if r.integrity >= 0 || r.integritySHA256 >= 0 {
			checkIntegrity(b, r, key)
		}
	})
}
