package sdp

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(webrtcOffer))
	f.Add(crlf(sipOffer))
	f.Add([]byte("v=0\r\nc=IN IP6 ::ffff:1.2.3.4/3\r\nm=audio 1/2 RTP/AVP\r\na=rtcp:1 IN IP4 1.2.3.4\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if s != nil {
				t.Fatal("a session and an error")
			}
			return
		}
		if len(s.Defects) > maxDefects || len(s.Media) > maxMedia {
			t.Fatalf("%d defects, %d media", len(s.Defects), len(s.Media))
		}
		if s.Direction == "" {
			t.Fatal("no session direction")
		}
		for i := range s.Media {
			m := &s.Media[i]
			if m.Direction == "" || len(m.Candidates) > maxCandidates {
				t.Fatalf("media %d: direction %q, %d candidates", i, m.Direction, len(m.Candidates))
			}
			if m.Connection.Is4In6() || m.RTCPAddr.Is4In6() {
				t.Fatalf("media %d: mapped address %v", i, m.Connection)
			}
			for pt := range 128 {
				if rm, ok := m.Codec(uint8(pt)); ok && rm.Encoding == "" {
					t.Fatalf("codec %d without an encoding", pt)
				}
			}
		}
		for _, d := range s.Defects {
			if !strings.HasPrefix(d, "line ") {
				t.Fatalf("defect %q", d)
			}
		}
	})
}
