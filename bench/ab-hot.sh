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
. "$(dirname "$0")/xdp-ns.sh"
xdp_bench_ns "$NS" || exit 1
ip netns exec "$NS" ${TASKSET:-} "$BUILD/ab_hot" "$@"
