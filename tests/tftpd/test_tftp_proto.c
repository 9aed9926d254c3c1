// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * cmocka tests of the pure TFTP core: request parsing, filename checks,
 * option negotiation, packet builders, netascii, and the send window
 * (lock-step, RFC 7440 windows, Sorcerer's Apprentice, timeouts, rollover).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <cmocka.h>

#include "tftp-internal.h"

/* Build a request packet from NUL-separated pieces: "file\0octet\0..." */
static size_t mkreq(uint8_t *buf, uint16_t op, const char *body, size_t blen)
{
	buf[0] = op >> 8;
	buf[1] = op & 0xff;
	memcpy(buf + 2, body, blen);
	return blen + 2;
}

#define REQ(buf, op, lit) mkreq(buf, op, lit, sizeof(lit) - 1)

static void test_parse_plain(void **state)
{
	struct tftp_request r;
	uint8_t b[600];
	size_t n = REQ(b, TFTP_RRQ, "SEP001122334455.cnf.xml\0octet\0");

	assert_int_equal(tftp_parse_request(b, n, &r), 0);
	assert_int_equal(r.opcode, TFTP_RRQ);
	assert_string_equal(r.filename, "SEP001122334455.cnf.xml");
	assert_int_equal(r.mode, TFTP_MODE_OCTET);
	assert_int_equal(r.opts, 0);

	n = REQ(b, TFTP_RRQ, "a.txt\0NetASCII\0");
	assert_int_equal(tftp_parse_request(b, n, &r), 0);
	assert_int_equal(r.mode, TFTP_MODE_NETASCII);

	n = REQ(b, TFTP_WRQ, "up.bin\0octet\0");
	assert_int_equal(tftp_parse_request(b, n, &r), 0);
	assert_int_equal(r.opcode, TFTP_WRQ);
}

static void test_parse_malformed(void **state)
{
	struct tftp_request r;
	uint8_t b[2048] = { 0 };
	size_t n;

	assert_int_equal(tftp_parse_request(b, 0, &r), -EINVAL);
	assert_int_equal(tftp_parse_request(b, 1, &r), -EINVAL);
	n = REQ(b, TFTP_ACK, "\0\0");
	assert_int_equal(tftp_parse_request(b, n, &r), -EPROTO);
	n = REQ(b, TFTP_RRQ, "file-without-nul");
	assert_int_equal(tftp_parse_request(b, n, &r), -EINVAL);
	n = REQ(b, TFTP_RRQ, "file\0octet");
	assert_int_equal(tftp_parse_request(b, n, &r), -EINVAL);
	n = REQ(b, TFTP_RRQ, "\0octet\0");
	assert_int_equal(tftp_parse_request(b, n, &r), -EINVAL);
	n = REQ(b, TFTP_RRQ, "file\0mail\0");
	assert_int_equal(tftp_parse_request(b, n, &r), -EINVAL);
	/* NUL trick: the part after the first NUL is the mode, not a path */
	n = REQ(b, TFTP_RRQ, "ok.cfg\0../../etc/passwd\0octet\0");
	assert_int_equal(tftp_parse_request(b, n, &r), -EINVAL);
	/* name too long */
	memset(b + 2, 'a', 300);
	memcpy(b + 302, "\0octet\0", 7);
	b[0] = 0;
	b[1] = TFTP_RRQ;
	assert_int_equal(tftp_parse_request(b, 309, &r), -ENAMETOOLONG);
	/* oversized packet */
	assert_int_equal(tftp_parse_request(b, TFTP_REQ_MAX + 1, &r), -EINVAL);
}

static void test_parse_options(void **state)
{
	struct tftp_request r;
	uint8_t b[600];
	size_t n = REQ(b, TFTP_RRQ,
		       "f\0octet\0BLKSIZE\0001428\0tsize\0000\0timeout\0003\0"
		       "windowsize\00016\0");

	assert_int_equal(tftp_parse_request(b, n, &r), 0);
	assert_int_equal(r.opts, TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE |
					 TFTP_OPT_TIMEOUT |
					 TFTP_OPT_WINDOWSIZE);
	assert_int_equal(r.blksize, 1428);
	assert_int_equal(r.tsize, 0);
	assert_int_equal(r.timeout, 3);
	assert_int_equal(r.windowsize, 16);

	/* out of range, junk and unknown options are ignored */
	n = REQ(b, TFTP_RRQ,
		"f\0octet\0blksize\0007\0timeout\0000\0windowsize\0000\0"
		"tsize\0-1\0foo\0bar\0");
	assert_int_equal(tftp_parse_request(b, n, &r), 0);
	assert_int_equal(r.opts, 0);

	/* too large a blksize is clamped (RFC 2348), a repeat keeps the
	 * first value, a dangling option ends the list */
	n = REQ(b, TFTP_RRQ,
		"f\0octet\0blksize\00099999\0blksize\000512\0timeout\0"
		"256\0windowsize");
	assert_int_equal(tftp_parse_request(b, n, &r), 0);
	assert_int_equal(r.opts, TFTP_OPT_BLKSIZE);
	assert_int_equal(r.blksize, TFTP_BLKSIZE_MAX);

	n = REQ(b, TFTP_RRQ,
		"f\0octet\0blksize\0 8\0tsize\00018446744073709551616\0");
	assert_int_equal(tftp_parse_request(b, n, &r), 0);
	assert_int_equal(r.opts, 0);
}

static void test_filename_check(void **state)
{
	static const char *const good[] = {
		"SEP001122334455.cnf.xml",
		"firmware/p1.bin",
		"a",
		"a.b/c.d",
		"x..y",
	};
	static const char *const bad[] = {
		"",	    "/etc/passwd", "../etc/passwd", "a/../../b", "..",
		".",	    ".leases/x",   "a/.hidden",	    "a//b",	 "a/",
		"a\\..\\b", "a\x01",	   "dir/./x",	    "\x7f",
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(tftp_filename_check(good[i]), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(tftp_filename_check(bad[i]), -EACCES);
}

static const struct tftp_limits lim = { .max_blksize = 1468,
					.max_windowsize = 32 };

static void test_negotiate(void **state)
{
	struct tftp_request r = { .mode = TFTP_MODE_OCTET };
	struct tftp_params p;

	tftp_negotiate(&r, &lim, 1000, &p);
	assert_int_equal(p.opts, 0);
	assert_int_equal(p.blksize, 512);
	assert_int_equal(p.windowsize, 1);

	r.opts = TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE | TFTP_OPT_WINDOWSIZE |
		 TFTP_OPT_TIMEOUT;
	r.blksize = 65464;
	r.windowsize = 1000;
	r.timeout = 2;
	tftp_negotiate(&r, &lim, 123456789, &p);
	assert_int_equal(p.opts, r.opts);
	assert_int_equal(p.blksize, 1468);
	assert_int_equal(p.windowsize, 32);
	assert_int_equal(p.timeout, 2);
	assert_int_equal(p.tsize, 123456789);

	/* netascii: the wire size is not the file size, so no tsize */
	r.mode = TFTP_MODE_NETASCII;
	r.opts = TFTP_OPT_TSIZE;
	tftp_negotiate(&r, &lim, 10, &p);
	assert_int_equal(p.opts, 0);
}

static void test_build_packets(void **state)
{
	struct tftp_params p = { .opts = TFTP_OPT_BLKSIZE | TFTP_OPT_TSIZE,
				 .blksize = 1428,
				 .tsize = 4096 };
	static const uint8_t oack[] = "\0\6blksize\0001428\0tsize\0004096";
	static const uint8_t err[] = "\0\5\0\1File not found";
	uint8_t b[64];

	assert_int_equal(tftp_build_oack(&p, b, sizeof(b)), sizeof(oack));
	assert_memory_equal(b, oack, sizeof(oack));
	assert_int_equal(tftp_build_oack(&p, b, 10), -ENOBUFS);
	assert_int_equal(tftp_build_error(TFTP_ENOTFOUND, "File not found", b,
					  sizeof(b)),
			 sizeof(err));
	assert_memory_equal(b, err, sizeof(err));
	/* a long message is cut, still NUL-terminated */
	assert_int_equal(tftp_build_error(0, "0123456789", b, 8), 8);
	assert_int_equal(b[7], 0);
}

static void test_netascii_encode(void **state)
{
	const uint8_t src[] = "a\nb\rc";
	uint8_t dst[16];
	size_t used, n;
	int pending = -1;

	n = tftp_netascii_encode(src, 5, &used, dst, sizeof(dst), &pending);
	assert_int_equal(n, 7);
	assert_int_equal(used, 5);
	assert_memory_equal(dst, "a\r\nb\r\0c", 7);
	assert_int_equal(pending, -1);

	/* a pair split by the end of the block */
	n = tftp_netascii_encode(src, 5, &used, dst, 2, &pending);
	assert_int_equal(n, 2);
	assert_int_equal(used, 2);
	assert_memory_equal(dst, "a\r", 2);
	assert_int_equal(pending, '\n');
	n = tftp_netascii_encode(src + 2, 3, &used, dst, 3, &pending);
	assert_int_equal(n, 3);
	assert_memory_equal(dst, "\nb\r", 3);
	assert_int_equal(pending, 0);
	n = tftp_netascii_encode(NULL, 0, &used, dst, 3, &pending);
	assert_int_equal(n, 1);
	assert_int_equal(dst[0], 0);
	assert_int_equal(pending, -1);
}

/* --- the send window -------------------------------------------------------- */

struct membuf {
	const uint8_t *data;
	size_t len; /* 0 with data NULL: a virtual file of zeros */
	uint64_t vlen;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct membuf *m = ctx;
	uint64_t size = m->data ? m->len : m->vlen;

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	if (m->data)
		memcpy(buf, m->data + off, len);
	else
		memset(buf, 0, len);
	return (ssize_t)len;
}

static uint8_t pkt[TFTP_BLKSIZE_MAX + 4];

/* Build one packet and return its 16-bit block number (DATA) or -1 for
 * an OACK; *len gets the payload length. */
static int next_pkt(struct tftp_xfer *x, struct membuf *m, size_t *len)
{
	ssize_t n = tftp_xfer_build_data(x, mem_read, m, pkt, sizeof(pkt));

	assert_true(n >= 4 || (n >= 2 && pkt[1] == TFTP_OACK));
	if (pkt[1] == TFTP_OACK)
		return -1;
	assert_int_equal(pkt[1], TFTP_DATA);
	*len = (size_t)n - 4;
	return pkt[2] << 8 | pkt[3];
}

static void test_lockstep(void **state)
{
	struct tftp_params p = { .blksize = 512, .windowsize = 1 };
	struct membuf m = { .vlen = 1025 };
	struct tftp_xfer x;
	size_t len;

	tftp_xfer_init(&x, &p, m.vlen, 0);
	assert_int_equal(tftp_xfer_burst(&x), 1);
	assert_int_equal(next_pkt(&x, &m, &len), 1);
	assert_int_equal(len, 512);
	assert_int_equal(tftp_xfer_burst(&x), 0);
	/* Sorcerer's Apprentice: a duplicate ACK 0/1 sends nothing */
	assert_int_equal(tftp_xfer_on_ack(&x, 0, 0), TFTP_ACK_IGNORED);
	assert_int_equal(tftp_xfer_on_ack(&x, 2, 0), TFTP_ACK_IGNORED);
	assert_int_equal(tftp_xfer_on_ack(&x, 1, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(tftp_xfer_on_ack(&x, 1, 0), TFTP_ACK_IGNORED);
	assert_int_equal(tftp_xfer_burst(&x), 1);
	assert_int_equal(next_pkt(&x, &m, &len), 2);
	assert_int_equal(tftp_xfer_on_ack(&x, 1, 0), TFTP_ACK_IGNORED);
	assert_int_equal(tftp_xfer_burst(&x), 0);
	assert_int_equal(tftp_xfer_on_ack(&x, 2, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(next_pkt(&x, &m, &len), 3);
	assert_int_equal(len, 1);
	assert_int_equal(tftp_xfer_on_ack(&x, 3, 0), TFTP_ACK_DONE);
	assert_int_equal(tftp_xfer_burst(&x), 0);
	assert_int_equal(tftp_xfer_on_ack(&x, 3, 0), TFTP_ACK_IGNORED);
}

static void test_exact_multiple_and_empty(void **state)
{
	struct tftp_params p = { .blksize = 512, .windowsize = 1 };
	struct membuf m = { .vlen = 1024 };
	struct tftp_xfer x;
	size_t len;

	/* a file of whole blocks ends with an empty block */
	tftp_xfer_init(&x, &p, m.vlen, 0);
	assert_int_equal(next_pkt(&x, &m, &len), 1);
	assert_int_equal(tftp_xfer_on_ack(&x, 1, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(next_pkt(&x, &m, &len), 2);
	assert_int_equal(tftp_xfer_on_ack(&x, 2, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(next_pkt(&x, &m, &len), 3);
	assert_int_equal(len, 0);
	assert_int_equal(tftp_xfer_on_ack(&x, 3, 0), TFTP_ACK_DONE);

	m.vlen = 0;
	tftp_xfer_init(&x, &p, 0, 0);
	assert_int_equal(next_pkt(&x, &m, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(tftp_xfer_on_ack(&x, 1, 0), TFTP_ACK_DONE);
}

static void test_oack_then_window(void **state)
{
	struct tftp_params p = { .opts = TFTP_OPT_WINDOWSIZE,
				 .blksize = 512,
				 .windowsize = 4 };
	struct membuf m = { .vlen = 512 * 9 + 100 }; /* 10 blocks */
	struct tftp_xfer x;
	size_t len;
	int i;

	tftp_xfer_init(&x, &p, m.vlen, 0);
	assert_int_equal(tftp_xfer_burst(&x), 1);
	assert_int_equal(next_pkt(&x, &m, &len), -1);
	assert_int_equal(tftp_xfer_burst(&x), 0);
	/* no data before the OACK is acknowledged */
	assert_int_equal(tftp_xfer_on_ack(&x, 1, 0), TFTP_ACK_IGNORED);
	assert_int_equal(tftp_xfer_on_ack(&x, 0, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(tftp_xfer_burst(&x), 4);
	for (i = 1; i <= 4; i++)
		assert_int_equal(next_pkt(&x, &m, &len), i);
	assert_int_equal(tftp_xfer_burst(&x), 0);
	/* duplicate ACK of the OACK: no new burst */
	assert_int_equal(tftp_xfer_on_ack(&x, 0, 0), TFTP_ACK_IGNORED);
	/* ACK in the middle: blocks 3 and 4 count as lost, resume at 3 */
	assert_int_equal(tftp_xfer_on_ack(&x, 2, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(tftp_xfer_burst(&x), 4);
	for (i = 3; i <= 6; i++)
		assert_int_equal(next_pkt(&x, &m, &len), i);
	assert_int_equal(tftp_xfer_on_ack(&x, 6, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(tftp_xfer_burst(&x), 4);
	for (i = 7; i <= 10; i++)
		assert_int_equal(next_pkt(&x, &m, &len), i);
	assert_int_equal(len, 100);
	/* the window never passes the last block */
	assert_int_equal(tftp_xfer_burst(&x), 0);
	assert_int_equal(tftp_xfer_on_ack(&x, 10, 0), TFTP_ACK_DONE);
}

static void test_timeout_backoff(void **state)
{
	struct tftp_params p = { .opts = TFTP_OPT_BLKSIZE,
				 .blksize = 512,
				 .windowsize = 2 };
	struct membuf m = { .vlen = 5000 };
	struct tftp_xfer x;
	size_t len;

	p.windowsize = 2;
	tftp_xfer_init(&x, &p, m.vlen, 0);
	/* a lost OACK goes again on timeout */
	assert_int_equal(next_pkt(&x, &m, &len), -1);
	assert_int_equal(tftp_xfer_on_timeout(&x, 3), 0);
	assert_int_equal(tftp_xfer_burst(&x), 1);
	assert_int_equal(next_pkt(&x, &m, &len), -1);
	assert_int_equal(tftp_xfer_on_ack(&x, 0, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(x.retries, 0);
	assert_int_equal(next_pkt(&x, &m, &len), 1);
	assert_int_equal(next_pkt(&x, &m, &len), 2);
	assert_int_equal(tftp_xfer_on_timeout(&x, 3), 0);
	assert_int_equal(tftp_xfer_on_timeout(&x, 3), 0);
	assert_int_equal(x.retries, 2);
	/* rewound, but block 2 went out in the earlier round: its ACK
	 * still counts; block 3 never went out */
	assert_int_equal(x.next, 1);
	assert_int_equal(tftp_xfer_on_ack(&x, 3, 0), TFTP_ACK_IGNORED);
	assert_int_equal(tftp_xfer_on_ack(&x, 2, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(x.next, 3);
	assert_int_equal(x.retries, 0);
	assert_int_equal(next_pkt(&x, &m, &len), 3);
	assert_int_equal(next_pkt(&x, &m, &len), 4);
	assert_int_equal(tftp_xfer_on_timeout(&x, 3), 0);
	assert_int_equal(tftp_xfer_on_timeout(&x, 3), 0);
	assert_int_equal(x.retries, 2);
	assert_int_equal(tftp_xfer_burst(&x), 2);
	assert_int_equal(next_pkt(&x, &m, &len), 3);
	assert_int_equal(tftp_xfer_on_timeout(&x, 3), 0);
	assert_int_equal(tftp_xfer_on_timeout(&x, 3), -ETIMEDOUT);
}

/* 70000 blocks: numbers on the wire wrap 65535 -> 0 and the transfer still
 * ends where the file does. */
static void test_rollover(void **state)
{
	struct tftp_params p = { .opts = TFTP_OPT_WINDOWSIZE,
				 .blksize = 512,
				 .windowsize = 8 };
	struct membuf m = { .vlen = 512ull * 69999 + 7 };
	struct tftp_xfer x;
	uint64_t expect = 1;
	int wraps = 0, last = -1, r = TFTP_ACK_ADVANCED;
	size_t len = 0;

	tftp_xfer_init(&x, &p, m.vlen, 0);
	assert_int_equal(next_pkt(&x, &m, &len), -1);
	assert_int_equal(tftp_xfer_on_ack(&x, 0, 0), TFTP_ACK_ADVANCED);
	while (r == TFTP_ACK_ADVANCED) {
		unsigned int k = tftp_xfer_burst(&x);

		assert_true(k >= 1 && k <= 8);
		while (k--) {
			last = next_pkt(&x, &m, &len);
			assert_int_equal(last, (uint16_t)expect);
			if (last == 0)
				wraps++;
			expect++;
		}
		/* a stale ACK from 65536 blocks ago must not count */
		assert_int_equal(tftp_xfer_on_ack(&x, (uint16_t)(x.una - 1), 0),
				 TFTP_ACK_IGNORED);
		r = tftp_xfer_on_ack(&x, (uint16_t)last, 0);
	}
	assert_int_equal(r, TFTP_ACK_DONE);
	assert_int_equal(wraps, 1);
	assert_int_equal(expect - 1, 70000);
	assert_int_equal(last, 70000 - 65536);
	assert_int_equal(len, 7);
}

/* Decode netascii the way a client does, for round trips. */
static size_t nascii_decode(const uint8_t *in, size_t n, uint8_t *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '\r' && i + 1 < n) {
			out[o++] = in[i + 1] == '\n' ? '\n' : '\r';
			i++;
		} else {
			out[o++] = in[i];
		}
	}
	return o;
}

static void test_netascii_transfer(void **state)
{
	struct tftp_params p = { .mode = TFTP_MODE_NETASCII,
				 .opts = TFTP_OPT_BLKSIZE,
				 .blksize = 8,
				 .windowsize = 3 };
	uint8_t src[1000], wire[4000], back[1000];
	struct membuf m = { .data = src, .len = sizeof(src) };
	struct tftp_xfer x;
	size_t len, wlen = 0, i;
	int blk = 0, r, round = 0;

	for (i = 0; i < sizeof(src); i++)
		src[i] = i % 7 == 3 ? '\n' : i % 11 == 5 ? '\r' : 'a' + i % 26;
	tftp_xfer_init(&x, &p, sizeof(src), 0);
	assert_int_equal(next_pkt(&x, &m, &len), -1);
	r = tftp_xfer_on_ack(&x, 0, 0);
	while (r == TFTP_ACK_ADVANCED) {
		unsigned int k = tftp_xfer_burst(&x);
		uint8_t first[8];
		size_t flen = 0;

		assert_true(k >= 1);
		/* every 5th round, lose the window and retransmit: the
		 * blocks must come out the same from the checkpoints */
		if (++round % 5 == 0) {
			blk = next_pkt(&x, &m, &flen);
			memcpy(first, pkt + 4, flen);
			assert_int_equal(tftp_xfer_on_timeout(&x, 5), 0);
			assert_int_equal(next_pkt(&x, &m, &len), blk);
			assert_int_equal(len, flen);
			assert_memory_equal(pkt + 4, first, len);
			x.next--; /* let the loop below send it again */
		}
		while (k--) {
			blk = next_pkt(&x, &m, &len);
			assert_true(len <= 8);
			memcpy(wire + wlen, pkt + 4, len);
			wlen += len;
			if (len < 8)
				break;
		}
		r = tftp_xfer_on_ack(&x, (uint16_t)blk, 0);
	}
	assert_int_equal(r, TFTP_ACK_DONE);
	assert_int_equal(nascii_decode(wire, wlen, back), sizeof(src));
	assert_memory_equal(back, src, sizeof(src));
}

/* --- hostile clients (issue 11) ----------------------------------------- */

/* Defect 1: an ERROR (or DATA, ACK, OACK, junk) reaching port 69 is never
 * answered; only requests are.  Loop DoS, CVE-2024-2169. */
static void test_listen_policy(void **state)
{
	static const uint8_t err[] = "\0\5\0\4Illegal TFTP operation";
	static const uint8_t rrq[] = "\0\1f\0octet";
	static const uint8_t wrq[] = "\0\2f\0octet";
	uint8_t b[4] = { 0 };
	int op;

	assert_false(tftp_listen_answers(err, sizeof(err)));
	assert_true(tftp_listen_answers(rrq, sizeof(rrq)));
	assert_true(tftp_listen_answers(wrq, sizeof(wrq)));
	for (op = 3; op < 300; op++) {
		b[0] = op >> 8;
		b[1] = op & 0xff;
		assert_false(tftp_listen_answers(b, sizeof(b)));
	}
	assert_false(tftp_listen_answers(rrq, 1));
	assert_false(tftp_listen_answers(NULL, 0));
}

/* Defect 1: error replies are rate-limited. */
static void test_error_bucket(void **state)
{
	struct tftp_bucket bk = { 0 };
	int i, n = 0;

	bk.last_ms = 1000;
	bk.tokens_milli = 5000;
	for (i = 0; i < 100; i++)
		n += tftp_bucket_take(&bk, 1000, 10, 5);
	assert_int_equal(n, 5);
	/* 10 per second: one more after 100 ms, none after 50 */
	assert_false(tftp_bucket_take(&bk, 1050, 10, 5));
	assert_true(tftp_bucket_take(&bk, 1100, 10, 5));
	assert_false(tftp_bucket_take(&bk, 1100, 10, 5));
	/* a long quiet time refills the burst only */
	for (i = 0, n = 0; i < 100; i++)
		n += tftp_bucket_take(&bk, 100000, 10, 5);
	assert_int_equal(n, 5);
}

static const struct tftp_timing tm = { .rto_ms = 1000,
				       .max_retries = 5,
				       .unproven_retries = 1,
				       .max_stall_ms = 60000 };

/* Run the timer until the transfer is given up; returns when (ms) and
 * counts how many times the first packet went out. */
static uint64_t run_timer(struct tftp_xfer *x, uint64_t t0, unsigned int *sent)
{
	uint64_t t = t0;

	*sent = 1;
	for (;;) {
		t = tftp_xfer_deadline(x, &tm, t);
		if (tftp_xfer_expire(x, &tm, t) < 0)
			return t;
		(*sent)++;
		x->next++; /* the resend */
		assert_true(*sent < 100);
	}
}

/* Defect 2: a client asking "timeout 255" holds a slot at most 60 s
 * without progress, not 2 h. */
static void test_stall_bound(void **state)
{
	struct tftp_params p = { .opts = TFTP_OPT_TIMEOUT,
				 .blksize = 512,
				 .windowsize = 1,
				 .timeout = 255 };
	struct tftp_xfer x;
	unsigned int sent;
	uint64_t end;

	tftp_xfer_init(&x, &p, 100000, 5000);
	x.next = 1; /* OACK sent */
	end = run_timer(&x, 5000, &sent);
	assert_true(end - 5000 <= 60000);

	/* proven (ACK 0), then silent: 60 s after the last progress */
	tftp_xfer_init(&x, &p, 100000, 0);
	x.next = 1;
	x.hi = 1;
	assert_int_equal(tftp_xfer_on_ack(&x, 0, 7000), TFTP_ACK_ADVANCED);
	x.next = 2;
	x.hi = 2;
	end = run_timer(&x, 7000, &sent);
	assert_true(end > 7000 && end - 7000 <= 60000);
}

/* Defect 6: a forged option-less RRQ gets DATA 1 twice, not six times;
 * once the client acknowledged, the full retry count applies. */
static void test_unproven_retries(void **state)
{
	struct tftp_params p = { .blksize = 512, .windowsize = 1 };
	struct tftp_xfer x;
	unsigned int sent;

	tftp_xfer_init(&x, &p, 100000, 0);
	x.next = 2;
	x.hi = 2;
	assert_false(tftp_xfer_proven(&x));
	run_timer(&x, 0, &sent);
	assert_int_equal(sent, 1 + tm.unproven_retries);

	tftp_xfer_init(&x, &p, 100000, 0);
	x.next = 2;
	x.hi = 2;
	assert_int_equal(tftp_xfer_on_ack(&x, 1, 10), TFTP_ACK_ADVANCED);
	assert_true(tftp_xfer_proven(&x));
	x.next = 3;
	x.hi = 3;
	run_timer(&x, 10, &sent);
	assert_int_equal(sent, 1 + tm.max_retries);
}

/* Defect 3, the real sender: a netascii window ends at the short block. */
static void test_fill_netascii_eof(void **state)
{
	struct tftp_params p = { .mode = TFTP_MODE_NETASCII,
				 .opts = TFTP_OPT_WINDOWSIZE,
				 .blksize = 512,
				 .windowsize = 8 };
	static uint8_t src[700], buf[8 * 516];
	struct membuf m = { .data = src, .len = sizeof(src) };
	struct tftp_source s = { mem_read, NULL, &m };
	struct tftp_xfer x;
	uint16_t lens[8];

	memset(src, 'a', sizeof(src));
	tftp_xfer_init(&x, &p, sizeof(src), 0);
	assert_int_equal(tftp_xfer_fill(&x, &s, buf, sizeof(buf), lens, 8), 1);
	assert_int_equal(tftp_xfer_on_ack(&x, 0, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(tftp_xfer_fill(&x, &s, buf, sizeof(buf), lens, 8), 2);
	assert_int_equal(lens[0], 516);
	assert_int_equal(lens[1], 4 + 700 - 512);
	assert_int_equal(x.last, 2);
	assert_int_equal(tftp_xfer_burst(&x), 0);
	assert_int_equal(tftp_xfer_on_ack(&x, 2, 0), TFTP_ACK_DONE);
}

static ssize_t mem_readv(void *ctx, const struct iovec *iov, int n,
			 uint64_t off)
{
	ssize_t got = 0;
	int i;

	for (i = 0; i < n; i++) {
		ssize_t r = mem_read(ctx, iov[i].iov_base, iov[i].iov_len,
				     off + (uint64_t)got);

		got += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return got;
}

/* Defect 3, octet: the file shrinks under a window; the burst stops at
 * the new end and the final ACK ends the transfer. */
static void test_fill_octet_shrink(void **state)
{
	struct tftp_params p = { .opts = TFTP_OPT_WINDOWSIZE,
				 .blksize = 512,
				 .windowsize = 8 };
	struct membuf m = { .vlen = 1000 }; /* was 5000 at the RRQ */
	struct tftp_source s = { mem_read, mem_readv, &m };
	static uint8_t buf[8 * 516];
	struct tftp_xfer x;
	uint16_t lens[8];

	tftp_xfer_init(&x, &p, 5000, 0);
	assert_int_equal(tftp_xfer_fill(&x, &s, buf, sizeof(buf), lens, 8), 1);
	assert_int_equal(tftp_xfer_on_ack(&x, 0, 0), TFTP_ACK_ADVANCED);
	assert_int_equal(tftp_xfer_fill(&x, &s, buf, sizeof(buf), lens, 8), 2);
	assert_int_equal(lens[0], 516);
	assert_int_equal(lens[1], 4 + 1000 - 512);
	assert_int_equal(buf[516 + 3], 2);
	assert_int_equal(tftp_xfer_on_ack(&x, 2, 0), TFTP_ACK_DONE);

	/* unchanged file: one readv, the packets back to back */
	m.vlen = 5000;
	tftp_xfer_init(&x, &p, 5000, 0);
	tftp_xfer_fill(&x, &s, buf, sizeof(buf), lens, 8);
	tftp_xfer_on_ack(&x, 0, 0);
	assert_int_equal(tftp_xfer_fill(&x, &s, buf, sizeof(buf), lens, 8), 8);
	assert_int_equal(buf[7 * 516 + 3], 8);
	tftp_xfer_on_ack(&x, 8, 0);
	assert_int_equal(tftp_xfer_fill(&x, &s, buf, sizeof(buf), lens, 8), 2);
	assert_int_equal(lens[1], 4 + 5000 - 9 * 512);
	assert_int_equal(tftp_xfer_on_ack(&x, 10, 0), TFTP_ACK_DONE);
}

/* Defect 9: "/SEP..." is served relative to the root, and the gate sees
 * the same canonical name as for "SEP...". */
static void test_filename_canon(void **state)
{
	char a[32] = "/SEP0011.cnf.xml", b[32] = "//x/y", c[32] = "/../etc";
	char d[32] = "/", e[32] = "plain";

	tftp_filename_canon(a);
	assert_string_equal(a, "SEP0011.cnf.xml");
	assert_int_equal(tftp_filename_check(a), 0);
	tftp_filename_canon(b);
	assert_string_equal(b, "x/y");
	tftp_filename_canon(c);
	assert_int_equal(tftp_filename_check(c), -EACCES);
	tftp_filename_canon(d);
	assert_int_equal(tftp_filename_check(d), -EACCES);
	tftp_filename_canon(e);
	assert_string_equal(e, "plain");
}

/* Defect 5: what a client wrote cannot forge a log line. */
static void test_log_escape(void **state)
{
	static const char in[] = "a\n<0>forged\\\x7f\xff";
	char out[64];

	tftp_log_escape(in, sizeof(in) - 1, out, sizeof(out));
	assert_string_equal(out, "a\\x0a<0>forged\\x5c\\x7f\\xff");
	assert_null(strchr(out, '\n'));
	/* cut, never overrun */
	tftp_log_escape(in, sizeof(in) - 1, out, 4);
	assert_string_equal(out, "a");
}

/* Defect 8: the peer hash is SipHash-2-4 under a secret key (reference
 * vector of the SipHash paper: key 00..0f, message 00..0e). */
static void test_siphash(void **state)
{
	uint8_t key[16], msg[15];
	int i;

	for (i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < 15; i++)
		msg[i] = (uint8_t)i;
	assert_true(tftp_siphash(key, msg, 15) == 0xa129ca6149be45e5ull);
	key[0] ^= 1;
	assert_true(tftp_siphash(key, msg, 15) != 0xa129ca6149be45e5ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_plain),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_options),
		cmocka_unit_test(test_filename_check),
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_build_packets),
		cmocka_unit_test(test_netascii_encode),
		cmocka_unit_test(test_lockstep),
		cmocka_unit_test(test_exact_multiple_and_empty),
		cmocka_unit_test(test_oack_then_window),
		cmocka_unit_test(test_timeout_backoff),
		cmocka_unit_test(test_rollover),
		cmocka_unit_test(test_netascii_transfer),
		cmocka_unit_test(test_listen_policy),
		cmocka_unit_test(test_error_bucket),
		cmocka_unit_test(test_stall_bound),
		cmocka_unit_test(test_unproven_retries),
		cmocka_unit_test(test_fill_netascii_eof),
		cmocka_unit_test(test_fill_octet_shrink),
		cmocka_unit_test(test_filename_canon),
		cmocka_unit_test(test_log_escape),
		cmocka_unit_test(test_siphash),
	};

	return cmocka_run_group_tests_name("tftpd-proto", tests, NULL, NULL);
}
