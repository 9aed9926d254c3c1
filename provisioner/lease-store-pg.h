/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The PostgreSQL backend of lease-store.h, for lease-store.c only: the
 * same semantics (see there), plus the ownership of parts of the pool by
 * gateways, fenced by epochs.
 */
#ifndef NAPPT_LEASE_STORE_PG_H
#define NAPPT_LEASE_STORE_PG_H

#include "lease-store.h"

struct pg_store;

/* postgresql:// or postgres:// (libpq's URI forms). */
int pgs_is_uri(const char *path);
int pgs_open(const char *uri, struct pg_store **out);
void pgs_close(struct pg_store *p);
int pgs_begin(struct pg_store *p);
int pgs_commit(struct pg_store *p);
int pgs_rollback(struct pg_store *p);
int pgs_put(struct pg_store *p, const struct lease *l, int64_t now);
int pgs_renew(struct pg_store *p, const struct lease *l);
int pgs_del_at(struct pg_store *p, const uint8_t mac[6], int64_t now);
int pgs_get(struct pg_store *p, const uint8_t mac[6], struct lease *out);
int pgs_foreach(struct pg_store *p, int live_only, int64_t now, lease_cb cb,
		void *arg);
int pgs_expire(struct pg_store *p, int64_t now, lease_cb cb, void *arg);
int pgs_who(struct pg_store *p, uint32_t pub_ip, uint16_t port, int64_t at,
	    attribution_cb cb, void *arg);
int pgs_prune_history(struct pg_store *p, int64_t before);
int pgs_gateway(struct pg_store *p, const struct lease_gateway *g);
int pgs_parts(struct pg_store *p, uint8_t *owned, unsigned int max,
	      int *changed);
int pgs_takeover(struct pg_store *p, const char *from, int part);

#endif /* NAPPT_LEASE_STORE_PG_H */
