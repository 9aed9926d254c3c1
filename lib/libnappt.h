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
	int phones_fd;
	int slots_fd;
	int stats_fd;
	int frags_fd;
	int tx_ports_fd;
	struct nappt_config cfg; /* read at open */
};

#define NAPPT_MAPS_INIT                                            \
	{                                                          \
		.config_fd = -1, .phones_fd = -1, .slots_fd = -1,  \
		.stats_fd = -1, .frags_fd = -1, .tx_ports_fd = -1, \
	}

/* Open the maps pinned below pin_dir (NULL: NAPPT_PIN_DIR) and read the
 * config.  -ENOENT: nothing attached; -EPERM/-EACCES: no privilege. */
int nappt_maps_open(struct nappt_maps *m, const char *pin_dir);
void nappt_maps_close(struct nappt_maps *m);

/* Re-read the config entry (after the loader changed it). */
int nappt_maps_reload_config(struct nappt_maps *m);

/* Index of a private address in `phones`, or -ERANGE if outside the pool. */
int nappt_phone_index(const struct nappt_config *cfg, uint32_t priv_be);

/*
 * Check a mapping against the config: private address in the LAN pool,
 * public address in the public pool, range non-empty and slot-aligned,
 * not touching ports 0-1023.  -EINVAL/-ERANGE with no side effect.
 */
int nappt_phone_check(const struct nappt_config *cfg, uint32_t priv_be,
		      const struct nappt_phone *p);

/*
 * Install or replace the mapping of priv_be.  The phone entry is written
 * before the inbound slots so that a slot never points at nothing; slots
 * of a replaced range that the new one does not cover are freed.  A slot
 * owned by another phone fails with -EBUSY and changes nothing.
 */
int nappt_phone_add(struct nappt_maps *m, uint32_t priv_be,
		    const struct nappt_phone *p);

/* Remove the mapping (slots first).  -ENOENT if there was none. */
int nappt_phone_del(struct nappt_maps *m, uint32_t priv_be);

/* Read one mapping.  -ENOENT if the slot is empty. */
int nappt_phone_get(struct nappt_maps *m, uint32_t priv_be,
		    struct nappt_phone *out);

/* Call cb for every valid mapping, in private-address order; a non-zero
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

#endif /* LIBNAPPT_H */
