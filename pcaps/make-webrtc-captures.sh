#!/usr/bin/env bash
# make-webrtc-captures.sh — re-create callscope's reference TLS, DTLS and
# WebRTC captures.
#
# The tls-*.pcap, turn-tls.pcap, turn-dtls.pcap and webrtc-*.pcap files
# next to this script were recorded from real programs: OpenSSL's
# s_server/s_client (Debian openssl 3.0), coturn 4.6.1 (turnserver,
# turnutils_uclient, turnutils_peer) over TLS and DTLS, and headless
# Chromium (Debian package chromium) running pcaps/webrtc/relay-call.html:
# two RTCPeerConnections in one page, relay-only through coturn; for
# webrtc-ice-tcp, pcaps/webrtc/ice-tcp-call.html calling pcaps/ice-tcp-peer,
# a Pion WebRTC peer built here with go. Captured with tcpdump. This
# script is the recipe; it is not run by CI. Re-run it
# only when a capture must change, then re-check pcaps/EXPECTED.md and
# pcaps/expected.json (the tshark counts there are what the golden tests
# compare against).
#
# Requirements (Debian/Ubuntu): root; packages openssl, coturn, chromium,
# tcpdump, tshark (for editcap/capinfos/mergecap/tshark), iproute2, iptables,
# python3; Go and its module proxy for ice-tcp-peer. Nothing in /etc is
# touched: turnserver gets its configuration on the command line, Chromium
# a throw-away profile and HOME.
#
# Usage:
#   sudo pcaps/make-webrtc-captures.sh              # all captures
#   sudo pcaps/make-webrtc-captures.sh tls13        # only the named ones (see CAPTURES)
#   pcaps/make-webrtc-captures.sh --summary         # tshark counts per capture, as JSON
#                                                   # (the "tshark" blocks of expected.json)
# Environment: CAPTURE_OUT_DIR=dir writes the captures there instead of
# next to this script; KEEP_LOGS=dir keeps the server/client/browser logs
# and the certificates.
#
# The TLS captures take a second each, the TURN ones a few seconds,
# webrtc-relay and webrtc-ice-tcp about 10 s each and webrtc-turn-blocked
# about 50 s (Chromium's whole Allocate retransmission schedule). Keys,
# ports, transaction IDs, ICE credentials and nonces are random, so a
# re-run changes bytes; the
# message sequences are stable.
#
# Topology: two network namespaces created (and removed on exit) here; no
# traffic leaves them. IPv6 is off in both (no link chatter).
#
#   cs-web-cli                         cs-web-srv
#   192.0.2.10  csw-cli0 <-> csw-srv0  192.0.2.1   (s_server :443, coturn :3478/:5349,
#                                                   ice-tcp-peer :8080 HTTP, :8443 ICE-TCP)
#                                      198.51.100.1  (on lo: coturn's relay address)
#                                      198.51.100.20 (on lo: turnutils_peer :3480)
#
# The client namespace has no default route, so nothing Chromium tries on
# its own (DNS, updates) reaches the wire: only 192.0.2.0/24 is routable,
# and that is the server. Every capture is taken on the client's interface
# csw-cli0 (Ethernet link type). MAC addresses and neighbour entries are
# static (no ARP). Timestamps are shifted so that each capture starts at
# 2026-01-01T00:00:00Z; relative timing is untouched.
#
# Certificates: self-signed RSA 2048, CN and SAN DNS edge.callscope.test,
# signed with `openssl ca -selfsign` (pcaps/webrtc/openssl-ca.cnf) so the
# validity dates are fixed, not "from now": the valid one runs
# 2025-01-01..2036-01-01 (valid at the capture time), the expired one
# 2020-01-01..2021-01-01. The system clock of the recording machine plays
# no part in what the captures show.
#
# Credentials are test fixtures: user alice, realm callscope.test,
# password correct-horse.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
OUT_DIR=${CAPTURE_OUT_DIR:-$SCRIPT_DIR}
HELPERS=$SCRIPT_DIR/webrtc
CAPTURES=(tls12-selfsigned tls13 tls-name-mismatch tls-expired tls-handshake-failure
	tls-legacy-version turn-tls turn-dtls webrtc-relay webrtc-turn-blocked webrtc-ice-tcp)
CAPTURE_PREFIX=

NS_CLI=cs-web-cli NS_SRV=cs-web-srv
CLI4=192.0.2.10 SRV4=192.0.2.1 RELAY4=198.51.100.1 PEER4=198.51.100.20
MAC_CLI=02:00:c0:00:02:0a MAC_SRV=02:00:c0:00:02:01
TLS_PORT=443
SERVER_NAME=edge.callscope.test WRONG_NAME=wrong.callscope.test
TURN_USER=alice TURN_REALM=callscope.test TURN_PASS=correct-horse
EPOCH_START=1767225600 # 2026-01-01T00:00:00Z
CALL_SECONDS=5

# tshark's heuristics for what TURN carries (DATA of Send/Data indications
# and ChannelData): STUN (ICE checks), DTLS and RTP. All three are off by
# default in tshark 4.0; without them the relayed payload is "data".
TURN_HEURISTICS=(--enable-heuristic stun_turn --enable-heuristic dtls_stun --enable-heuristic rtp_stun)

NAMESPACES=("$NS_CLI" "$NS_SRV")
# Only unicast IP: Chromium joins the mDNS group (IGMP reports to
# 224.0.0.22) even when it gathers no host candidate; that is link
# chatter, not part of any scenario.
CAPTURE_NS=$NS_CLI CAPTURE_DEV=csw-cli0 CAPTURE_FILTER='ip and not ip multicast'
EXPECT_TSHARK_OPTS=("${TURN_HEURISTICS[@]}")

# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"
init_work_dir callscope-webrtc-captures

topology_up() {
	namespaces_create net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	veth_pair "$NS_CLI" csw-cli0 "$MAC_CLI" "$NS_SRV" csw-srv0 "$MAC_SRV"

	ip -n "$NS_CLI" addr add "$CLI4/24" dev csw-cli0
	ip -n "$NS_SRV" addr add "$SRV4/24" dev csw-srv0
	# No dummy interfaces in every kernel: the relay and peer addresses sit
	# on the server's loopback, which is where coturn's relayed packets
	# travel anyway.
	ip -n "$NS_SRV" addr add "$RELAY4/32" dev lo
	ip -n "$NS_SRV" addr add "$PEER4/32" dev lo

	ip -n "$NS_CLI" link set csw-cli0 up
	ip -n "$NS_SRV" link set csw-srv0 up

	static_neighbours "$NS_CLI" csw-cli0 "$MAC_SRV" "$SRV4"
	static_neighbours "$NS_SRV" csw-srv0 "$MAC_CLI" "$CLI4"
}

# make_cert NAME START END — a self-signed certificate for SERVER_NAME
# (CN and SAN) valid from START to END (YYYYMMDDHHMMSSZ), as
# $WORK/NAME.crt and $WORK/NAME.key.
make_cert() {
	local name=$1 start=$2 end=$3 dir=$WORK/ca-$1
	mkdir -p "$dir"
	: >"$dir/index.txt"
	echo 1000 >"$dir/serial"
	openssl req -new -newkey rsa:2048 -nodes -keyout "$WORK/$name.key" -out "$dir/req.csr" \
		-subj "/CN=$SERVER_NAME" -addext "subjectAltName=DNS:$SERVER_NAME" 2>/dev/null
	CA_DIR=$dir openssl ca -batch -notext -config "$HELPERS/openssl-ca.cnf" -selfsign \
		-keyfile "$WORK/$name.key" -in "$dir/req.csr" -out "$WORK/$name.crt" \
		-startdate "$start" -enddate "$end" 2>"$dir/ca.log"
	log "$name certificate: $(openssl x509 -in "$WORK/$name.crt" -noout -subject -enddate -fingerprint -sha256 | tr '\n' ' ')"
}

make_certs() {
	make_cert edge 20250101000000Z 20360101000000Z
	make_cert expired 20200101000000Z 20210101000000Z
}

# --- TLS: openssl s_server / s_client ------------------------------------

# start_tls_server NAME CERT [s_server options...] — one connection, then
# s_server exits. -www answers a GET with a small HTML status page and
# closes the connection (HTTP/1.0), which gives each capture an
# application-data exchange both ways and a close_notify.
start_tls_server() {
	local name=$1 cert=$2
	shift 2
	ip netns exec "$NS_SRV" openssl s_server -accept "$SRV4:$TLS_PORT" -naccept 1 -www \
		-cert "$WORK/$cert.crt" -key "$WORK/$cert.key" "$@" \
		>"$WORK/$name-s_server.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$NS_SRV" t "$SRV4:$TLS_PORT"
}

# tls_client NAME SNI [s_client options...] — one HTTP/1.0 GET. s_client
# does not verify the certificate unless told to, so a self-signed,
# expired or misnamed one still completes the handshake, as a careless
# client would; it logs the verify result. -ign_eof keeps it reading
# until the server closes.
tls_client() {
	local name=$1 sni=$2
	shift 2
	printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$sni" |
		timeout 15 ip netns exec "$NS_CLI" openssl s_client -connect "$SRV4:$TLS_PORT" \
			-servername "$sni" -ign_eof "$@" >"$WORK/$name-s_client.log" 2>&1 || true
}

capture_tls12_selfsigned() {
	start_tls_server tls12-selfsigned edge
	start_capture tls12-selfsigned
	tls_client tls12-selfsigned "$SERVER_NAME" -tls1_2
	finish_capture tls12-selfsigned
	expect tls12-selfsigned 'tls.handshake.type == 11' 'Certificate message'
	expect tls12-selfsigned "tls.handshake.extensions_server_name == \"$SERVER_NAME\"" 'SNI'
	expect tls12-selfsigned 'tls.record.content_type == 23' 'application data' 2
	expect_none tls12-selfsigned 'tls.alert_message.level == 2' 'fatal alerts'
}

capture_tls13() {
	start_tls_server tls13 edge
	start_capture tls13
	tls_client tls13 "$SERVER_NAME"
	finish_capture tls13
	expect tls13 'tls.handshake.extensions.supported_version == 0x0304 && tls.handshake.type == 2' 'TLS 1.3 ServerHello'
	expect_none tls13 'tls.handshake.type == 11' 'Certificate in clear'
	expect tls13 "tls.handshake.extensions_server_name == \"$SERVER_NAME\"" 'SNI'
}

capture_tls_name_mismatch() {
	start_tls_server tls-name-mismatch edge
	start_capture tls-name-mismatch
	tls_client tls-name-mismatch "$WRONG_NAME" -tls1_2
	finish_capture tls-name-mismatch
	expect tls-name-mismatch "tls.handshake.extensions_server_name == \"$WRONG_NAME\"" 'wrong SNI'
	expect tls-name-mismatch 'tls.handshake.type == 11' 'Certificate message'
}

capture_tls_expired() {
	start_tls_server tls-expired expired
	start_capture tls-expired
	tls_client tls-expired "$SERVER_NAME" -tls1_2
	finish_capture tls-expired
	expect tls-expired 'tls.handshake.type == 11' 'Certificate message'
	expect tls-expired 'x509af.utcTime == "2021-01-01 00:00:00 (UTC)"' 'notAfter 2021-01-01'
}

# The server accepts only an AES-256 suite, the client offers only an
# AES-128 one: no shared cipher, and s_server answers the ClientHello with
# a fatal handshake_failure alert (40).
capture_tls_handshake_failure() {
	start_tls_server tls-handshake-failure edge -cipher ECDHE-RSA-AES256-GCM-SHA384
	start_capture tls-handshake-failure
	tls_client tls-handshake-failure "$SERVER_NAME" -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
	finish_capture tls-handshake-failure
	expect tls-handshake-failure 'tls.alert_message.level == 2 && tls.alert_message.desc == 40' 'fatal handshake_failure alert'
	expect_none tls-handshake-failure 'tls.handshake.type == 2' 'ServerHello'
}

# TLS 1.0 on both sides. Debian's OpenSSL allows nothing below TLS 1.2 at
# its default security level 2 (/etc/ssl/openssl.cnf), so both lower it
# to 0 on the command line, the way a legacy device's stack would be.
capture_tls_legacy_version() {
	start_tls_server tls-legacy-version edge -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
	start_capture tls-legacy-version
	tls_client tls-legacy-version "$SERVER_NAME" -tls1 -cipher 'DEFAULT:@SECLEVEL=0'
	finish_capture tls-legacy-version
	expect tls-legacy-version 'tls.handshake.type == 2 && tls.handshake.version == 0x0301' 'TLS 1.0 ServerHello'
	expect tls-legacy-version 'tls.handshake.type == 11' 'Certificate message'
}

# --- TURN over TLS and DTLS: coturn ----------------------------------------

# start_turn NAME [extra turnserver options...] — coturn with the valid
# self-signed certificate on 3478 (plain) and 5349 (TLS on TCP, DTLS on UDP).
start_turn() {
	local name=$1
	shift
	run_turnserver "$NS_SRV" "$name" --listening-ip "$SRV4" --relay-ip "$RELAY4" \
		--cert "$WORK/edge.crt" --pkey "$WORK/edge.key" "$@"
	wait_listen "$NS_SRV" u "$SRV4:3478"
	wait_listen "$NS_SRV" t "$SRV4:5349"
	wait_listen "$NS_SRV" u "$SRV4:5349"
}

start_peer() {
	local name=$1
	ip netns exec "$NS_SRV" turnutils_peer -L "$PEER4" -p 3480 >"$WORK/$name-peer.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$NS_SRV" u "$PEER4:3480"
}

# uclient NAME [turnutils_uclient arguments...] — one client, five
# 100-byte messages, no RTCP allocation; -S makes it TLS (with -t) or DTLS.
uclient() {
	local name=$1
	shift
	timeout 30 ip netns exec "$NS_CLI" turnutils_uclient -S -m 1 -n 5 -l 100 -c \
		-u "$TURN_USER" -w "$TURN_PASS" -e "$PEER4" -r 3480 "$@" "$SRV4" \
		>"$WORK/$name-uclient.log" 2>&1 || true
}

capture_turn_tls() {
	start_turn turn-tls
	start_peer turn-tls
	start_capture turn-tls
	uclient turn-tls -t
	finish_capture turn-tls
	expect turn-tls 'tcp.dstport == 5349 && tls.handshake.type == 1' 'ClientHello to 5349'
	expect turn-tls 'tls.record.content_type == 23' 'application data (TURN inside TLS)' 10
}

# turnutils_uclient picks its TLS/DTLS method at random for each
# connection, TLS 1.0/DTLS 1.0 among them; coturn (OpenSSL 3, security
# level 2) refuses those with a fatal internal_error alert and uclient
# reconnects. The reference captures are the clean runs: check_* makes
# main record again when a legacy attempt or a fatal alert shows up.
check_turn_tls() {
	clean_handshakes turn-tls 'tls.handshake.type == 1 && tls.handshake.version < 0x0303' \
		'tls.alert_message.level == 2'
}

check_turn_dtls() {
	clean_handshakes turn-dtls 'dtls.handshake.type == 1 && dtls.handshake.version == 0xfeff' \
		'dtls.alert_message.level == 2'
}

# clean_handshakes NAME LEGACY_FILTER FATAL_FILTER
clean_handshakes() {
	local name=$1 legacy fatal
	legacy=$(tshark -n -r "$OUT_DIR/$name.pcap" -Y "$2" 2>/dev/null | wc -l)
	fatal=$(tshark -n -r "$OUT_DIR/$name.pcap" -Y "$3" 2>/dev/null | wc -l)
	if ((legacy + fatal > 0)); then
		echo "NOTE: $name.pcap: uclient tried a legacy version ($legacy ClientHellos, $fatal fatal alerts); again" >&2
		return 1
	fi
}

capture_turn_dtls() {
	start_turn turn-dtls
	start_peer turn-dtls
	start_capture turn-dtls
	uclient turn-dtls
	finish_capture turn-dtls
	expect turn-dtls 'dtls.handshake.type == 1' 'DTLS ClientHello'
	expect turn-dtls 'dtls.record.content_type == 23' 'application data (TURN inside DTLS)' 10
}

# --- WebRTC: headless Chromium, relay-only through coturn ------------------

start_turn_plain() {
	local name=$1
	run_turnserver "$NS_SRV" "$name" --listening-ip "$SRV4" --relay-ip "$RELAY4" \
		--no-tls --no-dtls
	wait_listen "$NS_SRV" u "$SRV4:3478"
}

# browser_call NAME LIMIT GIVE_UP [PAGE [QUERY]] — open PAGE
# (relay-call.html, with the TURN server's address and credentials as
# QUERY, by default) in headless Chromium inside the client namespace and
# wait until the page logs "done" (or LIMIT seconds), then give Chromium 2 s to
# deallocate (Refresh lifetime 0) before stopping it. The fake capture
# device plays Chromium's beep; nothing needs a sound card.
browser_call() {
	local name=$1 limit=$2 give_up=$3 page=${4:-relay-call.html} profile=$WORK/chromium-$1 i
	local query=${5:-turn=$SRV4:3478&user=$TURN_USER&pass=$TURN_PASS}
	mkdir -p "$profile/home"
	local url="file://$HELPERS/$page?$query&seconds=$CALL_SECONDS&give_up=$give_up"
	HOME=$profile/home ip netns exec "$NS_CLI" chromium --headless --no-sandbox --disable-gpu \
		--disable-quic --no-first-run --disable-background-networking --disable-component-update \
		--disable-sync --disable-default-apps --disable-extensions --no-default-browser-check \
		--user-data-dir="$profile" --use-fake-device-for-media-stream --use-fake-ui-for-media-stream \
		--autoplay-policy=no-user-gesture-required --allow-file-access-from-files \
		--enable-logging=stderr --v=0 --remote-debugging-port=0 "$url" \
		>"$WORK/$name-chromium.log" 2>&1 &
	local pid=$!
	for i in $(seq $((limit * 10))); do
		grep -q 'callscope: done' "$WORK/$name-chromium.log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 2
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	grep -o 'callscope: .*' "$WORK/$name-chromium.log" | sed 's/", source:.*//' >"$WORK/$name-page.log" || true
	log "$name: $(grep -m1 -o 'callscope: done.*' "$WORK/$name-page.log" || echo 'page did not finish')"
	save_signalling "$name"
}

# save_signalling NAME — the page's signalling never touches the wire, so
# keep what a web bridge would have carried: the offer and answer SDP
# (ICE ufrag/pwd for --ice-password, a=fingerprint for the DTLS check) and
# the page's own account of the call (candidates, states, selected pair),
# as webrtc/NAME-offer.sdp, webrtc/NAME-answer.sdp, webrtc/NAME-page.log.
save_signalling() {
	local name=$1
	mkdir -p "$OUT_DIR/webrtc"
	cp "$WORK/$name-page.log" "$OUT_DIR/webrtc/$name-page.log"
	python3 - "$WORK/$name-page.log" "$OUT_DIR/webrtc/$name" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    for kind in ("offer", "answer"):
        prefix = f"callscope: {kind} sdp "
        if line.startswith(prefix):
            with open(f"{sys.argv[2]}-{kind}.sdp", "w", encoding="utf-8", newline="") as f:
                f.write(json.loads(line[len(prefix):].rstrip("\n")))
EOF
}

capture_webrtc_relay() {
	start_turn_plain webrtc-relay
	start_capture webrtc-relay
	browser_call webrtc-relay 40 20
	finish_capture webrtc-relay
	expect webrtc-relay 'stun.type == 0x0103' 'Allocate success' 2
	expect webrtc-relay 'stun.type == 0x0109' 'ChannelBind success' 2
	expect webrtc-relay 'dtls.handshake.type == 1' 'DTLS ClientHello in ChannelData'
	expect webrtc-relay 'stun.type == 0x0004 && stun.att.lifetime == 0' 'deallocation' 2
}

# The server host drops TURN (UDP and TCP 3478): Chromium's Allocates go
# unanswered, no relay candidate is gathered, and with a relay-only policy
# ICE has nothing to check.
capture_webrtc_turn_blocked() {
	start_turn_plain webrtc-turn-blocked
	ip netns exec "$NS_SRV" iptables -A INPUT -p udp --dport 3478 -j DROP
	ip netns exec "$NS_SRV" iptables -A INPUT -p tcp --dport 3478 -j DROP
	start_capture webrtc-turn-blocked
	browser_call webrtc-turn-blocked 60 45
	finish_capture webrtc-turn-blocked
	expect webrtc-turn-blocked 'stun.type == 0x0003' 'Allocate requests' 2
	expect_none webrtc-turn-blocked 'stun.type == 0x0103 || stun.type == 0x0113' 'Allocate answers'
}

# --- WebRTC over ICE-TCP: headless Chromium to a Pion peer, UDP dropped ---

# Chromium calls pcaps/ice-tcp-peer (Pion WebRTC, built here; a module of
# its own) in the server namespace: host candidates only, no STUN or TURN
# server. Chromium gathers UDP host candidates and active TCP ones (port
# 9: it cannot listen, see ice-tcp-peer/main.go), the peer a UDP host
# candidate and a passive TCP one on $ICE_TCP_PORT. The server namespace
# drops UDP both ways, so Chromium's UDP checks go unanswered and ICE
# succeeds only on the TCP pair: Chromium connects to the passive
# candidate, and that connection carries the checks, DTLS and SRTP/SRTCP,
# each framed by a 2-byte length (RFC 4571, RFC 6544 §3). The page posts
# its offer to the peer over HTTP ($ICE_TCP_HTTP_PORT), which the capture
# leaves out as it leaves out the other pages' in-page signalling.
ICE_TCP_PORT=8443 ICE_TCP_HTTP_PORT=8080

capture_webrtc_ice_tcp() {
	local name=webrtc-ice-tcp
	local CAPTURE_FILTER="ip and not ip multicast and not tcp port $ICE_TCP_HTTP_PORT"
	(cd "$SCRIPT_DIR/ice-tcp-peer" && go build -o "$WORK/ice-tcp-peer" .)
	ip netns exec "$NS_SRV" iptables -A INPUT -p udp -j DROP
	ip netns exec "$NS_SRV" iptables -A OUTPUT -p udp -j DROP
	ip netns exec "$NS_SRV" "$WORK/ice-tcp-peer" -http "$SRV4:$ICE_TCP_HTTP_PORT" \
		-ice-tcp "$SRV4:$ICE_TCP_PORT" -timeout 60s >"$WORK/$name-peer.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$NS_SRV" t "$SRV4:$ICE_TCP_HTTP_PORT"
	start_capture "$name"
	browser_call "$name" 40 20 ice-tcp-call.html "peer=http://$SRV4:$ICE_TCP_HTTP_PORT/offer"
	finish_capture "$name"
	expect "$name" "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == $ICE_TCP_PORT" 'connection to the passive candidate'
	expect "$name" 'udp && stun' 'unanswered UDP checks'
	expect_none "$name" 'udp && stun.type == 0x0101' 'answered UDP checks'
	grep -q 'tcptype passive' "$OUT_DIR/webrtc/$name-answer.sdp" ||
		echo "WARNING: $name: the peer offered no passive TCP candidate" >&2
	grep -q 'tcptype active' "$OUT_DIR/webrtc/$name-offer.sdp" ||
		echo "WARNING: $name: Chromium offered no active TCP candidate" >&2
	grep -Eq 'selected pair [a-z]+ tcp active' "$OUT_DIR/webrtc/$name-page.log" ||
		echo "WARNING: $name: the selected pair is not Chromium's active TCP candidate" >&2
}

# --- summary ---------------------------------------------------------------

# reframe_ice_tcp FILE OUT — FILE with its ICE-TCP connections (TCP port
# $ICE_TCP_PORT) replaced by one UDP datagram per RFC 4571 frame, with the
# same addresses and ports and the time of the segment that completed the
# frame, as OUT. tshark 4.0 cannot demultiplex those frames itself: its
# STUN-over-TCP heuristic takes the first frames and loses the framing at
# the first DTLS one, and its "rtp" Decode As on a TCP port (RFC 4571
# framing) dissects every frame as RTP, STUN and DTLS included. Given
# datagrams, it dissects STUN and DTLS as it does on any UDP candidate
# pair, so the tls, dtls and stun counts of an ICE-TCP capture are
# tshark's; the RTP counts come from its own RFC 4571 framing (summarize).
# The reassembly here is in order only: a capture with a hole or
# retransmission in those connections is refused.
reframe_ice_tcp() {
	local file=$1 out=$2
	tshark -n -r "$file" -Y "!(tcp.port == $ICE_TCP_PORT)" -w "$WORK/reframe-rest.pcap" 2>/dev/null
	tshark -n -r "$file" -Y "tcp.port == $ICE_TCP_PORT && tcp.len > 0" -T fields -e frame.time_epoch \
		-e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport -e tcp.seq -e tcp.payload 2>/dev/null |
		python3 -c '
import ipaddress, struct, sys
out = open(sys.argv[1], "wb")
out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))  # pcap, Ethernet
def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    return ~(s + (s >> 16)) & 0xffff
def datagram(ts, src, sport, dst, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    frame = b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\0" + ip + udp
    sec, frac = ts.split(".")
    out.write(struct.pack("<IIII", int(sec), int(frac[:6].ljust(6, "0")), len(frame), len(frame)) + frame)
streams = {}  # direction -> [next sequence number, bytes not yet framed]
for line in sys.stdin:
    ts, src, sport, dst, dport, seq, payload = line.rstrip("\n").split("\t")
    key, seq, data = (src, int(sport), dst, int(dport)), int(seq), bytes.fromhex(payload)
    st = streams.setdefault(key, [seq, b""])
    if seq != st[0]:
        sys.exit(f"reframe_ice_tcp: {key}: segment at {seq}, expected {st[0]}: a hole or a retransmission")
    st[0] += len(data)
    buf = st[1] + data
    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
        n = struct.unpack("!H", buf[:2])[0]
        datagram(ts, src, int(sport), dst, int(dport), buf[2:2 + n])
        buf = buf[2 + n:]
    st[1] = buf
' "$WORK/reframe-frames.pcap"
	mergecap -F pcap -w "$out" "$WORK/reframe-rest.pcap" "$WORK/reframe-frames.pcap"
}

# summarize FILE — tshark's view of a capture as one JSON object: frames;
# TLS and DTLS: handshake messages by type, ClientHellos, SNI values,
# the best version each ClientHello offers and each ServerHello picks
# (supported_versions wins over the legacy field; a DTLS message split
# into fragments counts once),
# alerts (level/description; an encrypted alert, e.g. a close_notify after
# the handshake, has neither and is not counted) and records by content
# type; STUN messages by method and class at the top level (what the
# client and server exchange), ChannelData messages, STUN error codes and
# ICMP port unreachables (the keys make-captures.sh uses, so golden_test.go
# reads these blocks as it reads the turn-* ones), then STUN messages
# relayed inside TURN (ICE checks) and RTP packets inside TURN. Every occurrence in a frame is counted; the copy quoted in
# an ICMP error is not. Relayed payload crosses the capture point twice
# when both peers sit behind it (webrtc-relay: out from one allocation,
# back in to the other), and is counted each time. A capture with ICE-TCP
# (TCP port $ICE_TCP_PORT) has its tls, dtls and stun counts taken on its
# frames replayed as datagrams (reframe_ice_tcp), and three more keys from
# tshark's RFC 4571 framing (-d tcp.port==$ICE_TCP_PORT,rtp): ice_tcp_frames
# (frames, RTCP ones, and those tshark sees as RTP of version 0: STUN and
# DTLS), rtp_packets, and streams (per direction and SSRC, packets, lost
# as rtp,streams counts it, DSCP), as make-sip-captures.sh gives them.
summarize() {
	local file=$1 view=$1 proto extra ice_tcp=0
	if (($(tshark -n -r "$file" -Y "tcp.port == $ICE_TCP_PORT && tcp.len > 0" -T fields -e frame.number 2>/dev/null | wc -l) > 0)); then
		ice_tcp=1
		view=$WORK/summary-view.pcap
		reframe_ice_tcp "$file" "$view"
	fi
	{
		capinfos -T -r -c "$file" | cut -f2
		for proto in tls dtls; do
			echo "--$proto"
			extra=()
			[[ $proto == tls ]] || extra=(-e dtls.handshake.fragment_offset
				-e dtls.handshake.fragment_length -e dtls.handshake.length)
			tshark -n -r "$view" "${TURN_HEURISTICS[@]}" -Y "$proto && !icmp" -T fields \
				-E occurrence=a -E aggregator=, \
				-e $proto.handshake.type -e $proto.handshake.extensions_server_name \
				-e $proto.handshake.extensions.supported_version -e $proto.handshake.version \
				-e $proto.alert_message.level -e $proto.alert_message.desc -e $proto.record.content_type \
				"${extra[@]}" 2>/dev/null
		done
		echo '--stun'
		tshark -n -r "$view" -Y 'stun && !icmp' -T fields -E occurrence=a -E aggregator=, \
			-e stun.type.method -e stun.type.class -e stun.channel \
			-e stun.att.error.class -e stun.att.error 2>/dev/null
		echo '--stun-all'
		tshark -n -r "$view" "${TURN_HEURISTICS[@]}" -Y 'stun && !icmp' -T fields -E occurrence=a -E aggregator=, \
			-e stun.type.method -e stun.type.class -e stun.channel 2>/dev/null
		echo '--rtp'
		tshark -n -r "$file" "${TURN_HEURISTICS[@]}" -Y 'rtp && !icmp' -T fields -e rtp.ssrc 2>/dev/null
		if ((ice_tcp)); then
			# tshark's own RFC 4571 framing: every frame is dissected as
			# RTP (STUN and DTLS as RTP of version 0) or RTCP.
			echo '--ice-tcp-frames'
			tshark -n -r "$file" -d "tcp.port==$ICE_TCP_PORT,rtp" -Y "tcp.port == $ICE_TCP_PORT" -T fields \
				-E occurrence=a -E aggregator=, -e rtp.rfc4571.len -e rtp.version 2>/dev/null
			echo '--ice-tcp-rtp'
			tshark -n -r "$file" -d "tcp.port==$ICE_TCP_PORT,rtp" -Y 'rtp.version == 2' -T fields \
				-E occurrence=a -E aggregator=, -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport \
				-e rtp.version -e rtp.ssrc -e ip.dsfield.dscp 2>/dev/null
			echo '--ice-tcp-streams'
			tshark -q -n -r "$file" -d "tcp.port==$ICE_TCP_PORT,rtp" -z rtp,streams 2>/dev/null
		fi
		echo '--icmp'
		tshark -n -r "$file" -Y 'icmp.type == 3 && icmp.code == 3' -T fields -e frame.number 2>/dev/null
	} | python3 -c '
import json, sys
HS = {"0": "hello_request", "1": "client_hello", "2": "server_hello", "3": "hello_verify_request",
      "4": "new_session_ticket", "8": "encrypted_extensions", "11": "certificate",
      "12": "server_key_exchange", "13": "certificate_request", "14": "server_hello_done",
      "15": "certificate_verify", "16": "client_key_exchange", "20": "finished"}
VER = {"0x0301": "TLS 1.0", "0x0302": "TLS 1.1", "0x0303": "TLS 1.2", "0x0304": "TLS 1.3",
       "0xfeff": "DTLS 1.0", "0xfefd": "DTLS 1.2", "0xfefc": "DTLS 1.3"}
RANK = {"0x0301": 1, "0x0302": 2, "0x0303": 3, "0x0304": 4, "0xfeff": 2, "0xfefd": 3, "0xfefc": 4}
CT = {"20": "change_cipher_spec", "21": "alert", "22": "handshake", "23": "application_data"}
ALERT = {"0": "close_notify", "10": "unexpected_message", "20": "bad_record_mac", "40": "handshake_failure",
         "42": "bad_certificate", "43": "unsupported_certificate", "45": "certificate_expired",
         "46": "certificate_unknown", "48": "unknown_ca", "70": "protocol_version",
         "71": "insufficient_security", "80": "internal_error", "112": "unrecognized_name"}
METHOD = {"0x0001": "Binding", "0x0003": "Allocate", "0x0004": "Refresh", "0x0006": "Send",
          "0x0007": "Data", "0x0008": "CreatePermission", "0x0009": "ChannelBind"}
CLASS = {"0x0000": "request", "0x0001": "indication", "0x0010": "success", "0x0011": "error"}

def split(s):
    return [x for x in s.split(",") if x != ""]

def bump(d, k, n=1):
    d[k] = d.get(k, 0) + n

def proto():
    return {"handshake": {}, "client_hello": 0, "client_hello_version": {}, "sni": {}, "server_hello_version": {},
            "alerts": {}, "records": {}}

def stun_line(cols, counts):
    meths, classes, chans = split(cols[0]), split(cols[1]), split(cols[2])
    for m, c in zip(meths, classes):
        bump(counts, METHOD.get(m, m) + " " + CLASS.get(c, c))
    # ChannelData has stun.channel but no message type; a ChannelBind
    # request has both (its CHANNEL-NUMBER attribute).
    return len(chans) if chans and not meths else 0

frames, section = 0, None
out = {"tls": proto(), "dtls": proto()}
top, every, errors, chdata, rtp, ssrcs, unreach = {}, {}, {}, 0, 0, set(), 0
icetcp, icestreams = {"frames": 0, "rtcp": 0, "not_rtp": 0}, {}
for line in sys.stdin.read().splitlines():
    if line.startswith("--"):
        section = line[2:]
        continue
    if section is None:
        frames = int(line)
        continue
    cols = (line.split("\t") + [""] * 10)[:10]
    if section in ("tls", "dtls"):
        p = out[section]
        types, sv, hv = split(cols[0]), split(cols[2]), split(cols[3])
        if section == "dtls":
            # tshark shows the type on every fragment of a DTLS handshake
            # message; count a message once, on the fragment that ends it.
            off, flen, total = split(cols[7]), split(cols[8]), split(cols[9])
            types = [t for i, t in enumerate(types)
                     if i < len(total) and int(off[i]) + int(flen[i]) >= int(total[i])]
        for i, t in enumerate(types):
            bump(p["handshake"], HS.get(t, t))
            if t == "1":
                # The best version offered: supported_versions if present,
                # else the legacy client_version.
                offered = sv or hv[i:i + 1] or ["?"]
                v = max(offered, key=lambda x: RANK.get(x, 0))
                bump(p["client_hello_version"], VER.get(v, v))
            if t == "2":
                # The ServerHello: supported_versions holds the one version
                # chosen (TLS 1.3); otherwise the legacy field.
                v = sv[-1] if sv else (hv[i] if i < len(hv) else "?")
                bump(p["server_hello_version"], VER.get(v, v))
        p["client_hello"] += types.count("1")
        for s in split(cols[1]):
            bump(p["sni"], s)
        for lvl, desc in zip(split(cols[4]), split(cols[5])):
            bump(p["alerts"], ("fatal" if lvl == "2" else "warning" if lvl == "1" else lvl) + " " + ALERT.get(desc, desc))
        for ct in split(cols[6]):
            bump(p["records"], CT.get(ct, ct))
    elif section == "stun":
        chdata += stun_line(cols, top)
        for ecl, enu in zip(split(cols[3]), split(cols[4])):
            bump(errors, str(int(ecl) * 100 + int(enu)))
    elif section == "stun-all":
        stun_line(cols, every)
    elif section == "rtp" and line:
        rtp += 1
        ssrcs.add(line)
    elif section == "icmp" and line:
        unreach += 1
    elif section == "ice-tcp-frames" and line:
        lens, vers = split(cols[0]), split(cols[1])
        icetcp["frames"] += len(lens)
        icetcp["rtcp"] += len(lens) - len(vers)
        icetcp["not_rtp"] += vers.count("0")
    elif section == "ice-tcp-rtp" and line:
        # One TCP segment can carry several frames: their versions and
        # SSRCs line up, the addresses are the segment'"'"'s.
        for v, ssrc in zip(split(cols[4]), split(cols[5])):
            if v != "2":
                continue
            key = (cols[0], int(cols[1]), cols[2], int(cols[3]), int(ssrc, 16))
            st = icestreams.setdefault(key, {"packets": 0, "lost": None, "dscp": {}})
            st["packets"] += 1
            st["dscp"][cols[6]] = st["dscp"].get(cols[6], 0) + 1
    elif section == "ice-tcp-streams":
        f = line.split()
        if len(f) > 10 and f[6].lower().startswith("0x"):
            key = (f[2], int(f[3]), f[4], int(f[5]), int(f[6], 16))
            if key in icestreams:
                icestreams[key]["lost"] = int(f[9])
order = lambda d: dict(sorted(d.items()))
relayed = {k: v - top.get(k, 0) for k, v in every.items() if v - top.get(k, 0) > 0}
res = {"frames": frames}
for k in ("tls", "dtls"):
    res[k] = {f: (order(v) if isinstance(v, dict) else v) for f, v in out[k].items()}
res.update({"stun": order(top), "channel_data": chdata, "error_codes": order(errors),
            "icmp_port_unreachable": unreach, "stun_in_turn": order(relayed),
            "rtp_in_turn": rtp, "rtp_ssrcs": len(ssrcs)})
if icetcp["frames"]:
    res["ice_tcp_frames"] = icetcp
    res["rtp_packets"] = sum(v["packets"] for v in icestreams.values())
    res["rtp_streams"] = len(icestreams)
    res["streams"] = [
        {"src": f"{k[0]}:{k[1]}", "dst": f"{k[2]}:{k[3]}", "ssrc": f"0x{k[4]:08x}",
         "packets": v["packets"], "lost": v["lost"], "dscp": order(v["dscp"])}
        for k, v in sorted(icestreams.items())
    ]
print(json.dumps(res))
'
}

main() {
	if [[ ${1:-} == --summary ]]; then
		print_summaries
		return
	fi
	require_root_and_tools openssl turnserver turnutils_uclient turnutils_peer chromium tcpdump tshark \
		editcap capinfos mergecap ip iptables ss python3 timeout go
	select_captures "$@"
	make_certs
	local name attempt
	for name in "${WANT[@]}"; do
		for attempt in 1 2 3 4 5 6 7 8; do
			log "capturing $name.pcap (attempt $attempt)"
			record_once "$name"
			if ! declare -F "check_${name//-/_}" >/dev/null || "check_${name//-/_}"; then
				break
			fi
			((attempt < 8)) || echo "WARNING: $name.pcap: no clean run in 8 attempts; the last one is kept" >&2
		done
	done
	keep_logs '*.log' '*.crt'
}

main "$@"
