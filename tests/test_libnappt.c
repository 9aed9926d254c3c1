// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libnappt against real (private, unpinned) maps: the parsers, the
 * mapping checks, and the slot bookkeeping that keeps invariant 1 (no two
 * live leases share a (public IP, port)) true at the map level.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "libnappt.h"
#define PRIVATE_MAPS_NO_SKEL
#include "private-maps.h"

static struct nappt_maps M;

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct nappt_phone phone(const char *pub, uint16_t first, uint16_t last,
				uint8_t tag)
{
	struct nappt_phone p = { 0 };

	p.pub_ip = ip(pub);
	p.port_first = first;
	p.port_last = last;
	p.mac[0] = 2;
	p.mac[5] = tag;
	return p;
}

/* The derived private address of p (network order). */
static uint32_t addr_of(const struct nappt_phone *p)
{
	uint32_t a = 0;

	assert_int_equal(nappt_phone_addr(&M.cfg, p->pub_ip, p->port_first, &a),
			 0);
	return a;
}

static uint32_t key_at(const char *pub, uint32_t port)
{
	return nappt_slot_key(&M.cfg,
			      (uint32_t)nappt_pub_index(&M.cfg, ip(pub)),
			      (__u16)port);
}

/* The entry of a slot, read through the syscall (not libnappt's mmap):
 * what libnappt stored reached the map the data plane reads. */
static struct nappt_slot slot_at(const char *pub, uint32_t port)
{
	uint32_t key = key_at(pub, port);
	struct nappt_slot v;

	memset(&v, 0x5a, sizeof(v));
	assert_int_equal(bpf_map_lookup_elem(M.slots_fd, &key, &v), 0);
	return v;
}

/* The phone a slot names (LAN index + 1, 0 if free). */
static uint32_t owner_at(const char *pub, uint32_t port)
{
	struct nappt_slot v = slot_at(pub, port);

	if (!nappt_slot_valid(&v))
		return v.owner || v.mac[0] || v.mac[5] ? 0xdead : 0;
	return nappt_slot_owner(key_at(pub, port), &v) + 1;
}

static uint32_t idx_of(uint32_t priv)
{
	return (uint32_t)nappt_phone_index(&M.cfg, priv);
}

static int group_setup(void **state)
{
	struct nappt_config cfg = {
		.lan_net = ip("100.64.1.0"),
		.lan_size = 256,
		.lan_gw = ip("100.64.1.1"),
		.pub_net = ip("203.0.113.8"),
		.pub_count = 4,
		.slot_shift = 10,
		.slots_per_ip = 64,
	};

	return private_maps_bare(&M, &cfg);
}

static int group_teardown(void **state)
{
	nappt_maps_close(&M);
	return 0;
}

static void test_parse_mac(void **state)
{
	uint8_t mac[6];

	assert_int_equal(nappt_parse_mac("00:1b:54:aa:bb:0c", mac), 0);
	assert_int_equal(mac[0], 0x00);
	assert_int_equal(mac[5], 0x0c);
	assert_int_equal(nappt_parse_mac("00-1B-54-AA-BB-0C", mac), 0);
	assert_int_equal(mac[1], 0x1b);
	assert_int_equal(nappt_parse_mac("00:1b:54:aa:bb", mac), -EINVAL);
	assert_int_equal(nappt_parse_mac("00:1b:54:aa:bb:0c:11", mac), -EINVAL);
	assert_int_equal(nappt_parse_mac("00:1b-54:aa:bb:0c", mac), -EINVAL);
	assert_int_equal(nappt_parse_mac("zz:1b:54:aa:bb:0c", mac), -EINVAL);
	assert_int_equal(nappt_parse_mac("", mac), -EINVAL);
}

static void test_parse_range(void **state)
{
	uint16_t a, b;

	assert_int_equal(nappt_parse_range("2048-3071", &a, &b), 0);
	assert_int_equal(a, 2048);
	assert_int_equal(b, 3071);
	assert_int_equal(nappt_parse_range("5060", &a, &b), 0);
	assert_int_equal(a, 5060);
	assert_int_equal(b, 5060);
	assert_int_equal(nappt_parse_range("3071-2048", &a, &b), -EINVAL);
	assert_int_equal(nappt_parse_range("1-70000", &a, &b), -ERANGE);
	assert_int_equal(nappt_parse_range("-5", &a, &b), -EINVAL);
	assert_int_equal(nappt_parse_range("5-", &a, &b), -EINVAL);
	assert_int_equal(nappt_parse_range("5-6x", &a, &b), -EINVAL);
}

/* Issue 13: the private address is a function of (public address, first
 * slot): lan_net + pub_idx * slots_per_ip + slot. */
static void test_addr(void **state)
{
	struct nappt_config small = M.cfg;
	uint32_t a = 0;

	assert_int_equal(nappt_phone_addr(&M.cfg, ip("203.0.113.9"), 2048, &a),
			 0);
	assert_int_equal(a, ip("100.64.1.66")); /* 1 * 64 + 2 */
	assert_int_equal(nappt_phone_addr(&M.cfg, ip("203.0.113.8"), 63488, &a),
			 0);
	assert_int_equal(a, ip("100.64.1.62"));
	assert_int_equal(nappt_phone_addr(&M.cfg, ip("203.0.113.11"), 1024, &a),
			 0);
	assert_int_equal(a, ip("100.64.1.193"));
	/* Key 1 is the gateway's own address (lan_gw): no range's. */
	a = 0;
	assert_int_equal(nappt_phone_addr(&M.cfg, ip("203.0.113.8"), 1024, &a),
			 -EADDRINUSE);
	assert_int_equal(a, 0);
	/* Outside the public pool. */
	assert_int_equal(nappt_phone_addr(&M.cfg, ip("203.0.113.12"), 2048, &a),
			 -ERANGE);
	assert_int_equal(nappt_phone_addr(&M.cfg, ip("203.0.113.7"), 2048, &a),
			 -ERANGE);
	/* The last slot of the last address: key 255, the LAN broadcast. */
	assert_int_equal(nappt_phone_addr(&M.cfg, ip("203.0.113.11"), 64512,
					  &a),
			 -ERANGE);
	/* A LAN pool of 128 serves the first two public addresses only. */
	small.lan_size = 128;
	assert_int_equal(nappt_phone_addr(&small, ip("203.0.113.9"), 62464, &a),
			 0);
	assert_int_equal(a, ip("100.64.1.125"));
	assert_int_equal(nappt_phone_addr(&small, ip("203.0.113.9"), 64512, &a),
			 -ERANGE);
	assert_int_equal(nappt_phone_addr(&small, ip("203.0.113.10"), 2048, &a),
			 -ERANGE);
}

static void test_check(void **state)
{
	struct nappt_phone p = phone("203.0.113.8", 2048, 3071, 1);
	uint32_t a = ip("100.64.1.2");

	assert_int_equal(nappt_phone_check(&M.cfg, a, &p), 0);
	/* Any other address in the pool is not this range's: the data
	 * plane would find another phone (or none) by arithmetic. */
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p),
			 -EADDRNOTAVAIL);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.3"), &p),
			 -EADDRNOTAVAIL);
	/* Outside the LAN pool, outside the public pool. */
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.2.2"), &p),
			 -ERANGE);
	p.pub_ip = ip("203.0.113.12");
	assert_int_equal(nappt_phone_check(&M.cfg, a, &p), -ERANGE);
	/* The gateway's own address (key 1: 1024-2047 on the first public
	 * address) is never a phone's. */
	p = phone("203.0.113.8", 1024, 2047, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.1"), &p),
			 -EINVAL);
	/* Well-known ports are never mapped; ranges are whole slots. */
	p = phone("203.0.113.8", 0, 1023, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.0"), &p),
			 -EINVAL);
	p = phone("203.0.113.8", 2048, 3000, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, a, &p), -EINVAL);
	p = phone("203.0.113.8", 2049, 3071, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, a, &p), -EINVAL);
	p = phone("203.0.113.8", 64512, 65535, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.63"), &p), 0);
	/* A group MAC would flood the phone's traffic to the whole LAN. */
	p.mac[0] = 0x01;
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.63"), &p),
			 -EINVAL);
	memset(p.mac, 0xff, 6);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.63"), &p),
			 -EINVAL);
	memset(p.mac, 0, 6);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.63"), &p),
			 -EINVAL);
}

static void test_add_get_del(void **state)
{
	struct nappt_phone p = phone("203.0.113.9", 4096, 6143, 7), got;
	uint32_t a = addr_of(&p);
	struct nappt_slot s;

	assert_int_equal(a, ip("100.64.1.68"));
	/* Not the derived address: refused, nothing written. */
	assert_int_equal(nappt_phone_add(&M, ip("100.64.1.7"), &p),
			 -EADDRNOTAVAIL);
	assert_int_equal(owner_at("203.0.113.9", 4096), 0);
	assert_int_equal(nappt_phone_add(&M, a, &p), 0);
	assert_int_equal(nappt_phone_get(&M, a, &got), 0);
	assert_int_equal(got.pub_ip, ip("203.0.113.9"));
	assert_int_equal(got.port_first, 4096);
	assert_int_equal(got.port_last, 6143);
	assert_memory_equal(got.mac, p.mac, 6);
	assert_true(got.flags & NAPPT_PHONE_VALID);
	/* Both slots name the phone (by distance) with its MAC, nothing
	 * around them. */
	s = slot_at("203.0.113.9", 4096);
	assert_int_equal(s.owner, NAPPT_SLOT_VALID);
	assert_memory_equal(s.mac, p.mac, 6);
	s = slot_at("203.0.113.9", 5120);
	assert_int_equal(s.owner, NAPPT_SLOT_VALID | 1);
	assert_memory_equal(s.mac, p.mac, 6);
	assert_int_equal(owner_at("203.0.113.9", 6143), idx_of(a) + 1);
	assert_int_equal(owner_at("203.0.113.9", 3072), 0);
	assert_int_equal(owner_at("203.0.113.9", 6144), 0);
	/* Its second slot's address is no phone. */
	assert_int_equal(nappt_phone_get(&M, ip("100.64.1.69"), &got), -ENOENT);

	assert_int_equal(nappt_phone_del(&M, a), 0);
	assert_int_equal(nappt_phone_get(&M, a, &got), -ENOENT);
	assert_int_equal(owner_at("203.0.113.9", 4096), 0);
	assert_int_equal(owner_at("203.0.113.9", 5120), 0);
	assert_int_equal(nappt_phone_del(&M, a), -ENOENT);
	assert_int_equal(nappt_phone_del(&M, ip("100.64.2.7")), -ERANGE);
}

static void test_overlap_refused(void **state)
{
	struct nappt_phone a = phone("203.0.113.10", 8192, 10239, 1);
	struct nappt_phone b = phone("203.0.113.10", 9216, 11263, 2);
	struct nappt_phone c = phone("203.0.113.10", 7168, 9215, 3), got;

	assert_int_equal(nappt_phone_add(&M, addr_of(&a), &a), 0);
	/* b's first slot is a's second: refused, and nothing written. */
	assert_int_equal(nappt_phone_add(&M, addr_of(&b), &b), -EBUSY);
	assert_int_equal(nappt_phone_get(&M, addr_of(&b), &got), -ENOENT);
	assert_int_equal(owner_at("203.0.113.10", 10240), 0);
	assert_int_equal(owner_at("203.0.113.10", 9216),
			 idx_of(addr_of(&a)) + 1);
	/* c's second slot is a's first. */
	assert_int_equal(nappt_phone_add(&M, addr_of(&c), &c), -EBUSY);
	assert_int_equal(owner_at("203.0.113.10", 7168), 0);
	assert_int_equal(nappt_phone_get(&M, addr_of(&a), &got), 0);
	assert_int_equal(got.port_last, 10239);
	/* Adjacent ranges are fine, and each phone keeps its own. */
	c.port_last = 8191;
	assert_int_equal(nappt_phone_add(&M, addr_of(&c), &c), 0);
	assert_int_equal(nappt_phone_get(&M, addr_of(&c), &got), 0);
	assert_int_equal(got.port_last, 8191);
	assert_int_equal(nappt_phone_get(&M, addr_of(&a), &got), 0);
	assert_int_equal(got.port_first, 8192);
	assert_int_equal(got.port_last, 10239);
	/* Same range on another public address is another address. */
	b.pub_ip = ip("203.0.113.11");
	assert_int_equal(nappt_phone_add(&M, addr_of(&b), &b), 0);
	assert_int_equal(nappt_phone_del(&M, addr_of(&a)), 0);
	assert_int_equal(nappt_phone_del(&M, addr_of(&b)), 0);
	assert_int_equal(nappt_phone_del(&M, addr_of(&c)), 0);
}

static void test_replace_frees_old(void **state)
{
	struct nappt_phone a = phone("203.0.113.8", 16384, 19455, 3), got;
	uint32_t pa = addr_of(&a), i = idx_of(pa) + 1;

	assert_int_equal(nappt_phone_add(&M, pa, &a), 0);
	/* Grown by one slot. */
	a.port_last = 20479;
	assert_int_equal(nappt_phone_add(&M, pa, &a), 0);
	assert_int_equal(owner_at("203.0.113.8", 19456), i);
	assert_int_equal(nappt_phone_get(&M, pa, &got), 0);
	assert_int_equal(got.port_last, 20479);
	/* Shrunk to one: the slots left behind are freed. */
	a.port_last = 17407;
	assert_int_equal(nappt_phone_add(&M, pa, &a), 0);
	assert_int_equal(owner_at("203.0.113.8", 16384), i);
	assert_int_equal(owner_at("203.0.113.8", 17408), 0);
	assert_int_equal(owner_at("203.0.113.8", 19456), 0);
	assert_int_equal(nappt_phone_get(&M, pa, &got), 0);
	assert_int_equal(got.port_last, 17407);
	/* Another MAC: inbound delivers to the new one. */
	a.mac[5] = 4;
	assert_int_equal(nappt_phone_add(&M, pa, &a), 0);
	assert_int_equal(slot_at("203.0.113.8", 16384).mac[5], 4);
	assert_int_equal(nappt_phone_del(&M, pa), 0);
}

struct seen {
	int n;
	uint32_t last;
};

static int collect(uint32_t priv, const struct nappt_phone *p, void *arg)
{
	struct seen *s = arg;
	uint32_t want = 0;

	/* Private-address order, and each the phone's derived address. */
	assert_true(ntohl(priv) > s->last);
	assert_int_equal(
		nappt_phone_addr(&M.cfg, p->pub_ip, p->port_first, &want), 0);
	assert_int_equal(priv, want);
	s->last = ntohl(priv);
	s->n++;
	return 0;
}

static void test_foreach(void **state)
{
	struct nappt_phone big = phone("203.0.113.10", 2048, 10239, 0x77);
	struct seen s = { 0 };
	int i;

	for (i = 0; i < 40; i++) {
		struct nappt_phone p =
			phone("203.0.113.11", (uint16_t)(1024 * (i + 2)),
			      (uint16_t)(1024 * (i + 3) - 1), (uint8_t)i);

		assert_int_equal(nappt_phone_add(&M, addr_of(&p), &p), 0);
	}
	/* Eight slots, one phone. */
	assert_int_equal(nappt_phone_add(&M, addr_of(&big), &big), 0);
	assert_int_equal(nappt_phone_foreach(&M, collect, &s), 0);
	assert_int_equal(s.n, 41);
	for (i = 0; i < 40; i++) {
		struct nappt_phone p =
			phone("203.0.113.11", (uint16_t)(1024 * (i + 2)),
			      (uint16_t)(1024 * (i + 3) - 1), (uint8_t)i);

		assert_int_equal(nappt_phone_del(&M, addr_of(&p)), 0);
	}
	assert_int_equal(nappt_phone_del(&M, addr_of(&big)), 0);
	s.n = 0;
	s.last = 0;
	assert_int_equal(nappt_phone_foreach(&M, collect, &s), 0);
	assert_int_equal(s.n, 0);
}

/*
 * A model of what a BPF reader on another CPU can see.  The test binary is
 * linked with --wrap=nappt__slot_store, so every store libnappt makes to
 * `slots` passes through here first, with the table as it is just before
 * it.  A reader loads one entry as one 8-byte word: it sees each entry old
 * or new.  The order of the stores must keep every reader right:
 *  - an entry never goes from one phone (or MAC) to another but through
 *    free (a torn pair of reads would otherwise deliver one phone's
 *    traffic to another MAC);
 *  - a first slot is set (the phone leased: ARP, the gateway, outbound's
 *    lease check) only when every other slot of the range being added is
 *    already set, and no other slot of a leased phone is ever set or
 *    freed (a phone is leased with all its ports or not at all).
 * Every store must be one aligned 8-byte store into the mmap, and no
 * write may bypass it (a shadow of the table is compared after each
 * call).
 */
static int model_on, model_bad, model_stores;
static const struct nappt_phone *model_want; /* the add in progress */
static uint64_t model_shadow[256];

static uint64_t word(uint32_t key)
{
	return __atomic_load_n((uint64_t *)(void *)&M.slot_mem[key],
			       __ATOMIC_ACQUIRE);
}

static struct nappt_slot slot_w(uint64_t v)
{
	struct nappt_slot s;

	memcpy(&s, &v, sizeof(s));
	return s;
}

static int leased_by(uint32_t idx, const uint8_t *mac)
{
	struct nappt_slot s = slot_w(word(idx));

	return nappt_slot_valid(&s) && !(s.owner & NAPPT_SLOT_DIST_MASK) &&
	       (!mac || !memcmp(s.mac, mac, 6));
}

#define BAD(...)                                          \
	do {                                              \
		fprintf(stderr, "# model: " __VA_ARGS__); \
		model_bad++;                              \
	} while (0)

void __real_nappt__slot_store(struct nappt_slot *e, uint64_t v);

void __wrap_nappt__slot_store(struct nappt_slot *e, uint64_t v)
{
	uint32_t key = (uint32_t)(e - M.slot_mem), k, n;
	struct nappt_slot o, s = slot_w(v);
	uint64_t old;

	if (!model_on)
		goto store;
	model_stores++;
	if (e < M.slot_mem || key >= M.slot_mem_n || key >= 256 ||
	    ((uintptr_t)e & 7)) {
		BAD("store outside the table or unaligned\n");
		goto store;
	}
	old = word(key);
	o = slot_w(old);
	k = s.owner & NAPPT_SLOT_DIST_MASK;
	if (old && v && old != v)
		BAD("slot %u went from %04x/%02x to %04x/%02x without free\n",
		    key, o.owner, o.mac[5], s.owner, s.mac[5]);
	if (v && (!nappt_slot_valid(&s) || k > key % M.cfg.slots_per_ip))
		BAD("slot %u set to a malformed entry %04x\n", key, s.owner);
	if (v && k == 0) {
		n = model_want ? (uint32_t)(model_want->port_last -
					    model_want->port_first + 1) >>
					 M.cfg.slot_shift :
				 0;
		if (!n)
			BAD("first slot %u set outside an add\n", key);
		for (k = 1; k < n; k++) {
			struct nappt_slot x = slot_w(word(key + k));

			if (!nappt_slot_valid(&x) ||
			    (x.owner & NAPPT_SLOT_DIST_MASK) != k ||
			    memcmp(x.mac, s.mac, 6))
				BAD("first slot %u set while slot %u of the "
				    "phone is not\n",
				    key, key + k);
		}
	} else if (v && leased_by(key - k, NULL)) {
		BAD("slot %u set while its phone %u is leased\n", key, key - k);
	}
	if (!v && nappt_slot_valid(&o) && (o.owner & NAPPT_SLOT_DIST_MASK) &&
	    leased_by(key - (o.owner & NAPPT_SLOT_DIST_MASK), o.mac))
		BAD("slot %u freed while its phone %u is still leased\n", key,
		    key - (o.owner & NAPPT_SLOT_DIST_MASK));
store:
	__real_nappt__slot_store(e, v);
	if (model_on && key < 256)
		model_shadow[key] = v;
}

static void model_start(void)
{
	uint32_t i;

	for (i = 0; i < 256 && i < M.slot_mem_n; i++)
		model_shadow[i] = word(i);
	model_bad = model_stores = 0;
	model_want = NULL;
	model_on = 1;
}

/* Every change to the table went through a store the model saw. */
static void model_same(void)
{
	uint32_t i;

	for (i = 0; i < 256 && i < M.slot_mem_n; i++)
		if (model_shadow[i] != word(i))
			BAD("slot %u changed without a store\n", i);
}

static int model_add(const struct nappt_phone *p)
{
	int r;

	model_want = p;
	r = nappt_phone_add(&M, addr_of(p), p);
	model_want = NULL;
	model_same();
	return r;
}

static int model_del(const struct nappt_phone *p)
{
	int r = nappt_phone_del(&M, addr_of(p));

	model_same();
	return r;
}

/* Defect 9 (issue 13 layout): adding, renewing, changing, deleting and
 * refusing leases never shows a reader a mix or a half-leased phone. */
static void test_never_torn(void **state)
{
	struct nappt_phone a = phone("203.0.113.9", 32768, 34815, 0x41);
	struct nappt_phone b = phone("203.0.113.9", 34816, 36863, 0x42);
	struct nappt_phone x = phone("203.0.113.9", 33792, 34815, 0x43);
	uint32_t pa = addr_of(&a);
	int stores;

	model_start();
	assert_int_equal(model_add(&a), 0); /* new: 2 stores */
	assert_int_equal(model_stores, 2);
	assert_int_equal(model_add(&b), 0); /* the neighbour */
	stores = model_stores;
	assert_int_equal(model_add(&a), 0); /* renewal */
	assert_int_equal(model_stores, stores); /* writes nothing */
	assert_int_equal(model_add(&x), -EBUSY); /* a's second slot */
	assert_int_equal(model_stores, stores); /* writes nothing */
	a.mac[5] = 0x44; /* new MAC */
	assert_int_equal(model_add(&a), 0);
	/* Inbound delivers to the MAC in the slot: the new one. */
	assert_int_equal(slot_at("203.0.113.9", 33792).mac[5], 0x44);
	a.port_last = 33791; /* shrunk */
	assert_int_equal(model_add(&a), 0);
	assert_int_equal(owner_at("203.0.113.9", 33792), 0);
	a.port_last = 34815; /* grown back */
	assert_int_equal(model_add(&a), 0);
	assert_int_equal(model_del(&a), 0);
	assert_int_equal(model_add(&a), 0); /* reused */
	assert_int_equal(model_del(&b), 0);
	assert_int_equal(model_del(&a), 0);
	assert_int_equal(model_del(&a), -ENOENT);
	model_on = 0;
	assert_int_equal(model_bad, 0);
	assert_int_equal(nappt_phone_get(&M, pa, &x), -ENOENT);
}

/* An add or delete killed half-way leaves slots without their first
 * (not leased): they refuse other phones until that address's next add
 * or delete frees them. */
static void test_half_done_cleaned(void **state)
{
	struct nappt_phone a = phone("203.0.113.10", 20480, 23551, 0x51);
	struct nappt_phone b = phone("203.0.113.10", 21504, 22527, 0x52), got;
	uint32_t pa = addr_of(&a), k = idx_of(pa);
	uint64_t orphan;

	assert_int_equal(nappt_phone_add(&M, pa, &a), 0);
	/* A delete that freed the first slot and died. */
	__real_nappt__slot_store(&M.slot_mem[k], 0);
	orphan = word(k + 1);
	assert_int_equal(nappt_phone_get(&M, pa, &got), -ENOENT);
	assert_int_equal(nappt_phone_add(&M, addr_of(&b), &b), -EBUSY);
	/* Its delete frees the rest, and says there was no lease. */
	assert_int_equal(nappt_phone_del(&M, pa), -ENOENT);
	assert_int_equal(word(k + 1), 0);
	assert_int_equal(word(k + 2), 0);
	assert_int_equal(nappt_phone_add(&M, addr_of(&b), &b), 0);
	assert_int_equal(nappt_phone_del(&M, addr_of(&b)), 0);
	/* An add that died before the first slot: the next add of that
	 * address (one slot now) frees what it no longer covers. */
	__real_nappt__slot_store(&M.slot_mem[k + 1], orphan);
	a.port_last = 21503;
	assert_int_equal(nappt_phone_add(&M, pa, &a), 0);
	assert_int_equal(word(k + 1), 0);
	assert_int_equal(nappt_phone_get(&M, pa, &got), 0);
	assert_int_equal(got.port_last, 21503);
	assert_int_equal(nappt_phone_del(&M, pa), 0);
}

/* A deleted (or re-leased) phone leaves no fragment tracker that would
 * send later fragments to its index. */
static void test_del_forgets_frags(void **state)
{
	struct nappt_phone a = phone("203.0.113.9", 49152, 50175, 0x61);
	uint32_t priv = addr_of(&a), idx = idx_of(priv);
	struct nappt_frag_key k1 = { .saddr = ip("198.51.100.7"),
				     .daddr = ip("203.0.113.9"),
				     .id = htons(7),
				     .proto = 17 };
	struct nappt_frag_key k2 = k1;
	struct nappt_frag_val v1 = { .phone = idx }, v2 = { .phone = idx + 1 },
			      got;

	k2.id = htons(8);
	assert_int_equal(nappt_phone_add(&M, priv, &a), 0);
	assert_int_equal(bpf_map_update_elem(M.frags_fd, &k1, &v1, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(M.frags_fd, &k2, &v2, BPF_ANY), 0);
	assert_int_equal(nappt_phone_del(&M, priv), 0);
	assert_int_not_equal(bpf_map_lookup_elem(M.frags_fd, &k1, &got), 0);
	/* Another phone's tracker stays. */
	assert_int_equal(bpf_map_lookup_elem(M.frags_fd, &k2, &got), 0);
	assert_int_equal(got.phone, idx + 1);
	/* Re-leased to another MAC: trackers added meanwhile go too. */
	assert_int_equal(nappt_phone_add(&M, priv, &a), 0);
	assert_int_equal(bpf_map_update_elem(M.frags_fd, &k1, &v1, BPF_ANY), 0);
	a.mac[5] = 0x62;
	assert_int_equal(nappt_phone_add(&M, priv, &a), 0);
	assert_int_not_equal(bpf_map_lookup_elem(M.frags_fd, &k1, &got), 0);
	assert_int_equal(nappt_phone_del(&M, priv), 0);
	bpf_map_delete_elem(M.frags_fd, &k2);
}

static const char *const pin_names[] = { "config", "slots", "stats", "frags",
					 "tx_ports" };
#define NPINS 5

/* Pin x's maps below dir, as the loader would, for nappt_maps_open. */
static void pin_maps(const struct nappt_maps *x, const char *dir, int unpin)
{
	int fds[NPINS] = { x->config_fd, x->slots_fd, x->stats_fd, x->frags_fd,
			   x->tx_ports_fd };
	char path[256];
	size_t i;

	if (!unpin)
		assert_int_equal(mkdir(dir, 0700), 0);
	for (i = 0; i < NPINS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, pin_names[i]);
		if (unpin)
			unlink(path);
		else
			assert_int_equal(bpf_obj_pin(fds[i], path), 0);
	}
	if (unpin) {
		snprintf(path, sizeof(path), "%s/phones", dir);
		unlink(path);
		rmdir(dir);
	}
}

static void pin_all(const char *dir, int unpin)
{
	pin_maps(&M, dir, unpin);
}

/*
 * Defect 9: two writers (the CLI and the provisioner, each with its own
 * nappt_maps_open) add overlapping ranges for two phones at the same
 * moment.  Exactly one may win, every round, and every slot must name a
 * phone whose range covers it.  Slots of 16 ports make the ranges 2,048
 * slots long, so each add's check-then-write window is as long as this
 * layout allows.  Bounded: 150 rounds or 60 s.
 */
static void test_two_writers_race(void **state)
{
	struct nappt_config cfg = {
		.lan_net = ip("100.64.16.0"),
		.lan_size = 4096,
		.pub_net = ip("203.0.113.12"),
		.pub_count = 1,
		.slot_shift = 4,
		.slots_per_ip = 4096,
	};
	struct nappt_phone a = phone("203.0.113.12", 1024, 33791, 0xa);
	struct nappt_phone b = phone("203.0.113.12", 17408, 50175, 0xb);
	uint32_t pa, pb;
	int go[2], res[2], round, both = 0, st, rb;
	struct nappt_maps P = NAPPT_MAPS_INIT, R;
	char dir[64];
	time_t t0 = time(NULL);
	pid_t pid;
	char c;

	assert_int_equal(private_maps_bare(&R, &cfg), 0);
	assert_int_equal(nappt_phone_addr(&cfg, a.pub_ip, a.port_first, &pa),
			 0);
	assert_int_equal(nappt_phone_addr(&cfg, b.pub_ip, b.port_first, &pb),
			 0);
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/libnappt-test-%d", getpid());
	pin_maps(&R, dir, 0);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(res), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct nappt_maps C;

		close(go[1]);
		close(res[0]);
		if (nappt_maps_open(&C, dir))
			_exit(1);
		while (read(go[0], &c, 1) == 1) {
			rb = nappt_phone_add(&C, pb, &b);
			if (write(res[1], &rb, sizeof(rb)) != sizeof(rb))
				_exit(1);
		}
		_exit(0);
	}
	close(go[0]);
	close(res[1]);
	assert_int_equal(nappt_maps_open(&P, dir), 0);
	for (round = 0; round < 150 && time(NULL) - t0 < 60; round++) {
		uint32_t port, key;
		int ra;

		c = 'g';
		assert_int_equal(write(go[1], &c, 1), 1);
		ra = nappt_phone_add(&P, pa, &a);
		assert_int_equal(read(res[0], &rb, sizeof(rb)), sizeof(rb));
		assert_true(ra == 0 || ra == -EBUSY);
		assert_true(rb == 0 || rb == -EBUSY);
		if (ra == 0 && rb == 0)
			both++;
		/* Every slot names a phone that owns it, with its MAC. */
		for (port = 1024; port <= 50175; port += 16) {
			struct nappt_phone got;
			struct nappt_slot sv = { 0 };

			key = nappt_slot_key(&R.cfg, 0, (__u16)port);
			assert_int_equal(
				bpf_map_lookup_elem(R.slots_fd, &key, &sv), 0);
			if (!nappt_slot_valid(&sv))
				continue;
			assert_int_equal(
				nappt_phone_get(
					&P,
					nappt_lan_addr(&R.cfg,
						       nappt_slot_owner(key,
									&sv)),
					&got),
				0);
			assert_memory_equal(sv.mac, got.mac, 6);
			assert_true(nappt_port_in_range(&got, (__u16)port));
		}
		nappt_phone_del(&P, pa);
		nappt_phone_del(&P, pb);
	}
	close(go[1]);
	waitpid(pid, &st, 0);
	nappt_maps_close(&P);
	pin_maps(&R, dir, 1);
	nappt_maps_close(&R);
	fprintf(stderr, "# %d rounds, both writers won %d times\n", round,
		both);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(both, 0);
}

/* The lock is exclusive between two opens, and bounded.  And two opens
 * map the same table: one's write is the other's read. */
static void test_lock_exclusive(void **state)
{
	struct nappt_maps P = NAPPT_MAPS_INIT, Q = NAPPT_MAPS_INIT;
	struct nappt_phone a = phone("203.0.113.8", 8192, 9215, 1), got;
	uint32_t pa = addr_of(&a);
	char dir[64];
	int st;
	pid_t pid;

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/libnappt-lock-%d", getpid());
	pin_all(dir, 0);
	assert_int_equal(nappt_maps_open(&P, dir), 0);
	assert_int_equal(nappt_maps_open(&Q, dir), 0);
	assert_non_null(P.slot_mem);
	assert_int_equal(P.slot_mem_n, 256);
	assert_int_equal(nappt_maps_lock(&P), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Q's open is its own: it must wait, and give up. */
		_exit(nappt_phone_add(&Q, pa, &a) == -ETIMEDOUT ? 0 : 1);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	nappt_maps_unlock(&P);
	assert_int_equal(nappt_phone_add(&Q, pa, &a), 0);
	assert_int_equal(nappt_phone_get(&P, pa, &got), 0);
	assert_int_equal(nappt_phone_get(&M, pa, &got), 0);
	assert_int_equal(nappt_phone_del(&Q, pa), 0);
	assert_int_equal(nappt_phone_get(&P, pa, &got), -ENOENT);
	nappt_maps_close(&P);
	assert_null(P.slot_mem);
	nappt_maps_close(&Q);
	pin_all(dir, 1);
}

/*
 * Pins of another layout are refused before anything is read from them: a
 * config of a larger value would overrun struct nappt_config; a `phones`
 * pin is the layout before issue 13 (its programs read leases there);
 * `slots` of 12-byte entries (that layout) or without BPF_F_MMAPABLE
 * cannot be written entry by entry; and a config that does not describe
 * its maps (slots sized for another pool).
 */
static void test_open_other_layout(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);
	LIBBPF_OPTS(bpf_map_create_opts, mm, .map_flags = BPF_F_MMAPABLE);
	struct nappt_maps m;
	char dir[64], path[128];
	int fd, round;

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/libnappt-layout-%d", getpid());
	/* The pins as they are open fine. */
	pin_all(dir, 0);
	assert_int_equal(nappt_maps_open(&m, dir), 0);
	nappt_maps_close(&m);
	pin_all(dir, 1);
	for (round = 0; round < 5; round++) {
		const char *name = round == 0 ? "config" :
				   round == 1 ? "phones" :
						"slots";

		pin_all(dir, 0);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		unlink(path);
		if (round == 0)
			fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 64, 1,
					    &o);
		else if (round == 1)
			fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 16,
					    256, &o);
		else if (round == 2)
			fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 12,
					    256, &o);
		else if (round == 3)
			fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 8, 256,
					    &o);
		else
			fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 8, 512,
					    &mm);
		assert_true(fd >= 0);
		if (!round) {
			uint8_t big[64];
			__u32 zero = 0;

			memset(big, 0x5a, sizeof(big));
			assert_int_equal(bpf_map_update_elem(fd, &zero, big,
							     BPF_ANY),
					 0);
		}
		assert_int_equal(bpf_obj_pin(fd, path), 0);
		close(fd);
		assert_int_equal(nappt_maps_open(&m, dir), -EPROTO);
		assert_int_equal(m.config_fd, -1);
		assert_null(m.slot_mem);
		pin_all(dir, 1);
	}
}

/* A caller that passes the fds itself (privsep's writer) maps them with
 * nappt_maps_mmap: a `slots` that cannot hold the config's slots, or is
 * not mmapable, is refused; the others are left for the caller. */
static void test_mmap_checks(void **state)
{
	LIBBPF_OPTS(bpf_map_create_opts, o);
	LIBBPF_OPTS(bpf_map_create_opts, mm, .map_flags = BPF_F_MMAPABLE);
	struct nappt_maps x = NAPPT_MAPS_INIT;

	x.cfg = M.cfg;
	assert_int_equal(nappt_maps_mmap(&x), -EINVAL);
	x.slots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 8, 256, &o);
	assert_true(x.slots_fd >= 0);
	assert_int_equal(nappt_maps_mmap(&x), -EPROTO);
	close(x.slots_fd);
	x.slots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 8, 128, &mm);
	assert_true(x.slots_fd >= 0);
	assert_int_equal(nappt_maps_mmap(&x), -EPROTO);
	close(x.slots_fd);
	x.slots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 8, 256, &mm);
	assert_true(x.slots_fd >= 0);
	assert_int_equal(nappt_maps_mmap(&x), 0);
	assert_int_equal(x.slot_mem_n, 256);
	assert_int_equal(nappt_maps_mmap(&x), 0); /* once */
	nappt_maps_close(&x);
	assert_null(x.slot_mem);
	assert_int_equal(x.slots_fd, -1);
}

static void test_stats_names(void **state)
{
	struct nappt_counter c[NAPPT_STAT_MAX];
	unsigned int i;

	for (i = 0; i < NAPPT_STAT_MAX; i++)
		assert_non_null(nappt_stat_name(i));
	assert_null(nappt_stat_name(NAPPT_STAT_MAX));
	assert_int_equal(nappt_stats_read(&M, c), 0);
	assert_int_equal(nappt_stats_reset(&M), 0);
}

static void test_open_missing(void **state)
{
	struct nappt_maps m;

	assert_int_equal(nappt_maps_open(&m, "/sys/fs/bpf/does-not-exist"),
			 -ENOENT);
	assert_int_equal(m.config_fd, -1);
	nappt_maps_close(&m);
	nappt_maps_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_mac),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_add_get_del),
		cmocka_unit_test(test_overlap_refused),
		cmocka_unit_test(test_replace_frees_old),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_never_torn),
		cmocka_unit_test(test_half_done_cleaned),
		cmocka_unit_test(test_del_forgets_frags),
		cmocka_unit_test(test_two_writers_race),
		cmocka_unit_test(test_lock_exclusive),
		cmocka_unit_test(test_open_other_layout),
		cmocka_unit_test(test_mmap_checks),
		cmocka_unit_test(test_stats_names),
		cmocka_unit_test(test_open_missing),
	};

	return cmocka_run_group_tests_name("libnappt", tests, group_setup,
					   group_teardown);
}
