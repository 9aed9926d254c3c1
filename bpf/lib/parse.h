/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Cursor-based header parsing.  Each helper checks that its whole header
 * lies before data_end, advances the cursor and returns a pointer to the
 * header, or NULL when the packet is too short.  Nothing else in the data
 * plane does pointer arithmetic on packet data.
 */
#ifndef NAPPT_PARSE_H
#define NAPPT_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct cursor {
	void *pos;
	void *end;
};

/* linux/icmp.h drags in libc's socket headers, which do not build for the
 * BPF target: the few ICMP definitions needed are here. */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	union {
		struct {
			__be16 id;
			__be16 sequence;
		} echo;
		__be32 gateway;
	} un;
};

#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff

static __always_inline struct ethhdr *parse_ethhdr(struct cursor *c)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > c->end)
		return NULL;
	c->pos = eth + 1;
	return eth;
}

/*
 * The IPv4 header, options included.  Rejects what the kernel's ip_rcv()
 * rejects (version, IHL < 5, total length shorter than the header or
 * longer than the packet) so that a packet we translate is one the kernel
 * would have accepted.  Ethernet padding after tot_len is allowed.
 * pkt_len is the whole packet's length from the Ethernet header: in TC
 * only the linear head lies before c->end, the rest in fragments.
 */
static __always_inline struct iphdr *parse_iphdr(struct cursor *c, void *data,
						 __u32 pkt_len)
{
	struct iphdr *ip = c->pos;
	__u32 hlen, tot;

	if ((void *)(ip + 1) > c->end)
		return NULL;
	if (ip->version != 4 || ip->ihl < 5)
		return NULL;
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || tot > pkt_len - ((void *)ip - data))
		return NULL;
	if ((void *)ip + hlen > c->end)
		return NULL;
	c->pos = (void *)ip + hlen;
	return ip;
}

static __always_inline struct udphdr *parse_udphdr(struct cursor *c)
{
	struct udphdr *udp = c->pos;

	if ((void *)(udp + 1) > c->end)
		return NULL;
	c->pos = udp + 1;
	return udp;
}

static __always_inline struct tcphdr *parse_tcphdr(struct cursor *c)
{
	struct tcphdr *tcp = c->pos;

	if ((void *)(tcp + 1) > c->end)
		return NULL;
	if (tcp->doff < 5)
		return NULL;
	c->pos = tcp + 1;
	return tcp;
}

/* ICMP header: type, code, checksum and the 4-byte rest (echo id/seq or
 * the unused/MTU word of errors). */
static __always_inline struct icmphdr *parse_icmphdr(struct cursor *c)
{
	struct icmphdr *icmp = c->pos;

	if ((void *)(icmp + 1) > c->end)
		return NULL;
	c->pos = icmp + 1;
	return icmp;
}

/* The options of one IPv4 header, copied for ip_has_source_route(). */
struct ip_opts_scan {
	__u8 o[40];
	__u32 len;
	__u32 i;
	int found;
};

static long ip_opts_step(__u32 n, void *data)
{
	struct ip_opts_scan *st = data;
	__u32 i = st->i;
	__u8 type, len;

	if (i >= st->len || i >= 40)
		return 1;
	type = st->o[i];
	if (type == 0) /* end of list */
		return 1;
	if (type == 1) { /* no-op */
		st->i = i + 1;
		return 0;
	}
	len = i + 1 < 40 ? st->o[i + 1] : 0;
	if (type == 0x83 || type == 0x89 || len < 2 || i + len > st->len) {
		st->found = 1;
		return 1;
	}
	st->i = i + len;
	return 0;
}

/*
 * Does the header carry a loose or strict source route (RFC 791 3.1)?
 * RFC 7126 4.3-4.4: such packets are dropped; the kernel does so too
 * (accept_source_route=0), and the hook, forwarding itself, would
 * otherwise let a WAN host steer a phone's replies.  A malformed option
 * list counts as one.  Only called for headers with options (IHL > 5),
 * which parse_iphdr() has checked lie before end.  bpf_loop: one
 * verification of the step, whatever the option list.
 */
static __always_inline int ip_has_source_route(const struct iphdr *ip,
					       const void *end)
{
	const __u8 *o = (const void *)(ip + 1);
	struct ip_opts_scan st = { .len = ip->ihl * 4 - sizeof(*ip) };
	int k;

#pragma unroll
	for (k = 0; k < 40; k++) {
		if ((const void *)(o + k + 1) > end || (__u32)k >= st.len)
			break;
		st.o[k] = o[k];
	}
	bpf_loop(40, ip_opts_step, &st, 0);
	return st.found;
}

static __always_inline int ip_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
}

static __always_inline int ip_is_first_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(IP_OFFSET)) == 0;
}

#endif /* NAPPT_PARSE_H */
