// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * PostgreSQL implementation of lease-store.h: one database, several
 * gateways (issue 14).
 *
 * Durability: a lease is durable when the COMMIT returns, which with
 * synchronous_commit = on (set for the session, whatever the server's
 * default) means the server flushed its WAL; so the ACK that waits for
 * lease_store_commit() waits for the server's disk.  Nothing is left for
 * lease_store_sync(): the sync descriptor is -1.
 *
 * Invariant 1 is the database's: an exclusion constraint (btree_gist)
 * keeps any two rows from sharing a public address with intersecting
 * port ranges, and a unique constraint any two from sharing a private
 * address, also between two gateways writing at the same moment (the
 * second insert waits for the first transaction and fails if it
 * committed).  A put that loses returns -EADDRINUSE and leaves the rest
 * of the transaction standing (a subtransaction in nappt_put).
 *
 * Fencing: the pools are cut into parts (lease-store.h); nappt_parts
 * says which gateway owns each and its epoch.  Every write runs through
 * a function that first locks the lease's part row FOR SHARE where owner
 * and epoch are the ones this process was given: a takeover (UPDATE of
 * that row) waits for the transactions that hold it, and every write
 * after the takeover's commit finds another epoch and is refused
 * (-ESTALE).  So a gateway that lost a part, however sure it is that it
 * still owns it (split brain), commits nothing there and ACKs nothing.
 *
 * Each write is one round trip (a function call with text parameters);
 * the rows and the history are the same as SQLite's (attribution, "who
 * held A, port P at time T").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <libpq-fe.h>

#include "lease-store-pg.h"
#include "log.h"

#define PG_SCHEMA_VERSION 1
#define PG_MAX_PARTS 256
/* pg_advisory_xact_lock keys: one schema set-up, one pool set-up. */
#define LOCK_SCHEMA "7242001"
#define LOCK_POOL "7242002"

struct pg_store {
	PGconn *c;
	int in_tx;
	int have_gw;
	struct lease_gateway g;
	char gw[64];
	int64_t epoch[PG_MAX_PARTS]; /* 0: not ours */
	/* The same as array literals for the server functions. */
	char epochs[PG_MAX_PARTS * 21 + 3];
	char owned[PG_MAX_PARTS * 4 + 3];
};

/*
 * Version 1.  Table names carry a prefix so that the database may be
 * shared (with Kea's own tables in a benchmark, say).
 */
static const char schema_v1[] =
	"CREATE EXTENSION IF NOT EXISTS btree_gist;"
	"CREATE TABLE nappt_schema (version int NOT NULL);"
	"INSERT INTO nappt_schema VALUES (1);"
	"CREATE TABLE nappt_pool (id int PRIMARY KEY CHECK (id = 1),"
	" pub_net inet NOT NULL, pub_count int NOT NULL CHECK (pub_count > 0),"
	" lan_net inet NOT NULL, lan_size int NOT NULL CHECK (lan_size > 0),"
	" nparts int NOT NULL CHECK (nparts BETWEEN 1 AND 256));"
	"CREATE TABLE nappt_parts (part int PRIMARY KEY, owner text,"
	" epoch bigint NOT NULL DEFAULT 0, since timestamptz);"
	"CREATE TABLE nappt_leases ("
	" mac bytea PRIMARY KEY CHECK (length(mac) = 6),"
	" priv_addr inet NOT NULL UNIQUE,"
	" pub_addr inet NOT NULL,"
	" port_lo int NOT NULL CHECK (port_lo BETWEEN 0 AND 65535),"
	" port_hi int NOT NULL CHECK (port_hi BETWEEN port_lo AND 65535),"
	" expires bigint NOT NULL,"
	" vendor text NOT NULL DEFAULT '', model text NOT NULL DEFAULT '',"
	" client_id text NOT NULL DEFAULT '',"
	" part int NOT NULL, hist bigint NOT NULL DEFAULT 0,"
	" CONSTRAINT nappt_leases_no_overlap EXCLUDE USING gist"
	" (pub_addr WITH =, int4range(port_lo, port_hi, '[]') WITH &&));"
	"CREATE INDEX nappt_leases_part ON nappt_leases (part);"
	"CREATE TABLE nappt_attribution (id bigserial PRIMARY KEY,"
	" pub_addr inet NOT NULL, port_lo int NOT NULL, port_hi int NOT NULL,"
	" mac bytea NOT NULL, priv_addr inet NOT NULL,"
	" model text NOT NULL DEFAULT '', vendor text NOT NULL DEFAULT '',"
	" client_id text NOT NULL DEFAULT '', t_from bigint NOT NULL,"
	" t_until bigint NOT NULL, open boolean NOT NULL DEFAULT true,"
	" gateway text NOT NULL DEFAULT '');"
	"CREATE INDEX nappt_attribution_pub ON nappt_attribution"
	" (pub_addr, port_lo, t_from);"
	/* The fence: the part is gw's at the epoch gw was given, and stays
	 * so until this transaction ends (FOR SHARE blocks a takeover). */
	"CREATE FUNCTION nappt_owns(gw text, epochs bigint[], p int)"
	" RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN"
	" IF p IS NULL OR coalesce(epochs[p + 1], 0) = 0 THEN RETURN false;"
	" END IF;"
	/* Once per transaction and part: the row lock lasts until the
	 * transaction ends, and so does a local setting (both go with a
	 * rollback). */
	" IF current_setting('nappt.fence_' || p, true) ="
	" gw || '/' || epochs[p + 1] THEN RETURN true; END IF;"
	" PERFORM 1 FROM nappt_parts WHERE part = p AND owner = gw"
	" AND epoch = epochs[p + 1] FOR SHARE;"
	" IF NOT FOUND THEN RETURN false; END IF;"
	" PERFORM set_config('nappt.fence_' || p, gw || '/' || epochs[p + 1],"
	" true); RETURN true; END $$;"
	/* 0 stored, 1 in use (-EADDRINUSE), 2 fenced (-ESTALE), 4 outside
	 * the pool.  Expired leases of the part in the way make room, their
	 * intervals closed at their expiry; the MAC's previous interval
	 * closes at t. */
	"CREATE FUNCTION nappt_put(gw text, epochs bigint[], m bytea,"
	" priv inet, pub inet, lo int, hi int, exp bigint, ven text,"
	" mdl text, cid text, t bigint) RETURNS int LANGUAGE plpgsql AS $$"
	" DECLARE p int; op int; n int; h bigint; oh bigint; oexp bigint;"
	" BEGIN"
	" SELECT ((pub - pub_net) * nparts / pub_count)::int INTO p"
	" FROM nappt_pool WHERE pub >= pub_net AND pub - pub_net < pub_count;"
	" IF p IS NULL THEN RETURN 4; END IF;"
	" IF NOT nappt_owns(gw, epochs, p) THEN RETURN 2; END IF;"
	" SELECT part, hist, expires INTO op, oh, oexp FROM nappt_leases"
	" WHERE mac = m FOR UPDATE;"
	" IF FOUND AND op <> p AND NOT nappt_owns(gw, epochs, op) THEN"
	" RETURN 2; END IF;"
	/* The insert first; only if it collides, expired leases of the
	 * part in the way go (their intervals closed at their expiry) and
	 * it is tried once more: no search on the common path. */
	" FOR attempt IN 1..2 LOOP BEGIN"
	" INSERT INTO nappt_attribution (pub_addr, port_lo, port_hi, mac,"
	" priv_addr, model, vendor, client_id, t_from, t_until, gateway)"
	" VALUES (pub, lo, hi, m, priv, mdl, ven, cid, t, exp, gw)"
	" RETURNING id INTO h;"
	" INSERT INTO nappt_leases (mac, priv_addr, pub_addr, port_lo,"
	" port_hi, expires, vendor, model, client_id, part, hist)"
	" VALUES (m, priv, pub, lo, hi, exp, ven, mdl, cid, p, h)"
	" ON CONFLICT (mac) DO UPDATE SET priv_addr = excluded.priv_addr,"
	" pub_addr = excluded.pub_addr, port_lo = excluded.port_lo,"
	" port_hi = excluded.port_hi, expires = excluded.expires,"
	" vendor = excluded.vendor, model = excluded.model,"
	" client_id = excluded.client_id, part = excluded.part,"
	" hist = excluded.hist;"
	" EXIT;"
	" EXCEPTION WHEN exclusion_violation OR unique_violation THEN"
	" IF attempt = 2 THEN RETURN 1; END IF;"
	" WITH gone AS (DELETE FROM nappt_leases l WHERE l.mac IN"
	" (SELECT mac FROM nappt_leases WHERE priv_addr = priv UNION ALL"
	" SELECT mac FROM nappt_leases WHERE pub_addr = pub AND"
	" int4range(port_lo, port_hi, '[]') && int4range(lo, hi, '[]'))"
	" AND l.mac <> m AND l.part = p AND l.expires <= t"
	" RETURNING l.hist, l.expires),"
	" closed AS (UPDATE nappt_attribution a SET open = false,"
	" t_until = least(g.expires, t) FROM gone g"
	" WHERE a.id = g.hist AND a.open RETURNING 1)"
	" SELECT count(*) INTO n FROM gone;"
	" IF n = 0 THEN RETURN 1; END IF;"
	" END; END LOOP;"
	" IF oh IS NOT NULL THEN UPDATE nappt_attribution SET open = false,"
	" t_until = least(oexp, t) WHERE id = oh AND open; END IF;"
	" RETURN 0; END $$;"
	/* 0 renewed, 2 fenced, 3 no such lease. */
	"CREATE FUNCTION nappt_renew(gw text, epochs bigint[], m bytea,"
	" exp bigint, ven text, mdl text, cid text) RETURNS int"
	" LANGUAGE plpgsql AS $$ DECLARE p int; BEGIN"
	" SELECT part INTO p FROM nappt_leases WHERE mac = m;"
	" IF NOT FOUND THEN RETURN 3; END IF;"
	" IF NOT nappt_owns(gw, epochs, p) THEN RETURN 2; END IF;"
	" UPDATE nappt_leases SET expires = exp, vendor = ven, model = mdl,"
	" client_id = cid WHERE mac = m; RETURN 0; END $$;"
	"CREATE FUNCTION nappt_del(gw text, epochs bigint[], m bytea,"
	" t bigint) RETURNS int LANGUAGE plpgsql AS $$"
	" DECLARE p int; h bigint; e bigint; BEGIN"
	" SELECT part, hist, expires INTO p, h, e FROM nappt_leases"
	" WHERE mac = m FOR UPDATE;"
	" IF NOT FOUND THEN RETURN 3; END IF;"
	" IF NOT nappt_owns(gw, epochs, p) THEN RETURN 2; END IF;"
	" UPDATE nappt_attribution SET open = false, t_until = least(e, t)"
	" WHERE id = h AND open;"
	" DELETE FROM nappt_leases WHERE mac = m; RETURN 0; END $$;"
	/* The expired leases of the parts gw owns at its epochs. */
	"CREATE FUNCTION nappt_expire(gw text, epochs bigint[], t bigint)"
	" RETURNS int LANGUAGE plpgsql AS $$ DECLARE n int; BEGIN"
	" WITH gone AS (DELETE FROM nappt_leases l WHERE l.expires <= t"
	" AND nappt_owns(gw, epochs, l.part) RETURNING l.hist, l.expires),"
	" closed AS (UPDATE nappt_attribution a SET open = false,"
	" t_until = least(g.expires, t) FROM gone g WHERE a.id = g.hist"
	" AND a.open RETURNING 1)"
	" SELECT count(*) INTO n FROM gone; RETURN n; END $$;";

#define LCOLS                                                           \
	"encode(mac, 'hex'), host(priv_addr), host(pub_addr), port_lo," \
	" port_hi, expires, vendor, model, client_id"

static const struct {
	const char *name, *sql;
} stmts[] = {
	{ "put", "SELECT nappt_put($1, $2::bigint[], decode($3, 'hex'),"
		 " $4::inet, $5::inet, $6::int, $7::int, $8::bigint, $9, $10,"
		 " $11, $12::bigint)" },
	{ "renew", "SELECT nappt_renew($1, $2::bigint[], decode($3, 'hex'),"
		   " $4::bigint, $5, $6, $7)" },
	{ "del", "SELECT nappt_del($1, $2::bigint[], decode($3, 'hex'),"
		 " $4::bigint)" },
	{ "get", "SELECT " LCOLS " FROM nappt_leases"
		 " WHERE mac = decode($1, 'hex')" },
	/* $1: the parts to walk (NULL: all, for a store with no gateway);
	 * $2: live only at that time (NULL: every row). */
	{ "each", "SELECT " LCOLS " FROM nappt_leases WHERE ($1::int[] IS"
		  " NULL OR part = ANY($1::int[])) AND ($2::bigint IS NULL OR"
		  " expires > $2::bigint) ORDER BY priv_addr" },
	{ "expired", "SELECT " LCOLS " FROM nappt_leases WHERE expires <="
		     " $2::bigint AND part = ANY($1::int[]) FOR UPDATE" },
	{ "expire", "SELECT nappt_expire($1, $2::bigint[], $3::bigint)" },
	{ "who",
	  "SELECT encode(a.mac, 'hex'), host(a.priv_addr), host(a.pub_addr),"
	  " a.port_lo, a.port_hi, a.t_from, u.until, a.open::int, a.vendor,"
	  " a.model, a.client_id FROM nappt_attribution a LEFT JOIN"
	  " nappt_leases l ON l.mac = a.mac AND l.hist = a.id,"
	  " LATERAL (SELECT CASE WHEN a.open THEN coalesce(l.expires,"
	  " a.t_until) ELSE a.t_until END AS until) u"
	  " WHERE a.pub_addr = $1::inet AND a.port_lo <= $2::int AND"
	  " a.port_hi >= $2::int AND a.t_from <= $3::bigint AND"
	  " u.until > $3::bigint ORDER BY a.t_from" },
	{ "prune", "DELETE FROM nappt_attribution WHERE NOT open AND"
		   " t_until < $1::bigint" },
	{ "parts", "SELECT part, epoch FROM nappt_parts WHERE owner = $1" },
};

int pgs_is_uri(const char *path)
{
	return path && (!strncmp(path, "postgresql://", 13) ||
			!strncmp(path, "postgres://", 11));
}

/* A failed call: logged with the server's words; -ECONNRESET if the
 * connection is gone (the daemon stops: memory and store may differ). */
static int pg_err(struct pg_store *p, PGresult *res, const char *what)
{
	const char *msg = res ? PQresultErrorMessage(res) : "";

	if (!msg || !*msg)
		msg = PQerrorMessage(p->c);
	logp(LOG_ERR_, "Failed to %s: %s", what, msg);
	if (PQstatus(p->c) == CONNECTION_BAD)
		return -ECONNRESET;
	return -EIO;
}

static PGresult *run(struct pg_store *p, const char *name, int n,
		     const char *const *v)
{
	return PQexecPrepared(p->c, name, n, v, NULL, NULL, 0);
}

static int exec_ok(struct pg_store *p, const char *sql, const char *what)
{
	PGresult *res = PQexec(p->c, sql);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ||
				PQresultStatus(res) == PGRES_TUPLES_OK ?
			0 :
			pg_err(p, res, what);

	PQclear(res);
	return r;
}

void pgs_close(struct pg_store *p)
{
	if (!p)
		return;
	PQfinish(p->c);
	free(p);
}

static int schema(struct pg_store *p, const char *uri)
{
	PGresult *res;
	int version = 0, r;

	/* One gateway sets the schema up; the others wait and find it. */
	r = exec_ok(p, "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_SCHEMA ")",
		    "lock the schema");
	if (r)
		return r;
	res = PQexec(p->c, "SELECT to_regclass('nappt_schema') IS NOT NULL");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_err(p, res, "read the schema");
		goto out;
	}
	if (!strcmp(PQgetvalue(res, 0, 0), "t")) {
		PQclear(res);
		res = PQexec(p->c, "SELECT max(version) FROM nappt_schema");
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			r = pg_err(p, res, "read the schema version");
			goto out;
		}
		version = atoi(PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	res = NULL;
	if (version > PG_SCHEMA_VERSION) {
		logp(LOG_ERR_,
		     "Lease store has schema version %d; this program knows "
		     "%d at most: refusing to touch it",
		     version, PG_SCHEMA_VERSION);
		r = -EPROTO;
		goto out;
	}
	/* Later versions convert from here, one step each, as SQLite's. */
	if (version == 0) {
		r = exec_ok(p, schema_v1, "create the lease store's schema");
		if (!r)
			logp(LOG_NOTICE_,
			     "lease store: schema version %d created",
			     PG_SCHEMA_VERSION);
	}
out:
	PQclear(res);
	if (r) {
		exec_ok(p, "ROLLBACK", "roll back");
		return r;
	}
	(void)uri;
	return exec_ok(p, "COMMIT", "commit the schema");
}

int pgs_open(const char *uri, struct pg_store **out)
{
	struct pg_store *p;
	unsigned int i;
	int r;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->c = PQconnectdb(uri);
	if (!p->c || PQstatus(p->c) != CONNECTION_OK) {
		/* Not the URI: it may hold a password. */
		logp(LOG_ERR_, "Failed to connect to the lease database: %s",
		     p->c ? PQerrorMessage(p->c) : "out of memory");
		r = -ECONNREFUSED;
		goto fail;
	}
	/* The ACK's promise: COMMIT returns once the server's WAL is on
	 * disk, whatever the server's default says. */
	r = exec_ok(p,
		    "SET synchronous_commit = on;"
		    "SET client_min_messages = warning;"
		    "SET application_name = 'nappt-provisioner'",
		    "set up the session");
	if (!r)
		r = schema(p, uri);
	for (i = 0; !r && i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		PGresult *res =
			PQprepare(p->c, stmts[i].name, stmts[i].sql, 0, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			r = pg_err(p, res, "prepare statement");
		PQclear(res);
	}
	if (r)
		goto fail;
	snprintf(p->epochs, sizeof(p->epochs), "{}");
	snprintf(p->owned, sizeof(p->owned), "{}");
	*out = p;
	return 0;
fail:
	pgs_close(p);
	return r;
}

int pgs_begin(struct pg_store *p)
{
	int r;

	if (!p || p->in_tx)
		return -EINVAL;
	r = exec_ok(p, "BEGIN", "begin transaction");
	if (!r)
		p->in_tx = 1;
	return r;
}

int pgs_commit(struct pg_store *p)
{
	PGresult *res;
	int r = 0;

	if (!p || !p->in_tx)
		return -EINVAL;
	p->in_tx = 0;
	res = PQexec(p->c, "COMMIT");
	/* A transaction that failed earlier "commits" as a ROLLBACK. */
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		r = pg_err(p, res, "commit leases");
	else if (strcmp(PQcmdStatus(res), "COMMIT"))
		r = -EIO;
	PQclear(res);
	return r;
}

int pgs_rollback(struct pg_store *p)
{
	if (!p || !p->in_tx)
		return -EINVAL;
	p->in_tx = 0;
	return exec_ok(p, "ROLLBACK", "roll back");
}

/* Outside a transaction, each write is one of its own (as SQLite's
 * autocommit). */
static int scalar(struct pg_store *p, const char *name, int n,
		  const char *const *v, const char *what, long long *out)
{
	PGresult *res = run(p, name, n, v);
	int r = 0;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	else if (PQresultStatus(res) == PGRES_COMMAND_OK)
		*out = strtoll(PQcmdTuples(res), NULL, 10);
	else
		r = pg_err(p, res, what);
	PQclear(res);
	return r;
}

static void hex_mac(const uint8_t mac[6], char out[13])
{
	snprintf(out, 13, "%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

static int code_err(long long code)
{
	switch (code) {
	case 0:
		return 0;
	case 1:
		return -EADDRINUSE;
	case 2:
		return -ESTALE;
	case 3:
		return -ENOENT;
	case 4:
		return -ERANGE;
	default:
		return -EIO;
	}
}

/* A write outside begin/commit is its own transaction. */
static int write_call(struct pg_store *p, const char *name, int n,
		      const char *const *v, const char *what)
{
	long long code = -1;
	int own = !p->in_tx, r;

	if (!p->have_gw) {
		logp(LOG_ERR_,
		     "Failed to %s: no gateway identity (the "
		     "PostgreSQL store writes only for a gateway)",
		     what);
		return -EPERM;
	}
	if (own && (r = pgs_begin(p)))
		return r;
	r = scalar(p, name, n, v, what, &code);
	if (!r)
		r = code_err(code);
	if (own) {
		if (r)
			pgs_rollback(p);
		else
			r = pgs_commit(p);
	}
	return r;
}

int pgs_put(struct pg_store *p, const struct lease *l, int64_t now)
{
	char mac[13], priv[INET_ADDRSTRLEN], pub[INET_ADDRSTRLEN], lo[8], hi[8],
		exp[24], t[24];
	const char *v[12];

	if (!p || !l || l->port_last < l->port_first)
		return -EINVAL;
	hex_mac(l->mac, mac);
	inet_ntop(AF_INET, &l->priv_ip, priv, sizeof(priv));
	inet_ntop(AF_INET, &l->pub_ip, pub, sizeof(pub));
	snprintf(lo, sizeof(lo), "%u", l->port_first);
	snprintf(hi, sizeof(hi), "%u", l->port_last);
	snprintf(exp, sizeof(exp), "%" PRId64, l->expires);
	snprintf(t, sizeof(t), "%" PRId64, now);
	v[0] = p->gw;
	v[1] = p->epochs;
	v[2] = mac;
	v[3] = priv;
	v[4] = pub;
	v[5] = lo;
	v[6] = hi;
	v[7] = exp;
	v[8] = l->vendor;
	v[9] = l->model;
	v[10] = l->client_id;
	v[11] = t;
	return write_call(p, "put", 12, v, "store lease");
}

int pgs_renew(struct pg_store *p, const struct lease *l)
{
	char mac[13], exp[24];
	const char *v[7];

	if (!p || !l)
		return -EINVAL;
	hex_mac(l->mac, mac);
	snprintf(exp, sizeof(exp), "%" PRId64, l->expires);
	v[0] = p->gw;
	v[1] = p->epochs;
	v[2] = mac;
	v[3] = exp;
	v[4] = l->vendor;
	v[5] = l->model;
	v[6] = l->client_id;
	return write_call(p, "renew", 7, v, "renew lease");
}

int pgs_del_at(struct pg_store *p, const uint8_t mac[6], int64_t now)
{
	char m[13], t[24];
	const char *v[4];

	if (!p || !mac)
		return -EINVAL;
	hex_mac(mac, m);
	snprintf(t, sizeof(t), "%" PRId64, now);
	v[0] = p->gw;
	v[1] = p->epochs;
	v[2] = m;
	v[3] = t;
	return write_call(p, "del", 4, v, "delete lease");
}

static void copy_text(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

static int unhex_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	int i;

	if (strlen(s) != 12 || sscanf(s, "%2x%2x%2x%2x%2x%2x", &b[0], &b[1],
				      &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EILSEQ;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

/* A row of LCOLS (from column c0 on) into l. */
static void row_lease(PGresult *res, int row, struct lease *l)
{
	memset(l, 0, sizeof(*l));
	unhex_mac(PQgetvalue(res, row, 0), l->mac);
	inet_pton(AF_INET, PQgetvalue(res, row, 1), &l->priv_ip);
	inet_pton(AF_INET, PQgetvalue(res, row, 2), &l->pub_ip);
	l->port_first = (uint16_t)atoi(PQgetvalue(res, row, 3));
	l->port_last = (uint16_t)atoi(PQgetvalue(res, row, 4));
	l->expires = strtoll(PQgetvalue(res, row, 5), NULL, 10);
	copy_text(l->vendor, sizeof(l->vendor), PQgetvalue(res, row, 6));
	copy_text(l->model, sizeof(l->model), PQgetvalue(res, row, 7));
	copy_text(l->client_id, sizeof(l->client_id), PQgetvalue(res, row, 8));
}

int pgs_get(struct pg_store *p, const uint8_t mac[6], struct lease *out)
{
	const char *v[1];
	PGresult *res;
	char m[13];
	int r = 0;

	if (!p || !mac || !out)
		return -EINVAL;
	hex_mac(mac, m);
	v[0] = m;
	res = run(p, "get", 1, v);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		r = pg_err(p, res, "read lease");
	else if (PQntuples(res) == 0)
		r = -ENOENT;
	else
		row_lease(res, 0, out);
	PQclear(res);
	return r;
}

static int walk(struct pg_store *p, PGresult *res, lease_cb cb, void *arg,
		const char *what)
{
	struct lease l;
	int i, n, r = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return pg_err(p, res, what);
	n = PQntuples(res);
	for (i = 0; i < n && !r; i++) {
		row_lease(res, i, &l);
		if (cb)
			r = cb(&l, arg);
	}
	return r;
}

/* With a gateway, only the leases of the parts it owns: the rest are
 * other gateways' (or nobody's until a takeover). */
int pgs_foreach(struct pg_store *p, int live_only, int64_t now, lease_cb cb,
		void *arg)
{
	const char *v[2];
	PGresult *res;
	char t[24];
	int r;

	if (!p || !cb)
		return -EINVAL;
	snprintf(t, sizeof(t), "%" PRId64, now);
	v[0] = p->have_gw ? p->owned : NULL;
	v[1] = live_only ? t : NULL;
	res = run(p, "each", 2, v);
	r = walk(p, res, cb, arg, "read leases");
	PQclear(res);
	return r;
}

int pgs_expire(struct pg_store *p, int64_t now, lease_cb cb, void *arg)
{
	const char *v[3];
	PGresult *res;
	long long n = 0;
	char t[24];
	int own, r;

	if (!p)
		return -EINVAL;
	if (!p->have_gw)
		return -EPERM;
	own = !p->in_tx;
	if (own && (r = pgs_begin(p)))
		return r;
	snprintf(t, sizeof(t), "%" PRId64, now);
	v[0] = p->owned;
	v[1] = t;
	res = run(p, "expired", 2, v);
	r = walk(p, res, cb, arg, "read expired leases");
	PQclear(res);
	if (!r) {
		v[0] = p->gw;
		v[1] = p->epochs;
		v[2] = t;
		r = scalar(p, "expire", 3, v, "delete expired leases", &n);
	}
	if (own) {
		if (r)
			pgs_rollback(p);
		else
			r = pgs_commit(p);
	}
	return r ? r : (int)n;
}

int pgs_who(struct pg_store *p, uint32_t pub_ip, uint16_t port, int64_t at,
	    attribution_cb cb, void *arg)
{
	char pub[INET_ADDRSTRLEN], po[8], t[24];
	struct attribution a;
	const char *v[3];
	PGresult *res;
	int i, n, r = 0;

	if (!p || !cb)
		return -EINVAL;
	inet_ntop(AF_INET, &pub_ip, pub, sizeof(pub));
	snprintf(po, sizeof(po), "%u", port);
	snprintf(t, sizeof(t), "%" PRId64, at);
	v[0] = pub;
	v[1] = po;
	v[2] = t;
	res = run(p, "who", 3, v);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_err(p, res, "read attribution");
		PQclear(res);
		return r;
	}
	n = PQntuples(res);
	for (i = 0; i < n && !r; i++) {
		memset(&a, 0, sizeof(a));
		unhex_mac(PQgetvalue(res, i, 0), a.mac);
		inet_pton(AF_INET, PQgetvalue(res, i, 1), &a.priv_ip);
		inet_pton(AF_INET, PQgetvalue(res, i, 2), &a.pub_ip);
		a.port_first = (uint16_t)atoi(PQgetvalue(res, i, 3));
		a.port_last = (uint16_t)atoi(PQgetvalue(res, i, 4));
		a.from = strtoll(PQgetvalue(res, i, 5), NULL, 10);
		a.until = strtoll(PQgetvalue(res, i, 6), NULL, 10);
		a.open = atoi(PQgetvalue(res, i, 7));
		copy_text(a.vendor, sizeof(a.vendor), PQgetvalue(res, i, 8));
		copy_text(a.model, sizeof(a.model), PQgetvalue(res, i, 9));
		copy_text(a.client_id, sizeof(a.client_id),
			  PQgetvalue(res, i, 10));
		r = cb(&a, arg);
	}
	PQclear(res);
	return r ? r : n;
}

int pgs_prune_history(struct pg_store *p, int64_t before)
{
	const char *v[1];
	long long n = 0;
	char t[24];
	int r;

	if (!p)
		return -EINVAL;
	snprintf(t, sizeof(t), "%" PRId64, before);
	v[0] = t;
	r = scalar(p, "prune", 1, v, "prune attribution", &n);
	return r ? r : (int)n;
}

/* --- parts and epochs ------------------------------------------------------ */

/* What the database says this gateway owns now; the literals the write
 * functions are given follow. */
static int refresh(struct pg_store *p, int *changed)
{
	int64_t epoch[PG_MAX_PARTS] = { 0 };
	const char *v[1] = { p->gw };
	PGresult *res = run(p, "parts", 1, v);
	unsigned int k, n, o = 0, oe = 0;
	int i, r = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		r = pg_err(p, res, "read the parts of the pool");
		PQclear(res);
		return r;
	}
	for (i = 0; i < PQntuples(res); i++) {
		long part = strtol(PQgetvalue(res, i, 0), NULL, 10);

		if (part >= 0 && part < (long)p->g.nparts)
			epoch[part] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
	}
	PQclear(res);
	n = p->g.nparts;
	*changed = memcmp(epoch, p->epoch, sizeof(epoch)) != 0;
	memcpy(p->epoch, epoch, sizeof(epoch));
	p->epochs[oe++] = '{';
	p->owned[o++] = '{';
	for (k = 0; k < n; k++) {
		oe += (unsigned int)snprintf(p->epochs + oe,
					     sizeof(p->epochs) - oe,
					     "%s%" PRId64, k ? "," : "",
					     epoch[k]);
		if (epoch[k])
			o += (unsigned int)snprintf(p->owned + o,
						    sizeof(p->owned) - o,
						    "%s%u", o > 1 ? "," : "",
						    k);
	}
	snprintf(p->epochs + oe, sizeof(p->epochs) - oe, "}");
	snprintf(p->owned + o, sizeof(p->owned) - o, "}");
	return 0;
}

int pgs_gateway(struct pg_store *p, const struct lease_gateway *g)
{
	char pub_net[INET_ADDRSTRLEN], lan_net[INET_ADDRSTRLEN], sql[4096];
	char claim[PG_MAX_PARTS * 4 + 3], *esc = NULL;
	uint32_t a;
	unsigned int k, o = 0;
	PGresult *res = NULL;
	int changed, r;

	if (!p || !g || !g->id || !*g->id || !g->nparts ||
	    g->nparts > PG_MAX_PARTS || !g->pub_count || !g->lan_size ||
	    strlen(g->id) >= sizeof(p->gw))
		return -EINVAL;
	if (p->in_tx)
		return -EBUSY;
	snprintf(p->gw, sizeof(p->gw), "%s", g->id);
	p->g = *g;
	p->g.id = p->gw;
	p->g.claim = NULL;
	a = htonl(g->pub_net);
	inet_ntop(AF_INET, &a, pub_net, sizeof(pub_net));
	a = htonl(g->lan_net);
	inet_ntop(AF_INET, &a, lan_net, sizeof(lan_net));
	claim[o++] = '{';
	for (k = 0; g->claim && k < g->nparts; k++)
		if (g->claim[k])
			o += (unsigned int)snprintf(claim + o,
						    sizeof(claim) - o, "%s%u",
						    o > 1 ? "," : "", k);
	snprintf(claim + o, sizeof(claim) - o, "}");
	esc = PQescapeLiteral(p->c, p->gw, strlen(p->gw));
	if (!esc)
		return pg_err(p, NULL, "quote the gateway id");
	/* The pools and the number of parts are the first gateway's; a
	 * gateway that disagrees would cut them elsewhere. */
	snprintf(sql, sizeof(sql),
		 "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_POOL ");"
		 "INSERT INTO nappt_pool VALUES (1, '%s', %u, '%s', %u, %u)"
		 " ON CONFLICT (id) DO NOTHING;"
		 "INSERT INTO nappt_parts (part) SELECT generate_series(0, %u)"
		 " ON CONFLICT DO NOTHING;"
		 "UPDATE nappt_parts SET owner = %s, epoch = epoch + 1,"
		 " since = now() WHERE part = ANY('%s'::int[]) AND"
		 " (owner IS NULL OR owner = %s);",
		 pub_net, g->pub_count, lan_net, g->lan_size, g->nparts,
		 g->nparts - 1, esc, claim, esc);
	PQfreemem(esc);
	r = exec_ok(p, sql, "claim parts of the pool");
	if (r)
		goto fail;
	res = PQexec(p->c, "SELECT host(pub_net), pub_count, host(lan_net),"
			   " lan_size, nparts FROM nappt_pool");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		r = pg_err(p, res, "read the pool");
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 0), pub_net) ||
	    strtoul(PQgetvalue(res, 0, 1), NULL, 10) != g->pub_count ||
	    strcmp(PQgetvalue(res, 0, 2), lan_net) ||
	    strtoul(PQgetvalue(res, 0, 3), NULL, 10) != g->lan_size ||
	    strtoul(PQgetvalue(res, 0, 4), NULL, 10) != g->nparts) {
		logp(LOG_ERR_,
		     "The lease database was set up for public pool %s+%s, "
		     "LAN pool %s+%s in %s parts; this gateway says %s+%u, "
		     "%s+%u in %u parts: refusing to use it",
		     PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		     PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
		     PQgetvalue(res, 0, 4), pub_net, g->pub_count, lan_net,
		     g->lan_size, g->nparts);
		r = -EINVAL;
		goto fail;
	}
	PQclear(res);
	res = NULL;
	r = exec_ok(p, "COMMIT", "commit the claim");
	if (r)
		return r;
	p->have_gw = 1;
	memset(p->epoch, 0, sizeof(p->epoch));
	return refresh(p, &changed);
fail:
	PQclear(res);
	exec_ok(p, "ROLLBACK", "roll back");
	return r;
}

int pgs_parts(struct pg_store *p, uint8_t *owned, unsigned int max,
	      int *changed)
{
	unsigned int k;
	int r;

	if (!p->have_gw)
		return -EPERM;
	r = refresh(p, changed);
	if (r)
		return r;
	for (k = 0; k < max && k < p->g.nparts; k++)
		owned[k] = p->epoch[k] != 0;
	return (int)p->g.nparts;
}

int pgs_takeover(struct pg_store *p, const char *from, int part)
{
	char n[16];
	const char *v[3];
	long long taken = 0;
	PGresult *res;
	int changed, r;

	if (!p->have_gw)
		return -EPERM;
	if (p->in_tx)
		return -EBUSY;
	if (!from && (part < 0 || part >= (int)p->g.nparts))
		return -EINVAL;
	snprintf(n, sizeof(n), "%d", part);
	v[0] = p->gw;
	v[1] = from;
	v[2] = n;
	/* The UPDATE waits for the transactions that hold the rows FOR
	 * SHARE (the former owner's writes); once it commits, every write
	 * of the former owner finds another epoch. */
	res = PQexecParams(p->c,
			   "UPDATE nappt_parts SET owner = $1, epoch = epoch"
			   " + 1, since = now() WHERE ($2::text IS NOT NULL"
			   " AND owner = $2::text AND owner <> $1) OR"
			   " ($2::text IS NULL AND part = $3::int)",
			   3, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		r = pg_err(p, res, "take over parts");
		PQclear(res);
		return r;
	}
	taken = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	r = refresh(p, &changed);
	return r ? r : (int)taken;
}
