package sip

import "testing"

// BenchmarkParseInvite parses a realistic ~1.2 KB INVITE with SDP and
// digest credentials. The comparison with a library parser (sipgo) lives in
// the sipgobench module beside this package, to keep sipgo out of
// callscope's go.mod.
func BenchmarkParseInvite(b *testing.B) {
	in := mustRead(b, "testdata/invite.txt")
	var m Message
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLooksLikeSIP(b *testing.B) {
	in := mustRead(b, "testdata/invite.txt")
	b.ReportAllocs()
	for b.Loop() {
		if !LooksLikeSIP(in) {
			b.Fatal("not SIP")
		}
	}
}

func BenchmarkMessageLength(b *testing.B) {
	in := mustRead(b, "testdata/invite.txt")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := MessageLength(in); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
