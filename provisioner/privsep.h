/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Privilege separation (STYLE 13, after OpenBSD's dhcpd/dhcpleased): the
 * process that parses what phones send holds no capability and no map.
 * A small child, the map writer, alone holds the data plane's maps and
 * CAP_NET_ADMIN (for the ARP entries that unicast replies need, RFC 2131
 * 4.1), and does exactly five things when the server asks over a socket
 * pair: add, remove or check one phone's mapping, reconcile the maps with
 * a list of leases, and set one ARP entry on the LAN interface.  It
 * checks each request against the pools the data plane was attached
 * with, so a compromised parser can at worst map a phone inside them: it
 * cannot touch the configuration map, detach programs, change routes or
 * point an ARP entry outside the LAN pool.
 *
 * Calls are synchronous (one round trip); the server makes them for new
 * leases, releases and unicast replies, not for renewals.  Functions
 * return 0 or a negative errno; -EPIPE once the writer is gone.
 */
#ifndef NAPPT_PROV_PRIVSEP_H
#define NAPPT_PROV_PRIVSEP_H

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
