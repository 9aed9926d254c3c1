#!/usr/bin/env bash
# The provisioner end to end with real DHCP clients (busybox udhcpc) in
# network namespaces, in front of the attached data plane: valid phones
# get a lease, their config file and a mapping, and their traffic leaves
# with the public address; an unknown MAC and an unknown vendor get
# nothing; a second run keeps the range; RELEASE frees it; kill -9 and a
# restart lose no lease; garbage on port 67 crashes nothing.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"' EXIT
bpffs_setup
N="$BUILD/nappt --pin-dir $BPFFS/nappt"

for n in gw sw pa pb pc pd inet; do ns_add $n >/dev/null; done
GW=$(ns_name gw)
INET=$(ns_name inet)
veth gw:lan0 sw:gw && veth gw:wan0 inet:gw0
ip -n "$(ns_name sw)" link add br0 type bridge
ip -n "$(ns_name sw)" link set br0 up
ip -n "$(ns_name sw)" link set gw master br0
for n in pa pb pc pd; do
	veth $n:eth0 sw:$n
	ip -n "$(ns_name sw)" link set $n master br0
	ip netns exec "$(ns_name $n)" ethtool -K eth0 tx off >/dev/null
done
ip -n "$(ns_name pa)" link set eth0 address 00:1b:54:aa:bb:0c # Cisco
ip -n "$(ns_name pb)" link set eth0 address 00:04:f2:01:02:03 # Polycom
ip -n "$(ns_name pc)" link set eth0 address 02:11:22:33:44:55 # unknown
ip -n "$(ns_name pd)" link set eth0 address 00:1b:54:00:00:01 # Cisco OUI
ip -n "$GW" addr add 100.64.0.1/16 dev lan0
ip -n "$GW" addr add 198.18.0.1/24 dev wan0
ip -n "$GW" route add 198.51.100.0/24 via 198.18.0.2
ip -n "$INET" addr add 198.18.0.2/24 dev gw0
ip -n "$INET" addr add 198.51.100.7/32 dev lo
ip -n "$INET" route add 203.0.113.0/24 via 198.18.0.1
ip netns exec "$INET" ethtool -K gw0 tx off >/dev/null
nsx sw "$BUILD/nappt" pass attach gw
nsx inet "$BUILD/nappt" pass attach gw0
nsx gw $N attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/16 --pub-pool 203.0.113.0/28 >/dev/null

mkdir -p "$T/tftp"
sed -e "s|^pin_dir = .*|pin_dir = $BPFFS/nappt|" \
	-e "s|^tftp_root = .*|tftp_root = $T/tftp|" \
	-e "s|^lease_db = .*|lease_db = $T/leases.db|" \
	"$SRC/provisioner/provisioner.conf.example" >"$T/prov.conf"

start_prov() {
	ip netns exec "$GW" "$BUILD/nappt-provisioner" -c "$T/prov.conf" \
		--templates "$SRC/provisioner/templates" 2>>"$T/prov.log" &
	PROV=$!
	ns_track $PROV
	for _ in $(seq 50); do
		grep -q "serving DHCP" "$T/prov.log" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$T/prov.log"
	return 1
}

# The udhcpc event script: apply the lease (no default route) and keep
# what the server said.
cat >"$T/script" <<'SCRIPT'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	ip route add 198.51.100.0/24 via "$router" dev "$interface" 2>/dev/null
	env | grep -E '^(ip|mask|router|serverid|lease|boot_file|bootfile|tftp|opt150|siaddr|opt159)=' >"$OUT"
	;;
esac
exit 0
SCRIPT
chmod +x "$T/script"

# dhcp NS NAME VENDOR-ARGS...: one lease attempt, quit when bound.
dhcp() {
	local ns=$1 name=$2
	shift 2
	OUT="$T/$name.env" ip netns exec "$(ns_name "$ns")" timeout 15 \
		udhcpc -i eth0 -f -q -n -t 3 -T 1 -A 1 -s "$T/script" "$@" >"$T/$name.out" 2>&1
}
CISCO_HEX=$(printf 'Cisco Systems, Inc. IP Phone CP-7940G' | od -An -tx1 | tr -d ' \n')00

t_unit() {
	local d out
	d=$(mktemp -d)
	sed "s|/usr/local/sbin/|$BUILD/|g" "$SRC/systemd/nappt-provisioner.service" >"$d/nappt-provisioner.service"
	sed "s|/usr/local/sbin/|$BUILD/|g; s|^EnvironmentFile=.*||" "$SRC/systemd/nappt.service" >"$d/nappt.service"
	out=$(systemd-analyze verify "$d/nappt-provisioner.service" 2>&1 | grep -v "nappt.service\|/etc/default/nappt")
	rm -rf "$d"
	echo "$out"
	[ -z "$out" ]
}
check "systemd-analyze verify nappt-provisioner.service" t_unit
check "provisioner -n accepts the example" ip netns exec "$GW" "$BUILD/nappt-provisioner" -n -c "$T/prov.conf"
t_bad_conf() {
	printf '[global]\nlan_pool = 100.64.0.0/33\n' >"$T/bad.conf"
	! "$BUILD/nappt-provisioner" -n -c "$T/bad.conf" 2>"$T/bad.out" &&
		grep -q "bad.conf:2: lan_pool" "$T/bad.out"
}
check "provisioner -n reports file:line:reason" t_bad_conf
check "provisioner starts, reconciles the maps" start_prov

t_cisco() {
	dhcp pa cisco -V "" -x "0x3c:$CISCO_HEX" || { cat "$T/cisco.out"; return 1; }
	cat "$T/cisco.env"
	grep -q '^ip=100.64.' "$T/cisco.env" &&
		grep -q '^boot_file=SEP001B54AABB0C.cnf.xml' "$T/cisco.env" &&
		grep -q '^opt159=' "$T/cisco.env" &&
		grep -q "<startMediaPort>" "$T/tftp/SEP001B54AABB0C.cnf.xml" &&
		grep -qx "$(sed -n 's/^ip=//p' "$T/cisco.env")" "$T/tftp/.leases/SEP001B54AABB0C.cnf.xml"
}
check "cisco (vendor class with trailing NUL) gets a lease, its config, its tftpd gate entry" t_cisco

t_map() {
	local ip
	ip=$(sed -n 's/^ip=//p' "$T/cisco.env")
	nsx gw $N phone list | tee "$T/list"
	grep -qE "^$ip +00:1b:54:aa:bb:0c 203\.0\.113\.[0-9]+ +[0-9]+-[0-9]+" "$T/list"
}
check "the lease is in the data plane's maps" t_map

t_traffic() {
	local first pub out
	first=$(awk '/00:1b:54:aa:bb:0c/ {split($4, r, "-"); print r[1]}' "$T/list")
	pub=$(awk '/00:1b:54:aa:bb:0c/ {print $3}' "$T/list")
	ip netns exec "$INET" timeout 5 tcpdump -i gw0 -n -U --immediate-mode -c 1 -w "$T/cap.pcap" udp 2>/dev/null &
	local cap=$!
	sleep 1
	echo REGISTER | ip netns exec "$(ns_name pa)" socat -u - UDP:198.51.100.7:5060,sourceport=$((first + 10))
	wait $cap
	out=$(tcpdump -n -r "$T/cap.pcap" 2>/dev/null)
	echo "$out"
	grep -q "IP $pub.$((first + 10)) > 198.51.100.7.5060" <<<"$out"
}
check "the phone's traffic leaves with its public address and own port" t_traffic

t_polycom() {
	dhcp pb poly -V "Polycom-SPIP650" || { cat "$T/poly.out"; return 1; }
	grep -q '^ip=100.64.' "$T/poly.env" &&
		grep -q 'tcpIpApp.port.rtp.mediaPortRangeStart' "$T/tftp/0004f2010203.cfg" &&
		nsx gw $N phone list | grep -qE "00:04:f2:01:02:03 .* [0-9]+-[0-9]+$"
}
check "polycom (prefix match) gets a lease and its config" t_polycom

t_unknown_mac() {
	! dhcp pc unknown -V "Cisco Systems, Inc. IP Phone CP-7940G" &&
		[ ! -s "$T/unknown.env" ] && grep -q "MAC not on the allow-list" "$T/prov.log"
}
check "unknown MAC gets nothing" t_unknown_mac
t_unknown_vendor() {
	! dhcp pd vend -V "MSFT 5.0" && [ ! -s "$T/vend.env" ] &&
		grep -q "vendor class matches no phone model" "$T/prov.log"
}
check "unknown vendor class gets nothing" t_unknown_vendor

t_sticky() {
	local before after
	before=$(nsx gw $N phone list | grep 00:1b:54:aa:bb:0c)
	cp "$T/cisco.env" "$T/cisco1.env"
	dhcp pa cisco -V "" -x "0x3c:$CISCO_HEX" || return 1
	after=$(nsx gw $N phone list | grep 00:1b:54:aa:bb:0c)
	echo "$before / $after"
	[ "$before" = "$after" ] && diff -q "$T/cisco1.env" "$T/cisco.env" >/dev/null
}
check "a second DHCP run keeps the address and range" t_sticky

t_garbage() {
	local i
	for i in $(seq 20); do
		head -c $((RANDOM % 600)) /dev/urandom |
			ip netns exec "$(ns_name pc)" socat -u - UDP-DATAGRAM:255.255.255.255:67,broadcast,sourceport=68 2>/dev/null
	done
	sleep 0.3
	kill -0 $PROV
}
check "garbage on port 67 crashes nothing" t_garbage

t_kill9() {
	kill -9 $PROV
	wait $PROV 2>/dev/null
	: >"$T/prov.log"
	start_prov || return 1
	grep "maps reconciled" "$T/prov.log"
	grep -q "maps reconciled: 2 kept, 0 added, 0 updated, 0 removed" "$T/prov.log" &&
		[ "$(sqlite3 "$T/leases.db" 'select count(*) from leases')" = 2 ]
}
check "kill -9 and restart: leases kept, maps untouched" t_kill9

t_release() {
	local pid i
	# busybox udhcpc -q -R exits before it counts as bound and sends no
	# RELEASE; a bound client told SIGUSR2 does.
	rm -f "$T/rel.env"
	OUT="$T/rel.env" ip netns exec "$(ns_name pa)" timeout 30 udhcpc -i eth0 -f -t 3 -T 1 -A 1 \
		-s "$T/script" -V "" -x "0x3c:$CISCO_HEX" >"$T/release.out" 2>&1 &
	pid=$!
	for i in $(seq 50); do [ -s "$T/rel.env" ] && break; sleep 0.1; done
	pkill -USR2 -P $pid udhcpc # pid is timeout's; udhcpc is its child
	sleep 0.5
	kill $pid 2>/dev/null
	wait $pid 2>/dev/null
	cat "$T/release.out"
	! nsx gw $N phone list | grep -q 00:1b:54:aa:bb:0c &&
		[ "$(sqlite3 "$T/leases.db" 'select count(*) from leases')" = 1 ] &&
		grep -q "lease release mac=00:1b:54:aa:bb:0c" "$T/prov.log" &&
		[ ! -e "$T/tftp/SEP001B54AABB0C.cnf.xml" ] &&
		[ ! -e "$T/tftp/.leases/SEP001B54AABB0C.cnf.xml" ]
}
check "RELEASE frees the lease, the mapping and the config file" t_release
[ "$T_FAIL" -gt 0 ] && { echo "--- provisioner log"; tail -20 "$T/prov.log"; }

kill $PROV 2>/dev/null
check_summary
