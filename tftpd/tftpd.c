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
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tftp-internal.h"

#define LOG_ERR 3
#define LOG_WARNING 4
#define LOG_NOTICE 5
#define LOG_INFO 6
#define LOG_DEBUG 7

#define HASH_BUCKETS 16384
#define BATCH_MAX 64 /* packets per sendmmsg */
#define ARENA_SIZE (4u << 20)
#define RX_BUDGET 64 /* datagrams per socket per wakeup, for fairness */

struct config {
	const char *root;
	const char *listen;
	const char *gate_dir; /* NULL: no gating */
	const char *phones; /* per-phone files, looked up first; or NULL */
	unsigned int max_transfers;
	unsigned int retries;
	unsigned int timeout_ms;
	struct tftp_limits lim;
	int log_level;
	bool check;
};

struct xfer {
	struct tftp_xfer x;
	int sock;
	int fd;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	char peer_str[INET6_ADDRSTRLEN + 8];
	char name[TFTP_FILENAME_MAX + 1];
	uint64_t start_ms;
	uint64_t deadline;
	size_t heap_idx; /* SIZE_MAX: not armed */
	unsigned int rto_ms;
	struct xfer *hnext;
};

static struct config cfg = {
	.root = "/srv/tftp",
	.listen = "0.0.0.0:69",
	.max_transfers = 10000,
	.retries = 5,
	.timeout_ms = 1000,
	.lim = { .max_blksize = TFTP_BLKSIZE_MAX,
		 .max_windowsize = TFTP_WINDOW_MAX },
	.log_level = LOG_INFO,
};

static int root_fd = -1;
static int gate_fd = -1;
static int phones_fd = -1;
static int epfd = -1;
static int lsock = -1;
static struct sockaddr_storage laddr;
static socklen_t laddrlen;
static uint64_t now;
static volatile sig_atomic_t stop;

static struct xfer *buckets[HASH_BUCKETS];
/* Transfers closed during one epoll batch are freed after it, so an event
 * later in the same batch never points at freed memory. */
static struct xfer *graveyard;
static struct xfer **heap;
static size_t heap_len;
static unsigned int nxfers;

static uint8_t arena[ARENA_SIZE];
static uint8_t rxbuf[TFTP_REQ_MAX + 64];

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

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- addresses ------------------------------------------------------------ */

static int parse_listen(const char *s, struct sockaddr_storage *ss,
			socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *h = s;
	size_t hl;
	unsigned long p = 69;
	char *end;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb)
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		if (rb[1] == ':')
			port = rb + 2;
		else if (rb[1])
			return -EINVAL;
	} else {
		const char *c = strchr(s, ':');

		if (c && strchr(c + 1, ':'))
			c = NULL; /* bare IPv6 address without a port */
		hl = c ? (size_t)(c - s) : strlen(s);
		if (c)
			port = c + 1;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	if (port) {
		errno = 0;
		p = strtoul(port, &end, 10);
		if (errno || *end || !*port || p > 65535)
			return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (!hl)
		strcpy(host, "0.0.0.0");
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) ==
	    1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host,
		      &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

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

static unsigned int addr_hash(const struct sockaddr_storage *ss)
{
	const uint8_t *p;
	size_t n;
	uint32_t h = 2166136261u; /* FNV-1a */

	if (ss->ss_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
		n = 4;
	} else {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)ss)
			    ->sin6_addr;
		n = 16;
	}
	while (n--)
		h = (h ^ *p++) * 16777619u;
	h = (h ^ addr_port(ss)) * 16777619u;
	return h % HASH_BUCKETS;
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

static void xfer_free(struct xfer *t)
{
	struct xfer **pp;

	if (!t)
		return;
	for (pp = &buckets[addr_hash(&t->peer)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == t) {
			*pp = t->hnext;
			break;
		}
	}
	timer_disarm(t);
	if (t->sock >= 0)
		close(t->sock); /* also leaves the epoll set */
	if (t->fd >= 0)
		close(t->fd);
	t->sock = t->fd = -1;
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

static void send_error_from(int sock, const struct sockaddr_storage *to,
			    socklen_t tolen, uint16_t code, const char *msg)
{
	uint8_t buf[128];
	ssize_t n = tftp_build_error(code, msg, buf, sizeof(buf));

	if (n > 0)
		sendto(sock, buf, (size_t)n, MSG_DONTWAIT,
		       (const struct sockaddr *)to, tolen);
}

static ssize_t file_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	ssize_t r = pread(*(int *)ctx, buf, len, (off_t)off);

	return r < 0 ? -errno : r;
}

static unsigned int xfer_rto(const struct xfer *t)
{
	unsigned int shift = t->x.retries < 3 ? t->x.retries : 3;

	/* exponential back-off, capped at 8x the base */
	return t->rto_ms << shift;
}

/*
 * sendmmsg() stops at the first datagram that fails.  A full socket buffer
 * (EAGAIN, ENOBUFS) stops the burst: the rest counts as lost and goes again
 * when the timer fires.  Any other error (a firewall drop gives EPERM) is
 * a loss of that one datagram, and the rest of the burst still goes.
 */
static int send_batch(struct xfer *t, struct mmsghdr *msgs, unsigned int k)
{
	unsigned int done = 0;

	while (done < k) {
		int n = sendmmsg(t->sock, msgs + done, k - done, MSG_DONTWAIT);

		if (n > 0) {
			done += (unsigned int)n;
			continue;
		}
		if (n < 0 &&
		    (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
			t->x.next -= k - done;
			return -EAGAIN;
		}
		done++; /* lost on the way out */
	}
	return 0;
}

/* Put every block the window allows on the wire, then arm the timer. */
static void xfer_send(struct xfer *t)
{
	struct mmsghdr msgs[BATCH_MAX];
	struct iovec iov[BATCH_MAX];
	unsigned int want = tftp_xfer_burst(&t->x);

	while (want) {
		size_t used = 0;
		unsigned int k = 0;

		while (k < want && k < BATCH_MAX &&
		       ARENA_SIZE - used >= (size_t)t->x.p.blksize + TFTP_HDR) {
			ssize_t n = tftp_xfer_build_data(&t->x, file_read,
							 &t->fd, arena + used,
							 ARENA_SIZE - used);

			if (n < 0) {
				log_msg(LOG_ERR, "Failed to read %s: %s",
					t->name, strerror((int)-n));
				break;
			}
			iov[k].iov_base = arena + used;
			iov[k].iov_len = (size_t)n;
			memset(&msgs[k], 0, sizeof(msgs[k]));
			msgs[k].msg_hdr.msg_name = &t->peer;
			msgs[k].msg_hdr.msg_namelen = t->peerlen;
			msgs[k].msg_hdr.msg_iov = &iov[k];
			msgs[k].msg_hdr.msg_iovlen = 1;
			used += (size_t)n;
			k++;
		}
		if (!k)
			break;
		if (send_batch(t, msgs, k) < 0)
			break;
		want -= k;
	}
	timer_arm(t, now + xfer_rto(t));
}

static void xfer_finish(struct xfer *t)
{
	uint64_t bytes = t->x.p.mode == TFTP_MODE_OCTET ? t->x.size : 0;

	log_msg(LOG_INFO,
		"Sent %s to %s: %llu bytes, %llu blocks, blksize %u, windowsize %u, %llu ms",
		t->name, t->peer_str, (unsigned long long)bytes,
		(unsigned long long)t->x.last, t->x.p.blksize,
		t->x.p.windowsize, (unsigned long long)(now - t->start_ms));
	xfer_free(t);
}

static void xfer_input(struct xfer *t)
{
	struct sockaddr_storage from;
	bool send = false;
	int i;

	if (t->sock < 0)
		return; /* closed earlier in this batch */
	for (i = 0; i < RX_BUDGET; i++) {
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(t->sock, rxbuf, sizeof(rxbuf),
				     MSG_DONTWAIT, (struct sockaddr *)&from,
				     &fromlen);
		uint16_t op;

		if (n < 0)
			break;
		if (!addr_eq(&from, &t->peer)) {
			/* RFC 1350: a packet from another TID gets an error
			 * and leaves this transfer alone */
			send_error_from(t->sock, &from, fromlen, TFTP_EBADID,
					"Unknown transfer ID");
			continue;
		}
		if (n < 4) {
			continue;
		}
		op = (uint16_t)(rxbuf[0] << 8 | rxbuf[1]);
		if (op == TFTP_ACK) {
			uint16_t blk = (uint16_t)(rxbuf[2] << 8 | rxbuf[3]);

			switch (tftp_xfer_on_ack(&t->x, blk)) {
			case TFTP_ACK_DONE:
				xfer_finish(t);
				return;
			case TFTP_ACK_ADVANCED:
				send = true;
				break;
			case TFTP_ACK_IGNORED:
				log_msg(LOG_DEBUG,
					"Ignored ACK %u for %s from %s (una %llu next %llu)",
					blk, t->name, t->peer_str,
					(unsigned long long)t->x.una,
					(unsigned long long)t->x.next);
				break;
			}
		} else if (op == TFTP_ERROR) {
			rxbuf[n < (ssize_t)sizeof(rxbuf) ? n : n - 1] = 0;
			log_msg(LOG_NOTICE, "Client %s aborted %s: error %u %s",
				t->peer_str, t->name,
				(unsigned int)(rxbuf[2] << 8 | rxbuf[3]),
				n > 4 ? (char *)rxbuf + 4 : "");
			xfer_free(t);
			return;
		} else {
			send_error_from(t->sock, &t->peer, t->peerlen,
					TFTP_EBADOP, "Illegal TFTP operation");
			log_msg(LOG_NOTICE, "Aborted %s to %s: opcode %u",
				t->name, t->peer_str, op);
			xfer_free(t);
			return;
		}
	}
	if (send)
		xfer_send(t);
}

static void xfer_timeout(struct xfer *t)
{
	if (tftp_xfer_on_timeout(&t->x, cfg.retries) < 0) {
		log_msg(LOG_NOTICE, "Gave up sending %s to %s after %u retries",
			t->name, t->peer_str, cfg.retries);
		send_error_from(t->sock, &t->peer, t->peerlen, TFTP_EUNDEF,
				"Timed out");
		xfer_free(t);
		return;
	}
	log_msg(LOG_DEBUG, "Retransmitting %s to %s from block %llu", t->name,
		t->peer_str, (unsigned long long)t->x.una);
	xfer_send(t);
}

/* --- access: root, gating ------------------------------------------------- */

static int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC | O_NOCTTY,
		/* the kernel refuses "..", absolute paths and symlinks that
		 * leave dirfd; magic links (/proc/self/fd/...) never */
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

/*
 * Gating (see README.md): <gate_dir>/<name with '/' as ','> lists, one per
 * line, the IPs allowed to read <name>.  No entry: the file is not a
 * per-phone file and anyone may read it.  Returns 0 or -EACCES.
 */
static int gate_check(const char *name, const struct sockaddr_storage *peer)
{
	char key[TFTP_FILENAME_MAX + 1], ip[INET6_ADDRSTRLEN], buf[512];
	char *line, *save;
	ssize_t n;
	int fd, i;

	if (!cfg.gate_dir)
		return 0;
	if (gate_fd < 0) {
		gate_fd = open(cfg.gate_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (gate_fd < 0) {
			/* no leases published yet: nothing is per-phone */
			return 0;
		}
	}
	for (i = 0; name[i]; i++)
		key[i] = name[i] == '/' ? ',' : name[i];
	key[i] = 0;
	fd = open_beneath(gate_fd, key, O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
	if (fd == -ENOENT)
		return 0;
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
 * at start) and shadow ROOT.  The directory may appear after we start.
 */
static int phones_open(const char *name)
{
	if (!cfg.phones)
		return -ENOENT;
	if (phones_fd < 0) {
		phones_fd = open(cfg.phones, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (phones_fd < 0)
			return -ENOENT;
	}
	return open_beneath(phones_fd, name, O_RDONLY | O_NONBLOCK);
}

/* --- new requests ---------------------------------------------------------- */

static int xfer_socket(const struct sockaddr_storage *local, socklen_t len)
{
	struct sockaddr_storage a = *local;
	int s;

	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&a)->sin6_port = 0;
	s = socket(a.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (bind(s, (struct sockaddr *)&a, len) < 0) {
		int err = -errno;

		close(s);
		return err;
	}
	return s;
}

static void handle_request(const uint8_t *buf, size_t len,
			   const struct sockaddr_storage *from,
			   socklen_t fromlen,
			   const struct sockaddr_storage *local)
{
	struct tftp_request req;
	struct tftp_params p;
	struct epoll_event ev;
	struct xfer *t = NULL, *old;
	char who[INET6_ADDRSTRLEN + 8];
	struct stat st;
	int r;

	addr_str(from, who, sizeof(who));
	r = tftp_parse_request(buf, len, &req);
	if (r == -EPROTO) {
		send_error_from(lsock, from, fromlen, TFTP_EBADOP,
				"Illegal TFTP operation");
		return;
	}
	if (r < 0) {
		log_msg(LOG_NOTICE, "Malformed request from %s", who);
		send_error_from(lsock, from, fromlen, TFTP_EBADOP,
				"Malformed request");
		return;
	}
	if (req.opcode == TFTP_WRQ) {
		log_msg(LOG_NOTICE, "Refused write of %s from %s", req.filename,
			who);
		send_error_from(lsock, from, fromlen, TFTP_EACCESS,
				"Read-only server");
		return;
	}
	old = xfer_find(from);
	if (old) {
		/* the client repeated its RRQ because our first answer was
		 * lost: the running transfer retransmits it */
		if (old->x.una <= 1 && !strcmp(old->name, req.filename))
			return;
		xfer_free(old);
	}
	if (nxfers >= cfg.max_transfers) {
		log_msg(LOG_WARNING, "Refused %s from %s: %u transfers running",
			req.filename, who, nxfers);
		send_error_from(lsock, from, fromlen, TFTP_EUNDEF,
				"Server busy");
		return;
	}

	t = calloc(1, sizeof(*t));
	if (!t) {
		send_error_from(lsock, from, fromlen, TFTP_ENOSPACE,
				"Out of memory");
		return;
	}
	nxfers++;
	t->sock = -1;
	t->fd = -1;
	t->heap_idx = SIZE_MAX;
	t->peer = *from;
	t->peerlen = fromlen;
	t->start_ms = now;
	memcpy(t->name, req.filename, sizeof(t->name));
	memcpy(t->peer_str, who, sizeof(t->peer_str));

	r = tftp_filename_check(req.filename);
	if (!r)
		r = gate_check(req.filename, from);
	if (!r) {
		t->fd = phones_open(req.filename);
		if (t->fd == -ENOENT)
			t->fd = open_beneath(root_fd, req.filename,
					     O_RDONLY | O_NONBLOCK);
		r = t->fd < 0 ? t->fd : 0;
	}
	if (!r && fstat(t->fd, &st) < 0)
		r = -errno;
	if (!r && !S_ISREG(st.st_mode))
		r = -EACCES;
	if (r < 0) {
		bool nf = r == -ENOENT || r == -ENOTDIR;

		log_msg(LOG_NOTICE, "Refused %s to %s: %s", req.filename, who,
			strerror(-r));
		send_error_from(lsock, from, fromlen,
				nf ? TFTP_ENOTFOUND : TFTP_EACCESS,
				nf ? "File not found" : "Access violation");
		goto fail;
	}
	posix_fadvise(t->fd, 0, 0, POSIX_FADV_SEQUENTIAL);

	tftp_negotiate(&req, &cfg.lim, (uint64_t)st.st_size, &p);
	tftp_xfer_init(&t->x, &p, (uint64_t)st.st_size);
	t->rto_ms = p.timeout ? p.timeout * 1000 : cfg.timeout_ms;

	t->sock = xfer_socket(local, laddrlen);
	if (t->sock < 0) {
		log_msg(LOG_ERR, "Failed to create transfer socket: %s",
			strerror(-t->sock));
		send_error_from(lsock, from, fromlen, TFTP_EUNDEF,
				"Server busy");
		goto fail;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = t;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, t->sock, &ev) < 0) {
		log_msg(LOG_ERR, "Failed to add transfer socket: %m");
		goto fail;
	}
	t->hnext = buckets[addr_hash(from)];
	buckets[addr_hash(from)] = t;

	log_msg(LOG_INFO,
		"RRQ %s from %s, %s, %llu bytes, blksize %u, windowsize %u%s",
		t->name, who, p.mode == TFTP_MODE_OCTET ? "octet" : "netascii",
		(unsigned long long)st.st_size, p.blksize, p.windowsize,
		p.opts ? ", OACK" : "");
	xfer_send(t);
	return;
fail:
	xfer_free(t);
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
		struct iovec iov = { rxbuf, sizeof(rxbuf) };
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
		if (mh.msg_flags & MSG_TRUNC)
			continue;
		/* answer from the address the client talked to, even when
		 * listening on the wildcard address */
		local = laddr;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == IPPROTO_IP &&
			    c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				((struct sockaddr_in *)&local)->sin_addr =
					pi.ipi_addr;
			} else if (c->cmsg_level == IPPROTO_IPV6 &&
				   c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				((struct sockaddr_in6 *)&local)->sin6_addr =
					pi.ipi6_addr;
			}
		}
		handle_request(rxbuf, (size_t)n, &from, mh.msg_namelen, &local);
	}
}

/* --- setup ----------------------------------------------------------------- */

static int setup(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct rlimit rl;
	int one = 1, buf = 8 << 20, r;

	root_fd = open(cfg.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		r = -errno;
		log_msg(LOG_ERR, "Failed to open root %s: %s", cfg.root,
			strerror(-r));
		return r;
	}
	r = parse_listen(cfg.listen, &laddr, &laddrlen);
	if (r < 0) {
		log_msg(LOG_ERR, "Failed to parse listen address %s",
			cfg.listen);
		return r;
	}
	if (cfg.check)
		return 0;

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
	/* a boot storm sends hundreds of RRQs at once */
	if (setsockopt(lsock, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(lsock, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (laddr.ss_family == AF_INET)
		setsockopt(lsock, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	else
		setsockopt(lsock, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one,
			   sizeof(one));
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

static int run(void)
{
	struct epoll_event evs[256];
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_msg(LOG_NOTICE, "Serving %s on %s%s%s", cfg.root, cfg.listen,
		cfg.gate_dir ? ", gated by " : "",
		cfg.gate_dir ? cfg.gate_dir : "");
	now = now_ms();
	while (!stop) {
		int timeout = -1, n, i;

		if (heap_len) {
			uint64_t d = heap[0]->deadline;

			timeout = d > now ? (int)(d - now) : 0;
		}
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
				xfer_input(evs[i].data.ptr);
		}
		while (heap_len && heap[0]->deadline <= now)
			xfer_timeout(heap[0]);
		xfer_reap();
	}
	log_msg(LOG_NOTICE, "Stopping with %u transfers running", nxfers);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: nappt-tftpd [OPTIONS] [ROOT]\n"
		"Read-only TFTP server (RFC 1350, 2347, 2348, 2349, 7440).\n\n"
		"  -r, --root DIR           directory served (default /srv/tftp)\n"
		"  -l, --listen ADDR[:PORT] listen address (default 0.0.0.0:69;\n"
		"                           IPv6 as [ADDR]:PORT)\n"
		"  -p, --phones DIR         per-phone files (the provisioner's), served\n"
		"                           before ROOT\n"
		"  -g, --gate[=DIR]         per-phone gating; lease entries in DIR\n"
		"                           (default PHONES/.leases or ROOT/.leases)\n"
		"  -m, --max-transfers N    concurrent transfers (default 10000)\n"
		"  -b, --max-blksize N      largest blksize granted (default 65464)\n"
		"  -w, --max-windowsize N   largest windowsize granted (default %d)\n"
		"  -t, --timeout-ms N       retransmission timeout when the client\n"
		"                           negotiates none (default 1000)\n"
		"  -R, --retries N          retransmissions before giving up (default 5)\n"
		"  -v, --verbose            log retransmissions too\n"
		"  -q, --quiet              log warnings and errors only\n"
		"  -n, --check              check the configuration and exit\n"
		"  -h, --help               this text\n",
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "listen", required_argument, NULL, 'l' },
		{ "gate", optional_argument, NULL, 'g' },
		{ "phones", required_argument, NULL, 'p' },
		{ "max-transfers", required_argument, NULL, 'm' },
		{ "max-blksize", required_argument, NULL, 'b' },
		{ "max-windowsize", required_argument, NULL, 'w' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "check", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static char gate_buf[PATH_MAX];
	bool gate = false;
	const char *gate_arg = NULL;
	int c, r = 0;

	setvbuf(stderr, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "r:l:g::p:m:b:w:t:R:vqnh", opts,
				NULL)) != -1) {
		switch (c) {
		case 'r':
			cfg.root = optarg;
			break;
		case 'l':
			cfg.listen = optarg;
			break;
		case 'g':
			gate = true;
			gate_arg = optarg;
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
			break;
		case 'w':
			r = parse_uint(optarg, 1, TFTP_WINDOW_MAX,
				       &cfg.lim.max_windowsize);
			break;
		case 't':
			r = parse_uint(optarg, 10, 255000, &cfg.timeout_ms);
			break;
		case 'R':
			r = parse_uint(optarg, 0, 100, &cfg.retries);
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
	if (gate) {
		if (!gate_arg) {
			snprintf(gate_buf, sizeof(gate_buf), "%s/.leases",
				 cfg.phones ? cfg.phones : cfg.root);
			gate_arg = gate_buf;
		}
		cfg.gate_dir = gate_arg;
	}
	r = setup();
	if (r < 0)
		return 1;
	if (cfg.check) {
		printf("configuration ok: root %s, listen %s\n", cfg.root,
		       cfg.listen);
		return 0;
	}
	return run() < 0 ? 1 : 0;
}
