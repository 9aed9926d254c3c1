// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * nappt-provisioner: the DHCP server that turns a valid phone into a
 * lease (private address + port range on a public address), stores it
 * durably, then ACKs and writes the mapping into the data plane.
 *
 * One thread, one socket, poll().  Every wake-up drains the socket; the
 * REQUESTs of one wake-up are committed in one transaction (group commit)
 * and only then ACKed and mapped: an ACKed lease is on disk.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "conf.h"
#include "dhcp-msg.h"
#include "lease-store.h"
#include "libnappt.h"
#include "map-sync.h"
#include "policy.h"
#include "render.h"

#define BATCH 64
#define LOG_EVERY 10 /* seconds between two logs of one rejected MAC kind */

static volatile sig_atomic_t stop;

struct counters {
	unsigned long discover, offer, request, ack, nak, release, decline,
		inform, rejected_mac, rejected_vendor, exhausted, malformed,
		ignored;
};

struct prov {
	struct prov_conf conf;
	struct lease_store *store;
	struct alloc alloc;
	struct nappt_maps maps;
	int have_maps;
	int fd;
	int ifindex;
	char tmpl_dir[256];
	char *tmpl_text[POLICY_MAX_MODELS];
	struct counters n;
	time_t last_reject_log[8];
};

struct pending {
	struct dhcp_msg req;
	struct lease lease;
	int is_new; /* addresses not yet taken in the allocator */
	int model;
	struct sockaddr_in from;
};

static void logp(int prio, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "<%d>", prio);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void on_signal(int sig)
{
	stop = 1;
}

static const char *ip4(uint32_t be, char *buf)
{
	return inet_ntop(AF_INET, &be, buf, INET_ADDRSTRLEN);
}

static void mac_str(const uint8_t *m, char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2],
		 m[3], m[4], m[5]);
}

/* Option 60 as printable text, for logs and the store. */
static void vendor_of(const struct dhcp_msg *m, char *out, size_t n)
{
	size_t len, i, o = 0;
	const uint8_t *v = dhcp_opt_get(m, OPT_VENDOR_CLASS, &len);

	for (i = 0; v && i < len && o + 1 < n; i++)
		if (v[i] >= 0x20 && v[i] < 0x7f)
			out[o++] = (char)v[i];
	out[o] = '\0';
}

/* Attribution: one line per lease event. */
static void attribution(const char *event, const struct lease *l)
{
	char mac[18], a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	mac_str(l->mac, mac);
	logp(6,
	     "lease %s mac=%s vendor=\"%s\" model=%s private=%s public=%s "
	     "ports=%u-%u expires=%lld",
	     event, mac, l->vendor, l->model, ip4(l->priv_ip, a),
	     ip4(l->pub_ip, b), l->port_first, l->port_last,
	     (long long)l->expires);
}

/* --- replies --------------------------------------------------------------- */

static int send_reply(struct prov *p, const struct dhcp_msg *req, uint8_t type,
		      const uint8_t *buf, size_t len, uint32_t yiaddr)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	char a[INET_ADDRSTRLEN];

	switch (dhcp_reply_dest(req, type)) {
	case DEST_RELAY:
		to.sin_addr.s_addr = req->giaddr;
		to.sin_port = htons(67);
		break;
	case DEST_CIADDR:
		to.sin_addr.s_addr = req->ciaddr;
		to.sin_port = htons(68);
		break;
	case DEST_BROADCAST:
		to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
		to.sin_port = htons(68);
		break;
	case DEST_UNICAST_HW: {
		/* RFC 2131 4.1: the client has no address yet and cannot
		 * answer ARP; tell the kernel where yiaddr is. */
		struct arpreq ar = { 0 };
		struct sockaddr_in *pa = (struct sockaddr_in *)&ar.arp_pa;

		pa->sin_family = AF_INET;
		pa->sin_addr.s_addr = yiaddr;
		ar.arp_ha.sa_family = ARPHRD_ETHER;
		memcpy(ar.arp_ha.sa_data, req->chaddr, 6);
		ar.arp_flags = ATF_COM;
		snprintf(ar.arp_dev, sizeof(ar.arp_dev), "%s",
			 p->conf.interface);
		if (ioctl(p->fd, SIOCSARP, &ar) < 0) {
			to.sin_addr.s_addr = htonl(INADDR_BROADCAST);
		} else {
			to.sin_addr.s_addr = yiaddr;
		}
		to.sin_port = htons(68);
		break;
	}
	}
	if (sendto(p->fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) <
	    0) {
		logp(4, "Failed to send reply to %s: %s",
		     ip4(to.sin_addr.s_addr, a), strerror(errno));
		return -errno;
	}
	return 0;
}

static void put_common(struct prov *p, struct dhcp_builder *b,
		       const struct dhcp_msg *req, const struct lease *l,
		       const struct model *m, int with_lease)
{
	uint32_t mask = htonl(~(p->conf.lan_size - 1)),
		 router = htonl(p->conf.gateway),
		 sid = htonl(p->conf.server_id),
		 tftp = htonl(p->conf.tftp_server), dns[CONF_MAX_DNS];
	uint32_t lt = htonl(l ? (uint32_t)m->lease_time : 0),
		 t1 = htonl(l ? m->lease_time / 2 : 0),
		 t2 = htonl(l ? m->lease_time / 8 * 7 : 0);
	char tftp_name[INET_ADDRSTRLEN], file[64] = "";
	uint8_t o159[4];
	struct dhcp_optval av[12];
	size_t n = 0, len;
	const uint8_t *o82;
	int i;

	for (i = 0; i < p->conf.ndns; i++)
		dns[i] = htonl(p->conf.dns[i]);
	ip4(tftp, tftp_name);
	av[n++] = (struct dhcp_optval){ OPT_SERVER_ID, 1, 4, &sid };
	if (with_lease) {
		av[n++] = (struct dhcp_optval){ OPT_LEASE_TIME, 1, 4, &lt };
		av[n++] = (struct dhcp_optval){ OPT_RENEWAL_TIME, 1, 4, &t1 };
		av[n++] = (struct dhcp_optval){ OPT_REBINDING_TIME, 1, 4, &t2 };
	}
	av[n++] = (struct dhcp_optval){ OPT_SUBNET_MASK, 1, 4, &mask };
	av[n++] = (struct dhcp_optval){ OPT_ROUTER, 1, 4, &router };
	if (p->conf.ndns)
		av[n++] = (struct dhcp_optval){ OPT_DNS, 1,
						(uint16_t)(4 * p->conf.ndns),
						dns };
	/* Where the operational software is: 150 (Cisco) and 66. */
	av[n++] = (struct dhcp_optval){ OPT_TFTP_SERVER_ADDR, 1, 4, &tftp };
	av[n++] = (struct dhcp_optval){ OPT_TFTP_SERVER_NAME, 1,
					(uint16_t)strlen(tftp_name),
					tftp_name };
	if (l && render_file_name(m->tmpl, l->mac, file, sizeof(file)) == 0)
		av[n++] = (struct dhcp_optval){ OPT_BOOTFILE, 1,
						(uint16_t)strlen(file), file };
	if (l && opt159_encode(l->port_first, l->port_last, o159) == 0)
		av[n++] = (struct dhcp_optval){ OPT_PORTPARAMS, 1, 4, o159 };
	dhcp_put_requested(b, req, av, n);
	/* RFC 3046: relay agent information goes back as it came. */
	o82 = dhcp_opt_get(req, OPT_RELAY_AGENT, &len);
	if (o82)
		dhcp_put_opt(b, OPT_RELAY_AGENT, o82, len);
}

static void reply(struct prov *p, const struct dhcp_msg *req, uint8_t type,
		  const struct lease *l, const struct model *m)
{
	uint8_t buf[DHCP_MAX_REPLY];
	struct dhcp_builder b;
	int len;

	dhcp_reply_init(&b, buf, dhcp_reply_cap(req), req, type,
			l ? l->priv_ip : 0, htonl(p->conf.tftp_server));
	/* The BOOTP file field too: phones that ignore option 67 read it
	 * (RFC 2131 2: "boot file name"). */
	if (l && m)
		render_file_name(m->tmpl, l->mac, (char *)buf + 108, 128);
	if (type == DHCPNAK) {
		uint32_t sid = htonl(p->conf.server_id);

		dhcp_put_opt(&b, OPT_SERVER_ID, &sid, 4);
	} else {
		put_common(p, &b, req, l, m, type != DHCPACK || l != NULL);
	}
	len = dhcp_reply_finish(&b);
	if (len < 0) {
		logp(4, "Failed to build reply: %s", strerror(-len));
		return;
	}
	send_reply(p, req, type, buf, (size_t)len, l ? l->priv_ip : 0);
}

/* --- lease logic ----------------------------------------------------------- */

static int validate(struct prov *p, const struct dhcp_msg *m)
{
	enum verdict_reason why;
	size_t len;
	const uint8_t *vc = dhcp_opt_get(m, OPT_VENDOR_CLASS, &len);
	int r = policy_validate(&p->conf.policy, m->chaddr, vc, len, &why);
	time_t now = time(NULL);

	if (r >= 0)
		return r;
	if (why == REJECT_MAC_DENIED || why == REJECT_MAC_UNKNOWN)
		p->n.rejected_mac++;
	else
		p->n.rejected_vendor++;
	/* Once per interval per reason: a flood must not flood the log. */
	if (now - p->last_reject_log[why] >= LOG_EVERY) {
		char mac[18], vendor[128];

		p->last_reject_log[why] = now;
		mac_str(m->chaddr, mac);
		vendor_of(m, vendor, sizeof(vendor));
		logp(5,
		     "reject mac=%s vendor=\"%s\": %s (rejected so far: %lu "
		     "by MAC, %lu by vendor class)",
		     mac, vendor, reject_reason_str(why), p->n.rejected_mac,
		     p->n.rejected_vendor);
	}
	return -EACCES;
}

/* The lease this MAC holds or would get.  *is_new: nothing taken yet. */
static int lease_for(struct prov *p, const struct dhcp_msg *m, int model,
		     struct lease *l, int *is_new, int64_t now)
{
	const struct model *md = &p->conf.policy.models[model];
	uint32_t priv, pub;
	uint16_t first, last;
	int r;

	*is_new = 0;
	r = lease_store_get(p->store, m->chaddr, l);
	/* Sticky: the MAC's own lease, live or lapsed but still recorded,
	 * unless its range no longer has the model's size. */
	if (r == 0 && (uint32_t)(l->port_last - l->port_first + 1) ==
			      md->slots * p->conf.slot_size)
		return 0;
	if (r == 0) {
		alloc_release(&p->alloc, ntohl(l->priv_ip), ntohl(l->pub_ip),
			      l->port_first, l->port_last);
	}
	r = alloc_pick(&p->alloc, m->chaddr, md->slots, &priv, &pub, &first,
		       &last);
	if (r == -ENOSPC) {
		p->n.exhausted++;
		logp(3,
		     "pool exhausted: no private address or %u free slots "
		     "for a %s (exhausted %lu times)",
		     md->slots, md->name, p->n.exhausted);
		return r;
	}
	if (r)
		return r;
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, m->chaddr, 6);
	l->priv_ip = htonl(priv);
	l->pub_ip = htonl(pub);
	l->port_first = first;
	l->port_last = last;
	*is_new = 1;
	(void)now;
	return 0;
}

/* The lease is gone: its config file first, then the gating entry. */
static void remove_config(struct prov *p, const struct lease *l)
{
	char file[64], path[600];
	int i;

	for (i = 0; i < p->conf.policy.nmodels; i++)
		if (!strcmp(p->conf.policy.models[i].name, l->model))
			break;
	if (i == p->conf.policy.nmodels ||
	    render_file_name(p->conf.policy.models[i].tmpl, l->mac, file,
			     sizeof(file)))
		return;
	snprintf(path, sizeof(path), "%s/%s", p->conf.tftp_root, file);
	unlink(path);
	snprintf(path, sizeof(path), "%s/.leases/%s", p->conf.tftp_root, file);
	unlink(path);
}

static void handle(struct prov *p, struct dhcp_msg *m, struct pending *batch,
		   int *nbatch, int64_t now)
{
	struct lease l;
	int model, is_new, r;
	uint32_t want;

	if (m->op != DHCP_BOOTREQUEST || m->htype != 1 || m->hlen != 6) {
		p->n.ignored++;
		return;
	}
	switch (m->type) {
	case DHCPDISCOVER:
		p->n.discover++;
		model = validate(p, m);
		if (model < 0)
			return;
		if (lease_for(p, m, model, &l, &is_new, now))
			return;
		p->n.offer++;
		reply(p, m, DHCPOFFER, &l, &p->conf.policy.models[model]);
		return;
	case DHCPREQUEST: {
		uint32_t sid = dhcp_opt_addr(m, OPT_SERVER_ID);

		p->n.request++;
		/* Selecting another server's offer. */
		if (sid && sid != htonl(p->conf.server_id))
			return;
		model = validate(p, m);
		if (model < 0)
			return;
		want = dhcp_opt_addr(m, OPT_REQUESTED_IP);
		if (!want)
			want = m->ciaddr; /* renewing or rebinding */
		if (lease_for(p, m, model, &l, &is_new, now))
			return;
		if (want != l.priv_ip) {
			/* INIT-REBOOT or a stale address: not yours. */
			p->n.nak++;
			reply(p, m, DHCPNAK, NULL, NULL);
			return;
		}
		l.expires = now + p->conf.policy.models[model].lease_time;
		vendor_of(m, l.vendor, sizeof(l.vendor));
		snprintf(l.model, sizeof(l.model), "%s",
			 p->conf.policy.models[model].name);
		if (is_new &&
		    alloc_take(&p->alloc, ntohl(l.priv_ip), ntohl(l.pub_ip),
			       l.port_first, l.port_last)) {
			p->n.nak++;
			reply(p, m, DHCPNAK, NULL, NULL);
			return;
		}
		r = lease_store_put(p->store, &l, now);
		if (r) {
			if (is_new)
				alloc_release(&p->alloc, ntohl(l.priv_ip),
					      ntohl(l.pub_ip), l.port_first,
					      l.port_last);
			logp(4, "Failed to store lease: %s", strerror(-r));
			return;
		}
		/* ACK after the batch commits. */
		batch[*nbatch].req = *m;
		batch[*nbatch].lease = l;
		batch[*nbatch].is_new = is_new;
		batch[*nbatch].model = model;
		(*nbatch)++;
		return;
	}
	case DHCPRELEASE:
	case DHCPDECLINE:
		if (m->type == DHCPRELEASE)
			p->n.release++;
		else
			p->n.decline++;
		if (lease_store_get(p->store, m->chaddr, &l))
			return;
		if (lease_store_del(p->store, m->chaddr))
			return;
		alloc_release(&p->alloc, ntohl(l.priv_ip), ntohl(l.pub_ip),
			      l.port_first, l.port_last);
		if (p->have_maps)
			map_sync_del(&p->maps, &l);
		remove_config(p, &l);
		attribution(m->type == DHCPRELEASE ? "release" : "decline", &l);
		return;
	case DHCPINFORM:
		p->n.inform++;
		model = validate(p, m);
		if (model < 0)
			return;
		reply(p, m, DHCPACK, NULL, &p->conf.policy.models[model]);
		return;
	default:
		p->n.ignored++;
	}
}

/* The model's template, read once at start (not once per lease). */
static int load_templates(struct prov *p)
{
	int i;

	for (i = 0; i < p->conf.policy.nmodels; i++) {
		const struct model *m = &p->conf.policy.models[i];
		char path[512];
		FILE *f;
		long n;

		snprintf(path, sizeof(path), "%s/%s%s", p->tmpl_dir, m->tmpl,
			 strcmp(m->tmpl, "cisco") ? ".cfg" : ".cnf.xml");
		f = fopen(path, "re");
		if (!f) {
			logp(3, "Failed to open template %s: %s", path,
			     strerror(errno));
			return -errno;
		}
		if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 ||
		    n >= 65536 || fseek(f, 0, SEEK_SET) ||
		    !(p->tmpl_text[i] = calloc(1, (size_t)n + 1)) ||
		    fread(p->tmpl_text[i], 1, (size_t)n, f) != (size_t)n) {
			logp(3, "Failed to read template %s", path);
			fclose(f);
			return -EIO;
		}
		fclose(f);
	}
	return 0;
}

static void write_config(struct prov *p, const struct lease *l,
			 const struct model *m)
{
	const char *tmpl = p->tmpl_text[m - p->conf.policy.models];
	struct render_var v[RENDER_NVARS];
	struct render_storage st;
	char out[16384];
	int r;

	if (!tmpl)
		return;
	r = render_phone_vars(v, &st, m->tmpl, l->mac, l->priv_ip, l->pub_ip,
			      l->port_first, l->port_last, m->image,
			      htonl(p->conf.tftp_server), "");
	if (!r)
		r = render_text(tmpl, v, RENDER_NVARS, out, sizeof(out));
	if (r >= 0) {
		/* tftpd's gating (tftpd/README.md): the entry that says who
		 * may read the file goes in first. */
		char gate[300], who[INET_ADDRSTRLEN + 1];
		int len = r;

		snprintf(gate, sizeof(gate), "%s/.leases", p->conf.tftp_root);
		if (mkdir(gate, 0755) && errno != EEXIST)
			r = -errno;
		if (r >= 0) {
			ip4(l->priv_ip, who);
			strcat(who, "\n");
			r = render_write_atomic(gate, st.file, who, strlen(who),
						0);
		}
		if (r >= 0)
			r = render_write_atomic(p->conf.tftp_root, st.file, out,
						(size_t)len, 0);
	}
	if (r < 0)
		logp(4, "Failed to write config %s: %s", st.file, strerror(-r));
}

/* Commit the batch, then ACK and map each lease in it. */
static void flush(struct prov *p, struct pending *batch, int nbatch)
{
	int i, r;

	if (!nbatch)
		return;
	r = lease_store_commit(p->store);
	if (r) {
		logp(3, "Failed to commit %d leases: %s; no ACK sent", nbatch,
		     strerror(-r));
		for (i = 0; i < nbatch; i++)
			if (batch[i].is_new)
				alloc_release(&p->alloc,
					      ntohl(batch[i].lease.priv_ip),
					      ntohl(batch[i].lease.pub_ip),
					      batch[i].lease.port_first,
					      batch[i].lease.port_last);
		return;
	}
	for (i = 0; i < nbatch; i++) {
		const struct model *m = &p->conf.policy.models[batch[i].model];

		/* The phone's file is in place before it hears the ACK. */
		write_config(p, &batch[i].lease, m);
		if (p->have_maps) {
			r = map_sync_add(&p->maps, &batch[i].lease);
			if (r)
				logp(3, "Failed to map lease: %s",
				     strerror(-r));
		}
		p->n.ack++;
		reply(p, &batch[i].req, DHCPACK, &batch[i].lease, m);
		attribution(batch[i].is_new ? "new" : "renew", &batch[i].lease);
	}
}

static int expire_cb(const struct lease *l, void *arg)
{
	struct prov *p = arg;

	alloc_release(&p->alloc, ntohl(l->priv_ip), ntohl(l->pub_ip),
		      l->port_first, l->port_last);
	if (p->have_maps)
		map_sync_del(&p->maps, l);
	remove_config(p, l);
	attribution("expire", l);
	return 0;
}

static int load_cb(const struct lease *l, void *arg)
{
	struct prov *p = arg;
	int i;

	if (alloc_take(&p->alloc, ntohl(l->priv_ip), ntohl(l->pub_ip),
		       l->port_first, l->port_last)) {
		logp(4, "stored lease overlaps another, or is outside the "
			"pools; ignored");
		return 0;
	}
	/* Config files are written without fsync on the hot path: rewrite
	 * every live lease's from the store, which is the truth. */
	for (i = 0; i < p->conf.policy.nmodels; i++)
		if (!strcmp(p->conf.policy.models[i].name, l->model))
			write_config(p, l, &p->conf.policy.models[i]);
	return 0;
}

/* --- setup ----------------------------------------------------------------- */

static int open_socket(struct prov *p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(67) };
	int one = 1, fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Only the LAN: a DHCP server must not answer on the WAN. */
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, p->conf.interface,
		       (socklen_t)strlen(p->conf.interface)) ||
	    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int check_maps(struct prov *p)
{
	const struct nappt_config *c = &p->maps.cfg;

	if (ntohl(c->lan_net) != p->conf.lan_net ||
	    c->lan_size != p->conf.lan_size ||
	    ntohl(c->pub_net) != p->conf.pub_net ||
	    c->pub_count != p->conf.pub_count ||
	    (1U << c->slot_shift) != p->conf.slot_size) {
		logp(3,
		     "The data plane was attached with other pools or "
		     "slot size than %s says; refusing to write its maps",
		     "the configuration");
		return -EINVAL;
	}
	return 0;
}

static void usage(void)
{
	printf("Usage: nappt-provisioner [-c FILE] [-n] [--no-maps] "
	       "[--templates DIR]\n"
	       "\n"
	       "DHCP server for IP phones: validates each phone (MAC, then "
	       "vendor class),\n"
	       "leases it a private address and a port range on a public "
	       "address, stores\n"
	       "the lease durably, then ACKs it and writes the mapping into "
	       "the data plane.\n"
	       "\n"
	       "  -c, --config FILE   configuration (default "
	       "/etc/nappt/provisioner.conf)\n"
	       "  -n, --check         check the configuration and exit\n"
	       "      --no-maps       do not touch the data plane (testing)\n"
	       "      --templates DIR per-phone config templates (default "
	       "/usr/local/share/nappt/templates)\n"
	       "  -h, --help          this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "no-maps", no_argument, NULL, 'M' },
		{ "templates", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *conf_path = "/etc/nappt/provisioner.conf";
	static struct prov p;
	struct pending *batch;
	int check = 0, no_maps = 0, c, r, i;
	time_t last_expire = 0;

	snprintf(p.tmpl_dir, sizeof(p.tmpl_dir),
		 "/usr/local/share/nappt/templates");
	while ((c = getopt_long(argc, argv, "c:nh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'M':
			no_maps = 1;
			break;
		case 'T':
			snprintf(p.tmpl_dir, sizeof(p.tmpl_dir), "%s", optarg);
			break;
		case 'h':
			usage();
			return 0;
		default:
			fprintf(stderr, "Try 'nappt-provisioner --help'.\n");
			return 2;
		}
	}
	r = conf_load(conf_path, &p.conf, stderr);
	if (r < 0) {
		logp(3, "Failed to read %s: %s", conf_path, strerror(-r));
		return 1;
	}
	if (r > 0) {
		logp(3, "%s: %d error(s)", conf_path, r);
		return 1;
	}
	if (check) {
		printf("%s: configuration OK (%d models)\n", conf_path,
		       p.conf.policy.nmodels);
		return 0;
	}
	if (!p.conf.interface[0]) {
		logp(3, "%s: [global] interface is required", conf_path);
		return 1;
	}
	p.ifindex = (int)if_nametoindex(p.conf.interface);
	if (!p.ifindex) {
		logp(3, "Failed to find interface %s: %s", p.conf.interface,
		     strerror(errno));
		return 1;
	}
	{
		unsigned int shift = 0;

		while ((1U << shift) < p.conf.slot_size)
			shift++;
		r = alloc_init(&p.alloc, p.conf.pub_net, p.conf.pub_count,
			       shift, p.conf.lan_net, p.conf.lan_size);
		if (r) {
			logp(3, "Failed to set up the allocator: %s",
			     strerror(-r));
			return 1;
		}
	}
	for (i = 0; i < p.conf.nreserved; i++) {
		uint32_t port;

		for (port = p.conf.reserved[i][0];
		     port <= p.conf.reserved[i][1]; port++)
			alloc_reserve_port(&p.alloc, (uint16_t)port);
	}
	/* The gateway's own address is not a phone's. */
	if (p.conf.gateway - p.conf.lan_net < p.conf.lan_size)
		p.alloc.lan_used[p.conf.gateway - p.conf.lan_net] = 1;

	if (load_templates(&p))
		return 1;
	r = lease_store_open(p.conf.lease_db, &p.store);
	if (r) {
		logp(3, "Failed to open lease store %s: %s", p.conf.lease_db,
		     strerror(-r));
		return 1;
	}
	lease_store_foreach(p.store, 1, time(NULL), load_cb, &p);
	if (!no_maps) {
		struct sync_stats st;

		r = nappt_maps_open(&p.maps, p.conf.pin_dir);
		if (r) {
			logp(3,
			     "Failed to open the data plane's maps in %s: "
			     "%s (is it attached? --no-maps to run "
			     "without)",
			     p.conf.pin_dir, strerror(-r));
			return 1;
		}
		if (check_maps(&p))
			return 1;
		p.have_maps = 1;
		r = map_sync_reconcile(p.store, &p.maps, time(NULL), &st);
		if (r)
			logp(3, "Failed to reconcile maps: %s", strerror(-r));
		else
			logp(6,
			     "maps reconciled: %u kept, %u added, %u "
			     "updated, %u removed, %u failed",
			     st.kept, st.added, st.updated, st.removed,
			     st.failed);
	}
	p.fd = open_socket(&p);
	if (p.fd < 0) {
		logp(3, "Failed to open DHCP socket on %s port 67: %s",
		     p.conf.interface, strerror(-p.fd));
		return 1;
	}
	batch = calloc(BATCH, sizeof(*batch));
	if (!batch)
		return 1;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	logp(6, "serving DHCP on %s", p.conf.interface);

	while (!stop) {
		struct pollfd pfd = { .fd = p.fd, .events = POLLIN };
		time_t now = time(NULL);
		int nbatch = 0, began = 0;

		if (now != last_expire) {
			last_expire = now;
			lease_store_expire(p.store, now, expire_cb, &p);
		}
		r = poll(&pfd, 1, 1000);
		if (r <= 0)
			continue;
		/* Drain: one transaction for this wake-up's REQUESTs. */
		for (;;) {
			static uint8_t buf[4096];
			static struct dhcp_msg m;
			ssize_t n = recv(p.fd, buf, sizeof(buf), 0);

			if (n < 0)
				break;
			if (dhcp_parse(buf, (size_t)n, &m)) {
				p.n.malformed++;
				continue;
			}
			if (!began) {
				if (lease_store_begin(p.store))
					break;
				began = 1;
			}
			handle(&p, &m, batch, &nbatch, now);
			if (nbatch == BATCH)
				break;
		}
		if (began) {
			if (nbatch)
				flush(&p, batch, nbatch);
			else
				lease_store_commit(p.store);
		}
	}
	logp(6,
	     "stopping: %lu discover, %lu offer, %lu request, %lu ack, %lu "
	     "nak, %lu release, %lu rejected (mac), %lu rejected (vendor), "
	     "%lu malformed",
	     p.n.discover, p.n.offer, p.n.request, p.n.ack, p.n.nak,
	     p.n.release, p.n.rejected_mac, p.n.rejected_vendor, p.n.malformed);
	free(batch);
	close(p.fd);
	lease_store_close(p.store);
	nappt_maps_close(&p.maps);
	alloc_free(&p.alloc);
	return 0;
}
