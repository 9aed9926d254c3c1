// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf.h"
/* The data plane's bounds on the pools (relative: the fuzz and sanitizer
 * builds compile this file with -Iprovisioner only). */
#include "../include/nappt.h"

/*
 * Options a model may not set: the lease's own terms (51, 58, 59, the
 * range in 159: the server enforces what it sends), the protocol's (50,
 * 52-55, 57, 61, 82).
 */
static int server_owned(unsigned long code)
{
	return (code >= 50 && code <= 55) || (code >= 57 && code <= 59) ||
	       code == 61 || code == 82 || code == 159;
}

enum section {
	SEC_NONE,
	SEC_GLOBAL,
	SEC_MAC,
	SEC_MODEL,
	SEC_DATAPLANE,
	SEC_TFTPD
};

struct parser {
	const char *name;
	int line;
	int errors;
	FILE *err;
	enum section sec;
	struct model *model;
	struct prov_conf *c;
	/* Lines of what finish() checks across keys. */
	int line_gateway;
	int line_model[POLICY_MAX_MODELS];
	int line_lan_range[POLICY_MAX_MODELS];
};

static void vbad_at(const char *name, int line, FILE *err, const char *fmt,
		    va_list ap)
{
	if (!err)
		return;
	fprintf(err, "%s:%d: ", name, line > 0 ? line : 1);
	vfprintf(err, fmt, ap);
	fputc('\n', err);
}

/* An error at line (a key read earlier, a section header). */
static void bad_at(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->errors++;
	va_start(ap, fmt);
	vbad_at(p->name, line, p->err, fmt, ap);
	va_end(ap);
}

/* An error at the line being read. */
static void bad(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	p->errors++;
	va_start(ap, fmt);
	vbad_at(p->name, p->line, p->err, fmt, ap);
	va_end(ap);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_ip(const char *s, uint32_t *host)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*host = ntohl(a.s_addr);
	return 0;
}

static int parse_cidr(char *s, uint32_t *net, uint32_t *size, int min_len)
{
	char *slash = strchr(s, '/'), *end;
	unsigned long len;
	uint32_t mask;

	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (parse_ip(s, net))
		return -EINVAL;
	errno = 0;
	len = strtoul(slash + 1, &end, 10);
	if (errno || *end || slash[1] == '\0' || len < (unsigned long)min_len ||
	    len > 30)
		return -EINVAL;
	mask = ~(0xffffffffU >> len);
	if (*net & ~mask)
		return -EINVAL;
	*size = 1U << (32 - len);
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno || *end || *v > max)
		return -EINVAL;
	return 0;
}

static void set_str(struct parser *p, char *dst, size_t n, const char *v,
		    const char *key)
{
	if (strlen(v) >= n) {
		bad(p, "%s: value longer than %zu characters", key, n - 1);
		return;
	}
	strcpy(dst, v);
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/*
 * "43 hex 01:04:c6:33:64:07", "160 text http://prov.example/",
 * "150 ip 198.51.100.69, 198.51.100.70": one option of a model.
 */
static void model_option(struct parser *p, char *v, int always)
{
	const char *key = always ? "force_option" : "option";
	struct model *m = p->model;
	struct model_opt *o;
	char *type, *val, *save = NULL, *tok;
	unsigned long code;

	if (m->nopts == MODEL_MAX_OPTS) {
		bad(p, "%s: at most %d per model", key, MODEL_MAX_OPTS);
		return;
	}
	o = &m->opts[m->nopts];
	memset(o, 0, sizeof(*o));
	type = v + strcspn(v, " \t");
	if (*type)
		*type++ = '\0';
	type = trim(type);
	val = type + strcspn(type, " \t");
	if (*val)
		*val++ = '\0';
	val = trim(val);
	if (parse_uint(v, 254, &code) || code == 0 || server_owned(code)) {
		bad(p,
		    "%s: want 'CODE TYPE VALUE' with CODE in 1..254, not one "
		    "the server owns (50-55, 57-59, 61, 82, 159)",
		    key);
		return;
	}
	o->code = (uint8_t)code;
	o->always = (uint8_t)always;
	if (!strcmp(type, "text")) {
		if (!*val || strlen(val) > sizeof(o->data)) {
			bad(p, "%s %lu: text of 1..%zu characters", key, code,
			    sizeof(o->data));
			return;
		}
		o->len = (uint16_t)strlen(val);
		memcpy(o->data, val, o->len);
	} else if (!strcmp(type, "hex")) {
		const char *h = val;

		while (*h) {
			int hi, lo;

			if (*h == ':' || *h == ' ') {
				h++;
				continue;
			}
			hi = hexval((unsigned char)h[0]);
			lo = hi < 0 ? -1 : hexval((unsigned char)h[1]);
			if (lo < 0 || o->len == sizeof(o->data)) {
				bad(p, "%s %lu: bad hex bytes '%s'", key, code,
				    val);
				return;
			}
			o->data[o->len++] = (uint8_t)(hi << 4 | lo);
			h += 2;
		}
		if (!o->len) {
			bad(p, "%s %lu: no bytes", key, code);
			return;
		}
	} else if (!strcmp(type, "ip")) {
		for (tok = strtok_r(val, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			uint32_t a;

			if (parse_ip(trim(tok), &a) ||
			    (size_t)o->len + 4 > sizeof(o->data)) {
				bad(p, "%s %lu: '%s' is not an IPv4 address",
				    key, code, trim(tok));
				return;
			}
			a = htonl(a);
			memcpy(o->data + o->len, &a, 4);
			o->len += 4;
		}
		if (!o->len) {
			bad(p, "%s %lu: no address", key, code);
			return;
		}
	} else {
		bad(p, "%s: type '%s' is not hex, text or ip", key, type);
		return;
	}
	m->nopts++;
}

/* "100.64.1.2 - 100.64.1.254" */
static void lan_range(struct parser *p, char *v)
{
	struct model *m = p->model;
	char *dash = strchr(v, '-');

	if (!dash) {
		bad(p, "lan_range: want 'FIRST - LAST'");
		return;
	}
	*dash = '\0';
	p->line_lan_range[p->c->policy.nmodels - 1] = p->line;
	if (parse_ip(trim(v), &m->lan_lo) ||
	    parse_ip(trim(dash + 1), &m->lan_hi) || m->lan_hi < m->lan_lo ||
	    !m->lan_lo) {
		bad(p, "lan_range: want 'FIRST - LAST', two IPv4 addresses "
		       "in order");
		m->lan_lo = m->lan_hi = 0;
	}
}

/* "5060, 5061, 8080-8089" */
/* claim = all | none | 0,2-3: parts of the pools (lease-store.h). */
static void claim_list(struct parser *p, char *v)
{
	char *tok, *save = NULL;

	memset(p->c->claim, 0, sizeof(p->c->claim));
	if (!strcmp(v, "all")) {
		memset(p->c->claim, 1, sizeof(p->c->claim));
		return;
	}
	if (!strcmp(v, "none"))
		return;
	for (tok = strtok_r(v, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *t = trim(tok), *dash = strchr(t, '-');
		unsigned long a, b;

		if (dash)
			*dash = '\0';
		if (parse_uint(t, CONF_MAX_PARTS - 1, &a) ||
		    (dash &&
		     parse_uint(trim(dash + 1), CONF_MAX_PARTS - 1, &b)) ||
		    (dash && b < a)) {
			bad(p,
			    "claim: want all, none or parts as 0,2-3 "
			    "(below %d), not '%s'",
			    CONF_MAX_PARTS, t);
			continue;
		}
		for (b = dash ? b : a; a <= b; a++)
			p->c->claim[a] = 1;
	}
}

static void reserved_list(struct parser *p, char *v)
{
	char *tok, *save = NULL;

	for (tok = strtok_r(v, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *t = trim(tok), *dash = strchr(t, '-');
		unsigned long a, b;

		if (dash)
			*dash = '\0';
		if (parse_uint(t, 65535, &a) ||
		    (dash && parse_uint(trim(dash + 1), 65535, &b))) {
			bad(p, "reserved_ports: bad port or range '%s'", t);
			continue;
		}
		if (!dash)
			b = a;
		if (b < a) {
			bad(p, "reserved_ports: range %lu-%lu is backwards", a,
			    b);
			continue;
		}
		if (p->c->nreserved == CONF_MAX_RESERVED) {
			bad(p, "reserved_ports: more than %d entries",
			    CONF_MAX_RESERVED);
			return;
		}
		p->c->reserved[p->c->nreserved][0] = (uint16_t)a;
		p->c->reserved[p->c->nreserved][1] = (uint16_t)b;
		p->c->nreserved++;
	}
}

static int valid_ifname(const char *v)
{
	/* IFNAMSIZ - 1; no '/' (a sysfs path) nor white space. */
	if (!*v || strlen(v) > 15 || !strcmp(v, ".") || !strcmp(v, ".."))
		return 0;
	for (; *v; v++)
		if (*v == '/' || *v == ':' || isspace((unsigned char)*v))
			return 0;
	return 1;
}

static void global_key(struct parser *p, const char *k, char *v)
{
	struct prov_conf *c = p->c;
	unsigned long n;

	if (!strcmp(k, "interface")) {
		if (!valid_ifname(v))
			bad(p, "interface: '%s' is not an interface name", v);
		else
			set_str(p, c->interface, sizeof(c->interface), v, k);
	} else if (!strcmp(k, "lan_pool")) {
		c->line_lan_pool = p->line;
		if (parse_cidr(v, &c->lan_net, &c->lan_size, 8))
			bad(p, "lan_pool: want a network like 100.64.0.0/16");
	} else if (!strcmp(k, "public_pool")) {
		c->line_public_pool = p->line;
		if (parse_cidr(v, &c->pub_net, &c->pub_count, 8))
			bad(p, "public_pool: want a network like "
			       "203.0.113.0/28");
	} else if (!strcmp(k, "gateway")) {
		p->line_gateway = p->line;
		if (parse_ip(v, &c->gateway))
			bad(p, "gateway: '%s' is not an IPv4 address", v);
	} else if (!strcmp(k, "server_id")) {
		if (parse_ip(v, &c->server_id))
			bad(p, "server_id: '%s' is not an IPv4 address", v);
	} else if (!strcmp(k, "tftp_server")) {
		if (parse_ip(v, &c->tftp_server))
			bad(p, "tftp_server: '%s' is not an IPv4 address", v);
	} else if (!strcmp(k, "dns")) {
		char *tok, *save = NULL;

		c->ndns = 0;
		for (tok = strtok_r(v, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			if (c->ndns == CONF_MAX_DNS) {
				bad(p, "dns: at most %d servers", CONF_MAX_DNS);
				break;
			}
			if (parse_ip(trim(tok), &c->dns[c->ndns]))
				bad(p, "dns: '%s' is not an IPv4 address",
				    trim(tok));
			else
				c->ndns++;
		}
	} else if (!strcmp(k, "slot_size")) {
		if (parse_uint(v, 32768, &n) || n < 16 || (n & (n - 1)))
			bad(p, "slot_size: want a power of two in 16..32768");
		else
			c->slot_size = (unsigned int)n;
	} else if (!strcmp(k, "reserved_ports")) {
		reserved_list(p, v);
	} else if (!strcmp(k, "lease_time")) {
		if (parse_uint(v, UINT32_MAX, &n) || n < 60)
			bad(p, "lease_time: want seconds, at least 60");
		else
			c->lease_time = (uint32_t)n;
	} else if (!strcmp(k, "sip_server")) {
		set_str(p, c->sip_server, sizeof(c->sip_server), v, k);
	} else if (!strcmp(k, "phone_dir") || !strcmp(k, "tftp_root")) {
		set_str(p, c->tftp_root, sizeof(c->tftp_root), v, k);
	} else if (!strcmp(k, "lease_db")) {
		set_str(p, c->lease_db, sizeof(c->lease_db), v, k);
	} else if (!strcmp(k, "gateway_id")) {
		if (!*v || strspn(v, "abcdefghijklmnopqrstuvwxyz"
				     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				     "-_.") != strlen(v))
			bad(p, "gateway_id: want letters, digits, '-', '_', "
			       "'.'");
		else
			set_str(p, c->gateway_id, sizeof(c->gateway_id), v, k);
	} else if (!strcmp(k, "pool_parts")) {
		if (parse_uint(v, CONF_MAX_PARTS, &n) || n < 1)
			bad(p, "pool_parts: want 1..%d", CONF_MAX_PARTS);
		else
			c->pool_parts = (uint32_t)n;
		c->line_pool_parts = p->line;
	} else if (!strcmp(k, "parts_poll")) {
		if (parse_uint(v, 3600, &n))
			bad(p, "parts_poll: want seconds in 0..3600");
		else
			c->parts_poll = (uint32_t)n;
	} else if (!strcmp(k, "claim")) {
		claim_list(p, v);
	} else if (!strcmp(k, "pin_dir")) {
		set_str(p, c->pin_dir, sizeof(c->pin_dir), v, k);
	} else if (!strcmp(k, "stats_file")) {
		set_str(p, c->stats_file, sizeof(c->stats_file), v, k);
	} else if (!strcmp(k, "templates")) {
		set_str(p, c->templates, sizeof(c->templates), v, k);
	} else if (!strcmp(k, "user")) {
		/* Never root: the parser's user (privsep.h). */
		if (!strcmp(v, "root") || !strcmp(v, "0") ||
		    !strncmp(v, "0:", 2))
			bad(p, "user: the parser must not run as root");
		else
			set_str(p, c->user, sizeof(c->user), v, k);
	} else if (!strcmp(k, "reconcile_every")) {
		if (parse_uint(v, 86400, &n) || n < 1)
			bad(p, "reconcile_every: want seconds in 1..86400");
		else
			c->reconcile_every = (uint32_t)n;
	} else if (!strcmp(k, "attribution_days")) {
		if (parse_uint(v, 36500, &n) || n < 1)
			bad(p, "attribution_days: want days in 1..36500");
		else
			c->attribution_days = (uint32_t)n;
	} else if (!strcmp(k, "offer_hold")) {
		if (parse_uint(v, 3600, &n) || n < 1)
			bad(p, "offer_hold: want seconds in 1..3600");
		else
			c->offer_hold = (uint32_t)n;
	} else if (!strcmp(k, "max_offers")) {
		if (parse_uint(v, 1U << 20, &n) || n < 1)
			bad(p, "max_offers: want a count in 1..1048576");
		else
			c->max_offers = (uint32_t)n;
	} else if (!strcmp(k, "decline_hold")) {
		if (parse_uint(v, 86400, &n))
			bad(p, "decline_hold: want seconds in 0..86400");
		else
			c->decline_hold = (uint32_t)n;
	} else if (!strcmp(k, "exact_reserve")) {
		if (parse_uint(v, 90, &n))
			bad(p, "exact_reserve: want a percentage in 0..90");
		else
			c->exact_reserve = (uint32_t)n;
	} else if (!strcmp(k, "new_lease_rate")) {
		if (parse_uint(v, 1U << 20, &n))
			bad(p, "new_lease_rate: want leases per second, 0: "
			       "no limit");
		else
			c->new_lease_rate = (uint32_t)n;
	} else if (!strcmp(k, "new_lease_burst")) {
		if (parse_uint(v, 1U << 20, &n) || n < 1)
			bad(p, "new_lease_burst: want a count in 1..1048576");
		else
			c->new_lease_burst = (uint32_t)n;
	} else {
		bad(p, "unknown key '%s' in [global]", k);
	}
}

static void mac_key(struct parser *p, const char *k, const char *v)
{
	struct policy *pol = &p->c->policy;
	struct mac_pattern *m;

	if (!strcmp(k, "allow")) {
		if (pol->nallow == POLICY_MAX_PATTERNS) {
			bad(p, "allow: more than %d patterns",
			    POLICY_MAX_PATTERNS);
			return;
		}
		m = &pol->allow[pol->nallow];
	} else if (!strcmp(k, "deny")) {
		if (pol->ndeny == POLICY_MAX_PATTERNS) {
			bad(p, "deny: more than %d patterns",
			    POLICY_MAX_PATTERNS);
			return;
		}
		m = &pol->deny[pol->ndeny];
	} else {
		bad(p, "unknown key '%s' in [mac] (allow, deny)", k);
		return;
	}
	if (mac_pattern_parse(v, m)) {
		bad(p,
		    "%s: bad MAC pattern '%s' (e.g. 00:1b:54:aa:bb:0c, "
		    "00:1b:54, 00:1b:54:*)",
		    k, v);
		return;
	}
	if (!strcmp(k, "allow"))
		pol->nallow++;
	else
		pol->ndeny++;
}

static void model_key(struct parser *p, const char *k, char *v)
{
	struct model *m = p->model;
	unsigned long n;

	if (!strcmp(k, "vendor_class")) {
		struct vc_pattern *vc;
		const char *text = v;

		if (m->nvc == 8) {
			bad(p, "vendor_class: at most 8 per model");
			return;
		}
		vc = &m->vc[m->nvc];
		if (!strncmp(v, "exact:", 6)) {
			vc->kind = VC_EXACT;
			text = v + 6;
		} else if (!strncmp(v, "prefix:", 7)) {
			vc->kind = VC_PREFIX;
			text = v + 7;
		} else if (!strncmp(v, "glob:", 5)) {
			vc->kind = VC_GLOB;
			text = v + 5;
		} else {
			bad(p, "vendor_class: say how to match: exact:, "
			       "prefix: or glob:");
			return;
		}
		if (!*text || strlen(text) >= sizeof(vc->text)) {
			bad(p, "vendor_class: empty or longer than %zu",
			    sizeof(vc->text) - 1);
			return;
		}
		strcpy(vc->text, text);
		m->nvc++;
	} else if (!strcmp(k, "slots")) {
		if (parse_uint(v, 64, &n) || n == 0)
			bad(p, "slots: want 1..64 slots per phone");
		else
			m->slots = (unsigned int)n;
	} else if (!strcmp(k, "lease_time")) {
		if (parse_uint(v, UINT32_MAX, &n) || n < 60)
			bad(p, "lease_time: want seconds, at least 60");
		else
			m->lease_time = (uint32_t)n;
	} else if (!strcmp(k, "image")) {
		set_str(p, m->image, sizeof(m->image), v, k);
	} else if (!strcmp(k, "sip_server")) {
		set_str(p, m->sip_server, sizeof(m->sip_server), v, k);
	} else if (!strcmp(k, "lan_range")) {
		lan_range(p, v);
	} else if (!strcmp(k, "option")) {
		model_option(p, v, 0);
	} else if (!strcmp(k, "force_option")) {
		model_option(p, v, 1);
	} else if (!strcmp(k, "template")) {
		if (strcmp(v, "cisco") && strcmp(v, "polycom") &&
		    strcmp(v, "yealink") && strcmp(v, "generic"))
			bad(p, "template: want cisco, polycom, yealink or "
			       "generic");
		else
			set_str(p, m->tmpl, sizeof(m->tmpl), v, k);
	} else {
		bad(p, "unknown key '%s' in [model %s]", k, m->name);
	}
}

static int parse_bool(const char *v, int *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") ||
	    !strcmp(v, "1"))
		*out = 1;
	else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") ||
		 !strcmp(v, "0"))
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static void dataplane_key(struct parser *p, const char *k, const char *v)
{
	struct conf_dataplane *d = &p->c->dataplane;
	static const char *const modes[] = { "auto", "native", "generic", "tc",
					     "tc-legacy" };
	int *flag = NULL;
	size_t i;

	if (!strcmp(k, "wan_interface")) {
		if (!valid_ifname(v))
			bad(p, "wan_interface: '%s' is not an interface name",
			    v);
		else
			set_str(p, d->wan_interface, sizeof(d->wan_interface),
				v, k);
		return;
	}
	if (!strcmp(k, "mode")) {
		for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
			if (!strcmp(v, modes[i]))
				break;
		if (i == sizeof(modes) / sizeof(modes[0]))
			bad(p, "mode: want auto, native, generic, tc or "
			       "tc-legacy");
		else
			set_str(p, d->mode, sizeof(d->mode), v, k);
		return;
	}
	if (!strcmp(k, "drop_unknown"))
		flag = &d->drop_unknown;
	else if (!strcmp(k, "route_by_source"))
		flag = &d->route_by_source;
	else if (!strcmp(k, "lan_foreign"))
		flag = &d->lan_foreign;
	if (!flag) {
		bad(p, "unknown key '%s' in [dataplane]", k);
		return;
	}
	if (parse_bool(v, flag))
		bad(p, "%s: want yes or no", k);
}

/* "N" or "N:BURST", as nappt-tftpd --new-rate. */
static int parse_rate(const char *v, struct conf_tftpd *t)
{
	char buf[32], *colon;
	unsigned long rate, burst;

	if (strlen(v) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, v);
	colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	if (parse_uint(buf, 1000000, &rate) ||
	    (colon && (parse_uint(colon + 1, 1000000, &burst) || !burst)))
		return -EINVAL;
	t->new_rate = (uint32_t)rate;
	t->new_burst = colon ? (uint32_t)burst : CONF_UNSET;
	return 0;
}

int conf_parse_listen(const char *s, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *h = s;
	size_t hl;
	unsigned long p = 69;
	char *end;

	if (!s || !ss || !len)
		return -EINVAL;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb)
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		if (rb[1] == ':')
			port = rb + 2;
		else if (rb[1])
			return -EINVAL;
	} else {
		const char *c = strchr(s, ':');

		if (c && strchr(c + 1, ':'))
			c = NULL; /* bare IPv6 address without a port */
		hl = c ? (size_t)(c - s) : strlen(s);
		if (c)
			port = c + 1;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	if (port) {
		errno = 0;
		p = strtoul(port, &end, 10);
		if (errno || *end || !*port || p > 65535)
			return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (!hl)
		strcpy(host, "0.0.0.0");
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) ==
	    1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host,
		      &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*sin6);
		return 0;
	}
	return -EINVAL;
}

static void tftpd_key(struct parser *p, const char *k, const char *v)
{
	static const struct {
		const char *key;
		size_t off;
		unsigned long min, max;
	} lim[] = {
#define L(k, lo, hi) { #k, offsetof(struct conf_tftpd, k), lo, hi }
		L(max_transfers, 1, 1000000),
		L(max_per_client, 0, 1000000),
		L(max_stall_s, 1, 3600),
		L(max_life_s, 1, 86400),
		L(error_rate, 1, 1000000),
		L(unproven_retries, 0, 100),
		L(max_blksize, CONF_TFTP_BLKSIZE_MIN, CONF_TFTP_BLKSIZE_MAX),
		L(max_windowsize, 1, CONF_TFTP_WINDOW_MAX),
		L(timeout_ms, 10, 255000),
		L(retries, 0, 100),
#undef L
	};
	struct conf_tftpd *t = &p->c->tftpd;
	unsigned long n;
	size_t i;

	if (!strcmp(k, "root")) {
		if (v[0] != '/')
			bad(p, "root: want an absolute path");
		else
			set_str(p, t->root, sizeof(t->root), v, k);
	} else if (!strcmp(k, "listen")) {
		struct sockaddr_storage ss;
		socklen_t len;

		if (conf_parse_listen(v, &ss, &len))
			bad(p, "listen: want ADDR[:PORT] or [IPV6]:PORT");
		else
			set_str(p, t->listen, sizeof(t->listen), v, k);
	} else if (!strcmp(k, "interface")) {
		if (!valid_ifname(v))
			bad(p, "interface: '%s' is not an interface name", v);
		else
			set_str(p, t->interface, sizeof(t->interface), v, k);
	} else if (!strcmp(k, "stats_file")) {
		set_str(p, t->stats_file, sizeof(t->stats_file), v, k);
	} else if (!strcmp(k, "gate")) {
		if (parse_bool(v, &t->gate))
			bad(p, "gate: want yes or no");
	} else if (!strcmp(k, "gate_dir")) {
		set_str(p, t->gate_dir, sizeof(t->gate_dir), v, k);
	} else if (!strcmp(k, "new_rate")) {
		if (parse_rate(v, t))
			bad(p, "new_rate: want N or N:BURST, N in 0..1000000 "
			       "(0: off), BURST in 1..1000000");
	} else {
		for (i = 0; i < sizeof(lim) / sizeof(lim[0]); i++)
			if (!strcmp(k, lim[i].key))
				break;
		if (i == sizeof(lim) / sizeof(lim[0])) {
			bad(p, "unknown key '%s' in [tftpd]", k);
			return;
		}
		if (parse_uint(v, lim[i].max, &n) || n < lim[i].min) {
			bad(p, "%s: want a number in %lu..%lu", k, lim[i].min,
			    lim[i].max);
			return;
		}
		*(uint32_t *)((char *)t + lim[i].off) = (uint32_t)n;
	}
}

static void section(struct parser *p, char *s)
{
	char *end = strchr(s, ']'), *name;
	struct policy *pol = &p->c->policy;
	int i;

	p->model = NULL;
	p->sec = SEC_NONE;
	if (!end || *trim(end + 1)) {
		bad(p, "bad section header (want [global], [mac], "
		       "[model NAME], [dataplane] or [tftpd])");
		return;
	}
	*end = '\0';
	s = trim(s + 1);
	if (!strcmp(s, "global")) {
		p->sec = SEC_GLOBAL;
		if (!p->c->line_global)
			p->c->line_global = p->line;
		return;
	}
	if (!strcmp(s, "dataplane")) {
		p->sec = SEC_DATAPLANE;
		if (!p->c->dataplane.line)
			p->c->dataplane.line = p->line;
		return;
	}
	if (!strcmp(s, "tftpd")) {
		p->sec = SEC_TFTPD;
		if (!p->c->tftpd.line)
			p->c->tftpd.line = p->line;
		return;
	}
	if (!strcmp(s, "mac")) {
		p->sec = SEC_MAC;
		return;
	}
	if (strncmp(s, "model", 5) || !isspace((unsigned char)s[5])) {
		bad(p, "unknown section [%s]", s);
		return;
	}
	name = trim(s + 5);
	if (!*name || strlen(name) >= sizeof(pol->models[0].name)) {
		bad(p, "[model]: needs a name of at most %zu characters",
		    sizeof(pol->models[0].name) - 1);
		return;
	}
	for (i = 0; i < pol->nmodels; i++)
		if (!strcmp(pol->models[i].name, name)) {
			bad(p, "[model %s] defined twice", name);
			return;
		}
	if (pol->nmodels == POLICY_MAX_MODELS) {
		bad(p, "more than %d models", POLICY_MAX_MODELS);
		return;
	}
	p->line_model[pol->nmodels] = p->line;
	p->model = &pol->models[pol->nmodels++];
	memset(p->model, 0, sizeof(*p->model));
	strcpy(p->model->name, name);
	p->model->slots = 1;
	snprintf(p->model->tmpl, sizeof(p->model->tmpl), "generic");
	p->sec = SEC_MODEL;
}

/*
 * Does an address hold an aligned window of slots slots (a multiple of
 * slots from port 0, provisioner/README.md) free of reserved ports?  If
 * not, no phone of the model could ever get a range: refused here, not
 * found as a permanent "pool exhausted" in production (issue 10).
 */
static int has_window(const struct prov_conf *c, unsigned int slots)
{
	uint32_t size = slots * c->slot_size, w;
	int i;

	for (w = 0; size && w + size <= 65536; w += size) {
		if (w < 1024)
			continue;
		for (i = 0; i < c->nreserved; i++)
			if (c->reserved[i][0] <= w + size - 1 &&
			    c->reserved[i][1] >= w)
				break;
		if (i == c->nreserved)
			return 1;
	}
	return 0;
}

/* Slots of an address (slot_size ports each) and the public pool's. */
static uint32_t slots_per_ip(const struct prov_conf *c)
{
	return c->slot_size ? 65536 / c->slot_size : 0;
}

/* Does the aligned window of `slots` starting at slot j of an address
 * hold no reserved port (0-1023, reserved_ports)? */
static int window_free(const struct prov_conf *c, uint32_t j,
		       unsigned int slots)
{
	uint32_t w = j * c->slot_size, size = slots * c->slot_size;
	int i;

	if (j % slots || w < 1024 || w + size > 65536)
		return 0;
	for (i = 0; i < c->nreserved; i++)
		if (c->reserved[i][0] <= w + size - 1 && c->reserved[i][1] >= w)
			return 0;
	return 1;
}

/*
 * Is some address of [lo, hi] (host order; 0, 0: the whole LAN pool) a
 * phone's private address for a model of `slots`?  It is derived from
 * the range (issue 13: lan_net + pub_idx * slots_per_ip + first slot),
 * so it must be the key of an aligned window free of reserved ports,
 * and neither the network address, the gateway's nor the broadcast.
 * Bounded: any slots_per_ip consecutive keys hold every window start
 * (twice as many and the four excluded keys, to be sure).
 */
static int derivable(const struct prov_conf *c, unsigned int slots, uint32_t lo,
		     uint32_t hi)
{
	uint64_t spi = slots_per_ip(c), keys = (uint64_t)c->pub_count * spi;
	uint64_t klo = lo ? lo - c->lan_net : 0;
	uint64_t khi = lo ? hi - c->lan_net : c->lan_size - 1;
	uint64_t k, n = 0;

	if (!spi || !slots || !c->lan_size)
		return 1; /* reported elsewhere */
	if (khi >= keys)
		khi = keys - 1;
	if (khi >= c->lan_size)
		khi = c->lan_size - 1;
	for (k = klo; k <= khi && n <= 2 * spi + 4; k++, n++) {
		if (k == 0 || (c->lan_size > 4 && k == 1) ||
		    k == c->gateway - c->lan_net ||
		    (c->lan_size > 2 && k == c->lan_size - 1))
			continue;
		if (window_free(c, (uint32_t)(k % spi), slots))
			return 1;
	}
	return 0;
}

void conf_pub_usable(const struct prov_conf *c, uint32_t *full, uint32_t *some)
{
	uint32_t spi = slots_per_ip(c);

	*full = *some = c->pub_count;
	if (!spi || (uint64_t)c->pub_count * spi <= c->lan_size)
		return;
	*full = c->lan_size / spi;
	*some = (c->lan_size + spi - 1) / spi;
}

int conf_warn(const struct prov_conf *c, FILE *err)
{
	const char *name = c->path[0] ? c->path : "config";
	uint32_t full, some;

	conf_pub_usable(c, &full, &some);
	if (some == c->pub_count && full == c->pub_count)
		return 0;
	if (err)
		fprintf(err,
			"%s:%d: warning: lan_pool has %u addresses, fewer than "
			"the public pool's %llu slots (%u addresses x %u): a "
			"phone's private address is derived from its public "
			"address and slot, so only %u of the %u public "
			"addresses are used%s (a lan_pool of %llu addresses "
			"would use them all)\n",
			name, c->line_lan_pool > 0 ? c->line_lan_pool : 1,
			c->lan_size,
			(unsigned long long)c->pub_count * slots_per_ip(c),
			c->pub_count, slots_per_ip(c), some, c->pub_count,
			some != full ? ", the last of them in part" : "",
			(unsigned long long)c->pub_count * slots_per_ip(c));
	return 1;
}

/* Where to report a key that is missing: its section's header, else the
 * end of the file (where it would be added). */
static int missing_line(const struct prov_conf *c, int section_line)
{
	return section_line ? section_line : c->nlines;
}

/* Does [a0, a0 + an) meet [b0, b0 + bn)? */
static int overlap(uint64_t a0, uint64_t an, uint64_t b0, uint64_t bn)
{
	return a0 < b0 + bn && b0 < a0 + an;
}

static const char *martian_pool(uint32_t net, uint32_t size)
{
	static const struct {
		uint32_t net, size;
		const char *name;
	} martian[] = {
		{ 0x00000000, 1U << 24, "0.0.0.0/8" },
		{ 0x7f000000, 1U << 24, "127.0.0.0/8" },
		{ 0xe0000000, 1U << 28, "224.0.0.0/4" },
		{ 0xf0000000, 1U << 28, "240.0.0.0/4" },
	};
	size_t i;

	for (i = 0; i < sizeof(martian) / sizeof(martian[0]); i++)
		if (overlap(net, size, martian[i].net, martian[i].size))
			return martian[i].name;
	return NULL;
}

/* The pools as the data plane will take them (loader.c refuses the same
 * at attach, so a file that passes -n also attaches). */
static void check_pools(struct parser *p)
{
	struct prov_conf *c = p->c;
	const char *m;

	/* A phone's private address that is also a public one: inbound
	 * and outbound lookups would both claim it. */
	if (c->lan_size && c->pub_count &&
	    overlap(c->lan_net, c->lan_size, c->pub_net, c->pub_count)) {
		if (c->line_public_pool >= c->line_lan_pool)
			bad_at(p, c->line_public_pool,
			       "public_pool overlaps lan_pool (line %d)",
			       c->line_lan_pool);
		else
			bad_at(p, c->line_lan_pool,
			       "lan_pool overlaps public_pool (line %d)",
			       c->line_public_pool);
	}
	if (c->lan_size && (m = martian_pool(c->lan_net, c->lan_size)))
		bad_at(p, c->line_lan_pool, "lan_pool overlaps %s", m);
	if (c->pub_count && (m = martian_pool(c->pub_net, c->pub_count)))
		bad_at(p, c->line_public_pool, "public_pool overlaps %s", m);
	if (c->lan_size > NAPPT_MAX_PHONES)
		bad_at(p, c->line_lan_pool,
		       "lan_pool: larger than the data plane's %u addresses",
		       NAPPT_MAX_PHONES);
	if (c->pub_count && c->slot_size &&
	    (uint64_t)c->pub_count * (65536 / c->slot_size) > NAPPT_MAX_SLOTS)
		bad_at(p, c->line_public_pool,
		       "public_pool x 65536 / slot_size is more than %u "
		       "slots: use a larger slot_size",
		       NAPPT_MAX_SLOTS);
}

/* What must hold once the whole file is read. */
static void finish(struct parser *p)
{
	struct prov_conf *c = p->c;
	int i, at = missing_line(c, c->line_global);

	if (!c->lan_size && !c->line_lan_pool)
		bad_at(p, at, "[global] lan_pool is required");
	if (!c->pub_count && !c->line_public_pool)
		bad_at(p, at, "[global] public_pool is required");
	if (!c->gateway && !p->line_gateway)
		bad_at(p, at, "[global] gateway is required");
	else if (c->gateway && c->lan_size &&
		 c->gateway - c->lan_net >= c->lan_size)
		bad_at(p, p->line_gateway, "gateway is outside lan_pool");
	check_pools(p);
	if (!c->policy.nmodels)
		bad_at(p, c->nlines,
		       "no [model NAME] section: no phone would get a lease");
	for (i = 0; i < c->policy.nmodels; i++) {
		struct model *m = &c->policy.models[i];
		int ml = p->line_model[i];

		if (!m->nvc)
			bad_at(p, ml, "[model %s] has no vendor_class",
			       m->name);
		if (c->slot_size &&
		    m->slots * c->slot_size > 65536 - c->slot_size)
			bad_at(p, ml,
			       "[model %s] wants more ports than an address "
			       "has",
			       m->name);
		else if (c->slot_size && !has_window(c, m->slots))
			bad_at(p, ml,
			       "[model %s] slots = %u: no aligned window of %u "
			       "ports free of reserved ports (0-1023, "
			       "reserved_ports)",
			       m->name, m->slots, m->slots * c->slot_size);
		if (!m->lease_time)
			m->lease_time = c->lease_time;
		if (m->lan_lo && c->lan_size &&
		    (m->lan_lo - c->lan_net >= c->lan_size ||
		     m->lan_hi - c->lan_net >= c->lan_size))
			bad_at(p, ml,
			       "[model %s] lan_range is outside lan_pool",
			       m->name);
		else if (c->slot_size && c->pub_count && m->slots &&
			 m->slots * c->slot_size <= 65536 - c->slot_size &&
			 has_window(c, m->slots) &&
			 !derivable(c, m->slots, m->lan_lo, m->lan_hi))
			bad_at(p, m->lan_lo ? p->line_lan_range[i] : ml,
			       "[model %s] %s holds no phone address: a "
			       "phone's is lan_pool's first + public index x "
			       "%u + first slot, and none of these is in it "
			       "for %u slot(s) free of reserved ports",
			       m->name, m->lan_lo ? "lan_range" : "lan_pool",
			       slots_per_ip(c), m->slots);
	}
	/* Each part holds at least one public address. */
	if (c->pub_count && c->pool_parts > c->pub_count)
		bad_at(p, c->line_pool_parts,
		       "pool_parts: %u parts of %u public addresses",
		       c->pool_parts, c->pub_count);
	if (!c->server_id)
		c->server_id = c->gateway;
	if (!c->tftp_server)
		c->tftp_server = c->gateway;
	if (c->tftpd.gate_dir[0] && c->tftpd.gate_dir[0] != '/')
		bad_at(p, c->tftpd.line, "gate_dir: want an absolute path");
	if (c->tftpd.new_burst != CONF_UNSET && !c->tftpd.new_rate)
		bad_at(p, c->tftpd.line,
		       "new_rate: a burst with rate 0 (off) means nothing");
}

int conf_require(const struct prov_conf *c, enum conf_user who, FILE *err)
{
	const char *name = c->path[0] ? c->path : "config";
	int n = 0, at = missing_line(c, c->line_global);

#define NEED(line, ...)                                   \
	do {                                              \
		n++;                                      \
		if (err) {                                \
			fprintf(err, "%s:%d: ", name,     \
				(line) > 0 ? (line) : 1); \
			fprintf(err, __VA_ARGS__);        \
			fputc('\n', err);                 \
		}                                         \
	} while (0)
	switch (who) {
	case CONF_PROVISIONER:
		if (!c->interface[0])
			NEED(at, "[global] interface is required (the LAN "
				 "side, where DHCP is served)");
		break;
	case CONF_LOADER:
		if (!c->interface[0])
			NEED(at, "[global] interface is required (the LAN "
				 "side the data plane attaches to)");
		if (!c->dataplane.wan_interface[0])
			NEED(missing_line(c, c->dataplane.line),
			     "[dataplane] wan_interface is required");
		else if (!strcmp(c->dataplane.wan_interface, c->interface))
			NEED(c->dataplane.line,
			     "[dataplane] wan_interface is [global] interface "
			     "%s: the LAN and WAN sides must differ",
			     c->interface);
		break;
	case CONF_TFTPD:
		/* Without it a server on a wildcard address answers the WAN
		 * too (public addresses reach the local stack while
		 * unleased): fail closed. */
		if (!c->tftpd.interface[0] && !c->interface[0])
			NEED(missing_line(c, c->tftpd.line),
			     "[tftpd] interface (or [global] interface) is "
			     "required");
		break;
	}
#undef NEED
	return n;
}

int conf_parse(const char *name, const char *text, struct prov_conf *c,
	       FILE *err)
{
	struct parser p = { .name = name, .err = err, .c = c };
	const char *s = text;

	memset(c, 0, sizeof(*c));
	c->slot_size = 1024;
	c->lease_time = 3600;
	snprintf(c->tftp_root, sizeof(c->tftp_root), "/run/nappt/phones");
	snprintf(c->lease_db, sizeof(c->lease_db), "/var/lib/nappt/leases.db");
	snprintf(c->pin_dir, sizeof(c->pin_dir), "/sys/fs/bpf/nappt");
	snprintf(c->user, sizeof(c->user), "nappt");
	snprintf(c->path, sizeof(c->path), "%s", name);
	snprintf(c->tftpd.root, sizeof(c->tftpd.root), "/srv/tftp");
	c->tftpd.gate = 1;
	{
		struct conf_tftpd *t = &c->tftpd;
		uint32_t *lims[] = { &t->max_transfers, &t->max_per_client,
				     &t->max_stall_s,	&t->max_life_s,
				     &t->new_rate,	&t->new_burst,
				     &t->error_rate,	&t->unproven_retries,
				     &t->max_blksize,	&t->max_windowsize,
				     &t->timeout_ms,	&t->retries };
		size_t i;

		for (i = 0; i < sizeof(lims) / sizeof(lims[0]); i++)
			*lims[i] = CONF_UNSET;
	}
	c->attribution_days = 400;
	snprintf(c->gateway_id, sizeof(c->gateway_id), "gw");
	c->pool_parts = 1;
	c->parts_poll = 1;
	memset(c->claim, 1, sizeof(c->claim));
	c->reconcile_every = 300;
	c->offer_hold = 30;
	c->max_offers = 4096;
	c->decline_hold = 600;
	c->exact_reserve = 10;
	c->new_lease_rate = 50;
	c->new_lease_burst = 500;

	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char buf[1024], *l, *eq;

		p.line++;
		if (len >= sizeof(buf)) {
			bad(&p, "line longer than %zu characters",
			    sizeof(buf) - 1);
			s += len + (nl ? 1 : 0);
			continue;
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		s += len + (nl ? 1 : 0);
		l = trim(buf);
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			section(&p, l);
			continue;
		}
		eq = strchr(l, '=');
		if (!eq) {
			bad(&p, "expected 'key = value'");
			continue;
		}
		*eq = '\0';
		{
			char *k = trim(l), *v = trim(eq + 1);

			if (!*k || !*v) {
				bad(&p, "empty key or value");
				continue;
			}
			switch (p.sec) {
			case SEC_GLOBAL:
				global_key(&p, k, v);
				break;
			case SEC_MAC:
				mac_key(&p, k, v);
				break;
			case SEC_MODEL:
				model_key(&p, k, v);
				break;
			case SEC_DATAPLANE:
				dataplane_key(&p, k, v);
				break;
			case SEC_TFTPD:
				tftpd_key(&p, k, v);
				break;
			default:
				bad(&p, "'%s' outside a section", k);
			}
		}
	}
	c->nlines = p.line;
	finish(&p);
	return p.errors;
}

int conf_load(const char *path, struct prov_conf *c, FILE *err)
{
	char *text;
	long n;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) ||
	    fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -EFBIG;
	}
	text = malloc((size_t)n + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	if (fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	text[n] = '\0';
	/* A NUL inside the file ends the string early: say so. */
	r = conf_parse(path, text, c, err);
	if (strlen(text) != (size_t)n) {
		if (err)
			fprintf(err, "%s: NUL byte in file\n", path);
		r++;
	}
	free(text);
	return r;
}
