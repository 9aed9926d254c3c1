#!/usr/bin/env bash
# The provisioner on PostgreSQL (issue 14), against a throwaway cluster
# (tests/lib/pg.sh): the lease store's unit tests on PostgreSQL (fencing,
# the exclusion constraint under concurrent sessions, kill -9), then the
# daemon: a perfdhcp storm with kill -9 in the middle (every ACKed lease
# stored), two provisioners on one database allocating for 2,000 phones
# at once (no two ranges overlap, by SQL and by the constraint), and a
# split brain (a gateway that lost its part but does not know it ACKs
# nothing, so no (address, port) goes to two phones), and a takeover by a
# standby with the data plane attached (its maps get the part's phones).
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
. "$SRC/tests/lib/pg.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; pg_cleanup; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
pg_start || { echo "PostgreSQL did not start"; echo "0 passed, 1 failed"; exit 1; }

t_unit() {
	NAPPT_TEST_PG_URI=$(pg_createdb unit) timeout 300 "$BUILD/test_lease_store" 2>&1 |
		grep -vE '^(NOTICE|DETAIL|drop cascades)' | tail -30
	return "${PIPESTATUS[0]}"
}
check "lease store unit tests on PostgreSQL" t_unit

# --- the daemon on PostgreSQL ------------------------------------------------

VC=$(printf 'Cisco Systems, Inc. IP Phone CP-7940G' | od -An -tx1 | tr -d ' \n')00

# gw_ns NAME: a gateway namespace (gwNAME, LAN eth0 100.64.0.1/16) and a
# client namespace (cNAME, 100.64.255.254: perfdhcp relays from there).
gw_ns() {
	ns_add "gw$1" >/dev/null && ns_add "c$1" >/dev/null || return 1
	veth "gw$1:eth0" "c$1:eth0" || return 1
	ip -n "$(ns_name "gw$1")" addr add 100.64.0.1/16 dev eth0
	ip -n "$(ns_name "c$1")" addr add 100.64.255.254/16 dev eth0
	# Replies to the relay leave in UDP GSO batches; segmented before
	# the device, tcpdump sees each one.
	ip netns exec "$(ns_name "gw$1")" ethtool -K eth0 tx-udp-segmentation off >/dev/null 2>&1
}

# gw_conf NAME GATEWAY_ID CLAIM PARTS_POLL: $T/NAME.conf on the database;
# the pools in 2 parts: part 0 is 203.0.113.0-7 and the private addresses
# derived from them (lan_net + public index x 1024 + slot: 100.64.0.0 -
# 100.64.31.255), part 1 203.0.113.8-15 and 100.64.32.0 - 100.64.63.255
# (1,008 ranges of 64 ports per public address).
gw_conf() {
	mkdir -p "$T/phones-$1"
	cat >"$T/$1.conf" <<CONF
[global]
interface = eth0
lan_pool = 100.64.0.0/16
gateway = 100.64.0.1
public_pool = 203.0.113.0/28
slot_size = 64
lease_time = 3600
phone_dir = $T/phones-$1
lease_db = $DB
pin_dir = /nonexistent
new_lease_rate = 0
gateway_id = $2
pool_parts = 2
claim = $3
parts_poll = $4

[model bench]
vendor_class = exact:Cisco Systems, Inc. IP Phone CP-7940G
template = generic
slots = 1
CONF
}

# gw_start NAME: the provisioner of gwNAME (no data plane); its pid in
# PID_NAME.
gw_start() {
	ip netns exec "$(ns_name "gw$1")" "$BUILD/nappt-provisioner" --no-maps -c "$T/$1.conf" \
		--templates "$SRC/provisioner/templates" 2>>"$T/$1.log" &
	eval "PID_$1=$!"
	ns_track $!
	for _ in $(seq 100); do
		grep -q "serving DHCP" "$T/$1.log" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$T/$1.log"
	return 1
}

# storm_bg NAME MACBASE CLIENTS RATE SECS: perfdhcp from cNAME in the
# background (its pid in STORM, its output in $T/NAME.perf); acks NAME:
# the ACKs it received.  storm: both.
storm_bg() {
	ip netns exec "$(ns_name "c$1")" timeout $(($5 + 30)) perfdhcp -4 -l eth0 -b "mac=$2" \
		-o "60,$VC" -R "$3" -r "$4" -p "$5" 100.64.0.1 >"$T/$1.perf" 2>&1 &
	STORM=$!
	ns_track $STORM
}
acks() {
	awk '/Statistics for: REQUEST-ACK/ {s = 1} s && /received packets/ {print $3; exit}' "$T/$1.perf"
}
storm() {
	storm_bg "$@"
	wait $STORM
	acks "$1"
}

cap_start() {
	ip netns exec "$(ns_name "gw$1")" timeout 120 tcpdump -i eth0 -n -U -s 0 -w "$T/$1.pcap" \
		'udp and src port 67' 2>/dev/null &
	eval "CAP_$1=$!"
	ns_track $!
	sleep 1
}
cap_stop() {
	local pid
	sleep 0.5
	eval "pid=\$CAP_$1"
	kill -INT "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	python3 "$SRC/tests/provisioner/dhcp-pcap.py" "$T/$1.pcap" >"$T/$1.txt"
}

# The stored leases as "mac priv", sorted.
stored() {
	PG_URI_SQL=$DB pg_sql "SELECT regexp_replace(encode(mac, 'hex'), '(..)(?!$)', '\1:', 'g'),
		host(priv_addr) FROM nappt_leases ORDER BY 1" | tr '|' ' '
}

overlaps() {
	PG_URI_SQL=$DB pg_sql "SELECT count(*) FROM nappt_leases a JOIN nappt_leases b ON a.mac < b.mac
		WHERE a.priv_addr = b.priv_addr OR (a.pub_addr = b.pub_addr AND
		int4range(a.port_lo, a.port_hi, '[]') && int4range(b.port_lo, b.port_hi, '[]'))"
}

# The database refuses an overlapping range whoever writes it.
constraint_holds() {
	local out
	out=$(PG_URI_SQL=$DB pg_sql "INSERT INTO nappt_leases (mac, priv_addr, pub_addr, port_lo,
		port_hi, expires, part) SELECT decode('02ffffffffff', 'hex'), '100.64.255.1',
		pub_addr, port_lo + 1, port_lo + 1, expires, part FROM nappt_leases LIMIT 1" 2>&1)
	echo "$out"
	echo "$out" | grep -q 'nappt_leases_no_overlap'
}

DB=$(pg_createdb storm)
gw_ns a || { echo "setup failed"; check_summary; exit 1; }
gw_conf a gw-a all 1

t_storm_kill9() {
	local pid acked lost
	gw_start a || return 1
	cap_start a
	# 800 new phones at 300/s: leases are still being made at the kill.
	storm_bg a 00:1b:54:20:00:00 800 300 10
	pid=$STORM
	sleep 3
	kill -9 "$PID_a"
	wait "$PID_a" 2>/dev/null
	sleep 1
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	cap_stop a
	stored >"$T/store.txt"
	awk '$1 == "ACK" {a[$2] = $3} END {for (m in a) print m, a[m]}' "$T/a.txt" | sort >"$T/acked.txt"
	acked=$(wc -l <"$T/acked.txt")
	lost=$(sort "$T/store.txt" | comm -23 "$T/acked.txt" - | wc -l)
	echo "ACKed before kill -9: $(grep -c '^ACK' "$T/a.txt") ACKs, $acked phones; stored: $(wc -l <"$T/store.txt"); lost: $lost"
	[ "$acked" -ge 100 ] && [ "$lost" = 0 ]
}
check "PostgreSQL: perfdhcp storm, kill -9 mid-storm: every ACKed lease stored" t_storm_kill9

t_restart() {
	local n
	: >"$T/a.log"
	gw_start a || return 1
	n=$(storm a 00:1b:54:20:00:00 50 100 3)
	echo "after the restart: $n ACKs; $(grep -c 'reloaded\|lease' "$T/a.log") log lines"
	kill "$PID_a"
	wait "$PID_a" 2>/dev/null
	[ "${n:-0}" -ge 40 ] || { tail -5 "$T/a.perf"; tail -5 "$T/a.log"; return 1; }
}
check "PostgreSQL: the restarted provisioner loads its leases and serves" t_restart

# Two gateways on one database, each owning one part, allocating for
# 1,000 phones each at the same time.
DB=$(pg_createdb two)
gw_ns b || { echo "setup failed"; check_summary; exit 1; }
gw_conf a gw-a 0 1
gw_conf b gw-b 1 1
t_two() {
	local pa pb na nb total ov
	: >"$T/a.log"
	: >"$T/b.log"
	gw_start a && gw_start b || return 1
	storm_bg a 00:1b:54:40:00:00 1000 250 12
	pa=$STORM
	storm_bg b 00:1b:54:50:00:00 1000 250 12
	pb=$STORM
	wait $pa $pb
	na=$(acks a)
	nb=$(acks b)
	total=$(PG_URI_SQL=$DB pg_sql "SELECT count(*) FROM nappt_leases")
	ov=$(overlaps)
	echo "ACKs: gw-a $na, gw-b $nb; leases stored: $total; overlapping pairs: $ov"
	PG_URI_SQL=$DB pg_sql "SELECT part, count(*), min(host(pub_addr)), max(host(pub_addr)) FROM nappt_leases GROUP BY part ORDER BY part"
	[ "${total:-0}" -ge 1500 ] && [ "$ov" = 0 ] &&
		[ "$(PG_URI_SQL=$DB pg_sql "SELECT count(*) FROM nappt_leases WHERE (part = 0) <> (pub_addr < '203.0.113.8')")" = 0 ]
}
check "two provisioners, one database, 2,000 phones at once: no overlapping ranges (SQL)" t_two
check "the exclusion constraint refuses an overlapping range" constraint_holds

# Attribution on PostgreSQL: who held a stored lease's address and port.
t_who() {
	local row mac pub port out
	row=$(PG_URI_SQL=$DB pg_sql "SELECT encode(mac, 'hex'), host(pub_addr), port_lo + 1 FROM nappt_leases LIMIT 1")
	IFS='|' read -r mac pub port <<<"$row"
	out=$("$BUILD/nappt-provisioner" who -c "$T/a.conf" "$pub" "$port") || return 1
	echo "$out"
	echo "$out" | grep -q "mac=$(echo "$mac" | sed 's/../&:/g; s/:$//') .*(lease standing)" &&
		! "$BUILD/nappt-provisioner" who -c "$T/a.conf" "$pub" "$port" 2000-01-01 >/dev/null
}
check "who names the phone that holds a public address and port (PostgreSQL)" t_who

# Split brain: gw-a does not read its parts again (parts_poll = 0, as a
# gateway cut off from everything but the database might not), gw-b takes
# its part over.  Both now allocate from part 0; only gw-b's writes
# commit, so gw-a ACKs nothing and no (address, port) goes to two phones.
t_split() {
	local na nb before ov
	kill "$PID_a" "$PID_b"
	wait "$PID_a" "$PID_b" 2>/dev/null
	gw_conf a gw-a 0 0
	: >"$T/a.log"
	: >"$T/b.log"
	gw_start a && gw_start b || return 1
	ip netns exec "$(ns_name gwb)" "$BUILD/nappt-provisioner" takeover -c "$T/b.conf" --from gw-a || return 1
	kill -HUP "$PID_b"
	sleep 1
	before=$(PG_URI_SQL=$DB pg_sql "SELECT count(*) FROM nappt_leases")
	cap_start a
	storm_bg a 00:1b:54:60:00:00 500 200 6
	local pa=$STORM
	storm_bg b 00:1b:54:70:00:00 500 200 6
	local pb=$STORM
	wait $pa $pb
	cap_stop a
	na=$(grep -c '^ACK' "$T/a.txt")
	nb=$(acks b)
	ov=$(overlaps)
	echo "after the takeover: gw-a sent $na ACKs (perfdhcp saw $(acks a)), gw-b $nb; leases $before -> $(PG_URI_SQL=$DB pg_sql "SELECT count(*) FROM nappt_leases"); overlapping pairs: $ov"
	PG_URI_SQL=$DB pg_sql "SELECT part, owner, epoch FROM nappt_parts ORDER BY part"
	grep -c "Failed to store lease" "$T/a.log" | sed 's/^/gw-a store refusals logged: /'
	[ "$na" = 0 ] && [ "${nb:-0}" -ge 200 ] && [ "$ov" = 0 ]
}
check "split brain: the gateway that lost its part ACKs nothing; no range given twice" t_split

t_gw_b_has_a() {
	# gw-b loaded gw-a's leases of part 0 (reconcile): it renews them.
	local n
	n=$(grep -o "[0-9]* leases reloaded" "$T/b.log" | tail -1)
	echo "gw-b: $n"
	[ "${n%% *}" -ge 1500 ]
}
check "after the takeover gw-b holds gw-a's leases too" t_gw_b_has_a
kill "$PID_a" "$PID_b" 2>/dev/null
wait "$PID_a" "$PID_b" 2>/dev/null

# Takeover into the data plane: gw-c is a standby (claim = none) with the
# data plane attached; gw-a leases phones of part 0; on `takeover` and
# SIGHUP, gw-c's maps hold gw-a's phones exactly as the database does
# (same private address, public address and range), in seconds.
DB=$(pg_createdb maps)
bpffs_setup
gw_ns c || { echo "setup failed"; check_summary; exit 1; }
ip -n "$(ns_name gwc)" link add wan0 type veth peer name wanp
ip -n "$(ns_name gwc)" link set wan0 up
ip -n "$(ns_name gwc)" link set wanp up
NC="$BUILD/nappt --pin-dir $BPFFS/nappt"
gw_conf a gw-a 0 1
gw_conf c gw-c none 1
sed -i "s|^pin_dir = .*|pin_dir = $BPFFS/nappt|" "$T/c.conf"
t_takeover_maps() {
	local n i
	nsx gwc $NC attach --lan eth0 --wan wan0 --lan-pool 100.64.0.0/16 \
		--pub-pool 203.0.113.0/28 --slot-size 64 >/dev/null || return 1
	: >"$T/a.log"
	: >"$T/c.log"
	gw_start a || return 1
	ip netns exec "$(ns_name gwc)" "$BUILD/nappt-provisioner" -c "$T/c.conf" \
		--templates "$SRC/provisioner/templates" 2>>"$T/c.log" &
	PID_c=$!
	ns_track $PID_c
	for _ in $(seq 100); do grep -q "serving DHCP" "$T/c.log" && break; sleep 0.1; done
	n=$(storm a 00:1b:54:80:00:00 100 100 3)
	echo "gw-a: $n ACKs; gw-c maps before: $(nsx gwc $NC phone list | wc -l) phones"
	[ "$(nsx gwc $NC phone list | wc -l)" = 0 ] || return 1
	ip netns exec "$(ns_name gwc)" "$BUILD/nappt-provisioner" takeover -c "$T/c.conf" --from gw-a || return 1
	kill -HUP "$PID_c"
	PG_URI_SQL=$DB pg_sql "SELECT host(priv_addr), host(pub_addr), port_lo || '-' || port_hi FROM nappt_leases" |
		tr '|' ' ' | sort >"$T/db.txt"
	for i in $(seq 50); do
		nsx gwc $NC phone list | awk '{print $1, $3, $4}' | sort >"$T/maps.txt"
		cmp -s "$T/db.txt" "$T/maps.txt" && break
		sleep 0.2
	done
	echo "database: $(wc -l <"$T/db.txt") leases; gw-c maps: $(wc -l <"$T/maps.txt") phones, after $((i * 200)) ms at most"
	diff "$T/db.txt" "$T/maps.txt" | head -3
	[ "$(wc -l <"$T/db.txt")" -ge 50 ] && cmp -s "$T/db.txt" "$T/maps.txt"
}
check "takeover: the standby's maps get the part's phones as the database has them" t_takeover_maps
kill "$PID_a" "$PID_c" 2>/dev/null
wait "$PID_a" "$PID_c" 2>/dev/null

[ "$T_FAIL" -gt 0 ] && [ -f "$PG_DIR/server.log" ] && { echo "--- server log"; tail -20 "$PG_DIR/server.log"; }
check_summary
