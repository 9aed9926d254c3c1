// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * tftp-storm: one process that plays a boot storm of many TFTP clients, so
 * that a benchmark measures the server and not 500 client processes.
 *
 * Every client has its own UDP socket (its TID), optionally its own source
 * address, and fetches the given files one after the other.  Every DATA
 * block is compared byte for byte with the original file (mmap).  With
 * options it asks for blksize and windowsize (RFC 2348, 7440) and follows
 * what the OACK grants (a server without windowsize runs lock-step); with
 * -b 0 it sends a plain RFC 1350 request (512-byte lock-step).  RFC 7440
 * receiver: one ACK per window or at the final block, an ACK of the last
 * in-order block when a gap shows, the last ACK again after a timeout.
 *
 * Usage: tftp-storm -s IP[:PORT] -n CLIENTS [-a FIRST_IP -A COUNT]
 *                   [-b BLKSIZE] [-w WINDOWSIZE] [-T TIMEOUT_MS]
 *                   [-l LIMIT_S] NAME=LOCALFILE...
 * Prints "clients=N ok=N failed=N secs=S bytes=B" and exits 0 when every
 * client got every file exact.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILES 4
#define RX_BATCH 16
#define PKT_MAX 65536
#define MAX_TIMEOUTS 20

struct file {
	const char *name;
	const uint8_t *data;
	size_t size;
};

struct client {
	int sock;
	unsigned int file; /* index of the file being fetched */
	bool tid; /* server's transfer port known (socket connected) */
	bool done, failed;
	uint64_t expect; /* next in-order block (64-bit) */
	unsigned int blksize, window, inwin;
	bool gap_acked;
	unsigned int timeouts;
	uint64_t last_ms;
	struct sockaddr_in src;
	struct sockaddr_in peer; /* the server's TID once known */
};

static struct file files[MAX_FILES];
static unsigned int nfiles;
static struct client *cls;
static unsigned int nclients, left, nfailed;
static struct sockaddr_in srv;
static unsigned int opt_blksize = 1428, opt_window = 16, timeout_ms = 1000;
static int epfd;
static uint64_t total_bytes;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put_ack(struct client *c, uint16_t blk)
{
	uint8_t b[4] = { 0, 4, (uint8_t)(blk >> 8), (uint8_t)blk };

	send(c->sock, b, 4, MSG_DONTWAIT);
}

static int send_rrq(struct client *c)
{
	char b[600];
	const char *name = files[c->file].name;
	int n = 2;

	b[0] = 0;
	b[1] = 1;
	n += snprintf(b + n, sizeof(b) - (size_t)n, "%s", name) + 1;
	n += snprintf(b + n, sizeof(b) - (size_t)n, "octet") + 1;
	if (opt_blksize) {
		n += snprintf(b + n, sizeof(b) - (size_t)n, "blksize") + 1;
		n += snprintf(b + n, sizeof(b) - (size_t)n, "%u", opt_blksize) +
		     1;
		if (opt_window > 1) {
			n += snprintf(b + n, sizeof(b) - (size_t)n,
				      "windowsize") +
			     1;
			n += snprintf(b + n, sizeof(b) - (size_t)n, "%u",
				      opt_window) +
			     1;
		}
	}
	return sendto(c->sock, b, (size_t)n, MSG_DONTWAIT,
		      (struct sockaddr *)&srv, sizeof(srv)) < 0 ?
		       -errno :
		       0;
}

static int start_transfer(struct client *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if (c->sock >= 0)
		close(c->sock);
	c->sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->sock < 0)
		return -errno;
	if (c->src.sin_addr.s_addr &&
	    bind(c->sock, (struct sockaddr *)&c->src, sizeof(c->src)) < 0)
		return -errno;
	epoll_ctl(epfd, EPOLL_CTL_ADD, c->sock, &ev);
	c->tid = false;
	c->expect = 0;
	c->blksize = 512;
	c->window = 1;
	c->inwin = 0;
	c->gap_acked = false;
	c->timeouts = 0;
	c->last_ms = now_ms();
	return send_rrq(c);
}

static void finish(struct client *c, bool ok)
{
	if (ok && ++c->file < nfiles) {
		if (start_transfer(c) == 0)
			return;
		ok = false;
	}
	if (!ok) {
		c->failed = true;
		nfailed++;
	}
	c->done = true;
	left--;
	close(c->sock);
	c->sock = -1;
}

static void parse_oack(struct client *c, const uint8_t *p, size_t n)
{
	size_t i = 2;

	while (i < n) {
		const char *k = (const char *)p + i;
		size_t kl = strnlen(k, n - i);
		const char *v;

		if (i + kl + 1 >= n)
			break;
		v = k + kl + 1;
		if (!strcasecmp(k, "blksize"))
			c->blksize = (unsigned int)atoi(v);
		else if (!strcasecmp(k, "windowsize"))
			c->window = (unsigned int)atoi(v);
		i += kl + 1 + strnlen(v, n - i - kl - 1) + 1;
	}
}

static void on_packet(struct client *c, const uint8_t *p, size_t n,
		      const struct sockaddr_in *from)
{
	const struct file *f = &files[c->file];
	uint16_t op, blk;

	if (n < 4 || from->sin_addr.s_addr != srv.sin_addr.s_addr)
		return;
	if (!c->tid) {
		/* the server's TID: from now on only it is heard */
		if (connect(c->sock, (const struct sockaddr *)from,
			    sizeof(*from)) < 0) {
			finish(c, false);
			return;
		}
		c->tid = true;
		c->peer = *from;
	}
	op = (uint16_t)(p[0] << 8 | p[1]);
	blk = (uint16_t)(p[2] << 8 | p[3]);
	if (op == 5) {
		fprintf(stderr, "client %ld: %s: ERROR %u %.*s\n",
			(long)(c - cls), f->name, blk, (int)(n - 4), p + 4);
		finish(c, false);
		return;
	}
	if (op == 6) {
		if (c->expect != 0)
			return;
		parse_oack(c, p, n);
		c->expect = 1;
		c->last_ms = now_ms();
		put_ack(c, 0);
		return;
	}
	if (op != 3)
		return;
	if (c->expect == 0)
		c->expect = 1; /* no OACK: options refused, RFC 1350 rules */
	if (blk == (uint16_t)c->expect) {
		uint64_t off = (c->expect - 1) * c->blksize;
		size_t len = n - 4;
		bool final = len < c->blksize;

		if (len > c->blksize || off + len > f->size ||
		    (final && off + len != f->size) ||
		    memcmp(f->data + off, p + 4, len)) {
			fprintf(stderr, "client %ld: %s: block %llu differs\n",
				(long)(c - cls), f->name,
				(unsigned long long)c->expect);
			finish(c, false);
			return;
		}
		total_bytes += len;
		c->expect++;
		c->inwin++;
		c->gap_acked = false;
		c->timeouts = 0;
		c->last_ms = now_ms();
		if (final) {
			put_ack(c, blk);
			finish(c, true);
			return;
		}
		if (c->inwin >= c->window) {
			put_ack(c, blk);
			c->inwin = 0;
		}
		return;
	}
	/* a gap or a repeat: say once where we stand (RFC 7440); in
	 * lock-step a repeat of the last block means our ACK was lost */
	if (c->window == 1 ? blk == (uint16_t)(c->expect - 1) : !c->gap_acked) {
		put_ack(c, (uint16_t)(c->expect - 1));
		c->gap_acked = true;
		c->inwin = 0;
	}
}

static void on_readable(struct client *c)
{
	static uint8_t bufs[RX_BATCH][PKT_MAX];
	struct sockaddr_in from[RX_BATCH];
	struct mmsghdr mm[RX_BATCH];
	struct iovec iov[RX_BATCH];
	int i, n;

	for (i = 0; i < RX_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = PKT_MAX;
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		/* once connected only the server's TID is heard: no
		 * address to copy out per datagram */
		if (!c->tid) {
			mm[i].msg_hdr.msg_name = &from[i];
			mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
	}
	n = recvmmsg(c->sock, mm, RX_BATCH, MSG_DONTWAIT, NULL);
	for (i = 0; i < n && !c->done; i++) {
		unsigned int f = c->file;

		if (mm[i].msg_hdr.msg_name == NULL)
			from[i] = c->peer;
		on_packet(c, bufs[i], mm[i].msg_len, &from[i]);
		if (c->file != f)
			break; /* next file: a new socket */
	}
}

static void on_timer(uint64_t now)
{
	unsigned int i;

	for (i = 0; i < nclients; i++) {
		struct client *c = &cls[i];

		if (c->done || now - c->last_ms < timeout_ms)
			continue;
		if (++c->timeouts > MAX_TIMEOUTS) {
			fprintf(stderr, "client %u: %s: timed out\n", i,
				files[c->file].name);
			finish(c, false);
			continue;
		}
		c->last_ms = now;
		if (!c->tid)
			send_rrq(c);
		else
			put_ack(c, (uint16_t)(c->expect ? c->expect - 1 : 0));
	}
}

static int load(const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct stat st;
	void *m;
	int fd;

	if (!eq || nfiles >= MAX_FILES)
		return -EINVAL;
	fd = open(eq + 1, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	m = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED,
			      fd, 0) :
			 (void *)"";
	close(fd);
	if (m == MAP_FAILED)
		return -errno;
	files[nfiles].name = strndup(arg, (size_t)(eq - arg));
	files[nfiles].data = m;
	files[nfiles].size = (size_t)st.st_size;
	nfiles++;
	return 0;
}

int main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct in_addr first = { 0 };
	unsigned int naddr = 0, limit_s = 300, i;
	struct rlimit rl;
	uint64_t t0, t1, tick;
	char *colon;
	int c;

	srv.sin_family = AF_INET;
	srv.sin_port = htons(69);
	while ((c = getopt(argc, argv, "s:n:a:A:b:w:T:l:")) != -1) {
		switch (c) {
		case 's':
			colon = strchr(optarg, ':');
			if (colon) {
				*colon = 0;
				srv.sin_port = htons((uint16_t)atoi(colon + 1));
			}
			if (inet_pton(AF_INET, optarg, &srv.sin_addr) != 1)
				return 2;
			break;
		case 'n':
			nclients = (unsigned int)atoi(optarg);
			break;
		case 'a':
			if (inet_pton(AF_INET, optarg, &first) != 1)
				return 2;
			break;
		case 'A':
			naddr = (unsigned int)atoi(optarg);
			break;
		case 'b':
			opt_blksize = (unsigned int)atoi(optarg);
			break;
		case 'w':
			opt_window = (unsigned int)atoi(optarg);
			break;
		case 'T':
			timeout_ms = (unsigned int)atoi(optarg);
			break;
		case 'l':
			limit_s = (unsigned int)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	for (; optind < argc; optind++)
		if (load(argv[optind]) < 0) {
			fprintf(stderr, "Failed to load %s\n", argv[optind]);
			return 2;
		}
	if (!nclients || !nfiles || !srv.sin_addr.s_addr) {
		fprintf(stderr, "usage: see the source\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	cls = calloc(nclients, sizeof(*cls));
	if (epfd < 0 || !cls)
		return 1;
	left = nclients;
	t0 = now_ms();
	for (i = 0; i < nclients; i++) {
		cls[i].sock = -1;
		cls[i].src.sin_family = AF_INET;
		if (naddr)
			cls[i].src.sin_addr.s_addr =
				htonl(ntohl(first.s_addr) + i % naddr);
		if (start_transfer(&cls[i]) < 0) {
			fprintf(stderr, "client %u: failed to start: %s\n", i,
				strerror(errno));
			finish(&cls[i], false);
		}
	}
	tick = t0;
	while (left) {
		int n = epoll_wait(epfd, evs, 256, 50), k;
		uint64_t now = now_ms();

		for (k = 0; k < n; k++) {
			struct client *cl = evs[k].data.ptr;

			if (!cl->done)
				on_readable(cl);
		}
		if (now - tick >= 50) {
			on_timer(now);
			tick = now;
		}
		if (now - t0 > limit_s * 1000ull) {
			for (i = 0; i < nclients; i++)
				if (!cls[i].done)
					finish(&cls[i], false);
		}
	}
	t1 = now_ms();
	printf("clients=%u ok=%u failed=%u secs=%.2f bytes=%llu\n", nclients,
	       nclients - nfailed, nfailed, (double)(t1 - t0) / 1000,
	       (unsigned long long)total_bytes);
	return nfailed ? 1 : 0;
}
