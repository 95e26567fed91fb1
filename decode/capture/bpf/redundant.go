package bpf

import xbpf "golang.org/x/net/bpf"

// Opcodes the pass below needs to recognize.
const (
	classMask = 0x07
	classLD   = 0x00
	classLDX  = 0x01
	classALU  = 0x04
	classJMP  = 0x05
	classRET  = 0x06
	modeMask  = 0xe0
	modeABS   = 0x20
	modeIND   = 0x40
	modeMSH   = 0xa0
	jmpJA     = 0x00
	opMask    = 0xf0
)

// register is what is known to be in A or X: the instruction that loaded it
// (and, for an indirect load, the X it used). Loads are pure, so loading the
// same again is a no-op.
type register struct {
	known bool
	load  xbpf.RawInstruction
	x     uint32 // the ldxb offset an indirect load used
}

// dropRedundantLoads removes loads of a value A or X already holds on every
// path to them: the code generator reloads for each test ("ldb [23]; jeq #6;
// ldb [23]; jeq #17"), which libpcap's optimizer would merge. Every jump is
// forward, so one pass in order sees all predecessors of an instruction
// before the instruction. A dropped load is replaced by the instruction after
// it as a jump target, which does the same.
func dropRedundantLoads(prog []xbpf.RawInstruction) []xbpf.RawInstruction {
	n := len(prog)
	type state struct {
		reached bool
		a, x    register
	}
	in := make([]state, n+1)
	in[0].reached = true
	merge := func(to int, a, x register) {
		if to > n {
			return
		}
		s := &in[to]
		if !s.reached {
			*s = state{true, a, x}
			return
		}
		if s.a != a {
			s.a = register{}
		}
		if s.x != x {
			s.x = register{}
		}
	}
	keep := make([]bool, n)
	for i, ins := range prog {
		s := in[i]
		keep[i] = true
		if !s.reached {
			continue
		}
		a, x := s.a, s.x
		switch ins.Op & classMask {
		case classLD:
			var r register
			switch ins.Op & modeMask {
			case modeABS:
				r = register{known: true, load: ins}
			case modeIND:
				if x.known {
					r = register{known: true, load: ins, x: x.load.K}
				}
			}
			if r.known && a == r {
				keep[i] = false
			}
			a = r
		case classLDX:
			r := register{}
			if ins.Op&modeMask == modeMSH {
				r = register{known: true, load: ins}
			}
			if r.known && x == r {
				keep[i] = false
			}
			x = r
		case classALU:
			a = register{}
		case classJMP:
			if ins.Op&opMask == jmpJA {
				merge(i+1+int(ins.K), a, x)
			} else {
				merge(i+1+int(ins.Jt), a, x)
				merge(i+1+int(ins.Jf), a, x)
			}
			continue
		case classRET:
			continue
		default:
			// Anything else (not generated today) clobbers what is known.
			a, x = register{}, register{}
		}
		merge(i+1, a, x)
	}

	// newIndex[i] is where instruction i, or the first kept one after it,
	// ends up.
	newIndex := make([]int, n+1)
	kept := 0
	for i := range n {
		newIndex[i] = kept
		if keep[i] {
			kept++
		}
	}
	newIndex[n] = kept
	out := make([]xbpf.RawInstruction, 0, kept)
	for i, ins := range prog {
		if !keep[i] {
			continue
		}
		if ins.Op&classMask == classJMP {
			from := newIndex[i]
			if ins.Op&opMask == jmpJA {
				ins.K = uint32(newIndex[i+1+int(ins.K)] - from - 1)
			} else {
				ins.Jt = uint8(newIndex[i+1+int(ins.Jt)] - from - 1)
				ins.Jf = uint8(newIndex[i+1+int(ins.Jf)] - from - 1)
			}
		}
		out = append(out, ins)
	}
	return out
}
