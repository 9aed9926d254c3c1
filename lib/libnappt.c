// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libnappt: user-space side of the pinned data-plane maps.
 *
 * Writers keep one rule so that the data plane never sees a half-written
 * mapping: on add, the phone entry is written before the slots that point
 * at it; on delete, the slots are cleared before the phone entry.  The
 * data plane re-checks the phone entry on every inbound lookup anyway.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libnappt.h"

static const char *const stat_names[NAPPT_STAT_MAX] = {
	[NAPPT_STAT_OUT_XLATE] = "out_xlate",
	[NAPPT_STAT_IN_XLATE] = "in_xlate",
	[NAPPT_STAT_HAIRPIN] = "hairpin",
	[NAPPT_STAT_ICMP_OUT] = "icmp_out",
	[NAPPT_STAT_ICMP_IN] = "icmp_in",
	[NAPPT_STAT_FRAG_IN] = "frag_in",
	[NAPPT_STAT_PASS_NON_IP] = "pass_non_ip",
	[NAPPT_STAT_PASS_VLAN] = "pass_vlan",
	[NAPPT_STAT_PASS_LOCAL] = "pass_local",
	[NAPPT_STAT_PASS_NOT_OURS] = "pass_not_ours",
	[NAPPT_STAT_PASS_TTL] = "pass_ttl",
	[NAPPT_STAT_PASS_FIB] = "pass_fib",
	[NAPPT_STAT_PASS_NO_MAPPING] = "pass_no_mapping",
	[NAPPT_STAT_DROP_NO_MAPPING] = "drop_no_mapping",
	[NAPPT_STAT_DROP_NO_LEASE] = "drop_no_lease",
	[NAPPT_STAT_DROP_SPOOF_MAC] = "drop_spoof_mac",
	[NAPPT_STAT_DROP_PORT_RANGE] = "drop_port_range",
	[NAPPT_STAT_DROP_PROTO] = "drop_proto",
	[NAPPT_STAT_DROP_MALFORMED] = "drop_malformed",
	[NAPPT_STAT_FRAG_MISS] = "frag_miss",
	[NAPPT_STAT_REDIRECT] = "redirect",
	[NAPPT_STAT_XLATE_PASS] = "xlate_pass",
	[NAPPT_STAT_DROP_SRC_PUBLIC] = "drop_src_public",
	[NAPPT_STAT_DROP_SRC_FOREIGN] = "drop_src_foreign",
	[NAPPT_STAT_DROP_SRC_BOGON] = "drop_src_bogon",
	[NAPPT_STAT_DROP_TO_PRIVATE] = "drop_to_private",
	[NAPPT_STAT_DROP_ARP_SPOOF] = "drop_arp_spoof",
	[NAPPT_STAT_DROP_SLOT] = "drop_slot",
	[NAPPT_STAT_DROP_FRAG_STALE] = "drop_frag_stale",
	[NAPPT_STAT_ICMP_TIME_EXCEEDED] = "icmp_time_exceeded",
	[NAPPT_STAT_ICMP_FRAG_NEEDED] = "icmp_frag_needed",
	[NAPPT_STAT_ICMP_UNREACH] = "icmp_unreach",
	[NAPPT_STAT_DROP_ICMP_LIMIT] = "drop_icmp_limit",
	[NAPPT_STAT_DROP_NO_ROUTE] = "drop_no_route",
	[NAPPT_STAT_DROP_SRC_ROUTE] = "drop_src_route",
	[NAPPT_STAT_DROP_TX_PORT] = "drop_tx_port",
};

const char *nappt_stat_name(unsigned int stat)
{
	return stat < NAPPT_STAT_MAX ? stat_names[stat] : NULL;
}

static int open_pinned(const char *dir, const char *name, int *fd)
{
	char path[256];
	int r;

	r = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (r < 0 || (size_t)r >= sizeof(path))
		return -ENAMETOOLONG;
	*fd = bpf_obj_get(path);
	if (*fd < 0)
		return -errno;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void nappt_maps_close(struct nappt_maps *m)
{
	if (!m)
		return;
	close_fd(&m->config_fd);
	close_fd(&m->phones_fd);
	close_fd(&m->slots_fd);
	close_fd(&m->stats_fd);
	close_fd(&m->frags_fd);
	close_fd(&m->tx_ports_fd);
}

int nappt_maps_reload_config(struct nappt_maps *m)
{
	__u32 zero = 0;

	if (!m || m->config_fd < 0)
		return -EINVAL;
	if (bpf_map_lookup_elem(m->config_fd, &zero, &m->cfg))
		return -errno;
	return 0;
}

int nappt_maps_open(struct nappt_maps *m, const char *pin_dir)
{
	struct {
		const char *name;
		int *fd;
	} tab[] = {
		{ "config", &m->config_fd }, { "phones", &m->phones_fd },
		{ "slots", &m->slots_fd },   { "stats", &m->stats_fd },
		{ "frags", &m->frags_fd },   { "tx_ports", &m->tx_ports_fd },
	};
	size_t i;
	int r;

	if (!m)
		return -EINVAL;
	if (!pin_dir)
		pin_dir = NAPPT_PIN_DIR;
	*m = (struct nappt_maps)NAPPT_MAPS_INIT;
	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		r = open_pinned(pin_dir, tab[i].name, tab[i].fd);
		if (r < 0)
			goto fail;
	}
	r = nappt_maps_reload_config(m);
	if (r < 0)
		goto fail;
	return 0;
fail:
	nappt_maps_close(m);
	return r;
}

int nappt_phone_index(const struct nappt_config *cfg, uint32_t priv_be)
{
	uint32_t idx = ntohl(priv_be) - ntohl(cfg->lan_net);

	if (idx >= cfg->lan_size)
		return -ERANGE;
	return (int)idx;
}

int nappt_phone_check(const struct nappt_config *cfg, uint32_t priv_be,
		      const struct nappt_phone *p)
{
	uint32_t slot = 1U << cfg->slot_shift;
	uint32_t pidx;

	if (!cfg || !p)
		return -EINVAL;
	if (nappt_phone_index(cfg, priv_be) < 0)
		return -ERANGE;
	pidx = ntohl(p->pub_ip) - ntohl(cfg->pub_net);
	if (pidx >= cfg->pub_count)
		return -ERANGE;
	if (p->port_first > p->port_last || p->port_first < 1024)
		return -EINVAL;
	/* Whole slots only: the inbound index maps slots, not ports. */
	if (p->port_first % slot || ((uint32_t)p->port_last + 1) % slot)
		return -EINVAL;
	return 0;
}

static uint32_t slot_key(const struct nappt_config *cfg, uint32_t pub_be,
			 uint32_t port)
{
	return (ntohl(pub_be) - ntohl(cfg->pub_net)) * cfg->slots_per_ip +
	       (port >> cfg->slot_shift);
}

static int set_slots(struct nappt_maps *m, const struct nappt_phone *p,
		     nappt_slot_t val)
{
	uint32_t step = 1U << m->cfg.slot_shift;
	uint32_t port, key;

	for (port = p->port_first; port <= p->port_last; port += step) {
		key = slot_key(&m->cfg, p->pub_ip, port);
		if (bpf_map_update_elem(m->slots_fd, &key, &val, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Does p cover the slot that begins at port on pub? */
static int covers(const struct nappt_phone *p, uint32_t pub_be, uint32_t port)
{
	return (p->flags & NAPPT_PHONE_VALID) && p->pub_ip == pub_be &&
	       port >= p->port_first && port <= p->port_last;
}

int nappt_phone_add(struct nappt_maps *m, uint32_t priv_be,
		    const struct nappt_phone *p)
{
	uint32_t step, port, key, idx;
	struct nappt_phone old, nw;
	nappt_slot_t cur;
	int r;

	if (!m || !p)
		return -EINVAL;
	r = nappt_phone_check(&m->cfg, priv_be, p);
	if (r < 0)
		return r;
	idx = (uint32_t)nappt_phone_index(&m->cfg, priv_be);
	step = 1U << m->cfg.slot_shift;

	/* Refuse before writing anything if a slot belongs to another. */
	for (port = p->port_first; port <= p->port_last; port += step) {
		key = slot_key(&m->cfg, p->pub_ip, port);
		if (bpf_map_lookup_elem(m->slots_fd, &key, &cur))
			return -errno;
		if (cur && cur != idx + 1)
			return -EBUSY;
	}
	if (bpf_map_lookup_elem(m->phones_fd, &idx, &old))
		return -errno;

	nw = *p;
	nw.flags |= NAPPT_PHONE_VALID;
	if (bpf_map_update_elem(m->phones_fd, &idx, &nw, BPF_ANY))
		return -errno;
	r = set_slots(m, &nw, idx + 1);
	if (r < 0)
		return r;

	/* Free what the old range had and the new one does not. */
	if (old.flags & NAPPT_PHONE_VALID) {
		nappt_slot_t zero = 0;

		for (port = old.port_first; port <= old.port_last;
		     port += step) {
			if (covers(&nw, old.pub_ip, port))
				continue;
			key = slot_key(&m->cfg, old.pub_ip, port);
			if (bpf_map_lookup_elem(m->slots_fd, &key, &cur))
				return -errno;
			if (cur != idx + 1)
				continue;
			if (bpf_map_update_elem(m->slots_fd, &key, &zero,
						BPF_ANY))
				return -errno;
		}
	}
	return 0;
}

int nappt_phone_get(struct nappt_maps *m, uint32_t priv_be,
		    struct nappt_phone *out)
{
	int idx;

	if (!m || !out)
		return -EINVAL;
	idx = nappt_phone_index(&m->cfg, priv_be);
	if (idx < 0)
		return idx;
	if (bpf_map_lookup_elem(m->phones_fd, &idx, out))
		return -errno;
	if (!(out->flags & NAPPT_PHONE_VALID))
		return -ENOENT;
	return 0;
}

int nappt_phone_del(struct nappt_maps *m, uint32_t priv_be)
{
	struct nappt_phone old, empty = { 0 };
	uint32_t step, port, key, idx;
	nappt_slot_t cur, zero = 0;
	int r;

	r = nappt_phone_get(m, priv_be, &old);
	if (r < 0)
		return r;
	idx = (uint32_t)nappt_phone_index(&m->cfg, priv_be);
	step = 1U << m->cfg.slot_shift;
	for (port = old.port_first; port <= old.port_last; port += step) {
		key = slot_key(&m->cfg, old.pub_ip, port);
		if (bpf_map_lookup_elem(m->slots_fd, &key, &cur))
			return -errno;
		if (cur != idx + 1)
			continue;
		if (bpf_map_update_elem(m->slots_fd, &key, &zero, BPF_ANY))
			return -errno;
	}
	if (bpf_map_update_elem(m->phones_fd, &idx, &empty, BPF_ANY))
		return -errno;
	return 0;
}

#define BATCH 4096

static int visit(struct nappt_maps *m, const uint32_t *keys,
		 const struct nappt_phone *vals, uint32_t n, nappt_phone_cb cb,
		 void *arg)
{
	uint32_t i;
	int r;

	for (i = 0; i < n; i++) {
		if (!(vals[i].flags & NAPPT_PHONE_VALID))
			continue;
		r = cb(htonl(ntohl(m->cfg.lan_net) + keys[i]), &vals[i], arg);
		if (r)
			return r;
	}
	return 0;
}

int nappt_phone_foreach(struct nappt_maps *m, nappt_phone_cb cb, void *arg)
{
	struct nappt_phone *vals = NULL;
	uint32_t *keys = NULL;
	uint32_t in = 0, out = 0, n, i;
	int r = 0, done = 0, err;

	if (!m || !cb)
		return -EINVAL;
	keys = calloc(BATCH, sizeof(*keys));
	vals = calloc(BATCH, sizeof(*vals));
	if (!keys || !vals) {
		r = -ENOMEM;
		goto out;
	}
	/* Batches: one syscall per entry is seconds at 1M phones. */
	while (!done) {
		n = BATCH;
		r = bpf_map_lookup_batch(m->phones_fd, in ? &in : NULL, &out,
					 keys, vals, &n, NULL);
		err = r < 0 ? errno : 0;
		if (err == ENOENT) {
			done = 1;
		} else if (err == EINVAL || err == EOPNOTSUPP ||
			   err == 524 /* ENOTSUPP */) {
			/* No batch ops on this kernel: one at a time. */
			n = m->cfg.lan_size - in < BATCH ?
				    m->cfg.lan_size - in :
				    BATCH;
			for (i = 0; i < n; i++) {
				keys[i] = in + i;
				if (bpf_map_lookup_elem(m->phones_fd, &keys[i],
							&vals[i])) {
					r = -errno;
					goto out;
				}
			}
			out = in + n;
			done = out >= m->cfg.lan_size;
		} else if (err) {
			r = -err;
			goto out;
		}
		r = visit(m, keys, vals, n, cb, arg);
		if (r)
			goto out;
		in = out;
	}
out:
	free(keys);
	free(vals);
	return r;
}

/* A zeroed value buffer for the per-CPU stats map; returns the CPU count. */
static int percpu_alloc(struct nappt_counter **out)
{
	int ncpu = libbpf_num_possible_cpus();

	if (ncpu < 1)
		return ncpu < 0 ? ncpu : -EINVAL;
	*out = calloc(ncpu, sizeof(**out));
	return *out ? ncpu : -ENOMEM;
}

int nappt_stats_read(struct nappt_maps *m, struct nappt_counter *out)
{
	struct nappt_counter *percpu;
	int ncpu, cpu;
	__u32 k;

	if (!m || !out)
		return -EINVAL;
	ncpu = percpu_alloc(&percpu);
	if (ncpu < 0)
		return ncpu;
	for (k = 0; k < NAPPT_STAT_MAX; k++) {
		out[k].packets = out[k].bytes = 0;
		if (bpf_map_lookup_elem(m->stats_fd, &k, percpu)) {
			int r = -errno;

			free(percpu);
			return r;
		}
		for (cpu = 0; cpu < ncpu; cpu++) {
			out[k].packets += percpu[cpu].packets;
			out[k].bytes += percpu[cpu].bytes;
		}
	}
	free(percpu);
	return 0;
}

int nappt_stats_reset(struct nappt_maps *m)
{
	struct nappt_counter *percpu;
	int ncpu, r = 0;
	__u32 k;

	if (!m)
		return -EINVAL;
	ncpu = percpu_alloc(&percpu);
	if (ncpu < 0)
		return ncpu;
	for (k = 0; k < NAPPT_STAT_MAX; k++)
		if (bpf_map_update_elem(m->stats_fd, &k, percpu, BPF_ANY)) {
			r = -errno;
			break;
		}
	free(percpu);
	return r;
}

int nappt_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char sep[5], tail;
	int i;

	if (!s || !mac)
		return -EINVAL;
	if (sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x%c", &b[0], &sep[0], &b[1],
		   &sep[1], &b[2], &sep[2], &b[3], &sep[3], &b[4], &sep[4],
		   &b[5], &tail) != 11)
		return -EINVAL;
	if (strlen(s) != 17)
		return -EINVAL;
	for (i = 0; i < 5; i++)
		if (sep[i] != sep[0] || (sep[i] != ':' && sep[i] != '-'))
			return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int parse_port(const char *s, char **end, uint16_t *out)
{
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno || v > 65535)
		return -ERANGE;
	*out = (uint16_t)v;
	return 0;
}

int nappt_parse_range(const char *s, uint16_t *first, uint16_t *last)
{
	char *end;
	int r;

	if (!s || !first || !last)
		return -EINVAL;
	r = parse_port(s, &end, first);
	if (r < 0)
		return r;
	if (*end == '\0') {
		*last = *first;
		return 0;
	}
	if (*end != '-' && *end != ':')
		return -EINVAL;
	r = parse_port(end + 1, &end, last);
	if (r < 0)
		return r;
	if (*end != '\0' || *last < *first)
		return -EINVAL;
	return 0;
}
