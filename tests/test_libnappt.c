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

/* The phone a slot names (index + 1, 0 if free). */
static uint32_t slot_at(const char *pub, uint32_t port)
{
	uint32_t key = nappt_slot_key(
		&M.cfg, (uint32_t)nappt_pub_index(&M.cfg, ip(pub)),
		(__u16)port);
	struct nappt_slot v = { .phone = 0xdead };

	assert_int_equal(bpf_map_lookup_elem(M.slots_fd, &key, &v), 0);
	return v.phone;
}

/* The last byte of the MAC a slot holds. */
static int slot_mac_at(const char *pub, uint32_t port)
{
	uint32_t key = nappt_slot_key(
		&M.cfg, (uint32_t)nappt_pub_index(&M.cfg, ip(pub)),
		(__u16)port);
	struct nappt_slot v;

	assert_int_equal(bpf_map_lookup_elem(M.slots_fd, &key, &v), 0);
	return v.mac[5];
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
	/* A group MAC would flood the phone's traffic to the whole LAN. */
	p.mac[0] = 0x01;
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p),
			 -EINVAL);
	memset(p.mac, 0xff, 6);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p),
			 -EINVAL);
	memset(p.mac, 0, 6);
	assert_int_equal(nappt_phone_check(&M.cfg, ip("100.64.1.5"), &p),
			 -EINVAL);
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

/*
 * A model of what a BPF reader on another CPU can see.  The test binary is
 * linked with --wrap=bpf_map_update_elem, so every write libnappt makes to
 * `phones` passes through here first.  bpf_map_update_elem copies the
 * value with no lock, so a reader may see any mix of the old and the new
 * bytes.  A write is safe only if every mix is harmless:
 *  - it changes nothing but the flags (VALID sits in one byte), or
 *  - VALID is clear before and after (any mix is invalid, and ignored),
 *    and no program can still be reading the entry from a time it was
 *    valid: a grace period (an update of libnappt's map-in-map) passed
 *    since it was last valid.
 */
static int model_on, model_bad, model_graces;
static uint8_t model_dirty[256]; /* valid since the last grace */

int __real_bpf_map_update_elem(int fd, const void *key, const void *value,
			       __u64 flags);

int __wrap_bpf_map_update_elem(int fd, const void *key, const void *value,
			       __u64 flags)
{
	if (model_on && fd >= 0 && fd == M.grace_fd) {
		struct nappt_phone cur;
		uint32_t i;

		model_graces++;
		for (i = 0; i < M.cfg.lan_size && i < 256; i++)
			if (!bpf_map_lookup_elem(M.phones_fd, &i, &cur) &&
			    !(cur.flags & NAPPT_PHONE_VALID))
				model_dirty[i] = 0;
	} else if (model_on && fd == M.phones_fd) {
		uint32_t idx = *(const uint32_t *)key;
		struct nappt_phone old, nw = *(const struct nappt_phone *)value;
		struct nappt_phone oc, nc;

		assert_true(idx < 256);
		assert_int_equal(bpf_map_lookup_elem(fd, &idx, &old), 0);
		oc = old;
		nc = nw;
		oc.flags = nc.flags = 0;
		if (memcmp(&oc, &nc, sizeof(oc)) &&
		    ((old.flags | nw.flags) & NAPPT_PHONE_VALID ||
		     model_dirty[idx])) {
			if (!model_bad)
				fprintf(stderr,
					"# unsafe write to phones[%u]: "
					"valid %d -> %d, dirty %d\n",
					idx, old.flags & NAPPT_PHONE_VALID,
					nw.flags & NAPPT_PHONE_VALID,
					model_dirty[idx]);
			model_bad++;
		}
		if (nw.flags & NAPPT_PHONE_VALID)
			model_dirty[idx] = 1;
	} else if (model_on && fd == M.slots_fd) {
		/* Inbound trusts a slot alone (index and MAC): a slot goes
		 * from one content to another only through free, so a torn
		 * read is free or one phone's, never a mix of two; and it
		 * names only a phone whose entry is VALID. */
		struct nappt_slot old, nw = *(const struct nappt_slot *)value;
		struct nappt_phone owner;
		uint32_t oi = nw.phone - 1;

		assert_int_equal(bpf_map_lookup_elem(fd, key, &old), 0);
		if (old.phone && nw.phone && memcmp(&old, &nw, sizeof(nw))) {
			fprintf(stderr,
				"# slot moved from phone %u to %u "
				"without being freed\n",
				old.phone, nw.phone);
			model_bad++;
		}
		if (nw.phone &&
		    (bpf_map_lookup_elem(M.phones_fd, &oi, &owner) ||
		     !(owner.flags & NAPPT_PHONE_VALID) ||
		     memcmp(owner.mac, nw.mac, sizeof(nw.mac)))) {
			fprintf(stderr,
				"# slot set for phone %u, whose entry "
				"is not valid with that MAC\n",
				nw.phone);
			model_bad++;
		}
	}
	return __real_bpf_map_update_elem(fd, key, value, flags);
}

static void model_start(void)
{
	struct nappt_phone cur;
	uint32_t i;

	/* Unknown history: whatever is not zero may have been valid. */
	for (i = 0; i < M.cfg.lan_size && i < 256; i++) {
		assert_int_equal(bpf_map_lookup_elem(M.phones_fd, &i, &cur), 0);
		model_dirty[i] = cur.pub_ip || cur.flags || cur.port_last;
	}
	model_bad = model_graces = 0;
	model_on = 1;
}

/* Defect 9: replacing or deleting a lease never shows a reader a mix. */
static void test_replace_never_torn(void **state)
{
	struct nappt_phone a = phone("203.0.113.9", 32768, 34815, 0x41);
	struct nappt_phone b = phone("203.0.113.10", 40960, 41983, 0x41);
	struct nappt_phone c = phone("203.0.113.10", 40960, 41983, 0x42);
	uint32_t priv = ip("100.64.1.60");
	int graces;

	model_start();
	assert_int_equal(nappt_phone_add(&M, priv, &a), 0); /* new */
	assert_int_equal(model_graces, 0); /* a fresh entry needs none */
	assert_int_equal(nappt_phone_add(&M, priv, &b), 0); /* moved */
	assert_int_equal(nappt_phone_add(&M, priv, &c), 0); /* new MAC */
	graces = model_graces;
	assert_true(graces >= 2);
	assert_int_equal(nappt_phone_add(&M, priv, &c), 0); /* renewal */
	assert_int_equal(model_graces, graces); /* costs no grace */
	/* Inbound delivers to the MAC in the slot: the new one. */
	assert_int_equal(slot_mac_at("203.0.113.10", 40960), 0x42);
	assert_int_equal(nappt_phone_del(&M, priv), 0);
	assert_int_equal(nappt_phone_add(&M, priv, &a), 0); /* reused */
	assert_int_equal(nappt_phone_del(&M, priv), 0);
	assert_int_equal(nappt_phone_add(&M, priv, &a), 0); /* same again */
	model_on = 0;
	assert_int_equal(model_bad, 0);
	assert_int_equal(slot_at("203.0.113.9", 32768), 61);
	assert_int_equal(slot_at("203.0.113.10", 40960), 0);
	assert_int_equal(nappt_phone_del(&M, priv), 0);
}

/* A deleted (or re-leased) phone leaves no fragment tracker that would
 * send later fragments to its index. */
static void test_del_forgets_frags(void **state)
{
	struct nappt_phone a = phone("203.0.113.9", 49152, 50175, 0x61);
	struct nappt_frag_key k1 = { .saddr = ip("198.51.100.7"),
				     .daddr = ip("203.0.113.9"),
				     .id = htons(7),
				     .proto = 17 };
	struct nappt_frag_key k2 = k1;
	struct nappt_frag_val v1 = { .phone = 70 }, v2 = { .phone = 71 }, got;
	uint32_t priv = ip("100.64.1.70");

	k2.id = htons(8);
	assert_int_equal(nappt_phone_add(&M, priv, &a), 0);
	assert_int_equal(bpf_map_update_elem(M.frags_fd, &k1, &v1, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(M.frags_fd, &k2, &v2, BPF_ANY), 0);
	assert_int_equal(nappt_phone_del(&M, priv), 0);
	assert_int_not_equal(bpf_map_lookup_elem(M.frags_fd, &k1, &got), 0);
	/* Another phone's tracker stays. */
	assert_int_equal(bpf_map_lookup_elem(M.frags_fd, &k2, &got), 0);
	assert_int_equal(got.phone, 71);
	/* Re-leased to another MAC: trackers added meanwhile go too. */
	assert_int_equal(bpf_map_update_elem(M.frags_fd, &k1, &v1, BPF_ANY), 0);
	a.mac[5] = 0x62;
	assert_int_equal(nappt_phone_add(&M, priv, &a), 0);
	assert_int_not_equal(bpf_map_lookup_elem(M.frags_fd, &k1, &got), 0);
	assert_int_equal(nappt_phone_del(&M, priv), 0);
	bpf_map_delete_elem(M.frags_fd, &k2);
}

/* Pin M's maps below dir, as the loader would, for nappt_maps_open. */
static void pin_maps(const struct nappt_maps *x, const char *dir, int unpin)
{
	static const char *const names[] = { "config", "phones", "slots",
					     "stats",  "frags",	 "tx_ports" };
	int fds[] = { x->config_fd, x->phones_fd, x->slots_fd,
		      x->stats_fd,  x->frags_fd,  x->tx_ports_fd };
	char path[256];
	size_t i;

	if (!unpin)
		assert_int_equal(mkdir(dir, 0700), 0);
	for (i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (unpin)
			unlink(path);
		else
			assert_int_equal(bpf_obj_pin(fds[i], path), 0);
	}
	if (unpin)
		rmdir(dir);
}

static void pin_all(const char *dir, int unpin)
{
	pin_maps(&M, dir, unpin);
}

/*
 * Defect 9: two writers (the CLI and the provisioner, each with its own
 * nappt_maps_open) add overlapping ranges for two phones at the same
 * moment.  Exactly one may win, every round, and every slot must name a
 * phone whose range covers it.  Slots of 16 ports and ranges of 2,048
 * slots make each add's check-then-write window milliseconds long, so
 * without the lock they overlap in about one round in ten.  Bounded: 150
 * rounds or 60 s.
 */
static void test_two_writers_race(void **state)
{
	struct nappt_config cfg = {
		.lan_net = ip("100.64.2.0"),
		.lan_size = 4,
		.pub_net = ip("203.0.113.12"),
		.pub_count = 1,
		.slot_shift = 4,
		.slots_per_ip = 4096,
	};
	struct nappt_phone a = phone("203.0.113.12", 1024, 33791, 0xa);
	struct nappt_phone b = phone("203.0.113.12", 17408, 50175, 0xb);
	uint32_t pa = ip("100.64.2.1"), pb = ip("100.64.2.2");
	int go[2], res[2], round, both = 0, st, rb;
	struct nappt_maps P = NAPPT_MAPS_INIT, R;
	struct nappt_bpf *sk;
	char dir[64];
	time_t t0 = time(NULL);
	pid_t pid;
	char c;

	assert_int_equal(private_maps(&sk, &R, &cfg), 0);
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
		/* Every slot names a phone that owns it. */
		for (port = 1024; port <= 50175; port += 1024) {
			struct nappt_phone got;
			struct nappt_slot sv = { 0 };

			key = nappt_slot_key(&R.cfg, 0, (__u16)port);
			assert_int_equal(
				bpf_map_lookup_elem(R.slots_fd, &key, &sv), 0);
			if (!sv.phone)
				continue;
			assert_int_equal(
				nappt_phone_get(&P,
						nappt_lan_addr(&R.cfg,
							       sv.phone - 1),
						&got),
				0);
			/* Inbound delivers to the slot's MAC. */
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
	nappt_bpf__destroy(sk);
	fprintf(stderr, "# %d rounds, both writers won %d times\n", round,
		both);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(both, 0);
}

/* The lock is exclusive between two opens, and bounded. */
static void test_lock_exclusive(void **state)
{
	struct nappt_maps P = NAPPT_MAPS_INIT, Q = NAPPT_MAPS_INIT;
	struct nappt_phone a = phone("203.0.113.8", 8192, 9215, 1);
	char dir[64];
	int st;
	pid_t pid;

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/libnappt-lock-%d", getpid());
	pin_all(dir, 0);
	assert_int_equal(nappt_maps_open(&P, dir), 0);
	assert_int_equal(nappt_maps_open(&Q, dir), 0);
	assert_int_equal(nappt_maps_lock(&P), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Q's open is its own: it must wait, and give up. */
		_exit(nappt_phone_add(&Q, ip("100.64.1.90"), &a) == -ETIMEDOUT ?
			      0 :
			      1);
	}
	waitpid(pid, &st, 0);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	nappt_maps_unlock(&P);
	assert_int_equal(nappt_phone_add(&Q, ip("100.64.1.90"), &a), 0);
	assert_int_equal(nappt_phone_del(&Q, ip("100.64.1.90")), 0);
	nappt_maps_close(&P);
	nappt_maps_close(&Q);
	pin_all(dir, 1);
}

/*
 * Pins of another layout are refused before anything is read from them: a
 * config of a larger value would overrun struct nappt_config.  And a
 * config that does not describe its maps (phones sized for another pool).
 */
static void test_open_other_layout(void **state)
{
	static const char *const names[] = { "config", "phones", "slots",
					     "stats",  "frags",	 "tx_ports" };
	LIBBPF_OPTS(bpf_map_create_opts, o);
	struct nappt_maps m;
	char dir[64], path[128];
	int fd, i, round;

	snprintf(dir, sizeof(dir), "/sys/fs/bpf/libnappt-layout-%d", getpid());
	for (round = 0; round < 2; round++) {
		pin_all(dir, 0);
		snprintf(path, sizeof(path), "%s/%s", dir,
			 round ? "phones" : "config");
		unlink(path);
		/* round 0: a config of 64-byte values; round 1: phones of
		 * 512 entries where the config says 256. */
		fd = round ? bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4,
					    sizeof(struct nappt_phone), 512,
					    &o) :
			     bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 64, 1,
					    &o);
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
		for (i = 0; i < 6; i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
			unlink(path);
		}
		rmdir(dir);
	}
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
		cmocka_unit_test(test_replace_never_torn),
		cmocka_unit_test(test_del_forgets_frags),
		cmocka_unit_test(test_two_writers_race),
		cmocka_unit_test(test_lock_exclusive),
		cmocka_unit_test(test_open_other_layout),
		cmocka_unit_test(test_stats_names),
		cmocka_unit_test(test_open_missing),
	};

	return cmocka_run_group_tests_name("libnappt", tests, group_setup,
					   group_teardown);
}
