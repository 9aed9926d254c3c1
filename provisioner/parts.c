// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Several gateways, one lease database (issue 14): each gateway owns
 * parts of the pools (lease-store.h) and allocates only there.  The
 * allocator is fenced here, once per change of ownership: every public
 * address and every LAN address of a part not owned is marked taken, so
 * alloc_pick() never offers it; the store refuses a write there anyway
 * (the epoch check), this only keeps the offers honest.  Part k is the
 * k-th slice of the public pool and the private addresses derived from
 * it (issue 13: lan_net + public index x slots_per_ip + first slot), so
 * the phones of a part taken over never collide with ours in the data
 * plane's slots, and a gateway's fence never blocks its own derived
 * addresses (a slice of the LAN pool by its own size would cut across
 * the derived ones: a gateway could not lease in its own part).
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "server-internal.h"

static struct lease_gateway geometry(const struct srv *s)
{
	const struct prov_conf *c = s->conf;

	return (struct lease_gateway){ .pub_net = c->pub_net,
				       .pub_count = c->pub_count,
				       .lan_net = c->lan_net,
				       .lan_size = c->lan_size,
				       .slots_per_ip = s->alloc.slots_per_ip,
				       .nparts = s->nparts };
}

void srv_parts_fence(struct srv *s)
{
	struct alloc *a = &s->alloc;
	struct lease_gateway g;
	uint32_t i;

	if (s->nparts <= 1 && (!s->nparts || s->owned[0]))
		return; /* one gateway: the whole pool */
	g = geometry(s);
	for (i = 0; i < a->pub_count; i++) {
		int k = lease_part_pub(&g, a->pub_net + i);

		if (k < 0 || !s->owned[k])
			memset(a->used + (size_t)i * a->slots_per_ip, 1,
			       a->slots_per_ip);
	}
	for (i = 0; i < a->lan_size; i++) {
		int k = lease_part_lan(&g, a->lan_net + i);

		if (k < 0 || !s->owned[k])
			a->lan_used[i] = 1;
	}
}

int srv_parts_read(struct srv *s, int *changed)
{
	uint8_t owned[CONF_MAX_PARTS] = { 0 };
	int n, c = 0;

	*changed = 0;
	if (!s->fx.parts)
		return 0;
	n = s->fx.parts(s->fx.arg, owned, CONF_MAX_PARTS, &c);
	if (n < 0) {
		logp(LOG_ERR_, "Failed to read the parts this gateway owns: %s",
		     strerror(-n));
		return n;
	}
	if (n == 0 || n > CONF_MAX_PARTS)
		return -EINVAL;
	*changed = c || (unsigned int)n != s->nparts ||
		   memcmp(owned, s->owned, (size_t)n);
	memcpy(s->owned, owned, sizeof(owned));
	s->nparts = (unsigned int)n;
	return 0;
}
