/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The data plane's maps.  Pinned by name below NAPPT_PIN_DIR so that the
 * provisioner (another process, restarted at will) and bpftool see them,
 * and so that `upgrade` can load new programs that reuse them.
 *
 * The per-packet lookup is a direct-indexed ARRAY: a phone's private
 * address is derived from its public address and first slot (struct
 * nappt_slot), so both directions compute the key.  Measured with 1M
 * phones and a random phone per packet, a HASH lookup cost ~370 ns extra
 * per packet (bucket, element and value misses), an ARRAY ~12 ns.  The
 * loader sizes `slots` from the public pool at load time.
 */
#ifndef NAPPT_MAPS_H
#define NAPPT_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "nappt.h"

#ifndef NAPPT_DEFAULT_SLOTS
#define NAPPT_DEFAULT_SLOTS 65536
#endif
#ifndef NAPPT_FRAG_ENTRIES
#define NAPPT_FRAG_ENTRIES 8192
#endif
#ifndef NAPPT_NH_CACHE_BITS
#define NAPPT_NH_CACHE_BITS 8 /* 256 entries per CPU */
#endif
#define NAPPT_NH_CACHE (1U << NAPPT_NH_CACHE_BITS)
/* How long a cached next hop is trusted: route and neighbour changes are
 * seen within this.  In jiffies, because reading jiffies is a load while
 * even the coarse ktime helper cost 12 ns a packet here: 250 jiffies is
 * 1 s at the usual HZ=250 (0.25 s at HZ=1000). */
#ifndef NAPPT_NH_CACHE_JIFFIES
#define NAPPT_NH_CACHE_JIFFIES 250
#endif
#ifndef NAPPT_MAX_PORTS_DEV
#define NAPPT_MAX_PORTS_DEV 64
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nappt_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

/* The only per-phone map (struct nappt_slot).  Mappable: libnappt
 * writes each 8-byte entry with one aligned store through its mmap, so
 * a program never reads half of one phone's entry and half of another's
 * (a map update from a syscall copies the value with no such promise). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, NAPPT_DEFAULT_SLOTS);
	__type(key, __u32);
	__type(value, struct nappt_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NAPPT_STAT_MAX);
	__type(key, __u32);
	__type(value, struct nappt_counter);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* Fragments are rare, so a hash is fine here; LRU so a flood of first
 * fragments evicts old entries instead of failing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, NAPPT_FRAG_ENTRIES);
	__type(key, struct nappt_frag_key);
	__type(value, struct nappt_frag_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frags SEC(".maps");

/* Outbound next hops, see struct nappt_nh.  Not pinned: per-CPU scratch
 * that a new program generation starts afresh. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NAPPT_NH_CACHE);
	__type(key, __u32);
	__type(value, struct nappt_nh);
} nh_cache SEC(".maps");

/* ICMP errors the hooks send (Time Exceeded, Frag Needed, Unreachable):
 * a per-CPU budget per window, so that a flood of TTL-1 packets with
 * forged sources cannot make the gateway a reflector (the kernel's own
 * icmp_ratelimit plays this part for the errors it sends). */
#ifndef NAPPT_ICMP_WINDOW_JIFFIES
#define NAPPT_ICMP_WINDOW_JIFFIES 25 /* 0.1 s at HZ=250 */
#endif
#ifndef NAPPT_ICMP_PER_WINDOW
#define NAPPT_ICMP_PER_WINDOW 100 /* ~1000/s per CPU at HZ=250 */
#endif
struct nappt_icmp_budget {
	__u64 window;
	__u32 sent;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nappt_icmp_budget);
} icmp_budget SEC(".maps");

/* Egress devices for XDP redirect, keyed by ifindex (bulk xmit).  The
 * kernel marks devmaps read-only for programs after creation, which
 * libbpf's pinned-map check reads as a mismatch: the loader reuses this
 * one by fd itself. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, NAPPT_MAX_PORTS_DEV);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tx_ports SEC(".maps");

#endif /* NAPPT_MAPS_H */
