#!/usr/bin/env bash
# make-sip-captures.sh — re-create callscope's reference SIP/RTP captures.
#
# The sip-*.pcap files next to this script were recorded from real
# programs: SIPp (Debian package sip-tester, binary sipp) as caller,
# callee and registrar, with the kernel doing the rest (iptables mangle for
# DSCP marks, a router namespace for NAT, re-marking and random loss),
# captured with tcpdump. This script is the recipe; it is not run by CI.
# Re-run it only when a capture must change, then re-check
# pcaps/EXPECTED.md and pcaps/expected.json (the tshark counts there are
# what the golden tests compare against).
#
# Requirements (Debian/Ubuntu): root; packages sip-tester, tcpdump, tshark
# (for editcap/capinfos/tshark), iproute2, iptables, python3, and Go with
# this checkout (the source files of sip-jitter and
# sip-payload-type-mismatch, and pcaps/sip-keepalive-phone, the phone of
# sip-nat-binding-expired-keepalive and sip-tcp-keepalive). Nothing in
# /etc is touched. The SIPp scenarios are in pcaps/sipp/.
#
# Usage:
#   sudo pcaps/make-sip-captures.sh             # all captures
#   sudo pcaps/make-sip-captures.sh call-ok     # only the named ones (see CAPTURES)
#   pcaps/make-sip-captures.sh --summary        # tshark counts per capture, as JSON
#                                               # (the "tshark" blocks of expected.json)
#   pcaps/make-sip-captures.sh --jitter         # tshark's jitter per stream, in sip-jitter's
#                                               # source file and the captures (its evidence block)
# Environment: CAPTURE_OUT_DIR=dir writes the captures there instead of
# next to this script; KEEP_LOGS=dir keeps the SIPp/tcpdump logs.
#
# A call takes about 5 s; sip-timeout, sip-fragmented-invite and
# sip-fragmented-invite-callee take 35 s (the INVITE's full
# retransmission schedule), sip-ack-missing, sip-fragmented-200ok and
# sip-fragmented-200ok-caller 33 s (the 200's). All of
# them take about 2 minutes, more when
# a capture has to be retried (see media_check). Random loss,
# SIPp's pids in tags and Call-IDs, and scheduling make a re-run differ
# in bytes and timing; the message sequences are stable.
#
# Topology: three network namespaces created (and removed on exit) here;
# no traffic leaves them. IPv6 is off in all three (no link chatter).
#
#   cs-sip-a (caller)         cs-sip-r (router)                  cs-sip-b (callee,
#   10.0.1.10  csa0 <-> csr0  10.0.1.1                                    registrar)
#                                  203.0.113.1  csr1 <-> csb0  203.0.113.20
#
# The router forwards (no NAT) except in sip-nat-mismatch, sip-nat-alg,
# sip-nat-alg-both-sides, sip-dscp-remarked-both-sides,
# sip-nat-binding-expired, sip-nat-binding-expired-keepalive and
# sip-ack-missing (where the callee is the one
# behind the NAT, in cs-sip-a). Every capture
# is taken on the callee's interface csb0 (Ethernet link type): what a
# capture on the callee/registrar host would show; sip-nat-alg-both-sides
# and sip-dscp-remarked-both-sides are taken on the router with -i any,
# both sides of the NAT at once, sip-dscp-remarked-routed and
# sip-dscp-remarked-routed-sip likewise on the router forwarding without NAT, and
# sip-media-blocked, sip-fragmented-invite and sip-fragmented-200ok-caller
# on the caller's csa0 (the callee never sees what the router drops). MAC
# addresses and neighbour entries are static (no ARP). Timestamps are shifted so that
# each capture starts at 2026-01-01T00:00:00Z; relative timing is
# untouched.
#
# DSCP: both endpoints mark their own packets in mangle OUTPUT, the way a
# phone does: SIP (port 5060, UDP and TCP) CS3 (24), RTP (UDP ports
# 6000-6999, where SIPp's RTP streamer binds) EF (46).
#
# Media: SIPp's rtp_stream plays a 3 s raw 8 kHz mu-law tone as PCMU
# (payload type 0), 160 bytes every 20 ms (50 packets a second), from
# port 6000 to the port in the peer's SDP. The caller plays 440 Hz, the
# callee 660 Hz; both are generated here with python3.
#
# Credentials are test fixtures: user alice, realm callscope.test,
# password correct-horse (wrong one: wrong-password).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
OUT_DIR=${CAPTURE_OUT_DIR:-$SCRIPT_DIR}
SCENARIOS=$SCRIPT_DIR/sipp
CAPTURES=(call-ok one-way-audio dscp-wrong register-ok register-fail nat-mismatch nat-alg nat-alg-both-sides dscp-remarked-both-sides dscp-remarked-routed dscp-remarked-routed-sip loss call-failed tcp-call timeout jitter multipart-sdp nat-binding-expired media-blocked media-port-unreachable fragmented-invite fragmented-invite-callee fragmented-200ok fragmented-200ok-caller ack-missing payload-type-mismatch nat-binding-expired-keepalive tcp-keepalive)
CAPTURE_PREFIX=sip-

NS_A=cs-sip-a NS_R=cs-sip-r NS_B=cs-sip-b
CALLER=10.0.1.10 ROUTER_IN=10.0.1.1 ROUTER_OUT=203.0.113.1 CALLEE=203.0.113.20
MAC_A=02:00:0a:00:01:0a MAC_R0=02:00:0a:00:01:01
MAC_R1=02:00:cb:00:71:01 MAC_B=02:00:cb:00:71:14
SIP_PORT=5060
RTP_PORTS=6000:6999
SIP_USER=alice SIP_PASS=correct-horse
LOSS_PROBABILITY=0.08
JITTER_SEED=1 # pcaps/sipp/jitter-source -seed, for sip-jitter
EPOCH_START=1767225600 # 2026-01-01T00:00:00Z

NAMESPACES=("$NS_A" "$NS_R" "$NS_B")
CAPTURE_NS=$NS_B CAPTURE_DEV=csb0 CAPTURE_FILTER=ip
EXPECT_TSHARK_OPTS=(-o rtp.heuristic_rtp:TRUE)

# shellcheck source=lib.sh
. "$SCRIPT_DIR/lib.sh"
init_work_dir callscope-sip-captures

topology_up() {
	namespaces_create net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	veth_pair "$NS_A" csa0 "$MAC_A" "$NS_R" csr0 "$MAC_R0"
	veth_pair "$NS_R" csr1 "$MAC_R1" "$NS_B" csb0 "$MAC_B"

	ip -n "$NS_A" addr add "$CALLER/24" dev csa0
	ip -n "$NS_R" addr add "$ROUTER_IN/24" dev csr0
	ip -n "$NS_R" addr add "$ROUTER_OUT/24" dev csr1
	ip -n "$NS_B" addr add "$CALLEE/24" dev csb0

	ip -n "$NS_A" link set csa0 up
	ip -n "$NS_R" link set csr0 up
	ip -n "$NS_R" link set csr1 up
	ip -n "$NS_B" link set csb0 up

	ip -n "$NS_A" route add default via "$ROUTER_IN"
	ip -n "$NS_B" route add default via "$ROUTER_OUT"
	ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1

	static_neighbours "$NS_A" csa0 "$MAC_R0" "$ROUTER_IN"
	static_neighbours "$NS_R" csr0 "$MAC_A" "$CALLER"
	static_neighbours "$NS_R" csr1 "$MAC_B" "$CALLEE"
	static_neighbours "$NS_B" csb0 "$MAC_R1" "$ROUTER_OUT"

	# What a phone does: signalling CS3, audio EF, set by the sender.
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

# Raw G.711 mu-law tones for SIPp's rtp_stream (it reads raw codec bytes;
# a RIFF header would be skipped, nothing is converted).
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
for name, freq in (("caller.ulaw", 440), ("callee.ulaw", 660)):
    data = bytes(ulaw(int(12000 * math.sin(2 * math.pi * freq * n / rate)))
                 for n in range(rate * seconds))
    with open(f"{sys.argv[1]}/{name}", "wb") as f:
        f.write(data)
EOF
}

# SIPp runs with real-time priority (chrt -f): its RTP thread paces
# packets by the wall clock and, when it is scheduled late, sends a burst
# and then skips ahead (sequence number and timestamp jump, nothing sent
# for the gap). On a busy host that puts sender-side gaps and jitter into
# captures meant to be clean; media_check catches what still gets
# through and the capture is retried.
#
# Common SIPp options: one call, no keyboard, no default behaviours (an
# aborted call must not grow a BYE nobody asked for), errors logged.
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

# run_caller NAME LIMIT SCENARIO [sipp options...] — the caller runs in
# the foreground; its exit status is ignored (failing is what several
# scenarios are about).
run_caller() {
	local name=$1 limit=$2 scenario=$3
	shift 3
	(cd "$WORK" && timeout "$limit" ip netns exec "$NS_A" chrt -f 20 sipp -sf "$SCENARIOS/$scenario" \
		-i "$CALLER" -mi "$CALLER" -s bob $(sipp_common) "$@" "$CALLEE:$SIP_PORT") \
		>"$WORK/$name-caller.log" 2>&1 || true
}

# A normal call, the callee streaming back. $1: capture name, rest: extra
# options for both SIPp instances (e.g. -t t1).
normal_call() {
	local name=$1
	shift
	start_callee "$name" uas-call.xml "$@"
	start_capture "$name"
	run_caller "$name" 20 uac-call.xml "$@"
	finish_capture "$name"
}

capture_call_ok() {
	normal_call call-ok
	expect call-ok 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
	expect call-ok "rtp && ip.src == $CALLER && ip.dsfield.dscp == 46" 'EF RTP from the caller' 100
	expect call-ok "rtp && ip.src == $CALLEE && ip.dsfield.dscp == 46" 'EF RTP from the callee' 100
	expect_none call-ok 'rtp && ip.dsfield.dscp != 46' 'RTP not marked EF'
	expect_none call-ok 'sip && ip.dsfield.dscp != 24' 'SIP not marked CS3'
}

capture_one_way_audio() {
	start_callee one-way-audio uas-call.xml -set silent_callee true
	start_capture one-way-audio
	run_caller one-way-audio 20 uac-call.xml
	finish_capture one-way-audio
	expect one-way-audio "rtp && ip.src == $CALLER" 'RTP from the caller' 100
	expect_none one-way-audio "udp.srcport == 6000 && ip.src == $CALLEE" 'RTP from the callee'
	expect one-way-audio 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
}

# The router re-marks the caller's audio to DSCP 0 on its way out, the
# way a misconfigured switch or WAN edge does; the callee's audio keeps
# EF. A capture on the callee's side sees EF one way and 0 the other.
capture_dscp_wrong() {
	ip netns exec "$NS_R" iptables -t mangle -A FORWARD -i csr0 -o csr1 -p udp \
		--dport "$RTP_PORTS" -j DSCP --set-dscp 0
	normal_call dscp-wrong
	expect dscp-wrong "rtp && ip.src == $CALLER && ip.dsfield.dscp == 0" 'DSCP 0 RTP from the caller' 100
	expect dscp-wrong "rtp && ip.src == $CALLEE && ip.dsfield.dscp == 46" 'EF RTP from the callee' 100
	expect_none dscp-wrong "rtp && ip.src == $CALLER && ip.dsfield.dscp != 0" 'caller RTP not re-marked'
}

capture_register_ok() {
	start_callee register-ok uas-registrar.xml
	start_capture register-ok
	run_caller register-ok 20 uac-register.xml -au "$SIP_USER" -ap "$SIP_PASS" -auth_uri "$CALLEE"
	finish_capture register-ok
	expect register-ok 'sip.Status-Code == 200 && sip.CSeq.method == "REGISTER"' '200 to REGISTER'
	expect register-ok 'sip.Status-Code == 401' '401 challenge'
}

capture_register_fail() {
	start_callee register-fail uas-registrar.xml
	start_capture register-fail
	run_caller register-fail 20 uac-register.xml -au "$SIP_USER" -ap wrong-password -auth_uri "$CALLEE"
	finish_capture register-fail
	expect register-fail 'sip.Status-Code == 401' '401 answers' 4
	expect_none register-fail 'sip.Status-Code == 200' '200 OK'
}

# The caller sits behind a NAT without a SIP ALG: its Via, Contact and SDP
# carry 10.0.1.10 while its packets reach the callee from 203.0.113.1.
# Since Linux 4.7 conntrack helpers are only attached by an explicit
# "-j CT --helper sip" rule (automatic assignment is gone), and none is
# added here, so nf_nat_sip never rewrites anything even where it is
# built in. The router drops new inbound flows (the inside network is not
# routable from outside), so the callee's audio, sent to the private
# address in the caller's SDP, never arrives; a capture on the callee
# side shows it leaving.
capture_nat_mismatch() {
	ip netns exec "$NS_R" iptables -t nat -A POSTROUTING -s 10.0.1.0/24 -o csr1 -j MASQUERADE
	ip netns exec "$NS_R" iptables -A FORWARD -i csr1 -o csr0 -m conntrack --ctstate NEW -j DROP
	normal_call nat-mismatch
	expect nat-mismatch "sip.Method == \"INVITE\" && ip.src == $ROUTER_OUT && sip.Via contains \"$CALLER\"" 'INVITE from the NAT with a private Via'
	expect nat-mismatch "rtp && ip.src == $ROUTER_OUT" 'RTP from the NAT address' 100
	expect nat-mismatch "rtp && ip.dst == $CALLER" 'RTP sent to the private SDP address' 100
	expect nat-mismatch 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
}

# nat_with_sip_alg NAME — the router NATs the caller to 203.0.113.1 with
# the kernel's SIP ALG (nf_nat_sip) attached to the caller's signalling;
# fails, with a warning, when the kernel has no SIP conntrack helper.
nat_with_sip_alg() {
	if ! ip netns exec "$NS_R" iptables -t raw -A PREROUTING -i csr0 -p udp --dport "$SIP_PORT" \
		-j CT --helper sip 2>/dev/null; then
		echo "WARNING: no SIP conntrack helper in this kernel; sip-$1.pcap not recorded" >&2
		return 1
	fi
	ip netns exec "$NS_R" iptables -t nat -A POSTROUTING -s 10.0.1.0/24 -o csr1 -j MASQUERADE
	ip netns exec "$NS_R" iptables -A FORWARD -i csr1 -o csr0 -m conntrack --ctstate NEW -j DROP
}

# The same NAT with the SIP ALG: it rewrites the Via, Contact, From, SDP
# o= and c= to 203.0.113.1, fixes Content-Length and opens the media
# ports, so the call works both ways. What it leaves behind is the Call-ID
# (...@10.0.1.10), which it does not rewrite.
capture_nat_alg() {
	nat_with_sip_alg nat-alg || return 0
	normal_call nat-alg
	expect nat-alg "sip.Method == \"INVITE\" && ip.src == $ROUTER_OUT && sip.Via contains \"$ROUTER_OUT\"" 'INVITE with a rewritten Via'
	expect nat-alg "rtp && ip.dst == $ROUTER_OUT" 'RTP to the NAT address' 100
}

# The same NAT and ALG, captured on the router itself with `tcpdump -i
# any` (Linux cooked v2 link type): every packet twice, once on each side
# of the ALG, so that its rewrite shows message by message.
capture_nat_alg_both_sides() {
	nat_with_sip_alg nat-alg-both-sides || return 0
	CAPTURE_NS=$NS_R CAPTURE_DEV=any normal_call nat-alg-both-sides
	expect nat-alg-both-sides "sip.Method == \"INVITE\" && ip.src == $CALLER && sip.Via contains \"$CALLER\"" 'INVITE inside the NAT'
	expect nat-alg-both-sides "sip.Method == \"INVITE\" && ip.src == $ROUTER_OUT && sip.Via contains \"$ROUTER_OUT\"" 'INVITE rewritten outside'
}

# sip-dscp-wrong's re-marking behind sip-nat-alg-both-sides' NAT and ALG
# (which keeps the call working both ways), captured on the router with
# -i any: each of the caller's RTP packets shows twice, EF 46 as it
# arrives on csr0 (mangle FORWARD has not run yet) and DSCP 0 as it leaves
# csr1 from the NAT address, so the capture proves where the mark is lost.
capture_dscp_remarked_both_sides() {
	nat_with_sip_alg dscp-remarked-both-sides || return 0
	ip netns exec "$NS_R" iptables -t mangle -A FORWARD -i csr0 -o csr1 -p udp \
		--dport "$RTP_PORTS" -j DSCP --set-dscp 0
	CAPTURE_NS=$NS_R CAPTURE_DEV=any normal_call dscp-remarked-both-sides
	expect dscp-remarked-both-sides "rtp && ip.src == $CALLER && ip.dsfield.dscp == 46" 'EF RTP from the caller inside' 100
	expect dscp-remarked-both-sides "rtp && ip.src == $ROUTER_OUT && ip.dsfield.dscp == 0" 'DSCP 0 RTP from the NAT address' 100
	expect_none dscp-remarked-both-sides "rtp && ip.src == $ROUTER_OUT && ip.dsfield.dscp != 0" 'caller RTP not re-marked outside'
	expect_none dscp-remarked-both-sides "rtp && ip.src == $CALLEE && ip.dsfield.dscp != 46" 'callee RTP not EF'
}

# sip-dscp-wrong's re-marking captured on the router itself with -i any
# (Linux cooked v2), the router forwarding without NAT: each of the
# caller's RTP packets shows twice on the same 5-tuple, EF 46 as it
# arrives on csr0 (packet type "to us", csr0's ifindex; mangle FORWARD
# has not run yet) and DSCP 0 as it leaves csr1 (packet type "outgoing",
# csr1's ifindex). Every SIP packet shows twice too.
capture_dscp_remarked_routed() {
	ip netns exec "$NS_R" iptables -t mangle -A FORWARD -i csr0 -o csr1 -p udp \
		--dport "$RTP_PORTS" -j DSCP --set-dscp 0
	CAPTURE_NS=$NS_R CAPTURE_DEV=any normal_call dscp-remarked-routed
	expect dscp-remarked-routed "rtp && ip.src == $CALLER && sll.pkttype == 0 && ip.dsfield.dscp == 46" 'EF RTP from the caller arriving' 100
	expect dscp-remarked-routed "rtp && ip.src == $CALLER && sll.pkttype == 4 && ip.dsfield.dscp == 0" 'DSCP 0 RTP from the caller leaving' 100
	expect_none dscp-remarked-routed "rtp && ip.src == $CALLER && sll.pkttype == 4 && ip.dsfield.dscp != 0" 'caller RTP not re-marked leaving'
	expect_none dscp-remarked-routed "rtp && ip.src == $CALLEE && ip.dsfield.dscp != 46" 'callee RTP not EF'
}

# The same router captured the same way, re-marking the caller's
# signalling instead of its audio: each of the caller's SIP messages
# shows twice on the same 5-tuple, byte for byte, CS3 24 as it arrives on
# csr0 and DSCP 0 as it leaves csr1; the callee's SIP keeps CS3 and every
# RTP packet EF.
capture_dscp_remarked_routed_sip() {
	ip netns exec "$NS_R" iptables -t mangle -A FORWARD -i csr0 -o csr1 -p udp \
		--dport "$SIP_PORT" -j DSCP --set-dscp 0
	CAPTURE_NS=$NS_R CAPTURE_DEV=any normal_call dscp-remarked-routed-sip
	expect dscp-remarked-routed-sip "sip && ip.src == $CALLER && sll.pkttype == 0 && ip.dsfield.dscp == 24" 'CS3 SIP from the caller arriving' 3
	expect dscp-remarked-routed-sip "sip && ip.src == $CALLER && sll.pkttype == 4 && ip.dsfield.dscp == 0" 'DSCP 0 SIP from the caller leaving' 3
	expect_none dscp-remarked-routed-sip "sip && ip.src == $CALLER && sll.pkttype == 4 && ip.dsfield.dscp != 0" 'caller SIP not re-marked leaving'
	expect_none dscp-remarked-routed-sip "sip && ip.src == $CALLEE && ip.dsfield.dscp != 24" 'callee SIP not CS3'
	expect_none dscp-remarked-routed-sip 'rtp && ip.dsfield.dscp != 46' 'RTP not EF'
}

# Random loss on the caller's audio in the router: a capture on the
# callee's side shows it as sequence gaps.
capture_loss() {
	ip netns exec "$NS_R" iptables -A FORWARD -i csr0 -o csr1 -p udp --dport "$RTP_PORTS" \
		-m statistic --mode random --probability "$LOSS_PROBABILITY" -j DROP
	normal_call loss
	ROUTER_DROPS=$(ip netns exec "$NS_R" iptables -L FORWARD -v -x -n |
		awk '/statistic/ {print $1; exit}')
	LOSSY_SRC=$CALLER:6000
	log "router dropped $ROUTER_DROPS of the caller's RTP packets"
	expect loss "rtp && ip.src == $CALLER" 'RTP from the caller' 100
	local n
	n=$(count_matching loss "rtp && ip.src == $CALLER")
	((n < 150)) || echo "WARNING: sip-loss.pcap: all $n caller RTP packets arrived, no loss" >&2
}

capture_call_failed() {
	start_callee call-failed uas-busy.xml
	start_capture call-failed
	run_caller call-failed 20 uac-call-rejected.xml
	finish_capture call-failed
	expect call-failed 'sip.Status-Code == 486' '486 Busy Here'
	expect call-failed 'sip.Method == "ACK"' 'ACK'
}

capture_tcp_call() {
	normal_call tcp-call -t t1
	expect tcp-call 'tcp && sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200 over TCP'
	expect tcp-call "rtp && ip.src == $CALLEE" 'RTP from the callee' 100
}

# Nobody answers: the callee's host drops SIP. The caller retransmits the
# INVITE with Timer A doubling from T1 = 500 ms (RFC 3261 section
# 17.1.1.2); -max_invite_retrans 6 gives the RFC's 7 sends, the last at
# 31.5 s, and Timer B (64*T1 = 32 s) ends the transaction. SIPp itself
# would wait for one more interval, so it is stopped at 35 s.
capture_timeout() {
	ip netns exec "$NS_B" iptables -A INPUT -p udp --dport "$SIP_PORT" -j DROP
	start_capture timeout
	run_caller timeout 35 uac-call.xml -max_invite_retrans 6
	finish_capture timeout
	expect timeout 'sip.Method == "INVITE"' 'INVITE sends' 7
	expect_none timeout 'sip.Status-Code' 'responses'
}

# callee.ulaw as RTP in a pcap file, for SIPp's play_pcap_audio: PCMU
# (payload type 0), 160 bytes every 20 ms, sequence numbers from 0,
# timestamps from 0, SSRC 0xb0b00001, from and to UDP port 6000 (SIPp
# keeps the RTP header as it is and rewrites only the UDP ports: its -mp
# port as source, the port in the peer's SDP as destination). The
# addresses in the file are not used. The file's clock starts at 20 ms:
# SIPp 3.6.1 sends the first packet at once and paces the rest from 0, so
# a file starting at 0 came out with its first two packets back to back.
make_callee_rtp_pcap() {
	python3 - "$WORK" <<'EOF'
import struct, sys

work = sys.argv[1]
audio = open(f"{work}/callee.ulaw", "rb").read()
out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
for seq in range(len(audio) // 160):
    rtp = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0xB0B00001) + audio[seq * 160:(seq + 1) * 160]
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     bytes([203, 0, 113, 20]), bytes([10, 0, 1, 10])) + udp
    frame = bytes.fromhex("02000a00010a" "0200cb007114" "0800") + ip
    usec = (seq + 1) * 20000
    out.append(struct.pack("<IIII", usec // 1000000, usec % 1000000, len(frame), len(frame)) + frame)
open(f"{work}/callee-rtp.pcap", "wb").write(b"".join(out))
EOF
}

# The caller's INVITE carries its SDP offer as one part of a
# multipart/mixed body (RFC 5621), beside its location as PIDF-LO
# (application/pidf+xml, RFC 6442 location conveyance); the callee answers
# with a plain application/sdp 200. SIPp's rtp_stream would not find the
# caller's media address in a multipart body, so the callee replays its
# audio with play_pcap_audio, which does (uas-call-pcap-audio.xml).
capture_multipart_sdp() {
	make_callee_rtp_pcap
	start_callee multipart-sdp uas-call-pcap-audio.xml
	start_capture multipart-sdp
	run_caller multipart-sdp 20 uac-call-multipart.xml
	finish_capture multipart-sdp
	expect multipart-sdp 'sip.Method == "INVITE" && sip.Content-Type contains "multipart/mixed" && sdp.media.port == 6000' 'multipart INVITE with SDP'
	expect multipart-sdp 'sip.Method == "INVITE" && xml' 'PIDF-LO in the INVITE'
	expect multipart-sdp "rtp && ip.src == $CALLER && ip.dsfield.dscp == 46" 'EF RTP from the caller' 100
	expect multipart-sdp "rtp && ip.src == $CALLEE && ip.dsfield.dscp == 46" 'EF RTP from the callee' 100
	expect multipart-sdp 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
}

# The client behind the NAT registers, is silent for 9 s on the same
# socket, then refreshes (same Call-ID, CSeq + 1). The router forgets an
# idle UDP binding after 5 s (the conntrack timeouts are per network
# namespace) and MASQUERADE --random-fully gives the refresh a new random
# public port, where a NAT that preserves ports would have reused the
# old one and shown nothing. From 6 s the registrar checks the binding
# with an OPTIONS to the old public port, sent three times (what a
# NAT-aware registrar's "qualify" does); the router has no binding for
# it and answers ICMP port unreachable each time. SIPp answers a call's
# messages to where its first one came from, so the refresh (a new
# port) is answered by a second registrar process on the same port,
# started when the first has ended (7.5 s).
capture_nat_binding_expired() {
	ip netns exec "$NS_R" iptables -t nat -A POSTROUTING -s 10.0.1.0/24 -o csr1 -j MASQUERADE --random-fully
	ip netns exec "$NS_R" iptables -A FORWARD -i csr1 -o csr0 -m conntrack --ctstate NEW -j DROP
	# After the rules: the sysctls appear once conntrack is loaded.
	ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=5 \
		net.netfilter.nf_conntrack_udp_timeout_stream=5
	start_callee nat-binding-expired uas-registrar-qualify.xml
	local qualify=${PIDS[-1]} caller
	start_capture nat-binding-expired
	run_caller nat-binding-expired 20 uac-register-refresh.xml &
	caller=$!
	wait "$qualify" || true
	start_callee nat-binding-expired-refresh uas-registrar-refresh.xml
	wait "$caller" || true
	finish_capture nat-binding-expired
	expect nat-binding-expired 'sip.Method == "REGISTER"' 'REGISTERs' 2
	expect nat-binding-expired 'sip.Status-Code == 200 && sip.CSeq.method == "REGISTER"' '200 to REGISTER' 2
	expect nat-binding-expired "icmp.type == 3 && icmp.code == 3 && ip.src == $ROUTER_OUT" 'ICMP port unreachable from the NAT'
	local ports
	ports=$(tshark -n -r "$(capture_file nat-binding-expired)" -Y "sip.Method == \"REGISTER\" && ip.src == $ROUTER_OUT" \
		-T fields -e udp.srcport 2>/dev/null | sort -u | wc -l)
	((ports == 2)) || echo "WARNING: sip-nat-binding-expired.pcap: REGISTERs from $ports public ports, expected 2" >&2
}

# sip-nat-binding-expired's NAT (MASQUERADE --random-fully, UDP conntrack
# timeouts 5 s) and registrar, with a phone that does keep its binding
# open, only not often enough: pcaps/sip-keepalive-phone registers, sends
# a CRLF keep-alive ("\r\n\r\n" over UDP, RFC 5626 section 3.5.1's ping)
# every 6 s from the same socket and refreshes the registration at 19 s
# (the registrar grants 20 s). Each keep-alive comes 6 s after the phone's
# last packet, the NAT has forgotten the binding by then, and it leaves
# from a new random public port; the refresh follows the last keep-alive
# 1 s later, through its binding. The registrar's OPTIONS to the first
# public port (from 6 s) draw ICMP port unreachable, as in
# sip-nat-binding-expired. SIPp cannot send a bare CRLF (a scenario
# message needs a start line), hence the Go phone.
capture_nat_binding_expired_keepalive() {
	ip netns exec "$NS_R" iptables -t nat -A POSTROUTING -s 10.0.1.0/24 -o csr1 -j MASQUERADE --random-fully
	ip netns exec "$NS_R" iptables -A FORWARD -i csr1 -o csr0 -m conntrack --ctstate NEW -j DROP
	ip netns exec "$NS_R" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=5 \
		net.netfilter.nf_conntrack_udp_timeout_stream=5
	(cd "$SCRIPT_DIR/.." && go build -o "$WORK/sip-keepalive-phone" ./pcaps/sip-keepalive-phone)
	start_callee nat-binding-expired-keepalive uas-registrar-qualify.xml
	local qualify=${PIDS[-1]} phone
	start_capture nat-binding-expired-keepalive
	timeout 30 ip netns exec "$NS_A" "$WORK/sip-keepalive-phone" -local "$CALLER:$SIP_PORT" \
		-registrar "$CALLEE:$SIP_PORT" -keepalive 6s -refresh 19s \
		>"$WORK/nat-binding-expired-keepalive-phone.log" 2>&1 &
	phone=$!
	wait "$qualify" || true
	start_callee nat-binding-expired-keepalive-refresh uas-registrar-refresh.xml
	wait "$phone" || true
	finish_capture nat-binding-expired-keepalive
	expect nat-binding-expired-keepalive 'sip.Method == "REGISTER"' 'REGISTERs' 2
	expect nat-binding-expired-keepalive 'sip.Status-Code == 200 && sip.CSeq.method == "REGISTER"' '200 to REGISTER' 2
	expect nat-binding-expired-keepalive "udp.payload == 0d:0a:0d:0a && ip.src == $ROUTER_OUT" 'CRLF keep-alives from the NAT' 3
	expect nat-binding-expired-keepalive "icmp.type == 3 && icmp.code == 3 && ip.src == $ROUTER_OUT" 'ICMP port unreachable from the NAT'
	local ports
	ports=$(tshark -n -r "$(capture_file nat-binding-expired-keepalive)" -Y "udp.dstport == $SIP_PORT && ip.src == $ROUTER_OUT" \
		-T fields -e udp.srcport 2>/dev/null | sort -u | wc -l)
	((ports == 4)) || echo "WARNING: sip-nat-binding-expired-keepalive.pcap: the phone used $ports public ports, expected 4" >&2
}

# A phone keeping its registration's TCP connection open the way RFC 5626
# section 4.4.1 has a client do it: pcaps/sip-keepalive-phone -tcp (SIPp
# cannot send a bare CRLF) connects from an ephemeral port, registers
# (Expires 60) with SIPp as registrar over TCP (uas-registrar-tcp.xml,
# -t t1), writes a double-CRLF ping on its own every 5 s on the same
# connection and refreshes the registration there 21 s after the 200.
# SIPp sends no pong (a single CRLF, RFC 5626 section 5.4): it does not
# implement RFC 5626. No NAT; the router only forwards.
capture_tcp_keepalive() {
	(cd "$SCRIPT_DIR/.." && go build -o "$WORK/sip-keepalive-phone" ./pcaps/sip-keepalive-phone)
	start_callee tcp-keepalive uas-registrar-tcp.xml -t t1
	start_capture tcp-keepalive
	timeout 30 ip netns exec "$NS_A" "$WORK/sip-keepalive-phone" -tcp -local "$CALLER:0" \
		-registrar "$CALLEE:$SIP_PORT" -expires 60 -keepalive 5s -refresh 21s \
		>"$WORK/tcp-keepalive-phone.log" 2>&1 || true
	finish_capture tcp-keepalive
	expect tcp-keepalive 'tcp && sip.Method == "REGISTER"' 'REGISTERs over TCP' 2
	expect tcp-keepalive 'tcp && sip.Status-Code == 200 && sip.CSeq.method == "REGISTER"' '200 to REGISTER over TCP' 2
	expect tcp-keepalive "tcp.payload == 0d:0a:0d:0a && ip.src == $CALLER" 'double-CRLF pings from the phone' 4
	expect_none tcp-keepalive 'tcp.analysis.retransmission || tcp.analysis.lost_segment' 'TCP retransmissions or lost segments'
}

# sip-jitter: the kernel here has no sch_netem ("Specified qdisc kind is
# unknown"), so the delay variation comes from the sender. The caller's
# audio is replayed by SIPp's play_pcap_audio from jitter-source.pcap,
# which pcaps/sipp/jitter-source writes (seeded: the same file every run):
# SIPp sends each packet at the time offset of its capture time, with the
# file's RTP header, so the capture shows a clean sender's sequence
# numbers and timestamps arriving on the timing of a link that stalls for
# 150-350 ms and then delivers back to back. The callee answers as in
# sip-call-ok and streams its tone, steady: only one direction has jitter.
capture_jitter() {
	(cd "$SCRIPT_DIR/.." && go run ./pcaps/sipp/jitter-source -seed "$JITTER_SEED" -o "$WORK/jitter-source.pcap")
	start_callee jitter uas-call.xml
	start_capture jitter
	run_caller jitter 20 uac-jitter.xml
	finish_capture jitter
	expect jitter 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
	expect jitter "rtp && ip.src == $CALLER && ip.dsfield.dscp == 46" 'EF RTP from the caller' 150
	expect jitter "rtp && ip.src == $CALLEE && ip.dsfield.dscp == 46" 'EF RTP from the callee' 150
	expect_none jitter 'icmp' 'ICMP'
}

# A firewall that lets SIP through but not the media ports: the router
# rejects the caller's RTP toward the callee with ICMP communication
# administratively prohibited (type 3 code 13, iptables REJECT
# --reject-with icmp-admin-prohibited), as a firewall with no rule for
# the RTP port range does. The callee never sees the caller's audio, so
# the capture is taken on the caller's interface csa0 (what a capture on
# the caller's phone or SBC shows): its RTP leaving, the router's errors
# coming back, the callee's audio arriving. The router sends the errors
# from its inside address 10.0.1.1, rate-limited as Linux does by default
# (net.ipv4.icmp_ratelimit: a burst, then one a second per destination).
capture_media_blocked() {
	ip netns exec "$NS_R" iptables -A FORWARD -i csr0 -o csr1 -p udp --dport "$RTP_PORTS" \
		-j REJECT --reject-with icmp-admin-prohibited
	CAPTURE_NS=$NS_A CAPTURE_DEV=csa0 normal_call media-blocked
	expect media-blocked 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
	expect media-blocked "rtp && !icmp && ip.src == $CALLER" 'RTP from the caller' 100
	expect media-blocked "rtp && !icmp && ip.src == $CALLEE" 'RTP from the callee' 100
	expect media-blocked "icmp.type == 3 && icmp.code == 13 && ip.src == $ROUTER_IN && udp.dstport == 6000" 'ICMP admin prohibited from the router' 5
	expect_none media-blocked "icmp && !(icmp.type == 3 && icmp.code == 13)" 'other ICMP'
}

# The callee's own firewall rejects its RTP port with iptables' default
# REJECT answer, ICMP port unreachable from 203.0.113.20 (type 3 code 3):
# on the wire exactly what RTP to a port nobody listens on draws, as when
# an SDP announces a port its phone never opened. Captured on the
# callee's interface as usual: the caller's RTP arriving, the callee's
# errors leaving (rate-limited, as sip-media-blocked), the callee's
# audio leaving.
capture_media_port_unreachable() {
	ip netns exec "$NS_B" iptables -A INPUT -p udp --dport "$RTP_PORTS" -j REJECT
	normal_call media-port-unreachable
	expect media-port-unreachable 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
	expect media-port-unreachable "rtp && !icmp && ip.src == $CALLER" 'RTP from the caller' 100
	expect media-port-unreachable "rtp && !icmp && ip.src == $CALLEE" 'RTP from the callee' 100
	expect media-port-unreachable "icmp.type == 3 && icmp.code == 3 && ip.src == $CALLEE && udp.dstport == 6000" 'ICMP port unreachable from the callee' 5
	expect_none media-port-unreachable "icmp && !(icmp.type == 3 && icmp.code == 3)" 'other ICMP'
}

# An INVITE larger than the path MTU over UDP: its SDP lists ICE
# candidates for every interface (uac-call-large-sdp.xml), about 2540
# bytes, which the caller's kernel sends as two IPv4 fragments. The router drops
# every fragment but the first (iptables -f matches non-first fragments),
# as firewalls, NATs and cloud load balancers that do not reassemble do;
# nothing in its namespace loads conntrack, whose defragmentation would
# hide the fragments from that rule. The callee's kernel holds each first
# fragment until its reassembly timer expires, then sends ICMP fragment
# reassembly time exceeded (type 11 code 1) quoting it; the timer
# (net.ipv4.ipfrag_time, per namespace) is lowered from 30 s to 2 s so
# that every send's error comes within the capture. The caller
# retransmits per Timer A until Timer B, as in sip-timeout.
# $1: capture name; CAPTURE_NS/CAPTURE_DEV say where to listen.
fragmented_invite() {
	local name=$1
	ip netns exec "$NS_R" iptables -A FORWARD -f -j DROP
	ip netns exec "$NS_B" sysctl -qw net.ipv4.ipfrag_time=2
	start_callee "$name" uas-call.xml
	start_capture "$name"
	run_caller "$name" 35 uac-call-large-sdp.xml -max_invite_retrans 6
	finish_capture "$name"
	expect "$name" "icmp.type == 11 && icmp.code == 1 && ip.src == $CALLEE" 'ICMP fragment reassembly time exceeded' 7
	expect_none "$name" 'sip.Status-Code' 'responses'
}

# On the caller's interface csa0: both fragments of every send leave,
# the callee's errors come back.
capture_fragmented_invite() {
	CAPTURE_NS=$NS_A CAPTURE_DEV=csa0 fragmented_invite fragmented-invite
	expect fragmented-invite "sip.Method == \"INVITE\" && ip.src == $CALLER" 'INVITE sends (both fragments)' 7
}

# On the callee's interface: first fragments only, and the errors.
capture_fragmented_invite_callee() {
	fragmented_invite fragmented-invite-callee
	expect fragmented-invite-callee "ip.flags.mf == 1 && ip.src == $CALLER" 'first fragments' 7
	expect_none fragmented-invite-callee 'ip.frag_offset > 0' 'later fragments'
}

# The answer is what gets lost: the callee's 200 OK carries an SDP answer
# with every codec it has and ICE candidates for every interface
# (uas-call-large-answer.xml), about 2,600 bytes, which the callee's
# kernel sends as two IPv4 fragments. The caller's INVITE is ordinary
# (uac-call-answer-lost.xml) and gets through, and so do the 100 and the
# 180; the router drops every fragment but the first, as in
# sip-fragmented-invite. The caller's kernel holds the first fragment of
# each 200 until its reassembly timer expires (net.ipv4.ipfrag_time
# lowered to 2 s in the caller's namespace) and then sends ICMP fragment
# reassembly time exceeded quoting it. The caller never gets the 200 and
# so never sends an ACK; the callee repeats the 200 (T1 doubling up to
# T2) and after 64*T1 = 32 s ends the call with a BYE, which the caller
# answers on the 180's early dialog. No media.
# $1: capture name; CAPTURE_NS/CAPTURE_DEV say where to listen.
fragmented_200ok() {
	local name=$1
	ip netns exec "$NS_R" iptables -A FORWARD -f -j DROP
	ip netns exec "$NS_A" sysctl -qw net.ipv4.ipfrag_time=2
	start_callee "$name" uas-call-large-answer.xml
	start_capture "$name"
	run_caller "$name" 45 uac-call-answer-lost.xml
	finish_capture "$name"
	expect "$name" "icmp.type == 11 && icmp.code == 1 && ip.src == $CALLER" 'ICMP fragment reassembly time exceeded' 10
	expect "$name" "sip.Method == \"BYE\" && !icmp && ip.src == $CALLEE" 'BYE from the callee'
	expect "$name" 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
	expect_none "$name" 'sip.Method == "ACK"' 'ACK'
}

# On the callee's interface: both fragments of every 200 leave, the
# caller's errors come back.
capture_fragmented_200ok() {
	fragmented_200ok fragmented-200ok
	expect fragmented-200ok "sip.Status-Code == 200 && sip.CSeq.method == \"INVITE\" && !icmp && ip.src == $CALLEE" '200 OKs (both fragments)' 10
}

# On the caller's interface csa0: the first fragment of each 200 only,
# so no 200 can be reassembled; the caller's errors leave.
capture_fragmented_200ok_caller() {
	CAPTURE_NS=$NS_A CAPTURE_DEV=csa0 fragmented_200ok fragmented-200ok-caller
	expect fragmented-200ok-caller "ip.flags.mf == 1 && ip.src == $CALLEE" 'first fragments' 10
	expect_none fragmented-200ok-caller 'ip.frag_offset > 0' 'later fragments'
	expect_none fragmented-200ok-caller 'sip.Status-Code == 200 && sip.CSeq.method == "INVITE" && !icmp' '200 OK to the INVITE'
}

# "Calls drop after 32 seconds". The callee sits behind the NAT this time
# (roles swapped: SIPp's callee runs in cs-sip-a at 10.0.1.10, the caller
# in cs-sip-b at 203.0.113.20), reached through a port forward of UDP 5060
# on 203.0.113.1, with no SIP ALG. Its 200 OK carries its inside address
# in the Contact (and SDP). The caller sends its ACK to that Contact, as
# RFC 3261 section 12.1.2 has it (uac-call-ack-to-contact.xml, with
# SIPp's setdest), and the router drops it: 10.0.1.0/24 is not reachable
# from outside. The callee retransmits the 200 (T1 doubling up to T2 =
# 4 s), the caller answers each copy with the same ACK to the same place,
# and when SIPp gives up retransmitting, 64*T1 = 32 s after the first 200,
# the callee ends the call with a BYE (RFC 3261 section 13.3.1.4), which
# reaches the caller through the NAT. No media. Captured on csb0 as
# usual, the caller's interface here: every ACK shows leaving for
# 10.0.1.10.
capture_ack_missing() {
	local inside=$CALLER public=$ROUTER_OUT caller=$CALLEE
	ip netns exec "$NS_R" iptables -t nat -A PREROUTING -i csr1 -p udp -d "$public" --dport "$SIP_PORT" \
		-j DNAT --to-destination "$inside:$SIP_PORT"
	ip netns exec "$NS_R" iptables -t nat -A POSTROUTING -s 10.0.1.0/24 -o csr1 -j MASQUERADE
	ip netns exec "$NS_R" iptables -A FORWARD -i csr1 -o csr0 -m conntrack --ctstate DNAT -j ACCEPT
	ip netns exec "$NS_R" iptables -A FORWARD -i csr1 -o csr0 -m conntrack --ctstate NEW -j DROP
	(cd "$WORK" && exec ip netns exec "$NS_A" chrt -f 20 sipp -sf "$SCENARIOS/uas-call-ack-timeout.xml" \
		-i "$inside" -mi "$inside" $(sipp_common)) \
		>"$WORK/ack-missing-callee.log" 2>&1 &
	PIDS+=($!)
	wait_listen "$NS_A" u "$inside:$SIP_PORT"
	start_capture ack-missing
	(cd "$WORK" && timeout 45 ip netns exec "$NS_B" chrt -f 20 sipp -sf "$SCENARIOS/uac-call-ack-to-contact.xml" \
		-i "$caller" -mi "$caller" -s bob $(sipp_common) -set peer_ip "$public" "$public:$SIP_PORT") \
		>"$WORK/ack-missing-caller.log" 2>&1 || true
	finish_capture ack-missing
	expect ack-missing "sip.Status-Code == 200 && sip.CSeq.method == \"INVITE\" && ip.src == $public" '200 OKs to the INVITE' 8
	expect ack-missing "sip.Method == \"ACK\" && ip.dst == $inside" 'ACKs sent to the inside Contact' 8
	expect_none ack-missing "sip.Method == \"ACK\" && ip.dst == $public" 'ACKs to the public address'
	expect ack-missing "sip.Method == \"BYE\" && ip.src == $public" 'BYE from the callee'
	expect ack-missing 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
}

# A payload type the receiver did not agree to: the caller offers PCMU,
# comfort noise (13) and telephone-event as 96, and the callee answers
# telephone-event as 101, which RFC 3264 section 6.1 allows: each side
# must then send with the other's numbers. Both sides replay their audio
# with play_pcap_audio from the files pcaps/sipp/dtmf-source writes
# (uac-call-dtmf.xml, uas-call-dtmf.xml). The callee's comfort noise
# packet, the pause after it and its digit 5 as 96 (the offer's number)
# are right; the caller's digits 1 and 2 go out as 96 as well, its own
# offer's number, where the answer asked for 101: a receiver that follows
# its SDP drops them, and the digits are lost.
capture_payload_type_mismatch() {
	local side
	for side in caller callee; do
		(cd "$SCRIPT_DIR/.." && go run ./pcaps/sipp/dtmf-source -side "$side" -o "$WORK/$side-dtmf.pcap")
	done
	start_callee payload-type-mismatch uas-call-dtmf.xml
	start_capture payload-type-mismatch
	run_caller payload-type-mismatch 20 uac-call-dtmf.xml
	finish_capture payload-type-mismatch
	expect payload-type-mismatch 'sip.Status-Code == 200 && sip.CSeq.method == "BYE"' 'BYE answered 200'
	expect payload-type-mismatch "rtp && ip.src == $CALLER && rtp.p_type == 96" 'telephone-events from the caller as 96' 22
	expect payload-type-mismatch "rtp && ip.src == $CALLEE && rtp.p_type == 96" 'telephone-events from the callee as 96' 11
	expect payload-type-mismatch "rtp && ip.src == $CALLEE && rtp.p_type == 13" 'comfort noise from the callee'
	expect_none payload-type-mismatch 'rtp && ip.dsfield.dscp != 46' 'RTP not marked EF'
}

# rtp_streams FILE — tshark's rtp,streams rows as "src dst ssrc packets
# lost max_delta_ms mean_jitter_ms max_jitter_ms".
rtp_streams() {
	tshark -q -n -o rtp.heuristic_rtp:TRUE -r "$1" -z rtp,streams 2>/dev/null |
		awk '$7 ~ /^0x[0-9A-Fa-f]+$/ { print $3 ":" $4, $5 ":" $6, $7, $9, $10, $14, $16, $17 }'
}

# jitter_check NAME — the capture carries what jitter-source.pcap holds
# and nothing else went wrong: both streams complete (150 packets, none
# lost), the callee's steady (no gap above 40 ms), the caller's with the
# source file's jitter (tshark's mean and max within 2 ms of the file's
# own: SIPp kept its timing). Otherwise the capture is retried.
jitter_check() {
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
	local files=("$WORK/jitter-source.pcap" "$(capture_file jitter)") file src dst rest
	echo "# file src dst ssrc packets lost max_delta_ms mean_jitter_ms max_jitter_ms final_jitter_ms"
	(cd "$SCRIPT_DIR/.." && go run ./pcaps/sipp/jitter-source -seed "$JITTER_SEED" -o "$WORK/jitter-source.pcap")
	for file in "${files[@]}"; do
		[[ -f $file ]] || continue
		rtp_streams "$file" | while read -r src dst rest; do
			echo "${file##*/} $src $dst $rest $(final_jitter "$file" "$src" "$dst")"
		done
	done
}

# dtmf_check NAME — both replayed streams of sip-payload-type-mismatch
# arrived whole and on time: as many packets as their source files, none
# lost, and no gap more than 20 ms beyond the file's own largest.
# (rtp_streams reads one word of payload names; these streams have
# several: "g711U, CN, telephone-event".) Otherwise the capture is
# retried.
dtmf_check() {
	local name=$1 file
	for file in "$WORK/caller-dtmf.pcap" "$WORK/callee-dtmf.pcap" "$(capture_file "$name")"; do
		echo "--${file##*/}"
		tshark -q -n -o rtp.heuristic_rtp:TRUE -r "$file" -z rtp,streams 2>/dev/null
	done | python3 -c '
import re, sys
row = re.compile(r"\s(0x[0-9A-Fa-f]{8})\s.*?\s(\d+)\s+(-?\d+) \(\S+%\)\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s")
files, source, bad, seen = [], {}, 0, 0
for line in sys.stdin:
    if line.startswith("--"):
        files.append(line[2:].strip())
        continue
    m = row.search(line)
    if not m:
        continue
    ssrc, pkts, lost, max_delta = int(m[1], 16), int(m[2]), int(m[3]), float(m[4])
    if files[-1].endswith("-dtmf.pcap"):
        source[ssrc] = (pkts, max_delta)
        continue
    seen += 1
    want = source.get(ssrc)
    if want is None:
        print(f"SSRC {ssrc:#010x} is in no source file", file=sys.stderr)
        bad = 1
    elif pkts != want[0] or lost or max_delta > want[1] + 20:
        print(f"SSRC {ssrc:#010x}: {pkts} packets, {lost} lost, max delta {max_delta} ms; the file has {want[0]}, {want[1]} ms", file=sys.stderr)
        bad = 1
if len(source) != 2 or seen != 2:
    print(f"{len(source)} source streams and {seen} captured, want 2 and 2", file=sys.stderr)
    bad = 1
sys.exit(bad)
'
}

# media_check NAME — RTP in the capture is as clean as the scenario
# means it to be: no sequence gaps (tshark's "lost") and no packet more
# than 40 ms after the previous one (20 ms pacing), except on the stream
# LOSSY_SRC, whose loss must equal what the router's DROP rule counted
# (ROUTER_DROPS): more would be the sender skipping, less a drop at the
# very start or end, which no receiver can see. The random drop count
# must also land in 9-15 of 150 (6-10 %, clearly above the default
# profile's 5 % error threshold); otherwise the capture is retried.
LOSSY_SRC= ROUTER_DROPS=
media_check() {
	local name=$1
	if [[ $name == jitter ]]; then
		jitter_check "$name"
		return
	fi
	if [[ $name == payload-type-mismatch ]]; then
		dtmf_check "$name"
		return
	fi
	if [[ $name == dscp-remarked-routed || $name == dscp-remarked-routed-sip ]]; then
		# Every forwarded packet twice on one 5-tuple, which rtp,streams
		# counts as one stream with negative loss: check the copies
		# arriving (packet type 0) and leaving (4) apart.
		local type bad=0
		for type in 0 4; do
			tshark -n -r "$OUT_DIR/sip-$name.pcap" -Y "sll.pkttype == $type" -w "$WORK/$name-$type.pcap" 2>/dev/null
			MEDIA_FILE=$WORK/$name-$type.pcap media_check "$name-$type" || bad=1
		done
		return $bad
	fi
	tshark -q -n -o rtp.heuristic_rtp:TRUE -r "${MEDIA_FILE:-$OUT_DIR/sip-$name.pcap}" -z rtp,streams 2>/dev/null |
		LOSSY_SRC=$LOSSY_SRC ROUTER_DROPS=$ROUTER_DROPS python3 -c '
import os, re, sys
lossy, drops = os.environ["LOSSY_SRC"], os.environ["ROUTER_DROPS"]
bad = 0
for line in sys.stdin:
    f = line.split()
    if len(f) < 17 or not re.match(r"^0x[0-9A-Fa-f]+$", f[6]):
        continue
    src, lost, max_delta = f"{f[2]}:{f[3]}", int(f[9]), float(f[13])
    if src == lossy:
        if not 9 <= int(drops or 0) <= 15:
            print(f"{src}: the router dropped {drops} packets, want 9-15 (6-10 %)", file=sys.stderr)
            bad = 1
        elif lost != int(drops):
            print(f"{src}: {lost} lost but the router dropped {drops}", file=sys.stderr)
            bad = 1
        continue
    if lost or max_delta > 40:
        print(f"{src}: {lost} lost, max delta {max_delta} ms", file=sys.stderr)
        bad = 1
sys.exit(bad)
'
}

# summarize FILE — tshark's view of a capture as one JSON object: frames;
# SIP requests by method and responses by status (every message of a TCP
# segment counted, none quoted in ICMP), retransmissions as tshark flags
# them; RTP packets and streams with tshark's RTP heuristic on, and
# without it (then tshark only finds RTP at SDP-announced ports); per
# stream: packets, tshark's lost count and the DSCP histogram.
summarize() {
	local file=$1
	{
		capinfos -T -r -c "$file" | cut -f2
		echo '--sip'
		tshark -n -r "$file" -Y 'sip && !icmp' -T fields -E occurrence=a -E aggregator=, \
			-e sip.Method -e sip.Status-Code -e sip.resend -e sip.Call-ID -e sip.CSeq -e sll.pkttype -e sll.ifindex 2>/dev/null
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
methods, statuses, resent, seen_at = {}, {}, 0, {}
streams, noheur = {}, 0
for line in sys.stdin.read().splitlines():
    if line.startswith("--"):
        section = line[2:]
        continue
    if section is None:
        frames = int(line)
    elif section == "sip":
        cols = (line.split("\t") + [""] * 7)[:7]
        for m in filter(None, cols[0].split(",")):
            methods[m] = methods.get(m, 0) + 1
        for s in filter(None, cols[1].split(",")):
            statuses[s] = statuses.get(s, 0) + 1
        # A capture on a router (tcpdump -i any, Linux cooked headers)
        # holds each message it forwards twice, arriving and leaving;
        # tshark flags the second as resent, but a retransmission is the
        # message again at the same point (packet type 4 leaving, 0-3
        # arriving, and the interface).
        msg = (cols[0], cols[1], cols[3], cols[4])
        point = (cols[5] == "4", cols[6]) if cols[5] else None
        points = seen_at.setdefault(msg, set())
        copy = point is not None and point not in points and points - {point}
        points.add(point)
        if ("1" in cols[2].split(",") or "True" in cols[2].split(",")) and not copy:
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
            lost = re.search(r"\s(-?\d+) \(-?[\d.]+%\)", line)  # after a payload list of any length
            if key in streams and lost:
                streams[key]["lost"] = int(lost[1])
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
			LOSSY_SRC= ROUTER_DROPS=
			record_once "$name"
			if media_check "$name"; then
				break
			fi
			echo "WARNING: sip-$name.pcap: media not clean (host too busy?)" >&2
		done
	done
	keep_logs '*.log'
}

main "$@"
