/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Who gets a lease, and what it holds.  Pure functions over plain data:
 *
 *  - validation, in the order of claim 9: the MAC first (deny-list, then
 *    exact / wildcard / OUI allow-list), then the identifier (option 60
 *    vendor class) against each phone model's patterns;
 *  - the port-range allocator: slot-aligned ranges on the public pool,
 *    never containing a reserved port, no overlap, sticky per MAC, the
 *    private address derived from the range (issue 13);
 *  - RFC 7618 option 159 for ranges that are PSID-shaped (RFC 7597).
 *
 * Functions return 0 or a negative errno.
 */
#ifndef NAPPT_POLICY_H
#define NAPPT_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* --- validation --------------------------------------------------------- */

#define POLICY_MAX_PATTERNS 64
#define POLICY_MAX_MODELS 32

/*
 * A MAC pattern: "00:1b:54:aa:bb:0c" (exact), "00:1b:54" or "00:1b:54:*"
 * (OUI / prefix), with '*' or "xx" standing for any byte, e.g.
 * "00:1b:54:*:*:0c".  Parsed into value + mask.
 */
struct mac_pattern {
	uint8_t val[6];
	uint8_t mask[6];
};
int mac_pattern_parse(const char *s, struct mac_pattern *p);
int mac_pattern_match(const struct mac_pattern *p, const uint8_t mac[6]);

/* How a vendor class pattern matches (config: exact:, prefix:, glob:). */
enum vc_kind { VC_EXACT, VC_PREFIX, VC_GLOB };
struct vc_pattern {
	enum vc_kind kind;
	char text[128];
};

/* A DHCP option a model's phones get besides the built-in ones (vendor
 * options 43 and 125, a per-model TFTP server...): sent when the phone
 * asks for it in option 55, or always. */
#define MODEL_MAX_OPTS 8
struct model_opt {
	uint8_t code;
	uint8_t always;
	uint16_t len;
	uint8_t data[255];
};

struct model {
	char name[64];
	struct vc_pattern vc[8];
	int nvc;
	unsigned int slots; /* range size in slots */
	uint32_t lease_time; /* seconds */
	char image[128]; /* software image the phone is told to load */
	char tmpl[64]; /* config template: cisco, polycom, yealink, generic */
	char sip_server[128]; /* for the config file; "" = the global one */
	uint32_t lan_lo, lan_hi; /* its private addresses (host order,
				  * inclusive); 0 = the whole LAN pool */
	struct model_opt opts[MODEL_MAX_OPTS];
	int nopts;
};

struct policy {
	struct mac_pattern allow[POLICY_MAX_PATTERNS];
	int nallow; /* 0: any MAC passes the allow step */
	struct mac_pattern deny[POLICY_MAX_PATTERNS];
	int ndeny;
	struct model models[POLICY_MAX_MODELS];
	int nmodels;
};

enum verdict_reason {
	REJECT_NONE = 0,
	REJECT_MAC_DENIED, /* on the deny-list */
	REJECT_MAC_UNKNOWN, /* not on the allow-list */
	REJECT_NO_VENDOR_CLASS, /* no option 60 */
	REJECT_VENDOR_UNKNOWN, /* option 60 matches no model */
};
const char *reject_reason_str(enum verdict_reason r);

/*
 * Validate a client: MAC first, then the vendor class (len bytes, not
 * NUL-terminated; a trailing NUL, as Cisco phones send, is ignored).
 * Returns the index of the matching model (>= 0), or -EACCES with *why.
 */
int policy_validate(const struct policy *p, const uint8_t mac[6],
		    const uint8_t *vc, size_t vc_len, enum verdict_reason *why);

/*
 * 1 if mac matches an allow-list entry that names all six bytes (an
 * exact entry, not an OUI or a wildcard).  Such phones may use the share
 * of the pool kept from wildcard-matched MACs (server.c, pool grab).
 */
int policy_mac_exact(const struct policy *p, const uint8_t mac[6]);
/* 1 if the allow-list has at least one exact entry. */
int policy_has_exact(const struct policy *p);

/* --- allocation --------------------------------------------------------- */

/*
 * The public pool as the data plane sees it (slots of 1 << slot_shift
 * ports).  A slot is usable unless it contains a reserved port: 0-1023
 * always, plus the gateway's own service ports and a configured list.
 */
struct alloc {
	uint32_t pub_net; /* host order */
	uint32_t pub_count;
	unsigned int slot_shift;
	unsigned int slots_per_ip;
	uint8_t *reserved; /* per slot index within an address: 1 = never */
	uint8_t *used; /* pub_count * slots_per_ip: 1 = leased */
	uint32_t lan_net; /* host order */
	uint32_t lan_size;
	uint32_t lan_first; /* first assignable host index (skips .0, gw) */
	uint8_t *lan_used; /* lan_size */
};

int alloc_init(struct alloc *a, uint32_t pub_net, uint32_t pub_count,
	       unsigned int slot_shift, uint32_t lan_net, uint32_t lan_size);
void alloc_free(struct alloc *a);
/* Nothing taken any more (reserved ports stay reserved). */
void alloc_clear(struct alloc *a);
/* Never hand out the slot holding port (in every public address). */
void alloc_reserve_port(struct alloc *a, uint16_t port);
/*
 * Mark a lease's private address and range as taken (loading the store);
 * -ERANGE outside the pools, -EADDRNOTAVAIL if priv is not the address
 * derived from the range (lan_net + the key of its first slot, issue 13:
 * a lease written by an older version), -EPERM if the range holds a
 * reserved slot (0-1023, reserved_ports), -EADDRINUSE if any part
 * already is taken.
 */
int alloc_take(struct alloc *a, uint32_t priv, uint32_t pub, uint16_t first,
	       uint16_t last);
void alloc_release(struct alloc *a, uint32_t priv, uint32_t pub, uint16_t first,
		   uint16_t last);

/*
 * Choose an aligned window of nslots free usable slots on one public
 * address for mac; the private address is the one derived from it
 * (lan_net + the key of its first slot: nappt_derived_index), so only
 * windows whose derived address is in the LAN pool, at or past
 * lan_first, in lan_lo..lan_hi (0, 0: anywhere) and not held in
 * lan_used (leased, DECLINEd, the gateway's, the broadcast, another
 * gateway's part) are candidates.  The search starts at a position
 * derived from the MAC, so a phone whose lease was lost tends to get
 * the same range (and address) again, and phones spread over the pool.
 * Addresses in host order.  -ENOSPC when no window is left.  Nothing is
 * taken: call alloc_take().
 */
int alloc_pick(const struct alloc *a, const uint8_t mac[6], unsigned int nslots,
	       uint32_t lan_lo, uint32_t lan_hi, uint32_t *priv, uint32_t *pub,
	       uint16_t *first, uint16_t *last);

/*
 * The window of nslots whose derived address is priv, if it could be
 * picked for a model of that size and lan_lo..lan_hi, ignoring
 * lan_used[priv] (whether a held address, once given back, would serve
 * it).  -ERANGE: priv is no such window's; -EADDRINUSE: its slots are
 * taken.
 */
int alloc_window_at(const struct alloc *a, uint32_t priv, unsigned int nslots,
		    uint32_t lan_lo, uint32_t lan_hi, uint32_t *pub,
		    uint16_t *first, uint16_t *last);

/* How many private addresses a model of nslots in lan_lo..lan_hi (0, 0:
 * anywhere) could be given: derived from an aligned window free of
 * reserved ports, and not held in lan_used now. */
unsigned int alloc_derivable(const struct alloc *a, unsigned int nslots,
			     uint32_t lan_lo, uint32_t lan_hi);

/* Aligned windows of nslots free of reserved ports in one public
 * address (0: a model of that size could never get a range), and the
 * slots of one address that hold no reserved port. */
unsigned int alloc_windows(const struct alloc *a, unsigned int nslots);
unsigned int alloc_usable_slots(const struct alloc *a);

/* --- RFC 7618 ------------------------------------------------------------ */

/*
 * Option 159 payload for a range, if it is PSID-shaped (RFC 7597 5.1).
 * The data plane maps one contiguous range per phone, which is the PSID
 * layout with offset a = 0: 2^(16-k) ports starting at PSID << (16-k).
 * Written as offset (0), PSID-len k, PSID left-aligned in 16 bits (which
 * is the first port).  -EINVAL if the range is not such an aligned
 * power-of-two block.
 */
/* FNV-1a of a MAC: spreads consecutive MACs (phones of one vendor differ
 * in the last bytes only). */
uint32_t mac_hash(const uint8_t mac[6]);

int opt159_encode(uint16_t first, uint16_t last, uint8_t out[4]);

#endif /* NAPPT_POLICY_H */
