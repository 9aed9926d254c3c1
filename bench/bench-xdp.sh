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
lan_wan_ns "$NS" || exit 1
ip -n "$NS" addr add 198.18.2.1/24 dev lan0
ip -n "$NS" addr add 198.18.0.1/24 dev wan0
ip -n "$NS" neigh add 198.18.2.2 lladdr 02:00:00:00:00:02 dev lan0 nud permanent
ip -n "$NS" neigh add 198.18.0.2 lladdr 02:00:00:00:ff:02 dev wan0 nud permanent
# The phones sit behind one next hop so that 1M of them need no 1M
# neighbour entries; the lookup work per packet is the same.
ip -n "$NS" route add 100.64.0.0/10 via 198.18.2.2 dev lan0
ip -n "$NS" route add 198.51.100.0/24 via 198.18.0.2 dev wan0
echo "bench-xdp: $(uname -r), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
ip netns exec "$NS" "$BUILD/bench_xdp" "$REPEAT" "$PHONES"
