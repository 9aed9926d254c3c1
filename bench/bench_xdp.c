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
 *  min    the minimal translator (bench.bpf.c): the hot case's limit;
 *  floor  one (and two) dependent random loads into an array as large as
 *         our per-phone table: the 1M spray's limit;
 *  capacity  Mpps of the real forwarding path on one core (live frames,
 *         or a generator where the kernel refuses them), vs a program
 *         that only redirects.
 *
 * Runs inside the namespace bench/bench-xdp.sh builds (lan0, wan0, routes
 * and neighbours), so every FIB lookup succeeds as on a live gateway.
 * Each figure is the median of ROUNDS interleaved rounds of REPEAT runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "nappt.h"
#include "bench.skel.h"
#include "../bpf/lib/bench.h"
#include "bench-frame.h"

#define ROUNDS 7
#define SLOTS_PER_IP 64
#define USABLE 63 /* slot 0 holds ports 0-1023 */
/* The first public address is left out: its slot 1 is the key of the
 * gateway's own address (lan_net + 1), which no phone derives. */
#define PUB0 1
#define LAN_NET 0x64400000U /* 100.64.0.0 */
#define PUB_NET 0xc6130000U /* 198.19.0.0 */

/* Phone i (as set_phone() in bench.bpf.c lays them out): public index
 * PUB0 + i / USABLE, slot i % USABLE + 1; its private address is derived
 * from them, lan_net + the slot's key (struct nappt_slot). */
static __u32 phone_pub(unsigned long i)
{
	return (__u32)(PUB0 + i / USABLE);
}

static __u32 phone_slot(unsigned long i)
{
	return (__u32)(i % USABLE + 1);
}

static __u32 phone_index(unsigned long i)
{
	return phone_pub(i) * SLOTS_PER_IP + phone_slot(i);
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
	unsigned long table_bytes; /* slots as the kernel holds them */
	__u32 floor_n;
};

/* Bytes an ARRAY map's values take in the kernel: each value rounded up
 * to 8 bytes (kernel/bpf/arraymap.c), whatever its declared size. */
static unsigned long map_bytes(const struct bpf_map *m)
{
	unsigned long v = bpf_map__value_size(m);

	return (unsigned long)bpf_map__max_entries(m) * ((v + 7) & ~7UL);
}

/* The minimal translator's two entries: phone 0 outbound (key 0: its
 * private address is min_lan_net), and its first slot inbound (key 1:
 * slot 1 of min_pub_net, its public address). */
static int fill_min(struct setup *s)
{
	struct min_ent e = { 0 };
	__u32 k = 0;
	int fd = bpf_map__fd(s->skel->maps.min_tab);
	static const unsigned char nh[6] = { 2, 0, 0, 0, 0xff, 2 };
	static const unsigned char wan0[6] = { 2, 0, 0, 0, 2, 1 };
	static const unsigned char lan0[6] = { 2, 0, 0, 0, 1, 1 };
	static const unsigned char ph0[6] = { 2, 0, 0, 0, 0, 0 };

	e.addr = htonl(PUB_NET + PUB0);
	e.ifindex = (__u32)wan_if;
	memcpy(e.dmac, nh, 6);
	memcpy(e.smac, wan0, 6);
	if (bpf_map_update_elem(fd, &k, &e, 0))
		return -errno;
	k = 1;
	e.addr = htonl(LAN_NET + phone_index(0));
	e.ifindex = (__u32)lan_if;
	memcpy(e.dmac, ph0, 6);
	memcpy(e.smac, lan0, 6);
	if (bpf_map_update_elem(fd, &k, &e, 0))
		return -errno;
	return 0;
}

/* Load with maps sized for n phones and fill them as set_phone() expects
 * (phone_index()): public pool and LAN pool CIDR blocks, the LAN pool as
 * large as the slots, as the derived layout asks. */
static int load(struct setup *s, unsigned long n)
{
	unsigned long pubs = PUB0 + (n + USABLE - 1) / USABLE, lan, i, chunk;
	struct nappt_config cfg = { 0 };
	struct nappt_slot *svals;
	__u32 *keys, zero = 0;
	struct bpf_map *m;
	int r;

	while (pubs & (pubs - 1))
		pubs++; /* pools are CIDR blocks */
	lan = pubs * SLOTS_PER_IP;
	s->skel = bench_bpf__open();
	if (!s->skel)
		return -errno;
	bpf_object__for_each_map(m, s->skel->obj)
		bpf_map__set_pin_path(m, NULL);
	s->skel->rodata->spray_n = (__u32)n;
	s->skel->rodata->spray_u = USABLE;
	bpf_map__set_max_entries(s->skel->maps.slots,
				 (__u32)(pubs * SLOTS_PER_IP));
	/* The memory floor's array is as large as our table. */
	s->table_bytes = map_bytes(s->skel->maps.slots);
	s->floor_n = (__u32)(s->table_bytes / sizeof(struct floor_ent));
	bpf_map__set_max_entries(s->skel->maps.floor_tab, s->floor_n);
	s->skel->rodata->floor_n = s->floor_n;
	s->skel->rodata->min_lan_net = htonl(LAN_NET + phone_index(0));
	s->skel->rodata->min_pub_net = htonl(PUB_NET + PUB0);
	s->skel->rodata->bare_tx_if = (__u32)wan_if;
	r = bench_bpf__load(s->skel);
	if (r)
		return r;
	s->phones = n;

	cfg.lan_net = htonl(LAN_NET);
	cfg.lan_size = (__u32)lan; /* a /12 at 1M phones */
	cfg.pub_net = htonl(PUB_NET); /* 198.19.0.0/18 at 1M phones */
	cfg.pub_count = (__u32)pubs;
	cfg.slot_shift = 10;
	cfg.slots_per_ip = SLOTS_PER_IP;
	cfg.lan_gw = htonl(LAN_NET + 1);
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

	/* One slot per phone: its first, dist 0, so its key is its index. */
	chunk = 65536;
	keys = calloc(chunk, sizeof(*keys));
	svals = calloc(chunk, sizeof(*svals));
	if (!keys || !svals)
		return -ENOMEM;
	for (i = 0; i < n; i += chunk) {
		__u32 cnt = (__u32)(n - i < chunk ? n - i : chunk), j;
		LIBBPF_OPTS(bpf_map_batch_opts, bo);

		for (j = 0; j < cnt; j++) {
			unsigned long id = i + j;
			struct nappt_slot *e = &svals[j];

			keys[j] = phone_index(id);
			memset(e, 0, sizeof(*e));
			e->mac[0] = 2;
			e->mac[2] = (__u8)(id >> 24);
			e->mac[3] = (__u8)(id >> 16);
			e->mac[4] = (__u8)(id >> 8);
			e->mac[5] = (__u8)id;
			e->owner = NAPPT_SLOT_VALID;
		}
		if (bpf_map_update_batch(bpf_map__fd(s->skel->maps.slots), keys,
					 svals, &cnt, &bo))
			return -errno;
	}
	free(keys);
	free(svals);
	return fill_min(s);
}

/*
 * Forwarding capacity: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES
 * (what xdp-trafficgen and xdp-bench drive): the kernel builds real
 * frames from the test packet in a page pool, runs the program on them
 * as if received on the ingress device, and carries out its verdict, so
 * a redirect really goes through the devmap and out of the veth, whose
 * peer's XDP `sink` counts and drops it.  One core: the run, the
 * redirects and the peer's receive all happen on the calling CPU
 * (veth's NAPI runs in the softirqs of that CPU), so the wall time per
 * frame is the whole hook's cost.  Mpps = frames / wall time.
 */
#define LIVE_FRAMES 2000000
#define LIVE_ROUNDS 5

static __u64 sink_total(struct bench_bpf *skel)
{
	int ncpu = libbpf_num_possible_cpus(), i;
	__u64 v[256], t = 0;
	__u32 zero = 0;

	if (ncpu <= 0 || ncpu > 256 ||
	    bpf_map_lookup_elem(bpf_map__fd(skel->maps.sink_count), &zero, v))
		return 0;
	for (i = 0; i < ncpu; i++)
		t += v[i];
	return t;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Mpps of one live run; the frames must all reach the sink. */
static double live_once(struct bench_bpf *skel, struct bpf_program *prog,
			int wan)
{
	unsigned char pkt[256];
	size_t len = frame(pkt, wan);
	struct xdp_md ctx = { .data_end = (__u32)len,
			      .ingress_ifindex =
				      (__u32)(wan ? wan_if : lan_if) };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt,
		    .data_size_in = (__u32)len, .ctx_in = &ctx,
		    .ctx_size_in = sizeof(ctx), .repeat = LIVE_FRAMES,
		    .batch_size = 64, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
	__u64 before = sink_total(skel), got;
	double t0, t1;

	t0 = now_ns();
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o)) {
		if (errno == EPERM || errno == EOPNOTSUPP)
			return -1; /* refused here: use the generator method */
		fprintf(stderr, "Failed to run %s live: %s\n",
			bpf_program__name(prog), strerror(errno));
		exit(1);
	}
	t1 = now_ns();
	got = sink_total(skel) - before;
	if (got < LIVE_FRAMES * 99ULL / 100) {
		fprintf(stderr, "%s: %llu of %d frames reached the sink\n",
			bpf_program__name(prog), (unsigned long long)got,
			LIVE_FRAMES);
		exit(1);
	}
	return (double)got / (t1 - t0) * 1e3;
}

struct live_job {
	struct bpf_program *prog;
	int wan;
	double r[LIVE_ROUNDS];
	double f[LIVE_ROUNDS]; /* generator method: the floor's CPU ns */
	double median;
};

/*
 * Where this kernel refuses live frames (EPERM: this VM's kernel does,
 * as root in the initial namespace too), the other way to redirect real
 * frames out: a generator.  trafgen (one thread, pinned to CPU 0) sends
 * the bench frame into the veth peer of the program's device; a veth
 * delivers on the sending CPU, so the program, its redirect and the far
 * peer's sink run in softirq on CPU 0 in the sender's context.  The
 * sender's CPU time per frame is the whole path's cost; the floor (the
 * same generator into the sink attached on the device itself) is
 * subtracted, and the rest is the hook's own cost, redirect and
 * transmit included: Mpps on one core = 1e3 / that.  This process waits
 * on CPU 1.
 */
static char gen_cfg[64];

static void remove_gen_cfg(void)
{
	if (gen_cfg[0])
		unlink(gen_cfg);
}

static int write_gen_cfg(void)
{
	unsigned char pkt[256];
	size_t len = frame(pkt, 0), i;
	int fd;
	FILE *f;

	snprintf(gen_cfg, sizeof(gen_cfg), "/tmp/bench-xdp-gen.XXXXXX");
	fd = mkstemp(gen_cfg);
	if (fd < 0) {
		gen_cfg[0] = 0;
		return -errno;
	}
	atexit(remove_gen_cfg);
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	fprintf(f, "{ ");
	for (i = 0; i < len; i++)
		fprintf(f, "0x%02x%s", pkt[i], i + 1 < len ? ", " : " }\n");
	fclose(f);
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * CPU ns per frame of trafgen sending GEN_FRAMES frames into `into` (the
 * peer of the device the program runs on).  Its CPU time, not the wall
 * time: the machine is shared, and what the receive side does in
 * softirq on the sending CPU (the program, the redirect, the far peer's
 * sink) is charged to the sender's system time (tick accounting, no
 * IRQ time accounting on this kernel), while other processes' time is
 * not.  -1 if fewer than 99% of the frames reached the sink.
 */
#define GEN_FRAMES 400000

static double gen_cpu_ns(struct bench_bpf *skel, const char *into)
{
	char n[16];
	struct rusage ru;
	__u64 c0, c1;
	pid_t pid;
	int st;

	snprintf(n, sizeof(n), "%d", GEN_FRAMES);
	c0 = sink_total(skel);
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		int null = open("/dev/null", O_WRONLY);

		/* Its own group: trafgen -P 1 forks a worker. */
		setpgid(0, 0);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("taskset", "taskset", "-c", "0", "trafgen", "-o", into,
		       "-c", gen_cfg, "-P", "1", "-Q", "-n", n, (char *)NULL);
		_exit(127);
	}
	/* Bounded: at 100 kpps the run takes 6 s. */
	for (st = 0; st < 600; st++) {
		if (wait4(pid, NULL, WNOHANG, &ru) == pid)
			break;
		sleep_ms(100);
	}
	if (st == 600) {
		kill(-pid, SIGKILL);
		wait4(pid, NULL, 0, &ru);
		return -1;
	}
	c1 = sink_total(skel);
	if (c1 - c0 < GEN_FRAMES * 99ULL / 100) {
		fprintf(stderr, "  %llu of %d frames reached the sink\n",
			(unsigned long long)(c1 - c0), GEN_FRAMES);
		return -1;
	}
	return ((double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
		(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3) /
	       (double)(c1 - c0);
}

static int attach_on(const char *ifname, struct bpf_program *prog)
{
	int ifx = (int)if_nametoindex(ifname);

	if (!ifx)
		return -ENODEV;
	return bpf_xdp_attach(ifx, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE,
			      NULL);
}

static void detach_from(const char *ifname)
{
	int ifx = (int)if_nametoindex(ifname);

	if (ifx)
		bpf_xdp_detach(ifx, XDP_FLAGS_DRV_MODE, NULL);
}

/* ns of the hook's own work per frame for prog on lan0 (wan0 if wan),
 * the floor measured right before it; -1 if the path failed. */
static double gen_once(struct bench_bpf *skel, struct bpf_program *prog,
		       int wan, double *floor_out)
{
	const char *dev = wan ? "wan0" : "lan0", *peer = wan ? "wanp" : "lanp";
	double floor_pps, pps; /* CPU ns per frame */
	int r;

	r = attach_on(dev, skel->progs.sink);
	if (r) {
		fprintf(stderr, "Failed to attach the sink on %s: %s\n", dev,
			strerror(-r));
		return -1;
	}
	floor_pps = gen_cpu_ns(skel, peer);
	detach_from(dev);
	r = attach_on(dev, prog);
	if (r) {
		fprintf(stderr, "Failed to attach %s on %s: %s\n",
			bpf_program__name(prog), dev, strerror(-r));
		return -1;
	}
	pps = gen_cpu_ns(skel, peer);
	detach_from(dev);
	if (getenv("BENCH_VERBOSE"))
		fprintf(stderr, "  %s on %s: floor %.1f ns, program %.1f ns\n",
			bpf_program__name(prog), dev, floor_pps, pps);
	if (floor_pps <= 0 || pps <= 0)
		return -1;
	*floor_out = floor_pps;
	return pps;
}

static int gen_mode;

/*
 * Whose refusal is it?  Upstream answers a batch_size above
 * TEST_XDP_MAX_BATCH (256) with E2BIG before it looks at anything else
 * of a live run and returns EPERM nowhere on that path; a kernel that
 * answers EPERM here refuses live frames whatever the arguments, so no
 * change on our side can help (bench/RESULTS.md, "Why live frames are
 * refused").  1 if so.
 */
static int live_refused_by_kernel(struct bpf_program *prog)
{
	unsigned char pkt[256];
	size_t len = frame(pkt, 0);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt,
		    .data_size_in = (__u32)len, .repeat = 1, .batch_size = 257,
		    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

	return bpf_prog_test_run_opts(bpf_program__fd(prog), &o) &&
	       errno == EPERM;
}

static void live_all(struct bench_bpf *skel, struct live_job *jobs, int n)
{
	cpu_set_t one, old;
	double fl;
	int i, k;

	if (!gen_mode && live_once(skel, jobs[0].prog, jobs[0].wan) < 0) {
		const char *why = strerror(errno);

		printf("capacity: live frames refused (%s%s); measuring with "
		       "trafgen into the veth instead\n",
		       why,
		       live_refused_by_kernel(jobs[0].prog) ?
			       ", also where upstream answers E2BIG: this "
			       "kernel build refuses every live run" :
			       "");
		gen_mode = 1;
	}
	if (gen_mode) {
		if (!gen_cfg[0] && write_gen_cfg()) {
			fprintf(stderr, "Failed to write the trafgen config\n");
			exit(1);
		}
		sched_getaffinity(0, sizeof(old), &old);
		CPU_ZERO(&one);
		CPU_SET(1, &one);
		sched_setaffinity(0, sizeof(one), &one);
		for (k = 0; k < LIVE_ROUNDS; k++)
			for (i = 0; i < n; i++) {
				jobs[i].r[k] = gen_once(skel, jobs[i].prog,
							jobs[i].wan,
							&jobs[i].f[k]);
				if (jobs[i].r[k] <= 0) {
					fprintf(stderr,
						"%s: no frames through "
						"the generator path\n",
						bpf_program__name(
							jobs[i].prog));
					exit(1);
				}
			}
		sched_setaffinity(0, sizeof(old), &old);
		/* Each round's program against the floor measured right
		 * before it (the load on this machine drifts between
		 * rounds); the median of those differences counts:
		 * Mpps = 1e3 / (program - floor).  A difference at or below
		 * zero (the noise larger than the program) gives 0. */
		for (i = 0; i < n; i++) {
			double d[LIVE_ROUNDS];

			for (k = 0; k < LIVE_ROUNDS; k++)
				d[k] = jobs[i].r[k] - jobs[i].f[k];
			qsort(d, LIVE_ROUNDS, sizeof(double), cmp_double);
			fl = d[LIVE_ROUNDS / 2];
			printf("  %s: %.1f CPU ns per frame over the floor "
			       "(median of %d paired rounds; differences "
			       "%.0f .. %.0f)\n",
			       bpf_program__name(jobs[i].prog), fl, LIVE_ROUNDS,
			       d[0], d[LIVE_ROUNDS - 1]);
			jobs[i].median = fl > 0 ? 1e3 / fl : 0;
		}
		return;
	}
	for (k = 0; !gen_mode && k < LIVE_ROUNDS; k++)
		for (i = 0; i < n; i++)
			jobs[i].r[k] =
				live_once(skel, jobs[i].prog, jobs[i].wan);
	for (i = 0; i < n; i++) {
		qsort(jobs[i].r, LIVE_ROUNDS, sizeof(double), cmp_double);
		jobs[i].median = jobs[i].r[LIVE_ROUNDS / 2];
	}
}

/* The sink on both veth peers (lanp, wanp), from this skeleton. */
static int attach_sinks(struct bench_bpf *skel)
{
	const char *peers[] = { "lanp", "wanp" };
	int i, ifx, r;

	for (i = 0; i < 2; i++) {
		ifx = (int)if_nametoindex(peers[i]);
		if (!ifx)
			return -ENODEV;
		r = bpf_xdp_attach(ifx, bpf_program__fd(skel->progs.sink),
				   XDP_FLAGS_DRV_MODE, NULL);
		if (r)
			return r;
	}
	return 0;
}

static void detach_sinks(void)
{
	const char *peers[] = { "lanp", "wanp" };
	int i, ifx;

	for (i = 0; i < 2; i++) {
		ifx = (int)if_nametoindex(peers[i]);
		if (ifx)
			bpf_xdp_detach(ifx, XDP_FLAGS_DRV_MODE, NULL);
	}
}

int main(int argc, char **argv)
{
	double pass, out, in, sb_out_1k, sp_out_1k, sb_in_1k, sp_in_1k,
		sb_out_1m, sp_out_1m, sb_in_1m, sp_in_1m;
	double so_1k, si_1k, so_1m, si_1m, scale;
	double min_out, min_in, fl1_out, fl1_in, fl2_out, fl2_in;
	double mpps_bare, mpps_out_1k, mpps_in_1k, mpps_out_1m, mpps_in_1m;
	double mpps_1k, mpps_1m;
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
			{ s1k.skel->progs.min_out, 0, XDP_REDIRECT },
			{ s1k.skel->progs.min_in, 1, XDP_REDIRECT },
		};

		measure_all(j, 9);
		pass = j[0].median;
		out = j[1].median;
		in = j[2].median;
		sb_out_1k = j[3].median;
		sp_out_1k = j[4].median;
		sb_in_1k = j[5].median;
		sp_in_1k = j[6].median;
		min_out = j[7].median;
		min_in = j[8].median;
	}
	r = attach_sinks(s1k.skel);
	if (r) {
		fprintf(stderr, "Failed to attach the sinks: %s\n",
			strerror(-r));
		return 1;
	}
	{
		struct live_job j[] = {
			{ s1k.skel->progs.bare_redirect, 0 },
			{ s1k.skel->progs.spray_out, 0 },
			{ s1k.skel->progs.spray_in, 1 },
		};

		live_all(s1k.skel, j, 3);
		mpps_bare = j[0].median;
		mpps_out_1k = j[1].median;
		mpps_in_1k = j[2].median;
	}
	detach_sinks();
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
			{ s1m.skel->progs.floor1_out, 0, XDP_PASS },
			{ s1m.skel->progs.floor1_in, 1, XDP_PASS },
			{ s1m.skel->progs.floor2_out, 0, XDP_PASS },
			{ s1m.skel->progs.floor2_in, 1, XDP_PASS },
		};

		measure_all(j, 8);
		sb_out_1m = j[0].median;
		sp_out_1m = j[1].median;
		sb_in_1m = j[2].median;
		sp_in_1m = j[3].median;
		fl1_out = j[4].median;
		fl1_in = j[5].median;
		fl2_out = j[6].median;
		fl2_in = j[7].median;
	}
	r = attach_sinks(s1m.skel);
	if (r) {
		fprintf(stderr, "Failed to attach the sinks: %s\n",
			strerror(-r));
		return 1;
	}
	{
		struct live_job j[] = {
			{ s1m.skel->progs.spray_out, 0 },
			{ s1m.skel->progs.spray_in, 1 },
		};

		live_all(s1m.skel, j, 2);
		mpps_out_1m = j[0].median;
		mpps_in_1m = j[1].median;
	}
	detach_sinks();
	mem = memlock_of(bpf_map__fd(s1m.skel->maps.slots));
	bench_bpf__destroy(s1m.skel);

	so_1k = sp_out_1k / sb_out_1k;
	si_1k = sp_in_1k / sb_in_1k;
	so_1m = sp_out_1m / sb_out_1m;
	si_1m = sp_in_1m / sb_in_1m;
	scale = sp_out_1m / sp_out_1k > sp_in_1m / sp_in_1k ?
			sp_out_1m / sp_out_1k :
			sp_in_1m / sp_in_1k;
	/* Capacity: the slower direction counts. */
	mpps_1k = mpps_out_1k < mpps_in_1k ? mpps_out_1k : mpps_in_1k;
	mpps_1m = mpps_out_1m < mpps_in_1m ? mpps_out_1m : mpps_in_1m;

	printf("hot:  bare pass %.1f  out %.1f (%.2fx)  in %.1f (%.2fx)\n",
	       pass, out, out / pass, in, in / pass);
	printf("hot vs minimal translator: out %.1f vs %.1f (%.2fx)  in %.1f "
	       "vs %.1f (%.2fx)\n",
	       out, min_out, out / min_out, in, min_in, in / min_in);
	printf("spray 1k: out %.1f vs bare %.1f (%.2fx)  in %.1f vs bare %.1f "
	       "(%.2fx)\n",
	       sp_out_1k, sb_out_1k, so_1k, sp_in_1k, sb_in_1k, si_1k);
	printf("spray %luk: out %.1f vs bare %.1f (%.2fx)  in %.1f vs bare "
	       "%.1f (%.2fx)\n",
	       big / 1000, sp_out_1m, sb_out_1m, so_1m, sp_in_1m, sb_in_1m,
	       si_1m);
	printf("memory floor at %luk (array of %lu bytes = our slots): one "
	       "load out %.1f in %.1f, two dependent loads out %.1f in %.1f\n",
	       big / 1000, s1m.table_bytes, fl1_out, fl1_in, fl2_out, fl2_in);
	printf("spray %luk over the one-load floor: out %.2fx  in %.2fx; in "
	       "over out %.2fx\n",
	       big / 1000, sp_out_1m / fl1_out, sp_in_1m / fl1_in,
	       sp_in_1m / sp_out_1m);
	printf("capacity (%s, Mpps on one core): bare redirect %.2f; "
	       "1k out %.2f in %.2f; %luk out %.2f in %.2f\n",
	       gen_mode ? "trafgen into a veth" : "live frames", mpps_bare,
	       mpps_out_1k, mpps_in_1k, big / 1000, mpps_out_1m, mpps_in_1m);
	printf("map memory (slots, the only per-phone map): %ld bytes for %lu "
	       "phones\n",
	       mem, big);
	printf("RESULT xdp pass_ns=%.1f out_ns=%.1f in_ns=%.1f out_ratio=%.2f "
	       "in_ratio=%.2f spray_out_ratio_1m=%.2f spray_in_ratio_1m=%.2f "
	       "scale_ratio=%.2f bytes_per_phone=%.1f min_ns=%.1f "
	       "min_in_ns=%.1f out_over_min=%.2f in_over_min=%.2f "
	       "spray_out_ns_1m=%.1f spray_in_ns_1m=%.1f floor_out_ns=%.1f "
	       "floor_in_ns=%.1f floor2_out_ns=%.1f floor2_in_ns=%.1f "
	       "spray_out_over_floor_1m=%.2f spray_in_over_floor_1m=%.2f "
	       "in_over_out_1m=%.2f mpps_bare=%.2f mpps_1k=%.2f mpps_1m=%.2f "
	       "mpps_out_1k=%.2f mpps_in_1k=%.2f mpps_out_1m=%.2f "
	       "mpps_in_1m=%.2f cap_ratio_1k=%.2f cap_ratio_1m=%.2f "
	       "cap_method=%s\n",
	       pass, out, in, out / pass, in / pass, so_1m, si_1m, scale,
	       (double)mem / (double)big, min_out, min_in, out / min_out,
	       in / min_in, sp_out_1m, sp_in_1m, fl1_out, fl1_in, fl2_out,
	       fl2_in, sp_out_1m / fl1_out, sp_in_1m / fl1_in,
	       sp_in_1m / sp_out_1m, mpps_bare, mpps_1k, mpps_1m, mpps_out_1k,
	       mpps_in_1k, mpps_out_1m, mpps_in_1m, mpps_1k / mpps_bare,
	       mpps_1m / mpps_bare, gen_mode ? "gen" : "live");
	return 0;
}
