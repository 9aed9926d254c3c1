/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The server core's state, for server.c and the unit tests that look
 * inside it.  Nothing else includes this.
 */
#ifndef NAPPT_PROV_SERVER_INTERNAL_H
#define NAPPT_PROV_SERVER_INTERNAL_H

#include <time.h>

#include "conf.h"
#include "dhcp-msg.h"
#include "lease-store.h"
#include "lease-table.h"
#include "policy.h"
#include "server.h"

#define SRV_QUARANTINE_MAX 256 /* DECLINEd addresses held at once */
#define SRV_EVICT_MAX 64 /* offers reclaimed for one new lease, at most */
#define SRV_LOG_EVERY 10 /* seconds between two logs of one reject reason */
#define SRV_PENDING_MAX 4096 /* REQUESTs held for a commit or a sync */
#define SRV_NO_MODEL 0xffff

/* What a LAN host can make the server log: each at most once per
 * SRV_LOG_EVERY, so no packet stream becomes a log stream. */
enum srv_logk {
	LOGK_REJECT, /* + enum verdict_reason, 5 of them */
	LOGK_EXHAUSTED = 5,
	LOGK_FLOOD,
	LOGK_BUILD,
	LOGK_STORE,
	LOGK_RENDER,
	LOGK_MAP,
	LOGK_NOMEM,
	LOGK_MAX,
};

struct srv_ratelog {
	int64_t next; /* not before (monotonic seconds) */
	unsigned long suppressed; /* since the last line */
	int armed;
};

struct srv_counters {
	unsigned long discover, offer, request, ack, nak, release, decline,
		inform, rejected_mac, rejected_vendor, exhausted, malformed,
		ignored, offers_evicted, offers_expired, expired, store_failed,
		map_failed, render_failed, overloaded, repaired_files,
		repaired_maps, reloads, flood_refused, unquarantined, underived;
};

struct srv_quarantined {
	uint32_t priv; /* host order */
	int64_t until;
	int wild; /* declined by a MAC not listed exactly: in the share */
};

/* A REQUEST whose lease was written, its ACK built and held. */
struct srv_pending {
	struct lease lease;
	uint64_t group; /* 0: not committed yet */
	uint8_t was; /* the entry's state before this REQUEST */
	uint16_t model;
	struct srv_dest dest;
	uint16_t len;
	uint8_t *reply;
};

struct srv {
	const struct prov_conf *conf;
	struct srv_io io;
	struct srv_effects fx; /* store and files: every other effect */
	struct srv_effects *fx_own; /* the default one, made by srv_new */
	struct alloc alloc;
	struct lease_table lt;
	struct srv_counters n;
	struct srv_ratelog rl[LOGK_MAX];
	/* Pool grab (README): slots and private addresses bound by MACs not
	 * listed exactly, their caps, the new-lease token bucket. */
	uint64_t wild_slots, wild_lan, cap_slots, cap_lan;
	uint64_t tokens;
	int64_t tokens_at;
	/* The core's clock is monotonic (now); the store keeps wall-clock
	 * ends: wall = now + wall_off, wall_off taken at each tick. */
	int64_t wall_off;
	struct srv_quarantined q[SRV_QUARANTINE_MAX];
	int nq;
	/* The parts of the pools this gateway owns (parts.c); nparts 0:
	 * all of it, one gateway. */
	uint8_t owned[CONF_MAX_PARTS];
	unsigned int nparts;
	int64_t parts_at; /* when they were last read */
	int in_tx; /* a transaction is open in the store */
	int broken; /* memory could not be rebuilt from the store */
	/* Held ACKs, oldest first: a ring of SRV_PENDING_MAX. */
	struct srv_pending *pend;
	unsigned int phead, pcount;
	uint64_t group; /* the last group committed */
	uint32_t sweep; /* next table index the sweep checks */
	int64_t now; /* the time of the last call */
	struct dhcp_msg msg; /* the message being handled */
};

/* parts.c: the allocator takes nothing outside the parts owned. */
void srv_parts_fence(struct srv *s);
int srv_parts_read(struct srv *s, int *changed);

#endif /* NAPPT_PROV_SERVER_INTERNAL_H */
