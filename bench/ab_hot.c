// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * A/B of builds of the data plane on the hot figures of bench-xdp: loads
 * several bench.bpf.o files (each a build of bpf/ to compare) into one
 * process and runs hot_out, hot_in, min_out, min_in and bare_pass of each,
 * their rounds interleaved (object order rotated every round), so that
 * the load of a shared machine falls on every build alike.  A file named
 * more than once is loaded more than once (a fresh JIT image each) and
 * its rounds pooled: the place of the image moved single figures by
 * several ns here.  Prints the median of each per file.  With DUMP set it
 * writes each program's xlated (bpftool) and JITed code instead.
 *
 * Run through bench/ab-hot.sh, which builds the namespace of bench-xdp.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include "nappt.h"
#include "../bpf/lib/bench.h"
#include "bench-frame.h"

/* The hot phone's slot key = its LAN-pool index (public address 1,
 * slot 1, 64 slots per address). */
#define HOT_KEY (1 * 64 + 1)

static int rounds = 7;

static void set_rodata(struct bpf_object *obj, const char *name, __u32 v)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, ".rodata");
	struct btf *btf = bpf_object__btf(obj);
	size_t sz;
	char *data = (char *)bpf_map__initial_value(m, &sz);
	int id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC), i;
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_var_secinfo *vs = btf_var_secinfos(t);

	for (i = 0; i < btf_vlen(t); i++, vs++) {
		const struct btf_type *vt = btf__type_by_id(btf, vs->type);
		if (!strcmp(btf__name_by_offset(btf, vt->name_off), name)) {
			memcpy(data + vs->offset, &v, 4);
			return;
		}
	}
	fprintf(stderr, "no rodata %s\n", name);
	exit(1);
}

#define NP 5
static const char *pn[NP] = { "bare_pass", "hot_out", "hot_in", "min_out",
			      "min_in" };
static const int pw[NP] = { 0, 0, 1, 0, 1 };
static const int pv[NP] = { XDP_PASS, XDP_REDIRECT, XDP_REDIRECT, XDP_REDIRECT,
			    XDP_REDIRECT };

struct ob {
	struct bpf_object *obj;
	struct bpf_program *p[NP];
	double r[NP][64];
};

static int fd_of(struct bpf_object *o, const char *n)
{
	return bpf_map__fd(bpf_object__find_map_by_name(o, n));
}

static void load(struct ob *b, const char *path)
{
	struct bpf_map *m;
	struct nappt_config cfg = { 0 };
	struct nappt_slot sl = { 0 };
	struct min_ent e = { 0 };
	__u32 zero = 0, k;
	int i;

	b->obj = bpf_object__open_file(path, NULL);
	if (!b->obj) {
		perror(path);
		exit(1);
	}
	bpf_object__for_each_map(m, b->obj)
		bpf_map__set_pin_path(m, NULL);
	/* The hot phone is set_phone()'s phone 0: slot 1 of the pool's
	 * second public address, so its derived private address is
	 * lan_net + 64 + 1 (struct nappt_slot); the minimal translator's
	 * keys 0 (outbound) and 1 (inbound) are made to name it. */
	set_rodata(b->obj, "min_lan_net", htonl(0x64400000 + HOT_KEY));
	set_rodata(b->obj, "min_pub_net", htonl(0xc6130000 + 1));
	bpf_map__set_max_entries(bpf_object__find_map_by_name(b->obj, "slots"),
				 64 * 16);
	bpf_map__set_max_entries(
		bpf_object__find_map_by_name(b->obj, "floor_tab"), 16);
	if (bpf_object__load(b->obj)) {
		fprintf(stderr, "load %s failed\n", path);
		exit(1);
	}
	for (i = 0; i < NP; i++)
		b->p[i] = bpf_object__find_program_by_name(b->obj, pn[i]);
	cfg.lan_net = htonl(0x64400000);
	cfg.lan_size = 1024;
	cfg.pub_net = htonl(0xc6130000);
	cfg.pub_count = 16;
	cfg.slot_shift = 10;
	cfg.slots_per_ip = 64;
	cfg.lan_gw = htonl(0x64400001);
	cfg.lan_ifindex = (__u32)lan_if;
	cfg.lan_mtu = 1500;
	cfg.lan_mac[0] = 2;
	cfg.lan_mac[4] = 1;
	cfg.lan_mac[5] = 1;
	if (bpf_map_update_elem(fd_of(b->obj, "config"), &zero, &cfg, 0)) {
		perror("cfg");
		exit(1);
	}
	for (i = 0; i < 2; i++) {
		k = (__u32)(i ? wan_if : lan_if);
		if (bpf_map_update_elem(fd_of(b->obj, "tx_ports"), &k, &k, 0)) {
			perror("tx");
			exit(1);
		}
	}
	sl.mac[0] = 2; /* set_phone()'s MAC of phone 0 */
	sl.owner = NAPPT_SLOT_VALID; /* its first (and only) slot */
	k = HOT_KEY;
	if (bpf_map_update_elem(fd_of(b->obj, "slots"), &k, &sl, 0)) {
		perror("sl");
		exit(1);
	}
	{
		static const unsigned char nh[6] = { 2, 0, 0, 0, 0xff, 2 };
		static const unsigned char wan0[6] = { 2, 0, 0, 0, 2, 1 };
		static const unsigned char lan0[6] = { 2, 0, 0, 0, 1, 1 };
		int fd = fd_of(b->obj, "min_tab");

		e.addr = htonl(0xc6130000 + 1);
		e.ifindex = (__u32)wan_if;
		memcpy(e.dmac, nh, 6);
		memcpy(e.smac, wan0, 6);
		k = 0;
		bpf_map_update_elem(fd, &k, &e, 0);
		k = 1;
		e.addr = htonl(0x64400000 + HOT_KEY);
		e.ifindex = (__u32)lan_if;
		memset(e.dmac, 0, 6);
		e.dmac[0] = 2;
		memcpy(e.smac, lan0, 6);
		bpf_map_update_elem(fd, &k, &e, 0);
	}
}

int main(int argc, char **argv)
{
	int n = argc - 3, i, j, k;
	struct ob *o;

	if (n < 1) {
		fprintf(stderr, "ab REPEAT ROUNDS obj...\n");
		return 1;
	}
	repeat = strtoul(argv[1], NULL, 10);
	rounds = atoi(argv[2]);
	lan_if = (int)if_nametoindex("lan0");
	wan_if = (int)if_nametoindex("wan0");
	o = calloc(n, sizeof(*o));
	for (i = 0; i < n; i++)
		load(&o[i], argv[3 + i]);
	if (getenv("DUMP")) {
		for (i = 0; i < n; i++)
			for (j = 0; j < NP; j++) {
				struct bpf_prog_info info = { 0 };
				__u32 l = sizeof(info);
				char cmd[256];

				bpf_obj_get_info_by_fd(
					bpf_program__fd(o[i].p[j]), &info, &l);
				{
					__u32 jl = info.jited_prog_len;
					unsigned char *buf = malloc(jl);
					struct bpf_prog_info i2 = { 0 };
					__u32 l2 = sizeof(i2);
					char fn[256];
					FILE *f;

					i2.jited_prog_len = jl;
					i2.jited_prog_insns =
						(__u64)(unsigned long)buf;
					bpf_obj_get_info_by_fd(
						bpf_program__fd(o[i].p[j]), &i2,
						&l2);
					snprintf(fn, sizeof(fn), "%s.%s.bin",
						 argv[3 + i], pn[j]);
					f = fopen(fn, "w");
					fwrite(buf, 1, jl, f);
					fclose(f);
				}
				printf("%s %s id %u xlated %u insns jited %u bytes\n",
				       argv[3 + i], pn[j], info.id,
				       info.xlated_prog_len / 8,
				       info.jited_prog_len);
				snprintf(
					cmd, sizeof(cmd),
					"bpftool prog dump xlated id %u > %s.%s.xlated; bpftool prog dump jited id %u file %s.%s.jited",
					info.id, argv[3 + i], pn[j], info.id,
					argv[3 + i], pn[j]);
				if (system(cmd)) {
				}
			}
		return 0;
	}
	for (k = 0; k < rounds; k++)
		for (i = 0; i < n; i++)
			for (j = 0; j < NP; j++)
				o[(i + k) % n].r[j][k] = run_once(
					o[(i + k) % n].p[j], pw[j], pv[j]);
	for (i = 0; i < n; i++) {
		double med[NP], all[NP][1024];
		int c = 0, m, dup = 0;

		for (m = 0; m < i; m++)
			if (!strcmp(argv[3 + m], argv[3 + i]))
				dup = 1;
		if (dup)
			continue;
		for (m = 0; m < n; m++) {
			if (strcmp(argv[3 + m], argv[3 + i]))
				continue;
			for (k = 0; k < rounds; k++, c++)
				for (j = 0; j < NP; j++)
					all[j][c] = o[m].r[j][k];
		}
		for (j = 0; j < NP; j++) {
			qsort(all[j], c, sizeof(double), cmp_double);
			med[j] = all[j][c / 2];
		}
		printf("%-24s n=%3d pass %5.1f out %5.1f in %5.1f min_out %5.1f min_in %5.1f out/min %.2f in/min %.2f\n",
		       argv[3 + i], c, med[0], med[1], med[2], med[3], med[4],
		       med[1] / med[3], med[2] / med[4]);
	}
	return 0;
}
