// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "log.h"

static char logbuf[1 << 16];
static size_t loglen;
static int batched;
static void (*sink_fn)(const char *line, size_t len, void *arg);
static void *sink_arg;
static unsigned long dropped;
/* What stderr is, looked at when batching starts: a regular file never
 * makes a writer wait, a socket takes MSG_DONTWAIT, the rest (pipe,
 * terminal) is polled first. */
static enum { OUT_FILE, OUT_SOCKET, OUT_OTHER } out_kind = OUT_OTHER;

unsigned long log_dropped(void)
{
	return dropped;
}

/*
 * One write that cannot block: stderr may be a pipe or journald's stream
 * socket that nobody drains, and the serving thread must not wait for
 * it (issue 10).  A socket gets MSG_DONTWAIT; anything else is written
 * only when poll says it takes PIPE_BUF bytes, at most PIPE_BUF at once
 * (POSIX: then a pipe write does not block).  Returns the bytes written.
 */
static size_t write_nb(const char *buf, size_t n)
{
	struct pollfd p = { .fd = STDERR_FILENO, .events = POLLOUT };
	ssize_t w;

	if (out_kind == OUT_SOCKET) {
		w = send(STDERR_FILENO, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		return w > 0 ? (size_t)w : 0;
	}
	if (out_kind == OUT_FILE) {
		w = write(STDERR_FILENO, buf, n);
		return w > 0 ? (size_t)w : 0;
	}
	if (poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return 0;
	w = write(STDERR_FILENO, buf, n > PIPE_BUF ? PIPE_BUF : n);
	return w > 0 ? (size_t)w : 0;
}

void log_set_sink(void (*sink)(const char *line, size_t len, void *arg),
		  void *arg)
{
	log_flush();
	sink_fn = sink;
	sink_arg = arg;
}

void log_set_batched(int on)
{
	struct stat st;

	if (!on)
		log_flush();
	out_kind = OUT_OTHER;
	if (on && !fstat(STDERR_FILENO, &st))
		out_kind = S_ISREG(st.st_mode)	? OUT_FILE :
			   S_ISSOCK(st.st_mode) ? OUT_SOCKET :
						  OUT_OTHER;
	batched = on;
}

void log_flush(void)
{
	size_t off = 0;

	if (sink_fn) {
		/* One call per line: tests look at lines. */
		while (off < loglen) {
			char *nl = memchr(logbuf + off, '\n', loglen - off);
			size_t n = nl ? (size_t)(nl - logbuf - off) :
					loglen - off;

			sink_fn(logbuf + off, n, sink_arg);
			off += n + 1;
		}
		loglen = 0;
		return;
	}
	while (off < loglen) {
		size_t w;

		if (batched) {
			w = write_nb(logbuf + off, loglen - off);
		} else {
			/* Outside the serving loop (start, stop): wait, so
			 * the reason for an exit is not lost. */
			ssize_t b = write(STDERR_FILENO, logbuf + off,
					  loglen - off);

			if (b < 0 && errno == EINTR)
				continue;
			w = b > 0 ? (size_t)b : 0;
		}
		if (!w)
			break;
		off += w;
	}
	/* What the reader did not take waits for the next flush. */
	memmove(logbuf, logbuf + off, loglen - off);
	loglen -= off;
}

static void append(const char *s, size_t n)
{
	if (n + 1 > sizeof(logbuf))
		n = sizeof(logbuf) - 1;
	if (sizeof(logbuf) - loglen < n + 1)
		log_flush();
	if (sizeof(logbuf) - loglen < n + 1) {
		/* Nobody reads the log: the line goes, serving goes on. */
		dropped++;
		return;
	}
	memcpy(logbuf + loglen, s, n);
	logbuf[loglen + n] = '\n';
	loglen += n + 1;
	if (!batched)
		log_flush();
}

void logp(int prio, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	n = snprintf(line, sizeof(line), "<%d>", prio);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1; /* cut */
	append(line, (size_t)n);
}

static void put(struct logline *l, const char *s, size_t n)
{
	if (n > sizeof(l->buf) - l->len)
		n = sizeof(l->buf) - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

void ll_start(struct logline *l, int prio)
{
	l->len = 0;
	l->buf[l->len++] = '<';
	l->buf[l->len++] = (char)('0' + prio % 10);
	l->buf[l->len++] = '>';
}

void ll_str(struct logline *l, const char *s)
{
	put(l, s, strlen(s));
}

void ll_u64(struct logline *l, uint64_t v)
{
	char d[20];
	int i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(l, d + i, sizeof(d) - (size_t)i);
}

void ll_i64(struct logline *l, int64_t v)
{
	if (v < 0) {
		put(l, "-", 1);
		ll_u64(l, (uint64_t)0 - (uint64_t)v);
	} else {
		ll_u64(l, (uint64_t)v);
	}
}

void ll_ip4(struct logline *l, uint32_t be)
{
	const uint8_t *b = (const uint8_t *)&be;
	int i;

	for (i = 0; i < 4; i++) {
		if (i)
			put(l, ".", 1);
		ll_u64(l, b[i]);
	}
}

void ll_mac(struct logline *l, const uint8_t mac[6])
{
	static const char hex[] = "0123456789abcdef";
	char s[17];
	int i;

	for (i = 0; i < 6; i++) {
		s[i * 3] = hex[mac[i] >> 4];
		s[i * 3 + 1] = hex[mac[i] & 15];
		if (i < 5)
			s[i * 3 + 2] = ':';
	}
	put(l, s, sizeof(s));
}

void ll_end(struct logline *l)
{
	append(l->buf, l->len);
}
