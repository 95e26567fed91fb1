package diagnose

import (
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestStringTableShares(t *testing.T) {
	var tab stringTable
	a := tab.clip([]byte("sip:alice@example.com"))
	b := tab.clip([]byte("sip:alice@example.com"))
	if a != "sip:alice@example.com" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("clip(%q) twice: two copies", a)
	}
	if c := tab.share(strings.Clone(a)); unsafe.StringData(c) != unsafe.StringData(a) {
		t.Error("share did not return the table's copy")
	}
	if got := tab.clip(nil); got != "" {
		t.Errorf("clip(nil) = %q", got)
	}
	long := tab.clip([]byte(strings.Repeat("x", MaxSIPFieldLen+10)))
	if len(long) != MaxSIPFieldLen {
		t.Errorf("clip kept %d bytes, want %d", len(long), MaxSIPFieldLen)
	}
}

func TestStringTableBounded(t *testing.T) {
	var tab stringTable
	const bound = sharedStringSets * sharedStringWays
	for i := range 3 * bound {
		tab.clip([]byte("call-" + strconv.Itoa(i)))
		if len(tab.slots) > bound {
			t.Fatalf("%d strings held, more than %d", len(tab.slots), bound)
		}
	}
	// The most recent values are still shared.
	a := tab.clip([]byte("call-" + strconv.Itoa(3*bound-1)))
	if b := tab.clip([]byte("call-" + strconv.Itoa(3*bound-1))); unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("the last value is not shared")
	}
	var nilTable *stringTable
	if got := nilTable.share("x"); got != "x" {
		t.Errorf("nil table share = %q", got)
	}
}
