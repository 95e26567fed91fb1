// Package diagnose finds out why STUN, TURN, SIP, RTP, ICE and TLS
// traffic failed, from a capture file or a live capture. It correlates
// packets into typed sessions (TURN allocations, STUN transactions, SIP
// calls and registrations, RTP streams, ICE sessions, TLS connections)
// and runs diagnostic rules over them; each Finding names the frames that
// prove it and a Wireshark display filter that shows them.
//
// This is the engine of the callscope command, for programs that embed it:
// troubleshooting tools, monitors, test harnesses.
//
// # Pipeline
//
// Data flows one way:
//
//	Source        capture.Open (pcap, pcapng files) or capture.OpenLive
//	  → decode    decode.Decoder: bytes to typed decode.Message values
//	  → diagnose  Engine: messages correlated into an Analysis
//	  → rules     Rule.Check on the Analysis: Findings (package rules)
//	  → report    NewReport, then Report.WriteText or Report.WriteJSON;
//	              WriteJSONReport writes the same JSON without building
//	              the Report (a long capture's largest allocation)
//
// Analyze (files) and StreamSource (any Source) run the whole pipeline;
// Engine, Streamer and RunRules are its stages, for a program that feeds
// decoded messages itself. The pipeline runs on packet timestamps, never
// on the wall clock, so a file and a live capture of the same traffic
// give the same findings (a live capture that goes quiet is the only
// exception: packet time then follows the wall clock, see IdleSource).
//
// # Analyze a file
//
// Analyze reads one or more files as a single capture and returns the
// Analysis and the findings, most severe first:
//
//	analysis, findings, err := diagnose.Analyze([]string{"call.pcapng"}, diagnose.Options{}, rules.All())
//
// Damage inside a file (a truncated record, an unknown link type) is
// reported in Analysis.Warnings, and what could be read is analyzed; the
// error is for files that cannot be read at all.
//
// # Stream findings
//
// StreamSource reports each finding the moment it is certain, through
// StreamOptions.OnFinding, with the packet time at which it became so:
// turn.integrity-failure at the second rejected authenticated Allocate,
// turn.allocate-timeout after the client's last retransmission plus a
// grace period, a call's media findings after its BYE. Only rules that
// implement EarlyRule are run while reading; at the end every rule runs
// on the final Analysis, and the findings returned include every one
// streamed, so the final report never contradicts what was printed
// along the way.
//
// # Capture live
//
// capture.OpenLive captures on network interfaces (Linux AF_PACKET, root
// or CAP_NET_RAW, no cgo) with a kernel filter that package
// decode/capture/bpf compiles from tcpdump syntax. The LiveSource it
// returns is a Source like a file reader, so StreamSource analyzes it
// unchanged; it also reports the packets the kernel dropped
// (Analysis.CaptureDrops and the capture.drops rule), so that loss at the
// capture point is not blamed on the network. LiveSource.Stop, from a
// signal handler for instance, ends the capture: StreamSource then
// returns the complete Analysis. If an interface goes down, StreamSource
// returns what was captured until then together with the error.
//
// # Write a rule
//
// A Rule reads the Analysis and returns Findings; it never sees packets.
// Implement ID, Severity, Title, Explain and Check, and pass the rule with
// the built-in ones: append(rules.All(), myRule). FilterFlow,
// FilterEndpoint, FilterFrames and FilterTransactions build display
// filters for the evidence, and CapFrames keeps evidence readable. A rule
// whose verdict on a partial capture cannot change later (it judges
// answered transactions, ended calls) may also implement EarlyRule so
// that it streams. Rules must not modify the Analysis: all of them read
// the same one.
//
// # Choose a profile
//
// The SIP, media and DSCP rules check against a rules.Profile: the DSCP
// mark per traffic class, the ports and peer subnets media may use, loss
// and jitter thresholds. rules.LoadProfile reads a built-in profile by
// name ("default", "webex-calling", "cms-expressway") or a JSON file, and
// rules.ForProfile returns the rules bound to it; rules.All is
// ForProfile(nil), the default profile.
//
// # Memory bounds
//
// An Engine's memory follows the active state, not the length of the
// capture, so a live capture can run for days. Transactions are closed
// once they cannot be answered any more (TransactionLinger,
// SIPTransactionLinger); ended calls, deleted or expired allocations and
// silent RTP streams are summarized and their correlation state dropped
// after Options.IdleTimeout. The records an Analysis keeps are capped by
// the Max limits of Options (zero takes the exported constant of the same
// name: MaxTransactions, MaxAllocations, MaxSIPTransactions, MaxCalls,
// MaxStreams, MaxOpenTransactions) and by fixed constants (MaxICESessions,
// MaxTLSConnections, MaxICMPEvents, ...). Most caps count what they leave
// out (Analysis.DroppedTransactions, DroppedCalls, ...), so that a capped
// Analysis says it is one; in a long live run, the oldest records of
// ended streams give way to new ones. Each finding lists at most
// MaxFramesPerFinding frames; its Detail keeps the exact counts. The decoder's reassembly
// buffers have limits of their own (decode.Options).
//
// # Concurrency
//
// An Engine, a Streamer and a decode.Decoder are each used from one
// goroutine at a time. Two pipelines share nothing: run one per goroutine,
// on different captures or on the same one, as many as you like. The
// package keeps no mutable global state, and the rules of package rules
// hold no state either, so one rule set may serve several pipelines at
// once. An Analysis, its Findings and a Report are plain data once
// returned; they may be read from any goroutine, and should not be
// modified while rules or a report still read them. StreamOptions
// callbacks run on the goroutine that called StreamSource.
package diagnose
