#!/usr/bin/env bash
# make pgo: re-makes cmd/callscope/default.pgo, the CPU profile that `go
# build` optimizes the callscope binary with (profile-guided optimization,
# https://go.dev/doc/pgo: with -pgo=auto, the default, a main package's
# default.pgo is used). The profile is of the workload callscope is built
# for and make bench measures: the analysis of a large seeded synthetic
# capture (internal/synth: SIP calls, ICE, TURN with ChannelData, RTP and
# RTCP), read ahead as the CLI reads it. Re-make it after large changes to
# the hot path; a stale profile only optimizes less.
#
#   PGO_PACKETS  packets of the capture (default 2000000)
#   BENCH_DIR    where the capture goes (default a temporary directory;
#                make bench's, to reuse its capture)
set -euo pipefail

packets=${PGO_PACKETS:-2000000}
GO=${GO:-go}
root=$(cd "$(dirname "$0")/.." && pwd)
keep=1
if [ -z "${BENCH_DIR:-}" ]; then
	BENCH_DIR=$(mktemp -d /tmp/callscope-pgo.XXXXXX)
	keep=0
fi
mkdir -p "$BENCH_DIR"
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$BENCH_DIR"; fi; }
trap cleanup EXIT

capture=$BENCH_DIR/synth-$packets-1.pcap
if [ ! -s "$capture" ]; then
	(cd "$root" && $GO run ./internal/synth/cmd/synthcap -packets "$packets" -seed 1 -o "$capture")
fi
profile=$BENCH_DIR/cpu.pprof
(cd "$root" && CALLSCOPE_BENCH_PCAP=$capture $GO test -run '^$' -bench 'AnalyzeFile/read-ahead' \
	-benchtime 8x -cpuprofile "$profile" ./diagnose)
cp "$profile" "$root/cmd/callscope/default.pgo"
echo "wrote cmd/callscope/default.pgo ($(wc -c <"$root/cmd/callscope/default.pgo") bytes)"
