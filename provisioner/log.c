// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char logbuf[1 << 16];
static size_t loglen;
static int batched;
static void (*sink_fn)(const char *line, size_t len, void *arg);
static void *sink_arg;

void log_set_sink(void (*sink)(const char *line, size_t len, void *arg),
		  void *arg)
{
	log_flush();
	sink_fn = sink;
	sink_arg = arg;
}

void log_set_batched(int on)
{
	if (!on)
		log_flush();
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
		ssize_t w = write(STDERR_FILENO, logbuf + off, loglen - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* nowhere to log: drop, never block serving */
		off += (size_t)w;
	}
	loglen = 0;
}

static void append(const char *s, size_t n)
{
	if (n + 1 > sizeof(logbuf))
		n = sizeof(logbuf) - 1;
	if (sizeof(logbuf) - loglen < n + 1)
		log_flush();
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
