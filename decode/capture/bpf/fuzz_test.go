package bpf

import (
	"testing"

	xbpf "golang.org/x/net/bpf"

	"github.com/callscope/callscope/decode/capture"
)

var fuzzLinks = []capture.LinkType{
	capture.LinkEthernet, capture.LinkLinuxSLL, capture.LinkSLL2, capture.LinkRaw,
	capture.LinkNull, capture.LinkLoop, capture.LinkIPv4, capture.LinkIPv6,
}

// FuzzCompile checks that any filter either fails with an error or compiles
// to a program the kernel would take: it disassembles and reassembles to the
// same instructions, the VM accepts it (jumps in bounds, ends in a return),
// it has at most MaxInstructions instructions, and it runs on packets.
func FuzzCompile(f *testing.F) {
	for _, s := range comparedFilters {
		f.Add(s, uint8(0))
	}
	for _, s := range rejectedFilters {
		f.Add(s, uint8(1))
	}
	f.Add("((((((((((udp))))))))))", uint8(2))
	f.Add("not not not not not not port 1", uint8(3))
	f.Add("vlan and vlan and vlan and vlan and vlan 4095 and host ::1", uint8(0))
	samples := [][]byte{udpDNS, udp6STUN, vlan100DNS, qinqDNS, arpRequest, laterFrag, udp6Frag, shortUDPDNS, nil}
	f.Fuzz(func(t *testing.T, filter string, linkIndex uint8) {
		if len(filter) > 4096 {
			return
		}
		link := fuzzLinks[int(linkIndex)%len(fuzzLinks)]
		prog, err := Compile(filter, link, 1000)
		if err != nil {
			if prog != nil {
				t.Fatalf("error %v with a program", err)
			}
			return
		}
		if len(prog) == 0 || len(prog) > MaxInstructions {
			t.Fatalf("%d instructions", len(prog))
		}
		if prog[len(prog)-1].Op&classMask != classRET {
			t.Fatalf("%q: the program does not end in a return", filter)
		}
		ins, ok := xbpf.Disassemble(prog)
		if !ok {
			t.Fatalf("%q: program does not disassemble", filter)
		}
		again, err := xbpf.Assemble(ins)
		if err != nil {
			t.Fatalf("%q: program does not reassemble: %v", filter, err)
		}
		for i := range prog {
			if again[i] != prog[i] {
				t.Fatalf("%q: instruction %d reassembles as %v, was %v", filter, i, again[i], prog[i])
			}
		}
		vm, err := xbpf.NewVM(ins)
		if err != nil {
			t.Fatalf("%q: %v", filter, err)
		}
		for _, frame := range samples {
			data, ok := onLink(frame, link)
			if !ok {
				continue
			}
			n, err := vm.Run(data)
			if err != nil || n != 0 && n != 1000 {
				t.Fatalf("%q: run returned %d, %v", filter, n, err)
			}
		}
	})
}
