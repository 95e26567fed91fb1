package sdp

import "testing"

func TestInternToken(t *testing.T) {
	for _, v := range tokens {
		w, ok := internToken(v)
		if !ok || w != v {
			t.Errorf("%q: %q %v", v, w, ok)
		}
	}
	for _, v := range []string{"Audio", "x", "RTP/AVPX", "256", "01", "-1", "audio "} {
		if w, ok := internToken(v); ok {
			t.Errorf("%q interned as %q", v, w)
		}
	}
	for _, v := range []string{"0", "9", "10", "101", "255"} {
		if w, ok := internToken(v); !ok || w != v {
			t.Errorf("%q: %q %v", v, w, ok)
		}
	}
	if len(tokenOverflow) > 0 {
		t.Errorf("%d of %d tokens share a slot of tokenTable: search tokenHash constants again", len(tokenOverflow), len(tokens))
	}
}
