#!/usr/bin/env bash
# make bench-site: a whole site powering up after a power cut.  PHONES
# phones (one process, bench/site-client.c, one MAC each on one veth)
# start at the same instant: DHCP DORA with their vendor class, TFTP of
# their config file and of a FW_BYTES firmware image, one UDP datagram
# out through the data plane to an echo host and its answer back.  Time
# until the last phone is in service, p50 and p99, then the same against
# the stack a user would otherwise build on the same namespaces: Kea 2.2
# (memfile) + tftpd-hpa + nftables SNAT/DNAT per phone range.  Not a test:
# never fails on a number.
#
#   [ph] PHONES MACs 00:1b:54:10:xx:xx -- lan0 [gw] wan0 -- gw0 [inet]
#                              100.64.0.1/16   198.18.0.1   198.51.100.7 echo
#                              public pool 203.0.113.0/24
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/..")
PHONES=${PHONES:-1000}
FW_BYTES=${FW_BYTES:-1048576}
# What the phones ask of TFTP: blksize 1428 and windowsize 16 (RFC 7440;
# tftpd-hpa does not know windowsize and runs lock-step).  WINDOW=1: no
# windowsize asked, lock-step everywhere, as most phones do.
BLKSIZE=${BLKSIZE:-1428}
WINDOW=${WINDOW:-16}
LIMIT_S=${LIMIT_S:-300}
IMAGE=P0030801SR02.loads
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
GC3_WAS=""
restore_gc() {
	[ -n "$GC3_WAS" ] && sysctl -qw net.ipv4.neigh.default.gc_thresh3="$GC3_WAS" \
		net.ipv4.neigh.default.gc_thresh2="$GC2_WAS"
}
trap '[ -n "${KEEP_LOGS:-}" ] && cp -r "$T" "$KEEP_LOGS"; ns_cleanup; restore_gc; umount "$T/phones" 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
[ "$PHONES" -ge 1 ] && [ "$PHONES" -le 15000 ] || { echo "PHONES: 1..15000" >&2; exit 2; }

# The gateway's ARP table holds one entry per phone; the table's limit
# is the whole machine's (not per namespace), 1,024 by default.  Raised
# for the run, put back after.
GC3=$(sysctl -n net.ipv4.neigh.default.gc_thresh3)
GC2_WAS=$(sysctl -n net.ipv4.neigh.default.gc_thresh2)
if [ "$GC3" -lt $((PHONES * 2 + 1024)) ]; then
	GC3_WAS=$GC3
	sysctl -qw net.ipv4.neigh.default.gc_thresh2=$((PHONES * 2 + 512)) \
		net.ipv4.neigh.default.gc_thresh3=$((PHONES * 2 + 1024))
fi

bpffs_setup
for n in gw ph inet; do ns_add $n >/dev/null || exit 1; done
GW=$(ns_name gw)
PH=$(ns_name ph)
INET=$(ns_name inet)
veth gw:lan0 ph:eth0 && veth gw:wan0 inet:gw0 || exit 1
ip -n "$GW" addr add 100.64.0.1/16 dev lan0
ip -n "$GW" addr add 198.18.0.1/24 dev wan0
ip -n "$GW" route add 198.51.100.0/24 via 198.18.0.2
ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1
ip -n "$INET" addr add 198.18.0.2/24 dev gw0
ip -n "$INET" addr add 198.51.100.7/32 dev lo
ip -n "$INET" route add 203.0.113.0/24 via 198.18.0.1
# The phones' frames carry full checksums, as on a wire.
ip netns exec "$PH" ethtool -K eth0 tx off >/dev/null
ip netns exec "$INET" ethtool -K gw0 tx off >/dev/null
# A frame redirected into a veth is received only if XDP runs on the peer.
nsx ph "$BUILD/nappt-test-pass" attach eth0 >/dev/null || exit 1
nsx inet "$BUILD/nappt-test-pass" attach gw0 >/dev/null || exit 1

# The echo host, for both runs.
ip netns exec "$INET" "$BUILD/site-client" -l $((2 * LIMIT_S + 120)) -E 198.51.100.7:7 &
ns_track $!

# The files: one firmware image, the same bytes for both servers.
mkdir -p "$T/root" "$T/hpa" "$T/phones"
head -c "$FW_BYTES" /dev/urandom >"$T/root/$IMAGE"
cp "$T/root/$IMAGE" "$T/hpa/$IMAGE"
mount -t tmpfs -o size=256m,mode=0755 tmpfs "$T/phones"

# The client on one CPU (CLI_CPU); the servers where the scheduler puts
# them, as on a gateway, unless SRV_CPU pins them (both stacks alike:
# tftpd-hpa's thousand forks pinned to one CPU of this loaded 2-CPU VM
# collapsed once, 288 s and 35,077 retransmissions, RESULTS.md).
CLI_CPU=${CLI_CPU:-0}
SRV_CPU=${SRV_CPU:-}
PIN=""
[ -n "$SRV_CPU" ] && PIN="taskset -c $SRV_CPU"

# site LABEL: one power-up; prints the client's line.
site() {
	ip -n "$GW" neigh flush dev lan0 2>/dev/null
	ip netns exec "$PH" taskset -c "$CLI_CPU" "$BUILD/site-client" -i eth0 -n "$PHONES" \
		-f "$IMAGE" -z "$FW_BYTES" -e 198.51.100.7:7 -b "$BLKSIZE" \
		-w "$WINDOW" -l "$LIMIT_S" >"$T/$1.out" 2>"$T/$1.err"
	echo "  $1: $(cat "$T/$1.out")" >&2
	cat "$T/$1.out"
}
key() { sed -n "s/.*[[:space:]]$1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p" <<<"$2" | head -1; }

# --- ours: XDP NAPPT + nappt-provisioner + nappt-tftpd -------------------
nsx gw "$BUILD/nappt" --pin-dir "$BPFFS/nappt" attach --lan lan0 --wan wan0 \
	--lan-pool 100.64.0.0/16 --pub-pool 203.0.113.0/24 >/dev/null || exit 1
cat >"$T/prov.conf" <<CONF
[global]
interface = lan0
lan_pool = 100.64.0.0/16
gateway = 100.64.0.1
public_pool = 203.0.113.0/24
slot_size = 1024
reserved_ports = 5060, 5061, 8443
lease_time = 3600
tftp_server = 100.64.0.1
sip_server = 198.51.100.7
phone_dir = $T/phones
lease_db = $T/leases.db
pin_dir = $BPFFS/nappt
stats_file = $T/stats.prom
# The site's phones are admitted by their OUI: the pool-grab limit's
# burst is sized to the site, as an operator would (a site of PHONES
# phones comes back at once after a power cut); the rate stays.
new_lease_rate = 50
new_lease_burst = $((PHONES + 100))
max_offers = $((PHONES * 2 > 4096 ? PHONES * 2 : 4096))

[mac]
allow = 00:1b:54

[model cisco-7940]
vendor_class = exact:Cisco Systems, Inc. IP Phone CP-7940G
slots = 1
image = ${IMAGE%.loads}
template = cisco
CONF
ip netns exec "$GW" $PIN "$BUILD/nappt-provisioner" -c "$T/prov.conf" \
	--templates "$SRC/provisioner/templates" 2>"$T/prov.log" &
PROV=$!
ns_track $PROV
ip netns exec "$GW" $PIN "$BUILD/nappt-tftpd" -q -i lan0 -l 100.64.0.1 -m 20000 \
	-p "$T/phones" -g -r "$T/root" 2>"$T/tftpd.log" &
TFTPD=$!
ns_track $TFTPD
for _ in $(seq 50); do grep -q "serving DHCP" "$T/prov.log" && break; sleep 0.1; done
grep -q "serving DHCP" "$T/prov.log" || { cat "$T/prov.log"; exit 1; }
sleep 0.5
OURS=$(site ours)
# CPU seconds each of our servers used (single processes: exact; Kea and
# tftpd-hpa's forks are not counted the same way, so no peer figure).
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf("%.2f", ($14 + $15) / hz)}' "/proc/$1/stat" 2>/dev/null; }
echo "  ours CPU: provisioner $(cpu_s $PROV) s, tftpd $(cpu_s $TFTPD) s" >&2
kill $PROV $TFTPD 2>/dev/null
wait $PROV $TFTPD 2>/dev/null
nsx gw "$BUILD/nappt" --pin-dir "$BPFFS/nappt" detach >/dev/null 2>&1
# detach turns forwarding off on the gateway's devices (nothing may leave
# untranslated once the data plane is gone); the peer is a kernel router.
for dev in lan0 wan0; do
	ip netns exec "$GW" sysctl -qw "net.ipv4.conf.$dev.forwarding=1"
done

# --- the peer: Kea 2.2 + tftpd-hpa + nftables NAT per phone range -------
# Kea's pool holds the site and a tenth more; each of its addresses has
# its own 1,024-port range on a public address (63 per address, ports
# 1024-65535), SNAT out and DNAT in, written before the phones come up
# as a user would script it.  Config files are pre-rendered per MAC into
# tftpd-hpa's root (SEP<MAC>.cnf.xml, what a Cisco phone asks for).
# tftpd-hpa's server as bench-tftp gets it (atftpd, which another bench
# installs, ships /usr/sbin/in.tftpd too): unpacked once into the build
# dir.
HPA=$BUILD/tftpd-hpa/in.tftpd
if [ ! -x "$HPA" ]; then
	mkdir -p "$BUILD/tftpd-hpa" "$T/deb"
	(cd "$T/deb" && timeout 60 apt-get download tftpd-hpa >/dev/null 2>&1 &&
		dpkg-deb -x tftpd-hpa_*.deb x && cp x/usr/sbin/in.tftpd "$HPA") ||
		{ echo "bench-site: could not fetch tftpd-hpa" >&2; exit 1; }
	rm -rf "$T/deb"
fi
POOL=$((PHONES + PHONES / 10 + 10))
ip2() { echo "100.64.$((($1 + 2) / 256)).$((($1 + 2) % 256))"; }
{
	echo "table ip site {"
	echo " map out { type ipv4_addr : interval ipv4_addr . inet_service; flags interval; elements = {"
	for ((i = 0; i < POOL; i++)); do
		pub="203.0.113.$((i / 63 + 1))"
		lo=$((1024 * (i % 63 + 1)))
		echo "  $(ip2 $i) : $pub . $lo-$((lo + 1023)),"
	done
	echo " } }"
	echo " map in { type ipv4_addr . inet_service : ipv4_addr; flags interval; elements = {"
	for ((i = 0; i < POOL; i++)); do
		pub="203.0.113.$((i / 63 + 1))"
		lo=$((1024 * (i % 63 + 1)))
		echo "  $pub . $lo-$((lo + 1023)) : $(ip2 $i),"
	done
	echo " } }"
	echo " chain pre { type nat hook prerouting priority dstnat; iifname \"wan0\" meta l4proto { tcp, udp } dnat ip to ip daddr . th dport map @in; }"
	echo " chain post { type nat hook postrouting priority srcnat; oifname \"wan0\" meta l4proto { tcp, udp } snat ip to ip saddr map @out; }"
	echo "}"
} >"$T/site.nft"
ip netns exec "$GW" nft -f "$T/site.nft" || { echo "nft rules refused" >&2; exit 1; }
for ((i = 0; i < PHONES; i++)); do
	lo=$((0x100000 + i))
	mac=$(printf '001B54%06X' $lo)
	sed -e "s/{{mac}}/$mac/g" -e "s/{{image}}/${IMAGE%.loads}/g" \
		-e 's/{{[a-z_]*}}/0/g' "$SRC/provisioner/templates/cisco.cnf.xml" >"$T/hpa/SEP$mac.cnf.xml"
done
mkdir -p "$T/kea"
cat >"$T/kea.json" <<KEA
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "lan0" ] },
  "lease-database": { "type": "memfile", "persist": true,
                      "name": "$T/kea/leases4.csv", "lfc-interval": 3600 },
  "valid-lifetime": 3600,
  "next-server": "100.64.0.1",
  "option-data": [ { "name": "routers", "data": "100.64.0.1" },
                   { "name": "tftp-server-name", "data": "100.64.0.1" } ],
  "subnet4": [ { "subnet": "100.64.0.0/16",
                 "pools": [ { "pool": "$(ip2 0) - $(ip2 $((POOL - 1)))" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                 "output_options": [ { "output": "$T/kea/kea.log" } ] } ]
} }
KEA
KEA_PIDFILE_DIR="$T/kea" KEA_LOCKFILE_DIR="$T/kea" ip netns exec "$GW" \
	$PIN kea-dhcp4 -c "$T/kea.json" >"$T/kea/out" 2>&1 &
KEA=$!
ns_track $KEA
ip netns exec "$GW" $PIN "$HPA" -L -s -a 100.64.0.1:69 -B 1468 "$T/hpa" 2>"$T/hpa.log" &
HPA=$!
ns_track $HPA
sleep 2
kill -0 $KEA 2>/dev/null || { cat "$T/kea/out"; exit 1; }
PEER=$(site peer)

O_LAST=$(key last_s "$OURS")
P_LAST=$(key last_s "$PEER")
O_FAIL=$(key failed "$OURS")
P_FAIL=$(key failed "$PEER")
# A failed phone never came up: its stack's time is the limit.
[ "${O_FAIL:-1}" -gt 0 ] && O_LAST=$LIMIT_S
[ "${P_FAIL:-1}" -gt 0 ] && P_LAST=$LIMIT_S
RATIO=$(awk -v a="$O_LAST" -v b="$P_LAST" 'BEGIN { printf("%.2f", a > 0 ? b / a : 0) }')
echo "RESULT site phones=$PHONES ours_s=$O_LAST peer_s=$P_LAST ratio=$RATIO ours_p99_s=$(key p99_s "$OURS") peer_p99_s=$(key p99_s "$PEER") failed=${O_FAIL:-$PHONES} peer_failed=${P_FAIL:-$PHONES} ours_p50_s=$(key p50_s "$OURS") peer_p50_s=$(key p50_s "$PEER") fw_bytes=$FW_BYTES window=$WINDOW ours_client_cpu_s=$(key client_cpu_s "$OURS") peer_client_cpu_s=$(key client_cpu_s "$PEER")"
