/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * libnappt: user-space access to the pinned data-plane maps.
 *
 * Used by the loader (operators, tests) and by the provisioner.  All
 * functions return 0 or a negative errno.  Addresses are passed in network
 * byte order (struct in_addr s_addr), ports in host order.
 */
#ifndef LIBNAPPT_H
#define LIBNAPPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "nappt.h"

struct nappt_maps {
	int config_fd;
	int slots_fd;
	int stats_fd;
	int frags_fd;
	int tx_ports_fd;
	/* The pin directory, flock()ed by every writer (see below); -1 for
	 * maps that are not pinned (tests): one writer only. */
	int lock_fd;
	struct nappt_config cfg; /* read at open */
	/* max_entries of slots, stats as pinned (0: not checked, maps not
	 * opened by nappt_maps_open). */
	uint32_t slots_n, stats_n;
	/* `slots` mapped (BPF_F_MMAPABLE), slot_mem_n entries: every read
	 * and write of an entry is one aligned 8-byte load or store here
	 * (see struct nappt_slot).  NULL until nappt_maps_mmap. */
	struct nappt_slot *slot_mem;
	uint32_t slot_mem_n;
};

#define NAPPT_MAPS_INIT                                           \
	{                                                         \
		.config_fd = -1, .slots_fd = -1, .stats_fd = -1,  \
		.frags_fd = -1, .tx_ports_fd = -1, .lock_fd = -1, \
	}

/* Open the maps pinned below pin_dir (NULL: NAPPT_PIN_DIR) and read the
 * config.  -ENOENT: nothing attached; -EPERM/-EACCES: no privilege;
 * -EPROTO: pins of another layout (a `phones` pin: the layout before
 * issue 13; `slots` of another value size or not BPF_F_MMAPABLE), or a
 * config that does not describe the maps (nothing is read from them).
 * Everything a writer needs later (the lock, the mmap of `slots`) is
 * taken here, so a caller may drop its privileges after opening. */
int nappt_maps_open(struct nappt_maps *m, const char *pin_dir);
void nappt_maps_close(struct nappt_maps *m);

/*
 * Writers: the CLI, the provisioner's map writer and the loader all write
 * the same maps.  A check (is this slot free?) and the write that relies
 * on it must not interleave with another writer's, so every libnappt
 * write holds an exclusive flock() on the pin directory (bpffs holds no
 * regular files; a directory can be locked) for the whole check + write.
 * The lock is per open (m->lock_fd): processes that share one open
 * description (fork without closing) do not exclude each other.
 * nappt_maps_lock waits at most about 5 s (-ETIMEDOUT): a stopped writer
 * must not stall the provisioner forever.  Not recursive.
 */
int nappt_maps_lock(struct nappt_maps *m);
void nappt_maps_unlock(struct nappt_maps *m);

/* Re-read the config entry (after the loader changed it). */
int nappt_maps_reload_config(struct nappt_maps *m);

/* Map slots_fd (sized from m->cfg) into m->slot_mem.  nappt_maps_open
 * does it; a caller that filled the fds itself (tests' private maps)
 * calls it after.  Undone by nappt_maps_close. */
int nappt_maps_mmap(struct nappt_maps *m);

/* Index of a private address in the LAN pool, or -ERANGE if outside. */
int nappt_phone_index(const struct nappt_config *cfg, uint32_t priv_be);

/*
 * The private address (network order) of a phone leased ports from
 * first on pub_be: lan_net + the key of its first slot (struct
 * nappt_slot).  -ERANGE if pub_be is outside the public pool or the
 * derived address outside the LAN pool (a LAN pool smaller than
 * pub_count * slots_per_ip addresses serves the first public addresses
 * only), -EADDRINUSE if it is the gateway's own (cfg->lan_gw).
 */
int nappt_phone_addr(const struct nappt_config *cfg, uint32_t pub_be,
		     uint16_t first, uint32_t *priv_be);

/*
 * Check a mapping against the config: private address in the LAN pool,
 * not the gateway's (lan_gw), and the one derived from the range
 * (nappt_phone_addr; -EADDRNOTAVAIL if not),
 * public address in the public pool, range non-empty and slot-aligned,
 * not touching ports 0-1023, MAC a unicast station address (not group,
 * broadcast or zero).  -EINVAL/-ERANGE with no side effect.
 */
int nappt_phone_check(const struct nappt_config *cfg, uint32_t priv_be,
		      const struct nappt_phone *p);

/*
 * Install or replace the mapping of priv_be, under the writers' lock.
 * priv_be must be the derived address (nappt_phone_check).  A slot owned
 * by another phone fails with -EBUSY and changes nothing, and no other
 * libnappt writer can take a slot between that check and the write.
 *
 * Each entry is written by one aligned 8-byte store through the mmap, so
 * a BPF reader sees an entry old or new, never a mix.  The order keeps
 * every reader's view safe: a slot goes from one phone (or MAC) to
 * another only through free, so a change of range or MAC is a delete
 * (nappt_phone_del's order) then an add; an add writes the non-first
 * slots, then the first (the phone is leased once all its ports are).
 * Renewing with the same content writes nothing.  A writer killed
 * half-way leaves the phone not leased, and entries that the next add or
 * delete of that address frees.
 */
int nappt_phone_add(struct nappt_maps *m, uint32_t priv_be,
		    const struct nappt_phone *p);

/* Remove the mapping, under the writers' lock: the first slot (the lease)
 * first, then the others.  -ENOENT if none. */
int nappt_phone_del(struct nappt_maps *m, uint32_t priv_be);

/* Read one mapping (the first slot and the following slots of the same
 * phone, through the mmap).  -ENOENT if none. */
int nappt_phone_get(struct nappt_maps *m, uint32_t priv_be,
		    struct nappt_phone *out);

/* Call cb for every leased phone (first slots), in private-address
 * order; a non-zero
 * return from cb stops the walk and is returned. */
typedef int (*nappt_phone_cb)(uint32_t priv_be, const struct nappt_phone *p,
			      void *arg);
int nappt_phone_foreach(struct nappt_maps *m, nappt_phone_cb cb, void *arg);

/* Sum the per-CPU counters into out[NAPPT_STAT_MAX]. */
int nappt_stats_read(struct nappt_maps *m, struct nappt_counter *out);
/* Zero all counters. */
int nappt_stats_reset(struct nappt_maps *m);

/* "out_xlate", "drop_spoof_mac", ...; NULL for an unknown value. */
const char *nappt_stat_name(unsigned int stat);

/* "aa:bb:cc:dd:ee:ff" (or '-' separated) -> mac.  -EINVAL if malformed. */
int nappt_parse_mac(const char *s, uint8_t mac[6]);
/* "first-last" or "first:last" or a single port -> range. */
int nappt_parse_range(const char *s, uint16_t *first, uint16_t *last);

/*
 * Does the attached data plane (have: its pinned config) serve the pools
 * and slot size a configuration names (network order, slot_size in
 * ports)?  0 if so; else -EINVAL and, in buf, each difference naming both
 * values, e.g. "public_pool 203.0.113.0/28 but the data plane at
 * /sys/fs/bpf/nappt was attached with 203.0.113.0/27".  Leases are indices
 * into these pools, so a writer with other pools would write every
 * mapping to the wrong address: the provisioner and `nappt -c` refuse.
 */
int nappt_config_mismatch(const struct nappt_config *have, uint32_t lan_net_be,
			  uint32_t lan_size, uint32_t pub_net_be,
			  uint32_t pub_count, uint32_t slot_size,
			  const char *pin_dir, char *buf, size_t len);

#endif /* LIBNAPPT_H */
