// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libFuzzer target: arbitrary bytes as a TFTP request, through parsing,
 * the filename check, negotiation and the OACK builder, then a few steps
 * of the real sender (tftp_xfer_fill) driven by the remaining input as ACK numbers.
 */
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "tftp-internal.h"

static ssize_t zero_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	uint64_t size = *(uint64_t *)ctx;

	if (off >= size)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	memset(buf, '\n', len);
	return (ssize_t)len;
}

static ssize_t zero_readv(void *ctx, const struct iovec *iov, int n,
			  uint64_t off)
{
	ssize_t got = 0;
	int i;

	for (i = 0; i < n; i++) {
		ssize_t r = zero_read(ctx, iov[i].iov_base, iov[i].iov_len,
				      off + (uint64_t)got);

		got += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return got;
}

static uint8_t pkt[16 * (TFTP_BLKSIZE_MAX + 4)];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct tftp_limits lim = { .max_blksize = 65464,
						.max_windowsize = 16 };
	static struct tftp_xfer x;
	struct tftp_request req;
	struct tftp_params p;
	uint64_t fsize;
	size_t i;

	if (tftp_parse_request(data, size, &req) < 0)
		return 0;
	if (strlen(req.filename) == 0 ||
	    strlen(req.filename) > TFTP_FILENAME_MAX)
		__builtin_trap();
	(void)tftp_filename_check(req.filename);
	fsize = size * 37;
	tftp_negotiate(&req, &lim, fsize, &p);
	if (p.blksize < TFTP_BLKSIZE_MIN || p.windowsize < 1 ||
	    p.windowsize > 16)
		__builtin_trap();
	tftp_xfer_init(&x, &p, fsize, 0);
	for (i = 0; i < size && i < 64; i++) {
		struct tftp_source src = { zero_read,
					   (data[0] & 1) ? zero_readv : NULL,
					   &fsize };
		uint16_t lens[16];
		int k = tftp_xfer_fill(&x, &src, pkt, sizeof(pkt), lens, 16);

		/* the real sender never goes past the final block */
		if (k < 0 || (x.last && x.next > x.last + 1))
			__builtin_trap();
		if (data[i] & 0x80)
			(void)tftp_xfer_on_timeout(&x, 100);
		else if (tftp_xfer_on_ack(&x,
					  (uint16_t)(x.una + data[i] % 8 - 2),
					  0) == TFTP_ACK_DONE)
			break;
	}
	return 0;
}
