/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * For tests: the data-plane object loaded with private, unpinned maps
 * sized from cfg (a live gateway's pinned maps are never touched), cfg
 * written, and a struct nappt_maps over them for libnappt.
 */
#ifndef NAPPT_TEST_PRIVATE_MAPS_H
#define NAPPT_TEST_PRIVATE_MAPS_H

#include <errno.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libnappt.h"
#include "nappt.skel.h"

static inline int private_maps(struct nappt_bpf **skel, struct nappt_maps *m,
			       const struct nappt_config *cfg)
{
	struct bpf_map *map;
	__u32 zero = 0;
	int r;

	*skel = nappt_bpf__open();
	if (!*skel)
		return -errno;
	bpf_object__for_each_map(map, (*skel)->obj)
		bpf_map__set_pin_path(map, NULL);
	bpf_map__set_max_entries((*skel)->maps.phones, cfg->lan_size);
	bpf_map__set_max_entries((*skel)->maps.slots,
				 cfg->pub_count * cfg->slots_per_ip);
	r = nappt_bpf__load(*skel);
	if (r)
		return r;
	*m = (struct nappt_maps)NAPPT_MAPS_INIT;
	m->config_fd = bpf_map__fd((*skel)->maps.config);
	m->phones_fd = bpf_map__fd((*skel)->maps.phones);
	m->slots_fd = bpf_map__fd((*skel)->maps.slots);
	m->stats_fd = bpf_map__fd((*skel)->maps.stats);
	m->frags_fd = bpf_map__fd((*skel)->maps.frags);
	m->tx_ports_fd = bpf_map__fd((*skel)->maps.tx_ports);
	m->cfg = *cfg;
	return bpf_map_update_elem(m->config_fd, &zero, cfg, BPF_ANY) ? -errno :
									0;
}

#endif /* NAPPT_TEST_PRIVATE_MAPS_H */
