package bpf

// pred is a filter as a tree of tests on packet bytes, the form libpcap's
// gencode builds before it emits blocks. The constructors fold constants so a
// test that cannot apply to a link type (ARP on raw IP) disappears instead of
// becoming dead code.
type pred struct {
	op   predOp
	l, r *pred
	test test
}

type predOp uint8

const (
	opFalse predOp = iota
	opTrue
	opTest
	opAnd
	opOr
	opNot
)

// cond is the comparison a test ends with.
type cond uint8

const (
	condEq  cond = iota // A == k
	condGt              // A > k
	condGe              // A >= k
	condSet             // A & k != 0
)

// test loads size bytes at off, optionally masks them, and compares.
type test struct {
	// ihl, when indirect, is the offset of an IPv4 header whose IHL is loaded
	// into X first (ldxb 4*([ihl]&0xf)), making off relative to the end of
	// that header: how libpcap reaches the transport ports.
	indirect bool
	ihl      uint32
	off      uint32
	size     int // 1, 2 or 4
	mask     uint32
	masked   bool
	cond     cond
	k        uint32
}

var (
	predTrue  = &pred{op: opTrue}
	predFalse = &pred{op: opFalse}
)

func isConst(p *pred, v bool) bool {
	return v && p.op == opTrue || !v && p.op == opFalse
}

func and(ps ...*pred) *pred {
	out := predTrue
	for _, p := range ps {
		switch {
		case isConst(p, false) || isConst(out, false):
			out = predFalse
		case isConst(p, true):
		case isConst(out, true):
			out = p
		default:
			out = &pred{op: opAnd, l: out, r: p}
		}
	}
	return out
}

func or(ps ...*pred) *pred {
	out := predFalse
	for _, p := range ps {
		switch {
		case isConst(p, true) || isConst(out, true):
			out = predTrue
		case isConst(p, false):
		case isConst(out, false):
			out = p
		default:
			out = &pred{op: opOr, l: out, r: p}
		}
	}
	return out
}

func not(p *pred) *pred {
	switch p.op {
	case opTrue:
		return predFalse
	case opFalse:
		return predTrue
	case opNot:
		return p.l
	}
	return &pred{op: opNot, l: p}
}

// cmp compares size bytes at off with k.
func cmp(off uint32, size int, k uint32) *pred {
	return &pred{op: opTest, test: test{off: off, size: size, cond: condEq, k: k}}
}

// cmpMasked compares (size bytes at off) & mask with k. A zero mask compares
// nothing, so it is true, as libpcap's optimizer makes it.
func cmpMasked(off uint32, size int, mask, k uint32) *pred {
	full := uint32(1)<<(8*size) - 1
	if size == 4 {
		full = 0xffffffff
	}
	switch {
	case mask&full == 0:
		return predTrue
	case mask&full == full:
		return cmp(off, size, k)
	}
	return &pred{op: opTest, test: test{off: off, size: size, mask: mask, masked: true, cond: condEq, k: k}}
}

func withCond(p *pred, c cond) *pred {
	p.test.cond = c
	return p
}
