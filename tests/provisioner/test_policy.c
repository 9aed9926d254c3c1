// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Validation order (claim 9), the range allocator (claim 2: reserved
 * ports never handed out; no overlap; stickiness; exhaustion) and the
 * RFC 7618 option 159 encoding.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lease-store.h"
#include "lease-table.h"
#include "policy.h"

static const uint8_t CISCO_MAC[6] = { 0x00, 0x1b, 0x54, 0xaa, 0xbb, 0x0c };
static const uint8_t POLY_MAC[6] = { 0x00, 0x04, 0xf2, 0x01, 0x02, 0x03 };
static const uint8_t EVIL_MAC[6] = { 0x00, 0x1b, 0x54, 0xde, 0xad, 0x00 };
static const uint8_t OTHER_MAC[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };

static void test_mac_patterns(void **state)
{
	struct mac_pattern p;

	assert_int_equal(mac_pattern_parse("00:1b:54:aa:bb:0c", &p), 0);
	assert_true(mac_pattern_match(&p, CISCO_MAC));
	assert_false(mac_pattern_match(&p, EVIL_MAC));
	/* OUI, with and without a trailing star. */
	assert_int_equal(mac_pattern_parse("00:1B:54", &p), 0);
	assert_true(mac_pattern_match(&p, CISCO_MAC));
	assert_true(mac_pattern_match(&p, EVIL_MAC));
	assert_false(mac_pattern_match(&p, POLY_MAC));
	assert_int_equal(mac_pattern_parse("00-1b-54-*", &p), 0);
	assert_true(mac_pattern_match(&p, EVIL_MAC));
	/* Wildcard bytes in the middle. */
	assert_int_equal(mac_pattern_parse("00:1b:54:xx:*:0c", &p), 0);
	assert_true(mac_pattern_match(&p, CISCO_MAC));
	assert_false(mac_pattern_match(&p, EVIL_MAC));
	assert_int_equal(mac_pattern_parse("zz:1b:54", &p), -EINVAL);
	assert_int_equal(mac_pattern_parse("00:1b:54:aa:bb:0c:ff", &p),
			 -EINVAL);
	assert_int_equal(mac_pattern_parse("001", &p), -EINVAL);
	assert_int_equal(mac_pattern_parse("", &p), -EINVAL);
}

static void setup_policy(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(mac_pattern_parse("00:1b:54", &p->allow[0]), 0);
	assert_int_equal(mac_pattern_parse("00:04:f2:*", &p->allow[1]), 0);
	p->nallow = 2;
	assert_int_equal(mac_pattern_parse("00:1b:54:de:ad:*", &p->deny[0]), 0);
	p->ndeny = 1;
	snprintf(p->models[0].name, 64, "cisco-7940");
	p->models[0].vc[0].kind = VC_EXACT;
	snprintf(p->models[0].vc[0].text, 128,
		 "Cisco Systems, Inc. IP Phone CP-7940G");
	p->models[0].nvc = 1;
	snprintf(p->models[1].name, 64, "polycom");
	p->models[1].vc[0].kind = VC_PREFIX;
	snprintf(p->models[1].vc[0].text, 128, "Polycom-");
	p->models[1].nvc = 1;
	snprintf(p->models[2].name, 64, "yealink");
	p->models[2].vc[0].kind = VC_GLOB;
	snprintf(p->models[2].vc[0].text, 128, "yealink*T4[0-9]*");
	p->models[2].nvc = 1;
	p->nmodels = 3;
}

static int validate(const struct policy *p, const uint8_t *mac, const char *vc,
		    size_t len, enum verdict_reason *why)
{
	return policy_validate(p, mac, (const uint8_t *)vc, len, why);
}

static void test_validation_order(void **state)
{
	static const char cisco[] = "Cisco Systems, Inc. IP Phone CP-7940G";
	enum verdict_reason why;
	struct policy p;

	setup_policy(&p);
	/* With and without Cisco's trailing NUL. */
	assert_int_equal(validate(&p, CISCO_MAC, cisco, sizeof(cisco), &why),
			 0);
	assert_int_equal(why, REJECT_NONE);
	assert_int_equal(
		validate(&p, CISCO_MAC, cisco, sizeof(cisco) - 1, &why), 0);
	assert_int_equal(validate(&p, POLY_MAC, "Polycom-SPIP650", 15, &why),
			 1);
	assert_int_equal(validate(&p, POLY_MAC, "yealink SIP-T46S", 16, &why),
			 2);
	/* The MAC decides first: a valid identifier does not save it. */
	assert_int_equal(validate(&p, EVIL_MAC, cisco, sizeof(cisco), &why),
			 -EACCES);
	assert_int_equal(why, REJECT_MAC_DENIED);
	assert_int_equal(validate(&p, OTHER_MAC, cisco, sizeof(cisco), &why),
			 -EACCES);
	assert_int_equal(why, REJECT_MAC_UNKNOWN);
	/* Then the identifier. */
	assert_int_equal(validate(&p, CISCO_MAC, "MSFT 5.0", 8, &why), -EACCES);
	assert_int_equal(why, REJECT_VENDOR_UNKNOWN);
	assert_int_equal(validate(&p, CISCO_MAC, NULL, 0, &why), -EACCES);
	assert_int_equal(why, REJECT_NO_VENDOR_CLASS);
	assert_int_equal(validate(&p, CISCO_MAC, "\0\0", 2, &why), -EACCES);
	assert_int_equal(why, REJECT_NO_VENDOR_CLASS);
	/* An embedded NUL is not a trailing one: no prefix tricks. */
	assert_int_equal(validate(&p, CISCO_MAC, "Polycom-\0x", 10, &why),
			 -EACCES);
	assert_int_equal(why, REJECT_VENDOR_UNKNOWN);
	/* An empty allow-list lets every MAC through to the next step. */
	p.nallow = 0;
	assert_int_equal(validate(&p, OTHER_MAC, cisco, sizeof(cisco), &why),
			 0);
	assert_string_equal(reject_reason_str(REJECT_MAC_DENIED),
			    "MAC on the deny-list");
}

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static void test_alloc_reserved_overlap_exhaustion(void **state)
{
	struct alloc a;
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 0 };
	uint32_t priv, pub;
	uint16_t first, last;
	int n = 0, r;

	/* One public address, 64 slots of 1024; a /24 LAN. */
	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 1), 1, 10,
				    IP(100, 64, 0, 0), 256),
			 0);
	alloc_reserve_port(&a, 5060); /* the gateway's own SIP */
	alloc_reserve_port(&a, 40000);
	for (;;) {
		mac[5] = (uint8_t)n;
		mac[4] = (uint8_t)(n >> 8);
		r = alloc_pick(&a, mac, 1, 0, 0, &priv, &pub, &first, &last);
		if (r)
			break;
		assert_true(first >= 1024);
		assert_false(first <= 5060 && 5060 <= last);
		assert_false(first <= 40000 && 40000 <= last);
		assert_int_equal(last - first, 1023);
		assert_int_equal(pub, IP(203, 0, 113, 1));
		assert_true(priv >= IP(100, 64, 0, 2) &&
			    priv <= IP(100, 64, 0, 254));
		/* Taking it succeeds: nothing handed out twice. */
		assert_int_equal(alloc_take(&a, priv, pub, first, last), 0);
		n++;
		assert_true(n < 100);
	}
	/* 64 slots - 0-1023 - 5060's - 40000's - slot 1, whose derived
	 * address (key 1) is the gateway's. */
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(n, 60);
	/* A stored lease (alloc_take, at load) over a reserved port or
	 * 0-1023 is not taken either: reserved_ports added since, or a
	 * row the parser wrote.  Held, it would keep its phone on a range
	 * the map writer refuses (no ACK, no service) until it expires;
	 * refused, the phone is NAKed and leased again. */
	alloc_clear(&a);
	assert_int_equal(alloc_take(&a, IP(100, 64, 0, 4), IP(203, 0, 113, 1),
				    4096, 5119),
			 -EPERM);
	assert_int_equal(alloc_take(&a, IP(100, 64, 0, 0), IP(203, 0, 113, 1),
				    0, 1023),
			 -EPERM);
	assert_int_equal(alloc_take(&a, IP(100, 64, 0, 3), IP(203, 0, 113, 1),
				    3072, 6143),
			 -EPERM);
	assert_int_equal(alloc_take(&a, IP(100, 64, 0, 3), IP(203, 0, 113, 1),
				    3072, 4095),
			 0);
	alloc_free(&a);
}

static void test_alloc_sticky_and_conflicts(void **state)
{
	struct alloc a;
	const uint8_t mac[6] = { 0x00, 0x1b, 0x54, 1, 2, 3 };
	uint32_t priv, pub, priv2, pub2;
	uint16_t first, last, first2, last2;

	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 0), 16, 10,
				    IP(100, 64, 0, 0), 65536),
			 0);
	assert_int_equal(
		alloc_pick(&a, mac, 4, 0, 0, &priv, &pub, &first, &last), 0);
	/* Four slots, aligned, inside one address. */
	assert_int_equal(last - first + 1, 4096);
	assert_int_equal(first % 4096, 0);
	/* The same MAC is offered the same again... */
	assert_int_equal(alloc_pick(&a, mac, 4, 0, 0, &priv2, &pub2, &first2,
				    &last2),
			 0);
	assert_int_equal(priv2, priv);
	assert_int_equal(pub2, pub);
	assert_int_equal(first2, first);
	/* ...and after a release. */
	assert_int_equal(alloc_take(&a, priv, pub, first, last), 0);
	assert_int_equal(alloc_take(&a, priv, pub, first, last), -EADDRINUSE);
	assert_int_equal(alloc_take(&a, priv + 1, pub, first + 1024, last),
			 -EADDRINUSE);
	alloc_release(&a, priv, pub, first, last);
	assert_int_equal(alloc_pick(&a, mac, 4, 0, 0, &priv2, &pub2, &first2,
				    &last2),
			 0);
	assert_int_equal(first2, first);
	assert_int_equal(pub2, pub);
	/* Outside the pools. */
	assert_int_equal(alloc_take(&a, IP(100, 65, 0, 1), pub, first, last),
			 -ERANGE);
	assert_int_equal(alloc_take(&a, priv, IP(203, 0, 114, 0), first, last),
			 -ERANGE);
	assert_int_equal(alloc_pick(&a, mac, 65, 0, 0, &priv, &pub, &first,
				    &last),
			 -EINVAL);
	alloc_free(&a);
}

/* Issue 10: a range of a non-power-of-two number of slots starts at a
 * multiple of that number within its address, as documented, on every
 * address (64 slots per address is not a multiple of 3). */
static void test_alloc_non_power_of_two_aligned(void **state)
{
	struct alloc a;
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 9, 0, 0 };
	uint32_t priv, pub;
	uint16_t first, last;
	int i, n = 0;

	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 0), 4, 10,
				    IP(100, 64, 0, 0), 1024),
			 0);
	for (i = 0; i < 200; i++) {
		mac[5] = (uint8_t)i;
		mac[4] = (uint8_t)(i >> 8);
		if (alloc_pick(&a, mac, 3, 0, 0, &priv, &pub, &first, &last))
			break;
		assert_int_equal(last - first + 1, 3 * 1024);
		assert_int_equal((first >> 10) % 3, 0);
		assert_int_equal(alloc_take(&a, priv, pub, first, last), 0);
		n++;
	}
	/* 21 windows of 3 per address (slot 0 reserved: 20 usable). */
	assert_int_equal(n, 4 * 20);
	assert_int_equal(alloc_windows(&a, 3), 20);
	alloc_reserve_port(&a, 30000); /* slot 29: window 27-29 */
	assert_int_equal(alloc_windows(&a, 3), 19);
	alloc_free(&a);
}

static void test_alloc_lan_exhaustion(void **state)
{
	struct alloc a;
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 0 };
	uint32_t priv, pub;
	uint16_t first, last;
	int i;

	/* A /29: .0 network, .1 gateway, .7 broadcast: 5 phones. */
	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 0), 16, 10,
				    IP(100, 64, 0, 0), 8),
			 0);
	for (i = 0; i < 5; i++) {
		mac[5] = (uint8_t)i;
		assert_int_equal(alloc_pick(&a, mac, 1, 0, 0, &priv, &pub,
					    &first, &last),
				 0);
		assert_true(priv >= IP(100, 64, 0, 2) &&
			    priv <= IP(100, 64, 0, 6));
		assert_int_equal(alloc_take(&a, priv, pub, first, last), 0);
	}
	mac[5] = 99;
	assert_int_equal(alloc_pick(&a, mac, 1, 0, 0, &priv, &pub, &first,
				    &last),
			 -ENOSPC);
	alloc_free(&a);
}

/*
 * Issue 13: the private address is derived from the range, lan_net + the
 * key of its first slot (pub_idx * slots_per_ip + first slot), so the
 * data plane finds a phone from (public address, port) in one read.
 * Checked on every pick, for models of 1, 2, 3 and 4 slots sharing one
 * pool until it is exhausted.
 */
static uint32_t derived(const struct alloc *a, uint32_t pub, uint16_t first)
{
	return a->lan_net + (pub - a->pub_net) * a->slots_per_ip +
	       (first >> a->slot_shift);
}

static void test_alloc_derived_address(void **state)
{
	static const unsigned int sizes[] = { 1, 2, 3, 4 };
	struct alloc a;
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 7, 0, 0 };
	uint32_t priv, pub;
	uint16_t first, last;
	int i, n = 0, fails = 0;

	/* 4 public addresses x 64 slots = 256 keys; a /16 LAN. */
	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 8), 4, 10,
				    IP(100, 64, 0, 0), 65536),
			 0);
	for (i = 0; i < 2000 && fails < 4; i++) {
		unsigned int ns = sizes[i % 4];

		mac[5] = (uint8_t)i;
		mac[4] = (uint8_t)(i >> 8);
		if (alloc_pick(&a, mac, ns, 0, 0, &priv, &pub, &first, &last)) {
			fails++;
			continue;
		}
		assert_int_equal(priv, derived(&a, pub, first));
		assert_true(priv - a.lan_net >= 2); /* not .0, not .1 */
		assert_int_equal(last - first + 1, ns * 1024);
		assert_int_equal((first >> 10) % ns, 0);
		/* Any other private address for this range is refused. */
		assert_int_equal(alloc_take(&a, priv + 1, pub, first, last),
				 -EADDRNOTAVAIL);
		assert_int_equal(alloc_take(&a, priv, pub, first, last), 0);
		n++;
	}
	/* Every slot but 0-1023 and the gateway's key 1 was usable. */
	assert_true(n > 4 * 63 / 4);
	alloc_free(&a);
}

/* A model's lan_range is a range of derived addresses: every pick is
 * inside it, and exactly the windows whose key falls inside it are
 * offered (counted here by brute force over the keys). */
static void test_alloc_lan_range_derived(void **state)
{
	struct alloc a;
	uint8_t mac[6] = { 0x00, 0x04, 0xf2, 0, 0, 0 };
	uint32_t lo = IP(100, 64, 0, 130), hi = IP(100, 64, 0, 200);
	uint32_t priv, pub, k;
	uint16_t first, last;
	int i, n = 0, want = 0;

	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 0), 16, 10,
				    IP(100, 64, 0, 0), 65536),
			 0);
	for (k = lo - a.lan_net; k <= hi - a.lan_net; k++)
		want += k % 64 != 0; /* slot 0 holds ports 0-1023 */
	for (i = 0; i < 1000; i++) {
		mac[5] = (uint8_t)i;
		mac[4] = (uint8_t)(i >> 8);
		if (alloc_pick(&a, mac, 1, lo, hi, &priv, &pub, &first, &last))
			break;
		assert_true(priv >= lo && priv <= hi);
		assert_int_equal(priv, derived(&a, pub, first));
		assert_int_equal(alloc_take(&a, priv, pub, first, last), 0);
		n++;
	}
	assert_int_equal(n, want);
	/* The rest of the pool is still there for other models. */
	assert_int_equal(
		alloc_pick(&a, mac, 1, 0, 0, &priv, &pub, &first, &last), 0);
	assert_false(priv >= lo && priv <= hi);
	alloc_free(&a);
}

/* RFC 2131 4.4.4: a declined address is held; with derived addresses
 * that means the window starting at its slot is not offered while held
 * (the quarantine marks lan_used, as server.c does), and only that one. */
static void test_alloc_quarantine_holds_window(void **state)
{
	struct alloc a;
	const uint8_t mac[6] = { 0x00, 0x1b, 0x54, 3, 3, 3 };
	uint32_t priv, pub, priv2, pub2, k;
	uint16_t first, last, first2, last2;

	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 0), 2, 10,
				    IP(100, 64, 0, 0), 65536),
			 0);
	assert_int_equal(
		alloc_pick(&a, mac, 1, 0, 0, &priv, &pub, &first, &last), 0);
	a.lan_used[priv - a.lan_net] = 1; /* declined: quarantined */
	assert_int_equal(alloc_pick(&a, mac, 1, 0, 0, &priv2, &pub2, &first2,
				    &last2),
			 0);
	assert_true(priv2 != priv);
	assert_false(pub2 == pub && first2 == first);
	assert_int_equal(priv2, derived(&a, pub2, first2));
	/* Hold every address but one: that one is the only offer. */
	for (k = 2; k < 128; k++) {
		if (k != 77)
			a.lan_used[k] = 1;
	}
	assert_int_equal(
		alloc_pick(&a, mac, 1, 0, 0, &priv, &pub, &first, &last), 0);
	assert_int_equal(priv, IP(100, 64, 0, 77));
	assert_int_equal(pub, IP(203, 0, 113, 1));
	assert_int_equal(first, (77 - 64) * 1024);
	a.lan_used[77] = 1;
	assert_int_equal(alloc_pick(&a, mac, 1, 0, 0, &priv, &pub, &first,
				    &last),
			 -ENOSPC);
	/* A 2-slot window whose first slot is free of any hold may cover a
	 * held address's slot as its second: that address is not given. */
	a.lan_used[76] = 0;
	assert_int_equal(
		alloc_pick(&a, mac, 2, 0, 0, &priv, &pub, &first, &last), 0);
	assert_int_equal(priv, IP(100, 64, 0, 76));
	assert_int_equal(last - first + 1, 2048);
	alloc_free(&a);
}

/* A LAN pool smaller than pub_count * slots_per_ip serves only the public
 * addresses whose keys fit: a /24 with 16 public addresses of 64 slots
 * (1,024 keys) gives the first 4 addresses, less slot 0 of each, the
 * network's key 0... */
static void test_alloc_small_lan_exhausts(void **state)
{
	struct alloc a;
	uint8_t mac[6] = { 2, 0, 0, 0, 0, 0 };
	uint32_t priv, pub, k;
	uint16_t first, last;
	int i, n = 0, want = 0;

	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 0), 16, 10,
				    IP(100, 64, 0, 0), 256),
			 0);
	/* Keys 2..254 (not .0, .1, the broadcast .255), not a slot 0. */
	for (k = 2; k < 255; k++)
		want += k % 64 != 0;
	assert_int_equal(alloc_derivable(&a, 1, 0, 0), want);
	for (i = 0; i < 2000; i++) {
		mac[5] = (uint8_t)i;
		mac[4] = (uint8_t)(i >> 8);
		if (alloc_pick(&a, mac, 1, 0, 0, &priv, &pub, &first, &last))
			break;
		assert_true(pub < IP(203, 0, 113, 4));
		assert_int_equal(priv, derived(&a, pub, first));
		assert_int_equal(alloc_take(&a, priv, pub, first, last), 0);
		n++;
	}
	assert_int_equal(n, want);
	/* A range on an address whose keys do not fit has no address. */
	assert_int_equal(alloc_take(&a, IP(100, 64, 0, 9), IP(203, 0, 113, 5),
				    2048, 3071),
			 -EADDRNOTAVAIL);
	alloc_free(&a);
}

/* A quarantined address given back to a phone listed exactly
 * (server.c unquarantine_for) must serve its model: its own window is
 * aligned for the model's size, free, in its lan_range; its hold alone
 * is ignored. */
static void test_alloc_window_at(void **state)
{
	struct alloc a;
	uint32_t pub;
	uint16_t first, last;

	assert_int_equal(alloc_init(&a, IP(203, 0, 113, 0), 4, 10,
				    IP(100, 64, 0, 0), 1024),
			 0);
	/* 100.64.0.76: 203.0.113.1 slot 12 (ports 12288-). */
	a.lan_used[76] = 1;
	assert_int_equal(alloc_window_at(&a, IP(100, 64, 0, 76), 4, 0, 0, &pub,
					 &first, &last),
			 0);
	assert_int_equal(pub, IP(203, 0, 113, 1));
	assert_int_equal(first, 12 * 1024);
	assert_int_equal(last, 16 * 1024 - 1);
	/* Not aligned for 8 slots; outside a lan_range; a slot 0. */
	assert_int_equal(alloc_window_at(&a, IP(100, 64, 0, 76), 8, 0, 0, &pub,
					 &first, &last),
			 -ERANGE);
	assert_int_equal(alloc_window_at(&a, IP(100, 64, 0, 76), 1,
					 IP(100, 64, 0, 80), IP(100, 64, 0, 90),
					 &pub, &first, &last),
			 -ERANGE);
	alloc_reserve_port(&a, 100);
	assert_int_equal(alloc_window_at(&a, IP(100, 64, 0, 64), 1, 0, 0, &pub,
					 &first, &last),
			 -EADDRINUSE);
	/* Past the public pool's keys (4 x 64), or the gateway's key 1. */
	assert_int_equal(alloc_window_at(&a, IP(100, 64, 1, 10), 1, 0, 0, &pub,
					 &first, &last),
			 -ERANGE);
	assert_int_equal(alloc_window_at(&a, IP(100, 64, 0, 1), 1, 0, 0, &pub,
					 &first, &last),
			 -ERANGE);
	/* A slot of its window taken by another phone. */
	assert_int_equal(alloc_take(&a, IP(100, 64, 0, 78), IP(203, 0, 113, 1),
				    14 * 1024, 15 * 1024 - 1),
			 0);
	assert_int_equal(alloc_window_at(&a, IP(100, 64, 0, 76), 4, 0, 0, &pub,
					 &first, &last),
			 -EADDRINUSE);
	alloc_free(&a);
}

/*
 * Several gateways (issue 14) with derived addresses (issue 13): part k
 * of the LAN pool is exactly the addresses derived from part k of the
 * public pool, or a gateway's fence (parts.c) would hold its own phones'
 * addresses and it could lease nothing in its part.
 */
static void test_part_lan_is_derived(void **state)
{
	struct lease_gateway g = { .pub_net = IP(203, 0, 113, 0),
				   .pub_count = 16,
				   .lan_net = IP(100, 64, 0, 0),
				   .lan_size = 65536,
				   .slots_per_ip = 64 };
	unsigned int nparts, p, slot;

	for (nparts = 1; nparts <= 16; nparts++) {
		g.nparts = nparts;
		for (p = 0; p < g.pub_count; p++)
			for (slot = 0; slot < 64; slot++)
				assert_int_equal(
					lease_part_lan(&g, g.lan_net + p * 64 +
								   slot),
					lease_part_pub(&g, g.pub_net + p));
		/* Past the public pool's keys: nobody's; outside: -1. */
		assert_int_equal(lease_part_lan(&g, g.lan_net + 16 * 64), -1);
		assert_int_equal(lease_part_lan(&g, g.lan_net - 1), -1);
		assert_int_equal(lease_part_lan(&g, g.lan_net + 65536), -1);
	}
}

static void test_opt159(void **state)
{
	uint8_t o[4];

	/* RFC 7597 with offset 0: the block of 2^(16-k) ports at PSID. */
	assert_int_equal(opt159_encode(4096, 8191, o), 0);
	assert_memory_equal(o, "\x00\x04\x10\x00", 4);
	assert_int_equal(opt159_encode(2048, 3071, o), 0);
	assert_memory_equal(o, "\x00\x06\x08\x00", 4);
	assert_int_equal(opt159_encode(63488, 65535, o), 0);
	assert_memory_equal(o, "\x00\x05\xf8\x00", 4);
	/* Not PSID-shaped: unaligned, or not a power of two. */
	assert_int_equal(opt159_encode(3072, 5119, o), -EINVAL);
	assert_int_equal(opt159_encode(2048, 3000, o), -EINVAL);
	assert_int_equal(opt159_encode(3071, 2048, o), -EINVAL);
}

/* --- lease table ---------------------------------------------------------- */

static void mac_n(uint8_t mac[6], uint32_t n)
{
	mac[0] = 0x00;
	mac[1] = 0x1b;
	mac[2] = 0x54;
	mac[3] = (uint8_t)(n >> 16);
	mac[4] = (uint8_t)(n >> 8);
	mac[5] = (uint8_t)n;
}

/* 50,000 entries (several rehashes and array moves): every one found
 * with its own data; deleting every other one leaves the rest intact and
 * the freed slots are reused. */
static void test_lt_add_get_del(void **state)
{
	struct lease_table t;
	uint8_t mac[6];
	uint32_t i, cap;

	(void)state;
	assert_int_equal(lt_init(&t, 0), 0);
	for (i = 0; i < 50000; i++) {
		struct lt_entry *e;

		mac_n(mac, i);
		e = lt_add(&t, mac);
		assert_non_null(e);
		assert_int_equal(e->state, LT_FREE);
		e->priv_ip = i;
		lt_bind(&t, e, 1000 + i);
		/* Adding again returns the same entry. */
		assert_ptr_equal(lt_add(&t, mac), e);
	}
	assert_int_equal(t.used, 50000);
	for (i = 0; i < 50000; i += 2) {
		mac_n(mac, i);
		lt_del(&t, lt_get(&t, mac));
	}
	assert_int_equal(t.used, 25000);
	for (i = 0; i < 50000; i++) {
		struct lt_entry *e;

		mac_n(mac, i);
		e = lt_get(&t, mac);
		if (i % 2) {
			assert_non_null(e);
			assert_int_equal(e->priv_ip, i);
			assert_int_equal(e->until, 1000 + i);
			assert_int_equal(e->state, LT_BOUND);
		} else {
			assert_null(e);
		}
	}
	cap = t.cap;
	for (i = 0; i < 25000; i++) {
		mac_n(mac, 100000 + i);
		assert_non_null(lt_add(&t, mac));
	}
	assert_int_equal(t.cap, cap);
	assert_int_equal(t.noffered, 0);
	lt_free(&t);
}

/* Offers: oldest first, a repeated offer moves to the young end, binding
 * or deleting takes an entry off the list, the count follows. */
static void test_lt_offers(void **state)
{
	struct lease_table t;
	struct lt_entry *e[4];
	uint8_t mac[6];
	int i;

	(void)state;
	assert_int_equal(lt_init(&t, 0), 0);
	assert_null(lt_oldest_offer(&t));
	for (i = 0; i < 4; i++) {
		mac_n(mac, (uint32_t)i);
		e[i] = lt_add(&t, mac);
		lt_offer(&t, e[i], 10 + i);
	}
	assert_int_equal(t.noffered, 4);
	assert_ptr_equal(lt_oldest_offer(&t), e[0]);
	lt_offer(&t, e[0], 20); /* DISCOVER again */
	assert_int_equal(t.noffered, 4);
	assert_ptr_equal(lt_oldest_offer(&t), e[1]);
	lt_bind(&t, e[1], 3600);
	assert_int_equal(t.noffered, 3);
	assert_int_equal(e[1]->state, LT_BOUND);
	assert_ptr_equal(lt_oldest_offer(&t), e[2]);
	lt_del(&t, e[2]);
	assert_ptr_equal(lt_oldest_offer(&t), e[3]);
	lt_del(&t, e[3]);
	assert_ptr_equal(lt_oldest_offer(&t), e[0]);
	assert_int_equal(lt_oldest_offer(&t)->until, 20);
	lt_del(&t, e[0]);
	assert_null(lt_oldest_offer(&t));
	assert_int_equal(t.noffered, 0);
	assert_int_equal(t.used, 1);
	lt_free(&t);
}

/* Bound entries leave the expiry heap soonest first, whatever the order
 * they were bound, renewed, offered again or deleted in. */
static void test_lt_expiry_heap(void **state)
{
	struct lease_table t;
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0, 0, 0 };
	int64_t last = -1;
	uint32_t i, n = 0;

	assert_int_equal(lt_init(&t, 0), 0);
	assert_null(lt_soonest_bound(&t));
	srand(3);
	for (i = 0; i < 20000; i++) {
		struct lt_entry *e;

		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		mac[3] = (uint8_t)(i >> 16);
		e = lt_add(&t, mac);
		assert_non_null(e);
		assert_int_equal(lt_bind(&t, e, rand() % 100000), 0);
		if (i % 3 == 0) /* a renewal, later or sooner */
			assert_int_equal(lt_bind(&t, e, rand() % 100000), 0);
		if (i % 7 == 0) /* an offer again: out of the heap */
			lt_offer(&t, e, 5);
		if (i % 11 == 0)
			lt_del(&t, e);
	}
	assert_int_equal(t.nheap, t.used - t.noffered);
	while (lt_soonest_bound(&t)) {
		struct lt_entry *e = lt_soonest_bound(&t);

		assert_int_equal(e->state, LT_BOUND);
		assert_true(e->until >= last);
		last = e->until;
		lt_del(&t, e);
		n++;
	}
	assert_int_equal(t.used, t.noffered);
	assert_true(n > 10000);
	lt_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac_patterns),
		cmocka_unit_test(test_validation_order),
		cmocka_unit_test(test_alloc_reserved_overlap_exhaustion),
		cmocka_unit_test(test_alloc_sticky_and_conflicts),
		cmocka_unit_test(test_alloc_lan_exhaustion),
		cmocka_unit_test(test_alloc_non_power_of_two_aligned),
		cmocka_unit_test(test_alloc_derived_address),
		cmocka_unit_test(test_alloc_lan_range_derived),
		cmocka_unit_test(test_alloc_quarantine_holds_window),
		cmocka_unit_test(test_alloc_small_lan_exhausts),
		cmocka_unit_test(test_alloc_window_at),
		cmocka_unit_test(test_part_lan_is_derived),
		cmocka_unit_test(test_opt159),
		cmocka_unit_test(test_lt_add_get_del),
		cmocka_unit_test(test_lt_offers),
		cmocka_unit_test(test_lt_expiry_heap),
	};

	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
