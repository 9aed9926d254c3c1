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
 * Phone i is laid out as the bench fills the maps: public address
 * pub_net + 1 + i / U, slot (i % U) + 1 of that address, where U = usable
 * slots per address (slot 0 holds the well-known ports and is never
 * leased; the first public address is skipped because its slot 1 is the
 * key of the gateway's own address, lan_net + 1), MAC 02:00:<i as 4
 * bytes>, private address derived: lan_net + the key of that slot.
 */
#include "lib/nat.h"
#include "lib/bench.h"

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
	__u32 zero = 0, slot, shift, pub;

	if ((void *)(udp + 1) > end)
		return -1;
	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return -1;
	slot = i % spray_u + 1;
	pub = i / spray_u + 1;
	shift = cfg->slot_shift & 31;
	ip->ttl = 64;
	if (wan) {
		ip->saddr = bpf_htonl(0xc6336407); /* 198.51.100.7 */
		ip->daddr = bpf_htonl(bpf_ntohl(cfg->pub_net) + pub);
		udp->dest = bpf_htons((slot << shift) + 7);
	} else {
		ip->saddr = bpf_htonl(bpf_ntohl(cfg->lan_net) +
				      pub * cfg->slots_per_ip + slot);
		ip->daddr = bpf_htonl(0xc6336407);
		eth->h_source[0] = 0x02;
		eth->h_source[1] = 0;
		*(__be32 *)&eth->h_source[2] = bpf_htonl(i);
		udp->source = bpf_htons((slot << shift) + 7);
	}
	return 0;
}

/* The translation as xdp_lan/xdp_wan (nappt.bpf.c) run it, voice VLAN
 * entry included: the figures are those of the attached programs. */
static __always_inline int run(struct xdp_md *ctx, int wan)
{
	struct pkt p;

	pkt_from_xdp(&p, ctx);
	return verdict_xdp(&p,
			   wan ? nappt_handle_wan(&p) : nappt_handle_lan(&p));
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

/* ----------------------------------------------------------------------
 * Baselines of the same work done minimally (issue 13): what the
 * translation is compared against besides a bare program.
 */

/*
 * The minimal translator: parse Ethernet/IPv4/UDP, one array lookup,
 * rewrite one address with incremental checksums (RFC 1624) and the TTL,
 * rewrite the MACs, redirect.  No anti-spoofing, no ICMP, no fragments,
 * no counters, no FIB: the least a stateless translator can do.  It runs
 * the hot programs' prologue (set_phone) so that both pay for it.
 */
#define MIN_ENTRIES 4096
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MIN_ENTRIES);
	__type(key, __u32);
	__type(value, struct min_ent);
} min_tab SEC(".maps");

const volatile __be32 min_lan_net = 0;
const volatile __be32 min_pub_net = 0;

static __always_inline int min_xlate(struct xdp_md *ctx, int wan)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct min_ent *e;
	__be32 old, *field;
	__u32 key, diff;

	if ((void *)(udp + 1) > end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || ip->ttl <= 1)
		return XDP_PASS;
	if (wan)
		key = (bpf_ntohl(ip->daddr) - bpf_ntohl(min_pub_net)) * 64 +
		      (bpf_ntohs(udp->dest) >> 10);
	else
		key = bpf_ntohl(ip->saddr) - bpf_ntohl(min_lan_net);
	e = bpf_map_lookup_elem(&min_tab, &key);
	if (!e || !e->addr)
		return XDP_PASS;
	field = wan ? &ip->daddr : &ip->saddr;
	old = *field;
	diff = csum_diff8(old, e->addr, 0, 0);
	csum_apply_diff(&ip->check, diff + CSUM_DIFF_TTL_DEC);
	udp_csum_apply_diff(&udp->check, diff);
	*field = e->addr;
	ip->ttl--;
	mac_copy(eth->h_dest, e->dmac);
	mac_copy(eth->h_source, e->smac);
	return bpf_redirect_map(&tx_ports, e->ifindex, 0);
}

SEC("xdp")
int min_out(struct xdp_md *ctx)
{
	if (set_phone(ctx, 0, 0))
		return XDP_ABORTED;
	return min_xlate(ctx, 0);
}

SEC("xdp")
int min_in(struct xdp_md *ctx)
{
	if (set_phone(ctx, 1, 0))
		return XDP_ABORTED;
	return min_xlate(ctx, 1);
}

/*
 * The memory floor: the spray prologue, then `floor_loads` dependent
 * random loads into one array as large as the data plane's per-phone
 * table (`slots`, sized by the bench before load), and nothing else.  With one
 * load it is what any layout needing one random access per packet
 * costs at that table size; with two, what the layout needing two does.
 * Each key depends on the value the load before it returned, so the
 * loads cannot overlap, as in a lookup chain.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct floor_ent);
} floor_tab SEC(".maps");

const volatile __u32 floor_n = 1; /* entries of floor_tab */

static __always_inline int floor_run(struct xdp_md *ctx, int wan, int loads)
{
	__u32 i = bpf_get_prandom_u32() % spray_n, key, k;
	struct floor_ent *e;
	__u64 v = 0;

	if (set_phone(ctx, wan, i))
		return XDP_ABORTED;
	for (k = 0; k < 2; k++) {
		if (k == loads)
			break;
		key = (__u32)(((i ^ v) + k) * 2654435761U) % floor_n;
		e = bpf_map_lookup_elem(&floor_tab, &key);
		if (!e)
			return XDP_ABORTED;
		v = e->a;
	}
	return v == 0xdeadbeef ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int floor1_out(struct xdp_md *ctx)
{
	return floor_run(ctx, 0, 1);
}

SEC("xdp")
int floor1_in(struct xdp_md *ctx)
{
	return floor_run(ctx, 1, 1);
}

SEC("xdp")
int floor2_out(struct xdp_md *ctx)
{
	return floor_run(ctx, 0, 2);
}

SEC("xdp")
int floor2_in(struct xdp_md *ctx)
{
	return floor_run(ctx, 1, 2);
}

/*
 * Forwarding capacity (BPF_F_TEST_XDP_LIVE_FRAMES): the limit of the
 * hook is a program that redirects every frame out of one device and
 * does nothing else.  The frames land on the veth peer, where `sink`
 * counts and drops them (a veth only takes redirected frames when its
 * peer runs XDP).
 */
const volatile __u32 bare_tx_if = 0;

SEC("xdp")
int bare_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_ports, bare_tx_if, 0);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_count SEC(".maps");

SEC("xdp")
int sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&sink_count, &zero);

	if (n)
		(*n)++;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
