package sip

import (
	"bytes"
	"testing"
)

// referenceSplitHeader is splitHeader before its fast path for the usual
// "Name: value" line.
func referenceSplitHeader(h []byte) (name, value []byte, reason string) {
	colon := bytes.IndexByte(h, ':')
	if colon < 0 {
		return nil, nil, "header line without a colon"
	}
	name = h[:colon]
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1]
	}
	if len(name) == 0 || skipToken(name, 0) != len(name) {
		return nil, nil, "header name is not a token"
	}
	return name, trimLWS(h[colon+1:]), ""
}

func splitHeaderSameAsReference(t *testing.T, h []byte) {
	t.Helper()
	name, value, reason := splitHeader(h)
	wantName, wantValue, wantReason := referenceSplitHeader(h)
	if !bytes.Equal(name, wantName) || !bytes.Equal(value, wantValue) || reason != wantReason ||
		(name == nil) != (wantName == nil) || (value == nil) != (wantValue == nil) || !within(h, name) || !within(h, value) {
		t.Fatalf("%q: %q %q %q, want %q %q %q", h, name, value, reason, wantName, wantValue, wantReason)
	}
}

var splitHeaderCases = []string{
	"Via: SIP/2.0/UDP h", "Via : x", "Via\t:\tx ", "v:x", ":x", " Via: x", "Via", "", "Vi a: x",
	"Via;: x", "Via:", "Via: ", "Call-ID:a:b", "X\r\n : y", "Via \r: x", "é: x", "Via:\r\n x",
}

func TestSplitHeaderSameAsReference(t *testing.T) {
	for _, h := range splitHeaderCases {
		splitHeaderSameAsReference(t, []byte(h))
	}
}

func FuzzSplitHeaderSameAsReference(f *testing.F) {
	for _, h := range splitHeaderCases {
		f.Add([]byte(h))
	}
	f.Fuzz(splitHeaderSameAsReference)
}
