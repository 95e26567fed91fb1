package bpf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SyntaxError says what in a filter could not be compiled, and where.
type SyntaxError struct {
	Filter string
	Pos    int    // byte offset of Token in Filter
	Token  string // the offending token; empty at the end of the filter
	Msg    string
}

func (e *SyntaxError) Error() string {
	tok := "end of filter"
	if e.Token != "" {
		tok = strconv.Quote(e.Token)
	}
	return fmt.Sprintf("filter %q: %s at offset %d: %s", e.Filter, tok, e.Pos, e.Msg)
}

type protoQual uint8

const (
	protoDefault protoQual = iota
	protoQualIP
	protoQualIP6
	protoQualUDP
	protoQualTCP
	protoQualICMP
	protoQualICMP6
)

var protoQuals = map[string]protoQual{
	"ip": protoQualIP, "ip6": protoQualIP6, "udp": protoQualUDP, "tcp": protoQualTCP,
	"icmp": protoQualICMP, "icmp6": protoQualICMP6,
}

type dirQual uint8

const (
	dirDefault dirQual = iota // src or dst
	dirSrc
	dirDst
	dirOr
	dirAnd
)

type addrQual uint8

const (
	addrDefault addrQual = iota // host
	addrHost
	addrNet
	addrPort
	addrPortrange
)

// qual is the qualifiers in front of an id. As in libpcap's grammar, a bare
// id after "and"/"or" takes the qualifiers of the id before it ("port 53 or
// 5060"); after a primitive that has none ("udp", "vlan") it is an error,
// which valid=false records.
type qual struct {
	valid bool
	proto protoQual
	dir   dirQual
	addr  addrQual
	// name is the protocol word, kept for error messages.
	name string
}

type parser struct {
	filter string
	toks   []token
	i      int
	layout layout
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return &SyntaxError{Filter: p.filter, Pos: t.pos, Token: t.text, Msg: fmt.Sprintf(format, args...)}
}

// parse parses the whole filter.
func (p *parser) parse() (*pred, error) {
	if p.peek().kind == tokEOF {
		return nil, p.errAt(p.peek(), "empty filter (use DefaultFilter, or attach no filter to keep everything)")
	}
	x, _, err := p.expr(qual{}, false, 0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		if unsupportedKeywords[t.text] {
			return nil, p.errAt(t, "%s", outsideSubset)
		}
		return nil, p.errAt(t, "expected \"and\", \"or\" or the end of the filter")
	}
	return x, nil
}

// maxDepth bounds nesting so a hostile filter cannot exhaust the stack.
const maxDepth = 200

// expr parses item ((and|or) item)*. In idOnly mode (inside "port (53 or
// 54)") every item is a bare id. and and or have equal precedence and
// associate to the left, as in libpcap.
func (p *parser) expr(q qual, idOnly bool, depth int) (*pred, qual, error) {
	x, q, err := p.item(q, idOnly, idOnly, depth)
	if err != nil {
		return nil, q, err
	}
	for {
		op := p.peek()
		if op.kind != tokAnd && op.kind != tokOr {
			return x, q, nil
		}
		p.next()
		y, q2, err := p.item(q, idOnly, true, depth)
		if err != nil {
			return nil, q, err
		}
		if op.kind == tokAnd {
			x = and(x, y)
		} else {
			x = or(x, y)
		}
		q = q2
	}
}

// item parses one operand: a negation, a parenthesized expression, a
// primitive, or (when idAllowed) a bare id inheriting q.
func (p *parser) item(q qual, idOnly, idAllowed bool, depth int) (*pred, qual, error) {
	if depth > maxDepth {
		return nil, q, p.errAt(p.peek(), "expression nested more than %d deep", maxDepth)
	}
	t := p.peek()
	switch t.kind {
	case tokNot:
		p.next()
		x, q2, err := p.item(q, idOnly, idAllowed, depth+1)
		if err != nil {
			return nil, q, err
		}
		return not(x), q2, nil
	case tokLParen:
		p.next()
		inner := idOnly || idAllowed && p.parenHoldsID()
		x, _, err := p.expr(q, inner, depth+1)
		if err != nil {
			return nil, q, err
		}
		if r := p.next(); r.kind != tokRParen {
			return nil, q, p.errAt(r, "expected \")\" to close the \"(\" at offset %d", t.pos)
		}
		// libpcap gives a parenthesized expression the qualifiers in force
		// before it, so "port 53 or (host h) or 80" means port 80.
		return x, q, nil
	case tokNum, tokIPv4, tokIPv6, tokName:
		if unsupportedKeywords[t.text] {
			return nil, q, p.errAt(t, "%s", outsideSubset)
		}
		if !idAllowed {
			if t.kind == tokName {
				return nil, q, p.errAt(t, "unknown primitive (%s)", supported)
			}
			return nil, q, p.errAt(t, "a bare value needs a qualifier such as host or port in front of it")
		}
		x, err := p.id(q)
		return x, q, err
	case tokWord:
		if idOnly {
			return nil, q, p.errAt(t, "expected a value, not the keyword")
		}
		return p.primitive(depth)
	}
	if idOnly {
		return nil, q, p.errAt(t, "expected an address, a network or a port")
	}
	return nil, q, p.errAt(t, "expected a primitive (%s)", supported)
}

const (
	supported     = "supported: host, net, port, portrange, src, dst, ip, ip6, udp, tcp, icmp, icmp6, vlan, and, or, not, parentheses"
	outsideSubset = "tcpdump keyword outside the supported subset (" + supported + ")"
)

// unsupportedKeywords are pcap-filter(7) words this compiler refuses, named
// so the error says "unsupported" rather than "syntax error".
var unsupportedKeywords = map[string]bool{
	"proto": true, "protochain": true, "broadcast": true, "multicast": true, "less": true,
	"greater": true, "len": true, "ether": true, "arp": true, "rarp": true, "sctp": true,
	"igmp": true, "igrp": true, "pim": true, "vrrp": true, "carp": true, "ah": true, "esp": true,
	"gateway": true, "inbound": true, "outbound": true, "ifindex": true, "mpls": true,
	"pppoed": true, "pppoes": true, "geneve": true, "vxlan": true, "llc": true, "link": true,
	"fddi": true, "tr": true, "wlan": true, "ppp": true, "slip": true, "radio": true,
	"type": true, "subtype": true, "dir": true, "on": true, "ifname": true, "decnet": true,
	"atalk": true, "aarp": true, "iso": true, "stp": true, "ipx": true, "netbeui": true,
	"lat": true, "sca": true, "moprc": true, "mopdl": true, "esis": true, "isis": true, "clnp": true,
}

// parenHoldsID looks past "(" and negations: a value there means the
// parentheses group ids ("port 53 and (54 or 55)"), not an expression.
func (p *parser) parenHoldsID() bool {
	for n := 0; ; n++ {
		switch p.peekAt(n).kind {
		case tokNot, tokLParen:
			continue
		case tokNum, tokIPv4, tokIPv6, tokName:
			return true
		}
		return false
	}
}

// primitive parses a keyword-led primitive: a protocol alone ("udp"),
// "vlan [id]", or qualifiers followed by an id ("tcp dst port 443").
func (p *parser) primitive(depth int) (*pred, qual, error) {
	t := p.next()
	if t.text == "vlan" {
		id := -1
		if n := p.peek(); n.kind == tokNum {
			p.next()
			v, ok := parseNumber(n.text)
			if !ok || v > 4095 {
				return nil, qual{}, p.errAt(n, "VLAN ID must be 0-4095")
			}
			id = int(v)
		}
		x, err := p.layout.vlanTag(id)
		if err != nil {
			return nil, qual{}, p.errAt(t, "%v", err)
		}
		return x, qual{}, nil
	}
	q := qual{valid: true}
	head := t
	if pq, ok := protoQuals[t.text]; ok {
		q.proto, q.name = pq, t.text
		n := p.peek()
		if n.kind != tokWord || !isDirOrAddr(n.text) {
			return p.protocol(pq), qual{}, nil
		}
		head = p.next()
	}
	if head.text == "src" || head.text == "dst" {
		q.dir = dirSrc
		if head.text == "dst" {
			q.dir = dirDst
		}
		// "src or dst" and "src and dst" are qualifiers, not operators, when
		// the other direction follows.
		if op, other := p.peek(), p.peekAt(1); (op.kind == tokAnd || op.kind == tokOr) &&
			other.kind == tokWord && (other.text == "src" || other.text == "dst") && other.text != head.text {
			p.next()
			p.next()
			q.dir = dirOr
			if op.kind == tokAnd {
				q.dir = dirAnd
			}
		}
		if n := p.peek(); n.kind == tokWord && isAddr(n.text) {
			head = p.next()
		} else {
			head = token{}
		}
	}
	switch head.text {
	case "":
	case "host":
		q.addr = addrHost
	case "net":
		q.addr = addrNet
	case "port":
		q.addr = addrPort
	case "portrange":
		q.addr = addrPortrange
	default:
		return nil, qual{}, p.errAt(head, "expected a primitive")
	}
	x, _, err := p.item(q, true, true, depth+1)
	return x, q, err
}

func isAddr(w string) bool { return w == "host" || w == "net" || w == "port" || w == "portrange" }
func isDirOrAddr(w string) bool {
	return w == "src" || w == "dst" || isAddr(w)
}

func (p *parser) protocol(pq protoQual) *pred {
	l := p.layout
	switch pq {
	case protoQualIP:
		return l.ipv4()
	case protoQualIP6:
		return l.ipv6()
	case protoQualUDP:
		return l.transport(protoUDP)
	case protoQualTCP:
		return l.transport(protoTCP)
	case protoQualICMP:
		return l.transport(protoICMP)
	}
	return l.transport(protoICMPv6)
}

// id compiles a value under qualifiers q: an address, a network, a port or a
// port range.
func (p *parser) id(q qual) (*pred, error) {
	t := p.next()
	if !q.valid {
		return nil, p.errAt(t, "a bare value after \"and\"/\"or\" repeats the qualifiers of the value before it, and there is none here")
	}
	switch t.kind {
	case tokNum:
		v, ok := parseNumber(t.text)
		if !ok {
			return nil, p.errAt(t, "not a valid number")
		}
		switch q.addr {
		case addrPort, addrPortrange:
			return p.ports(t, q, v, v)
		case addrNet:
			// libpcap promotes a short network number: "net 10" is 10/8.
			mask := uint32(0xffffffff)
			for v != 0 && v&0xff000000 == 0 {
				v <<= 8
				mask <<= 8
			}
			return p.hostV4(t, q, v, mask)
		}
		return nil, p.errAt(t, "a number is not a host address (did you mean \"port %s\"?)", t.text)
	case tokIPv4:
		addr, bitsLen, ok := parseIPv4(t.text)
		if !ok {
			return nil, p.errAt(t, "not a valid IPv4 address")
		}
		mask := prefixMask(bitsLen)
		addr <<= 32 - bitsLen
		if p.peek().kind == tokSlash {
			v, err := p.prefixLength(t, q, "IPv4", 32)
			if err != nil {
				return nil, err
			}
			if bitsLen != 32 {
				return nil, p.errAt(t, "a network with a prefix length must be written as four numbers")
			}
			mask = prefixMask(v)
		} else if m := p.peek(); m.kind == tokWord && m.text == "mask" {
			p.next()
			n := p.next()
			mv, mbits, ok := parseIPv4(n.text)
			if n.kind != tokIPv4 || !ok || mbits != 32 {
				return nil, p.errAt(n, "expected a dotted IPv4 netmask after \"mask\"")
			}
			if q.addr != addrNet {
				return nil, p.errAt(t, "a mask is only allowed after \"net\"")
			}
			if bitsLen != 32 {
				return nil, p.errAt(t, "a network with a mask must be written as four numbers")
			}
			mask = mv
		}
		if addr&^mask != 0 {
			return nil, p.errAt(t, "host bits set in the network address")
		}
		return p.hostV4(t, q, addr, mask)
	case tokIPv6:
		a, err := netip.ParseAddr(t.text)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return nil, p.errAt(t, "not a valid IPv6 address")
		}
		plen := 128
		if p.peek().kind == tokSlash {
			v, err := p.prefixLength(t, q, "IPv6", 128)
			if err != nil {
				return nil, err
			}
			plen = v
		}
		if pf := netip.PrefixFrom(a, plen); pf.Masked().Addr() != a {
			return nil, p.errAt(t, "host bits set in the network address")
		}
		return p.hostV6(t, q, a.As16(), prefixMask6(plen))
	}
	// A name.
	switch q.addr {
	case addrPortrange:
		if lo, hi, ok := strings.Cut(t.text, "-"); ok {
			a, okA := parseNumber(lo)
			b, okB := parseNumber(hi)
			if isNumber(lo) && isNumber(hi) && okA && okB {
				return p.ports(t, q, a, b)
			}
		}
		return nil, p.errAt(t, "expected a port range such as 10000-20000 (service names are not supported)")
	case addrPort:
		return nil, p.errAt(t, "service names are not supported; give the port number")
	case addrNet:
		return nil, p.errAt(t, "network names are not supported; give the network as an address")
	}
	return nil, p.errAt(t, "host names are not supported (no DNS lookups); give an IPv4 or IPv6 address")
}

// prefixLength reads "/" and the prefix length after address t, at most
// bits long; only "net" takes one.
func (p *parser) prefixLength(t token, q qual, family string, bits uint32) (int, error) {
	p.next()
	n := p.next()
	v, ok := parseNumber(n.text)
	if n.kind != tokNum || !ok {
		return 0, p.errAt(n, "expected a prefix length after \"/\"")
	}
	if v > bits {
		return 0, p.errAt(n, "%s prefix length must be at most %d", family, bits)
	}
	if q.addr != addrNet {
		return 0, p.errAt(t, "a prefix length is only allowed after \"net\"")
	}
	return int(v), nil
}

func (p *parser) ports(t token, q qual, lo, hi uint32) (*pred, error) {
	if lo > 65535 || hi > 65535 {
		return nil, p.errAt(t, "port number must be 0-65535")
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	var protos []uint32
	switch q.proto {
	case protoDefault:
		protos = []uint32{protoSCTP, protoTCP, protoUDP}
	case protoQualUDP:
		protos = []uint32{protoUDP}
	case protoQualTCP:
		protos = []uint32{protoTCP}
	default:
		return nil, p.errAt(t, "%q cannot qualify a port (use udp or tcp)", q.name)
	}
	return p.layout.portRange(lo, hi, q.dir, protos), nil
}

func (p *parser) hostV4(t token, q qual, addr, mask uint32) (*pred, error) {
	if q.addr == addrPort || q.addr == addrPortrange {
		return nil, p.errAt(t, "an address is not a port")
	}
	switch q.proto {
	case protoDefault:
		return p.layout.host4(addr, mask, q.dir, true), nil
	case protoQualIP:
		return p.layout.host4(addr, mask, q.dir, false), nil
	}
	return nil, p.errAt(t, "%q cannot qualify an IPv4 address", q.name)
}

func (p *parser) hostV6(t token, q qual, addr, mask [16]byte) (*pred, error) {
	if q.addr == addrPort || q.addr == addrPortrange {
		return nil, p.errAt(t, "an address is not a port")
	}
	if q.proto != protoDefault && q.proto != protoQualIP6 {
		return nil, p.errAt(t, "%q cannot qualify an IPv6 address", q.name)
	}
	return p.layout.host6(addr, mask, q.dir), nil
}

// parseIPv4 parses 1 to 4 dotted decimal octets, as libpcap's __pcap_atoin
// does: "10.1" is the 16-bit value 0x0a01, to be shifted into place.
func parseIPv4(s string) (addr uint32, bitLen int, ok bool) {
	for part := range strings.SplitSeq(s, ".") {
		if part == "" || len(part) > 3 || bitLen == 32 {
			return 0, 0, false
		}
		n, err := strconv.Atoi(part)
		if err != nil || n > 255 {
			return 0, 0, false
		}
		addr = addr<<8 | uint32(n)
		bitLen += 8
	}
	return addr, bitLen, bitLen > 0
}

func prefixMask(n int) uint32 {
	if n == 0 {
		return 0
	}
	return ^uint32(0) << (32 - n)
}

func prefixMask6(n int) [16]byte {
	var m [16]byte
	for i := range m {
		switch {
		case n >= 8:
			m[i] = 0xff
			n -= 8
		case n > 0:
			m[i] = ^byte(0) << (8 - n)
			n = 0
		}
	}
	return m
}
