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

#ifndef AF_INET
#define AF_INET 2
#endif

static __always_inline void count(enum nappt_stat s, __u32 len)
{
	__u32 key = s;
	struct nappt_counter *c = bpf_map_lookup_elem(&stats, &key);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

static __always_inline enum verdict account(struct pkt *p, enum nappt_stat s,
					    enum verdict v)
{
	count(s, p->len);
	return v;
}

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
	__u8 df; /* Don't Fragment was set */
	enum nappt_stat stat;
};

/* The arithmetic itself lives in include/nappt.h, shared with libnappt. */
#define port_in_range nappt_port_in_range
#define lan_index nappt_lan_index
#define phone_addr nappt_lan_addr

static __always_inline int in_pub_pool(const struct nappt_config *cfg,
				       __be32 addr)
{
	return nappt_pub_index(cfg, addr) >= 0;
}

/*
 * Inbound lookup: (public address, port) -> phone, through the slot index.
 * The phone entry is checked again (address, range) so that a stale slot
 * left by a crashed writer can never deliver to the wrong phone.
 */
static __always_inline struct nappt_phone *
slot_lookup(const struct nappt_config *cfg, __be32 pub, __u16 port,
	    __u32 *phone_idx)
{
	__s64 pidx = nappt_pub_index(cfg, pub);
	struct nappt_phone *ph;
	nappt_slot_t *slot;
	__u32 key;

	if (pidx < 0)
		return NULL;
	key = nappt_slot_key(cfg, (__u32)pidx, port);
	slot = bpf_map_lookup_elem(&slots, &key);
	if (!slot || !*slot)
		return NULL;
	key = *slot - 1;
	ph = bpf_map_lookup_elem(&phones, &key);
	if (!ph || !(ph->flags & NAPPT_PHONE_VALID) || ph->pub_ip != pub ||
	    !port_in_range(ph, port))
		return NULL;
	*phone_idx = key;
	return ph;
}

static __always_inline int mac_equal(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

/*
 * Write the plan into the packet: quoted header, IP header, TTL and MACs
 * (when the FIB gave them) by direct access, then the TCP/UDP checksum.
 *
 * XDP sees frames as they came off the wire, with full checksums, and
 * updates them by hand.  TC may see CHECKSUM_PARTIAL packets (GRO
 * aggregates, traffic from local sockets) whose checksum field holds only
 * the pseudo-header sum: bpf_l4_csum_replace() knows the difference, so
 * TC uses it, last, because it invalidates every packet pointer.
 */
static __always_inline void apply(struct pkt *p, struct ethhdr *eth,
				  struct iphdr *ip, struct plan *pl,
				  const __u8 *dmac, const __u8 *smac, int ttl)
{
	__be32 old_s = ip->saddr, old_d = ip->daddr;
	long l4off = pl->l4csum ? (long)pl->l4csum - (long)p->data : -1;

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
	csum_replace4(&ip->check, old_s, pl->saddr);
	csum_replace4(&ip->check, old_d, pl->daddr);
	ip->saddr = pl->saddr;
	ip->daddr = pl->daddr;
	if (ttl)
		ip_decrease_ttl(ip);
	if (dmac) {
		__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, smac, ETH_ALEN);
	}
	if (!pl->l4csum)
		return;
	if (p->xdp) {
		if (pl->l4udp) {
			udp_csum_replace4(pl->l4csum, old_s, pl->saddr);
			udp_csum_replace4(pl->l4csum, old_d, pl->daddr);
		} else {
			csum_replace4(pl->l4csum, old_s, pl->saddr);
			csum_replace4(pl->l4csum, old_d, pl->daddr);
		}
	} else {
		__u64 f = BPF_F_PSEUDO_HDR | sizeof(__be32);

		/* UDP: 0 means no checksum and stays 0; a computed 0 is
		 * sent as 0xffff (RFC 768). */
		if (pl->l4udp)
			f |= BPF_F_MARK_MANGLED_0;
		bpf_l4_csum_replace(p->ctx, l4off, old_s, pl->saddr, f);
		bpf_l4_csum_replace(p->ctx, l4off, old_d, pl->daddr, f);
	}
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
	count(NAPPT_STAT_REDIRECT, p->len);
	return V_REDIRECT;
}

static __always_inline __u32 nh_slot(__be32 daddr)
{
	/* Fibonacci hashing: the top bits of the product. */
	return (bpf_ntohl(daddr) * 2654435761U) >> (32 - NAPPT_NH_CACHE_BITS);
}

/*
 * Route the translated packet and send it.
 *
 * To a phone (phone_mac set): phones are L2 neighbours of the LAN side,
 * the lease holds the MAC, so no lookup at all unless the packet is
 * larger than the LAN MTU (then the FIB decides, as below).
 *
 * Elsewhere the FIB is asked with the new addresses before anything is
 * written, XDP first trying the per-CPU next-hop cache (struct nappt_nh):
 *  - success: rewrite, TTL-1, MACs, redirect (never through the kernel);
 *  - no neighbour: XDP passes the translated packet, the kernel resolves
 *    ARP and forwards it (the loader sets accept_local on the LAN side so
 *    a public source is not a martian); TC lets bpf_redirect_neigh do it;
 *  - frag needed: with DF the untouched packet goes to the kernel, which
 *    sends Frag Needed to the sender (PMTUD); without DF the translated
 *    packet goes to the kernel to be fragmented (never untranslated: it
 *    would leave with a private source);
 *  - no route, blackhole, prohibit, local: untouched to the kernel, which
 *    answers or drops as it would without us.
 */
static __always_inline enum verdict
forward(struct pkt *p, const struct nappt_config *cfg, struct ethhdr *eth,
	struct iphdr *ip, struct plan *pl, const __u8 *phone_mac)
{
	__u32 tot = bpf_ntohs(ip->tot_len), key = 0;
	struct bpf_fib_lookup fib = {};
	struct nappt_nh *nh = NULL;
	__be32 src = 0;
	__u64 now = 0;
	long rc;

	if (phone_mac && cfg->lan_ifindex && tot <= cfg->lan_mtu)
		return send(p, eth, ip, pl, phone_mac, cfg->lan_mac,
			    cfg->lan_ifindex);

	if (p->xdp) {
		/* Without source routing the source never changes the
		 * answer: one entry serves every public address. */
		src = cfg->flags & NAPPT_CFG_ROUTE_BY_SRC ? pl->saddr : 0;
		key = nh_slot(pl->daddr ^ src);
		nh = bpf_map_lookup_elem(&nh_cache, &key);
		now = bpf_jiffies64();
		if (nh && nh->daddr == pl->daddr && nh->saddr == src &&
		    nh->in_ifindex == p->ifindex && tot <= nh->max_len &&
		    now < nh->expires)
			return send(p, eth, ip, pl, nh->dmac, nh->smac,
				    nh->out_ifindex);
	}

	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	/* The route MTU is checked against tot_len.  A GSO aggregate in TC
	 * is far above any MTU: without tot_len the helper checks it the way
	 * the forwarding path does, segment size against the egress MTU. */
	fib.tot_len = p->gso ? 0 : tot;
	fib.ipv4_src = pl->saddr;
	fib.ipv4_dst = pl->daddr;
	fib.ifindex = p->ifindex;

	rc = bpf_fib_lookup(p->ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		if (nh) {
			/* The FIB accepted tot bytes on this route; keep the
			 * larger bound if the entry is this route's already. */
			if (nh->daddr != pl->daddr || nh->saddr != src ||
			    nh->in_ifindex != p->ifindex ||
			    nh->out_ifindex != fib.ifindex ||
			    now >= nh->expires || nh->max_len < tot)
				nh->max_len = (__u16)tot;
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
		apply(p, eth, ip, pl, NULL, NULL, !p->xdp);
		count(pl->stat, p->len);
		if (!p->xdp) {
			p->out_ifindex = fib.ifindex;
			count(NAPPT_STAT_REDIRECT, p->len);
			return V_REDIRECT_NEIGH;
		}
		count(NAPPT_STAT_XLATE_PASS, p->len);
		return V_PASS;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		if (pl->df)
			return account(p, NAPPT_STAT_PASS_FIB, V_PASS);
		apply(p, eth, ip, pl, NULL, NULL, 0);
		count(pl->stat, p->len);
		count(NAPPT_STAT_XLATE_PASS, p->len);
		return V_PASS;
	default:
		return account(p, NAPPT_STAT_PASS_FIB, V_PASS);
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
		return 0;
	} else {
		struct tcphdr *t = parse_tcphdr(c);

		if (!t)
			return -1;
		*sport = bpf_ntohs(t->source);
		*dport = bpf_ntohs(t->dest);
		pl->l4csum = &t->check;
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
static __always_inline enum verdict
nappt_outbound(struct pkt *p, const struct nappt_config *cfg,
	       struct ethhdr *eth, struct iphdr *ip, struct cursor *c)
{
	struct plan pl = { .stat = NAPPT_STAT_OUT_XLATE };
	struct nappt_phone *ph;
	__be32 daddr = ip->daddr;
	__u32 key, idx2;
	__s64 idx;
	int port = -1;

	/* DHCP, TFTP and anything else for the gateway itself. */
	if (daddr == cfg->lan_gw || daddr == bpf_htonl(0xffffffff) ||
	    (bpf_ntohl(daddr) >> 28) == 0xe)
		return account(p, NAPPT_STAT_PASS_LOCAL, V_PASS);

	idx = lan_index(cfg, ip->saddr);
	if (idx < 0)
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);
	key = (__u32)idx;
	ph = bpf_map_lookup_elem(&phones, &key);
	if (!ph || !(ph->flags & NAPPT_PHONE_VALID))
		return account(p, NAPPT_STAT_DROP_NO_LEASE, V_DROP);
	/* Anti-spoof: the lease binds address, MAC and ports together. */
	if (!mac_equal(eth->h_source, ph->mac))
		return account(p, NAPPT_STAT_DROP_SPOOF_MAC, V_DROP);
	/* Phone to phone on private addresses: plain routing. */
	if (lan_index(cfg, daddr) >= 0)
		return account(p, NAPPT_STAT_PASS_LOCAL, V_PASS);
	/* TTL 1: the kernel sends Time Exceeded to the phone. */
	if (ip->ttl <= 1)
		return account(p, NAPPT_STAT_PASS_TTL, V_PASS);

	pl.saddr = ph->pub_ip;
	pl.daddr = daddr;
	pl.df = !!(ip->frag_off & bpf_htons(IP_DF));

	/* Non-first fragments carry no ports: the source address decides. */
	if (!ip_is_first_fragment(ip))
		goto hairpin_or_out;

	switch (ip->protocol) {
	case IPPROTO_UDP:
	case IPPROTO_TCP: {
		__u16 sport, dport;

		if (parse_ports(c, ip->protocol, &sport, &dport, &pl))
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
		if (!port_in_range(ph, sport))
			return account(p, NAPPT_STAT_DROP_PORT_RANGE, V_DROP);
		port = dport; /* for the hairpin lookup */
		break;
	}
	case IPPROTO_ICMP: {
		struct icmphdr *ic = parse_icmphdr(c);

		if (!ic)
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
		pl.stat = NAPPT_STAT_ICMP_OUT;
		if (ic->type == ICMP_ECHO || ic->type == ICMP_ECHOREPLY) {
			/*
			 * The echo identifier plays the port: replies come
			 * back to (public IP, id).  An id outside the range
			 * cannot be mapped back without per-flow state, so
			 * it is dropped and counted like a stray port.
			 */
			if (!port_in_range(ph, bpf_ntohs(ic->un.echo.id)))
				return account(p, NAPPT_STAT_DROP_PORT_RANGE,
					       V_DROP);
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
				return account(p, NAPPT_STAT_DROP_MALFORMED,
					       V_DROP);
			if (!port_in_range(ph, iport))
				return account(p, NAPPT_STAT_DROP_PORT_RANGE,
					       V_DROP);
			pl.icmp = ic;
			pl.inner_src = 0;
			pl.inner_new = ph->pub_ip;
			return forward(p, cfg, eth, ip, &pl, NULL);
		}
		return account(p, NAPPT_STAT_DROP_PROTO, V_DROP);
	}
	default:
		/* No ports, no mapping back: would leave untranslatable. */
		return account(p, NAPPT_STAT_DROP_PROTO, V_DROP);
	}

hairpin_or_out:
	/* Hairpin: to another phone's public (address, port).  Only a
	 * first fragment has the port; later ones go out as they are. */
	if (in_pub_pool(cfg, daddr)) {
		struct nappt_phone *dst;

		if (port < 0)
			return account(p, NAPPT_STAT_PASS_LOCAL, V_PASS);
		dst = slot_lookup(cfg, daddr, port, &idx2);
		if (!dst)
			return account(p, NAPPT_STAT_PASS_LOCAL, V_PASS);
		pl.daddr = phone_addr(cfg, idx2);
		pl.stat = NAPPT_STAT_HAIRPIN;
		return forward(p, cfg, eth, ip, &pl, dst->mac);
	}
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
	struct plan pl = { .stat = NAPPT_STAT_IN_XLATE };
	struct nappt_phone *ph;
	__be32 daddr = ip->daddr;
	__u32 idx;
	int port;

	if (!in_pub_pool(cfg, daddr))
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);

	if (!ip_is_first_fragment(ip)) {
		/* Follow the first fragment (RFC 791 identity).  One that
		 * arrives before its first is the kernel's: it reassembles
		 * locally and, having no socket, discards. */
		struct nappt_frag_key fk = frag_key(ip);
		struct nappt_frag_val *fv = bpf_map_lookup_elem(&frags, &fk);

		if (!fv)
			return account(p, NAPPT_STAT_FRAG_MISS, V_PASS);
		if (ip->ttl <= 1)
			return account(p, NAPPT_STAT_PASS_TTL, V_PASS);
		pl.saddr = ip->saddr;
		pl.daddr = phone_addr(cfg, fv->phone);
		pl.stat = NAPPT_STAT_FRAG_IN;
		return forward(p, cfg, eth, ip, &pl, NULL);
	}

	switch (ip->protocol) {
	case IPPROTO_UDP:
	case IPPROTO_TCP: {
		__u16 sport, dport;

		if (parse_ports(c, ip->protocol, &sport, &dport, &pl))
			return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
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

	ph = slot_lookup(cfg, daddr, port, &idx);
	if (!ph)
		return no_mapping(p, cfg);
	if (ip->ttl <= 1)
		return account(p, NAPPT_STAT_PASS_TTL, V_PASS);

	pl.saddr = ip->saddr;
	pl.daddr = phone_addr(cfg, idx);
	pl.inner_new = pl.daddr;
	pl.df = !!(ip->frag_off & bpf_htons(IP_DF));

	/* First fragment of a larger datagram: remember where the rest go. */
	if (ip->frag_off & bpf_htons(IP_MF)) {
		struct nappt_frag_key fk = frag_key(ip);
		struct nappt_frag_val fv = { .phone = idx };

		bpf_map_update_elem(&frags, &fk, &fv, BPF_ANY);
	}
	return forward(p, cfg, eth, ip, &pl, ph->mac);
}

/* ----------------------------------------------------------------------
 * Entry: both directions, both hooks.
 */
static __always_inline enum verdict nappt_handle(struct pkt *p, int wan)
{
	struct cursor c = { .pos = p->data, .end = p->data_end };
	const struct nappt_config *cfg;
	struct ethhdr *eth;
	struct iphdr *ip;
	__u32 zero = 0;

	eth = parse_ethhdr(&c);
	if (!eth)
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	if (eth->h_proto == bpf_htons(ETH_P_8021Q) ||
	    eth->h_proto == bpf_htons(ETH_P_8021AD))
		return account(p, NAPPT_STAT_PASS_VLAN, V_PASS);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return account(p, NAPPT_STAT_PASS_NON_IP, V_PASS);
	ip = parse_iphdr(&c, p->data, p->len);
	if (!ip)
		return account(p, NAPPT_STAT_DROP_MALFORMED, V_DROP);
	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !cfg->lan_size)
		return account(p, NAPPT_STAT_PASS_NOT_OURS, V_PASS);
	if (wan)
		return nappt_inbound(p, cfg, eth, ip, &c);
	return nappt_outbound(p, cfg, eth, ip, &c);
}

#endif /* NAPPT_NAT_H */
