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
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "libnappt.h"
#include "private-maps.h"

static struct nappt_bpf *skel;
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

static nappt_slot_t slot_at(const char *pub, uint32_t port)
{
	uint32_t key =
		(ntohl(ip(pub)) - ntohl(M.cfg.pub_net)) * M.cfg.slots_per_ip +
		(port >> M.cfg.slot_shift);
	nappt_slot_t v = 0xdead;

	assert_int_equal(bpf_map_lookup_elem(M.slots_fd, &key, &v), 0);
	return v;
}

static int group_setup(void **state)
{
	struct nappt_config cfg = {
		.lan_net = ip("100.64.1.0"),
		.lan_size = 256,
		.pub_net = ip("203.0.113.8"),
		.pub_count = 4,
		.slot_shift = 10,
		.slots_per_ip = 64,
	};

	return private_maps(&skel, &M, &cfg);
}

static int group_teardown(void **state)
{
	nappt_bpf__destroy(skel);
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

static void test_check(void **state)
{
	struct nappt_phone p = phone("203.0.113.8", 2048, 3071, 1);

	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p), 0);
	/* Outside the LAN pool, outside the public pool. */
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.2.5"), &p),
			 -ERANGE);
	p.pub_ip = ip("203.0.113.12");
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p),
			 -ERANGE);
	/* Well-known ports are never mapped; ranges are whole slots. */
	p = phone("203.0.113.8", 0, 1023, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p),
			 -EINVAL);
	p = phone("203.0.113.8", 2048, 3000, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p),
			 -EINVAL);
	p = phone("203.0.113.8", 2049, 3071, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p),
			 -EINVAL);
	p = phone("203.0.113.8", 64512, 65535, 1);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p), 0);
}

static void test_add_get_del(void **state)
{
	struct nappt_phone p = phone("203.0.113.9", 4096, 6143, 7), got;

	assert_int_equal(nappt_phone_add(&M, ip("100.64.1.7"), &p), 0);
	assert_int_equal(nappt_phone_get(&M, ip("100.64.1.7"), &got), 0);
	assert_int_equal(got.port_first, 4096);
	assert_int_equal(got.port_last, 6143);
	assert_true(got.flags & NAPPT_PHONE_VALID);
	/* Index + 1 in both slots, nothing around them. */
	assert_int_equal(slot_at("203.0.113.9", 4096), 8);
	assert_int_equal(slot_at("203.0.113.9", 6143), 8);
	assert_int_equal(slot_at("203.0.113.9", 3072), 0);
	assert_int_equal(slot_at("203.0.113.9", 6144), 0);

	assert_int_equal(nappt_phone_del(&M, ip("100.64.1.7")), 0);
	assert_int_equal(nappt_phone_get(&M, ip("100.64.1.7"), &got), -ENOENT);
	assert_int_equal(slot_at("203.0.113.9", 4096), 0);
	assert_int_equal(slot_at("203.0.113.9", 5120), 0);
	assert_int_equal(nappt_phone_del(&M, ip("100.64.1.7")), -ENOENT);
}

static void test_overlap_refused(void **state)
{
	struct nappt_phone a = phone("203.0.113.10", 8192, 10239, 1);
	struct nappt_phone b = phone("203.0.113.10", 9216, 11263, 2), got;

	assert_int_equal(nappt_phone_add(&M, ip("100.64.1.20"), &a), 0);
	/* b's first slot is a's second: refused, and nothing written. */
	assert_int_equal(nappt_phone_add(&M, ip("100.64.1.21"), &b), -EBUSY);
	assert_int_equal(nappt_phone_get(&M, ip("100.64.1.21"), &got), -ENOENT);
	assert_int_equal(slot_at("203.0.113.10", 10240), 0);
	assert_int_equal(slot_at("203.0.113.10", 9216), 21);
	/* Same range on another public address is fine. */
	b.pub_ip = ip("203.0.113.11");
	assert_int_equal(nappt_phone_add(&M, ip("100.64.1.21"), &b), 0);
	assert_int_equal(nappt_phone_del(&M, ip("100.64.1.20")), 0);
	assert_int_equal(nappt_phone_del(&M, ip("100.64.1.21")), 0);
}

static void test_replace_frees_old(void **state)
{
	struct nappt_phone a = phone("203.0.113.8", 16384, 19455, 3);
	struct nappt_phone a2 = phone("203.0.113.8", 18432, 20479, 3);
	struct nappt_phone moved = phone("203.0.113.9", 16384, 17407, 3);

	assert_int_equal(nappt_phone_add(&M, ip("100.64.1.30"), &a), 0);
	/* Renew with a shifted range: the slots left behind are freed. */
	assert_int_equal(nappt_phone_add(&M, ip("100.64.1.30"), &a2), 0);
	assert_int_equal(slot_at("203.0.113.8", 16384), 0);
	assert_int_equal(slot_at("203.0.113.8", 17408), 0);
	assert_int_equal(slot_at("203.0.113.8", 18432), 31);
	assert_int_equal(slot_at("203.0.113.8", 20479), 31);
	/* Moved to another public address: all old slots freed. */
	assert_int_equal(nappt_phone_add(&M, ip("100.64.1.30"), &moved), 0);
	assert_int_equal(slot_at("203.0.113.8", 18432), 0);
	assert_int_equal(slot_at("203.0.113.8", 19456), 0);
	assert_int_equal(slot_at("203.0.113.9", 16384), 31);
	assert_int_equal(nappt_phone_del(&M, ip("100.64.1.30")), 0);
}

struct seen {
	int n;
	uint32_t last;
};

static int collect(uint32_t priv, const struct nappt_phone *p, void *arg)
{
	struct seen *s = arg;

	/* Private-address order. */
	assert_true(ntohl(priv) > s->last);
	s->last = ntohl(priv);
	s->n++;
	return 0;
}

static void test_foreach(void **state)
{
	struct seen s = { 0 };
	int i;

	for (i = 0; i < 40; i++) {
		struct nappt_phone p =
			phone("203.0.113.11", (uint16_t)(1024 * (i + 2)),
			      (uint16_t)(1024 * (i + 3) - 1), (uint8_t)i);
		char a[32];

		snprintf(a, sizeof(a), "100.64.1.%d", 100 + i * 3);
		assert_int_equal(nappt_phone_add(&M, ip(a), &p), 0);
	}
	assert_int_equal(nappt_phone_foreach(&M, collect, &s), 0);
	assert_int_equal(s.n, 40);
	for (i = 0; i < 40; i++) {
		char a[32];

		snprintf(a, sizeof(a), "100.64.1.%d", 100 + i * 3);
		assert_int_equal(nappt_phone_del(&M, ip(a)), 0);
	}
	s.n = 0;
	s.last = 0;
	assert_int_equal(nappt_phone_foreach(&M, collect, &s), 0);
	assert_int_equal(s.n, 0);
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
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_add_get_del),
		cmocka_unit_test(test_overlap_refused),
		cmocka_unit_test(test_replace_frees_old),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_stats_names),
		cmocka_unit_test(test_open_missing),
	};

	return cmocka_run_group_tests_name("libnappt", tests, group_setup,
					   group_teardown);
}
