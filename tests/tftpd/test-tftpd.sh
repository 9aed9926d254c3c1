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

ns_add s >/dev/null || exit 1
ns_add c >/dev/null || exit 1
tft_link s c || exit 1

ip netns exec "$(ns_name s)" "$BIN" -l $SRV:69 --phones "$PHONES" -g -t 200 -R 8 "$ROOT" 2>"$TFT_TMP/server.log" &
ns_track $!
for _ in $(seq 1 50); do
	ns_exec s ss -uln | grep -q "$SRV:69" && break
	sleep 0.1
done

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
t_stray() {
	local r
	r=$(raw stray quarter.bin --out "$OUT/raw-stray") || return 1
	echo "$r"
	grep -qx "STRAY 5" <<<"$r" && grep -q "^OK $((256 << 10)) " <<<"$r" &&
		same quarter.bin "$OUT/raw-stray"
}
check "OACK with blksize/tsize/windowsize" t_oack
check "duplicate ACKs cause no duplicate data" t_dupack
check "stray TID gets error 5, transfer unaffected" t_stray
check "WRQ refused with error 2" refused up.bin 2 wrq
check "missing file: error 1" refused nope.cfg 1
check "missing directory: error 1" refused nodir/x.cfg 1

echo "# traversal and access"
check "../ refused" refused ../../../etc/passwd 2
check "absolute path refused" refused /etc/passwd 2
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
t_served_ok() { grep -q "RRQ small.cfg" "$TFT_TMP/server.log"; }
check "server logs with syslog priorities" grep -q '^<6>RRQ ' "$TFT_TMP/server.log"

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
check "loss: curl blksize 1428 256 KiB (DATA loss only)" t_curl quarter.bin 1428
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
