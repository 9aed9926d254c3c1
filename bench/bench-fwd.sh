#!/usr/bin/env bash
# make bench-fwd: the gateway's CPU cost per forwarded packet in three
# modes, measured in one run on the same traffic:
#   kernel  plain kernel IPv4 forwarding, no NAT
#   nft     nftables SNAT (+ a DNAT map for the phones' ranges) with
#           conntrack: what an admin would set up today
#   nappt   our XDP programs in native mode on veth, phones leased
#
#   [gen] eth0 ---- lan0 [gw] wan0 ---- eth0 [sink]
#                   100.64.0.1   198.18.0.1    198.18.0.2 (XDP drop + count)
#
# Method (see NOTES-netns-bench.md): trafgen runs at full speed pinned to
# CPU 0.  A veth delivers on the sending CPU, so generator, gateway and
# sink all run on CPU 0, and 1e9 / delivered_pps is the cost of the whole
# path per packet.  The floor is the same generator into an XDP drop on
# the gateway's lan0; what a mode costs above the floor is the gateway's
# own work (receive, forward, transmit into the sink).  The sink ends in
# the same XDP drop as the floor, so the sink's stack is not counted.
# The counters are read from CPU 1 so that reading them does not steal
# from the measured CPU.  Modes are interleaved in every round so slow
# drift of the machine hits them alike; the median of the rounds counts.
#
# Traffic: PHONES phones (own IP and MAC) x PORTS source ports each =
# PHONES*PORTS UDP flows, round robin, 60-byte frames with valid
# checksums.  Every flow is inside its phone's leased range, so NAPPT
# translates all of it and conntrack holds PHONES*PORTS entries.
#
# Not a test: never fails on a number; fails if a mode delivers nothing.
# Env: DURATION (whole s measured per mode and round, default 5), WARMUP
# (whole s, default 1), ROUNDS (default 3), PHONES (default 32, max 62), PORTS
# (default 32, max 256).
set -u
BUILD=${1:-build}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
PHONES=${PHONES:-32}
PORTS=${PORTS:-32}
. "$(dirname "$0")/../tests/lib/netns.sh"
need_root

die() {
	echo "bench-fwd: $*" >&2
	exit 1
}

NAPPT_BIN=$(realpath "$BUILD/nappt") || die "no $BUILD/nappt: run make"
PASS_OBJ=$(realpath "$BUILD/bpf/pass.bpf.o") || die "no $BUILD/bpf/pass.bpf.o: run make"
command -v trafgen >/dev/null || die "trafgen missing (netsniff-ng): make deps"
command -v nft >/dev/null || die "nft missing (nftables): make deps"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: the generator path on CPU 0, the counter reads on CPU 1"
for v in DURATION ROUNDS PHONES PORTS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a whole number > 0"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || die "WARMUP must be a whole number of seconds"
# Ports are varied in the low byte of the phone's first slot, phones by
# 1024-port slots 2.. on one public IP (slot 63 is the last one).
[ "$PHONES" -le 62 ] || die "PHONES must be 1..62"
[ "$PORTS" -le 256 ] || die "PORTS must be 1..256"

T=$(mktemp -d /tmp/bench-fwd.XXXXXX)
cleanup() {
	ns_cleanup
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

LAN_MAC=02:00:00:00:01:01
WAN_MAC=02:00:00:00:02:01
SINK_MAC=02:00:00:00:03:01
PUB=203.0.113.1
DST=198.51.100.10
# Phone i: MAC 02:00:00:01:00:<i>, ports (2+i)*1024 ... on $PUB, and so
# (issue 13) the private address derived from them: lan_net 100.64.0.0 +
# public index 1 (203.0.113.1 in 203.0.113.0/28) x 64 slots + slot 2+i,
# 100.64.0.(66+i).  mode_setup holds it to `nappt phone addr`.
phone_ip() { echo "100.64.0.$((1 * 64 + 2 + $1))"; }
phone_mac() { printf '02:00:00:01:00:%02x' "$1"; }
phone_first() { echo $(((2 + $1) * 1024)); }

# --- topology ----------------------------------------------------------------

for n in gen gw sink; do
	ns_add $n >/dev/null || die "cannot create namespace $n"
	# No IPv6 chatter (MLD, RS) on the measured links.
	ip netns exec "$(ns_name $n)" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
done
GEN=$(ns_name gen)
GW=$(ns_name gw)
SINK=$(ns_name sink)
veth gen:eth0 gw:lan0 && veth gw:wan0 sink:eth0 || die "cannot create veths"
ip -n "$GW" link set lan0 address $LAN_MAC
ip -n "$GW" link set wan0 address $WAN_MAC
ip -n "$SINK" link set eth0 address $SINK_MAC

ip -n "$GW" addr add 100.64.0.1/16 dev lan0
ip -n "$GW" addr add 198.18.0.1/24 dev wan0
ip -n "$GW" addr add $PUB/32 dev lo
ip -n "$GW" route add 198.51.100.0/24 via 198.18.0.2
# Resolved next hop: otherwise the XDP path hands packets to the kernel
# for ARP and the kernel path queues them.
ip -n "$GW" neigh add 198.18.0.2 lladdr $SINK_MAC dev wan0 nud permanent
# Forwarding stays on in every mode: bpf_fib_lookup answers FWD_DISABLED
# when the ingress device does not forward.
ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.forwarding=1 \
	net.ipv4.conf.lan0.forwarding=1 net.ipv4.conf.wan0.forwarding=1
ip -n "$SINK" addr add 198.18.0.2/24 dev eth0

# The sink drops in XDP and counts: it is also what makes the veth accept
# frames the gateway redirects into wan0 (XDP must run on the peer).
ip -n "$SINK" link set dev eth0 xdpdrv obj "$PASS_OBJ" program xdp_drop ||
	die "cannot attach the sink's XDP counter"

# --- traffic -----------------------------------------------------------------

# One packet template per source-port offset j; each template walks the
# phones with three runtime counters that step together (MAC byte, IP
# byte, port high byte), so MAC, IP and port always belong to the same
# lease.  trafgen sends the templates round robin: PHONES*PORTS flows.
CFG=$T/flows.cfg
for ((j = 0; j < PORTS; j++)); do
	echo "{ eth(da=$LAN_MAC, sa=$(phone_mac 0), sa[5]=dinc(0, $((PHONES - 1)))),"
	ip0=$(phone_ip 0)
	echo "  ipv4(sa=$ip0, sa[3]=dinc(${ip0##*.}, $((${ip0##*.} + PHONES - 1))), da=$DST, ttl=64),"
	echo "  udp(sp=$(($(phone_first 0) + j)), sp[0]=dinc(8, $((8 + 4 * (PHONES - 1))), 4), dp=5004),"
	echo "  fill(0, 18) }"
done >"$CFG"

# Packets the generator handed to its veth: tx_packets counts what the
# peer took, tx_dropped what the veth refused (peer's ring or backlog
# full), so their sum is what was offered.
sent() {
	taskset -c 1 ip netns exec "$GEN" sh -c \
		'echo $(($(cat /sys/class/net/eth0/statistics/tx_packets) + $(cat /sys/class/net/eth0/statistics/tx_dropped)))'
}
xdp_count() { taskset -c 1 ip netns exec "$1" "$(dirname "$NAPPT_BIN")/nappt-test-pass" count "$2"; }
now_ns() { date +%s%N; }

# measure NS IF LOG: run the generator for WARMUP + DURATION seconds,
# counting delivered packets with the XDP counter on NS/IF.  Sets SENT,
# DELIV and ELAPSED_NS for the DURATION window (the rates; both counters
# read in the same order at both ends so the read skew cancels), and
# RUN_SENT, RUN_DELIV for the whole run once the path has drained (the
# loss, exact: in-flight packets and read skew do not count as loss).
measure() {
	local ns=$1 ifc=$2 log=$3 pid sa da s0 d0 t0 s1 d1 t1 sz dz i
	sa=$(sent) da=$(xdp_count "$ns" "$ifc")
	# -Q: leave IRQ affinities alone.  trafgen also tries to raise the
	# global socket buffer sysctls; inside a namespace those are not
	# writable and it only warns (its -A does not parse in 0.6.8).
	ip netns exec "$GEN" taskset -c 0 timeout -s INT $((WARMUP + DURATION + 20)) \
		trafgen -c "$CFG" -o eth0 -P 1 -Q >"$log" 2>&1 &
	pid=$!
	ns_track $pid
	sleep "$WARMUP"
	s0=$(sent) d0=$(xdp_count "$ns" "$ifc") t0=$(now_ns)
	sleep "$DURATION"
	s1=$(sent) d1=$(xdp_count "$ns" "$ifc") t1=$(now_ns)
	kill -INT $pid 2>/dev/null
	wait $pid 2>/dev/null
	# Drained when the delivered count stops moving (bounded).
	dz=$(xdp_count "$ns" "$ifc")
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sleep 0.1
		[ "$(xdp_count "$ns" "$ifc")" = "$dz" ] && break
		dz=$(xdp_count "$ns" "$ifc")
	done
	sz=$(sent)
	SENT=$((s1 - s0)) DELIV=$((${d1:-0} - ${d0:-0})) ELAPSED_NS=$((t1 - t0))
	RUN_SENT=$((sz - sa)) RUN_DELIV=$((${dz:-0} - ${da:-0}))
	[ "$SENT" -gt 0 ] || die "generator sent nothing (see below)$(echo; tail -5 "$log")"
}

# --- modes -------------------------------------------------------------------

NFT_NAT="table ip bench_nat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname \"wan0\" ip saddr 100.64.0.0/16 snat to $PUB
	}
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		iifname \"wan0\" ip daddr $PUB dnat to udp dport map { $(
	for ((i = 0; i < PHONES; i++)); do
		printf '%s%d-%d : %s' "$([ $i -gt 0 ] && echo ', ')" \
			"$(phone_first $i)" $(($(phone_first $i) + 1023)) "$(phone_ip $i)"
	done
) }
	}
}"
# XDP redirects do not traverse netfilter, so a forward chain that drops
# everything blocks only the kernel path: whatever the sink counts in
# nappt mode went through XDP.  Its counter shows what leaked to the kernel.
NFT_BLOCK='table inet bench_block {
	chain fwd_block {
		type filter hook forward priority filter; policy drop;
		counter
	}
}'

mode_setup() {
	# `nappt detach` (the previous round's) turns forwarding off.
	ip netns exec "$GW" sysctl -qw net.ipv4.conf.lan0.forwarding=1 net.ipv4.conf.wan0.forwarding=1
	case $1 in
	floor)
		ip -n "$GW" link set dev lan0 xdpdrv obj "$PASS_OBJ" program xdp_drop
		;;
	kernel) ;;
	nft)
		echo "$NFT_NAT" | ip netns exec "$GW" nft -f -
		;;
	nappt)
		echo "$NFT_BLOCK" | ip netns exec "$GW" nft -f - || return 1
		# Native mode needs both devices to take redirected frames
		# (the loader checks): a veth only while its peer runs XDP.
		# The generator only sends, so this costs the path nothing.
		ip netns exec "$GEN" "$(dirname "$NAPPT_BIN")/nappt-test-pass" \
			attach eth0 || return 1
		gwx attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/16 \
			--pub-pool 203.0.113.0/28 --mode native >/dev/null || return 1
		for ((i = 0; i < PHONES; i++)); do
			[ "$(gwx phone addr $PUB "$(phone_first $i)-$(($(phone_first $i) + 1023))")" = "$(phone_ip $i)" ] ||
				die "phone $i: nappt derives another address than $(phone_ip $i)"
			gwx phone add "$(phone_ip $i)" "$(phone_mac $i)" $PUB \
				"$(phone_first $i)-$(($(phone_first $i) + 1023))" >/dev/null || return 1
		done
		gwx stats --reset >/dev/null
		;;
	esac
}

# Evidence for the mode, printed after its first round.
mode_report() {
	case $1 in
	nft)
		echo "    conntrack entries: $(ip netns exec "$GW" cat /proc/sys/net/netfilter/nf_conntrack_count)"
		;;
	nappt)
		echo "    kernel path blocked (nft forward policy drop); packets it dropped:" \
			"$(ip netns exec "$GW" nft list chain inet bench_block fwd_block | awk '$1 == "counter" { print $3 }')"
		gwx stats | awk '$2 > 0 { printf "    nappt %s %s\n", $1, $2 }'
		;;
	esac
}

mode_teardown() {
	case $1 in
	floor) ip -n "$GW" link set dev lan0 xdpdrv off ;;
	kernel) ;;
	nft) ip netns exec "$GW" nft delete table ip bench_nat ;;
	nappt)
		gwx detach >/dev/null
		ip netns exec "$GEN" "$(dirname "$NAPPT_BIN")/nappt-test-pass" detach eth0
		ip netns exec "$GW" nft delete table inet bench_block
		;;
	esac
}

bpffs_setup || die "cannot mount bpffs"
# The loader in the gateway namespace, bounded; pins live on $BPFFS,
# which survives between `ip netns exec` calls (see bpffs_setup).
gwx() { ip netns exec "$GW" timeout 30 "$NAPPT_BIN" --pin-dir "$BPFFS/nappt" "$@"; }

MODES="floor kernel nft nappt"
declare -A PATH_NS SENT_PPS DELIV_PPS LOSS
echo "bench-fwd: $(uname -r), $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "bench-fwd: $PHONES phones x $PORTS ports = $((PHONES * PORTS)) UDP flows, 60-byte frames," \
	"trafgen on CPU 0, ${DURATION}s per mode after ${WARMUP}s warm-up, $ROUNDS rounds"
for ((r = 1; r <= ROUNDS; r++)); do
	for m in $MODES; do
		mode_setup $m || die "cannot set up mode $m"
		if [ $m = floor ]; then
			measure "$GW" lan0 "$T/trafgen.$m.$r.log"
		else
			measure "$SINK" eth0 "$T/trafgen.$m.$r.log"
		fi
		[ $r -eq 1 ] && mode_report $m
		mode_teardown $m
		[ "$DELIV" -gt 0 ] || die "mode $m delivered nothing in round $r"
		PATH_NS[$m.$r]=$(awk -v d=$DELIV -v e=$ELAPSED_NS 'BEGIN { printf "%.1f", e / d }')
		SENT_PPS[$m.$r]=$(awk -v s=$SENT -v e=$ELAPSED_NS 'BEGIN { printf "%.0f", s * 1e9 / e }')
		DELIV_PPS[$m.$r]=$(awk -v d=$DELIV -v e=$ELAPSED_NS 'BEGIN { printf "%.0f", d * 1e9 / e }')
		LOSS[$m.$r]=$(awk -v s=$RUN_SENT -v d=$RUN_DELIV 'BEGIN { printf "%.5f", 1 - d / s }')
		printf 'round %d %-6s sent %7d pps  delivered %7d pps  path %7.1f ns/pkt  run: sent %d delivered %d loss %s\n' \
			$r $m "${SENT_PPS[$m.$r]}" "${DELIV_PPS[$m.$r]}" "${PATH_NS[$m.$r]}" $RUN_SENT $RUN_DELIV "${LOSS[$m.$r]}"
	done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); print (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2 }'; }
col() {
	local m=$1 r out=""
	local -n arr=$2
	for ((r = 1; r <= ROUNDS; r++)); do out="$out ${arr[$m.$r]}"; done
	echo "$out" | median
}
# The gateway's own cost: path minus floor of the same round, then median.
declare -A GW_NS
# shellcheck disable=SC2034 # GW_NS is read through the nameref in col()
for m in kernel nft nappt; do
	for ((r = 1; r <= ROUNDS; r++)); do
		GW_NS[$m.$r]=$(awk -v a="${PATH_NS[$m.$r]}" -v b="${PATH_NS[floor.$r]}" 'BEGIN { printf "%.1f", a - b }')
	done
done

echo
echo "median of $ROUNDS rounds; pps over the ${DURATION}s window; loss = 1 - delivered/sent over the whole run,"
echo "as a fraction (0.01 = 1%); gateway ns = path ns - floor ns of the same round"
printf '%-7s %12s %12s %8s %10s %12s\n' mode sent_pps deliv_pps loss path_ns gateway_ns
for m in $MODES; do
	g=-
	[ $m != floor ] && g=$(col $m GW_NS)
	printf '%-7s %12.0f %12.0f %8.5f %10.1f %12s\n' $m "$(col $m SENT_PPS)" "$(col $m DELIV_PPS)" \
		"$(col $m LOSS)" "$(col $m PATH_NS)" "$g"
done
echo "nappt ran with the kernel forwarding path blocked (nft forward chain, policy drop): every packet counted went through XDP."
K=$(col kernel GW_NS) N=$(col nft GW_NS) X=$(col nappt GW_NS)
RATIO=$(awk -v n="$N" -v x="$X" 'BEGIN { if (x > 0) printf "%.2f", n / x; else print "inf" }')
echo "RESULT fwd kernel_ns=$K nft_ns=$N nappt_ns=$X nft_over_nappt=$RATIO nappt_loss=$(col nappt LOSS)"
