// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * SQLite implementation of lease-store.h.
 *
 * WAL mode with synchronous=FULL: a commit returns after the WAL is
 * fsynced, which is the durability the ACK promises (a lease ACKed must
 * survive kill -9 and power loss), while readers never block the writer.
 * One transaction per batch of REQUESTs amortises the fsync.  With
 * LS_DEFER_SYNC the fsync is the caller's (lease_store_sync), so that it
 * can run in another thread and cover many commits.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>

#include "lease-store.h"
#include "lease-store-pg.h"
#include "log.h"

struct lease_store {
	struct pg_store *pg; /* a postgresql:// store: everything goes there */
	sqlite3 *db;
	sqlite3_stmt *put, *renew, *del, *get, *conflict, *all, *live, *expired,
		*expire;
	/* the attribution history: open an interval, extend, close, ask */
	sqlite3_stmt *h_open, *h_close, *h_undo, *h_expire, *h_who, *h_prune;
	int in_tx;
	unsigned int flags;
	char wal_path[4096];
	int wal_fd; /* LS_DEFER_SYNC: the WAL, for lease_store_sync() */
	/* LS_DEFER_SYNC: a connection of its own for checkpoints, and the
	 * WAL's length in frames after the last commit (the writer's). */
	sqlite3 *ckpt;
	_Atomic int wal_frames;
};

/*
 * With LS_DEFER_SYNC nothing waits for the disk in the committing thread:
 * SQLite's automatic checkpoint (every 1,000 frames, in the thread that
 * commits) syncs the WAL and the database inline, which stalled the DHCP
 * server 10-200 ms at a time, ~2.5 times a second at full rate (strace,
 * bench-dhcp).  lease_store_checkpoint() does it from another thread past
 * CKPT_FRAMES; if no thread does, the writer still checkpoints itself past
 * CKPT_INLINE_FRAMES so that the WAL stays bounded.
 */
#define CKPT_FRAMES 1000
#define CKPT_INLINE_FRAMES (16 * CKPT_FRAMES)

/*
 * Version 2: no rowid (the MAC is the key, one B-tree less per write),
 * no index on the expiry (every renewal would rewrite it; the server
 * expires leases from memory), the client identifier (option 61).
 * Version 3: the attribution history (lease-store.h), written in the
 * same transaction as the lease.  Version 1 is the first layout
 * (user_version 0); older versions are converted.
 */
#define SCHEMA_VERSION 3
#define TABLE(name)                                                    \
	"CREATE TABLE " name " ("                                      \
	" mac BLOB PRIMARY KEY NOT NULL CHECK (length(mac) = 6),"      \
	" priv_ip INTEGER NOT NULL,"                                   \
	" pub_ip INTEGER NOT NULL,"                                    \
	" port_first INTEGER NOT NULL,"                                \
	" port_last INTEGER NOT NULL CHECK (port_last >= port_first)," \
	" expires INTEGER NOT NULL,"                                   \
	" vendor TEXT NOT NULL DEFAULT '',"                            \
	" model TEXT NOT NULL DEFAULT '',"                             \
	" client_id TEXT NOT NULL DEFAULT '') WITHOUT ROWID;"
#define INDEXES                                                   \
	"CREATE INDEX leases_pub ON leases (pub_ip, port_first);" \
	"CREATE INDEX leases_priv ON leases (priv_ip);"
/*
 * [t_from, t_until): held from, until (the lease's expiry while open).
 * Rows are appended (increasing rowid: the end of one B-tree), and the
 * lease row points at its open interval (leases.hist), so a put, renewal
 * or release finds it without an index of its own; only the who index
 * takes a write anywhere else.
 */
#define HISTORY                                                          \
	"CREATE TABLE attribution (id INTEGER PRIMARY KEY,"              \
	" pub_ip INTEGER NOT NULL, port_first INTEGER NOT NULL,"         \
	" port_last INTEGER NOT NULL, mac BLOB NOT NULL,"                \
	" priv_ip INTEGER NOT NULL, model TEXT NOT NULL DEFAULT '',"     \
	" vendor TEXT NOT NULL DEFAULT '',"                              \
	" client_id TEXT NOT NULL DEFAULT '', t_from INTEGER NOT NULL,"  \
	" t_until INTEGER NOT NULL, open INTEGER NOT NULL DEFAULT 1);"   \
	"CREATE INDEX attribution_pub ON attribution"                    \
	" (pub_ip, port_first, t_from);"                                 \
	"CREATE TRIGGER attribution_next AFTER UPDATE OF hist ON leases" \
	" WHEN old.hist <> new.hist BEGIN UPDATE attribution SET"        \
	" open = 0, t_until = min(old.expires, (SELECT t_from FROM"      \
	" attribution WHERE id = new.hist)) WHERE id = old.hist AND"     \
	" open = 1; END;"

/* A new store is made as version 2, then converted like any other. */
static const char schema_new[] = "BEGIN;" TABLE("leases") INDEXES
	"PRAGMA user_version = 2; COMMIT;";
#define COPY_FROM_V1                                                       \
	"INSERT INTO leases_v2 (mac, priv_ip, pub_ip, port_first,"         \
	" port_last, expires, vendor, model) SELECT mac, priv_ip, pub_ip," \
	" port_first, port_last, expires, vendor, model FROM leases;"
static const char schema_from_v1[] = "BEGIN;" TABLE("leases_v2") COPY_FROM_V1
	"DROP TABLE leases; ALTER TABLE leases_v2 RENAME TO leases;" INDEXES
	"PRAGMA user_version = 2; COMMIT;";
/* The leases standing at the conversion open their intervals then: what
 * came before was only in the log. */
static const char schema_from_v2[] =
	"BEGIN;"
	"ALTER TABLE leases ADD COLUMN hist INTEGER NOT NULL DEFAULT 0;" HISTORY
	"INSERT INTO attribution (pub_ip, port_first, port_last, mac,"
	" priv_ip, model, vendor, client_id, t_from, t_until) SELECT pub_ip,"
	" port_first, port_last, mac, priv_ip, model, vendor, client_id,"
	" min(CAST(strftime('%s', 'now') AS INTEGER), expires), expires"
	" FROM leases;"
	"UPDATE leases SET hist = (SELECT id FROM attribution a"
	" WHERE a.mac = leases.mac AND a.open = 1);"
	"PRAGMA user_version = 3; COMMIT;";

#define COLS                                                                   \
	"mac, priv_ip, pub_ip, port_first, port_last, expires, vendor, model," \
	" client_id"

static int sql_err(struct lease_store *s, int rc, const char *what)
{
	logp(LOG_ERR_, "Failed to %s: %s", what,
	     s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	if (rc == SQLITE_FULL)
		return -ENOSPC;
	if (rc == SQLITE_READONLY || rc == SQLITE_PERM || rc == SQLITE_AUTH ||
	    rc == SQLITE_CANTOPEN)
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
	pgs_close(s->pg);
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->renew);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->get);
	sqlite3_finalize(s->conflict);
	sqlite3_finalize(s->all);
	sqlite3_finalize(s->live);
	sqlite3_finalize(s->expired);
	sqlite3_finalize(s->expire);
	sqlite3_finalize(s->h_open);
	sqlite3_finalize(s->h_undo);
	sqlite3_finalize(s->h_close);
	sqlite3_finalize(s->h_expire);
	sqlite3_finalize(s->h_who);
	sqlite3_finalize(s->h_prune);
	/* The checkpointer first: the last connection to close checkpoints
	 * with the writer's sync settings and removes the WAL. */
	sqlite3_close(s->ckpt);
	sqlite3_close(s->db);
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	free(s);
}

static int int_pragma(struct lease_store *s, const char *sql, int *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sql_err(s, rc, "read the schema version");
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ?
		       0 :
		       sql_err(s, rc, "read the schema version");
}

static int run_schema(struct lease_store *s, const char *path, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc == SQLITE_OK)
		return 0;
	logp(LOG_ERR_, "Failed to set up lease store %s: %s", path,
	     msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc == SQLITE_READONLY ? -EACCES : -EIO;
}

/* Create the tables, or bring older ones to SCHEMA_VERSION. */
static int set_up_schema(struct lease_store *s, const char *path)
{
	int version, tables, r;

	r = int_pragma(s, "PRAGMA user_version", &version);
	if (!r)
		r = int_pragma(s,
			       "SELECT count(*) FROM sqlite_master WHERE "
			       "type = 'table' AND name = 'leases'",
			       &tables);
	if (r)
		return r;
	if (version > SCHEMA_VERSION) {
		logp(LOG_ERR_,
		     "Lease store %s has schema version %d; this program "
		     "knows %d at most: refusing to touch it",
		     path, version, SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version == SCHEMA_VERSION)
		return 0;
	if (!tables)
		r = run_schema(s, path, schema_new);
	else if (version < 2)
		r = run_schema(s, path, schema_from_v1);
	if (!r)
		r = run_schema(s, path, schema_from_v2);
	if (!r && tables)
		logp(LOG_NOTICE_,
		     "lease store %s converted to schema version %d", path,
		     SCHEMA_VERSION);
	return r;
}

static int exec(struct lease_store *s, const char *sql, const char *what);
static int open_wal(struct lease_store *s);
static int open_checkpointer(struct lease_store *s, const char *path);

int lease_store_open(const char *path, unsigned int flags,
		     struct lease_store **out)
{
	struct lease_store *s;
	char *msg = NULL;
	int rc, r;

	if (!path || !out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->wal_fd = -1;
	s->flags = flags;
	if (pgs_is_uri(path)) {
		/* Durable at COMMIT on the server: nothing to sync here. */
		r = pgs_open(path, &s->pg);
		if (r) {
			free(s);
			return r;
		}
		*out = s;
		return 0;
	}
	if (snprintf(s->wal_path, sizeof(s->wal_path), "%s-wal", path) >=
	    (int)sizeof(s->wal_path)) {
		free(s);
		return -ENAMETOOLONG;
	}
	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		r = sql_err(s, rc, "open lease store");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 2000);
	/*
	 * WAL: readers (sqlite3 in an operator's shell) never block the
	 * writer.  FULL: a commit returns once the WAL is fsynced.  NORMAL
	 * (LS_DEFER_SYNC): a commit writes the WAL without a sync and
	 * lease_store_sync() makes it durable; SQLite keeps the file
	 * consistent across a crash either way, only undurable commits are
	 * lost, and no ACK went out for those.
	 */
	rc = sqlite3_exec(s->db,
			  (flags & LS_DEFER_SYNC) ?
				  "PRAGMA journal_mode=WAL;"
				  "PRAGMA synchronous=NORMAL;" :
				  "PRAGMA journal_mode=WAL;"
				  "PRAGMA synchronous=FULL;",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		logp(LOG_ERR_, "Failed to set up lease store %s: %s", path,
		     msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		r = rc == SQLITE_NOTADB ? -EILSEQ : -EIO;
		goto fail;
	}
	r = set_up_schema(s, path);
	if (r)
		goto fail;
	{
		/* The WAL SQLite really writes (it resolves symbolic links
		 * in path): the one lease_store_sync() must sync. */
		const char *db = sqlite3_db_filename(s->db, "main");
		const char *wal = db && *db ? sqlite3_filename_wal(db) : NULL;

		if (wal && *wal)
			snprintf(s->wal_path, sizeof(s->wal_path), "%s", wal);
	}
	r = prepare(s, &s->put,
		    "INSERT INTO leases (" COLS ", hist)"
		    " VALUES (?,?,?,?,?,?,?,?,?,?)"
		    " ON CONFLICT(mac) DO UPDATE SET priv_ip=excluded.priv_ip,"
		    " pub_ip=excluded.pub_ip, port_first=excluded.port_first,"
		    " port_last=excluded.port_last, expires=excluded.expires,"
		    " vendor=excluded.vendor, model=excluded.model,"
		    " client_id=excluded.client_id, hist=excluded.hist");
	if (!r)
		r = prepare(s, &s->renew,
			    "UPDATE leases SET expires = ?2, vendor = ?3,"
			    " model = ?4, client_id = ?5 WHERE mac = ?1");
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
	if (!r)
		r = prepare(s, &s->h_open,
			    "INSERT INTO attribution (pub_ip, port_first,"
			    " port_last, mac, priv_ip, model, vendor,"
			    " client_id, t_from, t_until)"
			    " VALUES (?,?,?,?,?,?,?,?,?,?)");
	/* Closed at now, or at the lease's expiry if that came first. */
	if (!r)
		r = prepare(s, &s->h_close,
			    "UPDATE attribution SET open = 0, t_until ="
			    " (SELECT min(expires, ?2) FROM leases"
			    " WHERE mac = ?1) WHERE id ="
			    " (SELECT hist FROM leases WHERE mac = ?1)"
			    " AND open = 1");
	if (!r)
		r = prepare(
			s, &s->h_expire,
			"UPDATE attribution SET open = 0, t_until ="
			" (SELECT min(l.expires, ?1) FROM leases l"
			" WHERE l.mac = attribution.mac) WHERE open = 1 AND"
			" id IN (SELECT hist FROM leases WHERE expires <= ?1)");
	if (!r)
		r = prepare(s, &s->h_undo,
			    "DELETE FROM attribution WHERE id = ?");
	/* While open, an interval lasts as long as its lease: renewals
	 * write nothing here. */
	if (!r)
		r = prepare(s, &s->h_who,
			    "SELECT a.mac, a.priv_ip, a.pub_ip, a.port_first,"
			    " a.port_last, a.t_from, CASE WHEN a.open THEN"
			    " coalesce(l.expires, a.t_until) ELSE a.t_until END"
			    " AS until, a.open, a.vendor, a.model, a.client_id"
			    " FROM attribution a LEFT JOIN leases l ON"
			    " l.mac = a.mac AND l.hist = a.id"
			    " WHERE a.pub_ip = ?1 AND a.port_first <= ?2 AND"
			    " a.port_last >= ?2 AND a.t_from <= ?3 AND"
			    " until > ?3 ORDER BY a.t_from");
	if (!r)
		r = prepare(s, &s->h_prune,
			    "DELETE FROM attribution WHERE open = 0 AND"
			    " t_until < ?");
	if (r)
		goto fail;
	/*
	 * Every file the store will use is open before the caller drops
	 * its privileges and its view of the file system (privsep.h): the
	 * WAL for lease_store_sync(), its directory synced once; temporary
	 * tables and statement journals in memory, never a new file.
	 */
	r = exec(s, "PRAGMA temp_store = MEMORY",
		 "keep temporary data in memory");
	if (!r && (flags & LS_DEFER_SYNC))
		r = open_wal(s);
	if (!r && (flags & LS_DEFER_SYNC))
		r = open_checkpointer(s, path);
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

/* The WAL's directory entry, once: a WAL created at start must be
 * found after a power loss for what is synced into it to count. */
static int sync_dir_of(const char *file)
{
	char dir[4096], *slash;
	int fd, r = 0;

	snprintf(dir, sizeof(dir), "%s", file);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd))
		r = -errno;
	if (fd >= 0)
		close(fd);
	if (r)
		logp(LOG_ERR_, "Failed to sync directory %s: %s", dir,
		     strerror(-r));
	return r;
}

/*
 * The WAL exists once a transaction has run in WAL mode and stays while
 * the connection is open (it is reused, not recreated).
 */
static int open_wal(struct lease_store *s)
{
	int r;

	if (s->wal_fd >= 0)
		return 0;
	r = exec(s, "BEGIN; SELECT count(*) FROM leases; COMMIT",
		 "open the write-ahead log");
	if (r)
		return r;
	s->wal_fd = open(s->wal_path, O_RDONLY | O_CLOEXEC);
	if (s->wal_fd < 0) {
		r = -errno;
		logp(LOG_ERR_, "Failed to open %s: %s", s->wal_path,
		     strerror(-r));
		return r;
	}
	return sync_dir_of(s->wal_path);
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct lease_store *s = arg;

	atomic_store(&s->wal_frames, frames);
	if (frames >= CKPT_INLINE_FRAMES)
		sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE,
					  NULL, NULL);
	return SQLITE_OK;
}

/*
 * Opened (and its WAL and shared memory mapped, by one read) now, while
 * the path is reachable: the caller may then lose its view of the file
 * system.  NORMAL: a checkpoint syncs the WAL before it copies, and the
 * database before the writer may reuse the WAL, so the copy never holds
 * the only trace of an ACKed lease.
 */
static int open_checkpointer(struct lease_store *s, const char *path)
{
	int rc = sqlite3_open_v2(path, &s->ckpt,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
				 NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->ckpt,
				  "PRAGMA synchronous=NORMAL;"
				  "SELECT count(*) FROM leases;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		logp(LOG_ERR_, "Failed to open the checkpointer of %s: %s",
		     path, sqlite3_errstr(rc));
		return -EIO;
	}
	/* Replaces SQLite's automatic checkpoint in the writer. */
	sqlite3_wal_hook(s->db, wal_hook, s);
	return 0;
}

int lease_store_checkpoint(struct lease_store *s)
{
	int rc;

	if (!s)
		return -EINVAL;
	/* PostgreSQL's checkpoints are the server's. */
	if (s->pg || !s->ckpt || atomic_load(&s->wal_frames) < CKPT_FRAMES)
		return 0;
	rc = sqlite3_wal_checkpoint_v2(s->ckpt, "main",
				       SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return 0; /* another one runs: the next call will do */
	if (rc != SQLITE_OK)
		return -EIO;
	/* Until the writer's next commit says how long the WAL is. */
	atomic_store(&s->wal_frames, 0);
	return 1;
}

static int sq_begin(struct lease_store *s)
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

static int sq_commit(struct lease_store *s)
{
	int r;

	if (!s || !s->in_tx)
		return -EINVAL;
	r = exec(s, "COMMIT", "commit leases");
	if (r) {
		exec(s, "ROLLBACK", "roll back");
	} else if ((s->flags & LS_DEFER_SYNC) && s->wal_fd < 0) {
		/* A commit that could not be made durable is a failed one. */
		r = open_wal(s);
	}
	s->in_tx = 0;
	return r;
}

int lease_store_sync_fd(struct lease_store *s)
{
	return s ? s->wal_fd : -1;
}

int lease_store_sync(struct lease_store *s)
{
	if (!s)
		return -EINVAL;
	if (!(s->flags & LS_DEFER_SYNC) || s->wal_fd < 0)
		return 0;
	return fdatasync(s->wal_fd) ? -errno : 0;
}

static int sq_rollback(struct lease_store *s)
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

static int history_close(struct lease_store *s, const uint8_t mac[6],
			 int64_t now)
{
	sqlite3_bind_blob(s->h_close, 1, mac, 6, SQLITE_STATIC);
	sqlite3_bind_int64(s->h_close, 2, now);
	return step_done(s, s->h_close, "close attribution");
}

static int history_open(struct lease_store *s, const struct lease *l,
			int64_t now)
{
	sqlite3_bind_int64(s->h_open, 1, l->pub_ip);
	sqlite3_bind_int(s->h_open, 2, l->port_first);
	sqlite3_bind_int(s->h_open, 3, l->port_last);
	sqlite3_bind_blob(s->h_open, 4, l->mac, 6, SQLITE_STATIC);
	sqlite3_bind_int64(s->h_open, 5, l->priv_ip);
	sqlite3_bind_text(s->h_open, 6, l->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->h_open, 7, l->vendor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->h_open, 8, l->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->h_open, 9, now);
	sqlite3_bind_int64(s->h_open, 10, l->expires);
	return step_done(s, s->h_open, "open attribution");
}

static int check_put(struct lease_store *s, const struct lease *l, int64_t now)
{
	int rc;

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
	return rc == SQLITE_DONE ? 0 : sql_err(s, rc, "check lease conflicts");
}

static int put_row(struct lease_store *s, const struct lease *l, int64_t hist)
{
	sqlite3_bind_blob(s->put, 1, l->mac, 6, SQLITE_STATIC);
	sqlite3_bind_int64(s->put, 2, l->priv_ip);
	sqlite3_bind_int64(s->put, 3, l->pub_ip);
	sqlite3_bind_int(s->put, 4, l->port_first);
	sqlite3_bind_int(s->put, 5, l->port_last);
	sqlite3_bind_int64(s->put, 6, l->expires);
	sqlite3_bind_text(s->put, 7, l->vendor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->put, 8, l->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->put, 9, l->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->put, 10, hist);
	return step_done(s, s->put, "store lease");
}

/*
 * A new lease or a new range: a new interval begins at now, and the
 * MAC's previous one, if any, ends there (the trigger attribution_next,
 * run by the row's update: a new MAC pays nothing for it).  Refused
 * (-EADDRINUSE) before anything is written; the two writes go together
 * or the first is taken back.
 */
static int sq_put(struct lease_store *s, const struct lease *l, int64_t now)
{
	int64_t hist;
	int r;

	if (!s || !l || l->port_last < l->port_first)
		return -EINVAL;
	r = check_put(s, l, now);
	if (!r)
		r = history_open(s, l, now);
	if (r)
		return r;
	hist = sqlite3_last_insert_rowid(s->db);
	r = put_row(s, l, hist);
	if (r) {
		sqlite3_bind_int64(s->h_undo, 1, hist);
		step_done(s, s->h_undo, "take back attribution");
	}
	return r;
}

static int renew_row(struct lease_store *s, const struct lease *l);

/* The open interval lasts as long as the lease (the who query reads the
 * lease's expiry): a renewal writes one row, as before. */
static int sq_renew(struct lease_store *s, const struct lease *l)
{
	if (!s || !l)
		return -EINVAL;
	return renew_row(s, l);
}

static int renew_row(struct lease_store *s, const struct lease *l)
{
	int r;

	sqlite3_bind_blob(s->renew, 1, l->mac, 6, SQLITE_STATIC);
	sqlite3_bind_int64(s->renew, 2, l->expires);
	sqlite3_bind_text(s->renew, 3, l->vendor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->renew, 4, l->model, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->renew, 5, l->client_id, -1, SQLITE_STATIC);
	r = step_done(s, s->renew, "renew lease");
	if (r)
		return r;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

static int sq_del_at(struct lease_store *s, const uint8_t mac[6], int64_t now)
{
	int r;

	if (!s || !mac)
		return -EINVAL;
	/* Released or declined: held until now, or its expiry if that
	 * came first (found through the row, so first).  In the caller's
	 * transaction the two go together. */
	r = history_close(s, mac, now);
	if (r)
		return r;
	sqlite3_bind_blob(s->del, 1, mac, 6, SQLITE_STATIC);
	r = step_done(s, s->del, "delete lease");
	if (r)
		return r;
	return sqlite3_changes(s->db) ? 0 : -ENOENT;
}

int lease_store_del(struct lease_store *s, const uint8_t mac[6])
{
	/* Attribution is wall-clock time: what an operator asks about. */
	return lease_store_del_at(s, mac, (int64_t)time(NULL));
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
	t = sqlite3_column_text(st, 8);
	if (t)
		snprintf(l->client_id, sizeof(l->client_id), "%s",
			 (const char *)t);
}

static int sq_get(struct lease_store *s, const uint8_t mac[6],
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

static int sq_foreach(struct lease_store *s, int live_only, int64_t now,
		      lease_cb cb, void *arg)
{
	if (!s || !cb)
		return -EINVAL;
	if (!live_only)
		return walk(s, s->all, cb, arg, NULL);
	sqlite3_bind_int64(s->live, 1, now);
	return walk(s, s->live, cb, arg, NULL);
}

static int sq_expire(struct lease_store *s, int64_t now, lease_cb cb, void *arg)
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
		sqlite3_bind_int64(s->h_expire, 1, now);
		r = step_done(s, s->h_expire, "close expired attribution");
	}
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

static int sq_who(struct lease_store *s, uint32_t pub_ip, uint16_t port,
		  int64_t at, attribution_cb cb, void *arg)
{
	struct attribution a;
	int rc, n = 0, r = 0;

	if (!s || !cb)
		return -EINVAL;
	sqlite3_bind_int64(s->h_who, 1, pub_ip);
	sqlite3_bind_int(s->h_who, 2, port);
	sqlite3_bind_int64(s->h_who, 3, at);
	while ((rc = sqlite3_step(s->h_who)) == SQLITE_ROW) {
		const void *mac = sqlite3_column_blob(s->h_who, 0);
		const unsigned char *t;

		memset(&a, 0, sizeof(a));
		if (mac && sqlite3_column_bytes(s->h_who, 0) == 6)
			memcpy(a.mac, mac, 6);
		a.priv_ip = (uint32_t)sqlite3_column_int64(s->h_who, 1);
		a.pub_ip = (uint32_t)sqlite3_column_int64(s->h_who, 2);
		a.port_first = (uint16_t)sqlite3_column_int(s->h_who, 3);
		a.port_last = (uint16_t)sqlite3_column_int(s->h_who, 4);
		a.from = sqlite3_column_int64(s->h_who, 5);
		a.until = sqlite3_column_int64(s->h_who, 6);
		a.open = sqlite3_column_int(s->h_who, 7);
		t = sqlite3_column_text(s->h_who, 8);
		if (t)
			snprintf(a.vendor, sizeof(a.vendor), "%s",
				 (const char *)t);
		t = sqlite3_column_text(s->h_who, 9);
		if (t)
			snprintf(a.model, sizeof(a.model), "%s",
				 (const char *)t);
		t = sqlite3_column_text(s->h_who, 10);
		if (t)
			snprintf(a.client_id, sizeof(a.client_id), "%s",
				 (const char *)t);
		n++;
		r = cb(&a, arg);
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = sql_err(s, rc, "read attribution");
	sqlite3_reset(s->h_who);
	sqlite3_clear_bindings(s->h_who);
	return r ? r : n;
}

static int sq_prune_history(struct lease_store *s, int64_t before)
{
	int r;

	if (!s)
		return -EINVAL;
	sqlite3_bind_int64(s->h_prune, 1, before);
	r = step_done(s, s->h_prune, "prune attribution");
	return r ? r : sqlite3_changes(s->db);
}

/* --- the backend's functions ------------------------------------------------ */

#define ON(s, pgcall, sqcall) ((s) && (s)->pg ? (pgcall) : (sqcall))

int lease_store_begin(struct lease_store *s)
{
	return ON(s, pgs_begin(s->pg), sq_begin(s));
}

int lease_store_commit(struct lease_store *s)
{
	return ON(s, pgs_commit(s->pg), sq_commit(s));
}

int lease_store_rollback(struct lease_store *s)
{
	return ON(s, pgs_rollback(s->pg), sq_rollback(s));
}

int lease_store_put(struct lease_store *s, const struct lease *l, int64_t now)
{
	return ON(s, pgs_put(s->pg, l, now), sq_put(s, l, now));
}

int lease_store_renew(struct lease_store *s, const struct lease *l)
{
	return ON(s, pgs_renew(s->pg, l), sq_renew(s, l));
}

int lease_store_del_at(struct lease_store *s, const uint8_t mac[6], int64_t now)
{
	return ON(s, pgs_del_at(s->pg, mac, now), sq_del_at(s, mac, now));
}

int lease_store_get(struct lease_store *s, const uint8_t mac[6],
		    struct lease *out)
{
	return ON(s, pgs_get(s->pg, mac, out), sq_get(s, mac, out));
}

int lease_store_foreach(struct lease_store *s, int live_only, int64_t now,
			lease_cb cb, void *arg)
{
	return ON(s, pgs_foreach(s->pg, live_only, now, cb, arg),
		  sq_foreach(s, live_only, now, cb, arg));
}

int lease_store_expire(struct lease_store *s, int64_t now, lease_cb cb,
		       void *arg)
{
	return ON(s, pgs_expire(s->pg, now, cb, arg),
		  sq_expire(s, now, cb, arg));
}

int lease_store_who(struct lease_store *s, uint32_t pub_ip, uint16_t port,
		    int64_t at, attribution_cb cb, void *arg)
{
	return ON(s, pgs_who(s->pg, pub_ip, port, at, cb, arg),
		  sq_who(s, pub_ip, port, at, cb, arg));
}

int lease_store_prune_history(struct lease_store *s, int64_t before)
{
	return ON(s, pgs_prune_history(s->pg, before),
		  sq_prune_history(s, before));
}

/* SQLite: one gateway, which owns the one part there is. */
int lease_store_gateway(struct lease_store *s, const struct lease_gateway *g)
{
	if (!s || !g || !g->id || !g->nparts)
		return -EINVAL;
	if (s->pg)
		return pgs_gateway(s->pg, g);
	return g->nparts == 1 ? 0 : -EOPNOTSUPP;
}

int lease_store_parts(struct lease_store *s, uint8_t *owned, unsigned int max,
		      int *changed)
{
	if (!s || !owned || !max || !changed)
		return -EINVAL;
	if (s->pg)
		return pgs_parts(s->pg, owned, max, changed);
	owned[0] = 1;
	*changed = 0;
	return 1;
}

int lease_store_takeover(struct lease_store *s, const char *from, int part)
{
	if (!s)
		return -EINVAL;
	return s->pg ? pgs_takeover(s->pg, from, part) : -EOPNOTSUPP;
}
