// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* See startup.h. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "log.h"
#include "render.h"
#include "startup.h"

struct name {
	char file[32];
	uint32_t priv_ip; /* network order */
};

struct names {
	struct name *v;
	size_t n, cap;
};

static int add_name(struct names *ns, const char *tmpl, const struct lease *l)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 1024;
		struct name *v = realloc(ns->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ns->v = v;
		ns->cap = cap;
	}
	if (render_file_name(tmpl, l->mac, ns->v[ns->n].file,
			     sizeof(ns->v[ns->n].file)))
		return 0;
	ns->v[ns->n++].priv_ip = l->priv_ip;
	return 0;
}

/* Both names a lease's file can have: the store does not keep the
 * template, and a model may have changed its template since. */
static int live_cb(const struct lease *l, void *arg)
{
	int r = add_name(arg, "cisco", l);

	return r ? r : add_name(arg, "generic", l);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct name *)a)->file,
		      ((const struct name *)b)->file);
}

static int hexes(const char *s, int n, int upper)
{
	int i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) ||
		    (isalpha((unsigned char)s[i]) &&
		     !!isupper((unsigned char)s[i]) != upper))
			return 0;
	return 1;
}

/*
 * Only what this program writes: SEP<12 HEX>.cnf.xml, <12 hex>.cfg, and
 * the temporary ".NAME.XXXXXX" a crash may leave.  phone_dir was once
 * called tftp_root, so it may hold an operator's own files (software
 * images): those are never touched.
 */
static int phone_name(const char *n, int *tmp)
{
	size_t len = strlen(n);

	*tmp = 0;
	if (n[0] == '.') {
		const char *dot = strrchr(n, '.');

		if (dot == n || strlen(dot) != 7)
			return 0;
		*tmp = 1;
		len = (size_t)(dot - n) - 1;
		n++;
	}
	if (len == 23 && !strncmp(n, "SEP", 3) && hexes(n + 3, 12, 1) &&
	    !strncmp(n + 15, ".cnf.xml", 8))
		return 1;
	return len == 16 && hexes(n, 12, 0) && !strncmp(n + 12, ".cfg", 4);
}

static const struct name *find(const struct names *ns, const char *file)
{
	struct name key;

	snprintf(key.file, sizeof(key.file), "%s", file);
	return bsearch(&key, ns->v, ns->n, sizeof(*ns->v), cmp_name);
}

/* Does the gate entry dfd/name say the lease's address? */
static int gate_says(int dfd, const char *name, uint32_t priv_ip)
{
	char buf[32], want[INET_ADDRSTRLEN + 1];
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	inet_ntop(AF_INET, &priv_ip, want, INET_ADDRSTRLEN);
	strcat(want, "\n");
	return !strcmp(buf, want);
}

static int prune(int dfd, int other_dfd, const struct names *ns, int gates)
{
	DIR *d = fdopendir(dup(dfd));
	struct dirent *de;
	int removed = 0, tmp;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		const struct name *nm;
		struct stat st;

		if (!phone_name(de->d_name, &tmp) ||
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			continue;
		/* This program writes regular files only: a link here was
		 * planted (by a compromised parser, which owns the
		 * directory), and root must not take its target for a
		 * phone's file. */
		nm = tmp || S_ISLNK(st.st_mode) ? NULL : find(ns, de->d_name);
		if (nm && (!gates || gate_says(dfd, de->d_name, nm->priv_ip)))
			continue;
		if (!unlinkat(dfd, de->d_name, 0))
			removed++;
		/* A gate entry for another address: its file goes too
		 * (srv_new writes both again from the store). */
		if (nm && gates && other_dfd >= 0 &&
		    !unlinkat(other_dfd, de->d_name, 0))
			removed++;
	}
	closedir(d);
	return removed;
}

int startup_prune_phone_dir(const char *dir, struct lease_store *s, int64_t now)
{
	struct names ns = { 0 };
	int dfd = -1, gfd = -1, r, n = 0;

	if (!dir || !s)
		return -EINVAL;
	r = lease_store_foreach(s, 1, now, live_cb, &ns);
	if (r)
		goto out;
	qsort(ns.v, ns.n, sizeof(*ns.v), cmp_name);
	/* Root prunes a directory the parser owns: never through a link
	 * it planted (a .leases symlink to a root directory would have
	 * that directory's files unlinked). */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		r = errno == ENOENT ? 0 : -errno;
		goto out;
	}
	gfd = openat(dfd, ".leases",
		     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* The gate first: without its entry tftpd serves the file to
	 * nobody, whatever happens next. */
	if (gfd >= 0) {
		r = prune(gfd, dfd, &ns, 1);
		if (r < 0)
			goto out;
		n += r;
	}
	r = prune(dfd, -1, &ns, 0);
	if (r < 0)
		goto out;
	n += r;
	r = 0;
out:
	if (dfd >= 0)
		close(dfd);
	if (gfd >= 0)
		close(gfd);
	free(ns.v);
	return r < 0 ? r : n;
}

/*
 * What the map writer allows (privsep.c, writer_allows and phone_addr),
 * for the reconcile made at start, as root, before the writer exists: the
 * store is the parser's to write, so a row is no more trusted here than a
 * request over the socket.  An address in the LAN pool, neither its
 * network nor its broadcast address nor the gateway's; ports clear of
 * 0-1023 and of every reserved range (the gateway's own services: a
 * mapping would take their inbound traffic).  The pools, alignment and
 * derivation are libnappt's check.
 */
static int lease_allowed(const struct prov_conf *c, const struct lease *l)
{
	uint32_t h = ntohl(l->priv_ip);
	int i;

	if (h - c->lan_net >= c->lan_size || h == c->lan_net ||
	    h == c->lan_net + c->lan_size - 1 ||
	    (c->gateway && h == c->gateway))
		return 0;
	if (l->port_first > l->port_last || l->port_first < 1024)
		return 0;
	for (i = 0; i < c->nreserved; i++)
		if (l->port_first <= c->reserved[i][1] &&
		    l->port_last >= c->reserved[i][0])
			return 0;
	return 1;
}

/* The store's live leases the writer would allow: the others are left
 * out, so a mapping one of them has goes with the stale ones. */
struct allowed_src {
	const struct prov_conf *c;
	struct lease_store *s;
	int64_t now;
	unsigned int refused;
	lease_cb cb;
	void *arg;
};

static int allowed_one(const struct lease *l, void *arg)
{
	struct allowed_src *as = arg;

	if (!lease_allowed(as->c, l)) {
		as->refused++;
		return 0;
	}
	return as->cb(l, as->arg);
}

static int allowed_each(void *src, lease_cb cb, void *arg)
{
	struct allowed_src *as = src;

	as->cb = cb;
	as->arg = arg;
	return lease_store_foreach(as->s, 1, as->now, allowed_one, as);
}

int startup_clean(const struct prov_conf *c, struct lease_store *s,
		  struct nappt_maps *m, int64_t now, struct startup_stats *st)
{
	int r;

	if (!c || !s || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	r = lease_store_expire(s, now, NULL, NULL);
	if (r < 0) {
		logp(LOG_ERR_, "Failed to expire leases: %s", strerror(-r));
		return r;
	}
	st->expired = r;
	r = startup_prune_phone_dir(c->tftp_root, s, now);
	if (r < 0) {
		logp(LOG_ERR_, "Failed to clean %s: %s", c->tftp_root,
		     strerror(-r));
		return r;
	}
	st->files_removed = (unsigned int)r;
	if (!m)
		return 0;
	{
		struct allowed_src as = { .c = c, .s = s, .now = now };

		r = map_sync_reconcile_from(allowed_each, &as, m, &st->maps);
		st->maps.failed += as.refused;
	}
	if (r)
		logp(LOG_ERR_, "Failed to reconcile maps: %s", strerror(-r));
	return r;
}
