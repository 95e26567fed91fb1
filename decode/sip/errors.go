package sip

import (
	"errors"
	"strconv"
)

// ParseError says what was wrong with a message and where: Line is 1-based
// (the start line is line 1) and Offset counts bytes from the start of the
// input.
type ParseError struct {
	Offset int
	Line   int
	Reason string
}

func (e *ParseError) Error() string {
	b := make([]byte, 0, 48+len(e.Reason))
	b = append(b, "sip: line "...)
	b = strconv.AppendInt(b, int64(e.Line), 10)
	b = append(b, " (offset "...)
	b = strconv.AppendInt(b, int64(e.Offset), 10)
	b = append(b, "): "...)
	b = append(b, e.Reason...)
	return string(b)
}

// ErrTooLarge is MessageLength's answer for a message longer than
// MaxMessageSize; n is still its length, so a stream reader can hand the
// first MaxMessageSize bytes to Parse and skip the rest without losing the
// framing.
var ErrTooLarge = errors.New("sip: message larger than 64 KiB")

// MaxMessageSize is the most of a message callscope reads: Parse ignores
// what lies beyond it, and MessageLength gives up looking for the end of the
// headers there. UDP cannot carry more (RFC 3261 §18.1.1 even keeps UDP
// requests under the path MTU).
const MaxMessageSize = 64 << 10
