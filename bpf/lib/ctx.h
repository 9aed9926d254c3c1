/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The context layer: one translation core serves XDP (struct xdp_md) and
 * TC (struct __sk_buff).  The core sees a struct pkt and returns a verdict;
 * only the entry points in nappt.bpf.c know which hook they run in.
 */
#ifndef NAPPT_CTX_H
#define NAPPT_CTX_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "maps.h"
#include "csum.h"

#ifndef EINVAL
#define EINVAL 22
#endif

enum verdict {
	V_PASS,
	V_DROP,
	V_REDIRECT, /* to pkt.out_ifindex, MACs already rewritten */
	V_REDIRECT_NEIGH, /* TC only: kernel fills in the MACs */
	V_TX, /* back out of the ingress device (an ICMP error we built) */
};

struct pkt {
	void *ctx; /* xdp_md or __sk_buff, for helpers taking either */
	void *data;
	void *data_end;
	__u32 ifindex; /* ingress */
	__u32 len;
	__u32 out_ifindex;
	__u8 xdp;
	__u8 gso; /* TC: a GSO aggregate, segmented on transmit */
	/* XDP: longer than the ingress MTU, so a GSO/GRO aggregate handed to
	 * generic XDP; its TCP/UDP checksum field is partial. */
	__u8 super;
	__u16 gso_size; /* TC: payload bytes per segment */
};

static __always_inline void count(enum nappt_stat s, __u32 len)
{
	__u32 key = s;
	struct nappt_counter *c = bpf_map_lookup_elem(&stats, &key);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

/* How much of the headers TC needs linear: Ethernet + IP with options +
 * ICMP + inner IP with options + inner L4 checksum. */
#define TC_PULL_LEN (14 + 60 + 8 + 60 + 20)

static __always_inline void pkt_from_xdp(struct pkt *p, struct xdp_md *ctx)
{
	p->ctx = ctx;
	p->data = (void *)(long)ctx->data;
	p->data_end = (void *)(long)ctx->data_end;
	p->ifindex = ctx->ingress_ifindex;
	p->len = p->data_end - p->data;
	p->out_ifindex = 0;
	p->xdp = 1;
	p->gso = 0;
	p->super = 0;
	p->gso_size = 0;
}

static __always_inline void pkt_from_skb(struct pkt *p, struct __sk_buff *skb)
{
	__u32 want = skb->len < TC_PULL_LEN ? skb->len : TC_PULL_LEN;

	/* Direct packet access only sees the linear part. */
	if ((long)skb->data_end - (long)skb->data < want)
		bpf_skb_pull_data(skb, want);
	p->ctx = skb;
	p->data = (void *)(long)skb->data;
	p->data_end = (void *)(long)skb->data_end;
	p->ifindex = skb->ingress_ifindex;
	p->len = skb->len;
	p->out_ifindex = 0;
	p->xdp = 0;
	p->gso = skb->gso_size != 0;
	p->super = 0;
	p->gso_size = (__u16)skb->gso_size;
}

static __always_inline enum verdict account(struct pkt *p, enum nappt_stat s,
					    enum verdict v)
{
	count(s, p->len);
	return v;
}

/*
 * The largest IP packet one segment of this packet is on the wire, for
 * the route MTU check.  A GSO aggregate (TC: gso_size set) is cut into
 * segments of hdrs + gso_size.  XDP does not see gso_size, but a frame
 * longer than its ingress MTU can only be an aggregate (the sender's
 * TSO/GSO frame crossing veth and bridges, or a GRO one) handed to
 * generic XDP: it is marked p->super and 0 is returned, "only the kernel
 * knows".  Frames up to 1500 bytes are not asked about: the common case
 * costs nothing.
 */
static __always_inline __u32 pkt_seg_len(struct pkt *p, __u32 tot, __u32 hdrs)
{
	__u32 mtu = 0;

	if (!p->xdp)
		return p->gso ? hdrs + p->gso_size : tot;
	if (tot <= 1500)
		return tot;
	if (bpf_check_mtu(p->ctx, 0, &mtu, 0, 0) ==
	    BPF_MTU_CHK_RET_FRAG_NEEDED) {
		p->super = 1;
		return 0;
	}
	return tot;
}

/* Does an IP packet of len bytes fit ifindex's current MTU (not a copy
 * taken at attach: links change)?  *mtu gets the MTU. */
static __always_inline int pkt_fits_dev(struct pkt *p, __u32 ifindex, __u32 len,
					__u32 *mtu)
{
	*mtu = len;
	return bpf_check_mtu(p->ctx, ifindex, mtu, 0, 0) ==
	       BPF_MTU_CHK_RET_SUCCESS;
}

/*
 * Update a TCP/UDP checksum for the changed source and destination
 * addresses of the pseudo header (RFC 1624), at byte offset off of the
 * packet.
 *
 * XDP sees frames as they came off the wire, with full checksums, and
 * updates them by hand with diff (csum_diff8 of the same words), one
 * fold -- except in
 * super-packets, whose field holds the partial (pseudo-header,
 * uncomplemented) sum that GSO completes per segment: it moves the other
 * way.  TC may see CHECKSUM_PARTIAL packets (GRO aggregates, traffic from
 * local sockets) and bpf_l4_csum_replace() knows which: TC uses it; it
 * invalidates every packet pointer, so this comes last.  UDP: 0 means no
 * checksum and stays 0; a computed 0 is sent as 0xffff (RFC 768).
 */
static __always_inline void
pkt_l4_csum_replace_addrs(struct pkt *p, __sum16 *csum, long off, int udp,
			  __u32 diff, __be32 old_s, __be32 new_s, __be32 old_d,
			  __be32 new_d)
{
	if (p->xdp) {
		if (p->super) {
			if (udp && !*csum)
				return;
			*csum = ~*csum;
			csum_apply_diff(csum, diff);
			*csum = ~*csum;
		} else if (udp) {
			udp_csum_apply_diff(csum, diff);
		} else {
			csum_apply_diff(csum, diff);
		}
	} else {
		__u64 f = BPF_F_PSEUDO_HDR | sizeof(__be32);

		if (udp)
			f |= BPF_F_MARK_MANGLED_0;
		bpf_l4_csum_replace(p->ctx, off, old_s, new_s, f);
		bpf_l4_csum_replace(p->ctx, off, old_d, new_d, f);
	}
}

/*
 * The helpers below take the hook as a constant rather than reading
 * p->xdp: they serve a subprogram (icmp.h) compiled once per hook, where
 * the verifier cannot see p->xdp's value and would reject the other
 * hook's helpers.
 */

/* Copy len bytes at off into buf (any part of the packet, TC fragments
 * included). */
static __always_inline int pkt_load(struct pkt *p, const int xdp, __u32 off,
				    void *buf, __u32 len)
{
	if (xdp)
		return bpf_xdp_load_bytes(p->ctx, off, buf, len);
	return bpf_skb_load_bytes(p->ctx, off, buf, len);
}

static __always_inline int pkt_store(struct pkt *p, const int xdp, __u32 off,
				     void *buf, __u32 len)
{
	if (xdp)
		return bpf_xdp_store_bytes(p->ctx, off, buf, len);
	return bpf_skb_store_bytes(p->ctx, off, buf, len, 0);
}

/*
 * Reshape the frame for an ICMP error about it: the first `quote` bytes
 * of the IP packet stay, `room` bytes open before them for the new IP
 * and ICMP headers, and the Ethernet header (rewritten by the caller)
 * stays in front.  Returns 0 or -errno.
 */
static __always_inline int pkt_make_room(struct pkt *p, const int xdp,
					 __u32 quote, __u32 room)
{
	long r;

	if (xdp) {
		int delta = (int)(ETH_HLEN + quote) - (int)p->len;

		if (delta) {
			r = bpf_xdp_adjust_tail(p->ctx, delta);
			if (r)
				return (int)r;
		}
		r = bpf_xdp_adjust_head(p->ctx, -(int)room);
		if (r)
			return (int)r;
		p->len = ETH_HLEN + room + quote;
		return 0;
	}
	r = bpf_skb_change_tail(p->ctx, ETH_HLEN + quote, 0);
	if (r)
		return (int)r;
	r = bpf_skb_adjust_room(p->ctx, room, BPF_ADJ_ROOM_MAC, 0);
	if (r)
		return (int)r;
	p->len = ETH_HLEN + room + quote;
	return 0;
}

/*
 * XDP: the frame's bounds, read from the context again.  Volatile: the
 * compiler must not reuse (or merge with) a load from before a
 * bpf_xdp_adjust_head(), whose packet pointers the verifier voided.
 */
static __always_inline void pkt_reload(struct pkt *p)
{
	struct xdp_md *ctx = p->ctx;

	p->data = (void *)(long)*(volatile __u32 *)&ctx->data;
	p->data_end = (void *)(long)*(volatile __u32 *)&ctx->data_end;
}

/*
 * XDP: remove the 802.1Q/802.1ad tag that follows the MAC addresses, as
 * the kernel does before its stack sees the frame: the MACs move 4 bytes
 * forward over the tag and the frame starts 4 bytes later.  Every packet
 * pointer taken before is invalid afterwards.  TC never needs it: the
 * kernel strips the outer tag (skb_vlan_untag()) before the TC hook.
 * Returns 0 or -errno.
 */
static __always_inline int pkt_pop_vlan(struct pkt *p)
{
	struct xdp_md *ctx = p->ctx;
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 macs[2 * ETH_ALEN];

	if (!p->xdp)
		return -EINVAL;
	if (data + 2 * ETH_ALEN + 4 > end)
		return -EINVAL;
	__builtin_memcpy(macs, data, sizeof(macs));
	__builtin_memcpy(data + 4, macs, sizeof(macs));
	/* Any non-zero return fails (never truncated to int, which could
	 * read 0): the old packet pointers must not be used again. */
	if (bpf_xdp_adjust_head(ctx, 4))
		return -EINVAL;
	p->len -= 4;
	pkt_reload(p);
	return 0;
}

/*
 * XDP: put an 802.1Q tag with tci after the MAC addresses (the voice
 * VLAN's, on frames for the phones of a LAN parent): the frame starts 4
 * bytes earlier and the MACs move there.  Every packet pointer taken
 * before is invalid afterwards.  Returns 0 or -errno.
 */
static __always_inline int pkt_push_vlan(struct pkt *p, __be16 tci)
{
	struct xdp_md *ctx = p->ctx;
	__u8 macs[2 * ETH_ALEN];
	void *data, *end;

	if (!p->xdp)
		return -EINVAL;
	if (bpf_xdp_adjust_head(ctx, -4))
		return -EINVAL;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + 2 * ETH_ALEN + 4 + 2 > end)
		return -EINVAL;
	__builtin_memcpy(macs, data + 4, sizeof(macs));
	__builtin_memcpy(data, macs, sizeof(macs));
	*(__be16 *)(data + 2 * ETH_ALEN) = bpf_htons(ETH_P_8021Q);
	*(__be16 *)(data + 2 * ETH_ALEN + 2) = tci;
	p->len += 4;
	pkt_reload(p);
	return 0;
}

/* Can the hook send to ifindex itself?  XDP only through devices in
 * tx_ports; TC through any. */
static __always_inline int pkt_can_redirect(struct pkt *p, __u32 ifindex)
{
	return !p->xdp || bpf_map_lookup_elem(&tx_ports, &ifindex);
}

static __always_inline int verdict_xdp(struct pkt *p, enum verdict v)
{
	long act;

	switch (v) {
	case V_DROP:
		return XDP_DROP;
	case V_TX:
		return XDP_TX;
	case V_REDIRECT:
	case V_REDIRECT_NEIGH:
		/*
		 * The MACs are the next hop's now: the kernel would drop the
		 * frame as PACKET_OTHERHOST, so a device missing from
		 * tx_ports (removed after the next hop was cached; the
		 * routing path checks before rewriting) is a counted drop,
		 * never a pass.
		 */
		act = bpf_redirect_map(&tx_ports, p->out_ifindex, XDP_DROP);
		if (act == XDP_REDIRECT)
			count(NAPPT_STAT_REDIRECT, p->len);
		else
			count(NAPPT_STAT_DROP_TX_PORT, p->len);
		return (int)act;
	default:
		return XDP_PASS;
	}
}

static __always_inline int verdict_tc(struct pkt *p, enum verdict v)
{
	switch (v) {
	case V_DROP:
		return TC_ACT_SHOT;
	case V_TX:
		return bpf_redirect(p->ifindex, 0);
	case V_REDIRECT:
		count(NAPPT_STAT_REDIRECT, p->len);
		return bpf_redirect(p->out_ifindex, 0);
	case V_REDIRECT_NEIGH:
		count(NAPPT_STAT_REDIRECT, p->len);
		return bpf_redirect_neigh(p->out_ifindex, NULL, 0, 0);
	default:
		return TC_ACT_OK;
	}
}

#endif /* NAPPT_CTX_H */
