// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The one way libnappt changes an entry of `slots`: one aligned 8-byte
 * store into the mmap of the map.  A BPF program on another CPU loads the
 * entry as one 8-byte word, so it sees the old entry or the new one,
 * never a mix (struct nappt_slot).  A translation unit of its own so that
 * tests/test_libnappt.c can see every store (-Wl,--wrap): the order of
 * the stores is what keeps a reader safe, and the test checks it.
 */
#include "slot-store.h"

void nappt__slot_store(struct nappt_slot *e, uint64_t v)
{
	__atomic_store_n((uint64_t *)(void *)e, v, __ATOMIC_RELEASE);
}
