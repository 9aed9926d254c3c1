// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Pure TFTP protocol core: request parsing, option negotiation, netascii
 * and the send-window state machine.  See tftp-internal.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

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
		    uint64_t size)
{
	memset(x, 0, sizeof(*x));
	x->p = *p;
	x->size = size;
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

enum tftp_ack_result tftp_xfer_on_ack(struct tftp_xfer *x, uint16_t blk)
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
