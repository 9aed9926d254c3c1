/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/* libnappt internal: see slot-store.c.  Not for callers of libnappt: a
 * store outside the writers' lock and order breaks the readers' view. */
#ifndef NAPPT_SLOT_STORE_H
#define NAPPT_SLOT_STORE_H

#include <stdint.h>

#include "nappt.h"

void nappt__slot_store(struct nappt_slot *e, uint64_t v);

#endif /* NAPPT_SLOT_STORE_H */
