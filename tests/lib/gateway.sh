# shellcheck shell=bash
# The whole gateway in namespaces, for the provisioner tests and the demo:
#
#   [pa] Cisco 00:1b:54:aa:bb:0c --.
#   [pb] Polycom 00:04:f2:01:02:03 -+- [sw] bridge -- lan0 [gw] wan0 -- gw0 [inet]
#   [pc] unknown 02:11:22:33:44:55 -+            100.64.0.1   198.18.0.1    198.51.100.7
#   [pd] Cisco OUI, other vendor --+            public pool 203.0.113.0/28
#   [pe] Yealink 80:5e:c0:11:22:33 -'  
#
# The data plane is attached (native XDP), phones have no address until
# DHCP gives them one.  Needs tests/lib/netns.sh, BUILD, SRC, T, BPFFS;
# sets GW, INET, N (the loader with its pin dir).

gateway_up() {
	local n
	for n in gw sw pa pb pc pd pe inet; do ns_add $n >/dev/null || return 1; done
	GW=$(ns_name gw)
	INET=$(ns_name inet)
	N="$BUILD/nappt --pin-dir $BPFFS/nappt"
	veth gw:lan0 sw:gw && veth gw:wan0 inet:gw0 || return 1
	ip -n "$(ns_name sw)" link add br0 type bridge
	ip -n "$(ns_name sw)" link set br0 up
	ip -n "$(ns_name sw)" link set gw master br0
	for n in pa pb pc pd pe; do
		veth $n:eth0 sw:$n || return 1
		ip -n "$(ns_name sw)" link set $n master br0
		# XDP sees what a wire carries: full checksums.
		ip netns exec "$(ns_name $n)" ethtool -K eth0 tx off >/dev/null
	done
	ip -n "$(ns_name pa)" link set eth0 address 00:1b:54:aa:bb:0c
	ip -n "$(ns_name pb)" link set eth0 address 00:04:f2:01:02:03
	ip -n "$(ns_name pc)" link set eth0 address 02:11:22:33:44:55
	ip -n "$(ns_name pd)" link set eth0 address 00:1b:54:00:00:01
	ip -n "$(ns_name pe)" link set eth0 address 80:5e:c0:11:22:33
	ip -n "$GW" addr add 100.64.0.1/16 dev lan0
	ip -n "$GW" addr add 198.18.0.1/24 dev wan0
	ip -n "$GW" route add 198.51.100.0/24 via 198.18.0.2
	ip -n "$INET" addr add 198.18.0.2/24 dev gw0
	ip -n "$INET" addr add 198.51.100.7/32 dev lo
	ip -n "$INET" route add 203.0.113.0/24 via 198.18.0.1
	ip netns exec "$INET" ethtool -K gw0 tx off >/dev/null
	# A frame redirected into a veth is received only if XDP runs on
	# the peer.
	nsx sw "$BUILD/nappt-test-pass" attach gw || return 1
	nsx inet "$BUILD/nappt-test-pass" attach gw0 || return 1
	nsx gw $N attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/16 \
		--pub-pool 203.0.113.0/28 >/dev/null || return 1

	mkdir -p "$T/tftp"
	sed -e "s|^pin_dir = .*|pin_dir = $BPFFS/nappt|" \
		-e "s|^phone_dir = .*|phone_dir = $T/tftp|" \
		-e "s|^lease_db = .*|lease_db = $T/leases.db|" \
		-e "s|^stats_file = .*|stats_file = $T/stats.prom|" \
		"$SRC/provisioner/provisioner.conf.example" >"$T/prov.conf"

	# The phones' udhcpc event script (what it keeps in $OUT: see there).
	install -m 0755 "$SRC/tests/lib/udhcpc-event.sh" "$T/script"
}

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

# dhcp NS NAME UDHCPC-ARGS...: one lease attempt, quit when bound; what
# the server said lands in $T/NAME.env.
dhcp() {
	local ns=$1 name=$2
	shift 2
	OUT="$T/$name.env" ip netns exec "$(ns_name "$ns")" timeout 15 \
		udhcpc -i eth0 -f -q -n -t 3 -T 1 -A 1 -s "$T/script" "$@" >"$T/$name.out" 2>&1
}

# Cisco phones send option 60 with a trailing NUL: udhcpc -x 0x3c:$CISCO_HEX.
CISCO_HEX=$(printf 'Cisco Systems, Inc. IP Phone CP-7940G' | od -An -tx1 | tr -d ' \n')00
