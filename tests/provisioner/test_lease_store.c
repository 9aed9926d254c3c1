// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The lease store (SQLite) and the reconciliation of the data plane's
 * maps with it: durability across reopen, invariant 1 enforced by the
 * store, expiry, transactions, and reconcile adding the missing, fixing
 * the different, removing the stale and leaving the rest alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>
#include <libpq-fe.h>

#include "lease-store.h"
#include "map-sync.h"
#include "privsep.h"
#include "startup.h"
#define PRIVATE_MAPS_NO_SKEL /* maps only: no program runs here */
#include "private-maps.h"

static char dir[64], path[128];
/* NAPPT_TEST_PG_URI set (tests/lib/pg.sh): the tests that do not look
 * inside SQLite run against PostgreSQL instead, as gateway "test"
 * owning the whole pool, and the PostgreSQL-only ones run too. */
static const char *pg_uri;

static const uint8_t all_parts[256] = { [0 ... 255] = 1 };

static struct lease_gateway test_gw(const char *id, unsigned int nparts,
				    const uint8_t *claim)
{
	/* 198.18.0.0 up to 203.0.113.255: every public address the tests
	 * use; the LAN pool 100.64.0.0/10. */
	return (struct lease_gateway){ .id = id,
				       .pub_net = 0xc6120000,
				       .pub_count = 0xcb007200 - 0xc6120000,
				       .lan_net = 0x64400000,
				       .lan_size = 1U << 22,
				       .slots_per_ip = 64,
				       .nparts = nparts,
				       .claim = claim };
}

static int open_store(unsigned int flags, struct lease_store **s)
{
	struct lease_gateway g = test_gw("test", 1, all_parts);
	int r;

	if (!pg_uri)
		return lease_store_open(path, flags, s);
	r = lease_store_open(pg_uri, flags, s);
	if (!r) {
		r = lease_store_gateway(*s, &g);
		if (r)
			lease_store_close(*s);
	}
	return r;
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct lease mk(uint8_t tag, const char *priv, const char *pub,
		       uint16_t first, uint16_t last, int64_t expires)
{
	struct lease l;

	memset(&l, 0, sizeof(l));
	l.mac[0] = 0x00;
	l.mac[1] = 0x1b;
	l.mac[2] = 0x54;
	l.mac[5] = tag;
	l.priv_ip = ip(priv);
	l.pub_ip = ip(pub);
	l.port_first = first;
	l.port_last = last;
	l.expires = expires;
	snprintf(l.vendor, sizeof(l.vendor),
		 "Cisco Systems, Inc. IP Phone "
		 "CP-7940G");
	snprintf(l.model, sizeof(l.model), "cisco-7940");
	return l;
}

static void pg_exec(const char *uri, const char *q)
{
	PGconn *c = PQconnectdb(uri);
	PGresult *res;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	res = PQexec(c, q);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(c);
}

/* Each PostgreSQL test starts from an empty database. */
static int pg_setup(void **state)
{
	pg_exec(pg_uri, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
	return 0;
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/lease-store.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/leases.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_durable_across_reopen(void **state)
{
	struct lease_store *s;
	struct lease a = mk(1, "100.64.0.10", "203.0.113.1", 2048, 3071, 100),
		     got;

	assert_int_equal(open_store(0, &s), 0);
	assert_int_equal(lease_store_begin(s), 0);
	assert_int_equal(lease_store_put(s, &a, 10), 0);
	assert_int_equal(lease_store_commit(s), 0);
	lease_store_close(s);

	assert_int_equal(open_store(0, &s), 0);
	assert_int_equal(lease_store_get(s, a.mac, &got), 0);
	assert_int_equal(got.priv_ip, a.priv_ip);
	assert_int_equal(got.pub_ip, a.pub_ip);
	assert_int_equal(got.port_first, 2048);
	assert_int_equal(got.port_last, 3071);
	assert_int_equal(got.expires, 100);
	assert_string_equal(got.vendor, a.vendor);
	assert_string_equal(got.model, "cisco-7940");
	assert_int_equal(lease_store_del(s, a.mac), 0);
	assert_int_equal(lease_store_del(s, a.mac), -ENOENT);
	assert_int_equal(lease_store_get(s, a.mac, &got), -ENOENT);
	lease_store_close(s);
}

static void test_overlap_refused(void **state)
{
	struct lease_store *s;
	struct lease a = mk(1, "100.64.0.10", "203.0.113.1", 2048, 4095, 100);
	struct lease b = mk(2, "100.64.0.11", "203.0.113.1", 3072, 5119, 100);
	struct lease c = mk(3, "100.64.0.10", "203.0.113.2", 2048, 3071, 100);

	assert_int_equal(open_store(0, &s), 0);
	assert_int_equal(lease_store_put(s, &a, 10), 0);
	/* Invariant 1: no two live leases share a (public IP, port). */
	assert_int_equal(lease_store_put(s, &b, 10), -EADDRINUSE);
	/* Nor a private address. */
	assert_int_equal(lease_store_put(s, &c, 10), -EADDRINUSE);
	/* Adjacent is fine; so is the same range on another address. */
	b.port_first = 4096;
	assert_int_equal(lease_store_put(s, &b, 10), 0);
	c.priv_ip = ip("100.64.0.12");
	assert_int_equal(lease_store_put(s, &c, 10), 0);
	/* The owner renews or moves its own range freely. */
	a.port_last = 3071;
	a.expires = 200;
	assert_int_equal(lease_store_put(s, &a, 10), 0);
	/* An expired lease blocks nobody. */
	b.port_first = 1024;
	b.port_last = 2047;
	b.priv_ip = ip("100.64.0.20");
	b.mac[5] = 9;
	assert_int_equal(lease_store_put(s, &b, 150), 0);
	assert_int_equal(lease_store_del(s, a.mac), 0);
	lease_store_close(s);
	unlink(path);
}

static int count_cb(const struct lease *l, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_expire_and_live(void **state)
{
	struct lease_store *s;
	int i, n = 0;

	assert_int_equal(open_store(0, &s), 0);
	for (i = 0; i < 10; i++) {
		char a[32];
		struct lease l;

		snprintf(a, sizeof(a), "100.64.1.%d", i + 1);
		l = mk((uint8_t)(10 + i), a, "203.0.113.3",
		       (uint16_t)(1024 * (i + 2)),
		       (uint16_t)(1024 * (i + 3) - 1), i < 4 ? 50 : 500);
		assert_int_equal(lease_store_put(s, &l, 0), 0);
	}
	assert_int_equal(lease_store_foreach(s, 1, 100, count_cb, &n), 0);
	assert_int_equal(n, 6);
	n = 0;
	assert_int_equal(lease_store_foreach(s, 0, 100, count_cb, &n), 0);
	assert_int_equal(n, 10);
	n = 0;
	/* The callback sees each expired lease before it is deleted. */
	assert_int_equal(lease_store_expire(s, 100, count_cb, &n), 4);
	assert_int_equal(n, 4);
	n = 0;
	assert_int_equal(lease_store_foreach(s, 0, 100, count_cb, &n), 0);
	assert_int_equal(n, 6);
	assert_int_equal(lease_store_expire(s, 100, NULL, NULL), 0);
	lease_store_close(s);
	unlink(path);
}

static void test_group_commit_and_rollback(void **state)
{
	struct lease_store *s;
	int i, n = 0;

	assert_int_equal(open_store(0, &s), 0);
	/* One transaction, one fsync, for a whole burst of REQUESTs. */
	assert_int_equal(lease_store_begin(s), 0);
	assert_int_equal(lease_store_begin(s), -EINVAL);
	for (i = 0; i < 2000; i++) {
		struct lease l;
		char a[32];

		snprintf(a, sizeof(a), "100.64.%d.%d", 10 + i / 250,
			 1 + i % 250);
		l = mk(0, a, "203.0.113.4", 2048, 3071, 1000);
		l.mac[3] = (uint8_t)(i >> 8);
		l.mac[4] = (uint8_t)i;
		l.pub_ip = htonl(ntohl(ip("198.18.0.0")) + (uint32_t)i);
		assert_int_equal(lease_store_put(s, &l, 0), 0);
	}
	assert_int_equal(lease_store_commit(s), 0);
	assert_int_equal(lease_store_foreach(s, 1, 0, count_cb, &n), 0);
	assert_int_equal(n, 2000);

	/* What a failed batch wrote is not there. */
	assert_int_equal(lease_store_begin(s), 0);
	{
		struct lease l = mk(0xee, "100.64.200.1", "203.0.113.5", 2048,
				    3071, 1000);

		assert_int_equal(lease_store_put(s, &l, 0), 0);
		assert_int_equal(lease_store_rollback(s), 0);
		assert_int_equal(lease_store_get(s, l.mac, &l), -ENOENT);
	}
	assert_int_equal(lease_store_commit(s), -EINVAL);
	lease_store_close(s);
	unlink(path);
}

/* A renewal touches the expiry (and vendor, model, client id) only. */
static void test_renew(void **state)
{
	struct lease_store *s;
	struct lease a = mk(1, "100.64.0.10", "203.0.113.1", 2048, 3071, 100),
		     got;

	assert_int_equal(open_store(0, &s), 0);
	snprintf(a.client_id, sizeof(a.client_id), "01001b5400000001");
	assert_int_equal(lease_store_put(s, &a, 10), 0);
	a.expires = 900;
	snprintf(a.vendor, sizeof(a.vendor), "Cisco CP-7960G");
	a.client_id[0] = '\0';
	assert_int_equal(lease_store_renew(s, &a), 0);
	assert_int_equal(lease_store_get(s, a.mac, &got), 0);
	assert_int_equal(got.expires, 900);
	assert_int_equal(got.port_first, 2048);
	assert_string_equal(got.vendor, "Cisco CP-7960G");
	assert_string_equal(got.client_id, "");
	a.mac[5] = 0x99;
	assert_int_equal(lease_store_renew(s, &a), -ENOENT);
	lease_store_close(s);
	unlink(path);
}

/*
 * LS_DEFER_SYNC: a commit and a lease_store_sync() after it, then the
 * process dies without closing (kill -9): the lease is there after a
 * reopen.  (Power loss is out of a test's reach; the sync is fdatasync
 * of the WAL, which SQLite's FULL mode does in the same place.)
 */
static void test_deferred_sync_kill9(void **state)
{
	struct lease a = mk(7, "100.64.0.17", "203.0.113.7", 2048, 3071, 999),
		     got;
	struct lease_store *s;
	int fds[2], status;
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		/* The WAL is open from the start: the parser that uses
		 * the store may have no path to it (privsep.h). */
		if (lease_store_open(path, LS_DEFER_SYNC, &s) ||
		    lease_store_sync_fd(s) < 0 || lease_store_begin(s) ||
		    lease_store_put(s, &a, 10) || lease_store_commit(s) ||
		    lease_store_sync_fd(s) < 0 || lease_store_sync(s))
			_exit(1);
		/* A commit that is never synced may or may not survive;
		 * the process dies in the middle of the next one. */
		lease_store_begin(s);
		if (write(fds[1], "s", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	assert_int_equal(c, 's');
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	close(fds[0]);

	assert_int_equal(lease_store_open(path, 0, &s), 0);
	assert_int_equal(lease_store_get(s, a.mac, &got), 0);
	assert_int_equal(got.priv_ip, a.priv_ip);
	assert_int_equal(got.expires, 999);
	/* Without LS_DEFER_SYNC a sync has nothing to do. */
	assert_int_equal(lease_store_sync(s), 0);
	assert_int_equal(lease_store_sync_fd(s), -1);
	lease_store_close(s);
	unlink(path);
}

static off_t file_size(const char *f)
{
	struct stat st;

	return stat(f, &st) ? -1 : st.st_size;
}

/*
 * LS_DEFER_SYNC: the committing thread never checkpoints (which syncs the
 * WAL and the database inline: 10-200 ms stalls of the DHCP server under
 * load), lease_store_checkpoint() does, from any thread, and loses
 * nothing.  The database file grows only when the checkpoint runs.
 */
static void test_checkpoint_off_thread(void **state)
{
	struct lease_store *s;
	struct lease l, got;
	off_t before;
	int i;

	assert_int_equal(lease_store_open(path, LS_DEFER_SYNC, &s), 0);
	/* Nothing to fold yet. */
	assert_int_equal(lease_store_checkpoint(s), 0);
	before = file_size(path);
	assert_true(before > 0);
	/* ~5 frames per commit: well past SQLite's automatic checkpoint
	 * (1,000 frames), below the store's inline limit. */
	for (i = 0; i < 600; i++) {
		l = mk(0, "100.64.0.2", "203.0.113.1", 1024, 2047, 999);
		l.mac[4] = (uint8_t)(i >> 8);
		l.mac[5] = (uint8_t)i;
		l.priv_ip = htonl(0x64400002u + (uint32_t)i);
		l.pub_ip = htonl(0xcb007100u + (uint32_t)(i / 60));
		l.port_first = (uint16_t)(1024 * (1 + i % 60));
		l.port_last = (uint16_t)(l.port_first + 1023);
		assert_int_equal(lease_store_begin(s), 0);
		assert_int_equal(lease_store_put(s, &l, 10), 0);
		assert_int_equal(lease_store_commit(s), 0);
	}
	assert_int_equal(lease_store_sync(s), 0);
	assert_int_equal(file_size(path), before);
	assert_int_equal(lease_store_checkpoint(s), 1);
	assert_true(file_size(path) > before);
	/* Done: nothing more until the log grows again. */
	assert_int_equal(lease_store_checkpoint(s), 0);
	/* Commits after the checkpoint (the WAL restarts) are kept too. */
	assert_int_equal(lease_store_begin(s), 0);
	l.expires = 1234;
	assert_int_equal(lease_store_put(s, &l, 11), 0);
	assert_int_equal(lease_store_commit(s), 0);
	assert_int_equal(lease_store_sync(s), 0);
	lease_store_close(s);

	assert_int_equal(lease_store_open(path, 0, &s), 0);
	for (i = 0; i < 600; i += 97) {
		uint8_t mac[6] = { 0,	      0x1b, 0x54, 0, (uint8_t)(i >> 8),
				   (uint8_t)i };

		assert_int_equal(lease_store_get(s, mac, &got), 0);
		assert_int_equal(ntohl(got.priv_ip), 0x64400002u + i);
	}
	assert_int_equal(lease_store_get(s, l.mac, &got), 0);
	assert_int_equal(got.expires, 1234);
	/* Without LS_DEFER_SYNC there is nothing to fold by hand. */
	assert_int_equal(lease_store_checkpoint(s), 0);
	lease_store_close(s);
	unlink(path);
}

static void sql(const char *file, const char *q)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(file, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A store written by the first layout is converted, leases kept; one
 * from a newer program, or a file that is no database, is refused. */
static void test_schema(void **state)
{
	struct lease_store *s = NULL;
	struct lease got;
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0x00, 0x00, 0x31 };
	FILE *f;

	sql(path, "CREATE TABLE leases (mac BLOB PRIMARY KEY NOT NULL,"
		  " priv_ip INTEGER NOT NULL, pub_ip INTEGER NOT NULL,"
		  " port_first INTEGER NOT NULL, port_last INTEGER NOT NULL,"
		  " expires INTEGER NOT NULL, vendor TEXT NOT NULL DEFAULT '',"
		  " model TEXT NOT NULL DEFAULT '');"
		  "CREATE INDEX leases_exp ON leases (expires);"
		  "INSERT INTO leases VALUES (x'001b54000031', 1, 2, 2048,"
		  " 3071, 500, 'v', 'cisco-7940');");
	assert_int_equal(lease_store_open(path, 0, &s), 0);
	assert_int_equal(lease_store_get(s, mac, &got), 0);
	assert_int_equal(got.port_last, 3071);
	assert_string_equal(got.model, "cisco-7940");
	assert_string_equal(got.client_id, "");
	lease_store_close(s);
	/* Opened again: nothing to convert, the lease still there. */
	assert_int_equal(lease_store_open(path, 0, &s), 0);
	assert_int_equal(lease_store_get(s, mac, &got), 0);
	lease_store_close(s);
	s = NULL;

	sql(path, "PRAGMA user_version = 99");
	assert_int_equal(lease_store_open(path, 0, &s), -EPROTO);
	assert_null(s);
	unlink(path);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("this is not a lease store, but it is long enough to look like "
	      "a file of some size, longer than the 100 bytes of a header\n",
	      f);
	fclose(f);
	assert_int_equal(lease_store_open(path, 0, &s), -EILSEQ);
	assert_null(s);
	unlink(path);
}

static void test_bad_path(void **state)
{
	struct lease_store *s = NULL;

	assert_int_not_equal(
		lease_store_open("/nonexistent-dir/x/leases.db", 0, &s), 0);
	assert_null(s);
	assert_int_equal(lease_store_open(NULL, 0, &s), -EINVAL);
	lease_store_close(NULL);
}

/* --- reconcile against real (private) maps ----------------------------- */

static struct nappt_maps M;

static int maps_setup(void)
{
	struct nappt_config cfg = {
		.lan_net = ip("100.64.0.0"),
		.lan_size = 1024, /* every key of 16 x 64 slots */
		.pub_net = ip("203.0.113.0"),
		.pub_count = 16,
		.slot_shift = 10,
		.slots_per_ip = 64,
	};

	return private_maps_bare(&M, &cfg);
}

/* The private address a range derives in the maps of maps_setup (issue
 * 13): lan_net + public index x 64 + first slot. */
static uint32_t derived_of(uint32_t pub_be, uint16_t first)
{
	return htonl(ntohl(ip("100.64.0.0")) +
		     (ntohl(pub_be) - ntohl(ip("203.0.113.0"))) * 64 +
		     (first >> 10));
}

/* mk() at the derived address. */
static struct lease mkd(uint8_t tag, const char *pub, uint16_t first,
			uint16_t last, int64_t expires)
{
	struct lease l = mk(tag, "0.0.0.0", pub, first, last, expires);

	l.priv_ip = derived_of(l.pub_ip, first);
	return l;
}

static void test_reconcile(void **state)
{
	struct lease same = mkd(1, "203.0.113.1", 2048, 3071, 500);
	/* Mapped with a second slot it no longer has. */
	struct lease moved = mkd(2, "203.0.113.1", 3072, 4095, 500);
	struct lease missing = mkd(3, "203.0.113.2", 2048, 3071, 500);
	struct lease blocked = mkd(4, "203.0.113.3", 2048, 3071, 500);
	struct lease expired = mkd(5, "203.0.113.4", 2048, 3071, 50);
	/* Issue 13: stored by an older version at an address its range
	 * does not derive (203.0.113.5 slot 2 is 100.64.1.66). */
	struct lease underived =
		mk(6, "100.64.0.200", "203.0.113.5", 2048, 3071, 500);
	struct nappt_phone p, stale;
	struct sync_stats st;
	struct lease_store *s;

	assert_int_equal(maps_setup(), 0);
	assert_int_equal(lease_store_open(path, 0, &s), 0);
	assert_int_equal(lease_store_put(s, &same, 0), 0);
	assert_int_equal(lease_store_put(s, &moved, 0), 0);
	assert_int_equal(lease_store_put(s, &missing, 0), 0);
	assert_int_equal(lease_store_put(s, &blocked, 0), 0);
	assert_int_equal(lease_store_put(s, &expired, 0), 0);
	assert_int_equal(lease_store_put(s, &underived, 0), 0);

	/* Maps as a crashed provisioner may have left them. */
	assert_int_equal(map_sync_add(&M, &same), 0);
	map_sync_phone(&moved, &p);
	p.port_last = 5119;
	assert_int_equal(nappt_phone_add(&M, moved.priv_ip, &p), 0);
	/* A mapping without a lease (slots 1-2 of .3) holding the slot
	 * `blocked` needs. */
	map_sync_phone(&blocked, &stale);
	stale.mac[5] = 0x77;
	stale.port_first = 1024;
	assert_int_equal(
		nappt_phone_add(&M, derived_of(stale.pub_ip, 1024), &stale), 0);
	assert_int_equal(map_sync_add(&M, &expired), 0);
	assert_int_equal(map_sync_add(&M, &underived), -EADDRNOTAVAIL);

	assert_int_equal(map_sync_reconcile(s, &M, 100, &st), 0);
	assert_int_equal(st.kept, 1);
	assert_int_equal(st.updated, 1);
	assert_int_equal(st.added, 2); /* missing, and blocked on retry */
	assert_int_equal(st.removed, 2); /* the stale one and the expired */
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.underived, 1);

	assert_int_equal(nappt_phone_get(&M, moved.priv_ip, &p), 0);
	assert_int_equal(p.port_first, 3072);
	assert_int_equal(p.port_last, 4095);
	assert_int_equal(nappt_phone_get(&M, missing.priv_ip, &p), 0);
	assert_int_equal(nappt_phone_get(&M, blocked.priv_ip, &p), 0);
	assert_int_equal(p.mac[5], 4);
	assert_int_equal(nappt_phone_get(&M, derived_of(stale.pub_ip, 1024),
					 &p),
			 -ENOENT);
	assert_int_equal(nappt_phone_get(&M, expired.priv_ip, &p), -ENOENT);
	/* Never mapped, at either address. */
	assert_int_equal(nappt_phone_get(&M, underived.priv_ip, &p), -ENOENT);
	assert_int_equal(nappt_phone_get(&M, derived_of(underived.pub_ip, 2048),
					 &p),
			 -ENOENT);

	/* A second pass has nothing to do. */
	assert_int_equal(map_sync_reconcile(s, &M, 100, &st), 0);
	assert_int_equal(st.kept, 4);
	assert_int_equal(st.added + st.updated + st.removed + st.failed, 0);

	/* Release: the mapping goes, but never another phone's. */
	assert_int_equal(map_sync_del(&M, &same), 0);
	assert_int_equal(nappt_phone_get(&M, same.priv_ip, &p), -ENOENT);
	assert_int_equal(map_sync_del(&M, &same), 0);
	missing.mac[5] = 0x42; /* an older holder of that address */
	assert_int_equal(map_sync_del(&M, &missing), 0);
	assert_int_equal(nappt_phone_get(&M, missing.priv_ip, &p), 0);

	lease_store_close(s);
	unlink(path);
	nappt_maps_close(&M);
}

/* Raw writes into the mmap of `slots`, as a writer killed half-way (or
 * anything but libnappt) leaves them: entry (pub, port) names the phone
 * `dist` slots before it, with mac; dist < 0 frees it. */
static uint32_t key_of(uint32_t pub_be, uint16_t port)
{
	return (ntohl(pub_be) - ntohl(M.cfg.pub_net)) * M.cfg.slots_per_ip +
	       (port >> M.cfg.slot_shift);
}

static void raw_entry(uint32_t pub_be, uint16_t port, const uint8_t mac[6],
		      int dist)
{
	struct nappt_slot v = { 0 };
	uint64_t w;

	if (dist >= 0) {
		memcpy(v.mac, mac, sizeof(v.mac));
		v.owner = (uint16_t)(NAPPT_SLOT_VALID | dist);
	}
	memcpy(&w, &v, sizeof(w));
	__atomic_store_n((uint64_t *)(void *)&M.slot_mem[key_of(pub_be, port)],
			 w, __ATOMIC_RELEASE);
}

static struct nappt_slot entry_of(uint32_t pub_be, uint16_t port)
{
	return M.slot_mem[key_of(pub_be, port)];
}

/*
 * Defect 6 (kill -9 in the middle of a map add or delete), with the slot
 * layout of issue 13: a phone whose first slot is missing is not "held";
 * a slot beyond the lease's range that names the phone makes it not held
 * either; slots in no phone's run from its first slot (orphans: a wrong
 * MAC, a dead owner, an owner on another address) are cleared by
 * reconcile and never make the next owner's add fail with -EBUSY.
 */
static void test_half_mappings(void **state)
{
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x99 };
	/* Its second slot written, its first never. */
	struct lease half = mkd(1, "203.0.113.1", 2048, 4095, 500);
	/* The next owner of a slot whose owner (slot 1) is not leased. */
	struct lease next = mkd(2, "203.0.113.5", 2048, 3071, 500);
	/* Mapped right, and a third slot (7) still names it. */
	struct lease longer = mkd(3, "203.0.113.6", 5120, 7167, 500);
	/* Its first slot right; its slot 3 with another MAC: not its run,
	 * an orphan that would take slot 3's inbound to another MAC. */
	struct lease after = mkd(4, "203.0.113.7", 2048, 3071, 500);
	struct lease slot3 = mkd(5, "203.0.113.7", 3072, 4095, 500);
	struct nappt_phone p;
	struct nappt_slot e;
	struct sync_stats st;
	struct lease_store *s;
	struct pm *pm;

	assert_int_equal(maps_setup(), 0);
	raw_entry(half.pub_ip, 3072, half.mac, 1);
	raw_entry(next.pub_ip, 2048, other, 1);
	assert_int_equal(map_sync_add(&M, &longer), 0);
	raw_entry(longer.pub_ip, 7168, longer.mac, 2);
	raw_entry(after.pub_ip, 2048, after.mac, 0);
	raw_entry(after.pub_ip, 3072, other, 1);
	/* Named from slot 62 of the address before: no phone's. */
	raw_entry(ip("203.0.113.8"), 1024, other, 3);

	/* The sweep's check sees the missing first slot, the extra one. */
	assert_int_equal(map_sync_holds(&M, &half), 0);
	assert_int_equal(map_sync_holds(&M, &longer), 0);
	assert_int_equal(map_sync_holds(&M, &after), 1);

	/* Reconcile: the half one completed, the longer one cut to its
	 * lease, the orphans (half's, next's way, slot 3's other MAC,
	 * the one named across addresses) cleared, so slot3 maps in the
	 * same pass. */
	assert_int_equal(lease_store_open(path, 0, &s), 0);
	assert_int_equal(lease_store_put(s, &half, 0), 0);
	assert_int_equal(lease_store_put(s, &longer, 0), 0);
	assert_int_equal(lease_store_put(s, &after, 0), 0);
	assert_int_equal(lease_store_put(s, &slot3, 0), 0);
	assert_int_equal(map_sync_reconcile(s, &M, 100, &st), 0);
	assert_int_equal(st.failed, 0);
	/* 3, and half's own when the sweep came before its add (which
	 * frees what names it): the store's order. */
	assert_true(st.orphans >= 3);
	assert_int_equal(map_sync_holds(&M, &half), 1);
	assert_int_equal(map_sync_holds(&M, &longer), 1);
	assert_int_equal(entry_of(longer.pub_ip, 7168).owner, 0);
	assert_int_equal(map_sync_holds(&M, &after), 1);
	assert_int_equal(map_sync_holds(&M, &slot3), 1);
	assert_int_equal(entry_of(ip("203.0.113.8"), 1024).owner, 0);
	assert_int_equal(entry_of(next.pub_ip, 2048).owner, 0);

	/* The next owner of an orphan slot gets it... */
	raw_entry(next.pub_ip, 2048, other, 1);
	assert_int_equal(map_sync_add(&M, &next), 0);
	e = entry_of(next.pub_ip, 2048);
	assert_int_equal(e.owner, NAPPT_SLOT_VALID);
	assert_memory_equal(e.mac, next.mac, 6);
	/* ...but never a slot its live owner covers (slot 6 is longer's). */
	slot3 = mkd(5, "203.0.113.6", 6144, 7167, 500);
	assert_int_equal(map_sync_add(&M, &slot3), -EBUSY);
	assert_int_equal(map_sync_holds(&M, &longer), 1);
	slot3 = mkd(5, "203.0.113.7", 3072, 4095, 500);
	/* next has no lease: its mapping is stale and goes, slots too. */
	assert_int_equal(map_sync_reconcile(s, &M, 100, &st), 0);
	assert_int_equal(st.removed, 1);
	assert_int_equal(nappt_phone_get(&M, next.priv_ip, &p), -ENOENT);
	assert_int_equal(entry_of(next.pub_ip, 2048).owner, 0);

	/* The same through the map writer (the running server's sweep):
	 * a delete cut after the first slot is reported missing and
	 * repaired by an add; an orphan in the way is cleared. */
	assert_int_equal(pm_start(&M, "lo", ntohl(ip("100.64.0.0")), 1024, &pm),
			 0);
	raw_entry(half.pub_ip, 2048, half.mac, -1);
	assert_int_equal(pm_map_check(pm, &half), 0);
	assert_int_equal(pm_map_add(pm, &half), 0);
	assert_int_equal(pm_map_check(pm, &half), 1);
	raw_entry(next.pub_ip, 2048, other, 1);
	assert_int_equal(pm_map_add(pm, &next), 0);
	pm_stop(pm);
	lease_store_close(s);
	unlink(path);
	nappt_maps_close(&M);
}

/* The map writer over the same maps: what the parser may ask, and what
 * it may not. */
static int list2(void *src, lease_cb cb, void *arg)
{
	const struct lease *l = src;
	int r = cb(&l[0], arg);

	return r ? r : cb(&l[1], arg);
}

static int list_fails(void *src, lease_cb cb, void *arg)
{
	const struct lease *l = src;

	cb(&l[0], arg);
	return -EIO;
}

static void test_map_writer(void **state)
{
	struct lease a = mkd(1, "203.0.113.1", 2048, 3071, 500);
	struct lease b = mkd(2, "203.0.113.1", 3072, 4095, 500);
	struct lease bad = mk(3, "100.65.0.11", "203.0.113.1", 4096, 5119, 500);
	struct lease over = mkd(4, "203.0.113.1", 1024, 3071, 500);
	struct lease two[2];
	struct nappt_phone p;
	struct sync_stats st;
	struct pm *pm;

	assert_int_equal(maps_setup(), 0);
	assert_int_equal(pm_start(&M, "lo", ntohl(ip("100.64.0.0")), 1024, &pm),
			 0);
	assert_true(pm_pid(pm) > 0);
	assert_int_equal(pm_map_add(pm, &a), 0);
	assert_int_equal(nappt_phone_get(&M, a.priv_ip, &p), 0);
	assert_int_equal(p.port_first, 2048);
	assert_int_equal(pm_map_check(pm, &a), 1);
	assert_int_equal(pm_map_check(pm, &b), 0);
	/* Outside the pools, a slot another phone holds, or not the
	 * address the range derives: refused. */
	assert_true(pm_map_add(pm, &bad) < 0);
	assert_int_equal(pm_map_add(pm, &over), -EBUSY);
	b.port_first = 4096;
	b.port_last = 5119;
	assert_int_equal(pm_map_add(pm, &b), -EADDRNOTAVAIL);
	b.port_first = 3072;
	b.port_last = 4095;
	/* An ARP entry only for an address of the LAN pool. */
	assert_int_equal(pm_arp(pm, ip("198.51.100.1"), a.mac), -ERANGE);
	/* Reconcile: b added, a kept; a list cut short changes nothing. */
	two[0] = a;
	two[1] = b;
	assert_int_equal(pm_reconcile(pm, list_fails, two, &st), -EIO);
	assert_int_equal(nappt_phone_get(&M, b.priv_ip, &p), -ENOENT);
	assert_int_equal(pm_reconcile(pm, list2, two, &st), 0);
	assert_int_equal(st.kept, 1);
	assert_int_equal(st.added, 1);
	assert_int_equal(pm_map_del(pm, &a), 0);
	assert_int_equal(nappt_phone_get(&M, a.priv_ip, &p), -ENOENT);
	pm_stop(pm);
	nappt_maps_close(&M);
}

/* --- attribution: who held (public address, port) when ---------------- */

struct who_got {
	int n;
	struct attribution a;
};

static int who_cb(const struct attribution *a, void *arg)
{
	struct who_got *g = arg;

	g->n++;
	g->a = *a;
	return 0;
}

/* The MAC that held pub:port at t, its last byte; 0 for nobody. */
static int who(struct lease_store *s, const char *pub, uint16_t port, int64_t t)
{
	struct who_got g = { 0 };
	int r = lease_store_who(s, ip(pub), port, t, who_cb, &g);

	assert_true(r >= 0);
	assert_int_equal(r, g.n);
	assert_true(g.n <= 1); /* invariant 1, over time */
	return g.n ? g.a.mac[5] : 0;
}

/*
 * Defect 9: the history is kept with the lease, in its transaction; a
 * renewal extends it, a release or expiry closes it; it survives a
 * restart and answers "which phone held A, port P at time T?".
 */
static void test_attribution(void **state)
{
	struct lease a = mk(1, "100.64.0.10", "203.0.113.1", 2048, 3071, 4600);
	struct lease b = mk(2, "100.64.0.11", "203.0.113.1", 2048, 3071, 9000);
	struct lease c = mk(3, "100.64.0.12", "203.0.113.2", 2048, 3071, 9000);
	struct lease d = mk(4, "100.64.0.13", "203.0.113.3", 2048, 3071, 9000);
	struct who_got g = { 0 };
	struct lease_store *s;

	assert_int_equal(open_store(LS_DEFER_SYNC, &s), 0);
	assert_int_equal(lease_store_begin(s), 0);
	assert_int_equal(lease_store_put(s, &a, 1000), 0);
	assert_int_equal(lease_store_commit(s), 0);
	assert_int_equal(who(s, "203.0.113.1", 2100, 999), 0);
	assert_int_equal(who(s, "203.0.113.1", 2048, 1000), 1);
	assert_int_equal(who(s, "203.0.113.1", 3071, 4599), 1);
	assert_int_equal(who(s, "203.0.113.1", 3072, 2000), 0);
	assert_int_equal(who(s, "203.0.113.2", 2100, 2000), 0);
	/* Renewed: held until the new expiry. */
	a.expires = 8200;
	assert_int_equal(lease_store_begin(s), 0);
	assert_int_equal(lease_store_renew(s, &a), 0);
	assert_int_equal(lease_store_commit(s), 0);
	assert_int_equal(who(s, "203.0.113.1", 2100, 6000), 1);
	/* Released at 7000; the next phone gets the range at 7100. */
	assert_int_equal(lease_store_begin(s), 0);
	assert_int_equal(lease_store_del_at(s, a.mac, 7000), 0);
	assert_int_equal(lease_store_put(s, &b, 7100), 0);
	assert_int_equal(lease_store_commit(s), 0);
	assert_int_equal(who(s, "203.0.113.1", 2100, 6999), 1);
	assert_int_equal(who(s, "203.0.113.1", 2100, 7000), 0);
	assert_int_equal(who(s, "203.0.113.1", 2100, 7100), 2);
	/* A phone moved to another range: the old one is free from then. */
	assert_int_equal(lease_store_put(s, &c, 2000), 0);
	c.pub_ip = ip("203.0.113.4");
	assert_int_equal(lease_store_put(s, &c, 3000), 0);
	assert_int_equal(who(s, "203.0.113.2", 2100, 2999), 3);
	assert_int_equal(who(s, "203.0.113.2", 2100, 3000), 0);
	assert_int_equal(who(s, "203.0.113.4", 2100, 3000), 3);
	/* What a transaction rolled back never held anything. */
	assert_int_equal(lease_store_begin(s), 0);
	assert_int_equal(lease_store_put(s, &d, 5000), 0);
	assert_int_equal(lease_store_rollback(s), 0);
	assert_int_equal(who(s, "203.0.113.3", 2100, 5000), 0);
	lease_store_close(s);

	/* Across a restart, and expiry: b ran out at 9000 while the
	 * provisioner was down; the start expires it. */
	assert_int_equal(open_store(LS_DEFER_SYNC, &s), 0);
	assert_int_equal(who(s, "203.0.113.1", 2100, 6000), 1);
	assert_int_equal(who(s, "203.0.113.1", 2100, 8000), 2);
	assert_int_equal(lease_store_expire(s, 10000, NULL, NULL), 2);
	assert_int_equal(who(s, "203.0.113.1", 2100, 8999), 2);
	assert_int_equal(who(s, "203.0.113.1", 2100, 9000), 0);
	assert_int_equal(lease_store_who(s, ip("203.0.113.1"), 2100, 8999,
					 who_cb, &g),
			 1);
	assert_int_equal(g.a.open, 0);
	assert_int_equal(g.a.from, 7100);
	assert_int_equal(g.a.until, 9000);
	assert_int_equal(g.a.priv_ip, b.priv_ip);
	assert_string_equal(g.a.model, "cisco-7940");
	/* Retention: intervals closed before 8000 go. */
	assert_true(lease_store_prune_history(s, 8000) >= 2);
	assert_int_equal(who(s, "203.0.113.1", 2100, 6000), 0);
	assert_int_equal(who(s, "203.0.113.1", 2100, 8000), 2);
	lease_store_close(s);
	unlink(path);
}

/* --- start-up: expired leases lose store row, mapping, files ----------- */

static void touch(const char *d, const char *name, const char *text)
{
	char p[300];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", d, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int exists(const char *d, const char *name)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/%s", d, name);
	return access(p, F_OK) == 0;
}

/*
 * Defect 7: a lease that expired while the provisioner was down keeps
 * neither its mapping nor its config file nor its tftpd gate entry (so
 * the next holder of its address cannot read the old phone's file); one
 * that expires at the very second of the start is treated the same by
 * every step (one clock reading); files of live leases and the
 * operator's own files stay.
 */
static void test_startup_clean(void **state)
{
	struct lease gone = mkd(1, "203.0.113.1", 2048, 3071, 50);
	struct lease edge = mkd(2, "203.0.113.1", 3072, 4095, 100);
	struct lease live = mkd(3, "203.0.113.2", 2048, 3071, 900);
	struct lease moved = mkd(4, "203.0.113.2", 3072, 4095, 900);
	char gone_a[20], edge_a[20], live_a[20];
	static struct prov_conf c;
	struct startup_stats st;
	struct lease_store *s;
	struct nappt_phone p;
	char ph[128], gate[160], link_to[160], link_at[200];
	struct stat lst;

	snprintf(ph, sizeof(ph), "%s/phones", dir);
	snprintf(gate, sizeof(gate), "%s/.leases", ph);
	assert_int_equal(mkdir(ph, 0755), 0);
	assert_int_equal(mkdir(gate, 0755), 0);
	snprintf(c.tftp_root, sizeof(c.tftp_root), "%s", ph);
	/* The maps' pools (maps_setup): the start maps only what is a
	 * phone's address in them (test_startup_limits). */
	c.lan_net = ntohl(ip("100.64.0.0"));
	c.lan_size = 1024;
	assert_int_equal(maps_setup(), 0);
	assert_int_equal(lease_store_open(path, 0, &s), 0);
	assert_int_equal(lease_store_put(s, &gone, 0), 0);
	assert_int_equal(lease_store_put(s, &edge, 0), 0);
	assert_int_equal(lease_store_put(s, &live, 0), 0);
	assert_int_equal(lease_store_put(s, &moved, 0), 0);
	assert_int_equal(map_sync_add(&M, &gone), 0);
	assert_int_equal(map_sync_add(&M, &edge), 0);
	assert_int_equal(map_sync_add(&M, &live), 0);
	/* Files as the old server left them. */
	inet_ntop(AF_INET, &gone.priv_ip, gone_a, 16);
	inet_ntop(AF_INET, &edge.priv_ip, edge_a, 16);
	inet_ntop(AF_INET, &live.priv_ip, live_a, 16);
	strcat(gone_a, "\n");
	strcat(edge_a, "\n");
	strcat(live_a, "\n");
	touch(ph, "SEP001B54000001.cnf.xml", "gone's config");
	touch(gate, "SEP001B54000001.cnf.xml", gone_a);
	touch(ph, "001b54000002.cfg", "edge's config");
	touch(gate, "001b54000002.cfg", edge_a);
	touch(ph, "SEP001B54000003.cnf.xml", "live's config");
	touch(gate, "SEP001B54000003.cnf.xml", live_a);
	/* A gate entry naming another address than its live lease's. */
	touch(ph, "SEP001B54000004.cnf.xml", "moved's config");
	touch(gate, "SEP001B54000004.cnf.xml", "100.64.0.99\n");
	touch(ph, ".SEP001B54000003.cnf.xml.AbC123", "a crash's leftover");
	touch(ph, "P0030801.bin", "an operator's image");
	touch(ph, "SEPDefault.cnf", "an operator's file");
	/* The parser owns the directory: under a live lease's other file
	 * name it may plant a link to a root file, which the core running
	 * as root would then take for the phone's file (present). */
	touch(dir, "secret", "root's");
	snprintf(link_to, sizeof(link_to), "%s/secret", dir);
	snprintf(link_at, sizeof(link_at), "%s/001b54000003.cfg", ph);
	assert_int_equal(symlink(link_to, link_at), 0);

	assert_int_equal(startup_clean(&c, s, &M, 100, &st), 0);
	assert_int_equal(lstat(link_at, &lst), -1);
	assert_true(exists(dir, "secret"));
	assert_int_equal(st.expired, 2);
	assert_int_equal(st.maps.removed, 2);
	assert_int_equal(st.maps.failed, 0);
	/* Expired (and expiring now): no row, no mapping, no files. */
	assert_int_equal(lease_store_get(s, gone.mac, &(struct lease){ 0 }),
			 -ENOENT);
	assert_int_equal(lease_store_get(s, edge.mac, &(struct lease){ 0 }),
			 -ENOENT);
	assert_int_equal(nappt_phone_get(&M, gone.priv_ip, &p), -ENOENT);
	assert_int_equal(nappt_phone_get(&M, edge.priv_ip, &p), -ENOENT);
	assert_false(exists(ph, "SEP001B54000001.cnf.xml"));
	assert_false(exists(gate, "SEP001B54000001.cnf.xml"));
	assert_false(exists(ph, "001b54000002.cfg"));
	assert_false(exists(gate, "001b54000002.cfg"));
	/* The stale gate entry and its file go (rewritten from the
	 * store when the server starts), the crash's leftover too. */
	assert_false(exists(gate, "SEP001B54000004.cnf.xml"));
	assert_false(exists(ph, "SEP001B54000004.cnf.xml"));
	assert_false(exists(ph, ".SEP001B54000003.cnf.xml.AbC123"));
	/* Live: kept; the operator's: never touched. */
	assert_true(exists(ph, "SEP001B54000003.cnf.xml"));
	assert_true(exists(gate, "SEP001B54000003.cnf.xml"));
	assert_int_equal(nappt_phone_get(&M, live.priv_ip, &p), 0);
	assert_true(exists(ph, "P0030801.bin"));
	assert_true(exists(ph, "SEPDefault.cnf"));
	/* Nothing left to do the second time. */
	assert_int_equal(startup_clean(&c, s, &M, 100, &st), 0);
	assert_int_equal(
		st.expired + (int)st.files_removed + (int)st.maps.removed, 0);
	lease_store_close(s);
	unlink(path);
	nappt_maps_close(&M);
}

/*
 * The store is the parser's to write (README, privilege separation): a
 * row over reserved_ports, or at the gateway's address, is refused by the
 * map writer, and must be by the reconcile the root process makes at
 * start too, before the writer exists.  Mapped, such a row would take
 * the inbound traffic of the gateway's own services (or hand the phone
 * the gateway's address) until the next reconcile through the writer.
 */
static void test_startup_limits(void **state)
{
	struct lease rsv = mkd(1, "203.0.113.3", 4096, 5119, 900);
	struct lease gw = mkd(2, "203.0.113.2", 2048, 3071, 900);
	struct lease ok = mkd(3, "203.0.113.4", 2048, 3071, 900);
	static struct prov_conf c;
	struct startup_stats st;
	struct lease_store *s;
	struct nappt_phone p;
	char ph[128];

	snprintf(ph, sizeof(ph), "%s/phones-limits", dir);
	assert_int_equal(mkdir(ph, 0755), 0);
	snprintf(c.tftp_root, sizeof(c.tftp_root), "%s", ph);
	c.lan_net = ntohl(ip("100.64.0.0"));
	c.lan_size = 1024;
	/* Key 130: 203.0.113.2 ports 2048-3071 derive it. */
	c.gateway = ntohl(ip("100.64.0.130"));
	c.reserved[0][0] = 5060; /* in 203.0.113.3's slot 4096-5119 */
	c.reserved[0][1] = 5061;
	c.nreserved = 1;
	assert_int_equal(gw.priv_ip, ip("100.64.0.130"));
	assert_int_equal(maps_setup(), 0);
	assert_int_equal(lease_store_open(path, 0, &s), 0);
	assert_int_equal(lease_store_put(s, &rsv, 0), 0);
	assert_int_equal(lease_store_put(s, &gw, 0), 0);
	assert_int_equal(lease_store_put(s, &ok, 0), 0);
	/* A mapping an earlier start made of the row. */
	assert_int_equal(map_sync_add(&M, &rsv), 0);

	assert_int_equal(startup_clean(&c, s, &M, 100, &st), 0);
	assert_int_equal(nappt_phone_get(&M, rsv.priv_ip, &p), -ENOENT);
	assert_int_equal(nappt_phone_get(&M, gw.priv_ip, &p), -ENOENT);
	assert_int_equal(nappt_phone_get(&M, ok.priv_ip, &p), 0);
	assert_int_equal(st.maps.failed, 2);
	assert_int_equal(st.maps.removed, 1);
	lease_store_close(s);
	unlink(path);
	nappt_maps_close(&M);
}

/* --- PostgreSQL: several gateways, fencing, the constraint ------------- */

static struct lease_store *pg_gw(const char *id, unsigned int nparts,
				 const uint8_t *claim)
{
	struct lease_gateway g = test_gw(id, nparts, claim);
	struct lease_store *s;

	assert_int_equal(lease_store_open(pg_uri, 0, &s), 0);
	assert_int_equal(lease_store_gateway(s, &g), 0);
	return s;
}

/*
 * Ownership with fencing: a gateway writes only in the parts it owns;
 * once another took them over (epoch + 1), every write of the former
 * owner fails, renewals and releases included, while the new owner
 * serves the leases as they were (the attribution interval stays open:
 * no hole).  The pool 198.18.0.0..203.0.113.255 in 2 parts: part 0 from
 * 198.18.0.0, part 1 ends with 203.0.113.0/24.
 */
static void test_pg_fencing(void **state)
{
	static const uint8_t p0[2] = { 1, 0 }, p1[2] = { 0, 1 };
	struct lease a1 = mk(1, "100.64.0.10", "198.18.0.1", 2048, 3071, 9000);
	struct lease a2 = mk(2, "100.95.0.11", "203.0.113.1", 2048, 3071, 9000);
	struct lease b1 = mk(3, "100.95.0.12", "198.18.0.1", 2048, 3071, 9000);
	struct lease_store *a = pg_gw("gw-a", 2, p0), *b = pg_gw("gw-b", 2, p1);
	uint8_t owned[4] = { 0 };
	struct who_got g = { 0 };
	int changed = 0;

	assert_int_equal(lease_store_parts(a, owned, 4, &changed), 2);
	assert_int_equal(owned[0], 1);
	assert_int_equal(owned[1], 0);
	assert_int_equal(lease_store_put(a, &a1, 1000), 0);
	/* Not a's part; and b may not write in a's part either. */
	assert_int_equal(lease_store_put(a, &a2, 1000), -ESTALE);
	assert_int_equal(lease_store_put(b, &b1, 1000), -ESTALE);
	/* A gateway that joins later claims nothing owned: b's claim of
	 * part 0 did not move a's phones. */
	{
		struct lease_store *c = pg_gw("gw-c", 2, all_parts);

		assert_int_equal(lease_store_parts(c, owned, 4, &changed), 2);
		assert_int_equal(owned[0] + owned[1], 0);
		assert_int_equal(lease_store_put(c, &b1, 1000), -ESTALE);
		lease_store_close(c);
	}
	/* b takes over a's part.  a has not read its parts again: it still
	 * believes it owns part 0 (split brain), and the database refuses
	 * every write of it there. */
	assert_int_equal(lease_store_takeover(b, "gw-a", -1), 1);
	assert_int_equal(lease_store_takeover(b, "gw-a", -1), 0);
	a1.expires = 9500;
	assert_int_equal(lease_store_renew(a, &a1), -ESTALE);
	assert_int_equal(lease_store_del_at(a, a1.mac, 2000), -ESTALE);
	a2 = mk(2, "100.64.0.11", "198.18.0.2", 2048, 3071, 9000);
	assert_int_equal(lease_store_put(a, &a2, 1000), -ESTALE);
	assert_int_equal(lease_store_expire(a, 99999, NULL, NULL), 0);
	/* Read again, the parts say so. */
	assert_int_equal(lease_store_parts(a, owned, 4, &changed), 2);
	assert_int_equal(changed, 1);
	assert_int_equal(owned[0], 0);
	/* The new owner has a's phone as it was, and serves it. */
	{
		struct lease got;
		int n = 0;

		assert_int_equal(lease_store_foreach(b, 0, 0, count_cb, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(lease_store_get(b, a1.mac, &got), 0);
		assert_int_equal(got.pub_ip, a1.pub_ip);
		assert_int_equal(got.port_first, 2048);
	}
	assert_int_equal(lease_store_renew(b, &a1), 0);
	assert_int_equal(lease_store_who(b, ip("198.18.0.1"), 2100, 9400,
					 who_cb, &g),
			 1);
	assert_int_equal(g.a.from, 1000);
	assert_int_equal(g.a.open, 1);
	assert_int_equal(g.a.until, 9500);
	/* Invariant 1 across gateways: b cannot put another MAC there. */
	assert_int_equal(lease_store_put(b, &b1, 1000), -EADDRINUSE);
	b1.port_first = 3072;
	b1.port_last = 4095;
	assert_int_equal(lease_store_put(b, &b1, 1000), 0);
	lease_store_close(a);
	lease_store_close(b);
}

/*
 * The fence holds within a transaction: a takeover waits for the
 * owner's open transaction (its writes commit under the old epoch), and
 * the owner's next write, after the takeover committed, is refused.
 */
static void test_pg_takeover_waits(void **state)
{
	static const uint8_t p0[2] = { 1, 0 }, p1[2] = { 0, 1 };
	struct lease a1 = mk(1, "100.64.0.10", "198.18.0.1", 2048, 3071, 9000);
	struct lease a2 = mk(2, "100.64.0.11", "198.18.0.1", 3072, 4095, 9000);
	struct lease_store *a = pg_gw("gw-a", 2, p0), *b = pg_gw("gw-b", 2, p1);
	int status, fds[2];
	pid_t pid;
	char c;

	lease_store_close(b);
	assert_int_equal(lease_store_begin(a), 0);
	assert_int_equal(lease_store_put(a, &a1, 1000), 0);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lease_gateway g = test_gw("gw-b", 2, NULL);
		struct lease_store *t;

		close(fds[0]);
		if (lease_store_open(pg_uri, 0, &t) ||
		    lease_store_gateway(t, &g) ||
		    lease_store_takeover(t, "gw-a", -1) != 1)
			_exit(1);
		if (write(fds[1], "t", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	/* The takeover cannot finish while a's transaction stands. */
	usleep(300 * 1000);
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	assert_int_equal(lease_store_commit(a), 0);
	assert_int_equal(read(fds[0], &c, 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fds[0]);
	/* a still holds its old epoch: refused now. */
	assert_int_equal(lease_store_begin(a), 0);
	assert_int_equal(lease_store_put(a, &a2, 1100), -ESTALE);
	assert_int_equal(lease_store_commit(a), 0);
	lease_store_close(a);
}

/*
 * The exclusion constraint itself, with two sessions writing rows
 * directly at the same moment: the second insert of an overlapping
 * range waits for the first transaction and fails when it commits.
 */
static void test_pg_constraint_concurrent(void **state)
{
	static const char row[] =
		"INSERT INTO nappt_leases (mac, priv_addr, pub_addr, port_lo,"
		" port_hi, expires, part) VALUES (decode('%s', 'hex'),"
		" '%s', '198.18.0.7', %d, %d, 9000, 0)";
	struct lease_store *s;
	PGconn *c1, *c2;
	PGresult *res;
	char q[512];

	assert_int_equal(open_store(0, &s), 0); /* the schema */
	lease_store_close(s);
	c1 = PQconnectdb(pg_uri);
	c2 = PQconnectdb(pg_uri);
	assert_int_equal(PQstatus(c1), CONNECTION_OK);
	assert_int_equal(PQstatus(c2), CONNECTION_OK);
	PQclear(PQexec(c1, "BEGIN"));
	snprintf(q, sizeof(q), row, "001b54000001", "100.64.0.1", 2048, 3071);
	res = PQexec(c1, q);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	snprintf(q, sizeof(q), row, "001b54000002", "100.64.0.2", 3000, 4000);
	assert_int_equal(PQsendQuery(c2, q), 1);
	usleep(200 * 1000);
	assert_int_equal(PQconsumeInput(c2), 1);
	assert_int_equal(PQisBusy(c2), 1); /* waiting for c1 */
	PQclear(PQexec(c1, "COMMIT"));
	res = PQgetResult(c2);
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	assert_string_equal(PQresultErrorField(res, PG_DIAG_SQLSTATE),
			    "23P01"); /* exclusion_violation */
	PQclear(res);
	while ((res = PQgetResult(c2)))
		PQclear(res);
	/* Adjacent ranges are fine. */
	snprintf(q, sizeof(q), row, "001b54000002", "100.64.0.2", 3072, 4095);
	res = PQexec(c2, q);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(c1);
	PQfinish(c2);
}

/* An ACKed lease (its commit returned) survives kill -9 of the writer. */
static void test_pg_kill9(void **state)
{
	struct lease a = mk(7, "100.64.0.17", "203.0.113.7", 2048, 3071, 999),
		     got;
	struct lease_store *s;
	int fds[2], status;
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (open_store(LS_DEFER_SYNC, &s) ||
		    lease_store_sync_fd(s) != -1 || lease_store_begin(s) ||
		    lease_store_put(s, &a, 10) || lease_store_commit(s) ||
		    lease_store_sync(s))
			_exit(1);
		lease_store_begin(s);
		if (write(fds[1], "s", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(fds[0]);
	assert_int_equal(open_store(0, &s), 0);
	assert_int_equal(lease_store_get(s, a.mac, &got), 0);
	assert_int_equal(got.expires, 999);
	lease_store_close(s);
}

/* An expired lease in the way of a new one goes (the constraint holds
 * every row, live or not), its interval closed at its expiry. */
static void test_pg_expired_makes_room(void **state)
{
	struct lease a = mk(1, "100.64.0.10", "203.0.113.1", 2048, 3071, 100);
	struct lease b = mk(2, "100.64.0.10", "203.0.113.1", 3000, 3071, 900);
	struct who_got g = { 0 };
	struct lease_store *s;

	assert_int_equal(open_store(0, &s), 0);
	assert_int_equal(lease_store_put(s, &a, 10), 0);
	assert_int_equal(lease_store_put(s, &b, 50), -EADDRINUSE);
	assert_int_equal(lease_store_put(s, &b, 150), 0);
	assert_int_equal(lease_store_get(s, a.mac, &a), -ENOENT);
	assert_int_equal(
		lease_store_who(s, ip("203.0.113.1"), 3050, 99, who_cb, &g), 1);
	assert_int_equal(g.a.mac[5], 1);
	assert_int_equal(g.a.until, 100);
	assert_int_equal(g.a.open, 0);
	lease_store_close(s);
}

/* Writes need a gateway; a schema from a newer program is refused. */
static void test_pg_schema(void **state)
{
	struct lease a = mk(7, "100.64.0.17", "203.0.113.7", 2048, 3071, 999);
	struct lease_store *s = NULL;

	assert_int_equal(lease_store_open(pg_uri, 0, &s), 0);
	assert_int_equal(lease_store_put(s, &a, 10), -EPERM);
	lease_store_close(s);
	s = NULL;
	pg_exec(pg_uri, "UPDATE nappt_schema SET version = 99");
	assert_int_equal(lease_store_open(pg_uri, 0, &s), -EPROTO);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test_setup(test_durable_across_reopen, pg_setup),
		cmocka_unit_test_setup(test_overlap_refused, pg_setup),
		cmocka_unit_test_setup(test_expire_and_live, pg_setup),
		cmocka_unit_test_setup(test_group_commit_and_rollback,
				       pg_setup),
		cmocka_unit_test_setup(test_renew, pg_setup),
		cmocka_unit_test_setup(test_attribution, pg_setup),
		cmocka_unit_test_setup(test_pg_fencing, pg_setup),
		cmocka_unit_test_setup(test_pg_takeover_waits, pg_setup),
		cmocka_unit_test_setup(test_pg_constraint_concurrent, pg_setup),
		cmocka_unit_test_setup(test_pg_kill9, pg_setup),
		cmocka_unit_test_setup(test_pg_expired_makes_room, pg_setup),
		cmocka_unit_test_setup(test_pg_schema, pg_setup),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durable_across_reopen),
		cmocka_unit_test(test_overlap_refused),
		cmocka_unit_test(test_expire_and_live),
		cmocka_unit_test(test_group_commit_and_rollback),
		cmocka_unit_test(test_renew),
		cmocka_unit_test(test_deferred_sync_kill9),
		cmocka_unit_test(test_checkpoint_off_thread),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_bad_path),
		cmocka_unit_test(test_reconcile),
		cmocka_unit_test(test_map_writer),
		cmocka_unit_test(test_half_mappings),
		cmocka_unit_test(test_attribution),
		cmocka_unit_test(test_startup_clean),
		cmocka_unit_test(test_startup_limits),
	};

	pg_uri = getenv("NAPPT_TEST_PG_URI");
	if (pg_uri)
		return cmocka_run_group_tests_name("lease_store_pg", pg_tests,
						   setup, teardown);
	return cmocka_run_group_tests_name("lease_store", tests, setup,
					   teardown);
}
