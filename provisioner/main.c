// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nappt-provisioner: the DHCP server that turns a valid phone into a
 * lease (private address + port range on a public address), stores it
 * durably, then ACKs it and writes the mapping into the data plane.
 *
 * One thread, one socket, poll().  Every wake-up reads up to BATCH
 * messages at once (recvmmsg); the REQUESTs among them are committed in
 * one transaction (group commit) and only then ACKed and mapped: an ACKed
 * lease is on disk.  The replies of a wake-up leave in one sendmmsg.
 * Where each MAC stands (bound, offered, nothing) is in memory
 * (lease-table.h): the store is written, never asked, on the packet path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "conf.h"
#include "dhcp-msg.h"
#include "lease-store.h"
#include "lease-table.h"
#include "libnappt.h"
#include "map-sync.h"
#include "policy.h"
#include "render.h"

#define BATCH 64 /* messages read, and REQUESTs committed, per wake-up */
#define LOG_EVERY 10 /* seconds between two logs of one rejected MAC kind */
#define STATS_EVERY 5 /* seconds between two writes of the stats file */
#define QUARANTINE_MAX 256 /* DECLINEd addresses held at once */
#define NO_MODEL 0xffff
#define EVICT_MAX 64 /* offers reclaimed for one new lease, at most */

static volatile sig_atomic_t stop, dump;

struct counters {
	unsigned long discover, offer, request, ack, nak, release, decline,
		inform, rejected_mac, rejected_vendor, exhausted, malformed,
		ignored, offers_evicted, offers_expired, expired, store_failed,
		map_failed, render_failed;
};

struct quarantined {
	uint32_t priv; /* host order */
	int64_t until;
};

struct out {
	struct sockaddr_in to;
	size_t len;
	uint8_t buf[DHCP_MAX_REPLY];
};

struct prov {
	struct prov_conf conf;
	struct lease_store *store;
	struct alloc alloc;
	struct lease_table lt;
	struct nappt_maps maps;
	int have_maps;
	int fd;
	int ifindex;
	char tmpl_dir[256];
	char *tmpl_text[POLICY_MAX_MODELS];
	struct counters n;
	time_t last_reject_log[8];
	struct quarantined q[QUARANTINE_MAX];
	int nq;
	struct out *out; /* replies of this wake-up */
	unsigned int nout;
};

struct pending {
	const struct dhcp_msg *req; /* in this wake-up's receive buffers */
	struct lease lease;
	uint8_t was; /* the entry's state before this REQUEST */
	int64_t was_until;
	int model;
};

/*
 * Log lines go to stderr (journald adds time and priority from "<N>").
 * Outside the serving loop each line is written at once; inside it they
 * collect in a buffer written once per wake-up: one write(2) for a batch
 * of attribution lines instead of one per line.
 */
static char logbuf[1 << 16];
static size_t loglen;
static int log_batched;

static void log_flush(void)
{
	size_t off = 0;

	while (off < loglen) {
		ssize_t w = write(STDERR_FILENO, logbuf + off, loglen - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* nowhere to log: drop, never block serving */
		off += (size_t)w;
	}
	loglen = 0;
}

static void logp(int prio, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sizeof(logbuf) - loglen < 1024)
		log_flush();
	n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "<%d>", prio);
	va_start(ap, fmt);
	n += vsnprintf(logbuf + loglen + n, sizeof(logbuf) - loglen - (size_t)n,
		       fmt, ap);
	va_end(ap);
	if ((size_t)n >= sizeof(logbuf) - loglen - 1)
		n = (int)(sizeof(logbuf) - loglen - 2); /* cut, keep the \n */
	logbuf[loglen + (size_t)n] = '\n';
	loglen += (size_t)n + 1;
	if (!log_batched)
		log_flush();
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else
		stop = 1;
}

static const char *ip4(uint32_t be, char *buf)
{
	return inet_ntop(AF_INET, &be, buf, INET_ADDRSTRLEN);
}

static void mac_str(const uint8_t *m, char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* Option 60 as printable text, for logs and the store. */
static void vendor_of(const struct dhcp_msg *m, char *out, size_t n)
{
	size_t len, i, o = 0;
	const uint8_t *v = dhcp_opt_get(m, OPT_VENDOR_CLASS, &len);

	for (i = 0; v && i < len && o + 1 < n; i++)
		if (v[i] >= 0x20 && v[i] < 0x7f)
			out[o++] = (char)v[i];
	out[o] = '\0';
}

/* Attribution: one line per lease event. */
static void attribution(const char *event, const struct lease *l)
{
	char mac[18], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	mac_str(l->mac, mac);
	logp(6,
	     "lease %s mac=%s vendor=\"%s\" model=%s private=%s public=%s "
	     "ports=%u-%u expires=%lld",
	     event, mac, l->vendor, l->model, ip4(l->priv_ip, a),
	     ip4(l->pub_ip, b), l->port_first, l->port_last,
	     (long long)l->expires);
}

/* --- replies --------------------------------------------------------------- */

#define OUT_MAX (2 * BATCH)

/* The queued replies leave in one system call. */
static void send_out(struct prov *p)
{
	struct mmsghdr mh[OUT_MAX];
	struct iovec iov[OUT_MAX];
	unsigned int i, done = 0;

	for (i = 0; i < p->nout; i++) {
		iov[i] = (struct iovec){ p->out[i].buf, p->out[i].len };
		mh[i] = (struct mmsghdr){ .msg_hdr = {
						  .msg_name = &p->out[i].to,
						  .msg_namelen =
							  sizeof(p->out[i].to),
						  .msg_iov = &iov[i],
						  .msg_iovlen = 1,
					  } };
	}
	while (done < p->nout) {
		int r = sendmmsg(p->fd, mh + done, p->nout - done, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			char a[INET_ADDRSTRLEN];

			/* This one is lost (the client retransmits); the
			 * others still go. */
			logp(4, "Failed to send reply to %s: %s",
			     ip4(p->out[done].to.sin_addr.s_addr, a),
			     strerror(errno));
			done++;
			continue;
		}
		done += (unsigned int)r;
	}
	p->nout = 0;
}

static void send_reply(struct prov *p, const struct dhcp_msg *req, uint8_t type,
		       const uint8_t *buf, size_t len, uint32_t yiaddr)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct out *o;

	switch (dhcp_reply_dest(req, type)) {
	case DEST_RELAY:
		to.sin_addr.s_addr = req->giaddr;
		to.sin_port = htons(67);
		break;
	case DEST_CIADDR:
		to.sin_addr.s_addr = req->ciaddr;
		to.sin_port = htons(68);
		break;
	case DEST_BROADCAST:
		to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
		to.sin_port = htons(68);
		break;
	case DEST_UNICAST_HW: {
		/* RFC 2131 4.1: the client has no address yet and cannot
		 * answer ARP; tell the kernel where yiaddr is. */
		struct arpreq ar = { 0 };
		struct sockaddr_in *pa = (struct sockaddr_in *)&ar.arp_pa;

		pa->sin_family = AF_INET;
		pa->sin_addr.s_addr = yiaddr;
		ar.arp_ha.sa_family = ARPHRD_ETHER;
		memcpy(ar.arp_ha.sa_data, req->chaddr, 6);
		ar.arp_flags = ATF_COM;
		snprintf(ar.arp_dev, sizeof(ar.arp_dev), "%s",
			 p->conf.interface);
		if (ioctl(p->fd, SIOCSARP, &ar) < 0) {
			to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
		} else {
			to.sin_addr.s_addr = yiaddr;
		}
		to.sin_port = htons(68);
		break;
	}
	}
	if (p->nout == OUT_MAX)
		send_out(p);
	o = &p->out[p->nout++];
	o->to = to;
	o->len = len;
	memcpy(o->buf, buf, len);
}

static void put_common(struct prov *p, struct dhcp_builder *b,
		       const struct dhcp_msg *req, const struct lease *l,
		       const struct model *m, int with_lease)
{
	uint32_t mask = htonl(~(p->conf.lan_size - 1)),
		 router = htonl(p->conf.gateway),
		 sid = htonl(p->conf.server_id),
		 tftp = htonl(p->conf.tftp_server), dns[CONF_MAX_DNS];
	uint32_t lt = htonl(l ? (uint32_t)m->lease_time : 0),
		 t1 = htonl(l ? m->lease_time / 2 : 0),
		 t2 = htonl(l ? m->lease_time / 8 * 7 : 0);
	char tftp_name[INET_ADDRSTRLEN], file[64] = "";
	uint8_t o159[4];
	struct dhcp_optval av[12];
	size_t n = 0, len;
	const uint8_t *o82;
	int i;

	for (i = 0; i < p->conf.ndns; i++)
		dns[i] = htonl(p->conf.dns[i]);
	ip4(tftp, tftp_name);
	av[n++] = (struct dhcp_optval){ OPT_SERVER_ID, 1, 4, &sid };
	if (with_lease) {
		av[n++] = (struct dhcp_optval){ OPT_LEASE_TIME, 1, 4, &lt };
		av[n++] = (struct dhcp_optval){ OPT_RENEWAL_TIME, 1, 4, &t1 };
		av[n++] = (struct dhcp_optval){ OPT_REBINDING_TIME, 1, 4, &t2 };
	}
	av[n++] = (struct dhcp_optval){ OPT_SUBNET_MASK, 1, 4, &mask };
	av[n++] = (struct dhcp_optval){ OPT_ROUTER, 1, 4, &router };
	if (p->conf.ndns)
		av[n++] = (struct dhcp_optval){ OPT_DNS, 1,
						(uint16_t)(4 * p->conf.ndns),
						dns };
	/* Where the operational software is: 150 (Cisco) and 66. */
	av[n++] = (struct dhcp_optval){ OPT_TFTP_SERVER_ADDR, 1, 4, &tftp };
	av[n++] = (struct dhcp_optval){ OPT_TFTP_SERVER_NAME, 1,
					(uint16_t)strlen(tftp_name),
					tftp_name };
	if (l && render_file_name(m->tmpl, l->mac, file, sizeof(file)) == 0)
		av[n++] = (struct dhcp_optval){ OPT_BOOTFILE, 1,
						(uint16_t)strlen(file), file };
	if (l && opt159_encode(l->port_first, l->port_last, o159) == 0)
		av[n++] = (struct dhcp_optval){ OPT_PORTPARAMS, 1, 4, o159 };
	dhcp_put_requested(b, req, av, n);
	/* RFC 3046: relay agent information goes back as it came. */
	o82 = dhcp_opt_get(req, OPT_RELAY_AGENT, &len);
	if (o82)
		dhcp_put_opt(b, OPT_RELAY_AGENT, o82, len);
}

static void reply(struct prov *p, const struct dhcp_msg *req, uint8_t type,
		  const struct lease *l, const struct model *m)
{
	uint8_t buf[DHCP_MAX_REPLY];
	struct dhcp_builder b;
	int len;

	dhcp_reply_init(&b, buf, dhcp_reply_cap(req), req, type,
			l ? l->priv_ip : 0, htonl(p->conf.tftp_server));
	/* The BOOTP file field too: phones that ignore option 67 read it
	 * (RFC 2131 2: "boot file name"). */
	if (l && m)
		render_file_name(m->tmpl, l->mac, (char *)buf + 108, 128);
	if (type == DHCPNAK) {
		uint32_t sid = htonl(p->conf.server_id);

		dhcp_put_opt(&b, OPT_SERVER_ID, &sid, 4);
	} else {
		put_common(p, &b, req, l, m, type != DHCPACK || l != NULL);
	}
	len = dhcp_reply_finish(&b);
	if (len < 0) {
		logp(4, "Failed to build reply: %s", strerror(-len));
		return;
	}
	send_reply(p, req, type, buf, (size_t)len, l ? l->priv_ip : 0);
}

/* --- lease logic ----------------------------------------------------------- */

static int validate(struct prov *p, const struct dhcp_msg *m)
{
	enum verdict_reason why;
	size_t len;
	const uint8_t *vc = dhcp_opt_get(m, OPT_VENDOR_CLASS, &len);
	int r = policy_validate(&p->conf.policy, m->chaddr, vc, len, &why);
	time_t now = time(NULL);

	if (r >= 0)
		return r;
	if (why == REJECT_MAC_DENIED || why == REJECT_MAC_UNKNOWN)
		p->n.rejected_mac++;
	else
		p->n.rejected_vendor++;
	/* Once per interval per reason: a flood must not flood the log. */
	if (now - p->last_reject_log[why] >= LOG_EVERY) {
		char mac[18], vendor[128];

		p->last_reject_log[why] = now;
		mac_str(m->chaddr, mac);
		vendor_of(m, vendor, sizeof(vendor));
		logp(5,
		     "reject mac=%s vendor=\"%s\": %s (rejected so far: %lu "
		     "by MAC, %lu by vendor class)",
		     mac, vendor, reject_reason_str(why), p->n.rejected_mac,
		     p->n.rejected_vendor);
	}
	return -EACCES;
}

static const struct model *model_of(const struct prov *p,
				    const struct lt_entry *e)
{
	return e->model < p->conf.policy.nmodels ?
		       &p->conf.policy.models[e->model] :
		       NULL;
}

static void entry_lease(const struct prov *p, const struct lt_entry *e,
			struct lease *l)
{
	const struct model *md = model_of(p, e);

	memset(l, 0, sizeof(*l));
	memcpy(l->mac, e->mac, 6);
	l->priv_ip = e->priv_ip;
	l->pub_ip = e->pub_ip;
	l->port_first = e->port_first;
	l->port_last = e->port_last;
	l->expires = e->until;
	if (md)
		snprintf(l->model, sizeof(l->model), "%s", md->name);
}

static void release_range(struct prov *p, const struct lt_entry *e)
{
	alloc_release(&p->alloc, ntohl(e->priv_ip), ntohl(e->pub_ip),
		      e->port_first, e->port_last);
}

/* The lease is gone: its config file first, then the gating entry. */
static void remove_config(struct prov *p, const struct lt_entry *e)
{
	const struct model *md = model_of(p, e);
	char file[64], path[600];

	if (!md || render_file_name(md->tmpl, e->mac, file, sizeof(file)))
		return;
	snprintf(path, sizeof(path), "%s/%s", p->conf.tftp_root, file);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.leases/%s", p->conf.tftp_root, file);
	unlink(path);
}

/* A bound lease ends (RELEASE, DECLINE, expiry, a new range): mapping,
 * config file and addresses go; the caller deals with the store. */
static void unbind(struct prov *p, struct lt_entry *e, const char *event)
{
	struct lease l;

	entry_lease(p, e, &l);
	if (p->have_maps)
		map_sync_del(&p->maps, &l);
	remove_config(p, e);
	release_range(p, e);
	if (event)
		attribution(event, &l);
}

static void drop_offer(struct prov *p, struct lt_entry *e)
{
	release_range(p, e);
	lt_del(&p->lt, e);
}

/* Offers whose hold has passed give their range back. */
static void expire_offers(struct prov *p, int64_t now)
{
	struct lt_entry *e;

	while ((e = lt_oldest_offer(&p->lt)) && e->until <= now) {
		drop_offer(p, e);
		p->n.offers_expired++;
	}
}

static void quarantine(struct prov *p, uint32_t priv_be, int64_t now)
{
	uint32_t li = ntohl(priv_be) - p->alloc.lan_net;

	if (!p->conf.decline_hold || li >= p->alloc.lan_size)
		return;
	if (p->nq == QUARANTINE_MAX) {
		/* Full: the oldest comes back early. */
		p->alloc.lan_used[p->q[0].priv - p->alloc.lan_net] = 0;
		memmove(p->q, p->q + 1, sizeof(p->q[0]) * (QUARANTINE_MAX - 1));
		p->nq--;
	}
	p->alloc.lan_used[li] = 1;
	p->q[p->nq].priv = ntohl(priv_be);
	p->q[p->nq].until = now + p->conf.decline_hold;
	p->nq++;
}

static void expire_quarantine(struct prov *p, int64_t now)
{
	int i = 0;

	while (i < p->nq && p->q[i].until <= now) {
		p->alloc.lan_used[p->q[i].priv - p->alloc.lan_net] = 0;
		i++;
	}
	if (i) {
		memmove(p->q, p->q + i, sizeof(p->q[0]) * (size_t)(p->nq - i));
		p->nq -= i;
	}
}

/*
 * The entry holding the lease or offer this MAC has or would get, NULL
 * when the pool has nothing for it.  A new entry comes back LT_FREE with
 * its range already taken in the allocator: the caller offers, binds or
 * drops it.
 */
static struct lt_entry *lease_for(struct prov *p, const struct dhcp_msg *m,
				  int model)
{
	const struct model *md = &p->conf.policy.models[model];
	struct lt_entry *e = lt_get(&p->lt, m->chaddr);
	uint32_t priv, pub;
	uint16_t first, last;
	int r, tries;

	/* Sticky: the MAC's own lease or offer, unless its range no longer
	 * has the model's size. */
	if (e && (uint32_t)(e->port_last - e->port_first + 1) ==
			 md->slots * p->conf.slot_size) {
		if (e->model != model) {
			/* Another model, another file name. */
			remove_config(p, e);
			e->flags &= (uint8_t)~LT_RENDERED;
			e->model = (uint16_t)model;
		}
		return e;
	}
	if (e) {
		if (e->state == LT_BOUND)
			unbind(p, e, "resize");
		else
			release_range(p, e);
		lt_del(&p->lt, e);
	}
	/* An offer nobody took yet never keeps a phone out: when the pool
	 * is full, the oldest offers give their ranges back (a DISCOVER
	 * flood holds ranges only until real phones need them). */
	for (tries = 0;; tries++) {
		struct lt_entry *o;

		r = alloc_pick(&p->alloc, m->chaddr, md->slots, &priv, &pub,
			       &first, &last);
		if (!r)
			r = alloc_take(&p->alloc, priv, pub, first, last);
		if (r != -ENOSPC || tries == EVICT_MAX ||
		    !(o = lt_oldest_offer(&p->lt)))
			break;
		drop_offer(p, o);
		p->n.offers_evicted++;
	}
	if (r == -ENOSPC) {
		p->n.exhausted++;
		logp(3,
		     "pool exhausted: no private address or %u free slots "
		     "for a %s (exhausted %lu times)",
		     md->slots, md->name, p->n.exhausted);
		return NULL;
	}
	if (r)
		return NULL;
	e = lt_add(&p->lt, m->chaddr);
	if (!e) {
		alloc_release(&p->alloc, priv, pub, first, last);
		logp(3, "Out of memory for a lease");
		return NULL;
	}
	e->priv_ip = htonl(priv);
	e->pub_ip = htonl(pub);
	e->port_first = first;
	e->port_last = last;
	e->model = (uint16_t)model;
	return e;
}

static void discover(struct prov *p, struct dhcp_msg *m, int64_t now)
{
	struct lt_entry *e;
	struct lease l;
	int model = validate(p, m);

	if (model < 0)
		return;
	e = lt_get(&p->lt, m->chaddr);
	if (!e && p->lt.noffered >= p->conf.max_offers) {
		/* A new offer: room is made by the oldest. */
		drop_offer(p, lt_oldest_offer(&p->lt));
		p->n.offers_evicted++;
	}
	e = lease_for(p, m, model);
	if (!e)
		return;
	if (e->state != LT_BOUND)
		lt_offer(&p->lt, e, now + p->conf.offer_hold);
	entry_lease(p, e, &l);
	p->n.offer++;
	reply(p, m, DHCPOFFER, &l, &p->conf.policy.models[model]);
}

static void request(struct prov *p, struct dhcp_msg *m, struct pending *batch,
		    int *nbatch, int64_t now)
{
	uint32_t sid = dhcp_opt_addr(m, OPT_SERVER_ID), want;
	const struct model *md;
	struct pending *pd;
	struct lt_entry *e;
	int model, r;

	/* Selecting another server's offer: ours is free again. */
	if (sid && sid != htonl(p->conf.server_id)) {
		e = lt_get(&p->lt, m->chaddr);
		if (e && e->state == LT_OFFERED)
			drop_offer(p, e);
		return;
	}
	model = validate(p, m);
	if (model < 0)
		return;
	md = &p->conf.policy.models[model];
	want = dhcp_opt_addr(m, OPT_REQUESTED_IP);
	if (!want)
		want = m->ciaddr; /* renewing or rebinding */
	e = lease_for(p, m, model);
	if (!e)
		return;
	if (want != e->priv_ip) {
		/* INIT-REBOOT or a stale address: not yours. */
		if (e->state == LT_FREE)
			drop_offer(p, e);
		p->n.nak++;
		reply(p, m, DHCPNAK, NULL, NULL);
		return;
	}
	pd = &batch[*nbatch];
	pd->req = m;
	pd->model = model;
	pd->was = e->state;
	pd->was_until = e->until;
	entry_lease(p, e, &pd->lease);
	pd->lease.expires = now + md->lease_time;
	vendor_of(m, pd->lease.vendor, sizeof(pd->lease.vendor));
	r = lease_store_put(p->store, &pd->lease, now);
	if (r) {
		if (e->state == LT_FREE)
			drop_offer(p, e);
		p->n.store_failed++;
		logp(4, "Failed to store lease: %s", strerror(-r));
		return;
	}
	/* Bound now for the packets that follow in this wake-up; undone if
	 * the commit fails.  The ACK waits for the commit. */
	lt_bind(&p->lt, e, pd->lease.expires);
	(*nbatch)++;
}

static void release(struct prov *p, struct dhcp_msg *m, int64_t now)
{
	struct lt_entry *e = lt_get(&p->lt, m->chaddr);
	uint32_t addr = m->type == DHCPDECLINE ?
				dhcp_opt_addr(m, OPT_REQUESTED_IP) :
				m->ciaddr;

	if (!e)
		return;
	if (e->state == LT_OFFERED) {
		if (m->type == DHCPDECLINE && addr == e->priv_ip) {
			drop_offer(p, e);
			quarantine(p, addr, now);
		}
		return;
	}
	/* Only for the address it holds (RFC 2131 4.3.3, 4.3.4). */
	if (addr && addr != e->priv_ip)
		return;
	if (lease_store_del(p->store, m->chaddr)) {
		p->n.store_failed++;
		return;
	}
	unbind(p, e, m->type == DHCPRELEASE ? "release" : "decline");
	if (m->type == DHCPDECLINE)
		quarantine(p, e->priv_ip, now);
	lt_del(&p->lt, e);
}

static void handle(struct prov *p, struct dhcp_msg *m, struct pending *batch,
		   int *nbatch, int64_t now)
{
	if (m->op != DHCP_BOOTREQUEST || m->htype != 1 || m->hlen != 6) {
		p->n.ignored++;
		return;
	}
	switch (m->type) {
	case DHCPDISCOVER:
		p->n.discover++;
		discover(p, m, now);
		return;
	case DHCPREQUEST:
		p->n.request++;
		request(p, m, batch, nbatch, now);
		return;
	case DHCPRELEASE:
		p->n.release++;
		release(p, m, now);
		return;
	case DHCPDECLINE:
		p->n.decline++;
		release(p, m, now);
		return;
	case DHCPINFORM: {
		int model = validate(p, m);

		p->n.inform++;
		if (model >= 0)
			reply(p, m, DHCPACK, NULL,
			      &p->conf.policy.models[model]);
		return;
	}
	default:
		p->n.ignored++;
	}
}

/* The model's template, read once at start (not once per lease). */
static int load_templates(struct prov *p)
{
	int i;

	for (i = 0; i < p->conf.policy.nmodels; i++) {
		const struct model *m = &p->conf.policy.models[i];
		char path[512];
		FILE *f;
		long n;

		snprintf(path, sizeof(path), "%s/%s%s", p->tmpl_dir, m->tmpl,
			 strcmp(m->tmpl, "cisco") ? ".cfg" : ".cnf.xml");
		f = fopen(path, "re");
		if (!f) {
			logp(3, "Failed to open template %s: %s", path,
			     strerror(errno));
			return -errno;
		}
		if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 ||
		    n >= 65536 || fseek(f, 0, SEEK_SET) ||
		    !(p->tmpl_text[i] = calloc(1, (size_t)n + 1)) ||
		    fread(p->tmpl_text[i], 1, (size_t)n, f) != (size_t)n) {
			logp(3, "Failed to read template %s", path);
			fclose(f);
			return -EIO;
		}
		fclose(f);
	}
	return 0;
}

/* Is the entry's config file there, with content?  A crash can leave a
 * renamed but empty file behind (written without fsync). */
static int config_present(struct prov *p, const struct lt_entry *e)
{
	const struct model *md = model_of(p, e);
	char file[64], path[600];
	struct stat st;

	if (!md || render_file_name(md->tmpl, e->mac, file, sizeof(file)))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", p->conf.tftp_root, file);
	return !stat(path, &st) && st.st_size > 0;
}

static int write_config(struct prov *p, const struct lease *l,
			const struct model *m)
{
	const char *tmpl = p->tmpl_text[m - p->conf.policy.models];
	struct render_var v[RENDER_NVARS];
	struct render_storage st;
	char out[16384];
	int r;

	if (!tmpl)
		return 0;
	r = render_phone_vars(v, &st, m->tmpl, l->mac, l->priv_ip, l->pub_ip,
			      l->port_first, l->port_last, m->image,
			      htonl(p->conf.tftp_server), "");
	if (!r)
		r = render_text(tmpl, v, RENDER_NVARS, out, sizeof(out));
	if (r >= 0) {
		/* tftpd's gating (tftpd/README.md): the entry that says who
		 * may read the file goes in first. */
		char gate[300], who[INET_ADDRSTRLEN + 1];
		int len = r;

		snprintf(gate, sizeof(gate), "%s/.leases", p->conf.tftp_root);
		ip4(l->priv_ip, who);
		strcat(who, "\n");
		r = render_write_atomic(gate, st.file, who, strlen(who), 0);
		if (r == -ENOENT && !mkdir(gate, 0755))
			r = render_write_atomic(gate, st.file, who, strlen(who),
						0);
		if (r >= 0)
			r = render_write_atomic(p->conf.tftp_root, st.file, out,
						(size_t)len, 0);
	}
	if (r < 0) {
		p->n.render_failed++;
		logp(4, "Failed to write config %s: %s", st.file, strerror(-r));
	}
	return r < 0 ? r : 0;
}

/* The data plane holds this lease as it is? */
static int mapped(struct prov *p, const struct lease *l)
{
	struct nappt_phone want, cur;

	map_sync_phone(l, &want);
	return !nappt_phone_get(&p->maps, l->priv_ip, &cur) &&
	       cur.pub_ip == want.pub_ip && cur.port_first == want.port_first &&
	       cur.port_last == want.port_last && !memcmp(cur.mac, want.mac, 6);
}

/* Commit the batch, then ACK and map each lease in it. */
static void flush(struct prov *p, struct pending *batch, int nbatch)
{
	int i, r;

	if (!nbatch)
		return;
	r = lease_store_commit(p->store);
	if (r) {
		logp(3, "Failed to commit %d leases: %s; no ACK sent", nbatch,
		     strerror(-r));
		p->n.store_failed += (unsigned long)nbatch;
		/* Back to where each entry stood, newest first (one MAC may
		 * be in the batch twice). */
		for (i = nbatch - 1; i >= 0; i--) {
			struct lt_entry *e = lt_get(&p->lt, batch[i].lease.mac);

			if (!e)
				continue;
			if (batch[i].was == LT_FREE)
				drop_offer(p, e);
			else if (batch[i].was == LT_OFFERED)
				lt_offer(&p->lt, e, batch[i].was_until);
			else
				e->until = batch[i].was_until;
		}
		return;
	}
	for (i = 0; i < nbatch; i++) {
		const struct model *m = &p->conf.policy.models[batch[i].model];
		const struct lease *l = &batch[i].lease;
		struct lt_entry *e = lt_get(&p->lt, l->mac);

		/* Released again in the same wake-up: nothing to ACK. */
		if (!e || e->state != LT_BOUND || e->priv_ip != l->priv_ip)
			continue;
		/* The phone's file is in place before it hears the ACK;
		 * a renewal with the same range leaves it as it is. */
		if (!(e->flags & LT_RENDERED) || !config_present(p, e)) {
			if (!write_config(p, l, m))
				e->flags |= LT_RENDERED;
		}
		if (p->have_maps &&
		    (!(e->flags & LT_MAPPED) || !mapped(p, l))) {
			r = map_sync_add(&p->maps, l);
			if (r) {
				p->n.map_failed++;
				logp(3, "Failed to map lease: %s",
				     strerror(-r));
			} else {
				e->flags |= LT_MAPPED;
			}
		}
		p->n.ack++;
		reply(p, batch[i].req, DHCPACK, l, m);
		attribution(batch[i].was == LT_BOUND ? "renew" : "new", l);
	}
}

static int expire_cb(const struct lease *l, void *arg)
{
	struct prov *p = arg;
	struct lt_entry *e = lt_get(&p->lt, l->mac);

	p->n.expired++;
	if (e && e->state == LT_BOUND) {
		unbind(p, e, "expire");
		lt_del(&p->lt, e);
	}
	return 0;
}

static int load_cb(const struct lease *l, void *arg)
{
	struct prov *p = arg;
	struct lt_entry *e;
	int i;

	if (alloc_take(&p->alloc, ntohl(l->priv_ip), ntohl(l->pub_ip),
		       l->port_first, l->port_last)) {
		logp(4, "stored lease overlaps another, or is outside the "
			"pools; ignored");
		return 0;
	}
	e = lt_add(&p->lt, l->mac);
	if (!e)
		return -ENOMEM;
	e->priv_ip = l->priv_ip;
	e->pub_ip = l->pub_ip;
	e->port_first = l->port_first;
	e->port_last = l->port_last;
	e->model = NO_MODEL;
	for (i = 0; i < p->conf.policy.nmodels; i++)
		if (!strcmp(p->conf.policy.models[i].name, l->model))
			e->model = (uint16_t)i;
	lt_bind(&p->lt, e, l->expires);
	/* Config files are written without fsync on the hot path: the
	 * store is the truth, so rewrite what a crash may have lost. */
	if (e->model != NO_MODEL &&
	    (config_present(p, e) || !write_config(p, l, model_of(p, e))))
		e->flags |= LT_RENDERED;
	return 0;
}

/* Counters for a scraper (node_exporter's textfile collector), atomically
 * replaced: the log is for events, not for numbers. */
static void write_stats(struct prov *p)
{
	const struct counters *n = &p->n;
	char buf[4096], dir[256], *slash;
	int len;

	if (!p->conf.stats_file[0])
		return;
	len = snprintf(
		buf, sizeof(buf),
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
		"# TYPE nappt_dhcp_offers_evicted_total counter\n"
		"nappt_dhcp_offers_evicted_total %lu\n"
		"# TYPE nappt_dhcp_offers_expired_total counter\n"
		"nappt_dhcp_offers_expired_total %lu\n"
		"# TYPE nappt_dhcp_leases_expired_total counter\n"
		"nappt_dhcp_leases_expired_total %lu\n"
		"# TYPE nappt_dhcp_errors_total counter\n"
		"nappt_dhcp_errors_total{stage=\"store\"} %lu\n"
		"nappt_dhcp_errors_total{stage=\"map\"} %lu\n"
		"nappt_dhcp_errors_total{stage=\"render\"} %lu\n"
		"# TYPE nappt_dhcp_leases gauge\n"
		"nappt_dhcp_leases %u\n"
		"# TYPE nappt_dhcp_offers_outstanding gauge\n"
		"nappt_dhcp_offers_outstanding %u\n"
		"# TYPE nappt_dhcp_declined_addresses gauge\n"
		"nappt_dhcp_declined_addresses %d\n",
		n->discover, n->request, n->release, n->decline, n->inform,
		n->malformed, n->ignored, n->offer, n->ack, n->nak,
		n->rejected_mac, n->rejected_vendor, n->exhausted,
		n->offers_evicted, n->offers_expired, n->expired,
		n->store_failed, n->map_failed, n->render_failed,
		p->lt.used - p->lt.noffered, p->lt.noffered, p->nq);
	snprintf(dir, sizeof(dir), "%s", p->conf.stats_file);
	slash = strrchr(dir, '/');
	if (!slash || len <= 0 || (size_t)len >= sizeof(buf))
		return;
	*slash = '\0';
	if (render_write_atomic(dir[0] ? dir : "/", slash + 1, buf, (size_t)len,
				0) < 0 &&
	    !p->n.render_failed++)
		logp(4, "Failed to write %s", p->conf.stats_file);
}

static void log_counters(struct prov *p, const char *why)
{
	logp(6,
	     "%s: %lu discover, %lu offer, %lu request, %lu ack, %lu nak, "
	     "%lu release, %lu decline, %lu rejected (mac), %lu rejected "
	     "(vendor), %lu exhausted, %lu malformed, %lu offers evicted, "
	     "%u leases, %u offers outstanding",
	     why, p->n.discover, p->n.offer, p->n.request, p->n.ack, p->n.nak,
	     p->n.release, p->n.decline, p->n.rejected_mac,
	     p->n.rejected_vendor, p->n.exhausted, p->n.malformed,
	     p->n.offers_evicted, p->lt.used - p->lt.noffered, p->lt.noffered);
}

/* --- privileges ------------------------------------------------------------ */

static int capset_only(uint64_t keep)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { 0 };

	d[0].effective = d[0].permitted = (uint32_t)keep;
	d[1].effective = d[1].permitted = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

/*
 * Once the socket is bound and the maps are open, the packet parser needs
 * no capability but CAP_NET_ADMIN (ARP entries for unicast replies): map
 * writes go through the open file descriptors.  Kernels before 6.5 still
 * want CAP_BPF for those on some distributions (unprivileged BPF off): a
 * child tries first, and CAP_BPF stays only if it must.
 */
static void drop_privileges(struct prov *p)
{
	uint64_t keep = 1ULL << CAP_NET_ADMIN;
	int cap, status;

	if (p->have_maps) {
		pid_t c = fork();

		if (c == 0) {
			struct nappt_phone ph;

			capset_only(keep);
			_exit(nappt_phone_get(&p->maps, htonl(p->conf.lan_net),
					      &ph) == -EPERM);
		}
		if (c < 0 || waitpid(c, &status, 0) != c ||
		    !WIFEXITED(status) || WEXITSTATUS(status)) {
			keep |= 1ULL << CAP_BPF;
			logp(5, "This kernel wants CAP_BPF for map writes "
				"through an open map: keeping it");
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (!(keep & (1ULL << cap)))
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); /* EPERM: fine */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (capset_only(keep))
		logp(4, "Failed to drop capabilities: %s", strerror(errno));
}

static int mkdir_p(const char *path)
{
	char buf[256];
	size_t i;

	snprintf(buf, sizeof(buf), "%s", path);
	for (i = 1; buf[i]; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return -errno;
		buf[i] = '/';
	}
	if (mkdir(buf, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* --- setup ----------------------------------------------------------------- */

static int open_socket(struct prov *p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(67) };
	int one = 1, rcvbuf = 4 << 20, fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Only the LAN: a DHCP server must not answer on the WAN. */
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, p->conf.interface,
		       (socklen_t)strlen(p->conf.interface)) ||
	    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    /* Room for a burst while a commit waits for the disk. */
	    (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
			sizeof(rcvbuf)) &&
	     setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf))) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int check_maps(struct prov *p)
{
	const struct nappt_config *c = &p->maps.cfg;

	if (ntohl(c->lan_net) != p->conf.lan_net ||
	    c->lan_size != p->conf.lan_size ||
	    ntohl(c->pub_net) != p->conf.pub_net ||
	    c->pub_count != p->conf.pub_count ||
	    (1U << c->slot_shift) != p->conf.slot_size) {
		logp(3,
		     "The data plane was attached with other pools or "
		     "slot size than %s says; refusing to write its maps",
		     "the configuration");
		return -EINVAL;
	}
	return 0;
}

static void usage(void)
{
	printf("Usage: nappt-provisioner [-c FILE] [-n] [--no-maps] "
	       "[--templates DIR]\n"
	       "\n"
	       "DHCP server for IP phones: validates each phone (MAC, then "
	       "vendor class),\n"
	       "leases it a private address and a port range on a public "
	       "address, stores\n"
	       "the lease durably, then ACKs it and writes the mapping into "
	       "the data plane.\n"
	       "\n"
	       "  -c, --config FILE   configuration (default "
	       "/etc/nappt/provisioner.conf)\n"
	       "  -n, --check         check the configuration and exit\n"
	       "      --no-maps       do not touch the data plane (testing)\n"
	       "      --templates DIR per-phone config templates (default "
	       "/usr/local/share/nappt/templates)\n"
	       "  -h, --help          this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "no-maps", no_argument, NULL, 'M' },
		{ "templates", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *conf_path = "/etc/nappt/provisioner.conf";
	static struct prov p;
	struct pending *batch;
	struct rxbuf {
		uint8_t buf[2048];
		struct dhcp_msg m;
	} * rx;
	int check = 0, no_maps = 0, c, r, i;
	time_t last_expire = 0, last_stats = 0;

	snprintf(p.tmpl_dir, sizeof(p.tmpl_dir),
		 "/usr/local/share/nappt/templates");
	while ((c = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'M':
			no_maps = 1;
			break;
		case 'T':
			snprintf(p.tmpl_dir, sizeof(p.tmpl_dir), "%s", optarg);
			break;
		case 'h':
			usage();
			return 0;
		default:
			fprintf(stderr, "Try 'nappt-provisioner --help'.\n");
			return 2;
		}
	}
	r = conf_load(conf_path, &p.conf, stderr);
	if (r < 0) {
		logp(3, "Failed to read %s: %s", conf_path, strerror(-r));
		return 1;
	}
	if (r > 0) {
		logp(3, "%s: %d error(s)", conf_path, r);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK (%d models)\n", conf_path,
		       p.conf.policy.nmodels);
		return 0;
	}
	if (!p.conf.interface[0]) {
		logp(3, "%s: [global] interface is required", conf_path);
		return 1;
	}
	p.ifindex = (int)if_nametoindex(p.conf.interface);
	if (!p.ifindex) {
		logp(3, "Failed to find interface %s: %s", p.conf.interface,
		     strerror(errno));
		return 1;
	}
	{
		unsigned int shift = 0;

		while ((1U << shift) < p.conf.slot_size)
			shift++;
		r = alloc_init(&p.alloc, p.conf.pub_net, p.conf.pub_count,
			       shift, p.conf.lan_net, p.conf.lan_size);
		if (r) {
			logp(3, "Failed to set up the allocator: %s",
			     strerror(-r));
			return 1;
		}
	}
	for (i = 0; i < p.conf.nreserved; i++) {
		uint32_t port;

		for (port = p.conf.reserved[i][0];
		     port <= p.conf.reserved[i][1]; port++)
			alloc_reserve_port(&p.alloc, (uint16_t)port);
	}
	/* The gateway's own address is not a phone's. */
	if (p.conf.gateway - p.conf.lan_net < p.conf.lan_size)
		p.alloc.lan_used[p.conf.gateway - p.conf.lan_net] = 1;

	if (load_templates(&p))
		return 1;
	r = mkdir_p(p.conf.tftp_root);
	if (r) {
		logp(3, "Failed to create %s: %s", p.conf.tftp_root,
		     strerror(-r));
		return 1;
	}
	r = lease_store_open(p.conf.lease_db, &p.store);
	if (r) {
		logp(3, "Failed to open lease store %s: %s", p.conf.lease_db,
		     strerror(-r));
		return 1;
	}
	r = lt_init(&p.lt, 4096);
	if (!r)
		r = lease_store_foreach(p.store, 1, time(NULL), load_cb, &p);
	if (r < 0) {
		logp(3, "Failed to load the leases: %s", strerror(-r));
		return 1;
	}
	logp(6, "%u leases loaded", p.lt.used);
	if (!no_maps) {
		struct sync_stats st;

		r = nappt_maps_open(&p.maps, p.conf.pin_dir);
		if (r) {
			logp(3,
			     "Failed to open the data plane's maps in %s: "
			     "%s (is it attached? --no-maps to run "
			     "without)",
			     p.conf.pin_dir, strerror(-r));
			return 1;
		}
		if (check_maps(&p))
			return 1;
		p.have_maps = 1;
		r = map_sync_reconcile(p.store, &p.maps, time(NULL), &st);
		if (r)
			logp(3, "Failed to reconcile maps: %s", strerror(-r));
		else
			logp(6,
			     "maps reconciled: %u kept, %u added, %u "
			     "updated, %u removed, %u failed",
			     st.kept, st.added, st.updated, st.removed,
			     st.failed);
	}
	p.fd = open_socket(&p);
	if (p.fd < 0) {
		logp(3, "Failed to open DHCP socket on %s port 67: %s",
		     p.conf.interface, strerror(-p.fd));
		return 1;
	}
	batch = calloc(BATCH, sizeof(*batch));
	rx = calloc(BATCH, sizeof(*rx));
	p.out = calloc(OUT_MAX, sizeof(*p.out));
	if (!batch || !rx || !p.out)
		return 1;
	drop_privileges(&p);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);
	logp(6, "serving DHCP on %s", p.conf.interface);
	log_batched = 1;

	while (!stop) {
		struct pollfd pfd = { .fd = p.fd, .events = POLLIN };
		struct mmsghdr mh[BATCH];
		struct iovec iov[BATCH];
		time_t now = time(NULL);
		int nbatch = 0, n;

		if (now != last_expire) {
			last_expire = now;
			lease_store_expire(p.store, now, expire_cb, &p);
			expire_offers(&p, now);
			expire_quarantine(&p, now);
			if (now - last_stats >= STATS_EVERY) {
				last_stats = now;
				write_stats(&p);
			}
		}
		if (dump) {
			dump = 0;
			log_counters(&p, "counters");
		}
		log_flush();
		r = poll(&pfd, 1, 1000);
		if (r <= 0)
			continue;
		for (i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ rx[i].buf, sizeof(rx[i].buf) };
			mh[i] = (struct mmsghdr){ .msg_hdr = {
							  .msg_iov = &iov[i],
							  .msg_iovlen = 1 } };
		}
		n = recvmmsg(p.fd, mh, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		/* One transaction for this wake-up's REQUESTs. */
		if (lease_store_begin(p.store)) {
			p.n.store_failed++;
			continue;
		}
		for (i = 0; i < n; i++) {
			if (dhcp_parse(rx[i].buf, mh[i].msg_len, &rx[i].m)) {
				p.n.malformed++;
				continue;
			}
			handle(&p, &rx[i].m, batch, &nbatch, now);
		}
		if (nbatch)
			flush(&p, batch, nbatch);
		else
			lease_store_commit(p.store);
		send_out(&p);
	}
	log_counters(&p, "stopping");
	log_flush();
	log_batched = 0;
	write_stats(&p);
	free(batch);
	free(rx);
	free(p.out);
	close(p.fd);
	lt_free(&p.lt);
	lease_store_close(p.store);
	nappt_maps_close(&p.maps);
	alloc_free(&p.alloc);
	return 0;
}
