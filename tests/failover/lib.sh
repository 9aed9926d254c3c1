# shellcheck shell=bash
# Two gateways, A and standby B, in namespaces, for the failover test and
# benchmark (issue 14):
#
#  [p1..pN] phones --.                 lan0 [ga] wan0 --.
#   00:1b:54:00:00:0N  +-- [sw] br0 --                   +-- br0 [inet]
#                      '               lan0 [gb] wan0 --'  198.18.0.254/24
#  VIP (VRRP):  100.64.0.1/16 on lan0 (router, DHCP    198.51.100.7 (lo):
#               server identifier, TFTP)                the echo host
#               203.0.113.0-15/32 on wan0 (the public pool, on-link for
#               inet: it ARPs for each address, keepalived's gratuitous
#               ARPs move them)
#  A: lan0 192.0.2.2/24 wan0 198.18.0.1/24; B: 192.0.2.3/24, 198.18.0.2/24
#
# The gateways' own LAN addresses are outside the phones' pool, so the
# VIP is their only address in 100.64.0.0/16 and the kernel answers
# phones from it.  Both gateways attach the whole public pool; keepalived
# runs in each gateway's namespace with its own config and pid files in
# $T, and its notify script (etc/keepalived/nappt-notify.sh) starts the
# provisioner on MASTER and stops it otherwise.
#
# The lease store is one PostgreSQL database (tests/lib/pg.sh, PG_URI)
# with the pools in two parts: A claims part 0, B part 1, and B's notify
# script takes A's over (epoch + 1) before B's provisioner starts.
#
# Needs tests/lib/netns.sh, tests/lib/pg.sh (started), BUILD, SRC, T,
# BPFFS.  Sets GA, GB, INET.

FO_PHONES=${FO_PHONES:-4}
FO_ADVERT=${FO_ADVERT:-0.1}
FO_PORT=7000
# FO_BULK more leases through A before the failover (perfdhcp relayed from
# the LAN), so that B's takeover loads that many; smaller slots so that
# part 0 (8 public addresses) holds them.
FO_BULK=${FO_BULK:-0}
FO_SLOT_SIZE=${FO_SLOT_SIZE:-1024}
CISCO_VC='Cisco Systems, Inc. IP Phone CP-7940G'

fo_mac() { printf '00:1b:54:00:00:%02x' "$1"; }

fo_gateway_ns() {
	local g=$1 lanip=$2 wanip=$3
	veth "$g:lan0" "sw:$g" && veth "$g:wan0" "inet:$g" || return 1
	ip -n "$(ns_name sw)" link set "$g" master br0
	ip -n "$(ns_name inet)" link set "$g" master br0
	ip -n "$(ns_name "$g")" addr add "$lanip" dev lan0
	ip -n "$(ns_name "$g")" addr add "$wanip" dev wan0
	ip -n "$(ns_name "$g")" route add 198.51.100.0/24 via 198.18.0.254
	# A frame redirected into a veth is received only if XDP runs on
	# the peer.
	nsx sw "$BUILD/nappt-test-pass" attach "$g" >/dev/null || return 1
	nsx inet "$BUILD/nappt-test-pass" attach "$g" >/dev/null || return 1
	ip netns exec "$(ns_name inet)" ethtool -K "$g" tx off >/dev/null
	# Both attach the whole public pool with the VIP as the LAN gateway
	# address; only the MASTER's kernel owns the addresses (ARP).
	nsx "$g" "$BUILD/nappt" --pin-dir "$BPFFS/$g" attach --lan lan0 \
		--wan wan0 --lan-pool 100.64.0.0/16 --pub-pool 203.0.113.0/28 \
		--lan-gw 100.64.0.1 --slot-size "$FO_SLOT_SIZE" --mode native >/dev/null
}

# fo_conf G PRIO PART PEER: provisioner and keepalived configuration of
# gateway G, which claims pool part PART of 2 (part 0: 203.0.113.0-7 and
# the private addresses derived from them, lan_net + public index x
# 65536 / FO_SLOT_SIZE + slot: 100.64.0.0 - 100.64.1.255 with 1024-port
# slots; part 1 the rest) and takes over PEER's on MASTER.
fo_conf() {
	local g=$1 prio=$2 part=$3 peer=$4 i db=${PG_URI//&/\\&}
	mkdir -p "$T/$g/phones"
	sed -e "s|^interface = .*|interface = lan0|" \
		-e "s|^gateway = .*|gateway = 100.64.0.1\nserver_id = 100.64.0.1\ngateway_id = $g\npool_parts = 2\nclaim = $part|" \
		-e "s|^tftp_server = .*|tftp_server = 100.64.0.1|" \
		-e "s|^pin_dir = .*|pin_dir = $BPFFS/$g|" \
		-e "s|^phone_dir = .*|phone_dir = $T/$g/phones|" \
		-e "s|^lease_db = .*|lease_db = $db|" \
		-e "s|^stats_file = .*|stats_file = $T/$g/stats.prom|" \
		-e "s|^slot_size = .*|slot_size = $FO_SLOT_SIZE|" \
		-e "s|^new_lease_rate = .*|new_lease_rate = $([ "$FO_BULK" -gt 0 ] && echo 0 || echo 50)|" \
		"$SRC/provisioner/provisioner.conf.example" >"$T/$g/prov.conf"
	# What the notify script starts and stops (etc/keepalived/README).
	cat >"$T/$g/notify.env" <<EOF
PROV=$BUILD/nappt-provisioner
PROV_CONF=$T/$g/prov.conf
PROV_ARGS="--templates $SRC/provisioner/templates"
PROV_PIDFILE=$T/$g/prov.pid
PROV_LOG=$T/$g/prov.log
PEER=$peer
NOTIFY_LOG=$T/$g/notify.log
NOTIFY_LOCK=$T/$g/notify.lock
NAPPT="$BUILD/nappt --pin-dir $BPFFS/$g"
EMPTY_PIDFILE=$T/$g/empty.pid
EOF
	{
		cat <<EOF
global_defs {
	router_id nappt-$g
	vrrp_version 3
	script_user root
	enable_script_security
	vrrp_garp_master_repeat 2
	vrrp_garp_master_refresh 0
}
vrrp_instance nappt {
	state BACKUP
	nopreempt
	interface lan0
	virtual_router_id 51
	priority $prio
	advert_int $FO_ADVERT
	track_interface {
		wan0
	}
	virtual_ipaddress {
		100.64.0.1/16 dev lan0
EOF
		for i in $(seq 0 15); do
			echo "		203.0.113.$i/32 dev wan0"
		done
		cat <<EOF
	}
	notify_master "$T/nappt-notify.sh MASTER $T/$g/notify.env"
	notify_backup "$T/nappt-notify.sh BACKUP $T/$g/notify.env"
	notify_fault "$T/nappt-notify.sh FAULT $T/$g/notify.env"
	notify_stop "$T/nappt-notify.sh STOP $T/$g/notify.env"
}
EOF
	} >"$T/$g/keepalived.conf"
}

fo_keepalived() {
	local g=$1
	ip netns exec "$(ns_name "$g")" keepalived -n -l -D -G -P \
		-f "$T/$g/keepalived.conf" -p "$T/$g/ka.pid" \
		-r "$T/$g/ka-vrrp.pid" -c "$T/$g/ka-chk.pid" \
		-i "nappt-$g" >"$T/$g/keepalived.log" 2>&1 &
	ns_track $!
	echo $! >"$T/$g/ka-main.pid"
	# It dies by SIGKILL on purpose: no job report from bash.
	disown $!
}

# fo_wait_vip G SECONDS: until G holds the LAN VIP.
fo_wait_vip() {
	local g=$1 i
	for i in $(seq $(($2 * 10))); do
		ip -n "$(ns_name "$g")" -4 addr show dev lan0 2>/dev/null |
			grep -q ' 100.64.0.1/16' && return 0
		sleep 0.1
	done
	return 1
}

# fo_wait_serving G: until G's provisioner says it serves.
fo_wait_serving() {
	local g=$1 i
	for i in $(seq 100); do
		grep -q "serving DHCP" "$T/$g/prov.log" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$T/$g/prov.log" "$T/$g/notify.log" 2>/dev/null
	return 1
}

fo_up() {
	local n i
	for n in sw inet ga gb; do ns_add $n >/dev/null || return 1; done
	GA=$(ns_name ga)
	GB=$(ns_name gb)
	INET=$(ns_name inet)
	ip -n "$(ns_name sw)" link add br0 type bridge
	ip -n "$(ns_name sw)" link set br0 up
	ip -n "$INET" link add br0 type bridge
	ip -n "$INET" link set br0 up
	ip -n "$INET" addr add 198.18.0.254/24 dev br0
	ip -n "$INET" addr add 198.51.100.7/32 dev lo
	# The public pool is on-link on the WAN segment: inet ARPs for each
	# address, and whoever answers (the VRRP master) gets its traffic.
	ip -n "$INET" route add 203.0.113.0/28 dev br0
	ip netns exec "$INET" ethtool -K br0 tx off >/dev/null
	fo_gateway_ns ga 192.0.2.2/24 198.18.0.1/24 || return 1
	fo_gateway_ns gb 192.0.2.3/24 198.18.0.2/24 || return 1
	for i in $(seq "$FO_PHONES"); do
		ns_add "p$i" >/dev/null || return 1
		veth "p$i:eth0" "sw:p$i" || return 1
		ip -n "$(ns_name sw)" link set "p$i" master br0
		ip -n "$(ns_name "p$i")" link set eth0 address "$(fo_mac "$i")"
		# XDP sees what a wire carries: full checksums.
		ip netns exec "$(ns_name "p$i")" ethtool -K eth0 tx off >/dev/null
	done
	install -m 0755 "$SRC/etc/keepalived/nappt-notify.sh" "$T/nappt-notify.sh"
	fo_conf ga 150 0 gb
	fo_conf gb 100 1 ga
	cat >"$T/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
# The phone: apply the lease (no default route), log what the server said.
case "$1" in
bound)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	ip route add 198.51.100.0/24 via "$router" dev "$interface"
	echo "bound ip=$ip serverid=$serverid router=$router" >>"$OUT"
	;;
renew)
	echo "renew ip=$ip serverid=$serverid router=$router" >>"$OUT"
	;;
deconfig | leasefail | nak)
	echo "$1" >>"$OUT"
	;;
esac
exit 0
SCRIPT
	chmod +x "$T/udhcpc.sh"
}

# fo_phones_dhcp: every phone runs udhcpc in the background (kept for the
# renewals); returns once all are bound.
fo_phones_dhcp() {
	local i j vc
	vc=$(printf '%s' "$CISCO_VC" | od -An -tx1 | tr -d ' \n')00
	for i in $(seq "$FO_PHONES"); do
		OUT="$T/p$i.events" ip netns exec "$(ns_name "p$i")" \
			udhcpc -i eth0 -f -t 5 -T 1 -A 1 -s "$T/udhcpc.sh" -V "" \
			-x "0x3c:$vc" >"$T/p$i.udhcpc" 2>&1 &
		ns_track $!
		echo $! >"$T/p$i.udhcpc.pid"
	done
	for i in $(seq "$FO_PHONES"); do
		for j in $(seq 100); do
			grep -q '^bound' "$T/p$i.events" 2>/dev/null && break
			sleep 0.1
		done
		grep -q '^bound' "$T/p$i.events" 2>/dev/null || {
			echo "phone $i got no lease"
			cat "$T/p$i.udhcpc"
			return 1
		}
	done
}

# fo_bulk N: N more leases through A, perfdhcp relaying from a LAN host
# at 100.64.255.200 (part 1's half of the LAN pool: no phone there).
fo_bulk() {
	local n=$1 vc got
	[ "$n" -gt 0 ] || return 0
	vc=$(printf '%s' "$CISCO_VC" | od -An -tx1 | tr -d ' \n')00
	ns_add bulk >/dev/null || return 1
	veth bulk:eth0 sw:bulk || return 1
	ip -n "$(ns_name sw)" link set bulk master br0
	ip -n "$(ns_name bulk)" addr add 100.64.255.200/16 dev eth0
	ip netns exec "$(ns_name bulk)" timeout 120 perfdhcp -4 -l eth0 -r "${FO_BULK_RATE:-100}" \
		-R "$n" -n "$n" -p 60 -b mac=00:1b:54:40:00:00 -o "60,$vc" \
		100.64.0.1 >"$T/bulk.out" 2>&1
	got=$(nsx ga "$BUILD/nappt" --pin-dir "$BPFFS/ga" phone list | wc -l)
	echo "bulk: $got mappings on A" >&2
	[ "$got" -ge $((n * 9 / 10)) ] || { tail -20 "$T/bulk.out"; return 1; }
}

# fo_phone_map G I: "PRIV PUB FIRST LAST" of phone I in G's data plane.
fo_phone_map() {
	local mac
	mac=$(fo_mac "$2")
	nsx "$1" "$BUILD/nappt" --pin-dir "$BPFFS/$1" phone list 2>/dev/null |
		awk -v m="$mac" '$2 == m { split($4, r, "-"); print $1, $3, r[1], r[2] }'
}

# fo_kill_a: gateway A dies: links down, then every process of it killed
# (keepalived with SIGKILL sends no priority-0 advert: B must notice the
# silence), then its programs detached.
fo_kill_a() {
	local f
	ip -n "$GA" link set lan0 down
	ip -n "$GA" link set wan0 down
	# The parent first: it would start a new VRRP child.
	for f in ka-main ka ka-vrrp ka-chk; do
		[ -s "$T/ga/$f.pid" ] && kill -9 "$(cat "$T/ga/$f.pid")" 2>/dev/null
	done
	# The provisioner runs in its own session (setsid): its group
	# holds the parser and the map writer.
	[ -s "$T/ga/prov.pid" ] && kill -9 -- "-$(cat "$T/ga/prov.pid")" 2>/dev/null
	nsx ga "$BUILD/nappt" --pin-dir "$BPFFS/ga" detach >/dev/null 2>&1
	return 0
}

# fo_cleanup: what the notify scripts started is not in NS_PIDS.
fo_cleanup() {
	local g
	for g in ga gb; do
		[ -s "$T/$g/prov.pid" ] && kill -9 -- "-$(cat "$T/$g/prov.pid")" 2>/dev/null
		[ -s "$T/$g/empty.pid" ] && kill -9 -- "-$(cat "$T/$g/empty.pid")" 2>/dev/null
		for f in ka ka-vrrp ka-chk; do
			[ -s "$T/$g/$f.pid" ] && kill -9 "$(cat "$T/$g/$f.pid")" 2>/dev/null
		done
	done
	ns_cleanup
	pg_cleanup
	rm -rf "$T"
}
