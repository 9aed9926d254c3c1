#!/usr/bin/env bash
# The units under a real systemd as PID 1.  This machine has none, so
# systemd-nspawn boots one over the machine's own root (--volatile=yes:
# a tmpfs root, /usr read-only from the host) inside a network namespace
# the test creates, with `make install`'s tree bound on /usr/local and
# its configuration on /etc/nappt.  The container has nothing of this
# tree but what was installed, so the units run the installed binaries
# with the installed templates.
#
#   [pa] phone 00:1b:54:aa:bb:0c -- lan0 [gw: systemd in a container] wan0 -- gw0 [inet]
#                                   100.64.0.1       198.18.0.1         198.51.100.7
#
# Checked: the units come up at boot (the provisioner pulls the data
# plane in), a phone gets a lease, fetches its config from tftpd and its
# traffic leaves translated; `systemctl reload nappt` swaps the programs
# (new ids) and loses no lease; kill -9 of the provisioner's main PID is
# restarted by systemd with the same leases in the store and the maps;
# `systemctl stop nappt` detaches (no XDP/TC left on lan0/wan0), stops the
# bound provisioner and keeps the maps; a start attaches them again.
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
for t in systemd-nspawn nsenter udhcpc tftp tcpdump socat sqlite3 bpftool; do
	command -v $t >/dev/null || {
		echo "missing $t (make deps)"
		echo "0 passed, 1 failed"
		exit 1
	}
done

T=$(mktemp -d /tmp/nappt-sysd.XXXXXX)
ROOT=$T/root
MACHINE=nappt-sysd-$$
NSPAWN=
LEADER=

# Power the container off (its units stop, as on a real shutdown), wait
# for it within bounds, then kill what is left; then the namespaces.
cleanup() {
	local i
	if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
		[ -n "$LEADER" ] && timeout 10 nsenter -t "$LEADER" -a systemctl poweroff --no-block >/dev/null 2>&1
		for i in $(seq 100); do
			kill -0 "$NSPAWN" 2>/dev/null || break
			sleep 0.2
		done
		kill "$NSPAWN" 2>/dev/null && sleep 1
		kill -9 "$NSPAWN" 2>/dev/null
		[ -n "$LEADER" ] && kill -9 "$LEADER" 2>/dev/null
		wait "$NSPAWN" 2>/dev/null
	fi
	ns_cleanup
	[ -n "${SYSD_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail_setup() {
	echo "setup failed: $*"
	[ -f "$T/console.log" ] && tail -30 "$T/console.log"
	echo "0 passed, 1 failed"
	exit 1
}

# --- the installed tree and its configuration ------------------------------

make -s --no-print-directory -C "$SRC" install BUILD="$BUILD" DESTDIR="$ROOT" \
	PREFIX=/usr/local >"$T/install.log" 2>&1 || {
	cat "$T/install.log"
	fail_setup "make install"
}
CONF=$ROOT/etc/nappt/nappt.conf
UNITS=$ROOT/usr/local/lib/systemd/system
# The example as installed, with this topology's names where it differs.
sed -i -e 's|^interface = .*|interface = lan0|' \
	-e 's|^wan_interface = .*|wan_interface = wan0|' \
	-e 's|^lan_pool = .*|lan_pool = 100.64.0.0/16|' \
	-e 's|^public_pool = .*|public_pool = 203.0.113.0/28|' "$CONF"
mkdir -p "$T/tftp/sub"
echo "image" >"$T/tftp/P0030801SR02.bin"
echo "in a subdirectory" >"$T/tftp/sub/x.bin"
ln -s /etc/passwd "$T/tftp/escape.bin"
ln -s sub "$T/tftp/linkdir"

# Booting into a target of the test's own keeps the distribution's
# services (enabled by the first boot's presets) from starting; the
# bpffs is the test's (bound on /sys/fs/bpf), as systemd mounts none in
# a container.  Only the provisioner and tftpd are wanted: the data plane
# must come in through their dependencies.
cat >"$UNITS/nappt-test.target" <<'EOF'
[Unit]
Description=nappt systemd test
Requires=basic.target
After=basic.target
Wants=nappt-provisioner.service nappt-tftpd.service
AllowIsolate=yes
EOF

# --- namespaces --------------------------------------------------------------

ns_add gw >/dev/null && ns_add pa >/dev/null && ns_add inet >/dev/null ||
	fail_setup "namespaces"
GW=$(ns_name gw)
PA=$(ns_name pa)
INET=$(ns_name inet)
ip -n "$GW" link add lan0 address 02:00:00:00:01:01 type veth peer name eth0 netns "$PA" &&
	ip -n "$GW" link add wan0 address 02:00:00:00:02:01 type veth peer name gw0 netns "$INET" ||
	fail_setup "veths"
ip -n "$PA" link set eth0 address 00:1b:54:aa:bb:0c
for l in "$GW:lan0" "$GW:wan0" "$PA:eth0" "$INET:gw0"; do
	ip -n "${l%%:*}" link set "${l#*:}" up
done
ip -n "$GW" addr add 100.64.0.1/16 dev lan0
ip -n "$GW" addr add 198.18.0.1/24 dev wan0
ip -n "$GW" route add 198.51.100.0/24 via 198.18.0.2
ip -n "$INET" addr add 198.18.0.2/24 dev gw0
ip -n "$INET" addr add 198.51.100.7/32 dev lo
ip -n "$INET" route add 203.0.113.0/24 via 198.18.0.1
# XDP sees what a wire carries: full checksums; and a frame redirected
# into a veth is received only if XDP runs on its peer.
ip netns exec "$PA" ethtool -K eth0 tx off >/dev/null
ip netns exec "$INET" ethtool -K gw0 tx off >/dev/null
nsx pa "$BUILD/nappt-test-pass" attach eth0 >/dev/null &&
	nsx inet "$BUILD/nappt-test-pass" attach gw0 >/dev/null || fail_setup "pass programs"
bpffs_setup || fail_setup "bpffs"

# --- the container -----------------------------------------------------------

# The host's networkd and nftables have no business in the test's
# namespace (the test configures its links): masked, network-online.target
# is reached at once instead of after networkd-wait-online's timeout.
# --network-namespace-path (not `ip netns exec`, whose fresh /sys hides
# the cgroup mounts nspawn needs).  nspawn keeps CAP_NET_ADMIN only with
# a private network of its own, and never CAP_BPF/CAP_PERFMON: grant
# them, as the host would have them; its seccomp filter answers bpf()
# with EPERM and openat2() (tftpd's RESOLVE_BENEATH) with ENOSYS unless
# allowed.  /proc/sys/net writable as on a host (the
# loader turns forwarding on).
SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn --quiet \
	--register=no --keep-unit -M "$MACHINE" -D / --volatile=yes \
	--network-namespace-path="/run/netns/$GW" \
	--capability=CAP_NET_ADMIN,CAP_BPF,CAP_PERFMON --system-call-filter="bpf openat2" \
	--bind="$BPFFS:/sys/fs/bpf" \
	--bind-ro="$ROOT/usr/local:/usr/local" \
	--bind-ro="$ROOT/etc/nappt:/etc/nappt" \
	--bind-ro="$T/tftp:/srv/tftp" \
	-b systemd.firstboot=off systemd.unit=nappt-test.target \
	systemd.mask=systemd-networkd.service systemd.mask=systemd-networkd.socket \
	systemd.mask=systemd-networkd-wait-online.service systemd.mask=nftables.service \
	</dev/null >"$T/console.log" 2>&1 &
NSPAWN=$!
# The container's PID 1 once it is systemd (nspawn's child execs it).
for _ in $(seq 200); do
	LEADER=$(pgrep -P "$NSPAWN" -x systemd | head -1)
	[ -n "$LEADER" ] && break
	kill -0 "$NSPAWN" 2>/dev/null || break
	sleep 0.1
done
[ -n "$LEADER" ] || fail_setup "no container"

cx() { nsenter -t "$LEADER" -a "$@"; }
N="$BUILD/nappt --pin-dir $BPFFS/nappt"

# is-system-running --wait returns once the boot job queue is empty.
for _ in $(seq 100); do
	[ -S "/proc/$LEADER/root/run/systemd/private" ] && break
	sleep 0.1
done
state=$(timeout 60 nsenter -t "$LEADER" -a systemctl is-system-running --wait 2>/dev/null)
echo "container $MACHINE booted: $state"

journal() {
	cx journalctl -b --no-pager -o cat -u nappt.service \
		-u nappt-provisioner.service -u nappt-tftpd.service | tail -${1:-40}
}

# wait_for SECONDS CMD...: CMD until it succeeds, bounded.
wait_for() {
	local n=$(($1 * 10))
	shift
	while [ $n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	"$@"
}

# The program ids attached to lan0 and wan0 (XDP or TC), sorted.
prog_ids() {
	nsenter --net="/run/netns/$GW" bpftool net show 2>/dev/null |
		grep -E '^(lan0|wan0)' | grep -oE '(id|prog_id) [0-9]+' |
		awk '{print $2}' | sort -n | tr '\n' ' '
}

# The leases as the store has them, and the mappings as the maps have
# them: compared before and after each disruption.
store_leases() {
	cx sqlite3 /var/lib/nappt/leases.db \
		"SELECT hex(mac), priv_ip, pub_ip, port_first, port_last FROM leases ORDER BY mac"
}
map_phones() { $N phone list | grep -E '^[0-9]' | sort; }

t_units_up() {
	local u ok=0
	for u in nappt.service nappt-provisioner.service nappt-tftpd.service; do
		echo "$u: $(cx systemctl is-active $u)"
		[ "$(cx systemctl is-active $u)" = active ] || ok=1
	done
	[ $ok -eq 0 ] || { cx systemctl --no-pager status nappt.service nappt-provisioner.service nappt-tftpd.service; journal; }
	return $ok
}
check "units active after boot (nappt.service pulled in by the provisioner)" t_units_up

t_attached() {
	local ids
	ids=$(prog_ids)
	echo "programs on lan0/wan0: $ids"
	[ "$(wc -w <<<"$ids")" -ge 2 ] && $N status
}
check "the data plane is attached to lan0 and wan0" t_attached

# The phones' udhcpc event script (what it keeps in $OUT: see there).
install -m 0755 "$SRC/tests/lib/udhcpc-event.sh" "$T/script"
CISCO_HEX=$(printf 'Cisco Systems, Inc. IP Phone CP-7940G' | od -An -tx1 | tr -d ' \n')00

t_lease() {
	OUT="$T/lease.env" ip netns exec "$PA" timeout 20 udhcpc -i eth0 -f -q -n \
		-t 5 -T 2 -A 1 -s "$T/script" -V "" -x "0x3c:$CISCO_HEX" >"$T/udhcpc.out" 2>&1 ||
		{ cat "$T/udhcpc.out"; journal 20; return 1; }
	cat "$T/lease.env"
	grep -q '^ip=100\.64\.' "$T/lease.env" && map_phones | grep -q '00:1b:54:aa:bb:0c'
}
check "the phone gets a lease, its mapping is in the maps" t_lease

t_tftp() {
	local f
	f=$(sed -n 's/^boot_file=//p' "$T/lease.env")
	[ -n "$f" ] || return 1
	(cd "$T" && ip netns exec "$PA" timeout 10 tftp 100.64.0.1 -m binary -c get "$f" "$T/got.cfg")
	grep -q "startMediaPort" "$T/got.cfg" 2>/dev/null || { journal 10; return 1; }
}
check "the phone fetches its config from tftpd (rendered from the installed templates)" t_tftp

# tftpd under its unit (DynamicUser=, so openat2 answers ENOSYS): images
# and subdirectories are served, no symlink is followed.
tftp_get() {
	rm -f "$T/got"
	(cd "$T" && ip netns exec "$PA" timeout 10 tftp 100.64.0.1 -m binary -c get "$1" "$T/got") 2>&1
	[ -s "$T/got" ]
}
t_tftp_tree() {
	tftp_get P0030801SR02.bin && grep -qx image "$T/got" &&
		tftp_get sub/x.bin && grep -qx "in a subdirectory" "$T/got" &&
		! tftp_get escape.bin && ! tftp_get linkdir/x.bin
}
check "tftpd serves images and subdirectories, follows no symlink" t_tftp_tree

# One datagram from a port of the phone's range must leave with its
# public address and the same port.
t_translated() {
	local first pub out
	first=$(map_phones | awk '/00:1b:54:aa:bb:0c/ {split($4, r, "-"); print r[1]}')
	pub=$(map_phones | awk '/00:1b:54:aa:bb:0c/ {print $3}')
	[ -n "$first" ] && [ -n "$pub" ] || return 1
	rm -f "$T/cap.pcap"
	ip netns exec "$INET" timeout 8 tcpdump -i gw0 -n -U -c 1 -w "$T/cap.pcap" \
		udp and dst port 5060 2>/dev/null &
	local cap=$!
	sleep 1
	echo "REGISTER $1" | ip netns exec "$PA" socat -u - UDP:198.51.100.7:5060,sourceport=$((first + 10))
	wait $cap
	out=$(tcpdump -n -r "$T/cap.pcap" 2>/dev/null)
	echo "$out"
	grep -q "IP $pub.$((first + 10)) > 198.51.100.7.5060" <<<"$out" || return 1
	# And back: (public address, port of the range) reaches the phone.
	rm -f "$T/in.txt"
	ip netns exec "$PA" timeout 8 socat -u UDP-RECV:$((first + 11)) OPEN:"$T/in.txt",creat &
	local rx=$!
	sleep 0.5
	echo "INVITE $1" | ip netns exec "$INET" socat -u - UDP:$pub:$((first + 11)),sourceport=5060
	wait $rx
	cat "$T/in.txt"
	grep -qx "INVITE $1" "$T/in.txt"
}
check "the phone's traffic is translated both ways (public address, own port)" t_translated boot

# --- reload: upgrade ------------------------------------------------------------

t_reload() {
	local before after leases maps pid
	before=$(prog_ids)
	leases=$(store_leases)
	maps=$(map_phones)
	pid=$(cx systemctl show -p MainPID --value nappt-provisioner.service)
	cx systemctl reload nappt.service || { journal 20; return 1; }
	after=$(prog_ids)
	echo "programs: $before -> $after"
	[ -n "$after" ] && [ "$before" != "$after" ] || return 1
	# No id of before is still attached: both sides were replaced.
	for id in $before; do grep -qw "$id" <<<"$after" && return 1; done
	[ "$(store_leases)" = "$leases" ] && [ "$(map_phones)" = "$maps" ] &&
		[ -n "$leases" ] &&
		[ "$(cx systemctl show -p MainPID --value nappt-provisioner.service)" = "$pid" ]
}
check "systemctl reload nappt: new programs, the same leases, the provisioner untouched" t_reload
check "traffic translated both ways after the reload" t_translated reload

# --- kill -9 of the provisioner ----------------------------------------------

t_kill9() {
	local pid npid leases maps i
	leases=$(store_leases)
	maps=$(map_phones)
	pid=$(cx systemctl show -p MainPID --value nappt-provisioner.service)
	[ -n "$pid" ] && [ "$pid" != 0 ] || return 1
	cx kill -9 "$pid"
	for i in $(seq 150); do
		npid=$(cx systemctl show -p MainPID --value nappt-provisioner.service)
		[ "$(cx systemctl is-active nappt-provisioner.service)" = active ] &&
			[ -n "$npid" ] && [ "$npid" != 0 ] && [ "$npid" != "$pid" ] && break
		sleep 0.1
	done
	echo "main PID $pid -> $npid, restarts: $(cx systemctl show -p NRestarts --value nappt-provisioner.service)"
	[ "$npid" != "$pid" ] && [ "$(cx systemctl show -p NRestarts --value nappt-provisioner.service)" -ge 1 ] ||
		{ journal 20; return 1; }
	# Serving again: the leases are back in its memory from the store.
	wait_for 10 sh -c "nsenter -t $LEADER -a journalctl -b -o cat -u nappt-provisioner.service _PID=$npid | grep -q 'serving DHCP'" ||
		{ journal 20; return 1; }
	echo "store: $(wc -l <<<"$leases") lease(s), maps: $(wc -l <<<"$maps") phone(s)"
	[ -n "$leases" ] && [ "$(store_leases)" = "$leases" ] && [ "$(map_phones)" = "$maps" ]
}
check "kill -9 of the provisioner: systemd restarts it, the same leases in store and maps" t_kill9

# The restarted server knows the phone: a renewal keeps its address.
t_renew() {
	local ip
	ip=$(sed -n 's/^ip=//p' "$T/lease.env")
	OUT="$T/lease2.env" ip netns exec "$PA" timeout 20 udhcpc -i eth0 -f -q -n \
		-t 5 -T 2 -A 1 -s "$T/script" -V "" -x "0x3c:$CISCO_HEX" -r "$ip" >"$T/udhcpc.out" 2>&1 ||
		{ cat "$T/udhcpc.out"; return 1; }
	grep -qx "ip=$ip" "$T/lease2.env"
}
check "after the restart the phone gets its address back" t_renew
check "traffic translated both ways after the restart" t_translated restart

# --- stop: detach, keep the maps ---------------------------------------------

t_stop() {
	local maps ids
	maps=$(map_phones)
	cx systemctl stop nappt.service || { journal 20; return 1; }
	echo "nappt: $(cx systemctl is-active nappt.service)," \
		"provisioner: $(cx systemctl is-active nappt-provisioner.service)"
	[ "$(cx systemctl is-active nappt.service)" = inactive ] &&
		[ "$(cx systemctl is-active nappt-provisioner.service)" = inactive ] || return 1
	ids=$(prog_ids)
	ip -n "$GW" -d link show lan0 | grep -E 'xdp|prog' && return 1
	ip -n "$GW" -d link show wan0 | grep -E 'xdp|prog' && return 1
	[ -z "$ids" ] || { echo "still attached: $ids"; return 1; }
	ls "$BPFFS/nappt"
	# The slots map is the phones' only map (issue 13).
	[ -e "$BPFFS/nappt/slots" ] && [ -n "$maps" ] && [ "$(map_phones)" = "$maps" ]
}
check "systemctl stop nappt: nothing on lan0/wan0, provisioner stopped, maps kept" t_stop

# Stopped means closed (DESIGN.md line 6): with the programs gone the
# phone, which still holds its lease, must not be routed out untranslated
# by the kernel (the loader turned forwarding on at attach).
t_stopped_closed() {
	local n
	rm -f "$T/leak.pcap"
	ip netns exec "$INET" timeout 4 tcpdump -i gw0 -n -U -w "$T/leak.pcap" \
		udp and dst port 5060 2>/dev/null &
	local cap=$!
	sleep 1
	echo "REGISTER stopped" | ip netns exec "$PA" socat -u - UDP:198.51.100.7:5060,sourceport=40000
	wait $cap
	n=$(tcpdump -n -r "$T/leak.pcap" 2>/dev/null | tee /dev/stderr | wc -l)
	echo "lan0 forwarding: $(ip netns exec "$GW" sysctl -n net.ipv4.conf.lan0.forwarding)"
	[ "$n" -eq 0 ]
}
check "stopped: nothing from the phone leaves the WAN untranslated" t_stopped_closed

t_start_again() {
	local maps leases
	maps=$(map_phones)
	leases=$(store_leases)
	cx systemctl start nappt-provisioner.service || { journal 20; return 1; }
	[ "$(cx systemctl is-active nappt.service)" = active ] &&
		[ "$(wc -w <<<"$(prog_ids)")" -ge 2 ] &&
		[ "$(map_phones)" = "$maps" ] && [ "$(store_leases)" = "$leases" ]
}
check "starting the provisioner attaches the data plane again over the kept maps" t_start_again
check "traffic translated both ways after stop and start" t_translated start

check_summary
