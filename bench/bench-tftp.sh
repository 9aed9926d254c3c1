#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# bench-tftp: a phone boot storm.  CLIENTS atftp clients start at once in a
# client namespace; each fetches a 4 KiB config and an 8 MiB image from a
# server in another namespace (veth, 198.18.69.0/24).  Run against
# nappt-tftpd, tftpd-hpa (in.tftpd, fetched with apt-get download and
# cached in BUILD) and atftpd, in the same run with the same client binary
# and options (blksize 1428, windowsize 16: a server that does not know
# windowsize ignores it).  Figures: wall time of the storm, peak server RSS
# (VmHWM of the daemon; tftpd-hpa forks one process per client, so its
# figure is the listener's only), clients byte-exact.
#
# Usage: bench-tftp.sh BUILD [CLIENTS (500)] [TIMEOUT_S per server (150)]
# Never fails on a number.  Last line: RESULT tftp ...
set -uo pipefail

BUILD=${1:-build}
CLIENTS=${2:-${CLIENTS:-500}}
LIMIT=${3:-${BENCH_TIMEOUT:-150}}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
OURS=$BUILD/nappt-tftpd
SRV=198.18.69.1
BLK=1428
WIN=16
# shellcheck source=tests/tftpd/lib.sh
. "$TOP/tests/tftpd/lib.sh"

trap tft_cleanup EXIT
TFT_TMP=$(mktemp -d /dev/shm/tft-bench.XXXXXX)
ROOT=$TFT_TMP/root
mkdir -p "$ROOT"
chmod 755 "$TFT_TMP" "$ROOT"
head -c 4096 /dev/urandom >"$ROOT/SEP001122334455.cnf.xml"
head -c $((8 << 20)) /dev/urandom >"$ROOT/image.bin"
chmod 644 "$ROOT"/*

# tftpd-hpa's server, unpacked once and cached in the build dir.  Only the
# binary is kept: the package's etc/init.d would match the Makefile's
# `find $(BUILD) -name '*.d'` dependency include.
HPA_DIR=$BUILD/tftpd-hpa
HPA=$HPA_DIR/in.tftpd
if [ ! -x "$HPA" ]; then
	mkdir -p "$HPA_DIR" "$TFT_TMP/deb"
	(cd "$TFT_TMP/deb" && timeout 60 apt-get download tftpd-hpa >/dev/null 2>&1 &&
		dpkg-deb -x tftpd-hpa_*.deb x && cp x/usr/sbin/in.tftpd "$HPA") ||
		echo "bench-tftp: could not fetch tftpd-hpa" >&2
	rm -rf "$TFT_TMP/deb"
fi

ns_add s >/dev/null || exit 0
ns_add c >/dev/null || exit 0
tft_link s c || exit 0

# one client: config then image, each compared with the original
cat >"$TFT_TMP/client.sh" <<CLIENT
#!/bin/bash
d=\$1
atftp --option "blksize $BLK" --option "windowsize $WIN" -g -r SEP001122334455.cnf.xml -l \$d.cfg $SRV >/dev/null 2>&1 &&
atftp --option "blksize $BLK" --option "windowsize $WIN" -g -r image.bin -l \$d.img $SRV >/dev/null 2>&1 &&
cmp -s \$d.cfg $ROOT/SEP001122334455.cnf.xml && cmp -s \$d.img $ROOT/image.bin
rc=\$?
rm -f \$d.cfg \$d.img
exit \$rc
CLIENT
chmod +x "$TFT_TMP/client.sh"

# storm NAME CMD...: start the server, run the storm, print "secs ok rss_mb"
storm() {
	local name=$1 pid t0 t1 ok i rss=0 out="$TFT_TMP/out-$1"
	shift
	mkdir -p "$out"
	# ip netns exec execs the server in place, so $! is the server
	# Every server runs at nice -10: the clients share the same 2 CPUs,
	# and a single-threaded server would otherwise get 1/(clients+1) of
	# the CPU while a forking or threaded one gets half.  Same for all.
	ip netns exec "$(ns_name s)" nice -n -10 "$@" >"$TFT_TMP/$name.log" 2>&1 &
	pid=$!
	ns_track $pid
	for _ in $(seq 1 50); do
		ns_exec s ss -uln | grep -q "$SRV:69" && break
		sleep 0.1
	done
	t0=$(date +%s.%N)
	ns_exec c timeout "$LIMIT" bash -c '
		for i in $(seq 1 '"$CLIENTS"'); do
			'"$TFT_TMP"'/client.sh '"$out"'/$i && echo ok &
		done
		wait' >"$out.res" 2>/dev/null
	t1=$(date +%s.%N)
	ok=$(grep -c '^ok$' "$out.res")
	# the daemon's pid: ip netns exec and nice exec in place
	if [ -r "/proc/$pid/status" ]; then
		rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
	fi
	kill "$pid" 2>/dev/null
	sleep 0.5
	kill -9 "$pid" 2>/dev/null
	rm -rf "$out"
	echo "$(echo "$t1 - $t0" | bc -l | xargs printf '%.1f') $ok ${rss:-0}"
}

echo "bench-tftp: $CLIENTS clients x (4 KiB + 8 MiB), atftp blksize $BLK windowsize $WIN, limit ${LIMIT}s per server"
# shellcheck disable=SC2086
read -r ours_s ours_ok ours_rss < <(storm ours "$OURS" ${OURS_OPTS:--q} -l $SRV:69 -m 20000 "$ROOT")
[ -n "${KEEP_LOG:-}" ] && cp "$TFT_TMP/ours.log" "$KEEP_LOG"
echo "  nappt-tftpd: ${ours_s}s, $ours_ok/$CLIENTS clients exact, peak RSS ${ours_rss} MiB"
hpa_s=NA hpa_ok=0 hpa_rss=0
if [ -x "$HPA" ] && [ -z "${ONLY_OURS:-}" ]; then
	read -r hpa_s hpa_ok hpa_rss < <(storm hpa "$HPA" -L -s -B 1468 -a $SRV:69 "$ROOT")
	echo "  tftpd-hpa:   ${hpa_s}s, $hpa_ok/$CLIENTS clients exact, listener RSS ${hpa_rss} MiB"
fi
atftpd_s=NA atftpd_ok=0 atftpd_rss=0
if command -v atftpd >/dev/null && [ -z "${ONLY_OURS:-}" ]; then
	read -r atftpd_s atftpd_ok atftpd_rss < <(storm atftpd atftpd --daemon --no-fork \
		--bind-address $SRV --port 69 --maxthread $((CLIENTS + 100)) \
		--user root --group root --logfile /dev/null "$ROOT")
	echo "  atftpd:      ${atftpd_s}s, $atftpd_ok/$CLIENTS clients exact, peak RSS ${atftpd_rss} MiB"
fi
ratio=NA
if [ "$hpa_s" != NA ] && [ "$ours_ok" -gt 0 ]; then
	ratio=$(echo "$hpa_s / $ours_s" | bc -l | xargs printf '%.2f')
fi
echo "  exact: ours $ours_ok hpa $hpa_ok atftpd $atftpd_ok (of $CLIENTS)"
echo "RESULT tftp clients=$CLIENTS ours_s=$ours_s hpa_s=$hpa_s atftpd_s=$atftpd_s hpa_over_ours=$ratio ours_rss_mb=$ours_rss"
exit 0
