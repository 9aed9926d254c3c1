#!/usr/bin/env bash
# Restarts and upgrades that lose nothing (issue 12, invariants 3 and 4).
#
# The whole gateway in namespaces (tests/lib/gateway.sh: native XDP,
# provisioner, phones with real DHCP leases) with a numbered UDP stream
# (tests/tools/nappt-stream, 2,000 pps) from a phone to an echo on the
# internet side and back, through the translation both ways.  Each case
# runs one stream and does its restart in the middle of it:
#
#   kill9     provisioner kill -9 and restart: 0 lost, 0 leases lost,
#             the maps equal the lease store after
#   term      the same with a clean stop (SIGTERM)
#   tftpd     tftpd restarted during a transfer: the phone's retry
#             completes it (the data plane does not care: 0 lost)
#   upgrade   `nappt upgrade` three times: 0 lost
#   reboot    `nappt detach --keep-maps`, attach again with the same
#             settings: 0 leases lost and traffic resumes; packets sent
#             in the detached gap are lost by design and only reported
#
# Each case prints its gaps (packets and ms, per direction) on a GAP line.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"' EXIT
bpffs_setup
. "$SRC/tests/lib/gateway.sh"
gateway_up || {
	echo "setup failed"
	echo "0 passed, 1 failed"
	exit 1
}
PPS=${STREAM_PPS:-2000}
ECHO=198.51.100.7:4000
ATTACH="attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/16 --pub-pool 203.0.113.0/28"

# What the lease store holds, as `nappt phone list` prints it:
# "PRIV MAC PUB FIRST-LAST", sorted.  The store keeps addresses as the
# integer of their network-order bytes read on this (little-endian) host.
store_rows() {
	sqlite3 -separator ' ' "$T/leases.db" \
		'select priv_ip, lower(hex(mac)), pub_ip, port_first, port_last from leases' |
		awk 'function ip(n) { return sprintf("%d.%d.%d.%d", n % 256, int(n / 256) % 256, int(n / 65536) % 256, int(n / 16777216) % 256) }
		{ m = $2; printf "%s %s:%s:%s:%s:%s:%s %s %s-%s\n", ip($1),
		  substr(m, 1, 2), substr(m, 3, 2), substr(m, 5, 2), substr(m, 7, 2), substr(m, 9, 2), substr(m, 11, 2),
		  ip($3), $4, $5 }' | sort
}
map_rows() {
	nsx gw $N phone list | awk '$1 ~ /^[0-9]+\./ { print $1, $2, $3, $4 }' | sort
}
# Invariant 3 and the reconciliation: every lease of the store is in the
# maps exactly, and nothing else is.
maps_equal_store() {
	store_rows >"$T/store.rows"
	map_rows >"$T/map.rows"
	echo "store: $(wc -l <"$T/store.rows") lease(s), maps: $(wc -l <"$T/map.rows")"
	diff "$T/store.rows" "$T/map.rows" && [ -s "$T/store.rows" ]
}

start_echo() {
	ip netns exec "$INET" "$BUILD/nappt-stream" echo --listen $ECHO --idle 600 >"$T/echo.log" 2>&1 &
	ECHO_PID=$!
	ns_track $ECHO_PID
	# Bound before the first stream: a datagram before that is lost.
	for _ in $(seq 100); do
		grep -q "echo listening" "$T/echo.log" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# stream NAME SECONDS: a stream from phone pa in the background (STREAM
# holds its pid); its result lands in $T/NAME.stream.
stream() {
	ip netns exec "$(ns_name pa)" "$BUILD/nappt-stream" send --to $ECHO \
		--bind "$PA_IP:$PA_PORT" --pps "$PPS" --duration "$2" --drain 800 \
		>"$T/$1.stream" 2>&1 &
	STREAM=$!
	ns_track $STREAM
	# The stream is running before the case does anything.
	sleep 1
}
# stream_end NAME: wait for it; print it and the GAP line.
stream_end() {
	wait "$STREAM"
	local rc=$? line
	cat "$T/$1.stream"
	line=$(grep '^STREAM ' "$T/$1.stream") || return 1
	echo "GAP $1 $(sed 's/^STREAM //' <<<"$line")" >>"$T/gaps"
	return $rc
}
field() { sed -n "s/.* $2=\([-0-9.]*\).*/\1/p" "$T/$1.stream"; }
no_loss() {
	[ "$(field "$1" up_lost)" = 0 ] && [ "$(field "$1" down_lost)" = 0 ]
}

check "provisioner starts" start_prov
t_leases() {
	dhcp pa cisco -V "" -x "0x3c:$CISCO_HEX" &&
		dhcp pb polycom -V "Polycom-SoundPointIP-SPIP_550" &&
		dhcp pe yealink -V "yealink SIP-T46G" || return 1
	PA_IP=$(sed -n 's/^ip=//p' "$T/cisco.env")
	map_rows
	PA_PORT=$(awk -v ip="$PA_IP" '$1 == ip { split($4, r, "-"); print r[1] + 100 }' "$T/map.rows" 2>/dev/null)
	maps_equal_store && [ "$(wc -l <"$T/store.rows")" = 3 ]
}
check "three phones hold leases, the maps equal the store" t_leases
PA_IP=$(sed -n 's/^ip=//p' "$T/cisco.env" 2>/dev/null)
PA_PORT=$(awk -v ip="$PA_IP" '$1 == ip { split($4, r, "-"); print r[1] + 100 }' "$T/map.rows" 2>/dev/null)
check "the echo on the internet side listens" start_echo

t_baseline() {
	stream baseline 2 && stream_end baseline && no_loss baseline
}
check "baseline: the stream passes both ways without loss" t_baseline

t_kill9() {
	store_rows >"$T/before.rows"
	stream kill9 3
	kill -9 $PROV
	wait $PROV 2>/dev/null
	: >"$T/prov.log"
	start_prov || return 1
	stream_end kill9 || return 1
	grep "maps reconciled" "$T/prov.log"
	maps_equal_store && diff "$T/before.rows" "$T/store.rows" &&
		grep -q "maps reconciled: 3 kept, 0 added, 0 updated, 0 removed" "$T/prov.log" &&
		no_loss kill9 || return 1
	# The restarted server knows the phones: a renewal gets the same
	# address and range back.
	dhcp pb polycom2 -V "Polycom-SoundPointIP-SPIP_550" &&
		[ "$(sed -n 's/^ip=//p' "$T/polycom2.env")" = "$(sed -n 's/^ip=//p' "$T/polycom.env")" ] &&
		maps_equal_store && diff "$T/before.rows" "$T/store.rows"
}
check "provisioner kill -9 and restart: 0 lost, 0 leases lost, maps equal the store" t_kill9

t_term() {
	store_rows >"$T/before.rows"
	stream term 3
	kill -TERM $PROV
	wait $PROV 2>/dev/null
	: >"$T/prov.log"
	start_prov || return 1
	stream_end term || return 1
	maps_equal_store && diff "$T/before.rows" "$T/store.rows" &&
		grep -q "maps reconciled: 3 kept, 0 added, 0 updated, 0 removed" "$T/prov.log" &&
		no_loss term
}
check "provisioner SIGTERM and restart: 0 lost, 0 leases lost, maps equal the store" t_term

# A phone fetching its image when tftpd restarts: the transfer in flight
# dies with the server (its state is gone, the new one does not know the
# client's port), and the phone asks again, which completes.
start_tftpd() {
	ip netns exec "$GW" "$BUILD/nappt-tftpd" -l 100.64.0.1:69 -t 200 -R 5 \
		"$T/root" 2>>"$T/tftpd.log" &
	TFTPD=$!
	ns_track $TFTPD
	sleep 0.3
}
t_tftpd() {
	local try ok=0 first
	mkdir -p "$T/root"
	head -c $((16 * 1024 * 1024)) /dev/urandom >"$T/root/image.bin"
	start_tftpd
	stream tftpd 4
	# The phone's first attempt; the restart lands in it.
	ip netns exec "$(ns_name pa)" timeout 6 tftp 100.64.0.1 -m binary \
		-c get image.bin "$T/got.0" >"$T/tftp.0" 2>&1 &
	local cli=$!
	sleep 0.5
	first=$(stat -c %s "$T/got.0" 2>/dev/null || echo 0)
	kill -TERM $TFTPD
	wait $TFTPD 2>/dev/null
	start_tftpd
	wait $cli
	echo "first attempt: $(cat "$T/tftp.0") ($first bytes when tftpd stopped, $(stat -c %s "$T/got.0" 2>/dev/null || echo 0) in the end)"
	# The phone retries (a few times, as phones do) until it has it.
	for try in 1 2 3; do
		cmp -s "$T/got.0" "$T/root/image.bin" && { ok=1; break; }
		ip netns exec "$(ns_name pa)" timeout 30 tftp 100.64.0.1 -m binary \
			-c get image.bin "$T/got.0" >"$T/tftp.$try" 2>&1
		echo "retry $try: $(cat "$T/tftp.$try")"
	done
	stream_end tftpd || return 1
	# The restart really hit a transfer in flight.
	[ "$first" -gt 0 ] && [ "$first" -lt $((16 * 1024 * 1024)) ] &&
		[ "$ok" = 1 ] && no_loss tftpd
}
check "tftpd restart during a transfer: the retry completes it, 0 lost" t_tftpd

t_upgrade() {
	local i
	stream upgrade 3
	for i in 1 2 3; do
		nsx gw $N upgrade || return 1
		sleep 0.2
	done
	stream_end upgrade && no_loss upgrade
}
check "nappt upgrade x3 under the stream: 0 lost" t_upgrade

t_reboot() {
	store_rows >"$T/before.rows"
	local t0 t1 t2
	# Long enough to span the attach (program load and verification)
	# on a loaded machine, so traffic is seen resuming in it.
	stream reboot 8
	t0=$(date +%s%N)
	nsx gw $N detach --keep-maps || return 1
	t1=$(date +%s%N)
	sleep 0.3
	nsx gw $N $ATTACH || return 1
	t2=$(date +%s%N)
	echo "detach took $(((t1 - t0) / 1000000)) ms, attach $(((t2 - t1) / 1000000 - 300)) ms; detached for $(((t2 - t0) / 1000000)) ms"
	echo "DETACHED reboot $(((t2 - t0) / 1000000))" >>"$T/gaps"
	stream_end reboot
	maps_equal_store && diff "$T/before.rows" "$T/store.rows" || return 1
	# Traffic resumes: a new stream after the cycle loses nothing.
	stream reboot-after 1 && stream_end reboot-after && no_loss reboot-after
}
check "detach --keep-maps and attach again: 0 leases lost, traffic resumes" t_reboot

echo
echo "gaps per case (packets lost and the longest silence, each direction; $PPS pps):"
awk '$1 == "DETACHED" { printf "  %-12s data plane detached for %s ms (detach, 300 ms, attach)\n", $2, $3; next }
	{ printf "  %-12s", $2; for (i = 3; i <= NF; i++) if ($i ~ /^(up|down)_(lost|rx|gap_pkts|gap_ms)=/) printf " %s", $i; printf "\n" }' "$T/gaps" 2>/dev/null
check_summary
