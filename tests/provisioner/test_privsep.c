// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * A compromised DHCP parser (threat model line 10, invariant 12): this
 * program becomes the parser exactly as nappt-provisioner does (the same
 * calls in the same order: privsep_user, lease_store_open, the map writer
 * forked with the configuration's limits, privsep_enter_jail into the
 * phone directory), then tries, as code an attacker runs inside it would,
 * everything the README says it cannot do.  Each attempt must fail; the
 * last tests check that the parser can still do its own job.
 *
 * Usage (tests/provisioner/test-privsep.sh): test_privsep PIN_DIR LAN_IF
 * in a namespace where the data plane is attached with its pins in
 * PIN_DIR, LAN pool 100.64.0.0/16, public pool 203.0.113.0/28.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <cmocka.h>

#include "lease-store.h"
#include "libnappt.h"
#include "privsep.h"
#include "render.h"

static char lan[16], pin_dir[200], links[8][512], dir[64], jail[128], db[128];
static int nlinks;
static struct pm *pm;
static struct lease_store *store;
static pid_t victim; /* a root process */
static uid_t uid;
static gid_t gid;
static const uint16_t reserved[][2] = { { 5060, 5061 }, { 8000, 8099 } };

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static struct lease mk(const char *priv, const char *pub, uint16_t first,
		       uint16_t last)
{
	struct lease l;

	memset(&l, 0, sizeof(l));
	l.mac[0] = 0x00;
	l.mac[1] = 0x1b;
	l.mac[2] = 0x54;
	l.mac[5] = 0x42;
	l.priv_ip = ip(priv);
	l.pub_ip = ip(pub);
	l.port_first = first;
	l.port_last = last;
	l.expires = 4000000000LL;
	snprintf(l.model, sizeof(l.model), "cisco-7940");
	return l;
}

/* mk() at the address the range derives (issue 13): lan_net + public
 * index x 64 + first slot, with the pools of the header comment. */
static struct lease mkd(const char *pub, uint16_t first, uint16_t last)
{
	struct lease l = mk("0.0.0.0", pub, first, last);

	l.priv_ip = htonl(0x64400000 + (ntohl(l.pub_ip) - 0xcb007100) * 64 +
			  (first >> 10));
	return l;
}

/* --- what a compromised parser tries ------------------------------------- */

static void test_is_not_root(void **state)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct c[2] = { 0 };

	assert_int_not_equal(getuid(), 0);
	assert_int_not_equal(geteuid(), 0);
	assert_int_not_equal(getgid(), 0);
	assert_int_equal(syscall(SYS_capget, &h, c), 0);
	assert_int_equal(c[0].effective | c[0].permitted | c[1].effective |
				 c[1].permitted,
			 0);
	/* And cannot become root again. */
	assert_int_not_equal(setuid(0), 0);
	assert_int_not_equal(setgid(0), 0);
}

static void test_cannot_unlink_links(void **state)
{
	int i;

	assert_true(nlinks > 0);
	for (i = 0; i < nlinks; i++) {
		assert_int_equal(unlink(links[i]), -1);
		assert_int_equal(errno, ENOENT); /* no path to the pins */
	}
	/* Nor reach a link by id (needs CAP_SYS_ADMIN). */
	{
		__u32 id = 0;

		assert_int_not_equal(bpf_link_get_next_id(0, &id), 0);
		assert_int_equal(bpf_link_get_fd_by_id(1), -1);
	}
}

static void test_cannot_open_maps(void **state)
{
	static const char *const names[] = { "phones", "slots", "config",
					     "stats" };
	char p[300];
	__u32 id = 0;
	unsigned int i;
	int fd;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", pin_dir, names[i]);
		assert_true(bpf_obj_get(p) < 0);
	}
	assert_true(bpf_obj_get("/sys/fs/bpf") < 0);
	assert_int_not_equal(bpf_map_get_next_id(0, &id), 0);
	for (i = 1; i < 64; i++)
		assert_true(bpf_map_get_fd_by_id(i) < 0);
	/* No map descriptor inherited either: not one open fd is a BPF
	 * object. */
	for (fd = 0; fd < 1024; fd++) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);

		if (fcntl(fd, F_GETFD) < 0)
			continue;
		memset(&info, 0, sizeof(info));
		assert_int_not_equal(bpf_obj_get_info_by_fd(fd, &info, &len),
				     0);
	}
	/* Nor load a program of its own. */
	{
		struct bpf_insn prog[] = {
			{ .code = BPF_ALU64 | BPF_MOV | BPF_K,
			  .dst_reg = BPF_REG_0,
			  .imm = 2 },
			{ .code = BPF_JMP | BPF_EXIT },
		};

		assert_true(bpf_prog_load(BPF_PROG_TYPE_XDP, NULL, "GPL", prog,
					  2, NULL) < 0);
	}
}

static void test_cannot_read_root_files(void **state)
{
	/* A root-only file inside its own root: uid and no
	 * CAP_DAC_OVERRIDE stop it. */
	assert_int_equal(open("/secret", O_RDONLY), -1);
	assert_int_equal(errno, EACCES);
	/* Outside its root: no path at all. */
	assert_int_equal(open("/etc/shadow", O_RDONLY), -1);
	assert_int_equal(open("/etc/passwd", O_RDONLY), -1);
	assert_int_equal(open(db, O_RDONLY), -1);
	assert_int_equal(open("/proc/1/environ", O_RDONLY), -1);
	/* And cannot leave its root: chroot needs CAP_SYS_CHROOT. */
	assert_int_equal(mkdir("/x", 0700), 0);
	assert_int_equal(chroot("/x"), -1);
	assert_int_equal(errno, EPERM);
	rmdir("/x");
	assert_int_equal(chdir("../../.."), 0);
	assert_int_equal(open("etc/passwd", O_RDONLY), -1);
}

static void test_cannot_kill_root(void **state)
{
	assert_int_equal(kill(victim, SIGKILL), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(kill(pm_pid(pm), SIGKILL), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(kill(1, SIGTERM), -1);
	assert_int_equal(ptrace(PTRACE_ATTACH, pm_pid(pm), NULL, NULL), -1);
	/* Still there. */
	assert_int_equal(kill(victim, 0), -1);
	assert_int_equal(errno, EPERM);
}

static void test_no_network_admin(void **state)
{
	struct arpreq ar = { 0 };
	struct rtentry rt = { 0 };
	struct sockaddr_in *a = (struct sockaddr_in *)&ar.arp_pa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	/* No CAP_NET_RAW: no raw frames or packets. */
	assert_int_equal(socket(AF_PACKET, SOCK_RAW, 0), -1);
	assert_int_equal(socket(AF_INET, SOCK_RAW, IPPROTO_UDP), -1);
	/* No CAP_NET_ADMIN: no ARP entry of its own, no route. */
	assert_true(fd >= 0);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = ip("100.64.0.1");
	ar.arp_ha.sa_family = ARPHRD_ETHER;
	ar.arp_flags = ATF_COM;
	snprintf(ar.arp_dev, sizeof(ar.arp_dev), "%s", lan);
	assert_int_equal(ioctl(fd, SIOCSARP, &ar), -1);
	assert_int_equal(errno, EPERM);
	a = (struct sockaddr_in *)&rt.rt_dst;
	a->sin_family = AF_INET;
	a = (struct sockaddr_in *)&rt.rt_gateway;
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = ip("100.64.0.99");
	a = (struct sockaddr_in *)&rt.rt_genmask;
	a->sin_family = AF_INET;
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	assert_int_equal(ioctl(fd, SIOCADDRT, &rt), -1);
	assert_int_equal(errno, EPERM);
	close(fd);
}

static void test_writer_refuses(void **state)
{
	struct lease l;

	/* Overlapping a reserved port: 5060, 8000-8099 are the gateway's. */
	l = mkd("203.0.113.1", 4096, 5119);
	assert_int_equal(pm_map_add(pm, &l), -EPERM);
	l = mkd("203.0.113.1", 7168, 8191);
	assert_int_equal(pm_map_add(pm, &l), -EPERM);
	/* Ports 0-1023. */
	l = mkd("203.0.113.1", 0, 1023);
	assert_int_equal(pm_map_add(pm, &l), -EPERM);
	/* Outside the public pool, outside the LAN pool. */
	l = mk("100.64.0.10", "203.0.113.16", 2048, 3071);
	assert_int_equal(pm_map_add(pm, &l), -ERANGE);
	l = mk("100.65.0.10", "203.0.113.1", 2048, 3071);
	assert_int_equal(pm_map_add(pm, &l), -ERANGE);
	/* The gateway's, the network's and the broadcast address. */
	l = mk("100.64.0.1", "203.0.113.1", 2048, 3071);
	assert_int_equal(pm_map_add(pm, &l), -EPERM);
	l = mk("100.64.0.0", "203.0.113.1", 2048, 3071);
	assert_int_equal(pm_map_add(pm, &l), -EPERM);
	l = mk("100.64.255.255", "203.0.113.1", 2048, 3071);
	assert_int_equal(pm_map_add(pm, &l), -EPERM);
	/* Issue 13: not the address the range derives (100.64.0.66). */
	l = mk("100.64.0.10", "203.0.113.1", 2048, 3071);
	assert_int_equal(pm_map_add(pm, &l), -EADDRNOTAVAIL);
	/* Not slot-aligned. */
	l = mkd("203.0.113.1", 2048, 2050);
	assert_true(pm_map_add(pm, &l) < 0);
	/* None of these reached the maps. */
	l = mkd("203.0.113.1", 2048, 3071);
	assert_int_equal(pm_map_check(pm, &l), 0);
}

static void test_writer_refuses_arp(void **state)
{
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x66 };

	assert_int_equal(pm_arp(pm, ip("100.64.0.1"), mac), -EPERM);
	assert_int_equal(pm_arp(pm, ip("100.64.0.0"), mac), -EPERM);
	assert_int_equal(pm_arp(pm, ip("100.64.255.255"), mac), -EPERM);
	assert_int_equal(pm_arp(pm, ip("198.51.100.7"), mac), -ERANGE);
	assert_int_equal(pm_arp(pm, ip("203.0.113.1"), mac), -ERANGE);
}

/* --- what it still does -------------------------------------------------- */

static int count_cb(const struct attribution *a, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_parser_still_works(void **state)
{
	int n = 0;
	struct lease l = mkd("203.0.113.1", 2048, 3071), got;
	uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 0x66 };

	/* Its store, through the descriptors opened before the drop. */
	assert_int_equal(lease_store_begin(store), 0);
	assert_int_equal(lease_store_put(store, &l, 100), 0);
	assert_int_equal(lease_store_commit(store), 0);
	assert_int_equal(lease_store_sync(store), 0);
	assert_int_equal(lease_store_get(store, l.mac, &got), 0);
	assert_int_equal(
		lease_store_who(store, l.pub_ip, 2100, 200, count_cb, &n), 1);
	/* Its files, in its root. */
	assert_int_equal(
		render_write_atomic("/", "001b54000042.cfg", "x\n", 2, 0), 0);
	/* A mapping and an ARP entry the configuration allows. */
	assert_int_equal(pm_map_add(pm, &l), 0);
	assert_int_equal(pm_map_check(pm, &l), 1);
	assert_int_equal(pm_map_del(pm, &l), 0);
	assert_int_equal(pm_arp(pm, l.priv_ip, mac), 0);
}

/* --- becoming the parser --------------------------------------------------- */

static int become_parser(const char *lan_if)
{
	struct nappt_maps maps;
	struct pm_limits lim = {
		.lan_net = 0x64400000, /* 100.64.0.0/16 */
		.lan_size = 65536,
		.gateway = 0x64400001,
		.reserved = reserved,
		.nreserved = 2,
	};
	struct dirent *de;
	char ld[256];
	DIR *d;
	int fd, r, vp[2];

	snprintf(dir, sizeof(dir), "/tmp/privsep.XXXXXX");
	if (!mkdtemp(dir))
		return -errno;
	snprintf(jail, sizeof(jail), "%s/phones", dir);
	snprintf(db, sizeof(db), "%s/leases.db", dir);
	if (mkdir(jail, 0755))
		return -errno;
	/* A root-only file where the parser can see it. */
	fd = open(jail, O_RDONLY | O_DIRECTORY);
	r = openat(fd, "secret", O_CREAT | O_WRONLY, 0600);
	if (r < 0 || write(r, "s3cret\n", 7) != 7)
		return -EIO;
	close(r);
	close(fd);
	/* The loader pins its links in PIN_DIR/links. */
	snprintf(ld, sizeof(ld), "%s/links", pin_dir);
	d = opendir(ld);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && nlinks < 8)
		if (de->d_name[0] != '.')
			snprintf(links[nlinks++], sizeof(links[0]), "%s/%s", ld,
				 de->d_name);
	closedir(d);
	/* The victim leaves when we do: its pipe closes (a parent-death
	 * signal would not reach it from an unprivileged parent). */
	if (pipe(vp))
		return -errno;
	victim = fork();
	if (victim == 0) {
		char c;

		close(vp[1]);
		while (read(vp[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(vp[0]);

	/* main.c's set_up(), in its order. */
	r = privsep_user(PRIVSEP_USER, &uid, &gid);
	if (r)
		return r;
	if (chown(jail, uid, gid))
		return -errno;
	r = lease_store_open(db, LS_DEFER_SYNC, &store);
	if (r)
		return r;
	r = nappt_maps_open(&maps, pin_dir);
	if (r)
		return r;
	r = pm_start_limits(&maps, lan_if, &lim, &pm);
	if (r)
		return r;
	nappt_maps_close(&maps);
	return privsep_enter_jail(jail, uid, gid);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_not_root),
		cmocka_unit_test(test_cannot_unlink_links),
		cmocka_unit_test(test_cannot_open_maps),
		cmocka_unit_test(test_cannot_read_root_files),
		cmocka_unit_test(test_cannot_kill_root),
		cmocka_unit_test(test_no_network_admin),
		cmocka_unit_test(test_writer_refuses),
		cmocka_unit_test(test_writer_refuses_arp),
		cmocka_unit_test(test_parser_still_works),
	};
	int r;

	if (argc != 3) {
		fprintf(stderr, "usage: test_privsep PIN_DIR LAN_IF\n");
		return 2;
	}
	snprintf(pin_dir, sizeof(pin_dir), "%s", argv[1]);
	snprintf(lan, sizeof(lan), "%s", argv[2]);
	r = become_parser(argv[2]);
	if (r) {
		fprintf(stderr, "Failed to become the parser: %s\n",
			strerror(-r));
		return 1;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	/* The writer (root) ends with us; the temporary tree is the
	 * shell's to remove. */
	printf("TMPDIR %s\n", dir);
	return r;
}
