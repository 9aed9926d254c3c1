/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Privilege separation (STYLE 13, after OpenBSD's dhcpd/dhcpleased): the
 * process that parses what phones send runs as its own unprivileged user,
 * chrooted into the phone directory, with no capability, no map and no
 * path to the pins (privsep_enter_jail).  A small child forked before
 * that, the map writer, alone holds the data plane's maps and
 * CAP_NET_ADMIN (for the ARP entries that unicast replies need, RFC 2131
 * 4.1), and does exactly six things when the server asks over a socket
 * pair: add, remove or check one phone's mapping, reconcile the maps with
 * a list of leases, set one ARP entry on the LAN interface, and write the
 * counters file.  It checks each request against the pools the data
 * plane was attached with, the reserved ports and the addresses no phone
 * may hold (network, broadcast, gateway), so a compromised parser can at
 * worst map or unmap a phone inside the configuration: it cannot touch
 * the configuration map, detach programs, change routes, take the
 * gateway's own ports or point an ARP entry at a non-phone address.
 *
 * Calls are synchronous (one round trip); the server makes them for new
 * leases, releases and unicast replies, not for renewals.  Functions
 * return 0 or a negative errno; -EPIPE once the writer is gone.
 */
#ifndef NAPPT_PROV_PRIVSEP_H
#define NAPPT_PROV_PRIVSEP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "libnappt.h"
#include "lease-store.h"
#include "map-sync.h"

struct pm;

/*
 * Fork the writer.  maps may be NULL (--no-maps: ARP only).  In the
 * parent, the caller closes its own copy of the maps afterwards.  The
 * writer keeps CAP_NET_ADMIN, and CAP_BPF only where the kernel wants it
 * for writes through an open map; it ends when the parent does.
 */
/* Keep only the capabilities in keep (a mask of 1 << CAP_*), for good:
 * bounding and ambient sets included, no new privileges through exec.
 * Per thread: call it before starting threads. */
int privsep_keep_caps(uint64_t keep);

int pm_start(struct nappt_maps *maps, const char *ifname, uint32_t lan_net,
	     uint32_t lan_size, struct pm **out);

/* What the writer allows, from the configuration (not from the parser). */
#define PM_MAX_RESERVED 256
struct pm_limits {
	uint32_t lan_net, lan_size; /* host order: the phones' pool */
	uint32_t gateway; /* host order; 0: none */
	const uint16_t (*reserved)[2]; /* inclusive port ranges */
	int nreserved;
	const char *stats_file; /* the counters file; NULL or "": none */
};
int pm_start_limits(struct nappt_maps *maps, const char *ifname,
		    const struct pm_limits *lim, struct pm **out);
/* Replace the counters file with text (at most 8 KiB). */
int pm_write_stats(struct pm *pm, const char *text, size_t len);

/*
 * The parser's user: "NAME" (getpwnam), or "UID[:GID]".  The default name
 * PRIVSEP_USER may be missing: then PRIVSEP_FALLBACK_ID serves as uid and
 * gid (like systemd's DynamicUser, a number no account owns; outside
 * both the login range and systemd's dynamic range 61184-65519).  Any
 * other missing name, or root, is an error.
 */
#define PRIVSEP_USER "nappt"
#define PRIVSEP_FALLBACK_ID 60999
int privsep_user(const char *spec, uid_t *uid, gid_t *gid);

/*
 * Become the parser, for good: bounding and ambient capability sets
 * emptied, chroot(root), supplementary groups dropped, uid and gid set
 * (real, effective, saved), no new privileges, no capability; then every
 * step is verified (and that setuid(0) fails).  Any failure is returned
 * and the caller must exit: there is no half-dropped parser.  Call it
 * before any thread starts, after everything outside root is open.
 */
int privsep_enter_jail(const char *root, uid_t uid, gid_t gid);
void pm_stop(struct pm *pm);
pid_t pm_pid(const struct pm *pm);

int pm_map_add(struct pm *pm, const struct lease *l);
int pm_map_del(struct pm *pm, const struct lease *l);
/* 1 if the phone's mapping is as the lease says, 0 if not. */
int pm_map_check(struct pm *pm, const struct lease *l);
/* Make the maps equal to the leases each() lists. */
int pm_reconcile(struct pm *pm, lease_source each, void *src,
		 struct sync_stats *st);
/* Tell the kernel that ip (network order, in the LAN pool) is at mac. */
int pm_arp(struct pm *pm, uint32_t ip, const uint8_t mac[6]);

#endif /* NAPPT_PROV_PRIVSEP_H */
