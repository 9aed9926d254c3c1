/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The provisioner's durable lease store.
 *
 * A small interface so that the embedded SQLite store can be joined by a
 * PostgreSQL one for several gateways.  Durability contract: a lease is
 * on disk when lease_store_commit() returns 0 (or, opened with
 * LS_DEFER_SYNC, when a lease_store_sync() begun after that commit
 * returns 0), and not before; the DHCP server sends an ACK only after
 * that.  Writes between lease_store_begin() and lease_store_commit() form
 * one transaction: the server batches the REQUESTs of one wake-up.  With
 * LS_DEFER_SYNC the commit only writes the WAL and one sync, run by
 * another thread while the server goes on, covers every commit before it
 * (group commit): durability neither caps throughput nor blocks serving.
 *
 * Invariant 1 holds in the store itself: a lease whose (public address,
 * port range) overlaps another MAC's live lease is refused (-EADDRINUSE),
 * as is a private address held by another MAC.
 *
 * All functions return 0 or a negative errno.  Addresses are in network
 * byte order, ports and times in host order (times: seconds, the caller's
 * clock, so tests can drive them).
 */
#ifndef NAPPT_LEASE_STORE_H
#define NAPPT_LEASE_STORE_H

#include <stdint.h>

#define LEASE_VENDOR_MAX 128
#define LEASE_MODEL_MAX 64
#define LEASE_CLIENT_ID_MAX 67 /* 33 bytes of option 61 in hex, NUL */

struct lease {
	uint8_t mac[6];
	uint32_t priv_ip;
	uint32_t pub_ip;
	uint16_t port_first;
	uint16_t port_last;
	int64_t expires; /* seconds; <= now means expired */
	char vendor[LEASE_VENDOR_MAX]; /* option 60 as received, printable */
	char model[LEASE_MODEL_MAX]; /* the model policy that matched */
	char client_id[LEASE_CLIENT_ID_MAX]; /* option 61 in hex, or "" */
};

struct lease_store;

/* Open (and create) the store at path; ":memory:" for tests.  flags:
 * LS_DEFER_SYNC, see above. */
#define LS_DEFER_SYNC 0x1
int lease_store_open(const char *path, unsigned int flags,
		     struct lease_store **out);
void lease_store_close(struct lease_store *s);

/* A transaction around several puts/dels; nesting is not supported. */
int lease_store_begin(struct lease_store *s);
int lease_store_commit(struct lease_store *s);
int lease_store_rollback(struct lease_store *s);

/* Insert or replace the lease of l->mac.  -EADDRINUSE if its range or
 * private address is another MAC's live lease at time now. */
int lease_store_put(struct lease_store *s, const struct lease *l, int64_t now);

/* A renewal: the lease of mac keeps its addresses and range, gets a new
 * expiry (and vendor class, model, client id).  Cheaper than a put: no
 * conflict check (the range was checked when it was stored) and no index
 * changes.  -ENOENT if mac has no stored lease. */
int lease_store_renew(struct lease_store *s, const struct lease *l);

/* Remove the lease of mac (RELEASE).  -ENOENT if there was none.  Its
 * attribution interval closes at now (the wall clock, for _del). */
int lease_store_del(struct lease_store *s, const uint8_t mac[6]);
int lease_store_del_at(struct lease_store *s, const uint8_t mac[6],
		       int64_t now);

/* The lease of mac, live or not.  -ENOENT if none. */
int lease_store_get(struct lease_store *s, const uint8_t mac[6],
		    struct lease *out);

/* Call cb for each lease (all if live_only is 0, else those with
 * expires > now), ordered by private address; non-zero from cb stops. */
typedef int (*lease_cb)(const struct lease *l, void *arg);
int lease_store_foreach(struct lease_store *s, int live_only, int64_t now,
			lease_cb cb, void *arg);

/* Delete the leases expired at now, calling cb for each first (so the
 * caller removes its mapping).  Returns how many were deleted.  A scan of
 * the table: for the start, the server expires live leases from memory. */
int lease_store_expire(struct lease_store *s, int64_t now, lease_cb cb,
		       void *arg);

/*
 * Attribution (claim 5: a public address and port identify a phone): the
 * store keeps, with the leases and in the same transaction as each
 * change, the intervals [from, until) during which a MAC held a range.
 * lease_store_put opens one (closing the MAC's previous one at now),
 * lease_store_renew extends it to the new expiry, lease_store_del and
 * lease_store_expire close it at now (or at the expiry, if that came
 * first).  So the answer to "which phone held public address A, port P at
 * time T?" is as durable as the lease, and costs no extra sync.
 */
struct attribution {
	uint8_t mac[6];
	uint32_t priv_ip, pub_ip; /* network order */
	uint16_t port_first, port_last;
	int64_t from, until; /* held from, until (exclusive) */
	int open; /* the lease stands: until is its expiry so far */
	char vendor[LEASE_VENDOR_MAX];
	char model[LEASE_MODEL_MAX];
	char client_id[LEASE_CLIENT_ID_MAX];
};
typedef int (*attribution_cb)(const struct attribution *a, void *arg);

/* cb for each interval covering (pub_ip, port) at time at, oldest first;
 * returns how many (0: nobody), or -errno. */
int lease_store_who(struct lease_store *s, uint32_t pub_ip, uint16_t port,
		    int64_t at, attribution_cb cb, void *arg);

/* Forget closed intervals that ended before before; how many, or -errno. */
int lease_store_prune_history(struct lease_store *s, int64_t before);

/*
 * LS_DEFER_SYNC: make every commit before the call durable.  Only
 * fdatasync(2) of the write-ahead log, so another thread may run it while
 * this one goes on with the store (SQLite's own locks are not involved).
 * lease_store_sync_fd() gives that thread the descriptor, open from
 * lease_store_open() on (so that a caller may then lose its path to the
 * store's directory).  Without LS_DEFER_SYNC both are no-ops (0 and -1):
 * commits are durable already.
 */
int lease_store_sync(struct lease_store *s);
int lease_store_sync_fd(struct lease_store *s);

/*
 * Several gateways, one authority (PostgreSQL, lease-store-pg.c; path
 * is then a postgresql:// URI).  The public pool is cut into nparts
 * contiguous slices; part k is the k-th slice of it and the private
 * addresses derived from it (lease_part_pub/_lan: a phone's private
 * address is lan_net + public index x slots_per_ip + first slot, issue
 * 13, so part k of the LAN pool is a contiguous slice too, the same
 * one on every gateway).  The database records which gateway owns
 * each part and its epoch; a gateway allocates only in the parts it
 * owns, and every write of a lease checks, in its transaction, that its
 * gateway still owns the lease's part at the epoch it was given (a
 * fencing token): a gateway that lost the part writes nothing (-ESTALE)
 * and so ACKs nothing.  Without these calls a PostgreSQL store refuses
 * writes (-EPERM); SQLite is one gateway owning everything.
 */
struct lease_gateway {
	const char *id; /* this gateway's name */
	uint32_t pub_net, pub_count; /* host order, as the configuration */
	uint32_t lan_net, lan_size;
	unsigned int slots_per_ip; /* 65536 / slot_size */
	unsigned int nparts; /* 1..256, the same on every gateway */
	const uint8_t *claim; /* nparts flags: claim the part if free */
};

/* Who we are; claim the free parts of g->claim (epoch + 1; a part we
 * already own gets a new epoch too, fencing an older process of ours).
 * -EINVAL if the database was set up with other pools or parts. */
int lease_store_gateway(struct lease_store *s, const struct lease_gateway *g);

/* owned[k] = 1 for each part this gateway owns now, as the database
 * says (read again on each call); *changed = 1 if that differs from the
 * last call.  Returns nparts or -errno. */
int lease_store_parts(struct lease_store *s, uint8_t *owned, unsigned int max,
		      int *changed);

/* Take over: every part owned by gateway from (or, from NULL, the part
 * part) becomes ours with epoch + 1; the former owner's writes fail from
 * the commit on.  Returns how many parts were taken, or -errno. */
int lease_store_takeover(struct lease_store *s, const char *from, int part);

/* The part of a public or LAN address (host order), or -1 if outside. */
static inline int lease_part_pub(const struct lease_gateway *g, uint32_t pub)
{
	uint32_t i = pub - g->pub_net;

	return i < g->pub_count ?
		       (int)((uint64_t)i * g->nparts / g->pub_count) :
		       -1;
}

/* The part of the public address a private one is derived from; -1 if
 * it is outside the LAN pool or derived from no public address (a LAN
 * pool larger than the public pool's slots: never a phone's). */
static inline int lease_part_lan(const struct lease_gateway *g, uint32_t priv)
{
	uint32_t i = priv - g->lan_net;

	if (i >= g->lan_size || !g->slots_per_ip)
		return -1;
	return lease_part_pub(g, g->pub_net + i / g->slots_per_ip);
}

/*
 * LS_DEFER_SYNC: fold the log into the main store once it has grown, so
 * that what the committing thread would otherwise do inline (and wait
 * for the disk) runs in the thread that calls this, while commits go on.
 * Cheap when there is nothing to do; call it after every sync.  1 if it
 * did fold, 0 if there was nothing to do (or without LS_DEFER_SYNC, or a
 * backend that needs no such step), -errno.
 */
int lease_store_checkpoint(struct lease_store *s);

#endif /* NAPPT_LEASE_STORE_H */
