#!/usr/bin/env bash
# make bench-dhcp: 4-way exchanges (DORA) per second, perfdhcp against
# nappt-provisioner and against kea-dhcp4 (memfile, persistence on; with
# multi-threading on and off, the faster kept) in the same run, same
# clients, equivalent pools.  perfdhcp -l IFACE acts as a relay, so both
# servers answer relayed requests.  Our figure includes validation, range
# allocation, the durable store (SQLite WAL, synchronous=FULL) and the map
# update in the attached data plane.  Then the provisioner's RSS holding
# 100k leases.  Not a test: never fails on a number.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/..")
CLIENTS=${CLIENTS:-10000}
RATE=${RATE:-40000}
SECS=${SECS:-10}
RSS_LEASES=${RSS_LEASES:-100000}
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
bpffs_setup
ns_add srv >/dev/null
ns_add cli >/dev/null
SRV=$(ns_name srv)
CLI=$(ns_name cli)
veth srv:eth0 cli:eth0
ip -n "$SRV" link add wan0 type veth peer name wanp
ip -n "$SRV" link set wan0 up
ip -n "$SRV" link set wanp up
ip -n "$SRV" addr add 100.64.0.1/14 dev eth0
ip -n "$CLI" addr add 100.67.255.254/14 dev eth0
VC=$(printf 'Cisco Systems, Inc. IP Phone CP-7940G' | od -An -tx1 | tr -d ' \n')00

# perfdhcp's "Rate: N 4-way exchanges/second".
perf() {
	ip netns exec "$CLI" timeout $((SECS + 30)) perfdhcp -4 -l eth0 -r "$RATE" -R "$1" \
		-p "$SECS" -o "60,$VC" 100.64.0.1 >"$T/perf.out" 2>&1
	grep -m1 -oE 'Rate: [0-9.]+' "$T/perf.out" | awk '{print $2}'
}

ours_conf() {
	cat >"$T/prov.conf" <<CONF
[global]
interface = eth0
lan_pool = 100.64.0.0/14
gateway = 100.64.0.1
public_pool = 198.18.0.0/20
lease_time = 3600
tftp_root = $T/tftp
lease_db = $T/leases.db
pin_dir = $BPFFS/nappt

[model bench]
vendor_class = exact:Cisco Systems, Inc. IP Phone CP-7940G
template = generic
CONF
}

start_ours() {
	rm -f "$T"/leases.db* "$T/prov.log"
	mkdir -p "$T/tftp"
	ip netns exec "$SRV" ${PROV_WRAP:-} "$BUILD/nappt-provisioner" -c "$T/prov.conf" \
		--templates "$SRC/provisioner/templates" 2>"$T/prov.log" &
	OURS=$!
	ns_track $OURS
	for _ in $(seq 50); do
		grep -q "serving DHCP" "$T/prov.log" && return 0
		sleep 0.1
	done
	cat "$T/prov.log"
	return 1
}

nsx srv "$BUILD/nappt" --pin-dir "$BPFFS/nappt" attach --lan eth0 --wan wan0 \
	--lan-pool 100.64.0.0/14 --pub-pool 198.18.0.0/20 >/dev/null || exit 1
ours_conf
start_ours || exit 1
OURS_RATE=$(perf "$CLIENTS")
OURS_LEASES=$(sqlite3 "$T/leases.db" 'select count(*) from leases')
OURS_MAPS=$(nsx srv "$BUILD/nappt" --pin-dir "$BPFFS/nappt" phone list | wc -l)
kill $OURS
wait $OURS 2>/dev/null
echo "ours: ${OURS_RATE:-0} DORA/s, $OURS_LEASES leases stored, $OURS_MAPS mappings"

kea_run() {
	mkdir -p "$T/kea"
	cat >"$T/kea.json" <<KEA
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "eth0" ], "dhcp-socket-type": "udp" },
  "lease-database": { "type": "memfile", "persist": true,
                      "name": "$T/kea/leases4.csv", "lfc-interval": 3600 },
  "multi-threading": { "enable-multi-threading": $1,
                       "thread-pool-size": 2, "packet-queue-size": 64 },
  "valid-lifetime": 3600,
  "subnet4": [ { "subnet": "100.64.0.0/14",
                 "pools": [ { "pool": "100.64.0.2 - 100.67.255.250" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                 "output_options": [ { "output": "$T/kea/kea.log" } ] } ]
} }
KEA
	rm -f "$T"/kea/leases4.csv*
	KEA_PIDFILE_DIR="$T/kea" KEA_LOCKFILE_DIR="$T/kea" ip netns exec "$SRV" \
		kea-dhcp4 -c "$T/kea.json" >"$T/kea/out" 2>&1 &
	KEA=$!
	ns_track $KEA
	sleep 2
	perf "$CLIENTS"
	kill $KEA
	wait $KEA 2>/dev/null
}
# Profiling knobs: OURS_ONLY=1 stops here; PROV_WRAP="strace -f -c -o F"
# runs the provisioner under a tool.
[ -n "${OURS_ONLY:-}" ] && exit 0
KEA_MT=$(kea_run true)
KEA_ST=$(kea_run false)
echo "kea: ${KEA_MT:-0} DORA/s multi-threaded, ${KEA_ST:-0} single-threaded"
KEA_RATE=$(awk -v a="${KEA_MT:-0}" -v b="${KEA_ST:-0}" 'BEGIN { print ((a > b) ? a : b) }')

# RSS holding RSS_LEASES leases (a /14 LAN pool and 4,096 public addresses).
start_ours || exit 1
SECS=$((RSS_LEASES / 2000 + 10)) perf "$RSS_LEASES" >/dev/null
HELD=$(sqlite3 "$T/leases.db" 'select count(*) from leases')
RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$OURS/status)
kill $OURS
echo "ours: RSS ${RSS_KB} kB holding $HELD leases"

RATIO=$(awk -v a="${OURS_RATE:-0}" -v b="$KEA_RATE" 'BEGIN { printf("%.2f", (b > 0) ? a / b : 0) }')
RSS_MB=$(awk -v k="${RSS_KB:-0}" 'BEGIN { printf "%.1f", k / 1024 }')
echo "RESULT dhcp ours=${OURS_RATE:-0} kea=$KEA_RATE ratio=$RATIO rss_mb_100k=$RSS_MB"
