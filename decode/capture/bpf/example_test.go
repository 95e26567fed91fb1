package bpf_test

import (
	"fmt"

	xbpf "golang.org/x/net/bpf"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/capture/bpf"
)

func ExampleCompile() {
	prog, err := bpf.Compile("udp port 3478 or 5349", capture.LinkEthernet, 65535)
	if err != nil {
		fmt.Println(err)
		return
	}
	// prog is ready for SO_ATTACH_FILTER; here it runs in x/net/bpf's VM.
	ins, _ := xbpf.Disassemble(prog)
	vm, err := xbpf.NewVM(ins)
	if err != nil {
		fmt.Println(err)
		return
	}
	arp := make([]byte, 42)
	arp[12], arp[13] = 0x08, 0x06
	n, _ := vm.Run(arp)
	fmt.Println("ARP kept:", n != 0)

	_, err = bpf.Compile("udp port stun", capture.LinkEthernet, 65535)
	fmt.Println(err)
	// Output:
	// ARP kept: false
	// filter "udp port stun": "stun" at offset 9: service names are not supported; give the port number
}
