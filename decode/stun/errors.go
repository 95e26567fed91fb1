package stun

import (
	"strconv"

	pionstun "github.com/pion/stun/v3"
)

// Error says what was wrong with a message and where. Offset counts bytes
// from the start of the message; for an attribute it is where the
// attribute's type field starts.
type Error struct {
	Offset int
	InAttr bool              // the error is about the attribute Attr
	Attr   pionstun.AttrType // meaningful when InAttr
	Reason string
}

func (e *Error) Error() string {
	b := make([]byte, 0, 64+len(e.Reason))
	b = append(b, "stun: "...)
	if e.InAttr {
		name := AttrName(e.Attr)
		b = append(b, "attribute "...)
		b = append(b, name...)
		if name[0] != '0' { // a name, not already the number
			b = append(b, " ("...)
			b = appendHex16(b, uint16(e.Attr))
			b = append(b, ')')
		}
	} else {
		b = append(b, "header"...)
	}
	b = append(b, " at offset "...)
	b = strconv.AppendInt(b, int64(e.Offset), 10)
	b = append(b, ": "...)
	b = append(b, e.Reason...)
	return string(b)
}

func headerError(offset int, reason string) error {
	return &Error{Offset: offset, Reason: reason}
}

func attrError(t pionstun.AttrType, offset int, reason string) error {
	return &Error{Offset: offset, InAttr: true, Attr: t, Reason: reason}
}

// appendHex16 appends v as "0x%04X" without fmt, so AttrName stays cheap.
func appendHex16(b []byte, v uint16) []byte {
	const hex = "0123456789ABCDEF"
	return append(b, '0', 'x', hex[v>>12], hex[v>>8&0xf], hex[v>>4&0xf], hex[v&0xf])
}

func itoa(n int) string { return strconv.Itoa(n) }
