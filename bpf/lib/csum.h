/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Incremental Internet checksum update, RFC 1624 eqn. 3:
 *     HC' = ~(~HC + ~m + m')
 * computed in one's complement on 32 bits and folded.  The same helpers
 * serve the IPv4 header, the TCP/UDP pseudo header and ICMP, in XDP and TC
 * alike (TC sees full checksums on ingress from the wire).
 */
#ifndef NAPPT_CSUM_H
#define NAPPT_CSUM_H

#include <linux/types.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* Replace a 16-bit word `from` by `to` in the data covered by *csum. */
static __always_inline void csum_replace2(__sum16 *csum, __be16 from, __be16 to)
{
	__u32 sum = (__u16) ~*csum;

	sum += (__u16)~from;
	sum += (__u16)to;
	*csum = (__sum16)~csum_fold32(sum);
}

/* Replace a 32-bit word (an IPv4 address). */
static __always_inline void csum_replace4(__sum16 *csum, __be32 from, __be32 to)
{
	__u32 sum = (__u16) ~*csum;

	sum += (__u16) ~(from & 0xffff);
	sum += (__u16) ~(from >> 16);
	sum += (__u16)(to & 0xffff);
	sum += (__u16)(to >> 16);
	*csum = (__sum16)~csum_fold32(sum);
}

/*
 * Two 32-bit words (an IPv4 address pair) changing: RFC 1624 eqn. 3
 * holds for any number of changed words, and the IP header and the
 * TCP/UDP pseudo header change by the same words, so the difference
 * (~m + m' over the 16-bit halves) is summed once and applied to both
 * checksums, one fold each.  On the per-packet path of both directions,
 * where it pays for the hostile-traffic checks.  Eight 16-bit terms plus
 * the old checksum cannot carry out of 20 bits: two folds suffice.
 */
static __always_inline __u32 csum_diff8(__be32 from1, __be32 to1, __be32 from2,
					__be32 to2)
{
	return (__u32)(__u16) ~(from1 & 0xffff) + (__u16) ~(from1 >> 16) +
	       (__u16)(to1 & 0xffff) + (__u16)(to1 >> 16) +
	       (__u16) ~(from2 & 0xffff) + (__u16) ~(from2 >> 16) +
	       (__u16)(to2 & 0xffff) + (__u16)(to2 >> 16);
}

/* Apply a csum_diff8() difference to *csum. */
static __always_inline void csum_apply_diff(__sum16 *csum, __u32 diff)
{
	*csum = (__sum16)~csum_fold32((__u32)(__u16) ~*csum + diff);
}

/*
 * UDP: a zero checksum means "none" (RFC 768) and must stay zero; a
 * computed zero is sent as all ones.
 */
static __always_inline void udp_csum_replace4(__sum16 *csum, __be32 from,
					      __be32 to)
{
	if (*csum == 0)
		return;
	csum_replace4(csum, from, to);
	if (*csum == 0)
		*csum = (__sum16)0xffff;
}

static __always_inline void udp_csum_apply_diff(__sum16 *csum, __u32 diff)
{
	if (*csum == 0)
		return;
	csum_apply_diff(csum, diff);
	if (*csum == 0)
		*csum = (__sum16)0xffff;
}

static __always_inline void udp_csum_replace2(__sum16 *csum, __be16 from,
					      __be16 to)
{
	if (*csum == 0)
		return;
	csum_replace2(csum, from, to);
	if (*csum == 0)
		*csum = (__sum16)0xffff;
}

/*
 * The csum_diff8()-style term for a TTL decrement (RFC 1624 / kernel
 * ip_decrease_ttl): TTL is the high byte of the 16-bit word it shares
 * with the protocol, so the word m becomes m - htons(0x0100) and
 * ~m + m' is a constant.  Only for TTL >= 1 (no borrow): the callers
 * decrement only after checking TTL > 1.  Added to the address
 * difference, the header checksum takes one fold for both.
 */
#define CSUM_DIFF_TTL_DEC ((__u32)(0xffff - bpf_htons(0x0100)))

#endif /* NAPPT_CSUM_H */
