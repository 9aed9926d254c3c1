// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lease-table.h"
#include "policy.h"

static uint32_t hash_mac(const uint8_t mac[6])
{
	uint32_t h = mac_hash(mac);

	return h ^ (h >> 15); /* the low bits pick the bucket */
}

int lt_init(struct lease_table *t, uint32_t hint)
{
	memset(t, 0, sizeof(*t));
	t->nbucket = 1024;
	while (t->nbucket < hint && t->nbucket < (1U << 30))
		t->nbucket <<= 1;
	t->bucket = calloc(t->nbucket, sizeof(*t->bucket));
	return t->bucket ? 0 : -ENOMEM;
}

void lt_free(struct lease_table *t)
{
	free(t->e);
	free(t->bucket);
	free(t->heap);
	memset(t, 0, sizeof(*t));
}

struct lt_entry *lt_get(const struct lease_table *t, const uint8_t mac[6])
{
	uint32_t i = t->bucket[hash_mac(mac) & (t->nbucket - 1)];

	while (i) {
		struct lt_entry *e = &t->e[i - 1];

		if (!memcmp(e->mac, mac, 6))
			return e;
		i = e->next;
	}
	return NULL;
}

/* Twice the buckets once there are more entries than buckets: chains stay
 * short (load <= 1). */
static int grow_buckets(struct lease_table *t)
{
	uint32_t n = t->nbucket * 2, i, *b;

	if (n < t->nbucket)
		return -ENOMEM;
	b = calloc(n, sizeof(*b));
	if (!b)
		return -ENOMEM;
	for (i = 0; i < t->cap; i++) {
		struct lt_entry *e = &t->e[i];
		uint32_t h;

		if (!e->live)
			continue;
		h = hash_mac(e->mac) & (n - 1);
		e->next = b[h];
		b[h] = i + 1;
	}
	free(t->bucket);
	t->bucket = b;
	t->nbucket = n;
	return 0;
}

struct lt_entry *lt_add(struct lease_table *t, const uint8_t mac[6])
{
	struct lt_entry *e = lt_get(t, mac);
	uint32_t i, h;

	if (e)
		return e;
	if (t->used >= t->nbucket && grow_buckets(t))
		return NULL;
	if (!t->free_head) {
		uint32_t cap = t->cap ? t->cap * 2 : 1024;
		struct lt_entry *n;

		if (cap < t->cap)
			return NULL;
		n = realloc(t->e, (size_t)cap * sizeof(*n));
		if (!n)
			return NULL;
		memset(n + t->cap, 0, (size_t)(cap - t->cap) * sizeof(*n));
		/* Free list in index order: the array fills from the front. */
		for (i = cap; i > t->cap; i--) {
			n[i - 1].next = t->free_head;
			t->free_head = i;
		}
		t->e = n;
		t->cap = cap;
	}
	i = t->free_head - 1;
	e = &t->e[i];
	t->free_head = e->next;
	memset(e, 0, sizeof(*e));
	memcpy(e->mac, mac, 6);
	e->state = LT_FREE;
	e->live = 1;
	h = hash_mac(mac) & (t->nbucket - 1);
	e->next = t->bucket[h];
	t->bucket[h] = i + 1;
	t->used++;
	return e;
}

static uint32_t idx1(const struct lease_table *t, const struct lt_entry *e)
{
	return (uint32_t)(e - t->e) + 1;
}

static void offer_unlink(struct lease_table *t, struct lt_entry *e)
{
	if (e->state != LT_OFFERED)
		return;
	if (e->oprev)
		t->e[e->oprev - 1].onext = e->onext;
	else
		t->ohead = e->onext;
	if (e->onext)
		t->e[e->onext - 1].oprev = e->oprev;
	else
		t->otail = e->oprev;
	e->oprev = e->onext = 0;
	t->noffered--;
}

/* --- the expiry heap of bound entries --------------------------------- */

static int64_t hkey(const struct lease_table *t, uint32_t h)
{
	return t->e[t->heap[h] - 1].until;
}

static void hset(struct lease_table *t, uint32_t h, uint32_t i1)
{
	t->heap[h] = i1;
	t->e[i1 - 1].hpos = h + 1;
}

static void sift_up(struct lease_table *t, uint32_t h)
{
	uint32_t i1 = t->heap[h];
	int64_t k = t->e[i1 - 1].until;

	while (h && hkey(t, (h - 1) / 2) > k) {
		hset(t, h, t->heap[(h - 1) / 2]);
		h = (h - 1) / 2;
	}
	hset(t, h, i1);
}

static void sift_down(struct lease_table *t, uint32_t h)
{
	uint32_t i1 = t->heap[h];
	int64_t k = t->e[i1 - 1].until;

	for (;;) {
		uint32_t c = 2 * h + 1;

		if (c >= t->nheap)
			break;
		if (c + 1 < t->nheap && hkey(t, c + 1) < hkey(t, c))
			c++;
		if (hkey(t, c) >= k)
			break;
		hset(t, h, t->heap[c]);
		h = c;
	}
	hset(t, h, i1);
}

static void heap_remove(struct lease_table *t, struct lt_entry *e)
{
	uint32_t h;

	if (!e->hpos)
		return;
	h = e->hpos - 1;
	e->hpos = 0;
	if (h == --t->nheap)
		return;
	hset(t, h, t->heap[t->nheap]);
	sift_down(t, h);
	sift_up(t, t->e[t->heap[h] - 1].hpos - 1);
}

static int heap_add(struct lease_table *t, struct lt_entry *e)
{
	if (t->nheap == t->heapcap) {
		uint32_t cap = t->heapcap ? t->heapcap * 2 : 1024, *n;

		if (cap < t->heapcap)
			return -ENOMEM;
		n = realloc(t->heap, (size_t)cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		t->heap = n;
		t->heapcap = cap;
	}
	t->heap[t->nheap] = idx1(t, e);
	e->hpos = ++t->nheap;
	sift_up(t, t->nheap - 1);
	return 0;
}

void lt_del(struct lease_table *t, struct lt_entry *e)
{
	uint32_t i = idx1(t, e), *p;

	offer_unlink(t, e);
	heap_remove(t, e);
	p = &t->bucket[hash_mac(e->mac) & (t->nbucket - 1)];
	while (*p && *p != i)
		p = &t->e[*p - 1].next;
	if (*p)
		*p = e->next;
	memset(e, 0, sizeof(*e));
	e->next = t->free_head;
	t->free_head = i;
	t->used--;
}

void lt_offer(struct lease_table *t, struct lt_entry *e, int64_t until)
{
	uint32_t i = idx1(t, e);

	/* A repeated DISCOVER renews the hold: to the young end. */
	offer_unlink(t, e);
	heap_remove(t, e);
	e->state = LT_OFFERED;
	e->until = until;
	e->oprev = t->otail;
	e->onext = 0;
	if (t->otail)
		t->e[t->otail - 1].onext = i;
	else
		t->ohead = i;
	t->otail = i;
	t->noffered++;
}

int lt_bind(struct lease_table *t, struct lt_entry *e, int64_t until)
{
	int64_t was = e->until;

	if (e->hpos) {
		/* A renewal: the entry moves in the heap. */
		e->until = until;
		if (until < was)
			sift_up(t, e->hpos - 1);
		else
			sift_down(t, e->hpos - 1);
		return 0;
	}
	e->until = until;
	if (heap_add(t, e)) {
		e->until = was;
		return -ENOMEM;
	}
	offer_unlink(t, e);
	e->state = LT_BOUND;
	return 0;
}

struct lt_entry *lt_soonest_bound(const struct lease_table *t)
{
	return t->nheap ? &t->e[t->heap[0] - 1] : NULL;
}

struct lt_entry *lt_oldest_offer(const struct lease_table *t)
{
	return t->ohead ? &t->e[t->ohead - 1] : NULL;
}
