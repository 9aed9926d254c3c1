// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * SQLite implementation of lease-store.h.
 *
 * WAL mode with synchronous=FULL: a commit returns after the WAL is
 * fsynced, which is the durability the ACK promises (a lease ACKed must
 * survive kill -9 and power loss), while readers never block the writer.
 * One transaction per batch of REQUESTs amortises the fsync.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>

#include "lease-store.h"

struct lease_store {
	sqlite3 *db;
	sqlite3_stmt *put, *del, *get, *conflict, *all, *live, *expired,
		*expire;
	int in_tx;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS leases ("
	" mac BLOB PRIMARY KEY NOT NULL CHECK (length(mac) = 6),"
	" priv_ip INTEGER NOT NULL,"
	" pub_ip INTEGER NOT NULL,"
	" port_first INTEGER NOT NULL,"
	" port_last INTEGER NOT NULL CHECK (port_last >= port_first),"
	" expires INTEGER NOT NULL,"
	" vendor TEXT NOT NULL DEFAULT '',"
	" model TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX IF NOT EXISTS leases_pub ON leases (pub_ip, port_first);"
	"CREATE INDEX IF NOT EXISTS leases_priv ON leases (priv_ip);"
	"CREATE INDEX IF NOT EXISTS leases_exp ON leases (expires);";

#define COLS \
	"mac, priv_ip, pub_ip, port_first, port_last, expires, vendor, model"

static int sql_err(struct lease_store *s, int rc, const char *what)
{
	fprintf(stderr, "<3>Failed to %s: %s\n", what,
		s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	if (rc == SQLITE_FULL)
		return -ENOSPC;
	if (rc == SQLITE_READONLY || rc == SQLITE_PERM || rc == SQLITE_AUTH)
		return -EACCES;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return -EBUSY;
	if (rc == SQLITE_NOMEM)
		return -ENOMEM;
	return -EIO;
}

static int prepare(struct lease_store *s, sqlite3_stmt **st, const char *sql)
{
	int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
				    st, NULL);

	return rc == SQLITE_OK ? 0 : sql_err(s, rc, "prepare statement");
}

void lease_store_close(struct lease_store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->get);
	sqlite3_finalize(s->conflict);
	sqlite3_finalize(s->all);
	sqlite3_finalize(s->live);
	sqlite3_finalize(s->expired);
	sqlite3_finalize(s->expire);
	sqlite3_close(s->db);
	free(s);
}

int lease_store_open(const char *path, struct lease_store **out)
{
	struct lease_store *s;
	char *msg = NULL;
	int rc, r;

	if (!path || !out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(s, rc, "open lease store");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 2000);
	/* Durable at commit (WAL fsynced), readers never block the writer. */
	rc = sqlite3_exec(s->db,
			  "PRAGMA journal_mode=WAL;"
			  "PRAGMA synchronous=FULL;"
			  "PRAGMA foreign_keys=ON;",
			  NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->db, schema, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "<3>Failed to set up lease store %s: %s\n",
			path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		r = -EIO;
		goto fail;
	}
	r = prepare(s, &s->put,
		    "INSERT INTO leases (" COLS ") VALUES (?,?,?,?,?,?,?,?)"
		    " ON CONFLICT(mac) DO UPDATE SET priv_ip=excluded.priv_ip,"
		    " pub_ip=excluded.pub_ip, port_first=excluded.port_first,"
		    " port_last=excluded.port_last, expires=excluded.expires,"
		    " vendor=excluded.vendor, model=excluded.model");
	if (!r)
		r = prepare(s, &s->del, "DELETE FROM leases WHERE mac = ?");
	if (!r)
		r = prepare(s, &s->get,
			    "SELECT " COLS " FROM leases WHERE mac = ?");
	/* Another MAC's live lease on the same private address, or with
	 * a range on the same public address that intersects ours. */
	if (!r)
		r = prepare(
			s, &s->conflict,
			"SELECT 1 FROM leases WHERE mac <> ?1 AND expires > ?2"
			" AND (priv_ip = ?3 OR (pub_ip = ?4 AND"
			" port_first <= ?6 AND port_last >= ?5)) LIMIT 1");
	if (!r)
		r = prepare(s, &s->all,
			    "SELECT " COLS " FROM leases ORDER BY priv_ip");
	if (!r)
		r = prepare(s, &s->live,
			    "SELECT " COLS " FROM leases WHERE expires > ?"
			    " ORDER BY priv_ip");
	if (!r)
		r = prepare(s, &s->expired,
			    "SELECT " COLS " FROM leases WHERE expires <= ?");
	if (!r)
		r = prepare(s, &s->expire,
			    "DELETE FROM leases WHERE expires <= ?");
	if (r)
		goto fail;
	*out = s;
	return 0;
fail:
	lease_store_close(s);
	return r;
}

static int exec(struct lease_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sql_err(s, rc, what);
}

int lease_store_begin(struct lease_store *s)
{
	int r;

	if (!s || s->in_tx)
		return -EINVAL;
	/* IMMEDIATE: take the write lock now, not at the first write. */
	r = exec(s, "BEGIN IMMEDIATE", "begin transaction");
	if (!r)
		s->in_tx = 1;
	return r;
}

int lease_store_commit(struct lease_store *s)
{
	int r;

	if (!s || !s->in_tx)
		return -EINVAL;
	r = exec(s, "COMMIT", "commit leases");
	if (r) {
		exec(s, "ROLLBACK", "roll back");
	}
	s->in_tx = 0;
	return r;
}

int lease_store_rollback(struct lease_store *s)
{
	if (!s || !s->in_tx)
		return -EINVAL;
	s->in_tx = 0;
	return exec(s, "ROLLBACK", "roll back");
}

static int step_done(struct lease_store *s, sqlite3_stmt *st, const char *w)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : sql_err(s, rc, w);
}

int lease_store_put(struct lease_store *s, const struct lease *l, int64_t now)
{
	int rc;

	if (!s || !l || l->port_last < l->port_first)
		return -EINVAL;
	sqlite3_bind_blob(s->conflict, 1, l->mac, 6, SQLITE_STATIC);
	sqlite3_bind_int64(s->conflict, 2, now);
	sqlite3_bind_int64(s->conflict, 3, l->priv_ip);
	sqlite3_bind_int64(s->conflict, 4, l->pub_ip);
	sqlite3_bind_int(s->conflict, 5, l->port_first);
	sqlite3_bind_int(s->conflict, 6, l->port_last);
	rc = sqlite3_step(s->conflict);
	sqlite3_reset(s->conflict);
	sqlite3_clear_bindings(s->conflict);
	if (rc == SQLITE_ROW)
		return -EADDRINUSE;
	if (rc != SQLITE_DONE)
		return sql_err(s, rc, "check lease conflicts");

	sqlite3_bind_blob(s->put, 1, l->mac, 6, SQLITE_STATIC);
	sqlite3_bind_int64(s->put, 2, l->priv_ip);
	sqlite3_bind_int64(s->put, 3, l->pub_ip);
	sqlite3_bind_int(s->put, 4, l->port_first);
	sqlite3_bind_int(s->put, 5, l->port_last);
	sqlite3_bind_int64(s->put, 6, l->expires);
	sqlite3_bind_text(s->put, 7, l->vendor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->put, 8, l->model, -1, SQLITE_STATIC);
	return step_done(s, s->put, "store lease");
}

int lease_store_del(struct lease_store *s, const uint8_t mac[6])
{
	int r;

	if (!s || !mac)
		return -EINVAL;
	sqlite3_bind_blob(s->del, 1, mac, 6, SQLITE_STATIC);
	r = step_done(s, s->del, "delete lease");
	if (r)
		return r;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

static void row_to_lease(sqlite3_stmt *st, struct lease *l)
{
	const void *mac = sqlite3_column_blob(st, 0);
	const unsigned char *t;

	memset(l, 0, sizeof(*l));
	if (mac && sqlite3_column_bytes(st, 0) == 6)
		memcpy(l->mac, mac, 6);
	l->priv_ip = (uint32_t)sqlite3_column_int64(st, 1);
	l->pub_ip = (uint32_t)sqlite3_column_int64(st, 2);
	l->port_first = (uint16_t)sqlite3_column_int(st, 3);
	l->port_last = (uint16_t)sqlite3_column_int(st, 4);
	l->expires = sqlite3_column_int64(st, 5);
	t = sqlite3_column_text(st, 6);
	if (t)
		snprintf(l->vendor, sizeof(l->vendor), "%s", (const char *)t);
	t = sqlite3_column_text(st, 7);
	if (t)
		snprintf(l->model, sizeof(l->model), "%s", (const char *)t);
}

int lease_store_get(struct lease_store *s, const uint8_t mac[6],
		    struct lease *out)
{
	int rc, r = 0;

	if (!s || !mac || !out)
		return -EINVAL;
	sqlite3_bind_blob(s->get, 1, mac, 6, SQLITE_STATIC);
	rc = sqlite3_step(s->get);
	if (rc == SQLITE_ROW)
		row_to_lease(s->get, out);
	else if (rc == SQLITE_DONE)
		r = -ENOENT;
	else
		r = sql_err(s, rc, "read lease");
	sqlite3_reset(s->get);
	sqlite3_clear_bindings(s->get);
	return r;
}

static int walk(struct lease_store *s, sqlite3_stmt *st, lease_cb cb, void *arg,
		int *count)
{
	struct lease l;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_to_lease(st, &l);
		if (count)
			(*count)++;
		if (cb) {
			r = cb(&l, arg);
			if (r)
				break;
		}
	}
	if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sql_err(s, rc, "read leases");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int lease_store_foreach(struct lease_store *s, int live_only, int64_t now,
			lease_cb cb, void *arg)
{
	if (!s || !cb)
		return -EINVAL;
	if (!live_only)
		return walk(s, s->all, cb, arg, NULL);
	sqlite3_bind_int64(s->live, 1, now);
	return walk(s, s->live, cb, arg, NULL);
}

int lease_store_expire(struct lease_store *s, int64_t now, lease_cb cb,
		       void *arg)
{
	int n = 0, r, own_tx;

	if (!s)
		return -EINVAL;
	own_tx = !s->in_tx;
	if (own_tx) {
		r = lease_store_begin(s);
		if (r)
			return r;
	}
	sqlite3_bind_int64(s->expired, 1, now);
	r = walk(s, s->expired, cb, arg, &n);
	if (!r) {
		sqlite3_bind_int64(s->expire, 1, now);
		r = step_done(s, s->expire, "delete expired leases");
	}
	if (own_tx) {
		if (r)
			lease_store_rollback(s);
		else
			r = lease_store_commit(s);
	}
	return r ? r : n;
}
