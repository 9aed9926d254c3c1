// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nappt: attach, inspect and operate the NAPPT data plane.
 *
 * Programs are attached through bpf_links pinned in bpffs, so the
 * attachment outlives this process and `upgrade` can swap programs
 * atomically (bpf_link_update: the old program serves every packet until
 * the new one is in place).  Maps are pinned by name next to the links so
 * that the provisioner, bpftool and a later `upgrade` find them.
 */
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "libnappt.h"
#include "nappt.skel.h"
#include "pass.skel.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif
/* Not in Debian 12's UAPI headers; kernel >= 6.6. */
#define NAPPT_BPF_TCX_INGRESS 46
#define NAPPT_BPF_LINK_TYPE_TCX 11

enum mode { MODE_AUTO, MODE_NATIVE, MODE_GENERIC, MODE_TC, MODE_TC_LEGACY };
static const char *const mode_names[] = { "auto", "native", "generic", "tc",
					  "tc-legacy" };
#define NMODES 5

/* Kernels before 6.6 have no tcx links: the programs then sit in a
 * clsact qdisc as cls_bpf filters with this handle and priority, and the
 * program is pinned as links/<side>-cls-<ifindex> so that detach, status
 * and upgrade find the interface again. */
#define NAPPT_TC_HANDLE 1
#define NAPPT_TC_PRIO 0x4e41

static const char *pin_dir = NAPPT_PIN_DIR;
static bool verbose;

static void die_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "nappt: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\nTry 'nappt --help'.\n");
	va_end(ap);
	exit(2);
}

static void err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "nappt: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt,
			va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	if (level == LIBBPF_INFO && !verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void usage(void)
{
	printf("Usage: nappt [--pin-dir DIR] [-v] COMMAND [ARGS]\n"
	       "\n"
	       "Attach and operate the XDP/TC NAPPT data plane.\n"
	       "\n"
	       "Commands:\n"
	       "  attach --lan IF --wan IF --lan-pool CIDR --pub-pool CIDR\n"
	       "         [--mode auto|native|generic|tc|tc-legacy]\n"
	       "         [--slot-size N]\n"
	       "         [--lan-gw ADDR] [--drop-unknown] [--route-by-source]\n"
	       "         [--lan-foreign]  forward LAN sources outside the\n"
	       "                      LAN pool untranslated (default: drop)\n"
	       "                      load the programs, pin maps and links\n"
	       "  detach [--keep-maps] remove the programs (and the maps)\n"
	       "  status              what is attached where, program ids,\n"
	       "                      pools, map fill\n"
	       "  stats [--reset]     per-reason packet/byte counters\n"
	       "  upgrade             replace the attached programs with\n"
	       "                      this binary's, atomically\n"
	       "  pool                show the pool configuration\n"
	       "  pool set [--lan-gw ADDR] [--drop-unknown on|off]\n"
	       "  phone add PRIV_IP MAC PUB_IP FIRST-LAST\n"
	       "  phone del PRIV_IP\n"
	       "  phone list\n"
	       "  pass attach|detach IF  trivial XDP program for a veth peer\n"
	       "  pass count IF          packets it has seen\n"
	       "\n"
	       "Options:\n"
	       "  --pin-dir DIR   bpffs directory (default %s)\n"
	       "  -v, --verbose   libbpf debug output\n"
	       "  -h, --help      this text\n",
	       NAPPT_PIN_DIR);
}

/* --- helpers ------------------------------------------------------------- */

static int explain(int r, const char *what)
{
	if (r == -EPERM || r == -EACCES)
		err("Failed to %s: %s (needs root, or CAP_BPF + CAP_NET_ADMIN)",
		    what, strerror(-r));
	else
		err("Failed to %s: %s", what, strerror(-r));
	return r;
}

static int parse_cidr(const char *s, uint32_t *net_be, uint32_t *size)
{
	char buf[32], *slash, *end;
	struct in_addr a;
	unsigned long len;
	uint32_t mask;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || slash[1] == '\0' || len < 8 || len > 32)
		return -EINVAL;
	mask = len == 32 ? 0xffffffffU : ~(0xffffffffU >> len);
	if (ntohl(a.s_addr) & ~mask)
		return -EINVAL; /* host bits set: say what you mean */
	*net_be = a.s_addr;
	*size = (uint32_t)(1ULL << (32 - len));
	return 0;
}

static int parse_ip(const char *s, uint32_t *be)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*be = a.s_addr;
	return 0;
}

static const char *ip_str(uint32_t be, char *buf)
{
	struct in_addr a = { .s_addr = be };

	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static int write_sysctl(const char *path, const char *val)
{
	FILE *f = fopen(path, "w");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(val, f) < 0)
		r = -EIO;
	if (fclose(f) && !r)
		r = -errno;
	return r;
}

static int read_sysctl_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * bpf_fib_lookup refuses to route for an interface with forwarding off,
 * and a translated packet handed to the kernel (next hop's MAC unknown)
 * has the public address as source: a martian on the LAN side unless
 * accept_local is on and rp_filter off there.
 */
static void tune_sysctls(const char *lan, const char *wan)
{
	static const struct {
		int lan_only;
		const char *key;
		const char *val;
	} tab[] = {
		{ 0, "forwarding", "1" },
		{ 1, "accept_local", "1" },
		{ 1, "rp_filter", "0" },
	};
	char path[160];
	size_t i;
	int v;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		const char *ifs[2] = { lan, wan };
		int k;

		for (k = 0; k < (tab[i].lan_only ? 1 : 2); k++) {
			snprintf(path, sizeof(path),
				 "/proc/sys/net/ipv4/conf/%s/%s", ifs[k],
				 tab[i].key);
			if (write_sysctl(path, tab[i].val) < 0)
				err("warning: could not set %s=%s", path,
				    tab[i].val);
		}
	}
	v = read_sysctl_int("/proc/sys/net/ipv4/conf/all/rp_filter");
	if (v > 0)
		err("warning: net.ipv4.conf.all.rp_filter=%d overrides %s; "
		    "translated packets passed to the kernel may be dropped",
		    v, lan);
}

/* The pin directory must sit on a bpffs.  /sys/fs/bpf is mounted by
 * systemd at boot; a bare VM or `ip netns exec` (fresh /sys) may lack it,
 * so it is mounted there, as systemd would.  Elsewhere: say how. */
static int check_bpffs(void)
{
	char parent[256], *slash;
	struct statfs st;

	snprintf(parent, sizeof(parent), "%s", pin_dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &st) == 0 && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (!strcmp(parent, "/sys/fs/bpf") &&
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") == 0) {
		err("mounted bpffs on /sys/fs/bpf");
		return 0;
	}
	err("Failed to find bpffs at %s: %s", parent,
	    errno ? strerror(errno) : "not a bpf filesystem");
	err("mount it with: mount -t bpf bpf %s", parent);
	return -ENOENT;
}

static void link_path(char *buf, size_t len, const char *side)
{
	snprintf(buf, len, "%s/links/%s", pin_dir, side);
}

/* MTU and MAC of the LAN interface, for the inbound fast path. */
static int lan_link_info(const char *ifname, struct nappt_config *cfg)
{
	struct ifreq ifr = { 0 };
	int s, r = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFMTU, &ifr) < 0) {
		r = -errno;
		goto out;
	}
	cfg->lan_mtu = (uint32_t)ifr.ifr_mtu;
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
		r = -errno;
		goto out;
	}
	memcpy(cfg->lan_mac, ifr.ifr_hwaddr.sa_data, 6);
out:
	close(s);
	return r;
}

static int ifaddr_of(const char *ifname, uint32_t *be)
{
	struct ifaddrs *ifa, *i;
	int r = -ENOENT;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
		    strcmp(i->ifa_name, ifname))
			continue;
		*be = ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		r = 0;
		break;
	}
	freeifaddrs(ifa);
	return r;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info pi = {};
	__u32 len = sizeof(pi);

	if (bpf_obj_get_info_by_fd(fd, &pi, &len))
		return 0;
	return pi.id;
}

/* --- attach / detach / upgrade ------------------------------------------- */

/* The cls_bpf attachment of side: its pin path and interface. */
static int legacy_find(const char *side, char *path, size_t len, int *ifindex)
{
	char dir[256], prefix[32];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/links", pin_dir);
	snprintf(prefix, sizeof(prefix), "%s-cls-", side);
	d = opendir(dir);
	if (!d)
		return -ENOENT;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		*ifindex = atoi(e->d_name + strlen(prefix));
		if (snprintf(path, len, "%s/%s", dir, e->d_name) >= (int)len)
			continue;
		closedir(d);
		return *ifindex > 0 ? 0 : -EINVAL;
	}
	closedir(d);
	return -ENOENT;
}

static int attach_tc_legacy(int prog_fd, int ifindex, const char *ifname,
			    const char *side)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd,
		    .handle = NAPPT_TC_HANDLE, .priority = NAPPT_TC_PRIO);
	char path[256];
	int r;

	r = bpf_tc_hook_create(&hook);
	if (r && r != -EEXIST)
		return explain(r, "create clsact qdisc");
	r = bpf_tc_attach(&hook, &o);
	if (r == -EEXIST) {
		err("Failed to attach TC program to %s: a filter with handle "
		    "%d priority 0x%x is already there",
		    ifname, NAPPT_TC_HANDLE, NAPPT_TC_PRIO);
		return r;
	}
	if (r)
		return explain(r, "attach TC program");
	snprintf(path, sizeof(path), "%s/links/%s-cls-%d", pin_dir, side,
		 ifindex);
	if (bpf_obj_pin(prog_fd, path)) {
		r = -errno;
		err("Failed to pin program %s: %s", path, strerror(-r));
		o.prog_fd = 0;
		o.prog_id = 0;
		bpf_tc_detach(&hook, &o);
		return r;
	}
	return 0;
}

static int detach_tc_legacy(const char *side)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = NAPPT_TC_HANDLE,
		    .priority = NAPPT_TC_PRIO);
	char path[256];
	int ifx;

	if (legacy_find(side, path, sizeof(path), &ifx))
		return 0;
	hook.ifindex = ifx;
	bpf_tc_detach(&hook, &o);
	unlink(path);
	return 1;
}

/* cls_bpf replaces a filter's program in place (BPF_TC_F_REPLACE): the
 * old one serves every packet until the new one is in. */
static int upgrade_tc_legacy(const char *path, int ifx, int prog_fd,
			     const char *side)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifx,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE, .handle = NAPPT_TC_HANDLE,
		    .priority = NAPPT_TC_PRIO);
	__u32 old = 0;
	int fd, r;

	fd = bpf_obj_get(path);
	if (fd >= 0) {
		old = prog_id(fd);
		close(fd);
	}
	r = bpf_tc_attach(&hook, &o);
	if (r) {
		explain(r, "replace TC program");
		return r;
	}
	unlink(path);
	if (bpf_obj_pin(prog_fd, path))
		err("warning: could not re-pin %s: %s", path, strerror(errno));
	printf("upgraded %s: program %u -> %u\n", side, old, prog_id(prog_fd));
	return 0;
}

static int attached(const char *side)
{
	char path[256];
	int ifx;

	link_path(path, sizeof(path), side);
	return access(path, F_OK) == 0 ||
	       legacy_find(side, path, sizeof(path), &ifx) == 0;
}

static int attach_one(struct bpf_program *xdp_prog, struct bpf_program *tc_prog,
		      int ifindex, const char *ifname, enum mode mode,
		      const char *side, enum mode *used)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	char path[256];
	int fd, r;

	if (mode == MODE_TC_LEGACY) {
		*used = MODE_TC_LEGACY;
		return attach_tc_legacy(bpf_program__fd(tc_prog), ifindex,
					ifname, side);
	}
	if (mode == MODE_TC) {
		fd = bpf_link_create(bpf_program__fd(tc_prog), ifindex,
				     NAPPT_BPF_TCX_INGRESS, &opts);
		if (fd < 0 && errno == EINVAL) {
			err("warning: %s: no tcx links on this kernel (< 6.6), "
			    "using a cls_bpf filter",
			    ifname);
			*used = MODE_TC_LEGACY;
			return attach_tc_legacy(bpf_program__fd(tc_prog),
						ifindex, ifname, side);
		}
		if (fd < 0) {
			r = -errno;
			err("Failed to attach TC (tcx) program to %s: %s",
			    ifname, strerror(-r));
			return r;
		}
		*used = MODE_TC;
	} else {
		opts.flags = mode == MODE_GENERIC ? XDP_FLAGS_SKB_MODE :
						    XDP_FLAGS_DRV_MODE;
		fd = bpf_link_create(bpf_program__fd(xdp_prog), ifindex,
				     BPF_XDP, &opts);
		if (fd < 0 && mode == MODE_AUTO &&
		    (errno == EOPNOTSUPP || errno == EINVAL)) {
			err("warning: %s: native XDP not supported by the "
			    "driver, using generic XDP (slower)",
			    ifname);
			opts.flags = XDP_FLAGS_SKB_MODE;
			fd = bpf_link_create(bpf_program__fd(xdp_prog), ifindex,
					     BPF_XDP, &opts);
		}
		if (fd < 0) {
			r = -errno;
			if (r == -EBUSY || r == -EEXIST)
				err("Failed to attach XDP program to %s: "
				    "another XDP program is attached there",
				    ifname);
			else if (mode == MODE_NATIVE && r == -EOPNOTSUPP)
				err("Failed to attach XDP program to %s: "
				    "native XDP not supported (try --mode "
				    "generic)",
				    ifname);
			else
				explain(r, "attach XDP program");
			return r;
		}
		*used = opts.flags == XDP_FLAGS_SKB_MODE ? MODE_GENERIC :
							   MODE_NATIVE;
	}
	link_path(path, sizeof(path), side);
	if (bpf_obj_pin(fd, path)) {
		r = -errno;
		err("Failed to pin link %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	close(fd);
	return 0;
}

static int unpin_links(void)
{
	static const char *const sides[] = { "lan", "wan" };
	char path[256];
	int i, fd, n = 0;

	for (i = 0; i < 2; i++) {
		link_path(path, sizeof(path), sides[i]);
		fd = bpf_obj_get(path);
		if (fd >= 0) {
			/* Detach now even if another process holds the
			 * link open. */
			bpf_link_detach(fd);
			close(fd);
			n++;
		}
		unlink(path);
		n += detach_tc_legacy(sides[i]);
	}
	snprintf(path, sizeof(path), "%s/links", pin_dir);
	rmdir(path);
	return n;
}

static void unpin_maps(void)
{
	static const char *const names[] = { "config", "phones", "slots",
					     "stats",  "frags",	 "tx_ports" };
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		unlink(path);
	}
	rmdir(pin_dir);
}

static int open_skel(struct nappt_bpf **out, uint32_t phones, uint32_t slots)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_dir);
	struct nappt_bpf *skel;
	char path[256];
	int r, txfd;

	skel = nappt_bpf__open_opts(&oo);
	if (!skel)
		return explain(-errno, "open BPF object");
	if (phones && slots) {
		bpf_map__set_max_entries(skel->maps.phones, phones);
		bpf_map__set_max_entries(skel->maps.slots, slots);
	}
	/* See maps.h: the devmap's flags change after creation. */
	snprintf(path, sizeof(path), "%s/tx_ports", pin_dir);
	bpf_map__set_pin_path(skel->maps.tx_ports, NULL);
	txfd = bpf_obj_get(path);
	if (txfd >= 0) {
		r = bpf_map__reuse_fd(skel->maps.tx_ports, txfd);
		close(txfd);
		if (r) {
			explain(r, "reuse pinned tx_ports");
			nappt_bpf__destroy(skel);
			return r;
		}
	}
	r = nappt_bpf__load(skel);
	if (r) {
		if (r == -EINVAL)
			err("Failed to load BPF programs: %s (pinned maps of "
			    "an older layout or other pool sizes in %s? "
			    "'nappt detach' removes them)",
			    strerror(-r), pin_dir);
		else
			explain(r, "load BPF programs");
		nappt_bpf__destroy(skel);
		return r;
	}
	if (txfd < 0) {
		r = bpf_obj_pin(bpf_map__fd(skel->maps.tx_ports), path);
		if (r) {
			r = explain(-errno, "pin tx_ports");
			nappt_bpf__destroy(skel);
			return r;
		}
	}
	*out = skel;
	return 0;
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lan", required_argument, NULL, 'l' },
		{ "wan", required_argument, NULL, 'w' },
		{ "mode", required_argument, NULL, 'm' },
		{ "lan-pool", required_argument, NULL, 'L' },
		{ "pub-pool", required_argument, NULL, 'P' },
		{ "slot-size", required_argument, NULL, 's' },
		{ "lan-gw", required_argument, NULL, 'g' },
		{ "drop-unknown", no_argument, NULL, 'd' },
		{ "route-by-source", no_argument, NULL, 'r' },
		{ "lan-foreign", no_argument, NULL, 'F' },
		{},
	};
	const char *lan = NULL, *wan = NULL, *lan_pool = NULL, *pub_pool = NULL,
		   *lan_gw = NULL;
	struct nappt_config cfg = { .slot_shift = NAPPT_SLOT_SHIFT_DEFAULT };
	enum mode mode = MODE_AUTO, used_lan, used_wan;
	struct nappt_bpf *skel = NULL;
	unsigned long slot_size = 1UL << NAPPT_SLOT_SHIFT_DEFAULT;
	int lan_if, wan_if, c, r, i;
	uint64_t nslots;
	char path[256], b1[INET_ADDRSTRLEN];
	__u32 zero = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lan = optarg;
			break;
		case 'w':
			wan = optarg;
			break;
		case 'm':
			for (i = 0; i < NMODES; i++)
				if (!strcmp(optarg, mode_names[i]))
					break;
			if (i == NMODES)
				die_usage("unknown mode '%s'", optarg);
			mode = i;
			break;
		case 'L':
			lan_pool = optarg;
			break;
		case 'P':
			pub_pool = optarg;
			break;
		case 's': {
			char *end;

			errno = 0;
			slot_size = strtoul(optarg, &end, 10);
			if (errno || *end || slot_size == 0 ||
			    (slot_size & (slot_size - 1)) ||
			    slot_size < (1UL << NAPPT_SLOT_SHIFT_MIN) ||
			    slot_size > (1UL << NAPPT_SLOT_SHIFT_MAX))
				die_usage("--slot-size must be a power of two "
					  "in %u..%u",
					  1U << NAPPT_SLOT_SHIFT_MIN,
					  1U << NAPPT_SLOT_SHIFT_MAX);
			break;
		}
		case 'g':
			lan_gw = optarg;
			break;
		case 'd':
			cfg.flags |= NAPPT_CFG_DROP_UNKNOWN_IN;
			break;
		case 'r':
			cfg.flags |= NAPPT_CFG_ROUTE_BY_SRC;
			break;
		case 'F':
			/* Sites that route other LAN hosts through the box
			 * say so; by default their frames are dropped. */
			cfg.flags |= NAPPT_CFG_LAN_FOREIGN;
			break;
		default:
			die_usage("bad arguments to attach");
		}
	}
	if (optind != argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (!lan || !wan)
		die_usage("attach needs --lan IF and --wan IF");
	if (!strcmp(lan, wan))
		die_usage("--lan and --wan must differ");
	if (!lan_pool || !pub_pool)
		die_usage("attach needs --lan-pool CIDR and --pub-pool CIDR");
	if (parse_cidr(lan_pool, &cfg.lan_net, &cfg.lan_size))
		die_usage("bad --lan-pool '%s' (want e.g. 100.64.0.0/16)",
			  lan_pool);
	if (parse_cidr(pub_pool, &cfg.pub_net, &cfg.pub_count))
		die_usage("bad --pub-pool '%s' (want e.g. 203.0.113.0/28)",
			  pub_pool);
	if (cfg.lan_size > NAPPT_MAX_PHONES)
		die_usage("--lan-pool larger than %u addresses",
			  NAPPT_MAX_PHONES);
	for (cfg.slot_shift = 0; (1UL << cfg.slot_shift) < slot_size;
	     cfg.slot_shift++)
		;
	cfg.slots_per_ip = 65536U >> cfg.slot_shift;
	nslots = (uint64_t)cfg.pub_count * cfg.slots_per_ip;
	if (nslots > NAPPT_MAX_SLOTS)
		die_usage("--pub-pool x 65536/--slot-size is %llu slots, more "
			  "than %u: use a larger slot size",
			  (unsigned long long)nslots, NAPPT_MAX_SLOTS);

	lan_if = if_nametoindex(lan);
	if (!lan_if) {
		err("Failed to find LAN interface '%s': %s", lan,
		    strerror(errno));
		return 1;
	}
	wan_if = if_nametoindex(wan);
	if (!wan_if) {
		err("Failed to find WAN interface '%s': %s", wan,
		    strerror(errno));
		return 1;
	}
	cfg.lan_ifindex = (uint32_t)lan_if;
	if (lan_link_info(lan, &cfg) < 0) {
		err("warning: could not read %s's MTU/MAC: inbound packets "
		    "take the FIB path",
		    lan);
		cfg.lan_ifindex = 0;
	}
	if (lan_gw) {
		if (parse_ip(lan_gw, &cfg.lan_gw))
			die_usage("bad --lan-gw '%s'", lan_gw);
	} else if (ifaddr_of(lan, &cfg.lan_gw) == 0) {
		/* The gateway's own LAN address: DHCP, TFTP go there. */
	}

	if (geteuid() != 0)
		err("warning: not root; attaching needs CAP_BPF, "
		    "CAP_NET_ADMIN and CAP_SYS_ADMIN (bpffs)");
	if (check_bpffs())
		return 1;
	if (attached("lan") || attached("wan")) {
		err("Failed to attach: already attached (pins in %s/links); "
		    "use 'nappt upgrade' to replace the programs or 'nappt "
		    "detach' first",
		    pin_dir);
		return 1;
	}
	if (mkdir(pin_dir, 0700) && errno != EEXIST) {
		explain(-errno, "create pin directory");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/links", pin_dir);
	if (mkdir(path, 0700) && errno != EEXIST) {
		explain(-errno, "create link directory");
		return 1;
	}

	r = open_skel(&skel, cfg.lan_size, (uint32_t)nslots);
	if (r)
		goto fail;
	r = bpf_map_update_elem(bpf_map__fd(skel->maps.config), &zero, &cfg,
				BPF_ANY);
	if (r) {
		r = explain(-errno, "write config map");
		goto fail;
	}
	for (i = 0; i < 2; i++) {
		__u32 ifx = i ? (__u32)wan_if : (__u32)lan_if;

		if (bpf_map_update_elem(bpf_map__fd(skel->maps.tx_ports), &ifx,
					&ifx, BPF_ANY)) {
			r = explain(-errno, "add device to tx_ports");
			goto fail;
		}
	}
	r = attach_one(skel->progs.xdp_lan, skel->progs.tc_lan, lan_if, lan,
		       mode, "lan", &used_lan);
	if (r)
		goto fail;
	r = attach_one(skel->progs.xdp_wan, skel->progs.tc_wan, wan_if, wan,
		       mode, "wan", &used_wan);
	if (r)
		goto fail;
	tune_sysctls(lan, wan);
	printf("attached: lan %s (%s) wan %s (%s); lan pool %s (%u phones), "
	       "public pool %s/%u, slot %lu ports\n",
	       lan, mode_names[used_lan], wan, mode_names[used_wan], lan_pool,
	       cfg.lan_size, ip_str(cfg.pub_net, b1),
	       32 - __builtin_ctz(cfg.pub_count), slot_size);
	nappt_bpf__destroy(skel);
	return 0;
fail:
	unpin_links();
	if (skel) {
		/* Remove only what this attach pinned. */
		nappt_bpf__destroy(skel);
		unpin_maps();
	}
	return 1;
}

static int cmd_detach(int argc, char **argv)
{
	bool keep = argc > 1 && !strcmp(argv[1], "--keep-maps");
	int n;

	if (argc > 2 || (argc == 2 && !keep))
		die_usage("detach takes only --keep-maps");
	n = unpin_links();
	if (!keep)
		unpin_maps();
	if (n == 0 && access(pin_dir, F_OK) != 0) {
		err("nothing attached (no %s)", pin_dir);
		return 1;
	}
	printf("detached %d program(s)%s\n", n, keep ? ", maps kept" : "");
	return 0;
}

static int cmd_upgrade(int argc, char **argv)
{
	static const char *const sides[] = { "lan", "wan" };
	struct nappt_maps m = NAPPT_MAPS_INIT;
	struct nappt_bpf *skel = NULL;
	uint64_t nslots;
	int i, r, ok = 0;

	if (argc > 1)
		die_usage("upgrade takes no arguments");
	r = nappt_maps_open(&m, pin_dir);
	if (r) {
		explain(r, "open pinned maps (is it attached?)");
		return 1;
	}
	nslots = (uint64_t)m.cfg.pub_count * m.cfg.slots_per_ip;
	r = open_skel(&skel, m.cfg.lan_size, (uint32_t)nslots);
	if (r) {
		nappt_maps_close(&m);
		return 1;
	}
	/* Pick up a changed LAN MTU or MAC for the inbound fast path. */
	if (m.cfg.lan_ifindex) {
		char ifn[IF_NAMESIZE];
		__u32 zero = 0;

		if (if_indextoname(m.cfg.lan_ifindex, ifn) &&
		    lan_link_info(ifn, &m.cfg) == 0)
			bpf_map_update_elem(m.config_fd, &zero, &m.cfg,
					    BPF_ANY);
	}
	nappt_maps_close(&m);
	for (i = 0; i < 2; i++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		struct bpf_program *prog;
		char path[256];
		int fd, ifx;

		if (legacy_find(sides[i], path, sizeof(path), &ifx) == 0) {
			prog = i ? skel->progs.tc_wan : skel->progs.tc_lan;
			if (upgrade_tc_legacy(path, ifx, bpf_program__fd(prog),
					      sides[i]) == 0)
				ok++;
			continue;
		}
		link_path(path, sizeof(path), sides[i]);
		fd = bpf_obj_get(path);
		if (fd < 0) {
			err("Failed to open link %s: %s", path,
			    strerror(errno));
			continue;
		}
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			err("Failed to read link %s: %s", path,
			    strerror(errno));
			close(fd);
			continue;
		}
		if (info.type == NAPPT_BPF_LINK_TYPE_TCX)
			prog = i ? skel->progs.tc_wan : skel->progs.tc_lan;
		else
			prog = i ? skel->progs.xdp_wan : skel->progs.xdp_lan;
		/* Atomic: the link swaps its program in one step. */
		if (bpf_link_update(fd, bpf_program__fd(prog), NULL)) {
			err("Failed to update link %s: %s", path,
			    strerror(errno));
		} else {
			printf("upgraded %s: program %u -> %u\n", sides[i],
			       info.prog_id, prog_id(bpf_program__fd(prog)));
			ok++;
		}
		close(fd);
	}
	nappt_bpf__destroy(skel);
	return ok == 2 ? 0 : 1;
}

/* --- status / stats / pool ------------------------------------------------ */

struct fill {
	unsigned long phones;
	unsigned long ports;
};

static int count_phone(uint32_t priv, const struct nappt_phone *p, void *arg)
{
	struct fill *f = arg;

	f->phones++;
	f->ports += (unsigned long)p->port_last - p->port_first + 1;
	return 0;
}

static void print_config(const struct nappt_config *c)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];

	printf("lan pool:    %s/%d (%u addresses)\n", ip_str(c->lan_net, a),
	       32 - __builtin_ctz(c->lan_size), c->lan_size);
	printf("public pool: %s/%d (%u addresses)\n", ip_str(c->pub_net, b),
	       32 - __builtin_ctz(c->pub_count), c->pub_count);
	printf("slot:        %u ports, %u per address\n", 1U << c->slot_shift,
	       c->slots_per_ip);
	printf("lan gateway: %s\n", c->lan_gw ? ip_str(c->lan_gw, g) : "-");
	if (c->lan_ifindex)
		printf("fast path:   to phones via ifindex %u, mtu %u, "
		       "%02x:%02x:%02x:%02x:%02x:%02x\n",
		       c->lan_ifindex, c->lan_mtu, c->lan_mac[0], c->lan_mac[1],
		       c->lan_mac[2], c->lan_mac[3], c->lan_mac[4],
		       c->lan_mac[5]);
	printf("unknown in:  %s\n",
	       c->flags & NAPPT_CFG_DROP_UNKNOWN_IN ? "drop" : "pass");
	printf("next hops:   cached by destination%s\n",
	       c->flags & NAPPT_CFG_ROUTE_BY_SRC ? " and source" : "");
	printf("foreign lan: %s\n", c->flags & NAPPT_CFG_LAN_FOREIGN ?
					    "forwarded (--lan-foreign)" :
					    "dropped");
}

static int cmd_status(int argc, char **argv)
{
	static const char *const sides[] = { "lan", "wan" };
	struct nappt_maps m = NAPPT_MAPS_INIT;
	struct fill f = { 0 };
	int i, r;

	r = nappt_maps_open(&m, pin_dir);
	if (r == -ENOENT) {
		printf("not attached (nothing pinned in %s)\n", pin_dir);
		return 1;
	}
	if (r) {
		explain(r, "open pinned maps");
		return 1;
	}
	for (i = 0; i < 2; i++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		char path[256], ifn[IF_NAMESIZE] = "?";
		const char *kind = "?";
		__u32 ifx = 0;
		int fd;

		if (legacy_find(sides[i], path, sizeof(path), &fd) == 0) {
			int pfd = bpf_obj_get(path);

			if (!if_indextoname((unsigned int)fd, ifn))
				snprintf(ifn, sizeof(ifn), "?");
			printf("%s: tc cls_bpf on %s (ifindex %d), program id "
			       "%u\n",
			       sides[i], ifn, fd, pfd >= 0 ? prog_id(pfd) : 0);
			if (pfd >= 0)
				close(pfd);
			continue;
		}
		link_path(path, sizeof(path), sides[i]);
		fd = bpf_obj_get(path);
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
			printf("%s: not attached\n", sides[i]);
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (info.type == BPF_LINK_TYPE_XDP) {
			kind = "xdp";
			ifx = info.xdp.ifindex;
		} else if (info.type == NAPPT_BPF_LINK_TYPE_TCX) {
			kind = "tcx";
			/* tcx info sits where netns/xdp info sits: ifindex
			 * first. */
			ifx = info.xdp.ifindex;
		}
		if (ifx)
			if_indextoname(ifx, ifn);
		printf("%s: %s on %s (ifindex %u), program id %u, link id "
		       "%u\n",
		       sides[i], kind, ifn, ifx, info.prog_id, info.id);
		close(fd);
	}
	print_config(&m.cfg);
	r = nappt_phone_foreach(&m, count_phone, &f);
	if (r)
		explain(r, "walk phones map");
	printf("phones:      %lu of %u leased, %lu ports mapped\n", f.phones,
	       m.cfg.lan_size, f.ports);
	nappt_maps_close(&m);
	return r ? 1 : 0;
}

static int cmd_stats(int argc, char **argv)
{
	struct nappt_counter c[NAPPT_STAT_MAX];
	struct nappt_maps m = NAPPT_MAPS_INIT;
	bool reset = argc > 1 && !strcmp(argv[1], "--reset");
	unsigned int i;
	int r;

	if (argc > 2 || (argc == 2 && !reset))
		die_usage("stats takes only --reset");
	r = nappt_maps_open(&m, pin_dir);
	if (r) {
		explain(r, "open pinned maps (is it attached?)");
		return 1;
	}
	r = nappt_stats_read(&m, c);
	if (r) {
		explain(r, "read stats");
		goto out;
	}
	for (i = 0; i < NAPPT_STAT_MAX; i++)
		printf("%-18s %12llu packets %14llu bytes\n",
		       nappt_stat_name(i), (unsigned long long)c[i].packets,
		       (unsigned long long)c[i].bytes);
	if (reset) {
		r = nappt_stats_reset(&m);
		if (r)
			explain(r, "reset stats");
	}
out:
	nappt_maps_close(&m);
	return r ? 1 : 0;
}

static int cmd_pool(int argc, char **argv)
{
	struct nappt_maps m = NAPPT_MAPS_INIT;
	__u32 zero = 0;
	int r, i;

	r = nappt_maps_open(&m, pin_dir);
	if (r) {
		explain(r, "open pinned maps (is it attached?)");
		return 1;
	}
	if (argc == 1) {
		print_config(&m.cfg);
		goto out;
	}
	/* The pools size the maps, so only the knobs that do not are
	 * changeable in place; new pools mean detach + attach. */
	if (strcmp(argv[1], "set"))
		die_usage("pool takes no argument or 'set'");
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--lan-gw") && i + 1 < argc) {
			if (parse_ip(argv[++i], &m.cfg.lan_gw))
				die_usage("bad --lan-gw '%s'", argv[i]);
		} else if (!strcmp(argv[i], "--drop-unknown") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "on"))
				m.cfg.flags |= NAPPT_CFG_DROP_UNKNOWN_IN;
			else if (!strcmp(argv[i], "off"))
				m.cfg.flags &= ~NAPPT_CFG_DROP_UNKNOWN_IN;
			else
				die_usage("--drop-unknown takes on|off");
		} else if (!strcmp(argv[i], "--lan-pool") ||
			   !strcmp(argv[i], "--pub-pool") ||
			   !strcmp(argv[i], "--slot-size")) {
			err("pools and slot size size the maps: change them "
			    "with 'nappt detach' and 'nappt attach'");
			r = -EINVAL;
			goto out;
		} else {
			die_usage("unknown pool setting '%s'", argv[i]);
		}
	}
	if (bpf_map_update_elem(m.config_fd, &zero, &m.cfg, BPF_ANY)) {
		r = explain(-errno, "write config map");
		goto out;
	}
	print_config(&m.cfg);
out:
	nappt_maps_close(&m);
	return r ? 1 : 0;
}

/* --- phones ---------------------------------------------------------------- */

static int print_phone(uint32_t priv, const struct nappt_phone *p, void *arg)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	printf("%-15s %02x:%02x:%02x:%02x:%02x:%02x %-15s %u-%u\n",
	       ip_str(priv, a), p->mac[0], p->mac[1], p->mac[2], p->mac[3],
	       p->mac[4], p->mac[5], ip_str(p->pub_ip, b), p->port_first,
	       p->port_last);
	return 0;
}

static int cmd_phone(int argc, char **argv)
{
	struct nappt_maps m = NAPPT_MAPS_INIT;
	struct nappt_phone p = { 0 };
	uint32_t priv = 0;
	int r;

	if (argc < 2)
		die_usage("phone needs add, del or list");
	if (!strcmp(argv[1], "add")) {
		if (argc != 6)
			die_usage("usage: phone add PRIV_IP MAC PUB_IP "
				  "FIRST-LAST");
		if (parse_ip(argv[2], &priv))
			die_usage("bad private address '%s'", argv[2]);
		if (nappt_parse_mac(argv[3], p.mac))
			die_usage("bad MAC '%s'", argv[3]);
		if (parse_ip(argv[4], &p.pub_ip))
			die_usage("bad public address '%s'", argv[4]);
		if (nappt_parse_range(argv[5], &p.port_first, &p.port_last))
			die_usage("bad port range '%s'", argv[5]);
	} else if (!strcmp(argv[1], "del")) {
		if (argc != 3)
			die_usage("usage: phone del PRIV_IP");
		if (parse_ip(argv[2], &priv))
			die_usage("bad private address '%s'", argv[2]);
	} else if (!strcmp(argv[1], "list")) {
		if (argc != 2)
			die_usage("usage: phone list");
	} else {
		die_usage("unknown phone command '%s'", argv[1]);
	}

	r = nappt_maps_open(&m, pin_dir);
	if (r) {
		explain(r, "open pinned maps (is it attached?)");
		return 1;
	}
	if (!strcmp(argv[1], "add")) {
		r = nappt_phone_add(&m, priv, &p);
		if (r == -ERANGE)
			err("Failed to add phone: address outside the "
			    "configured pools");
		else if (r == -EINVAL)
			err("Failed to add phone: range %u-%u must be whole "
			    "slots of %u ports and above 1023",
			    p.port_first, p.port_last, 1U << m.cfg.slot_shift);
		else if (r == -EBUSY)
			err("Failed to add phone: part of %s %u-%u belongs to "
			    "another phone",
			    argv[4], p.port_first, p.port_last);
		else if (r)
			explain(r, "add phone");
	} else if (!strcmp(argv[1], "del")) {
		r = nappt_phone_del(&m, priv);
		if (r == -ENOENT)
			err("Failed to delete phone %s: no such mapping",
			    argv[2]);
		else if (r == -ERANGE)
			err("Failed to delete phone %s: outside the LAN pool",
			    argv[2]);
		else if (r)
			explain(r, "delete phone");
	} else {
		r = nappt_phone_foreach(&m, print_phone, NULL);
		if (r)
			explain(r, "list phones");
	}
	nappt_maps_close(&m);
	return r ? 1 : 0;
}

/* --- pass program for veth peers ------------------------------------------ */

static int cmd_pass(int argc, char **argv)
{
	struct pass_bpf *skel;
	int ifx, r;

	if (argc != 3)
		die_usage("usage: pass attach|detach|count IF");
	ifx = if_nametoindex(argv[2]);
	if (!ifx) {
		err("Failed to find interface '%s': %s", argv[2],
		    strerror(errno));
		return 1;
	}
	if (!strcmp(argv[1], "detach")) {
		r = bpf_xdp_detach(ifx, 0, NULL);
		if (r)
			return explain(r, "detach XDP program"), 1;
		return 0;
	}
	if (!strcmp(argv[1], "count")) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info), prog_id = 0, map_id = 0, nids = 1;
		unsigned long long sum = 0;
		int pfd, mfd, ncpu, i;
		__u64 *v;
		__u32 zero = 0;

		if (bpf_xdp_query_id(ifx, 0, &prog_id) || !prog_id) {
			err("no XDP program on %s", argv[2]);
			return 1;
		}
		pfd = bpf_prog_get_fd_by_id(prog_id);
		if (pfd < 0)
			return explain(-errno, "open program"), 1;
		info.nr_map_ids = 1;
		info.map_ids = (__u64)(unsigned long)&map_id;
		r = bpf_obj_get_info_by_fd(pfd, &info, &len);
		close(pfd);
		if (r || info.nr_map_ids < nids || !map_id) {
			err("program on %s has no counter", argv[2]);
			return 1;
		}
		mfd = bpf_map_get_fd_by_id(map_id);
		if (mfd < 0)
			return explain(-errno, "open counter map"), 1;
		ncpu = libbpf_num_possible_cpus();
		v = calloc(ncpu, sizeof(*v));
		if (!v || bpf_map_lookup_elem(mfd, &zero, v)) {
			close(mfd);
			free(v);
			return explain(-ENOMEM, "read counter"), 1;
		}
		for (i = 0; i < ncpu; i++)
			sum += v[i];
		printf("%llu\n", sum);
		free(v);
		close(mfd);
		return 0;
	}
	if (strcmp(argv[1], "attach"))
		die_usage("usage: pass attach|detach|count IF");
	skel = pass_bpf__open_and_load();
	if (!skel)
		return explain(-errno, "load pass program"), 1;
	/* Native on veth (the peer of a redirect must run XDP in the driver
	 * path), generic where the driver has none. */
	r = bpf_xdp_attach(ifx, bpf_program__fd(skel->progs.xdp_pass),
			   XDP_FLAGS_DRV_MODE, NULL);
	if (r)
		r = bpf_xdp_attach(ifx, bpf_program__fd(skel->progs.xdp_pass),
				   XDP_FLAGS_SKB_MODE, NULL);
	pass_bpf__destroy(skel);
	if (r)
		return explain(r, "attach pass program"), 1;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "attach", cmd_attach },   { "detach", cmd_detach },
		{ "status", cmd_status },   { "stats", cmd_stats },
		{ "upgrade", cmd_upgrade }, { "pool", cmd_pool },
		{ "phone", cmd_phone },	    { "pass", cmd_pass },
	};
	size_t i;
	int c;

	/* Options before the command only; the command parses the rest. */
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pin_dir = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			die_usage("bad option");
		}
	}
	if (optind >= argc)
		die_usage("no command given");
	libbpf_set_print(libbpf_print);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[optind], cmds[i].name))
			return cmds[i].fn(argc - optind, argv + optind);
	die_usage("unknown command '%s'", argv[optind]);
	return 2;
}
