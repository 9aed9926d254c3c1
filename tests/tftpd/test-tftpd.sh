#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# End-to-end tests of nappt-tftpd with real clients (tftp-hpa, atftp, curl)
# in two network namespaces joined by a veth (198.18.69.0/24): byte-exact
# transfers, options, rollover, packet loss (nftables numgen drops), path
# traversal, gating, WRQ, stray TIDs, Sorcerer's Apprentice, concurrency,
# and `systemd-analyze verify` of the unit.
#
# Usage: test-tftpd.sh BUILD_DIR.  Last line: "N passed, N failed".
set -uo pipefail

BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
BIN=$(cd "$BUILD" && pwd)/nappt-tftpd
PY=/usr/bin/python3
RAW="$HERE/rawclient.py"
SRV=198.18.69.1
# shellcheck source=tests/tftpd/lib.sh
. "$HERE/lib.sh"

trap tft_cleanup EXIT
TFT_TMP=$(mktemp -d /tmp/tft-e2e.XXXXXX)
ROOT=$TFT_TMP/root
PHONES=$TFT_TMP/phones # the provisioner's per-phone files (--phones)
OUT=$TFT_TMP/out
mkdir -p "$ROOT/sub" "$PHONES/.leases" "$OUT"
chmod 755 "$TFT_TMP"

# --- the served tree ----------------------------------------------------------
head -c 4096 /dev/urandom >"$ROOT/small.cfg"
head -c $((3 << 20)) /dev/urandom >"$ROOT/img.bin"
head -c $((256 << 10)) /dev/urandom >"$ROOT/quarter.bin"
head -c $((128 << 10)) /dev/urandom >"$ROOT/eighth.bin"
head -c $((1 << 20)) /dev/urandom >"$ROOT/one.bin"
# > 65535 blocks of 512 bytes: the block number rolls over
head -c $((33 << 20)) /dev/urandom >"$ROOT/big.bin"
head -c 1024 /dev/urandom >"$ROOT/sub/fw.bin"
: >"$ROOT/empty.bin"
head -c 1024 /dev/zero >"$ROOT/k.bin"
{
	for i in $(seq 1 2000); do printf 'line %d\n' "$i"; done
	printf 'cr\ronly\r\ncrlf\n\n\r\rend'
} >"$ROOT/text.txt"
ln -s /etc/passwd "$ROOT/evil"
ln -s ../../../../../../etc/passwd "$ROOT/evil2"
ln -s small.cfg "$ROOT/alias.cfg"
ln -s /etc "$ROOT/etcdir" # a directory component that leaves the root
mkfifo "$ROOT/fifo"
mkdir "$ROOT/adir"
# gating: a per-phone file for our client, one for another phone, in the
# phones dir (gate entries in its .leases); one that shadows ROOT's
head -c 2000 /dev/urandom >"$PHONES/SEP0000000000AA.cnf.xml"
head -c 2000 /dev/urandom >"$PHONES/SEP0000000000BB.cnf.xml"
echo 198.18.69.2 >"$PHONES/.leases/SEP0000000000AA.cnf.xml"
echo 198.18.69.99 >"$PHONES/.leases/SEP0000000000BB.cnf.xml"
echo root >"$ROOT/shadow.cfg"
echo phones >"$PHONES/shadow.cfg"
echo 198.18.69.2 >"$PHONES/.leases/shadow.cfg" # per-phone: needs an entry

ns_add s >/dev/null || exit 1
ns_add c >/dev/null || exit 1
tft_link s c || exit 1

# A second address on each side: another phone (.3), and a second server
# address for the wildcard-listen tests (.4).
ip -n "$(ns_name c)" addr add 198.18.69.3/24 dev tfc0
ip -n "$(ns_name s)" addr add 198.18.69.4/24 dev tfs0
PHONE2=198.18.69.3

# -c 60: the 50-client test below runs from one address
ip netns exec "$(ns_name s)" "$BIN" -l $SRV:69 --phones "$PHONES" -g -t 200 -R 8 ${TFT_MAIN_OPTS--c 60} "$ROOT" 2>"$TFT_TMP/server.log" &
ns_track $!
for _ in $(seq 1 50); do
	ns_exec s ss -uln | grep -q "$SRV:69" && break
	sleep 0.1
done

# srv2 PORT LOG ARGS...: another server instance (for limits that need
# their own configuration); sets SRV2_PID
srv2() {
	local port=$1 log=$2
	shift 2
	ip netns exec "$(ns_name s)" "$BIN" "$@" 2>"$log" &
	SRV2_PID=$!
	ns_track $SRV2_PID
	for _ in $(seq 1 50); do
		ns_exec s ss -uln | grep -q ":$port " && return 0
		sleep 0.1
	done
	return 1
}
srv2_stop() { kill "$SRV2_PID" 2>/dev/null; wait "$SRV2_PID" 2>/dev/null; }

hpa() { # MODE FILE OUT
	ns_exec c timeout 120 tftp $SRV -m "$1" -c get "$2" "$3"
}
same() { # the phones dir first, as the server looks
	if [ -e "$PHONES/$1" ]; then cmp "$PHONES/$1" "$2"; else cmp "$ROOT/$1" "$2"; fi
}

t_hpa() { # MODE FILE
	local o="$OUT/hpa-$1-${2//\//_}"
	rm -f "$o"
	hpa "$1" "$2" "$o" && same "$2" "$o"
}
t_atftp() { # FILE BLKSIZE WINDOWSIZE
	local o="$OUT/atftp-$1-$2-$3"
	rm -f "$o"
	ns_exec c timeout 120 atftp --option "blksize $2" --option "windowsize $3" \
		-g -r "$1" -l "$o" $SRV && same "$1" "$o"
}
t_curl() { # FILE BLKSIZE
	local o="$OUT/curl-$1-$2"
	rm -f "$o"
	ns_exec c timeout 120 curl -sS --tftp-blksize "$2" -o "$o" "tftp://$SRV/$1" &&
		same "$1" "$o"
}
raw() { # CMD NAME ARGS...
	local cmd=$1
	shift
	ns_exec c timeout 20 "$PY" "$RAW" "$cmd" $SRV "$@"
}
# refused NAME CODE [CMD]: the server answers NAME with ERROR CODE
refused() {
	local r
	r=$(ns_exec c timeout 20 "$PY" "$RAW" "${3:-rrq}" $SRV "$1")
	echo "$r"
	case "$r" in "ERROR $2 "*) return 0 ;; esac
	return 1
}

echo "# basic transfers"
check "tftp-hpa octet 4 KiB" t_hpa binary small.cfg
check "tftp-hpa octet 3 MiB" t_hpa binary img.bin
check "tftp-hpa octet subdirectory" t_hpa binary sub/fw.bin
check "tftp-hpa octet empty file" t_hpa binary empty.bin
check "tftp-hpa octet exact multiple of 512" t_hpa binary k.bin
check "tftp-hpa netascii" t_hpa ascii text.txt
check "tftp-hpa symlink inside the root" t_hpa binary alias.cfg
check "tftp-hpa rollover 33 MiB at 512 (67584 blocks)" t_hpa binary big.bin
check "atftp blksize 1428" t_atftp img.bin 1428 1
check "atftp blksize 8" t_atftp small.cfg 8 1
check "atftp blksize 65464" t_atftp img.bin 65464 1
check "atftp windowsize 16 blksize 1428" t_atftp img.bin 1428 16
check "atftp windowsize 64 blksize 1428" t_atftp img.bin 1428 64
check "atftp windowsize 8 rollover 33 MiB at 512" t_atftp big.bin 512 8
check "curl blksize 1428 (tsize)" t_curl img.bin 1428
check "curl blksize 512" t_curl small.cfg 512

echo "# protocol details"
t_oack() {
	local r
	r=$(raw rrq one.bin --opt blksize 1000 --opt tsize 0 --opt windowsize 4 \
		--out "$OUT/raw-oack") || return 1
	echo "$r"
	same one.bin "$OUT/raw-oack"
}
t_dupack() { # every ACK sent twice: still one DATA per block
	local r blocks=$(((1 << 20) / 512 + 1))
	r=$(raw dupack one.bin --out "$OUT/raw-dup") || return 1
	echo "$r (want $blocks data packets)"
	[ "$r" = "OK $((1 << 20)) $blocks" ] && same one.bin "$OUT/raw-dup"
}
# Transfer sockets are connected: a foreign TID gets the kernel's ICMP
# port unreachable, no TFTP ERROR, and the transfer is not disturbed.
t_stray() {
	local r
	r=$(raw stray quarter.bin --out "$OUT/raw-stray") || return 1
	echo "$r"
	grep -qx "STRAY none" <<<"$r" && grep -q "^OK $((256 << 10)) " <<<"$r" &&
		same quarter.bin "$OUT/raw-stray"
}
check "OACK with blksize/tsize/windowsize" t_oack
check "duplicate ACKs cause no duplicate data" t_dupack
check "stray TID gets no TFTP reply, transfer unaffected" t_stray
check "WRQ refused with error 2" refused up.bin 2 wrq
check "missing file: error 1" refused nope.cfg 1
check "missing directory: error 1" refused nodir/x.cfg 1

echo "# traversal and access"
check "../ refused" refused ../../../etc/passwd 2
check "absolute path is relative to the root (not found)" refused /etc/passwd 1
check "sub/../ refused" refused sub/../small.cfg 2
check "symlink to /etc/passwd refused" refused evil 2
check "relative symlink escaping the root refused" refused evil2 2
check "hidden gating dir refused" refused .leases/SEP0000000000AA.cnf.xml 2
check "NUL trick refused" refused 'small.cfg\0../../etc/passwd' 4
check "backslash refused" refused '..\\..\\etc\\passwd' 2
check "fifo refused" refused fifo 2
check "directory refused" refused adir 2
check "gated file, owner may read" t_hpa binary SEP0000000000AA.cnf.xml
check "gated file, other phone refused" refused SEP0000000000BB.cnf.xml 2
check "--phones: a per-phone file is served before ROOT's" t_hpa binary shadow.cfg
check "symlinked directory escaping the root refused" refused etcdir/passwd 2

# Under nappt-tftpd.service openat2 answers ENOSYS (RestrictSUIDSGID=):
# the fallback walk resolves every name there, and must refuse what
# RESOLVE_BENEATH refuses.  tests/tools/no-openat2 makes it so here.
echo "# openat2 refused (ENOSYS, as under the unit): the fallback walk"
WALK=6979
ip netns exec "$(ns_name s)" "$(dirname "$BIN")/no-openat2" "$BIN" -l $SRV:$WALK \
	--phones "$PHONES" -g -t 200 "$ROOT" 2>"$TFT_TMP/walk.log" &
ns_track $!
for _ in $(seq 1 50); do
	ns_exec s ss -uln | grep -q "$SRV:$WALK" && break
	sleep 0.1
done
walk() { # NAME WANT: the reply's first words
	local r
	r=$(ns_exec c timeout 20 "$PY" "$RAW" rrq $SRV "$1" --port $WALK --out "$OUT/walk")
	echo "$r"
	case "$r" in "$2"*) return 0 ;; esac
	return 1
}
t_walk_ok() { walk "$1" OK && same "$1" "$OUT/walk"; }
check "walk: a file is served" t_walk_ok small.cfg
check "walk: the fallback is what served it" grep -q "openat2 refused (ENOSYS)" "$TFT_TMP/walk.log"
check "walk: a file in a subdirectory is served" t_walk_ok sub/fw.bin
check "walk: gated file, owner may read" t_walk_ok SEP0000000000AA.cnf.xml
check "walk: gated file, other phone refused" walk SEP0000000000BB.cnf.xml "ERROR 2 "
check "walk: ../ refused" walk ../../../etc/passwd "ERROR 2 "
check "walk: sub/../ refused" walk sub/../small.cfg "ERROR 2 "
check "walk: ./ refused" walk ./small.cfg "ERROR 2 "
check "walk: empty component refused" walk sub//fw.bin "ERROR 2 "
check "walk: absolute path is relative to the root" walk /etc/passwd "ERROR "
check "walk: symlink to /etc/passwd refused" walk evil "ERROR 2 "
check "walk: relative symlink escaping the root refused" walk evil2 "ERROR 2 "
check "walk: symlinked directory escaping the root refused" walk etcdir/passwd "ERROR "
check "walk: fifo refused, not waited on" walk fifo "ERROR 2 "
check "walk: directory refused" walk adir "ERROR 2 "
check "walk: hidden gating dir refused" walk .leases/SEP0000000000AA.cnf.xml "ERROR 2 "
t_walk_gate_link() {
	# A gate entry that is a symlink to a file naming us: refused.
	ln -sf "$PHONES/.leases/SEP0000000000AA.cnf.xml" "$PHONES/.leases/SEP0000000000CC.cnf.xml"
	head -c 100 /dev/urandom >"$PHONES/SEP0000000000CC.cnf.xml"
	walk SEP0000000000CC.cnf.xml "ERROR 2 "
	local r=$?
	rm -f "$PHONES/.leases/SEP0000000000CC.cnf.xml" "$PHONES/SEP0000000000CC.cnf.xml"
	return $r
}
check "walk: gate entry that is a symlink refused" t_walk_gate_link
t_served_ok() { grep -q "RRQ small.cfg" "$TFT_TMP/server.log"; }
check "server logs with syslog priorities" grep -q '^<6>RRQ ' "$TFT_TMP/server.log"

echo "# hostile clients (issue 11)"
# [threat 11] never answer a packet we would also send (CVE-2024-2169)
noreply() { # HEX [PORT]
	local r
	r=$(ns_exec c timeout 20 "$PY" "$RAW" send $SRV "$1" --port "${2:-69}")
	echo "$r"
	[ "$r" = NOREPLY ]
}
check "d1: ERROR to port 69 is not answered" noreply 00050004782e00
check "d1: DATA to port 69 is not answered" noreply 000300016869
check "d1: ACK to port 69 is not answered" noreply 00040001
check "d1: OACK to port 69 is not answered" noreply 0006626c6b73697a650031343238
check "d1: unknown opcode to port 69 is not answered" noreply 00090000
t_strayerr() {
	local r
	r=$(raw strayerr quarter.bin --out "$OUT/raw-strayerr") || return 1
	echo "$r"
	grep -qx "STRAY none" <<<"$r" && same quarter.bin "$OUT/raw-strayerr"
}
check "d1: ERROR from a foreign TID to a transfer port is not answered" t_strayerr
t_flood() { # 300 malformed requests: the error replies are rate-limited
	local r
	r=$(ns_exec c timeout 20 "$PY" "$RAW" flood $SRV 300)
	echo "$r"
	sleep 1.2 # let the bucket refill for the next tests
	[ "${r#REPLIES }" -le 120 ]
}
check "d1: error replies rate-limited (300 bad requests)" t_flood

# [threat 11] nothing holds a slot for long; one address cannot lock out
# the others
t_slots() { # ARGS for the server: 500 never-ACKed RRQs from .2, then .3
	local r log=$TFT_TMP/slots.log
	srv2 6970 "$log" -l $SRV:6970 -m 200 -t 1000 "$@" "$ROOT" || return 1
	ns_exec c timeout 30 "$PY" "$RAW" storm $SRV img.bin 500 --port 6970 --wait 0.5
	r=$(ns_exec c timeout 20 "$PY" "$RAW" rrq $SRV small.cfg --port 6970 \
		--bind $PHONE2 --out "$OUT/raw-slots")
	echo "$r"
	grep -c Evicted "$log"
	srv2_stop
	grep -q "^OK 4096 " <<<"$r" && same small.cfg "$OUT/raw-slots"
}
check "d2: 500 stalled RRQs from one address, another served (per-client cap)" t_slots
check "d2: same with no per-client cap (eviction at the global limit)" t_slots -c 0
t_stall() { # a client asking timeout 255 and then silent: given up at -s
	local log=$TFT_TMP/stall.log t0 r
	srv2 6970 "$log" -l $SRV:6970 -s 2 "$ROOT" || return 1
	t0=$(date +%s)
	ns_exec c timeout 20 "$PY" "$RAW" send $SRV \
		"$(printf 'img.bin\0octet\0timeout\000255\0' | od -An -tx1 | tr -d ' \n' | sed 's/^/0001/')" \
		--port 6970 --wait 0.2 >/dev/null
	for _ in $(seq 1 60); do
		grep -q "Gave up sending img.bin" "$log" && break
		sleep 0.1
	done
	r=$(($(date +%s) - t0))
	srv2_stop
	cat "$log"
	echo "given up after ${r}s"
	grep -q "Gave up sending img.bin" "$log" && [ "$r" -le 4 ]
}
check "d2: a timeout-255 transfer is given up after --max-stall-s" t_stall
# Eviction of a client's only transfer frees its client record: the new
# transfer must not be tied to the freed one (a use-after-free, then a
# double free).  Under ASan: the server lives on, serves, reports nothing.
ASAN_BIN=$(cd "$BUILD" && pwd)/nappt-tftpd-asan
t_evict() { # ARGS: the limit; the stalled RRQs come from .2 (and .3)
	local log=$TFT_TMP/evict.log r alive=1 o=$OUT/raw-evict
	ASAN_OPTIONS=detect_leaks=0 BIN=$ASAN_BIN srv2 6974 "$log" \
		-l $SRV:6974 "$@" "$ROOT" || return 1
	raw storm img.bin 1 --port 6974 --wait 0.3
	raw storm img.bin 1 --port 6974 --wait 0.3 --bind $PHONE2
	for i in 1 2 3; do
		rm -f "$o"
		r=$(raw rrq small.cfg --port 6974 --out "$o")
		echo "$i: $r"
		grep -q "^OK 4096 " <<<"$r" && same small.cfg "$o" || alive=0
	done
	kill -0 "$SRV2_PID" 2>/dev/null || alive=0
	srv2_stop
	grep -E "Evicted|Sanitizer|runtime error" "$log" | head -5
	[ $alive = 1 ] && grep -q Evicted "$log" &&
		! grep -qE "Sanitizer|runtime error" "$log"
}
check "d2: per-client eviction of a client's only transfer (ASan)" t_evict -c 1
check "d2: global eviction of a client's only transfer (ASan)" t_evict -m 2
t_life() { # ACKs every 0.5 s: never stalled, given up at --max-life-s
	local log=$TFT_TMP/life.log r
	srv2 6975 "$log" -l $SRV:6975 -L 2 -s 60 -t 5000 "$ROOT" || return 1
	r=$(raw slow img.bin --port 6975 --wait 0.5)
	srv2_stop
	echo "$r"
	grep "too long" "$log"
	[[ "$r" =~ ^ERROR\ 0\ Transfer\ too\ long\ AFTER\ ([0-9]+) ]] &&
		[ "${BASH_REMATCH[1]}" -le 5 ]
}
check "d2: a slowly ACKing transfer is given up after --max-life-s" t_life
# 200 forged RRQs in 1 s from one address: new transfers of an address
# that never ACKed are rate-limited (10/s, burst 20), each gets DATA 1 at
# most twice: <= 2 * (20 + 10 * 1.x) DATA, not one per RRQ or more.
t_newrate() {
	local log=$TFT_TMP/newrate.log r r2
	srv2 6976 "$log" -l $SRV:6976 "$ROOT" || return 1
	r=$(raw stormcount small.cfg 200 --port 6976 --wait 3 --bind $PHONE2)
	echo "$r"
	# the address is not blocked for long: a phone there is served later
	sleep 2
	r2=$(raw rrq small.cfg --port 6976 --bind $PHONE2 --out "$OUT/raw-newrate")
	echo "$r2"
	srv2_stop
	grep -c "Ignored RRQ" "$log"
	[ "${r#DATA }" -le 70 ] && grep -q "^OK 4096 " <<<"$r2" &&
		grep -q "Ignored RRQ" "$log"
}
check "d2: 200 forged RRQs from one address: DATA bounded by --new-rate" t_newrate
# --interface: a wildcard listen bound to the LAN side; a request that
# arrives on another interface (the WAN) gets nothing.
t_iface() {
	local log=$TFT_TMP/iface.log r1 r2
	veth "s:tfs1" "c:tfc1" || return 1
	ip -n "$(ns_name s)" addr add 198.18.70.1/24 dev tfs1
	ip -n "$(ns_name c)" addr add 198.18.70.2/24 dev tfc1
	srv2 6977 "$log" -l 0.0.0.0:6977 --interface tfs0 "$ROOT" || return 1
	r1=$(ns_exec c timeout 20 "$PY" "$RAW" rrq 198.18.70.1 small.cfg --port 6977)
	r2=$(raw rrq small.cfg --port 6977 --out "$OUT/raw-iface")
	srv2_stop
	echo "other interface: $r1"
	echo "LAN interface: $r2"
	[ "$r1" = TIMEOUT ] && grep -q "^OK 4096 " <<<"$r2"
}
check "d5: --interface: a request on another interface is not answered" t_iface
t_badiface() { ! "$BIN" --check --interface nosuch0 -l 0.0.0.0:6978 "$ROOT"; }
check "d5: --interface with a missing interface fails to start" t_badiface

# RFC 7440: nothing after the final block, netascii windows included
t_nawin() {
	local r
	r=$(raw rrq text.txt --mode netascii --opt windowsize 8 --wait 1.5) || return 1
	echo "$r"
	grep -qx "EXTRA 0" <<<"$r" && ! grep -q "Gave up sending text.txt" "$TFT_TMP/server.log"
}
check "d3: windowed netascii sends no DATA past EOF" t_nawin

# [threat 12] gating fails closed
GP=$TFT_TMP/gphones
mkdir -p "$GP"
head -c 999 /dev/urandom >"$GP/SEP0000000000CC.cnf.xml"
t_gate() { # EXPECT (ok|refused): what a request for the CC config gets
	local r
	r=$(ns_exec c timeout 20 "$PY" "$RAW" rrq $SRV SEP0000000000CC.cnf.xml --port 6971)
	echo "$r"
	case $1 in
	ok) grep -q "^OK 999 " <<<"$r" ;;
	*) grep -q "^ERROR 2 " <<<"$r" ;;
	esac
}
if srv2 6971 "$TFT_TMP/gate.log" -l $SRV:6971 --phones "$GP" --gate "$ROOT"; then
	check "d4: gate dir missing: per-phone file refused" t_gate refused
	mkdir "$GP/.leases"
	check "d4: no entry: per-phone file refused" t_gate refused
	echo 198.18.69.2 >"$GP/.leases/SEP0000000000CC.cnf.xml"
	check "d4: entry lists the client: served" t_gate ok
	rm -rf "$GP/.leases"
	check "d4: gate dir deleted: refused" t_gate refused
	mkdir "$GP/.leases.new" "$GP/.leases"
	echo 198.18.69.2 >"$GP/.leases/SEP0000000000CC.cnf.xml"
	t_gate ok >/dev/null
	echo 198.18.69.99 >"$GP/.leases.new/SEP0000000000CC.cnf.xml"
	mv -T "$GP/.leases" "$GP/.leases.old" && mv -T "$GP/.leases.new" "$GP/.leases"
	check "d4: gate dir replaced: the new entries apply" t_gate refused
	srv2_stop
fi
t_gate_eq() { # --gate takes no value; --gate=DIR is an error, not a root
	! "$BIN" --check --gate="$ROOT" "$ROOT" 2>/dev/null &&
		"$BIN" --check --gate "$ROOT" | grep -q "root $ROOT, .*gate $ROOT/.leases" &&
		"$BIN" --check --gate-dir "$GP" "$ROOT" | grep -q "gate $GP"
}
check "d4: --gate DIR and --gate=DIR cannot differ in meaning" t_gate_eq

# log injection
t_loginj() {
	raw rrq 'x\n<0>forged' >/dev/null
	raw rrq 'y\r\n<1>forged' >/dev/null
	cat "$TFT_TMP/server.log" | grep -a forged
	! grep -aq '^<[01]>forged' "$TFT_TMP/server.log" &&
		grep -aq 'x\\x0a<0>forged' "$TFT_TMP/server.log"
}
check "d5: client strings are escaped in the log" t_loginj

# [threat 11] reflection: a forged option-less RRQ buys 2 DATA 1, not 9
t_reflect() {
	local r
	r=$(ns_exec c timeout 20 "$PY" "$RAW" count $SRV one.bin --wait 3)
	echo "$r (RRQ 42 bytes on the wire, DATA 1 544 bytes each)"
	[ "${r#DATA1 }" -le 2 ]
}
check "d6: unproven client gets DATA 1 at most twice" t_reflect

# path MTU and EPOLLOUT
t_mtu() {
	local r
	r=$(raw rrq small.cfg --opt blksize 65464) || return 1
	echo "$r"
	grep -qx "OACK blksize=1468" <<<"$r"
}
check "d7: blksize capped at the route MTU (1500 - 32)" t_mtu
t_eagain() { # a slow qdisc fills the socket buffer: resume on EPOLLOUT
	local t0 t1 ok=0 o=$OUT/eagain
	srv2 6972 "$TFT_TMP/eagain.log" -l $SRV:6972 -b 65464 -t 5000 "$ROOT" || return 1
	ns_exec s tc qdisc add dev tfs0 root tbf rate 400mbit burst 256kb latency 500ms
	t0=$(date +%s%N)
	ns_exec c timeout 60 atftp --option "blksize 65464" --option "windowsize 64" \
		-g -r img.bin -l "$o" $SRV 6972 && same img.bin "$o" && ok=1
	t1=$(date +%s%N)
	ns_exec s tc qdisc del dev tfs0 root
	srv2_stop
	echo "ok=$ok $(((t1 - t0) / 1000000)) ms (rto 5000 ms)"
	[ $ok = 1 ] && [ $(((t1 - t0) / 1000000)) -lt 4000 ]
}
check "d7: a full socket buffer waits for EPOLLOUT, not a timeout" t_eagain

# the smaller ones
t_longname() {
	local r
	r=$(raw rrq "$(printf 'a%.0s' $(seq 1 2000))")
	echo "$r"
	grep -q "^ERROR 4 " <<<"$r"
}
check "d8: a 2000-byte request gets ERROR 4" t_longname
if srv2 6973 "$TFT_TMP/wild.log" -l 0.0.0.0:6973 "$ROOT"; then
	t_pktinfo() {
		local r
		r=$(ns_exec c timeout 20 "$PY" "$RAW" rrq 198.18.69.4 nope.cfg --port 6973 --src)
		echo "$r"
		grep -qx "FROM 198.18.69.4" <<<"$r" && grep -q "^ERROR 1 " <<<"$r"
	}
	check "d8: ERROR from port 69 leaves from the address asked (wildcard)" t_pktinfo
	t_bcast() {
		local r
		r=$(ns_exec c timeout 20 "$PY" "$RAW" rrq 198.18.69.255 small.cfg --port 6973 \
			--broadcast --src --out "$OUT/raw-bcast")
		echo "$r"
		grep -qx "FROM $SRV" <<<"$r" && grep -q "^OK 4096 " <<<"$r"
	}
	check "d8: a broadcast RRQ is served (ipi_spec_dst)" t_bcast
	srv2_stop
fi
t_fifo_open() {
	local r
	r=$(raw watchopen fifo --watch "$ROOT/fifo")
	echo "$r"
	grep -q "^ERROR 2 " <<<"$r" && grep -qx NOTOPENED <<<"$r"
}
check "d8: a FIFO/device is refused without being opened" t_fifo_open
t_eio() { # netascii reads /proc/PID/mem at 0: EIO, must be ERROR 0 at once
	local r sp
	: >"$ROOT/eio.bin"
	sleep 60 &
	sp=$!
	ip netns exec "$(ns_name s)" unshare -m --propagation private sh -c \
		"mount --bind /proc/$sp/mem '$ROOT/eio.bin' && exec '$BIN' -l $SRV:6974 -t 1000 '$ROOT'" \
		2>"$TFT_TMP/eio.log" &
	SRV2_PID=$!
	ns_track $SRV2_PID
	for _ in $(seq 1 50); do
		ns_exec s ss -uln | grep -q ":6974 " && break
		sleep 0.1
	done
	r=$(ns_exec c timeout 20 "$PY" "$RAW" rrq $SRV eio.bin --mode netascii --port 6974)
	echo "$r"
	srv2_stop
	kill $sp
	rm -f "$ROOT/eio.bin"
	grep -q "^ERROR 0 Read error" <<<"$r"
}
check "d8: a read error gets ERROR 0 at once" t_eio

# SO_RCVBUFFORCE needs CAP_NET_ADMIN, which the unit does not grant: the
# server must not depend on it (here it runs as root, where the old code's
# FORCE silently succeeded), and says when rmem_max caps the buffer.
t_rcvbuf() {
	local max
	max=$(cat /proc/sys/net/core/rmem_max)
	grep "Receive buffer" "$TFT_TMP/server.log"
	if [ "$max" -ge 8388608 ]; then
		! grep -q "Receive buffer" "$TFT_TMP/server.log"
	else
		grep -q "Receive buffer $max bytes" "$TFT_TMP/server.log"
	fi
}
check "d8: receive buffer as the unit gets it (no SO_RCVBUFFORCE), logged" t_rcvbuf

# leading slash: served relative to the root, gated like the plain name
check "d9: /SEP... served to its owner" t_hpa binary /SEP0000000000AA.cnf.xml
check "d9: /SEP... of another phone refused (no gating bypass)" refused /SEP0000000000BB.cnf.xml 2
check "d9: //SEP... of another phone refused" refused //SEP0000000000BB.cnf.xml 2

echo "# concurrency"
t_parallel() {
	local i pids=() bad=0
	for i in $(seq 1 50); do
		ns_exec c timeout 120 curl -sS --tftp-blksize 1428 -o "$OUT/par-$i" \
			"tftp://$SRV/img.bin" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || bad=$((bad + 1)); done
	for i in $(seq 1 50); do same img.bin "$OUT/par-$i" || bad=$((bad + 1)); done
	echo "bad=$bad"
	[ $bad -eq 0 ]
}
check "50 concurrent curl clients, all exact" t_parallel

echo "# packet loss (nftables numgen drops 1 in 20 DATA and 1 in 20 ACKs)"
# The handshake (RRQ, OACK, ACK 0) is spared: atftp aborts on a repeated
# OACK ("unexpected OACK") when its ACK 0 was lost, a client limitation.
ns_exec s nft -f - <<'NFT'
table inet tftloss {
	chain in { type filter hook input priority 0; udp dport != 69 @th,64,16 4 @th,80,16 != 0 numgen random mod 20 0 counter drop; }
	chain out { type filter hook output priority 0; udp sport != 69 @th,64,16 3 numgen random mod 20 0 counter drop; }
}
NFT
check "loss: tftp-hpa lock-step 256 KiB" t_hpa binary quarter.bin
# curl and atftp answer a repeated DATA block at most once and otherwise
# re-ACK only on their own timer, which our retransmissions keep resetting
# (atftp) or which runs tens of seconds (curl): a lost ACK stalls them.
# For these two clients only DATA is dropped.
ns_exec s nft flush chain inet tftloss in
check "loss: atftp windowsize 8 blksize 1428 1 MiB (DATA loss only)" t_atftp one.bin 1428 8
# curl asks for a 6 s retransmission timeout (RFC 2349 "timeout"), which
# the server honours: each lost DATA block costs 6 s (12 s if lost twice).
# 256 KiB (184 blocks, 9 losses on average) took 30-78 s and, at the
# tail, past the 120 s bound; 128 KiB (92 blocks: 4.6 losses on average,
# none in 1% of runs) keeps the check within it.
check "loss: curl blksize 1428 128 KiB (DATA loss only)" t_curl eighth.bin 1428
t_dropped() {
	local n
	n=$(ns_exec s nft list table inet tftloss | grep -o 'packets [0-9]*' | awk '{s+=$2} END {print s+0}')
	echo "dropped $n packets"
	[ "$n" -gt 0 ]
}
check "loss: packets were really dropped" t_dropped
ns_exec s nft delete table inet tftloss

echo "# command line and unit"
check "--help" "$BIN" --help
check "--check good config" "$BIN" --check -l $SRV:69 "$ROOT"
t_badcheck() { ! "$BIN" --check -r "$TFT_TMP/missing" 2>/dev/null; }
check "--check bad root fails" t_badcheck
t_unit() {
	local u="$TFT_TMP/nappt-tftpd.service"
	# verify needs the ExecStart binary to exist: point it at the build
	sed "s|/usr/local/sbin/nappt-tftpd|$BIN|" "$TOP/systemd/nappt-tftpd.service" >"$u"
	systemd-analyze verify "$u"
}
check "systemd-analyze verify unit" t_unit
t_alive() { kill -0 "${NS_PIDS[0]}"; }
check "server still running" t_alive

if [ "$T_FAIL" -ne 0 ]; then
	echo "# server log (tail)"
	tail -n 20 "$TFT_TMP/server.log"
fi
check_summary
[ "$T_FAIL" -eq 0 ]
