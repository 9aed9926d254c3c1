// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nappt-test-pass: a test and benchmark tool, not part of the product.
 *
 * A frame redirected into a veth is received only if an XDP program runs
 * on the veth's peer, so the tests and the demo put bpf/pass.bpf.c's
 * program on the far ends; the forwarding benchmark reads its counter as
 * the sink.  It used to be `nappt pass`, a command operators had no use
 * for in their CLI.
 *
 *   nappt-test-pass attach IF | detach IF | count IF
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pass.skel.h"

static int fail(int r, const char *what)
{
	fprintf(stderr, "nappt-test-pass: Failed to %s: %s\n", what,
		strerror(r < 0 ? -r : r));
	return 1;
}

static int count(int ifx, const char *ifname)
{
	struct bpf_prog_info info = {};
	struct bpf_map_info minfo = {};
	__u32 len = sizeof(info), prog_id = 0, map_id = 0, zero = 0;
	unsigned long long sum = 0;
	int pfd, mfd, ncpu, i, r;
	__u64 *v;

	if (bpf_xdp_query_id(ifx, 0, &prog_id) || !prog_id) {
		fprintf(stderr, "nappt-test-pass: no XDP program on %s\n",
			ifname);
		return 1;
	}
	pfd = bpf_prog_get_fd_by_id(prog_id);
	if (pfd < 0)
		return fail(-errno, "open program");
	info.nr_map_ids = 1;
	info.map_ids = (__u64)(unsigned long)&map_id;
	r = bpf_obj_get_info_by_fd(pfd, &info, &len);
	close(pfd);
	if (r || info.nr_map_ids < 1 || !map_id) {
		fprintf(stderr,
			"nappt-test-pass: program on %s has no counter\n",
			ifname);
		return 1;
	}
	mfd = bpf_map_get_fd_by_id(map_id);
	if (mfd < 0)
		return fail(-errno, "open counter map");
	/* Another program's first map (nappt's own, say) would be read into
	 * a buffer of the wrong size: only pass.bpf.c's counter (xdp_pass or
	 * xdp_drop) is read. */
	len = sizeof(minfo);
	if (bpf_obj_get_info_by_fd(mfd, &minfo, &len) ||
	    strcmp(minfo.name, "rx_count") ||
	    minfo.type != BPF_MAP_TYPE_PERCPU_ARRAY ||
	    minfo.value_size != sizeof(__u64)) {
		fprintf(stderr,
			"nappt-test-pass: the program on %s is not ours\n",
			ifname);
		close(mfd);
		return 1;
	}
	ncpu = libbpf_num_possible_cpus();
	v = ncpu > 0 ? calloc(ncpu, sizeof(*v)) : NULL;
	if (!v || bpf_map_lookup_elem(mfd, &zero, v)) {
		r = v ? -errno : -ENOMEM;
		close(mfd);
		free(v);
		return fail(r, "read counter");
	}
	for (i = 0; i < ncpu; i++)
		sum += v[i];
	printf("%llu\n", sum);
	free(v);
	close(mfd);
	return 0;
}

int main(int argc, char **argv)
{
	struct pass_bpf *skel;
	int ifx, r;

	if (argc != 3) {
		fprintf(stderr,
			"usage: nappt-test-pass attach|detach|count IF\n");
		return 2;
	}
	ifx = (int)if_nametoindex(argv[2]);
	if (!ifx) {
		fprintf(stderr,
			"nappt-test-pass: Failed to find interface "
			"'%s': %s\n",
			argv[2], strerror(errno));
		return 1;
	}
	if (!strcmp(argv[1], "detach")) {
		r = bpf_xdp_detach(ifx, 0, NULL);
		return r ? fail(r, "detach XDP program") : 0;
	}
	if (!strcmp(argv[1], "count"))
		return count(ifx, argv[2]);
	if (strcmp(argv[1], "attach")) {
		fprintf(stderr,
			"usage: nappt-test-pass attach|detach|count IF\n");
		return 2;
	}
	skel = pass_bpf__open_and_load();
	if (!skel)
		return fail(-errno, "load pass program");
	/* Native on veth (the peer of a redirect must run XDP in the driver
	 * path), generic where the driver has none. */
	r = bpf_xdp_attach(ifx, bpf_program__fd(skel->progs.xdp_pass),
			   XDP_FLAGS_DRV_MODE, NULL);
	if (r)
		r = bpf_xdp_attach(ifx, bpf_program__fd(skel->progs.xdp_pass),
				   XDP_FLAGS_SKB_MODE, NULL);
	pass_bpf__destroy(skel);
	return r ? fail(r, "attach pass program") : 0;
}
