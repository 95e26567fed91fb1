#!/usr/bin/env bash
# make-captures.sh — re-create callscope's reference TURN captures.
#
# The .pcap files next to this script were recorded from real programs:
# coturn's turnserver (server), turnutils_uclient (client) and
# turnutils_peer (UDP echo peer), captured with tcpdump. This script is the
# recipe; it is not run by CI. Re-run it only when a capture must change,
# then re-check pcaps/EXPECTED.md and pcaps/expected.json (the tshark counts
# there are what the golden tests compare against).
#
# Requirements (Debian/Ubuntu): root; packages coturn, tcpdump, tshark
# (for editcap/capinfos/tshark), iproute2, iptables. Nothing in /etc is
# touched: turnserver gets its whole configuration on the command line.
#
# Usage:
#   sudo pcaps/make-captures.sh            # all captures
#   sudo pcaps/make-captures.sh udp-ok     # only the named ones (see CAPTURES)
#   pcaps/make-captures.sh --summary       # tshark counts per capture, as JSON
#                                          # (the "tshark" blocks of expected.json)
# Environment: CAPTURE_OUT_DIR=dir writes the captures there instead of
# next to this script; KEEP_LOGS=dir keeps the turnserver/uclient/peer logs.
#
# Each capture takes a few seconds, except turn-port-dropped (about 42 s:
# the client's full retransmission schedule) and turn-nat-binding-expired
# (about 12 s: the client idles 8 s); all nine take about 85 s.
# Ports, transaction IDs and nonces are random, so a re-run changes bytes
# and possibly which side wins a race (see EXPECTED.md); the message
# sequences are stable.
#
# Topology: three network namespaces created (and removed on exit) here;
# no traffic leaves them.
#
#   cs-cli                      cs-srv                        cs-peer
#   192.0.2.10      cs-cli0 <-> cs-srv0 192.0.2.1
#   2001:db8:c::10                      2001:db8:c::1
#                                       198.51.100.1 cs-srv1 <-> cs-peer0 198.51.100.20
#                                       2001:db8:1::1                     2001:db8:1::20
#
# The server namespace does not forward packets, so the client reaches the
# peer only through the TURN relay (relay address 198.51.100.1 /
# 2001:db8:1::1). Every capture is taken on the client's interface cs-cli0
# (Ethernet link type), i.e. what a capture on the client host would show,
# except turn-nat-binding-expired: there cs-cli is a NAT router for a
# fourth namespace, cs-lan (10.0.0.10, linked to cs-cli's 10.0.0.1 by
# cs-lan0 <-> cs-cli1), and the capture is taken on the server's cs-srv0.
# MAC addresses and neighbour entries are static, router solicitations are
# off and tcpdump filters out the remaining link chatter (MLD), so the
# captures hold only the traffic under test. Timestamps are shifted so that
# each capture starts at 2026-01-01T00:00:00Z; relative timing is untouched.
#
# Credentials are test fixtures: user alice, realm callscope.test,
# password correct-horse (wrong one: wrong-password).
#
# turn-nat-binding-expired also needs Go and this checkout: its client is
# pcaps/turn-idle-client, built here.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
OUT_DIR=${CAPTURE_OUT_DIR:-$SCRIPT_DIR}
CAPTURES=(udp-ok tcp-ok wrong-password port-dropped port-rejected stale-nonce ipv6-ok forbidden nat-binding-expired)
CAPTURE_PREFIX=turn-

NS_CLI=cs-cli NS_SRV=cs-srv NS_PEER=cs-peer NS_LAN=cs-lan
CLI4=192.0.2.10 SRV4=192.0.2.1 RELAY4=198.51.100.1 PEER4=198.51.100.20
CLI6=2001:db8:c::10 SRV6=2001:db8:c::1 RELAY6=2001:db8:1::1 PEER6=2001:db8:1::20
MAC_CLI=02:00:c0:00:02:0a MAC_SRV0=02:00:c0:00:02:01
MAC_SRV1=02:00:c6:33:64:01 MAC_PEER=02:00:c6:33:64:14
LAN_CLI=10.0.0.10 LAN_GW=10.0.0.1 MAC_LAN=02:00:0a:00:00:0a MAC_CLI1=02:00:0a:00:00:01
TURN_USER=alice TURN_REALM=callscope.test TURN_PASS=correct-horse
EPOCH_START=1767225600 # 2026-01-01T00:00:00Z

NAMESPACES=("$NS_CLI" "$NS_SRV" "$NS_PEER" "$NS_LAN")
# Only IP traffic. IPv6 multicast (MLD reports on link-up) and neighbour
# discovery (ICMPv6 133-137) are link chatter, not part of any scenario.
CAPTURE_NS=$NS_CLI CAPTURE_DEV=cs-cli0
CAPTURE_FILTER='(ip or ip6) and not ip6 multicast and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)'
EXPECT_TSHARK_OPTS=()

# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"
init_work_dir callscope-captures

topology_up() {
	namespaces_create net.ipv6.conf.all.router_solicitations=0 \
		net.ipv6.conf.default.router_solicitations=0
	veth_pair "$NS_CLI" cs-cli0 "$MAC_CLI" "$NS_SRV" cs-srv0 "$MAC_SRV0"
	veth_pair "$NS_SRV" cs-srv1 "$MAC_SRV1" "$NS_PEER" cs-peer0 "$MAC_PEER"

	ip -n "$NS_CLI" addr add "$CLI4/24" dev cs-cli0
	ip -n "$NS_CLI" addr add "$CLI6/64" dev cs-cli0 nodad
	ip -n "$NS_SRV" addr add "$SRV4/24" dev cs-srv0
	ip -n "$NS_SRV" addr add "$SRV6/64" dev cs-srv0 nodad
	ip -n "$NS_SRV" addr add "$RELAY4/24" dev cs-srv1
	ip -n "$NS_SRV" addr add "$RELAY6/64" dev cs-srv1 nodad
	ip -n "$NS_PEER" addr add "$PEER4/24" dev cs-peer0
	ip -n "$NS_PEER" addr add "$PEER6/64" dev cs-peer0 nodad

	ip -n "$NS_CLI" link set cs-cli0 up
	ip -n "$NS_SRV" link set cs-srv0 up
	ip -n "$NS_SRV" link set cs-srv1 up
	ip -n "$NS_PEER" link set cs-peer0 up

	ip -n "$NS_CLI" route add default via "$SRV4"
	ip -n "$NS_CLI" -6 route add default via "$SRV6"
	ip -n "$NS_PEER" route add default via "$RELAY4"
	ip -n "$NS_PEER" -6 route add default via "$RELAY6"

	static_neighbours "$NS_CLI" cs-cli0 "$MAC_SRV0" "$SRV4" "$SRV6"
	static_neighbours "$NS_SRV" cs-srv0 "$MAC_CLI" "$CLI4" "$CLI6"
	static_neighbours "$NS_SRV" cs-srv1 "$MAC_PEER" "$PEER4" "$PEER6"
	static_neighbours "$NS_PEER" cs-peer0 "$MAC_SRV1" "$RELAY4" "$RELAY6"
}

# start_server NAME [extra turnserver options...]
start_server() {
	local name=$1
	shift
	run_turnserver "$NS_SRV" "$name" \
		--listening-ip "$SRV4" --listening-ip "$SRV6" \
		--relay-ip "$RELAY4" --relay-ip "$RELAY6" --no-tls --no-dtls "$@"
	wait_listen "$NS_SRV" u "$SRV4:3478"
	wait_listen "$NS_SRV" t "$SRV4:3478"
}

start_peer() {
	local name=$1
	ip netns exec "$NS_PEER" turnutils_peer -L "$PEER4" -L "$PEER6" -p 3480 \
		>"$WORK/$name-peer.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$NS_PEER" u "$PEER4:3480"
}

# uclient LOGNAME TIMEOUT [turnutils_uclient arguments...]
# The exit status is ignored: failing is what several scenarios are about.
uclient() {
	local name=$1 limit=$2
	shift 2
	timeout "$limit" ip netns exec "$NS_CLI" turnutils_uclient "$@" \
		>"$WORK/$name-uclient.log" 2>&1 || true
}

# Common client arguments: one client (-m 1), five 100-byte messages,
# no RTCP allocation (-c), peer behind the relay.
ucl_args() {
	printf '%s\n' -m 1 -n 5 -l 100 -c -u "$TURN_USER" -w "$1" -e "$2" -r 3480
}

capture_udp_ok() {
	start_server udp-ok
	start_peer udp-ok
	start_capture udp-ok
	uclient udp-ok 30 $(ucl_args "$TURN_PASS" "$PEER4") "$SRV4"
	finish_capture udp-ok
	expect udp-ok 'stun.type == 0x0104 && stun.att.lifetime == 0' 'deallocation (Refresh lifetime 0 success)'
}

capture_tcp_ok() {
	start_server tcp-ok
	start_peer tcp-ok
	start_capture tcp-ok
	uclient tcp-ok 30 -t $(ucl_args "$TURN_PASS" "$PEER4") "$SRV4"
	finish_capture tcp-ok
	expect tcp-ok 'tcp && stun.type == 0x0104 && stun.att.lifetime == 0' 'deallocation (Refresh lifetime 0 success)'
}

capture_wrong_password() {
	start_server wrong-password
	start_peer wrong-password
	start_capture wrong-password
	uclient wrong-password 30 $(ucl_args wrong-password "$PEER4") "$SRV4"
	finish_capture wrong-password
	expect wrong-password 'stun.type == 0x0113 && stun.att.error == 1 && stun.att.error.class == 4 && !icmp' '401 answers'
}

capture_port_dropped() {
	start_server port-dropped
	start_peer port-dropped
	ip netns exec "$NS_SRV" iptables -A INPUT -p udp --dport 3478 -j DROP
	start_capture port-dropped
	uclient port-dropped 40 $(ucl_args "$TURN_PASS" "$PEER4") "$SRV4"
	finish_capture port-dropped
	expect port-dropped 'stun.type == 0x0003' 'Allocate requests'
}

capture_port_rejected() {
	start_server port-rejected
	start_peer port-rejected
	ip netns exec "$NS_SRV" iptables -A INPUT -p udp --dport 3478 \
		-j REJECT --reject-with icmp-port-unreachable
	start_capture port-rejected
	uclient port-rejected 40 $(ucl_args "$TURN_PASS" "$PEER4") "$SRV4"
	finish_capture port-rejected
	expect port-rejected 'icmp.type == 3 && icmp.code == 3' 'ICMP port unreachable'
}

capture_stale_nonce() {
	start_server stale-nonce --stale-nonce=1
	start_peer stale-nonce
	start_capture stale-nonce
	uclient stale-nonce 40 $(ucl_args "$TURN_PASS" "$PEER4") "$SRV4"
	finish_capture stale-nonce
	expect stale-nonce 'stun.att.error.class == 4 && stun.att.error == 38 && !icmp' '438 Stale Nonce'
}

capture_ipv6_ok() {
	start_server ipv6-ok
	start_peer ipv6-ok
	start_capture ipv6-ok
	uclient ipv6-ok 30 $(ucl_args "$TURN_PASS" "$PEER6") "$SRV6"
	finish_capture ipv6-ok
	expect ipv6-ok 'ipv6 && stun.type == 0x0104 && stun.att.lifetime == 0' 'deallocation (Refresh lifetime 0 success)'
}

capture_forbidden() {
	start_server forbidden --denied-peer-ip="$PEER4"
	start_peer forbidden
	start_capture forbidden
	uclient forbidden 30 $(ucl_args "$TURN_PASS" "$PEER4") "$SRV4"
	finish_capture forbidden
	expect forbidden 'stun.att.error.class == 4 && stun.att.error == 3' '403 Forbidden'
}

# The client 10.0.0.10 sits behind cs-cli, which NATs it to 192.0.2.10
# (MASQUERADE --random-fully, new inbound flows dropped) and forgets an
# idle UDP binding after 5 s (the conntrack timeouts are per network
# namespace). pcaps/turn-idle-client allocates (401, then with
# credentials), installs a permission and channel 0x4000 for the peer,
# sends three ChannelData (echoed by the peer), is silent for 8 s on the
# same socket, then sends a Refresh and one more ChannelData. The NAT has
# dropped the binding, so they leave from a new random public port, where
# coturn has no allocation: 437 Allocation Mismatch, and the ChannelData
# is dropped. A NAT that preserves ports would have reused the old one
# and shown nothing.
capture_nat_binding_expired() {
	(cd "$SCRIPT_DIR/.." && go build -o "$WORK/turn-idle-client" ./pcaps/turn-idle-client)
	veth_pair "$NS_LAN" cs-lan0 "$MAC_LAN" "$NS_CLI" cs-cli1 "$MAC_CLI1"
	ip -n "$NS_LAN" addr add "$LAN_CLI/24" dev cs-lan0
	ip -n "$NS_CLI" addr add "$LAN_GW/24" dev cs-cli1
	ip -n "$NS_LAN" link set cs-lan0 up
	ip -n "$NS_CLI" link set cs-cli1 up
	ip -n "$NS_LAN" route add default via "$LAN_GW"
	static_neighbours "$NS_LAN" cs-lan0 "$MAC_CLI1" "$LAN_GW"
	static_neighbours "$NS_CLI" cs-cli1 "$MAC_LAN" "$LAN_CLI"
	ip netns exec "$NS_CLI" sysctl -qw net.ipv4.ip_forward=1
	ip netns exec "$NS_CLI" iptables -t nat -A POSTROUTING -s "$LAN_CLI/24" -o cs-cli0 -j MASQUERADE --random-fully
	ip netns exec "$NS_CLI" iptables -A FORWARD -i cs-cli0 -o cs-cli1 -m conntrack --ctstate NEW -j DROP
	# After the rules: the sysctls appear once conntrack is loaded.
	ip netns exec "$NS_CLI" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=5 \
		net.netfilter.nf_conntrack_udp_timeout_stream=5
	start_server nat-binding-expired
	start_peer nat-binding-expired
	CAPTURE_NS=$NS_SRV CAPTURE_DEV=cs-srv0 start_capture nat-binding-expired
	timeout 30 ip netns exec "$NS_LAN" "$WORK/turn-idle-client" -server "$SRV4:3478" -peer "$PEER4:3480" \
		-user "$TURN_USER" -password "$TURN_PASS" -idle 8s >"$WORK/nat-binding-expired-client.log" 2>&1 || true
	finish_capture nat-binding-expired
	expect nat-binding-expired 'stun.type == 0x0103' 'Allocate success'
	expect nat-binding-expired 'stun.type == 0x0114 && stun.att.error.class == 4 && stun.att.error == 37' 'Refresh answered 437'
	local ports
	ports=$(tshark -n -r "$(capture_file nat-binding-expired)" -Y "ip.src == $CLI4 && udp.dstport == 3478" \
		-T fields -e udp.srcport 2>/dev/null | sort -u | wc -l)
	((ports == 2)) || echo "WARNING: turn-nat-binding-expired.pcap: the client used $ports public ports, expected 2" >&2
}

# summarize FILE — tshark's view of a capture as one JSON object: frame
# count, STUN messages by method and class, ChannelData messages, error
# codes, ICMP/ICMPv6 port-unreachable messages. A TCP segment can carry
# several STUN messages, so every occurrence of a field is counted.
summarize() {
	local file=$1 frames unreach
	frames=$(capinfos -T -r -c "$file" | cut -f2)
	unreach=$(tshark -n -r "$file" -Y '(icmp.type == 3 && icmp.code == 3) || (icmpv6.type == 1 && icmpv6.code == 4)' 2>/dev/null | wc -l)
	# The STUN message quoted inside an ICMP error is not a message on the
	# wire; count only top-level ones.
	tshark -n -r "$file" -Y 'stun && !icmp && !icmpv6' -T fields -E occurrence=a -E aggregator=, \
		-e stun.type.method -e stun.type.class -e stun.channel \
		-e stun.att.error.class -e stun.att.error 2>/dev/null |
		awk -F'\t' -v frames="$frames" -v unreach="$unreach" '
		BEGIN {
			m["0x0001"] = "Binding"; m["0x0003"] = "Allocate"; m["0x0004"] = "Refresh"
			m["0x0006"] = "Send"; m["0x0007"] = "Data"; m["0x0008"] = "CreatePermission"
			m["0x0009"] = "ChannelBind"
			c["0x0000"] = "request"; c["0x0001"] = "indication"
			c["0x0010"] = "success"; c["0x0011"] = "error"
		}
		function sorted(arr, keys,    n, k, i, j, t) {
			n = 0
			for (k in arr) keys[++n] = k
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && keys[j-1] > keys[j]; j--) { t = keys[j]; keys[j] = keys[j-1]; keys[j-1] = t }
			return n
		}
		{
			nm = split($1, meth, ","); split($2, cls, ",")
			for (i = 1; i <= nm; i++)
				stun[(meth[i] in m ? m[meth[i]] : meth[i]) " " (cls[i] in c ? c[cls[i]] : cls[i])]++
			# ChannelData has stun.channel but no message type; a
			# ChannelBind request has both (its CHANNEL-NUMBER attribute).
			if ($3 != "" && $1 == "") chdata += split($3, tmp, ",")
			ne = split($4, ecl, ","); split($5, enu, ",")
			for (i = 1; i <= ne; i++) errs[ecl[i] * 100 + enu[i]]++
		}
		END {
			printf "{\"frames\": %d, \"stun\": {", frames
			n = sorted(stun, keys)
			for (i = 1; i <= n; i++) printf "%s\"%s\": %d", (i > 1 ? ", " : ""), keys[i], stun[keys[i]]
			printf "}, \"channel_data\": %d, \"error_codes\": {", chdata
			n = sorted(errs, ekeys)
			for (i = 1; i <= n; i++) printf "%s\"%s\": %d", (i > 1 ? ", " : ""), ekeys[i], errs[ekeys[i]]
			printf "}, \"icmp_port_unreachable\": %d}\n", unreach
		}'
}

main() {
	if [[ ${1:-} == --summary ]]; then
		print_summaries
		return
	fi
	require_root_and_tools turnserver turnutils_uclient turnutils_peer tcpdump editcap capinfos ip iptables ss
	select_captures "$@"
	local name
	for name in "${WANT[@]}"; do
		log "capturing turn-$name.pcap"
		record_once "$name"
	done
	keep_logs '*.log'
}

main "$@"
