// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Benchmark-only programs (bench/bench_xdp.c).  Not attached anywhere.
 *
 * One repeated packet only ever touches one hot map entry and so hides
 * what a million phones cost.  The spray programs first rewrite the
 * packet to a random leased phone, then run the real translation; the
 * bare spray programs run the same prologue and return XDP_PASS, so the
 * difference is the translation's own cost at that table size.
 *
 * Phone i is laid out as the bench fills the maps: private address
 * lan_net + i, MAC 02:00:<i as 4 bytes>, public address pub_net + i / U,
 * slot (i % U) + 1 of that address, where U = usable slots per address
 * (slot 0 holds the well-known ports and is never leased).
 */
#include "lib/nat.h"

const volatile __u32 spray_n = 1; /* leased phones */
const volatile __u32 spray_u = 63; /* leased slots per public address */

SEC("xdp")
int bare_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/*
 * Rewrite the test packet (Ethernet + IPv4 without options + UDP) to be
 * phone i's: a LAN packet from it, or a WAN packet to it.  Also restores
 * what the previous run of the translation changed (source MAC, TTL):
 * BPF_PROG_TEST_RUN repeats on the same buffer, so without this the
 * second iteration would measure a different path.
 */
static __always_inline int set_phone(struct xdp_md *ctx, int wan, __u32 i)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	const struct nappt_config *cfg;
	__u32 zero = 0, slot, shift;

	if ((void *)(udp + 1) > end)
		return -1;
	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return -1;
	slot = i % spray_u + 1;
	shift = cfg->slot_shift & 31;
	ip->ttl = 64;
	if (wan) {
		ip->saddr = bpf_htonl(0xc6336407); /* 198.51.100.7 */
		ip->daddr = bpf_htonl(bpf_ntohl(cfg->pub_net) + i / spray_u);
		udp->dest = bpf_htons((slot << shift) + 7);
	} else {
		ip->saddr = bpf_htonl(bpf_ntohl(cfg->lan_net) + i);
		ip->daddr = bpf_htonl(0xc6336407);
		eth->h_source[0] = 0x02;
		eth->h_source[1] = 0;
		*(__be32 *)&eth->h_source[2] = bpf_htonl(i);
		udp->source = bpf_htons((slot << shift) + 7);
	}
	return 0;
}

static __always_inline int run(struct xdp_md *ctx, int wan)
{
	struct pkt p;

	pkt_from_xdp(&p, ctx);
	return verdict_xdp(&p, nappt_handle(&p, wan));
}

/* One phone, always the same entries: the hot-cache figure. */
SEC("xdp")
int hot_out(struct xdp_md *ctx)
{
	if (set_phone(ctx, 0, 0))
		return XDP_ABORTED;
	return run(ctx, 0);
}

SEC("xdp")
int hot_in(struct xdp_md *ctx)
{
	if (set_phone(ctx, 1, 0))
		return XDP_ABORTED;
	return run(ctx, 1);
}

/* A random leased phone per packet: the table-size figure. */
SEC("xdp")
int spray_out(struct xdp_md *ctx)
{
	if (set_phone(ctx, 0, bpf_get_prandom_u32() % spray_n))
		return XDP_ABORTED;
	return run(ctx, 0);
}

SEC("xdp")
int spray_in(struct xdp_md *ctx)
{
	if (set_phone(ctx, 1, bpf_get_prandom_u32() % spray_n))
		return XDP_ABORTED;
	return run(ctx, 1);
}

SEC("xdp")
int spray_bare_out(struct xdp_md *ctx)
{
	if (set_phone(ctx, 0, bpf_get_prandom_u32() % spray_n))
		return XDP_ABORTED;
	return XDP_PASS;
}

SEC("xdp")
int spray_bare_in(struct xdp_md *ctx)
{
	if (set_phone(ctx, 1, bpf_get_prandom_u32() % spray_n))
		return XDP_ABORTED;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
