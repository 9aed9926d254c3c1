// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>

#include "dhcp-msg.h"

#define MAX_FRAGS 1024

struct frag {
	const uint8_t *data;
	uint8_t code;
	uint8_t len;
};

/*
 * Scan one option area.  Pad is skipped, end stops, anything that runs
 * past the area is malformed.  The overload option only counts in the
 * options field (allow_overload), so overloaded areas cannot point at
 * each other in a loop.
 */
static int scan(const uint8_t *p, size_t n, struct frag *fr, size_t *nfr,
		int allow_overload, int *overload)
{
	size_t i = 0;

	while (i < n) {
		uint8_t code = p[i], len;

		if (code == OPT_PAD) {
			i++;
			continue;
		}
		if (code == OPT_END)
			return 0;
		if (i + 1 >= n)
			return -EBADMSG;
		len = p[i + 1];
		if (i + 2 + len > n)
			return -EBADMSG;
		if (code == OPT_OVERLOAD) {
			if (!allow_overload) {
				i += 2 + (size_t)len;
				continue;
			}
			if (len != 1 || p[i + 2] < 1 || p[i + 2] > 3)
				return -EBADMSG;
			*overload = p[i + 2];
		}
		if (*nfr == MAX_FRAGS)
			return -EMSGSIZE;
		fr[*nfr].data = p + i + 2;
		fr[*nfr].code = code;
		fr[*nfr].len = len;
		(*nfr)++;
		i += 2 + (size_t)len;
	}
	/* No end option: tolerated, as most servers do. */
	return 0;
}

static void copy_field(char *dst, const uint8_t *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && src[i]; i++)
		dst[i] = (char)src[i];
	dst[i] = '\0';
}

int dhcp_parse(const uint8_t *buf, size_t len, struct dhcp_msg *m)
{
	struct frag fr[MAX_FRAGS];
	size_t nfr = 0, total[256] = { 0 }, at[256], i, used = 0;
	int overload = 0, r;
	uint32_t cookie;

	if (!buf || !m)
		return -EINVAL;
	memset(m, 0, offsetof(struct dhcp_msg, optbuf));
	m->optbuf_used = 0;
	if (len < DHCP_MIN_LEN)
		return -EBADMSG;
	memcpy(&cookie, buf + DHCP_FIXED_LEN, 4);
	if (ntohl(cookie) != DHCP_MAGIC)
		return -EBADMSG;
	m->op = buf[0];
	m->htype = buf[1];
	m->hlen = buf[2];
	m->hops = buf[3];
	if (m->hlen > 16)
		return -EBADMSG;
	memcpy(&m->xid, buf + 4, 4);
	m->xid = ntohl(m->xid);
	m->secs = (uint16_t)(buf[8] << 8 | buf[9]);
	m->flags = (uint16_t)(buf[10] << 8 | buf[11]);
	memcpy(&m->ciaddr, buf + 12, 4);
	memcpy(&m->yiaddr, buf + 16, 4);
	memcpy(&m->siaddr, buf + 20, 4);
	memcpy(&m->giaddr, buf + 24, 4);
	memcpy(m->chaddr, buf + 28, 16);

	r = scan(buf + DHCP_MIN_LEN, len - DHCP_MIN_LEN, fr, &nfr, 1,
		 &overload);
	/* RFC 2131 4.1: file first, then sname. */
	if (!r && (overload & 1))
		r = scan(buf + 108, 128, fr, &nfr, 0, &overload);
	if (!r && (overload & 2))
		r = scan(buf + 44, 64, fr, &nfr, 0, &overload);
	if (r)
		return r;
	if (!(overload & 2))
		copy_field(m->sname, buf + 44, 64);
	if (!(overload & 1))
		copy_field(m->file, buf + 108, 128);

	/* RFC 3396: every instance of a code is one option, concatenated
	 * in the order met. */
	for (i = 0; i < nfr; i++)
		total[fr[i].code] += fr[i].len;
	for (i = 0; i < 256; i++) {
		at[i] = used;
		used += total[i];
	}
	if (used > sizeof(m->optbuf))
		return -EMSGSIZE;
	for (i = 0; i < nfr; i++) {
		struct dhcp_opt *o = &m->opt[fr[i].code];

		if (!o->present) {
			o->present = 1;
			o->data = m->optbuf + at[fr[i].code];
		}
		memcpy(m->optbuf + at[fr[i].code] + o->len, fr[i].data,
		       fr[i].len);
		o->len = (uint16_t)(o->len + fr[i].len);
	}
	m->optbuf_used = used;
	if (m->opt[OPT_MSG_TYPE].present) {
		if (m->opt[OPT_MSG_TYPE].len != 1)
			return -EBADMSG;
		m->type = m->opt[OPT_MSG_TYPE].data[0];
	}
	return 0;
}

const uint8_t *dhcp_opt_get(const struct dhcp_msg *m, uint8_t code, size_t *len)
{
	if (!m->opt[code].present) {
		*len = 0;
		return NULL;
	}
	*len = m->opt[code].len;
	return m->opt[code].data;
}

uint32_t dhcp_opt_addr(const struct dhcp_msg *m, uint8_t code)
{
	uint32_t a = 0;

	if (m->opt[code].present && m->opt[code].len == 4)
		memcpy(&a, m->opt[code].data, 4);
	return a;
}

size_t dhcp_reply_cap(const struct dhcp_msg *req)
{
	/* Option 57 counts the whole IP datagram (RFC 2132 9.10). */
	size_t ip_udp = 28, v = 576;

	if (req->opt[OPT_MAX_MSG_SIZE].present &&
	    req->opt[OPT_MAX_MSG_SIZE].len == 2) {
		const uint8_t *d = req->opt[OPT_MAX_MSG_SIZE].data;
		size_t want = (size_t)(d[0] << 8 | d[1]);

		if (want >= 576)
			v = want;
	}
	if (v > DHCP_MAX_REPLY)
		v = DHCP_MAX_REPLY;
	return v - ip_udp;
}

void dhcp_reply_init(struct dhcp_builder *b, uint8_t *buf, size_t cap,
		     const struct dhcp_msg *req, uint8_t type, uint32_t yiaddr,
		     uint32_t siaddr)
{
	uint32_t v;

	b->buf = buf;
	b->cap = cap;
	b->len = DHCP_MIN_LEN;
	b->overflow = 0;
	memset(buf, 0, DHCP_MIN_LEN);
	buf[0] = DHCP_BOOTREPLY;
	buf[1] = req->htype;
	buf[2] = req->hlen;
	v = htonl(req->xid);
	memcpy(buf + 4, &v, 4);
	buf[10] = (uint8_t)(req->flags >> 8);
	buf[11] = (uint8_t)req->flags;
	/* RFC 2131 table 3: ciaddr echoed in an ACK only. */
	if (type == DHCPACK)
		memcpy(buf + 12, &req->ciaddr, 4);
	memcpy(buf + 16, &yiaddr, 4);
	memcpy(buf + 20, &siaddr, 4);
	memcpy(buf + 24, &req->giaddr, 4);
	memcpy(buf + 28, req->chaddr, 16);
	v = htonl(DHCP_MAGIC);
	memcpy(buf + DHCP_FIXED_LEN, &v, 4);
	dhcp_put_opt(b, OPT_MSG_TYPE, &type, 1);
}

int dhcp_put_opt(struct dhcp_builder *b, uint8_t code, const void *data,
		 size_t len)
{
	size_t chunks = len ? (len + 254) / 255 : 1, need, off = 0;
	const uint8_t *d = data;

	/* Keep one byte for the end option. */
	need = len + 2 * chunks;
	if (b->len + need + 1 > b->cap) {
		b->overflow = 1;
		return -EMSGSIZE;
	}
	do {
		size_t n = len - off > 255 ? 255 : len - off;

		b->buf[b->len++] = code;
		b->buf[b->len++] = (uint8_t)n;
		if (n)
			memcpy(b->buf + b->len, d + off, n);
		b->len += n;
		off += n;
	} while (off < len);
	return 0;
}

int dhcp_put_u32(struct dhcp_builder *b, uint8_t code, uint32_t host_val)
{
	uint32_t v = htonl(host_val);

	return dhcp_put_opt(b, code, &v, 4);
}

int dhcp_put_requested(struct dhcp_builder *b, const struct dhcp_msg *req,
		       const struct dhcp_optval *avail, size_t n)
{
	uint8_t sent[256] = { 0 };
	size_t plen = 0, i, k;
	const uint8_t *prl = dhcp_opt_get(req, OPT_PARAM_LIST, &plen);
	int dropped = 0, was = b->overflow;

	for (k = 0; k < plen; k++) {
		for (i = 0; i < n; i++) {
			if (avail[i].code != prl[k] || sent[prl[k]])
				continue;
			sent[prl[k]] = 1;
			if (dhcp_put_opt(b, avail[i].code, avail[i].data,
					 avail[i].len))
				dropped++;
		}
	}
	for (i = 0; i < n; i++) {
		if (!avail[i].always || sent[avail[i].code])
			continue;
		sent[avail[i].code] = 1;
		if (dhcp_put_opt(b, avail[i].code, avail[i].data, avail[i].len))
			dropped++;
	}
	/* What did not fit is dropped, not fatal: the reply can still be
	 * finished with the rest. */
	b->overflow = was;
	return dropped ? -EMSGSIZE : 0;
}

int dhcp_reply_finish(struct dhcp_builder *b)
{
	if (b->overflow || b->len + 1 > b->cap)
		return -EMSGSIZE;
	b->buf[b->len++] = OPT_END;
	if (b->len < DHCP_MIN_REPLY && b->cap >= DHCP_MIN_REPLY) {
		memset(b->buf + b->len, 0, DHCP_MIN_REPLY - b->len);
		b->len = DHCP_MIN_REPLY;
	}
	return (int)b->len;
}

enum dhcp_dest dhcp_reply_dest(const struct dhcp_msg *req, uint8_t reply_type)
{
	if (req->giaddr)
		return DEST_RELAY;
	if (reply_type == DHCPNAK)
		return DEST_BROADCAST;
	if (req->ciaddr)
		return DEST_CIADDR;
	if (req->flags & DHCP_FLAG_BROADCAST)
		return DEST_BROADCAST;
	return DEST_UNICAST_HW;
}
