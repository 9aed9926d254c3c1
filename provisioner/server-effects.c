// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The DHCP core's effects besides replies and maps (server.h, struct
 * srv_effects): the lease store and the per-phone files.  server.c
 * decides; this file does, so the decision calls no store, file or clock
 * function itself (STYLE 10, 17) and tests may put fakes in its place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include "log.h"
#include "render.h"
#include "server.h"

struct fx_default {
	struct srv_effects ops; /* first: srv_effects_free() casts */
	const struct prov_conf *conf;
	struct lease_store *store;
	char *tmpl_text[POLICY_MAX_MODELS];
};

static int fx_begin(void *arg)
{
	return lease_store_begin(((struct fx_default *)arg)->store);
}

static int fx_commit(void *arg)
{
	return lease_store_commit(((struct fx_default *)arg)->store);
}

static int fx_rollback(void *arg)
{
	return lease_store_rollback(((struct fx_default *)arg)->store);
}

static int fx_put(void *arg, const struct lease *l, int64_t wall)
{
	return lease_store_put(((struct fx_default *)arg)->store, l, wall);
}

static int fx_renew(void *arg, const struct lease *l)
{
	return lease_store_renew(((struct fx_default *)arg)->store, l);
}

static int fx_del(void *arg, const uint8_t mac[6])
{
	return lease_store_del(((struct fx_default *)arg)->store, mac);
}

static int fx_get(void *arg, const uint8_t mac[6], struct lease *out)
{
	return lease_store_get(((struct fx_default *)arg)->store, mac, out);
}

static int fx_foreach(void *arg, lease_cb cb, void *cbarg)
{
	/* Every row, expired or not: the core decides (its clock). */
	return lease_store_foreach(((struct fx_default *)arg)->store, 0, 0, cb,
				   cbarg);
}

static int fx_parts(void *arg, uint8_t *owned, unsigned int max, int *changed)
{
	return lease_store_parts(((struct fx_default *)arg)->store, owned, max,
				 changed);
}

static const struct model *fx_model(const struct fx_default *f,
				    unsigned int model)
{
	return model < (unsigned int)f->conf->policy.nmodels ?
		       &f->conf->policy.models[model] :
		       NULL;
}

static int fx_name(const struct fx_default *f, const uint8_t mac[6],
		   unsigned int model, char *file, size_t n)
{
	const struct model *md = fx_model(f, model);

	if (!md || render_file_name(md->tmpl, mac, file, n) ||
	    strchr(file, '/') || file[0] == '.' || !file[0])
		return -ENOENT;
	return 0;
}

/*
 * The phone directory and its gate directory, opened without following
 * links.  Threat: the parser owns both (it is jailed into the first), so
 * at start, when the core writes and removes files as root, any link in
 * them was planted by a compromised parser; through a path root would
 * follow a .leases symlink to anywhere.  Every file operation below is
 * relative to these descriptors, and never follows a link at the name.
 */
static int fx_dirs(const struct fx_default *f, int *dfd, int *gfd, int create)
{
	const int fl = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

	*gfd = -1;
	*dfd = open(f->conf->tftp_root, fl);
	if (*dfd < 0)
		return -errno;
	*gfd = openat(*dfd, ".leases", fl);
	if (*gfd < 0 && errno == ENOENT && create &&
	    (!mkdirat(*dfd, ".leases", 0755) || errno == EEXIST))
		*gfd = openat(*dfd, ".leases", fl);
	return *gfd < 0 ? -errno : 0;
}

static void fx_close_dirs(int dfd, int gfd)
{
	if (dfd >= 0)
		close(dfd);
	if (gfd >= 0)
		close(gfd);
}

/* Atomic replace inside dfd: a temporary ".NAME.XXXXXX" (O_EXCL, no link
 * followed), then renameat, which replaces a link at name, never follows
 * it.  Without fsync: the store is the truth, a crash's loss is written
 * again at start. */
static int write_at(int dfd, const char *name, const char *data, size_t len)
{
	char tmp[96];
	uint32_t rnd;
	size_t off = 0;
	int fd = -1, i, r = 0;

	for (i = 0; i < 16 && fd < 0; i++) {
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)getpid() * 2654435761U + (uint32_t)i;
		snprintf(tmp, sizeof(tmp), ".%s.%06x", name, rnd & 0xffffff);
		fd = openat(dfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				    O_CLOEXEC,
			    0644);
		if (fd < 0 && errno != EEXIST)
			return -errno;
	}
	if (fd < 0)
		return -EEXIST;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = -errno;
			break;
		}
		off += (size_t)w;
	}
	/* Readable by the TFTP server, which runs as another user. */
	if (!r && fchmod(fd, 0644))
		r = -errno;
	if (close(fd) && !r)
		r = -errno;
	if (!r && renameat(dfd, tmp, dfd, name))
		r = -errno;
	if (r)
		unlinkat(dfd, tmp, 0);
	return r;
}

/* The lease is gone: its config file first, then the gating entry. */
static void fx_file_remove(void *arg, const uint8_t mac[6], unsigned int model)
{
	char file[64];
	int dfd, gfd;

	if (fx_name(arg, mac, model, file, sizeof(file)))
		return;
	fx_dirs(arg, &dfd, &gfd, 0);
	if (dfd >= 0)
		unlinkat(dfd, file, 0);
	if (gfd >= 0)
		unlinkat(gfd, file, 0);
	fx_close_dirs(dfd, gfd);
}

/* Is the config file there, with content?  A crash can leave a renamed
 * but empty file behind (written without fsync).  Never through a link:
 * one was planted by the parser, and is replaced by the write. */
static int fx_file_present(void *arg, const uint8_t mac[6], unsigned int model)
{
	char file[64];
	struct stat st;
	int dfd, gfd, ok;

	if (fx_name(arg, mac, model, file, sizeof(file)))
		return 0;
	fx_dirs(arg, &dfd, &gfd, 0);
	ok = dfd >= 0 && !fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) &&
	     S_ISREG(st.st_mode) && st.st_size > 0;
	fx_close_dirs(dfd, gfd);
	return ok;
}

static int fx_file_write(void *arg, const struct lease *l, unsigned int model)
{
	struct fx_default *f = arg;
	const struct prov_conf *c = f->conf;
	const struct model *m = fx_model(f, model);
	struct render_var v[RENDER_NVARS];
	struct render_storage st;
	char out[16384], who[INET_ADDRSTRLEN + 1];
	int r, len, dfd, gfd;

	if (!m)
		return -ENOENT;
	if (!f->tmpl_text[model])
		return 0;
	r = render_phone_vars(v, &st, m->tmpl, l->mac, l->priv_ip, l->pub_ip,
			      l->port_first, l->port_last, m->image,
			      htonl(c->tftp_server),
			      m->sip_server[0] ? m->sip_server : c->sip_server);
	if (!r)
		r = render_text(f->tmpl_text[model], v, RENDER_NVARS, out,
				sizeof(out));
	if (r < 0)
		return r;
	len = r;
	if (strchr(st.file, '/') || st.file[0] == '.' || !st.file[0])
		return -EINVAL;
	r = fx_dirs(f, &dfd, &gfd, 1);
	/* tftpd's gating (tftpd/README.md): the entry that says who may
	 * read the file goes in first. */
	if (!r) {
		inet_ntop(AF_INET, &l->priv_ip, who, INET_ADDRSTRLEN);
		strcat(who, "\n");
		r = write_at(gfd, st.file, who, strlen(who));
	}
	if (!r)
		r = write_at(dfd, st.file, out, (size_t)len);
	fx_close_dirs(dfd, gfd);
	return r;
}

/* Each model's template, read once at start (not once per lease). */
static int load_templates(struct fx_default *f, const char *dir)
{
	int i;

	for (i = 0; i < f->conf->policy.nmodels; i++) {
		const struct model *m = &f->conf->policy.models[i];
		char path[512];
		FILE *fp;
		long n;

		snprintf(path, sizeof(path), "%s/%s%s", dir, m->tmpl,
			 strcmp(m->tmpl, "cisco") ? ".cfg" : ".cnf.xml");
		fp = fopen(path, "re");
		if (!fp) {
			int r = -errno;

			logp(LOG_ERR_, "Failed to open template %s: %s", path,
			     strerror(-r));
			return r;
		}
		if (fseek(fp, 0, SEEK_END) || (n = ftell(fp)) <= 0 ||
		    n >= 65536 || fseek(fp, 0, SEEK_SET) ||
		    !(f->tmpl_text[i] = calloc(1, (size_t)n + 1)) ||
		    fread(f->tmpl_text[i], 1, (size_t)n, fp) != (size_t)n) {
			logp(LOG_ERR_, "Failed to read template %s", path);
			fclose(fp);
			return -EIO;
		}
		fclose(fp);
	}
	return 0;
}

void srv_effects_free(struct srv_effects *fx)
{
	struct fx_default *f = (struct fx_default *)fx;
	int i;

	if (!f)
		return;
	for (i = 0; i < POLICY_MAX_MODELS; i++)
		free(f->tmpl_text[i]);
	free(f);
}

int srv_effects_new(const struct prov_conf *c, const char *tmpl_dir,
		    struct lease_store *store, struct srv_effects **out)
{
	struct fx_default *f;
	int r;

	if (!c || !tmpl_dir || !store || !out)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->conf = c;
	f->store = store;
	f->ops = (struct srv_effects){
		.arg = f,
		.begin = fx_begin,
		.commit = fx_commit,
		.rollback = fx_rollback,
		.put = fx_put,
		.renew = fx_renew,
		.del = fx_del,
		.get = fx_get,
		.foreach = fx_foreach,
		.parts = fx_parts,
		.file_write = fx_file_write,
		.file_remove = fx_file_remove,
		.file_present = fx_file_present,
	};
	r = load_templates(f, tmpl_dir);
	if (r) {
		srv_effects_free(&f->ops);
		return r;
	}
	*out = &f->ops;
	return 0;
}
