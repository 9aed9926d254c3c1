/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The provisioner's working set: every MAC that holds a lease or an
 * outstanding offer, in memory, so that the packet path never asks SQLite
 * where a phone stands.  The lease store stays the durable truth; this
 * table is loaded from it at start and changed only alongside it.
 *
 * Offers are reservations: the range offered to a phone is taken in the
 * allocator until the phone REQUESTs it or the hold time passes.  The
 * number of outstanding offers is capped, oldest evicted first, so a
 * flood of DISCOVERs from random MACs can hold at most that many ranges
 * and only for the hold time; it can never exhaust the pool.
 *
 * Entries are 48 bytes, kept in one array and indexed by a chained hash
 * on the MAC; indexes are stable while an entry lives.  Bound leases are
 * also in a binary min-heap on their expiry, so expiring them costs
 * O(log n) per lease and nothing per second: the store needs no index on
 * the expiry (which every renewal would rewrite).
 */
#ifndef NAPPT_LEASE_TABLE_H
#define NAPPT_LEASE_TABLE_H

#include <stdint.h>

enum lt_state {
	LT_FREE = 0,
	LT_OFFERED, /* range reserved until `until` */
	LT_BOUND, /* lease stored; expires at `until` */
};

/* What this process already did for the entry's current range. */
#define LT_RENDERED 0x01 /* config file + tftpd gate entry written */
#define LT_MAPPED 0x02 /* mapping written into the data plane */
#define LT_DURABLE 0x04 /* its lease is on disk (loaded, or ACKed) */
#define LT_EXACT 0x08 /* its MAC is listed exactly (pool-grab share) */

struct lt_entry {
	uint8_t mac[6];
	uint8_t state; /* enum lt_state */
	uint8_t flags;
	uint32_t priv_ip; /* network order, as in struct lease */
	uint32_t pub_ip; /* network order */
	uint16_t port_first;
	uint16_t port_last;
	uint16_t model; /* index into the policy's models */
	uint16_t live; /* 1 from lt_add to lt_del, whatever the state */
	uint32_t next; /* hash chain, or free list: index + 1, 0 = end */
	uint32_t hpos; /* position in the expiry heap + 1, 0 = not in it */
	int64_t until;
	uint32_t oprev, onext; /* offer list, oldest first: index + 1 */
};

struct lease_table {
	struct lt_entry *e;
	uint32_t cap, used; /* slots in e[]; live entries */
	uint32_t *bucket; /* head index + 1 */
	uint32_t nbucket; /* power of two */
	uint32_t free_head; /* index + 1 */
	uint32_t noffered;
	uint32_t ohead, otail; /* offer list: index + 1 */
	uint32_t *heap; /* bound entries (index + 1), soonest expiry first */
	uint32_t nheap, heapcap;
};

int lt_init(struct lease_table *t, uint32_t hint);
void lt_free(struct lease_table *t);

struct lt_entry *lt_get(const struct lease_table *t, const uint8_t mac[6]);
/* The MAC's entry, created (state LT_FREE, zeroed) if absent; NULL when
 * memory runs out. */
struct lt_entry *lt_add(struct lease_table *t, const uint8_t mac[6]);
void lt_del(struct lease_table *t, struct lt_entry *e);

/* State changes that keep the offer list and the expiry heap in step.
 * lt_bind also moves a bound entry's expiry (renewal, rollback); it
 * fails (-ENOMEM) only if the heap cannot grow, leaving e as it was. */
void lt_offer(struct lease_table *t, struct lt_entry *e, int64_t until);
int lt_bind(struct lease_table *t, struct lt_entry *e, int64_t until);

/* The oldest outstanding offer, or NULL. */
struct lt_entry *lt_oldest_offer(const struct lease_table *t);
/* The bound entry that expires first, or NULL. */
struct lt_entry *lt_soonest_bound(const struct lease_table *t);

/* Entry i (0 .. cap-1) if it is live, for walks over the table. */
static inline struct lt_entry *lt_at(const struct lease_table *t, uint32_t i)
{
	return i < t->cap && t->e[i].state != LT_FREE ? &t->e[i] : 0;
}

#endif /* NAPPT_LEASE_TABLE_H */
