// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nappt-stream: a test and benchmark tool, not part of the product.
 *
 * A numbered UDP stream through the gateway in both directions, to
 * measure what a restart, an upgrade or a failover (issue 14) costs the
 * phones' media: the phone
 * side sends numbered datagrams at a fixed rate to an echo on the far
 * side, which answers each with its own numbering.  Each receiver counts
 * its direction on its own (losses, duplicates, reorders, the longest
 * run of missing numbers and the longest silence), so a loss is charged
 * to the direction that lost it.
 *
 *   nappt-stream echo --listen ADDR:PORT [--idle SEC]
 *   nappt-stream send --to ADDR:PORT --bind ADDR:PORT [--pps N]
 *                     [--duration SEC] [--drain MS] [--id ID]
 *
 * The echo serves several senders at once (each run is told apart by a
 * random stream number) and prints one line per new source
 *   src ADDR:PORT id=ID
 * (ID is the sender's --id, carried in the payload), so a test sees which
 * public address and port each phone came from, and whether that changed.
 *
 * `send` prints one line per direction and a last machine-readable line:
 *   STREAM up_sent=.. up_lost=.. ... down_rx=.. down_lost=.. down_gap_ms=..
 * down_gap_ms is the longest silence between two echoes received (what a
 * call would hear); a stream that never came back counts from its last
 * echo to its last datagram sent.  up_sent - down_rx is the round trip's
 * loss.
 * and exits 0 when both counts could be read (not when nothing was lost:
 * the caller decides what it accepts), 1 if the echo never answered the
 * end of the stream.
 */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define STREAM_MAGIC 0x4e505354U /* "NPST" */
#define MAX_PKTS (1U << 22) /* one bit each: 512 KiB per direction */
/* Bounds on what forged or stray senders can make the echo hold. */
#define MAX_STREAMS 16
#define MAX_SOURCES 1024

enum msg_type { M_DATA = 1, M_ECHO, M_END, M_END_REPLY };

/* Both directions' datagram; network order on the wire. */
struct msg {
	uint32_t magic;
	uint32_t type;
	uint32_t stream; /* random per `send` run: a new run resets the echo */
	uint32_t seq;
	uint64_t sent_ns; /* sender's CLOCK_MONOTONIC (opaque to the peer) */
	/* M_END: packets sent up; M_END_REPLY: the echo's view of them. */
	uint32_t total;
	uint32_t rx, dup, reord, max_gap;
	uint32_t max_gap_us, down_sent;
	uint32_t id; /* the sender's --id, printed by the echo */
};

/* One direction as its receiver sees it. */
struct dir_stats {
	uint8_t *seen; /* bitmap by sequence number */
	uint32_t rx, dup, reord, max_gap, gaps;
	int64_t next; /* highest sequence seen + 1 */
	uint64_t last_ns, max_gap_ns;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char buf[64], *colon;
	char *end;
	unsigned long port;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return -EINVAL;
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, buf, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static int dir_init(struct dir_stats *d)
{
	memset(d, 0, sizeof(*d));
	d->seen = calloc(MAX_PKTS / 8, 1);
	return d->seen ? 0 : -ENOMEM;
}

static void dir_reset(struct dir_stats *d)
{
	uint8_t *seen = d->seen;

	memset(seen, 0, MAX_PKTS / 8);
	memset(d, 0, sizeof(*d));
	d->seen = seen;
}

/* A datagram of sequence seq arrived at time t. */
static void dir_account(struct dir_stats *d, uint32_t seq, uint64_t t)
{
	if (seq >= MAX_PKTS)
		return;
	if (d->seen[seq / 8] & (1U << (seq % 8))) {
		d->dup++;
		return;
	}
	d->seen[seq / 8] |= (uint8_t)(1U << (seq % 8));
	d->rx++;
	if ((int64_t)seq < d->next) {
		d->reord++;
	} else {
		if ((int64_t)seq > d->next) {
			uint32_t gap = (uint32_t)((int64_t)seq - d->next);

			d->gaps++;
			if (gap > d->max_gap)
				d->max_gap = gap;
		}
		d->next = (int64_t)seq + 1;
	}
	if (d->last_ns && t - d->last_ns > d->max_gap_ns)
		d->max_gap_ns = t - d->last_ns;
	d->last_ns = t;
}

static void msg_hton(struct msg *m)
{
	uint32_t *w = (uint32_t *)m;
	size_t i;

	for (i = 0; i < sizeof(*m) / 4; i++)
		w[i] = htonl(w[i]);
}

#define msg_ntoh msg_hton

static int udp_socket(const struct sockaddr_in *bind_to)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, buf = 1 << 20;

	if (s < 0)
		return -errno;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (bind(s, (const struct sockaddr *)bind_to, sizeof(*bind_to)) < 0) {
		int r = -errno;

		close(s);
		return r;
	}
	return s;
}

/* The echo's view of one sender's run. */
struct echo_stream {
	uint32_t stream, down_seq;
	uint64_t last_ns;
	struct dir_stats up;
};

/*
 * The run numbered stream: found, or given a free slot, or the least
 * recently heard one's (reset).  NULL only when out of memory.
 */
static struct echo_stream *echo_stream_get(struct echo_stream *tab,
					   uint32_t stream, uint64_t t)
{
	struct echo_stream *e = NULL;
	int i;

	for (i = 0; i < MAX_STREAMS; i++) {
		if (tab[i].up.seen && tab[i].stream == stream) {
			tab[i].last_ns = t;
			return &tab[i];
		}
		if (!e || (e->up.seen &&
			   (!tab[i].up.seen || tab[i].last_ns < e->last_ns)))
			e = &tab[i];
	}
	if (e->up.seen)
		dir_reset(&e->up);
	else if (dir_init(&e->up))
		return NULL;
	e->stream = stream;
	e->down_seq = 0;
	e->last_ns = t;
	return e;
}

/* One line per new source address and port, as the test reads them. */
static void echo_note_source(struct sockaddr_in *seen, int *nseen,
			     const struct sockaddr_in *from, uint32_t id)
{
	char a[INET_ADDRSTRLEN];
	int i;

	for (i = 0; i < *nseen; i++)
		if (seen[i].sin_addr.s_addr == from->sin_addr.s_addr &&
		    seen[i].sin_port == from->sin_port)
			return;
	if (*nseen >= MAX_SOURCES)
		return;
	seen[(*nseen)++] = *from;
	inet_ntop(AF_INET, &from->sin_addr, a, sizeof(a));
	printf("src %s:%u id=%u\n", a, ntohs(from->sin_port), id);
}

static int cmd_echo(const struct sockaddr_in *listen_on, int idle_s)
{
	static struct echo_stream tab[MAX_STREAMS];
	static struct sockaddr_in seen[MAX_SOURCES];
	struct echo_stream *e;
	uint64_t last = now_ns();
	struct pollfd pfd;
	int s, nseen = 0, i;

	s = udp_socket(listen_on);
	if (s < 0) {
		fprintf(stderr, "nappt-stream: Failed to bind: %s\n",
			strerror(-s));
		return 1;
	}
	pfd.fd = s;
	pfd.events = POLLIN;
	printf("echo listening\n");
	fflush(stdout);
	while (!stop && now_ns() - last < (uint64_t)idle_s * 1000000000ULL) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		struct msg m;
		ssize_t n;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		while ((n = recvfrom(s, &m, sizeof(m), 0,
				     (struct sockaddr *)&from, &fl)) ==
		       (ssize_t)sizeof(m)) {
			uint64_t t = now_ns();

			fl = sizeof(from);
			msg_ntoh(&m);
			if (m.magic != STREAM_MAGIC)
				continue;
			last = t;
			if (m.type != M_DATA && m.type != M_END)
				continue;
			/* A new run is counted from zero. */
			e = echo_stream_get(tab, m.stream, t);
			if (!e)
				continue;
			if (m.type == M_DATA) {
				echo_note_source(seen, &nseen, &from, m.id);
				dir_account(&e->up, m.seq, t);
				m.type = M_ECHO;
				m.seq = e->down_seq++;
			} else if (m.type == M_END) {
				m.type = M_END_REPLY;
				m.rx = e->up.rx;
				m.dup = e->up.dup;
				m.reord = e->up.reord;
				m.max_gap = e->up.max_gap;
				m.max_gap_us =
					(uint32_t)(e->up.max_gap_ns / 1000);
				m.down_sent = e->down_seq;
			} else {
				continue;
			}
			msg_hton(&m);
			sendto(s, &m, sizeof(m), 0, (struct sockaddr *)&from,
			       sizeof(from));
		}
	}
	close(s);
	for (i = 0; i < MAX_STREAMS; i++)
		free(tab[i].up.seen);
	return 0;
}

static void print_dir(const char *name, uint32_t sent, uint32_t rx,
		      uint32_t dup, uint32_t reord, uint32_t max_gap,
		      double max_gap_ms, double period_ms)
{
	printf("%-4s sent %u, received %u, lost %d, dup %u, reordered %u, "
	       "longest gap %u packets (%.1f ms of %.2f ms nominal)\n",
	       name, sent, rx, (int)(sent - rx), dup, reord, max_gap,
	       max_gap_ms, period_ms);
}

static int cmd_send(const struct sockaddr_in *to,
		    const struct sockaddr_in *bind_to, unsigned int pps,
		    double duration, int drain_ms, uint32_t id)
{
	uint64_t period = 1000000000ULL / pps, start, end, next, t, last_tx = 0;
	uint32_t seq = 0, total, stream;
	struct dir_stats down;
	struct msg m, reply = { 0 };
	struct pollfd pfd;
	int s, tries, got_end = 0;
	ssize_t n;

	total = (uint32_t)(duration * pps);
	if (total == 0 || total >= MAX_PKTS) {
		fprintf(stderr, "nappt-stream: %u packets: out of range\n",
			total);
		return 2;
	}
	s = udp_socket(bind_to);
	if (s < 0) {
		fprintf(stderr, "nappt-stream: Failed to bind: %s\n",
			strerror(-s));
		return 1;
	}
	if (dir_init(&down))
		return 1;
	srand((unsigned int)(now_ns() ^ (uint64_t)getpid()));
	stream = (uint32_t)rand() | 1;
	pfd.fd = s;
	pfd.events = POLLIN;
	start = now_ns();
	next = start;
	end = start + (uint64_t)(duration * 1e9) +
	      (uint64_t)drain_ms * 1000000ULL;

	for (;;) {
		struct timespec ts;
		uint64_t wake;

		t = now_ns();
		/* An absolute schedule: a stalled sender catches up, so the
		 * numbering stays tied to time (at most 64 at once). */
		for (int burst = 0; seq < total && t >= next && burst < 64;
		     burst++) {
			memset(&m, 0, sizeof(m));
			m.magic = STREAM_MAGIC;
			m.type = M_DATA;
			m.stream = stream;
			m.seq = seq++;
			m.sent_ns = t;
			m.id = id;
			msg_hton(&m);
			/* A full queue or no route (detached gateway) is a
			 * lost packet, counted by the echo: keep going. */
			sendto(s, &m, sizeof(m), 0, (const struct sockaddr *)to,
			       sizeof(*to));
			last_tx = t;
			next += period;
		}
		while ((n = recv(s, &m, sizeof(m), 0)) == (ssize_t)sizeof(m)) {
			msg_ntoh(&m);
			if (m.magic == STREAM_MAGIC && m.type == M_ECHO &&
			    m.stream == stream)
				dir_account(&down, m.seq, now_ns());
		}
		t = now_ns();
		if (seq >= total && t >= end)
			break;
		wake = seq < total ? next : end;
		if (wake <= t)
			continue;
		ts.tv_sec = (time_t)((wake - t) / 1000000000ULL);
		ts.tv_nsec = (long)((wake - t) % 1000000000ULL);
		ppoll(&pfd, 1, &ts, NULL);
	}

	/* The echo's count of the up direction; retried, since the END
	 * itself may be lost. */
	for (tries = 0; tries < 50 && !got_end; tries++) {
		memset(&m, 0, sizeof(m));
		m.magic = STREAM_MAGIC;
		m.type = M_END;
		m.stream = stream;
		m.total = total;
		msg_hton(&m);
		sendto(s, &m, sizeof(m), 0, (const struct sockaddr *)to,
		       sizeof(*to));
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		while ((n = recv(s, &reply, sizeof(reply), 0)) ==
		       (ssize_t)sizeof(reply)) {
			msg_ntoh(&reply);
			if (reply.magic != STREAM_MAGIC ||
			    reply.stream != stream)
				continue;
			if (reply.type == M_END_REPLY) {
				got_end = 1;
				break;
			}
			if (reply.type == M_ECHO)
				dir_account(&down, reply.seq, now_ns());
		}
	}
	close(s);
	/* A stream that never came back (a failover that failed): the
	 * silence ran from the last echo to the last datagram sent. */
	if (down.last_ns && last_tx > down.last_ns &&
	    last_tx - down.last_ns > down.max_gap_ns)
		down.max_gap_ns = last_tx - down.last_ns;
	if (!got_end) {
		/* The down direction is still known here; the echo's count
		 * of the up one is not. */
		fprintf(stderr, "nappt-stream: the echo never answered END\n");
		printf("STREAM pps=%u up_sent=%u up_lost=unknown down_rx=%u "
		       "down_dup=%u down_reord=%u down_gap_pkts=%u "
		       "down_gap_ms=%.1f\n",
		       pps, total, down.rx, down.dup, down.reord, down.max_gap,
		       down.max_gap_ns / 1e6);
		free(down.seen);
		return 1;
	}
	print_dir("up", total, reply.rx, reply.dup, reply.reord, reply.max_gap,
		  reply.max_gap_us / 1000.0, period / 1e6);
	print_dir("down", reply.down_sent, down.rx, down.dup, down.reord,
		  down.max_gap, down.max_gap_ns / 1e6, period / 1e6);
	printf("STREAM pps=%u up_sent=%u up_lost=%d up_dup=%u up_reord=%u "
	       "up_gap_pkts=%u up_gap_ms=%.1f down_sent=%u down_rx=%u "
	       "down_lost=%d down_dup=%u down_reord=%u down_gap_pkts=%u "
	       "down_gap_ms=%.1f\n",
	       pps, total, (int)(total - reply.rx), reply.dup, reply.reord,
	       reply.max_gap, reply.max_gap_us / 1000.0, reply.down_sent,
	       down.rx, (int)(reply.down_sent - down.rx), down.dup, down.reord,
	       down.max_gap, down.max_gap_ns / 1e6);
	free(down.seen);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nappt-stream echo --listen ADDR:PORT [--idle SEC]\n"
		"       nappt-stream send --to ADDR:PORT --bind ADDR:PORT "
		"[--pps N] [--duration SEC] [--drain MS] [--id ID]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "idle", required_argument, NULL, 'i' },
		{ "to", required_argument, NULL, 't' },
		{ "bind", required_argument, NULL, 'b' },
		{ "pps", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "drain", required_argument, NULL, 'D' },
		{ "id", required_argument, NULL, 'I' },
		{},
	};
	struct sockaddr_in a = { 0 }, b = { 0 };
	int have_a = 0, have_b = 0, idle = 30, drain = 500, c;
	unsigned int pps = 2000;
	uint32_t id = 0;
	double duration = 3;
	const char *cmd;

	if (argc < 2)
		usage();
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
		case 't':
			if (parse_addr(optarg, &a))
				usage();
			have_a = 1;
			break;
		case 'b':
			if (parse_addr(optarg, &b))
				usage();
			have_b = 1;
			break;
		case 'i':
			idle = atoi(optarg);
			break;
		case 'p':
			pps = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			duration = strtod(optarg, NULL);
			break;
		case 'D':
			drain = atoi(optarg);
			break;
		case 'I':
			id = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "echo") && have_a && idle > 0)
		return cmd_echo(&a, idle);
	if (!strcmp(cmd, "send") && have_a && have_b && pps > 0 &&
	    pps <= 1000000 && duration > 0 && drain >= 0)
		return cmd_send(&a, &b, pps, duration, drain, id);
	usage();
	return 2;
}
