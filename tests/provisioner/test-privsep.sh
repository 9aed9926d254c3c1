#!/usr/bin/env bash
# Privilege separation (threat model line 10): with the data plane
# attached in a namespace, test_privsep becomes the DHCP parser the way
# nappt-provisioner does and tries what a compromised parser would
# (unlink the pinned links, open the maps, read a root-only file, kill a
# root process, ask the map writer for a mapping over reserved ports or
# outside the pools, ARP for the gateway, network or broadcast address).
# Then the real daemon: its parser runs as its own user, in its chroot,
# with no capability.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
TD=""
trap 'ns_cleanup; rm -rf "$T" ${TD:+"$TD"}' EXIT
bpffs_setup
ns_add gw >/dev/null || exit 1
GW=$(ns_name gw)  # not $(ns_add): its NS_LIST entry would die with the subshell
lan_wan_ns "$GW" || exit 1
ip -n "$GW" addr add 100.64.0.1/16 dev lan0
ip -n "$GW" addr add 198.18.0.1/24 dev wan0
N="$BUILD/nappt --pin-dir $BPFFS/nappt"
ip netns exec "$GW" $N attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/16 \
	--pub-pool 203.0.113.0/28 >/dev/null || { echo "attach failed"; echo "0 passed, 1 failed"; exit 1; }

t_compromised_parser() {
	local out
	out=$(timeout 60 ip netns exec "$GW" "$BUILD/test_privsep" "$BPFFS/nappt" lan0 </dev/null 2>&1 | cat)
	local rc=$?
	echo "$out"
	TD=$(echo "$out" | sed -n 's/^TMPDIR //p')
	[ $rc -eq 0 ] && echo "$out" | grep -q "PASSED.*9 test"
}
check "a compromised parser: no pins, no maps, no root files, no kill, the writer refuses" t_compromised_parser

t_pins_intact() {
	ls "$BPFFS/nappt/links" && [ "$(ls "$BPFFS/nappt/links" | wc -l)" -ge 2 ] &&
		ip netns exec "$GW" $N status
}
check "the data plane is still attached, its pins in place" t_pins_intact

# The daemon's own parser, as the README's privilege-separation section
# says: uid and gid not 0, every capability set empty, no new privileges,
# its root the phone directory; the map writer root with CAP_NET_ADMIN
# alone.
cat >"$T/prov.conf" <<CONF
[global]
interface = lan0
lan_pool = 100.64.0.0/16
gateway = 100.64.0.1
public_pool = 203.0.113.0/28
phone_dir = $T/phones
lease_db = $T/leases.db
pin_dir = $BPFFS/nappt
stats_file = $T/stats.prom
reconcile_every = 2

[model cisco]
vendor_class = prefix:Cisco Systems, Inc. IP Phone
template = cisco
CONF
ip netns exec "$GW" "$BUILD/nappt-provisioner" -c "$T/prov.conf" 2>"$T/prov.log" &
PROV=$!
ns_track $PROV
for _ in $(seq 50); do grep -q "serving DHCP" "$T/prov.log" && break; sleep 0.1; done

t_daemon_parser() {
	local w st
	w=$(pgrep -P $PROV | head -1)
	st=/proc/$PROV/status
	grep -E "^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)" $st
	echo "root: $(readlink /proc/$PROV/root)"
	grep -E "^(Uid|CapEff)" /proc/$w/status
	! grep -qE "^Uid:\s+0\s" $st && ! grep -qE "^Gid:\s+0\s" $st &&
		grep -qE "^Groups:\s*$" $st &&
		for c in CapInh CapPrm CapEff CapBnd CapAmb; do
			grep -q "^$c:.*0000000000000000$" $st || return 1
		done &&
		grep -q "^NoNewPrivs:.*1" $st &&
		[ "$(readlink /proc/$PROV/root)" = "$T/phones" ] &&
		grep -qE "^Uid:\s+0\s" /proc/$w/status &&
		grep -q "^CapEff:.*0000000000001000$" /proc/$w/status
}
check "the daemon's parser: own uid, no capability, chrooted to the phone directory" t_daemon_parser

t_stats_through_writer() {
	for _ in $(seq 70); do [ -s "$T/stats.prom" ] && break; sleep 0.1; done
	grep -q "^nappt_dhcp_leases 0" "$T/stats.prom"
}
check "the counters file is written (by the map writer)" t_stats_through_writer

# A mapping whose lease is gone (a failed removal, an operator's stray
# entry) does not stay: the maps are reconciled while serving.
t_sweep() {
	local i a
	# The address derived from the range (issue 13); no lease has it.
	a=$(ip netns exec "$GW" $N phone addr 203.0.113.3 2048-3071) || return 1
	ip netns exec "$GW" $N phone add "$a" 02:00:00:00:00:50 203.0.113.3 2048-3071 || return 1
	ip netns exec "$GW" $N phone list | grep -F "$a " || return 1
	for i in $(seq 100); do
		ip netns exec "$GW" $N phone list | grep -qF "$a " || break
		sleep 0.1
	done
	grep "maps reconciled" "$T/prov.log" | tail -1
	! ip netns exec "$GW" $N phone list | grep -qF "$a "
}
check "a mapping without a lease is swept while serving" t_sweep

# Fail closed: a parser that cannot be jailed does not serve.
t_fail_closed() {
	kill $PROV 2>/dev/null
	wait $PROV 2>/dev/null
	sed -i "s|^phone_dir = .*|phone_dir = /|" "$T/prov.conf"
	! timeout 10 ip netns exec "$GW" "$BUILD/nappt-provisioner" -c "$T/prov.conf" 2>"$T/fail.log" &&
		grep "refus\|Failed to prepare" "$T/fail.log" &&
		! grep -q "serving DHCP" "$T/fail.log"
}
check "a privilege step that fails stops the daemon (phone_dir /)" t_fail_closed

# Without CAP_SETPCAP the capability bounding set cannot be emptied: the
# jail is refused, nothing is served.
t_fail_closed_caps() {
	sed -i "s|^phone_dir = .*|phone_dir = $T/phones|" "$T/prov.conf"
	! timeout 10 ip netns exec "$GW" setpriv --bounding-set -setpcap \
		"$BUILD/nappt-provisioner" -c "$T/prov.conf" 2>"$T/fail2.log" &&
		grep "Failed to drop privileges.*refusing to serve" "$T/fail2.log" &&
		! grep -q "serving DHCP" "$T/fail2.log"
}
check "a privilege drop that fails stops the daemon (no CAP_SETPCAP)" t_fail_closed_caps

# A compromised parser owns the phone directory: it plants .leases as a
# symlink to a root directory, then crashes; the root start-up that
# follows must neither chown the target nor prune or write into it.
t_leases_symlink() {
	local f=SEP0123456789AB.cnf.xml
	mkdir -p "$T/target" && chown root:root "$T/target" && chmod 0755 "$T/target" &&
		echo keep >"$T/target/$f" || return 1
	rm -rf "$T/phones/.leases"
	ln -s "$T/target" "$T/phones/.leases" || return 1
	ip netns exec "$GW" "$BUILD/nappt-provisioner" -c "$T/prov.conf" 2>"$T/sym.log" &
	local p=$!
	for _ in $(seq 50); do grep -q "serving DHCP" "$T/sym.log" && break; kill -0 $p 2>/dev/null || break; sleep 0.1; done
	kill $p 2>/dev/null
	wait $p 2>/dev/null
	cat "$T/sym.log"
	ls -la "$T/phones" "$T/target"
	[ "$(stat -c %u:%g "$T/target")" = "0:0" ] && [ -f "$T/target/$f" ] &&
		{ [ -d "$T/phones/.leases" ] && [ ! -L "$T/phones/.leases" ] ||
			grep -q "Failed to prepare" "$T/sym.log"; }
}
check "a .leases symlink planted by the parser is not followed at start" t_leases_symlink
check_summary
