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
};

struct srv;

/*
 * Set up from the configuration: allocator, reserved ports, templates
 * (read once, from tmpl_dir), the leases of the store (expired ones
 * deleted, live ones loaded, missing config files rewritten).  The maps
 * are taken to be reconciled already (the daemon does it first).
 */
int srv_new(const struct prov_conf *c, const char *tmpl_dir,
	    struct lease_store *store, const struct srv_io *io, int64_t now,
	    int64_t wall, struct srv **out);
void srv_free(struct srv *s);

/* One datagram from a client or relay (malformed ones are counted). */
void srv_handle(struct srv *s, const uint8_t *buf, size_t len, int64_t now);

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
 */
void srv_tick(struct srv *s, int64_t now, int64_t wall);

/* Counters in the Prometheus text format; the length, or -ENOSPC. */
int srv_format_stats(const struct srv *s, char *buf, size_t cap);
void srv_log_counters(const struct srv *s, const char *why);

#endif /* NAPPT_PROV_SERVER_H */
