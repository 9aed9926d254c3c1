/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * ICMP errors the gateway owes a sender (threat model line 8): Time
 * Exceeded for TTL <= 1, Frag Needed for a packet (or a GSO segment) too
 * big for the next hop with DF, Destination Unreachable when there is no
 * route.  They are built in the hook from the packet itself, as Cilium
 * does for NodePort MTU errors, because the kernel cannot answer for us:
 * inbound, the destination is a public address local to the gateway, and
 * an untouched packet handed to the kernel is delivered to the local
 * stack (a RST or port unreachable) instead of being forwarded; outbound,
 * an untouched GSO aggregate would be forwarded with its private source.
 */
#ifndef NAPPT_ICMP_H
#define NAPPT_ICMP_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "lib/ctx.h"
#include "lib/parse.h"

/* RFC 1812 4.3.2.3 asks for as much of the packet as fits in 576 bytes;
 * 128 covers any IP header with options plus the TCP header, which is
 * all PMTUD and traceroute read, and keeps the sum on the stack. */
#define ICMP_QUOTE_MAX 128
#define ICMP_ERR_HDRS 28 /* the new IP header and the ICMP header */

#define ICMP_NET_UNREACH 0
#define ICMP_HOST_UNREACH 1
#define ICMP_FRAG_NEEDED 4
#define ICMP_PKT_FILTERED 13

static __always_inline __u16 csum_fold64(__s64 sum)
{
	__u64 s = (__u64)sum;

	s = (s & 0xffffffff) + (s >> 32);
	return csum_fold32((__u32)((s & 0xffffffff) + (s >> 32)));
}

/* A per-CPU budget per window: see icmp_budget in maps.h. */
static __always_inline int icmp_budget_take(void)
{
	struct nappt_icmp_budget *b;
	__u32 zero = 0;
	__u64 w;

	b = bpf_map_lookup_elem(&icmp_budget, &zero);
	if (!b)
		return 0;
	w = bpf_jiffies64() / NAPPT_ICMP_WINDOW_JIFFIES;
	if (b->window != w) {
		b->window = w;
		b->sent = 0;
	}
	if (b->sent >= NAPPT_ICMP_PER_WINDOW)
		return 0;
	b->sent++;
	return 1;
}

/*
 * Is an error about this packet allowed?  RFC 1122 3.2.2 and RFC 1812
 * 4.3.2.7: never about an ICMP error, nor about a non-first fragment.
 * (Broadcast, multicast and martian sources were dropped before.)
 */
static __always_inline int icmp_error_allowed(struct pkt *p, struct iphdr *ip)
{
	struct icmphdr *ic;

	if (!ip_is_first_fragment(ip))
		return 0;
	if (ip->protocol != IPPROTO_ICMP)
		return 1;
	ic = (void *)ip + ip->ihl * 4;
	if ((void *)(ic + 1) > p->data_end)
		return 0;
	return ic->type == ICMP_ECHO || ic->type == ICMP_ECHOREPLY;
}

/* What error to send, from where (see icmp_send_error). */
struct icmp_err {
	__be32 src;
	__u16 mtu; /* Frag Needed: the next-hop MTU (RFC 1191) */
	__u8 type;
	__u8 code;
	__u32 stat; /* enum nappt_stat counted when sent */
};

/*
 * Turn the packet into the ICMP error about it and send it back out of
 * the ingress device to the L2 sender, from e->src.  Returns the verdict
 * after counting e->stat (or why nothing was sent).
 *
 * The quoted TCP/UDP checksum is replaced by the value x with
 * x == ~(sum of the quoted L4 bytes with x in place), which a device
 * finishing a CHECKSUM_PARTIAL skb (TC sees GRO aggregates and traffic
 * from local senders so; the skb keeps csum_start on the quoted L4
 * header) writes back unchanged: in ones' complement a + 2x = -0, so x is
 * ~a rotated right by one bit.  The ICMP checksum is then right whether
 * or not the skb was partial.  Nothing reads a quoted L4 checksum.
 *
 * Not inlined: errors are rare, and one copy per program instead of one
 * per call site keeps the translation's code small (it is in the i-cache
 * on every packet).  One subprogram per hook (icmp_send_error_xdp/_tc).
 */
static __always_inline int icmp_build(struct pkt *p, struct icmp_err *e,
				      const int xdp)
{
	__u8 q[ICMP_QUOTE_MAX] = {};
	struct {
		struct ethhdr eth;
		struct iphdr ip;
		struct icmphdr icmp;
	} __attribute__((packed)) h = {};
	struct ethhdr *eth = p->data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 tot, qlen, hl, coff = 0;
	__u32 len = p->len;
	__s64 sum;
	__u16 x;

	if ((void *)(ip + 1) > p->data_end)
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	if (!e->src || !icmp_error_allowed(p, ip) || !icmp_budget_take())
		return account(p, NAPPT_STAT_DROP_ICMP_LIMIT, V_DROP);
	tot = bpf_ntohs(ip->tot_len);

	__builtin_memcpy(h.eth.h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(h.eth.h_source, eth->h_dest, ETH_ALEN);
	h.eth.h_proto = bpf_htons(ETH_P_IP);
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tos = 0xc0; /* precedence internetwork control, as Linux */
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_ICMP;
	h.ip.saddr = e->src;
	h.ip.daddr = ip->saddr;
	h.icmp.type = e->type;
	h.icmp.code = e->code;
	h.icmp.un.echo.sequence = bpf_htons(e->mtu);

	qlen = tot < ICMP_QUOTE_MAX ? tot : ICMP_QUOTE_MAX;
	if (qlen < sizeof(struct iphdr) || qlen > ICMP_QUOTE_MAX)
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	if (pkt_load(p, xdp, ETH_HLEN, q, qlen))
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	hl = (q[0] & 0xf) * 4;
	if (ip->protocol == IPPROTO_TCP)
		coff = hl + 16;
	else if (ip->protocol == IPPROTO_UDP)
		coff = hl + 6;
	if (coff && coff + 2 <= qlen && coff + 2 <= ICMP_QUOTE_MAX) {
		__u16 a;

		q[coff] = 0;
		q[coff + 1] = 0;
		/* The L4 part: the whole quote minus the IP header (the
		 * buffer is zero beyond qlen). */
		a = csum_fold64(
			bpf_csum_diff(NULL, 0, (void *)q, ICMP_QUOTE_MAX, 0));
		if (hl >= sizeof(struct iphdr) && hl <= 60)
			a = csum_fold32((__u32)a +
					(__u16)~csum_fold64(bpf_csum_diff(
						NULL, 0, (void *)q, hl, 0)));
		a = bpf_ntohs(a);
		x = ~a;
		x = (__u16)(x >> 1 | x << 15);
		if (!x)
			x = 0xffff;
		q[coff] = x >> 8;
		q[coff + 1] = x & 0xff;
	} else {
		coff = 0;
	}

	h.ip.tot_len = bpf_htons(ICMP_ERR_HDRS + qlen);
	h.ip.check = ~csum_fold64(
		bpf_csum_diff(NULL, 0, (void *)&h.ip, sizeof(h.ip), 0));
	sum = bpf_csum_diff(NULL, 0, (void *)q, ICMP_QUOTE_MAX, 0);
	sum = bpf_csum_diff(NULL, 0, (void *)&h.icmp, sizeof(h.icmp),
			    csum_fold64(sum));
	h.icmp.checksum = ~csum_fold64(sum);

	count(e->stat, len);
	if (pkt_make_room(p, xdp, qlen, ICMP_ERR_HDRS) ||
	    pkt_store(p, xdp, 0, &h, sizeof(h)))
		return V_DROP;
	if (coff && coff + 2 <= ICMP_QUOTE_MAX &&
	    pkt_store(p, xdp, ETH_HLEN + ICMP_ERR_HDRS + coff, &q[coff], 2))
		return V_DROP;
	return V_TX;
}

static __noinline int icmp_send_error_xdp(struct xdp_md *ctx,
					  struct icmp_err *e)
{
	struct pkt p;

	pkt_from_xdp(&p, ctx);
	return icmp_build(&p, e, 1);
}

static __noinline int icmp_send_error_tc(struct __sk_buff *skb,
					 struct icmp_err *e)
{
	struct pkt p;

	pkt_from_skb(&p, skb);
	return icmp_build(&p, e, 0);
}

/* Only the context goes into the call: p's address must not escape, or
 * the compiler could no longer fold p->xdp, which selects the hook's
 * helpers everywhere (the verifier rejects the other hook's). */
static __always_inline enum verdict icmp_send_error(struct pkt *p,
						    struct icmp_err *e)
{
	if (p->xdp)
		return (enum verdict)icmp_send_error_xdp(p->ctx, e);
	return (enum verdict)icmp_send_error_tc(p->ctx, e);
}

#endif /* NAPPT_ICMP_H */
