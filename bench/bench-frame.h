/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * What bench_xdp.c and ab_hot.c share: the test frame both run through
 * the programs, one timed round of BPF_PROG_TEST_RUN, and the sort order
 * of their rounds' medians.
 */
#ifndef NAPPT_BENCH_FRAME_H
#define NAPPT_BENCH_FRAME_H

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

/* Runs per round, and the devices the programs see as ingress. */
static unsigned long repeat = 1000000;
static int lan_if, wan_if;

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A UDP frame: the prologues rewrite addresses, MACs and ports. */
static inline size_t frame(unsigned char *b, int wan)
{
	static const unsigned char lan0[6] = { 2, 0, 0, 0, 1, 1 };
	static const unsigned char wan0[6] = { 2, 0, 0, 0, 2, 1 };
	size_t len = 14 + 20 + 8 + 64, i;
	unsigned int sum = 0;

	memset(b, 0, len);
	memcpy(b, wan ? wan0 : lan0, 6);
	b[6] = 2;
	b[12] = 0x08;
	b[14] = 0x45;
	b[16] = (unsigned char)((len - 14) >> 8);
	b[17] = (unsigned char)(len - 14);
	b[20] = 0x40; /* DF */
	b[22] = 64;
	b[23] = 17;
	for (i = 14; i < 34; i += 2)
		sum += (unsigned int)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	b[24] = (unsigned char)(~sum >> 8);
	b[25] = (unsigned char)~sum;
	b[34] = 0x13;
	b[35] = 0xc4; /* 5060 */
	b[36] = 0x13;
	b[37] = 0xc4;
	b[39] = 72; /* UDP length */
	b[40] = 0x12; /* some non-zero checksum */
	b[41] = 0x34;
	return len;
}

/* ns per run of prog, one round of `repeat` runs; expect its verdict. */
static inline double run_once(struct bpf_program *prog, int wan, int want)
{
	unsigned char pkt[256], out[256];
	size_t len = frame(pkt, wan);
	struct xdp_md ctx = { .data_end = (__u32)len,
			      .ingress_ifindex =
				      (__u32)(wan ? wan_if : lan_if) };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt,
		    .data_size_in = (__u32)len, .data_out = out,
		    .data_size_out = sizeof(out), .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = (int)repeat);

	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o)) {
		fprintf(stderr, "Failed to run %s: %s\n",
			bpf_program__name(prog), strerror(errno));
		exit(1);
	}
	if ((int)o.retval != want) {
		fprintf(stderr, "%s returned %u, want %d\n",
			bpf_program__name(prog), o.retval, want);
		exit(1);
	}
	return o.duration;
}

#endif /* NAPPT_BENCH_FRAME_H */
