package sdp

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// sameAsReference checks that Parse reads body into the Session the
// reference parser does, and that the Session does not depend on body's
// bytes afterwards.
func sameAsReference(t *testing.T, body []byte) {
	t.Helper()
	want, wantErr := referenceParse(body)
	in := bytes.Clone(body)
	got, err := Parse(in)
	for i := range in {
		in[i] = '#' // the packet buffer is reused
	}
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("error %v, the reference's %v", err, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %+v\nwant %+v", body, got, want)
	}
}

func TestParseSameAsReference(t *testing.T) {
	bodies := [][]byte{
		[]byte(webrtcOffer), crlf(sipOffer), crlf(webrtcOffer),
		[]byte("v=0\r\nc=IN IP6 ::ffff:1.2.3.4/3\r\nm=audio 1/2 RTP/AVP\r\na=rtcp:1 IN IP4 1.2.3.4\r\n"),
		[]byte("v=0\nm=audio 1 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=rtpmap:0 PCMA/8000/2\na=rtpmap:1 x/1/2/3\na=rtpmap:2 /8000\na=rtpmap:3 y\n"),
		[]byte("v=0\nm=video 1 RTP/AVP 96\na=rtpmap:96  VP8/90000 \na=rtpmap: 97 H264/90000\na=rtpmap:98 A B/90000\na=ice-ufrag\na=setup\n"),
		[]byte("v=0\no=a\u00a0b 1 2 IN IP4 1.2.3.4 x\no=a\u00a0b 1 2 IN IP4\u20031.2.3.4\nm=audio\u00855 RTP/AVP 0\n"),
		[]byte("v=0\nm=audio 5 RTP/AVP 0\na=candidate:1 1 udp 1 1.2.3.4 5 typ host raddr 1.1.1.1 rport 99999 raddr bad\na=candidate:1 1 udp 1 1.2.3.4 5 typ host raddr 1.1.1.1 rport 99999\n"),
		[]byte("v=0\nm=audio 5 RTP/AVP 0\na=candidate:x 1 UDP 1 fe80::1%eth0 5 typ host tcptype so\na=candidate:x 1 UDP 1 h.local 5 typ\n"),
		[]byte("v=0\nm=audio 5/0 RTP/AVP 0\nm=audio x RTP/AVP 0\nm=a 1\nc=IN IP4 a.b\nc=IN IP4 1.2.3.4\nc=IN IP4 5.6.7.8\n"),
		[]byte("  \r\n\nv=0\r\no=- 007 0100 IN IP4 1.2.3.4\r\na=sendonly:x\r\nm=audio 1 RTP/AVP 000 1 256\r\na=inactive\r\n"),
	}
	var many strings.Builder
	many.WriteString("v=0\n")
	for i := range maxMedia + 3 {
		many.WriteString("m=audio 1 RTP/AVP 0 8\na=rtpmap:8 PCMA/8000\na=rtpmap:x\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\n")
		if i%2 == 0 {
			many.WriteString("a=candidate:bad\n")
		}
	}
	for range maxCandidates + 2 {
		many.WriteString("a=candidate:1 1 udp 1 1.2.3.4 5 typ host\n")
	}
	bodies = append(bodies, []byte(many.String()))
	for _, b := range bodies {
		sameAsReference(t, b)
	}
	for _, b := range corpusSDP(t) {
		sameAsReference(t, b)
	}
}

func FuzzParseSameAsReference(f *testing.F) {
	f.Add([]byte(webrtcOffer))
	f.Add(crlf(sipOffer))
	f.Add([]byte("v=0\nm=audio 1 RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=rtpmap:0 PCMA/8000/2\na=candidate:1 1 udp 1 1.2.3.4 5 typ host raddr 1.1.1.1 rport 99999\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sameAsReference(t, b)
	})
}

// TestParseKeepsNotTheBody checks that no string of a Session is a
// substring of the body's copy, which would keep the whole body alive as
// long as the Session.
func TestParseKeepsNotTheBody(t *testing.T) {
	for _, body := range []string{webrtcOffer, string(crlf(sipOffer))} {
		text := strings.Clone(body)
		s := parseText(text)
		start := uintptr(unsafe.Pointer(unsafe.StringData(text)))
		end := start + uintptr(len(text))
		var walk func(v reflect.Value, path string)
		walk = func(v reflect.Value, path string) {
			switch v.Kind() {
			case reflect.String:
				if p := uintptr(unsafe.Pointer(unsafe.StringData(v.String()))); v.Len() > 0 && p >= start && p < end {
					t.Errorf("%s %q is a substring of the body", path, v.String())
				}
			case reflect.Pointer:
				if !v.IsNil() {
					walk(v.Elem(), path)
				}
			case reflect.Struct:
				for i := range v.NumField() {
					walk(v.Field(i), path+"."+v.Type().Field(i).Name)
				}
			case reflect.Slice:
				for i := range v.Len() {
					walk(v.Index(i), path+"[]")
				}
			case reflect.Map:
				for it := v.MapRange(); it.Next(); {
					walk(it.Value(), path+"{}")
				}
			}
		}
		walk(reflect.ValueOf(s), "Session")
	}
}

// TestParseConcurrently parses from several goroutines, as the Engine's
// workers may: the pooled parsers and the shared rtpmap tables must not
// mix Sessions up (go test -race checks the sharing).
func TestParseConcurrently(t *testing.T) {
	bodies := [][]byte{[]byte(webrtcOffer), crlf(sipOffer), crlf(webrtcOffer)}
	want := make([]*Session, len(bodies))
	for i, b := range bodies {
		want[i], _ = referenceParse(b)
	}
	done := make(chan string)
	for g := range 4 {
		go func() {
			for i := range 200 {
				k := (g + i) % len(bodies)
				if got, _ := Parse(bodies[k]); !reflect.DeepEqual(got, want[k]) {
					done <- fmt.Sprintf("goroutine %d, body %d: %+v", g, k, got)
					return
				}
			}
			done <- ""
		}()
	}
	for range 4 {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}

// TestRTPMapShared checks that two bodies with the same rtpmaps share
// their table, and that the cache stays bounded.
func TestRTPMapShared(t *testing.T) {
	a, _ := Parse(crlf(sipOffer))
	b, _ := Parse(crlf(sipOffer))
	if reflect.ValueOf(a.Media[0].RTPMap).UnsafePointer() != reflect.ValueOf(b.Media[0].RTPMap).UnsafePointer() {
		t.Error("the same rtpmaps in two tables")
	}
	for i := range 2 * maxSharedRTPMaps {
		s, _ := Parse(fmt.Appendf(nil, "v=0\nm=audio 1 RTP/AVP 96\na=rtpmap:96 codec%d/8000\n", i))
		if got := s.Media[0].RTPMap[96].Encoding; got != fmt.Sprintf("codec%d", i) {
			t.Fatalf("body %d: encoding %q", i, got)
		}
	}
	rtpmapCache.Lock()
	n := len(rtpmapCache.tables)
	rtpmapCache.Unlock()
	if n > maxSharedRTPMaps {
		t.Errorf("%d shared tables", n)
	}
}
