/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * What the provisioner does once at start, before it serves, with one
 * value of the clock for all of it (so that no lease can expire between
 * two steps and keep its mapping):
 *
 *   1. leases expired at now leave the store;
 *   2. the phone directory keeps only the files of live leases: a config
 *      file or tftpd gate entry of a lease that ran out while the
 *      provisioner was down goes, so the next holder of that address
 *      cannot read the old phone's file; a gate entry naming another
 *      address than its lease goes too (rewritten from the store);
 *   3. the maps are reconciled with the live leases (map-sync.h).
 *
 * The same reconciliation runs again while serving (main.c), so a
 * mapping whose lease is gone, or whose removal failed, does not stay.
 */
#ifndef NAPPT_PROV_STARTUP_H
#define NAPPT_PROV_STARTUP_H

#include <stdint.h>

#include "conf.h"
#include "lease-store.h"
#include "libnappt.h"
#include "map-sync.h"

struct startup_stats {
	int expired; /* leases deleted from the store */
	unsigned int files_removed; /* config files and gate entries */
	struct sync_stats maps; /* step 3 (zero without maps) */
};

/* m may be NULL (--no-maps, or the writer reconciles later). */
int startup_clean(const struct prov_conf *c, struct lease_store *s,
		  struct nappt_maps *m, int64_t now, struct startup_stats *st);

/* Step 2 alone: remove from dir (and dir/.leases) every regular file
 * that is no live lease's at now.  The number removed, or -errno. */
int startup_prune_phone_dir(const char *dir, struct lease_store *s,
			    int64_t now);

#endif /* NAPPT_PROV_STARTUP_H */
