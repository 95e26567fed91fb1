#!/usr/bin/env bash
# make-media-captures.sh — re-create callscope's reference captures of
# media impairments the kernel here cannot make: it has no sch_netem
# ("Specified qdisc kind is unknown"), so delay variation comes from the
# sender instead.
#
# sip-jitter.pcap: a call between two SIPp instances (Debian sip-tester)
# as in make-sip-captures.sh, same namespaces, addresses, DSCP marks and
# capture point (the callee's veth), except that the caller's audio is
# replayed by SIPp's play_pcap_audio from jitter-source.pcap, which
# pcaps/sipp/jitter-source writes (seeded: the same file every run).
# SIPp sends each packet of that file at the time offset of its capture
# time, with the file's RTP header, so the capture shows a clean sender's
# sequence numbers and timestamps arriving on the timing of a link that
# stalls for 150-350 ms and then delivers back to back. The callee's audio
# is SIPp's rtp_stream, steady, so only one direction has jitter.
#
# Requirements: those of make-sip-captures.sh, plus Go (go run), run from
# a checkout. SIPp opens a raw socket for play_pcap_audio (root).
#
# Usage:
#   sudo pcaps/make-media-captures.sh             # all captures
#   sudo pcaps/make-media-captures.sh jitter      # only the named ones (see CAPTURES)
#   pcaps/make-media-captures.sh --summary        # tshark counts per capture, as JSON
#                                                 # (the "tshark" blocks of expected.json)
#   pcaps/make-media-captures.sh --jitter         # tshark's jitter per stream, in the source
#                                                 # file and the captures (the evidence blocks)
# Environment: CAPTURE_OUT_DIR=dir writes the captures there instead of
# next to this script; KEEP_LOGS=dir keeps the SIPp/tcpdump logs.
#
# Topology: make-sip-captures.sh's, with the same addresses and MACs
# (no traffic leaves the namespaces, IPv6 off, static neighbours,
# captures rebased to start at 2026-01-01T00:00:00Z), under names of its
# own so that both scripts can run at once:
#
#   cs-med-a (caller)         cs-med-r (router)                  cs-med-b (callee)
#   10.0.1.10  cma0 <-> cmr0  10.0.1.1
#                                  203.0.113.1  cmr1 <-> cmb0  203.0.113.20
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
OUT_DIR=${CAPTURE_OUT_DIR:-$SCRIPT_DIR}
SCENARIOS=$SCRIPT_DIR/sipp
CAPTURES=(jitter)
CAPTURE_PREFIX=sip-
JITTER_SEED=1

NS_A=cs-med-a NS_R=cs-med-r NS_B=cs-med-b
CALLER=10.0.1.10 ROUTER_IN=10.0.1.1 ROUTER_OUT=203.0.113.1 CALLEE=203.0.113.20
MAC_A=02:00:0a:00:01:0a MAC_R0=02:00:0a:00:01:01
MAC_R1=02:00:cb:00:71:01 MAC_B=02:00:cb:00:71:14
SIP_PORT=5060
RTP_PORTS=6000:6999
EPOCH_START=1767225600 # 2026-01-01T00:00:00Z

NAMESPACES=("$NS_A" "$NS_R" "$NS_B")
CAPTURE_NS=$NS_B CAPTURE_DEV=cmb0 CAPTURE_FILTER=ip
EXPECT_TSHARK_OPTS=(-o rtp.heuristic_rtp:TRUE)

# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"
init_work_dir callscope-media-captures

# topology_up, make_audio (the callee's tone only), sipp_common,
# start_callee, run_caller and summarize are copies of
# make-sip-captures.sh's, so that these captures are recorded and counted
# exactly as the other sip-*.pcap.
topology_up() {
	namespaces_create net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	veth_pair "$NS_A" cma0 "$MAC_A" "$NS_R" cmr0 "$MAC_R0"
	veth_pair "$NS_R" cmr1 "$MAC_R1" "$NS_B" cmb0 "$MAC_B"

	ip -n "$NS_A" addr add "$CALLER/24" dev cma0
	ip -n "$NS_R" addr add "$ROUTER_IN/24" dev cmr0
	ip -n "$NS_R" addr add "$ROUTER_OUT/24" dev cmr1
	ip -n "$NS_B" addr add "$CALLEE/24" dev cmb0

	ip -n "$NS_A" link set cma0 up
	ip -n "$NS_R" link set cmr0 up
	ip -n "$NS_R" link set cmr1 up
	ip -n "$NS_B" link set cmb0 up

	ip -n "$NS_A" route add default via "$ROUTER_IN"
	ip -n "$NS_B" route add default via "$ROUTER_OUT"
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1

	static_neighbours "$NS_A" cma0 "$MAC_R0" "$ROUTER_IN"
	static_neighbours "$NS_R" cmr0 "$MAC_A" "$CALLER"
	static_neighbours "$NS_R" cmr1 "$MAC_B" "$CALLEE"
	static_neighbours "$NS_B" cmb0 "$MAC_R1" "$ROUTER_OUT"

	# What a phone does: signalling CS3, audio EF, set by the sender. The
	# mangle rules see play_pcap_audio's raw-socket UDP too.
	local ns
	for ns in "$NS_A" "$NS_B"; do
		ip netns exec "$ns" iptables -t mangle -A OUTPUT -p udp -m multiport --ports "$SIP_PORT" \
			-j DSCP --set-dscp 24
		ip netns exec "$ns" iptables -t mangle -A OUTPUT -p tcp -m multiport --ports "$SIP_PORT" \
			-j DSCP --set-dscp 24
		ip netns exec "$ns" iptables -t mangle -A OUTPUT -p udp --sport "$RTP_PORTS" \
			-j DSCP --set-dscp 46
	done
}

# The callee's 660 Hz tone for rtp_stream (raw mu-law), and the caller's
# jittery stream for play_pcap_audio.
make_audio() {
	python3 - "$WORK" <<'EOF'
import math, sys

def ulaw(sample):
    # G.711 mu-law encoder for a 16-bit linear sample.
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF

rate, seconds = 8000, 3
for name, freq in (("callee.ulaw", 660),):
    data = bytes(ulaw(int(12000 * math.sin(2 * math.pi * freq * n / rate)))
                 for n in range(rate * seconds))
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        f.write(data)
EOF
	(cd "$SCRIPT_DIR/.." && go run ./pcaps/sipp/jitter-source -seed "$JITTER_SEED" -o "$WORK/jitter-source.pcap")
}

sipp_common() {
	printf '%s\n' -m 1 -nostdin -nd -trace_err -p "$SIP_PORT"
}

# start_callee NAME SCENARIO [sipp options...]
start_callee() {
	local name=$1 scenario=$2 proto=u
	shift 2
	[[ " $* " == *" t1 "* ]] && proto=t
	(cd "$WORK" && exec ip netns exec "$NS_B" chrt -f 20 sipp -sf "$SCENARIOS/$scenario" \
		-i "$CALLEE" -mi "$CALLEE" $(sipp_common) "$@") \
		>"$WORK/$name-callee.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$NS_B" "$proto" "$CALLEE:$SIP_PORT"
}

# run_caller NAME LIMIT SCENARIO [sipp options...]
run_caller() {
	local name=$1 limit=$2 scenario=$3
	shift 3
	(cd "$WORK" && timeout "$limit" ip netns exec "$NS_A" chrt -f 20 sipp -sf "$SCENARIOS/$scenario" \
		-i "$CALLER" -mi "$CALLER" -s bob $(sipp_common) "$@" "$CALLEE:$SIP_PORT") \
		>"$WORK/$name-caller.log" 2>&1 || true
}

# The callee answers as in sip-call-ok and streams its tone; the caller
# replays jitter-source.pcap.
capture_jitter() {
	start_callee jitter uas-call.xml
	start_capture jitter
	run_caller jitter 20 uac-jitter.xml
	finish_capture jitter
	expect jitter 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
	expect jitter "rtp && ip.src == $CALLER && ip.dsfield.dscp == 46" 'EF RTP from the caller' 150
	expect jitter "rtp && ip.src == $CALLEE && ip.dsfield.dscp == 46" 'EF RTP from the callee' 150
	expect_none jitter 'icmp' 'ICMP'
}

# rtp_streams FILE — tshark's rtp,streams rows as "src dst ssrc packets
# lost max_delta_ms mean_jitter_ms max_jitter_ms".
rtp_streams() {
	tshark -q -n -o rtp.heuristic_rtp:TRUE -r "$1" -z rtp,streams 2>/dev/null |
		awk '$7 ~ /^0x[0-9A-Fa-f]+$/ { print $3 ":" $4, $5 ":" $6, $7, $9, $10, $14, $16, $17 }'
}

# media_check NAME — the capture carries what jitter-source.pcap holds
# and nothing else went wrong: both streams complete (150 packets, none
# lost), the callee's steady (no gap above 40 ms), the caller's with the
# source file's jitter (tshark's mean and max within 2 ms of the file's
# own: SIPp kept its timing). Otherwise the capture is retried.
media_check() {
	local name=$1
	{
		rtp_streams "$WORK/jitter-source.pcap" | sed 's/^/source /'
		rtp_streams "$(capture_file "$name")" | sed 's/^/capture /'
	} | CALLER=$CALLER python3 -c '
import os, sys
caller = os.environ["CALLER"] + ":"
source, bad, seen = None, 0, 0
for line in sys.stdin:
    what, src, dst, ssrc, pkts, lost, max_delta, mean_j, max_j = line.split()
    pkts, lost = int(pkts), int(lost)
    max_delta, mean_j, max_j = float(max_delta), float(mean_j), float(max_j)
    if what == "source":
        source = (mean_j, max_j)
        continue
    seen += 1
    if pkts != 150 or lost:
        print(f"{src}: {pkts} packets, {lost} lost", file=sys.stderr)
        bad = 1
    if src.startswith(caller):
        if abs(mean_j - source[0]) > 2 or abs(max_j - source[1]) > 2:
            print(f"{src}: jitter mean {mean_j} max {max_j} ms, the source file {source[0]} / {source[1]}", file=sys.stderr)
            bad = 1
    elif max_delta > 40:
        print(f"{src}: max delta {max_delta} ms", file=sys.stderr)
        bad = 1
if seen != 2:
    print(f"{seen} RTP streams, want 2", file=sys.stderr)
    bad = 1
sys.exit(bad)
'
}

# final_jitter FILE SRC DST — RFC 3550 §6.4.1 J after the stream's last
# packet (ms, 8 kHz), from tshark's frame times and RTP timestamps:
# rtp,streams prints only its mean and maximum, callscope's report its
# last value and maximum.
final_jitter() {
	tshark -n -o rtp.heuristic_rtp:TRUE -r "$1" \
		-Y "rtp && ip.src == ${2%:*} && udp.srcport == ${2##*:} && ip.dst == ${3%:*} && udp.dstport == ${3##*:}" \
		-T fields -e frame.time_epoch -e rtp.timestamp 2>/dev/null | python3 -c '
import sys
j, prev = 0.0, None
for line in sys.stdin:
    at, ts = line.split()
    at, ts = round(float(at) * 1e6), int(ts)
    if prev:
        sent = ((ts - prev[1] + 2**31) % 2**32 - 2**31) / 8
        j += (abs((at - prev[0]) / 1000 - sent) - j) / 16
    prev = (at, ts)
print(f"{j:.3f}")
'
}

# print_jitter — tshark's view of the source file and of each capture:
# where the jitter numbers of EXPECTED.md and expected.json come from.
print_jitter() {
	local files=("$WORK/jitter-source.pcap") name file src dst rest
	for name in "${CAPTURES[@]}"; do
		files+=("$(capture_file "$name")")
	done
	echo "# file src dst ssrc packets lost max_delta_ms mean_jitter_ms max_jitter_ms final_jitter_ms"
	(cd "$SCRIPT_DIR/.." && go run ./pcaps/sipp/jitter-source -seed "$JITTER_SEED" -o "$WORK/jitter-source.pcap")
	for file in "${files[@]}"; do
		[[ -f $file ]] || continue
		rtp_streams "$file" | while read -r src dst rest; do
			echo "${file##*/} $src $dst $rest $(final_jitter "$file" "$src" "$dst")"
		done
	done
}

# summarize FILE — as make-sip-captures.sh's (a copy, see above).
summarize() {
	local file=$1
	{
		capinfos -T -r -c "$file" | cut -f2
		echo '--sip'
		tshark -n -r "$file" -Y 'sip && !icmp' -T fields -E occurrence=a -E aggregator=, \
			-e sip.Method -e sip.Status-Code -e sip.resend 2>/dev/null
		echo '--rtp'
		tshark -n -o rtp.heuristic_rtp:TRUE -r "$file" -Y 'rtp && !icmp' -T fields \
			-e ip.src -e udp.srcport -e ip.dst -e udp.dstport -e rtp.ssrc -e ip.dsfield.dscp 2>/dev/null
		echo '--streams'
		tshark -q -n -o rtp.heuristic_rtp:TRUE -r "$file" -z rtp,streams 2>/dev/null
		echo '--rtp-noheur'
		tshark -n -o rtp.heuristic_rtp:FALSE -r "$file" -Y 'rtp && !icmp' -T fields -e rtp.ssrc 2>/dev/null
	} | python3 -c '
import json, re, sys
frames, section = 0, None
methods, statuses, resent = {}, {}, 0
streams, noheur = {}, 0
for line in sys.stdin.read().splitlines():
    if line.startswith("--"):
        section = line[2:]
        continue
    if section is None:
        frames = int(line)
    elif section == "sip":
        cols = (line.split("\t") + ["", "", ""])[:3]
        for m in filter(None, cols[0].split(",")):
            methods[m] = methods.get(m, 0) + 1
        for s in filter(None, cols[1].split(",")):
            statuses[s] = statuses.get(s, 0) + 1
        if "1" in cols[2].split(",") or "True" in cols[2].split(","):
            resent += 1
    elif section == "rtp":
        src, sport, dst, dport, ssrc, dscp = line.split("\t")
        key = (src, int(sport), dst, int(dport), int(ssrc, 16))
        st = streams.setdefault(key, {"packets": 0, "lost": None, "dscp": {}})
        st["packets"] += 1
        st["dscp"][dscp] = st["dscp"].get(dscp, 0) + 1
    elif section == "streams":
        f = line.split()
        if len(f) > 10 and re.match(r"^0x[0-9A-Fa-f]+$", f[6]):
            key = (f[2], int(f[3]), f[4], int(f[5]), int(f[6], 16))
            if key in streams:
                streams[key]["lost"] = int(f[9])
    elif section == "rtp-noheur" and line:
        noheur += 1
order = lambda d: dict(sorted(d.items(), key=lambda kv: (len(kv[0]), kv[0])))
out = {
    "frames": frames,
    "sip_requests": order(methods),
    "sip_responses": order(statuses),
    "sip_retransmissions": resent,
    "rtp_packets": sum(s["packets"] for s in streams.values()),
    "rtp_streams": len(streams),
    "rtp_packets_without_heuristic": noheur,
    "streams": [
        {"src": f"{k[0]}:{k[1]}", "dst": f"{k[2]}:{k[3]}", "ssrc": f"0x{k[4]:08x}",
         "packets": v["packets"], "lost": v["lost"], "dscp": order(v["dscp"])}
        for k, v in sorted(streams.items())
    ],
}
print(json.dumps(out))
'
}

main() {
	case ${1:-} in
	--summary)
		print_summaries
		return
		;;
	--jitter)
		print_jitter
		return
		;;
	esac
	require_root_and_tools sipp tcpdump tshark editcap capinfos ip iptables ss python3 timeout go
	select_captures "$@"
	make_audio
	local name attempt
	for name in "${WANT[@]}"; do
		for attempt in 1 2 3 4 5; do
			log "capturing sip-$name.pcap (attempt $attempt)"
			record_once "$name"
			if media_check "$name"; then
				break
			fi
			echo "WARNING: sip-$name.pcap: media not as intended (host too busy?)" >&2
		done
	done
	keep_logs '*.log'
}

main "$@"
