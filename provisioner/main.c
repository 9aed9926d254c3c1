// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nappt-provisioner: the DHCP server that turns a valid phone into a
 * lease (private address + port range on a public address), stores it
 * durably, then ACKs it and writes the mapping into the data plane.
 *
 * This file is the daemon around the protocol core (server.h): the
 * socket, the clock, the data plane's maps, privileges, signals.  One
 * serving thread with one poll loop; every wake-up reads up to BATCH
 * messages (recvmmsg), commits what they wrote in one transaction and
 * sends its replies in one sendmmsg.  A second thread does nothing but
 * fdatasync the store's log: while it syncs, the serving thread goes on,
 * and every REQUEST that arrives meanwhile waits for the next sync (group
 * commit).  ACKs leave when the sync covering their lease returns.  A
 * third folds the store's log into the store (lease_store_checkpoint),
 * so that neither of the others ever waits for that.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "conf.h"
#include "dhcp-msg.h"
#include "lease-store.h"
#include "libnappt.h"
#include "log.h"
#include "map-sync.h"
#include "privsep.h"
#include "startup.h"
#include "render.h"
#include "server.h"

#define BATCH 64 /* messages read per wake-up */
#define OUT_MAX (2 * BATCH) /* replies queued before a sendmmsg */
#define STATS_EVERY 5 /* seconds between two writes of the stats file */
/* After a failed removal, the maps are reconciled with the store at most
 * this often (else every reconcile_every s: mappings whose lease is gone,
 * half-written ones, orphan slots). */
#define RECONCILE_RETRY 5
/* Stop reading while this many REQUESTs wait for the disk: the socket
 * buffer holds the rest, and nothing is dropped for want of room. */
#define PENDING_HIGH (4096 - 2 * BATCH)

static volatile sig_atomic_t stop, dump, hup;

struct out {
	struct sockaddr_in to;
	size_t len;
	uint8_t buf[DHCP_MAX_REPLY];
};

struct daemon {
	struct prov_conf conf;
	struct lease_store *store;
	struct srv *srv;
	struct nappt_maps maps; /* until the map writer has them */
	struct pm *pm; /* the map writer */
	int have_maps;
	int reconcile_due; /* a map removal failed: reconcile soon */
	uid_t uid; /* the parser's */
	gid_t gid;
	int fd;
	struct out *out;
	unsigned int nout;
};

/* The sync thread and what the two threads share. */
struct syncer {
	pthread_t thread, ckpt_thread;
	int req_fd, done_fd; /* eventfds: "sync now", "synced" */
	int ckpt_fd; /* eventfd: "a sync returned, checkpoint if due" */
	struct lease_store *store; /* for the checkpoint thread only */
	int wal_fd;
	_Atomic uint64_t want, done;
	_Atomic int err; /* errno of a failed sync */
	int started, inflight;
	uint64_t committed; /* the last group committed */
};

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump = 1;
	else if (sig == SIGHUP)
		hup = 1; /* read the parts owned now (a takeover) */
	else
		stop = 1;
}

static const char *ip4(uint32_t be, char *buf)
{
	return inet_ntop(AF_INET, &be, buf, INET_ADDRSTRLEN);
}

/* --- the core's interfaces -------------------------------------------------- */

/*
 * The queued replies leave in one system call.  Replies to one
 * destination (a relay agent, the broadcast address) that follow each
 * other leave as one UDP GSO datagram (UDP_SEGMENT, Linux 4.18): the
 * stack is crossed once and the datagram cut into equal segments at the
 * device (or in software before it), so each reply is padded with zeros
 * after its end option to the longest of the run, never beyond the 548
 * bytes every client accepts (RFC 2131 2: 576-byte IP datagrams).
 */
#define GSO_MAX_SEGS 64
#define GSO_MAX_LEN (576 - 28)

static int gso_ok = 1; /* cleared for good if the kernel refuses */

static int same_dest(const struct out *a, const struct out *b)
{
	return a->to.sin_addr.s_addr == b->to.sin_addr.s_addr &&
	       a->to.sin_port == b->to.sin_port;
}

static void send_out(struct daemon *d)
{
	static const uint8_t zeros[GSO_MAX_LEN];
	struct mmsghdr mh[OUT_MAX];
	struct iovec iov[2 * OUT_MAX];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl[OUT_MAX];
	unsigned int first[OUT_MAX], i, j, nmsg = 0, niov = 0, done = 0;

	for (i = 0; i < d->nout; i = j) {
		size_t seg = d->out[i].len;
		struct msghdr *h = &mh[nmsg].msg_hdr;

		/* The run of replies to the same place, short enough. */
		for (j = i + 1; gso_ok && j < d->nout && j - i < GSO_MAX_SEGS &&
				same_dest(&d->out[i], &d->out[j]);
		     j++)
			if (d->out[j].len > seg)
				seg = d->out[j].len;
		if (seg > GSO_MAX_LEN)
			j = i + 1;
		memset(h, 0, sizeof(*h));
		h->msg_name = &d->out[i].to;
		h->msg_namelen = sizeof(d->out[i].to);
		h->msg_iov = &iov[niov];
		first[nmsg] = i;
		if (j == i + 1) {
			iov[niov++] =
				(struct iovec){ d->out[i].buf, d->out[i].len };
			h->msg_iovlen = 1;
		} else {
			struct cmsghdr *cm;
			unsigned int k;

			for (k = i; k < j; k++) {
				iov[niov++] = (struct iovec){ d->out[k].buf,
							      d->out[k].len };
				if (d->out[k].len < seg)
					iov[niov++] = (struct iovec){
						(void *)zeros,
						seg - d->out[k].len
					};
			}
			h->msg_iovlen = (size_t)(&iov[niov] - h->msg_iov);
			h->msg_control = ctl[nmsg].buf;
			h->msg_controllen = sizeof(ctl[nmsg].buf);
			cm = CMSG_FIRSTHDR(h);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)CMSG_DATA(cm) = (uint16_t)seg;
		}
		nmsg++;
	}
	while (done < nmsg) {
		int r = sendmmsg(d->fd, mh + done, nmsg - done, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			char a[INET_ADDRSTRLEN];
			struct out *o = &d->out[first[done]];

			if (mh[done].msg_hdr.msg_control && gso_ok &&
			    (errno == EINVAL || errno == EIO ||
			     errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
				/* No UDP GSO here: one by one from now on. */
				unsigned int n = d->nout - first[done];

				logp(LOG_NOTICE_,
				     "UDP segmentation refused (%s): sending "
				     "replies one by one",
				     strerror(errno));
				gso_ok = 0;
				memmove(d->out, o, n * sizeof(*o));
				d->nout = n;
				send_out(d);
				return;
			}
			/* This one is lost (the client retransmits); the
			 * others still go. */
			logp(LOG_WARN_, "Failed to send reply to %s: %s",
			     ip4(o->to.sin_addr.s_addr, a), strerror(errno));
			done++;
			continue;
		}
		done += (unsigned int)r;
	}
	d->nout = 0;
}

/*
 * The ARP entries set in the last ARP_FRESH seconds: the ACK that follows
 * an OFFER to the same phone needs no second round trip to the writer.
 */
#define ARP_CACHE 256
#define ARP_FRESH 30
/* The DHCP core's clock (issue 10, defect 8): a step of the wall clock
 * must neither expire nor revive leases; only the ends written to the
 * store follow the wall clock (srv_tick). */
static time_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static struct arp_seen {
	uint32_t ip;
	uint8_t mac[6];
	time_t at;
} arp_seen[ARP_CACHE];

static int arp_set(struct daemon *d, uint32_t ip, const uint8_t mac[6])
{
	struct arp_seen *a = &arp_seen[(ntohl(ip) * 2654435761U) >> 24];
	time_t now = mono_now();
	int r;

	if (a->ip == ip && !memcmp(a->mac, mac, 6) && now - a->at < ARP_FRESH)
		return 0;
	r = pm_arp(d->pm, ip, mac);
	if (r) {
		a->ip = 0;
		return r;
	}
	a->ip = ip;
	memcpy(a->mac, mac, 6);
	a->at = now;
	return 0;
}

static void io_send(void *arg, const struct srv_dest *dst, const uint8_t *buf,
		    size_t len)
{
	struct daemon *d = arg;
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(dst->port),
				  .sin_addr.s_addr = dst->addr };
	struct out *o;

	/* RFC 2131 4.1: the client cannot answer ARP yet; the kernel is
	 * told where its new address is (as dnsmasq does), by the map
	 * writer, which holds CAP_NET_ADMIN; else the reply is broadcast. */
	if (dst->arp && arp_set(d, dst->addr, dst->mac))
		to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	if (len > sizeof(o->buf))
		return;
	if (d->nout == OUT_MAX)
		send_out(d);
	o = &d->out[d->nout++];
	o->to = to;
	o->len = len;
	memcpy(o->buf, buf, len);
}

/* The map writer gone means no lease can reach the data plane: stop,
 * and let the service manager start both again. */
static int writer_result(int r)
{
	if (r == -EPIPE && !stop) {
		logp(LOG_ERR_, "The map writer is gone; stopping");
		stop = 2;
	}
	return r;
}

static int io_map_add(void *arg, const struct lease *l)
{
	return writer_result(pm_map_add(((struct daemon *)arg)->pm, l));
}

/*
 * A removal that failed is not forgotten: a mapping without a lease would
 * send another phone's inbound traffic to whoever holds the address next.
 * The next reconciliation (at most RECONCILE_RETRY s later) removes every
 * mapping without a live lease, this one included.
 */
static int io_map_del(void *arg, const struct lease *l)
{
	struct daemon *d = arg;
	int r = writer_result(pm_map_del(d->pm, l));

	if (r && r != -EPIPE) {
		char a[INET_ADDRSTRLEN];

		logp(LOG_ERR_,
		     "Failed to remove the mapping of %s: %s; "
		     "reconciling the maps",
		     ip4(l->priv_ip, a), strerror(-r));
		d->reconcile_due = 1;
	}
	return r;
}

static int io_map_check(void *arg, const struct lease *l)
{
	int r = writer_result(pm_map_check(((struct daemon *)arg)->pm, l));

	return r < 0 ? 1 : r; /* unknown is not missing */
}

static void log_sync(const struct sync_stats *st)
{
	logp(st->failed ? LOG_ERR_ : LOG_INFO_,
	     "maps reconciled: %u kept, %u added, %u updated, %u removed, %u "
	     "orphan slots cleared, %u failed, %u not at their derived "
	     "address (not mapped)",
	     st->kept, st->added, st->updated, st->removed, st->orphans,
	     st->failed, st->underived);
}

static int store_each(void *src, lease_cb cb, void *arg)
{
	/* Every stored lease: the core ends leases on its own clock and
	 * deletes their rows; one in its grace (README, Clocks) keeps its
	 * mapping although its stored end has passed. */
	return lease_store_foreach(src, 0, 0, cb, arg);
}

static int io_map_reconcile(void *arg)
{
	struct daemon *d = arg;
	struct sync_stats st;
	int r = writer_result(pm_reconcile(d->pm, store_each, d->store, &st));

	if (r)
		logp(LOG_ERR_, "Failed to reconcile maps: %s", strerror(-r));
	else if (st.added || st.updated || st.removed || st.orphans ||
		 st.failed)
		log_sync(&st); /* quiet when there was nothing to do */
	if (!r && !st.failed)
		d->reconcile_due = 0;
	return r;
}

/* --- durability ------------------------------------------------------------ */

static int sync_wake(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static void *sync_main(void *arg)
{
	struct syncer *y = arg;
	uint64_t v;

	for (;;) {
		if (read(y->req_fd, &v, sizeof(v)) != sizeof(v)) {
			if (errno == EINTR)
				continue;
			break;
		}
		v = atomic_load(&y->want);
		if (v == UINT64_MAX)
			break; /* told to stop */
		if (y->wal_fd >= 0 && fdatasync(y->wal_fd))
			atomic_store(&y->err, errno);
		atomic_store(&y->done, v);
		v = 1;
		if (write(y->done_fd, &v, sizeof(v)) != sizeof(v))
			atomic_store(&y->err, errno ? errno : EIO);
		/* Not woken: the store checkpoints inline past its limit. */
		sync_wake(y->ckpt_fd);
	}
	return NULL;
}

/*
 * A checkpoint syncs the log and the store and so runs for tens of ms on
 * a busy disk: here it delays neither the serving thread nor the next
 * group's sync.  One that fails leaves the frames in the log, which stays
 * the durable copy; the store checkpoints inline if the log grows on.
 */
static void *ckpt_main(void *arg)
{
	struct syncer *y = arg;
	uint64_t v;

	for (;;) {
		if (read(y->ckpt_fd, &v, sizeof(v)) != sizeof(v)) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (atomic_load(&y->want) == UINT64_MAX)
			break;
		lease_store_checkpoint(y->store);
	}
	return NULL;
}

static int sync_start(struct syncer *y)
{
	sigset_t all, was;
	int r;

	y->req_fd = eventfd(0, EFD_CLOEXEC);
	y->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	y->ckpt_fd = eventfd(0, EFD_CLOEXEC);
	if (y->req_fd < 0 || y->done_fd < 0 || y->ckpt_fd < 0)
		return -errno;
	/* Signals are the serving thread's: the other threads block them
	 * all, so a SIGTERM always wakes the poll that must act on it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &was);
	r = pthread_create(&y->ckpt_thread, NULL, ckpt_main, y);
	if (!r) {
		r = pthread_create(&y->thread, NULL, sync_main, y);
		if (r) {
			atomic_store(&y->want, UINT64_MAX);
			sync_wake(y->ckpt_fd);
			pthread_join(y->ckpt_thread, NULL);
		}
	}
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	if (r)
		return -r;
	y->started = 1;
	return 0;
}

static void sync_stop(struct syncer *y)
{
	uint64_t one = 1;

	if (!y->started)
		return;
	atomic_store(&y->want, UINT64_MAX);
	if (write(y->req_fd, &one, sizeof(one)) == sizeof(one))
		pthread_join(y->thread, NULL);
	if (sync_wake(y->ckpt_fd) == 0)
		pthread_join(y->ckpt_thread, NULL);
	y->started = 0;
}

/* Ask for a sync of everything committed so far, if none is running. */
static void sync_kick(struct daemon *d, struct syncer *y)
{
	uint64_t one = 1;

	if (y->inflight || y->committed == atomic_load(&y->done))
		return;
	y->wal_fd = lease_store_sync_fd(d->store);
	atomic_store(&y->want, y->committed);
	y->inflight = 1;
	if (write(y->req_fd, &one, sizeof(one)) != sizeof(one))
		atomic_store(&y->err, errno);
}

/* A sync returned: ACK what it covered.  -errno if it failed. */
static int sync_done(struct daemon *d, struct syncer *y)
{
	uint64_t v;
	int err;

	if (read(y->done_fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	y->inflight = 0;
	err = atomic_load(&y->err);
	if (err)
		return -err;
	srv_durable(d->srv, atomic_load(&y->done));
	return 0;
}

static void commit(struct daemon *d, struct syncer *y)
{
	uint64_t group;
	int r = srv_commit(d->srv, &group);

	if (r == 0 && group)
		y->committed = group;
	if (r == -ENOTRECOVERABLE) {
		logp(LOG_ERR_, "Lost track of the leases; stopping");
		stop = 2;
	}
}

/* --- privileges ------------------------------------------------------------ */

/*
 * The server parses what anyone on the LAN sends.  Once everything
 * outside the phone directory is open (socket, store, templates, the map
 * writer forked), it becomes its own user, chrooted into the phone
 * directory, with no capability (privsep.h).  Fail closed: a step that
 * fails stops the daemon, it never serves half-dropped.  Runs before the
 * sync thread exists (credentials are per thread).
 */
static int enter_jail(struct daemon *d)
{
	int r = privsep_enter_jail(d->conf.tftp_root, d->uid, d->gid);

	if (r) {
		logp(LOG_ERR_,
		     "Failed to drop privileges (chroot %s, uid %u, gid %u): "
		     "%s; refusing to serve",
		     d->conf.tftp_root, (unsigned int)d->uid,
		     (unsigned int)d->gid, strerror(-r));
		return r;
	}
	/* The phone directory is the root now. */
	snprintf(d->conf.tftp_root, sizeof(d->conf.tftp_root), "/");
	return 0;
}

/*
 * The phone directory becomes the parser's root and only writable place:
 * owned by its user.  Never "/" or a directory others may write to.
 *
 * Threat: a compromised parser owns this directory, so before it crashes
 * (and is restarted) it may have replaced .leases with a symlink to any
 * path; root with CAP_CHOWN must then not follow it (chown would hand the
 * target to the parser, the start-up prune would unlink in it).  Every
 * step below is relative to a descriptor opened without following links.
 */
static int give_gate_dir(int dfd, uid_t uid, gid_t gid)
{
	struct stat st;
	int gfd, r = 0;

	if (!fstatat(dfd, ".leases", &st, AT_SYMLINK_NOFOLLOW) &&
	    !S_ISDIR(st.st_mode)) {
		logp(LOG_WARN_,
		     "The phone directory's .leases is not a directory (a "
		     "link planted by the parser?); replacing it");
		if (unlinkat(dfd, ".leases", 0))
			return -errno;
	}
	if (mkdirat(dfd, ".leases", 0755) && errno != EEXIST)
		return -errno;
	gfd = openat(dfd, ".leases",
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (gfd < 0)
		return -errno;
	if (fstat(gfd, &st) || fchown(gfd, uid, gid) ||
	    ((st.st_mode & 07777) != 0755 && fchmod(gfd, 0755)))
		r = -errno;
	close(gfd);
	return r;
}

static int give_phone_dir(struct daemon *d)
{
	char real[PATH_MAX];
	struct stat st;
	int dfd, r = 0;

	if (!realpath(d->conf.tftp_root, real))
		return -errno;
	if (!strcmp(real, "/"))
		return -EINVAL;
	if (strlen(real) >= sizeof(d->conf.tftp_root))
		return -ENAMETOOLONG;
	dfd = open(real, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstat(dfd, &st))
		r = -errno;
	else if (st.st_mode & S_IWOTH)
		r = -EPERM;
	else if (fchown(dfd, d->uid, d->gid) ||
		 ((st.st_mode & 07777) != 0755 && fchmod(dfd, 0755)))
		r = -errno;
	if (!r)
		r = give_gate_dir(dfd, d->uid, d->gid);
	close(dfd);
	if (r)
		return r;
	memcpy(d->conf.tftp_root, real, strlen(real) + 1);
	return 0;
}

/* --- setup ----------------------------------------------------------------- */

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

static int open_socket(struct daemon *d)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(67) };
	int one = 1, rcvbuf = 4 << 20, fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Only the LAN: a DHCP server must not answer on the WAN. */
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, d->conf.interface,
		       (socklen_t)strlen(d->conf.interface)) ||
	    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    /* Room for a burst while the store is busy. */
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

/*
 * Leases are indices into the pools: with other pools or another slot size
 * than the attached data plane's, every mapping would land on another
 * address.  Refused at start, naming both values.
 */
static int check_maps(struct daemon *d)
{
	char why[512];

	if (nappt_config_mismatch(&d->maps.cfg, htonl(d->conf.lan_net),
				  d->conf.lan_size, htonl(d->conf.pub_net),
				  d->conf.pub_count, d->conf.slot_size,
				  d->conf.pin_dir, why, sizeof(why))) {
		logp(LOG_ERR_,
		     "provisioner: %s; refusing to serve (attach the "
		     "data plane from the same configuration)",
		     why);
		return -EINVAL;
	}
	/* The data plane hands the kernel what is sent to its LAN gateway
	 * address; another address than the one DHCP announces (router,
	 * TFTP server) would have phones' renewals and TFTP translated
	 * instead.  Said, not refused: a VRRP address may arrive later. */
	if (d->maps.cfg.lan_gw != htonl(d->conf.gateway)) {
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
		struct in_addr x = { .s_addr = htonl(d->conf.gateway) };
		struct in_addr y = { .s_addr = d->maps.cfg.lan_gw };

		inet_ntop(AF_INET, &x, a, sizeof(a));
		inet_ntop(AF_INET, &y, b, sizeof(b));
		logp(LOG_WARN_,
		     "provisioner: warning: gateway %s but the data plane at "
		     "%s was attached with lan gateway %s ('nappt pool set "
		     "--lan-gw %s')",
		     a, d->conf.pin_dir, b, a);
	}
	return 0;
}

/*
 * Clients in RENEWING unicast to the server identifier (RFC 2131 4.4.5),
 * and the data plane hands the kernel only what is addressed to its LAN
 * gateway address (lan_gw); a leased phone's datagram to any other
 * address is traffic to translate, and port 68 is in no phone's range,
 * so it is dropped.  A server identifier other than lan_gw would serve
 * DISCOVERs and never see a renewal: every phone would fall back to
 * REBINDING and lose its lease when that fails.  With two gateways the
 * service address is the one VRRP moves (README, two gateways), on both.
 */
static int check_service_address(struct daemon *d)
{
	const struct nappt_config *c = &d->maps.cfg;
	char want[INET_ADDRSTRLEN], have[INET_ADDRSTRLEN];
	uint32_t sid = htonl(d->conf.server_id);

	if (c->lan_gw == sid)
		return 0;
	inet_ntop(AF_INET, &sid, want, sizeof(want));
	inet_ntop(AF_INET, &c->lan_gw, have, sizeof(have));
	logp(LOG_ERR_,
	     "The data plane's LAN gateway address is %s, not server_id %s: "
	     "renewals unicast to %s would not reach this server (attach "
	     "with --lan-gw %s or nappt pool set --lan-gw %s)",
	     have, want, want, want, want);
	return -EINVAL;
}

/* Counters for a scraper (node_exporter's textfile collector), atomically
 * replaced by the map writer: the parser has no path to the file. */
static void write_stats(struct daemon *d)
{
	char buf[8192];
	int len, r;

	if (!d->conf.stats_file[0])
		return;
	len = srv_format_stats(d->srv, buf, sizeof(buf));
	if (len <= 0)
		return;
	r = pm_write_stats(d->pm, buf, (size_t)len);
	if (r)
		logp(LOG_WARN_, "Failed to write %s: %s", d->conf.stats_file,
		     strerror(-r));
}

static void usage(void)
{
	printf("Usage: nappt-provisioner [-c FILE] [-n] [--no-maps] "
	       "[--templates DIR]\n"
	       "       nappt-provisioner who [-c FILE | --db FILE] ADDRESS "
	       "PORT [TIME]\n"
	       "       nappt-provisioner takeover [-c FILE] --from GATEWAY | "
	       "--part K\n"
	       "\n"
	       "DHCP server for IP phones: validates each phone (MAC, then "
	       "vendor class),\n"
	       "leases it a private address and a port range on a public "
	       "address, stores\n"
	       "the lease durably, then ACKs it and writes the mapping into "
	       "the data plane.\n"
	       "\n"
	       "  -c, --config FILE   configuration (default "
	       "/etc/nappt/nappt.conf)\n"
	       "  -n, --check         check the whole file (every section, "
	       "the keys the\n"
	       "                      provisioner needs, its templates) and "
	       "exit\n"
	       "      --no-maps       do not touch the data plane (testing)\n"
	       "      --templates DIR per-phone config templates (default: "
	       "the `templates`\n"
	       "                      key, else templates/ next to FILE, else "
	       "found from\n"
	       "                      the binary: PREFIX/share/nappt/"
	       "templates or the source\n"
	       "                      tree's provisioner/templates)\n"
	       "  -h, --help          this text\n"
	       "\n"
	       "who: which phone (MAC, private address, model) held public "
	       "ADDRESS, PORT\n"
	       "at TIME (default now; seconds since 1970, or UTC as "
	       "2026-12-07T05:00:00Z)?\n"
	       "Exit 0 and one line per holder, or 1 if nobody held it.\n"
	       "\n"
	       "takeover (lease_db on PostgreSQL): this gateway becomes the "
	       "owner of the parts\n"
	       "of the pool GATEWAY owns (or of part K), epoch + 1; its "
	       "daemon loads their\n"
	       "leases on SIGHUP (or within parts_poll seconds).\n"
	       "\n"
	       "Signals: TERM/INT stop (held ACKs are synced and sent "
	       "first), USR1 logs the counters,\n"
	       "HUP reads the parts owned again.\n");
}

/* --- several gateways ------------------------------------------------------ */

static int lease_db_is_uri(const char *db)
{
	return !strncmp(db, "postgresql://", 13) ||
	       !strncmp(db, "postgres://", 11);
}

/* Who this gateway is in the lease database, and the parts it claims
 * (claim NULL: none, for a takeover). */
static int gateway_of(struct lease_store *s, const struct prov_conf *c,
		      const uint8_t *claim)
{
	struct lease_gateway g = {
		.id = c->gateway_id,
		.pub_net = c->pub_net,
		.pub_count = c->pub_count,
		.lan_net = c->lan_net,
		.lan_size = c->lan_size,
		.slots_per_ip = c->slot_size ? 65536 / c->slot_size : 0,
		.nparts = c->pool_parts,
		.claim = claim,
	};
	int r = lease_store_gateway(s, &g);

	if (r)
		logp(LOG_ERR_,
		     "Failed to join the lease database as gateway "
		     "%s: %s",
		     c->gateway_id, strerror(-r));
	return r;
}

/*
 * takeover: this gateway (-c CONF: gateway_id, lease_db) becomes the
 * owner of every part GW owns (--from GW) or of one part (--part K),
 * each with epoch + 1, so that GW's writes fail from now on.  The
 * running daemon of this gateway loads those parts' leases within a
 * second, at once on SIGHUP.  Exit 0 if a part was taken, 1 if none.
 */
static int takeover_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "part", required_argument, NULL, 'p' },
		{},
	};
	const char *conf_path = "/etc/nappt/provisioner.conf", *from = NULL;
	static struct prov_conf conf;
	struct lease_store *s;
	int c, r, part = -1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'p':
			part = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (!from == (part < 0) || optind != argc) {
		fprintf(stderr, "Usage: nappt-provisioner takeover [-c FILE] "
				"--from GATEWAY | --part K\n");
		return 2;
	}
	if (conf_load(conf_path, &conf, stderr)) {
		fprintf(stderr, "takeover: Failed to read %s\n", conf_path);
		return 2;
	}
	r = lease_store_open(conf.lease_db, 0, &s);
	if (r) {
		fprintf(stderr,
			"takeover: Failed to open the lease store: %s\n",
			strerror(-r));
		return 2;
	}
	r = gateway_of(s, &conf, NULL);
	if (!r)
		r = lease_store_takeover(s, from, part);
	lease_store_close(s);
	if (r < 0) {
		fprintf(stderr, "takeover: Failed: %s\n", strerror(-r));
		return 2;
	}
	printf("%s took %d part(s)%s%s\n", conf.gateway_id, r,
	       from ? " from " : "", from ? from : "");
	return r > 0 ? 0 : 1;
}

/* --- who ------------------------------------------------------------------- */

static int parse_time(const char *s, int64_t *out)
{
	static const char *const fmts[] = { "%Y-%m-%dT%H:%M:%SZ",
					    "%Y-%m-%dT%H:%M:%S",
					    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d" };
	struct tm tm;
	unsigned int i;
	char *end;

	if (!strcmp(s, "now")) {
		*out = time(NULL);
		return 0;
	}
	errno = 0;
	*out = strtoll(s[0] == '@' ? s + 1 : s, &end, 10);
	if (!errno && !*end && end != s)
		return 0;
	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, fmts[i], &tm);
		if (end && !*end) {
			*out = (int64_t)timegm(&tm);
			return 0;
		}
	}
	return -EINVAL;
}

static const char *utc(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "@%lld", (long long)t);
	return buf;
}

static int who_print(const struct attribution *a, void *arg)
{
	char priv[INET_ADDRSTRLEN], from[32], until[32];

	(void)arg;
	printf("mac=%02x:%02x:%02x:%02x:%02x:%02x private=%s model=%s "
	       "vendor=\"%s\" ports=%u-%u from=%s until=%s%s\n",
	       a->mac[0], a->mac[1], a->mac[2], a->mac[3], a->mac[4], a->mac[5],
	       ip4(a->priv_ip, priv), a->model[0] ? a->model : "-", a->vendor,
	       a->port_first, a->port_last, utc(a->from, from, sizeof(from)),
	       utc(a->until, until, sizeof(until)),
	       a->open ? " (lease standing)" : "");
	return 0;
}

static int who_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "db", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *conf_path = "/etc/nappt/nappt.conf", *db = NULL;
	static struct prov_conf conf;
	struct lease_store *s;
	struct in_addr a;
	unsigned long port;
	char at_s[32], *end;
	int64_t at;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'd':
			db = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			return 2;
		}
	}
	if (argc - optind < 2 || argc - optind > 3 ||
	    inet_pton(AF_INET, argv[optind], &a) != 1) {
		fprintf(stderr, "Usage: nappt-provisioner who [-c FILE | --db "
				"FILE] ADDRESS PORT [TIME]\n");
		return 2;
	}
	errno = 0;
	port = strtoul(argv[optind + 1], &end, 10);
	if (errno || *end || port > 65535) {
		fprintf(stderr, "who: bad port %s\n", argv[optind + 1]);
		return 2;
	}
	if (parse_time(argc - optind == 3 ? argv[optind + 2] : "now", &at)) {
		fprintf(stderr,
			"who: bad time %s (seconds since 1970, or UTC "
			"as 2026-12-07T05:00:00Z)\n",
			argv[optind + 2]);
		return 2;
	}
	if (!db) {
		r = conf_load(conf_path, &conf, stderr);
		if (r) {
			fprintf(stderr, "who: Failed to read %s\n", conf_path);
			return 2;
		}
		db = conf.lease_db;
	}
	/* An operator's question never creates a store. */
	r = !lease_db_is_uri(db) && access(db, R_OK) ?
		    -errno :
		    lease_store_open(db, 0, &s);
	if (r) {
		/* A URI may hold a password: never printed. */
		fprintf(stderr, "who: Failed to open lease store %s: %s\n",
			lease_db_is_uri(db) ? "(PostgreSQL)" : db,
			strerror(-r));
		return 2;
	}
	printf("%s port %lu at %s:\n", argv[optind], port,
	       utc(at, at_s, sizeof(at_s)));
	r = lease_store_who(s, a.s_addr, (uint16_t)port, at, who_print, NULL);
	lease_store_close(s);
	if (r < 0) {
		fprintf(stderr, "who: Failed to read the history: %s\n",
			strerror(-r));
		return 2;
	}
	if (!r)
		printf("nobody (no lease held it then)\n");
	return r ? 0 : 1;
}

/* The models' templates are there and readable: a check run says so
 * before a start would fail on them. */
static int check_templates(const struct prov_conf *c, const char *dir)
{
	int i, bad = 0;

	for (i = 0; i < c->policy.nmodels; i++) {
		const char *t = c->policy.models[i].tmpl;
		char path[PATH_MAX + 80];

		snprintf(path, sizeof(path), "%s/%s%s", dir, t,
			 strcmp(t, "cisco") ? ".cfg" : ".cnf.xml");
		if (access(path, R_OK)) {
			logp(LOG_ERR_, "Failed to find template %s: %s", path,
			     strerror(errno));
			bad++;
		}
	}
	return bad;
}

/*
 * Where the templates are, in this order: --templates; the `templates`
 * key; templates/ next to the configuration file; from the binary,
 * PREFIX/share/nappt/templates (installed: PREFIX/sbin/..) or the source
 * tree's provisioner/templates (build/nappt-provisioner); last the
 * installed default.  The first directory that exists wins: a fresh
 * clone's binary runs from its build tree without `make install`.
 */
static int is_dir(const char *p)
{
	struct stat st;

	return !stat(p, &st) && S_ISDIR(st.st_mode);
}

static void find_templates(const char *cli, const char *key,
			   const char *conf_path, char *out, size_t n)
{
	char buf[PATH_MAX - 64], exe[PATH_MAX - 64], *slash;
	ssize_t len;

	if (cli) {
		snprintf(out, n, "%s", cli);
		return;
	}
	if (key && *key) {
		snprintf(out, n, "%s", key);
		return;
	}
	snprintf(buf, sizeof(buf), "%s", conf_path);
	slash = strrchr(buf, '/');
	if (slash)
		slash[1] = '\0';
	else
		snprintf(buf, sizeof(buf), "./");
	snprintf(out, n, "%stemplates", buf);
	if (is_dir(out))
		return;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(out, n, "%s/../share/nappt/templates", exe);
			if (is_dir(out))
				return;
			snprintf(out, n, "%s/../provisioner/templates", exe);
			if (is_dir(out))
				return;
		}
	}
	snprintf(out, n, "%s", "/usr/local/share/nappt/templates");
}

/* Everything that must be open before serving; 0 or exit status. */
static int set_up(struct daemon *d, const char *conf_path, const char *tmpl_dir,
		  int no_maps)
{
	struct srv_io io = { .arg = d, .send = io_send };
	struct pm_limits lim = {
		.lan_net = d->conf.lan_net,
		.lan_size = d->conf.lan_size,
		.gateway = d->conf.gateway,
		.reserved = (const uint16_t(*)[2])d->conf.reserved,
		.nreserved = d->conf.nreserved,
		.stats_file = d->conf.stats_file,
	};
	struct startup_stats ss;
	/* The wall clock: the attribution history's retention. */
	int64_t now = time(NULL);
	int r;

	if (conf_require(&d->conf, CONF_PROVISIONER, stderr))
		return 1;
	if (!if_nametoindex(d->conf.interface)) {
		logp(LOG_ERR_, "Failed to find interface %s: %s",
		     d->conf.interface, strerror(errno));
		return 1;
	}
	r = privsep_user(d->conf.user, &d->uid, &d->gid);
	if (r) {
		logp(LOG_ERR_, "Failed to find the parser's user %s: %s",
		     d->conf.user, strerror(-r));
		return 1;
	}
	r = mkdir_p(d->conf.tftp_root);
	if (!r)
		r = give_phone_dir(d);
	if (r) {
		logp(LOG_ERR_, "Failed to prepare %s for the parser: %s",
		     d->conf.tftp_root, strerror(-r));
		return 1;
	}
	r = lease_store_open(d->conf.lease_db, LS_DEFER_SYNC, &d->store);
	if (r) {
		logp(LOG_ERR_, "Failed to open lease store %s: %s",
		     lease_db_is_uri(d->conf.lease_db) ? "(PostgreSQL)" :
							 d->conf.lease_db,
		     strerror(-r));
		return 1;
	}
	r = gateway_of(d->store, &d->conf, d->conf.claim);
	if (r)
		return 1;
	r = lease_store_prune_history(
		d->store, now - (int64_t)d->conf.attribution_days * 86400);
	if (r < 0) {
		logp(LOG_ERR_, "Failed to prune the attribution history: %s",
		     strerror(-r));
		return 1;
	}
	if (!no_maps) {
		r = nappt_maps_open(&d->maps, d->conf.pin_dir);
		if (r) {
			logp(LOG_ERR_,
			     "Failed to open the data plane's maps in %s: %s "
			     "(is it attached? --no-maps to run without)",
			     d->conf.pin_dir, strerror(-r));
			return 1;
		}
		if (check_maps(d) || check_service_address(d))
			return 1;
		d->have_maps = 1;
		io.map_add = io_map_add;
		io.map_del = io_map_del;
		io.map_check = io_map_check;
		io.map_reconcile = io_map_reconcile;
	}
	/* Files that no stored lease owns out of the phone directory, the
	 * maps equal to the stored leases (startup.h).  Every stored lease
	 * counts, even one whose end has passed by the wall clock: the
	 * clock may have been stepped while we were down, so the core gives
	 * such a lease its grace (README, Clocks) and ends it itself, row,
	 * mapping, file and gate entry, on the monotonic clock.  Hence 0:
	 * nothing is expired here. */
	r = startup_clean(&d->conf, d->store, d->have_maps ? &d->maps : NULL, 0,
			  &ss);
	if (r)
		return 1;
	if (ss.expired || ss.files_removed)
		logp(LOG_INFO_,
		     "start: %d expired leases removed, %u stale phone files "
		     "removed",
		     ss.expired, ss.files_removed);
	if (d->have_maps)
		log_sync(&ss.maps);
	r = pm_start_limits(d->have_maps ? &d->maps : NULL, d->conf.interface,
			    &lim, &d->pm);
	if (r) {
		logp(LOG_ERR_, "Failed to start the map writer: %s",
		     strerror(-r));
		return 1;
	}
	/* From here on the maps are the writer's alone. */
	nappt_maps_close(&d->maps);
	d->fd = open_socket(d);
	if (d->fd < 0) {
		logp(LOG_ERR_, "Failed to open DHCP socket on %s port 67: %s",
		     d->conf.interface, strerror(-d->fd));
		return 1;
	}
	/* Templates are read here, before the parser loses its view of
	 * the file system. */
	r = srv_new(&d->conf, tmpl_dir, d->store, &io, mono_now(), time(NULL),
		    &d->srv);
	if (r) {
		logp(LOG_ERR_, "Failed to start the DHCP server: %s",
		     strerror(-r));
		return 1;
	}
	if (enter_jail(d))
		return 1;
	d->out = calloc(OUT_MAX, sizeof(*d->out));
	if (!d->out)
		return 1;
	return 0;
}

struct rxbuf {
	uint8_t buf[2048];
};

static void serve(struct daemon *d, struct syncer *y)
{
	struct rxbuf *rx = calloc(BATCH, sizeof(*rx));
	struct mmsghdr mh[BATCH];
	struct iovec iov[BATCH];
	time_t last_tick = 0, last_stats = 0, last_rc = mono_now();
	int i, n, r;

	if (!rx)
		return;
	while (!stop) {
		struct pollfd pfd[2] = {
			{ .fd = d->fd, .events = POLLIN },
			{ .fd = y->done_fd, .events = POLLIN },
		};
		time_t now = mono_now();

		if (now != last_tick) {
			last_tick = now;
			srv_tick(d->srv, now, time(NULL));
			commit(d, y);
			sync_kick(d, y);
			/* After the commit: the store says what is live. */
			if (d->have_maps &&
			    (now - last_rc >= (time_t)d->conf.reconcile_every ||
			     (d->reconcile_due &&
			      now - last_rc >= RECONCILE_RETRY))) {
				last_rc = now;
				io_map_reconcile(d);
			}
			if (now - last_stats >= STATS_EVERY) {
				last_stats = now;
				write_stats(d);
			}
		}
		if (hup) {
			hup = 0;
			if (srv_parts_check(d->srv) < 0)
				logp(LOG_ERR_,
				     "Failed to read the parts owned");
			commit(d, y);
			sync_kick(d, y);
		}
		if (dump) {
			dump = 0;
			srv_log_counters(d->srv, "counters");
		}
		log_flush();
		/* Too many REQUESTs wait for the disk: leave the rest in
		 * the socket until a sync returns. */
		if (srv_pending(d->srv) >= PENDING_HIGH)
			pfd[0].events = 0;
		r = poll(pfd, 2, 1000);
		if (r <= 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			r = sync_done(d, y);
			if (r) {
				logp(LOG_ERR_,
				     "Failed to sync the lease store: %s; "
				     "stopping without sending the ACKs it "
				     "held",
				     strerror(-r));
				stop = 2;
				break;
			}
		}
		if (pfd[0].revents & POLLIN) {
			for (i = 0; i < BATCH; i++) {
				iov[i] = (struct iovec){ rx[i].buf,
							 sizeof(rx[i].buf) };
				mh[i] = (struct mmsghdr){
					.msg_hdr = { .msg_iov = &iov[i],
						     .msg_iovlen = 1 }
				};
			}
			n = recvmmsg(d->fd, mh, BATCH, MSG_DONTWAIT, NULL);
			for (i = 0; i < n; i++)
				srv_handle(d->srv, rx[i].buf, mh[i].msg_len,
					   now);
			if (n > 0)
				commit(d, y);
		}
		sync_kick(d, y);
		send_out(d);
	}
	free(rx);
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
	const char *conf_path = "/etc/nappt/nappt.conf", *tmpl_cli = NULL;
	static char tmpl_dir[PATH_MAX];
	static struct daemon d = { .fd = -1 };
	static struct syncer y = { .wal_fd = -1, .ckpt_fd = -1 };
	int check = 0, no_maps = 0, c, r;

	if (argc > 1 && !strcmp(argv[1], "who"))
		return who_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "takeover"))
		return takeover_main(argc - 1, argv + 1);

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
			tmpl_cli = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			fprintf(stderr, "Try 'nappt-provisioner --help'.\n");
			return 2;
		}
	}
	r = conf_load(conf_path, &d.conf, stderr);
	if (r < 0) {
		logp(LOG_ERR_, "Failed to read %s: %s", conf_path,
		     strerror(-r));
		return 1;
	}
	if (r > 0) {
		logp(LOG_ERR_, "%s: %d error(s)", conf_path, r);
		return 1;
	}
	/* Not errors (the file serves), but capacity the operator may
	 * think he has and has not: said at every start and by -n. */
	conf_warn(&d.conf, stderr);
	find_templates(tmpl_cli, d.conf.templates, conf_path, tmpl_dir,
		       sizeof(tmpl_dir));
	if (check) {
		if (conf_require(&d.conf, CONF_PROVISIONER, stderr) ||
		    check_templates(&d.conf, tmpl_dir))
			return 1;
		printf("%s: configuration OK (%d models, templates in %s)\n",
		       conf_path, d.conf.policy.nmodels, tmpl_dir);
		return 0;
	}
	r = set_up(&d, conf_path, tmpl_dir, no_maps);
	if (r)
		return r;
	y.store = d.store;
	r = sync_start(&y);
	if (r) {
		logp(LOG_ERR_, "Failed to start the sync thread: %s",
		     strerror(-r));
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGHUP, on_signal);
	logp(LOG_INFO_, "serving DHCP on %s", d.conf.interface);
	log_set_batched(1);

	serve(&d, &y);

	sync_stop(&y);
	/* A sync that failed is not retried: Linux reports a writeback
	 * error once, so a second fdatasync could say 0 for lost data. */
	if (atomic_load(&y.err))
		stop = 2;
	if (stop != 2) {
		/* What is committed goes to disk, and its ACKs out. */
		uint64_t group;

		srv_commit(d.srv, &group);
		if (lease_store_sync(d.store) == 0)
			srv_durable(d.srv, UINT64_MAX);
		send_out(&d);
	}
	srv_log_counters(d.srv, "stopping");
	write_stats(&d);
	log_set_batched(0);
	srv_free(d.srv);
	free(d.out);
	close(d.fd);
	lease_store_close(d.store);
	pm_stop(d.pm);
	return stop == 2 ? 1 : 0;
}
