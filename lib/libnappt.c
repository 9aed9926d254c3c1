// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libnappt: user-space side of the pinned data-plane maps.
 *
 * Writers hold the pin directory's flock() across every check and the
 * write that relies on it, and change a phone entry only in steps a
 * concurrent BPF reader cannot see half-done (libnappt.h,
 * nappt_phone_add).  Inbound reads the slot entry alone (it holds the
 * phone's index and MAC), so a slot is set only while its phone's entry
 * is VALID: written after VALID is set, freed before it is cleared, and
 * always through a free (zero) entry, never from one phone to another.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/file.h>
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
	close_fd(&m->lock_fd);
	close_fd(&m->grace_fd);
	close_fd(&m->grace_inner_fd);
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

/*
 * The kernel waits for an RCU grace period after every update of a
 * map-in-map ("so that userspace, when we return to it, knows that all
 * non-sleepable programs that could be running use the new map value",
 * maybe_wait_bpf_programs() in kernel/bpf/syscall.c).  XDP and TC programs
 * are non-sleepable, so one such update is a grace period for them.  The
 * map is this process's own; no program uses it.
 */
static int grace_create(struct nappt_maps *m)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);
	int inner, outer;

	if (m->grace_fd >= 0)
		return 0;
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (inner < 0)
		return -errno;
	o.inner_map_fd = inner;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "nappt_grace", 4, 4,
			       1, &o);
	if (outer < 0) {
		int r = -errno;

		close(inner);
		return r;
	}
	m->grace_inner_fd = inner;
	m->grace_fd = outer;
	return 0;
}

int nappt_maps_grace(struct nappt_maps *m)
{
	__u32 zero = 0, val;
	int r;

	if (!m)
		return -EINVAL;
	r = grace_create(m);
	if (r < 0)
		return r;
	val = (__u32)m->grace_inner_fd;
	if (bpf_map_update_elem(m->grace_fd, &zero, &val, BPF_ANY))
		return -errno;
	return 0;
}

int nappt_maps_lock(struct nappt_maps *m)
{
	struct timespec ts = { 0, 100 * 1000 };
	long waited_ns = 0;

	if (!m)
		return -EINVAL;
	if (m->lock_fd < 0)
		return 0;
	/* Polled, not LOCK_EX: bounded, and no signal games in a library. */
	for (;;) {
		if (flock(m->lock_fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (waited_ns > 5L * 1000 * 1000 * 1000)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
		waited_ns += ts.tv_nsec;
		if (ts.tv_nsec < 4 * 1000 * 1000)
			ts.tv_nsec *= 2;
	}
}

void nappt_maps_unlock(struct nappt_maps *m)
{
	if (m && m->lock_fd >= 0)
		flock(m->lock_fd, LOCK_UN);
}

static int map_info(int fd, struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return bpf_obj_get_info_by_fd(fd, info, &len) ? -errno : 0;
}

/*
 * Pins of another layout (an older or newer build, another program's maps
 * under our names) would be read into buffers of our sizes: the kernel
 * copies value_size bytes, so a larger value overruns them.  Refused.
 */
static int check_layout(struct nappt_maps *m)
{
	const struct {
		int fd;
		__u32 type, key, value;
	} want[] = {
		{ m->config_fd, BPF_MAP_TYPE_ARRAY, 4,
		  sizeof(struct nappt_config) },
		{ m->phones_fd, BPF_MAP_TYPE_ARRAY, 4,
		  sizeof(struct nappt_phone) },
		{ m->slots_fd, BPF_MAP_TYPE_ARRAY, 4,
		  sizeof(struct nappt_slot) },
		{ m->stats_fd, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
		  sizeof(struct nappt_counter) },
	};
	struct bpf_map_info info;
	size_t i;
	int r;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		r = map_info(want[i].fd, &info);
		if (r < 0)
			return r;
		if (info.type != want[i].type || info.key_size != want[i].key ||
		    info.value_size != want[i].value)
			return -EPROTO;
		if (want[i].fd == m->config_fd && info.max_entries != 1)
			return -EPROTO;
		if (want[i].fd == m->phones_fd)
			m->phones_n = info.max_entries;
		if (want[i].fd == m->slots_fd)
			m->slots_n = info.max_entries;
		/* An older data plane may count fewer reasons. */
		if (want[i].fd == m->stats_fd)
			m->stats_n = info.max_entries < NAPPT_STAT_MAX ?
					     info.max_entries :
					     NAPPT_STAT_MAX;
	}
	return 0;
}

/* The config must describe the maps it sits next to: every index libnappt
 * computes from it must fall inside them. */
static int check_geometry(const struct nappt_maps *m)
{
	const struct nappt_config *c = &m->cfg;

	if (c->slot_shift < NAPPT_SLOT_SHIFT_MIN ||
	    c->slot_shift > NAPPT_SLOT_SHIFT_MAX ||
	    c->slots_per_ip != 65536U >> c->slot_shift || !c->lan_size ||
	    !c->pub_count || c->lan_size != m->phones_n ||
	    (uint64_t)c->pub_count * c->slots_per_ip != m->slots_n)
		return -EPROTO;
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
	r = check_layout(m);
	if (r < 0)
		goto fail;
	m->lock_fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->lock_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = nappt_maps_reload_config(m);
	if (r < 0)
		goto fail;
	r = check_geometry(m);
	if (r < 0)
		goto fail;
	/* Now, while privileged; a later write retries and fails closed. */
	grace_create(m);
	return 0;
fail:
	nappt_maps_close(m);
	return r;
}

int nappt_phone_index(const struct nappt_config *cfg, uint32_t priv_be)
{
	__s64 idx = nappt_lan_index(cfg, priv_be);

	return idx < 0 ? -ERANGE : (int)idx;
}

int nappt_phone_check(const struct nappt_config *cfg, uint32_t priv_be,
		      const struct nappt_phone *p)
{
	if (!cfg || !p)
		return -EINVAL;
	if (nappt_lan_index(cfg, priv_be) < 0)
		return -ERANGE;
	/* The gateway's own LAN address is never a phone's. */
	if (cfg->lan_gw && priv_be == cfg->lan_gw)
		return -EINVAL;
	if (nappt_pub_index(cfg, p->pub_ip) < 0)
		return -ERANGE;
	if (p->port_first < 1024)
		return -EINVAL;
	/* Inbound frames to the phone carry this MAC as destination: a
	 * group (or broadcast) address would hand the phone's traffic to
	 * every host on the LAN, and a DHCP chaddr is whatever the client
	 * says.  All-zero is no station. */
	if ((p->mac[0] & 1) || !(p->mac[0] | p->mac[1] | p->mac[2] | p->mac[3] |
				 p->mac[4] | p->mac[5]))
		return -EINVAL;
	/* Whole slots only: the inbound index maps slots, not ports. */
	if (!nappt_range_whole_slots(cfg, p->port_first, p->port_last))
		return -EINVAL;
	return 0;
}

/* Only after nappt_phone_check (pub_ip in the pool). */
static uint32_t slot_key(const struct nappt_config *cfg, uint32_t pub_be,
			 uint32_t port)
{
	return nappt_slot_key(cfg, (__u32)nappt_pub_index(cfg, pub_be),
			      (__u16)port);
}

/* Point p's slots at phone val (idx + 1) with p's MAC, or (val == 0)
 * free those of p that point at own (idx + 1) and that keep (may be
 * NULL) does not cover. */
static int set_slots(struct nappt_maps *m, const struct nappt_phone *p,
		     uint32_t val, uint32_t own, const struct nappt_phone *keep)
{
	uint32_t step = 1U << m->cfg.slot_shift;
	uint32_t port, key;
	struct nappt_slot cur, nw = { .phone = val };

	if (val)
		memcpy(nw.mac, p->mac, sizeof(nw.mac));
	for (port = p->port_first; port <= p->port_last; port += step) {
		key = slot_key(&m->cfg, p->pub_ip, port);
		if (bpf_map_lookup_elem(m->slots_fd, &key, &cur))
			return -errno;
		if (!val) {
			if (keep && keep->pub_ip == p->pub_ip &&
			    nappt_port_in_range(keep, (__u16)port))
				continue;
			if (cur.phone != own)
				continue;
		} else if (!memcmp(&cur, &nw, sizeof(nw))) {
			continue; /* a renewal writes nothing */
		}
		if (bpf_map_update_elem(m->slots_fd, &key, &nw, BPF_ANY))
			return -errno;
	}
	return 0;
}

static int put_phone(struct nappt_maps *m, uint32_t idx,
		     const struct nappt_phone *p)
{
	return bpf_map_update_elem(m->phones_fd, &idx, p, BPF_ANY) ? -errno : 0;
}

static int is_zero(const struct nappt_phone *p)
{
	static const struct nappt_phone zero;

	return !memcmp(p, &zero, sizeof(zero));
}

/*
 * Forget the fragment trackers that send later fragments to phone idx: a
 * tracker outlives the lease it was made under, and the index may be
 * leased to another phone next (defence in depth: the data plane checks
 * the lease too).  Best effort on a map without one (tests' own maps).
 */
#define FRAG_BATCH 1024

static int purge_frags(struct nappt_maps *m, uint32_t idx)
{
	struct nappt_frag_key *keys = NULL, *del = NULL, k, next;
	struct nappt_frag_val *vals = NULL, v;
	uint32_t n, i, ndel = 0, cap = 0, batch;
	int r = 0, err, first = 1;
	__u64 in = 0, out = 0;

	if (m->frags_fd < 0)
		return 0;
	keys = calloc(FRAG_BATCH, sizeof(*keys));
	vals = calloc(FRAG_BATCH, sizeof(*vals));
	if (!keys || !vals) {
		r = -ENOMEM;
		goto out;
	}
	for (batch = 1;;) {
		n = FRAG_BATCH;
		if (batch) {
			err = bpf_map_lookup_batch(m->frags_fd,
						   first ? NULL : &in, &out,
						   keys, vals, &n, NULL) ?
				      errno :
				      0;
			if (err == EINVAL || err == EOPNOTSUPP ||
			    err == 524 /* ENOTSUPP */) {
				batch = 0;
				continue;
			}
			if (err && err != ENOENT) {
				r = -err;
				goto out;
			}
		} else {
			/* No batch ops: one key at a time. */
			err = 0;
			for (n = 0; n < FRAG_BATCH;) {
				if (bpf_map_get_next_key(m->frags_fd,
							 first ? NULL : &k,
							 &next)) {
					err = ENOENT;
					break;
				}
				first = 0;
				k = next;
				if (bpf_map_lookup_elem(m->frags_fd, &k, &v))
					continue; /* gone meanwhile */
				keys[n] = k;
				vals[n++] = v;
			}
		}
		for (i = 0; i < n; i++) {
			if (vals[i].phone != idx)
				continue;
			if (ndel == cap) {
				struct nappt_frag_key *d;

				cap = cap ? cap * 2 : 64;
				d = realloc(del, cap * sizeof(*d));
				if (!d) {
					r = -ENOMEM;
					goto out;
				}
				del = d;
			}
			del[ndel++] = keys[i];
		}
		if (err == ENOENT)
			break;
		if (batch) {
			in = out;
			first = 0;
		}
	}
	/* Deleted after the walk: deleting during it restarts a hash walk. */
	for (i = 0; i < ndel; i++)
		bpf_map_delete_elem(m->frags_fd, &del[i]);
out:
	free(keys);
	free(vals);
	free(del);
	return r;
}

static int add_locked(struct nappt_maps *m, uint32_t idx,
		      const struct nappt_phone *p)
{
	struct nappt_phone old, nw, inv;
	uint32_t step = 1U << m->cfg.slot_shift, port, key;
	struct nappt_slot cur;
	int r;

	/* Refuse before writing anything if a slot belongs to another. */
	for (port = p->port_first; port <= p->port_last; port += step) {
		key = slot_key(&m->cfg, p->pub_ip, port);
		if (bpf_map_lookup_elem(m->slots_fd, &key, &cur))
			return -errno;
		if (cur.phone && cur.phone != idx + 1)
			return -EBUSY;
	}
	if (bpf_map_lookup_elem(m->phones_fd, &idx, &old))
		return -errno;

	nw = *p;
	nw.flags |= NAPPT_PHONE_VALID;
	inv = nw;
	inv.flags &= ~NAPPT_PHONE_VALID;
	if (!memcmp(&old, &nw, sizeof(nw)))
		/* A renewal: only make sure the slots are there. */
		return set_slots(m, &nw, idx + 1, 0, NULL);

	if (old.flags & NAPPT_PHONE_VALID) {
		/* Inbound ends first, then the entry goes invalid by its
		 * VALID bit alone.  Every old slot is freed, those the new
		 * range covers too: inbound trusts the slot's MAC and index
		 * alone, so a slot goes from one content to another only
		 * through free (a torn read of free and one phone's slot is
		 * free or that phone's, never a mix of two phones). */
		if (!nappt_phone_check(&m->cfg, nappt_lan_addr(&m->cfg, idx),
				       &old)) {
			r = set_slots(m, &old, 0, idx + 1, NULL);
			if (r < 0)
				return r;
		}
		old.flags &= ~NAPPT_PHONE_VALID;
		r = put_phone(m, idx, &old);
		if (r < 0)
			return r;
	}
	if (memcmp(&old, &inv, sizeof(inv))) {
		/* Content changes.  A program that read the entry while it
		 * was valid may still be reading its fields: wait for it
		 * (a zeroed entry was never valid since its last wait). */
		if (!is_zero(&old)) {
			r = nappt_maps_grace(m);
			if (r < 0)
				return r;
			/* After the grace: no program still holds the old
			 * entry valid, so none adds a tracker for it. */
			r = purge_frags(m, idx);
			if (r < 0)
				return r;
		}
		r = put_phone(m, idx, &inv);
		if (r < 0)
			return r;
	}
	/* VALID before the slots: inbound reads the slot alone, so a slot
	 * must never name a phone that is not leased (a writer killed in
	 * between leaves a valid entry without its slots: outbound drops
	 * as DROP_SLOT and inbound finds nothing until the next add, which
	 * writes them, map-sync's check of the slots asks for it). */
	r = put_phone(m, idx, &nw);
	if (r < 0)
		return r;
	return set_slots(m, &nw, idx + 1, 0, NULL);
}

int nappt_phone_add(struct nappt_maps *m, uint32_t priv_be,
		    const struct nappt_phone *p)
{
	uint32_t idx;
	int r;

	if (!m || !p)
		return -EINVAL;
	r = nappt_phone_check(&m->cfg, priv_be, p);
	if (r < 0)
		return r;
	idx = (uint32_t)nappt_phone_index(&m->cfg, priv_be);
	r = nappt_maps_lock(m);
	if (r < 0)
		return r;
	r = add_locked(m, idx, p);
	nappt_maps_unlock(m);
	return r;
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

static int del_locked(struct nappt_maps *m, uint32_t priv_be)
{
	struct nappt_phone old;
	uint32_t idx;
	int r;

	r = nappt_phone_get(m, priv_be, &old);
	if (r < 0)
		return r;
	idx = (uint32_t)nappt_phone_index(&m->cfg, priv_be);
	/* A stored range outside the pools (written by something other
	 * than libnappt) has no slots we could compute: drop the entry. */
	if (!nappt_phone_check(&m->cfg, priv_be, &old)) {
		r = set_slots(m, &old, 0, idx + 1, NULL);
		if (r < 0)
			return r;
	}
	old.flags &= ~NAPPT_PHONE_VALID;
	r = put_phone(m, idx, &old);
	if (r < 0)
		return r;
	/* Early, best effort: a program in flight may still add one; the
	 * next add with other content purges again after a grace. */
	purge_frags(m, idx);
	return 0;
}

int nappt_phone_del(struct nappt_maps *m, uint32_t priv_be)
{
	int r;

	if (!m)
		return -EINVAL;
	r = nappt_maps_lock(m);
	if (r < 0)
		return r;
	r = del_locked(m, priv_be);
	nappt_maps_unlock(m);
	return r;
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
		r = cb(nappt_lan_addr(&m->cfg, keys[i]), &vals[i], arg);
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
		if (m->stats_n && k >= m->stats_n)
			continue;
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
	for (k = 0; k < NAPPT_STAT_MAX && (!m->stats_n || k < m->stats_n); k++)
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

static void pool_text(uint32_t net_be, uint32_t size, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];
	struct in_addr in = { .s_addr = net_be };
	int plen = 32;

	while (plen > 0 && (1ULL << (32 - plen)) < size)
		plen--;
	if (!inet_ntop(AF_INET, &in, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%d", a, plen);
}

int nappt_config_mismatch(const struct nappt_config *have, uint32_t lan_net_be,
			  uint32_t lan_size, uint32_t pub_net_be,
			  uint32_t pub_count, uint32_t slot_size,
			  const char *pin_dir, char *buf, size_t len)
{
	char want_s[32], have_s[32];
	size_t used = 0;
	int i, r = 0;

	if (!have || !pin_dir || !buf || !len)
		return -EINVAL;
	buf[0] = '\0';
	for (i = 0; i < 3; i++) {
		const char *key;

		if (i == 0) {
			if (have->lan_net == lan_net_be &&
			    have->lan_size == lan_size)
				continue;
			key = "lan_pool";
			pool_text(lan_net_be, lan_size, want_s, sizeof(want_s));
			pool_text(have->lan_net, have->lan_size, have_s,
				  sizeof(have_s));
		} else if (i == 1) {
			if (have->pub_net == pub_net_be &&
			    have->pub_count == pub_count)
				continue;
			key = "public_pool";
			pool_text(pub_net_be, pub_count, want_s,
				  sizeof(want_s));
			pool_text(have->pub_net, have->pub_count, have_s,
				  sizeof(have_s));
		} else {
			if (have->slot_shift < 32 &&
			    (1U << have->slot_shift) == slot_size)
				continue;
			key = "slot_size";
			snprintf(want_s, sizeof(want_s), "%u", slot_size);
			snprintf(have_s, sizeof(have_s), "%u",
				 have->slot_shift < 32 ?
					 1U << have->slot_shift :
					 0);
		}
		r = -EINVAL;
		if (used < len)
			used += (size_t)snprintf(
				buf + used, len - used,
				"%s%s %s but the data plane at %s was attached "
				"with %s",
				used ? "; " : "", key, want_s, pin_dir, have_s);
	}
	return r;
}
