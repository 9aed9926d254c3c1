// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libFuzzer target: arbitrary bytes as a TFTP request, through parsing,
 * the filename check, negotiation and the OACK builder, then a few steps
 * of the send window driven by the remaining input as ACK numbers.
 */
#include <stdint.h>
#include <string.h>

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

static uint8_t pkt[TFTP_BLKSIZE_MAX + 4];

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
	tftp_xfer_init(&x, &p, fsize);
	for (i = 0; i < size && i < 64; i++) {
		unsigned int k = tftp_xfer_burst(&x);

		while (k--)
			if (tftp_xfer_build_data(&x, zero_read, &fsize, pkt,
						 sizeof(pkt)) < 0)
				__builtin_trap();
		if (data[i] & 0x80)
			(void)tftp_xfer_on_timeout(&x, 100);
		else if (tftp_xfer_on_ack(&x, (uint16_t)(x.una + data[i] % 8 -
							 2)) == TFTP_ACK_DONE)
			break;
	}
	return 0;
}
