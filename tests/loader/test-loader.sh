#!/usr/bin/env bash
# The loader's operator-facing behaviour: attach/status/upgrade/detach,
# phone and pool commands, and every error path the issue names (unknown
# interface, bpffs missing, no privilege, already attached, native XDP
# unsupported, malformed arguments), each with its exit code and message.
set -u
BUILD=${1:-build}
N=$(realpath "$BUILD/nappt")
PASS=$(realpath "$BUILD/nappt-test-pass")
. "$(dirname "$0")/../lib/netns.sh"
need_root
trap ns_cleanup EXIT
bpffs_setup
D=(--pin-dir "$BPFFS/nappt")

ns_add ld >/dev/null
NS=$(ns_name ld)
ip -n "$NS" link add lan0 type veth peer name lanp
ip -n "$NS" link add wan0 type veth peer name wanp
ip -n "$NS" link add br0 type bridge
for i in lan0 lanp wan0 wanp br0; do ip -n "$NS" link set "$i" up; done
ip -n "$NS" addr add 100.64.0.1/16 dev lan0

# run EXPECTED_RC PATTERN CMD...: exit code and a message on stdout/stderr.
run() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$(nsx ld "$@" 2>&1)
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "exit $rc, want $want: $*"
		echo "$out"
		return 1
	fi
	if [ -n "$pat" ] && ! grep -qE -- "$pat" <<<"$out"; then
		echo "output lacks /$pat/: $*"
		echo "$out"
		return 1
	fi
}
# Like run, but without mounting bpffs first.
run_nomount() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$(ip netns exec "$NS" "$@" 2>&1)
	rc=$?
	[ "$rc" -eq "$want" ] && grep -qE -- "$pat" <<<"$out" && return 0
	echo "exit $rc, want $want /$pat/: $*"
	echo "$out"
	return 1
}
POOLS=(--lan-pool 100.64.0.0/16 --pub-pool 203.0.113.0/28)
# derived LAN_NET PUB_NET SLOTS_PER_IP SLOT_SIZE PUB FIRST: a phone's
# private address, computed here as issue 13 defines it (lan_net + pub_idx
# * slots_per_ip + first / slot_size), to hold `nappt phone addr` to it.
ip2int() { local IFS=.; set -- $1; echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4)); }
int2ip() { echo "$(($1 >> 24 & 255)).$(($1 >> 16 & 255)).$(($1 >> 8 & 255)).$(($1 & 255))"; }
derived() {
	int2ip $(($(ip2int "$1") + ($(ip2int "$5") - $(ip2int "$2")) * $3 + $6 / $4))
}
PA=$(derived 100.64.0.0 203.0.113.0 64 1024 203.0.113.1 2048)
# The neighbour slot's phone, the gateway's slot, a range of two slots.
PB=$(derived 100.64.0.0 203.0.113.0 64 1024 203.0.113.1 1024)
PC=$(derived 100.64.0.0 203.0.113.0 64 1024 203.0.113.1 4096)

check "no command: usage, exit 2" run 2 "no command" "$N"
check "--help exits 0" run 0 "Usage: nappt" "$N" --help
check "unknown command" run 2 "unknown command" "$N" frobnicate
check "attach without --wan" run 2 "needs --lan IF and --wan IF" "$N" "${D[@]}" attach --lan lan0
check "attach with malformed pool" run 2 "bad --lan-pool" "$N" "${D[@]}" attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/33 --pub-pool 203.0.113.0/28
check "pool with host bits" run 2 "bad --pub-pool" "$N" "${D[@]}" attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/16 --pub-pool 203.0.113.1/28
check "bad slot size" run 2 "power of two" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --slot-size 1000
check "bad mode" run 2 "unknown mode" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --mode turbo
check "unknown interface" run 1 "Failed to find LAN interface 'nope0'" "$N" "${D[@]}" attach --lan nope0 --wan wan0 "${POOLS[@]}"
check "status when nothing attached" run 1 "not attached" "$N" "${D[@]}" status
check "phone list when nothing attached" run 1 "is it attached" "$N" "${D[@]}" phone list
# Default pin dir, no bpffs in this fresh /sys: mounted and said.  The
# mount (and so the attachment) ends with the command.
check "missing bpffs is mounted and said" run_nomount 0 "mounted bpffs" "$N" attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "status without bpffs: says so, not 'not attached'" run_nomount 1 "not on a bpf filesystem.*mount -t bpf bpf /sys/fs/bpf" "$N" status
check "phone list without bpffs: says so" run_nomount 1 "not on a bpf filesystem" "$N" phone list
check "pin dir not on bpffs: says how" run_nomount 1 "mount it with: mount -t bpf bpf /tmp" "$N" --pin-dir /tmp/nappt attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "no privilege: clear error" run 1 "needs root" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "native demanded on a bridge fails" run 1 "native XDP not supported|cannot take frames redirected by native XDP" "$N" "${D[@]}" attach --lan br0 --wan wan0 "${POOLS[@]}" --mode native
check "nothing left pinned after a failed attach" run 1 "not attached" "$N" "${D[@]}" status
check "auto mode falls back to generic with a warning" run 0 "warning: br0: native XDP not supported.*|lan br0 \(generic\)" "$N" "${D[@]}" attach --lan br0 --wan wan0 "${POOLS[@]}"
check "detach bridge" run 0 "detached" "$N" "${D[@]}" detach
# Defect 7: a veth takes native-XDP redirects only while its peer runs
# XDP (its XDP features say so): native would drop every translated
# packet, so native is refused and auto takes generic on both sides.
check "native refused while the veth peers run no XDP" run 1 "lan0 cannot take frames redirected by native XDP.*|try --mode generic" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --mode native
check "auto: veth peers without XDP: generic on both, says why" run 0 "cannot take frames redirected.*|lan lan0 \(generic\) wan wan0 \(generic\)" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "detach generic" run 0 "detached 2" "$N" "${D[@]}" detach
check "XDP on the veth peers" nsx ld "$PASS" attach lanp
check "XDP on the other veth peer" nsx ld "$PASS" attach wanp
check "attach native" run 0 "lan lan0 \(native\) wan wan0 \(native\)" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "already attached" run 1 "already attached" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "status shows programs and pools" run 0 "lan: xdp on lan0.*program id" "$N" "${D[@]}" status
check "status shows the lan gateway from the interface" run 0 "lan gateway: 100.64.0.1" "$N" "${D[@]}" status
# Issue 13: the private address is derived from (public address, first
# slot); `phone addr` says which, and `phone add` takes no other.
check "phone addr prints the derived address" run 0 "^$PA\$" "$N" "${D[@]}" phone addr 203.0.113.1 2048-3071
check "phone addr of the first public address" run 0 "^$PC\$" "$N" "${D[@]}" phone addr 203.0.113.1 4096-6143
check "phone addr of the last slot of the last address" run 0 "^$(derived 100.64.0.0 203.0.113.0 64 1024 203.0.113.15 64512)\$" "$N" "${D[@]}" phone addr 203.0.113.15 64512-65535
check "phone addr outside the public pool" run 1 "outside the configured pools" "$N" "${D[@]}" phone addr 203.0.113.16 2048-3071
check "phone addr of an unaligned range" run 1 "whole slots" "$N" "${D[@]}" phone addr 203.0.113.1 2048-2100
check "phone add at another address refused, naming the derived one" run 1 "203.0.113.1 2048-3071 is served at $PA, not 100.64.0.10" "$N" "${D[@]}" phone add 100.64.0.10 02:00:00:00:00:0a 203.0.113.1 2048-3071
check "phone add at the address of the range's second slot refused" run 1 "served at $PC, not $(derived 100.64.0.0 203.0.113.0 64 1024 203.0.113.1 5120)" "$N" "${D[@]}" phone add "$(derived 100.64.0.0 203.0.113.0 64 1024 203.0.113.1 5120)" 02:00:00:00:00:0a 203.0.113.1 4096-6143
t_refused_wrote_nothing() { [ -z "$(nsx ld "$N" "${D[@]}" phone list)" ]; }
check "refused adds wrote nothing" t_refused_wrote_nothing
check "phone add" run 0 "" "$N" "${D[@]}" phone add "$PA" 02:00:00:00:00:0a 203.0.113.1 2048-3071
check "phone add reversed range" run 2 "bad port range" "$N" "${D[@]}" phone add "$PB" 02:00:00:00:00:0b 203.0.113.1 3072-2047
check "phone add overlapping range" run 1 "belongs to another phone" "$N" "${D[@]}" phone add "$PB" 02:00:00:00:00:0b 203.0.113.1 1024-3071
check "phone add unaligned range" run 1 "whole slots" "$N" "${D[@]}" phone add "$PB" 02:00:00:00:00:0b 203.0.113.1 1024-2100
check "phone add well-known ports" run 1 "above 1023" "$N" "${D[@]}" phone add 100.64.0.0 02:00:00:00:00:0b 203.0.113.0 0-1023
check "phone add outside pool" run 1 "outside the configured pools" "$N" "${D[@]}" phone add 100.65.0.68 02:00:00:00:00:0b 203.0.113.1 4096-5119
# Key 1 (ports 1024-2047 of the first public address) derives the
# gateway's own address: never a phone's.
check "phone add on the gateway's own address" run 1 "Failed to add phone.*not the gateway's" "$N" "${D[@]}" phone add 100.64.0.1 02:00:00:00:00:0b 203.0.113.0 1024-2047
check "phone add with a broadcast MAC" run 1 "MAC a unicast" "$N" "${D[@]}" phone add "$PC" ff:ff:ff:ff:ff:ff 203.0.113.1 4096-5119
check "phone add bad mac" run 2 "bad MAC" "$N" "${D[@]}" phone add "$PC" 02:00:00:00:00 203.0.113.1 4096-5119
check "phone add, two slots" run 0 "" "$N" "${D[@]}" phone add "$PC" 02:00:00:00:00:0c 203.0.113.1 4096-6143
check "phone list" run 0 "$PA +02:00:00:00:00:0a 203.0.113.1 +2048-3071" "$N" "${D[@]}" phone list
check "phone list: the two-slot phone" run 0 "$PC +02:00:00:00:00:0c 203.0.113.1 +4096-6143" "$N" "${D[@]}" phone list
check "status counts the phones (first slots)" run 0 "phones: +2 leased, 3072 ports" "$N" "${D[@]}" status
check "status: slot fill" run 0 "map fill: +slots 3 of 1024 \(0.3%\), 8 KiB" "$N" "${D[@]}" status
check "phone del, two slots" run 0 "" "$N" "${D[@]}" phone del "$PC"
check "bpftool pretty-prints the slots map" run 0 '"owner": 32768' bpftool map dump pinned "$BPFFS/nappt/slots"
check "stats" run 0 "out_xlate +0 packets" "$N" "${D[@]}" stats
check "pool set drop-unknown" run 0 "unknown in: +drop" "$N" "${D[@]}" pool set --drop-unknown on
check "pool resize refused" run 1 "detach" "$N" "${D[@]}" pool set --pub-pool 203.0.113.0/24
# The gateway's address is never a phone's (nappt_phone_check): moving
# the gateway onto a leased phone would send that phone's inbound traffic
# to the gateway's own address and drop its outbound as a bogon source.
check "pool set --lan-gw onto a leased phone refused" run 1 "is leased to a phone" "$N" "${D[@]}" pool set --lan-gw "$PA"
check "the gateway stays where it was" run 0 "lan gateway: 100.64.0.1" "$N" "${D[@]}" status
check "phone addr never names the gateway's address" run 1 "the gateway's own address" "$N" "${D[@]}" phone addr 203.0.113.0 1024-2047
check "upgrade replaces both programs" run 0 "upgraded lan: program [0-9]+ -> [0-9]+" "$N" "${D[@]}" upgrade
check "phones survive upgrade" run 0 "2048-3071" "$N" "${D[@]}" phone list
check "phone del" run 0 "" "$N" "${D[@]}" phone del "$PA"
check "phone del again" run 1 "no such mapping" "$N" "${D[@]}" phone del "$PA"
check "detach" run 0 "detached 2" "$N" "${D[@]}" detach
check "detach twice" run 1 "nothing attached" "$N" "${D[@]}" detach
check "attach tc" run 0 "lan lan0 \(tc\)" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --mode tc
check "status tc" run 0 "lan: tcx on lan0" "$N" "${D[@]}" status
check "upgrade tc" run 0 "upgraded wan" "$N" "${D[@]}" upgrade
check "detach tc" run 0 "detached 2" "$N" "${D[@]}" detach
# Kernels before 6.6 (no tcx): cls_bpf filters in a clsact qdisc.
check "attach tc-legacy" run 0 "lan lan0 \(tc-legacy\)" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --mode tc-legacy
check "status tc-legacy" run 0 "lan: tc cls_bpf on lan0.*program id [1-9]" "$N" "${D[@]}" status
check "tc-legacy filter visible to tc" run 0 "nappt_bpf|tc_lan|direct-action" ip netns exec "$NS" tc filter show dev lan0 ingress
check "tc-legacy already attached" run 1 "already attached" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --mode tc-legacy
check "upgrade tc-legacy" run 0 "upgraded wan: program [0-9]+ -> [0-9]+" "$N" "${D[@]}" upgrade
check "detach tc-legacy" run 0 "detached 2" "$N" "${D[@]}" detach
check "no filter left" run 1 "" sh -c "ip netns exec $NS tc filter show dev lan0 ingress | grep -q tc_lan"
# --- issue 9: one mode for both sides, failed attach, kept maps, upgrade ---
# Defect 7: a native side cannot redirect into a generic one (or back);
# auto picks one mode for both.
check "auto: native-capable lan + bridge wan: both generic" run 0 "lan lan0 \(generic\) wan br0 \(generic\)" "$N" "${D[@]}" attach --lan lan0 --wan br0 "${POOLS[@]}"
check "detach mixed" run 0 "detached 2" "$N" "${D[@]}" detach
check "auto: bridge lan + native-capable wan: both generic" run 0 "lan br0 \(generic\) wan wan0 \(generic\)" "$N" "${D[@]}" attach --lan br0 --wan wan0 "${POOLS[@]}"
check "detach mixed again" run 0 "detached 2" "$N" "${D[@]}" detach
# Defect 10: maps kept by detach --keep-maps hold every lease.
check "attach for kept maps" run 0 "attached" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "lease to keep" run 0 "" "$N" "${D[@]}" phone add "$PA" 02:00:00:00:00:0a 203.0.113.1 2048-3071
check "detach --keep-maps" run 0 "maps kept" "$N" "${D[@]}" detach --keep-maps
check "failed attach over kept maps" run 1 "native XDP not supported|cannot take frames redirected by native XDP" "$N" "${D[@]}" attach --lan br0 --wan wan0 "${POOLS[@]}" --mode native
check "failed attach left the kept lease" run 0 "$PA +02:00:00:00:00:0a 203.0.113.1 +2048-3071" "$N" "${D[@]}" phone list
check "other pools of the same size refused, both named" run 1 "hold 1 lease.*lan pool 100.64.0.0/16, public pool 203.0.113.0/28.*asks for lan pool 100.65.0.0/16, public pool 203.0.113.16/28" "$N" "${D[@]}" attach --lan lan0 --wan wan0 --lan-pool 100.65.0.0/16 --pub-pool 203.0.113.16/28
check "other slot size refused" run 1 "slot 1024 ports.*slot 2048 ports" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --slot-size 2048
check "refused attach left the kept lease" run 0 "2048-3071" "$N" "${D[@]}" phone list
check "same pools, but the gateway on a kept lease, refused" run 1 "is leased to a phone" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --lan-gw "$PA"
check "same pools reuse the kept lease" run 0 "attached" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "kept lease served again" run 0 "$PA +02:00:00:00:00:0a 203.0.113.1 +2048-3071" "$N" "${D[@]}" phone list
check "detach --keep-maps again" run 0 "maps kept" "$N" "${D[@]}" detach --keep-maps
check "--discard-leases takes other pools" run 0 "discarding.*1 lease" "$N" "${D[@]}" attach --lan lan0 --wan wan0 --lan-pool 100.65.0.0/16 --pub-pool 203.0.113.16/28 --discard-leases
t_no_leases() { [ -z "$(nsx ld "$N" "${D[@]}" phone list)" ]; }
check "discarded: no lease reinterpreted" t_no_leases
check "detach --keep-maps (empty)" run 0 "maps kept" "$N" "${D[@]}" detach --keep-maps
check "empty kept maps take other pools" run 0 "attached.*lan pool 100.64.0.0/16" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}"
# A half-failed upgrade: the wan link is cut from its device, so its
# update fails after lan's succeeded; lan must get its old program back.
lan_prog() { nsx ld "$N" "${D[@]}" status | sed -n 's/^lan: .*program id \([0-9]*\).*/\1/p'; }
t_upgrade_rolls_back() {
	local before after out
	before=$(lan_prog)
	nsx ld bpftool link detach pinned "$BPFFS/nappt/links/wan" || return 1
	out=$(nsx ld "$N" "${D[@]}" upgrade 2>&1) && { echo "upgrade succeeded: $out"; return 1; }
	after=$(lan_prog)
	echo "$out"
	[ -n "$before" ] && [ "$before" = "$after" ] && grep -q "rolled back lan" <<<"$out"
}
check "half-failed upgrade rolls lan back" t_upgrade_rolls_back
check "status shows the cut link" run 0 "wan: xdp on .*detached from its device" "$N" "${D[@]}" status
check "detach after cut link" run 0 "detached 2" "$N" "${D[@]}" detach
# A build with one more counter: the pinned stats map of the running
# build has fewer entries and cannot be reused; upgrade must still work
# (the counters move to a map of the new shape once the programs switch).
t_upgrade_new_stats() {
	local st=$BPFFS/nappt/stats out
	nsx ld "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" >/dev/null || return 1
	rm -f "$st"
	nsx ld bpftool map create "$st" type percpu_array key 4 value 16 entries 3 name stats || return 1
	out=$(nsx ld "$N" "${D[@]}" upgrade 2>&1) || { echo "$out"; return 1; }
	nsx ld bpftool map show pinned "$st" | grep -qE "max_entries 3( |$)" && { echo "still the old stats"; return 1; }
	nsx ld "$N" "${D[@]}" stats | grep -q "^redirect " || return 1
	nsx ld "$N" "${D[@]}" detach >/dev/null
}
check "upgrade to a build with other counters" t_upgrade_new_stats
# Issue 13: pins of the layout before the derived-address slot table are
# refused by attach (and by every command that reads them), and detach
# removes them.
t_old_layout() {
	local pd=$BPFFS/nappt what=$1 out
	nsx ld "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" >/dev/null || return 1
	nsx ld "$N" "${D[@]}" detach --keep-maps >/dev/null || return 1
	if [ "$what" = phones ]; then
		nsx ld bpftool map create "$pd/phones" type array key 4 value 16 entries 65536 name phones || return 1
	else
		rm -f "$pd/slots"
		nsx ld bpftool map create "$pd/slots" type array key 4 value 12 entries 1024 name slots || return 1
	fi
	out=$(nsx ld "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" 2>&1) && { echo "attached: $out"; return 1; }
	echo "$out"
	grep -q "pinned maps of an older layout in $pd ($2.*'nappt detach' removes them" <<<"$out" || return 1
	out=$(nsx ld "$N" "${D[@]}" phone list 2>&1) && { echo "listed: $out"; return 1; }
	echo "$out"
	grep -q "another layout" <<<"$out" || return 1
	nsx ld "$N" "${D[@]}" detach >/dev/null
	[ ! -e "$pd/phones" ] && [ ! -e "$pd/slots" ] || { echo "pins left: $(ls "$pd")"; return 1; }
	nsx ld "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" >/dev/null || return 1
	nsx ld "$N" "${D[@]}" detach >/dev/null
}
check "a kept 'phones' pin (old layout): attach refuses, detach removes it" t_old_layout phones "a 'phones' map"
check "kept 12-byte 'slots' (old layout): attach refuses, detach removes it" t_old_layout slots "'slots' of 12-byte entries, not mmapable"
# A LAN pool smaller than pub_count x slots_per_ip: the first public
# addresses only have derived private addresses; said, not refused.
check "small LAN pool: attach warns, naming the public addresses served" run 0 "warning: the LAN pool \(256 addresses\) derives private addresses for 4 of the 16 public addresses: phones are served on 203.0.113.0-203.0.113.3 only.*a /22 LAN pool would serve" "$N" "${D[@]}" attach --lan lan0 --wan wan0 --lan-pool 100.64.0.0/24 --pub-pool 203.0.113.0/28
check "small LAN pool: status says it" run 0 "served: +4 of 16 public addresses" "$N" "${D[@]}" status
check "small LAN pool: phone addr on a served address" run 0 "^100.64.0.194\$" "$N" "${D[@]}" phone addr 203.0.113.3 2048-3071
check "small LAN pool: phone addr beyond refused, naming those served" run 1 "203.0.113.4 2048-3071 has no private address in the LAN pool \(it derives addresses for 203.0.113.0-203.0.113.3 only" "$N" "${D[@]}" phone addr 203.0.113.4 2048-3071
check "small LAN pool: the LAN broadcast is no phone's" run 1 "has no private address" "$N" "${D[@]}" phone addr 203.0.113.3 64512-65535
check "small LAN pool: phone add beyond refused" run 1 "has no private address in the LAN pool" "$N" "${D[@]}" phone add 100.64.0.66 02:00:00:00:00:0a 203.0.113.4 2048-3071
check "detach small LAN pool" run 0 "detached 2" "$N" "${D[@]}" detach
# A confused operator: pools that make the checks meaningless.
check "overlapping pools refused" run 2 "overlap" "$N" "${D[@]}" attach --lan lan0 --wan wan0 --lan-pool 203.0.113.0/24 --pub-pool 203.0.113.0/28
check "martian pool refused" run 2 "127/8" "$N" "${D[@]}" attach --lan lan0 --wan wan0 --lan-pool 127.0.0.0/16 --pub-pool 203.0.113.0/28
check "pass is a test tool, not an operator command" run 2 "unknown command" "$N" pass count lan0

# The unit as installed, pointing at this build's binary.
t_unit_verify() {
	local d out
	d=$(mktemp -d)
	sed "s|/usr/local/sbin/|$(dirname "$N")/|g" \
		"$(dirname "$0")/../../systemd/nappt.service" >"$d/nappt.service"
	out=$(systemd-analyze verify "$d/nappt.service" 2>&1)
	rm -rf "$d"
	echo "$out"
	[ -z "$out" ]
}
check "systemd-analyze verify nappt.service" t_unit_verify
check_summary
