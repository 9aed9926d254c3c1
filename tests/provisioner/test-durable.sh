#!/usr/bin/env bash
# An ACK never leaves before the lease it announces is durable (invariant
# 3; provisioner/README.md, Durability), seen from the wire: one phone
# (bench/site-client, its own MAC over AF_PACKET) against the daemon with
# its syncs made slow or failing by an LD_PRELOAD shim
# (tests/provisioner/sync_fault.c).  Slow: the ACK comes no sooner than
# the sync takes.  Failing: no ACK at all, and the daemon stops (a lost
# write-back is not retried, Linux reports it once).  An ACK sent at
# commit time, before its sync, fails both.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
ns_add gw >/dev/null && ns_add ph >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
GW=$(ns_name gw)
PH=$(ns_name ph)
veth gw:lan0 ph:eth0 || { echo "0 passed, 1 failed"; exit 1; }
ip -n "$GW" addr add 100.64.0.1/16 dev lan0
DELAY_MS=1500

# prov [FAULT]: a fresh store and daemon (no data plane: the order of
# sync and ACK is the daemon's, the maps follow the sync either way).
prov() {
	rm -rf "$T/phones" "$T"/leases.db*
	mkdir -p "$T/phones"
	cat >"$T/prov.conf" <<CONF
[global]
interface = lan0
lan_pool = 100.64.0.0/16
gateway = 100.64.0.1
public_pool = 203.0.113.0/28
lease_time = 3600
phone_dir = $T/phones
lease_db = $T/leases.db
stats_file = $T/stats.prom
[mac]
allow = 00:1b:54
[model cisco-7940]
vendor_class = exact:Cisco Systems, Inc. IP Phone CP-7940G
template = cisco
CONF
	: >"$T/prov.log"
	ip netns exec "$GW" env LD_PRELOAD="$BUILD/sync_fault.so" NAPPT_FAULT_SYNC="${1:-}" \
		"$BUILD/nappt-provisioner" --no-maps -c "$T/prov.conf" \
		--templates "$SRC/provisioner/templates" 2>>"$T/prov.log" &
	PROV=$!
	ns_track $PROV
	for _ in $(seq 100); do
		grep -q "serving DHCP" "$T/prov.log" && return 0
		sleep 0.1
	done
	cat "$T/prov.log"
	return 1
}

# phone MAC_LAST: one DORA (and whatever follows, cut at 5 s); the
# client's line in $T/phone.out, last_bound_s = DISCOVER to ACK.
phone() {
	ip netns exec "$PH" "$BUILD/site-client" -i eth0 -n 1 -m "00:1b:54:20:00:$1" \
		-f none -e 198.51.100.7:7 -l 5 >"$T/phone.out" 2>&1
	cat "$T/phone.out"
}
bound_s() { sed -n 's/.*last_bound_s=\([0-9.]*\).*/\1/p' "$T/phone.out"; }
stop_prov() { kill $PROV 2>/dev/null; wait $PROV 2>/dev/null; }

t_control() {
	prov || return 1
	phone 01
	stop_prov
	# no fault: the exchange is quick, so the delay below is the sync's
	awk -v b="$(bound_s)" -v d=$DELAY_MS 'BEGIN { exit !(b > 0 && b * 1000 < d) }'
}
check "control: without a fault the phone is ACKed well within ${DELAY_MS} ms" t_control

t_slow_sync() {
	prov "delay:$DELAY_MS" || return 1
	phone 02
	stop_prov
	awk -v b="$(bound_s)" -v d=$DELAY_MS 'BEGIN { exit !(b * 1000 >= d) }'
}
check "every sync ${DELAY_MS} ms slower: the ACK comes no sooner" t_slow_sync

t_failed_sync() {
	local rc
	prov eio || return 1
	phone 03
	# the daemon stops on its own: no ACK it held may leave
	for _ in $(seq 50); do kill -0 $PROV 2>/dev/null || break; sleep 0.1; done
	wait $PROV
	rc=$?
	tail -3 "$T/prov.log"
	echo "exit status $rc"
	grep -q 'stuck_dhcp=1' "$T/phone.out" && [ "$(bound_s)" = "0.000" ] &&
		[ "$rc" -ne 0 ] && grep -q 'Failed to sync the lease store' "$T/prov.log"
}
check "every sync fails (EIO): no ACK at all, the daemon stops" t_failed_sync

check_summary
