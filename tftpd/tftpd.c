// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nappt-tftpd: a read-only TFTP server for phone provisioning.
 *
 * One thread, one epoll loop.  Every transfer owns one UDP socket (its TID,
 * RFC 1350) and one file descriptor; blocks are pread() straight into a
 * shared send arena and a whole window leaves in one sendmmsg().  The
 * protocol decisions live in tftp-proto.c; this file is the thin layer of
 * sockets, clocks, files and logs around it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "tftp-internal.h"

/* The shared config parser checks [tftpd] against these bounds. */
_Static_assert(CONF_TFTP_BLKSIZE_MIN == TFTP_BLKSIZE_MIN, "blksize min");
_Static_assert(CONF_TFTP_BLKSIZE_MAX == TFTP_BLKSIZE_MAX, "blksize max");
_Static_assert(CONF_TFTP_WINDOW_MAX == TFTP_WINDOW_MAX, "window max");

#define LOG_ERR 3
#define LOG_WARNING 4
#define LOG_NOTICE 5
#define LOG_INFO 6
#define LOG_DEBUG 7

#define HASH_BUCKETS 16384 /* power of two */
#define BATCH_MAX 64 /* packets per window */
#define ARENA_SIZE (TFTP_WINDOW_MAX * (TFTP_BLKSIZE_MAX + TFTP_HDR))
#define RX_BATCH 16 /* datagrams per socket per wakeup (one recvmmsg) */
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000
#define LOGNAME_MAX (TFTP_FILENAME_MAX * 4 + 1)

struct config {
	const char *root;
	const char *listen;
	/* SO_BINDTODEVICE: with a wildcard listen the WAN side (public
	 * addresses go to the local stack when unleased) reaches us too */
	const char *interface;
	bool gate;
	const char *gate_dir; /* with gate: where the entries are */
	const char *phones; /* per-phone files, looked up first; or NULL */
	unsigned int max_transfers;
	unsigned int max_per_client;
	unsigned int error_rate; /* error replies per second, whole server */
	/* A client ACKing one block per max_stall would hold its slot for
	 * ever: a transfer's whole life is bounded too. */
	unsigned int max_life_ms;
	/* new transfers per second (and burst) per source address that has
	 * not proved it owns itself: at the per-client cap a request evicts
	 * an older one, so without this the replies to forged RRQs follow
	 * the request rate */
	unsigned int new_rate;
	unsigned int new_burst;
	struct tftp_timing tm;
	struct tftp_limits lim;
	bool blksize_auto; /* cap blksize at the route MTU */
	int log_level;
	bool check;
	/* counters, Prometheus text (node_exporter textfile), or NULL */
	const char *stats_file;
};

#define STATS_EVERY_MS 5000

/* What `nappt status` and a scraper see (stats_file). */
static struct {
	unsigned long long started, completed, bytes;
	unsigned long long aborted_by_client, gave_up, evicted, read_errors;
	unsigned long long refused_malformed, refused_write, refused_access,
		refused_not_found;
} ctr;

struct client;

/* LRU links: most stalled (oldest progress) first. */
struct lru {
	struct xfer *prev, *next;
};

struct xfer {
	struct tftp_xfer x;
	int sock;
	int fd;
	bool wait_out; /* EAGAIN: waiting for EPOLLOUT */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	char peer_str[INET6_ADDRSTRLEN + 8];
	char name[TFTP_FILENAME_MAX + 1];
	uint64_t start_ms;
	bool marked; /* its address marked proven in new_slots */
	uint64_t deadline;
	size_t heap_idx; /* SIZE_MAX: not armed */
	unsigned int mtu;
	struct xfer *hnext;
	struct client *cl;
	struct lru all; /* every transfer */
	struct lru mine; /* this source address's */
};

/* Transfers per source address (the per-client cap). */
struct client {
	uint8_t ip[16]; /* IPv4 as v4-mapped */
	unsigned int n;
	struct xfer *head, *tail;
	struct client *hnext;
};

static struct config cfg = {
	.root = "/srv/tftp",
	.listen = "0.0.0.0:69",
	.max_transfers = 10000,
	.max_per_client = 8,
	.error_rate = 100,
	.max_life_ms = 600000,
	.new_rate = 10,
	.new_burst = 20,
	.tm = { .rto_ms = 1000,
		.max_retries = 5,
		.unproven_retries = 1,
		.max_stall_ms = 60000 },
	.lim = { .max_blksize = TFTP_BLKSIZE_MAX,
		 .max_windowsize = TFTP_WINDOW_MAX },
	.blksize_auto = true,
	.log_level = LOG_INFO,
};

static int root_fd = -1;
static int epfd = -1;
static int lsock = -1;
static struct sockaddr_storage laddr;
static socklen_t laddrlen;
static uint64_t now;
static volatile sig_atomic_t stop;
static uint8_t hash_key[16];
static bool gso_ok = true;
static struct tftp_bucket err_bucket;

/* Per-address buckets of new transfers, a fixed table indexed by the keyed
 * hash (a slot taken by another address starts over full: no allocation a
 * flood of forged sources could grow).  An address that ACKed a transfer
 * (proved it receives what is sent to it) is exempt for NEW_PROVEN_MS. */
#define NEW_SLOTS 4096
#define NEW_PROVEN_MS 600000
struct new_slot {
	uint8_t ip[16];
	uint64_t proven_ms;
	struct tftp_bucket b;
};
static struct new_slot new_slots[NEW_SLOTS];
static unsigned long long new_limited; /* RRQs ignored by the buckets */

static struct xfer *buckets[HASH_BUCKETS];
static struct client *cbuckets[HASH_BUCKETS];
static struct xfer *all_head, *all_tail;
/* Transfers closed during one epoll batch are freed after it, so an event
 * later in the same batch never points at freed memory. */
static struct xfer *graveyard;
static struct xfer **heap;
static size_t heap_len;
static unsigned int nxfers;

static uint8_t arena[ARENA_SIZE];
static uint8_t rxbuf[RX_BATCH][TFTP_REQ_MAX + 64];

static void log_msg(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	if (prio > cfg.log_level)
		return;
	/* "<N>" is the syslog priority prefix journald understands */
	fprintf(stderr, "<%d>", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Client bytes in a log line go through tftp_log_escape(): a name with
 * "\n<0>" would otherwise forge an emergency-priority journal line.  Two
 * rotating buffers so one line may quote two strings. */
static const char *esc(const char *s, size_t len)
{
	static char buf[2][LOGNAME_MAX];
	static int i;

	i ^= 1;
	tftp_log_escape(s, len, buf[i], sizeof(buf[i]));
	return buf[i];
}

#define ESC(s) esc((s), strlen(s))

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- addresses ------------------------------------------------------------ */

/* The client's IP as text; IPv4-mapped IPv6 addresses print as IPv4 so the
 * gating entries need only one spelling. */
static void addr_ip(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr,
			  buf, (socklen_t)len);
	} else {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], buf,
				  (socklen_t)len);
		else
			inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	}
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	addr_ip(ss, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, addr_port(ss));
}

static bool addr_eq(const struct sockaddr_storage *a,
		    const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a,
					 *y = (const void *)b;

		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return x->sin6_port == y->sin6_port &&
	       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
}

/* The client's IP as 16 bytes, IPv4 as v4-mapped, for the per-client
 * table. */
static void addr_key(const struct sockaddr_storage *ss, uint8_t ip[16])
{
	if (ss->ss_family == AF_INET) {
		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12,
		       &((const struct sockaddr_in *)ss)->sin_addr.s_addr, 4);
	} else {
		memcpy(ip, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
}

/* Keyed (SipHash, secret key): a spoofer cannot pick sources that pile
 * into one bucket and turn every lookup into a list walk. */
static unsigned int addr_hash(const struct sockaddr_storage *ss)
{
	uint8_t k[18];
	uint16_t port = addr_port(ss);

	addr_key(ss, k);
	memcpy(k + 16, &port, 2);
	return (unsigned int)tftp_siphash(hash_key, k, sizeof(k)) &
	       (HASH_BUCKETS - 1);
}

static unsigned int ip_hash(const uint8_t ip[16])
{
	return (unsigned int)tftp_siphash(hash_key, ip, 16) &
	       (HASH_BUCKETS - 1);
}

static struct new_slot *new_slot(const struct sockaddr_storage *ss)
{
	uint8_t ip[16];
	struct new_slot *sl;

	addr_key(ss, ip);
	sl = &new_slots[tftp_siphash(hash_key, ip, 16) & (NEW_SLOTS - 1)];
	if (memcmp(sl->ip, ip, 16)) {
		memset(sl, 0, sizeof(*sl));
		memcpy(sl->ip, ip, 16);
	}
	return sl;
}

static bool new_allowed(const struct sockaddr_storage *ss)
{
	struct new_slot *sl;

	if (!cfg.new_rate)
		return true;
	sl = new_slot(ss);
	if (sl->proven_ms && now - sl->proven_ms < NEW_PROVEN_MS)
		return true;
	return tftp_bucket_take(&sl->b, now, cfg.new_rate, cfg.new_burst);
}

/* --- timers: a binary min-heap of armed transfers ------------------------- */

static void heap_swap(size_t i, size_t j)
{
	struct xfer *t = heap[i];

	heap[i] = heap[j];
	heap[j] = t;
	heap[i]->heap_idx = i;
	heap[j]->heap_idx = j;
}

static void heap_fix(size_t i)
{
	while (i && heap[(i - 1) / 2]->deadline > heap[i]->deadline) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < heap_len && heap[l]->deadline < heap[m]->deadline)
			m = l;
		if (r < heap_len && heap[r]->deadline < heap[m]->deadline)
			m = r;
		if (m == i)
			break;
		heap_swap(i, m);
		i = m;
	}
}

static void timer_arm(struct xfer *t, uint64_t deadline)
{
	t->deadline = deadline;
	if (t->heap_idx == SIZE_MAX) {
		t->heap_idx = heap_len;
		heap[heap_len++] = t;
	}
	heap_fix(t->heap_idx);
}

static void timer_disarm(struct xfer *t)
{
	size_t i = t->heap_idx;

	if (i == SIZE_MAX)
		return;
	t->heap_idx = SIZE_MAX;
	if (--heap_len != i) {
		heap[i] = heap[heap_len];
		heap[i]->heap_idx = i;
		heap_fix(i);
	}
}

/* --- transfers ------------------------------------------------------------ */

static struct xfer *xfer_find(const struct sockaddr_storage *peer)
{
	struct xfer *t;

	for (t = buckets[addr_hash(peer)]; t; t = t->hnext)
		if (addr_eq(&t->peer, peer))
			return t;
	return NULL;
}

static struct client *client_get(const struct sockaddr_storage *peer,
				 bool create)
{
	uint8_t ip[16];
	unsigned int h;
	struct client *c;

	addr_key(peer, ip);
	h = ip_hash(ip);
	for (c = cbuckets[h]; c; c = c->hnext)
		if (!memcmp(c->ip, ip, 16))
			return c;
	if (!create)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	memcpy(c->ip, ip, 16);
	c->hnext = cbuckets[h];
	cbuckets[h] = c;
	return c;
}

static void client_put(struct client *c)
{
	struct client **pp;

	if (!c || c->n)
		return;
	for (pp = &cbuckets[ip_hash(c->ip)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	free(c);
}

/* The two LRU lists: all transfers, and those of one source address.
 * Progress moves a transfer to the tail, so the head is the most stalled:
 * the one to evict when a limit is reached. */
static void lru_unlink(struct xfer *t)
{
	struct client *c = t->cl;

	if (t->all.prev)
		t->all.prev->all.next = t->all.next;
	else
		all_head = t->all.next;
	if (t->all.next)
		t->all.next->all.prev = t->all.prev;
	else
		all_tail = t->all.prev;
	t->all.prev = t->all.next = NULL;
	if (!c)
		return;
	if (t->mine.prev)
		t->mine.prev->mine.next = t->mine.next;
	else
		c->head = t->mine.next;
	if (t->mine.next)
		t->mine.next->mine.prev = t->mine.prev;
	else
		c->tail = t->mine.prev;
	t->mine.prev = t->mine.next = NULL;
}

static void lru_append(struct xfer *t)
{
	struct client *c = t->cl;

	t->all.prev = all_tail;
	t->all.next = NULL;
	if (all_tail)
		all_tail->all.next = t;
	else
		all_head = t;
	all_tail = t;
	if (!c)
		return;
	t->mine.prev = c->tail;
	t->mine.next = NULL;
	if (c->tail)
		c->tail->mine.next = t;
	else
		c->head = t;
	c->tail = t;
}

static void xfer_free(struct xfer *t)
{
	struct xfer **pp;

	if (!t || t->sock == -2)
		return;
	for (pp = &buckets[addr_hash(&t->peer)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == t) {
			*pp = t->hnext;
			break;
		}
	}
	timer_disarm(t);
	lru_unlink(t);
	if (t->cl) {
		t->cl->n--;
		client_put(t->cl);
		t->cl = NULL;
	}
	if (t->sock >= 0)
		close(t->sock); /* also leaves the epoll set */
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->sock = -2; /* freed: later events of this batch are ignored */
	nxfers--;
	t->hnext = graveyard;
	graveyard = t;
}

static void xfer_reap(void)
{
	while (graveyard) {
		struct xfer *t = graveyard;

		graveyard = t->hnext;
		free(t);
	}
}

/* Every error reply, on any socket, spends a token of one bucket: a flood
 * of bad requests cannot turn the server into an error generator. */
static bool error_allowed(void)
{
	return tftp_bucket_take(&err_bucket, now, cfg.error_rate,
				cfg.error_rate);
}

/* An ERROR from the listening socket leaves from the address the request
 * was sent to (IP_PKTINFO ipi_spec_dst), as the transfers do. */
static void listen_error(const struct sockaddr_storage *to, socklen_t tolen,
			 const struct sockaddr_storage *local, uint16_t code,
			 const char *msg)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} cbuf;
	uint8_t buf[128];
	ssize_t n = tftp_build_error(code, msg, buf, sizeof(buf));
	struct iovec iov = { buf, (size_t)n };
	struct msghdr mh = {
		.msg_name = (void *)to,
		.msg_namelen = tolen,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
	};
	struct cmsghdr *c;

	if (n <= 0 || !error_allowed())
		return;
	memset(&cbuf, 0, sizeof(cbuf));
	c = (struct cmsghdr *)cbuf.buf;
	if (local->ss_family == AF_INET) {
		struct in_pktinfo pi = {
			.ipi_spec_dst =
				((const struct sockaddr_in *)local)->sin_addr,
		};

		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi = {
			.ipi6_addr =
				((const struct sockaddr_in6 *)local)->sin6_addr,
		};

		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
	sendmsg(lsock, &mh, MSG_DONTWAIT);
}

/* Transfer sockets are connect()ed to the peer. */
static uint64_t xfer_deadline(const struct xfer *t)
{
	uint64_t d = tftp_xfer_deadline(&t->x, &cfg.tm, now);
	uint64_t end = t->start_ms + cfg.max_life_ms;

	return d < end ? d : end;
}

static void xfer_error(struct xfer *t, uint16_t code, const char *msg)
{
	uint8_t buf[128];
	ssize_t n = tftp_build_error(code, msg, buf, sizeof(buf));

	if (n > 0 && t->sock >= 0 && error_allowed())
		send(t->sock, buf, (size_t)n, MSG_DONTWAIT);
}

static ssize_t file_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	ssize_t r = pread(*(int *)ctx, buf, len, (off_t)off);

	return r < 0 ? -errno : r;
}

static ssize_t file_readv(void *ctx, const struct iovec *iov, int n,
			  uint64_t off)
{
	ssize_t r = preadv(*(int *)ctx, iov, n, (off_t)off);

	return r < 0 ? -errno : r;
}

static void xfer_want_out(struct xfer *t, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
				  .data.ptr = t };

	if (t->wait_out == on)
		return;
	t->wait_out = on;
	epoll_ctl(epfd, EPOLL_CTL_MOD, t->sock, &ev);
}

/*
 * Put every block the window allows on the wire in one sendmmsg(): a run
 * of equal blocks leaves as one UDP GSO datagram (UDP_SEGMENT) when each
 * block fits the route MTU.  A full socket buffer (EAGAIN, ENOBUFS) stops
 * the burst: the unsent blocks are rewound and go when the socket is
 * writable again (EPOLLOUT), not a whole timeout later.  Any other error
 * (a firewall drop gives EPERM) is a loss: the timer resends.
 */
static int xfer_send(struct xfer *t)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(uint16_t))];
	} cbuf[BATCH_MAX];
	struct mmsghdr msgs[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	unsigned int npk[BATCH_MAX];
	uint16_t lens[BATCH_MAX];
	struct tftp_source src = { file_read, file_readv, &t->fd };
	unsigned int k, i, m = 0, done = 0, hdr;
	size_t off = 0;
	int r;

	r = tftp_xfer_fill(&t->x, &src, arena, sizeof(arena), lens, BATCH_MAX);
	if (r < 0)
		return r;
	k = (unsigned int)r;
	hdr = t->peer.ss_family == AF_INET ? 28 : 48;
	for (i = 0; i < k; m++) {
		unsigned int seg = lens[i], j = i + 1;
		size_t bytes = seg;

		/* a GSO run: equal segments, the last one may be shorter */
		if (gso_ok && seg > 4 && seg + hdr <= t->mtu) {
			while (j < k && j - i < GSO_MAX_SEGS &&
			       lens[j - 1] == seg && lens[j] <= seg &&
			       bytes + lens[j] <= GSO_MAX_BYTES)
				bytes += lens[j++];
		}
		memset(&msgs[m], 0, sizeof(msgs[m]));
		iov[m].iov_base = arena + off;
		iov[m].iov_len = bytes;
		msgs[m].msg_hdr.msg_iov = &iov[m];
		msgs[m].msg_hdr.msg_iovlen = 1;
		if (j - i > 1) {
			struct cmsghdr *c = (struct cmsghdr *)cbuf[m].buf;
			uint16_t gso = (uint16_t)seg;

			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(gso));
			memcpy(CMSG_DATA(c), &gso, sizeof(gso));
			msgs[m].msg_hdr.msg_control = cbuf[m].buf;
			msgs[m].msg_hdr.msg_controllen = sizeof(cbuf[m].buf);
		}
		npk[m] = j - i;
		off += bytes;
		i = j;
	}
	while (done < m) {
		int n = sendmmsg(t->sock, msgs + done, m - done, MSG_DONTWAIT);

		if (n > 0) {
			done += (unsigned int)n;
			continue;
		}
		if (errno == EAGAIN || errno == ENOBUFS || errno == EINTR) {
			unsigned int lost = 0;

			for (i = done; i < m; i++)
				lost += npk[i];
			t->x.next -= lost;
			xfer_want_out(t, true);
			break;
		}
		if (msgs[done].msg_hdr.msg_control &&
		    (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP)) {
			/* no GSO on this path: plain datagrams from now on;
			 * the timer resends what was not sent */
			log_msg(LOG_NOTICE, "UDP GSO unavailable (%s)",
				strerror(errno));
			gso_ok = false;
			for (i = done; i < m; i++)
				t->x.next -= npk[i];
			break;
		}
		done++; /* lost on the way out */
	}
	timer_arm(t, xfer_deadline(t));
	return 0;
}

static void xfer_read_failed(struct xfer *t, int err)
{
	ctr.read_errors++;
	/* a read error will not heal by retrying: say so at once */
	log_msg(LOG_ERR, "Failed to read %s for %s: %s", ESC(t->name),
		t->peer_str, strerror(-err));
	xfer_error(t, TFTP_EUNDEF, "Read error");
	xfer_free(t);
}

static void xfer_kick(struct xfer *t)
{
	int r = xfer_send(t);

	if (r < 0)
		xfer_read_failed(t, r);
}

static void xfer_finish(struct xfer *t)
{
	uint64_t bytes = t->x.p.mode == TFTP_MODE_OCTET ? t->x.size : 0;

	ctr.completed++;
	ctr.bytes += t->x.size;
	log_msg(LOG_INFO,
		"Sent %s to %s: %llu bytes, %llu blocks, blksize %u, windowsize %u, %llu ms",
		ESC(t->name), t->peer_str, (unsigned long long)bytes,
		(unsigned long long)t->x.last, t->x.p.blksize,
		t->x.p.windowsize, (unsigned long long)(now - t->start_ms));
	xfer_free(t);
}

/* One recvmmsg() per wake-up: no extra call just to learn the socket is
 * empty.  The socket is connected, so only the peer's datagrams arrive;
 * a foreign TID gets the kernel's ICMP port unreachable, never a TFTP
 * ERROR that another server could answer. */
static void xfer_input(struct xfer *t, uint32_t events)
{
	struct mmsghdr mm[RX_BATCH];
	struct iovec iov[RX_BATCH];
	bool send = false;
	int i, n;

	if (t->sock < 0)
		return; /* closed earlier in this batch */
	if (events & EPOLLOUT) {
		xfer_want_out(t, false);
		send = true;
	}
	if (!(events & (EPOLLIN | EPOLLERR)))
		goto out;
	for (i = 0; i < RX_BATCH; i++) {
		iov[i].iov_base = rxbuf[i];
		iov[i].iov_len = sizeof(rxbuf[i]);
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(t->sock, mm, RX_BATCH, MSG_DONTWAIT, NULL);
	for (i = 0; i < n; i++) {
		const uint8_t *b = rxbuf[i];
		size_t len = mm[i].msg_len;
		uint16_t op;

		if (len < 4)
			continue;
		op = (uint16_t)(b[0] << 8 | b[1]);
		if (op == TFTP_ACK) {
			uint16_t blk = (uint16_t)(b[2] << 8 | b[3]);

			switch (tftp_xfer_on_ack(&t->x, blk, now)) {
			case TFTP_ACK_DONE:
				new_slot(&t->peer)->proven_ms = now;
				xfer_finish(t);
				return;
			case TFTP_ACK_ADVANCED:
				if (!t->marked && tftp_xfer_proven(&t->x)) {
					new_slot(&t->peer)->proven_ms = now;
					t->marked = true;
				}
				lru_unlink(t);
				lru_append(t);
				send = true;
				break;
			case TFTP_ACK_IGNORED:
				log_msg(LOG_DEBUG,
					"Ignored ACK %u for %s from %s (una %llu next %llu)",
					blk, ESC(t->name), t->peer_str,
					(unsigned long long)t->x.una,
					(unsigned long long)t->x.next);
				break;
			}
		} else if (op == TFTP_ERROR) {
			/* RFC 1350: never acknowledged, never answered */
			ctr.aborted_by_client++;
			log_msg(LOG_NOTICE, "Client %s aborted %s: error %u %s",
				t->peer_str, ESC(t->name),
				(unsigned int)(b[2] << 8 | b[3]),
				esc((const char *)b + 4,
				    strnlen((const char *)b + 4, len - 4)));
			xfer_free(t);
			return;
		} else {
			xfer_error(t, TFTP_EBADOP, "Illegal TFTP operation");
			log_msg(LOG_NOTICE, "Aborted %s to %s: opcode %u",
				ESC(t->name), t->peer_str, op);
			xfer_free(t);
			return;
		}
	}
out:
	if (send && !t->wait_out)
		xfer_kick(t);
}

static void xfer_timeout(struct xfer *t)
{
	if (now >= t->start_ms + cfg.max_life_ms) {
		ctr.gave_up++;
		log_msg(LOG_NOTICE,
			"Gave up sending %s to %s after %llu ms: too long",
			ESC(t->name), t->peer_str,
			(unsigned long long)(now - t->start_ms));
		if (tftp_xfer_proven(&t->x))
			xfer_error(t, TFTP_EUNDEF, "Transfer too long");
		xfer_free(t);
		return;
	}
	if (tftp_xfer_expire(&t->x, &cfg.tm, now) < 0) {
		ctr.gave_up++;
		log_msg(LOG_NOTICE,
			"Gave up sending %s to %s after %u retries, %llu ms",
			ESC(t->name), t->peer_str, t->x.retries,
			(unsigned long long)(now - t->start_ms));
		/* the source of a transfer never acknowledged may be
		 * forged: no more packets to it */
		if (tftp_xfer_proven(&t->x))
			xfer_error(t, TFTP_EUNDEF, "Timed out");
		xfer_free(t);
		return;
	}
	log_msg(LOG_DEBUG, "Retransmitting %s to %s from block %llu",
		ESC(t->name), t->peer_str, (unsigned long long)t->x.una);
	xfer_want_out(t, false);
	xfer_kick(t);
}

/* Make room for one more transfer of this client: its own most stalled
 * one at the per-client cap, the server's most stalled at the global
 * limit.  Progress keeps a transfer away from the head, so a flood of
 * requests that never acknowledge anything evicts only its own kind. */
static void xfer_make_room(struct client *c)
{
	struct xfer *v = NULL;

	if (c && cfg.max_per_client && c->n >= cfg.max_per_client)
		v = c->head;
	else if (nxfers >= cfg.max_transfers)
		v = all_head;
	if (!v)
		return;
	ctr.evicted++;
	log_msg(LOG_NOTICE, "Evicted %s to %s (%s limit), idle %llu ms",
		ESC(v->name), v->peer_str, v->cl == c ? "per-client" : "global",
		(unsigned long long)(now - v->x.progress_ms));
	if (tftp_xfer_proven(&v->x))
		xfer_error(v, TFTP_EUNDEF, "Server busy");
	xfer_free(v);
}

/* --- access: root, gating ------------------------------------------------- */

/*
 * openat2 refused with ENOSYS: systemd's RestrictSUIDSGID=, which the
 * unit's DynamicUser= implies, answers it so because its seccomp filter
 * cannot see the flags inside struct open_how (and kernels before 5.6
 * have none).  The name is then walked one component at a time following
 * no symlink (O_NOFOLLOW: a directory that is a symlink fails O_DIRECTORY,
 * a last component that is one is opened as itself with O_PATH, which
 * open_file() refuses as not a regular file) and taking no ".", ".." or
 * empty component.  Stricter than RESOLVE_BENEATH (a symlink that stays
 * beneath is refused too), never weaker.
 */
static int open_walk(int dirfd, const char *name, int flags)
{
	char buf[TFTP_FILENAME_MAX + 1], *comp, *slash;
	size_t len = strlen(name);
	int at = dirfd, fd, f;

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, name, len + 1);
	for (comp = buf;; comp = slash + 1) {
		slash = strchr(comp, '/');
		if (slash)
			*slash = '\0';
		f = slash ? O_PATH | O_DIRECTORY :
			    flags | (flags & O_PATH ? 0 : O_NOCTTY);
		fd = -EXDEV;
		if (*comp && strcmp(comp, ".") && strcmp(comp, "..")) {
			fd = openat(at, comp, f | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				fd = -errno;
		}
		if (at != dirfd)
			close(at);
		if (fd < 0 || !slash)
			return fd;
		at = fd;
	}
}

static int open_beneath(int dirfd, const char *name, int flags)
{
	static bool walk_logged;
	struct open_how how = {
		/* openat2 refuses O_PATH with anything but a few flags */
		.flags = (uint64_t)flags | O_CLOEXEC |
			 (flags & O_PATH ? 0 : O_NOCTTY),
		/* the kernel refuses "..", absolute paths and symlinks that
		 * leave dirfd; magic links (/proc/self/fd/...) never */
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS) {
		if (!walk_logged) {
			walk_logged = true;
			log_msg(LOG_NOTICE, "openat2 refused (ENOSYS): names "
					    "are resolved one component at "
					    "a time, no symlink followed");
		}
		return open_walk(dirfd, name, flags);
	}
	return fd < 0 ? -errno : (int)fd;
}

/*
 * Open a regular file beneath dirfd for reading.  The name is resolved
 * to an O_PATH handle first and only a regular file is then opened for
 * reading, through the handle (the same inode, no second lookup): opening
 * a device node or a FIFO can have effects of its own, so it never
 * happens.
 */
static int open_file(int dirfd, const char *name, struct stat *st)
{
	char proc[64];
	int pfd, fd;

	pfd = open_beneath(dirfd, name, O_PATH);
	if (pfd < 0)
		return pfd;
	if (fstat(pfd, st) < 0) {
		fd = -errno;
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		fd = -EACCES;
		goto out;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		fd = -errno;
out:
	close(pfd);
	return fd;
}

/*
 * Gating (see README.md): <gate_dir>/<name with '/' as ','> lists, one per
 * line, the IPs allowed to read <name>.  The directory is opened by path
 * on every request (a deleted or replaced directory is seen at once), and
 * every doubt refuses: no directory, an unreadable entry, and no entry
 * for a file of the per-phone directory.  Without an entry a file of ROOT
 * is shared (firmware).  Returns 0 or -EACCES.
 */
static int gate_check(const char *name, const struct sockaddr_storage *peer,
		      bool per_phone)
{
	char key[TFTP_FILENAME_MAX + 1], ip[INET6_ADDRSTRLEN], buf[512];
	char *line, *save;
	ssize_t n;
	int dfd, fd, i;

	if (!cfg.gate)
		return 0;
	dfd = open(cfg.gate_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		log_msg(LOG_WARNING, "Failed to open gate directory %s: %s",
			cfg.gate_dir, strerror(errno));
		return -EACCES;
	}
	for (i = 0; name[i]; i++)
		key[i] = name[i] == '/' ? ',' : name[i];
	key[i] = 0;
	fd = open_beneath(dfd, key, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
	close(dfd);
	if (fd == -ENOENT)
		return per_phone ? -EACCES : 0;
	if (fd < 0)
		return -EACCES;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EACCES;
	buf[n] = 0;
	addr_ip(peer, ip, sizeof(ip));
	for (line = strtok_r(buf, " \t\r\n", &save); line;
	     line = strtok_r(NULL, " \t\r\n", &save))
		if (!strcmp(line, ip))
			return 0;
	return -EACCES;
}

/*
 * The provisioner's per-phone files live apart from the software images
 * (--phones, on tmpfs under /run: they are rebuilt from the lease store
 * at start) and shadow ROOT.  Opened by path per request, like the gate,
 * so a directory that appears or is replaced later is seen.
 */
static int phones_open(const char *name, struct stat *st)
{
	int dfd, fd;

	if (!cfg.phones)
		return -ENOENT;
	dfd = open(cfg.phones, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -ENOENT;
	fd = open_file(dfd, name, st);
	close(dfd);
	return fd;
}

/* --- new requests ---------------------------------------------------------- */

/* A socket of its own (the TID, RFC 1350) bound to the address the client
 * talked to and connected to the client.  *mtu gets the route MTU. */
static int xfer_socket(const struct sockaddr_storage *local, socklen_t len,
		       const struct sockaddr_storage *peer, socklen_t plen,
		       unsigned int *mtu)
{
	struct sockaddr_storage a = *local;
	socklen_t ol = sizeof(int);
	int s, err, m = 1500;

	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
	s = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if ((cfg.interface &&
	     setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, cfg.interface,
			(socklen_t)strlen(cfg.interface)) < 0) ||
	    bind(s, (struct sockaddr *)&a, len) < 0 ||
	    connect(s, (const struct sockaddr *)peer, plen) < 0) {
		err = -errno;
		close(s);
		return err;
	}
	if (a.ss_family == AF_INET)
		getsockopt(s, IPPROTO_IP, IP_MTU, &m, &ol);
	else
		getsockopt(s, IPPROTO_IPV6, IPV6_MTU, &m, &ol);
	*mtu = m > 68 ? (unsigned int)m : 1500;
	return s;
}

static void handle_request(const uint8_t *buf, size_t len,
			   const struct sockaddr_storage *from,
			   socklen_t fromlen,
			   const struct sockaddr_storage *local)
{
	struct tftp_request req;
	struct tftp_params p;
	struct tftp_limits lim = cfg.lim;
	struct epoll_event ev;
	struct xfer *t = NULL, *old;
	struct client *cl;
	char who[INET6_ADDRSTRLEN + 8];
	struct stat st;
	bool per_phone = false, v4;
	int r, fd = -1, sock;
	unsigned int mtu = 1500;

	if (!tftp_listen_answers(buf, len))
		return; /* never answer ERROR, DATA, ACK, OACK, junk */
	addr_str(from, who, sizeof(who));
	r = tftp_parse_request(buf, len, &req);
	if (r < 0) {
		ctr.refused_malformed++;
		log_msg(LOG_NOTICE, "Malformed request from %s", who);
		listen_error(from, fromlen, local, TFTP_EBADOP,
			     "Malformed request");
		return;
	}
	if (req.opcode == TFTP_WRQ) {
		ctr.refused_write++;
		log_msg(LOG_NOTICE, "Refused write of %s from %s",
			ESC(req.filename), who);
		listen_error(from, fromlen, local, TFTP_EACCESS,
			     "Read-only server");
		return;
	}
	tftp_filename_canon(req.filename);
	old = xfer_find(from);
	if (old) {
		/* the client repeated its RRQ because our first answer was
		 * lost: the running transfer retransmits it */
		if (!tftp_xfer_proven(&old->x) &&
		    !strcmp(old->name, req.filename))
			return;
		xfer_free(old);
	}
	if (!new_allowed(from)) {
		/* silently: an answer is what a forger wants */
		new_limited++;
		log_msg((new_limited & (new_limited - 1)) ? LOG_DEBUG :
							    LOG_NOTICE,
			"Ignored RRQ of %s from %s: --new-rate (%llu so far)",
			ESC(req.filename), who, new_limited);
		return;
	}

	r = tftp_filename_check(req.filename);
	if (!r) {
		fd = phones_open(req.filename, &st);
		per_phone = fd >= 0 || fd == -EACCES;
		if (fd == -ENOENT)
			fd = open_file(root_fd, req.filename, &st);
		r = fd < 0 ? fd : 0;
	}
	/* after the open, so the gate sees where the file was found */
	if (!r)
		r = gate_check(req.filename, from, per_phone);
	if (r < 0) {
		bool nf = r == -ENOENT || r == -ENOTDIR;

		if (nf)
			ctr.refused_not_found++;
		else
			ctr.refused_access++;
		log_msg(LOG_NOTICE, "Refused %s to %s: %s", ESC(req.filename),
			who, strerror(-r));
		listen_error(from, fromlen, local,
			     nf ? TFTP_ENOTFOUND : TFTP_EACCESS,
			     nf ? "File not found" : "Access violation");
		goto fail;
	}

	sock = xfer_socket(local, laddrlen, from, fromlen, &mtu);
	if (sock < 0) {
		log_msg(LOG_ERR, "Failed to create transfer socket: %s",
			strerror(-sock));
		listen_error(from, fromlen, local, TFTP_EUNDEF, "Server busy");
		goto fail;
	}
	/* Evict before taking the client record: evicting the client's only
	 * transfer frees that record (use-after-free, then double free). */
	xfer_make_room(client_get(from, false));
	cl = client_get(from, true);
	t = calloc(1, sizeof(*t));
	if (!t || !cl) {
		close(sock);
		free(t);
		client_put(cl);
		listen_error(from, fromlen, local, TFTP_ENOSPACE,
			     "Out of memory");
		goto fail;
	}
	nxfers++;
	cl->n++;
	t->cl = cl;
	t->sock = sock;
	t->fd = fd;
	fd = -1;
	t->heap_idx = SIZE_MAX;
	t->peer = *from;
	t->peerlen = fromlen;
	t->start_ms = now;
	t->mtu = mtu;
	memcpy(t->name, req.filename, sizeof(t->name));
	memcpy(t->peer_str, who, sizeof(t->peer_str));
	lru_append(t);
	t->hnext = buckets[addr_hash(from)];
	buckets[addr_hash(from)] = t;
	posix_fadvise(t->fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	/* A block larger than the path MTU leaves in IP fragments, and one
	 * lost fragment loses the block: cap at the route MTU unless the
	 * operator set --max-blksize. */
	v4 = from->ss_family == AF_INET ||
	     IN6_IS_ADDR_V4MAPPED(
		     &((const struct sockaddr_in6 *)from)->sin6_addr);
	if (cfg.blksize_auto && mtu > (v4 ? 28u : 48u) + TFTP_HDR &&
	    mtu - (v4 ? 28u : 48u) - TFTP_HDR < lim.max_blksize)
		lim.max_blksize = mtu - (v4 ? 28u : 48u) - TFTP_HDR;
	tftp_negotiate(&req, &lim, (uint64_t)st.st_size, &p);
	tftp_xfer_init(&t->x, &p, (uint64_t)st.st_size, now);

	ev.events = EPOLLIN;
	ev.data.ptr = t;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, t->sock, &ev) < 0) {
		log_msg(LOG_ERR, "Failed to add transfer socket: %m");
		xfer_free(t);
		return;
	}
	log_msg(LOG_INFO,
		"RRQ %s from %s, %s, %llu bytes, blksize %u, windowsize %u%s",
		ESC(t->name), who,
		p.mode == TFTP_MODE_OCTET ? "octet" : "netascii",
		(unsigned long long)st.st_size, p.blksize, p.windowsize,
		p.opts ? ", OACK" : "");
	ctr.started++;
	xfer_kick(t);
	return;
fail:
	if (fd >= 0)
		close(fd);
}

static void listen_input(void)
{
	struct sockaddr_storage from, local;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} cbuf;
	int i;

	for (i = 0; i < 256; i++) {
		struct iovec iov = { rxbuf[0], sizeof(rxbuf[0]) };
		struct msghdr mh = {
			.msg_name = &from,
			.msg_namelen = sizeof(from),
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf.buf,
			.msg_controllen = sizeof(cbuf.buf),
		};
		struct cmsghdr *c;
		ssize_t n = recvmsg(lsock, &mh, MSG_DONTWAIT);

		if (n < 0)
			break;
		/* answer from the address the client talked to, even when
		 * listening on the wildcard address: ipi_spec_dst is the
		 * local address (ipi_addr may be a broadcast address) */
		local = laddr;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == IPPROTO_IP &&
			    c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				((struct sockaddr_in *)&local)->sin_addr =
					pi.ipi_spec_dst;
			} else if (c->cmsg_level == IPPROTO_IPV6 &&
				   c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				((struct sockaddr_in6 *)&local)->sin6_addr =
					pi.ipi6_addr;
			}
		}
		if (mh.msg_flags & MSG_TRUNC) {
			/* longer than any request we parse: still say so */
			if (tftp_listen_answers(rxbuf[0], (size_t)n))
				listen_error(&from, mh.msg_namelen, &local,
					     TFTP_EBADOP, "Request too long");
			continue;
		}
		handle_request(rxbuf[0], (size_t)n, &from, mh.msg_namelen,
			       &local);
	}
}

/* --- setup ----------------------------------------------------------------- */

static int setup(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct rlimit rl;
	int one = 1, buf = 8 << 20, got = 0, r;
	socklen_t gl = sizeof(got);

	root_fd = open(cfg.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		r = -errno;
		log_msg(LOG_ERR, "Failed to open root %s: %s", cfg.root,
			strerror(-r));
		return r;
	}
	r = conf_parse_listen(cfg.listen, &laddr, &laddrlen);
	if (r < 0) {
		log_msg(LOG_ERR, "Failed to parse listen address %s",
			cfg.listen);
		return r;
	}
	if (cfg.check)
		return 0;
	if (getrandom(hash_key, sizeof(hash_key), 0) != sizeof(hash_key)) {
		r = -errno;
		log_msg(LOG_ERR, "Failed to get a hash key: %s", strerror(-r));
		return r;
	}

	/* two descriptors per transfer */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < 2ull * cfg.max_transfers + 32) {
		cfg.max_transfers = (unsigned int)((rl.rlim_cur - 32) / 2);
		log_msg(LOG_INFO,
			"File descriptor limit allows only %u transfers",
			cfg.max_transfers);
	}
	heap = calloc(cfg.max_transfers + 1, sizeof(*heap));
	if (!heap)
		return -ENOMEM;

	lsock = socket(laddr.ss_family,
		       SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lsock < 0) {
		r = -errno;
		log_msg(LOG_ERR, "Failed to create socket: %s", strerror(-r));
		return r;
	}
	setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* a boot storm sends hundreds of RRQs at once; SO_RCVBUFFORCE would
	 * need CAP_NET_ADMIN, which the unit does not grant: the sysctl
	 * net.core.rmem_max is the operator's knob */
	setsockopt(lsock, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	/* the kernel reports twice what it grants (its overhead) */
	if (!getsockopt(lsock, SOL_SOCKET, SO_RCVBUF, &got, &gl) &&
	    got / 2 < buf)
		log_msg(LOG_NOTICE,
			"Receive buffer %d bytes (net.core.rmem_max); %d wanted",
			got / 2, buf);
	if (laddr.ss_family == AF_INET)
		setsockopt(lsock, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	else
		setsockopt(lsock, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
			   sizeof(one));
	if (cfg.interface &&
	    setsockopt(lsock, SOL_SOCKET, SO_BINDTODEVICE, cfg.interface,
		       (socklen_t)strlen(cfg.interface)) < 0) {
		r = -errno;
		log_msg(LOG_ERR, "Failed to bind to interface %s: %s",
			ESC(cfg.interface), strerror(-r));
		return r;
	}
	if (bind(lsock, (struct sockaddr *)&laddr, laddrlen) < 0) {
		r = -errno;
		log_msg(LOG_ERR, "Failed to bind %s: %s", cfg.listen,
			strerror(-r));
		return r;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lsock, &ev) < 0) {
		r = -errno;
		log_msg(LOG_ERR, "Failed to set up epoll: %s", strerror(-r));
		return r;
	}
	return 0;
}

static void on_signal(int sig)
{
	stop = 1;
}

/* Replaced whole (tmp + rename): a reader never sees half a file. */
static void write_stats(void)
{
	char tmp[PATH_MAX];
	FILE *f;
	int fd;

	if (!cfg.stats_file)
		return;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", cfg.stats_file) >=
	    (int)sizeof(tmp))
		return;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		log_msg(LOG_WARNING, "Failed to write %s: %m", cfg.stats_file);
		return;
	}
	fchmod(fd, 0644);
	fprintf(f,
		"# HELP nappt_tftp_transfers_total Transfers started and how "
		"they ended.\n"
		"# TYPE nappt_tftp_transfers_total counter\n"
		"nappt_tftp_transfers_total{end=\"started\"} %llu\n"
		"nappt_tftp_transfers_total{end=\"completed\"} %llu\n"
		"nappt_tftp_transfers_total{end=\"aborted_by_client\"} %llu\n"
		"nappt_tftp_transfers_total{end=\"gave_up\"} %llu\n"
		"nappt_tftp_transfers_total{end=\"evicted\"} %llu\n"
		"nappt_tftp_transfers_total{end=\"read_error\"} %llu\n"
		"# HELP nappt_tftp_refused_total Requests refused, by "
		"reason.\n"
		"# TYPE nappt_tftp_refused_total counter\n"
		"nappt_tftp_refused_total{reason=\"not_found\"} %llu\n"
		"nappt_tftp_refused_total{reason=\"access\"} %llu\n"
		"nappt_tftp_refused_total{reason=\"write\"} %llu\n"
		"nappt_tftp_refused_total{reason=\"malformed\"} %llu\n"
		"nappt_tftp_refused_total{reason=\"new_rate\"} %llu\n"
		"# TYPE nappt_tftp_sent_bytes_total counter\n"
		"nappt_tftp_sent_bytes_total %llu\n"
		"# TYPE nappt_tftp_transfers gauge\n"
		"nappt_tftp_transfers %u\n",
		ctr.started, ctr.completed, ctr.aborted_by_client, ctr.gave_up,
		ctr.evicted, ctr.read_errors, ctr.refused_not_found,
		ctr.refused_access, ctr.refused_write, ctr.refused_malformed,
		new_limited, ctr.bytes, nxfers);
	if (fclose(f) || rename(tmp, cfg.stats_file)) {
		log_msg(LOG_WARNING, "Failed to write %s: %m", cfg.stats_file);
		unlink(tmp);
	}
}

static int run(void)
{
	struct epoll_event evs[256];
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t last_stats;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_msg(LOG_NOTICE, "Serving %s on %s%s%s", cfg.root, cfg.listen,
		cfg.gate ? ", gated by " : "", cfg.gate ? cfg.gate_dir : "");
	now = now_ms();
	write_stats();
	last_stats = now;
	while (!stop) {
		int timeout = -1, n, i;

		if (heap_len) {
			uint64_t d = heap[0]->deadline;

			timeout = d > now ? (int)(d - now) : 0;
		}
		if (cfg.stats_file && (timeout < 0 || timeout > STATS_EVERY_MS))
			timeout = STATS_EVERY_MS;
		n = epoll_wait(epfd, evs, 256, timeout);
		if (n < 0 && errno != EINTR) {
			log_msg(LOG_ERR, "Failed to wait for events: %m");
			return -errno;
		}
		now = now_ms();
		for (i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				listen_input();
			else
				xfer_input(evs[i].data.ptr, evs[i].events);
		}
		while (heap_len && heap[0]->deadline <= now)
			xfer_timeout(heap[0]);
		xfer_reap();
		if (cfg.stats_file && now - last_stats >= STATS_EVERY_MS) {
			write_stats();
			last_stats = now;
		}
	}
	log_msg(LOG_NOTICE, "Stopping with %u transfers running", nxfers);
	write_stats();
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: nappt-tftpd [OPTIONS] [ROOT]\n"
		"Read-only TFTP server (RFC 1350, 2347, 2348, 2349, 7440).\n\n"
		"  -r, --root DIR             directory served (default /srv/tftp)\n"
		"  -l, --listen ADDR[:PORT]   listen address (default 0.0.0.0:69;\n"
		"                             IPv6 as [ADDR]:PORT)\n"
		"  -i, --interface IFNAME     receive and send on IFNAME only\n"
		"                             (SO_BINDTODEVICE; the LAN side)\n"
		"  -p, --phones DIR           per-phone files (the provisioner's), served\n"
		"                             before ROOT\n"
		"  -g, --gate                 per-phone gating (entries in PHONES/.leases,\n"
		"                             or ROOT/.leases without --phones)\n"
		"  -G, --gate-dir DIR         per-phone gating with the entries in DIR\n"
		"  -m, --max-transfers N      concurrent transfers (default 10000)\n"
		"  -c, --max-per-client N     concurrent transfers per client address\n"
		"                             (default 8; 0: no cap)\n"
		"  -s, --max-stall-s N        give a transfer up after N s without\n"
		"                             progress, whatever it negotiated (default 60)\n"
		"  -L, --max-life-s N         give a transfer up after N s in all\n"
		"                             (default 600)\n"
		"  -N, --new-rate N[:BURST]   new transfers per second per address that\n"
		"                             has not ACKed yet (default 10:20; 0: off)\n"
		"  -e, --error-rate N         error replies per second (default 100)\n"
		"  -b, --max-blksize N        largest blksize granted (default: the\n"
		"                             route MTU minus headers)\n"
		"  -w, --max-windowsize N     largest windowsize granted (default %d)\n"
		"  -t, --timeout-ms N         retransmission timeout when the client\n"
		"                             negotiates none (default 1000)\n"
		"  -R, --retries N            retransmissions before giving up (default 5)\n"
		"  -U, --unproven-retries N   retransmissions of the first packet before\n"
		"                             the client acknowledged anything (default 1)\n"
		"  -v, --verbose              log retransmissions too\n"
		"  -q, --quiet                log warnings and errors only\n"
		"      --config FILE          the gateway's configuration (e.g.\n"
		"                             /etc/nappt/nappt.conf): [tftpd] root,\n"
		"                             listen, interface (default [global]\n"
		"                             interface), gate, gate_dir, stats_file and\n"
		"                             the limits; per-phone files from [global]\n"
		"                             phone_dir.  Options given override it\n"
		"  -n, --check                check the configuration (with --config the\n"
		"                             whole file) and exit\n"
		"  -h, --help                 this text\n",
		TFTP_WINDOW_MAX);
}

static int parse_uint(const char *s, unsigned int min, unsigned int max,
		      unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

/* N or N:BURST; the burst defaults to 2 N */
static int parse_rate(char *s, unsigned int *rate, unsigned int *burst)
{
	char *colon = strchr(s, ':');
	int r;

	if (colon)
		*colon = '\0';
	r = parse_uint(s, 0, 1000000, rate);
	if (!r && colon)
		r = parse_uint(colon + 1, 1, 1000000, burst);
	else if (!r)
		*burst = *rate ? 2 * *rate : 1;
	if (colon)
		*colon = ':';
	return r;
}

static struct prov_conf gw_conf;

/* --config FILE: the whole file is checked (every error as FILE:LINE:
 * reason), then [global] and [tftpd] become the defaults the options
 * override. */
static int load_config(const char *path, unsigned int *stall_s,
		       unsigned int *life_s)
{
	const struct conf_tftpd *t = &gw_conf.tftpd;
	int r = conf_load(path, &gw_conf, stderr);

	if (r < 0) {
		log_msg(LOG_ERR, "Failed to read %s: %s", path, strerror(-r));
		return r;
	}
	r += conf_require(&gw_conf, CONF_TFTPD, stderr);
	if (r) {
		log_msg(LOG_ERR, "%s: %d error(s)", path, r);
		return -EINVAL;
	}
	cfg.root = t->root;
	cfg.phones = gw_conf.tftp_root;
	cfg.interface = t->interface[0] ? t->interface : gw_conf.interface;
	if (t->listen[0])
		cfg.listen = t->listen;
	cfg.gate = t->gate;
	if (t->gate_dir[0])
		cfg.gate_dir = t->gate_dir;
	if (t->stats_file[0])
		cfg.stats_file = t->stats_file;
#define SET(dst, v)                    \
	do {                           \
		if ((v) != CONF_UNSET) \
			(dst) = (v);   \
	} while (0)
	SET(cfg.max_transfers, t->max_transfers);
	SET(cfg.max_per_client, t->max_per_client);
	SET(*stall_s, t->max_stall_s);
	SET(*life_s, t->max_life_s);
	SET(cfg.error_rate, t->error_rate);
	SET(cfg.tm.unproven_retries, t->unproven_retries);
	SET(cfg.lim.max_windowsize, t->max_windowsize);
	SET(cfg.tm.rto_ms, t->timeout_ms);
	SET(cfg.tm.max_retries, t->retries);
	if (t->new_rate != CONF_UNSET) {
		cfg.new_rate = t->new_rate;
		cfg.new_burst = t->new_burst != CONF_UNSET ? t->new_burst :
				t->new_rate		   ? 2 * t->new_rate :
							     1;
	}
	if (t->max_blksize != CONF_UNSET) {
		cfg.lim.max_blksize = t->max_blksize;
		cfg.blksize_auto = false;
	}
#undef SET
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "interface", required_argument, NULL, 'i' },
		{ "gate", no_argument, NULL, 'g' },
		{ "gate-dir", required_argument, NULL, 'G' },
		{ "max-per-client", required_argument, NULL, 'c' },
		{ "max-stall-s", required_argument, NULL, 's' },
		{ "max-life-s", required_argument, NULL, 'L' },
		{ "new-rate", required_argument, NULL, 'N' },
		{ "error-rate", required_argument, NULL, 'e' },
		{ "unproven-retries", required_argument, NULL, 'U' },
		{ "phones", required_argument, NULL, 'p' },
		{ "max-transfers", required_argument, NULL, 'm' },
		{ "max-blksize", required_argument, NULL, 'b' },
		{ "max-windowsize", required_argument, NULL, 'w' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "check", no_argument, NULL, 'n' },
		{ "config", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static const char optstr[] = "r:l:i:gG:p:m:c:s:L:N:e:b:w:t:R:U:vqnh";
	const char *conf_file = NULL;
	static char gate_buf[PATH_MAX];
	unsigned int stall_s = 60, life_s = 600;
	int c, r = 0;

	setvbuf(stderr, NULL, _IOLBF, 0);
	/* The file first, wherever --config stands: options override it. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstr, opts, NULL)) != -1)
		if (c == 'C')
			conf_file = optarg;
	opterr = 1;
	optind = 0; /* glibc: start over */
	if (conf_file && load_config(conf_file, &stall_s, &life_s))
		return 1;
	while ((c = getopt_long(argc, argv, optstr, opts, NULL)) != -1) {
		switch (c) {
		case 'C':
			break;
		case 'r':
			cfg.root = optarg;
			break;
		case 'l':
			cfg.listen = optarg;
			break;
		case 'i':
			cfg.interface = optarg;
			r = strlen(optarg) && strlen(optarg) < IFNAMSIZ ?
				    0 :
				    -EINVAL;
			break;
		case 'g':
			cfg.gate = true;
			break;
		case 'G':
			cfg.gate = true;
			cfg.gate_dir = optarg;
			break;
		case 'c':
			r = parse_uint(optarg, 0, 1000000, &cfg.max_per_client);
			break;
		case 's':
			r = parse_uint(optarg, 1, 3600, &stall_s);
			break;
		case 'L':
			r = parse_uint(optarg, 1, 86400, &life_s);
			break;
		case 'N':
			r = parse_rate(optarg, &cfg.new_rate, &cfg.new_burst);
			break;
		case 'e':
			r = parse_uint(optarg, 1, 1000000, &cfg.error_rate);
			break;
		case 'U':
			r = parse_uint(optarg, 0, 100,
				       &cfg.tm.unproven_retries);
			break;
		case 'p':
			cfg.phones = optarg;
			break;
		case 'm':
			r = parse_uint(optarg, 1, 1000000, &cfg.max_transfers);
			break;
		case 'b':
			r = parse_uint(optarg, TFTP_BLKSIZE_MIN,
				       TFTP_BLKSIZE_MAX, &cfg.lim.max_blksize);
			cfg.blksize_auto = false;
			break;
		case 'w':
			r = parse_uint(optarg, 1, TFTP_WINDOW_MAX,
				       &cfg.lim.max_windowsize);
			break;
		case 't':
			r = parse_uint(optarg, 10, 255000, &cfg.tm.rto_ms);
			break;
		case 'R':
			r = parse_uint(optarg, 0, 100, &cfg.tm.max_retries);
			break;
		case 'v':
			cfg.log_level = LOG_DEBUG;
			break;
		case 'q':
			cfg.log_level = LOG_WARNING;
			break;
		case 'n':
			cfg.check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (r < 0) {
			log_msg(LOG_ERR, "Failed to parse option -%c %s", c,
				optarg);
			return 2;
		}
	}
	if (optind < argc)
		cfg.root = argv[optind++];
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	cfg.tm.max_stall_ms = stall_s * 1000;
	cfg.max_life_ms = life_s * 1000;
	if (cfg.interface && !if_nametoindex(cfg.interface)) {
		log_msg(LOG_ERR, "No interface %s", ESC(cfg.interface));
		return 1;
	}
	if (cfg.gate && !cfg.gate_dir) {
		snprintf(gate_buf, sizeof(gate_buf), "%s/.leases",
			 cfg.phones ? cfg.phones : cfg.root);
		cfg.gate_dir = gate_buf;
	}
	r = setup();
	if (r < 0)
		return 1;
	if (cfg.check) {
		printf("configuration ok: root %s, listen %s%s%s%s%s%s%s\n",
		       cfg.root, cfg.listen,
		       cfg.interface ? ", interface " : "",
		       cfg.interface ? cfg.interface : "",
		       cfg.phones ? ", phones " : "",
		       cfg.phones ? cfg.phones : "", cfg.gate ? ", gate " : "",
		       cfg.gate ? cfg.gate_dir : "");
		return 0;
	}
	return run() < 0 ? 1 : 0;
}
