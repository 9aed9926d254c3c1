#!/usr/bin/env bash
# Failover of gateway A to standby B (issue 14), in namespaces (see
# lib.sh): phones lease through A, each streams numbered UDP at
# FO_PPS (>= 1,000) per second to the internet host and back; A dies
# (links down, every process killed, programs detached); keepalived
# (VRRPv3) moves the LAN gateway address and the public addresses to B,
# whose notify script starts its provisioner, which loads A's leases
# from the shared store into B's maps.  Checked: the gap, every phone's
# private address, public address and port kept, renewals answered by B
# (the server identifier is the address that moved), the attribution
# history without a hole.
#
#   tests/failover/test-failover.sh BUILD [--bench]
#
# --bench ends with "RESULT failover phones= gap_ms= lost_packets=
# phones_kept=" (bench/bench-failover.sh).  FO_GAP_MAX_MS (default 3000
# under test, generous for a loaded machine; the goal is < 1,000) bounds
# the gap the test accepts.
set -u
BUILD=$(realpath "${1:?usage: $0 BUILD [--bench]}")
BENCH=${2:-}
SRC=$(realpath "$(dirname "$0")/../..")
# shellcheck source=../lib/netns.sh
. "$SRC/tests/lib/netns.sh"
# shellcheck source=../lib/pg.sh
. "$SRC/tests/lib/pg.sh"
# shellcheck source=lib.sh
. "$SRC/tests/failover/lib.sh"
need_root

FO_PPS=${FO_PPS:-1000}
FO_SECONDS=${FO_SECONDS:-8}
FO_KILL_AT=${FO_KILL_AT:-3}
FO_GAP_MAX_MS=${FO_GAP_MAX_MS:-3000}

T=$(mktemp -d /run/nappt-fo.XXXXXX)
trap fo_cleanup EXIT
bpffs_setup || exit 1
mkdir -p "$BPFFS/ga" "$BPFFS/gb"
pg_start || { echo "PostgreSQL did not start"; echo "0 passed, 1 failed"; exit 1; }

fail_setup() {
	echo "FAIL - set-up: $*"
	for f in "$T"/g?/keepalived.log "$T"/g?/prov.log "$T"/g?/notify.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }
	done
	echo "0 passed, 1 failed"
	exit 1
}

fo_up || fail_setup "topology"
fo_keepalived ga
sleep 0.5
fo_keepalived gb
fo_wait_vip ga 10 || fail_setup "A never became MASTER"
fo_wait_serving ga || fail_setup "A's provisioner does not serve"

# The RENEWING unicasts go to the server identifier; the data plane
# hands the kernel only what is addressed to its LAN gateway address
# (lan_gw), and treats the rest from a leased phone as traffic to
# translate (port 68 is outside every range: dropped).  A provisioner
# whose server identifier is not the data plane's lan_gw would serve
# DISCOVERs and never see a renewal, so it must refuse to start.
t_refuses_other_lan_gw() {
	local rc
	nsx gb "$BUILD/nappt" --pin-dir "$BPFFS/gb" pool set --lan-gw 192.0.2.3 || return 1
	ip netns exec "$GB" timeout 5 "$BUILD/nappt-provisioner" -c "$T/gb/prov.conf" \
		--templates "$SRC/provisioner/templates" >"$T/gb/refuse.log" 2>&1
	rc=$?
	nsx gb "$BUILD/nappt" --pin-dir "$BPFFS/gb" pool set --lan-gw 100.64.0.1 || return 1
	cat "$T/gb/refuse.log"
	[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'server_id' "$T/gb/refuse.log"
}
check "a provisioner whose server identifier is not the data plane's LAN gateway address refuses to start" t_refuses_other_lan_gw

# The bulk leases first: they take the lower private addresses, so the
# streaming phones' leases are the last ones B's takeover maps (the
# provisioner reconciles in address order) and the gap measured is the
# worst phone's.
fo_bulk "$FO_BULK" || fail_setup "bulk leases through A"
fo_phones_dhcp || fail_setup "phones' DHCP through A"

declare -A PRIV PUB FIRST LAST SPORT
for i in $(seq "$FO_PHONES"); do
	read -r PRIV[$i] PUB[$i] FIRST[$i] LAST[$i] <<<"$(fo_phone_map ga "$i")"
	[ -n "${LAST[$i]:-}" ] || fail_setup "phone $i has no mapping on A"
	# Not the range's first port: that is the phone's SIP port.
	SPORT[$i]=$((FIRST[$i] + 100))
done
T_LEASED=$(date +%s)
fo_hexmac() { fo_mac "$1" | tr -d ':'; }
# The database before: who owns part 0 (A's), and each lease's end.
PART0_BEFORE=$(pg_sql "SELECT owner || ' ' || epoch FROM nappt_parts WHERE part = 0")
declare -A EXP0
for i in $(seq "$FO_PHONES"); do
	EXP0[$i]=$(pg_sql "SELECT expires FROM nappt_leases WHERE mac = decode('$(fo_hexmac "$i")', 'hex')")
done

ip netns exec "$INET" "$BUILD/nappt-stream" echo --listen 0.0.0.0:$FO_PORT \
	--idle 120 >"$T/echo.out" 2>&1 &
ns_track $!
# B's neighbour entry for the next hop, as a standby in service has it.
ip netns exec "$GB" ping -c 1 -W 1 198.18.0.254 >/dev/null 2>&1
sleep 0.3

SENDERS=()
for i in $(seq "$FO_PHONES"); do
	ip netns exec "$(ns_name "p$i")" "$BUILD/nappt-stream" send \
		--to 198.51.100.7:$FO_PORT --bind "0.0.0.0:${SPORT[$i]}" \
		--id "$i" --pps "$FO_PPS" --duration "$FO_SECONDS" --drain 1000 \
		>"$T/s$i.out" 2>&1 &
	SENDERS+=($!)
	ns_track $!
done
sleep "$FO_KILL_AT"
# fo_stat G NAME: a data-plane counter of gateway G.
fo_stat() {
	nsx "$1" "$BUILD/nappt" --pin-dir "$BPFFS/$1" stats 2>/dev/null |
		awk -v n="$2" '$1 == n { print $2 }'
}
# While A is MASTER (the streams have run FO_KILL_AT s through it), B's
# data plane is attached with the whole public pool but no frame reaches it: it has translated nothing, and the
# internet host's neighbour entries for the public addresses are A's.
t_b_idle() {
	local i out in mac_a
	out=$(fo_stat gb out_xlate)
	in=$(fo_stat gb in_xlate)
	echo "B: out_xlate=${out:-?} in_xlate=${in:-?}"
	[ "${out:-1}" -eq 0 ] && [ "${in:-1}" -eq 0 ] || return 1
	mac_a=$(ip -n "$GA" link show wan0 | awk '/link\/ether/ { print $2 }')
	for i in $(seq "$FO_PHONES"); do
		ip -n "$INET" neigh show "${PUB[$i]}" | grep -q "lladdr $mac_a " || {
			ip -n "$INET" neigh show "${PUB[$i]}"
			echo "A's wan0 is $mac_a"
			return 1
		}
	done
}
check "while A is MASTER, B's data plane translates nothing and the public addresses resolve to A" t_b_idle

# When B's maps hold as many leases as A's did (all of them taken over),
# and when B's provisioner serves (after the maps, its memory and the
# phones' config files).
N_A=$(nsx ga "$BUILD/nappt" --pin-dir "$BPFFS/ga" phone list | wc -l)
(for _ in $(seq 1500); do
	n=$(nsx gb "$BUILD/nappt" --pin-dir "$BPFFS/gb" phone list 2>/dev/null | wc -l)
	[ "$n" -ge "$N_A" ] && break
	sleep 0.02
done
date +%s.%N >"$T/gb/mapped.t"
for _ in $(seq 3000); do
	grep -q "serving DHCP" "$T/gb/prov.log" 2>/dev/null && break
	sleep 0.01
done
date +%s.%N >"$T/gb/serving.t") &
ns_track $!
T_KILL_NS=$(date +%s.%N)
T_KILL=${T_KILL_NS%.*}
fo_kill_a
for p in "${SENDERS[@]}"; do wait "$p"; done

# --- the stream -------------------------------------------------------
GAP_MS=0
LOST=0
for i in $(seq "$FO_PHONES"); do
	# The round trip: the echoes' silence (down_gap_ms) is what a call
	# hears; up_sent - down_rx what it lost both ways.
	line=$(grep '^STREAM ' "$T/s$i.out")
	echo "     phone $i (${PRIV[$i]} -> ${PUB[$i]}:${SPORT[$i]}): ${line:-$(tail -1 "$T/s$i.out")}"
	g=$(sed -n 's/.* down_gap_ms=\([0-9.]*\).*/\1/p' <<<"$line")
	us=$(sed -n 's/.* up_sent=\([0-9]*\) .*/\1/p' <<<"$line")
	dr=$(sed -n 's/.* down_rx=\([0-9]*\) .*/\1/p' <<<"$line")
	[ -n "$g" ] || g=999999
	l=999999
	[ -n "$us" ] && [ -n "$dr" ] && l=$((us - dr))
	GAP_MS=$(awk -v a="$GAP_MS" -v b="$g" 'BEGIN { print (b > a) ? b : a }')
	LOST=$((LOST + l))
done
# The takeover's share: from MASTER until B's maps hold every lease of
# the part it took over (within ~25 ms: polled), and until it serves.
since_master() {
	awk -v s="$(cat "$1" 2>/dev/null)" '$3 == "MASTER" && s {
		printf "%.0f", (s - $1) * 1000; exit }' "$T/gb/notify.log" 2>/dev/null
}
LOAD_MS=$(since_master "$T/gb/mapped.t")
SERVE_MS=$(since_master "$T/gb/serving.t")
echo "     B's maps held all $N_A leases ${LOAD_MS:-?} ms after MASTER, its provisioner served after ${SERVE_MS:-?} ms"
# VRRP's share of the gap: from the kill to B's MASTER notify.
DETECT_MS=$(awk -v k="$T_KILL_NS" '$3 == "MASTER" { printf "%.0f", ($1 - k) * 1000; exit }' \
	"$T/gb/notify.log" 2>/dev/null)
echo "     B became MASTER ${DETECT_MS:-?} ms after the kill (advert_int $FO_ADVERT s)"

t_stream() {
	local i sent recv
	for i in $(seq "$FO_PHONES"); do
		sent=$(sed -n 's/^STREAM .* up_sent=\([0-9]*\) .*/\1/p' "$T/s$i.out")
		recv=$(sed -n 's/^STREAM .* down_rx=\([0-9]*\) .*/\1/p' "$T/s$i.out")
		[ -n "$sent" ] && [ "$sent" -ge $((FO_PPS * FO_SECONDS * 9 / 10)) ] || {
			echo "phone $i sent ${sent:-nothing}"
			return 1
		}
		# Traffic came back through B: more echoes than the part of
		# the stream before the kill.
		[ "${recv:-0}" -gt $((FO_PPS * (FO_KILL_AT + 2))) ] || {
			echo "phone $i: only ${recv:-0} echoes, the stream did not resume"
			return 1
		}
	done
	awk -v g="$GAP_MS" -v m="$FO_GAP_MAX_MS" 'BEGIN { exit !(g < m) }' || {
		echo "gap $GAP_MS ms >= $FO_GAP_MAX_MS"
		return 1
	}
}
check "every phone's stream resumed through B, gap ${GAP_MS} ms, $LOST lost" t_stream

t_roles() {
	fo_wait_vip gb 5 || { echo "B does not hold the LAN VIP"; return 1; }
	ip -n "$GB" -4 addr show dev wan0 | grep -c '203\.0\.113\.' |
		grep -qx 16 || { echo "B does not hold the 16 public addresses"; return 1; }
	fo_wait_serving gb || return 1
	# Killed at the end whatever the notify script does with it.
	ns_track "$(cat "$T/gb/prov.pid")"
	grep -q 'state MASTER' "$T/gb/notify.log"
}
check "B holds the LAN gateway and public addresses, its provisioner serves" t_roles

# Every phone was seen by the echo host from one (public address, port)
# only, the lease's, before and after the failover.
t_kept_public() {
	local i srcs
	for i in $(seq "$FO_PHONES"); do
		srcs=$(awk -v id="id=$i" '$1 == "src" && $3 == id { print $2 }' "$T/echo.out")
		[ "$srcs" = "${PUB[$i]}:${SPORT[$i]}" ] || {
			echo "phone $i seen as '$srcs', leased ${PUB[$i]}:${SPORT[$i]}"
			return 1
		}
	done
}
check "every phone kept its public address and port (as the echo host saw them)" t_kept_public

KEPT=0
t_kept_maps() {
	local i m
	KEPT=0
	for i in $(seq "$FO_PHONES"); do
		m=$(fo_phone_map gb "$i")
		if [ "$m" = "${PRIV[$i]} ${PUB[$i]} ${FIRST[$i]} ${LAST[$i]}" ]; then
			KEPT=$((KEPT + 1))
		else
			echo "phone $i on B: '$m', on A it was '${PRIV[$i]} ${PUB[$i]} ${FIRST[$i]} ${LAST[$i]}'"
		fi
		ip -n "$(ns_name "p$i")" -4 addr show dev eth0 | grep -q " ${PRIV[$i]}/" || {
			echo "phone $i lost ${PRIV[$i]}"
			KEPT=$((KEPT - 1))
		}
	done
	[ "$KEPT" -eq "$FO_PHONES" ]
}
check "B's maps hold every phone's lease as A had it, private addresses kept" t_kept_maps

t_b_forwards() {
	local out in
	out=$(fo_stat gb out_xlate)
	in=$(fo_stat gb in_xlate)
	echo "B: out_xlate=${out:-?} in_xlate=${in:-?}"
	[ "${out:-0}" -gt $((FO_PHONES * FO_PPS)) ] && [ "${in:-0}" -gt $((FO_PHONES * FO_PPS)) ]
}
check "B's data plane translated the phones' traffic both ways after the failover" t_b_forwards

# RENEWING (RFC 2131 4.4.5): udhcpc unicasts its REQUEST to the server
# identifier, which moved with the VIP; B must answer it with the same
# lease.
t_renew() {
	local i j before cap
	for i in $(seq "$FO_PHONES"); do
		before=$(grep -c '^renew' "$T/p$i.events" 2>/dev/null)
		# The REQUEST and its ACK on the phone's wire: unicast both
		# ways between the phone and the server identifier.
		ip netns exec "$(ns_name "p$i")" timeout 8 tcpdump -i eth0 -n -l \
			-c 2 'udp port 67' >"$T/p$i.renew.cap" 2>"$T/p$i.renew.err" &
		cap=$!
		for j in $(seq 50); do
			grep -q listening "$T/p$i.renew.err" 2>/dev/null && break
			sleep 0.1
		done
		kill -USR1 "$(cat "$T/p$i.udhcpc.pid")"
		for j in $(seq 50); do
			[ "$(grep -c '^renew' "$T/p$i.events")" -gt "$before" ] && break
			sleep 0.1
		done
		grep '^renew' "$T/p$i.events" | tail -1 |
			grep -q "ip=${PRIV[$i]} serverid=100.64.0.1 " || {
			echo "phone $i:"
			cat "$T/p$i.events"
			return 1
		}
		wait "$cap"
		grep -q "^.* IP ${PRIV[$i]}\.68 > 100\.64\.0\.1\.67: " "$T/p$i.renew.cap" &&
			grep -q "^.* IP 100\.64\.0\.1\.67 > ${PRIV[$i]}\.68: " "$T/p$i.renew.cap" || {
			echo "phone $i: not a unicast exchange with 100.64.0.1:"
			cat "$T/p$i.renew.cap"
			return 1
		}
		grep -q "lease renew mac=$(fo_mac "$i")" "$T/gb/prov.log" || {
			echo "B logged no renewal of phone $i"
			return 1
		}
	done
	# udhcpc says deconfig once as it starts; after the first bound,
	# any of these means the phone lost its lease.
	for i in $(seq "$FO_PHONES"); do
		! sed -n '/^bound/,$p' "$T/p$i.events" | grep -q '^\(nak\|deconfig\|leasefail\)' || {
			cat "$T/p$i.events"
			return 1
		}
	done
}
check "renewals go to B (unicast to and from the moved server identifier), same address" t_renew

# In the database: A's part is B's now with a higher epoch (A's writes
# fenced), and B committed every renewal (a later end).
t_db() {
	local i e part0
	part0=$(pg_sql "SELECT owner || ' ' || epoch FROM nappt_parts WHERE part = 0")
	echo "part 0: before '$PART0_BEFORE', after '$part0'"
	[ "${PART0_BEFORE%% *}" = ga ] && [ "${part0%% *}" = gb ] &&
		[ "${part0##* }" -gt "${PART0_BEFORE##* }" ] || return 1
	for i in $(seq "$FO_PHONES"); do
		e=$(pg_sql "SELECT expires FROM nappt_leases WHERE mac = decode('$(fo_hexmac "$i")', 'hex')")
		[ -n "$e" ] && [ -n "${EXP0[$i]}" ] && [ "$e" -gt "${EXP0[$i]}" ] || {
			echo "phone $i: lease ends ${EXP0[$i]:-?} before, ${e:-?} after the renewal"
			return 1
		}
	done
}
check "the database: A's part owned by B at a new epoch, B stored every renewal" t_db

t_a_down() {
	local f
	for f in ka-vrrp ka prov; do
		[ -s "$T/ga/$f.pid" ] && kill -0 "$(cat "$T/ga/$f.pid")" 2>/dev/null && {
			echo "A's $f still runs"
			return 1
		}
	done
	! ip -n "$GA" link show lan0 | grep -q 'state UP'
}
check "A is down: no keepalived, no provisioner, links down" t_a_down

# "Who held this public address and port then?" names the phone at
# every moment: leased through A, at the kill, now (renewed by B).
t_history() {
	local i t out
	for i in $(seq "$FO_PHONES"); do
		for t in "$T_LEASED" "$T_KILL" $((T_KILL + 1)) now; do
			out=$("$BUILD/nappt-provisioner" who -c "$T/gb/prov.conf" \
				"${PUB[$i]}" "${SPORT[$i]}" "$t" 2>&1)
			grep -q "mac=$(fo_mac "$i") private=${PRIV[$i]} " <<<"$out" || {
				echo "who ${PUB[$i]} ${SPORT[$i]} $t: $out"
				return 1
			}
		done
	done
}
check "the attribution history names each phone before, at and after the failover" t_history

# No hole: each phone's intervals for its range, in order, each starting
# no later than the previous one ended, from its lease to after the
# renewal.
t_no_hole() {
	local i rows
	for i in $(seq "$FO_PHONES"); do
		# An open interval ends when its lease does (as who reads it).
		rows=$(pg_sql "SELECT a.t_from, CASE WHEN a.open THEN
			coalesce(l.expires, a.t_until) ELSE a.t_until END, a.gateway
			FROM nappt_attribution a LEFT JOIN nappt_leases l
			ON l.mac = a.mac AND l.hist = a.id
			WHERE a.mac = decode('$(fo_hexmac "$i")', 'hex') AND a.pub_addr = '${PUB[$i]}'
			AND a.port_lo = ${FIRST[$i]} ORDER BY a.t_from")
		echo "phone $i: $(tr '\n' ' ' <<<"$rows")"
		awk -F'|' -v lo="$T_LEASED" -v now="$(date +%s)" '
			NR == 1 && $1 > lo { bad = 1 }
			NR > 1 && $1 > until { bad = 1 }
			{ if ($2 > until) until = $2 }
			END { exit bad || NR == 0 || until < now }' <<<"$rows" || return 1
	done
}
check "the attribution history has no hole for any phone across the failover" t_no_hole

# B loses its WAN: keepalived's track_interface puts it in FAULT; with A
# dead nobody takes over, but B must give up the addresses, stop
# answering DHCP and empty its maps (a switch flooding a frame to it
# would otherwise have it translated with leases nobody maintains).
t_fault_empties() {
	local i n t0 pid
	pid=$(cat "$T/gb/prov.pid")
	t0=$(date +%s.%N)
	ip -n "$GB" link set wan0 down
	# The notify script deletes mapping by mapping with the CLI (a few
	# ms each): 10 s, and 25 ms more per lease.
	for i in $(seq $((100 + N_A / 4))); do
		n=$(nsx gb "$BUILD/nappt" --pin-dir "$BPFFS/gb" phone list 2>/dev/null | wc -l)
		[ "$n" -eq 0 ] && ! kill -0 "$pid" 2>/dev/null && break
		sleep 0.1
	done
	tail -3 "$T/gb/notify.log"
	echo "B's maps: $n mappings, $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after its WAN went down"
	[ "$n" -eq 0 ] || return 1
	! kill -0 "$pid" 2>/dev/null || { echo "B's provisioner ($pid) still runs"; return 1; }
	! ip -n "$GB" -4 addr show dev lan0 | grep -q ' 100.64.0.1/16' ||
		{ echo "B kept the LAN VIP"; return 1; }
}
check "a gateway whose WAN fails (FAULT) gives up the addresses, stops its provisioner, empties its maps" t_fault_empties

if [ "$BENCH" = "--bench" ]; then
	echo "RESULT failover phones=$FO_PHONES gap_ms=$GAP_MS lost_packets=$LOST phones_kept=$KEPT detect_ms=${DETECT_MS:-} takeover_ms=${LOAD_MS:-} serving_ms=${SERVE_MS:-} leases=$N_A pps_per_phone=$FO_PPS advert_int=$FO_ADVERT"
fi
check_summary
