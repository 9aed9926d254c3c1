#!/usr/bin/env bash
# The demo (make demo): the whole gateway in network namespaces made here
# and removed at the end, even on failure or Ctrl-C.
#
#   [p1]  Cisco CP-7940G  --.
#   [p2]  Cisco CP-7960G  --|
#   [p3]  Polycom SPIP650 --|             100.64.0.1    198.18.0.1
#   [p4]  Polycom VVX410  --+-- [sw] -- lan0 [gw] wan0 -------- gw0 [inet]
#   [p5]  Yealink T46S    --|   bridge    XDP NAPPT,        198.18.0.2
#   [p6]  Yealink T48S    --|             provisioner,      198.51.100.7
#   [imp] impostor        --'             tftpd             (sipp)
#                             public pool 203.0.113.0/28
#
# Six phones of three vendors boot with busybox udhcpc (each vendor's
# option 60 and MAC) and one impostor does too.  Each phone gets a lease
# (a private address and a port range on a shared public address), fetches
# its config file and its software image by TFTP, reads its public address
# (the config's static-NAT key), its SIP port and RTP range from that file,
# places a call through the gateway to the internet host and receives one
# the internet host places to (public address, its SIP port).  The calls
# are sipp (tests/demo/*.xml) with RTP both ways (tests/demo/rtp.py); the
# internet host's side checks that the SIP and SDP it receives carry the
# public address and the phone's own ports and no private address.  One
# row per phone; exit status non-zero if any row or check failed.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/..")
. "$SRC/tests/lib/netns.sh"
need_root
for tool in sipp udhcpc tftp tcpdump socat /usr/bin/python3; do
	command -v "$tool" >/dev/null || {
		echo "demo: $tool missing (make deps)" >&2
		exit 1
	}
done
T=$(mktemp -d)
T0=$(date +%s.%N)
JOBS=()
demo_cleanup() {
	local ns
	# The phones' subshells first, then whatever still runs in the
	# namespaces made here (sipp, rtp.py, tftp), before they go.
	[ ${#JOBS[@]} -gt 0 ] && kill "${JOBS[@]}" 2>/dev/null
	for ns in "${NS_LIST[@]:-}"; do
		[ -n "$ns" ] && ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
	done
	sleep 0.3
	for ns in "${NS_LIST[@]:-}"; do
		[ -n "$ns" ] && ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
	done
	ns_cleanup
	# DEMO_KEEP=1: keep the logs, configs and sipp traces for a look.
	if [ -n "${DEMO_KEEP:-}" ]; then echo "demo: kept $T"; else rm -rf "$T"; fi
	echo "demo: namespaces and processes removed"
}
trap demo_cleanup EXIT
trap 'exit 130' INT TERM
bpffs_setup

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Per-phone facts: namespace, MAC, vendor class (option 60), model shown.
NAMES=(p1 p2 p3 p4 p5 p6)
MACS=(00:1b:54:aa:bb:0c 00:1b:54:aa:bb:0d 00:04:f2:01:02:03 00:04:f2:01:02:04
	80:5e:c0:11:22:33 80:5e:c0:11:22:34)
VCLASS=("Cisco Systems, Inc. IP Phone CP-7940G"
	"Cisco Systems, Inc. IP Phone CP-7960G"
	"Polycom-SPIP650" "Polycom-VVX410"
	"yealink SIP-T46S 66.86.0.15" "yealink SIP-T48S 66.86.0.15")
MODELS=("Cisco CP-7940G" "Cisco CP-7960G" "Polycom SPIP650" "Polycom VVX410"
	"Yealink T46S" "Yealink T48S")
VENDOR=(cisco cisco polycom polycom yealink yealink)
# The impostor: a host with an unknown MAC that claims a Cisco phone's
# vendor class (threat model: anyone on the LAN forges any DHCP field).
IMP_MAC=02:11:22:33:44:55
INET_IP=198.51.100.7
RTP_N=50                                    # RTP packets each way per call
TALK_MS=$((RTP_N * 20 + 1500))              # call length: the media, and slack
PRIV_RE='100\.(6[4-9]|[7-9][0-9]|1[01][0-9]|12[0-7])\.[0-9]{1,3}\.[0-9]{1,3}'

# --- the network ------------------------------------------------------------

topology_up() {
	local n i
	for n in gw sw inet imp "${NAMES[@]}"; do ns_add "$n" >/dev/null || return 1; done
	GW=$(ns_name gw)
	INET=$(ns_name inet)
	N="$BUILD/nappt --pin-dir $BPFFS/nappt"
	veth gw:lan0 sw:gw && veth gw:wan0 inet:gw0 || return 1
	ip -n "$(ns_name sw)" link add br0 type bridge || return 1
	ip -n "$(ns_name sw)" link set br0 up
	ip -n "$(ns_name sw)" link set gw master br0
	for i in "${!NAMES[@]}" imp; do
		if [ "$i" = imp ]; then n=imp; else n=${NAMES[$i]}; fi
		veth "$n:eth0" "sw:$n" || return 1
		ip -n "$(ns_name sw)" link set "$n" master br0
		# XDP sees what a wire carries: full checksums.
		ip netns exec "$(ns_name "$n")" ethtool -K eth0 tx off >/dev/null
		if [ "$n" = imp ]; then
			ip -n "$(ns_name imp)" link set eth0 address $IMP_MAC
		else
			ip -n "$(ns_name "$n")" link set eth0 address "${MACS[$i]}"
		fi
	done
	ip -n "$GW" addr add 100.64.0.1/16 dev lan0
	ip -n "$GW" addr add 198.18.0.1/24 dev wan0
	ip -n "$GW" route add 198.51.100.0/24 via 198.18.0.2
	ip -n "$INET" addr add 198.18.0.2/24 dev gw0
	ip -n "$INET" addr add $INET_IP/32 dev lo
	ip -n "$INET" route add 203.0.113.0/24 via 198.18.0.1
	ip netns exec "$INET" ethtool -K gw0 tx off >/dev/null
	# A frame redirected into a veth is received only if XDP runs on
	# the peer.
	nsx sw "$BUILD/nappt-test-pass" attach gw || return 1
	nsx inet "$BUILD/nappt-test-pass" attach gw0 || return 1
	# One configuration for the three programs (etc/nappt.conf.example,
	# with this run's paths): the pools are written once.
	mkdir -p "$T/tftp" "$T/images" "$T/res"
	sed -e "s|^pin_dir = .*|pin_dir = $BPFFS/nappt|" \
		-e "s|^phone_dir = .*|phone_dir = $T/tftp|" \
		-e "s|^lease_db = .*|lease_db = $T/leases.db|" \
		-e "s|^root = .*|root = $T/images|" \
		-e "s|^#listen = .*|listen = 100.64.0.1:69|" \
		-e "/^\[global\]/,/^\[/s|^stats_file = .*|stats_file = $T/stats.prom|" \
		-e "/^\[tftpd\]/,/^\[/s|^stats_file = .*|stats_file = $T/tftpd.prom|" \
		"$SRC/etc/nappt.conf.example" >"$T/nappt.conf"
	nsx gw $N -c "$T/nappt.conf" -n >/dev/null || return 1
	nsx gw $N -c "$T/nappt.conf" attach >/dev/null
}

services_up() {
	local img
	mkdir -p "$T/tftp" "$T/images" "$T/res"
	# The software images the models' configs name (provisioner.conf).
	for img in P0030801SR02.loads 4.0.15.1009 T46-66.86.0.15.rom; do
		head -c 300000 /dev/urandom >"$T/images/$img"
	done
	# Not through a helper: $! must be the server itself for the cleanup.
	ip netns exec "$GW" "$BUILD/nappt-tftpd" -q --config "$T/nappt.conf" \
		2>"$T/tftpd.log" &
	ns_track $!
	ip netns exec "$GW" "$BUILD/nappt-provisioner" -c "$T/nappt.conf" \
		--templates "$SRC/provisioner/templates" 2>>"$T/prov.log" &
	ns_track $!
	for _ in $(seq 50); do
		grep -q "serving DHCP" "$T/prov.log" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$T/prov.log"
	return 1
}

# The phones' udhcpc event script (what it keeps in $OUT: see there).
install -m 0755 "$SRC/tests/lib/udhcpc-event.sh" "$T/udhcpc.sh"

# boot NS VENDOR-CLASS CISCO?: one DHCP exchange.  Cisco phones send
# option 60 with a trailing NUL.
boot() {
	local ns=$1 vc=$2 vendor=$3 hex
	if [ "$vendor" = cisco ]; then
		hex=$(printf '%s' "$vc" | od -An -tx1 | tr -d ' \n')00
		set -- -V "" -x "0x3c:$hex"
	else
		set -- -V "$vc"
	fi
	OUT="$T/$ns.env" ip netns exec "$(ns_name "$ns")" timeout 15 \
		udhcpc -i eth0 -f -q -n -t 3 -T 1 -A 1 -s "$T/udhcpc.sh" "$@" \
		>"$T/$ns.udhcpc" 2>&1
}

# --- one phone ----------------------------------------------------------------

envval() { sed -n "s/^$2=//p" "$T/$1.env" 2>/dev/null | head -1; }
xmlval() { sed -n "s:.*<$2>\([^<]*\)</$2>.*:\1:p" "$1" | head -1; }
attrval() { sed -n "s/.*[[:space:]]$2=\"\([^\"]*\)\".*/\1/p" "$1" | head -1; }
cfgval() { sed -n "s/^$2[[:space:]]*=[[:space:]]*//p" "$1" | head -1; }

# config NS VENDOR: fetch the file DHCP named (option 67) from the TFTP
# server it named (option 66), take the public address, SIP port, RTP range
# and image from it as that vendor's phone does, then fetch the image.
# Writes $T/res/NS.cfg: "PUB SIP RTP_FIRST RTP_LAST NAT IMAGE BYTES".
config() {
	local ns=$1 vendor=$2 file server f pub sip r0 r1 nat img
	file=$(envval "$ns" bootfile)
	[ -n "$file" ] || file=$(envval "$ns" boot_file)
	server=$(envval "$ns" tftp)
	f="$T/res/$ns.conf"
	ns_exec "$ns" timeout 10 tftp "$server" -m binary -c get "$file" "$f" \
		>/dev/null 2>&1 || return 1
	case $vendor in
	cisco)
		pub=$(xmlval "$f" natAddress)
		nat=$(xmlval "$f" natEnabled)
		sip=$(xmlval "$f" voipControlPort)
		r0=$(xmlval "$f" startMediaPort)
		r1=$(xmlval "$f" stopMediaPort)
		img=$(xmlval "$f" loadInformation).loads
		;;
	polycom)
		pub=$(attrval "$f" nat.ip)
		nat=$pub
		# nat.* override the local ports when set (Polycom SIP 3.1
		# Administrator's Guide, <nat/>).
		sip=$(attrval "$f" nat.signalPort)
		[ -n "$sip" ] || sip=$(attrval "$f" voIpProt.local.port)
		r0=$(attrval "$f" nat.mediaPortStart)
		[ -n "$r0" ] || r0=$(attrval "$f" tcpIpApp.port.rtp.mediaPortRangeStart)
		r1=$(attrval "$f" tcpIpApp.port.rtp.mediaPortRangeEnd)
		img=$(attrval "$f" device.prov.upgradeServer)
		;;
	yealink)
		pub=$(cfgval "$f" static.network.static_nat.addr)
		nat=$(cfgval "$f" static.network.static_nat.enable)
		sip=$(cfgval "$f" sip.listen_port)
		r0=$(cfgval "$f" static.network.port.min_rtpport)
		r1=$(cfgval "$f" static.network.port.max_rtpport)
		img=$(cfgval "$f" static.firmware.url)
		img=${img##*/}
		;;
	esac
	ns_exec "$ns" timeout 20 tftp "$server" -m binary -c get "$img" \
		"$T/res/$ns.img" >/dev/null 2>&1 &&
		cmp -s "$T/res/$ns.img" "$T/images/$img" || return 1
	echo "${pub:--} ${sip:--} ${r0:--} ${r1:--} ${nat:-none} $img $(stat -c %s "$T/res/$ns.img")" >"$T/res/$ns.cfg"
}

# scenario TEMPLATE OUT KEY=VALUE...: a sipp scenario with @KEY@ filled in.
scenario() {
	local in=$1 out=$2 kv args=()
	shift 2
	for kv in "$@"; do
		args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
	done
	sed "${args[@]}" "$SRC/tests/demo/$in" >"$out"
}

# wait_udp NS IP PORT: until a socket is bound there (bounded).
wait_udp() {
	local _
	for _ in $(seq 50); do
		ns_exec "$1" ss -Hlun "src $2:$3" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# sipp_run NS NAME ARGS...: one sipp call; its messages and errors are
# kept in $T/res/NAME.* for a failed row.
sipp_run() {
	local ns=$1 name=$2
	shift 2
	ns_exec "$ns" timeout 40 sipp -nostdin -m 1 -timeout 30s -timeout_error \
		-trace_msg -message_file "$T/res/$name.msg" \
		-trace_err -error_file "$T/res/$name.err" "$@" \
		>"$T/res/$name.out" 2>&1
}

# calls I: the phone's call out, then the internet host's call in.
# Results: $T/res/NS.out and NS.in ("ok"), rtp.py's counts in NS.{out,in}.{phone,inet}.
calls() {
	local i=$1 ns=${NAMES[$1]} priv pub lpub sip r0 tool k kp ki uas_port uac_port rtp_inet
	priv=$(envval "$ns" ip)
	read -r pub sip r0 _ <"$T/res/$ns.cfg" || return 1
	# A phone whose config names no NAT address announces its own.
	[ -n "$pub" ] && [ "$pub" != "-" ] || pub=$priv
	# What the internet host expects is the gateway's mapping, not what
	# the phone's config says: a config without the public address must
	# fail the checks.
	lpub=$(awk -v m="${MACS[$i]}" '$2 == m {print $3}' "$T/list")
	tool="/usr/bin/python3 $SRC/tests/demo/rtp.py"
	k=(SIP="$sip" USER="$ns" TOOL="$tool" N="$RTP_N" TALK_MS="$TALK_MS"
		MODEL="${MODELS[$i]}")
	kp=("${k[@]}" PUB="$pub")
	ki=("${k[@]}" PUB="$lpub" PUBRE="${lpub//./\\\\.}")
	uas_port=$((5070 + i))
	uac_port=$((5080 + i))
	rtp_inet=$((30000 + 10 * i))

	# Out: the phone (SIP from its port, RTP from the first of its range)
	# calls the internet host's endpoint.
	scenario inet-uas.xml "$T/res/$ns-inet-uas.xml" "${ki[@]}" RTP="$r0" \
		PEERRTP=$rtp_inet OUT="$T/res/$ns.out.inet"
	scenario phone-uac.xml "$T/res/$ns-phone-uac.xml" "${kp[@]}" RTP="$r0" \
		OUT="$T/res/$ns.out.phone"
	sipp_run inet "$ns-out-inet" -sf "$T/res/$ns-inet-uas.xml" \
		-i $INET_IP -p $uas_port -mp $((40000 + 20 * i)) -cp $((8900 + i)) &
	local uas=$!
	wait_udp inet $INET_IP $uas_port &&
		sipp_run "$ns" "$ns-out-phone" -sf "$T/res/$ns-phone-uac.xml" \
			-i "$priv" -p "$sip" -mp $((r0 + 8)) -cid_str "%u-%p@$pub" \
			$INET_IP:$uas_port
	local rc=$?
	wait $uas && [ $rc -eq 0 ] && echo ok >"$T/res/$ns.out"
	rtp_wait "$ns.out"

	# In: the internet host calls (public address, SIP port); the phone
	# answers with RTP from the next even port of its range.
	scenario phone-uas.xml "$T/res/$ns-phone-uas.xml" "${kp[@]}" \
		RTP=$((r0 + 2)) OUT="$T/res/$ns.in.phone"
	scenario inet-uac.xml "$T/res/$ns-inet-uac.xml" "${ki[@]}" \
		RTP=$((r0 + 2)) PEERRTP=$((rtp_inet + 2)) OUT="$T/res/$ns.in.inet"
	sipp_run "$ns" "$ns-in-phone" -sf "$T/res/$ns-phone-uas.xml" \
		-i "$priv" -p "$sip" -mp $((r0 + 8)) &
	uas=$!
	wait_udp "$ns" "$priv" "$sip" &&
		sipp_run inet "$ns-in-inet" -sf "$T/res/$ns-inet-uac.xml" \
			-i $INET_IP -p $uac_port -mp $((40010 + 20 * i)) \
			-cp $((8920 + i)) "$lpub:$sip"
	rc=$?
	wait $uas && [ $rc -eq 0 ] && echo ok >"$T/res/$ns.in"
	rtp_wait "$ns.in"
}

# rtp_wait NS.CALL: until both sides' rtp.py wrote their counts (each ends
# 2 s after its last packet at the latest).
rtp_wait() {
	local _
	for _ in $(seq 60); do
		[ -e "$T/res/$1.phone" ] && [ -e "$T/res/$1.inet" ] && return 0
		sleep 0.1
	done
	return 1
}

# rtp_count FILE FIELD: a number from rtp.py's line (0 if absent).
rtp_count() { sed -n "s/.*$2=\([0-9]*\).*/\1/p" "$1" 2>/dev/null | grep . || echo 0; }

# --- the demo -----------------------------------------------------------------

say "Gateway: lan0 100.64.0.1 (phones) -- XDP NAPPT -- wan0 198.18.0.1; public pool 203.0.113.0/28"
topology_up || { echo "demo: setup failed"; exit 1; }
nsx gw $N status | sed 's/^/  /'
say "Services: nappt-tftpd on 100.64.0.1:69 (per-phone files gated), nappt-provisioner (DHCP), both from one nappt.conf"
services_up || { echo "demo: services failed"; exit 1; }
sed 's/^/  /' "$T/prov.log"
# What the internet host's interface carries, to search for private
# addresses afterwards.
ip netns exec "$INET" tcpdump -i gw0 -nn -U -s 0 -w "$T/inet.pcap" udp 2>/dev/null &
CAP=$!
ns_track $CAP

say "Six phones and one impostor boot (udhcpc with each one's MAC and option 60)"
# (wait on these alone: the servers and the capture are children too)
JOBS=()
for i in "${!NAMES[@]}"; do
	boot "${NAMES[$i]}" "${VCLASS[$i]}" "${VENDOR[$i]}" &
	JOBS+=($!)
done
boot imp "${VCLASS[0]}" cisco &
JOBS+=($!)
wait "${JOBS[@]}"
for i in "${!NAMES[@]}"; do
	printf '  %-3s %-17s %-16s -> %s\n' "${NAMES[$i]}" "${MACS[$i]}" "${MODELS[$i]}" \
		"$(envval "${NAMES[$i]}" ip || true) file $(envval "${NAMES[$i]}" bootfile)"
done
printf '  %-3s %-17s %-16s -> %s\n' imp $IMP_MAC "(Cisco 7940 class)" \
	"$([ -s "$T/imp.env" ] && envval imp ip || echo "no lease")"
nsx gw $N phone list >"$T/list"
say "The data plane's mappings (written by the provisioner once each lease was on disk)"
sed 's/^/  /' "$T/list"

say "Each phone fetches its config and image by TFTP, calls out and is called (sipp, RTP both ways)"
JOBS=()
for i in "${!NAMES[@]}"; do
	(config "${NAMES[$i]}" "${VENDOR[$i]}" && calls "$i") &
	JOBS+=($!)
done
wait "${JOBS[@]}"
JOBS=()
for i in "${!NAMES[@]}"; do
	if read -r cpub csip cr0 cr1 _ img bytes <"$T/res/${NAMES[$i]}.cfg" 2>/dev/null; then
		printf '  %-3s config: NAT address %s, SIP port %s, RTP %s-%s; image %s (%s bytes)\n' \
			"${NAMES[$i]}" "$cpub" "$csip" "$cr0" "$cr1" "$img" "$bytes"
	else
		echo "  ${NAMES[$i]}  config or image: FAIL"
	fi
done

# The impostor, without a lease, takes phone 1's private address and sends
# from phone 1's SIP port: the data plane drops it (its MAC is not the
# lease's).  A static neighbour entry, as its ARP claiming the address is
# dropped too.
spoof_before=$(nsx gw $N stats | awk '$1 == "drop_spoof_mac" {print $2}')
P1_PRIV=$(envval p1 ip)
P1_SIP=$(awk '{print $2}' "$T/res/p1.cfg" 2>/dev/null)
GW_MAC=$(ip -n "$GW" -br link show lan0 | awk '{print $3}')
ip -n "$(ns_name imp)" addr add "$P1_PRIV/16" dev eth0
ip -n "$(ns_name imp)" route add 198.51.100.0/24 via 100.64.0.1
ip -n "$(ns_name imp)" neigh replace 100.64.0.1 lladdr "$GW_MAC" dev eth0
for _ in 1 2 3; do
	echo "INVITE sip:echo@$INET_IP IMPOSTOR" | ns_exec imp socat -u - \
		"UDP:$INET_IP:5060,bind=$P1_PRIV:${P1_SIP:-1024}" 2>/dev/null
done
sleep 0.5
spoof_after=$(nsx gw $N stats | awk '$1 == "drop_spoof_mac" {print $2}')
kill "$CAP" 2>/dev/null
wait "$CAP" 2>/dev/null

# A control call, after the capture: p1 once more as a phone without
# static NAT, which announces its private address in Via, Contact, Call-ID
# and SDP.  The internet host's checks must fail it; a check that cannot
# fail proves nothing.
control() {
	local priv pub sip r0
	priv=$(envval p1 ip)
	read -r _ sip r0 _ <"$T/res/p1.cfg" || return 1
	pub=$(awk -v m="${MACS[0]}" '$2 == m {print $3}' "$T/list")
	scenario inet-uas.xml "$T/res/ctl-inet-uas.xml" PUB="$pub" \
		PUBRE="${pub//./\\\\.}" SIP="$sip" RTP="$r0" PEERRTP=30100 USER=p1 \
		TOOL=/bin/true N=0 OUT=/dev/null
	scenario phone-uac.xml "$T/res/ctl-phone-uac.xml" PUB="$priv" SIP="$sip" \
		RTP="$r0" USER=p1 TOOL=/bin/true N=0 TALK_MS=0 OUT=/dev/null MODEL="no NAT"
	sipp_run inet ctl-inet -sf "$T/res/ctl-inet-uas.xml" -i $INET_IP -p 5069 \
		-mp 40200 -cp 8940 -timeout 8s &
	local uas=$!
	wait_udp inet $INET_IP 5069 &&
		sipp_run p1 ctl-phone -sf "$T/res/ctl-phone-uac.xml" -i "$priv" \
			-p "$sip" -mp $((r0 + 8)) -timeout 3s $INET_IP:5069
	wait $uas
}
control
CONTROL=$?

# --- the report ---------------------------------------------------------------

FAIL=0
say "One row per phone (RTP: packets received/sent, both calls; up = to the internet host)"
printf '  %-17s %-15s %-14s %-12s %-11s %-6s %-8s %-7s %-9s %-9s %s\n' \
	MAC model private public range "config" "call out" "call in" "RTP up" "RTP down" row
for i in "${!NAMES[@]}"; do
	ns=${NAMES[$i]}
	priv=$(envval "$ns" ip)
	read -r _ _ pub range < <(awk -v m="${MACS[$i]}" '$2 == m' "$T/list")
	cfg=FAIL out=FAIL in=FAIL
	if [ -s "$T/res/$ns.cfg" ] && [ -n "${range:-}" ]; then
		read -r cpub csip cr0 cr1 cnat _ <"$T/res/$ns.cfg"
		lo=${range%-*} hi=${range#*-}
		# The config must name the mapping's public address, NAT on,
		# ports of the mapping's range, and not the private address.
		if [ "$cpub" = "$pub" ] && [ "$cnat" != none ] && [ "$cnat" != 0 ] &&
			[ "$cnat" != false ] && [[ "$csip $cr0 $cr1" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] &&
			[ "$csip" -ge "$lo" ] && [ "$cr1" -le "$hi" ] &&
			[ "$cr0" -gt "$csip" ] && [ $((cr0 + 2)) -le "$cr1" ] &&
			! grep -qF "$priv" "$T/res/$ns.conf"; then
			cfg=ok
		fi
	fi
	[ -s "$T/res/$ns.out" ] && out=ok
	[ -s "$T/res/$ns.in" ] && in=ok
	up_r=$(($(rtp_count "$T/res/$ns.out.inet" recv) + $(rtp_count "$T/res/$ns.in.inet" recv)))
	up_s=$(($(rtp_count "$T/res/$ns.out.phone" sent) + $(rtp_count "$T/res/$ns.in.phone" sent)))
	dn_r=$(($(rtp_count "$T/res/$ns.out.phone" recv) + $(rtp_count "$T/res/$ns.in.phone" recv)))
	dn_s=$(($(rtp_count "$T/res/$ns.out.inet" sent) + $(rtp_count "$T/res/$ns.in.inet" sent)))
	row=ok
	# All RTP arrived, and at the internet host only from (public
	# address, the RTP port the phone announced).
	if [ "$cfg" != ok ] || [ "$out" != ok ] || [ "$in" != ok ] ||
		[ "$up_s" -ne $((2 * RTP_N)) ] || [ "$up_r" -ne "$up_s" ] ||
		[ "$dn_s" -ne $((2 * RTP_N)) ] || [ "$dn_r" -ne "$dn_s" ] ||
		[ "$(sed -n 's/.*from=//p' "$T/res/$ns.out.inet")" != "$pub:$cr0:$RTP_N" ] ||
		[ "$(sed -n 's/.*from=//p' "$T/res/$ns.in.inet")" != "$pub:$((cr0 + 2)):$RTP_N" ]; then
		row=FAIL
		FAIL=1
	fi
	printf '  %-17s %-15s %-14s %-12s %-11s %-6s %-8s %-7s %-9s %-9s %s\n' \
		"${MACS[$i]}" "${MODELS[$i]}" "${priv:--}" "${pub:--}" "${range:--}" \
		"$cfg" "$out" "$in" "$up_r/$up_s" "$dn_r/$dn_s" "$row"
	if [ $row != ok ]; then
		for f in "$T/res/$ns".*.err "$T/res/$ns".*.out "$T/res/$ns".out.* "$T/res/$ns".in.*; do
			[ -s "$f" ] && { echo "    $(basename "$f"):"; tail -5 "$f" | sed 's/^/      /'; }
		done
	fi
done

say "What the internet host received from p1 (${MODELS[0]}): its INVITE, and its 200 OK to the call in"
# msg FILE FIRST-LINE: the first message received in a sipp message log
# that starts so; its lines with addresses and ports.
msg() {
	tr -d '\r' <"$1" | awk -v first="$2" '
		/^-----/ { inmsg = 0; next }
		/ message received / { inmsg = 1; start = 1; next }
		inmsg && start && NF { start = 0; take = index($0, first) == 1 && !done }
		take && /^(INVITE|SIP\/2\.0|Via|From|Contact|Call-ID|o=|c=|m=)/ { print "  " $0 }
		take && /^m=/ { take = 0; done = 1 }'
}
msg "$T/res/p1-out-inet.msg" INVITE
echo "  --"
msg "$T/res/p1-in-inet.msg" "SIP/2.0 200"

say "No private address at the internet host: every UDP packet on its interface, headers and payload"
npk=$(tcpdump -nn -r "$T/inet.pcap" 2>/dev/null | wc -l)
nprv=$(tcpdump -nn -A -r "$T/inet.pcap" 2>/dev/null | grep -cE "$PRIV_RE")
nimp=$(tcpdump -nn -A -r "$T/inet.pcap" 2>/dev/null | grep -c IMPOSTOR)
echo "  $npk packets captured on gw0; lines naming a 100.64.0.0/10 address: $nprv; impostor's packets: $nimp"
[ "$npk" -gt 0 ] && [ "$nprv" -eq 0 ] && [ "$nimp" -eq 0 ] || FAIL=1

say "Control: p1 without static NAT (its private address in Via/Contact/SDP) to the same checks"
if [ $CONTROL -ne 0 ] && grep -q "Failed regexp match" "$T/res/ctl-inet.err" 2>/dev/null; then
	echo "  refused by the internet host's checks, as it must be:"
	grep -o "looking in '[^']*', with regexp '[^']*'" "$T/res/ctl-inet.err" | head -1 |
		sed "s/^/    /"
else
	echo "  FAIL: the checks let a private address through"
	FAIL=1
fi

say "Per-phone files are gated: p3 asks the TFTP server for p1's config"
P1_FILE=$(envval p1 bootfile)
ns_exec p3 timeout 10 tftp 100.64.0.1 -m binary -c get "$P1_FILE" "$T/stolen" 2>&1 |
	sed 's/^/  /'
if [ -s "$T/stolen" ]; then
	echo "  FAIL: p3 got p1's file"
	FAIL=1
else
	echo "  refused: p3 got nothing"
fi

say "The impostor (MAC $IMP_MAC, claiming '${VCLASS[0]}')"
if [ -s "$T/imp.env" ]; then
	echo "  FAIL: it got a lease: $(envval imp ip)"
	FAIL=1
else
	echo "  DHCP: no lease; the provisioner says:"
	grep "reject mac=$IMP_MAC" "$T/prov.log" | head -2 | sed 's/^/    /'
fi
dropped=$((${spoof_after:-0} - ${spoof_before:-0}))
echo "  sending as p1 ($P1_PRIV, port ${P1_SIP:-?}) with its own MAC: $dropped of 3 dropped by the data plane (drop_spoof_mac)"
[ "$dropped" -eq 3 ] || FAIL=1

say "Data-plane counters (nappt stats, non-zero)"
nsx gw $N stats | awk '$2 > 0' | sed 's/^/  /'
say "The operator's view (nappt -c nappt.conf status: leases, map fill, both daemons' counters)"
sleep 5.5 # the daemons rewrite their stats files every 5 s
nsx gw $N -c "$T/nappt.conf" status | sed 's/^/  /'
say "Attribution log (provisioner)"
grep "lease new" "$T/prov.log" |
	sed -E 's/^<[0-9]>lease new (mac=[^ ]+) vendor="[^"]*" (model=[^ ]+) (private=[^ ]+) (public=[^ ]+) (ports=[^ ]+).*/  \1 \2 \3 \4 \5/'

echo
printf 'demo: %s in %s s\n' \
	"$([ $FAIL -eq 0 ] && echo "every phone row ok, impostor refused" || echo FAILED)" \
	"$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')"
exit $FAIL
