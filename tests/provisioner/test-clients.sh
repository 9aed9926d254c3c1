#!/usr/bin/env bash
# The provisioner with the other real clients, in front of the attached
# data plane: ISC dhclient with a vendor-class-identifier; perfdhcp as a
# relay (giaddr) adding option 82, which must come back; a perfdhcp storm
# with kill -9 in the middle, while new leases are still being made: every
# lease the server ACKed (seen on the wire) is in the store after the
# restart, no two stored leases overlap, and the maps match the store.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
bpffs_setup
. "$SRC/tests/lib/gateway.sh"
gateway_up || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
start_prov || { echo "0 passed, 1 failed"; exit 1; }
PC=$(ns_name pc)
# Phone C's port doubles as a relay agent on the phones' LAN.
ip -n "$PC" addr add 100.64.255.200/16 dev eth0

t_dhclient() {
	local pid i
	cat >"$T/dhclient.conf" <<'CONF'
send vendor-class-identifier "Polycom-SPIP650";
request subnet-mask, routers, domain-name-servers, tftp-server-name, bootfile-name;
CONF
	# The event script applies the lease (no default route) and keeps
	# what the server said.
	cat >"$T/dhclient-script" <<SCRIPT
#!/bin/sh
case "\$reason" in
PREINIT) ip link set dev "\$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
	ip addr add "\$new_ip_address/\$new_subnet_mask" dev "\$interface"
	env | grep '^new_' >"$T/dhclient.env" ;;
esac
exit 0
SCRIPT
	chmod +x "$T/dhclient-script"
	ip netns exec "$(ns_name pb)" timeout 30 dhclient -4 -d -1 -v -cf "$T/dhclient.conf" \
		-lf "$T/dhclient.leases" -pf "$T/dhclient.pid" -sf "$T/dhclient-script" eth0 \
		>"$T/dhclient.out" 2>&1 &
	pid=$!
	ns_track $pid
	for i in $(seq 100); do [ -s "$T/dhclient.env" ] && break; sleep 0.2; done
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	cat "$T/dhclient.env" 2>/dev/null || tail -5 "$T/dhclient.out"
	grep -q '^new_ip_address=100\.64\.' "$T/dhclient.env" &&
		grep -q '^new_filename=.*0004f2010203.cfg' "$T/dhclient.env" &&
		grep -q 'mediaPortRangeStart' "$T/tftp/0004f2010203.cfg" &&
		nsx gw $N phone list | grep -q "$(sed -n 's/^new_ip_address=//p' "$T/dhclient.env") .*00:04:f2:01:02:03"
}
check "dhclient (vendor-class-identifier) gets a lease, its config, its mapping" t_dhclient

# Replies to relayed requests, captured where they leave the gateway.
capture_start() {
	ip netns exec "$GW" timeout 60 tcpdump -i lan0 -n -U -s 0 -w "$T/$1.pcap" \
		'udp and src host 100.64.0.1 and dst port 67' 2>/dev/null &
	CAP=$!
	ns_track $CAP
	sleep 1
}
capture_stop() {
	sleep 0.5
	kill -INT $CAP 2>/dev/null
	wait $CAP 2>/dev/null
	python3 "$SRC/tests/provisioner/dhcp-pcap.py" "$T/$1.pcap" >"$T/$1.txt"
}

# perfdhcp ARGS...: a relay at 100.64.255.200 with phones of the allowed
# Cisco OUI; output in $T/perf.out.
perf() {
	ip netns exec "$PC" timeout 40 perfdhcp -4 -l eth0 -b mac=00:1b:54:10:00:00 \
		-o "60,$CISCO_HEX" "$@" 100.64.0.1 >"$T/perf.out" 2>&1
}

t_relay82() {
	capture_start relay
	perf -R 20 -r 20 -p 3 -o 82,0104706f7274020462726431
	capture_stop relay
	grep -E "^Rate" "$T/perf.out"
	head -4 "$T/relay.txt"
	# Every reply goes to the relay's port 67 with option 82 as it came.
	[ "$(grep -c '^ACK' "$T/relay.txt")" -ge 10 ] &&
		! grep -qv ' 100\.64\.255\.200:67 0104706f7274020462726431$' "$T/relay.txt"
}
check "relayed requests: replies go to giaddr:67 with option 82 echoed" t_relay82

# store.py: the stored leases as "mac priv pub first-last", sorted.
cat >"$T/store.py" <<'PY'
import socket, sqlite3, struct, sys
ip = lambda v: socket.inet_ntoa(struct.pack("<I", v & 0xffffffff))
db = sqlite3.connect(sys.argv[1])
rows = db.execute("select mac, priv_ip, pub_ip, port_first, port_last from leases")
for mac, priv, pub, a, b in sorted(rows):
	print(":".join("%02x" % x for x in mac), ip(priv), ip(pub), "%d-%d" % (a, b))
PY

t_storm_kill9() {
	local pid acked lost
	capture_start storm
	# 800 new phones at 400/s: leases are still being made at the kill
	# (the pool holds about 970 one-slot ranges).
	ip netns exec "$PC" timeout 40 perfdhcp -4 -l eth0 -b mac=00:1b:54:20:00:00 \
		-o "60,$CISCO_HEX" -R 800 -r 400 -p 10 100.64.0.1 >"$T/storm.out" 2>&1 &
	pid=$!
	ns_track $pid
	sleep 3
	kill -9 $PROV
	wait $PROV 2>/dev/null
	sleep 1
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	capture_stop storm
	: >"$T/prov.log"
	start_prov || return 1
	grep "maps reconciled" "$T/prov.log"
	python3 "$T/store.py" "$T/leases.db" >"$T/store.txt"
	# The last ACK per MAC is the lease it holds.
	awk '$1 == "ACK" {a[$2] = $3} END {for (m in a) print m, a[m]}' "$T/storm.txt" | sort >"$T/acked.txt"
	acked=$(wc -l <"$T/acked.txt")
	lost=$(awk '{print $1, $2}' "$T/store.txt" | sort | comm -23 "$T/acked.txt" - | wc -l)
	echo "ACKed before kill -9: $(grep -c '^ACK' "$T/storm.txt") ACKs, $acked phones; stored: $(wc -l <"$T/store.txt"); lost: $lost"
	[ "$acked" -ge 100 ] && [ "$lost" = 0 ]
}
check "perfdhcp storm, kill -9 mid-storm, restart: every ACKed lease stored" t_storm_kill9

t_no_overlap() {
	local n
	n=$(sqlite3 "$T/leases.db" 'select count(*) from leases a join leases b on a.mac < b.mac
		where a.priv_ip = b.priv_ip or (a.pub_ip = b.pub_ip and
		a.port_first <= b.port_last and b.port_first <= a.port_last)')
	echo "overlapping pairs: $n"
	[ "$n" = 0 ]
}
check "no two stored leases share an address or overlap in ports" t_no_overlap

t_maps_match() {
	nsx gw $N phone list | awk '{print $2, $1, $3, $4}' | sort >"$T/maps.txt"
	echo "store: $(wc -l <"$T/store.txt") leases, maps: $(wc -l <"$T/maps.txt") phones"
	diff "$T/store.txt" "$T/maps.txt" | head -5
	diff -q "$T/store.txt" "$T/maps.txt" >/dev/null
}
check "after the restart the maps match the store exactly" t_maps_match

t_serves_again() {
	perf -R 50 -r 100 -p 3
	grep -E "^Rate" "$T/perf.out"
	awk '/Statistics for: REQUEST-ACK/ {s = 1} s && /received packets/ {print $3; exit}' "$T/perf.out" |
		awk '{exit !($1 >= 50)}'
}
check "the restarted server serves the next storm" t_serves_again
[ "$T_FAIL" -gt 0 ] && { echo "--- provisioner log"; tail -20 "$T/prov.log"; }

kill $PROV 2>/dev/null
check_summary
