package diagnose

// stringTable shares one copy of each header value that SIP messages
// repeat: a call's Call-ID, URIs and tags come back in every transaction
// of the dialog, and user agents, hosts and reason phrases across calls.
// Records keep their strings for the whole analysis, so without it a long
// capture holds the same bytes thousands of times. The table forgets
// everything once it has maxSharedStrings entries, so that it follows
// active state; strings already in records stay valid.
type stringTable struct {
	m map[string]string
}

const maxSharedStrings = 8192

// clip is clipString with the copy shared.
func (t *stringTable) clip(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > MaxSIPFieldLen {
		b = b[:MaxSIPFieldLen]
	}
	// The conversion in a map index does not allocate.
	if s, ok := t.m[string(b)]; ok {
		return s
	}
	return t.add(string(b))
}

// share returns the table's copy of s, s itself the first time.
func (t *stringTable) share(s string) string {
	if s == "" || t == nil {
		return s
	}
	if c, ok := t.m[s]; ok {
		return c
	}
	return t.add(s)
}

func (t *stringTable) add(s string) string {
	if t.m == nil {
		t.m = make(map[string]string)
	} else if len(t.m) >= maxSharedStrings {
		clear(t.m)
	}
	t.m[s] = s
	return s
}
