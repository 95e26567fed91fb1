package bpf

import "strings"

// tokenKind classifies a token the way libpcap's scanner does, so that the
// parser can tell qualifiers from the values they qualify.
type tokenKind int

const (
	tokEOF    tokenKind = iota
	tokWord             // a keyword, see keywords
	tokNum              // 53, 0x35, 053 (octal, as in libpcap)
	tokIPv4             // 10.0.0.1, or a partial network such as 10.1
	tokIPv6             // fe80::1
	tokName             // anything else made of name characters: a host or port name, "1-2"
	tokLParen           // (
	tokRParen           // )
	tokNot              // ! or not
	tokAnd              // && or and
	tokOr               // || or or
	tokSlash            // /
)

// keywords are the libpcap words this compiler understands. libpcap's
// scanner is case-sensitive, so "HOST" is a name, not a keyword.
var keywords = map[string]bool{
	"host": true, "net": true, "mask": true, "port": true, "portrange": true,
	"src": true, "dst": true,
	"ip": true, "ip6": true, "udp": true, "tcp": true, "icmp": true, "icmp6": true,
	"vlan": true,
}

type token struct {
	kind tokenKind
	text string
	pos  int // byte offset in the filter
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == ':' || c == '-'
}

// lex splits filter into tokens. A character libpcap would accept but this
// subset does not (the arithmetic of "ip[6] & 0x40 != 0", for example) is an
// error here rather than being skipped.
func lex(filter string) ([]token, error) {
	var toks []token
	for i := 0; i < len(filter); {
		c := filter[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case c == '/':
			toks = append(toks, token{tokSlash, "/", i})
			i++
		case c == '!' && !strings.HasPrefix(filter[i:], "!="):
			toks = append(toks, token{tokNot, "!", i})
			i++
		case strings.HasPrefix(filter[i:], "&&"):
			toks = append(toks, token{tokAnd, "&&", i})
			i += 2
		case strings.HasPrefix(filter[i:], "||"):
			toks = append(toks, token{tokOr, "||", i})
			i += 2
		case isNameByte(c):
			j := i
			for j < len(filter) && isNameByte(filter[j]) {
				j++
			}
			toks = append(toks, classify(filter[i:j], i))
			i = j
		default:
			j := i + 1
			for j < len(filter) && !isNameByte(filter[j]) && filter[j] != ' ' && filter[j] != '(' && filter[j] != ')' {
				j++
			}
			return nil, &SyntaxError{Filter: filter, Pos: i, Token: filter[i:j],
				Msg: "operator not supported (byte offsets, arithmetic and comparisons are outside the supported subset)"}
		}
	}
	return append(toks, token{tokEOF, "", len(filter)}), nil
}

func classify(word string, pos int) token {
	kind := tokName
	switch {
	case word == "and":
		kind = tokAnd
	case word == "or":
		kind = tokOr
	case word == "not":
		kind = tokNot
	case keywords[word]:
		kind = tokWord
	case isNumber(word):
		kind = tokNum
	case isDotted(word):
		kind = tokIPv4
	case strings.Contains(word, ":"):
		kind = tokIPv6
	}
	return token{kind, word, pos}
}

// isNumber reports whether s is a libpcap number: decimal, 0x hexadecimal or
// 0-prefixed octal (the scanner accepts any digits; parseNumber checks them).
func isNumber(s string) bool {
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		for i := 2; i < len(s); i++ {
			if !isHex(s[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isDotted reports whether s is 2 to 4 dot-separated decimal numbers.
func isDotted(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return false
			}
		}
	}
	return true
}

// parseNumber converts a tokNum as libpcap's stoulen does, refusing values
// that do not fit in 32 bits.
func parseNumber(s string) (uint32, bool) {
	base, digits := uint64(10), s
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	var v uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 0xffffffff {
			return 0, false
		}
	}
	return uint32(v), true
}
