# shellcheck shell=bash
# The gateway topology shared by the e2e tests and the demo:
#
#   [pa] $PA_IP --.
#                  +-- [sw] bridge --- lan0 [gw] wan0 --- gw0 [inet] far0 --- eth0 [far]
#   [pb] $PB_IP --'                100.64.0.1   198.18.0.1    198.18.0.2     198.18.1.2
#                                       public pool 203.0.113.0/28   198.51.100.7   198.51.100.66
#                                                                   (lo, "SIP")    (lo)
# The inet->far route has a locked MTU of 1280: a PMTUD test path.
# Phones get routes to the test ranges via the gateway, never a default
# route.  Requires tests/lib/netns.sh; uses $NAPPT (loader with --pin-dir).
#
# Phone A leases 203.0.113.1 ports 2048-3071, phone B the adjacent
# 3072-4095 on the same public address.  Their private addresses are
# derived from that (issue 13: lan_net + public index x slots per address
# + first slot), so topo_up asks the loader (`nappt phone addr`) once the
# data plane is attached and sets PA_IP and PB_IP (100.64.0.66 and .67
# with these pools).
MAC_A=02:00:00:00:00:0a
MAC_B=02:00:00:00:00:0b

topo_up() {
	local mode=$1 n
	for n in gw sw pa pb inet far; do ns_add "$n" >/dev/null || return 1; done
	veth pa:eth0 sw:pa && veth pb:eth0 sw:pb && veth gw:lan0 sw:gw &&
		veth gw:wan0 inet:gw0 && veth inet:far0 far:eth0 || return 1

	ip -n "$(ns_name sw)" link add br0 type bridge
	for n in pa pb gw; do ip -n "$(ns_name sw)" link set "$n" master br0; done
	ip -n "$(ns_name sw)" link set br0 up

	ip -n "$(ns_name pa)" link set eth0 address $MAC_A
	ip -n "$(ns_name pb)" link set eth0 address $MAC_B

	ip -n "$(ns_name gw)" addr add 100.64.0.1/16 dev lan0
	ip -n "$(ns_name gw)" addr add 198.18.0.1/24 dev wan0
	ip -n "$(ns_name gw)" addr add 203.0.113.1/32 dev lo
	ip -n "$(ns_name gw)" route add 198.51.100.0/24 via 198.18.0.2
	ip netns exec "$(ns_name gw)" sysctl -qw net.ipv4.ip_forward=1

	ip -n "$(ns_name inet)" addr add 198.18.0.2/24 dev gw0
	ip -n "$(ns_name inet)" addr add 198.51.100.7/32 dev lo
	ip -n "$(ns_name inet)" addr add 198.18.1.1/24 dev far0
	ip -n "$(ns_name inet)" route add 203.0.113.0/24 via 198.18.0.1
	ip -n "$(ns_name inet)" route add 198.51.100.66/32 via 198.18.1.2 mtu lock 1280
	ip netns exec "$(ns_name inet)" sysctl -qw net.ipv4.ip_forward=1

	ip -n "$(ns_name far)" addr add 198.18.1.2/24 dev eth0
	ip -n "$(ns_name far)" addr add 198.51.100.66/32 dev lo
	ip -n "$(ns_name far)" route add 203.0.113.0/24 via 198.18.1.1
	ip -n "$(ns_name far)" route add 198.18.0.0/24 via 198.18.1.1

	if [ "${mode#tc}" = "$mode" ]; then
		# XDP sees what the wire carries: full checksums.  Sockets in
		# these namespaces would otherwise hand veth CHECKSUM_PARTIAL
		# packets, which only the TC path can fix up.
		for n in pa:eth0 pb:eth0 inet:gw0 inet:far0 far:eth0; do
			ip netns exec "$(ns_name ${n%%:*})" ethtool -K "${n#*:}" tx off >/dev/null
		done
		# A frame redirected into a veth is received only if XDP runs
		# on the peer.
		nsx sw "$(dirname "$NAPPT_BIN")/nappt-test-pass" attach gw || return 1
		nsx inet "$(dirname "$NAPPT_BIN")/nappt-test-pass" attach gw0 || return 1
	fi

	nsx gw $NAPPT attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/16 \
		--pub-pool 203.0.113.0/28 --mode "$mode" || return 1
	PA_IP=$(nsx gw $NAPPT phone addr 203.0.113.1 2048-3071) || return 1
	PB_IP=$(nsx gw $NAPPT phone addr 203.0.113.1 3072-4095) || return 1
	nsx gw $NAPPT phone add "$PA_IP" $MAC_A 203.0.113.1 2048-3071 || return 1
	nsx gw $NAPPT phone add "$PB_IP" $MAC_B 203.0.113.1 3072-4095 || return 1
	ip -n "$(ns_name pa)" addr add "$PA_IP/16" dev eth0
	ip -n "$(ns_name pb)" addr add "$PB_IP/16" dev eth0
	for n in pa pb; do
		ip -n "$(ns_name $n)" route add 198.51.100.0/24 via 100.64.0.1
		ip -n "$(ns_name $n)" route add 203.0.113.0/24 via 100.64.0.1
	done
}

# cap_start NS IF FILTER: capture in the background into $T/cap.NS.pcap
# and return once tcpdump listens.
cap_start() {
	local ns=$1 ifc=$2 filter=$3 i
	rm -f "$T/cap.$ns.pcap" "$T/cap.$ns.err"
	ip netns exec "$(ns_name "$ns")" timeout 20 tcpdump -i "$ifc" -n -U --immediate-mode -Z root -w "$T/cap.$ns.pcap" "$filter" 2>"$T/cap.$ns.err" &
	CAP_PID=$!
	ns_track $CAP_PID
	for i in $(seq 50); do
		grep -q listening "$T/cap.$ns.err" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# cap_stop NS: stop the capture and print it as text.
cap_stop() {
	sleep 0.3
	kill -INT "$CAP_PID" 2>/dev/null
	wait "$CAP_PID" 2>/dev/null
	tcpdump -n -r "$T/cap.$1.pcap" 2>/dev/null
}

# stat NAME: one data-plane counter's packets.
stat() {
	nsx gw $NAPPT stats | awk -v n="$1" '$1 == n { print $2 }'
}
