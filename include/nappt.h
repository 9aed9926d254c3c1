/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Every struct and enum that crosses the BPF / user-space boundary.
 *
 * Both the data plane (bpf/) and user space (lib/, loader/, provisioner/)
 * include this file; nothing here is declared twice anywhere else.  Byte
 * order is part of the type: __be* fields are network order, plain __u*
 * fields are host order.  The sizes are asserted so that a change on one
 * side that the other does not see fails the build, not the wire.
 */
#ifndef NAPPT_H
#define NAPPT_H

#include <linux/types.h>

/* Where the maps and links live in bpffs.  Maps are pinned by name below
 * this directory, links below NAPPT_PIN_DIR "/links". */
#define NAPPT_PIN_DIR "/sys/fs/bpf/nappt"

/* Ports are handed out in slots of (1 << slot_shift) ports.  One `slots`
 * entry covers one slot (8 bytes, struct nappt_slot): 16k public IPs x 64
 * slots of 1024 ports = 1M entries = 8 MiB, all the per-phone memory. */
#define NAPPT_SLOT_SHIFT_MIN 4 /* 16 ports */
#define NAPPT_SLOT_SHIFT_MAX 15 /* 32768 ports */
#define NAPPT_SLOT_SHIFT_DEFAULT 10 /* 1024 ports */

/* Upper bounds on the pools, to keep map memory sane.  The maps are sized
 * from the configured pools at load time, not from these. */
#define NAPPT_MAX_PHONES (1U << 22)
#define NAPPT_MAX_SLOTS (1U << 24)

/* nappt_config.flags */
enum {
	/* Drop WAN packets to the public pool that match no lease instead of
	 * passing them to the kernel (which owns the gateway's services). */
	NAPPT_CFG_DROP_UNKNOWN_IN = 1U << 0,
	/* Source-dependent routing (ip rule from ..., multipath hashing):
	 * the next-hop cache keys on the source address too. */
	NAPPT_CFG_ROUTE_BY_SRC = 1U << 1,
	/* LAN sources outside the LAN pool (other hosts the site routes
	 * through the gateway) go to the kernel, which forwards them with
	 * their own source.  Off by default: such frames are dropped. */
	NAPPT_CFG_LAN_FOREIGN = 1U << 2,
};

/*
 * The single entry of the `config` array map.  Written by the loader at
 * attach time; the pools decide the map sizes, so changing them while
 * phones are leased is refused by user space.
 */
struct nappt_config {
	__be32 lan_net; /* first address of the phones' private pool */
	__u32 lan_size; /* addresses in the pool */
	__be32 pub_net; /* first public address */
	__u32 pub_count; /* public addresses in the pool */
	__u32 slot_shift; /* log2(ports per slot) */
	__u32 slots_per_ip; /* 65536 >> slot_shift */
	__be32 lan_gw; /* the gateway's own LAN address (DHCP, TFTP) */
	__u32 flags; /* NAPPT_CFG_* */
	/*
	 * Inbound fast path: phones are L2 neighbours of the LAN interface
	 * (the MAC anti-spoof check already relies on it), so a packet to a
	 * phone needs no FIB lookup: the lease holds the destination MAC.
	 * 0 disables it.  Filled by the loader from the interface.
	 */
	__u32 lan_ifindex;
	__u32 lan_mtu;
	__u8 lan_mac[6];
	/*
	 * Voice VLAN on the LAN parent (native XDP): the phones' frames
	 * carry this 802.1Q VID (host order, 1-4094); frames to phones get
	 * it back.  0: the LAN interface itself is the phones' (untagged,
	 * or a VLAN device under generic XDP/TC).
	 */
	__u16 lan_vid;
};
_Static_assert(sizeof(struct nappt_config) == 48, "nappt_config size");

/* nappt_phone.flags */
enum {
	NAPPT_PHONE_VALID = 1U << 0,
};

/*
 * One phone's mapping as user space (libnappt, loader, provisioner) sees
 * it: the port range is [port_first, port_last] on pub_ip, host order,
 * inclusive, always a whole number of slots inside one public address.
 * Not a map value: the data plane holds a phone as the slots of its
 * range (struct nappt_slot), and its private address is derived from
 * them (nappt_derived_index).
 */
struct nappt_phone {
	__be32 pub_ip;
	__u16 port_first;
	__u16 port_last;
	__u8 mac[6];
	__u16 flags;
};
_Static_assert(sizeof(struct nappt_phone) == 16, "nappt_phone size");

/*
 * The data plane's only per-phone map: `slots`, an ARRAY (BPF_F_MMAPABLE)
 * of this 8-byte value, indexed by the slot key
 *
 *	key = (public IPv4 - pub_net) * slots_per_ip + (port >> slot_shift)
 *
 * A phone leased ports [first, last] on a public address owns the slots
 * of that range, and its private address is not chosen freely but
 * derived (deterministic NAT, RFC 7422; MAP-E's rule, RFC 7597 5.2):
 *
 *	private address = lan_net + key of its first slot
 *
 * so that each direction makes one random access at 1M phones (issue 13):
 *  - inbound reads the entry of (destination, port): VALID names the
 *    phone as (key - dist), its private address, and holds its MAC;
 *  - outbound reads the entry of (the phone's public address, which the
 *    source address gives, source port): it must be VALID, name the
 *    source address as its owner and hold the frame's source MAC, which
 *    proves the lease, the MAC and that the port is the phone's (the
 *    slot names exactly one phone, by construction);
 *  - "is this address leased, to which MAC" (ARP, packets to the
 *    gateway, non-first fragments) reads the entry whose key is the
 *    address's index: VALID with dist 0.
 * owner = NAPPT_SLOT_VALID | dist, dist = slots from the phone's first
 * slot (< slots_per_ip <= 4096).  0 is free.  User space writes each
 * entry with one aligned 8-byte store through an mmap of the map, so a
 * program on another CPU reads the old entry or the new one, never a
 * mix; a slot goes from one phone to another only through free.
 */
#define NAPPT_SLOT_VALID 0x8000U
#define NAPPT_SLOT_DIST_MASK 0x0fffU

struct nappt_slot {
	__u8 mac[6];
	__u16 owner; /* NAPPT_SLOT_VALID | dist; 0 = free */
};
_Static_assert(sizeof(struct nappt_slot) == 8, "nappt_slot size");

/*
 * Value of the per-CPU `nh_cache` (outbound next hops).  A FIB lookup
 * costs more than the rest of the translation; outbound traffic goes to
 * few next hops, so the result is kept per CPU, direct-mapped by
 * destination (and source with NAPPT_CFG_ROUTE_BY_SRC), for
 * NAPPT_NH_CACHE_JIFFIES (about a second).  max_len is the largest IP length
 * the FIB accepted on this route: a larger packet asks the FIB again, so
 * route MTUs and Frag Needed are never skipped.
 */
struct nappt_nh {
	__be32 daddr;
	__be32 saddr;
	__u32 in_ifindex;
	__u32 out_ifindex;
	__u64 expires; /* jiffies */
	__u8 dmac[6];
	__u8 smac[6];
	__u16 max_len;
	__u16 pad;
};
_Static_assert(sizeof(struct nappt_nh) == 40, "nappt_nh size");

/* Key of the `frags` LRU hash: the IPv4 fragment identity (RFC 791). */
struct nappt_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 proto;
	__u8 pad;
};
_Static_assert(sizeof(struct nappt_frag_key) == 12, "nappt_frag_key size");

/* Value of `frags`: which phone the first fragment went to, and the
 * (public) destination port it carried, so that later fragments re-check
 * the lease through the slot index instead of trusting the entry. */
struct nappt_frag_val {
	__u32 phone;
	__u32 port;
};
_Static_assert(sizeof(struct nappt_frag_val) == 8, "nappt_frag_val size");

/*
 * Per-reason counters (per-CPU array `stats`).  Every packet the programs
 * see moves exactly one of the counters before NAPPT_STAT_REDIRECT.  The
 * last two tell how the translated ones left: redirected by the program,
 * or passed translated to the kernel because the next hop's MAC was not
 * known yet (it resolves ARP and forwards).  Keep lib/ names in sync.
 */
enum nappt_stat {
	NAPPT_STAT_OUT_XLATE = 0, /* phone -> WAN translated */
	NAPPT_STAT_IN_XLATE, /* WAN -> phone translated */
	NAPPT_STAT_HAIRPIN, /* phone -> phone via public address */
	NAPPT_STAT_ICMP_OUT, /* ICMP echo/error from a phone translated */
	NAPPT_STAT_ICMP_IN, /* ICMP echo reply/error to a phone translated */
	NAPPT_STAT_FRAG_IN, /* non-first inbound fragment translated */
	NAPPT_STAT_PASS_NON_IP, /* ARP, IPv6, LLDP, ... */
	NAPPT_STAT_PASS_VLAN, /* 802.1Q/802.1ad tagged: kernel's job */
	NAPPT_STAT_PASS_LOCAL, /* to the gateway itself, broadcast, mcast */
	NAPPT_STAT_PASS_NOT_OURS, /* not from/to a pool address */
	NAPPT_STAT_PASS_TTL, /* unused: Time Exceeded comes from the hook */
	NAPPT_STAT_PASS_FIB, /* outbound, no usable route: kernel answers */
	NAPPT_STAT_PASS_NO_MAPPING, /* WAN, public pool, no lease */
	NAPPT_STAT_DROP_NO_MAPPING, /* same, with NAPPT_CFG_DROP_UNKNOWN_IN */
	NAPPT_STAT_DROP_NO_LEASE, /* LAN source in the pool without lease */
	NAPPT_STAT_DROP_SPOOF_MAC, /* source MAC is not the lease's */
	NAPPT_STAT_DROP_PORT_RANGE, /* source port/ICMP id outside range */
	NAPPT_STAT_DROP_PROTO, /* phone sent a protocol without ports */
	NAPPT_STAT_DROP_MALFORMED, /* truncated or inconsistent headers */
	NAPPT_STAT_FRAG_MISS, /* non-first fragment with no first seen */
	NAPPT_STAT_REDIRECT, /* translated and redirected */
	NAPPT_STAT_XLATE_PASS, /* translated, passed: kernel resolves ARP */
	/* Dispositions added later (appended: the numbers are ABI). */
	NAPPT_STAT_DROP_SRC_PUBLIC, /* LAN source in the public pool */
	NAPPT_STAT_DROP_SRC_FOREIGN, /* LAN source outside the pools */
	NAPPT_STAT_DROP_SRC_BOGON, /* martian, or WAN source in a pool */
	NAPPT_STAT_DROP_TO_PRIVATE, /* WAN packet to a LAN-pool address */
	NAPPT_STAT_DROP_ARP_SPOOF, /* ARP claiming a lease, other MAC */
	NAPPT_STAT_DROP_SLOT, /* unused since issue 13: a slot entry names
			       * its phone by construction */
	NAPPT_STAT_DROP_FRAG_STALE, /* fragment whose lease changed */
	NAPPT_STAT_ICMP_TIME_EXCEEDED, /* TTL <= 1: Time Exceeded sent */
	NAPPT_STAT_ICMP_FRAG_NEEDED, /* too big with DF: Frag Needed sent */
	NAPPT_STAT_ICMP_UNREACH, /* no route: Destination Unreachable sent */
	NAPPT_STAT_DROP_ICMP_LIMIT, /* error owed but rate-limited/banned */
	NAPPT_STAT_DROP_NO_ROUTE, /* translated, no route, nothing owed */
	NAPPT_STAT_DROP_SRC_ROUTE, /* IP loose/strict source route option */
	/* How a translated packet left (with REDIRECT, XLATE_PASS): the
	 * egress device was not in tx_ports when redirected. */
	NAPPT_STAT_DROP_TX_PORT,
	NAPPT_STAT_MAX,
};

/* REDIRECT, XLATE_PASS and DROP_TX_PORT say how a translated packet left;
 * every other counter is a disposition: each packet moves exactly one. */
static inline int nappt_stat_is_disposition(unsigned int s)
{
	return s != NAPPT_STAT_REDIRECT && s != NAPPT_STAT_XLATE_PASS &&
	       s != NAPPT_STAT_DROP_TX_PORT && s < NAPPT_STAT_MAX;
}

struct nappt_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct nappt_counter) == 16, "nappt_counter size");

/*
 * Index, slot-key and range arithmetic.  The data plane and libnappt must
 * compute these identically (a slot written by one side under one formula
 * and read by the other under another would name the wrong phone), so they
 * exist once, here.  Byte swaps by builtin so this header needs neither
 * <arpa/inet.h> nor <bpf/bpf_endian.h>; always_inline because BPF callers
 * rely on the verifier seeing the bounds checks inline.
 */
#define NAPPT_INLINE static inline __attribute__((always_inline))

NAPPT_INLINE __u32 nappt_ntoh32(__be32 x)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return __builtin_bswap32((__u32)x);
#else
	return (__u32)x;
#endif
}

NAPPT_INLINE __be32 nappt_hton32(__u32 x)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__be32)__builtin_bswap32(x);
#else
	return (__be32)x;
#endif
}

/* Index of a private address in the LAN pool, or -1 outside it.  For a
 * leased phone this is also the key of its first slot. */
NAPPT_INLINE __s64 nappt_lan_index(const struct nappt_config *cfg, __be32 addr)
{
	__u32 idx = nappt_ntoh32(addr) - nappt_ntoh32(cfg->lan_net);

	return idx < cfg->lan_size ? (__s64)idx : -1;
}

/* The private address of LAN-pool index idx. */
NAPPT_INLINE __be32 nappt_lan_addr(const struct nappt_config *cfg, __u32 idx)
{
	return nappt_hton32(nappt_ntoh32(cfg->lan_net) + idx);
}

/* Index of a public address in the public pool, or -1 outside it. */
NAPPT_INLINE __s64 nappt_pub_index(const struct nappt_config *cfg, __be32 addr)
{
	__u32 idx = nappt_ntoh32(addr) - nappt_ntoh32(cfg->pub_net);

	return idx < cfg->pub_count ? (__s64)idx : -1;
}

/* Key of `slots` for port on the public address of pool index pub_idx. */
NAPPT_INLINE __u32 nappt_slot_key(const struct nappt_config *cfg, __u32 pub_idx,
				  __u16 port)
{
	return pub_idx * cfg->slots_per_ip + (port >> (cfg->slot_shift & 31));
}

/* Entries of `slots`: one per slot of the public pool. */
NAPPT_INLINE __u32 nappt_slot_count(const struct nappt_config *cfg)
{
	return cfg->pub_count * cfg->slots_per_ip;
}

/*
 * The derived private address, as a LAN-pool index, of a phone leased
 * ports from first_port on pub_idx: the key of its first slot.  -1 if
 * that index is outside the LAN pool (a LAN pool smaller than
 * pub_count * slots_per_ip serves the first public addresses only).
 */
NAPPT_INLINE __s64 nappt_derived_index(const struct nappt_config *cfg,
				       __u32 pub_idx, __u16 first_port)
{
	__u32 key = nappt_slot_key(cfg, pub_idx, first_port);

	return key < cfg->lan_size ? (__s64)key : -1;
}

/* The public-pool index that phone (LAN-pool index) idx is served on. */
NAPPT_INLINE __u32 nappt_phone_pub_index(const struct nappt_config *cfg,
					 __u32 idx)
{
	return idx >> ((16 - cfg->slot_shift) & 31);
}

/* The public address of phone idx (the caller knows idx is a phone's:
 * its slot entry named it). */
NAPPT_INLINE __be32 nappt_phone_pub(const struct nappt_config *cfg, __u32 idx)
{
	return nappt_hton32(nappt_ntoh32(cfg->pub_net) +
			    nappt_phone_pub_index(cfg, idx));
}

/* Outbound: key of the slot of port on the public address of phone idx
 * (same public address: the address bits of idx, the port's slot). */
NAPPT_INLINE __u32 nappt_port_key(const struct nappt_config *cfg, __u32 idx,
				  __u16 port)
{
	return (idx & ~(cfg->slots_per_ip - 1)) |
	       (port >> (cfg->slot_shift & 31));
}

/* The phone (LAN-pool index) a valid entry at key names. */
NAPPT_INLINE __u32 nappt_slot_owner(__u32 key, const struct nappt_slot *s)
{
	return key - (s->owner & NAPPT_SLOT_DIST_MASK);
}

NAPPT_INLINE int nappt_slot_valid(const struct nappt_slot *s)
{
	return !!(s->owner & NAPPT_SLOT_VALID);
}

NAPPT_INLINE int nappt_port_in_range(const struct nappt_phone *ph, __u16 port)
{
	return port >= ph->port_first && port <= ph->port_last;
}

/* A range the slot index can hold: whole slots, first <= last. */
NAPPT_INLINE int nappt_range_whole_slots(const struct nappt_config *cfg,
					 __u16 first, __u16 last)
{
	__u32 mask = (1U << (cfg->slot_shift & 31)) - 1;

	return first <= last && !(first & mask) && ((__u32)last & mask) == mask;
}

#endif /* NAPPT_H */
