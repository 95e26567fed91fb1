# lib.sh — what make-captures.sh, make-sip-captures.sh and
# make-webrtc-captures.sh share: work directory and cleanup, namespaces
# with static MACs and neighbours, tcpdump start/stop with timestamp
# rebasing, signature checks and the --summary wrapper. Sourced, not run.
#
# Before calling into it a script sets:
#   OUT_DIR          where captures are installed
#   NAMESPACES       (array) every namespace the script creates
#   CAPTURES         (array) capture names, in --summary order
#   CAPTURE_PREFIX   file name prefix: NAME is installed as PREFIXNAME.pcap
#   CAPTURE_NS, CAPTURE_DEV, CAPTURE_FILTER
#                    where tcpdump listens and what it keeps
#   EXPECT_TSHARK_OPTS (array) tshark options expect/expect_none need
#                    (dissector heuristics), may be empty
#   EPOCH_START      the first packet's timestamp after rebasing
# and defines summarize FILE (one JSON object per capture).

PIDS=()
CAPTURE_PID=
TOPOLOGY_OWNED=0 # --summary never touches namespaces, not even on exit

log() { printf '== %s\n' "$*" >&2; }

stop_pids() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}

# Every iptables rule and qdisc lives inside the namespaces, so deleting
# them removes the rules too; nothing is installed in the host's tables.
topology_down() {
	local ns
	for ns in "${NAMESPACES[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
}

cleanup() {
	if [[ -n $CAPTURE_PID ]]; then
		kill "$CAPTURE_PID" 2>/dev/null || true
		wait "$CAPTURE_PID" 2>/dev/null || true
	fi
	stop_pids
	((TOPOLOGY_OWNED == 0)) || topology_down
	rm -rf "$WORK"
}

# init_work_dir NAME — a fresh $WORK (/tmp/NAME.XXXXXX); on exit the
# daemons, tcpdump, the namespaces (if this run made them) and $WORK go.
init_work_dir() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# namespaces_create SYSCTL=VALUE... — (re)create NAMESPACES, each with
# the given sysctls (IPv6 off, or no router solicitations) and lo up.
namespaces_create() {
	TOPOLOGY_OWNED=1
	topology_down
	local ns
	for ns in "${NAMESPACES[@]}"; do
		ip netns add "$ns"
		ip netns exec "$ns" sysctl -qw "$@"
		ip -n "$ns" link set lo up
	done
}

# veth_pair NS1 DEV1 MAC1 NS2 DEV2 MAC2 — a veth link between two
# namespaces with fixed MACs, so every run has the same Ethernet bytes.
veth_pair() {
	ip link add "$2" netns "$1" address "$3" type veth \
		peer name "$5" netns "$4" address "$6"
}

# static_neighbours NS DEV MAC ADDR... — permanent neighbour entries: no
# ARP/ND in the captures.
static_neighbours() {
	local ns=$1 dev=$2 mac=$3 addr
	shift 3
	for addr in "$@"; do
		ip -n "$ns" neigh add "$addr" lladdr "$mac" dev "$dev" nud permanent
	done
}

# wait_listen NS PROTO(u|t) ADDR:PORT — poll until a socket is bound.
wait_listen() {
	local ns=$1 proto=$2 addr=$3 i
	for i in $(seq 50); do
		if ip netns exec "$ns" ss -Hln"$proto" | grep -qF "$addr"; then
			return 0
		fi
		sleep 0.1
	done
	echo "timed out waiting for $addr ($proto) in $ns" >&2
	return 1
}

# run_turnserver NS NAME [turnserver options...] — coturn in the
# background with the test credentials and a small relay port range; the
# caller names the listening/relay addresses and TLS/DTLS options.
run_turnserver() {
	local ns=$1 name=$2
	shift 2
	ip netns exec "$ns" turnserver -n "$@" \
		--lt-cred-mech --user "$TURN_USER:$TURN_PASS" --realm "$TURN_REALM" \
		--no-cli --no-rfc5780 --min-port 49152 --max-port 49160 \
		--userdb "$WORK/turndb-$name" --pidfile "$WORK/turnserver-$name.pid" \
		--log-file stdout --simple-log -v \
		>"$WORK/$name-turnserver.log" 2>&1 &
	PIDS+=($!)
}

# capture_file NAME — where capture NAME is installed.
capture_file() { printf '%s/%s%s.pcap' "$OUT_DIR" "$CAPTURE_PREFIX" "$1"; }

start_capture() {
	local name=$1
	ip netns exec "$CAPTURE_NS" tcpdump -i "$CAPTURE_DEV" -s 0 -U -n --immediate-mode \
		-w "$WORK/$name.raw.pcap" "$CAPTURE_FILTER" >"$WORK/$name-tcpdump.log" 2>&1 &
	CAPTURE_PID=$!
	local i
	for i in $(seq 50); do
		grep -qs 'listening on' "$WORK/$name-tcpdump.log" && return 0
		sleep 0.1
	done
	echo "tcpdump did not start" >&2
	return 1
}

# finish_capture NAME — stop tcpdump and the daemons, rebase timestamps
# so the capture starts at EPOCH_START (relative timing untouched) and
# install it as PREFIXNAME.pcap.
finish_capture() {
	local name=$1 out
	out=$(capture_file "$name")
	sleep 1 # let late answers land and tcpdump drain
	kill -INT "$CAPTURE_PID" 2>/dev/null || true
	wait "$CAPTURE_PID" || true
	CAPTURE_PID=
	stop_pids
	local first shift_by
	first=$(capinfos -T -r -a -S "$WORK/$name.raw.pcap" | cut -f2)
	shift_by=$(awk -v f="$first" -v e="$EPOCH_START" 'BEGIN { printf "%.6f", e - f }')
	editcap -F pcap -t "$shift_by" "$WORK/$name.raw.pcap" "$out"
	log "wrote ${out##*/} ($(capinfos -c -M "$out" | awk -F': *' '/Number of packets/ {print $2}') packets)"
}

# count_matching NAME FILTER — packets of capture NAME that FILTER matches.
count_matching() {
	tshark -n -r "$(capture_file "$1")" "${EXPECT_TSHARK_OPTS[@]}" -Y "$2" 2>/dev/null | wc -l
}

# expect NAME FILTER WHAT [MIN] — warn when the capture lacks its
# signature (a re-run went differently); the capture is kept for
# inspection.
expect() {
	local name=$1 filter=$2 what=$3 min=${4:-1} n
	n=$(count_matching "$name" "$filter")
	if ((n < min)); then
		echo "WARNING: $CAPTURE_PREFIX$name.pcap has $n $what ($filter), expected at least $min" >&2
	fi
}

# expect_none NAME FILTER WHAT
expect_none() {
	local name=$1 filter=$2 what=$3 n
	n=$(count_matching "$name" "$filter")
	if ((n > 0)); then
		echo "WARNING: $CAPTURE_PREFIX$name.pcap has $n $what ($filter), expected none" >&2
	fi
}

# print_summaries — one JSON object keyed by capture file name; this is
# where the tshark counts in expected.json come from.
print_summaries() {
	local name file first=1
	printf '{\n'
	for name in "${CAPTURES[@]}"; do
		file=$(capture_file "$name")
		[[ -f $file ]] || continue
		((first)) || printf ',\n'
		first=0
		printf '  "%s": %s' "${file##*/}" "$(summarize "$file")"
	done
	printf '\n}\n'
}

# require_root_and_tools TOOL... — recording needs root (namespaces,
# iptables, tcpdump) and every tool named.
require_root_and_tools() {
	local me=${0##*/} tool
	if [[ $EUID -ne 0 ]]; then
		echo "$me: needs root (network namespaces, iptables, tcpdump)" >&2
		exit 1
	fi
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "$me: $tool not found" >&2; exit 1; }
	done
}

# select_captures [NAME...] — WANT becomes the named captures, or all of
# CAPTURES; an unknown name ends the script before anything is recorded.
select_captures() {
	WANT=("$@")
	[[ ${#WANT[@]} -gt 0 ]] || WANT=("${CAPTURES[@]}")
	local name
	for name in "${WANT[@]}"; do
		if ! declare -F "capture_${name//-/_}" >/dev/null; then
			echo "${0##*/}: unknown capture $name (known: ${CAPTURES[*]})" >&2
			exit 2
		fi
	done
}

# record_once NAME — one attempt at capture NAME in a fresh topology.
record_once() {
	topology_up
	"capture_${1//-/_}"
	topology_down
}

# keep_logs PATTERN... — with KEEP_LOGS=dir, copy the files of $WORK that
# match (logs, certificates) there.
keep_logs() {
	[[ -n ${KEEP_LOGS:-} ]] || return 0
	mkdir -p "$KEEP_LOGS"
	local pattern
	for pattern in "$@"; do
		cp "$WORK"/$pattern "$KEEP_LOGS"/ 2>/dev/null || true
	done
}
