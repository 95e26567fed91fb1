// Command synthcap writes a seeded synthetic VoIP capture (package
// internal/synth) for benchmarks: make bench runs it.
//
//	go run ./internal/synth/cmd/synthcap -packets 2000000 -seed 1 -o bench.pcap
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/callscope/callscope/internal/synth"
)

func main() {
	packets := flag.Int("packets", 2_000_000, "approximate number of packets")
	seed := flag.Uint64("seed", 1, "seed: the same seed gives the same bytes")
	concurrent := flag.Int("concurrent", 0, "calls in progress at once (default: the benchmark's)")
	callLength := flag.Duration("call-length", 0, "mean call duration (default: the benchmark's)")
	turn := flag.Bool("turn", false, "write the TURN scenario (package diagnose's tests' captures) instead")
	out := flag.String("o", "", "output pcap file (required)")
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: synthcap [-packets N] [-seed S] [-concurrent C] [-call-length D] [-turn] -o FILE")
		os.Exit(2)
	}
	cfg := synth.DefaultConfig(*packets, *seed)
	if *concurrent > 0 {
		cfg.Concurrent = *concurrent
	}
	if *callLength > 0 {
		cfg.CallLength = *callLength
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthcap:", err)
		os.Exit(1)
	}
	if *turn {
		exp, err := synth.WriteTURN(f, synth.TURNConfigFor(*packets, *seed))
		if err == nil {
			err = f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "synthcap:", err)
			os.Remove(*out)
			os.Exit(1)
		}
		fmt.Printf("%s: %d packets, %d bytes, %d allocations, %v of traffic\n",
			*out, exp.Packets, exp.Bytes, len(exp.Allocations), exp.End.Sub(exp.Start).Round(1e6))
		return
	}
	sum, err := synth.Write(f, cfg)
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "synthcap:", err)
		os.Remove(*out)
		os.Exit(1)
	}
	fmt.Printf("%s: %d packets, %d bytes, %d calls (%d relayed through TURN), %v of traffic\n",
		*out, sum.Packets, sum.Bytes, sum.Calls, sum.Relayed, sum.End.Sub(sum.Start).Round(1e9))
}
