#!/usr/bin/env bash
# The gateway's one configuration (issue 12): the loader (nappt -c), the
# provisioner and nappt-tftpd (--config) read the same file through one
# parser; each one's -n checks the whole file and reports every error as
# FILE:LINE: reason; a data plane attached with other pools than the
# provisioner's is refused at start, naming both values (and so are an
# upgrade and an attach onto kept maps from a file that says other pools);
# `nappt -c FILE status` shows leases, map fill and the provisioner's and
# tftpd's counters, and says "not running / no stats" when a file is
# missing.  Namespace cf holds lan0/wan0; nothing leaves it.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; rm -rf "$T"' EXIT
bpffs_setup
N=$BUILD/nappt
P=$BUILD/nappt-provisioner
TF=$BUILD/nappt-tftpd

ns_add cf >/dev/null || exit 1
NS=$(ns_name cf)
lan_wan_ns "$NS" || exit 1
ip -n "$NS" addr add 100.64.0.1/16 dev lan0
ip -n "$NS" addr add 198.18.0.1/24 dev wan0
mkdir -p "$T/tftp" "$T/phones"
echo image >"$T/tftp/image.bin"

# conf PUBLIC_POOL > FILE: the shipped example, with this test's paths.
conf() {
	awk -v t="$T" -v pin="$BPFFS/nappt" -v pub="$1" '
		/^\[/ { sec = $0 }
		/^pin_dir =/ { $0 = "pin_dir = " pin }
		/^phone_dir =/ { $0 = "phone_dir = " t "/phones" }
		/^lease_db =/ { $0 = "lease_db = " t "/leases.db" }
		/^public_pool =/ { $0 = "public_pool = " pub }
		/^mode =/ { $0 = "mode = generic" }
		/^root =/ { $0 = "root = " t "/tftp" }
		/^#listen =/ { $0 = "listen = 100.64.0.1:69" }
		/^stats_file =/ {
			$0 = "stats_file = " t (sec == "[tftpd]" ? "/tftpd.prom" : "/prov.prom")
		}
		{ print }' "$SRC/etc/nappt.conf.example"
}
conf 203.0.113.0/28 >"$T/gw.conf"
conf 203.0.113.0/27 >"$T/other.conf"
F=$T/gw.conf

# run WANT_RC PATTERN CMD...: exit code and a line matching PATTERN
# (egrep) in what the command printed.
run() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$(nsx cf "$@" 2>&1)
	rc=$?
	echo "$out"
	if [ "$rc" -ne "$want" ]; then
		echo "exit $rc, want $want: $*"
		return 1
	fi
	[ -z "$pat" ] || grep -qE -- "$pat" <<<"$out" || {
		echo "output lacks /$pat/"
		return 1
	}
}

# --- -n: the whole file, by each of the three ------------------------------

check "example: nappt -c FILE -n" run 0 "configuration OK \(lan lan0, wan wan0" "$N" -c "$F" -n
check "example: nappt-provisioner -n -c FILE" run 0 "configuration OK" "$P" -n -c "$F"
check "example: nappt-tftpd --config FILE -n" run 0 "root $T/tftp, listen 100.64.0.1:69, interface lan0, phones $T/phones, gate $T/phones/.leases" "$TF" --config "$F" -n

# One broken file; every program names every error at its line.
sed -e 's/^lan_pool = .*/lan_pool = 100.64.0.0\/33/' \
	-e 's/^reserved_ports = .*/reserved_ports = 5060, 70000, 9-3/' \
	-e 's/^decline_hold = .*/decline_hol = 600/' \
	-e 's/^max_per_client = .*/max_per_client = lots/' \
	-e 's/^mode = .*/mode = fast/' "$F" >"$T/bad.conf"
line_of() { grep -n "$1" "$T/bad.conf" | head -1 | cut -d: -f1; }
L_LAN=$(line_of '^lan_pool')
L_RES=$(line_of '^reserved_ports')
L_DH=$(line_of '^decline_hol ')
L_MPC=$(line_of '^max_per_client')
L_MODE=$(line_of '^mode')
t_bad() {
	local out rc=0
	out=$(nsx cf "$@" 2>&1) && { echo "exit 0: $*"; return 1; }
	echo "$out"
	for want in "$T/bad.conf:$L_LAN: lan_pool: want a network" \
		"$T/bad.conf:$L_RES: reserved_ports: bad port or range '70000'" \
		"$T/bad.conf:$L_RES: reserved_ports: range 9-3 is backwards" \
		"$T/bad.conf:$L_DH: unknown key 'decline_hol' in \[global\]" \
		"$T/bad.conf:$L_MPC: max_per_client: want a number" \
		"$T/bad.conf:$L_MODE: mode: want auto, native"; do
		grep -q -- "$want" <<<"$out" || { echo "missing: $want"; rc=1; }
	done
	return $rc
}
check "nappt -n: every error as FILE:LINE: reason" t_bad "$N" -c "$T/bad.conf" -n
check "nappt-provisioner -n: the same errors" t_bad "$P" -n -c "$T/bad.conf"
check "nappt-tftpd --config -n: the same errors" t_bad "$TF" --config "$T/bad.conf" -n

# Overlapping pools, and what one program needs that another does not.
sed 's/^public_pool = .*/public_pool = 100.64.1.0\/28/' "$F" >"$T/overlap.conf"
L_PUB=$(grep -n '^public_pool' "$T/overlap.conf" | cut -d: -f1)
L_LP=$(grep -n '^lan_pool' "$T/overlap.conf" | cut -d: -f1)
check "overlapping pools refused by the loader's -n" run 1 "overlap.conf:$L_PUB: public_pool overlaps lan_pool \(line $L_LP\)" "$N" -c "$T/overlap.conf" -n
check "overlapping pools refused by the provisioner's -n" run 1 "overlap.conf:$L_PUB: public_pool overlaps lan_pool" "$P" -n -c "$T/overlap.conf"
sed '/^\[dataplane\]/,/^\[tftpd\]/{/^\[tftpd\]/!d}' "$F" >"$T/nodp.conf"
check "no [dataplane]: the loader needs wan_interface" run 1 "nodp.conf:[0-9]+: \[dataplane\] wan_interface is required" "$N" -c "$T/nodp.conf" -n
check "no [dataplane]: the provisioner does without" run 0 "configuration OK" "$P" -n -c "$T/nodp.conf"
check "nappt -n without -c checks /etc/nappt/nappt.conf" run 1 "/etc/nappt/nappt.conf" "$N" -n
check "with -c, attach takes no other flags" run 2 "takes only --discard-leases" "$N" -c "$F" attach --mode native

# --- the mismatch with a data plane attached by hand ------------------------

# The provisioner's own sections only (what it read before issue 12), and
# the data plane attached with the loader's flags: the pools disagree.
sed '/^\[dataplane\]/,/^\[mac\]/{/^\[mac\]/!d}' "$T/other.conf" >"$T/prov-only.conf"
t_mismatch_adhoc() {
	local out
	nsx cf "$N" --pin-dir "$BPFFS/nappt" attach --lan lan0 --wan wan0 \
		--lan-pool 100.64.0.0/16 --pub-pool 203.0.113.0/28 --mode generic || return 1
	out=$(timeout 20 ip netns exec "$NS" "$P" -c "$T/prov-only.conf" 2>&1)
	local rc=$?
	nsx cf "$N" --pin-dir "$BPFFS/nappt" detach >/dev/null
	echo "$out"
	[ $rc -ne 0 ] &&
		grep -q "provisioner: public_pool 203.0.113.0/27 but the data plane at $BPFFS/nappt was attached with 203.0.113.0/28" <<<"$out"
}
check "provisioner vs a data plane attached by hand: refused, naming both pools" t_mismatch_adhoc

# --- attach from the file; status --------------------------------------------

# Before attach, the file's pools derive the address (issue 13).
check "phone addr with -c before attach: from the file's pools" run 0 "^100.64.0.66\$" "$N" -c "$F" phone addr 203.0.113.1 2048-3071
check "nappt -c FILE attach" run 0 "attached: lan lan0 \(generic\) wan wan0 \(generic\); lan pool 100.64.0.0/16 .*public pool 203.0.113.0/28, slot 1024" "$N" -c "$F" attach
check "pins where the file says" test -e "$BPFFS/nappt/links/lan"
check "status: the file matches the attached data plane" run 0 "config: +$F matches" "$N" -c "$F" status
check "status: gateway from [global]" run 0 "lan gateway: 100.64.0.1" "$N" -c "$F" status
check "status: map fill" run 0 "map fill: +slots 0 of 1024 \(0.0%\)" "$N" -c "$F" status
check "status: no provisioner stats is said, exit 0" run 0 "provisioner: +not running / no stats \($T/prov.prom" "$N" -c "$F" status
check "status: no tftpd stats is said, exit 0" run 0 "tftpd: +not running / no stats \($T/tftpd.prom" "$N" -c "$F" status

# --- the mismatch: refused at start, naming both values ---------------------

t_mismatch() {
	local out
	out=$(timeout 20 ip netns exec "$NS" "$P" -c "$T/other.conf" 2>&1) && {
		echo "provisioner started: $out"
		return 1
	}
	echo "$out"
	grep -q "provisioner: public_pool 203.0.113.0/27 but the data plane at $BPFFS/nappt was attached with 203.0.113.0/28" <<<"$out"
}
check "provisioner with other pools refuses, naming both" t_mismatch
check "upgrade from a file with other pools refuses, naming both" run 1 "public_pool 203.0.113.0/27 but the data plane at $BPFFS/nappt was attached with 203.0.113.0/28" "$N" -c "$T/other.conf" upgrade
check "status says the mismatch" run 0 "MISMATCH" "$N" -c "$T/other.conf" status
check "upgrade from the same file" run 0 "upgraded lan" "$N" -c "$F" upgrade
# reload = upgrade: what does not size the maps follows the file.
sed 's/^drop_unknown = no/drop_unknown = yes/' "$F" >"$T/drop.conf"
check "upgrade applies the file's drop_unknown" run 0 "settings from $T/drop.conf: drop_unknown yes" "$N" -c "$T/drop.conf" upgrade
check "the data plane drops unknown inbound" run 0 "unknown in: +drop" "$N" -c "$F" pool
check "upgrade from the first file turns it off again" run 0 "drop_unknown no" "$N" -c "$F" upgrade
check "the data plane passes unknown inbound" run 0 "unknown in: +pass" "$N" -c "$F" pool

# --- the provisioner and tftpd from the same file; their counters ------------

# The data plane's LAN gateway is not the one DHCP announces: said.
check "a LAN gateway set by hand" run 0 "lan gateway: 100.64.0.2" "$N" -c "$F" pool set --lan-gw 100.64.0.2
check "status says the gateway differs" run 0 "gateway 100.64.0.1 in $F but the data plane's lan gateway is 100.64.0.2" "$N" -c "$F" status
# Its server identifier (here the file's gateway) must be the data
# plane's LAN gateway, or RENEWING unicasts to it would be dropped as a
# phone's untranslatable traffic: refused, naming both (issue 14).
check "the provisioner refuses to serve behind the other LAN gateway" run 1 "LAN gateway address is 100.64.0.2, not server_id 100.64.0.1" timeout 20 "$P" -c "$F" --templates "$SRC/provisioner/templates"
check "upgrade sets the file's gateway" run 0 "settings from $F: .*gateway 100.64.0.1" "$N" -c "$F" upgrade
check "status: the file matches again" run 0 "config: +$F matches" "$N" -c "$F" status
ip netns exec "$NS" "$P" -c "$F" --templates "$SRC/provisioner/templates" 2>>"$T/prov.log" &
ns_track $!
ip netns exec "$NS" "$TF" --config "$F" 2>>"$T/tftpd.log" &
ns_track $!
wait_for() {
	local i
	for i in $(seq 100); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	echo "no $1"
	cat "$T/prov.log" "$T/tftpd.log"
	return 1
}
check "provisioner serves from the file, writes its stats" wait_for "$T/prov.prom"
check "tftpd serves from the file, writes its stats" wait_for "$T/tftpd.prom"
t_fetch() {
	ip netns exec "$NS" curl -s --max-time 10 -o "$T/got.bin" tftp://100.64.0.1/image.bin &&
		cmp "$T/got.bin" "$T/tftp/image.bin" &&
		ip netns exec "$NS" curl -s --max-time 10 -o /dev/null tftp://100.64.0.1/nosuch.bin
	# tftpd rewrites its counters every 5 s.
	for _ in $(seq 80); do
		grep -q 'end="completed"} 1' "$T/tftpd.prom" &&
			grep -q 'reason="not_found"} 1' "$T/tftpd.prom" && return 0
		sleep 0.1
	done
	cat "$T/tftpd.prom"
	return 1
}
check "a TFTP fetch and a refusal are counted" t_fetch
check "status: leases next to the map fill" run 0 "leases: +0 in the provisioner's store, 0 mapped in the data plane" "$N" -c "$F" status
check "status: the provisioner's counters" run 0 "nappt_dhcp_received_total discover=0 request=0" "$N" -c "$F" status
check "status: tftpd's counters" run 0 "nappt_tftp_transfers_total started=1 completed=1" "$N" -c "$F" status
check "status: tftpd's refusals" run 0 "nappt_tftp_refused_total not_found=1" "$N" -c "$F" status
for p in "${NS_PIDS[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
touch -d '-1 hour' "$T/tftpd.prom"
check "status: a stats file nobody rewrites is stale" run 0 "tftpd: .*written [0-9]+ s ago \(stale: not running\?\)" "$N" -c "$F" status

# --- kept maps and a file that says other pools ------------------------------

# The private address is derived from the public address and the first
# slot (issue 13), in the file's pools: asked, and held to the arithmetic
# (lan_pool 100.64.0.0 + index 1 of 203.0.113.0/28 x 64 slots + slot 2).
PA=$(nsx cf "$N" -c "$F" phone addr 203.0.113.1 2048-3071)
check "phone addr with -c: the derived address" test "$PA" = 100.64.0.66
check "a lease elsewhere refused, naming the derived address" run 1 "is served at $PA, not 100.64.0.10" "$N" -c "$F" phone add 100.64.0.10 02:00:00:00:00:0a 203.0.113.1 2048-3071
check "a lease in the maps" run 0 "" "$N" -c "$F" phone add "$PA" 02:00:00:00:00:0a 203.0.113.1 2048-3071
check "detach --keep-maps" run 0 "maps kept" "$N" -c "$F" detach --keep-maps
check "attach from a file with other pools onto kept maps refuses, naming both" run 1 "hold 1 lease\(s\) for lan pool 100.64.0.0/16, public pool 203.0.113.0/28, slot 1024 ports; this attach asks for lan pool 100.64.0.0/16, public pool 203.0.113.0/27" "$N" -c "$T/other.conf" attach
check "attach from the same file keeps the lease" run 0 "attached" "$N" -c "$F" attach
check "the kept lease is served" run 0 "$PA +02:00:00:00:00:0a 203.0.113.1 +2048-3071" "$N" -c "$F" phone list
# A typo made after attach does not keep stop (detach) from working.
{ cat "$F"; echo "typo_key = 1"; } >"$T/typo.conf"
check "attach from a broken file refuses" run 1 "typo.conf:[0-9]+: unknown key 'typo_key'" "$N" -c "$T/typo.conf" attach
check "upgrade from a broken file refuses" run 1 "typo.conf:[0-9]+: unknown key 'typo_key'" "$N" -c "$T/typo.conf" upgrade
check "detach with the pin_dir of a broken file" run 0 "detached 2 program" "$N" -c "$T/typo.conf" detach --keep-maps
check "attach from the same file keeps the lease again" run 0 "attached" "$N" -c "$F" attach
check "detach from the file" run 0 "detached 2 program" "$N" -c "$F" detach
check "nothing pinned after detach" run 1 "not attached" "$N" -c "$F" status

check_summary
