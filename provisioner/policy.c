// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

/* --- validation --------------------------------------------------------- */

int mac_pattern_parse(const char *s, struct mac_pattern *p)
{
	int i = 0;

	if (!s || !p)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	while (i < 6 && *s) {
		if (*s == '*') {
			/* A trailing '*' stands for all the rest. */
			s++;
			if (*s == '\0')
				return 0;
		} else if (isxdigit((unsigned char)s[0]) &&
			   isxdigit((unsigned char)s[1])) {
			char hex[3] = { s[0], s[1], 0 };

			p->val[i] = (uint8_t)strtoul(hex, NULL, 16);
			p->mask[i] = 0xff;
			s += 2;
		} else if ((s[0] == 'x' || s[0] == 'X') &&
			   (s[1] == 'x' || s[1] == 'X')) {
			s += 2;
		} else {
			return -EINVAL;
		}
		i++;
		if (*s == ':' || *s == '-')
			s++;
		else if (*s)
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	/* Fewer than 6 bytes: a prefix (OUI is 3). */
	return i >= 1 ? 0 : -EINVAL;
}

int mac_pattern_match(const struct mac_pattern *p, const uint8_t mac[6])
{
	int i;

	for (i = 0; i < 6; i++)
		if ((mac[i] & p->mask[i]) != p->val[i])
			return 0;
	return 1;
}

const char *reject_reason_str(enum verdict_reason r)
{
	switch (r) {
	case REJECT_NONE:
		return "accepted";
	case REJECT_MAC_DENIED:
		return "MAC on the deny-list";
	case REJECT_MAC_UNKNOWN:
		return "MAC not on the allow-list";
	case REJECT_NO_VENDOR_CLASS:
		return "no vendor class (option 60)";
	case REJECT_VENDOR_UNKNOWN:
		return "vendor class matches no phone model";
	}
	return "?";
}

static int vc_match(const struct vc_pattern *p, const char *vc)
{
	switch (p->kind) {
	case VC_EXACT:
		return !strcmp(p->text, vc);
	case VC_PREFIX:
		return !strncmp(p->text, vc, strlen(p->text));
	case VC_GLOB:
		return fnmatch(p->text, vc, 0) == 0;
	}
	return 0;
}

int policy_validate(const struct policy *p, const uint8_t mac[6],
		    const uint8_t *vc, size_t vc_len, enum verdict_reason *why)
{
	char text[256];
	int i, k;

	*why = REJECT_NONE;
	/* Claim 9: the MAC is checked before anything the client says. */
	for (i = 0; i < p->ndeny; i++)
		if (mac_pattern_match(&p->deny[i], mac)) {
			*why = REJECT_MAC_DENIED;
			return -EACCES;
		}
	if (p->nallow) {
		for (i = 0; i < p->nallow; i++)
			if (mac_pattern_match(&p->allow[i], mac))
				break;
		if (i == p->nallow) {
			*why = REJECT_MAC_UNKNOWN;
			return -EACCES;
		}
	}
	/* Cisco phones send the class with a trailing NUL; an embedded NUL
	 * anywhere else makes it match nothing. */
	while (vc_len && vc[vc_len - 1] == '\0')
		vc_len--;
	if (!vc || !vc_len) {
		*why = REJECT_NO_VENDOR_CLASS;
		return -EACCES;
	}
	if (vc_len >= sizeof(text) || memchr(vc, '\0', vc_len)) {
		*why = REJECT_VENDOR_UNKNOWN;
		return -EACCES;
	}
	memcpy(text, vc, vc_len);
	text[vc_len] = '\0';
	for (i = 0; i < p->nmodels; i++)
		for (k = 0; k < p->models[i].nvc; k++)
			if (vc_match(&p->models[i].vc[k], text))
				return i;
	*why = REJECT_VENDOR_UNKNOWN;
	return -EACCES;
}

int policy_mac_exact(const struct policy *p, const uint8_t mac[6])
{
	static const uint8_t full[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	int i;

	for (i = 0; i < p->nallow; i++)
		if (!memcmp(p->allow[i].mask, full, 6) &&
		    mac_pattern_match(&p->allow[i], mac))
			return 1;
	return 0;
}

int policy_has_exact(const struct policy *p)
{
	static const uint8_t full[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	int i;

	for (i = 0; i < p->nallow; i++)
		if (!memcmp(p->allow[i].mask, full, 6))
			return 1;
	return 0;
}

/* --- allocation --------------------------------------------------------- */

void alloc_free(struct alloc *a)
{
	if (!a)
		return;
	free(a->reserved);
	free(a->used);
	free(a->lan_used);
	a->reserved = a->used = a->lan_used = NULL;
}

int alloc_init(struct alloc *a, uint32_t pub_net, uint32_t pub_count,
	       unsigned int slot_shift, uint32_t lan_net, uint32_t lan_size)
{
	if (!a || !pub_count || !lan_size || slot_shift < 4 || slot_shift > 15)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->pub_net = pub_net;
	a->pub_count = pub_count;
	a->slot_shift = slot_shift;
	a->slots_per_ip = 65536U >> slot_shift;
	a->lan_net = lan_net;
	a->lan_size = lan_size;
	/* Not the network address, and not the gateway's (.1). */
	a->lan_first = lan_size > 4 ? 2 : 1;
	a->reserved = calloc(a->slots_per_ip, 1);
	a->used = calloc((size_t)pub_count * a->slots_per_ip, 1);
	a->lan_used = calloc(lan_size, 1);
	if (!a->reserved || !a->used || !a->lan_used) {
		alloc_free(a);
		return -ENOMEM;
	}
	/* The well-known ports are never a phone's (claim 2). */
	for (unsigned int port = 0; port < 1024; port += 1U << slot_shift)
		a->reserved[port >> slot_shift] = 1;
	/* The last address is the LAN broadcast. */
	if (lan_size > 2)
		a->lan_used[lan_size - 1] = 1;
	return 0;
}

void alloc_reserve_port(struct alloc *a, uint16_t port)
{
	a->reserved[port >> a->slot_shift] = 1;
}

static int range_slots(const struct alloc *a, uint32_t pub, uint16_t first,
		       uint16_t last, size_t *base, unsigned int *s0,
		       unsigned int *s1)
{
	uint32_t pidx = pub - a->pub_net;

	if (pidx >= a->pub_count || last < first)
		return -ERANGE;
	*base = (size_t)pidx * a->slots_per_ip;
	*s0 = first >> a->slot_shift;
	*s1 = last >> a->slot_shift;
	return 0;
}

/* The LAN-pool index a range's private address must have: the key of
 * its first slot (nappt_derived_index in nappt.h; issue 13). */
static size_t derived_index(const struct alloc *a, size_t base, unsigned int s0)
{
	return base + s0;
}

int alloc_take(struct alloc *a, uint32_t priv, uint32_t pub, uint16_t first,
	       uint16_t last)
{
	uint32_t li = priv - a->lan_net;
	unsigned int s0, s1, s;
	size_t base;

	if (li >= a->lan_size ||
	    range_slots(a, pub, first, last, &base, &s0, &s1))
		return -ERANGE;
	/* The data plane finds the phone from (public address, port)
	 * alone: any other private address would be unreachable inbound
	 * and refused outbound (libnappt says the same). */
	if (li != derived_index(a, base, s0))
		return -EADDRNOTAVAIL;
	/* Never over 0-1023 or reserved_ports, whatever asks (a stored
	 * lease from before the port was reserved, or a row the parser
	 * wrote): the map writer refuses such a mapping, so the phone
	 * would hold a lease without service. */
	for (s = s0; s <= s1; s++)
		if (a->reserved[s])
			return -EPERM;
	if (a->lan_used[li])
		return -EADDRINUSE;
	for (s = s0; s <= s1; s++)
		if (a->used[base + s])
			return -EADDRINUSE;
	a->lan_used[li] = 1;
	for (s = s0; s <= s1; s++)
		a->used[base + s] = 1;
	return 0;
}

void alloc_release(struct alloc *a, uint32_t priv, uint32_t pub, uint16_t first,
		   uint16_t last)
{
	uint32_t li = priv - a->lan_net;
	unsigned int s0, s1, s;
	size_t base;

	if (li < a->lan_size)
		a->lan_used[li] = 0;
	if (range_slots(a, pub, first, last, &base, &s0, &s1))
		return;
	for (s = s0; s <= s1; s++)
		a->used[base + s] = 0;
}

uint32_t mac_hash(const uint8_t mac[6])
{
	/* FNV-1a: cheap, and spreads consecutive MACs. */
	uint32_t h = 2166136261U;
	int i;

	for (i = 0; i < 6; i++) {
		h ^= mac[i];
		h *= 16777619U;
	}
	return h;
}

void alloc_clear(struct alloc *a)
{
	memset(a->used, 0, (size_t)a->pub_count * a->slots_per_ip);
	memset(a->lan_used, 0, a->lan_size);
	if (a->lan_size > 2)
		a->lan_used[a->lan_size - 1] = 1;
}

/* Window indexes (address * per_ip + aligned window in it) whose first
 * slot's key is the first >= k, and the last <= k. */
static size_t window_from(const struct alloc *a, unsigned int nslots,
			  size_t per_ip, size_t k)
{
	size_t s = k % a->slots_per_ip, j = (s + nslots - 1) / nslots;

	return (k / a->slots_per_ip) * per_ip + (j < per_ip ? j : per_ip);
}

static size_t window_to(const struct alloc *a, unsigned int nslots,
			size_t per_ip, size_t k)
{
	size_t j = (k % a->slots_per_ip) / nslots;

	return (k / a->slots_per_ip) * per_ip + (j < per_ip ? j : per_ip - 1);
}

int alloc_window_at(const struct alloc *a, uint32_t priv, unsigned int nslots,
		    uint32_t lan_lo, uint32_t lan_hi, uint32_t *pub,
		    uint16_t *first, uint16_t *last)
{
	size_t k = priv - a->lan_net, at;
	unsigned int in_ip, s;

	if (!nslots || nslots > a->slots_per_ip)
		return -EINVAL;
	if (k >= a->lan_size || k < a->lan_first ||
	    k >= (size_t)a->pub_count * a->slots_per_ip)
		return -ERANGE;
	if ((lan_lo || lan_hi) && (priv < lan_lo || priv > lan_hi))
		return -ERANGE;
	in_ip = (unsigned int)(k % a->slots_per_ip);
	if (in_ip % nslots || in_ip + nslots > a->slots_per_ip)
		return -ERANGE;
	at = k;
	for (s = 0; s < nslots; s++)
		if (a->used[at + s] || a->reserved[in_ip + s])
			return -EADDRINUSE;
	*pub = a->pub_net + (uint32_t)(k / a->slots_per_ip);
	*first = (uint16_t)(in_ip << a->slot_shift);
	*last = (uint16_t)(((in_ip + nslots) << a->slot_shift) - 1);
	return 0;
}

int alloc_pick(const struct alloc *a, const uint8_t mac[6], unsigned int nslots,
	       uint32_t lan_lo, uint32_t lan_hi, uint32_t *priv, uint32_t *pub,
	       uint16_t *first, uint16_t *last)
{
	uint32_t h = mac_hash(mac);
	size_t klo = a->lan_first, khi = a->lan_size - 1, keys, per_ip;
	size_t wlo, whi, n, k, start;

	if (!nslots || nslots > a->slots_per_ip)
		return -EINVAL;
	if (lan_lo || lan_hi) {
		if (lan_hi < lan_lo || lan_lo - a->lan_net >= a->lan_size ||
		    lan_hi - a->lan_net >= a->lan_size)
			return -EINVAL;
		/* Never the network's own address, nor the gateway's. */
		if (lan_lo - a->lan_net > klo)
			klo = lan_lo - a->lan_net;
		if (lan_hi - a->lan_net < khi)
			khi = lan_hi - a->lan_net;
	}
	/* The private address is derived (issue 13): lan_net + the key of
	 * the range's first slot.  So only windows whose key is an
	 * address of the pool (or of the model's lan_range) can be
	 * offered; a LAN pool smaller than the public pool's keys serves
	 * its first addresses only. */
	keys = (size_t)a->pub_count * a->slots_per_ip;
	if (khi >= keys)
		khi = keys - 1;
	if (klo > khi)
		return -ENOSPC;
	/* Ranges are nslots-aligned inside one address (a multiple of
	 * nslots from its first slot), so that a range never straddles two
	 * addresses and stays PSID-shaped when nslots is a power of two.
	 * The walk goes over the (address, aligned window) pairs whose
	 * first slot's key is in [klo, khi], from a place derived from the
	 * MAC (sticky: a phone whose lease was lost tends to get the same
	 * range, and so the same address, again). */
	per_ip = a->slots_per_ip / nslots;
	wlo = window_from(a, nslots, per_ip, klo);
	whi = window_to(a, nslots, per_ip, khi);
	if (wlo > whi)
		return -ENOSPC;
	n = whi - wlo + 1;
	start = ((size_t)h * 2654435761U) % n;
	for (k = 0; k < n; k++) {
		size_t w = wlo + (start + k) % n, at, s;
		unsigned int in_ip = (unsigned int)(w % per_ip) * nslots;

		at = (w / per_ip) * a->slots_per_ip + in_ip;
		/* Held: leased, declined (RFC 2131 4.4.4 quarantine),
		 * the gateway's, the broadcast, another gateway's part. */
		if (at < klo || at > khi || a->lan_used[at])
			continue;
		for (s = 0; s < nslots; s++)
			if (a->used[at + s] || a->reserved[in_ip + s])
				break;
		if (s < nslots)
			continue;
		*priv = a->lan_net + (uint32_t)at;
		*pub = a->pub_net + (uint32_t)(w / per_ip);
		*first = (uint16_t)(in_ip << a->slot_shift);
		*last = (uint16_t)(((in_ip + nslots) << a->slot_shift) - 1);
		return 0;
	}
	return -ENOSPC;
}

unsigned int alloc_derivable(const struct alloc *a, unsigned int nslots,
			     uint32_t lan_lo, uint32_t lan_hi)
{
	size_t k, keys = (size_t)a->pub_count * a->slots_per_ip;
	unsigned int n = 0, in_ip, s;

	if (!nslots || nslots > a->slots_per_ip)
		return 0;
	for (k = a->lan_first; k < a->lan_size && k < keys; k++) {
		uint32_t priv = a->lan_net + (uint32_t)k;

		if (a->lan_used[k])
			continue;
		in_ip = (unsigned int)(k % a->slots_per_ip);
		if ((lan_lo || lan_hi) && (priv < lan_lo || priv > lan_hi))
			continue;
		if (in_ip % nslots || in_ip + nslots > a->slots_per_ip)
			continue;
		for (s = 0; s < nslots; s++)
			if (a->reserved[in_ip + s])
				break;
		n += s == nslots;
	}
	return n;
}

unsigned int alloc_windows(const struct alloc *a, unsigned int nslots)
{
	unsigned int w, s, n = 0;

	if (!nslots || nslots > a->slots_per_ip)
		return 0;
	for (w = 0; w + nslots <= a->slots_per_ip; w += nslots) {
		for (s = 0; s < nslots; s++)
			if (a->reserved[w + s])
				break;
		n += s == nslots;
	}
	return n;
}

unsigned int alloc_usable_slots(const struct alloc *a)
{
	unsigned int s, n = 0;

	for (s = 0; s < a->slots_per_ip; s++)
		n += !a->reserved[s];
	return n;
}

/* --- RFC 7618 ------------------------------------------------------------ */

int opt159_encode(uint16_t first, uint16_t last, uint8_t out[4])
{
	uint32_t size = (uint32_t)last - first + 1;
	unsigned int m = 0;

	if (last < first || (size & (size - 1)) || first % size)
		return -EINVAL;
	while ((1U << m) < size)
		m++;
	out[0] = 0; /* offset a = 0: one contiguous block */
	out[1] = (uint8_t)(16 - m); /* PSID length k */
	/* PSID left-aligned in 16 bits: with a = 0 that is the first port. */
	out[2] = (uint8_t)(first >> 8);
	out[3] = (uint8_t)first;
	return 0;
}
