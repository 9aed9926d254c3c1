/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The provisioner's configuration: one INI-style file, parsed by one
 * module.  Every error is reported as "file:line: reason" and parsing goes
 * on, so a check run (-n) lists all of them at once.  See
 * provisioner/provisioner.conf.example for the keys.
 */
#ifndef NAPPT_CONF_H
#define NAPPT_CONF_H

#include <stdint.h>
#include <stdio.h>

#include "policy.h"

#define CONF_MAX_RESERVED 256
#define CONF_MAX_DNS 4
#define CONF_MAX_PARTS 256 /* parts of the pool (several gateways) */

struct prov_conf {
	char interface[16];
	uint32_t lan_net, lan_size; /* host order */
	uint32_t gateway; /* router option, host order */
	uint32_t server_id; /* option 54, host order; default: gateway */
	uint32_t dns[CONF_MAX_DNS];
	int ndns;
	uint32_t pub_net, pub_count; /* host order */
	unsigned int slot_size;
	uint16_t reserved[CONF_MAX_RESERVED][2]; /* inclusive ranges */
	int nreserved;
	uint32_t lease_time; /* default per model */
	uint32_t tftp_server; /* option 150 / 66; default: gateway */
	char sip_server[128]; /* for the config files; a model may override */
	/* phone_dir (alias tftp_root): where per-phone config files and
	 * tftpd's gate entries are written */
	char tftp_root[256];
	char lease_db[256]; /* a file (SQLite) or a postgresql:// URI */
	/* Several gateways on one PostgreSQL store (lease-store.h): this
	 * one's name, how many parts the pools are cut into (the same on
	 * every gateway), and which parts it claims at start (the free ones
	 * among them; claim[i] = 1). */
	char gateway_id[64];
	uint32_t pool_parts;
	uint32_t parts_poll; /* seconds between reads of the parts owned; 0:
			      * only at start and on SIGHUP */
	uint8_t claim[CONF_MAX_PARTS];
	char pin_dir[256];
	char stats_file[256]; /* counters, Prometheus text format; "" = none */
	/* per-phone config templates; "": next to the config file or the
	 * binary (main.c) */
	char templates[256];
	char user[64]; /* the parser's user: NAME or UID[:GID] (privsep.h) */
	uint32_t attribution_days; /* attribution history kept, in days */
	/* seconds between two reconciliations of the maps while serving */
	uint32_t reconcile_every;
	uint32_t offer_hold; /* seconds an offered range stays reserved */
	uint32_t max_offers; /* outstanding offers; the oldest goes first */
	uint32_t decline_hold; /* seconds a DECLINEd address is not offered */
	/* Pool grab (server.c): percent of the pool kept for MACs listed
	 * exactly; new leases per second (0: no limit) and burst for MACs
	 * admitted by an OUI, a wildcard or an empty allow-list. */
	uint32_t exact_reserve;
	uint32_t new_lease_rate;
	uint32_t new_lease_burst;
	struct policy policy;
};

/*
 * Parse path into c (defaults first).  Errors go to err as
 * "path:line: reason" lines.  Returns the number of errors (0: good), or
 * a negative errno if the file cannot be read.
 */
int conf_load(const char *path, struct prov_conf *c, FILE *err);

/* The same on a string (tests, fuzzing); name is used in messages. */
int conf_parse(const char *name, const char *text, struct prov_conf *c,
	       FILE *err);

#endif /* NAPPT_CONF_H */
