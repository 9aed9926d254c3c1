#!/usr/bin/env bash
# make bench-xdp: BPF_PROG_TEST_RUN cost of the NAPPT programs against a
# bare XDP_PASS program, hot and sprayed over 1k and 1M phones, against
# the limits of the same work (a minimal translator, a memory floor) and,
# for capacity, a bare XDP_REDIRECT, in one run.
# Runs in a namespace whose routes and permanent neighbours make every FIB
# lookup succeed, as on a live gateway.  Not a test: never fails on a number.
set -u
BUILD=${1:-build}
REPEAT=${REPEAT:-1000000}
PHONES=${PHONES:-1000000}
. "$(dirname "$0")/../tests/lib/netns.sh"
need_root
trap ns_cleanup EXIT
ns_add bx >/dev/null
NS=$(ns_name bx)
. "$(dirname "$0")/xdp-ns.sh"
xdp_bench_ns "$NS" || exit 1
echo "bench-xdp: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
ip netns exec "$NS" "$BUILD/bench_xdp" "$REPEAT" "$PHONES"
