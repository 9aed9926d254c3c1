#!/usr/bin/env bash
# End-to-end: real traffic from phones through the gateway to an
# internet host and back, in network namespaces, with the data plane
# attached by the loader in MODE (native XDP, generic XDP or tc).
#
# Proves invariant 2 on the wire: a phone's packets leave with its public
# address and its own, unchanged source port; what is outside its range
# does not leave; inbound (public address, port) reaches the phone on its
# private address.  Also: ping both ways, TCP both ways, hairpin, PMTUD
# through a 1280-byte link, and a program upgrade under load without loss.
set -u
BUILD=$(realpath "${1:-build}")
MODE=${2:-native}
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/topo.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"' EXIT
bpffs_setup
NAPPT_BIN=$BUILD/nappt
NAPPT="$NAPPT_BIN --pin-dir $BPFFS/nappt"

echo "# e2e mode=$MODE"
if ! topo_up "$MODE"; then
	echo "topology setup failed"
	echo "0 passed, 1 failed"
	exit 1
fi
PA=$(ns_name pa)
PB=$(ns_name pb)
INET=$(ns_name inet)
FAR=$(ns_name far)

t_ping_out() {
	# The echo identifier plays the port: one inside the range.
	ip netns exec "$PA" ping -n -c 3 -i 0.2 -W 2 -e 2500 198.51.100.7
}

t_udp_out() {
	cap_start inet gw0 "udp and dst port 5060" || return 1
	ip netns exec "$INET" timeout 5 socat -u UDP-RECV:5060 CREATE:"$T/udp.rx" &
	sleep 0.3
	echo "REGISTER sip:gw" | ip netns exec "$PA" socat -u - UDP:198.51.100.7:5060,sourceport=2100
	local out
	out=$(cap_stop inet)
	echo "$out"
	grep -q "IP 203.0.113.1.2100 > 198.51.100.7.5060: " <<<"$out" || return 1
	! grep -q "100.64" <<<"$out" || return 1
	sleep 0.2
	grep -q "REGISTER sip:gw" "$T/udp.rx"
}

t_udp_in() {
	ip netns exec "$PA" timeout 5 socat -u UDP-RECVFROM:2101 SYSTEM:'echo "$SOCAT_PEERADDR:$SOCAT_PEERPORT" >'"$T/udp_in.peer"'; cat >'"$T/udp_in.rx" &
	sleep 0.3
	echo "INVITE" | ip netns exec "$INET" socat -u - UDP:203.0.113.1:2101,bind=198.51.100.7,sourceport=5062
	sleep 0.5
	grep -q INVITE "$T/udp_in.rx" && grep -qx "198.51.100.7:5062" "$T/udp_in.peer"
}

t_tcp_out() {
	head -c 300000 /dev/urandom >"$T/tcp.src"
	ip netns exec "$INET" timeout 10 socat -u TCP-LISTEN:8080,reuseaddr SYSTEM:'echo "$SOCAT_PEERADDR:$SOCAT_PEERPORT" >'"$T/tcp_out.peer"'; cat >'"$T/tcp_out.rx" &
	sleep 0.3
	ip netns exec "$PA" timeout 10 socat -u OPEN:"$T/tcp.src" TCP:198.51.100.7:8080,sourceport=2200 || return 1
	sleep 0.5
	cat "$T/tcp_out.peer"
	grep -qx "203.0.113.1:2200" "$T/tcp_out.peer" && cmp "$T/tcp.src" "$T/tcp_out.rx"
}

t_tcp_in() {
	head -c 300000 /dev/urandom >"$T/tcpin.src"
	ip netns exec "$PA" timeout 10 socat -u TCP-LISTEN:2300,reuseaddr CREATE:"$T/tcp_in.rx" &
	sleep 0.3
	ip netns exec "$INET" timeout 10 socat -u OPEN:"$T/tcpin.src" TCP:203.0.113.1:2300,bind=198.51.100.7 || return 1
	sleep 0.5
	cmp "$T/tcpin.src" "$T/tcp_in.rx"
}

t_port_outside_out() {
	local before after out
	before=$(stat drop_port_range)
	cap_start inet gw0 "udp" || return 1
	echo "leak?" | ip netns exec "$PA" socat -u - UDP:198.51.100.7:5070,sourceport=5000
	# A packet inside the range right after: the capture works.
	echo "fine" | ip netns exec "$PA" socat -u - UDP:198.51.100.7:5071,sourceport=2103
	out=$(cap_stop inet)
	after=$(stat drop_port_range)
	echo "capture: ${out:-nothing}; drop_port_range $before -> $after"
	grep -q "203.0.113.1.2103 > 198.51.100.7.5071" <<<"$out" || return 1
	! grep -qE "\.5000 >|5070" <<<"$out" && [ "$after" -gt "$before" ]
}

t_port_outside_in() {
	local before after
	before=$(stat pass_no_mapping)
	ip netns exec "$PA" timeout 3 socat -u UDP-RECV:4500 CREATE:"$T/in4500.rx" &
	sleep 0.3
	echo "stray" | ip netns exec "$INET" socat -u - UDP:203.0.113.1:4500,bind=198.51.100.7
	sleep 1
	after=$(stat pass_no_mapping)
	echo "pass_no_mapping $before -> $after"
	[ ! -s "$T/in4500.rx" ] && [ "$after" -gt "$before" ]
}

t_hairpin() {
	ip netns exec "$PB" timeout 5 socat -u UDP-RECVFROM:3100 SYSTEM:'echo "$SOCAT_PEERADDR:$SOCAT_PEERPORT" >'"$T/hp.peer"'; cat >'"$T/hp.rx" &
	sleep 0.3
	echo "hello b" | ip netns exec "$PA" socat -u - UDP:203.0.113.1:3100,sourceport=2102
	sleep 0.5
	cat "$T/hp.peer" 2>/dev/null
	grep -q "hello b" "$T/hp.rx" && grep -qx "203.0.113.1:2102" "$T/hp.peer"
}

t_pmtud() {
	local before after
	before=$(stat icmp_in)
	head -c 2000000 /dev/urandom >"$T/big.src"
	ip netns exec "$FAR" timeout 20 socat -u TCP-LISTEN:9000,reuseaddr CREATE:"$T/big.rx" &
	sleep 0.3
	ip netns exec "$PA" ip route flush cache
	ip netns exec "$PA" timeout 20 socat -u OPEN:"$T/big.src" TCP:198.51.100.66:9000,sourceport=2400 || return 1
	sleep 0.5
	after=$(stat icmp_in)
	echo "icmp_in $before -> $after; phone's route: $(ip netns exec "$PA" ip route get 198.51.100.66 | head -2 | tr '\n' ' ')"
	cmp "$T/big.src" "$T/big.rx" && [ "$after" -gt "$before" ]
}

t_upgrade_no_loss() {
	local out
	ip netns exec "$PA" ping -n -q -c 300 -i 0.01 -W 1 -e 2600 198.51.100.7 >"$T/ping.out" 2>&1 &
	local p=$!
	sleep 0.8
	nsx gw $NAPPT upgrade || return 1
	sleep 0.5
	nsx gw $NAPPT upgrade || return 1
	wait $p
	out=$(cat "$T/ping.out")
	echo "$out" | tail -2
	grep -q " 0% packet loss" <<<"$out"
}

t_counters() {
	nsx gw $NAPPT stats
	[ "$(stat out_xlate)" -gt 0 ] && [ "$(stat in_xlate)" -gt 0 ] &&
		[ "$(stat hairpin)" -gt 0 ] && [ "$(stat icmp_out)" -gt 0 ]
}

check "[$MODE] ping phone -> internet, replies come back" t_ping_out
check "[$MODE] udp out: public source, port unchanged" t_udp_out
check "[$MODE] udp in to (public ip, port) reaches the phone" t_udp_in
check "[$MODE] tcp out, 300 kB byte-exact, port unchanged" t_tcp_out
check "[$MODE] tcp in, 300 kB byte-exact" t_tcp_in
check "[$MODE] source port outside range does not leave" t_port_outside_out
check "[$MODE] inbound port outside range not delivered" t_port_outside_in
check "[$MODE] hairpin phone a -> phone b via public address" t_hairpin
check "[$MODE] pmtud: 2 MB tcp through a 1280-byte link" t_pmtud
check "[$MODE] upgrade under ping load: no loss" t_upgrade_no_loss
check "[$MODE] counters moved" t_counters
check_summary
