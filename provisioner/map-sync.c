// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

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
		     const struct nappt_phone *p);

int map_sync_add(struct nappt_maps *m, const struct lease *l)
{
	struct nappt_phone p;

	map_sync_phone(l, &p);
	return add_phone(m, l->priv_ip, &p);
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

/* The slot key of the slot that begins at port on pub (libnappt's). */
static uint32_t slot_key(const struct nappt_maps *m, uint32_t pub_be,
			 uint32_t port)
{
	return (ntohl(pub_be) - ntohl(m->cfg.pub_net)) * m->cfg.slots_per_ip +
	       (port >> m->cfg.slot_shift);
}

/*
 * Every slot of the entry's range points back at it.  libnappt writes the
 * entry before its slots, so a writer killed half-way through an add
 * leaves an entry that looks right and slots that are missing: inbound
 * traffic to them is lost until someone checks the slots, not the entry.
 */
static int slots_hold(struct nappt_maps *m, uint32_t priv_be,
		      const struct nappt_phone *p)
{
	uint32_t step = 1U << m->cfg.slot_shift, port, key;
	int idx = nappt_phone_index(&m->cfg, priv_be);
	struct nappt_slot cur;

	if (idx < 0 || nappt_phone_check(&m->cfg, priv_be, p))
		return 0;
	/* Index and MAC: inbound delivers by the slot alone. */
	for (port = p->port_first; port <= p->port_last; port += step) {
		key = slot_key(m, p->pub_ip, port);
		if (bpf_map_lookup_elem(m->slots_fd, &key, &cur) ||
		    cur.phone != (uint32_t)idx + 1 ||
		    memcmp(cur.mac, p->mac, sizeof(cur.mac)))
			return 0;
	}
	return 1;
}

int map_sync_holds(struct nappt_maps *m, const struct lease *l)
{
	struct nappt_phone want, cur;

	map_sync_phone(l, &want);
	return !nappt_phone_get(m, l->priv_ip, &cur) && same(&cur, &want) &&
	       slots_hold(m, l->priv_ip, &want);
}

/*
 * Is the slot at key (pub, port) an orphan: its value names a phone entry
 * that is empty or does not cover it?  A writer killed between moving a
 * phone and freeing its old slots, or one of an older layout, leaves
 * them; left alone they refuse the slot's next owner with -EBUSY forever.
 * A slot its owner covers is never an orphan, so clearing orphans cannot
 * take a live phone's slot.
 */
static int slot_orphan(struct nappt_maps *m, uint32_t pub_be, uint32_t port,
		       const struct nappt_slot *v)
{
	struct nappt_phone owner;
	uint32_t idx = v->phone - 1;

	if (!v->phone)
		return 0;
	if (idx >= m->cfg.lan_size ||
	    bpf_map_lookup_elem(m->phones_fd, &idx, &owner))
		return 1;
	/* A slot with another MAC than its owner's would deliver inbound
	 * to that MAC: an orphan too. */
	return !(owner.flags & NAPPT_PHONE_VALID) || owner.pub_ip != pub_be ||
	       port < owner.port_first || port > owner.port_last ||
	       memcmp(owner.mac, v->mac, sizeof(owner.mac));
}

/* Clear the orphans in the range l wants; how many, or -errno. */
static int clear_orphans_in(struct nappt_maps *m, const struct nappt_phone *p)
{
	uint32_t step = 1U << m->cfg.slot_shift, port, key;
	struct nappt_slot cur, zero = { 0 };
	int n = 0;

	for (port = p->port_first; port <= p->port_last; port += step) {
		key = slot_key(m, p->pub_ip, port);
		if (bpf_map_lookup_elem(m->slots_fd, &key, &cur))
			return -errno;
		if (!slot_orphan(m, p->pub_ip, port, &cur))
			continue;
		if (bpf_map_update_elem(m->slots_fd, &key, &zero, BPF_ANY))
			return -errno;
		n++;
	}
	return n;
}

/* nappt_phone_add, and once more after clearing orphans in its way. */
static int add_phone(struct nappt_maps *m, uint32_t priv_be,
		     const struct nappt_phone *p)
{
	int r = nappt_phone_add(m, priv_be, p);

	if (r != -EBUSY)
		return r;
	r = clear_orphans_in(m, p);
	if (r <= 0)
		return r < 0 ? r : -EBUSY;
	return nappt_phone_add(m, priv_be, p);
}

/* Walk every slot; clear the orphans.  Batches: 1M slots at start. */
static int clear_orphans(struct nappt_maps *m, unsigned int *cleared)
{
	uint32_t n_slots = m->cfg.pub_count * m->cfg.slots_per_ip;
	uint32_t batch = 4096, key, i, n;
	struct nappt_slot *vals = calloc(batch, sizeof(*vals));
	struct nappt_slot zero = { 0 };
	int r = 0;

	if (!vals)
		return -ENOMEM;
	for (key = 0; key < n_slots; key += n) {
		n = n_slots - key < batch ? n_slots - key : batch;
		for (i = 0; i < n; i++) {
			uint32_t k = key + i;

			if (bpf_map_lookup_elem(m->slots_fd, &k, &vals[i])) {
				r = -errno;
				goto out;
			}
		}
		for (i = 0; i < n; i++) {
			uint32_t k = key + i;
			uint32_t pub = htonl(ntohl(m->cfg.pub_net) +
					     k / m->cfg.slots_per_ip);
			uint32_t port = (k % m->cfg.slots_per_ip)
					<< m->cfg.slot_shift;

			if (!slot_orphan(m, pub, port, &vals[i]))
				continue;
			if (bpf_map_update_elem(m->slots_fd, &k, &zero,
						BPF_ANY)) {
				r = -errno;
				goto out;
			}
			(*cleared)++;
		}
	}
out:
	free(vals);
	return r;
}

static int reconcile_lease(const struct lease *l, void *arg)
{
	struct live *lv = arg;
	struct nappt_phone want, cur;
	char a[INET_ADDRSTRLEN];
	int r;

	if (lv->n == lv->cap) {
		size_t cap = lv->cap ? lv->cap * 2 : 1024;
		uint32_t *n = realloc(lv->ips, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		lv->ips = n;
		lv->cap = cap;
	}
	lv->ips[lv->n++] = ntohl(l->priv_ip);

	map_sync_phone(l, &want);
	r = nappt_phone_get(lv->m, l->priv_ip, &cur);
	if (r == 0 && same(&cur, &want) &&
	    slots_hold(lv->m, l->priv_ip, &want)) {
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
	r = add_phone(lv->m, l->priv_ip, &want);
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
	if (cur.flags & NAPPT_PHONE_VALID)
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
		r = add_phone(m, lv.retry[i].priv_ip, &p);
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
