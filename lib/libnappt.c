// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libnappt: user-space side of the pinned data-plane maps.
 *
 * A phone is the entries of `slots` its range covers (struct nappt_slot);
 * its private address is derived from the first one (nappt_derived_index).
 * Writers hold the pin directory's flock() across every check and the
 * writes that rely on it, and change the entries only in an order a
 * concurrent BPF reader cannot be fooled by (nappt_phone_add).
 *
 * No grace period.  Until issue 13 a phone was a 16-byte `phones` entry
 * that bpf_map_update_elem copied with no lock, so a reader could see a
 * mix of two leases; libnappt made every content change invalid first and
 * waited for an RCU grace period (a map-in-map update) before rewriting
 * it.  Now every entry is 8 bytes, written by one aligned 8-byte store
 * through the map's mmap (slot-store.c) and read by the data plane with
 * one 8-byte load: a reader sees the old entry or the new one, and no
 * entry ever names a mix of two phones, because a slot goes from one phone
 * to another only through free.  Each packet reads one entry (inbound,
 * outbound, the lease check), so there is no pair of entries a reader
 * could see from two moments either.  A packet that read an entry just
 * before a delete is translated as if it came a moment earlier, as with
 * any NAT table change.  The grace map (and its CAP_BPF map creation at
 * open) went with it.  This holds because the data plane copies an entry
 * with ONE 8-byte load before using its fields (slot_read in nat.h): a
 * program that loaded the owner and the MAC separately could see them
 * from two phones if the free and the next owner's store both fell
 * between its loads (no grace period separates them any more).
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libnappt.h"
#include "slot-store.h"

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

static size_t slot_mem_len(uint32_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (size_t)n * sizeof(struct nappt_slot);

	return (len + page - 1) / page * page;
}

void nappt_maps_close(struct nappt_maps *m)
{
	if (!m)
		return;
	if (m->slot_mem)
		munmap(m->slot_mem, slot_mem_len(m->slot_mem_n));
	m->slot_mem = NULL;
	m->slot_mem_n = 0;
	close_fd(&m->config_fd);
	close_fd(&m->slots_fd);
	close_fd(&m->stats_fd);
	close_fd(&m->frags_fd);
	close_fd(&m->tx_ports_fd);
	close_fd(&m->lock_fd);
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
 * `slots` must be mmapable: every write goes through the mmap.
 */
static int check_layout(struct nappt_maps *m)
{
	const struct {
		int fd;
		__u32 type, key, value, flags;
	} want[] = {
		{ m->config_fd, BPF_MAP_TYPE_ARRAY, 4,
		  sizeof(struct nappt_config), 0 },
		{ m->slots_fd, BPF_MAP_TYPE_ARRAY, 4, sizeof(struct nappt_slot),
		  BPF_F_MMAPABLE },
		{ m->stats_fd, BPF_MAP_TYPE_PERCPU_ARRAY, 4,
		  sizeof(struct nappt_counter), 0 },
	};
	struct bpf_map_info info;
	size_t i;
	int r;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		r = map_info(want[i].fd, &info);
		if (r < 0)
			return r;
		if (info.type != want[i].type || info.key_size != want[i].key ||
		    info.value_size != want[i].value ||
		    (info.map_flags & want[i].flags) != want[i].flags)
			return -EPROTO;
		if (want[i].fd == m->config_fd && info.max_entries != 1)
			return -EPROTO;
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
	    !c->pub_count ||
	    (uint64_t)c->pub_count * c->slots_per_ip != m->slots_n)
		return -EPROTO;
	return 0;
}

int nappt_maps_mmap(struct nappt_maps *m)
{
	struct bpf_map_info info;
	uint64_t n;
	void *p;
	int r;

	if (!m || m->slots_fd < 0)
		return -EINVAL;
	if (m->slot_mem)
		return 0;
	r = map_info(m->slots_fd, &info);
	if (r < 0)
		return r;
	n = (uint64_t)m->cfg.pub_count * m->cfg.slots_per_ip;
	if (info.type != BPF_MAP_TYPE_ARRAY ||
	    info.value_size != sizeof(struct nappt_slot) ||
	    !(info.map_flags & BPF_F_MMAPABLE) || !n || n > info.max_entries)
		return -EPROTO;
	p = mmap(NULL, slot_mem_len((uint32_t)n), PROT_READ | PROT_WRITE,
		 MAP_SHARED, m->slots_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->slot_mem = p;
	m->slot_mem_n = (uint32_t)n;
	return 0;
}

/* A `phones` pin is the layout before issue 13: its programs read the
 * lease there, and `slots` entries of another size.  Found by name, so
 * that nothing of it is read. */
static int old_layout_pinned(const char *dir)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/phones", dir);
	return stat(path, &st) == 0;
}

int nappt_maps_open(struct nappt_maps *m, const char *pin_dir)
{
	struct {
		const char *name;
		int *fd;
	} tab[] = {
		{ "config", &m->config_fd },	 { "slots", &m->slots_fd },
		{ "stats", &m->stats_fd },	 { "frags", &m->frags_fd },
		{ "tx_ports", &m->tx_ports_fd },
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
	if (old_layout_pinned(pin_dir)) {
		r = -EPROTO;
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
	/* Now, while privileged (the caller may drop privileges after). */
	r = nappt_maps_mmap(m);
	if (r < 0)
		goto fail;
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

int nappt_phone_addr(const struct nappt_config *cfg, uint32_t pub_be,
		     uint16_t first, uint32_t *priv_be)
{
	__s64 pub, idx;

	if (!cfg || !priv_be || !cfg->slots_per_ip)
		return -EINVAL;
	pub = nappt_pub_index(cfg, pub_be);
	if (pub < 0)
		return -ERANGE;
	idx = nappt_derived_index(cfg, (__u32)pub, first);
	/* The LAN broadcast is no station's (and key 0, the network
	 * address, is the reserved ports' slot: never a range's first). */
	if (idx < 0 || (__u64)idx == cfg->lan_size - 1ULL)
		return -ERANGE;
	/* Nor the gateway's own address (lan_gw, usually key 1): the data
	 * plane drops it as a source, so a script that adds a phone at
	 * the address this names would map one that cannot send. */
	if (cfg->lan_gw && nappt_lan_addr(cfg, (__u32)idx) == cfg->lan_gw)
		return -EADDRINUSE;
	*priv_be = nappt_lan_addr(cfg, (__u32)idx);
	return 0;
}

int nappt_phone_check(const struct nappt_config *cfg, uint32_t priv_be,
		      const struct nappt_phone *p)
{
	uint32_t derived;
	int r;

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
	/* Whole slots only: the data plane maps slots, not ports. */
	if (!nappt_range_whole_slots(cfg, p->port_first, p->port_last))
		return -EINVAL;
	/* The data plane finds the phone of a slot by arithmetic (its
	 * first slot's key is its address): any other address would be
	 * another phone's, or no station's. */
	r = nappt_phone_addr(cfg, p->pub_ip, p->port_first, &derived);
	if (r == -EADDRINUSE)
		return -EINVAL; /* the range derives the gateway's address */
	if (r < 0)
		return r;
	if (derived != priv_be)
		return -EADDRNOTAVAIL;
	return 0;
}

/* --- the slot entries -------------------------------------------------------
 * Every read is one 8-byte load of the mmap, every write one 8-byte store
 * (nappt__slot_store), so that each is of one entry as a whole. */

static uint64_t slot_word(const uint8_t mac[6], uint16_t owner)
{
	struct nappt_slot s;
	uint64_t v;

	memcpy(s.mac, mac, sizeof(s.mac));
	s.owner = owner;
	memcpy(&v, &s, sizeof(v));
	return v;
}

static uint64_t slot_load(const struct nappt_maps *m, uint32_t key)
{
	return __atomic_load_n(
		(const uint64_t *)(const void *)&m->slot_mem[key],
		__ATOMIC_ACQUIRE);
}

static struct nappt_slot slot_of(uint64_t v)
{
	struct nappt_slot s;

	memcpy(&s, &v, sizeof(s));
	return s;
}

/* Does entry v at key belong to phone idx (at distance key - idx)? */
static int slot_owned(uint64_t v, uint32_t key, uint32_t idx)
{
	struct nappt_slot s = slot_of(v);

	return nappt_slot_valid(&s) && nappt_slot_owner(key, &s) == idx;
}

/* Map slots_fd if the caller filled the fds itself and did not. */
static int slots_ready(struct nappt_maps *m)
{
	return m->slot_mem ? 0 : nappt_maps_mmap(m);
}

/* The LAN-pool index of priv_be with the slots mapped, or -errno. */
static int phone_idx_ready(struct nappt_maps *m, uint32_t priv_be)
{
	int idx = nappt_phone_index(&m->cfg, priv_be), r;

	if (idx < 0)
		return idx;
	r = slots_ready(m);
	return r < 0 ? r : idx;
}

/* First key past the public address of key. */
static uint32_t pub_end(const struct nappt_config *cfg, uint32_t key)
{
	return (key | (cfg->slots_per_ip - 1)) + 1;
}

/*
 * Read phone idx as the data plane sees it: leased iff its first slot
 * (key idx) is VALID with distance 0; its range runs on while the next
 * entries are VALID at distance 1, 2, ... with the same MAC.
 */
static int read_phone(const struct nappt_maps *m, uint32_t idx,
		      struct nappt_phone *out)
{
	const struct nappt_config *c = &m->cfg;
	uint32_t key, end, first_slot;
	struct nappt_slot s0, s;

	if (idx >= m->slot_mem_n)
		return -ENOENT;
	s0 = slot_of(slot_load(m, idx));
	if (!nappt_slot_valid(&s0) || (s0.owner & NAPPT_SLOT_DIST_MASK))
		return -ENOENT;
	end = pub_end(c, idx);
	if (end > m->slot_mem_n)
		end = m->slot_mem_n;
	for (key = idx + 1; key < end; key++) {
		s = slot_of(slot_load(m, key));
		if (!nappt_slot_valid(&s) || nappt_slot_owner(key, &s) != idx ||
		    memcmp(s.mac, s0.mac, sizeof(s.mac)))
			break;
	}
	first_slot = idx & (c->slots_per_ip - 1);
	memset(out, 0, sizeof(*out));
	out->pub_ip =
		nappt_hton32(nappt_ntoh32(c->pub_net) + idx / c->slots_per_ip);
	out->port_first = (uint16_t)(first_slot << c->slot_shift);
	out->port_last =
		(uint16_t)(((first_slot + (key - idx)) << c->slot_shift) - 1);
	memcpy(out->mac, s0.mac, sizeof(out->mac));
	out->flags = NAPPT_PHONE_VALID;
	return 0;
}

/*
 * Free every entry of phone idx: its first slot first (from then on the
 * phone is not leased: ARP, packets to the gateway and outbound's lease
 * check fail), then the others, which inbound alone still reads.  Also
 * the entries an add or delete killed half-way left behind (they name idx
 * by their distance).  Returns how many were freed.
 */
static uint32_t free_phone(struct nappt_maps *m, uint32_t idx)
{
	uint32_t key, end = pub_end(&m->cfg, idx), n = 0;

	if (end > m->slot_mem_n)
		end = m->slot_mem_n;
	for (key = idx; key < end; key++) {
		if (!slot_owned(slot_load(m, key), key, idx))
			continue;
		nappt__slot_store(&m->slot_mem[key], 0);
		n++;
	}
	return n;
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

/*
 * The order of the stores is what keeps a reader safe, entry by entry:
 *  - no entry goes from one phone (or MAC) to another but through free:
 *    a change of range or MAC frees the phone's entries first
 *    (free_phone), then writes the new ones;
 *  - the non-first slots are written before the first one: a phone is
 *    leased (ARP, the gateway, outbound's lease check read the first
 *    slot) only once every port of its range is translated both ways.
 */
static int add_locked(struct nappt_maps *m, uint32_t idx,
		      const struct nappt_phone *p)
{
	uint32_t shift = m->cfg.slot_shift, end = pub_end(&m->cfg, idx);
	uint32_t n = (((uint32_t)p->port_last - p->port_first) >> shift) + 1;
	uint32_t key, k;
	uint64_t v;
	int same = 1;

	/* nappt_phone_check: idx is the key of the first slot, and the
	 * range lies inside its public address. */
	if (idx + n > end || end > m->slot_mem_n)
		return -ERANGE;
	/* Refuse before writing anything if a slot belongs to another. */
	for (k = 0; k < n; k++) {
		v = slot_load(m, idx + k);
		if (v && !slot_owned(v, idx + k, idx))
			return -EBUSY;
	}
	/* A renewal (same range, same MAC) writes nothing. */
	for (key = idx; key < end && same; key++) {
		k = key - idx;
		v = slot_load(m, key);
		if (k < n)
			same = v == slot_word(p->mac,
					      (uint16_t)(NAPPT_SLOT_VALID | k));
		else
			same = !slot_owned(v, key, idx);
	}
	if (same)
		return 0;
	if (free_phone(m, idx))
		/* Trackers of the old lease would send later fragments to
		 * the new one: forgotten (best effort, see purge_frags). */
		purge_frags(m, idx);
	for (k = n - 1; k >= 1; k--)
		nappt__slot_store(&m->slot_mem[idx + k],
				  slot_word(p->mac,
					    (uint16_t)(NAPPT_SLOT_VALID | k)));
	nappt__slot_store(&m->slot_mem[idx],
			  slot_word(p->mac, (uint16_t)NAPPT_SLOT_VALID));
	return 0;
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
	r = slots_ready(m);
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
	idx = phone_idx_ready(m, priv_be);
	if (idx < 0)
		return idx;
	return read_phone(m, (uint32_t)idx, out);
}

static int del_locked(struct nappt_maps *m, uint32_t idx)
{
	struct nappt_phone old;
	int leased;

	if (idx >= m->slot_mem_n)
		return -ENOENT;
	leased = read_phone(m, idx, &old) == 0;
	/* Also what an add or delete killed half-way left (not leased,
	 * but its slots refuse other phones). */
	if (!free_phone(m, idx))
		return -ENOENT;
	/* Early, best effort: a program in flight may still add one, which
	 * the data plane re-checks against the slot (and the next add of
	 * other content purges again). */
	purge_frags(m, idx);
	return leased ? 0 : -ENOENT;
}

int nappt_phone_del(struct nappt_maps *m, uint32_t priv_be)
{
	int idx, r;

	if (!m)
		return -EINVAL;
	idx = phone_idx_ready(m, priv_be);
	if (idx < 0)
		return idx;
	r = nappt_maps_lock(m);
	if (r < 0)
		return r;
	r = del_locked(m, (uint32_t)idx);
	nappt_maps_unlock(m);
	return r;
}

int nappt_phone_foreach(struct nappt_maps *m, nappt_phone_cb cb, void *arg)
{
	struct nappt_phone p;
	uint32_t key, n;
	int r;

	if (!m || !cb)
		return -EINVAL;
	r = slots_ready(m);
	if (r < 0)
		return r;
	/* A phone's first slot's key is its LAN index: address order. */
	n = m->slot_mem_n < m->cfg.lan_size ? m->slot_mem_n : m->cfg.lan_size;
	for (key = 0; key < n; key++) {
		if (read_phone(m, key, &p))
			continue;
		r = cb(nappt_lan_addr(&m->cfg, key), &p, arg);
		if (r)
			return r;
		/* Its other slots are no phone's first. */
		key += ((uint32_t)p.port_last - p.port_first) >>
		       m->cfg.slot_shift;
	}
	return 0;
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
