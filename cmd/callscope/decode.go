package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/callscope/callscope/decode"
	"github.com/callscope/callscope/decode/capture"
	"github.com/spf13/cobra"
)

func newDecodeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "decode CAPTURE...",
		Short: "Write every decoded STUN, TURN, SIP, RTP, RTCP, TLS and DTLS message as one JSON object per line",
		Long: `decode writes one JSON object per decoded message, one per line (README,
"` + "`callscope decode CAPTURE...`" + `"). Every record has frame, time, src, dst,
transport, dscp and proto, then the fields of its protocol:

  stun          stun: method, class, transaction, error_code, attributes,
                and classic: true for RFC 3489 messages
  turn-channel  channel: number, length (TURN ChannelData)
  sip           sip: method (requests) or status and reason (responses),
                call_id, cseq {number, method}, branch (topmost Via), sdp
  rtp           rtp: ssrc, seq, timestamp, pt, marker
  rtcp          rtcp: types (the packet types of the compound datagram)
  tls, dtls     tls or dtls: version, content_types, handshake (message
                types), sni, alert {level, description}, encrypted
  sip-keepalive sip_keepalive: length (4 for CRLFCRLF, 2 for CRLF): a
                datagram of just that, on port 5060 or a flow that
                carried SIP over UDP (RFC 5626 §3.5.1 keep-alives); over
                TCP a ping or pong between SIP messages (§4.4.1)

An rtp record means only that the datagram parses as RTP (version 2, where
RFC 7983 demultiplexing leaves it to RTP), on any port: analyze is stricter
and counts a stream only at endpoints announced in SDP or when several
packets agree (same SSRC, sequence numbers moving forward), so decode may
list packets that analyze does not. Packets quoted in ICMP errors are not
records. Several files are merged into one capture by packet time, as
analyze merges them; "-" reads standard input.

Exit status: 0, or 2 for bad usage or unreadable input. A file cut short or
corrupted half-way is decoded as far as it can be read: the records are
written, the warnings go to standard error, and the exit status is 2.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			return decodeCaptures(cmd.OutOrStdout(), cmd.ErrOrStderr(), paths)
		},
	}
}

func decodeCaptures(stdout, stderr io.Writer, paths []string) error {
	reader, err := capture.Open(paths...)
	if err != nil {
		return err
	}
	defer reader.Close()
	out := bufio.NewWriterSize(stdout, 256<<10)
	defer out.Flush()

	decoder := decode.NewDecoder()
	var line []byte
	emit := func(m *decode.Message) {
		line = decode.AppendRecord(line[:0], m)
		out.Write(line)
	}
	for {
		rec, err := reader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			decoder.Flush(emit)
			out.Flush()
			reportWarnings(stderr, reader.Warnings())
			return err
		}
		decoder.Decode(rec, emit)
	}
	decoder.Flush(emit)
	// As analyze: what could be read is written, and a file cut short or
	// corrupted half-way exits 2 so its records are never taken for all.
	if warnings := reader.Warnings(); len(warnings) > 0 {
		reportWarnings(stderr, warnings)
		if hasReadProblem(warnings) {
			return exitError{exitUsage}
		}
	}
	return nil
}

// hasReadProblem says whether part of the input could not be read (exit
// 2), as opposed to warnings about input read in full, such as a file
// given twice.
func hasReadProblem(warnings []capture.Warning) bool {
	return slices.ContainsFunc(warnings, capture.Warning.ReadProblem)
}

func reportWarnings(w io.Writer, warnings []capture.Warning) {
	for _, warn := range warnings {
		if warn.Frame > 0 {
			fmt.Fprintf(w, "callscope: warning: %s: frame %d: %s\n", warn.Path, warn.Frame, warn.Message)
		} else {
			fmt.Fprintf(w, "callscope: warning: %s: %s\n", warn.Path, warn.Message)
		}
	}
}
