/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * For tests: maps of the data plane's layout, private and unpinned, sized
 * from cfg (a live gateway's pinned maps are never touched), cfg written,
 * `slots` mapped, and a struct nappt_maps over them for libnappt.
 *
 * private_maps() loads the data-plane object (its programs run on these
 * maps); private_maps_bare() makes the maps alone with the layout libnappt
 * expects (tests of libnappt that run no program: they need no BPF
 * object, define PRIVATE_MAPS_NO_SKEL before including this).
 */
#ifndef NAPPT_TEST_PRIVATE_MAPS_H
#define NAPPT_TEST_PRIVATE_MAPS_H

#include <errno.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libnappt.h"

static inline int private_maps_config(struct nappt_maps *m,
				      const struct nappt_config *cfg)
{
	__u32 zero = 0;

	m->cfg = *cfg;
	if (bpf_map_update_elem(m->config_fd, &zero, cfg, BPF_ANY))
		return -errno;
	return nappt_maps_mmap(m);
}

/* Undone by nappt_maps_close(m) (the maps are m's). */
static inline int private_maps_bare(struct nappt_maps *m,
				    const struct nappt_config *cfg)
{
	LIBBPF_OPTS(bpf_map_create_opts, mm, .map_flags = BPF_F_MMAPABLE);
	LIBBPF_OPTS(bpf_map_create_opts, o);

	*m = (struct nappt_maps)NAPPT_MAPS_INIT;
	m->config_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "config", 4,
				      sizeof(struct nappt_config), 1, &o);
	m->slots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "slots", 4,
				     sizeof(struct nappt_slot),
				     nappt_slot_count(cfg), &mm);
	m->stats_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "stats", 4,
				     sizeof(struct nappt_counter),
				     NAPPT_STAT_MAX, &o);
	m->frags_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "frags",
				     sizeof(struct nappt_frag_key),
				     sizeof(struct nappt_frag_val), 1024, &o);
	m->tx_ports_fd = bpf_map_create(BPF_MAP_TYPE_DEVMAP_HASH, "tx_ports", 4,
					4, 64, &o);
	if (m->config_fd < 0 || m->slots_fd < 0 || m->stats_fd < 0 ||
	    m->frags_fd < 0 || m->tx_ports_fd < 0) {
		int r = -errno;

		nappt_maps_close(m);
		return r;
	}
	return private_maps_config(m, cfg);
}

#ifndef PRIVATE_MAPS_NO_SKEL
#include "nappt.skel.h"

static inline int private_maps(struct nappt_bpf **skel, struct nappt_maps *m,
			       const struct nappt_config *cfg)
{
	struct bpf_map *map;
	int r;

	*skel = nappt_bpf__open();
	if (!*skel)
		return -errno;
	bpf_object__for_each_map(map, (*skel)->obj)
		bpf_map__set_pin_path(map, NULL);
	bpf_map__set_max_entries((*skel)->maps.slots, nappt_slot_count(cfg));
	r = nappt_bpf__load(*skel);
	if (r)
		return r;
	*m = (struct nappt_maps)NAPPT_MAPS_INIT;
	m->config_fd = bpf_map__fd((*skel)->maps.config);
	m->slots_fd = bpf_map__fd((*skel)->maps.slots);
	m->stats_fd = bpf_map__fd((*skel)->maps.stats);
	m->frags_fd = bpf_map__fd((*skel)->maps.frags);
	m->tx_ports_fd = bpf_map__fd((*skel)->maps.tx_ports);
	return private_maps_config(m, cfg);
}
#endif /* PRIVATE_MAPS_NO_SKEL */

#endif /* NAPPT_TEST_PRIVATE_MAPS_H */
