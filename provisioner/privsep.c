// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The map writer: see privsep.h.  One request, one reply, over a
 * SOCK_SEQPACKET socket pair (message boundaries kept, so a short or long
 * message is refused whole).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/capability.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "log.h"
#include "privsep.h"

enum pm_op {
	PM_ADD = 1,
	PM_DEL,
	PM_CHECK,
	PM_ARP,
	PM_RC_LEASE, /* one lease of a reconcile list; no reply */
	PM_RC_END, /* the list is complete: reconcile, reply with stats */
	PM_RC_ABORT, /* forget the list */
	PM_STATS, /* write the counters file (struct pm_stats_req) */
};

struct pm_req {
	uint32_t op;
	uint8_t mac[6];
	uint16_t port_first, port_last;
	uint32_t priv_ip, pub_ip; /* network order */
};

struct pm_rep {
	int32_t r;
	struct sync_stats st;
};

/* The counters file's text, written by the writer: the parser has no
 * path to the file (its root is the phone directory). */
#define PM_STATS_MAX 8192
struct pm_stats_req {
	struct pm_req h;
	uint32_t len;
	char text[PM_STATS_MAX];
};

struct pm {
	int fd;
	pid_t pid;
};

/* --- the writer ------------------------------------------------------------ */

struct writer {
	struct nappt_maps *maps;
	char ifname[IFNAMSIZ];
	uint32_t lan_net, lan_size; /* host order */
	uint32_t gateway; /* host order; 0: none */
	uint16_t reserved[PM_MAX_RESERVED][2];
	int nreserved;
	char stats_file[256];
	int arp_fd;
	struct lease *list; /* a reconcile in progress */
	size_t nlist, caplist;
	int list_err; /* the first error while it was sent */
	unsigned int list_refused; /* leases of the list writer_allows refused */
};

static void lease_of(const struct pm_req *q, struct lease *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, q->mac, 6);
	l->priv_ip = q->priv_ip;
	l->pub_ip = q->pub_ip;
	l->port_first = q->port_first;
	l->port_last = q->port_last;
}

static int list_each(void *src, lease_cb cb, void *arg)
{
	struct writer *w = src;
	size_t i;
	int r;

	for (i = 0; i < w->nlist; i++) {
		r = cb(&w->list[i], arg);
		if (r)
			return r;
	}
	return 0;
}

/*
 * An address a phone may hold: in the LAN pool, and neither its network
 * nor its broadcast address nor the gateway's own.  An ARP entry for the
 * gateway's address would take its traffic; one for the broadcast address
 * would turn broadcasts into unicasts to one host.
 */
static int phone_addr(const struct writer *w, uint32_t ip_be)
{
	uint32_t h = ntohl(ip_be);

	if (h - w->lan_net >= w->lan_size)
		return -ERANGE;
	if (h == w->lan_net || h == w->lan_net + w->lan_size - 1 ||
	    (w->gateway && h == w->gateway))
		return -EPERM;
	return 0;
}

/*
 * What the configuration allows, checked here and not only by the
 * parser, which a crafted packet may own: a phone address (above), and a
 * range clear of ports 0-1023 and of every reserved range (the gateway's
 * own services live there; a mapping would steal their inbound traffic).
 * The pools and slot alignment are libnappt's check (nappt_phone_check).
 */
static int writer_allows(const struct writer *w, const struct lease *l)
{
	int i, r = phone_addr(w, l->priv_ip);

	if (r)
		return r;
	if (l->port_first > l->port_last || l->port_first < 1024)
		return -EPERM;
	for (i = 0; i < w->nreserved; i++)
		if (l->port_first <= w->reserved[i][1] &&
		    l->port_last >= w->reserved[i][0])
			return -EPERM;
	return 0;
}

/* Counters text into the configured file, atomically (tmp + rename). */
static int write_stats(const struct writer *w, const char *text, size_t len)
{
	char tmp[300];
	int fd, r = 0;

	if (!w->stats_file[0])
		return -ENOENT;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", w->stats_file) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fchmod(fd, 0644))
		r = errno ? -errno : -EIO;
	if (close(fd) && !r)
		r = -errno;
	if (!r && rename(tmp, w->stats_file))
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

static int do_arp(struct writer *w, uint32_t ip, const uint8_t mac[6])
{
	struct arpreq ar = { 0 };
	struct sockaddr_in *pa = (struct sockaddr_in *)&ar.arp_pa;
	int r = phone_addr(w, ip);

	/* Only a phone's address, only on the LAN. */
	if (r)
		return r;
	pa->sin_family = AF_INET;
	pa->sin_addr.s_addr = ip;
	ar.arp_ha.sa_family = ARPHRD_ETHER;
	memcpy(ar.arp_ha.sa_data, mac, 6);
	ar.arp_flags = ATF_COM;
	snprintf(ar.arp_dev, sizeof(ar.arp_dev), "%s", w->ifname);
	return ioctl(w->arp_fd, SIOCSARP, &ar) ? -errno : 0;
}

static int serve_one(struct writer *w, const struct pm_req *q,
		     struct pm_rep *rep)
{
	struct lease l;
	int r;

	lease_of(q, &l);
	if (q->op == PM_ARP)
		return do_arp(w, q->priv_ip, q->mac);
	if (!w->maps)
		return -ENODEV;
	switch (q->op) {
	case PM_ADD:
		/* nappt_phone_add checks the pools and the slots itself. */
		r = writer_allows(w, &l);
		return r ? r : map_sync_add(w->maps, &l);
	case PM_DEL:
		return map_sync_del(w->maps, &l);
	case PM_CHECK:
		return map_sync_holds(w->maps, &l);
	case PM_RC_LEASE:
		if (w->list_err)
			return 0;
		/* A lease the writer would refuse is left out of the list,
		 * so a mapping it has goes with the stale ones. */
		if (writer_allows(w, &l)) {
			w->list_refused++;
			return 0;
		}
		if (w->nlist == w->caplist) {
			size_t cap = w->caplist ? w->caplist * 2 : 1024;
			struct lease *n;

			/* More leases than addresses: not from a store. */
			if (cap > (size_t)w->lan_size + 1024) {
				w->list_err = -E2BIG;
				return 0;
			}
			n = realloc(w->list, cap * sizeof(*n));
			if (!n) {
				w->list_err = -ENOMEM;
				return 0;
			}
			w->list = n;
			w->caplist = cap;
		}
		w->list[w->nlist++] = l;
		return 0;
	case PM_RC_ABORT:
		free(w->list);
		w->list = NULL;
		w->nlist = w->caplist = 0;
		w->list_err = 0;
		w->list_refused = 0;
		return 0;
	case PM_RC_END:
		r = w->list_err ? w->list_err :
				  map_sync_reconcile_from(list_each, w, w->maps,
							  &rep->st);
		rep->st.failed += w->list_refused;
		free(w->list);
		w->list = NULL;
		w->nlist = w->caplist = 0;
		w->list_err = 0;
		w->list_refused = 0;
		return r;
	}
	return -EOPNOTSUPP;
}

static int capset_only(uint64_t keep)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct c[2] = { 0 };

	c[0].effective = c[0].permitted = (uint32_t)keep;
	c[1].effective = c[1].permitted = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &h, c);
}

int privsep_keep_caps(uint64_t keep)
{
	int cap;

	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (!(keep & (1ULL << cap)))
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0); /* EPERM: fine */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return capset_only(keep) ? -errno : 0;
}

int privsep_user(const char *spec, uid_t *uid, gid_t *gid)
{
	unsigned long u, g;
	struct passwd *pw;
	char *end;

	if (!spec || !*spec || !uid || !gid)
		return -EINVAL;
	if (spec[0] >= '0' && spec[0] <= '9') {
		errno = 0;
		u = strtoul(spec, &end, 10);
		g = u;
		if (*end == ':')
			g = strtoul(end + 1, &end, 10);
		if (errno || *end || !u || !g || u >= 0xffffffffUL ||
		    g >= 0xffffffffUL)
			return -EINVAL;
		*uid = (uid_t)u;
		*gid = (gid_t)g;
		return 0;
	}
	pw = getpwnam(spec);
	if (!pw) {
		if (strcmp(spec, PRIVSEP_USER))
			return -ENOENT;
		*uid = PRIVSEP_FALLBACK_ID;
		*gid = PRIVSEP_FALLBACK_ID;
		return 0;
	}
	if (!pw->pw_uid || !pw->pw_gid)
		return -EPERM; /* root under another name */
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int verify_jail(const struct stat *root, uid_t uid, gid_t gid)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct c[2] = { 0 };
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	struct stat st;
	int cap;

	if (getresuid(&ru, &eu, &su) || ru != uid || eu != uid || su != uid ||
	    getresgid(&rg, &eg, &sg) || rg != gid || eg != gid || sg != gid ||
	    getgroups(0, NULL) != 0)
		return -EPERM;
	if (syscall(SYS_capget, &h, c))
		return -errno;
	if (c[0].effective | c[0].permitted | c[0].inheritable |
	    c[1].effective | c[1].permitted | c[1].inheritable)
		return -EPERM;
	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0 ||
		    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) !=
			    0)
			return -EPERM;
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return -EPERM;
	if (stat("/", &st) || st.st_dev != root->st_dev ||
	    st.st_ino != root->st_ino)
		return -EPERM;
	/* The drop cannot be undone. */
	if (setresuid(0, 0, 0) == 0 || setresgid(0, 0, 0) == 0)
		return -EPERM;
	return 0;
}

int privsep_enter_jail(const char *root, uid_t uid, gid_t gid)
{
	struct stat st;
	int cap;

	if (!root || !uid || !gid)
		return -EINVAL;
	if (stat(root, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	/* The bounding set first: dropping from it needs CAP_SETPCAP,
	 * which the uid change takes away. */
	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0))
		return -errno;
	/* No path out: the pins, the store's directory and every root-only
	 * file are outside this tree. */
	if (chroot(root) || chdir("/"))
		return -errno;
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid))
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || capset_only(0))
		return -errno;
	return verify_jail(&st, uid, gid);
}

/*
 * Map writes through an open map need no capability on recent kernels;
 * where unprivileged BPF is off, older ones still want CAP_BPF.  Ask a
 * child that has dropped it.
 */
static int needs_cap_bpf(struct writer *w)
{
	int status;
	pid_t c;

	if (!w->maps)
		return 0;
	c = fork();
	if (c == 0) {
		capset_only(1ULL << CAP_NET_ADMIN);
		/* A bpf() call on an open map: slot reads and writes go
		 * through the mmap and ask nothing of the kernel, but the
		 * writer's frags purge and config reads are syscalls. */
		_exit(nappt_maps_reload_config(w->maps) == -EPERM);
	}
	return c < 0 || waitpid(c, &status, 0) != c || !WIFEXITED(status) ||
	       WEXITSTATUS(status);
}

/* Everything inherited from the server but the maps, the pair's end and
 * stderr is closed: the writer has no business with the DHCP socket or
 * the lease store. */
static void close_others(const struct writer *w, int fd)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	/* The maps (the mmap of `slots`, made by nappt_maps_open as root
	 * before the fork, is inherited and needs no descriptor to use)
	 * and libnappt's writers' lock. */
	int keep[] = { fd,
		       STDERR_FILENO,
		       w->maps ? w->maps->config_fd : -1,
		       w->maps ? w->maps->slots_fd : -1,
		       w->maps ? w->maps->stats_fd : -1,
		       w->maps ? w->maps->frags_fd : -1,
		       w->maps ? w->maps->tx_ports_fd : -1,
		       w->maps ? w->maps->lock_fd : -1 };
	int fds[256], n = 0, i, k;

	if (!d)
		return;
	while ((de = readdir(d)) && n < 256) {
		int f = atoi(de->d_name);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
		    f == dirfd(d) || f <= STDERR_FILENO)
			continue;
		for (k = 0; k < (int)(sizeof(keep) / sizeof(keep[0])); k++)
			if (keep[k] == f)
				break;
		if (k == (int)(sizeof(keep) / sizeof(keep[0])))
			fds[n++] = f;
	}
	closedir(d);
	for (i = 0; i < n; i++)
		close(fds[i]);
}

static void writer_main(struct writer *w, int fd)
{
	uint64_t keep = 1ULL << CAP_NET_ADMIN;
	int r;

	/* Outlives nothing: when the server goes, so does the writer, at
	 * the latest when the pair closes (the parent-death signal does
	 * not reach a root child from a parent that dropped to its own
	 * uid).  A service stop's SIGTERM is the server's to act on; the
	 * writer serves its last requests and leaves with the pair. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(0);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	log_set_batched(0);
	close_others(w, fd);
	w->arp_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (w->arp_fd < 0) {
		logp(LOG_ERR_, "map writer: Failed to open a socket: %s",
		     strerror(errno));
		_exit(1);
	}
	if (needs_cap_bpf(w)) {
		keep |= 1ULL << CAP_BPF;
		logp(LOG_NOTICE_, "This kernel wants CAP_BPF for map writes "
				  "through an open map: the map writer keeps "
				  "it");
	}
	/* Fail closed: a writer that kept more than it needs serves
	 * nothing (the server sees -EPIPE and stops). */
	r = privsep_keep_caps(keep);
	if (r) {
		logp(LOG_ERR_, "map writer: Failed to drop capabilities: %s",
		     strerror(-r));
		_exit(1);
	}
	for (;;) {
		static struct pm_stats_req sq;
		struct pm_req q;
		struct pm_rep rep;
		/* MSG_TRUNC: the real length, so a longer message is
		 * refused whole, not cut. */
		ssize_t n = recv(fd, &sq, sizeof(sq), MSG_TRUNC);

		if (n >= (ssize_t)sizeof(q))
			memcpy(&q, &sq.h, sizeof(q));
		else
			memset(&q, 0, sizeof(q));
		if (n == (ssize_t)sizeof(sq) && q.op == PM_STATS) {
			memset(&rep, 0, sizeof(rep));
			rep.r = sq.len <= PM_STATS_MAX ?
					write_stats(w, sq.text, sq.len) :
					-EBADMSG;
			if (send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) < 0)
				_exit(1);
			continue;
		}

		if (n == 0)
			_exit(0); /* the server is gone */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		memset(&rep, 0, sizeof(rep));
		rep.r = n == (ssize_t)sizeof(q) && q.op != PM_STATS ?
				serve_one(w, &q, &rep) :
				-EBADMSG;
		if (q.op == PM_RC_LEASE && n == (ssize_t)sizeof(q))
			continue; /* no reply: its errors come with PM_RC_END */
		if (send(fd, &rep, sizeof(rep), MSG_NOSIGNAL) < 0)
			_exit(1);
	}
}

/* --- the server's side ------------------------------------------------------ */

int pm_start(struct nappt_maps *maps, const char *ifname, uint32_t lan_net,
	     uint32_t lan_size, struct pm **out)
{
	struct pm_limits lim = { .lan_net = lan_net, .lan_size = lan_size };

	return pm_start_limits(maps, ifname, &lim, out);
}

int pm_start_limits(struct nappt_maps *maps, const char *ifname,
		    const struct pm_limits *lim, struct pm **out)
{
	struct pm *pm;
	int sv[2], i;

	if (!ifname || !lim || !out || lim->nreserved < 0 ||
	    lim->nreserved > PM_MAX_RESERVED || !lim->lan_size)
		return -EINVAL;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		int r = -errno;

		free(pm);
		return r;
	}
	log_flush();
	pm->pid = fork();
	if (pm->pid < 0) {
		int r = -errno;

		close(sv[0]);
		close(sv[1]);
		free(pm);
		return r;
	}
	if (pm->pid == 0) {
		static struct writer w;

		w.maps = maps;
		w.lan_net = lim->lan_net;
		w.lan_size = lim->lan_size;
		w.gateway = lim->gateway;
		w.arp_fd = -1;
		for (i = 0; i < lim->nreserved; i++) {
			w.reserved[i][0] = lim->reserved[i][0];
			w.reserved[i][1] = lim->reserved[i][1];
		}
		w.nreserved = lim->nreserved;
		snprintf(w.stats_file, sizeof(w.stats_file), "%s",
			 lim->stats_file ? lim->stats_file : "");
		close(sv[0]);
		snprintf(w.ifname, sizeof(w.ifname), "%s", ifname);
		writer_main(&w, sv[1]);
		_exit(0);
	}
	close(sv[1]);
	pm->fd = sv[0];
	*out = pm;
	return 0;
}

void pm_stop(struct pm *pm)
{
	if (!pm)
		return;
	close(pm->fd); /* the writer leaves */
	waitpid(pm->pid, NULL, 0);
	free(pm);
}

pid_t pm_pid(const struct pm *pm)
{
	return pm ? pm->pid : -1;
}

static int call(struct pm *pm, const struct pm_req *q, struct pm_rep *rep)
{
	ssize_t n;

	while (send(pm->fd, q, sizeof(*q), MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -EPIPE;
	if (q->op == PM_RC_LEASE)
		return 0;
	do
		n = recv(pm->fd, rep, sizeof(*rep), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*rep))
		return -EPIPE;
	return rep->r;
}

static struct pm_req req_of(uint32_t op, const struct lease *l)
{
	struct pm_req q = { .op = op };

	memcpy(q.mac, l->mac, 6);
	q.priv_ip = l->priv_ip;
	q.pub_ip = l->pub_ip;
	q.port_first = l->port_first;
	q.port_last = l->port_last;
	return q;
}

int pm_map_add(struct pm *pm, const struct lease *l)
{
	struct pm_req q = req_of(PM_ADD, l);
	struct pm_rep rep;

	return call(pm, &q, &rep);
}

int pm_map_del(struct pm *pm, const struct lease *l)
{
	struct pm_req q = req_of(PM_DEL, l);
	struct pm_rep rep;

	return call(pm, &q, &rep);
}

int pm_map_check(struct pm *pm, const struct lease *l)
{
	struct pm_req q = req_of(PM_CHECK, l);
	struct pm_rep rep;

	return call(pm, &q, &rep);
}

int pm_write_stats(struct pm *pm, const char *text, size_t len)
{
	static struct pm_stats_req q;
	struct pm_rep rep;
	ssize_t n;

	if (len > PM_STATS_MAX)
		return -E2BIG;
	memset(&q, 0, sizeof(q));
	q.h.op = PM_STATS;
	q.len = (uint32_t)len;
	memcpy(q.text, text, len);
	while (send(pm->fd, &q, sizeof(q), MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -EPIPE;
	do
		n = recv(pm->fd, &rep, sizeof(rep), 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(rep) ? rep.r : -EPIPE;
}

int pm_arp(struct pm *pm, uint32_t ip, const uint8_t mac[6])
{
	struct pm_req q = { .op = PM_ARP, .priv_ip = ip };
	struct pm_rep rep;

	memcpy(q.mac, mac, 6);
	return call(pm, &q, &rep);
}

struct rc {
	struct pm *pm;
	int err;
};

static int send_lease(const struct lease *l, void *arg)
{
	struct rc *rc = arg;
	struct pm_req q = req_of(PM_RC_LEASE, l);
	struct pm_rep rep;

	rc->err = call(rc->pm, &q, &rep);
	return rc->err;
}

int pm_reconcile(struct pm *pm, lease_source each, void *src,
		 struct sync_stats *st)
{
	struct pm_req q = { 0 };
	struct pm_rep rep;
	struct rc rc = { pm, 0 };
	int r = each(src, send_lease, &rc);

	if (rc.err == -EPIPE)
		return -EPIPE;
	/* A list its source cut short is not acted on: the writer would
	 * remove the mappings of the leases never sent. */
	q.op = r ? PM_RC_ABORT : PM_RC_END;
	rc.err = call(pm, &q, &rep);
	if (r)
		return r;
	if (st)
		*st = rep.st;
	return rc.err;
}
