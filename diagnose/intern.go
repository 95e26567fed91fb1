package diagnose

import "hash/maphash"

// stringTable shares one copy of each header value that SIP messages
// repeat: a call's Call-ID, URIs and tags come back in every transaction
// of the dialog, and user agents, hosts and reason phrases across calls.
// Records keep their strings for the whole analysis, so without it a long
// capture holds the same bytes thousands of times.
//
// It is a two-way set-associative cache of sharedStringSets sets: a value
// that is not there replaces the set's older one, so the table stays
// bounded and follows active state, and a lookup costs one hash and two
// compares (a map cleared when full cost a probe of a table too large for
// the CPU caches, rehashing as it refilled, and lost every value at once).
// Strings already in records stay valid when they leave the table.
type stringTable struct {
	slots []string // sharedStringWays a set, most recently used first; made on first use
}

const (
	sharedStringSets = 4096
	sharedStringWays = 2
)

var stringTableSeed = maphash.MakeSeed()

// clip is clipString with the copy shared.
func (t *stringTable) clip(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > MaxSIPFieldLen {
		b = b[:MaxSIPFieldLen]
	}
	return t.shareBytes(b)
}

// share returns the table's copy of s, s itself the first time.
func (t *stringTable) share(s string) string {
	if s == "" || t == nil {
		return s
	}
	set := t.set(maphash.String(stringTableSeed, s))
	if c, ok := set.lookup(s); ok {
		return c
	}
	set.add(s)
	return s
}

// shareBytes returns the table's copy of string(b), made the first time;
// b is not clipped.
func (t *stringTable) shareBytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	set := t.set(maphash.Bytes(stringTableSeed, b))
	// The conversions in compares do not allocate.
	if set[0] == string(b) {
		return set[0]
	}
	if set[1] == string(b) {
		set[0], set[1] = set[1], set[0]
		return set[0]
	}
	s := string(b)
	set.add(s)
	return s
}

type stringSet [sharedStringWays]string

func (t *stringTable) set(h uint64) *stringSet {
	if t.slots == nil {
		t.slots = make([]string, sharedStringSets*sharedStringWays)
	}
	i := int(h%sharedStringSets) * sharedStringWays
	return (*stringSet)(t.slots[i : i+sharedStringWays])
}

func (set *stringSet) lookup(s string) (string, bool) {
	if set[0] == s {
		return set[0], true
	}
	if set[1] == s {
		set[0], set[1] = set[1], set[0]
		return set[0], true
	}
	return "", false
}

// add puts s first in its set, in place of the least recently used value.
func (set *stringSet) add(s string) {
	set[1] = set[0]
	set[0] = s
}
