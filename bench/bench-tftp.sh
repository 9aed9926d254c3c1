#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# bench-tftp: a phone boot storm.  CLIENTS phones, each with its own source
# address (198.18.72.0/22 on the client side of a veth), start at once and
# each fetches a 4 KiB config then an 8 MiB image from a server in another
# namespace.  The phones are played by one process (tftp-storm, built from
# bench/tftp-storm.c) that drives every transfer and compares every block
# with the original, so the server and not 500 client processes is what
# the storm measures.  Servers, in the same run, same client, same options:
# nappt-tftpd, tftpd-hpa (in.tftpd, fetched with apt-get download and
# cached in BUILD) and atftpd.
#
#   windowed storm: blksize 1428, windowsize 16 asked (tftpd-hpa does not
#                   know windowsize and runs lock-step)
#   lock-step storm: no options (RFC 1350, 512-byte blocks, one ACK per
#                   block: what most phones do), a LOCK_KB image
#   real clients:   ATFTP_N atftp processes against nappt-tftpd, byte-exact
#
# Figures: wall time of each storm (the client's clock), clients byte-exact,
# peak server RSS (VmHWM of the daemon; tftpd-hpa forks one process per
# client, so its figure is the listener's only).
#
# Usage: bench-tftp.sh BUILD [CLIENTS (500)] [TIMEOUT_S per storm (150)]
# Env: LOCK_KB (1024), ATFTP_N (20), ATFTPD_CLIENTS (300: atftpd aborts
# at 450 simultaneous transfers, see below), ONLY_OURS=1, OURS_OPTS (-q).
# Never fails on a number.  Last line: RESULT tftp ...
set -uo pipefail

BUILD=${1:-build}
CLIENTS=${2:-${CLIENTS:-500}}
LIMIT=${3:-${BENCH_TIMEOUT:-150}}
LOCK_KB=${LOCK_KB:-1024}
ATFTP_N=${ATFTP_N:-20}
ATFTPD_CLIENTS=${ATFTPD_CLIENTS:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
BUILD=$(cd "$BUILD" && pwd)
OURS=$BUILD/nappt-tftpd
STORM=$BUILD/tftp-storm
SRV=198.18.69.1
BLK=1428
WIN=16
# shellcheck source=tests/tftpd/lib.sh
. "$TOP/tests/tftpd/lib.sh"

if [ "$CLIENTS" -gt 1000 ]; then
	echo "bench-tftp: at most 1000 clients (one address each)" >&2
	CLIENTS=1000
fi

# Server CPU time: each server runs in a cgroup v1 cpuacct group of its
# own, which counts its forks and threads too (tftpd-hpa lets the kernel
# reap its children, so they never show in its own times).
CG=/sys/fs/cgroup/cpuacct/nappt-tftp-bench.$$
[ -w /sys/fs/cgroup/cpuacct/cgroup.procs ] && mkdir "$CG" 2>/dev/null || CG=""
cg_cleanup() {
	local p
	tft_cleanup
	if [ -n "$CG" ]; then
		while read -r p; do
			echo "$p" >/sys/fs/cgroup/cpuacct/cgroup.procs 2>/dev/null
		done <"$CG/cgroup.procs"
		rmdir "$CG" 2>/dev/null
	fi
}
trap cg_cleanup EXIT
TFT_TMP=$(mktemp -d /dev/shm/tft-bench.XXXXXX)
ROOT=$TFT_TMP/root
mkdir -p "$ROOT"
chmod 755 "$TFT_TMP" "$ROOT"
head -c 4096 /dev/urandom >"$ROOT/SEP001122334455.cnf.xml"
head -c $((8 << 20)) /dev/urandom >"$ROOT/image.bin"
head -c $((LOCK_KB << 10)) /dev/urandom >"$ROOT/lock.bin"
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
# one address per phone: 198.18.72.1 ... (a /22 holds 1022)
{
	for i in $(seq 1 "$CLIENTS"); do
		echo "addr add 198.18.$((72 + i / 256)).$((i % 256))/22 dev tfc0"
	done
} | ip -n "$(ns_name c)" -batch - || exit 0
ip -n "$(ns_name s)" route add 198.18.72.0/22 dev tfs0 || exit 0
FIRST=198.18.72.1

CFG="SEP001122334455.cnf.xml=$ROOT/SEP001122334455.cnf.xml"
# storm NAME MODE N CMD...: start the server, run the storm of N phones
# (MODE windowed or lockstep), print "secs ok rss_mb cpu_s"; cpu_s is the
# server's CPU time (cpuacct, children and threads included), which the
# neighbours' load does not change as much as the wall time
storm() {
	local name=$1 mode=$2 n=$3 pid ok secs rss=0 res args cpu=NA
	shift 3
	# ip netns exec and nice exec in place, so $! is the server.  All
	# servers at nice -10, as before the client was one process.
	ip netns exec "$(ns_name s)" nice -n -10 "$@" >"$TFT_TMP/$name.log" 2>&1 &
	pid=$!
	ns_track $pid
	if [ -n "$CG" ]; then
		echo 0 >"$CG/cpuacct.usage"
		echo "$pid" >"$CG/cgroup.procs"
	fi
	for _ in $(seq 1 50); do
		ns_exec s ss -uln | grep -q "$SRV:69" && break
		sleep 0.1
	done
	if [ "$mode" = windowed ]; then
		args=(-b $BLK -w $WIN "$CFG" "image.bin=$ROOT/image.bin")
	else
		args=(-b 0 "$CFG" "lock.bin=$ROOT/lock.bin")
	fi
	# the client at the servers' priority too: on a shared machine a
	# starved client would measure the neighbours, not the server
	res=$(ns_exec c timeout $((LIMIT + 10)) nice -n -10 "$STORM" -s $SRV -n "$n" \
		-a $FIRST -A "$n" -l "$LIMIT" "${args[@]}" 2>"$TFT_TMP/$name-$mode.err")
	secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$res")
	ok=$(sed -n 's/.*ok=\([0-9]*\).*/\1/p' <<<"$res")
	sleep 0.5 # tftpd-hpa's last children finish
	if [ -r "/proc/$pid/status" ]; then
		rss=$(awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
	fi
	[ -z "$CG" ] || cpu=$(awk '{printf "%.2f", $1 / 1e9}' "$CG/cpuacct.usage")
	kill "$pid" 2>/dev/null
	sleep 0.5
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "${secs:-NA} ${ok:-0} ${rss:-0} $cpu"
}

ratio() { # A B: A / B to 2 places, or NA
	if [ "$1" = NA ] || [ "$2" = NA ]; then
		echo NA
	else
		echo "$1 / $2" | bc -l | xargs printf '%.2f'
	fi
}

HPA_CMD=("$HPA" -L -s -B 1468 -a $SRV:69 "$ROOT")
ATFTPD_CMD=(atftpd --daemon --no-fork --bind-address $SRV --port 69
	--maxthread $((ATFTPD_CLIENTS + 100)) --user root --group root --logfile /dev/null "$ROOT")
# shellcheck disable=SC2206
OURS_CMD=("$OURS" ${OURS_OPTS:--q} -l $SRV:69 -m 20000 "$ROOT")

echo "bench-tftp: $CLIENTS phones x (4 KiB + 8 MiB), blksize $BLK windowsize $WIN; lock-step storm 4 KiB + $LOCK_KB KiB; limit ${LIMIT}s per storm"
read -r ours_s ours_ok ours_rss ours_cpu < <(storm ours windowed "$CLIENTS" "${OURS_CMD[@]}")
echo "  nappt-tftpd: ${ours_s}s, $ours_ok/$CLIENTS clients exact, peak RSS ${ours_rss} MiB, CPU ${ours_cpu}s"
hpa_s=NA hpa_ok=0 lhpa_s=NA lhpa_ok=0 hpa_cpu=NA lhpa_cpu=NA
if [ -x "$HPA" ] && [ -z "${ONLY_OURS:-}" ]; then
	read -r hpa_s hpa_ok hpa_rss hpa_cpu < <(storm hpa windowed "$CLIENTS" "${HPA_CMD[@]}")
	echo "  tftpd-hpa:   ${hpa_s}s, $hpa_ok/$CLIENTS clients exact, listener RSS ${hpa_rss} MiB, CPU ${hpa_cpu}s"
fi
# atftpd waits with select(): with 450 or more transfers at once its
# descriptors pass FD_SETSIZE and it aborts ("bit out of range 0 -
# FD_SETSIZE on fd_set").  It is compared in a storm it survives, with
# ours in the same storm.
atftpd_s=NA atftpd_ok=0 ours_a_s=NA ours_a_ok=0
if command -v atftpd >/dev/null && [ -z "${ONLY_OURS:-}" ]; then
	read -r atftpd_s atftpd_ok atftpd_rss atftpd_cpu < <(storm atftpd windowed "$ATFTPD_CLIENTS" "${ATFTPD_CMD[@]}")
	echo "  atftpd:      ${atftpd_s}s, $atftpd_ok/$ATFTPD_CLIENTS clients exact, peak RSS ${atftpd_rss} MiB, CPU ${atftpd_cpu}s ($ATFTPD_CLIENTS phones)"
	read -r ours_a_s ours_a_ok _ ours_a_cpu < <(storm ours windowed "$ATFTPD_CLIENTS" "${OURS_CMD[@]}")
	echo "  nappt-tftpd: ${ours_a_s}s, $ours_a_ok/$ATFTPD_CLIENTS clients exact, CPU ${ours_a_cpu}s ($ATFTPD_CLIENTS phones)"
fi

echo "lock-step storm (no options, 512-byte blocks):"
read -r lours_s lours_ok _ lours_cpu < <(storm ours lockstep "$CLIENTS" "${OURS_CMD[@]}")
echo "  nappt-tftpd: ${lours_s}s, $lours_ok/$CLIENTS clients exact, CPU ${lours_cpu}s"
if [ -x "$HPA" ] && [ -z "${ONLY_OURS:-}" ]; then
	read -r lhpa_s lhpa_ok _ lhpa_cpu < <(storm hpa lockstep "$CLIENTS" "${HPA_CMD[@]}")
	echo "  tftpd-hpa:   ${lhpa_s}s, $lhpa_ok/$CLIENTS clients exact, CPU ${lhpa_cpu}s"
fi

# The real-client check: ATFTP_N atftp processes (from the default
# address, so the per-client cap is lifted for this run) against ours.
atftp_ok=0
ip netns exec "$(ns_name s)" "$OURS" -q -c 0 -l $SRV:69 "$ROOT" 2>"$TFT_TMP/ours-atftp.log" &
apid=$!
ns_track $apid
for _ in $(seq 1 50); do
	ns_exec s ss -uln | grep -q "$SRV:69" && break
	sleep 0.1
done
mkdir -p "$TFT_TMP/atftp"
atftp_ok=$(ns_exec c timeout "$LIMIT" bash -c '
	for i in $(seq 1 '"$ATFTP_N"'); do
		( atftp --option "blksize '$BLK'" --option "windowsize '$WIN'" -g -r image.bin \
			-l '"$TFT_TMP"'/atftp/$i '$SRV' >/dev/null 2>&1 &&
		  cmp -s '"$TFT_TMP"'/atftp/$i '"$ROOT"'/image.bin && echo ok ) &
	done
	wait' | grep -c '^ok$')
kill "$apid" 2>/dev/null
wait "$apid" 2>/dev/null
echo "  atftp real-client check: $atftp_ok/$ATFTP_N exact"

failed=$((CLIENTS - ours_ok + CLIENTS - lours_ok + ATFTP_N - atftp_ok))
[ "$ours_a_s" = NA ] || failed=$((failed + ATFTPD_CLIENTS - ours_a_ok))
echo "  exact: ours $ours_ok hpa $hpa_ok (of $CLIENTS), atftpd $atftpd_ok ours $ours_a_ok (of $ATFTPD_CLIENTS); lock-step ours $lours_ok hpa $lhpa_ok"
echo "RESULT tftp clients=$CLIENTS ours_s=$ours_s hpa_s=$hpa_s atftpd_s=$atftpd_s" \
	"hpa_over_ours=$(ratio "$hpa_s" "$ours_s") atftpd_over_ours=$(ratio "$atftpd_s" "$ours_a_s")" \
	"lockstep_hpa_over_ours=$(ratio "$lhpa_s" "$lours_s") ours_rss_mb=$ours_rss" \
	"lockstep_ours_s=$lours_s lockstep_hpa_s=$lhpa_s atftpd_clients=$ATFTPD_CLIENTS ours_at_atftpd_clients_s=$ours_a_s" \
	"ours_cpu_s=$ours_cpu hpa_cpu_s=$hpa_cpu lockstep_ours_cpu_s=$lours_cpu lockstep_hpa_cpu_s=$lhpa_cpu" \
	"ours_failed=$failed atftp_exact=$atftp_ok/$ATFTP_N"
exit 0
