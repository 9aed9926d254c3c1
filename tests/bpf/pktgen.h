/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Test packet builder: describes an Ethernet/IPv4/L4 frame field by field
 * and writes it with every checksum computed from scratch.  The datapath
 * tests build the input and the expected output from two descriptions,
 * so an incremental checksum the programs got wrong shows up as a byte
 * mismatch against an independent computation.
 */
#ifndef NAPPT_TEST_PKTGEN_H
#define NAPPT_TEST_PKTGEN_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define PKT_MAX 4096

struct ipspec {
	uint32_t saddr, daddr; /* host order */
	uint8_t ttl, tos, proto;
	uint16_t id, frag; /* frag: flags + offset, host order */
	int opt_words; /* IHL - 5, filled with NOPs */
	uint8_t opt_first; /* != 0: a 7-byte option of this type first */
	uint16_t sport, dport; /* UDP/TCP */
	uint8_t tcp_flags;
	uint8_t icmp_type, icmp_code;
	uint16_t icmp_id, icmp_seq;
	int udp_csum_zero;
	/* The L4 checksum as a sender with checksum offload leaves it
	 * (CHECKSUM_PARTIAL): the folded pseudo-header sum, uncomplemented. */
	int l4_csum_partial;
	int payload; /* bytes after the L4 header */
	int udp_len_extra; /* first fragment: bytes in later fragments */
	int no_l4; /* non-first fragment: payload only */
	int l4_trunc; /* > 0: emit only this many L4 header bytes */
	const struct ipspec *inner; /* ICMP error: the quoted packet */
	int inner_quote; /* bytes of the inner packet quoted (0: all) */
};

struct pktspec {
	uint8_t dmac[6], smac[6];
	uint16_t vlan; /* TCI (PCP, DEI, VID); 0: untagged unless tags */
	int tags; /* > 0: this many 802.1Q tags with TCI vlan (VID 0 too) */
	uint16_t tpid; /* the outer tag's TPID; 0: 0x8100 */
	uint16_t vlan_in; /* if set: the TCI of the tags after the first */
	uint16_t ethertype; /* 0: IPv4 */
	struct ipspec ip;
	int raw; /* non-IPv4: payload bytes */
	/* ethertype 0x0806 with arp_op set: an Ethernet/IPv4 ARP packet. */
	uint16_t arp_op;
	uint8_t arp_sha[6];
	uint32_t arp_spa, arp_tpa; /* host order */
	int trunc; /* > 0: cut the frame to this length */
};

static inline uint32_t csum_add_bytes(uint32_t sum, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	return sum;
}

static inline uint16_t csum_finish(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static inline uint32_t pseudo_sum(uint32_t s, uint32_t d, uint8_t proto,
				  uint32_t len)
{
	uint32_t sum = 0;

	sum += s >> 16;
	sum += s & 0xffff;
	sum += d >> 16;
	sum += d & 0xffff;
	sum += proto;
	sum += len;
	return sum;
}

/* Write an IPv4 packet; returns its length. */
static inline size_t build_ip(const struct ipspec *s, uint8_t *b)
{
	size_t hl = 20 + 4 * (size_t)s->opt_words, l4len = 0, tot, i;
	uint8_t *l4 = b + hl, *pay;
	int full_l4;

	memset(b, 0, hl);
	b[0] = 0x40 | (uint8_t)(hl / 4);
	b[1] = s->tos;
	put16(b + 4, s->id);
	put16(b + 6, s->frag);
	b[8] = s->ttl;
	b[9] = s->proto;
	put32(b + 12, s->saddr);
	put32(b + 16, s->daddr);
	for (i = 20; i < hl; i++)
		b[i] = 1; /* NOP option */
	if (s->opt_first && hl >= 28) {
		b[20] = s->opt_first;
		b[21] = 7; /* length */
		b[22] = 4; /* pointer */
		put32(b + 23, 0xc6336401); /* 198.51.100.1 */
	}

	if (s->no_l4) {
		l4len = 0;
	} else if (s->proto == IPPROTO_UDP) {
		l4len = 8;
	} else if (s->proto == IPPROTO_TCP) {
		l4len = 20;
	} else if (s->proto == IPPROTO_ICMP) {
		l4len = 8;
	}
	full_l4 = !s->l4_trunc;
	pay = l4 + l4len;
	if (s->inner) {
		uint8_t tmp[PKT_MAX];
		size_t n = build_ip(s->inner, tmp);

		if (s->inner_quote && (size_t)s->inner_quote < n)
			n = (size_t)s->inner_quote;
		memcpy(pay, tmp, n);
		pay += n;
	}
	for (i = 0; i < (size_t)s->payload; i++)
		pay[i] = (uint8_t)(i * 7 + 3);
	pay += s->payload;
	tot = (size_t)(pay - b);

	memset(l4, 0, l4len);
	if (!s->no_l4 && s->proto == IPPROTO_UDP) {
		uint32_t ulen = (uint32_t)(tot - hl) + s->udp_len_extra;

		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put16(l4 + 4, (uint16_t)ulen);
		if (!s->udp_csum_zero) {
			uint32_t sum = pseudo_sum(s->saddr, s->daddr,
						  IPPROTO_UDP, ulen);
			uint16_t c =
				csum_finish(csum_add_bytes(sum, l4, tot - hl));

			if (s->l4_csum_partial)
				c = (uint16_t)~csum_finish(sum);
			put16(l4 + 6, c ? c : 0xffff);
		}
	} else if (!s->no_l4 && s->proto == IPPROTO_TCP) {
		uint32_t sum;

		put16(l4, s->sport);
		put16(l4 + 2, s->dport);
		put32(l4 + 4, 1000);
		put32(l4 + 8, 0);
		l4[12] = 5 << 4;
		l4[13] = s->tcp_flags;
		put16(l4 + 14, 64240);
		sum = pseudo_sum(s->saddr, s->daddr, IPPROTO_TCP,
				 (uint32_t)(tot - hl));
		put16(l4 + 16,
		      s->l4_csum_partial ?
			      (uint16_t)~csum_finish(sum) :
			      csum_finish(csum_add_bytes(sum, l4, tot - hl)));
	} else if (!s->no_l4 && s->proto == IPPROTO_ICMP) {
		l4[0] = s->icmp_type;
		l4[1] = s->icmp_code;
		put16(l4 + 4, s->icmp_id);
		put16(l4 + 6, s->icmp_seq);
		put16(l4 + 2, csum_finish(csum_add_bytes(0, l4, tot - hl)));
	}
	if (!full_l4) {
		/* Malformed: keep only part of the L4 header, no payload. */
		tot = hl + (size_t)s->l4_trunc;
	}
	put16(b + 2, (uint16_t)tot);
	put16(b + 10, csum_finish(csum_add_bytes(0, b, hl)));
	return tot;
}

static inline size_t build_pkt(const struct pktspec *s, uint8_t *b)
{
	size_t off = 12, n, i;
	int t, tags = s->tags ? s->tags : !!s->vlan;

	memcpy(b, s->dmac, 6);
	memcpy(b + 6, s->smac, 6);
	for (t = 0; t < tags; t++) {
		put16(b + off, t == 0 && s->tpid ? s->tpid : 0x8100);
		put16(b + off + 2, t && s->vlan_in ? s->vlan_in : s->vlan);
		off += 4;
	}
	put16(b + off, s->ethertype ? s->ethertype : 0x0800);
	off += 2;
	if (s->ethertype == 0x0806 && s->arp_op) {
		uint8_t *a = b + off;

		put16(a, 1); /* Ethernet */
		put16(a + 2, 0x0800);
		a[4] = 6;
		a[5] = 4;
		put16(a + 6, s->arp_op);
		memcpy(a + 8, s->arp_sha, 6);
		put32(a + 14, s->arp_spa);
		memset(a + 18, 0, 6);
		put32(a + 24, s->arp_tpa);
		n = off + 28;
	} else if (s->ethertype && s->ethertype != 0x0800) {
		for (i = 0; i < (size_t)s->raw; i++)
			b[off + i] = (uint8_t)i;
		n = off + (size_t)s->raw;
	} else {
		n = off + build_ip(&s->ip, b + off);
	}
	if (s->trunc && (size_t)s->trunc < n)
		n = (size_t)s->trunc;
	return n;
}

#endif /* NAPPT_TEST_PKTGEN_H */
