#!/usr/bin/env bash
# A/B of data-plane builds on the hot figures (bench/ab_hot.c):
#   bash bench/ab-hot.sh BUILD REPEAT ROUNDS a.bpf.o b.bpf.o a.bpf.o b.bpf.o ...
# each OBJ a bench.bpf.o built from the tree to compare.  TASKSET="taskset
# -c 1" pins it.  Same namespace as bench-xdp.sh.  Not a test.
set -u
BUILD=$1
shift
. "$(dirname "$0")/../tests/lib/netns.sh"
need_root
cc -O2 -Iinclude -Ibpf -o "$BUILD/ab_hot" bench/ab_hot.c -lbpf -lelf -lz || exit 1
trap ns_cleanup EXIT
ns_add ab >/dev/null
NS=$(ns_name ab)
lan_wan_ns "$NS" || exit 1
ip -n "$NS" addr add 198.18.2.1/24 dev lan0
ip -n "$NS" addr add 198.18.0.1/24 dev wan0
ip -n "$NS" neigh add 198.18.2.2 lladdr 02:00:00:00:00:02 dev lan0 nud permanent
ip -n "$NS" neigh add 198.18.0.2 lladdr 02:00:00:00:ff:02 dev wan0 nud permanent
ip -n "$NS" route add 100.64.0.0/10 via 198.18.2.2 dev lan0
ip -n "$NS" route add 198.51.100.0/24 via 198.18.0.2 dev wan0
ip netns exec "$NS" ${TASKSET:-} "$BUILD/ab_hot" "$@"
