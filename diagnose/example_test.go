package diagnose_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"os"
	"os/signal"
	"slices"
	"time"

	xbpf "golang.org/x/net/bpf"

	"github.com/callscope/callscope/decode/capture"
	"github.com/callscope/callscope/decode/capture/bpf"
	"github.com/callscope/callscope/diagnose"
	"github.com/callscope/callscope/rules"
)

// Analyze a capture file with every built-in rule: a TURN client whose
// password the server rejects.
func ExampleAnalyze() {
	analysis, findings, err := diagnose.Analyze([]string{"../pcaps/turn-wrong-password.pcap"}, diagnose.Options{}, rules.All())
	if err != nil {
		log.Fatal(err)
	}
	for _, al := range analysis.Allocations {
		fmt.Printf("allocation %s -> %s: %s after %d attempts\n", al.Client, al.Server, al.Outcome, len(al.Attempts))
	}
	for _, f := range findings {
		fmt.Println(f.Severity, f.Rule)
	}
	// Output:
	// allocation 192.0.2.10:50170 -> 192.0.2.1:3478: rejected after 32 attempts
	// error turn.integrity-failure
}

// Consume findings as they become certain. A file goes through the same
// pipeline as a live capture: each finding is reported at the packet time
// it became certain, here the second rejected authenticated Allocate
// (frame 4), long before the end of the capture.
func ExampleStreamSource() {
	src, err := capture.Open("../pcaps/turn-wrong-password.pcap")
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	opts := diagnose.StreamOptions{
		OnFinding: func(f diagnose.Finding, at time.Time) {
			fmt.Println("streamed:", f.Rule, "at", at.Format("15:04:05.000000"))
		},
	}
	analysis, findings, err := diagnose.StreamSource(src, diagnose.Options{}, rules.All(), opts)
	if err != nil {
		log.Fatal(err)
	}
	// The findings at the end include every streamed one, with the whole
	// evidence.
	fmt.Println("capture ended at", analysis.Captures[0].Last.Format("15:04:05.000000"))
	for _, f := range findings {
		fmt.Println("final:", f.Rule, len(f.Frames), "frames")
	}
	// Output:
	// streamed: turn.integrity-failure at 00:00:00.000949
	// capture ended at 00:00:00.003471
	// final: turn.integrity-failure 50 frames
}

// Capture live on the loopback interface, with a tcpdump-syntax filter
// compiled to classic BPF and attached in the kernel, and print findings
// as they happen until Ctrl-C. It needs Linux and root (or CAP_NET_RAW),
// so this example is compiled but not run by go test.
func ExampleStreamSource_live() {
	const filter = "udp port 3478 or icmp"
	src, err := capture.OpenLive(capture.LiveOptions{
		Interfaces: []string{"lo"},
		// The filter is compiled per interface, for its link type.
		Filter: func(link capture.LinkType, snaplen int) ([]xbpf.RawInstruction, error) {
			return bpf.Compile(filter, link, snaplen)
		},
		Duration: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	// Stop ends the capture; StreamSource then returns the full analysis.
	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	go func() {
		<-interrupt
		src.Stop()
	}()

	analysis, findings, err := diagnose.StreamSource(src, diagnose.Options{}, rules.All(), diagnose.StreamOptions{
		OnFinding: func(f diagnose.Finding, at time.Time) {
			fmt.Println(at.Format(time.TimeOnly), f.Severity, f.Rule, f.Title)
		},
	})
	if err != nil {
		// An interface that went down: what was captured is still analyzed.
		log.Print(err)
	}
	for _, d := range analysis.CaptureDrops {
		fmt.Printf("%s: %d packets dropped by the kernel\n", d.Interface, d.Dropped)
	}
	if err := diagnose.NewReport(analysis, findings, "example").WriteText(os.Stdout, diagnose.TextOptions{}); err != nil {
		log.Fatal(err)
	}
}

// Check media against a deployment's policy: a built-in profile (or a
// JSON file of your own) sets the DSCP marks, media ports and peer subnets
// the SIP, media and DSCP rules expect. This call is fine by the default
// profile, but its media uses ports and a peer outside Webex Calling's.
func Example_profile() {
	p, err := rules.LoadProfile("webex-calling")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Name, "audio DSCP", p.DSCP.Audio)
	for _, r := range p.MediaPorts {
		fmt.Printf("%s ports %d-%d\n", r.Class, r.From, r.To)
	}

	_, findings, err := diagnose.Analyze([]string{"../pcaps/sip-call-ok.pcap"}, diagnose.Options{}, rules.ForProfile(p))
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range findings {
		fmt.Println(f.Severity, f.Rule)
	}
	// Output:
	// webex-calling audio DSCP 46
	// audio ports 8500-8599
	// video ports 8600-8699
	// any ports 19560-65535
	// warning media.port-outside-range
	// warning media.unexpected-peer
}

// Write the JSON report: its field names are a contract with the scripts
// that read it. WriteText writes the same report for people.
func ExampleNewReport() {
	analysis, findings, err := diagnose.Analyze([]string{"../pcaps/turn-wrong-password.pcap"}, diagnose.Options{}, rules.All())
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	if err := diagnose.NewReport(analysis, findings, "v1.0.0").WriteJSON(&buf); err != nil {
		log.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		log.Fatal(err)
	}
	fmt.Println(slices.Sorted(maps.Keys(doc)))
	var fs []struct{ Rule, Severity string }
	if err := json.Unmarshal(doc["findings"], &fs); err != nil {
		log.Fatal(err)
	}
	fmt.Println(fs)
	// Output:
	// [allocations calls captures findings ice_sessions registrations stats streams tls_connections tool warnings]
	// [{turn.integrity-failure error}]
}
