/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The gateway's one configuration (/etc/nappt/nappt.conf): one INI-style
 * file, parsed by this one module, which is linked into the loader
 * (`nappt -c`), the provisioner and nappt-tftpd (`--config`), so the pools
 * and paths cannot be read differently by two of them.  [global] and the
 * [mac] / [model NAME] sections are the provisioner's, [dataplane] the
 * loader's, [tftpd] the TFTP server's; each program checks the whole file.
 * Every error is reported as "file:line: reason" and parsing goes on, so a
 * check run (-n) lists all of them at once.  See etc/nappt.conf.example
 * for the keys.
 */
#ifndef NAPPT_CONF_H
#define NAPPT_CONF_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "policy.h"

#define CONF_MAX_RESERVED 256
#define CONF_MAX_DNS 4
/* A [tftpd] limit the file does not set: the server keeps its default. */
#define CONF_UNSET UINT32_MAX
/* Bounds of nappt-tftpd's options (tftpd.c asserts they are its own). */
#define CONF_TFTP_BLKSIZE_MIN 8
#define CONF_TFTP_BLKSIZE_MAX 65464
#define CONF_TFTP_WINDOW_MAX 64

/* [dataplane]: what `nappt -c FILE attach` attaches with.  The LAN side
 * is [global] interface, the pools and slot size are [global]'s, the
 * gateway's LAN address is [global] gateway. */
struct conf_dataplane {
	int line; /* of its section header; 0: no such section */
	char wan_interface[16];
	char mode[16]; /* auto, native, generic, tc, tc-legacy */
	int drop_unknown, route_by_source, lan_foreign; /* yes / no */
};

/* [tftpd]: nappt-tftpd --config FILE.  Per-phone files come from
 * [global] phone_dir (the provisioner writes them there). */
struct conf_tftpd {
	int line;
	char root[256]; /* shared software images */
	char listen[64]; /* ADDR[:PORT]; "": the server's default */
	char interface[16]; /* "": [global] interface */
	char stats_file[256]; /* counters, Prometheus text; "" = none */
	int gate; /* per-phone files only to their phone (default yes) */
	char gate_dir[256]; /* "": phone_dir/.leases */
	uint32_t max_transfers, max_per_client, max_stall_s, max_life_s;
	uint32_t new_rate, new_burst, error_rate, unproven_retries;
	uint32_t max_blksize, max_windowsize, timeout_ms, retries;
};

/* Which program's required keys conf_require() checks. */
enum conf_user { CONF_PROVISIONER, CONF_LOADER, CONF_TFTPD };
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
	struct conf_dataplane dataplane;
	struct conf_tftpd tftpd;
	/* Where things were said, for "file:line:" in later checks. */
	char path[256];
	int nlines;
	int line_global, line_lan_pool, line_public_pool, line_pool_parts;
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

/*
 * The keys program `who` needs that the file may leave out (e.g. the
 * loader needs [dataplane] wan_interface; a provisioner-only file has
 * none), as "path:line: reason" lines.  The number of errors.
 */
int conf_require(const struct prov_conf *c, enum conf_user who, FILE *err);

/*
 * A phone's private address is derived from its public address and first
 * slot (issue 13), so a lan_pool smaller than public_pool's slots
 * (pub_count * 65536 / slot_size) serves only the first public
 * addresses: *full of them wholly, *some at least in part.
 */
void conf_pub_usable(const struct prov_conf *c, uint32_t *full, uint32_t *some);

/*
 * What is not an error but an operator should know (a lan_pool that
 * leaves public addresses unused), as "path:line: warning: ..." lines.
 * The number of warnings.
 */
int conf_warn(const struct prov_conf *c, FILE *err);

/*
 * "ADDR[:PORT]", "[IPV6]:PORT", ":PORT" (0.0.0.0): nappt-tftpd's listen
 * address (--listen, [tftpd] listen), port 69 if none.  0 or -EINVAL.
 */
int conf_parse_listen(const char *s, struct sockaddr_storage *ss,
		      socklen_t *len);

#endif /* NAPPT_CONF_H */
