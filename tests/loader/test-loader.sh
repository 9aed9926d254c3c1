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
check "phone add" run 0 "" "$N" "${D[@]}" phone add 100.64.0.10 02:00:00:00:00:0a 203.0.113.1 2048-3071
check "phone add reversed range" run 2 "bad port range" "$N" "${D[@]}" phone add 100.64.0.11 02:00:00:00:00:0b 203.0.113.1 3072-2047
check "phone add overlapping range" run 1 "belongs to another phone" "$N" "${D[@]}" phone add 100.64.0.11 02:00:00:00:00:0b 203.0.113.1 2048-4095
check "phone add unaligned range" run 1 "whole slots" "$N" "${D[@]}" phone add 100.64.0.11 02:00:00:00:00:0b 203.0.113.1 2048-2100
check "phone add well-known ports" run 1 "above 1023" "$N" "${D[@]}" phone add 100.64.0.11 02:00:00:00:00:0b 203.0.113.1 0-1023
check "phone add outside pool" run 1 "outside the configured pools" "$N" "${D[@]}" phone add 100.65.0.11 02:00:00:00:00:0b 203.0.113.1 4096-5119
check "phone add on the gateway's own address" run 1 "Failed to add phone" "$N" "${D[@]}" phone add 100.64.0.1 02:00:00:00:00:0b 203.0.113.1 4096-5119
check "phone add with a broadcast MAC" run 1 "MAC a unicast" "$N" "${D[@]}" phone add 100.64.0.11 ff:ff:ff:ff:ff:ff 203.0.113.1 4096-5119
check "phone add bad mac" run 2 "bad MAC" "$N" "${D[@]}" phone add 100.64.0.11 02:00:00:00:00 203.0.113.1 4096-5119
check "phone list" run 0 "100.64.0.10 +02:00:00:00:00:0a 203.0.113.1 +2048-3071" "$N" "${D[@]}" phone list
check "status counts the phone" run 0 "phones: +1 of 65536 leased, 1024 ports" "$N" "${D[@]}" status
check "bpftool pretty-prints the phones map" run 0 '"port_first": 2048' bpftool map dump pinned "$BPFFS/nappt/phones"
check "stats" run 0 "out_xlate +0 packets" "$N" "${D[@]}" stats
check "pool set drop-unknown" run 0 "unknown in: +drop" "$N" "${D[@]}" pool set --drop-unknown on
check "pool resize refused" run 1 "detach" "$N" "${D[@]}" pool set --pub-pool 203.0.113.0/24
check "upgrade replaces both programs" run 0 "upgraded lan: program [0-9]+ -> [0-9]+" "$N" "${D[@]}" upgrade
check "phones survive upgrade" run 0 "2048-3071" "$N" "${D[@]}" phone list
check "phone del" run 0 "" "$N" "${D[@]}" phone del 100.64.0.10
check "phone del again" run 1 "no such mapping" "$N" "${D[@]}" phone del 100.64.0.10
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
check "lease to keep" run 0 "" "$N" "${D[@]}" phone add 100.64.0.10 02:00:00:00:00:0a 203.0.113.1 2048-3071
check "detach --keep-maps" run 0 "maps kept" "$N" "${D[@]}" detach --keep-maps
check "failed attach over kept maps" run 1 "native XDP not supported|cannot take frames redirected by native XDP" "$N" "${D[@]}" attach --lan br0 --wan wan0 "${POOLS[@]}" --mode native
check "failed attach left the kept lease" run 0 "100.64.0.10 +02:00:00:00:00:0a 203.0.113.1 +2048-3071" "$N" "${D[@]}" phone list
check "other pools of the same size refused, both named" run 1 "hold 1 lease.*lan pool 100.64.0.0/16, public pool 203.0.113.0/28.*asks for lan pool 100.65.0.0/16, public pool 203.0.113.16/28" "$N" "${D[@]}" attach --lan lan0 --wan wan0 --lan-pool 100.65.0.0/16 --pub-pool 203.0.113.16/28
check "other slot size refused" run 1 "slot 1024 ports.*slot 2048 ports" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}" --slot-size 2048
check "refused attach left the kept lease" run 0 "2048-3071" "$N" "${D[@]}" phone list
check "same pools reuse the kept lease" run 0 "attached" "$N" "${D[@]}" attach --lan lan0 --wan wan0 "${POOLS[@]}"
check "kept lease served again" run 0 "100.64.0.10 +02:00:00:00:00:0a 203.0.113.1 +2048-3071" "$N" "${D[@]}" phone list
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
