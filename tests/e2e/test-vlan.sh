#!/usr/bin/env bash
# End-to-end: a voice VLAN (issue 12).  The phones' LAN side is 802.1Q
# VLAN 100 on a wire that also carries an untagged network and VLAN 200.
#
#   [ph] eth0 ------------------- lan0 [gw] wan0 ------ gw0 [inet]
#        tagged 100: 100.64.0.66 (derived) (XDP, VID 100)     198.51.100.7
#        untagged, tagged 200
#
# Part 1, every XDP mode: `nappt attach --lan lan0 --lan-vlan 100` (the
# program on the parent matches the tag).  The phone's frames are built
# by tests/e2e/craft.py (AF_PACKET), tag in the frame as on a wire to a
# NIC without VLAN offload; the internet host echoes them.  Proven on the
# wire: tagged 100 frames leave translated and untagged on the WAN, the
# echoes reach the phone translated and tagged 100, untagged and VLAN 200
# frames are passed untouched and never translated.
#
# Part 2, with a kernel that has 802.1Q (CONFIG_VLAN_8021Q): the real
# VLAN device lan0.100, the provisioner serving DHCP on it, the phone's
# lease taken by udhcpc on its own eth0.100, and a 1,000 pps numbered
# stream both ways; in native mode on the parent with --lan-vlan, in
# generic/TC mode attached to lan0.100 itself.  Skipped, and said, on a
# kernel without 802.1Q (the test VMs of 2026-12 have none).
set -u
BUILD=$(realpath "${1:-build}")
MODE=${2:-native}
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"' EXIT
bpffs_setup
N="$BUILD/nappt --pin-dir $BPFFS/nappt"
CRAFT="/usr/bin/python3 $SRC/tests/e2e/craft.py"
MAC_PH=00:1b:54:aa:bb:0c
CISCO_HEX=$(printf 'Cisco Systems, Inc. IP Phone CP-7940G' | od -An -tx1 | tr -d ' \n')00
POOLS="--wan wan0 --lan-pool 100.64.0.0/16 --pub-pool 203.0.113.0/28"

echo "# e2e vlan mode=$MODE"
topo() {
	local n
	for n in gw ph inet; do ns_add $n >/dev/null || return 1; done
	GW=$(ns_name gw)
	PH=$(ns_name ph)
	INET=$(ns_name inet)
	veth gw:lan0 ph:eth0 && veth gw:wan0 inet:gw0 || return 1
	ip -n "$PH" link set eth0 address $MAC_PH
	for n in "$GW:lan0" "$PH:eth0" "$INET:gw0"; do
		ip netns exec "${n%%:*}" ethtool -K "${n#*:}" txvlan off tx off >/dev/null 2>&1
	done
	# The untagged network on the same wire.
	ip -n "$GW" addr add 192.0.2.1/25 dev lan0
	ip -n "$PH" addr add 192.0.2.2/25 dev eth0
	ip -n "$GW" addr add 198.18.0.1/24 dev wan0
	ip -n "$GW" route add 198.51.100.0/24 via 198.18.0.2
	ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1
	ip -n "$INET" addr add 198.18.0.2/24 dev gw0
	ip -n "$INET" addr add 198.51.100.7/32 dev lo
	ip -n "$INET" route add 203.0.113.0/24 via 198.18.0.1
	# Redirected frames are received only where XDP runs on the peer.
	nsx ph "$BUILD/nappt-test-pass" attach eth0 &&
		nsx inet "$BUILD/nappt-test-pass" attach gw0 || return 1
	GW_MAC=$(ip netns exec "$GW" cat /sys/class/net/lan0/address)
}
if ! topo; then
	echo "topology setup failed"
	echo "0 passed, 1 failed"
	exit 1
fi
# Can this kernel make 802.1Q devices at all?
HAVE_8021Q=0
ip -n "$GW" link add link lan0 name lan0.999 type vlan id 999 2>/dev/null &&
	HAVE_8021Q=1 && ip -n "$GW" link del lan0.999

stat_of() { nsx gw $N stats | awk -v k="$1" '$1 == k { print $2 }'; }

t_refuse() {
	# Fail closed: TC on the parent sees frames with the tag already
	# taken off; a VID without a VLAN device and without --lan-gw has
	# nobody to serve the phones.
	! nsx gw $N attach --lan lan0 --lan-vlan 100 $POOLS --mode tc 2>"$T/err" &&
		grep -q "for TC give the VLAN device as --lan" "$T/err" &&
		! nsx gw $N attach --lan lan0 --lan-vlan 300 $POOLS --mode native 2>>"$T/err" &&
		grep -q "Failed to find the VLAN device of VID 300 on lan0" "$T/err" &&
		! nsx gw $N attach --lan lan0 --lan-vlan 4095 $POOLS 2>>"$T/err" &&
		! [ -e "$BPFFS/nappt/links/lan" ]
	local r=$?
	cat "$T/err"
	return $r
}
check "refused: --lan-vlan with TC, a VID without VLAN device or --lan-gw, VID 4095" t_refuse

# --- part 1: the program on the parent matches the tag ---------------------
case $MODE in
native | generic) ;;
*)
	echo "# part 1 is XDP only (TC: attach to the VLAN device)"
	PART1=0
	;;
esac
if [ "${PART1:-1}" = 1 ]; then
	t_attach() {
		ip netns exec "$GW" ethtool -K lan0 rxvlan on 2>/dev/null
		nsx gw $N attach --lan lan0 --lan-vlan 100 --lan-gw 100.64.0.1 $POOLS --mode "$MODE" &&
			# The tag must stay in the frame, where XDP sees it.
			ip netns exec "$GW" ethtool -k lan0 | grep -q "rx-vlan-offload: off" &&
			# Its private address is derived from the lease.
			PH_IP=$(nsx gw $N phone addr 203.0.113.1 2048-3071) &&
			nsx gw $N phone add "$PH_IP" $MAC_PH 203.0.113.1 2048-3071 &&
			nsx gw $N status | grep -q "voice vlan:  100" &&
			ip netns exec "$GW" ping -c 1 -W 2 198.18.0.2 >/dev/null
	}
	check "[$MODE] attach --lan lan0 --lan-vlan 100 (rx VLAN offload turned off), a phone leased" t_attach

	cat >"$T/echo.py" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.51.100.7", 4000))
s.settimeout(0.2)
end = time.time() + float(sys.argv[1])
with open(sys.argv[2], "w") as log:
    while time.time() < end:
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            continue
        log.write("%s:%d\n" % peer)
        log.flush()
        try:
            s.sendto(data, peer)
        except OSError:
            pass  # an untranslated source: no way back, as intended
PY
	ip netns exec "$INET" /usr/bin/python3 "$T/echo.py" 30 "$T/peers" &
	ns_track $!
	ip netns exec "$INET" tcpdump -i gw0 -nn -e -U --immediate-mode -w "$T/wan.pcap" udp port 4000 2>/dev/null &
	ns_track $!
	ip netns exec "$PH" tcpdump -i eth0 -nn -e -U --immediate-mode -w "$T/lan.pcap" udp port 4000 2>/dev/null &
	ns_track $!
	sleep 1

	# n frames from the phone: craft ARGS...
	burst() {
		local n=$1 i
		shift
		for i in $(seq "$n"); do
			ip netns exec "$PH" $CRAFT udp eth0 $MAC_PH "$GW_MAC" $PH_IP 198.51.100.7 2100 4000 "$@" || return 1
		done
		sleep 0.5
	}
	# until N CMD...: up to N tenths of a second for CMD to hold (the
	# echo's round trip and the captures lag on a loaded machine).
	until_ok() {
		local n=$1 i
		shift
		for i in $(seq "$n"); do
			"$@" && return 0
			sleep 0.1
		done
		"$@"
	}
	wan_lines() { tcpdump -r "$T/wan.pcap" -nn -e 2>/dev/null; }
	lan_tagged() { lan_lines | grep -c "vlan 100, .*198.51.100.7.4000 > $PH_IP.2100"; }
	count_is() { [ "$("${@:2}")" = "$1" ]; }
	lan_lines() { tcpdump -r "$T/lan.pcap" -nn -e 2>/dev/null | grep '198.51.100.7.4000 >'; }

	t_tagged() {
		local x0 x1 i0 i1
		x0=$(stat_of out_xlate)
		i0=$(stat_of in_xlate)
		burst 10 --tag 0xa064 || return 1
		until_ok 50 count_is 10 lan_tagged
		x1=$(stat_of out_xlate)
		i1=$(stat_of in_xlate)
		echo "out_xlate +$((x1 - x0)), in_xlate +$((i1 - i0)); on the WAN $(wan_lines | grep -c '203.0.113.1.2100 > 198.51.100.7.4000') translated, to the phone $(lan_lines | grep -c "vlan 100, .*198.51.100.7.4000 > $PH_IP.2100") tagged"
		wan_lines | tail -3
		lan_lines | tail -3
		# Out: translated, untagged on the WAN; the echo saw the
		# phone's public address and its own port.
		[ "$(wan_lines | grep -c '203.0.113.1.2100 > 198.51.100.7.4000')" = 10 ] &&
			! wan_lines | grep -q -e 100.64. -e vlan &&
			[ "$(sort -u "$T/peers")" = "203.0.113.1:2100" ] &&
			# Back: translated, tag 100 on the wire to the phone.
			[ "$(lan_lines | grep -c "vlan 100, .*198.51.100.7.4000 > $PH_IP.2100")" = 10 ] &&
			[ "$(lan_lines | grep -vc 'vlan 100')" = 0 ] &&
			[ $((x1 - x0)) = 10 ] && [ $((i1 - i0)) = 10 ]
	}
	check "[$MODE] tagged 100: translated out untagged, back to the phone tagged 100" t_tagged

	t_other() {
		local p0 p1 d0 d1 x0 x1 w0 w1
		p0=$(stat_of pass_vlan)
		d0=$(($(stat_of drop_src_bogon) + $(stat_of drop_src_public)))
		x0=$(stat_of out_xlate)
		w0=$(wan_lines | grep -c '203.0.113.1.2100 >')
		# VLAN 200: its own network, the kernel's.
		burst 3 --tag 0x00c8 || return 1
		# The untagged network, bare or priority-tagged, may not use
		# the phone's address nor a public one: the kernel forwards
		# it (forwarding is on for the parent).
		burst 3 || return 1
		burst 3 --tag 0xa000 || return 1
		ip netns exec "$PH" $CRAFT udp eth0 $MAC_PH "$GW_MAC" 203.0.113.1 198.51.100.7 2100 4000 || return 1
		# The untagged network itself works through the same wire.
		ip netns exec "$PH" ping -n -c 2 -i 0.2 -W 2 192.0.2.1 >/dev/null || return 1
		sleep 0.5
		p1=$(stat_of pass_vlan)
		d1=$(($(stat_of drop_src_bogon) + $(stat_of drop_src_public)))
		x1=$(stat_of out_xlate)
		w1=$(wan_lines | grep -c '203.0.113.1.2100 >')
		echo "pass_vlan +$((p1 - p0)), pool sources dropped +$((d1 - d0)), out_xlate +$((x1 - x0)), translated on the WAN +$((w1 - w0))"
		wan_lines | grep -e "$PH_IP.2100 >" && return 1
		[ $((p1 - p0)) -ge 3 ] && [ $((d1 - d0)) = 7 ] && [ $((x1 - x0)) = 0 ] && [ $((w1 - w0)) = 0 ]
	}
	check "[$MODE] VLAN 200 untouched; the untagged network works but may not use a pool source; nothing translated" t_other

	# The loader turned forwarding on for the parent (the FIB helper
	# needs it); the untagged network must not be routed because of
	# that: a PC's packet to a far host is dropped (drop_src_foreign, as
	# on a plain LAN), bare or under a priority tag, while its packets
	# to the gateway itself (the ping above) still pass.
	t_untagged_routed() {
		local f0 f1 w
		f0=$(stat_of drop_src_foreign)
		ip netns exec "$PH" $CRAFT udp eth0 $MAC_PH "$GW_MAC" 192.0.2.2 198.51.100.7 5060 4000 || return 1
		ip netns exec "$PH" $CRAFT udp eth0 $MAC_PH "$GW_MAC" 192.0.2.2 198.51.100.7 5060 4000 --tag 0xa000 || return 1
		sleep 0.5
		f1=$(stat_of drop_src_foreign)
		w=$(wan_lines | grep -c '192.0.2.2.5060 >')
		echo "drop_src_foreign +$((f1 - f0)), from 192.0.2.2 on the WAN: $w"
		[ $((f1 - f0)) = 2 ] && [ "$w" = 0 ]
	}
	check "[$MODE] the untagged network is not routed to the WAN" t_untagged_routed

	t_upgrade() {
		local x0 x1
		nsx gw $N upgrade && nsx gw $N status | grep "voice vlan:  100" || return 1
		x0=$(stat_of in_xlate)
		burst 3 --tag 0xa064 || return 1
		until_ok 50 count_is 13 lan_tagged
		x1=$(stat_of in_xlate)
		echo "in_xlate +$((x1 - x0)), to the phone $(lan_tagged) tagged in all"
		[ $((x1 - x0)) = 3 ] && [ "$(lan_tagged)" = 13 ]
	}
	check "[$MODE] upgrade keeps the voice VLAN" t_upgrade
	nsx gw $N detach >/dev/null

	# 6: attach turns forwarding on for the voice VLAN's device too;
	# after detach the kernel would route the phones' frames from there
	# to the WAN untranslated.  This kernel may lack 802.1Q: one
	# device (a veth: no dummy module either) listed in a stand-in of
	# /proc/net/vlan/config plays lan0.100.
	t_detach_vlan_dev() {
		local fwd
		ip -n "$GW" link add lan0v type veth peer name lan0vp &&
			ip -n "$GW" link set lan0v address "$GW_MAC" up || return 1
		printf 'VLAN Dev name | VLAN ID\nName-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\nlan0v | 100 | lan0\n' >"$T/vlan.cfg"
		ip netns exec "$GW" sysctl -qw net.ipv4.conf.lan0v.forwarding=0
		NAPPT_TEST_VLAN_TABLE="$T/vlan.cfg" nsx gw $N attach --lan lan0 --lan-vlan 100 $POOLS --mode "$MODE" >/dev/null || return 1
		fwd=$(ip netns exec "$GW" sysctl -n net.ipv4.conf.lan0v.forwarding)
		NAPPT_TEST_VLAN_TABLE="$T/vlan.cfg" nsx gw $N detach >/dev/null || return 1
		echo "lan0v forwarding: attached $fwd, detached $(ip netns exec "$GW" sysctl -n net.ipv4.conf.lan0v.forwarding); lan0 detached $(ip netns exec "$GW" sysctl -n net.ipv4.conf.lan0.forwarding)"
		[ "$fwd" = 1 ] &&
			[ "$(ip netns exec "$GW" sysctl -n net.ipv4.conf.lan0v.forwarding)" = 0 ] &&
			[ "$(ip netns exec "$GW" sysctl -n net.ipv4.conf.lan0.forwarding)" = 0 ]
	}
	check "[$MODE] 6: detach turns forwarding off on the voice VLAN's device too" t_detach_vlan_dev
	ip -n "$GW" link del lan0v 2>/dev/null
fi

# --- part 2: a real VLAN device, DHCP on it, a stream through it ------------
if [ "$HAVE_8021Q" = 0 ]; then
	echo "# SKIP part 2 (VLAN device, DHCP on it, stream): this kernel has no 802.1Q (CONFIG_VLAN_8021Q)"
	check_summary
	exit
fi

t_vlan_devs() {
	ip -n "$GW" link add link lan0 name lan0.100 type vlan id 100 &&
		ip -n "$PH" link add link eth0 name eth0.100 type vlan id 100 &&
		ip -n "$GW" link set lan0.100 up && ip -n "$PH" link set eth0.100 up &&
		ip -n "$GW" addr add 100.64.0.1/16 dev lan0.100 || return 1
	case $MODE in
	native) nsx gw $N attach --lan lan0 --lan-vlan 100 $POOLS --mode native ;;
	*) nsx gw $N attach --lan lan0.100 $POOLS --mode "$MODE" ;;
	esac
}
check "[$MODE] VLAN devices lan0.100 and eth0.100, attached" t_vlan_devs

t_prov() {
	sed -e "s|^interface = .*|interface = lan0.100|" \
		-e "s|^pin_dir = .*|pin_dir = $BPFFS/nappt|" \
		-e "s|^phone_dir = .*|phone_dir = $T/tftp|" \
		-e "s|^lease_db = .*|lease_db = $T/leases.db|" \
		-e "s|^stats_file = .*|stats_file = $T/stats.prom|" \
		"$SRC/provisioner/provisioner.conf.example" >"$T/prov.conf"
	mkdir -p "$T/tftp"
	ip netns exec "$GW" "$BUILD/nappt-provisioner" -c "$T/prov.conf" \
		--templates "$SRC/provisioner/templates" 2>>"$T/prov.log" &
	ns_track $!
	for _ in $(seq 50); do
		grep -q "serving DHCP" "$T/prov.log" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$T/prov.log"
	return 1
}
check "[$MODE] provisioner serves DHCP on lan0.100" t_prov

t_dhcp() {
	cat >"$T/script" <<'SCRIPT'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr add "$ip/$mask" dev "$interface"
	ip route add 198.51.100.0/24 via "$router" dev "$interface" 2>/dev/null
	echo "ip=$ip" >"$OUT"
	;;
esac
exit 0
SCRIPT
	chmod +x "$T/script"
	OUT="$T/lease" ip netns exec "$PH" timeout 15 udhcpc -i eth0.100 -f -q -n -t 3 -T 1 -A 1 \
		-s "$T/script" -V "" -x "0x3c:$CISCO_HEX" >"$T/udhcpc.out" 2>&1 || {
		cat "$T/udhcpc.out" "$T/prov.log"
		return 1
	}
	PH_IP=$(sed -n 's/^ip=//p' "$T/lease")
	nsx gw $N phone list | tee "$T/list"
	grep -qE "^$PH_IP +$MAC_PH 203\.0\.113\.[0-9]+ +[0-9]+-[0-9]+" "$T/list"
}
check "[$MODE] the phone takes its lease on eth0.100, the maps hold it" t_dhcp
PH_IP=$(sed -n 's/^ip=//p' "$T/lease" 2>/dev/null)
PH_PORT=$(awk '{ split($4, r, "-"); print r[1] + 7 }' "$T/list" 2>/dev/null)

t_stream() {
	local out0 in0 out1 in1 cap
	out0=$(stat_of out_xlate)
	in0=$(stat_of in_xlate)
	ip netns exec "$INET" "$BUILD/nappt-stream" echo --listen 198.51.100.7:4001 --idle 5 >/dev/null 2>&1 &
	ns_track $!
	ip netns exec "$PH" timeout 10 tcpdump -i eth0 -nn -e -U --immediate-mode -w "$T/ph.pcap" udp port 4001 2>/dev/null &
	cap=$!
	sleep 0.5
	ip netns exec "$PH" "$BUILD/nappt-stream" send --to 198.51.100.7:4001 \
		--bind "$PH_IP:$PH_PORT" --pps 1000 --duration 1 >"$T/stream" 2>&1
	cat "$T/stream"
	sleep 0.3
	kill $cap 2>/dev/null
	wait $cap 2>/dev/null
	out1=$(stat_of out_xlate)
	in1=$(stat_of in_xlate)
	echo "out_xlate +$((out1 - out0)), in_xlate +$((in1 - in0))"
	tcpdump -r "$T/ph.pcap" -nn -e 2>/dev/null | grep '198.51.100.7.4001 >' >"$T/ph.txt"
	echo "to the phone: $(wc -l <"$T/ph.txt") frames, $(grep -c 'vlan 100' "$T/ph.txt") tagged 100"
	grep -q ' up_lost=0 .* down_lost=0 ' "$T/stream" &&
		[ $((out1 - out0)) -ge 1000 ] && [ $((in1 - in0)) -ge 1000 ] &&
		[ "$(grep -vc 'vlan 100' "$T/ph.txt")" = 0 ] &&
		[ "$(grep -c 'vlan 100' "$T/ph.txt")" -ge 1000 ]
}
check "[$MODE] 1,000 pps both ways over VLAN 100: translated, 0 lost, tagged to the phone" t_stream

check_summary
