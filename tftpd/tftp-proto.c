// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Pure TFTP protocol core: request parsing, option negotiation, netascii
 * and the send-window state machine.  See tftp-internal.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>

#include "tftp-internal.h"

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/* A strict decimal: digits only, no sign, no blanks, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Returns the NUL-terminated string at *pos and moves past it, or NULL if
 * the packet ends before the NUL. */
static const char *next_str(const uint8_t *buf, size_t len, size_t *pos)
{
	const char *s = (const char *)buf + *pos;
	const uint8_t *nul;

	if (*pos >= len)
		return NULL;
	nul = memchr(buf + *pos, 0, len - *pos);
	if (!nul)
		return NULL;
	*pos = (size_t)(nul - buf) + 1;
	return s;
}

int tftp_parse_request(const uint8_t *buf, size_t len, struct tftp_request *req)
{
	const char *name, *mode, *opt, *val;
	size_t pos = 2, n;
	uint64_t v;

	if (!buf || !req)
		return -EINVAL;
	memset(req, 0, sizeof(*req));
	if (len < 2 || len > TFTP_REQ_MAX)
		return -EINVAL;
	req->opcode = (uint16_t)(buf[0] << 8 | buf[1]);
	if (req->opcode != TFTP_RRQ && req->opcode != TFTP_WRQ)
		return -EPROTO;

	name = next_str(buf, len, &pos);
	if (!name)
		return -EINVAL;
	n = strlen(name);
	if (n == 0)
		return -EINVAL;
	if (n > TFTP_FILENAME_MAX)
		return -ENAMETOOLONG;
	memcpy(req->filename, name, n + 1);

	mode = next_str(buf, len, &pos);
	if (!mode)
		return -EINVAL;
	if (!strcasecmp(mode, "octet"))
		req->mode = TFTP_MODE_OCTET;
	else if (!strcasecmp(mode, "netascii"))
		req->mode = TFTP_MODE_NETASCII;
	else
		return -EINVAL; /* "mail" is obsolete; anything else is junk */

	/* RFC 2347: option/value pairs until the end of the packet.  A
	 * dangling option without a value ends the list. */
	while (pos < len) {
		unsigned int bit;

		opt = next_str(buf, len, &pos);
		val = opt ? next_str(buf, len, &pos) : NULL;
		if (!opt || !val)
			break;
		if (parse_u64(val, &v) < 0)
			continue;
		if (!strcasecmp(opt, "blksize")) {
			bit = TFTP_OPT_BLKSIZE;
			if (v < TFTP_BLKSIZE_MIN)
				continue;
			/* RFC 2348: a larger wish may be answered smaller */
			if (v > TFTP_BLKSIZE_MAX)
				v = TFTP_BLKSIZE_MAX;
			if (!(req->opts & bit))
				req->blksize = (uint32_t)v;
		} else if (!strcasecmp(opt, "tsize")) {
			bit = TFTP_OPT_TSIZE;
			if (!(req->opts & bit))
				req->tsize = v;
		} else if (!strcasecmp(opt, "timeout")) {
			bit = TFTP_OPT_TIMEOUT;
			if (v < TFTP_TIMEOUT_MIN || v > TFTP_TIMEOUT_MAX)
				continue;
			if (!(req->opts & bit))
				req->timeout = (uint32_t)v;
		} else if (!strcasecmp(opt, "windowsize")) {
			bit = TFTP_OPT_WINDOWSIZE;
			if (v < 1 || v > TFTP_WINDOW_MAX_RFC)
				continue;
			if (!(req->opts & bit))
				req->windowsize = (uint32_t)v;
		} else {
			continue;
		}
		req->opts |= bit;
	}
	return 0;
}

void tftp_filename_canon(char *name)
{
	size_t k = 0;

	if (!name)
		return;
	while (name[k] == '/')
		k++;
	if (k)
		memmove(name, name + k, strlen(name + k) + 1);
}

int tftp_filename_check(const char *name)
{
	const char *c, *comp;

	if (!name || !*name || name[0] == '/')
		return -EACCES;
	for (comp = name;; comp = c + 1) {
		/* a component starting with '.' covers ".", ".." and the
		 * hidden gating directory */
		if (*comp == '.' || *comp == '/')
			return -EACCES;
		for (c = comp; *c && *c != '/'; c++) {
			unsigned char u = (unsigned char)*c;

			if (u < 0x20 || u == 0x7f || u == '\\')
				return -EACCES;
		}
		if (!*c)
			return c == comp ? -EACCES : 0;
	}
}

void tftp_negotiate(const struct tftp_request *req,
		    const struct tftp_limits *lim, uint64_t file_size,
		    struct tftp_params *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = req->mode;
	p->blksize = TFTP_SEGSIZE;
	p->windowsize = 1;

	if (req->opts & TFTP_OPT_BLKSIZE) {
		uint32_t b = req->blksize;

		if (b > lim->max_blksize)
			b = lim->max_blksize;
		if (b >= TFTP_BLKSIZE_MIN) {
			p->blksize = (uint16_t)b;
			p->opts |= TFTP_OPT_BLKSIZE;
		}
	}
	/* RFC 2349: in a RRQ the client sends 0 and we answer the size.
	 * In netascii the wire size differs from the file size, so we leave
	 * the option out rather than report a wrong number. */
	if ((req->opts & TFTP_OPT_TSIZE) && req->mode == TFTP_MODE_OCTET) {
		p->tsize = file_size;
		p->opts |= TFTP_OPT_TSIZE;
	}
	if (req->opts & TFTP_OPT_TIMEOUT) {
		p->timeout = req->timeout;
		p->opts |= TFTP_OPT_TIMEOUT;
	}
	if (req->opts & TFTP_OPT_WINDOWSIZE) {
		uint32_t w = req->windowsize;

		if (w > lim->max_windowsize)
			w = lim->max_windowsize;
		if (w > TFTP_WINDOW_MAX)
			w = TFTP_WINDOW_MAX;
		if (w >= 1) {
			p->windowsize = (uint16_t)w;
			p->opts |= TFTP_OPT_WINDOWSIZE;
		}
	}
}

bool tftp_listen_answers(const uint8_t *buf, size_t len)
{
	uint16_t op;

	if (!buf || len < 2)
		return false;
	op = (uint16_t)(buf[0] << 8 | buf[1]);
	return op == TFTP_RRQ || op == TFTP_WRQ;
}

bool tftp_bucket_take(struct tftp_bucket *b, uint64_t now_ms, unsigned int rate,
		      unsigned int burst)
{
	uint64_t cap = (uint64_t)burst * 1000;

	if (now_ms > b->last_ms) {
		b->tokens_milli += (now_ms - b->last_ms) * rate;
		b->last_ms = now_ms;
	}
	if (b->tokens_milli > cap)
		b->tokens_milli = cap;
	if (b->tokens_milli < 1000)
		return false;
	b->tokens_milli -= 1000;
	return true;
}

void tftp_log_escape(const char *in, size_t inlen, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (!cap)
		return;
	for (i = 0; in && i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= cap)
				break;
			out[o++] = (char)c;
			continue;
		}
		if (o + 4 >= cap)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
	}
	out[o] = 0;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = ROTL(v1, 13); \
		v1 ^= v0;          \
		v0 = ROTL(v0, 32); \
		v2 += v3;          \
		v3 = ROTL(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = ROTL(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = ROTL(v1, 17); \
		v1 ^= v2;          \
		v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t tftp_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = le64(key), k1 = le64(key + 8), m, b;
	uint64_t v0 = 0x736f6d6570736575ull ^ k0,
		 v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0,
		 v3 = 0x7465646279746573ull ^ k1;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	b = (uint64_t)len << 56;
	while (left--)
		b |= (uint64_t)in[i + left] << (8 * left);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static ssize_t put_opt(uint8_t *buf, size_t cap, size_t pos, const char *name,
		       uint64_t val)
{
	int n = snprintf((char *)buf + pos, cap - pos, "%s%c%llu", name, 0,
			 (unsigned long long)val);

	if (n < 0 || (size_t)n + 1 > cap - pos)
		return -ENOBUFS;
	return (ssize_t)(pos + (size_t)n + 1);
}

ssize_t tftp_build_oack(const struct tftp_params *p, uint8_t *buf, size_t cap)
{
	ssize_t pos = 2;

	if (cap < 2)
		return -ENOBUFS;
	put16(buf, TFTP_OACK);
	if (p->opts & TFTP_OPT_BLKSIZE)
		pos = put_opt(buf, cap, (size_t)pos, "blksize", p->blksize);
	if (pos > 0 && (p->opts & TFTP_OPT_TSIZE))
		pos = put_opt(buf, cap, (size_t)pos, "tsize", p->tsize);
	if (pos > 0 && (p->opts & TFTP_OPT_TIMEOUT))
		pos = put_opt(buf, cap, (size_t)pos, "timeout", p->timeout);
	if (pos > 0 && (p->opts & TFTP_OPT_WINDOWSIZE))
		pos = put_opt(buf, cap, (size_t)pos, "windowsize",
			      p->windowsize);
	return pos;
}

ssize_t tftp_build_error(uint16_t code, const char *msg, uint8_t *buf,
			 size_t cap)
{
	size_t n = msg ? strlen(msg) : 0;

	if (cap < 5)
		return -ENOBUFS;
	if (n > cap - 5)
		n = cap - 5;
	put16(buf, TFTP_ERROR);
	put16(buf + 2, code);
	if (n)
		memcpy(buf + 4, msg, n);
	buf[4 + n] = 0;
	return (ssize_t)(n + 5);
}

size_t tftp_netascii_encode(const uint8_t *src, size_t slen, size_t *used,
			    uint8_t *dst, size_t dcap, int *pending)
{
	size_t i = 0, o = 0;

	if (*pending >= 0 && o < dcap) {
		dst[o++] = (uint8_t)*pending;
		*pending = -1;
	}
	while (i < slen && o < dcap) {
		uint8_t c = src[i++];

		if (c == '\n' || c == '\r') {
			dst[o++] = '\r';
			if (o < dcap)
				dst[o++] = c == '\n' ? '\n' : 0;
			else
				*pending = c == '\n' ? '\n' : 0;
		} else {
			dst[o++] = c;
		}
	}
	*used = i;
	return o;
}

void tftp_xfer_init(struct tftp_xfer *x, const struct tftp_params *p,
		    uint64_t size, uint64_t now_ms)
{
	memset(x, 0, sizeof(*x));
	x->p = *p;
	x->size = size;
	x->progress_ms = now_ms;
	/* with an OACK, "block 0" is the OACK and must be acknowledged first */
	x->una = x->next = p->opts ? 0 : 1;
	if (p->mode == TFTP_MODE_OCTET)
		x->last = size / p->blksize + 1;
	x->cp[0].off = 0;
	x->cp[0].pending = -1;
}

static uint64_t window_base(const struct tftp_xfer *x)
{
	return x->una ? x->una : 1;
}

enum tftp_ack_result tftp_xfer_on_ack(struct tftp_xfer *x, uint16_t blk,
				      uint64_t now_ms)
{
	uint64_t a, shift;

	if (x->done)
		return TFTP_ACK_IGNORED;
	/* Map the 16-bit number onto the 64-bit counter at or after una.  An
	 * ACK of an already acknowledged block lands ~65535 ahead of una and
	 * so beyond next: ignored, never answered with data. */
	a = x->una + (uint16_t)(blk - (uint16_t)x->una);
	if (a >= x->hi)
		return TFTP_ACK_IGNORED;

	shift = a + 1 - window_base(x);
	if (x->p.mode == TFTP_MODE_NETASCII && shift)
		memmove(&x->cp[0], &x->cp[shift],
			(TFTP_WINDOW_MAX + 1 - shift) * sizeof(x->cp[0]));
	x->una = a + 1;
	/* RFC 7440: an ACK inside the window means the rest was lost; the
	 * sender carries on from the block after it. */
	x->next = x->una;
	x->retries = 0;
	x->progress_ms = now_ms;
	if (x->last && x->una > x->last) {
		x->done = true;
		return TFTP_ACK_DONE;
	}
	return TFTP_ACK_ADVANCED;
}

int tftp_xfer_on_timeout(struct tftp_xfer *x, unsigned int max_retries)
{
	if (x->done)
		return 0;
	if (++x->retries > max_retries)
		return -ETIMEDOUT;
	x->next = x->una;
	return 0;
}

bool tftp_xfer_proven(const struct tftp_xfer *x)
{
	return x->una > (x->p.opts ? 0u : 1u);
}

static uint64_t stall_end(const struct tftp_xfer *x,
			  const struct tftp_timing *tm)
{
	return x->progress_ms + tm->max_stall_ms;
}

uint64_t tftp_xfer_deadline(const struct tftp_xfer *x,
			    const struct tftp_timing *tm, uint64_t now_ms)
{
	uint64_t base = x->p.timeout ? x->p.timeout * 1000ull : tm->rto_ms;
	unsigned int shift = x->retries < 3 ? x->retries : 3;
	uint64_t d = now_ms + (base << shift); /* back-off capped at 8x */

	return d < stall_end(x, tm) ? d : stall_end(x, tm);
}

int tftp_xfer_expire(struct tftp_xfer *x, const struct tftp_timing *tm,
		     uint64_t now_ms)
{
	unsigned int max = tm->max_retries;

	if (x->done)
		return 0;
	if (now_ms >= stall_end(x, tm))
		return -ETIMEDOUT;
	if (!tftp_xfer_proven(x) && tm->unproven_retries < max)
		max = tm->unproven_retries;
	return tftp_xfer_on_timeout(x, max);
}

unsigned int tftp_xfer_burst(const struct tftp_xfer *x)
{
	uint64_t end;

	if (x->done)
		return 0;
	if (x->una == 0)
		return x->next == 0 ? 1 : 0;
	end = x->una + x->p.windowsize; /* exclusive */
	if (x->last && end > x->last + 1)
		end = x->last + 1;
	return end > x->next ? (unsigned int)(end - x->next) : 0;
}

static ssize_t read_full(tftp_read_fn rd, void *ctx, uint8_t *buf, size_t len,
			 uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = rd(ctx, buf + got, len - got, off + got);

		if (r < 0)
			return r;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static ssize_t build_netascii(struct tftp_xfer *x, tftp_read_fn rd, void *ctx,
			      uint8_t *out)
{
	uint64_t i = x->next - window_base(x);
	struct tftp_nacp cp = x->cp[i];
	uint8_t chunk[4096];
	size_t o = 0, want, used;
	ssize_t r;

	while (o < x->p.blksize) {
		if (cp.pending >= 0) {
			o += tftp_netascii_encode(NULL, 0, &used, out + o,
						  x->p.blksize - o,
						  &cp.pending);
			continue;
		}
		/* each source byte yields at most two, so this never reads
		 * more than the block can take */
		want = (x->p.blksize - o + 1) / 2;
		if (want > sizeof(chunk))
			want = sizeof(chunk);
		r = read_full(rd, ctx, chunk, want, cp.off);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		o += tftp_netascii_encode(chunk, (size_t)r, &used, out + o,
					  x->p.blksize - o, &cp.pending);
		cp.off += used;
	}
	x->cp[i + 1] = cp;
	return (ssize_t)o;
}

ssize_t tftp_xfer_build_data(struct tftp_xfer *x, tftp_read_fn rd, void *ctx,
			     uint8_t *buf, size_t cap)
{
	ssize_t n;
	uint64_t off;

	if (x->next == 0) {
		n = tftp_build_oack(&x->p, buf, cap);
		if (n > 0)
			x->next = 1;
		if (x->hi < x->next)
			x->hi = x->next;
		return n;
	}
	/* the final block is known: nothing exists after it */
	if (x->last && x->next > x->last)
		return -ENODATA;
	if (cap < (size_t)x->p.blksize + TFTP_HDR)
		return -ENOBUFS;
	put16(buf, TFTP_DATA);
	put16(buf + 2, (uint16_t)x->next);
	if (x->p.mode == TFTP_MODE_NETASCII) {
		n = build_netascii(x, rd, ctx, buf + TFTP_HDR);
	} else {
		size_t len = 0;

		off = (x->next - 1) * x->p.blksize;
		if (off < x->size)
			len = x->size - off < x->p.blksize ?
				      (size_t)(x->size - off) :
				      x->p.blksize;
		n = len ? read_full(rd, ctx, buf + TFTP_HDR, len, off) : 0;
	}
	if (n < 0)
		return n;
	/* a short block ends the file, also when the file shrank under us */
	if (n < x->p.blksize)
		x->last = x->next;
	x->next++;
	if (x->hi < x->next)
		x->hi = x->next;
	return n + TFTP_HDR;
}

/* Octet: the whole burst in one readv, the headers in front of each block
 * so the packets lie back to back (one GSO send can carry them). */
static int fill_octet(struct tftp_xfer *x, const struct tftp_source *src,
		      uint8_t *buf, size_t cap, uint16_t *lens, unsigned int n)
{
	struct iovec iov[TFTP_WINDOW_MAX];
	size_t seg = (size_t)x->p.blksize + TFTP_HDR, want = 0;
	uint64_t off = (x->next - 1) * x->p.blksize, blk;
	unsigned int i, k = 0;
	ssize_t got = 0;

	if (n > TFTP_WINDOW_MAX)
		n = TFTP_WINDOW_MAX;
	if (n > cap / seg)
		n = (unsigned int)(cap / seg);
	for (i = 0; i < n; i++) {
		uint64_t o = off + (uint64_t)i * x->p.blksize;
		size_t len = 0;

		if (o < x->size)
			len = x->size - o < x->p.blksize ?
				      (size_t)(x->size - o) :
				      x->p.blksize;
		iov[k].iov_base = buf + i * seg + TFTP_HDR;
		iov[k].iov_len = len;
		if (len)
			k++;
		want += len;
	}
	if (want) {
		got = src->readv(src->ctx, iov, (int)k, off);
		if (got < 0)
			return (int)got;
	}
	for (i = 0; i < n; i++) {
		size_t len = (size_t)got < x->p.blksize ? (size_t)got :
							  x->p.blksize;

		blk = x->next++;
		put16(buf + i * seg, TFTP_DATA);
		put16(buf + i * seg + 2, (uint16_t)blk);
		lens[i] = (uint16_t)(len + TFTP_HDR);
		got -= (ssize_t)len;
		if (x->hi < x->next)
			x->hi = x->next;
		/* a short block ends the file, also one that shrank */
		if (len < x->p.blksize) {
			x->last = blk;
			return (int)i + 1;
		}
	}
	return (int)n;
}

int tftp_xfer_fill(struct tftp_xfer *x, const struct tftp_source *src,
		   uint8_t *buf, size_t cap, uint16_t *lens, unsigned int max)
{
	unsigned int k = 0, want;
	size_t used = 0;

	while (k < max && (want = tftp_xfer_burst(x)) > 0) {
		ssize_t n;

		if (x->next > 0 && x->p.mode == TFTP_MODE_OCTET && src->readv) {
			int r;

			if (want > max - k)
				want = max - k;
			r = fill_octet(x, src, buf + used, cap - used, lens + k,
				       want);
			if (r <= 0)
				return r < 0 ? r : (int)k;
			while (r--)
				used += lens[k++];
			continue;
		}
		n = tftp_xfer_build_data(x, src->read, src->ctx, buf + used,
					 cap - used);
		if (n == -ENOBUFS)
			break;
		if (n < 0)
			return (int)n;
		lens[k++] = (uint16_t)n;
		used += (size_t)n;
	}
	return (int)k;
}
