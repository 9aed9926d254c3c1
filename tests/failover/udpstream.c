// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nappt-udpstream: a test and benchmark tool, not part of the product.
 *
 * A numbered UDP stream from a phone to a host on the WAN and back, to
 * measure how long a failover interrupts a phone's traffic (issue 14):
 *
 *   nappt-udpstream echo --port P [--seconds S]
 *	echoes every datagram to its sender and prints one line per new
 *	source "src ADDR:PORT id=ID" (the sender's id is in the payload),
 *	so a test sees which public address and port each phone came from,
 *	and whether that changed.
 *
 *   nappt-udpstream send --dst ADDR --port P --sport SP --id ID
 *		[--pps N] [--seconds S]
 *	sends N numbered datagrams per second for S seconds from source
 *	port SP, counts the echoes for a second more, then prints
 *	"sent= received= lost= dup= max_gap_ms= gap_lost=": max_gap_ms is
 *	the longest time between two consecutive echoes received (the
 *	interruption a call would hear), gap_lost the datagrams sent in it
 *	that never came back.  A stream that never comes back counts from
 *	its last echo to its last datagram.
 *
 * Every datagram carries (magic, id, seq, send time); a forged or stray
 * one is ignored by the sender.  Bounded: at most 2^22 datagrams per run.
 */
#define _GNU_SOURCE /* ppoll */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STREAM_MAGIC 0x4e415050u /* "NAPP" */
#define MAX_SEQ (1u << 22)
#define MAX_SOURCES 1024

struct stream_msg {
	uint32_t magic;
	uint32_t id;
	uint32_t seq;
	uint32_t pad;
	uint64_t sent_ns;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int udp_socket(uint32_t addr, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons(port),
				 .sin_addr.s_addr = addr };
	int one = 1, buf = 1 << 20, fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int run_echo(uint16_t port, unsigned int seconds)
{
	struct sockaddr_in seen[MAX_SOURCES];
	uint64_t end = now_ns() + (uint64_t)seconds * 1000000000ull;
	int nseen = 0, fd, i;

	fd = udp_socket(INADDR_ANY, port);
	if (fd < 0) {
		fprintf(stderr, "Failed to bind UDP port %u: %s\n", port,
			strerror(-fd));
		return 1;
	}
	printf("listening %u\n", port);
	fflush(stdout);
	while (!stop_flag && now_ns() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct stream_msg m;
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		while ((n = recvfrom(fd, &m, sizeof(m), 0,
				     (struct sockaddr *)&from, &fl)) > 0) {
			if ((size_t)n == sizeof(m) && m.magic == STREAM_MAGIC) {
				for (i = 0; i < nseen; i++)
					if (seen[i].sin_addr.s_addr ==
						    from.sin_addr.s_addr &&
					    seen[i].sin_port == from.sin_port)
						break;
				if (i == nseen && nseen < MAX_SOURCES) {
					char a[INET_ADDRSTRLEN];

					seen[nseen++] = from;
					inet_ntop(AF_INET, &from.sin_addr, a,
						  sizeof(a));
					printf("src %s:%u id=%u\n", a,
					       ntohs(from.sin_port), m.id);
					fflush(stdout);
				}
			}
			sendto(fd, &m, (size_t)n, 0, (struct sockaddr *)&from,
			       fl);
			fl = sizeof(from);
		}
	}
	close(fd);
	return 0;
}

struct send_stats {
	uint64_t sent, received, dup;
	uint64_t last_rx_ns, max_gap_ns;
	uint32_t gap_from_seq, gap_to_seq; /* last echo before, first after */
	uint32_t last_rx_seq;
	uint8_t *got;
};

static void take_echo(struct send_stats *st, const struct stream_msg *m,
		      uint32_t id, uint64_t t)
{
	if (m->magic != STREAM_MAGIC || m->id != id || m->seq >= st->sent)
		return;
	if (st->got[m->seq]) {
		st->dup++;
		return;
	}
	st->got[m->seq] = 1;
	st->received++;
	if (st->last_rx_ns && t - st->last_rx_ns > st->max_gap_ns) {
		st->max_gap_ns = t - st->last_rx_ns;
		st->gap_from_seq = st->last_rx_seq;
		st->gap_to_seq = m->seq;
	}
	st->last_rx_ns = t;
	st->last_rx_seq = m->seq;
}

static int run_send(uint32_t dst, uint16_t port, uint16_t sport, uint32_t id,
		    unsigned int pps, unsigned int seconds)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = dst };
	uint64_t interval = 1000000000ull / pps, start, next, stop_tx, stop_rx;
	uint64_t total = (uint64_t)pps * seconds, lost_in_gap = 0, i;
	uint64_t last_tx_ns = 0;
	struct send_stats st = { 0 };
	int fd;

	if (total > MAX_SEQ) {
		fprintf(stderr, "pps x seconds over %u\n", MAX_SEQ);
		return 2;
	}
	st.got = calloc(total ? total : 1, 1);
	if (!st.got)
		return 1;
	fd = udp_socket(INADDR_ANY, sport);
	if (fd < 0) {
		fprintf(stderr, "Failed to bind UDP port %u: %s\n", sport,
			strerror(-fd));
		free(st.got);
		return 1;
	}
	start = next = now_ns();
	stop_tx = start + (uint64_t)seconds * 1000000000ull;
	stop_rx = stop_tx + 1000000000ull;
	for (;;) {
		uint64_t t = now_ns();
		struct stream_msg m;
		struct timespec to_wait;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (stop_flag || t >= stop_rx)
			break;
		/* Send what is due; after a stall (a loaded machine) catch
		 * up by at most 50 at once so the stream stays a stream. */
		for (i = 0;
		     t < stop_tx && next <= t && st.sent < total && i < 50;
		     i++) {
			struct stream_msg o = { .magic = STREAM_MAGIC,
						.id = id,
						.seq = (uint32_t)st.sent,
						.sent_ns = t };

			if (sendto(fd, &o, sizeof(o), 0, (struct sockaddr *)&to,
				   sizeof(to)) < 0 &&
			    errno != EAGAIN && errno != ENOBUFS &&
			    errno != EHOSTUNREACH && errno != ENETUNREACH &&
			    errno != ECONNREFUSED) {
				perror("sendto");
				break;
			}
			st.sent++;
			last_tx_ns = t;
			next += interval;
		}
		while ((n = recv(fd, &m, sizeof(m), 0)) > 0)
			if ((size_t)n == sizeof(m))
				take_echo(&st, &m, id, now_ns());
		t = now_ns();
		if (t >= stop_tx)
			next = stop_rx;
		if (next <= t)
			continue;
		to_wait.tv_sec = (time_t)((next - t) / 1000000000ull);
		to_wait.tv_nsec = (long)((next - t) % 1000000000ull);
		ppoll(&pfd, 1, &to_wait, NULL);
	}
	/* A stream that never came back: the outage ran from the last echo
	 * to the last datagram sent, whose echoes are all missing. */
	if (st.last_rx_ns && last_tx_ns > st.last_rx_ns &&
	    last_tx_ns - st.last_rx_ns > st.max_gap_ns &&
	    st.last_rx_seq + 1 < st.sent) {
		st.max_gap_ns = last_tx_ns - st.last_rx_ns;
		st.gap_from_seq = st.last_rx_seq;
		st.gap_to_seq = (uint32_t)st.sent;
	}
	for (i = st.gap_from_seq + 1; st.max_gap_ns && i < st.gap_to_seq; i++)
		lost_in_gap += !st.got[i];
	printf("sent=%llu received=%llu lost=%llu dup=%llu max_gap_ms=%.1f "
	       "gap_lost=%llu\n",
	       (unsigned long long)st.sent, (unsigned long long)st.received,
	       (unsigned long long)(st.sent - st.received),
	       (unsigned long long)st.dup, (double)st.max_gap_ns / 1e6,
	       (unsigned long long)lost_in_gap);
	close(fd);
	free(st.got);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nappt-udpstream echo --port P [--seconds S]\n"
		"       nappt-udpstream send --dst ADDR --port P --sport SP "
		"--id ID [--pps N] [--seconds S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "sport", required_argument, NULL, 's' },
		{ "id", required_argument, NULL, 'i' },
		{ "pps", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long port = 0, sport = 0, id = 0, pps = 1000, seconds = 10;
	struct sigaction sa = { .sa_handler = on_signal };
	struct in_addr dst = { 0 };
	const char *mode;
	int c;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (inet_pton(AF_INET, optarg, &dst) != 1)
				usage();
			break;
		case 'p':
			port = strtoul(optarg, NULL, 10);
			break;
		case 's':
			sport = strtoul(optarg, NULL, 10);
			break;
		case 'i':
			id = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			pps = strtoul(optarg, NULL, 10);
			break;
		case 't':
			seconds = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (!port || port > 65535 || sport > 65535 || !pps || pps > 100000 ||
	    !seconds || seconds > 3600)
		usage();
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "echo"))
		return run_echo((uint16_t)port, (unsigned int)seconds);
	if (!strcmp(mode, "send") && dst.s_addr && sport)
		return run_send(dst.s_addr, (uint16_t)port, (uint16_t)sport,
				(uint32_t)id, (unsigned int)pps,
				(unsigned int)seconds);
	usage();
	return 2;
}
