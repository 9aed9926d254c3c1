/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The DHCP server's protocol core (STYLE 10): requests in, replies and
 * lease changes out.  No sockets, no clock, no data plane of its own:
 * the daemon (main.c) gives it bytes and the time and lends it a few
 * thin interfaces (struct srv_io); cmocka tests drive it the same way.
 *
 * Life of a REQUEST:
 *
 *   srv_handle()   validated, lease chosen, written into the store's open
 *                  transaction, its ACK built and held (not sent);
 *   srv_commit()   end of a wake-up: the transaction is committed; the
 *                  held ACKs form group N;
 *   srv_durable(N) the daemon's sync of the store covered group N: each
 *                  lease's config file is rendered, its mapping written,
 *                  its ACK sent, its attribution line logged.
 *
 * So an ACK never leaves before its lease is on disk (invariant 3), and
 * the daemon may sync in another thread while this one goes on serving:
 * every REQUEST that arrives during one sync joins the next group.
 * OFFERs, NAKs and INFORM replies leave from srv_handle() at once.
 *
 * Functions return 0 or a negative errno.
 */
#ifndef NAPPT_PROV_SERVER_H
#define NAPPT_PROV_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "lease-store.h"

/* Where a reply goes (RFC 2131 4.1), decided by the core. */
struct srv_dest {
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	/* Unicast to a client that has no address yet: the daemon first
	 * tells the kernel that addr is at mac (an ARP entry), and falls
	 * back to broadcast if it cannot. */
	uint8_t arp;
	uint8_t mac[6];
};

/*
 * The core's effects besides replies and maps: the lease store (the
 * semantics of lease-store.h; put's time is the wall clock the store
 * keeps) and a phone's config file with its tftpd gate entry (model: the
 * index of its model in the policy).  server.c calls no store or file
 * function but these (STYLE 17); server-effects.c has the daemon's.
 */
struct srv_effects {
	void *arg;
	int (*begin)(void *arg);
	int (*commit)(void *arg);
	int (*rollback)(void *arg);
	int (*put)(void *arg, const struct lease *l, int64_t wall);
	int (*renew)(void *arg, const struct lease *l);
	int (*del)(void *arg, const uint8_t mac[6]);
	int (*get)(void *arg, const uint8_t mac[6], struct lease *out);
	/* Every stored lease, expired or not (of the parts we own). */
	int (*foreach)(void *arg, lease_cb cb, void *cbarg);
	/* Several gateways (lease_store_parts): owned[k] = 1 for the parts
	 * of the pools this gateway owns; returns how many parts there
	 * are.  NULL: one gateway, everything is ours. */
	int (*parts)(void *arg, uint8_t *owned, unsigned int max, int *changed);
	int (*file_write)(void *arg, const struct lease *l, unsigned int model);
	void (*file_remove)(void *arg, const uint8_t mac[6],
			    unsigned int model);
	/* 1: there, with content. */
	int (*file_present)(void *arg, const uint8_t mac[6],
			    unsigned int model);
};

/* The daemon's effects: store, files under the config's phone_dir from
 * the templates in tmpl_dir (read once, here). */
int srv_effects_new(const struct prov_conf *c, const char *tmpl_dir,
		    struct lease_store *store, struct srv_effects **out);
void srv_effects_free(struct srv_effects *fx);

struct srv_io {
	void *arg;
	/* Queue one reply. */
	void (*send)(void *arg, const struct srv_dest *d, const uint8_t *buf,
		     size_t len);
	/* The data plane: write, remove, check one lease's mapping
	 * (check: 1 if it is there as the lease says, 0 if not).  NULL
	 * when the server runs without maps. */
	int (*map_add)(void *arg, const struct lease *l);
	int (*map_del)(void *arg, const struct lease *l);
	int (*map_check)(void *arg, const struct lease *l);
	/* Make the maps equal to the store (after the store was reloaded). */
	int (*map_reconcile)(void *arg);
	/* Store and files; NULL: srv_new() makes the default one over
	 * its store and tmpl_dir (srv_effects_new). */
	const struct srv_effects *fx;
};

struct srv;

/*
 * Set up from the configuration: allocator, reserved ports, templates
 * (read once, from tmpl_dir, unless io->fx is given), the leases of the
 * store (each one's wall-clock end mapped onto the monotonic now: at most
 * its lease time ahead, and one that looks expired kept for its T1; see
 * README "Clocks"), missing config files rewritten.  The maps are taken
 * to be reconciled already (the daemon does it first).  now: monotonic
 * seconds; wall: the wall clock at the same moment.
 */
int srv_new(const struct prov_conf *c, const char *tmpl_dir,
	    struct lease_store *store, const struct srv_io *io, int64_t now,
	    int64_t wall, struct srv **out);
void srv_free(struct srv *s);

/*
 * One datagram from a client or relay, as sd-dhcp-server's
 * handle_message(): 0 when it was answered or its ACK is held, else why
 * not, as a negative errno (every case is counted too):
 *   -EBADMSG  malformed;              -EPROTO  not a request we serve, or
 *   -EACCES   refused (MAC, vendor);            fields its state forbids;
 *   -ENOENT   no record of it (silence, or a NAK was sent);
 *   -EADDRNOTAVAIL  not its address (a NAK was sent);
 *   -EDQUOT   a new lease refused (pool grab: share or rate);
 *   -ENOSPC   pool exhausted;         -EBUSY   too many ACKs wait for the
 *   -EIO      the store or a reply failed;      disk;
 *   -ESHUTDOWN  the server must be restarted from its store.
 * RELEASE, DECLINE and another server's SELECTING return 0 when acted
 * on.  The times: now on the monotonic clock (seconds).
 */
int srv_handle(struct srv *s, const uint8_t *buf, size_t len, int64_t now);

/*
 * Commit what this wake-up wrote.  *group is set to the group the held
 * ACKs now belong to, 0 if nothing needs a sync.  On a failed commit the
 * held ACKs of the wake-up are dropped (their clients retransmit) and
 * the server's memory is rebuilt from the store.
 */
int srv_commit(struct srv *s, uint64_t *group);

/* Groups up to and including group are durable: ACK them. */
void srv_durable(struct srv *s, uint64_t group);

/* REQUESTs waiting for a commit or a sync (the daemon stops reading
 * when there are too many). */
unsigned int srv_pending(const struct srv *s);

/*
 * Once a second: expire leases (mapping, file and range go; the store
 * row is deleted in the next commit), offers and quarantined addresses,
 * and check a slice of the bound leases' files and mappings, repairing
 * what someone else removed.  Writes to the store: call srv_commit().
 * now is monotonic (a value below the last one is taken as the last);
 * wall is only used for the ends written to the store from now on, so a
 * step of the wall clock neither expires nor revives a lease.
 */
void srv_tick(struct srv *s, int64_t now, int64_t wall);

/*
 * Several gateways (lease-store.h, parts.c): read again which parts of
 * the pools this gateway owns; if that changed (a takeover, ours or of
 * ours), rebuild memory from the store: allocation only in the parts
 * owned, their leases loaded and the maps reconciled with them.
 * srv_tick() does it once a second; the daemon also on SIGHUP, so that
 * a takeover is served at once.  Returns 1 if it changed, 0, or -errno.
 */
int srv_parts_check(struct srv *s);

/* Counters in the Prometheus text format; the length, or -ENOSPC. */
int srv_format_stats(const struct srv *s, char *buf, size_t cap);
void srv_log_counters(const struct srv *s, const char *why);

#endif /* NAPPT_PROV_SERVER_H */
