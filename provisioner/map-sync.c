// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "log.h"
#include "map-sync.h"

void map_sync_phone(const struct lease *l, struct nappt_phone *p)
{
	memset(p, 0, sizeof(*p));
	p->pub_ip = l->pub_ip;
	p->port_first = l->port_first;
	p->port_last = l->port_last;
	memcpy(p->mac, l->mac, 6);
	p->flags = NAPPT_PHONE_VALID;
}

static int add_phone(struct nappt_maps *m, uint32_t priv_be,
		     const struct nappt_phone *p, unsigned int *cleared);

int map_sync_add(struct nappt_maps *m, const struct lease *l)
{
	struct nappt_phone p;

	map_sync_phone(l, &p);
	return add_phone(m, l->priv_ip, &p, NULL);
}

int map_sync_del(struct nappt_maps *m, const struct lease *l)
{
	struct nappt_phone cur;
	int r;

	/* Only if the mapping is still this lease's: the address may have
	 * been handed to another phone since. */
	r = nappt_phone_get(m, l->priv_ip, &cur);
	if (r == -ENOENT || r == -ERANGE)
		return 0;
	if (r)
		return r;
	if (memcmp(cur.mac, l->mac, 6))
		return 0;
	r = nappt_phone_del(m, l->priv_ip);
	return r == -ENOENT ? 0 : r;
}

struct live {
	uint32_t *ips; /* host order, sorted after the walk */
	size_t n, cap;
	struct lease *retry; /* blocked by a mapping that may be stale */
	size_t nretry, capretry;
	struct nappt_maps *m;
	struct sync_stats *st;
};

static int push_retry(struct live *lv, const struct lease *l)
{
	if (lv->nretry == lv->capretry) {
		size_t cap = lv->capretry ? lv->capretry * 2 : 16;
		struct lease *n = realloc(lv->retry, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		lv->retry = n;
		lv->capretry = cap;
	}
	lv->retry[lv->nretry++] = *l;
	return 0;
}

static int same(const struct nappt_phone *a, const struct nappt_phone *b)
{
	return a->pub_ip == b->pub_ip && a->port_first == b->port_first &&
	       a->port_last == b->port_last && !memcmp(a->mac, b->mac, 6) &&
	       (a->flags & NAPPT_PHONE_VALID) == (b->flags & NAPPT_PHONE_VALID);
}

/*
 * The maps hold a phone as the slots of its range (struct nappt_slot):
 * nappt_phone_get reads its first slot and every following slot that
 * names it with its MAC, so a mapping that reads back equal to the lease
 * has every slot in place (a writer killed half-way through an add leaves
 * the first slot unwritten: no mapping, not a wrong one).
 */
int map_sync_holds(struct nappt_maps *m, const struct lease *l)
{
	struct nappt_phone want, cur;

	map_sync_phone(l, &want);
	return !nappt_phone_get(m, l->priv_ip, &cur) && same(&cur, &want);
}

/* One entry of the mmap of `slots`, read as the data plane reads it: one
 * 8-byte load (libnappt writes each entry with one 8-byte store). */
static struct nappt_slot slot_at(const struct nappt_maps *m, uint32_t key)
{
	uint64_t v = __atomic_load_n(
		(const uint64_t *)(const void *)&m->slot_mem[key],
		__ATOMIC_ACQUIRE);
	struct nappt_slot e;

	memcpy(&e, &v, sizeof(e));
	return e;
}

/*
 * Slots that belong to no phone as nappt_phone_get reads it (orphans):
 * an entry that names a phone (key - dist) outside its public address or
 * the LAN pool, or that is not in the unbroken run of entries from that
 * phone's first slot with its MAC.  A writer killed between the slots
 * and the first slot of an add, or one of a phone's slots changed by
 * anything but libnappt, leaves them; left alone they refuse the slot's
 * next owner with -EBUSY forever, and the data plane would deliver
 * inbound traffic of those ports to the phone they name.  A slot of a
 * phone as it reads is never an orphan, so clearing orphans cannot take
 * a live phone's slot.  Cleared to free, under the writers' lock, each
 * with one 8-byte store: a reader sees the orphan or free, and free is
 * what every phone's slot passes through anyway.
 */
static int clear_orphans(struct nappt_maps *m, unsigned int *cleared)
{
	uint32_t spi = m->cfg.slots_per_ip, key, owner = 0, next = 0;
	struct nappt_slot first = { 0 }, e;
	int r, run = 0;

	if (!m->slot_mem) {
		r = nappt_maps_mmap(m);
		if (r)
			return r;
	}
	if (!spi || (spi & (spi - 1)))
		return -EINVAL;
	r = nappt_maps_lock(m);
	if (r)
		return r;
	for (key = 0; key < m->slot_mem_n; key++) {
		uint32_t dist;

		if (!(key & (spi - 1)))
			run = 0; /* a phone's slots are on one address */
		e = slot_at(m, key);
		if (!nappt_slot_valid(&e)) {
			run = 0;
			continue;
		}
		dist = e.owner & NAPPT_SLOT_DIST_MASK;
		if (dist == 0 && key < m->cfg.lan_size) {
			/* A phone's first slot: a run starts. */
			first = e;
			owner = key;
			next = 1;
			run = 1;
			continue;
		}
		if (dist && run && nappt_slot_owner(key, &e) == owner &&
		    dist == next && !memcmp(e.mac, first.mac, sizeof(e.mac))) {
			next++;
			continue;
		}
		/* Past a broken run, the rest of it is orphaned too. */
		run = 0;
		__atomic_store_n((uint64_t *)(void *)&m->slot_mem[key], 0,
				 __ATOMIC_RELEASE);
		(*cleared)++;
	}
	nappt_maps_unlock(m);
	return 0;
}

/* nappt_phone_add, and once more after clearing orphans in its way
 * (counted in *cleared if not NULL). */
static int add_phone(struct nappt_maps *m, uint32_t priv_be,
		     const struct nappt_phone *p, unsigned int *cleared)
{
	unsigned int n = 0;
	int r = nappt_phone_add(m, priv_be, p);

	if (r != -EBUSY)
		return r;
	r = clear_orphans(m, &n);
	if (cleared)
		*cleared += n;
	if (r || !n)
		return r ? r : -EBUSY;
	return nappt_phone_add(m, priv_be, p);
}

static int reconcile_lease(const struct lease *l, void *arg)
{
	struct live *lv = arg;
	struct nappt_phone want, cur;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	uint32_t derived;
	int r, had;

	/* Issue 13: the data plane carries a phone only at the address its
	 * range derives.  A lease stored at another (an older store) is
	 * not live for the maps: never mapped, and a mapping at its address
	 * goes with the stale ones; the core ends it at load. */
	map_sync_phone(l, &want);
	if (nappt_phone_check(&lv->m->cfg, l->priv_ip, &want) ==
	    -EADDRNOTAVAIL) {
		lv->st->underived++;
		if (nappt_phone_addr(&lv->m->cfg, l->pub_ip, l->port_first,
				     &derived))
			derived = 0;
		logp(LOG_WARN_,
		     "Lease of %s is not at the address its range derives "
		     "(%s): not mapped",
		     inet_ntop(AF_INET, &l->priv_ip, a, sizeof(a)),
		     derived ? inet_ntop(AF_INET, &derived, b, sizeof(b)) :
			       "none in the LAN pool");
		return 0;
	}
	if (lv->n == lv->cap) {
		size_t cap = lv->cap ? lv->cap * 2 : 1024;
		uint32_t *n = realloc(lv->ips, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		lv->ips = n;
		lv->cap = cap;
	}
	lv->ips[lv->n++] = ntohl(l->priv_ip);

	r = nappt_phone_get(lv->m, l->priv_ip, &cur);
	if (r == 0 && same(&cur, &want)) {
		lv->st->kept++;
		return 0;
	}
	if (r && r != -ENOENT) {
		lv->st->failed++;
		logp(LOG_WARN_, "Failed to read mapping of %s: %s",
		     inet_ntop(AF_INET, &l->priv_ip, a, sizeof(a)),
		     strerror(-r));
		return 0;
	}
	had = r == 0;
	r = add_phone(lv->m, l->priv_ip, &want, &lv->st->orphans);
	if (r == -EBUSY)
		/* A slot still held by a mapping without a live lease:
		 * retried once the stale ones are gone. */
		return push_retry(lv, l);
	if (r) {
		lv->st->failed++;
		logp(LOG_WARN_, "Failed to map lease of %s: %s",
		     inet_ntop(AF_INET, &l->priv_ip, a, sizeof(a)),
		     strerror(-r));
		return 0;
	}
	if (had) /* nappt_phone_get found one: it was different */
		lv->st->updated++;
	else
		lv->st->added++;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct stale {
	uint32_t *ips; /* network order */
	size_t n, cap;
	const struct live *lv;
};

static int collect_stale(uint32_t priv, const struct nappt_phone *p, void *arg)
{
	struct stale *sl = arg;
	uint32_t h = ntohl(priv);

	if (bsearch(&h, sl->lv->ips, sl->lv->n, sizeof(h), cmp_u32))
		return 0;
	if (sl->n == sl->cap) {
		size_t cap = sl->cap ? sl->cap * 2 : 256;
		uint32_t *n = realloc(sl->ips, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		sl->ips = n;
		sl->cap = cap;
	}
	sl->ips[sl->n++] = priv;
	return 0;
}

struct store_src {
	struct lease_store *s;
	int64_t now;
};

static int store_each(void *src, lease_cb cb, void *arg)
{
	struct store_src *ss = src;

	return lease_store_foreach(ss->s, 1, ss->now, cb, arg);
}

int map_sync_reconcile(struct lease_store *s, struct nappt_maps *m, int64_t now,
		       struct sync_stats *st)
{
	struct store_src ss = { s, now };

	if (!s)
		return -EINVAL;
	return map_sync_reconcile_from(store_each, &ss, m, st);
}

int map_sync_reconcile_from(lease_source each, void *src, struct nappt_maps *m,
			    struct sync_stats *st)
{
	struct live lv = { .m = m, .st = st };
	struct stale sl = { .lv = &lv };
	size_t i;
	int r;

	if (!each || !m || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	/* Add and fix first, remove after: a phone moving between
	 * addresses is never without a mapping in between. */
	r = each(src, reconcile_lease, &lv);
	if (r)
		goto out;
	qsort(lv.ips, lv.n, sizeof(*lv.ips), cmp_u32);
	r = nappt_phone_foreach(m, collect_stale, &sl);
	if (r)
		goto out;
	for (i = 0; i < sl.n; i++) {
		r = nappt_phone_del(m, sl.ips[i]);
		if (r && r != -ENOENT) {
			st->failed++;
			continue;
		}
		st->removed++;
	}
	/* Slots no entry covers, before the retries they may block. */
	r = clear_orphans(m, &st->orphans);
	if (r)
		goto out;
	for (i = 0; i < lv.nretry; i++) {
		struct nappt_phone p;
		char a[INET_ADDRSTRLEN];

		map_sync_phone(&lv.retry[i], &p);
		r = add_phone(m, lv.retry[i].priv_ip, &p, &st->orphans);
		if (r) {
			st->failed++;
			logp(LOG_WARN_, "Failed to map lease of %s: %s",
			     inet_ntop(AF_INET, &lv.retry[i].priv_ip, a,
				       sizeof(a)),
			     strerror(-r));
			continue;
		}
		st->added++;
	}
	r = 0;
out:
	free(lv.ips);
	free(lv.retry);
	free(sl.ips);
	return r;
}
