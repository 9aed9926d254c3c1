/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * NAPPT translation core.
 *
 * Outbound (LAN ingress): a leased phone's source address becomes its
 * public address; the source port stays and must lie in the phone's range.
 * Inbound (WAN ingress): (public address, destination port) names exactly
 * one phone through the slot index; the destination becomes the phone's
 * private address, port unchanged.  No per-flow state: the lease is the
 * mapping.  Everything the gateway does not translate goes to the kernel
 * untouched, except what would leak a private address or spoof a lease,
 * which is dropped and counted.
 *
 * Every path decides the new addresses first, asks the FIB, and only then
 * writes the packet: a packet the kernel gets back is either untouched or
 * fully translated, never half.
 */
#ifndef NAPPT_NAT_H
#define NAPPT_NAT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "nappt.h"
#include "lib/maps.h"
#include "lib/ctx.h"
#include "lib/parse.h"
#include "lib/csum.h"
#include "lib/icmp.h"

#ifndef AF_INET
#define AF_INET 2
#endif

/* What a path decided: new outer addresses and the checksums to fix. */
struct plan {
	__be32 saddr;
	__be32 daddr;
	__sum16 *l4csum; /* outer TCP/UDP checksum, NULL if none to fix */
	struct icmphdr *icmp; /* ICMP error whose quoted header changes */
	struct iphdr *iip; /* the quoted (inner) IP header */
	__sum16 *il4csum; /* quoted TCP/UDP checksum, if it was quoted */
	__be32 inner_new; /* new inner src (inbound) or dst (outbound) */
	__u8 l4udp; /* l4csum is UDP's (0 means none) */
	__u8 il4udp;
	__u8 inner_src; /* rewrite the inner source, else destination */
	__u8 inbound; /* from the WAN */
	__u16 hdrs; /* IP + L4 header bytes (a GSO segment's overhead) */
	/* No DF flag nor error source here: the error paths take both from
	 * the untouched packet and the config (icmp_owed()), so that they
	 * are not kept live, spilled, across every per-packet lookup. */
	enum nappt_stat stat;
};

/* Packets up to this size go to a phone by the lease's MAC without
 * asking anyone: every LAN carrying IP phones has an MTU of at least
 * this (IPv6's minimum).  Larger ones ask the FIB, which knows the
 * current MTU: links change after attach. */
#define NAPPT_FAST_MTU 1280

/* The arithmetic itself lives in include/nappt.h, shared with libnappt. */
#define lan_index nappt_lan_index
#define phone_addr nappt_lan_addr

static __always_inline int in_pub_pool(const struct nappt_config *cfg,
				       __be32 addr)
{
	return nappt_pub_index(cfg, addr) >= 0;
}

/*
 * A slot entry as one 8-byte load.  User space writes each entry with one
 * aligned 8-byte store (libnappt, struct nappt_slot) and passes a slot
 * from one phone to another only through free, with no grace period: a
 * copy taken by one load is one phone's entry or free.  Reading the
 * owner and the MAC through the map pointer by separate loads could see
 * a delete and the next owner's add land in between (an interrupt, a
 * preempted vCPU) and pair one phone's index with another's MAC: a
 * packet to one phone's address at another's MAC inbound, or a forged
 * source accepted outbound.  The copy is what every check then reads.
 */
union slot_copy {
	__u64 word;
	struct nappt_slot e;
};

static __always_inline int slot_read(__u32 key, union slot_copy *out)
{
	const __u64 *v = bpf_map_lookup_elem(&slots, &key);

	if (!v)
		return -1;
	out->word = *(const volatile __u64 *)v;
	return 0;
}

/*
 * Inbound lookup: (public address, port) -> phone, one read: the slot
 * entry names the phone as (key - dist), whose private address is derived
 * from that (struct nappt_slot), and holds its MAC.  The index is checked
 * against the LAN pool: an entry, however it was written, never sends a
 * packet to an address outside the pool.  Returns the entry and the
 * phone's LAN-pool index, or NULL (free slot, not the public pool).
 */
static __always_inline struct nappt_slot *
slot_lookup(const struct nappt_config *cfg, __be32 pub, __u16 port,
	    union slot_copy *slot, __u32 *phone_idx)
{
	__s64 pidx = nappt_pub_index(cfg, pub);
	__u32 key, idx;

	if (pidx < 0)
		return NULL;
	key = nappt_slot_key(cfg, (__u32)pidx, port);
	if (slot_read(key, slot) || !nappt_slot_valid(&slot->e))
		return NULL;
	idx = nappt_slot_owner(key, &slot->e);
	if (idx >= cfg->lan_size)
		return NULL;
	*phone_idx = idx;
	return &slot->e;
}

/* The entry at key idx: for a leased phone, its first slot (dist 0),
 * which is what "idx is leased, to this MAC" means (ARP, packets to the
 * gateway, non-first fragments, the slow path's reasons).  A non-first
 * slot's key is no one's address.  NULL if idx is not leased. */
static __always_inline struct nappt_slot *lease_entry(__u32 idx,
						      union slot_copy *c)
{
	if (slot_read(idx, c) || c->e.owner != NAPPT_SLOT_VALID)
		return NULL;
	return &c->e;
}

/* 0/8, 127/8, 224/4 (multicast) and 240/4: never a sender (RFC 1122
 * 3.2.1.3, RFC 1812 5.3.7). */
static __always_inline int martian_src(__be32 addr)
{
	__u32 top = bpf_ntohl(addr) >> 24;

	return top == 0 || top == 127 || top >= 224;
}

/* The gateway itself: its LAN address, broadcast, multicast. */
static __always_inline int to_gateway(const struct nappt_config *cfg,
				      __be32 daddr)
{
	return daddr == cfg->lan_gw || daddr == bpf_htonl(0xffffffff) ||
	       (bpf_ntohl(daddr) >> 28) == 0xe;
}

/* Every MAC the data plane copies (packet, lease, next-hop cache, config,
 * FIB answer on the stack) sits at an even offset: three 2-byte moves
 * instead of the six byte moves __builtin_memcpy gives without known
 * alignment (the verifier holds stack accesses to their size's
 * alignment, so 2 bytes is the widest that serves every caller).  On the
 * per-packet path of both directions. */
static __always_inline void mac_copy(__u8 *dst, const __u8 *src)
{
	((__u16 *)dst)[0] = ((const __u16 *)src)[0];
	((__u16 *)dst)[1] = ((const __u16 *)src)[1];
	((__u16 *)dst)[2] = ((const __u16 *)src)[2];
}

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/*
 * Write the plan into the packet: quoted header, IP header, TTL and MACs
 * (when the FIB gave them) by direct access, then the TCP/UDP checksum
 * through the context layer (pkt_l4_csum_replace_addrs: full or partial
 * checksums, XDP or TC), last, because in TC it invalidates every packet
 * pointer.
 */
static __always_inline void apply(struct pkt *p, struct ethhdr *eth,
				  struct iphdr *ip, struct plan *pl,
				  const __u8 *dmac, const __u8 *smac, int ttl)
{
	__be32 old_s = ip->saddr, old_d = ip->daddr;
	long l4off = pl->l4csum ? (long)pl->l4csum - (long)p->data : -1;
	__u32 diff;

	if (pl->icmp && pl->iip) {
		/* ICMP's checksum covers the quoted bytes (no pseudo header):
		 * every quoted word we change moves it too. */
		struct iphdr *iip = pl->iip;
		__be32 *field = pl->inner_src ? &iip->saddr : &iip->daddr;
		__be32 old = *field;
		__sum16 old_check = iip->check;

		if (pl->il4csum) {
			__sum16 old_l4 = *pl->il4csum;

			if (pl->il4udp)
				udp_csum_replace4(pl->il4csum, old,
						  pl->inner_new);
			else
				csum_replace4(pl->il4csum, old, pl->inner_new);
			csum_replace2(&pl->icmp->checksum, old_l4,
				      *pl->il4csum);
		}
		csum_replace4(&iip->check, old, pl->inner_new);
		csum_replace4(&pl->icmp->checksum, old, pl->inner_new);
		csum_replace2(&pl->icmp->checksum, old_check, iip->check);
		*field = pl->inner_new;
	}
	diff = csum_diff8(old_s, pl->saddr, old_d, pl->daddr);
	csum_apply_diff(&ip->check, ttl ? diff + CSUM_DIFF_TTL_DEC : diff);
	ip->saddr = pl->saddr;
	ip->daddr = pl->daddr;
	if (ttl)
		ip->ttl--;
	if (dmac) {
		mac_copy(eth->h_dest, dmac);
		mac_copy(eth->h_source, smac);
	}
	if (!pl->l4csum)
		return;
	pkt_l4_csum_replace_addrs(p, pl->l4csum, l4off, pl->l4udp, diff, old_s,
				  pl->saddr, old_d, pl->daddr);
}

/* Translate, rewrite the MACs, and send out of ifindex. */
static __always_inline enum verdict send(struct pkt *p, struct ethhdr *eth,
					 struct iphdr *ip, struct plan *pl,
					 const __u8 *dmac, const __u8 *smac,
					 __u32 ifindex)
{
	apply(p, eth, ip, pl, dmac, smac, 1);
	p->out_ifindex = ifindex;
	count(pl->stat, p->len);
	return V_REDIRECT; /* the verdict layer counts how it left */
}

static __always_inline __u32 nh_slot(__be32 daddr)
{
	/* Fibonacci hashing: the top bits of the product. */
	return (bpf_ntohl(daddr) * 2654435761U) >> (32 - NAPPT_NH_CACHE_BITS);
}

/* The error's source: the gateway's public address the packet came to
 * (inbound), its LAN address (outbound).  The packet is untouched on
 * every path that owes an error (apply() has not run). */
static __always_inline enum verdict
icmp_owed(struct pkt *p, const struct nappt_config *cfg, const struct iphdr *ip,
	  const struct plan *pl, __u8 type, __u8 code, __u16 mtu,
	  enum nappt_stat stat)
{
	struct icmp_err e = { .src = pl->inbound ? ip->daddr : cfg->lan_gw,
			      .mtu = mtu,
			      .type = type,
			      .code = code,
			      .stat = stat };

	return icmp_send_error(p, &e);
}

/* The FIB said there is no way on.  Outbound, the untouched packet goes
 * to the kernel: its destination is not local, so the forwarding path
 * sees the same routes and answers the phone itself.  Inbound, the
 * destination is a public address local to the gateway: the kernel would
 * deliver it to the local stack, so the hook answers (RFC 1812 5.2.7.1:
 * unreachable and prohibited routes owe an error; blackholes do not). */
static __always_inline enum verdict
no_route(struct pkt *p, const struct nappt_config *cfg, struct ethhdr *eth,
	 struct iphdr *ip, struct plan *pl, long rc)
{
	if (!pl->inbound)
		return account(p, NAPPT_STAT_PASS_FIB, V_PASS);
	if (rc == BPF_FIB_LKUP_RET_UNREACHABLE ||
	    rc == BPF_FIB_LKUP_RET_NOT_FWDED)
		return icmp_owed(p, cfg, ip, pl, ICMP_DEST_UNREACH,
				 ICMP_HOST_UNREACH, 0, NAPPT_STAT_ICMP_UNREACH);
	if (rc == BPF_FIB_LKUP_RET_PROHIBIT)
		return icmp_owed(p, cfg, ip, pl, ICMP_DEST_UNREACH,
				 ICMP_PKT_FILTERED, 0, NAPPT_STAT_ICMP_UNREACH);
	return account(p, NAPPT_STAT_DROP_NO_ROUTE, V_DROP);
}

/*
 * Route the translated packet and send it.
 *
 * TTL <= 1: Time Exceeded from the hook (icmp.h), quoting the packet as
 * it came.
 *
 * To a phone (phone_mac set): phones are L2 neighbours of the LAN side,
 * the lease holds the MAC, so no lookup at all for packets up to
 * NAPPT_FAST_MTU; larger ones ask the FIB (the LAN MTU may have changed
 * since attach).
 *
 * Elsewhere the FIB is asked with the new addresses before anything is
 * written, XDP first trying the per-CPU next-hop cache (struct nappt_nh).
 * The size asked about is one segment's (pkt_seg_len): a GSO/GRO
 * aggregate is translated whole and cut on transmit, never passed
 * untouched (the kernel would forward it with its private source).
 *  - success: rewrite, TTL-1, MACs, redirect (never through the kernel);
 *    XDP: an egress device missing from tx_ports, or a super-packet
 *    (generic XDP), gets the translated packet through the kernel, MACs
 *    untouched (rewritten ones would be PACKET_OTHERHOST there, i.e.
 *    dropped);
 *  - no neighbour: XDP passes the translated packet, the kernel resolves
 *    ARP and forwards it (the loader sets accept_local on the LAN side so
 *    a public source is not a martian); TC lets bpf_redirect_neigh do it;
 *  - frag needed: with DF, Frag Needed from the hook with the route's
 *    MTU (RFC 1191), in both directions: an untouched packet to the
 *    kernel would be delivered locally (inbound) or, a GSO aggregate,
 *    forwarded with its private source (outbound); without DF the
 *    translated packet goes to the kernel to be fragmented;
 *  - no route: see no_route().
 */
static __always_inline enum verdict
forward(struct pkt *p, const struct nappt_config *cfg, struct ethhdr *eth,
	struct iphdr *ip, struct plan *pl, const __u8 *phone_mac)
{
	__u32 tot = bpf_ntohs(ip->tot_len), key = 0, seg;
	struct bpf_fib_lookup fib = {};
	struct nappt_nh *nh = NULL;
	__be32 src = 0;
	__u64 now = 0;
	long rc;

	seg = pkt_seg_len(p, tot, pl->hdrs ? pl->hdrs : tot);
	if (ip->ttl <= 1) {
		/* A super-packet keeps its GSO state through XDP_TX: an
		 * error built from it would be cut up as TCP on transmit. */
		if (p->super)
			return account(p, NAPPT_STAT_DROP_ICMP_LIMIT, V_DROP);
		return icmp_owed(p, cfg, ip, pl, ICMP_TIME_EXCEEDED, 0, 0,
				 NAPPT_STAT_ICMP_TIME_EXCEEDED);
	}

	if (phone_mac && cfg->lan_ifindex && seg <= NAPPT_FAST_MTU && !p->super)
		return send(p, eth, ip, pl, phone_mac, cfg->lan_mac,
			    cfg->lan_ifindex);

	if (p->xdp && !p->super) {
		/* Without source routing the source never changes the
		 * answer: one entry serves every public address. */
		src = cfg->flags & NAPPT_CFG_ROUTE_BY_SRC ? pl->saddr : 0;
		key = nh_slot(pl->daddr ^ src);
		nh = bpf_map_lookup_elem(&nh_cache, &key);
		now = bpf_jiffies64();
		if (nh && nh->daddr == pl->daddr && nh->saddr == src &&
		    nh->in_ifindex == p->ifindex && seg <= nh->max_len &&
		    now < nh->expires)
			return send(p, eth, ip, pl, nh->dmac, nh->smac,
				    nh->out_ifindex);
	}

	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	/* TC: always a length, one segment's: without one the skb helper
	 * lets any GSO packet through (is_skb_forwardable), segments too
	 * big for the route.  XDP super-packets: none; they go to the
	 * kernel translated, whose forwarding path checks their real
	 * segments (and a too-big single segment retransmitted later gets
	 * Frag Needed from here). */
	fib.tot_len = (__u16)seg;
	fib.ipv4_src = pl->saddr;
	fib.ipv4_dst = pl->daddr;
	fib.ifindex = p->ifindex;

	rc = bpf_fib_lookup(p->ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		/* A super-packet cannot be redirected (the devmap refuses
		 * anything longer than the egress MTU): the kernel forwards
		 * it translated and segments it on transmit. */
		if (p->super || !pkt_can_redirect(p, fib.ifindex)) {
			apply(p, eth, ip, pl, NULL, NULL, 0);
			count(pl->stat, p->len);
			count(NAPPT_STAT_XLATE_PASS, p->len);
			return V_PASS;
		}
		if (nh) {
			/* The FIB accepted seg bytes on this route; keep the
			 * larger bound if the entry is this route's already. */
			if (nh->daddr != pl->daddr || nh->saddr != src ||
			    nh->in_ifindex != p->ifindex ||
			    nh->out_ifindex != fib.ifindex ||
			    now >= nh->expires || nh->max_len < seg)
				nh->max_len = (__u16)seg;
			nh->daddr = pl->daddr;
			nh->saddr = src;
			nh->in_ifindex = p->ifindex;
			nh->out_ifindex = fib.ifindex;
			__builtin_memcpy(nh->dmac, fib.dmac, ETH_ALEN);
			__builtin_memcpy(nh->smac, fib.smac, ETH_ALEN);
			nh->expires = now + NAPPT_NH_CACHE_JIFFIES;
		}
		return send(p, eth, ip, pl, fib.dmac, fib.smac, fib.ifindex);
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		apply(p, eth, ip, pl, NULL, NULL, !p->xdp && !p->super);
		count(pl->stat, p->len);
		if (!p->xdp) {
			p->out_ifindex = fib.ifindex;
			return V_REDIRECT_NEIGH;
		}
		count(NAPPT_STAT_XLATE_PASS, p->len);
		return V_PASS;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		if (ip->frag_off & bpf_htons(IP_DF))
			return icmp_owed(p, cfg, ip, pl, ICMP_DEST_UNREACH,
					 ICMP_FRAG_NEEDED, fib.mtu_result,
					 NAPPT_STAT_ICMP_FRAG_NEEDED);
		apply(p, eth, ip, pl, NULL, NULL, 0);
		count(pl->stat, p->len);
		count(NAPPT_STAT_XLATE_PASS, p->len);
		return V_PASS;
	default:
		return no_route(p, cfg, eth, ip, pl, rc);
	}
}

/*
 * The quoted header of an ICMP error (RFC 792: IP header + at least 8
 * bytes).  Fills pl->iip and, when quoted, the inner L4 checksum, and
 * returns the inner port (TCP/UDP: src if inbound else dst; echo: id),
 * or -1 if the quote is unusable.
 */
static __always_inline int parse_quote(struct cursor *c, struct plan *pl,
				       int inbound)
{
	struct iphdr *iip = c->pos;
	void *l4;
	__u32 hlen;

	if ((void *)(iip + 1) > c->end)
		return -1;
	if (iip->version != 4 || iip->ihl < 5)
		return -1;
	hlen = (iip->ihl & 0xf) * 4;
	l4 = (void *)iip + hlen;
	if (l4 + 8 > c->end)
		return -1;
	pl->iip = iip;

	if (iip->protocol == IPPROTO_UDP) {
		struct udphdr *u = l4;

		pl->il4csum = &u->check;
		pl->il4udp = 1;
		return bpf_ntohs(inbound ? u->source : u->dest);
	}
	if (iip->protocol == IPPROTO_TCP) {
		struct tcphdr *t = l4;

		/* The TCP checksum sits at offset 16: fixed only if quoted. */
		if (l4 + 18 <= c->end)
			pl->il4csum = &t->check;
		return bpf_ntohs(inbound ? t->source : t->dest);
	}
	if (iip->protocol == IPPROTO_ICMP) {
		struct icmphdr *ic = l4;

		/* An error about a phone's echo request (traceroute). */
		if (ic->type == ICMP_ECHO && inbound)
			return bpf_ntohs(ic->un.echo.id);
	}
	return -1;
}

/* TCP or UDP: the ports (host order) and the checksum to fix. */
static __always_inline int parse_ports(struct cursor *c, __u8 proto,
				       __u16 *sport, __u16 *dport,
				       struct plan *pl)
{
	if (proto == IPPROTO_UDP) {
		struct udphdr *u = parse_udphdr(c);

		if (!u)
			return -1;
		*sport = bpf_ntohs(u->source);
		*dport = bpf_ntohs(u->dest);
		pl->l4csum = &u->check;
		pl->l4udp = 1;
		pl->hdrs = sizeof(*u);
		return 0;
	} else {
		struct tcphdr *t = parse_tcphdr(c);

		if (!t)
			return -1;
		*sport = bpf_ntohs(t->source);
		*dport = bpf_ntohs(t->dest);
		pl->l4csum = &t->check;
		pl->hdrs = t->doff * 4;
		return 0;
	}
}

/* RFC 791 fragment identity, as seen on the WAN side. */
static __always_inline struct nappt_frag_key frag_key(const struct iphdr *ip)
{
	struct nappt_frag_key fk = {
		.saddr = ip->saddr,
		.daddr = ip->daddr,
		.id = ip->id,
		.proto = ip->protocol,
	};

	return fk;
}

static __always_inline int icmp_is_error(__u8 type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED ||
	       type == ICMP_PARAMETERPROB;
}

/* ----------------------------------------------------------------------
 * Outbound: LAN ingress.
 */

/*
 * A LAN source outside the LAN pool (the slow path of lan_sender): a
 * public-pool address (attribution rests on it, never from the LAN), a
 * martian, 0.0.0.0 (DHCP) or another host.
 */
static __always_inline enum nappt_stat
lan_stranger(const struct nappt_config *cfg, __be32 saddr, __be32 daddr)
{
	if (in_pub_pool(cfg, saddr))
		return NAPPT_STAT_DROP_SRC_PUBLIC;
	if (saddr && martian_src(saddr))
		return NAPPT_STAT_DROP_SRC_BOGON;
	if (to_gateway(cfg, daddr))
		return NAPPT_STAT_PASS_LOCAL;
	if (!saddr)
		return NAPPT_STAT_DROP_SRC_BOGON;
	if (cfg->flags & NAPPT_CFG_LAN_FOREIGN)
		return NAPPT_STAT_PASS_NOT_OURS;
	return NAPPT_STAT_DROP_SRC_FOREIGN;
}

/*
 * Who may send from the LAN (threat model line 6): a leased phone from
 * its own MAC; 0.0.0.0 and unleased pool addresses only to the gateway
 * (DHCP, an expired phone asking again); other hosts only where the
 * operator said so (NAPPT_CFG_LAN_FOREIGN), and to the gateway.  Nothing
 * from the LAN may carry a public-pool source: attribution rests on it.
 * The LAN-pool test comes first: it is the common case, and the loader
 * refuses pools that overlap each other or a martian range (bad_pools),
 * so a LAN-pool source is neither public nor martian and those tests
 * belong to the slow path only (one range test on the hot path).
 * Returns NAPPT_STAT_MAX with *idx set for a LAN-pool source that may be
 * a phone's, else the reason to count (a pass_* one passes, the rest
 * drop).  Whether idx is leased, to this MAC, is the slot entry's to say
 * (phone_port, lease_why): the one read the packet makes.
 */
static __always_inline enum nappt_stat
lan_sender(const struct nappt_config *cfg, struct iphdr *ip, __u32 *idx)
{
	__be32 saddr = ip->saddr, daddr = ip->daddr;
	__s64 i;

	i = lan_index(cfg, saddr);
	if (i < 0)
		return lan_stranger(cfg, saddr, daddr);
	if (saddr == cfg->lan_gw)
		return NAPPT_STAT_DROP_SRC_BOGON;
	*idx = (__u32)i;
	return NAPPT_STAT_MAX;
}

/*
 * Is pool address idx leased, and to the frame's source MAC?  Reads the
 * entry at key idx (lease_entry).  NAPPT_STAT_MAX if so, else the reason
 * to count: not leased (only the gateway may hear from it: pass_local,
 * else drop_no_lease), or another MAC.  The MAC is checked before the
 * local pass, or a LAN host could fetch another phone's TFTP config (SIP
 * credentials) with its address.  The hot path does not come here (one
 * read: phone_port); packets to the gateway and the LAN, non-first
 * fragments, and the slow path's reasons do.
 */
static __always_inline enum nappt_stat lease_why(const struct nappt_config *cfg,
						 struct ethhdr *eth, __u32 idx,
						 __be32 daddr)
{
	union slot_copy c;
	struct nappt_slot *e = lease_entry(idx, &c);

	if (!e)
		return to_gateway(cfg, daddr) ? NAPPT_STAT_PASS_LOCAL :
						NAPPT_STAT_DROP_NO_LEASE;
	/* Anti-spoof: the lease binds address, MAC and ports together. */
	if (!mac_equal(eth->h_source, e->mac))
		return NAPPT_STAT_DROP_SPOOF_MAC;
	return NAPPT_STAT_MAX;
}

/*
 * A port (or echo id) pool address idx may send from, with the frame's
 * MAC: one read, the entry of that port's slot on idx's public address
 * (nappt_port_key), which must be VALID, name idx as its owner and hold
 * the MAC.  That proves the lease, the MAC and the port at once: a slot
 * names exactly one phone, and a non-first slot's key (an address that
 * is no one's) is never its own owner.  On failure only, the sender's
 * own entry tells the reason (lease_why): not leased, another MAC, or
 * else a port that is not its (drop_port_range; drop_slot, a phone entry
 * its slot does not name, cannot happen in this layout).
 */
static __always_inline enum nappt_stat
phone_port(const struct nappt_config *cfg, struct ethhdr *eth, __u32 idx,
	   __be32 daddr, __u16 port)
{
	__u32 key = nappt_port_key(cfg, idx, port);
	union slot_copy c;
	enum nappt_stat why;

	if (!slot_read(key, &c) && nappt_slot_valid(&c.e) &&
	    nappt_slot_owner(key, &c.e) == idx &&
	    mac_equal(eth->h_source, c.e.mac))
		return NAPPT_STAT_MAX;
	why = lease_why(cfg, eth, idx, daddr);
	return why == NAPPT_STAT_MAX ? NAPPT_STAT_DROP_PORT_RANGE : why;
}

/* An outbound packet refused before its port was known (malformed, a
 * protocol without ports): an unleased or spoofed sender is counted as
 * such first, as the reason that matters.  Never to the gateway here
 * (that path returned before), so never a pass. */
static __always_inline enum verdict
out_refuse(struct pkt *p, const struct nappt_config *cfg, struct ethhdr *eth,
	   __u32 idx, __be32 daddr, enum nappt_stat why)
{
	enum nappt_stat w = lease_why(cfg, eth, idx, daddr);

	return account(p, w == NAPPT_STAT_MAX ? why : w, V_DROP);
}

/* Hairpin: to another phone's public (address, port).  A first fragment
 * that hairpins records where it went (keyed by the phone's private
 * source, which no WAN key can carry), and later fragments, which have
 * no port, follow it after the lease is checked again. */
static __always_inline enum verdict
hairpin(struct pkt *p, const struct nappt_config *cfg, struct ethhdr *eth,
	struct iphdr *ip, struct plan *pl, int port)
{
	struct nappt_frag_key fk = frag_key(ip);
	union slot_copy copy;
	struct nappt_slot *dst;
	struct nappt_frag_val *fv;
	__u32 idx2;

	if (port < 0) {
		fv = bpf_map_lookup_elem(&frags, &fk);
		if (!fv)
			return account(p, NAPPT_STAT_PASS_LOCAL, V_PASS);
		dst = slot_lookup(cfg, ip->daddr, (__u16)fv->port, &copy,
				  &idx2);
		if (!dst || idx2 != fv->phone) {
			bpf_map_delete_elem(&frags, &fk);
			return account(p, NAPPT_STAT_DROP_FRAG_STALE, V_DROP);
		}
	} else {
		dst = slot_lookup(cfg, ip->daddr, (__u16)port, &copy, &idx2);
		if (!dst)
			return account(p, NAPPT_STAT_PASS_LOCAL, V_PASS);
		if (ip->frag_off & bpf_htons(IP_MF)) {
			struct nappt_frag_val v = { .phone = idx2,
						    .port = (__u32)port };

			bpf_map_update_elem(&frags, &fk, &v, BPF_ANY);
		}
	}
	pl->daddr = phone_addr(cfg, idx2);
	pl->stat = NAPPT_STAT_HAIRPIN;
	return forward(p, cfg, eth, ip, pl, dst->mac);
}

static __always_inline enum verdict
nappt_outbound(struct pkt *p, const struct nappt_config *cfg,
	       struct ethhdr *eth, struct iphdr *ip, struct cursor *c)
{
	struct plan pl = { .stat = NAPPT_STAT_OUT_XLATE };
	__be32 daddr = ip->daddr;
	enum nappt_stat why;
	__u32 idx = 0;
	int port = -1;

	why = lan_sender(cfg, ip, &idx);
	if (why != NAPPT_STAT_MAX)
		return account(p, why,
			       why == NAPPT_STAT_PASS_LOCAL ||
					       why == NAPPT_STAT_PASS_NOT_OURS ?
				       V_PASS :
				       V_DROP);
	/* DHCP, TFTP and anything else for the gateway itself; phone to
	 * phone on private addresses is plain routing.  Still from the
	 * lease's MAC (or, unleased, to the gateway only). */
	if (to_gateway(cfg, daddr) || lan_index(cfg, daddr) >= 0) {
		why = lease_why(cfg, eth, idx, daddr);
		if (why == NAPPT_STAT_MAX)
			why = NAPPT_STAT_PASS_LOCAL;
		return account(p, why,
			       why == NAPPT_STAT_PASS_LOCAL ? V_PASS : V_DROP);
	}

	/* Arithmetic, trusted only once an entry has named idx. */
	pl.saddr = nappt_phone_pub(cfg, idx);
	pl.daddr = daddr;

	/* Non-first fragments carry no ports: the source address decides,
	 * so it must be leased (its first slot's entry) to this MAC. */
	if (!ip_is_first_fragment(ip)) {
		why = lease_why(cfg, eth, idx, daddr);
		if (why != NAPPT_STAT_MAX)
			return account(p, why, V_DROP);
		goto hairpin_or_out;
	}

	switch (ip->protocol) {
	case IPPROTO_UDP:
	case IPPROTO_TCP: {
		__u16 sport, dport;

		if (parse_ports(c, ip->protocol, &sport, &dport, &pl))
			return out_refuse(p, cfg, eth, idx, daddr,
					  NAPPT_STAT_DROP_MALFORMED);
		pl.hdrs += ip->ihl * 4;
		why = phone_port(cfg, eth, idx, daddr, sport);
		if (why != NAPPT_STAT_MAX)
			return account(p, why, V_DROP);
		port = dport; /* for the hairpin lookup */
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *ic = parse_icmphdr(c);

		if (!ic)
			return out_refuse(p, cfg, eth, idx, daddr,
					  NAPPT_STAT_DROP_MALFORMED);
		pl.stat = NAPPT_STAT_ICMP_OUT;
		if (ic->type == ICMP_ECHO || ic->type == ICMP_ECHOREPLY) {
			/*
			 * The echo identifier plays the port: replies come
			 * back to (public IP, id).  An id outside the range
			 * cannot be mapped back without per-flow state, so
			 * it is dropped and counted like a stray port.
			 */
			why = phone_port(cfg, eth, idx, daddr,
					 bpf_ntohs(ic->un.echo.id));
			if (why != NAPPT_STAT_MAX)
				return account(p, why, V_DROP);
			/* Pings to public addresses are the gateway's. */
			if (in_pub_pool(cfg, daddr))
				return account(p, NAPPT_STAT_PASS_LOCAL,
					       V_PASS);
			return forward(p, cfg, eth, ip, &pl, NULL);
		}
		if (icmp_is_error(ic->type)) {
			/* The phone quotes a packet it received: its inner
			 * destination is the phone's private address. */
			int iport = parse_quote(c, &pl, 0);

			if (iport < 0 || pl.iip->daddr != ip->saddr)
				return out_refuse(p, cfg, eth, idx, daddr,
						  NAPPT_STAT_DROP_MALFORMED);
			why = phone_port(cfg, eth, idx, daddr, (__u16)iport);
			if (why != NAPPT_STAT_MAX)
				return account(p, why, V_DROP);
			pl.icmp = ic;
			pl.inner_src = 0;
			pl.inner_new = pl.saddr;
			return forward(p, cfg, eth, ip, &pl, NULL);
		}
		return out_refuse(p, cfg, eth, idx, daddr,
				  NAPPT_STAT_DROP_PROTO);
	}
	default:
		/* No ports, no mapping back: would leave untranslatable. */
		return out_refuse(p, cfg, eth, idx, daddr,
				  NAPPT_STAT_DROP_PROTO);
	}

hairpin_or_out:
	if (in_pub_pool(cfg, daddr))
		return hairpin(p, cfg, eth, ip, &pl, port);
	return forward(p, cfg, eth, ip, &pl, NULL);
}

/* ----------------------------------------------------------------------
 * Inbound: WAN ingress.
 */
static __always_inline enum verdict no_mapping(struct pkt *p,
					       const struct nappt_config *cfg)
{
	if (cfg->flags & NAPPT_CFG_DROP_UNKNOWN_IN)
		return account(p, NAPPT_STAT_DROP_NO_MAPPING, V_DROP);
	return account(p, NAPPT_STAT_PASS_NO_MAPPING, V_PASS);
}

static __always_inline enum verdict
nappt_inbound(struct pkt *p, const struct nappt_config *cfg, struct ethhdr *eth,
	      struct iphdr *ip, struct cursor *c)
{
	struct plan pl = { .stat = NAPPT_STAT_IN_XLATE, .inbound = 1 };
	union slot_copy copy;
	struct nappt_slot *ph;
	__be32 daddr = ip->daddr, saddr = ip->saddr;
	__u32 idx;
	int port;

	/*
	 * Threat model line 7: a phone is reachable only through (public
	 * address, port of its range), from a plausible source.  Never at
	 * its private address (the kernel would forward it there, to any
	 * port), and never from the pools or a martian (a forged "local"
	 * peer, or a reply the gateway would send to itself).
	 */
	if (lan_index(cfg, daddr) >= 0)
		return account(p, NAPPT_STAT_DROP_TO_PRIVATE, V_DROP);
	if (lan_index(cfg, saddr) >= 0 || in_pub_pool(cfg, saddr) ||
	    martian_src(saddr))
		return account(p, NAPPT_STAT_DROP_SRC_BOGON, V_DROP);
	if (!in_pub_pool(cfg, daddr))
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);

	pl.saddr = saddr;

	if (!ip_is_first_fragment(ip)) {
		/* Follow the first fragment (RFC 791 identity), after
		 * asking the slot index again: the lease may have moved or
		 * ended since.  One that arrives before its first is the
		 * kernel's: it reassembles locally and, having no socket,
		 * discards. */
		struct nappt_frag_key fk = frag_key(ip);
		struct nappt_frag_val *fv = bpf_map_lookup_elem(&frags, &fk);

		if (!fv)
			return account(p, NAPPT_STAT_FRAG_MISS, V_PASS);
		ph = slot_lookup(cfg, daddr, (__u16)fv->port, &copy, &idx);
		if (!ph || idx != fv->phone) {
			bpf_map_delete_elem(&frags, &fk);
			return account(p, NAPPT_STAT_DROP_FRAG_STALE, V_DROP);
		}
		pl.daddr = phone_addr(cfg, idx);
		pl.stat = NAPPT_STAT_FRAG_IN;
		return forward(p, cfg, eth, ip, &pl, ph->mac);
	}

	switch (ip->protocol) {
	case IPPROTO_UDP:
	case IPPROTO_TCP: {
		__u16 sport, dport;

		if (parse_ports(c, ip->protocol, &sport, &dport, &pl))
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
		pl.hdrs += ip->ihl * 4;
		port = dport;
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *ic = parse_icmphdr(c);

		if (!ic)
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
		pl.stat = NAPPT_STAT_ICMP_IN;
		if (ic->type == ICMP_ECHOREPLY) {
			port = bpf_ntohs(ic->un.echo.id);
			break;
		}
		if (icmp_is_error(ic->type)) {
			/* Frag Needed, Time Exceeded, ...: the quote is
			 * the phone's packet as it left, from (public
			 * address, port).  PMTUD depends on this. */
			port = parse_quote(c, &pl, 1);
			if (port < 0)
				return account(p, NAPPT_STAT_PASS_NOT_OURS,
					       V_PASS);
			if (pl.iip->saddr != daddr)
				return account(p, NAPPT_STAT_PASS_NOT_OURS,
					       V_PASS);
			pl.icmp = ic;
			pl.inner_src = 1;
			break;
		}
		/* Echo requests to a public address are the gateway's. */
		return account(p, NAPPT_STAT_PASS_LOCAL, V_PASS);
	}
	default:
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);
	}

	ph = slot_lookup(cfg, daddr, port, &copy, &idx);
	if (!ph)
		return no_mapping(p, cfg);

	pl.daddr = phone_addr(cfg, idx);
	pl.inner_new = pl.daddr;

	/* First fragment of a larger datagram: remember where the rest go. */
	if (ip->frag_off & bpf_htons(IP_MF)) {
		struct nappt_frag_key fk = frag_key(ip);
		struct nappt_frag_val fv = { .phone = idx, .port = port };

		bpf_map_update_elem(&frags, &fk, &fv, BPF_ANY);
	}
	return forward(p, cfg, eth, ip, &pl, ph->mac);
}

/* ----------------------------------------------------------------------
 * ARP from the LAN (RFC 826, Ethernet/IPv4 only).
 */
struct arp_eth4 {
	__be16 hrd;
	__be16 pro;
	__u8 hln;
	__u8 pln;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
} __attribute__((packed));

/* A sender address that is a phone's lease must come with the lease's
 * MAC (Ethernet source and sender hardware address alike), or a LAN host
 * could take over the gateway's neighbour entry for that phone; no LAN
 * host may claim a public address or the gateway's own. */
static __always_inline enum verdict lan_arp(struct pkt *p,
					    const struct nappt_config *cfg,
					    struct ethhdr *eth,
					    struct cursor *c)
{
	struct arp_eth4 *a = c->pos;
	union slot_copy copy;
	struct nappt_slot *e;
	__be32 spa;
	__s64 i;

	if ((void *)(a + 1) > c->end || a->hrd != bpf_htons(1) ||
	    a->pro != bpf_htons(ETH_P_IP) || a->hln != ETH_ALEN || a->pln != 4)
		return account(p, NAPPT_STAT_PASS_NON_IP, V_PASS);
	__builtin_memcpy(&spa, a->spa, 4);
	if (in_pub_pool(cfg, spa) || (spa && spa == cfg->lan_gw))
		return account(p, NAPPT_STAT_DROP_ARP_SPOOF, V_DROP);
	i = lan_index(cfg, spa);
	if (i >= 0) {
		/* Leased: its first slot's entry (a non-first slot's key
		 * is no one's address). */
		e = lease_entry((__u32)i, &copy);
		if (e && (!mac_equal(a->sha, e->mac) ||
			  !mac_equal(eth->h_source, e->mac)))
			return account(p, NAPPT_STAT_DROP_ARP_SPOOF, V_DROP);
	}
	return account(p, NAPPT_STAT_PASS_NON_IP, V_PASS);
}

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

/* An 802.1Q/802.1ad tag after the MAC addresses (IEEE 802.1Q 9.6). */
struct vlan_tag {
	__be16 tci; /* PCP (3 bits), DEI, VID (12 bits) */
	__be16 proto;
};

/* How many VID-0 tags, one inside the other, XDP strips. */
#define NAPPT_VLAN0_MAX 2

/*
 * A frame whose EtherType is 802.1Q/802.1ad.  A priority tag (VID 0,
 * IEEE 802.1Q: IP phones send one for 802.1p voice priority) is stripped
 * by the kernel (__netif_receive_skb_core(), either TPID, and again for
 * each VID-0 tag under it) and the frame handled as untagged on this device:
 * left to the kernel it would skip every check here (spoofed sources,
 * ARP claims, the WAN reaching private addresses).  XDP sees the frame
 * before that, so it strips the tag the same way and the caller runs the
 * untagged path.  A non-zero VID is the kernel's: only a VLAN
 * sub-interface takes it.  TC sees frames after the kernel's strip of
 * the outer tag (see tc_vlan0_left()).  Returns 0 when the
 * frame is untagged now, 1 to pass it to the kernel, -errno to drop it
 * (truncated, or more VID-0 tags than any sender has a reason for).
 */
static __always_inline int vlan_untag(struct pkt *p)
{
	struct vlan_tag *v;
	struct ethhdr *eth;
	int i;

	if (!p->xdp)
		return 1;
	for (i = 0; i <= NAPPT_VLAN0_MAX; i++) {
		pkt_reload(p);
		eth = p->data;
		if ((void *)(eth + 1) > p->data_end)
			return -EINVAL;
		if (!is_vlan(eth->h_proto))
			return 0;
		v = (void *)(eth + 1);
		if ((void *)(v + 1) > p->data_end)
			return -EINVAL;
		if (v->tci & bpf_htons(0x0fff))
			return 1;
		if (i == NAPPT_VLAN0_MAX)
			return -EINVAL;
		/* The tag's EtherType becomes the frame's. */
		if (pkt_pop_vlan(p))
			return -EINVAL;
	}
	return -EINVAL;
}

/*
 * TC: the kernel has already moved the outer tag out of the data (into
 * skb->vlan_tci), so a tag still in the data is an inner one.  Under no
 * tag or a VID-0 one, the kernel strips a VID-0 inner tag after this hook
 * and handles the frame as untagged: it would have skipped every check
 * here.  No sender has a reason for two priority tags: 1 to drop it (or
 * a truncated tag), 0 to leave it to the kernel.
 */
static __always_inline int tc_vlan0_left(struct pkt *p, struct cursor *c)
{
	struct __sk_buff *skb = p->ctx;
	struct vlan_tag *v = c->pos;

	if ((void *)(v + 1) > c->end)
		return 1;
	if (v->tci & bpf_htons(0x0fff))
		return 0;
	return !skb->vlan_present || !(skb->vlan_tci & 0x0fff);
}

/* ----------------------------------------------------------------------
 * Entry: both directions, both hooks.
 */
/*
 * cfg is the config map's one value, looked up once by the entry point
 * and never NULL here: an ARRAY lookup returns the same address every
 * time, so a second lookup would only read the same fields again, and
 * each lookup is a call to the compiler (registers spilled around it).
 */
static __always_inline enum verdict nappt_handle(struct pkt *p, int wan,
						 const struct nappt_config *cfg)
{
	struct cursor c;
	struct ethhdr *eth;
	struct iphdr *ip;
	int r;

	if (p->xdp) {
		/* Untagged frames (the common case) skip the untag loop. */
		eth = p->data;
		if ((void *)(eth + 1) > p->data_end || is_vlan(eth->h_proto)) {
			r = vlan_untag(p);
			if (r > 0)
				return account(p, NAPPT_STAT_PASS_VLAN, V_PASS);
			if (r < 0)
				return account(p, NAPPT_STAT_DROP_MALFORMED,
					       V_DROP);
		}
		/* One origin for the pointers, tag popped or not. */
		pkt_reload(p);
	}
	c.pos = p->data;
	c.end = p->data_end;
	eth = parse_ethhdr(&c);
	if (!eth)
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	if (is_vlan(eth->h_proto)) {
		if (!p->xdp && tc_vlan0_left(p, &c))
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
		return account(p, NAPPT_STAT_PASS_VLAN, V_PASS);
	}
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		if (!wan && eth->h_proto == bpf_htons(ETH_P_ARP) &&
		    cfg->lan_size)
			return lan_arp(p, cfg, eth, &c);
		return account(p, NAPPT_STAT_PASS_NON_IP, V_PASS);
	}
	ip = parse_iphdr(&c, p->data, p->len);
	if (!ip)
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	if (!cfg->lan_size)
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);
	if (ip->ihl > 5 && ip_has_source_route(ip, c.end))
		return account(p, NAPPT_STAT_DROP_SRC_ROUTE, V_DROP);
	if (wan)
		return nappt_inbound(p, cfg, eth, ip, &c);
	return nappt_outbound(p, cfg, eth, ip, &c);
}

/* TC, either side. */
static __always_inline enum verdict nappt_handle_tc(struct pkt *p, int wan)
{
	const struct nappt_config *cfg;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg) /* never: a one-entry ARRAY */
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);
	return nappt_handle(p, wan, cfg);
}

/* ----------------------------------------------------------------------
 * Voice VLAN on the LAN parent (cfg->lan_vid; native XDP, issue 12).
 *
 * The phones sit on one 802.1Q VLAN of a wire that may carry others (the
 * untagged network of the PCs behind the phones, other VLANs).  Only
 * frames tagged with the voice VID are the phones': the tag comes off,
 * the frame goes through every check and translation above as an
 * untagged one, and whatever goes back to the LAN (a pass to the kernel,
 * which then sees it on the VLAN device that serves DHCP and TFTP; a
 * hairpin; an error the hook owes) gets the tag back, priority bits
 * included.  Untagged, priority-tagged (the untagged network's, for the
 * kernel), 802.1ad and other-VID frames are not the phones' network:
 * passed untouched (pass_vlan), so the kernel treats them as it would
 * without the gateway -- but none may carry a pool source (see
 * parent_other()).  TC never runs here: the loader attaches TC to the
 * VLAN device itself, which sees untagged frames.
 */

/* 1 and *tci if the frame carries the voice VLAN's tag, 0 if not, -errno
 * if its tag is cut short. */
static __always_inline int voice_vlan_tag(struct pkt *p, __u16 vid, __be16 *tci)
{
	struct ethhdr *eth = p->data;
	struct vlan_tag *v;

	if ((void *)(eth + 1) > p->data_end)
		return -EINVAL;
	if (eth->h_proto != bpf_htons(ETH_P_8021Q))
		return 0;
	v = (void *)(eth + 1);
	if ((void *)(v + 1) > p->data_end)
		return -EINVAL;
	if ((bpf_ntohs(v->tci) & 0x0fff) != vid)
		return 0;
	*tci = v->tci;
	return 1;
}

/*
 * Would the kernel route this untagged-network packet (as opposed to
 * deliver it to the gateway itself)?  Forwarding is on for the parent
 * only because the FIB helper needs it: before the gateway, the kernel
 * routed nothing from that network.  As on a plain LAN, where a source
 * outside the pools is dropped unless the operator allows other hosts
 * (NAPPT_CFG_LAN_FOREIGN, drop_src_foreign), attach must not turn the
 * gateway into a router for the PCs behind the phones.  The FIB answers
 * NOT_FWDED for the gateway's own addresses and broadcasts, which pass.
 * Only the untagged network pays this lookup, never a phone's frame.
 */
static __always_inline int parent_routes(struct pkt *p, const struct iphdr *ip)
{
	struct bpf_fib_lookup fib = {
		.family = AF_INET,
		.tos = ip->tos,
		.l4_protocol = ip->protocol,
		.tot_len = bpf_ntohs(ip->tot_len),
		.ipv4_src = ip->saddr,
		.ipv4_dst = ip->daddr,
		.ifindex = p->ifindex,
	};
	long rc = bpf_fib_lookup(p->ctx, &fib, sizeof(fib), 0);

	return rc == BPF_FIB_LKUP_RET_SUCCESS ||
	       rc == BPF_FIB_LKUP_RET_NO_NEIGH ||
	       rc == BPF_FIB_LKUP_RET_FRAG_NEEDED;
}

/*
 * A frame on the LAN parent that is not the voice VLAN's: the kernel's,
 * untouched -- except that the loader turned forwarding on for the
 * parent (the FIB helper asks for it), so the kernel would route the
 * untagged network's packets with whatever source they carry.  Threat
 * model line 6: nothing from the LAN leaves with a public-pool source,
 * and a LAN-pool source belongs to a leased phone on the voice VLAN
 * only.  So an IPv4 packet here, untagged or under the priority tags the
 * kernel strips (VID 0, at most NAPPT_VLAN0_MAX), from either pool is
 * dropped, and so is one the kernel would route unless the operator
 * allows other LAN hosts (parent_routes); everything else passes
 * (pass_vlan).
 */
static __always_inline enum verdict parent_other(struct pkt *p,
						 const struct nappt_config *cfg)
{
	struct cursor c = { .pos = p->data, .end = p->data_end };
	struct ethhdr *eth = parse_ethhdr(&c);
	__be16 proto;
	struct iphdr *ip;
	int i;

	if (!eth)
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	proto = eth->h_proto;
	for (i = 0; i <= NAPPT_VLAN0_MAX && is_vlan(proto); i++) {
		struct vlan_tag *v = c.pos;

		if ((void *)(v + 1) > c.end)
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
		/*
		 * Another VLAN: its VLAN device's, if any.  But the voice
		 * VID under a priority tag reaches the voice VLAN's device
		 * all the same (the kernel strips the VID-0 tag, then finds
		 * that device for the inner one) without any check here:
		 * no phone sends that, so it is dropped.
		 */
		if (v->tci & bpf_htons(0x0fff)) {
			if (i > 0 &&
			    (bpf_ntohs(v->tci) & 0x0fff) == cfg->lan_vid)
				return account(p, NAPPT_STAT_DROP_MALFORMED,
					       V_DROP);
			return account(p, NAPPT_STAT_PASS_VLAN, V_PASS);
		}
		if (i == NAPPT_VLAN0_MAX)
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
		proto = v->proto;
		c.pos = v + 1;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return account(p, NAPPT_STAT_PASS_VLAN, V_PASS);
	ip = c.pos;
	if ((void *)(ip + 1) > c.end)
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	if (in_pub_pool(cfg, ip->saddr))
		return account(p, NAPPT_STAT_DROP_SRC_PUBLIC, V_DROP);
	if (lan_index(cfg, ip->saddr) >= 0)
		return account(p, NAPPT_STAT_DROP_SRC_BOGON, V_DROP);
	if (!(cfg->flags & NAPPT_CFG_LAN_FOREIGN) &&
	    !to_gateway(cfg, ip->daddr) && parent_routes(p, ip))
		return account(p, NAPPT_STAT_DROP_SRC_FOREIGN, V_DROP);
	return account(p, NAPPT_STAT_PASS_VLAN, V_PASS);
}

/*
 * The voice tag of the frame in flight, per CPU, for the duration of one
 * program run (XDP runs are not preempted): VOICE_TAGGED | TCI, or 0.
 * Not on the stack on purpose: the core is inlined once for both kinds
 * of LAN, and a value live across it would make the verifier walk it
 * once per kind (a second inlined copy doubled the program, a stack flag
 * made the attach ten times slower).  Without a voice VLAN it is never
 * touched: that path costs one config read more than before.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} voice_tci SEC(".maps");

#define VOICE_TAGGED 0x10000U

/* XDP, LAN side. */
static __always_inline enum verdict nappt_handle_lan(struct pkt *p)
{
	const struct nappt_config *cfg;
	__u32 zero = 0, *st, t;
	enum verdict v;
	__be16 tci = 0;
	int r;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg) /* never: a one-entry ARRAY */
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);
	if (cfg->lan_vid) {
		r = voice_vlan_tag(p, cfg->lan_vid, &tci);
		if (r == 0)
			return parent_other(p, cfg);
		st = bpf_map_lookup_elem(&voice_tci, &zero);
		if (r < 0 || !st || pkt_pop_vlan(p))
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
		*st = VOICE_TAGGED | bpf_ntohs(tci);
	}
	v = nappt_handle(p, 0, cfg);
	/* The current value (the same address a new lookup would give). */
	if (!cfg->lan_vid)
		return v;
	/* Read and cleared: a config changed during this run finds no
	 * flag from an earlier frame. */
	st = bpf_map_lookup_elem(&voice_tci, &zero);
	if (!st || !(*st & VOICE_TAGGED))
		return v;
	t = *st;
	*st = 0;
	/* Only what leaves by the WAN (or another device) goes untagged;
	 * a dropped frame is put back as it came. */
	if ((v == V_REDIRECT || v == V_REDIRECT_NEIGH) &&
	    p->out_ifindex != cfg->lan_ifindex)
		return v;
	if (pkt_push_vlan(p, bpf_htons((__u16)t))) {
		count(NAPPT_STAT_DROP_TX_PORT, p->len);
		return V_DROP;
	}
	return v;
}

/* XDP, WAN side: a frame for a phone on the LAN parent gets the voice
 * VLAN's tag (no priority bits: the WAN does not say). */
static __always_inline enum verdict nappt_handle_wan(struct pkt *p)
{
	const struct nappt_config *cfg;
	enum verdict v;
	__u32 zero = 0;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg) /* never: a one-entry ARRAY */
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);
	v = nappt_handle(p, 1, cfg);
	if (v != V_REDIRECT)
		return v;
	if (!cfg->lan_vid || p->out_ifindex != cfg->lan_ifindex)
		return v;
	if (pkt_push_vlan(p, bpf_htons(cfg->lan_vid & 0x0fff))) {
		count(NAPPT_STAT_DROP_TX_PORT, p->len);
		return V_DROP;
	}
	return v;
}

#endif /* NAPPT_NAT_H */
