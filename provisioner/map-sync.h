/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Keeping the data plane's pinned maps equal to the lease store.
 *
 * The store is the truth; the maps are derived.  On start the provisioner
 * reconciles: mappings missing or different are written, mappings with no
 * live lease are removed, and a live mapping that is already right is not
 * touched at all (so established phones lose no packet across a restart:
 * invariant 4).  A phone is the slots of its range (struct nappt_slot),
 * its private address derived from them (issue 13): "right" means every
 * slot of the range names it with its MAC, and slots that belong to no
 * phone as libnappt reads it (orphans: a writer killed half-way) are
 * cleared, so that they cannot refuse the slot's next owner.  Functions
 * return 0 or a negative errno.
 */
#ifndef NAPPT_MAP_SYNC_H
#define NAPPT_MAP_SYNC_H

#include "libnappt.h"
#include "lease-store.h"

struct sync_stats {
	unsigned int kept; /* already right, untouched */
	unsigned int added; /* missing from the maps */
	unsigned int updated; /* present but different */
	unsigned int removed; /* in the maps without a live lease */
	unsigned int failed; /* refused by the map library (logged) */
	unsigned int orphans; /* slots in no phone's run, cleared */
	unsigned int underived; /* leases not at their derived address:
				 * not mapped (a store of an older version) */
};

/* The data-plane entry of a lease. */
void map_sync_phone(const struct lease *l, struct nappt_phone *p);

/* Write one lease's mapping (after its ACK is durable). */
int map_sync_add(struct nappt_maps *m, const struct lease *l);
/* 1 if the maps hold the lease's mapping as it is (every slot), 0 if
 * not.  map_sync_add clears orphan slots in the lease's way. */
int map_sync_holds(struct nappt_maps *m, const struct lease *l);
/* Remove it (RELEASE, expiry).  A mapping already gone is not an error. */
int map_sync_del(struct nappt_maps *m, const struct lease *l);

int map_sync_reconcile(struct lease_store *s, struct nappt_maps *m, int64_t now,
		       struct sync_stats *st);

/* The same from any source of live leases: each(src, cb, arg) calls cb
 * for each (the map writer reconciles from a list it was sent). */
typedef int (*lease_source)(void *src, lease_cb cb, void *arg);
int map_sync_reconcile_from(lease_source each, void *src, struct nappt_maps *m,
			    struct sync_stats *st);

#endif /* NAPPT_MAP_SYNC_H */
