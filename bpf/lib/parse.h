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

static __always_inline int ip_is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) != 0;
}

static __always_inline int ip_is_first_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(IP_OFFSET)) == 0;
}

#endif /* NAPPT_PARSE_H */
