/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Values of the benchmark-only maps (bpf/bench.bpf.c), shared with
 * bench/bench_xdp.c, which fills them.
 */
#ifndef NAPPT_BENCH_H
#define NAPPT_BENCH_H

#include <linux/types.h>

/* The minimal translator's table entry: the new address and where the
 * frame goes. */
struct min_ent {
	__be32 addr; /* new source (outbound) or destination (inbound) */
	__u32 ifindex;
	__u8 dmac[6];
	__u8 smac[6];
};
_Static_assert(sizeof(struct min_ent) == 20, "min_ent size");

/* An entry of the memory floor's array. */
struct floor_ent {
	__u64 a;
	__u64 b;
};
_Static_assert(sizeof(struct floor_ent) == 16, "floor_ent size");

#endif /* NAPPT_BENCH_H */
