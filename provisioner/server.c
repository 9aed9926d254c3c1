// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The DHCP server's protocol core: see server.h for the life of a
 * REQUEST.  Where each MAC stands (bound, offered, nothing) is in memory
 * (lease-table.h): the store is written, never asked, on the packet path.
 * The decision is made here from bytes, the time and that memory; every
 * effect goes out through s->io (replies, maps) and s->fx (store, files:
 * server-effects.c), never a file, store or clock call of its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "log.h"
#include "render.h"
#include "server-internal.h"

/* --- small helpers ------------------------------------------------------- */

static const char *ip4(uint32_t be, char *buf)
{
	return inet_ntop(AF_INET, &be, buf, INET_ADDRSTRLEN);
}

/* Option 60 as printable text, for logs and the store. */
static void vendor_of(const struct dhcp_msg *m, char *out, size_t n)
{
	size_t len, i, o = 0;
	const uint8_t *v = dhcp_opt_get(m, OPT_VENDOR_CLASS, &len);

	for (i = 0; v && i < len && o + 1 < n; i++)
		if (v[i] >= 0x20 && v[i] < 0x7f && v[i] != '"')
			out[o++] = (char)v[i];
	out[o] = '\0';
}

/* Option 61 in hex, for the store and the attribution line. */
static void client_id_of(const struct dhcp_msg *m, char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t len, i, o = 0;
	const uint8_t *v = dhcp_opt_get(m, OPT_CLIENT_ID, &len);

	for (i = 0; v && i < len && o + 2 < n; i++) {
		out[o++] = hex[v[i] >> 4];
		out[o++] = hex[v[i] & 15];
	}
	out[o] = '\0';
}

static const struct model *model_at(const struct srv *s, unsigned int i)
{
	return i < (unsigned int)s->conf->policy.nmodels ?
		       &s->conf->policy.models[i] :
		       NULL;
}

static const struct model *model_of(const struct srv *s,
				    const struct lt_entry *e)
{
	return model_at(s, e->model);
}

static void entry_lease(const struct srv *s, const struct lt_entry *e,
			struct lease *l)
{
	const struct model *md = model_of(s, e);

	memset(l, 0, sizeof(*l));
	memcpy(l->mac, e->mac, 6);
	l->priv_ip = e->priv_ip;
	l->pub_ip = e->pub_ip;
	l->port_first = e->port_first;
	l->port_last = e->port_last;
	l->expires = e->until + s->wall_off; /* the store's clock */
	if (md)
		snprintf(l->model, sizeof(l->model), "%s", md->name);
}

/* Attribution: one line per lease event (who held which public address
 * and ports when), built without printf: a boot storm writes many. */
static void attribution(const char *event, const struct lease *l)
{
	struct logline ll;

	ll_start(&ll, LOG_INFO_);
	ll_str(&ll, "lease ");
	ll_str(&ll, event);
	ll_str(&ll, " mac=");
	ll_mac(&ll, l->mac);
	ll_str(&ll, " vendor=\"");
	ll_str(&ll, l->vendor);
	ll_str(&ll, "\" model=");
	ll_str(&ll, l->model[0] ? l->model : "-");
	ll_str(&ll, " private=");
	ll_ip4(&ll, l->priv_ip);
	ll_str(&ll, " public=");
	ll_ip4(&ll, l->pub_ip);
	ll_str(&ll, " ports=");
	ll_u64(&ll, l->port_first);
	ll_str(&ll, "-");
	ll_u64(&ll, l->port_last);
	ll_str(&ll, " expires=");
	ll_i64(&ll, l->expires);
	if (l->client_id[0]) {
		ll_str(&ll, " client_id=");
		ll_str(&ll, l->client_id);
	}
	ll_end(&ll);
}

/* Open the store's transaction on the first write of a wake-up: a
 * wake-up of DISCOVERs only costs the store nothing. */
static int store_tx(struct srv *s)
{
	int r;

	if (s->in_tx)
		return 0;
	r = s->fx.begin(s->fx.arg);
	if (r) {
		s->n.store_failed++;
		return r;
	}
	s->in_tx = 1;
	return 0;
}

/*
 * Anything a LAN host can trigger is logged at most once per
 * SRV_LOG_EVERY per kind (threat: a packet stream turned into a log
 * stream stalls the serving thread and buries the attribution lines);
 * the lines skipped meanwhile are counted in the next one.
 */
static int log_due(struct srv *s, enum srv_logk k, unsigned long *skipped)
{
	struct srv_ratelog *rl = &s->rl[k];

	if (rl->armed && s->now < rl->next) {
		rl->suppressed++;
		return 0;
	}
	rl->armed = 1;
	rl->next = s->now + SRV_LOG_EVERY;
	*skipped = rl->suppressed;
	rl->suppressed = 0;
	return 1;
}

#define logr(s, k, prio, fmt, ...)                                  \
	do {                                                        \
		unsigned long skipped_;                             \
		if (log_due(s, k, &skipped_))                       \
			logp(prio, fmt " (%lu like it not logged)", \
			     ##__VA_ARGS__, skipped_);              \
	} while (0)

/* --- replies --------------------------------------------------------------- */

static void reply_dest(const struct dhcp_msg *req, uint8_t type,
		       uint32_t yiaddr, struct srv_dest *d)
{
	memset(d, 0, sizeof(*d));
	d->port = 68;
	switch (dhcp_reply_dest(req, type)) {
	case DEST_RELAY:
		d->addr = req->giaddr;
		d->port = 67;
		break;
	case DEST_CIADDR:
		d->addr = req->ciaddr;
		break;
	case DEST_BROADCAST:
		d->addr = htonl(INADDR_BROADCAST);
		break;
	case DEST_UNICAST_HW:
		/* RFC 2131 4.1: the client has no address yet and cannot
		 * answer ARP. */
		if (yiaddr) {
			d->addr = yiaddr;
			d->arp = 1;
			memcpy(d->mac, req->chaddr, 6);
		} else {
			d->addr = htonl(INADDR_BROADCAST);
		}
		break;
	}
}

/* A model option the retry keeps: one that replaces a built-in one the
 * phone cannot boot without (a per-model TFTP server or boot file). */
static int essential_opt(uint8_t code)
{
	return code == OPT_TFTP_SERVER_ADDR || code == OPT_TFTP_SERVER_NAME ||
	       code == OPT_BOOTFILE || code == OPT_ROUTER ||
	       code == OPT_SUBNET_MASK || code == OPT_DNS;
}

/*
 * Build the reply of the given type to req into buf (DHCP_MAX_REPLY
 * bytes).  l is the lease for OFFER and ACK, NULL for NAK and the ACK
 * of an INFORM.  extras: 1 all of the model's options, 0 only the
 * essential ones.  Returns the length or a negative errno.
 */
static int build_try(const struct srv *s, const struct dhcp_msg *req,
		     uint8_t type, const struct lease *l,
		     const struct model *md, uint8_t *buf, int extras,
		     const char *why)
{
	const struct prov_conf *c = s->conf;
	uint32_t mask = htonl(~(c->lan_size - 1)), router = htonl(c->gateway),
		 sid = htonl(c->server_id), tftp = htonl(c->tftp_server),
		 dns[CONF_MAX_DNS];
	uint32_t lease_time = l && md ? md->lease_time : 0;
	uint32_t lt = htonl(lease_time), t1 = htonl(lease_time / 2),
		 t2 = htonl(lease_time / 8 * 7);
	char tftp_name[INET_ADDRSTRLEN], file[64] = "";
	struct dhcp_optval av[12 + MODEL_MAX_OPTS];
	size_t n = 0, len61 = 0, len82 = 0, echo;
	const uint8_t *o61, *o82;
	struct dhcp_builder b;
	uint8_t o159[4];
	int i, r = 0, dropped = 0;

	dhcp_reply_init(&b, buf, dhcp_reply_cap(req), req, type,
			l ? l->priv_ip : 0, type == DHCPNAK ? 0 : tftp);
	/* RFC 6842: the client identifier comes back, so a client can tell
	 * its replies; RFC 3046 2.2: relay agent information as it came,
	 * last.  Their room is kept before anything else goes in, so they
	 * are never what gives way (each is at most 255 bytes here, well
	 * within the 548 bytes every client takes). */
	o61 = dhcp_opt_get(req, OPT_CLIENT_ID, &len61);
	o82 = dhcp_opt_get(req, OPT_RELAY_AGENT, &len82);
	echo = (o61 ? len61 + 2 * ((len61 + 254) / 255) : 0) +
	       (o82 ? len82 + 2 * ((len82 + 254) / 255) : 0);
	if (echo + b.len + 1 > b.cap)
		return -EMSGSIZE;
	b.cap -= echo;
	if (type == DHCPNAK) {
		/* RFC 2131 4.3.2: through a relay, the NAK is broadcast
		 * by the relay, so the broadcast bit is set; table 3: 56
		 * says why. */
		if (req->giaddr)
			buf[10] |= 0x80;
		dhcp_put_opt(&b, OPT_SERVER_ID, &sid, 4);
		if (why)
			dhcp_put_opt(&b, OPT_MESSAGE, why, strlen(why));
		goto tail;
	}
	if (l && md && !render_file_name(md->tmpl, l->mac, file, sizeof(file)))
		/* The BOOTP file field too: phones that ignore option 67
		 * read it (RFC 2131 2, "boot file name"). */
		memcpy(buf + 108, file, strlen(file));
	/* The model's own options first: one of them may replace a
	 * built-in one (a per-model TFTP server, say). */
	for (i = 0; md && i < md->nopts; i++) {
		if (!extras && !essential_opt(md->opts[i].code))
			continue;
		av[n++] = (struct dhcp_optval){ md->opts[i].code,
						md->opts[i].always,
						md->opts[i].len,
						md->opts[i].data };
		dropped += !essential_opt(md->opts[i].code);
	}
	for (i = 0; i < c->ndns; i++)
		dns[i] = htonl(c->dns[i]);
	ip4(tftp, tftp_name);
	av[n++] = (struct dhcp_optval){ OPT_SERVER_ID, 1, 4, &sid };
	if (l) {
		av[n++] = (struct dhcp_optval){ OPT_LEASE_TIME, 1, 4, &lt };
		av[n++] = (struct dhcp_optval){ OPT_RENEWAL_TIME, 1, 4, &t1 };
		av[n++] = (struct dhcp_optval){ OPT_REBINDING_TIME, 1, 4, &t2 };
	}
	av[n++] = (struct dhcp_optval){ OPT_SUBNET_MASK, 1, 4, &mask };
	av[n++] = (struct dhcp_optval){ OPT_ROUTER, 1, 4, &router };
	if (c->ndns)
		av[n++] = (struct dhcp_optval){ OPT_DNS, 1,
						(uint16_t)(4 * c->ndns), dns };
	/* Where the operational software is: 150 (Cisco) and 66. */
	av[n++] = (struct dhcp_optval){ OPT_TFTP_SERVER_ADDR, 1, 4, &tftp };
	av[n++] = (struct dhcp_optval){ OPT_TFTP_SERVER_NAME, 1,
					(uint16_t)strlen(tftp_name),
					tftp_name };
	if (file[0])
		av[n++] = (struct dhcp_optval){ OPT_BOOTFILE, 1,
						(uint16_t)strlen(file), file };
	if (l && opt159_encode(l->port_first, l->port_last, o159) == 0)
		av[n++] = (struct dhcp_optval){ OPT_PORTPARAMS, 1, 4, o159 };
	r = dhcp_put_requested(&b, req, av, n);
tail:
	b.cap += echo;
	if (o61)
		dhcp_put_opt(&b, OPT_CLIENT_ID, o61, len61);
	if (o82)
		dhcp_put_opt(&b, OPT_RELAY_AGENT, o82, len82);
	i = dhcp_reply_finish(&b);
	/* Something did not fit: worth a retry only if leaving out the
	 * model's non-essential options makes room. */
	return i < 0 ? i : r < 0 && extras && dropped ? r : i;
}

/*
 * The model's own options go first in the list (one may replace a
 * built-in one), so a large one could crowd out 54 or 51 within the
 * client's size: then the reply is built again with only the essential
 * ones (a per-model TFTP server stays).
 */
static int build_reply(const struct srv *s, const struct dhcp_msg *req,
		       uint8_t type, const struct lease *l,
		       const struct model *md, uint8_t *buf, const char *why)
{
	int len = build_try(s, req, type, l, md, buf, 1, why);

	return len == -EMSGSIZE ? build_try(s, req, type, l, md, buf, 0, why) :
				  len;
}

/* Build and send a reply now (OFFER, NAK, INFORM's ACK). */
static int reply_now(struct srv *s, const struct dhcp_msg *req, uint8_t type,
		     const struct lease *l, const struct model *md,
		     const char *why)
{
	uint8_t buf[DHCP_MAX_REPLY];
	struct srv_dest d;
	int len = build_reply(s, req, type, l, md, buf, why);

	if (len < 0) {
		logr(s, LOGK_BUILD, LOG_WARN_, "Failed to build reply: %s",
		     strerror(-len));
		return -EIO;
	}
	reply_dest(req, type, l ? l->priv_ip : 0, &d);
	s->io.send(s->io.arg, &d, buf, (size_t)len);
	if (type == DHCPOFFER)
		s->n.offer++;
	else if (type == DHCPNAK)
		s->n.nak++;
	return 0;
}

/* --- validation ------------------------------------------------------------ */

static int validate(struct srv *s, const struct dhcp_msg *m, int64_t now)
{
	enum verdict_reason why;
	size_t len;
	const uint8_t *vc = dhcp_opt_get(m, OPT_VENDOR_CLASS, &len);
	int r = policy_validate(&s->conf->policy, m->chaddr, vc, len, &why);
	unsigned long skipped;

	if (r >= 0)
		return r;
	if (why == REJECT_MAC_DENIED || why == REJECT_MAC_UNKNOWN)
		s->n.rejected_mac++;
	else
		s->n.rejected_vendor++;
	/* Once per interval per reason: a flood must not flood the log. */
	if (log_due(s, LOGK_REJECT + why, &skipped)) {
		char mac[18], vendor[128];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 m->chaddr[0], m->chaddr[1], m->chaddr[2], m->chaddr[3],
			 m->chaddr[4], m->chaddr[5]);
		vendor_of(m, vendor, sizeof(vendor));
		logp(LOG_NOTICE_,
		     "reject mac=%s vendor=\"%s\": %s (rejected so far: %lu "
		     "by MAC, %lu by vendor class)",
		     mac, vendor, reject_reason_str(why), s->n.rejected_mac,
		     s->n.rejected_vendor);
	}
	return -EACCES;
}

/* --- files ----------------------------------------------------------------- */

/* The lease is gone: its config file and gate entry. */
static void remove_config(struct srv *s, const struct lt_entry *e)
{
	if (model_of(s, e))
		s->fx.file_remove(s->fx.arg, e->mac, e->model);
}

static int config_present(const struct srv *s, const struct lt_entry *e)
{
	return model_of(s, e) &&
	       s->fx.file_present(s->fx.arg, e->mac, e->model) == 1;
}

static int write_config(struct srv *s, const struct lease *l,
			const struct model *m)
{
	int r = s->fx.file_write(s->fx.arg, l,
				 (unsigned int)(m - s->conf->policy.models));

	if (r < 0) {
		char a[INET_ADDRSTRLEN];

		s->n.render_failed++;
		logr(s, LOGK_RENDER, LOG_WARN_,
		     "Failed to write the config of %s: %s", ip4(l->priv_ip, a),
		     strerror(-r));
	}
	return r < 0 ? r : 0;
}

/* --- leases and offers ----------------------------------------------------- */

static void release_range(struct srv *s, const struct lt_entry *e)
{
	alloc_release(&s->alloc, ntohl(e->priv_ip), ntohl(e->pub_ip),
		      e->port_first, e->port_last);
}

static unsigned int entry_slots(const struct srv *s, const struct lt_entry *e)
{
	return (unsigned int)((e->port_last - e->port_first + 1U) >>
			      s->alloc.slot_shift);
}

/* A bound lease counts in the wildcard share unless its MAC is listed
 * exactly (README, pool grab). */
static void share_add(struct srv *s, const struct lt_entry *e, int sign)
{
	if (e->flags & LT_EXACT)
		return;
	if (sign > 0) {
		s->wild_slots += entry_slots(s, e);
		s->wild_lan++;
	} else {
		s->wild_slots -= entry_slots(s, e);
		s->wild_lan--;
	}
}

/*
 * A bound lease ends (RELEASE, DECLINE, expiry, a new range): its store
 * row goes (in the open transaction), then its mapping, config file and
 * addresses, and the entry.  The attribution line takes the vendor class
 * and client id from the row, which memory does not keep.  On a store
 * error nothing changes (the next tick or request tries again).
 */
static int end_lease(struct srv *s, struct lt_entry *e, const char *event)
{
	struct lease l, stored;
	int r = store_tx(s);

	entry_lease(s, e, &l);
	if (!r && !s->fx.get(s->fx.arg, e->mac, &stored)) {
		memcpy(l.vendor, stored.vendor, sizeof(l.vendor));
		memcpy(l.client_id, stored.client_id, sizeof(l.client_id));
	}
	if (!r) {
		r = s->fx.del(s->fx.arg, e->mac);
		if (r == -ENOENT)
			r = 0;
	}
	if (r) {
		s->n.store_failed++;
		return r;
	}
	if (s->io.map_del)
		s->io.map_del(s->io.arg, &l);
	remove_config(s, e);
	release_range(s, e);
	share_add(s, e, -1);
	attribution(event, &l);
	lt_del(&s->lt, e);
	return 0;
}

static void drop_offer(struct srv *s, struct lt_entry *e)
{
	release_range(s, e);
	lt_del(&s->lt, e);
}

static int in_lan_range(const struct model *md, uint32_t priv_be)
{
	uint32_t a = ntohl(priv_be);

	return !md->lan_lo || (a >= md->lan_lo && a <= md->lan_hi);
}

/* The i-th quarantined address is free again (its hold ended, or a
 * phone listed exactly needs it). */
static void unquarantine(struct srv *s, int i)
{
	s->alloc.lan_used[s->q[i].priv - s->alloc.lan_net] = 0;
	if (s->q[i].wild)
		s->wild_lan--;
	memmove(s->q + i, s->q + i + 1,
		sizeof(s->q[0]) * (size_t)(s->nq - i - 1));
	s->nq--;
}

/*
 * DECLINE (RFC 2131 4.4.4): the address is held for decline_hold.  One
 * declined by a MAC not listed exactly counts in the wildcard share
 * (README, pool grab): a DECLINE flood from random MACs of an allowed
 * OUI holds at most that share, never the exact reserve.
 */
static void quarantine(struct srv *s, uint32_t priv_be, int64_t now, int wild)
{
	uint32_t li = ntohl(priv_be) - s->alloc.lan_net;

	if (!s->conf->decline_hold || li >= s->alloc.lan_size)
		return;
	if (s->nq == SRV_QUARANTINE_MAX)
		unquarantine(s, 0); /* full: the oldest comes back early */
	s->alloc.lan_used[li] = 1;
	s->q[s->nq].priv = ntohl(priv_be);
	s->q[s->nq].until = now + s->conf->decline_hold;
	s->q[s->nq].wild = wild;
	if (wild)
		s->wild_lan++;
	s->nq++;
}

/* A phone listed exactly found no free window: the oldest quarantined
 * address its model could be given comes back (a quarantine is a
 * courtesy to the decliner, not a right over a phone listed exactly).
 * The private address is derived from the range (issue 13), so that is
 * a held address whose own window (the slots from its key) is free,
 * aligned for the model's size and in its lan_range.  0 if none: giving
 * back an address whose slots are taken would not help. */
static int unquarantine_for(struct srv *s, const struct model *md)
{
	uint32_t pub;
	uint16_t first, last;
	int i;

	for (i = 0; i < s->nq; i++) {
		if (!alloc_window_at(&s->alloc, s->q[i].priv, md->slots,
				     md->lan_lo, md->lan_hi, &pub, &first,
				     &last)) {
			unquarantine(s, i);
			s->n.unquarantined++;
			return 1;
		}
	}
	return 0;
}

/* The private address a range must have: lan_net + the key of its first
 * slot (nappt_derived_index; issue 13).  0 if none (outside the pools, or
 * a key past a LAN pool smaller than the public pool's keys). */
static uint32_t derived_addr(const struct srv *s, uint32_t pub_be,
			     uint16_t first)
{
	const struct alloc *a = &s->alloc;
	uint32_t pidx = ntohl(pub_be) - a->pub_net;
	uint64_t key =
		(uint64_t)pidx * a->slots_per_ip + (first >> a->slot_shift);

	if (pidx >= a->pub_count || key >= a->lan_size)
		return 0;
	return htonl(a->lan_net + (uint32_t)key);
}

/* Does the entry's range have the model's size, its address lie in the
 * model's private range, and is it the address the range derives? */
static int entry_fits(const struct srv *s, const struct lt_entry *e,
		      const struct model *md)
{
	return (uint32_t)(e->port_last - e->port_first + 1) ==
		       md->slots * s->conf->slot_size &&
	       in_lan_range(md, e->priv_ip) &&
	       e->priv_ip == derived_addr(s, e->pub_ip, e->port_first);
}

/*
 * Pool grab (threat 9, README): may a MAC that is not listed exactly
 * take nslots more?  MACs listed exactly are never refused here; the
 * others share at most (100 - exact_reserve)% of the pool while exact
 * entries exist, and get new leases at new_lease_rate per second after
 * a burst.  take: spend a token (a binding), else only look (an offer).
 */
static int take_token(struct srv *s)
{
	const struct prov_conf *c = s->conf;
	uint64_t burst = c->new_lease_burst;

	if (!c->new_lease_rate)
		return 1;
	if (s->now > s->tokens_at)
		s->tokens +=
			(uint64_t)(s->now - s->tokens_at) * c->new_lease_rate;
	s->tokens_at = s->now;
	if (s->tokens > burst)
		s->tokens = burst;
	if (!s->tokens)
		return 0;
	s->tokens--;
	return 1;
}

static void log_refused(struct srv *s, const uint8_t mac[6], const char *what,
			const char *why)
{
	s->n.flood_refused++;
	logr(s, LOGK_FLOOD, LOG_WARN_,
	     "%s refused to wildcard-matched MAC "
	     "%02x:%02x:%02x:%02x:%02x:%02x: %s (%lu refused so far; %llu "
	     "slots and %llu addresses held by wildcard-matched MACs)",
	     what, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], why,
	     s->n.flood_refused, (unsigned long long)s->wild_slots,
	     (unsigned long long)s->wild_lan);
}

static int share_allows(struct srv *s, const uint8_t mac[6],
			unsigned int nslots, int take)
{
	const char *why = NULL;

	if (policy_mac_exact(&s->conf->policy, mac))
		return 1;
	if (s->wild_slots + nslots > s->cap_slots || s->wild_lan >= s->cap_lan)
		why = "their share of the pool is taken";
	if (!why && take && !take_token(s))
		why = "new_lease_rate reached";
	if (!why)
		return 1;
	log_refused(s, mac, "new lease", why);
	return 0;
}

/*
 * Take back the oldest offer, to make room.  An offer to a MAC listed
 * exactly is passed over (to the young end, its hold renewed): a flood of
 * DISCOVERs, however fast, cannot take the offer of a phone listed
 * exactly before its REQUEST arrives.  There are at most as many such
 * offers as exact allow lines, so the walk is bounded.  0 if none left.
 */
static int evict_offer(struct srv *s)
{
	struct lt_entry *o;
	int k;

	for (k = 0; (o = lt_oldest_offer(&s->lt)); k++) {
		if (!(o->flags & LT_EXACT) || k >= POLICY_MAX_PATTERNS) {
			drop_offer(s, o);
			s->n.offers_evicted++;
			return 1;
		}
		lt_offer(&s->lt, o, s->now + s->conf->offer_hold);
	}
	return 0;
}

/* A new range for an offer: oldest offers give theirs back when the pool
 * is full (a DISCOVER flood holds ranges only until real phones need
 * them).  Taken in the allocator; NULL when there is none. */
static int new_offer(struct srv *s, const struct dhcp_msg *m, int model,
		     struct lt_entry **out)
{
	const struct model *md = &s->conf->policy.models[model];
	uint32_t priv, pub;
	uint16_t first, last;
	struct lt_entry *e;
	int r, tries;

	for (tries = 0;; tries++) {
		r = alloc_pick(&s->alloc, m->chaddr, md->slots, md->lan_lo,
			       md->lan_hi, &priv, &pub, &first, &last);
		if (!r)
			r = alloc_take(&s->alloc, priv, pub, first, last);
		if (r != -ENOSPC || tries == SRV_EVICT_MAX)
			break;
		if (!evict_offer(s) &&
		    !(policy_mac_exact(&s->conf->policy, m->chaddr) &&
		      unquarantine_for(s, md)))
			break;
	}
	if (r == -ENOSPC) {
		s->n.exhausted++;
		logr(s, LOGK_EXHAUSTED, LOG_ERR_,
		     "pool exhausted: no private address or %u free slots for "
		     "a %s (exhausted %lu times)",
		     md->slots, md->name, s->n.exhausted);
		return r;
	}
	if (r)
		return r;
	e = lt_add(&s->lt, m->chaddr);
	if (!e) {
		alloc_release(&s->alloc, priv, pub, first, last);
		logr(s, LOGK_NOMEM, LOG_ERR_, "Out of memory for a lease");
		return -ENOMEM;
	}
	e->priv_ip = htonl(priv);
	e->pub_ip = htonl(pub);
	e->port_first = first;
	e->port_last = last;
	e->model = (uint16_t)model;
	*out = e;
	return 0;
}

/*
 * DISCOVER (RFC 2131 4.3.1): an offer commits to nothing.  A bound MAC
 * is offered its lease as it is, whatever model the DISCOVER names
 * (threat 9: a spoofed DISCOVER must not end, move or shrink a lease;
 * a lease changes size or model only on the REQUEST that follows).
 */
static int discover(struct srv *s, struct dhcp_msg *m, int64_t now)
{
	struct lt_entry *e;
	struct lease l;
	int model = validate(s, m, now), r;
	const struct model *md;

	if (model < 0)
		return model;
	md = &s->conf->policy.models[model];
	e = lt_get(&s->lt, m->chaddr);
	if (e && e->state == LT_OFFERED && entry_fits(s, e, md)) {
		e->model = (uint16_t)model;
	} else if (!e || e->state != LT_BOUND) {
		if (e)
			drop_offer(s, e);
		/* A flood's offers would be refused at binding anyway. */
		if (!share_allows(s, m->chaddr, md->slots, 0))
			return -EDQUOT;
		/* A new offer: room is made by the oldest. */
		if (s->lt.noffered >= s->conf->max_offers)
			evict_offer(s);
		r = new_offer(s, m, model, &e);
		if (r)
			return r == -ENOSPC ? r : -EIO;
		if (policy_mac_exact(&s->conf->policy, m->chaddr))
			e->flags |= LT_EXACT;
	}
	if (e->state != LT_BOUND)
		lt_offer(&s->lt, e, now + s->conf->offer_hold);
	entry_lease(s, e, &l);
	return reply_now(s, m, DHCPOFFER, &l, md, NULL);
}

static struct srv_pending *pending_push(struct srv *s)
{
	struct srv_pending *p;

	if (s->pcount == SRV_PENDING_MAX)
		return NULL;
	p = &s->pend[(s->phead + s->pcount) % SRV_PENDING_MAX];
	s->pcount++;
	return p;
}

/* Where an entry stood before a REQUEST the store refused. */
static void restore(struct srv *s, struct lt_entry *e, uint8_t was,
		    int64_t until)
{
	if (was == LT_FREE)
		drop_offer(s, e);
	else if (was == LT_OFFERED)
		lt_offer(&s->lt, e, until);
	else
		lt_bind(&s->lt, e, until); /* in the heap: cannot fail */
}

/* The client states of RFC 2131 4.3.2, told apart as sd-dhcp-server
 * does, from options 54 and 50 and ciaddr. */
enum req_state { REQ_INVALID, REQ_SELECTING, REQ_INIT_REBOOT, REQ_RENEWING };

static enum req_state request_state(const struct dhcp_msg *m, uint32_t *addr)
{
	uint32_t sid = dhcp_opt_addr(m, OPT_SERVER_ID),
		 want = dhcp_opt_addr(m, OPT_REQUESTED_IP);

	if (sid) {
		/* SELECTING: ciaddr MUST be 0, 50 MUST be the offer's. */
		*addr = want;
		return m->ciaddr || !want ? REQ_INVALID : REQ_SELECTING;
	}
	if (want) {
		*addr = want;
		return m->ciaddr ? REQ_INVALID : REQ_INIT_REBOOT;
	}
	*addr = m->ciaddr;
	return m->ciaddr ? REQ_RENEWING : REQ_INVALID;
}

/* Store the lease of a REQUEST and hold its ACK for the sync.  The ACK
 * is built first: what cannot be answered is not stored. */
static int bind_lease(struct srv *s, struct dhcp_msg *m, struct lt_entry *e,
		      int model, int64_t now)
{
	const struct model *md = &s->conf->policy.models[model];
	uint8_t buf[DHCP_MAX_REPLY], *reply, was = e->state;
	int64_t was_until = e->until, until = now + md->lease_time;
	struct srv_pending *pd;
	struct lease l;
	int r, len;

	entry_lease(s, e, &l);
	l.expires = until + s->wall_off;
	vendor_of(m, l.vendor, sizeof(l.vendor));
	client_id_of(m, l.client_id, sizeof(l.client_id));
	len = build_reply(s, m, DHCPACK, &l, md, buf, NULL);
	reply = len > 0 ? malloc((size_t)len) : NULL;
	if (reply)
		memcpy(reply, buf, (size_t)len);
	if (!reply || s->pcount == SRV_PENDING_MAX || store_tx(s)) {
		/* The client retransmits; an offer stays until its hold. */
		if (!reply)
			logr(s, LOGK_BUILD, LOG_WARN_,
			     "Failed to build ACK: %s",
			     strerror(len < 0 ? -len : ENOMEM));
		else if (s->pcount == SRV_PENDING_MAX)
			s->n.overloaded++;
		/* (a transaction that would not begin counted itself) */
		free(reply);
		return s->pcount == SRV_PENDING_MAX ? -EBUSY : -EIO;
	}
	/* Bound now for the packets that follow (undone if the store
	 * refuses); the ACK waits for the commit and its sync.  A renewal
	 * keeps its row's addresses: only the expiry changes. */
	r = lt_bind(&s->lt, e, until);
	if (!r) {
		r = was == LT_BOUND ? s->fx.renew(s->fx.arg, &l) : -ENOENT;
		if (r == -ENOENT)
			r = s->fx.put(s->fx.arg, &l, now + s->wall_off);
		if (r)
			restore(s, e, was, was_until);
	}
	if (r) {
		free(reply);
		s->n.store_failed++;
		logr(s, LOGK_STORE, LOG_WARN_, "Failed to store lease: %s",
		     strerror(-r));
		return -EIO;
	}
	if (was != LT_BOUND)
		share_add(s, e, +1);
	pd = pending_push(s);
	pd->lease = l;
	pd->group = 0;
	pd->was = was;
	pd->model = (uint16_t)model;
	pd->len = (uint16_t)len;
	pd->reply = reply;
	reply_dest(m, DHCPACK, l.priv_ip, &pd->dest);
	return 0;
}

/*
 * REQUEST (RFC 2131 4.3.2).  Nothing is allocated here: SELECTING binds
 * the offer this MAC was made, INIT-REBOOT and RENEWING/REBINDING renew
 * the lease it holds.  A REQUEST naming any other address binds nothing
 * (threat 9: no address the MAC was not offered).
 */
static int request(struct srv *s, struct dhcp_msg *m, int64_t now)
{
	struct lt_entry *e = lt_get(&s->lt, m->chaddr);
	enum req_state st;
	const struct model *md;
	uint32_t addr = 0;
	int model;

	st = request_state(m, &addr);
	if (st == REQ_INVALID) {
		s->n.ignored++;
		return -EPROTO;
	}
	if (st == REQ_SELECTING &&
	    dhcp_opt_addr(m, OPT_SERVER_ID) != htonl(s->conf->server_id)) {
		/* Selecting another server's offer: ours is free again. */
		if (e && e->state == LT_OFFERED)
			drop_offer(s, e);
		return 0;
	}
	model = validate(s, m, now);
	if (model < 0)
		return model;
	md = &s->conf->policy.models[model];
	if (!e || (e->state == LT_OFFERED && st != REQ_SELECTING)) {
		/* No record of a lease: INIT-REBOOT gets silence (4.3.2,
		 * "MUST remain silent"); SELECTING an offer that is gone
		 * and RENEWING a lease that is gone get a NAK, so the
		 * phone starts over at once. */
		if (st != REQ_INIT_REBOOT)
			reply_now(s, m, DHCPNAK, NULL, NULL,
				  "no such lease or offer");
		return -ENOENT;
	}
	if (addr != e->priv_ip) {
		/* Not the address we have for it: NAK (authoritative),
		 * its lease or offer as it was. */
		reply_now(s, m, DHCPNAK, NULL, NULL,
			  "requested address is not yours");
		return -EADDRNOTAVAIL;
	}
	if (!entry_fits(s, e, md)) {
		/* Another size or private range: the lease ends and the
		 * phone's next DISCOVER is offered one that fits. */
		if (e->state == LT_BOUND ? end_lease(s, e, "resize") :
					   (drop_offer(s, e), 0))
			return -EIO;
		reply_now(s, m, DHCPNAK, NULL, NULL,
			  "lease does not fit the model any more");
		return -EADDRNOTAVAIL;
	}
	if (e->state == LT_OFFERED &&
	    !share_allows(s, m->chaddr, md->slots, 1)) {
		drop_offer(s, e);
		return -EDQUOT;
	}
	if (e->model != model) {
		/* Another model, another file name: moved by the REQUEST. */
		if (e->state == LT_BOUND)
			remove_config(s, e);
		e->flags &= (uint8_t)~LT_RENDERED;
		e->model = (uint16_t)model;
	}
	return bind_lease(s, m, e, model, now);
}

/*
 * RELEASE (4.4.6) and DECLINE (4.4.4): table 5 makes option 54 a MUST
 * in both, ciaddr the released address in a RELEASE and option 50 the
 * declined one in a DECLINE.  Anything less is dropped: one such packet
 * from another host must not end a phone's lease (threat 9).
 */
static int release(struct srv *s, struct dhcp_msg *m, int64_t now)
{
	struct lt_entry *e = lt_get(&s->lt, m->chaddr);
	int decline = m->type == DHCPDECLINE;
	uint32_t addr = decline ? dhcp_opt_addr(m, OPT_REQUESTED_IP) :
				  m->ciaddr;
	uint32_t priv;
	int wild;

	if (dhcp_opt_addr(m, OPT_SERVER_ID) != htonl(s->conf->server_id) ||
	    !addr || (decline && m->ciaddr)) {
		s->n.ignored++;
		return -EPROTO;
	}
	if (!e || addr != e->priv_ip)
		return -ENOENT;
	if (e->state == LT_OFFERED && !decline)
		return -ENOENT;
	/* Each DECLINE holds an address for decline_hold: from a MAC not
	 * listed exactly it costs a token of the new-lease bucket, as a
	 * new lease would (threat 9, DECLINE flood).  Over it, the DECLINE
	 * is ignored: the offer or lease stays as it was. */
	wild = !policy_mac_exact(&s->conf->policy, m->chaddr);
	if (decline && wild && !take_token(s)) {
		log_refused(s, m->chaddr, "DECLINE", "new_lease_rate reached");
		return -EDQUOT;
	}
	if (e->state == LT_OFFERED) {
		drop_offer(s, e);
		quarantine(s, addr, now, wild);
		return 0;
	}
	priv = e->priv_ip;
	if (end_lease(s, e, decline ? "decline" : "release"))
		return -EIO;
	if (decline)
		quarantine(s, priv, now, wild);
	return 0;
}

int srv_handle(struct srv *s, const uint8_t *buf, size_t len, int64_t now)
{
	struct dhcp_msg *m = &s->msg;
	int model;

	if (s->broken)
		return -ESHUTDOWN;
	if (now > s->now)
		s->now = now;
	now = s->now;
	if (dhcp_parse(buf, len, m)) {
		s->n.malformed++;
		return -EBADMSG;
	}
	/* Ethernet phones only: the data plane keys its anti-spoof check
	 * on a 6-byte MAC. */
	if (m->op != DHCP_BOOTREQUEST || m->htype != 1 || m->hlen != 6) {
		s->n.ignored++;
		return -EPROTO;
	}
	switch (m->type) {
	case DHCPDISCOVER:
		s->n.discover++;
		return discover(s, m, now);
	case DHCPREQUEST:
		s->n.request++;
		return request(s, m, now);
	case DHCPRELEASE:
		s->n.release++;
		return release(s, m, now);
	case DHCPDECLINE:
		s->n.decline++;
		return release(s, m, now);
	case DHCPINFORM:
		s->n.inform++;
		model = validate(s, m, now);
		if (model < 0)
			return model;
		return reply_now(s, m, DHCPACK, NULL,
				 &s->conf->policy.models[model], NULL);
	default:
		s->n.ignored++;
		return -EPROTO;
	}
}

/* --- commits and ACKs ------------------------------------------------------ */

static void pending_drop_uncommitted(struct srv *s)
{
	while (s->pcount) {
		struct srv_pending *p =
			&s->pend[(s->phead + s->pcount - 1) % SRV_PENDING_MAX];

		if (p->group)
			break;
		free(p->reply);
		p->reply = NULL;
		s->pcount--;
		s->n.store_failed++;
	}
}

static int load_cb(const struct lease *l, void *arg);

/* After a failed commit nobody can say which of the wake-up's changes
 * the memory kept and the store did not: start again from the store. */
static void reload(struct srv *s)
{
	int i, r;

	s->n.reloads++;
	lt_free(&s->lt);
	alloc_clear(&s->alloc);
	srv_parts_fence(s);
	s->wild_slots = s->wild_lan = 0;
	if (s->conf->gateway - s->conf->lan_net < s->conf->lan_size)
		s->alloc.lan_used[s->conf->gateway - s->conf->lan_net] = 1;
	for (i = 0; i < s->nq; i++) {
		s->alloc.lan_used[s->q[i].priv - s->alloc.lan_net] = 1;
		if (s->q[i].wild)
			s->wild_lan++;
	}
	r = lt_init(&s->lt, 4096);
	if (!r)
		r = s->fx.foreach(s->fx.arg, load_cb, s);
	if (!r && s->io.map_reconcile)
		r = s->io.map_reconcile(s->io.arg);
	if (r) {
		/* Memory no longer says what the store does: only a fresh
		 * start from the store can. */
		logp(LOG_ERR_, "Failed to reload the leases: %s", strerror(-r));
		s->broken = 1;
	} else {
		logp(LOG_WARN_, "%u leases reloaded from the store",
		     s->lt.used);
	}
}

int srv_parts_check(struct srv *s)
{
	int changed = 0, r;

	if (s->broken || s->in_tx || !s->fx.parts)
		return 0;
	r = srv_parts_read(s, &changed);
	if (r || !changed)
		return r;
	logp(LOG_NOTICE_,
	     "the parts of the pool this gateway owns changed; reloading "
	     "their leases");
	reload(s);
	return s->broken ? -ENOTRECOVERABLE : 1;
}

int srv_commit(struct srv *s, uint64_t *group)
{
	unsigned int i;
	int r;

	*group = 0;
	if (s->broken)
		return -ENOTRECOVERABLE;
	if (!s->in_tx)
		return 0;
	s->in_tx = 0;
	r = s->fx.commit(s->fx.arg);
	if (r) {
		logp(LOG_ERR_, "Failed to commit leases: %s; no ACK sent",
		     strerror(-r));
		pending_drop_uncommitted(s);
		reload(s);
		return s->broken ? -ENOTRECOVERABLE : r;
	}
	for (i = s->pcount; i > 0; i--) {
		struct srv_pending *p =
			&s->pend[(s->phead + i - 1) % SRV_PENDING_MAX];

		if (p->group)
			break;
		if (!*group)
			*group = ++s->group;
		p->group = *group;
	}
	return 0;
}

/* The lease of p is on disk: its file, its mapping, then its ACK. */
static void finish(struct srv *s, const struct srv_pending *p)
{
	const struct model *md = model_at(s, p->model);
	const struct lease *l = &p->lease;
	struct lt_entry *e = lt_get(&s->lt, l->mac);
	int r;

	/* Released, or given another range, since: nothing to ACK. */
	if (!e || !md || e->state != LT_BOUND || e->priv_ip != l->priv_ip ||
	    e->pub_ip != l->pub_ip || e->port_first != l->port_first ||
	    e->port_last != l->port_last)
		return;
	e->flags |= LT_DURABLE;
	/*
	 * Fail closed: the mapping first, then the file and its gate
	 * entry.  Without the VALID first slot the data plane does not check
	 * the address's MAC, so a gate entry naming the IP alone would let
	 * any LAN host that takes the IP fetch the phone's config (SIP
	 * credentials).  No ACK either: the phone would have no service,
	 * and silence (not a NAK, which would restart it from DISCOVER) makes
	 * it retransmit the REQUEST, which tries the mapping again; the
	 * sweep also does, within a minute.
	 */
	if (s->io.map_add && !(e->flags & LT_MAPPED)) {
		r = s->io.map_add(s->io.arg, l);
		if (r) {
			s->n.map_failed++;
			logr(s, LOGK_MAP, LOG_ERR_,
			     "Failed to map lease: %s; no config, no ACK",
			     strerror(-r));
			/* Whatever is on disk, flagged or not. */
			remove_config(s, e);
			e->flags &= (uint8_t)~LT_RENDERED;
			return;
		}
		e->flags |= LT_MAPPED;
	}
	/* The phone's file is in place before it hears the ACK; a renewal
	 * with the same range leaves it (the sweep checks it is there). */
	if (!(e->flags & LT_RENDERED) && !write_config(s, l, md))
		e->flags |= LT_RENDERED;
	s->io.send(s->io.arg, &p->dest, p->reply, p->len);
	s->n.ack++;
	attribution(p->was == LT_BOUND ? "renew" : "new", l);
}

void srv_durable(struct srv *s, uint64_t group)
{
	while (s->pcount && !s->broken) {
		struct srv_pending *p = &s->pend[s->phead];

		if (!p->group || p->group > group)
			break;
		finish(s, p);
		free(p->reply);
		p->reply = NULL;
		s->phead = (s->phead + 1) % SRV_PENDING_MAX;
		s->pcount--;
	}
}

unsigned int srv_pending(const struct srv *s)
{
	return s->pcount;
}

/* --- time ------------------------------------------------------------------ */

#define EXPIRE_PER_TICK 4096 /* leases expired per second, at most */

static void expire_leases(struct srv *s, int64_t now)
{
	struct lt_entry *e;
	int n = 0;

	while ((e = lt_soonest_bound(&s->lt)) && e->until <= now &&
	       n++ < EXPIRE_PER_TICK) {
		if (end_lease(s, e, "expire"))
			return; /* again next second */
		s->n.expired++;
	}
}

static void expire_offers(struct srv *s, int64_t now)
{
	struct lt_entry *e;

	while ((e = lt_oldest_offer(&s->lt)) && e->until <= now) {
		drop_offer(s, e);
		s->n.offers_expired++;
	}
}

static void expire_quarantine(struct srv *s, int64_t now)
{
	while (s->nq && s->q[0].until <= now)
		unquarantine(s, 0);
}

/*
 * The files and mappings of bound leases are this process's work, so
 * the packet path trusts its flags; what someone else removed (an
 * operator's `nappt phone del`, a cleaned directory) comes back within a
 * minute: each second checks a sixtieth of the table.
 */
static void sweep(struct srv *s)
{
	uint32_t k, n = s->lt.cap / 60 + 32;

	for (k = 0; k < n && s->lt.cap; k++) {
		struct lt_entry *e = lt_at(&s->lt, s->sweep++ % s->lt.cap);
		const struct model *md;
		struct lease l;

		/* Only what is on disk: a lease still waiting for its sync
		 * gets its file and mapping when its ACK leaves. */
		if (!e || e->state != LT_BOUND || !(e->flags & LT_DURABLE) ||
		    !(md = model_of(s, e)))
			continue;
		entry_lease(s, e, &l);
		/* The mapping first: no file or gate entry for an address
		 * whose MAC the data plane does not check (see finish). */
		if (s->io.map_add && (!(e->flags & LT_MAPPED) ||
				      (s->io.map_check &&
				       s->io.map_check(s->io.arg, &l) == 0))) {
			s->n.repaired_maps++;
			if (s->io.map_add(s->io.arg, &l)) {
				s->n.map_failed++;
				e->flags &= (uint8_t)~LT_MAPPED;
				remove_config(s, e);
				e->flags &= (uint8_t)~LT_RENDERED;
				continue;
			}
			e->flags |= LT_MAPPED;
		}
		if (!(e->flags & LT_RENDERED) || !config_present(s, e)) {
			/* Removed by someone, or never written (an error). */
			s->n.repaired_files++;
			if (write_config(s, &l, md))
				e->flags &= (uint8_t)~LT_RENDERED;
			else
				e->flags |= LT_RENDERED;
		}
	}
	if (s->sweep >= s->lt.cap)
		s->sweep = 0;
}

void srv_tick(struct srv *s, int64_t now, int64_t wall)
{
	if (s->broken)
		return;
	/* A monotonic clock never goes back; if a caller's did, time
	 * stands still rather than reviving anything. */
	if (now > s->now)
		s->now = now;
	now = s->now;
	/* Only what the store is told follows the wall clock: a step of it
	 * moves the ends written from now on, never a timer in memory. */
	s->wall_off = wall - now;
	/* First, with no transaction open: a part lost stops allocating
	 * (and its writes fail in the store anyway), a part taken over is
	 * loaded. */
	if (s->fx.parts && !s->in_tx && s->conf->parts_poll &&
	    now - s->parts_at >= (int64_t)s->conf->parts_poll) {
		s->parts_at = now;
		srv_parts_check(s);
	}
	expire_leases(s, now);
	expire_offers(s, now);
	expire_quarantine(s, now);
	sweep(s);
}

/* --- start ----------------------------------------------------------------- */

/*
 * A stored lease whose private address is not the one its range derives
 * (issue 13: a store written before the data plane derived the address
 * from the range).  The data plane cannot carry it (libnappt refuses,
 * -EADDRNOTAVAIL: inbound would reach the derived address, not the
 * phone's), so it is never mapped: it ends here, row (attribution
 * closed, in the first commit after start) and config file, with an
 * attribution line and a log naming both addresses.  The phone's next
 * RENEWING or SELECTING REQUEST is NAKed (an INIT-REBOOT gets silence,
 * RFC 2131 4.3.2) and its DISCOVER gets a derived lease, usually the
 * same range (sticky), now with its derived address.
 */
static int end_underived(struct srv *s, const struct lease *l)
{
	uint32_t want = derived_addr(s, l->pub_ip, l->port_first);
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], c[INET_ADDRSTRLEN];
	int i, r = store_tx(s);

	if (!r) {
		r = s->fx.del(s->fx.arg, l->mac);
		if (r == -ENOENT)
			r = 0;
	}
	if (r) {
		/* Not loaded, not mapped, as an overlapping row is: the
		 * store's own constraint keeps its range from a second
		 * phone; the next start tries again.  Not fatal: one row
		 * must not keep every phone from service. */
		logp(LOG_ERR_,
		     "Failed to end the stored lease of %s (not at its "
		     "derived address; ignored): %s",
		     ip4(l->priv_ip, a), strerror(-r));
		return 0;
	}
	for (i = 0; i < s->conf->policy.nmodels; i++)
		if (!strcmp(s->conf->policy.models[i].name, l->model))
			s->fx.file_remove(s->fx.arg, l->mac, (unsigned int)i);
	logp(LOG_WARN_,
	     "stored lease of %s (public %s ports %u-%u) is not at the "
	     "address its range derives (%s): ended, never mapped; the phone "
	     "gets a new lease at its next DISCOVER",
	     ip4(l->priv_ip, a), ip4(l->pub_ip, b), l->port_first, l->port_last,
	     want ? ip4(want, c) : "none in lan_pool");
	attribution("renumber", l);
	s->n.underived++;
	return 0;
}

static int load_cb(const struct lease *l, void *arg)
{
	struct srv *s = arg;
	struct lt_entry *e;
	int64_t left;
	uint32_t lt;
	int i, r, grace = 0;

	r = alloc_take(&s->alloc, ntohl(l->priv_ip), ntohl(l->pub_ip),
		       l->port_first, l->port_last);
	if (r == -EADDRNOTAVAIL)
		return end_underived(s, l);
	if (r) {
		char a[INET_ADDRSTRLEN];

		logp(LOG_WARN_, "stored lease of %s %s; ignored",
		     ip4(l->priv_ip, a),
		     r == -EPERM ? "is over ports 0-1023 or reserved_ports" :
				   "overlaps another, or is outside the pools");
		return 0;
	}
	e = lt_add(&s->lt, l->mac);
	if (!e)
		return -ENOMEM;
	e->priv_ip = l->priv_ip;
	e->pub_ip = l->pub_ip;
	e->port_first = l->port_first;
	e->port_last = l->port_last;
	e->model = SRV_NO_MODEL;
	for (i = 0; i < s->conf->policy.nmodels; i++)
		if (!strcmp(s->conf->policy.models[i].name, l->model))
			e->model = (uint16_t)i;
	lt = model_of(s, e) ? model_of(s, e)->lease_time : s->conf->lease_time;
	/*
	 * The stored end is wall-clock time, read against the wall clock
	 * now, which may have been stepped while the server was down
	 * (README, clocks).  A clock behind cannot keep a lease longer
	 * than its lease time; a clock ahead (or a long stop: the two look
	 * the same) does not end every lease at once: one that looks
	 * expired lives on for T1 (half its lease time), long enough for a
	 * phone that still holds it to renew it on schedule.
	 */
	left = l->expires - (s->now + s->wall_off);
	if (left > (int64_t)lt)
		left = lt;
	if (left <= 0) {
		left = lt / 2 ? lt / 2 : 1;
		grace = 1;
	}
	if (lt_bind(&s->lt, e, s->now + left))
		return -ENOMEM;
	if (grace) {
		/* The attribution history's open interval lasts as long as
		 * the stored end: the grace is written there (committed with
		 * the first commit after start), or traffic from this range
		 * while it stays mapped would be nobody's. */
		struct lease nl = *l;

		nl.expires = s->now + s->wall_off + left;
		r = store_tx(s);
		if (!r)
			r = s->fx.renew(s->fx.arg, &nl);
		if (r) {
			logp(LOG_ERR_,
			     "Failed to store the grace of a lease: %s",
			     strerror(-r));
			return r;
		}
	}
	e->flags |= LT_DURABLE;
	if (policy_mac_exact(&s->conf->policy, e->mac))
		e->flags |= LT_EXACT;
	share_add(s, e, +1);
	/* The maps were reconciled with the store's live leases before;
	 * one kept for its grace is mapped again here. */
	if (s->io.map_add && (!grace || !s->io.map_add(s->io.arg, l)))
		e->flags |= LT_MAPPED;
	/* Config files are written without fsync: the store is the truth,
	 * so rewrite what a crash may have lost. */
	if (e->model != SRV_NO_MODEL &&
	    (config_present(s, e) || !write_config(s, l, model_of(s, e))))
		e->flags |= LT_RENDERED;
	return 0;
}

/*
 * Pool grab: what the MACs not listed exactly may hold together, and a
 * check that every model can get a range at all (a `slots` with no
 * aligned window free of reserved ports would be a silent, permanent
 * "pool exhausted").
 */
static int pool_limits(struct srv *s)
{
	const struct prov_conf *c = s->conf;
	const struct alloc *a = &s->alloc;
	uint64_t slots = (uint64_t)alloc_usable_slots(a) * c->pub_count;
	/* Private addresses a phone can have: those derived from a usable
	 * slot (issue 13), not the gateway's or the broadcast. */
	uint64_t lan = alloc_derivable(a, 1, 0, 0);
	int i;

	for (i = 0; i < c->policy.nmodels; i++) {
		const struct model *md = &c->policy.models[i];

		if (!alloc_windows(a, md->slots)) {
			logp(LOG_ERR_,
			     "model %s: slots = %u has no aligned window of %u "
			     "slots free of reserved ports in a public address; "
			     "no phone of it could get a lease",
			     md->name, md->slots, md->slots);
			return -EINVAL;
		}
		/* conf.c refuses it too; a caller may hand-build a conf. */
		if (!alloc_derivable(a, md->slots, md->lan_lo, md->lan_hi)) {
			logp(LOG_ERR_,
			     "model %s: no private address of its lan_range is "
			     "derived from a range of %u slots on the public "
			     "pool; no phone of it could get a lease",
			     md->name, md->slots);
			return -EINVAL;
		}
	}
	/* The reserve only means something if some MAC may use it;
	 * without one the pool itself is the limit (and "exhausted"). */
	s->cap_slots = s->cap_lan = UINT64_MAX;
	if (policy_has_exact(&c->policy)) {
		s->cap_slots = slots * (100 - c->exact_reserve) / 100;
		s->cap_lan = lan * (100 - c->exact_reserve) / 100;
	}
	s->tokens = c->new_lease_burst;
	s->tokens_at = s->now;
	return 0;
}

int srv_new(const struct prov_conf *c, const char *tmpl_dir,
	    struct lease_store *store, const struct srv_io *io, int64_t now,
	    int64_t wall, struct srv **out)
{
	unsigned int shift = 0;
	struct srv *s;
	int i, r;

	if (!c || !io || !io->send || !out || (!io->fx && !store))
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->conf = c;
	s->now = now;
	s->wall_off = wall - now;
	s->io = *io;
	s->pend = calloc(SRV_PENDING_MAX, sizeof(*s->pend));
	if (!s->pend) {
		r = -ENOMEM;
		goto fail;
	}
	while ((1U << shift) < c->slot_size)
		shift++;
	r = alloc_init(&s->alloc, c->pub_net, c->pub_count, shift, c->lan_net,
		       c->lan_size);
	if (r) {
		logp(LOG_ERR_, "Failed to set up the allocator: %s",
		     strerror(-r));
		goto fail;
	}
	for (i = 0; i < c->nreserved; i++) {
		uint32_t port;

		for (port = c->reserved[i][0]; port <= c->reserved[i][1];
		     port++)
			alloc_reserve_port(&s->alloc, (uint16_t)port);
	}
	/* The gateway's own address is not a phone's. */
	if (c->gateway - c->lan_net < c->lan_size)
		s->alloc.lan_used[c->gateway - c->lan_net] = 1;
	if (io->fx) {
		s->fx = *io->fx;
	} else {
		r = srv_effects_new(c, tmpl_dir, store, &s->fx_own);
		if (r)
			goto fail;
		s->fx = *s->fx_own;
	}
	r = lt_init(&s->lt, 4096);
	if (r)
		goto fail;
	r = pool_limits(s);
	if (!r)
		r = srv_parts_read(s, &i);
	if (r)
		goto fail;
	srv_parts_fence(s);
	/* Every stored lease, expired or not: load_cb decides how long
	 * each lives on the monotonic clock. */
	r = s->fx.foreach(s->fx.arg, load_cb, s);
	if (r < 0) {
		logp(LOG_ERR_, "Failed to load the leases: %s", strerror(-r));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	srv_free(s);
	return r;
}

void srv_free(struct srv *s)
{
	if (!s)
		return;
	while (s->pcount) {
		free(s->pend[s->phead].reply);
		s->phead = (s->phead + 1) % SRV_PENDING_MAX;
		s->pcount--;
	}
	if (s->in_tx)
		s->fx.rollback(s->fx.arg);
	free(s->pend);
	srv_effects_free(s->fx_own);
	lt_free(&s->lt);
	alloc_free(&s->alloc);
	free(s);
}

/* --- counters -------------------------------------------------------------- */

int srv_format_stats(const struct srv *s, char *buf, size_t cap)
{
	const struct srv_counters *n = &s->n;
	int len = snprintf(
		buf, cap,
		"# HELP nappt_dhcp_received_total DHCP messages received, "
		"by type.\n"
		"# TYPE nappt_dhcp_received_total counter\n"
		"nappt_dhcp_received_total{type=\"discover\"} %lu\n"
		"nappt_dhcp_received_total{type=\"request\"} %lu\n"
		"nappt_dhcp_received_total{type=\"release\"} %lu\n"
		"nappt_dhcp_received_total{type=\"decline\"} %lu\n"
		"nappt_dhcp_received_total{type=\"inform\"} %lu\n"
		"nappt_dhcp_received_total{type=\"malformed\"} %lu\n"
		"nappt_dhcp_received_total{type=\"ignored\"} %lu\n"
		"# HELP nappt_dhcp_sent_total DHCP replies sent, by type.\n"
		"# TYPE nappt_dhcp_sent_total counter\n"
		"nappt_dhcp_sent_total{type=\"offer\"} %lu\n"
		"nappt_dhcp_sent_total{type=\"ack\"} %lu\n"
		"nappt_dhcp_sent_total{type=\"nak\"} %lu\n"
		"# HELP nappt_dhcp_rejected_total Phones refused, by the "
		"check that refused them.\n"
		"# TYPE nappt_dhcp_rejected_total counter\n"
		"nappt_dhcp_rejected_total{check=\"mac\"} %lu\n"
		"nappt_dhcp_rejected_total{check=\"vendor_class\"} %lu\n"
		"# TYPE nappt_dhcp_pool_exhausted_total counter\n"
		"nappt_dhcp_pool_exhausted_total %lu\n"
		"# HELP nappt_dhcp_new_lease_refused_total New leases and "
		"DECLINEs refused to MACs not listed exactly: their pool "
		"share or new_lease_rate reached (a pool grab).\n"
		"# TYPE nappt_dhcp_new_lease_refused_total counter\n"
		"nappt_dhcp_new_lease_refused_total %lu\n"
		"# TYPE nappt_dhcp_log_dropped_total counter\n"
		"nappt_dhcp_log_dropped_total %lu\n"
		"# TYPE nappt_dhcp_offers_evicted_total counter\n"
		"nappt_dhcp_offers_evicted_total %lu\n"
		"# TYPE nappt_dhcp_offers_expired_total counter\n"
		"nappt_dhcp_offers_expired_total %lu\n"
		"# TYPE nappt_dhcp_leases_expired_total counter\n"
		"nappt_dhcp_leases_expired_total %lu\n"
		"# HELP nappt_dhcp_overloaded_total REQUESTs dropped while "
		"too many waited for the disk.\n"
		"# TYPE nappt_dhcp_overloaded_total counter\n"
		"nappt_dhcp_overloaded_total %lu\n"
		"# HELP nappt_dhcp_repaired_total Config files and mappings "
		"found missing and written again.\n"
		"# TYPE nappt_dhcp_repaired_total counter\n"
		"nappt_dhcp_repaired_total{what=\"file\"} %lu\n"
		"nappt_dhcp_repaired_total{what=\"mapping\"} %lu\n"
		"# TYPE nappt_dhcp_errors_total counter\n"
		"nappt_dhcp_errors_total{stage=\"store\"} %lu\n"
		"nappt_dhcp_errors_total{stage=\"map\"} %lu\n"
		"nappt_dhcp_errors_total{stage=\"render\"} %lu\n"
		"# TYPE nappt_dhcp_leases gauge\n"
		"nappt_dhcp_leases %u\n"
		"# TYPE nappt_dhcp_offers_outstanding gauge\n"
		"nappt_dhcp_offers_outstanding %u\n"
		"# TYPE nappt_dhcp_declined_addresses gauge\n"
		"nappt_dhcp_declined_addresses %d\n"
		"# HELP nappt_dhcp_unquarantined_total Declined addresses "
		"given back early to a phone listed exactly.\n"
		"# TYPE nappt_dhcp_unquarantined_total counter\n"
		"nappt_dhcp_unquarantined_total %lu\n"
		"# HELP nappt_dhcp_underived_ended_total Stored leases ended "
		"at load: their private address was not the one their range "
		"derives (a store of an older version).\n"
		"# TYPE nappt_dhcp_underived_ended_total counter\n"
		"nappt_dhcp_underived_ended_total %lu\n",
		n->discover, n->request, n->release, n->decline, n->inform,
		n->malformed, n->ignored, n->offer, n->ack, n->nak,
		n->rejected_mac, n->rejected_vendor, n->exhausted,
		n->flood_refused, log_dropped(), n->offers_evicted,
		n->offers_expired, n->expired, n->overloaded, n->repaired_files,
		n->repaired_maps, n->store_failed, n->map_failed,
		n->render_failed, s->lt.used - s->lt.noffered, s->lt.noffered,
		s->nq, n->unquarantined, n->underived);

	return len < 0 || (size_t)len >= cap ? -ENOSPC : len;
}

void srv_log_counters(const struct srv *s, const char *why)
{
	logp(LOG_INFO_,
	     "%s: %lu discover, %lu offer, %lu request, %lu ack, %lu nak, "
	     "%lu release, %lu decline, %lu rejected (mac), %lu rejected "
	     "(vendor), %lu exhausted, %lu new leases refused (pool grab), "
	     "%lu malformed, %lu offers evicted, "
	     "%lu overloaded, %u leases, %u offers outstanding",
	     why, s->n.discover, s->n.offer, s->n.request, s->n.ack, s->n.nak,
	     s->n.release, s->n.decline, s->n.rejected_mac,
	     s->n.rejected_vendor, s->n.exhausted, s->n.flood_refused,
	     s->n.malformed, s->n.offers_evicted, s->n.overloaded,
	     s->lt.used - s->lt.noffered, s->lt.noffered);
}
