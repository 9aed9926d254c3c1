// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * bench-xdp: ns per packet of the NAPPT programs against a bare XDP_PASS
 * program, through BPF_PROG_TEST_RUN, in the same run.
 *
 *  hot    one phone, the same map entries every time, vs bare XDP_PASS
 *         (the hot programs also restore the fields the previous run
 *         translated, so each iteration takes the real path: this makes
 *         the ratio slightly pessimistic);
 *  spray  a random leased phone per packet, vs a bare program with the
 *         same prologue, with the maps holding 1k and 1M phones.
 *
 * Runs inside the namespace bench/bench-xdp.sh builds (lan0, wan0, routes
 * and neighbours), so every FIB lookup succeeds as on a live gateway.
 * Each figure is the median of ROUNDS interleaved rounds of REPEAT runs.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "nappt.h"
#include "bench.skel.h"

#define ROUNDS 7
#define SLOTS_PER_IP 64
#define USABLE 63 /* slot 0 holds ports 0-1023 */

static unsigned long repeat = 1000000;
static int lan_if, wan_if;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A UDP frame: the prologues rewrite addresses, MACs and ports. */
static size_t frame(unsigned char *b, int wan)
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
static double run_once(struct bpf_program *prog, int wan, int want)
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

struct job {
	struct bpf_program *prog;
	int wan, want;
	double r[ROUNDS];
	double median;
};

/*
 * Rounds are interleaved (every program once per round) so that a burst
 * of load on this shared 2-CPU machine hits the program and its baseline
 * alike; each figure is the median of its rounds.
 */
static void measure_all(struct job *jobs, int n)
{
	int i, k;

	for (k = 0; k < ROUNDS; k++)
		for (i = 0; i < n; i++)
			jobs[i].r[k] = run_once(jobs[i].prog, jobs[i].wan,
						jobs[i].want);
	for (i = 0; i < n; i++) {
		qsort(jobs[i].r, ROUNDS, sizeof(double), cmp_double);
		jobs[i].median = jobs[i].r[ROUNDS / 2];
	}
}

static long memlock_of(int fd)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

struct setup {
	struct bench_bpf *skel;
	unsigned long phones;
};

/* Load with maps sized for n phones and fill them as set_phone() expects:
 * phone i on public address i / USABLE, slot i % USABLE + 1. */
static int load(struct setup *s, unsigned long n)
{
	unsigned long pubs = (n + USABLE - 1) / USABLE, lan = 1, i, chunk;
	struct nappt_config cfg = { 0 };
	struct nappt_phone *vals;
	__u32 *keys, *svals, zero = 0;
	struct bpf_map *m;
	int r;

	while (lan < n + 1)
		lan <<= 1;
	while (pubs & (pubs - 1))
		pubs++; /* pools are CIDR blocks */
	s->skel = bench_bpf__open();
	if (!s->skel)
		return -errno;
	bpf_object__for_each_map(m, s->skel->obj)
		bpf_map__set_pin_path(m, NULL);
	s->skel->rodata->spray_n = (__u32)n;
	s->skel->rodata->spray_u = USABLE;
	bpf_map__set_max_entries(s->skel->maps.phones, (__u32)lan);
	bpf_map__set_max_entries(s->skel->maps.slots,
				 (__u32)(pubs * SLOTS_PER_IP));
	r = bench_bpf__load(s->skel);
	if (r)
		return r;
	s->phones = n;

	cfg.lan_net = htonl(0x64400000); /* 100.64.0.0 */
	cfg.lan_size = (__u32)lan;
	cfg.pub_net = htonl(0xc6130000); /* 198.19.0.0/18 at 1M phones */
	cfg.pub_count = (__u32)pubs;
	cfg.slot_shift = 10;
	cfg.slots_per_ip = SLOTS_PER_IP;
	cfg.lan_gw = htonl(0x64400001);
	/* As the loader sets it: phones are on-link behind lan0. */
	cfg.lan_ifindex = (__u32)lan_if;
	cfg.lan_mtu = 1500;
	cfg.lan_mac[0] = 2;
	cfg.lan_mac[4] = 1;
	cfg.lan_mac[5] = 1;
	if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.config), &zero, &cfg,
				0))
		return -errno;
	for (i = 0; i < 2; i++) {
		__u32 k = (__u32)(i ? wan_if : lan_if);

		if (bpf_map_update_elem(bpf_map__fd(s->skel->maps.tx_ports), &k,
					&k, 0))
			return -errno;
	}

	chunk = 65536;
	keys = calloc(chunk, sizeof(*keys));
	svals = calloc(chunk, sizeof(*svals));
	vals = calloc(chunk, sizeof(*vals));
	if (!keys || !vals || !svals)
		return -ENOMEM;
	for (i = 0; i < n; i += chunk) {
		__u32 cnt = (__u32)(n - i < chunk ? n - i : chunk), j, skeys_n;
		LIBBPF_OPTS(bpf_map_batch_opts, bo);

		for (j = 0; j < cnt; j++) {
			unsigned long id = i + j, slot = id % USABLE + 1;
			struct nappt_phone *p = &vals[j];

			keys[j] = (__u32)id;
			memset(p, 0, sizeof(*p));
			p->pub_ip = htonl(0xc6130000 + (__u32)(id / USABLE));
			p->port_first = (__u16)(slot << 10);
			p->port_last = (__u16)((slot << 10) + 1023);
			p->mac[0] = 2;
			p->mac[2] = (__u8)(id >> 24);
			p->mac[3] = (__u8)(id >> 16);
			p->mac[4] = (__u8)(id >> 8);
			p->mac[5] = (__u8)id;
			p->flags = NAPPT_PHONE_VALID;
		}
		if (bpf_map_update_batch(bpf_map__fd(s->skel->maps.phones),
					 keys, vals, &cnt, &bo))
			return -errno;
		skeys_n = cnt;
		for (j = 0; j < cnt; j++) {
			unsigned long id = i + j;

			keys[j] = (__u32)((id / USABLE) * SLOTS_PER_IP +
					  id % USABLE + 1);
			svals[j] = (__u32)(id + 1);
		}
		if (bpf_map_update_batch(bpf_map__fd(s->skel->maps.slots), keys,
					 svals, &skeys_n, &bo))
			return -errno;
	}
	free(keys);
	free(svals);
	free(vals);
	return 0;
}

int main(int argc, char **argv)
{
	double pass, out, in, sb_out_1k, sp_out_1k, sb_in_1k, sp_in_1k,
		sb_out_1m, sp_out_1m, sb_in_1m, sp_in_1m;
	double so_1k, si_1k, so_1m, si_1m, scale;
	unsigned long big = 1000000;
	struct setup s1k = { 0 }, s1m = { 0 };
	long mem;
	int r;

	if (argc > 1)
		repeat = strtoul(argv[1], NULL, 10);
	if (argc > 2)
		big = strtoul(argv[2], NULL, 10);
	lan_if = (int)if_nametoindex("lan0");
	wan_if = (int)if_nametoindex("wan0");
	if (!lan_if || !wan_if) {
		fprintf(stderr, "bench_xdp: run through bench/bench-xdp.sh\n");
		return 1;
	}
	r = load(&s1k, 1000);
	if (r) {
		fprintf(stderr, "Failed to load 1k setup: %s\n", strerror(-r));
		return 1;
	}
	printf("repeat %lu, median of %d rounds, ns per packet\n", repeat,
	       ROUNDS);
	{
		struct job j[] = {
			{ s1k.skel->progs.bare_pass, 0, XDP_PASS },
			{ s1k.skel->progs.hot_out, 0, XDP_REDIRECT },
			{ s1k.skel->progs.hot_in, 1, XDP_REDIRECT },
			{ s1k.skel->progs.spray_bare_out, 0, XDP_PASS },
			{ s1k.skel->progs.spray_out, 0, XDP_REDIRECT },
			{ s1k.skel->progs.spray_bare_in, 1, XDP_PASS },
			{ s1k.skel->progs.spray_in, 1, XDP_REDIRECT },
		};

		measure_all(j, 7);
		pass = j[0].median;
		out = j[1].median;
		in = j[2].median;
		sb_out_1k = j[3].median;
		sp_out_1k = j[4].median;
		sb_in_1k = j[5].median;
		sp_in_1k = j[6].median;
	}
	bench_bpf__destroy(s1k.skel);

	r = load(&s1m, big);
	if (r) {
		fprintf(stderr, "Failed to load 1M setup: %s\n", strerror(-r));
		return 1;
	}
	{
		struct job j[] = {
			{ s1m.skel->progs.spray_bare_out, 0, XDP_PASS },
			{ s1m.skel->progs.spray_out, 0, XDP_REDIRECT },
			{ s1m.skel->progs.spray_bare_in, 1, XDP_PASS },
			{ s1m.skel->progs.spray_in, 1, XDP_REDIRECT },
		};

		measure_all(j, 4);
		sb_out_1m = j[0].median;
		sp_out_1m = j[1].median;
		sb_in_1m = j[2].median;
		sp_in_1m = j[3].median;
	}
	mem = memlock_of(bpf_map__fd(s1m.skel->maps.phones)) +
	      memlock_of(bpf_map__fd(s1m.skel->maps.slots));
	bench_bpf__destroy(s1m.skel);

	so_1k = sp_out_1k / sb_out_1k;
	si_1k = sp_in_1k / sb_in_1k;
	so_1m = sp_out_1m / sb_out_1m;
	si_1m = sp_in_1m / sb_in_1m;
	scale = sp_out_1m / sp_out_1k > sp_in_1m / sp_in_1k ?
			sp_out_1m / sp_out_1k :
			sp_in_1m / sp_in_1k;

	printf("hot:  bare pass %.1f  out %.1f (%.2fx)  in %.1f (%.2fx)\n",
	       pass, out, out / pass, in, in / pass);
	printf("spray 1k: out %.1f vs bare %.1f (%.2fx)  in %.1f vs bare %.1f "
	       "(%.2fx)\n",
	       sp_out_1k, sb_out_1k, so_1k, sp_in_1k, sb_in_1k, si_1k);
	printf("spray %luk: out %.1f vs bare %.1f (%.2fx)  in %.1f vs bare "
	       "%.1f (%.2fx)\n",
	       big / 1000, sp_out_1m, sb_out_1m, so_1m, sp_in_1m, sb_in_1m,
	       si_1m);
	printf("map memory (phones + slots): %ld bytes for %lu phones\n", mem,
	       big);
	printf("RESULT xdp pass_ns=%.1f out_ns=%.1f in_ns=%.1f out_ratio=%.2f "
	       "in_ratio=%.2f spray_out_ratio_1m=%.2f spray_in_ratio_1m=%.2f "
	       "scale_ratio=%.2f bytes_per_phone=%.1f\n",
	       pass, out, in, out / pass, in / pass, so_1m, si_1m, scale,
	       (double)mem / (double)big);
	return 0;
}
