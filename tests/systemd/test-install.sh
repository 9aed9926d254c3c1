#!/usr/bin/env bash
# `make install DESTDIR= PREFIX=` into temporary trees, then the installed
# binaries run from there: the layout, units naming the installed paths,
# an operator's configuration never overwritten, the binaries' help, the
# whole-file checks of all three (the provisioner finding the installed
# templates from its own location, for two prefixes), the provisioner
# rendering a phone's config with the installed templates (real DHCP in
# namespaces), the units passing `systemd-analyze verify` and staying
# under their exposure levels (systemd-analyze security).
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
need_root
T=$(mktemp -d /tmp/nappt-install.XXXXXX)
trap 'ns_cleanup; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM

A=$T/a # PREFIX=/usr/local (the default)
B=$T/b # PREFIX=/opt/nappt, SYSCONFDIR=/etc/opt
inst() {
	make -s --no-print-directory -C "$SRC" install BUILD="$BUILD" "$@" >>"$T/install.log" 2>&1 ||
		{ cat "$T/install.log"; return 1; }
}
check "make install DESTDIR=... (PREFIX=/usr/local)" inst DESTDIR="$A"
check "make install DESTDIR=... PREFIX=/opt/nappt SYSCONFDIR=/etc/opt" \
	inst DESTDIR="$B" PREFIX=/opt/nappt SYSCONFDIR=/etc/opt

# mode path...: each exists with that mode.
modes() {
	local m=$1 f r=0
	shift
	for f in "$@"; do
		[ "$(stat -c %a "$f" 2>/dev/null)" = "$m" ] || { echo "not $m: $f"; r=1; }
	done
	return $r
}
t_layout() {
	local p=$A/usr/local
	modes 755 $p/sbin/nappt $p/sbin/nappt-provisioner $p/sbin/nappt-tftpd &&
		modes 644 $p/lib/systemd/system/nappt.service \
			$p/lib/systemd/system/nappt-provisioner.service \
			$p/lib/systemd/system/nappt-tftpd.service \
			$p/share/doc/nappt/README.md $p/share/doc/nappt/nappt.conf.example \
			$p/share/doc/nappt/tftpd/README.md $p/share/doc/nappt/provisioner/README.md \
			$p/share/nappt/templates/cisco.cnf.xml $p/share/nappt/templates/polycom.cfg \
			$p/share/nappt/templates/yealink.cfg $p/share/nappt/templates/generic.cfg \
			$A/etc/nappt/nappt.conf &&
		[ -d "$A/srv/tftp" ] &&
		cmp "$SRC/etc/nappt.conf.example" "$A/etc/nappt/nappt.conf"
}
check "layout: binaries, units, docs, templates, /etc/nappt/nappt.conf, /srv/tftp" t_layout

# The units run what was installed, with the configuration installed.
t_unit_paths() {
	local u=$B/opt/nappt/lib/systemd/system
	grep -h '^Exec' "$u"/*.service
	! grep -l '/usr/local' "$u"/*.service &&
		! grep -h '^Exec' "$u"/*.service | grep -v '^Exec[A-Za-z]*=+/bin/mkdir' |
		grep -vq '=/opt/nappt/sbin/nappt[-a-z]* .*/etc/opt/nappt/nappt.conf' &&
		grep -q '^ExecStart=/opt/nappt/sbin/nappt -c /etc/opt/nappt/nappt.conf attach$' "$u/nappt.service" &&
		grep -q '^ExecReload=/opt/nappt/sbin/nappt -c /etc/opt/nappt/nappt.conf upgrade$' "$u/nappt.service" &&
		grep -q '^ExecStop=/opt/nappt/sbin/nappt -c /etc/opt/nappt/nappt.conf detach --keep-maps$' "$u/nappt.service"
}
check "units name the installed binaries and configuration (PREFIX, SYSCONFDIR)" t_unit_paths

t_keep_conf() {
	echo "# the operator's" >>"$A/etc/nappt/nappt.conf"
	inst DESTDIR="$A" && tail -1 "$A/etc/nappt/nappt.conf" | grep -qx "# the operator's"
}
check "a second make install keeps the operator's nappt.conf" t_keep_conf

t_help() {
	local b
	for b in nappt nappt-provisioner nappt-tftpd; do
		"$B/opt/nappt/sbin/$b" --help >"$T/help" 2>&1 || { cat "$T/help"; return 1; }
		head -1 "$T/help"
		grep -q "Usage: $b" "$T/help" || return 1
	done
}
check "the installed binaries run (--help)" t_help

# The configuration the checks and the provisioner run with: the example,
# with paths of this test.
conf_for() {
	local root=$1 out=$2
	sed -e "s|^phone_dir = .*|phone_dir = $T/phones|" \
		-e "s|^lease_db = .*|lease_db = $T/leases.db|" \
		-e "s|^stats_file = /run/nappt-provisioner/.*|stats_file = $T/prov.prom|" \
		-e "s|^stats_file = /run/nappt-tftpd/.*|stats_file = $T/tftpd.prom|" \
		-e "s|^root = /srv/tftp|root = $root/srv/tftp|" \
		"$root/$3/nappt.conf" >"$out"
}
conf_for "$A" "$T/a.conf" etc/nappt
conf_for "$B" "$T/b.conf" etc/opt/nappt

ns_add gw >/dev/null && ns_add pa >/dev/null || { echo "setup failed"; exit 1; }
GW=$(ns_name gw)
PA=$(ns_name pa)
ip -n "$GW" link add lan0 type veth peer name eth0 netns "$PA"
ip -n "$GW" link set lan0 up
ip -n "$PA" link set eth0 address 00:1b:54:aa:bb:0c up
ip -n "$GW" addr add 100.64.0.1/16 dev lan0

t_checks() {
	local c=$1 sbin=$2 tmpl=$3 out
	ip netns exec "$GW" "$sbin/nappt" -c "$c" -n || return 1
	ip netns exec "$GW" "$sbin/nappt-tftpd" --config "$c" -n || return 1
	out=$(ip netns exec "$GW" "$sbin/nappt-provisioner" -n -c "$c") || return 1
	echo "$out"
	grep -qF "templates in $tmpl)" <<<"$out" && [ -f "$tmpl/cisco.cnf.xml" ]
}
check "-n checks of all three; the provisioner finds the installed templates (/usr/local)" \
	t_checks "$T/a.conf" "$A/usr/local/sbin" "$A/usr/local/sbin/../share/nappt/templates"
check "-n checks of all three; the provisioner finds the installed templates (/opt/nappt)" \
	t_checks "$T/b.conf" "$B/opt/nappt/sbin" "$B/opt/nappt/sbin/../share/nappt/templates"

# A phone's config rendered by the installed provisioner comes from the
# installed template (marked here), not from the source tree.
t_render() {
	local p=$B/opt/nappt tmpl=$B/opt/nappt/share/nappt/templates/cisco.cnf.xml hex
	echo "<!-- installed template $$ -->" >>"$tmpl"
	mkdir -p "$T/phones"
	ip netns exec "$GW" "$p/sbin/nappt-provisioner" --no-maps -c "$T/b.conf" 2>"$T/prov.log" &
	ns_track $!
	for _ in $(seq 50); do
		grep -q "serving DHCP" "$T/prov.log" && break
		sleep 0.1
	done
	hex=$(printf 'Cisco Systems, Inc. IP Phone CP-7940G' | od -An -tx1 | tr -d ' \n')00
	ip netns exec "$PA" timeout 15 udhcpc -i eth0 -f -q -n -t 3 -T 1 -A 1 -s /bin/true \
		-V "" -x "0x3c:$hex" 2>&1 | tail -1
	ls "$T/phones"
	grep -q "installed template $$" "$T/phones/SEP001B54AABB0C.cnf.xml" ||
		{ cat "$T/prov.log"; return 1; }
}
check "the installed provisioner renders a phone's config with the installed template" t_render

# verify wants the binaries where the units name them: point them at the
# DESTDIR tree.
t_verify() {
	local d u out
	d=$(mktemp -d)
	for u in "$A"/usr/local/lib/systemd/system/*.service; do
		sed "s|/usr/local/sbin/|$A/usr/local/sbin/|g" "$u" >"$d/$(basename "$u")"
	done
	out=$(systemd-analyze verify "$d"/*.service 2>&1)
	rm -rf "$d"
	echo "$out"
	[ -z "$out" ]
}
check "systemd-analyze verify of the installed units" t_verify

# The exposure levels of README.md's table must not creep up: nappt and
# tftpd below 2.0 ("OK"), the provisioner at most 2.8 (README: what its
# parser's jail costs).
exposure() {
	local out r
	out=$(systemd-analyze security --offline=yes --threshold="$2" "$1" 2>&1)
	r=$?
	tail -1 <<<"$out"
	return $r
}
t_exposure() {
	local u=$A/usr/local/lib/systemd/system
	exposure "$u/nappt.service" 19 && exposure "$u/nappt-tftpd.service" 19 &&
		exposure "$u/nappt-provisioner.service" 28
}
check "systemd-analyze security: nappt < 2.0, nappt-tftpd < 2.0, provisioner <= 2.8" t_exposure

check_summary
