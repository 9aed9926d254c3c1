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
#include <fcntl.h>
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
#include <linux/ethtool.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "conf.h"
#include "libnappt.h"
#include "nappt.skel.h"

#define NAPPT_CONF_DEFAULT "/etc/nappt/nappt.conf"
/* A stats file older than this: its writer (every 5 s) is not running. */
#define STATS_STALE_S 30

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
/* -c FILE: the gateway's one configuration (conf.h), or NULL (ad hoc). */
static const char *conf_path;
static struct prov_conf gw_conf;

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
	       "       nappt -c FILE attach [--discard-leases] | detach "
	       "[--keep-maps] |\n"
	       "                     upgrade | status | stats | pool | phone\n"
	       "       nappt [-c FILE] -n\n"
	       "\n"
	       "Attach and operate the XDP/TC NAPPT data plane.\n"
	       "\n"
	       "With -c FILE (the gateway's configuration, e.g. %s)\n"
	       "attach takes the interfaces, pools, slot size, gateway and "
	       "mode from\n"
	       "[global] and [dataplane], every command the pin directory "
	       "from [global]\n"
	       "pin_dir; upgrade refuses if the attached pools differ from "
	       "the file's;\n"
	       "status adds the provisioner's and tftpd's counters.  -n "
	       "checks the whole\n"
	       "file (default %s) and exits: 0 good, 1 with FILE:LINE: "
	       "reason lines.\n"
	       "\n"
	       "Commands:\n"
	       "  attach --lan IF --wan IF --lan-pool CIDR --pub-pool CIDR\n"
	       "         [--mode auto|native|generic|tc|tc-legacy]\n"
	       "         [--slot-size N]\n"
	       "         [--lan-gw ADDR] [--drop-unknown] [--route-by-source]\n"
	       "         [--discard-leases] [--lan-foreign] [--lan-vlan VID]\n"
	       "                      load the programs, pin maps and links\n"
	       "                      (--lan-foreign: forward LAN sources outside\n"
	       "                      the LAN pool untranslated; default: drop;\n"
	       "                      --lan-vlan: the phones are on VLAN VID of\n"
	       "                      the --lan parent, XDP only, its VLAN device\n"
	       "                      must exist; or give the VLAN device itself\n"
	       "                      as --lan with generic XDP or TC)\n"
	       "  detach [--keep-maps] remove the programs (and the maps)\n"
	       "  status              what is attached where, program ids,\n"
	       "                      pools, map fill\n"
	       "  stats [--reset]     per-reason packet/byte counters\n"
	       "  upgrade             replace the attached programs with\n"
	       "                      this binary's: each side in one step,\n"
	       "                      both or neither (rolled back)\n"
	       "  pool                show the pool configuration\n"
	       "  pool set [--lan-gw ADDR] [--drop-unknown on|off]\n"
	       "  phone add PRIV_IP MAC PUB_IP FIRST-LAST\n"
	       "                      PRIV_IP must be the derived address:\n"
	       "  phone addr PUB_IP FIRST-LAST\n"
	       "                      print it (LAN pool + public address\n"
	       "                      index x slots per address + first "
	       "slot;\n"
	       "                      with -c and nothing attached: the "
	       "file's pools)\n"
	       "  phone del PRIV_IP\n"
	       "  phone list\n"
	       "\n"
	       "Options:\n"
	       "  -c, --config FILE  the gateway's configuration\n"
	       "  -n, --check     check the configuration and exit\n"
	       "  --pin-dir DIR   bpffs directory (default %s, or pin_dir "
	       "of -c FILE)\n"
	       "  -v, --verbose   libbpf debug output\n"
	       "  -h, --help      this text\n",
	       NAPPT_CONF_DEFAULT, NAPPT_CONF_DEFAULT, NAPPT_PIN_DIR);
}

/* --- helpers ------------------------------------------------------------- */

static int explain(int r, const char *what)
{
	if (r == -EPERM || r == -EACCES)
		err("Failed to %s: %s (needs root, or CAP_BPF + CAP_NET_ADMIN)",
		    what, strerror(-r));
	else if (r == -EPROTO)
		err("Failed to %s: the maps pinned in %s are of another layout "
		    "or do not match their config ('nappt detach' removes "
		    "them)",
		    what, pin_dir);
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
/* The directory the pin directory sits in; true if it is on bpffs. */
static bool pin_parent_on_bpffs(char *parent, size_t len)
{
	struct statfs st;
	char *slash;

	snprintf(parent, len, "%s", pin_dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	errno = 0;
	return statfs(parent, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

static int check_bpffs(void)
{
	char parent[256];

	if (pin_parent_on_bpffs(parent, sizeof(parent)))
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

/* Did ENOENT come from a missing bpffs rather than from nothing pinned?
 * (`ip netns exec` and bare VMs have no /sys/fs/bpf: "not attached" would
 * be a lie about a gateway that is attached in the real one.) */
static bool no_bpffs(void)
{
	char parent[256];

	if (pin_parent_on_bpffs(parent, sizeof(parent)))
		return false;
	err("Failed to open the pinned maps: %s is not on a bpf filesystem "
	    "(mount it with: mount -t bpf bpf %s)",
	    pin_dir, parent);
	return true;
}

/* nappt_maps_open for the commands, with the error said. */
static int open_maps(struct nappt_maps *m)
{
	int r = nappt_maps_open(m, pin_dir);

	if (r == -ENOENT && no_bpffs())
		return r;
	if (r)
		explain(r, "open pinned maps (is it attached?)");
	return r;
}

static void link_path(char *buf, size_t len, const char *side)
{
	snprintf(buf, len, "%s/links/%s", pin_dir, side);
}

/*
 * MTU and MAC of the LAN interface, for the inbound fast path.  The
 * interface ioctls work on a socket of any family; a netlink one keeps
 * AF_INET out of nappt.service's RestrictAddressFamilies= (the loader
 * sends no IP packet).
 */
static int lan_link_info(const char *ifname, struct nappt_config *cfg)
{
	struct ifreq ifr = { 0 };
	int s, r = 0;

	s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE);
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

/*
 * Voice VLAN on the LAN parent (--lan-vlan): the VLAN device of VID on
 * parent, from the 8021q module's table (per network namespace).  The
 * kernel serves DHCP and TFTP there, so its address is the gateway's and
 * its MAC the one phones talk to.  0 and its name in dev, or -ENOENT.
 */
static int vlan_dev_of(const char *parent, unsigned int vid, char *dev,
		       size_t len)
{
	char line[256], name[IF_NAMESIZE], real[IF_NAMESIZE];
	unsigned int id;
	int r = -ENOENT;
	FILE *f;

	/* A test on a kernel without 802.1Q names a stand-in table. */
	const char *table = getenv("NAPPT_TEST_VLAN_TABLE");

	f = fopen(table && *table ? table : "/proc/net/vlan/config", "re");
	if (!f)
		return -ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%15s | %u | %15s", name, &id, real) != 3)
			continue;
		if (id == vid && !strcmp(real, parent)) {
			snprintf(dev, len, "%s", name);
			r = 0;
			break;
		}
	}
	fclose(f);
	return r;
}

/*
 * The program must see the voice VLAN's tag in the frame.  A NIC with
 * receive VLAN offload moves it into the descriptor instead: every
 * phone frame would look untagged to the program, which drops untagged
 * packets from pool addresses (and passes the rest, ARP included, to the
 * VLAN device unchecked).  So the offload goes off, or the attach is
 * refused.
 */
static int vlan_rx_offload_off(const char *ifname)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GFLAGS };
	struct ifreq ifr = { 0 };
	int s, r = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(s, SIOCETHTOOL, &ifr) < 0) {
		/* No ethtool at all (no offloads to have either). */
		r = errno == EOPNOTSUPP ? 0 : -errno;
		goto out;
	}
	if (!(ev.data & ETH_FLAG_RXVLAN))
		goto out;
	ev.cmd = ETHTOOL_SFLAGS;
	ev.data &= ~(__u32)ETH_FLAG_RXVLAN;
	if (ioctl(s, SIOCETHTOOL, &ifr) < 0) {
		r = -errno;
		goto out;
	}
	ev.cmd = ETHTOOL_GFLAGS;
	if (ioctl(s, SIOCETHTOOL, &ifr) < 0 || (ev.data & ETH_FLAG_RXVLAN))
		r = -EOPNOTSUPP;
	else
		err("%s: receive VLAN offload turned off (the program must "
		    "see the voice VLAN's tag)",
		    ifname);
out:
	close(s);
	return r;
}

/*
 * XDP features of a device (kernel >= 6.3, generic netlink family
 * "netdev"; Debian 12's headers and libbpf 1.1 predate it, hence the
 * constants).  NDO_XMIT: the device takes frames redirected from a
 * native-XDP program (on a veth: only while its peer runs XDP or GRO).
 */
#define NAPPT_NETDEV_CMD_DEV_GET 1
#define NAPPT_NETDEV_A_DEV_IFINDEX 1
#define NAPPT_NETDEV_A_DEV_XDP_FEATURES 3
#define NAPPT_XDP_ACT_NDO_XMIT (1ULL << 2)

struct nl_req {
	struct nlmsghdr n;
	struct genlmsghdr g;
	char buf[64];
};

static void nl_put(struct nl_req *q, __u16 type, const void *data, __u16 len)
{
	struct nlattr *a =
		(struct nlattr *)((char *)q + NLMSG_ALIGN(q->n.nlmsg_len));

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	q->n.nlmsg_len = NLMSG_ALIGN(q->n.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* One request, one answer: the attribute `want` of it copied to out. */
static int nl_ask(int s, struct nl_req *q, __u16 want, void *out, size_t len)
{
	char buf[4096];
	struct nlmsghdr *h;
	struct nlattr *a;
	ssize_t n;
	int rem;

	if (send(s, q, q->n.nlmsg_len, 0) < 0)
		return -errno;
	n = recv(s, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	h = (struct nlmsghdr *)buf;
	if (!NLMSG_OK(h, (__u32)n))
		return -EBADMSG;
	if (h->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr *e = NLMSG_DATA(h);

		return e->error ? e->error : -ENOENT;
	}
	a = (struct nlattr *)((char *)NLMSG_DATA(h) + GENL_HDRLEN);
	rem = (int)h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
	while (rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
	       a->nla_len <= rem) {
		if ((a->nla_type & NLA_TYPE_MASK) == want) {
			if ((size_t)(a->nla_len - NLA_HDRLEN) < len)
				return -EBADMSG;
			memcpy(out, (char *)a + NLA_HDRLEN, len);
			return 0;
		}
		rem -= NLA_ALIGN(a->nla_len);
		a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
	}
	return -ENOENT;
}

/* The device's XDP features, or -errno (-ENOENT: kernel cannot say). */
static int xdp_features(int ifindex, __u64 *out)
{
	struct nl_req q = {};
	__u32 ifx = (__u32)ifindex;
	__u16 family;
	int s, r;

	s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (s < 0)
		return -errno;
	q.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	q.n.nlmsg_type = GENL_ID_CTRL;
	q.n.nlmsg_flags = NLM_F_REQUEST;
	q.g.cmd = CTRL_CMD_GETFAMILY;
	q.g.version = 1;
	nl_put(&q, CTRL_ATTR_FAMILY_NAME, "netdev", sizeof("netdev"));
	r = nl_ask(s, &q, CTRL_ATTR_FAMILY_ID, &family, sizeof(family));
	if (r)
		goto out;
	memset(&q, 0, sizeof(q));
	q.n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	q.n.nlmsg_type = family;
	q.n.nlmsg_flags = NLM_F_REQUEST;
	q.g.cmd = NAPPT_NETDEV_CMD_DEV_GET;
	q.g.version = 1;
	nl_put(&q, NAPPT_NETDEV_A_DEV_IFINDEX, &ifx, sizeof(ifx));
	r = nl_ask(s, &q, NAPPT_NETDEV_A_DEV_XDP_FEATURES, out, sizeof(*out));
out:
	close(s);
	return r == -ENOENT || r == -EINVAL || r == -EOPNOTSUPP ? -ENOENT : r;
}

/* Can ifname be the target of a native-XDP redirect?  1 yes, 0 no (and
 * says why), -ENOENT when the kernel cannot tell (then attach decides). */
static int takes_xdp_redirect(int ifindex, const char *ifname, bool say)
{
	__u64 f = 0;
	int r = xdp_features(ifindex, &f);

	if (r < 0)
		return r;
	if (f & NAPPT_XDP_ACT_NDO_XMIT)
		return 1;
	if (say)
		err("%s cannot take frames redirected by native XDP (no "
		    "ndo_xdp_xmit; a veth takes them only while its peer runs "
		    "an XDP program or GRO)",
		    ifname);
	return 0;
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

/*
 * Where one side ("lan", "wan") is attached: a pinned bpf_link
 * (links/<side>: XDP or tcx), or, on kernels without tcx, a cls_bpf filter
 * whose program is pinned as links/<side>-cls-<ifindex>.  The one lookup
 * every command uses.
 */
enum side_kind { SIDE_NONE, SIDE_LINK, SIDE_CLS };

struct side_att {
	enum side_kind kind;
	char path[256];
	int ifindex;
	int fd; /* the link, or the cls program; -1 */
	__u32 prog_id;
	struct bpf_link_info info; /* SIDE_LINK, when readable */
	bool info_ok;
};

static void side_put(struct side_att *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

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

/* 0 and a filled *a if side is attached (or its pin is there), else
 * -ENOENT.  side_put() after. */
static int side_find(const char *side, struct side_att *a)
{
	__u32 len = sizeof(a->info);

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (legacy_find(side, a->path, sizeof(a->path), &a->ifindex) == 0) {
		a->kind = SIDE_CLS;
		a->fd = bpf_obj_get(a->path);
		if (a->fd >= 0)
			a->prog_id = prog_id(a->fd);
		return 0;
	}
	link_path(a->path, sizeof(a->path), side);
	if (access(a->path, F_OK))
		return -ENOENT;
	a->kind = SIDE_LINK;
	a->fd = bpf_obj_get(a->path);
	if (a->fd >= 0 && !bpf_obj_get_info_by_fd(a->fd, &a->info, &len)) {
		a->info_ok = true;
		a->prog_id = a->info.prog_id;
		/* tcx info sits where xdp info sits: ifindex first. */
		a->ifindex = (int)a->info.xdp.ifindex;
	}
	return 0;
}

static int attached(const char *side)
{
	struct side_att a;
	int r = side_find(side, &a);

	side_put(&a);
	return r == 0;
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

/*
 * Without its program an interface is a plain router's: the kernel would
 * send a leased phone's packets to the WAN untranslated, private source
 * and all (DESIGN.md line 6), and the WAN's to the phones' private
 * addresses (line 7).  Forwarding, which attach turned on, goes off
 * before the program goes; attach turns it on again.
 */
static void forwarding_off(int ifindex)
{
	char name[IF_NAMESIZE], path[160];

	if (ifindex <= 0 || !if_indextoname((unsigned int)ifindex, name))
		return; /* gone: it forwards nothing */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding",
		 name);
	if (write_sysctl(path, "0") < 0)
		err("warning: could not set %s=0: the kernel may route "
		    "untranslated packets through %s",
		    path, name);
}

/*
 * Voice VLAN: attach turned forwarding on for the VLAN device too, and
 * the phones' frames reach the kernel there once the parent's program is
 * gone.  The pinned config names the VID; parent is the LAN side's
 * device.
 */
static void voice_vlan_forwarding_off(int parent)
{
	struct nappt_maps m = NAPPT_MAPS_INIT;
	char ifn[IF_NAMESIZE], vdev[IF_NAMESIZE];

	if (nappt_maps_open(&m, pin_dir))
		return;
	if (m.cfg.lan_vid && parent > 0 &&
	    if_indextoname((unsigned int)parent, ifn) &&
	    vlan_dev_of(ifn, m.cfg.lan_vid, vdev, sizeof(vdev)) == 0)
		forwarding_off((int)if_nametoindex(vdev));
	nappt_maps_close(&m);
}

/* Remove side's attachment and its pin; 1 if there was one. */
static int side_detach(const char *side)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .handle = NAPPT_TC_HANDLE,
		    .priority = NAPPT_TC_PRIO);
	struct side_att a;

	if (side_find(side, &a))
		return 0;
	forwarding_off(a.ifindex);
	if (!strcmp(side, "lan"))
		voice_vlan_forwarding_off(a.ifindex);
	if (a.kind == SIDE_CLS) {
		hook.ifindex = a.ifindex;
		bpf_tc_detach(&hook, &o);
	} else if (a.fd >= 0) {
		/* Detach now even if another process holds the link open. */
		bpf_link_detach(a.fd);
	}
	unlink(a.path);
	side_put(&a);
	return 1;
}

/* cls_bpf replaces a filter's program in place (BPF_TC_F_REPLACE): the
 * old one serves every packet until the new one is in. */
static int replace_tc_legacy(const char *path, int ifx, int prog_fd)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifx,
		    .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE, .handle = NAPPT_TC_HANDLE,
		    .priority = NAPPT_TC_PRIO);
	int r;

	r = bpf_tc_attach(&hook, &o);
	if (r)
		return r;
	unlink(path);
	if (bpf_obj_pin(prog_fd, path))
		err("warning: could not re-pin %s: %s", path, strerror(errno));
	return 0;
}

/* Put prog (new_fd) on an attached side; old_fd is what must be there
 * (links: BPF_F_REPLACE refuses if another upgrade got there first). */
static int side_replace(struct side_att *a, int new_fd, int old_fd)
{
	LIBBPF_OPTS(bpf_link_update_opts, uo);

	if (a->kind == SIDE_CLS)
		return replace_tc_legacy(a->path, a->ifindex, new_fd);
	if (old_fd >= 0) {
		uo.old_prog_fd = old_fd;
		uo.flags = BPF_F_REPLACE;
	}
	return bpf_link_update(a->fd, new_fd, &uo) ? -errno : 0;
}

/* Attach one side in exactly mode (no fallback here: the caller picks one
 * mode for both sides).  quiet: the caller will try another mode, so no
 * error message for an unsupported one. */
static int attach_one(struct bpf_program *xdp_prog, struct bpf_program *tc_prog,
		      int ifindex, const char *ifname, enum mode mode,
		      const char *side, enum mode *used, bool quiet)
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
		if (fd < 0) {
			r = -errno;
			if (quiet && (r == -EOPNOTSUPP || r == -EINVAL))
				return r;
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
		*used = mode;
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
	char path[256];
	int n;

	n = side_detach("lan") + side_detach("wan");
	snprintf(path, sizeof(path), "%s/links", pin_dir);
	rmdir(path);
	return n;
}

/* "phones" is the layout before issue 13's: never made by this build, but
 * removed by detach (attach refuses while it is pinned). */
static const char *const map_names[] = { "config", "slots",    "stats",
					 "frags",  "tx_ports", "phones" };
#define NMAPS (sizeof(map_names) / sizeof(map_names[0]))
#define MAP_TX_PORTS 4

static bool pinned(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return access(path, F_OK) == 0;
}

/* Unpin the maps (those with keep[i] set stay); the directory goes if it
 * is then empty. */
static void unpin_maps(const bool *keep)
{
	char path[256];
	size_t i;

	for (i = 0; i < NMAPS; i++) {
		if (keep && keep[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, map_names[i]);
		unlink(path);
	}
	rmdir(pin_dir);
}

/*
 * Maps that hold no lease (counters, fragment tracking) may change shape
 * between builds: a new drop reason grows `stats`.  Reusing a pinned one
 * of another shape fails the load, so an upgrade to a build with one more
 * counter would be impossible without a detach.  Such a map is made anew
 * instead; the old one keeps serving the running programs until
 * adopt_transient() pins the new one in its place (after the programs
 * are switched), carrying the counters that both know.
 */
struct transient {
	const char *name;
	int old_fd; /* the pinned map of another shape, or -1 */
	struct bpf_map *map;
};

static void transient_init(struct nappt_bpf *skel, struct transient *t)
{
	struct bpf_map *maps[2] = { skel->maps.stats, skel->maps.frags };
	static const char *const names[2] = { "stats", "frags" };
	struct bpf_map_info info;
	char path[256];
	__u32 len;
	int i, fd;

	for (i = 0; i < 2; i++) {
		t[i].name = names[i];
		t[i].old_fd = -1;
		t[i].map = maps[i];
		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		memset(&info, 0, sizeof(info));
		len = sizeof(info);
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    info.type == bpf_map__type(maps[i]) &&
		    info.key_size == bpf_map__key_size(maps[i]) &&
		    info.value_size == bpf_map__value_size(maps[i]) &&
		    info.max_entries == bpf_map__max_entries(maps[i])) {
			close(fd);
			continue;
		}
		bpf_map__set_pin_path(maps[i], NULL);
		t[i].old_fd = fd;
	}
}

static void transient_put(struct transient *t)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (t[i].old_fd >= 0)
			close(t[i].old_fd);
		t[i].old_fd = -1;
	}
}

/* Pin the new transient maps in place of the old (0 or -errno). */
static int adopt_transient(struct transient *t)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), k, n;
	char path[256];
	void *buf = NULL;
	int i, ncpu, r = 0;

	for (i = 0; i < 2; i++) {
		if (t[i].old_fd < 0)
			continue;
		/* Counters: carry what both layouts count. */
		if (!strcmp(t[i].name, "stats") &&
		    !bpf_obj_get_info_by_fd(t[i].old_fd, &info, &len) &&
		    info.type == BPF_MAP_TYPE_PERCPU_ARRAY &&
		    info.key_size == 4 &&
		    info.value_size == sizeof(struct nappt_counter)) {
			ncpu = libbpf_num_possible_cpus();
			buf = ncpu > 0 ? calloc(ncpu, info.value_size) : NULL;
			n = info.max_entries < NAPPT_STAT_MAX ?
				    info.max_entries :
				    NAPPT_STAT_MAX;
			for (k = 0; buf && k < n; k++)
				if (!bpf_map_lookup_elem(t[i].old_fd, &k, buf))
					bpf_map_update_elem(
						bpf_map__fd(t[i].map), &k, buf,
						BPF_ANY);
			free(buf);
			buf = NULL;
		}
		snprintf(path, sizeof(path), "%s/%s", pin_dir, t[i].name);
		unlink(path);
		if (bpf_obj_pin(bpf_map__fd(t[i].map), path)) {
			r = -errno;
			err("Failed to pin the new %s map %s: %s", t[i].name,
			    path, strerror(-r));
		} else if (verbose) {
			err("%s: replaced by a map of this build's layout",
			    path);
		}
	}
	return r;
}

static int open_skel(struct nappt_bpf **out, uint32_t slots,
		     struct transient *t)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = pin_dir);
	struct nappt_bpf *skel;
	char path[256];
	int r, txfd;

	skel = nappt_bpf__open_opts(&oo);
	if (!skel)
		return explain(-errno, "open BPF object");
	if (slots)
		bpf_map__set_max_entries(skel->maps.slots, slots);
	transient_init(skel, t);
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
			transient_put(t);
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
		transient_put(t);
		return r;
	}
	if (txfd < 0) {
		r = bpf_obj_pin(bpf_map__fd(skel->maps.tx_ports), path);
		if (r) {
			r = explain(-errno, "pin tx_ports");
			nappt_bpf__destroy(skel);
			transient_put(t);
			return r;
		}
	}
	*out = skel;
	return 0;
}

static const char *pool_str(uint32_t net_be, uint32_t size, char *buf,
			    size_t len)
{
	char a[INET_ADDRSTRLEN];

	snprintf(buf, len, "%s/%d", ip_str(net_be, a),
		 size ? 32 - __builtin_ctz(size) : 0);
	return buf;
}

static void geometry_str(const struct nappt_config *c, char *buf, size_t len)
{
	char l[32], p[32];

	snprintf(buf, len, "lan pool %s, public pool %s, slot %u ports",
		 pool_str(c->lan_net, c->lan_size, l, sizeof(l)),
		 pool_str(c->pub_net, c->pub_count, p, sizeof(p)),
		 1U << (c->slot_shift & 31));
}

static int count_leases(uint32_t priv, const struct nappt_phone *p, void *arg)
{
	(*(long *)arg)++;
	return 0;
}

/*
 * The gateway's LAN address is never a phone's (nappt_phone_check): the
 * data plane drops it as a source and refuses ARP claiming it, yet would
 * still translate the phone's inbound ports to it, the gateway's own
 * address.  So a gateway address (attach over kept maps, `pool set
 * --lan-gw`, a reload's file) may not be one a phone is leased at.
 * -EADDRINUSE (said) if it is.
 */
static int gw_on_phone(struct nappt_maps *m, uint32_t gw)
{
	struct nappt_phone p;
	char a[INET_ADDRSTRLEN];

	if (!gw || nappt_phone_get(m, gw, &p))
		return 0;
	err("Failed to set the LAN gateway: %s is leased to a phone "
	    "(%02x:%02x:%02x:%02x:%02x:%02x); 'nappt phone del %s' first, or "
	    "keep the gateway's address",
	    ip_str(gw, a), p.mac[0], p.mac[1], p.mac[2], p.mac[3], p.mac[4],
	    p.mac[5], a);
	return -EADDRINUSE;
}

/*
 * Maps kept by `detach --keep-maps` hold leases as indices into the pools
 * they were made for: the same indices under other pools name other
 * addresses (every lease silently reinterpreted).  Reuse them only for
 * the same geometry; otherwise refuse, naming both, unless they hold no
 * lease or the operator said --discard-leases.  0: go on (maps reusable or
 * removed); <0: refused.
 */
static int check_kept_maps(const struct nappt_config *want, bool discard)
{
	struct nappt_maps m = NAPPT_MAPS_INIT;
	struct bpf_map_info info = {};
	struct nappt_config have;
	__u32 len = sizeof(info), zero = 0;
	char path[256], hs[128], ws[128];
	bool same = false, layout = false;
	long n = -1;
	int fd;

	snprintf(path, sizeof(path), "%s/config", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return explain(-errno, "open pinned config");
	}
	/* A config of another layout: reading it into ours would overflow. */
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
	    info.value_size == sizeof(have) && info.max_entries == 1 &&
	    !bpf_map_lookup_elem(fd, &zero, &have)) {
		layout = true;
		same = have.lan_net == want->lan_net &&
		       have.lan_size == want->lan_size &&
		       have.pub_net == want->pub_net &&
		       have.pub_count == want->pub_count &&
		       have.slot_shift == want->slot_shift;
	}
	close(fd);
	if (same) {
		int r = 0;

		if (want->lan_gw != have.lan_gw &&
		    nappt_maps_open(&m, pin_dir) == 0) {
			r = gw_on_phone(&m, want->lan_gw);
			nappt_maps_close(&m);
		}
		return r;
	}
	if (layout && nappt_maps_open(&m, pin_dir) == 0) {
		n = 0;
		if (nappt_phone_foreach(&m, count_leases, &n))
			n = -1;
		nappt_maps_close(&m);
	}
	geometry_str(want, ws, sizeof(ws));
	if (layout)
		geometry_str(&have, hs, sizeof(hs));
	else
		snprintf(hs, sizeof(hs), "an unknown layout");
	if (n != 0 && !discard) {
		if (n > 0)
			err("Failed to attach: the maps kept in %s hold %ld "
			    "lease(s) for %s; this attach asks for %s",
			    pin_dir, n, hs, ws);
		else
			err("Failed to attach: the maps kept in %s are of %s; "
			    "this attach asks for %s",
			    pin_dir, hs, ws);
		err("attach with the same pools and slot size, or add "
		    "--discard-leases (every kept lease is lost; restart the "
		    "provisioner after)");
		return -EEXIST;
	}
	if (n != 0)
		err("warning: discarding the maps kept in %s (%s%s%ld "
		    "lease(s)); restart the provisioner",
		    pin_dir, hs, n > 0 ? ", " : "", n > 0 ? n : 0);
	/* tx_ports holds interfaces, not leases: it stays. */
	{
		static const bool keep[NMAPS] = { [MAP_TX_PORTS] = true };

		unpin_maps(keep);
	}
	return 0;
}

/* Pools the data plane cannot serve or that make its checks meaningless. */
static const char *bad_pools(const struct nappt_config *c)
{
	static const struct {
		uint32_t net, size;
	} martian[] = {
		{ 0x00000000, 1U << 24 }, /* 0/8 */
		{ 0x7f000000, 1U << 24 }, /* 127/8 */
		{ 0xe0000000, 1U << 28 }, /* 224/4 */
		{ 0xf0000000, 1U << 28 }, /* 240/4 */
	};
	uint64_t l0 = ntohl(c->lan_net), l1 = l0 + c->lan_size;
	uint64_t p0 = ntohl(c->pub_net), p1 = p0 + c->pub_count;
	size_t i;

	if (l0 < p1 && p0 < l1)
		return "--lan-pool and --pub-pool overlap";
	for (i = 0; i < sizeof(martian) / sizeof(martian[0]); i++) {
		uint64_t m0 = martian[i].net, m1 = m0 + martian[i].size;

		if ((l0 < m1 && m0 < l1) || (p0 < m1 && m0 < p1))
			return "a pool overlaps 0/8, 127/8, 224/4 or 240/4";
	}
	return NULL;
}

/*
 * Pins of the layout before issue 13 (a `phones` map; `slots` of 12-byte
 * entries, not mmapable): the programs of this build cannot use them, and
 * a kept `phones` would be read by nothing.  What they are, or NULL.
 */
static const char *old_layout_pins(char *buf, size_t len)
{
	struct bpf_map_info info = {};
	__u32 ilen = sizeof(info);
	char path[256];
	int fd;

	if (pinned("phones"))
		return "a 'phones' map";
	snprintf(path, sizeof(path), "%s/slots", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return NULL;
	if (!bpf_obj_get_info_by_fd(fd, &info, &ilen) &&
	    (info.value_size != sizeof(struct nappt_slot) ||
	     !(info.map_flags & BPF_F_MMAPABLE))) {
		snprintf(buf, len, "'slots' of %u-byte entries%s",
			 info.value_size,
			 info.map_flags & BPF_F_MMAPABLE ? "" :
							   ", not mmapable");
		close(fd);
		return buf;
	}
	close(fd);
	return NULL;
}

/*
 * Public addresses whose every slot has a derived private address
 * (nappt_derived_index: lan_net + pub_idx * slots_per_ip + slot): a LAN
 * pool smaller than pub_count * slots_per_ip serves only the first ones.
 */
static uint32_t served_pubs(const struct nappt_config *c)
{
	uint64_t n = c->lan_size / c->slots_per_ip;

	return n < c->pub_count ? (uint32_t)n : c->pub_count;
}

/* Say which public addresses can hold phones when not all of them can. */
static void warn_small_lan(const struct nappt_config *c, const char *how)
{
	uint32_t n = served_pubs(c);
	uint64_t need = (uint64_t)c->pub_count * c->slots_per_ip;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	int plen = 32;

	if (n == c->pub_count)
		return;
	while (plen > 0 && (1ULL << (32 - plen)) < need)
		plen--;
	if (n)
		err("warning: the LAN pool (%u addresses) derives private "
		    "addresses for %u of the %u public addresses: phones "
		    "are served on %s-%s only (%u slots each; a /%d LAN pool "
		    "%s the whole public pool)",
		    c->lan_size, n, c->pub_count, ip_str(c->pub_net, a),
		    ip_str(htonl(ntohl(c->pub_net) + n - 1), b),
		    c->slots_per_ip, plen, how);
	else
		err("warning: the LAN pool (%u addresses) derives private "
		    "addresses for %u of the %u slots of %s only, none of "
		    "the other public addresses (a /%d LAN pool %s the "
		    "whole public pool)",
		    c->lan_size, c->lan_size, c->slots_per_ip,
		    ip_str(c->pub_net, a), plen, how);
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
		{ "discard-leases", no_argument, NULL, 'D' },
		{ "lan-foreign", no_argument, NULL, 'F' },
		{ "lan-vlan", required_argument, NULL, 'V' },
		{},
	};
	const char *lan = NULL, *wan = NULL, *lan_pool = NULL, *pub_pool = NULL,
		   *lan_gw = NULL, *why;
	struct nappt_config cfg = { .slot_shift = NAPPT_SLOT_SHIFT_DEFAULT };
	enum mode mode = MODE_AUTO, used_lan, used_wan, try[2];
	struct nappt_maps lk = NAPPT_MAPS_INIT;
	struct nappt_bpf *skel = NULL;
	unsigned long slot_size = 1UL << NAPPT_SLOT_SHIFT_DEFAULT;
	bool discard = false, had_map[NMAPS], made_dir, made_links;
	bool lan_on = false, wan_on = false;
	struct transient tr[2];
	int lan_if, wan_if, c, r, i, t, ntry;
	uint64_t nslots;
	char path[256], b1[INET_ADDRSTRLEN], vlan_dev[IF_NAMESIZE] = "";
	const char *lan_l3;
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
		case 'D':
			discard = true;
			break;
		case 'F':
			/* Sites that route other LAN hosts through the box
			 * say so; by default their frames are dropped. */
			cfg.flags |= NAPPT_CFG_LAN_FOREIGN;
			break;
		case 'V': {
			char *end;
			unsigned long vid;

			errno = 0;
			vid = strtoul(optarg, &end, 10);
			if (errno || *end || vid < 1 || vid > 4094)
				die_usage("--lan-vlan takes a VLAN ID in "
					  "1..4094");
			cfg.lan_vid = (__u16)vid;
			break;
		}
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
	why = bad_pools(&cfg);
	if (why)
		die_usage("%s", why);
	for (cfg.slot_shift = 0; (1UL << cfg.slot_shift) < slot_size;
	     cfg.slot_shift++)
		;
	cfg.slots_per_ip = 65536U >> cfg.slot_shift;
	nslots = (uint64_t)cfg.pub_count * cfg.slots_per_ip;
	if (nslots > NAPPT_MAX_SLOTS)
		die_usage("--pub-pool x 65536/--slot-size is %llu slots, more "
			  "than %u: use a larger slot size",
			  (unsigned long long)nslots, NAPPT_MAX_SLOTS);
	/* Not refused: the public addresses without private ones stay
	 * unused (no lease can name them), nothing is exposed, and a site
	 * may size its LAN for the phones it has. */
	warn_small_lan(&cfg, "would serve");

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
	if (lan_if == wan_if)
		die_usage("--lan %s and --wan %s are the same interface", lan,
			  wan);
	/* Where the gateway's LAN address, MAC and sysctls live. */
	lan_l3 = lan;
	if (cfg.lan_vid) {
		if (mode == MODE_TC || mode == MODE_TC_LEGACY)
			die_usage("--lan-vlan is for XDP on the VLAN's parent; "
				  "for TC give the VLAN device as --lan");
		if (vlan_dev_of(lan, cfg.lan_vid, vlan_dev, sizeof(vlan_dev)) ==
		    0) {
			lan_l3 = vlan_dev;
		} else if (!lan_gw) {
			err("Failed to find the VLAN device of VID %u on %s "
			    "(the provisioner and tftpd serve the phones "
			    "there): ip link add link %s name %s.%u type "
			    "vlan id %u; or name the gateway's address on "
			    "the VLAN with --lan-gw",
			    cfg.lan_vid, lan, lan, lan, cfg.lan_vid,
			    cfg.lan_vid);
			return 1;
		} else {
			/* Someone else terminates the VLAN (a kernel
			 * without 802.1Q, a relay): the operator said
			 * where the gateway is. */
			err("warning: no VLAN device of VID %u on %s: frames "
			    "the programs pass to the kernel are dropped there",
			    cfg.lan_vid, lan);
		}
		r = vlan_rx_offload_off(lan);
		if (r) {
			err("Failed to turn off receive VLAN offload on %s: "
			    "%s; the program would not see the voice VLAN's "
			    "tag",
			    lan, strerror(-r));
			return 1;
		}
	}
	cfg.lan_ifindex = (uint32_t)lan_if;
	if (lan_link_info(lan_l3, &cfg) < 0) {
		err("warning: could not read %s's MTU/MAC: inbound packets "
		    "take the FIB path",
		    lan);
		cfg.lan_ifindex = 0;
	}
	if (lan_gw) {
		if (parse_ip(lan_gw, &cfg.lan_gw))
			die_usage("bad --lan-gw '%s'", lan_gw);
	} else if (ifaddr_of(lan_l3, &cfg.lan_gw) == 0) {
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
	made_dir = mkdir(pin_dir, 0700) == 0;
	if (!made_dir && errno != EEXIST) {
		explain(-errno, "create pin directory");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/links", pin_dir);
	made_links = mkdir(path, 0700) == 0;
	if (!made_links && errno != EEXIST) {
		r = explain(-errno, "create link directory");
		goto fail;
	}
	/* The writers' lock (libnappt): no lease is written between the
	 * check of the kept maps and the new config. */
	lk.lock_fd = open(pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = lk.lock_fd < 0 ? -errno : nappt_maps_lock(&lk);
	if (r) {
		explain(r, "lock the pin directory");
		goto fail;
	}
	{
		char old_why[64];
		const char *old = old_layout_pins(old_why, sizeof(old_why));

		if (old) {
			err("Failed to attach: pinned maps of an older layout "
			    "in %s (%s; before the derived-address slot "
			    "table): 'nappt detach' removes them (their "
			    "leases are lost; the provisioner writes its "
			    "leases again when it starts)",
			    pin_dir, old);
			r = -EPROTO;
			goto fail;
		}
	}
	r = check_kept_maps(&cfg, discard);
	if (r)
		goto fail;
	for (i = 0; i < (int)NMAPS; i++)
		had_map[i] = pinned(map_names[i]);

	r = open_skel(&skel, (uint32_t)nslots, tr);
	if (r)
		goto fail;
	/* Nothing of ours runs yet: the new transient maps go in now. */
	r = adopt_transient(tr);
	transient_put(tr);
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
	/*
	 * Both sides in one mode.  A native side redirects only into a
	 * device that takes XDP frames from a driver (ndo_xdp_xmit), and a
	 * generic side's frame is an skb: mixing them drops every redirected
	 * packet.  auto: native on both, else generic on both.
	 */
	ntry = 0;
	if (mode == MODE_NATIVE || mode == MODE_AUTO) {
		/* Each side redirects into the other (and hairpins into its
		 * own): both must take native-XDP frames. */
		bool say = mode == MODE_NATIVE;

		if (!takes_xdp_redirect(lan_if, lan, say) ||
		    !takes_xdp_redirect(wan_if, wan, say)) {
			if (mode == MODE_NATIVE) {
				err("Failed to attach in native mode: "
				    "redirected packets would be dropped (try "
				    "--mode generic)");
				r = -EOPNOTSUPP;
				goto fail;
			}
			err("warning: %s or %s cannot take frames redirected "
			    "by native XDP: using generic XDP on both sides "
			    "(slower)",
			    lan, wan);
			mode = MODE_GENERIC;
		}
	}
	if (mode == MODE_AUTO) {
		try[ntry++] = MODE_NATIVE;
		try[ntry++] = MODE_GENERIC;
	} else {
		try[ntry++] = mode;
	}
	for (t = 0; t < ntry; t++) {
		bool quiet = t + 1 < ntry;

		r = attach_one(skel->progs.xdp_lan, skel->progs.tc_lan, lan_if,
			       lan, try[t], "lan", &used_lan, quiet);
		if (r && quiet) {
			err("warning: %s: native XDP not supported by the "
			    "driver, using generic XDP on both sides (slower)",
			    lan);
			continue;
		}
		if (r)
			goto fail;
		lan_on = true;
		r = attach_one(skel->progs.xdp_wan, skel->progs.tc_wan, wan_if,
			       wan, try[t], "wan", &used_wan, quiet);
		if (r && quiet) {
			err("warning: %s: native XDP not supported by the "
			    "driver, using generic XDP on both sides (slower)",
			    wan);
			side_detach("lan");
			lan_on = false;
			continue;
		}
		if (r)
			goto fail;
		wan_on = true;
		break;
	}
	tune_sysctls(lan, wan);
	if (cfg.lan_vid && vlan_dev[0])
		tune_sysctls(vlan_dev, wan);
	printf("attached: lan %s%s%s (%s) wan %s (%s); lan pool %s (%u "
	       "addresses), public pool %s/%u, slot %lu ports\n",
	       lan, vlan_dev[0] ? " vlan " : "", vlan_dev, mode_names[used_lan],
	       wan, mode_names[used_wan], lan_pool, cfg.lan_size,
	       ip_str(cfg.pub_net, b1), 32 - __builtin_ctz(cfg.pub_count),
	       slot_size);
	nappt_bpf__destroy(skel);
	nappt_maps_close(&lk);
	return 0;
fail:
	/*
	 * Remove only what this attach made: maps kept by `detach
	 * --keep-maps` hold every lease, and the provisioner writes to them.
	 */
	if (wan_on)
		side_detach("wan");
	if (lan_on)
		side_detach("lan");
	if (made_links) {
		snprintf(path, sizeof(path), "%s/links", pin_dir);
		rmdir(path);
	}
	if (skel) {
		nappt_bpf__destroy(skel);
		unpin_maps(had_map);
	} else if (made_dir) {
		rmdir(pin_dir);
	}
	nappt_maps_close(&lk);
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
		unpin_maps(NULL);
	if (n == 0 && access(pin_dir, F_OK) != 0) {
		err("nothing attached (no %s)", pin_dir);
		return 1;
	}
	printf("detached %d program(s)%s\n", n, keep ? ", maps kept" : "");
	return 0;
}

/*
 * Both sides or neither: a half-done upgrade would run two program
 * generations against the same maps.  Every side is found and its old
 * program held before anything changes; if a replacement fails, the sides
 * already done get their old program back.
 */
static int cmd_upgrade(int argc, char **argv)
{
	static const char *const sides[] = { "lan", "wan" };
	struct nappt_maps m = NAPPT_MAPS_INIT;
	struct nappt_bpf *skel = NULL;
	struct side_att a[2];
	struct transient tr[2] = { { .old_fd = -1 }, { .old_fd = -1 } };
	int old_fd[2] = { -1, -1 }, new_fd[2];
	uint64_t nslots;
	int i, k, r, rc = 1;

	if (argc > 1)
		die_usage("upgrade takes no arguments");
	for (i = 0; i < 2; i++)
		a[i].fd = -1;
	r = open_maps(&m);
	if (r)
		return 1;
	for (i = 0; i < 2; i++) {
		if (side_find(sides[i], &a[i]) || a[i].fd < 0 ||
		    (a[i].kind == SIDE_LINK && !a[i].info_ok)) {
			err("Failed to upgrade: %s side not attached or its pin "
			    "unreadable; nothing changed",
			    sides[i]);
			goto out;
		}
		old_fd[i] = a[i].kind == SIDE_CLS ?
				    dup(a[i].fd) :
				    bpf_prog_get_fd_by_id(a[i].prog_id);
		if (old_fd[i] < 0) {
			explain(-errno, "hold the running program");
			goto out;
		}
	}
	nslots = (uint64_t)m.cfg.pub_count * m.cfg.slots_per_ip;
	if (open_skel(&skel, (uint32_t)nslots, tr))
		goto out;
	for (i = 0; i < 2; i++) {
		struct bpf_program *prog;

		if (a[i].kind == SIDE_CLS ||
		    a[i].info.type == NAPPT_BPF_LINK_TYPE_TCX)
			prog = i ? skel->progs.tc_wan : skel->progs.tc_lan;
		else
			prog = i ? skel->progs.xdp_wan : skel->progs.xdp_lan;
		new_fd[i] = bpf_program__fd(prog);
	}
	/* One upgrade at a time, and the config rewrite below is a
	 * read-modify-write; not held across the load above (the
	 * provisioner's writes wait for it). */
	r = nappt_maps_lock(&m);
	if (r) {
		explain(r, "lock the pin directory");
		goto out;
	}
	for (i = 0; i < 2; i++) {
		/* Atomic per side: the link swaps its program in one step. */
		r = side_replace(&a[i], new_fd[i], old_fd[i]);
		if (!r)
			continue;
		err("Failed to upgrade %s (%s): %s", sides[i], a[i].path,
		    strerror(-r));
		for (k = i - 1; k >= 0; k--) {
			if (side_replace(&a[k], old_fd[k], new_fd[k]))
				err("Failed to roll back %s: it runs the new "
				    "program, %s the old one",
				    sides[k], sides[i]);
			else
				err("rolled back %s to program %u", sides[k],
				    a[k].prog_id);
		}
		goto out;
	}
	for (i = 0; i < 2; i++)
		printf("upgraded %s: program %u -> %u\n", sides[i],
		       a[i].prog_id, prog_id(new_fd[i]));
	/* The new programs run: their maps take the pins. */
	if (adopt_transient(tr))
		err("warning: 'nappt stats' reads the old counters until the "
		    "next upgrade");
	/* Pick up a changed LAN MTU or MAC for the inbound fast path. */
	if (m.cfg.lan_ifindex) {
		char ifn[IF_NAMESIZE], vdev[IF_NAMESIZE];
		const char *l3 = ifn;
		__u32 zero = 0;

		if (if_indextoname(m.cfg.lan_ifindex, ifn) &&
		    nappt_maps_reload_config(&m) == 0) {
			/* Voice VLAN: the VLAN device's MAC and MTU. */
			if (m.cfg.lan_vid &&
			    vlan_dev_of(ifn, m.cfg.lan_vid, vdev,
					sizeof(vdev)) == 0)
				l3 = vdev;
			if (lan_link_info(l3, &m.cfg) == 0)
				bpf_map_update_elem(m.config_fd, &zero, &m.cfg,
						    BPF_ANY);
		}
	}
	rc = 0;
out:
	for (i = 0; i < 2; i++) {
		side_put(&a[i]);
		if (old_fd[i] >= 0)
			close(old_fd[i]);
	}
	transient_put(tr);
	nappt_bpf__destroy(skel);
	nappt_maps_close(&m);
	return rc;
}

/* --- the gateway's configuration (-c FILE) ----------------------------- */

/* Read and check FILE: the whole of it, and what the loader needs.  The
 * number of errors (each printed as FILE:LINE: reason), or 1 if it cannot
 * be read. */
static int load_conf(const char *path)
{
	int r = conf_load(path, &gw_conf, stderr);

	if (r < 0) {
		err("Failed to read %s: %s", path, strerror(-r));
		return 1;
	}
	r += conf_require(&gw_conf, CONF_LOADER, stderr);
	if (r)
		err("%s: %d error(s)", path, r);
	return r;
}

static int cmd_check(const char *path)
{
	char l[32], p[32];

	if (load_conf(path))
		return 1;
	printf("%s: configuration OK (lan %s, wan %s, lan pool %s, public "
	       "pool %s, slot %u ports, pin dir %s)\n",
	       path, gw_conf.interface, gw_conf.dataplane.wan_interface,
	       pool_str(htonl(gw_conf.lan_net), gw_conf.lan_size, l, sizeof(l)),
	       pool_str(htonl(gw_conf.pub_net), gw_conf.pub_count, p,
			sizeof(p)),
	       gw_conf.slot_size, gw_conf.pin_dir);
	return 0;
}

/*
 * attach from the configuration: the same checks and code as the ad-hoc
 * flags, fed from the file, so the two cannot drift apart.  Only
 * --discard-leases is taken from the command line: it is an operator's
 * one-off decision, not a setting.
 */
static int cmd_attach_conf(int argc, char **argv)
{
	char lp[32], pp[32], ss[16], gw[INET_ADDRSTRLEN];
	const struct conf_dataplane *d = &gw_conf.dataplane;
	char *av[24];
	int ac = 0, i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--discard-leases"))
			die_usage("with -c the configuration says how to "
				  "attach: attach takes only "
				  "--discard-leases ('%s')",
				  argv[i]);
	pool_str(htonl(gw_conf.lan_net), gw_conf.lan_size, lp, sizeof(lp));
	pool_str(htonl(gw_conf.pub_net), gw_conf.pub_count, pp, sizeof(pp));
	snprintf(ss, sizeof(ss), "%u", gw_conf.slot_size);
	ip_str(htonl(gw_conf.gateway), gw);
	av[ac++] = "attach";
	av[ac++] = "--lan";
	av[ac++] = gw_conf.interface;
	av[ac++] = "--wan";
	av[ac++] = gw_conf.dataplane.wan_interface;
	av[ac++] = "--lan-pool";
	av[ac++] = lp;
	av[ac++] = "--pub-pool";
	av[ac++] = pp;
	av[ac++] = "--slot-size";
	av[ac++] = ss;
	av[ac++] = "--lan-gw";
	av[ac++] = gw;
	av[ac++] = "--mode";
	av[ac++] = d->mode[0] ? gw_conf.dataplane.mode : "auto";
	if (d->drop_unknown)
		av[ac++] = "--drop-unknown";
	if (d->route_by_source)
		av[ac++] = "--route-by-source";
	if (d->lan_foreign)
		av[ac++] = "--lan-foreign";
	if (argc > 1)
		av[ac++] = "--discard-leases";
	av[ac] = NULL;
	return cmd_attach(ac, av);
}

/* 0 if the attached data plane has the file's pools and slot size,
 * -EINVAL (said, naming both values) if not, -errno if nothing to read.
 * lan_gw: the attached LAN gateway address, if not NULL. */
static int conf_vs_pins(uint32_t *lan_gw)
{
	struct nappt_maps m = NAPPT_MAPS_INIT;
	char why[512];
	int r;

	r = nappt_maps_open(&m, pin_dir);
	if (r)
		return r;
	r = nappt_config_mismatch(&m.cfg, htonl(gw_conf.lan_net),
				  gw_conf.lan_size, htonl(gw_conf.pub_net),
				  gw_conf.pub_count, gw_conf.slot_size, pin_dir,
				  why, sizeof(why));
	if (r)
		err("%s: %s", conf_path, why);
	if (lan_gw)
		*lan_gw = m.cfg.lan_gw;
	nappt_maps_close(&m);
	return r;
}

/*
 * reload (= upgrade) with -c: the settings that do not size the maps take
 * the file's values too, so the running data plane is what the file says
 * after a `systemctl reload` (pools and mode change only by detach +
 * attach).  Under the writers' lock, from the config as it is now.
 */
static int apply_conf_settings(void)
{
	static const uint32_t ours = NAPPT_CFG_DROP_UNKNOWN_IN |
				     NAPPT_CFG_ROUTE_BY_SRC |
				     NAPPT_CFG_LAN_FOREIGN;
	const struct conf_dataplane *d = &gw_conf.dataplane;
	struct nappt_maps m = NAPPT_MAPS_INIT;
	uint32_t flags, gw = htonl(gw_conf.gateway);
	__u32 zero = 0;
	int r;

	r = nappt_maps_open(&m, pin_dir);
	if (!r)
		r = nappt_maps_lock(&m);
	if (!r)
		r = nappt_maps_reload_config(&m);
	if (r) {
		explain(r, "read the config map");
		goto out;
	}
	flags = m.cfg.flags & ~ours;
	if (d->drop_unknown)
		flags |= NAPPT_CFG_DROP_UNKNOWN_IN;
	if (d->route_by_source)
		flags |= NAPPT_CFG_ROUTE_BY_SRC;
	if (d->lan_foreign)
		flags |= NAPPT_CFG_LAN_FOREIGN;
	if (flags == m.cfg.flags && gw == m.cfg.lan_gw)
		goto out;
	if (gw != m.cfg.lan_gw) {
		r = gw_on_phone(&m, gw);
		if (r)
			goto out;
	}
	m.cfg.flags = flags;
	m.cfg.lan_gw = gw;
	if (bpf_map_update_elem(m.config_fd, &zero, &m.cfg, BPF_ANY)) {
		r = explain(-errno, "write config map");
		goto out;
	}
	printf("settings from %s: drop_unknown %s, route_by_source %s, "
	       "lan_foreign %s, gateway %s\n",
	       conf_path, d->drop_unknown ? "yes" : "no",
	       d->route_by_source ? "yes" : "no", d->lan_foreign ? "yes" : "no",
	       inet_ntoa((struct in_addr){ .s_addr = gw }));
out:
	nappt_maps_close(&m);
	return r;
}

/* A sample's value in a Prometheus text file, or -ENOENT. */
static int prom_value(const char *path, const char *metric, double *v)
{
	char line[512];
	size_t n = strlen(metric);
	FILE *f = fopen(path, "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, metric, n) && line[n] == ' ' &&
		    sscanf(line + n, "%lf", v) == 1) {
			r = 0;
			break;
		}
	fclose(f);
	return r;
}

/*
 * One line per metric of a Prometheus text file (node_exporter textfile
 * format, as the provisioner and tftpd write them): "name v" or "name
 * label=v label=v ...".  The file is another process's: what it holds is
 * printed, never trusted (non-printable bytes shown as '?').
 */
static void show_prom(const char *who, const char *path)
{
	char line[512], cur[128] = "";
	struct stat st;
	long age;
	FILE *f;

	if (!path[0]) {
		printf("%-12s no stats (no stats_file for it in %s)\n", who,
		       conf_path);
		return;
	}
	f = fopen(path, "re");
	if (!f) {
		printf("%-12s not running / no stats (%s: %s)\n", who, path,
		       strerror(errno));
		return;
	}
	age = fstat(fileno(f), &st) ? -1 : (long)(time(NULL) - st.st_mtime);
	printf("%-12s %s, written %ld s ago%s\n", who, path, age,
	       age > STATS_STALE_S ? " (stale: not running?)" : "");
	while (fgets(line, sizeof(line), f)) {
		size_t name_len, i;
		char *val, *lab;

		line[strcspn(line, "\n")] = '\0';
		for (i = 0; line[i]; i++)
			if ((unsigned char)line[i] < 0x20 ||
			    (unsigned char)line[i] > 0x7e)
				line[i] = '?';
		if (!line[0] || line[0] == '#')
			continue;
		name_len = strcspn(line, "{ ");
		val = strrchr(line, ' ');
		if (!val || name_len == 0 || name_len >= sizeof(cur))
			continue;
		*val++ = '\0';
		if (strncmp(cur, line, name_len) || cur[name_len]) {
			if (cur[0])
				putchar('\n');
			memcpy(cur, line, name_len);
			cur[name_len] = '\0';
			printf("  %s", cur);
		}
		lab = line[name_len] == '{' ? line + name_len + 1 : NULL;
		if (!lab) {
			printf(" %s", val);
			continue;
		}
		/* {type="discover",x="y"} -> discover,y=VALUE */
		putchar(' ');
		for (i = 0; lab[i] && lab[i] != '}'; i++) {
			char *q = strchr(lab + i, '"'), *e;

			if (!q || !(e = strchr(q + 1, '"')))
				break;
			printf("%s%.*s", i ? "," : "", (int)(e - q - 1), q + 1);
			i = (size_t)(e - lab);
		}
		printf("=%s", val);
	}
	if (cur[0])
		putchar('\n');
	fclose(f);
}

/* status with -c: the file against the pins, leases next to the map
 * fill, the provisioner's and tftpd's counters. */
static void status_conf(bool attached_dp, unsigned long mapped)
{
	double leases;

	if (attached_dp) {
		char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
		uint32_t gw = htonl(gw_conf.gateway);
		int r = conf_vs_pins(&gw);

		if (!r && gw == htonl(gw_conf.gateway))
			printf("config:      %s matches the attached data "
			       "plane\n",
			       conf_path);
		if (r == -EINVAL)
			printf("config:      MISMATCH with %s (above): the "
			       "provisioner refuses to serve\n",
			       conf_path);
		if (gw != htonl(gw_conf.gateway))
			printf("config:      gateway %s in %s but the data "
			       "plane's lan gateway is %s ('nappt -c FILE "
			       "upgrade' sets it)\n",
			       ip_str(htonl(gw_conf.gateway), a), conf_path,
			       ip_str(gw, b));
	}
	if (gw_conf.stats_file[0] &&
	    !prom_value(gw_conf.stats_file, "nappt_dhcp_leases", &leases))
		printf("leases:      %.0f in the provisioner's store, %lu "
		       "mapped in the data plane\n",
		       leases, mapped);
	else
		printf("leases:      %lu mapped in the data plane "
		       "(provisioner: no stats)\n",
		       mapped);
	show_prom("provisioner:", gw_conf.stats_file);
	show_prom("tftpd:", gw_conf.tftpd.stats_file);
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
	if (c->slots_per_ip && served_pubs(c) < c->pub_count)
		printf("served:      %u of %u public addresses (the LAN pool "
		       "derives private addresses for those only)\n",
		       served_pubs(c), c->pub_count);
	printf("lan gateway: %s\n", c->lan_gw ? ip_str(c->lan_gw, g) : "-");
	if (c->lan_ifindex)
		printf("fast path:   to phones via ifindex %u, mtu %u, "
		       "%02x:%02x:%02x:%02x:%02x:%02x\n",
		       c->lan_ifindex, c->lan_mtu, c->lan_mac[0], c->lan_mac[1],
		       c->lan_mac[2], c->lan_mac[3], c->lan_mac[4],
		       c->lan_mac[5]);
	if (c->lan_vid)
		printf("voice vlan:  %u on ifindex %u (tagged frames only)\n",
		       c->lan_vid, c->lan_ifindex);
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
	if (r == -ENOENT && !no_bpffs()) {
		printf("not attached (nothing pinned in %s)\n", pin_dir);
		if (conf_path)
			status_conf(false, 0);
		return 1;
	}
	if (r) {
		if (r != -ENOENT)
			explain(r, "open pinned maps");
		return 1;
	}
	for (i = 0; i < 2; i++) {
		char ifn[IF_NAMESIZE] = "?";
		const char *kind = "?";
		struct side_att a;

		if (side_find(sides[i], &a)) {
			printf("%s: not attached\n", sides[i]);
			continue;
		}
		if (a.ifindex > 0 &&
		    !if_indextoname((unsigned int)a.ifindex, ifn))
			snprintf(ifn, sizeof(ifn), "?");
		if (a.kind == SIDE_CLS) {
			printf("%s: tc cls_bpf on %s (ifindex %d), program id "
			       "%u\n",
			       sides[i], ifn, a.ifindex, a.prog_id);
		} else if (!a.info_ok) {
			printf("%s: pinned link %s unreadable\n", sides[i],
			       a.path);
		} else {
			if (a.info.type == BPF_LINK_TYPE_XDP)
				kind = "xdp";
			else if (a.info.type == NAPPT_BPF_LINK_TYPE_TCX)
				kind = "tcx";
			printf("%s: %s on %s (ifindex %d), program id %u, link "
			       "id %u%s\n",
			       sides[i], kind, ifn, a.ifindex, a.prog_id,
			       a.info.id,
			       a.ifindex ? "" : " (detached from its device)");
		}
		side_put(&a);
	}
	print_config(&m.cfg);
	/* A phone is leased when its first slot is (libnappt). */
	r = nappt_phone_foreach(&m, count_phone, &f);
	if (r)
		explain(r, "walk the slots map");
	printf("phones:      %lu leased, %lu ports mapped\n", f.phones,
	       f.ports);
	{
		/* Map fill: `slots` is the only per-phone map, one 8-byte
		 * entry per (public address, slot); a full one refuses
		 * leases. */
		uint64_t nslots =
			(uint64_t)m.cfg.pub_count * m.cfg.slots_per_ip;
		uint64_t used = f.ports >> (m.cfg.slot_shift & 31);

		printf("map fill:    slots %llu of %llu (%.1f%%), %llu KiB\n",
		       (unsigned long long)used, (unsigned long long)nslots,
		       nslots ? 100.0 * used / nslots : 0,
		       (unsigned long long)(nslots * sizeof(struct nappt_slot) /
					    1024));
	}
	nappt_maps_close(&m);
	if (conf_path)
		status_conf(true, f.phones);
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
	r = open_maps(&m);
	if (r)
		return 1;
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
	uint32_t old_gw;
	__u32 zero = 0;
	int r, i;

	r = open_maps(&m);
	if (r)
		return 1;
	if (argc == 1) {
		print_config(&m.cfg);
		goto out;
	}
	/* The pools size the maps, so only the knobs that do not are
	 * changeable in place; new pools mean detach + attach. */
	if (strcmp(argv[1], "set"))
		die_usage("pool takes no argument or 'set'");
	/* Read-modify-write of the config: one writer at a time, from the
	 * config as it is now. */
	r = nappt_maps_lock(&m);
	if (!r)
		r = nappt_maps_reload_config(&m);
	if (r) {
		explain(r, "lock and read the config");
		goto out;
	}
	old_gw = m.cfg.lan_gw;
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
	if (m.cfg.lan_gw != old_gw) {
		r = gw_on_phone(&m, m.cfg.lan_gw);
		if (r)
			goto out;
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

/* Why nappt_phone_add said -ERANGE: which address is outside what. */
static void explain_range(const struct nappt_maps *m, uint32_t priv,
			  const struct nappt_phone *p, const char *pub_s)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	uint32_t n = served_pubs(&m->cfg);

	if (nappt_lan_index(&m->cfg, priv) < 0 ||
	    nappt_pub_index(&m->cfg, p->pub_ip) < 0)
		err("Failed to add phone: address outside the configured "
		    "pools");
	else if (n)
		err("Failed to add phone: %s %u-%u has no private address in "
		    "the LAN pool (it derives addresses for %s-%s only, and "
		    "never the LAN broadcast)",
		    pub_s, p->port_first, p->port_last,
		    ip_str(m->cfg.pub_net, a),
		    ip_str(htonl(ntohl(m->cfg.pub_net) + n - 1), b));
	else
		err("Failed to add phone: %s %u-%u has no private address in "
		    "the LAN pool (%u addresses)",
		    pub_s, p->port_first, p->port_last, m->cfg.lan_size);
}

static int phone_add(struct nappt_maps *m, uint32_t priv,
		     const struct nappt_phone *p, const char *pub_s)
{
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
	uint32_t derived = 0;
	int r = nappt_phone_add(m, priv, p);

	if (r == -ETIMEDOUT)
		err("Failed to add phone: another writer holds %s locked",
		    pin_dir);
	else if (r == -EADDRNOTAVAIL &&
		 !nappt_phone_addr(&m->cfg, p->pub_ip, p->port_first, &derived))
		/* Deterministic NAT (RFC 7422): the data plane finds the
		 * phone of a port by arithmetic, so the range names the
		 * address. */
		err("Failed to add phone: %s %u-%u is served at %s, not %s "
		    "(the private address is derived from the public "
		    "address and the first slot: 'nappt phone addr %s "
		    "%u-%u')",
		    pub_s, p->port_first, p->port_last, ip_str(derived, a),
		    ip_str(priv, b), pub_s, p->port_first, p->port_last);
	else if (r == -ERANGE)
		explain_range(m, priv, p, pub_s);
	else if (r == -EINVAL)
		err("Failed to add phone: range %u-%u must be whole slots of "
		    "%u ports and above 1023, MAC a unicast address, the "
		    "address not the gateway's",
		    p->port_first, p->port_last, 1U << m->cfg.slot_shift);
	else if (r == -EBUSY)
		err("Failed to add phone: part of %s %u-%u belongs to another "
		    "phone",
		    pub_s, p->port_first, p->port_last);
	else if (r)
		explain(r, "add phone");
	return r;
}

/* `phone addr PUB RANGE`: the private address a lease of RANGE on PUB
 * must use, for scripts and operators (nappt_phone_addr). */
static int phone_addr(const struct nappt_maps *m, const struct nappt_phone *p,
		      const char *pub_s)
{
	char a[INET_ADDRSTRLEN];
	uint32_t derived;
	int r;

	if (p->port_first < 1024 ||
	    !nappt_range_whole_slots(&m->cfg, p->port_first, p->port_last)) {
		err("Failed to derive the address: range %u-%u must be whole "
		    "slots of %u ports above 1023",
		    p->port_first, p->port_last, 1U << m->cfg.slot_shift);
		return -EINVAL;
	}
	r = nappt_phone_addr(&m->cfg, p->pub_ip, p->port_first, &derived);
	if (r == -ERANGE) {
		explain_range(m, m->cfg.lan_net, p, pub_s);
		return r;
	}
	if (r == -EADDRINUSE) {
		err("Failed to derive the address: %s %u-%u derives %s, the "
		    "gateway's own address: no phone's range",
		    pub_s, p->port_first, p->port_last,
		    ip_str(m->cfg.lan_gw, a));
		return r;
	}
	if (r)
		return explain(r, "derive the address");
	printf("%s\n", ip_str(derived, a));
	return 0;
}

static int cmd_phone(int argc, char **argv)
{
	struct nappt_maps m = NAPPT_MAPS_INIT;
	struct nappt_phone p = { 0 };
	const char *pub_s = NULL;
	uint32_t priv = 0;
	int r;

	if (argc < 2)
		die_usage("phone needs add, addr, del or list");
	if (!strcmp(argv[1], "add")) {
		if (argc != 6)
			die_usage("usage: phone add PRIV_IP MAC PUB_IP "
				  "FIRST-LAST");
		if (parse_ip(argv[2], &priv))
			die_usage("bad private address '%s'", argv[2]);
		if (nappt_parse_mac(argv[3], p.mac))
			die_usage("bad MAC '%s'", argv[3]);
		pub_s = argv[4];
	} else if (!strcmp(argv[1], "addr")) {
		if (argc != 4)
			die_usage("usage: phone addr PUB_IP FIRST-LAST");
		pub_s = argv[2];
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
	if (pub_s) {
		if (parse_ip(pub_s, &p.pub_ip))
			die_usage("bad public address '%s'", pub_s);
		if (nappt_parse_range(argv[argc - 1], &p.port_first,
				      &p.port_last))
			die_usage("bad port range '%s'", argv[argc - 1]);
	}

	/* `phone addr` is arithmetic on the pools: with -c and nothing
	 * attached (yet), the file's pools say it. */
	if (!strcmp(argv[1], "addr") && conf_path && !pinned("config")) {
		m.cfg.lan_net = htonl(gw_conf.lan_net);
		m.cfg.lan_size = gw_conf.lan_size;
		m.cfg.lan_gw = htonl(gw_conf.gateway);
		m.cfg.pub_net = htonl(gw_conf.pub_net);
		m.cfg.pub_count = gw_conf.pub_count;
		while (m.cfg.slot_shift < NAPPT_SLOT_SHIFT_MAX &&
		       (1U << m.cfg.slot_shift) < gw_conf.slot_size)
			m.cfg.slot_shift++;
		m.cfg.slots_per_ip = 65536U >> m.cfg.slot_shift;
		return phone_addr(&m, &p, pub_s) ? 1 : 0;
	}
	r = open_maps(&m);
	if (r)
		return 1;
	if (!strcmp(argv[1], "add")) {
		r = phone_add(&m, priv, &p, pub_s);
	} else if (!strcmp(argv[1], "addr")) {
		r = phone_addr(&m, &p, pub_s);
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	bool check = false, pin_dir_set = false;
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "attach", cmd_attach },   { "detach", cmd_detach },
		{ "status", cmd_status },   { "stats", cmd_stats },
		{ "upgrade", cmd_upgrade }, { "pool", cmd_pool },
		{ "phone", cmd_phone },
	};
	size_t i;
	int c;

	/* Options before the command only; the command parses the rest. */
	while ((c = getopt_long(argc, argv, "+c:nvh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pin_dir = optarg;
			pin_dir_set = true;
			break;
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			check = true;
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
	if (check) {
		if (optind < argc)
			die_usage("-n checks the configuration and takes no "
				  "command");
		if (!conf_path)
			conf_path = NAPPT_CONF_DEFAULT;
		return cmd_check(conf_path);
	}
	if (optind >= argc)
		die_usage("no command given");
	if (conf_path) {
		bool broken = load_conf(conf_path);

		/* A typo made after attach must not keep `systemctl stop`
		 * from detaching, nor hide the state: detach and status
		 * need only pin_dir.  Everything else fails closed. */
		if (broken && (strcmp(argv[optind], "detach") &&
			       strcmp(argv[optind], "status")))
			return 1;
		if (broken && access(gw_conf.pin_dir, F_OK))
			return 1;
		if (broken)
			err("warning: going on with pin_dir %s",
			    gw_conf.pin_dir);
		if (!pin_dir_set)
			pin_dir = gw_conf.pin_dir;
	}
	libbpf_set_print(libbpf_print);
	if (conf_path && !strcmp(argv[optind], "attach"))
		return cmd_attach_conf(argc - optind, argv + optind);
	/* An upgrade keeps the attached pools (they size the maps): a file
	 * that says others would leave the provisioner refusing to start. */
	if (conf_path && !strcmp(argv[optind], "upgrade")) {
		if (conf_vs_pins(NULL) == -EINVAL) {
			err("Failed to upgrade: the pools change only by "
			    "'nappt detach' and 'nappt attach'; nothing "
			    "changed");
			return 1;
		}
		if (cmd_upgrade(argc - optind, argv + optind))
			return 1;
		return apply_conf_settings() ? 1 : 0;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[optind], cmds[i].name))
			return cmds[i].fn(argc - optind, argv + optind);
	die_usage("unknown command '%s'", argv[optind]);
	return 2;
}
