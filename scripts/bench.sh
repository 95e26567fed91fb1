#!/usr/bin/env bash
# make bench: callscope against tshark on seeded synthetic captures.
#
# For each size in BENCH_SIZES it generates a capture with
# internal/synth/cmd/synthcap (SIP calls with SDP, ICE checks, TURN
# allocations with ChannelData, RTP and RTCP both ways with some loss and a
# mix of DSCP marks), then runs `callscope analyze --format json` and
# `tshark -q -z rtp,streams -z sip,stat` on it, alternating, BENCH_RUNS times
# (BENCH_RUNS_LARGE times for every size after the first: tshark needs
# minutes and gigabytes there), and prints packets/s, MB/s and peak RSS of
# each run, then the medians, the ratios, and how time and memory grow
# from the first size to the others.
#
#   BENCH_SIZES       packets of each capture   (default "2000000 20000000")
#   BENCH_MANY_CALLS  packets of a capture dense with calls, 2 s each, 200 at
#                     once (default 1000000; 0 leaves it out): what an SBC or
#                     a SIP trunk sees, where signalling, not RTP, dominates.
#                     It has its own row, outside the growth and the targets.
#   BENCH_RUNS        runs per tool, first size (default 5)
#   BENCH_RUNS_LARGE  runs per tool, other sizes (default 1)
#   BENCH_DIR         where captures go         (default a temporary directory,
#                     removed at the end; give one to keep and reuse captures)
#   BENCH_SEED        generator seed            (default 1)
#
# Captures are never written inside the repository. Needs tshark and GNU time
# (Debian packages tshark and time); installs them with apt-get when run as
# root and they are missing.
set -euo pipefail

sizes=${BENCH_SIZES:-"2000000 20000000"}
many_calls=${BENCH_MANY_CALLS:-1000000}
if [ "$many_calls" != 0 ]; then
	sizes="$sizes calls$many_calls"
fi
runs=${BENCH_RUNS:-5}
runs_large=${BENCH_RUNS_LARGE:-1}
seed=${BENCH_SEED:-1}
GO=${GO:-go}

root=$(cd "$(dirname "$0")/.." && pwd)
keep=1
if [ -z "${BENCH_DIR:-}" ]; then
	BENCH_DIR=$(mktemp -d /tmp/callscope-bench.XXXXXX)
	keep=0
fi
mkdir -p "$BENCH_DIR"
cleanup() { if [ "$keep" = 0 ]; then rm -rf "$BENCH_DIR"; fi; }
trap cleanup EXIT

need=()
command -v tshark >/dev/null || need+=(tshark)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "bench: install the Debian packages: ${need[*]}" >&2
		exit 1
	fi
fi

echo "building callscope and synthcap..."
(cd "$root" && CGO_ENABLED=0 $GO build -o "$BENCH_DIR/callscope" ./cmd/callscope &&
	CGO_ENABLED=0 $GO build -o "$BENCH_DIR/synthcap" ./internal/synth/cmd/synthcap)

cpus=$(nproc)
echo "machine: $cpus CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tshark: $(tshark --version 2>/dev/null | head -1)"
echo

results="$BENCH_DIR/results.tsv"
: >"$results"

# measure TOOL SIZE FILE RUN CMD...: wall time by the clock, peak RSS by
# GNU time; appends a row to $results.
measure() {
	local tool=$1 size=$2 file=$3 run=$4
	shift 4
	local tv="$BENCH_DIR/time.txt" t0 t1 status=0
	t0=$(date +%s%N)
	/usr/bin/time -v -o "$tv" "$@" >"$BENCH_DIR/$tool.out" 2>"$BENCH_DIR/$tool.err" || status=$?
	t1=$(date +%s%N)
	# callscope exits 1 when findings reach --fail-on: a normal outcome.
	if [ "$tool" = tshark ] && [ $status -ne 0 ] || [ "$tool" = callscope ] && [ $status -gt 1 ]; then
		echo "bench: $tool failed on $file (exit $status):" >&2
		head -5 "$BENCH_DIR/$tool.err" >&2
		exit 1
	fi
	local rss cpu
	rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$tv")
	cpu=$(awk -F: '/User time|System time/ {t += $2} END {print t}' "$tv")
	local packets bytes
	read -r packets bytes <"$file.info"
	awk -v tool="$tool" -v size="$size" -v run="$run" -v ns=$((t1 - t0)) -v rss="$rss" -v cpu="$cpu" \
		-v packets="$packets" -v bytes="$bytes" 'BEGIN {
		s = ns / 1e9
		printf "%-9s %12d %4d %9.2f s %12.0f pkt/s %9.1f MB/s %9.1f MB %9.2f s\n", tool, packets, run, s, packets / s, bytes / s / 1e6, rss / 1024, cpu
		printf "%s\t%s\t%d\t%.6f\t%d\t%.0f\t%.0f\t%.2f\n", tool, size, run, s, rss, packets, bytes, cpu >> "'"$results"'"
	}'
}

printf "%-9s %12s %4s %11s %18s %14s %12s %11s\n" tool packets run time throughput "" "peak RSS" "CPU time"
first=1
for size in $sizes; do
	file="$BENCH_DIR/synth-$size-$seed.pcap"
	gen=(-packets "$size")
	case $size in
	calls*) gen=(-packets "${size#calls}" -call-length 2s -concurrent 200) ;;
	esac
	if [ ! -s "$file" ] || [ ! -s "$file.info" ]; then
		# ~215 bytes a packet; leave a margin.
		avail=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 {print $4}')
		if [ $((${size#calls} / 4)) -gt "$avail" ]; then
			echo "bench: skipping $size packets: $((avail / 1024)) MB free in $BENCH_DIR" >&2
			continue
		fi
		"$BENCH_DIR/synthcap" "${gen[@]}" -seed "$seed" -o "$file" >&2
		# packets and bytes as the capture file holds them
		python3 - "$file" >"$file.info" <<-'EOF'
			import os, struct, sys
			path = sys.argv[1]
			n = b = 0
			with open(path, 'rb') as f:
			    f.read(24)
			    while True:
			        h = f.read(16)
			        if len(h) < 16:
			            break
			        incl = struct.unpack('<IIII', h)[2]
			        f.seek(incl, 1)
			        n += 1
			        b += incl
			print(n, os.path.getsize(path))
		EOF
	fi
	n=$runs
	[ $first = 1 ] || n=$runs_large
	first=0
	# An untimed read first, so that every timed run, either tool's,
	# finds the file in the page cache (a capture just written, or one
	# pushed out by the previous size, would otherwise penalize the first).
	cat "$file" >/dev/null
	for run in $(seq 1 "$n"); do
		measure callscope "$size" "$file" "$run" "$BENCH_DIR/callscope" analyze --format json --fail-on none "$file"
		measure tshark "$size" "$file" "$run" tshark -q -z rtp,streams -z sip,stat -r "$file"
	done
done

echo
awk -F'\t' '
function median(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{
	key = $1 SUBSEP $2
	times[key] = times[key] " " $4
	rss[key] = rss[key] " " $5
	cpus[key] = cpus[key] " " $8
	packets[$2] = $6; bytes[$2] = $7
	if (!($2 in seen)) { seen[$2] = 1; order[++nsizes] = $2 }
}
END {
	printf "medians        %12s %14s %8s %10s %8s %14s %8s %10s %8s  %s\n", "packets", "callscope", "MB/s", "peak RSS", "CPU s", "tshark", "MB/s", "peak RSS", "CPU s", "ratios: time, CPU, RSS"
	for (i = 1; i <= nsizes; i++) {
		s = order[i]
		if (s ~ /^calls/) printf "many calls\n"
		ct = median(times["callscope" SUBSEP s]); tt = median(times["tshark" SUBSEP s])
		cr = median(rss["callscope" SUBSEP s]) / 1024; tr = median(rss["tshark" SUBSEP s]) / 1024
		cc = median(cpus["callscope" SUBSEP s]); tc = median(cpus["tshark" SUBSEP s])
		ctime[s] = ct; ttime[s] = tt; crss[s] = cr; trss[s] = tr
		printf "               %12d %10.0f k/s %8.1f %7.1f MB %8.2f %10.0f k/s %8.1f %7.1f MB %8.2f  %5.1fx %5.1fx %5.1fx\n",
			packets[s], packets[s] / ct / 1e3, bytes[s] / ct / 1e6, cr, cc, packets[s] / tt / 1e3, bytes[s] / tt / 1e6, tr, tc, tt / ct, (cc > 0 ? tc / cc : 0), tr / cr
	}
	grown = 0
	for (i = 2; i <= nsizes; i++) if (order[i] !~ /^calls/) grown++
	if (grown > 0) {
		b = order[1]
		printf "\ngrowth from %d packets        time  peak RSS  (callscope | tshark)\n", packets[b]
		for (i = 2; i <= nsizes; i++) {
			s = order[i]
			if (s ~ /^calls/) continue
			printf "  %5.1fx the packets       %5.1fx  %5.2fx  |  %5.1fx  %5.2fx\n",
				packets[s] / packets[b], ctime[s] / ctime[b], crss[s] / crss[b], ttime[s] / ttime[b], trss[s] / trss[b]
		}
	}
	print "\nratios: tshark over callscope (wall time, CPU time user+sys, peak RSS). On a shared machine"
	print "wall time depends on the load; CPU time much less."
	# Issue 6 targets, on the first size and the growth to the others.
	b = order[1]
	verdict("throughput >= 30x tshark", ttime[b] / ctime[b] >= 30, sprintf("%.1fx", ttime[b] / ctime[b]))
	verdict(">= 5 M packets/s", packets[b] / ctime[b] >= 5e6, sprintf("%.2f M packets/s", packets[b] / ctime[b] / 1e6))
	verdict("peak RSS <= 1/10 of tshark", trss[b] / crss[b] >= 10, sprintf("%.1fx less", trss[b] / crss[b]))
	for (i = 2; i <= nsizes; i++) {
		s = order[i]
		if (s ~ /^calls/) continue
		verdict(sprintf("%.0fx the packets, < 1.5x the memory", packets[s] / packets[b]), crss[s] / crss[b] < 1.5, sprintf("%.2fx", crss[s] / crss[b]))
	}
}
function verdict(what, ok, measured) {
	if (!printedTargets) { print "\ntargets (issue 6):"; printedTargets = 1 }
	printf "  %-40s %-8s %s\n", what, ok ? "met" : "NOT MET", measured
}' "$results"
