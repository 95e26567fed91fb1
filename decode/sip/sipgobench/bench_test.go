// Package sipgobench compares callscope's SIP scanner with sipgo's parser
// (github.com/emiago/sipgo, a maintained Go SIP stack). It is a module of
// its own so that sipgo stays out of callscope's go.mod:
//
//	cd decode/sip/sipgobench && go test -bench . -benchmem
package sipgobench

import (
	"os"
	"testing"

	"github.com/callscope/callscope/decode/sip"
	sipgo "github.com/emiago/sipgo/sip"
)

func invite(b *testing.B) []byte {
	in, err := os.ReadFile("../testdata/invite.txt")
	if err != nil {
		b.Fatal(err)
	}
	return in
}

func BenchmarkParseInvite(b *testing.B) {
	b.Run("callscope", func(b *testing.B) {
		in := invite(b)
		var m sip.Message
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		for b.Loop() {
			if err := m.Parse(in); err != nil {
				b.Fatal(err)
			}
		}
		if string(m.CallID) != "a84b4c76e66710@pc33.atlanta.example.com" || len(m.Vias) != 2 {
			b.Fatalf("parsed %q, %d Vias", m.CallID, len(m.Vias))
		}
	})
	b.Run("sipgo", func(b *testing.B) {
		in := invite(b)
		p := sipgo.NewParser()
		b.SetBytes(int64(len(in)))
		b.ReportAllocs()
		var msg sipgo.Message
		for b.Loop() {
			var err error
			if msg, err = p.ParseSIP(in); err != nil {
				b.Fatal(err)
			}
		}
		if msg.CallID().Value() != "a84b4c76e66710@pc33.atlanta.example.com" {
			b.Fatalf("parsed %q", msg.CallID().Value())
		}
	})
}
