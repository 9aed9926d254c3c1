// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The DHCP core's effects besides replies and maps (server.h, struct
 * srv_effects): the lease store and the per-phone files.  server.c
 * decides; this file does, so the decision calls no store, file or clock
 * function itself (STYLE 10, 17) and tests may put fakes in its place.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include "log.h"
#include "render.h"
#include "server.h"

/*
 * Is the gate directory a real one?  At start the core writes and removes
 * files as root in a directory the parser owns, and a compromised parser
 * may have left .leases a symlink to anywhere (main.c replaces it before
 * srv_new; this is the check that a write still goes nowhere else).
 */
static int gate_dir_ok(const char *gate)
{
	struct stat st;

	if (lstat(gate, &st))
		return errno == ENOENT ? 0 : -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ELOOP;
}

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

static const struct model *fx_model(const struct fx_default *f,
				    unsigned int model)
{
	return model < (unsigned int)f->conf->policy.nmodels ?
		       &f->conf->policy.models[model] :
		       NULL;
}

static int fx_path(const struct fx_default *f, const uint8_t mac[6],
		   unsigned int model, const char *sub, char *path, size_t n)
{
	const struct model *md = fx_model(f, model);
	char file[64];

	if (!md || render_file_name(md->tmpl, mac, file, sizeof(file)))
		return -ENOENT;
	snprintf(path, n, "%s%s/%s", f->conf->tftp_root, sub, file);
	return 0;
}

/* The lease is gone: its config file first, then the gating entry. */
static void fx_file_remove(void *arg, const uint8_t mac[6], unsigned int model)
{
	char path[600];

	if (!fx_path(arg, mac, model, "", path, sizeof(path)))
		unlink(path);
	if (!fx_path(arg, mac, model, "/.leases", path, sizeof(path))) {
		char gate[600];

		snprintf(gate, sizeof(gate), "%s/.leases",
			 ((struct fx_default *)arg)->conf->tftp_root);
		if (!gate_dir_ok(gate))
			unlink(path);
	}
}

/* Is the config file there, with content?  A crash can leave a renamed
 * but empty file behind (written without fsync).  Never through a link:
 * one was planted by the parser, and is replaced by the write. */
static int fx_file_present(void *arg, const uint8_t mac[6], unsigned int model)
{
	char path[600];
	struct stat st;

	return !fx_path(arg, mac, model, "", path, sizeof(path)) &&
	       !lstat(path, &st) && S_ISREG(st.st_mode) && st.st_size > 0;
}

static int fx_file_write(void *arg, const struct lease *l, unsigned int model)
{
	struct fx_default *f = arg;
	const struct prov_conf *c = f->conf;
	const struct model *m = fx_model(f, model);
	struct render_var v[RENDER_NVARS];
	struct render_storage st;
	char out[16384], gate[300], who[INET_ADDRSTRLEN + 1];
	int r, len;

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
	/* tftpd's gating (tftpd/README.md): the entry that says who may
	 * read the file goes in first. */
	snprintf(gate, sizeof(gate), "%s/.leases", c->tftp_root);
	inet_ntop(AF_INET, &l->priv_ip, who, INET_ADDRSTRLEN);
	strcat(who, "\n");
	r = gate_dir_ok(gate);
	if (!r)
		r = render_write_atomic(gate, st.file, who, strlen(who), 0);
	if (r == -ENOENT && !mkdir(gate, 0755))
		r = render_write_atomic(gate, st.file, who, strlen(who), 0);
	if (r >= 0)
		r = render_write_atomic(c->tftp_root, st.file, out, (size_t)len,
					0);
	return r < 0 ? r : 0;
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
